# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument spec shared by the node modules (documented in doc_fragments/node.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible.module_utils.six import text_type

from ansible_collections.podnet.doctor.plugins.module_utils.cni_catalog import overlay_ports_for
from ansible_collections.podnet.doctor.plugins.module_utils.node_checks import (
    DEFAULT_MODULES_FILE, DEFAULT_SYSCTL_FILE)


def node_argument_spec():
    return dict(
        ip_families=dict(type="list", elements="str", choices=["ipv4", "ipv6"], default=["ipv4"]),
        sysctl_file=dict(type="path", default=DEFAULT_SYSCTL_FILE),
        modules_file=dict(type="path", default=DEFAULT_MODULES_FILE),
        root=dict(type="path", default="/"),
    )


def overlay_argument_spec():
    return dict(
        cni=dict(type="str", default="flannel"),
        cni_mode=dict(type="str", default="vxlan"),
        overlay_ports=dict(type="list", elements="raw", default=[]),
        node_networks=dict(type="list", elements="str", default=[]),
        peers=dict(type="list", elements="str", default=[]),
        pod_cidr=dict(type="str", default="10.244.0.0/16"),
    )


def validated_cidr(value, variable):
    """An IP network from ``value``; ValueError naming the variable otherwise."""
    try:
        return str(ipaddress.ip_network(text_type(value).strip(), strict=True))
    except ValueError as exc:
        raise ValueError("%s=%r is not a valid CIDR (%s); write it like 10.244.0.0/16" % (variable, value, exc))


def validated_overlay_params(params):
    """(ports, pod_cidr, node_networks) or ValueError/CatalogError naming the variable."""
    ports = overlay_ports_for(params["cni"], params["cni_mode"], params["overlay_ports"])
    pod_cidr = validated_cidr(params["pod_cidr"], "podnet_pod_cidr")
    networks = [validated_cidr(n, "podnet_node_networks") for n in params["node_networks"]]
    return ports, pod_cidr, networks
