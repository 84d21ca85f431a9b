"""CVE-2024-21626 through `exec --cwd`: a cwd that is a symlink in the rootfs
pointing at /proc/self/fd/N or up and out of the rootfs stays inside."""

import os

import pytest

SLEEPER = ("sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.05; done")


@pytest.mark.parametrize("target", [f"/proc/self/fd/{n}" for n in range(3, 12)]
                         + ["../../../..", "/../../../..", "../../../../tmp"])
def test_exec_cwd_symlink_stays_inside(runtime, bundle, target):
    (bundle.path / "HOST-MARKER").write_text("")
    bundle.config["root"]["readonly"] = False
    bundle.set_args(*SLEEPER)
    os.symlink(target, bundle.rootfs / "tmp" / "link")
    runtime("run", "-d", "-b", str(bundle), "ct-cwd", check=True)
    for cwd in ("/tmp/link", "/tmp/link/", "/tmp/link/.."):
        p = runtime("exec", "--cwd", cwd, "ct-cwd", "sh", "-c",
                    "pwd -P; ls -a; cat ../config.json ../../config.json 2>/dev/null; "
                    "ls ../.. ../../.. 2>/dev/null")
        if p.returncode != 0:
            assert p.err.startswith("pyrunc: ") and "Traceback" not in p.err, p.err
            continue
        for name in ("HOST-MARKER", "config.json", "state.json", "exec.sock", "ociVersion"):
            assert name not in p.out, (cwd, target, p.out)
        assert p.out.startswith("/"), p.out
