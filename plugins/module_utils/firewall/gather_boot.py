# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""overlay.boot: the firewall the node will load at the next boot, and whether it admits the overlay.

"Passes now" is not "works after a reboot": a port opened at runtime only, a firewall enabled
at boot but stopped now, a boot file nobody reloaded. This module reads what systemd will start
(the unit links under /etc/systemd/system, masks included; presets are not enough) and lets the
firewalls' own tools parse their boot files into a throwaway network namespace, never the host's
live rules:

* nftables.service: ``nft -f /etc/nftables.conf`` (includes, variables and defines resolved by nft);
* any enabled unit that runs ``iptables[-legacy|-nft]-restore <file>`` (netfilter-persistent's
  /etc/iptables/rules.v4 with the ``iptables-restore`` the alternatives point at, or a site's own unit);
* ufw.service: ``/lib/ufw/ufw-init start`` (it honours ENABLED in /etc/ufw/ufw.conf and the default
  policies of /etc/default/ufw), with ``sysctl`` and ``modprobe`` bound to ``true`` in a private mount
  namespace so nothing outside the namespace changes;
* firewalld.service: the permanent configuration, ``firewall-offline-cmd --list-all-zones`` (the XML
  under /etc/firewalld over /usr/lib/firewalld, with or without the daemon running).

The result has the shape of :func:`gather_live.gather_firewall`'s facts, so the same evaluators
judge it. ``run(argv)`` returns (rc, stdout, stderr); ``which(name)`` a path or None."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import RulesetParseError
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import firewalld, flows, gather_live
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.ufw import ufw_enabled, ufw_loaded
from ansible_collections.podnet.doctor.plugins.module_utils.network.protocols import read_protocols
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import host_path, read_text, resolve_link

# systemd's unit search path, first wins (generator and transient directories left out)
UNIT_DIRS = ("etc/systemd/system", "run/systemd/system", "usr/local/lib/systemd/system", "usr/lib/systemd/system",
             "lib/systemd/system")
MASK_DIRS = ("etc/systemd/system", "run/systemd/system")
NFT_CONF = "/etc/nftables.conf"
NETFILTER_PERSISTENT_RULES = "/etc/iptables/rules.v4"
UFW_INIT = "/lib/ufw/ufw-init"
# site scripts ufw-init runs as root when executable: a read-only check never runs them
UFW_SITE_SCRIPTS = ("/etc/ufw/before.init", "/etc/ufw/after.init")
RESTORE_MENTION_RE = re.compile(r"\b(iptables(?:-legacy|-nft)?-restore)(?![\w-])")
# what follows the binary: its flags, then the file as a literal absolute path (optionally after "<")
RESTORE_ARGS_RE = re.compile(r"""^((?:\s+-[-\w=]*)*)\s*<?\s*['"]?(/[\w./@+-]+)['"]?(?=$|[\s;&|)'"])""")
NOFLUSH_RE = re.compile(r"(?:^|\s)(?:--noflush|-[a-zA-Z]*n[a-zA-Z]*)(?=\s|$)")
IFUPDOWN_FILES = ("/etc/network/interfaces", "/etc/network/interfaces.d")
IFUPDOWN_HOOK_RE = re.compile(r"^\s*(?:pre-up|up|post-up)\s+(.*)$")
SECTION = "@@podnet-boot "
# Runs inside ``unshare --net --mount``: loads each boot file with the real tool, then dumps
# what a fresh kernel would hold. Arguments: nft conf ("" = none), ufw-init ("" = none),
# then pairs of (restore binary, file). Paths are arguments, never part of the script text.
# systemd starts these units in no fixed order; this order keeps the most rules (nothing loaded
# later flushes what came before: nftables.conf's "flush ruleset" runs first, iptables-restore
# flushes only the tables it restores, ufw-init only its own chains), so a drop any order could
# keep is judged, never lost.
# sysctl and modprobe are bound to true for the whole script (iptables-legacy-restore may call
# modprobe, ufw-init sets its own PATH), over every path they exist at, never through command -v.
LOAD_SCRIPT = r"""
fail() { echo "$1" >&2; exit 3; }
nft_conf=$1 ufw_init=$2
shift 2
for t in sysctl modprobe; do
    for d in /usr/sbin /sbin /usr/bin /bin; do
        if [ -e "$d/$t" ]; then mount --bind /bin/true "$d/$t" || fail "mount --bind /bin/true $d/$t"; fi
    done
done
if [ -n "$nft_conf" ]; then nft -f "$nft_conf" || fail "nft -f $nft_conf"; fi
while [ $# -ge 2 ]; do "$1" "$2" || fail "$1 $2"; shift 2; done
if [ -n "$ufw_init" ]; then "$ufw_init" start quiet || fail "$ufw_init start quiet"; fi
echo "@@podnet-boot nft"; if command -v nft >/dev/null; then nft -j -p list ruleset || fail "nft -j -p list ruleset"; fi
for save in iptables-legacy-save iptables-nft-save; do
    echo "@@podnet-boot $save"; if command -v $save >/dev/null; then $save || fail "$save"; fi
done
"""


def _masked(root, unit):
    for directory in MASK_DIRS:
        path = os.path.join(root, directory, unit)
        if os.path.islink(path) and os.readlink(path) == "/dev/null":
            return True
        if os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) == 0:
            return True
    return False


