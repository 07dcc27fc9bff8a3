"""iptables.backends on stale cluster chains the kernel does or does not run (issue 15, from the differential
firewall suite: its oracle is the packet counter of the jump into a stale chain). A chain is run when a built-in
chain reaches it by jumps or gotos; one nothing jumps to, or an emptied one, rewrites and drops nothing."""
from .test_iptables_backends import SSH_ONLY_NFT, judge, node

HEAD = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
FIREWALL_RULE = ("-A KUBE-FIREWALL -m comment --comment \"kubernetes firewall for dropping marked packets\" "
                 "-m mark --mark 0x8000/0x8000 -j DROP\n")


def test_a_stale_chain_nothing_jumps_to_passes_and_is_named(tmp_path):
    # an admin flushed INPUT (iptables-legacy -F INPUT) and left kube-proxy's chain: the kernel never runs it
    check = judge(node(tmp_path), legacy=HEAD + ":KUBE-FIREWALL - [0:0]\n" + FIREWALL_RULE + "COMMIT\n", nft=SSH_ONLY_NFT)
    assert check["status"] == "pass", check
    assert "filter KUBE-FIREWALL: 1 rule" in check["observed"], check


def test_a_goto_into_a_stale_chain_runs_it(tmp_path):
    legacy = HEAD + ":KUBE-FIREWALL - [0:0]\n-A INPUT -m conntrack --ctstate NEW -g KUBE-FIREWALL\n" + FIREWALL_RULE + "COMMIT\n"
    check = judge(node(tmp_path), legacy=legacy, nft=SSH_ONLY_NFT)
    assert check["status"] == "fail", check
    assert "(filter INPUT, filter KUBE-FIREWALL)" in check["observed"], check


def test_a_stale_chain_reached_through_an_admin_chain_runs(tmp_path):
    legacy = (HEAD + ":ADMIN - [0:0]\n:KUBE-FIREWALL - [0:0]\n-A INPUT -j ADMIN\n-A ADMIN -j KUBE-FIREWALL\n"
              + FIREWALL_RULE + "COMMIT\n")
    check = judge(node(tmp_path), legacy=legacy, nft=SSH_ONLY_NFT)
    assert check["status"] == "fail" and "filter ADMIN, filter KUBE-FIREWALL" in check["observed"], check


def test_a_jump_to_an_emptied_stale_chain_changes_no_packet(tmp_path):
    # kube-proxy's cleanup flushed the chain; the hook stayed: the packet enters, meets nothing, returns
    check = judge(node(tmp_path), legacy=HEAD + ":KUBE-FIREWALL - [0:0]\n-A INPUT -j KUBE-FIREWALL\nCOMMIT\n", nft=SSH_ONLY_NFT)
    assert check["status"] == "pass", check
    assert "filter INPUT: 1 rule" in check["observed"], check
