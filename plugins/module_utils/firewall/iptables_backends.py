# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``iptables.backends``: rules in the iptables backend the node's ``iptables`` does not use.

The kernel runs the hooks of both backends (the legacy x_tables and the nf_tables ones), so a rule
left in the backend the node's tools no longer write to still drops packets, while every tool that
lists "the" rules (``iptables -L``, kube-proxy, the CNI, an admin) sees the other one
(kubernetes#71305, kubernetes#109811; node-problem-detector's iptables-mode plugin counts the
rules of each). ``iptables`` is the Debian/RHEL alternative (``/usr/sbin/iptables`` ->
``/etc/alternatives/iptables`` -> ``iptables-nft``/``iptables-legacy`` or ``xtables-*-multi``);
the kubelet writes its canary chains with it and the kube-proxy images' iptables-wrapper follows
those. The verdict names which tables and chains hold rules in each backend. It fails when the unused
one drops an overlay or pod packet (the same evaluator as ``overlay.inbound``) or holds rules of
kube-proxy, the kubelet or a CNI (left over when they moved to the other backend: they still rewrite
Service traffic); an administrator's rules there that drop none of those pass, named. The fix is
never run: flushing a backend is disruptive, so the commands are named."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os

from ansible.module_utils.six import text_type

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import RulesetParseError, Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import flows, iptables
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.gather_live import LEGACY6_TABLE_NAMES, LEGACY_TABLE_NAMES
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.packet import Packet
from ansible_collections.podnet.doctor.plugins.module_utils.network.host_networks import interface_for
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import host_path, read_text, resolve_link

CHECK_ID = "iptables.backends"
EXPECTED = "rules only in the iptables backend the node's iptables command uses"
IPTABLES_PATHS = ("/usr/sbin/iptables", "/sbin/iptables", "/usr/bin/iptables", "/bin/iptables")
IP6TABLES_PATHS = tuple(p.replace("iptables", "ip6tables") for p in IPTABLES_PATHS)
BACKEND_KEYS = {"legacy": "iptables_legacy", "nft": "iptables_nft"}
BACKEND6_KEYS = {"legacy": "ip6tables_legacy", "nft": "ip6tables_nft"}
TABLES = ("filter", "nat", "mangle", "raw", "security")
# the binary each backend's iptables resolves to; iptables before 1.8 (CentOS 7's 1.4, Ubuntu 18.04's 1.6) has one
# xtables-multi (or iptables-multi) that only speaks the legacy x_tables API
BACKEND_BINARIES = {"legacy": ("iptables-legacy", "xtables-legacy-multi", "xtables-multi", "iptables-multi"),
                    "nft": ("iptables-nft", "xtables-nft-multi")}
BACKEND6_BINARIES = {"legacy": ("ip6tables-legacy", "xtables-legacy-multi", "xtables-multi", "ip6tables-multi"),
                     "nft": ("ip6tables-nft", "xtables-nft-multi")}


def selected_backend(root, paths=IPTABLES_PATHS, binaries=None):
    """(``legacy``/``nft``/None, how it was decided): what the node's ``iptables`` (``paths``) command is;
    ``binaries``: BACKEND_BINARIES unless given (BACKEND6_BINARIES for ip6tables)."""
    binaries = binaries or BACKEND_BINARIES
    for path in paths:
        if not os.path.lexists(host_path(root, path)):
            continue
        final = resolve_link(root, path)
        full = host_path(root, final)
        exists = os.path.exists(full) and not os.path.islink(full)  # a dangling or endless chain is no binary
        name = os.path.basename(final)
        for backend in ("legacy", "nft"):
            if exists and name in binaries[backend]:
                return backend, "%s -> %s" % (path, final)
        return None, "%s -> %s (%s)" % (path, final, "neither %s-legacy nor %s-nft" % ((os.path.basename(path),) * 2) if exists else "missing")
    return None, None


