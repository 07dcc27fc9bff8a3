"""Scheduled compliance end to end on a real monitoring stack (issue #17): the nodes run Debian's
prometheus-node-exporter (textfile collector) and the compliance timer; a real Prometheus on the
controller scrapes them with the shipped rules and sends to a real Alertmanager. The oracle is what
Prometheus and Alertmanager answer over their HTTP APIs."""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import REPO, ansible_playbook, own_fleet
from podnet_lab import faults

RULES = os.path.join(REPO, "extras", "prometheus", "podnet-doctor.rules.yml")
CHECK = "bridge_nf_call.runtime"
SYSCTL = "net.bridge.bridge-nf-call-iptables"
STALE_AFTER = 40  # seconds, instead of twice the hourly interval (7200)

mon_fleet = own_fleet("podnet-mon", 2, "192.168.109.0/24", image_variant="monitor")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rules_for_test(tmp_path):
    """The shipped rules with test timings, by substitution (so the test runs the shipped expressions)."""
    text = open(RULES).read()
    for old, new in (("for: 15m", "for: 0s"), ("for: 5m", "for: 0s"), ("> 7200", "> %d" % STALE_AFTER)):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "rules.yml"
    path.write_text(text)
    return str(path)


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode())


def wait_for(what, probe, timeout=120, interval=2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last answer: %r)" % (what, last))


@pytest.fixture(scope="module")
def stack(mon_fleet, tmp_path_factory):
    """Prometheus and Alertmanager from the Debian packages, on free ports with temp dirs; stopped also on failure."""
    for binary in ("prometheus", "prometheus-alertmanager"):
        assert shutil.which(binary), "%s missing: run scripts/setup" % binary
    work = tmp_path_factory.mktemp("monitoring")
    am_port, prom_port = free_port(), free_port()
    (work / "alertmanager.yml").write_text(
        "route: {receiver: blackhole, group_wait: 1s, group_interval: 1s, repeat_interval: 1h}\n"
        "receivers: [{name: blackhole}]\n")
    (work / "prometheus.yml").write_text(json.dumps({
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "rule_files": [rules_for_test(work)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:%d" % am_port]}]}]},
        "scrape_configs": [{"job_name": "node", "static_configs": [
            {"targets": ["%s:9100" % mon_fleet.address(i) for i in range(1, mon_fleet.size + 1)]}]}],
    }))
    procs = []
    logs = []
    try:
        for command in (
                ["prometheus-alertmanager", "--config.file=%s" % (work / "alertmanager.yml"),
                 "--storage.path=%s" % (work / "am"), "--web.listen-address=127.0.0.1:%d" % am_port,
                 "--cluster.listen-address="],
                ["prometheus", "--config.file=%s" % (work / "prometheus.yml"), "--storage.tsdb.path=%s" % (work / "tsdb"),
                 "--web.listen-address=127.0.0.1:%d" % prom_port, "--rules.alert.resend-delay=2s"]):
            log = open(str(work / (os.path.basename(command[0]) + ".log")), "w")
            logs.append(log)
            procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        urls = {"prometheus": "http://127.0.0.1:%d" % prom_port, "alertmanager": "http://127.0.0.1:%d" % am_port}
        wait_for("Prometheus and Alertmanager ready", lambda: all(_ready(u) for u in urls.values()), timeout=60, interval=1)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


def _ready(url):
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def query(stack, expr):
    answer = get_json("%s/api/v1/query?%s" % (stack["prometheus"], urllib.parse.urlencode({"query": expr})))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def firing(stack, alertname):
    """The alerts Alertmanager holds as active (resolved ones are gone from /api/v2/alerts)."""
    alerts = get_json("%s/api/v2/alerts?%s" % (stack["alertmanager"], urllib.parse.urlencode(
        {"filter": "alertname=%s" % alertname, "active": "true", "silenced": "false", "inhibited": "false"})))
    return [a["labels"] for a in alerts if a["status"]["state"] == "active"]


def check_ok(stack, host):
    return [float(r["value"][1]) for r in query(stack, 'podnet_check_ok{host="%s",check="%s"}' % (host, CHECK))]


def run_timer_service(node):
    faults.node_exec(node, ["systemctl", "start", "podnet-doctor-compliance.service"], timeout=300)


def test_fault_pages_and_resolves_then_a_stopped_timer_is_stale(mon_fleet, stack):
    node1, node2 = mon_fleet.node(1), mon_fleet.node(2)
    host1 = mon_fleet.hostname(1)
    rc, out = ansible_playbook(mon_fleet.inventory_path, "podnet.doctor.remediate")
    assert rc == 0, out[-3000:]
    rc, out = ansible_playbook(mon_fleet.inventory_path, "tests/lab/playbooks/compliance_timer.yml",
                               "-e", "podnet_timer_randomized_delay=0")
    assert rc == 0, out[-3000:]
    for node in (node1, node2):
        assert faults.node_exec(node, ["systemctl", "is-active", "prometheus-node-exporter"]).stdout.strip() == "active"
        faults.set_sysctl_runtime(node, SYSCTL, "1")
        run_timer_service(node)
    # node_exporter serves the file and Prometheus has it: the check passes on both nodes
    wait_for("%s passing on %s in Prometheus" % (CHECK, host1), lambda: check_ok(stack, host1) == [1.0])
    assert query(stack, "podnet_check_ok == 0") == []
    wait_for("no podnet alert after remediate", lambda: query(stack, 'ALERTS{alertname=~"Podnet.*"}') == [])
    assert firing(stack, "PodnetCheckFailing") == []

    # the fault: the symptom on the node first, then the metric, then the page
    faults.set_sysctl_runtime(node1, SYSCTL, "0")
    assert faults.node_exec(node1, ["sysctl", "-n", SYSCTL]).stdout.strip() == "0"
    run_timer_service(node1)
    wait_for("%s failing on %s in Prometheus" % (CHECK, host1), lambda: check_ok(stack, host1) == [0.0])
    alerts = wait_for("PodnetCheckFailing in Alertmanager", lambda: firing(stack, "PodnetCheckFailing"))
    assert [(a["host"], a["check"]) for a in alerts] == [(host1, CHECK)], alerts
    # the recording rules are another group, evaluated on their own tick: wait for it, do not race it
    wait_for("the fleet view counts one failing node", lambda: [r["value"][1] for r in query(
        stack, 'podnet:check_failing_nodes:count{check="%s"}' % CHECK)] == ["1"])

    # remediate, the next run: the metric flips back and the alert resolves in Alertmanager
    faults.set_sysctl_runtime(node1, SYSCTL, "1")
    run_timer_service(node1)
    wait_for("%s passing again on %s" % (CHECK, host1), lambda: check_ok(stack, host1) == [1.0])
    wait_for("PodnetCheckFailing resolved", lambda: firing(stack, "PodnetCheckFailing") == [])

    # a node that stops checking itself: node2's timer stopped, node1 keeps running
    faults.node_exec(node2, ["systemctl", "stop", "podnet-doctor-compliance.timer"])
    target2 = "%s:9100" % mon_fleet.address(2)

    def stale_only_node2():
        run_timer_service(node1)
        stale = firing(stack, "PodnetComplianceStale")
        return stale and [a["instance"] for a in stale] == [target2]
    wait_for("PodnetComplianceStale for %s" % target2, stale_only_node2, timeout=STALE_AFTER + 90, interval=5)
    assert firing(stack, "PodnetCheckError") == []
