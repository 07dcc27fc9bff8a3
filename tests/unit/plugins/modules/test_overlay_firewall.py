"""overlay_firewall refuses to fix what it could not read."""
import json
import os
import shutil
import tempfile

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.podnet.doctor.plugins.modules import overlay_firewall
from ansible_collections.podnet.doctor.tests.unit.fixture_tree import make_tree

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "rulesets")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


ADDRESSES = json.dumps([{"ifname": "eth0", "addr_info": [{"local": "192.168.77.11", "prefixlen": 24}]}])


def run_scripted(outputs, args, monkeypatch, capsys):
    calls = []

    def run_command(self, argv, **kwargs):
        calls.append(argv)
        key = " ".join([os.path.basename(argv[0])] + argv[1:])
        return outputs.get(key, (0, "", ""))
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/usr/sbin/" + name)
    capsys.readouterr()
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            overlay_firewall.main()
    return json.loads(capsys.readouterr().out), calls


def test_a_failed_permanent_read_refuses_to_fix_naming_the_command_and_stderr(monkeypatch, capsys):
    root = tempfile.mkdtemp(prefix="podnet-fw-")
    try:
        make_tree(root, {"proc/1/comm": "firewalld\n"})
        zones = fixture("firewalld.list-all")
        outputs = {"ip -d -j addr show": (0, ADDRESSES, ""),
                   "firewall-cmd --state": (0, "running\n", ""),
                   "firewall-cmd --get-default-zone": (0, "public\n", ""),
                   "firewall-cmd --get-active-zones": (0, "public\n  interfaces: eth0\n", ""),
                   "firewall-cmd --list-all-zones": (0, zones, ""),
                   "firewall-cmd --permanent --list-all-zones": (1, "", "Error: INVALID_ZONE: broken.xml\n")}
        result, calls = run_scripted(outputs, {"root": root, "node_networks": ["192.168.77.0/24"]}, monkeypatch, capsys)
        assert result.get("failed") is True, result
        assert "firewall-cmd --permanent --list-all-zones failed (rc=1): Error: INVALID_ZONE: broken.xml" in result["msg"]
        assert "nothing was changed" in result["msg"]
        assert not [c for c in calls if "--add-rich-rule" in " ".join(c) or "--add-source" in " ".join(c)], calls
    finally:
        shutil.rmtree(root)


DEFAULT_DROP = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"


def k8s_args(root, **extra):
    args = {"root": root, "node_networks": ["192.168.77.0/24"], "overlay": False, "k8s_distribution": "kubeadm",
            "control_plane": False}
    args.update(extra)
    return args


def test_k8s_ports_only_in_check_mode_plans_the_ranges_whole_and_runs_nothing(monkeypatch, capsys, tmp_path):
    root = make_tree(tmp_path, {"etc/iptables/rules.v4": DEFAULT_DROP})
    outputs = {"ip -d -j addr show": (0, ADDRESSES, ""), "iptables-legacy-save": (0, DEFAULT_DROP, "")}
    result, calls = run_scripted(outputs, k8s_args(root, _ansible_check_mode=True, _ansible_diff=True), monkeypatch, capsys)
    assert result["changed"] is True, result
    planned = [" ".join(c) for c in result["commands"]]
    assert any("-p tcp -m tcp --dport 30000:32767" in c for c in planned) and any("-p udp -m udp --dport 30000:32767" in c for c in planned)
    assert any("--dport 10250 " in c for c in planned) and not any("8472" in c for c in planned)  # overlay: false
    assert not any("-I" in c for c in calls), calls
    with open(os.path.join(root, "etc/iptables/rules.v4")) as handle:
        assert handle.read() == DEFAULT_DROP
    assert [c["status"] for c in result["checks"] if c["id"] == "k8s_ports.inbound"] == ["fail"]
    assert any("30000:32767" in d["after"] for d in result["diff"] if d["after_header"] == "/etc/iptables/rules.v4")


def test_a_nodeport_range_given_backwards_is_one_error_naming_the_variable(monkeypatch, capsys, tmp_path):
    root = make_tree(tmp_path, {"etc/iptables/rules.v4": DEFAULT_DROP})
    outputs = {"ip -d -j addr show": (0, ADDRESSES, ""), "iptables-legacy-save": (0, DEFAULT_DROP, "")}
    result, calls = run_scripted(outputs, k8s_args(root, nodeport_range="32767-30000"), monkeypatch, capsys)
    assert result.get("failed") is True and "podnet_nodeport_range" in result["msg"], result
    assert calls == []  # refused before reading or changing anything


def test_no_distribution_opens_no_k8s_port_and_returns_no_k8s_check(monkeypatch, capsys, tmp_path):
    root = make_tree(tmp_path, {"etc/iptables/rules.v4": DEFAULT_DROP})
    outputs = {"ip -d -j addr show": (0, ADDRESSES, ""), "iptables-legacy-save": (0, DEFAULT_DROP, "")}
    result, _calls = run_scripted(outputs, k8s_args(root, k8s_distribution="none", _ansible_check_mode=True), monkeypatch, capsys)
    assert result["changed"] is False and result["commands"] == [], result
    assert "k8s_ports.inbound" not in [c["id"] for c in result["checks"]]
