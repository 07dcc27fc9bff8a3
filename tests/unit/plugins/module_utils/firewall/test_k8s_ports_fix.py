"""The k8s_ports fix: the overlay fixer's plan for the component ports and the NodePort range, each range opened
whole in its backend's syntax. Internal consistency: the rendered rule, applied to the fixture ruleset (by the real
nft / iptables-legacy in a throwaway network namespace where the test may make one, else as the line the fixer
persists), makes our evaluator pass k8s_ports.inbound. The lab (tests/lab/test_k8s_ports_fix.py) is the oracle."""
import copy
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.firewall import firewalld, k8s_ports_checks, overlay_fix
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.packet import port_span
from ansible_collections.podnet.doctor.plugins.module_utils.kernel.port_ranges import parse_nodeport_range

from ....fixture_tree import make_tree

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "rulesets")
NODE_NET = ["192.168.77.0/24"]
ADDRS = [{"ifname": "eth0", "addr_info": [{"local": "192.168.77.11", "prefixlen": 24}]}]
GROUPS = k8s_ports_checks.port_groups(NODE_NET, "kubeadm", True, (30000, 32767), None)
POD = "10.244.0.0/16"
BASE_IPT = ("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n")
BASE_NFT = ("table inet podnet_lab_filter {\n chain input {\n  type filter hook input priority filter; policy drop;\n"
            "  ct state established,related accept\n  tcp dport 22 accept\n }\n}\n")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def facts(**rulesets):
    base = {"addresses": ADDRS, "errors": [], "firewalld": {"running": False}, "nft": None, "iptables_legacy": None,
            "iptables_nft": None, "ufw_active": False, "loaders": ["lab"]}
    base.update(rulesets)
    return base


def k8s_status(live, boot=None):
    boot = copy.deepcopy(live) if boot is None else boot
    live = copy.deepcopy(live)
    live.pop("parsed", None)
    boot.pop("parsed", None)
    return k8s_ports_checks.checks(live, boot, NODE_NET, "kubeadm", True, (30000, 32767), None)[0]


def plan_for(live, root, boot=None, ports=(), permanent=None):
    return overlay_fix.plan_overlay_fix(copy.deepcopy(live), list(ports), NODE_NET, POD, "flannel", root, forward=False,
                                        permanent_zones=permanent, boot=copy.deepcopy(boot) if boot else None, groups=GROUPS)


