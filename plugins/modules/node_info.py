#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: node_info
short_description: Read every pod-networking fact of a node in one call and evaluate the checks
version_added: 1.0.0
description:
  - Reads live values from C(/proc/sys), the value each sysctl will have after the next boot
    (resolved like C(systemd-sysctl) and C(sysctl --system) do, with the winning file and line),
    systemd-networkd C(IPForward=) settings, and the state of the C(br_netfilter) module
    (loaded, built-in, loadable, listed in modules-load.d, blacklisted).
  - Reads every firewall that can drop packets (nftables, iptables-nft, iptables-legacy, firewalld
    zones, ufw) and evaluates, for every overlay port of the CNI and every node network, whether
    a new packet from a peer would be accepted, and whether forwarded pod traffic is.
  - Returns the check results C(ip_forward.runtime), C(ip_forward.boot), C(br_netfilter.loaded),
    C(br_netfilter.boot), C(bridge_nf_call.runtime), C(bridge_nf_call.boot), C(overlay.inbound),
    C(overlay.forward), C(overlay.boot), C(iptables.backends), C(mtu.overlay), C(netmgr.cni_links) and
    C(ports.nodeport_reserved) and C(k8s_ports.inbound).
  - C(k8s_ports.inbound) judges, with the evaluator of C(overlay.inbound), the Kubernetes component ports of
    O(k8s_distribution) (kubelet on every node, apiserver, etcd, scheduler, controller-manager or supervisor on the
    control plane) from the node networks, and the NodePort range from O(nodeport_sources), in the running firewalls
    and in what the next boot loads.
  - C(iptables.backends) fails when the iptables backend the node's C(iptables) command does not use (its
    alternative) holds rules the kernel still runs, naming the tables and chains of each backend and the overlay or
    pod packets the unused one drops; its fix (move the rules, flush the unused backend) is named, never run.
    IPv6 (C(ip6tables-legacy-save), C(ip6tables-nft-save)) is judged the same way; dropped IPv6 overlay or pod
    packets only when O(ip_families) has C(ipv6).
  - C(mtu.overlay) compares the MTU of the CNI's overlay devices (C(flannel.1), C(vxlan.calico), C(tunl0)...) and
    its configured MTU (C(FLANNEL_MTU) in C(/run/flannel/subnet.env), every C(mtu) key of the C(/etc/cni/net.d) file
    the container runtime uses - the first that loads in byte order) with the uplink's MTU (the link holding the node
    address; for a VXLAN bound to another link, C(ip -d) shows which, that link's) minus the encapsulation's overhead.
  - C(overlay.boot) judges the firewalls the next boot loads (units enabled in /etc/systemd/system, masks
    included) - firewalld's permanent zones, C(/etc/nftables.conf) and its includes, files restored by
    C(iptables-restore) units (netfilter-persistent's C(/etc/iptables/rules.v4)), ufw's rule files. The
    boot files are loaded by their own tools into a scratch network namespace (C(unshare)); the live
    rules are never touched.
  - C(netmgr.cni_links) reads NetworkManager's merged configuration, systemd-networkd's networkd.conf (and
    drop-ins), .network and .link files, and the units enabled, for a manager that would take over the CNI's
    links, remove their routes and policy rules, or rewrite their MAC; no daemon CLI is run for it.
  - Read-only. Reading the rulesets needs root (C(become)); without it the overlay checks are C(error).
author: podnet.doctor developers (@podnet)
options:
  k8s_distribution:
    description:
      - The Kubernetes distribution whose component ports C(k8s_ports.inbound) checks; C(none) (the default) skips the check.
    type: str
    choices: [kubeadm, k3s, rke2, none]
    default: none
  control_plane:
    description:
      - Whether this host runs the control plane; wins over O(control_plane_group) when set.
    type: bool
  embedded_etcd:
    description:
      - Whether etcd runs on the control-plane nodes (TCP 2379-2380). Unset = the distribution's default (kubeadm
        stacked etcd and rke2 yes, k3s only with embedded etcd, C(--cluster-init)); V(false) for an external etcd.
    type: bool
  control_plane_group:
    description:
      - The inventory group of control-plane hosts (kubespray's C(kube_control_plane)), looked up in O(group_names).
    type: str
    default: kube_control_plane
  group_names:
    description:
      - The host's inventory groups (Ansible's C(group_names)).
    type: list
    elements: str
    default: []
  nodeport_sources:
    description:
      - IPv4 CIDRs the NodePort range must be accepted from (load balancers, clients). Unset = the node networks;
        V([]) = the NodePort range is not checked.
    type: list
    elements: str
