"""Tests of the systemd cgroup driver: they need systemd as PID 1, so they are
collected only inside a VM booted with RUN_IN_VM_INIT=systemd, and
tests/test_cgroups_systemd.py boots that VM once to run them all."""

import os

if os.environ.get("RUN_IN_VM") != "1" or not os.path.isdir("/run/systemd/system"):
    collect_ignore_glob = ["test_*.py"]
