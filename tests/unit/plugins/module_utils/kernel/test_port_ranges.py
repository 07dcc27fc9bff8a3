"""ports.nodeport_reserved over fixture trees: the kernel's reading of the two values, boot
precedence across files, and the reserved-ports fix that keeps the node's own reservations."""
import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import port_ranges, prereq_checks, prereq_fix
from ansible_collections.podnet.doctor.tests.unit.fixture_tree import Link, loadable_br_netfilter, make_tree

HEALTHY = loadable_br_netfilter(**{
    "proc/modules": "br_netfilter 32768 0 - Live 0x0\n",
    "proc/sys/net/ipv4/ip_forward": "1\n",
    "proc/sys/net/bridge/bridge-nf-call-iptables": "1\n",
    "proc/sys/net/ipv4/ip_local_port_range": "32768\t60999\n",
    "proc/sys/net/ipv4/ip_local_reserved_ports": "\n",
})
NODEPORTS = (30000, 32767)


def check(root, nodeports=NODEPORTS):
    return port_ranges.evaluate(root, nodeports, prereq_checks.DEFAULT_SYSCTL_FILE)[0]


def tree(tmp_path, **files):
    layout = dict(HEALTHY)
    layout.update(files)
    return make_tree(tmp_path, layout)


# what a scratch network namespace on kernel 6.18 did with each write (see the module docstring)
@pytest.mark.parametrize("text,stored", [
    ("30000-32767,40000", "30000-32767,40000"),
    ("1,2-4,10-10", "1-4,10"),
    ("30000-32767,40000-40000,30005", "30000-32767,40000"),
    ("30000-32767\n40000", "30000-32767,40000"),
    ("0x10", "16"), ("030", "24"), ("00", "0"), ("5-0x10", "5-16"), ("5,", "5"), ("1-2,3-4,", "1-4"),
    ("", ""), ("65535", "65535"),
    ("30000, 40000", None), (" 30000", None), ("30000 ,40000", None), ("40000-30000", None), ("70000", None),
    ("65536", None), ("30000-32767,,40000", None), ("+5", None), ("5-", None), ("5 ", None), ("08", None),
])
def test_reserved_ports_are_read_as_the_kernel_reads_them(text, stored):
    assert port_ranges.reserved_store("net/ipv4/ip_local_reserved_ports", text) == stored


@pytest.mark.parametrize("text,previous,stored", [
    ("30000 32767", None, "30000\t32767"), ("30000\t32767", None, "30000\t32767"),
    ("31000", "40000\t50000", "31000\t50000"),  # one number sets the low end only
    ("0x8000 0x9000", None, "32768\t36864"), ("030000 040000", None, "12288\t16384"),
    ("3000  4000", None, "3000\t4000"), (" 30000 32767", None, "30000\t32767"),
    ("30000 32767 9", None, "30000\t32767"), ("1024 65535", None, "1024\t65535"), ("2000 2000", None, "2000\t2000"),
    ("40001 40000", None, None), ("1024 1023", None, None), ("1023 2000", None, None), ("0 100", None, None),
    ("40000 70000", None, None), ("5000 1000 9", None, None), ("+3000 4000", None, None), ("3000,4000", None, None),
    ("3000 4000x", None, None), ("", None, None), ("-3000 4000", None, None),
])
def test_the_port_range_is_read_as_the_kernel_reads_it(text, previous, stored):
    assert port_ranges.range_store_for(False)("net/ipv4/ip_local_port_range", text, previous) == stored


@pytest.mark.parametrize("value,parsed", [("30000-32767", (30000, 32767)), (" 30000 - 32767 ", (30000, 32767)),
                                          ("30000+2767", (30000, 32767)), ("31000", (31000, 31000))])
def test_nodeport_range_forms(value, parsed):
    assert port_ranges.parse_nodeport_range(value) == parsed


@pytest.mark.parametrize("value", ["", "32767-30000", "0-100", "30000-70000", "30000:32767", "abc", "30000-"])
def test_a_bad_nodeport_range_is_one_clear_error(value):
    with pytest.raises(ValueError) as caught:
        port_ranges.parse_nodeport_range(value)
    assert "podnet_nodeport_range=" in str(caught.value) and "30000-32767" in str(caught.value)


def test_debian_defaults_pass(tmp_path):
    result = check(tree(tmp_path))
    assert result["status"] == "pass", result


