"""cgroup parity with runc 1.1.5 (issue 15): each scenario runs the same
bundle through runc and through pyrunc (each with a private --root) and
expects what runc does. Cgroups made by hand live under a unique absolute
cgroupsPath per test and runtime, and are removed afterwards."""

import json
import os
import shutil
import uuid

import pytest
from helpers import Runtime, Snapshot, reap_children

pytestmark = pytest.mark.parity

RUNC = shutil.which("runc") or "/usr/sbin/runc"
RUNTIMES = ("runc", "pyrunc")


def _mounted() -> dict[str, str]:
    """{controller or "unified": mountpoint} of the host's cgroup hierarchies."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fs = right.split()
            if fs and fs[0] == "cgroup2":
                out.setdefault("unified", left.split()[4])
            elif fs and fs[0] == "cgroup":
                for opt in fs[2].split(","):
                    out.setdefault(opt, left.split()[4])
    return out


MOUNTED = _mounted()
V1 = "memory" in MOUNTED  # a v1 or hybrid host
need_v1 = pytest.mark.skipif(not V1, reason="needs cgroup v1 controllers (v1 or hybrid host)")


class HandMade:
    """cgroup directories made by hand (as an admin or another tool would),
    under a unique top-level name; removed deepest first at the end."""

    def __init__(self) -> None:
        self.top = f"pyrunc-parity-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.dirs: list[str] = []

    def path(self, *parts: str) -> str:
        """The absolute cgroupsPath /TOP/parts..."""
        return "/" + "/".join((self.top, *parts))

    def make(self, ctrl: str, *parts: str) -> str:
        """mkdir -p of /TOP/parts in the hierarchy of `ctrl`; returns the deepest."""
        d = MOUNTED[ctrl]
        for p in (self.top, *parts):
            d = os.path.join(d, p)
            if not os.path.isdir(d):
                os.mkdir(d)
                self.dirs.append(d)
        return d

    def cleanup(self) -> list[str]:
        """Thaw and remove what was made by hand, then whatever a runtime left
        under the name (runc leaves the parents it made); return the latter."""
        mine = sorted(self.dirs, key=lambda p: p.count("/"), reverse=True)
        for d in mine:
            for name, thawed in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                f = os.path.join(d, name)
                if os.path.exists(f):  # a frozen cgroup's processes cannot die
                    with open(f, "w") as fh:
                        fh.write(thawed)
        left = []
        for m in set(MOUNTED.values()):
            walk = list(os.walk(os.path.join(m, self.top)))
            for dirpath, _, _ in sorted(walk, key=lambda w: -w[0].count("/")):
                if dirpath not in self.dirs:
                    left.append(dirpath)
                os.rmdir(dirpath)
        return left


@pytest.fixture(params=RUNTIMES)
def rt(request, tmp_path):
    """runc or pyrunc, with a private --root, a force delete of every container
    afterwards, and a leak check of the host."""
    if request.param == "runc" and not os.access(RUNC, os.X_OK):
        pytest.skip(f"runc is not installed ({RUNC})")
    from .harness import PYRUNC

    cmd = [RUNC] if request.param == "runc" else [PYRUNC]
    before = Snapshot.take()
    hand = HandMade()
    r = Runtime(cmd, str(tmp_path / f"{request.param}-state"))
    r.name, r.hand = request.param, hand
    yield r
    r.cleanup()
    reap_children()
    left = hand.cleanup()
    assert r.name == "runc" or not left, f"{r.name} left cgroups: {left}"
    leaks = Snapshot.take().leaks_since(before, (*sorted(r.ids), str(tmp_path), hand.top))
    assert not leaks, f"{r.name} left behind: {leaks}"


def _nothing_left(rt) -> None:
    """No state entry, and no cgroup under the test's name but those made by hand."""
    left = os.listdir(rt.root) if os.path.isdir(rt.root) else []
    assert not left, f"{rt.name} left state: {left}"
    for m in set(MOUNTED.values()):
        for dirpath, _, _ in os.walk(os.path.join(m, rt.hand.top)):
            assert dirpath in rt.hand.dirs, f"{rt.name} made cgroup {dirpath}"


@need_v1
@pytest.mark.skipif("freezer" not in MOUNTED, reason="no v1 freezer hierarchy")
def test_frozen_cgroup_v1(rt, bundle):
    """A frozen freezer cgroup made beforehand: fail at once, leave nothing."""
    d = rt.hand.make("freezer", "a")
    with open(os.path.join(d, "freezer.state"), "w") as f:
        f.write("FROZEN")
    bundle.config["linux"]["cgroupsPath"] = rt.hand.path("a")
    bundle.write()
    p = rt("run", "-d", "-b", str(bundle), "ct-frozen", timeout=20)
    assert p.returncode == 1, f"{rt.name}: {p.returncode} {p.err}"
    assert "container's cgroup unexpectedly frozen" in p.err, p.err
    assert rt("state", "ct-frozen").returncode != 0
    _nothing_left(rt)


@need_v1
@pytest.mark.skipif("cpuset" not in MOUNTED, reason="no v1 cpuset hierarchy")
def test_cpuset_parents_made_by_hand(rt, bundle):
    """Parents with empty cpuset.cpus/mems: every empty level is filled from
    the nearest ancestor, and the container runs."""
    top = rt.hand.make("cpuset", "a")
    parent = os.path.dirname(top)
    for d in (parent, top):
        with open(os.path.join(d, "cpuset.cpus")) as f:
            assert f.read().strip() == ""  # (a new v1 cpuset cgroup starts empty)
    bundle.config["linux"]["cgroupsPath"] = rt.hand.path("a", "b")
    bundle.set_args("true")
    p = rt("run", "-b", str(bundle), "ct-cpuset")
    assert p.returncode == 0, f"{rt.name}: {p.err}"
    root = MOUNTED["cpuset"]
    for name in ("cpuset.cpus", "cpuset.mems"):
        with open(os.path.join(root, name)) as f:
            want = f.read().strip()
        for d in (parent, top):
            with open(os.path.join(d, name)) as f:
                assert f.read().strip() == want, f"{rt.name}: {d}/{name}"


