"""Parity of every command on a real container: create, start, run, state,
kill, delete, list, ps, exec, pause, resume, update, events, spec, features."""

import json
import os
import re
import time

import pytest

from .harness import differs, same

SLEEP = ("sleep", "100")


def test_lifecycle(both):
    """create, state, start, state, kill, state, delete, state: what each says."""
    def scenario(s):
        s.bundle.set_args(*SLEEP)
        out = [s("create", "-b", str(s.bundle), "ct-pl"), s("state", "ct-pl"),
               s("start", "ct-pl"), s("state", "ct-pl"), s("start", "ct-pl"),
               s("kill", "ct-pl", "KILL")]
        s.wait_stopped("ct-pl")
        out += [s("state", "ct-pl"), s("kill", "ct-pl"), s("delete", "ct-pl"),
                s("state", "ct-pl")]
        return out

    r, p = both(scenario)
    differs("spec-version")  # (normalised away)
    words = {4: "cannot start an already running container", 7: "container not running",
             9: "does not exist"}
    for i, (a, b) in enumerate(zip(r, p, strict=True)):
        same(a, b, *[words[i]] if i in words else [])
    assert [a.json()["status"] for a in (r[1], r[3], r[6])] == ["created", "running", "stopped"]
    assert r[6].json()["pid"] == p[6].json()["pid"] == 0


def test_state_fields(both):
    def scenario(s):
        s.bundle.config["annotations"] = {"org.example.k": "v"}
        s.run_d("ct-ps1", *SLEEP)
        return s("state", "ct-ps1")

    r, p = both(scenario)
    same(r, p)
    assert p.out.startswith('{\n  "ociVersion": ')  # (indented by two spaces, as runc)
    assert p.json()["annotations"] == {"org.example.k": "v"}


def test_run_foreground(both):
    """stdout, the exit status, and 128+N for a signal."""
    def scenario(s):
        out = []
        for args in (("echo", "hello"), ("sh", "-c", "exit 3"), ("sh", "-c", "exit 137"),
                     ("sh", "-c", "echo err >&2; exit 1")):
            s.bundle.set_args(*args)
            out.append(s("run", "-b", str(s.bundle), "ct-prf"))
        return out

    r, p = both(scenario)
    for a, b in zip(r, p, strict=True):
        same(a, b)
    assert [a.rc for a in r] == [0, 3, 137, 1] and r[0].out == "hello\n"


def test_run_errors(both, tmp_path):
    def scenario(s):
        s.run_d("ct-pre", *SLEEP)
        return (s("run", "-d", "-b", str(s.bundle), "ct-pre"),
                s("create", "-b", str(s.bundle), "ct-pre"),
                s("create", "-b", str(tmp_path / "nonexistent"), "ct-pre2"),
                s("create", "-b", str(tmp_path), "ct-pre3"))

    r, p = both(scenario)
    same(r[0], p[0], "container with given ID already exists")
    same(r[1], p[1], "container with given ID already exists")
    same(r[2], p[2], "no such file or directory")
    same(r[3], p[3], "config.json")


def test_delete(both):
    def scenario(s):
        s.run_d("ct-pdel", *SLEEP)
        out = [s("delete", "ct-pdel"), s("state", "ct-pdel")]
        out += [s("delete", "--force", "ct-pdel"), s("state", "ct-pdel"),
                s("delete", "-f", "ct-pdel")]
        return out

    r, p = both(scenario)
    same(r[0], p[0], "cannot delete container", "that is not stopped: running")
    same(r[1], p[1])
    same(r[2], p[2])
    same(r[3], p[3], "does not exist")
    same(r[4], p[4])


def test_delete_created(both):
    def scenario(s):
        s.bundle.set_args(*SLEEP)
        s.ok("create", "-b", str(s.bundle), "ct-pdc")
        return s("delete", "ct-pdc"), s("state", "ct-pdc")

    r, p = both(scenario)
    differs("delete-created")
    assert r[0].rc == 0 and r[1].rc == 1
    assert p[0].rc == 1 and "not stopped" in p[0].msg and p[1].json()["status"] == "created"


