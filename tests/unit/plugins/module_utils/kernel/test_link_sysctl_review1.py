"""Review of rp_filter.pod_links / ipv6.accept_ra (i14-review1): layouts the first tests did not cover.

The tests that were ``xfail(strict=True)`` (a defect, asserting the TRUE verdict) pass since the fixes noted in
each; the others pin behaviour that was checked and found right (real distribution files).
"""
from ansible_collections.podnet.doctor.tests.unit.plugins.module_utils.kernel.test_link_sysctl_checks import (
    RA_ROUTE, run)

# systemd's sysctl.d/50-default.conf as shipped since v245-ish (Ubuntu 22.04+, Fedora, Arch): the glob is
# followed by an exclusion that keeps `all` at the kernel's 0 (test_link_sysctl_checks.SYSTEMD_DEFAULT has it now)
UPSTREAM_50_DEFAULT = {"usr/lib/sysctl.d/50-default.conf":
                       "# Source route verification\n"
                       "net.ipv4.conf.default.rp_filter = 2\n"
                       "net.ipv4.conf.*.rp_filter = 2\n"
                       "-net.ipv4.conf.all.rp_filter\n"}
# Ubuntu's procps package: /etc/sysctl.d/10-network-security.conf (where Calico's "loose" fatal comes from)
UBUNTU_NETWORK_SECURITY = {"etc/sysctl.d/10-network-security.conf":
                           "net.ipv4.conf.default.rp_filter=2\nnet.ipv4.conf.all.rp_filter=2\n"}
V6 = ("ipv4", "ipv6")


def test_upstream_systemd_glob_leaves_all_alone_calico_passes(tmp_path):
    # checked correct: the engine honours `-net.ipv4.conf.all.rp_filter`; felix reads only conf/all
    change = dict(UPSTREAM_50_DEFAULT)
    change["proc/sys/net/ipv4/conf/default/rp_filter"] = "2\n"
    change["proc/sys/net/ipv4/conf/eth0/rp_filter"] = "2\n"
    got, facts = run(tmp_path, change, cni="calico")
    assert got["rp_filter.pod_links"]["status"] == "pass", got
    assert facts["rp_filter"]["all"]["boot"]["systemd"]["value"] == "0"


def test_ubuntu_calico_failure_names_procps_file_not_systemd(tmp_path):
    # checked correct; but docs/troubleshooting.md's example names 50-default.conf line 3, which on a real
    # node never sets `all` (see the exclusion line): the file users will see is 10-network-security.conf
    change = dict(UPSTREAM_50_DEFAULT)
    change.update(UBUNTU_NETWORK_SECURITY)
    change["proc/sys/net/ipv4/conf/all/rp_filter"] = "2\n"
    result = run(tmp_path, change, cni="calico")[0]["rp_filter.pod_links"]
    assert result["status"] == "fail"
    assert "10-network-security.conf line 2" in result["observed"]
    assert "50-default.conf" not in result["observed"]


def test_upstream_systemd_glob_reaches_new_cilium_links(tmp_path):
    # checked correct: all stays 0 but udev's --prefix run gives every new lxc link 2 (cilium#10645)
    result = run(tmp_path, dict(UPSTREAM_50_DEFAULT), cni="cilium")[0]["rp_filter.pod_links"]
    assert result["status"] == "fail"
    assert "a new lxc_health link gets 2 (set by /usr/lib/sysctl.d/50-default.conf line 3)" in result["observed"]
    assert "net.ipv4.conf.all.rp_filter=" not in result["observed"]


def test_cilium_link_gone_mid_scan_is_not_a_finding(tmp_path):
    # the conf directory is listed, its rp_filter is gone by the time it is read (ENOENT -> runtime None);
    # was a wrong fail ('effective None') before rp_filter.gather skipped such links
    change = {"proc/sys/net/ipv4/conf/lxc0a1b2c/forwarding": "0\n"}
    result = run(tmp_path, change, cni="cilium")[0]["rp_filter.pod_links"]
    assert result["status"] == "pass", result


IPV6_LINK_LOCAL = [
    {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.0.0.5", "prefixlen": 24},
                                     {"family": "inet6", "local": "fe80::5", "prefixlen": 64, "scope": "link"}]},
    {"ifname": "he-ipv6", "addr_info": [{"family": "inet6", "local": "2001:470:1f0a::2", "prefixlen": 64,
                                         "scope": "global"}]}]
FORWARDING_ON = {"proc/sys/net/ipv6/conf/all/forwarding": "1\n", "proc/sys/net/ipv6/conf/eth0/forwarding": "1\n",
                 "proc/sys/net/ipv6/conf/he-ipv6/forwarding": "1\n", "proc/sys/net/ipv6/conf/he-ipv6/accept_ra": "1\n"}


