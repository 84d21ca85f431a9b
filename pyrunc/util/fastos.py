"""The part of `os` that pyrunc's commands use, straight from `posix` (the C
module behind os), with the few path functions written out for str paths.

Importing os costs ~2 ms here (mostly the abstract classes of its
_collections_abc), a sixth of a whole `pyrunc state`; posix is built in and
already loaded. Modules on the commands' paths import this as
`from .util import fastos as os`. A name not defined here (os.walk,
os.path.realpath, ...) comes from the real os, imported on first use."""

import sys
from posix import *  # noqa: F403  (os re-exports exactly these)
from posix import environ as _environ_bytes
from posix import getcwd, lstat, stat

_ENC = sys.getfilesystemencoding()


class _Environ:
    """os.environ for reading: os's own once os is loaded (changes go through
    it), until then posix's copy of the environment, decoded as os decodes it."""

    _start: dict[str, str] | None = None

    def _current(self) -> dict:
        real = sys.modules.get("os")
        if real is not None:
            return real.environ
        if self._start is None:
            self._start = {k.decode(_ENC, "surrogateescape"): v.decode(_ENC, "surrogateescape")
                           for k, v in _environ_bytes.items()}
        return self._start

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._current().get(key, default)

    def __getitem__(self, key: str) -> str:
        return self._current()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._current()

    def __iter__(self):
        return iter(self._current())

    def items(self):
        return self._current().items()


environ = _Environ()
_S_IFMT, _S_IFDIR, _S_IFLNK = 0o170000, 0o040000, 0o120000


def __getattr__(name: str):
    import os

    return getattr(os, name)


def _str_only(fn):
    """Use `fn` for str arguments; posixpath's own function (importing os) for
    anything else: bytes, pathlib paths."""
    def call(*args):
        if all(type(a) is str for a in args):
            return fn(*args)
        import posixpath

        return getattr(posixpath, fn.__name__)(*args)

    call.__name__ = call.__qualname__ = fn.__name__
    call.__doc__ = fn.__doc__
    return call


class _Path:
    """posixpath's functions (same results for str paths: see tests/test_units.py)."""

    @staticmethod
    @_str_only
    def join(a: str, *rest: str) -> str:
        path = a
        for b in rest:
            if b.startswith("/"):
                path = b
            elif not path or path.endswith("/"):
                path += b
            else:
                path += "/" + b
        return path

    @staticmethod
    @_str_only
    def dirname(p: str) -> str:
        head = p[:p.rfind("/") + 1]
        if head and head != "/" * len(head):
            head = head.rstrip("/")
        return head

    @staticmethod
    @_str_only
    def basename(p: str) -> str:
        return p[p.rfind("/") + 1:]

    @staticmethod
    @_str_only
    def isabs(p: str) -> bool:
        return p.startswith("/")

    @staticmethod
    @_str_only
    def normpath(p: str) -> str:
        if not p:
            return "."
        initial = 0
        if p.startswith("/"):
            initial = 2 if p.startswith("//") and not p.startswith("///") else 1
        parts: list[str] = []
        for comp in p.split("/"):
            if comp in ("", "."):
                continue
            if comp != ".." or (not initial and not parts) or (parts and parts[-1] == ".."):
                parts.append(comp)
            elif parts:
                parts.pop()
        return "/" * initial + "/".join(parts) or "."

    @staticmethod
    @_str_only
    def abspath(p: str) -> str:
        return path.normpath(p if p.startswith("/") else path.join(getcwd(), p))

    # stat and lstat take str, bytes, path objects and fds, as os's do
    @staticmethod
    def exists(p) -> bool:
        try:
            stat(p)
        except (OSError, ValueError):
            return False
        return True

    @staticmethod
    def isdir(p) -> bool:
        try:
            return stat(p).st_mode & _S_IFMT == _S_IFDIR
        except (OSError, ValueError):
            return False

    @staticmethod
    def islink(p) -> bool:
        try:
            return lstat(p).st_mode & _S_IFMT == _S_IFLNK
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str):
        import posixpath

        return getattr(posixpath, name)


path = _Path()
