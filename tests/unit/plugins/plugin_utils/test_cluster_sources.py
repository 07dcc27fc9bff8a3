"""Where the CIDRs come from: precedence and each file format."""
import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import SourceError
from ansible_collections.podnet.doctor.plugins.plugin_utils import cluster_sources as cs

KUBEADM = {
    "v1beta3": """apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
networking:
  podSubnet: 10.32.0.0/16
  serviceSubnet: 10.33.0.0/16
""",
    "v1beta4": """apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
networking:
  podSubnet: "10.32.0.0/16,fd00:10:32::/56"
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
""",
}
KOPS_OLD = """apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
spec:
  networkCIDR: 172.20.0.0/16
  nonMasqueradeCIDR: 100.64.0.0/10
  podCIDR: 100.96.0.0/11
  serviceClusterIPRange: 100.64.0.0/13
  subnets:
  - {name: us-east-1a, cidr: 172.20.32.0/19}
"""
KOPS_NEW = """apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
spec:
  networking:
    networkCIDR: 172.20.0.0/16
    podCIDR: 100.96.0.0/11
    serviceClusterIPRange: 100.64.0.0/13
    subnets:
    - {name: us-east-1a, cidr: 172.20.32.0/19}
"""


def files(mapping):
    def read(path):
        return mapping[path]
    return read


@pytest.mark.parametrize("version,pod,service", [
    ("v1beta3", "10.32.0.0/16", "10.33.0.0/16"),
    ("v1beta4", "10.32.0.0/16,fd00:10:32::/56", cs.DEFAULT_SERVICE_CIDR),
])
def test_kubeadm(version, pod, service):
    got = cs.resolve(kubeadm_config="k.yaml", read=files({"k.yaml": KUBEADM[version]}))
    assert (got["pod_cidr"], got["service_cidr"]) == (pod, service)
    assert got["pod_source"] == "k.yaml: networking.podSubnet"


@pytest.mark.parametrize("text,field", [(KOPS_OLD, "spec.podCIDR"), (KOPS_NEW, "spec.networking.podCIDR")])
def test_kops_old_and_new_fields(text, field):
    got = cs.resolve(kops_cluster_spec="c.yaml", read=files({"c.yaml": text}))
    assert (got["pod_cidr"], got["service_cidr"]) == ("100.96.0.0/11", "100.64.0.0/13")
    assert got["pod_source"] == "c.yaml: %s" % field
    assert [r["network"] for r in got["reserved"]] == ["172.20.0.0/16", "172.20.32.0/19"]


def test_precedence_explicit_then_kubeadm_then_kops_then_default():
    read = files({"k.yaml": KUBEADM["v1beta4"], "c.yaml": KOPS_OLD})
    got = cs.resolve(pod_cidr="10.50.0.0/16", kubeadm_config="k.yaml", kops_cluster_spec="c.yaml", read=read)
    assert (got["pod_source"], got["service_source"]) == ("podnet_pod_cidr", "c.yaml: spec.serviceClusterIPRange")
    assert cs.resolve()["pod_cidr"] == "10.244.0.0/16"


@pytest.mark.parametrize("text,message", [
    ("kind: InitConfiguration\n", "has no ClusterConfiguration document"),
    ("apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n", "is not one of"),
    ("kind: ClusterConfiguration\nnetworking: [\n", "k.yaml line 3 is not valid YAML"),
])
def test_bad_kubeadm_files_name_the_file(text, message):
    with pytest.raises(SourceError) as err:
        cs.resolve(kubeadm_config="k.yaml", read=files({"k.yaml": text}))
    assert message in str(err.value)


def test_live_cluster_after_files_and_flannel_port():
    live = {"pod_cidrs": ["10.50.0.0/16"], "service_cidr": None,
            "sources": {"pod_cidr": "cluster ConfigMap kube-system/kube-proxy: clusterCIDR"},
            "flannel": {"backend": "vxlan", "port": 4789}}
    got = cs.resolve(live=live)
    assert (got["pod_cidr"], got["pod_source"]) == ("10.50.0.0/16", "cluster ConfigMap kube-system/kube-proxy: clusterCIDR")
    assert got["overlay_ports"] == ["4789/udp"]
    got = cs.resolve(kubeadm_config="k.yaml", read=files({"k.yaml": KUBEADM["v1beta3"]}), live=live)
    assert got["pod_cidr"] == "10.32.0.0/16"  # the file wins over the live cluster


def test_kops_without_pod_cidr_uses_non_masquerade_cidr():
    text = KOPS_NEW.replace("    podCIDR: 100.96.0.0/11\n", "    nonMasqueradeCIDR: 100.64.0.0/10\n")
    got = cs.resolve(kops_cluster_spec="c.yaml", read=files({"c.yaml": text}))
    assert (got["pod_cidr"], got["pod_source"]) == (
        "100.64.0.0/10", "c.yaml: spec.networking.nonMasqueradeCIDR (no podCIDR set)")
