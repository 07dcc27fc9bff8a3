# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan and apply the kernel fixes (forwarding, bridge netfilter, reserved NodePorts) so that
they survive a reboot.

``plan_fix`` is pure: it reads the node (under ``root``) and returns every change
(file contents before/after, module loads, runtime writes) plus the reasons it cannot
proceed. Nothing is written until the whole plan is known and has no blocker, so a
failure never leaves half a fix behind. ``apply_fix`` carries a plan out in the order
that keeps the node consistent: load the module, write modules-load.d, write the
sysctl drop-in, comment out overrides (with a backup), then set runtime values.

How an area plugs in (the API for new kernel areas):

* An area contributes *wanted settings* (``wanted_sysctl.WantedSysctl``): the key, the value
  our drop-in and the runtime write carry, and the test a value the kernel stores must pass
  (``exactly(key, "1")`` for forwarding; for reserved ports the value is the union of the
  NodePort range and what the node reserves, and a value is acceptable when it holds all of that).
  Register a function
  ``settings(context) -> [WantedSysctl]`` in ``AREA_SETTINGS`` under the area's name; ``context``
  holds ``root``, ``ip_families``, ``options`` (the module's area parameters, e.g.
  ``nodeport_range``), ``loaded`` (``sysctl_boot.load_boot_assignments``) and ``owned`` (our
  drop-ins, to leave out of "what the node has without us"). Add the key to ``KEY_ORDER``
  so every run writes the drop-in's lines in one order.
* Everything else is per setting: the drop-in is named to sort after every foreign line whose
  value the setting does not accept (``outranking_path``); ``on_override: comment`` comments
  out those lines only; the plan resolves the layout it leaves with the setting's own kernel
  reading (``store``) and reports what still does not pass; the runtime write is its value.
* The drop-in is rewritten whole, so it keeps every entry it already holds for areas this run
  does not fix (a run fixing one area never undoes another): an area may re-plan its held key
  (``HELD_REFRESH``: the reserved ports are recomputed, so ports a user reserved since are not
  dropped at boot); any other held entry is kept as written (``wanted_sysctl.held``). Only this
  run's areas get runtime writes and override handling.
* A held entry keeps the test of the area that wrote it, not of this run's options: a setting whose test
  depends on a run option (``written_for``: the rp_filter area's ``cni``; Calico accepts all.rp_filter 0 or
  1, Cilium only 0) is written below a comment ``# written by area rp_filter for podnet_cni=calico, which
  needs ...``, and a later run for any area re-derives the held line's test from that area and option value.
  Runs for different areas (the ip_forward role's own default cni is flannel, remediate passes the cluster's)
  then outrank the same foreign lines and keep one drop-in name. A held line without the comment (a drop-in of
  an earlier release) takes this run's cni's test when that cni writes the same value, as before.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import os
import re

from ansible_collections.podnet.doctor.plugins.module_utils.dropin_names import NAME_MAX, name_after
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import FixError
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import (
    accept_ra, interface_sysctl, kmod_state, port_ranges, prereq_checks, rp_filter, sysctl_boot, wanted_sysctl)
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import host_path, read_text, write_atomic

MARKER = wanted_sysctl.MARKER
OWNED_DIRS = ("etc/sysctl.d", "run/sysctl.d")
OVERRIDE_POLICIES = ("outrank", "comment")
EDITABLE_PREFIXES = ("/etc/",)


# The order of the keys areas write in our drop-in, so runs for different areas agree on its body;
# keys not named here follow, in the order they came.
KEY_ORDER = (prereq_checks.forwarding_keys(("ipv4", "ipv6")) + prereq_checks.bridge_keys(("ipv4", "ipv6"))
             + [port_ranges.RESERVED_KEY] + ["net.ipv4.conf.all.rp_filter", "net.ipv4.conf.lxc*.rp_filter",
                                             "net.ipv4.conf.cilium_*.rp_filter"])
IPV6_FORWARDING = list(prereq_checks.forwarding_keys(("ipv6",)))


def _forwarding_settings(context):
    return [wanted_sysctl.exactly(key) for key in prereq_checks.forwarding_keys(context["ip_families"])]


def _bridge_settings(context):
    return [wanted_sysctl.exactly(key) for key in prereq_checks.bridge_keys(context["ip_families"])]


