"""Review 3 (issue 14 fixers): a run for one kernel area must not drop or change what another area's run
wrote, and the drop-in must converge for every mix of areas. Each test is a fixture-tree layout."""
import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import prereq_fix
from ansible_collections.podnet.doctor.tests.unit.plugins.module_utils.kernel.test_link_sysctl_fix import (
    checks, links, read, tree)

PORTS = {"proc/sys/net/ipv4/ip_local_port_range": "32768\t60999\n", "proc/sys/net/ipv4/ip_local_reserved_ports": "\n"}


def run(root, areas, cni="flannel", nodeport_range="30000-32767", families=("ipv4",)):
    plan = prereq_fix.plan_fix(root, areas, families, options={"cni": cni, "nodeport_range": nodeport_range},
                               links=links())
    assert not plan["blockers"], plan
    prereq_fix.apply_fix(plan, root)
    return plan


def drop_ins(root):
    return sorted(n for n in os.listdir(os.path.join(root, "etc/sysctl.d"))
                  if (read(root, "etc/sysctl.d/" + n) or "").startswith(prereq_fix.MARKER))


def test_ports_only_run_keeps_the_rp_filter_glob_winning(tmp_path):
    root = tree(tmp_path, PORTS, {
        "proc/sys/net/ipv4/conf/lxc_health/rp_filter": "1\n",
        "etc/sysctl.d/99-zzzz-cis.conf": "net.ipv4.conf.lxc_*.rp_filter = 1\n"})
    run(root, ["rp_filter"], cni="cilium")
    assert checks(root, "cilium")["rp_filter.pod_links"]["status"] == "pass"
    name = drop_ins(root)
    run(root, ["ports"])  # the remediate role runs only the failing area
    assert checks(root, "cilium")["rp_filter.pod_links"]["status"] == "pass"
    assert drop_ins(root) == name


def calico_all_after_a_later_strict_file(tmp_path):
    root = tree(tmp_path, PORTS, {
        "etc/sysctl.d/10-network-security.conf": "net.ipv4.conf.all.rp_filter=2\n",
        "proc/sys/net/ipv4/conf/all/rp_filter": "2\n",
        # forwarding off, as the ip_forward run of the next test finds it (and has a /proc file to write)
        "proc/sys/net/ipv4/ip_forward": "0\n", "proc/sys/net/ipv4/conf/all/forwarding": "0\n"})
    run(root, ["rp_filter"], cni="calico")
    # later a hardening baseline sets strict mode, which Calico accepts
    with open(os.path.join(root, "etc/sysctl.d/99-zzzz-cis.conf"), "w") as handle:
        handle.write("net.ipv4.conf.all.rp_filter = 1\n")
    run(root, ["rp_filter"], cni="calico")
    return root, drop_ins(root)


def test_calico_all_rp_filter_drop_in_name_converges_across_area_mixes(tmp_path):
    """A held all.rp_filter = 0 keeps the Calico area's test (0 or 1): a ports run with podnet_cni=calico (as remediate
    passes it) does not outrank a later foreign '= 1' that the rp_filter run accepts."""
    root, first = calico_all_after_a_later_strict_file(tmp_path)
    run(root, ["ports"], cni="calico")
    assert drop_ins(root) == first
    assert not prereq_fix.plan_changes(prereq_fix.plan_fix(root, ["rp_filter"], options={"cni": "calico"},
                                                           links=links()))


def test_calico_all_rp_filter_drop_in_name_converges_with_a_run_for_another_cni(tmp_path):
    root, first = calico_all_after_a_later_strict_file(tmp_path)
    run(root, ["ip_forward"])  # role ip_forward, podnet_cni left at its default
    assert drop_ins(root) == first


def test_ip_forward_only_run_does_not_change_the_held_ports_line(tmp_path):
    root = tree(tmp_path, PORTS, {"proc/sys/net/ipv4/ip_local_port_range": "15000\t60999\n",
                                  "proc/sys/net/ipv4/ip_forward": "0\n",
                                  "proc/sys/net/ipv4/conf/all/forwarding": "0\n"})
    run(root, ["ports"], nodeport_range="20000-22767")
    line = [l for l in read(root, "etc/sysctl.d/99-zzz-podnet-doctor.conf").splitlines() if "reserved" in l]
    assert line == ["net.ipv4.ip_local_reserved_ports = 20000-22767"]
    run(root, ["ip_forward"])  # the ip_forward role's default podnet_nodeport_range
    after = [l for l in read(root, "etc/sysctl.d/99-zzz-podnet-doctor.conf").splitlines() if "reserved" in l]
    assert after == line


