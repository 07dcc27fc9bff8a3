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
import json
import shlex

from ansible.module_utils.six import text_type

from ansible_collections.podnet.doctor.plugins.module_utils.cni_catalog import protocol_number

TERMINAL = ("accept", "drop", "reject")
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


class Unevaluable(Exception):
    """The verdict depends on a rule this evaluator does not model."""


class Packet(object):
    """A new flow arriving on a node (``hook='input'``) or routed through it."""

    def __init__(self, proto, dport=None, src="0.0.0.0/0", dst=None, iif=None, oif=None,
                 hook="input", family="ipv4", ct_state="new", dst_local=True):
        self.proto = proto
        self.proto_number = protocol_number(proto)
        self.dport = dport
        self.src = ipaddress.ip_network(text_type(src), strict=False)
        self.dst = ipaddress.ip_network(text_type(dst), strict=False) if dst else None
        self.iif = iif
        self.oif = oif
        self.hook = hook
        self.family = family
        self.ct_state = ct_state
        self.dst_local = dst_local

    def describe(self):
        port = "%s/%s" % (self.dport, self.proto) if self.dport else self.proto
        return "%s from %s%s" % (port, self.src, " on %s" % self.iif if self.iif else "")


def _net_match(packet_net, prefixes, what):
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


def _iface_match(name, patterns):
    if name is None:
        raise Unevaluable("the interface is not known")
    return any(fnmatch.fnmatchcase(name, p.replace("+", "*")) for p in patterns)


def _proto_number(value, protocols=None):
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


def _verdict_result(verdict, where, **target):
    """``target`` says where a fix belongs: ``chain`` (nft base chain key or iptables
    chain name) or ``zone`` (firewalld)."""
    result = {"verdict": verdict, "where": where}
    result.update(target)
    return result


# ----------------------------------------------------------------------------- nft
# Hooks a new packet to this node crosses, in order; netdev ingress runs before prerouting.
INPUT_HOOKS = ("ingress", "prerouting", "input")
CONNTRACK_PRIORITY = -200  # chains below it run before conntrack: ct state is "invalid" there


class NftRuleset(object):
    """``nft -j -p list ruleset`` output (``-p``: protocols as numbers)."""

    def __init__(self, text, protocols=None):
        self.protocols = protocols
        try:
            data = json.loads(text) if text and text.strip() else {"nftables": []}
        except ValueError as exc:
            raise RulesetParseError("nft -j list ruleset printed something that is not JSON (%s): %s"
                                    % (exc, text.strip().splitlines()[0][:120]))
        if not isinstance(data, dict) or not isinstance(data.get("nftables"), list):
            raise RulesetParseError("nft -j list ruleset printed JSON without an \"nftables\" list")
        self.chains, self.rules, self.sets = {}, {}, {}
        for obj in data["nftables"]:
            try:
                if "chain" in obj:
                    chain = obj["chain"]
                    self.chains[(chain["family"], chain["table"], chain["name"])] = chain
                elif "rule" in obj:
                    rule = obj["rule"]
                    self.rules.setdefault((rule["family"], rule["table"], rule["chain"]), []).append(rule)
                elif "set" in obj or "map" in obj:
                    nset = obj.get("set") or obj["map"]
                    self.sets[(nset["family"], nset["table"], nset["name"])] = nset
            except (KeyError, TypeError) as exc:
                raise RulesetParseError("nft -j list ruleset: an object without its %s: %s" % (exc, str(obj)[:120]))

    def base_chains(self, hook, family="ipv4", skip_tables=(), iif=None):
        """Base chains on ``hook`` by priority (filter, nat and route alike: a drop in any of them
        ends the packet); ``skip_tables``: (family, table) pairs evaluated elsewhere (firewalld's
        own table, iptables-nft's tables). A netdev ingress chain counts when its device is ``iif``."""
        wanted = ("ip", "inet") if family == "ipv4" else ("ip6", "inet")
        chains = []
        for chain in self.chains.values():
            if chain.get("hook") != hook or (chain["family"], chain["table"]) in skip_tables:
                continue
            if chain["family"] == "netdev":
                devices = chain.get("dev") or chain.get("devices") or []
                devices = [devices] if isinstance(devices, text_type) or isinstance(devices, str) else devices
                if iif is None or iif in devices:
                    chains.append(chain)
            elif chain["family"] in wanted:
                chains.append(chain)
        return sorted(chains, key=lambda c: (_nft_prio(c), c.get("handle", 0)))

    def tables(self):
        return sorted(set((c["family"], c["table"]) for c in self.chains.values()))


