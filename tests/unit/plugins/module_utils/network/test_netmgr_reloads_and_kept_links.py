"""netmgr fixer on fixture trees: reloads recorded after they succeed (a failed one is redone, a daemon
started after our file needs none, udev needs no record), and the links the node configures by name
(a foreign .network Name=, an NM connection's interface-name=, the uplink) left out of the owned files."""
import fnmatch
import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import FixError
from ansible_collections.podnet.doctor.plugins.module_utils.network import managers, netmgr_fix, service_state
from tests.unit.fixture_tree import make_tree
from tests.unit.plugins.module_utils.network.test_managers import DEFAULT_LINK, ND_ON, NM_ON, UDEV, enabled_units

RELOAD_NM = ["systemctl", "reload", "NetworkManager.service"]
NM_CONF = "etc/NetworkManager/conf.d/podnet-doctor.conf"


def daemon(comm, started, pid=100):
    """A /proc with one process ``comm`` started ``started`` s after boot (btime 1000)."""
    return {"proc/stat": "cpu 1 2 3\nbtime 1000\n", "proc/%d/comm" % pid: comm + "\n",
            "proc/%d/stat" % pid: "%d (%s) S " % (pid, comm) + " ".join(["0"] * 18) + " %d 0\n"
            % (started * os.sysconf("SC_CLK_TCK"))}


def nm_node(tmp_path, started=10):
    return make_tree(tmp_path, dict(NM_ON, **daemon("NetworkManager", started)))


def fix_once(root, rc=0, uplinks=()):
    """One fixer run (when its plan changes anything): the commands it ran."""
    calls = []
    plan = netmgr_fix.plan_fix(root, managers.gather(root, "flannel", enabled_units, uplinks))
    if netmgr_fix.plan_changes(plan):
        netmgr_fix.apply_fix(plan, root, run_command=lambda argv: calls.append(argv) or (rc, "", "failed" if rc else ""))
    return calls


def judged(root, uplinks=()):
    facts = managers.gather(root, "flannel", enabled_units, uplinks)
    return managers.evaluate(facts, netmgr_fix.fix_text(netmgr_fix.plan_fix(root, facts))), facts


def test_a_recorded_reload_passes_and_a_second_run_does_nothing(tmp_path):
    root = nm_node(tmp_path)
    assert fix_once(root) == [RELOAD_NM]
    assert os.path.exists(os.path.join(root, service_state.reload_marker("NetworkManager.service").lstrip("/")))
    result, _facts = judged(root)
    assert result["status"] == "pass", result
    assert fix_once(root) == []


def test_a_failed_reload_fails_the_check_names_the_reload_and_the_next_run_does_it(tmp_path):
    root = nm_node(tmp_path)
    with pytest.raises(FixError, match="the next run reloads it again"):
        fix_once(root, rc=1)
    result, _facts = judged(root)
    assert result["status"] == "fail" and "has not read /" + NM_CONF in result["observed"], result
    assert " ".join(RELOAD_NM) in result["fix"]
    # the file is already as planned: the fix names the reload left to do, not a write
    assert "write " not in result["fix"] and "remediate does this" in result["fix"], result
    assert fix_once(root) == [RELOAD_NM]
    assert judged(root)[0]["status"] == "pass"


def test_a_daemon_started_after_our_file_needs_no_reload(tmp_path):
    root = make_tree(tmp_path, dict(NM_ON, **daemon("NetworkManager", 50)))
    make_tree(root, {NM_CONF: netmgr_fix.HEADER + "\n[keyfile]\nunmanaged-devices+=" + ";".join(
        "interface-name:%s" % g for g in managers.cni_link_globs("flannel")) + "\n"})
    os.utime(os.path.join(root, NM_CONF), (1020, 1020))  # written before the start (1050)
    assert judged(root)[0]["status"] == "pass"
    assert fix_once(root) == []
    os.utime(os.path.join(root, NM_CONF), (1060, 1060))  # edited after it (a reboot clears /run, a restart starts anew)
    assert judged(root)[0]["status"] == "fail"


