"""Which ``podnet_*`` variables each role entry point reads, from its tasks and templates.

An entry point ``E`` of role ``R`` reads what ``roles/R/tasks/E.yml`` reads, what the task files
it includes or imports read, and what the entry points of the collection's roles it includes or
imports read (less what that task passes in ``vars:``); ``main`` also reads the role's templates.
A name the role's ``vars/main.yml`` defines is followed into its expression. Names a task
registers or sets (``register:``, ``set_fact``) anywhere in the collection's roles are results,
not settings."""
import glob
import os
import re

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = os.path.join(REPO, "roles")
VARIABLE = re.compile(r"\bpodnet_[a-z0-9_]+")
JINJA = re.compile(r"{{.*?}}|{%.*?%}", re.S)
# task keys whose whole string is a Jinja expression
BARE_EXPRESSIONS = ("when", "changed_when", "failed_when", "until", "that")
INCLUDE_TASKS = ("ansible.builtin.include_tasks", "ansible.builtin.import_tasks")
INCLUDE_ROLE = ("ansible.builtin.include_role", "ansible.builtin.import_role")
PREFIX = "podnet.doctor."


def role_names():
    return sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(ROLES, "*", "meta")))


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def argument_specs(role):
    return load(os.path.join(ROLES, role, "meta", "argument_specs.yml"))["argument_specs"]


def defaults(role):
    path = os.path.join(ROLES, role, "defaults", "main.yml")
    return (load(path) or {}) if os.path.exists(path) else {}


def role_vars(role):
    path = os.path.join(ROLES, role, "vars", "main.yml")
    return (load(path) or {}) if os.path.exists(path) else {}


def names_in(value, bare=False):
    """The podnet_* names read by a loaded YAML value (strings inside Jinja, or bare expressions)."""
    if isinstance(value, dict):
        found = set()
        for key, item in value.items():
            found |= names_in(item, bare=key in BARE_EXPRESSIONS)
        return found
    if isinstance(value, list):
        return set().union(set(), *(names_in(item, bare) for item in value))
    if isinstance(value, str):
        text = value if bare else " ".join(JINJA.findall(value))
        return set(VARIABLE.findall(text))
    return set()


SECTIONS = ("block", "rescue", "always")


def flat(tasks_list):
    """Tasks with every block's sections in line after the block itself (which keeps its when:)."""
    for task in tasks_list or []:
        yield dict((key, value) for key, value in task.items() if key not in SECTIONS)
        for section in SECTIONS:
            yield from flat(task.get(section))


def tasks(role, entry):
    path = os.path.join(ROLES, role, "tasks", entry + ".yml")
    return list(flat(load(path)))


def results():
    """Every name a role task registers or sets with set_fact."""
    found = set()
    for path in glob.glob(os.path.join(ROLES, "*", "tasks", "*.yml")):
        for task in flat(load(path)):
            if "register" in task:
                found.add(task["register"])
            found |= set((task.get("ansible.builtin.set_fact") or {}).keys())
    return found


def follow_role_vars(role, names):
    """``names`` plus what the role's vars/main.yml expressions for them read, transitively."""
    definitions = role_vars(role)
    names, todo = set(names), [n for n in names if n in definitions]
    while todo:
        for name in names_in(definitions[todo.pop()], bare=False):
            if name not in names:
                names.add(name)
                if name in definitions:
                    todo.append(name)
    return names


def entry_reads(role, entry, seen=None):
    """The podnet_* names entry point ``entry`` of ``role`` reads (results and vars/main.yml names left in)."""
    seen = set() if seen is None else seen
    if (role, entry) in seen:
        return set()
    seen.add((role, entry))
    found = set()
    for task in tasks(role, entry):
        for module in INCLUDE_TASKS:
            if module in task:
                found |= entry_reads(role, os.path.splitext(task[module])[0], seen)
        for module in INCLUDE_ROLE:
            if module in task:
                other = task[module]["name"][len(PREFIX):]
                given = set((task.get("vars") or {}).keys())
                inner = follow_role_vars(other, entry_reads(other, task[module].get("tasks_from", "main"), seen))
                found |= inner - given - set(role_vars(other))
                found |= names_in(task.get("vars") or {})
                break
        else:
            found |= names_in(task) - set((task.get("vars") or {}).keys())
    if entry == "main":
        for path in glob.glob(os.path.join(ROLES, role, "templates", "*")):
            with open(path) as handle:
                found |= set(VARIABLE.findall(" ".join(JINJA.findall(handle.read()))))
    return follow_role_vars(role, found)


def settings_read(role, entry):
    """What a user can set for ``role`` entry ``entry``: the names it reads, less results and role vars."""
    return entry_reads(role, entry) - results() - set(role_vars(role))
