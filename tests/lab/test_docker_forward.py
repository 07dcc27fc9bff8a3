"""Docker's FORWARD policy DROP, with a real dockerd (Debian bookworm's docker.io 20.10.24, the lab's
``docker`` image variant; it only sets up iptables here, no container runs).

dockerd sets the filter FORWARD policy to DROP when it had to turn ip_forward on itself, at every
start (moby bridge driver, setupIPForwarding). The fault is what makes it do that at every boot: a
hardening drop-in with ``net.ipv4.ip_forward = 0``, so dockerd turns forwarding on and drops
everything it does not forward itself, pod traffic included.

Oracle: a TCP connection from a pod on node1 to a pod on node2 (flannel-style VXLAN, tests/lab
podnet_lab/pods.py) that times out or answers, after the fix, after ``systemctl restart docker`` and
after a reboot (``podman restart``); the rulesets the kernel holds (Docker's chains compared line by
line before and after); /etc and the rulesets unchanged by a ``--check`` run."""
import json
import os
import re
import subprocess

from conftest import REPO, node_info, own_fleet
from podnet_lab import fleet as lab_fleet, probes
from podnet_lab.podman import node_exec, node_sh

# tests/conftest.py makes the checkout importable as the collection
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import docker_forward

HARDENING = "/etc/sysctl.d/99-zz-hardening.conf"
POD_CIDR = "10.244.0.0/16"

fleet = own_fleet("podnet-dkr", 2, "192.168.107.0/24", image_variant="docker")


