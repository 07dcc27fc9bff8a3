"""iptables.backends, IPv6 (issue 15): ip6tables-legacy-save / ip6tables-nft-save are read in the same gather and
judged like IPv4; what the kernel does with each layout is in the test's comment."""
import os

from ansible_collections.podnet.doctor.plugins.module_utils.firewall import gather_live, iptables_backends

from .test_iptables_backends import EMPTY, NODE_NET, SSH_ONLY_NFT, VXLAN, node

DUAL = ("ipv4", "ipv6")
# eth0 holds the IPv4 node network and a global IPv6 one (the dual-stack peers), plus its link-local address
ADDRESSES6 = ('[{"ifname": "eth0", "addr_info": [{"local": "192.168.76.11", "prefixlen": 24}, '
              '{"local": "fd76::11", "prefixlen": 64}, {"local": "fe80::1", "prefixlen": 64}]}]')
DROP_VXLAN6 = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
               "-A INPUT -p udp -m udp --dport 8472 -j DROP\nCOMMIT\n")
SSH6 = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A INPUT -s 2001:db8:1::/48 -p tcp -m tcp --dport 22 -j DROP\nCOMMIT\n")
FORWARD_DROP6 = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
STALE_KUBE6 = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
               ":KUBE-SERVICES - [0:0]\n-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
               "-A KUBE-SERVICES -d fd96::a/128 -p udp -m udp --dport 53 -j DNAT --to-destination [fd44::9]:53\nCOMMIT\n")


def judge6(root, legacy6="", nft6="", families=DUAL, run=None, which=None, v4_nft=EMPTY):
    outputs = {"nft": "", "ip": ADDRESSES6, "iptables-legacy-save": "", "iptables-nft-save": v4_nft,
               "ip6tables-legacy-save": legacy6, "ip6tables-nft-save": nft6}
    facts = gather_live.gather_firewall(run or (lambda argv: (0, outputs[argv[0]], "")), root, which or (lambda name: name))
    return iptables_backends.evaluate(facts, root, VXLAN, [NODE_NET], "10.244.0.0/16", "flannel", families)


def ip6tables_alternative(root, target="/usr/sbin/ip6tables-nft"):
    open(os.path.join(root, target.lstrip("/")), "w").close()
    os.symlink(target, os.path.join(root, "etc/alternatives/ip6tables"))
    os.symlink("/etc/alternatives/ip6tables", os.path.join(root, "usr/sbin/ip6tables"))
    return root


def test_a_v6_drop_of_the_overlay_port_in_legacy_under_the_nft_alternative_fails(tmp_path):
    # the kernel runs ip6tables-legacy's INPUT hook too: flannel's VXLAN over IPv6 from fd76::/64 is dropped there
    check = judge6(ip6tables_alternative(node(tmp_path)), legacy6=DROP_VXLAN6, nft6=EMPTY)
    assert check["status"] == "fail", check
    assert "ip6tables-legacy drops 8472/udp from fd76::/64" in check["observed"], check
    assert "fe80" not in check["observed"], check  # link-local is no node network
    assert "ip6tables-legacy -t filter -F" in check["fix"] and "ip6tables-legacy-save > /root/ip6tables-legacy.rules" in check["fix"]
    assert "iptables-legacy -t filter" not in check["fix"].replace("ip6tables-legacy", ""), check


def test_the_same_v6_drop_in_the_used_backend_passes(tmp_path):
    check = judge6(ip6tables_alternative(node(tmp_path)), legacy6="", nft6=DROP_VXLAN6)
    assert check["status"] == "pass" and "ip6tables-nft holds filter INPUT: 1 rule" in check["observed"], check


def test_stale_v6_kube_proxy_chains_fail_in_an_ipv4_only_cluster_too(tmp_path):
    # kube-proxy's old Service DNATs still rewrite IPv6 Service traffic whatever podnet_ip_families says
    check = judge6(node(tmp_path), legacy6=STALE_KUBE6, nft6=SSH_ONLY_NFT, families=["ipv4"])
    assert check["status"] == "fail" and "ip6tables-legacy holds rules of kube-proxy or a CNI (nat KUBE-SERVICES" in check["observed"]
    assert "ip6tables-legacy -t nat -F" in check["fix"], check


def test_v6_admin_rules_in_the_unused_backend_of_an_ipv4_only_cluster_pass_named(tmp_path):
    # decided: the cluster sends no IPv6 overlay or pod packet, so even a v6 FORWARD DROP breaks no pod networking;
    # the rules are named (the operator sees them), the verdict is pass
    check = judge6(node(tmp_path), legacy6=FORWARD_DROP6 + SSH6.replace("*filter", "*mangle").replace(
        ":INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -s 2001:db8:1::/48 -p tcp -m tcp --dport 22 -j DROP\n",
        ""), families=["ipv4"])
    assert check["status"] == "pass", check
    assert "ip6tables-legacy holds filter FORWARD: 0 rules, policy DROP" in check["observed"], check
    assert "uses no IPv6 (podnet_ip_families)" in check["observed"], check


def test_the_same_v6_forward_drop_in_a_dual_stack_cluster_fails(tmp_path):
    check = judge6(node(tmp_path), legacy6=FORWARD_DROP6)
    assert check["status"] == "fail" and "ip6tables-legacy drops pod -> pod on another node" in check["observed"], check


