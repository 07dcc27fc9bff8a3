from __future__ import absolute_import, division, print_function
__metaclass__ = type

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
