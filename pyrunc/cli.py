"""The command line, compatible with runc's: global flags, then a command.

Parsed by hand: argparse imports re and costs more than a whole `state`."""

import sys

from . import fastos as os
from .errors import PyruncError
from .state import DEFAULT_ROOT

USAGE = """usage: pyrunc [global options] command [command options] [arguments...]

An OCI container runtime, compatible with runc.

commands:
  create    create a container            start     start a created container
  run       create and start a container  state     print the state of a container
  kill      send a signal to a container  delete    delete a container
  list      list containers               spec      write a default config.json
  exec      run a process in a container  features  print the features document
  debug     a shell in a container's namespaces with the host's tools (or --tools DIR)
  update    change a container's limits   events    stats and OOM events of a container
  pause     freeze a container            resume    thaw a paused container
  ps        processes of a container      check     lint a bundle without running it
  checkpoint  dump a container with CRIU  restore  a container from a checkpoint

global options:
  --root DIR          state directory (default /run/pyrunc)
  --log FILE          log file (default stderr)
  --log-format FMT    text or json
  --debug             debug logging
  --trace             print a timeline of the setup steps (also PYRUNC_TRACE=FILE)
  --systemd-cgroup    make the cgroup a systemd scope (cgroupsPath slice:prefix:name)
  --version, -v       print the version
  --help, -h          show this help
"""

MULTI = "multi"  # a flag that may be repeated; its values are collected in a list
# name: False for a boolean flag, True for one taking a value, MULTI for a repeatable one
GLOBAL_FLAGS = {
    "root": True, "log": True, "log-format": True, "debug": False, "systemd-cgroup": False,
    "rootless": True, "criu": True, "version": False, "help": False, "trace": False,
}
CREATE_FLAGS = {"bundle": True, "pid-file": True, "console-socket": True, "no-pivot": False,
                "no-new-keyring": False, "preserve-fds": True, "pidfd-socket": True}
COMMANDS = {
    "create": CREATE_FLAGS,
    "run": {**CREATE_FLAGS, "detach": False, "keep": False, "no-subreaper": False},
    "start": {},
    "state": {},
    "kill": {"all": False},
    "delete": {"force": False},
    "list": {"format": True, "quiet": False},
    "spec": {"bundle": True, "rootless": False},
    "features": {},
    "exec": {"process": True, "tty": False, "cwd": True, "env": MULTI, "user": True,
             "additional-gids": MULTI, "cap": MULTI, "no-new-privs": False, "apparmor": True,
             "process-label": True, "preserve-fds": True, "cgroup": MULTI,
             "ignore-paused": False, "detach": False, "pid-file": True,
             "console-socket": True, "pidfd-socket": True},
    "debug": {"tools": True, "rw": False},
    "update": {"resources": True, "blkio-weight": True, "cpu-period": True, "cpu-quota": True,
               "cpu-share": True, "cpu-shares": True, "cpu-rt-period": True,
               "cpu-rt-runtime": True, "cpu-idle": True, "cpuset-cpus": True,
               "cpuset-mems": True, "kernel-memory": True, "kernel-memory-tcp": True,
               "memory": True, "memory-reservation": True, "memory-swap": True,
               "pids-limit": True, "l3-cache-schema": True, "mem-bw-schema": True},
    "pause": {},
    "resume": {},
    "ps": {"format": True},
    "check": {"format": True},
    "events": {"stats": False, "interval": True},
    "checkpoint": {"image-path": True, "work-path": True, "parent-path": True,
                   "leave-running": False, "tcp-established": False, "ext-unix-sk": False,
                   "shell-job": False, "lazy-pages": False, "status-fd": True,
                   "page-server": True, "file-locks": False, "pre-dump": False,
                   "manage-cgroups-mode": True, "empty-ns": MULTI, "auto-dedup": False},
    "restore": {"console-socket": True, "bundle": True, "detach": False, "pid-file": True,
                "no-subreaper": False, "no-pivot": False, "image-path": True,
                "work-path": True, "tcp-established": False, "ext-unix-sk": False,
                "shell-job": False, "file-locks": False, "manage-cgroups-mode": True,
                "empty-ns": MULTI, "auto-dedup": False, "lazy-pages": False},
}
SHORT = {"b": "bundle", "d": "detach", "a": "all", "f": "force", "q": "quiet", "v": "version",
         "h": "help", "t": "tty", "e": "env", "u": "user", "p": "process", "g": "additional-gids",
         "c": "cap", "r": "resources"}
