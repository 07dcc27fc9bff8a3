# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The overlay checks: ``overlay.inbound`` and ``overlay.forward`` judge the running firewalls
(:func:`gather_live.gather_firewall`), ``overlay.boot`` what the next boot loads
(:func:`gather_boot.gather_boot`). A failing check's ``fix`` is the fixer's own plan for the
packets it names (:mod:`overlay_fix`), rendered as text: what the hint says is what
podnet.doctor.remediate runs."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import docker_forward, flows

INBOUND_EXPECTED = "every overlay port accepted from the node network"
FORWARD_EXPECTED = "forwarded pod traffic accepted"
BOOT_EXPECTED = "every overlay port accepted from the node network by the firewalls loaded at the next boot"


def _ports_text(ports):
    return ", ".join("%s/%s" % (p[1], p[0]) if p[1] else p[0] for p in ports)


def _fixer():
    """The overlay fixer's planning code, imported when a packet is dropped: a node whose firewalls pass does not
    compile it on every pre-flight (AnsiballZ ships it either way, its finder sees this import)."""
    from ansible_collections.podnet.doctor.plugins.module_utils.firewall import overlay_fix
    return overlay_fix


def _fix_text(changes, root, suffix):
    return _fixer().describe_changes(changes, root) + suffix


def evaluate_overlay(facts, ports, node_networks, pod_cidr, cni="flannel", root="/"):
    """The overlay.inbound and overlay.forward check results. ``root``: where the fix text reads the
    files the fixer would persist its rules in."""
    backends = flows.firewall_backends(facts)
    active = flows.firewalls_in_charge(facts, backends)
    legacy, nft_side = flows.parsed_ruleset(facts, "iptables_legacy"), flows.parsed_ruleset(facts, "iptables_nft")
    mixed = legacy.in_use() and bool(facts.get("iptables_nft")) and nft_side.in_use()
    notes = ["rules in both iptables-legacy and iptables-nft (mixed backends: kube-proxy and the CNI "
             "may write to the other one)"] if mixed else []
    if facts.get("errors"):
        observed = "cannot read the firewall rulesets: %s" % "; ".join(facts["errors"])
        return [check_result(check_id, "error", observed, "rulesets readable") for check_id in ("overlay.inbound", "overlay.forward")]
    return [_inbound_check(facts, ports, node_networks, backends, active, notes, root),
            _forward_check(facts, node_networks, pod_cidr, cni, backends, active, root)]


def _inbound_check(facts, ports, node_networks, backends, active, notes, root):
    if not ports:
        return check_result("overlay.inbound", "skip", "the CNI mode needs no overlay port", "-")
    if not node_networks:
        return check_result("overlay.inbound", "error", "no node network: set podnet_node_networks or put the peers in the inventory",
                            "node network known")
    dropped, unknown, changes = [], [], []
    for packet, network, desc, result, error in flows.inbound_results(facts, ports, node_networks, backends):
        if error is not None:
            unknown.append("%s (%s): cannot evaluate %s" % (packet.describe(), desc, error))
        elif result["verdict"] != "accept":
            dropped.append("%s (%s): %s by %s" % (packet.describe(), desc, result["verdict"], result["where"]))
            changes.append(_fixer().opening(facts, packet, result, network, desc))
    if dropped:
        return check_result("overlay.inbound", "fail", "; ".join(dropped + unknown + notes), INBOUND_EXPECTED,
                            _fix_text(changes, root, " (what podnet.doctor.remediate does)"), backends=active)
    if unknown:
        return check_result("overlay.inbound", "error", "; ".join(unknown + notes), INBOUND_EXPECTED, backends=active)
    backends_text = "firewalls in charge: %s" % (", ".join(active) or "none")
    return check_result("overlay.inbound", "pass", "; ".join(["%s accepted" % _ports_text(ports), backends_text] + notes),
                        INBOUND_EXPECTED, backends=active)