def _wanted_units(root):
    """Names linked from any ``*.wants``/``*.requires`` directory (what ``systemctl enable`` writes,
    and the static links of /usr/lib); one directory listing each, no per-unit globbing."""
    names = set()
    for directory in UNIT_DIRS:
        base = os.path.join(root, directory)
        try:
            entries = os.listdir(base)
        except OSError:
            continue
        for entry in entries:
            if entry.endswith((".wants", ".requires")):
                try:
                    names.update(os.listdir(os.path.join(base, entry)))
                except OSError:
                    continue
    return names


def unit_state(root, unit):
    """``masked``, ``enabled`` (a link in some ``*.wants``/``*.requires`` directory) or ``disabled``."""
    if _masked(root, unit):
        return "masked"
    return "enabled" if unit in _wanted_units(root) else "disabled"


def enabled_units(root):
    """Every unit linked from a ``*.wants``/``*.requires`` directory and not masked."""
    return sorted(name for name in _wanted_units(root) if not _masked(root, name))


def unit_text(root, unit):
    """The unit file systemd would load (first of /etc, /run, /usr/local/lib, /usr/lib, /lib), or ""."""
    for directory in UNIT_DIRS:
        path = "/%s/%s" % (directory, unit)
        if os.path.lexists(host_path(root, path)):
            return read_text(root, resolve_link(root, path)) or ""
    return ""


def iptables_backend_of(root, binary):
    """``iptables-legacy`` or ``iptables-nft``: what ``binary`` (e.g. ``iptables-restore``, through
    Debian's alternatives) really is."""
    if "-legacy-" in binary or "-nft-" in binary:
        return "iptables-legacy" if "-legacy-" in binary else "iptables-nft"
    for directory in ("/usr/sbin", "/sbin"):
        path = "%s/%s" % (directory, binary)
        if os.path.lexists(host_path(root, path)):
            real = os.path.basename(resolve_link(root, path))
            if "legacy" in real:
                return "iptables-legacy"
            return "iptables-nft"
    return "iptables-nft"  # Debian's default since bookworm


# Boot-time firewall loaders whose rules this check does not evaluate: an honest error, never "no firewall".
UNEVALUATED_UNITS = ("shorewall.service", "ferm.service", "firehol.service", "csf.service", "arno-iptables-firewall.service")
# Units that restore a fixed iptables-save file with the iptables-restore the alternatives select.
RESTORE_UNITS = {"netfilter-persistent.service": NETFILTER_PERSISTENT_RULES, "iptables.service": "/etc/sysconfig/iptables"}
# Scripts run at boot by an enabled unit, scanned for iptables-restore like a unit's ExecStart.
BOOT_SCRIPTS = {"networking.service": ("/etc/network/if-pre-up.d", "/etc/network/if-up.d"),
                "rc-local.service": ("/etc/rc.local",)}


