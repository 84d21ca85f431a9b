"""cgroup v2: the v2 tests (tests/vm_tier) run in one throw-away VM with pure
cgroup v2, booted once by shared/vm/run-in-vm."""

import os

import pytest
from vmtier import run_tier


@pytest.mark.skipif(os.environ.get("RUN_IN_VM") == "1", reason="already inside the VM")
def test_cgroup_v2_in_vm():
    run_tier("vm_tier")
