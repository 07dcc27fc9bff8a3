"""Review 4 (issue 14): netmgr.cni_links read against how the managers really parse their files.

- systemd: repeated ``Name=``/``OriginalName=``/``Type=``... lines of a [Match] section add to ONE list
  (net-condition.c config_parse_match_ifnames/strv: strv_consume; an empty assignment resets); a
  ``!`` at the start of a line negates each of its words; the list matches when no negated word
  matches and, if it has positive words, one of them does (net_condition_test_strv).
- NetworkManager (NetworkManager.conf(5) "Device List Format", nm-core-utils.c match_device_eval):
  an untagged spec is a literal interface name (or a MAC); ``[device*] managed=`` (NM_UNMANAGED_USER_CONF)
  overrides the udev rule's NM_UNMANAGED (nm-device.c _get_managed_by_flags); [device*] sections of
  later files are looked up first, within a file top to bottom, the bare [device] last
  (nm-config.c read_config, nm-config-data.c _match_section_infos_construct); ``except:`` anywhere in
  the merged unmanaged-devices list beats every positive spec of it.
"""
import fnmatch
import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.podnet.doctor.plugins.module_utils.network import managers, netmgr_fix
from ansible_collections.podnet.doctor.plugins.modules import netmgr_fix as netmgr_fix_module
from tests.unit.fixture_tree import make_tree
from tests.unit.plugins.module_utils.network.test_managers import DEFAULT_LINK, ND_ON, NM_ON, UDEV, enabled_units, judge

NM_VETH_RULE = 'ENV{ID_NET_DRIVER}=="veth", ENV{INTERFACE}!="eth[0-9]*", ENV{NM_UNMANAGED}="1"\n'


def nm_managed_names(tmp_path, files, links):
    root = make_tree(tmp_path, dict(NM_ON, **files))
    return [name for name, _why in managers.nm_managed_links(root, links)]


def test_networkd_repeated_name_lines_add_to_one_list(tmp_path):
    result, _facts, _root = judge(tmp_path, dict(ND_ON, **{
        "etc/systemd/network/50-lan.network": "[Match]\nName=eth0\nName=cni*\n\n[Network]\nDHCP=yes\n"}))
    assert result["status"] == "fail", result
    assert "cni0 by /etc/systemd/network/50-lan.network" in result["observed"], result


def test_udev_repeated_original_name_lines_add_to_one_list(tmp_path):
    result, _facts, _root = judge(tmp_path, dict(UDEV, **{
        "etc/systemd/network/10-mac.link": "[Match]\nOriginalName=eth*\nOriginalName=cali*\n\n[Link]\nMACAddressPolicy=persistent\n"}))
    assert result["status"] == "fail", result
    assert "cali0a1b2c3d4e5 by /etc/systemd/network/10-mac.link" in result["observed"], result


def test_networkd_negated_line_negates_every_word(tmp_path):
    # 'Name=!eth0 vxlan100' configures every link but those two: vxlan100 is no link the node configures by
    # name (not kept), and the file takes cni0...
    result, facts, _root = judge(tmp_path, dict(ND_ON, **{
        "etc/systemd/network/90-rest.network": "[Match]\nName=!eth0 vxlan100\n\n[Network]\nDHCP=yes\n"}))
    assert facts["kept_links"] == [], facts["kept_links"]
    assert result["status"] == "fail" and "cni0 by /etc/systemd/network/90-rest.network" in result["observed"], result


def test_nm_untagged_spec_is_an_interface_name(tmp_path):
    files = {"etc/NetworkManager/conf.d/cni.conf": "[keyfile]\nunmanaged-devices=cni0;flannel.1\n"}
    assert nm_managed_names(tmp_path, files, [("cni0", "bridge"), ("flannel.1", "vxlan")]) == []


def test_nm_untagged_spec_in_except_is_not_a_name(tmp_path):
    # except: takes no untagged spec (match_device_eval allow_fuzzy is FALSE for it): the list is then
    # "every device" (only except: entries, none matched), cni0 included
    files = {"etc/NetworkManager/conf.d/cni.conf": "[keyfile]\nunmanaged-devices=except:cni0\n"}
    assert nm_managed_names(tmp_path, files, [("cni0", "bridge")]) == []


def test_nm_device_managed_overrides_the_udev_veth_rule(tmp_path):
    files = {"usr/lib/udev/rules.d/85-nm-unmanaged.rules": NM_VETH_RULE,
             "etc/NetworkManager/conf.d/veth.conf": "[device-cali]\nmatch-device=interface-name:cali*\nmanaged=1\n"}
    assert nm_managed_names(tmp_path, files, [("cali0a1b2c3d4e5", "veth")]) == ["cali0a1b2c3d4e5"]


