"""The container's cgroup manager: one interface over the cgroup drivers, as
youki's libcgroups and crun's cgroup backends have it. Callers (create, kill,
delete, exec, pause, update, events) never ask "v1 or v2?":

    mgr = manager.new(cid, linux, systemd_cgroup)  # at create, from config.json
    mgr = manager.load(container.data)             # later, from state.json

`new` picks the driver from the flags (this cgroupfs one, or systemd.Manager
for --systemd-cgroup); the host picks the rest: each controller is found where
it is mounted, a v1 hierarchy or the unified v2 one (common.Cgroup), and
written by that version's backend (v1.py, v2.py), so a hybrid host works
controller by controller. `paths` ({hierarchy: directory}) and `made` (the
directories it made and removes) are what it owns, and what state.json keeps.

`ownership` says how much of the cgroup is pyrunc's: FULL (all of it);
DELEGATED (a rootless container in the subtree delegated to its user: no
device filter, as runc) and NONE (a rootless container with no cgroup of its
own: its processes are found through its init's pid namespace, and pause,
update and stats say why they cannot work). See delegated.py."""

FULL, DELEGATED, NONE = "full", "delegated", "none"


class Manager:
    """The cgroupfs driver: pyrunc makes the directories and writes the files."""

    needs_process = False  # (systemd: a scope is made with a process in it)
    unit: str | None = None

    def __init__(self, paths: dict[str, str], made: list[str] | None = None,
                 ownership: str = FULL, init_pid: int = 0) -> None:
        self.paths = paths
        self.made = made if made is not None else []
        self.ownership = ownership
        self.init_pid = init_pid  # (NONE: how the container's processes are found)

    def own(self, what: str, cid: str) -> None:
        """Refuse `what` (pause, update, ...) for a container with no cgroup."""
        if self.ownership == NONE:
            from ..errors import PyruncError

            raise PyruncError(f"cannot {what} container {cid}: it has no cgroup of its own "
                              "(rootless, and no cgroup was delegated to its user)")

    # -- making, joining, removing -------------------------------------------------

    def check_existing(self) -> None:
        """Before anything is made (runc's factory Create): a cgroup that exists
        already and has processes is used, with runc 1.1.5's warnings; a frozen
        one is refused, or the container's init would hang in it. Any frozen
        freezer counts: v1 freezer.state, v2 cgroup.freeze or frozen through an
        ancestor (cgroup.events)."""
        from ..errors import PyruncError
        from ..util.log import warning
        from . import v1, v2
        from .common import Cgroup, read

        n = len(self.pids())
        if n:
            warning(f"container's cgroup is not empty: {n} process(es) found")
            warning("DEPRECATED: running container in a non-empty cgroup won't be supported "
                    "in runc 1.2; https://github.com/opencontainers/runc/issues/3132")
        cg = Cgroup(self.paths)
        frozen = "freezer" in cg.v1 and v1.is_frozen(cg.v1["freezer"])
        if cg.unified and not frozen:
            frozen = v2.is_frozen(cg.unified) or "frozen 1" in (
                read(cg.unified, "cgroup.events") or "").splitlines()
        if frozen:
            raise PyruncError("container's cgroup unexpectedly frozen")

    def self_join(self, joins_cgroupns: bool) -> tuple[list[str], str | None, dict[str, str]]:
        """What the init's stage 1 joins by itself, and the rest, for `join`
        (host.self_join)."""
        from .host import self_join

        return self_join(self.paths, joins_cgroupns)

    def planned(self) -> list[str]:
        """The directories `create` would make now (to record before making them)."""
        from .host import missing

        return missing(self.paths)

    def create(self, linux: dict, after_mkdir=None) -> list[str]:
        """Make the directories that do not exist yet and write the limits of
        `linux` (all but pids.max: `apply_pids`), before the init joins;
        return the directories made. On failure, nothing is left. (`after_mkdir`:
        called once the directories exist, for the tests' crash points.)"""
        from . import host
        from .resources import setup

        made = host.create(self.paths)
        try:
            if after_mkdir is not None:
                after_mkdir()
            # (rootless: no device filter can be attached, and none is needed, as runc)
            setup(self.paths, made, linux, devices=self.ownership == FULL)
        except BaseException:
            host.remove(made)
            raise
        self.made = made
        return made

    def start(self, pid: int, cid: str, resources: dict) -> None:
        """Driver-made cgroups only (systemd): make it, with `pid` in it."""

    def join(self, pid: int, paths: dict[str, str] | None = None) -> None:
        """Move `pid` into the container's cgroup (or into `paths`, some of it)."""
        from .host import join

        join(self.paths if paths is None else paths, pid)

    def sub_paths(self, specs: list[str]) -> dict[str, str]:
        """exec --cgroup: the container's paths with sub-cgroups (host.sub_paths)."""
        from .host import sub_paths

        return sub_paths(self.paths, specs)

    def remove(self) -> None:
        """Remove the directories it made, deepest first."""
        from .host import remove

        remove(self.made)

    # -- limits ----------------------------------------------------------------------

    def apply_pids(self, linux: dict) -> None:
        """pids.max, once the container's init exists."""
        from .resources import apply_pids

        apply_pids(self.paths, linux)

    def update(self, delta: dict, merged: dict) -> None:
        """Change the limits of a live container (`merged`: all of them after)."""
        from .resources import apply

        apply(self.paths, delta, full=merged, update=True)

    # -- processes -------------------------------------------------------------------

    def procs(self) -> list[int]:
        """The pids in the container's cgroup itself (host.procs)."""
        from .host import procs

        return procs(self.paths)

    def pids(self) -> list[int]:
        """Every pid in the container's cgroup and the cgroups below it (from one
        hierarchy: the pids, freezer or memory one, else any)."""
        from ..util import fastos as os
        from .common import Cgroup

        if self.ownership == NONE:
            from .delegated import container_pids

            return container_pids(self.init_pid) if self.init_pid else []
        cg = Cgroup(self.paths)
        order = [cg.v1.get(c) for c in ("pids", "freezer", "memory", "cpu")]
        order += [cg.unified, *self.paths.values()]
        for d in order:
            if not d or not os.path.isdir(d):
                continue
            pids: list[int] = []
            for dirpath, _, _ in os.walk(d):
                try:
                    with open(os.path.join(dirpath, "cgroup.procs")) as f:
                        pids += [int(x) for x in f.read().split()]
                except OSError:
                    continue
            return sorted(set(pids))
        return []

    def signal_all(self, signum: int) -> None:
        """Signal every process of the container, as runc does: SIGKILL through
        cgroup.kill where there is one; otherwise freeze, signal, thaw, so that no
        process forks past the signal. A paused container stays paused (but is
        thawed for SIGKILL, or its processes could not die)."""
        if self.ownership == NONE:  # every process of the init's pid namespace
            from ..util import fastos as os

            for pid in self.pids():
                try:
                    os.kill(pid, signum)
                except (ProcessLookupError, PermissionError):
                    pass
            return
        from ..errors import PyruncError
        from ..util import fastos as os
        from .common import Cgroup, WriteError, write

        cg = Cgroup(self.paths)
        if signum == 9 and cg.unified:
            try:
                write(cg.unified, "cgroup.kill", "1", "cgroup.kill")
                self._thaw_if_frozen()
                return
            except WriteError:
                pass  # no cgroup.kill (before 5.14): the old way
        was_frozen = self.is_frozen()
        can_freeze = cg.freezer() is not None
        if can_freeze and not was_frozen:
            try:
                self.freeze(True, timeout=2.0)
            except PyruncError:
                pass
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, signum)
                except (ProcessLookupError, PermissionError):
                    pass
        finally:
            if can_freeze and (not was_frozen or signum == 9):
                try:
                    self.freeze(False, timeout=2.0)
                except PyruncError:
                    pass

    def _thaw_if_frozen(self) -> None:
        from ..errors import PyruncError

        if self.is_frozen():
            try:
                self.freeze(False, timeout=2.0)
            except PyruncError:
                pass

    # -- freezer -------------------------------------------------------------------

    def _freezer(self):  # noqa: ANN202  (-> (directory, backend module) | None)
        from .common import Cgroup

        fz = Cgroup(self.paths).freezer()
        if fz is None:
            return None
        d, version = fz
        if version == 1:
            from . import v1 as backend
        else:
            from . import v2 as backend
        return d, backend

    def is_frozen(self) -> bool:
        fz = self._freezer()
        return fz is not None and fz[1].is_frozen(fz[0])

    def freeze(self, frozen: bool = True, timeout: float = 10.0) -> None:
        """Freeze (or thaw) the container's cgroup and wait until it is done."""
        fz = self._freezer()
        if fz is None:
            from ..errors import PyruncError

            raise PyruncError("cannot freeze: no freezer cgroup (v1 freezer controller or "
                              "cgroup v2 cgroup.freeze)")
        fz[1].freeze(fz[0], frozen, timeout)

    def thaw(self, timeout: float = 10.0) -> None:
        self.freeze(False, timeout)

    # -- stats -----------------------------------------------------------------------

    def stats(self) -> dict:
        """runc's stats JSON (stats.py)."""
        from .stats import stats

        return stats(self.paths)

    def oom_count(self) -> int:
        from .stats import oom_count

        return oom_count(self.paths)


