# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one shape of a check result, its statuses, ``podnet_ignore``, and the per-host report schema.

A result is a dict, as the per-host JSON report holds it: ``id``, ``status``, ``observed``,
``expected``, and ``fix`` when there is one; a check may add fields of its own (``backends``).
Every check in the collection builds its result with :func:`check_result`."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

# pass, fail, skip (not applicable, with the reason), error (could not be determined, with the
# reason: never a silent pass); ignored is a fail named in podnet_ignore, still reported
STATUSES = ("pass", "fail", "error", "skip", "ignored")
# the per-host JSON report (hosts/<host>.json); the design document shows an example
REPORT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "podnet.doctor per-host report",
    "type": "object",
    "required": ["host", "collection_version", "started", "checks"],
    "additionalProperties": False,
    "properties": {
        "host": {"type": "string", "minLength": 1},
        "collection_version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+"},
        "started": {"type": "string", "format": "date-time"},
        "checks": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "status", "observed", "expected"],
            "properties": {
                "id": {"type": "string", "pattern": r"^[a-z_]+\.[a-z_]+$"},
                "status": {"enum": list(STATUSES)},
                "observed": {"type": "string"},
                "expected": {"type": "string"},
                "fix": {"type": "string"},
            }}},
    },
}


def check_result(check_id, status, observed, expected, fix=None, **extra):
    """One check's result. ``fix`` is left out when there is none."""
    if status not in STATUSES:
        raise ValueError("check %s: status %r is not one of %s" % (check_id, status, ", ".join(STATUSES)))
    result = {"id": check_id, "status": status, "observed": observed, "expected": expected}
    if fix:
        result["fix"] = fix
    result.update(extra)
    return result


def apply_ignore(results, ignore):
    """``podnet_ignore``: a failing check is reported as ``ignored``."""
    for result in results:
        if result["status"] == "fail" and result["id"] in ignore:
            result["status"] = "ignored"
    return results


def merged_checks(groups):
    """One list of checks from several lists (a first read, then a fixer's re-read): a later
    result for an ID replaces the earlier one, in the order the IDs first appeared."""
    order, by_id = [], {}
    for group in groups:
        for check in group or []:
            if check["id"] not in by_id:
                order.append(check["id"])
            by_id[check["id"]] = dict(check)
    return [by_id[check_id] for check_id in order]
