"""The probe's observer: the loop over raw sockets, the detached process, the listen step."""
import errno
import os
import signal
import socket
import time

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import ProbeSocketError, ProbeStateError
from ansible_collections.podnet.doctor.plugins.module_utils.network import probe
from ansible_collections.podnet.doctor.plugins.module_utils.network import probe_observer

from .probe_packets import ipv4, tcp, udp

RUN, SPORT = "p1a2b3c4", 47123
PORTS = [("udp", 17, 8472), ("tcp", 6, 179), ("ipip", 4, None)]
PEER = "192.168.77.11"


class FlakySocket:
    """A socket whose first recv fails, as a raw socket's can (ENOBUFS); select sees the real one."""

    def __init__(self, sock):
        self.sock, self.failures = sock, 1

    def fileno(self):
        return self.sock.fileno()

    def recv(self, size):
        if self.failures:
            self.failures -= 1
            raise OSError(errno.ENOBUFS, os.strerror(errno.ENOBUFS))
        return self.sock.recv(size)


def observe(tmp_path, sockets, seconds=0.3):
    path = probe.state_path(str(tmp_path), RUN)
    os.makedirs(os.path.dirname(path))
    probe_observer.observe(sockets, path, RUN, SPORT, PORTS, time.time() + seconds, "/")
    return probe.read_state(path)


def test_the_observer_records_each_probe_of_this_run_once(tmp_path, sigterm, raw_socket):
    observed, wire = raw_socket
    for packet in (ipv4(17, PEER, udp(SPORT, 8472, probe.payload(RUN))),
                   ipv4(17, PEER, udp(SPORT, 8472, probe.payload(RUN))),  # the same probe's second copy
                   ipv4(17, PEER, udp(SPORT, 8472, probe.payload("pOTHERRUN"))),
                   ipv4(17, "192.168.77.13", udp(51234, 8472, b"\x08\x00\x00\x00\x00\x00\x01\x00")),  # real VXLAN
                   ipv4(6, PEER, tcp(SPORT, 179, 0x02)),
                   ipv4(6, PEER, tcp(SPORT, 179, 0x02)),  # the kernel's SYN resend
                   ipv4(4, "192.168.77.13", probe.payload(RUN))):
        wire.send(bytes(packet))
    state = observe(tmp_path, [observed])
    assert state["received"] == [{"from": PEER, "proto": "udp", "port": 8472},
                                 {"from": PEER, "proto": "tcp", "port": 179},
                                 {"from": "192.168.77.13", "proto": "ipip", "port": None}]
    # (pid, start time) names the observer for collect's stop_observer
    assert state["pid"] == os.getpid() and state["start_time"] == probe.process_start_time(os.getpid())
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None)


def test_the_observer_reads_every_socket_and_survives_a_failed_read(tmp_path, sigterm, raw_socket):
    observed, wire = raw_socket
    tcp_observed, tcp_wire = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        wire.send(bytes(ipv4(17, PEER, udp(SPORT, 8472, probe.payload(RUN)))))
        tcp_wire.send(bytes(ipv4(6, PEER, tcp(SPORT, 179, 0x02))))
        state = observe(tmp_path, [FlakySocket(observed), tcp_observed])
    finally:
        tcp_observed.close()
        tcp_wire.close()
    assert sorted((r["proto"], r["port"]) for r in state["received"]) == [("tcp", 179), ("udp", 8472)]


def test_the_observer_writes_its_state_first_even_past_its_deadline(tmp_path, sigterm, raw_socket):
    # the listen step waits for this file: an observer that saw nothing still leaves it
    state = observe(tmp_path, [raw_socket[0]], seconds=-1)
    assert state["received"] == [] and state["pid"] == os.getpid()


class Exited(Exception):
    """os._exit in the fake: ends the (pretend) process."""


class FakeSystem:
    """The os calls daemonize makes; ``forks`` are what each fork returns in turn."""
    devnull, O_RDWR = os.devnull, os.O_RDWR

    def __init__(self, *forks):
        self.forks, self.calls, self.closed = list(forks), [], []

    def fork(self):
        self.calls.append("fork")
        return self.forks.pop(0)

    def waitpid(self, pid, options):
        self.calls.append("waitpid %d" % pid)
        return pid, 0

    def setsid(self):
        self.calls.append("setsid")

    def _exit(self, code):
        self.calls.append("_exit %d" % code)
        raise Exited(code)

    def open(self, path, flags):
        self.calls.append("open %s" % path)
        return 99

    def dup2(self, fd, fd2):
        self.calls.append("dup2 %d %d" % (fd, fd2))

    def close(self, fd):
        self.closed.append(fd)
        if fd == 9:
            raise OSError(errno.EBADF, "not open")


