# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files of the node under a root directory (``/`` on a node, a fixture tree in the tests): read
them, and write them atomically. Every check reads the node through these, so a unit test can hand
any of them a fake root."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile
import time


def host_path(root, path):
    """Where the node's absolute ``path`` is under ``root``."""
    return os.path.join(root, path.lstrip("/"))


def resolve_link(root, path, depth=0):
    """The node's absolute ``path`` with its symlinks followed inside ``root`` (an absolute target is the
    node's path, not the controller's); after 20 links it stops at the link it reached."""
    full = host_path(root, path)
    if depth > 20 or not os.path.islink(full):
        return path
    target = os.readlink(full)
    if not target.startswith("/"):
        target = os.path.normpath(os.path.join(os.path.dirname(path), target))
    return resolve_link(root, target, depth + 1)


def read_text(root, path):
    """The text of the node's ``path`` (undecodable bytes kept as surrogates), or None when it
    cannot be read (missing, a directory, no permission)."""
    return read_host_text(host_path(root, path))


def read_host_text(path):
    """:func:`read_text` for a path already mapped under the root (as the sysctl and modules-load
    file lists hold them; relative when the root is)."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "surrogateescape")
    except (IOError, OSError):
        return None


TEMP_PREFIX = ".podnet-"


# A run holds its temp file for milliseconds; one older than this was left by a killed run.
STALE_TEMP_SECONDS = 600


def remove_stale_temp_files(directory, now=None):
    """Remove ``.podnet-*`` temp files a killed run left in ``directory`` (inert: hidden and
    without a .conf/.nft suffix, so no tool reads them, but litter under /etc all the same).
    Young ones may belong to a run in progress and are left alone. Returns what was removed."""
    now = time.time() if now is None else now
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        path = os.path.join(directory, name)
        if not name.startswith(TEMP_PREFIX) or not os.path.isfile(path) or os.path.islink(path):
            continue
        try:
            if now - os.lstat(path).st_mtime > STALE_TEMP_SECONDS:
                os.unlink(path)
                removed.append(path)
        except OSError:
            continue  # another run removed it first
    return removed


def write_atomic(path, content, mode=None, mover=None):
    """Write via a temp file in the same directory, fsync, then rename over ``path``.

    Killed at any point, ``path`` is either the old file or the new one, never part of
    either; at worst a ``.podnet-*`` temp file stays, which the next write removes."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    remove_stale_temp_files(directory)
    if mode is None and os.path.exists(path):
        mode = os.stat(path).st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode if mode is not None else 0o644)
        if mover is not None:
            mover(tmp, path)
        else:
            os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
