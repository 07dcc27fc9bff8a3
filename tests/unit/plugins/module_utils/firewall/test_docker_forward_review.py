"""Review of the Docker FORWARD DROP change (issue #15): what the fix and the verdict must do on layouts
the first tests did not cover. The oracle is Docker's own ruleset (moby 28's generated
integration/network/bridge/iptablesdoc/generated/new-daemon.md; dockerd 20.10.24 dump of the lab) with
what our fixer runs applied to it, not our code's opinion."""

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.firewall import flows, gather_boot, iptables, overlay_checks, overlay_fix
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.packet import Packet
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import sysctl_boot

from . import test_docker_forward as base
from ....fixture_tree import make_tree

POD = base.POD
USER_DROP = "-A DOCKER-USER -s 10.244.0.0/16 -d 10.99.0.0/16 -j DROP\n"


def apply_fix(dump, root):
    """``dump`` after the DOCKER-USER commands the fixer plans for it (``-I DOCKER-USER <n>`` / ``-A DOCKER-USER``),
    applied the way iptables does: -I n puts the rule at position n, -A at the end."""
    plan = overlay_fix.plan_overlay_fix(base.facts_for(dump), [], [base.NODE_NET], POD, "flannel", root)
    lines = dump.splitlines(True)
    argvs = [argv for argv in plan["commands"] if argv[0] != "systemctl"]
    assert argvs and all(argv[:4] in (["iptables-nft", "-w", "-I", "DOCKER-USER"], ["iptables-nft", "-w", "-A", "DOCKER-USER"]) for argv in argvs)
    for argv in argvs:
        args = argv[2:]
        op, chain = args[0], args[1]
        rest = args[2:]
        position = None
        if op == "-I" and rest and rest[0].isdigit():
            position, rest = int(rest[0]), rest[1:]
        elif op == "-I":
            position = 1
        rule = "-A %s %s\n" % (chain, " ".join(rest))
        indexes = [i for i, line in enumerate(lines) if line.startswith("-A %s " % chain)]
        if position is None:
            at = indexes[-1] + 1 if indexes else lines.index("COMMIT\n")
        else:
            at = indexes[position - 1] if len(indexes) >= position else (indexes[-1] + 1 if indexes else lines.index("COMMIT\n"))
        lines.insert(at, rule)
    return "".join(lines)


def verdict(dump, packet):
    return iptables.ipt_verdict(iptables.IptablesRuleset(dump, "iptables-nft"), packet)["verdict"]


def forward(src, dst, iif, oif):
    return Packet("tcp", 8080, src=src, dst=dst, iif=iif, oif=oif, hook="forward", dst_local=False)


@pytest.mark.parametrize("name", ["docker-28.iptables-nft-save", "docker-20.10.iptables-nft-save"])
def test_fix_keeps_dockers_isolation_of_unpublished_container_ports(tmp_path, name):
    """Was a strict xfail: the -s/-d pod CIDR accepts at the top of DOCKER-USER matched traffic to Docker's bridges
    too (pods reached every unpublished container port, bypassing moby 28's '-A DOCKER ! -i docker0 -o docker0 -j
    DROP' and 20.10's policy DROP for docker0). The accepts are tied to the CNI's interface pairs now."""
    dump = base.fixture(name)
    to_container = forward("10.244.1.5/32", "172.17.0.2/32", "cni0", "docker0")
    from_internal_network = forward("172.18.0.2/32", "10.244.2.5/32", "br-0123456789ab", "flannel.1")
    assert verdict(dump, to_container) == "drop"  # Docker's own isolation, before our fix
    assert verdict(dump, from_internal_network) == "drop"
    fixed = apply_fix(dump, base.make_tree_with_docker(tmp_path, {}))
    assert verdict(fixed, forward("10.244.1.5/32", "10.244.2.5/32", "cni0", "flannel.1")) == "accept"
    assert verdict(fixed, forward("10.244.2.5/32", "10.244.1.5/32", "flannel.1", "cni0")) == "accept"
    assert verdict(fixed, forward("10.244.1.5/32", "198.51.100.1/32", "cni0", "eth0")) == "accept"
    assert verdict(fixed, forward("198.51.100.1/32", "10.244.1.5/32", "eth0", "cni0")) == "accept"
    assert verdict(fixed, to_container) == "drop"
    assert verdict(fixed, forward("10.244.1.5/32", "172.18.0.2/32", "cni0", "br-0123456789ab")) == "drop"
    assert verdict(fixed, from_internal_network) == "drop"


