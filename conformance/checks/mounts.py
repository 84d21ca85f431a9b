"""Root, mounts and mount options, maskedPaths, readonlyPaths and
rootfsPropagation (config.md, config-linux.md)."""

from __future__ import annotations

import os
import subprocess
import time

from conformance.harness import (
    Bundle,
    Ctx,
    Fail,
    Skip,
    check,
    find_mount,
    mountinfo_entries,
)


def host_mount(ctx: Ctx, target: str, opts: str = "", shared: bool = False) -> None:
    os.makedirs(target, exist_ok=True)
    args = ["mount", "-t", "tmpfs"] + (["-o", opts] if opts else []) + ["cf-src", target]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        raise Skip(f"cannot mount a tmpfs on the host: {p.stderr.strip()}")
    ctx.defer(lambda: subprocess.run(["umount", "-R", "-l", target], capture_output=True))
    subprocess.run(["mount", "--make-shared" if shared else "--make-private", target],
                   capture_output=True)


def mountinfo_of(ctx: Ctx, b: Bundle) -> list[dict]:
    b.script("cat /proc/self/mountinfo")
    return mountinfo_entries(ctx.run(b))


@check("CFG-MOUNTS-001", "CFG-MOUNTS-003")
def mount_order(ctx: Ctx) -> None:
    b = ctx.bundle()
    b.add_mount("/mnt/a", "tmpfs", "tmpfs", ["size=1m"])
    b.add_mount("/mnt/a/b", "tmpfs", "tmpfs", ["size=1m"])
    b.add_mount("/mnt/c", "tmpfs", "tmpfs", ["size=1m"])
    b.add_mount("mnt/rel", "tmpfs", "tmpfs", ["size=1m"])
    mi = mountinfo_of(ctx, b)
    a, bb, c = (find_mount(mi, p) for p in ("/mnt/a", "/mnt/a/b", "/mnt/c"))
    ok = a and bb and c and bb["parent"] == a["id"] and mi.index(a) < mi.index(bb) < mi.index(c)
    ctx.expect("CFG-MOUNTS-001", bool(ok),
               f"/mnt/a={a and a['id']} /mnt/a/b={bb and (bb['id'], bb['parent'])} "
               f"/mnt/c={c and c['id']}")
    ctx.expect("CFG-MOUNTS-003", find_mount(mi, "/mnt/rel") is not None,
               "the relative destination mnt/rel is not mounted at /mnt/rel")


@check("CFG-MOUNTS-006", "CFG-MOUNTS-007", "CFG-ROOT-002")
def bind_sources(ctx: Ctx) -> None:
    b = ctx.bundle()
    os.makedirs(os.path.join(b.path, "data"))
    with open(os.path.join(b.path, "data", "file"), "w") as f:
        f.write("relative-source\n")
    other = ctx.host_dir("other")
    with open(os.path.join(other, "file"), "w") as f:
        f.write("no-type\n")
    b.add_mount("/mnt/rel", "none", "data", ["bind"])
    b.add_mount("/mnt/notype", None, other, ["rbind", "ro"])
    b.config["root"]["path"] = b.rootfs  # absolute
    b.script("cat /mnt/rel/file /mnt/notype/file")
    out, failed = ctx.run_ok(b)
    if failed:
        raise Fail(f"create failed: {failed.why()}")
    lines = out.split()
    ctx.ok("CFG-ROOT-002")
    ctx.expect("CFG-MOUNTS-006", lines[:1] == ["relative-source"],
               f"bind of a bundle-relative source: {lines}")
    ctx.expect("CFG-MOUNTS-007", lines[1:2] == ["no-type"], f"rbind without a type: {lines}")


