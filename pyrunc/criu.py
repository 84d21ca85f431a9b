"""A small client of CRIU's RPC interface (`criu swrk` over a socket pair),
on the protobuf messages of the `pycriu` package that Debian's criu ships
(`rpc_pb2`, compiled from criu's rpc.proto). Only checkpoint and restore
import this module."""

import array
import os
import socket
import subprocess
import sys
from collections.abc import Callable

from .errors import PyruncError

CRIU = "criu"
# pycriu and python3-protobuf live in the distribution's site directory, which
# pyrunc's isolated virtual environment does not see: it is added here only.
SYSTEM_SITE = "/usr/lib/python3/dist-packages"
# Lines criu logs as errors that do not stop it (no tun device is fine).
HARMLESS = ("tun: Unable to create tun",)
KERNDAT_FAILED = ("when initializing kerndat", "Could not initialize kernel features detection")


def rpc():
    """criu's rpc_pb2 module, from pycriu; loaded alone, not through pycriu's
    __init__, which also loads every image format (seconds, on a slow machine)."""
    mod = sys.modules.get("pycriu.rpc_pb2") or sys.modules.get("_pyrunc_criu_rpc_pb2")
    if mod is not None:
        return mod
    import importlib.machinery
    import importlib.util

    if SYSTEM_SITE not in sys.path:
        sys.path.append(SYSTEM_SITE)  # (google.protobuf too)
    pkg = importlib.machinery.PathFinder.find_spec("pycriu", sys.path)
    try:
        if pkg is None or not pkg.submodule_search_locations:
            raise ImportError("no module named pycriu")
        path = os.path.join(pkg.submodule_search_locations[0], "rpc_pb2.py")
        spec = importlib.util.spec_from_file_location("_pyrunc_criu_rpc_pb2", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    except (ImportError, OSError) as e:
        raise PyruncError(f"checkpoint/restore needs criu and its Python RPC library "
                          f"(pycriu, python3-protobuf): {e}") from None
    sys.modules["_pyrunc_criu_rpc_pb2"] = mod
    return mod


def available() -> bool:
    """Are criu and pycriu installed (what `features` reports; whether this
    kernel lets criu run is known only by trying)?"""
    import importlib.machinery
    import shutil

    pkg = importlib.machinery.PathFinder.find_spec("pycriu", [*sys.path, SYSTEM_SITE])
    return bool(shutil.which(CRIU) and pkg and pkg.submodule_search_locations)


def check_line() -> str:
    """`criu check`'s first error line (why criu cannot run here), or ''."""
    try:
        p = subprocess.run([CRIU, "check"], capture_output=True, timeout=120,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    for line in (p.stderr + p.stdout).decode(errors="replace").splitlines():
        if line.startswith("Error"):
            return line.strip()
    return ""


def log_errors(path: str, n: int = 3) -> list[str]:
    """The last `n` error lines of a criu log, without their timestamps."""
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    errs = [ln.split(") ", 1)[1] if ln.startswith("(") and ") " in ln else ln
            for ln in lines if "Error (" in ln and not any(h in ln for h in HARMLESS)]
    return errs[-n:]


def failure(what: str, log_path: str, errmsg: str = "") -> PyruncError:
    """The one-line error of a failed criu request: why criu cannot run on this
    kernel (from `criu check`), or the last error lines of its log."""
    errs = log_errors(log_path)
    if any(k in e for e in errs for k in KERNDAT_FAILED):
        why = check_line() or errs[-1]
        return PyruncError(f"{what}: criu cannot run on this kernel ({os.uname().release}): "
                           f"{why}")
    detail = "; ".join(errs) or errmsg or "no error in its log"
    return PyruncError(f"{what}: criu failed: {detail} (log: {log_path})")


NotifyFn = Callable[[str, int, list[int]], None]


def swrk(req, *, log_path: str, what: str, pass_fds: tuple[int, ...] = (),
         stdio: tuple | None = None, on_spawn: Callable[[int], None] | None = None,
         on_notify: NotifyFn | None = None):
    """Run one request through `criu swrk`: spawn it, let `on_spawn(pid)` act
    on it (join cgroups, add options) before the request goes, answer its
    notifications (`on_notify(script, pid, fds)`), return its response."""
    rpc_pb2 = rpc()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stdin, stdout, stderr = stdio or (subprocess.DEVNULL,) * 3
    try:
        proc = subprocess.Popen([CRIU, "swrk", str(theirs.fileno())],
                                pass_fds=(theirs.fileno(), *pass_fds), stdin=stdin,
                                stdout=stdout, stderr=stderr)
    except OSError as e:
        ours.close()
        theirs.close()
        raise PyruncError(f"{what}: running {CRIU}: {e.strerror}") from None
    theirs.close()
    try:
        if on_spawn is not None:
            on_spawn(proc.pid)
        ours.sendall(req.SerializeToString())
        while True:
            fds = array.array("i")
            try:
                data, anc, _, _ = ours.recvmsg(10 * 4096, socket.CMSG_SPACE(4 * fds.itemsize))
            except OSError as e:
                raise PyruncError(f"{what}: criu: {e.strerror}") from None
            for level, kind, blob in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(blob[: len(blob) - len(blob) % fds.itemsize])
            if not data:
                raise failure(what, log_path, "criu exited without an answer")
            resp = rpc_pb2.criu_resp()
            resp.ParseFromString(data)
            if not resp.success:
                for fd in fds:
                    os.close(fd)
                raise failure(what, log_path, resp.cr_errmsg)
            if resp.type != rpc_pb2.NOTIFY:
                return resp
            try:
                if on_notify is not None:
                    on_notify(resp.notify.script, resp.notify.pid, list(fds))
            finally:
                for fd in fds:
                    os.close(fd)
            ack = rpc_pb2.criu_req()
            ack.type = rpc_pb2.NOTIFY
            ack.notify_success = True
            ours.sendall(ack.SerializeToString())
    finally:
        ours.close()  # (a pre-dump's criu waits for more requests until then)
        proc.wait()


def cgroup_roots(pid: int) -> list[tuple[str, str]]:
    """(controllers, path) of each hierarchy of process `pid` (criu's cg_root)."""
    out = []
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            out.append((ctrls, path))
    return out
