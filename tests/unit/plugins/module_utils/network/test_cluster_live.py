"""The live-cluster reader against a local HTTPS server speaking the Kubernetes API
paths it uses, with objects shaped like a real cluster's (no API server can be
installed here). Loopback only."""
import base64
import datetime
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
import ipaddress  # noqa: E402

from ansible_collections.podnet.doctor.plugins.module_utils.network import cluster_live  # noqa: E402

TOKEN_ADMIN = "admin-token-s3cret"
TOKEN_LIMITED = "limited-token-s3cret"

KUBEADM_CONFIG = """apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.31.2
networking:
  dnsDomain: cluster.local
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/12
"""
KUBE_PROXY = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.244.0.0/16\nmode: iptables\n"
NET_CONF = json.dumps({"Network": "10.244.0.0/16", "EnableNFTables": False,
                       "Backend": {"Type": "vxlan", "Port": 4789}})


def configmap(namespace, name, data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1234",
                         "uid": "6a1b-%s" % name, "creationTimestamp": "2026-11-01T10:00:00Z"}}


OBJECTS = {
    "/api/v1/namespaces/kube-system/configmaps/kubeadm-config":
        configmap("kube-system", "kubeadm-config", {"ClusterConfiguration": KUBEADM_CONFIG}),
    "/api/v1/namespaces/kube-system/configmaps/kube-proxy":
        configmap("kube-system", "kube-proxy", {"config.conf": KUBE_PROXY, "kubeconfig.conf": "..."}),
    "/api/v1/namespaces/kube-flannel/configmaps/kube-flannel-cfg":
        configmap("kube-flannel", "kube-flannel-cfg", {"net-conf.json": NET_CONF, "cni-conf.json": "{}"}),
    "/api/v1/nodes": {"apiVersion": "v1", "kind": "NodeList", "metadata": {"resourceVersion": "99"}, "items": [
        {"metadata": {"name": "cp1", "uid": "n1"}, "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}},
        {"metadata": {"name": "w1", "uid": "n2"}, "spec": {"podCIDR": "10.244.1.0/24"}}]},
}


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        token = self.headers.get("Authorization", "").replace("Bearer ", "")
        path = self.path.split("?")[0]
        if token not in (TOKEN_ADMIN, TOKEN_LIMITED):
            code, body = 401, status(401, "Unauthorized", "Unauthorized")
        elif token == TOKEN_LIMITED and "/namespaces/kube-system/" in path:
            code, body = 403, status(403, "Forbidden", 'configmaps is forbidden: User "viewer" cannot get '
                                                       'resource "configmaps" in the namespace "kube-system"')
        elif path in OBJECTS:
            code, body = 200, OBJECTS[path]
        else:
            code, body = 404, status(404, "NotFound", "the server could not find the requested resource")
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def make_ca(name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return key, cert


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    ca_key, ca = make_ca("podnet-test-ca")
    _other_key, other_ca = make_ca("some-other-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False).sign(ca_key, hashes.SHA256()))
    (tmp / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp / "server.crt"), str(tmp / "server.key"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def kubeconfig(token, ca_cert=ca):
        path = tmp / ("kubeconfig-%s-%s" % (token[:5], ca_cert.subject.rfc4514_string()[3:8]))
        pem = base64.b64encode(ca_cert.public_bytes(serialization.Encoding.PEM)).decode()
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "lab",
            "clusters": [{"name": "lab", "cluster": {"server": "https://127.0.0.1:%d" % server.server_port,
                                                     "certificate-authority-data": pem}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "u"}}]}))
        return str(path)
    yield kubeconfig, other_ca
    server.shutdown()


def test_reads_every_source(api):
    kubeconfig, _other = api
    got = cluster_live.read_cluster(cluster_live.api_client_from_kubeconfig(kubeconfig(TOKEN_ADMIN)))
    assert got["pod_cidrs"] == ["10.244.0.0/16"] and got["service_cidr"] == "10.96.0.0/12"
    assert got["sources"]["pod_cidr"] == "cluster ConfigMap kube-system/kubeadm-config: networking.podSubnet"
    assert got["kube_proxy_cluster_cidr"] == "10.244.0.0/16"
    assert got["node_pod_cidrs"] == {"cp1": ["10.244.0.0/24"], "w1": ["10.244.1.0/24"]}
    assert got["flannel"]["backend"] == "vxlan" and got["flannel"]["port"] == 4789
    assert "Calico IPPools not found" in got["notes"] and not got["errors"]


def test_bad_certificate_is_refused_without_leaking_credentials(api):
    kubeconfig, other_ca = api
    with pytest.raises(cluster_live.ClusterReadError) as err:
        cluster_live.read_cluster(cluster_live.api_client_from_kubeconfig(kubeconfig(TOKEN_ADMIN, other_ca)))
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value) or "certificate verify failed" in str(err.value)
    assert TOKEN_ADMIN not in str(err.value)


def test_forbidden_sources_are_errors_and_the_rest_still_read(api):
    kubeconfig, _other = api
    got = cluster_live.read_cluster(cluster_live.api_client_from_kubeconfig(kubeconfig(TOKEN_LIMITED)))
    assert any("forbidden" in e and "kubeadm-config" in e for e in got["errors"])
    assert got["pod_cidrs"] == ["10.244.0.0/16"]  # from flannel, which it may read
    assert got["sources"]["pod_cidr"].startswith("cluster ConfigMap kube-flannel/kube-flannel-cfg")
    assert TOKEN_LIMITED not in json.dumps(got)


def test_unusable_kubeconfig_names_the_file(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    with pytest.raises(cluster_live.ClusterReadError) as err:
        cluster_live.api_client_from_kubeconfig(str(path))
    assert str(path) in str(err.value)
