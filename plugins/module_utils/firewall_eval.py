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

L4_NAMES = {"icmp": 1, "igmp": 2, "ipip": 4, "ipencap": 4, "tcp": 6, "udp": 17, "gre": 47,
            "esp": 50, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132, "all": None}
TERMINAL = ("accept", "drop", "reject")


class Unevaluable(Exception):
    """The verdict depends on a rule this evaluator does not model."""


class Packet(object):
    """A new flow arriving on a node (``hook='input'``) or routed through it."""

    def __init__(self, proto, dport=None, src="0.0.0.0/0", dst=None, iif=None, oif=None,
                 hook="input", family="ipv4", ct_state="new", dst_local=True):
        self.proto = proto
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


def _proto_number(value):
    if isinstance(value, int):
        return value
    text = str(value).lower()
    if text.isdigit():
        return int(text)
    if text not in L4_NAMES:
        raise Unevaluable("unknown protocol %r" % value)
    return L4_NAMES[text]


def _verdict_result(verdict, where, **target):
    """``target`` says where a fix belongs: ``chain`` (nft base chain key or iptables
    chain name) or ``zone`` (firewalld)."""
    result = {"verdict": verdict, "where": where}
    result.update(target)
    return result


# ----------------------------------------------------------------------------- nft
class NftRuleset(object):
    """``nft -j list ruleset`` output."""

    def __init__(self, text):
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
                elif "set" in obj:
                    nset = obj["set"]
                    self.sets[(nset["family"], nset["table"], nset["name"])] = nset
            except (KeyError, TypeError) as exc:
                raise RulesetParseError("nft -j list ruleset: an object without its %s: %s" % (exc, str(obj)[:120]))

    def base_chains(self, hook, family="ipv4", skip_tables=()):
        """Filter base chains on ``hook`` by priority; ``skip_tables``: (family, table)
        pairs evaluated elsewhere (firewalld's own table, iptables-nft's tables)."""
        wanted = ("ip", "inet") if family == "ipv4" else ("ip6", "inet")
        chains = [c for c in self.chains.values()
                  if c.get("hook") == hook and c.get("type", "filter") == "filter"
                  and c["family"] in wanted and (c["family"], c["table"]) not in skip_tables]
        return sorted(chains, key=lambda c: (c.get("prio", 0), c.get("handle", 0)))

    def tables(self):
        return sorted(set((c["family"], c["table"]) for c in self.chains.values()))


def _nft_rule_text(rule):
    return "%s %s %s rule handle %s: %s" % (
        rule["family"], rule["table"], rule["chain"], rule.get("handle"), json.dumps(rule.get("expr")))


def _nft_left_value(left, packet):
    """The packet's value for an nft expression, or False when it cannot apply."""
    if "payload" in left:
        payload = left["payload"]
        proto, field = payload.get("protocol"), payload.get("field")
        if proto in ("udp", "tcp", "sctp"):
            if packet.proto != proto:
                return False, None
            if field == "dport":
                return True, packet.dport
            raise Unevaluable("%s %s is not modelled" % (proto, field))
        if proto == "th" and field == "dport":
            return (packet.proto in ("udp", "tcp", "sctp")), packet.dport
        if proto == "ip":
            if packet.family != "ipv4":
                return False, None
            if field == "saddr":
                return True, ("net", packet.src)
            if field == "daddr":
                return True, ("net", packet.dst)
            if field == "protocol":
                return True, _proto_number(packet.proto)
        if proto == "ip6":
            return (packet.family == "ipv6"), None
        raise Unevaluable("payload %s %s is not modelled" % (proto, field))
    if "meta" in left:
        key = left["meta"]["key"]
        if key == "l4proto":
            return True, _proto_number(packet.proto)
        if key == "nfproto":
            return True, packet.family
        if key in ("iif", "iifname"):
            return True, ("iface", packet.iif)
        if key in ("oif", "oifname"):
            return True, ("iface", packet.oif)
        raise Unevaluable("meta %s is not modelled" % key)
    if "ct" in left and left["ct"].get("key") == "state":
        return True, ("flags", packet.ct_state)
    if "fib" in left and left["fib"].get("result") == "type" and "daddr" in left["fib"].get("flags", []):
        return True, "local" if (packet.hook == "input" and packet.dst_local) else "unicast"
    raise Unevaluable("expression %s is not modelled" % json.dumps(left))


