"""The container lifecycle through the CLI, with real containers."""

import json
import os
import time

SLEEPER = ("sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.05; done")


def test_create_start_state_kill_delete(runtime, bundle):
    bundle.set_args(*SLEEPER)
    pidfile = bundle.path / "init.pid"
    runtime("create", "-b", str(bundle), "--pid-file", str(pidfile), "ct1", check=True)
    st = runtime.state("ct1")
    assert st["status"] == "created"
    assert st["id"] == "ct1"
    assert st["bundle"] == str(bundle.path)
    assert os.path.isabs(st["bundle"])
    assert st["ociVersion"].startswith("1.")
    pid = st["pid"]
    assert pid > 0
    assert pidfile.read_text() == str(pid)  # no newline: containerd uses Atoi
    # created: the user process has not run yet (the init still waits)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert not f.read().startswith(b"sh")
    runtime("start", "ct1", check=True)
    assert runtime.state("ct1")["status"] == "running"
    time.sleep(0.1)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().startswith(b"sh\0")
    runtime("kill", "ct1", check=True)  # default SIGTERM, trapped: exit 7
    runtime.wait_stopped("ct1")
    st = runtime.state("ct1")
    assert st["status"] == "stopped"
    assert st["pid"] == 0
    runtime("delete", "ct1", check=True)
    p = runtime("state", "ct1")
    assert p.returncode == 1
    assert "does not exist" in p.err


