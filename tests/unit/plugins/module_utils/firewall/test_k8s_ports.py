"""k8s_ports.inbound: the component-port table, control-plane resolution, input validation and the verdicts,
judged on iptables-legacy dumps (live and boot) by the overlay evaluator."""
import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.firewall import k8s_ports_checks
from ansible_collections.podnet.doctor.plugins.module_utils.network import k8s_components as kc

NODE_NET = ["192.168.77.0/24"]
ADDRS = [{"ifname": "eth0", "addr_info": [{"local": "192.168.77.11", "prefixlen": 24}]}]


def _facts(rules, policy="DROP"):
    dump = "*filter\n:INPUT %s [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n%sCOMMIT\n" % (policy, "".join(r + "\n" for r in rules))
    return {"addresses": ADDRS, "errors": [], "firewalld": {"running": False}, "nft": None,
            "iptables_legacy": dump, "iptables_nft": None, "loaders": ["netfilter-persistent: /etc/iptables/rules.v4"]}


OPEN = _facts([], policy="ACCEPT")


def _run(live, boot, distribution="kubeadm", control_plane=False, sources=None):
    return k8s_ports_checks.checks(live, boot, NODE_NET, distribution, control_plane, (30000, 32767), sources)[0]


def test_table_kubeadm_control_plane_and_worker():
    assert kc.component_ports("kubeadm", False) == kc.KUBELET
    cp = [(p[0], p[1], p[2]) for p in kc.component_ports("kubeadm", True)]
    assert cp == [("tcp", 10250, 10250), ("tcp", 6443, 6443), ("tcp", 10259, 10259), ("tcp", 10257, 10257), ("tcp", 2379, 2380)]
    # an external etcd cluster: no etcd ports on the control plane
    assert [p[1] for p in kc.component_ports("kubeadm", True, embedded_etcd=False)] == [10250, 6443, 10259, 10257]


def test_table_k3s_and_rke2():
    assert [p[1] for p in kc.component_ports("k3s", True, embedded_etcd=False)] == [10250, 6443]
    # a k3s server keeps SQLite (kine) unless started with --cluster-init: no etcd ports by default
    assert [p[1] for p in kc.component_ports("k3s", True)] == [10250, 6443]
    assert [p[1] for p in kc.component_ports("k3s", True, embedded_etcd=True)] == [10250, 6443, 2379]
    assert [p[1] for p in kc.component_ports("rke2", True)] == [10250, 6443, 9345, 2379]
    assert kc.component_ports("none", True) == []


def test_ranges_are_probed_at_both_edges():
    assert kc.probe_ports(kc.nodeport_ports(30000, 32767)) == [
        ("tcp", 30000, "NodePort Services"), ("tcp", 32767, "NodePort Services"),
        ("udp", 30000, "NodePort Services"), ("udp", 32767, "NodePort Services")]


@pytest.mark.parametrize("flag,groups,expected", [
    (None, ["kube_control_plane", "k8s"], True), (None, ["kube_node"], False),
    (False, ["kube_control_plane"], False), (True, [], True), (None, None, False)])
def test_host_flag_wins_over_the_group(flag, groups, expected):
    assert kc.is_control_plane(flag, groups) is expected


def test_sources_validation():
    assert kc.validated_sources(None) is None
    assert kc.validated_sources([]) == []
    assert kc.validated_sources(["10.0.0.5", "10.1.2.0/16"]) == ["10.0.0.5/32", "10.1.0.0/16"]
    with pytest.raises(ValueError, match="podnet_nodeport_sources: 'lb' is not a CIDR"):
        kc.validated_sources(["10.0.0.0/8", "lb"])
    with pytest.raises(ValueError, match="podnet_nodeport_sources=.* is not a list"):
        kc.validated_sources("10.0.0.0/8")


def test_pass_with_no_firewall_names_the_ports():
    result = _run(OPEN, OPEN)
    assert result["status"] == "pass", result
    assert "10250/tcp" in result["observed"] and "30000-32767/udp" in result["observed"]
    assert "6443/tcp" not in result["observed"]