def holdings(ruleset):
    """["table chain: N rules[, policy P]"] for each chain with rules or a policy other than ACCEPT."""
    held = []
    for table, body in sorted(ruleset.tables.items()):
        for chain in sorted(set(body["rules"]) | set(body["policies"])):
            rules, policy = len(body["rules"].get(chain, [])), body["policies"].get(chain, "-")
            if rules or policy not in ("ACCEPT", "-"):
                held.append("%s %s: %d rule%s%s" % (table, chain, rules, "" if rules == 1 else "s",
                                                    "" if policy in ("ACCEPT", "-") else ", policy %s" % policy))
    return held


def _drops(facts, ruleset, name, ports, node_networks, pod_cidr, cni):
    """What the ``name`` backend alone drops of the overlay's inbound flows and the forwarded pod traffic."""
    backend = [(name, lambda p: iptables.ipt_verdict(ruleset, p))]
    found, unknown = [], []
    for packet, _network, desc, result, error in flows.inbound_results(facts, ports, node_networks, backend):
        if error is not None:
            unknown.append("%s (%s): %s" % (packet.describe(), desc, error))
        elif result["verdict"] != "accept":
            found.append("%s (%s) by %s" % (packet.describe(), desc, result["where"]))
    _tally(backend, flows.forward_packets(facts, node_networks, pod_cidr, cni) if pod_cidr else [], found, unknown)
    return found, unknown


def _tally(backend, labelled, found, unknown):
    """Adds each (label, packet) of ``labelled`` that ``backend`` drops to ``found``, or to ``unknown`` when it cannot
    be evaluated."""
    for flow, packet in labelled:
        try:
            result = flows.packet_result(backend, packet)
        except Unevaluable as exc:
            unknown.append("%s: %s" % (flow, exc))
            continue
        if result["verdict"] != "accept":
            found.append("%s by %s" % (flow, result["where"]))


def fix_text(selected, stale, both, tables=TABLES, alternative=None, tool="iptables"):
    """The commands; ``tables``: the ones the stale backend has (naming another makes the kernel create it:
    x_tables loads iptable_<name> on first use, so a flush of raw or security would add a legacy table).
    ``alternative``: the backend the node's iptables command is, when it is not ``selected`` (the kubelet's
    chains put the cluster in the other one)."""
    keep = "%s-%s" % (tool, selected)
    old = "%s-%s" % (tool, stale)
    tables = [t for t in TABLES if t in tables] + sorted(set(tables) - set(TABLES))
    flush = "; ".join("%s -t %s -F; %s -t %s -X" % (old, t, old, t) for t in tables)
    # the policies open first: flushing an INPUT DROP chain whose rules accept SSH would cut the session
    policies = "%s -P INPUT ACCEPT; %s -P FORWARD ACCEPT; %s -P OUTPUT ACCEPT; " % (old, old, old) if "filter" in tables else ""
    # never the whole dump with --noflush: its policy lines apply, and each chain it names that the kept backend
    # has (kube-proxy's, a CNI's) is flushed and refilled with the stale rules (iptables-restore, noflush)
    move = ("keep what %s holds that the node still wants: %s-save > /root/%s.rules, copy the tables, chains and "
            "rules you still want (no policy lines, none of kube-proxy's, a CNI's or Docker's chains: their owners "
            "write them in %s) into /root/%s.keep and run %s-restore --noflush < /root/%s.keep; "
            % (old, old, old, keep, old, keep, old))
    text = ("%sthen flush %s (%s%s) and stop whatever loads it at boot (a unit or script running "
            "%s-restore)" % (move, old, policies, flush, old))
    if alternative not in (None, selected):
        text += ("; and point the node's iptables at what the cluster uses: update-alternatives --set iptables "
                 "/usr/sbin/iptables-%s and --set ip6tables /usr/sbin/ip6tables-%s" % (selected, selected))
    elif not both:
        text += ("; or, when everything on the node is meant to use %s: update-alternatives --set iptables "
                 "/usr/sbin/iptables-%s and --set ip6tables /usr/sbin/ip6tables-%s, before the kubelet and kube-proxy start"
                 % (old, stale, stale))
    return text + ". podnet.doctor does not do this: it is disruptive"


