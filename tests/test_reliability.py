"""Crashes, races and load: the state stays true and nothing leaks."""

import concurrent.futures
import os
import re
import resource
import subprocess
import time

import pytest
from helpers import Runtime, reap_children

from pyrunc.container import CREATE_STEPS, DELETE_STEPS

SLEEPER = ("sh", "-c", "while :; do sleep 1; done")


@pytest.mark.parametrize("step", CREATE_STEPS)
def test_create_killed_at_each_step(runtime, bundle, step):
    """SIGKILL during create: `state` tells the truth, `delete --force` removes all."""
    bundle.set_args(*SLEEPER)
    env = {**os.environ, "PYRUNC_CRASH_AT": step}
    p = runtime("create", "-b", str(bundle), "ct-crash", env=env)
    assert p.returncode == -9, (step, p.returncode, p.err)
    st = runtime("state", "ct-crash")
    assert st.returncode == 0, st.err
    import json

    status = json.loads(st.out)["status"]
    if step == "created-saved":
        assert status == "created"
    else:
        assert status == "stopped", (step, status)
    runtime("delete", "--force", "ct-crash", check=True)
    assert not os.path.exists(os.path.join(runtime.root, "ct-crash"))
    assert cgroups_named("ct-crash") == [], step
    # and the id is free again
    runtime("create", "-b", str(bundle), "ct-crash", check=True)
    runtime("delete", "--force", "ct-crash", check=True)
    assert cgroups_named("ct-crash") == []


def cgroups_named(cid: str) -> list[str]:
    """Cgroup directories named after the container, under this test run's own
    cgroup in every hierarchy (other test runs may use the same ids)."""
    from pyrunc.cgroups import host as cgroups

    out = []
    for path in cgroups.directories(".").values():
        for dirpath, dirnames, _ in os.walk(path):
            out += [os.path.join(dirpath, d) for d in dirnames if d == cid]
    return out


def test_create_killed_at_random_times(runtime, bundle):
    """SIGKILL from outside at 24 moments spread over a create (as a caller's
    timeout would): each time, `delete -f` leaves no state, cgroup or process
    (the fixture checks processes), and the id works again."""
    bundle.set_args(*SLEEPER)
    t0 = time.monotonic()
    runtime("create", "-b", str(bundle), "ct-rkill", check=True)
    took = time.monotonic() - t0
    runtime("delete", "-f", "ct-rkill", check=True)
    for i in range(24):
        p = subprocess.Popen([*runtime.cmd, "--root", runtime.root, "create", "-b",
                              str(bundle), "ct-rkill"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(took * i / 24)
        p.kill()
        p.wait()
        runtime("delete", "-f", "ct-rkill", check=True)
        assert not os.path.exists(os.path.join(runtime.root, "ct-rkill")), i
        assert cgroups_named("ct-rkill") == [], i
    runtime("create", "-b", str(bundle), "ct-rkill", check=True)
    runtime("delete", "-f", "ct-rkill", check=True)


@pytest.fixture
def small_root(tmp_path, runtime):
    """A --root on a 1 MiB tmpfs (a Runtime for it), and a way to fill it up."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0711", "pyrunc-full",
                    str(mnt)], check=True)
    rt = Runtime(runtime.cmd, str(mnt / "root"))
    yield rt
    try:
        rt.cleanup()
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def fill(path: str, free_pages: int) -> None:
    """Fill the filesystem at `path`, then free `free_pages` pages of it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                os.write(fd, b"\0" * 4096)
            except OSError:
                break
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - free_pages * 4096))
    finally:
        os.close(fd)


def test_create_on_a_full_root(small_root, bundle, tmp_path):
    """A --root that runs out of space at each of create's state writes: one
    line naming the file, nothing left behind (state, cgroups, processes);
    `delete -f` then has nothing to do, and with space the id works. The state
    grows by ~10 KiB once the limits are recorded (150 device rules), so that
    some runs fail after the cgroups and the init exist."""
    rt = small_root
    bundle.set_args(*SLEEPER)
    bundle.config["linux"].setdefault("resources", {})["devices"] = [
        {"allow": False, "access": "rwm"}, *({"allow": True, "type": "c", "major": 200, "minor": m,
                             "access": "rwm"} for m in range(150))]
    bundle.write()
    os.makedirs(rt.root)
    filler = os.path.join(os.path.dirname(rt.root), "filler")
    stages = set()
    for free in range(12):
        fill(filler, free)
        trace = tmp_path / f"trace-{free}"
        p = rt("create", "-b", str(bundle), "ct-full",
               env={**os.environ, "PYRUNC_TRACE": str(trace)})
        if p.returncode == 0:
            rt("delete", "-f", "ct-full", check=True)
            break
        assert p.returncode == 1 and p.err.count("\n") == 1, p.err
        assert re.fullmatch(r"pyrunc: (writing|creating) \S*/ct-full(/state\.json)?: "
                            r"No space left on device\n", p.err), p.err
        steps = trace.read_text()
        stages.add("init" if "stage 1:" in steps else
                   "cgroups" if "cgroup directories made" in steps else "early")
        assert os.listdir(rt.root) == [], free
        assert cgroups_named("ct-full") == [], (free, steps)
        assert rt("delete", "-f", "ct-full").returncode == 0
        os.unlink(filler)
        rt("create", "-b", str(bundle), "ct-full", check=True)
        rt("delete", "-f", "ct-full", check=True)
        assert cgroups_named("ct-full") == []
    else:
        raise AssertionError("12 free pages were not enough")
    assert stages == {"early", "cgroups", "init"}, stages


