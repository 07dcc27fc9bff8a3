"""overlay.boot over fixture trees: which units load a firewall at boot, what they load, and the verdict.

The boot files themselves are parsed by the real tools on a node (tests/lab/test_overlay_boot.py);
here the scratch-namespace load is answered from captured dumps."""
import json
import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.firewall import gather_boot, overlay_checks, overlay_fix
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.packet import Packet

from ....fixture_tree import Link, make_tree

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "rulesets")
PORTS = [("udp", 8472, "flannel VXLAN")]
NETS = ["192.168.77.0/24"]
ADDRESSES = [{"ifname": "eth0", "addr_info": [{"local": "192.168.77.11", "prefixlen": 24}]}]
NFT_UNIT = "[Service]\nExecStart=/usr/sbin/nft -f /etc/nftables.conf\n"
RESTORE_UNIT = "[Service]\nType=oneshot\nExecStart=/bin/sh -c '/usr/sbin/iptables-legacy-restore < /etc/iptables/rules.v4'\n"
IPT_DROP = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


class ScratchNamespace(object):
    """Answers the unshare load with the dumps a fresh namespace would print."""

    def __init__(self, nft="", legacy="", nft_save="", rc=0, err="", offline=None, policies=(0, "", "")):
        self.dumps = (nft, legacy, nft_save)
        self.rc, self.err, self.offline, self.policies = rc, err, offline, policies
        self.calls = []

    def run(self, argv):
        self.calls.append(argv)
        if os.path.basename(argv[0]) == "unshare":
            nft, legacy, nft_save = self.dumps
            return self.rc, ("@@podnet-boot nft\n%s\n@@podnet-boot iptables-legacy-save\n%s"
                             "@@podnet-boot iptables-nft-save\n%s" % (nft, legacy, nft_save)), self.err
        if os.path.basename(argv[0]) == "firewall-offline-cmd":
            return self.policies if argv[1:] == ["--list-all-policies"] else self.offline
        raise AssertionError("unexpected command %r" % argv)

    @staticmethod
    def which(name):
        return "/usr/sbin/" + name


def enabled(unit, target="multi-user.target", text=None):
    tree = {"etc/systemd/system/%s.wants/%s" % (target, unit): Link("/lib/systemd/system/" + unit)}
    tree["lib/systemd/system/" + unit] = text if text is not None else "[Service]\n"
    return tree


def test_unit_state_reads_links_and_masks_not_presets(tmp_path):
    root = make_tree(tmp_path, dict(enabled("nftables.service", "sysinit.target", NFT_UNIT), **{
        "lib/systemd/system/ufw.service": "[Service]\n",
        "lib/systemd/system-preset/90-systemd.preset": "enable ufw.service\n",
        "etc/systemd/system/multi-user.target.wants/firewalld.service": Link("/lib/systemd/system/firewalld.service"),
        "etc/systemd/system/firewalld.service": Link("/dev/null")}))
    assert gather_boot.unit_state(root, "nftables.service") == "enabled"
    assert gather_boot.unit_state(root, "ufw.service") == "disabled"  # a preset is not an enablement
    assert gather_boot.unit_state(root, "firewalld.service") == "masked"
    assert gather_boot.enabled_units(root) == ["nftables.service"]


def test_iptables_restore_units_name_their_file_and_backend(tmp_path):
    root = make_tree(tmp_path, dict(enabled("site-fw.service", text=RESTORE_UNIT), **dict(
        enabled("netfilter-persistent.service"), **{
            "etc/iptables/rules.v4": IPT_DROP,
            "usr/sbin/iptables-restore": Link("/etc/alternatives/iptables-restore"),
            "etc/alternatives/iptables-restore": Link("/usr/sbin/iptables-nft-restore"),
            "usr/sbin/iptables-nft-restore": Link("xtables-nft-multi")})))
    units = gather_boot.enabled_units(root)
    assert gather_boot.iptables_restores(root, units) == [
        ("netfilter-persistent.service", "iptables-nft", "/etc/iptables/rules.v4"),
        ("site-fw.service", "iptables-legacy", "/etc/iptables/rules.v4")]