NFT_STANDARD_PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}


def _nft_prio(chain):
    prio = chain.get("prio", 0)
    if isinstance(prio, int):
        return prio
    return NFT_STANDARD_PRIORITIES.get(str(prio), 0)


def _nft_rule_text(rule):
    return "%s %s %s rule handle %s: %s" % (
        rule["family"], rule["table"], rule["chain"], rule.get("handle"), json.dumps(rule.get("expr")))


class NftContext(object):
    """One packet walking one base chain: the ruleset, and the conntrack state there."""

    def __init__(self, ruleset, packet, family, table, prio):
        self.ruleset = ruleset
        self.packet = packet
        self.family = family
        self.table = table
        self.ct_state = "invalid" if prio < CONNTRACK_PRIORITY else packet.ct_state


def _nft_value(left, ctx):
    """The packet's value for an nft expression: ("int", n), ("net", network), ("iface", name),
    ("str", text); ``None`` when the expression does not apply to this packet (e.g. a tcp
    payload of a udp packet: the match is false)."""
    packet = ctx.packet
    if "concat" in left:
        values = []
        for part in left["concat"]:
            try:
                values.append(_nft_value(part, ctx))
            except Unevaluable as exc:  # decided only if no other part of the key rules the element out
                values.append(("unknown", exc))
        return None if any(v is None for v in values) else ("concat", values)
    if "payload" in left:
        payload = left["payload"]
        proto, field = payload.get("protocol"), payload.get("field")
        if proto in ("udp", "tcp", "sctp", "udplite", "dccp"):
            if packet.proto != proto:
                return None
            if field == "dport":
                return ("int", packet.dport)
            raise Unevaluable("%s %s is not modelled" % (proto, field))
        if proto == "th":
            if packet.proto_number not in PORT_PROTOCOLS:
                raise Unevaluable("th %s of IP protocol %d reads bytes of its payload" % (field, packet.proto_number))
            if field == "dport":
                return ("int", packet.dport)
            raise Unevaluable("th %s is not modelled" % field)
        if proto == "ip":
            if packet.family != "ipv4":
                return None
            if field == "saddr":
                return ("net", packet.src)
            if field == "daddr":
                if packet.dst is None:
                    raise Unevaluable("the destination address is not known")
                return ("net", packet.dst)
            if field == "protocol":
                return ("int", packet.proto_number)
        if proto == "ip6":
            if packet.family != "ipv6":
                return None
        raise Unevaluable("payload %s %s is not modelled" % (proto, field))
    if "meta" in left:
        key = left["meta"]["key"]
        if key == "l4proto":
            return ("int", packet.proto_number)
        if key == "nfproto":
            return ("str", packet.family)
        if key in ("iif", "iifname"):
            return ("iface", packet.iif)
        if key in ("oif", "oifname"):
            return ("iface", packet.oif)
        if key == "pkttype":
            return ("str", "host")
        raise Unevaluable("meta %s is not modelled" % key)
    if "ct" in left and left["ct"].get("key") == "state" and "dir" not in left["ct"]:
        return ("flags", ctx.ct_state)
    if "fib" in left and left["fib"].get("result") == "type" and left["fib"].get("flags") in (["daddr"], "daddr"):
        return ("str", "local" if (packet.hook == "input" and packet.dst_local) else "unicast")
    raise Unevaluable("expression %s is not modelled" % json.dumps(left))


def _nft_named(name, ctx):
    nset = ctx.ruleset.sets.get((ctx.family, ctx.table, name))
    if nset is None:
        raise Unevaluable("set or map @%s not found" % name)
    return nset


