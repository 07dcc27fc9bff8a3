# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""overlay.probe's receiving side: raw sockets read by a detached observer process.

``start_observer`` (the listen step) opens one raw socket per IP protocol, hands them to a
process detached from Ansible's session and returns once that process has written its state
file; the module returns while the observer keeps recording this run's probes until its
deadline, or until the collect step signals it (``probe.stop_observer``).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import select
import signal
import socket
import time

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import ProbeSocketError, ProbeStateError
from ansible_collections.podnet.doctor.plugins.module_utils.network import probe, probe_mtu


def observe(sockets, state_file, run_id, sport, ports, deadline, root):
    """The observer's loop (in the detached process): record each probe of this run."""
    # the start time makes (pid, start_time) name this process only: collect checks it before signalling
    state = {"pid": os.getpid(), "start_time": probe.process_start_time(os.getpid(), root), "received": []}
    probe.write_state(state_file, state)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    seen = set()
    while time.time() < deadline:
        ready = select.select(sockets, [], [], max(0.0, min(1.0, deadline - time.time())))[0]
        for sock in ready:
            try:
                packet = sock.recv(65535)
            except (IOError, OSError):
                continue
            found = probe.parse_observation(bytearray(packet), run_id, sport, ports)
            # mtu.path's DF datagrams are probes too, one record per size that arrived
            size = probe_mtu.observed_size(bytearray(packet), run_id) if found else None
            # a sender that sends no size says why (nosize)
            no_size = probe_mtu.observed_no_size(bytearray(packet), run_id) if found and not size else None
            if found and found + (size, no_size) not in seen:
                seen.add(found + (size, no_size))
                record = {"from": found[0], "proto": found[1], "port": found[2]}
                if size:
                    record.update(size=size[0], needed=size[1])
                if no_size:
                    record.update(no_size=no_size)
                state["received"].append(record)
                probe.write_state(state_file, state)


def daemonize(child, keep_fds, system=os):
    """Run ``child()`` in a process detached from Ansible's session: double fork, new session,
    stdio on /dev/null and every other inherited descriptor but ``keep_fds`` closed, so nothing
    holds the SSH channel open after the module returns. Returns in the calling process only;
    ``system`` is the ``os`` module (a fake in tests)."""
    pid = system.fork()
    if pid:
        system.waitpid(pid, 0)
        return
    system.setsid()
    if system.fork():
        system._exit(0)
    null = system.open(system.devnull, system.O_RDWR)
    for fd in (0, 1, 2):
        system.dup2(null, fd)
    for fd in range(3, 1024):
        if fd not in keep_fds:
            try:
                system.close(fd)
            except OSError:
                pass
    try:
        child()
    finally:
        system._exit(0)


def start_observer(root, run_id, sport, ports, duration, open_socket=socket.socket, detach=daemonize, sleep=time.sleep):
    """The listen step: observe ``ports`` ([(proto, number, port)]) for ``duration`` seconds in a
    detached process; returns its state file once the observer has written it. Raises
    ``ProbeSocketError`` when a raw socket cannot be opened (not root), ``ProbeStateError``
    when the observer does not start."""
    state_file = probe.state_path(root, run_id)
    if not os.path.isdir(os.path.dirname(state_file)):
        os.makedirs(os.path.dirname(state_file), 0o755)
    sockets = []
    try:
        for number in sorted(set(p[1] for p in ports)):
            sockets.append(open_socket(socket.AF_INET, socket.SOCK_RAW, number))
    except (IOError, OSError) as exc:
        for sock in sockets:
            sock.close()
        raise ProbeSocketError("cannot open a raw socket to observe the probes: %s; the probe needs root: add "
                               "'become: true'" % (exc.strerror or exc))
    deadline = time.time() + duration
    detach(lambda: observe(sockets, state_file, run_id, sport, ports, deadline, root),
           set(sock.fileno() for sock in sockets))
    for sock in sockets:
        sock.close()
    for _attempt in range(50):  # the observer writes its state first thing
        if os.path.exists(state_file):
            return state_file
        sleep(0.02)
    raise ProbeStateError("the probe observer did not start (no %s)" % state_file)
