"""podnet.doctor benchmark: wall-clock ratios on the lab fleet, from one run.

Times, each ``--repeat`` times (min and median reported; on clean nodes the lines take turns
in each round and every ratio is the median of the rounds' ratios):
  ping       ``ansible -m ping`` on every node: the floor (one round trip per host)
  preflight  ``podnet.doctor.preflight`` on clean nodes and on nodes with every fault
  baseline   bench/baseline.yml: the same checks, one standard task per setting
  remediate  ``podnet.doctor.remediate`` on faulty nodes, and on fixed ones (nothing to do)
over SSH and over the podman connection, at --nodes; then ping, preflight and remediate on
fixed nodes for each N of --scale (SSH), to show the per-host cost as the fleet grows.
Writes bench/results/bench.json and bench.png. Not a test: it asserts nothing.
"""
import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))

from podnet_lab import faults, fleet as lab_fleet  # noqa: E402

RESULTS = os.path.join(REPO, "bench", "results")


FORKS = {"value": 20}


def timed(argv, ok_codes=(0,)):
    # forks >= N, as the fleet docs recommend; the floor and podnet.doctor get the same
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORKS=str(FORKS["value"]))
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode not in ok_codes:
        raise SystemExit("%s exited %d:\n%s" % (" ".join(argv), proc.returncode, (proc.stdout + proc.stderr)[-3000:]))
    return elapsed


def commands(inventory):
    play = ["ansible-playbook", "-i", inventory]
    return {
        "ping": ["ansible", "-i", inventory, "all", "-m", "ansible.builtin.ping", "-o"],
        "preflight": play + ["podnet.doctor.preflight"],
        "baseline": play + [os.path.join(REPO, "bench", "baseline.yml")],
        "remediate": play + ["podnet.doctor.remediate"],
    }


def on_nodes(nodes, action):
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(action, nodes))


def break_node(node):
    """Every fault the collection fixes, on a node it may already have fixed."""
    faults.forget_podnet_doctor(node)
    faults.unblock_overlay(node, "nftables")
    faults.block_overlay(node, "nftables")
    faults.drop_hardening_file(node, {"net.ipv4.ip_forward": "0"})
    faults.set_sysctl_runtime(node, "net.ipv4.ip_forward", "0")
    faults.set_sysctl_runtime(node, "net.bridge.bridge-nf-call-iptables", "0")


def stats(samples):
    return {"min": round(min(samples), 3), "median": round(statistics.median(samples), 3),
            "samples": [round(s, 3) for s in samples]}


def measure(lab, size, connection, repeat, lines, inventory_dir):
    FORKS["value"] = max(20, size)
    sub = lab_fleet.Fleet(name=lab.name, size=size, subnet=str(lab.subnet))
    inventory = sub.write_inventory(os.path.join(inventory_dir, "%s-%d.json" % (connection, size)), connection)
    nodes = sub.nodes
    cmd = commands(inventory)
    out = {}
    timed(cmd["ping"])  # warm up: SSH control masters, AnsiballZ cache
    timed(cmd["remediate"], ok_codes=(0, 2))  # clean nodes: every check passes
    timed(cmd["remediate"])

    def report(name):
        print("  %-7s N=%-3d %-20s min %6.2fs  median %6.2fs" % (
            connection, size, name, out[name]["min"], out[name]["median"]), flush=True)

    # Clean nodes: the lines take turns in each round, so drift in the machine (other load,
    # thermal) lands on every line alike; ratios are taken per round, then the median.
    clean = [("ping", cmd["ping"]), ("preflight_clean", cmd["preflight"])]
    if "remediate_fixed" in lines:
        clean.append(("remediate_fixed", cmd["remediate"]))
    if "baseline" in lines:
        clean.append(("baseline", cmd["baseline"]))
    rounds = [dict((name, timed(argv)) for name, argv in clean) for _ in range(repeat)]
    for name, _argv in clean:
        out[name] = stats([r[name] for r in rounds])
        report(name)
    out["rounds"] = [dict((k, round(v, 3)) for k, v in r.items()) for r in rounds]
    if "faulty" in lines:
        on_nodes(nodes, break_node)
        faulty = []
        for _round in range(repeat):
            ping = timed(cmd["ping"])
            faulty.append({"ping": ping, "preflight_faulty": timed(cmd["preflight"], ok_codes=(2,))})
        out["preflight_faulty"] = stats([r["preflight_faulty"] for r in faulty])
        report("preflight_faulty")
        runs = []
        for _round in range(repeat):
            on_nodes(nodes, break_node)
            runs.append(timed(cmd["remediate"]))
        out["remediate_faulty"] = stats(runs)
        report("remediate_faulty")
        out["faulty_rounds"] = [dict((k, round(v, 3)) for k, v in r.items()) for r in faulty]
    return out


