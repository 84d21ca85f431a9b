"""The parity tier's harness: the two sides, what a caller sees of a call,
normalising, comparing, and the table of deliberate differences."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from helpers import Runtime, reap_children

RUNC = "/usr/sbin/runc"
PYRUNC = os.environ.get("PYRUNC") or shutil.which("pyrunc") or "pyrunc"
REFERENCE = "1.1.5"

# The deliberate differences, each with its reason (README.md has the same rows).
DIFFERENCES = {
    "delete-created": "`delete` of a `created` container without --force is an error: the "
                      "runtime-spec says delete of a container that is not stopped MUST fail "
                      "(runc kills and deletes it)",
    "unknown-capability": "an unknown capability is an error naming its JSON path, not a "
                          "warning: a container must not start with less (or other) "
                          "privileges than its config says",
    "device-rules": "no blanket `c *:* m`/`b *:* m` mknod rules: a device node the config "
                    "does not allow cannot even be made (hardening)",
    "cgroup-fs-ro": "on a v1 or hybrid host the tmpfs at /sys/fs/cgroup is read-only, not "
                    "only the hierarchies bound in it: a container cannot make files or "
                    "directories there (hardening)",
    "exec-cgroup-sibling": "`exec --cgroup` takes only a real sub-cgroup: runc's string-prefix "
                           "check lets `../ID2` reach a sibling cgroup whose name starts with "
                           "the container's (security)",
    "spec-version": "`ociVersion` is 1.3.0 (the runtime-spec pyrunc implements), runc says "
                    "1.0.2-dev, in state, list, spec and features",
    "features": "`features` tells what pyrunc implements: more (time namespace, idmap "
                "mounts, netDevices, memoryPolicy, checkpoint), AppArmor and SELinux as "
                "supported (applied where the host has them), no user systemd",
    "error-line": "an error is one line `pyrunc: MESSAGE` on stderr (runc: a logrus line, "
                  "`time=... level=error msg=...`, or with --log the bare message); the --log "
                  "file has runc's lines, in its text or JSON format",
    "version-lines": "`--version`: lines 1-3 as runc's (version, commit, spec); then "
                     "`python:` instead of `go:`",
    "events-end": "`events` ends when the container stops; runc's goes on printing a "
                  "stopped container's (empty) stats until it is deleted",
    "additions": "pyrunc's own commands and flags (`check`, `debug`, `--trace`, "
                 "`--pidfd-socket`, `update --cpu-shares`/`--cpu-idle`) are listed in its "
                 "help; runc has none of them",
    "execvp-path": "a program name without a slash is looked up as execvp does (the "
                   "runtime-spec's words): with no PATH in the process's env, in /bin and "
                   "/usr/bin; runc fails with `executable file not found in $PATH`",
    "no-mount-ns": "a config without a mount namespace is refused (`a mount namespace is "
                   "required`) (runc: makes the container's mounts in the caller's namespace, "
                   "leaves them there after the container is gone, and makes the caller's `/` a "
                   "recursive slave): the host's mounts must stay as they were",
    "poststart-status": "poststart hooks get the started process's pid and status `running` (runc:"
                        " status `created`): the runtime-spec's lifecycle: poststart runs after "
                        "the process started",
    "start-hook-failure": "`start` reports a failed startContainer hook (exit 1) (runc: `start` "
                          "exits 0 and the container dies): a caller must learn that its container"
                          " did not start",
    "rootless-gids": "rootless with subordinate ranges (newuidmap/newgidmap): setgroups stays "
                     "allowed, so `additionalGids` work (runc: refuses `additionalGids` when "
                     "rootless): the kernel allows it with a mapping written by newgidmap",
    "rootless-mounts": "rootless: sysfs without a network namespace of its own, and proc in the "
                       "host's pid namespace, are bound from the host (as runc 1.2) (runc: fails "
                       "with EPERM): what a user namespace allows; runc 1.2 does the same for "
                       "sysfs",
}

_LOGRUS = re.compile(r'^time="[^"]*" level=(\w+) msg=("(?:[^"\\]|\\.)*"|\S*)(.*)$')


class Result:
    """What a caller sees of one call: exit status, stdout, stderr."""

    def __init__(self, p: subprocess.CompletedProcess, side: "Side") -> None:
        self.rc = p.returncode
        self.out = p.out
        self.err = p.err
        self.side = side

    @property
    def msg(self) -> str:
        """stderr's messages, without the logrus frame or the `pyrunc: ` prefix."""
        return "\n".join(message(line) for line in self.err.splitlines() if line.strip())

    def json(self):
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"<{self.side.name} rc={self.rc} out={self.out[:300]!r} err={self.err[:300]!r}>"


def message(line: str) -> str:
    """One stderr line's message: logrus's msg= (unquoted), or after `pyrunc: `."""
    m = _LOGRUS.match(line)
    if m:
        v = m.group(2)
        return json.loads(v) if v.startswith('"') else v
    return line.removeprefix("pyrunc: ")