@check("CFG-ROOT-005")
def root_readonly(ctx: Ctx) -> None:
    b = ctx.bundle("touch /cf-file && echo WROTE; cat /proc/self/mountinfo")
    b.config["root"]["readonly"] = True
    out = ctx.run(b)
    root = find_mount(mountinfo_entries(out), "/")
    ro = root is not None and "ro" in root["opts"]
    ctx.expect("CFG-ROOT-005", "WROTE" not in out and ro
               and not os.path.exists(os.path.join(b.rootfs, "cf-file")),
               f"root readonly: write {'worked' if 'WROTE' in out else 'failed'}, "
               f"mount {'ro' if ro else 'not ro'}")


# option -> (mount options, what to find in the container's mountinfo)
# checks: "+X" per-mount option X present, "-X" absent, "s+X"/"s-X" in the
# super options, "p+X"/"p-X" in the propagation fields, "ok" only that the
# mount exists (the kernel shows no trace of the option). An option that only
# clears a flag (rw, suid, async ...) is given after the option it undoes, as
# mount(8) does with "-o ro,rw": the later one wins.
TMPFS_OPTS = {
    "async": (["sync", "async"], ["s-sync"]),
    "atime": (["noatime", "atime"], ["-noatime"]),
    "defaults": (["defaults"], ["+rw", "-nosuid", "-nodev", "-noexec"]),
    "dev": (["nodev", "dev"], ["-nodev"]),
    "diratime": (["nodiratime", "diratime"], ["-nodiratime"]),
    "dirsync": (["dirsync"], ["s+dirsync"]),
    "exec": (["noexec", "exec"], ["-noexec"]),
    "iversion": (["iversion"], ["ok"]),
    "lazytime": (["lazytime"], ["s+lazytime"]),
    "loud": (["silent", "loud"], ["ok"]),
    "noatime": (["noatime"], ["+noatime"]),
    "nodev": (["nodev"], ["+nodev"]),
    "nodiratime": (["nodiratime"], ["+nodiratime"]),
    "noexec": (["noexec"], ["+noexec"]),
    "noiversion": (["noiversion"], ["ok"]),
    "nolazytime": (["lazytime", "nolazytime"], ["s-lazytime"]),
    "norelatime": (["norelatime"], ["ok"]),
    "nostrictatime": (["strictatime", "nostrictatime"], ["+relatime"]),
    "nosuid": (["nosuid"], ["+nosuid"]),
    "nosymfollow": (["nosymfollow"], ["+nosymfollow"]),
    "relatime": (["relatime"], ["+relatime"]),
    "ro": (["ro"], ["+ro"]),
    "rw": (["ro", "rw"], ["+rw"]),
    "silent": (["silent"], ["ok"]),
    "strictatime": (["strictatime"], ["-relatime", "-noatime"]),
    "suid": (["nosuid", "suid"], ["-nosuid"]),
    "symfollow": (["nosymfollow", "symfollow"], ["-nosymfollow"]),
    "sync": (["sync"], ["s+sync"]),
}
# options on binds of the host tree SRC (a shared tmpfs with submounts a
# (rw, defaults) and b (ro,nosuid,nodev,noexec,noatime,nodiratime,nosymfollow)):
# checks prefixed "a:"/"b:" apply to the submount.
BIND_OPTS = {
    "bind": (["bind"], ["ok", "nosub"]),
    "rbind": (["rbind"], ["ok", "a:ok"]),
    "shared": (["bind", "shared"], ["p+shared"]),
    "rshared": (["rbind", "rshared"], ["p+shared", "a:p+shared"]),
    "slave": (["bind", "slave"], ["p+master", "p-shared"]),
    "rslave": (["rbind", "rslave"], ["p+master", "a:p+master", "a:p-shared"]),
    "private": (["bind", "private"], ["p-shared", "p-master"]),
    "rprivate": (["rbind", "rprivate"], ["p-shared", "p-master", "a:p-shared"]),
    "unbindable": (["bind", "unbindable"], ["p+unbindable"]),
    "runbindable": (["rbind", "runbindable"], ["p+unbindable", "a:p+unbindable"]),
    "rro": (["rbind", "rro"], ["+ro", "a:+ro"]),
    "rrw": (["rbind", "rrw"], ["+rw", "b:+rw"]),
    "rnosuid": (["rbind", "rnosuid"], ["+nosuid", "a:+nosuid"]),
    "rsuid": (["rbind", "rsuid"], ["b:-nosuid"]),
    "rdev": (["rbind", "rdev"], ["b:-nodev"]),
    "rnoexec": (["rbind", "rnoexec"], ["+noexec", "a:+noexec"]),
    "rexec": (["rbind", "rexec"], ["b:-noexec"]),
    "rnoatime": (["rbind", "rnoatime"], ["+noatime", "a:+noatime"]),
    "ratime": (["rbind", "ratime"], ["b:-noatime"]),
    "rnodiratime": (["rbind", "rnodiratime"], ["+nodiratime", "a:+nodiratime"]),
    "rdiratime": (["rbind", "rdiratime"], ["b:-nodiratime"]),
    "rrelatime": (["rbind", "rrelatime"], ["b:+relatime"]),
    "rnorelatime": (["rbind", "rnorelatime"], ["ok", "a:ok"]),
    "rstrictatime": (["rbind", "rstrictatime"], ["a:-relatime", "a:-noatime"]),
    "rnostrictatime": (["rbind", "rnostrictatime"], ["ok", "a:ok"]),
    "rnosymfollow": (["rbind", "rnosymfollow"], ["+nosymfollow", "a:+nosymfollow"]),
    "rsymfollow": (["rbind", "rsymfollow"], ["b:-nosymfollow"]),
}
IDMAP = {
    "idmap": (["bind", "idmap"], ["owner0"]),
    "ridmap": (["rbind", "ridmap"], ["owner0", "a:owner0"]),
}
REMOUNT = "remount"
FSDATA = "FSDATA"
ALL_OPTS = sorted([*TMPFS_OPTS, *BIND_OPTS, *IDMAP, REMOUNT])
MAP = [{"containerID": 0, "hostID": 1000, "size": 1}]


