"""Unit tests of the pure-Python parts (no containers)."""

import json
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrunc import plan, state
from pyrunc.cgroups import host as cgroups
from pyrunc.errors import ConfigError, PyruncError
from pyrunc.linux import mounts, signals
from pyrunc.util import fastjson

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_plan_constants_match_c_header():
    """plan.py and csrc/plan.h must agree on every record number and the magic."""
    with open(os.path.join(REPO, "csrc", "plan.h")) as f:
        header = f.read()
    c_values = {m[0]: int(m[1]) for m in re.findall(r"\b(R_[A-Z_]+) = (\d+),", header)}
    py_values = {k: v for k, v in vars(plan).items() if k.startswith("R_") and isinstance(v, int)}
    assert c_values == py_values
    assert f'PLAN_MAGIC "{plan.MAGIC.decode()}"' in header
    assert f"PLAN_VERSION {plan.VERSION}" in header


def test_plan_records_are_well_formed():
    p = plan.Plan()
    p.add(plan.R_ARGS, b"sh\0-c\0")
    p.add(plan.R_READONLY_ROOT)
    data = p.bytes()
    assert data[:4] == b"PYRP"
    off, seen = 8, []
    while off < len(data):
        rtype = int.from_bytes(data[off:off + 2], "little")
        length = int.from_bytes(data[off + 4:off + 8], "little")
        seen.append((rtype, data[off + 8:off + 8 + length]))
        off += 8 + length
    assert off == len(data)
    assert seen == [(plan.R_ARGS, b"sh\0-c\0"), (plan.R_READONLY_ROOT, b"")]


def test_plan_refuses_nul_bytes():
    with pytest.raises(ConfigError, match=r"\$\.process\.args"):
        plan._cstr("a\0b", "$.process.args")


@pytest.mark.parametrize("text,num", [("9", 9), ("KILL", 9), ("SIGKILL", 9), ("kill", 9),
                                      ("TERM", 15), ("SIGUSR1", 10), ("RTMIN+2", 36),
                                      ("SIGRTMAX-1", 63), ("64", 64)])
def test_parse_signal(text, num):
    assert signals.parse_signal(text) == num


@pytest.mark.parametrize("text", ["0", "65", "FOO", "SIGFOO", "RTMIN+40", "", "-9"])
def test_parse_signal_bad(text):
    with pytest.raises(PyruncError):
        signals.parse_signal(text)


@pytest.mark.parametrize("doc", [
    {"a": [1, 2.5, True, False, None, "x\"y\\z\n\u00e9\U0001f600"], "b": {}, "c": []},
    [], "plain", 12345678901234567890, -0.5,
])
def test_fastjson_roundtrip(doc):
    assert json.loads(fastjson.dumps(doc)) == doc
    assert json.loads(fastjson.dumps(doc, indent=2)) == doc
    assert fastjson.loads(json.dumps(doc)) == doc


@pytest.mark.parametrize("text", ["", "{", "{}x", "[1,]", "{'a': 1}", "nul", "1 2"])
def test_fastjson_rejects(text):
    with pytest.raises(ValueError):
        fastjson.loads(text)


@pytest.mark.parametrize("cid", ["a", "abc-DEF_1.2+3", "x" * 255])
def test_valid_ids(cid):
    state.validate_id(cid)


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "a b", "x" * 256, "é", "a\0b"])
def test_invalid_ids(cid):
    with pytest.raises(PyruncError):
        state.validate_id(cid)


def test_rfc3339():
    t = state.now_rfc3339()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", t)


def test_proc_start_time_of_self_and_missing():
    assert isinstance(state.proc_start_time(os.getpid()), int)
    assert state.proc_start_time(2**22 + 12345) is None


def test_mount_options():
    flags, prop, data = mounts.parse_options(
        ["nosuid", "noexec", "ro", "rw", "rbind", "rslave", "size=1m", "mode=755"], "$.m")
    assert flags == mounts.MS_NOSUID | mounts.MS_NOEXEC | mounts.MS_BIND | mounts.MS_REC
    assert prop == mounts.MS_SLAVE | mounts.MS_REC
    assert data == "size=1m,mode=755"
    with pytest.raises(ConfigError, match=r"\$\.m\.options\[0\]"):
        mounts.parse_options(["a,b"], "$.m")


FAKE_MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_cgroup_hierarchies_from_mountinfo(tmp_path):
    mi = tmp_path / "mountinfo"
    mi.write_text(FAKE_MOUNTINFO)
    hs = cgroups.hierarchies(str(mi))
    assert [(h.name, h.mountpoint, h.version) for h in hs] == [
        ("cpu", "/sys/fs/cgroup/cpu", 1),
        ("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct", 1),
        ("name=systemd", "/sys/fs/cgroup/systemd", 1),
        ("", "/sys/fs/cgroup/unified", 2)]
    assert cgroups.mode(hs) == "hybrid"
    assert cgroups.mode([hs[-1]]) == "v2"
    assert cgroups.mode(hs[:2]) == "v1"
    assert hs[2].dirname == "systemd" and hs[3].dirname == "unified"


