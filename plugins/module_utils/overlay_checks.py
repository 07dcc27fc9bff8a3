# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""overlay.inbound and overlay.forward: read every ruleset once, ask each backend.

``gather_firewall(run, root)`` runs the read-only commands (``run(argv)`` returns
(rc, stdout, stderr)) and reads firewalld's service definitions under ``root``;
``evaluate_overlay(...)`` turns that into the two checks.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os
import re
import xml.etree.ElementTree as ET

from ansible.module_utils.six import text_type

from ansible_collections.podnet.doctor.plugins.module_utils import firewall_eval as fw
from ansible_collections.podnet.doctor.plugins.module_utils.cni_catalog import tool_protocol

FIREWALLD_SERVICE_DIRS = ("usr/lib/firewalld/services", "etc/firewalld/services")
# Interfaces pod traffic crosses on a node, per CNI: (from the pod side, to the overlay).
POD_INTERFACES = {"flannel": ("cni0", "flannel.1"), "calico": ("cali0a1b2c3d4e5", "vxlan.calico"),
                  "cilium": ("lxc0a1b2c3d4e5", "cilium_vxlan"), "weave": ("vethwepl0a1b2c3", "weave"),
                  "custom": ("cni0", "overlay0")}
OUTSIDE = "198.51.100.1/32"  # TEST-NET-2: stands for "any address outside the cluster"


def _tool(run, argv):
    rc, out, err = run(argv)
    return {"rc": rc, "out": out, "err": err.strip()}


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
            zone = fw.parse_list_all(block)
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


def gather_firewall(run, root="/", which=None):
    """Every ruleset and firewall state, read-only."""
    which = which or (lambda name: name)
    facts = {"errors": [], "parsed": {}}
    addr = _tool(run, ["ip", "-j", "addr", "show"])
    try:
        facts["addresses"] = json.loads(addr["out"]) if addr["rc"] == 0 and addr["out"].strip() else []
    except ValueError as exc:
        facts["addresses"] = []
        facts["errors"].append("ip -j addr show printed something that is not JSON (%s)" % exc)
    facts["protocols"] = read_protocols(root)
    for key, argv in (("nft", ["nft", "-j", "-p", "list", "ruleset"]),
                      ("iptables_legacy", ["iptables-legacy-save"]),
                      ("iptables_nft", ["iptables-nft-save"])):
        binary = which(argv[0])
        if not binary:
            facts[key] = None
            continue
        result = _tool(run, [binary] + argv[1:])
        if result["rc"] != 0:
            facts["errors"].append("%s failed (rc=%d): %s (run with become: true)"
                                   % (" ".join(argv), result["rc"], result["err"]))
            facts[key] = None
            continue
        facts[key] = result["out"]
        try:  # parsed here, once: a damaged dump is an error, never an empty ruleset
            parsed_ruleset(facts, key)
        except fw.RulesetParseError as exc:
            facts["errors"].append(str(exc))
            facts[key] = None
    firewalld = {"running": False}
    cmd = which("firewall-cmd") if process_running(root, "firewalld") else None
    if cmd:
        state = _tool(run, [cmd, "--state"])
        firewalld["running"] = state["rc"] == 0 and state["out"].strip() == "running"
        if firewalld["running"]:
            firewalld["default_zone"] = firewall_cmd_read(run, [cmd, "--get-default-zone"], facts["errors"]).strip()
            firewalld["active_zones"] = parse_active_zones(
                firewall_cmd_read(run, [cmd, "--get-active-zones"], facts["errors"]))
            firewalld["zones"] = parse_all_zones(firewall_cmd_read(run, [cmd, "--list-all-zones"], facts["errors"]))
            # policies exist since firewalld 0.9 (bullseye): an older one refuses the option and has none;
            # any other failed read is an error like the zones'
            firewalld["policies"] = parse_all_zones(
                firewall_cmd_read(run, [cmd, "--list-all-policies"], facts["errors"], unsupported_is_empty=True))
            firewalld["services"] = firewalld_services(
                root, firewalld_service_names(list(firewalld["zones"].values()) + list(firewalld["policies"].values())))
            conf = os.path.join(root, "etc/firewalld/firewalld.conf")
            backend = "nftables"
            if os.path.isfile(conf):
                with open(conf) as handle:
                    match = re.search(r"^\s*FirewallBackend\s*=\s*(\w+)", handle.read(), re.M)
                    backend = match.group(1) if match else backend
            firewalld["backend"] = backend
    facts["firewalld"] = firewalld
    facts["ufw_active"] = ufw_loaded(facts.get("iptables_nft")) or ufw_loaded(facts.get("iptables_legacy"))
    return facts


