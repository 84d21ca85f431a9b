#!/usr/bin/env python3
"""Side-by-side container lifecycle benchmark of OCI runtimes (pyrunc, runc, crun).

Usage: python3 benchmarks/lifecycle.py [--runtime NAME=CMD ...] [--rounds N] [--json OUT]

Must run as root.  See benchmarks/README.md for what is measured and the targets.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import datetime
import json
import math
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# ../shared beside the repository (or $PYRUNC_SHARED): crun's hybrid wrapper, the rootfs tool.
SHARED = Path(os.environ.get("PYRUNC_SHARED")
              or Path(__file__).resolve().parent.parent.parent / "shared")
CRUN_HYBRID = SHARED / "tools" / "crun-hybrid"
MAKE_ROOTFS = SHARED / "tools" / "make-busybox-rootfs"
BUSYBOX = Path("/bin/busybox")
CGROUP_ROOT = Path("/sys/fs/cgroup")
PR_SET_CHILD_SUBREAPER = 36
OPS = ("create", "start", "state", "kill", "delete", "run")
# Targets for pyrunc: maximum ratio of its median to runc's median.
TARGETS: dict[str, float] = {"run": 1.0, "state": 2.0, "kill": 2.0, "delete": 2.0, "rss": 1.0}
DEVNULL = subprocess.DEVNULL
OP_TIMEOUT = 60.0  # seconds for one runtime invocation
STOP_TIMEOUT = 10.0  # seconds for a killed container to be reported stopped
MAX_FAILURES = 5  # a runtime failing this many rounds is dropped

_stop_requested = False


class OpError(Exception):
    """A runtime invocation failed or misbehaved."""


class OpTimeout(Exception):
    """Raised by the SIGALRM watchdog when a runtime invocation takes too long."""


def _on_alarm(_signum: int, _frame: Any) -> None:
    """SIGALRM handler: abort the blocking wait (subprocess.run then kills the child)."""
    raise OpTimeout


def timed_run(cmd: list[str], stdout: Any, stderr: Any) -> tuple[int, bytes | None, int]:
    """Run CMD and wait for it; return (elapsed ns, stdout, exit status).

    No `timeout=` on purpose: with one, subprocess polls waitpid with exponential
    backoff (0.5, 1, 2, 4 ... 50 ms), which rounds every measurement up to the next
    poll.  A SIGALRM watchdog enforces OP_TIMEOUT while the wait blocks.
    """
    signal.setitimer(signal.ITIMER_REAL, OP_TIMEOUT)
    try:
        t0 = time.perf_counter_ns()
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            check=False,
        )
        elapsed = time.perf_counter_ns() - t0
    except OpTimeout as exc:
        raise OpError(f"{shlex.join(cmd)}: timed out after {OP_TIMEOUT:.0f}s") from exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return elapsed, proc.stdout, proc.returncode


@dataclass
class Runtime:
    """One runtime under test and its measurements."""

    name: str
    argv: list[str]
    root: Path = Path()
    version: str = ""
    attempts: int = 0
    samples_ns: dict[str, list[int]] = field(default_factory=lambda: {op: [] for op in OPS})
    rss_kib: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    dropped: str | None = None

    def cmd(self, *args: str) -> list[str]:
        """Full command line for `ARGS` with this runtime's private --root."""
        return [*self.argv, "--root", str(self.root), *args]

    def op(self, *args: str, capture: bool = False) -> tuple[int, str]:
        """Run one runtime command, timed; return (elapsed ns, stdout).

        stdin/stdout go to /dev/null (stdout is piped when `capture`), stderr to
        an unlinked temp file, so a container inheriting stdio cannot block us.
        """
        cmd = self.cmd(*args)
        with tempfile.TemporaryFile() as err:
            out = subprocess.PIPE if capture else subprocess.DEVNULL
            elapsed, stdout, rc = timed_run(cmd, out, err)
            if rc != 0:
                err.seek(0)
                msg = err.read().decode(errors="replace").strip().replace("\n", " | ")
                msg = msg or "(no stderr)"
                raise OpError(f"{shlex.join(cmd)}: exit {rc}: {msg[-400:]}")
        return elapsed, stdout.decode(errors="replace") if stdout is not None else ""

    def state(self, cid: str) -> dict[str, Any]:
        """Untimed `state ID`, parsed."""
        _, out = self.op("state", cid, capture=True)
        try:
            return json.loads(out)
        except json.JSONDecodeError as exc:
            raise OpError(f"{self.name} state {cid}: not JSON: {out[:200]!r}") from exc

    def force_delete(self, cid: str) -> bool:
        """Untimed `delete --force ID`, errors ignored; True if it succeeded."""
        try:
            rc = timed_run(self.cmd("delete", "--force", cid), DEVNULL, DEVNULL)[2]
        except OpError:
            return False
        return rc == 0


