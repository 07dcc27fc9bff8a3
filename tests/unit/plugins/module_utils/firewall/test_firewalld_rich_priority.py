"""firewalld rich-rule priorities (issue 12, section 2).

firewalld sorts a zone's rules into chains run in this order (firewalld.richlanguage(5),
src/firewall/core/nftables.py): ``_pre`` (rich rules with priority < 0, lowest first),
``_log``, ``_deny`` (priority-0 drop/reject rich rules), ``_allow`` (priority-0 accept rich
rules, ports, services, protocols), ``_post`` (priority > 0, lowest first), then the zone's
target. The evaluator used to ignore the priority."""
import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.firewall import firewalld
from ansible_collections.podnet.doctor.plugins.module_utils.firewall.packet import Packet

NODE_NET = "192.168.76.0/24"
VXLAN = Packet("udp", 8472, src=NODE_NET, iif="eth0")
SERVICES = {"ssh": ["22/tcp"]}


def verdict(rich, target="default", ports=()):
    zones = {"public": {"target": target, "interfaces": ["eth0"], "ports": list(ports), "services": ["ssh"],
                        "rich rules": list(rich)}}
    return firewalld.firewalld_verdict(VXLAN, zones, "public", SERVICES)["verdict"]


@pytest.mark.parametrize("rich,target,ports,expected", [
    # priority > 0 runs after the allow chain but before the target: with target ACCEPT it drops
    (['rule priority="10" family="ipv4" port port="8472" protocol="udp" drop'], "ACCEPT", (), "drop"),
    # ... and after ports: an opened port wins over a later drop
    (['rule priority="10" family="ipv4" port port="8472" protocol="udp" drop'], "default", ("8472/udp",), "accept"),
    # priority < 0 runs before the deny chain: an early accept wins over a priority-0 drop
    (['rule family="ipv4" source address="192.168.0.0/16" drop',
      'rule priority="-10" family="ipv4" source address="192.168.76.0/24" port port="8472" protocol="udp" accept'],
     "default", (), "accept"),
    # inside _pre the lower priority runs first
    (['rule priority="-5" family="ipv4" port port="8472" protocol="udp" accept',
      'rule priority="-20" family="ipv4" source address="192.168.76.0/24" reject'], "default", (), "reject"),
    (['rule priority="-20" family="ipv4" port port="8472" protocol="udp" accept',
      'rule priority="-5" family="ipv4" source address="192.168.76.0/24" reject'], "default", (), "accept"),
    # priority-0 deny before priority-0 allow whatever the listing order
    (['rule family="ipv4" port port="8472" protocol="udp" accept',
      'rule family="ipv4" source address="192.168.76.0/24" drop'], "default", (), "drop"),
    # a positive-priority accept still opens what no earlier rule drops
    (['rule priority="5" family="ipv4" port port="8472" protocol="udp" accept'], "DROP", (), "accept"),
    # inside _post the lower priority runs first
    (['rule priority="9" family="ipv4" port port="8472" protocol="udp" accept',
      'rule priority="3" family="ipv4" source NOT address="10.0.0.0/8" drop'], "default", (), "drop"),
])
def test_rich_rule_priorities_order_the_zone(rich, target, ports, expected):
    assert verdict(rich, target, ports) == expected


ALLOW_HOST_IPV6 = """allow-host-ipv6 (active)
  priority: -15000
  target: CONTINUE
  ingress-zones: ANY
  egress-zones: HOST
  services:
  ports:
  protocols:
  masquerade: no
  forward-ports:
  source-ports:
  icmp-blocks:
  rich rules:
\trule family="ipv6" icmp-type name="neighbour-advertisement" accept
\trule family="ipv6" icmp-type name="neighbour-solicitation" accept
"""


def policy(target, priority, ports=()):
    return {"target": target, "priority": str(priority), "ingress-zones": ["ANY"], "egress-zones": ["HOST"],
            "ports": list(ports), "rich rules": []}


@pytest.mark.parametrize("policies,zone_ports,expected", [
    # Debian's default policy (firewall-cmd --list-all-policies, firewalld 1.3): ICMPv6 only
    ({"allow-host-ipv6": firewalld.parse_list_all(ALLOW_HOST_IPV6)}, (), "reject"),
    ({"allow-host-ipv6": firewalld.parse_list_all(ALLOW_HOST_IPV6)}, ("8472/udp",), "accept"),
    # a policy before the zone (priority < 0) decides first; CONTINUE falls through to the zone
    ({"p": policy("DROP", -50)}, ("8472/udp",), "drop"),
    ({"p": policy("CONTINUE", -50, ["8472/udp"])}, (), "accept"),
    # after the zone (priority > 0): the zone's ports win, else the policy before the zone's target
    ({"p": policy("DROP", 10)}, ("8472/udp",), "accept"),
    ({"p": policy("ACCEPT", 10)}, (), "accept"),
])
def test_firewalld_policies_on_host_traffic_run_around_the_zone_by_priority(policies, zone_ports, expected):
    zones = {"public": {"target": "default", "interfaces": ["eth0"], "ports": list(zone_ports), "services": ["ssh"],
                        "rich rules": []}}
    assert firewalld.firewalld_verdict(VXLAN, zones, "public", SERVICES, policies=policies)["verdict"] == expected
