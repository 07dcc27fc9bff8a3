# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet reports from per-host check results: JSON, JUnit, Prometheus, HTML.

Controller side only (the podnet.doctor.fleet_report action): report.html comes from
templates/report.html.j2 with autoescape on, junit.xml from xml.etree.

``fleet_reports(reports, unreachable, version, started)`` returns {file name: text};
every writer is a pure function so tests can parse what they produce. A host with no
report (unreachable, or its checks never ran) is ``error`` everywhere, never missing.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import xml.etree.ElementTree as ET

import jinja2

from ansible_collections.podnet.doctor.plugins.module_utils.checks import STATUSES, check_result

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
# status -> (JUnit element, the testsuite counter it adds to)
JUNIT_ELEMENTS = {"fail": ("failure", "failures"), "error": ("error", "errors")}
HTML_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")),
    autoescape=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def host_reports(reports, unreachable, version, started):
    """{host: report} in the design's schema; unreachable hosts get one error per known check."""
    known = []
    for report in reports.values():
        for check in report.get("checks", []):
            if check["id"] not in known:
                known.append(check["id"])
    out = {}
    for host, report in sorted(reports.items()):
        checks = [dict((k, (str(v) if k in ("observed", "expected", "fix") else v)) for k, v in c.items()
                       if k in ("id", "status", "observed", "expected", "fix")) for c in report.get("checks", [])]
        out[host] = {"host": host, "collection_version": version, "started": started, "checks": checks}
    for host, why in sorted(unreachable.items()):
        out[host] = {"host": host, "collection_version": version, "started": started, "checks": [
            check_result(check_id, "error", "not checked: %s" % why, "host reachable") for check_id in (known or ["host.reachable"])]}
    return out


def summary(hosts):
    totals = dict((s, 0) for s in STATUSES)
    per_host = {}
    for host, report in hosts.items():
        counts = dict((s, 0) for s in STATUSES)
        for check in report["checks"]:
            counts[check["status"]] += 1
            totals[check["status"]] += 1
        per_host[host] = {"status": "error" if counts["error"] else "fail" if counts["fail"] else "pass",
                          "counts": counts}
    exit_code = EXIT_ERROR if totals["error"] else EXIT_FAIL if totals["fail"] else EXIT_PASS
    return {"hosts": per_host, "totals": totals, "exit_code": exit_code,
            "result": {EXIT_PASS: "pass", EXIT_FAIL: "fail", EXIT_ERROR: "error"}[exit_code]}


def junit(hosts):
    """One testcase per host x check; fail -> failure, error -> error, skip/ignored -> skipped.

    Laid out as the hand-written file was (one testcase per line, the detail as element text)
    so diffs between runs stay readable."""
    cases = []
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for host, report in sorted(hosts.items()):
        for check in report["checks"]:
            counts["tests"] += 1
            case = ET.Element("testcase", {"classname": "podnet.doctor.%s" % host, "name": check["id"]})
            detail = "observed: %s\nexpected: %s%s" % (check["observed"], check["expected"],
                                                       "\nfix: %s" % check["fix"] if check.get("fix") else "")
            if check["status"] in JUNIT_ELEMENTS:
                tag, counter = JUNIT_ELEMENTS[check["status"]]
                counts[counter] += 1
                ET.SubElement(case, tag, {"message": check["observed"]}).text = detail
            elif check["status"] in ("skip", "ignored"):
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", {"message": "%s: %s" % (check["status"], check["observed"])})
            cases.append(case)
    totals = [(key, str(counts[key])) for key in ("tests", "failures", "errors", "skipped")]
    root = ET.Element("testsuites", dict([("name", "podnet.doctor")] + totals))
    suite = ET.SubElement(root, "testsuite", dict([("name", "podnet.doctor")] + totals))
    root.text, suite.tail = "\n  ", "\n"
    suite.text = "\n    " if cases else "\n\n  "
    for case in cases:
        case.tail = "\n    "
        suite.append(case)
    if cases:
        cases[-1].tail = "\n  "
    return '<?xml version="1.0" encoding="UTF-8"?>\n%s\n' % ET.tostring(root, encoding="unicode", short_empty_elements=False)


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus(hosts, timestamp):
    """Textfile-collector format: one gauge per host x check (1 = passing), the status as
    a label set, and the time of the run."""
    lines = ["# HELP podnet_check_ok 1 when a podnet.doctor check passes (or is skipped/ignored), else 0.",
             "# TYPE podnet_check_ok gauge"]
    status_lines = ["# HELP podnet_check_status The status of each podnet.doctor check (1 for the current one).",
                    "# TYPE podnet_check_status gauge"]
    for host, report in sorted(hosts.items()):
        for check in report["checks"]:
            labels = 'host="%s",check="%s"' % (_label(host), _label(check["id"]))
            lines.append("podnet_check_ok{%s} %d" % (labels, 0 if check["status"] in ("fail", "error") else 1))
            for status in STATUSES:
                status_lines.append('podnet_check_status{%s,status="%s"} %d' % (
                    labels, status, 1 if check["status"] == status else 0))
    tail = ["# HELP podnet_last_run_timestamp_seconds When the podnet.doctor run that wrote this file started.",
            "# TYPE podnet_last_run_timestamp_seconds gauge",
            "podnet_last_run_timestamp_seconds %.3f" % timestamp]
    return "\n".join(lines + status_lines + tail) + "\n"


def html(hosts, meta):
    """A hosts x checks grid; failing cells carry observed value, source and fix
    (templates/report.html.j2, every value escaped by Jinja2's autoescape)."""
    ids = []
    for report in hosts.values():
        for check in report["checks"]:
            if check["id"] not in ids:
                ids.append(check["id"])
    rows = []
    for host, report in sorted(hosts.items()):
        by_id = dict((c["id"], c) for c in report["checks"])
        rows.append({"host": host, "cells": [by_id.get(check_id) for check_id in ids]})
    return HTML_TEMPLATES.get_template("report.html.j2").render(
        result=meta["result"], line=meta["line"], check_ids=ids, rows=rows)


def fleet_reports(reports, unreachable, version, started, timestamp):
    """{relative path: text} for every report file."""
    hosts = host_reports(reports, unreachable, version, started)
    result = summary(hosts)
    result.update(collection_version=version, started=started)
    files = dict(("hosts/%s.json" % host, json.dumps(report, indent=2, sort_keys=True) + "\n")
                 for host, report in hosts.items())
    files["summary.json"] = json.dumps(result, indent=2, sort_keys=True) + "\n"
    files["junit.xml"] = junit(hosts)
    files["podnet.prom"] = prometheus(hosts, timestamp)
    totals = result["totals"]
    files["report.html"] = html(hosts, {"result": result["result"], "line": "%d hosts, started %s: %s" % (
        len(hosts), started, ", ".join("%d %s" % (totals[s], s) for s in STATUSES if totals[s]))})
    return files, result
