"""The kernel fixer's rp_filter and ipv6_ra areas through remediate, with the kernel as the oracle.

accept_ra: node2 sends unicast router advertisements to node1 (as in test_link_sysctls.py), which learns an
IPv6 default route. The forwarding write the fixer used to make on its own (net.ipv6.conf.all.forwarding=1)
deletes that route at once (shown first); remediate with ipv6 in podnet_ip_families now writes accept_ra=2 first, even
with ``ipv6_ra`` left out of podnet_remediate_areas, and the route stays; after a reboot (``podman restart``)
systemd-sysctl gives forwarding 1 and accept_ra 2 and the next RA brings the route. rp_filter (Cilium): a
``*.rp_filter = 2`` file reaches ``all`` and every link; remediate writes the globs; a link created after the
reboot gets 0 from udev's systemd-sysctl run. A second run and ``--check`` change nothing.
"""
import json
import re

from conftest import ansible_playbook, node_info, own_fleet
from podnet_lab import fleet as lab_fleet, probes
from podnet_lab.faults import forget_podnet_doctor, remove_file
from podnet_lab.podman import node_exec, node_sh
from test_link_sysctls import new_cilium_link, node_advertise as advertise, node_ra_routes as ra_routes, proc_rp_filter

HARDENING = "/etc/sysctl.d/60-hardening.conf"
V6 = ["ipv4", "ipv6"]


fix_fleet = own_fleet("podnet-rpra2", 2, "192.168.101.0/24")


def remediate(fleet, extra, *args):
    return ansible_playbook(fleet.inventory_path, "podnet.doctor.remediate", "-e", json.dumps(extra), *args)


def recap_changed(out):
    return int(re.search(r"node1\s+: ok=\d+\s+changed=(\d+)", out).group(1))


def ipv6_state(node):
    return node_sh(node, "cat /proc/sys/net/ipv6/conf/all/forwarding /proc/sys/net/ipv6/conf/eth0/forwarding "
                         "/proc/sys/net/ipv6/conf/eth0/accept_ra").stdout.split()


def test_remediate_with_ipv6_keeps_the_ra_default_route(fix_fleet):
    host, router = fix_fleet.node(1), fix_fleet.node(2)
    # ipv6_ra left out on purpose: the forwarding write alone must not cut the node off
    extra = {"podnet_ip_families": V6, "podnet_remediate_areas": ["ip_forward", "bridge_netfilter", "ports",
                                                                  "overlay_firewall", "netmgr"]}
    forget_podnet_doctor(host)
    lab_fleet.reboot(host)
    try:
        node_exec(host, ["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=0", "net.ipv6.conf.eth0.accept_ra=1"])
        # node2 plays a real router: IPv6 forwarding on. Otherwise its neighbour advertisements carry no Router
        # flag, and node1's kernel deletes the default route via it as soon as it resolves node2 again
        # (net/ipv6/ndisc.c ndisc_recv_na: router -> host, rt6_clean_tohost), seconds after it was learned.
        node_exec(router, ["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"])
        assert advertise(router, host, True)
        # the symptom, as the forwarding fixer alone made it: forwarding=1 deletes the RA route at once
        node_exec(host, ["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"])
        assert not ra_routes(host)
        node_exec(host, ["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=0"])
        assert advertise(router, host, True)
        before = node_info(fix_fleet.inventory_path, "node1", ip_families=V6)
        assert before["ipv6.accept_ra"]["status"] == "fail", before["ipv6.accept_ra"]
        assert before["ip_forward.runtime"]["status"] == "fail", before["ip_forward.runtime"]

        # --check plans, changes nothing: the route and the values stay
        state = probes.node_snapshot(host)
        rc, out = remediate(fix_fleet, extra, "--check", "--diff")
        assert rc == 0, out
        assert "net.ipv6.conf.eth0.accept_ra = 2" in out, out
        assert probes.node_snapshot(host) == state and ipv6_state(host) == ["0", "0", "1"]

        rc, out = remediate(fix_fleet, extra)
        assert rc == 0 and recap_changed(out) >= 1, out
        # no RA was sent since: the route the node had is the one that survived the forwarding write
        assert ipv6_state(host) == ["1", "1", "2"]
        assert ra_routes(host), "remediate cut node1's IPv6 default route"
        drop_in = node_exec(host, ["cat", "/etc/sysctl.d/99-zzz-podnet-doctor.conf"]).stdout
        assert drop_in.index("-net.ipv6.conf.eth0.accept_ra = 2") < drop_in.index("net.ipv6.conf.all.forwarding = 1")

        rc, out = remediate(fix_fleet, extra)
        assert rc == 0 and recap_changed(out) == 0, out

        lab_fleet.reboot(host)
        assert ipv6_state(host) == ["1", "1", "2"]
        assert advertise(router, host, True)  # a router's next RA: learned although forwarding is on
        after = node_info(fix_fleet.inventory_path, "node1", ip_families=V6, cni="calico")
        for check in ("ipv6.accept_ra", "rp_filter.pod_links", "ip_forward.boot"):
            assert after[check]["status"] == "pass", after[check]
        state = probes.node_snapshot(host)
        rc, out = remediate(fix_fleet, extra, "--check", "--diff")
        assert rc == 0 and recap_changed(out) == 0, out
        assert probes.node_snapshot(host) == state
    finally:
        forget_podnet_doctor(host)
        lab_fleet.reboot(host)
        lab_fleet.reboot(router)


