"""create and run: a container from a bundle, set up to the point where
only its user process remains to be started (see spawn.py, csrc/init.c)."""

from . import cgroups, state, trace
from . import fastos as os
from .container import (
    crash_point,
    delete,
    destroy,
    signal_cgroup,
    start,
    start_socket_path,
    stop_unit,
    warn,
)
from .errors import PyruncError
from .state import START_SOCKET, Container


def create(root: str, cid: str, bundle: str, *, pid_file: str | None = None,
           console_socket: str | None = None, no_pivot: bool = False,
           preserve_fds: int = 0, no_new_keyring: bool = False,
           pidfd_socket: str | None = None, listen_fds: int = 0,
           systemd_cgroup: bool = False, rootless: str = "auto",
           _own_console: list | None = None) -> Container:
    """Create a container: everything set up, the user process not yet run.

    `_own_console` (used by `run`) receives our end of a console socket pair
    when the process has a terminal and no console socket was given;
    `systemd_cgroup` makes the cgroup a systemd scope (see systemd.py);
    `rootless` is the --rootless flag (auto, true, false: see rootless.py)."""
    from . import plan
    from .config import load_bundle
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
    unit = None
    if systemd_cgroup and os.geteuid() != 0:
        raise PyruncError("--systemd-cgroup: not supported for an unprivileged caller (the "
                          "systemd driver uses the system bus, not a user session): use "
                          "cgroupfs, with a delegated cgroup for limits")
    if systemd_cgroup:
        from . import systemd

        *unit, paths = systemd.container_paths(linux.get("cgroupsPath"), cid)
    else:
        paths = cgroups.container_paths(linux.get("cgroupsPath"), cid)
    is_rootless = rootless != "false" and (rootless == "true" or os.geteuid() != 0 or (
        rootless == "auto" and _in_user_namespace()))
    if is_rootless:
        from . import rootless as rl

        if os.geteuid() != 0:
            rl.check_namespaces(linux)
        if not unit:
            paths = rl.cgroup_paths(paths, linux)
    mounted = paths or cgroups.directories(".")  # (rootless without a cgroup: the caller's)
    hierarchies = {h.name or "unified": h for h in cgroups.hierarchies()}
    if unit:  # a systemd scope needs a process: pyrunc moves stage 1 there
        tasks, into, later = [], None, paths
    else:
        tasks, into, later = cgroups.self_join(paths, any(
            ns.get("type") == "cgroup" and "path" in ns for ns in linux.get("namespaces", [])))
    if "NOTIFY_SOCKET" in os.environ:
        from . import notify

        if notify.host_socket():
            notify.setup_spec(config, os.path.join(root, cid))

    def cgroup_mounts(dest: str, flags: int, where: str) -> list[bytes]:
        sources = [(hierarchies[n].dirname, p) for n, p in mounted.items()]
        return plan.cgroup_bind_records(sources, dest, flags, where)

    console_fd = -1
    if terminal:
        if console_socket:
            console_fd = connect_console(console_socket, 3 + preserve_fds)
        else:
            from .spawn import above
            from .tty import console_pair

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
        c = _create(root, cid, config, bundle, rootfs, paths, plan_bytes, facts,
                    pid_file=pid_file, preserve_fds=preserve_fds, console_fd=console_fd,
                    unit=unit, pyrunc_joins=later, rootless=is_rootless)
        if pidfd_socket:
            send_pidfd(pidfd_socket, c.pid)
        return c
    finally:
        if console_fd >= 0:
            os.close(console_fd)