def test_a_foreign_file_newer_than_nm_is_not_ours_to_judge(tmp_path):
    """Only the files podnet.doctor owns are compared: a foreign file's reload is not recorded here."""
    root = make_tree(tmp_path, dict(NM_ON, **daemon("NetworkManager", 10)))
    make_tree(root, {"etc/NetworkManager/conf.d/all.conf": "[keyfile]\nunmanaged-devices=*\n"})
    assert judged(root)[0]["status"] == "pass"


def test_networkd_reload_is_recorded_and_udev_needs_no_record(tmp_path):
    tree = dict(ND_ON, **UDEV)
    tree.update(DEFAULT_LINK)
    tree.update(daemon("systemd-network", 10))
    tree.update({"proc/101/comm": "systemd-udevd\n", "etc/systemd/network/99-all.network": "[Match]\nName=*\n"})
    root = make_tree(tmp_path, tree)
    with pytest.raises(FixError):
        fix_once(root, rc=1)
    result, facts = judged(root)
    assert result["status"] == "fail" and "the running systemd-networkd has not read" in result["observed"]
    assert facts["udev"]["running"] and not managers.findings(facts)[0][1:]  # nothing about udev
    calls = fix_once(root)
    assert ["networkctl", "reload"] in calls and ["udevadm", "control", "--reload"] not in calls
    assert judged(root)[0]["status"] == "pass"


VXLAN100 = {"sys/class/net/vxlan100/uevent": "DEVTYPE=vxlan\nINTERFACE=vxlan100\n"}


@pytest.mark.parametrize("files,uplinks,why", [
    ({"etc/systemd/network/10-uplink.network": "[Match]\nName=vxlan100 eth0\n\n[Network]\nAddress=10.0.0.5/24\n"}, (),
     "/etc/systemd/network/10-uplink.network [Match] Name=vxlan100"),
    ({"etc/NetworkManager/system-connections/evpn.nmconnection":
      "[connection]\nid=evpn\ntype=vxlan\ninterface-name=vxlan100\n"}, (),
     "/etc/NetworkManager/system-connections/evpn.nmconnection line 4 interface-name=vxlan100"),
    ({}, ("vxlan100", "eth0"), "vxlan100 holds the node address"),
    # a keyfile without the extension counts under /etc (NetworkManager reads it there), not under /run
    ({"etc/NetworkManager/system-connections/evpn": "[connection]\ninterface-name=vxlan100\n",
      "run/NetworkManager/system-connections/other": "[connection]\ninterface-name=vxlan200\n",
      "etc/NetworkManager/system-connections/evpn~": "[connection]\ninterface-name=vxlan300\n"}, (),
     "/etc/NetworkManager/system-connections/evpn line 2 interface-name=vxlan100"),
])
def test_a_link_the_node_configures_is_kept_everywhere(tmp_path, files, uplinks, why):
    tree = dict(NM_ON, **ND_ON)
    tree.update(UDEV)
    tree.update(DEFAULT_LINK)
    tree.update(VXLAN100)
    tree.update(files)
    tree["etc/systemd/network/99-all.network"] = "[Match]\nName=*\n"
    root = make_tree(tmp_path, tree)
    facts = managers.gather(root, "flannel", enabled_units, uplinks)
    assert facts["kept_links"] == [("vxlan100", why)]
    plan = netmgr_fix.plan_fix(root, facts)
    assert plan["kept"] == facts["kept_links"]
    by_suffix = dict((os.path.splitext(f["path"])[1], f["after"]) for f in plan["files"] if "NetworkManager" not in f["path"])
    assert [f for f in plan["files"] if "NetworkManager" in f["path"] and "except:interface-name:=vxlan100" in f["after"]]
    for suffix, key in ((".network", "Name="), (".link", "OriginalName=")):
        globs = [l for l in by_suffix[suffix].splitlines() if l.startswith(key)][0].split("=", 1)[1].split()
        assert not any(fnmatch.fnmatchcase("vxlan100", g) for g in globs), globs
        assert all(any(fnmatch.fnmatchcase(n, g) for g in globs) for n in ("vxlan.calico", "vxlan1", "vxlan1000", "cni0"))
    netmgr_fix.apply_fix(plan, root)
    result = managers.evaluate(managers.gather(root, "flannel", enabled_units, uplinks), "")
    assert "vxlan100 (%s)" % why in result["observed"], result
    assert "would manage" not in result["observed"] and "would configure CNI links" not in result["observed"], result


