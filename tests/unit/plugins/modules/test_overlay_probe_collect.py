"""overlay_probe's collect step on a node whose state file or PID cannot be trusted."""
import json
import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.podnet.doctor.plugins.module_utils.network import probe
from ansible_collections.podnet.doctor.plugins.modules import overlay_probe

RUN = "p1a2b3c4"
ADDRESSES = [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.168.77.12", "prefixlen": 24}]}]


def collect(tmp_path, state_text, monkeypatch, capsys):
    path = probe.state_path(str(tmp_path), RUN)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write(state_text)
    kills = []
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: (0, json.dumps(ADDRESSES), ""))
    monkeypatch.setattr(os, "kill", lambda pid, sig: kills.append((pid, sig)))
    capsys.readouterr()
    args = {"mode": "collect", "run_id": RUN, "source_port": 47123, "root": str(tmp_path),
            "peers": ["192.168.77.11", "192.168.77.12"]}
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            overlay_probe.main()
    return json.loads(capsys.readouterr().out), kills, path


@pytest.mark.parametrize("text", ['{"pid": 42', "[]", '{"pid": 42}'])
def test_a_broken_state_file_fails_naming_the_file(tmp_path, monkeypatch, capsys, text):
    result, kills, path = collect(tmp_path, text, monkeypatch, capsys)
    assert result["failed"] is True and path in result["msg"], result
    assert kills == []


def test_collect_does_not_signal_a_pid_that_is_no_longer_the_observer(tmp_path, monkeypatch, capsys):
    # the observer ended by itself (duration) and PID 4242 was reused by another process
    stat = os.path.join(str(tmp_path), "proc", "4242", "stat")
    os.makedirs(os.path.dirname(stat))
    with open(stat, "w") as handle:
        handle.write("4242 (sshd) S 1 4242 4242 0 -1 0 %s 55555 0 0 0\n" % " ".join(["0"] * 12))
    state = {"pid": 4242, "start_time": 12345,
             "received": [{"from": "192.168.77.11", "proto": "udp", "port": 8472}]}
    result, kills, _path = collect(tmp_path, json.dumps(state), monkeypatch, capsys)
    assert not result.get("failed"), result
    assert kills == []
    assert result["checks"][0]["status"] == "pass"