def _ports_settings(context):
    nodeports = port_ranges.parse_nodeport_range(
        context["options"].get("nodeport_range") or port_ranges.DEFAULT_NODEPORT_RANGE)
    return [port_ranges.wanted_reserved(context["root"], nodeports, context["loaded"], context["owned"])]


def _rp_filter_settings(context):
    cni = context["options"].get("cni")
    wanted = rp_filter.wanted_settings(context["root"], cni)
    for setting in wanted:
        # what is acceptable depends on the CNI (Calico's all.rp_filter: 0 or 1, Cilium's: 0): recorded in the
        # drop-in, so a run for another area (whose cni may be another) judges the held line as this run did
        setting.written_for = ("rp_filter", "cni", cni)
    return wanted


def _ipv6_ra_settings(context):
    links = context.get("links") or {}
    return accept_ra.wanted_settings(context["root"], links.get("addresses", []), links.get("routes", []),
                                     context["loaded"], links.get("uplinks", ()))


# area -> settings(context): what each area wants in the drop-in (see the module docstring).
AREA_SETTINGS = {
    "ip_forward": _forwarding_settings,
    "bridge_netfilter": _bridge_settings,
    "ports": _ports_settings,
    "rp_filter": _rp_filter_settings,
    "ipv6_ra": _ipv6_ra_settings,
}


def _held_ports_settings(context, value):
    """The held reserved ports, re-planned from the list the drop-in holds (not from this run's
    nodeport_range: a run for another area must not change which NodePort range the ports run reserved)."""
    runs = port_ranges.parse_reserved(value) or []
    nodeports = runs[0] if runs else port_ranges.parse_nodeport_range(port_ranges.DEFAULT_NODEPORT_RANGE)
    return [port_ranges.wanted_reserved(context["root"], nodeports, context["loaded"], context["owned"], runs)]


# held key -> refresh(context, held value): re-plans it when the run does not fix that area.
HELD_REFRESH = {port_ranges.RESERVED_KEY: _held_ports_settings}


def _is_accept_ra(path):
    return path.startswith("net/ipv6/conf/") and path.endswith("/accept_ra")


def _ordered(settings):
    """KEY_ORDER, with every accept_ra first: at boot and at runtime they are written before IPv6
    forwarding, which purges the RA default routes of interfaces whose accept_ra is not 2."""
    rank = dict((sysctl_boot.key_to_path(k), i) for i, k in enumerate(KEY_ORDER))
    indexed = list(enumerate(settings))
    indexed.sort(key=lambda pair: (-1 if _is_accept_ra(pair[1].path) else rank.get(pair[1].path, len(rank)), pair[0]))
    return [setting for _index, setting in indexed]


def area_settings(areas, context):
    """The settings this run's ``areas`` want, in drop-in order."""
    found = []
    for area in areas:
        if area in AREA_SETTINGS:
            found += AREA_SETTINGS[area](context)
    return _ordered(found)


# The comment our drop-in writes above a line whose test depends on a run option (WantedSysctl.written_for).
WRITTEN_FOR = re.compile(r"^# written by area (\w+) for podnet_(\w+)=(\S*), which needs ")


def written_for_comment(setting):
    area, option, value = setting.written_for
    return "# written by area %s for podnet_%s=%s, which needs %s:" % (area, option, value, setting.need)


def held_entries(root, owned):
    """(key, value, written_for) per variable our drop-ins (``owned``) set, in file order: the value of
    its last plain assignment, under the first name it was written with (the drop-in writes a variable's
    names together, ours first: net.ipv4.ip_forward, then net.ipv4.conf.all.forwarding), and the
    (area, option, value) the comment above that line records (None: no such comment)."""
    entries = collections.OrderedDict()
    for path in owned:
        text = read_text(root, path) or ""
        lines = text.splitlines()
        for assignment in sysctl_boot.parse_sysctl_text(text, path)[0]:
            if assignment.is_exclusion or not assignment.path:
                continue  # a glob is kept (the rp_filter area writes net.ipv4.conf.lxc*.rp_filter)
            first = [n for n in sysctl_boot.kernel_names(assignment.path) if n in entries]
            above = WRITTEN_FOR.match(lines[assignment.line - 2]) if assignment.line >= 2 else None
            written_for = above.groups() if above else None
            key = first[0] if first else assignment.path
            entries[key] = (assignment.value, written_for or (entries[key][1] if key in entries else None))
    return [(sysctl_boot.key_to_dotted(path), value, written_for) for path, (value, written_for) in entries.items()]


