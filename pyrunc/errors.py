"""Errors that reach the user as one line: ``pyrunc: <message>``."""


class PyruncError(Exception):
    """An error with a message fit for the user; never shown with a traceback."""


class ConfigError(PyruncError):
    """config.json (or process.json) is invalid; ``path`` is the JSON path of the field."""

    def __init__(self, path: str, reason: str, source: str = "config.json") -> None:
        self.path = path
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {path}: {reason}")