ARGS = {"create": 1, "run": 1, "start": 1, "state": 1, "kill": (1, 2), "delete": 1,
        "list": 0, "spec": 0, "features": 0, "exec": (1, 1 << 20), "debug": (1, 1 << 20),
        "update": 1, "pause": 1, "resume": 1, "ps": (1, 1 << 20), "events": 1,
        "check": (0, 1), "checkpoint": 1, "restore": 1}
# Commands whose flags stop at the first positional argument (the rest is a command line).
STOP_AT_POSITIONAL = {"debug", "exec", "ps"}


def parse_flags(argv: list[str], spec: dict[str, bool], where: str,
                stop_at_positional: bool) -> tuple[dict, list[str]]:
    """Parse --flag, --flag=value, --flag value, -f (runc's forms); `where`
    prefixes error messages (the command name, or nothing for global flags)."""
    where = f"{where}: " if where else ""
    flags: dict = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            if stop_at_positional:
                rest.extend(argv[i:])
                break
            rest.append(arg)
            i += 1
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        name = SHORT.get(name, name) if len(name) == 1 else name
        if name not in spec:
            raise PyruncError(f"{where}flag provided but not defined: -{arg.lstrip('-')}")
        if spec[name]:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise PyruncError(f"{where}flag needs an argument: --{name}")
                value = argv[i]
            if spec[name] == MULTI:
                flags.setdefault(name, []).append(value)
            else:
                flags[name] = value
        else:
            if eq and value not in ("true", "false"):
                raise PyruncError(f"{where}invalid boolean value \"{value}\" for --{name}")
            flags[name] = value != "false"
        i += 1
    return flags, rest


def _preserve_fds(value: str | None) -> int:
    if value is None:
        return 0
    if not value.isdigit() or int(value) > 10000:
        raise PyruncError(f"invalid --preserve-fds value \"{value}\"")
    n = int(value)
    # Hold every preserved number, so no fd of ours lands among them.
    for fd in range(3, 3 + n):
        try:
            os.fstat(fd)
        except OSError:
            placeholder = os.open("/dev/null", os.O_RDWR)
            if placeholder != fd:
                os.dup2(placeholder, fd, inheritable=True)
                os.close(placeholder)
    return n


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    try:
        return _main(args)
    except PyruncError as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        return _fail("interrupted")
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        return _fail(f"{e.strerror or e}{':' if where else ''}{where}".strip())


def _fail(msg: str) -> int:
    if "pyrunc.log" in sys.modules:  # (only a --log file gets errors: _main imported it)
        from . import log

        log.error(msg)
    sys.stderr.write(f"pyrunc: {one_line(msg)}\n")
    return 1


def one_line(msg: str) -> str:
    """The message on one line: control characters (a newline in a container id,
    an env entry, a path) are escaped, so clients read exactly one line."""
    if msg.isprintable():
        return msg
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in msg)


