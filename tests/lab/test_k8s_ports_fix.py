"""podnet.doctor.remediate's k8s_ports area on real nodes (issue 15): per firewall backend, a node whose firewall
drops the Kubernetes component ports and the NodePort range is opened to the node network only, now and after a
reboot.

Oracle: the lab's raw-socket observer (podnet_lab.arrivals): new flows from node2 (node network 192.168.111.0/24)
to node1's kubelet, apiserver, etcd, scheduler, controller-manager ports and the NodePort range's ends and a middle
port, TCP and UDP, reach local delivery or not; the same flows from OUTSIDE the node network (node2's address on a
second podman network, 192.168.112.0/24, to node1's address there) must keep not arriving. Order per backend:
symptom (nothing arrives), check fails, ``--check`` changes nothing, remediate, arrivals, outsider still dropped,
second run changed=0, reboot (podman restart), arrivals and the check passes. One fleet for every backend."""
import random

import pytest

from conftest import ansible_playbook, node_info, own_fleet
from podnet_lab import arrivals, faults, fleet as lab_fleet
from podnet_lab.podman import node_exec, node_sh, run

FLEET, SUBNET, OUTSIDE_SUBNET = "podnet-k8r", "192.168.111.0/24", "192.168.112.0/24"
OUTSIDE = {1: "192.168.112.11", 2: "192.168.112.12"}
COMPONENTS = [("tcp", 10250, "kubelet"), ("tcp", 6443, "kube-apiserver"), ("tcp", 2379, "etcd"), ("tcp", 2380, "etcd"),
              ("tcp", 10259, "kube-scheduler"), ("tcp", 10257, "kube-controller-manager")]
ADMIN_DENIED = 31337  # the NodePort probe in the middle of the range, denied by the admin's own rule (ufw, firewalld)
# the NodePort range's ends and a port in the middle, TCP and UDP
PROBES = COMPONENTS + [(proto, port, "NodePort") for proto in ("tcp", "udp") for port in (30000, 31337, 32767)]
BACKENDS = ("firewalld", "nftables", "iptables-legacy", "ufw")
K8S = {"k8s_distribution": "kubeadm", "control_plane": True}
IPT_DEFAULT_DROP = ["-P INPUT DROP", "-A INPUT -i lo -j ACCEPT", "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
                    "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT", "-A INPUT -p icmp -j ACCEPT"]


def attach_outside(lab):
    """Both nodes on a second network: node2's address there is outside node1's node network."""
    network = "%s-outside" % lab.name
    run(["network", "create", "--subnet", OUTSIDE_SUBNET, "--label", "%s=%s" % (lab_fleet.LABEL, lab.name), network])
    for index, address in OUTSIDE.items():
        mac = "02:00:" + ":".join("%02x" % int(o) for o in address.split("."))  # kept across reboots, as a server's
        run(["network", "connect", "--ip", address, "--mac-address", mac, network, lab.node(index)])


k8r_fleet = own_fleet(FLEET, 2, SUBNET, prepare=attach_outside,
                      inventory_vars={"podnet_k8s_distribution": "kubeadm", "podnet_control_plane": True})


def drop_everything(node, backend):
    """A default-drop input firewall (SSH, loopback and ICMP only), persistent like a real node's."""
    if backend != "iptables-legacy":
        faults.block_overlay(node, backend)  # firewalld's public zone, the nft default-drop chain, ufw deny incoming
        # and the administrator's own deny of a port inside the NodePort range: an accept that goes after it
        # (ufw allow appends; a priority-0 accept rich rule runs after priority-0 rejects) leaves it closed
        if backend == "ufw":
            node_exec(node, ["ufw", "deny", "%d/tcp" % ADMIN_DENIED])
        elif backend == "firewalld":
            rich = 'rule family="ipv4" port port="%d" protocol="tcp" reject' % ADMIN_DENIED
            for permanent in ([], ["--permanent"]):
                node_exec(node, ["firewall-cmd"] + permanent + ["--zone=public", "--add-rich-rule=" + rich])
        return
    faults.use_iptables_backend(node, "legacy")
    node_sh(node, "\n".join("iptables-legacy %s" % rule for rule in IPT_DEFAULT_DROP) +
            "\nmkdir -p /etc/iptables && iptables-legacy-save > /etc/iptables/rules.v4")
    node_exec(node, ["sh", "-c", 'cat > "$0"', "/etc/systemd/system/%s.service" % faults.IPT_FAULT_UNIT],
              input=faults._IPT_RESTORE_UNIT % "iptables-legacy")
    node_exec(node, ["systemctl", "daemon-reload"])
    node_exec(node, ["systemctl", "enable", faults.IPT_FAULT_UNIT])


