# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gather a node's pod-networking facts in one pass and turn them into checks.

``gather_facts(root, ...)`` reads /proc, /sys and the config trees;
``evaluate(facts, ...)`` returns the check results of ../shared/design.md:
``{"id", "status", "observed", "expected", "fix"}`` with status pass, fail, skip,
error or ignored.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.podnet.doctor.plugins.module_utils.checks import apply_ignore, check_result
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import kmod_state, sysctl_boot
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import read_host_text, read_text

IPV4_FORWARD = "net.ipv4.ip_forward"
IPV6_FORWARD = "net.ipv6.conf.all.forwarding"
BRIDGE_NF_V4 = "net.bridge.bridge-nf-call-iptables"
BRIDGE_NF_V6 = "net.bridge.bridge-nf-call-ip6tables"
NETWORKD_DIRS = ("etc/systemd/network", "run/systemd/network", "usr/local/lib/systemd/network",
                 "usr/lib/systemd/network", "lib/systemd/network")
DEFAULT_SYSCTL_FILE = "/etc/sysctl.d/99-zzz-podnet-doctor.conf"
DEFAULT_MODULES_FILE = "/etc/modules-load.d/podnet-doctor.conf"
CHECK_IDS = ("ip_forward.runtime", "ip_forward.boot", "br_netfilter.loaded",
             "br_netfilter.boot", "bridge_nf_call.runtime", "bridge_nf_call.boot")


def forwarding_keys(ip_families):
    keys = [IPV4_FORWARD] if "ipv4" in ip_families else []
    return keys + ([IPV6_FORWARD] if "ipv6" in ip_families else [])


def bridge_keys(ip_families):
    keys = [BRIDGE_NF_V4] if "ipv4" in ip_families else []
    return keys + ([BRIDGE_NF_V6] if "ipv6" in ip_families else [])


def runtime_value(root, key):
    """The live value from /proc/sys, or None when the key does not exist."""
    value = read_text(root, "proc/sys/" + sysctl_boot.key_to_path(key))
    return None if value is None else value.strip()


def networkd_ip_forward(root="/"):
    """``IPForward=`` settings in systemd-networkd .network files (file, line, value)."""
    found = []
    for entry in sysctl_boot.conf_files(root, NETWORKD_DIRS, suffix=".network"):
        if entry["masked"]:
            continue
        text = read_host_text(entry["real"])  # conf_files mapped it under root already
        if text is None:
            continue
        lines = text.splitlines()
        for number, raw in enumerate(lines, 1):
            match = re.match(r"\s*IPForward\s*=\s*(\S+)", raw)
            if match:
                found.append({"file": entry["path"], "line": number, "value": match.group(1)})
    return found


def gather_facts(root="/", ip_families=("ipv4",), module="br_netfilter", loaded=None):
    """Everything the forwarding and bridge checks need, read once. ``loaded``: the sysctl files as
    :func:`sysctl_boot.load_boot_assignments` read them, when the caller read them already."""
    keys = forwarding_keys(ip_families) + bridge_keys(ip_families)
    if loaded is None:
        loaded = sysctl_boot.load_boot_assignments(root)
    return {
        "ip_families": list(ip_families),
        "sysctl": dict((key, {
            "runtime": runtime_value(root, key),
            "boot": sysctl_boot.effective_boot_value(key, root, loaded=loaded),
        }) for key in keys),
        "sysctl_problems": loaded["problems"],
        "networkd_ip_forward": networkd_ip_forward(root),
        "module": kmod_state.module_state(module, root),
    }


def _runtime_check(check_id, facts, keys, fix_hint):
    bad, seen = [], []
    for key in keys:
        value = facts["sysctl"][key]["runtime"]
        seen.append("%s=%s" % (key, "absent" if value is None else value))
        if value != "1":
            bad.append(key)
    if not bad:
        return check_result(check_id, "pass", ", ".join(seen), "1")
    return check_result(check_id, "fail", ", ".join(seen), "1", fix_hint(bad))


def _boot_problems(facts, keys):
    """Per key: the value each boot path leaves, and a list of human findings."""
    findings = []
    for key in keys:
        systemd, procps = facts["sysctl"][key]["boot"]["systemd"], facts["sysctl"][key]["boot"]["procps"]
        if systemd == procps:
            if systemd["value"] != "1":
                findings.append("%s=%s after boot and after sysctl --system"
                                % (key, sysctl_boot.describe_source(systemd)))
            continue
        for resolved, label in ((systemd, "systemd-sysctl at boot"), (procps, "sysctl --system")):
            if resolved["value"] != "1":
                findings.append("%s=%s after %s" % (key, sysctl_boot.describe_source(resolved), label))
    return findings


def _boot_errors(facts, keys):
    """What the boot model cannot decide for ``keys`` (file and line): an ``error``, never a guess."""
    errors = []
    for key in keys:
        for tool, label in (("systemd", "systemd-sysctl"), ("procps", "sysctl --system")):
            error = facts["sysctl"][key]["boot"][tool].get("error")
            if error and "%s: %s" % (label, error) not in errors:
                errors.append("%s: %s" % (label, error))
    return errors


def _definite_failures(facts, keys):
    """(key, tool label, resolved) where a tool the model can decide ends at something other than 1."""
    found = []
    for key in keys:
        for tool, label in (("systemd", "systemd-sysctl at boot"), ("procps", "sysctl --system")):
            resolved = facts["sysctl"][key]["boot"][tool]
            if not resolved.get("error") and resolved["value"] != "1":
                found.append("%s=%s after %s" % (key, sysctl_boot.describe_source(resolved), label))
    return found


