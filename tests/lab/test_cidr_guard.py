"""A node on a VLAN inside the pod CIDR: real 'No route to host', cidr.pod_host fails
for that node only, and passes with the suggested range."""
import re

from conftest import ansible_playbook
from podnet_lab import faults, fleet as lab_fleet, probes

REPORT_ONLY = ["-e", '{"podnet_fail_on_findings": false}']


def test_overlapping_node_subnet_is_caught_and_the_suggestion_is_free(fleet):
    node = fleet.node(1)
    faults.attach_overlapping_subnet(fleet, node, "10.244.2.0/24")
    try:
        lab_fleet.reboot(node)
        broken = probes.pod_connect(fleet, 1, 2)
        assert not broken.ok and "No route to host" in broken.output

        rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.preflight", *REPORT_ONLY)
        assert rc == 0, out
        assert re.search(r"node1 FAIL \[cidr\.pod_host\]: .*10\.244\.0\.0/16 contains 10\.244\.2\.0/24 "
                         r"\(node1 eth1 address 10\.244\.2\.\d+/24\)", out), out
        assert "node2 FAIL [cidr.pod_host]" not in out
        suggested = re.search(r"e\.g\. (\S+) \(same size\)", out).group(1)
        assert suggested != "10.244.0.0/16"

        rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.preflight", *REPORT_ONLY,
                                   "-e", "podnet_pod_cidr=%s" % suggested)
        assert rc == 0 and "[cidr." not in out, out

        # the check-only role does the same on its own: fails node1 alone, passes the suggestion
        rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/cidr_guard.yml")
        assert rc != 0 and "node1 FAIL [cidr.pod_host]" in out and "node2 FAIL [cidr." not in out, out
        rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/cidr_guard.yml",
                                   "-e", "podnet_pod_cidr=%s" % suggested)
        assert rc == 0, out
    finally:
        faults.detach_overlapping_subnet(fleet, node)
        lab_fleet.reboot(node)
    assert probes.pod_connect(fleet, 1, 2).ok
