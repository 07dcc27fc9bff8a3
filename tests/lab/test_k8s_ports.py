"""k8s_ports.inbound on a real node (issue 15, Kubernetes component ports).

Oracle: the lab's raw-socket observer (podnet_lab.arrivals) - packets from a peer to the kubelet (10250), the
apiserver (6443), etcd (2379-2380) and the NodePort range, TCP and UDP, arrive or not. With no firewall they
arrive and the check passes; behind a default-drop nftables input chain they do not, and the check fails naming
the ports (control-plane ports only on a control-plane node)."""
import json
import os
import random
import subprocess

from podnet_lab import arrivals, faults
from podnet_lab.podman import node_exec

from conftest import REPO, own_fleet

from ansible_collections.podnet.doctor.plugins.module_utils.network import k8s_components as kc

FLEET, SUBNET = "podnet-k8p", "192.168.105.0/24"
CONTROL_PLANE = kc.probe_ports(kc.component_ports("kubeadm", True) + kc.nodeport_ports(30000, 32767))

k8p_fleet = own_fleet(FLEET, 2, SUBNET)


def k8s_ports(lab, **args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="json")
    args = dict({"node_networks": [SUBNET], "k8s_distribution": "kubeadm"}, **args)
    proc = subprocess.run(["ansible", "-i", lab.inventory_path, "node1", "-m", "podnet.doctor.node_info", "-a", json.dumps(args)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    result = json.JSONDecoder().raw_decode(proc.stdout)[0]["plays"][0]["tasks"][0]["hosts"]["node1"]
    return dict((c["id"], c) for c in result["checks"])["k8s_ports.inbound"]


def test_component_ports_dropped_by_the_firewall_fail_naming_each_port(k8p_fleet):
    lab, node = k8p_fleet, k8p_fleet.node(1)
    rng = random.Random(1505)
    assert all(arrivals.arrived(node, lab.node(2), lab.address(1), CONTROL_PLANE, rng).values())
    healthy = k8s_ports(lab, control_plane=True)
    assert healthy["status"] == "pass", healthy
    faults.block_overlay(node, "nftables")  # default-drop input chain: SSH, loopback, ICMP only
    try:
        node_exec(node, ["conntrack", "-F"], check=False)
        arrived = arrivals.arrived(node, lab.node(2), lab.address(1), CONTROL_PLANE, rng)
        assert not any(arrived.values()), arrived
        failed = k8s_ports(lab, control_plane=True)
        assert failed["status"] == "fail", failed
        for port in ("10250", "6443", "2380", "10257", "10259", "30000", "32767"):
            assert port in failed["observed"], (port, failed)
        worker = k8s_ports(lab, control_plane=False)
        assert worker["status"] == "fail" and "10250" in worker["observed"] and "6443" not in worker["observed"], worker
        assert k8s_ports(lab, k8s_distribution="none")["status"] == "skip"
    finally:
        faults.unblock_overlay(node, "nftables")
