"""The node side (modules and module_utils) parses as Python 3.9: the oldest node release the lab
proves (Debian bullseye ships 3.9.2; tests/lab/test_reboot_fix.py runs node_info and remediate there).
A ``match`` statement or a parenthesised ``with`` would fail on such a node at import, before any
check could report ``error``. The controller side (callbacks, filters, action plugins) runs on
ansible-core's own Python and is not held to this."""
import ast
import glob
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OLDEST_NODE_PYTHON = (3, 9)
NODE_SIDE = sorted(glob.glob(os.path.join(REPO, "plugins", "modules", "*.py")) +
                   glob.glob(os.path.join(REPO, "plugins", "module_utils", "**", "*.py"), recursive=True))


def test_node_side_files_found():
    assert len(NODE_SIDE) > 20


@pytest.mark.parametrize("path", NODE_SIDE, ids=lambda p: os.path.relpath(p, REPO))
def test_parses_on_the_oldest_node_python(path):
    with open(path, encoding="utf-8") as handle:
        ast.parse(handle.read(), filename=path, feature_version=OLDEST_NODE_PYTHON)
