"""Boot-time sysctl resolution, one precedence rule per case."""
import pytest

from ansible_collections.podnet.doctor.plugins.module_utils.kernel import sysctl_boot
from ansible_collections.podnet.doctor.tests.unit.fixture_tree import Link, make_tree

KEY = "net.ipv4.ip_forward"

CASES = [
    # id, files, systemd (value, source), procps (value, source)
    ("kernel-default", {}, ("0", None), ("0", None)),
    ("one-file", {"usr/lib/sysctl.d/50-k8s.conf": "net.ipv4.ip_forward = 1\n"},
     ("1", "/usr/lib/sysctl.d/50-k8s.conf"), ("1", "/usr/lib/sysctl.d/50-k8s.conf")),
    ("later-name-wins-across-dirs",
     {"etc/sysctl.d/10-a.conf": "net.ipv4.ip_forward=1\n",
      "usr/lib/sysctl.d/99-zz-cis.conf": "net.ipv4.ip_forward=0\n"},
     ("0", "/usr/lib/sysctl.d/99-zz-cis.conf"), ("0", "/usr/lib/sysctl.d/99-zz-cis.conf")),
    ("same-name-etc-masks-usr-lib",
     {"etc/sysctl.d/50-x.conf": "net.ipv4.ip_forward=1\n",
      "usr/lib/sysctl.d/50-x.conf": "net.ipv4.ip_forward=0\n"},
     ("1", "/etc/sysctl.d/50-x.conf"), ("1", "/etc/sysctl.d/50-x.conf")),
    ("run-file-that-decides-nothing-at-reboot",
     {"run/sysctl.d/50-x.conf": "net.ipv4.ip_forward=1\n",
      "etc/sysctl.d/60-k8s.conf": "net.ipv4.ip_forward=1\n"},
     ("1", "/run/sysctl.d/50-x.conf"), ("1", "/etc/sysctl.d/60-k8s.conf")),
    ("dev-null-mask",
     {"etc/sysctl.d/99-zz-cis.conf": Link("/dev/null"),
      "usr/lib/sysctl.d/99-zz-cis.conf": "net.ipv4.ip_forward=0\n",
      "usr/lib/sysctl.d/10-k8s.conf": "net.ipv4.ip_forward=1\n"},
     ("1", "/usr/lib/sysctl.d/10-k8s.conf"), ("1", "/usr/lib/sysctl.d/10-k8s.conf")),
    ("empty-file-masks",
     {"etc/sysctl.d/99-zz-cis.conf": "",
      "usr/lib/sysctl.d/99-zz-cis.conf": "net.ipv4.ip_forward=0\n",
      "usr/lib/sysctl.d/10-k8s.conf": "net.ipv4.ip_forward=1\n"},
     ("1", "/usr/lib/sysctl.d/10-k8s.conf"), ("1", "/usr/lib/sysctl.d/10-k8s.conf")),
    ("sysctl-conf-last-for-procps-only",
     {"etc/sysctl.d/99-zzz-podnet.conf": "net.ipv4.ip_forward = 1\n",
      "etc/sysctl.conf": "net.ipv4.ip_forward = 0\n"},
     ("1", "/etc/sysctl.d/99-zzz-podnet.conf"), ("0", "/etc/sysctl.conf")),
    ("sysctl-conf-via-debian-symlink",
     {"etc/sysctl.d/99-sysctl.conf": Link("../sysctl.conf"),
      "etc/sysctl.conf": "net.ipv4.ip_forward = 0\n",
      "etc/sysctl.d/50-k8s.conf": "net.ipv4.ip_forward = 1\n"},
     ("0", "/etc/sysctl.conf (via /etc/sysctl.d/99-sysctl.conf)"), ("0", "/etc/sysctl.conf")),
    ("dash-prefix-still-applies",
     {"etc/sysctl.d/50-k8s.conf": "-net.ipv4.ip_forward = 1\n"},
     ("1", "/etc/sysctl.d/50-k8s.conf"), ("1", "/etc/sysctl.d/50-k8s.conf")),
    ("slash-spelling",
     {"etc/sysctl.d/50-k8s.conf": "net/ipv4/ip_forward=1\n",
      "etc/sysctl.d/40-x.conf": "net.ipv4.ip_forward=0\n"},
     ("1", "/etc/sysctl.d/50-k8s.conf"), ("1", "/etc/sysctl.d/50-k8s.conf")),
    ("comments-and-whitespace",
     {"etc/sysctl.d/50-k8s.conf": "# net.ipv4.ip_forward = 0\n; net.ipv4.ip_forward = 0\n"
                                  "   net.ipv4.ip_forward\t=\t1   \n"},
     ("1", "/etc/sysctl.d/50-k8s.conf"), ("1", "/etc/sysctl.d/50-k8s.conf")),
    ("non-conf-suffix-ignored",
     {"etc/sysctl.d/99-zz.conf.disabled": "net.ipv4.ip_forward=0\n",
      "etc/sysctl.d/50-k8s.conf": "net.ipv4.ip_forward=1\n"},
     ("1", "/etc/sysctl.d/50-k8s.conf"), ("1", "/etc/sysctl.d/50-k8s.conf")),
    # each case below was seen on a bookworm node (systemd 252, procps 4.0.2, kernel 6.x)
    ("same-value-keeps-its-place-alias-written-later",
     {"etc/sysctl.d/10-a.conf": "net.ipv4.ip_forward=1\nnet.ipv4.conf.all.forwarding=0\n",
      "etc/sysctl.d/99-zzz-podnet-doctor.conf": "net.ipv4.ip_forward=1\n"},
     ("0", "/etc/sysctl.d/10-a.conf"), ("1", "/etc/sysctl.d/99-zzz-podnet-doctor.conf")),
    ("dash-key-cancels-an-earlier-assignment-for-systemd-only",
     {"etc/sysctl.d/10-a.conf": "net.ipv4.ip_forward=1\n",
      "etc/sysctl.d/99-zzz.conf": "-net.ipv4.ip_forward\n"},
     ("0", None), ("1", "/etc/sysctl.d/10-a.conf")),
    ("hidden-file-read-by-procps-only",
     {"etc/sysctl.d/.hidden.conf": "net.ipv4.ip_forward=1\n"},
     ("0", None), ("1", "/etc/sysctl.d/.hidden.conf")),
    ("dangling-link-hides-the-same-name",
     {"etc/sysctl.d/60-x.conf": Link("/nonexistent.conf"),
      "usr/lib/sysctl.d/60-x.conf": "net.ipv4.ip_forward=1\n"},
     ("0", None), ("0", None)),
    ("blank-after-dash-names-no-path-for-procps",
     {"etc/sysctl.d/60-x.conf": "- net.ipv4.ip_forward = 1\n"},
     ("1", "/etc/sysctl.d/60-x.conf"), ("0", None)),
    ("text-after-the-value-kernel-reads-the-number",
     {"etc/sysctl.d/60-x.conf": "net.ipv4.ip_forward = 1 # for k8s\n"},
     ("1", "/etc/sysctl.d/60-x.conf"), ("1", "/etc/sysctl.d/60-x.conf")),
    # systemd's map keeps only the last value of a key; procps writes both, the kernel refuses 'yes'
    ("refused-value-keeps-the-previous-one",
     {"etc/sysctl.d/10-a.conf": "net.ipv4.ip_forward = 1\n",
      "etc/sysctl.d/60-x.conf": "net.ipv4.ip_forward = yes\n"},
     ("0", None), ("1", "/etc/sysctl.d/10-a.conf")),
    ("glob-sets-the-alias",
     {"etc/sysctl.d/10-a.conf": "net.ipv4.ip_forward = 1\n",
      "etc/sysctl.d/60-x.conf": "net.ipv4.conf.*.forwarding = 0\n"},
     ("0", "/etc/sysctl.d/60-x.conf"), ("0", "/etc/sysctl.d/60-x.conf")),
]


