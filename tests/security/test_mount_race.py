"""CVE-2021-30465 with a race: while `pyrunc run` mounts a tmpfs and a bind
at /race, a host thread swaps rootfs/race between a directory and a symlink
to a host temp dir (renameat2 RENAME_EXCHANGE, in a tight loop). Nothing may
be mounted or created in the host dir, and no host mount may appear."""

import ctypes
import os
import shutil
import tempfile
import threading

from test_escapes import dir_snapshot, host_mount_points

RENAME_EXCHANGE = 2
AT_FDCWD = -100
libc = ctypes.CDLL(None, use_errno=True)


def _swapper(a: bytes, b: bytes, stop: threading.Event, count: list[int]) -> None:
    while not stop.is_set():
        if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
            count[0] += 1


def test_mount_destination_swapped_with_a_symlink(runtime, bundle):
    host_dir = tempfile.mkdtemp(prefix="pyrunc-host-", dir="/tmp")
    try:
        r = bundle.rootfs
        (r / "race").mkdir()
        os.symlink(host_dir, r / "race-alt")
        vol = bundle.path / "volume"
        vol.mkdir()
        (vol / "from-volume").write_text("")
        bundle.config["mounts"] += [
            {"destination": "/race", "type": "tmpfs", "source": "tmpfs",
             "options": ["size=64k"]},
            {"destination": "/race/sub", "type": "bind", "source": str(vol),
             "options": ["rbind", "ro"]},
        ]
        bundle.set_args("sh", "-c", "echo pwned > /race/file 2>/dev/null; true")
        before = dir_snapshot(host_dir)
        watched = (host_dir, str(bundle.path))
        mounts_before = host_mount_points(*watched)
        stop, count = threading.Event(), [0]
        t = threading.Thread(target=_swapper, args=(bytes(r / "race"), bytes(r / "race-alt"),
                                                    stop, count), daemon=True)
        t.start()
        results = []
        try:
            for i in range(40):
                p = runtime("run", "-b", str(bundle), f"ct-race{i}")
                results.append(p.returncode)
                if p.returncode != 0:
                    assert p.err.startswith("pyrunc: ") and "Traceback" not in p.err, p.err
                assert os.listdir(host_dir) == [], (i, os.listdir(host_dir))
                assert host_mount_points(*watched) == mounts_before
        finally:
            stop.set()
            t.join()
        assert count[0] > 100, count  # the swap really raced
        assert dir_snapshot(host_dir) == before
        assert os.listdir(host_dir) == []
        assert host_mount_points(*watched) == mounts_before
        print("run exit codes:", results, "swaps:", count[0])
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)
