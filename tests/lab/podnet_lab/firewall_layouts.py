"""Random but realistic host firewalls, for the differential firewall suite.

``draw_layout(rng, node_net)`` returns a :class:`Layout`: the CNI and mode under test and a
firewall the way an administrator (or a hardening role) writes one: nftables scripts loaded
with ``nft -f``, ``iptables-save`` files loaded with ``iptables-restore`` (legacy, nft or both
backends at once), firewalld zone/policy XML plus runtime-only and permanent-only commands,
and ufw command sequences. Rules mix what matters (the overlay's ports and protocols, from
the node network or elsewhere) with what every host has (SSH, loopback, conntrack, logging).

Only things a real node can hold are drawn; the oracle (real packets) judges every verdict.
"""
import random

from podnet_lab.podman import node_exec

CNI_MODES = [("flannel", "vxlan"), ("flannel", "udp"), ("calico", "bgp"), ("calico", "ipip"), ("calico", "vxlan"),
             ("cilium", "vxlan"), ("cilium", "geneve"), ("weave", "fastdp"), ("weave", "sleeve"),
             ("canal", "typha"), ("antrea", "geneve"), ("antrea", "gre"), ("antrea", "stt"), ("kube-router", "ipip"),
             ("kube-router", "fou")]
# Every port any drawn CNI mode uses (from cni_catalog), so rules hit the mode under test or a neighbour.
OVERLAY_UDP = [8472, 8285, 4789, 6081, 6783, 6784, 5555, 10351]
OVERLAY_TCP = [179, 4240, 6783, 5473, 7471, 10349, 10350, 10351]
# How admins spell an IP protocol that has no ports: by number or by a name of Debian's /etc/protocols
# (4 is "ipencap" there; "ipip" is 94, a different protocol, so it is drawn only where it may miss)
PROTOCOL_SPELLINGS = {"ipip": ["4", "ipencap"], "gre": ["47", "gre"]}
ANY_PROTOCOL_SPELLING = ["4", "ipencap", "ipip", "47", "gre"]
OTHER_TCP = [22, 80, 443, 10250, 6443, 9100]
OTHER_UDP = [53, 123, 51820]
# Draw weights: firewalld reloads and ufw's Python CLI cost seconds, nft -f / iptables-restore do not.
BACKEND_WEIGHTS = [("nftables", 44), ("iptables", 36), ("ufw", 10), ("firewalld", 10)]


class Layout(object):
    def __init__(self, index, seed, backend, cni, mode):
        self.index, self.seed = index, seed
        self.backend, self.cni, self.mode = backend, cni, mode
        self.files = {}        # path -> text, written before the commands
        self.commands = []     # shell lines run after the files (in one sh -e)
        self.runtime = []      # firewalld: runtime-only commands after the reload
        self.alternative = "nft"  # what the node's iptables/ip6tables alternatives point to (Debian's default)
        self.unused = None     # path of the iptables-save file drawn into the backend the alternative does not use
        self.stale_chains = []  # (table, chain) of kube-proxy's/a CNI's chains drawn there, each holding rules

    def unused_backend(self):
        return "legacy" if self.alternative == "nft" else "nft"

    def unused_file(self):
        """(path, only): the save file the unused backend holds, and whether it is all the layout loads."""
        if self.unused:
            return self.unused, False
        stale_path = "/etc/podnet-dfw/rules-%s.v4" % self.unused_backend()
        if stale_path in self.files:  # an iptables layout that wrote the unused backend itself
            return stale_path, self.backend == "iptables-%s" % self.unused_backend()
        return None, False

    def describe(self):
        out = ["layout #%d (seed %d): %s, CNI %s/%s" % (self.index, self.seed, self.backend, self.cni, self.mode)]
        for path, text in sorted(self.files.items()):
            out.append("--- %s\n%s" % (path, text.rstrip()))
        if self.alternative != "nft":
            out.append("(iptables and ip6tables alternatives: %s)" % self.alternative)
        for line in self.commands + self.runtime:
            out.append("$ %s" % line)
        return "\n".join(out)


def _sources(rng, node_net):
    """A source clause: none, the node network, a network holding it, or one away from it."""
    outside = ["10.0.0.0/8", "172.16.0.0/12", "192.168.92.0/24", "100.64.0.0/10"]
    return rng.choice([None, None, node_net, node_net, "192.168.0.0/16", rng.choice(outside),
                       "!" + rng.choice(outside)])