def firewall_cmd_read(run, argv, errors, unsupported_is_empty=False):
    """stdout of a read-only ``firewall-cmd`` call; on a non-zero exit, "" and an entry in
    ``errors`` naming the command and its stderr: a failed read is never an empty zone list.
    ``unsupported_is_empty``: a firewalld too old to know the option (argparse's "unrecognized
    arguments") has nothing of that kind, so "" without an error."""
    result = _tool(run, argv)
    if result["rc"] != 0 and unsupported_is_empty and "unrecognized arguments" in result["err"]:
        return ""
    if result["rc"] != 0:
        command = " ".join([os.path.basename(argv[0])] + argv[1:])
        errors.append("%s failed (rc=%d): %s" % (command, result["rc"], result["err"] or result["out"].strip()))
        return ""
    return result["out"]


def read_protocols(root):
    """The node's /etc/protocols as {name: number}: nft and iptables print protocol names from
    it, and firewalld passes names through to them (None when the file is missing)."""
    path = os.path.join(root, "etc/protocols")
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return fw.protocol_table(handle.read())


def process_running(root, name):
    """Whether a process whose command name is ``name`` runs (``/proc/*/comm`` under ``root``).

    A Python daemon started from its script (firewalld) has the script's name as comm.
    Reading /proc costs far less than asking the daemon's own CLI, which is only run
    when the daemon is there."""
    proc = os.path.join(root, "proc")
    try:
        pids = [entry for entry in os.listdir(proc) if entry.isdigit()]
    except OSError:
        return True  # cannot tell: let the daemon's CLI answer
    for pid in pids:
        try:
            with open(os.path.join(proc, pid, "comm")) as handle:
                if handle.read().strip() == name:
                    return True
        except (IOError, OSError):
            continue  # the process ended while we looked
    return False


def ufw_loaded(iptables_save):
    """ufw is active exactly when its ``ufw-user-input`` chain exists in the iptables it uses.

    That is the test ``ufw status`` itself makes (``iptables -L ufw-user-input``), read
    here from the dump already taken instead of starting ufw."""
    return bool(iptables_save) and re.search(r"^:ufw-user-input ", iptables_save, re.M) is not None


def interface_for(addresses, network):
    """(interface, own address) of the node inside ``network``, or (None, None)."""
    network = ipaddress.ip_network(text_type(network), strict=False)
    for link in addresses:
        for info in link.get("addr_info", []):
            try:
                address = ipaddress.ip_address(text_type(info.get("local", "")))
            except ValueError:
                continue
            if address in network:
                return link.get("ifname"), str(address)
    return None, None


def derive_node_networks(addresses, peers):
    """The networks of this node's interfaces that hold any peer address (the inventory)."""
    found = []
    for link in addresses:
        if link.get("ifname") == "lo":
            continue
        for info in link.get("addr_info", []):
            if "local" not in info or "prefixlen" not in info:
                continue
            net = ipaddress.ip_network(u"%s/%s" % (info["local"], info["prefixlen"]), strict=False)
            for peer in peers:
                try:
                    if ipaddress.ip_address(text_type(peer)) in net and str(net) not in found:
                        found.append(str(net))
                except ValueError:
                    continue
    return found


FORWARD_FLOWS = ("pod -> pod on another node", "pod on another node -> pod", "pod -> outside")


