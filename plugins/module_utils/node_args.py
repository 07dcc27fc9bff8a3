# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument spec shared by the node modules (documented in doc_fragments/node.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.podnet.doctor.plugins.module_utils.node_checks import (
    DEFAULT_MODULES_FILE, DEFAULT_SYSCTL_FILE)


def node_argument_spec():
    return dict(
        ip_families=dict(type="list", elements="str", choices=["ipv4", "ipv6"], default=["ipv4"]),
        sysctl_file=dict(type="path", default=DEFAULT_SYSCTL_FILE),
        modules_file=dict(type="path", default=DEFAULT_MODULES_FILE),
        root=dict(type="path", default="/"),
    )
