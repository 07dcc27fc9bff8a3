#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: kernel_prereqs
short_description: Turn on IP forwarding and bridge netfilter, reserve the NodePort range, set rp_filter and accept_ra, now and at boot
version_added: 1.0.0
description:
  - Loads C(br_netfilter) when it is not active and lists it in a modules-load.d file this
    collection owns (skipped when the module is built into the kernel).
  - Writes a sysctl.d drop-in this collection owns with C(net.ipv4.ip_forward = 1) and
    C(net.bridge.bridge-nf-call-iptables = 1) (and the IPv6 keys for C(ipv6)), and for the C(ports) area
    C(net.ipv4.ip_local_reserved_ports) set to the NodePort range (O(nodeport_range)) plus every port the
    node already reserves now or in its own sysctl files (a write replaces the list). A run for one area
    keeps the keys the drop-in already holds for the other, and sets runtime values and resolves
    overrides for its own O(areas) only.
  - The C(rp_filter) area writes what O(cni) needs (C(rp_filter.pod_links)) - Calico
    C(net.ipv4.conf.all.rp_filter = 0); Cilium that line and C(net.ipv4.conf.lxc*.rp_filter = 0),
    C(net.ipv4.conf.cilium_*.rp_filter = 0) (globs, so udev gives links created later 0 too; the runtime
    write goes to each existing C(lxc*)/C(cilium_*) link).
  - The C(ipv6_ra) area writes C(net.ipv6.conf.<if>.accept_ra = 2) for each interface whose IPv6 default
    route comes from a router advertisement (C(ipv6.accept_ra)). Whenever a run writes IPv6 forwarding
    (C(ip_forward) with C(ipv6), or a drop-in that holds it), those lines and runtime writes are added and
    made first, whichever O(areas) were asked for - forwarding would otherwise delete those default routes
    at once and at every boot (the node would lose IPv6 reachability). When C(ip) cannot be read the run
    fails with nothing changed rather than write IPv6 forwarding blind.
  - The file is named
    so that it sorts after every other sysctl.d file that sets those keys to anything else, so
    it wins at boot; the chosen name is returned. Older copies it wrote under another name are
    removed.
  - C(/etc/sysctl.conf) is read last by C(sysctl --system), so a drop-in cannot outrank it there;
    with O(on_override=comment) the offending line is commented out (a backup is kept),
    otherwise it is reported in RV(unresolved).
  - Sets the runtime values last. Every change is planned before anything is written; a blocker
    (module blacklisted or missing, no privileges) fails the task with nothing changed.
  - Returns the check results after the change, so the caller sees the re-check.
author: podnet.doctor developers (@podnet)
extends_documentation_fragment:
  - podnet.doctor.node
attributes:
  check_mode:
    support: full
    description: Plans and reports every change, writes nothing.
  diff_mode:
    support: full
    description: Shows each file written, removed or commented, and each runtime value.
options:
  areas:
    description: Which failure modes to fix.
    type: list
    elements: str
    choices: [ip_forward, bridge_netfilter, ports, rp_filter, ipv6_ra]
    default: [ip_forward, bridge_netfilter]
  cni:
    description:
      - The CNI, for what the C(rp_filter) area writes (C(calico), C(cilium); others need nothing) and for the
        C(rp_filter.pod_links) check in RV(checks).
    type: str
    default: flannel
  node_networks:
    description:
      - The networks that hold the node addresses (CIDRs), to find the uplink(s) for C(ipv6.accept_ra); empty
        takes the devices of the default routes.
    type: list
    elements: str
    default: []
  on_override:
    description:
      - What to do about another file that sets a key to a value the check does not accept (other than 1;
        for C(net.ipv4.ip_local_reserved_ports) a list that does not cover the NodePort range).
      - C(outrank) names the drop-in to sort after it and edits no foreign file.
      - C(comment) also comments the offending lines out in files under C(/etc), keeping a backup.
    type: str
    choices: [outrank, comment]
    default: outrank
"""

EXAMPLES = r"""
- name: Make forwarding and bridge netfilter survive reboots
  podnet.doctor.kernel_prereqs:
    ip_families: [ipv4]
  become: true

- name: Only forwarding, commenting out hardening overrides under /etc
  podnet.doctor.kernel_prereqs:
    areas: [ip_forward]
    on_override: comment
  become: true

- name: What Cilium needs of rp_filter, and accept_ra = 2 where the IPv6 default route comes from an RA
  podnet.doctor.kernel_prereqs:
    areas: [rp_filter, ipv6_ra]
    cni: cilium
    ip_families: [ipv4, ipv6]
  become: true