# -- nftables ------------------------------------------------------------------------------
def _nft_l4(rng, ports_udp, ports_tcp):
    """An l4 match in one of the spellings people use."""
    kind = rng.choice(["udp", "udp", "tcp", "ipip", "th", "set", "range", "thset"])
    if kind == "udp":
        return "udp dport %d" % rng.choice(ports_udp)
    if kind == "tcp":
        return "tcp dport %d" % rng.choice(ports_tcp)
    if kind == "ipip":
        # 4 or 47 by number or by a Debian name; "ipip" is 94 on Debian
        return rng.choice(["meta l4proto %s" % rng.choice(ANY_PROTOCOL_SPELLING), "ip protocol %s" % rng.choice(ANY_PROTOCOL_SPELLING),
                           "meta l4proto { 4, 47 }"])
    if kind == "th":
        return "meta l4proto %s th dport %d" % (rng.choice(["udp", "tcp"]), rng.choice(ports_udp + ports_tcp))
    if kind == "thset":
        return "meta l4proto { tcp, udp } th dport { %s }" % ", ".join(
            str(p) for p in sorted(set(rng.sample(ports_udp + ports_tcp, 3))))
    if kind == "range":
        low = rng.choice([4000, 6000, 8000, 8400])
        return "udp dport %d-%d" % (low, low + rng.choice([500, 1000, 100]))
    return "udp dport { %s }" % ", ".join(str(p) for p in sorted(set(rng.sample(ports_udp, 2))))


def _nft_saddr(rng, node_net, named):
    source = _sources(rng, node_net)
    if source is None:
        return ""
    if source == node_net and named:
        return "ip saddr @nodes "
    if source.startswith("!"):
        return "ip saddr != %s " % source[1:]
    return "ip saddr %s " % source


def _nft_rule(rng, node_net, verdicts, user_chains):
    pick = rng.random()
    verdict = rng.choice(verdicts)
    if pick < 0.45:
        return "%s%s %s" % (_nft_saddr(rng, node_net, True), _nft_l4(rng, OVERLAY_UDP, OVERLAY_TCP), verdict)
    if pick < 0.55:
        return "iifname %s %s %s" % (rng.choice(['"eth*"', '"eth0"', '{ "eth0", "ens*" }', '"ens3"', '"lo"']),
                                     _nft_l4(rng, OVERLAY_UDP, OVERLAY_TCP), verdict)
    if pick < 0.62:
        return "tcp dport %s accept" % rng.choice(["22", "{ 22, 443 }", "ssh"])
    if pick < 0.67:
        return "udp dport %d %s" % (rng.choice(OTHER_UDP), verdict)
    if pick < 0.72:
        return 'log prefix "nft-in: " %s' % rng.choice(["", "counter"])
    if pick < 0.77:
        return "%s%s counter %s" % (_nft_saddr(rng, node_net, True), _nft_l4(rng, OVERLAY_UDP, OVERLAY_TCP),
                                    rng.choice(["accept", "drop"]))
    if pick < 0.85 and user_chains:
        return "%s%s %s %s" % (_nft_saddr(rng, node_net, True), rng.choice(["", "meta l4proto udp ", ""]),
                               rng.choice(["jump", "jump", "goto"]), rng.choice(user_chains))
    if pick < 0.92:
        return "meta l4proto . th dport vmap { udp . %d : %s, tcp . %d : %s }" % (
            rng.choice(OVERLAY_UDP), rng.choice(["accept", "drop"]), rng.choice(OVERLAY_TCP),
            rng.choice(["accept", "drop"] + ["jump %s" % c for c in user_chains]))
    return "udp dport vmap @udp_verdicts"


def _nft_opening(rng, node_net, proto, port):
    """An accept for one port of the CNI under test, the way admins spell it."""
    source = rng.choice(["", "ip saddr %s " % node_net, "ip saddr @nodes ", "ip saddr 192.168.0.0/16 ",
                         "ip saddr != 10.0.0.0/8 "])
    if port is None:
        return "%s%s %s accept" % (source, rng.choice(["meta l4proto", "ip protocol"]), rng.choice(PROTOCOL_SPELLINGS[proto]))
    return "%s%s accept" % (source, rng.choice([
        "%s dport %d" % (proto, port), "%s dport { %d, %d }" % (proto, port, rng.choice(OTHER_TCP)),
        "meta l4proto %s th dport %d" % (proto, port), "%s dport %d-%d" % (proto, port - 2, port + 7),
        "meta l4proto { tcp, udp } th dport { %d }" % port]))


def openings(rng, cni_ports):
    """Which of the mode's ports the admin opened: all of them in about half the layouts."""
    if rng.random() < 0.55:
        return list(cni_ports)
    return [p for p in cni_ports if rng.random() < 0.5]