def opt_id(opt: str) -> str:
    return "CFG-MOUNTOPT-FSDATA" if opt == FSDATA else f"CFG-MOUNTOPT-{opt.upper()}"


def add_opt_mount(b: Bundle, opt: str, src: str) -> None:
    dest = f"/mnt/o-{opt}"
    if opt in TMPFS_OPTS:
        b.add_mount(dest, "tmpfs", "tmpfs", ["size=1m", *TMPFS_OPTS[opt][0]])
    elif opt in BIND_OPTS:
        b.add_mount(dest, "bind", src, BIND_OPTS[opt][0])
    elif opt in IDMAP:
        b.add_mount(dest, "bind", src, IDMAP[opt][0], uidMappings=MAP, gidMappings=MAP)
    elif opt == REMOUNT:
        b.add_mount(dest, "tmpfs", "tmpfs", ["size=1m"])
        b.add_mount(dest, "tmpfs", "tmpfs", ["remount", "ro"])
    elif opt == FSDATA:
        b.add_mount(dest, "tmpfs", "tmpfs", ["mode=711", "nr_inodes=4321"])


def judge(opt: str, out: str) -> str:
    """'' if the option worked in this container's output, else why not."""
    mi = mountinfo_entries(out)
    dest = f"/mnt/o-{opt}"
    owners = dict(ln.split()[1:3] for ln in out.splitlines()
                  if ln.startswith("OWNER ") and len(ln.split()) == 3)
    if opt == REMOUNT:
        m = find_mount(mi, dest)
        return "" if m and "ro" in m["opts"] else f"after remount,ro: {m and m['opts']}"
    if opt == FSDATA:
        m = find_mount(mi, dest)
        sup = m["super"] if m else []
        ok = "mode=711" in sup and "nr_inodes=4321" in sup
        return "" if ok else f"tmpfs data mode=711,nr_inodes=4321 -> {sup}"
    want = (TMPFS_OPTS.get(opt) or BIND_OPTS.get(opt) or IDMAP[opt])[1]
    for w in want:
        path = dest
        if w[:2] in ("a:", "b:"):
            path, w = f"{dest}/{w[0]}", w[2:]
        m = find_mount(mi, path)
        if w == "nosub":
            if find_mount(mi, f"{dest}/a"):
                return "a non-recursive bind carried the submount"
            continue
        if w == "owner0":
            got = owners.get(path)
            if got != "1000:1000":
                return (f"{path}/file (0:0 on disk) shows as {got}, want 1000:1000 through "
                        f"the idmap 0->1000")
            continue
        if m is None:
            return f"{path} is not mounted"
        if w == "ok":
            continue
        kind, sign, name = ("s", w[1], w[2:]) if w[0] == "s" else \
            ("p", w[1], w[2:]) if w[0] == "p" else ("o", w[0], w[1:])
        if kind == "s":
            have = name in m["super"]
        elif kind == "p":
            have = any(x == name or x.startswith(name + ":") for x in m["optional"])
        else:
            have = name in m["opts"]
        if have != (sign == "+"):
            where = {"s": m["super"], "p": m["optional"], "o": m["opts"]}[kind]
            return f"{path}: {'missing' if sign == '+' else 'unexpected'} {name} in {where}"
    return ""