def held_settings(root, owned, settings, context):
    """Settings for what our drop-in holds beyond ``settings`` (this run's): re-planned by
    ``HELD_REFRESH`` where its area knows how, else kept as written."""
    taken = set(p for s in settings for p in sysctl_boot.kernel_names(s.path))
    kept = []
    for key, value, written_for in held_entries(root, owned):
        path = sysctl_boot.key_to_path(key)
        if path in taken:
            continue
        refresh = HELD_REFRESH.get(key)
        found = [s for s in refresh(context, value) if s.path == path] if refresh else []
        store = found[0].store if found else wanted_sysctl.integer_store
        if not found and written_for:
            found = _as_written_for(context, written_for, path, value)
        if not found:
            # a line with no record (a drop-in of an earlier release): the area that writes this key for this run's
            # options (cni), when it writes this very value, gives its test, unrecorded
            found = [s for s in _rp_filter_settings(context) if s.path == path and s.value == value][:1]
            for setting in found:
                setting.written_for = None
        if not found:
            found = [wanted_sysctl.held(key, value, store)]
            if found[0].is_glob:
                # as the area that wrote it: the links the glob stands for, so that a foreign line naming one of
                # them (or a narrower glob) is still outranked by a run for another area
                found[0].probes = tuple(_glob_probes(context["root"], path)) or found[0].probes
        kept += found
        taken.update(sysctl_boot.kernel_names(path))
    return kept


def _as_written_for(context, written_for, path, value):
    """The setting the area recorded above a held line writes for the option value it recorded (the rp_filter
    area for podnet_cni=calico), when it still writes this very value: that area's test of what is acceptable
    and its probes, whatever this run's options are; [] otherwise."""
    area, option, option_value = written_for
    if area not in AREA_SETTINGS:
        return []
    options = dict(context["options"])
    options[option] = option_value
    return [s for s in AREA_SETTINGS[area](dict(context, options=options)) if s.path == path and s.value == value][:1]


def _glob_probes(root, path):
    """The concrete /proc/sys paths a held glob key ``net/<family>/conf/<glob>/<name>`` stands for: the existing
    links it reaches and the names the CNIs' future links get (rp_filter.RP_FILTER_NEEDS)."""
    parts = path.split("/")
    if len(parts) != 5 or parts[2] != "conf":
        return []
    names = interface_sysctl.interfaces(root, parts[1])
    names += [n for needs in rp_filter.RP_FILTER_NEEDS.values() for n in needs["future_links"] if n not in names]
    return [interface_sysctl.conf_path(parts[1], n, parts[4]) for n in names
            if sysctl_boot.glob_matches(path, interface_sysctl.conf_path(parts[1], n, parts[4]))]


def owned_files(root, directories=OWNED_DIRS):
    """Files in sysctl.d that this collection wrote (first line is the marker)."""
    found = []
    for rel in directories:
        directory = host_path(root, rel)
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            path = "/%s/%s" % (rel, name)
            if name.endswith(".conf") and wanted_sysctl.is_owned(root, path):
                found.append(path)
    return found


def sysctl_file_body(settings):
    """Our drop-in's text for ``settings`` (WantedSysctl, or int-1 keys as plain strings)."""
    lines = [MARKER + " (podnet.doctor.kernel_prereqs); changes here are overwritten.",
             "# Kubernetes pod networking needs these at boot. This file is named to sort",
             "# after every sysctl.d file that sets them to anything else; a variable with two",
             "# names gets both, so no earlier line under the other name is written after ours."]
    for setting in settings:
        if not isinstance(setting, wanted_sysctl.WantedSysctl):
            setting = wanted_sysctl.exactly(setting)
        if setting.written_for:
            lines.append(written_for_comment(setting))
        for path in sysctl_boot.kernel_names(setting.path):
            # net.bridge.* exist only once br_netfilter is loaded: '-' keeps a missing
            # module from failing systemd-sysctl (modules-load.d loads it first).
            # likewise a line naming one interface (accept_ra of eth0): absent at boot is no failure
            prefix = "-" if path.startswith("net/bridge/") or _names_one_interface(path) else ""
            lines.append("%s%s = %s" % (prefix, sysctl_boot.key_to_dotted(path), setting.value))
    return "\n".join(lines) + "\n"


