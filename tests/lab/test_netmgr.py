"""netmgr.cni_links on a real node (systemd 252, Debian bookworm): systemd-networkd removing the
CNI's routes and routing policy rules, udev rewriting the MAC of new virtual links, NetworkManager
taking a CNI bridge.

Oracle: the kernel's routing table and rule list (`ip route`, `ip rule`), link MACs and
NetworkManager's own device states and configuration merge, after the managers restart or
reconfigure and after a reboot (`podman restart`), never our own verdict.

The fleet's node runs the lab's netmgr image variant (image.VARIANTS: the base image plus Debian's
udev and network-manager, installed --no-install-recommends and left as their packages leave them):
systemd-udevd, NetworkManager and systemd-networkd all enabled and started at boot, as on a host
with those packages. Each test says what it changes on top of that, and ends with a reboot so the
next one meets the node as booted. Debian's NetworkManager.conf leaves the node reachable: eth0 has
an address already and no profile, so NetworkManager only shows it "connected (externally)"."""
import fnmatch
import os
import re

import pytest

from conftest import ansible_playbook, node_info
from podnet_lab import faults, fleet as lab_fleet
from podnet_lab.podman import node_exec, node_sh

# tests/conftest.py makes the checkout importable as the collection
from ansible_collections.podnet.doctor.plugins.module_utils.network import managers, netmgr_fix

CHECK = "netmgr.cni_links"
DROP_IN = "/etc/systemd/networkd.conf.d/podnet-doctor.conf"
LINK_FILE = "/etc/systemd/network/00-podnet-doctor-cni.link"
NM_FILE = "/etc/NetworkManager/conf.d/podnet-doctor.conf"
NETWORK_FILE = "/etc/systemd/network/10-pnnm-uplink.network"
ADDRESS_NETWORK_FILE = "/etc/systemd/network/10-pnnm-addressed.network"
# a flannel-style route (onlink via the peer's pod subnet) and a Cilium-style policy rule
POD_ROUTE = "10.244.5.0/24 via 10.244.5.0 dev pnnm-up0 onlink"
POD_RULE = "from 10.244.0.0/16 lookup 100"
# networkd's own address on a second link (pnnm-up1): its restart removes and re-adds it (systemd
# 252), and the kernel drops every route through a link that loses its last IPv4 address
OWN_ADDRESS = "10.199.0.1/24"
ADDRESSED_ROUTE = "10.244.6.0/24 via 10.199.0.6 dev pnnm-up1"
# The stand-in link is no CNI link, so cidr.pod_host would (rightly) see its pod route inside the
# default pod CIDR: the remediate runs here use another one.
REMEDIATE = ("podnet.doctor.remediate", "-e", "podnet_pod_cidr=10.200.0.0/16")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    lab = lab_fleet.Fleet(name="podnet-netmgr2", size=1, subnet="192.168.99.0/24", image_variant="netmgr")
    with lab.running(str(tmp_path_factory.mktemp("inventory") / "hosts.json")):
        yield lab


def fresh_node(node):
    """Our files gone and a reboot: the node as its packages left it, for the next test."""
    faults.forget_podnet_doctor(node)
    lab_fleet.reboot(node)


def managed_link(node):
    """Links systemd-networkd configures (stand-ins for a node's uplink, or for CNI links a match-all
    .network file catches): pnnm-up0 without an address (so only networkd can remove a route through
    it), pnnm-up1 with one of networkd's; their .network files loaded with networkctl reload (which
    reads .network files, not networkd.conf), then veth pairs that udevd initializes."""
    node_sh(node, """
printf '[Match]\\nName=pnnm-up0\\n\\n[Network]\\nLinkLocalAddressing=no\\nConfigureWithoutCarrier=yes\\n' > %s
printf '[Match]\\nName=pnnm-up1\\n\\n[Network]\\nLinkLocalAddressing=no\\nConfigureWithoutCarrier=yes\\nAddress=%s\\n' > %s
networkctl reload
for link in pnnm-up0 pnnm-up1; do ip link add $link type veth peer name ${link}p; ip link set ${link}p up; done
""" % (NETWORK_FILE, OWN_ADDRESS, ADDRESS_NETWORK_FILE))
    node_sh(node, WAIT_CONFIGURED)


