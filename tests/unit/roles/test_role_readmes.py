"""Every role's README.md is what scripts/role-readmes writes from its argument_specs."""
import os
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(REPO, "scripts", "role-readmes")


def role_readmes():
    loader = SourceFileLoader("role_readmes", SCRIPT)
    module = module_from_spec(spec_from_loader("role_readmes", loader))
    loader.exec_module(module)
    return module


READMES = role_readmes()


@pytest.mark.parametrize("role", READMES.role_names())
def test_committed_readme_is_the_generated_one(role):
    with open(os.path.join(REPO, "roles", role, "README.md")) as handle:
        assert handle.read() == READMES.render(role), "run scripts/role-readmes and commit roles/%s/README.md" % role


def test_every_role_has_an_argument_spec_and_so_a_readme():
    roles = sorted(name for name in os.listdir(os.path.join(REPO, "roles")) if not name.startswith("."))
    assert READMES.role_names() == roles
