"""overlay.inbound / overlay.forward verdicts agree with real traffic, per backend."""
import pytest

from conftest import node_info
from podnet_lab import faults, probes


@pytest.mark.parametrize("backend,named", [
    ("firewalld", "firewalld zone public"),
    ("nftables", "policy drop of inet podnet_lab_filter input"),
    ("iptables-legacy", "iptables-legacy: -A INPUT -p udp -m udp --dport 8472 -j DROP"),
    ("iptables-nft", "iptables-nft: -A INPUT -p udp -m udp --dport 8472 -j DROP"),
    ("ufw", "iptables-nft: policy DROP of INPUT"),
])
def test_blocked_overlay_fails_inbound_naming_the_rule(fleet, backend, named):
    faults.block_overlay(fleet.node(2), backend)
    try:
        assert probes.overlay_ping(fleet, 1, 2).loss == 100  # the real symptom...
        checks = node_info(fleet.inventory_path, "node2")
        assert checks["overlay.inbound"]["status"] == "fail"  # ...and the verdict agrees
        assert "8472/udp from 192.168.78.0/24" in checks["overlay.inbound"]["observed"]
        assert named in checks["overlay.inbound"]["observed"]
    finally:
        faults.unblock_overlay(fleet.node(2), backend)
    assert probes.overlay_ping(fleet, 1, 2).loss == 0
    assert node_info(fleet.inventory_path, "node2")["overlay.inbound"]["status"] == "pass"


def test_ufw_routed_deny_breaks_pod_tcp_and_fails_forward(fleet):
    node = fleet.node(2)
    faults.block_overlay(node, "ufw")
    try:
        faults.node_exec(node, ["ufw", "allow", "from", str(fleet.subnet), "to", "any", "port", "8472",
                                "proto", "udp"])
        checks = node_info(fleet.inventory_path, "node2")
        assert checks["overlay.inbound"]["status"] == "pass"
        assert checks["overlay.forward"]["status"] == "fail"
        assert "policy DROP of FORWARD" in checks["overlay.forward"]["observed"]
        # real traffic: forwarded TCP to the pod is dropped (ufw's before-rules let ICMP through)
        assert not probes.pod_connect(fleet, 1, 2).ok
        faults.node_exec(node, ["ufw", "default", "allow", "routed"])
        assert node_info(fleet.inventory_path, "node2")["overlay.forward"]["status"] == "pass"
        assert probes.pod_connect(fleet, 1, 2).ok
    finally:
        faults.unblock_overlay(node, "ufw")