# The kubelet declares these in the backend it uses; kube-proxy's iptables-wrapper (and k3s's) picks the backend
# that has them, whatever the host's alternative says
KUBELET_HINT_CHAINS = ("KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY")


def has_kubelet_hint(ruleset):
    return any(chain in KUBELET_HINT_CHAINS for body in ruleset.tables.values() for chain in body["policies"])


# what differs between the families; the judgement is the same (kube-proxy, the kubelet and the CNIs write both
# with the same backend; Debian has one alternative each: iptables and ip6tables)
FAMILIES = {
    "ipv4": {"tool": "iptables", "keys": BACKEND_KEYS, "paths": IPTABLES_PATHS, "binaries": BACKEND_BINARIES,
             "names": LEGACY_TABLE_NAMES, "errors": "errors"},
    "ipv6": {"tool": "ip6tables", "keys": BACKEND6_KEYS, "paths": IP6TABLES_PATHS, "binaries": BACKEND6_BINARIES,
             "names": LEGACY6_TABLE_NAMES, "errors": "errors6"},
}


def evaluate(facts, root, ports, node_networks, pod_cidr, cni, ip_families=("ipv4",)):
    """The ``iptables.backends`` check of ``facts`` (gather_live.gather_firewall): both families, the worse verdict.
    ``ip_families``: what the cluster uses (podnet_ip_families); the IPv6 rules are judged for dropped overlay and
    pod packets only when it has ipv6 (an IPv4-only cluster sends none), for stale cluster chains always."""
    selected, how = selected_backend(root)
    if how is None:
        return check_result(CHECK_ID, "skip", "no iptables command on the node", EXPECTED)
    v4 = _evaluate_family(facts, root, FAMILIES["ipv4"], (selected, how), None, ports, node_networks, pod_cidr, cni, True)
    gathered6 = "errors6" in facts  # gather_firewall(..., ip6tables=False) read no IPv6 dump
    if not gathered6 or not any(facts.get(key) is not None for key in BACKEND6_KEYS.values()) and not facts["errors6"]:
        if not gathered6 or not (read_text(root, LEGACY6_TABLE_NAMES) or "").split():
            # no ip6tables-*-save installed and no legacy IPv6 table: nothing more to judge
            return check_result(CHECK_ID, v4[0], v4[1], EXPECTED, v4[2])
    own6 = selected_backend(root, IP6TABLES_PATHS, BACKEND6_BINARIES)
    v6 = _evaluate_family(facts, root, FAMILIES["ipv6"], own6 if own6[1] else (selected, how), v4[3], ports,
                          [n for n in node_networks if _version(n) == 6] + _ipv6_networks(facts, node_networks),
                          None, cni, "ipv6" in (ip_families or ()))
    status = next(s for s in ("fail", "error", "pass") if s in (v4[0], v6[0]))
    fixes = ["IPv%s: %s" % (n, fam[2]) for n, fam in (("4", v4), ("6", v6)) if fam[2]]
    return check_result(CHECK_ID, status, "IPv4: %s. IPv6: %s" % (v4[1], v6[1]), EXPECTED, " | ".join(fixes) or None)


def _version(network):
    try:
        return ipaddress.ip_network(text_type(network), strict=False).version
    except ValueError:
        return None


def _ipv6_networks(facts, node_networks):
    """The global IPv6 networks of the interfaces that hold the (IPv4) node networks: a dual-stack node's peers on
    the same links (link-local fe80::/10 is never a node network)."""
    links = set(interface_for(facts.get("addresses", []), n)[0] for n in node_networks if _version(n) == 4)
    found = []
    for link in facts.get("addresses", []):
        for info in link.get("addr_info", []) if link.get("ifname") in links else []:
            try:
                net = ipaddress.ip_network(u"%s/%s" % (info.get("local"), info.get("prefixlen")), strict=False)
            except ValueError:
                continue
            if net.version == 6 and not net.is_link_local and str(net) not in found:
                found.append(str(net))
    return found


