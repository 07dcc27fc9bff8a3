"""Review 3: seeded sequences of kernel fixer runs for random area mixes (ip_forward, ports, rp_filter, ipv6_ra; Calico
or Cilium; IPv4 or dual stack), with the admin adding reservations and runtime rp_filter writes between runs: no run
drops a key the drop-in held, a second identical run changes nothing, and a round of single-area runs converges."""
import itertools
import os
import random

import pytest
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import prereq_fix
from ansible_collections.podnet.doctor.tests.unit.plugins.module_utils.kernel.test_link_sysctl_fix import (
    tree, ROUTES, ADDRESSES, IPV6_FORWARDING_OFF, SYSTEMD_DEFAULT)
from ansible_collections.podnet.doctor.tests.unit.plugins.module_utils.kernel.test_fixer_review3 import PORTS

AREAS = ["ip_forward", "ports", "rp_filter", "ipv6_ra"]


def lk():
    return {"addresses": ADDRESSES, "routes": list(ROUTES), "uplinks": ["eth0"]}


def body(root):
    out = {}
    for n in sorted(os.listdir(os.path.join(root, "etc/sysctl.d"))):
        t = open(os.path.join(root, "etc/sysctl.d", n)).read()
        if t.startswith(prereq_fix.MARKER):
            out[n] = t
    return out


# PODNET_MIX_SEEDS=2000 runs more seeds (default 60, as CI runs it)
SEEDS = int(os.environ.get("PODNET_MIX_SEEDS", "60"))


@pytest.mark.parametrize("seed", range(SEEDS))
def test_area_mixes_converge_and_keep_every_key(tmp_path, seed):
    rnd = random.Random(seed)
    extra = {"proc/sys/net/ipv4/conf/lxc1/rp_filter": "2\n", "proc/sys/net/ipv4/conf/all/rp_filter": "2\n",
             "proc/sys/net/ipv4/ip_forward": "0\n", "proc/sys/net/ipv4/conf/all/forwarding": "0\n"}
    foreign = rnd.choice([{}, {"etc/sysctl.d/99-zzzz-cis.conf": "net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.ip_local_reserved_ports = 40000\n"},
                          {"etc/sysctl.d/10-x.conf": "net.ipv4.conf.*.rp_filter = 2\n"}, SYSTEMD_DEFAULT])
    root = tree(tmp_path, PORTS, IPV6_FORWARDING_OFF, extra, foreign)
    cni = rnd.choice(["calico", "cilium"])
    fam = rnd.choice([("ipv4",), ("ipv4", "ipv6")])
    keys = set()
    for step in range(6):
        areas = rnd.sample(AREAS, rnd.randint(1, 4))
        if rnd.random() < 0.4:
            port = rnd.randint(1025, 65000)
            with open(os.path.join(root, "etc/sysctl.d/50-app%d.conf" % step), "w") as h:
                h.write("net.ipv4.ip_local_reserved_ports = %d\n" % port)
            if rnd.random() < 0.5:
                with open(os.path.join(root, "proc/sys/net/ipv4/ip_local_reserved_ports"), "w") as h:
                    h.write("%d\n" % port)
        if rnd.random() < 0.3:
            with open(os.path.join(root, "proc/sys/net/ipv4/conf/all/rp_filter"), "w") as h:
                h.write(rnd.choice(["0\n", "1\n", "2\n"]))
        plan = prereq_fix.plan_fix(root, areas, fam, options={"cni": cni, "nodeport_range": "30000-32767"}, links=lk())
        prereq_fix.apply_fix(plan, root)
        b = body(root)
        lines = set(l.lstrip("-").split(" = ")[0] for t in b.values() for l in t.splitlines() if not l.startswith("#"))
        assert keys <= lines, (step, areas, keys - lines)
        keys = lines
        again = prereq_fix.plan_fix(root, areas, fam, options={"cni": cni, "nodeport_range": "30000-32767"}, links=lk())
        assert not prereq_fix.plan_changes(again), (step, areas, again["files"], again["runtime"], again["remove"])
    # finally: one run per area (a ports run may drop a port only a runtime write held), then a second round
    # changes nothing
    options = {"cni": cni, "nodeport_range": "30000-32767"}
    for area in AREAS:
        prereq_fix.apply_fix(prereq_fix.plan_fix(root, [area], fam, options=options, links=lk()), root)
    for area in AREAS:
        plan = prereq_fix.plan_fix(root, [area], fam, options=options, links=lk())
        assert not prereq_fix.plan_changes(plan), (area, prereq_fix.changed_files(plan), plan["runtime"])


