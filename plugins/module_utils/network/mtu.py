# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The overlay MTU against the uplink: check ``mtu.overlay``.

An encapsulated packet is the pod's packet plus the encapsulation's headers; it must fit the
uplink's MTU, or it is dropped (DF set, or a receiving link smaller than the sender's) - ping and
TCP handshakes work, TLS, large responses and image pulls hang. What is read, all cheap:

* the uplink: the interface holding the node address (in a node network), its MTU from the
  ``ip -d -j addr`` list node_info already has (the kernel's IFLA_MTU, what /sys/class/net/IF/mtu shows);
* the overlay devices of the chosen CNI/mode that exist (``flannel.1``, ``vxlan.calico``, ``tunl0``...)
  and their MTU; a device whose ``ip -d`` record names its underlay (``vxlan ... dev eth1`` or ``local``: flannel
  ``--iface``, Calico ``IP_AUTODETECTION_METHOD=interface=``) is judged against that link, and so is the configured
  MTU then (the CNI derives it from that link);
* the MTU the CNI is configured with: ``FLANNEL_MTU`` in ``/run/flannel/subnet.env`` (flannel) and
  every ``mtu`` key, nested plugins (Multus delegates) included, of the ONE file of ``/etc/cni/net.d`` the
  container runtime uses (:func:`runtime_cni_file`); the others are named as ignored.

Encapsulation overhead (bytes the underlay packet adds to the overlay MTU; IPv6 underlay: the outer
header is 40 bytes, not 20, so +20). Sources: Calico "Configure MTU" (VXLAN 50, IP-in-IP 20,
WireGuard 60 IPv4 / 80 IPv6); flannel backend/vxlan (``encapOverhead = 50``) and backend/udp (28);
Cilium "MTU" (VXLAN and Geneve 50); RFC 7348 section 5 (outer IPv4 20 + UDP 8 + VXLAN 8 + inner
Ethernet 14 = 50); RFC 8926 (Geneve, same fixed part without options); WireGuard's whitepaper
(outer IP + UDP 8 + 32 bytes of header and tag).

The verdict is ``pass`` when every configured and existing overlay MTU fits (nothing configured and
no device yet also passes: the CNIs derive their MTU from the uplink, and the expected value says
what to give the CNI when it is set by hand), ``fail`` naming the file/line or device and the largest
MTU that fits, ``error`` naming a CNI file that cannot be read or parsed, ``skip`` when the mode's
overhead is not known (Weave sleeve, custom CNIs, Calico Typha: not a data path).

Fleet: every host's ``facts.mtu`` goes to :func:`fleet_overlay_checks` on the controller (the
``cidr_check`` fleet step); a host then also fails when a peer's uplink is smaller than what this
host's overlay sends, naming the peers.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import json
import os

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result
from ansible_collections.podnet.doctor.plugins.module_utils.network import host_networks
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import host_path, read_text

CHECK_ID = "mtu.overlay"
# bytes added over an IPv4 underlay; IPV6_UNDERLAY_EXTRA more over IPv6 (sources in the docstring)
# (Antrea's GRE carries Ethernet frames: outer IP 20 + GRE with key 8 + inner Ethernet 14 = 38, its
# pkg/agent/config GREOverhead; kube-router's "fou" is IP-in-IP inside GUE, not bare FoU (docs/tunnels.md,
# "ip link add ... encap gue" in pkg/controllers/routing): outer IP 20 + UDP 8 + GUE header 4 = 32, the kernel's
# gue_encap_hlen)
ENCAPSULATION_OVERHEAD = {"vxlan": 50, "geneve": 50, "ipip": 20, "wireguard": 60, "udp": 28, "gre-ethernet": 38,
                          "fou": 32, "none": 0}
