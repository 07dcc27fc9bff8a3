"""The fix survives a reboot: a runtime-only fix plus an overriding hardening file
fails ip_forward.boot; remediate; podman restart; /proc and real traffic agree.

On each of the three node releases (image.matrix_releases: node1 bullseye, node2 bookworm,
node3 trixie, systemd 247/252/257), in one fleet of its own: a fleet in mid-upgrade."""
import pytest

from conftest import ansible_playbook, node_info, own_fleet
from podnet_lab import faults, fleet as lab_fleet, image, probes

NODES = 3
reboot_fleet = own_fleet("podnet-rk-reboot", NODES, "192.168.117.0/24", release=image.matrix_releases(NODES))


@pytest.mark.parametrize("subject", range(1, NODES + 1), ids=lambda i: "node%d-%s" % (i, image.matrix_releases(NODES)[i - 1]))
def test_runtime_only_fix_is_caught_and_remediation_survives_reboot(reboot_fleet, subject):
    fleet, host, peer = reboot_fleet, "node%d" % subject, subject % NODES + 1
    node = fleet.node(subject)
    faults.forget_podnet_doctor(node)  # a node podnet.doctor never fixed (earlier tests may have)
    faults.drop_hardening_file(node, {"net.ipv4.ip_forward": "0",
                                      "net.bridge.bridge-nf-call-iptables": "0"})
    lab_fleet.reboot(node)
    # what an admin does by hand: fix it at runtime only
    faults.set_sysctl_runtime(node, "net.ipv4.ip_forward", "1")
    faults.set_sysctl_runtime(node, "net.bridge.bridge-nf-call-iptables", "1")
    assert probes.clusterip(fleet, subject).ok  # looks healthy now...

    checks = node_info(fleet.inventory_path, host)
    assert checks["ip_forward.runtime"]["status"] == "pass"
    assert checks["ip_forward.boot"]["status"] == "fail"
    assert "/etc/sysctl.d/99-zz-cis.conf line" in checks["ip_forward.boot"]["observed"]
    assert checks["bridge_nf_call.boot"]["status"] == "fail"

    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.preflight", "-l", host)
    assert rc != 0 and "ip_forward.boot" in out

    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", host)
    assert rc == 0, out
    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", host)
    assert rc == 0 and "changed=0" in out, out

    lab_fleet.reboot(node)
    assert probes.sysctl_value(node, "net.ipv4.ip_forward") == "1"
    assert probes.sysctl_value(node, "net.bridge.bridge-nf-call-iptables") == "1"
    assert probes.clusterip(fleet, subject).ok
    assert probes.overlay_ping(fleet, peer, subject).loss == 0
    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.preflight", "-l", host)
    assert rc == 0, out
    # the foreign hardening file is still there, untouched
    assert "net.ipv4.ip_forward = 0" in faults.node_exec(node, ["cat", faults.HARDENING_FILE]).stdout


def test_mixed_fleet_preflight_passes_after_remediate_and_after_reboot(reboot_fleet):
    """The whole fleet in mid-upgrade at once: remediate, every node rebooted, pre-flight all pass."""
    fleet = reboot_fleet
    for index in range(1, NODES + 1):
        faults.set_sysctl_runtime(fleet.node(index), "net.ipv4.ip_forward", "0")
    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.preflight")
    assert rc != 0 and "ip_forward.runtime" in out
    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate")
    assert rc == 0, out
    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.preflight")
    assert rc == 0, out
    for node in fleet.nodes:
        lab_fleet.reboot(node)
    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.preflight")
    assert rc == 0, out
    for index in range(1, NODES + 1):
        assert probes.overlay_ping(fleet, index, index % NODES + 1).loss == 0
