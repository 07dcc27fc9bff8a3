# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ports.nodeport_reserved``: the NodePort range is never handed out as an ephemeral port.

The kernel picks the source port of an outgoing connection (and of ``bind()`` to port 0) from
``net.ipv4.ip_local_port_range`` minus ``net.ipv4.ip_local_reserved_ports``. Where that range
meets the NodePort range (kube-apiserver ``--service-node-port-range``, default 30000-32767), a
client socket can hold a port that kube-proxy needs for a NodePort, or a NodePort's traffic hits
a client connection: intermittent resets and "address already in use" (kubernetes#111682,
kops#6342). The check passes when the two ranges do not meet, or when every port where they meet
is reserved; now (/proc) and after the next boot (systemd-sysctl and ``sysctl --system``, resolved
by ``sysctl_boot`` with the kernel's own reading of these two values).

IPv6 has no range of its own: TCP's ``inet6_hash_connect`` (net/ipv6/inet6_hashtables.c) calls
``__inet_hash_connect`` (net/ipv4/inet_hashtables.c), UDPv6 uses ``udp_lib_get_port`` and ``bind()``
to port 0 ``inet_csk_get_port``, all of which take the range from the ipv4 per-namespace setting and
skip ``inet_is_local_reserved_port``; the lab test shows connections to ``::1`` drawing from it too.
So one check covers both families.

What the kernel does with what the tools write, checked by writing into a scratch network
namespace on kernel 6.18 (the handlers are ``proc_do_large_bitmap`` in kernel/sysctl.c and
``ipv4_local_port_range`` in net/ipv4/sysctl_net_ipv4.c):

* ``ip_local_reserved_ports``: a list of ``N`` or ``N-M`` separated by ``,`` (or newlines);
  numbers in C's base-0 notation (``0x10`` = 16, ``030`` = 24); a trailing ``,`` is fine; an
  empty write clears the list. A blank, ``,,``, ``+5``, ``5-``, ``M < N`` or a port above 65535
  refuses the whole write (the old list stays). A write *replaces* the list. Read back as
  ``30000-32767,40000``; a new network namespace starts with none.
* ``ip_local_port_range``: two numbers separated by blanks (base 0 again); one number sets the
  low end only; more than two are ignored; anything else after a number, a low end above the
  high end, a number outside 1..65535 or a low end under ``ip_unprivileged_port_start`` (1024)
  refuses the write. Read back as ``32768<TAB>60999``, the default of a new namespace.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.podnet.doctor.plugins.module_utils.checks import check_result
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import Undecided
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import sysctl_boot
from ansible_collections.podnet.doctor.plugins.module_utils.kernel.wanted_sysctl import WantedSysctl, is_owned
from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import read_text

CHECK_ID = "ports.nodeport_reserved"
RANGE_KEY = "net.ipv4.ip_local_port_range"
RESERVED_KEY = "net.ipv4.ip_local_reserved_ports"
UNPRIVILEGED_KEY = "net.ipv4.ip_unprivileged_port_start"
DEFAULT_NODEPORT_RANGE = "30000-32767"
KERNEL_DEFAULT_RANGE = "32768\t60999"  # inet_init_net
KERNEL_DEFAULT_RESERVED = ""
PORT_MAX = 65535
UNPRIVILEGED_PORT_START = 1024  # the kernel's default ip_unprivileged_port_start
NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|[1-9][0-9]*|0[0-7]*")
BLANKS = " \t\n\r\v\f"


def parse_nodeport_range(value, variable="podnet_nodeport_range"):
    """(low, high) from ``30000-32767``, ``30000+2767`` or ``30000`` (kube-apiserver's forms);
    ValueError naming the variable otherwise."""
    text = str(value).strip()
    match = re.match(r"^([0-9]{1,5})(?:\s*([-+])\s*([0-9]{1,5}))?$", text)
    if match:
        low = int(match.group(1))
        high = low if not match.group(2) else (int(match.group(3)) + (low if match.group(2) == "+" else 0))
        if 1 <= low <= high <= PORT_MAX:
            return low, high
    raise ValueError("%s=%r is not a port range; write it as kube-apiserver's --service-node-port-range takes it, "
                     "low-high with 1 <= low <= high <= 65535, e.g. %s" % (variable, value, DEFAULT_NODEPORT_RANGE))


def _number(text, position):
    """(value, end) of a C base-0 unsigned number at ``position``, or None."""
    match = NUMBER.match(text, position)
    if not match:
        return None
    digits = match.group(0)
    base = 16 if digits[:2] in ("0x", "0X") else 8 if digits.startswith("0") and len(digits) > 1 else 10
    return int(digits, base), match.end()


def parse_reserved(text):
    """The ports a write of ``text`` to ip_local_reserved_ports reserves, as sorted (low, high)
    runs; None when the kernel refuses the write."""
    ports, position, end = [], 0, len(text)
    while position < end:
        if text[position] == "\n":
            position += 1
            continue
        found = _number(text, position)
        if found is None:
            return None
        low, position = found
        high = low
        if position < end and text[position] == "-":
            found = _number(text, position + 1)
            if found is None:
                return None
            high, position = found
        if low > PORT_MAX or high > PORT_MAX or high < low:
            return None
        if position < end:
            if text[position] not in ",\n":
                return None
            position += 1
        ports.append((low, high))
    return merge(ports)


def merge(runs):
    """Sorted, merged (low, high) runs."""
    merged = []
    for low, high in sorted(runs):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


def format_runs(runs):
    """``30000-32767,40000``: the kernel's own way of reading the list back."""
    return ",".join("%d" % low if low == high else "%d-%d" % (low, high) for low, high in runs)


def reserved_store(path, text, previous=None):
    """What the kernel keeps after a write of ``text`` (None: refused, the old list stays)."""
    runs = parse_reserved(text)
    return None if runs is None else format_runs(runs)


def parse_range(text, previous=None, unprivileged_named=False):
    """(low, high) after a write of ``text`` to ip_local_port_range over ``previous`` (low, high);
    None when refused."""
    numbers, position, end = [], 0, len(text)
    while len(numbers) < 2:
        while position < end and text[position] in BLANKS:
            position += 1
        if position == end:
            break
        found = _number(text, position)
        if found is None:
            return None
        number, position = found
        if position < end and text[position] not in BLANKS:
            return None
        numbers.append(number)
    if not numbers:
        return None
    if len(numbers) == 1:
        if previous is None:
            return None
        numbers.append(previous[1])
    low, high = numbers
    if not (1 <= low <= PORT_MAX and 1 <= high <= PORT_MAX) or high < low:
        return None
    if low < UNPRIVILEGED_PORT_START:
        if unprivileged_named:
            raise Undecided("a low end of %d is refused or kept depending on %s, which a sysctl file sets too"
                            % (low, UNPRIVILEGED_KEY))
        return None
    return low, high


def range_text(runs):
    return "%d\t%d" % runs


def _range_tuple(stored):
    if stored is None:
        return None
    parts = stored.split()
    return (int(parts[0]), int(parts[1])) if len(parts) == 2 and all(p.isdigit() for p in parts) else None


def range_store_for(unprivileged_named):
    def store(path, text, previous=None):
        found = parse_range(text, _range_tuple(previous), unprivileged_named)
        return None if found is None else range_text(found)
    return store


def covers(runs, low, high):
    """Do the (low, high) ``runs`` hold every port in low..high?"""
    return not uncovered(runs, low, high)


def uncovered(runs, low, high):
    """The runs of low..high that ``runs`` leave out."""
    left, position = [], low
    for run_low, run_high in merge(runs):
        if run_high < position or run_low > high:
            continue
        if run_low > position:
            left.append((position, min(run_low - 1, high)))
        position = max(position, run_high + 1)
        if position > high:
            break
    if position <= high:
        left.append((position, high))
    return left


def exposed_ports(port_range, reserved, nodeports):
    """The NodePorts the kernel may hand out as source ports: the part of ``nodeports`` inside
    ``port_range`` (both (low, high)) that ``reserved`` (runs) leaves out."""
    low, high = max(port_range[0], nodeports[0]), min(port_range[1], nodeports[1])
    return uncovered(reserved, low, high) if low <= high else []


def _unprivileged_named(assignments):
    path = sysctl_boot.key_to_path(UNPRIVILEGED_KEY)
    return any(a.path == path or (a.is_glob and sysctl_boot.glob_matches(a.raw or "", path)) for a in assignments
               if a.raw and "\\" not in a.raw)


def boot_values(loaded, tool, owned=()):
    """(range resolution, reserved resolution) ``tool`` leaves at boot, as ``sysctl_boot.resolve``
    dicts; ``owned`` files left out (what the node would have without our drop-in)."""
    assignments = [a for a in loaded[tool] if a.file not in owned]
    ranges = sysctl_boot.resolve(assignments, sysctl_boot.key_to_path(RANGE_KEY), KERNEL_DEFAULT_RANGE, tool,
                                 range_store_for(_unprivileged_named(assignments)))
    reserved = sysctl_boot.resolve(assignments, sysctl_boot.key_to_path(RESERVED_KEY), KERNEL_DEFAULT_RESERVED, tool,
                                   reserved_store)
    for resolved in (ranges, reserved):
        if loaded["undecided"][tool] and not resolved["error"]:
            resolved.update(value=None, error="; ".join(loaded["undecided"][tool]))
    return ranges, reserved


def runtime_values(root):
    """(ip_local_port_range, ip_local_reserved_ports) as /proc shows them (None: absent)."""
    values = []
    for key in (RANGE_KEY, RESERVED_KEY):
        text = read_text(root, "proc/sys/" + sysctl_boot.key_to_path(key))
        values.append(None if text is None else text.strip("\n"))
    return tuple(values)


def reserved_to_write(root, nodeports, loaded, owned=(), runs=None):
    """The ip_local_reserved_ports value that reserves ``nodeports`` (or the (low, high) ``runs``) and keeps
    every port the node reserves now and every port its own files (``owned`` left out) reserve at boot: a
    write replaces the list, and our drop-in is named to win at boot."""
    runs = [tuple(nodeports)] if runs is None else list(runs)
    now = runtime_values(root)[1]
    for value in [now] + [boot_values(loaded, tool, owned)[1]["value"] for tool in sysctl_boot.TOOLS]:
        found = parse_reserved(value) if value is not None else None
        runs += found or []
    return format_runs(merge(runs))


def wanted_reserved(root, nodeports, loaded, owned=(), runs=None):
    """The setting the kernel fixer writes for the ``ports`` area (see ``wanted_sysctl``): the
    NodePort range plus every port the node reserves now or at boot. A value is acceptable when it
    holds all of those, not merely the range: a foreign line that reserves the range but not the
    user's other ports would otherwise be left to win (or, commented out, uncover an earlier one),
    and those ports would be lost at boot (found by tests/lab/test_differential_ports.py). ``runs``: reserve
    these instead of ``nodeports`` (the list our drop-in holds, re-planned by a run for another area, which
    must not add its own NodePort range to the line a ports run wrote)."""
    low, high = nodeports
    value = reserved_to_write(root, nodeports, loaded, owned, runs)
    wanted = parse_reserved(value)
    return WantedSysctl(
        RESERVED_KEY, value,
        lambda stored: all(covers(parse_reserved(stored) or [], a, b) for a, b in wanted),
        "the NodePort range %d-%d reserved with the node's other reserved ports" % (low, high),
        KERNEL_DEFAULT_RESERVED, reserved_store)


def _span(runs):
    return format_runs(runs) or "none"


def _judge(range_value, reserved_value, nodeports):
    """(exposed runs, text) for one state; ValueError when a value cannot be read."""
    port_range = _range_tuple(range_value)
    reserved = parse_reserved(reserved_value) if reserved_value is not None else None
    if port_range is None:
        raise ValueError("%s is %r, not two ports" % (RANGE_KEY, range_value))
    if reserved is None:
        raise ValueError("%s is %r, not a port list" % (RESERVED_KEY, reserved_value))
    return exposed_ports(port_range, reserved, nodeports), port_range, reserved


def _where(resolved):
    if resolved.get("masked_by"):
        return "kernel default: systemd-sysctl.service masked by %s" % resolved["masked_by"]
    if resolved["source"] is None:
        return "kernel default"
    return "%s line %d" % (resolved["source"], resolved["line"])


def _boot_state(loaded, tool, nodeports):
    """(exposed runs or None, text, error)."""
    ranges, reserved = boot_values(loaded, tool, ())
    errors = [r["error"] for r in (ranges, reserved) if r["error"]]
    if errors:
        return None, None, "; ".join(errors)
    exposed, port_range, runs = _judge(ranges["value"], reserved["value"], nodeports)
    text = "ephemeral %d-%d (%s), reserved %s (%s)" % (port_range + (_where(ranges), _span(runs), _where(reserved)))
    return exposed, text, None


def owned_reserving_files(root, loaded, tool):
    """The files of our drop-ins (first line is the marker) that set ip_local_reserved_ports for ``tool``."""
    path = sysctl_boot.key_to_path(RESERVED_KEY)
    files = sorted(set(a.file for a in loaded[tool] if a.file and a.path == path))
    return [f for f in files if is_owned(root, f)]


def dropped_by_our_drop_in(root, loaded, tool, reserved_now):
    """What our drop-in, when it decides the list ``tool`` leaves at boot, leaves out of it although the file
    that would decide it without our drop-ins reserves it (a reservation the admin added after our fix: our
    drop-in sorts last and a write replaces the list), or the runtime reserves it (``reserved_now``, runs).
    A text naming those ports, where they were asked for and our line; None when nothing is dropped, or the
    list at boot is not ours to decide (no drop-in of ours, or a foreign file sorts after it)."""
    owned = owned_reserving_files(root, loaded, tool)
    if not owned:
        return None
    boot = boot_values(loaded, tool, ())[1]
    if boot["error"] or boot["file"] not in owned:
        return None
    without = boot_values(loaded, tool, owned)[1]
    kept = parse_reserved(boot["value"]) or []
    parts, named, tail = [], [], ""
    if not without["error"] and without["source"]:
        named = parse_reserved(without["value"]) or []
        gone = merge(r for low, high in named for r in uncovered(kept, low, high))
        if gone:
            parts.append("ports %s that %s line %s reserves" % (format_runs(gone), without["source"], without["line"]))
            tail = ", and overrides that line"
    gone = merge(r for low, high in (reserved_now or []) for r in uncovered(kept + named, low, high))
    if gone:
        parts.append("ports %s reserved now" % format_runs(gone))
    if not parts:
        return None
    return "%s are not reserved: our drop-in %s line %s sets the whole list without them (a write replaces it)%s" % (
        " and ".join(parts), boot["source"], boot["line"], tail)


def evaluate(root="/", nodeports=(30000, 32767), sysctl_file=None, loaded=None):
    """(the ``ports.nodeport_reserved`` result, facts)."""
    low, high = nodeports
    expected = ("NodePorts %d-%d outside %s, or reserved in %s, now and after boot"
                % (low, high, RANGE_KEY, RESERVED_KEY))
    if loaded is None:
        loaded = sysctl_boot.load_boot_assignments(root)
    range_now, reserved_now = runtime_values(root)
    facts = {"nodeport_range": "%d-%d" % nodeports, "runtime": {RANGE_KEY: range_now, RESERVED_KEY: reserved_now},
             "boot": {}}
    findings, observed, errors = [], [], []
    try:
        if range_now is None or reserved_now is None:
            raise ValueError("/proc/sys/net/ipv4 has no %s" % (RANGE_KEY if range_now is None else RESERVED_KEY))
        exposed, port_range, runs = _judge(range_now, reserved_now, nodeports)
        observed.append("now: ephemeral %d-%d, reserved %s" % (port_range + (_span(runs),)))
        if exposed:
            findings.append("now NodePorts %s are handed out as source ports" % _span(exposed))
    except ValueError as exc:
        errors.append("now: %s" % exc)
    states = {}
    for tool in sysctl_boot.TOOLS:
        states[tool] = _boot_state(loaded, tool, nodeports)
        if loaded.get("after_reboot") and states[tool][2] is None:
            later = _boot_state(loaded["after_reboot"], tool, nodeports)
            if later[2] is None and bool(later[0]) != bool(states[tool][0]):
                states[tool] = (None, None, "the verdict changes once a reboot empties /run/sysctl.d (%s), unless "
                                "whatever wrote it writes it again first" % ", ".join(loaded["after_reboot"]["runtime_files"]))
        facts["boot"][tool] = {"exposed": _span(states[tool][0]) if states[tool][0] is not None else None,
                               "error": states[tool][2]}
    labels = {"systemd": "at boot (systemd-sysctl)", "procps": "after sysctl --system"}
    same = states["systemd"] == states["procps"]
    if same:
        labels["systemd"] = "at boot and after sysctl --system"
    for tool in sysctl_boot.TOOLS[:1] if same else sysctl_boot.TOOLS:
        exposed, text, error = states[tool]
        if error:
            errors.append("%s: %s" % (labels[tool], error))
            continue
        observed.append("%s: %s" % (labels[tool], text))
        if exposed:
            findings.append("%s NodePorts %s are not reserved" % (labels[tool], _span(exposed)))
    dropped = _dropped_findings(root, loaded, labels, reserved_now)
    findings += dropped
    fix = None
    if findings or errors:
        owned = sorted(set(f for tool in sysctl_boot.TOOLS for f in owned_reserving_files(root, loaded, tool)))
        fix = ("write %s with %s = %s (the NodePort range plus every port the node reserves now or at boot: a write "
               "replaces the list), and sysctl -w it; podnet.doctor.remediate does this%s" % (
                   (owned or [sysctl_file or "a sysctl.d drop-in that sorts last"])[-1], RESERVED_KEY,
                   reserved_to_write(root, nodeports, loaded, owned or ([sysctl_file] if sysctl_file else ())),
                   " (run it again for the ports area: its drop-in holds the list it wrote then)" if dropped else ""))
    if findings:
        text = "; ".join(findings + observed)
        if errors:
            text += "; also undecided: " + "; ".join(errors)
        return check_result(CHECK_ID, "fail", text, expected, fix, findings=findings), facts
    if errors:
        return check_result(CHECK_ID, "error", "cannot tell: " + "; ".join(errors + observed), expected,
                            findings=errors), facts
    return check_result(CHECK_ID, "pass", "; ".join(observed), expected), facts


def _dropped_findings(root, loaded, labels, reserved_now):
    """``dropped_by_our_drop_in`` for both tools, as findings (one when both say the same)."""
    now = parse_reserved(reserved_now) if reserved_now is not None else None
    texts = dict((tool, dropped_by_our_drop_in(root, loaded, tool, now)) for tool in sysctl_boot.TOOLS)
    if texts["systemd"] == texts["procps"]:
        return ["at boot and after sysctl --system %s" % texts["systemd"]] if texts["systemd"] else []
    return ["%s %s" % (labels[tool], texts[tool]) for tool in sysctl_boot.TOOLS if texts[tool]]


def checks(root, nodeport_range, sysctl_file, facts, loaded=None):
    """node_info's one call: the check list, with the facts stored under ``facts["ports"]``."""
    result, facts["ports"] = evaluate(root, parse_nodeport_range(nodeport_range), sysctl_file, loaded)
    return [result]
