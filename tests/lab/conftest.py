"""Fixtures for the lab tests: a real 2-node fleet, torn down even when tests fail."""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from podnet_lab import fleet as lab_fleet  # noqa: E402
from podnet_lab import podman  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("CONTAINERS_CONF", podman.CONTAINERS_CONF)


def own_fleet(name, size, subnet, scope="module", prepare=None, inventory_vars=None, **fleet_args):
    """A fixture (assign it to the fixture's name in the test module) that brings up the lab fleet
    ``name`` of ``size`` nodes on the podman subnet ``subnet``, writes its inventory (``inventory_vars``
    added to its vars), runs ``prepare(lab)`` when given (networks to attach, units to install...)
    and yields the fleet; the fleet is torn down however the tests end, also when ``prepare``
    fails. ``fleet_args`` go to Fleet (e.g. image_variant). Fleets of different modules may run
    at the same time: a module's name and subnet are its own (modules sharing one never run at once)."""
    @pytest.fixture(scope=scope)
    def running_fleet(tmp_path_factory):
        """A lab fleet of this module's own (conftest.own_fleet), up for its tests."""
        lab = lab_fleet.Fleet(name=name, size=size, subnet=subnet, **fleet_args)
        with lab.running(str(tmp_path_factory.mktemp("inventory") / "hosts.json"), inventory_vars=inventory_vars):
            if prepare is not None:
                prepare(lab)
            yield lab
    return running_fleet


# the shared fleet: tests that use it run only under flock /tmp/podnet-shared-fleet.lock
fleet = own_fleet("podnet-test", 2, "192.168.78.0/24", scope="session")


def ansible_playbook(inventory, playbook, *extra):
    """Run a playbook of the installed collection over SSH; return (rc, output)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(["ansible-playbook", "-i", inventory, playbook] + list(extra),
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def node_info(inventory, host, **args):
    """The check results node_info returns for ``host`` (ad-hoc, JSON). The node
    network comes from the inventory's podnet_node_networks, as the roles pass it."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    with open(inventory) as handle:
        args.setdefault("node_networks", json.load(handle)["all"]["vars"]["podnet_node_networks"])
    proc = subprocess.run(["ansible", "-i", inventory, host, "-m", "podnet.doctor.node_info",
                           "-a", json.dumps(args)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    # the JSON document comes first; the fleet summary callback prints after it
    data = json.JSONDecoder().raw_decode(proc.stdout)[0]
    result = data["plays"][0]["tasks"][0]["hosts"][host]
    return dict((c["id"], c) for c in result["checks"])
