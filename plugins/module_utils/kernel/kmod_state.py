# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a kernel module there now, and will it be there after the next boot?

Read from a root directory (default ``/``) so unit tests run over fixture trees:

* loaded: listed in /proc/modules, or /sys/module/<name>/initstate is ``live``;
* built-in: listed in /lib/modules/<release>/modules.builtin;
* loadable: listed in /lib/modules/<release>/modules.dep;
* boot: named in a modules-load.d file (systemd-modules-load: /etc, /run,
  /usr/local/lib, /usr/lib, /lib; same-name masking, /dev/null masks);
* blacklisted: ``blacklist <name>`` or ``install <name> /bin/false|true`` in
  modprobe.d, or ``module_blacklist=``/``modprobe.blacklist=`` on the kernel command
  line. systemd-modules-load honours the blacklist, so a listed module still fails.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.podnet.doctor.plugins.module_utils.kernel.sysctl_boot import conf_files
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import read_host_text, read_text

MODULES_LOAD_DIRS = ("etc/modules-load.d", "run/modules-load.d", "usr/local/lib/modules-load.d",
                     "usr/lib/modules-load.d", "lib/modules-load.d")
MODPROBE_DIRS = ("etc/modprobe.d", "run/modprobe.d", "usr/local/lib/modprobe.d",
                 "usr/lib/modprobe.d", "lib/modprobe.d")
MODULE_DIRS = ("lib/modules", "usr/lib/modules")
NO_OP_INSTALLS = ("/bin/false", "/bin/true", "/usr/bin/false", "/usr/bin/true", "false", "true")

# A module whose code is present exposes these; evidence that it is active even
# where /lib/modules is absent (containers) and /sys/module has no entry (a
# built-in module without parameters has none).
FUNCTIONAL_EVIDENCE = {"br_netfilter": "proc/sys/net/bridge/bridge-nf-call-iptables"}


def _canonical(name):
    return name.replace("-", "_")


def kernel_release(root="/"):
    text = read_text(root, "proc/sys/kernel/osrelease")
    return text.strip() if text else os.uname()[2]


def _module_index(root, release, index):
    """Module names listed in modules.builtin / modules.dep, or None if unreadable."""
    for base in MODULE_DIRS:
        text = read_text(root, os.path.join(base, release, index))
        if text is None:
            continue
        names = set()
        for line in text.splitlines():
            path = line.split(":", 1)[0].strip()
            if not path:
                continue
            leaf = os.path.basename(path).split(".ko", 1)[0]
            names.add(_canonical(leaf))
        return names
    return None


def loaded_modules(root="/"):
    text = read_text(root, "proc/modules") or ""
    return set(_canonical(line.split()[0]) for line in text.splitlines() if line.strip())


def modules_load_entries(root="/"):
    """Module names systemd-modules-load will load, with file and line."""
    entries, masked = {}, []
    for entry in conf_files(root, MODULES_LOAD_DIRS):
        if entry["masked"]:
            masked.append(entry["path"])
            continue
        text = read_host_text(entry["real"]) or ""
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            entries.setdefault(_canonical(line), "%s line %d" % (entry["path"], number))
    return entries, masked


def blacklist_entries(root="/"):
    """Module name -> why it will not load (file and line, or kernel command line)."""
    found = {}
    for entry in conf_files(root, MODPROBE_DIRS):
        if entry["masked"]:
            continue
        text = read_host_text(entry["real"]) or ""
        for number, raw in enumerate(text.splitlines(), 1):
            words = raw.split("#", 1)[0].split()
            if len(words) >= 2 and words[0] == "blacklist":
                found.setdefault(_canonical(words[1]), "%s line %d: %s" % (
                    entry["path"], number, raw.strip()))
            elif len(words) >= 3 and words[0] == "install" and words[2] in NO_OP_INSTALLS:
                found.setdefault(_canonical(words[1]), "%s line %d: %s" % (
                    entry["path"], number, raw.strip()))
    cmdline = read_text(root, "proc/cmdline") or ""
    for word in cmdline.split():
        key, _sep, value = word.partition("=")
        if key in ("module_blacklist", "modprobe.blacklist"):
            for name in value.split(","):
                if name:
                    found.setdefault(_canonical(name), "kernel command line: %s" % word)
    return found


def module_state(name, root="/"):
    """Everything known about module ``name``; see the module docstring."""
    name = _canonical(name)
    release = kernel_release(root)
    builtin_index = _module_index(root, release, "modules.builtin")
    dep_index = _module_index(root, release, "modules.dep")
    initstate = read_text(root, "sys/module/%s/initstate" % name)
    evidence = FUNCTIONAL_EVIDENCE.get(name)
    functional = bool(evidence and os.path.exists(os.path.join(root, evidence)))
    load_entries, load_masked = modules_load_entries(root)
    blacklisted = blacklist_entries(root)
    state = {
        "name": name,
        "kernel_release": release,
        "loaded": name in loaded_modules(root) or (initstate or "").strip() == "live",
        "builtin": bool(builtin_index and name in builtin_index),
        "loadable": bool(dep_index and name in dep_index),
        "module_index_found": builtin_index is not None or dep_index is not None,
        "functional": functional,
        "boot_entry": load_entries.get(name),
        "modules_load_masked": load_masked,
        "blacklisted": blacklisted.get(name),
    }
    # A built-in module with no /lib/modules to prove it (e.g. a container): its
    # sysctls exist although it is not in /proc/modules.
    if functional and not state["loaded"] and not state["module_index_found"]:
        state["builtin"] = True
        state["builtin_inferred"] = True
    state["active"] = state["loaded"] or state["builtin"] or functional
    state["loads_at_boot"] = state["builtin"] or bool(
        state["boot_entry"] and not state["blacklisted"])
    return state
