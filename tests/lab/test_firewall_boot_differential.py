"""Differential: overlay.boot against the next boot, on random runtime-vs-boot divergences.

A seeded generator draws realistic layouts: one firewall backend (nftables, iptables-legacy,
iptables-nft with a restore unit, ufw, firewalld), its boot configuration (how, if at all,
UDP 8472 is admitted: from the node network, from anywhere, a port range, a set, another
port, another source, a source-bound zone; with defines and include files), how systemd
starts it (enabled, disabled, masked) and how the running firewall differs from it (opened or
closed by hand at runtime only, stopped now, started without being enabled).

Verdict: overlay.boot from node_info. Oracle: reboot the node (``podman restart``) and send
real VXLAN to it (ping to its VTEP address across UDP 8472). A ``pass`` whose packets are
dropped after the reboot, or a ``fail`` whose packets arrive, is wrong.

``PODNET_FUZZ_SEED`` (comma-separated) replays or varies the seeds; ``PODNET_FUZZ_LAYOUTS``
sets the layouts per seed. The score is printed and written to
tests/output/differential/firewall_boot.json, with a score per release: the judged node cycles
through the boot fleet's bullseye, bookworm and trixie nodes (test_overlay_boot.JUDGED), layout
i on the i-th of them, so the draws are spread over the releases, not tripled.
"""
import json
import os
import random
import time

from conftest import REPO, node_info
from podnet_lab import fleet as lab_fleet
from podnet_lab.podman import node_exec
# the fleet fixture (the same fleet, one module at a time) and the probe
from test_overlay_boot import JUDGED, RESTORE_UNIT, boot_fleet, reset_firewalls, vtep_ping  # noqa: F401 pylint: disable=unused-import

SEEDS = [int(s) for s in os.environ.get("PODNET_FUZZ_SEED", "1201").split(",") if s.strip()]
LAYOUTS = int(os.environ.get("PODNET_FUZZ_LAYOUTS", "8"))
BACKENDS = ("nftables", "iptables-legacy", "iptables-nft", "ufw", "firewalld")
OTHER_NET = "10.0.0.0/8"


# -- the generator -------------------------------------------------------------------
def draw_layout(rng, net):
    backend = rng.choice(BACKENDS)
    opening = rng.choice(["none", "node_net", "anywhere", "range", "set", "other_port", "other_source"]
                         + (["trusted_source"] if backend == "firewalld" else [])
                         + (["deny_rule"] if backend in ("ufw", "iptables-legacy", "iptables-nft") else []))
    unit = rng.choice(["enabled"] * 6 + ["disabled"] * 2 + ["masked"])
    runtime = rng.choice(["as_boot", "as_boot", "opened_by_hand", "closed_by_hand", "stopped",
                          "started_not_enabled"])
    # a site's own restore unit: in /etc/systemd/system, or /usr/local/lib (a unit in /etc cannot be masked)
    unit_dir = "/usr/local/lib/systemd/system" if unit == "masked" or rng.random() < 0.3 else "/etc/systemd/system"
    return {"backend": backend, "opening": opening, "unit": unit, "runtime": runtime, "net": net,
            "define": rng.random() < 0.5, "include": rng.random() < 0.5, "unit_dir": unit_dir}


def _nft_rule(layout):
    src = "$NODES" if layout["define"] else layout["net"]
    return {"none": None, "node_net": "ip saddr %s udp dport 8472 accept" % src,
            "anywhere": "udp dport 8472 accept", "range": "udp dport 8000-9000 accept",
            "set": "udp dport { 4789, 8472 } accept", "other_port": "udp dport 4789 accept",
            "other_source": "ip saddr %s udp dport 8472 accept" % OTHER_NET}[layout["opening"]]


def nftables_files(layout):
    rule = _nft_rule(layout)
    lines = ["#!/usr/sbin/nft -f", "flush ruleset"]
    if layout["define"]:
        lines.append("define NODES = %s" % layout["net"])
    lines += ["table inet filter {", "    chain input {", "        type filter hook input priority filter; policy drop;",
              "        ct state established,related accept", '        iif "lo" accept', "        tcp dport 22 accept",
              "        meta l4proto { icmp, ipv6-icmp } accept"]
    files = {}
    if rule and layout["include"]:
        files["/etc/nftables.d/overlay.nft"] = "table inet filter {\n    chain input {\n        %s\n    }\n}\n" % rule
    elif rule:
        lines.append("        " + rule)
    lines += ["    }", "}"]
    if layout["include"]:
        lines.append('include "/etc/nftables.d/*.nft"')
    files["/etc/nftables.conf"] = "\n".join(lines) + "\n"
    return files


