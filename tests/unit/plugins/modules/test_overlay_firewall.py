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
