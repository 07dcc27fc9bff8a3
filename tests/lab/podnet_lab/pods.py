"""A flannel-style pod network on lab nodes, built with iproute2 like flannel and a
bridge CNI would build it, so the symptoms of each fault are the real ones.

Node i (1-based) gets:
* ``cni0`` bridge 10.244.i.1/24 with two pod network namespaces, ``pod-a``
  (10.244.i.2) and ``pod-b`` (10.244.i.3), default route via cni0;
* ``flannel.1``: VXLAN VNI 1 on UDP 8472 over eth0, address 10.244.i.0/32, and for
  every peer j a route 10.244.j.0/24 via 10.244.j.0 onlink, a permanent neighbour and
  an FDB entry pointing at node j's address (flannel's vxlan backend, nolearning);
* a kube-proxy-style Service: ClusterIP 10.96.0.10:80 DNAT to pod-b:8080, where a
  socat echo server answers ``podnet-ok``.

Nothing here survives a reboot, exactly like the real CNI state: :func:`ensure`
re-creates it (idempotent) before each probe.
"""
from .podman import node_sh

POD_CIDR_PREFIX = "10.244"
CLUSTER_IP = "10.96.0.10"
SERVICE_PORT = 80
BACKEND_PORT = 8080
VXLAN_PORT = 8472


def vtep_mac(index):
    return "0e:00:00:00:00:%02x" % index


def pod_ip(index, pod="a"):
    return "%s.%d.%d" % (POD_CIDR_PREFIX, index, 2 if pod == "a" else 3)


def setup_script(fleet, index):
    """Shell for node ``index`` of ``fleet`` (lab-internal values only)."""
    sub = "%s.%d" % (POD_CIDR_PREFIX, index)
    lines = [
        "ip link show cni0 >/dev/null 2>&1 || ip link add cni0 type bridge",
        "ip addr replace %s.1/24 dev cni0" % sub,
        "ip link set cni0 up",
    ]
    for pod, host_octet in (("a", 2), ("b", 3)):
        lines += [
            "if ! ip netns list | grep -qw pod-%s; then" % pod,
            "  ip netns add pod-%s" % pod,
            "  ip link add veth-%s type veth peer name eth0 netns pod-%s" % (pod, pod),
            "  ip link set veth-%s master cni0 up" % pod,
            "  ip -n pod-%s addr add %s.%d/24 dev eth0" % (pod, sub, host_octet),
            "  ip -n pod-%s link set eth0 up" % pod,
            "  ip -n pod-%s link set lo up" % pod,
            "  ip -n pod-%s route add default via %s.1" % (pod, sub),
            "fi",
        ]
    lines += [
        "if ! ip link show flannel.1 >/dev/null 2>&1; then",
        "  ip link add flannel.1 address %s type vxlan id 1 local %s dev eth0 dstport %d "
        "nolearning" % (vtep_mac(index), fleet.address(index), VXLAN_PORT),
        "fi",
        "ip addr replace %s.0/32 dev flannel.1" % sub,
        "ip link set flannel.1 up",
    ]
    for peer in range(1, fleet.size + 1):
        if peer == index:
            continue
        psub = "%s.%d" % (POD_CIDR_PREFIX, peer)
        lines += [
            # flannel fails the same way when a host route already owns the subnet
            "ip route add %s.0/24 via %s.0 dev flannel.1 onlink 2>/dev/null || true"
            % (psub, psub),
            "ip neigh replace %s.0 lladdr %s dev flannel.1 nud permanent" % (psub, vtep_mac(peer)),
            "bridge fdb replace %s dev flannel.1 dst %s" % (vtep_mac(peer), fleet.address(peer)),
        ]
    # kube-proxy (iptables mode) style ClusterIP, and the backend in pod-b
    dnat = ("-t nat %%s PREROUTING -d %s/32 -p tcp --dport %d -j DNAT --to-destination %s:%d"
            % (CLUSTER_IP, SERVICE_PORT, pod_ip(index, "b"), BACKEND_PORT))
    lines += [
        "iptables-nft %s 2>/dev/null || iptables-nft %s" % (dnat % "-C", dnat % "-A"),
        "if ! systemctl is-active --quiet podnet-lab-echo; then",
        "  systemd-run --quiet --unit podnet-lab-echo --collect ip netns exec pod-b "
        "socat TCP-LISTEN:%d,fork,reuseaddr SYSTEM:'echo podnet-ok'" % BACKEND_PORT,
        "fi",
        # probes run right after this: wait until the backend really listens
        "for i in $(seq 50); do ip netns exec pod-b ss -Hltn 'sport = :%d' | grep -q . && break; "
        "sleep 0.1; done" % BACKEND_PORT,
    ]
    return "\n".join(lines)


def ensure(fleet, nodes=None):
    """Create (or re-create after a reboot) the pod network on the given nodes."""
    for node in nodes or fleet.nodes:
        node_sh(node, setup_script(fleet, fleet.index_of(node)))
