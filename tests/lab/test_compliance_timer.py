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


def test_a_node_that_cannot_run_its_checks_is_named(fleet):
    """No timer that fails every hour in silence: the role stops on a node whose ansible-playbook
    is missing, or whose interpreter cannot import netaddr, and says what to do; a wrapper script is fine."""
    node = fleet.node(1)
    rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/compliance_timer.yml", "-l", "node1",
                               "-e", "podnet_timer_install_requirements=false", "-e", "podnet_timer_ansible_playbook=/usr/local/bin/nothing")
    assert rc != 0 and "/usr/local/bin/nothing is not an executable file" in out and "podnet_timer_install_requirements: true" in out, out
    # an ansible-playbook behind a wrapper script (a shebang that is no Python) is followed to its interpreter
    faults.node_exec(node, ["sh", "-c", "printf '#!/bin/sh\\nexec /usr/bin/ansible-playbook \"$@\"\\n' > /usr/local/bin/wrapped-playbook && "
                                        "chmod +x /usr/local/bin/wrapped-playbook"])
    # one whose interpreter is a virtualenv without system site-packages (no netaddr): pyvenv.cfg, as venv writes it
    faults.node_exec(node, ["sh", "-c", "mkdir -p /opt/bare/bin && ln -sf /usr/bin/python3 /opt/bare/bin/python3 && "
                                        "printf 'home = /usr/bin\\ninclude-system-site-packages = false\\n' > /opt/bare/pyvenv.cfg && "
                                        "printf '#!/bin/sh\\necho \"ansible-playbook [core 2.14.18]\"\\n"
                                        "echo \"  python version = 3.11.2 (main) [GCC 12.2.0] (/opt/bare/bin/python3)\"\\n' "
                                        "> /usr/local/bin/bare-playbook && chmod +x /usr/local/bin/bare-playbook"])
    try:
        rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/compliance_timer.yml", "-l", "node1",
                                   "-e", "podnet_timer_ansible_playbook=/usr/local/bin/wrapped-playbook")
        assert rc == 0, out
        rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/compliance_timer.yml", "-l", "node1",
                                   "-e", "podnet_timer_ansible_playbook=/usr/local/bin/bare-playbook")
        assert rc != 0 and "/opt/bare/bin/python3 (the interpreter of /usr/local/bin/bare-playbook) cannot import netaddr" in out, out
    finally:
        faults.node_exec(node, ["rm", "-rf", "/usr/local/bin/bare-playbook", "/usr/local/bin/wrapped-playbook", "/opt/bare"])
    # the default: the packages are there (installed by the role, ok on the lab image), the timer runs; the
    # first run puts back the service the wrapper case wrote, the second changes nothing
    rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/compliance_timer.yml", "-l", "node1")
    assert rc == 0, out
    rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/compliance_timer.yml", "-l", "node1")
    assert rc == 0 and "changed=0" in out, out
