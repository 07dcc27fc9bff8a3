"""Observed node state after remediation: /proc values, files, and what the node's
own boot tools (systemd-sysctl, sysctl --system) apply, read back from /proc."""
import pytest

HARDENING = "/etc/sysctl.d/99-zz-cis.conf"
DROP_IN = "/etc/sysctl.d/99-zzz-podnet-doctor.conf"
KEYS = ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables")


def proc(host, key):
    return host.file("/proc/sys/" + key).content_string.strip()


@pytest.mark.parametrize("key", KEYS)
def test_runtime_values_are_on(host, key):
    assert proc(host, key) == "1"


def test_drop_in_is_ours_and_sorted_last(host):
    drop_in = host.file(DROP_IN)
    assert drop_in.is_file and drop_in.mode == 0o644 and drop_in.user == "root"
    assert "net.ipv4.ip_forward = 1" in drop_in.content_string
    names = host.run("ls /etc/sysctl.d /run/sysctl.d /usr/lib/sysctl.d 2>/dev/null").stdout.split()
    assert sorted(n for n in names if n.endswith(".conf"))[-1] == "99-zzz-podnet-doctor.conf"


def test_foreign_hardening_file_untouched(host):
    assert "net.ipv4.ip_forward = 0" in host.file(HARDENING).content_string
    assert not host.run("ls /etc/sysctl.d/*.bak* 2>/dev/null").stdout


@pytest.mark.parametrize("boot_tool", ["/lib/systemd/systemd-sysctl", "sysctl --system"])
def test_boot_tools_leave_values_on(host, boot_tool):
    """Turn the values off, run the tool the next boot (or an admin) runs, read /proc."""
    host.run_test("sysctl -w net.ipv4.ip_forward=0 net.bridge.bridge-nf-call-iptables=0")
    assert proc(host, KEYS[0]) == "0"
    host.run_expect([0], boot_tool)
    for key in KEYS:
        assert proc(host, key) == "1", "%s after %s" % (key, boot_tool)
