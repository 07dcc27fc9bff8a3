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
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import FixError
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import gather_boot
from ansible_collections.podnet.doctor.plugins.module_utils.network import managers, netmgr_fix
from ansible_collections.podnet.doctor.plugins.module_utils.network.cni_catalog import CATALOG

KNOWN_CNIS = sorted(CATALOG) + ["custom"]


def build_module():
    return AnsibleModule(argument_spec=dict(cni=dict(type="str", default="flannel"),
                                            root=dict(type="path", default="/")),
                         supports_check_mode=True)


def main():
    module = build_module()
    if module.params["cni"] not in KNOWN_CNIS:
        module.fail_json(msg="podnet_cni=%r is not known; use one of %s" % (module.params["cni"], ", ".join(KNOWN_CNIS)))
    fix_lock.run_locked(module, fix)


def fix(module):
    root = module.params["root"]
    result = dict(changed=False, files=[], removed=[], reloaded=[], unresolved=[])
    facts = managers.gather(root, module.params["cni"], gather_boot.enabled_units)
    if facts["errors"]:
        module.fail_json(msg="podnet.doctor.netmgr_fix could not read: %s (nothing was changed)"
                         % "; ".join(facts["errors"]), **result)
    plan = netmgr_fix.plan_fix(root, facts)
    result.update(changed=netmgr_fix.plan_changes(plan), files=[f["path"] for f in netmgr_fix.changed_files(plan)],
                  removed=plan["remove"], unresolved=plan["unresolved"])
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
    result["checks"] = netmgr_fix.checks(root, module.params["cni"], after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