def _evaluate_family(facts, root, fam, selection, cluster, ports, node_networks, pod_cidr, cni, judge_drops):
    """(status, observed, fix, backend the kubelet's chains pin or None) of one family. ``cluster``: the backend the
    IPv4 rules' kubelet chains pinned (kube-proxy writes both families there)."""
    tool, keys = fam["tool"], fam["keys"]
    selected, how = selection
    if selected is None:
        return "error", "cannot tell which backend %s uses: %s" % (tool, how), None, None
    if facts.get(fam["errors"]):
        return "error", "cannot read the firewall rulesets: %s" % "; ".join(facts[fam["errors"]]), None, None
    held, errors = {}, []
    stale = "nft" if selected == "legacy" else "legacy"
    # read only where the dump is missing: with iptables-legacy-save the dump itself says what the tables hold
    legacy_tables = (read_text(root, fam["names"]) or "").split() if facts.get(keys["legacy"]) is None else []
    if stale == "legacy" and legacy_tables:
        # no iptables-legacy-save (an nft-only install), yet the kernel holds legacy tables (a container's
        # iptables-legacy wrote them, kubernetes#71305): their rules run and cannot be read
        return ("error", "%s is %s-nft (%s); the kernel holds %s-legacy tables (%s lists %s) but %s-legacy-save is not installed "
                "to read them" % (tool, tool, how, tool, fam["names"], ", ".join(legacy_tables), tool),
                "install iptables-legacy (the package that ships %s-legacy-save) and run the pre-flight again" % tool, None)
    for backend, key in sorted(keys.items()):
        if facts.get(key) is None:
            held[backend] = []
            continue
        try:
            held[backend] = holdings(flows.parsed_ruleset(facts, key))
        except RulesetParseError as exc:
            errors.append(str(exc))
    if errors:
        return "error", "cannot read %s" % "; ".join(errors), None, None
    observed = "%s is %s-%s (%s)" % (tool, tool, selected, how)
    alternative = selected
    hinted = [b for b in (selected, stale) if facts.get(keys[b]) and has_kubelet_hint(flows.parsed_ruleset(facts, keys[b]))]
    pinned = hinted[0] if len(hinted) == 1 else None
    if hinted == [stale] or (pinned is None and cluster == stale):
        # the cluster runs in the other backend: that one is kept, the alternative's rules are the stale ones
        selected, stale = stale, selected
        observed += ("; the kubelet's chains (%s) are in %s-%s, which kube-proxy's iptables-wrapper follows"
                     % ("/".join(KUBELET_HINT_CHAINS), "iptables" if pinned is None else tool, selected))
    for backend in (selected, stale):
        observed += "; %s-%s holds %s" % (tool, backend, "; ".join(held[backend]) if held[backend] else "no rules")
    if not held[stale]:
        return "pass", observed, None, pinned
    ruleset = flows.parsed_ruleset(facts, keys[stale])
    if not judge_drops:
        drops, unknown = [], []
    elif fam["tool"] == "iptables":
        drops, unknown = _drops(facts, ruleset, "iptables-%s" % stale, ports, node_networks, pod_cidr, cni)
    else:
        drops, unknown = _drops6(facts, ruleset, "ip6tables-%s" % stale, ports, node_networks, cni)
    owned = cluster_chains(ruleset)
    fix = fix_text(selected, stale, bool(held[selected]), list(ruleset.tables), alternative, tool)
    if drops or owned:
        if drops:
            observed += "; the kernel still runs them: %s-%s drops %s" % (tool, stale, "; ".join(drops))
        if owned:
            observed += ("; %s-%s holds rules of kube-proxy or a CNI (%s), which write to %s-%s: the old ones "
                         "still rewrite, mark or drop Service and pod traffic" % (tool, stale, ", ".join(owned), tool, selected))
        return "fail", observed, fix, pinned
    if unknown:
        return "error", observed + "; cannot evaluate: %s" % "; ".join(unknown), fix, pinned
    if not judge_drops:
        # podnet_ip_families has no ipv6: no overlay or pod packet is IPv6, so these rules drop none of them
        observed += ("; the kernel still runs them; the cluster uses no IPv6 (podnet_ip_families), so they drop no overlay "
                     "or pod packet, and none is kube-proxy's or a CNI's")
        return "pass", observed, None, pinned
    # an administrator's rules the kernel still runs, which drop no overlay or pod packet: not a pod-networking fault
    observed += ("; the kernel still runs them, and none drops an overlay or pod packet or is kube-proxy's or a CNI's")
    return "pass", observed, None, pinned


