"""--trace and PYRUNC_TRACE=FILE: a timeline of the setup steps, from pyrunc
and from the container's init (whose steps come over the sync socket), with
the time each took, in microseconds."""

import sys
import time

from . import fastos as os

enabled = False
_target: str | None = None
_events: list[tuple[int, str]] = []


def configure(flag: bool) -> None:
    """Turn tracing on for --trace (to stderr) or PYRUNC_TRACE=FILE."""
    global enabled, _target
    _target = os.environ.get("PYRUNC_TRACE") or None
    enabled = flag or bool(_target)
    if enabled:
        step("pyrunc: started")


def step(name: str, ns: int | None = None) -> None:
    """Record that a step ended now (or at `ns`, CLOCK_MONOTONIC)."""
    if enabled:
        _events.append((time.monotonic_ns() if ns is None else ns, name))


def report(command: str) -> None:
    """Write the timeline (at exit)."""
    if not enabled or not _events:
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
