"""Docker's FORWARD policy DROP: overlay.forward names Docker only when it is Docker's, the fix goes to
DOCKER-USER (never Docker's own chains, never the policy) plus our unit, and a runtime-only fix is
caught before the reboot that loses it. Rulesets: a real dockerd 20.10.24 dump (lab node), moby 28's
layout from its generated iptables docs, and layouts that are not Docker's drop."""
import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.firewall import docker_forward, flows, overlay_checks, overlay_fix

from ....fixture_tree import make_tree

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "rulesets")
POD = "10.244.0.0/16"
NODE_NET = "192.168.77.0/24"
ADDRESSES = [{"ifname": "eth0", "addr_info": [{"local": "192.168.77.11", "prefixlen": 24}]}]
# the accepts of the fix for flannel (cni0 <-> flannel.1, cni0 <-> eth0 and cni0 <-> cni0): pod traffic only
ACCEPTS = ("-i cni0 -o flannel.1 -d 10.244.0.0/16", "-i flannel.1 -o cni0 -d 10.244.0.0/16", "-i cni0 -o eth0 -s 10.244.0.0/16",
           "-i eth0 -o cni0 -d 10.244.0.0/16", "-i cni0 -o cni0 -d 10.244.0.0/16")
OUR_RULES = "".join("-A DOCKER-USER %s -m comment --comment podnet.doctor -j ACCEPT\n" % rule for rule in ACCEPTS)


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def with_our_rules(dump):
    """The dump after our two inserts (-I DOCKER-USER 1 puts them before Docker's RETURN)."""
    lines = dump.splitlines(True)
    first = next(i for i, line in enumerate(lines) if line.startswith("-A DOCKER-USER") or line == "COMMIT\n")
    return "".join(lines[:first]) + OUR_RULES + "".join(lines[first:])


def facts_for(dump, backend="iptables_nft", **extra):
    facts = {"addresses": ADDRESSES, "firewalld": {"running": False}, "nft": None, "iptables_nft": None,
             "iptables_legacy": None, "errors": []}
    facts[backend] = dump
    facts.update(extra)
    return facts


def forward_check(facts, root):
    return overlay_checks.evaluate_overlay(facts, [("udp", 8472, "flannel VXLAN")], [NODE_NET], POD, "flannel", root)[1]


def make_tree_with_docker(path, files):
    """A node root with Debian's docker.service (docker.io) and ``files``."""
    return make_tree(path, dict(DOCKER_SERVICE, **files))


DOCKER_SERVICE = {"lib/systemd/system/docker.service": "[Service]\nType=notify\nExecStart=/usr/sbin/dockerd -H fd://\n"}


def pod_packets(pod_cidr=POD):
    return [packet for _name, packet in flows.forward_packets({"addresses": ADDRESSES}, [NODE_NET], pod_cidr, "flannel")]


def installed_unit(tmp_path, backend="iptables-nft", linked=True, extra=None):
    files = {"etc/systemd/system/" + docker_forward.UNIT: docker_forward.unit_text(docker_forward.unit_entries(backend, POD, pod_packets()))}
    files.update(DOCKER_SERVICE)
    files.update(extra or {})
    root = make_tree_with_docker(tmp_path, files)
    if linked:
        wants = os.path.join(root, "etc/systemd/system/docker.service.wants")
        os.makedirs(wants)
        os.symlink(docker_forward.UNIT_PATH, os.path.join(wants, docker_forward.UNIT))
    return root