# podnet.doctor has no IPv6 pod CIDR variable: IPv6 pods are any address, so a rule on a part of it is unevaluable
# (an error naming it), never guessed
POD6 = "::/0"
OUTSIDE6 = "2001:db8::1/128"  # RFC 3849 documentation prefix: stands for "any address outside the cluster"


def _drops6(facts, ruleset, name, ports, node_networks6, cni):
    """What the ``name`` backend alone drops of IPv6 overlay packets (inbound from each IPv6 node network) and
    forwarded IPv6 pod traffic."""
    in_if, out_if = flows.POD_INTERFACES.get(cni, flows.POD_INTERFACES["custom"])
    node_if = interface_for(facts.get("addresses", []), node_networks6[0])[0] if node_networks6 else None
    out_if = out_if or node_if
    packets = []
    for proto, port, desc in ports:
        for network in node_networks6:
            iface, own = interface_for(facts.get("addresses", []), network)
            packets.append(("%s (%s)" % (Packet(proto, port, src=network).describe(), desc),
                            Packet(proto, port, src=network, dst=own, iif=iface, family="ipv6")))
    for flow, dst, iif, oif in zip(flows.FORWARD_FLOWS, (POD6, POD6, OUTSIDE6), (in_if, out_if, in_if), (out_if, in_if, node_if)):
        packets.append((flow, Packet("tcp", 443, src=POD6, dst=dst, iif=iif, oif=oif, hook="forward", family="ipv6", dst_local=False)))
    found, unknown = [], []
    _tally([(name, lambda p: iptables.ipt_verdict(ruleset, p))], packets, found, unknown)
    return found, unknown


# chains kube-proxy, the kubelet and the CNIs create (their rules in the unused backend are left over)
CLUSTER_CHAIN_PREFIXES = ("KUBE-", "CALI-", "cali-", "FLANNEL-", "CILIUM_", "OLD_CILIUM_", "WEAVE", "ANTREA-", "KUBE-ROUTER")


def _targets(rules):
    """The chains ``rules`` jump (-j) or go (-g) to."""
    return [args[i + 1] for args in rules for i, arg in enumerate(args[:-1]) if arg in ("-j", "--jump", "-g", "--goto")]


def _reachable(body):
    """The chains of one table the kernel runs: the built-in ones (those with a policy) and every chain a jump or
    goto of a chain it runs leads to. A user chain nothing jumps to holds rules no packet meets."""
    todo = [chain for chain, policy in body["policies"].items() if policy != "-"]
    seen = set(todo)
    while todo:
        for target in _targets(body["rules"].get(todo.pop(), [])):
            if target in body["policies"] and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def cluster_chains(ruleset):
    """Each "table chain" the kernel runs (reached from a built-in chain) that is kube-proxy's, the kubelet's or a
    CNI's and holds rules, or that jumps to such a chain. One nothing jumps to (its hook flushed, the chain left)
    rewrites and drops nothing: named by the holdings, not a failure; nor is a jump to an emptied one."""
    found = []
    for table, body in sorted(ruleset.tables.items()):
        reachable = _reachable(body)
        held = set(c for c in reachable if c.startswith(CLUSTER_CHAIN_PREFIXES) and body["rules"].get(c))
        for chain in sorted(reachable):
            if chain in held or any(t in held for t in _targets(body["rules"].get(chain, []))):
                found.append("%s %s" % (table, chain))
    return found
