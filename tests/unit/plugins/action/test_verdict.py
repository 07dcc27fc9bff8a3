"""verdict: one report per host from several check lists; the host fails naming each finding."""
import pytest

from ansible_collections.podnet.doctor.plugins.action.verdict import (
    apply_ignore, failure_message, merged_checks)

NODE_INFO = [{"id": "ip_forward.runtime", "status": "fail", "observed": "net.ipv4.ip_forward=0",
              "fix": "sysctl -w net.ipv4.ip_forward=1"},
             {"id": "overlay.inbound", "status": "pass", "observed": "8472/udp accepted"}]
CIDR = [{"id": "cidr.pod_host", "status": "error", "observed": "no host networks from this host"}]


def test_lists_are_merged_in_order_and_a_later_result_wins():
    recheck = [{"id": "ip_forward.runtime", "status": "pass", "observed": "net.ipv4.ip_forward=1"}]
    checks = merged_checks([NODE_INFO, CIDR, recheck])
    assert [c["id"] for c in checks] == ["ip_forward.runtime", "overlay.inbound", "cidr.pod_host"]
    assert checks[0]["status"] == "pass"
    assert NODE_INFO[0]["status"] == "fail"  # the inputs are not modified


@pytest.mark.parametrize("ignore,expected", [
    ([], "fail"), (["ip_forward.runtime"], "ignored"), (["ip_forward.boot"], "fail")])
def test_ignore_turns_only_a_named_fail_into_ignored(ignore, expected):
    assert apply_ignore(merged_checks([NODE_INFO]), ignore)[0]["status"] == expected


def test_ignore_never_hides_an_error():
    assert apply_ignore(merged_checks([CIDR]), ["cidr.pod_host"])[0]["status"] == "error"


def test_failure_message_names_each_check_what_was_seen_and_the_fix():
    text = failure_message("node1", merged_checks([NODE_INFO, CIDR])[::2])
    assert text.startswith("2 pod-networking check(s) failed on node1: ")
    assert "[ip_forward.runtime] net.ipv4.ip_forward=0 -> fix: sysctl -w net.ipv4.ip_forward=1." in text
    assert "[cidr.pod_host] no host networks from this host -> fix: see the report." in text
