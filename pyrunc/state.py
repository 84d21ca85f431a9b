"""The state store: one directory per container under the runtime root.

``<root>/<id>/state.json`` holds the spec's state fields plus what pyrunc
needs later (the init's start time, cgroup paths, hooks); it is replaced
atomically. ``<root>/<id>/exec.sock`` is where the created init waits for
``start`` to connect. An exclusive flock on the container directory serialises the
commands that change a container."""

import fcntl
import time

from .errors import PyruncError
from .util import fastjson
from .util import fastos as os

DEFAULT_ROOT = "/run/pyrunc"
STATE_FILE = "state.json"
START_SOCKET = "exec.sock"
MAX_ID_LEN = 255
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


class NotFound(PyruncError):
    """The container does not exist (the phrase clients look for)."""

    def __init__(self, cid: str) -> None:
        super().__init__(f"container \"{cid}\" does not exist")


def validate_id(cid: str) -> None:
    """Refuse ids that are empty, too long, or not a plain file name (as runc)."""
    if not cid:
        raise PyruncError("container id cannot be empty")
    if len(cid) > MAX_ID_LEN:
        raise PyruncError(f"invalid container id: longer than {MAX_ID_LEN} characters")
    if cid in (".", "..") or not _ID_CHARS.issuperset(cid):
        raise PyruncError(f"invalid container id \"{cid}\": only [A-Za-z0-9_+.-] are allowed")


def now_rfc3339() -> str:
    """The current UTC time, RFC 3339 with nanoseconds (as runc writes it)."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + (
        f".{ns % 1_000_000_000:09d}Z"
    )


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None if the
    process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


class Container:
    """One container's directory and state document."""

    def __init__(self, root: str, cid: str) -> None:
        self.root = root
        self.id = cid
        self.dir = os.path.join(root, cid)
        self.data: dict = {}
        self._lock_fd: int | None = None
        self._creating = False  # this process is the create that claimed the id

    # -- storage ---------------------------------------------------------------
    @classmethod
    def load(cls, root: str, cid: str) -> "Container":
        """Read an existing container's state, or raise NotFound."""
        validate_id(cid)
        c = cls(root, cid)
        try:
            with open(os.path.join(c.dir, STATE_FILE), "rb") as f:
                raw = f.read()
        except (FileNotFoundError, NotADirectoryError):
            if os.path.isdir(c.dir):
                # create died before writing any state: a husk that delete removes
                c.data = {"id": cid, "status": "creating", "pid": 0}
                return c
            raise NotFound(cid) from None
        try:
            data = fastjson.loads(raw.decode())
        except ValueError:  # truncated or damaged
            data = None
        if not isinstance(data, dict):
            data = {"id": cid, "status": "creating", "pid": 0, "corrupt": True}
        c.data = data
        return c

    @classmethod
    def new(cls, root: str, cid: str) -> "Container":
        """Claim the id: the directory is made atomically, so a duplicate fails."""
        validate_id(cid)
        c = cls(root, cid)
        try:
            try:
                os.mkdir(c.dir, 0o711)
            except FileNotFoundError:  # the first container under this root
                # (an unprivileged caller's, e.g. $XDG_RUNTIME_DIR/pyrunc: 0700 as runc's)
                os.makedirs(root, mode=0o711 if os.geteuid() == 0 else 0o700, exist_ok=True)
                os.mkdir(c.dir, 0o711)
        except FileExistsError:
            raise PyruncError(f"container with given ID already exists: \"{cid}\"") from None
        except OSError as e:
            raise PyruncError(f"creating {c.dir}: {e.strerror}") from None
        c._creating = True
        c.lock()
        return c

    def save(self) -> None:
        """Write state.json atomically."""
        path = os.path.join(self.dir, STATE_FILE)
        tmp = os.path.join(self.dir, f".{STATE_FILE}.{os.getpid()}")
        try:
            with open(tmp, "w") as f:
                f.write(fastjson.dumps(self.data))
            os.rename(tmp, path)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise PyruncError(f"writing {path}: {e.strerror}") from None

    def lock(self) -> None:
        """Take the container's exclusive lock (released when the process exits)."""
        if self._lock_fd is None:
            try:
                self._lock_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise NotFound(self.id) from None
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            if self.data:  # loaded before we waited: read what the holder left
                try:
                    fresh = Container.load(self.root, self.id)
                except NotFound:
                    self.unlock()
                    raise
                self.data = fresh.data

    def locked_by_other(self) -> bool:
        """True if another command holds this container's lock, or we hold it as
        the create in progress. A delete or start holding it has waited out any
        create: a "creating" record it then sees is a husk."""
        if self._lock_fd is not None:
            return self._creating
        try:
            fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def lock_fd(self) -> int:
        """The fd of the (locked) container directory."""
        self.lock()
        return self._lock_fd

    def __del__(self) -> None:
        self.unlock()  # a safety net for API callers; commands unlock explicitly

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def remove(self) -> None:
        """Remove the container's directory."""
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            if os.path.isdir(path) and not os.path.islink(path):  # notify/
                for inner in os.listdir(path):
                    os.unlink(os.path.join(path, inner))
                os.rmdir(path)
            else:
                os.unlink(path)
        os.rmdir(self.dir)
        self.unlock()

    # -- status ----------------------------------------------------------------
    @property
    def pid(self) -> int:
        return int(self.data.get("pid") or 0)

    def init_alive(self) -> bool:
        """True if the recorded init process still runs (and is not a reused pid)."""
        pid = self.pid
        if pid <= 0:
            return False
        start = proc_start_time(pid)
        return start is not None and start == self.data.get("pid_start")

    def status(self) -> str:
        """creating, created, running, paused or stopped: the truth, not the record."""
        stored = self.data.get("status", "creating")
        if stored == "creating":
            # A create in progress holds the lock; if nobody does, it died.
            if not self.locked_by_other():
                return "stopped"
            return "creating" if self.pid == 0 or self.init_alive() else "stopped"
        if not self.init_alive():
            return "stopped"
        if stored == "created" and not os.path.exists(os.path.join(self.dir, START_SOCKET)):
            stored = "running"
        if stored == "running" and self.frozen():
            return "paused"
        return stored

    def frozen(self) -> bool:
        cgroup = self.data.get("cgroup", {})
        freezer = cgroup.get("freezer") or cgroup.get("unified")  # v1, else v2's cgroup.freeze
        if not freezer:
            return False
        for name, frozen in (("freezer.state", "FROZEN"), ("cgroup.freeze", "1")):
            try:
                with open(os.path.join(freezer, name)) as f:
                    return f.read().strip() == frozen
            except OSError:
                continue
        return False

    def oci_state(self) -> dict:
        """The runtime-spec state document (with runc's extra fields)."""
        status = self.status()
        d = self.data
        out = {
            "ociVersion": d.get("ociVersion", "1.3.0"),
            "id": self.id,
            "pid": self.pid if status not in ("stopped", "creating") else 0,
            "status": status,
            "bundle": d.get("bundle", ""),
            "rootfs": d.get("rootfs", ""),
            "created": d.get("created", ""),
            "owner": "",
        }
        if d.get("annotations"):
            out["annotations"] = d["annotations"]
        return out


def list_ids(root: str) -> list[str]:
    """Ids of all containers under root, sorted."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.isdir(os.path.join(root, n)))
