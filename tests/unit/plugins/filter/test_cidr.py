"""CIDR filters: the shared comparison under the filters' names, its errors raised as AnsibleFilterError
with the message unchanged (the comparison itself: tests/unit/plugins/plugin_utils/test_cidr.py)."""
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import CidrError
from ansible_collections.podnet.doctor.plugins.filter.cidr import FilterModule, cidr_conflicts, cidr_overlaps, cidr_suggest
from ansible_collections.podnet.doctor.plugins.plugin_utils import cidr
from ansible_collections.podnet.doctor.tests.unit.plugins.plugin_utils.test_cidr import INVALID_INPUTS


def test_filters_answer_as_the_shared_comparison():
    filters = FilterModule().filters()
    assert sorted(filters) == ["cidr_conflicts", "cidr_overlaps", "cidr_suggest"]
    assert filters["cidr_conflicts"]("10.244.0.0/16", ["10.244.5.0/24"]) == cidr.cidr_conflicts("10.244.0.0/16", ["10.244.5.0/24"])
    assert filters["cidr_overlaps"]("10.244.0.0/16", "10.245.0.0/16") is cidr_overlaps("10.244.0.0/16", "10.245.0.0/16") is False
    assert filters["cidr_suggest"](["10.0.0.0/9"], 16) == cidr_suggest(["10.0.0.0/9"], 16) == "10.128.0.0/16"


# (the filter, its arguments, the CidrError message the template must show)
ERRORS = [(cidr_suggest, (["10.0.0.0/8"], 8, "10.0.0.0/8"), "no free /8")] + [
    (cidr_conflicts, (bad, ["10.0.0.0/8"]), message) for bad, message in INVALID_INPUTS]


@pytest.mark.parametrize("cidr_filter,args,message", ERRORS)
def test_each_error_is_a_filter_error_naming_the_value(cidr_filter, args, message):
    with pytest.raises(AnsibleFilterError) as err:
        cidr_filter(*args)
    assert message in str(err.value)
    with pytest.raises(CidrError) as plain:
        getattr(cidr, cidr_filter.__name__)(*args)
    assert str(err.value) == str(plain.value)  # nothing added on the way to the template
    assert err.value.__context__ is None  # else Ansible prints the message twice, the second as a '<<< caused by >>>'
