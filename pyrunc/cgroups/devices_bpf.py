"""Device rules on cgroup v2: an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE)
attached to the container's cgroup, built and loaded by csrc/devfilter.c."""

import os

from ..errors import PyruncError

ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE


def reduce(rules: list[tuple[bool, str, int, int, str]]
           ) -> tuple[bool, list[tuple[bool, str, int, int, str]]]:
    """(default, rules that still matter): a rule for all devices and all
    access ("a", as the first of most configs) resets what came before, as
    it does on cgroup v1, and its allow flag becomes the default."""
    default, start = False, 0
    for i, (allow, t, major, minor, access) in enumerate(rules):
        if t == "a" and major < 0 and minor < 0 and set(access) >= set("rwm"):
            default, start = allow, i + 1
    return default, rules[start:]


def apply(cgroup_dir: str, rules: list[tuple[bool, str, int, int, str]], field: str) -> None:
    from .._shim import ffi, lib

    default, rest = reduce(rules)
    arr = ffi.new("struct pyrunc_dev_rule[]", max(1, len(rest)))
    for i, (allow, t, major, minor, access) in enumerate(rest):
        arr[i].allow = int(allow)
        arr[i].type = 0 if t == "a" else ord(t)
        arr[i].major = major
        arr[i].minor = minor
        arr[i].access = sum(ACCESS[c] for c in set(access))
    log = ffi.new("char[]", 1 << 16)
    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        rc = lib.pyrunc_devices_bpf(fd, arr, len(rest), int(default), log, 1 << 16)
    finally:
        os.close(fd)
    if rc < 0:
        detail = ffi.string(log).decode(errors="replace").strip().splitlines()
        raise PyruncError(f"{field}: loading the cgroup v2 device filter (eBPF) into "
                          f"{cgroup_dir}: {os.strerror(-rc)}"
                          + (f" ({detail[-1]})" if detail else ""))
