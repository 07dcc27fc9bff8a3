"""netmgr.cni_links on fixture trees: NetworkManager's conf.d merge (+=, -=, shadowing, except:),
networkd's drop-in order and .network first match, udev .link precedence and masking, unreadable
files, and the fixer's plan (names that win, idempotence)."""
import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.network import managers, netmgr_fix, service_state
from tests.unit.fixture_tree import Link, make_tree

NM_ON = {"etc/systemd/system/multi-user.target.wants/NetworkManager.service": Link("/lib/systemd/system/NetworkManager.service")}
ND_ON = {"etc/systemd/system/multi-user.target.wants/systemd-networkd.service": Link("/lib/systemd/system/systemd-networkd.service")}
UDEV = {"usr/lib/systemd/systemd-udevd": ""}
DEFAULT_LINK = {"usr/lib/systemd/network/99-default.link":
                "[Match]\nOriginalName=*\n\n[Link]\nNamePolicy=keep kernel database onboard slot path\n"
                "AlternativeNamesPolicy=database onboard slot path\nMACAddressPolicy=persistent\n"}
CALICO_NM = "[keyfile]\nunmanaged-devices=interface-name:cali*;interface-name:tunl*;interface-name:vxlan.calico\n"
ALL_NM = "[keyfile]\nunmanaged-devices=" + ";".join("interface-name:%s" % g for g in managers.CNI_LINK_GLOBS) + "\n"


def enabled_units(root):
    wants = os.path.join(root, "etc/systemd/system/multi-user.target.wants")
    return os.listdir(wants) if os.path.isdir(wants) else []


def processes(root, names):
    """A fake /proc with one process per command name."""
    for pid, name in enumerate(names, 100):
        make_tree(root, {"proc/%d/comm" % pid: name + "\n"})


def judge(tmp_path, files, cni="flannel", running=()):
    root = make_tree(tmp_path, files)
    processes(root, running)
    facts = managers.gather(root, cni, enabled_units)
    return managers.evaluate(facts, netmgr_fix.fix_text(netmgr_fix.plan_fix(root, facts))), facts, root


def judged_status(tmp_path, base, files, status):
    """The result on ``base`` + ``files``, asserted to have ``status``."""
    tree = dict(base)
    tree.update(files)
    result, _facts, _root = judge(tmp_path, tree)
    assert result["status"] == status, result
    return result


def test_no_manager_is_skip(tmp_path):
    result, _facts, _root = judge(tmp_path, {"etc/hostname": "n\n"})
    assert result["status"] == "skip"


@pytest.mark.parametrize("files,status,names", [
    ({"etc/NetworkManager/NetworkManager.conf": "[main]\nplugins=keyfile\n"}, "fail", "cali0a1b2c3d4e5"),
    ({"etc/NetworkManager/conf.d/calico.conf": CALICO_NM}, "fail", "flannel.1"),
    ({"etc/NetworkManager/conf.d/all.conf": ALL_NM}, "pass", None),
    # += in a later file appends; -= removes again
    ({"etc/NetworkManager/conf.d/a.conf": CALICO_NM,
      "etc/NetworkManager/conf.d/b.conf": ALL_NM.replace("=", "+=", 1)}, "pass", None),
    ({"etc/NetworkManager/conf.d/a.conf": ALL_NM,
      "etc/NetworkManager/conf.d/b.conf": "[keyfile]\nunmanaged-devices-=interface-name:cni*\n"}, "fail", "cni0"),
    # a plain = in a later file replaces the whole list
    ({"etc/NetworkManager/conf.d/a.conf": ALL_NM,
      "etc/NetworkManager/conf.d/b.conf": "[keyfile]\nunmanaged-devices=mac:00:11:22:33:44:55\n"}, "fail", "cni0"),
    # /etc/NetworkManager/conf.d shadows the same name in /usr/lib; NetworkManager.conf is read after /usr/lib
    ({"usr/lib/NetworkManager/conf.d/x.conf": ALL_NM,
      "etc/NetworkManager/conf.d/x.conf": "[main]\n"}, "fail", "cni0"),
    ({"usr/lib/NetworkManager/conf.d/x.conf": ALL_NM,
      "etc/NetworkManager/NetworkManager.conf": "[keyfile]\nunmanaged-devices=\n"}, "fail", "cni0"),
    # '*' and except:
    ({"etc/NetworkManager/conf.d/a.conf": "[keyfile]\nunmanaged-devices=*\n"}, "pass", None),
    ({"etc/NetworkManager/conf.d/a.conf": "[keyfile]\nunmanaged-devices=except:interface-name:eth0\n"}, "pass", None),
    ({"etc/NetworkManager/conf.d/a.conf": "[keyfile]\nunmanaged-devices=*;except:interface-name:flannel*\n"},
     "fail", "flannel.1"),
    # interface-name:= is literal, no glob
    ({"etc/NetworkManager/conf.d/a.conf": ALL_NM.replace("interface-name:cni*", "interface-name:=cni*")}, "fail", "cni0"),
    # a [device] section with managed=0
    ({"etc/NetworkManager/conf.d/a.conf": "[device-cni]\nmatch-device=interface-name:*\nmanaged=0\n"}, "pass", None),
])
def test_networkmanager_unmanaged_devices(tmp_path, files, status, names):
    result = judged_status(tmp_path, NM_ON, files, status)
    if names:
        assert names in result["observed"] and "NetworkManager" in result["observed"]
        assert "unmanaged-devices+=interface-name:cni*" in result["fix"]


