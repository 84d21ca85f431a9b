"""The command line, compatible with runc's: global flags, then a command.

Parsed by hand: argparse imports re and costs more than a whole `state`."""

import sys

from .errors import PyruncError
from .state import DEFAULT_ROOT
from .util import fastos as os

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
    "debug": {"tools": True, "rw": False, "tty": False, "pid": True, "pod": True,
              "namespace": True, "container": True, "list": False, "format": True,
              "ignore-paused": False},
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
for _spec in COMMANDS.values():
    _spec["help"] = False
# runc's short flags, per command
SHORT = {"create": {"b": "bundle"}, "run": {"b": "bundle", "d": "detach"},
         "delete": {"f": "force"}, "kill": {"a": "all"}, "list": {"f": "format", "q": "quiet"},
         "ps": {"f": "format"}, "spec": {"b": "bundle"}, "update": {"r": "resources"},
         "restore": {"b": "bundle", "d": "detach"},
         "exec": {"e": "env", "t": "tty", "u": "user", "g": "additional-gids", "p": "process",
                  "d": "detach", "c": "cap"},
         "": {"v": "version", "h": "help"}}
# (min, max) positional arguments, checked as runc checks them
ARGS = {"create": (1, 1), "run": (1, 1), "start": (1, 1), "state": (1, 1), "kill": (1, 2),
        "delete": (1, 1), "list": (0, 0), "spec": (0, 0), "features": (0, 0),
        "exec": (1, None), "debug": (0, None), "update": (1, 1), "pause": (1, 1),
        "resume": (1, 1), "ps": (1, None), "events": (1, 1), "check": (0, 1),
        "checkpoint": (1, 1), "restore": (1, 1)}


class UsageError(PyruncError):
    """A command line runc answers with `Incorrect Usage` and the help on stdout."""

    def __init__(self, msg: str, cmd: str = "", usage: str = "") -> None:
        super().__init__(msg)
        self.cmd = cmd
        self.usage = usage
# Commands whose flags stop at the first positional argument (the rest is a command line).
STOP_AT_POSITIONAL = {"debug", "exec", "ps"}


def parse_flags(argv: list[str], spec: dict[str, bool], where: str,
                stop_at_positional: bool) -> tuple[dict, list[str]]:
    """Parse --flag, --flag=value, --flag value, -f (runc's forms); `where`
    prefixes error messages (the command name, or nothing for global flags)."""
    short = {"h": "help", **SHORT.get(where, {})}
    cmd = where
    where = f"{where}: " if where else ""
    flags: dict = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i + 1:])
            break
        name, eq, value = arg.lstrip("-").partition("=")
        name = short.get(name, name) if len(name) == 1 else name
        if not arg.startswith("-") or arg == "-" or (rest and name not in spec):
            # (runc moves the flags it knows before the arguments: an unknown
            # one after an argument is an argument, e.g. `kill ID -9`)
            if stop_at_positional:
                rest.extend(argv[i:])
                break
            rest.append(arg)
            i += 1
            continue
        if name not in spec:
            msg = f"flag provided but not defined: -{arg.lstrip('-').partition('=')[0]}"
            raise UsageError(f"{where}{msg}", cmd, f"Incorrect Usage{':' if cmd else '.'} {msg}")
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
    except UsageError as e:  # runc: the help on stdout, the error, exit 1 (unknown topic: 3)
        if e.usage:
            from .helptext import COMMANDS, command_help, main_help

            try:
                sys.stdout.write(f"{e.usage}\n\n")
                sys.stdout.write(command_help(e.cmd) if e.cmd in COMMANDS else main_help())
                sys.stdout.flush()
            except OSError:
                pass
        _fail(str(e))
        return 1 if e.usage else 3
    except PyruncError as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        return _fail("interrupted")
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        return _fail(f"{e.strerror or e}{':' if where else ''}{where}".strip())