def overlay_firewall(lab, host, *flags):
    """The overlay fixer ad hoc on ``host`` (JSON result)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    args = {"cni": "flannel", "cni_mode": "vxlan", "node_networks": [str(lab.subnet)], "pod_cidr": POD_CIDR}
    proc = subprocess.run(["ansible", "-i", lab.inventory_path, host, "-m", "podnet.doctor.overlay_firewall",
                           "-a", json.dumps(args)] + list(flags),
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    data = json.JSONDecoder().raw_decode(proc.stdout)[0]
    return data["plays"][0]["tasks"][0]["hosts"][host]


def filter_dump(node):
    return node_exec(node, ["iptables-nft-save", "-t", "filter"]).stdout


def dockers_own(dump):
    """Docker's part of the filter table: every line but counters, comments and DOCKER-USER's rules."""
    return [re.sub(r" \[\d+:\d+\]$", "", line) for line in dump.splitlines()
            if not line.startswith("#") and not line.startswith("-A DOCKER-USER")]


def user_rules(dump):
    return [line for line in dump.splitlines() if line.startswith("-A DOCKER-USER")]


def forward_policy(dump):
    return next(line.split()[1] for line in dump.splitlines() if line.startswith(":FORWARD "))


def wait_docker(node):
    node_sh(node, "for i in $(seq 100); do systemctl is-active --quiet docker && iptables-nft -S DOCKER-USER >/dev/null 2>&1 "
                  "&& break; sleep 0.2; done; systemctl is-active docker")


def test_docker_forward_drop_named_fixed_in_docker_user_and_kept_over_restart_and_reboot(fleet):
    node = fleet.node(2)
    wait_docker(node)
    # dockerd started with ip_forward already 1 (the node inherits it): policy ACCEPT, pods talk
    assert forward_policy(filter_dump(node)) == "ACCEPT"
    assert probes.pod_connect(fleet, 1, 2).ok

    # the fault: forwarding off at boot; dockerd turns it on and sets DROP, at this start and every boot
    node_sh(node, "printf 'net.ipv4.ip_forward = 0\\n' > %s; sysctl -qw net.ipv4.ip_forward=0; systemctl restart docker" % HARDENING)
    wait_docker(node)
    assert probes.sysctl_value(node, "net.ipv4.ip_forward") == "1"  # dockerd turned it on
    before = filter_dump(node)
    assert forward_policy(before) == "DROP"
    symptom = probes.pod_connect(fleet, 1, 2)
    assert not symptom.ok, symptom.output
    assert probes.overlay_ping(fleet, 1, 2, count=3).loss == 100

    check = node_info(fleet.inventory_path, "node2")["overlay.forward"]
    print("overlay.forward with Docker's DROP: %s" % json.dumps(check, indent=1))
    assert check["status"] == "fail", check
    assert "policy DROP of FORWARD, set by Docker" in check["observed"] and "at every start" in check["observed"]
    # dockerd 20.10's DOCKER-USER holds only its "-j RETURN" (rule 1): ours go just above it, tied to flannel's interfaces
    assert "iptables-nft -w -I DOCKER-USER 1 -i cni0 -o flannel.1 -d 10.244.0.0/16" in check["fix"], check["fix"]
    assert "-I DOCKER-USER 1 -s 10.244.0.0/16" not in check["fix"] and docker_forward.UNIT_PATH in check["fix"]

    snapshot = probes.node_snapshot(node)
    dry = overlay_firewall(fleet, "node2", "--check", "--diff")
    assert dry["changed"] and not dry.get("failed"), dry
    assert probes.node_snapshot(node) == snapshot, "--check changed the node"

    fixed = overlay_firewall(fleet, "node2", "--diff")
    assert fixed["changed"] and not fixed.get("failed"), fixed
    assert any(d.get("after_header") == docker_forward.UNIT_PATH for d in fixed["diff"]), fixed["diff"]
    after = filter_dump(node)
    assert dockers_own(after) == dockers_own(before), "Docker's own chains or its policy changed"
    # our five accepts (cni0<->flannel.1, cni0<->eth0, cni0->cni0), then Docker's RETURN, still last
    assert len(user_rules(after)) == 6 and user_rules(after)[-1] == "-A DOCKER-USER -j RETURN", user_rules(after)
    assert probes.pod_connect(fleet, 1, 2).ok
    assert node_info(fleet.inventory_path, "node2")["overlay.forward"]["status"] == "pass"
    again = overlay_firewall(fleet, "node2")
    assert not again["changed"], again

    # dockerd restarted (setting DROP again, as it does when it turns forwarding on): DOCKER-USER kept
    node_sh(node, "sysctl -qw net.ipv4.ip_forward=0; systemctl restart docker")
    wait_docker(node)
    restarted = filter_dump(node)
    assert forward_policy(restarted) == "DROP"
    assert user_rules(restarted) == user_rules(after), "accepts lost or doubled by the restart"
    assert probes.pod_connect(fleet, 1, 2).ok

    # reboot: the tables start empty, systemd-sysctl sets 0, dockerd turns it on with DROP, our unit re-adds
    lab_fleet.reboot(node)
    wait_docker(node)
    node_sh(node, "for i in $(seq 50); do systemctl is-active --quiet %s && break; sleep 0.2; done" % docker_forward.UNIT)
    booted = filter_dump(node)
    assert forward_policy(booted) == "DROP", "the fault did not come back at boot: nothing was proven"
    assert sorted(user_rules(booted)) == sorted(user_rules(after))
    assert dockers_own(booted) == dockers_own(before)
    assert probes.pod_connect(fleet, 1, 2).ok
    assert probes.overlay_ping(fleet, 1, 2, count=3).loss == 0
    assert node_info(fleet.inventory_path, "node2")["overlay.forward"]["status"] == "pass"
    assert not overlay_firewall(fleet, "node2")["changed"]


CONTAINER_IP = "172.17.0.2"
CONTAINER_PORT = 9090
# the administrator's own policy, first in DOCKER-USER: no ICMP out over the overlay (pods' TCP still flows)
ADMIN_DROP = ["-o", "flannel.1", "-p", "icmp", "-j", "DROP"]
OLD_FIX = [["-s", POD_CIDR, "-j", "ACCEPT"], ["-d", POD_CIDR, "-j", "ACCEPT"]]


def start_container(node):
    """What dockerd does for a container on the default bridge, by hand (the lab has no image to run): a network
    namespace on docker0 with 172.17.0.2, a TCP service on 9090 that no -p published (no DNAT, no DOCKER accept)."""
    node_sh(node, "ip netns add dkr-ctr; ip link add dkr-veth type veth peer name eth0 netns dkr-ctr; "
                  "ip link set dkr-veth master docker0 up; ip -n dkr-ctr addr add %s/16 dev eth0; ip -n dkr-ctr link set eth0 up; "
                  "ip -n dkr-ctr link set lo up; ip -n dkr-ctr route add default via 172.17.0.1; "
                  "systemd-run --quiet --unit dkr-ctr-echo --collect ip netns exec dkr-ctr socat TCP-LISTEN:%d,fork,reuseaddr "
                  "SYSTEM:'echo container-ok'; for i in $(seq 50); do ip netns exec dkr-ctr ss -Hltn 'sport = :%d' | grep -q . "
                  "&& break; sleep 0.1; done" % (CONTAINER_IP, CONTAINER_PORT, CONTAINER_PORT))
    # the port answers on the node itself (docker0 is local): the service is up, whatever FORWARD does
    assert "container-ok" in node_sh(node, "socat -T 3 - TCP:%s:%d,connect-timeout=3 </dev/null" % (CONTAINER_IP, CONTAINER_PORT)).stdout


def pod_to_container(node):
    """TCP from the pod namespace pod-a of ``node`` to the container's unpublished port (forwarded cni0 -> docker0)."""
    proc = node_exec(node, ["timeout", "8", "ip", "netns", "exec", "pod-a", "socat", "-T", "3", "-",
                            "TCP:%s:%d,connect-timeout=3" % (CONTAINER_IP, CONTAINER_PORT)], check=False, timeout=15, input="")
    return "container-ok" in proc.stdout


