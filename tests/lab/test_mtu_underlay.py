"""An overlay bound to another link than the inventory one (review 2): flannel ``--iface=eth1`` / Calico
``IP_AUTODETECTION_METHOD=interface=eth1`` on a 9000-byte private network, the inventory address on a 1500 eth0.

Two nodes get a second podman network at MTU 9000 (eth1); flannel.1 is re-created as flannel builds it there
(``vxlan ... local <eth1 address> dev eth1``, FDB to the peers' eth1 addresses) at 8950, with FLANNEL_MTU=8950 and
the pod links at 8950. The kernel is the oracle: DF packets of 8950 bytes pod to pod (9000 on eth1 after the
50-byte VXLAN header) arrive, while eth0 refuses 9000 outright. mtu.overlay passes, naming eth1; the plain
``ip -j addr`` record (what node_info read before) does not say where flannel.1 is bound, and judged from it the
same node fails against eth0 - the wrong fail this fixes. mtu.path cannot measure that path (it probes the
inventory addresses over eth0) and says so from each sender, instead of "not even 576 bytes"."""
import json

from conftest import own_fleet
from podnet_lab import fleet as lab_fleet, pods
from podnet_lab.mtu_paths import SUBNET_ENV
from podnet_lab.podman import node_exec, node_sh, run
from test_mtu import mtu_checks

from ansible_collections.podnet.doctor.plugins.module_utils.network import mtu

JUMBO_NET, JUMBO_SUBNET, JUMBO, OVERLAY = "podnet-mtu2-jumbo", "192.168.103", 9000, 8950


def attach_jumbo_network(lab):
    """eth1 on both nodes: a 9000-byte podman network, labelled like the fleet so that Fleet.down
    removes it with the nodes, also when a test fails."""
    run(["network", "create", "--subnet", "%s.0/24" % JUMBO_SUBNET, "--opt", "mtu=%d" % JUMBO,
         "--label", "%s=%s" % (lab_fleet.LABEL, lab.name), JUMBO_NET])
    for index in (1, 2):
        run(["network", "connect", "--ip", "%s.1%d" % (JUMBO_SUBNET, index), JUMBO_NET, lab.node(index)])


jumbo_fleet = own_fleet("podnet-mtu2", 2, "192.168.102.0/24", prepare=attach_jumbo_network)


def bind_overlay_to_eth1(fleet, index):
    """flannel.1 as flanneld --iface=eth1 creates it, and the MTU flannel derives from eth1 everywhere."""
    sub, peer = "10.244.%d" % index, 3 - index
    node_sh(fleet.node(index), "\n".join([
        "ip link del flannel.1 2>/dev/null || true",
        "ip link add flannel.1 address %s mtu %d type vxlan id 1 local %s.1%d dev eth1 dstport %d nolearning"
        % (pods.vtep_mac(index), OVERLAY, JUMBO_SUBNET, index, pods.VXLAN_PORT),
        "ip addr replace %s.0/32 dev flannel.1" % sub,
        "ip link set flannel.1 up",
        "ip route replace 10.244.%d.0/24 via 10.244.%d.0 dev flannel.1 onlink" % (peer, peer),
        "ip neigh replace 10.244.%d.0 lladdr %s dev flannel.1 nud permanent" % (peer, pods.vtep_mac(peer)),
        "bridge fdb replace %s dev flannel.1 dst %s.1%d" % (pods.vtep_mac(peer), JUMBO_SUBNET, peer),
        "for pod in a b; do ip link set dev veth-$pod mtu %d; ip -n pod-$pod link set dev eth0 mtu %d; done"
        % (OVERLAY, OVERLAY),
        "mkdir -p /run/flannel",
        "printf '%s' > /run/flannel/subnet.env" % (SUBNET_ENV % (index, OVERLAY)).replace("\n", "\\n"),
    ]))


def df_loss(node, destination, payload, netns=None):
    command = (["ip", "netns", "exec", netns] if netns else []) + [
        "ping", "-n", "-M", "do", "-s", str(payload), "-c", "3", "-i", "0.2", "-W", "1", destination]
    proc = node_exec(node, command, check=False, timeout=30)
    return proc.returncode, proc.stdout + proc.stderr


def test_vxlan_bound_to_a_jumbo_link_is_judged_against_that_link(jumbo_fleet, tmp_path):
    fleet = jumbo_fleet
    pods.ensure(fleet)
    for index in (1, 2):
        assert node_exec(fleet.node(index), ["cat", "/sys/class/net/eth1/mtu"]).stdout.strip() == str(JUMBO)
        assert node_exec(fleet.node(index), ["cat", "/sys/class/net/eth0/mtu"]).stdout.strip() == "1500"
        bind_overlay_to_eth1(fleet, index)

    # the kernel: 8950-byte DF packets pod to pod arrive (9000 on eth1), both ways; eth0 cannot carry 9000
    for src, dst in ((1, 2), (2, 1)):
        rc, out = df_loss(fleet.node(src), pods.pod_ip(dst, "b"), OVERLAY - 28, netns="pod-a")
        assert rc == 0 and " 0% packet loss" in out, out
    rc, out = df_loss(fleet.node(1), "%s.12" % JUMBO_SUBNET, JUMBO - 28)
    assert rc == 0 and " 0% packet loss" in out, out
    rc, out = df_loss(fleet.node(1), fleet.address(2), JUMBO - 28)
    assert rc != 0 and "message too long" in out.lower(), out

    # what node_info reads: only the details (-d) say where flannel.1 is bound
    plain = json.loads(node_exec(fleet.node(1), ["ip", "-j", "addr", "show"]).stdout)
    detailed = json.loads(node_exec(fleet.node(1), ["ip", "-d", "-j", "addr", "show"]).stdout)
    plain_vxlan = [link for link in plain if link["ifname"] == "flannel.1"][0]
    assert "link" not in plain_vxlan and "linkinfo" not in plain_vxlan
    assert [link for link in detailed if link["ifname"] == "flannel.1"][0]["linkinfo"]["info_data"]["link"] == "eth1"
    # judged from the plain record (the code before), the healthy node fails against eth0: the wrong fail
    old = mtu.evaluate_overlay_mtu(mtu.gather_mtu(plain, "/nonexistent", "flannel", "vxlan", [str(fleet.subnet)]))
    assert old["status"] == "fail" and "exceeds uplink eth0 MTU 1500" in old["observed"], old

    found, out = mtu_checks(fleet, tmp_path / "compliance", "podnet.doctor.compliance")
    for host in ("node1", "node2"):
        check = found[host]["mtu.overlay"]
        assert check["status"] == "pass", out
        assert "device flannel.1 MTU 8950" in check["observed"] and "line 3 = 8950" in check["observed"]
        assert "underlay eth1 MTU 9000 (dev eth1 of flannel.1; not uplink eth0)" in check["observed"]
        assert check["expected"].startswith("overlay MTU <= %d (underlay eth1 MTU 9000" % OVERLAY)

    # the probe leaves by eth0 (the inventory addresses): each sender says the overlay's path is not measured
    found, out = mtu_checks(fleet, tmp_path / "probe", "podnet.doctor.probe")
    for host, peer in (("node1", 2), ("node2", 1)):
        check = found[host]["mtu.path"]
        assert check["status"] == "skip", out
        assert check["observed"] == ("from node%d (%s) no size probe: its overlay runs over eth1 (dev eth1 of flannel.1), "
                                     "not eth0, which the probe leaves by: that path is not measured"
                                     % (peer, fleet.address(peer)))
