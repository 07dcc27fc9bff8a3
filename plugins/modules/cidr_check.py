#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cidr_check
short_description: Pod and service CIDRs against every host network of the fleet (runs on the controller)
version_added: 1.0.0
description:
  - An action plugin; nothing runs on the nodes. Three modes, used in this order by the
    C(podnet.doctor.preflight) role so that the fleet comparison is made once, not once per host.
  - C(resolve) (run once) finds the cluster's CIDRs and their sources, by precedence - O(pod_cidr) and
    O(service_cidr), a kubeadm config file (ClusterConfiguration v1beta3/v1beta4
    C(networking.podSubnet)/C(serviceSubnet)), a kOps cluster spec (old and new field locations; its
    VPC C(networkCIDR) and subnets become reserved networks), then kubeadm's defaults.
  - C(fleet) (run once) compares them with the union of every host's C(host_networks) (from
    M(podnet.doctor.node_info)) and O(reserved_networks); a conflict fails the host that owns the network
    (a reserved one fails every host) and names both sides' sources and a free range of the same size.
  - C(host) returns this host's checks C(cidr.pod_service), C(cidr.pod_host), C(cidr.service_host) from O(results),
    after O(ignore).
author: podnet.doctor developers (@podnet)
extends_documentation_fragment:
  - podnet.doctor.attributes.read_only
  - podnet.doctor.checks
requirements: [netaddr (controller)]
options:
  mode:
    description: Which step to run.
    type: str
    choices: [resolve, fleet, host]
    default: host
  pod_cidr:
    description: The pod CIDR (dual-stack comma list allowed). In C(resolve), empty means "not set explicitly".
    type: str
  service_cidr:
    description: The service CIDR. In C(resolve), empty means "not set explicitly".
    type: str
  pod_source:
    description: Where O(pod_cidr) came from (C(fleet) mode; from C(resolve)).
    type: str
  service_source:
    description: Where O(service_cidr) came from (C(fleet) mode; from C(resolve)).
    type: str
  kubeadm_config:
    description: Path (on the controller) of a kubeadm config file.
    type: path
  kops_cluster_spec:
    description: Path (on the controller) of C(kops get cluster -o yaml) output.
    type: path
  live:
    description:
      - The registered result of M(podnet.doctor.cluster_network_info), used after the files
        (C(resolve)); flannel's backend port becomes RV(overlay_ports).
    type: dict
  reserved_networks:
    description: VPC, VLAN or on-prem ranges pods and services must not use (CIDRs or C({network, source}) dicts).
    type: list
    elements: raw
  hosts:
    description: Hosts whose networks to compare (C(fleet)); default the play's hosts.
    type: list
    elements: str
  facts_var:
    description: The registered result of M(podnet.doctor.node_info) on each host (C(fleet)).
    type: str
    default: podnet_node_info
  mtu_checks:
    description:
      - In C(fleet) mode, also judge each host's C(mtu.overlay) (from the C(mtu) facts of M(podnet.doctor.node_info))
        against every peer's uplink MTU, in the same controller step; the result replaces the node's own C(mtu.overlay)
        where both are merged (M(podnet.doctor.verdict), M(podnet.doctor.fleet_report)). A host fails when a peer's
        uplink is smaller than what its overlay sends, naming the peer.
    type: bool
    default: false
  results:
    description: This host's entry of the C(fleet) step's RV(per_host) (C(host) mode).
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Resolve the cluster's CIDRs once
  podnet.doctor.cidr_check:
    mode: resolve
    kubeadm_config: files/kubeadm-config.yaml
  run_once: true
  register: podnet_cluster
"""

RETURN = r"""
pod_cidr:
  description: The resolved pod CIDR (C(resolve)).
  returned: mode resolve
  type: str
  sample: 10.244.0.0/16
pod_source:
  description: Where it came from.
  returned: mode resolve
  type: str
  sample: "kubeadm.yaml: networking.podSubnet"
service_cidr:
  description: The resolved service CIDR (C(resolve)).
  returned: mode resolve
  type: str
service_source:
  description: Where it came from.
  returned: mode resolve
  type: str
overlay_ports:
  description: Overlay ports the live cluster's CNI uses (flannel's backend port), as C(PORT/PROTOCOL).
  returned: mode resolve
  type: list
  elements: str
reserved:
  description: Networks the cluster spec reserves (kOps VPC and subnets).
  returned: mode resolve
  type: list
  elements: dict
peers:
  description:
    - The address of every host of the play (C(ansible_host), else the inventory name), read once for
      the fleet (C(resolve)); M(podnet.doctor.node_info) derives the node networks from it. Read once
      here rather than by every host from every other host's variables, which grows with the square
      of the fleet.
  returned: mode resolve
  type: list
  elements: str
peer_names:
  description: The inventory names of the play's hosts, in the order of RV(peers) (C(resolve)).
  returned: mode resolve
  type: list
  elements: str
per_host:
  description: Host name to its list of CIDR checks (C(fleet)), and its C(mtu.overlay) with O(mtu_checks).
  returned: mode fleet
  type: dict
checks:
  description: This host's CIDR checks (C(host)).
  returned: mode host
  type: list
  elements: dict
"""
