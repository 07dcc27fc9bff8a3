"""--check changes nothing on faulty nodes (a hardening file, a runtime sysctl, an
nftables default-drop firewall): /etc, /proc/sys, modules and every ruleset are
byte-for-byte the same before and after, while the run reports what it would do."""
from conftest import ansible_playbook
from podnet_lab import faults, fleet as lab_fleet, probes


def test_remediate_check_mode_changes_nothing(fleet):
    faults.drop_hardening_file(fleet.node(1), {"net.ipv4.ip_forward": "0"})
    lab_fleet.reboot(fleet.node(1))
    faults.set_sysctl_runtime(fleet.node(2), "net.bridge.bridge-nf-call-iptables", "0")
    faults.block_overlay(fleet.node(2), "nftables")
    try:
        before = dict((n, probes.node_snapshot(n)) for n in fleet.nodes)
        rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "--check", "--diff")
        assert rc == 0, out
        assert "changed=1" in out  # it would change things...
        assert "+net.ipv4.ip_forward = 1" in out  # ...and shows the file it would write
        assert '+include "/etc/nftables.d/podnet-doctor.nft"' in out  # ...and the firewall opening
        after = dict((n, probes.node_snapshot(n)) for n in fleet.nodes)
        assert after == before  # ...but nothing changed
        assert probes.sysctl_value(fleet.node(1), "net.ipv4.ip_forward") == "0"
    finally:
        faults.remove_file(fleet.node(1), faults.HARDENING_FILE)
        faults.set_sysctl_runtime(fleet.node(1), "net.ipv4.ip_forward", "1")
        faults.set_sysctl_runtime(fleet.node(2), "net.bridge.bridge-nf-call-iptables", "1")
        faults.unblock_overlay(fleet.node(2), "nftables")
