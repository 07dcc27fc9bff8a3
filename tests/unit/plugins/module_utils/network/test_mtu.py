"""mtu.overlay on fixture trees: subnet.env, CNI conflists with nested mtu keys, broken files, overlay devices,
IPv6 underlays, unknown modes, and the fleet comparison of uplinks."""
import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.network import mtu
from tests.unit.fixture_tree import make_tree

NODE_NET = ["192.168.94.0/24"]


def link(name, link_mtu, address=None, **extra):
    info = []
    if address:
        family = "inet6" if ":" in address else "inet"
        info.append({"family": family, "local": address, "prefixlen": 64 if family == "inet6" else 24})
    return dict({"ifname": name, "mtu": link_mtu, "addr_info": info}, **extra)


def addresses(uplink_mtu=1500, *devices):
    return [link("lo", 65536, "127.0.0.1"), link("eth0", uplink_mtu, "192.168.94.11")] + list(devices)


def judge(tmp_path, files, addrs, cni="flannel", mode="vxlan", networks=None, routes=(), peers=None):
    root = make_tree(tmp_path, files)
    facts = mtu.gather_mtu(addrs, root, cni, mode, NODE_NET if networks is None else networks, routes)
    return facts, mtu.evaluate_overlay_mtu(facts, peers)


def test_nothing_configured_passes_and_names_the_mtu_to_give(tmp_path):
    facts, check = judge(tmp_path, {}, addresses(1500))
    assert check["status"] == "pass"
    assert "no flannel MTU configured and no overlay device yet" in check["observed"]
    assert "must be 1450 or less" in check["observed"] and "uplink eth0 MTU 1500" in check["observed"]
    assert facts["uplink"]["interface"] == "eth0" and facts["overhead"] == 50


@pytest.mark.parametrize("env_mtu,status", [(1450, "pass"), (1451, "fail"), (1350, "pass")])
def test_flannel_subnet_env(tmp_path, env_mtu, status):
    env = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=%d\nFLANNEL_IPMASQ=true\n" % env_mtu
    _facts, check = judge(tmp_path, {"run/flannel/subnet.env": env}, addresses(1500))
    assert check["status"] == status
    assert "/run/flannel/subnet.env line 3 = %d" % env_mtu in check["observed"]
    if status == "fail":
        assert check["largest_overlay_mtu"] == 1450 and "overlay MTU 1450 or less" in check["fix"]


def test_subnet_env_is_flannels_only(tmp_path):
    _facts, check = judge(tmp_path, {"run/flannel/subnet.env": "FLANNEL_MTU=9000\n"}, addresses(1500), cni="calico")
    assert check["status"] == "pass" and "9000" not in check["observed"]


def test_subnet_env_garbage_is_error(tmp_path):
    _facts, check = judge(tmp_path, {"run/flannel/subnet.env": "FLANNEL_MTU=auto\n"}, addresses(1500))
    assert check["status"] == "error" and "/run/flannel/subnet.env line 1: FLANNEL_MTU='auto' is not a number" in check["observed"]


CALICO_CONFLIST = """{"name": "k8s-pod-network", "cniVersion": "0.3.1",
 "plugins": [{"type": "calico", "mtu": %d, "ipam": {"type": "calico-ipam"}},
             {"type": "portmap", "capabilities": {"portMappings": true}}]}"""


def test_nested_mtu_in_conflist_too_large_for_ipip(tmp_path):
    files = {"etc/cni/net.d/10-calico.conflist": CALICO_CONFLIST % 1500}
    _facts, check = judge(tmp_path, files, addresses(1500), cni="calico", mode="ipip")
    assert check["status"] == "fail"
    assert "/etc/cni/net.d/10-calico.conflist key plugins[0].mtu = 1500" in check["observed"]
    assert check["largest_overlay_mtu"] == 1480 and "veth_mtu" in check["fix"]