def test_fix_leaves_unpublished_container_ports_and_the_admins_drop_in_force(fleet):
    """The accepts are tied to the CNI's interfaces (a container port that is not published stays unreachable
    from pods) and go below the administrator's own rules in DOCKER-USER (an admin DROP placed first still drops)."""
    node = fleet.node(2)
    wait_docker(node)
    node_sh(node, "sysctl -qw net.ipv4.ip_forward=0; systemctl restart docker")  # Docker's DROP, as after the fault
    wait_docker(node)
    node_sh(node, "iptables-nft -F DOCKER-USER; iptables-nft -A DOCKER-USER -j RETURN")  # what dockerd leaves at boot
    assert forward_policy(filter_dump(node)) == "DROP"
    try:
        start_container(node)
        probes.pod_connect(fleet, 1, 2)  # pods on both nodes (pods.ensure)
        assert not pod_to_container(node), "Docker's own isolation does not hold even before any fix"
        # the former fix (a bare pod-CIDR accept at the top of DOCKER-USER) opened the unpublished port to pods
        for args in OLD_FIX:
            node_exec(node, ["iptables-nft", "-I", "DOCKER-USER", "1"] + args)
        assert pod_to_container(node), "the bypass of the former fix did not show: nothing is proven below"
        for args in OLD_FIX:
            node_exec(node, ["iptables-nft", "-D", "DOCKER-USER"] + args)

        node_exec(node, ["iptables-nft", "-I", "DOCKER-USER", "1"] + ADMIN_DROP)
        admin = user_rules(filter_dump(node))[0]
        assert not probes.pod_connect(fleet, 1, 2).ok  # Docker's DROP still drops pod traffic
        fixed = overlay_firewall(fleet, "node2")
        assert fixed["changed"] and not fixed.get("failed"), fixed
        rules = user_rules(filter_dump(node))
        assert rules[0] == admin and rules[-1] == "-A DOCKER-USER -j RETURN", rules
        assert probes.pod_connect(fleet, 1, 2).ok and probes.pod_connect(fleet, 2, 1).ok  # pod traffic flows
        assert probes.overlay_ping(fleet, 1, 2, count=3).loss == 100, "the admin's DROP stopped dropping ICMP over the overlay"
        assert not pod_to_container(node), "pods reach a container port Docker did not publish"
        assert node_info(fleet.inventory_path, "node2")["overlay.forward"]["status"] == "pass"

        # the unit's shell puts them at the same place when it re-adds them (as after a reboot)
        node_sh(node, "iptables-nft -F DOCKER-USER; iptables-nft -A DOCKER-USER %s; iptables-nft -A DOCKER-USER -j RETURN; "
                      "systemctl restart %s" % (" ".join(ADMIN_DROP), docker_forward.UNIT))
        assert sorted(user_rules(filter_dump(node))[1:-1]) == sorted(rules[1:-1]) and user_rules(filter_dump(node))[0] == admin
        assert probes.overlay_ping(fleet, 2, 1, count=3).loss == 100 and probes.pod_connect(fleet, 1, 2).ok

        # the admin's rule is what drops the ICMP: without it, ping crosses the overlay too
        node_exec(node, ["iptables-nft", "-D", "DOCKER-USER"] + ADMIN_DROP)
        assert probes.overlay_ping(fleet, 1, 2, count=3).loss == 0
        assert not pod_to_container(node)
    finally:
        node_sh(node, "systemctl stop dkr-ctr-echo 2>/dev/null || true; ip netns del dkr-ctr 2>/dev/null || true; "
                      "iptables-nft -D DOCKER-USER %s 2>/dev/null || true" % " ".join(ADMIN_DROP), check=False)