def test_no_firewall_enabled_at_boot_runs_nothing_and_passes(tmp_path):
    node = ScratchNamespace()
    boot = gather_boot.gather_boot(node.run, make_tree(tmp_path, {"etc/nftables.conf": "flush ruleset\n"}),
                                   node.which, ADDRESSES)
    assert node.calls == []
    check = overlay_checks.evaluate_boot(boot, PORTS, NETS)
    assert check["status"] == "pass" and "loaded at boot: no firewall" in check["observed"]


def test_runtime_only_opening_fails_at_boot_naming_the_unit_and_the_chain(tmp_path):
    root = make_tree(tmp_path, dict(enabled("nftables.service", "sysinit.target", NFT_UNIT),
                                    **{"etc/nftables.conf": "include \"/etc/nft/*.nft\"\n"}))
    node = ScratchNamespace(nft=fixture("nftables.nft.json"))
    boot = gather_boot.gather_boot(node.run, root, node.which, ADDRESSES)
    argv = node.calls[0]
    assert argv[:4] == ["/usr/sbin/unshare", "--net", "--mount", "--"]
    assert argv[-3:] == ["podnet-boot", os.path.join(root, "etc/nftables.conf"), ""]  # paths are arguments
    check = overlay_checks.evaluate_boot(boot, PORTS, NETS, root=root)
    assert check["status"] == "fail", check
    assert "at the next boot by" in check["observed"] and "nftables.service (/etc/nftables.conf)" in check["observed"]
    assert "ip saddr 192.168.77.0/24 udp dport 8472 accept" in check["fix"]


def test_a_boot_file_its_tool_refuses_is_an_error_with_the_tools_message(tmp_path):
    root = make_tree(tmp_path, dict(enabled("nftables.service", "sysinit.target", NFT_UNIT),
                                    **{"etc/nftables.conf": "table inet f { chain i { iif eth9 accept; }; }\n"}))
    node = ScratchNamespace(rc=3, err="/etc/nftables.conf:1:30-33: Error: Interface does not exist\nnft -f /etc/nftables.conf\n")
    check = overlay_checks.evaluate_boot(gather_boot.gather_boot(node.run, root, node.which, ADDRESSES), PORTS, NETS)
    assert check["status"] == "error"
    assert "/etc/nftables.conf:1:30-33: Error: Interface does not exist" in check["observed"]


def test_enabled_unit_whose_file_is_missing_is_an_error(tmp_path):
    root = make_tree(tmp_path, enabled("site-fw.service", text=RESTORE_UNIT))
    node = ScratchNamespace()
    check = overlay_checks.evaluate_boot(gather_boot.gather_boot(node.run, root, node.which, ADDRESSES), PORTS, NETS)
    assert check["status"] == "error" and "/etc/iptables/rules.v4, which does not exist" in check["observed"]


def test_firewalld_enabled_but_stopped_is_judged_from_its_permanent_zones(tmp_path):
    root = make_tree(tmp_path, dict(enabled("firewalld.service"), **{
        "etc/firewalld/firewalld.conf": "DefaultZone=public\nFirewallBackend=nftables\n",
        "usr/lib/firewalld/services/ssh.xml": '<service><port protocol="tcp" port="22"/></service>',
        "usr/lib/firewalld/services/dhcpv6-client.xml": '<service><port protocol="udp" port="546"/></service>'}))
    node = ScratchNamespace(offline=(0, fixture("firewalld.list-all"), ""))
    boot = gather_boot.gather_boot(node.run, root, node.which, ADDRESSES)
    assert [c[1:] for c in node.calls] == [["--list-all-zones"], ["--list-all-policies"]]
    check = overlay_checks.evaluate_boot(boot, PORTS, NETS)
    assert check["status"] == "fail" and "firewalld zone public" in check["observed"], check
    plan = overlay_fix.plan_overlay_fix({"addresses": ADDRESSES, "firewalld": {"running": False}}, PORTS, NETS,
                                        "10.244.0.0/16", "flannel", root, forward=False, boot=boot)
    assert plan["commands"] == [["firewall-offline-cmd", "--zone=public", '--add-rich-rule=rule family="ipv4" source '
                                 'address="192.168.77.0/24" port port="8472" protocol="udp" accept']]


