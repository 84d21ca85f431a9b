"""Rootless tests that need a machine of their own (pure cgroup v2, a cgroup
subtree delegated to the test's user): collected only inside the VM
(RUN_IN_VM=1); tests/test_rootless_vm.py boots it once to run them all."""

import os

if os.environ.get("RUN_IN_VM") != "1":
    collect_ignore_glob = ["test_*.py"]