NM_VETH_RULE = 'ENV{ID_NET_DRIVER}=="veth", ENV{INTERFACE}!="eth[0-9]*", ENV{NM_UNMANAGED}="1"\n'


@pytest.mark.parametrize("rules,veth_managed", [
    ({"usr/lib/udev/rules.d/85-nm-unmanaged.rules": NM_VETH_RULE}, False),
    ({"usr/lib/udev/rules.d/85-nm-unmanaged.rules": NM_VETH_RULE, "etc/udev/rules.d/85-nm-unmanaged.rules": ""}, True),
    ({"usr/lib/udev/rules.d/85-nm-unmanaged.rules": NM_VETH_RULE,
      "etc/udev/rules.d/85-nm-unmanaged.rules": Link("/dev/null")}, True),
    ({"usr/lib/udev/rules.d/85-nm-unmanaged.rules": "# " + NM_VETH_RULE}, True),
    ({}, True),
])
def test_networkmanager_udev_rule_leaves_veths_alone(tmp_path, rules, veth_managed):
    tree = dict(NM_ON, **rules)
    tree["etc/NetworkManager/conf.d/calico.conf"] = CALICO_NM  # cali* unmanaged anyway
    result, _facts, _root = judge(tmp_path, tree)
    assert result["status"] == "fail" and "cni0" in result["observed"]
    assert ("lxc0a1b2c3d4e5" in result["observed"]) == veth_managed, result["observed"]


def test_nm_cloud_setup_fails_and_is_not_fixed(tmp_path):
    tree = dict(NM_ON)
    tree["etc/NetworkManager/conf.d/all.conf"] = ALL_NM
    tree["etc/systemd/system/multi-user.target.wants/nm-cloud-setup.service"] = Link("/x")
    result, facts, root = judge(tmp_path, tree)
    assert result["status"] == "fail" and "nm-cloud-setup" in result["observed"]
    assert netmgr_fix.CLOUD_SETUP_FIX in result["fix"]
    assert netmgr_fix.plan_fix(root, facts)["files"] == []


NETWORK_ETH0 = {"etc/systemd/network/10-uplink.network": "[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n",
                "sys/class/net/eth0/uevent": "INTERFACE=eth0\nIFINDEX=2\n", "sys/class/net/eth0/ifindex": "2\n"}


