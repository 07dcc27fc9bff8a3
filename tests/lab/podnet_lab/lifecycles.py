"""A node's life as random but realistic step sequences, and the oracles that judge it.

A sequence is drawn from ``random.Random(seed)``: faults an admin or a hardening baseline
brings (a sysctl.d file setting a key to 0, a host firewall dropping VXLAN), a compliance
scan resetting one setting at runtime (``sysctl -w``), ``podnet.doctor.remediate`` (alone or
two runs at once, as a cron job and a human would) and reboots. After every step the lab
asks the node itself, never podnet.doctor's code:

* now: ``/proc/sys`` for the sysctls; for the overlay a real VXLAN datagram from the peer,
  sent from a fresh source port (a new conntrack flow, like a first packet), counted by the
  receiver's ``flannel.1`` device, which only sees what the host firewall's INPUT hook let
  through to the kernel's VXLAN socket;
* next boot: the real ``/lib/systemd/systemd-sysctl`` and ``sysctl --system`` replayed in a
  scratch network namespace (``unshare -n``) whose ``net.*`` keys start at the kernel
  defaults. ``net.*`` sysctls belong to a network namespace, so the replay reads the node's
  real files with the real tools without changing anything the node runs with; only
  ``net.*`` keys are applied (``--prefix``/``--pattern``), so no global kernel setting is
  written either. Every reboot step checks the replay against a real reboot.

A lab reboot (``podman restart``) starts the node's network namespace from the host's
values, not the kernel's (a new namespace inherits IPv4 settings from the host, which
forwards), so :func:`boot_from_kernel_defaults` installs a unit that puts the keys back to
the kernel defaults before systemd-sysctl runs, as on a real machine.
"""
import random
import time

from . import faults, fleet as lab_fleet, pods, probes
from .podman import node_exec, node_sh, run

IP_FORWARD = "net.ipv4.ip_forward"
BRIDGE_NF = "net.bridge.bridge-nf-call-iptables"
KEYS = (IP_FORWARD, BRIDGE_NF)
# What a real kernel starts a boot with. net.bridge.* appear with br_netfilter, at 1.
KERNEL_DEFAULTS = {IP_FORWARD: "0", BRIDGE_NF: "1"}

# Where hardening baselines and admins put an override, and how it ranks against ours
# (/etc/sysctl.d/99-zzz-podnet-doctor.conf): before it, after it (ours must be renamed),
# and /etc/sysctl.conf, which sysctl --system reads last whatever ours is named.
HARDENING_FILES = (
    (faults.HARDENING_FILE, 4),            # 99-zz-cis.conf: sorts before ours
    ("/etc/sysctl.d/60-cis-network.conf", 2),
    ("/etc/sysctl.d/zz-hardening.conf", 2),  # sorts after ours: ours must be renamed
    ("/etc/sysctl.conf", 1),                # appended to Debian's commented template
)
# net.ipv4.conf.all.forwarding is the same kernel variable as net.ipv4.ip_forward (CIS baselines set both)
HARDENING_SETTINGS = (({IP_FORWARD: "0"}, 3), ({BRIDGE_NF: "0"}, 2), ({IP_FORWARD: "0", BRIDGE_NF: "0"}, 3),
                      ({"net.ipv4.conf.all.forwarding": "0"}, 1))
# firewalld starts slowly (D-Bus, its own nft tables): drawn less often.
BACKENDS = (("nftables", 3), ("iptables-legacy", 2), ("iptables-nft", 2), ("ufw", 2), ("firewalld", 1))
STEP_KINDS = (("harden", 3), ("firewall", 3), ("scan_reset", 3), ("remediate", 5), ("two_fixers", 2),
              ("reboot", 2), ("unharden", 1), ("reload_firewall", 1.5), ("admin_fix", 1))
# How each firewall's own service reloads its boot configuration (a config management run,
# a package upgrade): what a reboot would load, without the reboot.
RELOAD = {"nftables": ["systemctl", "restart", "nftables"], "ufw": ["ufw", "reload"],
          "firewalld": ["firewall-cmd", "--reload"],
          "iptables-legacy": ["systemctl", "restart", faults.IPT_FAULT_UNIT],
          "iptables-nft": ["systemctl", "restart", faults.IPT_FAULT_UNIT]}
