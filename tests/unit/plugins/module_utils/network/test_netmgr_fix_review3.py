"""Review 3 (issue 14): the netmgr fixer on fixture trees - a reload that failed is not silently forgotten, and
the owned Unmanaged=yes .network never takes a link the node's own configuration names (its uplink). Both were
strict xfail; fixed by the recorded reloads (service_state.record_reload) and the narrowed globs (managers.kept_links)."""
import fnmatch
import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import FixError
from ansible_collections.podnet.doctor.plugins.module_utils.network import managers, netmgr_fix
from tests.unit.fixture_tree import make_tree
from tests.unit.plugins.module_utils.network.test_managers import ND_ON, NM_ON, enabled_units, processes

RELOAD_NM = ["systemctl", "reload", "NetworkManager.service"]


def test_a_failed_reload_is_done_by_the_next_run(tmp_path):
    root = make_tree(tmp_path, dict(NM_ON, **{"etc/NetworkManager/NetworkManager.conf": "[main]\nplugins=keyfile\n"}))
    processes(root, ["NetworkManager"])
    facts = managers.gather(root, "flannel", enabled_units)
    plan = netmgr_fix.plan_fix(root, facts)
    with pytest.raises(FixError):
        netmgr_fix.apply_fix(plan, root, run_command=lambda argv: (1, "", "Job for NetworkManager.service failed"))
    calls = []
    facts = managers.gather(root, "flannel", enabled_units)
    again = netmgr_fix.plan_fix(root, facts)
    if netmgr_fix.plan_changes(again):
        netmgr_fix.apply_fix(again, root, run_command=lambda argv: calls.append(argv) or (0, "", ""))
    assert RELOAD_NM in calls or managers.evaluate(facts, "")["status"] != "pass"


def test_unmanaged_network_never_takes_a_link_configured_by_name(tmp_path):
    root = make_tree(tmp_path, dict(ND_ON, **{
        "sys/class/net/vxlan100/uevent": "DEVTYPE=vxlan\nINTERFACE=vxlan100\n",
        "sys/class/net/eth0/uevent": "INTERFACE=eth0\n",
        "etc/systemd/network/10-uplink.network": "[Match]\nName=vxlan100\n\n[Network]\nAddress=10.0.0.5/24\n"
                                                 "Gateway=10.0.0.1\n",
        "etc/systemd/network/99-all.network": "[Match]\nName=*\n\n[Network]\nDHCP=yes\n"}))
    facts = managers.gather(root, "flannel", enabled_units)
    plan = netmgr_fix.plan_fix(root, facts)
    network = [f for f in plan["files"] if f["path"].endswith(".network")]
    assert network, plan  # 99-all.network takes cni0, flannel.1...: the Unmanaged file is right for those
    names = [l.split("=", 1)[1].split() for l in network[0]["after"].splitlines() if l.startswith("Name=")][0]
    assert os.path.basename(network[0]["path"]) < "10-uplink.network"
    assert not any(fnmatch.fnmatchcase("vxlan100", g) for g in names if not g.startswith("!")), names
