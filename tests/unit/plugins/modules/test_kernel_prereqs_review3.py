"""Review 3: kernel_prereqs argument validation (bad input: one clear error naming the variable, nothing written)."""
import os

from ansible_collections.podnet.doctor.tests.unit.fixture_tree import make_tree
from ansible_collections.podnet.doctor.tests.unit.plugins.modules.test_kernel_prereqs import FIXED, run_module


def test_unknown_cni_is_refused_naming_the_variable(tmp_path, monkeypatch, capsys):
    files = dict(FIXED)
    files["proc/sys/net/ipv4/conf/all/rp_filter"] = "2\n"
    root = make_tree(tmp_path, files)
    before = open(os.path.join(root, "etc/sysctl.d/99-zzz-podnet-doctor.conf")).read()
    result = run_module({"root": root, "areas": ["rp_filter"], "cni": "calcio"}, monkeypatch, capsys)
    assert result.get("failed") and "podnet_cni" in result["msg"], result
    assert open(os.path.join(root, "etc/sysctl.d/99-zzz-podnet-doctor.conf")).read() == before
