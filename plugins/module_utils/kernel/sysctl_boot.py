# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What value will a sysctl have after the next boot, and after ``sysctl --system``?

Modelled on what the two tools do (systemd 252 ``src/sysctl/sysctl.c``, procps-ng 4.0.2
``src/sysctl.c``) and on what the kernel does with what they write; the lab's differential
suite (tests/lab/test_differential_sysctl.py) runs both on real nodes to keep this honest.

``systemd-sysctl`` (every boot):

* reads ``*.conf`` in /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d
  (and /lib/sysctl.d); a name in an earlier directory hides the same name in later ones,
  whatever it is (a /dev/null link, an empty file, a dangling link). Hidden files (``.x.conf``)
  and directories are not read. Files are read in strcmp order of their names.
  /etc/sysctl.conf only through a link (Debian's /etc/sysctl.d/99-sysctl.conf).
* keeps an ordered map of keys (``net.ipv4.ip_forward`` and ``net/ipv4/ip_forward`` are one
  key). Assigning a key the value it already has keeps its old place; another value moves it
  to the end. ``-key`` with no ``=`` is an entry without a value: it replaces an earlier
  assignment of that key (nothing is written) and keeps globs off it.
* writes in map order. A glob writes every existing path it matches that is not itself a key
  in the map.

``sysctl --system`` (procps; what install guides run by hand):

* the same directories and name masking, but hidden files and directories count too; then
  /etc/sysctl.conf, always, last (on Debian it is read twice: also through 99-sysctl.conf).
* every line is written in file order, repeats included. A glob skips any path that some
  line of any file names exactly (an assignment or a ``-key``); ``-key`` does nothing else.
  ``- key = 1`` (a blank after the dash) names no existing path.
* globs only since procps-ng 4.0: 3.3.17 (Debian 11; RHEL 8/9 and Ubuntu 22.04 ship 3.3.x too) opens a glob key as
  a literal path ("cannot stat /proc/sys/net/ipv4/conf/*/forwarding") and writes nothing for it,
  seen on a bullseye lab node. Which one a node has is read from ``sysctl --version``
  (:func:`procps_version`); the model is told it, never the distribution's name.

The kernel: two names can be one variable (net.ipv4.ip_forward is
net.ipv4.conf.all.forwarding), so the last write under either name decides. A value it refuses
(``yes``, ``1#x``, ``08``, out of int range) leaves the previous one; it reads the leading
integer (decimal, 0x hex, 0 octal) when a blank or the end follows, so ``1 # on`` sets 1;
net.bridge.* store any non-zero number as 1.

/run is emptied at every boot: where a /run/sysctl.d file decides whether a key ends at 1,
the next boot depends on whether whatever wrote it writes it again first, which is not on disk.

What the model cannot decide is reported with its file and line, never guessed.
Everything takes ``root`` (default ``/``) so tests run over fixture trees.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import errno
import fnmatch
import os
import re

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import Undecided
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import host_path

SYSCTL_DIRS = ("etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d",
               "usr/lib/sysctl.d", "lib/sysctl.d")
SYSCTL_CONF = "etc/sysctl.conf"
RUNTIME_DIR = "run/sysctl.d"
GLOB_CHARS = re.compile(r"[*?\[]")
TOOLS = ("systemd", "procps")
SYSTEMD_BLANKS = " \t\n\r"
PROCPS_BLANKS = " \t\n\r\v\f"

# Values the kernel starts with when no file sets a key (a fresh network namespace; the
# br-nf-call-* start at 1 once br_netfilter is loaded).
KERNEL_DEFAULTS = {
    "net/ipv4/ip_forward": "0",
    "net/ipv4/conf/all/forwarding": "0",
    "net/ipv6/conf/all/forwarding": "0",
    "net/bridge/bridge-nf-call-iptables": "1",
    "net/bridge/bridge-nf-call-ip6tables": "1",
}

# One kernel variable under several names (devinet.c: ip_forward's data is conf/all/forwarding's).
KERNEL_ALIASES = (("net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding"),)

INT_MAX = 2 ** 31 - 1
# proc_get_long copies at most 21 characters of a number; longer ones are not modelled.
LONGEST_NUMBER = 20


def kernel_names(path):
    """Every name of the kernel variable at ``path`` (``path`` first)."""
    for names in KERNEL_ALIASES:
        if path in names:
            return (path,) + tuple(n for n in names if n != path)
    return (path,)


def kernel_value(path, value):
    """What the kernel stores when a tool writes ``value`` (plus a newline) to the integer sysctl
    ``path``: the new value as text, or None when the write is refused and the old value stays."""
    text = value.lstrip(" \t\n\r\v\f")
    negative = text.startswith("-")
    if negative:
        text = text[1:]
    if not re.match(r"[0-9]", text):
        return None
    if text[:1] == "0" and text[1:2] in ("x", "X") and re.match(r"[0-9a-fA-F]", text[2:3]):
        digits = re.match(r"[0-9a-fA-F]*", text[2:]).group(0)
        rest, number = text[2 + len(digits):], int(digits, 16)
    elif text[:1] == "0":
        digits = re.match(r"[0-7]*", text).group(0)
        rest, number = text[len(digits):], int(digits, 8)
    else:
        digits = re.match(r"[0-9]*", text).group(0)
        rest, number = text[len(digits):], int(digits)
    if len(value) - len(rest) > LONGEST_NUMBER:
        raise Undecided("a number longer than %d characters (%r)" % (LONGEST_NUMBER, value))
    if rest and rest[0] not in " \t\n":
        return None
    if number > INT_MAX + (1 if negative else 0):
        return None
    number = -number if negative else number
    if path.startswith("net/bridge/") and number:
        number = 1  # br_netfilter_hooks.c: brnf_sysctl_call_tables
    return str(number)


class Assignment(object):
    """One line of a sysctl file as one tool reads it."""

    __slots__ = ("key", "path", "raw", "value", "source", "line", "ignore_failure", "is_glob",
                 "is_exclusion", "order_name", "file", "glob_unknown", "empty_unknown")

    def __init__(self, key, path, raw, value, source, line, ignore_failure=False):
        self.key = key  # as written, without the '-'
        self.path = path  # the /proc/sys path it names (None: no such path can exist)
        self.raw = raw  # procps: the path string it builds, compared as is
        self.value = value  # None: a '-key' line
        self.source = source
        self.line = line
        self.ignore_failure = ignore_failure
        self.is_exclusion = value is None
        self.is_glob = bool(GLOB_CHARS.search(key))
        self.glob_unknown = None  # procps: why it is unknown whether this glob is applied (None: known)
        self.empty_unknown = None  # procps: why it is unknown whether this empty value is written (None: known)
        self.order_name = None  # the sysctl.d file name it is ordered by (None: sysctl.conf, last)
        self.file = None  # the node path of the file that holds the line

    def where(self):
        return "%s line %d" % (self.source, self.line)

    def as_dict(self):
        return {"key": key_to_dotted(self.path or self.key), "value": self.value,
                "file": self.source, "line": self.line, "glob": self.is_glob}

    def __repr__(self):
        return "Assignment(%r=%r @ %s)" % (self.key, self.value, self.where())


def _swap_separators(key):
    """sysctl.d(5): if the first separator is a dot, dots and slashes swap places."""
    first = re.search(r"[./]", key)
    if first is None or first.group(0) == "/":
        return key
    return key.translate(str.maketrans("./", "/."))


def key_to_path(key):
    """A sysctl key as systemd-sysctl normalises it: its /proc/sys relative path."""
    parts = [p for p in _swap_separators(key.strip()).split("/") if p not in ("", ".")]
    return "/".join(parts)


def key_to_dotted(path):
    return path.translate(str.maketrans("/.", "./"))


def _procps_path(raw):
    """The path procps opens for ``raw`` (slashdot applied), or None where none can exist."""
    if raw.endswith("/") or not raw.strip("/"):
        return None  # a trailing slash on a file: ENOTDIR
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    return None if ".." in parts else "/".join(parts)


def parse_sysctl_text(text, source, tool="systemd"):
    """Parse sysctl.d syntax as ``tool`` does; return (assignments, problems)."""
    assignments, problems = [], []
    for number, raw in enumerate(text.split("\n"), 1):
        found = (_parse_systemd_line if tool == "systemd" else _parse_procps_line)(raw)
        if found is None:
            continue
        if isinstance(found, str):
            problems.append("%s line %d: %s in %r" % (source, number, found, raw.strip()))
            continue
        key, value, ignore_failure = found
        if tool == "systemd":
            path = key_to_path(key) or None
            raw_path = path
        else:
            raw_path = _swap_separators(key)
            path = _procps_path(raw_path)
        assignments.append(Assignment(key, path, raw_path, value, source, number, ignore_failure))
    return assignments, problems


def _parse_systemd_line(raw):
    line = raw.strip(SYSTEMD_BLANKS)
    if not line or line[0] in "#;":
        return None
    if "=" not in line:
        if line[0] != "-":
            return "no '=' (systemd-sysctl and sysctl --system ignore it)"
        return line[1:].strip(SYSTEMD_BLANKS), None, True
    ignore_failure = line[0] == "-"
    key, value = (line[1:] if ignore_failure else line).split("=", 1)
    key = key.strip(SYSTEMD_BLANKS)
    if not key:
        return "empty key"
    return key, value.strip(SYSTEMD_BLANKS), ignore_failure


def _parse_procps_line(raw):
    key = raw.lstrip(PROCPS_BLANKS)
    if not key or key[0] in "#;":
        return None
    if "=" not in key:
        if key[0] != "-":
            return "no '=' (systemd-sysctl and sysctl --system ignore it)"
        return key[1:].rstrip(PROCPS_BLANKS), None, True
    key, value = key.split("=", 1)
    ignore_failure = key[:1] == "-"
    if ignore_failure:
        key = key[1:]  # procps does not strip blanks after the dash
    key = key.rstrip(PROCPS_BLANKS)
    if not key.strip():
        return "empty key"
    return key, value.strip(PROCPS_BLANKS), ignore_failure


def _resolve_in_root(root, path):
    """Follow symlinks inside ``root`` (absolute targets are relative to root)."""
    seen = 0
    while os.path.islink(path) and seen < 40:
        target = os.readlink(path)
        if os.path.isabs(target):
            if target == "/dev/null":
                return "/dev/null"
            path = host_path(root, target)
        else:
            path = os.path.normpath(os.path.join(os.path.dirname(path), target))
        seen += 1
    return path


def _name_key(name):
    """Both tools sort file names with strcmp: by their bytes."""
    return os.fsencode(name)


def conf_files(root="/", dirs=SYSCTL_DIRS, suffix=".conf"):
    """The files a systemd ``conf_files`` lookup with masking reads (modules-load.d,
    networkd), in application order.

    Returns a list of dicts: ``name``, ``path`` (as on the node), ``real`` (the
    path to read under root), ``masked`` (a /dev/null link or empty file), and
    ``shadows`` (paths of same-named files in lower-priority directories).
    """
    chosen, order = {}, []
    seen_dirs = set()
    for rel in dirs:
        directory = host_path(root, rel)
        real_dir = os.path.realpath(directory)
        if real_dir in seen_dirs or not os.path.isdir(directory):
            continue
        seen_dirs.add(real_dir)
        for name in sorted(os.listdir(directory), key=_name_key):
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
    return [chosen[name] for name in sorted(order, key=_name_key)]


def sysctl_files(root="/", tool="systemd", overlay=None):
    """The sysctl.d files ``tool`` reads, in order: dicts with ``name``, ``path`` (on the node),
    ``text`` (None: nothing can be read: a dangling link, a directory) and ``masked`` (a
    /dev/null link or an empty file). A name hides the same name in later directories whatever
    it is. ``overlay`` maps node paths to text (a file written) or None (removed): the
    layout a fix would leave."""
    overlay = overlay or {}
    chosen = {}
    for rel in SYSCTL_DIRS:
        directory = host_path(root, rel)
        names = set(os.listdir(directory)) if os.path.isdir(directory) else set()
        names |= set(os.path.basename(p) for p in overlay if os.path.dirname(p) == "/" + rel and overlay[p] is not None)
        for name in names:
            node_path = "/" + rel + "/" + name
            if not name.endswith(".conf") or name in chosen or (node_path in overlay and overlay[node_path] is None):
                continue
            full = os.path.join(directory, name)
            if tool == "systemd" and (name.startswith(".") or (os.path.isdir(full) and not os.path.islink(full))):
                continue  # dirent_is_file_with_suffix: no hidden files, no directories
            if node_path in overlay:
                chosen[name] = {"name": name, "path": node_path, "text": overlay[node_path],
                                "masked": not overlay[node_path], "shown": node_path}
                continue
            real = _resolve_in_root(root, full)
            text = "" if real == "/dev/null" else _read_file(real)
            shown = node_path
            if real != "/dev/null" and os.path.realpath(real) == os.path.realpath(host_path(root, SYSCTL_CONF)):
                shown = "/%s (via %s)" % (SYSCTL_CONF, node_path)
                text = overlay.get("/" + SYSCTL_CONF, text)
            chosen[name] = {"name": name, "path": node_path, "text": text, "masked": text == "" and not isinstance(
                text, Unreadable), "shown": shown}
    return [chosen[name] for name in sorted(chosen, key=_name_key)]


class Unreadable(str):
    """A file the tools may read but we cannot (its text is unknown)."""


def _read_file(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "surrogateescape")
    except (IOError, OSError) as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP):
            return None  # a dangling link, a directory: the tools read nothing from it either
        return Unreadable(str(exc))


# procps-ng applies glob keys since 4.0 (lab: 4.0.2 and 4.0.4 apply them, 3.3.17 writes nothing for one).
PROCPS_GLOBS_SINCE = (4, 0)
# What a caller that cannot ask a node (a fixture tree) assumes: the current procps.
PROCPS_CURRENT = (4, 0, 4)


def procps_version(output):
    """The version tuple in ``sysctl --version`` output ("sysctl from procps-ng 3.3.17"), or None."""
    match = re.search(r"procps(?:-ng)?\s+(?:version\s+)?([0-9]+(?:\.[0-9]+)+)", output or "")
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def node_procps_version(run_command, root="/", which=None):
    """The node's procps version from one ``sysctl --version`` (``run_command(argv)`` -> (rc, out, err));
    PROCPS_CURRENT for a fixture tree (``root`` other than /), None when the node's cannot be read.
    ``which(name)``: the path of a command or None (a module's get_bin_path, which also searches the sbin
    directories a non-root user's PATH lacks); without it, ``sysctl`` through PATH."""
    if root not in ("/", ""):
        return PROCPS_CURRENT
    sysctl = which("sysctl") if which else "sysctl"
    if not sysctl:
        return None
    try:
        rc, out, err = run_command([sysctl, "--version"])
    except (IOError, OSError):
        return None
    return procps_version(out + "\n" + err) if rc == 0 else None


def describe_tools(procps):
    """The facts a report shows for the tool versions the model was told."""
    return {"procps": ".".join(str(part) for part in procps) if procps else None,
            "procps_globs": None if procps is None else tuple(procps[:2]) >= PROCPS_GLOBS_SINCE}


def _mark_procps_globs(assignments, version):
    """procps before 4.0 writes a glob key as the literal path it is (no such file: nothing written);
    with ``version`` None whether a glob line is applied is unknown."""
    for assignment in assignments:
        if not assignment.is_glob:
            continue
        if version is None:
            assignment.glob_unknown = ("sysctl --version could not be read, and procps applies a glob line only "
                                       "since 4.0 (3.3 writes nothing for it)")
        elif tuple(version[:2]) < PROCPS_GLOBS_SINCE:
            assignment.is_glob = False  # a literal path with '*', '?' or '[' in it: no such /proc/sys file


# procps-ng writes an empty value (``key =``) since 4.0 (lab: 4.0.2 and 4.0.4 clear ip_local_reserved_ports with
# one); 3.3.17 refuses the line ("malformed setting", the value must not be empty) and writes nothing.
PROCPS_EMPTY_VALUES_SINCE = (4, 0)


def _procps_empty_values(assignments, version):
    """The assignments procps ``version`` applies: before 4.0 a line with an empty value is refused (dropped here);
    with ``version`` None whether it is written is unknown (marked: resolving through it is undecided)."""
    kept = []
    for assignment in assignments:
        if assignment.value == "":
            if version is None:
                assignment.empty_unknown = ("sysctl --version could not be read, and procps writes an empty value only "
                                            "since 4.0 (3.3 refuses the line)")
            elif tuple(version[:2]) < PROCPS_EMPTY_VALUES_SINCE:
                continue
        kept.append(assignment)
    return kept


def load_tool_assignments(root="/", tool="systemd", overlay=None, procps=PROCPS_CURRENT):
    """Every assignment ``tool`` reads, in order; its problems, masked files and undecidable files.
    ``procps``: the node's procps version (:func:`node_procps_version`; None: unknown)."""
    assignments, problems, masked, undecided = [], [], [], []
    files = sysctl_files(root, tool, overlay)
    if tool == "procps":
        conf = host_path(root, SYSCTL_CONF)
        if os.path.isfile(conf):  # stat() follows links; S_ISREG
            files.append({"name": None, "path": "/" + SYSCTL_CONF, "masked": False, "shown": "/" + SYSCTL_CONF,
                          "text": (overlay or {}).get("/" + SYSCTL_CONF, _read_file(conf))})
    for entry in files:
        if entry["masked"]:
            masked.append(entry["path"])
            continue
        if entry["text"] is None:
            continue
        if isinstance(entry["text"], Unreadable):
            undecided.append("%s: cannot read it (%s)" % (entry["path"], entry["text"]))
            continue
        if tool == "procps" and entry["name"] and re.search(r"[*?\[\\]|\{.*\}", entry["name"]):
            undecided.append("%s: sysctl --system opens it through glob(3), which reads a name with "
                             "'*', '?', '[', '\\' or braces as a pattern" % entry["path"])
        found, bad = parse_sysctl_text(entry["text"], entry["shown"], tool)
        for assignment in found:
            assignment.order_name = entry["name"]
            assignment.file = "/" + SYSCTL_CONF if entry["shown"].startswith("/" + SYSCTL_CONF) else entry["path"]
        assignments.extend(found)
        problems.extend(bad)
    if tool == "procps":
        _mark_procps_globs(assignments, procps)
        assignments = _procps_empty_values(assignments, procps)
    return assignments, problems, masked, undecided


def load_boot_assignments(root="/", overlay=None, runtime=True, procps=PROCPS_CURRENT):
    """Read every sysctl file once, for both tools. /run is emptied at every boot, so where
    /run/sysctl.d has files, ``after_reboot`` holds what both tools read once they are gone
    (unless whatever wrote them writes them again). ``procps``: the node's procps version
    (:func:`node_procps_version`; None: unknown), kept as ``procps_version`` for later reads."""
    loaded = {"problems": [], "masked": [], "undecided": {}, "service_masked": service_masked(root), "procps_version": procps}
    for tool in TOOLS:
        assignments, problems, masked, undecided = load_tool_assignments(root, tool, overlay, procps)
        # a masked systemd-sysctl.service applies no file at boot: the kernel defaults stay
        loaded[tool] = [] if tool == "systemd" and loaded["service_masked"] else assignments
        loaded["problems"] += [p for p in problems if p not in loaded["problems"]]
        loaded["masked"] += [m for m in masked if m not in loaded["masked"]]
        loaded["undecided"][tool] = undecided
    volatile = runtime_files(root, overlay) if runtime else []
    if volatile:
        gone = dict(overlay or {})
        gone.update((path, None) for path in volatile)
        loaded["after_reboot"] = load_boot_assignments(root, gone, runtime=False, procps=procps)
        loaded["after_reboot"]["runtime_files"] = volatile
    return loaded


SYSCTL_SERVICE_MASKS = ("etc/systemd/system/systemd-sysctl.service", "run/systemd/system/systemd-sysctl.service")


def service_masked(root="/"):
    """The unit file that masks systemd-sysctl.service (a link to /dev/null or an empty file), or None."""
    for rel in SYSCTL_SERVICE_MASKS:
        path = host_path(root, rel)
        if os.path.islink(path) and os.readlink(path) == "/dev/null":
            return "/" + rel
        if os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) == 0:
            return "/" + rel
    return None


