"""gather_firewall: what it runs on a node, and how it tells which firewalls are in charge.

Every command it starts costs a round of CPU on the node; ufw and firewall-cmd are Python
programs, so they are started only when their firewall is there to answer."""
import json
import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.firewall import gather_live, overlay_checks

from ....fixture_tree import make_tree

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "rulesets")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


class FakeNode(object):
    """Answers the read-only commands from captured outputs and records each call."""

    def __init__(self, outputs):
        self.outputs = outputs
        self.calls = []

    def run(self, argv):
        self.calls.append(argv)
        name = os.path.basename(argv[0])
        key = " ".join([name] + argv[1:])
        if key in self.outputs:
            return self.outputs[key]
        if name in ("nft", "iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save", "ip"):
            return 0, "", ""
        raise AssertionError("unexpected command %r" % argv)

    @staticmethod
    def which(name):
        return "/usr/sbin/" + name

    def started(self, name):
        return [c for c in self.calls if os.path.basename(c[0]) == name]


def proc_tree(tmp_path, *comms):
    return make_tree(tmp_path, dict(("proc/%d/comm" % (100 + i), comm + "\n") for i, comm in enumerate(comms)))


@pytest.mark.parametrize("dump", ["iptables_nft", "iptables_legacy"])
def test_ufw_is_active_when_its_chains_are_loaded_without_starting_ufw(tmp_path, dump):
    saved = fixture("ufw.iptables-nft-save")
    node = FakeNode({"iptables-nft-save": (0, saved if dump == "iptables_nft" else "", ""),
                     "iptables-legacy-save": (0, saved if dump == "iptables_legacy" else "", "")})
    facts = gather_live.gather_firewall(node.run, proc_tree(tmp_path, "systemd", "sshd"), node.which)
    assert facts["ufw_active"] is True
    assert node.started("ufw") == []


def test_ufw_enabled_in_config_but_not_loaded_is_not_active(tmp_path):
    """ufw.conf ENABLED=yes alone filters nothing until ufw's chains are loaded."""
    root = proc_tree(tmp_path, "systemd")
    make_tree(root, {"etc/ufw/ufw.conf": "ENABLED=yes\n"})
    node = FakeNode({"iptables-nft-save": (0, fixture("nftables.iptables-nft-save"), "")})
    assert gather_live.gather_firewall(node.run, root, node.which)["ufw_active"] is False


def test_firewalld_cli_is_not_started_when_no_firewalld_process_runs(tmp_path):
    node = FakeNode({})
    facts = gather_live.gather_firewall(node.run, proc_tree(tmp_path, "systemd", "nft"), node.which)
    assert facts["firewalld"] == {"running": False}
    assert node.started("firewall-cmd") == []


def test_firewalld_is_asked_when_its_process_runs(tmp_path):
    zones = fixture("firewalld.list-all")
    node = FakeNode({"firewall-cmd --state": (0, "running\n", ""),
                     "firewall-cmd --get-default-zone": (0, "public\n", ""),
                     "firewall-cmd --get-active-zones": (0, "public\n  interfaces: eth0\n", ""),
                     "firewall-cmd --list-all-zones": (0, zones, ""),
                     "firewall-cmd --list-all-policies": (0, "", "")})
    facts = gather_live.gather_firewall(node.run, proc_tree(tmp_path, "systemd", "firewalld"), node.which)
    assert facts["firewalld"]["running"] is True
    assert facts["firewalld"]["default_zone"] == "public"
    assert "public" in facts["firewalld"]["zones"]


def test_firewalld_process_that_does_not_answer_is_not_running(tmp_path):
    """Still starting, or failed: firewall-cmd --state decides, as before."""
    node = FakeNode({"firewall-cmd --state": (252, "not running\n", "")})
    facts = gather_live.gather_firewall(node.run, proc_tree(tmp_path, "firewalld"), node.which)
    assert facts["firewalld"] == {"running": False}


