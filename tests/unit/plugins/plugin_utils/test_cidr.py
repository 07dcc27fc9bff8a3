"""CIDR comparison: the conflict matrix, suggestions, errors that name the value, and the fleet's
CIDR checks (who fails, what is named, what is suggested)."""
import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import CidrError
from ansible_collections.podnet.doctor.plugins.plugin_utils.cidr import cidr_conflicts, cidr_overlaps, cidr_suggest, fleet_checks

# Also the filters' table (tests/unit/plugins/filter/test_cidr.py): the same value, the same message.
INVALID_INPUTS = [
    ("10.244.0.0/33", "'10.244.0.0/33' is not a valid CIDR"),
    ("10.244.0.0", "'10.244.0.0' is not a CIDR: give a prefix length"),
    ("10.244.1.0/16", "'10.244.1.0/16' has host bits set: the network is 10.244.0.0/16"),
    ("banana/8", "'banana/8' is not a valid CIDR"),
    ("", "is empty"),
]


@pytest.mark.parametrize("a,b,relation", [
    ("10.244.0.0/16", "10.244.5.0/24", "contains"),
    ("10.244.5.0/24", "10.244.0.0/16", "inside"),
    ("10.244.0.0/16", "10.244.0.0/16", "equal"),
    ("10.96.0.0/12", "10.100.0.0/16", "contains"),
    ("10.244.0.0/16", "10.245.0.0/16", None),
    ("10.244.0.0/16", "192.168.0.0/16", None),
    ("fd00:10:244::/56", "fd00:10:244:1::/64", "contains"),
    ("10.244.0.0/16", "fd00::/8", None),  # different families never conflict
    ("10.244.0.0/16,fd00:10:244::/56", "fd00:10::/32", "inside"),  # dual-stack list
])
def test_conflict_matrix(a, b, relation):
    found = cidr_conflicts(a, [b])
    assert [c["relation"] for c in found] == ([relation] if relation else [])
    assert cidr_overlaps(a, b) is bool(relation)


def test_every_pair_with_its_source():
    found = cidr_conflicts(["10.244.0.0/16", "10.96.0.0/12"], [
        {"network": "10.244.2.0/24", "source": "node1 eth1"},
        {"network": "10.100.0.0/16", "source": "node2 route table main"},
        {"network": "192.168.77.0/24", "source": "node1 eth0"}])
    assert [(c["candidate"], c["network"], c["source"]) for c in found] == [
        ("10.244.0.0/16", "10.244.2.0/24", "node1 eth1"),
        ("10.96.0.0/12", "10.100.0.0/16", "node2 route table main")]


@pytest.mark.parametrize("taken,prefixlen,pool,expected", [
    (["10.244.2.0/24"], 16, None, "10.0.0.0/16"),
    (["10.0.0.0/9"], 16, None, "10.128.0.0/16"),
    (["10.0.0.0/8"], 16, None, "172.16.0.0/16"),
    (["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/17"], 17, None, "192.168.128.0/17"),
    (["10.244.0.0/16", "10.0.5.0/24"], 16, "10.0.0.0/8", "10.1.0.0/16"),
    (["fd00::/16"], 56, None, "fd01::/56"),
])
def test_suggest_is_first_free_block(taken, prefixlen, pool, expected):
    assert cidr_suggest(taken, prefixlen, pool) == expected
    assert cidr_suggest(taken, prefixlen, pool) == expected  # deterministic


def test_suggest_gives_up_clearly():
    with pytest.raises(CidrError, match="no free /8"):
        cidr_suggest(["10.0.0.0/8"], 8, "10.0.0.0/8")


@pytest.mark.parametrize("bad,message", INVALID_INPUTS)
def test_invalid_input_names_the_value(bad, message):
    with pytest.raises(CidrError) as err:
        cidr_conflicts(bad, ["10.0.0.0/8"])
    assert message in str(err.value)


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
