#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: verdict
short_description: A host's pod-networking checks in one report, and the host failed when one fails
version_added: 1.1.0
description:
  - An action plugin; nothing runs on the node. It takes the check results of a host from
    M(podnet.doctor.node_info), the C(host) entry of M(podnet.doctor.cidr_check)'s fleet step and
    the fixers, merges them (a later result for a check ID replaces an earlier one, so a re-check
    after a fix wins), applies O(ignore), and fails the host naming each failing check, what was
    observed and the fix.
  - Register it as C(podnet_report); M(podnet.doctor.fleet_report) and the
    C(podnet.doctor.fleet_summary) callback read it. Being registered, not a fact, a report never
    outlives its run through a fact cache.
  - One controller task per host instead of three (select, set_fact, assert) keeps the pre-flight
    close to the cost of one round trip per host.
author: podnet.doctor developers (@podnet)
extends_documentation_fragment:
  - podnet.doctor.attributes.read_only
  - podnet.doctor.checks
options:
  checks:
    description: A list of check results, or a list of such lists (merged in order).
    type: list
    elements: raw
    required: true
  fail_on_findings:
    description: Fail the host when a check is C(fail) or C(error); C(false) only reports.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: One report per host; fail the host when a check fails
  podnet.doctor.verdict:
    checks:
      - "{{ podnet_node_info.checks }}"
      - "{{ podnet_cidr_fleet.per_host[inventory_hostname] }}"
    ignore: "{{ podnet_ignore }}"
  register: podnet_report
"""

RETURN = r"""
host:
  description: The inventory name of the host.
  returned: always
  type: str
  sample: node1
checks:
  description:
    - The merged check results, after O(ignore), each as M(podnet.doctor.node_info) returns it (C(id),
      C(status), C(observed), C(expected), C(fix)).
    - When it fails the host, only the failing ones (Ansible prints a failed result whole); the
      others are named in RV(passing). Report runs use O(fail_on_findings=false) and get every check.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "overlay.inbound", "status": "fail", "observed": "8472/udp from 192.168.77.0/24: drop by ...",
            "expected": "every overlay port accepted from the node network"}]
passing:
  description: IDs of the checks not in RV(checks) because the host failed on the others.
  returned: when it fails the host
  type: list
  elements: str
  sample: [ip_forward.runtime, overlay.inbound]
failing:
  description: IDs of the checks that are C(fail) or C(error).
  returned: always
  type: list
  elements: str
  sample: [ip_forward.boot]
"""
