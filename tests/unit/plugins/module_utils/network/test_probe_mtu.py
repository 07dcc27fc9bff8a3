"""mtu.path: the sizes sent and how, what the observer records of them, and the receiver's verdict."""
import errno
import os
import socket

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.network import probe, probe_mtu, probe_observer

from .probe_packets import ipv4, udp
from .test_probe_observer import observe

RUN, SPORT, OWN = "p1a2b3c4", 47123, "192.168.77.12"
VXLAN, BGP, IPIP, HEALTH = ("udp", 17, 8472), ("tcp", 6, 179), ("ipip", 4, None), ("tcp", 6, 4240)
PEER = "192.168.77.11"


def test_sizes_start_at_the_needed_one_and_go_down():
    assert probe_mtu.sizes_to_send(1500) == [1500, 1480, 1460, 1450, 1420, 1400, 1380, 1350, 1300, 1280, 1200, 1000, 576]
    assert probe_mtu.sizes_to_send(1410)[:3] == [1410, 1400, 1380]
    assert probe_mtu.sizes_to_send(9000)[:4] == [9000, 8950, 8500, 8000]


def test_a_jumbo_fleet_behind_a_smaller_path_is_not_reported_as_1500():
    """Review 2: a 9001 fleet (AWS) behind an ~8500 path reported 1500 (the ladder jumped 8950 -> 1500). One send round
    cannot search, so the ladder is dense enough: every 500 bytes between 9000 and 2000."""
    sizes = probe_mtu.sizes_to_send(9001)
    assert sizes[:5] == [9001, 9000, 8950, 8500, 8000] and len(sizes) == 30
    arrived = max(size for size in sizes if size <= 8550)  # what a path carrying 8550 lets through
    assert arrived == 8500
    steps = [s for s in sizes if s >= 1500]
    assert max(a - b for a, b in zip(steps, steps[1:])) <= 500
    assert len(probe_mtu.sizes_to_send(1500)) == 13  # a 1500 fleet sends what it sent before


@pytest.mark.parametrize("ports,entry", [
    ([VXLAN], VXLAN), ([HEALTH, VXLAN], VXLAN), ([BGP, IPIP], IPIP), ([BGP], None), ([], None)])
def test_size_port_is_the_overlays_datagram_path(ports, entry):
    assert probe_mtu.size_port(ports) == entry


def facts(uplink_mtu=1500, devices=(), configured=(), overhead=50):
    return {"uplink": {"interface": "eth0", "mtu": uplink_mtu}, "overhead": overhead,
            "devices": [{"name": n, "mtu": m} for n, m in devices], "configured": [{"source": s, "mtu": m} for s, m in configured]}


def test_needed_size_is_the_largest_overlay_mtu_plus_overhead_or_the_uplink():
    # the device bounds what is encapsulated; the configuration counts until the device exists
    size, why = probe_mtu.needed_size(facts(1400, [("flannel.1", 1350)], [("/run/flannel/subnet.env line 3", 1450)]))
    assert size == 1400 and why == "overlay MTU 1350 (device flannel.1) + 50"
    size, why = probe_mtu.needed_size(facts(1400, [], [("/run/flannel/subnet.env line 3", 1450)]))
    assert size == 1500 and why == "overlay MTU 1450 (/run/flannel/subnet.env line 3) + 50"
    assert probe_mtu.needed_size(facts(1500))[0] == 1500
    assert probe_mtu.needed_size(facts(9000))[0] == 9000
    assert probe_mtu.needed_size({"uplink": None}) == (None, "it found no uplink (no interface holds its probe address)")


def test_an_overlay_bound_to_another_link_is_not_sized_on_the_probed_one():
    """flannel --iface=eth1 (9000): its packets do not take eth0, which the probe leaves by; 9000 there would be a
    wrong fail (EMSGSIZE on eth0 at 1500)."""
    bound = facts(1500, [("flannel.1", 8950)])
    bound["devices"][0].update(underlay="eth1", underlay_mtu=9000, underlay_source="dev eth1")
    size, why = probe_mtu.needed_size(bound)
    assert size is None and why.startswith("its overlay runs over eth1 (dev eth1 of flannel.1), not eth0") and \
        "not measured" in why


class Wire:
    """A fake socket factory logging each call; ``too_big`` is the local link's MTU (EMSGSIZE above it)."""

    def __init__(self, too_big=10000, fail=None):
        self.log, self.too_big, self.fail = [], too_big, fail

    def socket(self, family, kind, number=0):
        assert family == socket.AF_INET
        return FakeSocket(self, {socket.SOCK_DGRAM: "udp", socket.SOCK_RAW: "raw%d" % number}[kind])

    def sleep(self, seconds):
        pass


