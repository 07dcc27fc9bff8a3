# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``k8s_ports.inbound`` check: the Kubernetes component ports (:mod:`k8s_components`) and the NodePort
range accepted by the running firewalls AND by what the next boot loads (a port opened only at runtime drops
after a reboot), judged by the same evaluator as ``overlay.inbound`` (:func:`flows.range_packets`). Its fix is
the overlay fixer's plan for the same port sets (:func:`overlay_fix.plan_overlay_fix` with :func:`port_groups`),
each range opened whole: what podnet.doctor.remediate's ``k8s_ports`` area runs."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import flows
from ansible_collections.podnet.doctor.plugins.module_utils.network import k8s_components

CHECK_ID = "k8s_ports.inbound"
EXPECTED = "every Kubernetes component port accepted from the node networks and the NodePort range from its sources, now and after the next boot"


def _fixer():
    from ansible_collections.podnet.doctor.plugins.module_utils.firewall import overlay_fix
    return overlay_fix


def port_groups(node_networks, distribution, control_plane, nodeport_range, nodeport_sources, embedded_etcd=None):
    """[(entries, networks)]: the component ports from the node networks, the NodePort range (TCP and UDP) from
    ``nodeport_sources`` (None = the node networks, [] = not at all); [] for distribution ``none``."""
    if distribution == "none":
        return []
    groups = [(k8s_components.component_ports(distribution, control_plane, embedded_etcd), node_networks)]
    sources = node_networks if nodeport_sources is None else nodeport_sources
    if sources:
        groups.append((k8s_components.nodeport_ports(*nodeport_range), sources))
    return groups


def _judge(facts, groups, boot, firewalld_running, when):
    dropped, unknown, changes = [], [], []
    backends = flows.firewall_backends(facts)
    for probe, whole, network, desc in flows.range_packets(facts, groups):
        try:
            result = flows.packet_result(backends, probe)
        except Unevaluable as exc:
            unknown.append("%s (%s): cannot evaluate %s: %s" % (probe.describe(), desc, when, exc))
            continue
        if result["verdict"] != "accept":
            dropped.append("%s (%s): %s %s by %s" % (probe.describe(), desc, result["verdict"], when, result["where"]))
            # the whole range, where a probe inside it is dropped: what the fixer opens
            changes.append(_fixer().boot_opening(facts, whole, result, network, firewalld_running, desc) if boot
                           else _fixer().opening(facts, whole, result, network, desc))
    return dropped, unknown, changes


def checks(live, boot, node_networks, distribution, control_plane, nodeport_range, nodeport_sources, root="/", embedded_etcd=None):
    """[the k8s_ports.inbound result]. ``nodeport_sources``: None = the node networks, [] = no NodePort probe."""
    if distribution == "none":
        return [check_result(CHECK_ID, "skip", "podnet_k8s_distribution is none: set it (kubeadm, k3s, rke2) and the control-plane "
                             "hosts (podnet_control_plane_group or podnet_control_plane) to check the component and NodePort ports", "-")]
    errors = list(live.get("errors") or []) + list(boot.get("errors") or [])
    if errors:
        return [check_result(CHECK_ID, "error", "cannot read the firewall rulesets: %s" % "; ".join(errors), EXPECTED)]
    if not node_networks:
        return [check_result(CHECK_ID, "error", "no node network: set podnet_node_networks or put the peers in the inventory", EXPECTED)]
    groups = port_groups(node_networks, distribution, control_plane, nodeport_range, nodeport_sources, embedded_etcd)
    running = live.get("firewalld", {}).get("running")
    dropped, unknown, live_changes, boot_changes = [], [], [], []
    for facts, is_boot, when, changes in ((live, False, "now", live_changes), (boot, True, "at the next boot", boot_changes)):
        found = _judge(facts, groups, is_boot, running, when)
        dropped += found[0]
        unknown += found[1]
        changes += found[2]
    role = "control plane" if control_plane else "worker"
    notes = ["%s %s node" % (distribution, role)]
    if dropped:
        fix = "; ".join(filter(None, [_fixer().describe_changes(live_changes, root) if live_changes else "",
                                      _fixer().describe_changes(boot_changes, root) + " (boot configuration)" if boot_changes else ""]))
        return [check_result(CHECK_ID, "fail", "; ".join(dropped + unknown + notes), EXPECTED,
                             fix + " (what podnet.doctor.remediate does with k8s_ports in podnet_remediate_areas)")]
    if unknown:
        return [check_result(CHECK_ID, "error", "; ".join(unknown + notes), EXPECTED)]
    ports = sorted({("%s/%s" % (first, proto) if first == last else "%s-%s/%s" % (first, last, proto))
                    for entries, _nets in groups for proto, first, last, _d in entries})
    active = flows.firewalls_in_charge(live, flows.firewall_backends(live))
    loaders = boot.get("loaders") or []
    return [check_result(CHECK_ID, "pass", "%s accepted now (firewalls in charge: %s) and after the next boot (loaded at boot: %s); %s"
                         % (", ".join(ports), ", ".join(active) or "none", ", ".join(loaders) or "no firewall", notes[0]), EXPECTED)]
