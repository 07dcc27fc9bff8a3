from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "extras" / "prometheus" / "podnet-doctor.rules.yml"
PROMTOOL_TESTS = sorted((REPO / "tests" / "promtool").glob("*.yml"))
PROMTOOL = shutil.which("promtool")


def _promtool(*args):
    assert PROMTOOL, "promtool is missing: run scripts/setup (it installs Debian's prometheus package)"
    done = subprocess.run([PROMTOOL] + list(args), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_shipped_rules_are_valid():
    assert "SUCCESS: 6 rules found" in _promtool("check", "rules", str(RULES))


@pytest.mark.parametrize("test_file", PROMTOOL_TESTS, ids=lambda p: p.name)
def test_promtool_rule_tests(test_file):
    _promtool("test", "rules", str(test_file))


def test_every_alert_is_tested():
    tested = "".join(p.read_text() for p in PROMTOOL_TESTS)
    alerts = [line.split(":", 1)[1].strip() for line in RULES.read_text().splitlines() if line.strip().startswith("- alert:")]
    assert alerts
    for alert in alerts:
        assert "alertname: %s" % alert in tested, alert


def _readme_check_ids():
    """The check IDs of the README's check table (its first column; `a` / `b` rows name two)."""
    lines = (REPO / "README.md").read_text().splitlines()
    start = lines.index("| id | passes when |") + 2
    ids = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        ids += re.findall(r"`([a-z0-9_]+\.[a-z0-9_]+)`", line.split("|")[1])
    return ids


def test_every_check_has_the_runbook_anchor_the_failing_alert_links_to():
    """PodnetCheckFailing's runbook_url is docs/troubleshooting.md#check-<check>: every check ID of the README
    has that anchor, and every link of the by-check index lands on an anchor of the page."""
    assert 'runbook_url: "docs/troubleshooting.md#check-{{ $labels.check }}"' in RULES.read_text()
    text = (REPO / "docs" / "troubleshooting.md").read_text()
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text)) | {"a-check-says-error"}
    ids = _readme_check_ids()
    assert len(ids) >= 20, ids
    assert [i for i in ids if "check-" + i not in anchors] == []
    index = text[text.index("## By check ID"):text.index("\n## ", text.index("## By check ID") + 1)]
    assert [link for link in re.findall(r"\]\(#([^)]+)\)", index) if link not in anchors] == []
