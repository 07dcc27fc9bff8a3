"""One fixer at a time per node: a second one waits, gives up with a clear message, and a
holder killed by SIGKILL does not leave the node locked."""
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils import fix_lock

HOLDER = """
import fcntl, sys, time
handle = open(sys.argv[1], "a+")
fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold(tmp_path, seconds):
    path = tmp_path / fix_lock.LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_fixer_waits_for_the_first(tmp_path):
    holder = hold(tmp_path, 0.5)
    start = time.time()
    with fix_lock.FixLock(str(tmp_path), timeout=10, poll=0.02) as lock:
        assert time.time() - start >= 0.3
        assert lock.waited >= 0.3
    holder.wait()


def test_gives_up_after_the_timeout_naming_the_lock(tmp_path):
    holder = hold(tmp_path, 30)
    try:
        with pytest.raises(fix_lock.LockTimeout) as caught:
            with fix_lock.FixLock(str(tmp_path), timeout=0.3, poll=0.02):
                pass
        assert str(tmp_path / fix_lock.LOCK_FILE) in str(caught.value)
        assert "nothing was changed" in str(caught.value)
    finally:
        holder.kill()
        holder.wait()


def test_a_holder_killed_by_sigkill_releases_the_lock(tmp_path):
    holder = hold(tmp_path, 30)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with fix_lock.FixLock(str(tmp_path), timeout=1, poll=0.02) as lock:
        assert lock.waited < 1
    with open(str(tmp_path / fix_lock.LOCK_FILE)) as handle:
        assert handle.read().strip() == str(os.getpid())
