"""Hostile strings in every string argument of the modules that run commands on a node.

Property (hypothesis): whatever a string argument holds (quotes, ``;``, ``$()``, backticks,
pipes, newlines, NUL, alone or after a valid value), the module
  * never starts a command through a shell, and never passes that text on in an argument
    (every hostile value carries the marker ``Zq7``, which no command may contain);
  * ends with a JSON answer, never a traceback; when it refuses the input, one line naming
    the parameter or its role variable, with nothing written under the fake root.
Commands are recorded, not run; the node is a fixture tree.
"""
import json
import os
import shutil
import tempfile

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.podnet.doctor.plugins.modules import kernel_prereqs, netmgr_fix, node_info, overlay_firewall
from ansible_collections.podnet.doctor.tests.unit.fixture_tree import loadable_br_netfilter, make_tree

MARKER = "Zq7"
DANGEROUS = ["'", '"', ";", "$(id)", "`id`", "|", "&&", ">", "<", "\n", "\r", "\x00", "\t", " ", "*", "\\", "--",
             "../", "%s", "{{ 7*7 }}"]
VALID = {"cni": "flannel", "cni_mode": "vxlan", "pod_cidr": "10.244.0.0/16", "overlay_ports": "8472/udp",
         "node_networks": "192.168.77.0/24", "peers": "192.168.77.11", "ignore": "ip_forward.boot",
         "sysctl_file": "/etc/sysctl.d/99-zzz-podnet-doctor.conf", "modules_file": "/etc/modules-load.d/podnet-doctor.conf",
         "areas": "ip_forward", "ip_families": "ipv4", "on_override": "outrank", "root": "/",
         "nodeport_range": "30000-32767"}
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
# a marker first, or a valid value with something dangerous and then the marker after it
hostile = st.one_of(
    st.builds(lambda a, bad, b: MARKER + a + bad + b, text, st.sampled_from(DANGEROUS), text),
    st.builds(lambda valid, bad, a: valid + bad + MARKER + a, st.sampled_from(sorted(set(VALID.values()))),
              st.sampled_from(DANGEROUS), text))

NODE_INFO = ["cni", "cni_mode", "pod_cidr", "overlay_ports", "node_networks", "peers", "ignore",
             "sysctl_file", "modules_file", "ip_families", "nodeport_range"]
KERNEL_PREREQS = ["sysctl_file", "modules_file", "areas", "ip_families", "on_override", "nodeport_range"]
NETMGR_FIX = ["cni"]
OVERLAY_FIREWALL = ["cni", "cni_mode", "pod_cidr", "overlay_ports", "node_networks", "peers"]
LISTS = {"overlay_ports", "node_networks", "peers", "ignore", "areas", "ip_families"}
# what the module must refuse; the others (peers, ignore) may hold anything and are only compared
MUST_REFUSE = {"cni", "cni_mode", "pod_cidr", "overlay_ports", "node_networks", "sysctl_file", "modules_file",
               "areas", "ip_families", "on_override", "nodeport_range"}
ROLE_VARIABLE = {"cni": "podnet_cni", "cni_mode": "podnet_cni_mode", "pod_cidr": "podnet_pod_cidr",
                 "overlay_ports": "podnet_overlay_ports", "node_networks": "podnet_node_networks",
                 "sysctl_file": "podnet_sysctl_file", "modules_file": "podnet_modules_file",
                 "nodeport_range": "podnet_nodeport_range"}


class Recorder(object):
    def __init__(self):
        self.calls = []

    def run_command(self, args, **kwargs):
        """Stands in for AnsibleModule.run_command (set on the class, so it gets no module)."""
        self.calls.append((args, kwargs))
        return 0, "", ""


def fake_node():
    root = tempfile.mkdtemp(prefix="podnet-hostile-")
    make_tree(root, loadable_br_netfilter(**{
        "proc/sys/net/ipv4/ip_forward": "0\n",
        "proc/sys/net/bridge/bridge-nf-call-iptables": "0\n",
        "proc/sys/net/bridge/bridge-nf-call-ip6tables": "0\n",
        "proc/sys/net/ipv6/conf/all/forwarding": "0\n",
        "proc/modules": "br_netfilter 32768 0 - Live 0x0000000000000000\n",
        "etc/sysctl.d/10-base.conf": "kernel.panic = 10\n"}))
    return root


def tree_of(root):
    found = {}
    for directory, _dirs, files in os.walk(os.path.join(root, "etc")):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = handle.read()
    return found