def test_a_permanent_policy_that_drops_the_overlay_fails_boot(tmp_path):
    """firewalld policies with a negative priority run before the zones: a permanent one that drops
    the overlay closes it at the next boot even when the zone admits it."""
    root = make_tree(tmp_path, dict(enabled("firewalld.service"), **{
        "etc/firewalld/firewalld.conf": "DefaultZone=trusted\nFirewallBackend=nftables\n"}))
    zones = "trusted (active)\n  target: ACCEPT\n  interfaces: \n  sources: \n  services: \n  ports: \n  rich rules: \n"
    policy = ("drop-vxlan (active)\n  priority: -10\n  target: CONTINUE\n  ingress-zones: ANY\n  egress-zones: HOST\n"
              "  services: \n  ports: \n  protocols: \n  rich rules: \n"
              "\trule family=\"ipv4\" port port=\"8472\" protocol=\"udp\" drop\n")
    node = ScratchNamespace(offline=(0, zones, ""), policies=(0, policy, ""))
    check = overlay_checks.evaluate_boot(gather_boot.gather_boot(node.run, root, node.which, ADDRESSES), PORTS, NETS)
    assert check["status"] == "fail" and "drop-vxlan" in check["observed"], check
    node = ScratchNamespace(offline=(0, zones, ""))
    check = overlay_checks.evaluate_boot(gather_boot.gather_boot(node.run, root, node.which, ADDRESSES), PORTS, NETS)
    assert check["status"] == "pass", check


def test_a_failed_permanent_read_is_an_error_naming_the_command(tmp_path):
    root = make_tree(tmp_path, enabled("firewalld.service"))
    node = ScratchNamespace(offline=(1, "", "Error: INVALID_ZONE: public.xml: not well-formed\n"))
    check = overlay_checks.evaluate_boot(gather_boot.gather_boot(node.run, root, node.which, ADDRESSES), PORTS, NETS)
    assert check["status"] == "error"
    assert "firewall-offline-cmd --list-all-zones failed (rc=1): Error: INVALID_ZONE" in check["observed"]


def test_boot_only_drop_in_rules_v4_adds_the_file_line_and_no_runtime_command(tmp_path):
    root = make_tree(tmp_path, dict(enabled("site-fw.service", text=RESTORE_UNIT), **{"etc/iptables/rules.v4": IPT_DROP}))
    node = ScratchNamespace(legacy=IPT_DROP)
    boot = gather_boot.gather_boot(node.run, root, node.which, ADDRESSES)
    assert overlay_checks.evaluate_boot(boot, PORTS, NETS)["status"] == "fail"
    live = {"addresses": ADDRESSES, "firewalld": {"running": False}, "nft": None, "iptables_nft": None,
            "iptables_legacy": IPT_DROP.replace("-A INPUT -p tcp", "-A INPUT -p udp --dport 8472 -j ACCEPT\n-A INPUT -p tcp")}
    plan = overlay_fix.plan_overlay_fix(live, PORTS, NETS, "10.244.0.0/16", "flannel", root, forward=False, boot=boot)
    assert plan["commands"] == []
    after = plan["files"]["/etc/iptables/rules.v4"]["after"]
    assert "-A INPUT -s 192.168.77.0/24 -p udp -m udp --dport 8472 -m comment --comment podnet.doctor -j ACCEPT" in after
    # the fixed file, loaded at boot, admits it
    node = ScratchNamespace(legacy=after)
    make_tree(root, {"etc/iptables/rules.v4": after})
    assert overlay_checks.evaluate_boot(gather_boot.gather_boot(node.run, root, node.which, ADDRESSES),
                                        PORTS, NETS)["status"] == "pass"


def test_ufw_enabled_at_boot_is_loaded_with_ufw_init_and_fixed_with_ufw_allow(tmp_path):
    root = make_tree(tmp_path, dict(enabled("ufw.service"), **{"lib/ufw/ufw-init": "#!/bin/sh\n"}))
    node = ScratchNamespace(nft_save=fixture("ufw.iptables-nft-save"))
    boot = gather_boot.gather_boot(node.run, root, node.which, ADDRESSES)
    assert node.calls[0][-2:] == ["", os.path.join(root, "lib/ufw/ufw-init")]
    assert boot["ufw_active"] is True
    check = overlay_checks.evaluate_boot(boot, PORTS, NETS, root=root)
    assert check["status"] == "fail" and "ufw allow from 192.168.77.0/24 to any port 8472 proto udp" in check["fix"]


