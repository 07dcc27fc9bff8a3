"""rp_filter.pod_links and ipv6.accept_ra against the kernel.

Host-side network namespaces (prefix ``pnrp-``) are the kernel oracle for the semantics: which
packets reverse-path filtering drops (the kernel's own IPReversePathFilter counter and the ping
that does or does not come back) and which router advertisements become a default route. Every
sysctl a test relies on is pinned: a new namespace inherits ``all``/``default`` from the host.

Lab nodes (fleet ``podnet-rpra``, 192.168.97.0/24) are the oracle for boot: ``podman restart``
runs systemd-sysctl, whose globs reach ``all``, ``default`` and eth0, and a new link gets what
udev's ``systemd-sysctl --prefix`` run gives it (the lab image has no udevd, so the test runs the
same command 99-systemd.rules runs). For accept_ra, node2 plays the router: unicast RAs to node1's
link-local address, so only node1 hears them.
"""
import json
import os

import pytest

from conftest import node_info, own_fleet
from podnet_lab import fleet as lab_fleet, netns
from podnet_lab.podman import node_exec, node_sh

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import accept_ra, link_sysctl_checks, rp_filter
from ansible_collections.podnet.doctor.tests.unit.fixture_tree import make_tree

SENDER, RECEIVER = "pnrp-s", "pnrp-r"
ROUTER, HOST = "pnrp-rtr", "pnrp-host"
DROP_IN = "/etc/sysctl.d/99-zzz-podnet-doctor.conf"
HARDENING = "/etc/sysctl.d/60-hardening.conf"


# ---------------------------------------------------------------- rp_filter, kernel semantics

@pytest.fixture
def asymmetric_pair():
    """S and R joined twice: s1-r1 10.97.1.0/24, s2-r2 10.97.2.0/24. S pings R's r2 address from
    its s1 address: the request arrives on r2, but R's route back to 10.97.1.1 leaves by r1."""
    for name in (SENDER, RECEIVER):
        netns.delete(name)
        netns.add(name)
    try:
        netns.veth(SENDER, "s1", RECEIVER, "r1")
        netns.veth(SENDER, "s2", RECEIVER, "r2")
        for name in (SENDER, RECEIVER):
            for key in ("all", "default"):
                netns.set_sysctl(name, "net.ipv4.conf.%s.rp_filter" % key, "0")
        netns.up(SENDER, "s1", "10.97.1.1/24")
        netns.up(SENDER, "s2", "10.97.2.1/24")
        netns.up(RECEIVER, "r1", "10.97.1.2/24")
        netns.up(RECEIVER, "r2", "10.97.2.2/24")
        for name, links in ((SENDER, ("s1", "s2")), (RECEIVER, ("r1", "r2"))):
            for link in links:
                netns.set_sysctl(name, "net.ipv4.conf.%s.rp_filter" % link, "0")
        # a static neighbour: S's ARP request from 10.97.1.1 on s2 would meet the same filter (arp_process),
        # uncounted; with it, every drop is the IP packet's and the kernel counts it
        mac = netns.json_out(RECEIVER, "ip", "-j", "link", "show", "r2")[0]["address"]
        netns.ns(SENDER, "ip", "neigh", "replace", "10.97.2.2", "lladdr", mac, "dev", "s2", "nud", "permanent")
        yield
    finally:
        for name in (SENDER, RECEIVER):
            netns.delete(name)


def asymmetric_ping_arrives():
    """(reply came back, packets R's rp_filter dropped meanwhile)."""
    before = netns.rp_filter_drops(RECEIVER)
    proc = netns.ns(SENDER, "ping", "-n", "-c", "1", "-W", "1", "-I", "10.97.1.1", "10.97.2.2", check=False)
    return proc.returncode == 0, netns.rp_filter_drops(RECEIVER) - before


