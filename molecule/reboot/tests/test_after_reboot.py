"""After a real reboot: /proc values, and the ClusterIP symptom probe passes."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "tests", "lab"))

from podnet_lab import pods  # noqa: E402


class OneNode(object):
    """The lab's pod network description for a single node."""
    size = 1

    def __init__(self, address):
        self._address = address

    def address(self, index):
        return self._address


def test_node_really_rebooted(host):
    assert not host.file("/run/podnet-before-reboot").exists


def test_values_after_reboot(host):
    assert host.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"
    assert host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").content_string.strip() == "1"
    assert "net.ipv4.ip_forward = 0" in host.file("/etc/sysctl.d/99-zz-cis.conf").content_string


def test_clusterip_path_works_after_reboot(host):
    address = host.check_output("ip -4 -o addr show dev eth0").split()[3].split("/")[0]
    host.run_test("sh -ec %s", pods.setup_script(OneNode(address), 1))
    reply = host.run("timeout 10 ip netns exec pod-a socat -T 3 - TCP:%s:%d,connect-timeout=3 </dev/null"
                     % (pods.CLUSTER_IP, pods.SERVICE_PORT))
    assert "podnet-ok" in reply.stdout, reply.stderr