@pytest.mark.parametrize("sig", ["0", "99", "FOO", "sigusr1", "USR1", "15", "-5"])
def test_kill_signals(both, sig):
    def scenario(s):
        s.run_d("ct-pk", "sh", "-c", "trap '' USR1 TERM; sleep 100")
        time.sleep(0.1)
        res = s("kill", "ct-pk", sig)
        return res, s.state("ct-pk")["status"]

    (r, rs), (p, ps) = both(scenario)
    words = {"99": "unable to signal init: invalid argument", "-5": "invalid argument",
             "FOO": 'unknown signal "FOO"'}
    same(r, p, *[words[sig]] if sig in words else [])
    assert rs == ps


def test_kill_all(both):
    def scenario(s):
        s.run_d("ct-pka", "sh", "-c", "sleep 100 & sleep 100")
        out = [s("kill", "-a", "ct-pka", "KILL")]
        s.wait_stopped("ct-pka")
        out += [s("kill", "-a", "ct-pka", "0"), s("kill", "--all", "ct-pka"),
                s("kill", "ct-pka", "0")]
        return out

    r, p = both(scenario)
    same(r[0], p[0])
    same(r[1], p[1])  # signal 0 to a stopped container with -a: nothing to do, exit 0
    same(r[2], p[2])
    same(r[3], p[3], "container not running")
    assert r[1].rc == 0


def test_list(both):
    def scenario(s):
        empty = (s("list"), s("list", "-q"), s("list", "--format", "json"))
        s.run_d("ct-pls1", *SLEEP)
        s.run_d("ct-pls2", *SLEEP)
        return empty + (s("list"), s("list", "-q"), s("list", "-f", "json"),
                        s("list", "--format", "json", "--quiet"), s("list", "--format", "x"))

    r, p = both(scenario)
    for i in (0, 1, 2, 4, 6):
        same(r[i], p[i])
    assert r[2].out == p[2].out == "null\n"
    same(r[7], p[7], "invalid format option")
    # json: one compact line, owner filled
    assert len(p[5].out.splitlines()) == 1 and ", " not in p[5].out
    same(r[5], p[5])
    assert [x["owner"] for x in p[5].json()] == ["root", "root"]
    # the table: runc's columns (pids and times normalised)
    def cells(out):
        rows = [line.split() for line in out.splitlines()]
        return [rows[0]] + [[x if i not in (1, 4) else "*" for i, x in enumerate(row)]
                            for row in rows[1:]]

    assert cells(r[3].out) == cells(p[3].out)
    header = "ID          PID         STATUS      BUNDLE"
    assert r[3].out.startswith(header) and p[3].out.startswith(header)
    assert [len(x) for x in r[3].out.splitlines()] == [len(x) for x in p[3].out.splitlines()]


def test_ps(both):
    def scenario(s):
        pid = s.run_d("ct-pps", *SLEEP)
        running = (s("ps", "ct-pps"), s("ps", "-f", "json", "ct-pps"),
                   s("ps", "--format", "json", "ct-pps"), s("ps", "ct-pps", "-o", "pid,comm"),
                   s("ps", "-f", "xml", "ct-pps"))
        s.ok("kill", "ct-pps", "KILL")
        s.wait_stopped("ct-pps")
        return pid, running + (s("ps", "ct-pps"), s("ps", "-f", "json", "ct-pps"))

    (rpid, r), (ppid, p) = both(scenario)
    assert r[1].json() == [rpid] and p[1].json() == [ppid]
    same(r[1], p[1], stdout=False)
    same(r[2], p[2], stdout=False)
    # (ps pads the PID column to the widest pid: compare the words)
    rows = [re.sub(r"\d+", "N", x).split() for x in r[3].out.splitlines()]
    assert rows == [re.sub(r"\d+", "N", x).split() for x in p[3].out.splitlines()]
    assert r[0].out.splitlines()[0] == p[0].out.splitlines()[0]
    assert r[0].out.split()[-2:] == p[0].out.split()[-2:] == ["sleep", "100"]
    same(r[4], p[4], "invalid format option")
    same(r[5], p[5])  # stopped: the header only
    same(r[6], p[6])
    assert r[6].out == "null\n" and len(r[5].out.splitlines()) == 1


