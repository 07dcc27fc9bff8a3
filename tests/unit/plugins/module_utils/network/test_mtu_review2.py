"""Review 2 of the MTU change: layouts that gave wrong verdicts. Each test states the real layout and the
source of truth. The two that were strict xfail (VXLAN underlay unseen, CNI files the runtime ignores) are fixed;
the tests after them cover the fixes' edges."""
import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.network import mtu, probe_mtu
from tests.unit.fixture_tree import make_tree
from tests.unit.plugins.module_utils.network.test_mtu import NODE_NET, addresses, judge, link


def test_fleet_before_install_a_larger_uplink_fails_when_the_cni_will_derive_its_mtu_from_it(tmp_path):
    """Pre-flight, nothing installed: node1 9001 (AWS jumbo), node2 1500. flannel (FLANNEL_MTU = iface MTU - 50),
    Calico auto (veth_mtu 0) and Cilium auto all derive per node from the node's own link: node1 pods get 8951,
    whose VXLAN packets (9001) node2's 1500 link drops. The issue: "uplink MTUs must agree across the fleet"."""
    root = make_tree(tmp_path, {})
    big = mtu.gather_mtu(addresses(9001), root, "flannel", "vxlan", NODE_NET)
    small = mtu.gather_mtu(addresses(1500), root, "flannel", "vxlan", NODE_NET)
    per_host = mtu.fleet_overlay_checks({"node1": big, "node2": small})
    node1 = per_host["node1"][0]
    assert node1["status"] == "fail", node1
    assert "peer node2 uplink MTU 1500" in node1["observed"] and "8951" in node1["observed"]
    assert node1["largest_overlay_mtu"] == 1450
    assert per_host["node2"][0]["status"] == "pass"


def test_calico_mtu_zero_is_auto_not_an_mtu(tmp_path):
    """Calico's manifests default veth_mtu to "0", written as "mtu": 0 in 10-calico.conflist; the calico plugin
    then takes /var/lib/calico/mtu (cni-plugin utils.MTUFromFile: conf.MTU == 0 -> file). 0 is not an overlay MTU:
    it must not be listed as one that 'fits', nor make mtu.path probe 0 + 50 = 50 bytes."""
    files = {"etc/cni/net.d/10-calico.conflist":
             '{"name": "k8s-pod-network", "plugins": [{"type": "calico", "mtu": 0}, {"type": "portmap"}]}'}
    facts, check = judge(tmp_path, files, addresses(1500), cni="calico", mode="vxlan")
    assert check["status"] == "pass" and "= 0" not in check["observed"]
    assert probe_mtu.needed_size(facts)[0] == 1500


def test_loopback_vip_in_the_node_network_is_not_the_uplink(tmp_path):
    """kube-vip (BGP mode) / keepalived-style VIP or a routed /32 on lo inside the node network: lo (MTU 65536)
    comes first in ``ip addr`` and was taken as the uplink, so a flannel.1 of 8951 on a 1500 eth0 passed."""
    addrs = [link("lo", 65536, "127.0.0.1"), link("eth0", 1500, "192.168.94.11"), link("flannel.1", 8951)]
    addrs[0]["addr_info"].append({"family": "inet", "local": "192.168.94.250", "prefixlen": 32})
    addrs[0]["flags"] = ["LOOPBACK", "UP", "LOWER_UP"]
    facts, check = judge(tmp_path, {}, addrs)
    assert facts["uplink"]["interface"] == "eth0"
    assert check["status"] == "fail"


@pytest.mark.parametrize("mode,device", [("vxlan", "cilium_vxlan"), ("geneve", "cilium_geneve")])
def test_cilium_tunnel_device_carries_the_device_mtu_by_design(tmp_path, mode, device):
    """Cilium creates cilium_vxlan / cilium_geneve with MTU = DeviceMTU (the native device's, 1500) and puts the
    tunnel overhead in the route MTU (pkg/datapath/loader setupTunnelDevice(..., cfg.DeviceMTU); pkg/mtu
    GetRouteMTU = DeviceMTU - 50). A healthy Cilium node shows cilium_vxlan mtu 1500 on a 1500 eth0: pass, and
    mtu.path must not demand 1550-byte datagrams."""
    facts, check = judge(tmp_path, {}, addresses(1500, link(device, 1500)), cni="cilium", mode=mode)
    assert check["status"] == "pass", check
    assert probe_mtu.needed_size(facts)[0] == 1500