def in_netns(script):
    """Run ``script`` (sh) in a new network namespace with the real tools; skip where this test may not."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a throwaway network namespace")
    proc = subprocess.run(["unshare", "-n", "sh", "-ec", script], capture_output=True, text=True, check=False)
    if proc.returncode != 0 and "Operation not permitted" in proc.stderr:
        pytest.skip("no network namespace here: %s" % proc.stderr.strip())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_iptables_ranges_as_first_colon_last_and_the_rules_v4_line_makes_the_check_pass(tmp_path):
    root = make_tree(tmp_path, {"etc/iptables/rules.v4": BASE_IPT})
    live = facts(iptables_legacy=BASE_IPT)
    assert k8s_status(live)["status"] == "fail"
    plan = plan_for(live, root, boot=live)
    text = "\n".join(" ".join(c) for c in plan["commands"])
    for spec in ("-p tcp -m tcp --dport 30000:32767", "-p udp -m udp --dport 30000:32767", "--dport 2379:2380", "--dport 10250 "):
        assert spec in text, text
    assert "30001" not in text and "31000" not in text  # the range whole, never port by port
    persisted = plan["files"]["/etc/iptables/rules.v4"]["after"]
    assert k8s_status(facts(iptables_legacy=persisted))["status"] == "pass"
    # the running ruleset after the plan's own commands, by the real iptables-legacy
    script = "iptables-legacy-restore <<'EOF'\n%sEOF\n%s\niptables-legacy-save\n" % (
        BASE_IPT, "\n".join(" ".join("'%s'" % a for a in c) for c in plan["commands"]))
    applied = in_netns(script)
    assert k8s_status(facts(iptables_legacy=applied), facts(iptables_legacy=persisted))["status"] == "pass"
    again = plan_for(facts(iptables_legacy=applied), make_tree(tmp_path / "after", {"etc/iptables/rules.v4": persisted}),
                     boot=facts(iptables_legacy=persisted))
    assert again["commands"] == [] and again["files"] == {}, again


def test_nftables_ranges_as_first_dash_last_checked_by_the_real_nft(tmp_path):
    json_text = in_netns("nft -f - <<'EOF'\n%sEOF\nnft -j list ruleset\n" % BASE_NFT)
    live = facts(nft=json_text)
    assert k8s_status(live)["status"] == "fail"
    conf = "#!/usr/sbin/nft -f\nflush ruleset\n" + BASE_NFT
    root = make_tree(tmp_path, {"etc/nftables.conf": conf})
    plan = plan_for(live, root)
    lines = plan["files"][overlay_fix.NFT_FILE]["after"]
    assert "tcp dport 30000-32767 accept" in lines and "udp dport 30000-32767 accept" in lines and "tcp dport 2379-2380" in lines
    applied = in_netns("nft -f - <<'EOF'\n%sEOF\n%s\nnft -j list ruleset\n" % (
        BASE_NFT, "\n".join(" ".join(c) for c in plan["commands"])))
    assert k8s_status(facts(nft=applied))["status"] == "pass"
    # what the boot loads: nftables.conf with our include, read by the real nft
    (tmp_path / "etc" / "nftables.d").mkdir(exist_ok=True)
    booted = in_netns("nft -f - <<'EOF'\n%s\n%sEOF\nnft -j list ruleset\n" % (BASE_NFT, lines.split("\n", 1)[1]))
    assert k8s_status(facts(nft=booted))["status"] == "pass"
    assert plan_for(facts(nft=applied), root)["commands"] == []


def _firewalld_facts(zone):
    return facts(firewalld={"running": True, "default_zone": "public", "zones": {"public": zone}, "backend": "nftables",
                            "active_zones": {"public": {"interfaces": ["eth0"]}}, "policies": {},
                            "services": {"ssh": ["22/tcp"], "dhcpv6-client": ["546/udp"]}})


def test_firewalld_range_in_a_rich_rule_now_and_permanent():
    zone = firewalld.parse_list_all(fixture("firewalld.list-all").split("\n", 2)[2])
    live = _firewalld_facts(zone)
    assert k8s_status(live)["status"] == "fail"
    plan = plan_for(live, "/nonexistent", permanent={"public": copy.deepcopy(zone)})
    rich = 'rule family="ipv4" source address="192.168.77.0/24" port port="30000-32767" protocol="udp" accept'
    assert ["firewall-cmd", "--zone=public", "--add-rich-rule=%s" % rich] in plan["commands"]
    assert ["firewall-cmd", "--permanent", "--zone=public", "--add-rich-rule=%s" % rich] in plan["commands"]
    added = [c[-1].split("=", 1)[1] for c in plan["commands"] if "--permanent" not in c]
    opened = dict(zone, **{"rich rules": zone.get("rich rules", []) + added})
    assert k8s_status(_firewalld_facts(opened))["status"] == "pass"


def test_ufw_range_with_its_protocol_and_what_ufw_writes_for_it_passes():
    dump = fixture("ufw.iptables-nft-save")
    live = facts(iptables_nft=dump, ufw_active=True)
    assert k8s_status(live)["status"] == "fail"
    plan = plan_for(live, "/nonexistent")
    assert ["ufw", "allow", "from", "192.168.77.0/24", "to", "any", "port", "30000:32767", "proto", "udp", "comment",
            "podnet.doctor"] in plan["commands"], plan["commands"]
    # ufw renders a port range with the multiport match (ufw's backend_iptables), one rule per command
    rules = []
    for c in plan["commands"]:
        port, proto = c[7], c[9]
        match = "-m multiport --dports %s" % port if ":" in port else "-m %s --dport %s" % (proto, port)
        rules.append("-A ufw-user-input -s %s -p %s %s -j ACCEPT" % (c[3], proto, match))
    anchor = "-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT\n"
    opened = dump.replace(anchor, anchor + "".join(r + "\n" for r in rules))
    assert k8s_status(facts(iptables_nft=opened, ufw_active=True))["status"] == "pass"


def test_overlay_and_k8s_ports_in_one_plan_and_neither_undoes_the_other(tmp_path):
    root = make_tree(tmp_path, {"etc/iptables/rules.v4": BASE_IPT})
    live = facts(iptables_legacy=BASE_IPT)
    overlay_only = overlay_fix.plan_overlay_fix(copy.deepcopy(live), [("udp", 8472, "flannel VXLAN")], NODE_NET, POD, "flannel",
                                                root, forward=False, boot=copy.deepcopy(live))
    after_overlay = overlay_only["files"]["/etc/iptables/rules.v4"]["after"]
    root2 = make_tree(tmp_path / "2", {"etc/iptables/rules.v4": after_overlay})
    both = plan_for(facts(iptables_legacy=after_overlay), root2, boot=facts(iptables_legacy=after_overlay),
                    ports=[("udp", 8472, "flannel VXLAN")])
    text = "\n".join(" ".join(c) for c in both["commands"])
    assert "8472" not in text and "30000:32767" in text
    after_both = both["files"]["/etc/iptables/rules.v4"]["after"]
    assert all(line in after_both for line in after_overlay.splitlines())  # only additions
    done = facts(iptables_legacy=after_both)
    root3 = make_tree(tmp_path / "3", {"etc/iptables/rules.v4": after_both})
    again = overlay_fix.plan_overlay_fix(copy.deepcopy(done), [("udp", 8472, "flannel VXLAN")], NODE_NET, POD, "flannel",
                                         root3, forward=False, boot=copy.deepcopy(done))
    assert again["commands"] == [] and again["files"] == {}


def test_a_check_fix_names_each_range_whole_and_remediate():
    result = k8s_status(facts(iptables_legacy=BASE_IPT))
    assert "--dport 30000:32767" in result["fix"] and "remediate" in result["fix"] and "by hand" not in result["fix"]
    assert json.dumps(result["fix"]).count("30000:32767") >= 2


@pytest.mark.parametrize("first,last,separator,text", [(30000, 32767, "-", "30000-32767"), (30000, 32767, ":", "30000:32767"),
                                                       (10250, 10250, ":", "10250"), (10250, None, "-", "10250")])
def test_port_span(first, last, separator, text):
    assert port_span(first, last, separator) == text


def test_a_range_given_backwards_is_one_clear_error():
    with pytest.raises(ValueError) as caught:
        port_span(32767, 30000, ":")
    assert "backwards" in str(caught.value) and "30000-32767" in str(caught.value)
    with pytest.raises(ValueError) as caught:
        parse_nodeport_range("32767-30000")
    assert "podnet_nodeport_range" in str(caught.value)


@pytest.mark.parametrize("proto", [None, "sctp", "any"])
def test_ufw_range_without_tcp_or_udp_is_one_clear_error(proto):
    with pytest.raises(ValueError) as caught:
        overlay_fix.ufw_allow_command("192.168.77.0/24", proto, 30000, 32767)
    assert "30000:32767" in str(caught.value) and "tcp or udp" in str(caught.value)
    # a single port needs no protocol of ufw's range rule
    assert overlay_fix.ufw_allow_command("192.168.77.0/24", "tcp", 10250)[7] == "10250"
