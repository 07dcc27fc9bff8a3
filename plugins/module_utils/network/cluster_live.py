# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A live cluster's network description, read with the kubernetes Python client.

Sources, each optional (404: absent, noted; 403: reported as forbidden):
* ConfigMap kube-system/kubeadm-config, ``ClusterConfiguration``: networking.podSubnet,
  networking.serviceSubnet;
* ConfigMap kube-system/kube-proxy, ``config.conf``: clusterCIDR;
* every Node's spec.podCIDRs (spec.podCIDR on old clusters);
* flannel's ConfigMap kube-flannel-cfg (namespace kube-flannel, or kube-system on old
  installs), ``net-conf.json``: Network, Backend.Type, Backend.Port;
* Calico IPPools (crd.projectcalico.org/v1): spec.cidr, ipipMode, vxlanMode.

Credentials are never part of a result or a message.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import ClusterReadError


def _yaml(text):
    import yaml
    return yaml.safe_load(text) if text else None


def _api_error_text(exc, what):
    status = getattr(exc, "status", None)
    if status == 403:
        return "forbidden: the kubeconfig's user may not read %s" % what
    if status == 401:
        return "unauthorized: the kubeconfig's credentials were refused reading %s" % what
    return "reading %s failed: HTTP %s %s" % (what, status, getattr(exc, "reason", ""))


def read_cluster(api_client):
    """Everything above, as {"sources": {...}, "notes": [...], "errors": [...], ...}."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import MaxRetryError, SSLError

    core = client.CoreV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    out = {"pod_cidrs": [], "service_cidr": None, "node_pod_cidrs": {}, "flannel": None,
           "calico_ippools": [], "sources": {}, "notes": [], "errors": []}

    def attempt(what, call):
        try:
            return call()
        except ApiException as exc:
            if exc.status == 404:
                out["notes"].append("%s not found" % what)
            else:
                out["errors"].append(_api_error_text(exc, what))
        except (MaxRetryError, SSLError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClusterReadError("cannot reach the API server for %s: %s" % (what, reason))
        return None

    cm = attempt("ConfigMap kube-system/kubeadm-config",
                 lambda: core.read_namespaced_config_map("kubeadm-config", "kube-system"))
    if cm is not None and cm.data and cm.data.get("ClusterConfiguration"):
        net = (_yaml(cm.data["ClusterConfiguration"]) or {}).get("networking") or {}
        if net.get("podSubnet"):
            out["pod_cidrs"].append(str(net["podSubnet"]))
            out["sources"]["pod_cidr"] = "cluster ConfigMap kube-system/kubeadm-config: networking.podSubnet"
        if net.get("serviceSubnet"):
            out["service_cidr"] = str(net["serviceSubnet"])
            out["sources"]["service_cidr"] = "cluster ConfigMap kube-system/kubeadm-config: networking.serviceSubnet"

    cm = attempt("ConfigMap kube-system/kube-proxy",
                 lambda: core.read_namespaced_config_map("kube-proxy", "kube-system"))
    if cm is not None and cm.data and cm.data.get("config.conf"):
        cluster_cidr = (_yaml(cm.data["config.conf"]) or {}).get("clusterCIDR")
        if cluster_cidr:
            out["kube_proxy_cluster_cidr"] = str(cluster_cidr)
            if not out["pod_cidrs"]:
                out["pod_cidrs"].append(str(cluster_cidr))
                out["sources"]["pod_cidr"] = "cluster ConfigMap kube-system/kube-proxy: clusterCIDR"

    nodes = attempt("Nodes", core.list_node)
    if nodes is not None:
        for node in nodes.items:
            spec = node.spec
            # the field is pod_cid_rs in older client releases, pod_cidrs in newer ones
            many = getattr(spec, "pod_cidrs", None) or getattr(spec, "pod_cid_rs", None)
            single = getattr(spec, "pod_cidr", None)
            cidrs = list(many or ([single] if single else []))
            out["node_pod_cidrs"][node.metadata.name] = cidrs

    for namespace in ("kube-flannel", "kube-system"):
        cm = attempt("ConfigMap %s/kube-flannel-cfg" % namespace,
                     lambda: core.read_namespaced_config_map("kube-flannel-cfg", namespace))
        if cm is not None and cm.data and cm.data.get("net-conf.json"):
            conf = json.loads(cm.data["net-conf.json"])
            backend = conf.get("Backend") or {}
            btype = backend.get("Type", "vxlan")
            default_port = {"vxlan": 8472, "udp": 8285}.get(btype)
            out["flannel"] = {"network": conf.get("Network"), "backend": btype,
                              "port": backend.get("Port", default_port),
                              "source": "cluster ConfigMap %s/kube-flannel-cfg: net-conf.json" % namespace}
            if conf.get("Network") and not out["pod_cidrs"]:
                out["pod_cidrs"].append(conf["Network"])
                out["sources"]["pod_cidr"] = out["flannel"]["source"] + " Network"
            break

    pools = attempt("Calico IPPools", lambda: custom.list_cluster_custom_object(
        "crd.projectcalico.org", "v1", "ippools"))
    if pools is not None:
        for pool in pools.get("items", []):
            spec = pool.get("spec") or {}
            out["calico_ippools"].append({"name": pool.get("metadata", {}).get("name"), "cidr": spec.get("cidr"),
                                          "ipipMode": spec.get("ipipMode"), "vxlanMode": spec.get("vxlanMode")})
            if spec.get("cidr") and not out["pod_cidrs"]:
                out["pod_cidrs"].append(spec["cidr"])
                out["sources"]["pod_cidr"] = "cluster Calico IPPool %s" % pool.get("metadata", {}).get("name")
    return out


def api_client_from_kubeconfig(path, context=None, validate_certs=True):
    """An ApiClient from a kubeconfig file; TLS verification stays on unless told."""
    from kubernetes import client, config
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=path, context=context, client_configuration=configuration,
                                persist_config=False)
    except Exception as exc:  # ConfigException, IOError, yaml errors: all mean "bad kubeconfig"
        raise ClusterReadError("kubeconfig %s cannot be used: %s" % (path, exc))
    configuration.verify_ssl = bool(validate_certs)
    configuration.retries = 0
    return client.ApiClient(configuration)
