"""maskedPaths, sysctls and /dev/console against a fake /proc, a swapped
/dev/null and bind mounts over procfs files:

- CVE-2019-16884, CVE-2023-27561: a tmpfs or a host directory mounted at /proc;
- CVE-2025-31133: maskedPaths through a /dev/null that is not the null device;
- CVE-2025-52565: /dev/console is the container's own pty;
- CVE-2025-52881: a sysctl written through a bind mount of a host file.
"""

import hashlib
import os

from consoles import ConsoleSocket, read_until


def _digest(path: str) -> tuple:
    st = os.lstat(path)
    with open(path, "rb") as f:
        return (st.st_ino, st.st_mode, st.st_size, hashlib.sha256(f.read()).hexdigest())


def _tree(path: str) -> list:
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out.append((p, st.st_mode, st.st_size, st.st_mtime_ns))
    return sorted(out)


MASK_CHECK = ("stat -f -c %T /proc; stat -c '%F %t:%T %s' /proc/version; "
              "head -c 16 /proc/version | wc -c; ls /proc/acpi 2>&1 | wc -l")
MASKS = ["/proc/kcore", "/proc/keys", "/proc/acpi", "/proc/version"]


def _mounts_after_proc(bundle, *entries: dict) -> None:
    mounts = bundle.config["mounts"]
    i = next(i for i, m in enumerate(mounts) if m["destination"] == "/proc")
    mounts[i + 1:i + 1] = list(entries)
    bundle.config["linux"]["maskedPaths"] = MASKS
    bundle.write()


# -- a fake /proc ----------------------------------------------------------------

def test_tmpfs_before_proc_masks_apply_to_real_procfs(runtime, bundle):
    """A tmpfs at /proc before the real proc mount: the proc mount covers it,
    and the masks land on the real procfs."""
    bundle.config["mounts"].insert(0, {"destination": "/proc", "type": "tmpfs",
                                       "source": "tmpfs"})
    bundle.config["linux"]["maskedPaths"] = MASKS
    bundle.write()
    out = runtime.run_output(bundle, "sh", "-c", MASK_CHECK, cid="ct-fakeproc").splitlines()
    assert out[0] == "proc", out
    assert out[1] == "character special file 1:3 0", out
    assert out[2] == "0", out  # /proc/version reads as /dev/null
    assert out[3] == "0", out  # /proc/acpi is an empty tmpfs (or absent)


def test_tmpfs_over_proc_after_the_real_one(runtime, bundle):
    """A tmpfs mounted over the real /proc: the masked files do not exist there
    (nothing to mask) and the real procfs is hidden under it. pyrunc accepts
    this (as runc does); nothing of procfs is exposed."""
    _mounts_after_proc(bundle, {"destination": "/proc", "type": "tmpfs", "source": "tmpfs"})
    p = runtime("run", "-b", str(bundle), "ct-tmpproc")
    if p.returncode != 0:
        assert p.err.startswith("pyrunc: ") and "Traceback" not in p.err, p.err
        return
    bundle.set_args("sh", "-c", "stat -f -c %T /proc; ls -A /proc | wc -l")
    out = runtime.run_output(bundle, "sh", "-c", "stat -f -c %T /proc; ls -A /proc | wc -l",
                             cid="ct-tmpproc2").split()
    assert out == ["tmpfs", "0"], out


def test_host_dir_bound_over_proc(runtime, bundle, host_dir):
    """A bind of a host directory at /proc after the real proc, holding files
    named like the masked paths: masking binds /dev/null over them inside the
    container's mount namespace only; the host directory is untouched."""
    for name in ("kcore", "keys"):
        with open(os.path.join(host_dir, name), "w") as f:
            f.write("HOST SECRET\n")
    os.mkdir(os.path.join(host_dir, "acpi"))
    before = _tree(host_dir)
    _mounts_after_proc(bundle, {"destination": "/proc", "type": "bind", "source": host_dir,
                                "options": ["rbind", "rw"]})
    bundle.set_args("sh", "-c", "cat /proc/kcore /proc/keys; echo x > /proc/kcore; ls /proc/acpi")
    p = runtime("run", "-b", str(bundle), "ct-hostproc")
    if p.returncode != 0:
        assert p.err.startswith("pyrunc: ") and "Traceback" not in p.err, p.err
    assert "HOST SECRET" not in p.out, p.out
    assert _tree(host_dir) == before
    for name in ("kcore", "keys"):
        with open(os.path.join(host_dir, name)) as f:
            assert f.read() == "HOST SECRET\n"


