"""Differential test of the boot sysctl verdicts: the real tools on a lab node are the oracle.

For each seeded layout (podnet_lab.sysctl_layouts): write it over the node's own sysctl files,
set the keys to the kernel defaults, run systemd-sysctl and read /proc; reset, run
``sysctl --system`` and read /proc. Our resolver (sysctl_boot via prereq_checks) reads the same
layout from a mirror tree on this host and must predict every value and the verdicts of
ip_forward.boot and bridge_nf_call.boot. Every 10th layout (and every other 20th that fails)
also runs the real node_info module on the node (the module path must agree) and then the fixer
(kernel_prereqs), after which both tools must give 1 or the fixer must have said what it could
not resolve, and the fixer's own re-read must agree with the tools. A few layouts are
confirmed by a real reboot, one of them after the fixer.

Only net.* keys are applied (systemd-sysctl --prefix=/net, sysctl -r): the nodes share the host
kernel. Replay or vary: PODNET_FUZZ_SEED (first seed), PODNET_FUZZ_LAYOUTS (how many).

The fleet has one node per Debian release (image.matrix_releases: bullseye, bookworm, trixie:
systemd 247/252/257, procps 3.3.17/4.0.2/4.0.4); layout i runs on node i mod 3, so the draws are
spread over the releases, not tripled, and the score is given per release too.
PODNET_LAB_RELEASE=<release> runs every layout on that release (to replay a layout there).
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import REPO
from podnet_lab import fleet as lab_fleet
from podnet_lab import image, sysctl_layouts
from podnet_lab.podman import lab_env, node_sh

# tests/conftest.py makes the checkout importable as the collection
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import prereq_checks, sysctl_boot

SUITE = "sysctl"
FIRST_SEED = int(os.environ.get("PODNET_FUZZ_SEED", "1200"))
LAYOUTS = int(os.environ.get("PODNET_FUZZ_LAYOUTS", "200"))
MODULE_EVERY = 10  # node_info + fixer on the node for every 10th layout
REBOOTS = 3
NODES = 3  # one per release of image.MATRIX
ORIGINAL = "/root/podnet-sysctl-original.tar"
VARIABLES = ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding",
             "net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables")
PROCPS_NET_ONLY = "^-?[[:space:]]*/?net[./]"
OWNED = "/etc/modules-load.d/podnet-doctor.conf"

RESTORE = """
rm -rf /etc/sysctl.d /run/sysctl.d /usr/local/lib/sysctl.d /usr/lib/sysctl.d /etc/sysctl.conf %s
rm -f /etc/sysctl.conf.*~
tar xf %s -C /
""" % (OWNED, ORIGINAL)

ORACLE = """
reset() {
    echo 0 > /proc/sys/net/ipv4/ip_forward; echo 0 > /proc/sys/net/ipv6/conf/all/forwarding
    echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables; echo 1 > /proc/sys/net/bridge/bridge-nf-call-ip6tables
}
values() { echo "$1 $(cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding \
    /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables \
    /proc/sys/net/ipv4/conf/all/forwarding | tr '\\n' ' ')"; }