# both stand-in links configured by networkd (it restarts or reconfigures asynchronously)
WAIT_CONFIGURED = """
for i in $(seq 50); do
  if networkctl status pnnm-up0 | grep -q 'State: .*(configured)' && networkctl status pnnm-up1 | grep -q 'State: .*(configured)'
  then configured=1; break; fi
  sleep 0.2
done
[ -n "$configured" ] || { networkctl status pnnm-up0 pnnm-up1; exit 1; }
"""


def add_cni_state(node):
    node_sh(node, "ip route replace %s && (ip rule del %s prio 100 2>/dev/null || true; ip rule add %s prio 100)"
            % (POD_ROUTE, POD_RULE, POD_RULE))


def cni_state(node):
    """(route present, rule present), as the kernel has them."""
    routes = node_exec(node, ["ip", "route"]).stdout
    rules = node_exec(node, ["ip", "rule"]).stdout
    return "10.244.5.0/24 via 10.244.5.0 dev pnnm-up0" in routes, "from 10.244.0.0/16 lookup 100" in rules


def restart_networkd(node):
    """``systemctl restart systemd-networkd`` (done by the test, never by remediate); returns the
    address and route events the kernel reported meanwhile (``ip monitor``)."""
    return node_sh(node, """
ip -o monitor address route > /tmp/pnnm-monitor 2>&1 & monitor=$!
sleep 0.3; systemctl restart systemd-networkd
%s
sleep 1; kill $monitor; cat /tmp/pnnm-monitor
""" % WAIT_CONFIGURED).stdout


def reconfigure(node):
    node_sh(node, "networkctl reconfigure pnnm-up0 && sleep 2")


def changed(out):
    return int(re.search(r"node1\s+: ok=\d+\s+changed=(\d+)", out).group(1))


