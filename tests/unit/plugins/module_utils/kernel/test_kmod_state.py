"""br_netfilter state over fixture trees (this kernel has it built in, so loadable
modules can only be tested here)."""
import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import kmod_state
from ansible_collections.podnet.doctor.tests.unit.fixture_tree import Link, make_tree

REL = "6.1.0-26-amd64"
BASE = {"proc/sys/kernel/osrelease": REL + "\n",
        "lib/modules/%s/modules.builtin" % REL: "kernel/net/bridge/bridge.ko\n",
        "lib/modules/%s/modules.dep" % REL:
            "kernel/net/bridge/br_netfilter.ko.xz: kernel/net/bridge/bridge.ko.xz\n",
        "proc/modules": "bridge 311296 1 br_netfilter, Live 0x0\n",
        "proc/cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro\n"}
LOADED = {"proc/modules": "br_netfilter 32768 0 - Live 0x0\nbridge 311296 1 br_netfilter, Live 0x0\n",
          "proc/sys/net/bridge/bridge-nf-call-iptables": "1\n"}


def state(tmp_path, extra):
    files = dict(BASE)
    files.update(extra)
    return kmod_state.module_state("br_netfilter", make_tree(tmp_path, files))


@pytest.mark.parametrize("extra,expect", [
    ({}, dict(loaded=False, builtin=False, loadable=True, active=False, loads_at_boot=False)),
    (LOADED, dict(loaded=True, builtin=False, active=True, loads_at_boot=False)),
    (dict(LOADED, **{"etc/modules-load.d/k8s.conf": "# k8s\noverlay\nbr_netfilter\n"}),
     dict(loaded=True, loads_at_boot=True, boot_entry="/etc/modules-load.d/k8s.conf line 3")),
    ({"lib/modules/%s/modules.builtin" % REL: "kernel/net/bridge/br_netfilter.ko\n"},
     dict(builtin=True, active=True, loads_at_boot=True)),
    # dash/underscore spelling is the same module
    ({"usr/lib/modules-load.d/k8s.conf": "br-netfilter\n"}, dict(loads_at_boot=True)),
    # same name in /etc masks /usr/lib; /dev/null masks too
    ({"usr/lib/modules-load.d/k8s.conf": "br_netfilter\n",
      "etc/modules-load.d/k8s.conf": Link("/dev/null")},
     dict(loads_at_boot=False, boot_entry=None)),
    ({"etc/modules-load.d/k8s.conf": "br_netfilter\n",
      "etc/modprobe.d/cis.conf": "blacklist br_netfilter\n"},
     dict(loads_at_boot=False, blacklisted="/etc/modprobe.d/cis.conf line 1: blacklist br_netfilter")),
    ({"etc/modules-load.d/k8s.conf": "br_netfilter\n",
      "etc/modprobe.d/cis.conf": "install br_netfilter /bin/false\n"},
     dict(loads_at_boot=False)),
    ({"etc/modules-load.d/k8s.conf": "br_netfilter\n",
      "proc/cmdline": "root=/dev/vda1 module_blacklist=br_netfilter,nouveau\n"},
     dict(loads_at_boot=False, blacklisted="kernel command line: module_blacklist=br_netfilter,nouveau")),
    # built-in module in a container without /lib/modules: its sysctls prove it
    ({"lib/modules/%s/modules.builtin" % REL: None, "lib/modules/%s/modules.dep" % REL: None,
      "proc/sys/net/bridge/bridge-nf-call-iptables": "1\n"},
     dict(builtin=True, builtin_inferred=True, active=True, loads_at_boot=True)),
], ids=["loadable-not-loaded", "loaded-not-persisted", "modules-load-d", "built-in",
        "dash-spelling", "masked-by-dev-null", "blacklisted", "install-false",
        "kernel-cmdline-blacklist", "built-in-inferred"])
def test_module_state(tmp_path, extra, expect):
    files = dict(BASE)
    files.update(extra)
    for key in [k for k, v in files.items() if v is None]:
        del files[key]
    got = kmod_state.module_state("br_netfilter", make_tree(tmp_path, files))
    assert dict((k, got.get(k)) for k in expect) == expect
