# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IP protocols: the one table of names and numbers, how a rule we write names a protocol, and how a
ruleset's name for one is resolved (the node's /etc/protocols, as the tool that printed it did)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import CatalogError, Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import read_text


PROTOCOLS = ("udp", "tcp", "sctp", "ipip", "gre", "icmp")
PORTLESS_PROTOCOLS = ("ipip", "gre", "icmp")  # matched by IP protocol alone


# The one table of our protocol names. "ipip" is Calico's name for IP-in-IP, IP protocol 4;
# Debian's /etc/protocols calls 4 "ipencap" and 94 "ipip", so a name is never handed to a
# tool (nft, iptables, firewalld resolve names through /etc/protocols): only the number.
IP_PROTOCOL_NUMBERS = {"icmp": 1, "ipip": 4, "tcp": 6, "udp": 17, "gre": 47, "sctp": 132}


def protocol_number(protocol):
    """The IP protocol number of one of our protocol names (or of a number)."""
    if isinstance(protocol, int):
        return protocol
    text = str(protocol).lower()
    if text.isdigit():
        return int(text)
    if text not in IP_PROTOCOL_NUMBERS:
        raise CatalogError("protocol %r is not one of %s" % (protocol, ", ".join(sorted(IP_PROTOCOL_NUMBERS))))
    return IP_PROTOCOL_NUMBERS[text]


def tool_protocol(protocol):
    """How a rule we write names ``protocol``: tcp/udp/sctp by name (every /etc/protocols and the
    tools' own tables agree on them, and port matches need them), anything else by number."""
    number = protocol_number(protocol)
    for name in ("tcp", "udp", "sctp"):
        if IP_PROTOCOL_NUMBERS[name] == number:
            return name
    return str(number)


# Names every /etc/protocols and the tools' built-in tables agree on. Any other name in a
# ruleset (ipip is 94 on Debian, ipencap is 4) is resolved through the node's /etc/protocols
# (``protocol_table``), as the tool that printed it did, or the rule is unevaluable.
UNIVERSAL_PROTOCOLS = "icmp 1\ntcp 6\nudp 17\nipv6-icmp 58 IPv6-ICMP\nsctp 132\n"


PORT_PROTOCOLS = (6, 17, 132, 136, 33)  # tcp, udp, sctp, udplite, dccp: the ones th dport reads


def protocol_table(text):
    """``/etc/protocols`` text -> {name or alias (lower case): number}."""
    table = {}
    for line in (text or "").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[1].isdigit():
            for name in [fields[0]] + fields[2:]:
                table.setdefault(name.lower(), int(fields[1]))
    return table


DEFAULT_PROTOCOLS = protocol_table(UNIVERSAL_PROTOCOLS)


def rule_protocol_number(value, protocols=None):
    """The number of a protocol as a ruleset names it (number, or a name looked up in the
    node's /etc/protocols like the tool did); ``all`` is None (any protocol)."""
    if isinstance(value, int):
        return value
    text = str(value).lower()
    if text.isdigit():
        return int(text)
    if text == "all":
        return None
    table = DEFAULT_PROTOCOLS if protocols is None else protocols
    if text not in table:
        raise Unevaluable("protocol name %r is not in the node's /etc/protocols, so its number is not known" % value)
    return table[text]


def read_protocols(root):
    """The node's /etc/protocols as {name: number}: nft and iptables print protocol names from
    it, and firewalld passes names through to them (None when the file is missing)."""
    text = read_text(root, "/etc/protocols")
    return None if text is None else protocol_table(text)
