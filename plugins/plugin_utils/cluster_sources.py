# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a cluster's pod and service CIDRs come from, in order of precedence:

1. explicit variables (``podnet_pod_cidr``, ``podnet_service_cidr``);
2. a kubeadm config file: the ClusterConfiguration document (kubeadm.k8s.io/v1beta3 or
   v1beta4) of a multi-document YAML, ``networking.podSubnet`` / ``serviceSubnet``;
3. a kOps cluster spec (``kops get cluster -o yaml``), old and new field locations:
   ``spec.podCIDR`` / ``spec.networking.podCIDR``, ``spec.serviceClusterIPRange`` /
   ``spec.networking.serviceClusterIPRange``; its ``networkCIDR`` (VPC), additional
   network CIDRs and subnets are host networks the pods must not overlap;
4. a live cluster (the result of podnet.doctor.cluster_network_info): kubeadm-config,
   kube-proxy clusterCIDR, flannel's Network or a Calico IPPool; flannel's backend
   port also decides the overlay port;
5. defaults: kubeadm's 10.244.0.0/16 (flannel's) and 10.96.0.0/12.

Every value carries its source (file and field) so a conflict names it.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import SourceError

DEFAULT_POD_CIDR = "10.244.0.0/16"
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
KUBEADM_VERSIONS = ("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4")


def _load_all(text, path):
    import yaml
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " line %d" % (mark.line + 1) if mark is not None else ""
        raise SourceError("%s%s is not valid YAML: %s" % (path, where, getattr(exc, "problem", exc)))


def _get(data, dotted):
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def from_kubeadm(text, path):
    """{pod, service} (value, source) from a kubeadm config file."""
    docs = _load_all(text, path)
    cluster = [d for d in docs if isinstance(d, dict) and d.get("kind") == "ClusterConfiguration"]
    if not cluster:
        raise SourceError("%s has no ClusterConfiguration document (kinds found: %s)" % (
            path, ", ".join(sorted(set(str(d.get("kind")) for d in docs if isinstance(d, dict)))) or "none"))
    doc = cluster[0]
    if doc.get("apiVersion") not in KUBEADM_VERSIONS:
        raise SourceError("%s: ClusterConfiguration apiVersion %r is not one of %s" % (
            path, doc.get("apiVersion"), ", ".join(KUBEADM_VERSIONS)))
    found = {}
    for key, field in (("pod", "networking.podSubnet"), ("service", "networking.serviceSubnet")):
        value = _get(doc, field)
        if value:
            found[key] = (str(value), "%s: %s" % (path, field))
    return found, []


def from_kops(text, path):
    """({pod, service}, reserved [{network, source}]) from a kOps cluster spec."""
    docs = [d for d in _load_all(text, path) if isinstance(d, dict) and d.get("kind") == "Cluster"]
    if not docs:
        raise SourceError("%s has no kOps Cluster document (kind: Cluster)" % path)
    spec = docs[0].get("spec") or {}
    found, reserved = {}, []
    for key, fields in (("pod", ("networking.podCIDR", "podCIDR")),
                        ("service", ("networking.serviceClusterIPRange", "serviceClusterIPRange"))):
        for field in fields:
            value = _get(spec, field)
            if value:
                found[key] = (str(value), "%s: spec.%s" % (path, field))
                break
    if "pod" not in found:
        # without podCIDR, kOps allocates pods inside nonMasqueradeCIDR: all of it must be free
        for field in ("networking.nonMasqueradeCIDR", "nonMasqueradeCIDR"):
            value = _get(spec, field)
            if value:
                found["pod"] = (str(value), "%s: spec.%s (no podCIDR set)" % (path, field))
                break
    for field in ("networking.networkCIDR", "networkCIDR"):
        value = _get(spec, field)
        if value:
            reserved.append({"network": str(value), "source": "%s: spec.%s (VPC)" % (path, field)})
            break
    for field in ("networking.additionalNetworkCIDRs", "additionalNetworkCIDRs"):
        for value in _get(spec, field) or []:
            reserved.append({"network": str(value), "source": "%s: spec.%s" % (path, field)})
    for field in ("networking.subnets", "subnets"):
        for subnet in _get(spec, field) or []:
            if isinstance(subnet, dict) and subnet.get("cidr"):
                reserved.append({"network": str(subnet["cidr"]), "source": "%s: spec.%s %s" % (
                    path, field, subnet.get("name", ""))})
    return found, reserved


def from_live(live):
    """({pod, service}, overlay ports) from podnet.doctor.cluster_network_info's result."""
    found, ports = {}, []
    sources = live.get("sources") or {}
    if live.get("pod_cidrs"):
        found["pod"] = (",".join(live["pod_cidrs"]), sources.get("pod_cidr", "live cluster"))
    if live.get("service_cidr"):
        found["service"] = (live["service_cidr"], sources.get("service_cidr", "live cluster"))
    flannel = live.get("flannel") or {}
    if flannel.get("backend") in ("vxlan", "udp") and flannel.get("port"):
        ports.append("%s/udp" % flannel["port"])
    return found, ports


def resolve(pod_cidr=None, service_cidr=None, kubeadm_config=None, kops_cluster_spec=None, read=None, live=None):
    """The cluster's CIDRs with sources, and reserved networks from the cluster spec.

    ``read(path)`` returns a file's text (raises SourceError naming the file)."""
    layers, reserved = [], []
    if pod_cidr or service_cidr:
        explicit = {}
        if pod_cidr:
            explicit["pod"] = (pod_cidr, "podnet_pod_cidr")
        if service_cidr:
            explicit["service"] = (service_cidr, "podnet_service_cidr")
        layers.append(explicit)
    if kubeadm_config:
        found, more = from_kubeadm(read(kubeadm_config), kubeadm_config)
        layers.append(found)
        reserved += more
    if kops_cluster_spec:
        found, more = from_kops(read(kops_cluster_spec), kops_cluster_spec)
        layers.append(found)
        reserved += more
    overlay_ports = []
    if live:
        found, overlay_ports = from_live(live)
        layers.append(found)
    layers.append({"pod": (DEFAULT_POD_CIDR, "default (kubeadm/flannel 10.244.0.0/16)"),
                   "service": (DEFAULT_SERVICE_CIDR, "default (kubeadm 10.96.0.0/12)")})
    result = {}
    for key in ("pod", "service"):
        result[key] = next(layer[key] for layer in layers if key in layer)
    return {"pod_cidr": result["pod"][0], "pod_source": result["pod"][1],
            "service_cidr": result["service"][0], "service_source": result["service"][1],
            "reserved": reserved, "overlay_ports": overlay_ports}
