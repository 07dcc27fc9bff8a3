# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each CNI and mode needs the host firewall to admit between nodes.

One table, one place. Each entry: (protocol, port or None, what it is). ``protocol``
is ``udp``, ``tcp`` or an IP protocol name of ours (``ipip`` is IP protocol 4, see
``IP_PROTOCOL_NUMBERS``: rules are always written with the number).
Sources (upstream documentation of each project):

* flannel, Documentation/backends.md and kube-flannel.yml: vxlan UDP 8472 (the Linux
  default port flannel uses), udp backend UDP 8285, wireguard UDP 51820 (IPv4) and
  51821 (IPv6), host-gw needs no encapsulation port.
* Calico, "Network requirements": BGP TCP 179, IPIP IP protocol 4, VXLAN UDP 4789,
  Typha TCP 5473, WireGuard UDP 51820 (IPv4) / 51821 (IPv6).
* Cilium, "System requirements / firewall rules": VXLAN UDP 8472, Geneve UDP 6081,
  cluster health checks TCP 4240 and ICMP echo, WireGuard UDP 51871.
* Weave Net, "Installing Weave": TCP 6783 (control), UDP 6783 and 6784 (data, fastdp).
* Canal (flannel's data path, Calico's policy), Calico "Network requirements" (the Canal rows):
  flannel VXLAN UDP 8472, Typha TCP 5473 where Typha is deployed. Felix's health port 9099
  is probed by the kubelet on the node itself (hostNetwork, localhost): nothing for peers.
* Antrea, docs/network-requirements.md and pkg/apis (ports.go): tunnels Geneve UDP 6081 (the
  default), VXLAN UDP 4789, GRE IP protocol 47, STT TCP 7471; WireGuard UDP 51820; the
  antrea-controller API TCP 10349 (hostNetwork, on whichever node runs it), the agent API
  TCP 10350 and the memberlist cluster TCP and UDP 10351 (Egress, ServiceExternalIP).
* kube-router, docs/user-guide.md (--overlay-type, --overlay-encap, --overlay-encap-port):
  BGP TCP 179 between nodes; IP-in-IP (IP protocol 4) across subnets by default; with
  --overlay-encap=fou the IP-in-IP packets go inside UDP 5555 (Foo-over-UDP).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import CatalogError
from ansible_collections.podnet.doctor.plugins.module_utils.network.protocols import PORTLESS_PROTOCOLS, PROTOCOLS

# every Antrea mode: the controller API (any node may run it), the agent API, memberlist
ANTREA_AGENT = [("tcp", 10349, "antrea-controller API"), ("tcp", 10350, "antrea-agent API"),
                ("tcp", 10351, "Antrea memberlist"), ("udp", 10351, "Antrea memberlist")]
# (protocol, port) entries that carry control traffic, not pods' packets (the MTU probe skips them)
CONTROL_PORTS = frozenset((proto, port) for proto, port, _desc in ANTREA_AGENT)