def iptables_restores(root, units, errors=None):
    """[(unit, backend, file)]: the iptables-restore files systemd loads at boot (unit ExecStart lines,
    the scripts BOOT_SCRIPTS names, ifupdown's pre-up/up/post-up lines). A restore whose file is not a
    literal absolute path, or that runs with ``--noflush``, goes to ``errors``: never silently skipped."""
    found, errors = [], errors if errors is not None else []
    for unit in units:
        if unit in RESTORE_UNITS:
            if os.path.isfile(host_path(root, RESTORE_UNITS[unit])):
                found.append((unit, iptables_backend_of(root, "iptables-restore"), RESTORE_UNITS[unit]))
            continue
        sources = [(unit, [line for line in unit_text(root, unit).splitlines()
                           if re.match(r"\s*ExecStart(Pre|Post)?\s*=", line)])]
        for script in _boot_scripts(root, unit):
            name = "/" + os.path.relpath(script, root)
            sources.append(("%s (%s)" % (unit, name),
                            [line for line in _boot_file_text(root, name, errors).splitlines() if not line.lstrip().startswith("#")]))
        if unit == "networking.service":
            sources += _ifupdown_hook_lines(root, errors)
        for where, lines in sources:
            for line in lines:
                for binary, path in _restore_commands(line, where, errors):
                    entry = (unit, iptables_backend_of(root, binary), path)
                    if entry not in found:
                        found.append(entry)
    return found


def _restore_commands(line, where, errors):
    """[(binary, file)] of each ``*-restore`` on ``line``; an error for any it cannot pin to one literal file."""
    commands = []
    for match in RESTORE_MENTION_RE.finditer(line):
        args = RESTORE_ARGS_RE.match(line[match.end():])
        dynamic = re.search(r"[$`]|(?<!\|)\|(?!\|)", line)
        if not args or dynamic:
            errors.append("%s runs %s on something other than a literal absolute file (%s): the rules it loads "
                          "at boot are not modelled; judge by hand" % (where, match.group(1), line.strip()))
            continue
        if NOFLUSH_RE.search(args.group(1)):
            errors.append("%s runs %s with --noflush (%s): it adds to rules loaded before it in an order this check "
                          "does not model; judge by hand" % (where, match.group(1), line.strip()))
            continue
        commands.append((match.group(1), args.group(2)))
    return commands


def _boot_file_text(root, path, errors):
    """The text of a file the boot runs; one it cannot read is an error, never "loads nothing"."""
    text = read_text(root, path)
    if text is None:
        errors.append("%s runs at boot but cannot be read: what it loads is not known; judge by hand" % path)
    return text or ""


def _ifupdown_hook_lines(root, errors):
    """[(file, [command])]: the pre-up/up/post-up commands of /etc/network/interfaces and interfaces.d/*."""
    files = []
    for path in IFUPDOWN_FILES:
        full = host_path(root, path)
        if os.path.isdir(full):
            files += [os.path.join(path, name) for name in sorted(os.listdir(full))
                      if os.path.isfile(os.path.join(full, name))]
        elif os.path.isfile(full):
            files.append(path)
    result = []
    for path in files:
        lines = [IFUPDOWN_HOOK_RE.match(line) for line in _boot_file_text(root, path, errors).splitlines()]
        result.append(("networking.service (%s)" % path, [m.group(1) for m in lines if m]))
    return result


def _boot_scripts(root, unit):
    """Executable scripts ``unit`` runs at boot (ifupdown's hook directories, /etc/rc.local)."""
    scripts = []
    for path in BOOT_SCRIPTS.get(unit, ()):
        full = host_path(root, path)
        candidates = [os.path.join(full, n) for n in sorted(os.listdir(full))] if os.path.isdir(full) else [full]
        scripts += [c for c in candidates if os.path.isfile(c) and os.access(c, os.X_OK)]
    return scripts


def _sections(text):
    parts, current = {}, None
    for line in text.splitlines(True):
        if line.startswith(SECTION):
            current = line[len(SECTION):].strip()
            parts[current] = ""
        elif current:
            parts[current] += line
    return parts


def _firewalld_conf(root, key, default):
    match = re.search(r"^\s*%s\s*=\s*(\S+)" % key, read_text(root, "/etc/firewalld/firewalld.conf") or "", re.M)
    return match.group(1) if match else default


