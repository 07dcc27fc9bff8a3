# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nftables: ``nft -j -p list ruleset`` and the verdict of every base chain on a hook."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

from ansible.module_utils.six import text_type

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import RulesetParseError, Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.packet import TERMINAL, iface_match, net_match, verdict_result
from ansible_collections.podnet.doctor.plugins.module_utils.network.protocols import PORT_PROTOCOLS, rule_protocol_number


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
        return net_match(data, prefixes, "the address")
    if kind == "iface":
        if data is None:
            raise Unevaluable("the interface is not known")
        return iface_match(data, [str(elem)])
    if kind == "flags":
        return data in ([str(e) for e in elem] if isinstance(elem, list) else [str(elem)])
    if kind == "str":
        return data == str(elem)
    if data is None:
        raise Unevaluable("the port is not known")
    if isinstance(elem, dict) and "range" in elem:
        low, high = elem["range"]
        return rule_protocol_number(low, ctx.ruleset.protocols) <= data <= rule_protocol_number(high, ctx.ruleset.protocols)
    if isinstance(elem, dict):
        raise Unevaluable("element %s is not modelled" % json.dumps(elem))
    return rule_protocol_number(elem, ctx.ruleset.protocols) == data


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
        bound = rule_protocol_number(right, ctx.ruleset.protocols)
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
                return verdict_result("drop", "policy drop of %s %s %s" % key, chain=key)
            if verdict in ("drop", "reject"):
                return verdict_result(verdict, where, chain=key)
    return verdict_result("accept", None)
