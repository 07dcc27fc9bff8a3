# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mtu.path: don't-fragment datagrams between node pairs at the size the overlay needs, and below.

The size a node's overlay needs on the path is its overlay MTU plus the encapsulation's overhead
(the largest MTU of its overlay devices, else of its CNI configuration, from :mod:`mtu`), or its
uplink's MTU when nothing is configured yet (what the CNIs derive theirs from). The sender sends that size
and the smaller steps of :data:`SIZE_STEPS` below it with ``IP_MTU_DISCOVER = IP_PMTUDISC_PROBE``:
the DF bit set and the route's cached path MTU ignored, so a learned smaller PMTU cannot make the
kernel refuse the size, and a router on the path that cannot forward it drops it (a switch or a
smaller link drops it silently). A size over the sender's own link is refused locally (EMSGSIZE):
that too is a size the overlay cannot use.

The datagrams go to the overlay's own UDP port (or as its bare IP protocol, IPIP), so they take the
overlay's path and ACLs; each carries ``podnet.doctor probe <run> size <S> of <N>``, which the
observer (raw sockets, like overlay.probe) records with the length that arrived. The receiver's
check names each sender, the largest size that arrived, and the size it needed.

A sender that cannot size its probes (no uplink found; an overlay bound to another link than the one the
probe leaves by) sends instead ``podnet.doctor probe <run> nosize <why>`` on the same port, so the
receiver says what happened rather than "not even 576 bytes arrived".
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import re
import socket
import time

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result
from ansible_collections.podnet.doctor.plugins.module_utils.network import cni_catalog, mtu, probe

CHECK_ID = "mtu.path"
# linux/in.h; the socket module lacks the PROBE constant
IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
IP_PMTUDISC_PROBE = 3
IPV4_HEADER, UDP_HEADER = 20, 8
# the sizes below the needed one, to find the largest that arrives in ONE send round (the receiver answers
# nothing, so no binary search): jumbo 9000 and 8950 (its VXLAN overlay), then every 500 bytes down to 2000, so
# a jumbo path is understated by less than 500 bytes (a 9001 fleet behind an 8500 path reports 8500, not 1500);
# below 1500 the common overlay and tunnel MTUs, IPv6's minimum link MTU (1280) and IPv4's minimum datagram (576).
# Only sizes below the needed one are sent: a 1500 fleet sends the same 13 as before, a 9001 one 29.
JUMBO_STEPS = (9000, 8950) + tuple(range(8500, 1999, -500))
SIZE_STEPS = JUMBO_STEPS + (1500, 1480, 1460, 1450, 1420, 1400, 1380, 1350, 1300, 1280, 1200, 1000, 576)
SIZE_COPIES = 2
SIZE_GAP = 0.005
SIZE_MARK = re.compile(br" size (\d+) of (\d+) ")
NO_SIZE_MARK = re.compile(br" nosize ([ -~]{1,300})")


def needed_size(mtu_facts):
    """(bytes the overlay's encapsulated packets need on the path, where that comes from)."""
    uplink = mtu_facts.get("uplink") or {}
    overhead = mtu_facts.get("overhead")
    elsewhere = mtu.overlay_underlay(mtu_facts) if uplink else None
    if elsewhere:
        return None, ("its overlay runs over %s (%s of %s), not %s, which the probe leaves by: that path is not measured"
                      % (elsewhere["interface"], elsewhere["source"], elsewhere["device"], uplink["interface"]))
    # an existing device bounds what is encapsulated (a pod link set larger gets ICMP "fragmentation needed"
    # from the node itself); before the device exists, the configured MTU is what it will get
    mtus = [(d["mtu"], "device %s" % d["name"]) for d in mtu_facts.get("devices", []) if d.get("mtu")]
    mtus = mtus or [(c["mtu"], c["source"]) for c in mtu_facts.get("configured", [])]
    if mtus and overhead is not None:
        largest, source = max(mtus)
        return largest + overhead, "overlay MTU %d (%s) + %d" % (largest, source, overhead)
    if uplink.get("mtu"):
        return uplink["mtu"], "uplink %s MTU (no overlay MTU configured yet)" % uplink["interface"]
    return None, "it found no uplink (no interface holds its probe address)"


def sizes_to_send(needed):
    return [needed] + [size for size in SIZE_STEPS if size < needed]


def size_port(ports):
    """The (proto, number, port) the size probes use: the overlay's first UDP port, else its bare IP
    protocol (IPIP, GRE); None when the overlay has neither (BGP: pods' packets are not encapsulated;
    Antrea's STT is TCP). A control-plane port (cni_catalog.CONTROL_PORTS) carries no pod packets."""
    data_path = [entry for entry in ports if (entry[0], entry[2]) not in cni_catalog.CONTROL_PORTS]
    for entry in data_path:
        if entry[0] == "udp":
            return entry
    for entry in data_path:
        if entry[2] is None and entry[0] not in ("tcp", "icmp"):
            return entry
    return None


def size_payload(run_id, size, needed, headers):
    """The datagram's payload, padded so the IP packet is ``size`` bytes."""
    text = probe.payload(run_id) + b" size %d of %d " % (size, needed)
    return text + b"." * max(0, size - headers - len(text))


def observed_size(packet, run_id):
    """(bytes that arrived, bytes needed) when ``packet`` (IPv4, a probe of this run) is a size probe."""
    found = SIZE_MARK.search(bytes(packet[:200]))
    if not found or probe.payload(run_id) not in bytes(packet[:200]):
        return None
    return len(packet), int(found.group(2))


