"""rp_filter.pod_links and ipv6.accept_ra on fixture trees: globs and their precedence, max(all, link),
dotted interface names, missing and unreadable keys."""
import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import accept_ra, link_sysctl_checks, rp_filter
from ansible_collections.podnet.doctor.tests.unit.fixture_tree import Link, make_tree

# Debian 12: no file sets rp_filter or accept_ra (systemd 252's package ships no 50-default.conf)
DEBIAN = {
    "usr/lib/sysctl.d/50-pid-max.conf": "kernel.pid_max = 4194304\n",
    "etc/sysctl.d/99-sysctl.conf": Link("../sysctl.conf"),
    "etc/sysctl.conf": "#net.ipv4.conf.default.rp_filter=1\n",
    "proc/sys/net/ipv4/conf/all/rp_filter": "0\n",
    "proc/sys/net/ipv4/conf/default/rp_filter": "0\n",
    "proc/sys/net/ipv4/conf/eth0/rp_filter": "0\n",
    "proc/sys/net/ipv6/conf/all/forwarding": "0\n",
    "proc/sys/net/ipv6/conf/eth0/accept_ra": "1\n",
    "proc/sys/net/ipv6/conf/eth0/forwarding": "0\n",
}
# systemd's sysctl.d/50-default.conf as shipped (systemd/systemd sysctl.d/50-default.conf): the glob, then an
# exclusion that keeps `all` at the kernel's 0
SYSTEMD_DEFAULT = {"usr/lib/sysctl.d/50-default.conf": "# systemd\nnet.ipv4.conf.default.rp_filter = 2\n"
                                                       "net.ipv4.conf.*.rp_filter = 2\n-net.ipv4.conf.all.rp_filter\n"}
# what gives Ubuntu `all = 2`: procps's /etc/sysctl.d/10-network-security.conf
UBUNTU_PROCPS = {"etc/sysctl.d/10-network-security.conf": "net.ipv4.conf.default.rp_filter=2\nnet.ipv4.conf.all.rp_filter=2\n"}
# a glob with no exclusion (a hardening baseline, or systemd 240's `all = 2`): reaches `all`
GLOB_ALL = {"etc/sysctl.d/60-hardening.conf": "net.ipv4.conf.*.rp_filter = 2\n"}
CILIUM_OVERRIDE = {"etc/sysctl.d/99-zzz-override_cilium.conf":
                   "-net.ipv4.conf.lxc*.rp_filter = 0\n-net.ipv4.conf.cilium_*.rp_filter = 0\n"
                   "net.ipv4.conf.all.rp_filter = 0\n"}