def test_weave_fastdp_vxlan_vport_is_unbounded_by_design(tmp_path):
    """Weave's vxlan-6784 is an Open vSwitch datapath vport: the kernel creates it with .mtu = IP_MAX_MTU ("Don't
    restrict the packets that can be sent by MTU", net/openvswitch/vport-vxlan.c), 65485 after clamping. Weave's
    MTU is WEAVE_MTU on its bridge; the vport's MTU is no overlay MTU."""
    _facts, check = judge(tmp_path, {}, addresses(1500, link("vxlan-6784", 65485)), cni="weave", mode="fastdp")
    assert check["status"] == "pass", check


def test_vxlan_on_another_jumbo_link_is_judged_against_that_link(tmp_path):
    """flannel --iface=eth1 (9000, storage/private network), inventory address on eth0 (1500): flannel.1 is 8950
    and its packets leave eth1. Confirmed on the kernel (netns): `ip -j addr` of a `vxlan ... dev d0` has no
    "link"; only `ip -d` shows linkinfo.info_data.link/local. node_info now reads `ip -d -j addr` (same one call);
    the record below is its shape for `ip link add flannel.1 mtu 8950 type vxlan id 1 local 10.50.0.11 dev eth1`
    (checked in a netns, iproute2 6.1). flannel also writes FLANNEL_MTU=8950 (derived from eth1)."""
    vxlan = {"info_kind": "vxlan", "info_data": {"id": 1, "link": "eth1", "local": "10.50.0.11", "port": 8472}}
    addrs = addresses(1500, link("eth1", 9000, "10.50.0.11"), link("flannel.1", 8950, linkinfo=vxlan))
    files = {"run/flannel/subnet.env": "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_MTU=8950\n"}
    facts, check = judge(tmp_path, files, addrs)
    assert check["status"] == "pass", check
    assert "underlay eth1 MTU 9000 (dev eth1 of flannel.1; not uplink eth0)" in check["observed"]
    assert facts["largest_overlay_mtu"] == 8950
    # Calico's vxlan.calico sets only the source address: the interface holding it is the underlay
    del vxlan["info_data"]["link"]
    _facts, check = judge(tmp_path, files, addrs)
    assert check["status"] == "pass" and "local 10.50.0.11 on eth1 of flannel.1" in check["observed"], check
    # too large for that link still fails, naming it
    addrs[-1]["mtu"] = 8960
    _facts, check = judge(tmp_path, {}, addrs)
    assert check["status"] == "fail" and "exceeds underlay eth1 MTU 9000" in check["observed"], check


def test_a_cni_file_the_runtime_ignores_does_not_fail(tmp_path):
    """10-calico.conflist (the one containerd loads: first after sort.Strings) is right; a leftover
    20-jumbo-bridge.conflist from an experiment with "mtu": 9000 is never used by the runtime."""
    files = {"etc/cni/net.d/10-calico.conflist": '{"plugins": [{"type": "calico", "mtu": 1450}]}',
             "etc/cni/net.d/20-jumbo-bridge.conflist": '{"plugins": [{"type": "bridge", "mtu": 9000}]}'}
    _facts, check = judge(tmp_path, files, addresses(1500), cni="calico", mode="vxlan")
    assert check["status"] == "pass", check


def _vxlan_on(name, address, device_mtu):
    return link("flannel.1", device_mtu, linkinfo={"info_kind": "vxlan", "info_data": {"link": name, "local": address}})


def test_plain_ip_record_without_details_is_judged_against_the_uplink(tmp_path):
    """Without ``ip -d`` details (an old facts dump) nothing says where flannel.1 is bound: the uplink it is."""
    addrs = addresses(1500, link("eth1", 9000, "10.50.0.11"), link("flannel.1", 8950))
    _facts, check = judge(tmp_path, {}, addrs)
    assert check["status"] == "fail" and "exceeds uplink eth0 MTU 1500" in check["observed"]


def test_fleet_compares_the_peers_same_underlay_not_their_uplink(tmp_path):
    """Three nodes, eth0 1500 everywhere, flannel bound to eth1: node3's eth1 is 1500, so node1's 8950 fails on it;
    the eth0 uplinks (all 1500) do not fail anyone."""
    root = make_tree(tmp_path, {})
    hosts = {}
    for host, eth1 in (("node1", 9000), ("node2", 9000), ("node3", 1500)):
        addrs = addresses(1500, link("eth1", eth1, "10.50.0.1%s" % host[-1]), _vxlan_on("eth1", "10.50.0.1%s" % host[-1],
                                                                                        min(8950, eth1 - 50)))
        hosts[host] = mtu.gather_mtu(addrs, root, "flannel", "vxlan", NODE_NET)
    per_host = mtu.fleet_overlay_checks(hosts, ["node1", "node2", "node3", "node4"])
    node1 = per_host["node1"][0]
    assert node1["status"] == "fail" and "peer node3 eth1 MTU 1500" in node1["observed"], node1
    assert node1["largest_overlay_mtu"] == 1450
    assert per_host["node3"][0]["status"] == "pass", per_host["node3"]
    assert "not compared: node4 (no facts)" in per_host["node3"][0]["observed"]


