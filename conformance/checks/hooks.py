"""Hooks: all six kinds, their order, namespaces, the state on stdin, their
args/env/timeout, and what a failing hook does (config.md, runtime.md)."""

from __future__ import annotations

import json
import os
import time

from conformance.harness import Bundle, Ctx, Fail, check, ns_link, read

HOOK = r"""#!/bin/sh
# hook NAME DIR MODE: record what the hook sees in DIR/NAME.*
name=$1; dir=$2; mode=$3
cat > "$dir/$name.state"
echo "$name" >> "$dir/log"
for n in mnt net uts ipc pid; do echo "$n $(readlink /proc/self/ns/$n)"; done > "$dir/$name.ns"
pid=$(sed -n 's/.*"pid"[ ]*:[ ]*\([0-9][0-9]*\).*/\1/p' "$dir/$name.state" | head -n 1)
if [ "$mode" = ctr ]; then
    root=/
else
    root=/proc/$pid/root/
    readlink "/proc/$pid/ns/net" > "$dir/$name.ctrnet"
    tr '\0' ' ' < "/proc/$pid/cmdline" > "$dir/$name.cmdline"
fi
if [ -e "${root}conformance-rootfs-marker" ]; then r=pivoted; else r=notpivoted; fi
echo $r > "$dir/$name.root"
env > "$dir/$name.env"
echo "$@" > "$dir/$name.args"
grep -l "MARKE[R]" /proc/[0-9]*/cmdline 2>/dev/null | wc -l > "$dir/$name.alive"
[ "$mode" = fail ] && exit 1
exit 0
"""

KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop"]
IN_CONTAINER = ("createContainer", "startContainer")


class Hooks:
    """Hook scripts on the host (H/hook.sh) and in the rootfs (/cfhooks/hook.sh);
    both write to the host directory H, bound at /hookout in the container."""

    def __init__(self, ctx: Ctx, b: Bundle) -> None:
        self.ctx = ctx
        self.b = b
        self.dir = ctx.host_dir(f"hooks-{os.path.basename(b.path)}")
        self.marker = f"cf-user-program-{ctx.suite.run_tag}-{os.path.basename(b.path)}"
        text = HOOK.replace("MARKE[R]", self.marker[:-1] + f"[{self.marker[-1]}]")
        self.host_script = os.path.join(self.dir, "hook.sh")
        for path in (self.host_script, os.path.join(b.rootfs, "cfhooks", "hook.sh")):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
        b.add_mount("/hookout", "bind", self.dir, ["bind"])
        b.process["args"] = ["sh", "-c", "echo process >> /hookout/log; "
                             "while :; do sleep 0.05; done", self.marker]
        b.config["hooks"] = {}

    def add(self, kind: str, name: str, mode: str | None = None, **extra) -> None:
        inside = kind == "startContainer"
        mode = mode or ("ctr" if kind in IN_CONTAINER else "rt")
        path = "/cfhooks/hook.sh" if inside else self.host_script
        d = "/hookout" if inside else self.dir
        self.b.config["hooks"].setdefault(kind, []).append({
            "path": path, "args": ["hook.sh", name, d, mode],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "CF_HOOK_ENV=yes"], **extra})

    def log(self) -> list[str]:
        return read(os.path.join(self.dir, "log"), "").split()

    def get(self, name: str, what: str) -> str:
        return read(os.path.join(self.dir, f"{name}.{what}"), "").strip()

    def state(self, name: str) -> dict | None:
        try:
            return json.loads(self.get(name, "state"))
        except ValueError:
            return None

    def ns(self, name: str) -> dict[str, str]:
        return dict(ln.split(" ", 1) for ln in self.get(name, "ns").splitlines() if " " in ln)

    def user_alive(self) -> int:
        n = 0
        for pid in os.listdir("/proc"):
            if pid.isdigit() and self.marker.encode() in read_bytes(f"/proc/{pid}/cmdline"):
                n += 1
        return n


def read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


ALL_IDS = ("RT-LIFECYCLE-005", "RT-LIFECYCLE-007", "RT-LIFECYCLE-009", "RT-LIFECYCLE-011",
           "RT-LIFECYCLE-014", "RT-LIFECYCLE-017", "RT-STATE-010", "RT-STATE-011",
           *[f"CFG-HOOKS-{i:03d}" for i in range(4, 27) if i != 3])


