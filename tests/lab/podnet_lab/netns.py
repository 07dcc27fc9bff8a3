"""Host-side network namespaces as the cheapest real kernel: veth pairs, sysctls pinned per test,
a router advertisement sent from a raw ICMPv6 socket. Every name carries the caller's prefix."""
import json
import subprocess
import time

# An RA sender run inside a namespace or a lab node:
# ``python3 -c RA_SENDER <ifname> <router lifetime> <prefix> [<destination>]``.
# ICMPv6 type 134 (RFC 4861 4.2) with one Prefix Information option (L and A set: SLAAC), hop limit
# 255 as receivers demand; the kernel fills in the checksum of a raw ICMPv6 socket. The destination
# is all-nodes, or one node's link-local address (a solicited RA is unicast): on a lab node's podman
# bridge only that node must hear it, never the machine's own bridge interface.
RA_SENDER = r"""
import ipaddress, socket, struct, sys
ifname, lifetime, prefix = sys.argv[1], int(sys.argv[2]), ipaddress.ip_network(sys.argv[3])
destination = sys.argv[4] if len(sys.argv) > 4 else "ff02::1"
index = socket.if_nametoindex(ifname)
ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, lifetime, 0, 0)
pio = struct.pack("!BBBBIII", 3, 4, prefix.prefixlen, 0xC0, 86400, 14400, 0) + prefix.network_address.packed
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
s.sendto(ra + pio, (destination, 0, 0, index))
"""


def sh(argv, check=True):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed (rc=%d): %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()))
    return proc


def ns(name, *argv, check=True):
    return sh(["ip", "netns", "exec", name] + list(argv), check=check)


def add(name):
    sh(["ip", "netns", "add", name])
    ns(name, "ip", "link", "set", "lo", "up")


def delete(name):
    sh(["ip", "netns", "del", name], check=False)


def veth(ns_a, if_a, ns_b, if_b):
    sh(["ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b, "netns", ns_b])


def set_sysctl(name, key, value):
    ns(name, "sysctl", "-q", "-w", "%s=%s" % (key, value))


def sysctl(name, key):
    return ns(name, "sysctl", "-n", key).stdout.strip()


def up(name, ifname, *addresses):
    for address in addresses:
        ns(name, "ip", "addr", "add", address, "dev", ifname, *(["nodad"] if ":" in address else []))
    ns(name, "ip", "link", "set", ifname, "up")


def json_out(name, *argv):
    out = ns(name, *argv).stdout
    return json.loads(out) if out.strip() else []


def ra_default_routes(name):
    return [r for r in json_out(name, "ip", "-6", "-j", "route", "show", "default") if r.get("protocol") == "ra"]


def send_ra(name, ifname, lifetime=1800, prefix="2001:db8:97::/64"):
    ns(name, "python3", "-c", RA_SENDER, ifname, str(lifetime), prefix)


def wait_for(predicate, timeout=3.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def rp_filter_drops(name):
    """The kernel's count of packets reverse-path filtering dropped (TcpExt IPReversePathFilter)."""
    lines = ns(name, "cat", "/proc/net/netstat").stdout.splitlines()
    for head, values in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            return int(dict(zip(head.split()[1:], values.split()[1:]))["IPReversePathFilter"])
    raise RuntimeError("no TcpExt IPReversePathFilter in /proc/net/netstat")