def _send_datagrams(entry, own, sport, target, payloads, open_socket, sleep, df=True):
    """Send ``payloads`` ([(bytes, copies)]) to ``target`` on the overlay's port from one socket; True, or False when
    the kernel refuses the size here (EMSGSIZE: larger than this node's own link)."""
    proto, number, port = entry
    if proto == "udp":
        sock = open_socket(socket.AF_INET, socket.SOCK_DGRAM)
        source, destination = (own, sport), (target, port)
    else:
        sock = open_socket(socket.AF_INET, socket.SOCK_RAW, number)
        source, destination = (own, 0), (target, 0)
    try:
        if proto == "udp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if df:
            sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
        sock.bind(source)
        for data in payloads:
            sock.sendto(data, destination)
            sleep(SIZE_GAP)
    except (IOError, OSError) as exc:
        if exc.errno != errno.EMSGSIZE:
            raise
        return False
    finally:
        sock.close()
    return True


def send_size_probes(entry, run_id, sport, own, targets, needed, open_socket=socket.socket, sleep=time.sleep):
    """Send the size ladder to each target; [{to, size, sent}] (``sent`` False: refused here, EMSGSIZE)."""
    headers = IPV4_HEADER + (UDP_HEADER if entry[0] == "udp" else 0)
    results = []
    for target in targets:
        for size in sizes_to_send(needed):
            sent = _send_datagrams(entry, own, sport, target, [size_payload(run_id, size, needed, headers)] * SIZE_COPIES,
                                   open_socket, sleep)
            results.append({"to": target, "size": size, "sent": sent})
    return results


def send_no_size(entry, run_id, sport, own, targets, why, open_socket=socket.socket, sleep=time.sleep):
    """Tell each target why no size probe comes (a small datagram, no DF, on the same port); [{to, size: None, why}]."""
    text = probe.payload(run_id) + b" nosize " + why.encode("ascii", "replace")[:300]
    for target in targets:
        _send_datagrams(entry, own, sport, target, [text] * SIZE_COPIES, open_socket, sleep, df=False)
    return [{"to": target, "size": None, "sent": False, "why": why} for target in targets]


def observed_no_size(packet, run_id):
    """Why the sender sent no size probe, when ``packet`` is its ``nosize`` datagram of this run; else None."""
    head = bytes(packet[:600])
    found = NO_SIZE_MARK.search(head)
    if not found or probe.payload(run_id) not in head:
        return None
    return found.group(1).decode("ascii")


def mtu_path_check(received, senders, entry, names=None, note=None):
    """mtu.path for a receiver: from every sender, did the size its overlay needs arrive?"""
    names = names or {}
    expected = "DF datagrams of the size each peer's overlay needs arrive"
    if entry is None:
        return check_result(CHECK_ID, "skip", "the overlay has no UDP port or IP protocol to probe (its packets are "
                            "not encapsulated: the node network's MTU is the pods' MTU)", expected)
    if not senders:
        return check_result(CHECK_ID, "skip", note or "no peer probes this host", expected)
    failing, errors, passing, blocked, unmeasured = [], [], [], [], []
    for sender in senders:
        label = "%s (%s)" % (names[sender], sender) if names.get(sender) else sender
        from_sender = [r for r in received if r.get("from") == sender and r.get("proto") == entry[0] and r.get("port") == entry[2]]
        sizes = [r for r in from_sender if r.get("size")]
        why = [r["no_size"] for r in from_sender if r.get("no_size")]
        if not from_sender:
            # the port itself is blocked: overlay.probe fails for it; no size can be measured behind it
            blocked.append(label)
        elif not sizes and why and "not measured" in why[0]:
            unmeasured.append("from %s no size probe: %s" % (label, why[0]))
        elif not sizes and why:
            errors.append("from %s no size probe was sent: %s" % (label, why[0]))
        elif not sizes:
            errors.append("from %s the plain probe arrived but no DF datagram, not even %d bytes, and no word why: its "
                          "send step failed or sent none (see its sent_sizes and needed), or the path drops DF "
                          "datagrams: the path MTU cannot be told" % (label, SIZE_STEPS[-1]))
        else:
            needed = max(r["needed"] for r in sizes)
            largest = max(r["size"] for r in sizes)
            text = "from %s the largest DF datagram that arrived is %d bytes, %d needed" % (label, largest, needed)
            (failing if largest < needed else passing).append(text)
    port = probe.port_label(entry[0], entry[2])
    if unmeasured and not (failing or errors or passing or blocked):
        return check_result(CHECK_ID, "skip", "; ".join(unmeasured), expected)
    passing.extend(unmeasured)
    if blocked:
        note = "nothing arrived from %s on %s (overlay.probe fails): its path MTU is measured once the port passes" % (
            ", ".join(blocked), port)
        if not (failing or errors or passing):
            return check_result(CHECK_ID, "skip", note, expected)
        if failing or passing:
            passing.append(note)
        else:
            errors.append(note)
    if failing:
        return check_result(CHECK_ID, "fail", "; ".join(failing + errors + passing) + " (%s)" % port, expected,
                            "a link or router on the path carries less than the overlay needs (encapsulated packets "
                            "without DF are fragmented there - slow, and lost where fragments are dropped - or dropped "
                            "outright): lower the overlay MTU so "
                            "overlay MTU + overhead fits the largest size that arrived (mtu.overlay names the CNI "
                            "setting), or raise the path's MTU")
    if errors:
        return check_result(CHECK_ID, "error", "; ".join(errors + passing), expected)
    return check_result(CHECK_ID, "pass", "; ".join(passing) + " (%s)" % port, expected)


def sender_needed_size(addresses, root, cni, mode, own):
    """The sender's side: (needed bytes, why) from its own overlay facts (:func:`mtu.gather_mtu`)."""
    facts = mtu.gather_mtu(addresses, root, cni, mode, ["%s/32" % own] if own else [])
    return needed_size(facts)
