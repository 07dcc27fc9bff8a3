"""Seeded generator of realistic sysctl layouts, for the differential suite.

A layout is what distros, cloud images, CIS baselines, kubeadm/kubespray guides and admins
leave in every directory systemd-sysctl and procps read, plus the odd corners those tools
treat differently (masks, '-' lines, slash spelling, globs, one kernel variable under two
names, repeated keys, refused lines, names that are not ``*.conf``, names sorting around
ours). ``generate(seed)`` is deterministic: the seed alone replays a layout.

Only per-network-namespace keys (``net.*``) are drawn: the lab nodes are privileged
containers sharing the host kernel, and the layouts are applied on them.
"""
import contextlib
import io
import os
import random
import subprocess
import tarfile

# The variables the checks are about, as /proc/sys paths; and their other names.
FORWARD_V4 = ("net.ipv4.ip_forward", "net/ipv4/ip_forward", "net.ipv4.conf.all.forwarding",
              "net/ipv4/conf/all/forwarding", "/net/ipv4/ip_forward")
FORWARD_V6 = ("net.ipv6.conf.all.forwarding", "net/ipv6/conf/all/forwarding")
BRIDGE_V4 = ("net.bridge.bridge-nf-call-iptables", "net/bridge/bridge-nf-call-iptables")
BRIDGE_V6 = ("net.bridge.bridge-nf-call-ip6tables",)
GLOBS = ("net.ipv4.conf.*.forwarding", "net.ipv6.conf.*.forwarding", "net.bridge.bridge-nf-call-*",
         "net/ipv4/conf/*/forwarding", "net.ipv4.conf.[ad]*.forwarding", "net.ipv4.ip_forwar?")
# per-network-namespace keys real baselines set next to ours
NOISE = (
    ("net.ipv4.conf.all.rp_filter", ("1", "2")), ("net.ipv4.conf.default.rp_filter", ("1", "2")),
    ("net.ipv4.conf.all.accept_redirects", ("0",)), ("net.ipv4.conf.default.accept_redirects", ("0",)),
    ("net.ipv4.conf.all.send_redirects", ("0",)), ("net.ipv4.conf.all.log_martians", ("1",)),
    ("net.ipv4.icmp_echo_ignore_broadcasts", ("1",)), ("net.ipv4.tcp_syncookies", ("1",)),
    ("net.ipv6.conf.all.accept_ra", ("0",)), ("net.ipv6.conf.default.accept_redirects", ("0",)),
    ("net.core.somaxconn", ("4096", "32768")), ("net.ipv4.conf.default.forwarding", ("0", "1")),
    ("net.ipv4.conf.*.rp_filter", ("2",)), ("net.ipv4.tcp_keepalive_time", ("600",)),
    # near-namesakes of our variables that are not the same variable in the kernel
    ("net.ipv6.conf.default.forwarding", ("0", "1")), ("net.ipv4.conf.eth0.forwarding", ("0", "1")),
    ("net.ipv6.conf.eth0.forwarding", ("0", "1")), ("net.ipv4.conf.lo.forwarding", ("0",)),
)
VALUES_ON = ("1", "1", "1", "1", "01", "1 # Kubernetes", "1\t; k8s", "0x1", "2")
VALUES_OFF = ("0", "0", "0", "0 # CIS 3.1.1", "00", "-0")
VALUES_REFUSED = ("yes", "true", "on", "1#k8s", "08", "1;", "", "1.0", "+1")

DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
SHIPPED_DIR = "/usr/lib/sysctl.d"  # bookworm's procps/systemd files live here (/lib is a link to usr/lib)
# admins and guides write /etc; packages /usr/lib (or /lib); /run (a tmpfs, rebuilt by whatever
# writes it at each boot) and /usr/local are rare
DIRECTORY_WEIGHTS = ("/etc/sysctl.d",) * 20 + ("/run/sysctl.d",) + ("/usr/local/lib/sysctl.d",) * 3 + (
    SHIPPED_DIR,) * 8 + ("/lib/sysctl.d",) * 4
