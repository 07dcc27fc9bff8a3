"""The single-area roles ip_forward and bridge_netfilter on a real node: check-only changes
nothing and fails on its own area's checks alone (podnet_ignore honoured); fix=true makes the
area right now and at boot; a check afterwards passes and still changes nothing."""
import json
import re

import pytest

from conftest import ansible_playbook, own_fleet
from podnet_lab import faults, fleet as lab_fleet, probes
from podnet_lab.podman import node_exec

PLAYBOOK = "tests/lab/playbooks/kernel_area_role.yml"
DROP_IN = "/etc/sysctl.d/99-zzz-podnet-doctor.conf"


roles_fleet = own_fleet("podnet-roles", 1, "192.168.86.0/24")


def run_role(fleet, role, *extra):
    return ansible_playbook(fleet.inventory_path, PLAYBOOK, "-e", "podnet_lab_role=%s" % role, *extra)


def failure_message(out):
    found = re.search(r"check\(s\) failed on node1: (.*)", out)
    return found.group(1) if found else ""


def recap_changed(out):
    return int(re.search(r"node1\s+: ok=\d+\s+changed=(\d+)", out).group(1))


@pytest.mark.parametrize("role,key,check_ids,other_role", [
    ("ip_forward", "net.ipv4.ip_forward", ("ip_forward.runtime", "ip_forward.boot"), "bridge_netfilter"),
    ("bridge_netfilter", "net.bridge.bridge-nf-call-iptables", ("bridge_nf_call.runtime", "bridge_nf_call.boot"),
     "ip_forward"),
])
def test_check_only_changes_nothing_and_fix_holds_after_reboot(roles_fleet, role, key, check_ids, other_role):
    node = roles_fleet.node(1)
    faults.forget_podnet_doctor(node)
    faults.drop_hardening_file(node, {key: "0"})
    faults.set_sysctl_runtime(node, key, "0")
    try:
        before = probes.node_snapshot(node)
        rc, out = run_role(roles_fleet, role)
        assert rc != 0 and "%s=0" % key in out, out
        assert recap_changed(out) == 0 and probes.node_snapshot(node) == before, out
        assert probes.sysctl_value(node, key) == "0"

        # the other area's role does not fail on this area (a fresh lab node's ip_forward.boot
        # fails by itself: the kernel default is 0, podman sets only the runtime value)
        rc, out = run_role(roles_fleet, other_role)
        assert recap_changed(out) == 0 and not any("[%s]" % c in failure_message(out) for c in check_ids), out

        # ignored checks do not fail the role
        rc, out = run_role(roles_fleet, role, "-e", json.dumps({"podnet_ignore": list(check_ids)}))
        assert rc == 0 and recap_changed(out) == 0, out

        # --check with the fix on writes nothing either
        rc, out = run_role(roles_fleet, role, "--check", "-e", '{"podnet_%s_fix": true}' % role)
        assert rc == 0 and recap_changed(out) >= 1, out  # it would fix, so the checks as read fail nothing
        assert probes.sysctl_value(node, key) == "0" and probes.node_snapshot(node) == before, out

        rc, out = run_role(roles_fleet, role, "-e", '{"podnet_%s_fix": true}' % role)
        assert rc == 0 and recap_changed(out) >= 1, out
        assert probes.sysctl_value(node, key) == "1"
        assert "%s = 1" % key in node_exec(node, ["cat", DROP_IN]).stdout

        rc, out = run_role(roles_fleet, role, "-e", '{"podnet_%s_fix": true}' % role)
        assert rc == 0 and recap_changed(out) == 0, out

        lab_fleet.reboot(node)
        assert probes.sysctl_value(node, key) == "1"
        rc, out = run_role(roles_fleet, role)
        assert rc == 0 and recap_changed(out) == 0, out
    finally:
        faults.remove_file(node, faults.HARDENING_FILE)
        faults.forget_podnet_doctor(node)
        faults.set_sysctl_runtime(node, key, "1")
