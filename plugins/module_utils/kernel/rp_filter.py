# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``rp_filter.pod_links``: does reverse-path filtering drop what the CNI needs?

The kernel filters with the larger of ``conf/all/rp_filter`` and the interface's own value
(include/linux/inetdevice.h: ``IN_DEV_RPFILTER`` is ``IN_DEV_MAXCONF(RP_FILTER)``): 0 off, 1 strict (drop
when the route back to the source leaves by another interface), 2 loose (drop only when no route back
exists). So ``all = 1`` makes every interface strict whatever its own value says.

Where the values come from: the kernel starts at 0; systemd's ``sysctl.d/50-default.conf`` (Ubuntu, Fedora,
Arch ship it; Debian 12's systemd 252 package ships none, so Debian stays at 0) has
``net.ipv4.conf.default.rp_filter = 2``, ``net.ipv4.conf.*.rp_filter = 2`` and then
``-net.ipv4.conf.all.rp_filter``, which keeps the glob off ``all`` (it stays 0; systemd 240 until the glob
came wrote ``all = 2`` itself). On Ubuntu ``all`` is 2 through procps's ``/etc/sysctl.d/10-network-security.conf``
(``net.ipv4.conf.all.rp_filter=2``): Calico's "loose" exit there comes from that file. Hardening baselines
write 1. The glob matches ``default`` and every link at boot and, through udev's ``systemd-sysctl --prefix`` run
(99-systemd.rules), every link created later: a value the CNI set on its new link is overwritten
(cilium#10645).

What each CNI needs (``RP_FILTER_NEEDS``, one table, with sources):

* Calico: felix exits at start when ``conf/all/rp_filter`` is above 1 ("Kernel's RPF check is set to
  'loose' ... Calico requires net.ipv4.conf.all.rp_filter to be set to 0 or 1", felix
  dataplane/linux/int_dataplane.go) unless ``IgnoreLooseRPF`` is set; felix sets its own ``cali*`` links to
  1. Wanted: ``all`` in {0, 1}; the fix writes 0, which keeps each interface's own value deciding (an
  uplink the distribution set loose stays loose).
* Cilium: its datapath sends packets the strict or loose check drops, so ``lxc*`` and ``cilium_*`` need an
  effective 0 (cilium tools/sysctlfix, which writes ``/etc/sysctl.d/99-zzz-override_cilium.conf`` with
  ``lxc*``/``cilium_*`` at 0 and ``all`` at 0 "since the kernel uses max(conf.all, conf.{dev})"; Cilium's
  system requirements on systemd 245+). Wanted: ``all`` 0, every existing ``lxc*``/``cilium_*`` link
  effective 0, and no sysctl file that would give a future one anything else.
* Canal: Calico's felix enforces policy there, with the same start-up test: as Calico.
* Antrea, kube-router: no requirement of the host's files (antrea-agent sets the value its gateway needs
  itself, at start): ``skip``, like the next.
* flannel, Weave, custom: no requirement. Their routes back to pod sources leave by the interface the
  packets arrive on (a remote pod subnet through ``flannel.1``/``weave``, the local one through
  ``cni0``/the bridge, host-gw routes through the uplink), so strict mode drops nothing of theirs; only
  asymmetric routing of the node's own network (several uplinks) is hurt, which no file on the node
  shows. The check is ``skip`` for them.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import interface_sysctl, wanted_sysctl

CHECK_ID = "rp_filter.pod_links"
KERNEL_DEFAULT = "0"  # ipv4_devconf in net/ipv4/devinet.c leaves rp_filter at 0

RP_FILTER_NEEDS = {
    "calico": {
        "all": ("0", "1"), "all_fix": "0", "links": (), "link_values": (), "future_links": (),
        "why": "felix exits when net.ipv4.conf.all.rp_filter is above 1 (unless IgnoreLooseRPF is set)",
    },
    "cilium": {
        "all": ("0",), "all_fix": "0", "links": ("lxc*", "cilium_*"), "link_values": ("0",),
        # names a link Cilium creates will have; a glob or a name in a sysctl file reaches them via udev
        "future_links": ("lxc_health", "cilium_host", "cilium_net", "cilium_vxlan", "cilium_geneve"),
        "why": "Cilium needs an effective rp_filter of 0 on lxc* and cilium_* (max of all and the link)",
    },
}
# Canal runs felix for its policy
RP_FILTER_NEEDS["canal"] = RP_FILTER_NEEDS["calico"]