OURS = "99-zzz-podnet-doctor.conf"
NAMES = ("10-k8s.conf", "k8s.conf", "kubernetes.conf", "99-kubernetes-cri.conf", "50-kubelet.conf",
         "60-cis.conf", "99-zz-cis.conf", "99-cis-hardening.conf", "zz-hardening.conf", "90-cloud.conf",
         "60-gce-network-security.conf", "10-network-security.conf", "99-cloudimg-ipv6.conf",
         "50-default.conf", "70-docker.conf", "30-site.conf", "99-zzzz-local.conf", "zzzz-last.conf",
         "~local.conf", "{site.conf", "\u00fcberschreiben.conf", "99-zzz-podnet-doctor.conf.d.conf",
         "99-zzz.conf", "99-sysctl.conf", "100-late.conf", "Z-upper.conf", ".hidden.conf")
NOT_CONF = ("k8s.conf.bak", "99-zz-cis.conf.disabled", "60-cis.conf~", "README", "k8s.cnf", "90-x.conf.dpkg-old")


class Link(object):
    """A symlink in a layout."""

    def __init__(self, target):
        self.target = target

    def __repr__(self):
        return "Link(%r)" % self.target


class Layout(object):
    """Files (node path -> text or Link) written over the node's own sysctl files;
    ``sysctl_conf`` replaces /etc/sysctl.conf when not None; ``ip_families`` is what the
    checks are asked about; ``override`` the fixer's on_override policy."""

    def __init__(self, seed, files, sysctl_conf, ip_families, override):
        self.seed = seed
        self.files = files
        self.sysctl_conf = sysctl_conf
        self.ip_families = ip_families
        self.override = override

    def describe(self):
        lines = ["seed %d: ip_families=%s on_override=%s" % (self.seed, self.ip_families, self.override)]
        for path in sorted(self.files):
            body = self.files[path]
            if isinstance(body, Link):
                lines.append("  %s -> %s" % (path, body.target))
            else:
                lines.append("  %s:" % path)
                lines += ["    | " + line for line in body.split("\n")]
        if self.sysctl_conf is not None:
            lines.append("  /etc/sysctl.conf:")
            lines += ["    | " + line for line in self.sysctl_conf.split("\n")]
        return "\n".join(lines)

    def tar(self):
        """The layout as a tar stream to extract at / (parents created, links kept)."""
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as archive:
            items = dict(self.files)
            if self.sysctl_conf is not None:
                items["/etc/sysctl.conf"] = self.sysctl_conf
            for path, body in sorted(items.items()):
                info = tarfile.TarInfo(path.lstrip("/"))
                info.mode = 0o644
                if isinstance(body, Link):
                    info.type, info.linkname = tarfile.SYMTYPE, body.target
                    archive.addfile(info)
                else:
                    raw = body.encode("utf-8", "surrogateescape")
                    info.size = len(raw)
                    archive.addfile(info, io.BytesIO(raw))
        return data.getvalue()


def _key(rng, choices):
    return rng.choice(choices)


def _value(rng, kind):
    return rng.choice({"on": VALUES_ON, "off": VALUES_OFF, "refused": VALUES_REFUSED}[kind])


def _assignment_lines(rng, ipv6):
    """A few lines touching our variables, the way some file would."""
    lines = []
    for _line in range(rng.randint(1, 3)):
        family = rng.random()
        if family < 0.45:
            key = _key(rng, FORWARD_V4)
        elif family < 0.6:
            key = _key(rng, FORWARD_V6)
        elif family < 0.85:
            key = _key(rng, BRIDGE_V4)
        else:
            key = _key(rng, BRIDGE_V6)
        roll = rng.random()
        if roll < 0.08:
            lines.append("-%s" % key)  # exclusion
            continue
        if roll < 0.14:
            lines.append(_key(rng, GLOBS) + " = " + _value(rng, rng.choice(("on", "off"))))
            continue
        kind = "refused" if roll < 0.22 else rng.choice(("on", "on", "off"))
        prefix = rng.choice(("", "", "", "", "-", "- ", "  "))
        sep = rng.choice((" = ", "=", " =", "\t=\t"))
        lines.append("%s%s%s%s" % (prefix, key, sep, _value(rng, kind)))
    return lines


