# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan and apply the forwarding / bridge netfilter fix so that it survives a reboot.

``plan_fix`` is pure: it reads the node (under ``root``) and returns every change
(file contents before/after, module loads, runtime writes) plus the reasons it cannot
proceed. Nothing is written until the whole plan is known and has no blocker, so a
failure never leaves half a fix behind. ``apply_fix`` carries a plan out in the order
that keeps the node consistent: load the module, write modules-load.d, write the
sysctl drop-in, comment out overrides (with a backup), then set runtime values.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import FixError
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import kmod_state, prereq_checks, sysctl_boot
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import host_path, read_text, write_atomic

MARKER = "# Managed by podnet.doctor"
OWNED_DIRS = ("etc/sysctl.d", "run/sysctl.d")
OVERRIDE_POLICIES = ("outrank", "comment")
EDITABLE_PREFIXES = ("/etc/",)


# Every key this collection may write, in the order our drop-in lists them.
MANAGED_KEYS = prereq_checks.forwarding_keys(("ipv4", "ipv6")) + prereq_checks.bridge_keys(("ipv4", "ipv6"))


def wanted_keys(areas, ip_families, held=()):
    """The keys of ``areas`` for ``ip_families``, plus ``held``: the managed keys our drop-in
    already sets for this node. The drop-in is rewritten whole, so a run fixing one area must
    keep what an earlier run wrote for another, or that setting is gone at the next boot."""
    keys = set(held)
    if "ip_forward" in areas:
        keys.update(prereq_checks.forwarding_keys(ip_families))
    if "bridge_netfilter" in areas:
        keys.update(prereq_checks.bridge_keys(ip_families))
    return [key for key in MANAGED_KEYS if key in keys]


def held_keys(root, owned):
    """The managed keys our drop-ins (``owned``) set to 1."""
    paths = set()
    for path in owned:
        assignments = sysctl_boot.parse_sysctl_text(read_text(root, path) or "", path)[0]
        paths.update(a.path for a in assignments if a.value == "1" and not a.is_exclusion and not a.is_glob)
    return [key for key in MANAGED_KEYS if sysctl_boot.key_to_path(key) in paths]


def owned_files(root, directories=OWNED_DIRS):
    """Files in sysctl.d that this collection wrote (first line is the marker)."""
    found = []
    for rel in directories:
        directory = host_path(root, rel)
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            path = "/%s/%s" % (rel, name)
            if name.endswith(".conf") and (read_text(root, path) or "").startswith(MARKER):
                found.append(path)
    return found


def sysctl_file_body(keys):
    lines = [MARKER + " (podnet.doctor.kernel_prereqs); changes here are overwritten.",
             "# Kubernetes pod networking needs these at boot. This file is named to sort",
             "# after every sysctl.d file that sets them to anything else; a variable with two",
             "# names gets both, so no earlier line under the other name is written after ours."]
    for key in keys:
        for path in sysctl_boot.kernel_names(sysctl_boot.key_to_path(key)):
            # net.bridge.* exist only once br_netfilter is loaded: '-' keeps a missing
            # module from failing systemd-sysctl (modules-load.d loads it first).
            prefix = "-" if path.startswith("net/bridge/") else ""
            lines.append("%s%s = 1" % (prefix, sysctl_boot.key_to_dotted(path)))
    return "\n".join(lines) + "\n"


def modules_file_body(module):
    return "%s (podnet.doctor.kernel_prereqs); changes here are overwritten.\n%s\n" % (MARKER, module)


def managed_paths(keys):
    """The /proc/sys names of ``keys``, with every other name of the same kernel variables."""
    return set(p for k in keys for p in sysctl_boot.kernel_names(sysctl_boot.key_to_path(k)))


def _sets_other_than_1(assignment, paths):
    """Does this line set (or, with '-key', unset) one of ``paths`` to anything but 1?"""
    try:
        if assignment.is_glob:
            if not any(sysctl_boot.glob_matches(assignment.path or assignment.raw, p) for p in paths):
                return False
        elif assignment.path not in paths:
            return False
        return assignment.is_exclusion or sysctl_boot.kernel_value(assignment.path or "", assignment.value) != "1"
    except sysctl_boot.Undecided:
        return True  # cannot tell: outrank it


# The longest file name Linux takes (NAME_MAX, bytes).
NAME_MAX = 255


def name_after(name, latest):
    """``name``, or ``name`` behind the fewest 'z's, so that it sorts after ``latest`` the way both
    tools sort (strcmp of the bytes); past a name no run of 'z' passes ('~x.conf', '{x.conf',
    'ü.conf'), ``latest``'s stem + '.z' + ``name`` (it starts with all of ``latest`` but '.conf',
    then 'z' > 'c'). None when that is longer than a file name can be."""
    if latest is None:
        return name
    candidate, limit = name, os.fsencode(latest)
    for _attempt in range(len(limit) + 1):
        if os.fsencode(candidate) > limit:
            break
        candidate = "z" + candidate
    else:
        candidate = latest[:-len(".conf")] + ".z" + name
    return candidate if len(os.fsencode(candidate)) <= NAME_MAX else None


def outranking_path(default_path, keys, assignments, owned):
    """``default_path``, renamed to sort after every foreign sysctl.d file that sets one of
    ``keys`` (under any of its kernel names, or by a glob, or unsets it with '-key') to anything
    but 1; and those files. The path is None when no file name can sort after them."""
    paths = managed_paths(keys)
    later = set(a.order_name for a in assignments
                if a.order_name and a.file not in owned and _sets_other_than_1(a, paths))
    directory, name = os.path.split(default_path)
    latest = max(later, key=os.fsencode) if later else None
    name = name_after(name, latest)
    return (os.path.join(directory, name) if name else None), sorted(set(
        a.file for a in assignments if a.order_name in later and a.file not in owned))