def _names_one_interface(path):
    parts = path.split("/")
    return len(parts) == 5 and parts[2] == "conf" and parts[3] not in ("all", "default") \
        and not sysctl_boot.GLOB_CHARS.search(parts[3])


def modules_file_body(module):
    return "%s (podnet.doctor.kernel_prereqs); changes here are overwritten.\n%s\n" % (MARKER, module)


def settings_by_path(settings):
    """Every /proc/sys name of each setting's variable -> the setting; a glob setting stands for its probes
    (the links it reaches), and its own pattern."""
    return dict((p, s) for s in settings for probe in set(s.probes + (s.path,)) for p in sysctl_boot.kernel_names(probe))


def _overrides(assignment, by_path):
    """Does this line set (or, with '-key', unset) a variable of ``by_path`` to a value its
    setting does not accept?"""
    try:
        if assignment.is_glob:
            hit = [p for p in by_path if sysctl_boot.glob_matches(assignment.path or assignment.raw, p)]
        else:
            hit = [assignment.path] if assignment.path in by_path else []
        if not hit:
            return False
        if assignment.is_exclusion:
            return True
        # a refused write keeps what was there before, which this one line cannot tell: outrank it
        return not all(by_path[p].accepts_written(p, assignment.value, None) for p in hit)
    except sysctl_boot.Undecided:
        return True  # cannot tell: outrank it


def outranking_path(default_path, settings, assignments, owned):
    """``default_path``, renamed to sort after every foreign sysctl.d file that sets one of
    ``settings`` (under any of its kernel names, or by a glob, or unsets it with '-key') to a value
    that setting does not accept; and those files. The path is None when no file name can sort
    after them. ``settings`` may be int-1 keys as plain strings."""
    by_path = settings_by_path(_as_settings(settings))
    later = set(a.order_name for a in assignments
                if a.order_name and a.file not in owned and _overrides(a, by_path))
    directory, name = os.path.split(default_path)
    latest = max(later, key=os.fsencode) if later else None
    name = name_after(name, latest)
    return (os.path.join(directory, name) if name else None), sorted(set(
        a.file for a in assignments if a.order_name in later and a.file not in owned))


def _as_settings(settings):
    return [s if isinstance(s, wanted_sysctl.WantedSysctl) else wanted_sysctl.exactly(s) for s in settings]


def _comment_out(root, path, settings):
    """The text of ``path`` with every line that sets one of ``settings`` to a value it does not
    accept commented out."""
    text = read_text(root, path)
    if text is None:
        return None
    by_path = settings_by_path(_as_settings(settings))
    out = []
    for raw in text.splitlines(True):
        found = sysctl_boot.parse_sysctl_text(raw, path)[0]
        if found and not found[0].is_exclusion and not found[0].is_glob and _overrides(found[0], by_path):
            need = by_path[found[0].path].need
            out.append("# disabled by podnet.doctor (Kubernetes needs %s): %s" % (need, raw.lstrip()))
        else:
            out.append(raw)
    return "".join(out)