def test_non_empty_cgroup_warns(rt, bundle):
    """Two containers in one cgroupsPath: the second starts, with runc's warnings."""
    bundle.config["linux"]["cgroupsPath"] = rt.hand.path("shared")
    bundle.set_args("sleep", "60")
    rt("run", "-d", "-b", str(bundle), "ct-first", check=True)
    p = rt("run", "-d", "-b", str(bundle), "ct-second")
    assert p.returncode == 0, f"{rt.name}: {p.err}"
    lines = p.err.splitlines()
    for msg in ("container's cgroup is not empty: 1 process(es) found",
                "DEPRECATED: running container in a non-empty cgroup won't be supported in "
                "runc 1.2; https://github.com/opencontainers/runc/issues/3132"):
        assert any(msg in line and "level=warning" in line for line in lines), \
            f"{rt.name}: {p.err}"
    assert rt.state("ct-second")["status"] == "running"
    log = os.path.join(os.path.dirname(rt.root), f"{rt.name}.log")
    p = rt("--log", log, "--log-format", "json", "run", "-d", "-b", str(bundle), "ct-third")
    assert p.returncode == 0, f"{rt.name}: {p.err}"
    with open(log) as f:
        entries = [json.loads(line) for line in f]
    assert {"level": "warning", "msg": "container's cgroup is not empty: 2 process(es) found"
            } in [{k: e[k] for k in ("level", "msg")} for e in entries], entries


@need_v1
def test_unified_on_v1_refused(rt, bundle):
    """linux.resources.unified on a v1 or hybrid host: refused up front."""
    bundle.config["linux"]["cgroupsPath"] = rt.hand.path("unified")
    bundle.config["linux"]["resources"]["unified"] = {"pids.max": "10"}
    bundle.write()
    p = rt("run", "-b", str(bundle), "ct-unified")
    assert p.returncode == 1, f"{rt.name}: {p.err}"
    assert "invalid configuration: cannot use unified on cgroup v1" in p.err, p.err
    if rt.name == "pyrunc":  # (its JSON path too, as every config error; `check` says it)
        assert "$.linux.resources.unified" in p.err
        chk = rt("check", str(bundle))
        assert chk.returncode != 0 and "cannot use unified on cgroup v1" in chk.out + chk.err
    _nothing_left(rt)


@pytest.mark.skipif(not (V1 and "unified" in MOUNTED), reason="needs a hybrid host")
def test_hybrid_cgroup_mount(rt, bundle):
    """A hybrid host: the container's /sys/fs/cgroup has the v1 hierarchies
    only (runc 1.1.5 mounts no unified/ there)."""
    bundle.set_args("sh", "-c", "ls /sys/fs/cgroup; grep -c ' cgroup2 ' /proc/self/mounts")
    p = rt("run", "-b", str(bundle), "ct-mounts")
    assert p.returncode == 1, f"{rt.name}: {p.err}"  # (grep -c found no cgroup2 mount)
    names = p.out.split()
    assert names[-1] == "0" and "unified" not in names and "memory" in names, p.out


def _device_rule(bundle, allow: bool, access: str) -> None:
    """Deny (or allow) all, then the opposite for /dev/fuse (c 10:229)."""
    bundle.config["linux"]["resources"]["devices"] = [
        {"allow": not allow, "access": "rwm"},
        {"allow": allow, "type": "c", "major": 10, "minor": 229, "access": access}]
    bundle.write()


@pytest.mark.parametrize("access,kept", [("rwmx", "rwm"), ("rx", "r"), ("mxw", "wm")])
def test_device_access_other_letters_ignored(rt, bundle, access, kept):
    """Letters other than r, w and m are ignored: the rule keeps the others."""
    _device_rule(bundle, True, access)
    bundle.set_args("sh", "-c", "cat /sys/fs/cgroup/devices/devices.list 2>/dev/null; true")
    p = rt("run", "-b", str(bundle), "ct-dev")
    assert p.returncode == 0, f"{rt.name}: {p.err}"
    if "devices" in MOUNTED:
        assert f"c 10:229 {kept}" in p.out.splitlines(), f"{rt.name}: {p.out}"


def test_device_access_deny_x_alone(rt, bundle):
    """A deny rule of "x" alone denies nothing, and the container runs."""
    _device_rule(bundle, False, "x")
    p = rt("run", "-b", str(bundle), "ct-dev")
    assert p.returncode == 0, f"{rt.name}: {p.err}"


@pytest.mark.parametrize("allow,access", [(True, ""), (False, ""), (True, "x")])
def test_device_access_refused(rt, bundle, allow, access):
    """An empty access is refused, and so is an allow rule that allows nothing
    (runc: at container init); nothing is left."""
    _device_rule(bundle, allow, access)
    p = rt("run", "-b", str(bundle), "ct-dev")
    assert p.returncode == 1, f"{rt.name}: {p.err}"
    if access == "":
        assert "cannot be empty" in p.err, p.err
    assert rt("state", "ct-dev").returncode != 0
