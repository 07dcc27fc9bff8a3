"""compliance_timer packs the collection in a private (0700) scratch directory on the controller.
unarchive reads that bundle on the controller as the user running ansible, so the tasks that make,
fill and remove the directory must not become root (a play's become: true reaches delegated tasks)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from pathlib import Path

import yaml

TASKS = Path(__file__).resolve().parents[3] / "roles" / "compliance_timer" / "tasks" / "main.yml"


def _tasks(items):
    for task in items:
        yield task
        for section in ("block", "rescue", "always"):
            yield from _tasks(task.get(section, []))


def test_controller_scratch_tasks_do_not_become():
    delegated = [t for t in _tasks(yaml.safe_load(TASKS.read_text())) if t.get("delegate_to") == "localhost"]
    assert len(delegated) == 3, [t["name"] for t in delegated]
    for task in delegated:
        assert task.get("become") is False, task["name"]


def test_failed_run_still_publishes_its_error_report():
    # systemd skips ExecStartPost= when ExecStart= fails (systemd.service(5)); the report of a failed run,
    # where the host's checks are error, must reach node_exporter all the same.
    unit = (TASKS.parents[1] / "templates" / "podnet-doctor-compliance.service.j2").read_text()
    copy = [line for line in unit.splitlines() if "podnet.prom" in line and line.startswith("Exec")]
    assert copy and all(line.startswith("ExecStopPost=") for line in copy), copy
