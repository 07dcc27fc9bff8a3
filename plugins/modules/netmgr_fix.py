#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: netmgr_fix
short_description: Keep network managers off the CNI's links, routes and rules
version_added: 1.2.0
description:
  - Fixes what the C(netmgr.cni_links) check of M(podnet.doctor.node_info) finds, with files this
    collection owns (first line C(# Managed by podnet.doctor)); it never edits a foreign file.
  - NetworkManager - C(/etc/NetworkManager/conf.d/podnet-doctor.conf) appends the CNI link globs to
    C([keyfile] unmanaged-devices) (named to sort after any conf.d file that sets the key), then
    C(systemctl reload NetworkManager.service).
  - systemd-networkd - C(/etc/systemd/networkd.conf.d/podnet-doctor.conf) sets C(ManageForeignRoutes=no) and
    C(ManageForeignRoutingPolicyRules=no). networkd reads it at its next start; it is never restarted here
    (C(networkctl reload) does not re-read networkd.conf), so while the running networkd configures links the
    returned check fails and names the restart or reboot left to do. A C(.network) file with C(Unmanaged=yes) for the
    CNI globs, named to sort before a .network file that would configure a CNI link, then C(networkctl reload).
  - udev - a C(.link) file with C(MACAddressPolicy=none) for the CNI globs, named to sort before the .link
    file that rewrites their MAC (the first match wins), then C(udevadm control --reload).
  - A reload that fails is redone by the next run. Each reload of NetworkManager or networkd that succeeded is
    recorded under C(/run/podnet-doctor/reloaded/) (neither daemon leaves a trace of its reloads); the check fails
    while the running daemon started before our file changed and no reload since was recorded. udev needs no record,
    as udevd re-reads changed C(.link) files itself before it handles an event.
  - Links the node configures by name are never taken (RV(kept)) - a foreign C(.network) whose C([Match] Name=) names
    one, a NetworkManager connection's C(interface-name=), or a link holding the node address (O(node_networks)).
    The C(.network)/C(.link) globs leave them out (their exact complement), NetworkManager gets C(except:) entries.
  - nm-cloud-setup is left enabled (turning it off is the user's decision); the result names the commands.
  - Returns the C(netmgr.cni_links) check read after the change.
author: podnet.doctor developers (@podnet)
attributes:
  check_mode:
    support: full
    description: Plans and reports every file, writes nothing and reloads nothing.
  diff_mode:
    support: full
    description: Shows each file written or removed.
options:
  cni:
    description: The CNI plugin (C(custom) - only the common CNI link names); its own device names are added to the link globs.
    type: str
    default: flannel
  node_networks:
    description:
      - The networks that hold the node addresses (CIDRs); a link holding one is never taken, whatever its name.
        Empty derives them from O(peers) as M(podnet.doctor.node_info) does (the networks of this node's interfaces
        that hold a peer's address), else takes the devices of the default routes.
    type: list
    elements: str
    default: []
  peers:
    description: Addresses of the other nodes (the inventory's C(ansible_host)), used to derive O(node_networks).
    type: list
    elements: str
    default: []
  root:
    description:
      - Directory to treat as C(/). For tests over fixture trees; leave at C(/) on nodes.
    type: path
    default: /
"""

EXAMPLES = r"""
- name: Keep NetworkManager, systemd-networkd and udev off the CNI links
  podnet.doctor.netmgr_fix:
    cni: calico
  become: true
"""

RETURN = r"""
files:
  description: The owned files written (or in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/networkd.conf.d/podnet-doctor.conf]
removed:
  description: Older copies of our files under another name, removed.
  returned: always
  type: list
  elements: str
reloaded:
  description: The reload commands run.
  returned: always
  type: list
  elements: str
kept:
  description: The links a CNI glob matches that the node's own configuration names, left out of the owned files, each
    with what names it.
  returned: always
  type: list
  elements: list
  sample: [[vxlan100, "/etc/systemd/network/10-uplink.network [Match] Name=vxlan100"]]
unresolved:
  description: What this run leaves to the user (nm-cloud-setup), with the commands.
  returned: always
  type: list
  elements: str
checks:
  description: The C(netmgr.cni_links) check read after the change (same shape as M(podnet.doctor.node_info)).
  returned: always
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.doctor.plugins.module_utils import fix_lock
from ansible_collections.podnet.doctor.plugins.module_utils.argument_specs import validated_cidr
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import FixError
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import gather_boot
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import link_sysctl_checks
from ansible_collections.podnet.doctor.plugins.module_utils.network import host_networks, managers, netmgr_fix
from ansible_collections.podnet.doctor.plugins.module_utils.network.cni_catalog import CATALOG

KNOWN_CNIS = sorted(CATALOG) + ["custom"]


def build_module():
    return AnsibleModule(argument_spec=dict(cni=dict(type="str", default="flannel"),
                                            node_networks=dict(type="list", elements="str", default=[]),
                                            peers=dict(type="list", elements="str", default=[]),
                                            root=dict(type="path", default="/")),
                         supports_check_mode=True)


def main():
    module = build_module()
    if module.params["cni"] not in KNOWN_CNIS:
        module.fail_json(msg="podnet_cni=%r is not known; use one of %s" % (module.params["cni"], ", ".join(KNOWN_CNIS)))
    try:
        module.params["node_networks"] = [validated_cidr(n, "podnet_node_networks") for n in module.params["node_networks"]]
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    fix_lock.run_locked(module, fix)


def fix(module):
    root = module.params["root"]
    result = dict(changed=False, files=[], removed=[], reloaded=[], unresolved=[], kept=[])
    links = link_sysctl_checks.gather_links(lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"}),
                                            module.params["node_networks"])
    if not module.params["node_networks"] and module.params["peers"]:
        # the uplink node_info keeps: the link holding the address the peers are reached on, not the default
        # route's device (an EVPN underlay next to a management default route)
        derived = host_networks.derive_node_networks(links["addresses"], module.params["peers"])
        links["uplinks"] = link_sysctl_checks.uplinks(links["addresses"], links["routes"], derived)
    facts = managers.gather(root, module.params["cni"], gather_boot.enabled_units, links["uplinks"])
    if facts["errors"] or links["errors"]:
        # without the links we cannot tell which one holds the node address: writing could take it
        module.fail_json(msg="podnet.doctor.netmgr_fix could not read: %s (nothing was changed)"
                         % "; ".join(facts["errors"] + links["errors"]), **result)
    plan = netmgr_fix.plan_fix(root, facts)
    result.update(changed=netmgr_fix.plan_changes(plan), files=[f["path"] for f in netmgr_fix.changed_files(plan)],
                  removed=plan["remove"], unresolved=plan["unresolved"], kept=plan["kept"])
    if module._diff:
        result["diff"] = netmgr_fix.diff_entries(plan)
    if result["changed"] and not module.check_mode:
        if root == "/" and os.geteuid() != 0:
            module.fail_json(msg="podnet.doctor.netmgr_fix must run as root to write under /etc: add 'become: true' "
                                 "(nothing was changed)", **result)
        try:
            done = netmgr_fix.apply_fix(
                plan, root, run_command=lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"}),
                mover=lambda src, dest: module.atomic_move(src, dest, unsafe_writes=False))
        except (FixError, IOError, OSError) as exc:
            module.fail_json(msg="podnet.doctor.netmgr_fix: %s" % exc, **result)
        result["reloaded"] = done["reloaded"]
        for text in done["warnings"]:
            module.warn(text)
    for text in plan["unresolved"]:
        module.warn(text)
    after = {}
    result["checks"] = managers.checks(root, module.params["cni"], after, gather_boot.enabled_units, links["uplinks"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
