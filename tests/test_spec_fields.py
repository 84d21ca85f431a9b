"""Spec details that the conformance suite found: recursive mount attributes,
iversion, devices that exist, intelRdt, stopSignal, a pids limit of 0, the
pid seen by hooks in the container, poststop after a failed create hook."""

import json
import os
import subprocess


def mountinfo_opts(out: str, point: str) -> set[str]:
    for line in out.splitlines():
        f = line.split()
        if len(f) > 5 and f[4] == point:
            return set(f[5].split(","))
    raise AssertionError(f"{point} not mounted: {out}")


def test_recursive_read_only_reaches_submounts(runtime, bundle, tmp_path):
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "inner", str(src / "sub")], check=True)
    try:
        bundle.config["mounts"].append({"destination": "/tree", "source": str(src),
                                        "options": ["rbind", "rro", "rnosuid", "rnoatime"]})
        out = runtime.run_output(bundle, "cat", "/proc/self/mountinfo")
        for point in ("/tree", "/tree/sub"):
            opts = mountinfo_opts(out, point)
            assert {"ro", "nosuid", "noatime"} <= opts, (point, opts)
    finally:
        subprocess.run(["umount", str(src / "sub")], check=True)


def test_plain_ro_bind_leaves_submounts_writable(runtime, bundle, tmp_path):
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "inner", str(src / "sub")], check=True)
    try:
        bundle.config["mounts"].append({"destination": "/tree", "source": str(src),
                                        "options": ["rbind", "ro"]})
        out = runtime.run_output(bundle, "cat", "/proc/self/mountinfo")
        assert "ro" in mountinfo_opts(out, "/tree")
        assert "rw" in mountinfo_opts(out, "/tree/sub")
    finally:
        subprocess.run(["umount", str(src / "sub")], check=True)


def test_iversion_and_acl_are_flags(runtime, bundle):
    bundle.config["mounts"].append({"destination": "/iv", "type": "tmpfs", "source": "t",
                                    "options": ["iversion", "noacl"]})
    out = runtime.run_output(bundle, "cat", "/proc/self/mountinfo")
    mountinfo_opts(out, "/iv")  # mounted: iversion was not passed as data


def test_device_path_taken_by_a_file_is_an_error(runtime, bundle):
    bundle.config["root"]["readonly"] = False
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev"
                               and not m["destination"].startswith("/dev/")]
    (bundle.rootfs / "dev" / "mydev").write_text("a file\n")
    bundle.config["linux"]["devices"] = [{"path": "/dev/mydev", "type": "c", "major": 1,
                                          "minor": 3}]
    bundle.set_args("true")
    p = runtime("run", "-b", str(bundle), "ct-devx")
    assert p.returncode == 1 and "/dev/mydev exists and is not the requested device" in p.err
    # the same device already there is fine
    (bundle.rootfs / "dev" / "mydev").unlink()
    os.mknod(bundle.rootfs / "dev" / "mydev", 0o600 | 0o020000, os.makedev(1, 3))
    bundle.config["linux"]["devices"][0]["fileMode"] = 0o640
    out = runtime.run_output(bundle, "stat", "-c", "%a %t:%T", "/dev/mydev", cid="ct-devok")
    assert out.split() == ["640", "1:3"]


def test_intel_rdt_without_resctrl_is_an_error(runtime, bundle):
    if os.path.exists("/sys/fs/resctrl/schemata"):
        import pytest

        pytest.skip("this host has resctrl")
    bundle.config["linux"]["intelRdt"] = {"closID": "x"}
    bundle.set_args("true")
    p = runtime("run", "-b", str(bundle), "ct-rdt")
    assert p.returncode == 1 and "$.linux.intelRdt" in p.err


def test_kill_defaults_to_stop_signal_annotation(runtime, bundle):
    bundle.config["annotations"] = {"org.opencontainers.image.stopSignal": "SIGUSR1"}
    bundle.set_args("sh", "-c", "trap 'exit 10' USR1; trap 'exit 15' TERM; "
                    "while :; do sleep 0.05; done")
    import subprocess as sp

    proc = sp.Popen([*runtime.cmd, "--root", runtime.root, "run", "-b", str(bundle),
                     "ct-stopsig"])
    runtime.ids.add("ct-stopsig")
    import time

    for _ in range(300):
        if os.path.exists(os.path.join(runtime.root, "ct-stopsig", "state.json")) and \
                runtime.state("ct-stopsig")["status"] == "running":
            break
        time.sleep(0.02)
    time.sleep(0.2)
    runtime("kill", "ct-stopsig", check=True)
    assert proc.wait(timeout=20) == 10


def test_pids_limit_zero_is_a_real_limit(runtime, bundle):
    bundle.config["linux"]["resources"] = {"pids": {"limit": 0}}
    bundle.set_args("sh", "-c", "echo inside; /bin/true; echo forked")
    p = runtime("run", "-b", str(bundle), "ct-pids0")
    assert p.out == "inside\n"  # the container runs, but cannot fork
    assert "can't fork" in p.err and p.returncode == 2


def test_container_namespace_hooks_see_the_container_pid(runtime, bundle, tmp_path):
    log = tmp_path / "log"
    logdir = tmp_path / "d"
    logdir.mkdir()
    bundle.config["mounts"].append({"destination": "/hooklog", "source": str(logdir),
                                    "options": ["bind"]})
    bundle.config["hooks"] = {
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat >> {log}"]}],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat >> /hooklog/s"]}],
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {tmp_path}/rt"]}],
    }
    bundle.set_args("true")
    runtime("run", "-b", str(bundle), "ct-hookpid", check=True)
    assert json.loads(log.read_text())["pid"] == 1
    assert json.loads((logdir / "s").read_text())["pid"] == 1
    assert json.loads((tmp_path / "rt").read_text())["pid"] > 1  # the host's view


def test_poststop_runs_after_a_failed_create_hook(runtime, bundle, tmp_path):
    marker = tmp_path / "poststop-ran"
    bundle.config["hooks"] = {
        "prestart": [{"path": "/bin/false"}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {marker}"]}],
    }
    bundle.set_args("true")
    p = runtime("create", "-b", str(bundle), "ct-pshf")
    assert p.returncode == 1 and "$.hooks.prestart[0]" in p.err
    assert json.loads(marker.read_text())["status"] == "stopped"