@pytest.mark.parametrize("commands,first", [
    ([["ufw", "allow"], ["firewall-offline-cmd", "--zone=public"]], "firewall-offline-cmd"),
    ([["firewall-cmd", "--zone=public"], ["firewall-cmd", "--permanent", "--zone=public"]], "firewall-cmd"),
])
def test_boot_state_first_puts_offline_and_permanent_changes_first(commands, first):
    ordered = overlay_fix.boot_state_first(commands)
    assert ordered[0][0] == first and ("--permanent" in ordered[0] or first == "firewall-offline-cmd")


def test_json_of_the_check_is_plain(tmp_path):
    node = ScratchNamespace()
    boot = gather_boot.gather_boot(node.run, str(tmp_path), node.which, ADDRESSES)
    json.dumps(overlay_checks.evaluate_boot(boot, PORTS, NETS))


def test_without_root_the_scratch_namespace_error_says_to_use_become(tmp_path):
    root = make_tree(tmp_path, dict(enabled("nftables.service", "sysinit.target", NFT_UNIT),
                                    **{"etc/nftables.conf": "flush ruleset\n"}))
    node = ScratchNamespace(rc=1, err="unshare: unshare failed: Operation not permitted\n")
    check = overlay_checks.evaluate_boot(gather_boot.gather_boot(node.run, root, node.which, ADDRESSES), PORTS, NETS)
    assert check["status"] == "error"
    assert check["observed"].endswith("unshare failed: Operation not permitted (run with become: true)")


def test_a_table_defined_in_an_included_file_takes_our_include_line(tmp_path):
    """Debian-style nftables.conf that only includes /etc/nftables.d/*.nft: our include, appended
    at the end, runs after the table exists, so the opening is written for the next boot."""
    ruleset = "table inet filter {\n  chain input {\n    type filter hook input priority filter; policy drop;\n  }\n}\n"
    root = make_tree(tmp_path, {"etc/nftables.conf": 'flush ruleset\ninclude "/etc/nftables.d/filter/*.nft"\n',
                                "etc/nftables.d/filter/10-filter.nft": ruleset})
    plan = {"commands": [], "files": {}, "unresolved": [], "openings": []}
    overlay_fix._plan_nft_persistence(plan, root, ["insert rule inet filter input ip saddr 192.168.77.0/24 udp dport "
                                                   "8472 accept comment \"podnet.doctor\""])
    assert plan["unresolved"] == []
    assert plan["files"]["/etc/nftables.conf"]["after"].endswith('include "/etc/nftables.d/podnet-doctor.nft"\n')


@pytest.mark.parametrize("name,resolved", [("10-filter.nft", True), ("zz-filter.nft", False)])
def test_a_glob_that_already_loads_our_file_gets_no_second_include(tmp_path, name, resolved):
    """/etc/nftables.d/*.nft loads podnet-doctor.nft in name order: a table defined in a file sorting
    after it does not exist yet when our rules are read (nft -f would fail at boot)."""
    ruleset = "table inet filter {\n  chain input {\n    type filter hook input priority filter; policy drop;\n  }\n}\n"
    root = make_tree(tmp_path, {"etc/nftables.conf": 'flush ruleset\ninclude "/etc/nftables.d/*.nft"\n',
                                "etc/nftables.d/" + name: ruleset})
    plan = {"commands": [], "files": {}, "unresolved": [], "openings": []}
    overlay_fix._plan_nft_persistence(plan, root, ["insert rule inet filter input udp dport 8472 accept"])
    assert "/etc/nftables.conf" not in plan["files"]
    assert (plan["unresolved"] == []) is resolved
    assert ("/etc/nftables.d/podnet-doctor.nft" in plan["files"]) is resolved  # loaded before its table: never written


def test_restores_from_ifupdown_hooks_and_unevaluated_loaders(tmp_path):
    root = make_tree(tmp_path, dict(enabled("networking.service"), **dict(enabled("ferm.service"), **{
        "etc/network/if-pre-up.d/iptables": "#!/bin/sh\n# iptables-restore < /etc/old.rules\n"
                                            "/sbin/iptables-legacy-restore < /etc/iptables.up.rules\n"})))
    os.chmod(os.path.join(root, "etc/network/if-pre-up.d/iptables"), 0o755)
    units = gather_boot.enabled_units(root)
    assert gather_boot.iptables_restores(root, units) == [
        ("networking.service", "iptables-legacy", "/etc/iptables.up.rules")]
    node = ScratchNamespace()
    check = overlay_checks.evaluate_boot(gather_boot.gather_boot(node.run, root, node.which, ADDRESSES), PORTS, NETS)
    assert check["status"] == "error" and "ferm.service is enabled at boot" in check["observed"]


