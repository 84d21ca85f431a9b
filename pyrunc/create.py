"""create and run: a container from a bundle, set up to the point where
only its user process remains to be started (see spawn.py, csrc/init.c)."""

from . import state
from .cgroups import host as cgroups
from .cgroups import manager
from .container import (
    crash_point,
    delete,
    destroy,
    signal_cgroup,
    start,
    start_socket_path,
    warn,
)
from .errors import PyruncError
from .state import START_SOCKET, Container
from .util import fastos as os
from .util import trace


def create(root: str, cid: str, bundle: str, *, pid_file: str | None = None,
           console_socket: str | None = None, no_pivot: bool = False,
           preserve_fds: int = 0, no_new_keyring: bool = False,
           pidfd_socket: str | None = None, listen_fds: int = 0,
           systemd_cgroup: bool = False, rootless: str = "auto",
           _own_console: list | None = None) -> Container:
    """Create a container: everything set up, the user process not yet run.

    `_own_console` (used by `run`) receives our end of a console socket pair
    when the process has a terminal and no console socket was given;
    `systemd_cgroup` makes the cgroup a systemd scope (see cgroups/systemd.py);
    `rootless` is the --rootless flag (auto, true, false: see rootless.py)."""
    from . import plan
    from .config.load import load_bundle
    from .spawn import connect_console

    state.validate_id(cid)
    config, bundle, rootfs = load_bundle(bundle)
    trace.step("pyrunc: config.json loaded and validated")
    if listen_fds:  # socket activation passed on, as runc: the fds are 3..
        process = config["process"]
        process["env"] = [*process.get("env", []), f"LISTEN_FDS={listen_fds}", "LISTEN_PID=1"]
    terminal = bool(config["process"].get("terminal"))
    if terminal and not console_socket and _own_console is None:
        raise PyruncError("cannot allocate a tty without --console-socket when detached "
                          "($.process.terminal is true)")
    linux = config.get("linux", {})
    from .rootless import detect

    is_rootless = detect(rootless)
    if is_rootless and os.geteuid() != 0:
        from .rootless import check_namespaces

        check_namespaces(linux)
    cg = manager.new(cid, linux, systemd_cgroup, rootless=is_rootless)
    mounted = cg.paths or cgroups.directories(".")  # (rootless without a cgroup: the caller's)
    hierarchies = {h.name or "unified": h for h in cgroups.hierarchies()}
    tasks, into, later = cg.self_join(any(  # (systemd: pyrunc moves stage 1 into the scope)
        ns.get("type") == "cgroup" and "path" in ns for ns in linux.get("namespaces", [])))
    if "NOTIFY_SOCKET" in os.environ:
        from .linux import notify

        if notify.host_socket():
            notify.setup_spec(config, os.path.join(root, cid))

    def cgroup_mounts(dest: str, flags: int, where: str) -> list[bytes]:
        # (a hybrid host: the v1 hierarchies only, as runc 1.1.5; no .../unified)
        sources = [(hierarchies[n].dirname, p) for n, p in mounted.items()
                   if n != "unified" or cgroups.pure_v2(mounted)]
        return plan.cgroup_bind_records(sources, dest, flags, where)

    console_fd = -1
    if terminal:
        if console_socket:
            console_fd = connect_console(console_socket, 3 + preserve_fds)
        else:
            from .linux.tty import console_pair
            from .spawn import above

            ours, theirs = console_pair()
            _own_console.append(ours)
            console_fd = above(theirs, 3 + preserve_fds)
    try:
        plan_bytes, facts = plan.build_create(config, bundle, rootfs, no_pivot=no_pivot,
                                              preserve_fds=preserve_fds,
                                              cgroup_mounts=cgroup_mounts,
                                              console_fd=console_fd, cid=cid,
                                              new_keyring=not no_new_keyring,
                                              cgroup_tasks=tuple(tasks), cgroup_into=into)
        trace.step("pyrunc: plan written")
        c = _create(root, cid, config, bundle, rootfs, cg, plan_bytes, facts,
                    pid_file=pid_file, preserve_fds=preserve_fds, console_fd=console_fd,
                    pyrunc_joins=later, rootless=is_rootless)
        if pidfd_socket:
            send_pidfd(pidfd_socket, c.pid)
        return c
    finally:
        if console_fd >= 0:
            os.close(console_fd)