@pytest.mark.parametrize("files,status,text", [
    # networkd enabled but configuring no link: removes nothing (lab: a rule survives its restart)
    ({}, "pass", None),
    (NETWORK_ETH0, "fail", "ManageForeignRoutingPolicyRules=yes (the default)"),
    (dict(NETWORK_ETH0, **{"etc/systemd/networkd.conf": "[Network]\nManageForeignRoutes=no\n"}),
     "fail", "ManageForeignRoutingPolicyRules=yes"),
    (dict(NETWORK_ETH0, **{"etc/systemd/networkd.conf.d/x.conf":
                           "[Network]\nManageForeignRoutes=no\nManageForeignRoutingPolicyRules=no\n"}), "pass", None),
    # a drop-in overrides networkd.conf; a later drop-in overrides an earlier one, across directories
    (dict(NETWORK_ETH0, **{"etc/systemd/networkd.conf.d/a.conf":
                           "[Network]\nManageForeignRoutes=no\nManageForeignRoutingPolicyRules=no\n",
                           "usr/lib/systemd/networkd.conf.d/b.conf": "[Network]\nManageForeignRoutes=yes\n"}),
     "fail", "usr/lib/systemd/networkd.conf.d/b.conf line 2"),
    # same name: /etc shadows /usr/lib
    (dict(NETWORK_ETH0, **{"etc/systemd/networkd.conf.d/b.conf":
                           "[Network]\nManageForeignRoutes=no\nManageForeignRoutingPolicyRules=no\n",
                           "usr/lib/systemd/networkd.conf.d/b.conf": "[Network]\nManageForeignRoutes=yes\n"}),
     "pass", None),
    # a match-all .network takes the CNI links themselves
    ({"etc/systemd/network/99-all.network": "[Match]\nName=*\n\n[Network]\nDHCP=yes\n"},
     "fail", "flannel.1 by /etc/systemd/network/99-all.network"),
    # an empty [Match] is ignored by networkd; Type=/Kind= that CNI links do not have do not match
    ({"etc/systemd/network/99-all.network": "[Match]\n\n[Network]\nDHCP=yes\n",
      "usr/lib/systemd/network/80-6rd-tunnel.network": "[Match]\nName=6rd-*\nType=sit\n",
      "usr/lib/systemd/network/80-ether.network": "[Match]\nType=ether\nMACAddress=00:11:22:33:44:55\n"},
     "pass", None),
    # the first match wins: an earlier Unmanaged=yes file protects the links
    ({"etc/systemd/network/00-cni.network": "[Match]\nName=cni* flannel* cali* vxlan* tunl* lxc* cilium* weave antrea* kube-*\n"
                                            "[Link]\nUnmanaged=yes\n",
      "etc/systemd/network/99-all.network": "[Match]\nName=*\n"}, "pass", None),
    ({"etc/systemd/network/99-all.network": "[Match]\nName=!eth0 lo\n"}, "fail", "cni0"),
    # netplan's way: the node's uplink by MAC (its hardware is not read: it may match); networkd not running
    (dict(NETWORK_ETH0, **{"etc/systemd/network/10-uplink.network":
                           "[Match]\nPermanentMACAddress=52:54:00:12:34:56\nName=eth0\n"}),
     "fail", "removes routes it did not create when it starts or reconfigures eth0"),
    (dict(NETWORK_ETH0, **{"etc/systemd/network/10-uplink.network": "[Match]\nName=eth0\nWLANInterfaceType=station\n"}),
     "pass", None),
])
def test_networkd(tmp_path, files, status, text):
    result = judged_status(tmp_path, ND_ON, files, status)
    if text:
        assert text in result["observed"], result


@pytest.mark.parametrize("files,status,text", [
    (DEFAULT_LINK, "fail", "antrea-gw0, kube-ipvs0 by /usr/lib/systemd/network/99-default.link line 7 (MACAddressPolicy=persistent)"),
    # masked by an empty file or /dev/null in /etc
    (dict(DEFAULT_LINK, **{"etc/systemd/network/99-default.link": ""}), "pass", None),
    (dict(DEFAULT_LINK, **{"etc/systemd/network/99-default.link": Link("/dev/null")}), "pass", None),
    # a same-named file in /etc replaces it
    (dict(DEFAULT_LINK, **{"etc/systemd/network/99-default.link": "[Match]\nOriginalName=*\n[Link]\nMACAddressPolicy=none\n"}),
     "pass", None),
    # a file sorting before it wins for the names it matches, and only for them
    (dict(DEFAULT_LINK, **{"etc/systemd/network/10-flannel.link": "[Match]\nOriginalName=flannel*\n[Link]\nMACAddressPolicy=none\n"}),
     "fail", "cni0, cali0a1b2c3d4e5"),
    # Name= is no [Match] key of a .link file: udev ignores it, and a file with nothing else is ignored
    (dict(DEFAULT_LINK, **{"etc/systemd/network/10-x.link": "[Match]\nName=flannel*\n[Link]\nMACAddressPolicy=none\n"}),
     "fail", "flannel.1, flannel-wg"),
    # one sorting after it loses
    (dict(DEFAULT_LINK, **{"etc/systemd/network/zz.link": "[Match]\nOriginalName=*\n[Link]\nMACAddressPolicy=none\n"}),
     "fail", "flannel.1, flannel-wg"),
])
def test_udev_link_precedence(tmp_path, files, status, text):
    result = judged_status(tmp_path, UDEV, files, status)
    if text:
        assert text in result["observed"]


