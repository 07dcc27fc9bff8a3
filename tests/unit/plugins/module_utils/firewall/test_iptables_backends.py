"""iptables.backends on fixture trees: which backend the node's iptables is (the alternatives
links, as Debian and RHEL lay them out), what each backend holds, and what the unused one drops."""
import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.firewall import gather_live, iptables_backends

from ....fixture_tree import make_tree

NODE_NET = "192.168.76.0/24"
VXLAN = [("udp", 8472, "flannel VXLAN")]
ADDRESSES = '[{"ifname": "eth0", "addr_info": [{"local": "192.168.76.11", "prefixlen": 24}]}]'
EMPTY = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
DROP_VXLAN = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
              "-A INPUT -p udp -m udp --dport 8472 -j DROP\nCOMMIT\n")
FORWARD_DROP = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
KUBELET_CANARY = "*mangle\n:PREROUTING ACCEPT [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n"
SSH_ONLY_NFT = ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n")


def node(tmp_path, alternative="/usr/sbin/iptables-nft", layout="debian"):
    """A tree whose /usr/sbin/iptables resolves to ``alternative`` (Debian: through
    /etc/alternatives; RHEL: straight to xtables-*-multi)."""
    root = make_tree(tmp_path, {"proc/1/comm": "systemd\n", "usr/sbin/iptables-nft": "", "usr/sbin/iptables-legacy": "",
                                "usr/sbin/xtables-nft-multi": "", "usr/sbin/xtables-legacy-multi": ""})
    if alternative is None:
        return root
    if layout == "debian":
        os.makedirs(os.path.join(root, "etc/alternatives"))
        os.symlink(alternative, os.path.join(root, "etc/alternatives/iptables"))
        os.symlink("/etc/alternatives/iptables", os.path.join(root, "usr/sbin/iptables"))
    else:
        os.symlink(os.path.basename(alternative), os.path.join(root, "usr/sbin/iptables"))
    return root


def judge(root, legacy="", nft="", legacy6="", nft6="", families=("ipv4",)):
    outputs = {"nft": "", "iptables-legacy-save": legacy, "iptables-nft-save": nft, "ip": ADDRESSES,
               "ip6tables-legacy-save": legacy6, "ip6tables-nft-save": nft6}
    facts = gather_live.gather_firewall(lambda argv: (0, outputs[argv[0]], ""), root, lambda name: name)
    return iptables_backends.evaluate(facts, root, VXLAN, [NODE_NET], "10.244.0.0/16", "flannel", families)


@pytest.mark.parametrize("alternative,layout,backend", [
    ("/usr/sbin/iptables-nft", "debian", "nft"), ("/usr/sbin/iptables-legacy", "debian", "legacy"),
    ("/usr/sbin/xtables-nft-multi", "rhel", "nft"), ("/usr/sbin/xtables-legacy-multi", "rhel", "legacy")])
def test_the_selected_backend_follows_the_alternatives(tmp_path, alternative, layout, backend):
    assert iptables_backends.selected_backend(node(tmp_path, alternative, layout))[0] == backend


def test_rules_in_the_used_backend_only_pass(tmp_path):
    assert judge(node(tmp_path), legacy=EMPTY, nft=DROP_VXLAN)["status"] == "pass"
    assert judge(node(tmp_path / "l", "/usr/sbin/iptables-legacy"), legacy=DROP_VXLAN, nft="")["status"] == "pass"


def test_empty_chains_and_accept_policies_are_no_rules(tmp_path):
    check = judge(node(tmp_path), legacy=EMPTY + KUBELET_CANARY, nft=SSH_ONLY_NFT)
    assert check["status"] == "pass", check


def test_a_stale_legacy_drop_under_a_clean_nft_fails_naming_what_it_drops(tmp_path):
    check = judge(node(tmp_path), legacy=DROP_VXLAN, nft=EMPTY)
    assert check["status"] == "fail", check
    assert "iptables is iptables-nft" in check["observed"] and "iptables-legacy holds filter INPUT: 1 rule" in check["observed"]
    assert "drops udp/8472" in check["observed"] or "8472" in check["observed"].split("drops", 1)[1], check
    assert "iptables-legacy -t filter -F" in check["fix"] and "update-alternatives --set iptables /usr/sbin/iptables-legacy" in check["fix"]
    assert "does not do this" in check["fix"]


def test_a_stale_forward_drop_policy_names_the_pod_traffic(tmp_path):
    check = judge(node(tmp_path), legacy=FORWARD_DROP, nft=EMPTY)
    assert check["status"] == "fail" and "filter FORWARD: 0 rules, policy DROP" in check["observed"], check
    assert "pod" in check["observed"].split("drops", 1)[1], check


def test_an_admins_rules_in_both_that_drop_nothing_of_ours_pass_named(tmp_path):
    check = judge(node(tmp_path), legacy=SSH_ONLY_NFT, nft=SSH_ONLY_NFT)
    assert check["status"] == "pass" and "none drops an overlay or pod packet" in check["observed"], check
    assert "iptables-legacy holds filter INPUT: 1 rule" in check["observed"]


STALE_KUBE_PROXY = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
                    ":KUBE-SERVICES - [0:0]\n-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
                    "-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.9.9:53\nCOMMIT\n")


def test_stale_kube_proxy_rules_fail_and_the_fix_keeps_the_used_backend(tmp_path):
    check = judge(node(tmp_path), legacy=STALE_KUBE_PROXY, nft=SSH_ONLY_NFT)
    assert check["status"] == "fail", check
    assert "nat KUBE-SERVICES" in check["observed"] and "nat PREROUTING" in check["observed"], check
    assert "update-alternatives" not in check["fix"] and "iptables-nft-restore --noflush" in check["fix"], check


def test_no_iptables_is_skip_and_an_unknown_target_is_an_error(tmp_path):
    assert judge(node(tmp_path, None), legacy=DROP_VXLAN)["status"] == "skip"
    root = node(tmp_path / "odd", "/opt/bin/my-iptables")
    check = judge(root, legacy=DROP_VXLAN)
    assert check["status"] == "error" and "my-iptables" in check["observed"], check


def test_an_unreadable_ruleset_is_an_error_not_a_pass(tmp_path):
    root = node(tmp_path)
    outputs = {"nft": "", "iptables-nft-save": EMPTY, "ip": ADDRESSES, "ip6tables-legacy-save": "", "ip6tables-nft-save": ""}

    def run(argv):
        if argv[0] == "iptables-legacy-save":
            return 1, "", "Permission denied"
        return 0, outputs[argv[0]], ""
    facts = gather_live.gather_firewall(run, root, lambda name: name)
    check = iptables_backends.evaluate(facts, root, VXLAN, [NODE_NET], "10.244.0.0/16", "flannel")
    assert check["status"] == "error" and "iptables-legacy-save" in check["observed"], check
