"""--trace and PYRUNC_TRACE=FILE: a timeline of the setup steps, from pyrunc
and from the container's init (whose steps come over the sync socket), with
the time each took, in microseconds.

With --debug, the same steps (the init's too) are logged at debug level as
they happen, with runc's own debug lines at the matching points (`debug`)."""

import sys
import time

from . import fastos as os

enabled = False  # steps are recorded (--trace, PYRUNC_TRACE) or logged (--debug)
_report = False
_debug = False
_target: str | None = None
_events: list[tuple[int, str]] = []


def configure(flag: bool, debug: bool = False) -> None:
    """Turn tracing on for --trace (to stderr) or PYRUNC_TRACE=FILE, and the
    debug log of the steps for --debug."""
    global enabled, _target, _report, _debug
    _target = os.environ.get("PYRUNC_TRACE") or None
    _report = flag or bool(_target)
    _debug = debug
    enabled = _report or debug
    if _report:
        step("pyrunc: started")


def step(name: str, ns: int | None = None, log: bool = True) -> None:
    """Record that a step ended now (or at `ns`, CLOCK_MONOTONIC); with --debug,
    also log it (unless `log` is False)."""
    if enabled:
        if _report:
            _events.append((time.monotonic_ns() if ns is None else ns, name))
        if _debug and log:
            debug(name)


def debug(msg: str) -> None:
    """A line of the --debug log (runc's wording where runc logs the same step)."""
    if _debug:
        from . import log

        log.debug(msg)


def report(command: str) -> None:
    """Write the timeline (at exit)."""
    if not _report or not _events:
        return
    events = sorted(_events)
    t0 = events[0][0]
    lines = [f"pyrunc trace: {command} (pid {os.getpid()})\n"]
    prev = t0
    for ns, name in events:
        lines.append(f"{(ns - t0) // 1000:>9}us {(ns - prev) // 1000:>8}us  {name}\n")
        prev = ns
    lines.append(f"{(prev - t0) // 1000:>9}us  total\n")
    text = "".join(lines)
    if _target:
        with open(_target, "a") as f:
            f.write(text)
    else:
        sys.stderr.write(text)