def _create(root: str, cid: str, config: dict, bundle: str, rootfs: str, cg: manager.Manager,
            plan_bytes: bytes, facts: dict, *, pid_file: str | None, preserve_fds: int,
            console_fd: int, pyrunc_joins: dict[str, str], rootless: bool = False
            ) -> Container:
    from . import hooks
    from .spawn import Init, write_id_maps

    linux = config.get("linux", {})
    c = Container.new(root, cid)
    init = None
    hooks_started: list[bool] = []
    all_hooks = config.get("hooks", {})
    try:
        cg.check_existing()  # (as runc, once the id is free: warns if not empty, refuses frozen)
        crash_point("claimed")
        c.data = first_state(cid, config, bundle, rootfs, cg, facts["namespaces"], rootless)
        c.save()
        crash_point("state-saved")
        if os.environ.get("NOTIFY_SOCKET"):
            from .linux import notify

            notify_dir = os.path.dirname(notify.IN_CONTAINER)
            if any(m.get("destination") == notify_dir for m in config.get("mounts", [])):
                notify.make_dir(c.dir)
        if not cg.needs_process:
            _make_cgroups(c, cg, linux)  # limits before the init joins
        crash_point("cgroups-made")
        trace.step("pyrunc: state claimed, cgroups made")
        start_fd = _listen_for_start(c)
        try:
            init = Init(plan_bytes, fifo_fd=start_fd, preserve_fds=preserve_fds,
                        extra_fds=(console_fd,) if console_fd >= 0 else ())
        finally:
            os.close(start_fd)
        crash_point("init-spawned")
        trace.step("pyrunc: pyrunc-init spawned from a sealed memfd")
        trace.debug(f"nsexec[{init.stage1}]: => nsexec container setup")
        if cg.needs_process:
            # a scope needs a process: systemd puts the waiting init in, with the
            # limits it knows; the other files and hierarchies are ours, as usual
            cg.start(init.stage1, cid, linux.get("resources") or {})
            trace.step(f"pyrunc: systemd unit {cg.unit} started")
            _make_cgroups(c, cg, linux)
        # (with systemd: also the v1 hierarchies it does not manage; where the
        # unit put the init already, the move changes nothing)
        cg.join(init.stage1, pyrunc_joins)  # (what stage 1 does not join itself)
        crash_point("cgroups-joined")
        pid = init.go()
        cg.apply_pids(linux)  # (systemd: TasksMax too)
        c.data["pid"] = pid
        c.data["pid_start"] = state.proc_start_time(pid)
        c.save()
        crash_point("pid-known")
        trace.step(f"pyrunc: container pid {pid}")
        trace.debug("child process in init()")
        if facts["new_user"] and os.geteuid() != 0:
            from .rootless import write_id_maps as write_own_maps

            write_own_maps(pid, linux)
        elif facts["new_user"]:
            write_id_maps(pid, linux)
        adj = config["process"].get("oomScoreAdj")
        if adj is not None:
            _write_oom_score_adj(pid, adj)
        if linux.get("netDevices"):
            from .linux import netdev

            netdev.move(pid, linux["netDevices"])
            trace.step("pyrunc: network devices moved")
        init.maps_done()

        def on_hooks() -> tuple[str, str]:
            from .util.fastjson import dumps

            hooks_started.append(True)
            st = c.oci_state()
            st["status"] = "creating"
            st["pid"] = pid
            hooks.run_hooks(all_hooks, "prestart", st)
            hooks.run_hooks(all_hooks, "createRuntime", st)
            # in the container's namespaces the init puts its own pid for \x01
            def with_mark(status: str) -> str:
                return dumps({**st, "pid": -1, "status": status}).replace(
                    '"pid":-1', '"pid":\x01', 1)

            return with_mark("creating"), with_mark("created")

        init.wait_ready(on_hooks)
        crash_point("ready")
        trace.debug("init: closing the pipe to signal completion")
        trace.step("pyrunc: container created")
        c.data["status"] = "created"
        c.save()
        crash_point("created-saved")
        if pid_file:
            write_pid_file(pid_file, pid)
    except BaseException:
        if init is not None:
            init.kill()
        if hooks_started and all_hooks.get("poststop"):
            # a failed create hook: stop, destroy, then poststop (runtime.md steps 12-13)
            hooks.warn_hooks(all_hooks, "poststop", {**c.oci_state(), "status": "stopped"},
                             warn)
        # what it made, or had recorded it was about to make (systemd: the unit
        # stopped first, if started)
        cg.made = cg.made or c.data.get("cgroup_made") or []
        cg.remove()
        c.remove()
        raise
    c.unlock()
    return c


