"""netmgr.cni_links on a real node (systemd 252, Debian bookworm): systemd-networkd removing the
CNI's routes and routing policy rules.

Oracle: the kernel's routing table and rule list (`ip route`, `ip rule`) after systemd-networkd
restarts or reconfigures, and after a reboot (`podman restart`), never our own verdict.

udev: the image has no udevd; the udev test installs Debian's udev package into its own node (not
the image) and shows, with udevd running in the node, 99-default.link's MACAddressPolicy=persistent
rewriting a new VXLAN link's MAC. NetworkManager: the NM test installs Debian's network-manager (and
udev, which NM needs to manage anything) into its node the same way; Debian's NetworkManager.conf
leaves eth0 alone ([ifupdown] managed=false), so the node stays reachable. NM's own merge of its
configuration (``NetworkManager --print-config``) is the oracle for ours.
Without udevd, networkd keeps every link "pending" until udev's database says it is initialized:
the networkd test writes that one database file for its own link, as udevd would on a real host."""
import os
import re

import pytest

from conftest import ansible_playbook, node_info
from podnet_lab import faults, fleet as lab_fleet
from podnet_lab.podman import node_exec, node_sh

# tests/conftest.py makes the checkout importable as the collection
from ansible_collections.podnet.doctor.plugins.module_utils.network import managers

CHECK = "netmgr.cni_links"
DROP_IN = "/etc/systemd/networkd.conf.d/podnet-doctor.conf"
LINK_FILE = "/etc/systemd/network/00-podnet-doctor-cni.link"
NETWORK_FILE = "/etc/systemd/network/10-pnnm-uplink.network"
# a flannel-style route (onlink via the peer's pod subnet) and a Cilium-style policy rule
POD_ROUTE = "10.244.5.0/24 via 10.244.5.0 dev pnnm-up0 onlink"
POD_RULE = "from 10.244.0.0/16 lookup 100"
# The stand-in link is no CNI link, so cidr.pod_host would (rightly) see its pod route inside the
# default pod CIDR: the remediate runs here use another one.
REMEDIATE = ("podnet.doctor.remediate", "-e", "podnet_pod_cidr=10.200.0.0/16")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    lab = lab_fleet.Fleet(name="podnet-netmgr", size=1, subnet="192.168.96.0/24")
    with lab.running(str(tmp_path_factory.mktemp("inventory") / "hosts.json")):
        yield lab


def managed_link(node):
    """A link systemd-networkd configures (a stand-in for a node's uplink, or for a CNI link a
    match-all .network file catches): a veth pair, the .network file, udev's database entry."""
    node_sh(node, """
ip link add pnnm-up0 type veth peer name pnnm-up0p
ip link set pnnm-up0p up
mkdir -p /run/udev/data && echo I:1 > /run/udev/data/n$(cat /sys/class/net/pnnm-up0/ifindex)
printf '[Match]\\nName=pnnm-up0\\n\\n[Network]\\nLinkLocalAddressing=no\\nConfigureWithoutCarrier=yes\\n' > %s
systemctl restart systemd-networkd  # it re-reads udev state of a pending link only when it starts
for i in $(seq 50); do networkctl status pnnm-up0 | grep -q 'State: .*(configured)' && exit 0; sleep 0.2; done
networkctl status pnnm-up0; exit 1
""" % NETWORK_FILE)


def add_cni_state(node):
    node_sh(node, "ip route replace %s && (ip rule del %s prio 100 2>/dev/null || true; ip rule add %s prio 100)"
            % (POD_ROUTE, POD_RULE, POD_RULE))


def cni_state(node):
    """(route present, rule present), as the kernel has them."""
    routes = node_exec(node, ["ip", "route"]).stdout
    rules = node_exec(node, ["ip", "rule"]).stdout
    return "10.244.5.0/24 via 10.244.5.0 dev pnnm-up0" in routes, "from 10.244.0.0/16 lookup 100" in rules


def restart_networkd(node):
    node_sh(node, "systemctl restart systemd-networkd && sleep 2 && networkctl status pnnm-up0 >/dev/null")


def changed(out):
    return int(re.search(r"node1\s+: ok=\d+\s+changed=(\d+)", out).group(1))


