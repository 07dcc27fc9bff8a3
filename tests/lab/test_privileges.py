"""Running without root (an SSH user, no become): the pre-flight says the rulesets need
become instead of guessing, remediate refuses before it changes anything, and the node is
exactly as it was."""
import json
import os

from conftest import ansible_playbook
from podnet_lab import faults, fleet as lab_fleet, probes
from podnet_lab.podman import node_exec

USER = "podnet-ops"


def user_inventory(fleet, tmp_path):
    with open(fleet.inventory_path) as handle:
        inventory = json.load(handle)
    hosts = inventory["all"]["children"]["lab_nodes"]["hosts"]
    for host in hosts.values():
        host["ansible_user"] = USER
    inventory["all"]["vars"]["podnet_become"] = False
    path = str(tmp_path / "unprivileged.json")
    with open(path, "w") as handle:
        json.dump(inventory, handle)
    return path


def test_without_root_nothing_is_guessed_and_nothing_changes(fleet, tmp_path):
    node = fleet.node(2)
    node_exec(node, ["sh", "-c", "id %s >/dev/null 2>&1 || useradd -m -s /bin/sh %s; mkdir -p /home/%s/.ssh; "
                                 "cp /root/.ssh/authorized_keys /home/%s/.ssh/; chown -R %s /home/%s/.ssh"
                     % ((USER,) * 6)])
    faults.set_sysctl_runtime(node, "net.ipv4.ip_forward", "0")
    faults.block_overlay(node, "nftables")
    inventory = user_inventory(fleet, tmp_path)
    try:
        before = probes.node_snapshot(node)
        rc, out = ansible_playbook(inventory, "podnet.doctor.preflight", "-l", "node2")
        assert rc != 0
        assert "node2 ERROR [overlay.inbound]: cannot read the firewall rulesets" in out, out
        assert "run with become: true" in out

        rc, out = ansible_playbook(inventory, "podnet.doctor.remediate", "-l", "node2")
        assert rc != 0
        assert "must run as root: add 'become: true' (nothing was changed)" in out, out
        assert probes.node_snapshot(node) == before
        assert probes.sysctl_value(node, "net.ipv4.ip_forward") == "0"
    finally:
        faults.unblock_overlay(node, "nftables")
        faults.set_sysctl_runtime(node, "net.ipv4.ip_forward", "1")
        node_exec(node, ["userdel", "-r", USER], check=False)
        lab_fleet.reboot(node)
        os.remove(inventory)
