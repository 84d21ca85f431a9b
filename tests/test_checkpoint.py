"""checkpoint and restore: what can be checked on this host (Debian's criu
cannot run on its kernel: the one-line explanation, nothing changed; bad
input), and the VM tier (tests/vm_criu/, a kernel CRIU supports), booted once."""

import json
import os
import subprocess

import pytest
from vmtier import run_tier


def criu_runs() -> bool:
    try:
        return subprocess.run(["criu", "check"], capture_output=True).returncode == 0
    except OSError:
        return False


def test_checkpoint_explains_why_criu_cannot_run(runtime, bundle, tmp_path):
    """Here criu fails its own kernel check: checkpoint says so in one line
    with `criu check`'s first error, and changes nothing."""
    if criu_runs():
        pytest.skip("criu works on this kernel")
    check = subprocess.run(["criu", "check"], capture_output=True, text=True)
    first = next(ln for ln in (check.stderr + check.stdout).splitlines()
                 if ln.startswith("Error"))
    bundle.set_args("sleep", "1000")
    runtime("run", "-d", "-b", str(bundle), "ct-ck", check=True, stdin=subprocess.DEVNULL)
    before = runtime.state("ct-ck")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    p = runtime("checkpoint", "ct-ck", cwd=cwd)
    assert p.returncode == 1
    assert p.err.count("\n") == 1 and "Traceback" not in p.err
    assert p.err.startswith("pyrunc: checkpoint: criu cannot run on this kernel "
                            f"({os.uname().release}): ")
    assert first in p.err
    assert runtime.state("ct-ck") == before
    assert os.listdir(cwd) == []  # no ./checkpoint left
    # an explicit image directory that exists is kept, and stays empty
    img = tmp_path / "img"
    img.mkdir()
    assert runtime("checkpoint", "--image-path", str(img), "ct-ck").returncode == 1
    assert os.listdir(img) == []
    runtime("delete", "-f", "ct-ck", check=True)


def test_bad_input(runtime, bundle, tmp_path):
    """One-line errors, nothing created: a created container, unknown flag
    values, a restore without images."""
    bundle.set_args("sleep", "1000")
    runtime("create", "-b", str(bundle), "ct-cr", check=True, stdin=subprocess.DEVNULL)
    cases = [
        (("checkpoint", "ct-cr"), "container cannot be checkpointed in created state"),
        (("checkpoint", "--manage-cgroups-mode", "bogus", "ct-cr"),
         "container cannot be checkpointed in created state"),
        (("checkpoint", "nope"), 'container "nope" does not exist'),
        (("restore", "-b", str(bundle), "--image-path", str(tmp_path / "none"), "ct-r"),
         f"restore: image directory {tmp_path / 'none'}: no such directory"),
        (("restore", "-b", str(bundle), "--image-path", str(tmp_path), "ct-cr"),
         'container with given ID already exists: "ct-cr"'),
        (("restore", "--empty-ns", "pid", "-b", str(bundle), "--image-path", str(tmp_path),
          "ct-r"), '--empty-ns: namespace "pid" is not supported'),
        (("restore", "--manage-cgroups-mode", "bogus", "-b", str(bundle), "--image-path",
          str(tmp_path), "ct-r"), 'invalid --manage-cgroups-mode "bogus"'),
        (("restore", "-b", str(bundle), "--image-path", str(tmp_path), "ct-r"),
         "descriptors.json"),
    ]
    for args, msg in cases:
        p = runtime(*args)
        assert p.returncode == 1, args
        assert p.err.count("\n") == 1 and msg in p.err, (args, p.err)
    assert runtime("state", "ct-r").returncode == 1
    assert runtime.state("ct-cr")["status"] == "created"
    runtime("delete", "-f", "ct-cr", check=True)


def test_features_lists_checkpoint(runtime):
    p = runtime("features", check=True)
    ann = json.loads(p.out)["annotations"]
    assert ann["io.github.pyrunc.checkpoint.enabled"] == "true"  # criu and pycriu are here


def test_vm_criu():
    """tests/vm_criu in the VM (Debian 12's 6.1 kernel, where criu works)."""
    run_tier("vm_criu")
