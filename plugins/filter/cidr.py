# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: cidr_overlaps.yml, cidr_conflicts.yml and cidr_suggest.yml beside this file.

from ansible.errors import AnsibleFilterError

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # pragma: no cover - reported when the filter is used
    HAS_NETADDR = False

RFC1918 = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
ULA = ["fd00::/8"]


def _networks(value, what="value"):
    """CIDR, list of CIDRs, or comma list -> [(text, IPNetwork)]; AnsibleFilterError naming the value."""
    if not HAS_NETADDR:
        raise AnsibleFilterError("podnet.doctor CIDR filters need the Python library netaddr on the controller "
                                 "(pip install netaddr)")
    if value is None:
        raise AnsibleFilterError("%s is empty: expected a CIDR such as 10.244.0.0/16" % what)
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
            raise AnsibleFilterError("%s %r is not a CIDR: give a prefix length, e.g. %s/24" % (what, item, item))
        try:
            network = netaddr.IPNetwork(item)
        except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
            raise AnsibleFilterError("%s %r is not a valid CIDR: %s" % (what, item, exc))
        if network.ip != network.network:
            raise AnsibleFilterError("%s %r has host bits set: the network is %s" % (what, item, network.cidr))
        result.append((item, network))
    if not result:
        raise AnsibleFilterError("%s is empty: expected a CIDR such as 10.244.0.0/16" % what)
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
        raise AnsibleFilterError("prefix length %r is not a number" % (prefixlen,))
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
    raise AnsibleFilterError("no free /%d in %s outside %s" % (
        prefixlen, ", ".join(str(p) for p in (pool if isinstance(pool, list) else [pool])),
        ", ".join(str(t) for t in taken_nets)))


class FilterModule(object):
    def filters(self):
        return {"cidr_overlaps": cidr_overlaps, "cidr_conflicts": cidr_conflicts, "cidr_suggest": cidr_suggest}