@pytest.mark.parametrize("seed", range(SEEDS))
def test_runs_for_other_cnis_and_later_reservations_converge(tmp_path, seed):
    """As above, but the runs without rp_filter pass the cni of the role that makes them (the ip_forward and
    bridge_netfilter roles default to flannel), and a hardening file may set all.rp_filter = 1 later: one round of
    single-area runs leaves nothing for a second round of any cni, both checks pass and the name stays."""
    from ansible_collections.podnet.doctor.plugins.module_utils.kernel import port_ranges
    from ansible_collections.podnet.doctor.tests.unit.plugins.module_utils.kernel.test_link_sysctl_fix import checks
    rnd = random.Random(seed)
    root = tree(tmp_path, PORTS, IPV6_FORWARDING_OFF, {
        "proc/sys/net/ipv4/conf/lxc1/rp_filter": "2\n", "proc/sys/net/ipv4/conf/all/rp_filter": "2\n",
        "proc/sys/net/ipv4/ip_forward": "0\n", "proc/sys/net/ipv4/conf/all/forwarding": "0\n"},
        rnd.choice([{}, {"etc/sysctl.d/10-network-security.conf": "net.ipv4.conf.all.rp_filter=2\n"}, SYSTEMD_DEFAULT]))
    cni = rnd.choice(["calico", "cilium"])
    fam = rnd.choice([("ipv4",), ("ipv4", "ipv6")])

    def run(areas, run_cni):
        plan = prereq_fix.plan_fix(root, areas, fam, options={"cni": run_cni, "nodeport_range": "30000-32767"}, links=lk())
        prereq_fix.apply_fix(plan, root)

    for step in range(6):
        areas = rnd.sample(AREAS, rnd.randint(1, 4))
        if rnd.random() < 0.3:
            with open(os.path.join(root, "etc/sysctl.d/%s-app%d.conf" % (rnd.choice(["50", "99-zzzz"]), step)), "w") as h:
                h.write("net.ipv4.ip_local_reserved_ports = %d\n" % rnd.randint(1025, 65000))
        if rnd.random() < 0.2:
            with open(os.path.join(root, "etc/sysctl.d/99-zzzz-cis.conf"), "w") as h:
                h.write("net.ipv4.conf.all.rp_filter = 1\n")
        run(areas, cni if "rp_filter" in areas else rnd.choice([cni, "flannel"]))
    for area in AREAS:
        run([area], cni)
    name = sorted(body(root))
    for area, run_cni in itertools.product(AREAS, [cni, "flannel"]):
        if area == "rp_filter" and run_cni == "flannel":
            continue  # a flannel rp_filter run writes nothing for rp_filter; it is not the cluster's
        plan = prereq_fix.plan_fix(root, [area], fam, options={"cni": run_cni, "nodeport_range": "30000-32767"},
                                   links=lk())
        assert not prereq_fix.plan_changes(plan), (area, run_cni, prereq_fix.changed_files(plan), plan["runtime"])
    assert sorted(body(root)) == name
    assert port_ranges.evaluate(root)[0]["status"] == "pass", port_ranges.evaluate(root)[0]
    assert checks(root, cni)["rp_filter.pod_links"]["status"] == "pass", checks(root, cni)["rp_filter.pod_links"]
