"""Linux attributes of the process and of the container beyond namespaces and
mounts: process.scheduler, process.ioPriority, process.execCPUAffinity,
linux.personality, linux.memoryPolicy and the mappings of idmapped mounts.

Python checks them (every error names the JSON path) and packs them as plan
records; csrc/attrs.c and csrc/idmap.c apply them."""

import struct

from ..errors import ConfigError
from ..util import fastos as os

# <linux/sched.h>, <uapi/linux/sched/types.h>
SCHED_POLICIES = {
    "SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_ISO": 4,
    "SCHED_IDLE": 5, "SCHED_DEADLINE": 6,
}
SCHED_FLAGS = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}
REALTIME = ("SCHED_FIFO", "SCHED_RR")
# <linux/ioprio.h>
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
IOPRIO_CLASS_SHIFT = 13
# <linux/personality.h>
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}
# <linux/mempolicy.h>
MPOL_MODES = {
    "MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
    "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6,
}
MPOL_FLAGS = {
    "MPOL_F_STATIC_NODES": 1 << 15, "MPOL_F_RELATIVE_NODES": 1 << 14,
    "MPOL_F_NUMA_BALANCING": 1 << 13,
}
MPOL_NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
MPOL_SOME_NODES = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_PREFERRED_MANY",
                   "MPOL_WEIGHTED_INTERLEAVE")
MAX_CPUS = 8192   # CONFIG_NR_CPUS can be no larger
MAX_NODES = 1024  # 1 << CONFIG_NODES_SHIFT, at most

# Record numbers (csrc/plan.h; plan.py re-exports them).
R_SCHEDULER = 70     # u32 policy, i32 nice, u32 priority, u32 zero, u64 flags, runtime,
                     # deadline, period
R_IOPRIO = 71        # u32 ioprio (class << 13 | priority)
R_PERSONALITY = 72   # u64 persona
R_MEMPOLICY = 73     # u32 mode | flags, u32 nwords, u64 nodemask[nwords], str nodes
R_CPU_AFFINITY = 74  # u32 nwords, u64 mask[nwords], str cpus: the exec'd process's final CPUs
R_MOUNT_IDMAP = 75   # u32 flags (1: recursive bind, 2: ridmap), u32 nuid, u32 ngid,
                     # (nuid + ngid) * (u32 containerID, hostID, size), str source, str where


def parse_list(text: str, where: str, limit: int, what: str = "CPU") -> list[int]:
    """A list like "0-3,7" (also the kernel's "0-7:2/4" stride form) as sorted
    numbers, each below `limit`."""
    out: set[int] = set()
    text = text.strip()
    if not text:
        return []
    for item in text.split(","):
        item = item.strip()
        stride = None
        if ":" in item:
            item, _, group = item.partition(":")
            used, slash, size = group.partition("/")
            if not (slash and used.isdigit() and size.isdigit()) or not (
                    0 < int(used) <= int(size)):
                raise ConfigError(where, f"\"{text}\": bad stride \"{group}\" "
                                  "(want USED/GROUP, 0 < USED <= GROUP)")
            stride = (int(used), int(size))
        first, dash, last = (s.strip() for s in item.partition("-"))
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ConfigError(where, f"\"{text}\" is not a list like \"0-3,7\"")
        lo, hi = int(first), int(last) if dash else int(first)
        if lo > hi:
            raise ConfigError(where, f"\"{text}\": range {lo}-{hi} is backwards")
        if hi >= limit:
            raise ConfigError(where, f"\"{text}\": {what} {hi} is out of range (0 to "
                              f"{limit - 1})")
        for n in range(lo, hi + 1):
            if stride is None or (n - lo) % stride[1] < stride[0]:
                out.add(n)
    return sorted(out)


