"""Remediation plans over fixture trees: what is written, where, and what is not."""
import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils import rootfs
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import FixError
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import prereq_checks, prereq_fix, sysctl_boot
from ansible_collections.podnet.doctor.tests.unit.fixture_tree import KERNEL_RELEASE as REL
from ansible_collections.podnet.doctor.tests.unit.fixture_tree import loadable_br_netfilter, make_tree

BROKEN = loadable_br_netfilter(**{
    "proc/modules": "",
    "proc/sys/net/ipv4/ip_forward": "0\n",
    "etc/sysctl.d/99-zz-cis.conf": "# CIS\nnet.ipv4.ip_forward = 0\n",
})


def fake_modprobe(root):
    def run(argv):
        assert argv == ["modprobe", "br_netfilter"]
        with open(os.path.join(root, "proc/modules"), "w") as handle:
            handle.write("br_netfilter 32768 0 - Live 0x0\n")
        os.makedirs(os.path.join(root, "proc/sys/net/bridge"), exist_ok=True)
        with open(os.path.join(root, "proc/sys/net/bridge/bridge-nf-call-iptables"), "w") as handle:
            handle.write("0\n")
        return 0, "", ""
    return run


def statuses(root):
    facts = prereq_checks.gather_facts(root, ("ipv4",))
    return dict((c["id"], c["status"]) for c in prereq_checks.evaluate(facts))


def test_fix_then_everything_passes_and_second_plan_is_empty(tmp_path):
    root = make_tree(tmp_path, BROKEN)
    assert "fail" in statuses(root).values()
    plan = prereq_fix.plan_fix(root)
    assert plan["modprobe"] == "br_netfilter" and not plan["blockers"]
    prereq_fix.apply_fix(plan, root, run_command=fake_modprobe(root))
    assert set(statuses(root).values()) == {"pass"}
    again = prereq_fix.plan_fix(root)
    assert not prereq_fix.plan_changes(again)
    body = open(os.path.join(root, "etc/sysctl.d/99-zzz-podnet-doctor.conf")).read()
    assert "net.ipv4.ip_forward = 1" in body and "-net.bridge.bridge-nf-call-iptables = 1" in body
    assert open(os.path.join(root, "etc/modules-load.d/podnet-doctor.conf")).read().endswith("br_netfilter\n")
    # the foreign hardening file is untouched by default
    assert open(os.path.join(root, "etc/sysctl.d/99-zz-cis.conf")).read() == BROKEN["etc/sysctl.d/99-zz-cis.conf"]


@pytest.mark.parametrize("override_name,expected", [
    ("99-zz-cis.conf", "/etc/sysctl.d/99-zzz-podnet-doctor.conf"),
    ("zz-hardening.conf", "/etc/sysctl.d/zz99-zzz-podnet-doctor.conf"),  # '9' sorts after '-'
    ("k8s.conf", "/etc/sysctl.d/z99-zzz-podnet-doctor.conf"),
])
def test_drop_in_is_named_to_outrank_the_override(tmp_path, override_name, expected):
    files = dict(BROKEN)
    files["usr/lib/sysctl.d/" + override_name] = files.pop("etc/sysctl.d/99-zz-cis.conf")
    root = make_tree(tmp_path, files)
    plan = prereq_fix.plan_fix(root, areas=["ip_forward"])
    assert plan["sysctl_file"] == expected
    prereq_fix.apply_fix(plan, root)
    assert statuses(root)["ip_forward.boot"] == "pass"


def test_renamed_drop_in_replaces_our_older_copy(tmp_path):
    root = make_tree(tmp_path, BROKEN)
    prereq_fix.apply_fix(prereq_fix.plan_fix(root, areas=["ip_forward"]), root)
    make_tree(tmp_path, {"etc/sysctl.d/zz-late.conf": "net.ipv4.ip_forward=0\n"})
    plan = prereq_fix.plan_fix(root, areas=["ip_forward"])
    assert [e["path"] for e in plan["remove"]] == ["/etc/sysctl.d/99-zzz-podnet-doctor.conf"]
    prereq_fix.apply_fix(plan, root)
    assert sorted(os.listdir(os.path.join(root, "etc/sysctl.d"))) == [
        "99-zz-cis.conf", "zz-late.conf", "zz99-zzz-podnet-doctor.conf"]
    assert statuses(root)["ip_forward.boot"] == "pass"


