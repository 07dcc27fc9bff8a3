# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-interface sysctls (``net/ipv4/conf/<if>/rp_filter``, ``net/ipv6/conf/<if>/accept_ra``): the value
now, and the value the sysctl files give an interface at boot or when it appears later.

An interface starts with the values of ``conf/default`` when it is created. systemd-udevd then runs
``systemd-sysctl --prefix=/net/ipv4/conf/<if> ...`` for every new network device (99-systemd.rules), so
every sysctl.d line whose key or glob names it is applied again, also to links a CNI creates long after
boot (``net.ipv4.conf.*.rp_filter = 2`` reaches ``lxc*``). The boot side is resolved with the same engine
as ``ip_forward.boot`` (:mod:`sysctl_boot`), globs included.

Interface names holding dots are written with '/' in sysctl.d keys (``net.ipv4.conf.eth0/100.rp_filter``):
keys are built here as /proc/sys paths and shown with :func:`sysctl_boot.key_to_dotted`.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import sysctl_boot
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import host_path


class UnreadableSysctl(Exception):
    """A /proc/sys file that exists but cannot be read: the check is ``error``, never a guess."""


def conf_path(family, interface, name):
    """The /proc/sys relative path: ``conf_path('ipv4', 'eth0.100', 'rp_filter')``."""
    return "net/%s/conf/%s/%s" % (family, interface, name)


def dotted(path):
    """How a sysctl.d line names ``path`` (dots in an interface name become '/')."""
    return sysctl_boot.key_to_dotted(path)


def runtime(root, path):
    """The live value of ``path`` as text, or None when the kernel has no such variable (no such
    interface, IPv6 disabled). UnreadableSysctl when it exists but cannot be read."""
    full = host_path(root, "proc/sys/" + path)
    try:
        with open(full, "rb") as handle:
            return handle.read().decode("ascii", "replace").strip()
    except (IOError, OSError) as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise UnreadableSysctl("/proc/sys/%s: %s" % (path, exc.strerror or exc))


def interfaces(root, family="ipv4"):
    """The interfaces the kernel has a ``conf`` directory for (``all`` and ``default`` left out)."""
    directory = host_path(root, "proc/sys/net/%s/conf" % family)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(n for n in names if n not in ("all", "default"))


def boot(path, root, loaded, kernel_default, default_path=None):
    """Both tools' value for ``path`` (:func:`sysctl_boot.effective_boot_value`): ``systemd`` (boot, and
    what udev's systemd-sysctl run gives a link created later) and ``procps`` (``sysctl --system``).

    With ``default_path`` (``conf/default``) and no line naming the interface (no key, no glob): at boot the
    interface keeps the kernel's start value when it exists before systemd-sysctl runs, and starts from
    ``conf/default`` as the files set it when udev brings it up later, a race no file records. Where the two
    differ, ``created_later`` holds the second (the caller decides whether the difference matters).
    ``sysctl --system`` creates no interface: with no line naming it, an existing one keeps its value now."""
    resolved = sysctl_boot.effective_boot_value(path, root, kernel_default=kernel_default, loaded=loaded)
    found = dict((tool, _brief(resolved[tool])) for tool in sysctl_boot.TOOLS)
    if default_path is None:
        return found
    start = sysctl_boot.effective_boot_value(default_path, root, kernel_default=kernel_default, loaded=loaded)
    systemd = found["systemd"]
    if systemd["source"] is None and not systemd["error"] and not start["systemd"]["error"] \
            and start["systemd"]["value"] != systemd["value"]:
        later = _brief(start["systemd"])
        later["text"] = "%s (from %s=%s)" % (later["value"], dotted(default_path), later["text"])
        systemd["created_later"] = later
    procps = found["procps"]
    now = runtime(root, path)
    if procps["source"] is None and not procps["error"] and now is not None:
        procps.update(value=now, text="%s (unchanged: no line names it)" % now)
    return found


def _brief(resolved):
    return {"value": resolved["value"], "source": resolved["source"], "line": resolved["line"],
            "error": resolved["error"], "text": sysctl_boot.describe_source(resolved)}