def _create(root: str, cid: str, config: dict, bundle: str, rootfs: str, paths: dict,
            plan_bytes: bytes, facts: dict, *, pid_file: str | None, preserve_fds: int,
            console_fd: int, unit: list[str] | None, pyrunc_joins: dict[str, str],
            rootless: bool = False) -> Container:
    from . import hooks
    from .spawn import Init, write_id_maps

    linux = config.get("linux", {})
    c = Container.new(root, cid)
    init = None
    made: list[str] = []
    unit_started = False
    hooks_started: list[bool] = []
    all_hooks = config.get("hooks", {})
    try:
        crash_point("claimed")
        c.data = {
            "ociVersion": config["ociVersion"], "id": cid, "status": "creating", "pid": 0,
            "bundle": bundle, "rootfs": rootfs, "created": state.now_rfc3339(),
            "annotations": config.get("annotations", {}),
            "cgroup": paths, "cgroup_made": [],
            "hooks": {k: v for k, v in config.get("hooks", {}).items()
                      if k in ("poststart", "poststop")},
            "pidns": "pid" in facts["namespaces"] and "path" not in facts["namespaces"]["pid"],
            "namespaces": sorted(facts["namespaces"]),
            "process": config["process"],
        }
        if unit:
            c.data["systemd_unit"] = unit[1]
        if rootless:
            c.data["rootless"] = True
        if "seccomp" in linux:  # exec'd processes get the same filter (as runc)
            c.data["seccomp"] = linux["seccomp"]
        attrs = {k: linux[k] for k in ("personality", "memoryPolicy") if k in linux}
        if attrs:  # and the same personality and memory policy
            c.data["linux_attrs"] = attrs
        c.save()
        crash_point("state-saved")
        if os.environ.get("NOTIFY_SOCKET"):
            from . import notify

            notify_dir = os.path.dirname(notify.IN_CONTAINER)
            if any(m.get("destination") == notify_dir for m in config.get("mounts", [])):
                notify.make_dir(c.dir)
        if not unit:
            made = _make_cgroups(c, paths, linux)  # limits before the init joins
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
        if unit:
            # a scope needs a process: systemd puts the waiting init in, with the
            # limits it knows; the other files and hierarchies are ours, as usual
            from . import systemd

            res = linux.get("resources") or {}
            unit_started = True
            systemd.start(unit[0], unit[1], init.stage1, cid,
                          systemd.properties(res, cgroups.pure_v2(paths)))
            trace.step(f"pyrunc: systemd unit {unit[1]} started")
            made = _make_cgroups(c, paths, linux)
        # (with systemd: also the v1 hierarchies it does not manage; where the
        # unit put the init already, the move changes nothing)
        cgroups.join(pyrunc_joins, init.stage1)  # (what stage 1 does not join itself)
        crash_point("cgroups-joined")
        pid = init.go()
        if unit:
            systemd.set_properties(unit[1], systemd.tasks_max(linux.get("resources") or {}))
        from .resources import apply_pids

        apply_pids(paths, linux)
        c.data["pid"] = pid
        c.data["pid_start"] = state.proc_start_time(pid)
        c.save()
        crash_point("pid-known")
        trace.step(f"pyrunc: container pid {pid}")
        if facts["new_user"] and os.geteuid() != 0:
            from .rootless import write_id_maps as write_own_maps

            write_own_maps(pid, linux)
        elif facts["new_user"]:
            write_id_maps(pid, linux)
        adj = config["process"].get("oomScoreAdj")
        if adj is not None:
            _write_oom_score_adj(pid, adj)
        if linux.get("netDevices"):
            from . import netdev

            netdev.move(pid, linux["netDevices"])
            trace.step("pyrunc: network devices moved")
        init.maps_done()

        def on_hooks() -> tuple[str, str]:
            from .fastjson import dumps

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
        if unit_started:
            stop_unit(unit[1])
        cgroups.remove(made)
        c.remove()
        raise
    c.unlock()
    return c


def _make_cgroups(c: Container, paths: dict, linux: dict) -> list[str]:
    """The container's cgroup directories that do not exist yet, with its limits."""
    from .resources import setup

    made = cgroups.create(paths)
    c.data["cgroup_made"] = made
    try:  # (rootless: no device filter can be attached, and none is needed, as runc)
        setup(paths, made, linux, devices=not c.data.get("rootless"))
    except BaseException:
        cgroups.remove(made)
        raise
    c.data["resources"] = linux.get("resources") or {}
    c.save()
    return made


def _in_user_namespace() -> bool:
    from .rootless import in_user_namespace

    return in_user_namespace()


def send_pidfd(path: str, pid: int) -> None:
    """--pidfd-socket: a pidfd of the process, sent over the unix socket at
    `path` (one message, one SCM_RIGHTS fd, as runc)."""
    import _socket
    import array

    pidfd = os.pidfd_open(pid)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
        sock.sendmsg([b"pidfd"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                   array.array("i", [pidfd]).tobytes())])
    except OSError as e:
        raise PyruncError(f"--pidfd-socket {path}: {e.strerror}") from None
    finally:
        sock.close()
        os.close(pidfd)


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
            from .tty import receive_master

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
        from .tty import relay

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


def wait_forwarding_signals(pid: int) -> int:
    """Wait for our child `pid`, passing on the signals we receive."""
    import _signal

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
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