IPV6_UNDERLAY_EXTRA = 20
# (cni, mode) -> (encapsulation, overlay device name patterns); None: no data path or unknown overhead
OVERLAY_MODES = {
    ("flannel", "vxlan"): ("vxlan", ("flannel.*", "flannel-v6.*")),
    ("flannel", "udp"): ("udp", ("flannel0",)),
    ("flannel", "wireguard"): ("wireguard", ("flannel-wg", "flannel-wg-v6")),
    ("flannel", "host-gw"): ("none", ()),
    ("calico", "bgp"): ("none", ()),
    ("calico", "ipip"): ("ipip", ("tunl0",)),
    ("calico", "vxlan"): ("vxlan", ("vxlan.calico", "vxlan-v6.calico")),
    ("calico", "wireguard"): ("wireguard", ("wireguard.cali", "wg-v6.cali")),
    # cilium_vxlan / cilium_geneve are created at the native device's MTU (loader setupTunnelDevice(...,
    # DeviceMTU)); Cilium puts the overhead in the route MTU instead, so the device's MTU is no overlay MTU
    ("cilium", "vxlan"): ("vxlan", ()),
    ("cilium", "geneve"): ("geneve", ()),
    ("cilium", "native"): ("none", ()),
    ("cilium", "wireguard"): ("wireguard", ("cilium_wg0",)),
    # vxlan-6784 is an Open vSwitch datapath vport, created at IP_MAX_MTU by the kernel (vport-vxlan.c): no overlay MTU
    ("weave", "fastdp"): ("vxlan", ()),
    # Canal: flannel's data path (flannel.1, FLANNEL_MTU), Calico's CNI plugin (its conflist "mtu")
    ("canal", "vxlan"): ("vxlan", ("flannel.*", "flannel-v6.*")),
    ("canal", "typha"): ("vxlan", ("flannel.*", "flannel-v6.*")),
    ("canal", "host-gw"): ("none", ()),
    # Antrea's tunnel is an Open vSwitch port (antrea-tun0 is no kernel link with the overlay's MTU);
    # STT is left out: Antrea subtracts nothing for it (it relies on TCP segmentation offload)
    ("antrea", "geneve"): ("geneve", ()),
    ("antrea", "vxlan"): ("vxlan", ()),
    ("antrea", "gre"): ("gre-ethernet", ()),
    ("antrea", "wireguard"): ("wireguard", ("antrea-wg0",)),
    ("antrea", "noencap"): ("none", ()),
    ("kube-router", "bgp"): ("none", ()),
    ("kube-router", "ipip"): ("ipip", host_networks.KUBE_ROUTER_TUNNEL_GLOBS),
    ("kube-router", "fou"): ("fou", host_networks.KUBE_ROUTER_TUNNEL_GLOBS),
}
CNI_CONF_DIR = "/etc/cni/net.d"
CNI_CONF_SUFFIXES = (".conf", ".conflist", ".json")
FLANNEL_SUBNET_ENV = "/run/flannel/subnet.env"
# where each CNI takes its MTU from: the fix names it
MTU_SETTING = {
    "flannel": "flannel derives FLANNEL_MTU (%s) and flannel.1 from its interface's MTU minus the overhead: give every "
               "node's uplink the same MTU, or run flanneld with --iface on the link with the smaller MTU, then restart the "
               "kube-flannel pods" % FLANNEL_SUBNET_ENV,
    "calico": "set veth_mtu: \"{mtu}\" in the calico-config ConfigMap (operator: spec.calicoNetwork.mtu of the "
              "Installation) and restart calico-node",
    "cilium": "set the Cilium MTU to {mtu} (helm --set MTU={mtu}, cilium-agent --mtu={mtu}) and restart the cilium pods",
    "weave": "set WEAVE_MTU={mtu} in the weave-net DaemonSet",
    "canal": "set veth_mtu: \"{mtu}\" in the canal-config ConfigMap and restart the canal pods (flannel derives FLANNEL_MTU "
             "from its interface's MTU: give every node's uplink the same MTU)",
    "antrea": "set defaultMTU: {mtu} in antrea-agent.conf (the antrea-config ConfigMap) and restart antrea-agent",
    "kube-router": "run kube-router with --auto-mtu (the default), or set \"mtu\": {mtu} in its CNI config, and restart it",
}


def overlay_mode(cni, mode):
    """(encapsulation, device patterns) of a CNI mode, or None when its overhead is not known."""
    return OVERLAY_MODES.get((cni, mode))


def overhead_for(encapsulation, ipv6_underlay):
    return ENCAPSULATION_OVERHEAD[encapsulation] + (IPV6_UNDERLAY_EXTRA if ipv6_underlay and encapsulation != "none" else 0)