def test_overlap_now_fails_with_the_exposed_ports(tmp_path):
    result = check(tree(tmp_path, **{"proc/sys/net/ipv4/ip_local_port_range": "32000\t60999\n"}))
    assert result["status"] == "fail"
    assert "now NodePorts 32000-32767 are handed out as source ports" in result["observed"]
    assert "net.ipv4.ip_local_reserved_ports = 30000-32767" in result["fix"]


def test_overlap_covered_by_reserved_ports_passes(tmp_path):
    files = {"proc/sys/net/ipv4/ip_local_port_range": "1024\t65535\n",
             "proc/sys/net/ipv4/ip_local_reserved_ports": "30000-32767\n",
             "etc/sysctl.d/50-wide.conf": "net.ipv4.ip_local_port_range = 1024 65535\n"
                                          "net.ipv4.ip_local_reserved_ports = 29000-33000,40000\n"}
    assert check(tree(tmp_path, **files))["status"] == "pass"
    # only the overlap has to be reserved
    assert check(tree(tmp_path, **{"proc/sys/net/ipv4/ip_local_port_range": "32000\t60999\n",
                                   "proc/sys/net/ipv4/ip_local_reserved_ports": "32000-32767\n",
                                   "etc/sysctl.d/50-wide.conf": "net.ipv4.ip_local_port_range = 32768 60999\n"}
                      ))["status"] == "pass"


def test_boot_fails_when_a_file_widens_the_range_the_runtime_does_not_show(tmp_path):
    result = check(tree(tmp_path, **{"usr/lib/sysctl.d/50-wide.conf": "net.ipv4.ip_local_port_range = 10000 65000\n"}))
    assert result["status"] == "fail"
    assert "/usr/lib/sysctl.d/50-wide.conf line 1" in result["observed"]
    assert "at boot and after sysctl --system NodePorts 30000-32767 are not reserved" in result["observed"]


@pytest.mark.parametrize("files,status", [
    # the later file (by name) wins
    ({"etc/sysctl.d/10-a.conf": "net.ipv4.ip_local_port_range = 10000 65000\n",
      "etc/sysctl.d/20-b.conf": "net.ipv4.ip_local_port_range = 32768 60999\n"}, "pass"),
    ({"etc/sysctl.d/20-b.conf": "net.ipv4.ip_local_port_range = 10000 65000\n",
      "usr/lib/sysctl.d/10-a.conf": "net.ipv4.ip_local_port_range = 32768 60999\n"}, "fail"),
    # /etc masks the same name in /usr/lib
    ({"etc/sysctl.d/50-wide.conf": Link("/dev/null"),
      "usr/lib/sysctl.d/50-wide.conf": "net.ipv4.ip_local_port_range = 10000 65000\n"}, "pass"),
    # a refused write keeps the earlier value
    ({"etc/sysctl.d/10-a.conf": "net.ipv4.ip_local_port_range = 10000 65000\n",
      "etc/sysctl.d/20-b.conf": "net.ipv4.ip_local_port_range = 40000 30000\n"}, "fail"),
    # one number sets the low end only
    ({"etc/sysctl.d/20-b.conf": "net.ipv4.ip_local_port_range = 31000\n"}, "fail"),
    # globs do not reach ip_local_port_range (no '*' over it matches a directory name)
    ({"etc/sysctl.d/20-b.conf": "net.ipv4.conf.*.ip_local_port_range = 10000 65000\n"}, "pass"),
    # a reservation that covers the overlap, in a later file; a later reserved line replaces the list
    ({"etc/sysctl.d/10-a.conf": "net.ipv4.ip_local_port_range = 10000 65000\n",
      "etc/sysctl.d/20-b.conf": "net.ipv4.ip_local_reserved_ports = 30000-32767\n"}, "pass"),
    ({"etc/sysctl.d/10-a.conf": "net.ipv4.ip_local_port_range = 10000 65000\n",
      "etc/sysctl.d/20-b.conf": "net.ipv4.ip_local_reserved_ports = 30000-32767\n",
      "etc/sysctl.d/30-c.conf": "net.ipv4.ip_local_reserved_ports = 40000\n"}, "fail"),
])
def test_boot_precedence_across_files(tmp_path, files, status):
    result = check(tree(tmp_path, **files))
    assert result["status"] == status, result


def test_a_refused_list_keeps_the_earlier_one_for_procps_but_not_for_systemd(tmp_path):
    """'30000, 40000' has a blank: the kernel refuses it. sysctl --system wrote the earlier list
    first, so it stays; systemd-sysctl keeps one entry per key, the last one, and writes only the
    refused list: the kernel's empty default stays."""
    result = check(tree(tmp_path, **{
        "etc/sysctl.d/10-a.conf": "net.ipv4.ip_local_port_range = 10000 65000\n"
                                  "net.ipv4.ip_local_reserved_ports = 30000-32767\n",
        "etc/sysctl.d/30-c.conf": "net.ipv4.ip_local_reserved_ports = 30000, 40000\n"}))
    assert result["status"] == "fail"
    assert "at boot (systemd-sysctl) NodePorts 30000-32767 are not reserved" in result["observed"]
    assert "after sysctl --system NodePorts" not in result["observed"]