def runtime_files(root="/", overlay=None):
    """The ``*.conf`` files in /run/sysctl.d (a tmpfs: gone at the next boot)."""
    directory = host_path(root, RUNTIME_DIR)
    names = os.listdir(directory) if os.path.isdir(directory) else []
    paths = set("/%s/%s" % (RUNTIME_DIR, n) for n in names if n.endswith(".conf"))
    for path, text in (overlay or {}).items():
        if os.path.dirname(path) == "/" + RUNTIME_DIR:
            (paths.add if text is not None else paths.discard)(path)
    return sorted(paths, key=_name_key)


def glob_matches(pattern, path):
    """glob(3) over /proc/sys: per path component, '*' never crosses '/' nor matches a leading '.'."""
    if "\\" in pattern:
        raise Undecided("glob %r has a backslash escape" % pattern)
    parts, pattern_parts = path.split("/"), pattern.split("/")
    if len(parts) != len(pattern_parts):
        return False
    for part, pat in zip(parts, pattern_parts):
        if part.startswith(".") and not pat.startswith("."):
            return False
        if not fnmatch.fnmatchcase(part, pat):
            return False
    return True


def _systemd_writes(assignments, names):
    """(name, assignment) in the order systemd-sysctl writes the names of one variable."""
    options = collections.OrderedDict()
    for assignment in assignments:
        if assignment.path is None:
            continue
        old = options.get(assignment.path)
        if old is not None and old.value == assignment.value:
            continue  # same value: keeps its place
        options.pop(assignment.path, None)
        options[assignment.path] = assignment
    writes = []
    for key, assignment in options.items():
        if assignment.value is None:
            continue
        if assignment.is_glob:
            writes += [(n, assignment) for n in names if n not in options and _decided_glob(assignment, n)]
        elif key in names:
            writes.append((key, assignment))
    return writes