def test_networkd_removes_foreign_routes_and_rules_until_fixed_and_restarted(fleet):
    """Changes: a .network file and a veth networkd configures; the test restarts networkd itself
    once remediate has written the drop-in (remediate never restarts it)."""
    node = fleet.node(1)
    try:
        # as booted: networkd runs but configures no link, so it removes nothing
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert "systemd-networkd removes" not in check["observed"] and "systemd-networkd (running)" not in check["observed"], check
        node_sh(node, "ip rule add %s prio 100 && systemctl restart systemd-networkd && sleep 2" % POD_RULE)
        assert POD_RULE in node_exec(node, ["ip", "rule"]).stdout
        node_sh(node, "ip rule del %s prio 100" % POD_RULE)

        # the symptom: once it configures a link, its restart and its reconfigure remove both
        managed_link(node)
        add_cni_state(node)
        assert cni_state(node) == (True, True)
        restart_networkd(node)
        assert cni_state(node) == (False, False), "networkd kept the foreign route/rule: the symptom did not show"
        add_cni_state(node)
        reconfigure(node)
        assert cni_state(node) == (False, False)

        add_cni_state(node)
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert check["status"] == "fail", check
        assert "ManageForeignRoutes=yes (the default)" in check["observed"] and "pnnm-up0" in check["observed"]
        assert "ManageForeignRoutingPolicyRules=no" in check["fix"] and DROP_IN in check["fix"]
        assert netmgr_fix.NETWORKD_RESTART_STEP in check["fix"]

        # the area's own entry point: check only fails on it and writes nothing
        rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/netmgr_area.yml",
                                   "-e", "podnet_netmgr_fix=false")
        assert rc != 0 and "[netmgr.cni_links]" in out and changed(out) == 0, out
        assert node_exec(node, ["test", "-e", DROP_IN], check=False).returncode == 1, out

        # --check writes nothing
        rc, out = ansible_playbook(fleet.inventory_path, *(REMEDIATE + ("--check", "--diff")))
        assert node_exec(node, ["test", "-e", DROP_IN], check=False).returncode == 1, out

        # remediate writes every file and fixes the other areas in the same run, but the running
        # networkd has not read the drop-in: its final re-read fails, naming the restart left to do
        rc, out = ansible_playbook(fleet.inventory_path, *REMEDIATE)
        assert rc != 0 and changed(out) > 0, out
        failure = re.search(r"pod-networking check\(s\) failed on node1: (.*)", out).group(1)
        assert failure.startswith("[netmgr.cni_links] the running systemd-networkd started before %s was written" % DROP_IN), out
        assert "systemctl restart systemd-networkd" in failure and "reboot" in failure and "[ip_forward" not in failure, out
        body = node_exec(node, ["cat", DROP_IN]).stdout
        assert body.startswith("# Managed by podnet.doctor") and "ManageForeignRoutes=no" in body
        for path in (NM_FILE, LINK_FILE):
            assert node_exec(node, ["head", "-1", path]).stdout.startswith("# Managed by podnet.doctor")
        assert cni_state(node) == (True, True)  # the fixer reloads nothing that drops them
        checks = node_info(fleet.inventory_path, "node1")
        assert checks["ip_forward.boot"]["status"] == "pass"  # another area, fixed in the same run
        check = checks[CHECK]
        assert check["status"] == "fail" and "has not read it" in check["observed"], check
        assert "reconfigures pnnm-up0" in check["observed"] and check["fix"] == netmgr_fix.NETWORKD_RESTART_STEP, check

        # the oracle for that verdict: its next reconfigure still removes the route and the rule
        reconfigure(node)
        assert cni_state(node) == (False, False), "a networkd that never read the drop-in kept foreign routes"

        # a second run before the restart writes nothing and says the same
        rc, out = ansible_playbook(fleet.inventory_path, *REMEDIATE)
        assert rc != 0 and changed(out) == 0 and "has not read it" in out, out

        # the step the fix names: a restart (by the test). networkd re-adds its own address, and
        # reads the drop-in, so the route and the rule survive the restart and a reconfigure
        add_cni_state(node)
        node_sh(node, "ip route replace %s" % ADDRESSED_ROUTE)
        events = restart_networkd(node)
        # what the fix warns of: networkd's own address goes and comes back, and with it the kernel
        # flushes the routes through that link (it sends no RTM_DELROUTE for those: `ip route` shows
        # it); the rule and the route through the address-less link stay
        assert re.search(r"Deleted \d+: pnnm-up1\s+inet %s" % OWN_ADDRESS, events), events
        assert OWN_ADDRESS in node_exec(node, ["ip", "-br", "addr", "show", "pnnm-up1"]).stdout
        assert "10.244.6.0/24" not in node_exec(node, ["ip", "route"]).stdout
        assert cni_state(node) == (True, True)
        reconfigure(node)
        assert cni_state(node) == (True, True)
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert check["status"] == "pass" and "ManageForeignRoutes=no (%s" % DROP_IN in check["observed"], check

        rc, out = ansible_playbook(fleet.inventory_path, *REMEDIATE)
        assert rc == 0 and changed(out) == 0, out
        rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/netmgr_area.yml")
        assert rc == 0 and changed(out) == 0, out

        # reboot: the drop-in is in force from the start
        lab_fleet.reboot(node)
        managed_link(node)
        add_cni_state(node)
        reconfigure(node)
        assert cni_state(node) == (True, True)
        restart_networkd(node)
        assert cni_state(node) == (True, True)
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert check["status"] == "pass" and "has not read" not in check["observed"], check
    finally:
        node_sh(node, "rm -f %s %s; ip link del pnnm-up0 2>/dev/null; ip link del pnnm-up1 2>/dev/null; "
                      "ip rule del %s prio 100 2>/dev/null; true" % (NETWORK_FILE, ADDRESS_NETWORK_FILE, POD_RULE), check=False)
        fresh_node(node)


def vxlan_mac(node):
    """(MAC, addr_assign_type) of a new flannel-style VXLAN link once udev has handled it, after
    creating it twice: the kernel gives a random MAC (type 1) each time; udev's
    MACAddressPolicy=persistent sets the same one from the name every time (type 3, set by userspace)."""
    macs = []
    for _attempt in range(2):
        out = node_sh(node, "ip link del flannel.7 2>/dev/null || true; "
                            "ip link add flannel.7 type vxlan id 7 dstport 8472 dev eth0 nolearning; udevadm settle; "
                            "cat /sys/class/net/flannel.7/address /sys/class/net/flannel.7/addr_assign_type").stdout.split()
        macs.append((out[0], out[1]))
    node_sh(node, "ip link del flannel.7")
    return macs


