# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet reports from per-host check results: JSON, JUnit, Prometheus, HTML.

``fleet_reports(reports, unreachable, version, started)`` returns {file name: text};
every writer is a pure function so tests can parse what they produce. A host with no
report (unreachable, or its checks never ran) is ``error`` everywhere, never missing.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from xml.sax.saxutils import escape, quoteattr

STATUSES = ("pass", "fail", "error", "skip", "ignored")
EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

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
            {"id": check_id, "status": "error", "observed": "not checked: %s" % why, "expected": "host reachable"}
            for check_id in (known or ["host.reachable"])]}
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
    """One testcase per host x check; fail -> failure, error -> error, skip/ignored -> skipped."""
    cases, tests, failures, errors, skipped = [], 0, 0, 0, 0
    for host, report in sorted(hosts.items()):
        for check in report["checks"]:
            tests += 1
            body = ""
            detail = "observed: %s\nexpected: %s%s" % (check["observed"], check["expected"],
                                                       "\nfix: %s" % check["fix"] if check.get("fix") else "")
            if check["status"] == "fail":
                failures += 1
                body = "<failure message=%s>%s</failure>" % (quoteattr(check["observed"]), escape(detail))
            elif check["status"] == "error":
                errors += 1
                body = "<error message=%s>%s</error>" % (quoteattr(check["observed"]), escape(detail))
            elif check["status"] in ("skip", "ignored"):
                skipped += 1
                body = "<skipped message=%s/>" % quoteattr("%s: %s" % (check["status"], check["observed"]))
            cases.append('    <testcase classname=%s name=%s>%s</testcase>' % (
                quoteattr("podnet.doctor.%s" % host), quoteattr(check["id"]), body))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<testsuites name="podnet.doctor" tests="%d" failures="%d" errors="%d" skipped="%d">\n'
            '  <testsuite name="podnet.doctor" tests="%d" failures="%d" errors="%d" skipped="%d">\n%s\n'
            '  </testsuite>\n</testsuites>\n' % (tests, failures, errors, skipped, tests, failures, errors,
                                                 skipped, "\n".join(cases)))


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


HTML_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}
th,td{border:1px solid #ccc;padding:.35em .6em;vertical-align:top;font-size:13px}
td.pass{background:#d7f5dc}td.fail{background:#ffd6d6}td.error{background:#ffe9b3}
td.skip,td.ignored{background:#eee;color:#555}.detail{max-width:28em;font-size:12px}
.st{font-weight:bold;text-transform:uppercase}"""


def html(hosts, meta):
    """A hosts x checks grid; failing cells carry observed value, source and fix."""
    ids = []
    for report in hosts.values():
        for check in report["checks"]:
            if check["id"] not in ids:
                ids.append(check["id"])
    rows = []
    for host, report in sorted(hosts.items()):
        by_id = dict((c["id"], c) for c in report["checks"])
        cells = ["<th scope='row'>%s</th>" % escape(host)]
        for check_id in ids:
            check = by_id.get(check_id)
            if check is None:
                cells.append("<td class='skip'>-</td>")
                continue
            detail = ""
            if check["status"] in ("fail", "error"):
                detail = "<div class='detail'><div class='observed'>%s</div>%s</div>" % (
                    escape(check["observed"]),
                    "<div class='fix'>fix: %s</div>" % escape(check["fix"]) if check.get("fix") else "")
            cells.append("<td class='%s' data-host=%s data-check=%s><span class='st'>%s</span>%s</td>" % (
                check["status"], quoteattr(host), quoteattr(check_id), check["status"], detail))
        rows.append("<tr>%s</tr>" % "".join(cells))
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>podnet.doctor report</title>"
            "<style>%s</style></head><body>\n<h1>podnet.doctor: %s</h1>\n<p>%s</p>\n"
            "<table id='grid'><thead><tr><th>host</th>%s</tr></thead><tbody>\n%s\n</tbody></table>\n"
            "</body></html>\n" % (HTML_STYLE, escape(meta["result"]), escape(meta["line"]),
                                  "".join("<th>%s</th>" % escape(i) for i in ids), "\n".join(rows)))


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