# -- CVE-2025-31133: /dev/null that is not the null device ------------------------

def test_dev_null_bound_to_a_host_file(runtime, bundle, host_dir):
    victim = os.path.join(host_dir, "victim")
    with open(victim, "w") as f:
        f.write("HOST FILE\n")
    before = _digest(victim)
    bundle.config["mounts"].append({"destination": "/dev/null", "type": "bind",
                                    "source": victim, "options": ["bind", "rw"]})
    bundle.config["linux"]["maskedPaths"] = ["/proc/kcore", "/proc/sys/kernel/core_pattern"]
    bundle.set_args("sh", "-c", "echo PWNED > /proc/kcore; "
                    "echo PWNED > /proc/sys/kernel/core_pattern")
    p = runtime("run", "-b", str(bundle), "ct-null")
    assert p.returncode != 0, p.out
    assert p.err.startswith("pyrunc: ") and "/dev/null" in p.err, p.err
    # refused before the masks: "/dev/null exists and is not the requested
    # device (1:3)"; the init's own check says "/dev/null is not the null device"
    assert "not the null device" in p.err or "not the requested device (1:3)" in p.err, p.err
    assert _digest(victim) == before
    with open("/proc/sys/kernel/core_pattern") as f:
        assert "PWNED" not in f.read()


def test_dev_null_symlink_to_a_host_file(runtime, bundle, host_dir):
    """No /dev tmpfs: the rootfs' own /dev/null is a symlink to a host file."""
    victim = os.path.join(host_dir, "victim")
    with open(victim, "w") as f:
        f.write("HOST FILE\n")
    before = _digest(victim)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if not m["destination"].startswith("/dev")]
    os.symlink(victim, bundle.rootfs / "dev" / "null")
    bundle.config["linux"]["maskedPaths"] = ["/proc/kcore"]
    bundle.set_args("sh", "-c", "stat -L -c '%F %t:%T' /dev/null; echo PWNED > /dev/null; "
                    "echo PWNED > /proc/kcore")
    p = runtime("run", "-b", str(bundle), "ct-nullsym")
    if p.returncode == 0:
        assert p.out.splitlines()[0] == "character special file 1:3", p.out
    else:
        assert p.err.startswith("pyrunc: ") and "Traceback" not in p.err, p.err
    assert _digest(victim) == before
    assert os.listdir(host_dir) == ["victim"]


# -- CVE-2025-52565: /dev/console is the container's pty ---------------------------

def test_dev_console_is_the_pty(runtime, bundle, tmp_path):
    bundle.config["process"]["terminal"] = True
    bundle.set_args("sh")
    sock = ConsoleSocket(str(tmp_path / "console.sock"))
    try:
        runtime("create", "-b", str(bundle), "--console-socket", sock.path, "ct-console",
                check=True)
        master = sock.wait_master()
        runtime("start", "ct-console", check=True)
        os.write(master, b"stat -c 'C %F %t:%T' /dev/console; stat -L -c 'T %t:%T' $(tty); "
                 b"grep -c ' /dev/console ' /proc/self/mountinfo; echo DONE$((1+1))\n")
        out = read_until(master, b"DONE2").decode()
        lines = {ln.split()[0]: ln for ln in out.replace("\r", "").splitlines()
                 if ln[:2] in ("C ", "T ")}
        assert lines["C"].startswith("C character special file 88:"), out  # 136 = 0x88
        assert lines["C"].split()[-1] == lines["T"].split()[-1], out
        os.write(master, b"exit\n")
        runtime.wait_stopped("ct-console")
    finally:
        sock.close()


# -- CVE-2025-52881: sysctls through a bind mount of a host file -------------------

def test_sysctl_through_a_bound_host_file(runtime, bundle, host_dir):
    victim = os.path.join(host_dir, "domainname")
    with open(victim, "w") as f:
        f.write("HOST FILE\n")
    before = _digest(victim)
    bundle.config["mounts"].append({"destination": "/proc/sys/kernel/domainname",
                                    "type": "bind", "source": victim, "options": ["bind", "rw"]})
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "pwned"}
    bundle.set_args("cat", "/proc/sys/kernel/domainname")
    p = runtime("run", "-b", str(bundle), "ct-sysctl")
    assert _digest(victim) == before, (p.returncode, p.err, open(victim).read())
    if p.returncode != 0:
        assert p.err.startswith("pyrunc: ") and "Traceback" not in p.err, p.err
