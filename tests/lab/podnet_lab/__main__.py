"""Lab command line: ``tests/lab/lab <command> ...`` (see ``--help``)."""
import argparse
import json
import sys

from . import faults, fleet, image, probes
from .podman import LabError


def _fleet(args):
    releases = args.release.split(",") if args.release else None
    if releases and len(releases) == 1:
        releases = releases[0]
    return fleet.Fleet(name=args.fleet, size=args.nodes, subnet=args.subnet, image_variant=args.image_variant,
                       release=releases)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lab", description=__doc__)
    parser.add_argument("--fleet", default="podnet", help="fleet name (container prefix)")
    parser.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    parser.add_argument("--subnet", default="192.168.77.0/24", help="node network")
    parser.add_argument("--image-variant", choices=sorted(image.VARIANTS),
                        help="nodes from the base image plus these packages (default: the base image)")
    parser.add_argument("--release", help="Debian release of the nodes (%s; default %s or $PODNET_LAB_RELEASE), "
                        "or one per node separated by commas (a fleet in mid-upgrade: bullseye,bookworm,trixie); "
                        "for 'image': the releases to build, or 'all'" % (", ".join(sorted(image.RELEASES)), image.DEFAULT_RELEASE))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("image", help="build (or reuse) the node image and its variants")
    up = sub.add_parser("up", help="start the fleet")
    up.add_argument("--inventory", help="write an inventory file here")
    up.add_argument("--connection", choices=("ssh", "podman"), default="ssh")
    sub.add_parser("down", help="remove the fleet and its networks")
    reboot = sub.add_parser("reboot", help="podman restart a node and wait for boot")
    reboot.add_argument("node", type=int)
    inject = sub.add_parser("inject", help="inject a fault on a node")
    inject.add_argument("node", type=int)
    inject.add_argument("fault", choices=("ip_forward_runtime", "bridge_nf_runtime",
                                          "hardening_file", "overlap") +
                        tuple("block:" + b for b in faults.FIREWALL_BACKENDS))
    clear = sub.add_parser("clear", help="remove a fault from a node")
    clear.add_argument("node", type=int)
    clear.add_argument("fault", choices=("overlap",) + tuple("block:" + b for b in faults.FIREWALL_BACKENDS))
    probe = sub.add_parser("probe", help="run the symptom probes between two nodes")
    probe.add_argument("src", type=int)
    probe.add_argument("dst", type=int)
    args = parser.parse_args(argv)
    try:
        if args.command == "image":
            wanted = sorted(image.RELEASES) if args.release == "all" else (args.release or image.default_release()).split(",")
            for release in wanted:
                print(image.build(release=release))
            # variants (NetworkManager, Docker, node_exporter) serve bookworm-only tests
            for variant in sorted(image.VARIANTS):
                print(image.build_variant(variant))
            return 0
        lab = _fleet(args)
        if args.command == "up":
            for node in lab.up():
                print("up: %s (%s)" % (node, lab.address(lab.index_of(node))))
            if args.inventory:
                lab.write_inventory(args.inventory, args.connection)
        elif args.command == "down":
            lab.down()
        elif args.command == "reboot":
            print(fleet.reboot(lab.node(args.node)))
        elif args.command == "inject":
            node = lab.node(args.node)
            if args.fault == "ip_forward_runtime":
                faults.set_sysctl_runtime(node, "net.ipv4.ip_forward", "0")
            elif args.fault == "bridge_nf_runtime":
                faults.set_sysctl_runtime(node, "net.bridge.bridge-nf-call-iptables", "0")
            elif args.fault == "hardening_file":
                faults.drop_hardening_file(node, {"net.ipv4.ip_forward": "0"})
            elif args.fault == "overlap":
                # a VLAN numbered inside the next node's pod subnet, as if set up before the CNI
                peer = args.node % lab.size + 1
                faults.attach_overlapping_subnet(lab, node, "10.244.%d.0/24" % peer)
                fleet.reboot(node)
            else:
                faults.block_overlay(node, args.fault.split(":", 1)[1])
        elif args.command == "clear":
            node = lab.node(args.node)
            if args.fault == "overlap":
                faults.detach_overlapping_subnet(lab, node)
                fleet.reboot(node)
            else:
                faults.unblock_overlay(node, args.fault.split(":", 1)[1])
        elif args.command == "probe":
            results = [probes.node_ping(lab, args.src, args.dst),
                       probes.overlay_ping(lab, args.src, args.dst),
                       probes.routed_ping(lab, args.src, args.dst),
                       probes.pod_connect(lab, args.src, args.dst),
                       probes.clusterip(lab, args.src)]
            for result in results:
                print(("PASS " if result.ok else "FAIL ") + result.summary()
                      + ("" if result.ok or result.loss is not None else ""))
            print(json.dumps({r.name: r.ok for r in results}))
    except LabError as exc:
        print("lab: %s" % exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
