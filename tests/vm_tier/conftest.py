"""Tests that need a machine of their own (a VM with pure cgroup v2): they are
collected only inside it (RUN_IN_VM=1, set by shared/vm/run-in-vm), and
tests/test_cgroups_v2.py boots that VM once to run them all."""

import os

if os.environ.get("RUN_IN_VM") != "1":
    collect_ignore_glob = ["test_*.py"]