def _fail(msg: str) -> int:
    if "pyrunc.util.log" in sys.modules:  # (only a --log file gets errors: _main imported it)
        from .util import log

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
        from .util import log

        log.configure(gflags.get("log"), fmt, bool(gflags.get("debug")))
    if gflags.get("trace") or gflags.get("debug") or "PYRUNC_TRACE" in os.environ:
        from .util import trace

        trace.configure(bool(gflags.get("trace")), debug=bool(gflags.get("debug")))
    if gflags.get("version"):
        from .helptext import version

        sys.stdout.write(f"pyrunc version {version()}")
        return 0
    cmd = rest[0] if rest else ""
    if gflags.get("help") or cmd in ("", "help", "h"):
        return _help(rest[1:2] if cmd in ("help", "h") else [])
    root = gflags.get("root") or DEFAULT_ROOT
    cargs = rest[1:]
    if cmd not in COMMANDS:
        raise UsageError(f"No help topic for '{cmd}'")
    if not gflags.get("root") and cmd not in ("spec", "features", "check") and (
            os.geteuid() != 0 or "XDG_RUNTIME_DIR" in os.environ):
        from .rootless import default_root

        root = default_root(DEFAULT_ROOT)
    flags, pos = parse_flags(cargs, COMMANDS[cmd], cmd,
                             stop_at_positional=cmd in STOP_AT_POSITIONAL)
    if flags.get("help"):
        return _help([cmd])
    flags["systemd-cgroup"] = bool(gflags.get("systemd-cgroup"))
    flags["rootless-mode"] = gflags.get("rootless", "auto")
    if flags["rootless-mode"] not in ("auto", "true", "false"):
        raise PyruncError(f"invalid --rootless value \"{flags['rootless-mode']}\" "
                          "(true, false or auto)")
    lo, hi = ARGS[cmd]
    if hi is not None and lo == hi and len(pos) != lo:
        _usage(f"\"{cmd}\" requires exactly {lo} argument(s)", cmd)
    if len(pos) < lo:
        _usage(f"\"{cmd}\" requires a minimum of {lo} argument(s)", cmd)
    if hi is not None and len(pos) > hi:
        _usage(f"\"{cmd}\" requires a maximum of {hi} argument(s)", cmd)
    if lo and not pos[0]:
        raise PyruncError("container id cannot be empty")
    if "pyrunc.util.trace" not in sys.modules:
        return COMMAND_FUNCS[cmd](root, flags, pos)
    from .util import trace

    try:
        return COMMAND_FUNCS[cmd](root, flags, pos)
    finally:
        trace.step(f"pyrunc: {cmd} done", log=False)
        trace.report(" ".join([cmd, *pos[:1]]))


def _usage(msg: str, cmd: str) -> None:
    raise UsageError(msg, cmd, "Incorrect Usage.")


def _help(topic: list[str]) -> int:
    """runc's help: the main page, or a command's (`help CMD`, `CMD -h`);
    an unknown topic is an error with exit status 3."""
    from . import helptext

    if not topic:
        sys.stdout.write(helptext.main_help())
        return 0
    if topic[0] not in helptext.COMMANDS:
        raise UsageError(f"No help topic for '{topic[0]}'")
    sys.stdout.write(helptext.command_help(topic[0]))
    return 0


def _print_json(obj: object) -> None:
    from .util import fastjson

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
        "rootless": flags["rootless-mode"],
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
    from .util import fastjson

    states = list_states(root)
    fmt = flags.get("format", "table")
    if fmt not in ("table", "json"):
        raise PyruncError(f"invalid format option \"{fmt}\"")
    for s in states:
        s["owner"] = _owner(f"{root}/{s['id']}")
    if flags.get("quiet"):
        for s in states:
            print(s["id"])
    elif fmt == "json":  # as runc: one line, null for none
        sys.stdout.write(fastjson.dumps(states or None) + "\n")
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"])
                 for s in states]
        # runc's tabwriter: columns of at least 12, padded by 3; the last one bare
        widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(5)]
        for r in rows:
            print("".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + r[5])
    return 0


def _owner(path: str) -> str:
    """The user name of the state directory's owner (runc's `owner`), else #UID."""
    import pwd

    try:
        uid = os.stat(path).st_uid
    except OSError:
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def cmd_spec(root: str, flags: dict, pos: list[str]) -> int:
    from .config.spec import write_spec

    write_spec(flags.get("bundle") or ".", rootless=bool(flags.get("rootless")))
    return 0


