"""Remediation opens exactly the overlay, in the firewall in charge, and it survives a
reboot: observed with real VXLAN traffic from a peer and from an outsider."""
import pytest

from conftest import ansible_playbook, node_info
from podnet_lab import faults, fleet as lab_fleet, probes


@pytest.mark.parametrize("backend", faults.FIREWALL_BACKENDS)
def test_remediation_opens_overlay_to_node_network_only(fleet, backend):
    node = fleet.node(2)
    # the outsider's VXLAN path works when nothing filters it
    assert probes.outsider_overlay_ping(fleet, 2).loss == 0
    faults.block_overlay(node, backend)
    try:
        assert probes.overlay_ping(fleet, 1, 2).loss == 100
        assert probes.outsider_overlay_ping(fleet, 2).loss == 100
        assert node_info(fleet.inventory_path, "node2")["overlay.inbound"]["status"] == "fail"

        rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", "node2", "--diff")
        assert rc == 0, out
        assert "192.168.78.0/24" in out  # the opening is scoped to the node network
        rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", "node2")
        assert rc == 0 and "changed=0" in out, out

        assert probes.overlay_ping(fleet, 1, 2).loss == 0
        assert probes.pod_connect(fleet, 1, 2).ok
        assert probes.outsider_overlay_ping(fleet, 2).loss == 100

        lab_fleet.reboot(fleet.node(1))
        lab_fleet.reboot(node)
        assert probes.overlay_ping(fleet, 1, 2).loss == 0, "the opening did not survive the reboot"
        assert probes.pod_connect(fleet, 1, 2).ok
        assert probes.outsider_overlay_ping(fleet, 2).loss == 100
        checks = node_info(fleet.inventory_path, "node2")
        assert checks["overlay.inbound"]["status"] == "pass"
        assert checks["overlay.forward"]["status"] == "pass"
        # SSH, which Ansible itself uses, still works: the playbooks above ran over it
    finally:
        # leave the node as a fresh boot would: no fault, none of our openings
        faults.unblock_overlay(node, backend)
        faults.forget_podnet_doctor(node)
        lab_fleet.reboot(node)