def gather_boot(run, root="/", which=None, addresses=None):
    """The rulesets the next boot loads, as gather_firewall-shaped facts plus ``loaders`` (the unit
    and file that loads each) and ``enabled_units`` (:func:`enabled_units`, listed once for every check
    of the call); ``addresses`` are the node's (``ip -j addr``) for the packets."""
    which = which or (lambda name: name)
    facts = {"errors": [], "parsed": {}, "addresses": addresses or [], "loaders": [],
             "protocols": read_protocols(root), "nft": None, "iptables_legacy": None,
             "iptables_nft": None, "firewalld": {"running": False}}
    units = facts["enabled_units"] = enabled_units(root)
    for unit in units:
        if unit in UNEVALUATED_UNITS:
            facts["errors"].append("%s is enabled at boot and loads rules this check does not evaluate; judge its "
                                   "configuration by hand, or add podnet.doctor's opening there" % unit)
    nft_conf = ""
    if "nftables.service" in units and which("nft"):
        if os.path.isfile(host_path(root, NFT_CONF)):
            nft_conf = host_path(root, NFT_CONF)
            facts["loaders"].append("nftables.service (%s)" % NFT_CONF)
        else:
            facts["errors"].append("nftables.service is enabled but %s does not exist: it fails at boot" % NFT_CONF)
    ufw_init = ""
    if "ufw.service" in units and os.path.isfile(host_path(root, UFW_INIT)):
        ufw_init = host_path(root, UFW_INIT)
        for script in UFW_SITE_SCRIPTS:
            if os.path.isfile(host_path(root, script)) and os.access(host_path(root, script), os.X_OK):
                facts["errors"].append("%s is executable: podnet.doctor does not run site scripts to judge the boot "
                                       "firewall; judge it by hand" % script)
                ufw_init = ""
    pairs, unmodelled = [], list(facts["errors"])
    restores = iptables_restores(root, units, facts["errors"])
    _unmodelled_order(root, restores, ufw_init, facts["errors"])
    for unit, backend, path in restores:
        binary = which("%s-restore" % backend)
        if not binary:
            facts["errors"].append("%s restores %s with %s-restore, which is not installed" % (unit, path, backend))
            continue
        if not os.path.isfile(host_path(root, path)):
            facts["errors"].append("%s restores %s, which does not exist: it fails at boot" % (unit, path))
            continue
        pairs += [binary, host_path(root, path)]
        facts["loaders"].append("%s (%s with %s-restore)" % (unit, path, backend))
    if facts["errors"] != unmodelled:
        nft_conf, ufw_init, pairs = "", "", []  # no verdict from a partial load
    if nft_conf or ufw_init or pairs:
        unshare = which("unshare")
        if not unshare:
            facts["errors"].append("unshare (util-linux) is needed to load the boot rulesets apart from the live ones")
        else:
            rc, out, err = run([unshare, "--net", "--mount", "--", "sh", "-c", LOAD_SCRIPT, "podnet-boot",
                                nft_conf, ufw_init] + pairs)
            if rc != 0:
                text = (err or out).strip()[-600:] or "no output"
                facts["errors"].append("loading the boot rulesets in a scratch network namespace failed (rc=%d): %s%s"
                                       % (rc, text, " (run with become: true)" if "not permitted" in text else ""))
            else:
                dumps = _sections(out)
                for key, section in (("nft", "nft"), ("iptables_legacy", "iptables-legacy-save"),
                                     ("iptables_nft", "iptables-nft-save")):
                    facts[key] = dumps.get(section) or None
                    if facts[key] is None:
                        continue
                    try:
                        flows.parsed_ruleset(facts, key)
                    except RulesetParseError as exc:
                        facts["errors"].append("boot ruleset: %s" % exc)
                        facts[key] = None
    facts["ufw_active"] = ufw_loaded(facts.get("iptables_nft")) or \
        ufw_loaded(facts.get("iptables_legacy"))
    if facts["ufw_active"]:
        facts["loaders"].append("ufw.service (/etc/ufw/*.rules, ENABLED=yes)")
    if "firewalld.service" in units:
        firewalld_unmodelled(root, facts["errors"])
        gather_firewalld_permanent(run, root, which, facts)
    return facts


