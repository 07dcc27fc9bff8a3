# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan and apply the ``netmgr.cni_links`` fix: files the collection owns, each named to win where
the manager's order decides, and a reload (never a restart) of the manager that re-reads them.

- NetworkManager: ``/etc/NetworkManager/conf.d/podnet-doctor.conf`` appends (``+=``) the CNI globs
  to ``[keyfile] unmanaged-devices``; named after any /etc conf.d file that sets the key, as later
  files win. ``systemctl reload NetworkManager.service`` re-reads it.
- systemd-networkd: ``/etc/systemd/networkd.conf.d/podnet-doctor.conf`` with both ManageForeign*
  settings off, named after any drop-in that sets them. networkd reads it at its next start only
  (``networkctl reload`` does not re-read networkd.conf, see managers.py), and it is never restarted
  here: while the running networkd configures links and has not read the file, the check fails and
  its fix names the restart (or reboot) left to the user.
- A ``.network`` with ``Unmanaged=yes`` for the CNI globs, when a .network file would configure a
  CNI link, named to sort before that file (the first match wins); ``networkctl reload``.
- A ``.link`` with ``MACAddressPolicy=none`` for the CNI globs, named to sort before the .link that
  rewrites their MAC (the first match wins); ``udevadm control --reload``.
- nm-cloud-setup is never disabled here: the fix names the commands.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.podnet.doctor.plugins.module_utils.dropin_names import name_after, name_before
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import FixError
from ansible_collections.podnet.doctor.plugins.module_utils.network import manager_config, managers, service_state
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import host_path, read_text, write_atomic

HEADER = managers.MARKER + " (podnet.doctor.netmgr_fix); changes here are overwritten."
NM_DIR = "/etc/NetworkManager/conf.d"
NETWORKD_DROPIN_DIR = "/etc/systemd/networkd.conf.d"
NETWORK_DIR = "/etc/systemd/network"
OWNED_NAME = "podnet-doctor.conf"
CNI_STEM = "podnet-doctor-cni"
# What is left when the running networkd has not read the drop-in: remediate never restarts it.
# What is left when the running networkd has not read the drop-in: remediate never restarts it.
# Lab (systemd 252): the restart removes and re-adds networkd's own addresses, and the kernel drops
# every route through a link when its last IPv4 address goes, the CNI's routes too.
NETWORKD_RESTART_STEP = ("at a convenient time, systemctl restart systemd-networkd or reboot the node: networkd reads "
                         "networkd.conf.d only when it starts, and podnet.doctor does not restart it (systemd 252's restart "
                         "removes and re-adds the addresses it configured, and the kernel drops the routes through those "
                         "links with them: restart the CNI agent after it so that it re-adds its routes)")
CLOUD_SETUP_FIX = "systemctl disable --now nm-cloud-setup.timer nm-cloud-setup.service"
# How each manager re-reads our files, never a restart. Only NetworkManager and networkd get a recorded
# reload (service_state.record_reload): udevd checks the .link files' timestamps itself before it handles
# an event, at most every 3 s (udevd.c manager_reload -> udev_builtin_should_reload ->
# link_config_should_reload; v252: the directories' mtimes, which our rename changes; later: per-file stats),
# so a failed ``udevadm control --reload`` costs nothing.
RELOAD_COMMANDS = {"NetworkManager.service": ["systemctl", "reload", "NetworkManager.service"],
                   "systemd-networkd.service": ["networkctl", "reload"],
                   "systemd-udevd.service": ["udevadm", "control", "--reload"]}
RECORDED_RELOADS = ("NetworkManager.service", "systemd-networkd.service")


def _owned(root, path):
    return (read_text(root, path) or "").startswith(managers.MARKER)


def _any_owned(root, paths):
    return any(_owned(root, p) for p in paths)


def _later_setters(root, files, section, keys):
    """Base names of foreign ``files`` that set one of ``keys`` in ``section``."""
    names = []
    for path in files:
        text = read_text(root, path)
        if text is None or text.startswith(managers.MARKER):
            continue
        if any(s == section and k in keys for s, k, _op, _v, _n in manager_config.parse_ini(text)):
            names.append(os.path.basename(path))
    return names