ADDRESSES = [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.0.0.5", "prefixlen": 24}]}]
RA_ROUTE = {"dst": "default", "gateway": "fe80::1", "dev": "eth0", "protocol": "ra", "flags": []}


def run(tmp_path, change=None, cni="calico", families=("ipv4",), routes=(), addresses=None, drop=()):
    addresses = ADDRESSES if addresses is None else addresses
    files = dict(DEBIAN)
    files.update(change or {})
    for key in drop:
        files.pop(key)
    root = make_tree(tmp_path, files)
    checks, facts = link_sysctl_checks.evaluate(root, cni, list(families), addresses, list(routes), ["10.0.0.0/24"])
    return dict((c["id"], c) for c in checks), facts


@pytest.mark.parametrize("cni", ["calico", "cilium"])
def test_debian_defaults_pass(tmp_path, cni):
    got, facts = run(tmp_path, cni=cni)
    assert got["rp_filter.pod_links"]["status"] == "pass", got
    assert got["ipv6.accept_ra"]["status"] == "skip"
    assert facts["rp_filter"]["uplink"] == "eth0"


@pytest.mark.parametrize("cni", ["flannel", "weave", "custom"])
def test_cni_without_requirement_is_skip(tmp_path, cni):
    got, _facts = run(tmp_path, SYSTEMD_DEFAULT, cni=cni)
    assert got["rp_filter.pod_links"]["status"] == "skip"
    assert cni in got["rp_filter.pod_links"]["observed"]


def test_ipv6_only_skips_rp_filter(tmp_path):
    assert run(tmp_path, families=("ipv6",))[0]["rp_filter.pod_links"]["status"] == "skip"


def test_calico_ubuntu_procps_file_sets_all_loose(tmp_path):
    change = dict(SYSTEMD_DEFAULT)
    change.update(UBUNTU_PROCPS)
    change["proc/sys/net/ipv4/conf/all/rp_filter"] = "2\n"
    result = run(tmp_path, change)[0]["rp_filter.pod_links"]
    assert result["status"] == "fail"
    assert "/etc/sysctl.d/10-network-security.conf line 2" in result["observed"]
    assert "net.ipv4.conf.all.rp_filter = 0" in result["fix"] and "sysctl -w net.ipv4.conf.all.rp_filter=0" in result["fix"]


def test_systemd_default_alone_keeps_calico_passing(tmp_path):
    # the exclusion line keeps `all` at 0; felix reads only conf/all
    assert run(tmp_path, dict(SYSTEMD_DEFAULT))[0]["rp_filter.pod_links"]["status"] == "pass"


def test_calico_glob_without_exclusion_at_boot_only_fails_too(tmp_path):
    result = run(tmp_path, GLOB_ALL)[0]["rp_filter.pod_links"]
    assert result["status"] == "fail" and "at boot" in result["observed"] and "now" not in result["observed"]


def test_cilium_boot_value_of_all_says_the_agent_resets_it(tmp_path):
    result = run(tmp_path, GLOB_ALL, cni="cilium")[0]["rp_filter.pod_links"]
    assert result["status"] == "fail"
    assert "net.ipv4.conf.all.rp_filter=2" in result["observed"] and "Cilium agent writes 0 at every start" in result["observed"]


def test_calico_strict_is_fine(tmp_path):
    change = {"etc/sysctl.d/10-cis.conf": "net.ipv4.conf.all.rp_filter = 1\n",
              "proc/sys/net/ipv4/conf/all/rp_filter": "1\n"}
    assert run(tmp_path, change)[0]["rp_filter.pod_links"]["status"] == "pass"


@pytest.mark.parametrize("later", [
    {"etc/sysctl.d/99-zzz-podnet-doctor.conf": "# Managed by podnet.doctor\nnet.ipv4.conf.all.rp_filter = 0\n"},
    {"etc/sysctl.d/50-default.conf": Link("/dev/null")},  # masks /usr/lib's file of the same name
    {"etc/sysctl.d/50-default.conf": ""},
])
def test_calico_later_or_masking_file_wins(tmp_path, later):
    change = dict(SYSTEMD_DEFAULT)
    change.update(later)
    assert run(tmp_path, change)[0]["rp_filter.pod_links"]["status"] == "pass"


def test_exact_line_in_an_earlier_file_beats_a_later_glob(tmp_path):
    # both tools: a glob skips every path some line names exactly, wherever that line is
    change = dict(SYSTEMD_DEFAULT)
    change["etc/sysctl.d/10-k8s.conf"] = "net.ipv4.conf.all.rp_filter = 0\n"
    assert run(tmp_path, change)[0]["rp_filter.pod_links"]["status"] == "pass"


def test_cilium_max_of_all_and_link_decides(tmp_path):
    change = {"proc/sys/net/ipv4/conf/all/rp_filter": "1\n", "proc/sys/net/ipv4/conf/lxc12ab/rp_filter": "0\n"}
    result = run(tmp_path, change, cni="cilium")[0]["rp_filter.pod_links"]
    assert result["status"] == "fail"
    assert "lxc12ab: effective 1 now (max of all=1" in result["observed"]
    assert "sysctl -w net.ipv4.conf.lxc12ab.rp_filter=0" not in result["fix"]  # the link itself is 0 already


def test_cilium_existing_link_strict(tmp_path):
    change = {"proc/sys/net/ipv4/conf/cilium_host/rp_filter": "2\n"}
    result = run(tmp_path, change, cni="cilium")[0]["rp_filter.pod_links"]
    assert result["status"] == "fail" and "sysctl -w net.ipv4.conf.cilium_host.rp_filter=0" in result["fix"]


def test_cilium_glob_reaches_future_links(tmp_path):
    result = run(tmp_path, {"etc/sysctl.d/60-hardening.conf": "net.ipv4.conf.*.rp_filter = 1\n",
                            "proc/sys/net/ipv4/conf/all/rp_filter": "0\n"}, cni="cilium")[0]["rp_filter.pod_links"]
    assert result["status"] == "fail"
    assert "a new lxc_health link gets 1 (set by /etc/sysctl.d/60-hardening.conf line 1)" in result["observed"]
    assert "net.ipv4.conf.lxc*.rp_filter = 0" in result["fix"]


def test_cilium_own_override_file_passes(tmp_path):
    change = dict(SYSTEMD_DEFAULT)
    change.update(CILIUM_OVERRIDE)
    assert run(tmp_path, change, cni="cilium")[0]["rp_filter.pod_links"]["status"] == "pass"


def test_dotted_uplink_name_uses_slash_key(tmp_path):
    addresses = [{"ifname": "eth0.100", "addr_info": [{"family": "inet", "local": "10.0.0.5", "prefixlen": 24}]}]
    change = {"proc/sys/net/ipv4/conf/eth0.100/rp_filter": "1\n",
              "etc/sysctl.d/20-vlan.conf": "net.ipv4.conf.eth0/100.rp_filter = 1\n"}
    _got, facts = run(tmp_path, change, addresses=addresses)
    uplink = facts["rp_filter"]["uplink_value"]
    assert uplink["key"] == "net.ipv4.conf.eth0/100.rp_filter"
    assert uplink["boot"]["systemd"]["value"] == "1" and uplink["boot"]["systemd"]["line"] == 1


def test_missing_all_is_error(tmp_path):
    got, _facts = run(tmp_path, drop=("proc/sys/net/ipv4/conf/all/rp_filter",))
    assert got["rp_filter.pod_links"]["status"] == "error"


def test_unreadable_is_error(tmp_path):
    change = {"proc/sys/net/ipv4/conf/lxcbad/rp_filter/x": ""}  # a directory: EISDIR
    got, _facts = run(tmp_path, change, cni="cilium")
    assert got["rp_filter.pod_links"]["status"] == "error" and "lxcbad" in got["rp_filter.pod_links"]["observed"]


# ipv6.accept_ra

def test_accept_ra_skip_without_ipv6(tmp_path):
    assert run(tmp_path, routes=[RA_ROUTE])[0]["ipv6.accept_ra"]["status"] == "skip"


def test_accept_ra_no_ra_route_passes(tmp_path):
    static = {"dst": "default", "gateway": "2001:db8::1", "dev": "eth0", "protocol": "static"}
    result = run(tmp_path, families=("ipv4", "ipv6"), routes=[static])[0]["ipv6.accept_ra"]
    assert result["status"] == "pass"


# eth0 holds the node address (10.0.0.0/24, the node network run() passes): the uplink
V6_ADDRESSES = [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.0.0.5", "prefixlen": 24},
                                                 {"family": "inet6", "local": "fe80::5", "prefixlen": 64, "scope": "link"}]},
                {"ifname": "cni0", "addr_info": [{"family": "inet6", "local": "fe80::6", "prefixlen": 64, "scope": "link"}]}]


