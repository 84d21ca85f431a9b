"""Devices, the device allow list, and netDevices (config-linux.md)."""

from __future__ import annotations

import os
import subprocess

from conformance.harness import Ctx, Fail, Skip, check


@check("LNX-DEVICES-001", "LNX-DEVICES-002")
def devices(ctx: Ctx) -> None:
    b = ctx.bundle("for d in /dev/cf-null /dev/cf-fifo /dev/cf-blk; do "
                   "stat -c '%n %F %t:%T %a %u:%g' $d; done; echo x > /dev/cf-null && echo OK")
    b.linux["devices"] = [
        {"path": "/dev/cf-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
         "uid": 12, "gid": 34},
        {"path": "/dev/cf-fifo", "type": "p", "fileMode": 0o600},
        {"path": "/dev/cf-blk", "type": "b", "major": 7, "minor": 250, "fileMode": 0o660,
         "uid": 0, "gid": 6},
    ]
    out, failed = ctx.run_ok(b)
    if failed:
        raise Fail(f"create failed: {failed.why()}")
    rows = {ln.split()[0]: ln.split(" ", 1)[1] for ln in out.splitlines() if ln.startswith("/")}
    want_type = {"/dev/cf-null": "character special file 1:3",
                 "/dev/cf-fifo": "fifo", "/dev/cf-blk": "block special file 7:fa"}
    for p, t in want_type.items():
        got = rows.get(p, "")
        ctx.expect("LNX-DEVICES-001", got.startswith(t), f"{p}: {got!r}, want {t}")
    ctx.expect("LNX-DEVICES-001", "OK" in out.split(), "writing /dev/cf-null failed")
    attrs = {p: rows.get(p, "").split()[-2:] for p in want_type}
    want = {"/dev/cf-null": ["640", "12:34"], "/dev/cf-fifo": ["600", "0:0"],
            "/dev/cf-blk": ["660", "0:6"]}
    ctx.expect("LNX-DEVICES-002", attrs == want, f"mode and owner: {attrs}, want {want}")


@check("LNX-DEVICES-003")
def device_over_other_file(ctx: Ctx) -> None:
    b = ctx.bundle(args=["true"])
    b.config["mounts"] = [m for m in b.config["mounts"] if not m["destination"].startswith("/dev")]
    with open(os.path.join(b.rootfs, "dev", "cf-file"), "w") as f:
        f.write("a regular file\n")
    b.linux["devices"] = [{"path": "/dev/cf-file", "type": "c", "major": 1, "minor": 3}]
    ctx.expect_create_error("LNX-DEVICES-003", b, "a device over an existing regular file")


@check("LNX-DEVALLOW-001")
def device_allow_list(ctx: Ctx) -> None:
    """241:* is an unregistered major: with access allowed, open() says ENXIO;
    denied by the device cgroup, EPERM."""
    if not os.path.isdir("/sys/fs/cgroup/devices"):
        raise Skip("no devices cgroup controller")
    b = ctx.bundle("cat /dev/cf-a 2>&1; (echo x > /dev/cf-a) 2>&1; cat /dev/cf-b 2>&1; echo END")
    b.linux["devices"] = [{"path": "/dev/cf-a", "type": "c", "major": 241, "minor": 7},
                          {"path": "/dev/cf-b", "type": "c", "major": 241, "minor": 8}]
    b.linux["resources"] = {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 241, "minor": 7, "access": "rw"},
        {"allow": False, "type": "c", "major": 241, "minor": 7, "access": "w"},
        {"allow": True, "type": "c", "major": 241, "minor": 8, "access": "m"},
        {"allow": True, "type": "c", "major": 241, "minor": 7, "access": "m"},
    ]}
    out, failed = ctx.run_ok(b)
    if failed:
        raise Fail(f"create failed: {failed.why()}")
    lines = out.splitlines()
    if len(lines) < 4:
        raise Fail(f"output: {out!r}")
    read_a, write_a, read_b = lines[:3]
    ok = ("No such device" in read_a and "not permitted" in write_a
          and "not permitted" in read_b)
    ctx.expect("LNX-DEVALLOW-001", ok,
               f"read 241:7 (allowed): {read_a!r}; write 241:7 (denied after): {write_a!r}; "
               f"read 241:8 (denied): {read_b!r}")


def ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@check("LNX-NETDEV-001", "LNX-NETDEV-002", "LNX-NETDEV-003", "LNX-NETDEV-004",
       "LNX-NETDEV-005", "LNX-NETDEV-006")
def net_devices(ctx: Ctx) -> None:
    """veth pairs made for the test (no traffic): one end is moved in."""
    tag = f"{os.getpid() % 10000}"
    names = [f"cf{tag}{s}" for s in ("a", "b", "c", "d", "e", "f")]

    def cleanup() -> None:
        for n in names:
            ip("link", "del", n)

    ctx.defer(cleanup)
    for a, b_ in ((names[0], names[1]), (names[2], names[3]), (names[4], names[5])):
        r = ip("link", "add", a, "type", "veth", "peer", "name", b_)
        if r.returncode != 0:
            raise Skip(f"cannot make a veth pair: {r.stderr.strip()}")
    # TEST-NET-1 (RFC 5737) address, permanent and global; nothing is sent.
    ip("addr", "add", "192.0.2.10/24", "dev", names[0])
    b = ctx.bundle("ip -o link show; ip -o addr show")
    b.linux["netDevices"] = {names[0]: {"name": "cfeth0"}, names[2]: {"name": "cfnet%d"}}
    out, failed = ctx.run_ok(b)
    if failed:
        for rid in ("LNX-NETDEV-001", "LNX-NETDEV-003", "LNX-NETDEV-004", "LNX-NETDEV-005",
                    "LNX-NETDEV-006"):
            ctx.fail(rid, f"create failed: {failed.why()}")
    else:
        links = {ln.split(":")[1].strip().split("@")[0]: ln for ln in out.splitlines()
                 if ": <" in ln}
        ctx.expect("LNX-NETDEV-001", "cfeth0" in links, f"interfaces inside: {sorted(links)}")
        ctx.expect("LNX-NETDEV-003", "cfnet0" in links, f"interfaces inside: {sorted(links)}")
        up = links.get("cfeth0", "")
        ctx.expect("LNX-NETDEV-005", ",UP" in up or "<UP" in up, f"cfeth0: {up!r}")
        ctx.expect("LNX-NETDEV-004", any("cfeth0" in ln and "192.0.2.10/24" in ln
                                         for ln in out.splitlines()),
                   "192.0.2.10/24 is not on cfeth0 inside")
        # After delete the namespace is gone and a veth with it: nothing may
        # have been moved back to the host.
        host = ip("-o", "link", "show").stdout
        back = [n for n in (names[0], names[2], "cfeth0", "cfnet0") if f" {n}:" in host
                or f" {n}@" in host]
        if "cfeth0" not in links:
            ctx.skip("LNX-NETDEV-006", "the device was not moved in (LNX-NETDEV-001)")
        else:
            ctx.expect("LNX-NETDEV-006", not back, f"back on the host after delete: {back}")
    b = ctx.bundle(args=["true"])
    b.linux["netDevices"] = {names[4]: {"name": "lo"}}
    ctx.expect_create_error("LNX-NETDEV-002", b, "a netDevice named lo (exists inside)")
