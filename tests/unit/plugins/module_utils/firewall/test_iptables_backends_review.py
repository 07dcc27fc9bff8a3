"""Review of iptables.backends (issue 15): layouts the first tests did not cover. Each test asserts what the
node really does; an ``xfail(strict=True)`` one is a defect still open."""
import os

from ansible_collections.podnet.doctor.plugins.module_utils.firewall import gather_live, iptables_backends

from .test_iptables_backends import ADDRESSES, EMPTY, NODE_NET, SSH_ONLY_NFT, STALE_KUBE_PROXY, VXLAN, judge, node

INPUT_DROP_SSH = ("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                  "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -p udp -m udp --dport 8472 -j DROP\nCOMMIT\n")


def _judge_without(root, missing, outputs):
    """gather + evaluate on a node where the commands in ``missing`` are not installed."""
    outputs = dict({"nft": "", "ip": ADDRESSES, "ip6tables-legacy-save": "", "ip6tables-nft-save": ""}, **outputs)
    facts = gather_live.gather_firewall(lambda argv: (0, outputs[argv[0]], ""), root,
                                        lambda name: None if name in missing else name)
    return iptables_backends.evaluate(facts, root, VXLAN, [NODE_NET], "10.244.0.0/16", "flannel")


def test_legacy_tables_in_the_kernel_without_iptables_legacy_save_are_not_a_pass(tmp_path):
    # an nft-only host (Fedora/RHEL iptables-nft, no iptables-legacy package) whose kernel holds legacy
    # tables a container wrote (an old kube-proxy image: kubernetes#71305): /proc/net/ip_tables_names
    # lists them (iptables-nft-save warns "iptables-legacy tables present" from the same file); we
    # cannot read them, so "iptables-legacy holds no rules" and pass is wrong
    root = node(tmp_path)
    os.makedirs(os.path.join(root, "proc/net"))
    with open(os.path.join(root, "proc/net/ip_tables_names"), "w") as handle:
        handle.write("filter\nnat\n")
    check = _judge_without(root, ("iptables-legacy-save",), {"iptables-nft-save": SSH_ONLY_NFT})
    assert check["status"] == "error" and "ip_tables_names" in check["observed"], check


def test_iptables_before_1_8_is_the_legacy_backend(tmp_path):
    # iptables 1.4/1.6 (CentOS 7, Ubuntu 18.04): /usr/sbin/iptables -> xtables-multi, which only
    # knows the legacy x_tables API (iptables/Makefile.am of 1.6: xtables_multi)
    root = node(tmp_path, None)
    open(os.path.join(root, "usr/sbin/xtables-multi"), "w").close()
    os.symlink("xtables-multi", os.path.join(root, "usr/sbin/iptables"))
    assert iptables_backends.selected_backend(root)[0] == "legacy"


def test_the_fix_opens_the_policies_before_it_flushes(tmp_path):
    # flushing an INPUT DROP chain whose rules accept SSH leaves "policy DROP, no rules": the session is
    # cut before "-P INPUT ACCEPT" runs (pasted line by line it never runs)
    check = judge(node(tmp_path), legacy=INPUT_DROP_SSH, nft=EMPTY)
    assert check["status"] == "fail", check
    fix = check["fix"]
    assert fix.index("iptables-legacy -P INPUT ACCEPT") < fix.index("iptables-legacy -t filter -F"), fix


def test_the_fix_does_not_restore_stale_kube_proxy_chains_into_the_used_backend(tmp_path):
    # the whole dump with --noflush would apply its policy lines (:FORWARD DROP) to the kept backend and flush and
    # refill each of its chains that exists there (KUBE-SERVICES) with the stale rules (iptables-restore, noflush)
    check = judge(node(tmp_path), legacy=STALE_KUBE_PROXY, nft=SSH_ONLY_NFT)
    assert "iptables-nft-restore --noflush < /root/iptables-legacy.rules" not in check["fix"], check
    assert "no policy lines, none of kube-proxy's" in check["fix"], check


STALE_V6 = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")


def test_stale_ip6tables_rules_are_not_a_pass(tmp_path):
    # a dual-stack cluster (podnet_ip_families ipv4+ipv6): the stale ip6tables-legacy FORWARD DROP drops IPv6 pod traffic
    root = node(tmp_path)
    outputs = {"nft": "", "ip": ADDRESSES, "iptables-legacy-save": "", "iptables-nft-save": EMPTY,
               "ip6tables-legacy-save": STALE_V6, "ip6tables-nft-save": EMPTY}
    facts = gather_live.gather_firewall(lambda argv: (0, outputs[argv[0]], ""), root, lambda name: name)
    check = iptables_backends.evaluate(facts, root, VXLAN, [NODE_NET], "10.244.0.0/16", "flannel", ["ipv4", "ipv6"])
    assert check["status"] == "fail" and "ip6tables-legacy drops pod -> pod on another node" in check["observed"], check
    assert "ip6tables-legacy -t filter -F" in check["fix"], check


KUBE_PROXY_LEGACY = ("*mangle\n:PREROUTING ACCEPT [0:0]\n:KUBE-IPTABLES-HINT - [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n"
                     + STALE_KUBE_PROXY)


def test_kube_proxys_live_backend_is_not_called_stale(tmp_path):
    # /usr/sbin/iptables -> nft, but the kubelet's hint and kube-proxy's chains are in legacy (k3s's bundled
    # iptables, iptables-wrapper follow the hint) and nft is empty
    check = judge(node(tmp_path), legacy=KUBE_PROXY_LEGACY, nft="")
    assert "iptables-legacy -t nat -F" not in (check.get("fix") or ""), check
    assert check["status"] == "pass" and "kubelet's chains" in check["observed"], check


DROP_VXLAN = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
              "-A INPUT -p udp -m udp --dport 8472 -j DROP\nCOMMIT\n")


