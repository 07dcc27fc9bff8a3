"""Every entry point writes the fleet reports when podnet_report_dir is set, failed hosts
included and with every check; none writes anything when it is unset (compliance: ./reports).
scripts/podnet-compliance exits with the summary the run wrote, however the directory was
given (-e key=value, -e @file.yml/.json, --extra-vars=@file, group_vars, host_vars,
inventory vars, the default).

Own fleet (podnet-reports), so it runs outside the shared fleet's lock.
"""
import json
import os
import subprocess

from junitparser import JUnitXml

from conftest import REPO, own_fleet
from podnet_lab import faults, fleet as lab_fleet, podman

FLEET_NAME = os.environ.get("PODNET_REPORTS_FLEET", "podnet-reports")
FLEET_SUBNET = os.environ.get("PODNET_REPORTS_SUBNET", "192.168.87.0/24")
CHECKS_PER_HOST = 19  # 12 + rp_filter.pod_links, ipv6.accept_ra (skip for flannel, IPv4), mtu.overlay, netmgr.cni_links,
# ports.nodeport_reserved, iptables.backends, k8s_ports.inbound
BRIDGE = "net.bridge.bridge-nf-call-iptables"
FORWARD = "net.ipv4.ip_forward"


report_fleet = own_fleet(FLEET_NAME, 2, FLEET_SUBNET)


def run(argv, cwd=REPO, **env_extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               **env_extra)
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def playbook(inventory, name, *extra, **kwargs):
    return run(["ansible-playbook", "-i", inventory, "podnet.doctor.%s" % name] + list(extra), **kwargs)


def compliance(*args, **kwargs):
    return run([os.path.join(REPO, "scripts", "podnet-compliance")] + list(args), **kwargs)


def summary(report_dir):
    with open(os.path.join(str(report_dir), "summary.json")) as handle:
        return json.load(handle)


def host_checks(report_dir, host):
    with open(os.path.join(str(report_dir), "hosts", "%s.json" % host)) as handle:
        return dict((c["id"], c) for c in json.load(handle)["checks"])


def junit_cases(report_dir):
    return [(case.classname, case.name) for suite in JUnitXml.fromfile(os.path.join(str(report_dir), "junit.xml")) for case in suite]


def test_remediate_reports_only_when_asked(report_fleet, tmp_path):
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    rc, out = playbook(report_fleet.inventory_path, "remediate", cwd=str(quiet))
    assert rc == 0, out
    assert os.listdir(str(quiet)) == [], "remediate without podnet_report_dir wrote something"

    rc, out = playbook(report_fleet.inventory_path, "remediate", "-e", "podnet_report_dir=%s" % (tmp_path / "fixed"))
    assert rc == 0, out
    assert summary(tmp_path / "fixed")["result"] == "pass"
    assert len(junit_cases(tmp_path / "fixed")) == 2 * CHECKS_PER_HOST


