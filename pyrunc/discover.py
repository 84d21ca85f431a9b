"""Every container on the node, whichever runtime made it, for `pyrunc debug`.

pyrunc's own root comes first, then the roots where containerd (one per
namespace), docker, podman, CRI-O, runc and crun keep their state. A root's
containers are read through the runtime that wrote them: pyrunc's own state
files directly, runc's and crun's through their `state` command (their state
files when the program is not installed). Kubernetes pod, namespace and
container names come from the annotations that containerd's CRI plugin and
CRI-O put in each container's config.json."""

import glob
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from .errors import PyruncError

# (runtime that normally writes there, root pattern), in the order searched
WELL_KNOWN_ROOTS = (
    ("containerd", "/run/containerd/runc/*"),  # the runc shim's Root, one per namespace
    ("docker", "/run/docker/runtime-*/*"),  # runtime-runc/moby, runtime-NAME/moby
    ("runc", "/run/runc"),  # runc's default: podman, CRI-O, plain runc
    ("crun", "/run/crun"),  # crun's default: podman, CRI-O
    ("runc", "/run/user/*/runc"),  # rootless podman
    ("crun", "/run/user/*/crun"),
    ("pyrunc", "/run/pyrunc"),  # pyrunc's default, as podman and CRI-O run it
)
# Kubernetes names in a container's annotations: containerd's CRI plugin, then CRI-O
POD_NAME = ("io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name")
POD_NAMESPACE = ("io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace")
CONTAINER_NAME = ("io.kubernetes.cri.container-name", "io.kubernetes.container.name")
CONTAINER_TYPE = ("io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType")
STATE_TIMEOUT = 10


@dataclass
class Target:
    """One container found on the node."""

    runtime: str  # the program whose state it is: pyrunc, runc or crun
    root: str
    id: str
    pid: int
    status: str
    bundle: str = ""
    rootfs: str = ""
    annotations: dict = field(default_factory=dict)

    def _first(self, keys: tuple[str, ...]) -> str:
        return next((self.annotations[k] for k in keys if self.annotations.get(k)), "")

    @property
    def pod(self) -> str:
        return self._first(POD_NAME)

    @property
    def namespace(self) -> str:
        return self._first(POD_NAMESPACE)

    @property
    def container(self) -> str:
        return self._first(CONTAINER_NAME)

    @property
    def sandbox(self) -> bool:
        return self._first(CONTAINER_TYPE) == "sandbox"

    def describe(self) -> str:
        """One line: what it is and where it was found."""
        where = f"{self.runtime} container {self.id} in {self.root}"
        if self.pod:
            name = "the pod sandbox" if self.sandbox else f"container {self.container}"
            where += f" (pod {self.namespace}/{self.pod}, {name})"
        return f"{where}, pid {self.pid}, {self.status}"

    def row(self) -> dict:
        return {"runtime": self.runtime, "root": self.root, "id": self.id,
                "namespace": self.namespace, "pod": self.pod,
                "container": "(sandbox)" if self.sandbox else self.container,
                "pid": self.pid, "status": self.status, "rootfs": self.rootfs}


def roots(own_root: str) -> list[tuple[str, str]]:
    """(kind, directory) of every state root on this node, pyrunc's first."""
    out = [("pyrunc", os.path.abspath(own_root))]
    for kind, pattern in WELL_KNOWN_ROOTS:
        for d in sorted(glob.glob(pattern)):
            if os.path.isdir(d) and all(os.path.realpath(d) != os.path.realpath(r)
                                        for _, r in out):
                out.append((kind, d))
    return out


def _runtime_of(state_dir: str) -> str:
    """Whose state directory this is, by its files."""
    if os.path.exists(os.path.join(state_dir, "status")):
        return "crun"
    try:
        with open(os.path.join(state_dir, "state.json"), "rb") as f:
            head = f.read(4096)
    except OSError:
        return ""
    return "runc" if b'"init_process_pid"' in head else "pyrunc"