def cmd_features(root: str, flags: dict, pos: list[str]) -> int:
    from .features import features

    _print_json(features())
    return 0


def cmd_exec(root: str, flags: dict, pos: list[str]) -> int:
    from .config.execspec import exec_process_spec
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
    except (PyruncError, OSError) as e:  # runc exits 255 when exec fails
        msg = str(e) if isinstance(e, PyruncError) else (
            f"{e.filename}: {e.strerror}" if e.filename else str(e.strerror or e))
        _fail(msg if msg.startswith("exec failed") else f"exec failed: {msg}")
        return 255


def cmd_update(root: str, flags: dict, pos: list[str]) -> int:
    from .ops import update

    update(root, pos[0], update_request(flags, sys.stdin))
    return 0


def cmd_pause(root: str, flags: dict, pos: list[str]) -> int:
    from .ops import pause

    pause(root, pos[0])
    return 0


def cmd_resume(root: str, flags: dict, pos: list[str]) -> int:
    from .ops import resume

    resume(root, pos[0])
    return 0


def cmd_ps(root: str, flags: dict, pos: list[str]) -> int:
    from .ops import ps_pids, ps_table

    fmt = flags.get("format", "table")
    pids = ps_pids(root, pos[0])
    if fmt not in ("table", "json"):
        raise PyruncError("invalid format option")
    if fmt == "json":  # (as runc: null for none, ps options ignored)
        from .util import fastjson

        sys.stdout.write(fastjson.dumps(pids or None) + "\n")
    else:
        sys.stdout.write(ps_table(pids, pos[1:]))
    return 0


def cmd_events(root: str, flags: dict, pos: list[str]) -> int:
    from .ops import container_stats, events
    from .util import fastjson

    if flags.get("stats"):
        ev = {"type": "stats", "id": pos[0], "data": container_stats(root, pos[0])}
        sys.stdout.write(fastjson.dumps(ev) + "\n")
        return 0
    events(root, pos[0], parse_duration(flags.get("interval", "5s")), sys.stdout)
    return 0


def cmd_check(root: str, flags: dict, pos: list[str]) -> int:
    from .config.check import run

    out, status = run(pos[0] if pos else ".", flags.get("format", "text"))
    sys.stdout.write(out)
    return status


def cmd_debug(root: str, flags: dict, pos: list[str]) -> int:
    from . import discover
    from .debug import debug, list_table, say

    if flags.get("list"):
        if pos or any(flags.get(f) for f in ("pid", "pod", "container")):
            raise PyruncError("debug: --list takes no container and no command")
        targets, problems = discover.find_all(root)
        for p in problems:
            say(p)
        if flags.get("format", "table") == "json":
            _print_json([t.row() for t in targets])
        elif flags.get("format", "table") == "table":
            sys.stdout.write(list_table(targets))
        else:
            raise PyruncError(f"invalid --format \"{flags['format']}\" (table or json)")
        return 0
    if flags.get("pid") and flags.get("pod"):
        raise PyruncError("debug: --pid and --pod cannot be used together")
    if (flags.get("namespace") or flags.get("container")) and not flags.get("pod"):
        raise PyruncError("debug: --namespace and --container go with --pod")
    if flags.get("pid"):
        if not flags["pid"].isdigit() or int(flags["pid"]) <= 0:
            raise PyruncError(f"debug: invalid --pid \"{flags['pid']}\"")
        target = discover.by_pid(root, int(flags["pid"]))
        cmd = pos
    elif flags.get("pod"):
        target = discover.by_pod(root, flags["pod"], flags.get("namespace"),
                                 flags.get("container"))
        cmd = pos
    elif not pos:
        raise PyruncError("debug: container id cannot be empty (or --pid, --pod, --list)")
    else:
        target = discover.by_id(root, pos[0])
        cmd = pos[1:]
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    say(f"found {target.describe()}")
    return debug(target, tools=flags.get("tools"), rw=bool(flags.get("rw")), cmd=cmd,
                 tty=flags.get("tty"), ignore_paused=bool(flags.get("ignore-paused")))


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


