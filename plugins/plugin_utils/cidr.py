# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CIDR comparison on the controller: which networks share an address, a free block of a given size,
and the fleet's CIDR checks built from them.

One implementation behind the filters (plugins/filter/cidr.py) and the ``cidr_check`` action
(plugins/action/cidr_check.py); each turns a :class:`CidrError` into its own kind of failure
with the message unchanged.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import CidrError

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # pragma: no cover - reported when a comparison is made
    HAS_NETADDR = False

RFC1918 = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
ULA = ["fd00::/8"]
RELATION_WORDS = {"equal": "equals", "inside": "lies inside", "contains": "contains", "overlaps": "overlaps"}


def _networks(value, what="value"):
    """CIDR, list of CIDRs, or comma list -> [(text, IPNetwork)]; CidrError naming the value."""
    if not HAS_NETADDR:
        raise CidrError("podnet.doctor CIDR filters need the Python library netaddr on the controller "
                        "(pip install netaddr)")
    if value is None:
        raise CidrError("%s is empty: expected a CIDR such as 10.244.0.0/16" % what)
    if isinstance(value, (list, tuple)):
        items = []
        for entry in value:
            if isinstance(entry, dict):
                entry = entry.get("network") or entry.get("cidr")
            items.extend(str(entry).split(","))
    else:
        items = str(value).split(",")
    result = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if "/" not in item:
            raise CidrError("%s %r is not a CIDR: give a prefix length, e.g. %s/24" % (what, item, item))
        try:
            network = netaddr.IPNetwork(item)
        except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
            raise CidrError("%s %r is not a valid CIDR: %s" % (what, item, exc))
        if network.ip != network.network:
            raise CidrError("%s %r has host bits set: the network is %s" % (what, item, network.cidr))
        result.append((item, network))
    if not result:
        raise CidrError("%s is empty: expected a CIDR such as 10.244.0.0/16" % what)
    return result


def cidr_overlaps(a, b):
    return bool(cidr_conflicts(a, b))


def _relation(first, second):
    if first == second:
        return "equal"
    if first in second:
        return "inside"
    if second in first:
        return "contains"
    return "overlaps"


def cidr_conflicts(candidates, networks):
    """Every (candidate, network) pair sharing an address, with how they relate.

    ``networks`` may carry dicts ``{"network": ..., "source": ...}`` so a conflict
    names where the other side came from."""
    sources = {}
    if isinstance(networks, (list, tuple)):
        for entry in networks:
            if isinstance(entry, dict):
                sources.setdefault(str(entry.get("network") or entry.get("cidr")), entry.get("source"))
    found = []
    for ctext, cnet in _networks(candidates, "candidate"):
        for ntext, nnet in _networks(networks, "network"):
            if cnet.version != nnet.version:
                continue
            if cnet.first <= nnet.last and nnet.first <= cnet.last:
                found.append({"candidate": ctext, "network": ntext, "relation": _relation(cnet, nnet),
                              "source": sources.get(ntext)})
    return found