def _nft_elements(right, ctx):
    """The elements a match compares with: a list of values, ranges, prefixes or concatenations."""
    if isinstance(right, dict) and "set" in right:
        return right["set"] if isinstance(right["set"], list) else [right["set"]]
    if isinstance(right, text_type) and right.startswith("@"):
        nset = _nft_named(right[1:], ctx)
        elements = nset.get("elem", [])
        return elements if isinstance(elements, list) else [elements]
    if isinstance(right, list):
        return right
    return [right]


def _nft_elem(elem):
    """An element without its ``elem`` wrapper (timeouts, comments, counters)."""
    if isinstance(elem, dict) and "elem" in elem:
        return elem["elem"]["val"]
    return elem


def _nft_one(value, elem, ctx):
    """Does the packet's ``value`` equal (or lie in) one element? Raises Unevaluable when
    it covers only part of the node network."""
    kind, data = value
    elem = _nft_elem(elem)
    if kind == "concat":
        parts = elem.get("concat") if isinstance(elem, dict) else None
        if not isinstance(parts, list) or len(parts) != len(data):
            raise Unevaluable("concatenation element %s is not modelled" % json.dumps(elem))
        known = [(v, p) for v, p in zip(data, parts) if v[0] != "unknown"]
        if not all(_nft_one(v, p, ctx) for v, p in known):
            return False
        unknown = [v[1] for v in data if v[0] == "unknown"]
        if unknown:
            raise unknown[0]
        return True
    if kind == "net":
        if isinstance(elem, dict) and "prefix" in elem:
            prefixes = ["%s/%s" % (elem["prefix"]["addr"], elem["prefix"]["len"])]
        elif isinstance(elem, dict) and "range" in elem:
            low, high = elem["range"]
            prefixes = [str(n) for n in ipaddress.summarize_address_range(
                ipaddress.ip_address(text_type(low)), ipaddress.ip_address(text_type(high)))]
        else:
            prefixes = [str(elem)]
        return _net_match(data, prefixes, "the address")
    if kind == "iface":
        if data is None:
            raise Unevaluable("the interface is not known")
        return _iface_match(data, [str(elem)])
    if kind == "flags":
        return data in ([str(e) for e in elem] if isinstance(elem, list) else [str(elem)])
    if kind == "str":
        return data == str(elem)
    if data is None:
        raise Unevaluable("the port is not known")
    if isinstance(elem, dict) and "range" in elem:
        low, high = elem["range"]
        return _proto_number(low, ctx.ruleset.protocols) <= data <= _proto_number(high, ctx.ruleset.protocols)
    if isinstance(elem, dict):
        raise Unevaluable("element %s is not modelled" % json.dumps(elem))
    return _proto_number(elem, ctx.ruleset.protocols) == data


def _nft_lookup(value, elements, ctx):
    """Index of the first element the value matches, or None; an element that cannot be
    judged is an error only when no other element matches."""
    unknown = None
    for index, elem in enumerate(elements):
        try:
            if _nft_one(value, elem, ctx):
                return index
        except Unevaluable as exc:
            unknown = exc
    if unknown is not None:
        raise unknown
    return None


def _nft_match(match, ctx):
    value = _nft_value(match["left"], ctx)
    if value is None:
        return False
    op = match.get("op", "==")
    right = match["right"]
    if op in ("<", ">", "<=", ">=") and value[0] == "int":
        bound = _proto_number(right, ctx.ruleset.protocols)
        return {"<": value[1] < bound, ">": value[1] > bound, "<=": value[1] <= bound, ">=": value[1] >= bound}[op]
    if op in ("==", "in", "!="):
        found = _nft_lookup(value, _nft_elements(right, ctx), ctx) is not None
        return found if op != "!=" else not found
    raise Unevaluable("operator %s is not modelled" % op)


# Statements that never decide a verdict nor change what later rules see of this packet.
NFT_NO_VERDICT = ("counter", "log", "comment", "set", "dynset")
# Statements that match only while a rate or byte budget lasts: a rule with a verdict behind one
# decides some packets of a flow and not others, so the verdict is not this evaluator's to give.
NFT_BUDGETS = ("limit", "quota")
NFT_VERDICTS = TERMINAL + ("jump", "goto", "return", "continue", "vmap")


