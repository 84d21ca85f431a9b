"""Rootless with a systemd user session (Delegate=yes): collected only inside
a VM booted with RUN_IN_VM_INIT=systemd; tests/test_rootless_vm.py boots it."""

import os

if os.environ.get("RUN_IN_VM") != "1" or not os.path.isdir("/run/systemd/system"):
    collect_ignore_glob = ["test_*.py"]
