"""Differential test of ports.nodeport_reserved's boot model: systemd-sysctl, sysctl --system and
the kernel on a lab node are the oracle.

Each seeded layout puts ip_local_port_range / ip_local_reserved_ports lines (valid, refused,
partial, hex and octal, slash keys, '-key' lines, masks, /run, /etc/sysctl.conf) into sysctl
files on the node. The node's two values are reset to a new namespace's defaults, each tool runs
(restricted to these two keys: the lab nodes share the host kernel, not its namespaces) and /proc
is read. port_ranges must predict both values from a mirror of the same files on this host. Then
the kernel fixer (area ports) plans on the mirror, its files go to the node, and both tools must
leave a list that covers the NodePort range and keeps every port either tool reserved before
(unless the plan said what it could not resolve).

Three generations (issue 16): one mirrored node per release (bullseye, bookworm, trixie:
systemd 247/252/257, procps 3.3/4.0), layout i on the i-th of them (``image.matrix_releases``), so
the layouts are spread over the releases, not tripled; the score line is printed per release.

Replay or vary: PODNET_FUZZ_SEED (first seed), PODNET_FUZZ_LAYOUTS (how many).
"""
import contextlib
import os
import random
import shutil
import subprocess

import pytest

from podnet_lab import image, sysctl_layouts
from podnet_lab.podman import lab_env, node_sh

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import port_ranges, prereq_fix, sysctl_boot

FIRST_SEED = int(os.environ.get("PODNET_FUZZ_SEED", "1400"))
LAYOUTS = int(os.environ.get("PODNET_FUZZ_LAYOUTS", "60"))
ORIGINAL = "/root/podnet-ports-original.tar"
DIRS = ("etc/sysctl.d", "usr/lib/sysctl.d", "run/sysctl.d")
NAMES = ("10-tuning.conf", "50-app.conf", "60-wide.conf", "99-zz-hardening.conf", "zz-late.conf")
RANGES = ("1024 65535", "10000 65000", "32000 60999", "32768 60999", "40000 50000", "31000", "0x7d00 0xea60",
          "030000 0100000", "32000\t60999", "40001 40000", "1023 2000", "40000 70000", "3000,4000", "30000 32767 9",
          "3000 4000x", "")
RESERVED = ("30000-32767", "40000", "30000-32767,40000", "30000, 40000", "", "0x7530-0x7fff", "32000-32767",
            "70000", "5-", "1,2-4,10-10", "29000-33000", "40000-30000", "30000-32767\t", "45000,30000-31000")
KEYS = {"range": ("net.ipv4.ip_local_port_range", "net/ipv4/ip_local_port_range"),
        "reserved": ("net.ipv4.ip_local_reserved_ports", "net/ipv4/ip_local_reserved_ports")}
RESTORE = ("rm -rf /etc/sysctl.d /run/sysctl.d /usr/lib/sysctl.d /etc/sysctl.conf; rm -f /etc/sysctl.conf.*~; "
           "tar xf %s -C /; mkdir -p /run/sysctl.d" % ORIGINAL)
ORACLE = r"""
reset() { echo "32768 60999" > /proc/sys/net/ipv4/ip_local_port_range; echo > /proc/sys/net/ipv4/ip_local_reserved_ports; }
values() { echo "$1|$(cat /proc/sys/net/ipv4/ip_local_port_range)|$(cat /proc/sys/net/ipv4/ip_local_reserved_ports)"; }
reset; /lib/systemd/systemd-sysctl --prefix=/net/ipv4/ip_local_port_range \
    --prefix=/net/ipv4/ip_local_reserved_ports >/dev/null 2>&1 || true; values systemd
reset; sysctl -q -r '^-?[[:space:]]*/?net[./]ipv4[./]ip_local_' --system >/dev/null 2>&1 || true; values procps
reset
"""


def layout(seed):
    """{node path: text or None (a /dev/null link)} for one seed."""
    rnd = random.Random(seed)
    files = {}
    for _file in range(rnd.randint(1, 4)):
        lines = []
        for _line in range(rnd.randint(1, 3)):
            kind = rnd.choice(("range", "reserved", "reserved"))
            key = rnd.choice(KEYS[kind])
            if rnd.random() < 0.08:
                lines.append("-%s" % key)
                continue
            value = rnd.choice(RANGES if kind == "range" else RESERVED)
            lines.append("%s%s = %s" % ("-" if rnd.random() < 0.1 else "", key, value))
        text = "# layout %d\n%s\n" % (seed, "\n".join(lines))
        if rnd.random() < 0.15:
            files["/etc/sysctl.conf"] = text
        else:
            files["/%s/%s" % (rnd.choice(DIRS), rnd.choice(NAMES))] = text
    if rnd.random() < 0.15:  # an /etc name masking a vendor file
        name = rnd.choice(NAMES)
        files["/usr/lib/sysctl.d/" + name] = "net.ipv4.ip_local_port_range = 10000 65000\n"
        files["/etc/sysctl.d/" + name] = None
    return files


