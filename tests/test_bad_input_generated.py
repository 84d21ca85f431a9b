"""A generated bad-input corpus: every field of a full config.json given a
value of the wrong type (and out-of-range numbers), through the CLI, plus a
hypothesis fuzz of config loading in-process. Each case: exit 1, one line
naming the JSON path, no traceback, nothing left behind."""

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrunc import plan as plan_mod
from pyrunc.config import load as config_mod
from pyrunc.config import schema, textcheck
from pyrunc.errors import PyruncError

FULL = {
    "ociVersion": "1.3.0",
    "process": {
        "terminal": False, "user": {"uid": 0, "gid": 0, "umask": 18, "additionalGids": [1]},
        "args": ["true"], "env": ["PATH=/bin"], "cwd": "/",
        "capabilities": {k: ["CAP_KILL"] for k in ("bounding", "effective", "inheritable",
                                                   "permitted", "ambient")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True, "oomScoreAdj": 0,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "h", "domainname": "d",
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc",
                "options": ["nosuid"]}],
    "hooks": {"poststop": [{"path": "/bin/true", "args": ["true"], "env": ["A=1"],
                            "timeout": 5}]},
    "annotations": {"a": "b"},
    "linux": {
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        "devices": [{"path": "/dev/x", "type": "c", "major": 1, "minor": 3,
                     "fileMode": 438, "uid": 0, "gid": 0}],
        "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
        "sysctl": {"net.ipv4.ip_forward": "0"},
        "cgroupsPath": "/pyrunc-gen-test",
        "rootfsPropagation": "rprivate",
    },
}


def _leaves(node, path="$"):
    """(path, key-path list, value) for every value in the document."""
    out = [(path, [], node)]
    if isinstance(node, dict):
        for k, v in node.items():
            for p, keys, val in _leaves(v, f"{path}.{k}"):
                out.append((p, [k, *keys], val))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            for p, keys, val in _leaves(v, f"{path}[{i}]"):
                out.append((p, [i, *keys], val))
    return out


def _wrong_values(value):
    if isinstance(value, bool):
        return ["yes", 1]
    if isinstance(value, int):
        return ["1", 2**70, -(2**70), 1.5]
    if isinstance(value, str):
        return [7, None, ["x"]]
    if isinstance(value, list):
        return [{}, "x"]
    if isinstance(value, dict):
        return [[], 3]
    return []


def _cases():
    cases = []
    for path, keys, value in _leaves(FULL)[1:]:
        for wrong in _wrong_values(value):
            if keys and keys[0] == "annotations":
                continue
            cases.append(pytest.param(keys, wrong, path, id=f"{path}={json.dumps(wrong)}"))
    return cases


CASES = _cases()


def _set(doc, keys, value):
    node = doc
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


def test_corpus_is_large():
    assert len(CASES) >= 200


@pytest.mark.parametrize("keys,wrong,path", CASES)
def test_wrong_value(runtime, bundle, keys, wrong, path):
    doc = copy.deepcopy(FULL)
    _set(doc, keys, wrong)
    bundle.config = doc
    bundle.write()
    p = runtime("create", "-b", str(bundle), "ct-gen")
    # wrong types are errors, except where the type is loose on purpose
    assert p.returncode == 1, (path, wrong, p.err)
    assert "Traceback" not in p.err
    lines = p.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrunc: "), p.err
    top = path.split(".")[1].split("[")[0]
    assert f"$.{top}" in lines[0], (path, lines[0])
    assert not os.path.exists(os.path.join(runtime.root, "ct-gen"))


def _json_values():
    return st.recursive(
        st.none() | st.booleans() | st.integers(min_value=-(2**66), max_value=2**66)
        | st.floats(allow_nan=False) | st.text(max_size=20)
        | st.sampled_from(["\ud800", "a\udfff", "\u0000", "a\u0000b", "\U0001F600"]),
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4),
        max_leaves=10)


PATHS = [keys for _, keys, _ in _leaves(FULL)[1:]]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), _json_values())
def test_fuzz_config_loading(keys, value):
    """Loading, checking and planning never fail but with a PyruncError."""
    doc = copy.deepcopy(FULL)
    try:
        _set(doc, keys, value)
    except (KeyError, IndexError, TypeError):
        return
    try:
        textcheck.check(doc, "config.json", config_mod.NUL_OK)
        schema.validate(doc, "config", "config.json")
        config_mod.check(doc)
        plan_mod.build_create(doc, "/tmp/bundle", "/tmp/bundle/rootfs")
    except PyruncError as e:
        msg = str(e)
        assert msg and "\n" not in msg.strip()


@pytest.mark.parametrize("key", ["major", "minor", "uid", "gid"])
@pytest.mark.parametrize("value", [-1, 1 << 32])
def test_device_numbers_out_of_range(key, value):
    """Found by test_fuzz_config_loading: a device number that does not fit the
    plan's u32 is a one-line error naming the field, not a struct.error."""
    doc = copy.deepcopy(FULL)
    doc["linux"]["devices"][0][key] = value
    # (uid and gid: already the schema; major and minor: the plan)
    with pytest.raises(PyruncError, match=rf"\$\.linux\.devices\[0\]\.{key}: \S"):
        schema.validate(doc, "config", "config.json")
        config_mod.check(doc)
        plan_mod.build_create(doc, "/tmp/bundle", "/tmp/bundle/rootfs")