class Side:
    """One runtime (runc or pyrunc) with its own --root."""

    def __init__(self, name: str, cmd: list[str], root: str, get_bundle) -> None:
        self.name = name
        self.rt = Runtime(cmd, root)
        self.root = root
        self._get_bundle = get_bundle

    @property
    def bundle(self):
        """The test's busybox bundle (tests/conftest.py's Bundle)."""
        return self._get_bundle()

    def __call__(self, *args: str, input: bytes | None = None, timeout: float = 30,
                 stdin=None) -> Result:
        """Run the runtime; while it runs, reap the test run's other children (a
        container's processes come back to it, the subreaper: runc's `delete`
        waits for a pid namespace's init, which waits for them to be reaped)."""
        for a in args:
            if a.startswith("ct"):
                self.rt.ids.add(a)
        with tempfile.TemporaryFile() as i, tempfile.TemporaryFile() as o, \
                tempfile.TemporaryFile() as e:
            if input is not None:
                i.write(input)
                i.seek(0)
                stdin = i
            p = subprocess.Popen([*self.rt.cmd, "--root", self.root, *args], stdin=stdin,
                                 stdout=o, stderr=e)
            rc = _wait_reaping(p, timeout)
            o.seek(0)
            e.seek(0)
            done = subprocess.CompletedProcess(p.args, rc, o.read(), e.read())
        done.out = done.stdout.decode(errors="replace")
        done.err = done.stderr.decode(errors="replace")
        return Result(done, self)

    def cleanup(self) -> None:
        """Force-delete every container the scenario named; none may be left."""
        reap_children()
        for cid in sorted(self.rt.ids):
            self("delete", "--force", cid)
        left = os.listdir(self.root) if os.path.isdir(self.root) else []
        assert not left, f"{self.name}: state dirs left under {self.root}: {left}"

    def ok(self, *args: str, **kw) -> Result:
        """A call that must succeed (setup steps, not what is compared)."""
        r = self(*args, **kw)
        assert r.rc == 0, f"{self.name} {' '.join(args)}: {r}"
        return r

    def run_d(self, cid: str, *args: str) -> int:
        """`run -d` the bundle (with args, if given); the container's pid."""
        if args:
            self.bundle.set_args(*args)
        self.ok("run", "-d", "-b", str(self.bundle), cid, stdin=subprocess.DEVNULL)
        return self.state(cid)["pid"]

    def state(self, cid: str) -> dict:
        return self.ok("state", cid).json()

    def wait_stopped(self, cid: str) -> None:
        self.rt.wait_stopped(cid)

    def observe(self, cid: str) -> dict:
        """The container's observable state, normalised: its `state`, and from
        /proc/PID: credentials, capabilities, namespaces, mounts, cgroups."""
        st = self.state(cid)
        pid = st["pid"]
        status = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd",
                         "CapAmb", "NoNewPrivs", "Seccomp", "Umask"):
                    status[k] = v.split()
        ns = sorted(n for n in os.listdir(f"/proc/{pid}/ns")
                    if os.readlink(f"/proc/{pid}/ns/{n}") != os.readlink(f"/proc/self/ns/{n}"))
        with open(f"/proc/{pid}/mountinfo") as f:
            mounts = [mount_entry(line) for line in f]
        with open(f"/proc/{pid}/cgroup") as f:
            cgroups = sorted(line.strip() for line in f)
        return {"state": normalise(st, self), "status": status, "namespaces": ns,
                "mounts": mounts, "cgroup": cgroups}

    def norm(self, value):
        return normalise(value, self)


def _wait_reaping(p: subprocess.Popen, timeout: float) -> int:
    """p's exit status, reaping any other child meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return p.returncode
        if pid == 0:
            if time.monotonic() > deadline:
                p.kill()
                p.wait()
                raise TimeoutError(f"{p.args} did not finish in {timeout}s")
            time.sleep(0.002)


def mount_entry(line: str) -> str:
    """A mountinfo line as `POINT TYPE OPTIONS SUPER-OPTIONS` (no ids, devices or
    sources, which differ between runs)."""
    left, _, right = line.partition(" - ")
    f = left.split()
    r = right.split()
    return f"{f[4]} {r[0]} {f[5]} {r[2] if len(r) > 2 else ''}"


def normalise(value, side: Side):
    """Ids of processes, times and the side's root and name, made comparable."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "pid" and isinstance(v, int) and v > 0:
                v = "<pid>"
            elif k in ("created", "time") and isinstance(v, str):
                v = "<time>"
            elif k in ("ociVersion", "ociVersionMax"):
                v = "<spec>"
            out[k] = normalise(v, side)
        return out
    if isinstance(value, list):
        return [normalise(v, side) for v in value]
    if isinstance(value, str):
        value = value.replace(side.root, "<root>")
        return re.sub(r"\bpyrunc\b", "runc", value)
    return value


def parsed(out: str):
    """stdout as JSON (whole, or one value a line), else as text."""
    try:
        return json.loads(out)
    except ValueError:
        pass
    try:
        return [json.loads(line) for line in out.splitlines() if line.strip()]
    except ValueError:
        return out


class Pair:
    """runc's and pyrunc's results of one scenario."""

    def __init__(self, runc, pyrunc) -> None:
        self.runc = runc
        self.pyrunc = pyrunc

    def __iter__(self):
        return iter((self.runc, self.pyrunc))


def same(r: Result, p: Result, *words: str, stdout: bool = True) -> None:
    """The same exit status, stdout (normalised) and stderr (both silent, or both
    saying something, with every key word, case-insensitive)."""
    assert r.rc == p.rc, f"exit status: {r} vs {p}"
    if stdout:
        a, b = r.side.norm(parsed(r.out)), p.side.norm(parsed(p.out))
        assert a == b, f"stdout differs:\nrunc:   {a!r}\npyrunc: {b!r}"
    assert bool(r.err.strip()) == bool(p.err.strip()), f"stderr: {r} vs {p}"
    for w in words:
        assert w.lower() in r.msg.lower(), f"{w!r} not in runc's stderr: {r.err!r}"
        assert w.lower() in p.msg.lower(), f"{w!r} not in pyrunc's stderr: {p.err!r}"


def differs(key: str) -> str:
    """Name the deliberate difference a test checks (it must be in the table)."""
    assert key in DIFFERENCES, f"{key!r} is not a documented difference"
    return DIFFERENCES[key]


