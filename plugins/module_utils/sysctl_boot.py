# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What value will a sysctl key have after the next boot?

Computed the way the two tools that apply sysctl files do it:

* ``systemd-sysctl`` (runs at every boot): every ``*.conf`` in /etc/sysctl.d,
  /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d (and /lib/sysctl.d on a
  system without merged /usr). A file name found in an earlier directory masks the
  same name in later ones; a symlink to /dev/null (or an empty file) masks too. The
  surviving files are read sorted by file name, later assignments win. An explicit key
  beats a glob pattern whatever the order; ``-key`` without ``=`` excludes a key from
  globs. /etc/sysctl.conf is read only where a sysctl.d file links to it (Debian ships
  /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf).
* ``sysctl --system`` (procps; what admins and install guides run by hand): the same
  directories, then /etc/sysctl.conf last, always.

Everything takes ``root`` (default ``/``) so tests run over fixture trees.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

SYSCTL_DIRS = ("etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d",
               "usr/lib/sysctl.d", "lib/sysctl.d")
SYSCTL_CONF = "etc/sysctl.conf"
GLOB_CHARS = re.compile(r"[*?\[]")

# Values the kernel starts with when no file sets a key (a real machine's init
# namespace; br-nf-call-* start at 1 once br_netfilter is loaded).
KERNEL_DEFAULTS = {
    "net/ipv4/ip_forward": "0",
    "net/ipv6/conf/all/forwarding": "0",
    "net/bridge/bridge-nf-call-iptables": "1",
    "net/bridge/bridge-nf-call-ip6tables": "1",
}


class Assignment(object):
    """One ``key = value`` line of a sysctl file."""

    __slots__ = ("path", "value", "source", "line", "ignore_failure", "is_glob", "is_exclusion",
                 "order_name", "file")

    def __init__(self, path, value, source, line, ignore_failure=False, is_exclusion=False):
        self.path = path
        self.value = value
        self.source = source
        self.line = line
        self.ignore_failure = ignore_failure
        self.is_exclusion = is_exclusion
        self.is_glob = bool(GLOB_CHARS.search(path))
        self.order_name = None  # the sysctl.d file name it is ordered by (None: sysctl.conf, last)
        self.file = None  # the node path of the file that holds the line

    def where(self):
        return "%s line %d" % (self.source, self.line)

    def as_dict(self):
        return {"key": key_to_dotted(self.path), "value": self.value,
                "file": self.source, "line": self.line, "glob": self.is_glob}

    def __repr__(self):
        return "Assignment(%r=%r @ %s)" % (self.path, self.value, self.where())


def key_to_path(key):
    """Normalise a sysctl key to its /proc/sys relative path.

    If the first separator is a slash, slashes and dots are left intact; if it is a
    dot, dots and slashes are interchanged (sysctl.d(5)).
    """
    key = key.strip().strip("/")
    first = re.search(r"[./]", key)
    if first is None or first.group(0) == "/":
        return key
    return key.translate(str.maketrans("./", "/."))


def key_to_dotted(path):
    return path.translate(str.maketrans("/.", "./"))


def parse_sysctl_text(text, source):
    """Parse sysctl.d syntax; return (assignments, problems)."""
    assignments, problems = [], []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        ignore_failure = line.startswith("-")
        if ignore_failure:
            line = line[1:].lstrip()
        if "=" not in line:
            if ignore_failure and line:
                # "-key" with no value excludes the key from glob assignments
                assignments.append(Assignment(key_to_path(line), None, source, number,
                                              ignore_failure=True, is_exclusion=True))
            else:
                problems.append("%s line %d: no '=' in %r (systemd-sysctl ignores it)"
                                % (source, number, raw.strip()))
            continue
        key, value = line.split("=", 1)
        if not key.strip():
            problems.append("%s line %d: empty key in %r" % (source, number, raw.strip()))
            continue
        assignments.append(Assignment(key_to_path(key), value.strip(), source, number,
                                      ignore_failure=ignore_failure))
    return assignments, problems


