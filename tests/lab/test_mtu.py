"""MTU on real nodes: node2's uplink is 1400 while node1's is 1500 (a peer link smaller than
its neighbour). Small packets and TCP handshakes pass, full-size overlay packets from node1
vanish at node2's link; mtu.overlay fails on both nodes (node2's configured MTU does not fit
its own uplink, node1's overlay does not fit its peer's) naming what to set; with the overlay
MTU the fix names, the transfer completes and both pass. The probe's mtu.path agrees on
real datagrams: 1400 bytes is the largest that crosses from node1, whose overlay needs 1500;
node2's own overlay device needs only 1400 (the direction the transfer showed working); after
the fix both need 1400 and get it.

Then a smaller link between two nodes whose own links agree (the bridge port in front of
node2 at 1400): no node shows it, mtu.overlay passes, and only mtu.path catches it. The host
bridge fragments what carries no DF, as a router would (an L2 switch drops it): DF pings die,
the VXLAN transfer arrives in fragments (node2's reassembly counter), whole again after the fix.

veth hands GSO super-packets to its peer without an MTU check (is_skb_forwardable), where a
NIC puts MTU-sized frames on the wire; ``gso_max_segs 1`` on the nodes' eth0 makes them
segment in software first, as a NIC would, so the receiving link sees every frame's size."""
import json
import os

from conftest import ansible_playbook, own_fleet
from podnet_lab import mtu_paths, pods

SMALL_UPLINK, OVERLAY_TOO_BIG, OVERLAY_FITS = 1400, 1450, 1350


mtu_fleet = own_fleet("podnet-mtu", 2, "192.168.94.0/24")


def mtu_checks(fleet, report_dir, playbook="podnet.doctor.compliance"):
    """Each host's mtu.* checks from a run's per-host reports (other checks may fail: a fresh node)."""
    _rc, out = ansible_playbook(fleet.inventory_path, playbook, "-e", "podnet_report_dir=%s" % report_dir)
    found = {}
    for host in ("node1", "node2"):
        path = os.path.join(str(report_dir), "hosts", "%s.json" % host)
        assert os.path.exists(path), out
        with open(path) as handle:
            found[host] = dict((c["id"], c) for c in json.load(handle)["checks"] if c["id"].startswith("mtu."))
    return found, out


def test_uplink_mtu_mismatch_symptom_detection_and_fix(mtu_fleet, tmp_path):
    fleet = mtu_fleet
    healthy, out = mtu_checks(fleet, tmp_path / "healthy")
    assert healthy["node1"]["mtu.overlay"]["status"] == "pass", out  # nothing configured, uplinks agree
    assert "must be 1450 or less" in healthy["node1"]["mtu.overlay"]["observed"]

    for index in (1, 2):
        mtu_paths.segment_like_a_nic(fleet.node(index))
    mtu_paths.set_uplink_mtu(fleet.node(2), SMALL_UPLINK)
    pods.ensure(fleet)
    for index in (1, 2):  # the MTU a hand-written CNI config gives (a template made for 1500 links)
        mtu_paths.set_overlay_mtu(fleet, index, OVERLAY_TOO_BIG)
    # the kernel keeps node2's flannel.1 within its uplink; node1's fits its own 1500 link
    assert mtu_paths.link_mtu(fleet.node(2), "flannel.1") == SMALL_UPLINK - 50
    assert mtu_paths.link_mtu(fleet.node(1), "flannel.1") == OVERLAY_TOO_BIG

    # the symptom: small packets and the handshake work, full-size packets node1 -> node2 vanish
    assert mtu_paths.df_ping_loss(fleet, 1, 2, 56) == 0
    assert mtu_paths.df_ping_loss(fleet, 1, 2, OVERLAY_TOO_BIG - 28) == 100
    connected, received = mtu_paths.bulk_transfer(fleet, 1, 2)
    assert connected and received is None
    assert mtu_paths.bulk_transfer(fleet, 2, 1) == (True, 1 << 20)  # node2's own flannel.1 is small enough

    found, out = mtu_checks(fleet, tmp_path / "fault")
    node1, node2 = found["node1"]["mtu.overlay"], found["node2"]["mtu.overlay"]
    assert node1["status"] == "fail", out
    assert "device flannel.1 MTU 1450 (+ 50 = 1500)" in node1["observed"]
    assert "peer node2 uplink MTU 1400 (this node's eth0: 1500)" in node1["observed"]
    assert node2["status"] == "fail", out
    assert "/run/flannel/subnet.env line 3 = 1450 (+ 50 = 1500): exceeds uplink eth0 MTU 1400" in node2["observed"]
    assert "flannel.1" not in node2["observed"]  # 1350 fits
    for check in (node1, node2):
        assert check["fix"].startswith("overlay MTU %d or less" % OVERLAY_FITS)
        assert check["expected"].startswith("overlay MTU <= %d" % OVERLAY_FITS)

    # the active probe: DF datagrams at the size each sender's overlay needs, and below
    found, out = mtu_checks(fleet, tmp_path / "probe-fault", "podnet.doctor.probe")
    assert found["node2"]["mtu.path"]["status"] == "fail", out
    assert found["node2"]["mtu.path"]["observed"] == (
        "from node1 (192.168.94.11) the largest DF datagram that arrived is 1400 bytes, 1500 needed (8472/udp)")
    # node2's flannel.1 (1350, held there by the kernel) needs 1400: that direction works, as the transfer showed
    assert found["node1"]["mtu.path"]["status"] == "pass", out
    assert "from node2 (192.168.94.12) the largest DF datagram that arrived is 1400 bytes, 1400 needed" in \
        found["node1"]["mtu.path"]["observed"]

    # the fix the check names: the overlay MTU at 1350 on every node
    for index in (1, 2):
        mtu_paths.set_overlay_mtu(fleet, index, OVERLAY_FITS)
    assert mtu_paths.df_ping_loss(fleet, 1, 2, OVERLAY_FITS - 28) == 0
    assert mtu_paths.bulk_transfer(fleet, 1, 2) == (True, 1 << 20)
    found, out = mtu_checks(fleet, tmp_path / "fixed")
    assert found["node1"]["mtu.overlay"]["status"] == "pass", out
    assert found["node2"]["mtu.overlay"]["status"] == "pass", out
    found, out = mtu_checks(fleet, tmp_path / "probe-fixed", "podnet.doctor.probe")
    for host in ("node1", "node2"):
        assert found[host]["mtu.path"]["status"] == "pass", out
        assert "is 1400 bytes, 1400 needed" in found[host]["mtu.path"]["observed"]


