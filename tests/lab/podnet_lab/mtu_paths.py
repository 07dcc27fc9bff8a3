"""MTU faults and their symptom, on the flannel-style pod network of :mod:`pods`.

The fault: one node's uplink (eth0, inside its own network namespace) has a smaller MTU than
its neighbour's. Frames bigger than a link's MTU die silently where they enter it (the veth
into that node drops them), so nothing tells the sender: small packets pass, full-size ones
vanish. The overlay MTU is set like flannel's CNI does it: flannel.1, the pod veths (the
bridge plugin's ``mtu``) and ``FLANNEL_MTU`` in /run/flannel/subnet.env.

The symptom is measured on traffic: DF pings of a given size between pods, and a bulk TCP
transfer pod to pod whose receiver reports the bytes that arrived.
"""
import subprocess

from . import pods
from .podman import node_exec, node_sh
from .probes import LOSS_RE

SINK_PORT = 9100
SINK_UNIT = "podnet-lab-mtu-sink"
SUBNET_ENV = ("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.%d.1/24\nFLANNEL_MTU=%d\n"
              "FLANNEL_IPMASQ=true\n")

# reads until EOF and answers with the number of bytes it got
SINK = ("import socket\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('0.0.0.0', %d)); s.listen(1); s.settimeout(60)\n"
        "while True:\n"
        "    c, _a = s.accept(); n = 0\n"
        "    while True:\n"
        "        d = c.recv(65536)\n"
        "        if not d: break\n"
        "        n += len(d)\n"
        "    c.sendall(b'received %%d' %% n); c.close()\n" % SINK_PORT)
# sends SIZE bytes, half-closes, waits for the receiver's count (connect has its own timeout)
SOURCE = ("import socket, sys\n"
          "size, host = int(sys.argv[1]), sys.argv[2]\n"
          "s = socket.create_connection((host, %d), timeout=3)\n"
          "print('connected', flush=True)\n"
          "s.settimeout(float(sys.argv[3]))\n"
          "try:\n"
          "    s.sendall(b'x' * size); s.shutdown(socket.SHUT_WR); print(s.recv(100).decode())\n"
          "except socket.timeout:\n"
          "    print('timed out')\n" % SINK_PORT)


def set_uplink_mtu(node, mtu):
    node_exec(node, ["ip", "link", "set", "dev", "eth0", "mtu", str(mtu)])


def segment_like_a_nic(node, segments=1):
    """veth hands GSO super-packets to its peer without an MTU check (is_skb_forwardable), where a NIC
    puts MTU-sized frames on the wire: make the node's eth0 segment in software first (65535: the default)."""
    node_exec(node, ["ip", "link", "set", "dev", "eth0", "gso_max_segs", str(segments)])


def set_link_between_mtu(node, mtu):
    """The MTU of the host end of ``node``'s eth0, the bridge port every frame to the node crosses: a
    smaller link on the path that no file or interface of either node shows (this fleet's own link)."""
    ifindex = node_exec(node, ["cat", "/sys/class/net/eth0/iflink"]).stdout.strip()
    for line in subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout.splitlines():
        index, name = line.split(":")[:2]
        if index.strip() == ifindex:
            subprocess.run(["ip", "link", "set", "dev", name.strip().split("@")[0], "mtu", str(mtu)], check=True)
            return name.strip().split("@")[0]
    raise RuntimeError("no host link with ifindex %s (the peer of %s's eth0)" % (ifindex, node))


def set_overlay_mtu(fleet, index, mtu):
    """What flannel and its CNI plugin set on node ``index``: flannel.1, the pod links, subnet.env."""
    node = fleet.node(index)
    pods.ensure(fleet, [node])
    node_sh(node, "\n".join([
        # the kernel keeps a VXLAN device bound to eth0 within eth0's MTU - 50 (vxlan_change_mtu):
        # there flannel.1 stays smaller, and only the pod links and subnet.env carry the MTU
        "ip link set dev flannel.1 mtu %d 2>/dev/null || true" % mtu,
        "for pod in a b; do ip link set dev veth-$pod mtu %d; ip -n pod-$pod link set dev eth0 mtu %d; done" % (mtu, mtu),
        "mkdir -p /run/flannel",
        "printf '%s' > /run/flannel/subnet.env" % (SUBNET_ENV % (index, mtu)).replace("\n", "\\n"),
    ]))


def reassembled(node):
    """IPv4 packets ``node`` put back together from fragments so far (ReasmOKs of /proc/net/snmp, per netns)."""
    lines = [line.split() for line in node_exec(node, ["cat", "/proc/net/snmp"]).stdout.splitlines() if line.startswith("Ip:")]
    return int(dict(zip(lines[0], lines[1]))["ReasmOKs"])


def link_mtu(node, ifname, netns=None):
    command = (["ip", "netns", "exec", netns] if netns else []) + ["cat", "/sys/class/net/%s/mtu" % ifname]
    return int(node_exec(node, command).stdout.strip())


def df_ping_loss(fleet, src, dst, payload, count=3):
    """% loss of don't-fragment pings with ``payload`` bytes (IP packet = payload + 28) pod to pod."""
    proc = node_exec(fleet.node(src), ["ip", "netns", "exec", "pod-a", "ping", "-n", "-M", "do", "-s", str(payload),
                                       "-c", str(count), "-i", "0.2", "-W", "1", pods.pod_ip(dst, "b")],
                     check=False, timeout=30)
    match = LOSS_RE.search(proc.stdout + proc.stderr)
    return float(match.group(3)) if match else 100.0


def bulk_transfer(fleet, src, dst, size=1 << 20, timeout=6):
    """(connected, bytes the receiving pod got or None) for ``size`` bytes pod-a@src -> pod-b@dst."""
    receiver = fleet.node(dst)
    node_exec(receiver, ["systemctl", "stop", SINK_UNIT], check=False)
    node_exec(receiver, ["systemd-run", "--quiet", "--unit", SINK_UNIT, "--collect", "ip", "netns", "exec", "pod-b",
                         "timeout", "120", "python3", "-c", SINK])
    node_sh(receiver, "for i in $(seq 50); do ip netns exec pod-b ss -Hltn 'sport = :%d' | grep -q . && break; "
                      "sleep 0.1; done" % SINK_PORT)
    try:
        proc = node_exec(fleet.node(src), ["ip", "netns", "exec", "pod-a", "python3", "-c", SOURCE, str(size),
                                           pods.pod_ip(dst, "b"), str(timeout)], check=False, timeout=timeout + 20)
    finally:
        node_exec(receiver, ["systemctl", "stop", SINK_UNIT], check=False)
    out = proc.stdout
    got = [int(line.split()[1]) for line in out.splitlines() if line.startswith("received ")]
    return "connected" in out, (got[0] if got else None)
