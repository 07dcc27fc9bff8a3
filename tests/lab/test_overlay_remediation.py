"""Remediation opens exactly the overlay, in the firewall in charge, and it survives a
reboot: observed with real VXLAN traffic from a peer and from an outsider.

On the shared (bookworm) fleet, and on the other generations (issue 16): a fleet of its own
whose node1 (the default release) is the peer and whose nodes 2, 3 are the matrix's other
releases (bullseye, trixie), each judged with the backends whose tools differ between generations."""
import pytest

from conftest import ansible_playbook, node_info, own_fleet
from podnet_lab import faults, fleet as lab_fleet, image, probes

OTHER_RELEASES = [r for r in image.MATRIX if r != image.default_release()]
# the outsider's network of this fleet: a /26 of the fleet's own range, not the shared fleet's 192.168.98.0/24
RELEASES_OUTSIDER_SUBNET = "192.168.122.192/26"
releases_fleet = own_fleet("podnet-rfrem", 1 + len(OTHER_RELEASES), "192.168.121.0/24",
                           release=[image.default_release()] + OTHER_RELEASES)


def remediation_opens_overlay_to_node_network_only(fleet, index, backend):
    node, host = fleet.node(index), fleet.hostname(index)
    # the outsider's VXLAN path works when nothing filters it
    assert probes.outsider_overlay_ping(fleet, index).loss == 0
    faults.block_overlay(node, backend)
    try:
        assert probes.overlay_ping(fleet, 1, index).loss == 100
        assert probes.outsider_overlay_ping(fleet, index).loss == 100
        assert node_info(fleet.inventory_path, host)["overlay.inbound"]["status"] == "fail"

        rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", host, "--diff")
        assert rc == 0, out
        assert str(fleet.subnet) in out  # the opening is scoped to the node network
        rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", host)
        assert rc == 0 and "changed=0" in out, out

        assert probes.overlay_ping(fleet, 1, index).loss == 0
        assert probes.pod_connect(fleet, 1, index).ok
        assert probes.outsider_overlay_ping(fleet, index).loss == 100

        lab_fleet.reboot(fleet.node(1))
        lab_fleet.reboot(node)
        assert probes.overlay_ping(fleet, 1, index).loss == 0, "the opening did not survive the reboot"
        assert probes.pod_connect(fleet, 1, index).ok
        assert probes.outsider_overlay_ping(fleet, index).loss == 100
        checks = node_info(fleet.inventory_path, host)
        assert checks["overlay.inbound"]["status"] == "pass"
        assert checks["overlay.forward"]["status"] == "pass"
        # SSH, which Ansible itself uses, still works: the playbooks above ran over it
    finally:
        # leave the node as a fresh boot would: no fault, none of our openings
        faults.unblock_overlay(node, backend)
        faults.forget_podnet_doctor(node)
        lab_fleet.reboot(node)


@pytest.mark.parametrize("backend", faults.FIREWALL_BACKENDS)
def test_remediation_opens_overlay_to_node_network_only(fleet, backend):
    remediation_opens_overlay_to_node_network_only(fleet, 2, backend)


# on the other generations, the backends whose tools differ between them (firewalld 0.9/1.3/2.3, nftables 0.9.8/1.0.6/
# 1.1.3, iptables-nft 1.8.7/1.8.9/1.8.11); iptables-legacy and ufw (0.36 everywhere, on iptables-nft) run the same
# fixer path as here, are remediated on bookworm above, and their verdicts are judged on every release by the
# differential suites. Three backends, not five: the 60-minute CI budget.
OTHER_RELEASE_BACKENDS = ("firewalld", "nftables", "iptables-nft")


@pytest.mark.parametrize("backend", OTHER_RELEASE_BACKENDS)
@pytest.mark.parametrize("release", OTHER_RELEASES)
def test_remediation_on_the_other_releases(releases_fleet, release, backend, monkeypatch):
    monkeypatch.setattr(probes, "OUTSIDER_SUBNET", RELEASES_OUTSIDER_SUBNET)
    remediation_opens_overlay_to_node_network_only(releases_fleet, 2 + OTHER_RELEASES.index(release), backend)
