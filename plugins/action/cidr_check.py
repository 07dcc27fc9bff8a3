# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of podnet.doctor.cidr_check (documented in plugins/modules/cidr_check.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import CidrError, SourceError
from ansible_collections.podnet.doctor.plugins.module_utils.checks import apply_ignore
from ansible_collections.podnet.doctor.plugins.module_utils.network import mtu
from ansible_collections.podnet.doctor.plugins.plugin_utils import cidr, cluster_sources


def play_host_addresses(task_vars):
    """``ansible_host`` (else the inventory name) of every host of the play, read once."""
    hostvars = task_vars.get("hostvars", {})
    addresses = []
    for host in task_vars.get("ansible_play_hosts_all", []):
        address = hostvars[host].get("ansible_host", host) if host in hostvars else host
        addresses.append(to_text(address))
    return addresses


def fleet_mtu_facts(hostvars, hosts, facts_var):
    """{host: facts.mtu} of every host whose node read returned it (an unreachable one has none)."""
    found = {}
    for host in hosts:
        registered = hostvars[host].get(facts_var) or {}
        facts = registered.get("facts") if isinstance(registered, dict) else None
        if isinstance(facts, dict) and isinstance(facts.get("mtu"), dict):
            found[host] = facts["mtu"]
    return found


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("mode", "pod_cidr", "service_cidr", "kubeadm_config", "kops_cluster_spec", "live",
                             "reserved_networks", "hosts", "facts_var", "results", "ignore", "pod_source",
                             "service_source", "mtu_checks"))

    def _read(self, path):
        try:
            real = self._find_needle("files", path)
            with open(real) as handle:
                return handle.read()
        except Exception as exc:  # AnsibleError from _find_needle, IOError from open
            raise SourceError("cannot read %s: %s" % (path, to_text(exc)))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        mode = args.get("mode", "host")
        result["changed"] = False
        try:
            if mode == "resolve":
                cluster = cluster_sources.resolve(args.get("pod_cidr") or None, args.get("service_cidr") or None,
                                                  args.get("kubeadm_config") or None,
                                                  args.get("kops_cluster_spec") or None, self._read,
                                                  args.get("live") or None)
                for key, variable in (("pod_cidr", "podnet_pod_cidr"), ("service_cidr", "podnet_service_cidr")):
                    cidr.cidr_conflicts(cluster[key], ["0.0.0.0/0"])  # validates, naming the value
                result.update(cluster)
                result["peers"] = play_host_addresses(task_vars)
                result["peer_names"] = list(task_vars.get("ansible_play_hosts_all", []))
            elif mode == "fleet":
                hostvars = task_vars["hostvars"]
                facts_var = args.get("facts_var", "podnet_node_info")
                networks, missing = {}, []
                for host in args.get("hosts") or task_vars.get("ansible_play_hosts_all", []):
                    registered = hostvars[host].get(facts_var) or {}
                    facts = registered.get("facts") if isinstance(registered, dict) else None
                    if facts is None or "host_networks" not in facts:
                        missing.append(host)
                    else:
                        networks[host] = [dict(n, source="%s %s" % (host, n["source"])) for n in facts["host_networks"]]
                reserved = []
                for entry in args.get("reserved_networks") or []:
                    reserved.append(entry if isinstance(entry, dict) else
                                    {"network": str(entry), "source": "podnet_reserved_networks"})
                cluster = {"pod_cidr": args["pod_cidr"], "service_cidr": args["service_cidr"],
                           "pod_source": args.get("pod_source", "podnet_pod_cidr"),
                           "service_source": args.get("service_source", "podnet_service_cidr")}
                result["per_host"] = cidr.fleet_checks(cluster, networks, reserved, missing)
                if args.get("mtu_checks"):
                    # mtu.overlay again, with every peer's uplink: replaces the node's own (merged_checks)
                    # the play's hosts without facts, and --limit, are named as not compared
                    fleet_mtu = fleet_mtu_facts(hostvars, result["per_host"], facts_var)
                    for host, checks in mtu.fleet_overlay_checks(fleet_mtu, list(result["per_host"]),
                                                                 task_vars.get("ansible_limit")).items():
                        result["per_host"][host].extend(checks)
            else:
                result["checks"] = apply_ignore([dict(c) for c in args.get("results") or []],
                                                args.get("ignore") or [])
        except (SourceError, CidrError) as exc:
            result.update(failed=True, msg=to_text(exc))
        return result