def test_udev_rewrites_the_mac_of_new_vxlan_links_until_fixed(fleet):
    """Changes: nothing before remediate; udevd runs as its package started it at boot."""
    node = fleet.node(1)
    node_sh(node, "systemctl is-active systemd-udevd")
    try:
        (mac1, kind1), (mac2, kind2) = vxlan_mac(node)
        assert kind1 == kind2 == "3" and mac1 == mac2, "udev did not rewrite the MAC: the symptom did not show"
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert check["status"] == "fail" and "99-default.link" in check["observed"], check
        assert "MACAddressPolicy=persistent" in check["observed"] and LINK_FILE in check["fix"]

        rc, out = ansible_playbook(fleet.inventory_path, *REMEDIATE)
        assert rc == 0, out
        assert node_exec(node, ["cat", LINK_FILE]).stdout.startswith("# Managed by podnet.doctor")
        (mac1, kind1), (mac2, kind2) = vxlan_mac(node)
        assert kind1 == kind2 == "1" and mac1 != mac2, "udev still set the MAC"
        rc, out = ansible_playbook(fleet.inventory_path, *REMEDIATE)
        assert rc == 0 and changed(out) == 0, out

        lab_fleet.reboot(node)
        node_sh(node, "systemctl is-active systemd-udevd")
        (mac1, kind1), (mac2, kind2) = vxlan_mac(node)
        assert kind1 == kind2 == "1" and mac1 != mac2
        assert node_info(fleet.inventory_path, "node1")[CHECK]["status"] == "pass"
    finally:
        node_sh(node, "ip link del flannel.7 2>/dev/null; true", check=False)
        fresh_node(node)


# conf.d layouts (node path: text) and NetworkManager's own merge of them is the oracle
NM_LAYOUTS = [
    {"/usr/lib/NetworkManager/conf.d/10-a.conf": "[keyfile]\nunmanaged-devices=interface-name:cni*\n",
     "/etc/NetworkManager/conf.d/20-b.conf": "[keyfile]\nunmanaged-devices+=interface-name:flannel*;interface-name:cali*\n"},
    {"/usr/lib/NetworkManager/conf.d/10-a.conf": "[keyfile]\nunmanaged-devices=interface-name:cni*,interface-name:tunl*\n",
     "/etc/NetworkManager/conf.d/20-b.conf": "[keyfile]\nunmanaged-devices+=interface-name:flannel*\n",
     "/etc/NetworkManager/conf.d/30-c.conf": "[keyfile]\nunmanaged-devices-=interface-name:cni*\n"},
    # the same name in /etc shadows /usr/lib and /run
    {"/usr/lib/NetworkManager/conf.d/x.conf": "[keyfile]\nunmanaged-devices=interface-name:cni*\n",
     "/run/NetworkManager/conf.d/x.conf": "[keyfile]\nunmanaged-devices=interface-name:lxc*\n",
     "/etc/NetworkManager/conf.d/x.conf": "[main]\n"},
    # /run is read after /usr/lib; a later plain = replaces the list
    {"/usr/lib/NetworkManager/conf.d/a.conf": "[keyfile]\nunmanaged-devices=interface-name:cni*\n",
     "/run/NetworkManager/conf.d/b.conf": "[keyfile]\nunmanaged-devices=interface-name:kube-*\n",
     "/etc/NetworkManager/conf.d/c.conf": "[keyfile]\nunmanaged-devices+=except:interface-name:eth0,*\n"},
]


def nm_print_config_unmanaged(node):
    out = node_exec(node, ["NetworkManager", "--print-config"]).stdout
    section = out.split("[keyfile]", 1)[1].split("\n[", 1)[0] if "[keyfile]" in out else ""
    found = re.search(r"^unmanaged-devices=(.*)$", section, re.M)
    return managers.split_specs(found.group(1)) if found else []


def nm_state(node, link):
    out = node_exec(node, ["nmcli", "-t", "-f", "DEVICE,STATE", "device"]).stdout
    return dict(line.rsplit(":", 1) for line in out.splitlines() if ":" in line).get(link)


