"""The probe's sender: what goes out on which socket, and what a failure says."""
import errno
import os
import socket

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import ProbeSocketError
from ansible_collections.podnet.doctor.plugins.module_utils.network import probe
from ansible_collections.podnet.doctor.plugins.module_utils.network.probe_sender import send_probes

RUN, SPORT, OWN = "p1a2b3c4", 47123, "192.168.77.12"
TARGETS = ["192.168.77.13", "192.168.77.14"]
VXLAN, BGP, IPIP = ("udp", 17, 8472), ("tcp", 6, 179), ("ipip", 4, None)


class Wire:
    """Every socket call of one send, in order, in ``log``; ``fail`` maps a call to the errno it raises."""

    def __init__(self, fail=None, connect=errno.EINPROGRESS):
        self.log, self.fail, self.connect, self.sockets = [], fail or {}, connect, []

    def socket(self, family, kind, number=0):
        assert family == socket.AF_INET
        name = {socket.SOCK_DGRAM: "udp", socket.SOCK_STREAM: "tcp", socket.SOCK_RAW: "raw%d" % number}[kind]
        self.call("open " + name)
        sock = FakeSocket(self, name)
        self.sockets.append(sock)
        return sock

    def sleep(self, seconds):
        self.log.append("sleep %s" % seconds)

    def call(self, entry):
        self.log.append(entry)
        for prefix, code in self.fail.items():
            if entry.startswith(prefix):
                raise OSError(code, os.strerror(code))


class FakeSocket:
    def __init__(self, wire, name):
        self.wire, self.name, self.closed = wire, name, False

    def setsockopt(self, level, option, value):
        assert (level, option, value) == (socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.wire.call("%s reuseaddr" % self.name)

    def bind(self, address):
        self.wire.call("%s bind %s:%d" % ((self.name,) + address))

    def setblocking(self, flag):
        self.wire.call("%s blocking %s" % (self.name, flag))

    def connect_ex(self, address):
        self.wire.call("%s connect %s:%d" % ((self.name,) + address))
        return self.wire.connect

    def sendto(self, data, address):
        assert data == probe.payload(RUN)
        self.wire.call("%s sendto %s:%d" % ((self.name,) + address))

    def close(self):
        self.closed = True
        self.wire.log.append("%s close" % self.name)


def send(wire, ports, targets=("192.168.77.13",)):
    return send_probes(ports, RUN, SPORT, OWN, targets, open_socket=wire.socket, sleep=wire.sleep)


def test_a_udp_probe_goes_out_three_times_from_the_run_source_port():
    wire = Wire()
    assert send(wire, [VXLAN]) == [{"to": "192.168.77.13", "proto": "udp", "port": 8472}]
    assert wire.log == ["open udp", "udp reuseaddr", "udp bind 192.168.77.12:47123"] + \
        ["udp sendto 192.168.77.13:8472", "sleep 0.03"] * 3 + ["udp close"]


def test_an_ip_protocol_probe_goes_out_three_times_on_a_raw_socket():
    wire = Wire()
    assert send(wire, [IPIP]) == [{"to": "192.168.77.13", "proto": "ipip", "port": None}]
    assert wire.log == ["open raw4", "raw4 bind 192.168.77.12:0"] + \
        ["raw4 sendto 192.168.77.13:0", "sleep 0.03"] * 3 + ["raw4 close"]


def test_a_tcp_probe_is_a_syn_left_connecting_until_every_probe_is_out():
    wire = Wire()
    assert send(wire, [BGP, VXLAN]) == [{"to": "192.168.77.13", "proto": "tcp", "port": 179},
                                        {"to": "192.168.77.13", "proto": "udp", "port": 8472}]
    assert wire.log[:5] == ["open tcp", "tcp reuseaddr", "tcp bind 192.168.77.12:47123", "tcp blocking False",
                            "tcp connect 192.168.77.13:179"]
    assert wire.log[-3:] == ["udp close", "sleep 1.2", "tcp close"]  # the kernel resends the SYN meanwhile


def test_every_target_gets_every_port_in_order():
    wire = Wire()
    sent = send(wire, [VXLAN, BGP, IPIP], TARGETS)
    assert [(s["to"], s["proto"]) for s in sent] == [(t, p) for t in TARGETS for p in ("udp", "tcp", "ipip")]
    assert all(s.closed for s in wire.sockets)


def test_no_target_sends_nothing():
    wire = Wire()
    assert send(wire, [VXLAN, BGP], []) == [] and wire.log == []


NEEDS_ROOT = " (the probe needs root: 'become: true')"


@pytest.mark.parametrize("fail,ports,message", [
    ({"open raw4": errno.EPERM}, [VXLAN, IPIP],
     "cannot send the IP protocol ipip probe to 192.168.77.13: Operation not permitted" + NEEDS_ROOT),
    ({"udp bind": errno.EADDRNOTAVAIL}, [BGP, VXLAN],
     "cannot send the 8472/udp probe to 192.168.77.13: Cannot assign requested address" + NEEDS_ROOT),
    ({"raw4 sendto": errno.EPERM}, [VXLAN, IPIP],
     "cannot send the IP protocol ipip probe to 192.168.77.13: Operation not permitted" + NEEDS_ROOT),
])
def test_a_probe_that_cannot_go_out_fails_naming_it_and_what_was_sent(fail, ports, message):
    wire = Wire(fail)
    with pytest.raises(ProbeSocketError) as caught:
        send(wire, ports)
    assert str(caught.value) == message
    assert caught.value.sent == [{"to": "192.168.77.13", "proto": ports[0][0], "port": ports[0][2]}]
    assert all(s.closed for s in wire.sockets) and "sleep 1.2" not in wire.log


def test_an_unreachable_target_is_a_failure_too():
    wire = Wire(connect=errno.ENETUNREACH)
    with pytest.raises(ProbeSocketError) as caught:
        send(wire, [BGP])
    assert "179/tcp probe to 192.168.77.13: Network is unreachable" in str(caught.value)
    assert caught.value.sent == [] and wire.sockets[0].closed