def _main(args: list[str]) -> int:
    gflags, rest = parse_flags(args, GLOBAL_FLAGS, "", stop_at_positional=True)
    fmt = gflags.get("log-format", "text")
    if fmt not in ("text", "json"):
        raise PyruncError(f"invalid --log-format \"{fmt}\" (text or json)")
    if gflags.get("log") or gflags.get("debug") or fmt != "text":  # (else log's defaults)
        from . import log

        log.configure(gflags.get("log"), fmt, bool(gflags.get("debug")))
    if gflags.get("trace") or "PYRUNC_TRACE" in os.environ:
        from . import trace

        trace.configure(bool(gflags.get("trace")))
    if gflags.get("version"):
        from . import OCI_VERSION, __version__

        print(f"pyrunc version {__version__}\nspec: {OCI_VERSION}\n"
              f"python: {sys.version.split()[0]}")
        return 0
    if gflags.get("help") or not rest:
        sys.stdout.write(USAGE)
        return 0 if gflags.get("help") else 1
    root = gflags.get("root") or DEFAULT_ROOT
    cmd, cargs = rest[0], rest[1:]
    if cmd not in COMMANDS:
        raise PyruncError(f"no such command \"{cmd}\"")
    if "-h" in cargs or "--help" in cargs:
        what = "[bundle]" if cmd == "check" else "<container-id>" if ARGS[cmd] else ""
        sys.stdout.write(f"usage: pyrunc {cmd} [options] {what}"
                         f"\noptions: {', '.join('--' + f for f in COMMANDS[cmd])}\n")
        return 0
    flags, pos = parse_flags(cargs, COMMANDS[cmd], cmd,
                             stop_at_positional=cmd in STOP_AT_POSITIONAL)
    flags["systemd-cgroup"] = bool(gflags.get("systemd-cgroup"))
    want = ARGS[cmd]
    lo, hi = want if isinstance(want, tuple) else (want, want)
    if not lo <= len(pos) <= hi:
        if lo and not pos:
            raise PyruncError(f"{cmd}: container id cannot be empty")
        raise PyruncError(f"{cmd}: expected {lo if lo == hi else f'{lo} to {hi}'} "
                          f"argument(s), got {len(pos)}")
    if "pyrunc.trace" not in sys.modules:
        return COMMAND_FUNCS[cmd](root, flags, pos)
    from . import trace

    try:
        return COMMAND_FUNCS[cmd](root, flags, pos)
    finally:
        trace.step(f"pyrunc: {cmd} done")
        trace.report(" ".join([cmd, *pos[:1]]))


def _print_json(obj: object) -> None:
    from . import fastjson

    sys.stdout.write(fastjson.dumps(obj, indent=2) + "\n")


def cmd_state(root: str, flags: dict, pos: list[str]) -> int:
    from .container import get_state

    _print_json(get_state(root, pos[0]))
    return 0


def cmd_kill(root: str, flags: dict, pos: list[str]) -> int:
    from .container import kill

    kill(root, pos[0], pos[1] if len(pos) > 1 else None, all_procs=bool(flags.get("all")))
    return 0


def cmd_delete(root: str, flags: dict, pos: list[str]) -> int:
    from .container import delete

    delete(root, pos[0], force=bool(flags.get("force")))
    return 0


def cmd_start(root: str, flags: dict, pos: list[str]) -> int:
    from .container import start

    start(root, pos[0])
    return 0


def _listen_fds() -> int:
    """Socket activation of pyrunc itself (sd_listen_fds): LISTEN_FDS fds from 3,
    when LISTEN_PID is ours. They reach the container, as runc passes them."""
    n = os.environ.get("LISTEN_FDS", "")
    pid = os.environ.get("LISTEN_PID", "")
    if not n.isdigit() or (pid and pid != str(os.getpid())):
        return 0
    return int(n)


def _create_args(flags: dict) -> dict:
    listen = _listen_fds()
    preserve = _preserve_fds(flags.get("preserve-fds") or (str(listen) if listen else None))
    return {
        "pid_file": flags.get("pid-file"),
        "console_socket": flags.get("console-socket"),
        "pidfd_socket": flags.get("pidfd-socket"),
        "no_pivot": bool(flags.get("no-pivot")),
        "no_new_keyring": bool(flags.get("no-new-keyring")),
        "preserve_fds": max(preserve, listen),
        "listen_fds": listen,
        "systemd_cgroup": flags["systemd-cgroup"],
    }


def cmd_create(root: str, flags: dict, pos: list[str]) -> int:
    from .create import create

    create(root, pos[0], flags.get("bundle") or ".", **_create_args(flags))
    return 0


def cmd_run(root: str, flags: dict, pos: list[str]) -> int:
    from .create import run

    if not flags.get("no-subreaper"):
        import prctl  # noqa: F401  (python-prctl; only for the subreaper bit)

        prctl.set_child_subreaper(1)
    return run(root, pos[0], flags.get("bundle") or ".", detach=bool(flags.get("detach")),
               keep=bool(flags.get("keep")), **_create_args(flags))