- name: Keep the NodePort range out of the ephemeral ports (the node's own reservations are kept)
  podnet.doctor.kernel_prereqs:
    areas: [ports]
    nodeport_range: 30000-32767
  become: true
"""

RETURN = r"""
sysctl_file:
  description: The sysctl.d drop-in that holds the settings (may differ from O(sysctl_file) to outrank an override).
  returned: when a sysctl key is managed
  type: str
  sample: /etc/sysctl.d/99-zzz-podnet-doctor.conf
outranks:
  description: Foreign sysctl.d files that set a managed key to something other than 1, which the drop-in is named to sort after.
  returned: when a sysctl key is managed
  type: list
  elements: str
  sample: [/etc/sysctl.d/99-zz-cis.conf]
modprobe:
  description: The module that was (or in check mode would be) loaded.
  returned: always
  type: str
runtime:
  description: Keys whose runtime value was changed (to 1, or to the reserved port list), with the value before.
  returned: always
  type: dict
unresolved:
  description: Overrides this run could not defeat, with what to do about them.
  returned: always
  type: list
  elements: str
backups:
  description: Backup files made before editing a foreign file.
  returned: always
  type: list
  elements: str
checks:
  description:
    - The forwarding, bridge netfilter, C(ports.nodeport_reserved), C(rp_filter.pod_links) and C(ipv6.accept_ra)
      checks read after the change, for every
      kernel area whichever O(areas) were fixed (same shape as M(podnet.doctor.node_info)).
  returned: always
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.doctor.plugins.module_utils import fix_lock
from ansible_collections.podnet.doctor.plugins.module_utils.argument_specs import (
    node_argument_spec, validated_cidr, validated_owned_files)
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import FixError
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import (
    interface_sysctl, link_sysctl_checks, port_ranges, prereq_checks, prereq_fix, sysctl_boot)
from ansible_collections.podnet.doctor.plugins.module_utils.network.cni_catalog import CATALOG

KNOWN_CNIS = sorted(CATALOG) + ["custom"]


def build_module():
    spec = node_argument_spec()
    spec.update(
        areas=dict(type="list", elements="str", choices=["ip_forward", "bridge_netfilter", "ports", "rp_filter", "ipv6_ra"],
                   default=["ip_forward", "bridge_netfilter"]),
        cni=dict(type="str", default="flannel"),
        node_networks=dict(type="list", elements="str", default=[]),
        on_override=dict(type="str", choices=list(prereq_fix.OVERRIDE_POLICIES), default="outrank"),
    )
    return AnsibleModule(argument_spec=spec, supports_check_mode=True)


def main():
    module = build_module()
    if module.params["cni"] not in KNOWN_CNIS:
        module.fail_json(msg="podnet_cni=%r is not known; use one of %s" % (module.params["cni"], ", ".join(KNOWN_CNIS)))
    try:
        validated_owned_files(module.params)
        module.params["node_networks"] = [validated_cidr(n, "podnet_node_networks") for n in module.params["node_networks"]]
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    fix_lock.run_locked(module, fix)


def fix(module):
    params = module.params
    root = params["root"]
    result = dict(changed=False, unresolved=[], backups=[], runtime={}, modprobe=None)

    def run(argv):
        return module.run_command(argv, environ_update={"LC_ALL": "C"})

    links = link_sysctl_checks.gather_links(run, params["node_networks"])
    if links["errors"] and "ipv6" in params["ip_families"]:
        module.fail_json(msg="podnet.doctor.kernel_prereqs cannot tell which interfaces take their IPv6 default route "
                             "from router advertisements (%s), so it writes no IPv6 forwarding that could delete "
                             "them (nothing was changed)" % "; ".join(links["errors"]), **result)
    procps = sysctl_boot.node_procps_version(run, root, module.get_bin_path)  # which sysctl --system semantics the node's files get
    try:
        plan = prereq_fix.plan_fix(root, params["areas"], params["ip_families"], params["sysctl_file"],
                                   params["modules_file"], params["on_override"],
                                   options={"nodeport_range": params["nodeport_range"], "cni": params["cni"]},
                                   links=links, procps=procps)
    except (IOError, OSError, interface_sysctl.UnreadableSysctl) as exc:
        module.fail_json(msg="podnet.doctor.kernel_prereqs could not read the node state: %s" % exc, **result)
    result.update(changed=prereq_fix.plan_changes(plan), unresolved=plan["unresolved"],
                  runtime=plan["runtime"], modprobe=plan["modprobe"])
    if plan.get("sysctl_file"):
        result["sysctl_file"] = plan["sysctl_file"]
        result["outranks"] = plan["outranks"]
        if plan["outranks"]:
            result["msg"] = "%s is named to sort after %s, which set%s a key to something else at boot" % (
                plan["sysctl_file"], ", ".join(plan["outranks"]), "s" if len(plan["outranks"]) == 1 else "")
    if module._diff:
        result["diff"] = prereq_fix.diff_entries(plan)
    if plan["blockers"]:
        module.fail_json(msg="; ".join(plan["blockers"]) + " (nothing was changed)", **result)
    if result["changed"] and not module.check_mode:
        if root == "/" and os.geteuid() != 0:
            module.fail_json(msg="podnet.doctor.kernel_prereqs must run as root to write /etc/sysctl.d, "
                                 "/etc/modules-load.d and /proc/sys: add 'become: true' (nothing was changed)",
                             **result)
        try:
            done = prereq_fix.apply_fix(
                plan, root,
                run_command=lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"}),
                mover=lambda src, dest: module.atomic_move(src, dest, unsafe_writes=False),
                backup=module.backup_local)
        except FixError as exc:
            module.fail_json(msg=str(exc), **result)
        result["backups"] = done["backups"]
        for text in done["warnings"]:
            module.warn(text)
    # A fresh read of both kernel areas, whichever this run fixed: the drop-in it rewrote holds
    # the other area's keys too, and the role's final verdict takes these checks as the word.
    loaded = sysctl_boot.load_boot_assignments(root, procps=procps)
    facts = prereq_checks.gather_facts(root, params["ip_families"], loaded=loaded)
    result["checks"] = prereq_checks.evaluate(facts, (), params["sysctl_file"], params["modules_file"])
    result["checks"] += port_ranges.checks(root, params["nodeport_range"], params["sysctl_file"], {}, loaded)
    after = link_sysctl_checks.gather_links(run, params["node_networks"])
    result["checks"] += link_sysctl_checks.evaluate(root, params["cni"], params["ip_families"], after["addresses"],
                                                    after["routes"], params["node_networks"], loaded)[0]
    # shown by Ansible on every run, with no extra task per host in the roles
    for text in ([result["msg"]] if result.get("msg") else []) + result["unresolved"]:
        module.warn(text)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