def _entry(root, path, loaded):
    return {"key": interface_sysctl.dotted(path), "runtime": interface_sysctl.runtime(root, path),
            "boot": interface_sysctl.boot(path, root, loaded, KERNEL_DEFAULT)}


def gather(root, cni, uplink, loaded):
    """Runtime and boot values of all, default, the uplink, every existing link of the CNI and the
    names its future links get. ``errors`` lists what could not be read."""
    needs = RP_FILTER_NEEDS.get(cni, {"links": (), "future_links": ()})
    facts = {"cni": cni, "uplink": uplink, "links": [], "future_links": [], "errors": []}
    try:
        for name in ("all", "default"):
            facts[name] = _entry(root, interface_sysctl.conf_path("ipv4", name, "rp_filter"), loaded)
        if uplink:
            facts["uplink_value"] = _entry(root, interface_sysctl.conf_path("ipv4", uplink, "rp_filter"), loaded)
        for name in interface_sysctl.interfaces(root, "ipv4"):
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in needs["links"]):
                entry = _entry(root, interface_sysctl.conf_path("ipv4", name, "rp_filter"), loaded)
                if entry["runtime"] is None:
                    continue  # deleted since listdir (a pod went away): nothing left to filter with
                entry["name"] = name
                facts["links"].append(entry)
        for name in needs["future_links"]:
            entry = {"name": name, "boot": interface_sysctl.boot(
                interface_sysctl.conf_path("ipv4", name, "rp_filter"), root, loaded, KERNEL_DEFAULT)}
            entry["key"] = interface_sysctl.dotted(interface_sysctl.conf_path("ipv4", name, "rp_filter"))
            facts["future_links"].append(entry)
    except interface_sysctl.UnreadableSysctl as exc:
        facts["errors"].append(str(exc))
    return facts


def effective(all_value, link_value):
    """What the kernel filters with (IN_DEV_MAXCONF); None when either is unknown."""
    try:
        return str(max(int(all_value), int(link_value)))
    except (TypeError, ValueError):
        return None


def _tool_findings(label, boot, wanted, only_from_files=False):
    """(findings, errors) for one boot resolution of both tools."""
    findings, errors = [], []
    for tool, after in (("systemd", "at boot (systemd-sysctl)"), ("procps", "after sysctl --system")):
        resolved = boot[tool]
        if resolved["error"]:
            errors.append("%s %s: %s" % (label, after, resolved["error"]))
        elif resolved["value"] not in wanted and (resolved["source"] or not only_from_files):
            findings.append("%s=%s %s" % (label, resolved["text"], after))
    return findings, errors


def evaluate(facts, ip_families):
    """The ``rp_filter.pod_links`` result."""
    cni = facts["cni"]
    expected = "no rp_filter requirement"
    if "ipv4" not in ip_families:
        return check_result(CHECK_ID, "skip", "rp_filter is IPv4 only and ipv4 is not in podnet_ip_families", expected)
    needs = RP_FILTER_NEEDS.get(cni)
    if needs is None:
        return check_result(CHECK_ID, "skip", "podnet_cni=%s has no rp_filter requirement: its routes back to pod "
                            "sources leave by the interface the packets arrive on" % cni, expected)
    expected = "net.ipv4.conf.all.rp_filter in {%s}" % ", ".join(needs["all"])
    if needs["links"]:
        expected += "; effective rp_filter %s on %s, now and on links created later" % (
            "/".join(needs["link_values"]), ", ".join(needs["links"]))
    if facts["errors"]:
        return check_result(CHECK_ID, "error", "cannot read %s" % "; ".join(facts["errors"]), expected)
    findings, errors = [], []
    all_now = facts["all"]["runtime"]
    if all_now is None:
        return check_result(CHECK_ID, "error", "/proc/sys/net/ipv4/conf/all/rp_filter is missing (IPv4 without "
                            "devconf?): cannot tell what the kernel filters with", expected)
    if all_now not in needs["all"]:
        findings.append("%s=%s now" % (facts["all"]["key"], all_now))
    more, bad = _tool_findings(facts["all"]["key"], facts["all"]["boot"], needs["all"])
    if more and cni == "cilium":
        # cilium-agent writes all.rp_filter = 0 at each start (pkg/datapath/linux sysctl settings): the boot
        # value holds from boot until the agent runs, and on the node whenever it does not
        more = [f + " (the Cilium agent writes 0 at every start; until it runs, and where it does not, this value "
                "filters)" for f in more]
    findings += more
    errors += bad
    for link in facts["links"]:
        value = effective(all_now, link["runtime"])
        if value not in needs["link_values"]:
            findings.append("%s: effective %s now (max of all=%s and %s=%s)" % (
                link["name"], value, all_now, link["key"], link["runtime"]))
    for link in facts["future_links"]:
        more, bad = _tool_findings(link["key"], link["boot"], needs["link_values"], only_from_files=True)
        findings += ["a new %s link gets %s" % (link["name"], f.split("=", 1)[1]) for f in more]
        errors += bad
    observed = _observed(facts, needs)
    if findings:
        return check_result(CHECK_ID, "fail", "; ".join(findings) + ("; also undecided: " + "; ".join(errors)
                                                                     if errors else ""),
                            expected, fix_text(facts, needs), findings=findings)
    if errors:
        return check_result(CHECK_ID, "error", "cannot tell rp_filter after boot: " + "; ".join(errors), expected)
    return check_result(CHECK_ID, "pass", observed, expected)


