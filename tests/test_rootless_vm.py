"""Rootless with a delegated cgroup v2 subtree: tests/vm_rootless in one
throw-away VM (pure cgroup v2), and tests/vm_rootless_systemd in one with
systemd as PID 1 (a user session's Delegate=yes scope), each booted once by
shared/vm/run-in-vm."""

import os

import pytest
from vmtier import run_tier


@pytest.mark.skipif(os.environ.get("RUN_IN_VM") == "1", reason="already inside the VM")
def test_rootless_delegated_cgroup_in_vm():
    run_tier("vm_rootless")


@pytest.mark.skipif(os.environ.get("RUN_IN_VM") == "1", reason="already inside the VM")
def test_rootless_systemd_user_session_in_vm():
    run_tier("vm_rootless_systemd", init="systemd")
