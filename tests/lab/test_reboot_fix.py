"""The fix survives a reboot: a runtime-only fix plus an overriding hardening file
fails ip_forward.boot; remediate; podman restart; /proc and real traffic agree."""
from conftest import ansible_playbook, node_info
from podnet_lab import faults, fleet as lab_fleet, probes


def test_runtime_only_fix_is_caught_and_remediation_survives_reboot(fleet):
    node = fleet.node(2)
    faults.forget_podnet_doctor(node)  # a node podnet.doctor never fixed (earlier tests may have)
    faults.drop_hardening_file(node, {"net.ipv4.ip_forward": "0",
                                      "net.bridge.bridge-nf-call-iptables": "0"})
    lab_fleet.reboot(node)
    # what an admin does by hand: fix it at runtime only
    faults.set_sysctl_runtime(node, "net.ipv4.ip_forward", "1")
    faults.set_sysctl_runtime(node, "net.bridge.bridge-nf-call-iptables", "1")
    assert probes.clusterip(fleet, 2).ok  # looks healthy now...

    checks = node_info(fleet.inventory_path, "node2")
    assert checks["ip_forward.runtime"]["status"] == "pass"
    assert checks["ip_forward.boot"]["status"] == "fail"
    assert "/etc/sysctl.d/99-zz-cis.conf line" in checks["ip_forward.boot"]["observed"]
    assert checks["bridge_nf_call.boot"]["status"] == "fail"

    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.preflight", "-l", "node2")
    assert rc != 0 and "ip_forward.boot" in out

    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", "node2")
    assert rc == 0, out
    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", "node2")
    assert rc == 0 and "changed=0" in out, out

    lab_fleet.reboot(node)
    assert probes.sysctl_value(node, "net.ipv4.ip_forward") == "1"
    assert probes.sysctl_value(node, "net.bridge.bridge-nf-call-iptables") == "1"
    assert probes.clusterip(fleet, 2).ok
    assert probes.overlay_ping(fleet, 1, 2).loss == 0
    rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.preflight", "-l", "node2")
    assert rc == 0, out
    # the foreign hardening file is still there, untouched
    assert "net.ipv4.ip_forward = 0" in faults.node_exec(node, ["cat", faults.HARDENING_FILE]).stdout
