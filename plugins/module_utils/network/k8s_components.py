# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the Kubernetes components on a node need the host firewall to admit from the other nodes.

One table, one place, like :mod:`cni_catalog`. Each entry: (protocol, first port, last port, what it is).
Sources (upstream documentation of each distribution):

* kubeadm (kubernetes.io, "Reference / Networking / Ports and Protocols"): every node kubelet API TCP
  10250; control plane kube-apiserver TCP 6443, etcd server client API TCP 2379-2380, kube-scheduler
  TCP 10259, kube-controller-manager TCP 10257. NodePort Services TCP and UDP 30000-32767 on every node.
* k3s (docs.k3s.io, "Installation / Requirements", "Inbound Rules for K3s Nodes"): kubelet TCP 10250 on
  all nodes; servers TCP 6443 (supervisor and apiserver); TCP 2379-2380 only with embedded etcd (HA).
* rke2 (docs.rke2.io, "Install / Requirements", "Inbound Network Rules"): kubelet TCP 10250 on all
  nodes; servers TCP 6443 (apiserver), TCP 9345 (supervisor), TCP 2379-2380 (etcd).

The NodePort range is the cluster's (``podnet_nodeport_range``), opened from ``podnet_nodeport_sources``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

KUBELET = [("tcp", 10250, 10250, "kubelet API")]
ETCD = [("tcp", 2379, 2380, "etcd")]
CONTROL_PLANE = {
    "kubeadm": [("tcp", 6443, 6443, "kube-apiserver"), ("tcp", 10259, 10259, "kube-scheduler"),
                ("tcp", 10257, 10257, "kube-controller-manager")],
    "k3s": [("tcp", 6443, 6443, "k3s supervisor and kube-apiserver")],
    "rke2": [("tcp", 6443, 6443, "kube-apiserver"), ("tcp", 9345, 9345, "rke2 supervisor")],
}
_NUMBER = re.compile(r"(?<![0-9])[0-9]{1,5}(?![0-9])")
DISTRIBUTIONS = sorted(CONTROL_PLANE) + ["none"]
# none until the user names the distribution (and with it which hosts are control plane): a guessed
# kubeadm worker fails a k3s agent or passes an apiserver port nobody checked
DEFAULT_DISTRIBUTION = "none"
# where etcd runs on the control-plane nodes unless told (podnet_embedded_etcd): kubeadm's stacked etcd
# and rke2's embedded one do; a k3s server only with --cluster-init (HA), else it keeps SQLite (kine)
ETCD_ON_CONTROL_PLANE = {"kubeadm": True, "k3s": False, "rke2": True}
# kubeadm's and kubespray's inventory group of control-plane hosts
DEFAULT_CONTROL_PLANE_GROUP = "kube_control_plane"


def argument_spec():
    """node_info's options for k8s_ports.inbound (documented there)."""
    return dict(
        k8s_distribution=dict(type="str", choices=DISTRIBUTIONS, default=DEFAULT_DISTRIBUTION),
        control_plane=dict(type="bool"),
        control_plane_group=dict(type="str", default=DEFAULT_CONTROL_PLANE_GROUP),
        group_names=dict(type="list", elements="str", default=[]),
        nodeport_sources=dict(type="list", elements="str"),
        embedded_etcd=dict(type="bool"),
    )


def validated_sources(value, variable="podnet_nodeport_sources"):
    """The NodePort sources as networks: None = the node networks (decided by the caller), [] = no NodePort
    probe (Services reached through nothing outside the node), else every item a CIDR or address."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise ValueError("%s=%r is not a list of CIDRs; write e.g. [10.0.0.0/16], [] to skip the NodePort ports, "
                         "or leave it unset for the node networks" % (variable, value))
    networks = []
    for item in value:
        try:
            network = ipaddress.ip_network(u"%s" % item, strict=False)
        except ValueError:
            raise ValueError("%s: %r is not a CIDR (e.g. 10.0.0.0/16 or 192.0.2.10); fix the list item" % (variable, item))
        if network.version != 4:
            # the evaluators judge the IPv4 rulesets only (an IPv6 flow is not theirs: ip6tables / nft ip6 decide it)
            # and the fixer writes IPv4 rules (iptables refuses -s with an IPv6 prefix, nft `ip saddr` too)
            raise ValueError("%s: %r is IPv6; k8s_ports.inbound judges and opens IPv4 sources only: list the IPv4 "
                             "networks the NodePorts are reached from" % (variable, item))
        networks.append(str(network))
    return networks


def is_control_plane(host_flag, groups, group_name=DEFAULT_CONTROL_PLANE_GROUP):
    """Whether this host runs the control plane: ``host_flag`` (podnet_control_plane, True/False) wins
    when set, else membership of the inventory group ``group_name``."""
    if host_flag is not None:
        return bool(host_flag)
    return group_name in (groups or [])


def component_ports(distribution, control_plane, embedded_etcd=None):
    """[(protocol, first, last, description)] this node must admit from the node networks. ``embedded_etcd``:
    whether etcd runs on the control-plane nodes (None: the distribution's default, :data:`ETCD_ON_CONTROL_PLANE`;
    False for an external etcd cluster)."""
    if distribution == "none":
        return []
    ports = list(KUBELET)
    if control_plane:
        ports += CONTROL_PLANE[distribution]
        if ETCD_ON_CONTROL_PLANE[distribution] if embedded_etcd is None else embedded_etcd:
            ports += ETCD
    return ports


def nodeport_ports(low, high):
    return [("tcp", low, high, "NodePort Services"), ("udp", low, high, "NodePort Services")]


def mentioned_numbers(facts):
    """Every integer a firewall's facts hold (rule texts, nft JSON, firewalld XML): the only places a port
    match can start or end. Counters and addresses add probes, never hide one."""
    found = set()
    todo = [facts]
    while todo:
        value = todo.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            found.add(value)
        elif isinstance(value, str):
            found.update(int(number) for number in _NUMBER.findall(value))
        elif isinstance(value, dict):
            todo.extend(value.keys())
            todo.extend(value.values())
        elif isinstance(value, (list, tuple)):
            todo.extend(value)
    return found


def probe_ports(entries, mentioned=()):
    """The single-port (protocol, port, description) entries the evaluator sends for each range. A rule
    matches a port interval whose bounds are numbers its text names, so the verdict over a range can only
    change at a named number ``n`` (an interval starting there) or at ``n + 1`` (one ending at ``n``):
    probing the range's edges and those points inside it probes every stretch of equal verdict once, and a
    rule that drops the middle of the NodePort range is seen. ``mentioned``: :func:`mentioned_numbers`."""
    probes = []
    for proto, first, last, desc in entries:
        ports = {first, last}
        ports.update(port for number in mentioned for port in (number, number + 1) if first < port < last)
        for port in sorted(ports):
            probes.append((proto, port, desc))
    return probes
