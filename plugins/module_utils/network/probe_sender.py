# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""overlay.probe's sending side: one probe per target and overlay port, from this node's address.

UDP and raw IP-protocol probes carry the run's payload and go out three times (a lost datagram
is not a dropped port); TCP probes are SYNs from the run's source port, left connecting for a
moment so the kernel resends the SYN once. ``probe_observer`` recognises all three.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket
import time

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import ProbeSocketError
from ansible_collections.podnet.doctor.plugins.module_utils.network import probe

DATAGRAM_COPIES = 3
DATAGRAM_GAP = 0.03
SYN_LINGER = 1.2


def _send_syn(own, sport, target, port, open_socket):
    """Start a TCP connection from the run's source port; returns its socket, still connecting."""
    sock = open_socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((own, sport))
        sock.setblocking(False)
        code = sock.connect_ex((target, port))
        if code not in (0, errno.EINPROGRESS):
            raise OSError(code, os.strerror(code))
    except (IOError, OSError):
        sock.close()
        raise
    return sock


def _send_datagrams(sock, source, destination, data, sleep, reuse_address=False):
    """Send ``data`` from ``source`` to ``destination`` DATAGRAM_COPIES times, then close ``sock``."""
    try:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(source)
        for _copy in range(DATAGRAM_COPIES):
            sock.sendto(data, destination)
            sleep(DATAGRAM_GAP)
    finally:
        sock.close()


def send_probes(ports, run_id, sport, own, targets, open_socket=socket.socket, sleep=time.sleep):
    """Send this run's probe on each of ``ports`` ([(proto, number, port)]) from ``own`` to each
    of ``targets``; returns [{to, proto, port}] in the order sent. Raises ``ProbeSocketError``
    (its ``sent`` lists what went out before) when a probe cannot be sent."""
    sent, lingering = [], []
    data = probe.payload(run_id)
    try:
        for target in targets:
            for proto, number, port in ports:
                try:
                    if proto == "tcp":  # left open, the kernel resends the SYN once
                        lingering.append(_send_syn(own, sport, target, port, open_socket))
                    elif proto == "udp":
                        _send_datagrams(open_socket(socket.AF_INET, socket.SOCK_DGRAM), (own, sport), (target, port), data, sleep,
                                        reuse_address=True)
                    else:
                        _send_datagrams(open_socket(socket.AF_INET, socket.SOCK_RAW, number), (own, 0), (target, 0), data, sleep)
                except (IOError, OSError) as exc:
                    raise ProbeSocketError("cannot send the %s probe to %s: %s (the probe needs root: 'become: true')"
                                           % (probe.port_label(proto, port), target, exc.strerror or exc), sent=sent)
                sent.append({"to": target, "proto": proto, "port": port})
        if lingering:
            sleep(SYN_LINGER)
    finally:
        for sock in lingering:
            sock.close()
    return sent