def plan_fix(root="/", areas=("ip_forward", "bridge_netfilter"), ip_families=("ipv4",),
             sysctl_file=prereq_checks.DEFAULT_SYSCTL_FILE, modules_file=prereq_checks.DEFAULT_MODULES_FILE,
             on_override="outrank", module="br_netfilter", options=None, links=None, procps=sysctl_boot.PROCPS_CURRENT):
    """``options``: the areas' parameters (``nodeport_range``, ``cni``); ``links``: the node's ``addresses``
    (``ip -j address``), ``routes`` (host_networks.gather_routes) and ``uplinks``, for accept_ra; ``procps``:
    the node's procps version (sysctl_boot.node_procps_version); see the module docstring."""
    owned = owned_files(root)
    loaded = sysctl_boot.load_boot_assignments(root, procps=procps)
    context = {"root": root, "ip_families": ip_families, "options": options or {}, "loaded": loaded,
               "owned": owned, "links": links or {}}
    # The drop-in holds ``settings`` (this run's areas and what it held before); this run
    # resolves overrides and sets runtime values for its own areas' settings only.
    area = area_settings(areas, context)
    held = held_settings(root, owned, area, context)
    guard = ipv6_forwarding_guard(areas, area + held, context)
    area = _ordered(area + guard)
    held = [s for s in held if s.path not in set(g.path for g in guard)]
    settings = _ordered(area + held)
    keys = [s.key for s in settings]
    plan = {"keys": keys, "files": [], "remove": [], "modprobe": None, "runtime": {}, "runtime_values": {},
            "unresolved": [], "blockers": [], "outranks": []}

    if "bridge_netfilter" in areas:
        state = kmod_state.module_state(module, root)
        if state["blacklisted"]:
            plan["blockers"].append(
                "%s is blacklisted by %s: Kubernetes pod networking needs it; remove that line "
                "and run again (podnet.doctor does not edit modprobe.d)" % (module, state["blacklisted"]))
        if not state["active"]:
            if not state["loadable"] and state["module_index_found"]:
                plan["blockers"].append(
                    "%s is neither built into kernel %s nor in its modules.dep: install the "
                    "kernel modules package for this kernel" % (module, state["kernel_release"]))
            plan["modprobe"] = module
        if not state["builtin"]:
            plan["files"].append({"path": modules_file, "mode": 0o644,
                                  "before": read_text(root, modules_file),
                                  "after": modules_file_body(module)})

    if settings:
        target, plan["outranks"] = outranking_path(sysctl_file, settings, loaded["systemd"] + loaded["procps"], owned)
        if target is None:
            target = sysctl_file
            plan["unresolved"].append(
                "no file name sorts after %s and fits in %d bytes: %s stays overridden at boot; "
                "remove or rename those files" % (", ".join(plan["outranks"]), NAME_MAX, ", ".join(keys)))
        plan["files"].append({"path": target, "mode": 0o644, "before": read_text(root, target),
                              "after": sysctl_file_body(settings)})
        plan["remove"] = [{"path": path, "before": read_text(root, path)} for path in owned if path != target]
        plan["sysctl_file"] = target
        plan_overrides(plan, root, area, loaded, owned, on_override)

    for setting in area:
        # a glob is written link by link (sysctl -w takes no glob): the existing links it reaches
        for key in (runtime_keys(root, setting) if setting.is_glob else [setting.key]):
            now = prereq_checks.runtime_value(root, key)
            if not setting.accepts(now):
                plan["runtime"][key] = now
                plan["runtime_values"][key] = setting.value
    return plan


def runtime_keys(root, setting):
    """The dotted keys of the existing links a glob ``setting`` reaches (net/<family>/conf/<glob>/<name>)."""
    parts = setting.path.split("/")
    return [interface_sysctl.dotted(interface_sysctl.conf_path(parts[1], name, parts[4]))
            for name in interface_sysctl.interfaces(root, parts[1])
            if sysctl_boot.glob_matches(setting.path, interface_sysctl.conf_path(parts[1], name, parts[4]))]


def ipv6_forwarding_guard(areas, settings, context):
    """accept_ra = 2 settings the run must add before an IPv6 forwarding write (empty when the run writes
    none, or ``ipv6_ra`` is among its areas already): writing net.ipv6.conf.all.forwarding = 1 purges at once
    the default routes learned from router advertisements on every interface whose accept_ra is not 2
    (net/ipv6/addrconf.c addrconf_fixup_forwarding -> rt6_purge_dflt_routers), and at boot the route never
    comes back. So the kernel fixer writes them whichever areas the user chose."""
    if "ipv6_ra" in areas or not any(s.key in IPV6_FORWARDING for s in settings):
        return []
    taken = set(s.path for s in settings)
    return [s for s in _ipv6_ra_settings(context) if s.path not in taken]