def test_a_reservation_added_after_the_fix_is_not_silently_dropped_at_boot(tmp_path):
    from ansible_collections.podnet.doctor.plugins.module_utils.kernel import port_ranges, sysctl_boot
    root = tree(tmp_path, PORTS)
    run(root, ["ports"])
    # later: the admin reserves a port of their own, in their own file, and applies it
    with open(os.path.join(root, "etc/sysctl.d/50-app.conf"), "w") as handle:
        handle.write("net.ipv4.ip_local_reserved_ports = 40000\n")
    with open(os.path.join(root, "proc/sys/net/ipv4/ip_local_reserved_ports"), "w") as handle:
        handle.write("30000-32767,40000\n")
    boot = sysctl_boot.effective_boot_value(port_ranges.RESERVED_KEY, root, "", store=port_ranges.reserved_store)
    kept = "40000" in (boot["systemd"]["value"] or "").split(",")
    verdict = port_ranges.evaluate(root)[0]["status"]
    assert kept or verdict != "pass", (boot["systemd"], verdict)


def reserve_later(root, text="net.ipv4.ip_local_reserved_ports = 40000\n", now="30000-32767,40000\n"):
    with open(os.path.join(root, "etc/sysctl.d/50-app.conf"), "w") as handle:
        handle.write(text)
    if now is not None:
        with open(os.path.join(root, "proc/sys/net/ipv4/ip_local_reserved_ports"), "w") as handle:
            handle.write(now)


def test_a_dropped_reservation_names_its_file_and_a_second_ports_run_keeps_it_and_converges(tmp_path):
    from ansible_collections.podnet.doctor.plugins.module_utils.kernel import port_ranges, sysctl_boot
    root = tree(tmp_path, PORTS)
    run(root, ["ports"])
    reserve_later(root, now=None)  # in the file only: not applied yet
    result = port_ranges.evaluate(root)[0]
    assert result["status"] == "fail", result
    assert ("at boot and after sysctl --system ports 40000 that /etc/sysctl.d/50-app.conf line 1 reserves are not "
            "reserved: our drop-in /etc/sysctl.d/99-zzz-podnet-doctor.conf line 5 sets the whole list without them (a "
            "write replaces it), and overrides that line") in result["observed"]
    assert "run it again for the ports area" in result["fix"] and "30000-32767,40000" in result["fix"]
    run(root, ["ports"])  # what remediate does for the failing check
    boot = sysctl_boot.effective_boot_value(port_ranges.RESERVED_KEY, root, "", store=port_ranges.reserved_store)
    assert boot["systemd"]["value"] == boot["procps"]["value"] == "30000-32767,40000"
    assert read(root, "proc/sys/net/ipv4/ip_local_reserved_ports").strip() == "30000-32767,40000"
    assert port_ranges.evaluate(root)[0]["status"] == "pass"
    assert not prereq_fix.plan_changes(prereq_fix.plan_fix(root, ["ports"], options={"nodeport_range": "30000-32767"},
                                                           links=links()))


def test_a_port_reserved_only_at_runtime_after_the_fix_is_named_as_lost_at_boot(tmp_path):
    from ansible_collections.podnet.doctor.plugins.module_utils.kernel import port_ranges
    root = tree(tmp_path, PORTS)
    run(root, ["ports"])
    with open(os.path.join(root, "proc/sys/net/ipv4/ip_local_reserved_ports"), "w") as handle:
        handle.write("30000-32767,40000-40002\n")  # sysctl -w, no file
    result = port_ranges.evaluate(root)[0]
    assert result["status"] == "fail" and "ports 40000-40002 reserved now are not reserved: our drop-in" in result["observed"]
    assert "overrides" not in result["observed"]  # no file of the admin's asked for them
    run(root, ["ports"])
    assert port_ranges.evaluate(root)[0]["status"] == "pass"


