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

import os

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import RulesetParseError, Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import flows, iptables
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.gather_live import LEGACY_TABLE_NAMES
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import host_path, read_text, resolve_link

CHECK_ID = "iptables.backends"
EXPECTED = "rules only in the iptables backend the node's iptables command uses"
IPTABLES_PATHS = ("/usr/sbin/iptables", "/sbin/iptables", "/usr/bin/iptables", "/bin/iptables")
BACKEND_KEYS = {"legacy": "iptables_legacy", "nft": "iptables_nft"}
TABLES = ("filter", "nat", "mangle", "raw", "security")
# the binary each backend's iptables resolves to; iptables before 1.8 (CentOS 7's 1.4, Ubuntu 18.04's 1.6) has one
# xtables-multi (or iptables-multi) that only speaks the legacy x_tables API
BACKEND_BINARIES = {"legacy": ("iptables-legacy", "xtables-legacy-multi", "xtables-multi", "iptables-multi"),
                    "nft": ("iptables-nft", "xtables-nft-multi")}


def selected_backend(root):
    """(``legacy``/``nft``/None, how it was decided): what the node's ``iptables`` command is."""
    for path in IPTABLES_PATHS:
        if not os.path.lexists(host_path(root, path)):
            continue
        final = resolve_link(root, path)
        full = host_path(root, final)
        exists = os.path.exists(full) and not os.path.islink(full)  # a dangling or endless chain is no binary
        name = os.path.basename(final)
        for backend in ("legacy", "nft"):
            if exists and name in BACKEND_BINARIES[backend]:
                return backend, "%s -> %s" % (path, final)
        return None, "%s -> %s (%s)" % (path, final, "neither iptables-legacy nor iptables-nft" if exists else "missing")
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
    for flow, packet in (flows.forward_packets(facts, node_networks, pod_cidr, cni) if pod_cidr else []):
        try:
            result = flows.packet_result(backend, packet)
        except Unevaluable as exc:
            unknown.append("%s: %s" % (flow, exc))
            continue
        if result["verdict"] != "accept":
            found.append("%s by %s" % (flow, result["where"]))
    return found, unknown


def fix_text(selected, stale, both, tables=TABLES, alternative=None):
    """The commands; ``tables``: the ones the stale backend has (naming another makes the kernel create it:
    x_tables loads iptable_<name> on first use, so a flush of raw or security would add a legacy table).
    ``alternative``: the backend the node's iptables command is, when it is not ``selected`` (the kubelet's
    chains put the cluster in the other one)."""
    keep = "iptables-%s" % selected
    old = "iptables-%s" % stale
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
            "%s-restore); the same for ip6tables" % (move, old, policies, flush, old))
    if alternative not in (None, selected):
        text += ("; and point the node's iptables at what the cluster uses: update-alternatives --set iptables "
                 "/usr/sbin/%s and --set ip6tables /usr/sbin/ip6%s" % (keep, keep[2:]))
    elif not both:
        text += ("; or, when everything on the node is meant to use %s: update-alternatives --set iptables "
                 "/usr/sbin/%s and --set ip6tables /usr/sbin/ip6%s, before the kubelet and kube-proxy start"
                 % (old, old, old[2:]))
    return text + ". podnet.doctor does not do this: it is disruptive"


# The kubelet declares these in the backend it uses; kube-proxy's iptables-wrapper (and k3s's) picks the backend
# that has them, whatever the host's alternative says
KUBELET_HINT_CHAINS = ("KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY")


def has_kubelet_hint(ruleset):
    return any(chain in KUBELET_HINT_CHAINS for body in ruleset.tables.values() for chain in body["policies"])


