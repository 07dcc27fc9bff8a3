"""iptables.backends on a real node (issue 15): a stale iptables-legacy DROP under a clean nft setup.

The node's iptables is iptables-nft (Debian's default alternative) and shows no rules, yet a rule
left in iptables-legacy still drops the peer's VXLAN: the kernel runs the hooks of both backends.
Oracle: the lab's raw-socket receiver (podnet_lab.arrivals) and what `iptables -S` shows, never our
verdict. The check fails naming the legacy rule and the packet it drops; the flush its fix names
(run here by the test: podnet.doctor never runs it) makes the VXLAN arrive, and the check passes.
An administrator's rule left in legacy that drops nothing of the overlay's passes (named); kube-proxy's
chains left there fail. A node whose iptables is legacy with the same DROP is judged by
overlay.inbound, not this check."""
import random
import re

from conftest import node_info, own_fleet
from podnet_lab import arrivals, faults, firewall_layouts
from podnet_lab.podman import node_exec, node_sh

CHECK = "iptables.backends"
VXLAN = [("udp", 8472, "flannel VXLAN")]
STALE_RULE = ["INPUT", "-p", "udp", "-m", "udp", "--dport", "8472", "-j", "DROP"]


backends_fleet = own_fleet(firewall_layouts.FLEET_NAME, 2, firewall_layouts.SUBNET)


def vxlan_arrives(lab, rng):
    node_exec(lab.node(1), ["conntrack", "-F"], check=False)
    return arrivals.arrived(lab.node(1), lab.node(2), lab.address(1), VXLAN, rng)[("udp", 8472)]


def test_a_stale_legacy_drop_under_a_clean_nft_setup(backends_fleet):
    fleet = backends_fleet
    node, rng = fleet.node(1), random.Random(71305)
    try:
        assert vxlan_arrives(fleet, rng), "the oracle sees no VXLAN even without a firewall"
        assert node_info(fleet.inventory_path, "node1")[CHECK]["status"] == "pass"

        node_exec(node, ["iptables-legacy", "-A"] + STALE_RULE)
        # the symptom: the node's own iptables lists nothing, and still the VXLAN is dropped
        assert "(nf_tables)" in node_exec(node, ["iptables", "-V"]).stdout
        assert "8472" not in node_exec(node, ["iptables", "-S"]).stdout
        assert not vxlan_arrives(fleet, rng)

        checks = node_info(fleet.inventory_path, "node1")
        check = checks[CHECK]
        assert check["status"] == "fail", check
        assert "iptables is iptables-nft" in check["observed"] and "iptables-legacy holds filter INPUT: 1 rule" in check["observed"]
        assert "8472" in check["observed"].split("drops", 1)[1], check
        assert "update-alternatives --set iptables /usr/sbin/iptables-legacy" in check["fix"]

        # the flush the fix names, run as written
        flush = re.search(r"then flush iptables-legacy \((.*?)\) and stop", check["fix"]).group(1)
        node_sh(node, flush)
        assert vxlan_arrives(fleet, rng)
        assert node_info(fleet.inventory_path, "node1")[CHECK]["status"] == "pass"

        # an administrator's rule left in legacy that drops nothing of the overlay's: named, not a failure
        node_exec(node, ["iptables-legacy", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "ACCEPT"])
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert check["status"] == "pass" and "iptables-legacy holds filter INPUT: 1 rule" in check["observed"], check
        # kube-proxy's rules left in legacy (it moved to nft): they still DNAT a Service to a dead endpoint
        node_sh(node, "iptables-legacy -t nat -N KUBE-SERVICES && iptables-legacy -t nat -A PREROUTING -j KUBE-SERVICES && "
                      "iptables-legacy -t nat -A KUBE-SERVICES -d 10.96.0.10/32 -p udp --dport 53 -j DNAT --to-destination 10.244.9.9:53")
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert check["status"] == "fail" and "nat KUBE-SERVICES" in check["observed"], check
        node_sh(node, "iptables-legacy -F INPUT; iptables-legacy -t nat -F; iptables-legacy -t nat -X")

        # a node whose iptables IS legacy: the same rule is its firewall, judged by overlay.inbound
        faults.use_iptables_backend(node, "legacy")
        node_exec(node, ["iptables-legacy", "-A"] + STALE_RULE)
        checks = node_info(fleet.inventory_path, "node1")
        assert checks[CHECK]["status"] == "pass", checks[CHECK]
        assert checks["overlay.inbound"]["status"] == "fail", checks["overlay.inbound"]
    finally:
        node_sh(node, "iptables-legacy -F INPUT; iptables-legacy -t nat -F; iptables-legacy -t nat -X; true", check=False)
        faults.use_iptables_backend(node, "nft")


# UDP to the overlay port over the node's own IPv6 loopback: delivered through the INPUT hook of both backends
# (the lab's podman networks are IPv4-only, so no peer reaches the node over IPv6; ::1 is the IPv6 path it has)
V6_LOOPBACK_PROBE = r'''
import socket
rx = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
rx.bind(("::1", 8472))
rx.settimeout(1.0)
socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b"podnet", ("::1", 8472))
try:
    print("arrived" if rx.recv(16) == b"podnet" else "other")
except socket.timeout:
    print("dropped")
'''


def v6_arrives(node):
    return node_exec(node, ["python3", "-c", V6_LOOPBACK_PROBE]).stdout.strip() == "arrived"


def test_a_stale_ip6tables_legacy_kube_chain_under_a_clean_nft_setup(backends_fleet):
    # kube-proxy's IPv6 KUBE-FIREWALL left in ip6tables-legacy after it moved to nft: ip6tables (nft) lists nothing,
    # the kernel still drops the IPv6 packet; the check fails naming it (in an IPv4-only cluster too: it is kube-proxy's)
    node = backends_fleet.node(1)
    try:
        assert v6_arrives(node), "the oracle sees no IPv6 UDP over ::1 even without a firewall"
        node_sh(node, "ip6tables-legacy -N KUBE-FIREWALL && ip6tables-legacy -A INPUT -j KUBE-FIREWALL && "
                      "ip6tables-legacy -A KUBE-FIREWALL -p udp --dport 8472 -j DROP")
        assert "(nf_tables)" in node_exec(node, ["ip6tables", "-V"]).stdout
        assert "8472" not in node_exec(node, ["ip6tables", "-S"]).stdout
        assert not v6_arrives(node)

        for families in (["ipv4"], ["ipv4", "ipv6"]):
            check = node_info(backends_fleet.inventory_path, "node1", ip_families=families)[CHECK]
            assert check["status"] == "fail", (families, check)
            assert "ip6tables-legacy holds rules of kube-proxy or a CNI (filter INPUT, filter KUBE-FIREWALL)" in check["observed"], check
        assert "iptables-legacy holds no rules" in check["observed"], check

        # the IPv6 flush the fix names, run as written
        flush = re.search(r"then flush ip6tables-legacy \((.*?)\) and stop", check["fix"]).group(1)
        assert "ip6tables-legacy -t filter -F" in flush and " iptables-legacy" not in flush, flush
        node_sh(node, flush)
        assert v6_arrives(node)
        assert node_info(backends_fleet.inventory_path, "node1", ip_families=["ipv4", "ipv6"])[CHECK]["status"] == "pass"
    finally:
        node_sh(node, "ip6tables-legacy -F; ip6tables-legacy -X; true", check=False)