@pytest.mark.parametrize("step", DELETE_STEPS)
def test_delete_killed_at_each_step(runtime, bundle, step):
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-dcrash", check=True)
    env = {**os.environ, "PYRUNC_CRASH_AT": step}
    p = runtime("delete", "--force", "ct-dcrash", env=env)
    assert p.returncode == -9
    st = runtime("state", "ct-dcrash")
    if st.returncode == 0:
        import json

        assert json.loads(st.out)["status"] in ("stopped", "running")
    runtime("delete", "--force", "ct-dcrash", check=True)
    assert runtime("state", "ct-dcrash").returncode == 1


def test_init_killed_from_outside(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-ext", check=True)
    pid = runtime.state("ct-ext")["pid"]
    os.kill(pid, 9)
    runtime.wait_stopped("ct-ext")
    assert runtime.state("ct-ext")["pid"] == 0
    p = runtime("kill", "ct-ext", "9")
    assert p.returncode == 1 and "not running" in p.err
    runtime("delete", "ct-ext", check=True)


def test_parallel_create_of_one_id(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime.ids.add("ct-race")

    def create(_):
        return runtime("create", "-b", str(bundle), "ct-race")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(create, range(50)))
    ok = [r for r in results if r.returncode == 0]
    failed = [r for r in results if r.returncode != 0]
    assert len(ok) == 1
    errors = {r.err for r in failed}
    assert all("already exists" in e and "Traceback" not in e for e in errors), errors
    assert runtime.state("ct-race")["status"] == "created"


def test_parallel_kill_delete_state(runtime, bundle):
    """Commands racing on one container never corrupt its state."""
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-par", check=True)
    cmds = [("state", "ct-par")] * 20 + [("kill", "ct-par", "KILL")] * 5 + \
           [("delete", "--force", "ct-par")] * 5 + [("state", "ct-par")] * 10
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda c: runtime(*c), cmds))
    for r in results:
        assert "Traceback" not in r.err
        assert r.returncode in (0, 1)
        if r.returncode == 1:
            assert r.err.count("\n") == 1
    assert runtime("state", "ct-par").returncode == 1  # deleted in the end


def test_stress_many_containers(runtime, bundle, record_property):
    """200 containers through create/start/run/delete, 8 at a time."""
    n = int(os.environ.get("PYRUNC_STRESS_N", "200"))
    bundle.set_args("true")
    fds_before = len(os.listdir("/proc/self/fd"))

    def one(i: int) -> str:
        cid = f"ct-stress-{i}"
        if i % 2:
            r = runtime("run", "-b", str(bundle), cid)
            return r.err if r.returncode else ""
        steps = [runtime("create", "-b", str(bundle), cid), runtime("start", cid)]
        for _ in range(500):
            if runtime("state", cid).out.count('"stopped"'):
                break
            time.sleep(0.01)
        steps.append(runtime("delete", cid))
        return "".join(f"{' '.join(s.args[3:])}: {s.err}" for s in steps if s.returncode)

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(one, range(n)))
    elapsed = time.monotonic() - start
    assert [c for c in codes if c] == []
    assert os.listdir(runtime.root) == []
    assert len(os.listdir("/proc/self/fd")) == fds_before
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    record_property("containers_per_second", round(n / elapsed, 1))
    record_property("peak_pyrunc_rss_kib", peak_kib)
    print(f"\nstress: {n} containers in {elapsed:.1f}s = {n / elapsed:.1f}/s, "
          f"peak child RSS {peak_kib} KiB")
    # the containers' inits were orphaned to this test run (a subreaper): once
    # reaped, no zombie of ours is left
    reap_children()
    zombies = subprocess.run(["ps", "-o", "stat=", "--ppid", str(os.getpid())],
                             capture_output=True, text=True).stdout
    assert "Z" not in zombies