def read_text(root, path):
    """The text of ``path`` on the node (under ``root``), or None when it cannot be read."""
    try:
        with open(os.path.join(root, path.lstrip("/")), "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def _read_text(path):
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8", "replace")


def _host_path(root, path):
    """Map an absolute path on the node to the fixture tree under ``root``."""
    return os.path.join(root, path.lstrip("/"))


def _resolve_in_root(root, path):
    """Follow symlinks inside ``root`` (absolute targets are relative to root)."""
    seen = 0
    while os.path.islink(path) and seen < 40:
        target = os.readlink(path)
        if os.path.isabs(target):
            if target == "/dev/null":
                return "/dev/null"
            path = _host_path(root, target)
        else:
            path = os.path.normpath(os.path.join(os.path.dirname(path), target))
        seen += 1
    return path


def conf_files(root="/", dirs=SYSCTL_DIRS, suffix=".conf"):
    """The files a systemd ``conf_files`` lookup reads, in application order.

    Returns a list of dicts: ``name``, ``path`` (as on the node), ``real`` (the
    path to read under root), ``masked`` (a /dev/null link or empty file), and
    ``shadows`` (paths of same-named files in lower-priority directories).
    """
    chosen, order = {}, []
    seen_dirs = set()
    for rel in dirs:
        directory = _host_path(root, rel)
        real_dir = os.path.realpath(directory)
        if real_dir in seen_dirs or not os.path.isdir(directory):
            continue
        seen_dirs.add(real_dir)
        for name in sorted(os.listdir(directory)):
            if not name.endswith(suffix):
                continue
            node_path = "/" + rel + "/" + name
            if name in chosen:
                chosen[name]["shadows"].append(node_path)
                continue
            full = os.path.join(directory, name)
            real = _resolve_in_root(root, full)
            masked = real == "/dev/null" or (os.path.isfile(real) and os.path.getsize(real) == 0)
            if not masked and not os.path.isfile(real):
                continue  # dangling link or a directory: systemd skips it
            chosen[name] = {"name": name, "path": node_path, "real": real,
                            "masked": masked, "shadows": []}
            order.append(name)
    return [chosen[name] for name in sorted(order)]


def _match(pattern_path, path):
    """Glob match per path component, as glob(3) over /proc/sys does."""
    import fnmatch
    parts, pattern = path.split("/"), pattern_path.split("/")
    return len(parts) == len(pattern) and all(
        fnmatch.fnmatchcase(part, pat) for part, pat in zip(parts, pattern))


def winning_assignment(assignments, path):
    """The assignment that decides ``path``: the last explicit one, else the last
    matching glob not excluded by a ``-key`` line."""
    explicit = [a for a in assignments
                if not a.is_glob and not a.is_exclusion and a.path == path]
    if explicit:
        return explicit[-1]
    if any(a.is_exclusion and a.path == path for a in assignments):
        return None
    globs = [a for a in assignments
             if a.is_glob and not a.is_exclusion and _match(a.path, path)]
    return globs[-1] if globs else None


def load_assignments(root="/"):
    """Every systemd-sysctl assignment in application order, plus problems and masked files."""
    assignments, problems, masked = [], [], []
    for entry in conf_files(root):
        if entry["masked"]:
            masked.append(entry["path"])
            continue
        shown = entry["path"]
        if os.path.realpath(entry["real"]) == os.path.realpath(_host_path(root, SYSCTL_CONF)):
            shown = "/" + SYSCTL_CONF + " (via " + entry["path"] + ")"
        try:
            found, bad = parse_sysctl_text(_read_text(entry["real"]), shown)
        except (IOError, OSError) as exc:
            problems.append("%s: cannot read: %s" % (entry["path"], exc))
            continue
        for assignment in found:
            assignment.order_name = entry["name"]
            assignment.file = ("/" + SYSCTL_CONF) if shown != entry["path"] else entry["path"]
        assignments.extend(found)
        problems.extend(bad)
    return assignments, problems, masked


def effective_boot_value(key, root="/", kernel_default=None, loaded=None):
    """Resolve ``key`` for both boot paths.

    Returns a dict with ``key``, ``systemd`` and ``procps`` (each: ``value``,
    ``source`` or None when the kernel default applies), ``assignments`` (every line
    that sets the key, in order), ``problems`` and ``masked``.
    ``loaded`` may carry already-loaded (systemd, procps) assignment lists so one
    module call reads each file once for many keys.
    """
    path = key_to_path(key)
    if kernel_default is None:
        kernel_default = KERNEL_DEFAULTS.get(path)
    if loaded is None:
        loaded = load_boot_assignments(root)
    result = {"key": key_to_dotted(path), "problems": loaded["problems"],
              "masked": loaded["masked"]}
    for tool in ("systemd", "procps"):
        winner = winning_assignment(loaded[tool], path)
        if winner is None:
            result[tool] = {"value": kernel_default, "source": None, "line": None,
                            "ignore_failure": False}
        else:
            result[tool] = {"value": winner.value, "source": winner.source,
                            "line": winner.line, "ignore_failure": winner.ignore_failure}
    result["assignments"] = [a.as_dict() for a in loaded["procps"]
                             if not a.is_exclusion and
                             (a.path == path or (a.is_glob and _match(a.path, path)))]
    return result


def load_boot_assignments(root="/"):
    """Read every sysctl file once, for both tools."""
    systemd, problems, masked = load_assignments(root)
    procps = list(systemd)
    conf = _host_path(root, SYSCTL_CONF)
    linked = any(a.source.startswith("/" + SYSCTL_CONF) for a in systemd)
    if os.path.isfile(conf):
        found, bad = parse_sysctl_text(_read_text(conf), "/" + SYSCTL_CONF)
        for assignment in found:
            assignment.file = "/" + SYSCTL_CONF
        procps.extend(found)
        if not linked:
            problems.extend(bad)
    return {"systemd": systemd, "procps": procps, "problems": problems, "masked": masked}


def describe_source(resolved):
    """Human text: '0 (set by /etc/sysctl.d/99-zz-cis.conf line 3)'."""
    if resolved["source"] is None:
        return "%s (kernel default, no file sets it)" % resolved["value"]
    return "%s (set by %s line %d)" % (resolved["value"], resolved["source"], resolved["line"])
