"""The oracle of the firewall tests: did a new flow on each overlay port reach local delivery?

The receiver watches with one raw socket per IP protocol (UDP, TCP, IP-in-IP, GRE). Linux hands a
raw socket its copy in local delivery, after the prerouting and input hooks accepted the
packet, so a probe seen there passed every firewall of the receiver; nothing is bound to the
ports. Independent of the collection's own probe code on purpose: this judges it.
"""
import json
import subprocess

from .podman import node_exec

# Runs on the receiver: one raw socket per IP protocol; prints "ready", then, once stdin says
# the sender is done (plus a grace period), the (protocol, port) of every probe seen.
OBSERVER = r"""
import json, select, socket, sys, time
tag, sports = sys.argv[1].encode(), set(int(p) for p in sys.argv[2].split(","))
socks = [socket.socket(socket.AF_INET, socket.SOCK_RAW, n) for n in (4, 6, 17, 47)]
print("ready", flush=True)
seen, done_at = set(), None
while done_at is None or time.time() < done_at + 0.4:
    ready, _, _ = select.select(socks + ([sys.stdin] if done_at is None else []), [], [], 0.1)
    for s in ready:
        if s is sys.stdin:
            sys.stdin.readline(); done_at = time.time(); continue
        data = s.recv(65535)
        body, proto = data[(data[0] & 15) * 4:], data[9]
        if proto == 17 and body[8:].startswith(tag):
            seen.add(("udp", int.from_bytes(body[2:4], "big")))
        elif proto == 6 and int.from_bytes(body[0:2], "big") in sports and body[13] & 2:
            seen.add(("tcp", int.from_bytes(body[2:4], "big")))
        elif proto == 4 and body.startswith(tag):
            seen.add(("ipip", None))
        elif proto == 47 and body.startswith(tag):
            seen.add(("gre", None))
print(json.dumps(sorted(seen, key=str)))
"""

# Runs on the sender: a datagram, a SYN (non-blocking connect from a chosen source port) or a
# raw IP-protocol-4 or -47 packet per probe, twice each.
SENDER = r"""
import json, socket, sys, time
target, tag, probes = sys.argv[1], sys.argv[2].encode(), json.loads(sys.argv[3])
for attempt in range(2):
    for proto, port, sport in probes:
        if proto == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("", sport + attempt))
            s.sendto(tag, (target, port)); s.close()
        elif proto == "tcp":
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.bind(("", sport + attempt)); s.setblocking(False)
            try: s.connect((target, port))
            except OSError: pass
            time.sleep(0.02); s.close()
        else:
            number = {"ipip": 4, "gre": 47}[proto]
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, number); s.sendto(tag, (target, 0)); s.close()
    time.sleep(0.05)
"""


def arrived(receiver, sender, target, ports, rng):
    """{(proto, port): seen} for a probe from ``sender`` to ``target`` (an address of
    ``receiver``) on each of ``ports`` (catalog entries (proto, port, description))."""
    tag = "podnet-dfw %08x" % rng.getrandbits(32)
    probes = [(proto, port, rng.randrange(20000, 60000, 2)) for proto, port, _desc in ports]
    sports = ",".join(str(p[2] + a) for p in probes for a in (0, 1)) or "0"
    observer = subprocess.Popen(["podman", "exec", "-i", receiver, "python3", "-c", OBSERVER, tag, sports],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if observer.stdout.readline().strip() != "ready":
            raise RuntimeError("the observer on %s did not start" % receiver)
        node_exec(sender, ["python3", "-c", SENDER, target, tag, json.dumps(probes)])
        out, _err = observer.communicate("done\n", timeout=30)
    finally:
        if observer.poll() is None:
            observer.kill()
    seen = set(tuple(item) for item in json.loads(out.strip().splitlines()[-1]))
    return dict(((proto, port), (proto, port) in seen) for proto, port, _desc in ports)
