"""Helpers for the tests: running pyrunc, and leak snapshots of the host."""

import json
import os
import subprocess
import tempfile
import time

CGROUP_ROOT = "/sys/fs/cgroup"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The project's shared material (runtime-spec, client fixtures, the VM, tools):
# ../shared beside the repository, as CI lays it out, or $PYRUNC_SHARED. Tests
# that need it skip, naming it, when it is absent; nothing else depends on it.
SHARED = os.environ.get("PYRUNC_SHARED") or os.path.join(os.path.dirname(REPO), "shared")


def shared_path(*parts: str) -> str:
    """A path under the shared directory (it may not exist)."""
    return os.path.join(SHARED, *parts)


def need_shared(*parts: str) -> str:
    """A path under the shared directory, or skip the test saying it is absent."""
    import pytest

    path = shared_path(*parts)
    if not os.path.exists(path):
        pytest.skip(f"{path} is absent (the shared directory beside the repository)")
    return path


def reap_children() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Runtime:
    """Runs `pyrunc --root ROOT ...` and remembers container ids for cleanup."""

    def __init__(self, cmd: list[str], root: str) -> None:
        self.cmd = cmd
        self.root = root
        self.ids: set[str] = set()

    def __call__(self, *args: str, check: bool = False, input: bytes | None = None,
                 timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        for a in args:
            if isinstance(a, str) and a.startswith("ct"):
                self.ids.add(a)
        # Files, not pipes: a detached container keeps its stdio open, and a
        # pipe would never see EOF.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run([*self.cmd, "--root", self.root, *args], stdout=out,
                               stderr=err, input=input, timeout=timeout, **kw)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read(), err.read()
        p.out = p.stdout.decode(errors="replace")
        p.err = p.stderr.decode(errors="replace")
        if check and p.returncode != 0:
            raise AssertionError(f"pyrunc {' '.join(args)} failed ({p.returncode}): {p.err}")
        return p

    def state(self, cid: str) -> dict:
        return json.loads(self("state", cid, check=True).out)

    def run_output(self, bundle, *args: str, cid: str = "ct-run") -> str:
        """Run a command in a container and return its stdout (asserting exit 0)."""
        bundle.set_args(*args)
        p = self("run", "-b", str(bundle), cid)
        assert p.returncode == 0, f"exit {p.returncode}: {p.err}{p.out}"
        return p.out

    def wait_stopped(self, cid: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reap_children()
            if self.state(cid)["status"] == "stopped":
                return
            time.sleep(0.02)
        raise AssertionError(f"{cid} did not stop")

    def cleanup(self) -> None:
        for cid in sorted(self.ids):
            subprocess.run([*self.cmd, "--root", self.root, "delete", "--force", cid],
                           capture_output=True, timeout=30)
        try:
            left = os.listdir(self.root)
        except FileNotFoundError:
            left = []
        assert not left, f"state dirs left under {self.root}: {left}"


def _cgroup_dirs() -> set[str]:
    out = set()
    for name in os.listdir(CGROUP_ROOT):
        top = os.path.join(CGROUP_ROOT, name)
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        for dirpath, dirnames, _ in os.walk(top):
            for d in dirnames:
                out.add(os.path.join(dirpath, d))
    return out


def _mounts() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {" ".join(line.split()[3:5]) for line in f}


def _ns_processes() -> set[int]:
    """Processes in a pid namespace other than ours: containers still running."""
    mine = os.readlink("/proc/self/ns/pid")
    out = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") != mine:
                out.add(int(pid))
        except OSError:
            continue
    return out


def _children() -> set[int]:
    me = str(os.getpid())
    out = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        if fields[1].decode() == me:
            out.add(int(pid))
    return out


def _cgroup_of(pids: set[int]) -> set[str]:
    """Each pid with its cgroup paths, so a scope can match the container id."""
    out = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                out.add(f"{pid} {f.read().split()}")
        except OSError:
            continue
    return out


class Snapshot:
    """Mounts, cgroups, container processes and children of the test run."""

    def __init__(self) -> None:
        self.mounts = _mounts()
        self.cgroups = _cgroup_dirs()
        self.procs = _ns_processes()
        self.children = _children()

    @classmethod
    def take(cls) -> "Snapshot":
        return cls()

    def leaks_since(self, before: "Snapshot", scope: tuple[str, ...] = (),
                    wait: float = 3.0) -> dict:
        """What appeared since `before`. With `scope` (container ids, temp dirs),
        only mounts, cgroups and container processes that name one of them
        count: other test runs may share this machine."""
        deadline = time.monotonic() + wait

        def mine(items: set) -> list:
            if not scope:
                return sorted(items)
            return sorted(i for i in items if any(s in str(i) for s in scope))

        while True:
            now = Snapshot()
            leaks = {
                "mounts": mine(now.mounts - before.mounts),
                "cgroups": mine(now.cgroups - before.cgroups),
                "container processes": mine(_cgroup_of(now.procs - before.procs)),
                "children": sorted(now.children - before.children),
            }
            leaks = {k: v for k, v in leaks.items() if v}
            if not leaks or time.monotonic() > deadline:
                return leaks
            reap_children()
            time.sleep(0.05)
