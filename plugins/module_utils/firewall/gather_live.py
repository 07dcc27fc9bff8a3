# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The running firewalls of a node: rulesets of nftables and both iptables backends, firewalld's zones and policies, ufw.

``gather_firewall(run, root)`` runs the read-only commands (``run(argv)`` returns (rc, stdout,
stderr)), parses every dump once (a damaged one is an error, never an empty ruleset), and reads
firewalld's service definitions under ``root``; :mod:`overlay_checks` judges what it returns."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import RulesetParseError
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import firewalld, flows
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.ufw import ufw_loaded
from ansible_collections.podnet.doctor.plugins.module_utils.network.protocols import read_protocols
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import read_text


# iptables-legacy-save dumps the tables this file lists (iptables/iptables-save.c, for_each_table: each line
# a table, nothing printed and exit 0 for none). Read in the node's network namespace like the command would.
LEGACY_TABLE_NAMES = "/proc/net/ip_tables_names"
# the same for ip6tables-legacy-save (net/ipv6/netfilter/ip6_tables.c registers ip6_tables_names)
LEGACY6_TABLE_NAMES = "/proc/net/ip6_tables_names"
# the IPv6 dumps, read for iptables.backends only: their failures go to ``errors6`` so that the IPv4 checks
# (overlay.inbound, overlay.forward), which never read them, are not turned into errors by them
IP6TABLES_DUMPS = (("ip6tables_legacy", ["ip6tables-legacy-save"], LEGACY6_TABLE_NAMES),
                   ("ip6tables_nft", ["ip6tables-nft-save"], None))


def _tool(run, argv):
    rc, out, err = run(argv)
    return {"rc": rc, "out": out, "err": err.strip()}


def _no_legacy_tables(root, names=LEGACY_TABLE_NAMES):
    """True when the kernel holds no iptables-legacy table: the file is there and empty, so the dump would be
    empty and the command is not run (one fork and exec less on every pre-flight of an nftables node). A
    missing or unreadable file decides nothing: the command runs as before."""
    return read_text(root, names) == ""


def _gather_ip6tables(run, root, which, facts):
    """``ip6tables_legacy``/``ip6tables_nft``: the dump, or None when the command is missing or failed (then named
    in ``errors6``)."""
    facts["errors6"] = []
    for key, argv, names in IP6TABLES_DUMPS:
        binary = which(argv[0])
        facts[key] = None
        if not binary:
            continue
        result = {"rc": 0, "out": "", "err": ""} if names and _no_legacy_tables(root, names) else _tool(run, [binary] + argv[1:])
        if result["rc"] != 0:
            facts["errors6"].append("%s failed (rc=%d): %s (run with become: true)" % (argv[0], result["rc"], result["err"]))
            continue
        facts[key] = result["out"]
        try:
            flows.parsed_ruleset(facts, key)
        except RulesetParseError as exc:
            facts["errors6"].append(str(exc))
            facts[key] = None


