"""The Python API drives a full lifecycle; --trace explains a create."""

import os
import time

import pytest

from pyrunc.api import Runtime
from pyrunc.errors import PyruncError


def test_api_full_lifecycle(runtime, bundle):
    bundle.set_args("sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done")
    rt = Runtime(runtime.root)
    runtime.ids.add("ct-api")
    st = rt.create("ct-api", str(bundle))
    assert st["status"] == "created" and st["pid"] > 0
    rt.start("ct-api")
    assert rt.state("ct-api")["status"] == "running"
    assert [s["id"] for s in rt.list()] == ["ct-api"]
    assert rt.exec("ct-api", ["sh", "-c", "exit 5"]) == 5
    assert rt.exec("ct-api", ["true"], user="1000:1000", cwd="/tmp") == 0
    assert runtime.state("ct-api")["status"] == "running"  # the CLI sees the same
    with pytest.raises(PyruncError, match="not stopped"):
        rt.delete("ct-api")
    rt.kill("ct-api", "TERM")
    for _ in range(200):
        rt.reap()
        if rt.state("ct-api")["status"] == "stopped":
            break
        time.sleep(0.02)
    assert rt.state("ct-api")["status"] == "stopped"
    rt.delete("ct-api")
    with pytest.raises(PyruncError, match="does not exist"):
        rt.state("ct-api")


def test_trace_lists_steps_with_durations(runtime, bundle, tmp_path):
    bundle.set_args("true")
    p = runtime("--trace", "run", "-b", str(bundle), "ct-tr")
    assert p.returncode == 0, p.err
    lines = [line for line in p.err.splitlines() if line.strip().endswith(tuple("0123456789"))
             or "us " in line]
    steps = [line.split("us", 2)[-1].strip() for line in p.err.splitlines()[1:]]
    order = ["pyrunc: config.json loaded and validated", "pyrunc: plan written",
             "stage 1: namespaces joined", "init: pivot_root done",
             "init: process attributes applied", "pyrunc: container created"]
    positions = []
    for step in order:
        found = [i for i, s in enumerate(steps) if s.startswith(step)]
        assert found, (step, p.err)
        positions.append(found[0])
    assert positions == sorted(positions)
    assert any("init: mounted $.mounts[0] (/proc)" in s for s in steps)
    times = [int(line.split("us")[0]) for line in p.err.splitlines()[1:-1]]
    assert times == sorted(times)
    del lines
    env = {**os.environ, "PYRUNC_TRACE": str(tmp_path / "trace.txt")}
    runtime("run", "-b", str(bundle), "ct-tr2", check=True, env=env)
    text = (tmp_path / "trace.txt").read_text()
    assert "pyrunc trace: run ct-tr2" in text and "init: pivot_root done" in text