@pytest.mark.parametrize("name,chains,where", [
    # 20.10 ends DOCKER-USER with "-j RETURN" (rule 1 here): ours go just above it; moby 28 adds none: appended
    ("docker-20.10.iptables-nft-save", "DOCKER, DOCKER-ISOLATION-STAGE-1, DOCKER-ISOLATION-STAGE-2, DOCKER-USER", "-I DOCKER-USER 1"),
    ("docker-28.iptables-nft-save", "DOCKER, DOCKER-BRIDGE, DOCKER-CT, DOCKER-FORWARD, DOCKER-INTERNAL, DOCKER-USER", "-A DOCKER-USER"),
])
@pytest.mark.parametrize("backend", ["iptables_nft", "iptables_legacy"])
def test_docker_forward_drop_is_named_with_why_and_fixed_in_docker_user(tmp_path, name, chains, where, backend):
    dump = fixture(name)
    check = forward_check(facts_for(dump, backend), make_tree_with_docker(tmp_path, {}))
    assert check["status"] == "fail"
    assert "policy DROP of FORWARD, set by Docker (chains %s)" % chains in check["observed"]
    assert "at every start when it turned ip_forward on itself" in check["observed"]
    tool = backend.replace("_", "-")
    for rule in ACCEPTS:
        assert "%s -w %s %s -m comment" % (tool, where, rule) in check["fix"]
    assert " -s 10.244.0.0/16 -m comment" not in check["fix"].replace("-o eth0 -s", "")  # no bare pod-CIDR accept
    assert docker_forward.UNIT_PATH in check["fix"] and "systemctl enable %s" % docker_forward.UNIT in check["fix"]
    assert "-I FORWARD" not in check["fix"] and " -P " not in check["fix"]


@pytest.mark.parametrize("dump,where", [
    # dockerd --iptables=false: no chain of Docker's; a DROP policy there is the admin's
    ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n", "policy DROP of FORWARD"),
    # Docker's chains present but its policy ACCEPT (ip_forward was on): the admin's own DROP rule
    (fixture("docker-20.10.iptables-nft-save").replace(":FORWARD DROP", ":FORWARD ACCEPT").replace(
        "-A DOCKER-USER -j RETURN", "-A DOCKER-USER -j RETURN\n-A FORWARD -j DROP"), "-A FORWARD -j DROP"),
    # the admin's DROP in DOCKER-USER is a rule, not Docker's policy
    (fixture("docker-20.10.iptables-nft-save").replace("-A DOCKER-USER -j RETURN", "-A DOCKER-USER -s 10.244.0.0/16 -j DROP"),
     "-A DOCKER-USER -s 10.244.0.0/16 -j DROP"),
    # a DROP policy with Docker's chains but no jump to DOCKER-USER (a restored dump edited by hand)
    (fixture("docker-20.10.iptables-nft-save").replace("-A FORWARD -j DOCKER-USER\n", ""), "policy DROP of FORWARD"),
])
def test_a_forward_drop_that_is_not_dockers_is_not_named_docker(tmp_path, dump, where):
    check = forward_check(facts_for(dump), make_tree_with_docker(tmp_path, {}))
    assert check["status"] == "fail"
    assert where in check["observed"]
    assert "Docker" not in check["observed"] and "DOCKER-USER 1" not in check["fix"]


def test_docker_with_forward_accept_passes_and_needs_no_unit(tmp_path):
    """ip_forward was already 1 when dockerd started: Docker leaves the policy ACCEPT (setupIPForwarding)."""
    dump = fixture("docker-20.10.iptables-nft-save").replace(":FORWARD DROP", ":FORWARD ACCEPT")
    root = make_tree_with_docker(tmp_path, {})
    assert forward_check(facts_for(dump), root)["status"] == "pass"
    plan = overlay_fix.plan_overlay_fix(facts_for(dump), [], [NODE_NET], POD, "flannel", root)
    assert plan["commands"] == [] and plan["files"] == {}


@pytest.mark.parametrize("name", ["docker-20.10.iptables-nft-save", "docker-28.iptables-nft-save"])
def test_fixed_at_runtime_only_fails_until_the_unit_is_enabled(tmp_path, name):
    fixed = with_our_rules(fixture(name))
    check = forward_check(facts_for(fixed), make_tree_with_docker(tmp_path / "bare", {}))
    assert check["status"] == "fail"
    assert "accepted now, but iptables-nft FORWARD policy is DROP, set by Docker" in check["observed"]
    assert "nothing adds the pod accept back after a reboot" in check["observed"]
    assert docker_forward.UNIT_PATH in check["fix"] and "-I DOCKER-USER" not in check["fix"]
    assert forward_check(facts_for(fixed), installed_unit(tmp_path / "enabled"))["status"] == "pass"
    # written but not enabled: docker.service does not pull it in at boot
    assert forward_check(facts_for(fixed), installed_unit(tmp_path / "unlinked", linked=False))["status"] == "fail"
    # enabled for the other backend: dockerd's rules are in iptables-nft, the unit writes legacy
    assert forward_check(facts_for(fixed), installed_unit(tmp_path / "legacy", "iptables-legacy"))["status"] == "fail"