def draw_nftables(layout, rng, node_net, cni_ports=()):
    tables = []
    for index in range(rng.choice([1, 1, 2, 2, 3])):
        family = rng.choice(["inet", "inet", "ip"])
        name = rng.choice(["filter", "host_fw", "hardening", "k8s_guard", "local"]) + str(index)
        user_chains = ["svc_%d" % i for i in range(rng.choice([0, 1, 2]))]
        lines = ["table %s %s {" % (family, name),
                 "  set nodes { type ipv4_addr; flags interval; elements = { %s, 10.9.0.0/16 } }" % node_net,
                 "  set admin_ports { type inet_service; elements = { 22, 9100 } }",
                 "  map udp_verdicts { type inet_service : verdict; elements = { %s } }" % ", ".join(
                     "%d : %s" % (port, rng.choice(["accept", "drop"])) for port in rng.sample(OVERLAY_UDP, 2))]
        for chain in user_chains:
            lines.append("  chain %s {" % chain)
            for _count in range(rng.randint(1, 4)):
                lines.append("    " + _nft_rule(rng, node_net, ["accept", "drop", "return", "reject"], []))
            lines.append("  }")
        hooks = [("input", rng.choice(["filter", "0", "10", "-10", "filter - 5", "100"]))]
        if rng.random() < 0.35:
            hooks.append(("prerouting", rng.choice(["-150", "raw", "mangle", "-100", "0"])))
        for hook, prio in hooks:
            policy = rng.choice(["accept", "drop", "drop"]) if hook == "input" else rng.choice(["accept", "accept", "drop"])
            lines.append("  chain %s_%s {" % (hook, index))
            lines.append("    type filter hook %s priority %s; policy %s;" % (hook, prio, policy))
            lines.append("    tcp dport 22 accept")  # nobody locks out their own SSH (nor Ansible's)
            if hook == "input" and rng.random() < 0.8:
                lines.append("    ct state %s accept" % rng.choice(["established,related", "{ established, related }"]))
            if rng.random() < 0.3:
                lines.append("    ct state invalid drop")
            if hook == "input" and rng.random() < 0.7:
                lines.append('    iif%s "lo" accept' % rng.choice(["", "name"]))
            if hook == "input" and policy == "drop":
                lines.append("    tcp dport @admin_ports accept")
            # reject is valid only on the input, forward and output hooks (and chains they jump to)
            verdicts = ["accept", "drop", "reject", "accept"] if hook == "input" else ["accept", "drop"]
            body = [_nft_rule(rng, node_net, verdicts, user_chains if hook == "input" else [])
                    for _count in range(rng.randint(1, 6))]
            if hook == "input":
                for proto, port in openings(rng, cni_ports):
                    body.insert(rng.randint(0, len(body)), _nft_opening(rng, node_net, proto, port))
            lines += ["    " + rule for rule in body]
            if policy == "accept" and rng.random() < 0.3:
                lines.append("    %s" % rng.choice(["drop", "counter drop"] + (
                    ["reject with %s admin-prohibited" % ("icmpx" if family == "inet" else "icmp type")]
                    if hook == "input" else [])))
            lines.append("  }")
        lines.append("}")
        tables.append("\n".join(lines))
    layout.files["/etc/podnet-dfw/ruleset.nft"] = "flush ruleset\n" + "\n".join(tables) + "\n"
    layout.commands.append("nft -f /etc/podnet-dfw/ruleset.nft")


# -- iptables ------------------------------------------------------------------------------
def _ipt_src(rng, node_net):
    source = _sources(rng, node_net)
    if source is None:
        return rng.choice(["", "", "-m iprange --src-range 192.168.0.0-192.168.255.255 "])
    if source.startswith("!"):
        return "! -s %s " % source[1:]
    return "-s %s " % source


def _ipt_l4(rng):
    kind = rng.choice(["udp", "udp", "tcp", "multi", "range", "ipip", "negport"])
    if kind == "udp":
        return "-p udp -m udp --dport %d " % rng.choice(OVERLAY_UDP)
    if kind == "tcp":
        return "-p tcp -m tcp --dport %d " % rng.choice(OVERLAY_TCP)
    if kind == "multi":
        proto = rng.choice(["udp", "tcp"])
        ports = OVERLAY_UDP if proto == "udp" else OVERLAY_TCP
        return "-p %s -m multiport --dports %s " % (proto, ",".join(str(p) for p in sorted(set(rng.sample(ports, 3)))))
    if kind == "range":
        low = rng.choice([4000, 6000, 8000, 8400])
        return "-p udp -m udp --dport %d:%d " % (low, low + rng.choice([100, 500, 1000]))
    if kind == "negport":
        return "-p udp -m udp ! --dport %d " % rng.choice(OTHER_UDP)
    return "-p %s " % rng.choice(ANY_PROTOCOL_SPELLING)


def _ipt_target(rng, user_chains, terminal_only=False):
    choices = ["ACCEPT", "ACCEPT", "DROP"]
    if not terminal_only:  # REJECT is valid only in filter's INPUT/FORWARD/OUTPUT and their user chains
        choices.append("REJECT --reject-with icmp-port-unreachable")
    if user_chains and not terminal_only:
        choices += ["%s %s" % (rng.choice(["-j", "-g"]), rng.choice(user_chains))] * 2
    target = rng.choice(choices)
    return target if target.startswith("-") else "-j " + target


