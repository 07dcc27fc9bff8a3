# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  cni:
    description:
      - The CNI plugin; with O(cni_mode) it decides which overlay ports must be open (the catalog in
        C(plugins/module_utils/network/cni_catalog.py)). C(custom) needs O(overlay_ports).
    type: str
    default: flannel
  cni_mode:
    description: The CNI's backend, e.g. C(vxlan), C(udp), C(host-gw), C(ipip), C(bgp), C(geneve), C(wireguard),
      C(gre), C(stt), C(noencap), C(fou) (the catalog in the README lists each CNI's).
    type: str
    default: vxlan
  overlay_ports:
    description: Replace the catalog's ports, as C(PORT/PROTOCOL) strings (C(8472/udp), C(ipip)).
    type: list
    elements: raw
    default: []
  node_networks:
    description:
      - Networks the peers send overlay traffic from. Empty derives them from O(peers) (the networks
        of this node's interfaces that hold a peer's address).
    type: list
    elements: str
    default: []
  peers:
    description: Addresses of the other nodes (the inventory's C(ansible_host)), used to derive O(node_networks).
    type: list
    elements: str
    default: []
  pod_cidr:
    description: The cluster's pod network, for forwarded pod traffic.
    type: str
    default: 10.244.0.0/16
"""