def test_conf_json_and_deeper_nesting_and_other_suffixes_ignored(tmp_path):
    """Multus-style .json first (its delegates nested), a later .conf the runtime never reads, a backup suffix libcni's
    ConfFiles leaves out, and a directory named like a conf that sorts first (ConfFiles skips directories)."""
    files = {"etc/cni/net.d/00-dir.conf/ignored": "directory named like a conf",
             "etc/cni/net.d/05-multus.json": '{"type": "multus", "delegates": [{"plugins": [{"delegate": {"mtu": 1460}}]}]}',
             "etc/cni/net.d/20-bridge.conf": '{"type": "bridge", "mtu": 9000}',
             "etc/cni/net.d/99-old.conflist.bak": "not json"}
    _facts, check = judge(tmp_path, files, addresses(1500))
    assert check["status"] == "fail"
    assert "/etc/cni/net.d/05-multus.json key delegates[0].plugins[0].delegate.mtu = 1460" in check["observed"]
    assert "9000" not in check["observed"] and "99-old" not in check["observed"] and "00-dir" not in check["observed"]
    assert "the runtime uses 05-multus.json, the first in lexical order; ignored: 20-bridge.conf" in check["observed"]


def test_invalid_json_is_error_naming_the_file(tmp_path):
    files = {"etc/cni/net.d/10-flannel.conflist": '{"plugins": [{"type": "flannel",}]}'}
    _facts, check = judge(tmp_path, files, addresses(1500))
    assert check["status"] == "error" and "/etc/cni/net.d/10-flannel.conflist is not valid JSON" in check["observed"]


