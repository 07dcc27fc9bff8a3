"""Build the lab's node image with debootstrap and ``podman import`` it.

No container registry is reachable here, so the image is made from Debian's packages.
The image tag carries a hash of the recipe (suite, package lists and
node-setup.sh); an unchanged recipe reuses the cached image or root tarball.

One image per Debian release (``RELEASES``): bullseye, bookworm and trixie carry three
generations of systemd, procps, firewalld, nftables, iptables and ufw. A fleet can mix
them, as a fleet in the middle of an upgrade does. ``PODNET_LAB_RELEASE`` sets the
release of fleets that do not name one (default bookworm).
"""
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess

from .podman import LAB_DIR, LabError, run

DEFAULT_RELEASE = "bookworm"
MIRROR = os.environ.get("PODNET_LAB_MIRROR", "http://deb.debian.org/debian")
# Debootstrap only what apt itself needs; apt then resolves the rest properly
# (debootstrap's own resolver cannot satisfy firewalld -> polkitd -> logind).
BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "ca-certificates"]
NODE_PACKAGES = [
    "python3", "iproute2", "iptables", "nftables", "firewalld", "ufw",
    "openssh-server", "iputils-ping", "procps", "kmod",
    "socat", "sudo", "conntrack", "libpam-systemd", "python3-nftables",
    # for podnet.doctor.compliance_timer: the node runs the checks on itself
    "ansible-core", "python3-netaddr",
]
# Debian release -> packages of NODE_PACKAGES it does not have. bullseye has no ansible-core (only
# ansible 2.10): the tests that run ansible on the node itself (compliance_timer) use bookworm.
RELEASES = {
    "bullseye": {"missing": ["ansible-core"]},
    "bookworm": {"missing": []},
    "trixie": {"missing": []},
}
IMAGE_NAME = "localhost/podnet-node"
CACHE_DIR = os.environ.get("PODNET_LAB_CACHE", "/var/cache/podnet-lab")
SETUP_SCRIPT = os.path.join(LAB_DIR, "node-setup.sh")


def default_release():
    return os.environ.get("PODNET_LAB_RELEASE") or DEFAULT_RELEASE


def checked_release(release):
    """``release`` (None: the default) after checking it is one the lab builds."""
    release = release or default_release()
    if release not in RELEASES:
        raise LabError("unknown lab release %r (known: %s; PODNET_LAB_RELEASE or --release)"
                       % (release, ", ".join(sorted(RELEASES))))
    return release


# The three generations, oldest first: a differential fleet built with matrix_releases() has nodes of
# each, so one run of a suite judges every release (and a fleet in mid-upgrade) at no extra cost.
MATRIX = ("bullseye", "bookworm", "trixie")


def matrix_releases(size):
    """One release per node, cycling through MATRIX (node1 bullseye, node2 bookworm, node3 trixie, ...);
    ``PODNET_LAB_RELEASE`` pins every node to one release instead (to reproduce a layout there)."""
    pinned = os.environ.get("PODNET_LAB_RELEASE")
    if pinned:
        return [checked_release(pinned)] * size
    return [MATRIX[index % len(MATRIX)] for index in range(size)]


def node_packages(release):
    return [p for p in NODE_PACKAGES if p not in RELEASES[release]["missing"]]


def recipe_hash(release=None):
    """Hash of what goes into the image (not of this code): suite, packages, setup."""
    release = checked_release(release)
    digest = hashlib.sha256()
    digest.update(repr((release, BASE_PACKAGES, node_packages(release))).encode())
    with open(SETUP_SCRIPT, "rb") as handle:
        digest.update(handle.read())
    return digest.hexdigest()[:12]


def image_ref(release=None):
    return "%s:%s" % (IMAGE_NAME, recipe_hash(release))


def image_exists(ref):
    return run(["image", "exists", ref], check=False).returncode == 0


def _chroot(root, command, log):
    subprocess.run(["chroot", root] + command, check=True, stdout=log, stderr=subprocess.STDOUT,
                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
                        "DEBIAN_FRONTEND": "noninteractive"})


