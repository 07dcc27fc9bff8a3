"""Host networks from real `ip -j` shapes: what counts as a conflict source."""
from ansible_collections.podnet.doctor.plugins.module_utils.network.host_networks import host_networks

ADDRESSES = [
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.168.77.11", "prefixlen": 24},
                                     {"family": "inet6", "local": "fe80::1", "prefixlen": 64}]},
    {"ifname": "eth1", "addr_info": [{"family": "inet", "local": "10.244.2.11", "prefixlen": 24}]},
    {"ifname": "docker0", "addr_info": [{"family": "inet", "local": "172.17.0.1", "prefixlen": 16}]},
    {"ifname": "cni0", "addr_info": [{"family": "inet", "local": "10.244.1.1", "prefixlen": 24}]},
    {"ifname": "flannel.1", "addr_info": [{"family": "inet", "local": "10.244.1.0", "prefixlen": 32}]},
    {"ifname": "kube-ipvs0", "addr_info": [{"family": "inet", "local": "10.96.0.1", "prefixlen": 32}]},
]
ROUTES = [
    {"dst": "default", "gateway": "192.168.77.1", "dev": "eth0"},
    {"dst": "10.0.0.0/8", "gateway": "192.168.77.254", "dev": "eth0", "table": "100"},
    {"dst": "10.244.2.0/24", "gateway": "10.244.2.0", "dev": "flannel.1", "flags": ["onlink"]},
    {"type": "local", "dst": "192.168.77.11", "dev": "eth0", "table": "local"},
    {"type": "blackhole", "dst": "10.244.9.0/26"},
    {"dst": "192.168.77.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link"},
]


def test_host_networks_sources_and_exclusions():
    found = host_networks(ADDRESSES, ROUTES, "node1")
    assert [(n["network"], n["source"]) for n in found] == [
        ("192.168.77.0/24", "node1 eth0 address 192.168.77.11/24"),
        ("10.244.2.0/24", "node1 eth1 address 10.244.2.11/24"),
        ("172.17.0.0/16", "node1 docker0 address 172.17.0.1/16"),
        ("10.0.0.0/8", "node1 route 10.0.0.0/8 via 192.168.77.254 dev eth0 (table 100)"),
    ]
