#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: overlay_probe
short_description: Send real packets on every overlay port between node pairs and report which arrive
version_added: 1.1.0
description:
  - The active side of C(overlay.inbound) - the C(iperf -u) diagnosis, automated. It also catches drops
    that no ruleset on the receiving node shows - a cloud security group or NACL, a switch ACL, the
    sender's own OUTPUT chain.
  - Three steps, each run on every node before the next (the C(podnet.doctor.overlay_probe) role does
    this) - C(listen) starts an observer that ends by itself after O(duration) seconds; C(send) sends
    each overlay port's probe to the next O(probe_peers) nodes of the ring; C(collect) stops the
    observer and returns the check C(overlay.probe) for this node as a receiver.
  - The observer uses raw sockets, which see a packet only after the host firewall's INPUT hook has
    accepted it, so it binds nothing - the CNI's port may be in use (the kernel's VXLAN socket) or
    free, and a CNI starting meanwhile is never blocked. UDP and raw-protocol probes carry the run ID;
    TCP probes are SYNs from the run's source port.
  - IPv4 node networks only. Needs root (raw sockets).
author: podnet.doctor developers (@podnet)
extends_documentation_fragment:
  - podnet.doctor.attributes.read_only
  - podnet.doctor.overlay
options:
  mode:
    description: Which step to run.
    type: str
    choices: [listen, send, collect]
    required: true
  run_id:
    description: Names this probe run (letters, digits, C(-); 4 to 40 characters); the same on every node.
    type: str
    required: true
  source_port:
    description: Source port of this run's UDP and TCP probes; the same on every node.
    type: int
    required: true
  peer_names:
    description: Inventory names in the order of O(peers), for the messages.
    type: list
    elements: str
    default: []
  probe_peers:
    description: How many of the next nodes in the ring each node probes (C(0) - all of them).
    type: int
    default: 3
  duration:
    description: Seconds after which the observer of C(listen) ends by itself.
    type: int
    default: 120
  root:
    description: Directory to treat as C(/) (where the run's state lives under C(run/podnet-doctor)).
    type: path
    default: /
"""

EXAMPLES = r"""
- name: Observe (every node, before any probe is sent)
  podnet.doctor.overlay_probe:
    mode: listen
    run_id: p1a2b3c4
    source_port: 47123
    peers: "{{ podnet_cluster.peers }}"

- name: Send this node's probes to the next three nodes
  podnet.doctor.overlay_probe:
    mode: send
    run_id: p1a2b3c4
    source_port: 47123
    peers: "{{ podnet_cluster.peers }}"

- name: Collect what arrived here
  podnet.doctor.overlay_probe:
    mode: collect
    run_id: p1a2b3c4
    source_port: 47123
    peers: "{{ podnet_cluster.peers }}"
  register: podnet_probe
"""

RETURN = r"""
listening:
  description: What the observer watches (C(listen)).
  returned: mode listen
  type: list
  elements: str
  sample: [8472/udp]
sent:
  description: Each probe sent (C(send)), with its target and port.
  returned: mode send
  type: list
  elements: dict
received:
  description: Each probe that arrived (C(collect)) - C(from), C(proto), C(port).
  returned: mode collect
  type: list
  elements: dict
checks:
  description: The C(overlay.probe) check of this node as a receiver (C(collect)).
  returned: mode collect
  type: list
  elements: dict
  contains:
    id:
      description: C(overlay.probe).
      type: str
    status:
      description: C(pass), C(fail) or C(skip).
      type: str
"""

import errno
import json
import os
import re
import select
import signal
import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.doctor.plugins.module_utils import cni_catalog
from ansible_collections.podnet.doctor.plugins.module_utils.network import probe
from ansible_collections.podnet.doctor.plugins.module_utils.node_args import overlay_argument_spec, validated_overlay_params

RUN_ID = re.compile(r"^[A-Za-z0-9-]{4,40}$")


def build_module():
    spec = overlay_argument_spec()
    spec.update(mode=dict(type="str", choices=["listen", "send", "collect"], required=True),
                run_id=dict(type="str", required=True), source_port=dict(type="int", required=True),
                peer_names=dict(type="list", elements="str", default=[]),
                probe_peers=dict(type="int", default=3), duration=dict(type="int", default=120),
                root=dict(type="path", default="/"))
    return AnsibleModule(argument_spec=spec, supports_check_mode=True)


def node_addresses(module):
    rc, out, err = module.run_command(["ip", "-j", "addr", "show"], environ_update={"LC_ALL": "C"})
    if rc != 0:
        module.fail_json(msg="ip -j addr show failed (rc=%d): %s" % (rc, err.strip()))
    return json.loads(out or "[]")


def observe(sockets, state_file, run_id, sport, ports, deadline, root):
    """The observer's loop (in the detached process): record each probe of this run."""
    # the start time makes (pid, start_time) name this process only: collect checks it before signalling
    state = {"pid": os.getpid(), "start_time": probe.process_start_time(os.getpid(), root), "received": []}
    probe.write_state(state_file, state)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    seen = set()
    while time.time() < deadline:
        ready = select.select(sockets, [], [], max(0.0, min(1.0, deadline - time.time())))[0]
        for sock in ready:
            try:
                packet = sock.recv(65535)
            except (IOError, OSError):
                continue
            found = probe.parse_observation(bytearray(packet), run_id, sport, ports)
            if found and found not in seen:
                seen.add(found)
                state["received"].append({"from": found[0], "proto": found[1], "port": found[2]})
                probe.write_state(state_file, state)


def daemonize(child, keep_fds):
    """Run ``child()`` in a process detached from Ansible's session: double fork, new session,
    stdio on /dev/null and every other inherited descriptor but ``keep_fds`` closed, so nothing
    holds the SSH channel open after the module returns."""
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    for fd in range(3, 1024):
        if fd not in keep_fds:
            try:
                os.close(fd)
            except OSError:
                pass
    try:
        child()
    finally:
        os._exit(0)


def listen(module, ports, run_id, sport):
    state_file = probe.state_path(module.params["root"], run_id)
    if not os.path.isdir(os.path.dirname(state_file)):
        os.makedirs(os.path.dirname(state_file), 0o755)
    sockets = []
    try:
        for number in sorted(set(p[1] for p in ports)):
            sockets.append(socket.socket(socket.AF_INET, socket.SOCK_RAW, number))
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot open a raw socket to observe the probes: %s; the probe needs root: add "
                             "'become: true'" % (exc.strerror or exc))
    deadline = time.time() + module.params["duration"]
    daemonize(lambda: observe(sockets, state_file, run_id, sport, ports, deadline, module.params["root"]),
              set(sock.fileno() for sock in sockets))
    for sock in sockets:
        sock.close()
    for _attempt in range(50):  # the observer writes its state first thing
        if os.path.exists(state_file):
            break
        time.sleep(0.02)
    else:
        module.fail_json(msg="the probe observer did not start (no %s)" % state_file)
    module.exit_json(changed=False, listening=[probe.port_label(p, n) for p, _x, n in ports], state_file=state_file)