def test_nm_device_section_of_a_later_file_wins(tmp_path):
    files = {"etc/NetworkManager/conf.d/10-cni.conf": "[device-cni]\nmatch-device=interface-name:cni*\nmanaged=0\n",
             "etc/NetworkManager/conf.d/90-all.conf": "[device-all]\nmatch-device=*\nmanaged=1\n"}
    assert nm_managed_names(tmp_path, files, [("cni0", "bridge")]) == ["cni0"]


def test_nm_bare_device_section_is_looked_up_last(tmp_path):
    files = {"etc/NetworkManager/conf.d/10-dev.conf": "[device]\nmanaged=1\n\n"
                                                      "[device-cni]\nmatch-device=interface-name:cni*\nmanaged=0\n"}
    assert nm_managed_names(tmp_path, files, [("cni0", "bridge"), ("flannel.1", "vxlan")]) == ["flannel.1"]


def test_nm_device_sections_within_a_file_top_to_bottom(tmp_path):
    files = {"etc/NetworkManager/conf.d/10-dev.conf": "[device-cni]\nmatch-device=interface-name:cni*\nmanaged=0\n\n"
                                                      "[device-all]\nmatch-device=*\nmanaged=1\n"}
    assert nm_managed_names(tmp_path, files, [("cni0", "bridge"), ("flannel.1", "vxlan")]) == ["flannel.1"]


def test_nm_stop_match_section_ends_the_search_without_a_decision(tmp_path):
    files = {"etc/NetworkManager/conf.d/10-dev.conf": "[device-stop]\nmatch-device=interface-name:cni*\nstop-match=yes\n\n"
                                                      "[device-off]\nmatch-device=*\nmanaged=0\n"}
    assert nm_managed_names(tmp_path, files, [("cni0", "bridge"), ("flannel.1", "vxlan")]) == ["cni0"]


def test_nm_fix_keeps_the_admins_unmanaged_kept_link_unmanaged(tmp_path):
    # vxlan100 is networkd's (its .network names it) and the admin told NetworkManager to leave it alone;
    # NetworkManager would still manage cni0..., so the fixer writes its file
    root = make_tree(tmp_path, dict(NM_ON, **{
        "etc/NetworkManager/conf.d/10-evpn.conf": "[keyfile]\nunmanaged-devices=interface-name:vxlan100\n",
        "etc/systemd/network/10-evpn.network": "[Match]\nName=vxlan100\n\n[Network]\nAddress=10.9.0.5/24\n",
        "sys/class/net/vxlan100/uevent": "DEVTYPE=vxlan\nINTERFACE=vxlan100\n"}))
    assert managers.nm_managed_links(root, [("vxlan100", "vxlan")]) == []
    facts = managers.gather(root, "flannel", enabled_units)
    plan = netmgr_fix.plan_fix(root, facts)
    assert [f["path"] for f in plan["files"]] == ["/etc/NetworkManager/conf.d/podnet-doctor.conf"], plan
    netmgr_fix.apply_fix(plan, root, run_command=lambda argv: (0, "", ""))
    # NetworkManager's merged list after the fix still leaves the admin's vxlan100 alone
    assert managers.nm_managed_links(root, [("vxlan100", "vxlan")]) == []
    # and the CNI links are unmanaged
    assert managers.nm_managed_links(root, [("cni0", "bridge"), ("vxlan.calico", "vxlan")]) == []
    # the check then passes (our file does not take vxlan100: the admin's list leaves it alone already), and a
    # second run changes nothing
    facts = managers.gather(root, "flannel", enabled_units)
    assert managers.evaluate(facts, "")["status"] == "pass", managers.evaluate(facts, "")
    assert not netmgr_fix.plan_changes(netmgr_fix.plan_fix(root, facts))


@pytest.mark.parametrize("version,status", [
    (244, "fail"), (245, "pass"), (252, "pass")])
def test_networkd_empty_match_matches_every_link_before_245(tmp_path, version, status):
    # systemd PR #14761 (v245) refused .network/.link files without [Match] settings; until then such a file
    # matched every link, with a warning (systemd issue #717, PR #12358)
    result, _facts, _root = judge(tmp_path, dict(ND_ON, **{
        "usr/lib/systemd/libsystemd-shared-%d.so" % version: "",
        "etc/systemd/network/50-dhcp.network": "[Network]\nDHCP=yes\n"}))
    assert result["status"] == status, result
    if status == "fail":
        assert "cni0 by /etc/systemd/network/50-dhcp.network" in result["observed"], result