def test_v6_admin_rules_that_drop_nothing_of_ours_pass_in_a_dual_stack_cluster(tmp_path):
    check = judge6(node(tmp_path), legacy6=SSH6)
    assert check["status"] == "pass" and "none drops an overlay or pod packet" in check["observed"], check


def test_an_unreadable_v6_dump_is_an_error_naming_it_and_leaves_the_v4_checks_alone(tmp_path):
    root = node(tmp_path)
    outputs = {"nft": "", "ip": ADDRESSES6, "iptables-legacy-save": "", "iptables-nft-save": EMPTY, "ip6tables-nft-save": EMPTY}

    def run(argv):
        if argv[0] == "ip6tables-legacy-save":
            return 1, "", "can't initialize ip6tables table `filter': Permission denied"
        return 0, outputs[argv[0]], ""
    facts = gather_live.gather_firewall(run, root, lambda name: name)
    assert facts["errors"] == [], facts["errors"]  # overlay.inbound/forward judge IPv4 and stay evaluable
    check = iptables_backends.evaluate(facts, root, VXLAN, [NODE_NET], "10.244.0.0/16", "flannel", DUAL)
    assert check["status"] == "error" and "ip6tables-legacy-save failed" in check["observed"], check


def test_a_damaged_v6_dump_is_an_error(tmp_path):
    check = judge6(node(tmp_path), legacy6="*filter\n-A INPUT -j DROP\nCOMMIT\n")
    assert check["status"] == "error" and "ip6tables-legacy output line 2" in check["observed"], check


def _proc(root, text):
    os.makedirs(os.path.join(root, "proc/net"), exist_ok=True)
    with open(os.path.join(root, "proc/net/ip6_tables_names"), "w") as handle:
        handle.write(text)


def test_ip6tables_legacy_save_is_not_run_when_the_kernel_has_no_legacy_v6_table(tmp_path):
    root = node(tmp_path)
    _proc(root, "")
    calls = []
    outputs = {"nft": "", "ip": ADDRESSES6, "iptables-legacy-save": "", "iptables-nft-save": EMPTY, "ip6tables-nft-save": EMPTY}

    def run(argv):
        calls.append(argv[0])
        return 0, outputs[argv[0]], ""
    check = judge6(root, run=run)
    assert "ip6tables-legacy-save" not in calls and "ip6tables-nft-save" in calls, calls
    assert check["status"] == "pass", check


def test_legacy_v6_tables_without_ip6tables_legacy_save_are_an_error(tmp_path):
    # an nft-only install whose kernel holds ip6tables-legacy tables (a container's ip6tables-legacy wrote them)
    root = node(tmp_path)
    _proc(root, "filter\n")
    check = judge6(root, nft6=EMPTY, which=lambda name: None if name.endswith("legacy-save") else name)
    assert check["status"] == "error" and "ip6_tables_names lists filter" in check["observed"], check


def test_no_ip6tables_commands_and_no_legacy_v6_tables_judge_ipv4_alone(tmp_path):
    check = judge6(node(tmp_path), which=lambda name: None if name.startswith("ip6tables") else name)
    assert check["status"] == "pass" and "IPv6" not in check["observed"], check


def test_the_v4_kubelet_hint_keeps_the_clusters_backend_for_v6(tmp_path):
    # kube-proxy's iptables-wrapper picks one mode for both families from the kubelet's IPv4 chains: with those in
    # legacy, rules in ip6tables-legacy are the live ones and a DROP left in ip6tables-nft is the stale one
    hint = "*mangle\n:PREROUTING ACCEPT [0:0]\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n"
    root = node(tmp_path)
    outputs = {"nft": "", "ip": ADDRESSES6, "iptables-legacy-save": hint, "iptables-nft-save": "",
               "ip6tables-legacy-save": SSH6, "ip6tables-nft-save": DROP_VXLAN6}
    facts = gather_live.gather_firewall(lambda argv: (0, outputs[argv[0]], ""), root, lambda name: name)
    check = iptables_backends.evaluate(facts, root, VXLAN, [NODE_NET], "10.244.0.0/16", "flannel", DUAL)
    assert check["status"] == "fail" and "ip6tables-nft drops 8472/udp" in check["observed"], check
    assert "ip6tables-nft -t filter -F" in check["fix"] and "ip6tables-legacy -t filter -F" not in check["fix"], check


def test_the_overlay_fix_gather_runs_no_ip6tables_command(tmp_path):
    # overlay_firewall gathers with ip6tables=False: it judges IPv4 only and must not pay for the IPv6 dumps
    calls = []
    outputs = {"nft": "", "ip": ADDRESSES6, "iptables-legacy-save": "", "iptables-nft-save": EMPTY}

    def run(argv):
        calls.append(argv[0])
        return 0, outputs[argv[0]], ""
    root = node(tmp_path)
    _proc(root, "filter\n")
    facts = gather_live.gather_firewall(run, root, lambda name: name, ip6tables=False)
    assert not [c for c in calls if c.startswith("ip6tables")], calls
    check = iptables_backends.evaluate(facts, root, VXLAN, [NODE_NET], "10.244.0.0/16", "flannel", DUAL)
    assert check["status"] == "pass" and "IPv6" not in check["observed"], check