def _nft_elements(right, ruleset, family, table):
    if isinstance(right, dict) and "set" in right:
        return right["set"]
    if isinstance(right, text_type) and right.startswith("@"):
        nset = ruleset.sets.get((family, table, right[1:]))
        if nset is None:
            raise Unevaluable("named set %s not found" % right)
        return nset.get("elem", [])
    if isinstance(right, list):
        return right
    return [right]


def _nft_value_in(value, elements):
    if isinstance(value, tuple) and value[0] == "net":
        prefixes = []
        for elem in elements:
            if isinstance(elem, dict) and "elem" in elem:
                elem = elem["elem"]["val"]
            if isinstance(elem, dict) and "prefix" in elem:
                prefixes.append("%s/%s" % (elem["prefix"]["addr"], elem["prefix"]["len"]))
            elif isinstance(elem, dict) and "range" in elem:
                low, high = elem["range"]
                prefixes.extend(str(n) for n in ipaddress.summarize_address_range(
                    ipaddress.ip_address(text_type(low)), ipaddress.ip_address(text_type(high))))
            else:
                prefixes.append(str(elem))
        return _net_match(value[1], prefixes, "the address")
    if isinstance(value, tuple) and value[0] == "iface":
        return _iface_match(value[1], [str(e) for e in elements])
    if isinstance(value, tuple) and value[0] == "flags":
        return value[1] in [str(e) for e in elements]
    for elem in elements:
        if isinstance(elem, dict) and "elem" in elem:
            elem = elem["elem"]["val"]
        if isinstance(elem, dict) and "range" in elem:
            low, high = elem["range"]
            if value is not None and _as_int(low) <= value <= _as_int(high):
                return True
        elif value is not None and (elem == value or _as_proto(elem) == value):
            return True
    return False


def _as_int(value):
    return _proto_number(value) if not isinstance(value, int) else value


def _as_proto(value):
    try:
        return _proto_number(value)
    except Unevaluable:
        return None


def _nft_match(match, packet, ruleset, rule):
    applies, value = _nft_left_value(match["left"], packet)
    if not applies:
        return False
    elements = _nft_elements(match["right"], ruleset, rule["family"], rule["table"])
    result = _nft_value_in(value, elements)
    op = match.get("op", "==")
    if op in ("==", "in"):
        return result
    if op == "!=":
        return not result
    if op in ("<", ">", "<=", ">=") and isinstance(value, int):
        bound = _as_int(match["right"])
        return {"<": value < bound, ">": value > bound, "<=": value <= bound, ">=": value >= bound}[op]
    raise Unevaluable("operator %s is not modelled" % op)


NFT_NO_VERDICT = ("counter", "log", "comment", "mangle", "meta", "ct", "notrack", "quota")


def nft_walk(ruleset, key, packet, depth=0):
    """Walk chain ``key``; return (verdict or None for fall-through/return, where)."""
    if depth > 32:
        raise Unevaluable("jump depth exceeded at %s" % (key,))
    for rule in ruleset.rules.get(key, []):
        matched, unknown = True, None
        verdict = None
        for expr in rule.get("expr", []):
            name = next(iter(expr))
            if name == "match":
                try:
                    if not _nft_match(expr["match"], packet, ruleset, rule):
                        matched = False
                        break
                except Unevaluable as exc:
                    unknown = exc
                continue
            if name in NFT_NO_VERDICT:
                continue
            if name in TERMINAL or name in ("jump", "goto", "return", "continue", "vmap"):
                verdict = expr
                break
            unknown = Unevaluable("statement %s is not modelled" % name)
        if not matched:
            continue
        if unknown is not None:
            raise Unevaluable("%s (%s)" % (_nft_rule_text(rule), unknown))
        if verdict is None:
            continue
        name = next(iter(verdict))
        where = _nft_rule_text(rule)
        if name in TERMINAL:
            return name, where
        if name == "continue":
            continue
        if name == "return":
            return None, where
        target = (rule["family"], rule["table"], verdict[name]["target"]) if name != "vmap" else None
        if name == "vmap":
            raise Unevaluable("%s (verdict maps are not modelled)" % where)
        result, inner = nft_walk(ruleset, target, packet, depth + 1)
        if result in TERMINAL or name == "goto":
            return result, inner
    return None, "end of %s %s %s" % key