@pytest.mark.parametrize("files,systemd,procps", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_effective_boot_value(tmp_path, files, systemd, procps):
    root = make_tree(tmp_path, files)
    result = sysctl_boot.effective_boot_value(KEY, root)
    assert (result["systemd"]["value"], result["systemd"]["source"]) == systemd
    assert (result["procps"]["value"], result["procps"]["source"]) == procps


def test_winning_line_is_reported(tmp_path):
    root = make_tree(tmp_path, {"etc/sysctl.d/99-zz-cis.conf":
                                "# CIS 3.1.1\n\nnet.ipv4.ip_forward = 0\n"})
    resolved = sysctl_boot.effective_boot_value(KEY, root)["systemd"]
    assert sysctl_boot.describe_source(resolved) == "0 (set by /etc/sysctl.d/99-zz-cis.conf line 3)"


@pytest.mark.parametrize("text,key,expected", [
    ("net.ipv4.conf.*.forwarding = 1\n", "net.ipv4.conf.eth0.forwarding", "1"),
    ("net.ipv4.conf.*.forwarding = 1\n-net.ipv4.conf.eth0.forwarding\n",
     "net.ipv4.conf.eth0.forwarding", None),
    # an explicit key beats a glob whatever the order
    ("net.ipv4.conf.eth0.forwarding = 0\nnet.ipv4.conf.*.forwarding = 1\n",
     "net.ipv4.conf.eth0.forwarding", "0"),
    # '*' does not cross a path component
    ("net.*.forwarding = 1\n", "net.ipv4.conf.eth0.forwarding", None),
    # dotted VLAN interface names with slash spelling
    ("net/ipv4/conf/eth0.200/forwarding = 1\n", "net.ipv4.conf.eth0/200.forwarding", "1"),
])
def test_globs_exclusions_and_spelling(tmp_path, text, key, expected):
    root = make_tree(tmp_path, {"etc/sysctl.d/50.conf": text})
    assert sysctl_boot.effective_boot_value(key, root, kernel_default=None)["systemd"]["value"] == expected


def test_key_to_path():
    assert sysctl_boot.key_to_path("net.ipv4.conf.enp3s0/200.forwarding") == \
        "net/ipv4/conf/enp3s0.200/forwarding"
    assert sysctl_boot.key_to_path("net/ipv4/conf/enp3s0.200/forwarding") == \
        "net/ipv4/conf/enp3s0.200/forwarding"


def test_malformed_lines_are_problems(tmp_path):
    root = make_tree(tmp_path, {"etc/sysctl.d/50.conf": "net.ipv4.ip_forward 1\n= 3\n"})
    problems = sysctl_boot.effective_boot_value(KEY, root)["problems"]
    assert any("50.conf line 1" in p for p in problems)
    assert any("50.conf line 2" in p for p in problems)


def test_letters_sort_after_digits(tmp_path):
    """'k8s.conf' is applied after '99-zz-cis.conf': file names sort as strings."""
    root = make_tree(tmp_path, {"etc/sysctl.d/k8s.conf": "net.ipv4.ip_forward = 1\n",
                                "etc/sysctl.d/99-zz-cis.conf": "net.ipv4.ip_forward = 0\n"})
    assert sysctl_boot.effective_boot_value(KEY, root)["systemd"]["source"] == "/etc/sysctl.d/k8s.conf"


def test_bridge_keys_store_any_non_zero_number_as_1(tmp_path):
    root = make_tree(tmp_path, {"etc/sysctl.d/60-x.conf": "net.bridge.bridge-nf-call-iptables = 2\n"})
    result = sysctl_boot.effective_boot_value("net.bridge.bridge-nf-call-iptables", root)
    assert result["systemd"]["value"] == result["procps"]["value"] == "1"


@pytest.mark.parametrize("value,stored", [
    ("1", "1"), ("2", "2"), ("-1", "-1"), ("01", "1"), ("010", "8"), ("0x1", "1"), ("1 0", "1"),
    ("1\t;x", "1"), ("08", None), ("0x", None), ("+1", None), ("1#c", None), ("1;", None), ("", None),
    ("2147483648", None), ("-2147483648", "-2147483648"), ("true", None),
])
def test_kernel_value_is_what_proc_dointvec_stores(value, stored):
    assert sysctl_boot.kernel_value("net/ipv4/ip_forward", value) == stored


def test_a_glob_file_name_is_an_error_for_procps_not_a_guess(tmp_path):
    root = make_tree(tmp_path, {"etc/sysctl.d/{a,b}.conf": "net.ipv4.ip_forward = 1\n"})
    result = sysctl_boot.effective_boot_value(KEY, root)
    assert result["systemd"]["value"] == "1"
    assert result["procps"]["value"] is None and "{a,b}.conf" in result["procps"]["error"]


def test_a_run_file_that_masks_usr_lib_is_an_error_naming_it(tmp_path):
    """/run is a tmpfs: at the next boot the /usr/lib file it hides is read again, unless
    whatever wrote /run/sysctl.d writes it again first. Whether it does is not on disk."""
    root = make_tree(tmp_path, {"run/sysctl.d/50-x.conf": "net.ipv4.ip_forward=1\n",
                                "usr/lib/sysctl.d/50-x.conf": "net.ipv4.ip_forward=0\n"})
    result = sysctl_boot.effective_boot_value(KEY, root)
    for tool in ("systemd", "procps"):
        assert result[tool]["value"] is None
        assert "/run/sysctl.d/50-x.conf" in result[tool]["error"] and "once a reboot empties" in result[tool]["error"]
        assert result[tool]["after_reboot"]["value"] == "0"


# procps 3.3.17 (Debian 11) writes nothing for a glob key (a bullseye lab node: "cannot stat
# /proc/sys/net/ipv4/conf/*/forwarding"); 4.0+ applies it. systemd-sysctl applies it in every version.
GLOB_LAYOUT = {"usr/lib/sysctl.d/50-default.conf": "net.ipv4.ip_forward = 1\nnet/ipv4/conf/*/forwarding = 0\n"}


@pytest.mark.parametrize("procps,expected", [((4, 0, 2), "0"), ((4, 0, 4), "0"), ((3, 3, 17), "1"), ((3, 3, 16), "1")])
def test_procps_applies_glob_keys_only_since_4_0(tmp_path, procps, expected):
    root = make_tree(tmp_path, GLOB_LAYOUT)
    loaded = sysctl_boot.load_boot_assignments(root, procps=procps)
    result = sysctl_boot.effective_boot_value(KEY, root, loaded=loaded)
    assert result["procps"]["value"] == expected
    assert result["systemd"]["value"] == "0"


def test_a_glob_that_decides_is_an_error_when_the_procps_version_is_unknown(tmp_path):
    root = make_tree(tmp_path, GLOB_LAYOUT)
    result = sysctl_boot.effective_boot_value(KEY, root, loaded=sysctl_boot.load_boot_assignments(root, procps=None))
    assert result["procps"]["value"] is None
    assert "50-default.conf line 2" in result["procps"]["error"] and "sysctl --version" in result["procps"]["error"]
    # a glob that matches nothing the key has decides nothing: no error
    other = make_tree(tmp_path / "other", {"etc/sysctl.d/50.conf": "net.ipv6.conf.*.forwarding = 0\nnet.ipv4.ip_forward = 1\n"})
    result = sysctl_boot.effective_boot_value(KEY, other, loaded=sysctl_boot.load_boot_assignments(other, procps=None))
    assert result["procps"]["value"] == "1" and result["procps"]["error"] is None


@pytest.mark.parametrize("output,version", [
    ("sysctl from procps-ng 3.3.17\n", (3, 3, 17)), ("sysctl from procps-ng 4.0.4\n", (4, 0, 4)),
    ("sysctl from procps-ng 4.0.2\n", (4, 0, 2)), ("sysctl (procps version 3.2.8)\n", (3, 2, 8)), ("", None),
    ("sysctl: unknown option\n", None)])
def test_procps_version_from_sysctl_version(output, version):
    assert sysctl_boot.procps_version(output) == version


def test_node_procps_version_asks_the_node_once_and_only_on_the_node():
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, "sysctl from procps-ng 3.3.17\n", ""
    assert sysctl_boot.node_procps_version(run) == (3, 3, 17)
    assert calls == [["sysctl", "--version"]]
    assert sysctl_boot.node_procps_version(run, "/tmp/fixture") == sysctl_boot.PROCPS_CURRENT and len(calls) == 1
    assert sysctl_boot.node_procps_version(lambda argv: (127, "", "sysctl: not found")) is None
    assert sysctl_boot.describe_tools((3, 3, 17)) == {"procps": "3.3.17", "procps_globs": False}
    assert sysctl_boot.describe_tools(None) == {"procps": None, "procps_globs": None}


# procps 3.3.17 refuses a line with an empty value ("malformed setting") and writes nothing; 4.0+ writes it (a bullseye
# lab node kept ip_local_reserved_ports at 1-4,10 where bookworm and trixie cleared it: tests/lab/test_differential_ports.py
# seed 1424). systemd-sysctl writes the empty value in every version.
RESERVED = "net.ipv4.ip_local_reserved_ports"
EMPTY_LAYOUT = {"usr/lib/sysctl.d/zz-late.conf": "net/ipv4/ip_local_reserved_ports = 1,2-4,10-10\n%s = \n" % RESERVED}


@pytest.mark.parametrize("procps,expected", [((4, 0, 2), ""), ((4, 0, 4), ""), ((3, 3, 17), "1,2-4,10-10")])
def test_procps_writes_an_empty_value_only_since_4_0(tmp_path, procps, expected):
    root = make_tree(tmp_path, EMPTY_LAYOUT)
    loaded = sysctl_boot.load_boot_assignments(root, procps=procps)
    assert sysctl_boot.resolve(loaded["procps"], "net/ipv4/ip_local_reserved_ports", "", "procps", store=lambda n, t, p: t)["value"] \
        == expected
    assert sysctl_boot.resolve(loaded["systemd"], "net/ipv4/ip_local_reserved_ports", "", "systemd", store=lambda n, t, p: t)["value"] == ""


def test_an_empty_value_that_decides_is_an_error_when_the_procps_version_is_unknown(tmp_path):
    root = make_tree(tmp_path, EMPTY_LAYOUT)
    loaded = sysctl_boot.load_boot_assignments(root, procps=None)
    result = sysctl_boot.resolve(loaded["procps"], "net/ipv4/ip_local_reserved_ports", "", "procps", store=lambda n, t, p: t)
    assert result["value"] is None and "zz-late.conf line 2" in result["error"] and "sysctl --version" in result["error"]


def test_node_procps_version_finds_sysctl_outside_a_non_root_path():
    # a non-root SSH user's PATH has no /usr/sbin: the module found no `sysctl` and run_command failed the whole
    # pre-flight (tests/lab/test_privileges.py); the command is looked up like every other tool, sbin included
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, "sysctl from procps-ng 4.0.2\n", ""
    assert sysctl_boot.node_procps_version(run, "/", lambda name: "/usr/sbin/" + name) == (4, 0, 2)
    assert calls == [["/usr/sbin/sysctl", "--version"]]
    assert sysctl_boot.node_procps_version(run, "/", lambda name: None) is None and len(calls) == 1