def test_unreadable_proc_falls_back_to_asking_firewalld(tmp_path):
    node = FakeNode({"firewall-cmd --state": (252, "not running\n", "")})
    gather_live.gather_firewall(node.run, str(tmp_path / "no-such-root"), node.which)
    assert node.started("firewall-cmd") == [["/usr/sbin/firewall-cmd", "--state"]]


def test_process_running_ignores_processes_that_exit_while_scanned(tmp_path):
    root = make_tree(tmp_path, {"proc/1/comm": "systemd\n", "proc/2/status": "gone\n", "proc/self/comm": "x\n"})
    assert gather_live.process_running(root, "systemd") is True
    assert gather_live.process_running(root, "firewalld") is False


@pytest.mark.parametrize("dump,expected", [
    ("garbage\n", "iptables-nft output line 1 is not iptables-save syntax (outside a table): garbage"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A FORWARD -j DROP\nCOMMIT\n", "line 3 is not iptables-save syntax "
                                                                   "(a rule of an undeclared chain)"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment 'x -j DROP\nCOMMIT\n",
     "line 3 is not iptables-save syntax (No closing quotation)"),
    ("*filter\n:INPUT DROP [0:0]\n-A INPUT -p udp --dport 8472 -j DROP\n", "ends inside table filter (no COMMIT)"),
])
def test_a_damaged_iptables_dump_is_an_error_naming_the_line_never_an_empty_ruleset(tmp_path, dump, expected):
    node = FakeNode({"iptables-nft-save": (0, dump, "")})
    facts = gather_live.gather_firewall(node.run, proc_tree(tmp_path, "systemd"), node.which)
    assert any(expected in error for error in facts["errors"]), facts["errors"]
    checks = overlay_checks.evaluate_overlay(facts, [("udp", 8472, "VXLAN")], ["192.168.77.0/24"], "10.244.0.0/16")
    assert [c["status"] for c in checks] == ["error", "error"]
    assert expected in checks[0]["observed"]


@pytest.mark.parametrize("dump,expected", [
    ("Error: syntax error\n", "nft -j list ruleset printed something that is not JSON"),
    ('{"rules": []}', 'JSON without an "nftables" list'),
    ('{"nftables": [{"chain": {"table": "filter"}}]}', "an object without its 'family'"),
])
def test_a_damaged_nft_dump_is_an_error(tmp_path, dump, expected):
    node = FakeNode({"nft -j -p list ruleset": (0, dump, "")})
    facts = gather_live.gather_firewall(node.run, proc_tree(tmp_path, "systemd"), node.which)
    assert any(expected in error for error in facts["errors"]), facts["errors"]


def test_a_failing_ruleset_command_says_to_use_become(tmp_path):
    node = FakeNode({"nft -j -p list ruleset": (1, "", "Operation not permitted (you must be root)")})
    facts = gather_live.gather_firewall(node.run, proc_tree(tmp_path, "systemd"), node.which)
    assert facts["errors"] == ["nft -j -p list ruleset failed (rc=1): Operation not permitted (you must be root) "
                               "(run with become: true)"]


@pytest.mark.parametrize("failing", ["--get-default-zone", "--get-active-zones", "--list-all-zones",
                                     "--list-all-policies"])
