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
from pyrunc.config import schema
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
        | st.floats(allow_nan=False) | st.text(max_size=20),
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