def nft_verdict(ruleset, packet, skip_tables=()):
    """Verdict of every nf_tables base chain on the packet's hook, in priority order."""
    for chain in ruleset.base_chains(packet.hook, packet.family, skip_tables):
        key = (chain["family"], chain["table"], chain["name"])
        verdict, where = nft_walk(ruleset, key, packet)
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

    def __init__(self, text, name="iptables"):
        self.name = name
        self.policies, self.rules = {}, {}
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
            elif line == "COMMIT" and table is not None:
                table = None
            elif line.startswith(":") and table is not None:
                fields = line[1:].split()
                if len(fields) < 2:
                    raise bad("a chain line needs a name and a policy")
                chains.add(fields[0])
                if table == "filter":
                    self.policies[fields[0]] = fields[1]
                    self.rules.setdefault(fields[0], [])
            elif line.startswith("-A ") and table is not None:
                try:
                    args = shlex.split(line)
                except ValueError as exc:
                    raise bad(exc)
                if len(args) < 3 or args[1] not in chains:
                    raise bad("a rule of an undeclared chain" if len(args) >= 3 else "an empty rule")
                if table == "filter":
                    self.rules.setdefault(args[1], []).append(args[2:])
            else:
                raise bad("outside a table" if table is None else "unknown line")
        if table is not None:
            raise RulesetParseError("%s output ends inside table %s (no COMMIT): truncated?" % (name, table))

    def in_use(self):
        """Any rule, or a policy other than ACCEPT, in the filter table."""
        return any(self.rules.values()) or any(p not in ("ACCEPT", "-") for p in self.policies.values())


NON_TERMINATING_TARGETS = ("LOG", "NFLOG", "MARK", "CONNMARK", "ULOG", "TRACE")
IGNORED_OPTIONS = {"--comment": 1, "--log-prefix": 1, "--log-level": 1, "--reject-with": 1,
                   "--limit": 1, "--limit-burst": 1, "--log-tcp-options": 0, "--log-ip-options": 0,
                   "--log-uid": 0, "--nflog-group": 1, "--nflog-prefix": 1, "--set-xmark": 1,
                   "--set-mark": 1, "--tcp-flags": 2, "--syn": 0}


def _ipt_port_match(packet, spec):
    if packet.dport is None:
        return False
    for part in spec.split(","):
        low, _sep, high = part.partition(":")
        if int(low or 0) <= packet.dport <= int(high or low or 65535):
            return True
    return False


def _ipt_rule_matches(args, packet):
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
                wanted = _proto_number(value)
                result = wanted is None or wanted == _proto_number(packet.proto)
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
                if value not in ("tcp", "udp", "multiport", "conntrack", "state", "comment", "addrtype",
                                 "limit", "sctp"):
                    raise Unevaluable("match -m %s is not modelled" % value)
                limited = limited or value == "limit"
                i += 2
            elif arg in ("--dport", "--destination-port", "--dports", "--destination-ports"):
                result = _ipt_port_match(packet, value)
                i += 2
            elif arg in ("--ctstate", "--state"):
                result = packet.ct_state.upper() in value.upper().split(",")
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