def inbound_packets(facts, ports, node_networks):
    """[(packet, network, description)]: a new flow to each overlay port from each node network."""
    packets = []
    for proto, port, desc in ports:
        for network in node_networks:
            iface, own = interface_for(facts.get("addresses", []), network)
            packets.append((fw.Packet(proto, port, src=network, dst=own, iif=iface), network, desc))
    return packets


def forward_packets(facts, node_networks, pod_cidr, cni):
    """[(name, packet)]: forwarded pod traffic through this node (pod <-> pod, pod -> outside)."""
    in_if, out_if = POD_INTERFACES.get(cni, POD_INTERFACES["custom"])
    node_if = interface_for(facts.get("addresses", []), node_networks[0])[0] if node_networks else None
    ends = ((pod_cidr, in_if, out_if), (pod_cidr, out_if, in_if), (OUTSIDE, in_if, node_if))
    return [(name, fw.Packet("tcp", 443, src=pod_cidr, dst=dst, iif=iif, oif=oif, hook="forward", dst_local=False))
            for name, (dst, iif, oif) in zip(FORWARD_FLOWS, ends)]


def parsed_ruleset(facts, key):
    """The parsed form of ``facts[key]`` (``nft``, ``iptables_legacy``, ``iptables_nft``), parsed at
    most once per gather and kept in ``facts["parsed"]``; raises RulesetParseError."""
    parsed = facts.setdefault("parsed", {})
    if key not in parsed:
        protocols = facts.get("protocols")
        parsed[key] = (fw.NftRuleset(facts.get(key), protocols) if key == "nft" else
                       fw.IptablesRuleset(facts.get(key), key.replace("_", "-"), protocols))
    return parsed[key]


def firewall_backends(facts):
    """[(name, verdict function)] for every firewall that is in charge of packets.

    Parses every ruleset once; pass the result to :func:`packet_result` for each packet."""
    backends, skip = [], []
    fwd = facts.get("firewalld") or {}
    if fwd.get("running"):
        skip += [("inet", "firewalld"), ("ip", "firewalld"), ("ip6", "firewalld")]
        zones = fwd.get("zones", {})
        for name, active in (fwd.get("active_zones") or {}).items():
            zones.setdefault(name, {}).setdefault("interfaces", active.get("interfaces", []))
        backends.append(("firewalld", lambda p: (
            fw.firewalld_verdict(p, zones, fwd["default_zone"], fwd.get("services", {}), facts.get("protocols"),
                                 fwd.get("policies"))
            if p.hook == "input" else
            fw.firewalld_forward_verdict(p, zones, fwd["default_zone"]))))
    ipt_nft = parsed_ruleset(facts, "iptables_nft")
    if facts.get("iptables_nft") and ipt_nft.tables and not (fwd.get("running") and fwd.get("backend") == "iptables"):
        # only the tables iptables-nft-save could read: one it prints as "incompatible" (native nft
        # rules in an ip table of its name) is judged by the nftables evaluator instead
        skip += [("ip", t) for t in ipt_nft.tables]
        backends.append(("iptables-nft", lambda p: fw.ipt_verdict(ipt_nft, p)))
    if facts.get("nft"):
        ruleset = parsed_ruleset(facts, "nft")
        backends.append(("nftables", lambda p: fw.nft_verdict(ruleset, p, skip)))
    legacy = parsed_ruleset(facts, "iptables_legacy")
    if legacy.in_use() and not (fwd.get("running") and fwd.get("backend") == "iptables"):
        backends.append(("iptables-legacy", lambda p: fw.ipt_verdict(legacy, p)))
    return backends


def firewalls_in_charge(facts, backends=None):
    """Names of the firewalls that filter packets on this node, ufw named with the iptables it rides on."""
    names = [name for name, _verdict in (backends if backends is not None else firewall_backends(facts))]
    if facts.get("ufw_active"):
        names.append("ufw (rules in %s)" % ("iptables-nft" if ufw_loaded(facts.get("iptables_nft")) else "iptables-legacy"))
    return names