def test_runtime_only_accept_fails_before_the_reboot_that_loses_it(fleet):
    """DOCKER-USER filled by hand: passes now, dropped after a reboot; the check says so first."""
    node = fleet.node(1)
    wait_docker(node)
    node_sh(node, "printf 'net.ipv4.ip_forward = 0\\n' > %s; sysctl -qw net.ipv4.ip_forward=0; systemctl restart docker" % HARDENING)
    wait_docker(node)
    for flag in ("-s", "-d"):
        node_exec(node, ["iptables-nft", "-I", "DOCKER-USER", "1", flag, POD_CIDR, "-j", "ACCEPT"])
    assert probes.pod_connect(fleet, 2, 1).ok
    check = node_info(fleet.inventory_path, "node1")["overlay.forward"]
    assert check["status"] == "fail" and "nothing adds the pod accept back after a reboot" in check["observed"], check
    lab_fleet.reboot(node)
    wait_docker(node)
    assert forward_policy(filter_dump(node)) == "DROP"
    assert not probes.pod_connect(fleet, 2, 1).ok, "the verdict said it would break at boot, and it did not"


def test_forwarding_on_at_boot_dockerd_leaves_the_policy_and_a_runtime_accept_passes(fleet):
    """ip_forward pinned to 1 at boot: dockerd has nothing to turn on, the policy stays ACCEPT after the
    reboot, so the runtime-only accept (made while Docker's DROP is still in force) is no boot gap."""
    node = fleet.node(1)
    node_sh(node, "rm -f %s; printf 'net.ipv4.ip_forward = 1\\n' > /etc/sysctl.d/90-kubernetes.conf; "
                  "sysctl -qw net.ipv4.ip_forward=0; systemctl restart docker" % HARDENING)
    wait_docker(node)
    assert forward_policy(filter_dump(node)) == "DROP"
    assert not probes.pod_connect(fleet, 2, 1).ok
    for flag in ("-s", "-d"):
        node_exec(node, ["iptables-nft", "-I", "DOCKER-USER", "1", flag, POD_CIDR, "-j", "ACCEPT"])
    assert probes.pod_connect(fleet, 2, 1).ok
    check = node_info(fleet.inventory_path, "node1")["overlay.forward"]
    assert check["status"] == "pass", check
    lab_fleet.reboot(node)
    wait_docker(node)
    assert forward_policy(filter_dump(node)) == "ACCEPT"
    assert probes.pod_connect(fleet, 2, 1).ok
    assert node_info(fleet.inventory_path, "node1")["overlay.forward"]["status"] == "pass"