def test_sysctl_conf_is_unresolved_unless_comment_policy(tmp_path):
    files = dict(BROKEN)
    files["etc/sysctl.conf"] = "kernel.panic = 10\nnet.ipv4.ip_forward=0\n"
    root = make_tree(tmp_path, files)
    plan = prereq_fix.plan_fix(root, areas=["ip_forward"])
    assert any("/etc/sysctl.conf line 2" in u for u in plan["unresolved"])
    plan = prereq_fix.plan_fix(root, areas=["ip_forward"], on_override="comment")
    assert not plan["unresolved"]
    backups = []
    prereq_fix.apply_fix(plan, root, backup=lambda p: backups.append(p) or p + ".bak")
    text = open(os.path.join(root, "etc/sysctl.conf")).read()
    assert text == "kernel.panic = 10\n# disabled by podnet.doctor (Kubernetes needs it at 1): net.ipv4.ip_forward=0\n"
    assert sorted(backups) == [os.path.join(root, "etc/sysctl.conf"), os.path.join(root, "etc/sysctl.d/99-zz-cis.conf")]
    assert statuses(root)["ip_forward.boot"] == "pass"


def test_vendor_files_are_never_edited(tmp_path):
    files = dict(BROKEN)
    files["usr/lib/sysctl.d/99-zz-cis.conf"] = files.pop("etc/sysctl.d/99-zz-cis.conf")
    root = make_tree(tmp_path, files)
    plan = prereq_fix.plan_fix(root, areas=["ip_forward"], on_override="comment")
    assert all(not e["path"].startswith("/usr/") for e in plan["files"])


def test_blacklisted_module_blocks_and_nothing_is_written(tmp_path):
    files = dict(BROKEN)
    files["etc/modprobe.d/cis.conf"] = "blacklist br_netfilter\n"
    root = make_tree(tmp_path, files)
    before = sorted(os.walk(root))
    plan = prereq_fix.plan_fix(root)
    assert "blacklisted by /etc/modprobe.d/cis.conf line 1" in plan["blockers"][0]
    with pytest.raises(FixError):
        prereq_fix.apply_fix(plan, root, run_command=fake_modprobe(root))
    assert sorted(os.walk(root)) == before
    assert open(os.path.join(root, "proc/sys/net/ipv4/ip_forward")).read() == "0\n"


def test_missing_module_is_a_blocker(tmp_path):
    files = dict(BROKEN)
    files["lib/modules/%s/modules.dep" % REL] = ""
    plan = prereq_fix.plan_fix(make_tree(tmp_path, files))
    assert "install the kernel modules package" in plan["blockers"][0]


def test_built_in_module_needs_no_modules_load_file(tmp_path):
    files = dict(BROKEN)
    files["lib/modules/%s/modules.builtin" % REL] = "kernel/net/bridge/br_netfilter.ko\n"
    files["proc/sys/net/bridge/bridge-nf-call-iptables"] = "1\n"
    plan = prereq_fix.plan_fix(make_tree(tmp_path, files))
    assert plan["modprobe"] is None
    assert all("modules-load.d" not in e["path"] for e in plan["files"])


def test_write_atomic_leaves_no_temp_files(tmp_path):
    target = os.path.join(str(tmp_path), "etc", "x.conf")
    rootfs.write_atomic(target, "a = 1\n")
    rootfs.write_atomic(target, "a = 2\n")
    assert os.listdir(os.path.dirname(target)) == ["x.conf"]
    assert oct(os.stat(target).st_mode & 0o777) == "0o644"


def test_plan_names_the_files_it_outranks(tmp_path):
    root = make_tree(tmp_path, BROKEN)
    assert prereq_fix.plan_fix(root, areas=["ip_forward"])["outranks"] == ["/etc/sysctl.d/99-zz-cis.conf"]


def test_a_write_killed_before_the_rename_leaves_the_old_file_whole(tmp_path):
    """The rename is the only step that touches the target; a kill before it (simulated by a
    mover that dies) leaves the old content, and the next write converges and tidies up."""
    target = str(tmp_path / "sysctl.d" / "99-zzz-podnet-doctor.conf")
    rootfs.write_atomic(target, "net.ipv4.ip_forward = 0\n")

    class Killed(BaseException):
        pass

    def dies(src, dest):
        raise Killed()

    with pytest.raises(Killed):
        rootfs.write_atomic(target, "net.ipv4.ip_forward = 1\n", mover=dies)
    with open(target) as handle:
        assert handle.read() == "net.ipv4.ip_forward = 0\n"
    rootfs.write_atomic(target, "net.ipv4.ip_forward = 1\n")
    with open(target) as handle:
        assert handle.read() == "net.ipv4.ip_forward = 1\n"


