"""Review of the k8s_ports fix (issue 15): layouts where the rendered range rule and what the kernel/firewall does
with it disagree with what the fixer and the check say. The real nft / iptables in a throwaway network namespace
render the rulesets where a test may make one."""
import copy

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.firewall import firewalld, k8s_ports_checks, overlay_fix
from ansible_collections.podnet.doctor.plugins.module_utils.network import k8s_components

from .test_k8s_ports_fix import BASE_IPT, BASE_NFT, NODE_NET, POD, _firewalld_facts, facts, fixture, in_netns, k8s_status, plan_for

UFW_ANCHOR = "-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT\n"


def _ufw_rules(commands, prepend):
    """What ``ufw allow`` / ``ufw prepend allow`` add to ufw-user-input for each command of that kind (multiport
    for a range, as ufw renders it)."""
    rules = []
    for c in commands:
        if c[0] != "ufw" or (c[1] == "prepend") != prepend:
            continue
        args = c[2:] if prepend else c[1:]
        port, proto = args[6], args[8]
        match = "-m multiport --dports %s" % port if ":" in port else "-m %s --dport %s" % (proto, port)
        rules.append("-A ufw-user-input -s %s -p %s %s -j ACCEPT\n" % (args[2], proto, match))
    return "".join(rules)


def test_ufw_user_deny_inside_the_range_is_not_claimed_opened_by_an_appended_allow():
    # `ufw deny 31000/tcp` then remediate: ufw (without `insert N`) appends the allow after the deny (ufw's
    # UFWBackendIptables.set_rule appends at position 0), and iptables stops at the first match
    dump = fixture("ufw.iptables-nft-save").replace(UFW_ANCHOR, UFW_ANCHOR + "-A ufw-user-input -p tcp -m tcp --dport 31000 -j DROP\n")
    live = facts(iptables_nft=dump, ufw_active=True)
    assert "31000/tcp" in k8s_status(live)["observed"]
    plan = plan_for(live, "/nonexistent")
    deny = "-A ufw-user-input -p tcp -m tcp --dport 31000 -j DROP\n"
    # ufw prepend puts its rule first in ufw-user-input, ufw allow after the user's rules
    opened = dump.replace(UFW_ANCHOR, _ufw_rules(plan["commands"], True) + UFW_ANCHOR).replace(
        deny, deny + _ufw_rules(plan["commands"], False))
    again = plan_for(facts(iptables_nft=opened, ufw_active=True), "/nonexistent")
    # either the rule really opens the range (second plan empty), or the fixer says it cannot
    assert (k8s_status(facts(iptables_nft=opened, ufw_active=True))["status"] == "pass" and again["commands"] == []) \
        or any("31000" in text for text in plan["unresolved"]), plan


def test_firewalld_reject_rich_rule_inside_the_range_is_not_claimed_opened():
    zone = firewalld.parse_list_all(fixture("firewalld.list-all").split("\n", 2)[2])
    zone["rich rules"] = ['rule family="ipv4" port port="31000" protocol="tcp" reject']
    live = _firewalld_facts(zone)
    assert "31000/tcp" in k8s_status(live)["observed"]
    plan = plan_for(live, "/nonexistent", permanent={"public": copy.deepcopy(zone)})
    added = [c[-1].split("=", 1)[1] for c in plan["commands"] if "--permanent" not in c]
    opened = dict(zone, **{"rich rules": zone["rich rules"] + added})
    again = plan_for(_firewalld_facts(opened), "/nonexistent", permanent={"public": copy.deepcopy(opened)})
    assert (k8s_status(_firewalld_facts(opened))["status"] == "pass" and again["commands"] == []) \
        or any("31000" in text for text in plan["unresolved"]), plan


def test_an_ipv6_nodeport_source_is_refused_naming_the_variable():
    # the check judged an IPv6 source against the IPv4 iptables INPUT policy and the fixer rendered
    # `iptables-legacy -I INPUT 1 -s 2001:db8::/64 ...`, which iptables refuses ("invalid mask `64'") and
    # `ip saddr 2001:db8::/64`, which nft refuses: half the plan run, the rest failing
    with pytest.raises(ValueError, match="podnet_nodeport_sources"):
        k8s_components.validated_sources(["10.9.0.0/16", "2001:db8::/64"])
    assert k8s_components.validated_sources(["10.9.0.0/16", "192.0.2.10"]) == ["10.9.0.0/16", "192.0.2.10/32"]