def test_state_timestamps_are_rfc3339(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("create", "-b", str(bundle), "ct-ts", check=True)
    created = runtime.state("ct-ts")["created"]
    assert created.endswith("Z") and "T" in created
    assert len(created.split(".")[1]) == 10  # nanoseconds + Z


def test_kill_signal_forms(runtime, bundle):
    bundle.set_args(*SLEEPER)
    for i, sig in enumerate(["KILL", "SIGKILL", "9", "kill"]):
        cid = f"ct-kill{i}"
        runtime("run", "-d", "-b", str(bundle), cid, check=True)
        runtime("kill", cid, sig, check=True)
        runtime.wait_stopped(cid)
        runtime("delete", cid, check=True)


def test_kill_bad_signal(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-ks", check=True)
    for sig in ("NOPE", "65", "SIGFOO", "RTMIN+99"):
        p = runtime("kill", "ct-ks", sig)
        assert p.returncode == 1 and "signal" in p.err, (sig, p.err)
    assert runtime("kill", "ct-ks", "0").returncode == 0  # (as runc: it only checks)
    assert runtime.state("ct-ks")["status"] == "running"


def test_kill_stopped_container(runtime, bundle):
    bundle.set_args("true")
    runtime("run", "-d", "-b", str(bundle), "ct-ksd", check=True)
    runtime.wait_stopped("ct-ksd")
    p = runtime("kill", "ct-ksd", "9")
    assert p.returncode == 1
    assert "container not running" in p.err
    assert runtime("kill", "--all", "ct-ksd", "9").returncode == 0


def test_kill_all(runtime, bundle):
    bundle.set_args("sh", "-c", "sleep 100 & sleep 100 & wait")
    runtime("run", "-d", "-b", str(bundle), "ct-ka", check=True)
    runtime("kill", "-a", "ct-ka", "KILL", check=True)
    runtime.wait_stopped("ct-ka")


def test_delete_refused_unless_stopped(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("create", "-b", str(bundle), "ct-del", check=True)
    # the spec, where runc departs from it: a created container is not stopped
    p = runtime("delete", "ct-del")
    assert p.returncode == 1 and "not stopped: created" in p.err
    assert runtime.state("ct-del")["status"] == "created"
    runtime("start", "ct-del", check=True)
    p = runtime("delete", "ct-del")
    assert p.returncode == 1 and "not stopped: running" in p.err
    assert runtime.state("ct-del")["status"] == "running"
    runtime("delete", "--force", "ct-del", check=True)
    assert runtime("state", "ct-del").returncode == 1


def test_delete_force_unknown_is_silent(runtime):
    p = runtime("delete", "--force", "ct-nothere")
    assert p.returncode == 0 and p.err == ""
    p = runtime("delete", "ct-nothere")
    assert p.returncode == 1 and "does not exist" in p.err


def test_start_twice_and_start_stopped(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("create", "-b", str(bundle), "ct-st", check=True)
    runtime("start", "ct-st", check=True)
    p = runtime("start", "ct-st")
    assert p.returncode == 1 and "already running" in p.err
    runtime("kill", "ct-st", "KILL", check=True)
    runtime.wait_stopped("ct-st")
    p = runtime("start", "ct-st")
    assert p.returncode == 1 and "stopped" in p.err


def test_run_exit_status(runtime, bundle):
    bundle.set_args("sh", "-c", "exit 3")
    assert runtime("run", "-b", str(bundle), "ct-ex").returncode == 3
    bundle.set_args("sh", "-c", "kill -TERM $$; sleep 5")
    # pid 1 ignores TERM without a handler, so use a child shell
    bundle.set_args("sh", "-c", "sh -c 'kill -USR1 $$; sleep 5'; echo $?")
    p = runtime("run", "-b", str(bundle), "ct-ex2")
    assert p.returncode == 0 and p.out.strip() == str(128 + 10)
    bundle.set_args("sh", "-c", "exec sleep 30")
    import subprocess
    import threading

    proc = subprocess.Popen([*runtime.cmd, "--root", runtime.root, "run", "-b", str(bundle),
                             "ct-ex3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    runtime.ids.add("ct-ex3")
    for _ in range(200):
        if os.path.exists(os.path.join(runtime.root, "ct-ex3")) and \
                runtime.state("ct-ex3")["status"] == "running":
            break
        time.sleep(0.02)
    t = threading.Timer(0.1, lambda: runtime("kill", "ct-ex3", "KILL"))
    t.start()
    assert proc.wait(timeout=30) == 128 + 9
    t.join()


def test_run_removes_everything(runtime, bundle):
    out = runtime.run_output(bundle, "echo", "hi", cid="ct-rm")
    assert out == "hi\n"
    assert not os.path.exists(os.path.join(runtime.root, "ct-rm"))


def test_run_keep(runtime, bundle):
    bundle.set_args("true")
    runtime("run", "--keep", "-b", str(bundle), "ct-keep", check=True)
    assert runtime.state("ct-keep")["status"] == "stopped"
    runtime("delete", "ct-keep", check=True)


def test_list(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("create", "-b", str(bundle), "ct-l1", check=True)
    runtime("run", "-d", "-b", str(bundle), "ct-l2", check=True)
    listing = json.loads(runtime("list", "--format", "json", check=True).out)
    assert {s["id"]: s["status"] for s in listing} == {"ct-l1": "created", "ct-l2": "running"}
    assert runtime("list", "-q", check=True).out.split() == ["ct-l1", "ct-l2"]
    table = runtime("list", check=True).out.splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"]
    assert table[1].split()[0] == "ct-l1" and table[1].split()[2] == "created"


def test_pid_reuse_is_not_running(runtime, bundle):
    """A recorded pid that now belongs to another process means stopped."""
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-reuse", check=True)
    path = os.path.join(runtime.root, "ct-reuse", "state.json")
    with open(path) as f:
        data = json.load(f)
    real_pid = data["pid"]
    data["pid"] = os.getpid()  # alive, but not the container's init
    with open(path, "w") as f:
        json.dump(data, f)
    assert runtime.state("ct-reuse")["status"] == "stopped"
    assert runtime("kill", "ct-reuse", "KILL").returncode == 1  # never signals us
    data["pid"] = real_pid
    with open(path, "w") as f:
        json.dump(data, f)
    assert runtime.state("ct-reuse")["status"] == "running"


def test_log_json_error_line(runtime, tmp_path):
    log = tmp_path / "log.json"
    p = runtime("--log", str(log), "--log-format", "json", "state", "ct-missing")
    assert p.returncode == 1
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "error"
    assert "does not exist" in entry["msg"]
    assert entry["time"].endswith("Z")
    assert p.err.startswith("pyrunc: ")
