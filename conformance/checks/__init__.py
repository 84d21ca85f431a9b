"""The checks, one module per area. Importing a module registers its checks
(in file order) with conformance.harness.CHECKS."""

import importlib

MODULES = ["lifecycle", "errors", "process", "mounts", "namespaces", "devices", "cgroups",
           "security", "hooks"]


def load_all() -> None:
    for m in MODULES:
        importlib.import_module(f"conformance.checks.{m}")
