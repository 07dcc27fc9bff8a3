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