def test_accept_ra_no_route_at_all_while_ignoring_ras_fails(tmp_path):
    # forwarding on, RA route already purged, no SLAAC address: nothing else shows a router was there
    change = {"proc/sys/net/ipv6/conf/eth0/forwarding": "1\n", "proc/sys/net/ipv6/conf/all/forwarding": "1\n",
              "proc/sys/net/ipv6/conf/cni0/forwarding": "1\n", "proc/sys/net/ipv6/conf/cni0/accept_ra": "1\n"}
    result = run(tmp_path, change, families=("ipv4", "ipv6"), addresses=V6_ADDRESSES)[0]["ipv6.accept_ra"]
    assert result["status"] == "fail" and "no IPv6 default route, and eth0 ignore" in result["observed"]
    assert "cni0" not in result["observed"] and "net.ipv6.conf.eth0.accept_ra = 2" in result["fix"]


@pytest.mark.parametrize("change,routes", [
    ({}, ()),  # forwarding 0: RAs are taken, none came: no router to lose
    ({"proc/sys/net/ipv6/conf/eth0/forwarding": "1\n", "proc/sys/net/ipv6/conf/eth0/accept_ra": "0\n"}, ()),
    ({"proc/sys/net/ipv6/conf/eth0/forwarding": "1\n"},
     [{"dst": "default", "gateway": "2001:db8::1", "dev": "eth0", "protocol": "static"}]),
])
def test_accept_ra_no_ra_route_and_nothing_ignored_passes(tmp_path, change, routes):
    result = run(tmp_path, change, families=("ipv4", "ipv6"), addresses=V6_ADDRESSES, routes=routes)[0]["ipv6.accept_ra"]
    assert result["status"] == "pass", result