def test_stale_temp_files_of_a_killed_run_are_removed_young_ones_kept(tmp_path):
    import os
    import time
    directory = tmp_path / "sysctl.d"
    directory.mkdir()
    stale, young, foreign = directory / ".podnet-abc123", directory / ".podnet-def456", directory / ".other-tmp"
    for path in (stale, young, foreign):
        path.write_text("net.ipv4.ip_for")  # what a kill mid-write leaves
    old = time.time() - rootfs.STALE_TEMP_SECONDS - 5
    os.utime(str(stale), (old, old))
    os.utime(str(foreign), (old, old))
    rootfs.write_atomic(str(directory / "99-zzz-podnet-doctor.conf"), "net.ipv4.ip_forward = 1\n")
    assert sorted(p.name for p in directory.iterdir()) == [".other-tmp", ".podnet-def456", "99-zzz-podnet-doctor.conf"]


@pytest.mark.parametrize("override_name", ["~hardening.conf", "{cis.conf", "zzzz~.conf", "ühardening.conf"])
def test_drop_in_outranks_names_sorting_after_any_run_of_z(tmp_path, override_name):
    """A foreign file whose name sorts after 'zzz...' ('~', '{', non-ASCII): the drop-in gets a
    name that sorts after it byte by byte (strcmp, as systemd-sysctl and procps sort), and the
    plan ends (it used to prefix 'z' forever)."""
    import signal

    def hung(signum, frame):
        raise AssertionError("outranking_path did not end for %r" % override_name)
    signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        files = dict(BROKEN)
        files["etc/sysctl.d/" + override_name] = files.pop("etc/sysctl.d/99-zz-cis.conf")
        root = make_tree(tmp_path, files)
        plan = prereq_fix.plan_fix(root, areas=["ip_forward"])
    finally:
        signal.alarm(0)
    name = os.path.basename(plan["sysctl_file"])
    assert os.fsencode(name) > os.fsencode(override_name)
    prereq_fix.apply_fix(plan, root)
    assert statuses(root)["ip_forward.boot"] == "pass"


@pytest.mark.parametrize("foreign", [
    # an earlier same-value line keeps its early place in systemd-sysctl's order; the alias set
    # to 0 after it would be written after our drop-in's net.ipv4.ip_forward = 1
    {"etc/sysctl.d/10-a.conf": "net.ipv4.ip_forward = 1\n", "etc/sysctl.d/20-b.conf": "net.ipv4.conf.all.forwarding = 0\n"},
    # the alias set to 0 in a file that sorts after ours
    {"etc/sysctl.d/zz-late.conf": "net.ipv4.conf.all.forwarding = 0\n"},
    # a later '-key' drops our assignment in systemd-sysctl
    {"etc/sysctl.d/zz-late.conf": "-net.ipv4.ip_forward\n"},
    # a later glob over the alias
    {"etc/sysctl.d/zz-late.conf": "net.ipv4.conf.*.forwarding = 0\n"},
])
def test_fix_wins_over_aliases_same_value_places_exclusions_and_globs(tmp_path, foreign):
    files = dict(BROKEN)
    files.update(foreign)
    root = make_tree(tmp_path, files)
    plan = prereq_fix.plan_fix(root, areas=["ip_forward"])
    assert not plan["unresolved"]
    prereq_fix.apply_fix(plan, root)
    result = sysctl_boot.effective_boot_value("net.ipv4.ip_forward", root)
    assert result["systemd"]["value"] == result["procps"]["value"] == "1"


def fixed_then_reset(tmp_path, files, reset):
    """A node fixed for both areas, then a compliance scan's sysctl -w ``reset``=0."""
    root = make_tree(tmp_path, files)
    prereq_fix.apply_fix(prereq_fix.plan_fix(root), root, run_command=fake_modprobe(root))
    assert set(statuses(root).values()) == {"pass"}
    make_tree(tmp_path, {"proc/sys/" + reset.replace(".", "/"): "0\n"})
    return root


