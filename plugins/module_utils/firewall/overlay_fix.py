# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open exactly what the overlay needs, in the firewall that drops it, now and at boot.

Only additions: an accept scoped to the node network (or, for forwarding, to the pod
CIDR) in the backend, chain or zone that dropped the packet. Never a policy change,
a flush, a removal, or enabling/disabling a firewall; the SSH rule is never touched.

The same steps open the Kubernetes component ports and the NodePort range (``groups`` of
:func:`plan_overlay_fix`, from :func:`k8s_ports_checks.port_groups`): a port set is (protocol, first,
last), judged by single-port probes and opened whole where one of them is dropped, in the backend's
range syntax (:func:`packet.port_span`: ``30000-32767`` for nft and firewalld, ``30000:32767`` for
iptables and ufw, which takes a range only with ``proto tcp`` or ``udp``).

Runtime and boot are handled separately per backend:

* firewalld: a rich rule in the zone, with and without ``--permanent`` (the permanent
  zones are evaluated too, so a runtime-only opening is caught and made permanent);
  forwarded pod traffic: the pod CIDR as a source of the ``trusted`` zone.
* nftables: ``nft insert rule`` at the top of the base chain that dropped it, and the
  same line in our own /etc/nftables.d/podnet-doctor.nft, included from
  /etc/nftables.conf (which must define that table; a backup is kept).