def test_sysctl_conf_counts_for_sysctl_system_only(tmp_path):
    result = check(tree(tmp_path, **{"etc/sysctl.conf": "net.ipv4.ip_local_port_range=1024 65535\n"}))
    assert result["status"] == "fail"
    assert "after sysctl --system NodePorts 30000-32767 are not reserved" in result["observed"]
    assert "at boot (systemd-sysctl) NodePorts" not in result["observed"]


def test_an_unreadable_file_is_an_error(tmp_path, monkeypatch):
    from ansible_collections.podnet.doctor.plugins.module_utils.kernel import sysctl_boot
    root = tree(tmp_path, **{"etc/sysctl.d/50-secret.conf": "x\n"})
    real = sysctl_boot._read_file
    monkeypatch.setattr(sysctl_boot, "_read_file", lambda p: sysctl_boot.Unreadable("Permission denied")
                        if p.endswith("50-secret.conf") else real(p))
    result = check(root)
    assert result["status"] == "error" and "50-secret.conf: cannot read it (Permission denied)" in result["observed"]


def test_missing_proc_values_are_an_error(tmp_path):
    root = make_tree(tmp_path, {"etc/sysctl.d/.keep": ""})
    result = check(root)
    assert result["status"] == "error" and "ip_local_port_range" in result["observed"]


def test_a_runtime_file_that_decides_is_an_error(tmp_path):
    # /run widens the range: fails with it, passes once a reboot empties /run: cannot tell
    result = check(tree(tmp_path, **{"run/sysctl.d/50-wide.conf": "net.ipv4.ip_local_port_range = 1024 65535\n"}))
    assert result["status"] == "error" and "/run/sysctl.d/50-wide.conf" in result["observed"]
    result = check(tree(tmp_path, **{
        "run/sysctl.d/50-wide.conf": "net.ipv4.ip_local_reserved_ports = 30000-32767\n",
        "etc/sysctl.d/10-wide.conf": "net.ipv4.ip_local_port_range = 1024 65535\n",
        "proc/sys/net/ipv4/ip_local_port_range": "1024\t65535\n",
        "proc/sys/net/ipv4/ip_local_reserved_ports": "30000-32767\n"}))
    assert result["status"] == "error" and "/run/sysctl.d/50-wide.conf" in result["observed"]


def test_unprivileged_port_start_in_a_file_makes_a_low_range_undecided(tmp_path):
    result = check(tree(tmp_path, **{"etc/sysctl.d/10-a.conf": "net.ipv4.ip_unprivileged_port_start = 500\n"
                                                               "net.ipv4.ip_local_port_range = 600 29000\n"}))
    assert result["status"] == "error" and "ip_unprivileged_port_start" in result["observed"]


# --- the fix: the kernel fixer's 'ports' area ---------------------------------------------------

OVERLAP = {"proc/sys/net/ipv4/ip_local_port_range": "32000\t60999\n",
           "proc/sys/net/ipv4/ip_local_reserved_ports": "40000\n",
           "etc/sysctl.d/60-wide.conf": "net.ipv4.ip_local_port_range = 32000 60999\n",
           "etc/sysctl.d/70-app.conf": "net.ipv4.ip_local_reserved_ports = 40000\n"}
DROP_IN = "etc/sysctl.d/99-zzz-podnet-doctor.conf"


def proc(root, name):
    with open(os.path.join(root, "proc/sys/net/ipv4", name)) as handle:
        return handle.read()


def test_fix_reserves_the_union_now_and_at_boot_and_is_idempotent(tmp_path):
    root = tree(tmp_path, **OVERLAP)
    plan = prereq_fix.plan_fix(root, areas=["ports"], options={"nodeport_range": "30000-32767"})
    assert plan["runtime"] == {"net.ipv4.ip_local_reserved_ports": "40000"}
    assert not plan["unresolved"] and plan["sysctl_file"] == "/" + DROP_IN
    prereq_fix.apply_fix(plan, root)
    assert proc(root, "ip_local_reserved_ports") == "30000-32767,40000\n"
    with open(os.path.join(root, DROP_IN)) as handle:
        assert "net.ipv4.ip_local_reserved_ports = 30000-32767,40000\n" in handle.read()
    assert check(root)["status"] == "pass"
    again = prereq_fix.plan_fix(root, areas=["ports"], options={"nodeport_range": "30000-32767"})
    assert not prereq_fix.plan_changes(again), again


