# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""overlay.probe: send real packets on each overlay port between node pairs and see which arrive.

The receiving side observes with raw sockets, one per IP protocol. Linux hands a raw socket a
copy of a packet in local delivery, after the INPUT hook: a probe the host firewall drops is
never seen, one it accepts is seen whether or not something listens on the port (the kernel's
VXLAN socket on 8472, a BGP daemon on 179). So nothing is ever bound to the CNI's ports, and a
CNI starting during the probe cannot find its port taken.

A probe is recognised by its source port (UDP and TCP, chosen per run) and, where it carries
one, a payload naming the run: ``podnet.doctor probe <run id>``. TCP probes are SYNs: the SYN
reaching local delivery is the proof, whatever answers it.

Who probes whom: the hosts in inventory order form a ring; each probes the next ``k`` and is
probed by the previous ``k`` (``k = 0``: everyone), so a fleet costs N x k probes, not N^2.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import socket
import struct
import time

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import ProbeStateError
from ansible_collections.podnet.doctor.plugins.module_utils.network.protocols import protocol_number

PAYLOAD_PREFIX = b"podnet.doctor probe "
PORT_PROBES = ("tcp", "udp")  # probed on their port; any other protocol as a bare IP datagram
TCP_SYN, TCP_ACK = 0x02, 0x10
STATE_DIR = "run/podnet-doctor"


def probe_partners(peers, own, width):
    """(targets, expected senders) of ``own`` among ``peers`` (ordered, duplicates ignored)."""
    ring = []
    for peer in peers:
        if peer not in ring:
            ring.append(peer)
    if own not in ring or len(ring) < 2:
        return [], []
    count = len(ring) - 1 if not width or width >= len(ring) else width
    here = ring.index(own)
    targets = [ring[(here + step) % len(ring)] for step in range(1, count + 1)]
    senders = [ring[(here - step) % len(ring)] for step in range(1, count + 1)]
    return targets, senders


def own_address(addresses, peers):
    """This node's address among ``peers`` (the play's node addresses), from ``ip -j addr``."""
    mine = set()
    for link in addresses:
        for info in link.get("addr_info", []):
            if info.get("local"):
                mine.add(info["local"])
    for peer in peers:
        if peer in mine:
            return peer
    return None


def probe_ports(ports):
    """[(protocol name, number, port or None)] from the catalog's (proto, port, desc)."""
    plan = []
    for proto, port, _desc in ports:
        plan.append((proto, protocol_number(proto), int(port) if proto in PORT_PROBES else None))
    return plan


def payload(run_id):
    return PAYLOAD_PREFIX + run_id.encode("ascii")


def parse_observation(packet, run_id, sport, ports):
    """(source address, proto name, port or None) when ``packet`` (IPv4, from a raw socket) is
    one of this run's probes to one of ``ports``; else None."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    number = packet[9]
    source = socket.inet_ntoa(packet[12:16])
    body = packet[ihl:]
    for proto, wanted, port in ports:
        if number != wanted:
            continue
        if proto == "udp" and len(body) >= 8:
            src_port, dst_port = struct.unpack("!HH", body[:4])
            if src_port == sport and dst_port == port and body[8:].startswith(payload(run_id)):
                return source, proto, port
        elif proto == "tcp" and len(body) >= 14:
            src_port, dst_port = struct.unpack("!HH", body[:4])
            flags = body[13]
            if src_port == sport and dst_port == port and flags & TCP_SYN and not flags & TCP_ACK:
                return source, proto, port
        elif port is None and body.startswith(payload(run_id)):
            return source, proto, None
    return None


def state_path(root, run_id):
    return os.path.join(root, STATE_DIR, "probe-%s.json" % run_id)


def write_state(path, state):
    """Atomically, so collect never reads half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(state, handle)
    os.rename(tmp, path)


def _is_state(state):
    return (isinstance(state, dict) and isinstance(state.get("pid"), int) and not isinstance(state["pid"], bool)
            and isinstance(state.get("received"), list)
            and all(isinstance(r, dict) and {"from", "proto", "port"} <= set(r) for r in state["received"]))


