"""Calico IPIP behind a default-drop nftables chain (issue 12, section 2).

The fix used to write ``meta l4proto ipip``, which Debian's /etc/protocols resolves to 94,
while the evaluator read ``ipip`` as 4 and passed: remediate "fixed" it and real IP-protocol-4
packets from a peer were still dropped. Judged here by real packets: after the real
``podnet.doctor.remediate`` playbook, IP protocol 4 (and BGP) from a peer on the node network
arrive at the node, overlay.inbound agrees, and IP protocol 4 from outside the node network
is still dropped (the opening is scoped to it)."""
import json
import os
import random
import subprocess

from conftest import REPO, ansible_playbook, own_fleet
from podnet_lab import arrivals, faults, firewall_layouts, fleet as lab_fleet
from podnet_lab.podman import node_exec, run

SUBNET, OUTSIDE_SUBNET = firewall_layouts.SUBNET, firewall_layouts.OUTSIDE_SUBNET
CALICO_IPIP = [("tcp", 179, "Calico BGP"), ("ipip", None, "Calico IP-in-IP (IP protocol 4)")]
IPIP_ONLY = [("ipip", None, "IP protocol 4")]


ipip_fleet = own_fleet(firewall_layouts.FLEET_NAME, 2, SUBNET,
                       inventory_vars={"podnet_cni": "calico", "podnet_cni_mode": "ipip"})


def attach_outsider(lab):
    """A host on 192.168.92.0/24, which node1 is also attached to (as 192.168.92.11)."""
    network, outsider = "%s-outside" % lab.name, "%s-outsider" % lab.name
    label = "%s=%s" % (lab_fleet.LABEL, lab.name)
    run(["network", "create", "--subnet", OUTSIDE_SUBNET, "--label", label, network])
    run(["run", "-d", "--name", outsider, "--privileged", "--network", network, "--ip", "192.168.92.50",
         "--label", label, "--entrypoint", "sleep", "localhost/podnet-node:latest", "infinity"])
    run(["network", "connect", "--ip", "192.168.92.11", network, lab.node(1)])
    return outsider, "192.168.92.11"


def overlay_inbound(lab, cni="calico", cni_mode="ipip"):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="json")
    args = {"cni": cni, "cni_mode": cni_mode, "node_networks": [SUBNET]}
    proc = subprocess.run(["ansible", "-i", lab.inventory_path, "node1", "-m", "podnet.doctor.node_info",
                           "-a", json.dumps(args)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    result = json.JSONDecoder().raw_decode(proc.stdout)[0]["plays"][0]["tasks"][0]["hosts"]["node1"]
    return dict((c["id"], c) for c in result["checks"])["overlay.inbound"]


def test_remediated_calico_ipip_admits_ip_protocol_4_from_peers_only(ipip_fleet):
    lab, node = ipip_fleet, ipip_fleet.node(1)
    rng = random.Random(12)
    outsider, outside_address = attach_outsider(lab)
    # with no firewall both the peer's and the outsider's protocol-4 packets arrive: the oracle works
    assert all(arrivals.arrived(node, lab.node(2), lab.address(1), CALICO_IPIP, rng).values())
    assert all(arrivals.arrived(node, outsider, outside_address, IPIP_ONLY, rng).values())
    faults.block_overlay(node, "nftables")  # default-drop input chain: SSH, loopback, ICMP only
    try:
        node_exec(node, ["conntrack", "-F"], check=False)
        assert not any(arrivals.arrived(node, lab.node(2), lab.address(1), CALICO_IPIP, rng).values())
        before = overlay_inbound(lab)
        assert before["status"] == "fail", before

        rc, out = ansible_playbook(lab.inventory_path, "podnet.doctor.remediate", "-l", "node1")
        assert rc == 0, out
        ruleset = node_exec(node, ["nft", "list", "ruleset"]).stdout
        assert "meta l4proto ipencap accept" in ruleset, ruleset  # nft prints 4 by its Debian name
        assert " ipip " not in ruleset, ruleset                   # never protocol 94

        node_exec(node, ["conntrack", "-F"], check=False)
        arrived = arrivals.arrived(node, lab.node(2), lab.address(1), CALICO_IPIP, rng)
        assert all(arrived.values()), arrived
        after = overlay_inbound(lab)
        assert after["status"] == "pass", after
        # scoped to the node network: IP protocol 4 from outside it is still dropped
        assert not any(arrivals.arrived(node, outsider, outside_address, IPIP_ONLY, rng).values())

        # and at boot: the opening is in the files nftables.service loads
        lab_fleet.reboot(node)
        arrived = arrivals.arrived(node, lab.node(2), lab.address(1), CALICO_IPIP, rng)
        assert all(arrived.values()), arrived
        assert overlay_inbound(lab)["status"] == "pass"
    finally:
        faults.unblock_overlay(node, "nftables")
        faults.forget_podnet_doctor(node)