def test_accept_ra_default_route_through_a_tunnel_is_a_default_route(tmp_path):
    # `ip -j -6 route` prints {'dst': 'default', 'dev': ..., 'metric': 1024} with no gateway (checked in a netns)
    # (was a wrong fail, fixed: host_networks.gather_routes tags each route with its family, as here)
    tunnel = {"dst": "default", "dev": "he-ipv6", "protocol": "boot", "metric": 1024, "flags": [], "family": "inet6"}
    result = run(tmp_path, dict(FORWARDING_ON), families=V6, addresses=IPV6_LINK_LOCAL,
                 routes=[tunnel])[0]["ipv6.accept_ra"]
    assert result["status"] == "pass", result


def test_accept_ra_default_2_is_not_reported_as_kernel_default(tmp_path):
    # eth0 has 2 now and no line names it, but default.accept_ra = 2: a NIC that udev brings up after
    # systemd-sysctl.service (the usual case outside an initrd-built driver) gets 2 at every boot.
    # Whether it exists before systemd-sysctl runs is not on disk: `error` naming the race, not
    # "1 (kernel default, no file sets it)". (was a wrong fail, fixed: interface_sysctl.boot's created_later)
    change = {"etc/sysctl.d/60-ra.conf": "net.ipv6.conf.default.accept_ra = 2\n",
              "proc/sys/net/ipv6/conf/default/accept_ra": "2\n",
              "proc/sys/net/ipv6/conf/eth0/accept_ra": "2\n"}
    result = run(tmp_path, change, families=V6, routes=[RA_ROUTE])[0]["ipv6.accept_ra"]
    assert "kernel default, no file sets it" not in result["observed"], result
    assert result["status"] != "fail", result


def test_vlan_key_written_with_dots_does_not_count(tmp_path):
    # checked correct: `net.ipv6.conf.eth0.100.accept_ra = 2` names net/ipv6/conf/eth0/100/accept_ra (no such
    # path), so the VLAN keeps 1 at boot; only the '/' spelling reaches eth0.100
    route = dict(RA_ROUTE, dev="eth0.100")
    change = {"proc/sys/net/ipv6/conf/eth0.100/accept_ra": "2\n",
              "etc/sysctl.d/99-zzz-podnet-doctor.conf": "net.ipv6.conf.eth0.100.accept_ra = 2\n"}
    result = run(tmp_path, change, families=V6, routes=[route])[0]["ipv6.accept_ra"]
    assert result["status"] == "fail" and "1 (kernel default, no file sets it) at boot" in result["observed"]


def test_bridge_ignoring_ras_is_no_finding_only_the_uplink_counts(tmp_path):
    # docker0/br-*/veth with forwarding on and accept_ra 1 are not where a router advertises the node's route
    addresses = IPV6_LINK_LOCAL[:1] + [
        {"ifname": name, "addr_info": [{"family": "inet6", "local": "fe80::9", "prefixlen": 64, "scope": "link"}]}
        for name in ("docker0", "br-1a2b", "veth12", "flannel-v6.1")]
    change = {"proc/sys/net/ipv6/conf/all/forwarding": "1\n", "proc/sys/net/ipv6/conf/eth0/forwarding": "1\n",
              "proc/sys/net/ipv6/conf/eth0/accept_ra": "2\n"}
    for name in ("docker0", "br-1a2b", "veth12", "flannel-v6.1"):
        change["proc/sys/net/ipv6/conf/%s/forwarding" % name] = "1\n"
        change["proc/sys/net/ipv6/conf/%s/accept_ra" % name] = "1\n"
    result = run(tmp_path, change, families=V6, addresses=addresses)[0]["ipv6.accept_ra"]
    assert result["status"] == "pass", result
    # the uplink itself ignoring RAs still fails
    change["proc/sys/net/ipv6/conf/eth0/accept_ra"] = "1\n"
    result = run(tmp_path / "uplink", change, families=V6, addresses=addresses)[0]["ipv6.accept_ra"]
    assert result["status"] == "fail" and "eth0 ignore" in result["observed"], result


def test_default_and_kernel_value_agreeing_is_a_plain_verdict(tmp_path):
    # default.accept_ra = 0 and the kernel's 1: neither is 2, so the race does not change the verdict: fail
    change = {"etc/sysctl.d/60-ra.conf": "net.ipv6.conf.default.accept_ra = 0\n"}
    result = run(tmp_path, change, families=V6, routes=[RA_ROUTE])[0]["ipv6.accept_ra"]
    assert result["status"] == "fail" and "before or after systemd-sysctl runs" in result["observed"], result


def test_gather_routes_tags_each_family():
    from ansible_collections.podnet.doctor.plugins.module_utils.network import host_networks
    outputs = {"-4": '[{"dst": "default", "dev": "ppp0"}]', "-6": '[{"dst": "default", "dev": "he-ipv6"}]'}
    routes = host_networks.gather_routes(lambda argv: (0, outputs[argv[1]], ""))
    assert [(r["dev"], r["family"]) for r in routes] == [("ppp0", "inet"), ("he-ipv6", "inet6")]
