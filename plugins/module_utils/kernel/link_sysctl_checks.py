# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-interface sysctl checks of node_info in one call: ``rp_filter.pod_links`` (:mod:`rp_filter`)
and ``ipv6.accept_ra`` (:mod:`accept_ra`), from one read of the sysctl files."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import accept_ra, rp_filter, sysctl_boot
from ansible_collections.podnet.doctor.plugins.module_utils.network import host_networks

CHECK_IDS = (rp_filter.CHECK_ID, accept_ra.CHECK_ID)


def uplink(addresses, routes, node_networks):
    """The interface holding the node's address in the node network, else the IPv4 default route's."""
    for network in node_networks:
        name, _address = host_networks.interface_for(addresses, network)
        if name:
            return name
    for route in routes:
        if route.get("dst") == "default" and route.get("dev") and ":" not in route.get("gateway", ""):
            return route["dev"]
    return None


def evaluate(root, cni, ip_families, addresses, routes, node_networks):
    """(checks, facts) for both checks."""
    loaded = sysctl_boot.load_boot_assignments(root)
    rp_facts = rp_filter.gather(root, cni, uplink(addresses, routes, node_networks), loaded)
    ra_facts = accept_ra.gather(root, addresses, routes, loaded)
    checks = [rp_filter.evaluate(rp_facts, ip_families), accept_ra.evaluate(ra_facts, ip_families)]
    return checks, {"rp_filter": rp_facts, "accept_ra": ra_facts}
