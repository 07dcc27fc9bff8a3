# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet_summary
type: aggregate
short_description: Print a hosts x checks table of podnet.doctor results at the end of a run
author: podnet.doctor developers (@podnet)
version_added: 1.0.0
description:
  - Collects the C(checks) returned by M(podnet.doctor.node_info), the fixers and M(podnet.doctor.verdict)
    (also when it fails the host) on every host; a later result for the same check replaces an earlier one, so a re-check
    after remediation is what is shown.
  - Hosts that were unreachable show C(error) for every check, never pass or missing.
  - Prints one line per host with a count per status, then every failing check with what
    was observed and the fix.
requirements:
  - enable it in ansible.cfg (C(callbacks_enabled = podnet.doctor.fleet_summary))
    or with C(ANSIBLE_CALLBACKS_ENABLED=podnet.doctor.fleet_summary)
"""

from ansible.plugins.callback import CallbackBase

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result

CHECK_ACTIONS = ("podnet.doctor.node_info", "node_info", "podnet.doctor.kernel_prereqs", "kernel_prereqs",
                 "podnet.doctor.overlay_firewall", "overlay_firewall", "podnet.doctor.cidr_check", "cidr_check",
                 "podnet.doctor.verdict", "verdict", "podnet.doctor.overlay_probe", "overlay_probe")
ORDER = ("fail", "error", "ignored", "skip", "pass")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "podnet.doctor.fleet_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.checks = {}
        self.unreachable = {}

    def v2_runner_on_ok(self, result):
        self._collect(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        # podnet.doctor.verdict fails the host and still carries every check
        self._collect(result)

    def _collect(self, result):
        if result._task.action in CHECK_ACTIONS and isinstance(result._result.get("checks"), list):
            # later results (a re-check after a fix) replace earlier ones, check by check
            merged = self.checks.setdefault(result._host.get_name(), {})
            for check in result._result["checks"]:
                merged[check["id"]] = check
            # a failing verdict carries only what failed and names the checks that passed
            for check_id in result._result.get("passing") or []:
                merged.setdefault(check_id, check_result(check_id, "pass", "", "named passing by the verdict"))

    def v2_runner_on_unreachable(self, result):
        self.unreachable[result._host.get_name()] = result._result.get("msg", "unreachable")

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(set(self.checks) | set(self.unreachable))
        if not hosts:
            return
        ids = []
        for checks in self.checks.values():
            for check in checks.values():
                if check["id"] not in ids:
                    ids.append(check["id"])
        lines = ["", "podnet.doctor fleet summary (%d hosts, %d checks)" % (len(hosts), len(ids))]
        width = max(len(h) for h in hosts)
        for host in hosts:
            if host in self.checks and host not in self.unreachable:
                counts = {}
                for check in self.checks[host].values():
                    counts[check["status"]] = counts.get(check["status"], 0) + 1
                verdict = "FAIL" if counts.get("fail") else "ERROR" if counts.get("error") else "ok"
                text = ", ".join("%d %s" % (counts[s], s) for s in ORDER if counts.get(s))
            else:
                verdict, text = "ERROR", "unreachable: %s" % self.unreachable[host]
            lines.append("  %-*s  %-5s  %s" % (width, host, verdict, text))
        for host in hosts:
            for check in self.checks.get(host, {}).values():
                if check["status"] in ("fail", "error"):
                    lines.append("  %s %s [%s]: %s" % (host, check["status"].upper(), check["id"],
                                                       check["observed"]))
                    if check.get("fix"):
                        lines.append("      fix: %s" % check["fix"])
        self._display.display("\n".join(lines))
