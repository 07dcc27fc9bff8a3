# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names for the files the collection owns in directories read in name order (sysctl.d, NetworkManager
conf.d, networkd.conf.d, .network and .link directories): a name that sorts after, or before, a foreign
file, the way those tools sort (strcmp of the bytes). Kept apart from the fixers so that a check rendering
its fix (``node_info``) does not ship a fixer's apply code."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

# The longest file name Linux takes (NAME_MAX, bytes).
NAME_MAX = 255
# Prefixes tried, in order, for a file that must sort before a foreign one.
EARLY_PREFIXES = ("00-", "0-", "0", "-")


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


def name_before(first, stem, suffix):
    """A file name for ``stem`` that sorts before ``first`` (bytes), or None."""
    for prefix in EARLY_PREFIXES:
        name = prefix + stem + suffix
        if name[0].isalnum() and (first is None or os.fsencode(name) < os.fsencode(first)):
            return name
    return None