@pytest.mark.parametrize("all_value,link_value,dropped", [
    ("0", "0", False),
    ("0", "1", True),   # strict on the link: the route back leaves by r1
    ("0", "2", False),  # loose: some route back exists
    ("1", "0", True),   # all=1 makes r2 strict although r2 says 0: max(all, link)
    ("1", "2", False),  # max(1, 2) = 2: loose
    ("2", "1", False),
])
def test_kernel_filters_with_max_of_all_and_link(asymmetric_pair, all_value, link_value, dropped):
    netns.set_sysctl(RECEIVER, "net.ipv4.conf.all.rp_filter", all_value)
    netns.set_sysctl(RECEIVER, "net.ipv4.conf.r2.rp_filter", link_value)
    arrived, drops = asymmetric_ping_arrives()
    assert (not arrived, drops >= 1) == (dropped, dropped), (arrived, drops)
    # the same path on one link (symmetric) always passes: strict mode hurts asymmetric paths only
    assert netns.ns(SENDER, "ping", "-n", "-c", "1", "-W", "1", "10.97.2.2", check=False).returncode == 0
    # our model of the kernel, fed the values the kernel shows
    shown_all = netns.sysctl(RECEIVER, "net.ipv4.conf.all.rp_filter")
    shown_link = netns.sysctl(RECEIVER, "net.ipv4.conf.r2.rp_filter")
    assert (rp_filter.effective(shown_all, shown_link) == "1") == dropped


# ---------------------------------------------------------------- accept_ra, kernel semantics

@pytest.fixture
def router_and_host():
    """A router namespace sending RAs on rtr0 to a host namespace's uplink up0 (SLAAC prefix
    2001:db8:97::/64). The host's IPv6 knobs are pinned per test."""
    for name in (ROUTER, HOST):
        netns.delete(name)
        netns.add(name)
    try:
        netns.veth(ROUTER, "rtr0", HOST, "up0")
        netns.set_sysctl(ROUTER, "net.ipv6.conf.rtr0.accept_dad", "0")
        netns.set_sysctl(HOST, "net.ipv6.conf.all.forwarding", "0")
        for key, value in (("disable_ipv6", "0"), ("accept_dad", "0"), ("forwarding", "0"), ("accept_ra", "1"),
                           ("accept_ra_defrtr", "1"), ("accept_ra_pinfo", "1"), ("autoconf", "1")):
            netns.set_sysctl(HOST, "net.ipv6.conf.up0.%s" % key, value)
        netns.up(ROUTER, "rtr0")
        netns.up(HOST, "up0")
        yield
    finally:
        for name in (ROUTER, HOST):
            netns.delete(name)


def received_ras():
    for line in netns.ns(HOST, "cat", "/proc/net/snmp6").stdout.splitlines():
        if line.startswith("Icmp6InRouterAdvertisements"):
            return int(line.split()[1])
    raise RuntimeError("no Icmp6InRouterAdvertisements in /proc/net/snmp6")


def advertise_until_route(expect_route):
    """Send RAs (as a router does, periodically) until the host has an RA default route, or for
    ~3 s when none is expected; return whether it has one and that the RAs did arrive."""
    before = received_ras()

    def sent_and_seen():
        netns.send_ra(ROUTER, "rtr0")
        return bool(netns.ra_default_routes(HOST))
    has_route = netns.wait_for(sent_and_seen, timeout=3.0 if expect_route else 1.5)
    assert received_ras() > before, "no router advertisement reached the host"
    return has_route


