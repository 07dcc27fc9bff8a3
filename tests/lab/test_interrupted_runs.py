"""A remediate killed with SIGKILL at random points, and two remediate runs at once, on a
node with every fault (a CIS hardening file, runtime sysctls at 0, an nftables default-drop
firewall whose /etc/nftables.conf is a foreign file the fix must edit).

After each kill, every file under /etc that remediation touches is either exactly what it
was before or exactly what an uninterrupted run writes, /etc/nftables.conf still loads, and
a backup is a whole copy; the next run converges and the fix survives a reboot. Two runs at
once end in the state one run leaves: one firewall rule, not two.

The seed of the kill points is printed in every failure: PODNET_KILL_SEED=<n> replays it.
"""
import json
import os
import random
import subprocess
import time

from conftest import REPO, ansible_playbook, node_info
from podnet_lab import faults, fleet as lab_fleet, probes
from podnet_lab.podman import node_exec

KILLS = int(os.environ.get("PODNET_KILLS", "8"))  # kills that must land in a running fixer
KILL_WINDOW = 0.3  # seconds after the fixer starts; a fixer run takes about that long
FIXERS = ("kernel_prereqs", "overlay_firewall")
# Everything remediation may write under /etc (ours and the foreign file it edits).
LIST_FILES = r"""
import json, os, sys
found = {}
for top in ("/etc/sysctl.d", "/etc/modules-load.d", "/etc/nftables.d", "/etc/nftables.conf"):
    paths = [top] if os.path.isfile(top) else [os.path.join(d, n) for d, _s, ns in os.walk(top) for n in ns]
    for path in paths:
        with open(path, "rb") as handle:
            found[path] = handle.read().decode("utf-8", "replace")
for name in os.listdir("/etc"):
    if name.startswith("nftables.conf.") and name.endswith("~"):
        with open("/etc/" + name) as handle:
            found["/etc/" + name] = handle.read()
json.dump(found, sys.stdout)
"""


def etc_files(node):
    return json.loads(node_exec(node, ["python3", "-c", LIST_FILES]).stdout)


def split(files):
    """(effective files, backups, temp files)."""
    backups = dict((p, c) for p, c in files.items() if p.endswith("~"))
    temps = dict((p, c) for p, c in files.items() if os.path.basename(p).startswith(".podnet-"))
    real = dict((p, c) for p, c in files.items() if p not in backups and p not in temps)
    return real, backups, temps


def break_node(node):
    faults.forget_podnet_doctor(node)
    node_exec(node, ["sh", "-c", "rm -f /etc/nftables.conf.*~ /etc/sysctl.d/.podnet-* /etc/modules-load.d/.podnet-* "
                                 "/etc/nftables.d/.podnet-* /etc/.podnet-*"])
    faults.unblock_overlay(node, "nftables")
    faults.block_overlay(node, "nftables")
    faults.drop_hardening_file(node, {"net.ipv4.ip_forward": "0"})
    faults.set_sysctl_runtime(node, "net.ipv4.ip_forward", "0")
    faults.set_sysctl_runtime(node, "net.bridge.bridge-nf-call-iptables", "0")