def _observed(facts, needs):
    parts = ["%s=%s now, %s at boot" % (facts["all"]["key"], facts["all"]["runtime"], facts["all"]["boot"]["systemd"]["text"])]
    if facts.get("uplink_value"):
        up = facts["uplink_value"]
        parts.append("uplink %s effective %s" % (facts["uplink"], effective(facts["all"]["runtime"], up["runtime"])))
    if needs["links"]:
        parts.append("%d existing %s link(s)" % (len(facts["links"]), "/".join(needs["links"])))
    return "; ".join(parts)


def drop_in_lines(cni, facts=None):
    """The lines the owned sysctl drop-in needs for ``cni`` (sysctl.d syntax, in order)."""
    needs = RP_FILTER_NEEDS[cni]
    lines = ["net.ipv4.conf.all.rp_filter = %s" % needs["all_fix"]]
    lines += ["net.ipv4.conf.%s.rp_filter = %s" % (pattern, needs["link_values"][0]) for pattern in needs["links"]]
    return lines


def fix_text(facts, needs):
    cni = facts["cni"]
    runtime = ["sysctl -w net.ipv4.conf.all.rp_filter=%s" % needs["all_fix"]]
    runtime += ["sysctl -w %s=%s" % (link["key"], needs["link_values"][0]) for link in facts["links"]
                if link["runtime"] not in needs["link_values"]]
    text = "write %s to /etc/sysctl.d/99-zzz-podnet-doctor.conf (it must sort after the file that sets the other value), " \
           "then %s" % ("; ".join(drop_in_lines(cni)), "; ".join(runtime))
    if cni in ("calico", "canal"):
        text += " (or set FELIX_IGNORELOOSERPF=true, which lets workloads spoof their source address)"
    return text


def wanted_settings(root, cni):
    """What the kernel fixer's ``rp_filter`` area writes for ``cni`` (``wanted_sysctl.WantedSysctl``): ``all``
    (Calico: any of 0/1 passes, 0 is written), and for Cilium one glob per link pattern, whose probes are the
    existing matching links and the names its future links get. None for a CNI with no requirement."""
    needs = RP_FILTER_NEEDS.get(cni)
    if needs is None:
        return []
    wanted = [wanted_sysctl.one_of("net.ipv4.conf.all.rp_filter", needs["all_fix"], needs["all"], KERNEL_DEFAULT)]
    existing = interface_sysctl.interfaces(root, "ipv4")
    for pattern in needs["links"]:
        names = [n for n in existing if fnmatch.fnmatchcase(n, pattern)]
        names += [n for n in needs["future_links"] if fnmatch.fnmatchcase(n, pattern) and n not in names]
        wanted.append(wanted_sysctl.exactly(
            "net.ipv4.conf.%s.rp_filter" % pattern, needs["link_values"][0], kernel_default=KERNEL_DEFAULT,
            probes=[interface_sysctl.conf_path("ipv4", n, "rp_filter") for n in names]))
    return wanted