def test_udev_99_default_link_of_systemd_243_has_no_match_and_takes_every_link(tmp_path):
    # systemd 242-244 shipped 99-default.link without a [Match] section (OriginalName=* came with 245, when
    # such files started to be ignored): on those nodes it is the file that rewrites the CNI links' MAC
    result, _facts, _root = judge(tmp_path, dict(UDEV, **{
        "usr/lib/systemd/libsystemd-shared-243.so": "",
        "usr/lib/systemd/network/99-default.link": "[Link]\nNamePolicy=kernel database onboard slot path\n"
                                                   "MACAddressPolicy=persistent\n"}))
    assert result["status"] == "fail" and "by /usr/lib/systemd/network/99-default.link" in result["observed"], result


def test_the_fix_protects_the_links_from_a_match_less_file_of_systemd_244(tmp_path):
    result, facts, root = judge(tmp_path, dict(ND_ON, **{
        "usr/lib/systemd/libsystemd-shared-244.so": "",
        "etc/systemd/network/50-dhcp.network": "[Network]\nDHCP=yes\n",
        "etc/systemd/networkd.conf.d/x.conf": "[Network]\nManageForeignRoutes=no\nManageForeignRoutingPolicyRules=no\n"}))
    assert result["status"] == "fail", result
    plan = netmgr_fix.plan_fix(root, facts)
    assert [f["path"] for f in plan["files"]] == ["/etc/systemd/network/00-podnet-doctor-cni.network"], plan
    netmgr_fix.apply_fix(plan, root, run_command=lambda argv: (0, "", ""))
    again, _facts, _root = judge(tmp_path, {})
    assert again["status"] == "pass", again
    assert not netmgr_fix.plan_changes(netmgr_fix.plan_fix(root, _facts))


@pytest.mark.parametrize("spec,link,unmanaged", [
    # type: is NetworkManager's type description: a veth is "ethernet", an ipip tunnel "iptunnel"
    ("type:iptunnel", ("tunl0", "ipip"), True),
    ("type:ipip", ("tunl0", "ipip"), False),
    ("type:veth", ("cali0a1b2c3d4e5", "veth"), False),
    ("type:ethernet", ("cali0a1b2c3d4e5", "veth"), True),
    ("type:ether", ("cali0a1b2c3d4e5", "veth"), False),
    ("type:bridge", ("cni0", "bridge"), True),
    # driver: is literal (a glob is for the version after '/')
    ("driver:veth", ("cali0a1b2c3d4e5", "veth"), True),
    ("driver:ve*", ("cali0a1b2c3d4e5", "veth"), False),
    ("driver:veth/*", ("cali0a1b2c3d4e5", "veth"), True),
])
def test_nm_type_and_driver_specs(tmp_path, spec, link, unmanaged):
    files = {"etc/NetworkManager/conf.d/x.conf": "[keyfile]\nunmanaged-devices=%s\n" % spec}
    assert (nm_managed_names(tmp_path, files, [link]) == []) == unmanaged