reset; /lib/systemd/systemd-sysctl --prefix=/net >/dev/null 2>&1 || true; values systemd
reset; sysctl -q -r '%s' --system >/dev/null 2>&1 || true; values procps
""" % PROCPS_NET_ONLY


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    releases = image.matrix_releases(NODES)
    releases = releases[:1] if len(set(releases)) == 1 else releases  # pinned: one node is enough
    with sysctl_layouts.mirrored_nodes("podnet-dsys", "192.168.81.0/24", tmp_path_factory, ORIGINAL, releases) as (fleet, found):
        for node in found:
            facts = node_facts(fleet.inventory_path, node["host"])
            # the resolver on this host is told what node_info read on the node (sysctl --version), never the release
            procps = facts["sysctl_tools"]["procps"]
            node.update(inventory=fleet.inventory_path, module=facts["module"], boot_defaults=boot_values(node["name"]),
                        procps=tuple(int(p) for p in procps.split(".")) if procps else None)
        yield found


def ansible(inventory, tasks, host="node1"):
    """Run ``tasks`` on ``host`` in one play; return the per-task results."""
    play = [{"hosts": host, "gather_facts": False, "tasks": tasks}]
    path = inventory + ".play.yml"
    with open(path, "w") as handle:
        json.dump(play, handle)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="json")
    proc = subprocess.run(["ansible-playbook", "-i", inventory, path], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    data = json.JSONDecoder().raw_decode(proc.stdout)[0]
    return [task["hosts"][host] for task in data["plays"][0]["tasks"]]


def boot_values(name):
    """The variables right after a real reboot (``podman restart``)."""
    lab_fleet.reboot(name)
    return dict(zip(VARIABLES, node_sh(name, "cat %s" % " ".join("/proc/sys/" + v for v in VARIABLES)).stdout.split()))


def node_facts(inventory, host):
    return ansible(inventory, [{"podnet.doctor.node_info": {}}], host)[0]["facts"]


def host_tree(base, layout, tmp):
    """The node's files as the layout leaves them, on this host, for our resolver."""
    root = os.path.join(tmp, "root")
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(base, root, symlinks=True)
    items = dict(layout.files)
    if layout.sysctl_conf is not None:
        items["/etc/sysctl.conf"] = layout.sysctl_conf
    for path, body in sorted(items.items()):
        full = os.fsencode(os.path.join(root, path.lstrip("/")))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if os.path.lexists(full):
            os.unlink(full)
        if isinstance(body, sysctl_layouts.Link):
            os.symlink(body.target, full)
        else:
            with open(full, "wb") as handle:
                handle.write(body.encode("utf-8", "surrogateescape"))
    return root


