"""The compliance entry point's exit status follows the real fleet: 0 on a healthy
fleet, 1 when a check fails, 2 when a node is down; the reports say the same."""
import json
import os
import subprocess

from junitparser import JUnitXml

from conftest import REPO, ansible_playbook
from podnet_lab import faults, fleet as lab_fleet
from podnet_lab.podman import run


def compliance(inventory, report_dir):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([os.path.join(REPO, "scripts", "podnet-compliance"), "-i", inventory,
                           "-e", "podnet_report_dir=%s" % report_dir], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    with open(os.path.join(report_dir, "summary.json")) as handle:
        return proc.returncode, json.load(handle), proc.stdout + proc.stderr


def test_exit_codes_and_reports_follow_the_fleet(fleet, tmp_path):
    try:
        check_exit_codes(fleet, tmp_path)
    finally:
        for node in fleet.nodes:  # later tests expect nodes podnet.doctor never fixed
            faults.forget_podnet_doctor(node)


def check_exit_codes(fleet, tmp_path):
    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate")
    assert rc == 0, out

    rc, summary, out = compliance(fleet.inventory_path, str(tmp_path / "healthy"))
    assert rc == 0, out
    assert summary["result"] == "pass" and set(summary["hosts"]) == {"node1", "node2"}
    suites = JUnitXml.fromfile(str(tmp_path / "healthy" / "junit.xml"))
    # 19 checks per host: overlay.boot, rp_filter.pod_links, ipv6.accept_ra, mtu.overlay, netmgr.cni_links,
    # ports.nodeport_reserved, iptables.backends, k8s_ports.inbound among them
    assert sum(1 for suite in suites for _case in suite) == 2 * 19

    faults.set_sysctl_runtime(fleet.node(2), "net.bridge.bridge-nf-call-iptables", "0")
    try:
        rc, summary, out = compliance(fleet.inventory_path, str(tmp_path / "broken"))
        assert rc == 1, out
        assert summary["hosts"]["node2"]["status"] == "fail" and summary["hosts"]["node1"]["status"] == "pass"
        with open(str(tmp_path / "broken" / "hosts" / "node2.json")) as handle:
            node2 = dict((c["id"], c) for c in json.load(handle)["checks"])
        assert node2["bridge_nf_call.runtime"]["status"] == "fail"
        with open(str(tmp_path / "broken" / "podnet.prom")) as handle:
            assert 'podnet_check_ok{host="node2",check="bridge_nf_call.runtime"} 0' in handle.read()
    finally:
        faults.set_sysctl_runtime(fleet.node(2), "net.bridge.bridge-nf-call-iptables", "1")

    run(["stop", "-t", "5", fleet.node(1)])
    try:
        rc, summary, out = compliance(fleet.inventory_path, str(tmp_path / "down"))
        assert rc == 2, out
        assert summary["hosts"]["node1"]["status"] == "error"
        assert summary["hosts"]["node2"]["status"] == "pass"  # the others finish
    finally:
        run(["start", fleet.node(1)])
        lab_fleet.wait_booted(fleet.node(1))