BOOT_UNIT = "podnet-lab-kernel-defaults.service"
BOOT_UNIT_TEXT = """[Unit]
Description=Lab: start the boot from the kernel's sysctl defaults, as a real machine does
DefaultDependencies=no
Before=systemd-sysctl.service sysinit.target
Conflicts=shutdown.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo %s > /proc/sys/net/ipv4/ip_forward'

[Install]
WantedBy=sysinit.target
""" % KERNEL_DEFAULTS[IP_FORWARD]


def _weighted(rng, choices):
    total = sum(weight for _item, weight in choices)
    point = rng.uniform(0, total)
    for item, weight in choices:
        point -= weight
        if point <= 0:
            return item
    return choices[-1][0]


def draw_sequence(seed, min_steps=5, max_steps=7):
    """A sequence of steps for one node's life, from ``seed`` alone."""
    rng = random.Random(seed)
    backend = _weighted(rng, BACKENDS)
    sequence = {"seed": seed, "on_override": "comment" if rng.random() < 0.25 else "outrank", "steps": []}
    hardened, firewalled, fixed_since = [], False, False
    for _index in range(rng.randint(min_steps, max_steps)):
        kind = _weighted(rng, STEP_KINDS)
        if kind == "unharden" and not hardened:
            kind = "harden"
        if kind == "reload_firewall" and not firewalled:
            kind = "firewall"
        elif kind == "firewall" and firewalled and not fixed_since:
            kind = "reload_firewall"  # it is in place already: nothing was fixed since
        if kind in ("remediate", "two_fixers"):
            fixed_since = True
        elif kind == "firewall":
            fixed_since = False
        step = {"kind": kind}
        if kind == "harden":
            step["path"] = _weighted(rng, HARDENING_FILES)
            step["settings"] = dict(_weighted(rng, HARDENING_SETTINGS))
            hardened.append(step["path"])
        elif kind == "unharden":
            step["path"] = rng.choice(hardened)
            hardened = [p for p in hardened if p != step["path"]]
        elif kind in ("firewall", "reload_firewall"):
            step["backend"] = backend
            firewalled = True
        elif kind in ("scan_reset", "admin_fix"):
            step["key"] = rng.choice(KEYS)
        elif kind == "remediate" and rng.random() < 0.25:
            # a team that lets podnet.doctor fix one area only
            step["areas"] = [rng.choice(["ip_forward", "bridge_netfilter", "overlay_firewall"])]
        sequence["steps"].append(step)
    kinds = [s["kind"] for s in sequence["steps"]]
    if "remediate" not in kinds and "two_fixers" not in kinds:
        sequence["steps"].insert(rng.randrange(len(kinds) + 1), {"kind": "remediate"})
    kinds = [s["kind"] for s in sequence["steps"]]
    last_fix = max(i for i, kind in enumerate(kinds) if kind in ("remediate", "two_fixers"))
    if "reboot" not in kinds[last_fix:]:
        sequence["steps"].append({"kind": "reboot"})  # what the last fix promised, tested by a real boot
    return sequence


def describe_step(step):
    kind = step["kind"]
    if kind == "harden":
        return "harden %s with %s" % (step["path"], ", ".join("%s=%s" % kv for kv in sorted(step["settings"].items())))
    if kind == "unharden":
        return "an admin removes the override in %s" % step["path"]
    if kind == "firewall":
        return "host firewall %s set to drop VXLAN (UDP 8472)" % step["backend"]
    if kind == "scan_reset":
        return "a compliance scan runs sysctl -w %s=0" % step["key"]
    if kind == "admin_fix":
        return "an admin runs sysctl -w %s=1 (runtime only)" % step["key"]
    if kind == "reload_firewall":
        return "%s reloads its boot configuration (%s)" % (step["backend"], " ".join(RELOAD[step["backend"]]))
    if kind == "remediate":
        return "podnet.doctor.remediate" + (" -e podnet_remediate_areas=%s" % step["areas"] if step.get("areas") else "")
    if kind == "two_fixers":
        return "two podnet.doctor.remediate runs at once"
    return "reboot"


def describe(sequence):
    name = sequence["seed"]
    replay = "PODNET_FUZZ_SEED=%s PODNET_FUZZ_LAYOUTS=1 replays it" % name if isinstance(name, int) else "pinned"
    lines = ["seed %s (%s), podnet_sysctl_override=%s:" % (name, replay, sequence["on_override"])]
    lines += ["  %d. %s" % (number, describe_step(step)) for number, step in enumerate(sequence["steps"], 1)]
    return "\n".join(lines)


