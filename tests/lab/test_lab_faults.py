"""Every fault primitive produces its real symptom, and removing it restores service.

Assertions are on observed traffic (ping's loss count, bytes a TCP client received)
and on /proc values read from the node, never on our scripts' return codes.
"""
import pytest

from podnet_lab import faults, fleet as lab_fleet, probes


@pytest.mark.parametrize("backend", faults.FIREWALL_BACKENDS)
def test_firewall_block_of_udp_8472_gives_full_overlay_loss(fleet, backend):
    assert probes.overlay_ping(fleet, 1, 2).loss == 0
    faults.block_overlay(fleet.node(2), backend)
    try:
        blocked = probes.overlay_ping(fleet, 1, 2)
        assert blocked.loss == 100, blocked.output
        # the node network itself still works: only the overlay is dropped
        assert probes.node_ping(fleet, 1, 2).loss == 0
    finally:
        faults.unblock_overlay(fleet.node(2), backend)
    assert probes.overlay_ping(fleet, 1, 2).loss == 0


def test_bridge_nf_call_off_breaks_clusterip_on_same_bridge(fleet):
    node = fleet.node(1)
    assert probes.clusterip(fleet, 1).ok
    faults.set_sysctl_runtime(node, "net.bridge.bridge-nf-call-iptables", "0")
    try:
        broken = probes.clusterip(fleet, 1)
        assert not broken.ok
        assert "timed out" in broken.output.lower() or "no answer" in broken.output
    finally:
        faults.set_sysctl_runtime(node, "net.bridge.bridge-nf-call-iptables", "1")
    assert probes.sysctl_value(node, "net.bridge.bridge-nf-call-iptables") == "1"
    assert probes.clusterip(fleet, 1).ok


def test_ip_forward_off_breaks_routed_pod_traffic(fleet):
    node = fleet.node(1)
    assert probes.routed_ping(fleet, 1, 2).loss == 0
    faults.set_sysctl_runtime(node, "net.ipv4.ip_forward", "0")
    try:
        assert probes.routed_ping(fleet, 1, 2).loss == 100
        assert not probes.clusterip(fleet, 1).ok
    finally:
        faults.set_sysctl_runtime(node, "net.ipv4.ip_forward", "1")
    assert probes.routed_ping(fleet, 1, 2).loss == 0


def test_hardening_file_wins_after_reboot(fleet):
    node = fleet.node(2)
    faults.forget_podnet_doctor(node)  # our own drop-in would rightly outrank the fault
    assert probes.sysctl_value(node, "net.ipv4.ip_forward") == "1"
    faults.drop_hardening_file(node, {"net.ipv4.ip_forward": "0"})
    try:
        assert probes.sysctl_value(node, "net.ipv4.ip_forward") == "1"  # not applied yet
        lab_fleet.reboot(node)
        assert probes.sysctl_value(node, "net.ipv4.ip_forward") == "0"
        assert probes.overlay_ping(fleet, 1, 2).loss == 100
    finally:
        faults.remove_file(node, faults.HARDENING_FILE)
        lab_fleet.reboot(node)
    # a fresh lab node inherits 1 from the host namespace (see the design's quirks)
    assert probes.sysctl_value(node, "net.ipv4.ip_forward") == "1"
    assert probes.overlay_ping(fleet, 1, 2).loss == 0


def test_node_subnet_inside_pod_cidr_gives_no_route_to_host(fleet):
    node = fleet.node(1)
    assert probes.pod_connect(fleet, 1, 2).ok
    faults.attach_overlapping_subnet(fleet, node, "10.244.2.0/24")
    try:
        lab_fleet.reboot(node)  # the VLAN was there before the CNI, as on a real node
        broken = probes.pod_connect(fleet, 1, 2)
        assert not broken.ok
        assert "No route to host" in broken.output
    finally:
        faults.detach_overlapping_subnet(fleet, node)
        lab_fleet.reboot(node)
    assert probes.pod_connect(fleet, 1, 2).ok