def cmd_list(root: str, flags: dict, pos: list[str]) -> int:
    from .container import list_states

    states = list_states(root)
    fmt = flags.get("format", "table")
    if flags.get("quiet"):
        for s in states:
            print(s["id"])
    elif fmt == "json":
        _print_json(states)
    elif fmt == "table":
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], "root")
                 for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            print("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    else:
        raise PyruncError(f"invalid --format \"{fmt}\" (table or json)")
    return 0


def cmd_spec(root: str, flags: dict, pos: list[str]) -> int:
    from .spec import write_spec

    write_spec(flags.get("bundle") or ".", rootless=bool(flags.get("rootless")))
    return 0


def cmd_features(root: str, flags: dict, pos: list[str]) -> int:
    from .features import features

    _print_json(features())
    return 0


def cmd_exec(root: str, flags: dict, pos: list[str]) -> int:
    from .execspec import exec_process_spec
    from .execute import exec_process

    try:
        process = exec_process_spec(root, pos[0], flags, pos[1:])
        return exec_process(root, pos[0], process, detach=bool(flags.get("detach")),
                            pid_file=flags.get("pid-file"),
                            pidfd_socket=flags.get("pidfd-socket"),
                            console_socket=flags.get("console-socket"),
                            preserve_fds=_preserve_fds(flags.get("preserve-fds")),
                            ignore_paused=bool(flags.get("ignore-paused")),
                            sub_cgroups=flags.get("cgroup"))
    except PyruncError as e:  # runc exits 255 when exec fails
        msg = str(e)
        _fail(msg if msg.startswith("exec failed") else f"exec failed: {msg}")
        return 255


def cmd_update(root: str, flags: dict, pos: list[str]) -> int:
    from .cgroup_ops import update, update_request

    update(root, pos[0], update_request(flags, sys.stdin))
    return 0


def cmd_pause(root: str, flags: dict, pos: list[str]) -> int:
    from .cgroup_ops import pause

    pause(root, pos[0])
    return 0


def cmd_resume(root: str, flags: dict, pos: list[str]) -> int:
    from .cgroup_ops import resume

    resume(root, pos[0])
    return 0


def cmd_ps(root: str, flags: dict, pos: list[str]) -> int:
    from .cgroup_ops import ps_pids, ps_table

    fmt = flags.get("format", "table")
    if fmt not in ("table", "json"):
        raise PyruncError(f"invalid --format \"{fmt}\" (table or json)")
    pids = ps_pids(root, pos[0])
    if fmt == "json":
        if len(pos) > 1:
            raise PyruncError("ps: ps options cannot be used with --format json")
        from . import fastjson

        sys.stdout.write(fastjson.dumps(pids) + "\n")
    else:
        sys.stdout.write(ps_table(pids, pos[1:]))
    return 0


def cmd_events(root: str, flags: dict, pos: list[str]) -> int:
    from . import fastjson
    from .cgroup_ops import container_stats, events, parse_duration

    if flags.get("stats"):
        ev = {"type": "stats", "id": pos[0], "data": container_stats(root, pos[0])}
        sys.stdout.write(fastjson.dumps(ev) + "\n")
        return 0
    events(root, pos[0], parse_duration(flags.get("interval", "5s")), sys.stdout)
    return 0


def cmd_check(root: str, flags: dict, pos: list[str]) -> int:
    from .check import run

    out, status = run(pos[0] if pos else ".", flags.get("format", "text"))
    sys.stdout.write(out)
    return status


def cmd_debug(root: str, flags: dict, pos: list[str]) -> int:
    from .debug import debug

    cmd = pos[1:]
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    return debug(root, pos[0], tools=flags.get("tools"), rw=bool(flags.get("rw")), cmd=cmd)


def cmd_checkpoint(root: str, flags: dict, pos: list[str]) -> int:
    from .checkpoint import checkpoint

    checkpoint(root, pos[0], flags)
    return 0


def cmd_restore(root: str, flags: dict, pos: list[str]) -> int:
    from .checkpoint import restore

    if not flags.get("no-subreaper") and not flags.get("detach"):
        import prctl  # noqa: F401  (python-prctl; only for the subreaper bit)

        prctl.set_child_subreaper(1)
    return restore(root, pos[0], flags.get("bundle") or ".", flags)


COMMAND_FUNCS = {
    "create": cmd_create, "run": cmd_run, "start": cmd_start, "state": cmd_state,
    "kill": cmd_kill, "delete": cmd_delete, "list": cmd_list, "spec": cmd_spec,
    "features": cmd_features, "exec": cmd_exec, "debug": cmd_debug, "update": cmd_update,
    "pause": cmd_pause, "resume": cmd_resume, "ps": cmd_ps, "events": cmd_events,
    "check": cmd_check, "checkpoint": cmd_checkpoint, "restore": cmd_restore,
}
