#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: overlay_firewall
short_description: Open the CNI's overlay ports and the Kubernetes component ports in the firewall that drops them
version_added: 1.0.0
description:
  - Evaluates every firewall in charge (nftables, iptables-nft, iptables-legacy, firewalld, ufw)
    for every overlay port of the CNI from every node network, and forwarded pod traffic, like
    M(podnet.doctor.node_info) does.
  - For each packet that is dropped, adds the narrowest accept in the backend, chain or zone
    that dropped it, with the node network (for forwarding, the pod CIDR) as source, both now
    and for the next boot. See C(plugins/module_utils/firewall/overlay_fix.py) for each backend's method.
  - Never changes a policy, flushes, removes a rule, or enables or disables a firewall; the rule
    that lets SSH in is never touched. Foreign files it must extend (C(/etc/nftables.conf),
    C(/etc/iptables/rules.v4)) are backed up first.
  - What the next boot loads is evaluated too (see C(overlay.boot) in M(podnet.doctor.node_info)) - a port
    accepted now but dropped by the boot configuration (opened by hand at runtime only, or a firewall enabled
    at boot but stopped now) is opened in the boot configuration only.
  - Where the drop is Docker's FORWARD policy DROP (dockerd sets it at every start when it turned on
    C(ip_forward) itself), pod traffic is accepted in C(DOCKER-USER), the chain Docker keeps for users, each
    accept tied to the interfaces pod traffic crosses (so Docker's bridges and unpublished container ports stay
    Docker's) and placed just above the chain's final C(RETURN) (below the administrator's own rules); IPv6 pod
    CIDRs with C(ip6tables). C(/etc/systemd/system/podnet-doctor-docker-user.service), enabled for
    C(docker.service), adds the accepts back after every dockerd start (the tables are empty after a reboot);
    when firewalld runs they also go to its permanent direct rules, as a C(firewall-cmd --reload) flushes
    every iptables chain. Docker's own chains and the FORWARD policy are never changed.
  - With O(k8s_distribution) set, the Kubernetes component ports of C(k8s_ports.inbound) (kubelet, and on the control
    plane the apiserver, etcd, scheduler, controller-manager or supervisor) are opened from the node networks and the
    NodePort range, TCP and UDP, from O(nodeport_sources), by the same steps; a range is opened whole, in each backend's
    range syntax (firewalld and nftables C(30000-32767), iptables and ufw C(30000:32767) with its protocol).
  - A ruleset it cannot evaluate, now or at boot, fails the task before anything is changed.
author: podnet.doctor developers (@podnet)
extends_documentation_fragment:
  - podnet.doctor.overlay
attributes:
  check_mode:
    support: full
    description: Plans every command and file change and reports them; changes nothing.
  diff_mode:
    support: full
    description: Shows every file it would write and every command it would run.
options:
  forward:
    description: Also open forwarded pod traffic (C(overlay.forward)).
    type: bool
    default: true
  overlay:
    description:
      - Open the overlay ports (and, with O(forward), forwarded pod traffic). V(false) opens only the Kubernetes ports
        (podnet.doctor.remediate's C(k8s_ports) area without its C(overlay_firewall) area); the overlay checks are
        still returned.
    type: bool
    default: true
  k8s_distribution:
    description:
      - The distribution whose component ports are opened (see M(podnet.doctor.node_info)); V(none) opens none and
        returns no C(k8s_ports.inbound).
    type: str
    choices: [kubeadm, k3s, rke2, none]
    default: none
  control_plane:
    description: Whether this host runs the control plane; wins over O(control_plane_group) when set.
    type: bool
  control_plane_group:
    description: The inventory group of control-plane hosts, looked up in O(group_names).
    type: str
    default: kube_control_plane
  group_names:
    description: The host's inventory groups (the play's C(group_names)).
    type: list
    elements: str
    default: []
  embedded_etcd:
    description: Whether etcd runs on the control-plane nodes; unset takes the distribution's default.
    type: bool
  nodeport_range:
    description: The cluster's NodePort range, as kube-apiserver's C(--service-node-port-range) takes it.
    type: str
    default: 30000-32767
  nodeport_sources:
    description: The IPv4 networks the NodePort range is opened from (an IPv6 one is refused); unset is the node networks, V([]) opens none.
    type: list
    elements: str
  root:
    description:
      - Directory to treat as C(/) for the files read and written. For tests over fixture trees;
        leave at C(/) on nodes.
    type: path
    default: /
"""

EXAMPLES = r"""
- name: Open flannel VXLAN to the node network wherever a firewall drops it
  podnet.doctor.overlay_firewall:
    cni: flannel
    cni_mode: vxlan
    node_networks: [192.168.77.0/24]
  become: true

- name: Open only the kubeadm worker ports and the NodePort range to the node network
  podnet.doctor.overlay_firewall:
    overlay: false
    k8s_distribution: kubeadm
    control_plane: false
    node_networks: [192.168.77.0/24]
  become: true
"""

RETURN = r"""
openings:
  description: What was dropped and is (or in check mode would be) opened.
  returned: always
  type: list
  elements: str
commands:
  description: The commands run (or that would run), as argument lists.
  returned: always
  type: list
  elements: list
unresolved:
  description: What could not be made to survive a reboot, and what to do about it.
  returned: always
  type: list
  elements: str
backups:
  description: Backups of foreign files made before editing them.
  returned: always
  type: list
  elements: str
checks:
  description: C(overlay.inbound), C(overlay.forward) and C(overlay.boot) after the change, and C(k8s_ports.inbound) with O(k8s_distribution).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.doctor.plugins.module_utils import fix_lock
from ansible_collections.podnet.doctor.plugins.module_utils.argument_specs import overlay_argument_spec, validated_overlay_params
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import CatalogError, Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import firewalld, gather_boot, gather_live, k8s_ports_checks, overlay_checks, overlay_fix
from ansible_collections.podnet.doctor.plugins.module_utils.kernel.port_ranges import parse_nodeport_range
from ansible_collections.podnet.doctor.plugins.module_utils.network import host_networks, k8s_components
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import write_atomic


def build_module():
    spec = overlay_argument_spec()
    spec.update(forward=dict(type="bool", default=True), root=dict(type="path", default="/"), overlay=dict(type="bool", default=True),
                nodeport_range=dict(type="str", default="30000-32767"))
    spec.update(k8s_components.argument_spec())
    return AnsibleModule(argument_spec=spec, supports_check_mode=True)


def main():
    fix_lock.run_locked(build_module(), fix)


def fix(module):
    params = module.params
    root = params["root"]
    result = dict(changed=False, openings=[], commands=[], unresolved=[], backups=[])
    try:
        ports, pod_cidr, node_networks = validated_overlay_params(params)
        nodeport_sources = k8s_components.validated_sources(params["nodeport_sources"])
        nodeport_range = parse_nodeport_range(params["nodeport_range"])
    except (CatalogError, ValueError) as exc:
        module.fail_json(msg=str(exc), **result)

    def run(argv):
        return module.run_command(argv, environ_update={"LC_ALL": "C"})

    def gather_live_rules():
        # IPv6 packets cross ip6tables, not the iptables dumps: read them only when the overlay has an IPv6 network
        ipv6 = any(":" in str(network) for network in [pod_cidr] + list(node_networks))
        return gather_live.gather_firewall(run, root, module.get_bin_path, ip6tables=ipv6)

    def gather_boot_rules(live):
        return gather_boot.gather_boot(run, root, module.get_bin_path, live["addresses"])

    facts = gather_live_rules()
    boot = gather_boot_rules(facts)
    if boot["errors"]:
        facts["errors"] = facts["errors"] + ["boot configuration: %s" % e for e in boot["errors"]]
    if facts["errors"]:
        module.fail_json(msg="cannot read the firewall rulesets: %s; nothing was changed"
                         % "; ".join(facts["errors"]), **result)
    if not node_networks:
        node_networks = host_networks.derive_node_networks(facts["addresses"], params["peers"])
    if not node_networks:
        module.fail_json(msg="no node network: set podnet_node_networks or put the peers in the inventory; "
                             "nothing was changed", **result)
    permanent = None
    if (facts.get("firewalld") or {}).get("running"):
        errors = []
        out = gather_live.firewall_cmd_read(
            run, [module.get_bin_path("firewall-cmd", required=True), "--permanent", "--list-all-zones"], errors)
        if errors:
            module.fail_json(msg="cannot read firewalld's permanent configuration: %s; nothing was changed"
                             % "; ".join(errors), **result)
        permanent = firewalld.parse_all_zones(out)
    control_plane = k8s_components.is_control_plane(params["control_plane"], params["group_names"], params["control_plane_group"])
    groups = k8s_ports_checks.port_groups(node_networks, params["k8s_distribution"], control_plane, nodeport_range,
                                          nodeport_sources, params["embedded_etcd"])
    try:
        plan = overlay_fix.plan_overlay_fix(facts, ports if params["overlay"] else [], node_networks, pod_cidr, params["cni"], root,
                                            params["forward"] and params["overlay"], permanent, boot, groups)
    except Unevaluable as exc:
        module.fail_json(msg="refusing to change a ruleset that cannot be evaluated: %s; nothing was changed"
                         % exc, **result)
    except ValueError as exc:
        module.fail_json(msg="%s; nothing was changed" % exc, **result)
    changed_files = dict((path, entry) for path, entry in plan["files"].items() if entry["before"] != entry["after"])
    result.update(openings=plan["openings"], commands=plan["commands"], unresolved=plan["unresolved"],
                  changed=bool(plan["commands"] or changed_files))
    if module._diff:
        result["diff"] = [{"before_header": path, "after_header": path, "before": entry["before"] or "",
                           "after": entry["after"]} for path, entry in sorted(changed_files.items())]
        if plan["commands"]:
            result["diff"].append({"before_header": "commands", "after_header": "commands", "before": "",
                                   "after": "".join(" ".join(c) + "\n" for c in plan["commands"])})
    if result["changed"] and not module.check_mode:
        # Boot-time state first, runtime last: the checks judge the runtime ruleset, so if this
        # run is killed part-way, a port that is open now is also open after a reboot, and one
        # that is not open makes the next run's check fail and this fixer run again.
        for path, entry in sorted(changed_files.items()):
            target = module.params["root"].rstrip("/") + path
            if entry.get("backup"):
                result["backups"].append(module.backup_local(target))
            write_atomic(target, entry["after"], 0o644 if entry.get("owned") else None,
                         lambda src, dest: module.atomic_move(src, dest, unsafe_writes=False))
        for argv in overlay_fix.boot_state_first(plan["commands"]):
            binary = module.get_bin_path(argv[0], required=True)
            rc, out, err = run([binary] + argv[1:])
            if rc != 0:
                module.fail_json(msg="%s failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()), **result)
        facts = gather_live_rules()
        boot = gather_boot_rules(facts)
    result["checks"] = overlay_checks.evaluate_overlay(facts, ports, node_networks, pod_cidr, params["cni"], root)
    result["checks"].append(overlay_checks.evaluate_boot(boot, ports, node_networks, facts["firewalld"].get("running"), root))
    if groups:
        result["checks"] += k8s_ports_checks.checks(facts, boot, node_networks, params["k8s_distribution"], control_plane, nodeport_range,
                                                    nodeport_sources, root, params["embedded_etcd"])
    for text in result["unresolved"]:
        module.warn(text)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
