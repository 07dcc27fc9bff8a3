"""Every role that reads or fixes a node passes the owned file names the user chose.

A role that falls back to the module defaults while remediate passes ``podnet_sysctl_file``
makes the two fight: each run removes the other's drop-in and writes its own (owned files are
found by their marker, whatever their name)."""
import glob
import os

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NODE_MODULES = ("podnet.doctor.node_info", "podnet.doctor.kernel_prereqs")
PASSED = {"sysctl_file": "podnet_sysctl_file", "modules_file": "podnet_modules_file"}
# These call node_info only for the host's networks; no sysctl verdict or fix comes of it.
NETWORK_ONLY_ROLES = ("cidr_guard", "compliance_timer")


def node_module_tasks():
    for path in sorted(glob.glob(os.path.join(REPO, "roles", "*", "tasks", "*.yml"))):
        if path.split(os.sep)[-3] in NETWORK_ONLY_ROLES:
            continue
        with open(path) as handle:
            for task in yaml.safe_load(handle) or []:
                for module in NODE_MODULES:
                    if module in task:
                        yield os.path.relpath(path, REPO), task["name"], task[module] or {}


@pytest.mark.parametrize("path,name,args", list(node_module_tasks()), ids=lambda v: v if isinstance(v, str) else "")
def test_node_module_tasks_pass_the_owned_file_names(path, name, args):
    for parameter, variable in PASSED.items():
        assert variable in str(args.get(parameter, "")), (
            "%s, task %r: %s is not passed from %s" % (path, name, parameter, variable))
