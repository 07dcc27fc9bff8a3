"""Review 3: the fleet reports merge every fixer re-read that remediate's final verdict merges, so the
per-host JSON/JUnit/Prometheus/HTML show the same verdict as the run (a fixed netmgr.cni_links must not
stay `fail` in the reports)."""
import os
import re

import yaml

ROLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles")


def load(path):
    with open(os.path.join(ROLES, path)) as handle:
        return yaml.safe_load(handle)


def test_report_merges_every_fixer_result_the_final_verdict_merges():
    verdict = [t for t in load("remediate/tasks/fix.yml") if "podnet.doctor.verdict" in t][0]
    merged_by_verdict = set()
    for item in verdict["podnet.doctor.verdict"]["checks"]:
        found = re.match(r"\{\{\s*(podnet_\w+)\.checks", item)
        if found and found.group(1) != "podnet_report":
            merged_by_verdict.add(found.group(1))
    report = [t for t in load("preflight/tasks/report.yml") if "podnet.doctor.fleet_report" in t][0]
    assert merged_by_verdict and merged_by_verdict <= set(report["podnet.doctor.fleet_report"]["merge"])