def _procps_writes(assignments, names):
    """(name, assignment) in the order sysctl --system writes the names of one variable."""
    named = set(a.raw for a in assignments)
    writes = []
    for assignment in assignments:
        if assignment.is_exclusion:
            continue
        if assignment.is_glob:
            matched = [n for n in names if n not in named and _decided_glob(assignment, n)]
            if matched and assignment.glob_unknown:
                raise Undecided("%s: %s" % (assignment.where(), assignment.glob_unknown))
            writes += [(n, assignment) for n in matched]
        elif assignment.path in names:
            if assignment.empty_unknown:
                raise Undecided("%s: %s" % (assignment.where(), assignment.empty_unknown))
            writes.append((assignment.path, assignment))
    return writes


def _decided_glob(assignment, name):
    if assignment.path != assignment.raw:
        raise Undecided("%s: a glob spelled with a leading, doubled or trailing slash" % assignment.where())
    try:
        return glob_matches(assignment.path or assignment.raw, name)
    except Undecided as exc:
        raise Undecided("%s: %s" % (assignment.where(), exc))


def resolve(assignments, path, kernel_default, tool, store=None):
    """The value ``tool`` leaves in the variable at ``path``, starting from ``kernel_default``:
    a dict with ``value``, ``source``/``line`` of the write that set it (None: the default),
    ``ignore_failure`` and ``error`` (what the model cannot decide, else None). ``store(name,
    text, previous)`` is what the kernel keeps for a write (None: refused); default: an integer."""
    result = {"value": kernel_default, "source": None, "line": None, "file": None, "ignore_failure": False,
              "error": None}
    names = kernel_names(path)
    try:
        writes = (_systemd_writes if tool == "systemd" else _procps_writes)(assignments, names)
        for name, assignment in writes:
            try:
                stored = (store(name, assignment.value, result["value"]) if store
                          else kernel_value(name, assignment.value))
            except Undecided as exc:
                raise Undecided("%s: %s" % (assignment.where(), exc))
            if stored is not None:
                result.update(value=stored, source=assignment.source, line=assignment.line,
                              file=assignment.file, ignore_failure=assignment.ignore_failure)
    except Undecided as exc:
        result.update(value=None, error=str(exc))
    return result


