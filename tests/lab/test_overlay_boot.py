"""overlay.boot against real reboots: the verdict about the next boot is judged by rebooting
the node and sending real VXLAN to it.

Per firewall backend, the overlay port is opened at runtime only (by hand, as an admin
would): overlay.inbound passes and packets arrive now, overlay.boot fails, and after a
reboot (``podman restart``) the packets are dropped. Then remediate on that runtime-only
state: overlay.boot passes, and after a reboot the packets arrive. The same for a firewall
enabled at boot but stopped now (nothing filters now; the next boot does).

The oracle is a ping from node1 to the judged node's VTEP address (flannel.1): it crosses that node's
firewall inside UDP 8472 and ends on node2 itself, so it judges exactly the inbound overlay
port (forwarding to pods is overlay.forward's business).

Three generations (issue 16): node1 sends, nodes 2-4 are bullseye, bookworm and trixie
(``image.matrix_releases``), and every case runs on each of them (the test id names the release).
"""
import os
import time

import pytest

from conftest import ansible_playbook, node_info, own_fleet
from podnet_lab import faults, fleet as lab_fleet, image, pods, probes
from podnet_lab.podman import node_exec, node_sh

FLEET_NAME = os.environ.get("PODNET_BOOT_FLEET", "podnet-rfboot")
FLEET_SUBNET = os.environ.get("PODNET_BOOT_SUBNET", "192.168.120.0/24")
# node1 sends; the judged nodes 2, 3, 4 are one release each (bullseye, bookworm, trixie)
JUDGED_RELEASES = image.matrix_releases(len(image.MATRIX))
JUDGED = [(index + 2, release) for index, release in enumerate(JUDGED_RELEASES)]
JUDGED_IDS = ["node%d-%s" % judged for judged in JUDGED]


boot_fleet = own_fleet(FLEET_NAME, 1 + len(JUDGED), FLEET_SUBNET, release=[image.default_release()] + JUDGED_RELEASES)


RESTORE_UNIT = faults.IPT_FAULT_UNIT
# Every firewall off, now and at boot, and no boot file left: a node no firewall test touched.
# Cheaper than a reboot between cases (the runtime rules are flushed instead).
CLEAN_SCRIPT = r"""
set +e
systemctl unmask nftables.service ufw.service firewalld.service %(unit)s.service >/dev/null 2>&1
systemctl disable --now firewalld.service nftables.service ufw.service %(unit)s.service >/dev/null 2>&1
rm -f /etc/nftables.d/*.nft /etc/iptables/rules.v4* /etc/firewalld/zones/* /etc/systemd/system/%(unit)s.service \
    /usr/local/lib/systemd/system/%(unit)s.service
mkdir -p /etc/nftables.d /etc/iptables
printf '#!/usr/sbin/nft -f\nflush ruleset\n' > /etc/nftables.conf
ufw --force reset >/dev/null 2>&1; rm -f /etc/ufw/*.rules.20* /etc/ufw/*.rules.*_* 2>/dev/null
sed -i 's/^ENABLED=.*/ENABLED=no/' /etc/ufw/ufw.conf
nft flush ruleset
for t in filter nat mangle raw; do iptables-legacy -t $t -F; iptables-legacy -t $t -X; done 2>/dev/null
iptables-legacy -P INPUT ACCEPT
systemctl daemon-reload
true
""" % {"unit": RESTORE_UNIT}


def reset_firewalls(node):
    node_sh(node, CLEAN_SCRIPT)


def vtep_ping(fleet, src=1, dst=2, count=3):
    """Real VXLAN (UDP 8472) into node ``dst``, ending on its own flannel.1 address."""
    pods.ensure(fleet, [fleet.node(src), fleet.node(dst)])
    target = "%s.%d.0" % (pods.POD_CIDR_PREFIX, dst)
    result = probes._ping(fleet.node(src), None, target, count, "node%d -> VTEP %s of node%d" % (src, target, dst))
    if result.loss and result.loss < 100:  # a neighbour entry still settling after a reboot: ask again
        time.sleep(1)
        result = probes._ping(fleet.node(src), None, target, count, result.name)
    return result


