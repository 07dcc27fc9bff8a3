"""Canal, Antrea and kube-router (issue 15, CNI catalog): each mode's ports and protocols, GRE (IP protocol
47) judged and opened by number like IP-in-IP, the MTU model and probe of each mode, and the node-side
tables that name a CNI's links (forwarded flows, host networks, rp_filter needs)."""
import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import CatalogError
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import flows, gather_live, overlay_checks, overlay_fix
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import rp_filter
from ansible_collections.podnet.doctor.plugins.module_utils.network import cni_catalog, host_networks, mtu, probe, probe_mtu
from ansible_collections.podnet.doctor.plugins.module_utils.network.protocols import protocol_number, tool_protocol

from tests.unit.roles import role_variables

from .test_protocols import DEBIAN_PROTOCOLS, NODE_NET, Node
from ....fixture_tree import make_tree

ANTREA_GRE = cni_catalog.overlay_ports_for("antrea", "gre")
DEBIAN_WITH_GRE = DEBIAN_PROTOCOLS + "gre\t47\tGRE\t\t# General Routing Encapsulation\n"
OPEN_ANTREA_AGENT = "".join("-A INPUT -s %s -p %s -m %s --dport %d -j ACCEPT\n" % (NODE_NET, p, p, port)
                            for p, port, _d in cni_catalog.ANTREA_AGENT)


def test_each_new_cni_mode_is_in_the_catalog_with_its_documented_ports():
    def pairs(cni, mode):
        return sorted((p, port) for p, port, _d in cni_catalog.overlay_ports_for(cni, mode))
    agent = [("tcp", 10349), ("tcp", 10350), ("tcp", 10351), ("udp", 10351)]
    assert pairs("canal", "vxlan") == [("udp", 8472)]
    assert pairs("canal", "typha") == [("tcp", 5473), ("udp", 8472)]
    assert pairs("canal", "host-gw") == []
    assert pairs("antrea", "geneve") == sorted(agent + [("udp", 6081)])
    assert pairs("antrea", "vxlan") == sorted(agent + [("udp", 4789)])
    assert pairs("antrea", "gre") == sorted(agent + [("gre", None)])
    assert pairs("antrea", "stt") == sorted(agent + [("tcp", 7471)])
    assert pairs("antrea", "wireguard") == sorted(agent + [("udp", 51820)])
    assert pairs("antrea", "noencap") == sorted(agent)
    assert pairs("kube-router", "bgp") == [("tcp", 179)]
    assert pairs("kube-router", "ipip") == [("ipip", None), ("tcp", 179)]
    assert pairs("kube-router", "fou") == [("tcp", 179), ("udp", 5555)]


def test_a_mode_of_another_cni_is_one_clear_error():
    with pytest.raises(CatalogError, match="'vxlan' is not a kube-router mode; use one of bgp, fou, ipip"):
        cni_catalog.overlay_ports_for("kube-router", "vxlan")


def test_gre_is_ip_protocol_47_and_takes_no_port():
    assert protocol_number("gre") == 47 and tool_protocol("gre") == "47"
    assert cni_catalog.overlay_ports_for("custom", "vxlan", ["gre"]) == [("gre", None, "custom gre")]
    # the README's own example: an IP protocol alone, no PORT/
    assert cni_catalog.overlay_ports_for("custom", "vxlan", ["8472/udp", "ipip"])[1] == ("ipip", None, "custom ipip")
    with pytest.raises(CatalogError, match="an IP protocol alone: ipip, gre, icmp"):
        cni_catalog.overlay_ports_for("custom", "vxlan", ["8472"])


def _judge(tmp_path, dump, protocols=DEBIAN_WITH_GRE):
    root = make_tree(tmp_path, {"proc/1/comm": "systemd\n", "etc/protocols": protocols})
    node = Node(legacy="*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n%sCOMMIT\n" % dump)
    facts = gather_live.gather_firewall(node.run, root, node.which)
    return facts, overlay_checks.evaluate_overlay(facts, ANTREA_GRE, [NODE_NET], "10.244.0.0/16", "antrea")[0]


@pytest.mark.parametrize("rule,status", [
    ("-A INPUT -s %s -p 47 -j ACCEPT\n" % NODE_NET, "pass"),
    ("-A INPUT -s %s -p gre -j ACCEPT\n" % NODE_NET, "pass"),  # named as the node's /etc/protocols says
    ("-A INPUT -s %s -p 4 -j ACCEPT\n" % NODE_NET, "fail"),    # IP-in-IP is not GRE
    ("-A INPUT -s 10.9.0.0/16 -p 47 -j ACCEPT\n", "fail"),     # not from the node network
    ("", "fail"),
])
def test_antrea_gre_is_judged_by_protocol_number(tmp_path, rule, status):
    check = _judge(tmp_path, OPEN_ANTREA_AGENT + rule)[1]
    assert check["status"] == status, check


