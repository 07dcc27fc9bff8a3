"""Antrea's GRE tunnel (IP protocol 47) behind firewalld (issue 15, CNI catalog).

GRE has no ports: a node passes only if its firewall admits IP protocol 47 from the node
network, besides the agent's TCP/UDP ports every Antrea mode needs. Judged by real packets (the
lab's own raw-socket oracle, podnet_lab.arrivals): with firewalld's default zone nothing of
Antrea's arrives from a peer and overlay.inbound fails; after the real podnet.doctor.remediate
playbook GRE and the agent ports from a peer arrive, overlay.inbound passes, GRE from outside
the node network is still dropped, and all of it holds after a reboot (firewalld's permanent
configuration)."""
import random

from podnet_lab import arrivals, faults, firewall_layouts, fleet as lab_fleet
from podnet_lab.podman import node_exec

from conftest import ansible_playbook, own_fleet
from test_ipip_remediation import attach_outsider, overlay_inbound

# tests/conftest.py makes the checkout importable as the collection
from ansible_collections.podnet.doctor.plugins.module_utils.network.cni_catalog import overlay_ports_for

ANTREA_GRE = overlay_ports_for("antrea", "gre")
GRE_ONLY = [("gre", None, "IP protocol 47")]


gre_fleet = own_fleet(firewall_layouts.FLEET_NAME, 2, firewall_layouts.SUBNET,
                      inventory_vars={"podnet_cni": "antrea", "podnet_cni_mode": "gre"})


def test_remediated_antrea_gre_admits_ip_protocol_47_from_peers_only(gre_fleet):
    lab, node = gre_fleet, gre_fleet.node(1)
    rng = random.Random(15)
    outsider, outside_address = attach_outsider(lab)
    # with no firewall the peer's and the outsider's packets arrive: the oracle sees GRE
    assert all(arrivals.arrived(node, lab.node(2), lab.address(1), ANTREA_GRE, rng).values())
    assert all(arrivals.arrived(node, outsider, outside_address, GRE_ONLY, rng).values())
    faults.block_overlay(node, "firewalld")  # the public zone: ssh and dhcpv6-client only
    try:
        node_exec(node, ["conntrack", "-F"], check=False)
        assert not any(arrivals.arrived(node, lab.node(2), lab.address(1), ANTREA_GRE, rng).values())
        before = overlay_inbound(lab, "antrea", "gre")
        assert before["status"] == "fail" and "IP protocol 47" in before["observed"], before

        rc, out = ansible_playbook(lab.inventory_path, "podnet.doctor.remediate", "-l", "node1")
        assert rc == 0, out
        rich = node_exec(node, ["firewall-cmd", "--permanent", "--list-rich-rules"]).stdout
        assert 'protocol value="47"' in rich and firewall_layouts.SUBNET in rich, rich

        node_exec(node, ["conntrack", "-F"], check=False)
        arrived = arrivals.arrived(node, lab.node(2), lab.address(1), ANTREA_GRE, rng)
        assert all(arrived.values()), arrived
        assert overlay_inbound(lab, "antrea", "gre")["status"] == "pass"
        # scoped to the node network: GRE from outside it is still dropped
        assert not any(arrivals.arrived(node, outsider, outside_address, GRE_ONLY, rng).values())

        rc, out = ansible_playbook(lab.inventory_path, "podnet.doctor.remediate", "-l", "node1")
        assert rc == 0 and "changed=0" in out, out

        lab_fleet.reboot(node)
        arrived = arrivals.arrived(node, lab.node(2), lab.address(1), ANTREA_GRE, rng)
        assert all(arrived.values()), arrived
        assert overlay_inbound(lab, "antrea", "gre")["status"] == "pass"
    finally:
        faults.unblock_overlay(node, "firewalld")
        faults.forget_podnet_doctor(node)