# -- text the kernel cannot take, and nesting: every string field ------------------

STRINGS = [(textcheck.format_path(keys), keys) for _, keys, value in _leaves(FULL)[1:]
           if isinstance(value, str)]
BAD_TEXT = {"lone-high-surrogate": "\ud800", "lone-low-surrogate": "x\udfffy",
            "nul": "a\u0000b"}


def test_every_string_field_is_covered():
    assert len(STRINGS) >= 30
    assert {"$.hostname", "$.process.args[0]", "$.process.env[0]", "$.process.cwd",
            "$.mounts[0].destination", "$.linux.cgroupsPath",
            "$.linux.maskedPaths[0]"} <= {p for p, _ in STRINGS}


def _check_findings(runtime, bundle) -> list[dict]:
    p = runtime("check", str(bundle), "--format", "json")
    assert "Traceback" not in p.err, p.err
    return json.loads(p.out)


@pytest.mark.parametrize("kind", sorted(BAD_TEXT))
@pytest.mark.parametrize("path,keys", STRINGS, ids=[p for p, _ in STRINGS])
def test_bad_text_in_string_field(runtime, bundle, path, keys, kind):
    """A lone surrogate (JSON allows "\\ud800", UTF-8 cannot encode it) or a NUL
    in any string: one line naming the field, found before anything is made,
    and by `pyrunc check` too. (NUL is taken in annotations: they never reach
    the kernel.)"""
    doc = copy.deepcopy(FULL)
    _set(doc, keys, BAD_TEXT[kind])
    bundle.config = doc
    bundle.write()
    p = runtime("create", "-b", str(bundle), "ct-text")
    if kind == "nul" and keys[0] == "annotations":
        assert "Traceback" not in p.err
        runtime("delete", "-f", "ct-text")
        return
    assert p.returncode == 1, (path, p.err)
    lines = p.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pyrunc: config.json: {path}: contains "), \
        p.err
    assert not os.path.exists(os.path.join(runtime.root, "ct-text"))
    findings = _check_findings(runtime, bundle)
    assert {"severity": "error", "path": path} in [
        {k: f[k] for k in ("severity", "path")} for f in findings], findings


@pytest.mark.parametrize("keys,path", [
    (["annotations", "k\ud800"], '$.annotations["k\\ud800"]'),
    (["linux", "sysctl", "net.ipv4.ip\u0000forward"],
     '$.linux.sysctl["net.ipv4.ip\\u0000forward"]'),
])
def test_bad_text_in_key(runtime, bundle, keys, path):
    doc = copy.deepcopy(FULL)
    _set(doc, keys, "1")
    bundle.config = doc
    bundle.write()
    p = runtime("create", "-b", str(bundle), "ct-text")
    assert p.returncode == 1
    assert p.err == f"pyrunc: config.json: {path}: the key contains " + p.err.split(
        ": the key contains ", 1)[1], p.err
    assert p.err.count("\n") == 1


def test_surrogate_pair_is_text(runtime, bundle):
    """A surrogate *pair* is one character (U+1F600): it is taken."""
    bundle.config["hostname"] = "h\ud83d\ude00"
    bundle.config["process"]["args"] = ["hostname"]
    bundle.write()
    p = runtime("run", "-b", str(bundle), "ct-text")
    assert p.returncode == 0, p.err
    assert p.out.strip() == "h\U0001F600"


@pytest.mark.parametrize("path,keys", STRINGS, ids=[p for p, _ in STRINGS])
def test_overlong_string_field(runtime, bundle, path, keys):
    """100 000 characters in any string field: created, or one line, no
    traceback, nothing left behind."""
    doc = copy.deepcopy(FULL)
    value = doc
    for k in keys:
        value = value[k]
    long = ("/" if value.startswith("/") else "") + "\u00e9" * 100_000
    _set(doc, keys, long)
    bundle.config = doc
    bundle.write()
    p = runtime("create", "-b", str(bundle), "ct-long")
    assert "Traceback" not in p.err, p.err[-2000:]
    if p.returncode == 0:
        runtime("delete", "-f", "ct-long", check=True)
    else:
        assert p.returncode == 1 and p.err.count("\n") == 1 and p.err.startswith("pyrunc: ")
        assert not os.path.exists(os.path.join(runtime.root, "ct-long"))


def test_not_utf8_names_where(runtime, bundle):
    """Raw bytes that are not UTF-8 (an overlong encoding of NUL, C0 80)."""
    text = json.dumps(FULL, indent=1).replace('"h"', '"h\udcc0\udc80"')
    (bundle.path / "config.json").write_bytes(text.encode(errors="surrogateescape"))
    p = runtime("create", "-b", str(bundle), "ct-text")
    assert p.returncode == 1
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"h\udcc0' in t)
    assert p.err.startswith(f"pyrunc: config.json: not UTF-8 text (byte 0xc0 at line {line} "), \
        p.err
    assert p.err.count("\n") == 1


