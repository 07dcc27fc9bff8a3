"""overlay.probe logic: who probes whom, which packets are this run's probes, the verdict."""
import os
import signal

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import ProbeStateError
from ansible_collections.podnet.doctor.plugins.module_utils.network import probe

from .probe_packets import ipv4, tcp, udp

NODES = ["192.168.77.11", "192.168.77.12", "192.168.77.13", "192.168.77.14", "192.168.77.15"]
RUN, SPORT = "p1a2b3c4", 47123
VXLAN = [("udp", 17, 8472)]


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


def state_file(tmp_path, text):
    path = probe.state_path(str(tmp_path), RUN)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    return path


@pytest.mark.parametrize("text,why", [
    ('{"pid": 4242, "received": [', "not valid JSON"),  # a full disk cut the write short
    ("", "not valid JSON"),
    ("[]", "not an observer state"),
    ('{"received": []}', "not an observer state"),
    ('{"pid": "4242", "received": []}', "not an observer state"),
    ('{"pid": 4242, "received": [{"from": "192.168.77.11"}]}', "not an observer state"),
])
def test_a_broken_state_file_is_an_error_naming_the_file(tmp_path, text, why):
    path = state_file(tmp_path, text)
    with pytest.raises(ProbeStateError) as caught:
        probe.read_state(path)
    assert path in str(caught.value) and why in str(caught.value)
    assert "delete it and run the probe again" in str(caught.value)


def test_a_missing_state_file_says_to_run_listen_first(tmp_path):
    with pytest.raises(ProbeStateError) as caught:
        probe.read_state(probe.state_path(str(tmp_path), RUN))
    assert "run the listen step first" in str(caught.value)


def test_a_good_state_file_is_read(tmp_path):
    path = state_file(tmp_path, '{"pid": 4242, "start_time": 777, "received": '
                                '[{"from": "192.168.77.11", "proto": "udp", "port": 8472}]}')
    assert probe.read_state(path)["received"][0]["port"] == 8472


def fake_process(tmp_path, pid, start_time, comm="python3"):
    path = os.path.join(str(tmp_path), "proc", str(pid), "stat")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:  # as the kernel writes it: the start time is field 22
        handle.write("%d (%s) S 1 %d %d 0 -1 4194368 %s %d 0 0 0\n" % (
            pid, comm, pid, pid, " ".join(["0"] * 12), start_time))


def test_start_time_is_read_after_a_command_name_with_spaces_and_parentheses(tmp_path):
    fake_process(tmp_path, 4242, 98765, comm="py (x) y")
    assert probe.process_start_time(4242, str(tmp_path)) == 98765
    assert probe.process_start_time(4243, str(tmp_path)) is None


@pytest.mark.parametrize("running,stored,signalled", [
    (98765, 98765, True),     # still the observer
    (11111, 98765, False),    # the observer ended and its PID now belongs to another process
    (None, 98765, False),     # ended, PID free
    (98765, None, False),     # a state without its start time: the identity cannot be checked
])
def test_the_observer_is_signalled_only_while_its_pid_is_still_the_observer(tmp_path, running, stored, signalled):
    if running is not None:
        fake_process(tmp_path, 4242, running)
    state = {"pid": 4242, "received": []}
    if stored is not None:
        state["start_time"] = stored
    sent = []
    assert probe.stop_observer(state, str(tmp_path), kill=lambda pid, sig: sent.append((pid, sig))) is signalled
    assert sent == ([(4242, signal.SIGTERM)] if signalled else [])


def test_start_time_of_a_real_process_is_field_22_of_its_stat():
    with open("/proc/self/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    assert probe.process_start_time(os.getpid()) == int(fields[19])


def test_collect_stops_the_observer_removes_its_state_and_judges_what_arrived(tmp_path):
    fake_process(tmp_path, 4242, 98765)
    path = state_file(tmp_path, '{"pid": 4242, "start_time": 98765, "received": '
                                '[{"from": "192.168.77.11", "proto": "udp", "port": 8472}]}')
    sent, waits = [], []
    received, check = probe.collect_run(str(tmp_path), RUN, VXLAN, ["192.168.77.11"], {"192.168.77.11": "node1"},
                                        sleep=waits.append, kill=lambda pid, sig: sent.append((pid, sig)))
    assert received == [{"from": "192.168.77.11", "proto": "udp", "port": 8472}]
    assert check["id"] == "overlay.probe" and check["status"] == "pass"
    assert sent == [(4242, signal.SIGTERM)] and waits == [0.2]  # probes still in flight get their moment
    assert not os.path.exists(path)


def test_collect_names_the_lost_sender_by_inventory_name(tmp_path):
    state_file(tmp_path, '{"pid": 4242, "start_time": 98765, "received": []}')
    received, check = probe.collect_run(str(tmp_path), RUN, VXLAN, ["192.168.77.11"], {"192.168.77.11": "node1"},
                                        sleep=lambda seconds: None, kill=lambda pid, sig: None)
    assert received == [] and check["status"] == "fail"
    assert "8472/udp from node1 (192.168.77.11)" in check["observed"]


def test_collect_without_a_state_file_fails_and_signals_nothing(tmp_path):
    sent = []
    with pytest.raises(ProbeStateError) as caught:
        probe.collect_run(str(tmp_path), RUN, VXLAN, ["192.168.77.11"], sleep=lambda seconds: None,
                          kill=lambda pid, sig: sent.append((pid, sig)))
    assert "run the listen step first" in str(caught.value) and sent == []
