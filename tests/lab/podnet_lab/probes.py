"""Symptom probes: what a user of the cluster would see, measured with real traffic.

Each probe returns a :class:`ProbeResult` built from the observed packets (ping's
own loss count, the bytes a TCP client received), never from an exit code alone.
"""
import re

from . import pods
from .podman import node_exec, node_sh

LOSS_RE = re.compile(r"(\d+) packets transmitted, (\d+) received.*?(\d+(?:\.\d+)?)% packet loss")


class ProbeResult(object):
    def __init__(self, name, ok, loss=None, output=""):
        self.name = name
        self.ok = ok
        self.loss = loss
        self.output = output

    def __repr__(self):
        return "ProbeResult(%s ok=%s loss=%s)" % (self.name, self.ok, self.loss)

    def summary(self):
        if self.loss is not None:
            return "%s: %s%% packet loss" % (self.name, self.loss)
        last = (self.output.strip().splitlines() or ["no output"])[-1]
        return "%s: %s" % (self.name, "ok" if self.ok else last)


def _ping(node, netns, target, count, name):
    command = ["ip", "netns", "exec", netns] if netns else []
    command += ["ping", "-n", "-c", str(count), "-i", "0.2", "-W", "1", target]
    proc = node_exec(node, command, check=False, timeout=30 + count)
    output = proc.stdout + proc.stderr
    match = LOSS_RE.search(output)
    loss = float(match.group(3)) if match else 100.0
    loss = int(loss) if loss == int(loss) else loss
    return ProbeResult(name, match is not None and loss == 0, loss, output)


def overlay_ping(fleet, src, dst, count=5):
    """Pod on node ``src`` -> pod on node ``dst`` across flannel.1 (VXLAN UDP 8472)."""
    pods.ensure(fleet, [fleet.node(src), fleet.node(dst)])
    return _ping(fleet.node(src), "pod-a", pods.pod_ip(dst), count,
                 "pod %s -> pod %s over VXLAN" % (pods.pod_ip(src), pods.pod_ip(dst)))


def node_ping(fleet, src, dst, count=3):
    """Node to node on the node network (works even when the overlay is blocked)."""
    return _ping(fleet.node(src), None, fleet.address(dst), count,
                 "node%d -> node%d" % (src, dst))


def routed_ping(fleet, src, dst, count=3):
    """Pod on ``src`` -> node ``dst``'s address: node ``src`` must forward the packet."""
    pods.ensure(fleet, [fleet.node(src), fleet.node(dst)])
    return _ping(fleet.node(src), "pod-a", fleet.address(dst), count,
                 "pod %s -> node%d (routed by node%d)" % (pods.pod_ip(src), dst, src))


def clusterip(fleet, index, timeout=3):
    """pod-a -> ClusterIP -> pod-b on the same bridge (needs bridge-nf-call-iptables=1
    so the bridged reply is un-DNATed by conntrack, and ip_forward=1)."""
    node = fleet.node(index)
    pods.ensure(fleet, [node])
    target = "TCP:%s:%d,connect-timeout=%d" % (pods.CLUSTER_IP, pods.SERVICE_PORT, timeout)
    proc = node_exec(node, ["timeout", str(timeout + 3), "ip", "netns", "exec", "pod-a",
                            "socat", "-T", str(timeout), "-", target],
                     check=False, timeout=timeout + 10, input="")
    output = (proc.stdout + proc.stderr).strip()
    return ProbeResult("pod %s -> ClusterIP %s:%d -> pod %s" % (
        pods.pod_ip(index), pods.CLUSTER_IP, pods.SERVICE_PORT, pods.pod_ip(index, "b")),
        "podnet-ok" in proc.stdout, None, output or "no answer (timed out)")


def sysctl_value(node, key):
    """The live value read from /proc/sys on the node."""
    path = "/proc/sys/" + key.replace(".", "/")
    return node_exec(node, ["cat", path]).stdout.strip()


def pod_connect(fleet, src, dst, timeout=5):
    """TCP from the pod on ``src`` to the backend pod on ``dst`` (what an app sees:
    'No route to host' when a host route captures the pod subnet)."""
    pods.ensure(fleet, [fleet.node(src), fleet.node(dst)])
    target = "TCP:%s:%d,connect-timeout=%d" % (pods.pod_ip(dst, "b"), pods.BACKEND_PORT, timeout)
    proc = node_exec(fleet.node(src), ["timeout", str(timeout + 3), "ip", "netns", "exec",
                                       "pod-a", "socat", "-T", str(timeout), "-", target],
                     check=False, timeout=timeout + 10, input="")
    output = (proc.stdout + proc.stderr).strip()
    return ProbeResult("pod %s -> pod %s:%d (TCP)" % (
        pods.pod_ip(src), pods.pod_ip(dst, "b"), pods.BACKEND_PORT),
        "podnet-ok" in proc.stdout, None, output or "no answer (timed out)")


