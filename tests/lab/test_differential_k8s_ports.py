"""Differential test of k8s_ports.inbound against real packets (issue 15, "covered by the differential
firewall tests").

The layouts are the firewall suite's (``podnet_lab.firewall_layouts``: random realistic nftables,
iptables, firewalld and ufw rulesets on node1), drawn around the Kubernetes component ports instead of
a CNI's: the admin opened some of kubelet 10250, kube-apiserver 6443, etcd 2379-2380, kube-scheduler
10259, kube-controller-manager 10257 and the NodePort range, spelled as admins do (single ports, sets,
ranges around a port). The NodePort range is 30000-30015 here so that the oracle sends a new flow to
EVERY port of it, TCP and UDP, and a hole anywhere in it counts: node2, a peer on the node network,
sends them all; node1's raw sockets see what local delivery got (``podnet_lab.arrivals``). The verdict
under test: k8s_ports.inbound (kubeadm control plane) computed on node1 by the collection's
module_utils, with nothing loaded at boot, so the packets of now are the whole truth.

Score: wrong must be 0, error <= 5 %. ``PODNET_FUZZ_SEED`` / ``PODNET_FUZZ_LAYOUTS`` as in the firewall suite.
"""
import json
import os
import random
import time

import pytest

from conftest import own_fleet
from podnet_lab import arrivals, firewall_layouts
from podnet_lab.podman import node_exec
from test_differential_firewall import NODE_LIB, REPO, copy_module_utils, seeds

SUBNET = firewall_layouts.SUBNET
NODEPORTS = (30000, 30015)
SUITE = "k8s_ports"
COMPONENTS = [("tcp", 10250, "kubelet API"), ("tcp", 6443, "kube-apiserver"), ("tcp", 2379, "etcd"), ("tcp", 2380, "etcd"),
              ("tcp", 10259, "kube-scheduler"), ("tcp", 10257, "kube-controller-manager")]
# what the generator opens (and builds its ranges around): the components and the NodePort range's edges
OPENED = COMPONENTS + [(proto, port, "NodePort") for proto in ("tcp", "udp") for port in NODEPORTS]
# what the oracle sends: every component port and every port of the NodePort range, both protocols
EVERY_PORT = COMPONENTS + [(proto, port, "NodePort") for proto in ("tcp", "udp") for port in range(NODEPORTS[0], NODEPORTS[1] + 1)]

VERDICT = r"""
import json, shutil, subprocess, sys
sys.path.insert(0, "%s")
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import gather_live, k8s_ports_checks
net, low, high = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
env = {"LC_ALL": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr
facts = gather_live.gather_firewall(run, "/", lambda name: shutil.which(name, path=env["PATH"]))
nothing_at_boot = {"errors": [], "loaders": [], "firewalld": {"running": False}, "nft": None,
                   "iptables_legacy": None, "iptables_nft": None, "addresses": facts.get("addresses", [])}
print(json.dumps(k8s_ports_checks.checks(facts, nothing_at_boot, [net], "kubeadm", True, (low, high), None)[0]))
""" % NODE_LIB

k8s_dfw_fleet = own_fleet(firewall_layouts.FLEET_NAME, 2, SUBNET, prepare=copy_module_utils)


def test_k8s_ports_inbound_agrees_with_real_packets(k8s_dfw_fleet):
    total = int(os.environ.get("PODNET_FUZZ_LAYOUTS", "45"))
    seed_list = seeds()
    per_seed = [total // len(seed_list) + (1 if i < total % len(seed_list) else 0) for i in range(len(seed_list))]
    layouts = []
    for seed, count in zip(seed_list, per_seed):
        layouts += firewall_layouts.draw_layouts(seed + 1500, count, SUBNET, lambda cni, mode: OPENED)
    layouts.sort(key=lambda l: l.backend == "firewalld")
    lab, node = k8s_dfw_fleet, k8s_dfw_fleet.node(1)
    started = time.time()
    score = {"layouts": 0, "wrong": 0, "error": 0, "packets_pass": 0}
    wrong, errors = [], []
    firewalld_up = False
    try:
        for layout in layouts:
            firewall_layouts.open_firewall(node, stop_firewalld=firewalld_up and layout.backend != "firewalld")
            proc = firewall_layouts.load(node, layout)
            firewalld_up = firewalld_up or layout.backend == "firewalld"
            if proc.returncode != 0:
                pytest.fail("the node refused layout:\n%s\n%s" % (layout.describe(), (proc.stdout + proc.stderr)[-1500:]))
            arrived = arrivals.arrived(node, lab.node(2), lab.address(1), EVERY_PORT, random.Random("%d/%d" % (layout.seed, layout.index)))
            proc = node_exec(node, ["python3", "-c", VERDICT, SUBNET, str(NODEPORTS[0]), str(NODEPORTS[1])], check=False)
            check = json.loads(proc.stdout) if proc.returncode == 0 else {"status": "crash", "observed": proc.stderr[-2000:]}
            truth = "pass" if all(arrived.values()) else "fail"
            score["layouts"] += 1
            score["packets_pass"] += truth == "pass"
            dropped = sorted("%s/%s" % (p[1], p[0]) for p, ok in arrived.items() if not ok)
            record = "%s\ndropped by the node: %s\nk8s_ports.inbound: %s" % (layout.describe(), ", ".join(dropped) or "none", json.dumps(check))
            if check["status"] in ("error", "crash"):
                score["error"] += 1
                errors.append(record)
            elif check["status"] != truth:
                score["wrong"] += 1
                wrong.append(record)
    finally:
        firewall_layouts.open_firewall(node, stop_firewalld=True)
    n = max(score["layouts"], 1)
    line = "%s: layouts=%d wrong=%d error=%d (%.1f %%) packets-pass=%d seeds=%s time=%.0fs" % (
        SUITE, score["layouts"], score["wrong"], score["error"], 100.0 * score["error"] / n, score["packets_pass"],
        ",".join(str(s + 1500) for s in seed_list), time.time() - started)
    print("\n" + line)
    out_dir = os.path.join(REPO, "tests/output/differential")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "%s.json" % SUITE), "w") as handle:
        json.dump(dict(score, suite=SUITE, seeds=[s + 1500 for s in seed_list]), handle, indent=2, sort_keys=True)
    for record in errors:
        print("\nERROR (counted, not wrong):\n" + record)
    assert not wrong, "%s\n\n%s" % (line, "\n\n".join("WRONG:\n" + r for r in wrong))
    assert score["error"] <= 0.05 * n, line
    assert 0 < score["packets_pass"] < score["layouts"], line
