# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker's FORWARD policy: who set it, where pod traffic must be accepted instead, and what
keeps that accept across dockerd restarts and reboots.

What dockerd does (moby libnetwork; bookworm's docker.io 20.10.24 and moby 28):

* when it had to turn ``net.ipv4.ip_forward`` on itself, it sets the filter FORWARD policy to DROP
  (``setupIPForwarding``; moby 28 skips it with ``--ip-forward-no-drop``), at every start: a reboot
  with forwarding off at boot, then dockerd, gives DROP again (flannel#872, kubernetes#39823);
* it jumps from FORWARD to ``DOCKER-USER`` first, then to its own chains (``DOCKER``,
  ``DOCKER-ISOLATION-STAGE-1/2`` in 20.10, ``DOCKER-FORWARD`` and its sub-chains in 28), which it
  re-creates at start: rules added to them, or to FORWARD between its jumps, are Docker's to remove;
* ``DOCKER-USER`` is the users' chain: dockerd creates it when missing, appends ``-j RETURN`` when
  missing and keeps every rule already in it ("Docker will not delete or modify any pre-existing
  rules", libnetwork firewall_linux.go ``arrangeUserFilterRule``). So an accept there survives
  ``systemctl restart docker``, but not a reboot: the kernel starts with empty tables.

So the fix is accepts for pod traffic in ``DOCKER-USER``, each tied to the interface pair pod traffic
crosses (a bare pod-CIDR accept would open Docker's bridges to pods), placed just above the chain's final
``-j RETURN`` (below the administrator's own rules), now, and a oneshot unit of ours ordered after
docker.service (``WantedBy=``/``PartOf=docker.service``) that re-adds them idempotently whenever dockerd
starts, plus firewalld's permanent direct rules when firewalld runs (its reload flushes iptables); the
FORWARD policy, which dockerd owns and sets again at every start, is never changed. IPv6 pod CIDRs are
handled in ip6tables. With Docker's own nftables backend (moby 29, experimental,
``firewall-backend=nftables``) Docker leaves the iptables FORWARD policy alone and none of this applies."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os

from ansible.module_utils.six import text_type

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import RulesetParseError, Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import iptables
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.gather_boot import NETFILTER_PERSISTENT_RULES
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import sysctl_boot
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import read_text

# Chains dockerd creates in the filter table (20.10: DOCKER, DOCKER-USER, DOCKER-ISOLATION-STAGE-1/2;
# 28 adds DOCKER-FORWARD, DOCKER-BRIDGE, DOCKER-CT, DOCKER-INTERNAL).
DOCKER_CHAINS = ("DOCKER", "DOCKER-USER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2",
                 "DOCKER-FORWARD", "DOCKER-BRIDGE", "DOCKER-CT", "DOCKER-INTERNAL")
USER_CHAIN = "DOCKER-USER"
COMMENT = "podnet.doctor"
UNIT = "podnet-doctor-docker-user.service"
UNIT_PATH = "/etc/systemd/system/" + UNIT
UNIT_WANTS_LINK = "/etc/systemd/system/docker.service.wants/" + UNIT
UNIT_HEADER = "# Managed by podnet.doctor (podnet.doctor.overlay_firewall); changes here are overwritten.\n"
WHY = ("dockerd sets the FORWARD policy to DROP at every start when it turned ip_forward on itself, "
       "and keeps the rules of DOCKER-USER, the chain it reserves for users")


def docker_chains(ruleset):
    """Docker's chains in the filter table of a parsed :class:`iptables.IptablesRuleset`, sorted."""
    return sorted(chain for chain in ruleset.policies if chain in DOCKER_CHAINS)


def _ruleset_key(backend, pod_cidr):
    """The facts key of ``backend``'s dump in the family of ``pod_cidr`` (ip6tables_nft for an IPv6 one)."""
    return tool(backend, pod_cidr).replace("-", "_")


def docker_owned_drop(facts, result, parsed_ruleset, pod_cidr):
    """The Docker chains of the backend when ``result`` (:func:`flows.packet_result`) for pod traffic of
    ``pod_cidr`` is the FORWARD policy DROP of an iptables backend whose ruleset of that family (ip6tables for
    an IPv6 CIDR) has Docker's ``DOCKER-USER`` chain jumped to from FORWARD, else []. ``parsed_ruleset``:
    :func:`flows.parsed_ruleset`. A DROP rule, a drop in a chain of Docker's, or a DROP policy with no Docker
    chain is not named Docker."""
    backend = result.get("backend") or ""
    if not backend.startswith("iptables") or facts.get("ufw_active") or result.get("table", "filter") != "filter":
        return []
    if result.get("chain") != "FORWARD" or "policy DROP" not in (result.get("where") or ""):
        return []
    key = _ruleset_key(backend, pod_cidr)
    if not facts.get(key):
        return []
    return docker_forward_chains(parsed_ruleset(facts, key))


def docker_forward_chains(ruleset):
    """Docker's chains when FORWARD's policy is DROP and FORWARD jumps to DOCKER-USER, else []."""
    if ruleset.policies.get("FORWARD") != "DROP":
        return []
    if not any(args[-2:] == ["-j", USER_CHAIN] for args in ruleset.rules.get("FORWARD", [])):
        return []
    return docker_chains(ruleset)


def docker_backends(facts, parsed_ruleset, pod_cidr):
    """[(backend, Docker's chains)]: the iptables backends in which Docker's FORWARD DROP is in force for the
    family of ``pod_cidr``."""
    found = []
    for backend in ("iptables-nft", "iptables-legacy"):
        if facts.get(_ruleset_key(backend, pod_cidr)) and not facts.get("ufw_active"):
            chains = docker_forward_chains(parsed_ruleset(facts, _ruleset_key(backend, pod_cidr)))
            if chains:
                found.append((backend, chains))
    return found


# Per-pod veth interfaces (Calico cali*, Cilium lxc*, Weave vethwe*): one per pod, so a rule names them with
# iptables' "+" wildcard; bridges and tunnels (cni0, flannel.1, vxlan.calico, weave, kube-bridge...) keep their name.
POD_VETH_PREFIXES = ("cali", "lxc", "vethwe")


def interface_pattern(name):
    """The iptables ``-i``/``-o`` argument that matches ``name`` and its siblings (cali0a1b2c3 -> cali+)."""
    for prefix in POD_VETH_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return prefix + "+"
    return name


def tool(backend, pod_cidr):
    """The command for ``backend`` (iptables-nft, iptables-legacy) in the family of ``pod_cidr``: IPv6 pod
    traffic crosses ip6tables (Docker's ``ip6tables`` option, default on since moby 27), never iptables."""
    return backend.replace("iptables", "ip6tables", 1) if ipaddress.ip_network(text_type(pod_cidr), strict=False).version == 6 else backend


def user_rules(pod_cidr, packet):
    """The argument lists of the DOCKER-USER accepts for forwarded pod ``packet`` and its replies, each tied to
    the packet's interface pair (``-i``/``-o``): a pod CIDR alone would also accept pods' packets to Docker's
    bridges (docker0, br-*), to container ports Docker did not publish, and from containers of an internal
    network to pods. ``-d <pod CIDR>`` for traffic to pods, ``-s`` for pod -> outside; the pod side of pod ->
    outside also gets pod -> pod on the same node (bridged frames cross FORWARD with br_netfilter).
    [] when an interface of the packet is not known."""
    if not packet.iif or not packet.oif:
        return []
    iif, oif = interface_pattern(packet.iif), interface_pattern(packet.oif)
    tail = ["-m", "comment", "--comment", COMMENT, "-j", "ACCEPT"]
    to_pods = packet.dst is not None and _inside(packet.dst, pod_cidr)
    rules = [["-i", iif, "-o", oif, "-d" if to_pods else "-s", pod_cidr] + tail, ["-i", oif, "-o", iif, "-d", pod_cidr] + tail]
    if not to_pods:
        rules.append(["-i", iif, "-o", iif, "-d", pod_cidr] + tail)
    return rules


def _inside(network, pod_cidr):
    pods = ipaddress.ip_network(text_type(pod_cidr), strict=False)
    return network.version == pods.version and network.subnet_of(pods)


def insert_position(ruleset):
    """Where our accepts go in ``ruleset``'s DOCKER-USER: the position of its final ``-j RETURN`` (dockerd 20.10
    appends one), so every rule the administrator put in the chain stays above ours and keeps deciding; None
    (append) when the chain does not end in RETURN (moby 28 adds none)."""
    rules = ruleset.rules.get(USER_CHAIN, [])
    if rules and rules[-1] == ["-j", "RETURN"]:
        return len(rules)
    return None


def insert_commands(backend, pod_cidr, packet, ruleset):
    """What the fixer runs now for the dropped ``packet``: each accept inserted just above DOCKER-USER's final
    RETURN of ``ruleset`` (the chain as gathered), or appended (``-w``: dockerd may hold the xtables lock).
    Each insert at the same position pushes the RETURN down, so ours stay together below the admin's rules."""
    position = insert_position(ruleset)
    where = ["-A", USER_CHAIN] if position is None else ["-I", USER_CHAIN, str(position)]
    return [[tool(backend, pod_cidr), "-w"] + where + args for args in user_rules(pod_cidr, packet)]


def unit_entries(backend, pod_cidr, packets):
    """[(command, accept arguments)] our unit re-adds for forwarded pod ``packets`` in ``backend``."""
    entries = []
    for packet in packets:
        for args in user_rules(pod_cidr, packet):
            entry = (tool(backend, pod_cidr), tuple(args))
            if entry not in entries:
                entries.append(entry)
    return entries


def _quoted(args):
    return " ".join(args)


# The unit's shell, per accept: present -> nothing; else inserted above DOCKER-USER's last rule when that is
# dockerd's "-j RETURN", else appended. "$$" is systemd's escape for a literal "$" in ExecStart.
UNIT_EXEC = ("ExecStart=/bin/sh -c '{t} -w -C {chain} {rule} || if {t} -w -S {chain} | tail -n 1 | grep -qx -e \"-A {chain} -j RETURN\"; "
             "then {t} -w -I {chain} $$({t} -w -S {chain} | grep -c -e \"^-A \") {rule}; else {t} -w -A {chain} {rule}; fi'\n")


def unit_text(entries):
    """Our unit for ``entries`` ([(command, accept arguments)]): after every dockerd start, each accept is
    added unless it is there, just above DOCKER-USER's final RETURN (below the administrator's own rules), so
    a restart of dockerd, which keeps them, adds nothing."""
    lines = [UNIT_HEADER,
             "# Docker (dockerd) sets the iptables FORWARD policy to DROP at every start when it turned\n",
             "# ip_forward on itself, and keeps user rules in DOCKER-USER across restarts; after a reboot\n",
             "# DOCKER-USER starts empty. This re-adds the accepts for forwarded pod traffic (tied to the CNI's\n",
             "# interfaces, so Docker's bridges stay Docker's) once dockerd has created the chain, below any\n",
             "# rule of yours. Docker's own chains and the FORWARD policy are left to Docker.\n",
             "[Unit]\n",
             "Description=podnet.doctor: accept forwarded pod traffic in Docker's DOCKER-USER chain\n",
             "After=docker.service\n", "PartOf=docker.service\n", "\n", "[Service]\n", "Type=oneshot\n",
             "RemainAfterExit=yes\n"]
    for command, args in sorted(entries):
        lines.append(UNIT_EXEC.format(t=command, chain=USER_CHAIN, rule=_quoted(args)))
    lines += ["\n", "[Install]\n", "WantedBy=docker.service\n"]
    return "".join(lines)


def unit_state(root, entries):
    """(text now or None, whether it is ours for ``entries``, whether docker.service wants it)."""
    text = read_text(root, UNIT_PATH)
    linked = os.path.lexists(os.path.join(root, UNIT_WANTS_LINK.lstrip("/")))
    return text, text == unit_text(entries), linked


def unit_changes(root, entries):
    """(file changes, commands) that install and enable our unit for ``entries``: nothing when it is in place."""
    text, current, linked = unit_state(root, entries)
    files, commands = {}, []
    if not current:
        files[UNIT_PATH] = {"before": text, "after": unit_text(entries), "owned": True}
        commands.append(["systemctl", "daemon-reload"])
    if not linked:
        commands.append(["systemctl", "enable", UNIT])
    return files, commands


# Where a unit file of docker.service can be (systemd's unit search path for the system manager).
DOCKER_UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
                    "/lib/systemd/system")


def docker_service_present(root="/"):
    """Whether docker.service exists: our unit hangs off it (a snap's dockerd is snap.docker.dockerd.service)."""
    return any(os.path.exists(os.path.join(root, directory.lstrip("/"), "docker.service")) for directory in DOCKER_UNIT_DIRS)


def unit_covers(root, entries):
    """Whether our unit is enabled for an existing docker.service and re-adds every accept of ``entries`` (:func:`unit_entries`)."""
    if not docker_service_present(root) or not entries:
        return False
    text = read_text(root, UNIT_PATH) or ""
    wanted = unit_text(entries).splitlines(True)
    execs = [line for line in wanted if line.startswith("ExecStart=")]
    return os.path.lexists(os.path.join(root, UNIT_WANTS_LINK.lstrip("/"))) and all(line in text.splitlines(True) for line in execs)


def forwarding_on_at_boot(root="/"):
    """Whether systemd-sysctl leaves ``net.ipv4.ip_forward = 1`` at boot (files in /run gone), before
    dockerd starts (docker.service is ordered after sysinit.target): dockerd then has nothing to turn on
    and leaves the FORWARD policy ACCEPT. Raises Unevaluable when the boot value cannot be decided (a
    sysctl file that cannot be read): whether dockerd sets DROP again then is unknown, not a boot gap.
    A value set only in /run/sysctl.d counts as gone after the reboot (tmpfs)."""
    loaded = sysctl_boot.load_boot_assignments(root)
    undecided = loaded["undecided"].get("systemd")
    if undecided:
        raise Unevaluable("net.ipv4.ip_forward at boot, which decides whether dockerd sets FORWARD to DROP: %s" % "; ".join(undecided))
    boot = sysctl_boot.effective_boot_value("net.ipv4.ip_forward", root, loaded=loaded)["systemd"]
    return boot.get("after_reboot", boot).get("value") == "1"


def boot_gaps(facts, root, pod_cidr, packets, parsed_ruleset, rules_file=NETFILTER_PERSISTENT_RULES):
    """[(backend, Docker's chains)] where Docker's FORWARD DROP is in force now, dockerd will set it again
    at boot (forwarding is not 1 when it starts) and nothing brings the pod accepts back: neither our
    enabled unit nor the iptables-restore file ``rules_file`` (restored before dockerd starts). The sysctl
    files are read only when neither covers. Raises Unevaluable when ``rules_file`` or the boot value of
    forwarding cannot be evaluated."""
    gaps = [(backend, chains) for backend, chains in docker_backends(facts, parsed_ruleset, pod_cidr)
            if not unit_covers(root, unit_entries(backend, pod_cidr, packets)) and not rules_v4_accepts(root, rules_file, packets)]
    if not gaps or not dockerd_sets_drop(root) or forwarding_on_at_boot(root):  # sysctl files read last: an unreadable one matters only here
        return []
    return gaps


DAEMON_JSON = "/etc/docker/daemon.json"
# dockerd options under which it does not set FORWARD to DROP at start: it does not turn forwarding on
# ("ip-forward": false), does not touch iptables ("iptables": false; setupIPForwarding sets the policy
# only with iptables enabled), or is told not to (moby 28's "ip-forward-no-drop").
NO_DROP_OPTIONS = (("iptables", False), ("ip-forward", False), ("ip-forward-no-drop", True))


def dockerd_sets_drop(root="/"):
    """Whether dockerd's configuration file lets it set FORWARD to DROP at its next start (command-line
    flags of docker.service are not read). Raises Unevaluable when the file is not a JSON object."""
    text = read_text(root, DAEMON_JSON)
    if text is None:
        return True
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise Unevaluable("%s: not JSON (%s); dockerd refuses to start with it" % (DAEMON_JSON, exc))
    if not isinstance(options, dict):
        raise Unevaluable("%s: not a JSON object" % DAEMON_JSON)
    return not any(options.get(key) is value for key, value in NO_DROP_OPTIONS)


def rules_v4_accepts(root, path, packets):
    """Whether the iptables-restore file ``path`` (restored at boot before dockerd starts; dockerd keeps
    its DOCKER-USER rules) accepts every forwarded ``packet`` once Docker sets FORWARD to DROP.
    False when there is no such file; raises Unevaluable when it cannot be parsed or evaluated."""
    text = read_text(root, path)
    if text is None:
        return False
    try:
        ruleset = iptables.IptablesRuleset(text, path)
    except RulesetParseError as exc:
        raise Unevaluable(str(exc))
    if "FORWARD" not in ruleset.policies:
        return False
    ruleset.policies["FORWARD"] = "DROP"
    ruleset.rules.setdefault(USER_CHAIN, [])
    ruleset.policies.setdefault(USER_CHAIN, "-")
    forward = ruleset.rules["FORWARD"]
    if not any(args[-2:] == ["-j", USER_CHAIN] for args in forward):
        forward.insert(0, ["-j", USER_CHAIN])  # dockerd puts its jump first
    return all(iptables.ipt_verdict(ruleset, packet)["verdict"] == "accept" for packet in packets)


# firewalld and DOCKER-USER (lab, bookworm's firewalld 1.3.3 with FirewallBackend=nftables and dockerd 20.10.24): a
# start or ``firewall-cmd --reload`` of firewalld flushes and deletes every iptables chain too (Firewall.flush runs
# each backend's flush rules, ipXtables's being "-F", "-X", "-Z" per table, for iptables whatever the
# FirewallBackend), while the FORWARD policy DROP stays; dockerd, subscribed to firewalld's Reloaded D-Bus signal
# since it started with firewalld running, re-creates its chains and an empty DOCKER-USER with its RETURN
# (libnetwork arrangeUserFilterRule on iptables.OnReloaded; moby#35043). Our unit does not run then (a reload over
# D-Bus is no systemd job), so the accepts are also put in firewalld's permanent direct configuration: firewalld
# re-creates the chain with them at every start and reload, before it signals dockerd, which keeps them and appends
# its RETURN below.
DIRECT_XML = "/etc/firewalld/direct.xml"
# direct rules of a chain are ordered by priority, lowest first: ours go below the administrator's usual 0..99
DIRECT_PRIORITY = "100"


def _direct_ipv(command):
    return "ipv6" if command.startswith("ip6") else "ipv4"


def direct_config(root="/"):
    """(chains, rules) of firewalld's permanent direct configuration: {(ipv, table, chain)} and {(ipv, table, chain,
    args tuple)}; empty when there is no file. Raises Unevaluable when it is not readable XML."""
    text = read_text(root, DIRECT_XML)
    if text is None:
        return set(), set()
    # imported here: only a node with firewalld and Docker reads it (import cost on every other pre-flight)
    import shlex
    import xml.etree.ElementTree as ET
    try:
        tree = ET.fromstring(text)
    except ET.ParseError as exc:
        raise Unevaluable("%s: not XML (%s); firewalld refuses it at its next start or reload" % (DIRECT_XML, exc))
    chains = {(c.get("ipv"), c.get("table"), c.get("chain")) for c in tree.findall("chain")}
    rules = {(r.get("ipv"), r.get("table"), r.get("chain"), tuple(shlex.split(r.text or ""))) for r in tree.findall("rule")}
    return chains, rules


def direct_commands(root, entries):
    """The ``firewall-cmd --permanent --direct`` commands that put every accept of ``entries`` ([(command, accept
    arguments)]) in firewalld's permanent direct configuration; [] when all are there. Permanent only: the runtime
    chain is dockerd's and holds the accepts already; firewalld applies them at its next start or reload."""
    chains, rules = direct_config(root)
    commands = []
    for command, args in entries:
        ipv = _direct_ipv(command)
        if (ipv, "filter", USER_CHAIN) not in chains:
            chains.add((ipv, "filter", USER_CHAIN))
            commands.append(["firewall-cmd", "--permanent", "--direct", "--add-chain", ipv, "filter", USER_CHAIN])
        if (ipv, "filter", USER_CHAIN, tuple(args)) not in rules:
            commands.append(["firewall-cmd", "--permanent", "--direct", "--add-rule", ipv, "filter", USER_CHAIN, DIRECT_PRIORITY]
                            + list(args))
    return commands


def firewalld_running(facts):
    return bool((facts.get("firewalld") or {}).get("running"))


def reload_gaps(facts, root, pod_cidr, packets, parsed_ruleset):
    """[(backend, Docker's chains)] where Docker's FORWARD DROP is in force, firewalld runs, and its permanent direct
    configuration lacks the accepts: the next ``firewall-cmd --reload`` (or firewalld start) removes them while the
    DROP policy stays. Raises Unevaluable when direct.xml cannot be read."""
    if not firewalld_running(facts):
        return []
    return [(backend, chains) for backend, chains in docker_backends(facts, parsed_ruleset, pod_cidr)
            if direct_commands(root, unit_entries(backend, pod_cidr, packets))]


def our_direct_rules_only(text):
    """Whether every direct rule in the text of direct.xml is one of ours (DOCKER-USER, our comment), which the
    overlay.boot evaluation may skip: they only accept pod traffic in Docker's user chain."""
    import re
    rules = re.findall(r"<\s*rule\b[^>]*>([^<]*)<", text)
    return not re.search(r"<\s*passthrough\b", text) and all(
        "--comment %s" % COMMENT in body for body in rules) and all(
        'chain="%s"' % USER_CHAIN in tag for tag in re.findall(r"<\s*rule\b[^>]*>", text))
