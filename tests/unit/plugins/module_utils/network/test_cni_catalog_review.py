"""Review of issue 15's CNI catalog additions against each project's source."""
import fnmatch


from ansible_collections.podnet.doctor.plugins.module_utils.network import managers, mtu


def test_kube_router_fou_is_ipip_in_gue_32_bytes():
    # kube-router's --overlay-encap=fou makes "ip fou add port 5555 gue" and "ip link add tun-... type ipip ...
    # encap gue encap-dport 5555" (docs/tunnels.md "kube-router uses GUE"; pkg/controllers/routing): the
    # kernel adds UDP 8 + GUE 4 over the outer IPv4 20 (net/ipv4/fou_core.c gue_encap_hlen)
    encapsulation = mtu.overlay_mode("kube-router", "fou")[0]
    assert mtu.overhead_for(encapsulation, False) == 32
    assert mtu.overhead_for(encapsulation, True) == 52


def test_kube_router_1x_long_address_tunnels_are_cni_links():
    globs = managers.cni_link_globs("kube-router")
    assert any(fnmatch.fnmatchcase("tun192168100101", glob) for glob in globs)
    assert any(fnmatch.fnmatchcase("tun192168100101", glob) for glob in mtu.overlay_mode("kube-router", "ipip")[1])


def test_kube_router_tunnel_globs_leave_vpn_tunnels_managed():
    # OpenVPN's tun0 and a 1.x name shorter than 12 digits without the dash (never generated) stay outside
    globs = managers.cni_link_globs("kube-router")
    for name in ("tun0", "tun12", "tun19216810010"):
        assert not any(fnmatch.fnmatchcase(name, glob) for glob in globs), name
    assert any(fnmatch.fnmatchcase("tun-1921681001", glob) for glob in globs)