def _ipt_rule(rng, node_net, chain, user_chains, terminal_only=False):
    pick = rng.random()
    comment = '-m comment --comment "%s" ' % rng.choice(["overlay", "k8s nodes", "hardening 4.5.1"]) \
        if rng.random() < 0.3 else ""
    if pick < 0.6:
        return "-A %s %s%s%s%s" % (chain, _ipt_src(rng, node_net), _ipt_l4(rng), comment,
                                   _ipt_target(rng, user_chains, terminal_only))
    if pick < 0.7:
        return "-A %s -i %s %s%s" % (chain, rng.choice(["eth0", "eth+", "ens3", "lo"]), _ipt_l4(rng),
                                     _ipt_target(rng, user_chains, terminal_only))
    if pick < 0.78:
        return '-A %s %s-j LOG --log-prefix "ipt-in: "' % (chain, _ipt_l4(rng) if rng.random() < 0.5 else "")
    if pick < 0.85:
        return "-A %s -p tcp -m tcp --dport 22 -j ACCEPT" % chain
    if pick < 0.9:
        return "-A %s -p udp -m udp --dport %d %s" % (chain, rng.choice(OTHER_UDP), _ipt_target(rng, [], terminal_only))
    if user_chains and not terminal_only:
        return "-A %s %s%s %s" % (chain, _ipt_src(rng, node_net), rng.choice(["", "-p udp", "-p tcp"]),
                                  _ipt_target(rng, user_chains))
    return "-A %s %s-j RETURN" % (chain, _ipt_l4(rng)) if chain != "INPUT" else "-A INPUT -j ACCEPT"


def _ipt_opening(rng, node_net, proto, port):
    source = rng.choice(["", "-s %s " % node_net, "-s 192.168.0.0/16 ", "! -s 10.0.0.0/8 ",
                         "-m iprange --src-range 192.168.82.0-192.168.82.255 "])
    if port is None:
        return "-A INPUT %s-p %s -j ACCEPT" % (source, rng.choice(PROTOCOL_SPELLINGS[proto]))
    return "-A INPUT %s-p %s %s-j ACCEPT" % (source, proto, rng.choice([
        "-m %s --dport %d " % (proto, port), "-m multiport --dports %d,%d " % (port, rng.choice(OTHER_TCP)),
        "-m %s --dport %d:%d " % (proto, port - 1, port + 20)]))