EVPN_NODE = {
    # the node reaches its peers over vxlan100 (an EVPN underlay that a glob, not its name, configures);
    # the default route leaves by eth0 (management)
    "etc/systemd/network/10-evpn.network": "[Match]\nName=vxlan1*\n\n[Network]\nAddress=10.0.0.5/24\n",
    "etc/systemd/network/90-dhcp.network": "[Match]\nName=*\n\n[Network]\nDHCP=yes\n",
    "sys/class/net/vxlan100/uevent": "DEVTYPE=vxlan\nINTERFACE=vxlan100\n",
    "sys/class/net/eth0/uevent": "INTERFACE=eth0\n",
}
EVPN_IP = {
    ("ip", "-j", "address", "show"): json.dumps([
        {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
        {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.168.1.5", "prefixlen": 24}]},
        {"ifname": "vxlan100", "addr_info": [{"family": "inet", "local": "10.0.0.5", "prefixlen": 24}]}]),
    ("ip", "-4", "-j", "route", "show", "table", "all"): json.dumps([
        {"dst": "default", "gateway": "192.168.1.1", "dev": "eth0"},
        {"dst": "10.0.0.0/24", "dev": "vxlan100", "prefsrc": "10.0.0.5"}]),
    ("ip", "-6", "-j", "route", "show", "table", "all"): "[]",
}


def run_netmgr_fix(args, monkeypatch, capsys):
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: (0, EVPN_IP.get(tuple(argv), ""), ""))
    capsys.readouterr()
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            netmgr_fix_module.main()
    return json.loads(capsys.readouterr().out)


def test_remediate_keeps_the_link_node_info_keeps(tmp_path, monkeypatch, capsys):
    root = make_tree(tmp_path, dict(ND_ON, **EVPN_NODE))
    # the arguments remediate's fix.yml passes (podnet_node_networks defaults to [], the peers are the inventory's)
    result = run_netmgr_fix({"root": root, "cni": "flannel", "node_networks": [], "peers": ["10.0.0.6"]}, monkeypatch, capsys)
    assert not result.get("failed"), result
    written = [p for p in result["files"] if p.endswith(".network")]
    assert written, result
    names = [l.split("=", 1)[1].split() for l in open(root + written[0]).read().splitlines() if l.startswith("Name=")][0]
    # the owned Unmanaged=yes file sorts before 10-evpn.network: it must not take the node's uplink
    assert not any(fnmatch.fnmatchcase("vxlan100", g) for g in names), names
    # and what pre-flight then reads (node_info derives the node network from the peers) passes
    facts = managers.gather(root, "flannel", enabled_units, ["vxlan100"])
    assert managers.evaluate(facts, "")["status"] == "pass", managers.evaluate(facts, "")


# one '!' opening the line negates all its words (a '!' before a later word would be part of its pattern)
NOT_CNI = "[Match]\nName=!" + " ".join(managers.CNI_LINK_GLOBS) + "\n"


@pytest.mark.parametrize("files,status,text", [
    # a drop-in narrows a catch-all DHCP file to the links that are no CNI's
    ({"etc/systemd/network/50-dhcp.network": "[Match]\nName=*\n\n[Network]\nDHCP=yes\n",
      "etc/systemd/network/50-dhcp.network.d/10-not-cni.conf": NOT_CNI}, "pass", None),
    # the same drop-in under /run or /usr/lib counts too (drop-in directories of every network directory)
    ({"usr/lib/systemd/network/50-dhcp.network": "[Match]\nName=*\n\n[Network]\nDHCP=yes\n",
      "run/systemd/network/50-dhcp.network.d/10-not-cni.conf": NOT_CNI}, "pass", None),
    # a drop-in that adds a name makes the file configure that link
    ({"etc/systemd/network/10-lan.network": "[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n",
      "etc/systemd/network/10-lan.network.d/bridge.conf": "[Match]\nName=cni*\n"}, "fail", "cni0 by /etc/systemd/network/10-lan.network"),
    # a drop-in that sets Unmanaged=yes
    ({"etc/systemd/network/50-dhcp.network": "[Match]\nName=*\n\n[Network]\nDHCP=yes\n",
      "etc/systemd/network/50-dhcp.network.d/off.conf": "[Link]\nUnmanaged=yes\n"}, "pass", None),
])
def test_networkd_network_drop_ins(tmp_path, files, status, text):
    result, _facts, _root = judge(tmp_path, dict(ND_ON, **files))
    assert result["status"] == status, result
    if text:
        assert text in result["observed"], result


@pytest.mark.parametrize("files,status,text", [
    # the common flannel#1155 fix as a drop-in of systemd's own file
    (dict(DEFAULT_LINK, **{"etc/systemd/network/99-default.link.d/mac.conf": "[Link]\nMACAddressPolicy=none\n"}), "pass", None),
    (dict(DEFAULT_LINK, **{"run/systemd/network/99-default.link.d/mac.conf": "[Link]\nMACAddressPolicy=none\n"}), "pass", None),
    # a drop-in masked by an empty file of the same name in /etc does not count
    (dict(DEFAULT_LINK, **{"usr/lib/systemd/network/99-default.link.d/mac.conf": "[Link]\nMACAddressPolicy=none\n",
                           "etc/systemd/network/99-default.link.d/mac.conf": ""}),
     "fail", "99-default.link line 7 (MACAddressPolicy=persistent)"),
    # a drop-in that turns the policy on names itself and its line
    ({"etc/systemd/network/10-cni.link": "[Match]\nOriginalName=*\n\n[Link]\nMACAddressPolicy=none\n",
      "etc/systemd/network/10-cni.link.d/x.conf": "# vendor\n[Link]\nMACAddressPolicy=persistent\n"},
     "fail", "by /etc/systemd/network/10-cni.link line 3 (MACAddressPolicy=persistent in /etc/systemd/network/10-cni.link.d/x.conf)"),
])
def test_udev_link_drop_ins(tmp_path, files, status, text):
    result, _facts, _root = judge(tmp_path, dict(UDEV, **files))
    assert result["status"] == status, result
    if text:
        assert text in result["observed"], result
