"""Thin, argument-list-only wrappers around the podman CLI."""
import os
import subprocess

LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTAINERS_CONF = os.path.join(LAB_DIR, "containers.conf")


class LabError(RuntimeError):
    """A lab operation failed; the message says what and how to fix it."""


def lab_env():
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", CONTAINERS_CONF)
    env["LC_ALL"] = "C"
    return env


def run(args, check=True, input=None, timeout=300):
    """Run ``podman <args>``; return CompletedProcess with text output."""
    proc = subprocess.run(
        ["podman"] + list(args), input=input, capture_output=True, text=True,
        env=lab_env(), timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise LabError("podman %s failed (rc=%d): %s" % (
            " ".join(args), proc.returncode, (proc.stderr or proc.stdout).strip()))
    return proc


def node_exec(node, command, check=True, timeout=120, input=None):
    """Run an argument list inside a node container."""
    args = ["exec"] + (["-i"] if input is not None else []) + [node] + list(command)
    return run(args, check=check, timeout=timeout, input=input)


def node_sh(node, script, check=True, timeout=120):
    """Run a POSIX shell script inside a node (lab-internal scripts only, no user input)."""
    return node_exec(node, ["/bin/sh", "-ec", script], check=check, timeout=timeout)
