"""Review 2 of the MTU change: layouts that gave wrong verdicts. Each test states the real layout and the
source of truth; the ones still marked xfail(strict) are open defects (they flip to XPASS - and fail the suite -
once fixed, so remove the marker with the fix)."""
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


@pytest.mark.xfail(strict=True, reason="open: node_info reads `ip -j addr` without -d, so a VXLAN's underlay "
                   "(IFLA_VXLAN_LINK, only in linkinfo) is never seen; flannel --iface / Calico "
                   "IP_AUTODETECTION_METHOD=interface= on a jumbo link is judged against the inventory link")
def test_vxlan_on_another_jumbo_link_is_judged_against_that_link(tmp_path):
    """flannel --iface=eth1 (9000, storage/private network), inventory address on eth0 (1500): flannel.1 is 8950
    and its packets leave eth1. Confirmed on the kernel (netns): `ip -j addr` of a `vxlan ... dev d0` has no
    "link"; only `ip -d` shows linkinfo.info_data.link/local. Real `ip -j addr` record shape below."""
    addrs = addresses(1500, link("eth1", 9000, "10.50.0.11"), link("flannel.1", 8950))
    _facts, check = judge(tmp_path, {}, addrs)
    assert check["status"] == "pass", check


@pytest.mark.xfail(strict=True, reason="open: every file of /etc/cni/net.d is judged; containerd (go-cni "
                   "loadFromConfDir, max_conf_num=1) and CRI-O use only the first in lexical order")
def test_a_cni_file_the_runtime_ignores_does_not_fail(tmp_path):
    """10-calico.conflist (the one containerd loads: first after sort.Strings) is right; a leftover
    20-jumbo-bridge.conflist from an experiment with "mtu": 9000 is never used by the runtime."""
    files = {"etc/cni/net.d/10-calico.conflist": '{"plugins": [{"type": "calico", "mtu": 1450}]}',
             "etc/cni/net.d/20-jumbo-bridge.conflist": '{"plugins": [{"type": "bridge", "mtu": 9000}]}'}
    _facts, check = judge(tmp_path, files, addresses(1500), cni="calico", mode="vxlan")
    assert check["status"] == "pass", check