@pytest.mark.parametrize("files,now", [
    # no drop-in of ours: the admin's own later file replaces the list (their order, not our override)
    ({"etc/sysctl.d/50-app.conf": "net.ipv4.ip_local_reserved_ports = 40000\n",
      "etc/sysctl.d/60-k8s.conf": "net.ipv4.ip_local_reserved_ports = 30000-32767\n"}, "30000-32767\n"),
    # no drop-in of ours: a port reserved only at runtime is nobody's file to keep
    ({"etc/sysctl.d/60-k8s.conf": "net.ipv4.ip_local_reserved_ports = 30000-32767\n"}, "30000-32767,40000\n"),
])
def test_without_our_drop_in_a_foreign_list_that_reserves_the_nodeports_passes(tmp_path, files, now):
    from ansible_collections.podnet.doctor.plugins.module_utils.kernel import port_ranges
    layout = dict(PORTS, **files)
    layout["proc/sys/net/ipv4/ip_local_reserved_ports"] = now
    result = port_ranges.evaluate(tree(tmp_path, layout))[0]
    assert result["status"] == "pass", result


def test_a_foreign_file_after_our_drop_in_decides_the_list_and_is_not_blamed_on_it(tmp_path):
    from ansible_collections.podnet.doctor.plugins.module_utils.kernel import port_ranges
    root = tree(tmp_path, PORTS)
    run(root, ["ports"])
    with open(os.path.join(root, "etc/sysctl.d/zz-late.conf"), "w") as handle:
        handle.write("net.ipv4.ip_local_reserved_ports = 30000-32767\n")
    reserve_later(root, now=None)
    result = port_ranges.evaluate(root)[0]
    assert result["status"] == "pass" and "our drop-in" not in result["observed"], result


def test_the_drop_in_records_the_cni_its_rp_filter_lines_were_written_for(tmp_path):
    root, first = calico_all_after_a_later_strict_file(tmp_path)
    text = read(root, "etc/sysctl.d/" + first[0])
    assert ("# written by area rp_filter for podnet_cni=calico, which needs it in {0, 1}:\n"
            "net.ipv4.conf.all.rp_filter = 0\n") in text
    run(root, ["ip_forward"])  # another cni (flannel): the record is kept
    assert read(root, "etc/sysctl.d/" + first[0]).count("podnet_cni=calico") == 1


def test_a_held_cilium_all_rp_filter_keeps_ciliums_test_in_a_run_for_calico(tmp_path):
    """The other direction: a run whose cni accepts more (Calico: 0 or 1) must not leave a later foreign '= 1' to win
    over the line written for Cilium (which needs 0)."""
    root = tree(tmp_path, PORTS, {"proc/sys/net/ipv4/conf/all/rp_filter": "2\n"})
    run(root, ["rp_filter"], cni="cilium")
    with open(os.path.join(root, "etc/sysctl.d/99-zzzz-cis.conf"), "w") as handle:
        handle.write("net.ipv4.conf.all.rp_filter = 1\n")
    run(root, ["ports"], cni="calico")
    assert checks(root, "cilium")["rp_filter.pod_links"]["status"] == "pass"
    assert drop_ins(root) == ["z99-zzz-podnet-doctor.conf"]  # sorts after 99-zzzz-cis.conf
    name = drop_ins(root)
    run(root, ["rp_filter"], cni="cilium")
    assert drop_ins(root) == name


def test_a_held_rp_filter_line_without_a_record_keeps_the_earlier_rule(tmp_path):
    """A drop-in of an earlier release has no record: the held line takes this run's cni's test when that cni writes
    the same value (as before), and the rp_filter run then records it."""
    root, first = calico_all_after_a_later_strict_file(tmp_path)
    path = os.path.join(root, "etc/sysctl.d", first[0])
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:
        handle.write("".join(l for l in text.splitlines(True) if not l.startswith("# written by area")))
    run(root, ["ports"], cni="calico")
    assert drop_ins(root) == first and "written by area" not in read(root, "etc/sysctl.d/" + first[0])
    run(root, ["rp_filter"], cni="calico")
    assert drop_ins(root) == first and "podnet_cni=calico" in read(root, "etc/sysctl.d/" + first[0])