def first_state(cid: str, config: dict, bundle: str, rootfs: str, cg: manager.Manager,
                namespaces: dict, rootless: bool = False) -> dict:
    """The state.json of a container being made (by create, or restore)."""
    linux = config.get("linux", {})
    data = {
        "ociVersion": config["ociVersion"], "id": cid, "status": "creating", "pid": 0,
        "bundle": bundle, "rootfs": rootfs, "created": state.now_rfc3339(),
        "annotations": config.get("annotations", {}),
        # (the cgroup directories it is about to make: see _make_cgroups)
        "cgroup": cg.paths, "cgroup_made": [] if cg.needs_process else cg.planned(),
        "hooks": {k: v for k, v in config.get("hooks", {}).items()
                  if k in ("poststart", "poststop")},
        "pidns": "pid" in namespaces and "path" not in namespaces["pid"],
        "namespaces": sorted(namespaces),
        "process": config["process"],
    }
    if cg.unit:
        data["systemd_unit"] = cg.unit
    if rootless:
        data["rootless"] = True
    if "seccomp" in linux:  # exec'd processes get the same filter (as runc)
        data["seccomp"] = linux["seccomp"]
    attrs = {k: linux[k] for k in ("personality", "memoryPolicy") if k in linux}
    if attrs:  # and the same personality and memory policy
        data["linux_attrs"] = attrs
    return data


def _make_cgroups(c: Container, cg: manager.Manager, linux: dict) -> None:
    """The container's cgroup directories that do not exist yet, with its limits."""
    # recorded before they are made: a create killed or failing from here on
    # leaves a record by which `delete -f` (or the failing create) removes them
    # (create's first state has them, unless they changed since, or a systemd
    # unit was started first)
    planned = cg.planned()
    if planned != c.data.get("cgroup_made"):
        c.data["cgroup_made"] = planned
        c.save()
    crash_point("cgroups-recorded")
    c.data["cgroup_made"] = cg.create(linux, after_mkdir=lambda: crash_point("cgroups-mkdir"))
    trace.step("pyrunc: cgroup directories made")
    c.data["resources"] = linux.get("resources") or {}
    c.save()


def send_pidfd(path: str, pid: int) -> None:
    """--pidfd-socket: a pidfd of the process, sent over the unix socket at
    `path` (one message, one SCM_RIGHTS fd, as runc)."""
    send_fd(path, os.pidfd_open(pid), b"pidfd", f"--pidfd-socket {path}")


def send_fd(path: str, fd: int, name: bytes, what: str) -> None:
    """Send `fd` (then closed here) with the message `name` over a new
    connection to the unix socket at `path`; an error names `what`."""
    import _socket
    import array

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
        sock.sendmsg([name], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                               array.array("i", [fd]).tobytes())])
    except OSError as e:
        raise PyruncError(f"{what}: {e.strerror}") from None
    finally:
        sock.close()
        os.close(fd)


def _listen_for_start(c: Container) -> int:
    """The listening socket the created init waits on for `start`."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.bind(start_socket_path(c))
        os.chmod(os.path.join(c.dir, START_SOCKET), 0o600)
        sock.listen(1)
    except OSError:
        sock.close()
        raise
    return sock.detach()


def _write_oom_score_adj(pid: int, adj: int) -> None:
    try:
        with open(f"/proc/{pid}/oom_score_adj", "w") as f:
            f.write(str(adj))
    except OSError as e:
        raise PyruncError(f"$.process.oomScoreAdj: setting {adj}: {e.strerror}") from None


def write_pid_file(path: str, pid: int) -> None:
    """The pid, no newline, written atomically (containerd parses it with Atoi)."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def run(root: str, cid: str, bundle: str, *, detach: bool = False, keep: bool = False,
        **create_args) -> int:
    """create + start; in the foreground, wait and return the exit status."""
    console: list = []
    c = create(root, cid, bundle, _own_console=None if detach else console, **create_args)
    pid = c.pid
    master = -1
    try:
        if console:
            from .linux.tty import receive_master

            master = receive_master(console[0])
        start(root, cid)
    except BaseException:
        if master >= 0:
            os.close(master)
        delete(root, cid, force=True)
        raise
    if detach:
        return 0
    if master >= 0:
        from .linux.tty import relay

        status = exit_status(relay(master, pid))
    else:
        status = wait_forwarding_signals(pid)
    if not keep:
        c = Container.load(root, cid)
        c.lock()
        signal_cgroup(c, 9)
        destroy(c)
    return status


FORWARDED = (1, 2, 3, 10, 12, 15, 28)  # HUP INT QUIT USR1 USR2 TERM WINCH


def wait_forwarding_signals(pid: int, group: bool = False) -> int:
    """Wait for our child `pid`, passing on the signals we receive (to its
    process group with `group`)."""
    import _signal

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(-pid if group else pid, signum)
        except ProcessLookupError:
            pass

    for s in FORWARDED:
        _signal.signal(s, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255
    for s in FORWARDED:
        _signal.signal(s, _signal.SIG_DFL)
    return exit_status(status)


def exit_status(status: int) -> int:
    """A wait status as a shell exit code: 128+N when killed by signal N."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