extends_documentation_fragment:
  - podnet.doctor.attributes.read_only
  - podnet.doctor.node
  - podnet.doctor.overlay
  - podnet.doctor.checks
"""

EXAMPLES = r"""
- name: Read the node's forwarding and bridge netfilter state
  podnet.doctor.node_info:
    ip_families: [ipv4, ipv6]
  register: podnet_node

- name: Show every failing check
  ansible.builtin.debug:
    msg: "{{ podnet_node.checks | selectattr('status', 'eq', 'fail') | list }}"
"""

RETURN = r"""
checks:
  description: One result per check.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Stable check ID.
      type: str
      sample: ip_forward.boot
    status:
      description: C(pass), C(fail), C(skip), C(error) or C(ignored).
      type: str
      sample: fail
    observed:
      description: What the node shows, with the file and line that decided it.
      type: str
      sample: "net.ipv4.ip_forward=0 (set by /etc/sysctl.d/99-zz-cis.conf line 3)"
    expected:
      description: What passes.
      type: str
      sample: "1"
    fix:
      description: The exact fix, when the check fails.
      type: str
      returned: when failing
facts:
  description: The raw facts the checks were computed from.
  returned: always
  type: dict
  contains:
    sysctl:
      description: Per key, the runtime value and the boot resolution for both tools.
      type: dict
    module:
      description: State of C(br_netfilter).
      type: dict
    sysctl_tools:
      description: The node's C(sysctl --system) tool as the boot verdicts model it, from one C(sysctl --version)
        (procps-ng applies glob keys only since 4.0). C(procps) is null when the version could not be read; then a
        glob line that could decide a value makes the verdict C(error).
      type: dict
      sample: {"procps": "3.3.17", "procps_globs": false}
    host_networks:
      description: Every interface network and route (all tables) of the node, with its source; CNI-owned
        interfaces, default routes, link-local and multicast left out.
      type: list
      elements: dict
    networkd_ip_forward:
      description: C(IPForward=) lines found in systemd-networkd files.
      type: list
      elements: dict
    ports:
      description:
        - The NodePort range, C(ip_local_port_range) and C(ip_local_reserved_ports) now, and per boot tool the
          NodePorts left exposed (C(exposed)) or why that cannot be told (C(error)).
      type: dict
    sysctl_problems:
      description: Lines in sysctl files that the tools reject.
      type: list
      elements: str
    link_sysctl:
      description:
        - Per-interface sysctls behind C(rp_filter.pod_links) (key C(rp_filter)) and C(ipv6.accept_ra) (key
          C(accept_ra)), with runtime values and the boot value each tool leaves (file and line).
      type: dict
    firewall:
      description:
        - What the firewalls are. The rulesets themselves are read and judged on the node, not returned
          (on a node with kube-proxy they run to megabytes).
      type: dict
      contains:
        in_charge:
          description: The firewalls that filter packets here, in the order they are asked.
          type: list
          elements: str
          sample: [firewalld, nftables]
        firewalld:
          description: C(running), and when it runs its C(default_zone), C(backend) and C(active_zones).
          type: dict
        ufw_active:
          description: Whether ufw's chains are loaded (the test C(ufw status) makes).
          type: bool
        ruleset_bytes:
          description: Size of each ruleset read (C(nft), C(iptables_legacy), C(iptables_nft)).
          type: dict
        errors:
          description: Ruleset reads that failed.
          type: list
          elements: str
        boot_loaders:
          description: What the next boot loads (unit and file), as judged by C(overlay.boot).
          type: list
          elements: str
    mtu:
      description:
        - What C(mtu.overlay) was judged from - C(uplink) (C(interface), C(mtu), C(address)), C(encapsulation),
          C(overhead), C(largest_overlay_mtu), the overlay C(devices) (with their C(underlay)) and C(configured) MTUs with
          their source, C(cni_files) (the CNI files skipped or ignored), C(errors).
        - The fleet step of M(podnet.doctor.cidr_check) compares the uplinks of every host from it.
      type: dict
    netmgr:
      description:
        - What C(netmgr.cni_links) was judged from - NetworkManager (enabled, running, the CNI links it would
          manage, nm-cloud-setup units enabled), systemd-networkd (its ManageForeign* settings with file and line,
          the links it configures now and at boot, CNI links a .network file would configure) and udev (the .link
          file and line that would rewrite a CNI link's MAC); the owned files each running daemon has not read
          (C(unread), C(unread_networks)), and C(kept_links) - links a CNI glob matches that the node configures by
          name (its uplink included), left out of the owned files.
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.doctor.plugins.module_utils.argument_specs import (
    node_argument_spec, overlay_argument_spec, validated_overlay_params, validated_owned_files)
from ansible_collections.podnet.doctor.plugins.module_utils.checks import apply_ignore
from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import CatalogError
from ansible_collections.podnet.doctor.plugins.module_utils.firewall import flows, gather_boot, gather_live, iptables_backends, k8s_ports_checks, overlay_checks
from ansible_collections.podnet.doctor.plugins.module_utils.kernel import link_sysctl_checks, port_ranges, prereq_checks, sysctl_boot
from ansible_collections.podnet.doctor.plugins.module_utils.network import host_networks, k8s_components, managers, mtu


def build_module():
    spec = node_argument_spec()
    spec.update(overlay_argument_spec())
    spec["ignore"] = dict(type="list", elements="str", default=[])
    spec.update(k8s_components.argument_spec())
    return AnsibleModule(argument_spec=spec, supports_check_mode=True)


def main():
    module = build_module()
    params = module.params
    try:
        validated_owned_files(params)
        ports, pod_cidr, node_networks = validated_overlay_params(params)
        nodeport_sources = k8s_components.validated_sources(params["nodeport_sources"])
    except (CatalogError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    try:
        # the sysctl files, read once for every check that resolves a boot value, as the node's procps reads them
        procps = sysctl_boot.node_procps_version(lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"}),
                                                 params["root"], module.get_bin_path)
        loaded = sysctl_boot.load_boot_assignments(params["root"], procps=procps)
        facts = prereq_checks.gather_facts(params["root"], params["ip_families"], loaded=loaded)
        facts["sysctl_tools"] = sysctl_boot.describe_tools(procps)
        checks = prereq_checks.evaluate(facts, (), params["sysctl_file"], params["modules_file"])
        firewall = gather_live.gather_firewall(
            lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"}),
            params["root"], module.get_bin_path)
        boot = gather_boot.gather_boot(lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"}),
                                       params["root"], module.get_bin_path, firewall["addresses"])
    except (IOError, OSError) as exc:
        module.fail_json(msg="podnet.doctor.node_info could not read the node state: %s" % exc)
    if not node_networks:
        node_networks = host_networks.derive_node_networks(firewall["addresses"], params["peers"])
    checks += overlay_checks.evaluate_overlay(firewall, ports, node_networks, pod_cidr, params["cni"], params["root"])
    checks.append(overlay_checks.evaluate_boot(boot, ports, node_networks, firewall["firewalld"].get("running"), params["root"]))
    checks += k8s_ports_checks.checks(firewall, boot, node_networks, params["k8s_distribution"],
                                      k8s_components.is_control_plane(params["control_plane"], params["group_names"], params["control_plane_group"]),
                                      port_ranges.parse_nodeport_range(params["nodeport_range"]), nodeport_sources, params["root"],
                                      params["embedded_etcd"])
    checks.append(iptables_backends.evaluate(firewall, params["root"], ports, node_networks, pod_cidr, params["cni"], params["ip_families"]))
    routes = host_networks.gather_routes(lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"}))
    link_checks, facts["link_sysctl"] = link_sysctl_checks.evaluate(
        params["root"], params["cni"], params["ip_families"], firewall["addresses"], routes, node_networks, loaded)
    checks += link_checks
    facts["mtu"] = mtu.gather_mtu(firewall["addresses"], params["root"], params["cni"], params["cni_mode"], node_networks, routes)
    checks.append(mtu.evaluate_overlay_mtu(facts["mtu"]))
    checks += managers.checks(params["root"], params["cni"], facts, lambda _root: boot["enabled_units"],
                              link_sysctl_checks.uplinks(firewall["addresses"], routes, node_networks))
    checks += port_ranges.checks(params["root"], params["nodeport_range"], params["sysctl_file"], facts, loaded)
    facts["firewall"] = flows.firewall_summary(firewall)
    facts["firewall"]["boot_loaders"] = boot["loaders"]
    facts["host_networks"] = host_networks.host_networks(firewall["addresses"], routes)
    facts["node_networks"] = node_networks
    facts["overlay_ports"] = ["%s/%s" % (p[1], p[0]) if p[1] else p[0] for p in ports]
    module.exit_json(changed=False, checks=apply_ignore(checks, params["ignore"]), facts=facts)


if __name__ == "__main__":
    main()
