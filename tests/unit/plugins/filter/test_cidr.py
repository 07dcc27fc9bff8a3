"""CIDR filters: the shared comparison under the filters' names, its errors raised as AnsibleFilterError
with the message unchanged (the comparison itself: tests/unit/plugins/plugin_utils/test_cidr.py)."""
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.doctor.plugins.filter.cidr import FilterModule, cidr_conflicts, cidr_overlaps, cidr_suggest
from ansible_collections.podnet.doctor.plugins.plugin_utils import cidr
from ansible_collections.podnet.doctor.tests.unit.plugins.plugin_utils.test_cidr import INVALID_INPUTS


def test_filters_answer_as_the_shared_comparison():
    filters = FilterModule().filters()
    assert sorted(filters) == ["cidr_conflicts", "cidr_overlaps", "cidr_suggest"]
    assert filters["cidr_conflicts"]("10.244.0.0/16", ["10.244.5.0/24"]) == cidr.cidr_conflicts("10.244.0.0/16", ["10.244.5.0/24"])
    assert filters["cidr_overlaps"]("10.244.0.0/16", "10.245.0.0/16") is cidr_overlaps("10.244.0.0/16", "10.245.0.0/16") is False
    assert filters["cidr_suggest"](["10.0.0.0/9"], 16) == cidr_suggest(["10.0.0.0/9"], 16) == "10.128.0.0/16"


def test_suggest_gives_up_clearly():
    with pytest.raises(AnsibleFilterError, match="no free /8"):
        cidr_suggest(["10.0.0.0/8"], 8, "10.0.0.0/8")


@pytest.mark.parametrize("bad,message", INVALID_INPUTS)
def test_invalid_input_names_the_value(bad, message):
    with pytest.raises(AnsibleFilterError) as err:
        cidr_conflicts(bad, ["10.0.0.0/8"])
    assert message in str(err.value)
    with pytest.raises(cidr.CidrError) as plain:
        cidr.cidr_conflicts(bad, ["10.0.0.0/8"])
    assert str(err.value) == str(plain.value)  # nothing added on the way to the template
    assert err.value.__context__ is None  # else Ansible prints the message twice, the second as a '<<< caused by >>>'
