"""The process of `exec`: from --process FILE, or from the container's own
process (config.json) changed by the command-line flags, as runc does."""

import copy

from ..errors import PyruncError
from ..linux.capabilities import CAP_NUMBERS
from ..state import Container

MAX_ID = 2**32 - 2  # (uid_t)-1 is "no change" to the kernel: never a real id


def parse_id(text: str, what: str) -> int:
    """A numeric uid or gid; names and anything odd are refused."""
    if not text.isdigit() or not text.isascii() or len(text) > 10 or int(text) > MAX_ID:
        raise PyruncError(f"invalid {what} \"{text}\": want a number from 0 to {MAX_ID}")
    return int(text)


def parse_user(text: str) -> tuple[int, int | None]:
    """-u UID[:GID] (numeric, as runc)."""
    uid, sep, gid = text.partition(":")
    return parse_id(uid, "uid"), (parse_id(gid, "gid") if sep else None)


def exec_process_spec(root: str, cid: str, flags: dict, args: list[str]) -> dict:
    """The process object for exec."""
    from .load import check_process, read_json

    if flags.get("process"):
        if args:
            raise PyruncError("--process and a command line cannot be used together")
        process = read_json(flags["process"], "process.json")
        from . import schema, textcheck

        textcheck.check(process, "process.json")

        schema.validate(process, "process", "process.json")
        check_process(process, "$")
        return process
    if not args:
        raise PyruncError("exec args cannot be empty")
    base = Container.load(root, cid).data.get("process", {})
    process = copy.deepcopy(base)
    process["args"] = args
    process["terminal"] = bool(flags.get("tty"))
    process.pop("consoleSize", None)
    process["env"] = [*process.get("env", []), *flags.get("env", [])]
    for i, e in enumerate(flags.get("env", [])):
        if "=" not in e:
            raise PyruncError(f"--env \"{e}\" (#{i + 1}): want NAME=value")
    if flags.get("cwd"):
        if not flags["cwd"].startswith("/"):
            raise PyruncError(f"--cwd \"{flags['cwd']}\" is not an absolute path")
        process["cwd"] = flags["cwd"]
    user = process.setdefault("user", {"uid": 0, "gid": 0})
    if flags.get("user"):
        uid, gid = parse_user(flags["user"])
        user["uid"] = uid
        if gid is not None:
            user["gid"] = gid
    if flags.get("additional-gids"):
        user["additionalGids"] = [parse_id(g, "additional gid") for g in flags["additional-gids"]]
    caps = flags.get("cap", [])
    if caps:
        sets = process.setdefault("capabilities", {})
        for name in caps:
            if name not in CAP_NUMBERS:
                raise PyruncError(f"--cap: unknown capability \"{name}\"")
            # Never inheritable (nor so ambient): CVE-2022-29162.
            for kind in ("bounding", "effective", "permitted"):
                if name not in sets.setdefault(kind, []):
                    sets[kind].append(name)
    if flags.get("no-new-privs"):
        process["noNewPrivileges"] = True
    if flags.get("apparmor"):
        process["apparmorProfile"] = flags["apparmor"]
    if flags.get("process-label"):
        process["selinuxLabel"] = flags["process-label"]
    check_process(process, "$")
    return process