def undo(node, backend):
    if backend == "firewalld":  # the permanent rich rule outlives firewalld's disable: remove it for the next case
        node_exec(node, ["firewall-cmd", "--permanent", "--zone=public", "--remove-rich-rule=rule family=\"ipv4\" "
                         "port port=\"%d\" protocol=\"tcp\" reject" % ADMIN_DENIED], check=False)
    if backend != "iptables-legacy":
        faults.unblock_overlay(node, backend)
        return
    node_sh(node, "iptables-legacy -P INPUT ACCEPT; iptables-legacy -F INPUT")
    node_exec(node, ["systemctl", "disable", faults.IPT_FAULT_UNIT], check=False)
    faults.remove_file(node, "/etc/iptables/rules.v4")
    faults.use_iptables_backend(node, "nft")


def seen(lab, rng, outside=False):
    """{(proto, port): arrived} at node1 from node2, on the node network or from outside it."""
    node_exec(lab.node(1), ["conntrack", "-F"], check=False)
    target = OUTSIDE[1] if outside else lab.address(1)
    return arrivals.arrived(lab.node(1), lab.node(2), target, PROBES, rng)


def remediate(lab, *extra):
    return ansible_playbook(lab.inventory_path, "podnet.doctor.remediate", "-l", "node1", *extra)


@pytest.mark.parametrize("backend", BACKENDS)
def test_remediate_opens_k8s_ports_to_the_node_network_only(k8r_fleet, backend):
    lab, node = k8r_fleet, k8r_fleet.node(1)
    rng = random.Random(1508)
    # with no firewall both paths deliver: the outsider's later silence is the opening's scope, not the lab
    assert all(seen(lab, rng).values()) and all(seen(lab, rng, outside=True).values())
    drop_everything(node, backend)
    try:
        assert not any(seen(lab, rng).values()), "the fault does not drop the component ports"
        assert node_info(lab.inventory_path, "node1", **K8S)["k8s_ports.inbound"]["status"] == "fail"

        rc, out = remediate(lab, "--check", "--diff")
        assert rc == 0, out
        assert not any(seen(lab, rng).values()), "--check opened a port"
        assert node_info(lab.inventory_path, "node1", **K8S)["k8s_ports.inbound"]["status"] == "fail"

        if backend == "nftables":
            # the overlay area alone, then the k8s area alone, then the overlay again: nothing to undo or redo
            only = '{"podnet_remediate_areas": ["%s"], "podnet_recheck": false}'
            rc, out = remediate(lab, "-e", only % "overlay_firewall")
            assert rc == 0 and "changed=1" in out, out
            assert not any(seen(lab, rng).values()), "the overlay area opened the component ports"
            rc, out = remediate(lab, "-e", only % "k8s_ports", "--diff")
            assert rc == 0 and "30000-32767" in out, out
            rc, out = remediate(lab, "-e", only % "overlay_firewall")
            assert rc == 0 and "changed=0" in out, out
        rc, out = remediate(lab, "--diff")
        assert rc == 0, out
        rc, out = remediate(lab)
        assert rc == 0 and "changed=0" in out, out

        assert all(seen(lab, rng).values()), seen(lab, rng)
        assert not any(seen(lab, rng, outside=True).values()), "opened beyond the node network"

        lab_fleet.reboot(node)
        assert all(seen(lab, rng).values()), "the opening did not survive the reboot"
        assert not any(seen(lab, rng, outside=True).values())
        assert node_info(lab.inventory_path, "node1", **K8S)["k8s_ports.inbound"]["status"] == "pass"
    finally:
        undo(node, backend)
        faults.forget_podnet_doctor(node)
        lab_fleet.reboot(node)