def test_rules_v4_accepting_pod_traffic_counts_as_persisted(tmp_path):
    """netfilter-persistent restores rules.v4 before dockerd, which keeps DOCKER-USER's rules."""
    fixed = with_our_rules(fixture("docker-20.10.iptables-nft-save"))
    rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n" + OUR_RULES + "COMMIT\n"
    root = make_tree_with_docker(tmp_path / "good", {"etc/iptables/rules.v4": rules})
    assert forward_check(facts_for(fixed), root)["status"] == "pass"
    # its FORWARD policy ACCEPT is no help: dockerd sets DROP after the restore
    accept_only = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    assert forward_check(facts_for(fixed), make_tree_with_docker(tmp_path / "policy", {"etc/iptables/rules.v4": accept_only}))["status"] == "fail"
    broken = make_tree_with_docker(tmp_path / "broken", {"etc/iptables/rules.v4": "*filter\n:FORWARD ACCEPT [0:0]\n"})
    check = forward_check(facts_for(fixed), broken)
    assert check["status"] == "error" and "rules.v4" in check["observed"]


def test_plan_inserts_in_docker_user_writes_our_unit_and_is_idempotent(tmp_path):
    dump = fixture("docker-20.10.iptables-nft-save")
    root = make_tree_with_docker(tmp_path, {})
    plan = overlay_fix.plan_overlay_fix(facts_for(dump), [], [NODE_NET], POD, "flannel", root)
    ruleset = flows.parsed_ruleset(facts_for(dump), "iptables_nft")
    expected = [c for packet in pod_packets() for c in docker_forward.insert_commands("iptables-nft", POD, packet, ruleset)]
    assert [c for c in plan["commands"] if c[0] != "systemctl"] == [c for i, c in enumerate(expected) if c not in expected[:i]]
    assert {" ".join(c[5:-6]) for c in expected} == set(ACCEPTS) and all(c[2:4] == ["-I", "DOCKER-USER"] for c in expected)
    assert ["systemctl", "enable", docker_forward.UNIT] in plan["commands"]
    unit = plan["files"][docker_forward.UNIT_PATH]
    assert unit["owned"] and unit["before"] is None and unit["after"].startswith("# Managed by podnet.doctor")
    for line in ("After=docker.service", "PartOf=docker.service", "WantedBy=docker.service", "Type=oneshot"):
        assert line + "\n" in unit["after"]
    rule = "-i cni0 -o flannel.1 -d 10.244.0.0/16 -m comment --comment podnet.doctor -j ACCEPT"
    # present: nothing; else just above DOCKER-USER's final RETURN (below the admin's rules), else appended; $$ is systemd's $
    assert ("ExecStart=/bin/sh -c 'iptables-nft -w -C DOCKER-USER %s || if iptables-nft -w -S DOCKER-USER | tail -n 1 | grep -qx "
            "-e \"-A DOCKER-USER -j RETURN\"; then iptables-nft -w -I DOCKER-USER $$(iptables-nft -w -S DOCKER-USER | grep -c -e \"^-A \") %s; "
            "else iptables-nft -w -A DOCKER-USER %s; fi'\n" % (rule, rule, rule)) in unit["after"]
    assert unit["after"].count("ExecStart=") == len(ACCEPTS)
    # never Docker's own chains, never the policy, never rules.v4 for this
    assert not any(set(c) & {"FORWARD", "DOCKER", "DOCKER-ISOLATION-STAGE-1", "-P"} for c in plan["commands"])
    assert set(plan["files"]) == {docker_forward.UNIT_PATH}
    # boot state first: the unit is enabled before the runtime inserts
    assert overlay_fix.boot_state_first(plan["commands"])[0][0] == "systemctl"
    again = overlay_fix.plan_overlay_fix(facts_for(with_our_rules(dump)), [], [NODE_NET], POD, "flannel", installed_unit(tmp_path / "done"))
    assert again["commands"] == [] and again["files"] == {} and again["openings"] == []


