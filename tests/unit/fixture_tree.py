"""Build a fake node root from a dict: ``{"etc/sysctl.d/a.conf": "text",
"etc/sysctl.d/b.conf": Link("/dev/null")}``."""
import os


class Link(object):
    def __init__(self, target):
        self.target = target


def make_tree(root, files):
    for rel, content in files.items():
        path = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(content, Link):
            os.symlink(content.target, path)
        else:
            with open(path, "w") as handle:
                handle.write(content)
    return str(root)


KERNEL_RELEASE = "6.1.0-26-amd64"


def loadable_br_netfilter(**files):
    """A kernel with br_netfilter as a loadable (not built-in) module, plus ``files``."""
    tree = {"proc/sys/kernel/osrelease": KERNEL_RELEASE + "\n",
            "lib/modules/%s/modules.dep" % KERNEL_RELEASE: "kernel/net/bridge/br_netfilter.ko.xz:\n",
            "lib/modules/%s/modules.builtin" % KERNEL_RELEASE: ""}
    tree.update(files)
    return tree