# -- the node's own answers ----------------------------------------------------------------
def boot_from_kernel_defaults(node):
    """Install the unit that makes a lab reboot start from the kernel's sysctl defaults."""
    node_exec(node, ["sh", "-c", 'cat > "/etc/systemd/system/$0"', BOOT_UNIT], input=BOOT_UNIT_TEXT)
    node_exec(node, ["systemctl", "daemon-reload"])
    node_exec(node, ["systemctl", "enable", "--quiet", BOOT_UNIT])


def fresh_node(fleet, index):
    """Replace node ``index`` with a new container from the image (a node nobody touched),
    booted from the kernel defaults."""
    node = fleet.node(index)
    run(["rm", "-f", "-t", "5", node], check=False)
    fleet.up()
    boot_from_kernel_defaults(node)
    lab_fleet.reboot(node)
    return node


def runtime_values(node):
    """The live values, from /proc/sys on the node (None: the key does not exist)."""
    script = "; ".join("cat /proc/sys/%s 2>/dev/null || echo absent" % k.replace(".", "/") for k in KEYS)
    values = node_exec(node, ["sh", "-c", script]).stdout.split()
    return dict((k, None if v == "absent" else v) for k, v in zip(KEYS, values))


_REPLAY = r"""
set -e
for k in %(keys)s; do
    [ -e /proc/sys/$k ] || continue
    case $k in
        net/ipv4/ip_forward) echo %(ip_forward)s > /proc/sys/$k ;;
    esac
done
%(tool)s >/dev/null 2>&1 || true
for k in %(keys)s; do cat /proc/sys/$k 2>/dev/null || echo absent; done
"""
REPLAY_TOOLS = {
    "systemd": "/lib/systemd/systemd-sysctl --prefix=net",
    "procps": r"sysctl -q --system --pattern '^net\.'",
}


def boot_values(node):
    """What the node's files give at the next boot, per tool: the real systemd-sysctl and
    sysctl --system, each run in its own fresh network namespace from the kernel defaults
    (a new namespace has net.bridge.* at the kernel's 1 already)."""
    found = {}
    keys = " ".join(k.replace(".", "/") for k in KEYS)
    for tool, command in REPLAY_TOOLS.items():
        script = _REPLAY % {"keys": keys, "ip_forward": KERNEL_DEFAULTS[IP_FORWARD], "tool": command}
        values = node_exec(node, ["unshare", "-n", "sh", "-c", script]).stdout.split()
        found[tool] = dict((k, None if v == "absent" else v) for k, v in zip(KEYS, values))
    return found


_SEND_VXLAN = r"""
import socket, struct, sys
source, target, vtep_src, vtep_dst = sys.argv[1:5]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((source, 0))  # a fresh source port: a new flow for conntrack, like a first packet
vxlan = struct.pack("!II", 0x08000000, 1 << 8)  # flags I, VNI 1 (flannel's)
ether = bytes.fromhex(vtep_dst.replace(":", "")) + bytes.fromhex(vtep_src.replace(":", "")) + b"\x08\x00"
inner = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 32, 0, 0, 64, 17, 0, socket.inet_aton("10.244.1.0"),
                    socket.inet_aton("10.244.2.0")) + struct.pack("!HHHH", 9, 9, 12, 0) + b"lab!"
for _ in range(3):
    sock.sendto(vxlan + ether + inner, (target, 8472))
"""


def _rx_packets(node):
    return int(node_exec(node, ["cat", "/sys/class/net/flannel.1/statistics/rx_packets"]).stdout.strip())


def overlay_arrives(fleet, src, dst):
    """True when a real VXLAN datagram (UDP 8472) from node ``src`` on the node network
    reaches node ``dst``'s VXLAN device, i.e. passed its host firewall."""
    receiver = fleet.node(dst)
    pods.ensure(fleet, [receiver])  # flannel.1 (gone after a reboot, like the real CNI's)
    before = _rx_packets(receiver)
    node_exec(fleet.node(src), ["python3", "-c", _SEND_VXLAN, fleet.address(src), fleet.address(dst),
                                pods.vtep_mac(src), pods.vtep_mac(dst)])
    for _attempt in range(15):  # it arrives in milliseconds; a busy machine gets 1.5 s
        time.sleep(0.1)
        if _rx_packets(receiver) > before:
            return True
    return False