def probe_script(opts: list[str]) -> str:
    lines = ["cat /proc/self/mountinfo"]
    for o in opts:
        if o in IDMAP:
            for sub in ("", "/a"):
                p = f"/mnt/o-{o}{sub}"
                lines.append(f'[ -e {p}/file ] && echo "OWNER {p} $(stat -c %u:%g {p}/file)"')
    return "; ".join(lines)


@check(*[opt_id(o) for o in [*ALL_OPTS, FSDATA]], timeout=120)
def mount_options(ctx: Ctx) -> None:
    """Every option on its own mount in one container; when create fails,
    each option alone to find the culprits."""
    src = os.path.join(ctx.dir, "src")
    host_mount(ctx, src, "size=4m", shared=True)
    for sub, opts in (("a", "size=1m"),
                      ("b", "size=1m,ro,nosuid,nodev,noexec,noatime,nodiratime,nosymfollow")):
        os.makedirs(os.path.join(src, sub))
        host_mount(ctx, os.path.join(src, sub), opts, shared=True)
    for f in (os.path.join(src, "file"), os.path.join(src, "a", "file")):
        with open(f, "w") as fh:
            fh.write("x")
    subprocess.run(["mount", "-o", "remount,ro", os.path.join(src, "b")], capture_output=True)

    options = [*ALL_OPTS, FSDATA]
    b = ctx.bundle()
    for o in options:
        add_opt_mount(b, o, src)
    b.script(probe_script(options))
    out, failed = ctx.run_ok(b)
    if not failed:
        for o in options:
            why = judge(o, out)
            if why:
                ctx.fail(opt_id(o), why)
            else:
                ctx.ok(opt_id(o))
        return
    for o in options:
        b = ctx.bundle()
        add_opt_mount(b, o, src)
        b.script(probe_script([o]))
        out, failed = ctx.run_ok(b)
        if failed:
            ctx.fail(opt_id(o), f"create failed: {failed.why()}")
            continue
        why = judge(o, out)
        if why:
            ctx.fail(opt_id(o), why)
        else:
            ctx.ok(opt_id(o))


