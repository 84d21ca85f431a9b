"""runc-style logging: `--log FILE` (default stderr), `--log-format text|json`.

Lines are logrus's, as runc writes them and containerd's shim and podman
parse them: text `time="2006-01-02T15:04:05Z" level=debug msg="..."` (a
value quoted only when it needs it), or JSON with the keys sorted and <, >, &
escaped as Go's encoder does."""

import sys

from . import fastjson
from . import fastos as os

_target: str | None = None
_format = "text"
_debug = False


def configure(path: str | None, fmt: str, debug: bool) -> None:
    global _target, _format, _debug
    _target, _format, _debug = path, fmt, debug


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/@^+")


def _now() -> str:
    """RFC 3339 in seconds, local time (logrus's default timestamp)."""
    import time

    t = time.localtime()
    off = t.tm_gmtoff or 0
    sign = "-" if off < 0 else "+"
    zone = f"{sign}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}" if off else "Z"
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + zone


def _text_value(v: str) -> str:
    return v if v and _PLAIN.issuperset(v) else fastjson.dumps(v)


def _line(level: str, msg: str) -> str:
    t = _now()
    if _format == "json":
        line = fastjson.dumps({"level": level, "msg": msg, "time": t})
        line = line.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return line + "\n"
    return f"time=\"{t}\" level={level} msg={_text_value(msg)}\n"


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


def debug_enabled() -> bool:
    return _debug