# How an admin opens the port by hand, at runtime only; the fault itself is persistent.
RUNTIME_ONLY_OPENING = {
    "firewalld": [["firewall-cmd", "--zone=public", "--add-port=8472/udp"]],
    "nftables": [["nft", "insert", "rule", "inet", "podnet_lab_filter", "input", "udp", "dport", "8472", "accept"]],
    "iptables-legacy": [["iptables-legacy", "-I", "INPUT", "-p", "udp", "--dport", "8472", "-j", "ACCEPT"]],
    "iptables-nft": [["iptables-nft", "-I", "INPUT", "-p", "udp", "--dport", "8472", "-j", "ACCEPT"]],
    "ufw": [["iptables", "-I", "ufw-user-input", "-p", "udp", "--dport", "8472", "-j", "ACCEPT"]],
    # enabled at boot, stopped now: nothing filters until the next boot
    "firewalld-stopped": [["systemctl", "stop", "firewalld"]],
}


def open_at_runtime_only(node, case):
    for argv in RUNTIME_ONLY_OPENING[case]:
        node_exec(node, argv, timeout=120)


@pytest.mark.parametrize("judged", JUDGED, ids=JUDGED_IDS)
@pytest.mark.parametrize("case", sorted(RUNTIME_ONLY_OPENING))
def test_overlay_boot_agrees_with_the_next_boot(boot_fleet, case, judged):
    fleet, index = boot_fleet, judged[0]
    node, host = fleet.node(index), fleet.hostname(index)
    backend = "firewalld" if case == "firewalld-stopped" else case
    faults.block_overlay(node, backend)
    try:
        open_at_runtime_only(node, case)
        assert vtep_ping(fleet, dst=index).loss == 0, "the runtime opening did not let VXLAN in"
        checks = node_info(fleet.inventory_path, host)
        assert checks["overlay.inbound"]["status"] == "pass", checks["overlay.inbound"]
        boot = checks["overlay.boot"]
        assert boot["status"] == "fail", boot
        assert "at the next boot" in boot["observed"] and boot.get("fix")

        lab_fleet.reboot(node)  # the oracle of that fail
        assert vtep_ping(fleet, dst=index).loss == 100, "overlay.boot failed, but after a reboot VXLAN still arrives"

        open_at_runtime_only(node, case)  # the runtime-only state again, now for remediate
        rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", host, "--diff")
        assert rc == 0, out
        checks = node_info(fleet.inventory_path, host)
        assert checks["overlay.boot"]["status"] == "pass", checks["overlay.boot"]
        assert checks["overlay.inbound"]["status"] == "pass", checks["overlay.inbound"]
        rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", host)
        assert rc == 0 and "changed=0" in out, out

        lab_fleet.reboot(node)  # the oracle of that pass
        assert vtep_ping(fleet, dst=index).loss == 0, "overlay.boot passed, but after a reboot VXLAN is dropped"
    finally:
        reset_firewalls(node)
        faults.forget_podnet_doctor(node)


@pytest.mark.parametrize("judged", JUDGED, ids=JUDGED_IDS)
def test_a_firewall_running_now_but_not_enabled_does_not_count_at_boot(boot_fleet, judged):
    fleet, index = boot_fleet, judged[0]
    node, host = fleet.node(index), fleet.hostname(index)
    faults.block_overlay(node, "nftables")
    try:
        node_exec(node, ["systemctl", "disable", "nftables"])  # still loaded now
        assert vtep_ping(fleet, dst=index).loss == 100
        checks = node_info(fleet.inventory_path, host)
        assert checks["overlay.inbound"]["status"] == "fail"
        assert checks["overlay.boot"]["status"] == "pass", checks["overlay.boot"]
        assert "loaded at boot: no firewall" in checks["overlay.boot"]["observed"]
        lab_fleet.reboot(node)
        assert vtep_ping(fleet, dst=index).loss == 0
    finally:
        reset_firewalls(node)
