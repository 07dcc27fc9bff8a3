# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``netmgr.cni_links``: network managers that take over the CNI's links, routes or rules.

Read from configuration under a root plus cheap runtime facts (``/proc/*/comm``, networkd's own
state files under /run/systemd/netif); no daemon CLI is run.

- NetworkManager: a CNI link it does not list as unmanaged gets "connected (externally)" or a
  DHCP profile (typhoon#1007). Configuration as NM merges it (nm-config.c ``read_entire_config``):
  /usr/lib/NetworkManager/conf.d, then /run/NetworkManager/conf.d (each sorted, a same-named file
  in a later directory shadows it), then NetworkManager.conf, then /etc/NetworkManager/conf.d;
  ``key+=`` appends to a list, ``key-=`` removes from it. Device specs (NetworkManager.conf(5)
  "Device List Format"): ``;`` or ``,`` separated, ``interface-name:`` with ``*``/``?`` globs,
  ``interface-name:=`` literal, ``except:`` negates, ``*`` all.
- nm-cloud-setup: adds routing tables and policy rules of its own (rke2#1053, calico#4662).
- systemd-networkd: on a link it configures, it removes routes and routing policy rules it did
  not create (``ManageForeignRoutes=``/``ManageForeignRoutingPolicyRules=``, default yes;
  cilium#18706) when it starts or reconfigures; proven in the lab on systemd 252. Its
  networkd.conf is read only at start: networkd.c parses it once (manager_parse_config_file)
  before loading .network files, and the Reload D-Bus method behind ``networkctl reload``
  (networkd-manager.c ``manager_reload``: netdev_load, network_reload, link_reconfigure) never
  parses it again (read in v252 and in a later upstream source, v254-era); lab: systemd 252. So a
  running networkd that started before the drop-in it needs still removes foreign routes and
  rules at its next reconfigure of a link: that fails until a restart or a reboot.
- udev: the first .link file (by file name across /etc, /run, /usr/local/lib, /usr/lib, /lib;
  a same-named file in an earlier directory shadows it; empty or /dev/null masks it) whose
  [Match] fits a new link decides; ``MACAddressPolicy=persistent`` (systemd's 99-default.link)
  rewrites the MAC of virtual links since systemd 242, so flannel's VTEP MAC and the peers' FDB
  entries disagree (flannel#1155).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import glob
import os
import re

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import ConfigUnreadable
from ansible_collections.podnet.doctor.plugins.module_utils.network import host_networks, manager_config, service_state
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import host_path, read_text

CHECK_ID = "netmgr.cni_links"
MARKER = "# Managed by podnet.doctor"

# Link name globs of the CNIs (and kube-proxy's IPVS dummy), always protected.
CNI_LINK_GLOBS = ("cni*", "flannel*", "cali*", "vxlan*", "tunl*", "lxc*", "cilium*", "weave", "antrea*", "kube-*")
# The chosen CNI's own devices that the globs above miss.
CNI_EXTRA_GLOBS = {
    "calico": ("wireguard.cali", "wg-v6.cali"),
    "weave": ("vethwe*", "datapath"),
    "kube-router": host_networks.KUBE_ROUTER_TUNNEL_GLOBS,
}
# One concrete link per glob, with its kind and (udev/networkd) Type, to test [Match] sections with.
SAMPLE_LINKS = (
    ("cni0", "bridge"), ("flannel.1", "vxlan"), ("flannel-wg", "wireguard"), ("cali0a1b2c3d4e5", "veth"),
    ("vxlan.calico", "vxlan"), ("tunl0", "ipip"), ("lxc0a1b2c3d4e5", "veth"), ("cilium_host", "veth"),
    ("cilium_vxlan", "vxlan"), ("weave", "bridge"), ("antrea-gw0", "openvswitch"), ("kube-ipvs0", "dummy"),
    ("wireguard.cali", "wireguard"), ("vethwe-bridge", "veth"), ("datapath", "openvswitch"),
)

CNI_DEVICE_NAMES = frozenset(name for name, _kind in SAMPLE_LINKS)

NM_CONF_DIRS = ("usr/lib/NetworkManager/conf.d", "run/NetworkManager/conf.d")
NM_MAIN = "etc/NetworkManager/NetworkManager.conf"
NM_ETC_CONF_DIR = "etc/NetworkManager/conf.d"
NETWORK_DIRS = ("etc/systemd/network", "run/systemd/network", "usr/local/lib/systemd/network",
                "usr/lib/systemd/network", "lib/systemd/network")
NETWORKD_CONF = "etc/systemd/networkd.conf"
NETWORKD_DROPIN_DIRS = ("etc/systemd/networkd.conf.d", "run/systemd/networkd.conf.d",
                        "usr/local/lib/systemd/networkd.conf.d", "usr/lib/systemd/networkd.conf.d")
UDEVD_BINARIES = ("usr/lib/systemd/systemd-udevd", "lib/systemd/systemd-udevd")


def cni_link_globs(cni):
    return list(CNI_LINK_GLOBS) + [g for g in CNI_EXTRA_GLOBS.get(cni, ()) if g not in CNI_LINK_GLOBS]


def sample_links(cni, existing=()):
    """(name, kind) of the CNI links to judge: one per glob, plus the node's links that match a glob."""
    globs = cni_link_globs(cni)
    links = [(name, kind) for name, kind in SAMPLE_LINKS if any(fnmatch.fnmatchcase(name, g) for g in globs)]
    known = set(name for name, _kind in links)
    for name, kind in existing:
        if name not in known and any(fnmatch.fnmatchcase(name, g) for g in globs):
            links.append((name, kind))
    return links


# ---------------------------------------------------------------- NetworkManager --------------------

def nm_config_files(root):
    """NetworkManager's configuration in the order it reads it (nm-config.c read_entire_config)."""
    etc_names = set(os.path.basename(p) for p in manager_config.conf_names(root, NM_ETC_CONF_DIR))
    run_names = set(os.path.basename(p) for p in manager_config.conf_names(root, NM_CONF_DIRS[1]))
    files = [p for p in manager_config.conf_names(root, NM_CONF_DIRS[0]) if os.path.basename(p) not in etc_names | run_names]
    files += [p for p in manager_config.conf_names(root, NM_CONF_DIRS[1]) if os.path.basename(p) not in etc_names]
    files.append("/" + NM_MAIN)
    return files + manager_config.conf_names(root, NM_ETC_CONF_DIR)


def split_specs(value):
    return [s.strip() for s in re.split(r"[;,]", value) if s.strip()]


def nm_unmanaged_specs(root, without_ours=False):
    """The merged ``[keyfile] unmanaged-devices`` list as [(spec, file, line)], and the ``[device*]``
    sections that set ``managed`` (or stop the search: ``stop-match=yes``) as [(match-device specs,
    managed: True/False/None (not a boolean: no decision), file, line)] in the order NetworkManager
    looks them up: sections of later files first, within a file top to bottom, the bare [device] last
    (nm-config.c read_config and _sort_groups_cmp reverse each file's [device*] groups, and
    nm-config-data.c _match_section_infos_construct reverses them all again); a section name seen in
    an earlier file keeps that file's place, a later file's keys override its keys."""
    specs, sections, order = [], {}, []
    for index, path in enumerate(nm_config_files(root)):
        text = manager_config.read_config(root, path)
        if text is None or (without_ours and text.startswith(MARKER)):
            continue
        for section, key, op, value, number in manager_config.parse_ini(text):
            if section == "keyfile" and key == "unmanaged-devices":
                new = split_specs(value)
                if op == "=":
                    specs = [(s, path, number) for s in new]
                elif op == "+=":
                    specs += [(s, path, number) for s in new if s not in [x[0] for x in specs]]
                else:
                    specs = [x for x in specs if x[0] not in new]
            elif section and section.startswith("device") and key in ("match-device", "managed", "stop-match") and op == "=":
                if section not in sections:
                    sections[section] = {}
                    order.append((section == "device", -index, len(order), section))
                sections[section][key] = (value, path, number)
    devices = []
    for _bare, _file, _place, section in sorted(order):
        keys = sections[section]
        stop = manager_config.parse_bool(keys.get("stop-match", ("no",))[0])
        if "managed" not in keys and not stop:
            continue
        where = keys.get("managed") or keys["stop-match"]
        devices.append((split_specs(keys.get("match-device", ("*",))[0]),
                        manager_config.parse_bool(keys["managed"][0]) if "managed" in keys else None, where[1], where[2]))
    return specs, devices


def _nm_glob(pattern, name):
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.match("^%s$" % regex, name) is not None


# type: as NetworkManager names the device types of a CNI's links (nm-device.c get_type_description: the
# class name without NMDevice, lower case, a veth being "ethernet"; a generic device: the kernel's link kind)
NM_DEVICE_TYPES = {"veth": "ethernet", "ipip": "iptunnel"}


# the tags of NetworkManager's device specs (nm-core-utils.c match_device_eval); a spec with none is a
# literal interface name or a MAC address, except after except:
NM_SPEC_TAGS = ("type:", "mac:", "interface-name:", "driver:", "s390-subchannels:", "dhcp-plugin:")


def nm_spec_matches(spec, name, kind, untagged=True):
    """Whether one device spec (no ``except:``) matches a link ``name`` of ``kind``; ``untagged``: whether
    a spec without a tag may match the name (not inside ``except:``)."""
    if spec == "*":
        return True
    if spec.startswith("interface-name:"):
        pattern = spec[len("interface-name:"):]
        if pattern.startswith("="):
            return pattern[1:] == name
        return _nm_glob(pattern[1:] if pattern.startswith("~") else pattern, name)
    if spec.startswith("type:"):
        return kind is not None and spec[len("type:"):] == NM_DEVICE_TYPES.get(kind, kind)
    if spec.startswith("driver:"):
        driver, _slash, version = spec[len("driver:"):].rpartition("/")
        # the driver literally; a version other than * cannot be told from here
        return kind is not None and (driver == kind and version == "*" if driver else version == kind)
    if spec.startswith(NM_SPEC_TAGS):
        return False  # mac:, s390-subchannels:, dhcp-plugin:: never a CNI's random-MAC virtual link
    return untagged and spec == name  # a bare MAC never equals a link name


def nm_list_matches(specs, name, kind):
    """NM's device-list rule: matched by a positive spec and by no ``except:`` one; a list of only
    ``except:`` specs matches every device none of them names; an empty list matches none."""
    if not specs:
        return False
    positives = [s for s in specs if not s.startswith("except:")]
    negatives = [s[len("except:"):] for s in specs if s.startswith("except:")]
    if any(nm_spec_matches(s, name, kind, untagged=False) for s in negatives):
        return False
    return not positives or any(nm_spec_matches(s, name, kind) for s in positives)


UDEV_RULES_DIRS = ("etc/udev/rules.d", "run/udev/rules.d", "usr/lib/udev/rules.d", "lib/udev/rules.d")
NM_UDEV_RULES = "85-nm-unmanaged.rules"


def nm_udev_unmanages_veth(root):
    """Whether NetworkManager's own udev rule (85-nm-unmanaged.rules: ``ID_NET_DRIVER=="veth"``,
    name not ``eth[0-9]*`` -> ``NM_UNMANAGED=1``) is in force: the first of the rule directories
    that has the file decides, and an empty file or /dev/null masks it."""
    for directory in UDEV_RULES_DIRS:
        path = "/%s/%s" % (directory, NM_UDEV_RULES)
        if not os.path.lexists(host_path(root, path)):
            continue
        if manager_config.masked(root, path):
            return False
        for line in (manager_config.read_config(root, path) or "").splitlines():
            if not line.lstrip().startswith("#") and 'ENV{ID_NET_DRIVER}=="veth"' in line and 'ENV{NM_UNMANAGED}="1"' in line:
                return True
        return False
    return False


def nm_managed_links(root, links, without_ours=False):
    """[(name, why)] of the CNI links NetworkManager would manage (lab, NetworkManager 1.42: a CNI
    bridge with an address becomes "connected (externally)"; a veth is left alone by its udev rule)."""
    specs, devices = nm_unmanaged_specs(root, without_ours)
    spec_list = [s for s, _f, _n in specs]
    veth_unmanaged = nm_udev_unmanages_veth(root)
    managed = []
    for name, kind in links:
        if spec_list and nm_list_matches(spec_list, name, kind):
            continue  # NM_UNMANAGED_USER_SETTINGS: nothing overrides it
        decided = None
        for match, is_managed, path, number in devices:
            if nm_list_matches(match, name, kind):
                decided = (is_managed, path, number)
                break
        if decided and decided[0] is False:
            continue
        if decided and decided[0]:  # NM_UNMANAGED_USER_CONF overrides the udev rule (nm-device.c _get_managed_by_flags)
            managed.append((name, "%s line %d sets managed=1" % decided[1:]))
            continue
        if veth_unmanaged and kind == "veth" and not fnmatch.fnmatchcase(name, "eth[0-9]*"):
            continue
        managed.append((name, "not in [keyfile] unmanaged-devices"))
    return managed


# ---------------------------------------------------------------- systemd-networkd ------------------

def networkd_settings(root):
    """{key: (value, file, line)} for ManageForeignRoutes and ManageForeignRoutingPolicyRules as
    networkd reads them: networkd.conf, then its networkd.conf.d drop-ins (later wins); an
    invalid value is ignored with a warning, as systemd does."""
    settings = {"ManageForeignRoutes": (True, None, None), "ManageForeignRoutingPolicyRules": (True, None, None)}
    ignored = []
    files = ["/" + NETWORKD_CONF] + manager_config.config_files(root, NETWORKD_DROPIN_DIRS, ".conf")
    for path in files:
        text = manager_config.read_config(root, path)
        if text is None:
            continue
        for section, key, _op, value, number in manager_config.parse_ini(text):
            if section == "Network" and key in settings:
                parsed = manager_config.parse_bool(value)
                if parsed is None:
                    ignored.append("%s line %d: %s=%s is not a boolean (networkd ignores it)" % (path, number, key, value))
                else:
                    settings[key] = (parsed, path, number)
    return settings, ignored


def networkd_managed_links(parsed, links):
    """[(name, file)] of ``links`` a .network file would configure (first match, not Unmanaged=yes);
    ``parsed``: the .network files (manager_config.parsed_files)."""
    found = []
    for name, path, text in manager_config.first_matches(parsed, links, ("Name",)):
        unmanaged = manager_config.link_setting(text, "Link", "Unmanaged")
        if unmanaged and manager_config.parse_bool(unmanaged[0]):
            continue
        found.append((name, path))
    return found


def networkd_state_links(root):
    """[(name, .network file)] of the links networkd configures now (its /run/systemd/netif state)."""
    found = []
    directory = host_path(root, "/run/systemd/netif/links")
    for entry in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        text = read_text(root, "/run/systemd/netif/links/%s" % entry) or ""
        fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        if fields.get("ADMIN_STATE") in ("configuring", "configured") and fields.get("NETWORK_FILE"):
            found.append((_ifname(root, entry), fields["NETWORK_FILE"]))
    return found


def _ifname(root, ifindex):
    base = host_path(root, "/sys/class/net")
    for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        if (read_text(root, "/sys/class/net/%s/ifindex" % name) or "").strip() == ifindex:
            return name
    return "ifindex %s" % ifindex


def existing_links(root):
    """(name, kind) of the node's links; kind from the uevent DEVTYPE, else veth/ether."""
    base = host_path(root, "/sys/class/net")
    links = []
    for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        uevent = read_text(root, "/sys/class/net/%s/uevent" % name) or ""
        kind = dict(line.split("=", 1) for line in uevent.splitlines() if "=" in line).get("DEVTYPE", "veth")
        links.append((name, kind))
    return links


# ---------------------------------------------------------------- udev .link ------------------------

def link_files(root):
    return manager_config.config_files(root, NETWORK_DIRS, ".link")


def systemd_version(root):
    """From libsystemd-shared-<version>.so's name (no subprocess); None when not found."""
    for directory in ("usr/lib/systemd", "lib/systemd", "usr/lib/x86_64-linux-gnu/systemd", "usr/lib64/systemd"):
        for path in glob.glob(os.path.join(root, directory, "libsystemd-shared-*.so")):
            found = re.match(r"libsystemd-shared-(\d+)", os.path.basename(path))
            if found:
                return int(found.group(1))
    return None


# systemd 245 (PR #14761) ignores a .network/.link file without [Match] settings; before it, such a file
# matched every link (with a warning), and systemd 242-244's own 99-default.link had no [Match] section
EMPTY_MATCH_IGNORED_SINCE = 245


def _empty_match_key(root, key):
    version = systemd_version(root)
    return key if version is not None and version < EMPTY_MATCH_IGNORED_SINCE else None


LINK_DROPIN_DIRS = NETWORK_DIRS[:4]


def parsed_networks(root):
    """The .network files as networkd reads them (manager_config.parsed_files)."""
    return manager_config.parsed_files(root, manager_config.config_files(root, NETWORK_DIRS, ".network"),
                                       manager_config.NETWORK_MATCH_KEYS, _empty_match_key(root, "Name"), NETWORK_DIRS)


def parsed_links(root):
    """The .link files as udev reads them, each with its ``<name>.link.d/*.conf`` drop-ins (link-config.c
    link_load_one: config_parse_many over /etc, /run, /usr/local/lib and /usr/lib; manager_config.parsed_files)."""
    return manager_config.parsed_files(root, link_files(root), manager_config.LINK_MATCH_KEYS,
                                       _empty_match_key(root, "OriginalName"), LINK_DROPIN_DIRS)


def policy_wins(policy):
    """MACAddressPolicy=persistent/random: MACAddress= is then ignored (link-config.c link_load_one)."""
    return bool(policy) and policy[0] in ("persistent", "random")


def udev_mac_rewrites(root, links, without_ours=False):
    """[(name, file, line, setting)] of the links whose first .link sets a MAC policy or address."""
    parsed = [p for p in parsed_links(root)
              if not (without_ours and p[1].startswith(MARKER))]
    found = []
    for name, path, text in manager_config.first_matches(parsed, links, ("OriginalName",)):
        policy = manager_config.link_setting(text, "Link", "MACAddressPolicy")
        address = manager_config.link_setting(text, "Link", "MACAddress")
        for key, setting in (("MACAddressPolicy", policy if policy and policy[0] in ("persistent", "random") else None),
                             ("MACAddress", address if address and address[0] and not policy_wins(policy) else None)):
            if setting:
                # the .link that applies, the line that sets it (in a drop-in of it, named)
                source, number = manager_config.line_source(root, path, setting[1], LINK_DROPIN_DIRS)
                found.append((name, path, number, "%s=%s%s" % (key, setting[0], "" if source == path else " in " + source)))
                break
    return found


# ---------------------------------------------------------------- links the node configures by name --

NM_CONNECTION_DIRS = ("etc/NetworkManager/system-connections", "run/NetworkManager/system-connections",
                      "usr/lib/NetworkManager/system-connections")
# a kept name with one of these is not spelt out in a bracket expression: its glob is dropped whole
GLOB_CHARS = "*?[]\\"


def _literal_cni_name(word, globs):
    """A literal link name a CNI glob matches that is no CNI's own device name (a file naming cni0 or
    flannel.1 configures the CNI's link: that is the fault the check reports, not a link to keep)."""
    return word and not any(c in word for c in "*?[") and any(fnmatch.fnmatchcase(word, g) for g in globs) \
        and word not in CNI_DEVICE_NAMES


def nm_connection_files(root):
    """NetworkManager's keyfile connections: under /etc any file but a hidden, backup (``~``), temporary
    (``.XXXXXX``) or certificate one, elsewhere ``*.nmconnection`` only (nms-keyfile-plugin.c
    _ignore_filename, nm-keyfile.c nm_keyfile_utils_ignore_filename)."""
    files = []
    for directory in NM_CONNECTION_DIRS:
        try:
            names = sorted(os.listdir(os.path.join(root, directory)))
        except OSError:
            continue
        for name in names:
            if directory.startswith("etc/"):
                ignored = name.startswith(".") or name.endswith("~") or re.search(r"\.[A-Za-z0-9]{6}$", name) \
                    or name.lower().endswith((".pem", ".der"))
            else:
                ignored = not name.endswith(".nmconnection") or name == ".nmconnection"
            if not ignored and os.path.isfile(os.path.join(root, directory, name)):
                files.append("/%s/%s" % (directory, name))
    return files


def kept_links(root, parsed_networks, globs, uplinks=()):
    """[(name, why)] of the links a CNI glob matches that the node's own configuration names: a
    foreign .network's [Match] Name= word, a NetworkManager connection's interface-name=, or a link
    holding the node address (``uplinks``). The owned files leave them out: an Unmanaged=yes that
    sorts first would take the admin's own link (an EVPN vxlan100 uplink) at the next boot."""
    kept = {}
    for name in uplinks:
        if any(fnmatch.fnmatchcase(name, g) for g in globs):
            kept.setdefault(name, "%s holds the node address" % name)
    for path, text, match in parsed_networks:
        if text.startswith(MARKER):
            continue
        for word in manager_config.match_words(match.get("Name", [])):  # a negated word ('!x') names no link it configures
            if _literal_cni_name(word, globs):
                kept.setdefault(word, "%s [Match] Name=%s" % (path, word))
    for path in nm_connection_files(root):
        for section, key, _op, value, number in manager_config.parse_ini(manager_config.read_config(root, path) or ""):
            if section == "connection" and key == "interface-name" and _literal_cni_name(value, globs):
                kept.setdefault(value, "%s line %d interface-name=%s" % (path, number, value))
    return sorted(kept.items())


def _glob_without(prefix, suffixes):
    """fnmatch globs for ``prefix`` followed by anything but one of ``suffixes`` (the exact complement,
    by bracket expressions, which systemd's fnmatch and Python's read alike)."""
    rest = [s for s in suffixes if s]
    globs = [prefix] if len(rest) == len(suffixes) else []
    firsts = sorted(set(s[0] for s in rest), key=lambda c: (c == "-", c))  # '-' last: no range (a '!' or '^' after '!' is plain)
    globs.append(prefix + ("[!%s]*" % "".join(firsts) if firsts else "?*"))
    for char in firsts:
        globs += _glob_without(prefix + char, [s[1:] for s in rest if s[0] == char])
    return globs


def globs_without(globs, names):
    """``globs`` narrowed so that none matches one of ``names``: a ``prefix*`` glob becomes its exact
    complement, a literal entry that is one of them is dropped, any other glob that matches one (or a
    name with glob characters) is dropped whole (its CNI links then stay unprotected, and the check says so)."""
    narrowed = []
    for glob_ in globs:
        hits = [n for n in names if fnmatch.fnmatchcase(n, glob_)]
        if not hits:
            narrowed.append(glob_)
            continue
        prefix = glob_[:-1]
        if glob_.endswith("*") and not any(c in prefix for c in "*?[") and \
                not any(c in n for n in hits for c in GLOB_CHARS):
            narrowed += _glob_without(prefix, [n[len(prefix):] for n in hits])
    return narrowed


# ---------------------------------------------------------------- gather and judge ------------------

def _owned_files(root, paths):
    return [p for p in paths if (read_text(root, p) or "").startswith(MARKER)]


def owned_files_taking(root, parsed_networks, kept):
    """[(name, file)] of the kept links one of our own files takes (an earlier run's broad globs)."""
    taken = []
    # a kept link the node's own list unmanages already is not taken by ours (nothing changes for it)
    foreign = [spec for spec, _f, _n in nm_unmanaged_specs(root, without_ours=True)[0]]
    for path in _owned_files(root, nm_config_files(root)):
        specs = [s for section, key, _op, value, _n in manager_config.parse_ini(read_text(root, path) or "")
                 if section == "keyfile" and key == "unmanaged-devices" for s in split_specs(value)]
        taken += [(name, path) for name in kept if nm_list_matches(specs, name, None) and not nm_list_matches(foreign, name, None)]
    owned_links = [p for p in parsed_links(root) if p[1].startswith(MARKER)]
    for parsed, keys in (([p for p in parsed_networks if p[1].startswith(MARKER)], ("Name",)), (owned_links, ("OriginalName",))):
        for path, _text, match in parsed:
            taken += [(name, path) for name in kept if manager_config.match_fits(match, name, None, keys)]
    return taken


def gather(root, cni, enabled_units, uplinks=()):
    """Every fact the check needs. ``enabled_units(root)``: the units systemd starts at boot, masks
    honoured (gather_boot's reader); the processes are read once from /proc; ``uplinks``: the links
    holding the node address (never taken, whatever their name)."""
    existing = existing_links(root)
    globs = cni_link_globs(cni)
    facts = {"cni_link_globs": globs, "errors": [], "kept_links": []}
    try:
        parsed = parsed_networks(root)
        facts["kept_links"] = kept_links(root, parsed, globs, uplinks)
    except ConfigUnreadable as exc:
        parsed = []
        facts["errors"].append("link configuration: %s" % exc)
    kept = [name for name, _why in facts["kept_links"]]
    facts["network_globs"] = globs_without(globs, kept)
    links = [link for link in sample_links(cni, existing) if link[0] not in kept]
    facts["judged_links"] = links
    try:
        facts["owned_taking"] = owned_files_taking(root, parsed, kept)
    except ConfigUnreadable as exc:
        facts["errors"].append("link configuration: %s" % exc)
    enabled = set(enabled_units(root))
    running = service_state.service_pids(root)
    nm_enabled = "NetworkManager.service" in enabled
    nm_pid = running.get("NetworkManager.service")
    facts["networkmanager"] = {"enabled": nm_enabled, "running": nm_pid is not None, "unread": [],
                               "cloud_setup": [u for u in ("nm-cloud-setup.service", "nm-cloud-setup.timer") if u in enabled]}
    if nm_enabled or nm_pid:
        try:
            facts["networkmanager"]["manages"] = nm_managed_links(root, links)
            if nm_pid:
                facts["networkmanager"]["unread"] = service_state.not_reread(
                    root, nm_pid, "NetworkManager.service", _owned_files(root, nm_config_files(root)))
        except ConfigUnreadable as exc:
            facts["errors"].append("NetworkManager: %s" % exc)
    nd_enabled = "systemd-networkd.service" in enabled
    nd_pid = running.get("systemd-networkd.service")
    facts["networkd"] = {"enabled": nd_enabled, "running": nd_pid is not None}
    if nd_enabled or nd_pid:
        try:
            settings, ignored = networkd_settings(root)
            facts["networkd"].update(
                settings=dict((k, {"value": v[0], "file": v[1], "line": v[2]}) for k, v in settings.items()),
                ignored=ignored,
                cni_links=networkd_managed_links(parsed, links),
                configures=networkd_state_links(root) if nd_pid else [],
                # a kept link as its own files configure it: an earlier run's file of ours must not hide it
                configures_at_boot=networkd_managed_links(parsed, [(l[0], None) for l in existing if l[0] != "lo" and l[0] not in kept])
                + networkd_managed_links([p for p in parsed if not p[1].startswith(MARKER)],
                                         [(l[0], None) for l in existing if l[0] in kept]),
                # our .network files the running networkd has not read (networkctl reload re-reads them)
                unread_networks=service_state.not_reread(root, nd_pid, "systemd-networkd.service",
                                                         [p for p, t, _m in parsed if t.startswith(MARKER)]) if nd_pid else [],
                # the files that turn the settings off, written after the running networkd read its configuration
                unread=service_state.newer_than_process(root, nd_pid, [v[1] for v in settings.values() if v[1] and not v[0]])
                if nd_pid else [])
        except ConfigUnreadable as exc:
            facts["errors"].append("systemd-networkd: %s" % exc)
    udev = any(os.path.exists(os.path.join(root, p)) for p in UDEVD_BINARIES)
    facts["udev"] = {"installed": udev, "running": "systemd-udevd.service" in running, "systemd_version": systemd_version(root)}
    if udev:
        try:
            facts["udev"]["mac_rewrites"] = udev_mac_rewrites(root, links)
        except ConfigUnreadable as exc:
            facts["errors"].append("udev: %s" % exc)
    return facts


def networkd_restart_pending(nd):
    """The drop-ins that turn ManageForeign* off and that the running networkd has not read, when it
    configures links now (so its next reconfigure of one removes the CNI's routes and rules); else []."""
    if nd.get("running") and nd.get("configures"):
        return nd.get("unread", [])
    return []


def _names(pairs):
    return ", ".join(sorted(set(p[0] for p in pairs)))


def findings(facts):
    """(problems, present): what fails, one string each, and the managers found."""
    problems, present = [], []
    why = dict(facts.get("kept_links", []))
    problems += ["podnet.doctor's own %s takes %s (%s), which the node configures itself" % (path, name, why.get(name))
                 for name, path in facts.get("owned_taking", [])]
    nm = facts["networkmanager"]
    if nm["enabled"] or nm["running"]:
        present.append("NetworkManager (%s)" % ("running" if nm["running"] else "enabled"))
        if nm.get("manages"):
            problems.append("NetworkManager would manage %s (%s)" % (_names(nm["manages"]), nm["manages"][0][1]))
        if nm.get("unread"):
            problems.append("the running NetworkManager has not read %s: written after it started, and no reload since "
                            "was recorded (%s); until it re-reads it, it keeps managing the links it did"
                            % (", ".join(nm["unread"]), service_state.reload_marker("NetworkManager.service")))
    if nm["cloud_setup"]:
        present.append("nm-cloud-setup")
        problems.append("nm-cloud-setup is enabled (%s): it adds routing tables and policy rules of its own"
                        % ", ".join(nm["cloud_setup"]))
    nd = facts["networkd"]
    if nd["enabled"] or nd["running"]:
        present.append("systemd-networkd (%s)" % ("running" if nd["running"] else "enabled"))
        configures = sorted(set(nd.get("configures", []) + nd.get("configures_at_boot", [])))
        for key, what in (("ManageForeignRoutes", "routes"), ("ManageForeignRoutingPolicyRules", "routing policy rules")):
            setting = nd.get("settings", {}).get(key)
            if setting and setting["value"] and (configures or nd.get("cni_links")):
                where = ("%s line %d" % (setting["file"], setting["line"]) if setting["file"] else "the default")
                problems.append("systemd-networkd removes %s it did not create when it starts or reconfigures "
                                "%s: %s=yes (%s)" % (what, _names(configures + nd.get("cni_links", [])), key, where))
        unread = networkd_restart_pending(nd)
        if unread:
            problems.append(
                "the running systemd-networkd started before %s was written (ManageForeignRoutes=no, "
                "ManageForeignRoutingPolicyRules=no) and has not read it: it still removes routes and rules it did not "
                "create when it reconfigures %s (networkctl reload does not re-read networkd.conf; remediate does not "
                "restart networkd)" % (", ".join(unread), _names(nd["configures"])))
        if nd.get("unread_networks"):
            problems.append("the running systemd-networkd has not read %s: written after it started, and no reload "
                            "since was recorded (%s)" % (", ".join(nd["unread_networks"]),
                                                         service_state.reload_marker("systemd-networkd.service")))
        if nd.get("cni_links"):
            problems.append("systemd-networkd would configure CNI links: %s" % "; ".join(
                "%s by %s" % pair for pair in nd["cni_links"]))
    udev = facts["udev"]
    if udev["installed"]:
        present.append("udev")
        version = udev.get("systemd_version")
        if udev.get("mac_rewrites") and (version is None or version >= 242):
            by_file = {}
            for name, path, number, setting in udev["mac_rewrites"]:
                by_file.setdefault((path, number, setting), []).append(name)
            problems.append("udev rewrites the MAC of new CNI links: %s" % "; ".join(
                "%s by %s line %d (%s)" % (", ".join(names), path, number, setting)
                for (path, number, setting), names in sorted(by_file.items())))
    return problems, present


def kept_text(facts):
    """The links left out of the owned files, each with what names it; "" when none."""
    if not facts.get("kept_links"):
        return ""
    return ("left to the node's own configuration (never taken by podnet.doctor's files): %s"
            % "; ".join("%s (%s)" % pair for pair in facts["kept_links"]))


def evaluate(facts, fix_text):
    """The ``netmgr.cni_links`` result; ``fix_text`` renders the fixer's plan for these facts (or is a function
    that renders it, called only for a failing check)."""
    problems, present = findings(facts)
    notes_kept = [kept_text(facts)] if kept_text(facts) else []
    expected = ("no network manager takes over the CNI links (%s), their routes or rules"
                % " ".join(facts["cni_link_globs"]))
    if facts["errors"]:
        return check_result(CHECK_ID, "error", "; ".join(facts["errors"] + problems), expected,
                            "make the file readable to root and run again")
    if problems:
        return check_result(CHECK_ID, "fail", "; ".join(problems + notes_kept), expected,
                            fix_text() if callable(fix_text) else fix_text)
    if not present:
        return check_result(CHECK_ID, "skip", "no NetworkManager, systemd-networkd or udev on this node", expected)
    notes = ["%s: nothing takes over the CNI links" % ", ".join(present)]
    nd = facts["networkd"]
    configures = sorted(set(p[0] for p in nd.get("configures", []) + nd.get("configures_at_boot", [])))
    if configures:
        settings = nd["settings"]
        notes.append("systemd-networkd configures %s with %s" % (", ".join(configures), ", ".join(
            "%s=no (%s line %d)" % (key, settings[key]["file"], settings[key]["line"]) for key in sorted(settings))))
    if nd.get("unread"):
        notes.append("systemd-networkd started before %s was written and configures no link now: it reads it at its "
                     "next start, before it configures one" % ", ".join(nd["unread"]))
    if nd.get("ignored"):
        notes.append("; ".join(nd["ignored"]))
    return check_result(CHECK_ID, "pass", "; ".join(notes + notes_kept), expected)


def planned_fix_text(root, facts):
    """The fixer's plan for ``facts``, as the check's ``fix``. The fixer is imported here, for a failing check
    only: a node that passes does not compile it on every pre-flight (AnsiballZ ships it either way)."""
    from ansible_collections.podnet.doctor.plugins.module_utils.network import netmgr_fix
    return netmgr_fix.fix_text(netmgr_fix.plan_fix(root, facts))


def checks(root, cni, facts, enabled_units, uplinks=()):
    """The one call of node_info and of the fixer's re-read: the ``netmgr.cni_links`` result (its fix rendered
    from the plan the fixer would run), its facts stored under ``facts["netmgr"]``; ``enabled_units`` and
    ``uplinks`` as for :func:`gather`."""
    gathered = gather(root, cni, enabled_units, uplinks)
    facts["netmgr"] = gathered
    return [evaluate(gathered, lambda: planned_fix_text(root, gathered))]