def _stale(root, directory, keep, suffix):
    """Our files in ``directory`` other than ``keep`` (an earlier run's name)."""
    base = host_path(root, directory)
    names = sorted(os.listdir(base)) if os.path.isdir(base) else []
    return ["%s/%s" % (directory, n) for n in names
            if n.endswith(suffix) and n != keep and (CNI_STEM in n or n.endswith(OWNED_NAME))
            and _owned(root, "%s/%s" % (directory, n))]


def _add(plan, root, path, body, reload_unit):
    before = read_text(root, path)
    plan["files"].append({"path": path, "before": before, "after": body, "reload": reload_unit})


def plan_fix(root, facts):
    """What to write for ``facts`` (managers.gather): {"files": [...], "remove": [...],
    "unresolved": [...], "notes": [...]}. Nothing is written here."""
    globs = facts["cni_link_globs"]
    plan = {"files": [], "remove": [], "unresolved": [], "notes": [], "reloads": [], "kept": list(facts.get("kept_links", []))}
    nm = facts["networkmanager"]
    if nm.get("unread"):
        plan["reloads"].append("NetworkManager.service")  # an earlier run wrote it and its reload failed
    if facts["networkd"].get("unread_networks"):
        plan["reloads"].append("systemd-networkd.service")
    # with a file of ours in place the links it covers pass: it is re-planned (and so kept up to date, a
    # kept link left out) from what the foreign files alone would do
    links = facts.get("judged_links", [])
    if nm.get("manages") or (("manages" in nm) and _any_owned(root, manager_config.conf_names(root, NM_DIR.lstrip("/")))
                             and managers.nm_managed_links(root, links, without_ours=True)):
        setters = _later_setters(root, manager_config.conf_names(root, NM_DIR.lstrip("/")), "keyfile",
                                 ("unmanaged-devices",))
        name = name_after(OWNED_NAME, max(setters, key=os.fsencode) if setters else None)
        # NM's interface-name: globs know * and ? only; a kept link is an except: of the literal name, unless
        # the node's own list already unmanages it: an except: beats every positive spec of the merged list
        # (nm-core-utils.c nm_match_spec_device), so it would hand the admin's link back to NetworkManager
        foreign = [spec for spec, _f, _n in managers.nm_unmanaged_specs(root, without_ours=True)[0]]
        specs = ["interface-name:%s" % g for g in globs] + ["except:interface-name:=%s" % n for n, _w in plan["kept"]
                                                            if not managers.nm_list_matches(foreign, n, None)]
        body = "%s\n[keyfile]\nunmanaged-devices+=%s\n" % (HEADER, ";".join(specs))
        _add(plan, root, "%s/%s" % (NM_DIR, name), body, "NetworkManager.service" if nm["running"] else None)
        plan["remove"] += _stale(root, NM_DIR, name, ".conf")
    if nm["cloud_setup"]:
        plan["unresolved"].append("nm-cloud-setup is enabled and left so (it is not this run's to turn off): %s"
                                  % CLOUD_SETUP_FIX)
    nd = facts["networkd"]
    settings = nd.get("settings", {})
    configures = nd.get("configures", []) + nd.get("configures_at_boot", []) + nd.get("cni_links", [])
    if configures and any(s["value"] for s in settings.values()):
        setters = _later_setters(root, manager_config.config_files(root, managers.NETWORKD_DROPIN_DIRS, ".conf"), "Network",
                                 ("ManageForeignRoutes", "ManageForeignRoutingPolicyRules"))
        name = name_after(OWNED_NAME, max(setters, key=os.fsencode) if setters else None)
        body = "%s\n[Network]\nManageForeignRoutes=no\nManageForeignRoutingPolicyRules=no\n" % HEADER
        _add(plan, root, "%s/%s" % (NETWORKD_DROPIN_DIR, name), body, None)
        plan["remove"] += _stale(root, NETWORKD_DROPIN_DIR, name, ".conf")
        if nd["running"] and nd.get("configures"):
            plan["notes"].append(NETWORKD_RESTART_STEP)
    elif managers.networkd_restart_pending(nd):
        plan["notes"].append(NETWORKD_RESTART_STEP)
    # systemd's globs without the kept links (their exact complement: no '!' entries, whose meaning
    # changed in systemd 246, net-condition.c net_condition_test_strv)
    network_globs = facts.get("network_globs", globs)
    network_takers = [p for _n, p in nd.get("cni_links", [])]
    if not network_takers and "cni_links" in nd and _any_owned(root, manager_config.config_files(root, managers.NETWORK_DIRS, ".network")):
        foreign = [p for p in managers.parsed_networks(root) if not p[1].startswith(managers.MARKER)]
        network_takers = [p for _n, p in managers.networkd_managed_links(foreign, links)]
    if network_takers:
        _early_file(plan, root, network_takers, ".network",
                    "[Match]\nName=%s\n\n[Link]\nUnmanaged=yes\n" % " ".join(network_globs),
                    "systemd-networkd.service" if nd["running"] else None)
    udev = facts["udev"]
    link_takers = [r[1] for r in udev.get("mac_rewrites", [])]
    if not link_takers and "mac_rewrites" in udev and _any_owned(root, managers.link_files(root)):
        link_takers = [r[1] for r in managers.udev_mac_rewrites(root, links, without_ours=True)]
    if link_takers:
        _early_file(plan, root, link_takers, ".link",
                    "[Match]\nOriginalName=%s\n\n[Link]\nMACAddressPolicy=none\n" % " ".join(network_globs),
                    "systemd-udevd.service" if udev.get("running") else None)
    return plan