def _forward_check(facts, node_networks, pod_cidr, cni, backends, active, root):
    dropped, unknown, changes, packets, docker_named = [], [], [], [], False
    for name, packet in flows.forward_packets(facts, node_networks, pod_cidr, cni):
        packets.append(packet)
        try:
            result = flows.packet_result(backends, packet)
        except Unevaluable as exc:
            unknown.append("%s (%s -> %s): cannot evaluate %s" % (name, packet.iif, packet.oif, exc))
            continue
        if result["verdict"] != "accept":
            source = _docker_source(facts, result, pod_cidr)
            docker_named = docker_named or bool(source)
            dropped.append("%s (%s -> %s): %s by %s%s" % (name, packet.iif, packet.oif, result["verdict"], result["where"], source))
            changes.append(_fixer().opening(facts, packet, result, pod_cidr, "forwarded pod traffic"))
    if dropped:
        notes = [docker_forward.WHY + "; accept pod traffic in DOCKER-USER, not by changing the policy"] if docker_named else []
        return check_result("overlay.forward", "fail", "; ".join(dropped + unknown + notes), FORWARD_EXPECTED,
                            _fix_text(changes, root, " (what podnet.doctor.remediate does)"))
    if unknown:
        return check_result("overlay.forward", "error", "; ".join(unknown), FORWARD_EXPECTED)
    # Docker's DROP in force and pod traffic accepted now: what a firewalld reload, then a reboot, would take away
    for find, undecided, observed_of, direct in (
            (docker_forward.reload_gaps, "pod traffic is accepted now in Docker's DOCKER-USER, but whether the next "
             "firewall-cmd --reload keeps it cannot be evaluated", _reload_gap_text, True),
            (docker_forward.boot_gaps, "pod traffic is accepted now, but Docker sets FORWARD to DROP at its next start and what "
             "the boot restores cannot be evaluated", _boot_gap_text, False)):
        try:
            gaps = find(facts, root, pod_cidr, packets, flows.parsed_ruleset)
        except Unevaluable as exc:
            return check_result("overlay.forward", "error", "%s: %s" % (undecided, exc), FORWARD_EXPECTED)
        if gaps:
            entries = [entry for backend, _chains in gaps for entry in docker_forward.unit_entries(backend, pod_cidr, packets)]
            change = dict(commands=[], nft_lines=[], ipt_lines=[], unresolved=[], docker_user=entries, docker_direct=direct)
            return check_result("overlay.forward", "fail", "; ".join(observed_of(backend, chains) for backend, chains in gaps),
                                FORWARD_EXPECTED, _fix_text([change], root, " (what podnet.doctor.remediate does)"))
    return check_result("overlay.forward", "pass", "pod <-> pod and pod -> outside forwarded (%s)" % (", ".join(active) or "no firewall"),
                        FORWARD_EXPECTED)


def _boot_gap_text(backend, chains):
    """Pod traffic accepted now, but Docker's FORWARD DROP comes back at boot alone."""
    return ("forwarded pod traffic accepted now, but %s FORWARD policy is DROP, set by Docker (chains %s: %s), and forwarding is "
            "not on at boot, so dockerd sets DROP again; nothing adds the pod accept back after a reboot (no enabled %s, no accept "
            "in %s)" % (backend, ", ".join(chains), docker_forward.WHY, docker_forward.UNIT, docker_forward.NETFILTER_PERSISTENT_RULES))


def _reload_gap_text(backend, chains):
    """firewalld runs and its next reload flushes the DOCKER-USER accepts (Docker's policy DROP stays)."""
    return ("forwarded pod traffic accepted now in %s DOCKER-USER, but firewalld runs: a firewall-cmd --reload (or firewalld "
            "start) flushes every iptables chain, Docker re-creates DOCKER-USER empty and its FORWARD policy DROP (chains %s) "
            "stays; the accepts are not in firewalld's permanent direct rules (%s)" % (backend, ", ".join(chains), docker_forward.DIRECT_XML))


def _docker_source(facts, result, pod_cidr):
    """Why the drop is Docker's, when it is: its FORWARD policy, with Docker's chains present."""
    chains = docker_forward.docker_owned_drop(facts, result, flows.parsed_ruleset, pod_cidr)
    if not chains:
        return ""
    return ", set by Docker (chains %s)" % ", ".join(chains)


def evaluate_boot(boot, ports, node_networks, firewalld_running=False, root="/"):
    """The overlay.boot check: every overlay port admitted by what the next boot loads.
    ``firewalld_running``: whether firewalld runs now (its permanent config is then changed with
    ``firewall-cmd --permanent``, else with ``firewall-offline-cmd``), as the fixer decides."""
    if boot.get("errors"):
        return check_result("overlay.boot", "error", "cannot evaluate the boot firewall: %s" % "; ".join(boot["errors"]), BOOT_EXPECTED)
    if not ports:
        return check_result("overlay.boot", "skip", "the CNI mode needs no overlay port", "-")
    if not node_networks:
        return check_result("overlay.boot", "error", "no node network: set podnet_node_networks or put the peers in the inventory",
                            BOOT_EXPECTED)
    dropped, unknown, changes = [], [], []
    for packet, network, desc, result, error in flows.inbound_results(boot, ports, node_networks):
        if error is not None:
            unknown.append("%s (%s): cannot evaluate the boot ruleset: %s" % (packet.describe(), desc, error))
        elif result["verdict"] != "accept":
            dropped.append("%s (%s): %s at the next boot by %s" % (packet.describe(), desc, result["verdict"], result["where"]))
            changes.append(_fixer().boot_opening(boot, packet, result, network, firewalld_running, desc))
    notes = ["loaded at boot: %s" % (", ".join(boot.get("loaders") or []) or "no firewall")]
    if dropped:
        return check_result("overlay.boot", "fail", "; ".join(dropped + unknown + notes), BOOT_EXPECTED,
                            _fix_text(changes, root, " (in the boot configuration; podnet.doctor.remediate plans the change, review its diff)"))
    if unknown:
        return check_result("overlay.boot", "error", "; ".join(unknown + notes), BOOT_EXPECTED)
    return check_result("overlay.boot", "pass", "; ".join(["%s accepted after the next boot" % _ports_text(ports)] + notes), BOOT_EXPECTED)
