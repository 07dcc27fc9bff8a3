# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: cidr_overlaps.yml, cidr_conflicts.yml and cidr_suggest.yml beside this file.
# The comparison itself is plugins/plugin_utils/cidr.py, shared with the cidr_check action.

import functools

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.podnet.doctor.plugins.module_utils.exceptions import CidrError
from ansible_collections.podnet.doctor.plugins.plugin_utils import cidr


def _raising_filter_errors(comparison):
    """``comparison`` with its CidrError raised as the AnsibleFilterError a template reports, same message."""
    @functools.wraps(comparison)
    def cidr_filter(*args, **kwargs):
        try:
            return comparison(*args, **kwargs)
        except CidrError as exc:
            message = to_native(exc)
        # raised outside the except clause: Ansible would print the CidrError again as its cause
        raise AnsibleFilterError(message)
    return cidr_filter


cidr_overlaps = _raising_filter_errors(cidr.cidr_overlaps)
cidr_conflicts = _raising_filter_errors(cidr.cidr_conflicts)
cidr_suggest = _raising_filter_errors(cidr.cidr_suggest)


class FilterModule(object):
    def filters(self):
        return {"cidr_overlaps": cidr_overlaps, "cidr_conflicts": cidr_conflicts, "cidr_suggest": cidr_suggest}