def _config_annotations(bundle: str) -> dict:
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            return json.load(f).get("annotations") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def _from_state(runtime: str, root: str, state: dict) -> Target:
    t = Target(runtime, root, state.get("id", ""), int(state.get("pid") or 0),
               state.get("status", "unknown"), state.get("bundle", ""),
               state.get("rootfs", ""), state.get("annotations") or {})
    if t.rootfs and t.bundle and not os.path.isabs(t.rootfs):  # (crun: as in config.json)
        t.rootfs = os.path.normpath(os.path.join(t.bundle, t.rootfs))
    if t.bundle and not t.pod:
        t.annotations = {**_config_annotations(t.bundle), **t.annotations}
    return t


def process_cgroups(pid: int) -> dict[str, str]:
    """The directories of process `pid`'s cgroups, one per hierarchy."""
    from .cgroups import host as cgroups

    own = cgroups.own_cgroups(str(pid))
    out = {}
    for h in cgroups.hierarchies():
        path = own.get(h.name)
        if path is None:
            continue
        rel = os.path.relpath(path, h.root) if h.root != "/" else path.lstrip("/")
        if not rel.startswith(".."):
            out[h.name or "unified"] = os.path.normpath(os.path.join(h.mountpoint, rel))
    return out


def frozen(pid: int) -> bool:
    """Is process `pid` in a frozen cgroup (v1 freezer or v2 cgroup.freeze)?"""
    try:
        paths = process_cgroups(pid)
    except OSError:
        return False
    for name, path in paths.items():
        try:
            if "freezer" in name.split(","):
                with open(os.path.join(path, "freezer.state")) as f:
                    if f.read().strip() != "THAWED":
                        return True
            elif name == "unified":
                with open(os.path.join(path, "cgroup.events")) as f:
                    if "frozen 1" in f.read().splitlines():
                        return True
        except OSError:
            continue
    return False


def _alive(pid: int, start: int | None) -> bool:
    from .state import proc_start_time

    now = proc_start_time(pid) if pid > 0 else None
    return now is not None and (start is None or now == start)


def _state_file(runtime: str, root: str, cid: str) -> dict:
    """The state of a runc or crun container from its state file (the program
    itself is not installed): running or stopped, from its init's start time."""
    d = os.path.join(root, cid)
    if runtime == "crun":
        with open(os.path.join(d, "status")) as f:
            s = json.load(f)
        pid, start = int(s.get("pid", 0)), s.get("process-start-time")
        bundle, rootfs = s.get("bundle", ""), s.get("rootfs", "")
    else:
        with open(os.path.join(d, "state.json")) as f:
            s = json.load(f)
        pid, start = int(s.get("init_process_pid", 0)), s.get("init_process_start")
        cfg = s.get("config", {})
        rootfs = cfg.get("rootfs", "")
        labels = dict(x.split("=", 1) for x in cfg.get("labels", []) if "=" in x)
        bundle = labels.get("bundle", "")
    status = "stopped"
    if _alive(pid, int(start) if start is not None else None):
        status = "paused" if frozen(pid) else "running"
    return {"id": cid, "pid": pid if status != "stopped" else 0, "status": status,
            "bundle": bundle, "rootfs": rootfs}