def test_accept_ra_1_with_ra_route_fails(tmp_path):
    result = run(tmp_path, families=("ipv4", "ipv6"), routes=[RA_ROUTE])[0]["ipv6.accept_ra"]
    assert result["status"] == "fail"
    assert "net.ipv6.conf.eth0.accept_ra=1 now (forwarding=0)" in result["observed"]
    assert "net.ipv6.conf.eth0.accept_ra = 2" in result["fix"] and "BEFORE net.ipv6.conf.all.forwarding=1" in result["fix"]


def test_accept_ra_2_now_but_not_at_boot_fails(tmp_path):
    change = {"proc/sys/net/ipv6/conf/eth0/accept_ra": "2\n"}
    result = run(tmp_path, change, families=("ipv4", "ipv6"), routes=[RA_ROUTE])[0]["ipv6.accept_ra"]
    assert result["status"] == "fail" and "1 (kernel default, no file sets it) at boot" in result["observed"]


def test_accept_ra_2_everywhere_passes(tmp_path):
    change = {"proc/sys/net/ipv6/conf/eth0/accept_ra": "2\n",
              "etc/sysctl.d/99-zzz-podnet-doctor.conf": "# Managed by podnet.doctor\nnet.ipv6.conf.eth0.accept_ra = 2\n"}
    assert run(tmp_path, change, families=("ipv4", "ipv6"), routes=[RA_ROUTE])[0]["ipv6.accept_ra"]["status"] == "pass"


def test_accept_ra_later_glob_wins(tmp_path):
    change = {"proc/sys/net/ipv6/conf/eth0/accept_ra": "2\n",
              "etc/sysctl.d/99-zzz-podnet-doctor.conf": "net.ipv6.conf.eth0.accept_ra = 2\n",
              "etc/sysctl.d/99-zzzz-cis.conf": "net.ipv6.conf.*.accept_ra = 0\n"}
    result = run(tmp_path, change, families=("ipv4", "ipv6"), routes=[RA_ROUTE])[0]["ipv6.accept_ra"]
    # both tools: a glob skips a path that some line names exactly, so the drop-in's 2 holds
    assert result["status"] == "pass"


def test_accept_ra_later_exact_line_wins(tmp_path):
    change = {"proc/sys/net/ipv6/conf/eth0/accept_ra": "2\n",
              "etc/sysctl.d/99-zzz-podnet-doctor.conf": "net.ipv6.conf.eth0.accept_ra = 2\n",
              "etc/sysctl.d/99-zzzz-cis.conf": "net/ipv6/conf/eth0/accept_ra = 0\n"}
    result = run(tmp_path, change, families=("ipv4", "ipv6"), routes=[RA_ROUTE])[0]["ipv6.accept_ra"]
    assert result["status"] == "fail" and "99-zzzz-cis.conf line 1" in result["observed"]


