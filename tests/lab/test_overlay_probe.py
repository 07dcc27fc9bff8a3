"""The active overlay probe agrees with real traffic: it sees exactly what the receiver's
firewall lets in, whether the port is busy (the kernel's VXLAN socket) or free, and it
catches a drop that no ruleset on the receiving node shows (here the sender's OUTPUT chain,
standing in for a cloud security group). It leaves no observer or raw socket behind."""
import json
import re

from conftest import ansible_playbook, node_info
from podnet_lab import faults, pods, probes
from podnet_lab.podman import node_exec

SENDER_DROP = """table inet podnet_lab_sg {
    chain output {
        type filter hook output priority filter;
        udp dport 8472 drop
    }
}
"""


def probe(fleet, *extra):
    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.probe", *extra)
    verdicts = dict((host, line) for host, line in re.findall(r"^\s+(node\d)\s+(\S+\s+.*)$", out, re.M))
    return rc, out, verdicts


def leftovers(node):
    raw = node_exec(node, ["ss", "-w", "-a", "-n", "-H"]).stdout.strip()
    state = node_exec(node, ["sh", "-c", "ls /run/podnet-doctor/ 2>/dev/null | grep probe- || true"]).stdout.strip()
    return raw, state


def test_probe_on_a_busy_vxlan_port_sees_what_the_firewall_admits(fleet):
    pods.ensure(fleet)  # flannel.1 owns UDP 8472 on both nodes: no probe can bind it
    assert ":8472" in node_exec(fleet.node(2), ["ss", "-u", "-l", "-n", "-H"]).stdout
    rc, out, verdicts = probe(fleet)
    assert rc == 0, out
    assert "overlay.probe" not in out or "FAIL" not in out, out

    faults.block_overlay(fleet.node(2), "nftables")
    try:
        assert probes.overlay_ping(fleet, 1, 2).loss == 100
        rc, out, verdicts = probe(fleet)
        assert rc != 0
        assert "node2 FAIL [overlay.probe]: nothing arrived: 8472/udp from node1 (192.168.78.11)" in out, out
        assert verdicts["node1"].startswith("ok"), out  # node1's firewall admits node2's probes
    finally:
        faults.unblock_overlay(fleet.node(2), "nftables")
    assert leftovers(fleet.node(1)) == ("", "") and leftovers(fleet.node(2)) == ("", "")


def test_probe_catches_a_drop_no_receiver_ruleset_shows(fleet, tmp_path):
    pods.ensure(fleet)
    node_exec(fleet.node(1), ["nft", "-f", "-"], input=SENDER_DROP)
    try:
        assert probes.overlay_ping(fleet, 1, 2).loss == 100
        # node2's own firewall admits VXLAN: the ruleset check cannot see this drop...
        assert node_info(fleet.inventory_path, "node2")["overlay.inbound"]["status"] == "pass"
        # ...the probe does, on the receiving side
        rc, out, _verdicts = probe(fleet, "-e", "podnet_report_dir=%s" % tmp_path)
        assert rc != 0
        assert "node2 FAIL [overlay.probe]: nothing arrived: 8472/udp from node1" in out, out
        assert "security group" in out
        # the probe is an entry point like the others: its reports name the failing host
        with open(str(tmp_path / "summary.json")) as handle:
            assert json.load(handle)["hosts"]["node2"]["status"] == "fail", out
    finally:
        node_exec(fleet.node(1), ["nft", "delete", "table", "inet", "podnet_lab_sg"], check=False)
    rc, out, _verdicts = probe(fleet)
    assert rc == 0, out


def test_probe_on_free_ports_tcp_and_ip_protocol(fleet):
    """Calico IPIP: BGP TCP 179 (nothing listens: the SYN's arrival is the proof) and IP
    protocol 4, whose arrival a stateful firewall may owe to conntrack (said so, not hidden)."""
    calico = ("-e", "podnet_cni=calico", "-e", "podnet_cni_mode=ipip")
    rc, out, _verdicts = probe(fleet, *calico)
    assert rc == 0, out
    faults.block_overlay(fleet.node(2), "nftables")
    try:
        rc, out, _verdicts = probe(fleet, *calico)
        assert rc != 0
        assert "node2 FAIL [overlay.probe]: nothing arrived: 179/tcp from node1 (192.168.78.11)" in out, out
        assert "IP protocol ipip: arrival does not prove a first packet passes" in out, out
        # the ruleset check judges the first packet: IPIP is dropped as new
        inbound = node_info(fleet.inventory_path, "node2", cni="calico", cni_mode="ipip")["overlay.inbound"]
        assert inbound["status"] == "fail" and "ipip" in inbound["observed"], inbound
    finally:
        faults.unblock_overlay(fleet.node(2), "nftables")
    assert leftovers(fleet.node(2)) == ("", "")
