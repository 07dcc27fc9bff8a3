"""The node checks itself on a timer and node_exporter gets a valid podnet.prom."""
import glob
import os
import tempfile

from prometheus_client.parser import text_string_to_metric_families

from conftest import ansible_playbook
from podnet_lab import faults

PROM = "/var/lib/prometheus/node-exporter/podnet.prom"


def node_metrics(node):
    faults.node_exec(node, ["systemctl", "start", "podnet-doctor-compliance.service"], timeout=300)
    text = faults.node_exec(node, ["cat", PROM]).stdout
    families = dict((f.name, f) for f in text_string_to_metric_families(text))
    return dict((s.labels["check"], s.value) for s in families["podnet_check_ok"].samples
                if s.labels["host"] == "node1")


def scratch_dirs():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "podnet-doctor-bundle.*")))


def test_timer_runs_the_checks_on_the_node(fleet, tmp_path):
    node = fleet.node(1)
    # the fixed archive path of old: a symlink planted there must never be written through
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    planted = os.path.join(tempfile.gettempdir(), "podnet-doctor-collection.tar")
    if os.path.lexists(planted):
        os.unlink(planted)
    os.symlink(str(victim), planted)
    before = scratch_dirs()
    try:
        rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/compliance_timer.yml", "-l", "node1")
        assert rc == 0, out
        rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/compliance_timer.yml", "-l", "node1")
        assert rc == 0 and "changed=0" in out, (rc, out[-3000:])
        rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/compliance_timer.yml", "-l", "node1", "--check")
        assert rc == 0 and "changed=0" in out, (rc, out[-3000:])
    finally:
        os.unlink(planted)
    assert victim.read_text() == "untouched"
    # every run removed its private scratch directory
    assert scratch_dirs() == before
    assert faults.node_exec(node, ["systemctl", "is-enabled", "podnet-doctor-compliance.timer"]).stdout.strip() == "enabled"
    assert "podnet-doctor-compliance.timer" in faults.node_exec(node, ["systemctl", "list-timers", "--all"]).stdout

    healthy = node_metrics(node)
    assert healthy["bridge_nf_call.runtime"] == 1 and "overlay.inbound" in healthy and "cidr.pod_host" in healthy
    faults.set_sysctl_runtime(node, "net.bridge.bridge-nf-call-iptables", "0")
    try:
        assert node_metrics(node)["bridge_nf_call.runtime"] == 0
    finally:
        faults.set_sysctl_runtime(node, "net.bridge.bridge-nf-call-iptables", "1")
    # no half-written or temporary file is ever left for node_exporter to read
    listing = faults.node_exec(node, ["ls", "-a", "/var/lib/prometheus/node-exporter"]).stdout.split()
    assert [name for name in listing if name not in (".", "..")] == ["podnet.prom"]