def exec_bytes(name, command, data=b""):
    proc = subprocess.run(["podman", "exec", "-i", name] + command, input=data, capture_output=True, env=lab_env(),
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    return proc.stdout


def write_node(name, files):
    for path, text in sorted(files.items()):
        if text is None:
            exec_bytes(name, ["sh", "-c", 'mkdir -p "$(dirname "$0")"; rm -f "$0"; ln -s /dev/null "$0"', path])
        else:
            exec_bytes(name, ["sh", "-c", 'mkdir -p "$(dirname "$0")"; rm -f "$0"; cat > "$0"', path], text.encode())


def write_mirror(root, files):
    for path, text in sorted(files.items()):
        full = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if os.path.lexists(full):
            os.unlink(full)
        if text is None:
            os.symlink("/dev/null", full)
        else:
            with open(full, "w") as handle:
                handle.write(text)


def oracle(name):
    values = {}
    for line in node_sh(name, ORACLE).stdout.splitlines():
        tool, port_range, reserved = line.split("|")
        values[tool] = (port_range, reserved)
    return values


def predicted(root, procps):
    loaded = sysctl_boot.load_boot_assignments(root, procps=procps)
    values = {}
    for tool in sysctl_boot.TOOLS:
        ranges, reserved = port_ranges.boot_values(loaded, tool)
        values[tool] = (ranges["value"], reserved["value"]) if not (ranges["error"] or reserved["error"]) else None
    return values


def ports_of(text):
    return set(p for low, high in port_ranges.parse_reserved(text) or [] for p in range(low, high + 1))


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    """[(release, node name, mirror base)], one one-node fleet per release, each on a /26 of 192.168.122.0/24."""
    with contextlib.ExitStack() as stack:
        mirrored = []
        for number, release in enumerate(image.matrix_releases(len(image.MATRIX))):
            _fleet, name, base = stack.enter_context(sysctl_layouts.mirrored_node(
                "podnet-rfports%d" % (number + 1), "192.168.122.%d/26" % (64 * number), tmp_path_factory, ORIGINAL,
                release=release))
            mirrored.append((release, name, base))
        yield mirrored


def node_procps(name):
    """The node's procps version as node_info reads it (``sysctl --version``), never from the release name."""
    proc = node_sh(name, "sysctl --version", check=False)
    return sysctl_boot.procps_version(proc.stdout + proc.stderr) if proc.returncode == 0 else None


def test_boot_model_and_fix_agree_with_the_tools(nodes, tmp_path):
    wrong, errors, fixes, unresolved = [], 0, 0, 0
    by_release = dict((release, {"layouts": 0, "wrong": 0, "error": 0}) for release, _name, _base in nodes)
    for seed in range(FIRST_SEED, FIRST_SEED + LAYOUTS):
        release, name, base = nodes[(seed - FIRST_SEED) % len(nodes)]  # the judged node cycles through the releases
        counts = by_release[release]
        counts["layouts"] += 1
        wrong_before = len(wrong)
        files = layout(seed)
        node_sh(name, RESTORE)
        write_node(name, files)
        root = str(tmp_path / ("s%d" % seed))
        shutil.copytree(base, root, symlinks=True)
        write_mirror(root, files)
        procps = node_procps(name)
        real, model = oracle(name), predicted(root, procps)
        for tool in sysctl_boot.TOOLS:
            if model[tool] is None:
                errors += 1
                counts["error"] += 1
            elif model[tool] != real[tool]:
                wrong.append("seed %d %s (%s): model %r, node %r; layout %r" % (seed, tool, release, model[tool], real[tool], files))
        # the fix: planned on the mirror (booted values as runtime), written to the node
        os.makedirs(os.path.join(root, "proc/sys/net/ipv4"))
        write_mirror(root, {"/proc/sys/net/ipv4/ip_local_port_range": real["systemd"][0] + "\n",
                            "/proc/sys/net/ipv4/ip_local_reserved_ports": real["systemd"][1] + "\n"})
        policy = "comment" if seed % 2 else "outrank"
        plan = prereq_fix.plan_fix(root, areas=["ports"], on_override=policy, procps=procps)
        if plan["unresolved"]:
            unresolved += 1
            counts["wrong"] += len(wrong) > wrong_before
            continue
        fixes += 1
        write_node(name, dict((e["path"], e["after"]) for e in prereq_fix.changed_files(plan)))
        for entry in plan["remove"]:
            node_sh(name, "rm -f '%s'" % entry["path"])
        after = oracle(name)
        kept = ports_of(real["systemd"][1]) | ports_of(real["procps"][1])  # the fix writes the union
        for tool in sysctl_boot.TOOLS:
            now = ports_of(after[tool][1])
            if not port_ranges.covers(port_ranges.parse_reserved(after[tool][1]) or [], 30000, 32767) or kept - now:
                wrong.append("seed %d fix (%s) %s (%s): %r before, %r after; plan %r; layout %r" % (
                    seed, policy, tool, release, real[tool][1], after[tool][1], plan["files"], files))
        counts["wrong"] += len(wrong) > wrong_before  # layouts with anything wrong
    for release, name, _base in nodes:
        node_sh(name, RESTORE)
        counts = by_release[release]
        print("ports differential[%s]: layouts=%d wrong=%d error=%d" % (release, counts["layouts"], counts["wrong"], counts["error"]))
    print("ports differential: layouts=%d wrong=%d error=%d (of %d tool verdicts) fixes=%d unresolved=%d seeds=%d-%d"
          % (LAYOUTS, len(wrong), errors, 2 * LAYOUTS, fixes, unresolved, FIRST_SEED, FIRST_SEED + LAYOUTS - 1))
    assert not wrong, "\n".join(wrong[:10])