class FakeSocket:
    def __init__(self, wire, name):
        self.wire, self.name = wire, name

    def setsockopt(self, level, option, value):
        if level == socket.IPPROTO_IP:
            assert (option, value) == (probe_mtu.IP_MTU_DISCOVER, probe_mtu.IP_PMTUDISC_PROBE)
            self.wire.log.append("%s df-probe" % self.name)

    def bind(self, address):
        self.wire.log.append("%s bind %s:%d" % ((self.name,) + address))

    def sendto(self, data, address):
        headers = 28 if self.name == "udp" else 20
        if self.wire.fail:
            raise OSError(self.wire.fail, os.strerror(self.wire.fail))
        if len(data) + headers > self.wire.too_big:
            raise OSError(errno.EMSGSIZE, os.strerror(errno.EMSGSIZE))
        self.wire.log.append("%s send %d to %s:%d" % ((self.name, len(data) + headers) + address))

    def close(self):
        self.wire.log.append("%s close" % self.name)


def test_udp_size_probes_are_df_from_the_run_port_padded_to_the_size():
    wire = Wire()
    sent = probe_mtu.send_size_probes(VXLAN, RUN, SPORT, OWN, ["192.168.77.13"], 1450, wire.socket, wire.sleep)
    assert [s["size"] for s in sent] == probe_mtu.sizes_to_send(1450) and all(s["sent"] for s in sent)
    assert wire.log[:5] == ["udp df-probe", "udp bind 192.168.77.12:47123", "udp send 1450 to 192.168.77.13:8472",
                            "udp send 1450 to 192.168.77.13:8472", "udp close"]


def test_a_size_over_the_own_link_is_refused_here_and_the_ladder_goes_on():
    wire = Wire(too_big=1400)
    sent = probe_mtu.send_size_probes(IPIP, RUN, SPORT, OWN, ["192.168.77.13"], 1500, wire.socket, wire.sleep)
    assert [(s["size"], s["sent"]) for s in sent][:7] == [
        (1500, False), (1480, False), (1460, False), (1450, False), (1420, False), (1400, True), (1380, True)]
    assert "raw4 send 1400 to 192.168.77.13:0" in wire.log


def test_other_send_errors_are_raised():
    wire = Wire(fail=errno.EPERM)
    with pytest.raises(OSError):
        probe_mtu.send_size_probes(VXLAN, RUN, SPORT, OWN, ["192.168.77.13"], 1500, wire.socket, wire.sleep)
    assert wire.log[-1] == "udp close"


def size_packet(size, needed, run=RUN, src=PEER):
    return ipv4(17, src, udp(SPORT, 8472, probe_mtu.size_payload(run, size, needed, 28)))


def test_observed_size_is_the_length_that_arrived():
    assert len(size_packet(1400, 1500)) == 1400
    assert probe_mtu.observed_size(size_packet(1400, 1500), RUN) == (1400, 1500)
    assert probe_mtu.observed_size(ipv4(17, PEER, udp(SPORT, 8472, probe.payload(RUN))), RUN) is None
    assert probe_mtu.observed_size(size_packet(1400, 1500, run="pOTHERRUN"), RUN) is None


def test_the_observer_records_each_size_once_next_to_the_plain_probe(tmp_path, sigterm, raw_socket):
    observed, wire = raw_socket
    for packet in (ipv4(17, PEER, udp(SPORT, 8472, probe.payload(RUN))), size_packet(1400, 1500), size_packet(1400, 1500),
                   size_packet(576, 1500), size_packet(1350, 1500, run="pOTHERRUN")):
        wire.send(bytes(packet))
    state = observe(tmp_path, [observed])
    assert state["received"] == [{"from": PEER, "proto": "udp", "port": 8472},
                                 {"from": PEER, "proto": "udp", "port": 8472, "size": 1400, "needed": 1500},
                                 {"from": PEER, "proto": "udp", "port": 8472, "size": 576, "needed": 1500}]
    assert probe_observer  # the loop under test


def received(sender, needed, *sizes):
    return [{"from": sender, "proto": "udp", "port": 8472, "size": s, "needed": needed} for s in sizes]


def test_verdict_names_each_sender_the_largest_size_and_the_need():
    names = {PEER: "node1", "192.168.77.13": "node3"}
    got = received(PEER, 1500, 1400, 1380, 576) + received("192.168.77.13", 1400, 1400, 576)
    check = probe_mtu.mtu_path_check(got, [PEER, "192.168.77.13"], VXLAN, names)
    assert check["status"] == "fail"
    assert check["observed"] == ("from node1 (192.168.77.11) the largest DF datagram that arrived is 1400 bytes, 1500 "
                                 "needed; from node3 (192.168.77.13) the largest DF datagram that arrived is 1400 bytes, "
                                 "1400 needed (8472/udp)")
    check = probe_mtu.mtu_path_check(received(PEER, 1400, 1400, 576), [PEER], VXLAN, names)
    assert check["status"] == "pass" and "1400 bytes, 1400 needed" in check["observed"]


