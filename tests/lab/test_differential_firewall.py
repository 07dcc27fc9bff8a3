"""Differential test of overlay.inbound against real packets (issue 12, section 1, "firewall").

Each layout is a random but realistic host firewall on node1 (``podnet_lab.firewall_layouts``)
and a CNI/mode. The oracle: node2, a peer on the node network, sends a new flow on every
overlay port and protocol of that mode (a UDP datagram, a TCP SYN, an IP-protocol-4 packet);
node1 watches with one raw socket per IP protocol. Linux gives a raw socket its copy in local
delivery, after the prerouting and input hooks accepted the packet, so a packet seen there
passed every firewall; nothing is bound to the ports. The verdict under test: overlay.inbound
computed on node1 by the collection's module_utils (the node_info code path), and by the real
``podnet.doctor.node_info`` module on every ``SAMPLE_EVERY``-th layout.

Split iptables backends (issue 15): about a third of the nftables and iptables layouts also hold
rules in the iptables backend the node's ``iptables`` does NOT use (``Layout.unused``): iptables-legacy
under Debian's nft alternative, or iptables-nft on a node whose alternatives were switched to legacy;
an administrator's leftovers (harmless ones, DROPs/REJECTs of overlay ports, policy DROP), raw/mangle
rules and stale chains of kube-proxy and Calico; and the iptables layouts that write iptables-legacy
themselves. ``iptables.backends`` is judged on every layout (no rules there: it must pass). Its oracle
is the kernel with that backend's rules ALONE (every other firewall cleared, the save file restored
again): (1) a probe of the overlay that does not arrive is dropped by the unused backend; (2) a stale
cluster chain runs when the kernel's packet counter of a jump into it (``iptables-*-save -c``, zeroed
right before the probes) moved while the probes passed. The whole layout's probes already answer when
every probe arrived (each passed every hook of both backends: no rule drew marks or notrack that the
unused backend matches on) or a counter moved; only the other layouts are probed again, alone. The
hooks drawn for stale chains hold for every probe (unconditional, NEW,
dst-type LOCAL), so "a probe's counter moved" and "the kernel runs this chain" are the same fact; a
chain nothing jumps to (its hook flushed) and a jump to an emptied chain run nothing: they must pass.
Truth: fail iff (1) or (2). Not drawn: FORWARD rules and chains (KUBE-FORWARD, FLANNEL-FWD): the lab
forwards no pod traffic, so the check is computed without a pod CIDR, as node_info is without
podnet_pod_cidr; IPv6 rules: the lab's networks are IPv4-only (test_iptables_backends.py probes IPv6
over ::1 by hand); the kubelet's hint chains (they move the cluster's backend: unit tests).

Three generations at once (issue 16): nodes 1-3 are bullseye, bookworm and trixie
(``image.matrix_releases``; ``PODNET_LAB_RELEASE`` pins all three to one release) and judge the
layouts in turn, layout i on node ``i % 3 + 1``; node4 is the sender and never holds a firewall.
The draws are spread over the releases, not tripled, so the suite costs what it did.

Score: wrong (pass/fail disagreeing with the packets) must be 0, error <= 5 %, for each check, overall and per
release (``by_release`` in the JSON, one score line per release).
``PODNET_FUZZ_SEED`` (comma-separated) replaces the CI seeds; ``PODNET_FUZZ_LAYOUTS`` the count.
"""
import json
import os
import random
import subprocess
import time

import pytest

from conftest import REPO, own_fleet
from podnet_lab import arrivals, firewall_layouts, image
from podnet_lab.podman import node_exec, run

SUBNET = firewall_layouts.SUBNET
CI_SEEDS = [1201, 1202, 1203]
SAMPLE_EVERY = int(os.environ.get("PODNET_DFW_SAMPLE_EVERY", "10"))
SUITE = "firewall"
# PODNET_DFW_MODULE_UTILS: judge another evaluator (e.g. an older commit's module_utils) on the fast path
MODULE_UTILS = os.environ.get("PODNET_DFW_MODULE_UTILS") or os.path.join(
    REPO, "tests/output/collections/ansible_collections/podnet/doctor/plugins/module_utils")
NODE_LIB = "/opt/podnet-dfw"