def test_udev_before_242_does_not_touch_virtual_links(tmp_path):
    tree = dict(UDEV, **DEFAULT_LINK)
    tree["usr/lib/systemd/libsystemd-shared-241.so"] = ""
    result, _facts, _root = judge(tmp_path, tree)
    assert result["status"] == "pass"


def test_unreadable_file_is_error(tmp_path):
    if os.geteuid() == 0:
        tree = dict(ND_ON, **NETWORK_ETH0)
        tree["etc/systemd/networkd.conf.d/x.conf"] = Link("x.conf")  # a link loop: exists, cannot be read
    else:
        tree = dict(ND_ON, **{"etc/systemd/networkd.conf.d/x.conf": "[Network]\n"})
    root = make_tree(tmp_path, tree)
    if os.geteuid() != 0:
        os.chmod(os.path.join(root, "etc/systemd/networkd.conf.d/x.conf"), 0)
    facts = managers.gather(root, "flannel", enabled_units)
    result = managers.evaluate(facts, "")
    assert result["status"] == "error" and "x.conf cannot be read" in result["observed"]


def test_fix_plan_wins_and_is_idempotent(tmp_path):
    tree = dict(NM_ON, **ND_ON)
    tree.update(UDEV)
    tree.update(DEFAULT_LINK)
    tree.update(NETWORK_ETH0)
    tree["etc/NetworkManager/conf.d/zz-calico.conf"] = CALICO_NM
    tree["etc/systemd/networkd.conf.d/zzz.conf"] = "[Network]\nManageForeignRoutes=yes\n"
    tree["etc/systemd/network/00-all.network"] = "[Match]\nName=*\n"
    root = make_tree(tmp_path, tree)
    facts = managers.gather(root, "flannel", enabled_units)
    plan = netmgr_fix.plan_fix(root, facts)
    paths = [f["path"] for f in plan["files"]]
    # conf.d: sorts after the foreign setter; .network and .link: before the foreign first match
    assert "/etc/NetworkManager/conf.d/zz-calico.conf" < "/etc/NetworkManager/conf.d/" + os.path.basename(paths[0])
    assert os.path.basename(paths[1]) > "zzz.conf"
    assert os.path.basename(paths[2]) < "00-all.network" and paths[2].endswith(".network")
    assert os.path.basename(paths[3]) < "99-default.link" and paths[3].endswith(".link")
    netmgr_fix.apply_fix(plan, root)
    facts = managers.gather(root, "flannel", enabled_units)
    assert managers.evaluate(facts, "")["status"] == "pass", managers.findings(facts)
    again = netmgr_fix.plan_fix(root, facts)
    assert not netmgr_fix.plan_changes(again)
    for path in paths:
        with open(os.path.join(root, path.lstrip("/"))) as handle:
            assert handle.readline().startswith("# Managed by podnet.doctor")


def test_a_drop_in_newer_than_the_running_networkd_is_named(tmp_path):
    root = make_tree(tmp_path, {"proc/stat": "cpu 1 2 3\nbtime 1000\n",
                                "proc/42/comm": "systemd-network\n",
                                # started 10 s after boot (clock ticks in field 22)
                                "proc/42/stat": "42 (systemd-network) S " + " ".join(["0"] * 18) + " %d 0\n"
                                % (10 * os.sysconf("SC_CLK_TCK")),
                                "etc/systemd/networkd.conf.d/old.conf": "", "etc/systemd/networkd.conf.d/new.conf": ""})
    os.utime(os.path.join(root, "etc/systemd/networkd.conf.d/old.conf"), (1005, 1005))
    os.utime(os.path.join(root, "etc/systemd/networkd.conf.d/new.conf"), (1020, 1020))
    assert service_state.running_commands(root) == {"systemd-network": "42"}
    old, new = "/etc/systemd/networkd.conf.d/old.conf", "/etc/systemd/networkd.conf.d/new.conf"
    assert service_state.newer_than_process(root, "42", [old, new]) == [new]
    assert service_state.newer_than_process(root, "43", ["/etc/systemd/networkd.conf.d/new.conf"]) == []


