#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cluster_network_info
short_description: Read a live cluster's pod and service CIDRs, flannel backend and Calico pools
version_added: 1.0.0
description:
  - Reads, with the kubernetes Python client, the kubeadm-config ConfigMap (C(networking.podSubnet),
    C(serviceSubnet)), the kube-proxy ConfigMap (C(clusterCIDR)), every Node's C(spec.podCIDRs),
    flannel's C(kube-flannel-cfg) C(net-conf.json) (Network, Backend Type and Port) and Calico IPPools.
  - Each source is optional; a missing one is noted, a forbidden one is reported in RV(errors).
  - Run it where the kubeconfig is (usually delegated to localhost). Credentials never appear in
    the result; TLS verification is on by default.
author: podnet.doctor developers (@podnet)
extends_documentation_fragment:
  - podnet.doctor.attributes.read_only
requirements: [kubernetes (Python)]
options:
  kubeconfig:
    description: Path of the kubeconfig file.
    type: path
    required: true
  context:
    description: Context to use; default the kubeconfig's current context.
    type: str
  validate_certs:
    description: Verify the API server's certificate. Turn off only for a throwaway lab.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Read the running cluster's networks
  podnet.doctor.cluster_network_info:
    kubeconfig: ~/.kube/config
  delegate_to: localhost
  run_once: true
  register: podnet_live
"""

RETURN = r"""
pod_cidrs:
  description: The cluster's pod CIDR(s), from the first source that has one.
  returned: always
  type: list
  elements: str
service_cidr:
  description: The service CIDR from kubeadm-config, when present.
  returned: always
  type: str
node_pod_cidrs:
  description: Node name to its C(spec.podCIDRs).
  returned: always
  type: dict
flannel:
  description: flannel's C(Network), backend type and port (feeds the overlay port choice).
  returned: always
  type: dict
calico_ippools:
  description: Calico IPPools with cidr, ipipMode and vxlanMode.
  returned: always
  type: list
  elements: dict
sources:
  description: Where each value came from.
  returned: always
  type: dict
notes:
  description: Sources that were not found (HTTP 404).
  returned: always
  type: list
  elements: str
errors:
  description: Sources that could not be read (HTTP 401/403 and others), without credentials.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import ClusterReadError
from ansible_collections.podnet.doctor.plugins.module_utils.network import cluster_live

try:
    import kubernetes  # noqa: F401 pylint: disable=unused-import
    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False


def main():
    module = AnsibleModule(argument_spec=dict(
        kubeconfig=dict(type="path", required=True),
        context=dict(type="str"),
        validate_certs=dict(type="bool", default=True),
    ), supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"))
    try:
        api = cluster_live.api_client_from_kubeconfig(module.params["kubeconfig"], module.params["context"],
                                                      module.params["validate_certs"])
        result = cluster_live.read_cluster(api)
    except ClusterReadError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