def verdict_on_real_state(tmp_path, drop_in=None):
    """ipv6.accept_ra on the host namespace's real kernel state: its /proc values, ``ip -j addr`` and
    ``ip -j route`` copied into a fixture root (the namespace has no sysctl.d of its own, so the boot
    files are the fixture's: none, or our drop-in)."""
    files = {}
    for path in ("net/ipv6/conf/all/forwarding", "net/ipv6/conf/up0/forwarding", "net/ipv6/conf/up0/accept_ra",
                 "net/ipv4/conf/all/rp_filter", "net/ipv4/conf/default/rp_filter"):
        files["proc/sys/" + path] = netns.ns(HOST, "cat", "/proc/sys/" + path).stdout
    if drop_in:
        files[DROP_IN.lstrip("/")] = "# Managed by podnet.doctor\n" + "\n".join(drop_in) + "\n"
    root = make_tree(tmp_path / ("tree-%d" % len(os.listdir(str(tmp_path)))), files)
    addresses = netns.json_out(HOST, "ip", "-j", "addr", "show")
    routes = netns.json_out(HOST, "ip", "-4", "-j", "route", "show", "table", "all") + netns.json_out(
        HOST, "ip", "-6", "-j", "route", "show", "table", "all")
    checks, _facts = link_sysctl_checks.evaluate(root, "flannel", ["ipv4", "ipv6"], addresses, routes, [])
    return [c for c in checks if c["id"] == accept_ra.CHECK_ID][0]


def test_forwarding_drops_the_ra_default_route_unless_accept_ra_is_2(router_and_host, tmp_path):
    # a host: forwarding 0, accept_ra 1 -> the RA gives it a default route
    assert advertise_until_route(True)
    before = verdict_on_real_state(tmp_path)
    assert before["status"] == "fail" and "up0 (default route via fe80::" in before["observed"], before
    assert "net.ipv6.conf.up0.accept_ra = 2" in before["fix"]

    # the symptom: switching forwarding on deletes the route at once, and later RAs are ignored
    netns.set_sysctl(HOST, "net.ipv6.conf.all.forwarding", "1")
    assert netns.sysctl(HOST, "net.ipv6.conf.up0.forwarding") == "1"  # all propagates to every link
    assert not netns.ra_default_routes(HOST)
    assert not advertise_until_route(False)
    gone = verdict_on_real_state(tmp_path)  # the SLAAC address still tells where the route came from
    assert gone["status"] == "fail" and "up0 (address 2001:db8:97:" in gone["observed"], gone

    # the fix: accept_ra=2 -> the next RA brings the route back although forwarding stays on
    netns.set_sysctl(HOST, "net.ipv6.conf.up0.accept_ra", "2")
    assert advertise_until_route(True)
    netns.set_sysctl(HOST, "net.ipv6.conf.all.forwarding", "1")  # a rewrite purges, but not accept_ra=2 routes
    assert netns.ra_default_routes(HOST)
    assert verdict_on_real_state(tmp_path)["status"] == "fail"  # runtime right, but no file keeps it at boot
    fixed = verdict_on_real_state(tmp_path, accept_ra.drop_in_lines(["up0"]))
    assert fixed["status"] == "pass", fixed


def test_accept_ra_2_before_forwarding_keeps_the_route(router_and_host):
    """The order the fixer must keep: accept_ra=2 first, then forwarding=1: the route never goes."""
    assert advertise_until_route(True)
    netns.set_sysctl(HOST, "net.ipv6.conf.up0.accept_ra", "2")
    netns.set_sysctl(HOST, "net.ipv6.conf.all.forwarding", "1")
    assert netns.ra_default_routes(HOST)


# ---------------------------------------------------------------- boot, on a lab node

rpra_fleet = own_fleet("podnet-rpra", 2, "192.168.97.0/24")


def proc_rp_filter(node, link):
    return node_exec(node, ["cat", "/proc/sys/net/ipv4/conf/%s/rp_filter" % link]).stdout.strip()