@pytest.mark.parametrize("tail", ["-A DOCKER-USER -j RETURN\n", ""])
def test_fix_keeps_the_users_own_drop_in_docker_user(tmp_path, tail):
    """Was a strict xfail: -I DOCKER-USER 1 put the pod accept above the administrator's own DROP in DOCKER-USER
    (Docker's documented place for user policy). Ours go just above the final RETURN, or are appended."""
    dump = base.fixture("docker-28.iptables-nft-save").replace("COMMIT\n", USER_DROP + tail + "COMMIT\n")
    blocked = forward("10.244.1.5/32", "10.99.0.7/32", "cni0", "eth0")
    assert verdict(dump, blocked) == "drop"
    fixed = apply_fix(dump, base.make_tree_with_docker(tmp_path, {}))
    user = [line for line in fixed.splitlines(True) if line.startswith("-A DOCKER-USER")]
    assert user[0] == USER_DROP and user[-1] == (tail or user[-1]), user
    assert verdict(fixed, forward("10.244.1.5/32", "10.244.2.5/32", "cni0", "flannel.1")) == "accept"
    assert verdict(fixed, blocked) == "drop"


def test_boot_gap_is_error_when_forwarding_at_boot_cannot_be_read(tmp_path, monkeypatch):
    """Accepted now, Docker's DROP in force, no unit: whether dockerd sets DROP again at boot depends on the
    boot value of ip_forward. A sysctl.d file that cannot be read leaves it undecided: error, not fail."""
    fixed = base.with_our_rules(base.fixture("docker-20.10.iptables-nft-save"))
    root = make_tree(tmp_path, dict(base.DOCKER_SERVICE, **{"etc/sysctl.d/99-forward.conf": "net.ipv4.ip_forward = 1\n"}))
    real = sysctl_boot._read_file

    def unreadable(path):
        if path.endswith("99-forward.conf"):
            return sysctl_boot.Unreadable("[Errno 13] Permission denied")
        return real(path)
    monkeypatch.setattr(sysctl_boot, "_read_file", unreadable)
    check = base.forward_check(base.facts_for(fixed), root)
    assert check["status"] == "error", check
    assert "99-forward.conf" in check["observed"] and "Permission denied" in check["observed"]


@pytest.mark.parametrize("daemon_json,status", [('{"iptables": false}\n', "pass"), ('{"ip-forward-no-drop": true}\n', "pass"),
                                                ('{"ip-forward": false}\n', "pass"), ('{"iptables": true}\n', "fail"),
                                                ('{"iptables": false\n', "error")])
def test_no_boot_gap_when_dockerd_is_configured_not_to_set_drop(tmp_path, daemon_json, status):
    """dockerd sets DROP only when it turns forwarding on itself and manages iptables (setupIPForwarding:
    'if enableIPTables'), and not with moby 28's ip-forward-no-drop: then a runtime-only accept is no gap."""
    fixed = base.with_our_rules(base.fixture("docker-20.10.iptables-nft-save"))
    root = make_tree(tmp_path, dict(base.DOCKER_SERVICE, **{"etc/docker/daemon.json": daemon_json}))
    check = base.forward_check(base.facts_for(fixed), root)
    assert check["status"] == status, check
    if status == "error":
        assert "/etc/docker/daemon.json" in check["observed"]


def test_ipv6_pod_cidr_is_not_fixed_with_the_ipv4_tool(tmp_path):
    """Was a strict xfail: an IPv6 pod CIDR was judged against the IPv4 iptables ruleset, named Docker's IPv4
    FORWARD DROP, and fixed with 'iptables-nft -s fd00:...'. Without the ip6tables dump it cannot be judged: error."""
    dump = base.fixture("docker-28.iptables-nft-save")
    check = overlay_checks.evaluate_overlay(base.facts_for(dump), [("udp", 8472, "flannel VXLAN")], [base.NODE_NET], "fd00:10:244::/56",
                                            "flannel", base.make_tree_with_docker(tmp_path, {}))[1]
    assert "iptables-nft -w -I DOCKER-USER 1 -s fd00:10:244::/56" not in (check.get("fix") or "")
    assert "set by Docker" not in check["observed"]
    assert check["status"] == "error" and "ip6tables-nft" in check["observed"], check


POD6 = "fd00:10:244::/56"


def check6(tmp_path, dump4, dump6):
    facts = base.facts_for(dump4, ip6tables_nft=dump6, ip6tables_legacy=None, errors6=[])
    return overlay_checks.evaluate_overlay(facts, [("udp", 8472, "flannel VXLAN")], [base.NODE_NET], POD6, "flannel",
                                           base.make_tree_with_docker(tmp_path, {}))[1]


