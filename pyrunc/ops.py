"""Commands on a live container through its cgroup manager: pause/resume,
ps, stats and events, update of the limits (their flags: cli.py).

Kept light (time only at module level)."""

import time

from .cgroups import manager
from .errors import PyruncError


def ps_table(pids: list[int], ps_args: list[str]) -> str:
    """`ps` output: its header and the rows whose PID is one of `pids` (as runc)."""
    import subprocess

    try:
        p = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, check=False)
    except FileNotFoundError:
        raise PyruncError("ps: the ps command is not installed") from None
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        raise PyruncError(f"ps: {p.stderr.decode(errors='replace').strip() or out.strip()}")
    lines = out.split("\n")
    header = lines[0].split()
    if "PID" not in header:
        raise PyruncError("couldn't find PID field in ps output")
    idx = header.index("PID")
    want = set(pids)
    keep = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > idx and fields[idx].isdigit() and int(fields[idx]) in want:
            keep.append(line)
    return "\n".join(keep) + "\n"


UPDATE_KEYS = ("memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma",
               "unified")


def changes(new: dict) -> dict:
    """The fields of an update request that change something: zero, null and
    empty values mean "unchanged" (docker sends zeros for what it leaves)."""
    out: dict = {}
    for key in UPDATE_KEYS:
        v = new.get(key)
        if isinstance(v, dict) and key not in ("unified", "rdma"):
            sub = {}
            for k, x in v.items():
                if x is None or x == "" or x == [] or (x == 0 and k != "swappiness"
                                                      and x is not False):
                    continue
                sub[k] = x
            if sub:
                out[key] = sub
        elif v:
            out[key] = v
    return out


def merge(old: dict, delta: dict) -> dict:
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in old.items()}
    for key, v in delta.items():
        if isinstance(v, dict) and isinstance(merged.get(key), dict):
            merged[key].update(v)
        else:
            merged[key] = v
    return merged


def _load(root: str, cid: str, lock: bool = True):
    from .state import Container

    c = Container.load(root, cid)
    if lock:
        c.lock()
    return c


def pause(root: str, cid: str) -> None:
    """Freeze every process of a running container."""
    c = _load(root, cid)
    status = c.status()
    if status != "running":  # (runc's words, for a paused one too)
        raise PyruncError("container not running")
    cg = manager.load(c.data)
    cg.own("pause", c.id)
    cg.freeze(True)


def resume(root: str, cid: str) -> None:
    """Thaw a paused container."""
    c = _load(root, cid)
    status = c.status()
    if status != "paused":
        raise PyruncError("container not paused")
    cg = manager.load(c.data)
    cg.own("resume", c.id)
    cg.freeze(False)


def _active(c, what: str) -> manager.Manager:
    if c.status() not in ("created", "running", "paused"):
        raise PyruncError("container not running")
    return manager.load(c.data)


def ps_pids(root: str, cid: str) -> list[int]:
    """The container's processes (as runc: none, not an error, once it stopped)."""
    c = _load(root, cid, lock=False)
    return manager.load(c.data).pids()


def container_stats(root: str, cid: str) -> dict:
    c = _load(root, cid, lock=False)
    cg = _active(c, "stats")
    cg.own("get the stats of", c.id)
    return cg.stats()


def events(root: str, cid: str, interval: float, out, *, poll: float = 0.1) -> None:
    """Stream events as runc does: a stats line every `interval` seconds, an
    oom line whenever the OOM count grows; return when the container stops."""
    from .util import fastjson

    c = _load(root, cid, lock=False)
    cg = _active(c, "events")
    cg.own("watch the events of", c.id)

    def emit(kind: str, data: dict | None = None) -> None:
        ev: dict = {"type": kind, "id": cid}
        if data is not None:
            ev["data"] = data
        out.write(fastjson.dumps(ev) + "\n")
        out.flush()

    ooms = cg.oom_count()
    next_stats = time.monotonic() + interval  # (runc's first stats come after one interval)
    while True:
        n = cg.oom_count()
        if n > ooms:
            ooms = n
            emit("oom")
        if c.status() not in ("created", "running", "paused"):
            return
        now = time.monotonic()
        if now >= next_stats:
            try:
                emit("stats", cg.stats())
            except OSError:
                return
            next_stats = now + interval
        time.sleep(min(poll, max(0.0, next_stats - time.monotonic())) or poll)


def update(root: str, cid: str, request: dict) -> dict:
    """Change the limits of a live container; returns the stored result."""
    c = _load(root, cid)
    if c.status() not in ("created", "running", "paused"):
        raise PyruncError("container not running")
    delta = changes(request)
    if not delta:
        return c.data.get("resources", {})
    cg = manager.load(c.data)
    cg.own("update", c.id)
    merged = merge(c.data.get("resources") or {}, delta)
    cg.update(delta, merged)  # (systemd: the unit's properties too)
    c.data["resources"] = merged
    c.save()
    return merged