def build_rootfs(root, log, release):
    proc = subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=" + ",".join(BASE_PACKAGES),
         release, root, MIRROR], check=False, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        detail = os.path.join(root, "debootstrap", "debootstrap.log")
        tail = open(detail, errors="replace").read()[-3000:] if os.path.exists(detail) else ""
        raise LabError("debootstrap %s exited %d (log %s):\n%s" % (release, proc.returncode, log.name, tail))
    policy = os.path.join(root, "usr/sbin/policy-rc.d")
    with open(policy, "w") as handle:
        handle.write("#!/bin/sh\nexit 101\n")  # no service starts inside the chroot
    os.chmod(policy, 0o755)
    for fs, target in (("proc", "proc"), ("sysfs", "sys")):
        subprocess.run(["mount", "-t", fs, fs, os.path.join(root, target)], check=True)
    try:
        _chroot(root, ["apt-get", "update", "-qq"], log)
        _chroot(root, ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
                + node_packages(release), log)
        shutil.copy(SETUP_SCRIPT, os.path.join(root, "tmp/node-setup.sh"))
        _chroot(root, ["/bin/sh", "/tmp/node-setup.sh"], log)
    finally:
        for target in ("sys", "proc"):
            subprocess.run(["umount", "-l", os.path.join(root, target)], check=False)
    os.unlink(policy)
    os.unlink(os.path.join(root, "tmp/node-setup.sh"))


def remove_rootfs(root):
    """Remove a build root, unmounting first what a failed build left mounted in it (debootstrap's
    /proc): never let rmtree walk into a live /proc or /sys."""
    with open("/proc/mounts") as handle:
        mounts = [line.split()[1] for line in handle]
    for mount in sorted((m for m in mounts if m == root or m.startswith(root + "/")), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)
    shutil.rmtree(root, ignore_errors=True)


def _tag(ref, release):
    run(["tag", ref, "%s:%s" % (IMAGE_NAME, release)])
    if release == DEFAULT_RELEASE:
        run(["tag", ref, IMAGE_NAME + ":latest"])  # molecule's and the probes' image