def send(module, ports, run_id, sport, own, targets):
    sent, lingering = [], []
    data = probe.payload(run_id)
    for target in targets:
        for proto, number, port in ports:
            try:
                if proto == "udp":
                    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((own, sport))
                    for _try in range(3):
                        sock.sendto(data, (target, port))
                        time.sleep(0.03)
                    sock.close()
                elif proto == "tcp":
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((own, sport))
                    sock.setblocking(False)
                    code = sock.connect_ex((target, port))
                    if code not in (0, errno.EINPROGRESS):
                        raise OSError(code, os.strerror(code))
                    lingering.append(sock)  # the kernel resends the SYN once while it stays open
                else:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, number)
                    sock.bind((own, 0))
                    for _try in range(3):
                        sock.sendto(data, (target, 0))
                        time.sleep(0.03)
                    sock.close()
                sent.append({"to": target, "proto": proto, "port": port})
            except (IOError, OSError) as exc:
                module.fail_json(msg="cannot send the %s probe to %s: %s (the probe needs root: "
                                     "'become: true')" % (probe.port_label(proto, port), target, exc.strerror or exc),
                                 sent=sent)
    if lingering:
        time.sleep(1.2)
        for sock in lingering:
            sock.close()
    module.exit_json(changed=False, sent=sent, source=own)


def collect(module, ports, run_id, own, senders):
    state_file = probe.state_path(module.params["root"], run_id)
    time.sleep(0.2)  # probes still in flight on a busy network
    try:
        state = probe.read_state(state_file)
    except probe.ProbeStateError as exc:
        module.fail_json(msg="probe run %s: %s" % (run_id, exc))
    probe.stop_observer(state, module.params["root"])
    os.unlink(state_file)
    names = dict(zip(module.params["peers"], module.params["peer_names"]))
    check = probe.probe_check(state["received"], senders, ports, names)
    module.exit_json(changed=False, received=state["received"], checks=[check], address=own)


def main():
    module = build_module()
    params = module.params
    try:
        catalog_ports, _pod, _nets = validated_overlay_params(params)
        ports = probe.probe_ports(catalog_ports)
    except (cni_catalog.CatalogError, ValueError, OSError) as exc:
        module.fail_json(msg=str(exc))
    if not RUN_ID.match(params["run_id"]):
        module.fail_json(msg="run_id=%r: use 4 to 40 letters, digits or '-'" % params["run_id"])
    if not 1024 <= params["source_port"] <= 65535:
        module.fail_json(msg="source_port=%r: use a port from 1024 to 65535" % params["source_port"])
    if params["probe_peers"] < 0 or params["duration"] < 1:
        module.fail_json(msg="probe_peers must be 0 (all) or more and duration 1 or more")
    if params["mode"] == "listen":
        listen(module, ports, params["run_id"], params["source_port"])
    own = probe.own_address(node_addresses(module), params["peers"])
    targets, senders = probe.probe_partners(params["peers"], own, params["probe_peers"])
    if params["mode"] == "send":
        send(module, ports, params["run_id"], params["source_port"], own, targets)
    collect(module, ports, params["run_id"], own, senders)


if __name__ == "__main__":
    main()