def _comment_out(root, path, keys):
    """The text of ``path`` with every line that sets one of ``keys`` commented out."""
    text = read_text(root, path)
    if text is None:
        return None
    paths = managed_paths(keys)
    out = []
    for raw in text.splitlines(True):
        found = sysctl_boot.parse_sysctl_text(raw, path)[0]
        if found and not found[0].is_exclusion and not found[0].is_glob and _sets_other_than_1(found[0], paths):
            out.append("# disabled by podnet.doctor (Kubernetes needs it at 1): " + raw.lstrip())
        else:
            out.append(raw)
    return "".join(out)


def plan_fix(root="/", areas=("ip_forward", "bridge_netfilter"), ip_families=("ipv4",),
             sysctl_file=prereq_checks.DEFAULT_SYSCTL_FILE, modules_file=prereq_checks.DEFAULT_MODULES_FILE,
             on_override="outrank", module="br_netfilter"):
    owned = owned_files(root)
    # The drop-in holds ``keys`` (this run's areas and what it held before); this run
    # resolves overrides and sets runtime values for its own areas' keys only.
    keys = wanted_keys(areas, ip_families, held_keys(root, owned))
    area_keys = wanted_keys(areas, ip_families)
    plan = {"keys": keys, "files": [], "remove": [], "modprobe": None, "runtime": {},
            "unresolved": [], "blockers": [], "outranks": []}
    loaded = sysctl_boot.load_boot_assignments(root)

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

    if keys:
        target, plan["outranks"] = outranking_path(sysctl_file, keys, loaded["systemd"] + loaded["procps"], owned)
        if target is None:
            target = sysctl_file
            plan["unresolved"].append(
                "no file name sorts after %s and fits in %d bytes: %s stays overridden at boot; "
                "remove or rename those files" % (", ".join(plan["outranks"]), NAME_MAX, ", ".join(keys)))
        plan["files"].append({"path": target, "mode": 0o644, "before": read_text(root, target),
                              "after": sysctl_file_body(keys)})
        plan["remove"] = [{"path": path, "before": read_text(root, path)} for path in owned if path != target]
        plan["sysctl_file"] = target
        plan_overrides(plan, root, area_keys, loaded, owned, on_override)

    for key in area_keys:
        now = prereq_checks.runtime_value(root, key)
        if now != "1":
            plan["runtime"][key] = now
    return plan


def plan_overrides(plan, root, keys, loaded, owned, on_override):
    """With ``on_override: comment``, comment out every foreign line under /etc that wins without
    us; then resolve the layout the plan leaves, as both tools will read it, and report every key
    that still does not end at 1 as unresolved (file and line)."""
    if on_override == "comment":
        for key in keys:
            path = sysctl_boot.key_to_path(key)
            for tool in sysctl_boot.TOOLS:
                foreign = [a for a in loaded[tool] if a.file not in owned]
                winner = sysctl_boot.resolve(foreign, path, sysctl_boot.KERNEL_DEFAULTS.get(path, "0"), tool)
                if winner["value"] != "1" and (winner["file"] or "").startswith(EDITABLE_PREFIXES):
                    plan_comment(plan, root, winner["file"], keys)
    overlay = dict((e["path"], None) for e in plan["remove"])
    overlay.update((e["path"], e["after"]) for e in plan["files"] if "/sysctl.d/" in e["path"] or
                   e["path"] == "/" + sysctl_boot.SYSCTL_CONF)
    after = sysctl_boot.load_boot_assignments(root, overlay)
    for key in keys:
        resolved = sysctl_boot.effective_boot_value(key, root, loaded=after)
        for tool, label in (("systemd", "systemd-sysctl at boot"), ("procps", "sysctl --system")):
            if resolved[tool]["value"] == "1":
                continue
            text = "%s=%s still wins for %s" % (key, sysctl_boot.describe_source(resolved[tool]), label)
            if resolved[tool]["file"] == "/" + sysctl_boot.SYSCTL_CONF and tool == "procps":
                text += " (it reads /etc/sysctl.conf last)"
                if on_override != "comment":
                    text += "; set podnet_sysctl_override: comment to comment that line out (a backup is kept)"
            plan["unresolved"].append(text)


def plan_comment(plan, root, path, keys):
    for entry in plan["files"]:
        if entry["path"] == path:
            return
    after = _comment_out(root, path, keys)
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
        try:
            with open(proc_path, "w") as handle:
                handle.write("1\n")
        except (IOError, OSError) as exc:
            raise FixError("cannot set %s=1: %s (read-only /proc/sys: an unprivileged container, "
                           "or not root)" % (key, exc))
    return done


def diff_entries(plan):
    """Ansible diff list: one entry per changed or removed file."""
    diffs = [{"before_header": e["path"], "after_header": e["path"],
              "before": e["before"] or "", "after": e["after"]} for e in changed_files(plan)]
    diffs += [{"before_header": e["path"], "after_header": "%s (removed)" % e["path"],
               "before": e["before"] or "", "after": ""} for e in plan["remove"]]
    diffs += [{"before_header": "/proc/sys/%s" % sysctl_boot.key_to_path(k),
               "after_header": "/proc/sys/%s" % sysctl_boot.key_to_path(k),
               "before": "%s\n" % (v if v is not None else "(absent)"), "after": "1\n"}
              for k, v in sorted(plan["runtime"].items())]
    return diffs