def run_module(module, args, monkeypatch, capsys):
    recorder = Recorder()
    monkeypatch.setattr(basic.AnsibleModule, "run_command", recorder.run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/usr/sbin/" + name)
    capsys.readouterr()
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    out = capsys.readouterr().out
    return json.loads(out), recorder.calls


def check_property(module, parameter, value, check_mode, monkeypatch, capsys):
    root = fake_node()
    try:
        before = tree_of(root)
        args = {"root": root, "_ansible_check_mode": check_mode}
        if module in (node_info, overlay_firewall):  # the others take no node_networks
            args["node_networks"] = ["192.168.77.0/24"]
        if module is not node_info:
            args.pop("node_networks") if parameter == "node_networks" else None
        args[parameter] = [value] if parameter in LISTS else value
        result, calls = run_module(module, args, monkeypatch, capsys)

        for argv, kwargs in calls:
            assert isinstance(argv, list), "a command built as a string: %r" % (argv,)
            assert not kwargs.get("use_unsafe_shell"), argv
            assert not any(MARKER in str(part) for part in argv), "user input reached a command: %r" % (argv,)

        if parameter in MUST_REFUSE:
            assert result.get("failed") is True, result
            assert "Unsupported parameters" not in result["msg"], result
        if result.get("failed"):
            msg = result["msg"]
            assert parameter in msg or ROLE_VARIABLE.get(parameter, parameter) in msg, msg
            assert "Traceback" not in msg
            if not msg.startswith("value of "):  # AnsibleModule's own choices message quotes the value raw
                assert "\n" not in msg and "\x00" not in msg, msg
            assert tree_of(root) == before, "refused input, but files changed"
    finally:
        shutil.rmtree(root)


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(parameter=st.sampled_from(NODE_INFO), value=hostile)
def test_node_info(parameter, value, monkeypatch, capsys):
    check_property(node_info, parameter, value, False, monkeypatch, capsys)


@SETTINGS
@given(parameter=st.sampled_from(KERNEL_PREREQS), value=hostile, check_mode=st.booleans())
def test_kernel_prereqs(parameter, value, check_mode, monkeypatch, capsys):
    check_property(kernel_prereqs, parameter, value, check_mode, monkeypatch, capsys)


@SETTINGS
@given(parameter=st.sampled_from(OVERLAY_FIREWALL), value=hostile, check_mode=st.booleans())
def test_overlay_firewall(parameter, value, check_mode, monkeypatch, capsys):
    check_property(overlay_firewall, parameter, value, check_mode, monkeypatch, capsys)


@SETTINGS
@given(parameter=st.sampled_from(NETMGR_FIX), value=hostile, check_mode=st.booleans())
def test_netmgr_fix(parameter, value, check_mode, monkeypatch, capsys):
    check_property(netmgr_fix, parameter, value, check_mode, monkeypatch, capsys)


@pytest.mark.parametrize("value", ["/etc/sysctl.d/x.conf; rm -rf /", "/etc/sysctl.d/../../etc/passwd",
                                   "/etc/sysctl.conf", "/tmp/99-podnet.conf", "/etc/sysctl.d/podnet",
                                   "/etc/sysctl.d/.hidden.conf", "/etc/sysctl.d/a\nb.conf"])
def test_owned_sysctl_file_outside_sysctl_d_is_refused_naming_the_variable(value, monkeypatch, capsys):
    root = fake_node()
    try:
        result, calls = run_module(kernel_prereqs, {"root": root, "sysctl_file": value}, monkeypatch, capsys)
        assert result["failed"] is True
        assert result["msg"].startswith("podnet_sysctl_file=")
        assert "/etc/sysctl.d/<name>.conf" in result["msg"]
        assert calls == []
        assert not os.path.exists(os.path.join(root, "run", "podnet-doctor.lock"))  # refused before the lock
    finally:
        shutil.rmtree(root)


def test_the_recorder_sees_every_command_of_a_run_that_proceeds(monkeypatch, capsys):
    """Guards the property above against passing vacuously: a hostile peer is only compared,
    so the run goes on and its ruleset reads are recorded, none carrying the marker."""
    root = fake_node()
    try:
        result, calls = run_module(overlay_firewall, {"root": root, "peers": [MARKER + ";id"],
                                                      "node_networks": ["192.168.77.0/24"]}, monkeypatch, capsys)
        assert [os.path.basename(argv[0]) for argv, _kw in calls][:4] == [
            "ip", "nft", "iptables-legacy-save", "iptables-nft-save"]
        assert "failed" not in result or not result["failed"], result
    finally:
        shutil.rmtree(root)