def test_cgroup_create_and_remove_fake_tree(tmp_path):
    """Removal takes only what was made, deepest first."""
    parent = tmp_path / "memory"
    (parent / "keep").mkdir(parents=True)
    target = parent / "a" / "b"
    made = cgroups.create({"memory": str(target)})
    assert made == [str(parent / "a"), str(target)]
    cgroups.remove(made)
    assert not (parent / "a").exists() and (parent / "keep").exists()


def test_cpuset_copied_from_parent(tmp_path):
    parent = tmp_path / "cpuset"
    (parent / "child").mkdir(parents=True)
    (parent / "cpuset.cpus").write_text("0-1\n")
    (parent / "cpuset.mems").write_text("0\n")
    # the kernel makes these files empty in a new cgroup
    (parent / "child" / "cpuset.cpus").write_text("")
    (parent / "child" / "cpuset.mems").write_text("")
    (parent / "child" / "own").mkdir()  # a level that has its own cpus: kept
    (parent / "child" / "own" / "cpuset.cpus").write_text("1\n")
    (parent / "child" / "own" / "cpuset.mems").write_text("")
    cgroups._fill_cpusets(str(parent / "child" / "own"))
    assert (parent / "child" / "cpuset.cpus").read_text() == "0-1"
    assert (parent / "child" / "cpuset.mems").read_text() == "0"
    assert (parent / "child" / "own" / "cpuset.cpus").read_text() == "1\n"
    assert (parent / "child" / "own" / "cpuset.mems").read_text() == "0"


def test_cgroups_path_forms():
    with pytest.raises(PyruncError, match="systemd"):
        cgroups.container_paths("system.slice:pyrunc:x", "x")
    with pytest.raises(PyruncError, match="invalid cgroupsPath"):
        cgroups.container_paths("/a/../b", "x")
    paths = cgroups.container_paths("/pyrunc-test/abc", "x")
    assert all(p.endswith("/pyrunc-test/abc") for p in paths.values())
    own = cgroups.own_cgroups()
    rel = cgroups.container_paths(None, "myid")
    for name, path in rel.items():
        key = "" if name == "unified" else name
        assert path.endswith(os.path.join(own.get(key, "/"), "myid"))


_PATHS = st.text(alphabet="/.ab", max_size=12)


@settings(max_examples=400, deadline=None)
@given(_PATHS, st.lists(_PATHS, max_size=3))
def test_fastos_paths_agree_with_posixpath(p, rest):
    """fastos's path functions give posixpath's results, for any str path."""
    import posixpath

    from pyrunc.util import fastos

    assert fastos.path.join(p, *rest) == posixpath.join(p, *rest)
    for name in ("dirname", "basename", "isabs", "normpath", "abspath", "exists", "isdir",
                 "islink"):
        assert getattr(fastos.path, name)(p) == getattr(posixpath, name)(p), (name, p)


def test_fastos_paths_of_other_types(tmp_path):
    """bytes and pathlib paths get posixpath's answers too (the API takes them)."""
    import posixpath

    from pyrunc.util import fastos

    for args in ((tmp_path, "a"), (b"/x/../y", b"z")):
        assert fastos.path.join(*args) == posixpath.join(*args)
        for name in ("dirname", "basename", "isabs", "normpath", "abspath", "exists", "isdir",
                     "islink"):
            assert getattr(fastos.path, name)(args[0]) == getattr(posixpath, name)(args[0])


def test_fastos_is_os_without_importing_it(tmp_path, monkeypatch):
    """The functions and constants are os's own; a name fastos does not define
    comes from the real os; environ reads what os.environ reads, also after a
    change made through os."""
    from pyrunc.util import fastos

    assert fastos.open is os.open and fastos.O_CLOEXEC == os.O_CLOEXEC
    assert fastos.path.isdir(str(tmp_path)) and fastos.path.islink("/proc/self")
    assert fastos.makedirs is os.makedirs and fastos.path.realpath is os.path.realpath
    monkeypatch.setenv("PYRUNC_TEST_ENV", "changed")
    assert fastos.environ.get("PYRUNC_TEST_ENV") == "changed"
    assert "PYRUNC_TEST_ENV" in fastos.environ and dict(fastos.environ.items()) == os.environ


def test_fastos_environ_before_os_is_loaded():
    """Without os loaded, environ is the process's environment decoded as os
    decodes it (a byte that is not UTF-8 included), and reading it loads no os."""
    import subprocess
    import sys

    code = ("import sys; from pyrunc.util import fastos; v = fastos.environ.get('PYRUNC_X'); "
            "print(ascii(v), 'PYRUNC_X' in fastos.environ, 'os' in sys.modules)")
    env = {b"PYRUNC_X": b"a\xffb", b"PYTHONPATH": os.path.dirname(os.path.dirname(
        os.path.dirname(fastos_file()))).encode()}
    out = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True,
                         check=True).stdout.decode()
    assert out.split() == [ascii("a\udcffb"), "True", "False"]


def fastos_file() -> str:
    from pyrunc.util import fastos

    return fastos.__file__
