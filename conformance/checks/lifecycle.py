"""Lifecycle, the state document, and the operations on containers in each
state (runtime.md)."""

from __future__ import annotations

import os
import re
import time

from conformance.harness import (
    Ctx,
    Fail,
    cgroup_dirs,
    check,
    mount_points,
    ns_link,
    proc_alive,
    read,
)

SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
STATUSES = ("creating", "created", "running", "stopped")


def state_problems(st: dict) -> list[str]:
    """Differences from schema/state-schema.json."""
    out = []
    for key in ("ociVersion", "id", "status", "bundle"):
        if key not in st:
            out.append(f"no {key}")
        elif not isinstance(st[key], str):
            out.append(f"{key} is not a string")
    if st.get("status") not in STATUSES:
        out.append(f"status {st.get('status')!r} not in {STATUSES}")
    if "pid" in st and (not isinstance(st["pid"], int) or isinstance(st["pid"], bool)
                        or st["pid"] < 0):
        out.append(f"pid {st['pid']!r} is not an integer >= 0")
    ann = st.get("annotations")
    if ann is not None and (not isinstance(ann, dict)
                            or not all(isinstance(v, str) for v in ann.values())):
        out.append("annotations is not a map of strings")
    return out


def wait_file(path: str, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.02)
    return False


@check("RT-SCOPE-001", "RT-OPS-001", "RT-CREATE-004", "RT-STATE-001", "RT-STATE-002",
       "RT-STATE-004", "RT-STATE-005", "RT-STATE-006", "RT-STATE-007", "RT-STATE-008",
       "RT-STATE-009", "RT-STATE-012", "RT-STATE-013", "RT-QUERY-003", "RT-LIFECYCLE-003",
       "RT-CREATE-006", "RT-LIFECYCLE-013", "RT-START-004", "RT-KILL-003",
       "RT-LIFECYCLE-016", "RT-DELETE-004")
def lifecycle(ctx: Ctx) -> None:
    b = ctx.bundle("echo out-line; touch /started; trap 'touch /usr1; exit 3' USR1; "
                   "while :; do sleep 0.05; done")
    started = os.path.join(b.rootfs, "started")
    cid = ctx.must_create(b)
    st = ctx.must_state(cid)
    seen = [st.get("status")]
    probs = state_problems(st)
    ctx.expect("RT-STATE-013", not probs, f"state after create: {probs}")
    ctx.expect("RT-STATE-001", isinstance(st.get("ociVersion"), str)
               and bool(SEMVER.match(st.get("ociVersion", ""))),
               f"ociVersion {st.get('ociVersion')!r}")
    ctx.expect("RT-STATE-002", st.get("id") == cid, f"id {st.get('id')!r} != {cid!r}")
    ctx.expect("RT-STATE-004", isinstance(st.get("status"), str), "no status string")
    ctx.expect("RT-STATE-005", st.get("status") == "created",
               f"status after create is {st.get('status')!r}")
    ctx.expect("RT-STATE-012", st.get("bundle") == b.path,
               f"bundle {st.get('bundle')!r} != {b.path!r}")
    pid = st.get("pid")
    ok_pid = isinstance(pid, int) and pid > 0 and proc_alive(pid)
    ctx.expect("RT-STATE-009", ok_pid, f"created: pid {pid!r} is not a live process")
    if ok_pid:
        ctx.expect("RT-STATE-009", ns_link(pid, "pid") != ns_link("self", "pid"),
                   f"created: pid {pid} is not in the container's pid namespace")
    time.sleep(0.3)
    ctx.expect("RT-LIFECYCLE-003", not os.path.exists(started),
               "the user program ran before start")
    ctx.expect("RT-CREATE-006", not os.path.exists(started),
               "process.args ran before start")
    ctx.ok("RT-QUERY-003")

    s = ctx.start(cid)
    if not s.ok:
        raise Fail(f"start failed: {s.why()}")
    ran = wait_file(started)
    ctx.expect("RT-LIFECYCLE-013", ran, "the user program did not run after start")
    ctx.expect("RT-START-004", ran, "the user program did not run after start")
    st = ctx.must_state(cid)
    seen.append(st.get("status"))
    ctx.expect("RT-STATE-006", st.get("status") == "running",
               f"status while running is {st.get('status')!r}")
    ctx.expect("RT-STATE-009", st.get("pid") == pid,
               f"running: pid {st.get('pid')!r}, was {pid!r} when created")
    probs = state_problems(st)
    ctx.expect("RT-STATE-013", not probs, f"state while running: {probs}")
    if b.stdout().strip() != "out-line":
        ctx.fail("RT-START-004", f"stdout {b.stdout()[:80]!r} != 'out-line'")

    k = ctx.kill(cid, "USR1")
    if not k.ok:
        ctx.fail("RT-KILL-003", f"kill USR1: {k.why()}")
    ctx.expect("RT-KILL-003", wait_file(os.path.join(b.rootfs, "usr1")),
               "SIGUSR1 did not reach the container process")
    st = ctx.wait_status(cid, "stopped", 5)
    seen.append(st.get("status"))
    ctx.ok("RT-STATE-007")
    probs = state_problems(st)
    ctx.expect("RT-STATE-013", not probs, f"state when stopped: {probs}")
    ctx.expect("RT-STATE-008", all(s in STATUSES for s in seen), f"statuses seen: {seen}")

    cg = cgroup_dirs(b.linux["cgroupsPath"])
    d = ctx.delete(cid)
    if not d.ok:
        raise Fail(f"delete of a stopped container failed: {d.why()}")
    gone = ctx.state(cid) is None
    ctx.expect("RT-DELETE-004", gone, "state still answers after delete")
    left = [c for c in cg if os.path.isdir(c)]
    ctx.expect("RT-DELETE-004", not left, f"cgroups left after delete: {left}")
    ctx.expect("RT-LIFECYCLE-016", gone and not left,
               f"after delete: state gone={gone}, cgroups left={left}")
    mounts = [m for m in mount_points() if m.startswith(b.path)]
    ctx.expect("RT-LIFECYCLE-016", not mounts, f"mounts left: {mounts}")
    for rid in ("RT-SCOPE-001", "RT-OPS-001", "RT-CREATE-004"):
        ctx.ok(rid)