def new_cilium_link(node, name="lxc_health"):
    """A link created after boot, as Cilium creates lxc_health: Cilium sets its rp_filter to 0, then
    udev runs what 99-systemd.rules says for every new network device; the value left is returned."""
    node_sh(node, "ip link del %s 2>/dev/null || true; ip link add %s type veth peer name podnet_peer; "
                  "sysctl -q -w net.ipv4.conf.%s.rp_filter=0" % (name, name, name))
    rule = node_exec(node, ["grep", "-h", "systemd-sysctl", "/usr/lib/udev/rules.d/99-systemd.rules"]).stdout
    assert "--prefix=/net/ipv4/conf/$name" in rule
    node_exec(node, ["/lib/systemd/systemd-sysctl", "--prefix=/net/ipv4/conf/%s" % name,
                     "--prefix=/net/ipv6/conf/%s" % name])
    return proc_rp_filter(node, name)


def verdicts(fleet, cni, families=("ipv4",)):
    return node_info(fleet.inventory_path, "node1", cni=cni, ip_families=list(families))


def test_glob_at_boot_and_on_new_links_then_the_fix(rpra_fleet):
    node = rpra_fleet.node(1)
    node_sh(node, "rm -f %s %s" % (HARDENING, DROP_IN))
    lab_fleet.reboot(node)
    # Debian 12 ships no rp_filter line: the kernel's 0 everywhere, and both CNIs' needs hold
    assert [proc_rp_filter(node, k) for k in ("all", "default", "eth0")] == ["0", "0", "0"]
    for cni in ("calico", "cilium"):
        assert verdicts(rpra_fleet, cni)["rp_filter.pod_links"]["status"] == "pass"
    assert verdicts(rpra_fleet, "flannel")["rp_filter.pod_links"]["status"] == "skip"
    both = verdicts(rpra_fleet, "flannel", ("ipv4", "ipv6"))
    assert both["ipv6.accept_ra"]["status"] == "pass", both["ipv6.accept_ra"]  # podman's network sends no RAs

    # the fault: a glob with no '-net.ipv4.conf.all.rp_filter' exclusion (a hardening baseline; systemd's own
    # 50-default.conf excludes `all`, and Ubuntu's all=2 comes from procps's 10-network-security.conf)
    node_sh(node, "printf 'net.ipv4.conf.*.rp_filter = 2\\n' > %s" % HARDENING)
    lab_fleet.reboot(node)
    assert [proc_rp_filter(node, k) for k in ("all", "default", "eth0")] == ["2", "2", "2"]
    assert new_cilium_link(node) == "2"  # udev's systemd-sysctl run overwrites Cilium's 0 (cilium#10645)
    calico = verdicts(rpra_fleet, "calico")["rp_filter.pod_links"]
    assert calico["status"] == "fail" and "%s line 1" % HARDENING in calico["observed"], calico
    cilium = verdicts(rpra_fleet, "cilium")["rp_filter.pod_links"]
    assert cilium["status"] == "fail", cilium
    assert "lxc_health: effective 2 now" in cilium["observed"] and "a new lxc_health link gets 2" in cilium["observed"]

    # the fix the check names, in the owned drop-in (sorts after 60-hardening.conf), then a reboot
    lines = rp_filter.drop_in_lines("cilium")
    assert all(line in cilium["fix"] for line in lines)
    node_exec(node, ["sh", "-c", "cat > %s" % DROP_IN], input="# Managed by podnet.doctor\n" + "\n".join(lines) + "\n")
    lab_fleet.reboot(node)
    assert proc_rp_filter(node, "all") == "0"
    assert proc_rp_filter(node, "eth0") == "2"  # the uplink keeps the distribution's loose mode
    assert new_cilium_link(node) == "0"
    node_exec(node, ["sysctl", "-q", "--system"])  # the other tool, run by hand, agrees
    assert proc_rp_filter(node, "lxc_health") == "0" and proc_rp_filter(node, "all") == "0"
    for cni in ("calico", "cilium"):
        result = verdicts(rpra_fleet, cni)["rp_filter.pod_links"]
        assert result["status"] == "pass", result
    node_sh(node, "ip link del lxc_health; rm -f %s %s" % (HARDENING, DROP_IN))


