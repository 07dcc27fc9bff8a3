"""IP protocol 4 (IP-in-IP, Calico IPIP) by number everywhere.

Debian's /etc/protocols says ``ipencap 4`` and ``ipip 94``: nft, iptables and firewalld
resolve a protocol *name* through it, so a rule written ``meta l4proto ipip`` or
``-p ipip`` opens protocol 94, not Calico's protocol 4 (issue 12, section 2). The fixers
emit numbers and the evaluator resolves the names a ruleset prints through the node's own
/etc/protocols, never through a table of ours."""
import json

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.firewall import gather_live, overlay_checks, overlay_fix
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.packet import Packet

from ....fixture_tree import make_tree

DEBIAN_PROTOCOLS = ("ip\t0\tIP\t\t# internet protocol, pseudo protocol number\nicmp\t1\tICMP\n"
                    "ipencap\t4\tIP-ENCAP\t# IP encapsulated in IP (officially ``IP'')\ntcp\t6\tTCP\n"
                    "udp\t17\tUDP\nipip\t94\tIPIP\t\t# IP-within-IP Encapsulation Protocol\n")
NODE_NET = "192.168.76.0/24"
CALICO_IPIP = [("tcp", 179, "Calico BGP"), ("ipip", None, "Calico IP-in-IP (IP protocol 4)")]
ADDRESSES = json.dumps([{"ifname": "eth0", "addr_info": [{"local": "192.168.76.11", "prefixlen": 24}]}])


def nft_json(l4proto_right):
    """What ``nft -j list ruleset`` prints for a default-drop input chain that admits BGP and
    ``meta l4proto <l4proto_right>`` from the node network."""
    saddr = {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                       "right": {"prefix": {"addr": "192.168.76.0", "len": 24}}}}
    return json.dumps({"nftables": [
        {"table": {"family": "inet", "name": "filter"}},
        {"chain": {"family": "inet", "table": "filter", "name": "input", "type": "filter", "hook": "input",
                   "prio": 0, "policy": "drop"}},
        {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 2,
                  "expr": [saddr, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                                             "right": 179}}, {"accept": None}]}},
        {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 3,
                  "expr": [saddr, {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": l4proto_right}},
                           {"accept": None}]}}]})


class Node(object):
    def __init__(self, nft_out="", legacy="", ipt_nft=""):
        self.outputs = {"nft": nft_out, "iptables-legacy-save": legacy, "iptables-nft-save": ipt_nft,
                        "ip6tables-legacy-save": "", "ip6tables-nft-save": "", "ip": ADDRESSES}

    def run(self, argv):
        return 0, self.outputs[argv[0].rsplit("/", 1)[-1]], ""

    @staticmethod
    def which(name):
        return name


def inbound(tmp_path, node, protocols=DEBIAN_PROTOCOLS):
    root = make_tree(tmp_path, {"proc/1/comm": "systemd\n", "etc/protocols": protocols})
    facts = gather_live.gather_firewall(node.run, root, node.which)
    return facts, overlay_checks.evaluate_overlay(facts, CALICO_IPIP, [NODE_NET], "10.244.0.0/16", "calico")[0]


@pytest.mark.parametrize("printed,status", [
    ("ipip", "fail"),      # nft printed the name of 94: protocol 4 is still dropped by the policy
    ("ipencap", "pass"),   # the name of 4 on Debian
    (4, "pass"),           # what nft -p (numeric protocols) prints
    (94, "fail"),
])
def test_nft_protocol_names_are_read_through_the_nodes_etc_protocols(tmp_path, printed, status):
    check = inbound(tmp_path, Node(nft_out=nft_json(printed)))[1]
    assert check["status"] == status, check


@pytest.mark.parametrize("printed,status", [("ipip", "fail"), ("ipencap", "pass"), ("4", "pass")])
def test_iptables_protocol_names_are_read_through_the_nodes_etc_protocols(tmp_path, printed, status):
    dump = ("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            "-A INPUT -s 192.168.76.0/24 -p tcp -m tcp --dport 179 -j ACCEPT\n"
            "-A INPUT -s 192.168.76.0/24 -p %s -j ACCEPT\nCOMMIT\n" % printed)
    check = inbound(tmp_path, Node(legacy=dump))[1]
    assert check["status"] == status, check


def test_a_protocol_name_the_node_does_not_define_is_an_error_not_a_guess(tmp_path):
    check = inbound(tmp_path, Node(nft_out=nft_json("ipip")), protocols="tcp\t6\tTCP\n")[1]
    assert check["status"] == "error" and "ipip" in check["observed"], check


def test_nft_is_read_with_numeric_protocols(tmp_path):
    calls = []

    class Recorder(Node):
        def run(self, argv):
            calls.append(argv)
            return Node.run(self, argv)
    inbound(tmp_path, Recorder())
    nft_calls = [c for c in calls if c[0] == "nft"]
    assert nft_calls == [["nft", "-j", "-p", "list", "ruleset"]]


def _plan(tmp_path, node):
    facts, _check = inbound(tmp_path, node)
    return overlay_fix.plan_overlay_fix(facts, CALICO_IPIP, [NODE_NET], "10.244.0.0/16", "calico",
                                        str(tmp_path), forward=False)


def test_the_nft_fix_opens_protocol_4_by_number(tmp_path):
    dropping = json.dumps({"nftables": json.loads(nft_json(94))["nftables"][:2]})
    commands = [" ".join(c) for c in _plan(tmp_path, Node(nft_out=dropping))["commands"]]
    assert any("meta l4proto 4 accept" in c for c in commands), commands
    assert not any("ipip" in c for c in commands), commands


def test_the_iptables_fix_opens_protocol_4_by_number(tmp_path):
    dump = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    commands = _plan(tmp_path, Node(legacy=dump))["commands"]
    assert ["iptables-legacy", "-I", "INPUT", "1", "-s", NODE_NET, "-p", "4", "-m", "comment", "--comment",
            "podnet.doctor", "-j", "ACCEPT"] in commands, commands


def test_the_firewalld_rich_rule_and_the_fix_hints_name_protocol_4_by_number(tmp_path):
    assert 'protocol value="4"' in overlay_fix._rich_rule(NODE_NET, 4, None)
    drops = {"firewalld": {"zone": "public"}, "iptables-legacy": {"chain": "INPUT"}, "nftables": {"chain": ("inet", "filter", "input")}}
    for backend, target in drops.items():
        result = dict(target, backend=backend, verdict="drop", where="x")
        hint = overlay_fix.describe_changes([overlay_fix.opening({}, Packet("ipip", None, src=NODE_NET), result, NODE_NET)], str(tmp_path))
        assert "ipip" not in hint.replace("IPIP", "") and (" 4" in hint or '"4"' in hint), hint
