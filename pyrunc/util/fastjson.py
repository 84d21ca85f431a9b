"""JSON without importing the json package (which imports re: ~8 ms here).

Uses the C scanner and string encoder of the built-in _json module, so the
hot paths (state, kill, delete) pay almost nothing for JSON."""

import _json


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo: dict = {}


_scan = _json.make_scanner(_Context())
_WS = " \t\n\r"
_encode_str = _json.encode_basestring_ascii


class JSONError(ValueError):
    """The text is not a JSON document."""


def _line_col(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line} column {col}"


def loads(text: str) -> object:
    """Parse one JSON document; every syntax error is a JSONError (ValueError).

    The C scanner reports most syntax errors (an unterminated string or
    object, a missing comma, a control character) by raising
    json.decoder.JSONDecodeError, which it looks up in sys.modules and does
    not import: without json.decoder loaded that becomes a SystemError. Only
    on that error path is json.decoder imported and the text parsed again."""
    try:
        return _loads(text)
    except SystemError:
        import json.decoder  # noqa: F401  (lets the scanner raise JSONDecodeError)

        return _loads(text)


def _loads(text: str) -> object:
    idx = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = _scan(text, idx)
    except RecursionError:  # (the C scanner recurses: ~1000 levels)
        raise JSONError("invalid JSON: nested too deeply") from None
    except StopIteration as e:
        raise JSONError(f"invalid JSON at {_line_col(text, e.value)}") from None
    except ValueError as e:  # JSONDecodeError from inside the scanner
        msg = getattr(e, "msg", None) or str(e).split(":")[0]
        pos = getattr(e, "pos", idx)
        raise JSONError(f"invalid JSON at {_line_col(text, pos)}: {msg}") from None
    rest = len(text) - len(text.rstrip(_WS))
    if end != len(text) - rest:
        raise JSONError(f"invalid JSON at {_line_col(text, end)}: extra data")
    return obj


def dumps(obj: object, indent: int | None = None, _level: int = 0) -> str:
    """Serialise dicts, lists, strings, numbers, booleans and None."""
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, str):
        return _encode_str(obj)
    if isinstance(obj, int):
        return int.__repr__(obj)
    if isinstance(obj, float):
        return float.__repr__(obj)
    if indent is None:
        sep, end, kv = ",", "", ":"
    else:
        pad = "\n" + " " * (indent * (_level + 1))
        sep, end, kv = "," + pad, "\n" + " " * (indent * _level), ": "
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = (f"{_encode_str(str(k))}{kv}{dumps(v, indent, _level + 1)}" for k, v in obj.items())
        return "{" + ("" if indent is None else pad) + sep.join(items) + end + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        items = (dumps(v, indent, _level + 1) for v in obj)
        return "[" + ("" if indent is None else pad) + sep.join(items) + end + "]"
    raise TypeError(f"cannot serialise {type(obj).__name__}")
