# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument spec shared by the node modules (documented in doc_fragments/node.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import re

from ansible.module_utils.six import text_type

from ansible_collections.podnet.doctor.plugins.module_utils.network.cni_catalog import overlay_ports_for
from ansible_collections.podnet.doctor.plugins.module_utils.kernel.prereq_checks import (
    DEFAULT_MODULES_FILE, DEFAULT_SYSCTL_FILE)
from ansible_collections.podnet.doctor.plugins.module_utils.kernel.port_ranges import DEFAULT_NODEPORT_RANGE, parse_nodeport_range


def node_argument_spec():
    return dict(
        ip_families=dict(type="list", elements="str", choices=["ipv4", "ipv6"], default=["ipv4"]),
        sysctl_file=dict(type="path", default=DEFAULT_SYSCTL_FILE),
        modules_file=dict(type="path", default=DEFAULT_MODULES_FILE),
        root=dict(type="path", default="/"),
        nodeport_range=dict(type="str", default=DEFAULT_NODEPORT_RANGE),
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


# Where each tool reads our owned files from, and the suffix it requires.
OWNED_FILE_RULES = {
    "sysctl_file": ("podnet_sysctl_file", ("/etc/sysctl.d",), ".conf"),
    "modules_file": ("podnet_modules_file", ("/etc/modules-load.d",), ".conf"),
}
SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def validated_owned_file(value, parameter):
    """The path of a file the collection owns; ValueError naming the variable otherwise.

    A file elsewhere, or without the suffix, is never read at boot (systemd-sysctl and
    systemd-modules-load read only ``*.conf`` in their directories), so it is refused
    rather than written uselessly; so is any name a shell or a config parser could misread."""
    variable, directories, suffix = OWNED_FILE_RULES[parameter]
    text = text_type(value)
    directory, name = os.path.split(text)
    if directory not in directories or not name.endswith(suffix) or not SAFE_FILE_NAME.match(name):
        raise ValueError("%s=%r is not a file %s reads at boot; use %s/<name>%s with letters, digits, '.', '_' "
                         "or '-' in the name, e.g. %s" % (
                             variable, value, "systemd-sysctl" if parameter == "sysctl_file" else
                             "systemd-modules-load", directories[0], suffix,
                             DEFAULT_SYSCTL_FILE if parameter == "sysctl_file" else DEFAULT_MODULES_FILE))
    return text


def validated_owned_files(params):
    """Check every owned-file parameter present in ``params`` (and the NodePort range)."""
    for parameter in OWNED_FILE_RULES:
        if params.get(parameter) is not None:
            validated_owned_file(params[parameter], parameter)
    if params.get("nodeport_range") is not None:
        parse_nodeport_range(params["nodeport_range"])