def cidr_suggest(taken, prefixlen, pool=None):
    """The first block of ``/prefixlen`` in ``pool`` (default RFC 1918, or fd00::/8 for
    IPv6 prefix lengths above 32) that overlaps nothing in ``taken``; deterministic."""
    try:
        prefixlen = int(prefixlen)
    except (TypeError, ValueError):
        raise CidrError("prefix length %r is not a number" % (prefixlen,))
    taken_nets = [n for _t, n in _networks(taken, "taken network")] if taken else []
    if pool is None:
        pool = ULA if prefixlen > 32 else RFC1918
    for _ptext, pool_net in _networks(pool, "pool"):
        if not pool_net.prefixlen <= prefixlen <= (32 if pool_net.version == 4 else 128):
            continue
        candidate = netaddr.IPNetwork("%s/%d" % (pool_net.network, prefixlen))
        while candidate.last <= pool_net.last:
            clash = [t for t in taken_nets if t.version == candidate.version and
                     candidate.first <= t.last and t.first <= candidate.last]
            if not clash:
                return str(candidate.cidr)
            # jump past the furthest clashing network, aligned to the block size
            end = max(t.last for t in clash) + 1
            size = candidate.size
            start = ((end - pool_net.first + size - 1) // size) * size + pool_net.first
            if start > pool_net.last:
                break
            candidate = netaddr.IPNetwork("%s/%d" % (netaddr.IPAddress(start, pool_net.version), prefixlen))
    raise CidrError("no free /%d in %s outside %s" % (
        prefixlen, ", ".join(str(p) for p in (pool if isinstance(pool, list) else [pool])),
        ", ".join(str(t) for t in taken_nets)))


def _prefixlen(cidr):
    return int(cidr.split(",")[0].split("/")[1])


def _describe(conflicts, candidate_label):
    return "; ".join("%s %s %s %s (%s)" % (candidate_label, c["candidate"], RELATION_WORDS[c["relation"]],
                                           c["network"], c["source"]) for c in conflicts)


def fleet_checks(cluster, hosts_networks, reserved, missing=()):
    """{host: [cidr.pod_service, cidr.pod_host, cidr.service_host]} for every host."""
    pod, service = cluster["pod_cidr"], cluster["service_cidr"]
    union = [dict(n, host=h) for h, nets in sorted(hosts_networks.items()) for n in nets]
    reserved = [dict(n, host=None) for n in reserved]
    taken = [n["network"] for n in union + reserved]
    per_host = dict((h, []) for h in hosts_networks)
    per_host.update((h, []) for h in missing)

    both = cidr_conflicts(pod, [service])
    if both:
        free = cidr_suggest(taken + [pod], _prefixlen(service))
        pod_service = check_result("cidr.pod_service", "fail", "pod CIDR %s (%s) and service CIDR %s (%s) overlap" % (
            pod, cluster["pod_source"], service, cluster["service_source"]), "pod and service CIDRs disjoint",
            "use a service CIDR that overlaps nothing, e.g. %s (same size, free on every host)" % free)
    else:
        pod_service = check_result("cidr.pod_service", "pass", "pod %s (%s), service %s (%s)" % (
            pod, cluster["pod_source"], service, cluster["service_source"]), "pod and service CIDRs disjoint")

    results = {}
    for check_id, cidr, label, source, other in (
            ("cidr.pod_host", pod, "pod CIDR", cluster["pod_source"], service),
            ("cidr.service_host", service, "service CIDR", cluster["service_source"], pod)):
        conflicts = cidr_conflicts(cidr, union + reserved) if union + reserved else []
        free = cidr_suggest(taken + [other], _prefixlen(cidr)) if conflicts else None
        results[check_id] = (cidr, label, source, conflicts, free)

    for host in per_host:
        checks = [dict(pod_service)]
        if host in missing:
            for check_id in ("cidr.pod_host", "cidr.service_host"):
                checks.append(check_result(check_id, "error", "no host networks from this host (unreachable or node_info failed)",
                                           "host networks known"))
            per_host[host] = checks
            continue
        for check_id, (cidr, label, source, conflicts, free) in sorted(results.items()):
            mine = [c for c in conflicts if c.get("source") and (
                c["source"].startswith(host + " ") or not any(c["source"].startswith(h + " ") for h in hosts_networks))]
            expected = "%s overlaps no host network, route or reserved range" % label
            if mine:
                checks.append(check_result(check_id, "fail", "%s from %s: %s" % (label, source, _describe(mine, label)), expected,
                                           "choose a %s that is free on every host, e.g. %s (same size)" % (label, free),
                                           suggested=free))
            else:
                elsewhere = "; %d conflict(s) on other hosts" % len(conflicts) if conflicts else ""
                checks.append(check_result(check_id, "pass", "%s %s (%s) overlaps none of this host's networks%s" % (
                    label, cidr, source, elsewhere), expected))
        per_host[host] = checks
    return per_host
