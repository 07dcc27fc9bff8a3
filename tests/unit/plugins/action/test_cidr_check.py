"""The cidr_check action: its modes over the shared comparison (tests/unit/plugins/plugin_utils/test_cidr.py),
a bad value as a failed result naming it, and the play's peers read once."""
from unittest import mock

from ansible_collections.podnet.doctor.plugins.action.cidr_check import ActionModule, play_host_addresses

NODE1 = [{"network": "10.244.2.0/24", "source": "eth1 address 10.244.2.11/24"}]


def run_action(args, task_vars):
    task = mock.MagicMock(args=args, async_val=0, check_mode=False)
    connection = mock.MagicMock()
    connection._shell.tmpdir = "/tmp/unused"
    action = ActionModule(task, connection, mock.MagicMock(), mock.MagicMock(), mock.MagicMock())
    return action.run(task_vars=task_vars)


def test_fleet_mode_names_each_host_network_by_its_host():
    result = run_action({"mode": "fleet", "pod_cidr": "10.244.0.0/16", "service_cidr": "10.96.0.0/12"},
                        {"ansible_play_hosts_all": ["node1", "node2"],
                         "hostvars": {"node1": {"podnet_node_info": {"facts": {"host_networks": NODE1}}}, "node2": {}}})
    assert "failed" not in result
    node1 = dict((c["id"], c) for c in result["per_host"]["node1"])
    assert "(node1 eth1 address 10.244.2.11/24)" in node1["cidr.pod_host"]["observed"]
    assert [c["status"] for c in result["per_host"]["node2"]] == ["pass", "error", "error"]


def test_a_bad_cidr_is_a_failed_result_naming_it():
    result = run_action({"mode": "fleet", "pod_cidr": "10.244.0.0/16", "service_cidr": "banana/8", "hosts": []}, {"hostvars": {}})
    assert result["failed"] is True
    assert result["msg"].startswith("network 'banana/8' is not a valid CIDR")
    result = run_action({"mode": "resolve", "pod_cidr": "10.244.0.0"}, {})
    assert result["msg"] == "candidate '10.244.0.0' is not a CIDR: give a prefix length, e.g. 10.244.0.0/24"


def test_peer_addresses_are_read_once_for_the_play():
    task_vars = {"ansible_play_hosts_all": ["node1", "node2", "db.example"],
                 "hostvars": {"node1": {"ansible_host": "192.168.77.11"}, "node2": {"ansible_host": "192.168.77.12"},
                              "db.example": {}}}
    assert play_host_addresses(task_vars) == ["192.168.77.11", "192.168.77.12", "db.example"]


def mtu_facts(uplink_mtu, device_mtu):
    return {"cni": "flannel", "mode": "vxlan", "encapsulation": "vxlan", "overhead": 50, "errors": [], "configured": [],
            "uplink": {"interface": "eth0", "mtu": uplink_mtu, "address": "192.168.94.11", "ipv6": False, "source": "x"},
            "devices": [{"name": "flannel.1", "mtu": device_mtu, "underlay": None, "underlay_mtu": None}]}


def test_fleet_mode_judges_mtu_overlay_against_the_peers_only_when_asked():
    hostvars = {"node1": {"podnet_node_info": {"facts": {"host_networks": NODE1, "mtu": mtu_facts(1500, 1450)}}},
                "node2": {"podnet_node_info": {"facts": {"host_networks": [], "mtu": mtu_facts(1400, 1350)}}},
                "node3": {}}
    task_vars = {"ansible_play_hosts_all": ["node1", "node2", "node3"], "hostvars": hostvars}
    args = {"mode": "fleet", "pod_cidr": "10.244.0.0/16", "service_cidr": "10.96.0.0/12"}
    plain = run_action(dict(args), task_vars)
    assert not any(c["id"] == "mtu.overlay" for checks in plain["per_host"].values() for c in checks)
    result = run_action(dict(args, mtu_checks=True), task_vars)
    by_host = dict((h, dict((c["id"], c) for c in checks)) for h, checks in result["per_host"].items())
    assert by_host["node1"]["mtu.overlay"]["status"] == "fail" and "peer node2 uplink MTU 1400" in by_host["node1"]["mtu.overlay"]["observed"]
    assert by_host["node2"]["mtu.overlay"]["status"] == "pass"
    assert by_host["node2"]["mtu.overlay"]["observed"].endswith("; not compared: node3 (no facts)")
    assert "mtu.overlay" not in by_host["node3"]  # unreachable: its node read is missing, the verdict says error


def test_fleet_mode_names_the_hosts_outside_the_limit_as_not_compared():
    """--limit node1,node2: the other nodes are not in the play, so their uplinks are unknown here (ansible_limit)."""
    hostvars = {"node1": {"podnet_node_info": {"facts": {"host_networks": NODE1, "mtu": mtu_facts(1500, 1450)}}},
                "node2": {"podnet_node_info": {"facts": {"host_networks": [], "mtu": mtu_facts(1500, 1450)}}}}
    task_vars = {"ansible_play_hosts_all": ["node1", "node2"], "hostvars": hostvars, "ansible_limit": "node1,node2"}
    result = run_action({"mode": "fleet", "pod_cidr": "10.244.0.0/16", "service_cidr": "10.96.0.0/12", "mtu_checks": True},
                        task_vars)
    check = [c for c in result["per_host"]["node1"] if c["id"] == "mtu.overlay"][0]
    assert check["status"] == "pass" and check["observed"].endswith("; not compared: any host outside --limit node1,node2")