def ways_to_give_the_dir(report_fleet, base):
    """(name, wrapper arguments, working directory, where the summary must be)"""
    with open(report_fleet.inventory_path) as handle:
        inventory = json.load(handle)

    def inventory_dir(name, extra_files=None, all_vars=None):
        path = base / name / "inventory"
        path.mkdir(parents=True)
        data = json.loads(json.dumps(inventory))
        data["all"]["vars"].update(all_vars or {})
        (path / "hosts.json").write_text(json.dumps(data))
        for rel, text in (extra_files or {}).items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_text(text)
        return str(path)

    def vars_file(name, suffix, text):
        path = base / name / ("vars" + suffix)
        path.parent.mkdir(parents=True)
        path.write_text(text)
        return str(path)

    inv = report_fleet.inventory_path
    ways = [
        ("key=value", ["-i", inv, "-e", "podnet_report_dir=%s" % (base / "kv")], REPO, base / "kv"),
        ("@file.yml", ["-i", inv, "-e", "@" + vars_file("yml", ".yml", "podnet_report_dir: %s\n" % (base / "yml" / "out"))],
         REPO, base / "yml" / "out"),
        ("@file.json", ["-i", inv, "-e", "@" + vars_file("json", ".json", json.dumps({"podnet_report_dir": str(base / "json" / "out")}))],
         REPO, base / "json" / "out"),
        ("--extra-vars=@file", ["-i", inv, "--extra-vars=@" + vars_file("long", ".yml", "podnet_report_dir: %s\n" % (base / "long" / "out"))],
         REPO, base / "long" / "out"),
        ("group_vars", ["-i", inventory_dir("group_vars", {"group_vars/all.yml": "podnet_report_dir: %s\n" % (base / "group_vars" / "out")})],
         REPO, base / "group_vars" / "out"),
        ("host_vars", ["-i", inventory_dir("host_vars", dict(
            ("host_vars/%s.yml" % host, "podnet_report_dir: %s\n" % (base / "host_vars" / "out")) for host in ("node1", "node2")))],
         REPO, base / "host_vars" / "out"),
        ("inventory vars", ["-i", inventory_dir("inventory_vars", all_vars={"podnet_report_dir": str(base / "inventory_vars" / "out")})],
         REPO, base / "inventory_vars" / "out"),
    ]
    default_cwd = base / "default"
    default_cwd.mkdir()
    ways.append(("default ./reports", ["-i", inv], str(default_cwd), default_cwd / "reports"))
    return ways


def test_compliance_exit_code_however_the_dir_is_given(report_fleet, tmp_path):
    rc, out = playbook(report_fleet.inventory_path, "remediate")  # a healthy fleet, whatever ran before
    assert rc == 0, out
    ways = ways_to_give_the_dir(report_fleet, tmp_path / "healthy")
    for name, args, cwd, report_dir in ways:
        rc, out = compliance(*args, cwd=cwd)
        assert os.path.isfile(str(report_dir / "summary.json")), "%s: no summary in %s\n%s" % (name, report_dir, out)
        assert rc == 0 and summary(report_dir)["result"] == "pass", "%s\n%s" % (name, out)

    # the hosts the run checked: a host left out by --limit is not reported as error
    rc, out = compliance("-i", report_fleet.inventory_path, "-l", "node1", "-e", "podnet_report_dir=%s" % (tmp_path / "limit"))
    assert rc == 0 and set(summary(tmp_path / "limit")["hosts"]) == {"node1"}, out

    faults.set_sysctl_runtime(report_fleet.node(2), BRIDGE, "0")
    try:
        for name, args, cwd, report_dir in ways_to_give_the_dir(report_fleet, tmp_path / "broken"):
            rc, out = compliance(*args, cwd=cwd)
            assert rc == 1 and summary(report_dir)["hosts"]["node2"]["status"] == "fail", "%s\n%s" % (name, out)
    finally:
        faults.set_sysctl_runtime(report_fleet.node(2), BRIDGE, "1")


