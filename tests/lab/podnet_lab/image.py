"""Build the lab's node image with debootstrap and ``podman import`` it.

No container registry is reachable here, so the image is made from Debian's packages.
The image tag carries a hash of the recipe (suite, package lists and
node-setup.sh); an unchanged recipe reuses the cached image or root tarball.
"""
import hashlib
import os
import shutil
import subprocess

from .podman import LAB_DIR, LabError, run

SUITE = "bookworm"
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
IMAGE_NAME = "localhost/podnet-node"
CACHE_DIR = os.environ.get("PODNET_LAB_CACHE", "/var/cache/podnet-lab")
SETUP_SCRIPT = os.path.join(LAB_DIR, "node-setup.sh")


def recipe_hash():
    """Hash of what goes into the image (not of this code): suite, packages, setup."""
    digest = hashlib.sha256()
    digest.update(repr((SUITE, BASE_PACKAGES, NODE_PACKAGES)).encode())
    with open(SETUP_SCRIPT, "rb") as handle:
        digest.update(handle.read())
    return digest.hexdigest()[:12]


def image_ref():
    return "%s:%s" % (IMAGE_NAME, recipe_hash())


def image_exists(ref):
    return run(["image", "exists", ref], check=False).returncode == 0


def _chroot(root, command, log):
    subprocess.run(["chroot", root] + command, check=True, stdout=log, stderr=subprocess.STDOUT,
                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
                        "DEBIAN_FRONTEND": "noninteractive"})


def build_rootfs(root, log):
    subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=" + ",".join(BASE_PACKAGES),
         SUITE, root, MIRROR], check=True, stdout=log, stderr=subprocess.STDOUT)
    policy = os.path.join(root, "usr/sbin/policy-rc.d")
    with open(policy, "w") as handle:
        handle.write("#!/bin/sh\nexit 101\n")  # no service starts inside the chroot
    os.chmod(policy, 0o755)
    for fs, target in (("proc", "proc"), ("sysfs", "sys")):
        subprocess.run(["mount", "-t", fs, fs, os.path.join(root, target)], check=True)
    try:
        _chroot(root, ["apt-get", "update", "-qq"], log)
        _chroot(root, ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
                + NODE_PACKAGES, log)
        shutil.copy(SETUP_SCRIPT, os.path.join(root, "tmp/node-setup.sh"))
        _chroot(root, ["/bin/sh", "/tmp/node-setup.sh"], log)
    finally:
        for target in ("sys", "proc"):
            subprocess.run(["umount", "-l", os.path.join(root, target)], check=False)
    os.unlink(policy)
    os.unlink(os.path.join(root, "tmp/node-setup.sh"))


def build(force=False, quiet=False):
    """Return the image reference, building it when the recipe changed."""
    ref = image_ref()
    if image_exists(ref) and not force:
        run(["tag", ref, IMAGE_NAME + ":latest"])
        return ref
    if not shutil.which("debootstrap"):
        raise LabError("debootstrap is not installed: apt-get install debootstrap")
    os.makedirs(CACHE_DIR, exist_ok=True)
    tarball = os.path.join(CACHE_DIR, "node-%s.tar" % recipe_hash())
    if force or not os.path.exists(tarball):
        root = os.path.join(CACHE_DIR, "rootfs-%s" % recipe_hash())
        shutil.rmtree(root, ignore_errors=True)
        log_path = os.path.join(CACHE_DIR, "build-%s.log" % recipe_hash())
        if not quiet:
            print("lab: building node image %s (debootstrap %s, log %s)" % (ref, SUITE, log_path))
        with open(log_path, "w") as log:
            build_rootfs(root, log)
        subprocess.run(["tar", "-C", root, "--numeric-owner", "-cf", tarball + ".tmp", "."],
                       check=True)
        os.replace(tarball + ".tmp", tarball)
        shutil.rmtree(root, ignore_errors=True)
    run(["import", "--change", 'CMD ["/sbin/init"]', "--change", "STOPSIGNAL=SIGRTMIN+3",
         tarball, ref], timeout=900)
    run(["tag", ref, IMAGE_NAME + ":latest"])
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


def variant_ref(variant):
    """Tag: the base recipe's hash, the extra packages and the install command."""
    digest = hashlib.sha256()
    digest.update(repr((recipe_hash(), sorted(VARIANTS[variant]), _variant_script(variant))).encode())
    return "%s-%s:%s" % (IMAGE_NAME, variant, digest.hexdigest()[:12])


def build_variant(variant, quiet=False):
    """Return the reference of the base image plus ``VARIANTS[variant]``, building it when absent.
    A failed apt-get raises LabError carrying apt's output (a test ERROR, never a skip)."""
    if variant not in VARIANTS:
        raise LabError("unknown lab image variant %r (known: %s)" % (variant, ", ".join(sorted(VARIANTS))))
    ref = variant_ref(variant)
    if image_exists(ref):
        return ref
    base = build(quiet=quiet)
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