# -- update's request and events' interval -------------------------------------

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str, flag: str) -> int:
    """128m, 1g, 512k, 1.5g, 100 (bytes), -1 (unlimited): docker's RAMInBytes."""
    s = text.strip().lower()
    if s == "-1":
        return -1
    num = s.rstrip("kmgtpib ")
    unit = s[len(num):].strip()
    if unit.endswith("b"):
        unit = unit[:-1]
    if unit.endswith("i"):
        unit = unit[:-1]
    try:
        value = float(num)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or value < 0 or not num or not (num[0].isdigit()):
        raise PyruncError(f"invalid value for --{flag}: \"{text}\" (a size like 128m, or -1)")
    return int(value * _UNITS[unit])


def parse_duration(text: str) -> float:
    """A Go duration as runc takes it for --interval: 5s, 100ms, 1m, 1h (or seconds)."""
    s = text.strip()
    for suffix, mult in (("ms", 0.001), ("us", 1e-6), ("ns", 1e-9), ("s", 1.0),
                         ("m", 60.0), ("h", 3600.0)):
        if s.endswith(suffix):
            s, scale = s[: -len(suffix)], mult
            break
    else:
        scale = 1.0
    try:
        value = float(s) * scale
    except ValueError:
        value = -1.0
    if value <= 0:
        raise PyruncError(f"invalid --interval \"{text}\" (a duration such as 5s or 500ms)")
    return value


def _int_flag(flags: dict, name: str) -> int | None:
    v = flags.get(name)
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        raise PyruncError(f"invalid value for --{name}: \"{v}\" (an integer)") from None


def update_request(flags: dict, stdin) -> dict:
    """The linux.resources change that `pyrunc update` asks for: the JSON of
    --resources (a file, or - for stdin), else the flags (as runc)."""
    from .util import fastjson

    src = flags.get("resources")
    if src:
        try:
            text = stdin.read() if src == "-" else open(src).read()
        except OSError as e:
            raise PyruncError(f"update: reading {src}: {e.strerror}") from None
        try:
            req = fastjson.loads(text)
        except ValueError as e:
            raise PyruncError(f"update: --resources {src}: {e}") from None
        if not isinstance(req, dict):
            raise PyruncError(f"update: --resources {src}: not a JSON object "
                              "(a linux.resources document)")
        from .config import textcheck

        textcheck.check(req, f"update: --resources {src}")
        return req
    for name in ("l3-cache-schema", "mem-bw-schema"):
        if flags.get(name):
            raise PyruncError(f"update: --{name}: Intel RDT is not supported")
    req: dict = {"memory": {}, "cpu": {}, "pids": {}, "blockIO": {}}
    for flag, key in (("memory", "limit"), ("memory-swap", "swap"),
                      ("memory-reservation", "reservation"), ("kernel-memory", "kernel"),
                      ("kernel-memory-tcp", "kernelTCP")):
        if flags.get(flag):
            req["memory"][key] = ram_in_bytes(flags[flag], flag)
    for flag, key in (("cpu-period", "period"), ("cpu-quota", "quota"),
                      ("cpu-share", "shares"), ("cpu-shares", "shares"),
                      ("cpu-rt-period", "realtimePeriod"), ("cpu-rt-runtime", "realtimeRuntime"),
                      ("cpu-idle", "idle")):
        v = _int_flag(flags, flag)
        if v is not None:
            req["cpu"][key] = v
    for flag, key in (("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if flags.get(flag):
            if not flags[flag].isascii():  # (argv bytes that are not even UTF-8)
                raise PyruncError(f"update: --{flag} {flags[flag]!a}: not a list of numbers")
            req["cpu"][key] = flags[flag]
    v = _int_flag(flags, "pids-limit")
    if v is not None:
        req["pids"]["limit"] = v
    v = _int_flag(flags, "blkio-weight")
    if v is not None:
        req["blockIO"]["weight"] = v
    return req