def test_a_failing_firewall_cmd_read_is_an_error_naming_the_command_and_its_stderr(tmp_path, failing):
    """A read that failed is not an empty zone list: it must never become findings and a "fix"."""
    outputs = {"firewall-cmd --state": (0, "running\n", ""),
               "firewall-cmd --get-default-zone": (0, "public\n", ""),
               "firewall-cmd --get-active-zones": (0, "public\n  interfaces: eth0\n", ""),
               "firewall-cmd --list-all-zones": (0, fixture("firewalld.list-all"), ""),
               "firewall-cmd --list-all-policies": (0, "", "")}
    outputs["firewall-cmd " + failing] = (251, "", "Error: COMMAND_FAILED: 'python-nftables' failed\n")
    node = FakeNode(outputs)
    facts = gather_live.gather_firewall(node.run, proc_tree(tmp_path, "systemd", "firewalld"), node.which)
    assert facts["errors"] == ["firewall-cmd %s failed (rc=251): Error: COMMAND_FAILED: 'python-nftables' failed"
                               % failing], facts["errors"]
    checks = overlay_checks.evaluate_overlay(facts, [("udp", 8472, "VXLAN")], ["192.168.77.0/24"], "10.244.0.0/16")
    assert [c["status"] for c in checks] == ["error", "error"]
    assert "firewall-cmd %s failed" % failing in checks[0]["observed"]


def test_a_native_ip_filter_table_beside_an_iptables_nft_nat_table_is_still_judged():
    """iptables-nft-save prints a table it cannot read only as a comment: only the tables it did
    print belong to the iptables-nft evaluator; a native 'ip filter' drop is judged by nftables."""
    nft = json.dumps({"nftables": [
        {"table": {"family": "ip", "name": "filter", "handle": 1}},
        {"chain": {"family": "ip", "table": "filter", "name": "input", "handle": 1, "type": "filter",
                   "hook": "input", "prio": 0, "policy": "drop"}},
        {"table": {"family": "ip", "name": "nat", "handle": 2}}]})
    facts = {"addresses": [{"ifname": "eth0", "addr_info": [{"local": "192.168.77.11", "prefixlen": 24}]}],
             "errors": [], "firewalld": {"running": False}, "nft": nft, "iptables_legacy": None,
             "iptables_nft": "# Table 'filter' is incompatible, use 'nft' tool.\n*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"}
    checks = overlay_checks.evaluate_overlay(facts, [("udp", 8472, "VXLAN")], ["192.168.77.0/24"], "10.244.0.0/16")
    assert checks[0]["id"] == "overlay.inbound" and checks[0]["status"] == "fail", checks[0]
    assert "policy drop of ip filter input" in checks[0]["observed"]


def test_a_firewalld_without_policies_is_read_as_having_none(tmp_path):
    """firewalld before 0.9 refuses --list-all-policies (argparse): no policies, not an error."""
    node = FakeNode({"firewall-cmd --state": (0, "running\n", ""),
                     "firewall-cmd --get-default-zone": (0, "public\n", ""),
                     "firewall-cmd --get-active-zones": (0, "public\n  interfaces: eth0\n", ""),
                     "firewall-cmd --list-all-zones": (0, fixture("firewalld.list-all"), ""),
                     "firewall-cmd --list-all-policies": (
                         2, "", "firewall-cmd: error: unrecognized arguments: --list-all-policies\n")})
    facts = gather_live.gather_firewall(node.run, proc_tree(tmp_path, "systemd", "firewalld"), node.which)
    assert facts["errors"] == [] and facts["firewalld"]["policies"] == {}


def _dropping(backend):
    """Facts of a node whose ``backend`` drops the overlay and forwarded pod traffic."""
    facts = {"addresses": [{"ifname": "eth0", "addr_info": [{"local": "192.168.77.11", "prefixlen": 24}]}],
             "errors": [], "firewalld": {"running": False}, "nft": None, "iptables_legacy": None, "iptables_nft": None,
             "ufw_active": False}
    if backend == "nftables":
        facts["nft"] = json.dumps({"nftables": [
            {"table": {"family": "inet", "name": "filter", "handle": 1}},
            {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter",
                       "hook": "input", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 2, "type": "filter",
                       "hook": "forward", "prio": 0, "policy": "drop"}}]})
    elif backend in ("iptables-legacy", "ufw"):
        facts["iptables_legacy"] = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
        facts["ufw_active"] = backend == "ufw"
    else:
        from ansible_collections.podnet.doctor.plugins.module_utils.firewall import firewalld
        zones = firewalld.parse_all_zones("public (active)\n  target: default\n  interfaces: eth0\n  sources: \n"
                                          "  services: ssh\n  ports: \n  protocols: \n  forward: no\n  rich rules: \n")
        facts["firewalld"] = {"running": True, "default_zone": "public", "active_zones": {"public": {"interfaces": ["eth0"]}},
                              "zones": zones, "policies": {}, "services": {"ssh": ["22/tcp"]}, "backend": "nftables"}
    return facts


