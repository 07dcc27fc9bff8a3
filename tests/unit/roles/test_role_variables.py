"""Each role's variables live in one place per role and cannot drift.

Every podnet_* variable an entry point reads is declared in its meta/argument_specs.yml and
every declared one is read; each declared default is the role's defaults/main.yml value; a
variable shared by several roles has one default, type and choice list everywhere; no task
repeats a role default inline (``| default(...)``); every role states the Ansible version
meta/runtime.yml requires."""
import glob
import os
import re

import pytest

from tests.unit.roles import role_variables as rv

ENTRY_POINTS = [(role, entry) for role in rv.role_names() for entry in rv.argument_specs(role)]
SHARED_FIELDS = ("type", "elements", "choices", "default")


def options(role):
    found = {}
    for entry in rv.argument_specs(role).values():
        found.update(entry["options"])
    return found


@pytest.mark.parametrize("role,entry", ENTRY_POINTS, ids=["%s.%s" % e for e in ENTRY_POINTS])
def test_every_variable_read_is_declared_and_every_declared_one_read(role, entry):
    read = rv.settings_read(role, entry)
    declared = set(rv.argument_specs(role)[entry]["options"])
    assert sorted(read - declared) == [], "%s entry %s reads variables its argument_specs does not declare" % (role, entry)
    assert sorted(declared - read) == [], "%s entry %s declares variables it does not read" % (role, entry)


@pytest.mark.parametrize("role", rv.role_names())
def test_argument_spec_defaults_are_the_role_defaults(role):
    declared = options(role)
    assert sorted(rv.defaults(role)) == sorted(declared), "defaults/main.yml and argument_specs name other variables"
    for name, option in declared.items():
        assert "description" in option and option.get("type"), "%s: %s needs a type and a description" % (role, name)
        assert option.get("default") == rv.defaults(role)[name], "%s: %s default differs from defaults/main.yml" % (
            role, name)


def test_a_variable_shared_by_roles_means_the_same_everywhere():
    first = {}
    for role in rv.role_names():
        for name, option in options(role).items():
            shape = dict((field, option.get(field)) for field in SHARED_FIELDS)
            seen = first.setdefault(name, (role, shape))
            assert shape == seen[1], "%s in %s and in %s: %s != %s" % (name, seen[0], role, shape, seen[1])


@pytest.mark.parametrize("role", rv.role_names())
def test_defaults_have_a_rationale_per_key(role):
    with open(os.path.join(rv.ROLES, role, "defaults", "main.yml")) as handle:
        lines = handle.read().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^podnet_[a-z0-9_]+:", line):
            assert lines[number - 1].startswith("# "), "%s defaults: %s has no rationale comment" % (role, line)


def test_no_task_repeats_a_role_default_inline():
    role_defaults = set().union(*(rv.defaults(role) for role in rv.role_names()))
    for path in glob.glob(os.path.join(rv.ROLES, "*", "*", "*.yml")) + glob.glob(os.path.join(rv.ROLES, "*", "templates", "*")):
        with open(path) as handle:
            for name in re.findall(r"\b(podnet_[a-z0-9_]+)\s*\|\s*default\(", handle.read()):
                assert name not in role_defaults, "%s: %s | default(...) copies a role default" % (path, name)


def test_every_role_states_the_ansible_version_the_collection_requires():
    requires = rv.load(os.path.join(rv.REPO, "meta", "runtime.yml"))["requires_ansible"]
    minimum = re.match(r">=\s*(\d+\.\d+)", requires).group(1)
    for role in rv.role_names():
        meta = rv.load(os.path.join(rv.ROLES, role, "meta", "main.yml"))
        assert str(meta["galaxy_info"]["min_ansible_version"]) == minimum, role