def test_a_smaller_link_between_the_nodes_only_the_probe_sees(mtu_fleet, tmp_path):
    fleet = mtu_fleet
    for index in (1, 2):
        mtu_paths.set_uplink_mtu(fleet.node(index), 1500)
    # node1 segments like a NIC; node2 keeps GSO, or its full-size replies to Ansible's SSH would meet
    # the small link too (host -> node2 frames are the host's own GSO packets, which veth passes whole)
    mtu_paths.segment_like_a_nic(fleet.node(1))
    mtu_paths.segment_like_a_nic(fleet.node(2), segments=65535)
    pods.ensure(fleet)
    for index in (1, 2):  # what flannel derives from a 1500 link
        mtu_paths.set_overlay_mtu(fleet, index, OVERLAY_TOO_BIG)
    assert mtu_paths.bulk_transfer(fleet, 1, 2) == (True, 1 << 20)
    mtu_paths.set_link_between_mtu(fleet.node(2), SMALL_UPLINK)
    try:
        assert mtu_paths.df_ping_loss(fleet, 1, 2, 56) == 0
        assert mtu_paths.df_ping_loss(fleet, 1, 2, OVERLAY_TOO_BIG - 28) == 100
        # the outer VXLAN packets carry no DF: the host's bridge (br_netfilter, like a router) fragments them,
        # so the transfer gets through in pieces - slow, and lost wherever fragments are dropped
        before = mtu_paths.reassembled(fleet.node(2))
        assert mtu_paths.bulk_transfer(fleet, 1, 2) == (True, 1 << 20)
        assert mtu_paths.reassembled(fleet.node(2)) - before > 100

        found, out = mtu_checks(fleet, tmp_path / "fault")
        assert found["node1"]["mtu.overlay"]["status"] == "pass" and found["node2"]["mtu.overlay"]["status"] == "pass", out
        found, out = mtu_checks(fleet, tmp_path / "probe-fault", "podnet.doctor.probe")
        assert found["node2"]["mtu.path"]["status"] == "fail", out
        assert "from node1 (192.168.94.11) the largest DF datagram that arrived is 1400 bytes, 1500 needed" in \
            found["node2"]["mtu.path"]["observed"]
        # the small link is in both directions: node2's frames enter the bridge through it too
        assert "from node2 (192.168.94.12) the largest DF datagram that arrived is 1400 bytes, 1500 needed" in \
            found["node1"]["mtu.path"]["observed"]

        for index in (1, 2):  # what the fail says: overlay MTU + 50 within the 1400 that arrived
            mtu_paths.set_overlay_mtu(fleet, index, OVERLAY_FITS)
        before = mtu_paths.reassembled(fleet.node(2))
        assert mtu_paths.bulk_transfer(fleet, 1, 2) == (True, 1 << 20)
        assert mtu_paths.reassembled(fleet.node(2)) == before  # whole packets now
        found, out = mtu_checks(fleet, tmp_path / "probe-fixed", "podnet.doctor.probe")
        for host in ("node1", "node2"):
            assert found[host]["mtu.path"]["status"] == "pass", out
            assert "is 1400 bytes, 1400 needed" in found[host]["mtu.path"]["observed"]
    finally:
        mtu_paths.set_link_between_mtu(fleet.node(2), 1500)
