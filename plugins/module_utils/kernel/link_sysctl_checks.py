# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-interface sysctl checks of node_info in one call: ``rp_filter.pod_links`` (:mod:`rp_filter`)
and ``ipv6.accept_ra`` (:mod:`accept_ra`), from one read of the sysctl files."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

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
        if route.get("dst") == "default" and route.get("dev") and route.get("family", "inet") == "inet" \
                and ":" not in route.get("gateway", ""):
            return route["dev"]
    return None


def uplinks(addresses, routes, node_networks):
    """Every interface holding a node-network address (both families), else the default routes' devices."""
    found = []
    for network in node_networks:
        name, _address = host_networks.interface_for(addresses, network)
        if name and name not in found:
            found.append(name)
    if not found:
        found = [r["dev"] for r in routes if r.get("dst") == "default" and r.get("dev")]
    return sorted(set(found))


def evaluate(root, cni, ip_families, addresses, routes, node_networks, loaded=None):
    """(checks, facts) for both checks; ``loaded`` as for :func:`prereq_checks.gather_facts`."""
    if loaded is None:
        loaded = sysctl_boot.load_boot_assignments(root)
    rp_facts = rp_filter.gather(root, cni, uplink(addresses, routes, node_networks), loaded)
    ra_facts = accept_ra.gather(root, addresses, routes, loaded, uplinks(addresses, routes, node_networks))
    checks = [rp_filter.evaluate(rp_facts, ip_families), accept_ra.evaluate(ra_facts, ip_families)]
    return checks, {"rp_filter": rp_facts, "accept_ra": ra_facts}


def gather_links(run, node_networks):
    """What the kernel fixer reads of the node's links (``run(argv) -> (rc, out, err)``): ``addresses``, ``routes``
    (both families, tagged), ``uplinks``, and ``errors`` (an ``ip`` that failed: the fixer then cannot tell which
    interfaces depend on router advertisements)."""
    found = {"addresses": [], "routes": [], "errors": []}
    rc, out, err = run(["ip", "-j", "address", "show"])
    try:
        found["addresses"] = json.loads(out) if rc == 0 and out.strip() else []
    except ValueError as exc:
        found["errors"].append("ip -j address show printed something that is not JSON (%s)" % exc)
    if rc != 0:
        found["errors"].append("ip -j address show failed (rc=%s): %s" % (rc, (err or "").strip()))
    try:
        found["routes"] = host_networks.gather_routes(run)
    except ValueError as exc:
        found["errors"].append("ip -j route show table all printed something that is not JSON (%s)" % exc)
    found["uplinks"] = uplinks(found["addresses"], found["routes"], node_networks)
    return found