def node_ra_routes(node):
    routes = json.loads(node_exec(node, ["ip", "-6", "-j", "route", "show", "default"]).stdout or "[]")
    return [r for r in routes if r.get("protocol") == "ra"]


def node_advertise(router, host, expect_route):
    """``router`` sends RAs to ``host``'s link-local address on eth0 until ``host`` has an RA default
    route (or for ~2 s when none is expected)."""
    link_local = [a["local"] for a in json.loads(node_exec(host, ["ip", "-6", "-j", "addr", "show", "dev", "eth0"]).stdout)[0][
        "addr_info"] if a.get("scope") == "link"][0]

    def sent_and_seen():
        node_exec(router, ["python3", "-c", netns.RA_SENDER, "eth0", "1800", "2001:db8:97::/64", link_local])
        return bool(node_ra_routes(host))
    return netns.wait_for(sent_and_seen, timeout=4.0 if expect_route else 2.0)


def test_ra_default_route_on_a_lab_node_forwarding_fix_and_reboot(rpra_fleet):
    """ipv6.accept_ra end to end on a node: node2 advertises itself as router to node1 (unicast RAs on the
    podman network); the verdicts are node_info's, over SSH."""
    host, router = rpra_fleet.node(1), rpra_fleet.node(2)
    node_sh(host, "rm -f %s; sysctl -q -w net.ipv6.conf.all.forwarding=0 net.ipv6.conf.eth0.accept_ra=1" % DROP_IN)
    # a real router forwards: without it node2's neighbour advertisements lack the Router flag and node1 deletes
    # the route via node2 when it resolves it again (ndisc_recv_na -> rt6_clean_tohost), seconds after learning it
    node_exec(router, ["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"])
    try:
        assert node_advertise(router, host, True)
        before = verdicts(rpra_fleet, "flannel", ("ipv4", "ipv6"))["ipv6.accept_ra"]
        assert before["status"] == "fail" and "eth0 (default route via fe80::" in before["observed"], before
        assert "net.ipv6.conf.eth0.accept_ra = 2" in before["fix"]

        # the symptom: the forwarding IPv6 pods need takes the route away, and RAs no longer bring it back
        node_exec(host, ["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"])
        assert not node_ra_routes(host)
        assert not node_advertise(router, host, False)
        assert verdicts(rpra_fleet, "flannel", ("ipv4", "ipv6"))["ipv6.accept_ra"]["status"] == "fail"

        # the fix the check names (accept_ra first), with the forwarding line the kernel fixer writes
        lines = accept_ra.drop_in_lines(["eth0"]) + ["net.ipv6.conf.all.forwarding = 1"]
        node_exec(host, ["sh", "-c", "cat > %s" % DROP_IN], input="# Managed by podnet.doctor\n" + "\n".join(lines) + "\n")
        node_exec(host, ["sysctl", "-q", "-w", "net.ipv6.conf.eth0.accept_ra=2"])
        assert node_advertise(router, host, True)
        assert verdicts(rpra_fleet, "flannel", ("ipv4", "ipv6"))["ipv6.accept_ra"]["status"] == "pass"

        # and after a reboot: systemd-sysctl sets forwarding 1 and accept_ra 2, the next RA gives the route
        lab_fleet.reboot(host)
        shown = node_sh(host, "cat /proc/sys/net/ipv6/conf/all/forwarding /proc/sys/net/ipv6/conf/eth0/forwarding "
                              "/proc/sys/net/ipv6/conf/eth0/accept_ra").stdout.split()
        assert shown == ["1", "1", "2"], shown
        assert node_advertise(router, host, True)
        after = verdicts(rpra_fleet, "flannel", ("ipv4", "ipv6"))["ipv6.accept_ra"]
        assert after["status"] == "pass", after
    finally:
        node_sh(host, "rm -f %s" % DROP_IN)
        lab_fleet.reboot(host)
