# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""firewalld: its CLI's zone and policy listings, service definitions, and the verdict of zones, policies and rich rules."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shlex

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.packet import net_match, port_match, verdict_result
from ansible_collections.podnet.doctor.plugins.module_utils.network.protocols import rule_protocol_number


FIREWALLD_SERVICE_DIRS = ("usr/lib/firewalld/services", "etc/firewalld/services")


def parse_active_zones(text):
    zones, current = {}, None
    for line in (text or "").splitlines():
        if line and not line.startswith(" "):
            current = line.split()[0]
            zones[current] = {"interfaces": [], "sources": []}
        elif current and ":" in line:
            key, _sep, value = line.strip().partition(":")
            zones[current][key.strip()] = value.split()
    return zones


def parse_all_zones(text):
    """``firewall-cmd --list-all-zones``: blocks separated by blank lines."""
    zones = {}
    for block in re.split(r"\n\s*\n", (text or "").strip()):
        if block.strip():
            zone = parse_list_all(block)
            zones[zone["name"]] = zone
    return zones


def firewalld_service_names(zones):
    """The service names that firewalld ``zones`` (or policies) use, in their services and rich rules."""
    names = set()
    for zone in zones:
        names.update(zone.get("services", []))
        for rich in zone.get("rich rules", []):
            names.update(re.findall(r'service name="?([\w.-]+)"?', rich))
    return sorted(names)


def firewalld_services(root, names):
    """Service name -> ["port/proto", ...] from firewalld's XML (/etc overrides /usr/lib)."""
    # imported here: only a node with firewalld has services to read, and the XML parser costs every
    # other node's pre-flight ~1.5 ms of imports
    import xml.etree.ElementTree as ET
    services = {}
    for rel in FIREWALLD_SERVICE_DIRS:
        directory = os.path.join(root, rel)
        for name in names:
            path = os.path.join(directory, name + ".xml")
            if not os.path.isfile(path):
                continue
            try:
                tree = ET.parse(path)
            except ET.ParseError:
                continue
            services[name] = ["%s/%s" % (p.get("port"), p.get("protocol"))
                              for p in tree.getroot().findall("port")]
            services[name] += ["%s" % p.get("value") for p in tree.getroot().findall("protocol")]
    return services


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
            if rule_protocol_number(port, protocols) == packet.proto_number:
                return True
            continue
        if proto == packet.proto and packet.dport is not None and port_match(packet, port.replace("-", ":")):
            return True
    return False


def firewalld_zone_for(packet, zones, default_zone):
    """Source-bound zones first, then the interface's zone, then the default zone."""
    for name, zone in sorted(zones.items()):
        if zone.get("sources") and net_match(packet.src, zone["sources"], "the source"):
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
        inside = net_match(packet.src, [rule["source"]], "the source")
        if inside == rule["source_not"]:
            return False
    if rule["ports"] and not _fw_port_match(packet, ["%s/%s" % p for p in rule["ports"]]):
        return False
    if rule["protocol"] and rule_protocol_number(rule["protocol"], protocols) != packet.proto_number:
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
        if rule_protocol_number(proto, protocols) == packet.proto_number:
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
            return verdict_result("accept", rule_where)
        if verdict in ("drop", "reject"):
            result = verdict_result(verdict, rule_where, zone=name)
            if target_owner[0] == "policy":
                result["policy"] = target_owner[1]
            return result
    target = zone.get("target", "default")
    if target == "ACCEPT":
        return verdict_result("accept", "%s target ACCEPT" % where)
    return verdict_result("drop" if target == "DROP" else "reject",
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
        return verdict_result("accept", "firewalld zone %s target ACCEPT" % zin)
    if zone.get("forward") == "yes":
        if packet.oif and packet.oif in zone.get("interfaces", []):
            return verdict_result("accept", "firewalld zone %s forwards to its interface %s" % (zin, packet.oif))
        if zone.get("sources") and packet.dst is not None and \
                net_match(packet.dst, zone["sources"], "the destination"):
            return verdict_result("accept", "firewalld zone %s forwards to its sources" % zin)
    return verdict_result("reject", "firewalld zone %s (forward %s, target %s): %s is not bound to it, so "
                          "forwarding %s -> %s is rejected" % (zin, zone.get("forward", "no"), zone.get("target", "default"),
                                                               packet.oif, packet.iif, packet.oif), zone=zin)