def ratios(line):
    """Median over rounds of each round's ratio (the lines of a round ran back to back)."""
    def per_round(rounds, top, bottom):
        return round(statistics.median(r[top] / r[bottom] for r in rounds), 2)
    rounds = line["rounds"]
    r = {"preflight/ping": per_round(rounds, "preflight_clean", "ping")}
    if "remediate_fixed" in rounds[0]:
        r["remediate_fixed/ping"] = per_round(rounds, "remediate_fixed", "ping")
    if "baseline" in rounds[0]:
        r["baseline/preflight"] = per_round(rounds, "baseline", "preflight_clean")
    if line.get("faulty_rounds"):
        r["preflight_faulty/ping"] = per_round(line["faulty_rounds"], "preflight_faulty", "ping")
    return r


def plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sizes = sorted(int(n) for n in result["scale"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, label in (("ping", "ansible -m ping (floor)"), ("preflight_clean", "podnet.doctor.preflight"),
                        ("remediate_fixed", "podnet.doctor.remediate, nothing to do")):
        times = [result["scale"][str(n)][name]["median"] for n in sizes]
        left.plot(sizes, times, marker="o", label=label)
        right.plot(sizes, [t / n for t, n in zip(times, sizes)], marker="o", label=label)
    head = result["headline"]["ssh"]
    if "baseline" in head:
        left.plot([result["nodes"]], [head["baseline"]["median"]], marker="s", linestyle="none",
                  label="baseline (one task per setting)")
    left.set(xlabel="nodes (N)", ylabel="wall time, median (s)", title="Time vs fleet size (SSH)")
    right.set(xlabel="nodes (N)", ylabel="seconds per host", title="Per-host cost vs fleet size")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.set_ylim(bottom=0)
    left.legend(fontsize=8, loc="center right")
    fig.suptitle("podnet.doctor on the podman lab, %s" % result["machine"], fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=20, help="fleet size for the headline ratios (default 20)")
    parser.add_argument("--scale", default="5,10,20,40", help="fleet sizes for the scaling sweep")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (default 3)")
    parser.add_argument("--connections", default="ssh,podman", help="connections for the headline (ssh,podman)")
    parser.add_argument("--keep", action="store_true", help="leave the bench fleet up afterwards")
    args = parser.parse_args(argv)
    scale = [int(n) for n in args.scale.split(",") if n]
    largest = max([args.nodes] + scale)
    lab = lab_fleet.Fleet(name="podnet-bench", size=largest, subnet="192.168.79.0/24")
    os.makedirs(RESULTS, exist_ok=True)
    inventory_dir = os.path.join(RESULTS, "inventory")
    os.makedirs(inventory_dir, exist_ok=True)
    result = {"nodes": args.nodes, "repeat": args.repeat, "machine": "%d cores" % os.cpu_count(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "headline": {}, "scale": {}}
    print("bench: bringing up %d lab nodes" % largest, flush=True)
    lab.down()
    try:
        lab.up()
        for connection in args.connections.split(","):
            line = measure(lab, args.nodes, connection, args.repeat,
                           ("remediate_fixed", "baseline", "faulty"), inventory_dir)
            line["ratios"] = ratios(line)
            result["headline"][connection] = line
            print("  %s ratios at N=%d: %s" % (connection, args.nodes, line["ratios"]), flush=True)
        for size in scale:
            line = measure(lab, size, "ssh", args.repeat, ("remediate_fixed",), inventory_dir)
            line["ratios"] = ratios(line)
            line["per_host"] = dict((k, round(v["median"] / size, 3)) for k, v in line.items()
                                    if isinstance(v, dict) and "median" in v)
            result["scale"][str(size)] = line
    finally:
        if not args.keep:
            lab.down()
    with open(os.path.join(RESULTS, "bench.json"), "w") as handle:
        json.dump(result, handle, indent=2)
    plot(result, os.path.join(RESULTS, "bench.png"))
    print("\nN=%d, median of %d runs each" % (args.nodes, args.repeat))
    for connection, line in result["headline"].items():
        print("  %-6s %s" % (connection, line["ratios"]))
    print("per-host cost (s) as N grows (ssh): " + ", ".join(
        "N=%s preflight %.3f, ping %.3f" % (n, line["per_host"]["preflight_clean"], line["per_host"]["ping"])
        for n, line in sorted(result["scale"].items(), key=lambda item: int(item[0]))))
    print("wrote %s and bench.png" % os.path.join(RESULTS, "bench.json"))


if __name__ == "__main__":
    main()
