"""Errors that reach the user as one line: ``pyrunc: <message>``; the JSON
paths they name (`format_path`)."""


class PyruncError(Exception):
    """An error with a message fit for the user; never shown with a traceback."""


class ConfigError(PyruncError):
    """config.json (or process.json) is invalid; ``path`` is the JSON path of the field."""

    def __init__(self, path: str, reason: str, source: str = "config.json") -> None:
        self.path = path
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {path}: {reason}")


def format_path(segments: list | tuple) -> str:
    """``["process", "args", 0]`` -> ``$.process.args[0]``; odd keys use ``["..."]``."""
    out = ["$"]
    for s in segments:
        if isinstance(s, int):
            out.append(f"[{s}]")
        elif s.isidentifier() and s.isascii():
            out.append("." + s)
        else:
            import json

            out.append("[" + json.dumps(s, ensure_ascii=False) + "]")
    return "".join(out)