def test_exec(both, tmp_path):
    def scenario(s):
        s.run_d("ct-pex", *SLEEP)
        return (s("exec", "ct-pex", "sh", "-c", "echo out; echo err >&2; exit 5"),
                s("exec", "-e", "A=1", "--cwd", "/tmp", "-u", "1:1", "ct-pex",
                  "sh", "-c", "echo $A $(pwd) $(id -u) $(id -g)"),
                s("exec", "ct-pex"),
                s("exec", "ct-pex", "/nonexistent"),
                s("exec", "--pid-file", str(tmp_path / "missing" / "f"), "ct-pex", "true"),
                s("exec", "ct-pex", "ls", "-h", "/"),
                s("exec", "-d", "ct-pex", "sleep", "1"),
                s("exec", "-t", "-d", "ct-pex", "true"))

    r, p = both(scenario)
    same(r[0], p[0], "err")
    assert r[0].rc == 5 and r[0].out == "out\n"
    same(r[1], p[1])
    assert r[1].out == "1 /tmp 1 1\n"
    same(r[2], p[2], "exec failed", "args")
    same(r[3], p[3], "exec failed", "/nonexistent")
    same(r[4], p[4], "exec failed", "no such file or directory")
    assert r[4].rc == 255
    same(r[5], p[5])  # (-h after the command is the command's)
    same(r[6], p[6])
    same(r[7], p[7], "exec failed", "tty", "console")


def test_exec_cgroup(both):
    def scenario(s):
        pid = s.run_d("ct-pxc", *SLEEP)
        with open(f"/proc/{pid}/cgroup") as f:
            own = sorted(f.read().split())
        ctrl = "pids" if any(":pids:" in x for x in own) else ""
        cat = ("cat", "/proc/self/cgroup")
        out = [s("exec", "--cgroup", "/", "ct-pxc", *cat)]
        if ctrl:
            out.append(s("exec", "--cgroup", f"{ctrl}:/", "ct-pxc", *cat))
        out += [s("exec", "--cgroup", "..", "ct-pxc", "true"),
                s("exec", "--cgroup", "nosuchctrl:sub", "ct-pxc", "true"),
                s("exec", "--cgroup", "sub", "ct-pxc", "true"),
                s("exec", "--cgroup", "a:b:c", "ct-pxc", "true"),
                s("exec", "--cgroup", "x", "--cgroup", "y", "ct-pxc", "true")]
        return own, out

    (rown, r), (pown, p) = both(scenario)
    for own, res in ((rown, r), (pown, p)):
        assert sorted(res[0].out.split()) == own  # `/` is the container's own cgroup
        if len(res) == 7:
            assert sorted(res[1].out.split()) == own
    same(r[0], p[0], stdout=False)
    if len(r) == 7:
        same(r[1], p[1], stdout=False)
    for a, b, words in zip(r[-5:], p[-5:], (
            (".. is not a sub cgroup path",), ("unknown controller nosuchctrl",),
            ("error adding pid", "no such file or directory"),
            ("invalid --cgroup argument: a:b:c",), ("missing <controller>: prefix",)),
            strict=True):
        same(a, b, "exec failed", *words)
        assert a.rc == 255


