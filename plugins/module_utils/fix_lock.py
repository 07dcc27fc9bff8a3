# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One fixer at a time per node.

Two remediate runs against the same node (two operators, a timer and a person, a retried
CI job) would otherwise both read "port dropped" and both insert the same rule. Each fixer
holds an exclusive ``flock`` on ``/run/podnet-doctor.lock`` from reading the node to the
end of its writes, so the second one plans from what the first one left.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import time

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import LockTimeout

LOCK_FILE = "run/podnet-doctor.lock"


class FixLock(object):
    def __init__(self, root="/", timeout=120, poll=0.1):
        self.path = os.path.join(root, LOCK_FILE)
        self.timeout = timeout
        self.poll = poll
        self.handle = None
        self.waited = 0.0

    def __enter__(self):
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        self.handle = open(self.path, "a+")
        start = time.time()
        while True:
            try:
                fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.time() - start >= self.timeout:
                    self.handle.close()
                    raise LockTimeout(
                        "another podnet.doctor fix has held %s for %ds on this node; let it finish "
                        "(or remove a stuck one) and run again (nothing was changed)" % (self.path, self.timeout))
                time.sleep(self.poll)
        self.waited = time.time() - start
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write("%d\n" % os.getpid())
        self.handle.flush()
        return self

    def __exit__(self, *exc_info):
        # the kernel drops the lock when the process dies, even by SIGKILL
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
        self.handle.close()
        return False


def run_locked(module, fix):
    """``fix(module)`` under the node's fix lock; in check mode, which writes nothing, unlocked.

    Failing to take the lock fails the task before anything is read or written."""
    if module.check_mode:
        return fix(module)
    lock = FixLock(module.params.get("root") or "/")
    try:
        lock.__enter__()
    except LockTimeout as exc:
        module.fail_json(msg=str(exc))
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot take the lock %s: %s; podnet.doctor's fixers must run as root: add "
                             "'become: true' (nothing was changed)" % (lock.path, exc.strerror or exc))
    try:
        return fix(module)
    finally:
        lock.__exit__(None, None, None)
