"""ports.nodeport_reserved on a real node, with the kernel as the oracle.

A sysctl.d file widens the ephemeral range into the NodePort range (30000-32767) and another
reserves port 40000 for an application (the user's own reservation). After the boot that applies
them, outgoing connections get source ports inside the NodePort range, and a NodePort listener
cannot bind such a port ("address already in use": what kube-proxy meets). node_info fails the
check; remediate reserves the range; then no connection gets a NodePort source port, port 40000 is
still reserved, and both hold after a reboot (systemd-sysctl); a second run and --check change
nothing."""
import json
import re

from conftest import ansible_playbook, node_info, own_fleet
from podnet_lab import fleet as lab_fleet, probes
from podnet_lab.faults import forget_podnet_doctor, remove_file
from podnet_lab.podman import node_exec

WIDE = "/etc/sysctl.d/60-wide-ephemeral.conf"
APP = "/etc/sysctl.d/70-app-reserved.conf"
NODEPORTS = (30000, 32767)

# The kernel starts each destination's search at a hashed offset and walks up from it, so the
# clients talk to LISTENERS listener ports (PER_LISTENER connections each, kept open so each holds
# its own source port), plus UDP_SOCKETS connected UDP sockets (a random port each), over IPv4 to
# the node's address and over IPv6 to ::1. Then a NodePort-style listener tries to bind the lowest
# NodePort an IPv4 TCP client got. Prints JSON.
CLIENTS = r"""
import errno, json, socket, sys
low, high = int(sys.argv[2]), int(sys.argv[3])
listeners, per_listener, udp_sockets = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
keep = []

tcp = []
def source_ports(family, address):
    ports, servers = [], []
    for index in range(listeners):
        server = socket.socket(family); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, 9100 + index)); server.listen(64); servers.append(server)
    for index, server in enumerate(servers):
        for _ in range(per_listener):
            client = socket.socket(family); client.connect((address, 9100 + index)); keep.append(client)
            ports.append(client.getsockname()[1]); keep.append(server.accept()[0])
            if family == socket.AF_INET:
                tcp.append(client.getsockname()[1])
    for index in range(udp_sockets):
        client = socket.socket(family, socket.SOCK_DGRAM); client.connect((address, 20000 + index))
        keep.append(client); ports.append(client.getsockname()[1])
    keep.extend(servers)
    return ports

ports = source_ports(socket.AF_INET, sys.argv[1])
ports6 = source_ports(socket.AF_INET6, "::1")  # IPv6 draws from the same (ipv4) range
inside = sorted(p for p in ports if low <= p <= high)
# a TCP listener collides with a TCP client's port (a UDP socket's port does not block it)
tcp_inside = sorted(p for p in tcp if low <= p <= high)
bind = None
if tcp_inside:
    nodeport = socket.socket(); nodeport.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        nodeport.bind(("0.0.0.0", tcp_inside[0])); nodeport.listen(1); bind = "ok"
    except OSError as exc:
        bind = errno.errorcode.get(exc.errno, str(exc.errno)) + ": " + exc.strerror
print(json.dumps({"count": len(ports), "inside": inside, "min": min(ports), "max": max(ports),
                  "count6": len(ports6), "inside6": sorted(p for p in ports6 if low <= p <= high),
                  "port_40000": 40000 in ports + ports6, "bind": bind}))
"""
LISTENERS, PER_LISTENER, UDP_SOCKETS = 400, 3, 600
CONNECTIONS = LISTENERS * PER_LISTENER + UDP_SOCKETS


ports_fleet = own_fleet("podnet-ports", 1, "192.168.93.0/24")


def connections(fleet, node):
    args = [fleet.address(1)] + [str(n) for n in NODEPORTS + (LISTENERS, PER_LISTENER, UDP_SOCKETS)]
    out = node_exec(node, ["python3", "-c", CLIENTS] + args, timeout=300).stdout
    return json.loads(out)


def proc_ports(node):
    return node_exec(node, ["sh", "-c", "cat /proc/sys/net/ipv4/ip_local_port_range "
                                        "/proc/sys/net/ipv4/ip_local_reserved_ports"]).stdout


def recap_changed(out):
    return int(re.search(r"node1\s+: ok=\d+\s+changed=(\d+)", out).group(1))


def snapshot(node):
    return probes.node_snapshot(node) + proc_ports(node)


