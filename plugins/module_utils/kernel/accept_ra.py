# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ipv6.accept_ra``: will IPv6 forwarding cost the node the default route its router advertises?

Kernel semantics (include/net/ipv6.h ``ipv6_accept_ra()``): an interface takes router advertisements
when ``accept_ra`` is 1 and its ``forwarding`` is 0, or when ``accept_ra`` is 2; with forwarding on,
``accept_ra = 1`` is ignored. Writing ``net.ipv6.conf.all.forwarding = 1`` sets ``forwarding`` on every
interface and, at once, deletes every default route learned from an RA on an interface whose
``accept_ra`` is not 2 (net/ipv6/addrconf.c ``addrconf_fixup_forwarding`` -> net/ipv6/route.c
``rt6_purge_dflt_routers``). Kubernetes with IPv6 needs forwarding (the collection's ``ip_forward``
checks want ``all.forwarding = 1``), so on a node whose IPv6 default route comes from an RA (SLAAC, or
DHCPv6, which hands out no routes) ``accept_ra`` must be 2 on that interface: now, at boot (systemd-sysctl
and ``sysctl --system``), and before forwarding is switched on.

Which interfaces depend on RAs: those holding a default route with ``proto ra`` (any table), and those
holding a global IPv6 address that is not permanent (SLAAC/DHCPv6 lifetimes): the second still shows
them after forwarding already dropped the route. With neither, no IPv6 default route at all and an
interface that ignores RAs now (``accept_ra=1`` with forwarding on), the route a router sends there is
being dropped (nothing else is left to show it, and Kubernetes with IPv6 needs a default route): ``fail``
too. A route with ``proto ra`` on an interface whose
``accept_ra`` is 0 was installed by a userspace RA client (NetworkManager, systemd-networkd), which
follows its own settings: ``error``, naming it, not a guess.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import interface_sysctl, wanted_sysctl

CHECK_ID = "ipv6.accept_ra"
WANTED = "2"
# an interface that exists when systemd-sysctl runs kept the kernel's start value (addrconf.c
# ipv6_devconf: accept_ra 1, forwarding 0)
KERNEL_ACCEPT_RA = "1"
KERNEL_FORWARDING = "0"
ALL_FORWARDING = "net/ipv6/conf/all/forwarding"


def ra_interfaces(addresses, routes):
    """{interface: reason} for every interface whose IPv6 default route comes (or came) from an RA."""
    found = {}
    for route in routes:
        if route.get("dst") != "default" or route.get("protocol") != "ra":
            continue
        hops = route.get("nexthops") or [route]
        for hop in hops:
            if hop.get("dev"):
                found.setdefault(hop["dev"], "default route via %s proto ra (table %s)" % (
                    hop.get("gateway", "?"), route.get("table", "main")))
    for link in addresses:
        for info in link.get("addr_info", []):
            if info.get("family") == "inet6" and info.get("scope") == "global" and info.get("dynamic") \
                    and link.get("ifname") and link["ifname"] not in found:
                found[link["ifname"]] = "address %s/%s from SLAAC/DHCPv6 (valid %ss)" % (
                    info.get("local"), info.get("prefixlen"), info.get("valid_life_time", "?"))
    return found


def is_ipv6_default(route):
    """An IPv6 default route, with a gateway or not (``default dev he-ipv6``: tunnel, ppp, WireGuard).
    ``family`` is tagged by host_networks.gather_routes; an untagged route counts when its gateway is IPv6."""
    if route.get("dst") != "default":
        return False
    if route.get("family"):
        return route["family"] == "inet6"
    hops = route.get("nexthops") or [route]
    return any(":" in (hop.get("gateway") or "") for hop in hops)