def test_mtu_that_is_not_a_number_is_error(tmp_path):
    files = {"etc/cni/net.d/10-calico.conflist": '{"plugins": [{"type": "calico", "mtu": "__CNI_MTU__"}]}'}
    _facts, check = judge(tmp_path, files, addresses(1500), cni="calico", mode="vxlan")
    assert check["status"] == "error" and "key plugins[0].mtu: '__CNI_MTU__' is not a number" in check["observed"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_conf_is_error(tmp_path):
    root = make_tree(tmp_path, {"etc/cni/net.d/10-calico.conflist": CALICO_CONFLIST % 1440})
    os.chmod(os.path.join(root, "etc/cni/net.d/10-calico.conflist"), 0)
    facts = mtu.gather_mtu(addresses(1500), root, "calico", "vxlan", NODE_NET)
    check = mtu.evaluate_overlay_mtu(facts)
    assert check["status"] == "error" and "10-calico.conflist cannot be read" in check["observed"]


def test_existing_device_too_large_for_a_smaller_uplink(tmp_path):
    _facts, check = judge(tmp_path, {}, addresses(1400, link("flannel.1", 1450)))
    assert check["status"] == "fail"
    assert check["observed"] == "device flannel.1 MTU 1450 (+ 50 = 1500): exceeds uplink eth0 MTU 1400 (vxlan over IPv4)"
    assert check["expected"].startswith("overlay MTU <= 1350") and check["fix"].endswith("until then: ip link set dev flannel.1 mtu 1350")


def test_devices_of_other_cnis_are_not_judged(tmp_path):
    _facts, check = judge(tmp_path, {}, addresses(1500, link("vxlan.calico", 1500), link("flannel.1", 1450)))
    assert check["status"] == "pass" and "vxlan.calico" not in check["observed"]


def test_device_underlay_named_by_ip_details(tmp_path):
    # (cilium_vxlan was used here: Cilium's is flow-based, has no underlay link and carries the device MTU)
    dev = link("flannel.1", 1450, linkinfo={"info_kind": "vxlan", "info_data": {"link": "eth1", "port": 8472}})
    addrs = addresses(1500, link("eth1", 1400, "10.0.0.5"), dev)
    _facts, check = judge(tmp_path, {}, addrs, cni="flannel", mode="vxlan")
    assert check["status"] == "fail" and "underlay eth1 MTU 1400" in check["observed"]


@pytest.mark.parametrize("mode,overhead", [("vxlan", 70), ("wireguard", 80)])
def test_ipv6_underlay_adds_twenty(tmp_path, mode, overhead):
    addrs = [link("lo", 65536), link("ens3", 1500, "fd00:94::11")]
    facts, check = judge(tmp_path, {}, addrs, cni="calico", mode=mode, networks=["fd00:94::/64"])
    assert facts["overhead"] == overhead and check["largest_overlay_mtu"] == 1500 - overhead
    assert "over IPv6" in check["expected"]


@pytest.mark.parametrize("cni,mode,overhead", [
    ("flannel", "udp", 28), ("flannel", "host-gw", 0), ("calico", "bgp", 0), ("calico", "ipip", 20),
    ("cilium", "geneve", 50), ("cilium", "wireguard", 60), ("weave", "fastdp", 50)])
def test_overhead_table(tmp_path, cni, mode, overhead):
    facts, check = judge(tmp_path, {}, addresses(1500), cni=cni, mode=mode)
    assert facts["overhead"] == overhead and check["status"] == "pass"


def test_host_gw_still_fails_an_mtu_larger_than_the_uplink(tmp_path):
    files = {"etc/cni/net.d/10-flannel.conflist": '{"plugins": [{"type": "flannel", "delegate": {"mtu": 9000}}]}'}
    _facts, check = judge(tmp_path, files, addresses(1500), mode="host-gw")
    assert check["status"] == "fail" and check["largest_overlay_mtu"] == 1500


@pytest.mark.parametrize("cni,mode", [("weave", "sleeve"), ("calico", "typha"), ("custom", "vxlan")])
def test_unknown_overhead_skips(tmp_path, cni, mode):
    _facts, check = judge(tmp_path, {}, addresses(1500), cni=cni, mode=mode)
    assert check["status"] == "skip" and "%s mode %s" % (cni, mode) in check["observed"]


def test_uplink_from_default_route_when_no_node_network_matches(tmp_path):
    routes = [{"dst": "default", "gateway": "10.1.1.1", "dev": "eth0"}]
    facts, check = judge(tmp_path, {}, addresses(1500), networks=["10.9.9.0/24"], routes=routes)
    assert facts["uplink"]["interface"] == "eth0" and check["status"] == "pass"
    assert "default route" in facts["uplink"]["source"]


def test_no_uplink_is_error(tmp_path):
    _facts, check = judge(tmp_path, {}, addresses(1500), networks=[])
    assert check["status"] == "error" and "uplink is unknown" in check["observed"]


def test_fleet_peer_with_smaller_uplink_fails_the_larger_one(tmp_path):
    big = mtu.gather_mtu(addresses(1500, link("flannel.1", 1450)), make_tree(tmp_path, {}), "flannel", "vxlan", NODE_NET)
    small = mtu.gather_mtu(addresses(1400, link("flannel.1", 1350)), str(tmp_path), "flannel", "vxlan", NODE_NET)
    per_host = mtu.fleet_overlay_checks({"node1": big, "node2": small, "node3": big})
    node1 = per_host["node1"][0]
    assert node1["status"] == "fail"
    assert node1["observed"] == ("device flannel.1 MTU 1450 (+ 50 = 1500): exceeds peer node2 uplink MTU 1400 "
                                 "(this node's eth0: 1500) (vxlan over IPv4)")
    assert node1["largest_overlay_mtu"] == 1350 and "raise the smaller uplinks' MTU" in node1["fix"]
    assert per_host["node2"][0]["status"] == "pass"  # its packets fit every peer


def test_fleet_fitting_overlay_passes_despite_differing_uplinks(tmp_path):
    node = mtu.gather_mtu(addresses(1500, link("flannel.1", 1350)), make_tree(tmp_path, {}), "flannel", "vxlan", NODE_NET)
    other = mtu.gather_mtu(addresses(1400), str(tmp_path), "flannel", "vxlan", NODE_NET)
    per_host = mtu.fleet_overlay_checks({"node1": node, "node2": other})
    assert per_host["node1"][0]["status"] == "pass" and "peer node2 uplink MTU 1400" in per_host["node1"][0]["observed"]