def test_an_earlier_runs_file_that_takes_a_kept_link_fails_and_is_rewritten(tmp_path):
    """Our files as an earlier run wrote them (every vxlan*), then the admin configures vxlan100 by name."""
    tree = dict(NM_ON, **ND_ON)
    tree.update(UDEV)
    tree.update(DEFAULT_LINK)
    tree.update(VXLAN100)
    tree["etc/systemd/network/99-all.network"] = "[Match]\nName=*\n"
    root = make_tree(tmp_path, tree)
    netmgr_fix.apply_fix(netmgr_fix.plan_fix(root, managers.gather(root, "flannel", enabled_units)), root)
    assert judged(root)[0]["status"] == "pass"
    make_tree(root, {"etc/NetworkManager/system-connections/evpn.nmconnection": "[connection]\ninterface-name=vxlan100\n"})
    result, facts = judged(root)
    assert result["status"] == "fail", result
    for path in ("/etc/NetworkManager/conf.d/podnet-doctor.conf", "/etc/systemd/network/00-podnet-doctor-cni.network",
                 "/etc/systemd/network/00-podnet-doctor-cni.link"):
        assert "podnet.doctor's own %s takes vxlan100" % path in result["observed"], result
    plan = netmgr_fix.plan_fix(root, facts)
    assert len(netmgr_fix.changed_files(plan)) == 3, plan
    netmgr_fix.apply_fix(plan, root)
    result, facts = judged(root)
    assert result["status"] == "pass" and "vxlan100 (/etc/NetworkManager/system-connections" in result["observed"], result
    assert not netmgr_fix.plan_changes(netmgr_fix.plan_fix(root, facts))


def test_a_file_naming_a_cni_device_is_the_fault_not_a_link_to_keep(tmp_path):
    root = make_tree(tmp_path, dict(ND_ON, **{"etc/systemd/network/50-cni.network": "[Match]\nName=flannel.1 cni0\n"}))
    result, facts = judged(root, uplinks=("eth0",))
    assert facts["kept_links"] == [] and result["status"] == "fail", result
    assert "flannel.1 by /etc/systemd/network/50-cni.network" in result["observed"]


@pytest.mark.parametrize("names", [["vxlan100"], ["vxlan1", "vxlan10", "vxlan2"], ["vxlan"], ["weave"], ["kube-ipvs0", "cni0"], ["kube-a-b", "kube--"]])
def test_narrowed_globs_are_the_exact_complement(names):
    globs = managers.cni_link_globs("flannel")
    narrowed = managers.globs_without(globs, names)
    probes = ["vxlan", "vxlan1", "vxlan10", "vxlan100", "vxlan1000", "vxlan2", "vxlan20", "vxlan.calico", "vxlanX",
              "weave", "weave2", "cni", "cni0", "cni00", "cni1", "kube-ipvs0", "kube-ipvs", "kube-", "kube-a-b", "kube--", "eth0", "lo"]
    for name in probes:
        expected = name not in names and any(fnmatch.fnmatchcase(name, g) for g in globs)
        assert any(fnmatch.fnmatchcase(name, g) for g in narrowed) == expected, (name, narrowed)


def test_a_name_with_glob_characters_drops_its_glob_whole():
    assert "vxlan*" not in managers.globs_without(["cni*", "vxlan*"], ["vxlan[1]"])
    assert managers.globs_without(["cni*", "vxlan*"], ["vxlan[1]"]) == ["cni*"]
