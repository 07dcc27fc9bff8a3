"""Review 3: seeded sequences of kernel fixer runs for random area mixes (ip_forward, ports, rp_filter, ipv6_ra; Calico
or Cilium; IPv4 or dual stack), with the admin adding reservations and runtime rp_filter writes between runs: no run
drops a key the drop-in held, a second identical run changes nothing, and a round of single-area runs converges."""
import itertools, os, random
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

@pytest.mark.parametrize("seed", range(60))
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
