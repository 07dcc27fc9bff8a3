"""Fleet CIDR comparison: who fails, what is named, what is suggested."""
from ansible_collections.podnet.doctor.plugins.action.cidr_check import fleet_checks

CLUSTER = {"pod_cidr": "10.244.0.0/16", "pod_source": "podnet_pod_cidr",
           "service_cidr": "10.96.0.0/12", "service_source": "default (kubeadm 10.96.0.0/12)"}
NODE1 = [{"network": "192.168.77.0/24", "source": "node1 eth0 address 192.168.77.11/24"},
         {"network": "10.244.2.0/24", "source": "node1 eth1 address 10.244.2.11/24"}]
NODE2 = [{"network": "192.168.77.0/24", "source": "node2 eth0 address 192.168.77.12/24"}]


def by_id(checks):
    return dict((c["id"], c) for c in checks)


def test_conflict_fails_the_owner_and_suggests_a_free_range():
    per_host = fleet_checks(CLUSTER, {"node1": NODE1, "node2": NODE2}, [])
    node1, node2 = by_id(per_host["node1"]), by_id(per_host["node2"])
    assert node1["cidr.pod_host"]["status"] == "fail"
    assert "pod CIDR 10.244.0.0/16 contains 10.244.2.0/24 (node1 eth1 address 10.244.2.11/24)" in \
        node1["cidr.pod_host"]["observed"]
    assert node1["cidr.pod_host"]["suggested"] == "10.0.0.0/16"  # first free /16, away from 10.96/12 too
    assert node2["cidr.pod_host"]["status"] == "pass"
    assert "1 conflict(s) on other hosts" in node2["cidr.pod_host"]["observed"]
    assert node1["cidr.service_host"]["status"] == "pass"
    assert node1["cidr.pod_service"]["status"] == "pass"


def test_reserved_range_fails_every_host():
    per_host = fleet_checks(CLUSTER, {"node1": NODE2, "node2": NODE2},
                            [{"network": "10.96.0.0/16", "source": "kops.yaml: spec.networkCIDR (VPC)"}])
    for host in ("node1", "node2"):
        check = by_id(per_host[host])["cidr.service_host"]
        assert check["status"] == "fail" and "kops.yaml: spec.networkCIDR (VPC)" in check["observed"]


def test_pod_service_overlap_and_missing_hosts():
    cluster = dict(CLUSTER, service_cidr="10.244.128.0/20", service_source="kubeadm.yaml: networking.serviceSubnet")
    per_host = fleet_checks(cluster, {"node2": NODE2}, [], missing=["node3"])
    check = by_id(per_host["node2"])["cidr.pod_service"]
    assert check["status"] == "fail" and "kubeadm.yaml: networking.serviceSubnet" in check["observed"]
    assert "10.0.0.0/20" in check["fix"]
    assert by_id(per_host["node3"])["cidr.pod_host"]["status"] == "error"


def test_peer_addresses_are_read_once_for_the_play():
    from ansible_collections.podnet.doctor.plugins.action.cidr_check import play_host_addresses
    task_vars = {"ansible_play_hosts_all": ["node1", "node2", "db.example"],
                 "hostvars": {"node1": {"ansible_host": "192.168.77.11"}, "node2": {"ansible_host": "192.168.77.12"},
                              "db.example": {}}}
    assert play_host_addresses(task_vars) == ["192.168.77.11", "192.168.77.12", "db.example"]