def ipt_walk(ruleset, chain, packet, depth=0):
    if depth > 32:
        raise Unevaluable("jump depth exceeded at %s" % chain)
    for args in ruleset.rules.get(chain, []):
        text = "%s: -A %s %s" % (ruleset.name, chain, " ".join(shlex.quote(a) for a in args))
        try:
            matched, target, goto, limited = _ipt_rule_matches(args, packet)
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
        if target not in ruleset.rules:
            raise Unevaluable("%s (target %s is not modelled)" % (text, target))
        verdict, where = ipt_walk(ruleset, target, packet, depth + 1)
        if verdict in TERMINAL or goto:
            return verdict, where
    return None, "end of %s chain %s" % (ruleset.name, chain)


def ipt_verdict(ruleset, packet):
    chain = "INPUT" if packet.hook == "input" else "FORWARD"
    verdict, where = ipt_walk(ruleset, chain, packet)
    if verdict is None and ruleset.policies.get(chain, "ACCEPT") == "DROP":
        return _verdict_result("drop", "%s: policy DROP of %s" % (ruleset.name, chain), chain=chain)
    if verdict in ("drop", "reject"):
        return _verdict_result(verdict, where, chain=chain)
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
        scalar = key in ("target", "forward", "masquerade", "icmp-block-inversion")
        zone[key] = value.strip() if scalar else value.strip().split()
    return zone


def parse_rich_rule(text):
    """The parts of a rich rule this evaluator models; Unevaluable for the rest."""
    tokens = shlex.split(text)
    rule = {"text": text, "priority": 0, "source": None, "source_not": False, "ports": [],
            "protocol": None, "service": None, "action": None}
    i = 1 if tokens and tokens[0] == "rule" else 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("family=") or tok.startswith("priority="):
            if tok.startswith("priority="):
                rule["priority"] = int(tok.split("=", 1)[1])
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
        elif tok in ("accept", "drop", "reject"):
            rule["action"] = tok
            i += 1
            while i < len(tokens) and tokens[i].startswith("type="):
                i += 1
        elif tok == "log" or tok == "audit":
            i += 1
            while i < len(tokens) and "=" in tokens[i]:
                i += 1
        else:
            raise Unevaluable("rich rule %r: %s is not modelled" % (text, tok))
    return rule


def _fw_port_match(packet, entries):
    for entry in entries:
        port, _sep, proto = entry.partition("/")
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


def firewalld_verdict(packet, zones, default_zone, services):
    """Input verdict of firewalld's zone model for ``packet``.

    ``zones``: name -> parsed ``--list-all``; ``services``: name -> list of "port/proto".
    """
    name = firewalld_zone_for(packet, zones, default_zone)
    zone = zones.get(name)
    if zone is None:
        raise Unevaluable("firewalld zone %s was not read" % name)
    where = "firewalld zone %s" % name
    allowed = []
    for text in zone.get("rich rules", []):
        rule = parse_rich_rule(text)
        if rule["source"] is not None:
            inside = _net_match(packet.src, [rule["source"]], "the source")
            if inside == rule["source_not"]:
                continue
        if rule["ports"] and not _fw_port_match(packet, ["%s/%s" % p for p in rule["ports"]]):
            continue
        if rule["protocol"] and _proto_number(rule["protocol"]) != _proto_number(packet.proto):
            continue
        if rule["service"] and not _fw_port_match(packet, services.get(rule["service"], [])):
            continue
        if rule["action"] in ("drop", "reject") and rule["priority"] <= 0:
            return _verdict_result(rule["action"], "%s rich rule: %s" % (where, text), zone=name)
        if rule["action"] == "accept":
            allowed.append("%s rich rule: %s" % (where, text))
    if allowed:
        return _verdict_result("accept", allowed[0])
    if _fw_port_match(packet, zone.get("ports", [])):
        return _verdict_result("accept", "%s ports" % where)
    for service in zone.get("services", []):
        if service not in services:
            raise Unevaluable("%s: service %s definition not found" % (where, service))
        if _fw_port_match(packet, services[service]):
            return _verdict_result("accept", "%s service %s" % (where, service))
    for proto in zone.get("protocols", []):
        if _proto_number(proto) == _proto_number(packet.proto):
            return _verdict_result("accept", "%s protocol %s" % (where, proto))
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