def node_bytes(name, command, data=None):
    """podman exec with bytes in and out (layouts hold non-UTF-8 names and text)."""
    proc = subprocess.run(["podman", "exec", "-i", name] + command, input=data or b"", capture_output=True,
                          env=lab_env(), timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    return proc.stdout


def push(name, layout):
    """Restore the node's own sysctl files, then write the layout over them (one exec)."""
    paths = sorted(layout.files) + (["/etc/sysctl.conf"] if layout.sysctl_conf is not None else [])
    script = RESTORE + 'for p in "$@"; do rm -f "$p"; done\ntar xf - -C /\n'
    node_bytes(name, ["/bin/sh", "-ec", script, "sh"] + paths, layout.tar())


def run_oracle(name):
    out = node_sh(name, ORACLE).stdout
    values = {}
    for line in out.splitlines():
        fields = line.split()
        values[fields[0]] = dict(zip(VARIABLES + ("net/ipv4/conf/all/forwarding",), fields[1:]))
    return values


def predicted(root, layout, node):
    loaded = sysctl_boot.load_boot_assignments(root, procps=node["procps"])
    values = {}
    for tool in sysctl_boot.TOOLS:
        values[tool] = dict((v, sysctl_boot.effective_boot_value(v, root, loaded=loaded)[tool]) for v in VARIABLES)
    facts = prereq_checks.gather_facts(root, layout.ip_families, loaded=loaded)
    facts["module"] = node["module"]
    checks = dict((c["id"], c) for c in prereq_checks.evaluate(facts))
    return values, checks


def oracle_verdict(observed, keys):
    return "pass" if all(observed[t][sysctl_boot.key_to_path(k)] == "1" for t in sysctl_boot.TOOLS for k in keys) else "fail"


def compare(layout, values, checks, observed):
    """Disagreements (wrong) and undecided verdicts (error) of one layout."""
    wrong, errors = [], []
    for tool in sysctl_boot.TOOLS:
        if observed[tool]["net/ipv4/conf/all/forwarding"] != observed[tool]["net/ipv4/ip_forward"]:
            wrong.append("%s: ip_forward and conf.all.forwarding differ on the node" % tool)
        for variable in VARIABLES:
            want = values[tool][variable]
            if want["error"] is None and want["value"] != observed[tool][variable]:
                wrong.append("%s: %s predicted %s, node has %s" % (
                    tool, variable, sysctl_boot.describe_source(want), observed[tool][variable]))
    families = layout.ip_families
    for check_id, keys in (("ip_forward.boot", prereq_checks.forwarding_keys(families)),
                           ("bridge_nf_call.boot", prereq_checks.bridge_keys(families))):
        status, truth = checks[check_id]["status"], oracle_verdict(observed, keys)
        if status == "error":
            errors.append("%s error: %s" % (check_id, checks[check_id]["observed"]))
        elif status != truth:
            wrong.append("%s: we say %s, the tools give %s (%s)" % (check_id, status, truth, checks[check_id]["observed"]))
    return wrong, errors


def check_module_and_fix(node, layout, checks):
    """node_info on the node agrees with the host-side resolver; after kernel_prereqs both tools
    give 1 for every key, or the fixer reported it unresolved."""
    args = {"ip_families": layout.ip_families}
    info, fix = ansible(node["inventory"], [
        {"podnet.doctor.node_info": args},
        {"podnet.doctor.kernel_prereqs": dict(args, on_override=layout.override), "ignore_errors": True}], node["host"])
    wrong = []
    for check in info["checks"]:
        if check["id"] in ("ip_forward.boot", "bridge_nf_call.boot") and check["status"] != checks[check["id"]]["status"]:
            wrong.append("node_info on the node says %s %s, the host-side resolver %s" % (
                check["id"], check["status"], checks[check["id"]]["status"]))
    if fix.get("failed"):
        return wrong + ["kernel_prereqs failed: %s" % fix.get("msg")], None
    after = run_oracle(node["name"])
    keys = prereq_checks.forwarding_keys(layout.ip_families) + prereq_checks.bridge_keys(layout.ip_families)
    unresolved = " ".join(fix.get("unresolved") or [])
    for key in keys:
        left = [after[tool][sysctl_boot.key_to_path(key)] for tool in sysctl_boot.TOOLS]
        if left != ["1", "1"] and key not in unresolved:
            wrong.append("after the fix (%s) systemd-sysctl, sysctl --system leave %s=%s and the fixer reported "
                         "nothing unresolved" % (fix.get("sysctl_file"), key, ", ".join(left)))
        if left == ["1", "1"] and key + "=" in unresolved:
            wrong.append("the fixer reported %s unresolved, both tools give 1: %s" % (key, unresolved))
    # the fixer's own re-read after acting agrees with the tools
    for check in fix.get("checks") or []:
        ids = {"ip_forward.boot": prereq_checks.forwarding_keys(layout.ip_families),
               "bridge_nf_call.boot": prereq_checks.bridge_keys(layout.ip_families)}
        if check["id"] in ids and check["status"] != oracle_verdict(after, ids[check["id"]]):
            wrong.append("after the fix kernel_prereqs says %s %s, the tools give %s (%s)" % (
                check["id"], check["status"], oracle_verdict(after, ids[check["id"]]), check["observed"]))
    return wrong, fix


def fix_survives_reboot(node, layout, fix):
    """After the fixer and a real reboot every key is 1, or the fixer said it is not resolved."""
    booted = boot_values(node["name"])
    unresolved = " ".join(fix.get("unresolved") or [])
    keys = prereq_checks.forwarding_keys(layout.ip_families) + prereq_checks.bridge_keys(layout.ip_families)
    return ["after the fix (%s) and a real reboot %s=%s, and the fixer reported nothing unresolved" % (
        fix.get("sysctl_file"), key, booted[sysctl_boot.key_to_path(key)])
        for key in keys if booted[sysctl_boot.key_to_path(key)] != "1" and key not in unresolved]


def write_score(lines, data):
    out = os.path.join(REPO, "tests", "output", "differential")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "%s.json" % SUITE), "w") as handle:
        json.dump(data, handle, indent=2)
    for line in lines:
        print(line)


