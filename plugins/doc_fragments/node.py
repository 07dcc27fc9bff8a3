# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  ip_families:
    description:
      - IP families the cluster uses. C(ipv6) adds C(net.ipv6.conf.all.forwarding) and
        C(net.bridge.bridge-nf-call-ip6tables) to the checks.
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4]
  sysctl_file:
    description:
      - The sysctl.d drop-in this collection owns. Its name must sort after every other
        file that sets the same keys for it to win at boot.
      - Must be a C(.conf) file directly in C(/etc/sysctl.d) named with letters, digits, C(.), C(_)
        or C(-); anything else is never read at boot and is refused.
    type: path
    default: /etc/sysctl.d/99-zzz-podnet-doctor.conf
  modules_file:
    description:
      - The modules-load.d file this collection owns. Must be a C(.conf) file directly in
        C(/etc/modules-load.d) named with letters, digits, C(.), C(_) or C(-).
    type: path
    default: /etc/modules-load.d/podnet-doctor.conf
  nodeport_range:
    description:
      - The cluster's NodePort range (kube-apiserver C(--service-node-port-range)), as C(low-high).
        C(ports.nodeport_reserved) checks that the kernel never hands these ports out as source ports
        (C(net.ipv4.ip_local_port_range) minus C(net.ipv4.ip_local_reserved_ports)), now and at boot.
    type: str
    default: "30000-32767"
  root:
    description:
      - Directory to treat as C(/). For tests over fixture trees; leave at C(/) on nodes.
    type: path
    default: /
"""