* iptables (legacy or nft, ufw not active): ``-I <chain> 1`` with a comment, and the
  same line in /etc/iptables/rules.v4 (netfilter-persistent's file; backup kept).
* ufw: ``ufw allow from <net> ... comment podnet.doctor`` (ufw persists it itself).
* Docker's FORWARD policy DROP (:mod:`docker_forward`): the pod CIDR accepted at the top of
  ``DOCKER-USER`` now, and our unit re-adds it after every dockerd start; Docker's chains and the
  policy it owns are never touched."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import glob
import os
import re
import shlex

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import Unevaluable
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import docker_forward, firewalld, flows
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.packet import port_span
from ansible_collections.podnet.doctor.plugins.module_utils.network.protocols import tool_protocol
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import read_text

COMMENT = "podnet.doctor"
NFT_FILE = "/etc/nftables.d/podnet-doctor.nft"
NFT_CONF = "/etc/nftables.conf"
IPTABLES_RULES = "/etc/iptables/rules.v4"
NFT_HEADER = "# Managed by podnet.doctor (podnet.doctor.overlay_firewall); changes here are overwritten.\n"


def _spec(proto, port, last=None):
    return "%s/%s" % (port_span(port, last, "-"), proto) if port else proto


def desired_openings(facts, ports, node_networks, pod_cidr, cni, forward=True, groups=(), undecided=None):
    """[(packet, result, source network, purpose)] for every packet some backend drops: the overlay
    ``ports`` from the node networks, and each port set of ``groups`` ([(entries, networks)], see
    :func:`flows.range_packets`) opened whole where any port of it is dropped.

    Raises Unevaluable: nothing is changed in a ruleset that cannot be read. A port set of ``groups``
    the evaluator cannot decide (e.g. a NodePort source 0.0.0.0/0 that a 10.0.0.0/8 DROP splits) is left
    out and named in ``undecided`` when that list is given, so the overlay's own openings still happen."""
    wanted = []
    backends = flows.firewall_backends(facts)

    def judge(port_sets):
        for probe, whole, network, desc in flows.range_packets(facts, port_sets):
            result = flows.packet_result(backends, probe)
            if result["verdict"] != "accept":
                wanted.append((whole, result, network, desc))

    judge(flows.port_groups(ports, node_networks))
    for group in groups:
        if undecided is None:
            judge([group])
            continue
        before = len(wanted)
        try:
            judge([group])
        except Unevaluable as exc:
            del wanted[before:]
            entries, networks = group
            undecided.append("%s from %s: not opened, the firewall cannot be evaluated for it (%s)" % (
                ", ".join(_spec(proto, first, last) for proto, first, last, _desc in entries), ", ".join(networks), exc))
    if forward:
        for _name, packet in flows.forward_packets(facts, node_networks, pod_cidr, cni):
            result = flows.packet_result(backends, packet)
            if result["verdict"] != "accept":
                wanted.append((packet, result, pod_cidr, "forwarded pod traffic"))
    return wanted


def _rich_rule(network, proto, port, last=None, priority=None):
    proto = tool_protocol(proto)  # a number for IP protocols: firewalld hands names to /etc/protocols
    # firewalld writes a range first-last (firewalld.richlanguage.Rich_Port, checked by its portStr)
    match = 'port port="%s" protocol="%s"' % (port_span(port, last, "-"), proto) if port else 'protocol value="%s"' % proto
    head = 'rule priority="%d" family="ipv4"' % priority if priority is not None else 'rule family="ipv4"'
    return '%s source address="%s" %s accept' % (head, network, match)


def _rich_priority(firewalld_facts, zone):
    """None, or the priority our accept rich rule in ``zone`` needs to run before the zone's own drop/reject rich
    rules: firewalld runs rich rules with priority < 0 first (lowest first), then priority-0 drop/reject rules, then
    the allow chain a plain accept joins (firewalld >= 0.9, rich rule priorities). One below the lowest of them
    runs first, as an iptables accept is inserted above the rule that drops (a reject of 31000/tcp would otherwise
    keep the NodePort range closed there)."""
    config = ((firewalld_facts or {}).get("zones") or {}).get(zone) or ((firewalld_facts or {}).get("policies") or {}).get(zone) or {}
    denies = [rule["priority"] for rule in (firewalld.parse_rich_rule(text) for text in config.get("rich rules", []))
              if rule["action"] in ("drop", "reject") and rule["priority"] <= 0]
    return min(denies) - 1 if denies else None


def _nft_tokens(packet, network):
    if packet.hook == "forward":
        return ["ip", "saddr", network, "accept", "comment", '"%s"' % COMMENT]
    proto = tool_protocol(packet.proto)
    l4 = [proto, "dport", port_span(packet.dport, packet.dport_last, "-")] if packet.dport else ["meta", "l4proto", proto]
    return ["ip", "saddr", network] + l4 + ["accept", "comment", '"%s"' % COMMENT]


def _ipt_args(packet, network):
    args = ["-s", network]
    if packet.hook == "input":
        args += ["-p", tool_protocol(packet.proto)]
        if packet.dport:
            # the tcp/udp match takes a range as first:last (iptables-extensions(8), --destination-port)
            args += ["-m", packet.proto, "--dport", port_span(packet.dport, packet.dport_last, ":")]
    return args + ["-m", "comment", "--comment", COMMENT, "-j", "ACCEPT"]


def _ufw_cannot_open(label, packet):
    """ufw's rule language has no IP protocol without ports: what to do instead, by number."""
    return "%s: ufw has no rule for IP protocol %s; allow it in /etc/ufw/before.rules (-p %s)" % (
        label, packet.proto_number, packet.proto_number)


def opening(facts, packet, result, network, desc=None):
    """The change that makes the running firewall admit ``packet`` from ``network``
    (``result``: the drop, from :func:`flows.packet_result`) and keeps it at boot where the
    backend has a boot state of its own: ``commands`` to run, ``nft_lines`` for
    /etc/nftables.d/podnet-doctor.nft, ``ipt_lines`` ((chain, line)) for /etc/iptables/rules.v4,
    and ``unresolved``: what only the administrator can do, and why."""
    change = {"commands": [], "nft_lines": [], "ipt_lines": [], "unresolved": [], "docker_user": []}
    backend = result["backend"]
    label = _label(packet, network, result, desc, "")
    if backend == "firewalld":
        if packet.hook == "input":
            rich = _rich_rule(network, packet.proto, packet.dport, packet.dport_last,
                              _rich_priority(facts.get("firewalld"), result["zone"]))
            change["commands"] += [["firewall-cmd", "--zone=%s" % result["zone"], "--add-rich-rule=%s" % rich],
                                   ["firewall-cmd", "--permanent", "--zone=%s" % result["zone"], "--add-rich-rule=%s" % rich]]
        else:
            change["commands"] += [["firewall-cmd", "--zone=trusted", "--add-source=%s" % network],
                                   ["firewall-cmd", "--permanent", "--zone=trusted", "--add-source=%s" % network]]
    elif backend.startswith("iptables") and facts.get("ufw_active"):
        if packet.hook == "forward":
            change["commands"] += [["ufw", "route", "allow", direction, network, "comment", COMMENT] for direction in ("from", "to")]
        elif packet.dport:
            change["commands"].append(_ufw_allow(packet, network, facts))
        else:
            change["unresolved"].append(_ufw_cannot_open(label, packet))
    elif packet.hook == "forward" and docker_forward.docker_owned_drop(facts, result, flows.parsed_ruleset, network):
        ruleset = flows.parsed_ruleset(facts, docker_forward.tool(backend, network).replace("-", "_"))
        change["commands"] += docker_forward.insert_commands(backend, network, packet, ruleset)
        change["docker_user"] += docker_forward.unit_entries(backend, network, [packet])
        change["docker_direct"] = docker_forward.firewalld_running(facts)
    elif backend.startswith("iptables") and result.get("table", "filter") != "filter":
        chain, table = result["chain"], result["table"]
        change["commands"].append([backend, "-t", table, "-I", chain, "1"] + _ipt_args(packet, network))
        change["unresolved"].append("%s: opened now in table %s; add the same rule to the *%s table of %s so it "
                                    "survives a reboot" % (label, table, table, IPTABLES_RULES))
    elif backend.startswith("iptables"):
        chain = result["chain"]
        args = _ipt_args(packet, network)
        change["commands"].append([backend, "-I", chain, "1"] + args)
        if packet.hook == "forward":
            reverse = ["-d" if a == "-s" else a for a in args]
            change["commands"].append([backend, "-I", chain, "1"] + reverse)
            change["ipt_lines"].append((chain, " ".join(["-A", chain] + reverse)))
        change["ipt_lines"].append((chain, " ".join(["-A", chain] + args)))
    elif backend == "nftables":
        family, table, chain = result["chain"]
        tokens = _nft_tokens(packet, network)
        variants = [tokens, ["daddr" if t == "saddr" else t for t in tokens]] if packet.hook == "forward" else [tokens]
        for variant in variants:
            change["commands"].append(["nft", "insert", "rule", family, table, chain] + variant)
            change["nft_lines"].append(" ".join(["insert", "rule", family, table, chain] + variant))
    else:
        change["unresolved"].append("%s: no fixer for backend %s" % (label, backend))
    return change


def boot_opening(boot, packet, result, network, firewalld_running, desc=None):
    """The change that makes the boot configuration (``boot``: :func:`gather_boot.gather_boot`)
    admit ``packet``, in the shape of :func:`opening`: the runtime is left alone."""
    change = {"commands": [], "nft_lines": [], "ipt_lines": [], "unresolved": []}
    backend = result["backend"]
    label = _label(packet, network, result, desc, " at the next boot")
    if backend == "firewalld":
        rich = "--add-rich-rule=%s" % _rich_rule(network, packet.proto, packet.dport, packet.dport_last,
                                                 _rich_priority(boot.get("firewalld"), result["zone"]))
        change["commands"].append(["firewall-cmd", "--permanent", "--zone=%s" % result["zone"], rich] if firewalld_running else
                                  ["firewall-offline-cmd", "--zone=%s" % result["zone"], rich])
    elif backend.startswith("iptables") and boot.get("ufw_active"):
        if packet.dport:
            change["commands"].append(_ufw_allow(packet, network, boot))
        else:
            change["unresolved"].append(_ufw_cannot_open(label, packet))
    elif backend.startswith("iptables") and result.get("table", "filter") != "filter":
        # rules.v4 lines are written into its *filter table: a PREROUTING line there would make
        # iptables-restore refuse the whole file at boot, leaving the node with no firewall
        change["unresolved"].append("%s: the drop is in table %s; add an accept for it to the *%s table of the "
                                    "file that is restored at boot" % (label, result["table"], result["table"]))
    elif backend.startswith("iptables"):
        change["ipt_lines"].append((result["chain"], " ".join(["-A", result["chain"]] + _ipt_args(packet, network))))
    elif backend == "nftables":
        family, table, chain = result["chain"]
        change["nft_lines"].append(" ".join(["insert", "rule", family, table, chain] + _nft_tokens(packet, network)))
    else:
        change["unresolved"].append("%s: no fixer for backend %s" % (label, backend))
    return change


def describe_changes(changes, root="/"):
    """Changes of :func:`opening` or :func:`boot_opening` as the text a check's ``fix`` shows: the
    commands the fixer runs, then its file lines put through the same persistence steps as
    :func:`plan_overlay_fix` against the node's files under ``root`` (the line added to our nft
    file or to rules.v4, or why the fixer cannot persist it), then what it leaves to the admin."""
    plan = {"commands": [], "files": {}, "unresolved": [], "openings": []}
    nft_lines, ipt_lines = [], []
    for change in changes:
        _merge_change(plan, change, nft_lines, ipt_lines)
    try:
        _plan_nft_persistence(plan, root, nft_lines)
        _plan_ipt_persistence(plan, root, ipt_lines)
    except Unevaluable as exc:
        plan["unresolved"].append(str(exc))
    _plan_docker_user_unit(plan, root)
    parts = [" ".join(shlex.quote(arg) for arg in argv) for argv in plan["commands"]]
    for path, lines, where in ((NFT_FILE, nft_lines, "%s, included from %s" % (NFT_FILE, NFT_CONF)),
                               (IPTABLES_RULES, [line for _chain, line in ipt_lines], "the *filter table of %s" % IPTABLES_RULES)):
        change = plan["files"].get(path)
        if change is None:
            continue
        before = (change["before"] or "").splitlines(True)
        parts += ["add '%s' to %s" % (line, where) for line in lines if line + "\n" not in before]
    if NFT_CONF in plan["files"]:
        parts.append("include %s from %s (a backup is kept)" % (NFT_FILE, NFT_CONF))
    if docker_forward.UNIT_PATH in plan["files"]:
        parts.append("write %s (re-adds the DOCKER-USER accepts after every dockerd start; Docker's own chains and its "
                     "FORWARD policy are left alone)" % docker_forward.UNIT_PATH)
    return "; ".join(parts + plan["unresolved"])


def _merge_change(plan, change, nft_lines, ipt_lines):
    """Add one :func:`opening` or :func:`boot_opening` to ``plan`` and the file lines, each item
    once; returns the commands it added."""
    fresh = [c for c in change["commands"] if c not in plan["commands"]]
    plan["commands"].extend(fresh)
    plan["unresolved"].extend(u for u in change["unresolved"] if u not in plan["unresolved"])
    nft_lines.extend(line for line in change["nft_lines"] if line not in nft_lines)
    ipt_lines.extend(line for line in change["ipt_lines"] if line not in ipt_lines)
    docker_user = plan.setdefault("docker_user", [])
    docker_user.extend(entry for entry in change.get("docker_user", []) if entry not in docker_user)
    plan["docker_direct"] = plan.get("docker_direct") or change.get("docker_direct", False)
    return fresh


def _label(packet, network, result, desc, when):
    spec = _spec(packet.proto, packet.dport, packet.dport_last) if packet.hook == "input" else "forward"
    return "%s%s from %s: %s%s by %s" % (spec, " (%s)" % desc if desc else "", network, result["verdict"], when, result["where"])


UFW_USER_DENY = re.compile(r"^-A ufw-user-input .*-j (DROP|REJECT|ufw-user-limit)\b", re.M)


def _ufw_user_denies(facts):
    """Whether ufw's user rules (ufw deny/reject/limit) drop anything, in the iptables dumps of ``facts``."""
    return any(UFW_USER_DENY.search(facts.get(key) or "") for key in ("iptables_nft", "iptables_legacy"))


def _ufw_allow(packet, network, facts):
    # with a user deny/reject/limit rule, `ufw allow` would append after it and iptables stops at the first match
    # (a deny of 31000/tcp inside the NodePort range keeps it closed): the accept goes first (`ufw prepend`,
    # ufw >= 0.36), as an iptables accept is inserted above the rule that drops
    return ufw_allow_command(network, packet.proto, packet.dport, packet.dport_last, prepend=_ufw_user_denies(facts))


def ufw_allow_command(network, proto, first, last=None, prepend=False):
    """``ufw allow`` (``ufw prepend allow`` with ``prepend``) for one port or a range; ufw takes a range as
    first:last and only with ``proto`` tcp or udp (ufw's parser: "Port ranges must be tcp or udp"), so anything
    else is a ValueError."""
    if last is not None and last != first and proto not in ("tcp", "udp"):
        raise ValueError("ufw opens the port range %s only for proto tcp or udp (got %r); give each range its protocol"
                         % (port_span(first, last, ":"), proto))
    verb = ["prepend", "allow"] if prepend else ["allow"]
    return ["ufw"] + verb + ["from", network, "to", "any", "port", port_span(first, last, ":"), "proto", proto, "comment", COMMENT]


def plan_overlay_fix(facts, ports, node_networks, pod_cidr, cni, root="/", forward=True, permanent_zones=None,
                     boot=None, groups=()):
    """Every command and file change, computed before anything runs. ``boot``: the rulesets the next
    boot loads (:func:`gather_boot.gather_boot`); what they drop is written to the boot configuration
    even when the running firewall accepts it (a port opened by hand at runtime only). ``groups``: more
    port sets to open from their own sources (the Kubernetes component ports and the NodePort range,
    :func:`k8s_ports_checks.port_groups`), ranges whole, by the same steps as the overlay's ports."""
    plan = {"commands": [], "files": {}, "unresolved": [], "openings": []}
    wanted = desired_openings(facts, ports, node_networks, pod_cidr, cni, forward, groups, undecided=plan["unresolved"])
    groups = flows.port_groups(ports, node_networks) + list(groups)
    nft_lines, ipt_lines = [], []
    seen = set()
    for packet, result, network, desc in wanted:
        key = (result["backend"], packet.hook, packet.proto, packet.dport, packet.dport_last, network,
               str(result.get("chain") or result.get("zone")))
        if packet.hook == "forward" and docker_forward.docker_owned_drop(facts, result, flows.parsed_ruleset, network):
            key += (packet.iif, packet.oif, str(packet.dst))  # Docker's accepts are per flow (interface pair, to pods or out)
        if key in seen:
            continue
        seen.add(key)
        plan["openings"].append(_label(packet, network, result, desc, ""))
        _merge_change(plan, opening(facts, packet, result, network, desc), nft_lines, ipt_lines)
    if permanent_zones is not None:
        _plan_firewalld_permanent(plan, facts, groups, permanent_zones)
    if boot is not None:
        _plan_boot_openings(plan, boot, groups, nft_lines, ipt_lines, (facts.get("firewalld") or {}).get("running"))
    if forward:
        _plan_docker_boot_gaps(plan, facts, root, node_networks, pod_cidr, cni)
    _plan_nft_persistence(plan, root, nft_lines)
    _plan_ipt_persistence(plan, root, ipt_lines)
    _plan_docker_user_unit(plan, root)
    return plan


def _plan_docker_boot_gaps(plan, facts, root, node_networks, pod_cidr, cni):
    """Docker's FORWARD DROP in force and pod traffic accepted now (DOCKER-USER filled by hand or by a
    run whose unit was removed) but nothing re-adds the accepts after a reboot: the unit only."""
    packets = [packet for _name, packet in flows.forward_packets(facts, node_networks, pod_cidr, cni)]
    try:
        reload_gaps = docker_forward.reload_gaps(facts, root, pod_cidr, packets, flows.parsed_ruleset)
    except Unevaluable as exc:
        reload_gaps = []
        plan["unresolved"].append(str(exc))
    for backend, _chains in reload_gaps:
        plan["docker_direct"] = True
        entries = [e for e in docker_forward.unit_entries(backend, pod_cidr, packets) if e not in plan.setdefault("docker_user", [])]
        plan["docker_user"] += entries
        plan["openings"].append("forward from %s: accepted now in %s DOCKER-USER, but the next firewall-cmd --reload flushes it "
                                "(not in firewalld's permanent direct rules)" % (pod_cidr, backend))
    for backend, _chains in docker_forward.boot_gaps(facts, root, pod_cidr, packets, flows.parsed_ruleset):
        entries = [e for e in docker_forward.unit_entries(backend, pod_cidr, packets) if e not in plan.setdefault("docker_user", [])]
        if entries:
            plan["docker_user"] += entries
            plan["openings"].append("forward from %s: accepted now in %s DOCKER-USER, but dropped after a reboot by Docker's "
                                    "FORWARD policy DROP (nothing re-adds the accept)" % (pod_cidr, backend))


def _plan_docker_user_unit(plan, root):
    """Our unit that re-adds the DOCKER-USER accepts of ``plan["docker_user"]`` after dockerd starts."""
    entries = sorted(plan.get("docker_user") or [])
    if not entries:
        return
    files, commands = docker_forward.unit_changes(root, entries)
    if not docker_forward.docker_service_present(root):
        note = ("no docker.service unit (%s): %s is written for it and will not run at boot; re-add the DOCKER-USER accepts "
                "after the unit that starts your dockerd (e.g. snap.docker.dockerd.service)"
                % (", ".join(docker_forward.DOCKER_UNIT_DIRS), docker_forward.UNIT))
        if note not in plan["unresolved"]:
            plan["unresolved"].append(note)
    if plan.get("docker_direct"):
        try:
            commands += docker_forward.direct_commands(root, entries)
        except Unevaluable as exc:
            plan["unresolved"].append(str(exc))
    plan["files"].update(files)
    plan["commands"].extend(c for c in commands if c not in plan["commands"])


def _plan_firewalld_permanent(plan, facts, groups, permanent_zones):
    """Accepted now but not by the permanent config: the next reload or boot drops it."""
    fwd = facts.get("firewalld") or {}
    for probe, packet, network, desc in flows.range_packets(facts, groups, permanent_zones):
        result = firewalld.firewalld_verdict(probe, permanent_zones, fwd.get("default_zone", "public"),
                                             fwd.get("services", {}), facts.get("protocols"), fwd.get("policies"))
        if result["verdict"] == "accept":
            continue
        command = ["firewall-cmd", "--permanent", "--zone=%s" % result["zone"],
                   "--add-rich-rule=%s" % _rich_rule(network, packet.proto, packet.dport, packet.dport_last,
                                                     _rich_priority({"zones": permanent_zones}, result["zone"]))]
        if command not in plan["commands"]:
            plan["commands"].append(command)
            plan["openings"].append("%s (%s) from %s: accepted now, but the permanent firewalld config "
                                    "drops it (%s)" % (_spec(packet.proto, packet.dport, packet.dport_last), desc, network,
                                                       result["where"]))


def _plan_boot_openings(plan, boot, groups, nft_lines, ipt_lines, firewalld_running):
    """What the next boot's rulesets drop, opened in the boot configuration only (runtime is
    handled above): the file line, the permanent rich rule, or ``ufw allow`` (ufw writes its
    rule files itself). Raises Unevaluable like the runtime plan."""
    backends = flows.firewall_backends(boot)
    for probe, packet, network, desc in flows.range_packets(boot, groups):
        result = flows.packet_result(backends, probe)
        if result["verdict"] == "accept":
            continue
        change = boot_opening(boot, packet, result, network, firewalld_running, desc)
        fresh = _merge_change(plan, change, nft_lines, ipt_lines)
        label = _label(packet, network, result, desc, " at the next boot")
        if (fresh or change["nft_lines"] or change["ipt_lines"]) and label not in plan["openings"]:
            plan["openings"].append(label)


def _plan_nft_persistence(plan, root, lines):
    if not lines:
        return
    conf = read_text(root, NFT_CONF)
    existing = read_text(root, NFT_FILE) or NFT_HEADER
    body = existing.splitlines(True)
    for line in lines:
        if line + "\n" not in body:
            body.append(line + "\n")
    include = 'include "%s"' % NFT_FILE
    tables = set(" ".join(line.split()[2:4]) for line in lines)
    defined, by_glob = _nft_text_before_our_file(root, conf or "")
    if conf is None or not all(("table %s" % t) in defined for t in tables):
        plan["unresolved"].append(
            "the nftables table(s) %s are not defined in %s before %s is loaded: the rules are opened at runtime only and will "
            "not come back after a reboot; include %s after the file that defines them, with: %s"
            % (", ".join(sorted(tables)), NFT_CONF, NFT_FILE, NFT_FILE, "; ".join(lines)))
        return  # nor the file: where a glob loads it before the table exists, nft -f would fail at boot
    plan["files"][NFT_FILE] = {"before": read_text(root, NFT_FILE), "after": "".join(body), "owned": True}
    if include not in conf and not by_glob:
        plan["files"][NFT_CONF] = {"before": conf, "after": conf.rstrip("\n") + "\n# podnet.doctor: overlay "
                                   "openings (see %s)\n%s\n" % (NFT_FILE, include), "backup": True}


def _nft_text_before_our_file(root, conf):
    """(text nft has read when it reaches our file, whether an ``include`` glob of ``conf`` already
    loads it). Our explicit include goes at the end of the file, so everything before counts; when a
    glob such as Debian's ``/etc/nftables.d/*.nft`` matches our file, only what comes before that
    include line and the files that glob loads before ours (nft sorts them) do."""
    text = []
    for line in conf.splitlines(True):
        match = re.match(r'\s*include\s+"(/[^"]+)"', line)
        if not match or match.group(1) == NFT_FILE:
            text.append(line)
            continue
        pattern = match.group(1)
        covers_ours = fnmatch.fnmatch(NFT_FILE, pattern)
        for path in sorted(glob.glob(os.path.join(root, pattern.lstrip("/")))):
            name = "/" + os.path.relpath(path, root)
            if covers_ours and name >= NFT_FILE:
                break
            text.append(read_text(root, name) or "")
        if covers_ours:
            return "".join(text), True
    return "".join(text), False


def _plan_ipt_persistence(plan, root, lines):
    if not lines:
        return
    text = read_text(root, IPTABLES_RULES)
    if text is None:
        plan["unresolved"].append("no %s (netfilter-persistent): the iptables rules are opened at runtime only and will "
                                  "not come back after a reboot; install iptables-persistent and save them, or add to "
                                  "the file your boot restores: %s" % (IPTABLES_RULES, "; ".join(line for _chain, line in lines)))
        return
    rows = text.splitlines(True)
    _check_tables_committed(rows, IPTABLES_RULES)
    for chain, line in lines:
        if line + "\n" in rows:
            continue
        start = next((i for i, r in enumerate(rows) if r.strip() == "*filter"), None)
        if start is None:
            plan["unresolved"].append("%s has no *filter table" % IPTABLES_RULES)
            return
        end = next(i for i in range(start, len(rows)) if rows[i].strip() == "COMMIT")
        first = next((i for i in range(start, end) if rows[i].startswith("-A %s " % chain)), end)
        rows.insert(first, line + "\n")
    after = "".join(rows)
    if after != text:
        plan["files"][IPTABLES_RULES] = {"before": text, "after": after, "backup": True}


def _check_tables_committed(rows, path):
    """Every ``*table`` of an iptables-restore file ends with ``COMMIT`` before the next table
    or the end; iptables-restore refuses the file otherwise, so nothing is planned into it."""
    opened, until = None, "the end of the file"
    for number, row in enumerate(rows, 1):
        line = row.strip()
        if line.startswith("*"):
            if opened is not None:
                until = "line %d (%s)" % (number, line)
                break
            opened = (number, line)
        elif line == "COMMIT":
            opened = None
    if opened is not None:
        raise Unevaluable("%s line %d: table %s has no COMMIT before %s; iptables-restore refuses this file "
                          "at boot. Add COMMIT at the end of that table, then run again"
                          % (path, opened[0], opened[1], until))


def boot_state_first(commands):
    """The commands in the order that is safe to interrupt: those that change the boot-time
    configuration (firewalld ``--permanent``) before those that change only the running one.
    Otherwise the plan's order is kept."""
    return sorted(commands, key=lambda argv: "--permanent" not in argv and argv[0] not in ("firewall-offline-cmd", "systemctl"))