@pytest.mark.parametrize("area,reset,kept", [
    ("bridge_netfilter", "net.bridge.bridge-nf-call-iptables", "net.ipv4.ip_forward = 1"),
    ("ip_forward", "net.ipv4.ip_forward", "-net.bridge.bridge-nf-call-iptables = 1"),
])
def test_fixing_one_area_keeps_the_other_areas_key_in_the_owned_file(tmp_path, area, reset, kept):
    # the lifecycle suite's pinned sequence issue-12: a one-area fix rewrote the drop-in with
    # that area's keys only, and the CIS file's ip_forward = 0 won the next boot
    files = dict(BROKEN)
    files["etc/sysctl.d/99-zz-cis.conf"] = "# CIS\nnet.ipv4.ip_forward = 0\nnet.bridge.bridge-nf-call-iptables = 0\n"
    root = fixed_then_reset(tmp_path, files, reset)
    assert statuses(root)["ip_forward.runtime" if area == "ip_forward" else "bridge_nf_call.runtime"] == "fail"
    plan = prereq_fix.plan_fix(root, areas=[area])
    prereq_fix.apply_fix(plan, root, run_command=fake_modprobe(root))
    assert kept in open(os.path.join(root, "etc/sysctl.d/99-zzz-podnet-doctor.conf")).read()
    assert set(statuses(root).values()) == {"pass"}


def test_fixing_one_area_keeps_the_name_that_outranks_the_other_areas_override(tmp_path):
    files = dict(BROKEN)
    files["etc/sysctl.d/zz-hardening.conf"] = files.pop("etc/sysctl.d/99-zz-cis.conf")
    root = fixed_then_reset(tmp_path, files, "net.bridge.bridge-nf-call-iptables")
    assert sorted(os.listdir(os.path.join(root, "etc/sysctl.d"))) == ["zz-hardening.conf", "zz99-zzz-podnet-doctor.conf"]
    plan = prereq_fix.plan_fix(root, areas=["bridge_netfilter"])
    assert plan["sysctl_file"] == "/etc/sysctl.d/zz99-zzz-podnet-doctor.conf" and not plan["remove"]
    prereq_fix.apply_fix(plan, root, run_command=fake_modprobe(root))
    assert set(statuses(root).values()) == {"pass"}


def test_a_one_area_fix_sets_no_runtime_value_of_the_other_area(tmp_path):
    root = fixed_then_reset(tmp_path, BROKEN, "net.ipv4.ip_forward")
    make_tree(tmp_path, {"proc/sys/net/bridge/bridge-nf-call-iptables": "0\n"})
    plan = prereq_fix.plan_fix(root, areas=["ip_forward"])
    assert list(plan["runtime"]) == ["net.ipv4.ip_forward"]


def test_the_drop_in_holds_the_areas_keys_plus_those_it_already_held(tmp_path):
    root = make_tree(tmp_path, BROKEN)
    assert prereq_fix.plan_fix(root, areas=["ip_forward"])["keys"] == ["net.ipv4.ip_forward"]
    prereq_fix.apply_fix(prereq_fix.plan_fix(root, areas=["bridge_netfilter"]), root, run_command=fake_modprobe(root))
    # in the order a full run writes them, so runs for different areas agree on the body
    assert prereq_fix.plan_fix(root, areas=["ip_forward"])["keys"] == [
        "net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables"]


def test_modprobe_is_judged_by_its_exit_code_and_its_stderr_is_a_warning(tmp_path):
    root = make_tree(tmp_path, BROKEN)
    loads = fake_modprobe(root)

    def warns(argv):  # e.g. a deprecated option in a modprobe.d file: modprobe still loads the module
        loads(argv)
        return 0, "", "modprobe: WARNING: /etc/modprobe.d/old.conf line 1: ignoring bad line\n"
    done = prereq_fix.apply_fix(prereq_fix.plan_fix(root), root, run_command=warns)
    assert done["warnings"] == ["modprobe br_netfilter succeeded with a message: modprobe: WARNING: "
                                "/etc/modprobe.d/old.conf line 1: ignoring bad line"]
    assert set(statuses(root).values()) == {"pass"}


def test_a_failed_modprobe_stops_the_fix_with_its_message(tmp_path):
    root = make_tree(tmp_path, BROKEN)
    with pytest.raises(FixError) as caught:
        prereq_fix.apply_fix(prereq_fix.plan_fix(root), root,
                             run_command=lambda argv: (1, "", "modprobe: FATAL: Module br_netfilter not found.\n"))
    assert str(caught.value) == "modprobe br_netfilter failed (rc=1): modprobe: FATAL: Module br_netfilter not found."