def _ipt_save(rng, node_net, cni_ports=()):
    tables = []
    users = ["SVC-%d" % i for i in range(rng.choice([0, 1, 2]))]
    policy = rng.choice(["ACCEPT", "DROP", "DROP"])
    lines = ["*filter", ":INPUT %s [0:0]" % policy, ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    lines += [":%s - [0:0]" % u for u in users]
    if rng.random() < 0.8:
        state = rng.choice(["conntrack --ctstate RELATED,ESTABLISHED", "state --state RELATED,ESTABLISHED"])
        lines.append("-A INPUT -m %s -j ACCEPT" % state)
    if rng.random() < 0.3:
        lines.append("-A INPUT -m conntrack --ctstate INVALID -j DROP")
    if rng.random() < 0.7:
        lines.append("-A INPUT -i lo -j ACCEPT")
    lines.append("-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT")
    for user in users:
        for _count in range(rng.randint(1, 3)):
            lines.append(_ipt_rule(rng, node_net, user, [u for u in users if u > user]))
        if rng.random() < 0.4:
            lines.append("-A %s -j RETURN" % user)
    body = [_ipt_rule(rng, node_net, "INPUT", users) for _count in range(rng.randint(1, 6))]
    for proto, port in openings(rng, cni_ports):
        body.insert(rng.randint(0, len(body)), _ipt_opening(rng, node_net, proto, port))
    lines += body
    if policy == "ACCEPT" and rng.random() < 0.3:
        lines.append("-A INPUT -j %s" % rng.choice(["DROP", "REJECT --reject-with icmp-host-prohibited"]))
    lines.append("COMMIT")
    tables.append("\n".join(lines))
    for table in ("raw", "mangle"):
        if rng.random() < 0.3:
            chains = ["PREROUTING", "OUTPUT"] if table == "raw" else ["PREROUTING", "INPUT", "FORWARD", "OUTPUT",
                                                                      "POSTROUTING"]
            body = ["*%s" % table] + [":%s ACCEPT [0:0]" % c for c in chains]
            for _count in range(rng.randint(1, 3)):
                body.append(_ipt_rule(rng, node_net, "PREROUTING", [], True))
            body.append("COMMIT")
            tables.append("\n".join(body))
    return "\n".join(tables) + "\n"


def draw_iptables(layout, rng, node_net, cni_ports=()):
    # a layout that also draws rules in the unused backend writes its own firewall with the node's iptables
    which = rng.choice(["legacy", "nft", "both"]) if layout.unused is None else layout.alternative
    for backend in (["legacy", "nft"] if which == "both" else [which]):
        path = "/etc/podnet-dfw/rules-%s.v4" % backend
        layout.files[path] = _ipt_save(rng, node_net, cni_ports)
        layout.commands.append("iptables-%s-restore < %s" % (backend, path))
    layout.backend = "iptables-%s" % which


# -- firewalld -----------------------------------------------------------------------------
def _fw_rich(rng, node_net, cni_ports):
    parts = ["rule"]
    prio = rng.choice([None, None, None, -10, -1, 5, 32767, -100])
    if prio is not None:
        parts.append('priority="%d"' % prio)
    parts.append('family="ipv4"')
    source = _sources(rng, node_net)
    if source:
        parts.append('source %saddress="%s"' % ("NOT " if source.startswith("!") else "", source.lstrip("!")))
    proto, port = rng.choice(cni_ports + [("udp", 53), ("tcp", 22), ("udp", 8000)])
    if port:
        parts.append('port port="%s" protocol="%s"' % (port if rng.random() < 0.8 else "%d-%d" % (port, port + 10),
                                                       proto))
    else:  # never a rule for everything from the node network: it would cut Ansible's SSH too
        parts.append('protocol value="%s"' % rng.choice(ANY_PROTOCOL_SPELLING))
    if rng.random() < 0.15:
        parts.append('log prefix="fw-rich "')
    parts.append(rng.choice(["accept", "accept", "drop", "reject"]))
    return " ".join(parts)


def _zone_xml(target, interfaces, sources, services, ports, protocols, rich):
    body = ['<?xml version="1.0" encoding="utf-8"?>',
            '<zone%s>' % ("" if target == "default" else ' target="%s"' % target), "  <short>podnet-dfw</short>"]
    body += ['  <interface name="%s"/>' % i for i in interfaces]
    body += ['  <source address="%s"/>' % s for s in sources]
    body += ['  <service name="%s"/>' % s for s in services]
    body += ['  <port port="%s" protocol="%s"/>' % p for p in ports]
    body += ['  <protocol value="%s"/>' % p for p in protocols]
    body += ['  <rule%s' % r for r in rich]
    body.append("</zone>")
    return "\n".join(body) + "\n"


def draw_firewalld(layout, rng, node_net, cni_ports):
    zone = rng.choice(["public", "public", "internal", "work", "drop", "block"])
    how = rng.choice(["default", "interface", "source", "source"])
    services = ["ssh"] + rng.sample(["dhcpv6-client", "bgp", "http", "https", "mdns"], rng.randint(0, 2))
    ports = []
    for _count in range(rng.randint(0, 3)):
        proto, port = rng.choice(cni_ports + [("udp", 8000), ("tcp", 443)])
        if port:
            ports.append((str(port) if rng.random() < 0.7 else "%d-%d" % (port - 5, port + 5), proto))
    protocols = [rng.choice(ANY_PROTOCOL_SPELLING)] if rng.random() < 0.2 else []
    opening_rules = []
    for proto, port in openings(rng, cni_ports):
        how_open = rng.choice(["port", "port", "rich"])
        if how_open == "rich":
            opening_rules.append('rule family="ipv4" source address="%s" %s accept' % (
                rng.choice([node_net, "192.168.0.0/16"]),
                'port port="%d" protocol="%s"' % (port, proto) if port else 'protocol value="%s"' % rng.choice(PROTOCOL_SPELLINGS[proto])))
        elif port:
            ports.append((str(port) if rng.random() < 0.7 else "%d-%d" % (port - 5, port + 5), proto))
        else:
            protocols.append(rng.choice(PROTOCOL_SPELLINGS[proto]))
    target = rng.choice(["default", "default", "ACCEPT", "DROP", "%%REJECT%%"])
    if zone in ("drop", "block"):
        target = "DROP" if zone == "drop" else "%%REJECT%%"
    interfaces = ["eth0"] if how == "interface" else []
    sources = [rng.choice([node_net, "192.168.0.0/16"])] if how == "source" else []
    layout.files["/etc/firewalld/zones/%s.xml" % zone] = _zone_xml(target, interfaces, sources, services,
                                                                   ports, protocols, [])
    rich = [_fw_rich(rng, node_net, cni_ports) for _count in range(rng.randint(0, 4))] + opening_rules
    rng.shuffle(rich)
    for rule in rich:
        layout.commands.append("firewall-cmd -q --permanent --zone=%s --add-rich-rule='%s'" % (zone, rule))
    if rng.random() < 0.25:
        proto, port = rng.choice(cni_ports)
        layout.files["/etc/firewalld/policies/podnet-dfw.xml"] = (
            '<?xml version="1.0" encoding="utf-8"?>\n<policy target="%s" priority="%d">\n'
            '  <ingress-zone name="ANY"/>\n  <egress-zone name="HOST"/>\n%s</policy>\n' % (
                rng.choice(["CONTINUE", "CONTINUE", "DROP", "ACCEPT"]), rng.choice([-50, -1, 10]),
                '  <port port="%s" protocol="%s"/>\n' % (port, proto) if port else ""))
    layout.commands.append("firewall-cmd -q --reload")
    for _count in range(rng.choice([0, 0, 1, 2])):  # runtime-only and permanent-only changes
        proto, port = rng.choice(cni_ports)
        spec = "--add-port=%s/%s" % (port, proto) if port else "--add-protocol=%s" % rng.choice(PROTOCOL_SPELLINGS[proto])
        if rng.random() < 0.3:
            spec = "--add-rich-rule='%s'" % _fw_rich(rng, node_net, cni_ports)
        layout.runtime.append("firewall-cmd -q %s--zone=%s %s" % (rng.choice(["", "--permanent "]), zone, spec))
    layout.zone = zone


# -- ufw -----------------------------------------------------------------------------------
def draw_ufw(layout, rng, node_net, cni_ports):
    lines = ["ufw --force reset >/dev/null", "ufw default %s incoming" % rng.choice(["deny", "deny", "reject", "allow"]),
             "ufw allow 22/tcp"]
    count = 0
    drawn = [(rng.choice(cni_ports + [("udp", 8000), ("tcp", 443)]), None) for _count in range(rng.randint(1, 5))]
    for opened in openings(rng, cni_ports):
        drawn.insert(rng.randint(0, len(drawn)), (opened, "allow"))
    for (proto, port), action in drawn:
        action = action or rng.choice(["allow", "allow", "deny", "reject"])
        source = rng.choice([None, node_net, "10.0.0.0/8", "192.168.0.0/16"])
        iface = rng.choice(["", "", "in on eth0 ", "in on ens3 "])
        insert = "insert 1 " if count and rng.random() < 0.3 else ""
        if port is None:
            if action == "allow":
                continue  # ufw has no rule for an IP protocol (only before.rules)
            # a whole-address rule, from away from the node network (the admin's SSH comes from it)
            lines.append("ufw %s%s %sfrom %s" % (insert, action, iface, rng.choice(["10.0.0.0/8", "192.168.92.0/24"])))
        elif source or iface:
            lines.append("ufw %s%s %sfrom %s to any port %s proto %s" % (insert, action, iface, source or "any",
                                                                         port, proto))
        else:
            lines.append("ufw %s%s %s/%s" % (insert, action, port if rng.random() < 0.8 else "%d:%d" % (port, port + 3),
                                             proto))
        count += 1
    lines.append("ufw --force enable >/dev/null")
    layout.commands = [" && ".join(lines)]


# -- rules in the iptables backend the node's iptables does not use (iptables.backends) -------------
# Stale chains of kube-proxy and the CNIs as they write them (kube-proxy pkg/proxy/iptables/proxier.go,
# pkg/kubelet/kubelet_network_linux.go; calico felix's cali-* raw chains): (table, hook chain, chain, rules).
# Only chains on the path of a packet to the node itself: the lab forwards no pod traffic, so FORWARD chains
# (KUBE-FORWARD, FLANNEL-FWD, cali-FORWARD) and FORWARD rules are not drawn (see the suite's docstring).
STALE_CHAINS = [
    ("filter", "INPUT", "KUBE-FIREWALL", [
        '-m comment --comment "kubernetes firewall for dropping marked packets" -m mark --mark 0x8000/0x8000 -j DROP',
        '! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" '
        '-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP']),
    ("filter", "INPUT", "KUBE-NODEPORTS", [
        '-p tcp -m comment --comment "default/web:http health check node port" -m tcp --dport 30080 -j ACCEPT']),
    ("filter", "INPUT", "KUBE-EXTERNAL-SERVICES", [
        '-p tcp -m comment --comment "default/web has no local endpoints" -m addrtype --dst-type LOCAL '
        '-m tcp --dport 30081 -j DROP']),
    ("nat", "PREROUTING", "KUBE-SERVICES", [
        '-d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 '
        '-j DNAT --to-destination 10.244.9.9:53']),
    ("raw", "PREROUTING", "cali-PREROUTING", [
        '-m comment --comment "cali:6gwbT8clXdHdC1b1" -j MARK --set-xmark 0x0/0xf0000']),
    ("mangle", "PREROUTING", "cali-PREROUTING", [
        '-m comment --comment "cali:6BJqBjBC7crtA-7-" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT']),
]
# how the hook jumps into a stale chain: each condition holds for every probe of the suite (a new flow to a local
# address), so "a probe's counter moved on the jump" and "the kernel runs the chain" are the same observation
STALE_HOOKS = ["", "", "-m conntrack --ctstate NEW ", "-m addrtype --dst-type LOCAL "]
TABLE_CHAINS = {"filter": ["INPUT", "FORWARD", "OUTPUT"], "nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
                "raw": ["PREROUTING", "OUTPUT"], "mangle": ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]}


