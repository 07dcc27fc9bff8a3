"""The kernel fixer's rp_filter and ipv6_ra areas on fixture trees, and the accept_ra guard before any IPv6
forwarding write: after the plan is applied, the checks (rp_filter.pod_links, ipv6.accept_ra) read the tree."""
import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import link_sysctl_checks, prereq_fix
from ansible_collections.podnet.doctor.tests.unit.fixture_tree import make_tree
from ansible_collections.podnet.doctor.tests.unit.plugins.module_utils.kernel.test_link_sysctl_checks import (
    ADDRESSES, DEBIAN, RA_ROUTE, SYSTEMD_DEFAULT)

DROP_IN = "etc/sysctl.d/99-zzz-podnet-doctor.conf"
NODE_NETWORKS = ["10.0.0.0/24"]
V6 = ("ipv4", "ipv6")
IPV6_FORWARDING_OFF = {"proc/sys/net/ipv4/ip_forward": "1\n", "proc/sys/net/ipv4/conf/all/forwarding": "1\n",
                       "proc/sys/net/ipv6/conf/all/forwarding": "0\n", "proc/sys/net/ipv6/conf/eth0/forwarding": "0\n",
                       "proc/sys/net/ipv6/conf/eth0/accept_ra": "1\n", "proc/sys/net/ipv6/conf/default/accept_ra": "1\n"}
ROUTES = [dict(RA_ROUTE, family="inet6")]


def tree(tmp_path, *changes):
    files = dict(DEBIAN)
    for change in changes:
        files.update(change)
    return make_tree(tmp_path, files)


def links(routes=()):
    return {"addresses": ADDRESSES, "routes": list(routes), "uplinks": ["eth0"]}


def fix(root, areas, cni="calico", families=("ipv4",), routes=(), on_override="outrank"):
    plan = prereq_fix.plan_fix(root, areas, families, on_override=on_override, options={"cni": cni},
                               links=links(routes))
    assert not plan["blockers"], plan
    prereq_fix.apply_fix(plan, root)
    return plan


def checks(root, cni="calico", families=("ipv4",), routes=()):
    found = link_sysctl_checks.evaluate(root, cni, list(families), ADDRESSES, list(routes), NODE_NETWORKS)[0]
    return dict((c["id"], c) for c in found)


def read(root, path=DROP_IN):
    with open(os.path.join(root, path)) as handle:
        return handle.read()


def test_calico_loose_all_gets_0_now_and_at_boot_then_nothing_to_do(tmp_path):
    ubuntu = {"etc/sysctl.d/10-network-security.conf": "net.ipv4.conf.default.rp_filter=2\nnet.ipv4.conf.all.rp_filter=2\n",
              "proc/sys/net/ipv4/conf/all/rp_filter": "2\n"}
    root = tree(tmp_path, ubuntu)
    assert checks(root)["rp_filter.pod_links"]["status"] == "fail"
    plan = fix(root, ["rp_filter"])
    assert plan["runtime"] == {"net.ipv4.conf.all.rp_filter": "2"}
    assert "\nnet.ipv4.conf.all.rp_filter = 0\n" in read(root)
    assert read(root, "proc/sys/net/ipv4/conf/all/rp_filter").strip() == "0"
    assert checks(root)["rp_filter.pod_links"]["status"] == "pass"
    assert not prereq_fix.plan_changes(prereq_fix.plan_fix(root, ["rp_filter"], options={"cni": "calico"},
                                                           links=links()))


def test_calico_strict_all_is_kept(tmp_path):
    # 1 is acceptable to felix: no runtime write, the drop-in still pins 0 for boot only if boot is not acceptable
    root = tree(tmp_path, {"etc/sysctl.d/10-cis.conf": "net.ipv4.conf.all.rp_filter = 1\n",
                           "proc/sys/net/ipv4/conf/all/rp_filter": "1\n"})
    plan = fix(root, ["rp_filter"])
    assert plan["runtime"] == {} and plan["outranks"] == []
    assert checks(root)["rp_filter.pod_links"]["status"] == "pass"