def _nft_vmap(statement, ctx):
    """The verdict a verdict map gives the packet, or None when no key matches."""
    value = _nft_value(statement["key"], ctx)
    data = statement["data"]
    if isinstance(data, text_type) and data.startswith("@"):
        pairs = _nft_named(data[1:], ctx).get("elem", [])
    elif isinstance(data, dict) and "set" in data:
        pairs = data["set"]
    else:
        raise Unevaluable("verdict map %s is not modelled" % json.dumps(data))
    if value is None:
        return None
    index = _nft_lookup(value, [pair[0] for pair in pairs], ctx)
    return None if index is None else pairs[index][1]


def nft_walk(ruleset, key, packet, depth=0, prio=0):
    """Walk chain ``key``; return (verdict or None for fall-through/return, where)."""
    if depth > 32:
        raise Unevaluable("jump depth exceeded at %s" % (key,))
    ctx = NftContext(ruleset, packet, key[0], key[1], prio)
    for rule in ruleset.rules.get(key, []):
        matched, unknown, verdict, budget = True, None, None, None
        for expr in rule.get("expr", []):
            name = next(iter(expr))
            if name in NFT_BUDGETS:
                budget = name
                continue
            if name == "match":
                try:
                    if not _nft_match(expr["match"], ctx):
                        matched = False
                        break
                except Unevaluable as exc:
                    unknown = exc
                continue
            if name in NFT_NO_VERDICT:
                continue
            if name in NFT_VERDICTS:
                verdict = expr
                break
            unknown = Unevaluable("statement %s is not modelled" % name)
        if not matched:
            continue
        where = _nft_rule_text(rule)
        if unknown is not None:
            raise Unevaluable("%s (%s)" % (where, unknown))
        if verdict is None:
            continue
        if budget is not None:
            raise Unevaluable("%s (a %s decides this verdict)" % (where, budget))
        name = next(iter(verdict))
        if name == "vmap":
            try:
                verdict = _nft_vmap(verdict["vmap"], ctx)
            except Unevaluable as exc:
                raise Unevaluable("%s (%s)" % (where, exc))
            if verdict is None:
                continue
            name = next(iter(verdict))
        if name in TERMINAL:
            return name, where
        if name == "continue":
            continue
        if name == "return":
            return None, where
        target = (rule["family"], rule["table"], verdict[name]["target"])
        result, inner = nft_walk(ruleset, target, packet, depth + 1, prio)
        if result in TERMINAL or name == "goto":
            return result, inner
    return None, "end of %s %s %s" % key


def nft_verdict(ruleset, packet, skip_tables=()):
    """Verdict of every nf_tables base chain on the hooks the packet crosses, in order."""
    hooks = INPUT_HOOKS if packet.hook == "input" else ("ingress", "prerouting", "forward")
    for hook in hooks:
        for chain in ruleset.base_chains(hook, packet.family, skip_tables, packet.iif):
            key = (chain["family"], chain["table"], chain["name"])
            verdict, where = nft_walk(ruleset, key, packet, prio=_nft_prio(chain))
            if verdict is None and chain.get("policy", "accept") == "drop":
                return _verdict_result("drop", "policy drop of %s %s %s" % key, chain=key)
            if verdict in ("drop", "reject"):
                return _verdict_result(verdict, where, chain=key)
    return _verdict_result("accept", None)


# ------------------------------------------------------------------------ iptables
class RulesetParseError(ValueError):
    """A ruleset dump that is not what its tool prints: judged ``error``, never read as empty."""


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


def _ipt_port_match(packet, spec):
    if packet.dport is None:
        return False
    for part in spec.split(","):
        low, _sep, high = part.partition(":")
        if int(low or 0) <= packet.dport <= int(high or low or 65535):
            return True
    return False