@dataclass
class Bench:
    """Shared state: temp dirs, bundles and everything that needs cleaning up."""

    work: Path
    token: str
    sleep_bundle: Path = Path()
    run_bundle: Path = Path()
    live: dict[tuple[str, str], Runtime] = field(default_factory=dict)
    pids: set[tuple[int, int]] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    def cid(self, rt: Runtime, label: str, kind: str) -> str:
        """Unique container id; it is also the default cgroup name of the container."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", rt.name)[:20]
        return f"lcb-{self.token}-{name}-{label}{kind}"


# ---------------------------------------------------------------- processes


def set_subreaper() -> bool:
    """Become a child subreaper so orphaned container processes are reparented to us."""
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def reap_zombies() -> int:
    """Reap every exited child without blocking; return how many were reaped."""
    n = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return n
        if pid == 0:
            return n
        n += 1


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, ppid, start time) of PID from /proc, or None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(")") + 2 :].split()
    return rest[0], int(rest[1]), int(rest[19])


def alive(pid: int, start: int | None = None) -> bool:
    """True if PID exists, is not a zombie and (if given) has this start time."""
    st = proc_stat(pid)
    return st is not None and st[0] not in "ZX" and (start is None or st[2] == start)


def read_rss_kib(pid: int) -> int:
    """VmRSS of PID in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError as exc:
        raise OpError(f"init pid {pid} vanished before start") from exc
    raise OpError(f"no VmRSS for pid {pid}")


def wait_gone(pid: int, deadline: float) -> None:
    """Wait (untimed) until PID has exited, reaping it if it is our child."""
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            if not alive(pid):
                return
        time.sleep(0.001)
    raise OpError(f"container process {pid} still alive {STOP_TIMEOUT:.0f}s after kill")


def children() -> list[int]:
    """Pids whose parent is this process."""
    me, out = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st is not None and st[1] == me:
                out.append(int(entry))
    return out


# ------------------------------------------------------------------ bundle