def test_networkd_removes_foreign_routes_and_rules_until_fixed(fleet):
    node = fleet.node(1)
    # a fresh lab node: networkd runs but configures no link, so it removes nothing: pass is true
    assert node_info(fleet.inventory_path, "node1")[CHECK]["status"] == "pass"
    node_sh(node, "ip rule add %s prio 100" % POD_RULE)
    restart_networkd_plain = "systemctl restart systemd-networkd && sleep 2"
    node_sh(node, restart_networkd_plain)
    assert POD_RULE in node_exec(node, ["ip", "rule"]).stdout
    node_sh(node, "ip rule del %s prio 100" % POD_RULE)
    try:
        managed_link(node)
        add_cni_state(node)
        assert cni_state(node) == (True, True)
        restart_networkd(node)
        assert cni_state(node) == (False, False), "networkd kept the foreign route/rule: the symptom did not show"
        add_cni_state(node)
        node_sh(node, "networkctl reconfigure pnnm-up0 && sleep 2")
        assert cni_state(node) == (False, False)

        add_cni_state(node)
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert check["status"] == "fail", check
        assert "ManageForeignRoutes=yes (the default)" in check["observed"] and "pnnm-up0" in check["observed"]
        assert "ManageForeignRoutingPolicyRules=no" in check["fix"] and DROP_IN in check["fix"]

        # the area's own entry point: check only fails on it and writes nothing
        rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/netmgr_area.yml",
                                   "-e", "podnet_netmgr_fix=false")
        assert rc != 0 and "[netmgr.cni_links]" in out and changed(out) == 0, out
        assert node_exec(node, ["test", "-e", DROP_IN], check=False).returncode == 1, out

        # --check writes nothing
        rc, out = ansible_playbook(fleet.inventory_path, *(REMEDIATE + ("--check", "--diff")))
        assert node_exec(node, ["test", "-e", DROP_IN], check=False).returncode == 1, out

        rc, out = ansible_playbook(fleet.inventory_path, *REMEDIATE)
        assert rc == 0, out
        body = node_exec(node, ["cat", DROP_IN]).stdout
        assert body.startswith("# Managed by podnet.doctor") and "ManageForeignRoutes=no" in body
        assert cni_state(node) == (True, True)  # the fixer reloads nothing that drops them
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert check["status"] == "pass" and "started before" in check["observed"], check

        # networkd reads the drop-in when it starts: the route and the rule survive its restart now
        restart_networkd(node)
        assert cni_state(node) == (True, True)
        node_sh(node, "networkctl reconfigure pnnm-up0 && sleep 2")
        assert cni_state(node) == (True, True)

        rc, out = ansible_playbook(fleet.inventory_path, *REMEDIATE)
        assert rc == 0 and changed(out) == 0, out
        rc, out = ansible_playbook(fleet.inventory_path, "tests/lab/playbooks/netmgr_area.yml")
        assert rc == 0 and changed(out) == 0, out

        # reboot: the drop-in is in force from the start
        lab_fleet.reboot(node)
        managed_link(node)
        add_cni_state(node)
        restart_networkd(node)
        node_sh(node, "networkctl reconfigure pnnm-up0 && sleep 2")
        assert cni_state(node) == (True, True)
        check = node_info(fleet.inventory_path, "node1")[CHECK]
        assert check["status"] == "pass" and "started before" not in check["observed"], check
    finally:
        node_sh(node, "rm -f %s; ip link del pnnm-up0 2>/dev/null; ip rule del %s prio 100 2>/dev/null; true"
                % (NETWORK_FILE, POD_RULE), check=False)
        faults.forget_podnet_doctor(node)


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
    node = fleet.node(1)
    installed = node_sh(node, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                              "--no-install-recommends udev >/dev/null && systemctl start systemd-udevd", check=False, timeout=300)
    if installed.returncode != 0:
        pytest.skip("udev could not be installed in the node (no Debian mirror reachable): %s" % installed.stderr[-300:])
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
        node_sh(node, "ip link del flannel.7 2>/dev/null; apt-get purge -y -qq udev >/dev/null 2>&1; true", check=False)
        faults.forget_podnet_doctor(node)


NM_FILE = "/etc/NetworkManager/conf.d/podnet-doctor.conf"
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
    node = fleet.node(1)
    installed = node_sh(node, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                              "--no-install-recommends udev network-manager >/dev/null && "
                              "systemctl start systemd-udevd NetworkManager", check=False, timeout=400)
    if installed.returncode != 0:
        pytest.skip("NetworkManager could not be installed in the node (no Debian mirror reachable): %s"
                    % installed.stderr[-300:])
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
        node_sh(node, "ip link del cni0 2>/dev/null; DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "
                      "network-manager udev >/dev/null 2>&1; rm -rf /etc/NetworkManager /run/NetworkManager; true",
                check=False)
        faults.forget_podnet_doctor(node)