def _early_file(plan, root, foreign, suffix, body, reload_unit):
    names = [os.path.basename(p) for p in foreign if not _owned(root, p)]
    first = min(names, key=os.fsencode) if names else None
    name = name_before(first, CNI_STEM, suffix)
    if name is None:
        plan["unresolved"].append("no file name sorts before %s; rename it to sort after %s%s" % (first, CNI_STEM, suffix))
        return
    _add(plan, root, "%s/%s" % (NETWORK_DIR, name), "%s\n%s" % (HEADER, body), reload_unit)
    plan["remove"] += _stale(root, NETWORK_DIR, name, suffix)


def changed_files(plan):
    return [f for f in plan["files"] if f["before"] != f["after"]]


def plan_reloads(plan):
    """The units to reload, once each: those whose file changes, and those that have not read ours."""
    units = []
    for unit in [f["reload"] for f in changed_files(plan)] + plan["reloads"]:
        if unit and unit not in units:
            units.append(unit)
    return units


def plan_changes(plan):
    return bool(changed_files(plan) or plan["remove"] or plan["reloads"])


def fix_text(plan):
    """The check's ``fix``: the files the plan changes and its commands, as the fixer would run them
    (a file of ours already as planned is re-planned, not rewritten: it is not named)."""
    parts = []
    changed = changed_files(plan)
    for entry in changed:
        parts.append("write %s: %s" % (entry["path"], " | ".join(entry["after"].splitlines()[1:])))
        if entry["reload"]:
            parts.append("then %s" % " ".join(RELOAD_COMMANDS[entry["reload"]]))
    parts += ["remove %s (an earlier run's copy)" % path for path in plan["remove"]]
    parts += ["%s (it has not read our file)" % " ".join(RELOAD_COMMANDS[u]) for u in plan["reloads"]
              if u not in [f["reload"] for f in changed]]
    if changed or plan["remove"] or plan["reloads"]:
        parts.append("(podnet.doctor.remediate does this)")
    return "; ".join(parts + plan["unresolved"] + plan["notes"])


def apply_fix(plan, root="/", run_command=None, mover=None):
    """Write the owned files, remove stale copies, then reload each manager once, recording each
    reload that succeeded (a failed one is redone by the next run, and the check fails until then)."""
    reloads = plan_reloads(plan)
    for entry in changed_files(plan):
        write_atomic(host_path(root, entry["path"]), entry["after"], 0o644, mover)
    for path in plan["remove"]:
        os.unlink(host_path(root, path))
    done = []
    for unit in reloads:
        if run_command is None:
            continue
        argv = RELOAD_COMMANDS[unit]
        rc, out, err = run_command(argv)
        if rc != 0:
            raise FixError("%s failed (rc=%d): %s (the files were written; the next run reloads it again)"
                           % (" ".join(argv), rc, (err or out).strip()))
        if unit in RECORDED_RELOADS:
            service_state.record_reload(root, unit)
        done.append(" ".join(argv))
    return {"reloaded": done, "warnings": list(plan["notes"])}


def diff_entries(plan):
    entries = [{"before_header": e["path"], "after_header": e["path"], "before": e["before"] or "",
                "after": e["after"]} for e in changed_files(plan)]
    entries += [{"before_header": p, "after_header": p + " (removed)", "before": "", "after": ""} for p in plan["remove"]]
    return entries
