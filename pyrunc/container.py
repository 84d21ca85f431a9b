"""Operations on an existing container: start, state, kill, delete, list
(create and run: create.py; exec: execute.py). Kept small: every `state`,
`kill` and `delete` imports it."""

from . import fastos as os
from . import state
from .errors import PyruncError
from .state import START_SOCKET, Container, NotFound

ACTIVE = ("created", "running", "paused")


def warn(msg: str) -> None:
    """A warning in the log (--log, else stderr); the command goes on."""
    from .log import warning

    warning(msg)


def stop_unit(unit: str) -> None:
    """Stop a container's systemd unit; a failure is only a warning."""
    from . import systemd

    try:
        systemd.stop(unit)
    except PyruncError as e:
        warn(str(e))


def start_socket_path(c: Container) -> str:
    """exec.sock through the container directory's fd: short enough for
    sun_path whatever the root and id."""
    return f"/proc/self/fd/{c.lock_fd()}/{START_SOCKET}"


def crash_point(step: str) -> None:
    """Tests only: PYRUNC_CRASH_AT=STEP makes pyrunc die by SIGKILL at STEP."""
    if os.environ.get("PYRUNC_CRASH_AT") == step:
        os.kill(os.getpid(), 9)


CREATE_STEPS = ("claimed", "state-saved", "cgroups-made", "init-spawned", "cgroups-joined",
                "pid-known", "ready", "created-saved")


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
            run_hooks(hooks, "poststart", c.oci_state())
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
        from . import notify

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
        from . import notify

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
    from .signals import parse_signal

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
            from .cgroup_ops import freeze

            freeze(c.data.get("cgroup", {}), False)


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
    finally:
        os.close(pidfd)


def signal_cgroup(c: Container, signum: int) -> None:
    """Every process in the cgroup (freeze, signal, thaw; cgroup.kill for SIGKILL);
    a rootless container without a cgroup: every process of its init's pid
    namespace (or its descendants)."""
    if not c.data.get("cgroup") and c.data.get("rootless"):
        from .rootless import container_pids

        for pid in container_pids(c.pid) if c.init_alive() else []:
            try:
                os.kill(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass
        return
    from .cgroup_ops import signal_all

    signal_all(c.data.get("cgroup", {}), signum)


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
        from . import cgroups  # (here: `state` and `kill` need not load it)

        if cgroups.procs(c.data.get("cgroup", {})) or (  # (else nothing is left to kill)
                c.data.get("rootless") and not c.data.get("cgroup")):
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
    if c.data.get("systemd_unit"):
        stop_unit(c.data["systemd_unit"])
    from . import cgroups

    cgroups.remove(c.data.get("cgroup_made", []))
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
