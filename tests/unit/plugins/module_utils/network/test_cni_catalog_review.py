"""Review of issue 15's CNI catalog additions against each project's source."""
from ansible_collections.podnet.doctor.plugins.module_utils.network import mtu


def test_kube_router_fou_is_ipip_in_gue_32_bytes():
    # kube-router's --overlay-encap=fou makes "ip fou add port 5555 gue" and "ip link add tun-... type ipip ...
    # encap gue encap-dport 5555" (docs/tunnels.md "kube-router uses GUE"; pkg/controllers/routing): the
    # kernel adds UDP 8 + GUE 4 over the outer IPv4 20 (net/ipv4/fou_core.c gue_encap_hlen)
    encapsulation = mtu.overlay_mode("kube-router", "fou")[0]
    assert mtu.overhead_for(encapsulation, False) == 32
    assert mtu.overhead_for(encapsulation, True) == 52
