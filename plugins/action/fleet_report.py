# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of podnet.doctor.fleet_report (documented in plugins/modules/fleet_report.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile
import time

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.podnet.doctor.plugins.module_utils.checks import apply_ignore, merged_checks
from ansible_collections.podnet.doctor.plugins.plugin_utils import reports

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collection_version():
    for name, key in (("MANIFEST.json", None), ("galaxy.yml", "version:")):
        path = os.path.join(COLLECTION_ROOT, name)
        if not os.path.isfile(path):
            continue
        with open(path) as handle:
            if key is None:
                return json.load(handle)["collection_info"]["version"]
            for line in handle:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    return "0.0.0"


def write_reports(directory, files):
    """Each file atomically (temp file in the same directory, then rename)."""
    for rel, text in sorted(files.items()):
        path = os.path.join(directory, rel)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        fd, tmp = tempfile.mkstemp(prefix=".podnet-", dir=os.path.dirname(path))
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)


def write_summary_path(path_file, directory):
    """The path of summary.json, one line, into ``path_file`` (atomically): a caller such as
    scripts/podnet-compliance reads the run's verdict from there, wherever the reports went.
    Written after every report, so the path it names is complete."""
    write_reports(os.path.dirname(os.path.abspath(path_file)),
                  {os.path.basename(path_file): os.path.join(directory, "summary.json") + "\n"})


def _registered(variables, path, host):
    """The value at ``path`` (dotted, ``{host}`` standing for the host's name) in a host's variables."""
    value = variables
    for key in path.replace("{host}", host).split("."):
        value = value.get(key) if hasattr(value, "get") else None  # dicts and Ansible's hostvars
        if value is None:
            return None
    return value


def merged_report(host, variables, paths, ignore):
    """{host, checks}: the checks of every registered result in ``paths``, later ones replacing
    earlier ones by ID (what remediate's final verdict merges), ``ignore`` applied; None when the
    first (the node read) holds no checks: the host was unreachable or failed before it."""
    groups = []
    for path in paths:
        value = _registered(variables, path, host)
        checks = value.get("checks") if isinstance(value, dict) else value
        if not isinstance(checks, list):
            if not groups:
                return None
            continue
        groups.append(checks)
    return {"host": host, "checks": apply_ignore(merged_checks(groups), ignore)}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("report_dir", "hosts", "report_var", "merge", "ignore", "started", "summary_path_file"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        hostvars = task_vars["hostvars"]
        report_var = args.get("report_var", "podnet_report")
        found, missing = {}, {}
        for host in args.get("hosts") or task_vars.get("ansible_play_hosts_all", []):
            variables = hostvars[host] if host in hostvars else {}
            if args.get("merge"):
                report = merged_report(host, variables, args["merge"], args.get("ignore") or [])
            else:
                report = variables.get(report_var)
            if isinstance(report, dict) and report.get("checks") is not None:
                found[host] = report
            else:
                missing[host] = "unreachable, or failed before its checks ran"
        started = args.get("started") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        directory = os.path.abspath(os.path.expanduser(args.get("report_dir") or "reports"))
        files, summary = reports.fleet_reports(found, missing, collection_version(), started, time.time())
        path_file = args.get("summary_path_file")
        try:
            write_reports(directory, files)
            if path_file:
                write_summary_path(path_file, directory)
        except (IOError, OSError) as exc:
            result.update(failed=True, msg="cannot write the reports to %s: %s" % (directory, to_text(exc)))
            return result
        result.update(changed=False, report_dir=directory, files=sorted(files), summary=summary,
                      exit_code=summary["exit_code"], unreachable_hosts=sorted(missing))
        return result