def test_verdict_without_any_size_is_error_and_without_datagram_path_skip():
    check = probe_mtu.mtu_path_check([{"from": PEER, "proto": "udp", "port": 8472}], [PEER], VXLAN)
    assert check["status"] == "error" and "from 192.168.77.11 the plain probe arrived but no DF datagram" in check["observed"]
    assert probe_mtu.mtu_path_check([], [PEER], None)["status"] == "skip"
    assert probe_mtu.mtu_path_check([], [], VXLAN)["status"] == "skip"


def test_a_blocked_port_is_overlay_probes_failure_not_a_second_verdict():
    names = {PEER: "node1", "192.168.77.13": "node3"}
    check = probe_mtu.mtu_path_check([], [PEER], VXLAN, names)
    assert check["status"] == "skip"
    assert check["observed"] == ("nothing arrived from node1 (192.168.77.11) on 8472/udp (overlay.probe fails): its path "
                                 "MTU is measured once the port passes")
    check = probe_mtu.mtu_path_check(received("192.168.77.13", 1500, 1500), [PEER, "192.168.77.13"], VXLAN, names)
    assert check["status"] == "pass" and "nothing arrived from node1" in check["observed"]
    check = probe_mtu.mtu_path_check(received("192.168.77.13", 1500, 1400), [PEER, "192.168.77.13"], VXLAN, names)
    assert check["status"] == "fail" and "1400 bytes, 1500 needed" in check["observed"]


def test_sizes_on_another_port_do_not_count():
    got = [{"from": PEER, "proto": "ipip", "port": None, "size": 1500, "needed": 1500}]
    assert probe_mtu.mtu_path_check(got, [PEER], VXLAN)["status"] == "skip"
    assert probe_mtu.mtu_path_check(got, [PEER], IPIP)["status"] == "pass"


def test_a_sender_without_a_size_says_why_on_the_overlay_port():
    wire = Wire()
    sent = probe_mtu.send_no_size(VXLAN, RUN, SPORT, OWN, ["192.168.77.13"], "it found no uplink", wire.socket, wire.sleep)
    assert sent == [{"to": "192.168.77.13", "size": None, "sent": False, "why": "it found no uplink"}]
    assert "udp df-probe" not in wire.log and "udp bind 192.168.77.12:47123" in wire.log
    assert sum(1 for line in wire.log if line.startswith("udp send")) == probe_mtu.SIZE_COPIES
    packet = ipv4(17, PEER, udp(SPORT, 8472, probe.payload(RUN) + b" nosize it found no uplink"))
    assert probe_mtu.observed_no_size(packet, RUN) == "it found no uplink"
    assert probe_mtu.observed_size(packet, RUN) is None
    assert probe_mtu.observed_no_size(size_packet(1400, 1500), RUN) is None


def test_the_observer_records_the_reason_once(tmp_path, sigterm, raw_socket):
    observed, wire = raw_socket
    why = ipv4(17, PEER, udp(SPORT, 8472, probe.payload(RUN) + b" nosize it found no uplink"))
    for packet in (ipv4(17, PEER, udp(SPORT, 8472, probe.payload(RUN))), why, why):
        wire.send(bytes(packet))
    state = observe(tmp_path, [observed])
    assert state["received"] == [{"from": PEER, "proto": "udp", "port": 8472},
                                 {"from": PEER, "proto": "udp", "port": 8472, "no_size": "it found no uplink"}]


def test_verdict_says_what_the_sender_did_instead_of_not_even_576_bytes():
    """Review 2: a sender that found no uplink sent nothing, and the receiver said 'not even 576 bytes' arrived."""
    plain = {"from": PEER, "proto": "udp", "port": 8472}
    check = probe_mtu.mtu_path_check([plain, dict(plain, no_size="it found no uplink (no interface holds its probe "
                                                  "address)")], [PEER], VXLAN, {PEER: "node1"})
    assert check["status"] == "error"
    assert check["observed"] == ("from node1 (192.168.77.11) no size probe was sent: it found no uplink (no interface "
                                 "holds its probe address)")
    elsewhere = "its overlay runs over eth1 (dev eth1 of flannel.1), not eth0, which the probe leaves by: that path " \
                "is not measured"
    check = probe_mtu.mtu_path_check([plain, dict(plain, no_size=elsewhere)], [PEER], VXLAN, {PEER: "node1"})
    assert check["status"] == "skip" and check["observed"] == "from node1 (192.168.77.11) no size probe: " + elsewhere
    check = probe_mtu.mtu_path_check([plain], [PEER], VXLAN, {PEER: "node1"})
    assert check["status"] == "error" and "no word why: its send step failed or sent none" in check["observed"]
