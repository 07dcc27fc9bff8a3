# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Would the host firewall accept this packet? Three rule languages, one packet.

The kernel runs every base chain registered on a hook, nf_tables and legacy x_tables
alike, in priority order; ``accept`` ends only the chain it is in, ``drop``/``reject``
end the packet. So a packet is accepted only when every base chain on the hook lets it
through. Each evaluator walks the rules in order (jumps, gotos, returns, policy) for
one :class:`Packet`. A match is three-valued: a rule whose outcome depends on
something not modelled raises :class:`Unevaluable` with the rule text (unless another
of its matches is definitely false): a verdict is never guessed.

Addresses are matched as networks: a rule ``saddr 10.0.0.0/8`` matches the node
network 10.1.0.0/24 (every peer); a rule that covers only part of the node network is
unevaluable, because it accepts some peers and not others.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import ipaddress

from ansible.module_utils.six import text_type

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.network.protocols import protocol_number


TERMINAL = ("accept", "drop", "reject")


class Packet(object):
    """A new flow arriving on a node (``hook='input'``) or routed through it. ``dport_last``: the end of the
    port range a fixer opens with this packet's match (the evaluators judge ``dport`` alone)."""

    def __init__(self, proto, dport=None, src="0.0.0.0/0", dst=None, iif=None, oif=None,
                 hook="input", family="ipv4", ct_state="new", dst_local=True, dport_last=None):
        self.proto = proto
        self.proto_number = protocol_number(proto)
        self.dport = dport
        self.dport_last = dport if dport_last is None else dport_last
        self.src = ipaddress.ip_network(text_type(src), strict=False)
        self.dst = ipaddress.ip_network(text_type(dst), strict=False) if dst else None
        self.iif = iif
        self.oif = oif
        self.hook = hook
        self.family = family
        self.ct_state = ct_state
        self.dst_local = dst_local

    def describe(self):
        port = "%s/%s" % (port_span(self.dport, self.dport_last, "-"), self.proto) if self.dport else self.proto
        return "%s from %s%s" % (port, self.src, " on %s" % self.iif if self.iif else "")


def port_span(first, last, separator):
    """One port, or the range ``first``..``last`` in a rule language's syntax (``separator``: ``-`` for
    nft and firewalld, ``:`` for iptables and ufw). ValueError for a range written backwards."""
    if last is None or last == first:
        return str(first)
    if first is None or last < first:
        raise ValueError("port range %s-%s is backwards: the first port must not be above the last; write %s-%s"
                         % (first, last, last, first))
    return "%d%s%d" % (first, separator, last)


def net_match(packet_net, prefixes, what):
    """True if ``packet_net`` lies inside one of ``prefixes``, False if it touches none."""
    if packet_net is None:
        raise Unevaluable("%s is not known for this packet" % what)
    partial = False
    for prefix in prefixes:
        prefix = ipaddress.ip_network(text_type(prefix), strict=False)
        if prefix.version != packet_net.version:
            continue
        if packet_net.subnet_of(prefix):
            return True
        if prefix.overlaps(packet_net):
            partial = True
    if partial:
        raise Unevaluable("%s %s is only partly inside %s" % (what, packet_net, ", ".join(map(str, prefixes))))
    return False


def iface_match(name, patterns):
    if name is None:
        raise Unevaluable("the interface is not known")
    return any(fnmatch.fnmatchcase(name, p.replace("+", "*")) for p in patterns)


def verdict_result(verdict, where, **target):
    """``target`` says where a fix belongs: ``chain`` (nft base chain key or iptables
    chain name) or ``zone`` (firewalld)."""
    result = {"verdict": verdict, "where": where}
    result.update(target)
    return result


def port_match(packet, spec):
    if packet.dport is None:
        return False
    for part in spec.split(","):
        low, _sep, high = part.partition(":")
        if int(low or 0) <= packet.dport <= int(high or low or 65535):
            return True
    return False
