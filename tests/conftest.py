"""Make ``ansible_collections.podnet.doctor`` importable from this checkout.

ansible-test does this itself; plain pytest gets a symlink under tests/output/.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_COLLECTIONS = os.path.join(REPO, "tests", "output", "pytest-collections")
_LINK = os.path.join(_COLLECTIONS, "ansible_collections", "podnet", "doctor")

if "ansible_collections.podnet.doctor" not in sys.modules and not REPO.endswith(
        os.path.join("ansible_collections", "podnet", "doctor")):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    if not os.path.islink(_LINK):
        os.symlink(REPO, _LINK)
    sys.path.insert(0, _COLLECTIONS)
