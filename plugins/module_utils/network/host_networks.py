# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every network a node can reach directly: interface addresses and routes in every
table, each with where it came from. Pod/service CIDRs must overlap none of them.

Interfaces a CNI or kube-proxy owns (cni0, flannel.1, cali*, cilium_*, kube-ipvs0...)
are left out: on a running cluster they carry the pod and service ranges by design.
Default routes, link-local and multicast ranges are not conflicts either.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import ipaddress
import json

from ansible.module_utils.six import text_type

# kube-router's IP-in-IP tunnel names (pkg/controllers/routing generateTunnelName): 2.x "tun-" + 11 hex digits of the
# sha256 of the peer address; 1.x the peer's dotless IPv4 address behind "tun-" when shorter than 12 digits, else
# behind "tun" alone (tun + exactly 12 digits fills IFNAMSIZ-1). Not tun[0-9]*: OpenVPN's tun0 must stay managed.
KUBE_ROUTER_TUNNEL_GLOBS = ("tun-*", "tun" + "[0-9]" * 12)
CNI_INTERFACES = ("cni0", "flannel.*", "flannel-wg*", "cali*", "tunl0", "vxlan.calico", "vxlan-v6.calico",
                  "wireguard.cali", "cilium_*", "lxc*", "weave", "vethwe*", "datapath", "kube-ipvs0",
                  "kube-bridge", "kube-dummy-if", "antrea-gw*", "antrea-tun*", "antrea-wg*", "nodelocaldns",
                  "genev_sys_*", "vxlan_sys_*")
NOT_CONFLICTS = [ipaddress.ip_network(n) for n in (u"169.254.0.0/16", u"224.0.0.0/4", u"127.0.0.0/8",
                                                   u"fe80::/10", u"ff00::/8", u"::1/128")]


def _is_cni(ifname):
    return any(fnmatch.fnmatchcase(ifname or "", pattern) for pattern in CNI_INTERFACES)


def _relevant(network):
    return network.prefixlen > 0 and not any(
        network.version == n.version and network.subnet_of(n) for n in NOT_CONFLICTS)


def gather_routes(run):
    """Every route of both families, each tagged ``family`` (inet/inet6): ``ip -j route`` prints
    ``"dst": "default"`` for both, and a default route with no gateway (``default dev ppp0``) says nothing else."""
    routes = []
    for flag, family in (("-4", "inet"), ("-6", "inet6")):
        rc, out, err = run(["ip", flag, "-j", "route", "show", "table", "all"])
        if rc == 0 and out.strip():
            for route in json.loads(out):
                route.setdefault("family", family)
                routes.append(route)
    return routes


def host_networks(addresses, routes, host=None):
    """[{network, source}] from ``ip -j addr`` and ``ip -j route show table all``."""
    prefix = "%s " % host if host else ""
    found, seen = [], set()

    def add(network, source):
        if _relevant(network) and str(network) not in seen:
            seen.add(str(network))
            found.append({"network": str(network), "source": prefix + source})

    for link in addresses:
        ifname = link.get("ifname")
        if ifname == "lo" or _is_cni(ifname):
            continue
        for info in link.get("addr_info", []):
            if "local" in info and "prefixlen" in info:
                network = ipaddress.ip_network(u"%s/%s" % (info["local"], info["prefixlen"]), strict=False)
                add(network, "%s address %s/%s" % (ifname, info["local"], info["prefixlen"]))
    for route in routes:
        if route.get("type", "unicast") != "unicast" or route.get("dst") in (None, "default"):
            continue
        if _is_cni(route.get("dev")) or route.get("table") == "local":
            continue
        try:
            network = ipaddress.ip_network(text_type(route["dst"]), strict=False)
        except ValueError:
            continue
        via = " via %s" % route["gateway"] if route.get("gateway") else ""
        add(network, "route %s%s dev %s (table %s)" % (
            route["dst"], via, route.get("dev", "?"), route.get("table", "main")))
    return found


def interface_for(addresses, network):
    """(interface, own address) of the node inside ``network``, or (None, None)."""
    network = ipaddress.ip_network(text_type(network), strict=False)
    for link in addresses:
        for info in link.get("addr_info", []):
            try:
                address = ipaddress.ip_address(text_type(info.get("local", "")))
            except ValueError:
                continue
            if address in network:
                return link.get("ifname"), str(address)
    return None, None


def derive_node_networks(addresses, peers):
    """The networks of this node's interfaces that hold any peer address (the inventory)."""
    found = []
    for link in addresses:
        if link.get("ifname") == "lo":
            continue
        for info in link.get("addr_info", []):
            if "local" not in info or "prefixlen" not in info:
                continue
            net = ipaddress.ip_network(u"%s/%s" % (info["local"], info["prefixlen"]), strict=False)
            for peer in peers:
                try:
                    if ipaddress.ip_address(text_type(peer)) in net and str(net) not in found:
                        found.append(str(net))
                except ValueError:
                    continue
    return found
