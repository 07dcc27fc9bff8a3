# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which of the network managers' services run now, and whether they started before a file changed
(so have not read it): from systemd's cgroup tree, else one scan of /proc; no daemon is asked."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import host_path, read_text


# cgroup mounts that hold systemd's tree: v2 (unified), hybrid's unified, v1's named hierarchy
CGROUP_MOUNTS = ("sys/fs/cgroup", "sys/fs/cgroup/unified", "sys/fs/cgroup/systemd")


# comm of each daemon (cut at 15 characters by the kernel), for a node without systemd's cgroups
SERVICE_COMMANDS = {"NetworkManager.service": "NetworkManager", "systemd-networkd.service": "systemd-network",
                    "systemd-udevd.service": "systemd-udevd"}


def system_slice(root):
    """The node path of systemd's ``system.slice`` cgroup, or None: PID 1's cgroup (``/`` or
    ``/init.scope`` on a host, the container's own path in a container without a cgroup
    namespace) under the first mount that has it."""
    base = "/"
    for line in (read_text(root, "/proc/1/cgroup") or "").splitlines():
        fields = line.split(":", 2)
        if len(fields) == 3 and (fields[0] == "0" or fields[1] == "name=systemd"):
            base = fields[2]
            break
    if base.endswith("/init.scope"):
        base = base[:-len("/init.scope")]
    for mount in CGROUP_MOUNTS:
        path = "/%s%s/system.slice" % (mount, base.rstrip("/"))
        if os.path.isdir(host_path(root, path)):
            return path
    return None


def service_pids(root, units=tuple(SERVICE_COMMANDS)):
    """{unit: pid} of the services running now: one read of each unit's ``cgroup.procs`` where
    systemd's cgroup tree is found, else one scan of /proc by command name."""
    slice_path = system_slice(root)
    if slice_path:
        found = {}
        for unit in units:
            procs = (read_text(root, "%s/%s/cgroup.procs" % (slice_path, unit)) or "").split()
            if procs:
                found[unit] = procs[0]
        return found
    running = running_commands(root)
    return dict((unit, running[SERVICE_COMMANDS[unit]]) for unit in units if SERVICE_COMMANDS[unit] in running)


def running_commands(root):
    """{command name: pid} of every process (``/proc/*/comm``)."""
    found = {}
    try:
        pids = [e for e in os.listdir(os.path.join(root, "proc")) if e.isdigit()]
    except OSError:
        return found
    for pid in pids:
        comm = (read_text(root, "/proc/%s/comm" % pid) or "").strip()  # "": it ended while we looked
        if comm:
            found.setdefault(comm, pid)
    return found


def process_start(root, pid):
    """When process ``pid`` started (seconds since the epoch), from /proc/<pid>/stat's start time
    (clock ticks since boot) and /proc/stat's btime; None when unknown."""
    try:
        btime = int(re.search(r"^btime (\d+)", read_text(root, "/proc/stat") or "", re.M).group(1))
        stat = read_text(root, "/proc/%s/stat" % pid) or ""
        return btime + int(stat.rsplit(")", 1)[1].split()[19]) / float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, IndexError, ValueError, OSError):
        return None


def _changed_after(root, paths, since):
    return sorted(set(p for p in paths if os.path.exists(host_path(root, p))
                      and os.path.getmtime(host_path(root, p)) > since))


def newer_than_process(root, pid, paths):
    """Those of ``paths`` changed after process ``pid`` started (it has not read them); [] when unknown."""
    started = process_start(root, pid)
    return [] if started is None else _changed_after(root, paths, started)


# A reload re-reads the files but leaves no trace a reader can trust: NetworkManager's Reload
# (nm-manager.c _reload_auth_cb -> nm-config.c nm_config_reload) writes no state file, and networkd's
# (networkctl reload) neither. So the fixer records each reload it ran, after it succeeded, here (tmpfs:
# gone at a reboot, when every daemon starts anew and reads everything).
RELOAD_MARKER_DIR = "/run/podnet-doctor/reloaded"


def reload_marker(unit):
    return "%s/%s" % (RELOAD_MARKER_DIR, unit)


def record_reload(root, unit):
    """Note that ``unit`` re-read its files now (called after its reload command succeeded)."""
    path = host_path(root, reload_marker(unit))
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path), 0o755)
    with open(path, "w"):
        pass
    os.utime(path, None)


def not_reread(root, pid, unit, paths):
    """Those of ``paths`` the running ``unit`` (process ``pid``) has not read: changed after both its
    start and the last reload podnet.doctor recorded. When the start time cannot be read, only a
    recorded reload after the change proves it was read."""
    marker = host_path(root, reload_marker(unit))
    since = [t for t in (process_start(root, pid), os.path.getmtime(marker) if os.path.exists(marker) else None)
             if t is not None]
    return _changed_after(root, paths, max(since) if since else float("-inf"))