NFT_CONF_WITH_TABLE = "flush ruleset\ntable inet filter {\n}\n"
RULES_V4 = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"


@pytest.mark.parametrize("files", ["none", "persisted"])
@pytest.mark.parametrize("backend", ["nftables", "iptables-legacy", "ufw", "firewalld"])
def test_a_failing_overlay_check_names_exactly_the_changes_remediate_makes(tmp_path, backend, files):
    """issue 13: the fix hint is rendered from the fixer's plan, so the two cannot drift: every
    command, every line written to a boot file, and everything the fixer leaves unresolved
    (no rules.v4, an nft table the boot config does not define) is in the hint."""
    from ansible_collections.podnet.doctor.plugins.module_utils.firewall import overlay_fix
    import shlex
    root = str(tmp_path)
    if files == "persisted":
        make_tree(tmp_path, {"etc/nftables.conf": NFT_CONF_WITH_TABLE, "etc/iptables/rules.v4": RULES_V4})
    facts = _dropping(backend)
    ports, nets = [("udp", 8472, "VXLAN"), ("ipip", None, "IPIP")], ["192.168.77.0/24"]
    checks = dict((c["id"], c) for c in overlay_checks.evaluate_overlay(facts, ports, nets, "10.244.0.0/16", root=root))
    plan = overlay_fix.plan_overlay_fix(facts, ports, nets, "10.244.0.0/16", "flannel", root)
    hints = checks["overlay.inbound"]["fix"] + " " + checks["overlay.forward"].get("fix", "")
    assert checks["overlay.inbound"]["status"] == "fail", checks
    assert plan["commands"], plan
    for argv in plan["commands"]:
        assert " ".join(shlex.quote(a) for a in argv) in hints, (argv, hints)
    for text in plan["unresolved"]:  # a message naming the lines of both checks: each check names its own
        assert text.split(", with: ")[0].split(" or add to the file your boot restores")[0] in hints, (text, hints)
    inbound = overlay_fix.plan_overlay_fix(facts, ports, nets, "10.244.0.0/16", "flannel", root, forward=False)
    for text in inbound["unresolved"]:
        assert text in checks["overlay.inbound"]["fix"], (text, checks["overlay.inbound"]["fix"])
    for path, change in plan["files"].items():
        assert path in hints, (path, hints)
        for line in change["after"].splitlines():
            if line not in (change["before"] or "").splitlines() and not line.startswith("#") and "include" not in line:
                assert "'%s'" % line in hints, (line, hints)


@pytest.mark.parametrize("table_names, runs", [
    ("", False),  # no legacy table: iptables-save.c's for_each_table dumps nothing, so it is not started
    ("filter\nnat\n", True),
    (None, True),  # no such file (a fixture root, an old kernel): the command decides, as before
])
def test_iptables_legacy_save_runs_only_when_a_legacy_table_may_exist(tmp_path, table_names, runs):
    saved = fixture("ufw.iptables-nft-save")
    files = {"proc/1/comm": "systemd\n"}
    if table_names is not None:
        files["proc/net/ip_tables_names"] = table_names
    node = FakeNode({"iptables-legacy-save": (0, saved if table_names else "", "")})
    facts = gather_live.gather_firewall(node.run, make_tree(tmp_path, files), node.which)
    assert bool(node.started("iptables-legacy-save")) == runs
    assert facts["iptables_legacy"] == (saved if table_names else "") and not facts["errors"]
    assert facts["ufw_active"] is bool(table_names)