def test_kubelet_dropped_now_fails_naming_port_and_rule():
    live = _facts(["-A INPUT -p tcp -m tcp --dport 30000:32767 -j ACCEPT", "-A INPUT -p udp -m udp --dport 30000:32767 -j ACCEPT"])
    result = _run(live, OPEN)
    assert result["status"] == "fail", result
    assert "10250" in result["observed"] and "now" in result["observed"]
    assert "30000" not in result["observed"]
    assert "--dport 10250 " in result["fix"] and "podnet.doctor.remediate" in result["fix"] and "by hand" not in result["fix"]


def test_open_now_but_dropped_after_reboot_fails():
    boot = _facts([])
    result = _run(OPEN, boot, control_plane=True)
    assert result["status"] == "fail", result
    assert "at the next boot" in result["observed"] and "6443" in result["observed"]
    assert " now " not in result["observed"]


def test_control_plane_ports_only_on_the_control_plane():
    live = _facts(["-A INPUT -p tcp -m tcp --dport 10250 -j ACCEPT", "-A INPUT -p tcp -m tcp --dport 30000:32767 -j ACCEPT",
                   "-A INPUT -p udp -m udp --dport 30000:32767 -j ACCEPT"])
    assert _run(live, live)["status"] == "pass"
    result = _run(live, live, control_plane=True)
    assert result["status"] == "fail" and "6443" in result["observed"] and "2380" in result["observed"]
    assert "--dport 2379:2380 " in result["fix"], result["fix"]


def test_nodeport_from_named_sources_only_and_empty_list_skips_it():
    live = _facts(["-A INPUT -s 192.168.77.0/24 -j ACCEPT"])
    result = _run(live, live, sources=["10.9.0.0/16"])
    assert result["status"] == "fail" and "10.9.0.0/16" in result["observed"], result
    assert _run(live, live, sources=[])["status"] == "pass"


def test_skip_and_error():
    assert _run(OPEN, OPEN, distribution="none")["status"] == "skip"
    broken = dict(OPEN, errors=["iptables-legacy-save failed"])
    result = _run(broken, OPEN)
    assert result["status"] == "error" and "iptables-legacy-save failed" in result["observed"]
    assert k8s_ports_checks.checks(OPEN, OPEN, [], "kubeadm", False, (30000, 32767), None)[0]["status"] == "error"


@pytest.mark.parametrize("rules", [
    # a DROP of ports in the middle of the range, before the range's accept
    ["-A INPUT -p tcp -m tcp --dport 31000:31010 -j DROP", "-A INPUT -p tcp -m tcp --dport 30000:32767 -j ACCEPT",
     "-A INPUT -p udp -m udp --dport 30000:32767 -j ACCEPT", "-A INPUT -p tcp -m tcp --dport 10250 -j ACCEPT"],
    # accepts that leave a hole in the middle (31001-31499 dropped by the policy)
    ["-A INPUT -p tcp -m tcp --dport 30000:31000 -j ACCEPT", "-A INPUT -p tcp -m tcp --dport 31500:32767 -j ACCEPT",
     "-A INPUT -p udp -m udp --dport 30000:32767 -j ACCEPT", "-A INPUT -p tcp -m tcp --dport 10250 -j ACCEPT"],
    # one port in the middle, with multiport
    ["-A INPUT -p tcp -m multiport --dports 31337 -j REJECT", "-A INPUT -p tcp -m tcp --dport 30000:32767 -j ACCEPT",
     "-A INPUT -p udp -m udp --dport 30000:32767 -j ACCEPT", "-A INPUT -p tcp -m tcp --dport 10250 -j ACCEPT"],
])
def test_a_hole_in_the_middle_of_the_nodeport_range_fails(rules):
    """A range probed only at its edges passes a node that drops NodePorts in the middle (a wrong pass)."""
    live = _facts(rules)
    result = _run(live, live)
    assert result["status"] == "fail", result
    assert "tcp" in result["observed"] and "NodePort" in result["observed"]


def test_the_probes_inside_a_range_are_the_named_numbers_and_their_successors():
    probes = kc.probe_ports([("tcp", 30000, 32767, "N")], {31000, 31010, 5, 40000, 32767})
    assert [p[1] for p in probes] == [30000, 31000, 31001, 31010, 31011, 32767]
    assert kc.mentioned_numbers({"a": "--dport 31000:31010", "b": [{"range": [30500, 30600]}], "c": True}) >= {31000, 31010, 30500, 30600}