def test_nft_interval_set_with_a_hole_in_the_range_fails_and_the_whole_range_reopens_it(tmp_path):
    # accept 30000-31000 and 31002-32767 in one anonymous interval set: the kernel drops 31001
    nft = BASE_NFT.replace("  tcp dport 22 accept\n", "  tcp dport 22 accept\n  ip saddr 192.168.77.0/24 tcp dport { 30000-31000, "
                           "31002-32767 } accept\n  ip saddr 192.168.77.0/24 udp dport 30000-32767 accept\n")
    live = facts(nft=in_netns("nft -f - <<'EOF'\n%sEOF\nnft -j list ruleset\n" % nft))
    result = k8s_status(live)
    assert result["status"] == "fail" and "31001/tcp" in result["observed"] and "udp" not in result["observed"].split(";")[1]
    plan = plan_for(live, str(tmp_path))
    applied = in_netns("nft -f - <<'EOF'\n%sEOF\n%s\nnft -j list ruleset\n" % (nft, "\n".join(" ".join(c) for c in plan["commands"])))
    assert "31001/tcp" not in k8s_status(facts(nft=applied))["observed"]
    assert plan_for(facts(nft=applied), str(tmp_path))["commands"] == []


def test_iptables_multiport_accept_with_a_hole_fails_at_the_hole():
    ipt = ("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
           "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
           "-A INPUT -s 192.168.77.0/24 -p tcp -m multiport --dports 30000:31000,31002:32767 -j ACCEPT\nCOMMIT\n")
    saved = in_netns("iptables-legacy-restore <<'EOF'\n%sEOF\niptables-legacy-save\n" % ipt)
    result = k8s_status(facts(iptables_legacy=saved))
    assert "31001/tcp" in result["observed"] and "31002/tcp" not in result["observed"]


@pytest.mark.parametrize("distribution,expected", [("none", []), ("kubeadm", 2)])
def test_port_groups_for_distribution_none_is_empty(distribution, expected):
    groups = k8s_ports_checks.port_groups(["192.168.77.0/24"], distribution, False, (30000, 30000), None)
    assert (groups == []) if expected == [] else (len(groups) == expected and groups[1][0][0][1:3] == (30000, 30000))


def test_an_undecidable_nodeport_source_does_not_block_the_overlay_opening(tmp_path):
    # one call for both areas: a NodePort source the evaluator cannot decide (0.0.0.0/0 against a 10.0.0.0/8 DROP)
    # made the whole plan refuse, the overlay's opening too; now that port set alone is named as unresolved
    ipt = BASE_IPT.replace("-A INPUT -p tcp", "-A INPUT -s 10.0.0.0/8 -j DROP\n-A INPUT -p tcp")
    live = facts(iptables_legacy=ipt)
    groups = k8s_ports_checks.port_groups(NODE_NET, "kubeadm", False, (30000, 32767), ["0.0.0.0/0"])
    check = k8s_ports_checks.checks(live, copy.deepcopy(live), NODE_NET, "kubeadm", False, (30000, 32767), ["0.0.0.0/0"], "/")[0]
    assert check["status"] == "fail" and "cannot evaluate" in check["observed"] and "remediate" in check["fix"]
    plan = overlay_fix.plan_overlay_fix(copy.deepcopy(live), [("udp", 8472, "flannel VXLAN")], NODE_NET, POD, "flannel",
                                        str(tmp_path), forward=False, groups=groups)
    assert any("--dport 8472" in " ".join(c) for c in plan["commands"])
    assert any("0.0.0.0/0" in text for text in plan["unresolved"])


def test_nft_named_interval_set_with_a_hole_fails_at_the_hole():
    nft = BASE_NFT.replace(" chain input {\n", " set nodeports {\n  type inet_service\n  flags interval\n  elements = { 30000-30999, "
                           "31001-32767 }\n }\n chain input {\n").replace(
        "  tcp dport 22 accept\n", "  tcp dport 22 accept\n  ip saddr 192.168.77.0/24 tcp dport @nodeports accept\n")
    result = k8s_status(facts(nft=in_netns("nft -f - <<'EOF'\n%sEOF\nnft -j list ruleset\n" % nft)))
    assert "31000/tcp" in result["observed"] and "31001/tcp" not in result["observed"] and "30999/tcp" not in result["observed"]


def test_firewalld_second_plan_is_empty_once_runtime_and_permanent_hold_the_range():
    zone = firewalld.parse_list_all(fixture("firewalld.list-all").split("\n", 2)[2])
    live = _firewalld_facts(zone)
    plan = plan_for(live, "/nonexistent", boot=copy.deepcopy(live), permanent={"public": copy.deepcopy(zone)})
    runtime = [c[-1].split("=", 1)[1] for c in plan["commands"] if "--permanent" not in c]
    permanent = [c[-1].split("=", 1)[1] for c in plan["commands"] if "--permanent" in c]
    assert sorted(runtime) == sorted(set(permanent)) and any('port="30000-32767" protocol="udp"' in r for r in runtime)
    opened = _firewalld_facts(dict(zone, **{"rich rules": zone.get("rich rules", []) + runtime}))
    again = plan_for(opened, "/nonexistent", boot=copy.deepcopy(opened),
                     permanent={"public": dict(zone, **{"rich rules": zone.get("rich rules", []) + sorted(set(permanent))})})
    assert again["commands"] == [] and again["unresolved"] == []