def _ipt_rule(layout):
    return {"none": None, "node_net": "-A INPUT -s %s -p udp -m udp --dport 8472 -j ACCEPT" % layout["net"],
            "anywhere": "-A INPUT -p udp -m udp --dport 8472 -j ACCEPT",
            "range": "-A INPUT -p udp -m udp --dport 8000:9000 -j ACCEPT",
            "set": "-A INPUT -p udp -m multiport --dports 4789,8472 -m comment --comment \"overlay ports\" -j ACCEPT",
            "other_port": "-A INPUT -p udp -m udp --dport 4789 -j ACCEPT",
            "other_source": "-A INPUT -s %s -p udp -m udp --dport 8472 -j ACCEPT" % OTHER_NET,
            "deny_rule": None}[layout["opening"]]


def rules_v4(layout):
    if layout["opening"] == "deny_rule":  # default accept, one explicit drop (the lab fault's shape)
        return "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" \
               "-A INPUT -p udp -m udp --dport 8472 -j DROP\nCOMMIT\n"
    rule = _ipt_rule(layout)
    return "\n".join(["*filter", ":INPUT DROP [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
                      "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-A INPUT -i lo -j ACCEPT",
                      "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT", "-A INPUT -p icmp -j ACCEPT"]
                     + ([rule] if rule else []) + ["COMMIT", ""])


RESTORE_UNIT_TEXT = """[Unit]
Description=Restore iptables rules at boot (a site's own netfilter-persistent)
DefaultDependencies=no
Before=network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/sbin/%s-restore /etc/iptables/rules.v4

[Install]
WantedBy=multi-user.target
"""


def ufw_commands(layout):
    net = layout["net"]
    commands = [["ufw", "default", "allow" if layout["opening"] == "deny_rule" else "deny", "incoming"],
                ["ufw", "allow", "22/tcp"]]
    commands += {"none": [], "node_net": [["ufw", "allow", "from", net, "to", "any", "port", "8472", "proto", "udp"]],
                 "anywhere": [["ufw", "allow", "8472/udp"]], "range": [["ufw", "allow", "8000:9000/udp"]],
                 "set": [["ufw", "allow", "4789,8472/udp"]], "other_port": [["ufw", "allow", "4789/udp"]],
                 "other_source": [["ufw", "allow", "from", OTHER_NET, "to", "any", "port", "8472", "proto", "udp"]],
                 "deny_rule": [["ufw", "deny", "8472/udp"]]}[layout["opening"]]
    return commands


def firewalld_commands(layout):
    rich = 'rule family="ipv4" source address="%s" port port="8472" protocol="udp" accept'
    return {"none": [], "node_net": [["--zone=public", "--add-rich-rule=" + rich % layout["net"]]],
            "anywhere": [["--zone=public", "--add-port=8472/udp"]], "range": [["--zone=public", "--add-port=8000-9000/udp"]],
            "set": [["--zone=public", "--add-port=4789/udp"], ["--zone=public", "--add-port=8472/udp"]],
            "other_port": [["--zone=public", "--add-port=4789/udp"]],
            "other_source": [["--zone=public", "--add-rich-rule=" + rich % OTHER_NET]],
            "trusted_source": [["--zone=trusted", "--add-source=%s" % layout["net"]]]}[layout["opening"]]


SERVICE = {"nftables": "nftables", "iptables-legacy": RESTORE_UNIT, "iptables-nft": RESTORE_UNIT,
           "ufw": "ufw", "firewalld": "firewalld"}


def apply_layout(node, layout):
    backend, service = layout["backend"], SERVICE[layout["backend"]]
    files = {}
    if backend == "nftables":
        files = nftables_files(layout)
    elif backend.startswith("iptables"):
        files = {"/etc/iptables/rules.v4": rules_v4(layout),
                 "%s/%s.service" % (layout["unit_dir"], RESTORE_UNIT): RESTORE_UNIT_TEXT % backend}
    for path, text in files.items():
        node_exec(node, ["sh", "-c", 'mkdir -p "${0%/*}" && cat > "$0"', path], input=text)
    node_exec(node, ["systemctl", "daemon-reload"])
    if backend == "ufw":
        for argv in ufw_commands(layout):
            node_exec(node, argv)
        node_exec(node, ["ufw", "--force", "enable"])  # ENABLED=yes, and loads the rules now
        node_exec(node, ["/lib/ufw/ufw-init", "stop"])  # started below, or not, like the others
    elif backend == "firewalld":
        for argv in firewalld_commands(layout):
            node_exec(node, ["firewall-offline-cmd"] + argv, timeout=60)
    # how systemd starts it at boot
    node_exec(node, ["systemctl", {"enabled": "enable", "disabled": "disable", "masked": "mask"}[layout["unit"]],
                     service])
    # how the running firewall differs from the boot configuration
    runtime = layout["runtime"]
    start = runtime != "stopped" and (layout["unit"] == "enabled" or runtime == "started_not_enabled")
    if start and layout["unit"] != "masked":
        node_exec(node, ["systemctl", "start", service], timeout=120)
        if backend == "firewalld":
            node_exec(node, ["firewall-cmd", "--state"], timeout=60, check=False)
        if runtime == "opened_by_hand":
            open_by_hand(node, backend, "accept")
        elif runtime == "closed_by_hand":
            open_by_hand(node, backend, "drop")