def test_cilium_glob_lines_existing_links_one_by_one_and_future_links(tmp_path):
    root = tree(tmp_path, SYSTEMD_DEFAULT, {"proc/sys/net/ipv4/conf/default/rp_filter": "2\n",
                                            "proc/sys/net/ipv4/conf/lxc12ab/rp_filter": "2\n",
                                            "proc/sys/net/ipv4/conf/cilium_host/rp_filter": "2\n",
                                            "proc/sys/net/ipv4/conf/eth0/rp_filter": "2\n"})
    before = checks(root, "cilium")["rp_filter.pod_links"]
    assert before["status"] == "fail" and "a new lxc_health link gets 2" in before["observed"]
    plan = fix(root, ["rp_filter"], cni="cilium")
    body = read(root)
    for line in ("net.ipv4.conf.all.rp_filter = 0", "net.ipv4.conf.lxc*.rp_filter = 0",
                 "net.ipv4.conf.cilium_*.rp_filter = 0"):
        assert "\n%s\n" % line in body
    # sysctl -w takes no glob: each existing link is written, the uplink is not touched
    assert set(plan["runtime"]) == {"net.ipv4.conf.lxc12ab.rp_filter", "net.ipv4.conf.cilium_host.rp_filter"}
    assert read(root, "proc/sys/net/ipv4/conf/eth0/rp_filter").strip() == "2"
    assert checks(root, "cilium")["rp_filter.pod_links"]["status"] == "pass"
    assert not prereq_fix.plan_changes(prereq_fix.plan_fix(root, ["rp_filter"], options={"cni": "cilium"},
                                                           links=links()))


def test_cilium_glob_in_a_later_file_is_outranked_by_name(tmp_path):
    root = tree(tmp_path, {"etc/sysctl.d/zz-hardening.conf": "net.ipv4.conf.*.rp_filter = 1\n"})
    plan = fix(root, ["rp_filter"], cni="cilium")
    assert plan["outranks"] == ["/etc/sysctl.d/zz-hardening.conf"]
    assert plan["sysctl_file"] == "/etc/sysctl.d/zz99-zzz-podnet-doctor.conf" and not plan["unresolved"]
    assert checks(root, "cilium")["rp_filter.pod_links"]["status"] == "pass"


def test_cilium_line_naming_a_future_link_cannot_be_outranked_by_a_glob(tmp_path):
    # systemd-sysctl: a key naming the link beats every glob, whatever the order (sysctl.c) - reported, not hidden
    root = tree(tmp_path, {"etc/sysctl.d/60-x.conf": "net.ipv4.conf.lxc_health.rp_filter = 1\n"})
    plan = prereq_fix.plan_fix(root, ["rp_filter"], options={"cni": "cilium"}, links=links())
    assert any("net.ipv4.conf.lxc_health.rp_filter=1" in u for u in plan["unresolved"]), plan["unresolved"]
    plan = prereq_fix.plan_fix(root, ["rp_filter"], options={"cni": "cilium"}, links=links(), on_override="comment")
    assert not plan["unresolved"] and any(e["path"] == "/etc/sysctl.d/60-x.conf" for e in plan["files"])


def test_held_glob_lines_survive_a_run_for_another_area(tmp_path):
    root = tree(tmp_path, {"proc/sys/net/ipv4/ip_forward": "0\n", "proc/sys/net/ipv4/conf/all/forwarding": "0\n"})
    fix(root, ["rp_filter"], cni="cilium")
    fix(root, ["ip_forward"], cni="cilium")
    body = read(root)
    assert "net.ipv4.conf.lxc*.rp_filter = 0" in body and "net.ipv4.ip_forward = 1" in body
    assert checks(root, "cilium")["rp_filter.pod_links"]["status"] == "pass"


@pytest.mark.parametrize("cni", ["flannel", "weave", "custom"])
def test_rp_filter_area_writes_nothing_for_a_cni_without_requirement(tmp_path, cni):
    root = tree(tmp_path, SYSTEMD_DEFAULT)
    assert not prereq_fix.plan_changes(prereq_fix.plan_fix(root, ["rp_filter"], options={"cni": cni}, links=links()))


def test_ipv6_ra_area_writes_accept_ra_2_for_the_ra_interface(tmp_path):
    root = tree(tmp_path, IPV6_FORWARDING_OFF, {"proc/sys/net/ipv6/conf/all/forwarding": "1\n",
                                                "proc/sys/net/ipv6/conf/eth0/forwarding": "1\n"})
    plan = fix(root, ["ipv6_ra"], families=V6, routes=ROUTES)
    assert plan["runtime"] == {"net.ipv6.conf.eth0.accept_ra": "1"}
    assert "\n-net.ipv6.conf.eth0.accept_ra = 2\n" in read(root)
    assert checks(root, families=V6, routes=ROUTES)["ipv6.accept_ra"]["status"] == "pass"


