"""Shared by the cgroup backends: the container's cgroup as a map of
controllers (`Cgroup`: each controller found where it is mounted, a v1
hierarchy or the unified v2 one, which serves hybrid hosts), and reading and
writing cgroup files with errors that name the config field, the file and the
value."""

from ..errors import PyruncError
from ..util import fastos as os
from .host import pure_v2

RES = "$.linux.resources"
MAX_U64 = 18446744073709551615


def human(n: int) -> str:
    """Bytes as 4M, 9.5M, 512K, 1G (binary units)."""
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            v = f"{n / size:.1f}".removesuffix(".0")
            return f"{v}{unit}"
    return f"{n}B"


class Cgroup:
    """Where each controller of a container's cgroup lives.

    `paths` is the {hierarchy name: directory} map that host.container_paths
    makes: keys like "memory" or "cpu,cpuacct" for v1, "unified" for v2."""

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths
        self.v1: dict[str, str] = {}
        for key, path in paths.items():
            if key != "unified":
                for ctrl in key.split(","):
                    self.v1[ctrl] = path
        self.unified = paths.get("unified")
        self.v2_controllers: set[str] = set()
        if self.unified:
            try:
                with open(os.path.join(self.unified, "cgroup.controllers")) as f:
                    self.v2_controllers = set(f.read().split())
            except OSError:
                pass
        self.pure_v2 = pure_v2(paths)

    def find(self, ctrl: str) -> tuple[str, int] | None:
        """(directory, version) of a controller, or None."""
        if ctrl in self.v1:
            return self.v1[ctrl], 1
        if self.unified and ctrl in self.v2_controllers:
            return self.unified, 2
        return None

    def need(self, ctrl: str, field: str) -> tuple[str, int]:
        found = self.find(ctrl)
        if found is None:
            raise PyruncError(f"{field}: the {ctrl} cgroup controller is not available "
                              f"(not mounted on cgroup v1, not enabled on cgroup v2)")
        return found

    def freezer(self) -> tuple[str, int] | None:
        """The directory that freezes the container: v1 freezer, else cgroup.freeze."""
        if "freezer" in self.v1:
            return self.v1["freezer"], 1
        if self.unified and os.path.exists(os.path.join(self.unified, "cgroup.freeze")):
            return self.unified, 2
        return None


class WriteError(PyruncError):
    """Writing a cgroup file failed; `errno` says why (ENOENT: no such file)."""

    def __init__(self, msg: str, errno: int) -> None:
        super().__init__(msg)
        self.errno = errno


def write(directory: str, name: str, value: str, field: str) -> None:
    """Write one cgroup file, with an error naming field, file and value."""
    path = os.path.join(directory, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)  # as runc
    except FileNotFoundError:
        raise WriteError(f"{field}: {name} does not exist in {directory} (the kernel or "
                         "the cgroup controller does not support this setting)", 2) from None
    except OSError as e:
        raise WriteError(f"{field}: opening {path}: {e.strerror}", e.errno) from None
    try:
        os.write(fd, value.encode())
    except OSError as e:
        raise WriteError(f"{field}: writing \"{value.strip()}\" to {path}: {e.strerror}",
                         e.errno) from None
    finally:
        os.close(fd)


def read(directory: str, name: str) -> str | None:
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read().strip()
    except OSError:
        return None


def read_int(directory: str, name: str) -> int:
    v = read(directory, name)
    if v is None or v == "max":
        return MAX_U64 if v == "max" else 0
    try:
        return int(v.split()[0])
    except (ValueError, IndexError):
        return 0


def num(value: object, field: str, lo: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PyruncError(f"{field}: must be an integer, got {value!r}")
    if lo is not None and value < lo:
        raise PyruncError(f"{field}: must be at least {lo}, got {value}")
    return value


def set_limit(d: str, name: str, value: int, field: str, usage_file: str) -> None:
    text = str(value) if value != -1 else ("-1" if name.endswith("_in_bytes") else "max")
    try:
        write(d, name, text, field)
    except WriteError as e:
        if e.errno == 16:  # EBUSY: below what is in use
            usage = read_int(d, usage_file)
            what = "memory+swap limit" if "memsw" in name else "memory limit"
            raise PyruncError(f"{field}: cannot set {what} {human(value)}: current usage "
                              f"{human(usage)} ({d}/{name})") from None
        if e.errno == 22 and name == "memory.limit_in_bytes" and value > 0:
            memsw = read_int(d, "memory.memsw.limit_in_bytes")
            if 0 < memsw < value:
                raise PyruncError(f"{field}: cannot set memory limit {human(value)} above the "
                                  f"memory+swap limit {human(memsw)}: set the swap limit "
                                  "(--memory-swap) too") from None
        raise


def warn(msg: str) -> None:
    from ..util.log import warning

    warning(msg)


THROTTLE = (("throttleReadBpsDevice", "read_bps_device", "rbps"),
            ("throttleWriteBpsDevice", "write_bps_device", "wbps"),
            ("throttleReadIOPSDevice", "read_iops_device", "riops"),
            ("throttleWriteIOPSDevice", "write_iops_device", "wiops"))


def devnum(entry: dict, field: str) -> str:
    try:
        return f"{int(entry['major'])}:{int(entry['minor'])}"
    except (KeyError, TypeError, ValueError):
        raise PyruncError(f"{field}: major and minor are required") from None


# runc's conversions of v1 values to v2 (v2.py, and the systemd unit properties)

def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) to cpu.weight (1..10000), as runc converts."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) to io.weight (1..10000), as runc converts."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def wait_for(done, timeout: float) -> bool:
    """Call `done()` until it is true (True) or `timeout` s have passed
    (False), sleeping 1 ms, then twice as long each time, up to 0.1 s."""
    import time

    deadline = time.monotonic() + timeout
    delay = 0.001
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    return True