def test_ipv6_pod_cidr_is_judged_against_ip6tables_and_fixed_with_ip6tables(tmp_path):
    """Docker with ip6tables (default since moby 27) sets the ip6tables FORWARD policy to DROP as well: the IPv6 pod
    traffic is dropped there, named Docker, and the accepts go to ip6tables' DOCKER-USER, never iptables'."""
    dump = base.fixture("docker-28.iptables-nft-save")
    check = check6(tmp_path, dump.replace(":FORWARD DROP", ":FORWARD ACCEPT"), dump)
    assert check["status"] == "fail" and "set by Docker" in check["observed"], check
    assert "ip6tables-nft -w -A DOCKER-USER -i cni0 -o flannel.1 -d fd00:10:244::/56" in check["fix"], check
    assert "ip6tables-nft -w -A DOCKER-USER -i cni0 -o eth0 -s fd00:10:244::/56" in check["fix"], check
    assert "iptables-nft -w" not in check["fix"].replace("ip6tables-nft -w", ""), check


def test_ipv6_pod_cidr_passes_when_only_the_ipv4_forward_policy_is_dockers_drop(tmp_path):
    """dockerd 20.10 leaves ip6tables alone (its ip6tables option is off by default): the IPv4 DROP does not touch
    IPv6 pod traffic, which ip6tables forwards."""
    dump = base.fixture("docker-20.10.iptables-nft-save")
    empty6 = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    check = check6(tmp_path, dump, empty6)
    assert check["status"] == "pass", check


# firewalld running (nftables backend) with the pod CIDR in its trusted zone: firewalld forwards pod traffic itself;
# Docker's FORWARD DROP in iptables-nft is the drop that is left
FIREWALLD = {"running": True, "backend": "nftables", "default_zone": "public", "services": {},
             "zones": {"public": {"interfaces": ["eth0"], "sources": []}, "trusted": {"sources": [POD], "target": "ACCEPT"}}}
DIRECT_CHAIN = ["firewall-cmd", "--permanent", "--direct", "--add-chain", "ipv4", "filter", "DOCKER-USER"]


def firewalld_facts(dump):
    return base.facts_for(dump, firewalld=dict(FIREWALLD))


def direct_xml(rules, extra=""):
    body = "".join('  <rule ipv="ipv4" table="filter" chain="DOCKER-USER" priority="100">%s -m comment --comment podnet.doctor -j ACCEPT'
                   '</rule>\n' % rule for rule in rules)
    return ('<?xml version="1.0" encoding="utf-8"?>\n<direct>\n  <chain ipv="ipv4" table="filter" chain="DOCKER-USER"/>\n%s%s</direct>\n'
            % (body, extra))


def test_with_firewalld_the_fix_also_goes_to_its_permanent_direct_rules(tmp_path):
    """A firewall-cmd --reload flushes every iptables chain (lab: firewalld 1.3.3, nftables backend) and dockerd
    re-creates DOCKER-USER empty: the accepts go to firewalld's permanent direct config too, which it re-applies."""
    check = base.forward_check(firewalld_facts(base.fixture("docker-20.10.iptables-nft-save")), base.make_tree_with_docker(tmp_path, {}))
    assert check["status"] == "fail" and "set by Docker" in check["observed"], check
    assert " ".join(DIRECT_CHAIN) in check["fix"], check["fix"]
    for rule in base.ACCEPTS:
        assert "firewall-cmd --permanent --direct --add-rule ipv4 filter DOCKER-USER 100 %s -m comment" % rule in check["fix"]