def gather_firewall(run, root="/", which=None, ip6tables=True):
    """Every ruleset and firewall state, read-only. ``ip6tables``: also the IPv6 dumps (only iptables.backends
    reads them; the overlay fix does not need them)."""
    which = which or (lambda name: name)
    facts = {"errors": [], "parsed": {}}
    # -d: the link details (linkinfo), which mtu.overlay needs for a VXLAN's underlay (``vxlan ... dev X`` is not in
    # the plain record); the same single call, the firewall checks read only ifname/flags/addr_info from it
    addr = _tool(run, ["ip", "-d", "-j", "addr", "show"])
    try:
        facts["addresses"] = json.loads(addr["out"]) if addr["rc"] == 0 and addr["out"].strip() else []
    except ValueError as exc:
        facts["addresses"] = []
        facts["errors"].append("ip -d -j addr show printed something that is not JSON (%s)" % exc)
    facts["protocols"] = read_protocols(root)
    for key, argv in (("nft", ["nft", "-j", "-p", "list", "ruleset"]),
                      ("iptables_legacy", ["iptables-legacy-save"]),
                      ("iptables_nft", ["iptables-nft-save"])):
        binary = which(argv[0])
        if not binary:
            facts[key] = None
            continue
        if key == "iptables_legacy" and _no_legacy_tables(root):
            result = {"rc": 0, "out": "", "err": ""}
        else:
            result = _tool(run, [binary] + argv[1:])
        if result["rc"] != 0:
            facts["errors"].append("%s failed (rc=%d): %s (run with become: true)"
                                   % (" ".join(argv), result["rc"], result["err"]))
            facts[key] = None
            continue
        facts[key] = result["out"]
        try:  # parsed here, once: a damaged dump is an error, never an empty ruleset
            flows.parsed_ruleset(facts, key)
        except RulesetParseError as exc:
            facts["errors"].append(str(exc))
            facts[key] = None
    if ip6tables:
        _gather_ip6tables(run, root, which, facts)
    daemon = {"running": False}
    cmd = which("firewall-cmd") if process_running(root, "firewalld") else None
    if cmd:
        state = _tool(run, [cmd, "--state"])
        daemon["running"] = state["rc"] == 0 and state["out"].strip() == "running"
        if daemon["running"]:
            daemon["default_zone"] = firewall_cmd_read(run, [cmd, "--get-default-zone"], facts["errors"]).strip()
            daemon["active_zones"] = firewalld.parse_active_zones(
                firewall_cmd_read(run, [cmd, "--get-active-zones"], facts["errors"]))
            daemon["zones"] = firewalld.parse_all_zones(firewall_cmd_read(run, [cmd, "--list-all-zones"], facts["errors"]))
            # policies exist since firewalld 0.9 (bullseye): an older one refuses the option and has none;
            # any other failed read is an error like the zones'
            daemon["policies"] = firewalld.parse_all_zones(
                firewall_cmd_read(run, [cmd, "--list-all-policies"], facts["errors"], unsupported_is_empty=True))
            daemon["services"] = firewalld.firewalld_services(
                root, firewalld.firewalld_service_names(list(daemon["zones"].values()) + list(daemon["policies"].values())))
            match = re.search(r"^\s*FirewallBackend\s*=\s*(\w+)", read_text(root, "/etc/firewalld/firewalld.conf") or "", re.M)
            daemon["backend"] = match.group(1) if match else "nftables"
    facts["firewalld"] = daemon
    facts["ufw_active"] = ufw_loaded(facts.get("iptables_nft")) or ufw_loaded(facts.get("iptables_legacy"))
    return facts


def process_running(root, name):
    """Whether a process whose command name is ``name`` runs (``/proc/*/comm`` under ``root``).

    A Python daemon started from its script (firewalld) has the script's name as comm.
    Reading /proc costs far less than asking the daemon's own CLI, which is only run
    when the daemon is there."""
    proc = os.path.join(root, "proc")
    try:
        pids = [entry for entry in os.listdir(proc) if entry.isdigit()]
    except OSError:
        return True  # cannot tell: let the daemon's CLI answer
    for pid in pids:
        if (read_text(root, "proc/%s/comm" % pid) or "").strip() == name:  # None: it ended while we looked
            return True
    return False


def firewall_cmd_read(run, argv, errors, unsupported_is_empty=False):
    """stdout of a read-only ``firewall-cmd`` call; on a non-zero exit, "" and an entry in
    ``errors`` naming the command and its stderr: a failed read is never an empty zone list.
    ``unsupported_is_empty``: a firewalld too old to know the option (argparse's "unrecognized
    arguments") has nothing of that kind, so "" without an error."""
    result = _tool(run, argv)
    if result["rc"] != 0 and unsupported_is_empty and "unrecognized arguments" in result["err"]:
        return ""
    if result["rc"] != 0:
        command = " ".join([os.path.basename(argv[0])] + argv[1:])
        errors.append("%s failed (rc=%d): %s" % (command, result["rc"], result["err"] or result["out"].strip()))
        return ""
    return result["out"]