def plan_overrides(plan, root, settings, loaded, owned, on_override):
    """With ``on_override: comment``, comment out every foreign line under /etc that wins without
    us; then resolve the layout the plan leaves, as both tools will read it, and report every
    setting that still does not end at an acceptable value as unresolved (file and line)."""
    settings = _as_settings(settings)
    if on_override == "comment":
        for setting in settings:
            for path in setting.probes:
                for tool in sysctl_boot.TOOLS:
                    foreign = [a for a in loaded[tool] if a.file not in owned]
                    winner = sysctl_boot.resolve(foreign, path, setting.kernel_default, tool, setting.store)
                    if not setting.accepts(winner["value"]) and (winner["file"] or "").startswith(EDITABLE_PREFIXES):
                        plan_comment(plan, root, winner["file"], settings)
    overlay = dict((e["path"], None) for e in plan["remove"])
    overlay.update((e["path"], e["after"]) for e in plan["files"] if "/sysctl.d/" in e["path"] or
                   e["path"] == "/" + sysctl_boot.SYSCTL_CONF)
    after = sysctl_boot.load_boot_assignments(root, overlay, procps=loaded.get("procps_version", sysctl_boot.PROCPS_CURRENT))
    for setting, path in ((s, p) for s in settings for p in s.probes):
        key = sysctl_boot.key_to_dotted(path)
        resolved = sysctl_boot.effective_boot_value(key, root, setting.kernel_default, loaded=after,
                                                    store=setting.store)
        for tool, label in (("systemd", "systemd-sysctl at boot"), ("procps", "sysctl --system")):
            if setting.accepts(resolved[tool]["value"]):
                continue
            text = "%s=%s still wins for %s" % (key, sysctl_boot.describe_source(resolved[tool]), label)
            if resolved[tool]["file"] == "/" + sysctl_boot.SYSCTL_CONF and tool == "procps":
                text += " (it reads /etc/sysctl.conf last)"
                if on_override != "comment":
                    text += "; set podnet_sysctl_override: comment to comment that line out (a backup is kept)"
            plan["unresolved"].append(text)


def plan_comment(plan, root, path, settings):
    for entry in plan["files"]:
        if entry["path"] == path:
            return
    after = _comment_out(root, path, settings)
    before = read_text(root, path)
    if after is not None and after != before:
        plan["files"].append({"path": path, "mode": None, "before": before, "after": after,
                              "backup": True})


def changed_files(plan):
    return [entry for entry in plan["files"] if entry["before"] != entry["after"]]


def plan_changes(plan):
    return bool(changed_files(plan) or plan["remove"] or plan["modprobe"] or plan["runtime"])


def apply_fix(plan, root="/", run_command=None, mover=None, backup=None):
    """Carry out ``plan``. ``run_command(argv)`` returns (rc, stdout, stderr);
    ``backup(path)`` returns the backup file name."""
    if plan["blockers"]:
        raise FixError("; ".join(plan["blockers"]))
    done = {"backups": [], "warnings": []}
    if plan["modprobe"]:
        rc, out, err = run_command(["modprobe", plan["modprobe"]])
        # the exit code says whether it loaded; stderr may hold warnings (a bad line in an
        # unrelated modprobe.d file) on a load that worked
        if rc != 0:
            raise FixError("modprobe %s failed (rc=%d): %s" % (plan["modprobe"], rc, (err or out).strip()))
        if err.strip():
            done["warnings"].append("modprobe %s succeeded with a message: %s" % (plan["modprobe"], err.strip()))
    for entry in changed_files(plan):
        if entry.get("backup") and backup is not None:
            done["backups"].append(backup(host_path(root, entry["path"])))
        write_atomic(host_path(root, entry["path"]), entry["after"], entry["mode"], mover)
    for entry in plan["remove"]:
        os.unlink(host_path(root, entry["path"]))
    for key in plan["runtime"]:
        proc_path = os.path.join(root, "proc/sys", sysctl_boot.key_to_path(key))
        if not os.path.exists(proc_path):
            raise FixError("%s does not exist%s" % (
                "/proc/sys/" + sysctl_boot.key_to_path(key),
                " (br_netfilter is not loaded)" if key.startswith("net.bridge.") else ""))
        value = plan.get("runtime_values", {}).get(key, "1")
        try:
            with open(proc_path, "w") as handle:
                handle.write(value + "\n")
        except (IOError, OSError) as exc:
            raise FixError("cannot set %s=%s: %s (read-only /proc/sys: an unprivileged container, "
                           "or not root)" % (key, value, exc))
    return done


def diff_entries(plan):
    """Ansible diff list: one entry per changed or removed file."""
    diffs = [{"before_header": e["path"], "after_header": e["path"],
              "before": e["before"] or "", "after": e["after"]} for e in changed_files(plan)]
    diffs += [{"before_header": e["path"], "after_header": "%s (removed)" % e["path"],
               "before": e["before"] or "", "after": ""} for e in plan["remove"]]
    diffs += [{"before_header": "/proc/sys/%s" % sysctl_boot.key_to_path(k),
               "after_header": "/proc/sys/%s" % sysctl_boot.key_to_path(k),
               "before": "%s\n" % (v if v is not None else "(absent)"),
               "after": "%s\n" % plan.get("runtime_values", {}).get(k, "1")}
              for k, v in sorted(plan["runtime"].items())]
    return diffs