def direct_rules(node):
    return node_exec(node, ["firewall-cmd", "--permanent", "--direct", "--get-all-rules"]).stdout.splitlines()


def test_firewalld_reload_flushes_docker_user_and_the_fix_survives_it(fleet):
    """firewalld (bookworm's 1.3.3, FirewallBackend=nftables) flushes and deletes every iptables chain at its start and
    at firewall-cmd --reload; Docker's FORWARD policy DROP stays and dockerd (subscribed to firewalld's reload signal)
    re-creates its chains with an empty DOCKER-USER. Shown with real packets; the fix's firewalld direct rules bring
    the accepts back at every reload. The pod CIDR and the node network are put in the trusted zone by hand, so that
    firewalld's own forward and input filtering is not what is tested here."""
    node = fleet.node(1)
    node_sh(node, "rm -f /etc/sysctl.d/90-kubernetes.conf; printf 'net.ipv4.ip_forward = 0\\n' > %s; systemctl start firewalld; "
                  "for zone in '' --permanent; do for src in %s %s; do firewall-cmd $zone --zone=trusted --add-source=$src; done; done; "
                  "sysctl -qw net.ipv4.ip_forward=0; systemctl restart docker" % (HARDENING, POD_CIDR, fleet.subnet))
    try:
        wait_docker(node)
        assert forward_policy(filter_dump(node)) == "DROP"
        assert not probes.pod_connect(fleet, 2, 1).ok  # Docker's DROP on node1

        fixed = overlay_firewall(fleet, "node1")
        assert fixed["changed"] and not fixed.get("failed"), fixed
        ours = user_rules(filter_dump(node))
        assert len(ours) == 6 and ours[-1] == "-A DOCKER-USER -j RETURN", ours
        assert len([rule for rule in direct_rules(node) if "DOCKER-USER 100" in rule]) == 5, direct_rules(node)
        assert probes.pod_connect(fleet, 2, 1).ok
        assert node_info(fleet.inventory_path, "node1")["overlay.forward"]["status"] == "pass"
        assert not overlay_firewall(fleet, "node1")["changed"]

        # the symptom, with the fix as it was before (unit and runtime accepts, no direct rules)
        node_sh(node, "firewall-cmd --permanent --direct --remove-rules ipv4 filter DOCKER-USER")
        check = node_info(fleet.inventory_path, "node1")["overlay.forward"]
        assert check["status"] == "fail" and "firewall-cmd --reload" in check["observed"], check
        node_sh(node, "firewall-cmd --reload; sleep 2")
        flushed = filter_dump(node)
        assert forward_policy(flushed) == "DROP" and user_rules(flushed) == ["-A DOCKER-USER -j RETURN"], user_rules(flushed)
        assert not probes.pod_connect(fleet, 2, 1).ok, "the reload did not cut pod traffic: nothing is proven below"

        fixed = overlay_firewall(fleet, "node1")
        assert fixed["changed"] and not fixed.get("failed"), fixed
        assert probes.pod_connect(fleet, 2, 1).ok
        node_sh(node, "firewall-cmd --reload; sleep 2")
        reloaded = filter_dump(node)
        assert forward_policy(reloaded) == "DROP" and sorted(user_rules(reloaded)) == sorted(ours), user_rules(reloaded)
        assert user_rules(reloaded)[-1] == "-A DOCKER-USER -j RETURN"
        assert probes.pod_connect(fleet, 2, 1).ok
        assert node_info(fleet.inventory_path, "node1")["overlay.forward"]["status"] == "pass"
        assert not overlay_firewall(fleet, "node1")["changed"]
    finally:
        node_sh(node, "systemctl stop firewalld; rm -f /etc/firewalld/direct.xml; systemctl restart docker", check=False)
