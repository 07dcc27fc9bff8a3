"""Fault injection primitives, one per failure mode, each applied to a named node.

Every primitive has an inverse (``clear_*``) so a test can show the symptom going
away. Firewall faults are persistent, like a real misconfigured node: they come back
after a reboot until something fixes them.
"""
import ipaddress

from .podman import node_exec, node_sh, run

HARDENING_FILE = "/etc/sysctl.d/99-zz-cis.conf"
FIREWALL_BACKENDS = ("firewalld", "nftables", "iptables-legacy", "iptables-nft", "ufw")
BLOCK_PORT = 8472
NFT_FAULT_FILE = "/etc/nftables.conf"
IPT_FAULT_UNIT = "podnet-lab-iptables-restore"


# -- sysctls -------------------------------------------------------------------
def set_sysctl_runtime(node, key, value):
    """Runtime only (``sysctl -w``): gone after a reboot."""
    node_exec(node, ["sysctl", "-q", "-w", "%s=%s" % (key, value)])


def drop_hardening_file(node, settings, path=HARDENING_FILE):
    """A hardening baseline file that overrides sysctls at boot, e.g.
    ``{"net.ipv4.ip_forward": "0"}`` in /etc/sysctl.d/99-zz-cis.conf."""
    body = "# CIS benchmark hardening (lab fault)\n" + "".join(
        "%s = %s\n" % item for item in sorted(settings.items()))
    node_exec(node, ["sh", "-c", 'cat > "$0"', path], input=body)


def remove_file(node, path):
    node_exec(node, ["rm", "-f", path])


# -- firewalls -----------------------------------------------------------------
_IPT_RULE = ["INPUT", "-p", "udp", "--dport", str(BLOCK_PORT), "-j", "DROP"]

_NFT_RULESET = """#!/usr/sbin/nft -f
# Host firewall with a default-drop input policy (lab fault): SSH and ping only.
table inet podnet_lab_filter {
    chain input {
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        iif "lo" accept
        tcp dport 22 accept
        meta l4proto { icmp, ipv6-icmp } accept
    }
}
"""

_IPT_RESTORE_UNIT = """[Unit]
Description=Restore lab iptables rules (stands in for netfilter-persistent)
Before=network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c '/usr/sbin/%s-restore < /etc/iptables/rules.v4'

[Install]
WantedBy=multi-user.target
"""


def block_overlay(node, backend):
    """Make the host firewall of ``node`` drop VXLAN (UDP 8472), persistently."""
    if backend == "firewalld":
        # firewalld's default zone (public) admits ssh and dhcpv6-client only
        node_exec(node, ["systemctl", "enable", "--now", "firewalld"], timeout=120)
        node_exec(node, ["firewall-cmd", "--state"], timeout=60)
    elif backend == "nftables":
        node_exec(node, ["sh", "-c", 'cat > "$0"', NFT_FAULT_FILE], input=_NFT_RULESET)
        node_exec(node, ["systemctl", "enable", "--now", "nftables"])
        node_exec(node, ["systemctl", "restart", "nftables"])
    elif backend in ("iptables-legacy", "iptables-nft"):
        binary = backend
        # a node whose firewall is in a backend uses that backend: its iptables alternative points there
        # (rules left in the other one are iptables.backends' fault, not this one)
        use_iptables_backend(node, backend.split("-")[1])
        node_exec(node, [binary, "-A"] + _IPT_RULE)
        node_sh(node, "mkdir -p /etc/iptables && %s-save > /etc/iptables/rules.v4" % binary)
        node_exec(node, ["sh", "-c", 'cat > "$0"', "/etc/systemd/system/%s.service"
                         % IPT_FAULT_UNIT], input=_IPT_RESTORE_UNIT % binary)
        node_exec(node, ["systemctl", "daemon-reload"])
        node_exec(node, ["systemctl", "enable", IPT_FAULT_UNIT])
    elif backend == "ufw":
        # Debian enables ufw.service with the package (the image disabled it); it
        # loads the rules at boot when /etc/ufw/ufw.conf says ENABLED=yes
        node_exec(node, ["systemctl", "enable", "ufw"])
        node_exec(node, ["ufw", "default", "deny", "incoming"])
        node_exec(node, ["ufw", "allow", "22/tcp"])
        node_exec(node, ["ufw", "--force", "enable"])
    else:
        raise ValueError("unknown firewall backend %r; one of %s" % (backend, FIREWALL_BACKENDS))