@check("RT-STATE-012")
def state_bundle_relative(ctx: Ctx) -> None:
    """`create --bundle NAME` from the bundle's parent: bundle is absolute."""
    b = ctx.bundle(args=["sleep", "10"])
    cid = ctx.must_create(b, cwd=os.path.dirname(b.path),
                          bundle_arg=os.path.basename(b.path))
    st = ctx.must_state(cid)
    ctx.expect("RT-STATE-012", st.get("bundle") == b.path,
               f"bundle given as a relative path: state says {st.get('bundle')!r}")


@check("RT-LIFECYCLE-001", "RT-CREATE-005")
def created_environment(ctx: Ctx) -> None:
    """After create, before start: namespaces, cgroup, mounts, hostname exist."""
    b = ctx.bundle(args=["sleep", "10"])
    b.config["hostname"] = "cf-created"
    b.linux["resources"] = {"pids": {"limit": 77}}
    cid = ctx.must_create(b)
    pid = ctx.must_state(cid).get("pid")
    if not isinstance(pid, int) or pid <= 0:
        raise Fail(f"no pid in the state of a created container: {pid!r}")
    problems = []
    for ns in ("mnt", "net", "uts", "ipc", "pid"):
        if ns_link(pid, ns) == ns_link("self", ns):
            problems.append(f"{ns} namespace not created")
    cgs = read(f"/proc/{pid}/cgroup", "")
    if b.linux["cgroupsPath"] not in cgs:
        problems.append("process not in cgroupsPath")
    pids_max = [read(os.path.join(d, "pids.max"), "").strip()
                for d in cgroup_dirs(b.linux["cgroupsPath"])
                if os.path.exists(os.path.join(d, "pids.max"))]
    if pids_max != ["77"]:
        problems.append(f"pids.max is {pids_max}, not 77")
    mi = read(f"/proc/{pid}/mountinfo", "")
    if not re.search(r" /proc .* - proc ", mi):
        problems.append("/proc not mounted")
    import subprocess

    h = subprocess.run(["nsenter", "-t", str(pid), "-u", "hostname"], capture_output=True,
                       text=True, timeout=10)
    if h.stdout.strip() != "cf-created":
        problems.append(f"hostname is {h.stdout.strip()!r}")
    for rid in ("RT-LIFECYCLE-001", "RT-CREATE-005"):
        ctx.expect(rid, not problems, "; ".join(problems))


@check("RT-LIFECYCLE-004")
def config_change_after_create(ctx: Ctx) -> None:
    b = ctx.bundle("echo original")
    cid = ctx.must_create(b)
    b.script("echo changed")
    b.config["hostname"] = "changed"
    b.write()
    ctx.must_start(cid)
    ctx.wait_status(cid, "stopped")
    out = b.stdout().strip()
    ctx.expect("RT-LIFECYCLE-004", out == "original",
               f"after editing config.json between create and start, the container "
               f"printed {out!r}")


@check("RT-DELETE-005")
def delete_keeps_foreign_resources(ctx: Ctx) -> None:
    """A bind-mount source, a namespace joined by path and a cgroup that
    existed before create all survive delete."""
    from conformance.harness import CGROUP_ROOT, start_holder, stop_holder

    h = start_holder(["--net"])
    ctx.defer(lambda: stop_holder(h))
    data = ctx.host_dir("data")
    with open(os.path.join(data, "keep"), "w") as f:
        f.write("keep\n")
    b = ctx.bundle("cat /mnt/data/keep")
    b.add_mount("/mnt/data", "bind", data, ["rbind"])
    b.set_ns("network", f"/proc/{h.inner}/ns/net")
    pre = os.path.join(CGROUP_ROOT, "memory", b.linux["cgroupsPath"].lstrip("/"))
    os.makedirs(pre)
    out = ctx.run(b)
    if out.strip() != "keep":
        raise Fail(f"the container did not see the bind mount: {out!r}")
    lost = []
    if read(os.path.join(data, "keep"), "") != "keep\n":
        lost.append("the bind-mount source's file")
    if not proc_alive(h.inner):
        lost.append("the process holding the joined network namespace")
    if not os.path.isdir(pre):
        lost.append(f"the pre-existing cgroup {pre}")
    ctx.expect("RT-DELETE-005", not lost, f"delete removed: {', '.join(lost)}")