def firewall_summary(facts):
    """What node_info returns about the firewalls: not the raw rulesets, which on a node with
    kube-proxy run to megabytes and would cost every run a transfer and a parse per host."""
    firewalld = facts.get("firewalld") or {}
    summary = {"in_charge": firewalls_in_charge(facts), "ufw_active": bool(facts.get("ufw_active")),
               "errors": list(facts.get("errors") or []),
               "firewalld": dict((k, firewalld[k]) for k in ("running", "default_zone", "backend", "active_zones")
                                 if k in firewalld),
               "ruleset_bytes": dict((key, len(facts[key])) for key in ("nft", "iptables_legacy", "iptables_nft")
                                     if facts.get(key) is not None)}
    return summary


def packet_result(backends, packet):
    """The first backend's result that drops or rejects (with ``backend`` set), else accept."""
    for name, verdict_of in backends:
        result = verdict_of(packet)
        if result["verdict"] != "accept":
            result["backend"] = name
            return result
    return {"verdict": "accept", "where": None, "backend": None}


def inbound_results(facts, ports, node_networks, backends=None):
    """[(packet, network, description, result, error)] for a new flow to each overlay port from each
    node network, judged by every firewall in ``facts`` (live, or the boot rulesets): ``result`` is
    :func:`packet_result`'s, or None with ``error`` the Unevaluable that stopped the evaluation.
    ``backends``: :func:`firewall_backends` of ``facts`` when the caller has them already."""
    backends = firewall_backends(facts) if backends is None else backends
    found = []
    for packet, network, desc in inbound_packets(facts, ports, node_networks):
        try:
            found.append((packet, network, desc, packet_result(backends, packet), None))
        except fw.Unevaluable as exc:
            found.append((packet, network, desc, None, exc))
    return found


def packet_verdict(backends, packet):
    """(verdict, backend, where) of :func:`packet_result`."""
    result = packet_result(backends, packet)
    return result["verdict"], result["backend"], result["where"]


def _fix_text(backend, proto, port, network, facts):
    proto = tool_protocol(proto)  # never a name /etc/protocols could map elsewhere (ipip is 94 on Debian)
    if backend == "firewalld":
        zone = (facts.get("firewalld") or {}).get("default_zone", "public")
        match = 'port port="%s" protocol="%s"' % (port, proto) if port else 'protocol value="%s"' % proto
        return ("firewall-cmd --permanent --zone=%s --add-rich-rule='rule family=\"ipv4\" source address=\"%s\" %s "
                "accept' && firewall-cmd --reload" % (zone, network, match))
    if backend == "ufw" or (backend.startswith("iptables") and facts.get("ufw_active")):
        return "ufw allow from %s to any port %s proto %s" % (network, port, proto) if port else \
            "ufw allow from %s proto %s" % (network, proto)
    if backend.startswith("iptables"):
        binary = "iptables-legacy" if backend == "iptables-legacy" else "iptables"
        match = "-p %s --dport %s" % (proto, port) if port else "-p %s" % proto
        return "%s -I INPUT -s %s %s -j ACCEPT, then persist it" % (binary, network, match)
    match = "%s dport %s" % (proto, port) if port else "meta l4proto %s" % proto
    return ("nft insert rule <family> <table> <input chain> ip saddr %s %s accept, and add it to the "
            "file /etc/nftables.conf includes" % (network, match))


def _forward_fix_text(backend, pod_cidr, facts):
    if backend == "firewalld":
        return "firewall-cmd --permanent --zone=trusted --add-source=%s && firewall-cmd --reload" % pod_cidr
    if backend.startswith("iptables") and facts.get("ufw_active"):
        return "ufw route allow from %s; ufw route allow to %s" % (pod_cidr, pod_cidr)
    if backend.startswith("iptables"):
        return "%s -I FORWARD -s %s -j ACCEPT and -d %s, then persist them" % (
            "iptables-legacy" if backend == "iptables-legacy" else "iptables", pod_cidr, pod_cidr)
    return "nft insert rule <family> <table> <forward chain> ip saddr %s accept (and ip daddr)" % pod_cidr


