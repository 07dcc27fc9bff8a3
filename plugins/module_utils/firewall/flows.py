# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The overlay's flows as packets (inbound to every overlay port from every node network, forwarded pod
traffic) and the verdict every firewall in charge gives them, in the kernel's hook order."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import firewalld, iptables, nftables
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.packet import Packet
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.ufw import ufw_loaded
from ansible_collections.podnet.doctor.plugins.module_utils.network import k8s_components
from ansible_collections.podnet.doctor.plugins.module_utils.network.host_networks import interface_for


# Interfaces pod traffic crosses on a node, per CNI: (from the pod side, to the overlay).
POD_INTERFACES = {"flannel": ("cni0", "flannel.1"), "calico": ("cali0a1b2c3d4e5", "vxlan.calico"),
                  "cilium": ("lxc0a1b2c3d4e5", "cilium_vxlan"), "weave": ("vethwepl0a1b2c3", "weave"),
                  "canal": ("cali0a1b2c3d4e5", "flannel.1"),
                  # Antrea's tunnel is inside Open vSwitch: what the host forwards goes between its
                  # gateway and the uplink (None); kube-router routes pods' packets from kube-bridge
                  "antrea": ("antrea-gw0", None), "kube-router": ("kube-bridge", None),
                  "custom": ("cni0", "overlay0")}


OUTSIDE = "198.51.100.1/32"  # TEST-NET-2: stands for "any address outside the cluster"
OUTSIDE6 = "2001:db8::1/128"  # the IPv6 documentation prefix, for an IPv6 pod CIDR


FORWARD_FLOWS = ("pod -> pod on another node", "pod on another node -> pod", "pod -> outside")


def inbound_packets(facts, ports, node_networks):
    """[(packet, network, description)]: a new flow to each overlay port from each node network."""
    packets = []
    for proto, port, desc in ports:
        for network in node_networks:
            iface, own = interface_for(facts.get("addresses", []), network)
            packets.append((Packet(proto, port, src=network, dst=own, iif=iface), network, desc))
    return packets


def port_groups(ports, node_networks):
    """Overlay ports ((protocol, port or None, description)) as one group of :func:`range_packets`."""
    return [([(proto, port, port, desc) for proto, port, desc in ports], node_networks)] if ports else []


def range_packets(facts, groups, also_mentioned=None):
    """[(probe, whole, network, description)] for every port set of ``groups`` ([(entries, networks)],
    entries (protocol, first, last or None, description)) from each of its networks: ``probe``, a single-port
    packet the evaluators judge (a range's edges and every point inside it where a rule of ``facts`` or of
    ``also_mentioned`` can change the verdict, :func:`k8s_components.probe_ports`), and ``whole``, the same
    flow over the entry's whole range: what a fixer opens when ``probe`` is dropped."""
    mentioned = None
    found = []
    for entries, networks in groups:
        for proto, first, last, desc in entries:
            if first is None or last is None or first == last:
                ports = [first]
            else:
                if mentioned is None:
                    mentioned = k8s_components.mentioned_numbers(facts)
                    mentioned.update(k8s_components.mentioned_numbers(also_mentioned) if also_mentioned else ())
                ports = [port for _proto, port, _desc in k8s_components.probe_ports([(proto, first, last, desc)], mentioned)]
            for network in networks:
                iface, own = interface_for(facts.get("addresses", []), network)
                whole = Packet(proto, first, src=network, dst=own, iif=iface, dport_last=last)
                found += [(Packet(proto, port, src=network, dst=own, iif=iface), whole, network, desc) for port in ports]
    return found


def forward_packets(facts, node_networks, pod_cidr, cni):
    """[(name, packet)]: forwarded pod traffic through this node (pod <-> pod, pod -> outside)."""
    in_if, out_if = POD_INTERFACES.get(cni, POD_INTERFACES["custom"])
    node_if = interface_for(facts.get("addresses", []), node_networks[0])[0] if node_networks else None
    out_if = out_if or node_if
    outside = OUTSIDE6 if ":" in pod_cidr else OUTSIDE
    ends = ((pod_cidr, in_if, out_if), (pod_cidr, out_if, in_if), (outside, in_if, node_if))
    return [(name, Packet("tcp", 443, src=pod_cidr, dst=dst, iif=iif, oif=oif, hook="forward", dst_local=False))
            for name, (dst, iif, oif) in zip(FORWARD_FLOWS, ends)]


def parsed_ruleset(facts, key):
    """The parsed form of ``facts[key]`` (``nft``, ``iptables_legacy``, ``iptables_nft``), parsed at
    most once per gather and kept in ``facts["parsed"]``; raises RulesetParseError."""
    parsed = facts.setdefault("parsed", {})
    if key not in parsed:
        protocols = facts.get("protocols")
        parsed[key] = (nftables.NftRuleset(facts.get(key), protocols) if key == "nft" else
                       iptables.IptablesRuleset(facts.get(key), key.replace("_", "-"), protocols))
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
            firewalld.firewalld_verdict(p, zones, fwd["default_zone"], fwd.get("services", {}), facts.get("protocols"),
                                        fwd.get("policies"))
            if p.hook == "input" else
            firewalld.firewalld_forward_verdict(p, zones, fwd["default_zone"]))))
    ipt_nft = parsed_ruleset(facts, "iptables_nft")
    if facts.get("iptables_nft") and ipt_nft.tables and not (fwd.get("running") and fwd.get("backend") == "iptables"):
        # only the tables iptables-nft-save could read: one it prints as "incompatible" (native nft
        # rules in an ip table of its name) is judged by the nftables evaluator instead
        skip += [("ip", t) for t in ipt_nft.tables]
        backends.append(("iptables-nft", lambda p: _ipt_family_verdict(facts, "iptables_nft", ipt_nft, p)))
    if facts.get("nft"):
        ruleset = parsed_ruleset(facts, "nft")
        backends.append(("nftables", lambda p: nftables.nft_verdict(ruleset, p, skip)))
    legacy = parsed_ruleset(facts, "iptables_legacy")
    if legacy.in_use() and not (fwd.get("running") and fwd.get("backend") == "iptables"):
        backends.append(("iptables-legacy", lambda p: _ipt_family_verdict(facts, "iptables_legacy", legacy, p)))
    return backends


def _ipt_family_verdict(facts, key, ruleset, packet):
    """``ruleset`` (an iptables-save dump: IPv4 only) judges an IPv4 packet; an IPv6 one crosses the
    ip6tables ruleset of the same backend (Docker's IPv6 FORWARD DROP is there), read by
    gather_firewall(ip6tables=True). Raises Unevaluable when that dump was not read."""
    if packet.src.version == 4:
        return iptables.ipt_verdict(ruleset, packet)
    key6 = key.replace("iptables", "ip6tables")
    if facts.get(key6) is None:
        why = "; ".join(facts.get("errors6") or []) or ("not read" if "errors6" not in facts else "no %s-save" % key6.replace("_", "-"))
        raise Unevaluable("IPv6 traffic crosses %s, whose ruleset could not be judged: %s" % (key6.replace("_", "-"), why))
    return iptables.ipt_verdict(parsed_ruleset(facts, key6), packet)


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
        except Unevaluable as exc:
            found.append((packet, network, desc, None, exc))
    return found