def _ipt_range_match(address, spec):
    low, _sep, high = spec.partition("-")
    prefixes = [str(n) for n in ipaddress.summarize_address_range(
        ipaddress.ip_address(text_type(low)), ipaddress.ip_address(text_type(high or low)))]
    return _net_match(address, prefixes, "the address")


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
                wanted = _proto_number(value, protocols)
                result = wanted is None or wanted == packet.proto_number
                i += 2
            elif arg in ("-s", "--source"):
                result = _net_match(packet.src, value.split(","), "the source")
                i += 2
            elif arg in ("-d", "--destination"):
                result = _net_match(packet.dst, value.split(","), "the destination")
                i += 2
            elif arg in ("-i", "--in-interface"):
                result = _iface_match(packet.iif, [value])
                i += 2
            elif arg in ("-o", "--out-interface"):
                result = _iface_match(packet.oif, [value])
                i += 2
            elif arg in ("-m", "--match"):
                if value not in MATCH_MODULES:
                    raise Unevaluable("match -m %s is not modelled" % value)
                limited = limited or value == "limit"
                i += 2
            elif arg in ("--dport", "--destination-port", "--dports", "--destination-ports"):
                result = _ipt_port_match(packet, value)
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
            return _verdict_result("drop", "%s: policy DROP of %s" % (label, chain), chain=chain, table=table)
        if verdict in ("drop", "reject"):
            return _verdict_result(verdict, where, chain=chain, table=table)
    return _verdict_result("accept", None)


# ------------------------------------------------------------------------ firewalld
def parse_list_all(text):
    """``firewall-cmd --zone=Z --list-all`` -> dict of its fields (lists split)."""
    zone = {"rich rules": []}
    lines = (text or "").splitlines()
    for index, line in enumerate(lines):
        if index == 0 and not line.startswith(" "):
            zone["name"] = line.split()[0] if line.split() else ""
            continue
        key, _sep, value = line.strip().partition(":")
        if not _sep:
            if line.startswith("\t") or line.startswith("        "):
                zone["rich rules"].append(line.strip())
            continue
        key = key.strip()
        if key == "rich rules":
            if value.strip():
                zone["rich rules"].append(value.strip())
            continue
        scalar = key in ("target", "forward", "masquerade", "icmp-block-inversion", "priority")
        zone[key] = value.strip() if scalar else value.strip().split()
    return zone


def parse_rich_rule(text):
    """The parts of a rich rule this evaluator models; Unevaluable for the rest."""
    tokens = shlex.split(text)
    rule = {"text": text, "priority": 0, "source": None, "source_not": False, "ports": [],
            "protocol": None, "service": None, "action": None, "family": None, "icmp": None}
    i = 1 if tokens and tokens[0] == "rule" else 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("family=") or tok.startswith("priority="):
            if tok.startswith("priority="):
                rule["priority"] = int(tok.split("=", 1)[1])
            else:
                rule["family"] = tok.split("=", 1)[1]
            i += 1
        elif tok == "source":
            i += 1
            if tokens[i] == "NOT":
                rule["source_not"] = True
                i += 1
            if not tokens[i].startswith("address="):
                raise Unevaluable("rich rule %r: only source address is modelled" % text)
            rule["source"] = tokens[i].split("=", 1)[1]
            i += 1
        elif tok == "port":
            port = dict(t.split("=", 1) for t in tokens[i + 1:i + 3])
            rule["ports"].append((port["port"], port["protocol"]))
            i += 3
        elif tok == "protocol":
            rule["protocol"] = tokens[i + 1].split("=", 1)[1]
            i += 2
        elif tok == "service":
            rule["service"] = tokens[i + 1].split("=", 1)[1]
            i += 2
        elif tok in ("icmp-type", "icmp-block"):
            rule["icmp"] = tokens[i + 1].split("=", 1)[1]
            i += 2
        elif tok in ("accept", "drop", "reject"):
            rule["action"] = tok
            i += 1
            while i < len(tokens) and tokens[i].startswith("type="):
                i += 1
        elif tok == "log" or tok == "audit":
            i += 1
            while i < len(tokens) and ("=" in tokens[i] or tokens[i] == "limit"):
                i += 1
        else:
            raise Unevaluable("rich rule %r: %s is not modelled" % (text, tok))
    return rule