def test_the_module_process_waits_for_the_first_child_and_returns():
    system, ran = FakeSystem(4242), []
    assert probe_observer.daemonize(lambda: ran.append(1), {5}, system) is None
    assert system.calls == ["fork", "waitpid 4242"] and ran == [] and system.closed == []


def test_the_first_child_starts_a_session_forks_and_exits_at_once():
    system, ran = FakeSystem(0, 4343), []
    with pytest.raises(Exited):
        probe_observer.daemonize(lambda: ran.append(1), {5}, system)
    assert system.calls == ["fork", "setsid", "fork", "_exit 0"] and ran == []


def test_the_observer_process_keeps_only_its_sockets_and_never_returns():
    system, ran = FakeSystem(0, 0), []
    with pytest.raises(Exited):
        probe_observer.daemonize(lambda: ran.append(list(system.closed)), {5, 6}, system)
    assert system.calls == ["fork", "setsid", "fork", "open %s" % os.devnull,
                            "dup2 99 0", "dup2 99 1", "dup2 99 2", "_exit 0"]
    # every inherited descriptor closed (9 was not open) before the observer runs: nothing holds the SSH channel
    assert ran == [[fd for fd in range(3, 1024) if fd not in (5, 6)]]


def test_the_observer_process_exits_even_when_the_observer_raises():
    system = FakeSystem(0, 0)

    def broken():
        raise ValueError("boom")

    with pytest.raises(Exited):
        probe_observer.daemonize(broken, set(), system)
    assert system.calls[-1] == "_exit 0"


class FakeRawSocket:
    def __init__(self, opened, family, kind, number):
        assert (family, kind) == (socket.AF_INET, socket.SOCK_RAW)
        self.number, self.closed = number, False
        opened.append(self)

    def fileno(self):
        return 100 + self.number

    def close(self):
        self.closed = True


def test_listen_opens_one_raw_socket_per_protocol_and_returns_once_the_observer_runs(tmp_path, sigterm):
    opened, detached = [], []

    def detach_here(child, keep_fds):  # run the observer in this process; duration 0 ends its loop at once
        detached.append(keep_fds)
        child()

    ports = PORTS + [("udp", 17, 4789)]
    path = probe_observer.start_observer(str(tmp_path), RUN, SPORT, ports, 0,
                                         open_socket=lambda *args: FakeRawSocket(opened, *args), detach=detach_here)
    assert path == probe.state_path(str(tmp_path), RUN) and probe.read_state(path)["pid"] == os.getpid()
    assert [s.number for s in opened] == [4, 6, 17]
    assert detached == [{104, 106, 117}]
    assert all(s.closed for s in opened)  # the module's copies; the observer keeps its own


def test_listen_without_root_says_to_become_and_starts_nothing(tmp_path):
    opened, detached = [], []

    def open_socket(family, kind, number):
        if number == 6:
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
        return FakeRawSocket(opened, family, kind, number)

    with pytest.raises(ProbeSocketError) as caught:
        probe_observer.start_observer(str(tmp_path), RUN, SPORT, PORTS, 60, open_socket=open_socket,
                                      detach=lambda child, keep_fds: detached.append(keep_fds))
    assert str(caught.value) == ("cannot open a raw socket to observe the probes: Operation not permitted; "
                                 "the probe needs root: add 'become: true'")
    assert detached == [] and [s.closed for s in opened] == [True]


def test_listen_fails_naming_the_state_file_when_the_observer_does_not_start(tmp_path):
    waits = []
    with pytest.raises(ProbeStateError) as caught:
        probe_observer.start_observer(str(tmp_path), RUN, SPORT, PORTS, 60,
                                      open_socket=lambda *args: FakeRawSocket([], *args),
                                      detach=lambda child, keep_fds: None, sleep=waits.append)
    assert str(caught.value) == "the probe observer did not start (no %s)" % probe.state_path(str(tmp_path), RUN)
    assert len(waits) == 50 and sum(waits) == pytest.approx(1.0)
