# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables (legacy and nft): ``iptables-save`` dumps and the walk of a packet through the tables' chains."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import shlex

from ansible.module_utils.six import text_type

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import RulesetParseError, Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.packet import TERMINAL, iface_match, net_match, port_match, verdict_result
from ansible_collections.podnet.doctor.plugins.module_utils.network.protocols import rule_protocol_number


class IptablesRuleset(object):
    """``iptables-save`` output (legacy or nft backend). Strict: a line iptables-save does not
    print (garbage, a rule before its table or chain, broken quoting) raises RulesetParseError
    naming the line, so a damaged dump is never read as "no rules"."""

    def __init__(self, text, name="iptables", protocols=None):
        self.name = name
        self.protocols = protocols
        self.tables = {}  # table -> {"policies": {chain: policy}, "rules": {chain: [args]}}
        table, chains = None, set()
        for number, raw in enumerate((text or "").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue

            def bad(reason):
                return RulesetParseError("%s output line %d is not iptables-save syntax (%s): %s"
                                         % (name, number, reason, line[:120]))
            if line.startswith("*") and len(line) > 1 and table is None:
                table, chains = line[1:], set()
                self.tables.setdefault(table, {"policies": {}, "rules": {}})
            elif line == "COMMIT" and table is not None:
                table = None
            elif line.startswith(":") and table is not None:
                fields = line[1:].split()
                if len(fields) < 2:
                    raise bad("a chain line needs a name and a policy")
                chains.add(fields[0])
                self.tables[table]["policies"][fields[0]] = fields[1]
                self.tables[table]["rules"].setdefault(fields[0], [])
            elif line.startswith("-A ") and table is not None:
                try:
                    args = shlex.split(line)
                except ValueError as exc:
                    raise bad(exc)
                if len(args) < 3 or args[1] not in chains:
                    raise bad("a rule of an undeclared chain" if len(args) >= 3 else "an empty rule")
                self.tables[table]["rules"].setdefault(args[1], []).append(args[2:])
            else:
                raise bad("outside a table" if table is None else "unknown line")
        if table is not None:
            raise RulesetParseError("%s output ends inside table %s (no COMMIT): truncated?" % (name, table))
        filter_table = self.tables.get("filter", {"policies": {}, "rules": {}})
        self.policies, self.rules = filter_table["policies"], filter_table["rules"]

    def in_use(self):
        """Any rule, or a policy other than ACCEPT, in any table."""
        return any(any(t["rules"].values()) or any(p not in ("ACCEPT", "-") for p in t["policies"].values())
                   for t in self.tables.values())


NON_TERMINATING_TARGETS = ("LOG", "NFLOG", "MARK", "CONNMARK", "ULOG", "TRACE", "TCPMSS", "DSCP", "TOS")


IGNORED_OPTIONS = {"--comment": 1, "--log-prefix": 1, "--log-level": 1, "--reject-with": 1,
                   "--limit": 1, "--limit-burst": 1, "--log-tcp-options": 0, "--log-ip-options": 0,
                   "--log-uid": 0, "--nflog-group": 1, "--nflog-prefix": 1, "--set-xmark": 1,
                   "--set-mark": 1, "--tcp-flags": 2, "--syn": 0, "--clamp-mss-to-pmtu": 0,
                   "--set-dscp": 1, "--set-dscp-class": 1}


MATCH_MODULES = ("tcp", "udp", "multiport", "conntrack", "state", "comment", "addrtype", "limit", "sctp",
                 "iprange", "pkttype")


# The tables a new packet to this node crosses, per hook, in priority order (raw -300,
# mangle -150, nat -100, filter 0, security 50, nat INPUT 100).
IPT_INPUT_PATH = (("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("nat", "PREROUTING"),
                  ("mangle", "INPUT"), ("filter", "INPUT"), ("security", "INPUT"), ("nat", "INPUT"))


IPT_FORWARD_PATH = (("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("nat", "PREROUTING"),
                    ("mangle", "FORWARD"), ("filter", "FORWARD"), ("security", "FORWARD"))


def _ipt_range_match(address, spec):
    low, _sep, high = spec.partition("-")
    prefixes = [str(n) for n in ipaddress.summarize_address_range(
        ipaddress.ip_address(text_type(low)), ipaddress.ip_address(text_type(high or low)))]
    return net_match(address, prefixes, "the address")


def _ipt_rule_matches(args, packet, protocols=None, ct_state=None):
    """(matched, target, goto, has_limit); raises Unevaluable."""
    i, negate, results, target, goto, limited = 0, False, [], None, False, False
    unknown = None
    while i < len(args):
        arg = args[i]
        if arg == "!":
            negate = True
            i += 1
            continue
        value = args[i + 1] if i + 1 < len(args) else None
        result = None
        try:
            if arg in ("-p", "--protocol"):
                wanted = rule_protocol_number(value, protocols)
                result = wanted is None or wanted == packet.proto_number
                i += 2
            elif arg in ("-s", "--source"):
                result = net_match(packet.src, value.split(","), "the source")
                i += 2
            elif arg in ("-d", "--destination"):
                result = net_match(packet.dst, value.split(","), "the destination")
                i += 2
            elif arg in ("-i", "--in-interface"):
                result = iface_match(packet.iif, [value])
                i += 2
            elif arg in ("-o", "--out-interface"):
                result = iface_match(packet.oif, [value])
                i += 2
            elif arg in ("-m", "--match"):
                if value not in MATCH_MODULES:
                    raise Unevaluable("match -m %s is not modelled" % value)
                limited = limited or value == "limit"
                i += 2
            elif arg in ("--dport", "--destination-port", "--dports", "--destination-ports"):
                result = port_match(packet, value)
                i += 2
            elif arg in ("--ctstate", "--state"):
                result = (ct_state or packet.ct_state).upper() in value.upper().split(",")
                i += 2
            elif arg == "--src-range":
                result = _ipt_range_match(packet.src, value)
                i += 2
            elif arg == "--dst-range":
                result = _ipt_range_match(packet.dst, value)
                i += 2
            elif arg == "--pkt-type":
                result = value == "host" or value == "unicast"
                i += 2
            elif arg == "--dst-type":
                local = packet.hook == "input" and packet.dst_local
                result = ("LOCAL" if local else "UNICAST") in value.split(",")
                i += 2
            elif arg == "--src-type":
                result = "UNICAST" in value.split(",")
                i += 2
            elif arg in ("-j", "--jump", "-g", "--goto"):
                target, goto = value, arg in ("-g", "--goto")
                i += 2
            elif arg in IGNORED_OPTIONS:
                i += 1 + IGNORED_OPTIONS[arg]
            else:
                raise Unevaluable("option %s is not modelled" % arg)
        except Unevaluable as exc:
            unknown = exc
            i += 2
        if result is not None:
            results.append(result != negate)
        negate = False
    if False in results:
        return False, target, goto, limited
    if unknown is not None:
        raise unknown
    return True, target, goto, limited


def ipt_walk(ruleset, chain, packet, depth=0, table="filter"):
    if depth > 32:
        raise Unevaluable("jump depth exceeded at %s" % chain)
    rules = ruleset.tables.get(table, {}).get("rules", {})
    ct_state = "invalid" if table == "raw" else packet.ct_state  # raw runs before conntrack
    label = ruleset.name if table == "filter" else "%s -t %s" % (ruleset.name, table)
    for args in rules.get(chain, []):
        text = "%s: -A %s %s" % (label, chain, " ".join(shlex.quote(a) for a in args))
        try:
            matched, target, goto, limited = _ipt_rule_matches(args, packet, ruleset.protocols, ct_state)
        except Unevaluable as exc:
            raise Unevaluable("%s (%s)" % (text, exc))
        if not matched or target is None or target in NON_TERMINATING_TARGETS:
            continue
        if limited:
            raise Unevaluable("%s (a rate limit decides this verdict)" % text)
        if target in ("ACCEPT", "DROP", "REJECT"):
            return target.lower(), text
        if target == "RETURN":
            return None, text
        if target not in rules:
            raise Unevaluable("%s (target %s is not modelled)" % (text, target))
        verdict, where = ipt_walk(ruleset, target, packet, depth + 1, table)
        if verdict in TERMINAL or goto:
            return verdict, where
    return None, "end of %s chain %s" % (label, chain)


def ipt_verdict(ruleset, packet):
    """Every table's chain on the packet's path, in priority order: a drop in any ends it."""
    for table, chain in (IPT_INPUT_PATH if packet.hook == "input" else IPT_FORWARD_PATH):
        if chain not in ruleset.tables.get(table, {}).get("policies", {}):
            continue
        verdict, where = ipt_walk(ruleset, chain, packet, table=table)
        if verdict is None and ruleset.tables[table]["policies"].get(chain, "ACCEPT") == "DROP":
            label = ruleset.name if table == "filter" else "%s -t %s" % (ruleset.name, table)
            return verdict_result("drop", "%s: policy DROP of %s" % (label, chain), chain=chain, table=table)
        if verdict in ("drop", "reject"):
            return verdict_result(verdict, where, chain=chain, table=table)
    return verdict_result("accept", None)