# Runs on the node under test: overlay.inbound by the same module_utils code node_info uses.
VERDICT = r"""
import json, shutil, subprocess, sys
sys.path.insert(0, "%s")
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import gather_live, iptables_backends, overlay_checks
from ansible_collections.podnet.doctor.plugins.module_utils.network import cni_catalog
cni, mode, net = sys.argv[1:4]
env = {"LC_ALL": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr
facts = gather_live.gather_firewall(run, "/", lambda name: shutil.which(name, path=env["PATH"]))
ports = cni_catalog.overlay_ports_for(cni, mode)
checks = overlay_checks.evaluate_overlay(facts, ports, [net], "10.244.0.0/16", cni)
print(json.dumps([checks[0], iptables_backends.evaluate(facts, "/", ports, [net], None, cni)]))
""" % NODE_LIB


def catalog_ports(cni, mode):
    from ansible_collections.podnet.doctor.plugins.module_utils.network import cni_catalog
    return cni_catalog.overlay_ports_for(cni, mode)


# the judged nodes, one per release (node1 bullseye, node2 bookworm, node3 trixie), and the sender
JUDGED = image.matrix_releases(len(image.MATRIX))
SENDER = len(JUDGED) + 1


def copy_module_utils(lab):
    """The module_utils under test onto every judged node, where VERDICT imports them, with the controller's
    ansible.module_utils they import (six...), as AnsiballZ ships them: bullseye's image has no ansible-core."""
    import ansible
    for index in range(1, lab.size + 1):  # every node of the fleet (test_differential_k8s_ports' has two)
        node = lab.node(index)
        node_exec(node, ["mkdir", "-p", NODE_LIB + "/ansible_collections/podnet/doctor/plugins", NODE_LIB + "/ansible"])
        run(["cp", MODULE_UTILS, "%s:%s/ansible_collections/podnet/doctor/plugins/" % (node, NODE_LIB)])
        run(["cp", os.path.join(os.path.dirname(ansible.__file__), "module_utils"), "%s:%s/ansible/" % (node, NODE_LIB)])
        node_exec(node, ["touch", NODE_LIB + "/ansible/__init__.py"])


dfw_fleet = own_fleet(firewall_layouts.FLEET_NAME, SENDER, SUBNET, prepare=copy_module_utils,
                      release=JUDGED + [image.default_release()])


def real_node_info(fleet, layout, index):
    """overlay.inbound from the real podnet.doctor.node_info module, over SSH like a user runs it."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="json")
    args = {"cni": layout.cni, "cni_mode": layout.mode, "node_networks": [SUBNET]}
    proc = subprocess.run(["ansible", "-i", fleet.inventory_path, fleet.hostname(index), "-m", "podnet.doctor.node_info",
                           "-a", json.dumps(args)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    try:
        result = json.JSONDecoder().raw_decode(proc.stdout)[0]["plays"][0]["tasks"][0]["hosts"][fleet.hostname(index)]
        checks = dict((c["id"], c) for c in result["checks"])
        return [checks["overlay.inbound"], checks["iptables.backends"]]
    except (ValueError, KeyError, IndexError):
        return [{"status": "crash", "observed": (proc.stdout + proc.stderr)[-3000:]}] * 2


def our_verdict(fleet, layout, real_module, index):
    """[overlay.inbound, iptables.backends] of node ``index``"""
    if real_module:
        checks = real_node_info(fleet, layout, index)
        for check in checks:
            check["via"] = "podnet.doctor.node_info"
    else:
        proc = node_exec(fleet.node(index), ["python3", "-c", VERDICT, layout.cni, layout.mode, SUBNET], check=False)
        if proc.returncode != 0:
            return [{"status": "crash", "observed": proc.stderr[-2000:]}] * 2
        checks = json.loads(proc.stdout)
    return checks


def backends_truth(fleet, index, layout, ports, arrived, entered, rng):
    """(pass/fail, what the kernel showed) for iptables.backends: the unused backend's rules alone (see the docstring).
    ``arrived``, ``entered``: the probes and counters of the whole layout, which already tell when every probe arrived
    (it passed every hook of both backends) or a stale chain ran; else the unused backend's rules are loaded alone."""
    path, only = layout.unused_file()
    if path is None or not layout.files[path].strip():
        return "pass", "the unused backend holds no rules"
    node = fleet.node(index)
    alone = not (only or all(arrived.values()) or entered)
    if alone:
        proc = firewall_layouts.load_unused_only(node, layout)
        if proc.returncode != 0:
            pytest.fail("the node refused the unused backend's rules alone:\n%s\n%s" % (layout.describe(), proc.stderr[-1500:]))
        arrived = arrivals.arrived(node, fleet.node(SENDER), fleet.address(index), ports, rng)
        entered = firewall_layouts.stale_chains_entered(node, layout)
    shown = "%s: %s" % ("unused backend alone" if alone else "whole layout",
                        ", ".join("%s/%s=%s" % (p[1], p[0], ok) for p, ok in arrived.items()))
    if entered:
        shown += "; counters moved on: %s" % "; ".join(entered)
    return ("pass" if all(arrived.values()) and not entered else "fail"), shown