@contextlib.contextmanager
def build_lock():
    """One image build at a time on this machine: two test runs asking for the same missing image
    must not debootstrap into the same root directory."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(os.path.join(CACHE_DIR, "build.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(force=False, quiet=False, release=None):
    """Return the image reference of ``release``, building it when the recipe changed."""
    with build_lock():
        return _build(force, quiet, checked_release(release))


def _build(force, quiet, release):
    ref = image_ref(release)
    if image_exists(ref) and not force:
        _tag(ref, release)
        return ref
    if not shutil.which("debootstrap"):
        raise LabError("debootstrap is not installed: apt-get install debootstrap")
    os.makedirs(CACHE_DIR, exist_ok=True)
    tag = recipe_hash(release)
    tarball = os.path.join(CACHE_DIR, "node-%s.tar" % tag)
    if force or not os.path.exists(tarball):
        root = os.path.join(CACHE_DIR, "rootfs-%s" % tag)
        remove_rootfs(root)
        log_path = os.path.join(CACHE_DIR, "build-%s.log" % tag)
        if not quiet:
            print("lab: building node image %s (debootstrap %s, log %s)" % (ref, release, log_path))
        with open(log_path, "w") as log:
            build_rootfs(root, log, release)
        subprocess.run(["tar", "-C", root, "--numeric-owner", "-cf", tarball + ".tmp", "."],
                       check=True)
        os.replace(tarball + ".tmp", tarball)
        remove_rootfs(root)
    run(["import", "--change", 'CMD ["/sbin/init"]', "--change", "STOPSIGNAL=SIGRTMIN+3",
         tarball, ref], timeout=900)
    _tag(ref, release)
    return ref


# Derived node images: the base image plus Debian packages a few tests need on every node of their
# fleet (a node that runs udevd and NetworkManager as a real host does). Built once by running the
# base image, apt-get installing the extras and ``podman commit``; the tag hashes the base recipe
# and the extras, so an unchanged recipe reuses the image. Package installation leaves services as
# on a real host after ``apt-get install``: enabled by their postinst (deb-systemd-helper), started
# at the node's next boot (no systemd runs in the build container, so none starts during it).
VARIANTS = {
    "netmgr": ["udev", "network-manager"],
    # a real dockerd (bookworm's docker.io 20.10.24): its iptables setup (FORWARD policy DROP,
    # DOCKER-USER) is what tests/lab/test_docker_forward.py needs; no container is ever run
    "docker": ["docker.io"],
    # a node as monitored in production: Debian's node_exporter reads /var/lib/prometheus/node-exporter (textfile)
    "monitor": ["prometheus-node-exporter"],
}


# A privileged node shares the host's /sys: udev's coldplug at boot (systemd-udev-trigger) would
# replay "add" for every host device and make the HOST's udevd re-run its rules. Limit it to the
# net subsystem, where sysfs shows only the node's own network namespace: the node's links get
# their udev run at boot as on a real node, the host's devices are left alone.
UDEV_TRIGGER_NODE_ONLY = ("[Service]\nExecStart=\n"
                          "ExecStart=-udevadm trigger --type=devices --action=add --subsystem-match=net\n")


# Shell run after a variant's packages are installed. docker.service wants network-online.target, whose
# systemd-networkd-wait-online would hold the node's boot for its 2 minute timeout: the node's eth0 is
# podman's, networkd has no link to wait for, so the docker variant masks it.
VARIANT_SETUP = {
    "docker": " && systemctl mask systemd-networkd-wait-online.service",
}


def _variant_script(variant):
    return ("export DEBIAN_FRONTEND=noninteractive LC_ALL=C; apt-get update -q && "
            "apt-get install -y -q --no-install-recommends %s && apt-get clean && "
            "rm -rf /var/lib/apt/lists/* && "
            "mkdir -p /etc/systemd/system/systemd-udev-trigger.service.d && "
            "printf '%s' > /etc/systemd/system/systemd-udev-trigger.service.d/podnet-lab-node-only.conf"
            % (" ".join(VARIANTS[variant]), UDEV_TRIGGER_NODE_ONLY)) + VARIANT_SETUP.get(variant, "")


def variant_ref(variant, release=None):
    """Tag: the base recipe's hash, the extra packages and the install command."""
    digest = hashlib.sha256()
    digest.update(repr((recipe_hash(release), sorted(VARIANTS[variant]), _variant_script(variant))).encode())
    return "%s-%s:%s" % (IMAGE_NAME, variant, digest.hexdigest()[:12])


def build_variant(variant, quiet=False, release=None):
    """Return the reference of the base image plus ``VARIANTS[variant]``, building it when absent.
    A failed apt-get raises LabError carrying apt's output (a test ERROR, never a skip)."""
    if variant not in VARIANTS:
        raise LabError("unknown lab image variant %r (known: %s)" % (variant, ", ".join(sorted(VARIANTS))))
    ref = variant_ref(variant, release)
    if image_exists(ref):
        return ref
    base = build(quiet=quiet, release=release)
    builder = "podnet-image-build-%s" % ref.rsplit(":", 1)[1]
    run(["rm", "-f", builder], check=False)
    if not quiet:
        print("lab: building node image %s (%s + %s)" % (ref, base, " ".join(VARIANTS[variant])))
    script = _variant_script(variant)
    # host network: the mirror is reached as debootstrap reached it, no lab network is involved
    proc = run(["run", "--name", builder, "--network", "host", base, "/bin/sh", "-ec", script],
               check=False, timeout=1200)
    try:
        if proc.returncode != 0:
            raise LabError("building %s failed: apt-get exited %d:\n%s%s" % (
                ref, proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]))
        run(["commit", "-q", "--change", 'CMD ["/sbin/init"]', "--change", "STOPSIGNAL=SIGRTMIN+3",
             builder, ref], timeout=600)
    finally:
        run(["rm", "-f", builder], check=False)
    return ref
