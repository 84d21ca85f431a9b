"""Checkpoint/restore tests: they need a kernel that CRIU supports, so they
are collected only inside the VM (RUN_IN_VM=1, set by shared/vm/run-in-vm);
tests/test_checkpoint.py boots that VM once to run them all."""

import os

if os.environ.get("RUN_IN_VM") != "1":
    collect_ignore_glob = ["test_*.py"]