def _file_body(rng, ipv6, style):
    lines = []
    if style == "k8s":
        lines += ["# Kubernetes networking (kubeadm install guide)", "net.bridge.bridge-nf-call-iptables  = 1",
                  "net.bridge.bridge-nf-call-ip6tables = 1", "net.ipv4.ip_forward                 = 1"]
        if ipv6:
            lines.append("net.ipv6.conf.all.forwarding = 1")
    elif style == "cis":
        lines += ["# CIS Debian Linux 12 Benchmark 3.1.1 / 3.2.x", "net.ipv4.ip_forward = 0",
                  "net.ipv4.conf.all.send_redirects = 0", "net.ipv4.conf.default.send_redirects = 0"]
        if rng.random() < 0.6:
            lines.append("net.ipv6.conf.all.forwarding = 0")
        if rng.random() < 0.3:
            lines.append("net.ipv4.conf.all.forwarding = 0")
    elif style == "cloud":
        lines += ["# Added by the image build", "net.ipv4.conf.all.rp_filter = 2",
                  "net.ipv4.conf.default.rp_filter = 2", "net.ipv6.conf.all.use_tempaddr = 0"]
    for _noise in range(rng.randint(0, 2)):
        key, values = rng.choice(NOISE)
        lines.append("%s = %s" % (key, rng.choice(values)))
    if style == "odd" or rng.random() < 0.5:
        lines += _assignment_lines(rng, ipv6)
    if rng.random() < 0.1:
        lines.append(rng.choice(("net.ipv4.ip_forward", "ip_forward 1", "net.ipv4.ip_forward: 1")))  # no '='
    if rng.random() < 0.15:
        lines.insert(rng.randint(0, len(lines)), "; " + rng.choice(lines) if lines else "; empty")
    if style == "odd":
        rng.shuffle(lines)
    eol = "\r\n" if rng.random() < 0.05 else "\n"
    return eol.join(lines) + (eol if rng.random() < 0.9 else "")


DEBIAN_SYSCTL_CONF = """#
# /etc/sysctl.conf - Configuration file for setting system variables
# See /etc/sysctl.d/ for additional system variables.
# See sysctl.conf (5) for information.
#

# Uncomment the next line to enable packet forwarding for IPv4
#net.ipv4.ip_forward=1

# Uncomment the next line to enable packet forwarding for IPv6
#  Enabling this option disables Stateless Address Autoconfiguration
#  based on Router Advertisements for this host
#net.ipv6.conf.all.forwarding=1
"""


