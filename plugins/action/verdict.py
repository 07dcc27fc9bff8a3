# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of podnet.doctor.verdict (documented in plugins/modules/verdict.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.podnet.doctor.plugins.module_utils.checks import apply_ignore, merged_checks

FAILING = ("fail", "error")


def failure_message(host, failing):
    return "%d pod-networking check(s) failed on %s: %s" % (len(failing), host, " ".join(
        "[%s] %s -> fix: %s." % (c["id"], c.get("observed", ""), c.get("fix", "see the report")) for c in failing))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("checks", "ignore", "fail_on_findings"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        groups = args.get("checks") or []
        if groups and isinstance(groups[0], dict):
            groups = [groups]
        host = task_vars.get("inventory_hostname")
        checks = apply_ignore(merged_checks(groups), args.get("ignore") or [])
        failing = [c for c in checks if c["status"] in FAILING]
        result.update(changed=False, host=host, checks=checks, failing=[c["id"] for c in failing])
        if failing and boolean(args.get("fail_on_findings", True), strict=False):
            # Ansible prints a failed result whole: keep it to what failed, and name the rest.
            result.update(failed=True, msg=failure_message(host, failing), checks=failing,
                          passing=[c["id"] for c in checks if c not in failing])
        return result