@check(*ALL_IDS)
def hooks(ctx: Ctx) -> None:
    b = ctx.bundle()
    h = Hooks(ctx, b)
    for kind in KINDS:
        for i in (1, 2):
            h.add(kind, f"{kind}{i}")
    env = {**os.environ, "CF_RUNTIME_LEAK": "1"}
    cid, c = ctx.create(b, env=env)
    if not c.ok:
        raise Fail(f"create with all six hooks failed: {c.why()}")
    st = ctx.must_state(cid)
    pid = st.get("pid")
    after_create = h.log()
    ctr_ns = {k: ns_link(pid, k) for k in ("mnt", "net", "uts", "ipc", "pid")}
    s = ctx.rt("start", cid, env=env)
    if not s.ok:
        raise Fail(f"start failed: {s.why()}")
    after_start = h.log()
    poststart_done = all(os.path.exists(os.path.join(h.dir, f"poststart{i}.state"))
                         for i in (1, 2))
    ctx.kill(cid, "KILL")
    ctx.wait_status(cid, "stopped")
    d = ctx.rt("delete", cid, env=env)
    if not d.ok:
        raise Fail(f"delete failed: {d.why()}")
    log = h.log()
    poststop_done = all(os.path.exists(os.path.join(h.dir, f"poststop{i}.state"))
                        for i in (1, 2))

    # invoked, in the listed order
    for rid, kind in zip(("RT-LIFECYCLE-005", "RT-LIFECYCLE-007", "RT-LIFECYCLE-009",
                          "RT-LIFECYCLE-011", "RT-LIFECYCLE-014", "RT-LIFECYCLE-017"), KINDS,
                         strict=True):
        ctx.expect(rid, f"{kind}1" in log and f"{kind}2" in log, f"{kind} hooks ran: {log}")
    expected = [f"{k}{i}" for k in KINDS for i in (1, 2)]
    hooks_only = [x for x in log if x != "process"]
    ctx.expect("CFG-HOOKS-017", hooks_only == expected, f"order: {hooks_only}")
    idx = {x: i for i, x in enumerate(log)}
    ctx.expect("CFG-HOOKS-020", idx.get("prestart2", 99) < idx.get("createRuntime1", -1),
               f"order: {log}")
    ctx.expect("CFG-HOOKS-023", idx.get("createRuntime2", 99) < idx.get("createContainer1", -1),
               f"order: {log}")
    create_kinds = {x.rstrip("12") for x in after_create}
    ctx.expect("CFG-HOOKS-019", "prestart" in create_kinds, f"hooks run by create: {after_create}")
    ctx.expect("CFG-HOOKS-021", "createRuntime" in create_kinds,
               f"hooks run by create: {after_create}")
    ctx.expect("CFG-HOOKS-022", "createContainer" in create_kinds,
               f"hooks run by create: {after_create}")
    ctx.expect("CFG-HOOKS-024", "startContainer1" not in after_create
               and "startContainer2" in after_start
               and idx.get("startContainer2", 99) < idx.get("process", -1),
               f"after create {after_create}; after start {after_start}")
    ctx.expect("CFG-HOOKS-025", poststart_done and "poststart2" in after_start,
               "poststart hooks had not run when start returned")
    ctx.expect("CFG-HOOKS-026", poststop_done and "poststop1" not in after_start,
               "poststop hooks had not run when delete returned")

    # the state on stdin, and its pid
    for kind in KINDS:
        for i in (1, 2):
            sd = h.state(f"{kind}{i}")
            ok = isinstance(sd, dict) and sd.get("id") == cid and sd.get("bundle") == b.path \
                and isinstance(sd.get("ociVersion"), str) and isinstance(sd.get("status"), str)
            ctx.expect("CFG-HOOKS-018", ok, f"{kind}{i} got {h.get(f'{kind}{i}', 'state')!r}")
    for kind in ("prestart", "createRuntime", "poststart"):
        sd = h.state(f"{kind}1") or {}
        ctx.expect("RT-STATE-010", sd.get("pid") == pid,
                   f"{kind}: pid {sd.get('pid')!r}, the runtime sees {pid}")
    for kind in IN_CONTAINER:
        sd = h.state(f"{kind}1") or {}
        ctx.expect("RT-STATE-011", sd.get("pid") == 1,
                   f"{kind}: pid {sd.get('pid')!r}, the container sees its process as 1")

    # where they ran
    mine = {k: ns_link("self", k) for k in ("net", "uts", "ipc", "pid")}
    for rid_path, rid_ns, kind in (("CFG-HOOKS-005", "CFG-HOOKS-006", "prestart"),
                                   ("CFG-HOOKS-007", "CFG-HOOKS-008", "createRuntime"),
                                   ("CFG-HOOKS-013", "CFG-HOOKS-014", "poststart"),
                                   ("CFG-HOOKS-015", "CFG-HOOKS-016", "poststop")):
        ran = f"{kind}1" in log
        ctx.expect(rid_path, ran, f"{kind} at a host path did not run")
        ns = h.ns(f"{kind}1")
        diff = [k for k in mine if ns.get(k) != mine[k]]
        ctx.expect(rid_ns, ran and not diff, f"{kind}: not the runtime's namespaces: {diff}")
    for rid_path, rid_ns, kind in (("CFG-HOOKS-009", "CFG-HOOKS-010", "createContainer"),
                                   ("CFG-HOOKS-011", "CFG-HOOKS-012", "startContainer")):
        ran = f"{kind}1" in log
        where = "a host path" if kind == "createContainer" else "a path only in the rootfs"
        ctx.expect(rid_path, ran, f"{kind} at {where} did not run")
        ns = h.ns(f"{kind}1")
        diff = [k for k in ctr_ns if ns.get(k) != ctr_ns[k]]
        ctx.expect(rid_ns, ran and not diff, f"{kind}: not the container's namespaces: {diff}")

    # before pivot_root, after the namespaces
    host_net = ns_link("self", "net")
    for rid, kind in (("CFG-HOOKS-019", "prestart"), ("CFG-HOOKS-021", "createRuntime"),
                      ("CFG-HOOKS-022", "createContainer")):
        root = h.get(f"{kind}1", "root")
        ctx.expect(rid, root == "notpivoted", f"{kind}: rootfs already pivoted ({root!r})")
        if kind != "createContainer":
            net = h.get(f"{kind}1", "ctrnet")
            ctx.expect(rid, bool(net) and net != host_net,
                       f"{kind}: the container's network namespace did not exist yet ({net!r})")
    cmd = h.get("poststart1", "cmdline")
    ctx.expect("CFG-HOOKS-025", h.marker in cmd,
               f"poststart: the container process runs {cmd!r}, not the user program")
    ctx.expect("CFG-HOOKS-026", h.get("poststop1", "alive") == "0",
               "poststop: the container process was still alive")

    # args and env
    for kind in KINDS:
        args = h.get(f"{kind}1", "args").split()
        ctx.expect("CFG-HOOKS-004", args[:1] == [f"{kind}1"] and len(args) == 3,
                   f"{kind} args: {args}")
        env = h.get(f"{kind}1", "env")
        ctx.expect("CFG-HOOKS-004", "CF_HOOK_ENV=yes" in env.split("\n")
                   and "CF_RUNTIME_LEAK" not in env,
                   f"{kind} env is not exactly hooks[].env: {env.split()}")


