"""firewalld rich-rule priorities (issue 12, section 2).

firewalld sorts a zone's rules into chains run in this order (firewalld.richlanguage(5),
src/firewall/core/nftables.py): ``_pre`` (rich rules with priority < 0, lowest first),
``_log``, ``_deny`` (priority-0 drop/reject rich rules), ``_allow`` (priority-0 accept rich
rules, ports, services, protocols), ``_post`` (priority > 0, lowest first), then the zone's
target. The evaluator used to ignore the priority."""
import pytest

from ansible_collections.podnet.doctor.plugins.module_utils import firewall_eval as fw

NODE_NET = "192.168.76.0/24"
VXLAN = fw.Packet("udp", 8472, src=NODE_NET, iif="eth0")
SERVICES = {"ssh": ["22/tcp"]}


def verdict(rich, target="default", ports=()):
    zones = {"public": {"target": target, "interfaces": ["eth0"], "ports": list(ports), "services": ["ssh"],
                        "rich rules": list(rich)}}
    return fw.firewalld_verdict(VXLAN, zones, "public", SERVICES)["verdict"]


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