def use_iptables_backend(node, backend):
    """Point the node's iptables and ip6tables alternatives at ``backend`` (``legacy`` or ``nft``)."""
    for name in ("iptables", "ip6tables"):
        node_exec(node, ["update-alternatives", "--quiet", "--set", name, "/usr/sbin/%s-%s" % (name, backend)])


def unblock_overlay(node, backend):
    """Undo :func:`block_overlay` (the lab's own fault, so the lab may remove it)."""
    if backend == "firewalld":
        node_exec(node, ["systemctl", "disable", "--now", "firewalld"], timeout=120)
    elif backend == "nftables":
        node_exec(node, ["systemctl", "disable", "--now", "nftables"])
        node_exec(node, ["nft", "delete", "table", "inet", "podnet_lab_filter"], check=False)
        node_sh(node, "printf '#!/usr/sbin/nft -f\\nflush ruleset\\n' > %s" % NFT_FAULT_FILE)
    elif backend in ("iptables-legacy", "iptables-nft"):
        while node_exec(node, [backend, "-C"] + _IPT_RULE, check=False).returncode == 0:
            node_exec(node, [backend, "-D"] + _IPT_RULE)
        node_exec(node, ["systemctl", "disable", IPT_FAULT_UNIT], check=False)
        remove_file(node, "/etc/iptables/rules.v4")
        use_iptables_backend(node, "nft")  # Debian's default
    elif backend == "ufw":
        node_exec(node, ["ufw", "--force", "reset"])
        node_exec(node, ["ufw", "--force", "disable"], check=False)
        node_exec(node, ["systemctl", "disable", "ufw"], check=False)
    else:
        raise ValueError("unknown firewall backend %r; one of %s" % (backend, FIREWALL_BACKENDS))


# -- CIDR overlap ----------------------------------------------------------------
def attach_overlapping_subnet(fleet, node, subnet="10.244.2.0/24", label=None):
    """Connect ``node`` to a lab network inside the pod CIDR (e.g. a VLAN someone
    numbered from 10.244.0.0/16): its connected route captures pod traffic."""
    network = "%s-overlap" % fleet.name
    if run(["network", "exists", network], check=False).returncode != 0:
        run(["network", "create", "--subnet", subnet, "--label",
             "io.podnet.lab.fleet=%s" % (label or fleet.name), network])
    # A fixed address, clear of the pod addresses (.1-.3 of each node's /24): left to
    # podman's IPAM the node could get .3, the peer's pod-b, and "connect" to itself
    # (Connection refused) instead of showing the real symptom (No route to host).
    address = ipaddress.ip_network(subnet).network_address + 200 + fleet.index_of(node)
    run(["network", "connect", "--ip", str(address), network, node])
    return network


def detach_overlapping_subnet(fleet, node):
    network = "%s-overlap" % fleet.name
    run(["network", "disconnect", network, node], check=False)


# -- test hygiene ------------------------------------------------------------------
PODNET_OWNED_FILES = ("/etc/sysctl.d/99-zzz-podnet-doctor.conf", "/etc/sysctl.d/z99-zzz-podnet-doctor.conf",
                      "/etc/modules-load.d/podnet-doctor.conf", "/etc/nftables.d/podnet-doctor.nft",
                      "/etc/systemd/networkd.conf.d/podnet-doctor.conf", "/etc/NetworkManager/conf.d/podnet-doctor.conf",
                      "/etc/systemd/network/00-podnet-doctor-cni.network", "/etc/systemd/network/00-podnet-doctor-cni.link",
                      "/etc/systemd/system/podnet-doctor-docker-user.service",
                      "/etc/systemd/system/docker.service.wants/podnet-doctor-docker-user.service")


def forget_podnet_doctor(node):
    """Remove every file podnet.doctor writes, so the next test meets a node it never
    fixed (runtime state goes with the next reboot)."""
    node_exec(node, ["rm", "-f"] + list(PODNET_OWNED_FILES))
