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
    assert "-I DOCKER-USER 1 -s 10.244.0.0/16" in check["fix"] and docker_forward.UNIT_PATH in check["fix"]

    snapshot = probes.node_snapshot(node)
    dry = overlay_firewall(fleet, "node2", "--check", "--diff")
    assert dry["changed"] and not dry.get("failed"), dry
    assert probes.node_snapshot(node) == snapshot, "--check changed the node"

    fixed = overlay_firewall(fleet, "node2", "--diff")
    assert fixed["changed"] and not fixed.get("failed"), fixed
    assert any(d.get("after_header") == docker_forward.UNIT_PATH for d in fixed["diff"]), fixed["diff"]
    after = filter_dump(node)
    assert dockers_own(after) == dockers_own(before), "Docker's own chains or its policy changed"
    assert len(user_rules(after)) == 3  # our two accepts before Docker's RETURN
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