def _link_mtus(addresses):
    return dict((link.get("ifname"), link.get("mtu")) for link in addresses if link.get("ifname"))


def find_uplink(addresses, node_networks, default_route_dev=None):
    """{interface, mtu, address, source} of the link holding the node address; None when none does."""
    mtus = _link_mtus(addresses)
    # a VIP or routed /32 on lo inside the node network is not the link packets leave by
    links = [link for link in addresses if link.get("ifname") != "lo" and "LOOPBACK" not in (link.get("flags") or [])]
    for network in node_networks:
        ifname, address = host_networks.interface_for(links, network)
        if ifname and mtus.get(ifname):
            return {"interface": ifname, "mtu": mtus[ifname], "address": address, "ipv6": ":" in address,
                    "source": "holds %s in node network %s" % (address, network)}
    if default_route_dev and mtus.get(default_route_dev):
        return {"interface": default_route_dev, "mtu": mtus[default_route_dev], "address": None, "ipv6": False,
                "source": "carries the default route (no address in a node network)"}
    return None


def _holder_of(addresses, address, but):
    """The interface (not ``but``) holding ``address``, or None."""
    for link in addresses:
        if link.get("ifname") != but and any(a.get("local") == address for a in link.get("addr_info") or []):
            return link.get("ifname")
    return None


def device_underlay(link, addresses):
    """(underlay interface, how it was told) of an overlay device; (None, None) when its record does not say.

    ``ip -d -j addr`` shows a VXLAN's IFLA_VXLAN_LINK (``vxlan ... dev X``: flannel's and Calico's VtepDevIndex)
    as ``linkinfo.info_data.link`` and its source address as ``local``/``local6``; plain ``ip -j addr`` shows
    neither (checked on the kernel), only ``link`` (IFLA_LINK) for devices with a lower link."""
    info = (link.get("linkinfo") or {}).get("info_data") or {}
    if info.get("link"):
        return info["link"], "dev %s" % info["link"]
    local = info.get("local") or info.get("local6")
    holder = _holder_of(addresses, local, link.get("ifname")) if local else None
    if holder:
        return holder, "local %s on %s" % (local, holder)
    if link.get("link"):
        return link["link"], "link %s" % link["link"]
    return None, None


def overlay_devices(addresses, patterns):
    """[{name, mtu, underlay, underlay_mtu}] of the existing links matching the mode's device names."""
    mtus = _link_mtus(addresses)
    found = []
    for link in addresses:
        name = link.get("ifname") or ""
        if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        underlay, told_by = device_underlay(link, addresses)
        found.append({"name": name, "mtu": link.get("mtu"), "underlay": underlay, "underlay_source": told_by,
                      "underlay_mtu": mtus.get(underlay) if underlay else None})
    return found