def test_boot_sysctl_verdicts_agree_with_systemd_sysctl_and_procps(nodes, tmp_path):
    started = time.time()
    seeds = list(range(FIRST_SEED, FIRST_SEED + LAYOUTS))
    # spread over the run, never on a layout that also runs the modules
    reboot_at = set(seeds[i + (i % MODULE_EVERY == MODULE_EVERY // 2)] for i in
                    sorted(set(len(seeds) * k // REBOOTS + 1 for k in range(REBOOTS))) if i + 1 < len(seeds))
    failures, errors, stats = [], [], {"module_runs": 0, "fixes": 0, "unresolved": 0, "reboots": 0, "fix_reboots": 0}
    per_release = dict((n["release"], {"layouts": 0, "wrong": 0, "error": 0, "seeds": [], "versions": n["versions"]})
                       for n in nodes)
    # one fixed layout is also rebooted: the fix, not only the tools run by hand, must hold at boot
    fix_reboot_at = MODULE_EVERY * (len(seeds) // MODULE_EVERY // 2) + MODULE_EVERY // 2
    try:
        for index, seed in enumerate(seeds):
            node = nodes[index % len(nodes)]  # the draws spread over the releases
            score = per_release[node["release"]]
            score["layouts"] += 1
            score["seeds"].append(seed)
            layout = sysctl_layouts.generate(seed)
            push(node["name"], layout)
            observed = run_oracle(node["name"])
            values, checks = predicted(host_tree(node["base"], layout, str(tmp_path)), layout, node)
            wrong, undecided = compare(layout, values, checks, observed)
            if seed in reboot_at:
                # A lab node's fresh network namespace starts where the host's is for IPv4 (the
                # kernel copies init_net's conf/all), not at the kernel's compiled-in 0 a real boot
                # starts from: a variable no file decides keeps that lab start value.
                booted = boot_values(node["name"])
                stats["reboots"] += 1
                # /run is emptied by the reboot: expect what systemd-sysctl gives without /run/sysctl.d
                for variable in VARIABLES:
                    expected = values["systemd"][variable]["after_reboot"]
                    if expected["error"]:
                        continue
                    want = node["boot_defaults"][variable] if expected["source"] is None else expected["value"]
                    if booted[variable] != want:
                        wrong.append("after a real reboot %s=%s, expected %s (%s; systemd-sysctl now gave %s)" % (
                            variable, booted[variable], want, sysctl_boot.describe_source(expected),
                            observed["systemd"][variable]))
            elif index % MODULE_EVERY == MODULE_EVERY // 2 or (index % (2 * MODULE_EVERY) == 0 and "fail" in (
                    oracle_verdict(observed, prereq_checks.forwarding_keys(layout.ip_families)),
                    oracle_verdict(observed, prereq_checks.bridge_keys(layout.ip_families)))):
                # every 10th layout, and every 20th other one that the fixer has work on
                more, fix = check_module_and_fix(node, layout, checks)
                wrong += more
                if fix and index == fix_reboot_at:
                    wrong += fix_survives_reboot(node, layout, fix)
                    stats["fix_reboots"] = 1
                stats["module_runs"] += 1
                stats["fixes"] += 1
                stats["unresolved"] += bool(fix and fix.get("unresolved"))
            if wrong:
                failures.append("%s (%s)\n  " % (layout.describe(), node["release"]) + "\n  ".join(wrong))
                score["wrong"] += 1
            elif undecided:
                errors.append("seed %d (%s): %s" % (seed, node["release"], "; ".join(undecided)))
                score["error"] += 1
    finally:
        for node in nodes:
            node_sh(node["name"], RESTORE)
    n = len(seeds)
    line = ("%s: layouts=%d wrong=%d error=%d (%.1f %%) seeds=%d..%d module_runs=%d fixes=%d unresolved=%d reboots=%d "
            "fix_reboots=%d %.0fs" % (SUITE, n, len(failures), len(errors), 100.0 * len(errors) / n, seeds[0], seeds[-1],
                                      stats["module_runs"], stats["fixes"], stats["unresolved"], stats["reboots"],
                                      stats["fix_reboots"], time.time() - started))
    lines = [line] + ["%s[%s]: layouts=%d wrong=%d error=%d (%s)" % (
        SUITE, release, score["layouts"], score["wrong"], score["error"], "; ".join(score["versions"]))
        for release, score in sorted(per_release.items(), key=lambda item: image.MATRIX.index(item[0]))]
    write_score(lines, {"suite": SUITE, "layouts": n, "wrong": len(failures), "error": len(errors),
                        "error_percent": round(100.0 * len(errors) / n, 2), "seeds": [seeds[0], seeds[-1]],
                        "releases": per_release, "stats": stats, "seconds": round(time.time() - started),
                        "failures": failures, "errors": errors})
    for text in errors:
        print("error:", text)
    assert not failures, "\n\n".join(failures)
    assert len(errors) <= 0.05 * n, "\n".join(errors)