DEEP_PLACES = {"annotation": ["annotations", "a"], "extension": ["linux", "x-ext"],
               "process extension": ["process", "x-ext"]}


@pytest.mark.parametrize("depth", [150, 1000, 100_000])
@pytest.mark.parametrize("place", sorted(DEEP_PLACES))
def test_deeply_nested_config(runtime, bundle, place, depth):
    """Nesting past the limit (pyrunc reads 100 levels) is one line, from the
    create and from `check`: never a RecursionError."""
    doc = copy.deepcopy(FULL)
    _set(doc, DEEP_PLACES[place], "DEEP")
    text = json.dumps(doc).replace('"DEEP"', "[" * depth + "]" * depth)
    (bundle.path / "config.json").write_text(text)
    p = runtime("create", "-b", str(bundle), "ct-deep")
    assert p.returncode == 1 and p.err.count("\n") == 1, p.err[-2000:]
    assert "nested" in p.err and "Traceback" not in p.err
    if depth == 150:
        where = "$." + ".".join(DEEP_PLACES[place]).replace(".x-ext", '["x-ext"]')
        assert f"config.json: {where}[0]: nested more than 100 levels deep" in p.err, p.err
    findings = _check_findings(runtime, bundle)
    assert any("nested" in f["message"] and f["severity"] == "error" for f in findings)


def test_deeply_nested_process_json(runtime, bundle, tmp_path):
    bundle.set_args("sh", "-c", "while :; do sleep 1; done")
    runtime("run", "-d", "-b", str(bundle), "ct-deep", check=True)
    for depth in (150, 1000, 100_000):
        f = tmp_path / "process.json"
        f.write_text('{"args": ["true"], "cwd": "/", "x": ' + "[" * depth + "]" * depth + "}")
        p = runtime("exec", "--process", str(f), "ct-deep")
        assert p.returncode in (1, 255) and p.err.count("\n") == 1, p.err[-2000:]
        assert "process.json" in p.err and "nested" in p.err, p.err


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_state_json(runtime, bundle, depth):
    """A state.json damaged to deep nesting reads as a damaged one: no
    command that reads it fails with a traceback."""
    bundle.set_args("true")
    runtime("create", "-b", str(bundle), "ct-deep", check=True)
    state = os.path.join(runtime.root, "ct-deep", "state.json")
    with open(state) as f:
        good = f.read()
    with open(state, "w") as f:
        f.write('{"x": ' + "[" * depth + "]" * depth + "}")
    for args in (("state", "ct-deep"), ("list",), ("kill", "ct-deep", "9")):
        p = runtime(*args)
        assert "Traceback" not in p.err and p.err.count("\n") <= 1, (args, p.err[-2000:])
    with open(state, "w") as f:
        f.write(good)  # (the init still waits: let delete find it)
    runtime("delete", "-f", "ct-deep", check=True)


def test_exec_argv_bytes_that_are_not_utf8(runtime, bundle):
    """A command line is bytes, not JSON: bytes that are not UTF-8 in exec's
    arguments and -e reach the process unchanged (as with runc), no traceback."""
    bundle.set_args("sleep", "1000")
    runtime("run", "-d", "-b", str(bundle), "ct-argv", check=True)
    p = runtime("exec", "-e", b"X=\xff\xc0\x80", "ct-argv", "sh", "-c",
                'printf "%s|%s" "$1" "$X"', "sh", b"a\xffb")
    assert p.returncode == 0, p.err
    assert p.stdout == b"a\xffb|\xff\xc0\x80"


@pytest.mark.parametrize("text,where", [
    ('{"cpu": {"cpus": "\\ud800"}}', "$.cpu.cpus: contains a lone UTF-16 surrogate"),
    ('{"unified": {"a\\u0000": "1"}}', '$.unified["a\\u0000"]: the key contains a NUL'),
    ('{"cpu": {"cpus": ' + "[" * 5000 + "]" * 5000 + "}}", "nested too deeply"),
])
def test_update_resources_text_and_nesting(runtime, bundle, tmp_path, text, where):
    bundle.set_args("sleep", "1000")
    runtime("run", "-d", "-b", str(bundle), "ct-upd", check=True)
    f = tmp_path / "resources.json"
    f.write_text(text)
    p = runtime("update", "--resources", str(f), "ct-upd")
    assert p.returncode == 1 and p.err.count("\n") == 1, p.err[-2000:]
    assert p.err.startswith(f"pyrunc: update: --resources {f}: ") and where in p.err, p.err
    p = runtime("update", "--cpuset-cpus", b"0\xff", "ct-upd")
    assert p.returncode == 1 and "--cpuset-cpus" in p.err and p.err.count("\n") == 1, p.err