def cni_bridge(node):
    node_sh(node, "ip link del cni0 2>/dev/null || true; ip link add cni0 type bridge && ip link set cni0 up && "
                  "ip addr add 10.244.0.1/24 dev cni0 && sleep 3")


def test_networkmanager_takes_the_cni_bridge_until_fixed(fleet, tmp_path):
    """Changes: conf.d layouts (removed again, then NetworkManager reloaded) and a cni0 bridge;
    NetworkManager runs as its package started it at boot."""
    node = fleet.node(1)
    node_sh(node, "systemctl is-active NetworkManager")
    main_conf = node_exec(node, ["cat", "/etc/NetworkManager/NetworkManager.conf"]).stdout
    try:
        # our merge of NetworkManager's configuration against its own
        for number, layout in enumerate(NM_LAYOUTS):
            node_sh(node, "rm -f /etc/NetworkManager/conf.d/*.conf /run/NetworkManager/conf.d/*.conf "
                          "/usr/lib/NetworkManager/conf.d/*.conf; mkdir -p /run/NetworkManager/conf.d")
            tree = {"etc/NetworkManager/NetworkManager.conf": main_conf}
            for path, text in layout.items():
                node_exec(node, ["tee", path], input=text)
                tree[path.lstrip("/")] = text
            root = str(tmp_path / str(number))
            for rel, text in tree.items():
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                with open(os.path.join(root, rel), "w") as handle:
                    handle.write(text)
            ours = [spec for spec, _file, _line in managers.nm_unmanaged_specs(root)[0]]
            assert ours == nm_print_config_unmanaged(node), layout
        node_sh(node, "rm -f /etc/NetworkManager/conf.d/*.conf /run/NetworkManager/conf.d/*.conf "
                      "/usr/lib/NetworkManager/conf.d/*.conf; systemctl reload NetworkManager")

        # the symptom: NetworkManager takes a CNI bridge that has an address
        cni_bridge(node)
        assert nm_state(node, "cni0") == "connected (externally)"
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert check["status"] == "fail" and "NetworkManager would manage" in check["observed"], check
        assert "cni0" in check["observed"] and NM_FILE in check["fix"]

        rc, out = ansible_playbook(fleet.inventory_path, *REMEDIATE)
        assert rc == 0, out
        assert nm_state(node, "cni0") == "unmanaged"  # reloaded, not restarted
        assert "10.244.0.1/24" in node_exec(node, ["ip", "addr", "show", "cni0"]).stdout
        rc, out = ansible_playbook(fleet.inventory_path, *REMEDIATE)
        assert rc == 0 and changed(out) == 0, out

        lab_fleet.reboot(node)
        node_sh(node, "systemctl is-active NetworkManager")
        cni_bridge(node)
        assert nm_state(node, "cni0") == "unmanaged"
        assert node_info(fleet.inventory_path, "node1")[CHECK]["status"] == "pass"
    finally:
        node_sh(node, "ip link del cni0 2>/dev/null; rm -f /etc/NetworkManager/conf.d/*.conf /run/NetworkManager/conf.d/*.conf "
                      "/usr/lib/NetworkManager/conf.d/*.conf; true", check=False)
        fresh_node(node)


EVPN_NETDEV = "/etc/systemd/network/10-pnnm-evpn.netdev"
EVPN_NETWORK = "/etc/systemd/network/10-pnnm-evpn.network"
# a foreign .network that catches CNI links by glob: the reason the owned Unmanaged=yes file is written
OVERLAY_NETWORK = "/etc/systemd/network/90-pnnm-overlay.network"
UNMANAGED_FILE = "/etc/systemd/network/00-podnet-doctor-cni.network"
EVPN_ADDRESS = "10.77.0.1/24"


def evpn_address(node):
    """Whether vxlan100 holds the address its own .network gives it, as the kernel shows (waits up to 10 s)."""
    return node_sh(node, "for i in $(seq 50); do ip -br addr show vxlan100 2>/dev/null | grep -q %s && exit 0; sleep 0.2; done; "
                         "exit 1" % EVPN_ADDRESS.split("/", maxsplit=1)[0], check=False).returncode == 0