def _unmodelled_order(root, restores, ufw_init, errors):
    """An error when more than one loader writes iptables rules at boot: systemd and ifupdown run them
    in an order this check does not model, and a later restore flushes the tables of an earlier one."""
    loaders, seen = [], set()
    for unit, backend, path in restores:
        if (backend, path) not in seen:
            seen.add((backend, path))
            loaders.append("%s (%s)" % (unit, path))
    if ufw_init and ufw_enabled(root):
        loaders.append("ufw.service (%s start)" % UFW_INIT)
    if len(loaders) > 1:
        errors.append("%s and %s both load iptables rules at boot in an order this check does not model (one may "
                      "flush the other); judge by hand" % (", ".join(loaders[:-1]), loaders[-1]))


def firewalld_unmodelled(root, errors):
    """Errors for the parts of firewalld's boot configuration firewall-offline-cmd --list-all-zones does not show:
    direct rules, and zones bound to interfaces by NetworkManager or ifcfg files."""
    from ansible_collections.podnet.doctor.plugins.module_utils.firewall import docker_forward  # it imports this module
    direct = read_text(root, "/etc/firewalld/direct.xml") or ""
    # podnet.doctor's own accepts in Docker's DOCKER-USER (docker_forward.direct_commands) are no unmodelled policy
    if re.search(r"<\s*(rule|passthrough)\b", direct) and not docker_forward.our_direct_rules_only(direct):
        errors.append("direct rules in /etc/firewalld/direct.xml are not evaluated; judge them by hand")
    for directory, suffix in (("/etc/NetworkManager/system-connections", ".nmconnection"),
                              ("/etc/sysconfig/network-scripts", "")):
        full = host_path(root, directory)
        if not os.path.isdir(full):
            continue
        for name in sorted(os.listdir(full)):
            if not (name.endswith(suffix) if suffix else name.startswith("ifcfg-")):
                continue
            text = read_text(root, "%s/%s" % (directory, name))
            if text is None:
                continue
            if _binds_zone(text, bool(suffix)):
                errors.append("%s/%s binds its interface to a firewalld zone: the boot zone of that interface is not "
                              "modelled; judge it by hand" % (directory, name))


def _binds_zone(text, keyfile):
    """``zone=`` non-empty in the [connection] section of a keyfile, or ``ZONE=`` non-empty in an ifcfg file."""
    if not keyfile:
        return bool(re.search(r"^\s*ZONE\s*=\s*['\"]?[^'\"\s]", text, re.M))
    section = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
        elif section == "connection" and re.match(r"zone\s*=\s*\S", stripped):
            return True
    return False


def gather_firewalld_permanent(run, root, which, facts):
    """firewalld's permanent zones, as it will load them at boot (daemon running or not)."""
    offline = which("firewall-offline-cmd")
    if not offline:
        facts["errors"].append("firewalld.service is enabled but firewall-offline-cmd is missing: cannot read its "
                               "permanent configuration")
        return
    out = gather_live.firewall_cmd_read(run, [offline, "--list-all-zones"], facts["errors"])
    if not out:
        return
    zones = firewalld.parse_all_zones(out)
    # policies (firewalld >= 0.9) filter host-bound traffic before or after the zones
    policies = firewalld.parse_all_zones(
        gather_live.firewall_cmd_read(run, [offline, "--list-all-policies"], facts["errors"], unsupported_is_empty=True))
    facts["firewalld"] = {"running": True, "zones": zones, "active_zones": {}, "policies": policies,
                          "default_zone": _firewalld_conf(root, "DefaultZone", "public"),
                          "backend": _firewalld_conf(root, "FirewallBackend", "nftables"),
                          "services": firewalld.firewalld_services(
                              root, firewalld.firewalld_service_names(list(zones.values()) + list(policies.values()))),
                          "offline": offline}
    facts["loaders"].append("firewalld.service (permanent configuration, default zone %s)"
                            % facts["firewalld"]["default_zone"])
