"""fleet_report: every file written atomically, and the summary's path for the caller."""
import json
import os

from ansible_collections.podnet.doctor.plugins.action.fleet_report import write_reports, write_summary_path
from ansible_collections.podnet.doctor.plugins.plugin_utils import reports


def test_reports_and_the_summary_path_are_written(tmp_path):
    files, summary = reports.fleet_reports({"node1": {"checks": [
        {"id": "ip_forward.runtime", "status": "fail", "observed": "0", "expected": "1"}]}}, {}, "1.0.0", "2026-11-25T14:00:00Z", 0)
    directory = str(tmp_path / "out")
    write_reports(directory, files)
    path_file = tmp_path / "pointer"
    path_file.write_text("")  # the wrapper's mktemp
    write_summary_path(str(path_file), directory)

    written = path_file.read_text()
    assert written == os.path.join(directory, "summary.json") + "\n"
    with open(written.strip()) as handle:
        assert json.load(handle)["exit_code"] == summary["exit_code"] == 1
    assert oct(os.stat(str(tmp_path / "out" / "hosts" / "node1.json")).st_mode & 0o777) == "0o644"
    assert not [name for name in os.listdir(str(tmp_path)) if name.startswith(".podnet-")]  # no temp file left


def test_a_report_merges_the_node_read_the_fleet_checks_and_the_fixers_re_reads():
    """One controller task builds every host's report: a fixer's re-read replaces the first read by
    ID, podnet_ignore applies, and a host whose node read holds no checks is left out (error)."""
    from ansible_collections.podnet.doctor.plugins.action.fleet_report import merged_report
    paths = ["podnet_node_info", "podnet_cidr_fleet.per_host.{host}", "podnet_kernel_fixed", "podnet_overlay_fixed"]
    fixed = {"podnet_node_info": {"checks": [{"id": "ip_forward.runtime", "status": "fail"}, {"id": "overlay.inbound", "status": "fail"}]},
             "podnet_cidr_fleet": {"per_host": {"node1": [{"id": "cidr.pod_host", "status": "pass"}]}},
             "podnet_kernel_fixed": {"checks": [{"id": "ip_forward.runtime", "status": "pass"}]},
             "podnet_overlay_fixed": {"skipped": True}}
    report = merged_report("node1", fixed, paths, ["overlay.inbound"])
    assert [(c["id"], c["status"]) for c in report["checks"]] == [
        ("ip_forward.runtime", "pass"), ("overlay.inbound", "ignored"), ("cidr.pod_host", "pass")]
    unreachable = {"podnet_node_info": {"unreachable": True, "msg": "ssh: connect timed out"}, "podnet_cidr_fleet": fixed["podnet_cidr_fleet"]}
    assert merged_report("node1", unreachable, paths, []) is None
