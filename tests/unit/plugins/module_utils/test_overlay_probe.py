"""overlay.probe logic: who probes whom, which packets are this run's probes, the verdict."""
import socket
import struct

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils import overlay_probe as probe

NODES = ["192.168.77.11", "192.168.77.12", "192.168.77.13", "192.168.77.14", "192.168.77.15"]
RUN, SPORT = "p1a2b3c4", 47123
VXLAN = [("udp", 17, 8472)]


def ipv4(proto, src, body, dst="192.168.77.12"):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return bytearray(header + body)


def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def tcp(sport, dport, flags):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 64240, 0, 0)


@pytest.mark.parametrize("width,targets,senders", [
    (1, ["192.168.77.13"], ["192.168.77.11"]),
    (2, ["192.168.77.13", "192.168.77.14"], ["192.168.77.11", "192.168.77.15"]),
    (0, ["192.168.77.13", "192.168.77.14", "192.168.77.15", "192.168.77.11"],
        ["192.168.77.11", "192.168.77.15", "192.168.77.14", "192.168.77.13"]),
    (9, ["192.168.77.13", "192.168.77.14", "192.168.77.15", "192.168.77.11"],
        ["192.168.77.11", "192.168.77.15", "192.168.77.14", "192.168.77.13"]),
])
def test_ring_partners(width, targets, senders):
    assert probe.probe_partners(NODES, "192.168.77.12", width) == (targets, senders)


def test_every_probe_sent_is_expected_by_its_receiver():
    for width in (1, 2, 3, 0):
        sent = set((node, t) for node in NODES for t in probe.probe_partners(NODES, node, width)[0])
        expected = set((s, node) for node in NODES for s in probe.probe_partners(NODES, node, width)[1])
        assert sent == expected


def test_a_node_outside_the_play_or_alone_has_no_partners():
    assert probe.probe_partners(NODES, "10.0.0.1", 3) == ([], [])
    assert probe.probe_partners(["192.168.77.11"], "192.168.77.11", 3) == ([], [])


def test_udp_probe_of_this_run_is_recognised():
    packet = ipv4(17, "192.168.77.11", udp(SPORT, 8472, probe.payload(RUN)))
    assert probe.parse_observation(packet, RUN, SPORT, VXLAN) == ("192.168.77.11", "udp", 8472)


@pytest.mark.parametrize("packet", [
    ipv4(17, "192.168.77.11", udp(SPORT, 8472, probe.payload("pOTHERRUN"))),  # another run
    ipv4(17, "192.168.77.11", udp(51234, 8472, probe.payload(RUN))),  # real VXLAN port spread
    ipv4(17, "192.168.77.11", udp(SPORT, 4789, probe.payload(RUN))),  # not a port we watch
    ipv4(17, "192.168.77.11", udp(SPORT, 8472, b"\x08\x00\x00\x00\x00\x00\x01\x00")),  # real VXLAN
    bytearray(b"\x60" + b"\x00" * 60),  # IPv6
    bytearray(b"\x45\x00"),  # truncated
])
def test_other_udp_is_not_a_probe(packet):
    assert probe.parse_observation(packet, RUN, SPORT, VXLAN) is None


def test_tcp_probe_is_a_syn_from_the_run_source_port():
    bgp = [("tcp", 6, 179)]
    assert probe.parse_observation(ipv4(6, "192.168.77.11", tcp(SPORT, 179, 0x02)), RUN, SPORT, bgp) == \
        ("192.168.77.11", "tcp", 179)
    assert probe.parse_observation(ipv4(6, "192.168.77.11", tcp(SPORT, 179, 0x12)), RUN, SPORT, bgp) is None
    assert probe.parse_observation(ipv4(6, "192.168.77.11", tcp(179, 179, 0x02)), RUN, SPORT, bgp) is None


def test_ipip_probe_carries_the_run_id():
    ipip = probe.probe_ports([("ipip", None, "Calico IPIP")])
    assert ipip == [("ipip", 4, None)]
    assert probe.parse_observation(ipv4(4, "192.168.77.11", probe.payload(RUN)), RUN, SPORT, ipip) == \
        ("192.168.77.11", "ipip", None)
    inner = ipv4(6, "10.244.1.2", tcp(1, 2, 0x02))  # real IPIP traffic: an inner IPv4 packet
    assert probe.parse_observation(ipv4(4, "192.168.77.11", bytes(inner)), RUN, SPORT, ipip) is None


def test_check_names_each_lost_port_and_sender():
    ports = probe.probe_ports([("udp", 8472, "VXLAN"), ("tcp", 179, "BGP")])
    received = [{"from": "192.168.77.11", "proto": "udp", "port": 8472},
                {"from": "192.168.77.11", "proto": "tcp", "port": 179},
                {"from": "192.168.77.15", "proto": "tcp", "port": 179}]
    check = probe.probe_check(received, ["192.168.77.11", "192.168.77.15"], ports,
                              {"192.168.77.15": "node5"})
    assert check["status"] == "fail"
    assert check["observed"] == "nothing arrived: 8472/udp from node5 (192.168.77.15); 3 of 4 probes arrived"
    assert "security group" in check["fix"]


def test_check_passes_and_skips():
    ports = probe.probe_ports([("udp", 8472, "VXLAN")])
    ok = probe.probe_check([{"from": "192.168.77.11", "proto": "udp", "port": 8472}], ["192.168.77.11"], ports)
    assert ok["status"] == "pass" and ok["observed"].startswith("1 probe(s) arrived")
    assert probe.probe_check([], [], ports)["status"] == "skip"


def test_an_arrived_ip_protocol_probe_is_not_called_proof_of_first_packets():
    ports = probe.probe_ports([("tcp", 179, "BGP"), ("ipip", None, "IPIP")])
    received = [{"from": "192.168.77.11", "proto": "tcp", "port": 179},
                {"from": "192.168.77.11", "proto": "ipip", "port": None}]
    check = probe.probe_check(received, ["192.168.77.11"], ports)
    assert check["status"] == "pass"
    assert "IP protocol ipip: arrival does not prove a first packet passes" in check["observed"]
    lost = probe.probe_check(received[:1], ["192.168.77.11"], ports)
    assert lost["status"] == "fail" and "IP protocol ipip from 192.168.77.11" in lost["observed"]