def test_pause_resume(both):
    def scenario(s):
        s.run_d("ct-ppr", *SLEEP)
        out = [s("resume", "ct-ppr"), s("pause", "ct-ppr"), s("state", "ct-ppr"),
               s("pause", "ct-ppr"), s("exec", "ct-ppr", "true"),
               s("resume", "ct-ppr"), s("state", "ct-ppr"), s("kill", "ct-ppr", "KILL")]
        s.wait_stopped("ct-ppr")
        out += [s("pause", "ct-ppr"), s("resume", "ct-ppr")]
        return out

    r, p = both(scenario)
    words = {0: ["container not paused"], 3: ["container not running"],
             4: ["exec failed", "paused"], 8: ["container not running"],
             9: ["container not paused"]}
    for i, (a, b) in enumerate(zip(r, p, strict=True)):
        same(a, b, *words.get(i, []))
    assert r[2].json()["status"] == "paused" and r[6].json()["status"] == "running"


def test_update(both):
    def scenario(s):
        pid = s.run_d("ct-pup", *SLEEP)
        out = [s("update", "--memory", "64m", "--pids-limit", "50", "ct-pup")]
        files = cgroup_files(pid)
        out += [s("update", "--memory", "lots", "ct-pup"),
                s("update", "-r", "-", "ct-pup", input=b'{"pids": {"limit": 60}}'),
                s("update", "--resources", "/nonexistent", "ct-pup")]
        return out, files, cgroup_files(pid)

    (r, rf, rf2), (p, pf, pf2) = both(scenario)
    same(r[0], p[0])
    assert rf == pf and rf2 == pf2
    assert "50" in rf.values() and "60" in rf2.values()
    same(r[1], p[1], "lots")
    same(r[2], p[2])
    same(r[3], p[3], "no such file or directory")