def _ignoring_ras(root, uplinks, addresses):
    """The uplinks (IPv6 on) that ignore RAs now: accept_ra 1 with forwarding 1. Only the uplinks: a bridge,
    veth or overlay device with forwarding on is not where a router advertises the node's route."""
    with_ipv6 = set(link.get("ifname") for link in addresses
                    if any(info.get("family") == "inet6" for info in link.get("addr_info", [])))
    return [name for name in uplinks if name in with_ipv6 and (
        interface_sysctl.runtime(root, interface_sysctl.conf_path("ipv6", name, "accept_ra")),
        interface_sysctl.runtime(root, interface_sysctl.conf_path("ipv6", name, "forwarding"))) == ("1", "1")]


def gather(root, addresses, routes, loaded, uplinks=()):
    """``uplinks``: the interfaces facing the node network (link_sysctl_checks.uplink)."""
    facts = {"interfaces": [], "errors": []}
    try:
        facts["all_forwarding"] = {
            "key": interface_sysctl.dotted(ALL_FORWARDING),
            "runtime": interface_sysctl.runtime(root, ALL_FORWARDING),
            "boot": interface_sysctl.boot(ALL_FORWARDING, root, loaded, KERNEL_FORWARDING)}
        for name, reason in sorted(ra_interfaces(addresses, routes).items()):
            accept = interface_sysctl.conf_path("ipv6", name, "accept_ra")
            facts["interfaces"].append({
                "name": name, "reason": reason, "key": interface_sysctl.dotted(accept),
                "accept_ra": interface_sysctl.runtime(root, accept),
                "forwarding": interface_sysctl.runtime(root, interface_sysctl.conf_path("ipv6", name, "forwarding")),
                "boot": interface_sysctl.boot(accept, root, loaded, KERNEL_ACCEPT_RA,
                                              interface_sysctl.conf_path("ipv6", "default", "accept_ra"))})
        facts["ipv6_default_route"] = any(is_ipv6_default(r) for r in routes)
        facts["ignoring_ras"] = _ignoring_ras(root, [u for u in uplinks if u], addresses)
    except interface_sysctl.UnreadableSysctl as exc:
        facts["errors"].append(str(exc))
    return facts


def fix_interfaces(facts):
    """The interfaces the fix writes accept_ra = 2 for: those the check finds depending on RAs (but not
    those at 0, whose route a userspace RA client installs) and, with no IPv6 default route, the uplinks
    ignoring RAs."""
    names = [i["name"] for i in facts["interfaces"] if i["accept_ra"] not in (None, "0")]
    if not facts["interfaces"] and not facts.get("ipv6_default_route"):
        names += facts.get("ignoring_ras") or []
    return names


def wanted_settings(root, addresses, routes, loaded, uplinks=()):
    """What the kernel fixer's ``ipv6_ra`` area (and the guard before any IPv6 forwarding write) sets:
    ``accept_ra = 2`` on every interface of :func:`fix_interfaces`. UnreadableSysctl propagates."""
    facts = gather(root, addresses, routes, loaded, uplinks)
    if facts["errors"]:
        raise interface_sysctl.UnreadableSysctl("; ".join(facts["errors"]))
    return [wanted_sysctl.exactly(interface_sysctl.dotted(interface_sysctl.conf_path("ipv6", name, "accept_ra")),
                                  WANTED, kernel_default=KERNEL_ACCEPT_RA) for name in fix_interfaces(facts)]