def test_remediate_cilium_rp_filter_now_at_boot_and_on_new_links(fix_fleet):
    node = fix_fleet.node(1)
    extra = {"podnet_cni": "cilium"}
    forget_podnet_doctor(node)
    # the fault: systemd's glob without its '-net.ipv4.conf.all.rp_filter' exclusion (a hardening baseline)
    node_sh(node, "printf 'net.ipv4.conf.*.rp_filter = 2\\n' > %s" % HARDENING)
    try:
        lab_fleet.reboot(node)
        assert [proc_rp_filter(node, k) for k in ("all", "default", "eth0")] == ["2", "2", "2"]
        assert new_cilium_link(node) == "2"  # udev's run overwrites Cilium's 0 (cilium#10645)
        before = node_info(fix_fleet.inventory_path, "node1", cni="cilium")["rp_filter.pod_links"]
        assert before["status"] == "fail" and "lxc_health: effective 2 now" in before["observed"], before

        state = probes.node_snapshot(node)
        rc, out = remediate(fix_fleet, extra, "--check", "--diff")
        assert rc == 0 and "net.ipv4.conf.lxc*.rp_filter = 0" in out, out
        assert probes.node_snapshot(node) == state and proc_rp_filter(node, "lxc_health") == "2"

        rc, out = remediate(fix_fleet, extra)
        assert rc == 0 and recap_changed(out) >= 1, out
        # now: all 0 and the existing lxc link 0 (written link by link); the uplink keeps its loose 2
        assert [proc_rp_filter(node, k) for k in ("all", "lxc_health", "eth0")] == ["0", "0", "2"]
        rc, out = remediate(fix_fleet, extra)
        assert rc == 0 and recap_changed(out) == 0, out

        lab_fleet.reboot(node)
        assert proc_rp_filter(node, "all") == "0"
        assert new_cilium_link(node) == "0"
        node_sh(node, "ip link del lxc_health")  # new_cilium_link names its veth peer podnet_peer
        assert new_cilium_link(node, "cilium_vxlan") == "0"
        node_sh(node, "ip link del cilium_vxlan")
        assert new_cilium_link(node) == "0"
        node_exec(node, ["sysctl", "-q", "--system"])  # the other tool agrees
        assert proc_rp_filter(node, "lxc_health") == "0" and proc_rp_filter(node, "all") == "0"
        after = node_info(fix_fleet.inventory_path, "node1", cni="cilium")["rp_filter.pod_links"]
        assert after["status"] == "pass", after
        state = probes.node_snapshot(node)
        rc, out = remediate(fix_fleet, extra, "--check", "--diff")
        assert rc == 0 and recap_changed(out) == 0, out
        assert probes.node_snapshot(node) == state
    finally:
        node_sh(node, "ip link del lxc_health 2>/dev/null || true; ip link del cilium_vxlan 2>/dev/null || true")
        remove_file(node, HARDENING)
        forget_podnet_doctor(node)