def test_plan_writes_nothing_and_its_fix_names_every_file(tmp_path):
    """The fixer's plan on a node with every manager wrong writes nothing until applied, and its
    fix text names every file it would write."""
    tree = dict(NM_ON, **ND_ON)
    tree.update(UDEV)
    tree.update(DEFAULT_LINK)
    tree.update(NETWORK_ETH0)
    root = make_tree(tmp_path, tree)
    facts = managers.gather(root, "calico", enabled_units)
    plan = netmgr_fix.plan_fix(root, facts)
    text = netmgr_fix.fix_text(plan)
    for entry in plan["files"]:
        assert entry["path"] in text and not os.path.exists(os.path.join(root, entry["path"].lstrip("/")))
    assert "interface-name:wireguard.cali" in text  # the chosen CNI's own names
    assert [d["before_header"] for d in netmgr_fix.diff_entries(plan)] == [e["path"] for e in plan["files"]]


def test_service_pids_from_systemd_cgroups_else_proc(tmp_path):
    root = make_tree(tmp_path / "v2", {"sys/fs/cgroup/system.slice/systemd-networkd.service/cgroup.procs": "77\n",
                                       "sys/fs/cgroup/system.slice/NetworkManager.service/cgroup.procs": "",
                                       "proc/5/comm": "NetworkManager\n"})
    assert service_state.service_pids(root) == {"systemd-networkd.service": "77"}  # an empty cgroup: stopped
    # a container without a cgroup namespace: PID 1's own path under the hybrid's unified mount
    root = make_tree(tmp_path / "hybrid", {"proc/1/cgroup": "1:cpu:/pod-1\n0::/pod-1\n",
                                           "sys/fs/cgroup/unified/pod-1/system.slice/systemd-networkd.service/cgroup.procs":
                                           "9\n"})
    assert service_state.service_pids(root) == {"systemd-networkd.service": "9"}
    root = make_tree(tmp_path / "none", {"proc/5/comm": "NetworkManager\n", "proc/6/comm": "systemd-network\n"})
    assert service_state.service_pids(root) == {"NetworkManager.service": "5", "systemd-networkd.service": "6"}


DROP_IN_OFF = "[Network]\nManageForeignRoutes=no\nManageForeignRoutingPolicyRules=no\n"


def running_networkd(tmp_path, files, configures=True, started=10):
    """networkd running since ``started`` s after boot (btime 1000), configuring eth0 (its
    /run/systemd/netif state) when ``configures``; each file's mtime from ``files`` {path: (text, mtime)}."""
    tree = dict(ND_ON, **NETWORK_ETH0)
    tree.update({"proc/stat": "cpu 1 2 3\nbtime 1000\n", "proc/42/comm": "systemd-network\n",
                 "proc/42/stat": "42 (systemd-network) S " + " ".join(["0"] * 18) + " %d 0\n"
                 % (started * os.sysconf("SC_CLK_TCK"))})
    if configures:
        tree["run/systemd/netif/links/2"] = "ADMIN_STATE=configured\nNETWORK_FILE=/etc/systemd/network/10-uplink.network\n"
    tree.update((path, text) for path, (text, _mtime) in files.items())
    root = make_tree(tmp_path, tree)
    for path, (_text, mtime) in files.items():
        os.utime(os.path.join(root, path), (mtime, mtime))
    facts = managers.gather(root, "flannel", enabled_units)
    return managers.evaluate(facts, netmgr_fix.fix_text(netmgr_fix.plan_fix(root, facts))), facts, root