def _mtu_keys(value, path):
    """Every ``mtu`` key under a parsed CNI config: [(key path, value)]."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = "%s.%s" % (path, key) if path else key
            if key == "mtu":
                found.append((where, item))
            else:
                found.extend(_mtu_keys(item, where))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_mtu_keys(item, "%s[%d]" % (path, index)))
    return found


def _loadable(name, parsed):
    """Why the runtime skips a parsed CNI file (libcni: a .conflist needs a non-empty ``plugins`` list, a .conf or
    .json a ``type``), or None when it loads."""
    if not isinstance(parsed, dict):
        return "not a JSON object"
    if name.endswith(".conflist"):
        return None if isinstance(parsed.get("plugins"), list) and parsed["plugins"] else "no plugins"
    return None if parsed.get("type") else "no type"


def runtime_cni_file(root):
    """((path, parsed) of the CNI file the runtime uses or None, [notes on the files it does not use], [errors]).

    containerd (go-cni loadFromConfDir, max_conf_num 1) and CRI-O (ocicni loadNetworks: the default network is the
    first that loads, unless cni_default_network names one) take the files of /etc/cni/net.d ending in .conf,
    .conflist or .json (libcni ConfFiles, directories left out) in byte order (sort.Strings) and use the FIRST; the
    later files are never read. A file that does not load (bad JSON, no type/plugins) is skipped by CRI-O, while
    containerd stops at it (no pod network at all): the next loadable one is what the node would use. Multus and
    other meta-plugins name their delegates inside that first file."""
    directory = host_path(root, CNI_CONF_DIR)
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(CNI_CONF_SUFFIXES))
    except OSError:
        names = []
    names = [n for n in names if not os.path.isdir(os.path.join(directory, n))]
    notes, skipped = [], []
    for index, name in enumerate(names):
        path = os.path.join(CNI_CONF_DIR, name)
        text = read_text(root, path)
        if text is None:  # cannot tell whether it loads, so not which file is used
            return None, notes, ["%s cannot be read (run with become: true)" % path]
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            skipped.append("%s is not valid JSON (%s)" % (path, exc))
            continue
        why = _loadable(name, parsed)
        if why:
            skipped.append("%s has %s" % (path, why))
            continue
        if skipped:
            notes.append("skipped: %s (CRI-O skips what does not load; containerd stops there: no pod network)"
                         % "; ".join(skipped))
        if names[index + 1:]:
            notes.append("the runtime uses %s, the first in lexical order; ignored: %s" % (name, ", ".join(names[index + 1:])))
        return (path, parsed), notes, []
    if skipped:
        return None, notes, ["no file of %s loads: %s" % (CNI_CONF_DIR, "; ".join(skipped))]
    return None, notes, []


def configured_mtus(root, cni, configured_notes=None):
    """([{source, mtu}], [errors]) from flannel's subnet.env and the CNI config file the runtime uses
    (:func:`runtime_cni_file`); ``configured_notes`` (a list) receives what was left out and why."""
    configured, errors = [], []
    configured_notes = [] if configured_notes is None else configured_notes
    if cni in ("flannel", "canal"):
        text = read_text(root, FLANNEL_SUBNET_ENV)
        if text is None and os.path.lexists(host_path(root, FLANNEL_SUBNET_ENV)):
            errors.append("%s exists but cannot be read (run with become: true)" % FLANNEL_SUBNET_ENV)
        for number, line in enumerate((text or "").splitlines(), 1):
            key, sep, value = line.strip().partition("=")
            if sep and key.strip() == "FLANNEL_MTU":
                source = "%s line %d" % (FLANNEL_SUBNET_ENV, number)
                if value.strip().isdigit():
                    configured.append({"source": source, "mtu": int(value.strip())})
                else:
                    errors.append("%s: FLANNEL_MTU=%r is not a number" % (source, value.strip()))
    used, notes, file_errors = runtime_cni_file(root)
    errors.extend(file_errors)
    if used:
        path, parsed = used
        for key, value in _mtu_keys(parsed, ""):
            if value == 0 and not isinstance(value, bool):
                continue  # unset: the plugin picks its own (Calico's veth_mtu "0": /var/lib/calico/mtu, auto-detected)
            if isinstance(value, int) and not isinstance(value, bool):
                configured.append({"source": "%s key %s" % (path, key), "mtu": value})
            else:
                errors.append("%s key %s: %r is not a number" % (path, key, value))
    configured_notes[:] = notes
    return configured, errors


def gather_mtu(addresses, root, cni, mode, node_networks, routes=()):
    """The facts ``mtu.overlay`` is judged from (returned as ``facts.mtu``)."""
    default_dev = next((r.get("dev") for r in routes if r.get("dst") == "default" and r.get("dev")), None)
    uplink = find_uplink(addresses, node_networks, default_dev)
    facts = {"cni": cni, "mode": mode, "uplink": uplink, "devices": [], "configured": [], "errors": []}
    entry = overlay_mode(cni, mode)
    if entry is None:
        facts["encapsulation"] = None
        return facts
    facts["encapsulation"] = entry[0]
    facts["devices"] = overlay_devices(addresses, entry[1])
    facts["cni_files"] = []
    facts["configured"], facts["errors"] = configured_mtus(root, cni, facts["cni_files"])
    if uplink:
        facts["overhead"] = overhead_for(entry[0], uplink["ipv6"])
        underlay = overlay_underlay(facts)
        facts["largest_overlay_mtu"] = (underlay or uplink)["mtu"] - facts["overhead"]
    return facts


def _encapsulation_label(facts):
    return "%s over IPv%s" % (facts["encapsulation"], 6 if facts["uplink"]["ipv6"] else 4)


def overlay_underlay(facts):
    """{interface, mtu, source, device} of the link the overlay devices are bound to when it is not the uplink
    (all of them on the same one), else None: then the uplink carries the overlay."""
    uplink = facts.get("uplink") or {}
    bound = set((d.get("underlay"), d.get("underlay_mtu")) for d in facts.get("devices", []))
    if len(bound) != 1:
        return None
    interface, link_mtu = bound.pop()
    if not interface or not link_mtu or interface == uplink.get("interface"):
        return None
    device = facts["devices"][0]
    return {"interface": interface, "mtu": link_mtu, "source": device.get("underlay_source"), "device": device["name"]}


def evaluate_overlay_mtu(facts, peer_uplinks=None, peer_underlays=None, not_compared=None):
    """The check ``mtu.overlay`` from :func:`gather_mtu`'s facts; ``peer_uplinks`` ({host: mtu}, the
    fleet step) adds the peers whose uplink is smaller than what this host's overlay sends, ``peer_underlays``
    ({host: mtu}) the same for an overlay bound to another link; ``not_compared`` names the peers left out."""
    check = _evaluate_overlay_mtu(facts, peer_uplinks, peer_underlays)
    notes = list(facts.get("cni_files") or [])
    if not_compared:
        notes.append("not compared: %s" % ", ".join(not_compared))
    if notes and check["status"] in ("pass", "fail"):
        check["observed"] += "; " + "; ".join(notes)
    return check


def _evaluate_overlay_mtu(facts, peer_uplinks, peer_underlays):
    if facts.get("encapsulation") is None:
        return check_result(CHECK_ID, "skip", "the overhead of %s mode %s is not known to podnet.doctor (no data path "
                            "or not in the table)" % (facts.get("cni"), facts.get("mode")),
                            "overlay MTU + encapsulation overhead <= uplink MTU")
    if facts.get("errors"):
        return check_result(CHECK_ID, "error", "; ".join(facts["errors"]), "every CNI MTU setting readable")
    uplink = facts.get("uplink")
    if not uplink:
        return check_result(CHECK_ID, "error", "no interface holds an address in the node networks and there is no "
                            "default route: the uplink is unknown", "the uplink found (set podnet_node_networks)")
    overhead = facts["overhead"]
    label = _encapsulation_label(facts)
    # the smallest uplink a packet of this host's overlay must fit: its own, or a smaller peer's
    limit, limit_source = uplink["mtu"], "uplink %s MTU %d" % (uplink["interface"], uplink["mtu"])
    smaller_peers = sorted((mtu, host) for host, mtu in (peer_uplinks or {}).items() if mtu and mtu < uplink["mtu"])
    if smaller_peers:
        limit = smaller_peers[0][0]
        limit_source = "%s (this node's %s: %d)" % (
            ", ".join("peer %s uplink MTU %d" % (h, m) for m, h in smaller_peers), uplink["interface"], uplink["mtu"])
    underlay = overlay_underlay(facts)
    if underlay:
        # the overlay runs over another link (its devices say so): that link, and the peers' same link, bound it
        smaller_peers = sorted((m, h) for h, m in (peer_underlays or {}).items() if m and m < underlay["mtu"])
        limit = smaller_peers[0][0] if smaller_peers else underlay["mtu"]
        limit_source = "underlay %s MTU %d (%s of %s; not uplink %s)" % (
            underlay["interface"], underlay["mtu"], underlay["source"], underlay["device"], uplink["interface"])
        if smaller_peers:
            peers_text = ", ".join("peer %s %s MTU %d" % (h, underlay["interface"], m) for m, h in smaller_peers)
            limit_source = "%s (this node's %s)" % (peers_text, limit_source)
    largest = limit - overhead
    expected = "overlay MTU <= %d (%s - %d for %s)" % (largest, limit_source, overhead, label)
    too_large, fits, devices_too_large = [], [], []
    for device in facts["devices"]:
        own_limit, text = limit, "device %s MTU %s" % (device["name"], device["mtu"])
        if device.get("underlay") and device["underlay"] not in (uplink["interface"], (underlay or {}).get("interface")):
            own_limit = device.get("underlay_mtu") or limit
            text += " (underlay %s MTU %s)" % (device["underlay"], device.get("underlay_mtu"))
        if device["mtu"] is None or device["mtu"] + overhead > own_limit:
            too_large.append("%s (+ %d = %s)" % (text, overhead, device["mtu"] and device["mtu"] + overhead))
            devices_too_large.append(device["name"])
        else:
            fits.append(text)
    for item in facts["configured"]:
        text = "%s = %d" % (item["source"], item["mtu"])
        if item["mtu"] + overhead > limit:
            too_large.append("%s (+ %d = %d)" % (text, overhead, item["mtu"] + overhead))
        else:
            fits.append(text)
    if not fits and not too_large and smaller_peers:
        # nothing set by hand: the CNI derives its MTU from this node's own uplink (flannel's FLANNEL_MTU, Calico's
        # and Cilium's auto-detection), which a smaller peer's uplink cannot carry
        too_large.append("no %s MTU configured: it derives %d from uplink %s MTU %d (+ %d = %d)" % (
            facts["cni"], uplink["mtu"] - overhead, uplink["interface"], uplink["mtu"], overhead, uplink["mtu"]))
    if too_large:
        fix = "overlay MTU %d or less: %s" % (largest, MTU_SETTING.get(facts["cni"], "give the CNI an MTU of at most {mtu}").format(mtu=largest))
        if smaller_peers:
            fix += "; or raise the smaller uplinks' MTU where the path carries it"
        if devices_too_large:
            fix += "; until then: %s" % "; ".join("ip link set dev %s mtu %d" % (d, largest) for d in devices_too_large)
        return check_result(CHECK_ID, "fail", "%s: exceeds %s (%s)" % ("; ".join(too_large), limit_source, label),
                            expected, fix, largest_overlay_mtu=largest)
    if fits:
        observed = "%s fit %s (%s, overhead %d)" % ("; ".join(fits), limit_source, label, overhead)
    else:
        if (overlay_mode(facts["cni"], facts["mode"]) or (None, ()))[1]:
            device_note = "no overlay device yet"
        elif facts["encapsulation"] == "none":
            device_note = "no encapsulation"
        else:
            device_note = "its tunnel device's MTU is not the overlay MTU"
        observed = ("no %s MTU configured and %s; %s: a %s MTU set by hand must be %d or less"
                    % (facts["cni"], device_note, limit_source, facts["cni"], largest))
    return check_result(CHECK_ID, "pass", observed, expected, largest_overlay_mtu=largest)


def fleet_overlay_checks(hosts_mtu, hosts=None, limit=None):
    """{host: [mtu.overlay]} from every host's ``facts.mtu``, each judged against the peers' uplinks (and, for an
    overlay bound to another link, the peers' same link). ``hosts``: every host of the fleet; those without facts
    (unreachable) or without a known uplink are named as not compared, and so are the hosts outside ``limit``
    (the play's ``--limit``: they are not in the play, so not known here)."""
    uplinks = dict((host, (facts.get("uplink") or {}).get("mtu")) for host, facts in hosts_mtu.items())
    underlays = dict((host, overlay_underlay(facts)) for host, facts in hosts_mtu.items())
    missing = ["%s (no facts)" % h for h in sorted(set(hosts or ()) - set(hosts_mtu))]
    if limit:
        missing.append("any host outside --limit %s" % limit)
    per_host = {}
    for host, facts in hosts_mtu.items():
        peers = dict((h, m) for h, m in uplinks.items() if h != host and m)
        own = underlays[host]
        peer_underlays = dict((h, u["mtu"]) for h, u in underlays.items()
                              if h != host and own and u and u["interface"] == own["interface"])
        unknown = ["%s (no uplink found)" % h for h in sorted(uplinks) if h != host and not uplinks[h]]
        if own:
            unknown += ["%s (no %s bound overlay)" % (h, own["interface"]) for h in sorted(hosts_mtu)
                        if h != host and h not in peer_underlays]
        per_host[host] = [evaluate_overlay_mtu(facts, peers, peer_underlays, sorted(unknown) + missing)]
    return per_host