def test_preflight_reports_failed_hosts_with_every_check(report_fleet, tmp_path):
    node2 = report_fleet.node(2)
    ignore = ["-e", json.dumps({"podnet_ignore": ["ip_forward.runtime"]})]
    faults.set_sysctl_runtime(node2, BRIDGE, "0")
    faults.set_sysctl_runtime(node2, FORWARD, "0")
    try:
        quiet = tmp_path / "quiet"
        quiet.mkdir()
        rc, out = playbook(report_fleet.inventory_path, "preflight", *ignore, cwd=str(quiet))
        assert rc == 2 and "bridge_nf_call.runtime" in out, out  # the host fails, as before
        assert os.listdir(str(quiet)) == [], "preflight without podnet_report_dir wrote something"

        report_dir = tmp_path / "preflight"
        rc, out = playbook(report_fleet.inventory_path, "preflight", "-e", "podnet_report_dir=%s" % report_dir, *ignore)
        assert rc == 2 and "bridge_nf_call.runtime" in out, out
        assert summary(report_dir)["hosts"]["node2"]["status"] == "fail"
        assert summary(report_dir)["hosts"]["node1"]["status"] == "pass"
        assert len(junit_cases(report_dir)) == 2 * CHECKS_PER_HOST
        checks = host_checks(report_dir, "node2")
        assert checks["bridge_nf_call.runtime"]["status"] == "fail"
        assert checks["ip_forward.runtime"]["status"] == "ignored"  # not merely "not failing"

        # the failed host's report is the one a compliance run writes for the same state
        rc, out = compliance("-i", report_fleet.inventory_path, "-e", "podnet_report_dir=%s" % (tmp_path / "compliance"), *ignore)
        assert rc == 1, out
        observed = dict((i, (c["status"], c["observed"])) for i, c in host_checks(tmp_path / "compliance", "node2").items())
        assert dict((i, (c["status"], c["observed"])) for i, c in checks.items()) == observed

        # every host failed: the play ends there, and the reports are still written
        faults.set_sysctl_runtime(report_fleet.node(1), BRIDGE, "0")
        rc, out = playbook(report_fleet.inventory_path, "preflight", "-e", "podnet_report_dir=%s" % (tmp_path / "all_fail"))
        assert rc == 2, out
        assert set(h["status"] for h in summary(tmp_path / "all_fail")["hosts"].values()) == {"fail"}
        assert len(junit_cases(tmp_path / "all_fail")) == 2 * CHECKS_PER_HOST
    finally:
        for node in report_fleet.nodes:
            faults.set_sysctl_runtime(node, BRIDGE, "1")
        faults.set_sysctl_runtime(node2, FORWARD, "1")


def test_remediate_reports_what_it_left_failing(report_fleet, tmp_path):
    node2 = report_fleet.node(2)
    faults.set_sysctl_runtime(node2, BRIDGE, "0")
    faults.set_sysctl_runtime(node2, FORWARD, "0")
    try:
        rc, out = playbook(report_fleet.inventory_path, "remediate", "-e", "podnet_report_dir=%s" % tmp_path,
                           "-e", json.dumps({"podnet_remediate_areas": ["ip_forward"]}))
        assert rc == 2, out  # bridge netfilter was not asked for: still failing, the host fails
        checks = host_checks(tmp_path, "node2")
        assert len(checks) == CHECKS_PER_HOST
        assert checks["ip_forward.runtime"]["status"] == "pass"  # the fixer's re-read, not the first read
        assert checks["bridge_nf_call.runtime"]["status"] == "fail"
        assert summary(tmp_path)["hosts"]["node1"]["status"] == "pass"
    finally:
        faults.set_sysctl_runtime(node2, BRIDGE, "1")
        for node in report_fleet.nodes:
            faults.forget_podnet_doctor(node)


def test_reports_are_written_when_every_host_is_down(report_fleet, tmp_path):
    """Ansible ends a play whose every host is unreachable: the reports must not go with it (a CI
    pre-flight needs its junit.xml most when the whole fleet is down)."""
    nodes = [report_fleet.node(1), report_fleet.node(2)]
    for node in nodes:
        podman.run(["stop", "-t", "5", node])
    # No SSH ControlMaster: one the earlier tests left (ControlPersist) would hold a dead TCP
    # connection to the stopped node and hang the run instead of failing the connection.
    fresh = {"ANSIBLE_SSH_ARGS": "-o ControlMaster=no -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR"}
    try:
        rc, out = compliance("-i", report_fleet.inventory_path, "-e", "podnet_report_dir=%s" % (tmp_path / "compliance"), **fresh)
        assert rc == 2, out
        assert [h["status"] for h in summary(tmp_path / "compliance")["hosts"].values()] == ["error", "error"], out
        rc, out = playbook(report_fleet.inventory_path, "preflight", "-e", "podnet_report_dir=%s" % (tmp_path / "preflight"), **fresh)
        assert rc != 0, out
        assert set(c.split(".")[-1] for c, _name in junit_cases(tmp_path / "preflight")) == {"node1", "node2"}, out
        assert [h["status"] for h in summary(tmp_path / "preflight")["hosts"].values()] == ["error", "error"], out
    finally:
        for node in nodes:
            podman.run(["start", node])
            lab_fleet.wait_booted(node)