@pytest.mark.parametrize("files,configures,status,text", [
    # written after networkd started, which configures eth0: its next reconfigure still removes them
    ({"etc/systemd/networkd.conf.d/podnet-doctor.conf": (DROP_IN_OFF, 1020)}, True, "fail",
     "the running systemd-networkd started before /etc/systemd/networkd.conf.d/podnet-doctor.conf was written"),
    # read at its start: in force
    ({"etc/systemd/networkd.conf.d/podnet-doctor.conf": (DROP_IN_OFF, 1005)}, True, "pass", "ManageForeignRoutes=no"),
    # written later, but networkd configures no link now: nothing to remove (it reads it when it next starts)
    ({"etc/systemd/networkd.conf.d/podnet-doctor.conf": (DROP_IN_OFF, 1020)}, False, "pass",
     "configures no link now: it reads it at its next start"),
    # only the file that turns them off counts: an old one that does, a newer unrelated drop-in
    ({"etc/systemd/networkd.conf.d/a.conf": (DROP_IN_OFF, 1005),
      "etc/systemd/networkd.conf.d/b.conf": ("[Network]\nSpeedMeter=yes\n", 1020)}, True, "pass", None),
    # networkd.conf itself, edited after the start
    ({"etc/systemd/networkd.conf": (DROP_IN_OFF, 1020)}, True, "fail", "started before /etc/systemd/networkd.conf was"),
])
def test_networkd_that_has_not_read_the_drop_in_fails_until_restarted(tmp_path, files, configures, status, text):
    result, _facts, _root = running_networkd(tmp_path, files, configures)
    assert result["status"] == status, result
    if text:
        assert text in result["observed"], result
    if status == "fail":
        assert "pnnm" not in result["observed"] and "reconfigures eth0" in result["observed"]
        assert result["fix"] == netmgr_fix.NETWORKD_RESTART_STEP, result
        assert "systemctl restart systemd-networkd" in result["fix"] and "reboot" in result["fix"]


def test_fixing_a_running_networkd_leaves_the_restart_named_and_changes_nothing_twice(tmp_path):
    result, facts, root = running_networkd(tmp_path, {})
    assert result["status"] == "fail" and "ManageForeignRoutes=yes (the default)" in result["observed"]
    plan = netmgr_fix.plan_fix(root, facts)
    assert plan["notes"] == [netmgr_fix.NETWORKD_RESTART_STEP] and netmgr_fix.NETWORKD_RESTART_STEP in result["fix"]
    # the drop-in is written now, long after networkd started (the fixture's btime is 1000)
    done = netmgr_fix.apply_fix(plan, root)
    assert done["warnings"] == [netmgr_fix.NETWORKD_RESTART_STEP]
    facts = managers.gather(root, "flannel", enabled_units)
    again = netmgr_fix.plan_fix(root, facts)
    assert not netmgr_fix.plan_changes(again)  # second run: nothing to write
    result = managers.evaluate(facts, netmgr_fix.fix_text(again))
    assert result["status"] == "fail" and "has not read it" in result["observed"], result
    assert result["fix"] == netmgr_fix.NETWORKD_RESTART_STEP


@pytest.mark.parametrize("files, running, status", [
    (dict(NM_ON, **{"etc/NetworkManager/conf.d/calico.conf": CALICO_NM}), ["NetworkManager"], "fail"),
    (dict(NM_ON, **{"etc/NetworkManager/conf.d/all.conf": ALL_NM}), ["NetworkManager"], "pass"),
    ({"etc/hostname": "n\n"}, [], "skip"),
])
def test_checks_plans_the_fix_only_for_a_failing_check(tmp_path, monkeypatch, files, running, status):
    """node_info's call: the same result as judging with the plan rendered first, and the fixer's plan is
    made only when the check fails (a passing node does not import the fixer on every pre-flight)."""
    root = make_tree(tmp_path, files)
    processes(root, running)
    eager = managers.evaluate(managers.gather(root, "flannel", enabled_units),
                              netmgr_fix.fix_text(netmgr_fix.plan_fix(root, managers.gather(root, "flannel", enabled_units))))
    planned = []
    real_plan = netmgr_fix.plan_fix
    monkeypatch.setattr(netmgr_fix, "plan_fix", lambda *args: planned.append(args) or real_plan(*args))
    facts = {}
    assert managers.checks(root, "flannel", facts, enabled_units) == [eager]
    assert eager["status"] == status and facts["netmgr"]["cni_link_globs"]
    assert bool(planned) == (status == "fail")