def test_the_diff_shows_the_runtime_list(tmp_path):
    root = tree(tmp_path, **OVERLAP)
    plan = prereq_fix.plan_fix(root, areas=["ports"])
    runtime = [d for d in prereq_fix.diff_entries(plan) if d["before_header"].startswith("/proc/sys/")]
    assert runtime == [{"before_header": "/proc/sys/net/ipv4/ip_local_reserved_ports",
                        "after_header": "/proc/sys/net/ipv4/ip_local_reserved_ports",
                        "before": "40000\n", "after": "30000-32767,40000\n"}]


def test_a_later_foreign_reservation_is_outranked_and_its_ports_kept(tmp_path):
    files = dict(OVERLAP)
    files["etc/sysctl.d/zz-app.conf"] = files.pop("etc/sysctl.d/70-app.conf")
    root = tree(tmp_path, **files)
    plan = prereq_fix.plan_fix(root, areas=["ports"])
    assert plan["sysctl_file"] == "/etc/sysctl.d/zz99-zzz-podnet-doctor.conf"
    assert plan["outranks"] == ["/etc/sysctl.d/zz-app.conf"]
    prereq_fix.apply_fix(plan, root)
    assert check(root)["status"] == "pass"


def test_a_later_list_that_covers_the_range_but_drops_a_reserved_port_is_outranked(tmp_path):
    files = dict(OVERLAP)
    files["etc/sysctl.d/zz-app.conf"] = "net.ipv4.ip_local_reserved_ports = 29000-33000\n"
    root = tree(tmp_path, **files)
    plan = prereq_fix.plan_fix(root, areas=["ports"])
    # 40000 is reserved now: a list without it must not win at boot
    assert plan["sysctl_file"] == "/etc/sysctl.d/zz99-zzz-podnet-doctor.conf" and not plan["unresolved"]
    prereq_fix.apply_fix(plan, root)
    with open(os.path.join(root, "etc/sysctl.d/zz99-zzz-podnet-doctor.conf")) as handle:
        assert "net.ipv4.ip_local_reserved_ports = 29000-33000,40000\n" in handle.read()


def test_a_later_list_that_holds_every_reserved_port_is_not_outranked(tmp_path):
    files = dict(OVERLAP)
    files["etc/sysctl.d/zz-app.conf"] = "net.ipv4.ip_local_reserved_ports = 29000-33000,40000\n"
    root = tree(tmp_path, **files)
    plan = prereq_fix.plan_fix(root, areas=["ports"])
    assert "/etc/sysctl.d/zz-app.conf" not in plan["outranks"] and plan["sysctl_file"] == "/" + DROP_IN
    assert not plan["unresolved"]


def test_commenting_out_a_line_does_not_uncover_an_earlier_one_that_drops_ports(tmp_path):
    """/etc/sysctl.conf (read last by sysctl --system): line 1 reserves the range only, line 2 the
    user's ports. Commenting out line 2 alone would leave line 1 winning and 45000 lost."""
    files = dict(OVERLAP)
    files["etc/sysctl.conf"] = ("net.ipv4.ip_local_reserved_ports = 30000-32767\n"
                                "net.ipv4.ip_local_reserved_ports = 45000,30000-31000\n")
    root = tree(tmp_path, **files)
    plan = prereq_fix.plan_fix(root, areas=["ports"], on_override="comment")
    assert not plan["unresolved"], plan["unresolved"]
    prereq_fix.apply_fix(plan, root, backup=lambda p: p + ".bak")
    from ansible_collections.podnet.doctor.plugins.module_utils.kernel import sysctl_boot
    for tool in sysctl_boot.TOOLS:
        reserved = port_ranges.boot_values(sysctl_boot.load_boot_assignments(root), tool)[1]["value"]
        assert reserved == "30000-32767,40000,45000", (tool, reserved)


