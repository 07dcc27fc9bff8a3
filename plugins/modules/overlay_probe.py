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
  - C(mtu.path) - C(send) also sends don't-fragment datagrams (C(IP_PMTUDISC_PROBE)) on the overlay's UDP port (or its
    bare IP protocol) at the size this node's overlay needs on the path (its overlay MTU plus the encapsulation's
    overhead, from the devices and CNI configuration C(mtu.overlay) reads; its uplink's MTU when nothing is configured)
    and smaller sizes (9000, 8950, every 500 bytes from 8500 to 2000, common MTUs from 1500) down to 576; C(collect)
    reports, per sender, the largest that arrived against the size
    needed.
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
sent_sizes:
  description:
    - Each C(mtu.path) datagram (C(send)) - C(to), C(size), C(sent) (false - larger than this node's own link).
    - When no size could be probed (no uplink, or the overlay bound to another link) one entry per target with
      C(size) null and C(why); the receivers get that reason in a small datagram instead.
  returned: mode send
  type: list
  elements: dict
needed:
  description: The size this node's overlay needs on the path and why (C(send)); null when the overlay has no UDP port
    or IP protocol to probe.
  returned: mode send
  type: dict
received:
  description: Each probe that arrived (C(collect)) - C(from), C(proto), C(port); C(size) and C(needed) for C(mtu.path)'s,
    C(no_size) (the sender's reason) when it sent none.
  returned: mode collect
  type: list
  elements: dict
checks:
  description: The C(overlay.probe) and C(mtu.path) checks of this node as a receiver (C(collect)).
  returned: mode collect
  type: list
  elements: dict
  contains:
    id:
      description: C(overlay.probe) or C(mtu.path).
      type: str
    status:
      description: C(pass), C(fail), C(skip) or C(error).
      type: str
"""

import json
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.doctor.plugins.module_utils.argument_specs import overlay_argument_spec, validated_overlay_params
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import CatalogError, ProbeSocketError, ProbeStateError
from ansible_collections.podnet.doctor.plugins.module_utils.network import probe, probe_mtu
from ansible_collections.podnet.doctor.plugins.module_utils.network.probe_observer import start_observer
from ansible_collections.podnet.doctor.plugins.module_utils.network.probe_sender import send_probes

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
    # -d: a VXLAN's underlay (linkinfo), so the sender sizes its probes from the devices bound to the probed link
    rc, out, err = module.run_command(["ip", "-d", "-j", "addr", "show"], environ_update={"LC_ALL": "C"})
    if rc != 0:
        module.fail_json(msg="ip -d -j addr show failed (rc=%d): %s" % (rc, err.strip()))
    return json.loads(out or "[]")


def listen(module, ports, run_id, sport):
    try:
        state_file = start_observer(module.params["root"], run_id, sport, ports, module.params["duration"])
    except (ProbeSocketError, ProbeStateError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, listening=[probe.port_label(p, n) for p, _x, n in ports], state_file=state_file)


def send(module, ports, run_id, sport, own, targets, addresses):
    try:
        sent = send_probes(ports, run_id, sport, own, targets)
    except ProbeSocketError as exc:
        module.fail_json(msg=str(exc), sent=exc.sent)
    entry, sizes, needed = probe_mtu.size_port(ports), [], None
    if entry:
        params = module.params
        needed, why = probe_mtu.sender_needed_size(addresses, params["root"], params["cni"], params["cni_mode"], own)
        try:
            if needed:
                sizes = probe_mtu.send_size_probes(entry, run_id, sport, own, targets, needed)
            else:  # the receivers are told why, or they would read "not even 576 bytes arrived"
                sizes = probe_mtu.send_no_size(entry, run_id, sport, own, targets, why)
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot send the mtu.path probes of %s bytes: %s (the probe needs root: 'become: true')"
                             % (needed or "no", exc.strerror or exc), sent=sent)
        needed = {"size": needed, "why": why}
    module.exit_json(changed=False, sent=sent, source=own, sent_sizes=sizes, needed=needed)


def collect(module, ports, run_id, own, senders):
    names = dict(zip(module.params["peers"], module.params["peer_names"]))
    try:
        received, check = probe.collect_run(module.params["root"], run_id, ports, senders, names)
    except ProbeStateError as exc:
        module.fail_json(msg="probe run %s: %s" % (run_id, exc))
    path_check = probe_mtu.mtu_path_check(received, senders, probe_mtu.size_port(ports), names)
    module.exit_json(changed=False, received=received, checks=[check, path_check], address=own)


def main():
    module = build_module()
    params = module.params
    try:
        catalog_ports, _pod, _nets = validated_overlay_params(params)
        ports = probe.probe_ports(catalog_ports)
    except (CatalogError, ValueError, OSError) as exc:
        module.fail_json(msg=str(exc))
    if not RUN_ID.match(params["run_id"]):
        module.fail_json(msg="run_id=%r: use 4 to 40 letters, digits or '-'" % params["run_id"])
    if not 1024 <= params["source_port"] <= 65535:
        module.fail_json(msg="source_port=%r: use a port from 1024 to 65535" % params["source_port"])
    if params["probe_peers"] < 0 or params["duration"] < 1:
        module.fail_json(msg="probe_peers must be 0 (all) or more and duration 1 or more")
    if params["mode"] == "listen":
        listen(module, ports, params["run_id"], params["source_port"])
    addresses = node_addresses(module)
    own = probe.own_address(addresses, params["peers"])
    targets, senders = probe.probe_partners(params["peers"], own, params["probe_peers"])
    if params["mode"] == "send":
        send(module, ports, params["run_id"], params["source_port"], own, targets, addresses)
    collect(module, ports, params["run_id"], own, senders)


if __name__ == "__main__":
    main()