@check("RT-LIFECYCLE-006", "RT-LIFECYCLE-008", "RT-LIFECYCLE-010", "RT-LIFECYCLE-012",
       "RT-LIFECYCLE-015", "RT-LIFECYCLE-019", timeout=60)
def failing_hooks(ctx: Ctx) -> None:
    for rid, kind in (("RT-LIFECYCLE-006", "prestart"), ("RT-LIFECYCLE-008", "createRuntime"),
                      ("RT-LIFECYCLE-010", "createContainer"),
                      ("RT-LIFECYCLE-012", "startContainer"), ("RT-LIFECYCLE-015", "poststart")):
        b = ctx.bundle()
        h = Hooks(ctx, b)
        h.add(kind, "failing", "fail")
        h.add("poststop", "poststop1")
        cid, c = ctx.create(b)
        if kind in ("prestart", "createRuntime", "createContainer"):
            st = ctx.state(cid)
            ctx.expect(rid, not c.ok, f"create exited 0 though a {kind} hook failed")
            ctx.expect(rid, st is None or st.get("status") == "stopped",
                       f"after the failed create: state {st}")
            ctx.expect(rid, "process" not in h.log(), "the user program ran")
            if st is not None:
                ctx.delete(cid, force=True)
        else:
            if not c.ok:
                ctx.fail(rid, f"create failed: {c.why()}")
                continue
            s = ctx.start(cid)
            ctx.expect(rid, not s.ok, f"start exited 0 though a {kind} hook failed")
            time.sleep(0.3)
            st = ctx.state(cid)
            ctx.expect(rid, (st is None or st.get("status") == "stopped")
                       and h.user_alive() == 0,
                       f"after the failed start: state {st and st.get('status')}, user "
                       f"program processes {h.user_alive()}")
            if st is not None:
                ctx.kill(cid, "KILL")
                ctx.delete(cid, force=True)
        ctx.expect("RT-LIFECYCLE-019", "poststop1" in h.log(),
                   f"no poststop hook after the failing {kind} hook: {h.log()}")


@check("RT-LIFECYCLE-018", "RT-WARNINGS-001")
def failing_poststop(ctx: Ctx) -> None:
    b = ctx.bundle()
    h = Hooks(ctx, b)
    h.add("poststop", "poststop1", "fail")
    h.add("poststop", "poststop2")
    cid = ctx.must_create(b)
    ctx.must_start(cid)
    ctx.kill(cid, "KILL")
    ctx.wait_status(cid, "stopped")
    d = ctx.delete(cid)
    gone = ctx.state(cid) is None
    for rid in ("RT-LIFECYCLE-018", "RT-WARNINGS-001"):
        ctx.expect(rid, d.ok and gone and "poststop2" in h.log(),
                   f"failing poststop hook: delete {'ok' if d.ok else d.why()}, container "
                   f"{'gone' if gone else 'still there'}, next hook ran: "
                   f"{'poststop2' in h.log()}")


@check("CFG-HOOKS-003", timeout=40)
def hook_timeout(ctx: Ctx) -> None:
    b = ctx.bundle(args=["true"])
    script = os.path.join(ctx.host_dir("sleeper"), "sleeper.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nsleep 25\n")
    os.chmod(script, 0o755)
    b.config["hooks"] = {"createRuntime": [{"path": script, "timeout": 1}]}
    t0 = time.monotonic()
    cid, c = ctx.create(b, timeout=30)
    took = time.monotonic() - t0
    ctx.expect("CFG-HOOKS-003", not c.ok and took < 10,
               f"a hook sleeping 25s with timeout 1: create {'failed' if not c.ok else 'ok'} "
               f"after {took:.1f}s")
