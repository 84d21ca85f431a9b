"""Parity of the commands' own flags: create's and run's, exec's, update's."""

import json
import os

from .harness import differs, same

SLEEP = ("sleep", "100")


def test_create_flags(both, tmp_path):
    """--pid-file (the pid, no newline), --no-pivot, --no-new-keyring, --preserve-fds."""
    def scenario(s):
        s.bundle.set_args(*SLEEP)
        pidfile = tmp_path / f"{s.name}.pid"
        res = s("create", "-b", str(s.bundle), "--pid-file", str(pidfile), "--no-pivot",
                "--no-new-keyring", "--preserve-fds", "0", "ct-pcf")
        pid = s.state("ct-pcf")["pid"]
        s.ok("start", "ct-pcf")
        inside = s("exec", "ct-pcf", "ls", "/")
        return res, pidfile.read_text() == str(pid), inside

    r, p = both(scenario)
    same(r[0], p[0])
    assert r[1] and p[1]
    same(r[2], p[2])


def test_run_keep_and_detach(both):
    def scenario(s):
        s.bundle.set_args("true")
        res = s("run", "--keep", "-b", str(s.bundle), "ct-pkeep")
        return res, s.state("ct-pkeep")["status"], s("run", "-d", "--no-subreaper", "-b",
                                                     str(s.bundle), "ct-pnsr")

    r, p = both(scenario)
    same(r[0], p[0])
    assert r[1] == p[1] == "stopped"
    same(r[2], p[2])


def test_exec_process_json_and_flags(both, tmp_path):
    """-p process.json, --no-new-privs, --cap, -g, --apparmor/--process-label
    (accepted where the host has neither)."""
    proc = tmp_path / "process.json"
    proc.write_text(json.dumps({"args": ["sh", "-c", "id -u; pwd; echo $X"], "cwd": "/tmp",
                                "env": ["X=from-json", "PATH=/bin"],
                                "user": {"uid": 1, "gid": 1}}))

    def scenario(s):
        s.run_d("ct-pxf", *SLEEP)
        status = "grep -E '^(CapBnd|CapEff|NoNewPrivs|Groups)' /proc/self/status"
        return (s("exec", "-p", str(proc), "ct-pxf"),
                s("exec", "--process", str(tmp_path / "missing.json"), "ct-pxf"),
                s("exec", "--no-new-privs", "--cap", "CAP_SYS_ADMIN", "-g", "10", "-g", "20",
                  "ct-pxf", "sh", "-c", status),
                s("exec", "--cap", "CAP_NOPE", "ct-pxf", "true"),
                s("exec", "-u", "nobody", "ct-pxf", "true"))

    r, p = both(scenario)
    same(r[0], p[0])
    assert r[0].out == "1\n/tmp\nfrom-json\n"
    same(r[1], p[1], "exec failed", "no such file or directory")
    same(r[2], p[2])
    differs("unknown-capability")
    assert r[3].rc == 0 and "CAP_NOPE" in r[3].msg  # (a warning)
    assert p[3].rc == 255 and "CAP_NOPE" in p[3].msg
    same(r[4], p[4], "exec failed")


def test_update_flags(both, tmp_path):
    def scenario(s):
        pid = s.run_d("ct-pupf", *SLEEP)
        res = s("update", "--cpu-share", "512", "--cpu-period", "100000", "--cpu-quota",
                "50000", "--memory", "100m", "--memory-swap", "200m", "--memory-reservation",
                "50m", "--pids-limit", "30", "--cpuset-cpus", "0", "--cpuset-mems", "0",
                "--blkio-weight", "0", "ct-pupf")
        files = {}
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                _, ctrls, path = line.strip().split(":", 2)
                for c in ctrls.split(","):
                    d = f"/sys/fs/cgroup/{c}{path}" if c else f"/sys/fs/cgroup{path}"
                    for name in ("cpu.shares", "cpu.cfs_quota_us", "cpu.max", "cpu.weight",
                                 "memory.limit_in_bytes", "memory.soft_limit_in_bytes",
                                 "memory.max", "memory.low", "pids.max", "cpuset.cpus"):
                        try:
                            with open(os.path.join(d, name)) as g:
                                files[name] = g.read().strip()
                        except OSError:
                            pass
        bad = s("update", "--cpu-share", "many", "ct-pupf")
        return res, files, bad

    r, p = both(scenario)
    same(r[0], p[0])
    assert r[1] == p[1] and r[1]
    same(r[2], p[2], "many")


def test_exec_without_path(both, tmp_path):
    """A process.json with no PATH: pyrunc looks `sh` up as execvp does."""
    proc = tmp_path / "process.json"
    proc.write_text(json.dumps({"args": ["sh", "-c", "echo ran"], "cwd": "/",
                                "user": {"uid": 0, "gid": 0}}))

    def scenario(s):
        s.run_d("ct-pxp", *SLEEP)
        return s("exec", "-p", str(proc), "ct-pxp")

    r, p = both(scenario)
    differs("execvp-path")
    assert r.rc == 255 and "executable file not found in $PATH" in r.msg
    assert p.rc == 0 and p.out == "ran\n"


def test_update_flag_aliases(both):
    """pyrunc also takes --cpu-shares and --cpu-idle (runc 1.2's)."""
    def scenario(s):
        s.run_d("ct-pua", *SLEEP)
        return s("update", "--cpu-shares", "512", "ct-pua")

    r, p = both(scenario)
    differs("additions")
    assert r.rc == 1 and "flag provided but not defined: -cpu-shares" in r.msg
    assert p.rc == 0
