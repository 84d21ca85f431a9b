"""Running a tier of tests in one throw-away VM (shared/vm/run-in-vm, from
../shared beside the repository): the host's cgroups are a v1 hybrid that
must not be remounted, so cgroup v2 and systemd are tested there."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import shared_path  # noqa: E402

RUN_IN_VM = shared_path("vm", "run-in-vm")


def run_tier(tier: str, *, cgroup: str = "v2", init: str | None = None) -> None:
    """Boot the VM once and run `pytest tests/<tier>` in it; assert that all passed."""
    if not os.path.exists(RUN_IN_VM):
        pytest.skip(f"{RUN_IN_VM} is absent: the {tier} tests need its VM")
    if os.geteuid() != 0:
        pytest.skip("run-in-vm needs root")
    env = {**os.environ, "RUN_IN_VM_TIMEOUT": os.environ.get("RUN_IN_VM_TIMEOUT", "1500")}
    if init:
        env["RUN_IN_VM_INIT"] = init
    env["PYRUNC_VM_CGROUP"] = cgroup
    # The guest reads the host's files live: pyrunc's installed package is copied
    # into the guest first, so that a reinstall on the host meanwhile cannot
    # pull it from under the tests (PYTHONPATH puts the copy first).
    script = ('set -e; pkg=$("$0" -I -c "import os, pyrunc; print(os.path.dirname('
              'pyrunc.__file__))"); mkdir -p /tmp/pyrunc-snapshot; '
              'cp -a "$pkg" /tmp/pyrunc-snapshot/; export PYTHONPATH=/tmp/pyrunc-snapshot; '
              f'exec "$0" -m pytest tests/{tier} -q -p no:cacheprovider -rs')
    cmd = ["bash", RUN_IN_VM, "--cgroup", cgroup, "--", "sh", "-c", script, sys.executable]
    p = subprocess.run(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=1800)
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    assert p.returncode == 0, f"exit {p.returncode}\n{out[-6000:]}\n{err[-3000:]}"
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, \
        f"{summary}\n{out[-6000:]}"
