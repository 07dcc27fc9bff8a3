# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd's and NetworkManager's configuration files as those tools read them: which files and in
which order (a same-named file in an earlier directory shadows the rest, an empty file or a link
to /dev/null masks it), their ini syntax (with NetworkManager's ``+=``/``-=``), and the [Match]
section of .network and .link files (systemd.network(5), systemd.link(5); the first file whose
[Match] fits a link is the one that applies)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fnmatch
import os

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import ConfigUnreadable
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import host_path, read_text


# systemd's parse_boolean (NetworkManager takes the same words)
TRUE_WORDS = ("1", "yes", "y", "true", "t", "on")
FALSE_WORDS = ("0", "no", "n", "false", "f", "off")


# [Match] keys a virtual link created by a CNI never satisfies (hardware, wireless).
WIRELESS_MATCH_KEYS = ("WLANInterfaceType", "SSID", "BSSID")
HARDWARE_MATCH_KEYS = ("MACAddress", "PermanentMACAddress", "Path") + WIRELESS_MATCH_KEYS


# Type= as udev/networkd see it: DEVTYPE where the kernel sets one, else the ARPHRD name.
KIND_TYPES = {"veth": "ether", "vxlan": "vxlan", "bridge": "bridge", "wireguard": "wireguard", "ipip": "ipip",
              "dummy": "ether", "openvswitch": "ether"}


def read_config(root, path):
    """Text of ``path`` (node path), None when absent; ConfigUnreadable when present but unreadable."""
    full = host_path(root, path)
    if not os.path.lexists(full):
        return None
    text = read_text(root, path)
    if text is None:
        try:
            os.stat(full)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None  # dangling link: the tools skip it too
            raise ConfigUnreadable("%s cannot be read: %s" % (path, exc.strerror))
        raise ConfigUnreadable("%s cannot be read" % path)
    return text


def masked(root, path):
    full = host_path(root, path)
    if os.path.islink(full) and os.readlink(full) == "/dev/null":
        return True
    return os.path.isfile(full) and os.path.getsize(full) == 0


def config_files(root, directories, suffix):
    """Node paths of ``*suffix`` files, by file name (strcmp of the bytes), a name in an earlier
    directory shadowing the same name in a later one, masked ones (empty, /dev/null) dropped."""
    chosen = {}
    for directory in directories:
        try:
            names = os.listdir(os.path.join(root, directory))
        except OSError:
            continue
        for name in names:
            if name.endswith(suffix) and name not in chosen:
                chosen[name] = "/%s/%s" % (directory, name)
    return [chosen[name] for name in sorted(chosen, key=os.fsencode) if not masked(root, chosen[name])]


def conf_names(root, directory):
    try:
        names = os.listdir(os.path.join(root, directory))
    except OSError:
        return []
    return ["/%s/%s" % (directory, n) for n in sorted(names, key=os.fsencode) if n.endswith(".conf")]


def parse_ini(text):
    """[(section, key, op, value, line number)] of a systemd/NM style ini file; op is '=', '+=' or '-='."""
    entries, section = [], None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        key, op = key.rstrip(), "="
        if key.endswith(("+", "-")):
            key, op = key[:-1].rstrip(), key[-1] + "="
        entries.append((section, key, op, value.strip(), number))
    return entries


def parse_bool(value):
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def match_words(values):
    """The one list systemd builds from a [Match] key's lines (net-condition.c config_parse_match_ifnames
    and config_parse_match_strv: each line's words are appended to it; a ``!`` opening a line negates
    every word of that line, kept as a ``!`` prefix)."""
    words = []
    for value in values:
        invert = value.startswith("!")
        words += [("!" if invert else "") + word for word in (value[1:] if invert else value).split()]
    return words


def _words_fit(words, candidates):
    """net_condition_test_strv: no negated word matches, and one positive word does if there is one."""
    positive = hit = False
    for word in words:
        invert = word.startswith("!")
        pattern = word[1:] if invert else word
        positive = positive or not invert
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            if invert:
                return False
            hit = True
    return hit if positive else True


# [Match] keys each file type knows (systemd.link(5), systemd.network(5)); others are ignored with a warning
LINK_MATCH_KEYS = frozenset(("MACAddress", "PermanentMACAddress", "Path", "Driver", "Type", "Kind", "Property",
                             "OriginalName", "Host", "Virtualization", "KernelCommandLine", "KernelVersion",
                             "Credential", "Architecture", "Firmware"))


NETWORK_MATCH_KEYS = (LINK_MATCH_KEYS - frozenset(("OriginalName",))) | frozenset(("Name", "WLANInterfaceType", "SSID",
                                                                                   "BSSID"))


def match_section(text, known):
    """{key: [values]} of the [Match] section(s) of a .network/.link file, keys in ``known`` only
    (repeated keys accumulate; an empty assignment resets)."""
    match = {}
    for section, key, _op, value, _number in parse_ini(text):
        if section != "Match" or key not in known:
            continue
        if not value:
            match.pop(key, None)
        else:
            match.setdefault(key, []).append(value)
    return match


def match_fits(match, name, kind, name_keys=("Name",)):
    """Whether a [Match] section can fit a CNI virtual link ``name`` of ``kind``. Conditions on the
    host (Host=, Virtualization=, KernelCommandLine=, ...) are taken as met. ``kind`` None: a link of
    the node whose hardware is not read; a MAC, path, driver, type or kind may then fit it, and only
    its name and wireless keys decide."""
    if not match:
        return False  # systemd ignores a file with an empty [Match] (it asks for Name=* to match all)
    if any(k in match for k in (HARDWARE_MATCH_KEYS if kind else WIRELESS_MATCH_KEYS)):
        return False
    for key in name_keys:
        if key in match and not _words_fit(match_words(match[key]), (name,)):
            return False
    for key, candidates in (() if kind is None else
                            (("Kind", (kind,)), ("Type", (KIND_TYPES.get(kind, kind), kind)), ("Driver", (kind,)))):
        if key in match and not _words_fit(match_words(match[key]), candidates):
            return False
    return True


def dropins(root, path, directories):
    """The node paths of ``path``'s drop-ins (``<name>.d/*.conf`` under each of ``directories``), in the
    order systemd applies them after the file (conf-files.c: by name, an earlier directory shadowing)."""
    return config_files(root, ["%s/%s.d" % (d, os.path.basename(path)) for d in directories], ".conf")


def line_source(root, path, number, directories):
    """(file, line) of line ``number`` of ``path``'s text as parsed_files joined it with its drop-ins."""
    sources = [path] + dropins(root, path, directories)
    for index, source in enumerate(sources):
        text = read_config(root, source) or ""
        count = len((text.rstrip("\n") if len(sources) > 1 else text).splitlines())
        if number <= count or index == len(sources) - 1:
            return source, number
        number -= count
    return path, number


def parsed_files(root, files, known, empty_matches_all=None, dropin_dirs=()):
    """[(path, text, [Match])] of ``files`` that exist, each read and parsed once. ``empty_matches_all``:
    the name key (Name, OriginalName) that a [Match] without settings stands for ``*`` of (systemd before
    245), else None (245 and later ignore such a file). ``dropin_dirs``: the directories whose
    ``<name>.d/*.conf`` drop-ins are merged after each file (networkd-network.c network_load_one:
    config_parse_many, [Match] included); ``text`` is then the file followed by its drop-ins."""
    parsed = []
    for path in files:
        text = read_config(root, path)
        if text is not None:
            extra = dropins(root, path, dropin_dirs) if dropin_dirs else []
            if extra:
                text = "\n".join([text.rstrip("\n")] + [(read_config(root, d) or "").rstrip("\n") for d in extra]) + "\n"
            match = match_section(text, known)
            parsed.append((path, text, match or ({empty_matches_all: ["*"]} if empty_matches_all else match)))
    return parsed


def first_matches(parsed, links, name_keys):
    """(name, path, text) for each of ``links`` (name, kind) that one of ``parsed`` fits: the first
    that does, as systemd picks it."""
    for name, kind in links:
        for path, text, match in parsed:
            if match_fits(match, name, kind, name_keys):
                yield name, path, text
                break


def link_setting(text, section_name, key):
    value = None
    for section, k, _op, v, number in parse_ini(text):
        if section == section_name and k == key:
            value = (v, number)
    return value