def test_a_gre_rule_named_by_a_name_the_node_does_not_define_is_an_error(tmp_path):
    check = _judge(tmp_path, OPEN_ANTREA_AGENT + "-A INPUT -s %s -p gre -j ACCEPT\n" % NODE_NET,
                   protocols=DEBIAN_PROTOCOLS)[1]
    assert check["status"] == "error" and "gre" in check["observed"], check


def test_the_iptables_fix_opens_gre_by_number(tmp_path):
    facts, _check = _judge(tmp_path, OPEN_ANTREA_AGENT)
    plan = overlay_fix.plan_overlay_fix(facts, ANTREA_GRE, [NODE_NET], "10.244.0.0/16", "antrea", str(tmp_path), forward=False)
    assert ["iptables-legacy", "-I", "INPUT", "1", "-s", NODE_NET, "-p", "47", "-m", "comment", "--comment",
            "podnet.doctor", "-j", "ACCEPT"] in plan["commands"], plan["commands"]
    assert 'protocol value="47"' in overlay_fix._rich_rule(NODE_NET, "gre", None)


@pytest.mark.parametrize("cni,mode,probed", [
    ("antrea", "geneve", ("udp", 6081)), ("antrea", "vxlan", ("udp", 4789)), ("antrea", "gre", ("gre", None)),
    ("antrea", "wireguard", ("udp", 51820)),
    # no encapsulation a datagram can take (STT is TCP, noencap has none): the agent's UDP port carries no pod packets
    ("antrea", "stt", None), ("antrea", "noencap", None),
    ("kube-router", "ipip", ("ipip", None)), ("kube-router", "fou", ("udp", 5555)), ("kube-router", "bgp", None),
    ("canal", "vxlan", ("udp", 8472)), ("canal", "typha", ("udp", 8472)),
])
def test_the_mtu_probe_takes_the_data_path_never_a_control_port(cni, mode, probed):
    entry = probe_mtu.size_port(probe.probe_ports(cni_catalog.overlay_ports_for(cni, mode)))
    assert ((entry[0], entry[2]) if entry else None) == probed


@pytest.mark.parametrize("cni,mode,overhead", [
    ("canal", "vxlan", 50), ("antrea", "geneve", 50), ("antrea", "vxlan", 50), ("antrea", "gre", 38),
    ("antrea", "noencap", 0), ("kube-router", "ipip", 20), ("kube-router", "fou", 32), ("kube-router", "bgp", 0),
])
def test_each_new_mode_has_its_encapsulation_overhead(cni, mode, overhead):
    assert mtu.overhead_for(mtu.overlay_mode(cni, mode)[0], False) == overhead


def test_antrea_stt_has_no_overhead_model():
    assert mtu.overlay_mode("antrea", "stt") is None


def test_canal_reads_flannels_mtu(tmp_path):
    root = make_tree(tmp_path, {"run/flannel/subnet.env": "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_MTU=1450\n"})
    configured, errors = mtu.configured_mtus(root, "canal")
    assert errors == [] and [c["mtu"] for c in configured] == [1450]


def test_forwarded_flows_of_antrea_and_kube_router_leave_by_the_uplink():
    facts = {"addresses": [{"ifname": "eth0", "addr_info": [{"local": "192.168.76.11", "prefixlen": 24}]}]}
    for cni, gateway in (("antrea", "antrea-gw0"), ("kube-router", "kube-bridge")):
        packets = [p for _n, p in flows.forward_packets(facts, [NODE_NET], "10.244.0.0/16", cni)]
        assert [(p.iif, p.oif) for p in packets] == [(gateway, "eth0"), ("eth0", gateway), (gateway, "eth0")]


def test_addresses_on_antrea_and_kube_router_links_are_no_host_networks():
    addresses = [{"ifname": name, "addr_info": [{"local": local, "prefixlen": 24}]}
                 for name, local in (("kube-dummy-if", "10.96.0.1"), ("antrea-gw0", "10.244.1.1"), ("eth0", "192.168.76.11"))]
    networks = [n["network"] for n in host_networks.host_networks(addresses, [])]
    assert networks == ["192.168.76.0/24"], networks


def test_canal_has_calicos_rp_filter_needs_and_antrea_kube_router_none():
    assert rp_filter.RP_FILTER_NEEDS["canal"] is rp_filter.RP_FILTER_NEEDS["calico"]
    assert "antrea" not in rp_filter.RP_FILTER_NEEDS and "kube-router" not in rp_filter.RP_FILTER_NEEDS


def test_every_podnet_cni_choice_is_the_catalog():
    choices = [(role, entry, spec["podnet_cni"]["choices"]) for role in role_variables.role_names()
               for entry, body in role_variables.argument_specs(role).items()
               for spec in [body.get("options", {})] if "podnet_cni" in spec]
    assert choices
    for role, entry, listed in choices:
        assert sorted(listed) == sorted(list(cni_catalog.CATALOG) + ["custom"]), (role, entry)