def test_peers_without_facts_are_named_not_compared(tmp_path):
    """node3 unreachable (or outside --limit): it has no facts, so no uplink to compare; saying nothing would read as
    'the fleet agrees'."""
    root = make_tree(tmp_path, {})
    facts = dict((h, mtu.gather_mtu(addresses(1500), root, "flannel", "vxlan", NODE_NET)) for h in ("node1", "node2"))
    facts["node5"] = mtu.gather_mtu([link("lo", 65536, "127.0.0.1")], root, "flannel", "vxlan", NODE_NET)
    per_host = mtu.fleet_overlay_checks(facts, ["node1", "node2", "node3", "node5"])
    assert per_host["node1"][0]["status"] == "pass"
    assert "not compared: node5 (no uplink found), node3 (no facts)" in per_host["node1"][0]["observed"]
    assert per_host["node5"][0]["status"] == "error"


@pytest.mark.parametrize("first,why", [
    ("{not json", "/etc/cni/net.d/05-broken.conflist is not valid JSON"),
    ('{"name": "x", "plugins": []}', "/etc/cni/net.d/05-broken.conflist has no plugins"),
])
def test_a_first_file_that_does_not_load_is_skipped_like_cri_o(tmp_path, first, why):
    """ocicni loadNetworks skips a file that fails to load (ConfListFromFile error, no plugins) and takes the next
    as the default network; containerd (go-cni) stops there. The MTU that can be in use is the next file's."""
    files = {"etc/cni/net.d/05-broken.conflist": first,
             "etc/cni/net.d/10-calico.conflist": '{"plugins": [{"type": "calico", "mtu": 1500}]}'}
    _facts, check = judge(tmp_path, files, addresses(1500), cni="calico", mode="vxlan")
    assert check["status"] == "fail" and "10-calico.conflist key plugins[0].mtu = 1500" in check["observed"]
    assert "skipped: %s" % why in check["observed"] and "containerd stops there" in check["observed"]


def test_a_conf_without_type_is_skipped(tmp_path):
    """libcni ConfFromFile + 'no type' (a conflist saved as .conf): both runtimes refuse it as a network."""
    files = {"etc/cni/net.d/05-list.conf": '{"plugins": [{"type": "bridge", "mtu": 9000}]}',
             "etc/cni/net.d/10-calico.conflist": '{"plugins": [{"type": "calico", "mtu": 1450}]}'}
    _facts, check = judge(tmp_path, files, addresses(1500), cni="calico", mode="vxlan")
    assert check["status"] == "pass" and "05-list.conf has no type" in check["observed"], check


def test_invalid_json_in_an_ignored_file_is_no_error(tmp_path):
    files = {"etc/cni/net.d/10-flannel.conflist": '{"plugins": [{"type": "flannel"}]}',
             "etc/cni/net.d/50-leftover.conf": "{half written"}
    _facts, check = judge(tmp_path, files, addresses(1500))
    assert check["status"] == "pass" and "ignored: 50-leftover.conf" in check["observed"], check


def test_an_unreadable_file_before_the_used_one_is_an_error_but_after_it_is_not(tmp_path, monkeypatch):
    """Which file the runtime uses cannot be told past a file that cannot be read (it may load); one after the used
    file is never read by the runtime. (Unreadable = read_text gives None: root reads any mode-0 file.)"""
    real = mtu.read_text
    monkeypatch.setattr(mtu, "read_text", lambda root, path: None if "secret" in path else real(root, path))
    files = {"etc/cni/net.d/05-secret.conflist": '{"plugins": [{"type": "bridge", "mtu": 9000}]}',
             "etc/cni/net.d/10-flannel.conflist": '{"plugins": [{"type": "flannel"}]}'}
    _facts, check = judge(tmp_path / "before", files, addresses(1500))
    assert check["status"] == "error" and "05-secret.conflist cannot be read" in check["observed"]
    files["etc/cni/net.d/50-secret.conflist"] = files.pop("etc/cni/net.d/05-secret.conflist")
    _facts, check = judge(tmp_path / "after", files, addresses(1500))
    assert check["status"] == "pass" and "ignored: 50-secret.conflist" in check["observed"], check