def test_nodeport_range_reserved_now_and_after_reboot(ports_fleet):
    fleet, node = ports_fleet, ports_fleet.node(1)
    inventory = fleet.inventory_path
    node_exec(node, ["sh", "-c", 'cat > "$0"', WIDE],
              input="# lab fault: a tuning guide's wider ephemeral range\nnet.ipv4.ip_local_port_range = 32000 60999\n")
    node_exec(node, ["sh", "-c", 'cat > "$0"', APP],
              input="# the user's own reservation (an application listens on 40000)\nnet.ipv4.ip_local_reserved_ports = 40000\n")
    try:
        lab_fleet.reboot(node)  # systemd-sysctl applies both files
        assert proc_ports(node) == "32000\t60999\n40000\n"

        # the symptom: NodePorts handed out as source ports, and a NodePort listener cannot bind one
        before = connections(fleet, node)
        print("faulty node:", json.dumps(before))
        assert before["count"] == CONNECTIONS and before["inside"], before
        assert all(32000 <= p <= 32767 for p in before["inside"])
        assert before["bind"].startswith("EADDRINUSE"), before
        assert before["count6"] == CONNECTIONS and before["inside6"], before

        checks = node_info(inventory, "node1")
        result = checks["ports.nodeport_reserved"]
        assert result["status"] == "fail", result
        assert "now NodePorts 32000-32767 are handed out as source ports" in result["observed"], result
        assert WIDE + " line 2" in result["observed"] and APP + " line 2" in result["observed"], result
        assert "net.ipv4.ip_local_reserved_ports = 30000-32767,40000" in result["fix"], result

        # --check on the faulty node changes nothing
        state = snapshot(node)
        rc, out = ansible_playbook(inventory, "podnet.doctor.remediate", "--check", "--diff")
        assert rc == 0, out
        assert "30000-32767,40000" in out, out  # the diff shows the planned list
        assert snapshot(node) == state, out

        rc, out = ansible_playbook(inventory, "podnet.doctor.remediate")
        assert rc == 0 and recap_changed(out) >= 1, out
        assert proc_ports(node) == "32000\t60999\n30000-32767,40000\n"
        after = connections(fleet, node)
        print("remediated:", json.dumps(after))
        assert after["count"] == CONNECTIONS and after["inside"] == [] and not after["port_40000"], after
        assert after["count6"] == CONNECTIONS and after["inside6"] == [], after

        rc, out = ansible_playbook(inventory, "podnet.doctor.remediate")
        assert rc == 0 and recap_changed(out) == 0, out

        lab_fleet.reboot(node)  # systemd-sysctl from the kernel defaults of a new namespace
        assert proc_ports(node) == "32000\t60999\n30000-32767,40000\n"
        rebooted = connections(fleet, node)
        print("after reboot:", json.dumps(rebooted))
        assert rebooted["inside"] == rebooted["inside6"] == [] and not rebooted["port_40000"], rebooted
        checks = node_info(inventory, "node1")
        assert checks["ports.nodeport_reserved"]["status"] == "pass", checks["ports.nodeport_reserved"]

        # nothing left to do: neither a run nor --check changes anything
        state = snapshot(node)
        rc, out = ansible_playbook(inventory, "podnet.doctor.remediate")
        assert rc == 0 and recap_changed(out) == 0, out
        rc, out = ansible_playbook(inventory, "podnet.doctor.remediate", "--check", "--diff")
        assert rc == 0 and recap_changed(out) == 0, out
        assert snapshot(node) == state
    finally:
        remove_file(node, WIDE)
        remove_file(node, APP)
        forget_podnet_doctor(node)


LATER = "/etc/sysctl.d/70-app-reserved-later.conf"


def test_a_reservation_added_after_the_fix_is_kept_at_boot_after_a_second_run(ports_fleet):
    """Our drop-in sorts last and sets the whole list: a port the admin reserves in their own file after the fix
    is gone after the next boot (the kernel shows it); the check names it, a second remediate writes the union,
    and the port stays reserved across a reboot."""
    fleet, node = ports_fleet, ports_fleet.node(1)
    inventory = fleet.inventory_path
    node_exec(node, ["sh", "-c", 'cat > "$0"', WIDE],
              input="# lab fault: a tuning guide's wider ephemeral range\nnet.ipv4.ip_local_port_range = 32000 60999\n")
    try:
        lab_fleet.reboot(node)
        rc, out = ansible_playbook(inventory, "podnet.doctor.remediate")
        assert rc == 0 and recap_changed(out) >= 1, out
        assert proc_ports(node) == "32000\t60999\n30000-32767\n"

        # later: the admin reserves a port of their own, in their own file; the next boot loses it
        node_exec(node, ["sh", "-c", 'cat > "$0"', LATER],
                  input="# an application added later listens on 40001\nnet.ipv4.ip_local_reserved_ports = 40001\n")
        lab_fleet.reboot(node)
        assert proc_ports(node) == "32000\t60999\n30000-32767\n"  # the symptom: 40001 is not reserved
        result = node_info(inventory, "node1")["ports.nodeport_reserved"]
        print("after the admin's file and a reboot:", json.dumps(result))
        assert result["status"] == "fail", result
        assert ("ports 40001 that %s line 2 reserves are not reserved: our drop-in /etc/sysctl.d/99-zzz-podnet-doctor.conf"
                % LATER) in result["observed"], result

        rc, out = ansible_playbook(inventory, "podnet.doctor.remediate")
        assert rc == 0 and recap_changed(out) >= 1, out
        assert proc_ports(node) == "32000\t60999\n30000-32767,40001\n"
        rc, out = ansible_playbook(inventory, "podnet.doctor.remediate")
        assert rc == 0 and recap_changed(out) == 0, out
        lab_fleet.reboot(node)
        assert proc_ports(node) == "32000\t60999\n30000-32767,40001\n"
        result = node_info(inventory, "node1")["ports.nodeport_reserved"]
        assert result["status"] == "pass", result
    finally:
        remove_file(node, WIDE)
        remove_file(node, LATER)
        forget_podnet_doctor(node)