def evaluate_overlay(facts, ports, node_networks, pod_cidr, cni="flannel"):
    """The overlay.inbound and overlay.forward check results."""
    results = []
    backends = firewall_backends(facts)
    active = firewalls_in_charge(facts, backends)
    legacy, nft_side = parsed_ruleset(facts, "iptables_legacy"), parsed_ruleset(facts, "iptables_nft")
    mixed = legacy.in_use() and bool(facts.get("iptables_nft")) and nft_side.in_use()
    notes = ["rules in both iptables-legacy and iptables-nft (mixed backends: kube-proxy and the CNI "
             "may write to the other one)"] if mixed else []
    if facts.get("errors"):
        err = "; ".join(facts["errors"])
        for check_id in ("overlay.inbound", "overlay.forward"):
            results.append({"id": check_id, "status": "error", "expected": "rulesets readable",
                            "observed": "cannot read the firewall rulesets: %s" % err})
        return results

    if not ports:
        results.append({"id": "overlay.inbound", "status": "skip", "observed": "the CNI mode needs no overlay port",
                        "expected": "-"})
    elif not node_networks:
        results.append({"id": "overlay.inbound", "status": "error", "expected": "node network known",
                        "observed": "no node network: set podnet_node_networks or put the peers in the inventory"})
    else:
        dropped, unknown, fixes = [], [], []
        for packet, network, desc, result, error in inbound_results(facts, ports, node_networks, backends):
            if error is not None:
                unknown.append("%s (%s): cannot evaluate %s" % (packet.describe(), desc, error))
            elif result["verdict"] != "accept":
                dropped.append("%s (%s): %s by %s" % (packet.describe(), desc, result["verdict"], result["where"]))
                fixes.append(_fix_text(result["backend"], packet.proto, packet.dport, network, facts))
        backends_text = "firewalls in charge: %s" % (", ".join(active) or "none")
        if dropped:
            results.append({"id": "overlay.inbound", "status": "fail", "observed": "; ".join(dropped + unknown + notes),
                            "expected": "every overlay port accepted from the node network",
                            "fix": " ; ".join(fixes) + " (podnet.doctor.remediate opens exactly these)",
                            "backends": active})
        elif unknown:
            results.append({"id": "overlay.inbound", "status": "error", "observed": "; ".join(unknown + notes),
                            "expected": "every overlay port accepted from the node network", "backends": active})
        else:
            results.append({"id": "overlay.inbound", "status": "pass",
                            "observed": "; ".join(["%s accepted" % ", ".join(
                                "%s/%s" % (p[1], p[0]) if p[1] else p[0] for p in ports), backends_text] + notes),
                            "expected": "every overlay port accepted from the node network", "backends": active})

    dropped, unknown, droppers = [], [], []
    for name, packet in forward_packets(facts, node_networks, pod_cidr, cni):
        try:
            verdict, backend, where = packet_verdict(backends, packet)
        except fw.Unevaluable as exc:
            unknown.append("%s (%s -> %s): cannot evaluate %s" % (name, packet.iif, packet.oif, exc))
            continue
        if verdict != "accept":
            dropped.append("%s (%s -> %s): %s by %s" % (name, packet.iif, packet.oif, verdict, where))
            droppers.append(backend)
    if dropped:
        results.append({"id": "overlay.forward", "status": "fail", "observed": "; ".join(dropped + unknown),
                        "expected": "forwarded pod traffic accepted",
                        "fix": "; ".join(sorted(set(_forward_fix_text(b, pod_cidr, facts) for b in droppers)))
                        + " (podnet.doctor.remediate does this)"})
    elif unknown:
        results.append({"id": "overlay.forward", "status": "error", "observed": "; ".join(unknown),
                        "expected": "forwarded pod traffic accepted"})
    else:
        results.append({"id": "overlay.forward", "status": "pass", "expected": "forwarded pod traffic accepted",
                        "observed": "pod <-> pod and pod -> outside forwarded (%s)" % (", ".join(active) or "no firewall")})
    return results
