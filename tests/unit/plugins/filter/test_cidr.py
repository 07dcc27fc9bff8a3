"""CIDR filters: the conflict matrix, suggestions, and errors that name the value."""
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.doctor.plugins.filter.cidr import cidr_conflicts, cidr_overlaps, cidr_suggest


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
    with pytest.raises(AnsibleFilterError, match="no free /8"):
        cidr_suggest(["10.0.0.0/8"], 8, "10.0.0.0/8")


@pytest.mark.parametrize("bad,message", [
    ("10.244.0.0/33", "'10.244.0.0/33' is not a valid CIDR"),
    ("10.244.0.0", "'10.244.0.0' is not a CIDR: give a prefix length"),
    ("10.244.1.0/16", "'10.244.1.0/16' has host bits set: the network is 10.244.0.0/16"),
    ("banana/8", "'banana/8' is not a valid CIDR"),
    ("", "is empty"),
])
def test_invalid_input_names_the_value(bad, message):
    with pytest.raises(AnsibleFilterError) as err:
        cidr_conflicts(bad, ["10.0.0.0/8"])
    assert message in str(err.value)