def test_with_the_cluster_in_legacy_a_drop_left_in_the_alternatives_nft_fails_and_the_fix_switches_it(tmp_path):
    check = judge(node(tmp_path), legacy=KUBE_PROXY_LEGACY, nft=DROP_VXLAN)
    assert check["status"] == "fail" and "iptables-nft drops" in check["observed"], check
    assert "iptables-nft -t filter -F" in check["fix"] and "update-alternatives --set iptables /usr/sbin/iptables-legacy" in check["fix"], check
    assert "iptables-legacy -t nat -F" not in check["fix"], check


# podman's netavark (iptables driver) in the unused backend: its FORWARD chain drops only conntrack-INVALID
# packets and accepts its own 10.88.0.0/16; nothing of the overlay or the pods (netavark src/firewall/varktables)
NETAVARK = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:NETAVARK_FORWARD - [0:0]\n"
            "-A FORWARD -m comment --comment \"netavark firewall plugin rules\" -j NETAVARK_FORWARD\n"
            "-A NETAVARK_FORWARD -m conntrack --ctstate INVALID -j DROP\n"
            "-A NETAVARK_FORWARD -d 10.88.0.0/16 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
            "-A NETAVARK_FORWARD -s 10.88.0.0/16 -j ACCEPT\nCOMMIT\n"
            "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
            ":NETAVARK-1D8721804F16F - [0:0]\n-A POSTROUTING -s 10.88.0.0/16 -j NETAVARK-1D8721804F16F\n"
            "-A NETAVARK-1D8721804F16F -d 10.88.0.0/16 -j ACCEPT\n-A NETAVARK-1D8721804F16F ! -d 224.0.0.0/4 -j MASQUERADE\nCOMMIT\n")


def test_netavark_chains_in_the_unused_backend_pass_named(tmp_path):
    check = judge(node(tmp_path), legacy=NETAVARK, nft=SSH_ONLY_NFT)
    assert check["status"] == "pass" and "filter NETAVARK_FORWARD: 3 rules" in check["observed"], check


def test_the_fix_flushes_only_the_tables_the_stale_backend_has(tmp_path):
    # "iptables-legacy -t raw -F" on a kernel without a legacy raw table creates one (x_tables loads
    # iptable_raw on first use): the flush would add legacy tables, and iptables-nft keeps warning about them
    check = judge(node(tmp_path), legacy=STALE_KUBE_PROXY, nft=SSH_ONLY_NFT)
    assert "iptables-legacy -t nat -F" in check["fix"], check
    assert "-t raw" not in check["fix"] and "-t security" not in check["fix"] and "-P INPUT" not in check["fix"], check
