# -*- coding: utf-8 -*-
# Copyright (c) podnet.doctor developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every exception podnet.doctor raises on purpose. Each message names what the user or the
node has to change (the variable, file and line); modules turn them into ``fail_json`` or an
``error`` check, never into a verdict."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class PodnetError(Exception):
    """Base of the collection's own errors."""


class CatalogError(PodnetError, ValueError):
    """A CNI, mode or port the user gave is not valid; the message says what is."""


class Undecided(PodnetError):
    """The sysctl model cannot tell what the tools or the kernel do; the message names the file and line."""


class Unevaluable(PodnetError):
    """A firewall verdict depends on a rule the evaluators do not model; the message holds the rule."""


class RulesetParseError(PodnetError, ValueError):
    """A ruleset dump that is not what its tool prints: judged ``error``, never read as empty."""


class FixError(PodnetError):
    """A fix cannot be applied; the message says why and what to do."""


class LockTimeout(PodnetError):
    """Another fixer held the lock for longer than we would wait."""


class ClusterReadError(PodnetError):
    """The cluster could not be read at all (TLS, connection, auth)."""


class ProbeStateError(PodnetError):
    """The probe observer's state file is missing or cannot be trusted; the message names it."""


class ProbeSocketError(PodnetError):
    """A socket to observe or send the probes cannot be opened or used (not root, no route, ...).
    ``sent`` lists the probes that went out before."""

    def __init__(self, msg, sent=None):
        super(ProbeSocketError, self).__init__(msg)
        self.sent = sent or []


class CidrError(PodnetError, ValueError):
    """A value is not a usable CIDR, or no free block exists; the message names the value."""


class SourceError(PodnetError, ValueError):
    """A cluster description (kubeadm config, kOps spec, live cluster) could not be used; the message names the file and why."""


class ConfigUnreadable(PodnetError):
    """A network manager's configuration file exists but cannot be read: ``netmgr.cni_links`` is
    ``error`` naming it, and its fixer changes nothing."""