def test_comment_policy_comments_only_the_unacceptable_reservation(tmp_path):
    files = dict(OVERLAP)
    files["etc/sysctl.conf"] = "net.ipv4.ip_local_reserved_ports = 40000\nnet.ipv4.ip_forward = 1\n"
    root = tree(tmp_path, **files)
    plan = prereq_fix.plan_fix(root, areas=["ports"])
    assert any("/etc/sysctl.conf line 1" in u for u in plan["unresolved"])
    plan = prereq_fix.plan_fix(root, areas=["ports"], on_override="comment")
    assert not plan["unresolved"], plan["unresolved"]
    prereq_fix.apply_fix(plan, root, backup=lambda p: p + ".bak")
    with open(os.path.join(root, "etc/sysctl.conf")) as handle:
        assert handle.read() == ("# disabled by podnet.doctor (Kubernetes needs the NodePort range 30000-32767 reserved with the node's "
                                 "other reserved ports): "
                                 "net.ipv4.ip_local_reserved_ports = 40000\nnet.ipv4.ip_forward = 1\n")
    assert check(root)["status"] == "pass"
    with open(os.path.join(root, DROP_IN)) as handle:
        assert "= 30000-32767,40000" in handle.read()  # the user's port is still reserved, by us


def test_fixing_another_area_keeps_the_reserved_ports_entry(tmp_path):
    root = tree(tmp_path, **OVERLAP)
    prereq_fix.apply_fix(prereq_fix.plan_fix(root, areas=["ports"]), root)
    make_tree(tmp_path, {"proc/sys/net/ipv4/ip_forward": "0\n"})
    plan = prereq_fix.plan_fix(root, areas=["ip_forward"])
    assert plan["keys"] == ["net.ipv4.ip_forward", "net.ipv4.ip_local_reserved_ports"]
    assert list(plan["runtime"]) == ["net.ipv4.ip_forward"]  # no runtime write for the held area
    prereq_fix.apply_fix(plan, root)
    with open(os.path.join(root, DROP_IN)) as handle:
        body = handle.read()
    assert "net.ipv4.ip_forward = 1\n" in body and "net.ipv4.ip_local_reserved_ports = 30000-32767,40000\n" in body
    assert check(root)["status"] == "pass"
    # and back: fixing ports keeps forwarding
    make_tree(tmp_path, {"proc/sys/net/ipv4/ip_local_reserved_ports": "\n"})
    prereq_fix.apply_fix(prereq_fix.plan_fix(root, areas=["ports"]), root)
    with open(os.path.join(root, DROP_IN)) as handle:
        assert "net.ipv4.ip_forward = 1\n" in handle.read()


def test_a_held_reservation_picks_up_ports_the_user_reserved_since(tmp_path):
    root = tree(tmp_path, **OVERLAP)
    prereq_fix.apply_fix(prereq_fix.plan_fix(root, areas=["ports"]), root)
    make_tree(tmp_path, {"etc/sysctl.d/70-app.conf": "net.ipv4.ip_local_reserved_ports = 40000,45000\n"})
    prereq_fix.apply_fix(prereq_fix.plan_fix(root, areas=["ip_forward"]), root)
    with open(os.path.join(root, DROP_IN)) as handle:
        assert "net.ipv4.ip_local_reserved_ports = 30000-32767,40000,45000\n" in handle.read()


def test_another_nodeport_range(tmp_path):
    root = tree(tmp_path, **{"proc/sys/net/ipv4/ip_local_port_range": "20000\t60999\n"})
    assert check(root, (20000, 22767))["status"] == "fail"
    assert check(root, (10000, 12767))["status"] == "pass"
    prereq_fix.apply_fix(prereq_fix.plan_fix(root, areas=["ports"], options={"nodeport_range": "20000-22767"}), root)
    assert proc(root, "ip_local_reserved_ports") == "20000-22767\n"
    assert check(root, (20000, 22767))["status"] == "pass"


def test_runs_for_different_areas_write_the_same_drop_in(tmp_path):
    """The held forwarding variable is written under both its names; a run for another area keeps
    the order a full run writes, so a later full run changes nothing."""
    files = dict(OVERLAP)
    files["proc/sys/net/ipv4/ip_forward"] = "0\n"
    root = tree(tmp_path, **files)
    prereq_fix.apply_fix(prereq_fix.plan_fix(root, areas=["ip_forward"]), root)
    prereq_fix.apply_fix(prereq_fix.plan_fix(root, areas=["ports"]), root)
    with open(os.path.join(root, DROP_IN)) as handle:
        lines = [line for line in handle.read().splitlines() if not line.startswith("#")]
    assert lines == ["net.ipv4.ip_forward = 1", "net.ipv4.conf.all.forwarding = 1",
                     "net.ipv4.ip_local_reserved_ports = 30000-32767,40000"]
    full = prereq_fix.plan_fix(root, areas=["ip_forward", "ports"])
    assert not prereq_fix.plan_changes(full), prereq_fix.diff_entries(full)