def test_runtime_rules_present_plan_only_installs_the_unit(tmp_path):
    plan = overlay_fix.plan_overlay_fix(facts_for(with_our_rules(fixture("docker-28.iptables-nft-save"))), [], [NODE_NET], POD,
                                        "flannel", make_tree_with_docker(tmp_path, {}))
    assert all(c[0] == "systemctl" for c in plan["commands"]) and set(plan["files"]) == {docker_forward.UNIT_PATH}
    assert any("dropped after a reboot by Docker's FORWARD policy DROP" in o for o in plan["openings"])


def test_a_changed_pod_cidr_rewrites_our_unit(tmp_path):
    root = installed_unit(tmp_path)
    files, commands = docker_forward.unit_changes(root, docker_forward.unit_entries("iptables-nft", "10.200.0.0/16", pod_packets("10.200.0.0/16")))
    assert "10.200.0.0/16" in files[docker_forward.UNIT_PATH]["after"] and POD not in files[docker_forward.UNIT_PATH]["after"]
    assert commands == [["systemctl", "daemon-reload"]]


def test_ufw_with_docker_keeps_the_ufw_route_fix(tmp_path):
    """ufw manages FORWARD itself: its route rules are the fix there, not DOCKER-USER."""
    dump = fixture("docker-20.10.iptables-nft-save")
    check = forward_check(facts_for(dump, ufw_active=True), make_tree_with_docker(tmp_path, {}))
    assert check["status"] == "fail" and "ufw route allow" in check["fix"] and "DOCKER-USER 1" not in check["fix"]


@pytest.mark.parametrize("files,gap", [
    ({"etc/sysctl.d/90-kubernetes.conf": "net.ipv4.ip_forward = 1\n"}, False),
    # /run is emptied at boot: forwarding is 0 when dockerd starts after the reboot
    ({"run/sysctl.d/90-kubernetes.conf": "net.ipv4.ip_forward = 1\n"}, True),
    ({"etc/sysctl.d/90-kubernetes.conf": "net.ipv4.ip_forward = 1\n", "etc/sysctl.d/99-zz-hardening.conf": "net.ipv4.ip_forward = 0\n"},
     True),
])
def test_no_boot_gap_when_forwarding_is_on_before_dockerd_starts(tmp_path, files, gap):
    """dockerd changes the policy only when it turns forwarding on itself (setupIPForwarding): with 1 at
    boot the policy stays ACCEPT after a reboot, so a runtime-only accept is not a fault."""
    fixed = with_our_rules(fixture("docker-20.10.iptables-nft-save"))
    root = make_tree_with_docker(tmp_path, files)
    assert forward_check(facts_for(fixed), root)["status"] == ("fail" if gap else "pass")
    plan = overlay_fix.plan_overlay_fix(facts_for(fixed), [], [NODE_NET], POD, "flannel", root)
    assert bool(plan["files"]) == gap


def test_without_docker_service_the_unit_is_not_claimed_to_persist(tmp_path):
    """A snap's dockerd (snap.docker.dockerd.service): our unit would hang off a unit that never starts."""
    fixed = with_our_rules(fixture("docker-20.10.iptables-nft-save"))
    root = installed_unit(tmp_path)
    os.unlink(os.path.join(root, "lib/systemd/system/docker.service"))
    assert forward_check(facts_for(fixed), root)["status"] == "fail"
    plan = overlay_fix.plan_overlay_fix(facts_for(fixed), [], [NODE_NET], POD, "flannel", root)
    assert any("no docker.service unit" in text and "snap.docker.dockerd.service" in text for text in plan["unresolved"])