def generate(seed):
    rng = random.Random(seed)
    ipv6 = rng.random() < 0.35
    files = {}
    for _file in range(rng.choice((1, 2, 2, 3, 3, 4, 5))):
        directory = rng.choice(DIRECTORY_WEIGHTS)
        name = rng.choice(NAMES)
        style = rng.choice(("k8s", "k8s", "cis", "cis", "cloud", "odd", "odd", "odd"))
        if "/usr/lib/sysctl.d/" + name in files or "/lib/sysctl.d/" + name in files:
            continue  # /lib is a link to usr/lib on the node: one file under two names
        files["%s/%s" % (directory, name)] = _file_body(rng, ipv6, style)
    roll = rng.random()
    if roll < 0.25 and files:
        # a mask in a higher-priority directory: /dev/null link, empty file or a different file
        victim = rng.choice(sorted(files))
        name = victim.rsplit("/", 1)[1]
        masks = ("/etc/sysctl.d",) * 4 + ("/run/sysctl.d",) if not victim.startswith("/etc/") else ()
        if masks:
            mask = "%s/%s" % (rng.choice(masks), name)
            files[mask] = rng.choice((Link("/dev/null"), "", Link("/nonexistent/%s" % name),
                                      _file_body(rng, ipv6, "odd")))
    elif roll < 0.35:
        name = rng.choice(NOT_CONF)
        files["/etc/sysctl.d/%s" % name] = _file_body(rng, ipv6, "cis")
    elif roll < 0.45:
        # our own name, written by someone else (a copy from an old run, or a colleague)
        files["/etc/sysctl.d/" + OURS] = _file_body(rng, ipv6, rng.choice(("k8s", "odd")))
    sysctl_conf = None
    roll = rng.random()
    if roll < 0.3:
        body = DEBIAN_SYSCTL_CONF + "\n".join(_assignment_lines(rng, ipv6)) + "\n"
        sysctl_conf = body if rng.random() < 0.6 else DEBIAN_SYSCTL_CONF + "net.ipv4.ip_forward=1\n"
    elif roll < 0.4:
        # kubespray-style: the Debian link replaced by a file of its own, or removed
        files["/etc/sysctl.d/99-sysctl.conf"] = rng.choice(("net.ipv4.ip_forward = 1\n", Link("/dev/null")))
    return Layout(seed, files, sysctl_conf, ["ipv4", "ipv6"] if ipv6 else ["ipv4"],
                  rng.choice(("outrank", "outrank", "comment")))


@contextlib.contextmanager
def mirrored_node(fleet_name, subnet, tmp_path_factory, original, release=None):
    """A one-node fleet (podman connection) for a differential suite, and a copy of the node's own
    sysctl files on this host: yields (fleet, node name, base directory); see mirrored_nodes."""
    with mirrored_nodes(fleet_name, subnet, tmp_path_factory, original, [release]) as (fleet, nodes):
        yield fleet, nodes[0]["name"], nodes[0]["base"]


@contextlib.contextmanager
def mirrored_nodes(fleet_name, subnet, tmp_path_factory, original, releases):
    """A fleet (podman connection) of one node per entry of ``releases`` (None: the lab's default),
    and per node a copy of its own sysctl files on this host: yields (fleet, nodes), each node a dict
    with name, host (inventory name), release, base (the directory) and versions (the first lines of
    ``systemctl --version`` and ``sysctl --version``, for the score). The node's files are saved in
    ``original`` (a tar on the node) to restore them between layouts, and unpacked under base with
    /lib as the node has it (a link to usr/lib on every merged-/usr Debian), so the resolver reads the
    tree the node's tools do."""
    from . import fleet as lab_fleet
    from .podman import lab_env, node_sh
    fleet = lab_fleet.Fleet(name=fleet_name, size=len(releases), subnet=subnet, release=list(releases))
    with fleet.running(str(tmp_path_factory.mktemp("inventory") / "hosts.json"), "podman"):
        nodes = []
        for index in range(1, fleet.size + 1):
            name = fleet.node(index)
            # trixie has no /etc/sysctl.conf (its procps packages none): save what exists
            # (lib/sysctl.d only where /lib is a directory of its own)
            node_sh(name, "cd / && [ -L lib ] || extra=lib/sysctl.d; tar cf %s $(for p in etc/sysctl.d usr/lib/sysctl.d "
                          "etc/sysctl.conf $extra; do [ ! -e $p ] || echo $p; done)" % original)
            data = subprocess.run(["podman", "exec", name, "cat", original], capture_output=True, env=lab_env(),
                                  timeout=120, check=True).stdout
            base = str(tmp_path_factory.mktemp("sysctl-base"))
            subprocess.run(["tar", "xf", "-", "-C", base], input=data, check=True)
            lib = node_sh(name, "readlink /lib || true").stdout.strip()
            if lib:
                os.symlink(lib, os.path.join(base, "lib"))
            versions = node_sh(name, "systemctl --version | head -n1; sysctl --version | head -n1").stdout.strip().splitlines()
            nodes.append({"name": name, "host": fleet.hostname(index), "release": fleet.release(index),
                          "base": base, "versions": versions})
        yield fleet, nodes