def build_rootfs(dest: Path, work: Path) -> str:
    """Populate DEST with a busybox rootfs; return how it was made."""
    dest.mkdir()
    if os.access(MAKE_ROOTFS, os.X_OK):
        tar = work / "rootfs.tar"
        subprocess.run(
            [str(MAKE_ROOTFS), str(tar)],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        extra: dict[str, Any] = {}
        if hasattr(tarfile, "fully_trusted_filter"):
            extra["filter"] = "fully_trusted"
        with tarfile.open(tar) as tf:
            tf.extractall(dest, numeric_owner=True, **extra)
        tar.unlink()
        return str(MAKE_ROOTFS)
    if not BUSYBOX.is_file():
        raise SystemExit(f"neither {MAKE_ROOTFS} nor {BUSYBOX} (busybox-static) available")
    for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "root"):
        (dest / d).mkdir()
    (dest / "tmp").chmod(0o1777)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    listing = subprocess.run(
        [str(BUSYBOX), "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for applet in listing:
        if applet != "busybox" and "/" not in applet:
            (dest / "bin" / applet).symlink_to("busybox")
    return f"copy of {BUSYBOX}"


def base_spec(work: Path, runtimes: list[Runtime]) -> dict[str, Any]:
    """A default config.json from `runc spec` (or, failing that, another runtime's)."""
    candidates = [["runc"]] if shutil.which("runc") else []
    candidates += [rt.argv for rt in runtimes]
    for argv in candidates:
        d = Path(tempfile.mkdtemp(dir=work, prefix="spec-"))
        proc = subprocess.run(
            [*argv, "spec"],
            cwd=d,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=OP_TIMEOUT,
            check=False,
        )
        cfg = d / "config.json"
        if proc.returncode == 0 and cfg.is_file():
            return json.loads(cfg.read_text())
    raise SystemExit("cannot generate config.json: `runc spec` failed and no runtime offers spec")


def write_bundle(path: Path, spec: dict[str, Any], rootfs: Path, args: list[str]) -> None:
    """Write bundle PATH whose config runs ARGS in the shared ROOTFS, without a terminal."""
    cfg = copy.deepcopy(spec)
    cfg["root"] = {**cfg.get("root", {}), "path": str(rootfs)}
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args
    cfg.get("linux", {}).pop("cgroupsPath", None)  # runtime default: <own cgroup>/<id>
    path.mkdir()
    (path / "config.json").write_text(json.dumps(cfg, indent=2))


# --------------------------------------------------------------- measuring


def cycle(bench: Bench, rt: Runtime, label: str) -> tuple[dict[str, int], int]:
    """One round for one runtime: create/start/state/kill/delete, then run."""
    times: dict[str, int] = {}
    cid = bench.cid(rt, label, "c")
    bench.live[(rt.name, cid)] = rt
    times["create"], _ = rt.op("create", "--bundle", str(bench.sleep_bundle), cid)
    st = rt.state(cid)
    if st.get("status") != "created" or not isinstance(st.get("pid"), int) or st["pid"] <= 0:
        raise OpError(f"{rt.name}: after create, state is {st.get('status')!r} pid {st.get('pid')}")
    pid = st["pid"]
    pstat = proc_stat(pid)
    if pstat is None:
        raise OpError(f"{rt.name}: init pid {pid} does not exist after create")
    bench.pids.add((pid, pstat[2]))
    rss = read_rss_kib(pid)
    times["start"], _ = rt.op("start", cid)
    times["state"], out = rt.op("state", cid, capture=True)
    try:
        status = json.loads(out).get("status")
    except json.JSONDecodeError as exc:
        raise OpError(f"{rt.name} state {cid}: not JSON: {out[:200]!r}") from exc
    if status != "running":
        raise OpError(f"{rt.name}: after start, state is {status!r}, expected 'running'")
    times["kill"], _ = rt.op("kill", cid, "KILL")
    deadline = time.monotonic() + STOP_TIMEOUT
    wait_gone(pid, deadline)
    while (status := rt.state(cid).get("status")) != "stopped":
        if time.monotonic() > deadline:
            raise OpError(f"{rt.name}: state is {status!r} after the process exited")
        time.sleep(0.001)
    bench.pids.discard((pid, pstat[2]))
    times["delete"], _ = rt.op("delete", cid)
    del bench.live[(rt.name, cid)]

    rid = bench.cid(rt, label, "r")
    bench.live[(rt.name, rid)] = rt
    times["run"], _ = rt.op("run", "--bundle", str(bench.run_bundle), rid)
    rt.force_delete(rid)  # untimed; normally `run` already deleted it
    del bench.live[(rt.name, rid)]
    return times, rss


def benchmark(bench: Bench, runtimes: list[Runtime], rounds: int, warmup: int) -> None:
    """Run all rounds, interleaving the runtimes and rotating their order per round."""
    total = warmup + rounds
    for i in range(total):
        measured = i >= warmup
        label = str(i - warmup) if measured else f"w{i}"
        k = i % len(runtimes)
        for rt in runtimes[k:] + runtimes[:k]:
            if rt.dropped or _stop_requested:
                continue
            first = rt.attempts == 0
            rt.attempts += 1
            try:
                times, rss = cycle(bench, rt, label)
            except OpError as exc:
                for key in [key for key, owner in bench.live.items() if owner is rt]:
                    rt.force_delete(key[1])
                    del bench.live[key]
                kill_recorded(bench, rt.name)
                rt.failures.append(f"round {label}: {exc}")
                if first or len(rt.failures) >= MAX_FAILURES:
                    rt.dropped = str(exc)
                    why = "the first round" if first else f"{len(rt.failures)} rounds"
                    msg = f"{rt.name}: failed {why}, skipped: {exc}"
                    bench.notes.append(msg)
                    print(f"\nnote: {msg}", file=sys.stderr)
                continue
            if measured:
                for op, ns in times.items():
                    rt.samples_ns[op].append(ns)
                rt.rss_kib.append(rss)
        reap_zombies()
        if _stop_requested:
            raise KeyboardInterrupt
        if not any(rt.dropped is None for rt in runtimes):
            raise SystemExit("every runtime failed; nothing to measure")
        if sys.stderr.isatty():
            print(f"\rround {i + 1}/{total}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)


# ----------------------------------------------------------------- cleanup


def kill_recorded(bench: Bench, who: str) -> None:
    """SIGKILL any recorded container init still alive (same start time) and note it."""
    for pid, start in list(bench.pids):
        if alive(pid, start):
            try:
                os.kill(pid, signal.SIGKILL)
                bench.leftovers.append(f"{who}: container init {pid} survived delete: killed")
            except ProcessLookupError:
                pass
        bench.pids.discard((pid, start))
    reap_zombies()


def leftover_cgroups(token: str) -> list[Path]:
    """Cgroup directories (any hierarchy) whose name carries this run's token."""
    found = []
    for dirpath, dirnames, _ in os.walk(CGROUP_ROOT):
        for d in list(dirnames):
            if token in d:
                found.append(Path(dirpath) / d)
                dirnames.remove(d)
    return found


def _mounts_under(path: Path) -> list[str]:
    """Mount points in our mount namespace at or below PATH."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    mps = [line.split()[4] for line in lines]
    return [mp for mp in mps if mp == str(path) or mp.startswith(f"{path}/")]


def cleanup(bench: Bench, runtimes: list[Runtime]) -> None:
    """Delete every container, kill and reap stragglers, remove cgroups and temp dirs.

    Anything that had to be removed here (rather than by the runtime) is recorded
    in bench.leftovers, attributed to a runtime where the container id allows.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    for (_, cid), rt in list(bench.live.items()):
        rt.force_delete(cid)  # only after an interrupt: a clean round deletes its own
    bench.live.clear()
    for rt in runtimes:
        if rt.root.name and rt.root.is_dir() and (left := sorted(os.listdir(rt.root))):
            bench.leftovers.append(
                f"{rt.name}: {len(left)} entr(y/ies) left in its --root after delete, "
                f"e.g. {left[0]}"
            )
    kill_recorded(bench, "cleanup")
    for _ in range(20):  # orphans of every runtime are reparented to us (subreaper)
        kids = children()
        if not kids:
            break
        for pid in kids:
            st = proc_stat(pid)
            if st is not None and st[0] not in "ZX":
                try:
                    comm = Path(f"/proc/{pid}/comm").read_text().strip()
                    os.kill(pid, signal.SIGKILL)
                except (FileNotFoundError, ProcessLookupError):
                    continue
                bench.leftovers.append(f"process {pid} ({comm}) was still running: killed")
        time.sleep(0.05)
        reap_zombies()
    by_id: dict[str, list[Path]] = {}
    for cg in leftover_cgroups(bench.token):
        by_id.setdefault(cg.name, []).append(cg)
        for dirpath, _, _ in os.walk(cg, topdown=False):
            try:
                os.rmdir(dirpath)
            except OSError as exc:
                bench.leftovers.append(f"cannot remove cgroup {dirpath}: {exc.strerror}")
    for rt in runtimes:
        prefix = bench.cid(rt, "", "")
        ids = sorted(cid for cid in by_id if cid.startswith(prefix))
        if ids:
            ndirs = sum(len(by_id[cid]) for cid in ids)
            bench.leftovers.append(
                f"{rt.name}: {len(ids)} container(s) left {ndirs} cgroup dir(s) "
                f"(removed), e.g. {by_id[ids[0]][0]}"
            )
    for mp in sorted(_mounts_under(bench.work), reverse=True):
        bench.leftovers.append(f"mount {mp} left behind: unmounted")
        subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL, check=False)
    if _mounts_under(bench.work):
        bench.leftovers.append(f"mounts remain under {bench.work}; not removing it")
    else:
        shutil.rmtree(bench.work, ignore_errors=True)


def _on_signal(signum: int, _frame: Any) -> None:
    """First signal: stop after the current operation; second: abort now."""
    global _stop_requested
    if _stop_requested:
        raise KeyboardInterrupt
    _stop_requested = True
    print(
        f"\n{signal.Signals(signum).name}: stopping after the current operation, "
        "then cleaning up (repeat to abort now)",
        file=sys.stderr,
    )


# ----------------------------------------------------------------- reporting


def p90(xs: list[float]) -> float:
    """90th percentile (nearest rank)."""
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def summarize(rt: Runtime) -> dict[str, dict[str, float] | None]:
    """Median and p90 per operation in ms, and init RSS in MiB."""
    out: dict[str, dict[str, float] | None] = {}
    for op in OPS:
        ms = [ns / 1e6 for ns in rt.samples_ns[op]]
        out[op] = (
            {"median_ms": statistics.median(ms), "p90_ms": p90(ms), "n": len(ms)} if ms else None
        )
    mib = [k / 1024 for k in rt.rss_kib]
    out["rss"] = {"median_mib": statistics.median(mib), "p90_mib": p90(mib)} if mib else None
    return out


def report(
    runtimes: list[Runtime], bench: Bench, args: argparse.Namespace, rootfs_src: str
) -> dict[str, Any]:
    """Print the comparison table and notes; return the summaries."""
    baseline, target = args.baseline, args.target
    shown = [rt for rt in runtimes if any(rt.samples_ns[op] for op in OPS)]
    summ = {rt.name: summarize(rt) for rt in shown}
    base = summ.get(baseline)
    others = [rt for rt in shown if rt.name != baseline] if base else []
    done = max((len(rt.samples_ns["run"]) for rt in runtimes), default=0)
    rounds = f"{args.rounds}" if done == args.rounds else f"{done} of {args.rounds}"
    print(
        f"\nOCI runtime lifecycle benchmark: {rounds} rounds (+{args.warmup} warm-up), "
        f"runtimes interleaved, busybox rootfs from {rootfs_src}"
    )
    for rt in runtimes:
        state = "DROPPED, see notes" if rt.dropped else rt.version
        print(f"  {rt.name:<8} {shlex.join(rt.argv)}  [{state}]")
    cw = 19
    head = f"\n{'median / p90':<16}" + "".join(f"{rt.name:>{cw}}" for rt in shown)
    head += "".join(f"{rt.name + '/' + baseline:>{cw - 4}}" for rt in others)
    print(head)

    def ratio(val: float | None, ref: float | None) -> str:
        return f"{val / ref:.2f}x" if val is not None and ref else "-"

    for op in (*OPS, "rss"):
        unit = "MiB" if op == "rss" else "ms"
        key = "median_mib" if op == "rss" else "median_ms"
        pkey = "p90_mib" if op == "rss" else "p90_ms"
        label = "init RSS (MiB)" if op == "rss" else f"{op} (ms)"
        line = f"{label:<16}"
        for rt in shown:
            s = summ[rt.name][op]
            prec = 1 if unit == "MiB" else 2
            line += f"{f'{s[key]:.{prec}f} / {s[pkey]:.{prec}f}' if s else '-':>{cw}}"
        for rt in others:
            s, b = summ[rt.name][op], base[op] if base else None
            line += f"{ratio(s[key] if s else None, b[key] if b else None):>{cw - 4}}"
        print(line)
    for note in bench.notes:
        print(f"note: {note}")
    for rt in shown:
        if rt.failures:
            print(f"note: {rt.name} failed {len(rt.failures)} round(s); first: {rt.failures[0]}")
    if base and target in summ and target != baseline:
        print(f"\ntargets for {target} (median ratio to {baseline}):")
        for op, limit in TARGETS.items():
            s, b = summ[target][op], base[op]
            key = "median_mib" if op == "rss" else "median_ms"
            if not s or not b:
                print(f"  {op:<7} <= {limit:.2f}x   -      n/a")
                continue
            r = s[key] / b[key]
            print(f"  {op:<7} <= {limit:.2f}x   {r:.2f}x  {'ok' if r <= limit else 'MISSED'}")
    return summ


# -------------------------------------------------------------------- main


def parse_runtime(spec: str) -> tuple[str, list[str]]:
    """Parse NAME=CMD (CMD split with shlex)."""
    name, sep, cmd = spec.partition("=")
    argv = shlex.split(cmd)
    if not sep or not name or not argv:
        raise argparse.ArgumentTypeError(f"expected NAME=CMD, got {spec!r}")
    return name, argv


def default_runtimes(notes: list[str]) -> list[tuple[str, list[str]]]:
    """pyrunc from PATH, runc, and crun through crun-hybrid, whichever are installed."""
    out: list[tuple[str, list[str]]] = []
    for name in ("pyrunc", "runc"):
        if shutil.which(name):
            out.append((name, [name]))
        else:
            notes.append(f"{name}: not found in PATH, skipped")
    if shutil.which("crun"):
        hybrid = os.access(CRUN_HYBRID, os.X_OK)
        out.append(("crun", [str(CRUN_HYBRID)] if hybrid else ["crun"]))
    else:
        notes.append("crun: not installed, skipped")
    return out


def runtime_version(argv: list[str]) -> str:
    """First line of `CMD --version`."""
    try:
        proc = subprocess.run(
            [*argv, "--version"], capture_output=True, text=True, timeout=OP_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--runtime",
        action="append",
        type=parse_runtime,
        metavar="NAME=CMD",
        help="runtime to test (repeatable); default: pyrunc, runc, crun",
    )
    ap.add_argument("--rounds", type=int, default=30, help="measured rounds (default 30)")
    ap.add_argument("--warmup", type=int, default=1, help="unrecorded warm-up rounds (default 1)")
    ap.add_argument("--baseline", default="runc", help="runtime for ratios (default runc)")
    ap.add_argument("--target", default="pyrunc", help="runtime checked against the targets")
    ap.add_argument("--json", type=Path, metavar="OUT", help="write raw numbers to OUT")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        ap.error("--rounds must be >= 1 and --warmup >= 0")
    if os.geteuid() != 0:
        ap.error("must run as root")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    signal.signal(signal.SIGALRM, _on_alarm)
    notes: list[str] = []
    specs = args.runtime or default_runtimes(notes)
    names = [n for n, _ in specs]
    if len(set(names)) != len(names):
        ap.error("duplicate runtime names")
    runtimes = []
    for name, rt_argv in specs:
        if shutil.which(rt_argv[0]) is None:
            notes.append(f"{name}: {rt_argv[0]} not found, skipped")
        else:
            runtimes.append(Runtime(name, rt_argv, version=runtime_version(rt_argv)))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not runtimes:
        print("no runtime to benchmark", file=sys.stderr)
        return 1
    if not set_subreaper():
        print("warning: PR_SET_CHILD_SUBREAPER failed; orphans go to init", file=sys.stderr)

    bench = Bench(Path(tempfile.mkdtemp(prefix="lifecycle-bench-")), secrets.token_hex(3))
    bench.notes = notes
    summ: dict[str, Any] = {}
    interrupted = False
    rootfs_src = "?"
    try:
        rootfs = bench.work / "rootfs"
        rootfs_src = build_rootfs(rootfs, bench.work)
        spec = base_spec(bench.work, runtimes)
        bench.sleep_bundle = bench.work / "bundle-sleep"
        bench.run_bundle = bench.work / "bundle-run"
        write_bundle(bench.sleep_bundle, spec, rootfs, ["sleep", "1000"])
        write_bundle(bench.run_bundle, spec, rootfs, ["/bin/true"])
        for rt in runtimes:
            rt.root = bench.work / f"root-{re.sub(r'[^A-Za-z0-9_.-]', '_', rt.name)}"
            rt.root.mkdir(mode=0o700)
        benchmark(bench, runtimes, args.rounds, args.warmup)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted; partial results below", file=sys.stderr)
    finally:
        cleanup(bench, runtimes)
    summ = report(runtimes, bench, args, rootfs_src)
    if bench.leftovers:
        print("\ncleanup found leftovers (now removed where possible):")
        for item in bench.leftovers:
            print(f"  {item}")
    else:
        print("\ncleanup: no containers, cgroups, mounts or processes left behind")
    if args.json:
        data = {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "host": {
                "kernel": platform.release(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            },
            "rounds": args.rounds,
            "warmup": args.warmup,
            "baseline": args.baseline,
            "interrupted": interrupted,
            "rootfs": rootfs_src,
            "notes": bench.notes,
            "leftovers": bench.leftovers,
            "runtimes": {
                rt.name: {
                    "command": rt.argv,
                    "version": rt.version,
                    "dropped": rt.dropped,
                    "failures": rt.failures,
                    "samples_ns": rt.samples_ns,
                    "init_rss_kib": rt.rss_kib,
                    "summary": summ.get(rt.name),
                }
                for rt in runtimes
            },
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n")
        print(f"raw numbers written to {args.json}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