def evaluate(facts, root, ports, node_networks, pod_cidr, cni):
    """The ``iptables.backends`` check of ``facts`` (gather_live.gather_firewall)."""
    selected, how = selected_backend(root)
    if how is None:
        return check_result(CHECK_ID, "skip", "no iptables command on the node", EXPECTED)
    if selected is None:
        return check_result(CHECK_ID, "error", "cannot tell which backend iptables uses: %s" % how, EXPECTED)
    if facts.get("errors"):
        return check_result(CHECK_ID, "error", "cannot read the firewall rulesets: %s" % "; ".join(facts["errors"]), EXPECTED)
    held, errors = {}, []
    stale = "nft" if selected == "legacy" else "legacy"
    # read only where the dump is missing: with iptables-legacy-save the dump itself says what the tables hold
    legacy_tables = (read_text(root, LEGACY_TABLE_NAMES) or "").split() if facts.get(BACKEND_KEYS["legacy"]) is None else []
    if stale == "legacy" and legacy_tables:
        # no iptables-legacy-save (an nft-only install), yet the kernel holds legacy tables (a container's
        # iptables-legacy wrote them, kubernetes#71305): their rules run and cannot be read
        return check_result(CHECK_ID, "error", "iptables is iptables-nft (%s); the kernel holds iptables-legacy tables (%s lists %s) "
                            "but iptables-legacy-save is not installed to read them" % (how, LEGACY_TABLE_NAMES, ", ".join(legacy_tables)),
                            EXPECTED, "install iptables-legacy (the package that ships iptables-legacy-save) and run the pre-flight again")
    for backend, key in sorted(BACKEND_KEYS.items()):
        if facts.get(key) is None:
            held[backend] = []
            continue
        try:
            held[backend] = holdings(flows.parsed_ruleset(facts, key))
        except RulesetParseError as exc:
            errors.append(str(exc))
    if errors:
        return check_result(CHECK_ID, "error", "cannot read %s" % "; ".join(errors), EXPECTED)
    observed = "iptables is iptables-%s (%s)" % (selected, how)
    alternative = selected
    hinted = [b for b in (selected, stale) if facts.get(BACKEND_KEYS[b]) and has_kubelet_hint(flows.parsed_ruleset(facts, BACKEND_KEYS[b]))]
    if hinted == [stale]:
        # the cluster runs in the other backend: that one is kept, the alternative's rules are the stale ones
        selected, stale = stale, selected
        observed += ("; the kubelet's chains (%s) are in iptables-%s, which kube-proxy's iptables-wrapper follows"
                     % ("/".join(KUBELET_HINT_CHAINS), selected))
    for backend in (selected, stale):
        observed += "; iptables-%s holds %s" % (backend, "; ".join(held[backend]) if held[backend] else "no rules")
    if not held[stale]:
        return check_result(CHECK_ID, "pass", observed, EXPECTED)
    ruleset = flows.parsed_ruleset(facts, BACKEND_KEYS[stale])
    drops, unknown = _drops(facts, ruleset, "iptables-%s" % stale, ports, node_networks, pod_cidr, cni)
    owned = cluster_chains(ruleset)
    fix = fix_text(selected, stale, bool(held[selected]), list(ruleset.tables), alternative)
    if drops or owned:
        if drops:
            observed += "; the kernel still runs them: iptables-%s drops %s" % (stale, "; ".join(drops))
        if owned:
            observed += ("; iptables-%s holds rules of kube-proxy or a CNI (%s), which write to iptables-%s: the old ones "
                         "still rewrite, mark or drop Service and pod traffic" % (stale, ", ".join(owned), selected))
        return check_result(CHECK_ID, "fail", observed, EXPECTED, fix)
    if unknown:
        return check_result(CHECK_ID, "error", observed + "; cannot evaluate: %s" % "; ".join(unknown), EXPECTED, fix)
    # an administrator's rules the kernel still runs, which drop no overlay or pod packet: not a pod-networking fault
    observed += ("; the kernel still runs them, and none drops an overlay or pod packet or is kube-proxy's or a CNI's")
    return check_result(CHECK_ID, "pass", observed, EXPECTED)


# chains kube-proxy, the kubelet and the CNIs create (their rules in the unused backend are left over)
CLUSTER_CHAIN_PREFIXES = ("KUBE-", "CALI-", "cali-", "FLANNEL-", "CILIUM_", "OLD_CILIUM_", "WEAVE", "ANTREA-", "KUBE-ROUTER")


def cluster_chains(ruleset):
    """Each "table chain" with rules whose name is kube-proxy's, the kubelet's or a CNI's, or
    that jumps to one."""
    found = []
    for table, body in sorted(ruleset.tables.items()):
        for chain, rules in sorted(body["rules"].items()):
            targets = [args[args.index("-j") + 1] for args in rules if "-j" in args[:-1]]
            if rules and (chain.startswith(CLUSTER_CHAIN_PREFIXES) or any(t.startswith(CLUSTER_CHAIN_PREFIXES) for t in targets)):
                found.append("%s %s" % (table, chain))
    return found
