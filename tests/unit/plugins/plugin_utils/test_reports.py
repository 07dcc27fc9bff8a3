"""Every report format, parsed by the tools that consume it."""
import json
import os
import subprocess

import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.podnet.doctor.plugins.module_utils.checks import REPORT_SCHEMA
from ansible_collections.podnet.doctor.plugins.plugin_utils import reports

REPORTS = {
    "node1": {"host": "node1", "checks": [
        {"id": "ip_forward.boot", "status": "fail", "expected": "1",
         "observed": "net.ipv4.ip_forward=0 (set by /etc/sysctl.d/99-zz-cis.conf line 3)",
         "fix": "write /etc/sysctl.d/99-zzz-podnet-doctor.conf", "findings": ["x"]},
        {"id": "overlay.inbound", "status": "pass", "expected": "open", "observed": "8472/udp accepted"},
        {"id": "cidr.pod_host", "status": "ignored", "expected": "free", "observed": 'pod CIDR "quoted" <b>'}]},
    "node2": {"host": "node2", "checks": [
        {"id": "ip_forward.boot", "status": "pass", "expected": "1", "observed": "1"},
        {"id": "overlay.inbound", "status": "error", "expected": "open", "observed": "cannot evaluate ipset"}]},
}
STARTED = "2026-11-25T14:00:00Z"


@pytest.fixture
def built():
    return reports.fleet_reports(REPORTS, {"node3": "unreachable"}, "1.0.0", STARTED, 1795000000.0)


def test_per_host_json_matches_the_schema(built):
    files, _summary = built
    for host in ("node1", "node2", "node3"):
        report = json.loads(files["hosts/%s.json" % host])
        jsonschema.validate(report, REPORT_SCHEMA, format_checker=jsonschema.FormatChecker())
    node3 = json.loads(files["hosts/node3.json"])
    assert set(c["status"] for c in node3["checks"]) == {"error"}  # unreachable: error, never missing


def test_summary_exit_codes(built):
    _files, summary = built
    assert summary["exit_code"] == 2 and summary["hosts"]["node3"]["status"] == "error"
    only_fail = reports.fleet_reports({"node1": REPORTS["node1"]}, {}, "1.0.0", STARTED, 0)[1]
    assert only_fail["exit_code"] == 1
    clean = {"node2": {"checks": [REPORTS["node2"]["checks"][0]]}}
    assert reports.fleet_reports(clean, {}, "1.0.0", STARTED, 0)[1]["exit_code"] == 0


def test_junit_parses_with_a_junit_parser(built, tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(built[0]["junit.xml"])
    xml = JUnitXml.fromfile(str(path))
    cases = [(c.classname, c.name, type(c.result[0]).__name__ if c.result else "pass")
             for suite in xml for c in suite]
    assert ("podnet.doctor.node1", "ip_forward.boot", Failure.__name__) in cases
    assert ("podnet.doctor.node2", "overlay.inbound", Error.__name__) in cases
    assert ("podnet.doctor.node1", "cidr.pod_host", Skipped.__name__) in cases
    assert ("podnet.doctor.node1", "overlay.inbound", "pass") in cases
    assert len(cases) == 3 + 2 + 3  # node3 (unreachable) gets one error per check the fleet knows


def test_prometheus_textfile_parses(built):
    families = dict((f.name, f) for f in text_string_to_metric_families(built[0]["podnet.prom"]))
    ok = dict(((s.labels["host"], s.labels["check"]), s.value) for s in families["podnet_check_ok"].samples)
    assert ok[("node1", "ip_forward.boot")] == 0 and ok[("node1", "overlay.inbound")] == 1
    assert ok[("node1", "cidr.pod_host")] == 1 and ok[("node3", "ip_forward.boot")] == 0
    status = [s for s in families["podnet_check_status"].samples if s.value == 1]
    assert {"host": "node2", "check": "overlay.inbound", "status": "error"} in [s.labels for s in status]
    assert families["podnet_last_run_timestamp_seconds"].samples[0].value == 1795000000.0


def test_html_report_in_headless_chromium(built, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(built[0]["report.html"])
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--user-data-dir=%s" % (tmp_path / "profile"), "--dump-dom", "file://%s" % page],
        capture_output=True, text=True, timeout=120, check=True).stdout
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self):
            HTMLParser.__init__(self)
            self.cells, self.current = [], None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "td" and attrs.get("data-check"):
                self.current = dict(attrs, text="")
                self.cells.append(self.current)

        def handle_endtag(self, tag):
            if tag == "td":
                self.current = None

        def handle_data(self, data):
            if self.current is not None:
                self.current["text"] += data

    parser = Cells()
    parser.feed(dom)
    failing = [c for c in parser.cells if c["class"] in ("fail", "error")]
    assert [(c["data-host"], c["data-check"]) for c in failing] == [
        ("node1", "ip_forward.boot"), ("node2", "overlay.inbound"),
        ("node3", "ip_forward.boot"), ("node3", "overlay.inbound"), ("node3", "cidr.pod_host")]
    assert "/etc/sysctl.d/99-zz-cis.conf line 3" in failing[0]["text"]
    assert "fix: write /etc/sysctl.d/99-zzz-podnet-doctor.conf" in failing[0]["text"]
    assert os.path.getsize(str(page)) > 0
