"""Symptom probes: what a user of the cluster would see, measured with real traffic.

Each probe returns a :class:`ProbeResult` built from the observed packets (ping's
own loss count, the bytes a TCP client received), never from an exit code alone.
"""
import re

from . import pods
from .podman import node_exec

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