CATALOG = {
    "flannel": {
        "vxlan": [("udp", 8472, "flannel VXLAN")],
        "udp": [("udp", 8285, "flannel udp backend")],
        "wireguard": [("udp", 51820, "flannel WireGuard (IPv4)"), ("udp", 51821, "flannel WireGuard (IPv6)")],
        "host-gw": [],
    },
    "calico": {
        "bgp": [("tcp", 179, "Calico BGP")],
        "ipip": [("tcp", 179, "Calico BGP"), ("ipip", None, "Calico IP-in-IP (IP protocol 4)")],
        "vxlan": [("udp", 4789, "Calico VXLAN")],
        "wireguard": [("udp", 51820, "Calico WireGuard (IPv4)"), ("udp", 51821, "Calico WireGuard (IPv6)")],
        "typha": [("tcp", 5473, "Calico Typha")],
    },
    "cilium": {
        "vxlan": [("udp", 8472, "Cilium VXLAN"), ("tcp", 4240, "Cilium health checks")],
        "geneve": [("udp", 6081, "Cilium Geneve"), ("tcp", 4240, "Cilium health checks")],
        "native": [("tcp", 4240, "Cilium health checks")],
        "wireguard": [("udp", 51871, "Cilium WireGuard"), ("tcp", 4240, "Cilium health checks")],
    },
    "weave": {
        "fastdp": [("tcp", 6783, "Weave control"), ("udp", 6783, "Weave data"),
                   ("udp", 6784, "Weave fastdp")],
        "sleeve": [("tcp", 6783, "Weave control"), ("udp", 6783, "Weave sleeve")],
    },
    "canal": {
        "vxlan": [("udp", 8472, "Canal (flannel) VXLAN")],
        "typha": [("udp", 8472, "Canal (flannel) VXLAN"), ("tcp", 5473, "Canal Typha")],
        "host-gw": [],
    },
    "antrea": {
        "geneve": [("udp", 6081, "Antrea Geneve")] + ANTREA_AGENT,
        "vxlan": [("udp", 4789, "Antrea VXLAN")] + ANTREA_AGENT,
        "gre": [("gre", None, "Antrea GRE (IP protocol 47)")] + ANTREA_AGENT,
        "stt": [("tcp", 7471, "Antrea STT")] + ANTREA_AGENT,
        "wireguard": [("udp", 51820, "Antrea WireGuard")] + ANTREA_AGENT,
        "noencap": list(ANTREA_AGENT),
    },
    "kube-router": {
        "bgp": [("tcp", 179, "kube-router BGP")],
        "ipip": [("tcp", 179, "kube-router BGP"), ("ipip", None, "kube-router IP-in-IP (IP protocol 4)")],
        "fou": [("tcp", 179, "kube-router BGP"), ("udp", 5555, "kube-router IP-in-IP over FoU")],
    },
}


def overlay_ports_for(cni, mode, overrides=None):
    """The (protocol, port, description) entries a node must admit from its peers.

    ``overrides`` (``podnet_overlay_ports``) replaces the catalog entry: a list of
    ``{"protocol": "udp", "port": 8472}`` dicts or ``"8472/udp"`` strings; it is the
    only source for ``cni=custom``.
    """
    if overrides:
        return [_parse_override(item) for item in overrides]
    if cni == "custom":
        raise CatalogError("podnet_cni=custom needs podnet_overlay_ports, e.g. ['8472/udp']")
    if cni not in CATALOG:
        raise CatalogError("podnet_cni=%r is not known; use one of %s, or custom with podnet_overlay_ports"
                           % (cni, ", ".join(sorted(CATALOG) + ["custom"])))
    if mode not in CATALOG[cni]:
        raise CatalogError("podnet_cni_mode=%r is not a %s mode; use one of %s"
                           % (mode, cni, ", ".join(sorted(CATALOG[cni]))))
    return list(CATALOG[cni][mode])


def _parse_override(item):
    if isinstance(item, dict):
        protocol, port = item.get("protocol"), item.get("port")
    else:
        text = str(item)
        port, _sep, protocol = text.partition("/")
        if not _sep and text.lower() in PORTLESS_PROTOCOLS:
            port, protocol = None, text  # "ipip", "gre": an IP protocol has no port
        elif not _sep:
            raise CatalogError("podnet_overlay_ports entry %r: write it as PORT/PROTOCOL, e.g. 8472/udp "
                               "(an IP protocol alone: %s)" % (text, ", ".join(PORTLESS_PROTOCOLS)))
    protocol = str(protocol).lower()
    if protocol not in PROTOCOLS:
        raise CatalogError("podnet_overlay_ports entry %r: protocol must be one of %s" % (item, ", ".join(PROTOCOLS)))
    if protocol in PORTLESS_PROTOCOLS:
        return (protocol, None, "custom %s" % protocol)
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise CatalogError("podnet_overlay_ports entry %r: port must be a number from 1 to 65535" % (item,))
    if not 1 <= port <= 65535:
        raise CatalogError("podnet_overlay_ports entry %r: port %d is out of range 1-65535" % (item, port))
    return (protocol, port, "custom %d/%s" % (port, protocol))