def test_accept_ra_dotted_interface(tmp_path):
    route = dict(RA_ROUTE, dev="eth0.100")
    change = {"proc/sys/net/ipv6/conf/eth0.100/accept_ra": "1\n"}
    result = run(tmp_path, change, families=("ipv4", "ipv6"), routes=[route])[0]["ipv6.accept_ra"]
    assert result["status"] == "fail" and "net.ipv6.conf.eth0/100.accept_ra = 2" in result["fix"]
    assert "sysctl -w net.ipv6.conf.eth0/100.accept_ra=2" in result["fix"]


def test_accept_ra_route_gone_dynamic_address_still_tells(tmp_path):
    addresses = ADDRESSES + [{"ifname": "ens3", "addr_info": [
        {"family": "inet6", "local": "2001:db8::5", "prefixlen": 64, "scope": "global", "dynamic": True,
         "valid_life_time": 86000}]}]
    change = {"proc/sys/net/ipv6/conf/ens3/accept_ra": "1\n", "proc/sys/net/ipv6/conf/ens3/forwarding": "1\n"}
    result = run(tmp_path, change, families=("ipv4", "ipv6"), addresses=addresses)[0]["ipv6.accept_ra"]
    assert result["status"] == "fail" and "ens3 (address 2001:db8::5/64 from SLAAC/DHCPv6" in result["observed"]


def test_accept_ra_multipath_route(tmp_path):
    hops = [{"gateway": "fe80::1", "dev": "eth0"}, {"gateway": "fe80::2", "dev": "eth1"}]
    route = {"dst": "default", "protocol": "ra", "nexthops": hops}
    change = {"proc/sys/net/ipv6/conf/eth1/accept_ra": "2\n"}
    result = run(tmp_path, change, families=("ipv4", "ipv6"), routes=[route])[0]["ipv6.accept_ra"]
    assert result["status"] == "fail" and "eth0" in result["observed"] and "eth1 (" in result["observed"]


def test_accept_ra_userspace_client_is_error(tmp_path):
    change = {"proc/sys/net/ipv6/conf/eth0/accept_ra": "0\n"}
    result = run(tmp_path, change, families=("ipv4", "ipv6"), routes=[RA_ROUTE])[0]["ipv6.accept_ra"]
    assert result["status"] == "error" and "userspace RA client" in result["observed"]


def test_accept_ra_missing_key_is_error(tmp_path):
    result = run(tmp_path, families=("ipv4", "ipv6"), routes=[dict(RA_ROUTE, dev="wlan0")])[0]["ipv6.accept_ra"]
    assert result["status"] == "error" and "wlan0" in result["observed"]


def test_accept_ra_unreadable_is_error(tmp_path):
    files = {"proc/sys/net/ipv6/conf/eth0/accept_ra/x": ""}  # a directory where the value is: EISDIR
    got, _facts = run(tmp_path, files, families=("ipv4", "ipv6"), routes=[RA_ROUTE],
                      drop=("proc/sys/net/ipv6/conf/eth0/accept_ra",))
    assert got["ipv6.accept_ra"]["status"] == "error" and "accept_ra" in got["ipv6.accept_ra"]["observed"]


def test_drop_in_lines_for_the_fixer():
    assert rp_filter.drop_in_lines("cilium") == ["net.ipv4.conf.all.rp_filter = 0", "net.ipv4.conf.lxc*.rp_filter = 0",
                                                 "net.ipv4.conf.cilium_*.rp_filter = 0"]
    wanted = ["net.ipv6.conf.eth0.accept_ra = 2", "net.ipv6.conf.bond0/7.accept_ra = 2"]
    assert accept_ra.drop_in_lines(["eth0", "bond0.7"]) == wanted
