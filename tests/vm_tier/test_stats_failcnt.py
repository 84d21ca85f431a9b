"""Issue 20, on cgroup v2 (inside the VM): after an 8 MiB limit was hit,
`events --stats` gives memory.usage.failcnt from memory.events `max` (the
times the limit was hit; runc 1.1.5 leaves it 0 on v2)."""

import json
import os

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("RUN_IN_VM") != "1",
                                reason="runs only inside the VM (RUN_IN_VM=1)")
MiB = 1 << 20


def test_memory_failcnt_counts_limit_hits(runtime, bundle):
    bundle.config["linux"]["resources"] = {"memory": {"limit": 8 * MiB}}
    bundle.set_args("sleep", "1000")
    runtime("run", "-d", "-b", str(bundle), "ct-fail", check=True, timeout=300)
    hog = runtime("exec", "ct-fail", "sh", "-c",
                  "x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo survived", timeout=300)
    assert hog.returncode == 137 and "survived" not in hog.out
    mem = json.loads(runtime("events", "--stats", "ct-fail", check=True).out)["data"]["memory"]
    with open(os.path.join(runtime.root, "ct-fail", "state.json")) as f:
        d = json.load(f)["cgroup"]["unified"]
    with open(os.path.join(d, "memory.events")) as f:
        events = dict(line.split() for line in f)
    assert int(events["max"]) > 0
    # (read after the stats: the count only grows)
    assert 0 < mem["usage"]["failcnt"] <= int(events["max"])
    assert int(events["oom_kill"]) >= 1
    assert "event_count" not in mem  # (runc's stats have none: the parity tier's finding)