def _stale_save(layout, rng, node_net, cni_ports):
    """iptables-save text of what a node's unused backend holds: an administrator's rules from before the switch
    (harmless ones, DROPs/REJECTs of overlay ports, a policy DROP), raw/mangle rules, stale cluster chains."""
    tables = dict((t, {"declared": [], "rules": []}) for t in TABLE_CHAINS)
    policy = "DROP" if rng.random() < 0.25 else "ACCEPT"
    body = []
    if policy == "DROP" or rng.random() < 0.5:
        body.append("-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT")  # nobody locks out their own SSH (nor Ansible's)
        if rng.random() < 0.6:
            body.append("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    body += [_ipt_rule(rng, node_net, "INPUT", []) for _count in range(rng.choice([0, 1, 1, 2, 3]))]
    if policy == "DROP":
        for proto, port in openings(rng, cni_ports):
            body.insert(rng.randint(1, len(body)), _ipt_opening(rng, node_net, proto, port))
    tables["filter"]["rules"] += body
    for table in ("raw", "mangle"):
        if rng.random() < 0.25:
            tables[table]["rules"] += [_ipt_rule(rng, node_net, "PREROUTING", [], True) for _count in range(rng.randint(1, 2))]
    if rng.random() < 0.5:
        for table, hook, chain, rules in rng.sample(STALE_CHAINS, rng.choice([1, 1, 2])):
            if chain in tables[table]["declared"]:
                continue
            tables[table]["declared"].append(chain)
            kept = [] if rng.random() < 0.15 else list(rules)  # kube-proxy's cleanup flushed it, the jump stayed
            if rng.random() < 0.3 and table == "filter":
                proto, port = rng.choice(cni_ports)
                kept.append("-p %s %s-j DROP" % (proto if port else rng.choice(PROTOCOL_SPELLINGS[proto]),
                                                 "-m %s --dport %d " % (proto, port) if port else ""))
            tables[table]["rules"] += ["-A %s %s" % (chain, rule) for rule in kept]
            if kept:
                layout.stale_chains.append((table, chain))
            if rng.random() < 0.75:  # else an admin flushed the hook chain and left the cluster's chains
                tables[table]["rules"].insert(rng.randint(0, len(tables[table]["rules"])),
                                              "-A %s %s-j %s" % (hook, rng.choice(STALE_HOOKS), chain))
    out = []
    for table, chains in TABLE_CHAINS.items():
        held = tables[table]
        if not held["rules"] and not held["declared"] and (table != "filter" or policy == "ACCEPT"):
            continue
        out.append("*%s" % table)
        out += [":%s %s [0:0]" % (c, policy if (table, c) == ("filter", "INPUT") else "ACCEPT") for c in chains]
        out += [":%s - [0:0]" % c for c in held["declared"]]
        out += held["rules"]
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def draw_unused_backend(layout, rng, node_net, cni_ports):
    """Rules in the backend the node's iptables does not use: iptables-legacy under Debian's nft alternative, or
    iptables-nft on a node switched to legacy (what kubeadm's docs told admins before 1.17)."""
    stale = layout.unused_backend()
    layout.unused = "/etc/podnet-dfw/unused-%s.v4" % stale
    layout.files[layout.unused] = _stale_save(layout, rng, node_net, cni_ports)
    # after the layout's own firewall: an nft script starts with "flush ruleset", which would remove iptables-nft's
    layout.commands.append("iptables-%s-restore < %s" % (stale, layout.unused))


# Share of nftables and iptables layouts that also hold rules in the unused iptables backend
UNUSED_BACKEND_SHARE = 0.35


def draw_layout(rng, index, seed, node_net, overlay_ports):
    backend = rng.choices([b for b, _w in BACKEND_WEIGHTS], [w for _b, w in BACKEND_WEIGHTS])[0]
    cni, mode = rng.choice(CNI_MODES)
    layout = Layout(index, seed, backend, cni, mode)
    cni_ports = [(p[0], p[1]) for p in overlay_ports(cni, mode)]
    unused = backend in ("nftables", "iptables") and rng.random() < UNUSED_BACKEND_SHARE
    if unused:
        layout.alternative = rng.choice(["nft", "nft", "legacy"])
        layout.unused = True  # drawn below, after the layout's own firewall
    if backend == "nftables":
        draw_nftables(layout, rng, node_net, cni_ports)
    elif backend == "iptables":
        draw_iptables(layout, rng, node_net, cni_ports)
    elif backend == "firewalld":
        draw_firewalld(layout, rng, node_net, cni_ports)
    else:
        draw_ufw(layout, rng, node_net, cni_ports)
    if unused:
        draw_unused_backend(layout, rng, node_net, cni_ports)
    return layout


def draw_layouts(seed, count, node_net, overlay_ports):
    """``count`` layouts from ``seed``, firewalld ones last (one firewalld start for all of them)."""
    rng = random.Random(seed)
    layouts = [draw_layout(rng, i, seed, node_net, overlay_ports) for i in range(count)]
    return sorted(layouts, key=lambda l: (l.backend == "firewalld", l.index))


# -- loading and clearing on a node ---------------------------------------------------------
OPEN_SCRIPT = r"""
ufw --force disable >/dev/null 2>&1 || true
rm -f /etc/firewalld/zones/*.xml /etc/firewalld/zones/*.xml.old /etc/firewalld/policies/*.xml
for t in raw mangle nat filter security; do
  iptables-legacy -t $t -F 2>/dev/null; iptables-legacy -t $t -X 2>/dev/null
  for c in PREROUTING INPUT FORWARD OUTPUT POSTROUTING; do iptables-legacy -t $t -P $c ACCEPT 2>/dev/null; done
done
# every table but a running firewalld's own (flushing that one makes its next reload fail)
nft list tables | while read -r _kw family name; do
  [ "$family $name" = "inet firewalld" ] && [ -n "$KEEP_FIREWALLD" ] || nft delete table "$family" "$name"
done
for name in iptables ip6tables; do
  [ "$(readlink /etc/alternatives/$name)" = /usr/sbin/$name-nft ] || update-alternatives --quiet --set $name /usr/sbin/$name-nft
done
conntrack -F >/dev/null 2>&1 || true
nft list tables | grep -v '^table inet firewalld$' || true
iptables-legacy-save | grep '^-A' || true
"""


def open_firewall(node, stop_firewalld=True):
    """Back to an open node: no ruleset anywhere, ufw and (unless kept) firewalld stopped."""
    if stop_firewalld:
        node_exec(node, ["systemctl", "stop", "firewalld"], check=False, timeout=120)
    keep = "" if stop_firewalld else "1"
    # not -e: a chain missing in a table is fine
    left = node_exec(node, ["env", "KEEP_FIREWALLD=%s" % keep, "sh", "-c", OPEN_SCRIPT], check=False).stdout
    if left.strip():
        raise RuntimeError("%s is not open after clearing every firewall:\n%s" % (node, left))


def load(node, layout):
    """Write the layout's files and run its commands on ``node``."""
    if layout.backend == "firewalld":
        node_exec(node, ["systemctl", "start", "firewalld"], timeout=180)
    for path, text in sorted(layout.files.items()):
        node_exec(node, ["sh", "-c", 'mkdir -p "$(dirname "$0")" && cat > "$0"', path], input=text)
    commands = layout.commands
    if layout.alternative != "nft":
        commands = ["update-alternatives --quiet --set %s /usr/sbin/%s-%s" % (name, name, layout.alternative)
                    for name in ("iptables", "ip6tables")] + commands
    if layout.stale_chains:  # counters at zero right before the probes (stale_chains_entered reads them)
        commands = commands + ["iptables-%s -t %s -Z" % (layout.unused_backend(), table)
                               for table in sorted(set(t for t, _c in layout.stale_chains))]
    script = "\n".join(commands + layout.runtime).replace("firewall-cmd -q ", "firewall-cmd ")
    proc = node_exec(node, ["sh", "-ec", script], check=False, timeout=180)
    return proc


# -- the firewall tests' own fleet (conftest.own_fleet) ------------------------------------------
FLEET_NAME, SUBNET = "podnet-dfw", "192.168.82.0/24"
OUTSIDE_SUBNET = "192.168.92.0/24"  # off the node network (not the shared fleet's 192.168.98.0/24)


# -- the oracle of iptables.backends: the unused backend alone, and the kernel's counters --------------------
def load_unused_only(node, layout):
    """Clear every firewall, then load only what the layout put in the unused iptables backend, counters at zero."""
    path, _only = layout.unused_file()
    open_firewall(node, stop_firewalld=False)
    stale = layout.unused_backend()
    tables = [line[1:] for line in layout.files[path].splitlines() if line.startswith("*")]
    script = ["update-alternatives --quiet --set %s /usr/sbin/%s-%s" % (name, name, layout.alternative)
              for name in ("iptables", "ip6tables") if layout.alternative != "nft"]
    script.append("iptables-%s-restore < %s" % (stale, path))
    script += ["iptables-%s -t %s -Z" % (stale, table) for table in tables]
    return node_exec(node, ["sh", "-ec", "\n".join(script)], check=False)


def stale_chains_entered(node, layout):
    """["table: [packets:bytes] -A ... -j CHAIN"]: each jump into a stale cluster chain (one holding rules) whose
    packet counter the kernel moved: a probe went through the chain's rules."""
    if not layout.stale_chains:
        return []
    text = node_exec(node, ["iptables-%s-save" % layout.unused_backend(), "-c"]).stdout
    entered, table = [], None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("[") and " -A " in line:
            counters, rule = line.split(" ", 1)
            args = rule.split()
            targets = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg in ("-j", "-g")]
            if int(counters[1:].split(":")[0]) and any((table, t) in layout.stale_chains for t in targets):
                entered.append("%s: %s" % (table, line))
    return entered