def evaluate(facts, ip_families):
    expected = "accept_ra=2 on every interface whose IPv6 default route comes from a router advertisement"
    if "ipv6" not in ip_families:
        return check_result(CHECK_ID, "skip", "ipv6 is not in podnet_ip_families: IPv6 forwarding is not wanted",
                            expected)
    if facts["errors"]:
        return check_result(CHECK_ID, "error", "cannot read %s" % "; ".join(facts["errors"]), expected)
    forwarding = facts["all_forwarding"]
    fwd_text = "%s=%s now, %s at boot; ip_forward wants 1 (ipv6 is in podnet_ip_families)" % (
        forwarding["key"], forwarding["runtime"], forwarding["boot"]["systemd"]["text"])
    if not facts["interfaces"]:
        ignoring = facts.get("ignoring_ras") or []
        if not facts.get("ipv6_default_route") and ignoring:
            # forwarding already on: the RA route is gone (or never came, after a boot with forwarding), and
            # without SLAAC nothing else shows a router was there; the node has no IPv6 default route at all
            return check_result(CHECK_ID, "fail", "no IPv6 default route, and %s ignore router advertisements "
                                "(accept_ra=1 with forwarding=1), so one a router advertises there is dropped; %s" % (
                                    ", ".join(ignoring), fwd_text), expected,
                                fix_text([{"name": n, "key": interface_sysctl.dotted(
                                    interface_sysctl.conf_path("ipv6", n, "accept_ra"))} for n in ignoring]))
        return check_result(CHECK_ID, "pass", "no default route learned from a router advertisement and no "
                            "SLAAC/DHCPv6 address; " + fwd_text, expected)
    findings, errors, bad = [], [], []
    for iface in facts["interfaces"]:
        head = "%s (%s)" % (iface["name"], iface["reason"])
        if iface["accept_ra"] is None:
            errors.append("%s: no /proc/sys/net/ipv6/conf/%s/accept_ra" % (head, iface["name"]))
            continue
        if iface["accept_ra"] == "0":
            errors.append("%s: accept_ra=0, so a userspace RA client (NetworkManager, systemd-networkd) "
                          "installs the route; whether it keeps doing so with forwarding on is its own setting "
                          "(networkd IPv6AcceptRA=, NetworkManager ipv6.method)" % head)
            continue
        mine = []
        if iface["accept_ra"] != WANTED:
            mine.append("%s=%s now (forwarding=%s)" % (iface["key"], iface["accept_ra"], iface["forwarding"]))
        for tool, after in (("systemd", "at boot (systemd-sysctl)"), ("procps", "after sysctl --system")):
            resolved = iface["boot"][tool]
            later = resolved.get("created_later")
            if resolved["error"]:
                errors.append("%s %s: %s" % (iface["key"], after, resolved["error"]))
            elif later and (later["value"] == WANTED) != (resolved["value"] == WANTED):
                errors.append("%s %s: no line names %s, so it gets %s if it exists before systemd-sysctl runs "
                              "(the kernel's start value) and %s if udev brings it up later; which one happens at "
                              "boot is a race no file records (write %s = 2 to decide it)" % (
                                  iface["key"], after, iface["name"], resolved["value"], later["text"], iface["key"]))
            elif later:
                mine.append("%s=%s or %s (before or after systemd-sysctl runs) %s" % (
                    iface["key"], resolved["value"], later["text"], after))
            elif resolved["value"] != WANTED:
                mine.append("%s=%s %s" % (iface["key"], resolved["text"], after))
        if mine:
            bad.append(iface)
            findings.append("%s: %s" % (head, "; ".join(mine)))
    if findings:
        observed = "; ".join(findings) + "; " + fwd_text
        if errors:
            observed += "; also undecided: " + "; ".join(errors)
        return check_result(CHECK_ID, "fail", observed, expected, fix_text(bad), findings=findings)
    if errors:
        return check_result(CHECK_ID, "error", "; ".join(errors), expected)
    return check_result(CHECK_ID, "pass", "; ".join("%s: %s=2 now and at boot" % (i["name"], i["key"])
                                                    for i in facts["interfaces"]) + "; " + fwd_text, expected)


def drop_in_lines(names):
    """The owned drop-in's lines for the interfaces ``names`` (dots in a name become '/')."""
    return ["%s = %s" % (interface_sysctl.dotted(interface_sysctl.conf_path("ipv6", n, "accept_ra")), WANTED)
            for n in names]


def fix_text(interfaces):
    names = [i["name"] for i in interfaces]
    return ("write %s to /etc/sysctl.d/99-zzz-podnet-doctor.conf, then %s; BEFORE net.ipv6.conf.all.forwarding=1 is "
            "set (enabling forwarding deletes the RA default routes of interfaces whose accept_ra is not 2); where it "
            "is already gone, the router's next advertisement brings it back" % (
                ", ".join(drop_in_lines(names)),
                "; ".join("sysctl -w %s=%s" % (i["key"], WANTED) for i in interfaces)))