def effective_boot_value(key, root="/", kernel_default=None, loaded=None, store=None):
    """Resolve ``key`` for both boot paths.

    Returns a dict with ``key``, ``systemd`` and ``procps`` (see :func:`resolve`),
    ``assignments`` (every line that sets the variable, as procps reads them), ``problems``
    and ``masked``. ``loaded`` may carry :func:`load_boot_assignments` so one module call reads
    each file once for many keys. ``store``: see :func:`resolve`.
    """
    path = key_to_path(key)
    if kernel_default is None:
        kernel_default = KERNEL_DEFAULTS.get(path)
    if loaded is None:
        loaded = load_boot_assignments(root)
    result = {"key": key_to_dotted(path), "problems": loaded["problems"], "masked": loaded["masked"]}
    for tool in TOOLS:
        result[tool] = resolve(loaded[tool], path, kernel_default, tool, store)
        if tool == "systemd" and loaded.get("service_masked"):
            result[tool]["masked_by"] = loaded["service_masked"]
        result[tool]["after_reboot"] = dict(result[tool])
    for tool in TOOLS:
        if loaded["undecided"][tool] and not result[tool]["error"]:
            result[tool].update(value=None, error="; ".join(loaded["undecided"][tool]))
    if loaded.get("after_reboot"):
        _judge_runtime_files(result, path, kernel_default, loaded["after_reboot"], store)
    names = kernel_names(path)
    result["assignments"] = [a.as_dict() for a in loaded["procps"]
                             if not a.is_exclusion and (a.path in names or (a.is_glob and any(
                                 _safe_glob(a, n) for n in names)))]
    return result


