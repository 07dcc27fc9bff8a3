#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fleet_report
short_description: Write the fleet's check results as JSON, JUnit, Prometheus and HTML reports
version_added: 1.0.0
description:
  - An action plugin that runs on the controller. Reads each host's C(podnet_report) (set by the
    C(podnet.doctor.preflight) role) and writes, into O(report_dir) - C(hosts/<host>.json) (the design's
    per-host schema), C(summary.json) (totals, per-host status, C(exit_code) 0 pass / 1 fail / 2 error),
    C(junit.xml) (one testcase per host x check), C(podnet.prom) (Prometheus textfile collector
    format, one gauge per host x check and a last-run timestamp) and C(report.html) (a hosts x checks
    grid whose failing cells show the observed value, its source and the fix).
  - A host without a report (unreachable, or failed before its checks ran) is C(error) in every file.
  - Each file is written atomically.
author: podnet.doctor developers (@podnet)
attributes:
  check_mode:
    support: full
    description: Writes the reports on the controller also in check mode; the nodes are untouched.
  diff_mode:
    support: none
    description: Reports are outputs, not managed state.
options:
  report_dir:
    description: Directory on the controller for the reports.
    type: path
    default: reports
  hosts:
    description: Hosts to report on; default the play's hosts.
    type: list
    elements: str
  report_var:
    description: The per-host variable that holds C({host, checks}); not used with O(merge).
    type: str
    default: podnet_report
  merge:
    description:
      - Build each host's report here, in one controller task, from registered results instead of O(report_var)
        - each entry a per-host variable (dotted; C({host}) stands for the host's name) holding a result with
        C(checks) or a list of checks. Later entries replace earlier ones check by check, as the final verdict of
        C(podnet.doctor.remediate) does; O(ignore) is applied.
      - A host whose first entry holds no checks (unreachable, or failed before the node was read) is C(error).
    type: list
    elements: str
    version_added: 1.1.0
  ignore:
    description: With O(merge), check IDs whose C(fail) is reported as C(ignored).
    type: list
    elements: str
    default: []
    version_added: 1.1.0
  started:
    description: When the run started (ISO 8601, UTC); default now.
    type: str
  summary_path_file:
    description:
      - A file on the controller to write the absolute path of C(summary.json) into (one line), after every
        report is written. For a caller that turns the run into an exit status (C(scripts/podnet-compliance)
        passes one in E(PODNET_SUMMARY_FILE)) without guessing where O(report_dir) pointed.
      - Empty or unset writes none.
    type: path
    version_added: 1.1.0
"""

EXAMPLES = r"""
- name: Write the reports
  podnet.doctor.fleet_report:
    report_dir: /var/lib/podnet-doctor/reports
    hosts: "{{ query('inventory_hostnames', 'k8s_nodes') }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
report_dir:
  description: Where the reports were written.
  returned: success
  type: str
files:
  description: The files written, relative to RV(report_dir).
  returned: success
  type: list
  elements: str
summary:
  description: The content of C(summary.json).
  returned: success
  type: dict
exit_code:
  description: 0 all pass, 1 any fail, 2 any error or unreachable host.
  returned: success
  type: int
unreachable_hosts:
  description: Hosts that had no report.
  returned: success
  type: list
  elements: str
"""
