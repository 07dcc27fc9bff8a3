"""kernel_prereqs as the remediate role runs it: what it returns is the final word."""
import json
import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import link_sysctl_checks, port_ranges, prereq_checks
from ansible_collections.podnet.doctor.plugins.modules import kernel_prereqs
from ansible_collections.podnet.doctor.tests.unit.fixture_tree import loadable_br_netfilter, make_tree

FIXED = loadable_br_netfilter(**{
    "proc/modules": "br_netfilter 32768 0 - Live 0x0\n",
    "proc/sys/net/ipv4/ip_forward": "1\n",
    "proc/sys/net/bridge/bridge-nf-call-iptables": "0\n",  # a compliance scan reset it
    "etc/modules-load.d/podnet-doctor.conf": "# Managed by podnet.doctor\nbr_netfilter\n",
    # an older run that wrote the forwarding key only; nothing else sets it at boot
    "etc/sysctl.d/99-zzz-podnet-doctor.conf": "# Managed by podnet.doctor\nnet.ipv4.ip_forward = 1\n",
})


def run_module(args, monkeypatch, capsys):
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: (0, "", ""))
    capsys.readouterr()
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            kernel_prereqs.main()
    return json.loads(capsys.readouterr().out)


def test_a_one_area_fix_returns_a_fresh_read_of_both_kernel_areas(tmp_path, monkeypatch, capsys):
    """The role's final verdict replaces the first read's checks with these: a fixer that
    returned only its own area's checks left the other area's stale pass in the verdict."""
    root = make_tree(tmp_path, FIXED)
    result = run_module({"root": root, "areas": ["bridge_netfilter"]}, monkeypatch, capsys)
    assert not result.get("failed"), result
    checks = dict((c["id"], c) for c in result["checks"])
    # every kernel area, rp_filter.pod_links and ipv6.accept_ra included
    assert sorted(checks) == sorted(prereq_checks.CHECK_IDS + (port_ranges.CHECK_ID,) + link_sysctl_checks.CHECK_IDS)
    assert checks["ip_forward.boot"]["status"] == "pass", checks["ip_forward.boot"]
    assert checks["bridge_nf_call.runtime"]["status"] == "pass"
    body = open(os.path.join(root, "etc/sysctl.d/99-zzz-podnet-doctor.conf")).read()
    assert "net.ipv4.ip_forward = 1" in body and "-net.bridge.bridge-nf-call-iptables = 1" in body


def test_the_fresh_read_shows_what_a_one_area_fix_did_not_touch(tmp_path, monkeypatch, capsys):
    files = dict(FIXED)
    files["etc/sysctl.d/zzz-late.conf"] = "net.ipv4.ip_forward = 0\n"  # sorts after ours: not this run's area
    files["proc/sys/net/ipv4/ip_forward"] = "0\n"
    root = make_tree(tmp_path, files)
    result = run_module({"root": root, "areas": ["bridge_netfilter"]}, monkeypatch, capsys)
    checks = dict((c["id"], c["status"]) for c in result["checks"])
    assert checks["ip_forward.runtime"] == "fail"  # not this run's area: reported, not changed
    assert checks["bridge_nf_call.runtime"] == "pass"


def test_ipv6_forwarding_is_not_written_blind_when_ip_cannot_be_read(tmp_path, monkeypatch, capsys):
    """Without `ip` the fixer cannot tell which interfaces take their IPv6 default route from RAs, and
    forwarding would delete those routes: it fails with nothing changed."""
    files = dict(FIXED)
    files["proc/sys/net/ipv6/conf/all/forwarding"] = "0\n"
    root = make_tree(tmp_path, files)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: (1, "", "ip: not found"))
    capsys.readouterr()
    with patch_module_args({"root": root, "areas": ["ip_forward"], "ip_families": ["ipv4", "ipv6"]}):
        with pytest.raises(SystemExit):
            kernel_prereqs.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and "router advertisements" in result["msg"] and "nothing was changed" in result["msg"]
    assert open(os.path.join(root, "proc/sys/net/ipv6/conf/all/forwarding")).read() == "0\n"
    assert open(os.path.join(root, "etc/sysctl.d/99-zzz-podnet-doctor.conf")).read() == FIXED[
        "etc/sysctl.d/99-zzz-podnet-doctor.conf"]
