"""linux.seccomp: checks with JSON-path errors, and the plan records from
which the C init builds the filter with libseccomp (csrc/seccomp.c).

As runc: syscall names this libseccomp does not know are skipped (profiles
name syscalls of newer kernels), rules whose action is the default action are
redundant, args that repeat an index are OR-ed (one rule each), and a filter
whose default action denies gets runc's -ENOSYS stub for syscalls newer than
the profile."""

import struct

from ..errors import ConfigError
from ..util import fastos as os

ENOSYS = 38
EPERM = 1

# libseccomp's action values (seccomp.h); ERRNO and TRACE carry a 16-bit value.
ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,  # = KILL_THREAD
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
WITH_ERRNO = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
# Default actions that let unknown syscalls through: no -ENOSYS stub (runc).
PERMISSIVE = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")

OPERATORS = {
    "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
}

# The spec's architectures that libseccomp 2.5 (the one pyrunc-init is linked
# with) knows, by libseccomp's own names. LOONGARCH64, M68K, SH and SHEB came
# with libseccomp 2.6.
ARCHS = {
    "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm", "SCMP_ARCH_AARCH64": "aarch64", "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPS64N32": "mips64n32",
    "SCMP_ARCH_MIPSEL": "mipsel", "SCMP_ARCH_MIPSEL64": "mipsel64",
    "SCMP_ARCH_MIPSEL64N32": "mipsel64n32", "SCMP_ARCH_PPC": "ppc",
    "SCMP_ARCH_PPC64": "ppc64", "SCMP_ARCH_PPC64LE": "ppc64le", "SCMP_ARCH_S390": "s390",
    "SCMP_ARCH_S390X": "s390x", "SCMP_ARCH_PARISC": "parisc",
    "SCMP_ARCH_PARISC64": "parisc64", "SCMP_ARCH_RISCV64": "riscv64",
}
SPEC_ONLY_ARCHS = ("SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB")

SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1 << 0,
    "SECCOMP_FILTER_FLAG_LOG": 1 << 1,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 1 << 2,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 1 << 5,
}
MAX_ARGS = 6
UINT64 = (1 << 64) - 1
SUN_PATH_MAX = 107
# After the filter is loaded the init sends the notify fd with sendmsg(2): a
# notify rule for it could never be answered (runc refuses "write" likewise).
# sendmsg sends the notify fd; runc refuses write too (its init writes after the load)
NOT_NOTIFIABLE = ("sendmsg", "write")
PID = "\x01"  # stands for the container's pid in the state document