@pytest.mark.parametrize("script", ["before.init", "after.init"])
def test_executable_ufw_site_scripts_are_never_run(tmp_path, script):
    root = make_tree(tmp_path, dict(enabled("ufw.service"), **{"lib/ufw/ufw-init": "#!/bin/sh\n",
                                                               "etc/ufw/" + script: "#!/bin/sh\n"}))
    os.chmod(os.path.join(root, "etc/ufw", script), 0o755)
    node = ScratchNamespace(nft_save=fixture("ufw.iptables-nft-save"))
    check = overlay_checks.evaluate_boot(gather_boot.gather_boot(node.run, root, node.which, ADDRESSES), PORTS, NETS)
    assert all(os.path.join(root, "lib/ufw/ufw-init") not in argv for argv in node.calls)
    assert check["status"] == "error"
    assert "/etc/ufw/%s is executable: podnet.doctor does not run site scripts" % script in check["observed"]


def test_load_script_stubs_sysctl_and_modprobe_on_every_path_before_loading():
    script = gather_boot.LOAD_SCRIPT
    assert "command -v sysctl" not in script and "for d in /usr/sbin /sbin /usr/bin /bin" in script
    assert script.index('mount --bind /bin/true "$d/$t" || fail') < script.index('nft -f "$nft_conf"')


@pytest.mark.parametrize("units,extra,named", [
    ([("site-fw.service", RESTORE_UNIT), ("other-fw.service", RESTORE_UNIT.replace("rules.v4", "rules.extra"))], {},
     ["other-fw.service (/etc/iptables/rules.extra)", "site-fw.service (/etc/iptables/rules.v4)"]),
    ([("site-fw.service", RESTORE_UNIT), ("ufw.service", "[Service]\n")], {"lib/ufw/ufw-init": "#!/bin/sh\n"},
     ["site-fw.service (/etc/iptables/rules.v4)", "ufw.service"]),
])
def test_several_iptables_loaders_at_boot_are_an_error_not_a_verdict(tmp_path, units, extra, named):
    tree = dict(extra, **{"etc/iptables/rules.v4": IPT_DROP, "etc/iptables/rules.extra": IPT_DROP})
    for unit, text in units:
        tree.update(enabled(unit, text=text))
    root = make_tree(tmp_path, tree)
    node = ScratchNamespace(legacy=IPT_DROP.replace("-A INPUT -p tcp", "-A INPUT -p udp -j ACCEPT\n-A INPUT -p tcp"))
    check = overlay_checks.evaluate_boot(gather_boot.gather_boot(node.run, root, node.which, ADDRESSES), PORTS, NETS)
    assert check["status"] == "error" and node.calls == []
    assert "both load iptables rules at boot in an order this check does not model" in check["observed"]
    assert all(name in check["observed"] for name in named), check


@pytest.mark.parametrize("flag", ["--noflush", "-n"])
def test_a_noflush_restore_is_an_error(tmp_path, flag):
    root = make_tree(tmp_path, dict(enabled("site-fw.service", text=RESTORE_UNIT.replace("restore <", "restore %s <" % flag)),
                                    **{"etc/iptables/rules.v4": IPT_DROP}))
    node = ScratchNamespace(legacy=IPT_DROP)
    check = overlay_checks.evaluate_boot(gather_boot.gather_boot(node.run, root, node.which, ADDRESSES), PORTS, NETS)
    assert check["status"] == "error" and "site-fw.service runs iptables-legacy-restore with --noflush" in check["observed"]


def test_restores_in_etc_network_interfaces_are_loaders(tmp_path):
    root = make_tree(tmp_path, dict(enabled("networking.service"), **{
        "etc/network/interfaces": "auto eth0\niface eth0 inet dhcp\n    pre-up iptables-restore < /etc/iptables.up.rules\n"
                                  "#   up iptables-restore < /etc/old.rules\n",
        "etc/network/interfaces.d/eth1": "iface eth1 inet manual\n  post-up /sbin/iptables-nft-restore /etc/fw.rules\n",
        "etc/iptables.up.rules": IPT_DROP}))
    assert gather_boot.iptables_restores(root, gather_boot.enabled_units(root)) == [
        ("networking.service", "iptables-nft", "/etc/iptables.up.rules"),
        ("networking.service", "iptables-nft", "/etc/fw.rules")]
    root = make_tree(tmp_path, {"etc/network/interfaces.d/eth1": "iface eth1 inet manual\n"})
    node = ScratchNamespace(nft_save=IPT_DROP)
    boot = gather_boot.gather_boot(node.run, root, node.which, ADDRESSES)
    assert "networking.service (/etc/iptables.up.rules with iptables-nft-restore)" in boot["loaders"]
    assert overlay_checks.evaluate_boot(boot, PORTS, NETS)["status"] == "fail"