def test_accepts_missing_from_firewalds_direct_rules_fail_before_the_reload_that_drops_them(tmp_path):
    fixed = base.with_our_rules(base.fixture("docker-20.10.iptables-nft-save"))
    root = base.installed_unit(tmp_path / "unit")
    check = base.forward_check(firewalld_facts(fixed), root)
    assert check["status"] == "fail" and "firewall-cmd --reload" in check["observed"] and "direct rules" in check["observed"], check
    plan = overlay_fix.plan_overlay_fix(firewalld_facts(fixed), [], [base.NODE_NET], POD, "flannel", root)
    assert plan["commands"][0] == DIRECT_CHAIN and all(c[:3] == ["firewall-cmd", "--permanent", "--direct"] for c in plan["commands"])
    assert len(plan["commands"]) == 1 + len(base.ACCEPTS) and plan["files"] == {}
    # once there: pass, and a second run changes nothing
    done = base.installed_unit(tmp_path / "done", extra={"etc/firewalld/direct.xml": direct_xml(base.ACCEPTS)})
    assert base.forward_check(firewalld_facts(fixed), done)["status"] == "pass"
    again = overlay_fix.plan_overlay_fix(firewalld_facts(fixed), [], [base.NODE_NET], POD, "flannel", done)
    assert again["commands"] == [] and again["files"] == {}
    # one accept missing from it: only that one is added
    partial = base.installed_unit(tmp_path / "partial", extra={"etc/firewalld/direct.xml": direct_xml(base.ACCEPTS[1:])})
    plan = overlay_fix.plan_overlay_fix(firewalld_facts(fixed), [], [base.NODE_NET], POD, "flannel", partial)
    assert [c[8:-6] for c in plan["commands"]] == [base.ACCEPTS[0].split()]


def test_unreadable_direct_xml_is_an_error_not_a_verdict(tmp_path):
    fixed = base.with_our_rules(base.fixture("docker-20.10.iptables-nft-save"))
    root = base.installed_unit(tmp_path, extra={"etc/firewalld/direct.xml": "<direct><rule"})
    check = base.forward_check(firewalld_facts(fixed), root)
    assert check["status"] == "error" and "/etc/firewalld/direct.xml" in check["observed"], check


def test_without_firewalld_running_no_direct_rule_is_needed(tmp_path):
    fixed = base.with_our_rules(base.fixture("docker-20.10.iptables-nft-save"))
    assert base.forward_check(base.facts_for(fixed), base.installed_unit(tmp_path))["status"] == "pass"


@pytest.mark.parametrize("extra,unmodelled", [
    ("", False),
    ('  <rule ipv="ipv4" table="filter" chain="INPUT" priority="0">-p tcp --dport 22 -j DROP</rule>\n', True),
    ('  <passthrough ipv="ipv4">-I FORWARD -j DROP</passthrough>\n', True),
])
def test_our_direct_rules_are_no_unmodelled_boot_policy(tmp_path, extra, unmodelled):
    root = make_tree(tmp_path, {"etc/firewalld/direct.xml": direct_xml(base.ACCEPTS, extra)})
    errors = []
    gather_boot.firewalld_unmodelled(root, errors)
    assert bool(errors) == unmodelled, errors


@pytest.mark.parametrize("name,pattern", [("cali0a1b2c3d4e5", "cali+"), ("lxc0a1b2c3d4e5", "lxc+"), ("vethwepl0a1b2c3", "vethwe+"),
                                          ("cni0", "cni0"), ("flannel.1", "flannel.1"), ("vxlan.calico", "vxlan.calico"),
                                          ("kube-bridge", "kube-bridge"), ("weave", "weave")])
def test_per_pod_veths_are_matched_by_their_prefix_and_bridges_by_name(name, pattern):
    from ansible_collections.podnet.doctor.plugins.module_utils.firewall import docker_forward
    assert docker_forward.interface_pattern(name) == pattern


@pytest.mark.parametrize("cni", ["calico", "cilium", "weave", "canal", "kube-router", "antrea"])
def test_the_fix_accepts_each_cnis_pod_traffic_and_keeps_dockers_bridge_closed(tmp_path, cni):
    """For every CNI of the catalog: what the fixer plans makes overlay.forward pass, and docker0 stays Docker's."""
    dump = base.fixture("docker-28.iptables-nft-save")
    root = base.make_tree_with_docker(tmp_path, {})
    plan = overlay_fix.plan_overlay_fix(base.facts_for(dump), [], [base.NODE_NET], POD, cni, root)
    lines = dump.splitlines(True)
    at = lines.index("COMMIT\n")
    lines[at:at] = ["-A DOCKER-USER %s\n" % " ".join(argv[4:]) for argv in plan["commands"] if argv[0] == "iptables-nft"]
    fixed = "".join(lines)
    check = overlay_checks.evaluate_overlay(base.facts_for(fixed), [], [base.NODE_NET], POD, cni,
                                            base.installed_unit(tmp_path / "unit"))[1]
    assert check["status"] in ("pass", "fail"), check
    assert "DROP of FORWARD" not in check["observed"], check
    pod_if = flows.POD_INTERFACES[cni][0]
    assert verdict(fixed, forward("10.244.1.5/32", "172.17.0.2/32", pod_if, "docker0")) == "drop"
