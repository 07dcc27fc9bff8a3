# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of podnet.doctor.cidr_check (documented in plugins/modules/cidr_check.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.podnet.doctor.plugins.filter.cidr import cidr_conflicts, cidr_suggest
from ansible_collections.podnet.doctor.plugins.module_utils import cluster_sources
from ansible_collections.podnet.doctor.plugins.module_utils.checks import apply_ignore


def _prefixlen(cidr):
    return int(cidr.split(",")[0].split("/")[1])


RELATION_WORDS = {"equal": "equals", "inside": "lies inside", "contains": "contains", "overlaps": "overlaps"}


def _describe(conflicts, candidate_label):
    return "; ".join("%s %s %s %s (%s)" % (candidate_label, c["candidate"], RELATION_WORDS[c["relation"]],
                                           c["network"], c["source"]) for c in conflicts)


def fleet_checks(cluster, hosts_networks, reserved, missing=()):
    """{host: [cidr.pod_service, cidr.pod_host, cidr.service_host]} for every host."""
    pod, service = cluster["pod_cidr"], cluster["service_cidr"]
    union = [dict(n, host=h) for h, nets in sorted(hosts_networks.items()) for n in nets]
    reserved = [dict(n, host=None) for n in reserved]
    taken = [n["network"] for n in union + reserved]
    per_host = dict((h, []) for h in hosts_networks)
    per_host.update((h, []) for h in missing)

    both = cidr_conflicts(pod, [service])
    pod_service = {"id": "cidr.pod_service", "expected": "pod and service CIDRs disjoint"}
    if both:
        free = cidr_suggest(taken + [pod], _prefixlen(service))
        pod_service.update(status="fail", observed="pod CIDR %s (%s) and service CIDR %s (%s) overlap" % (
            pod, cluster["pod_source"], service, cluster["service_source"]),
            fix="use a service CIDR that overlaps nothing, e.g. %s (same size, free on every host)" % free)
    else:
        pod_service.update(status="pass", observed="pod %s (%s), service %s (%s)" % (
            pod, cluster["pod_source"], service, cluster["service_source"]))

    results = {}
    for check_id, cidr, label, source, other in (
            ("cidr.pod_host", pod, "pod CIDR", cluster["pod_source"], service),
            ("cidr.service_host", service, "service CIDR", cluster["service_source"], pod)):
        conflicts = cidr_conflicts(cidr, union + reserved) if union + reserved else []
        free = cidr_suggest(taken + [other], _prefixlen(cidr)) if conflicts else None
        results[check_id] = (cidr, label, source, conflicts, free)

    for host in per_host:
        checks = [dict(pod_service)]
        if host in missing:
            for check_id in ("cidr.pod_host", "cidr.service_host"):
                checks.append({"id": check_id, "status": "error", "expected": "host networks known",
                               "observed": "no host networks from this host (unreachable or node_info failed)"})
            per_host[host] = checks
            continue
        for check_id, (cidr, label, source, conflicts, free) in sorted(results.items()):
            mine = [c for c in conflicts if c.get("source") and (
                c["source"].startswith(host + " ") or not any(c["source"].startswith(h + " ") for h in hosts_networks))]
            check = {"id": check_id, "expected": "%s overlaps no host network, route or reserved range" % label}
            if mine:
                check.update(status="fail", observed="%s from %s: %s" % (label, source, _describe(mine, label)),
                             fix="choose a %s that is free on every host, e.g. %s (same size)" % (label, free),
                             suggested=free)
            else:
                elsewhere = len(conflicts)
                check.update(status="pass", observed="%s %s (%s) overlaps none of this host's networks%s" % (
                    label, cidr, source, "; %d conflict(s) on other hosts" % elsewhere if elsewhere else ""))
            checks.append(check)
        per_host[host] = checks
    return per_host


def play_host_addresses(task_vars):
    """``ansible_host`` (else the inventory name) of every host of the play, read once."""
    hostvars = task_vars.get("hostvars", {})
    addresses = []
    for host in task_vars.get("ansible_play_hosts_all", []):
        address = hostvars[host].get("ansible_host", host) if host in hostvars else host
        addresses.append(to_text(address))
    return addresses


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("mode", "pod_cidr", "service_cidr", "kubeadm_config", "kops_cluster_spec", "live",
                             "reserved_networks", "hosts", "facts_var", "results", "ignore", "pod_source",
                             "service_source"))

    def _read(self, path):
        try:
            real = self._find_needle("files", path)
            with open(real) as handle:
                return handle.read()
        except Exception as exc:  # AnsibleError from _find_needle, IOError from open
            raise cluster_sources.SourceError("cannot read %s: %s" % (path, to_text(exc)))

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
                    cidr_conflicts(cluster[key], ["0.0.0.0/0"])  # validates, naming the value
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
                result["per_host"] = fleet_checks(cluster, networks, reserved, missing)
            else:
                result["checks"] = apply_ignore([dict(c) for c in args.get("results") or []],
                                                args.get("ignore") or [])
        except (cluster_sources.SourceError, AnsibleFilterError) as exc:
            result.update(failed=True, msg=to_text(exc))
        return result