def new(cid: str, linux: dict, systemd_cgroup: bool = False,
        rootless: bool = False) -> Manager:
    """The manager of a new container, from its config's `linux` object:
    linux.cgroupsPath (or the id) under pyrunc's cgroup, or a systemd scope.
    A rootless container gets the part its user may write (DELEGATED), or
    none (NONE), or an error naming the limit that needs one (delegated.py).
    linux.resources.unified is refused unless the host is pure cgroup v2."""
    ownership = FULL
    if systemd_cgroup and rootless:
        from ..util import fastos as os

        if os.geteuid() != 0:
            from ..errors import PyruncError

            raise PyruncError("--systemd-cgroup: not supported for an unprivileged caller (the "
                              "systemd driver uses the system bus, not a user session): use "
                              "cgroupfs, with a delegated cgroup for limits")
    if (linux.get("resources") or {}).get("unified"):
        from .host import hierarchies, mode

        if mode(hierarchies()) != "v2":  # (as runc: v1 or hybrid, refused up front)
            from ..errors import ConfigError

            raise ConfigError("$.linux.resources.unified",
                              "invalid configuration: cannot use unified on cgroup v1")
    if systemd_cgroup:
        from . import systemd

        slice_, unit, paths = systemd.container_paths(linux.get("cgroupsPath"), cid)
        return systemd.Manager(paths, slice_=slice_, unit=unit, started=False,
                               ownership=ownership)
    from .host import container_paths

    paths = container_paths(linux.get("cgroupsPath"), cid)
    if rootless:
        from .delegated import cgroup_paths

        paths = cgroup_paths(paths, linux)
        ownership = DELEGATED if paths else NONE
    return Manager(paths, ownership=ownership)


def load(data: dict) -> Manager:
    """The manager of an existing container, from its state (state.json's
    cgroup, cgroup_made and systemd_unit)."""
    paths, made = data.get("cgroup", {}), data.get("cgroup_made", [])
    if data.get("systemd_unit"):
        from . import systemd

        return systemd.Manager(paths, made, unit=data["systemd_unit"])
    ownership = FULL if not data.get("rootless") else DELEGATED if paths else NONE
    return Manager(paths, made, ownership, data.get("pid") or 0)