def mask_words(numbers: list[int]) -> tuple[int, bytes]:
    """A bit mask of the numbers as (count, packed u64 words)."""
    words = [0] * ((max(numbers) // 64 + 1) if numbers else 0)
    for n in numbers:
        words[n // 64] |= 1 << (n % 64)
    return len(words), struct.pack(f"<{len(words)}Q", *words)


# -- checks ---------------------------------------------------------------------------

def check_process(process: dict, where: str) -> None:
    """process.scheduler, ioPriority and execCPUAffinity, as runc validates them."""
    sched = process.get("scheduler")
    if sched is not None:
        check_scheduler(sched, f"{where}.scheduler")
    prio = process.get("ioPriority")
    if prio is not None:
        w = f"{where}.ioPriority"
        if prio.get("class") not in IOPRIO_CLASSES:
            raise ConfigError(f"{w}.class", f"unknown class \"{prio.get('class')}\"")
        if not 0 <= prio.get("priority", -1) <= 7:
            raise ConfigError(f"{w}.priority", "must be from 0 (highest) to 7 (lowest)")
    aff = process.get("execCPUAffinity")
    if aff is not None:
        for key in ("initial", "final"):
            if key in aff:
                parse_list(aff[key], f"{where}.execCPUAffinity.{key}", MAX_CPUS)


def check_scheduler(sched: dict, w: str) -> None:
    policy = sched.get("policy")
    if policy not in SCHED_POLICIES:
        raise ConfigError(f"{w}.policy", f"unknown policy \"{policy}\"")
    if policy == "SCHED_ISO":
        raise ConfigError(f"{w}.policy", "SCHED_ISO is not implemented by the Linux kernel")
    nice = sched.get("nice", 0)
    if policy in ("SCHED_OTHER", "SCHED_BATCH") and not -20 <= nice <= 19:
        raise ConfigError(f"{w}.nice", f"{nice} is out of range (-20 to 19)")
    priority = sched.get("priority", 0)
    if policy in REALTIME:
        if not 1 <= priority <= 99:
            raise ConfigError(f"{w}.priority", f"{policy} needs a priority from 1 to 99, "
                              f"not {priority}")
    elif priority:
        raise ConfigError(f"{w}.priority", "only SCHED_FIFO and SCHED_RR have a priority")
    times = [sched.get(k, 0) for k in ("runtime", "deadline", "period")]
    if policy != "SCHED_DEADLINE":
        for key, value in zip(("runtime", "deadline", "period"), times, strict=True):
            if value:
                raise ConfigError(f"{w}.{key}", "only SCHED_DEADLINE has a runtime, "
                                  "deadline and period")
    else:
        runtime, deadline, period = times
        if not runtime or not deadline:
            raise ConfigError(w, "SCHED_DEADLINE needs a runtime and a deadline")
        if runtime > deadline or (period and deadline > period):
            raise ConfigError(w, "SCHED_DEADLINE needs runtime <= deadline <= period")
    for i, flag in enumerate(sched.get("flags", [])):
        if flag not in SCHED_FLAGS:
            raise ConfigError(f"{w}.flags[{i}]", f"unknown flag \"{flag}\"")


def check_linux(linux: dict) -> None:
    """linux.personality and linux.memoryPolicy."""
    pers = linux.get("personality")
    if pers is not None and pers.get("domain") not in PERSONALITY_DOMAINS:
        raise ConfigError("$.linux.personality.domain",
                          f"unknown domain \"{pers.get('domain')}\" (LINUX or LINUX32)")
    mpol = linux.get("memoryPolicy")
    if mpol is not None:
        memory_policy(mpol)


def memory_policy(mpol: dict) -> tuple[int, list[int]]:
    """(mode | flags, nodes) of linux.memoryPolicy, checked as runc does."""
    w = "$.linux.memoryPolicy"
    mode = mpol.get("mode")
    if mode not in MPOL_MODES:
        raise ConfigError(f"{w}.mode", f"unknown mode \"{mode}\"")
    nodes = parse_list(mpol.get("nodes", ""), f"{w}.nodes", MAX_NODES, "node")
    if mode in MPOL_NO_NODES and nodes:
        raise ConfigError(f"{w}.nodes", f"{mode} takes no nodes")
    if mode in MPOL_SOME_NODES and not nodes:
        raise ConfigError(f"{w}.nodes", f"{mode} needs at least one node")
    flags = 0
    for i, flag in enumerate(mpol.get("flags", [])):
        if flag not in MPOL_FLAGS:
            raise ConfigError(f"{w}.flags[{i}]", f"unknown flag \"{flag}\"")
        flags |= MPOL_FLAGS[flag]
    both = MPOL_FLAGS["MPOL_F_STATIC_NODES"] | MPOL_FLAGS["MPOL_F_RELATIVE_NODES"]
    if flags & both == both:
        raise ConfigError(f"{w}.flags", "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES "
                          "exclude each other")
    return MPOL_MODES[mode] | flags, nodes


def check_mount_idmap(mount: dict, where: str) -> None:
    """idmap/ridmap and uidMappings/gidMappings go together (as runc 1.2), on bind mounts."""
    options = mount.get("options", [])
    idmap = "idmap" in options or "ridmap" in options
    maps = "uidMappings" in mount or "gidMappings" in mount
    if maps and not idmap:
        raise ConfigError(f"{where}.options", "uidMappings and gidMappings need the idmap "
                          "or ridmap option")
    if not idmap:
        return
    for key in ("uidMappings", "gidMappings"):
        if not mount.get(key):
            raise ConfigError(f"{where}.{key}", "an idmap or ridmap mount needs uidMappings "
                              "and gidMappings (pyrunc does not take the container's)")
        for j, m in enumerate(mount[key]):
            if m.get("size", 0) < 1:
                raise ConfigError(f"{where}.{key}[{j}].size", "must be at least 1")
    if "bind" not in options and "rbind" not in options and mount.get("type") != "bind":
        raise ConfigError(f"{where}.options", "idmap and ridmap are for bind mounts only")


def host_nodes() -> list[int] | None:
    """The NUMA nodes this host may have, or None if it cannot tell."""
    try:
        with open("/sys/devices/system/node/possible") as f:
            return parse_list(f.read(), "node/possible", MAX_NODES, "node")
    except (OSError, ConfigError):
        return None


# -- plan records ---------------------------------------------------------------------

def process_records(plan, process: dict, *, affinity: dict | None = None) -> None:
    """Records for a process: scheduler, I/O priority and, for exec, the final
    CPU affinity (`affinity`, process.execCPUAffinity or the container's;
    None at create)."""
    sched = process.get("scheduler")
    if sched is not None:
        flags = 0
        for flag in sched.get("flags", []):
            flags |= SCHED_FLAGS[flag]
        plan.add(R_SCHEDULER, struct.pack(
            "<IiII4Q", SCHED_POLICIES[sched["policy"]], sched.get("nice", 0),
            sched.get("priority", 0), 0, flags, sched.get("runtime", 0),
            sched.get("deadline", 0), sched.get("period", 0)))
    prio = process.get("ioPriority")
    if prio is not None:
        plan.add(R_IOPRIO, struct.pack(
            "<I", IOPRIO_CLASSES[prio["class"]] << IOPRIO_CLASS_SHIFT | prio["priority"]))
    if affinity and affinity.get("final", "").strip():
        cpus = parse_list(affinity["final"], "$.process.execCPUAffinity.final", MAX_CPUS)
        n, words = mask_words(cpus)
        plan.add(R_CPU_AFFINITY, struct.pack("<I", n) + words
                 + affinity["final"].encode() + b"\0")


def linux_records(plan, linux: dict) -> None:
    """Records for linux.personality and linux.memoryPolicy."""
    pers = linux.get("personality")
    if pers is not None:
        if pers.get("flags"):
            from ..util.log import warning

            warning("$.linux.personality.flags: no personality flags are supported; "
                    "ignored (as runc)")
        plan.add(R_PERSONALITY, struct.pack("<Q", PERSONALITY_DOMAINS[pers["domain"]]))
    mpol = linux.get("memoryPolicy")
    if mpol is not None:
        mode, nodes = memory_policy(mpol)
        if not mode & MPOL_FLAGS["MPOL_F_RELATIVE_NODES"]:
            known = host_nodes()
            missing = [n for n in nodes if known is not None and n not in known]
            if missing:
                raise ConfigError("$.linux.memoryPolicy.nodes", f"node {missing[0]} does not "
                                  f"exist on this host (nodes: {_ranges(known or [])})")
        n, words = mask_words(nodes)
        plan.add(R_MEMPOLICY, struct.pack("<II", mode, n) + words
                 + mpol.get("nodes", "").encode() + b"\0")


def idmap_record(plan, mount: dict, source: str, recursive_bind: bool, where: str) -> None:
    """The record that precedes the R_MOUNT of an idmapped bind mount."""
    flags = int(recursive_bind) | (2 if "ridmap" in mount.get("options", []) else 0)
    uids, gids = mount["uidMappings"], mount["gidMappings"]
    triples = b"".join(struct.pack("<III", m["containerID"], m["hostID"], m["size"])
                       for m in (*uids, *gids))
    for s in (source, where):
        if "\0" in s:
            raise ConfigError(where, "contains a NUL byte")
    plan.add(R_MOUNT_IDMAP, struct.pack("<III", flags, len(uids), len(gids)) + triples
             + source.encode() + b"\0" + where.encode() + b"\0")


def initial_affinity(pid: int, affinity: dict | None) -> None:
    """Put the exec's init on execCPUAffinity.initial before it joins the cgroup."""
    from ..errors import PyruncError

    text = (affinity or {}).get("initial", "")
    if not text.strip():
        return
    cpus = parse_list(text, "$.process.execCPUAffinity.initial", MAX_CPUS)
    try:
        os.sched_setaffinity(pid, cpus)
    except OSError as e:
        raise PyruncError(f"$.process.execCPUAffinity.initial: CPUs \"{text}\": "
                          f"{e.strerror}") from None


def _ranges(numbers: list[int]) -> str:
    out: list[str] = []
    for n in numbers:
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ",".join(out) or "none"
