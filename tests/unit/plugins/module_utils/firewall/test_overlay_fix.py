"""overlay_fix: the boot files it plans to write, and what it refuses to plan."""
import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import overlay_fix

from ....fixture_tree import make_tree

LINE = ("INPUT", "-A INPUT -s 192.168.77.0/24 -p udp -m udp --dport 8472 -m comment --comment podnet.doctor -j ACCEPT")


@pytest.mark.parametrize("text,line", [
    ("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n", 1),
    ("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT DROP [0:0]\n", 4),
])
def test_rules_v4_with_a_table_and_no_commit_is_an_error_naming_file_and_line(tmp_path, text, line):
    """iptables-restore refuses such a file at boot; planning into it used to die with StopIteration."""
    root = make_tree(tmp_path, {"etc/iptables/rules.v4": text})
    plan = {"commands": [], "files": {}, "unresolved": [], "openings": []}
    with pytest.raises(Unevaluable) as caught:
        overlay_fix._plan_ipt_persistence(plan, root, [LINE])
    assert "/etc/iptables/rules.v4 line %d" % line in str(caught.value)
    assert "COMMIT" in str(caught.value)
    assert plan["files"] == {}


def test_rules_v4_gets_the_line_before_the_filter_commit(tmp_path):
    text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    root = make_tree(tmp_path, {"etc/iptables/rules.v4": text})
    plan = {"commands": [], "files": {}, "unresolved": [], "openings": []}
    overlay_fix._plan_ipt_persistence(plan, root, [LINE])
    after = plan["files"]["/etc/iptables/rules.v4"]["after"].splitlines()
    assert after.index(LINE[1]) == 2 and after[-1] == "COMMIT"


def test_a_boot_drop_in_the_raw_table_is_unresolved_never_a_filter_line(tmp_path):
    """A DROP in rules.v4's *raw PREROUTING: writing '-A PREROUTING' into *filter would make
    iptables-restore refuse the whole file at boot (no firewall at all): say what to do instead."""
    rules = ("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -p udp -m udp --dport 8472 -j DROP\n"
             "COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")
    root = make_tree(tmp_path, {"etc/iptables/rules.v4": rules})
    addresses = [{"ifname": "eth0", "addr_info": [{"local": "192.168.77.11", "prefixlen": 24}]}]
    boot = {"addresses": addresses, "firewalld": {"running": False}, "nft": None, "iptables_nft": None,
            "iptables_legacy": rules, "errors": [], "parsed": {}}
    live = {"addresses": addresses, "firewalld": {"running": False}, "nft": None, "iptables_nft": None,
            "iptables_legacy": None}
    plan = overlay_fix.plan_overlay_fix(live, [("udp", 8472, "flannel VXLAN")], ["192.168.77.0/24"], "10.244.0.0/16",
                                        "flannel", root, forward=False, boot=boot)
    assert "/etc/iptables/rules.v4" not in plan["files"]
    assert any("table raw" in text and "*raw" in text for text in plan["unresolved"]), plan["unresolved"]
