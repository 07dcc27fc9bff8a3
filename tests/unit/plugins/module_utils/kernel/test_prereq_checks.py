"""Check verdicts from fixture trees: the whole gather -> evaluate path."""
import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import prereq_checks
from ansible_collections.podnet.doctor.tests.unit.fixture_tree import loadable_br_netfilter, make_tree

HEALTHY = loadable_br_netfilter(**{
    "proc/modules": "br_netfilter 32768 0 - Live 0x0\n",
    "proc/sys/net/ipv4/ip_forward": "1\n",
    "proc/sys/net/ipv6/conf/all/forwarding": "1\n",
    "proc/sys/net/bridge/bridge-nf-call-iptables": "1\n",
    "proc/sys/net/bridge/bridge-nf-call-ip6tables": "1\n",
    "etc/modules-load.d/k8s.conf": "br_netfilter\n",
    "etc/sysctl.d/50-k8s.conf": "net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\n",
})


def checks(tmp_path, change=None, drop=(), families=("ipv4",), ignore=()):
    files = dict(HEALTHY)
    files.update(change or {})
    for key in drop:
        files.pop(key)
    facts = prereq_checks.gather_facts(make_tree(tmp_path, files), families)
    return dict((c["id"], c) for c in prereq_checks.evaluate(facts, ignore))


def test_healthy_node_passes_everything(tmp_path):
    got = checks(tmp_path)
    assert sorted(got) == sorted(prereq_checks.CHECK_IDS)
    assert set(c["status"] for c in got.values()) == {"pass"}


@pytest.mark.parametrize("change,drop,failing", [
    ({"proc/sys/net/ipv4/ip_forward": "0\n"}, (), {"ip_forward.runtime"}),
    ({"etc/sysctl.d/99-zz-cis.conf": "net.ipv4.ip_forward = 0\n"}, (), {"ip_forward.boot"}),
    ({}, ("etc/sysctl.d/50-k8s.conf",), {"ip_forward.boot"}),  # kernel default 0
    ({"etc/sysctl.conf": "net.ipv4.ip_forward=0\n"}, (), {"ip_forward.boot"}),  # sysctl --system
    ({}, ("proc/modules", "proc/sys/net/bridge/bridge-nf-call-iptables",
          "proc/sys/net/bridge/bridge-nf-call-ip6tables"),
     {"br_netfilter.loaded", "bridge_nf_call.runtime"}),
    ({}, ("etc/modules-load.d/k8s.conf",), {"br_netfilter.boot", "bridge_nf_call.boot"}),
    ({"proc/sys/net/bridge/bridge-nf-call-iptables": "0\n"}, (), {"bridge_nf_call.runtime"}),
    ({"usr/lib/sysctl.d/99-zz.conf": "net.bridge.bridge-nf-call-iptables=0\n"}, (),
     {"bridge_nf_call.boot"}),
    ({"etc/modprobe.d/cis.conf": "blacklist br_netfilter\n"}, (),
     {"br_netfilter.boot", "bridge_nf_call.boot"}),
])
def test_each_fault_fails_its_checks(tmp_path, change, drop, failing):
    got = checks(tmp_path, change, drop)
    assert set(k for k, c in got.items() if c["status"] == "fail") == failing
    for check_id in failing:
        assert got[check_id]["fix"]


def test_boot_fail_names_file_line_and_fix(tmp_path):
    got = checks(tmp_path, {"etc/sysctl.d/99-zz-cis.conf": "# CIS\nnet.ipv4.ip_forward = 0\n"})
    boot = got["ip_forward.boot"]
    assert "/etc/sysctl.d/99-zz-cis.conf line 2" in boot["observed"]
    assert "99-zzz-podnet-doctor.conf" in boot["fix"] and "99-zz-cis.conf" in boot["fix"]


def test_persisted_bridge_key_without_module_at_boot(tmp_path):
    got = checks(tmp_path, drop=("etc/modules-load.d/k8s.conf",))
    findings = " ".join(got["bridge_nf_call.boot"]["findings"])
    assert "cannot apply net.bridge.bridge-nf-call-iptables" in findings


def test_ipv6_family_adds_keys(tmp_path):
    got = checks(tmp_path, {"proc/sys/net/ipv6/conf/all/forwarding": "0\n"}, families=("ipv4", "ipv6"))
    assert got["ip_forward.runtime"]["status"] == "fail"
    assert "net.ipv6.conf.all.forwarding=0" in got["ip_forward.runtime"]["observed"]


def test_ignore_turns_fail_into_ignored(tmp_path):
    got = checks(tmp_path, {"proc/sys/net/ipv4/ip_forward": "0\n"}, ignore=("ip_forward.runtime",))
    assert got["ip_forward.runtime"]["status"] == "ignored"


def test_networkd_ip_forward_is_reported(tmp_path):
    got = checks(tmp_path, {"etc/systemd/network/10-eth0.network": "[Network]\nIPForward=yes\n"})
    assert "IPForward= in /etc/systemd/network/10-eth0.network line 2 (yes)" in got["ip_forward.boot"]["observed"]


def test_one_tool_surely_at_zero_fails_even_when_the_other_is_undecided(tmp_path):
    """systemd-sysctl's value hangs on a /run file (gone at boot unless rewritten: undecided), but
    sysctl --system ends at 0 from /etc/sysctl.conf whatever /run holds: that is a fail, not an error."""
    got = checks(tmp_path, {"run/sysctl.d/99-zzzz-local.conf": "net.ipv4.ip_forward = 1\n",
                            "etc/sysctl.conf": "net.ipv4.ip_forward = 0\n"}, drop=("etc/sysctl.d/50-k8s.conf",))
    assert got["ip_forward.boot"]["status"] == "fail", got["ip_forward.boot"]
    assert "sysctl --system" in got["ip_forward.boot"]["observed"]
    assert "undecided" in got["ip_forward.boot"]["observed"]


@pytest.mark.parametrize("mask", ["", "link"])
def test_a_masked_systemd_sysctl_service_applies_nothing_at_boot(tmp_path, mask):
    """With systemd-sysctl.service masked, the boot keeps the kernel defaults whatever the files say."""
    import os
    root = make_tree(tmp_path, HEALTHY)
    unit = os.path.join(root, "etc/systemd/system/systemd-sysctl.service")
    os.makedirs(os.path.dirname(unit), exist_ok=True)
    if mask == "link":
        os.symlink("/dev/null", unit)
    else:
        open(unit, "w").close()
    got = dict((c["id"], c) for c in prereq_checks.evaluate(prereq_checks.gather_facts(root, ("ipv4",))))
    assert got["ip_forward.boot"]["status"] == "fail", got["ip_forward.boot"]
    assert "systemd-sysctl.service is masked by /etc/systemd/system/systemd-sysctl.service" in \
        got["ip_forward.boot"]["observed"]


def test_networkd_ip_forward_is_found_under_a_relative_root(tmp_path, monkeypatch):
    """root is a path option: a relative one must read the same files as its absolute form."""
    make_tree(tmp_path / "node", {"etc/systemd/network/10-uplink.network": "[Network]\nIPForward=yes\n"})
    monkeypatch.chdir(tmp_path)
    assert prereq_checks.networkd_ip_forward("node") == prereq_checks.networkd_ip_forward(str(tmp_path / "node")) != []
