# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ufw: whether it is in charge now (its chains in the iptables dump) and at boot (ENABLED in its conf)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.podnet.doctor.plugins.module_utils.rootfs import read_text


def ufw_loaded(iptables_save):
    """ufw is active exactly when its ``ufw-user-input`` chain exists in the iptables it uses.

    That is the test ``ufw status`` itself makes (``iptables -L ufw-user-input``), read
    here from the dump already taken instead of starting ufw."""
    return bool(iptables_save) and re.search(r"^:ufw-user-input ", iptables_save, re.M) is not None


def ufw_enabled(root):
    """ENABLED in /etc/ufw/ufw.conf (ufw-init loads nothing without it); True when unreadable."""
    match = re.search(r"^\s*ENABLED\s*=\s*['\"]?(\w+)", read_text(root, "/etc/ufw/ufw.conf") or "", re.M)
    return not match or match.group(1).lower() == "yes"
