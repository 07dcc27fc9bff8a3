# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One sysctl a fixer wants: the value it writes and the test a value must pass.

A fix does not always want one exact value. ``net.ipv4.ip_forward`` must be 1, but
``net.ipv4.ip_local_reserved_ports`` has to *hold* the NodePort range and the ports the node
already reserves (a write replaces the whole list), in any list that does. So a
wanted setting is three things: the ``value`` our drop-in and the runtime write carry, the
``acceptable`` test applied to what the kernel stores, and ``store``: how the kernel turns a
written text into that stored value (``sysctl_boot.kernel_value`` for integer sysctls, a
parser for lists and vectors), or None when it refuses the write and keeps the old value.
``store(path, text, previous)`` gets the previous stored value because some writes only change
part of it (one number written to ``ip_local_port_range`` sets its low end only).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import sysctl_boot
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import read_text

# The first line of every sysctl.d drop-in the kernel fixer writes (prereq_fix): how a check tells our
# drop-in (whatever name it was given to sort last) from a foreign file.
MARKER = "# Managed by podnet.doctor"


def is_owned(root, path):
    """Is the file at node path ``path`` a drop-in the kernel fixer wrote (first line is the marker)?"""
    return (read_text(root, path) or "").startswith(MARKER)


def integer_store(path, text, previous=None):
    """What the kernel stores for an integer sysctl (None: refused)."""
    return sysctl_boot.kernel_value(path, text)


class WantedSysctl(object):
    """``key`` (dotted), the ``value`` to write, ``acceptable(stored) -> bool``, ``need`` (what the
    cluster needs, in words: "it at 1"), ``kernel_default`` (the value with no file setting it)
    and ``store`` (see the module docstring). A ``key`` may be a glob (``net.ipv4.conf.lxc*.rp_filter``):
    the drop-in carries it as written so it reaches links created later, and ``probes`` names the
    concrete /proc/sys paths it stands for (existing links and names links will get), which the
    outranking and the boot resolution test one by one; the runtime write goes to the existing ones.
    ``written_for``: (area, option, value) when the test depends on a run option that runs for other areas may
    not share (the rp_filter area's ``cni``); the drop-in records it above the line (see prereq_fix)."""

    __slots__ = ("key", "value", "acceptable", "need", "kernel_default", "store", "probes", "written_for")

    def __init__(self, key, value, acceptable, need, kernel_default=None, store=integer_store, probes=None):
        self.key = key
        self.value = value
        self.acceptable = acceptable
        self.need = need
        path = sysctl_boot.key_to_path(key)
        self.kernel_default = sysctl_boot.KERNEL_DEFAULTS.get(path, "0") if kernel_default is None else kernel_default
        self.store = store
        self.probes = tuple(probes) if probes else (path,)
        self.written_for = None

    @property
    def is_glob(self):
        return bool(sysctl_boot.GLOB_CHARS.search(self.path))

    @property
    def path(self):
        return sysctl_boot.key_to_path(self.key)

    def accepts(self, stored):
        """Is ``stored`` (a value as the kernel holds it; None: absent or undecided) good enough?"""
        return stored is not None and bool(self.acceptable(stored))

    def accepts_written(self, path, text, previous=None):
        """Does writing ``text`` to ``path`` leave an acceptable value? A refused write keeps
        ``previous`` (None: unknown, so not acceptable). Raises Undecided where the kernel's
        reading of the text is not modelled."""
        stored = self.store(path, text, previous)
        return self.accepts(previous if stored is None else stored)

    def __repr__(self):
        return "WantedSysctl(%s = %s)" % (self.key, self.value)


def exactly(key, value="1", probes=None, kernel_default=None):
    """An integer sysctl that must be ``value`` (forwarding, bridge netfilter: 1)."""
    return WantedSysctl(key, value, lambda stored: stored == value, "it at %s" % value, probes=probes,
                        kernel_default=kernel_default)


def one_of(key, value, acceptable, kernel_default=None):
    """An integer sysctl that may be any of ``acceptable``; ``value`` is written (Calico's rp_filter: 0 or 1)."""
    return WantedSysctl(key, value, lambda stored: stored in acceptable, "it in {%s}" % ", ".join(acceptable),
                        kernel_default=kernel_default)


def held(key, value, store=integer_store):
    """An entry our drop-in already holds for an area this run does not fix: kept as written,
    acceptable when the kernel stores what it stores for that text."""
    path = sysctl_boot.key_to_path(key)
    try:
        want = store(path, value, None)
    except sysctl_boot.Undecided:
        want = None
    return WantedSysctl(key, value, lambda stored: want is not None and stored == want, "it at %s" % value,
                        store=store)