def cgroup_files(pid: int) -> dict:
    """The memory and pids limits of a process's cgroup (v1 or v2)."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.strip().split(":", 2)
            for ctrl, name in (("memory", "memory.limit_in_bytes"), ("pids", "pids.max"),
                               ("", "memory.max"), ("", "pids.max")):
                if ctrl in ctrls.split(",") or (not ctrl and not ctrls):
                    d = f"/sys/fs/cgroup/{ctrl}{path}" if ctrl else f"/sys/fs/cgroup{path}"
                    if not os.path.exists(os.path.join(d, name)):
                        d = f"/sys/fs/cgroup/unified{path}"
                    try:
                        with open(os.path.join(d, name)) as g:
                            out[f"{ctrl}/{name}"] = g.read().strip()
                    except OSError:
                        pass
    return out


def test_events_stats(both):
    def scenario(s):
        s.run_d("ct-pev", *SLEEP)
        return s("events", "--stats", "ct-pev")

    r, p = both(scenario)
    same(r, p, stdout=False)
    a, b = r.json(), p.json()
    assert a["type"] == b["type"] == "stats" and a["id"] == b["id"]
    assert set(a["data"]) == set(b["data"])
    ma, mb = a["data"]["memory"], b["data"]["memory"]
    assert set(ma) == set(mb) and "event_count" not in mb
    for k in ("usage", "swap", "kernel", "kernelTCP"):
        assert ma[k]["limit"] == mb[k]["limit"], k
    assert set(a["data"]["cpu"]) == set(b["data"]["cpu"])
    assert a["data"]["pids"].keys() == b["data"]["pids"].keys()


def test_events_stream(both):
    """The first stats event comes after one interval (not at once), then one
    each interval; the stream ends once the container is gone."""
    import subprocess
    import tempfile

    def scenario(s):
        s.run_d("ct-pes", *SLEEP)
        with tempfile.TemporaryFile() as out:
            t0 = time.monotonic()
            ev = subprocess.Popen([*s.rt.cmd, "--root", s.root, "events", "--interval", "1s",
                                   "ct-pes"], stdout=out, stderr=subprocess.DEVNULL)
            time.sleep(0.6)
            out.seek(0)
            early = out.read()
            while not out.read() and time.monotonic() < t0 + 10:
                time.sleep(0.05)
                out.seek(0)
            s.ok("delete", "-f", "ct-pes")
            rc = ev.wait(10)  # (0 also if the harness reaped it)
            out.seek(0)
            lines = out.read().decode().splitlines()
            return early, [json.loads(x)["type"] for x in lines], rc

    r, p = both(scenario)
    differs("events-end")
    assert r[0] == p[0] == b""
    assert r[1] and p[1] and set(r[1]) == set(p[1]) == {"stats"}, (r, p)
    assert r[2] == p[2] == 0


def test_spec(both, tmp_path):
    def scenario(s):
        d = tmp_path / f"spec-{s.name}"
        d.mkdir()
        out = [s("spec", "-b", str(d)), s("spec", "--bundle", str(d))]
        spec = json.loads((d / "config.json").read_text())
        (d / "config.json").unlink()
        out.append(s("spec", "--rootless", "-b", str(d)))
        rootless = json.loads((d / "config.json").read_text())
        out.append(s("spec", "-b", str(tmp_path / "nonexistent")))
        return out, spec, rootless

    (r, rs, rr), (p, ps, pr) = both(scenario)
    differs("spec-version")
    same(r[0], p[0])
    same(r[1], p[1], "File config.json exists. Remove it first")
    same(r[2], p[2])
    same(r[3], p[3], "no such file or directory")
    for a, b in ((rs, ps), (rr, pr)):
        assert a.pop("ociVersion") == "1.0.2-dev" and b.pop("ociVersion") == "1.3.0"
        assert a.pop("hostname", None) == "runc" and b.pop("hostname", None) == "pyrunc"
        assert a == b


def test_features(both):
    r, p = both(lambda s: s("features"))
    differs("features")
    same(r, p, stdout=False)
    a, b = r.json(), p.json()
    assert set(a) == set(b)
    assert set(a["hooks"]) <= set(b["hooks"])
    assert set(a["mountOptions"]) <= set(b["mountOptions"])
    la, lb = a["linux"], b["linux"]
    assert set(la["namespaces"]) <= set(lb["namespaces"])
    assert set(la["capabilities"]) == set(lb["capabilities"])
    assert set(la["seccomp"]["actions"]) <= set(lb["seccomp"]["actions"])
    assert set(la["seccomp"]["operators"]) <= set(lb["seccomp"]["operators"])
    assert {k: v for k, v in la["cgroup"].items() if k != "systemdUser"}.items() <= \
        lb["cgroup"].items()


def test_exec_cgroup_sibling(both):
    """A `--cgroup` path that leads to a sibling whose name starts with the
    container's: runc takes it (a string-prefix check), pyrunc refuses."""
    def scenario(s):
        pid = s.run_d("ct-pxs", *SLEEP)
        with open(f"/proc/{pid}/cgroup") as f:
            lines = [x.strip().split(":", 2) for x in f]
        ctrl, path = next(((c, p) for _, c, p in lines if c == "pids"),
                          next((c, p) for _, c, p in lines if c == ""))
        sibling = f"/sys/fs/cgroup/{ctrl}{path}x".replace("//", "/")
        os.mkdir(sibling)
        try:
            arg = f"{ctrl}:../ct-pxsx" if ctrl else "../ct-pxsx"
            res = s("exec", "--cgroup", arg, "ct-pxs", "cat", "/proc/self/cgroup")
            s.ok("delete", "-f", "ct-pxs")
        finally:
            for _ in range(100):
                try:
                    os.rmdir(sibling)
                    break
                except OSError:
                    time.sleep(0.05)
        return res

    r, p = both(scenario)
    differs("exec-cgroup-sibling")
    assert r.rc == 0 and "ct-pxsx" in r.out
    assert p.rc == 255 and "not a sub cgroup path" in p.msg
