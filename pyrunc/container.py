"""Operations on an existing container: start, state, kill, delete, list
(create and run: create.py; exec: execute.py). Kept small: every `state`,
`kill` and `delete` imports it."""

from . import state
from .errors import PyruncError
from .state import START_SOCKET, Container, NotFound
from .util import fastos as os

ACTIVE = ("created", "running", "paused")


def warn(msg: str) -> None:
    """A warning in the log (--log, else stderr); the command goes on."""
    from .util.log import warning

    warning(msg)


def start_socket_path(c: Container) -> str:
    """exec.sock through the container directory's fd: short enough for
    sun_path whatever the root and id."""
    return f"/proc/self/fd/{c.lock_fd()}/{START_SOCKET}"


def crash_point(step: str) -> None:
    """Tests only: PYRUNC_CRASH_AT=STEP makes pyrunc die by SIGKILL at STEP."""
    if os.environ.get("PYRUNC_CRASH_AT") == step:
        os.kill(os.getpid(), 9)


CREATE_STEPS = ("claimed", "state-saved", "cgroups-recorded", "cgroups-mkdir", "cgroups-made",
                "init-spawned", "cgroups-joined", "pid-known", "ready", "created-saved")


DELETE_STEPS = ("delete-locked", "delete-killed", "delete-cgroups-removed")


def start(root: str, cid: str) -> Container:
    """Run the user process of a created container."""
    c = Container.load(root, cid)
    c.lock()
    try:
        _start_locked(c)
    finally:
        c.unlock()
    hooks = c.data.get("hooks", {})
    if hooks.get("poststart"):
        from .hooks import run_hooks

        try:
            # the process just started, even if it has exited already
            run_hooks(hooks, "poststart", {**c.oci_state(), "pid": c.pid,
                                           "status": "running"})
        except PyruncError:
            # the spec: a failed poststart hook stops the container (step 12)
            signal_cgroup(c, 9)
            raise
    return c


def _start_locked(c: Container) -> None:
    status = c.status()
    if status != "created":
        if status in ("running", "paused"):
            raise PyruncError("cannot start an already running container")
        if status == "creating":
            raise PyruncError("cannot start a container that is still being created")
        raise PyruncError("cannot start a container that has stopped")
    import _socket

    notify_sock = None
    if os.environ.get("NOTIFY_SOCKET"):
        from .linux import notify

        notify_sock = notify.bind(c.lock_fd())
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(start_socket_path(c))
    except OSError:
        sock.close()
        raise PyruncError("cannot start a container that has stopped") from None
    # EOF: the process was executed. Data: why not (a startContainer hook, execve).
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except InterruptedError:
            continue
        except OSError as e:  # (the init died: no bare "Connection reset by peer")
            sock.close()
            raise PyruncError(f"waiting for the container process to start: {e.strerror}"
                              ) from None
        if not data:
            break
        chunks.append(data)
    sock.close()
    os.unlink(os.path.join(c.dir, START_SOCKET))
    reply = b"".join(chunks)
    if reply:
        if notify_sock is not None:
            notify_sock.close()
        c.data["status"] = "stopped"
        c.save()
        msg = reply[1:].decode(errors="replace") if reply[:1] == b"E" else "start failed"
        raise PyruncError(msg)
    c.data["status"] = "running"
    c.save()
    if notify_sock is not None:
        from .linux import notify

        notify.forward_until_ready(notify_sock, os.environ["NOTIFY_SOCKET"], c.pid)


def get_state(root: str, cid: str) -> dict:
    """The OCI state document of a container."""
    return Container.load(root, cid).oci_state()


STOP_SIGNAL = "org.opencontainers.image.stopSignal"


