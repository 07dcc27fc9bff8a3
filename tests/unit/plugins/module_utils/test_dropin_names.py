# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.dropin_names import NAME_MAX, name_after, name_before


@pytest.mark.parametrize("name, latest, expected", [
    ("podnet-doctor.conf", None, "podnet-doctor.conf"),
    ("podnet-doctor.conf", "50-default.conf", "podnet-doctor.conf"),
    ("podnet-doctor.conf", "zz-cis.conf", "zzpodnet-doctor.conf"),
    ("99-zzz-podnet-doctor.conf", "99-zzz-podnet-doctor.conf", "z99-zzz-podnet-doctor.conf"),
    # no run of 'z' passes '~': the latest stem + '.z' + the name
    ("podnet-doctor.conf", "~x.conf", "~x.zpodnet-doctor.conf"),
    # strcmp of the UTF-8 bytes: 'ü' (0xc3) sorts after every ASCII letter
    ("podnet-doctor.conf", u"ü.conf", u"ü.zpodnet-doctor.conf"),
])
def test_name_after_sorts_after_latest(name, latest, expected):
    got = name_after(name, latest)
    assert got == expected
    assert latest is None or os.fsencode(got) > os.fsencode(latest)


def test_name_after_too_long_is_none():
    latest = "~" + "x" * (NAME_MAX - len("~.conf")) + ".conf"
    assert name_after("podnet-doctor.conf", latest) is None


@pytest.mark.parametrize("first, expected", [
    (None, "00-podnet-doctor-cni.network"),
    ("10-eth.network", "00-podnet-doctor-cni.network"),
    ("00-a.network", "0-podnet-doctor-cni.network"),
    ("0a.network", "00-podnet-doctor-cni.network"),
    # only a name starting with '-' would sort first, and a name must start with a letter or digit
    ("0-a.network", None),
])
def test_name_before_sorts_before_first(first, expected):
    got = name_before(first, "podnet-doctor-cni", ".network")
    assert got == expected
    assert got is None or first is None or os.fsencode(got) < os.fsencode(first)