def observe(fleet, src, dst):
    """Everything the oracles say about node ``dst`` now and at its next boot."""
    node = fleet.node(dst)
    seen = {"runtime": runtime_values(node), "boot": boot_values(node),
            "overlay_inbound": overlay_arrives(fleet, src, dst), "forward": None}
    seen["bridge_exists"] = seen["runtime"][BRIDGE_NF] is not None
    if seen["runtime"][IP_FORWARD] == "1" and seen["overlay_inbound"]:
        # pod -> pod across the overlay: with forwarding on and VXLAN admitted, only the
        # receiver's forward path can stop it (the peer has no firewall)
        seen["forward"] = probes.pod_connect(fleet, src, dst).ok
    return seen


# -- verdicts against the oracles ---------------------------------------------------------
def expected_status(check_id, seen):
    """pass/fail the node itself gives for ``check_id``, or None when the lab cannot judge it."""
    def boot_ok(key):
        return all(seen["boot"][tool][key] == "1" for tool in REPLAY_TOOLS)
    if check_id == "ip_forward.runtime":
        return seen["runtime"][IP_FORWARD] == "1"
    if check_id == "ip_forward.boot":
        return boot_ok(IP_FORWARD)
    if check_id == "bridge_nf_call.runtime":
        return seen["runtime"][BRIDGE_NF] == "1"
    if check_id == "bridge_nf_call.boot":
        # the lab's kernel is the host's: br_netfilter is there at every lab boot
        return boot_ok(BRIDGE_NF)
    if check_id == "br_netfilter.loaded":
        return seen["bridge_exists"]
    if check_id == "overlay.inbound":
        return seen["overlay_inbound"]
    if check_id == "overlay.forward":
        return seen["forward"]  # None (not judged) without forwarding or with VXLAN dropped
    return None  # br_netfilter.boot: the lab's kernel is the host's, the module never unloads


def judge(checks, seen):
    """(wrong, errors): checks whose pass/fail disagrees with the node, checks in error."""
    wrong, errors = [], []
    for check_id, check in sorted(checks.items()):
        if check["status"] == "error":
            errors.append("%s error: %s" % (check_id, check.get("observed", "")))
            continue
        expected = expected_status(check_id, seen)
        if expected is None or check["status"] not in ("pass", "fail"):
            continue
        if (check["status"] == "pass") != expected:
            wrong.append("%s says %s but the node says %s (%s)" % (
                check_id, check["status"], "pass" if expected else "fail", check.get("observed", "")))
    return wrong, errors


def broken_promises(seen, kernel=True):
    """What a remediate run that reported success left wrong, now or at the next boot
    (``kernel=False``: the firewall part only)."""
    found = []
    for key in KEYS if kernel else ():
        if seen["runtime"][key] != "1":
            found.append("%s=%s now" % (key, seen["runtime"][key]))
        for tool in REPLAY_TOOLS:
            if seen["boot"][tool][key] != "1":
                found.append("%s=%s at the next boot (%s)" % (key, seen["boot"][tool][key], tool))
    if not seen["overlay_inbound"]:
        found.append("VXLAN from the node network is still dropped")
    if seen["forward"] is False:
        found.append("pod traffic forwarded through the node is still dropped")
    return found


# -- steps -------------------------------------------------------------------------------
def harden(node, path, settings):
    if path == "/etc/sysctl.conf":
        body = "".join("%s=%s\n" % item for item in sorted(settings.items()))
        node_sh(node, "printf '\\n# hardening baseline (lab fault)\\n%s' >> /etc/sysctl.conf" % body.replace("\n", "\\n"))
    else:
        faults.drop_hardening_file(node, settings, path)


def unharden(node, path):
    if path == "/etc/sysctl.conf":
        # the lab's lines and what a comment-policy run made of them
        node_sh(node, r"sed -i -e '/hardening baseline (lab fault)/d' -e '/^net\.\(ipv4\.ip_forward\|bridge\.\)/d' "
                      r"-e '/^# disabled by podnet.doctor/d' /etc/sysctl.conf")
    else:
        faults.remove_file(node, path)
