"""runc-style logging: `--log FILE` (default stderr), `--log-format text|json`.

JSON lines carry level, msg and time (RFC 3339), as containerd's shim and
podman parse them."""

import sys

from . import fastjson
from . import fastos as os

_target: str | None = None
_format = "text"
_debug = False


def configure(path: str | None, fmt: str, debug: bool) -> None:
    global _target, _format, _debug
    _target, _format, _debug = path, fmt, debug


def _line(level: str, msg: str) -> str:
    from ..state import now_rfc3339

    t = now_rfc3339()
    if _format == "json":
        return fastjson.dumps({"level": level, "msg": msg, "time": t}) + "\n"
    return f"time=\"{t}\" level={level} msg={fastjson.dumps(msg)}\n"


def _write(level: str, msg: str) -> None:
    line = _line(level, msg)
    if _target:
        try:
            fd = os.open(_target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
            return
        except OSError:
            pass
    if level != "error":  # errors are printed on stderr by the caller anyway
        sys.stderr.write(line)


def error(msg: str) -> None:
    """Log the error that ends this command (once; the CLI also prints it)."""
    if _target:
        _write("error", msg)


def warning(msg: str) -> None:
    _write("warning", msg)


def debug(msg: str) -> None:
    if _debug:
        _write("debug", msg)