def kill(root: str, cid: str, sig: str | int | None = None, all_procs: bool = False) -> None:
    """Send a signal to the container's init (or, with all_procs, every process).
    Without a signal: the image's stopSignal annotation, else SIGTERM."""
    c = Container.load(root, cid)
    if sig is None:
        sig = c.data.get("annotations", {}).get(STOP_SIGNAL) or 15
    from .linux.signals import parse_signal

    if isinstance(sig, str) and sig.lstrip("-").isdigit():
        signum = int(sig)  # as runc: any number (0 checks); the kernel judges the rest
    else:
        signum = sig if isinstance(sig, int) else parse_signal(sig)
    status = c.status()
    if status not in ACTIVE:
        if all_procs and status == "stopped":
            signal_cgroup(c, signum)
            return
        raise PyruncError("container not running")
    if all_procs:
        signal_cgroup(c, signum)
    else:
        _signal_init(c, signum)
        if signum == 9 and status == "paused":  # a frozen (v1) process dies only when thawed
            from .cgroups import manager

            manager.load(c.data).freeze(False)


def _signal_init(c: Container, signum: int) -> None:
    """Signal the init through a pidfd, after checking it is still our process."""
    import _signal

    try:
        pidfd = os.pidfd_open(c.pid)
    except ProcessLookupError:
        raise PyruncError("container not running") from None
    try:
        if not c.init_alive():
            raise PyruncError("container not running")
        _signal.pidfd_send_signal(pidfd, signum)
    except ProcessLookupError:
        raise PyruncError("container not running") from None
    except OSError as e:  # (a number that is no signal)
        raise PyruncError(f"unable to signal init: {(e.strerror or str(e)).lower()}") from None
    finally:
        os.close(pidfd)


def signal_cgroup(c: Container, signum: int) -> None:
    """Every process in the cgroup (freeze, signal, thaw; cgroup.kill for SIGKILL);
    a rootless container without a cgroup: every process of its init's pid
    namespace (or its descendants)."""
    from .cgroups import manager

    cg = manager.load(c.data)
    if cg.ownership == manager.NONE and not c.init_alive():
        return
    cg.signal_all(signum)


def _wait_gone(c: Container, timeout: float = 10.0) -> None:
    if c.pid <= 0:
        return
    try:
        pidfd = os.pidfd_open(c.pid)
    except OSError:
        return
    try:
        if c.init_alive():
            import select

            p = select.poll()
            p.register(pidfd, select.POLLIN)
            p.poll(int(timeout * 1000))
    finally:
        os.close(pidfd)


def delete(root: str, cid: str, force: bool = False) -> None:
    """Remove a stopped container (with force, kill it first)."""
    try:
        c = Container.load(root, cid)
        c.lock()
    except NotFound:
        if force:
            return
        raise
    try:
        status = c.status()
        # The spec, not runc: a created container is not stopped, so it needs --force.
        if status != "stopped" and not force:
            raise PyruncError(f"cannot delete container {cid} that is not stopped: {status}")
        crash_point("delete-locked")
        # Also when "stopped" because its create died: its init may still wait.
        if c.pid and c.init_alive():
            _signal_init(c, 9)
        from .cgroups import manager  # (here: `state` and `kill` need not load it)

        cg = manager.load(c.data)
        if cg.procs() or cg.ownership == manager.NONE:  # (else nothing is left to kill)
            signal_cgroup(c, 9)
        _wait_gone(c)
        crash_point("delete-killed")
        destroy(c)
    finally:
        c.unlock()  # (API callers live on: never keep the lock after an error)


def destroy(c: Container) -> None:
    """Undo create: poststop hooks, cgroups, the state directory."""
    hooks = c.data.get("hooks", {})
    if hooks.get("poststop"):
        from .hooks import warn_hooks

        st = c.oci_state()
        warn_hooks(hooks, "poststop", st, warn)
    from .cgroups import manager

    manager.load(c.data).remove()  # (systemd: the unit stopped first)
    crash_point("delete-cgroups-removed")
    c.remove()


def list_states(root: str) -> list[dict]:
    """The state of every container under root."""
    out = []
    for cid in state.list_ids(root):
        try:
            out.append(Container.load(root, cid).oci_state())
        except PyruncError:
            continue
    return out