def open_by_hand(node, backend, verdict):
    if backend == "nftables":
        node_exec(node, ["nft", "insert", "rule", "inet", "filter", "input", "udp", "dport", "8472", verdict])
    elif backend.startswith("iptables"):
        node_exec(node, [backend, "-I", "INPUT", "-p", "udp", "--dport", "8472", "-j", verdict.upper()])
    elif backend == "ufw":
        node_exec(node, ["iptables", "-I", "ufw-user-input", "-p", "udp", "--dport", "8472", "-j", verdict.upper()])
    elif verdict == "accept":
        node_exec(node, ["firewall-cmd", "--zone=public", "--add-port=8472/udp"], timeout=60)
    else:
        node_exec(node, ["firewall-cmd", "--zone=public", "--add-rich-rule=rule family=\"ipv4\" port port=\"8472\" "
                         "protocol=\"udp\" drop"], timeout=60)


def test_overlay_boot_agrees_with_real_reboots(boot_fleet):
    fleet = boot_fleet
    score = {"suite": "firewall_boot", "layouts": 0, "wrong": 0, "error": 0, "seeds": SEEDS, "cases": [], "by_release": {}}
    started = time.time()
    for seed in SEEDS:
        rng = random.Random(seed)
        for index in range(LAYOUTS):
            layout = draw_layout(rng, str(fleet.subnet))
            judged, release = JUDGED[score["layouts"] % len(JUDGED)]  # cycles through the releases
            node = fleet.node(judged)
            reset_firewalls(node)
            apply_layout(node, layout)
            check = node_info(fleet.inventory_path, fleet.hostname(judged))["overlay.boot"]
            lab_fleet.reboot(node)
            arrived = vtep_ping(fleet, dst=judged)
            case = {"seed": seed, "index": index, "node": fleet.hostname(judged), "release": release,
                    "layout": layout, "status": check["status"],
                    "observed": check["observed"], "after_reboot": "arrived" if arrived.loss == 0 else
                    ("dropped" if arrived.loss == 100 else "loss %s%%" % arrived.loss)}
            per_release = score["by_release"].setdefault(release, {"layouts": 0, "wrong": 0, "error": 0})
            if check["status"] == "error":
                case["verdict"] = "error"
            elif (check["status"] == "pass") != (arrived.loss == 0):
                case["verdict"] = "WRONG"
            else:
                case["verdict"] = "ok"
            for counts in (score, per_release):
                counts["layouts"] += 1
                counts["error"] += case["verdict"] == "error"
                counts["wrong"] += case["verdict"] == "WRONG"
            score["cases"].append(case)
            if case["verdict"] != "ok":
                print("firewall_boot seed=%d layout %d: %s\n  %s" % (seed, index, case["verdict"], json.dumps(case)))
    for judged, _release in JUDGED:
        reset_firewalls(fleet.node(judged))
    score["seconds"] = round(time.time() - started, 1)
    percent = 100.0 * score["error"] / max(score["layouts"], 1)
    line = "firewall_boot: layouts=%d wrong=%d error=%d (%.1f %%) seeds=%s" % (
        score["layouts"], score["wrong"], score["error"], percent, ",".join(str(s) for s in SEEDS))
    print(line)
    for release, counts in sorted(score["by_release"].items()):
        print("firewall_boot[%s]: layouts=%d wrong=%d error=%d" % (release, counts["layouts"], counts["wrong"], counts["error"]))
    out = os.path.join(REPO, "tests", "output", "differential")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "firewall_boot.json"), "w") as handle:
        json.dump(score, handle, indent=2)
    wrong = [c for c in score["cases"] if c["verdict"] == "WRONG"]
    assert not wrong, "%s\n%s" % (line, "\n".join(json.dumps(c) for c in wrong))
    assert percent <= 5.0, line