@pytest.mark.parametrize("where,line", [
    ("etc/network/interfaces", "    up iptables-restore < $RULES\n"),
    ("etc/network/interfaces", "    up cat /etc/fw.rules | iptables-restore\n"),
    ("etc/network/if-up.d/fw", "iptables-restore < $(ls /etc/fw/*.rules)\n"),
])
def test_a_restore_of_no_literal_file_is_an_error_naming_where(tmp_path, where, line):
    root = make_tree(tmp_path, dict(enabled("networking.service"), **{where: "#!/bin/sh\n" + line}))
    os.chmod(os.path.join(root, where), 0o755)
    errors = []
    assert gather_boot.iptables_restores(root, gather_boot.enabled_units(root), errors) == []
    assert len(errors) == 1 and ("networking.service (/%s) runs iptables-restore on something other than a literal"
                                 % where) in errors[0]


@pytest.mark.parametrize("path,text,named", [
    ("etc/firewalld/direct.xml", '<direct>\n  <rule ipv="ipv4" table="filter" chain="INPUT" priority="0">-j DROP</rule>\n</direct>',
     "direct rules in /etc/firewalld/direct.xml are not evaluated"),
    ("etc/NetworkManager/system-connections/eth0.nmconnection", "[connection]\nid=eth0\nzone=drop\n[ipv4]\nmethod=auto\n",
     "/etc/NetworkManager/system-connections/eth0.nmconnection binds its interface to a firewalld zone"),
    ("etc/sysconfig/network-scripts/ifcfg-eth0", 'DEVICE=eth0\nZONE="drop"\n',
     "/etc/sysconfig/network-scripts/ifcfg-eth0 binds its interface to a firewalld zone"),
])
def test_firewalld_direct_rules_and_interface_zones_are_errors(tmp_path, path, text, named):
    zones = "trusted (active)\n  target: ACCEPT\n  interfaces: \n  sources: \n  services: \n  ports: \n  rich rules: \n"
    root = make_tree(tmp_path, dict(enabled("firewalld.service"), **{
        "etc/firewalld/firewalld.conf": "DefaultZone=trusted\n", path: text,
        "etc/NetworkManager/system-connections/lo.nmconnection": "[connection]\nid=lo\nzone=\n[ethernet]\nzone=x\n"}))
    node = ScratchNamespace(offline=(0, zones, ""))
    check = overlay_checks.evaluate_boot(gather_boot.gather_boot(node.run, root, node.which, ADDRESSES), PORTS, NETS)
    assert check["status"] == "error" and named in check["observed"], check
    assert "lo.nmconnection" not in check["observed"]


@pytest.mark.parametrize("backend,chain,expected", [
    ("iptables-legacy", "INPUT", "-p 4 -m comment --comment podnet.doctor -j ACCEPT"),
    ("nft", ("inet", "filter", "input"), "meta l4proto 4 accept"),
    ("firewalld", None, 'protocol value="4"'),
])
def test_boot_fix_text_writes_ip_protocols_by_number(tmp_path, backend, chain, expected):
    packet = Packet("ipip", None, src=NETS[0])
    change = overlay_fix.boot_opening({}, packet, {"backend": backend.replace("nft", "nftables"), "chain": chain, "zone": "public",
                                                   "verdict": "drop", "where": "x"}, NETS[0], False)
    fix = overlay_fix.describe_changes([change], str(tmp_path))
    assert expected in fix and "ipip" not in fix


def test_a_boot_script_that_cannot_be_read_is_an_error_never_an_empty_script(tmp_path):
    errors = []
    assert gather_boot._boot_file_text(str(tmp_path), "/etc/rc.local", errors) == ""
    assert errors == ["/etc/rc.local runs at boot but cannot be read: what it loads is not known; judge by hand"]