@check("LNX-MASKED-001", "LNX-RO-001")
def masked_and_readonly(ctx: Ctx) -> None:
    b = ctx.bundle()
    r = b.rootfs
    for d in ("secretdir", "rodir"):
        os.makedirs(os.path.join(r, d))
        with open(os.path.join(r, d, "file"), "w") as f:
            f.write("SECRET\n")
    with open(os.path.join(r, "secretfile"), "w") as f:
        f.write("SECRET\n")
    b.linux["maskedPaths"] = ["/secretfile", "/secretdir", "/proc/kcore", "/cf-no-such-path"]
    b.linux["readonlyPaths"] = ["/rodir", "/proc/sys"]
    b.script("grep -qs SECRET /secretfile && echo LEAK-FILE; "
             "grep -qs SECRET /secretdir/file && echo LEAK-DIR; "
             "[ \"$(head -c 16 /proc/kcore 2>/dev/null | wc -c)\" -gt 0 ] && echo LEAK-KCORE; "
             "touch /rodir/new 2>/dev/null && echo WROTE-RODIR; "
             "grep -qs SECRET /rodir/file || echo UNREADABLE-RODIR; "
             "cat /proc/self/mountinfo")
    out = ctx.run(b)
    leaks = [w for w in out.split() if w.startswith("LEAK-")]
    ctx.expect("LNX-MASKED-001", not leaks and "/proc/self/mountinfo" not in out,
               f"readable: {leaks}")
    mi = mountinfo_entries(out)
    ro = {p: (m := find_mount(mi, p)) is not None and "ro" in m["opts"]
          for p in ("/rodir", "/proc/sys")}
    ctx.expect("LNX-RO-001", "WROTE-RODIR" not in out and "UNREADABLE-RODIR" not in out
               and all(ro.values()),
               f"write to /rodir {'worked' if 'WROTE-RODIR' in out else 'failed'}; "
               f"read-only mounts: {ro}")


@check("LNX-PROP-001", "LNX-PROP-002", "LNX-PROP-003", "LNX-PROP-004", timeout=60)
def rootfs_propagation(ctx: Ctx) -> None:
    """The bundles live on a shared host tmpfs; a host mount made under the
    rootfs after start is seen inside with slave (and shared), not private."""
    shared = os.path.join(ctx.dir, "shared")
    host_mount(ctx, shared, "size=64m", shared=True)
    script = ("i=0; while [ ! -e /go ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; "
              "cat /proc/self/mountinfo; ls /mnt/ptest")
    for rid, prop in (("LNX-PROP-001", "shared"), ("LNX-PROP-002", "slave"),
                      ("LNX-PROP-003", "private"), ("LNX-PROP-004", "unbindable")):
        ctx.n += 1
        b = Bundle(os.path.join(shared, f"b{prop}"), ctx.suite.template,
                   ctx.bundle().config)
        b.config["linux"]["cgroupsPath"] = ctx.cgroups_path(f"prop-{prop}")
        b.linux["rootfsPropagation"] = prop
        os.makedirs(os.path.join(b.rootfs, "mnt", "ptest"), exist_ok=True)
        b.script(script)
        cid, c = ctx.create(b)
        if not c.ok:
            ctx.fail(rid, f"create failed: {c.why()}")
            continue
        ctx.must_start(cid)
        target = os.path.join(b.rootfs, "mnt", "ptest")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "cf-prop", target],
                       capture_output=True)
        with open(os.path.join(target, "seen-from-host"), "w") as f:
            f.write("x")
        with open(os.path.join(b.rootfs, "go"), "w") as f:
            f.write("go")
        ctx.wait_status(cid, "stopped", 10)
        subprocess.run(["umount", "-l", target], capture_output=True)
        out = b.stdout()
        mi = mountinfo_entries(out)
        root = find_mount(mi, "/")
        tags = root["optional"] if root else []
        seen = "seen-from-host" in out
        has = {t.split(":")[0] for t in tags}
        if prop == "shared":
            ctx.expect(rid, "shared" in has, f"/ propagation {tags}")
        elif prop == "slave":
            ctx.expect(rid, "master" in has and seen,
                       f"/ propagation {tags}, host mount seen inside: {seen}")
        elif prop == "private":
            ctx.expect(rid, not has & {"shared", "master"} and not seen,
                       f"/ propagation {tags}, host mount seen inside: {seen}")
        else:
            ctx.expect(rid, "unbindable" in has and not seen,
                       f"/ propagation {tags}, host mount seen inside: {seen}")
        d = ctx.delete(cid)
        if not d.ok:
            ctx.delete(cid, force=True)
        time.sleep(0.01)