def _uint(v: object, where: str, top: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top:
        raise ConfigError(where, f"must be an integer from 0 to {top}")
    return v


def _action(name: object, errno_ret: object, where: str) -> int:
    """libseccomp's value of an action with its errnoRet (default EPERM)."""
    if name not in ACTIONS:
        raise ConfigError(where, f"unknown seccomp action \"{name}\" "
                                 f"(known: {', '.join(ACTIONS)})")
    value = ACTIONS[name]
    if name in WITH_ERRNO:
        ret = EPERM if errno_ret is None else errno_ret
        return value | (ret & 0xFFFF)
    return value


def _errno_ret(obj: dict, key: str, action: object, where: str) -> int | None:
    if key not in obj:
        return None
    ret = _uint(obj[key], f"{where}.{key}", 0xFFFFFFFF)
    if action not in WITH_ERRNO:
        raise ConfigError(f"{where}.{key}",
                          f"only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not {action}")
    return ret


def check(seccomp: object, where: str = "$.linux.seccomp") -> None:
    """Every check: raises ConfigError naming the JSON path."""
    records(seccomp, where, None)


def state_document(state: dict, metadata: str | None) -> str:
    """The container process state sent to the seccomp agent (config-linux.md),
    with PID where the pid goes: the C init fills it in. JSON text never holds
    a raw control character, so PID cannot occur anywhere else."""
    from .. import OCI_VERSION
    from ..util import fastjson

    def obj(pairs: list[tuple[str, str]]) -> str:
        return "{" + ",".join(f"{fastjson.dumps(k)}:{v}" for k, v in pairs) + "}"

    st = [(k, fastjson.dumps(v)) for k, v in state.items()]
    if "pid" not in state:  # the container's pid is the process's (create)
        st.insert(3 if "status" in state else len(st), ("pid", PID))
    doc = [("ociVersion", fastjson.dumps(OCI_VERSION)), ("fds", '["seccompFd"]'), ("pid", PID)]
    if metadata:
        doc.append(("metadata", fastjson.dumps(metadata)))
    doc.append(("state", obj(st)))
    return obj(doc)


def records(seccomp: object, where: str = "$.linux.seccomp", state: dict | None = None,
            bundle: str = "") -> list[tuple[str, bytes]]:
    """The plan records of a seccomp object, as (record name, payload) pairs
    in plan order; `state` is the OCI state for the seccomp agent (without
    pid). With state None, only check."""
    if not isinstance(seccomp, dict):
        raise ConfigError(where, "must be an object")
    out: list[tuple[str, bytes]] = []
    default = seccomp.get("defaultAction")
    if default is None:
        raise ConfigError(f"{where}.defaultAction", "missing")
    if default == "SCMP_ACT_NOTIFY":
        raise ConfigError(f"{where}.defaultAction", "SCMP_ACT_NOTIFY cannot be the default "
                          "action (the init could not send the notify fd)")
    def_errno = _errno_ret(seccomp, "defaultErrnoRet", default, where)
    def_value = _action(default, def_errno, f"{where}.defaultAction")
    stub = default not in PERMISSIVE and not (default == "SCMP_ACT_ERRNO"
                                              and def_errno == ENOSYS)
    out.append(("R_SECCOMP_DEFAULT", struct.pack("<II", def_value, int(stub))))

    archs = seccomp.get("architectures", [])
    if not isinstance(archs, list):
        raise ConfigError(f"{where}.architectures", "must be an array")
    for i, arch in enumerate(archs):
        if arch not in ARCHS:
            why = ("is not supported by libseccomp 2.5, which pyrunc is built with"
                   if arch in SPEC_ONLY_ARCHS else "unknown architecture")
            raise ConfigError(f"{where}.architectures[{i}]", f"\"{arch}\": {why}")
        out.append(("R_SECCOMP_ARCH", ARCHS[arch].encode() + b"\0"))

    flags = seccomp.get("flags", [])
    if not isinstance(flags, list):
        raise ConfigError(f"{where}.flags", "must be an array")
    flag_bits = 0
    for i, flag in enumerate(flags):
        if flag not in FLAGS:
            raise ConfigError(f"{where}.flags[{i}]", f"unknown seccomp flag \"{flag}\" "
                              f"(known: {', '.join(FLAGS)})")
        flag_bits |= FLAGS[flag]

    notify = False
    syscalls = seccomp.get("syscalls", [])
    if not isinstance(syscalls, list):
        raise ConfigError(f"{where}.syscalls", "must be an array")
    for i, rule in enumerate(syscalls):
        rwhere = f"{where}.syscalls[{i}]"
        if not isinstance(rule, dict):
            raise ConfigError(rwhere, "must be an object")
        names = rule.get("names")
        if not isinstance(names, list) or not names:
            raise ConfigError(f"{rwhere}.names", "must name at least one syscall")
        for j, name in enumerate(names):
            if not isinstance(name, str) or not name or "\0" in name:
                raise ConfigError(f"{rwhere}.names[{j}]", "must be a syscall name")
        action = rule.get("action")
        if action is None:
            raise ConfigError(f"{rwhere}.action", "missing")
        value = _action(action, _errno_ret(rule, "errnoRet", action, rwhere),
                        f"{rwhere}.action")
        if action == "SCMP_ACT_NOTIFY":
            notify = True
            for j, name in enumerate(names):
                if name in NOT_NOTIFIABLE:
                    raise ConfigError(f"{rwhere}.names[{j}]", f"SCMP_ACT_NOTIFY cannot be "
                                      f"used for the {name} syscall")
        args = rule.get("args") or []
        if not isinstance(args, list):
            raise ConfigError(f"{rwhere}.args", "must be an array")
        conds = []
        for k, arg in enumerate(args):
            awhere = f"{rwhere}.args[{k}]"
            if not isinstance(arg, dict):
                raise ConfigError(awhere, "must be an object")
            for key in ("index", "value", "op"):
                if key not in arg:
                    raise ConfigError(f"{awhere}.{key}", "missing")
            index = _uint(arg["index"], f"{awhere}.index", MAX_ARGS - 1)
            op = arg["op"]
            if op not in OPERATORS:
                raise ConfigError(f"{awhere}.op", f"unknown seccomp operator \"{op}\" "
                                  f"(known: {', '.join(OPERATORS)})")
            conds.append(struct.pack("<IIQQ", index, OPERATORS[op],
                                     _uint(arg["value"], f"{awhere}.value", UINT64),
                                     _uint(arg.get("valueTwo", 0), f"{awhere}.valueTwo",
                                           UINT64)))
        names_b = b"".join(n.encode() + b"\0" for n in names)
        indexes = [a["index"] for a in args]
        if len(set(indexes)) != len(indexes):
            # runc: conditions on the same argument are separate rules (OR).
            for cond in conds:
                out.append(("R_SECCOMP_RULE", struct.pack("<II", value, 1) + cond + names_b))
        else:
            out.append(("R_SECCOMP_RULE", struct.pack("<II", value, len(conds))
                        + b"".join(conds) + names_b))

    listener = seccomp.get("listenerPath")
    metadata = seccomp.get("listenerMetadata")
    if listener is not None and not isinstance(listener, str):
        raise ConfigError(f"{where}.listenerPath", "must be a string")
    if metadata is not None:
        if not isinstance(metadata, str) or "\0" in metadata:
            raise ConfigError(f"{where}.listenerMetadata", "must be a string")
        if not listener:
            raise ConfigError(f"{where}.listenerMetadata", "needs listenerPath")
    if notify:
        if not listener:
            raise ConfigError(f"{where}.listenerPath", "SCMP_ACT_NOTIFY needs the path of "
                              "the seccomp agent's unix socket")
        path = os.path.join(bundle, listener) if bundle else listener
        if "\0" in path or len(path.encode()) > SUN_PATH_MAX:
            raise ConfigError(f"{where}.listenerPath",
                              f"not a usable unix socket path ({SUN_PATH_MAX} bytes at most)")
    elif flag_bits & FLAGS["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]:
        # Only meaningful with a notify fd, and the kernel refuses it without.
        flag_bits &= ~FLAGS["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    for bit in FLAGS.values():
        if flag_bits & bit:
            out.append(("R_SECCOMP_FLAG", struct.pack("<I", bit)))
    if notify and state is not None:
        out.append(("R_SECCOMP_LISTENER", path.encode() + b"\0"
                    + state_document(state, metadata).encode() + b"\0"))
    return out


def agent_state(config: dict, cid: str, bundle: str) -> dict:
    """The OCI state in the document for the seccomp agent (the pid is added by
    the init). It is sent as the process is about to execve, after `start`."""
    st = {"ociVersion": config.get("ociVersion", ""), "id": cid, "status": "running",
          "bundle": bundle}
    if config.get("annotations"):
        st["annotations"] = config["annotations"]
    return st


def exec_state(container) -> dict:
    """The state for an exec'd process's agent: the container's, whose pid is
    the init's (the document's own pid is the exec'd process's)."""
    d = container.data
    st = {"ociVersion": d.get("ociVersion", ""), "id": container.id, "status": "running",
          "pid": container.pid, "bundle": d.get("bundle", "")}
    if d.get("annotations"):
        st["annotations"] = d["annotations"]
    return st


def add_records(plan, seccomp: object, where: str, state: dict, bundle: str = "") -> None:
    """Add the records of linux.seccomp to a plan (create, and exec)."""
    from .. import plan as planmod

    for name, payload in records(seccomp, where, state, bundle):
        plan.add(getattr(planmod, name), payload)


# seccomp(2)'s number, for probing the kernel's filter flags.
SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "riscv64": 277, "ppc64le": 358,
               "s390x": 348, "i686": 354, "armv7l": 383}


def supported_flags() -> list[str]:
    """The flags this kernel accepts: seccomp(SET_MODE_FILTER, flag, NULL)
    fails with EFAULT for a known flag, EINVAL for an unknown one (as runc)."""
    import ctypes

    nr = SYS_SECCOMP.get(os.uname().machine)
    if nr is None:
        return []
    libc = ctypes.CDLL(None, use_errno=True)
    out = []
    for name, bit in FLAGS.items():
        if name == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV":
            bit |= SECCOMP_FILTER_FLAG_NEW_LISTENER  # the kernel wants both
        ctypes.set_errno(0)
        rc = libc.syscall(ctypes.c_long(nr), ctypes.c_ulong(1), ctypes.c_ulong(bit),
                          ctypes.c_void_p(None))
        if rc == -1 and ctypes.get_errno() == 14:  # EFAULT
            out.append(name)
    return out


def features() -> dict:
    """linux.seccomp of the features document (features-linux.md)."""
    return {
        "enabled": True,
        "actions": sorted(ACTIONS),
        "operators": sorted(OPERATORS),
        "archs": sorted(ARCHS),
        "knownFlags": list(FLAGS),
        "supportedFlags": supported_flags(),
    }


# exec loads the filter in stage 1, before its clone into the container's pid
# namespace (csrc/init.c, exec_joined), when these calls, all that stage 1 and
# the child make after it, are sure to be allowed; clone with its flags.
EARLY_CALLS = ("capget", "capset", "clone", "close", "close_range", "execve", "exit",
               "exit_group", "ioctl", "read", "recvfrom", "sendto", "setsid", "write")
CLONE_PARENT = 0x8000
_CMP = {
    "SCMP_CMP_NE": lambda a, v, _: a != v, "SCMP_CMP_LT": lambda a, v, _: a < v,
    "SCMP_CMP_LE": lambda a, v, _: a <= v, "SCMP_CMP_EQ": lambda a, v, _: a == v,
    "SCMP_CMP_GE": lambda a, v, _: a >= v, "SCMP_CMP_GT": lambda a, v, _: a > v,
    "SCMP_CMP_MASKED_EQ": lambda a, v, v2: a & v == v2,
}


def _matches(args: list, call_args: tuple[int, ...] | None) -> bool:
    """Do a rule's argument conditions hold for a call with `call_args`
    (None: any arguments, so only a rule without conditions surely holds)?"""
    if not args:
        return True
    if call_args is None:
        return False
    indexes = [a.get("index") for a in args]
    if len(set(indexes)) != len(indexes):
        return False  # runc ORs these: not sure, so no
    for a in args:
        op = _CMP.get(a.get("op"))
        i = a.get("index")
        if op is None or not isinstance(i, int) or not 0 <= i < len(call_args):
            return False
        if not op(call_args[i], a.get("value", 0), a.get("valueTwo", 0)):
            return False
    return True


def early_load_safe(seccomp: dict) -> bool:
    """May exec load this filter before its clone (see EARLY_CALLS)? Only when
    no notify agent waits for it (it needs the pid first) and each of those
    calls is surely allowed: by a rule that allows it, or the default action
    with no rule naming it. When unsure, no: the filter is then loaded at the
    last step before execve, as runc does."""
    if seccomp.get("listenerPath"):
        return False
    rules = seccomp.get("syscalls") or []
    if any(r.get("action") == "SCMP_ACT_NOTIFY" for r in rules):
        return False
    for name in EARLY_CALLS:
        call_args = (CLONE_PARENT, 0, 0, 0, 0, 0) if name == "clone" else None
        named = [r for r in rules if name in (r.get("names") or [])]
        if any(r.get("action") != "SCMP_ACT_ALLOW" for r in named):
            return False
        if any(_matches(r.get("args") or [], call_args) for r in named):
            continue
        if seccomp.get("defaultAction") != "SCMP_ACT_ALLOW":
            return False  # (every rule naming it allows: so does the default)
    return True