def start_remediate(inventory, host):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_PIPELINING="0")  # the module runs as AnsiballZ_<name>.py: the killer can find it
    return subprocess.Popen(["ansible-playbook", "-i", inventory, "podnet.doctor.remediate", "-l", host],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_fixer_after(node, fixer, delay):
    """Inside the node: wait for the fixer's process, let it run ``delay`` s, SIGKILL it.
    Prints whether it was still there to kill."""
    # "[A]nsiballZ" matches the module's command line but not this script's own
    script = ('for i in $(seq 1 3000); do pgrep -f "[A]nsiballZ_%s" >/dev/null && break; sleep 0.005; done; '
              'sleep %.3f; pkill -9 -f "[A]nsiballZ_%s" && echo killed || echo finished-first' % (fixer, delay, fixer))
    return subprocess.Popen(["podman", "exec", node, "sh", "-c", script], stdout=subprocess.PIPE, text=True)


def restore(node):
    """Leave the node as a fresh boot would: no fault, nothing of ours, no backups."""
    faults.unblock_overlay(node, "nftables")
    faults.forget_podnet_doctor(node)
    faults.remove_file(node, faults.HARDENING_FILE)
    node_exec(node, ["sh", "-c", "rm -f /etc/nftables.conf.*~"])
    lab_fleet.reboot(node)


def nft_config_loads(node):
    return node_exec(node, ["nft", "-c", "-f", "/etc/nftables.conf"], check=False).returncode == 0


def test_sigkill_at_random_points_never_leaves_a_half_written_file(fleet):
    node, host = fleet.node(2), "node2"
    seed = int(os.environ.get("PODNET_KILL_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    try:
        break_node(node)
        before, _b, _t = split(etc_files(node))
        rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", host)
        assert rc == 0, out
        after, backups, _t = split(etc_files(node))
        assert after != before and len(backups) == 1  # the reference run changed files, kept one backup

        landed, attempt = 0, 0
        while landed < KILLS:
            # a kill drawn after the fixer ended proves nothing: draw until KILLS have landed
            assert attempt < 3 * KILLS, "seed %d: only %d of %d kills hit a running fixer" % (seed, landed, attempt)
            attempt += 1
            break_node(node)
            assert split(etc_files(node))[0] == before
            fixer, delay = rng.choice(FIXERS), rng.uniform(0.0, KILL_WINDOW)
            where = "seed %d, kill %d: %s after %.3fs" % (seed, attempt, fixer, delay)
            run = start_remediate(fleet.inventory_path, host)
            killer = kill_fixer_after(node, fixer, delay)
            output = run.communicate(timeout=300)[0]
            killed = killer.communicate(timeout=60)[0].strip() == "killed"
            landed += killed
            assert run.returncode != 0 or not killed, "%s: the run did not notice its fixer died\n%s" % (where, output)

            real, backups, temps = split(etc_files(node))
            for path in sorted(set(real) | set(before) | set(after)):
                assert real.get(path) in (before.get(path), after.get(path)), \
                    "%s: %s is neither the old nor the new file:\n%r" % (where, path, real.get(path))
            for path, content in backups.items():
                assert content == before["/etc/nftables.conf"], "%s: backup %s is not a whole copy" % (where, path)
            assert all(os.path.basename(p).startswith(".podnet-") for p in temps), where  # inert: hidden, no suffix
            assert nft_config_loads(node), "%s: /etc/nftables.conf no longer loads" % where

        # the next run converges to what an uninterrupted run leaves, and it survives a reboot
        rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", host)
        assert rc == 0, "seed %d: %s" % (seed, out)
        assert split(etc_files(node))[0] == after, "seed %d" % seed
        lab_fleet.reboot(node)
        checks = node_info(fleet.inventory_path, host)
        failing = [c for c in checks.values() if c["status"] not in ("pass", "skip")]
        assert not failing, "seed %d: %s" % (seed, failing)
        assert probes.overlay_ping(fleet, 1, 2).loss == 0
    finally:
        restore(node)


def test_two_remediate_runs_at_once_end_in_the_state_of_one(fleet):
    node, host = fleet.node(2), "node2"
    try:
        break_node(node)
        runs = [start_remediate(fleet.inventory_path, host), start_remediate(fleet.inventory_path, host)]
        outputs = [run.communicate(timeout=300)[0] for run in runs]
        for run, output in zip(runs, outputs):
            assert run.returncode == 0, output

        ruleset = node_exec(node, ["nft", "list", "ruleset"]).stdout
        ours = [line for line in ruleset.splitlines() if "udp dport 8472" in line and 'comment "podnet.doctor"' in line]
        assert len(ours) == 1, "expected one opening, found:\n%s" % "\n".join(ours)
        real, backups, temps = split(etc_files(node))
        assert real["/etc/nftables.conf"].count('include "/etc/nftables.d/podnet-doctor.nft"') == 1
        assert len(backups) == 1 and not temps
        assert nft_config_loads(node)

        rc, out = ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-l", host)
        assert rc == 0 and "changed=0" in out, out
        assert probes.overlay_ping(fleet, 1, 2).loss == 0
    finally:
        restore(node)