def _boot_result(check_id, facts, keys, findings, expected, fix):
    errors = _boot_errors(facts, keys)
    if errors:
        # one path that surely ends at another value fails the check whatever the undecided one does
        definite = _definite_failures(facts, keys)
        if definite:
            return check_result(check_id, "fail", "; ".join(definite) + "; also undecided: " + "; ".join(errors),
                                expected, fix, findings=definite)
        return check_result(check_id, "error", "cannot tell %s after boot: %s" % (", ".join(keys), "; ".join(errors)),
                            expected, findings=findings)
    return check_result(check_id, "fail" if findings else "pass", _boot_observed(facts, keys), expected,
                        fix if findings else None, findings=findings)


def _boot_observed(facts, keys):
    parts = []
    for key in keys:
        boot = facts["sysctl"][key]["boot"]
        text = "%s=%s" % (key, sysctl_boot.describe_source(boot["systemd"]))
        if (boot["procps"]["value"], boot["procps"]["source"]) != (
                boot["systemd"]["value"], boot["systemd"]["source"]):
            text += "; sysctl --system: %s" % sysctl_boot.describe_source(boot["procps"])
        parts.append(text)
    return "; ".join(parts)


def _boot_fix(facts, keys, sysctl_file):
    overriders = []
    for key in keys:
        for tool in ("systemd", "procps"):
            source = facts["sysctl"][key]["boot"][tool]["source"]
            if source and source != sysctl_file and facts["sysctl"][key]["boot"][tool]["value"] != "1":
                overriders.append(source)
    text = "write %s with %s" % (sysctl_file, ", ".join("%s = 1" % k for k in keys))
    if overriders:
        text += " (named to sort after %s) or remove the override" % ", ".join(sorted(set(overriders)))
    return text + "; podnet.doctor.remediate does this"


def evaluate(facts, ignore=(), sysctl_file=DEFAULT_SYSCTL_FILE, modules_file=DEFAULT_MODULES_FILE):
    """Return the list of check results for forwarding and bridge netfilter."""
    families = facts["ip_families"]
    fwd, brk = forwarding_keys(families), bridge_keys(families)
    module = facts["module"]
    results = []

    results.append(_runtime_check(
        "ip_forward.runtime", facts, fwd,
        lambda bad: "sysctl -w %s" % " ".join("%s=1" % k for k in bad)))

    findings = _boot_problems(facts, fwd)
    result = _boot_result("ip_forward.boot", facts, fwd, findings, "1", _boot_fix(facts, fwd, sysctl_file))
    networkd = facts.get("networkd_ip_forward") or []
    if networkd:
        result["observed"] += "; systemd-networkd IPForward= in %s" % ", ".join(
            "%s line %d (%s)" % (n["file"], n["line"], n["value"]) for n in networkd)
    results.append(result)

    # br_netfilter
    if module["active"]:
        how = "built into the kernel" if module["builtin"] else "loaded"
        if module.get("builtin_inferred"):
            how = "built in (its sysctls exist; no module index for kernel %s)" % module["kernel_release"]
        results.append(check_result("br_netfilter.loaded", "pass", how, "loaded or built-in"))
    else:
        why = "not loaded"
        if module["blacklisted"]:
            why += "; blacklisted by %s" % module["blacklisted"]
        results.append(check_result(
            "br_netfilter.loaded", "fail", why, "loaded or built-in",
            "remove the blacklist, then modprobe br_netfilter" if module["blacklisted"]
            else "modprobe br_netfilter"))

    if module["builtin"]:
        results.append(check_result("br_netfilter.boot", "pass", "built into the kernel",
                                    "built-in or in modules-load.d"))
    elif module["boot_entry"] and not module["blacklisted"]:
        results.append(check_result("br_netfilter.boot", "pass", "listed in %s" % module["boot_entry"],
                                    "built-in or in modules-load.d"))
    else:
        observed = ("listed in %s but blacklisted by %s" % (module["boot_entry"], module["blacklisted"])
                    if module["boot_entry"] else "in no modules-load.d file")
        if module["blacklisted"] and not module["boot_entry"]:
            observed += "; blacklisted by %s" % module["blacklisted"]
        fix = "write %s containing br_netfilter" % modules_file
        if module["blacklisted"]:
            fix = "remove the blacklist (%s), then %s" % (module["blacklisted"], fix)
        results.append(check_result("br_netfilter.boot", "fail", observed,
                                    "built-in or in modules-load.d", fix))

    if not module["active"]:
        results.append(check_result("bridge_nf_call.runtime", "fail",
                                    "%s absent: br_netfilter is not loaded" % ", ".join(brk), "1",
                                    "modprobe br_netfilter, then sysctl -w %s"
                                    % " ".join("%s=1" % k for k in brk)))
    else:
        results.append(_runtime_check(
            "bridge_nf_call.runtime", facts, brk,
            lambda bad: "sysctl -w %s" % " ".join("%s=1" % k for k in bad)))

    findings = _boot_problems(facts, brk)
    if not module["loads_at_boot"]:
        persisted = [k for k in brk if facts["sysctl"][k]["boot"]["systemd"]["source"]]
        findings.append("br_netfilter does not load at boot, so systemd-sysctl cannot apply %s"
                        % (", ".join(persisted) if persisted else "net.bridge.*"))
    fix = None
    if findings:
        parts = []
        if not module["loads_at_boot"]:
            parts.append("write %s containing br_netfilter" % modules_file)
        if _boot_problems(facts, brk):
            parts.append(_boot_fix(facts, brk, sysctl_file))
        fix = "; ".join(parts)
    results.append(_boot_result("bridge_nf_call.boot", facts, brk, findings,
                                "1 and br_netfilter loaded before sysctl", fix))

    return apply_ignore(results, ignore)