def _fw_port_match(packet, entries, protocols=None):
    """Does one of ``entries`` ("port[-port]/proto", or a bare protocol of a service) cover the packet?"""
    for entry in entries:
        port, sep, proto = entry.partition("/")
        if not sep:
            if _proto_number(port, protocols) == packet.proto_number:
                return True
            continue
        if proto == packet.proto and packet.dport is not None and _ipt_port_match(packet, port.replace("-", ":")):
            return True
    return False


def firewalld_zone_for(packet, zones, default_zone):
    """Source-bound zones first, then the interface's zone, then the default zone."""
    for name, zone in sorted(zones.items()):
        if zone.get("sources") and _net_match(packet.src, zone["sources"], "the source"):
            return name
    for name, zone in sorted(zones.items()):
        if packet.iif and packet.iif in zone.get("interfaces", []):
            return name
    return default_zone


def _rich_rule_applies(rule, packet, services, protocols):
    if rule["family"] not in (None, "ipv4" if packet.family == "ipv4" else "ipv6"):
        return False
    if rule["icmp"] is not None:
        if packet.proto_number not in (1, 58):
            return False
        raise Unevaluable("rich rule %r: ICMP types are not modelled" % rule["text"])
    if rule["source"] is not None:
        inside = _net_match(packet.src, [rule["source"]], "the source")
        if inside == rule["source_not"]:
            return False
    if rule["ports"] and not _fw_port_match(packet, ["%s/%s" % p for p in rule["ports"]]):
        return False
    if rule["protocol"] and _proto_number(rule["protocol"], protocols) != packet.proto_number:
        return False
    if rule["service"]:
        if rule["service"] not in services:
            raise Unevaluable("rich rule %r: service %s definition not found" % (rule["text"], rule["service"]))
        if not _fw_port_match(packet, services[rule["service"]], protocols):
            return False
    return True


def _firewalld_rules(packet, entity, where, services, protocols):
    """The verdict of a zone's (or policy's) own rules, in firewalld's chain order: rich rules with
    priority < 0 (lowest first), priority-0 drop/reject rich rules, then the allow chain (priority-0
    accept rich rules, ports, services, protocols), then rich rules with priority > 0 (lowest first).
    Returns (verdict, where) or (None, None) when no rule decides."""
    rich = [parse_rich_rule(text) for text in entity.get("rich rules", [])]
    pre = sorted([r for r in rich if r["priority"] < 0], key=lambda r: r["priority"])
    post = sorted([r for r in rich if r["priority"] > 0], key=lambda r: r["priority"])
    deny = [r for r in rich if r["priority"] == 0 and r["action"] in ("drop", "reject")]
    allow = [r for r in rich if r["priority"] == 0 and r["action"] == "accept"]

    def first(rules):
        for rule in rules:
            if rule["action"] and _rich_rule_applies(rule, packet, services, protocols):
                return rule["action"], "%s rich rule: %s" % (where, rule["text"])
        return None, None

    for chain in (pre, deny, allow):
        verdict = first(chain)
        if verdict[0]:
            return verdict
    if _fw_port_match(packet, entity.get("ports", [])):
        return "accept", "%s ports" % where
    for service in entity.get("services", []):
        if service not in services:
            raise Unevaluable("%s: service %s definition not found" % (where, service))
        if _fw_port_match(packet, services[service], protocols):
            return "accept", "%s service %s" % (where, service)
    for proto in entity.get("protocols", []):
        if _proto_number(proto, protocols) == packet.proto_number:
            return "accept", "%s protocol %s" % (where, proto)
    if [p for p in entity.get("source-ports", []) if p.partition("/")[2] == packet.proto]:
        raise Unevaluable("%s: source-ports %s (the source port is not known)" % (where, " ".join(entity["source-ports"])))
    if [p for p in entity.get("forward-ports", []) if p]:
        raise Unevaluable("%s: forward-ports %s are not modelled" % (where, " ".join(entity["forward-ports"])))
    return first(post)