def _foreign_state(runtime: str, root: str, cid: str) -> dict:
    """`RUNTIME --root ROOT state ID`, as the runtime's own clients read it."""
    prog = shutil.which(runtime)
    if not prog:
        return _state_file(runtime, root, cid)
    p = subprocess.run([prog, "--root", root, "state", cid], capture_output=True,
                       timeout=STATE_TIMEOUT, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip().splitlines()
        raise PyruncError(f"{runtime} --root {root} state {cid}: "
                          f"{err[-1] if err else f'exit status {p.returncode}'}")
    return json.loads(p.stdout)


def load(runtime: str, root: str, cid: str) -> Target:
    """One container of a root, read the way its runtime reads it."""
    if runtime == "pyrunc":
        from .state import Container

        return _from_state("pyrunc", root, Container.load(root, cid).oci_state())
    return _from_state(runtime, root, _foreign_state(runtime, root, cid))


def find_all(own_root: str) -> tuple[list[Target], list[str]]:
    """Every container on the node, and the problems met on the way (a root
    that could not be read, a runtime that failed)."""
    targets: list[Target] = []
    problems: list[str] = []
    for _, root in roots(own_root):
        try:
            names = sorted(os.listdir(root))
        except FileNotFoundError:
            continue
        except OSError as e:
            problems.append(f"{root}: {e.strerror}")
            continue
        for cid in names:
            d = os.path.join(root, cid)
            if not os.path.isdir(d):
                continue
            runtime = _runtime_of(d)
            if not runtime:
                continue
            try:
                targets.append(load(runtime, root, cid))
            except (PyruncError, OSError, ValueError, subprocess.SubprocessError) as e:
                problems.append(f"{runtime} container {cid} in {root}: {e}")
    return targets, problems


def _choose(what: str, found: list[Target]) -> Target:
    if not found:
        raise PyruncError(f"debug: no container {what} on this node")
    if len(found) > 1:
        listing = "; ".join(t.describe() for t in found)
        raise PyruncError(f"debug: {what} is ambiguous: {listing}")
    return found[0]


def by_id(own_root: str, ident: str) -> Target:
    """The container whose id is `ident` (in pyrunc's root first), or the only
    one whose id starts with it."""
    from .state import validate_id

    validate_id(ident)
    own = os.path.join(own_root, ident)
    if os.path.isdir(own) and _runtime_of(own) == "pyrunc":
        return load("pyrunc", os.path.abspath(own_root), ident)
    everything, problems = find_all(own_root)
    found = [t for t in everything if t.id == ident] or [
        t for t in everything if t.id.startswith(ident)]
    if not found:
        searched = ", ".join(r for _, r in roots(own_root))
        why = f"; {'; '.join(problems)}" if problems else ""
        raise PyruncError(f"debug: container \"{ident}\" does not exist "
                          f"(searched {searched}{why})")
    return _choose(f"\"{ident}\"", found)


def _cgroup_of(pid: int) -> str:
    """The v2 (else the first v1) cgroup path of a process."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = [ln.rstrip("\n").split(":", 2) for ln in f]
    except OSError:
        return ""
    v2 = [p for n, c, p in lines if n == "0"]
    return v2[0] if v2 and v2[0] != "/" else next(
        (p for n, c, p in lines if n != "0" and "name=" not in c and p != "/"), "")


def _ns(pid: int | str, kind: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return ""


def by_pid(own_root: str, pid: int) -> Target:
    """The container a process belongs to: its init, or the container whose
    cgroup holds it, or whose (non-host) pid namespace it is in."""
    if not os.path.exists(f"/proc/{pid}"):
        raise PyruncError(f"debug: --pid {pid}: no such process")
    running = [t for t in find_all(own_root)[0] if t.status in ("running", "paused")]
    found = [t for t in running if t.pid == pid]
    cg = _cgroup_of(pid)
    if not found and cg:
        found = [t for t in running if _cgroup_of(t.pid) == cg]
    if not found and cg:
        found = [t for t in running if cg.startswith(_cgroup_of(t.pid) + "/")]
    pidns = _ns(pid, "pid")
    if not found and pidns != _ns(1, "pid"):
        found = [t for t in running if _ns(t.pid, "pid") == pidns]
    return _choose(f"with process {pid}", found)


def by_pod(own_root: str, pod: str, namespace: str | None, container: str | None) -> Target:
    """A container of a Kubernetes pod (from the CRI annotations): the one
    named, else the pod's only container, else its sandbox."""
    running = [t for t in find_all(own_root)[0] if t.status in ("running", "paused")]
    members = [t for t in running if t.pod == pod
               and (namespace is None or t.namespace == namespace)]
    what = f"pod {namespace + '/' if namespace else ''}{pod}"
    if not members:
        raise PyruncError(f"debug: no running {what} on this node")
    spaces = sorted({t.namespace for t in members})
    if len(spaces) > 1:
        raise PyruncError(f"debug: pod {pod} is in several namespaces ({', '.join(spaces)}): "
                          "choose one with --namespace")
    apps = [t for t in members if not t.sandbox]
    if container is not None:
        named = [t for t in apps if t.container == container]
        if not named:
            have = ", ".join(sorted({t.container for t in apps})) or "none running"
            raise PyruncError(f"debug: {what} has no container {container} (it has: {have})")
        return _choose(f"container {container} of {what}", named)
    if len(apps) > 1:
        names = ", ".join(sorted(t.container for t in apps))
        raise PyruncError(f"debug: {what} has several containers ({names}): "
                          "choose one with --container")
    return (apps or members)[0]