def read_state(path):
    """The observer's state (``pid``, ``start_time``, ``received``) from ``path``."""
    try:
        with open(path) as handle:
            text = handle.read()
    except (IOError, OSError) as exc:
        raise ProbeStateError("no observer state %s (%s): run the listen step first, on every node, before send"
                              % (path, exc.strerror or exc))
    redo = "; delete it and run the probe again"
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise ProbeStateError("the observer state %s is not valid JSON (%s)%s" % (path, exc, redo))
    if not _is_state(state):
        raise ProbeStateError("%s is not an observer state (expected {\"pid\": <int>, \"received\": [{\"from\", "
                              "\"proto\", \"port\"}, ...]}, found %.80s)%s" % (path, text.strip(), redo))
    return state


def process_start_time(pid, root="/"):
    """When process ``pid`` started (clock ticks after boot, /proc/<pid>/stat field 22), or
    None when there is no such process. With the PID it names one process for good: a PID
    is reused, a (PID, start time) pair is not."""
    try:
        with open(os.path.join(root, "proc", str(pid), "stat")) as handle:
            stat = handle.read()
        # the command name (field 2) is in parentheses and may hold spaces and ')'
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (IOError, OSError, ValueError, IndexError):
        return None


def stop_observer(state, root="/", kill=os.kill):
    """SIGTERM the observer of ``state`` if its PID still is that observer (same start time);
    returns whether it was signalled. One that ended by itself, or a state that does not
    say when the observer started, is left alone: the PID may belong to another process."""
    started = state.get("start_time")
    if started is None or process_start_time(state["pid"], root) != started:
        return False
    try:
        kill(state["pid"], signal.SIGTERM)
    except OSError:
        return False  # it ended between the check and the signal
    return True


def collect_run(root, run_id, ports, senders, names=None, sleep=time.sleep, kill=os.kill):
    """The collect step: stop this run's observer, remove its state file and judge what arrived
    from ``senders``. Returns (received, the overlay.probe check); raises ``ProbeStateError``
    naming the state file when it is missing or broken."""
    path = state_path(root, run_id)
    sleep(0.2)  # probes still in flight on a busy network
    state = read_state(path)
    stop_observer(state, root, kill)
    os.unlink(path)
    return state["received"], probe_check(state["received"], senders, ports, names)


def port_label(proto, port):
    return "%s/%s" % (port, proto) if port else "IP protocol %s" % proto


def probe_check(received, senders, ports, names=None, note=None):
    """The overlay.probe result for a receiver: every sender's probe on every port arrived?"""
    names = names or {}
    seen = set((r["from"], r["proto"], r.get("port")) for r in received)
    missing, arrived, lost_total = [], 0, 0
    for proto, _number, port in ports:
        lost = [s for s in senders if (s, proto, port) not in seen]
        arrived += len(senders) - len(lost)
        lost_total += len(lost)
        if lost:
            missing.append("%s from %s" % (port_label(proto, port), ", ".join(
                "%s (%s)" % (names.get(s, s), s) if names.get(s) else s for s in lost)))
    expected = "every probe from the node network arrives"
    if not senders:
        alone = "no peer probes this host (one node, or its address is not among the play's node addresses)"
        result = check_result("overlay.probe", "skip", note or alone, expected)
    elif missing:
        result = check_result("overlay.probe", "fail", "nothing arrived: %s; %d of %d probes arrived" % (
            "; ".join(missing), arrived, arrived + lost_total), expected,
            "find what drops them: overlay.inbound names this host's rule; if it passes, the drop is on "
            "the path or at the sender (a cloud security group or NACL, a switch ACL, the sender's "
            "OUTPUT chain): allow %s between the node networks" % ", ".join(port_label(p, n) for p, _x, n in ports))
    else:
        result = check_result("overlay.probe", "pass", "%d probe(s) arrived: %s from %d peer(s)" % (
            arrived, ", ".join(port_label(p, n) for p, _x, n in ports), len(senders)), expected)
    bare = [port_label(p, n) for p, _x, n in ports if n is None]
    if bare and senders:
        # Probes without ports (IPIP, GRE) cross both ways, and conntrack keys such flows by the
        # address pair alone: a peer's probe can be the "reply" to this node's own and pass a
        # stateful firewall that drops a first packet. Arrival is proof for replies only.
        result["observed"] += ("; %s: arrival does not prove a first packet passes (conntrack tracks IP "
                               "protocols by address pair, so it can be admitted as a reply to this node's "
                               "own probe); overlay.inbound judges first packets" % ", ".join(bare))
    return result
