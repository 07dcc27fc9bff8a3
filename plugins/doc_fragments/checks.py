# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # For modules that return check results: the ignore list every entry point passes as podnet_ignore.
    DOCUMENTATION = r"""
options:
  ignore:
    description:
      - Check IDs whose C(fail) is reported as C(ignored), like kubeadm's C(--ignore-preflight-errors).
    type: list
    elements: str
    default: []
"""