def judged(status, truth, counts, wrong, errors, record):
    """"agree", "wrong" or "error" of a verdict against the oracle's truth; counts it in each of ``counts`` and
    keeps the record of a wrong one or an error."""
    outcome = "error" if status in ("error", "crash") else "wrong" if status != truth else "agree"
    if outcome != "agree":
        for count in counts:
            count[outcome] += 1
        (errors if outcome == "error" else wrong).append(record)
    return outcome


def seeds():
    text = os.environ.get("PODNET_FUZZ_SEED")
    return [int(s) for s in text.split(",")] if text else CI_SEEDS


def test_overlay_inbound_agrees_with_real_packets(dfw_fleet):
    total = int(os.environ.get("PODNET_FUZZ_LAYOUTS", "150"))
    seed_list = seeds()
    per_seed = [total // len(seed_list) + (1 if i < total % len(seed_list) else 0) for i in range(len(seed_list))]
    layouts = []
    for seed, count in zip(seed_list, per_seed):
        layouts += firewall_layouts.draw_layouts(seed, count, SUBNET, catalog_ports)
    layouts.sort(key=lambda l: l.backend == "firewalld")  # one firewalld start for all of them
    started = time.time()
    score = {"layouts": 0, "wrong": 0, "error": 0, "by_backend": {}, "by_release": {}}
    # iptables.backends: every layout; "drawn": those with rules in the unused backend
    split = {"layouts": 0, "drawn": 0, "agree": 0, "wrong": 0, "error": 0, "packets_fail": 0, "stale_chains_ran": 0}
    wrong, errors, refusals = [], [], []
    firewalld_up = set()  # the judged nodes whose firewalld runs
    try:
        for number, layout in enumerate(layouts):
            layout_started = time.time()
            # the judged node cycles through the releases; a layout an older tool refuses (nft 0.9.8 has no
            # "meta l4proto . th dport" concatenation: "Byteorder mismatch") cannot exist on that release, so the
            # next release judges it and the refusal is counted for the release that refused
            for attempt in range(len(JUDGED)):
                index = (number + attempt) % len(JUDGED) + 1
                node, release = dfw_fleet.node(index), dfw_fleet.release(index)
                firewall_layouts.open_firewall(node, stop_firewalld=index in firewalld_up and layout.backend != "firewalld")
                proc = firewall_layouts.load(node, layout)
                if layout.backend == "firewalld":
                    firewalld_up.add(index)
                if proc.returncode == 0:
                    break
                refusals.append((release, "%s (%s) refused layout #%d (seed %d): %s" % (
                    node, release, layout.index, layout.seed, (proc.stdout + proc.stderr).strip()[:400])))
            else:
                # every release refuses it: a generator bug, shown, not scored
                pytest.fail("every release refused layout:\n%s\n%s" % (layout.describe(), (proc.stdout + proc.stderr)[-1500:]))
            rng = random.Random("%d/%d" % (layout.seed, layout.index))
            ports = catalog_ports(layout.cni, layout.mode)
            arrived = arrivals.arrived(node, dfw_fleet.node(SENDER), dfw_fleet.address(index), ports, rng)
            entered = firewall_layouts.stale_chains_entered(node, layout)  # before the verdict's SSH moves counters
            check, backends = our_verdict(dfw_fleet, layout, (number % SAMPLE_EVERY == 0), index)
            truth = "pass" if all(arrived.values()) else "fail"
            oracle_started = time.time()
            split_truth, shown = backends_truth(dfw_fleet, index, layout, ports, arrived, entered, rng)
            split["oracle_seconds"] = round(split.get("oracle_seconds", 0.0) + time.time() - oracle_started, 1)
            split["layouts"] += 1
            split["drawn"] += layout.unused_file()[0] is not None
            split["packets_fail"] += split_truth == "fail"
            split["stale_chains_ran"] += "counters moved" in shown
            outcome = judged(backends["status"], split_truth, [split], wrong, errors,
                             "%s (%s)\n%s\nkernel: %s\niptables.backends: %s" % (node, release, layout.describe(), shown, json.dumps(backends)))
            split["agree"] += outcome == "agree"
            stats = score["by_backend"].setdefault(layout.backend, {"layouts": 0, "wrong": 0, "error": 0,
                                                                    "packets_pass": 0, "seconds": 0.0})
            per_release = score["by_release"].setdefault(release, {"layouts": 0, "wrong": 0, "error": 0, "packets_pass": 0})

            for counts in (score, stats, per_release):
                counts["layouts"] += 1
            per_release["packets_pass"] += truth == "pass"
            stats["packets_pass"] += truth == "pass"  # the oracle's own split: both outcomes must occur
            stats["seconds"] = round(stats["seconds"] + time.time() - layout_started, 1)
            judged(check["status"], truth, [score, stats, per_release], wrong, errors, "%s (%s)\n%s\narrived: %s\noverlay.inbound: %s" % (
                node, release, layout.describe(), ", ".join("%s/%s=%s" % (p[1], p[0], ok) for p, ok in arrived.items()),
                json.dumps(check)))
    finally:
        for index in range(1, SENDER):
            firewall_layouts.open_firewall(dfw_fleet.node(index), stop_firewalld=True)
    elapsed = time.time() - started
    n = max(score["layouts"], 1)
    line = "%s: layouts=%d wrong=%d error=%d (%.1f %%) seeds=%s; iptables.backends: drawn=%d agree=%d wrong=%d error=%d " \
        "truth-fail=%d stale-chains-ran=%d" % (
            SUITE, score["layouts"], score["wrong"], score["error"], 100.0 * score["error"] / n,
            ",".join(str(s) for s in seed_list), split["drawn"], split["agree"], split["wrong"], split["error"],
            split["packets_fail"], split["stale_chains_ran"])
    print("\n" + line + " time=%.0fs" % elapsed)
    release_lines = []
    for release, _text in refusals:
        score["by_release"].setdefault(release, {"layouts": 0, "wrong": 0, "error": 0, "packets_pass": 0})
    for release, counts in sorted(score["by_release"].items()):
        counts["refused"] = [text for refused_by, text in refusals if refused_by == release]
        counts["error_percent"] = round(100.0 * counts["error"] / max(counts["layouts"], 1), 2)
        release_lines.append("%s[%s]: layouts=%d wrong=%d error=%d (%.1f %%) packets_pass=%d refused=%d" % (
            SUITE, release, counts["layouts"], counts["wrong"], counts["error"], counts["error_percent"],
            counts["packets_pass"], len(counts["refused"])))
    print("\n".join(release_lines + ["REFUSED (judged on the next release): " + text for _release, text in refusals]))
    score.update(iptables_backends=split, suite=SUITE, seeds=seed_list, seconds=round(elapsed, 1), error_percent=round(100.0 * score["error"] / n, 2))
    out_dir = os.path.join(REPO, "tests/output/differential")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "%s.json" % SUITE), "w") as handle:
        json.dump(score, handle, indent=2, sort_keys=True)
    for record in errors:
        print("\nERROR (counted, not wrong):\n" + record)
    assert not wrong, "%s\n\n%s" % (line, "\n\n".join("WRONG:\n" + r for r in wrong))
    assert score["error"] <= 0.05 * n, line
    assert split["error"] <= 0.05 * n, line
    for release, counts in sorted(score["by_release"].items()):
        assert counts["error"] <= 0.05 * max(counts["layouts"], 1), "\n".join(release_lines)
    # not vacuous: the packets both arrived and were dropped, overall and for every backend drawn
    # often enough to tell (a generator that only ever opened, or only ever closed, proves little)
    passed = sum(stats["packets_pass"] for stats in score["by_backend"].values())
    assert 0 < passed < score["layouts"], "the packets arrived in %d of %d layouts: %s" % (passed, score["layouts"], line)
    for backend, stats in sorted(score["by_backend"].items()):
        if stats["layouts"] >= 10:
            assert 0 < stats["packets_pass"] < stats["layouts"], "%s: packets arrived in %d of %d layouts" % (
                backend, stats["packets_pass"], stats["layouts"])
    if split["drawn"] >= 10:  # the unused backend both dropped and let through
        assert 0 < split["packets_fail"] < split["drawn"], line