def test_a_link_configured_by_name_keeps_its_configuration(fleet):
    """Changes: an admin's VXLAN link vxlan100 (a .netdev and a .network naming it, as an EVPN uplink
    would be) and a foreign .network catching cni*/vxlan*; before the fix, the owned Unmanaged=yes file
    as the fixer wrote it before (every vxlan*), to show the symptom: no address after a reboot."""
    node = fleet.node(1)
    try:
        node_sh(node, """
printf '[NetDev]\\nName=vxlan100\\nKind=vxlan\\n\\n[VXLAN]\\nVNI=100\\nIndependent=yes\\n' > %s
printf '[Match]\\nName=vxlan100\\n\\n[Network]\\nAddress=%s\\nConfigureWithoutCarrier=yes\\nLinkLocalAddressing=no\\n' > %s
printf '[Match]\\nName=cni* vxlan*\\n\\n[Network]\\nLinkLocalAddressing=no\\n' > %s
networkctl reload
""" % (EVPN_NETDEV, EVPN_ADDRESS, EVPN_NETWORK, OVERLAY_NETWORK))
        assert evpn_address(node), "networkd did not configure vxlan100"
        globs = managers.cni_link_globs("flannel")
        node_sh(node, "printf '%s\\n[Match]\\nName=%s\\n\\n[Link]\\nUnmanaged=yes\\n' > %s"
                % (netmgr_fix.HEADER, " ".join(globs), UNMANAGED_FILE))
        lab_fleet.reboot(node)
        assert not evpn_address(node), "vxlan100 kept its address under Name=vxlan*: the symptom did not show"
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert "vxlan100 (%s [Match] Name=vxlan100)" % EVPN_NETWORK in check["observed"], check

        rc, out = ansible_playbook(fleet.inventory_path, *REMEDIATE)
        names = re.search(r"^Name=(.*)$", node_exec(node, ["cat", UNMANAGED_FILE]).stdout, re.M).group(1).split()
        assert not any(fnmatch.fnmatchcase("vxlan100", g) for g in names), (names, out)
        assert any(fnmatch.fnmatchcase("vxlan.calico", g) for g in names), names
        lab_fleet.reboot(node)
        assert evpn_address(node), "vxlan100 lost its address after the fix"
        assert "vxlan100" in node_exec(node, ["networkctl", "list", "vxlan100"]).stdout
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert check["status"] == "pass" and "vxlan100" in check["observed"], check
    finally:
        node_sh(node, "rm -f %s %s %s %s; ip link del vxlan100 2>/dev/null; true"
                % (EVPN_NETDEV, EVPN_NETWORK, OVERLAY_NETWORK, UNMANAGED_FILE), check=False)
        fresh_node(node)


def test_a_conf_file_networkmanager_has_not_read_fails_until_reloaded(fleet):
    """Changes: a cni0 bridge, and our conf.d file written as the fixer writes it but without the reload
    (what a run whose reload failed leaves): NetworkManager's device state is the oracle."""
    node = fleet.node(1)
    node_sh(node, "systemctl is-active NetworkManager")
    try:
        cni_bridge(node)
        assert nm_state(node, "cni0") == "connected (externally)"
        node_exec(node, ["tee", NM_FILE], input="%s\n[keyfile]\nunmanaged-devices+=%s\n" % (
            netmgr_fix.HEADER, ";".join("interface-name:%s" % g for g in managers.cni_link_globs("flannel"))))
        node_sh(node, "sleep 2")
        assert nm_state(node, "cni0") == "connected (externally)", "NetworkManager read the file without a reload"
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert check["status"] == "fail" and "the running NetworkManager has not read %s" % NM_FILE in check["observed"], check
        assert "systemctl reload NetworkManager.service" in check["fix"], check

        rc, out = ansible_playbook(fleet.inventory_path, *REMEDIATE)
        assert rc == 0, out
        assert nm_state(node, "cni0") == "unmanaged"
        assert node_info(fleet.inventory_path, "node1")[CHECK]["status"] == "pass"
        rc, out = ansible_playbook(fleet.inventory_path, *REMEDIATE)
        assert rc == 0 and changed(out) == 0, out
    finally:
        node_sh(node, "ip link del cni0 2>/dev/null; true", check=False)
        fresh_node(node)