SNAPSHOT_SCRIPT = r"""
find /etc -xdev \( -type f -o -type l \) -printf '%p %m %U %s %l\n' 2>/dev/null | sort
find /etc -xdev -type f -exec sha256sum {} + 2>/dev/null | sort
for key in net/ipv4/ip_forward net/ipv6/conf/all/forwarding \
           net/bridge/bridge-nf-call-iptables net/bridge/bridge-nf-call-ip6tables; do
    echo "$key=$(cat /proc/sys/$key 2>/dev/null)"
done
cat /proc/modules 2>/dev/null || echo "(no loadable module support)"
nft list ruleset 2>&1
iptables-legacy-save 2>&1 | grep -v '^#'
iptables-nft-save 2>&1 | grep -v '^#'
true  # an empty ruleset makes grep exit 1; this is a read, not a check
"""


def node_snapshot(node):
    """Everything a fix could change on a node: /etc (names, modes, hashes), the
    relevant /proc/sys values, loaded modules and every ruleset."""
    return node_exec(node, ["sh", "-c", SNAPSHOT_SCRIPT], timeout=120).stdout


OUTSIDER_SUBNET = "192.168.98.0/24"
OUTSIDER_MAC = "0e:00:00:00:00:63"
OUTSIDER_OVERLAY = "10.244.99.0"


def outsider_overlay_ping(fleet, index, count=5):
    """Real VXLAN (UDP 8472) to node ``index`` from a host OUTSIDE the node network.

    A lab container on its own network (192.168.98.0/24, which node ``index`` is
    also attached to) plays a flannel peer: its VTEP pings node ``index``'s
    flannel.1 address. With no firewall it answers; an opening scoped to the node
    network must keep dropping it."""
    import ipaddress
    from . import fleet as lab_fleet
    from .podman import run
    net = ipaddress.ip_network(OUTSIDER_SUBNET)
    network, outsider = "%s-outside" % fleet.name, "%s-outsider" % fleet.name
    out_ip, node_ip = str(net.network_address + 50), str(net.network_address + 10 + index)
    node = fleet.node(index)
    if run(["network", "exists", network], check=False).returncode != 0:
        run(["network", "create", "--subnet", OUTSIDER_SUBNET, "--label", "%s=%s" % (lab_fleet.LABEL, fleet.name),
             network])
    if run(["container", "exists", outsider], check=False).returncode != 0:
        run(["run", "-d", "--name", outsider, "--privileged", "--network", network, "--ip", out_ip,
             "--label", "%s=%s" % (lab_fleet.LABEL, fleet.name), "--entrypoint", "sleep",
             "localhost/podnet-node:latest", "infinity"])
    inspect = run(["inspect", node, "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"]).stdout
    if network not in inspect.split():
        # a fixed MAC, as a real server keeps across reboots (podman picks a new one per start)
        mac = "02:00:" + ":".join("%02x" % int(o) for o in node_ip.split("."))
        run(["network", "connect", "--ip", node_ip, "--mac-address", mac, network, node])
    pods.ensure(fleet, [node])
    target = "%s.%d.0" % (pods.POD_CIDR_PREFIX, index)
    node_sh(outsider, "\n".join([
        "ip link show flannel.1 >/dev/null 2>&1 || ip link add flannel.1 address %s type vxlan id 1 local %s "
        "dev eth0 dstport %d nolearning" % (OUTSIDER_MAC, out_ip, pods.VXLAN_PORT),
        "ip addr replace %s/32 dev flannel.1" % OUTSIDER_OVERLAY,
        "ip link set flannel.1 up",
        "ip route replace %s.%d.0/24 via %s dev flannel.1 onlink" % (pods.POD_CIDR_PREFIX, index, target),
        "ip neigh replace %s lladdr %s dev flannel.1 nud permanent" % (target, pods.vtep_mac(index)),
        "bridge fdb replace %s dev flannel.1 dst %s" % (pods.vtep_mac(index), node_ip),
    ]))
    node_sh(node, "\n".join([
        "ip route replace %s.99.0/24 via %s dev flannel.1 onlink" % (pods.POD_CIDR_PREFIX, OUTSIDER_OVERLAY),
        "ip neigh replace %s lladdr %s dev flannel.1 nud permanent" % (OUTSIDER_OVERLAY, OUTSIDER_MAC),
        "bridge fdb replace %s dev flannel.1 dst %s" % (OUTSIDER_MAC, out_ip),
    ]))
    # a fresh attachment needs ARP first; warm the underlay (not part of the measurement)
    for _attempt in range(20):
        if _ping(outsider, None, node_ip, 1, "underlay").ok:
            break
    return _ping(outsider, None, target, count, "outsider %s -> node%d over VXLAN" % (out_ip, index))