def _firewalld_policies_for(zone_name, policies):
    """Active policies on input traffic of ``zone_name`` (egress HOST), by priority."""
    chosen = []
    for name, policy in (policies or {}).items():
        ingress, egress = policy.get("ingress-zones", []), policy.get("egress-zones", [])
        if "HOST" in egress and ("ANY" in ingress or zone_name in ingress):
            chosen.append((int(policy.get("priority", -1)), name, policy))
    return sorted(chosen, key=lambda item: (item[0], item[1]))


def firewalld_verdict(packet, zones, default_zone, services, protocols=None, policies=None):
    """Input verdict of firewalld's zone model for ``packet``.

    ``zones``: name -> parsed ``--list-all``; ``services``: name -> list of "port/proto";
    ``policies``: name -> parsed ``--list-all-policies`` entry. firewalld dispatches a packet
    to its zone and runs, by priority, the policies with priority < 0, the zone's rules, the
    policies with priority > 0, then the zone's target.
    """
    name = firewalld_zone_for(packet, zones, default_zone)
    zone = zones.get(name)
    if zone is None:
        raise Unevaluable("firewalld zone %s was not read" % name)
    where = "firewalld zone %s" % name
    chosen = _firewalld_policies_for(name, policies)
    steps = [("policy", p) for p in chosen if p[0] < 0] + [("zone", None)] + [("policy", p) for p in chosen if p[0] >= 0]
    for kind, item in steps:
        if kind == "zone":
            verdict, rule_where = _firewalld_rules(packet, zone, where, services, protocols)
            target_owner = ("zone", name)
        else:
            _prio, pname, policy = item
            pwhere = "firewalld policy %s" % pname
            verdict, rule_where = _firewalld_rules(packet, policy, pwhere, services, protocols)
            target = policy.get("target", "CONTINUE")
            if verdict is None and target != "CONTINUE":
                verdict = "accept" if target == "ACCEPT" else ("drop" if target == "DROP" else "reject")
                rule_where = "%s target %s" % (pwhere, target)
            target_owner = ("policy", pname)
        if verdict == "accept":
            return _verdict_result("accept", rule_where)
        if verdict in ("drop", "reject"):
            result = _verdict_result(verdict, rule_where, zone=name)
            if target_owner[0] == "policy":
                result["policy"] = target_owner[1]
            return result
    target = zone.get("target", "default")
    if target == "ACCEPT":
        return _verdict_result("accept", "%s target ACCEPT" % where)
    return _verdict_result("drop" if target == "DROP" else "reject",
                           "%s (target %s: not in its services, ports or rich rules)" % (where, target), zone=name)


def firewalld_forward_verdict(packet, zones, default_zone):
    """Forwarded traffic. The packet's zone is found like for input (source-bound zones
    first, then the in-interface's zone, then the default zone). It passes when that
    zone's target is ACCEPT, or when the zone has forward on AND the way out is
    explicitly bound to the same zone (an interface or a source in it): firewalld's
    intra-zone forwarding writes one ``oifname``/``daddr`` accept per binding, so the
    default zone's catch-all for unbound interfaces forwards nothing."""
    zin = firewalld_zone_for(packet, zones, default_zone)
    zone = zones.get(zin, {})
    if zone.get("target") == "ACCEPT":
        return _verdict_result("accept", "firewalld zone %s target ACCEPT" % zin)
    if zone.get("forward") == "yes":
        if packet.oif and packet.oif in zone.get("interfaces", []):
            return _verdict_result("accept", "firewalld zone %s forwards to its interface %s" % (zin, packet.oif))
        if zone.get("sources") and packet.dst is not None and \
                _net_match(packet.dst, zone["sources"], "the destination"):
            return _verdict_result("accept", "firewalld zone %s forwards to its sources" % zin)
    return _verdict_result("reject", "firewalld zone %s (forward %s, target %s): %s is not bound to it, so "
                                     "forwarding %s -> %s is rejected" % (
                                         zin, zone.get("forward", "no"), zone.get("target", "default"),
                                         packet.oif, packet.iif, packet.oif), zone=zin)