def _judge_runtime_files(result, path, kernel_default, after, store=None):
    """Files in /run/sysctl.d are gone at the next boot unless something writes them again
    first; where that changes whether a tool ends at 1, the model cannot tell: an error that
    names them. Where it changes nothing, or both end other than 1, the value stands."""
    for tool in TOOLS:
        later = resolve(after[tool], path, kernel_default, tool, store)
        now = result[tool]
        now["after_reboot"] = later
        if now["error"] or later["error"] or now["value"] == later["value"] or "1" not in (now["value"], later["value"]):
            continue
        now.update(value=None, error="now %s; %s once a reboot empties /%s, unless whatever wrote %s writes it "
                   "again before the sysctl files are applied" % (
                       describe_source(now), later["value"], RUNTIME_DIR, ", ".join(after["runtime_files"])))


def _safe_glob(assignment, name):
    try:
        return _decided_glob(assignment, name)
    except Undecided:
        return True


def describe_source(resolved):
    """Human text: '0 (set by /etc/sysctl.d/99-zz-cis.conf line 3)'."""
    if resolved.get("error"):
        return "undecided (%s)" % resolved["error"]
    if resolved.get("masked_by"):
        return "%s (kernel default: systemd-sysctl.service is masked by %s, so no sysctl file is applied at boot)" % (
            resolved["value"], resolved["masked_by"])
    if resolved["source"] is None:
        return "%s (kernel default, no file sets it)" % resolved["value"]
    return "%s (set by %s line %d)" % (resolved["value"], resolved["source"], resolved["line"])