def test_vlan_interface_is_written_with_a_slash(tmp_path):
    route = dict(ROUTES[0], dev="eth0.100")
    root = tree(tmp_path, IPV6_FORWARDING_OFF, {"proc/sys/net/ipv6/conf/eth0.100/accept_ra": "1\n",
                                                "proc/sys/net/ipv6/conf/eth0.100/forwarding": "0\n"})
    fix(root, ["ipv6_ra"], families=V6, routes=[route])
    assert "\n-net.ipv6.conf.eth0/100.accept_ra = 2\n" in read(root)
    assert read(root, "proc/sys/net/ipv6/conf/eth0.100/accept_ra").strip() == "2"


def test_ipv6_forwarding_write_brings_accept_ra_first_even_without_the_ipv6_ra_area(tmp_path):
    # the worst case: forwarding=1 purges the RA default route of every interface whose accept_ra is not 2
    root = tree(tmp_path, IPV6_FORWARDING_OFF)
    plan = prereq_fix.plan_fix(root, ["ip_forward"], V6, options={"cni": "flannel"}, links=links(ROUTES))
    order = list(plan["runtime"])
    assert order[0] == "net.ipv6.conf.eth0.accept_ra" and "net.ipv6.conf.all.forwarding" in order, order
    body = plan["files"][-1]["after"]
    assert body.index("net.ipv6.conf.eth0.accept_ra = 2") < body.index("net.ipv6.conf.all.forwarding = 1")
    written = []
    real_open = open

    def recording_open(path, mode="r", *args, **kwargs):
        if "w" in mode and "/proc/sys/" in str(path):
            written.append(str(path).split("/proc/sys/", 1)[1])
        return real_open(path, mode, *args, **kwargs)
    prereq_fix.open = recording_open
    try:
        prereq_fix.apply_fix(plan, root)
    finally:
        del prereq_fix.open
    assert written.index("net/ipv6/conf/eth0/accept_ra") < written.index("net/ipv6/conf/all/forwarding"), written
    assert checks(root, families=V6, routes=ROUTES)["ipv6.accept_ra"]["status"] == "pass"


def test_no_guard_without_ipv6_forwarding(tmp_path):
    root = tree(tmp_path, IPV6_FORWARDING_OFF, {"proc/sys/net/ipv4/ip_forward": "0\n"})
    plan = prereq_fix.plan_fix(root, ["ip_forward"], ("ipv4",), links=links(ROUTES))
    assert "net.ipv6.conf.eth0.accept_ra" not in plan["runtime"]


def test_guard_when_the_drop_in_only_holds_ipv6_forwarding(tmp_path):
    # a ports-only run rewrites the drop-in that holds net.ipv6.conf.all.forwarding = 1: at boot it still purges
    root = tree(tmp_path, IPV6_FORWARDING_OFF, {
        DROP_IN: "# Managed by podnet.doctor\nnet.ipv6.conf.all.forwarding = 1\n",
        "proc/sys/net/ipv6/conf/all/forwarding": "1\n", "proc/sys/net/ipv6/conf/eth0/forwarding": "1\n",
        "proc/sys/net/ipv4/ip_local_reserved_ports": "\n", "proc/sys/net/ipv4/ip_local_port_range": "32768\t60999\n"})
    fix(root, ["ports"], families=V6, routes=ROUTES)
    assert "-net.ipv6.conf.eth0.accept_ra = 2" in read(root)


def test_guard_leaves_an_interface_at_0_to_its_userspace_ra_client(tmp_path):
    root = tree(tmp_path, IPV6_FORWARDING_OFF, {"proc/sys/net/ipv6/conf/eth0/accept_ra": "0\n"})
    plan = prereq_fix.plan_fix(root, ["ip_forward"], V6, links=links(ROUTES))
    assert "net.ipv6.conf.eth0.accept_ra" not in plan["runtime"]


def test_ignoring_uplink_without_default_route_gets_2(tmp_path):
    root = tree(tmp_path, IPV6_FORWARDING_OFF, {"proc/sys/net/ipv6/conf/all/forwarding": "1\n",
                                                "proc/sys/net/ipv6/conf/eth0/forwarding": "1\n"})
    addresses = [dict(ADDRESSES[0], addr_info=ADDRESSES[0]["addr_info"] + [
        {"family": "inet6", "local": "fe80::5", "prefixlen": 64, "scope": "link"}])]
    plan = prereq_fix.plan_fix(root, ["ipv6_ra"], V6, links={"addresses": addresses, "routes": [], "uplinks": ["eth0"]})
    assert plan["runtime"] == {"net.ipv6.conf.eth0.accept_ra": "1"}
