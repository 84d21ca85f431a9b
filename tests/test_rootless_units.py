"""rootless.py's pure parts: which resources are limits, /etc/subuid parsing,
the default state directory."""

import pytest

from pyrunc import rootless
from pyrunc.cgroups import delegated
from pyrunc.errors import PyruncError


@pytest.mark.parametrize("resources, field", [
    (None, None),
    ({"devices": [{"allow": False, "access": "rwm"}]}, None),
    ({"memory": {"limit": 1 << 20}}, "$.linux.resources.memory.limit"),
    ({"memory": {"swappiness": 0, "disableOOMKiller": False}}, None),
    ({"cpu": {"shares": 0, "cpus": "0"}}, "$.linux.resources.cpu.cpus"),
    ({"pids": {"limit": 0}}, "$.linux.resources.pids.limit"),  # (spec 1.3: 0 is a limit)
    ({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}, "$.linux.resources.hugepageLimits"),
    ({"unified": {"memory.high": "1M"}}, "$.linux.resources.unified.memory.high"),
])
def test_first_limit(resources, field):
    assert delegated.first_limit(resources) == field


def test_subordinate_ranges(tmp_path):
    f = tmp_path / "subuid"
    f.write_text("alice:100000:65536\n# comment\n1000:200000:10\nbob:300000:5\nbad:line\n")
    assert rootless.subordinate_ranges(str(f), "alice", 1000) == [(100000, 65536),
                                                                   (200000, 10)]
    assert rootless.subordinate_ranges(str(f), "carol", 1001) == []
    assert rootless.subordinate_ranges(str(tmp_path / "none"), "alice", 1000) == []


def test_default_root(monkeypatch):
    monkeypatch.setattr(rootless.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(rootless.os, "environ", {"XDG_RUNTIME_DIR": "/run/user/1000"})
    assert rootless.default_root("/run/pyrunc") == "/run/user/1000/pyrunc"
    monkeypatch.setattr(rootless.os, "environ", {})
    with pytest.raises(PyruncError, match="XDG_RUNTIME_DIR is not set"):
        rootless.default_root("/run/pyrunc")
    monkeypatch.setattr(rootless.os, "geteuid", lambda: 0)
    monkeypatch.setattr(rootless, "in_user_namespace", lambda: False)
    monkeypatch.setattr(rootless.os, "environ", {"XDG_RUNTIME_DIR": "/run/user/0"})
    assert rootless.default_root("/run/pyrunc") == "/run/pyrunc"


def test_detect(monkeypatch):
    assert rootless.detect("true") and not rootless.detect("false")
    with pytest.raises(PyruncError, match='invalid --rootless value "yes"'):
        rootless.detect("yes")
    monkeypatch.setattr(rootless.os, "geteuid", lambda: 0)
    monkeypatch.setattr(rootless, "in_user_namespace", lambda: True)
    assert rootless.detect("auto")
