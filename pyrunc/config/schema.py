"""Fast validation of config.json / state.json against pyrunc's own JSON Schemas.

This module is on the ``create`` hot path, so it does not use ``jsonschema``. It
implements the draft-04 keywords our schemas (``schemas/*.json``) use: ``$ref``
(relative, between files of the schema directory), ``type``, ``enum``, ``const``,
``pattern``, ``minLength``, ``maxLength``, ``minimum``, ``maximum``,
``exclusiveMinimum``, ``exclusiveMaximum``, ``multipleOf``, ``items``,
``additionalItems``, ``minItems``, ``maxItems``, ``uniqueItems``, ``required``,
``properties``, ``patternProperties``, ``additionalProperties``, ``dependencies``,
``minProperties``, ``maxProperties``, ``allOf``, ``anyOf``, ``oneOf`` and ``not``
(``format`` is an annotation only, as in jsonschema's default). Two vendor keywords
only shape messages: ``x-expected`` (what a ``pattern`` describes, e.g. "an
absolute path") and ``x-message`` (replaces the message of a failure at that node).

Schema files are loaded lazily and each node is compiled, on first use, into a
closure ``check(instance, collect_all) -> list of errors or None``. An error is a
list ``[reason, segment_n, ..., segment_1]``: path segments are appended while the
error travels back up, so a valid document never builds a path.
"""

from __future__ import annotations

from pyrunc.errors import ConfigError, PyruncError, format_path
from pyrunc.util import fastjson

from ..util import fastos as os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any

    Check = Callable[[Any, bool], "list[list[Any]] | None"]

__all__ = ["SCHEMAS", "errors", "format_path", "is_valid", "schema_dir", "validate"]

#: Schema names accepted by validate(): a file of the schema directory, optionally
#: with a JSON pointer. Any other "file.json#/pointer" string is accepted as is.
SCHEMAS = {
    "config": "config.json",
    "state": "state.json",
    "process": "defs.json#/definitions/LinuxProcess",
    "resources": "config-linux.json#/definitions/Resources",
}

_ARTICLE = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}

def schema_dir() -> str:
    """Where the schema files are: $PYRUNC_SCHEMA_DIR, else <package>/schemas (installed
    copy) if it exists, else the repository's top-level schemas/."""
    env = os.environ.get("PYRUNC_SCHEMA_DIR")
    if env:
        return env
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the package
    installed = os.path.join(here, "schemas")
    if os.path.isdir(installed):
        return installed
    return os.path.normpath(os.path.join(here, "..", "schemas"))


def _jtype(x: Any) -> str:
    """The JSON type name of a value decoded by the json module."""
    t = type(x)
    if t is str:
        return "string"
    if t is dict:
        return "object"
    if t is list:
        return "array"
    if t is bool:
        return "boolean"
    if t is int:
        return "integer"
    if t is float:
        return "number"
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, int):
        return "integer"
    if isinstance(x, float):
        return "number"
    if isinstance(x, str):
        return "string"
    if isinstance(x, dict):
        return "object"
    if isinstance(x, (list, tuple)):
        return "array"
    return type(x).__name__


def _show(x: Any) -> str:
    """A short JSON rendering of a value for messages."""
    import json  # only for messages: json (and re) cost ~10 ms to import

    try:
        s = json.dumps(x, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        s = repr(x)
    return s if len(s) <= 60 else s[:57] + "..."


def _canon(x: Any) -> Any:
    """A hashable key with JSON equality (1 == 1.0, but true != 1)."""
    if isinstance(x, bool):
        return ("b", x)
    if isinstance(x, (int, float)):
        return ("n", x)
    if isinstance(x, str):
        return ("s", x)
    if isinstance(x, dict):
        return ("o", frozenset((k, _canon(v)) for k, v in x.items()))
    if isinstance(x, (list, tuple)):
        return ("a", tuple(_canon(v) for v in x))
    return ("z", None) if x is None else ("?", repr(x))


# -- patterns ----------------------------------------------------------------------
# Compiling the SemVer regex alone costs ~0.5 ms, so the patterns of our own schemas
# have exact pure-Python equivalents of ``re.search(pattern, s)`` (tests compare them
# with ``re`` on a corpus). Note that ``$`` also matches before a final newline.
# Any other pattern is compiled with ``re`` on first use.

_DIGITS = frozenset("0123456789")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LETTERS = _UPPER | frozenset("abcdefghijklmnopqrstuvwxyz")
_IDCHARS = _DIGITS | _LETTERS | {"-"}


def _chomp(s: str) -> str:
    return s[:-1] if s.endswith("\n") else s


def _number(s: str) -> bool:
    return bool(s) and _DIGITS.issuperset(s) and (s[0] != "0" or s == "0")


def _digits(s: str) -> bool:
    return bool(s) and _DIGITS.issuperset(s)


def _semver(s: str) -> bool:
    s, plus, build = _chomp(s).partition("+")
    if plus and not all(p and _IDCHARS.issuperset(p) for p in build.split(".")):
        return False
    core, dash, pre = s.partition("-")
    parts = core.split(".")
    if len(parts) != 3 or not all(_number(p) for p in parts):
        return False
    if dash:
        for p in pre.split("."):
            if not p or not _IDCHARS.issuperset(p):
                return False
            if _DIGITS.issuperset(p) and not _number(p):
                return False
    return True


def _cpu_range(p: str) -> bool:
    a, dash, b = p.partition("-")
    if not _digits(a.rstrip(" \t")):
        return False
    if not dash:
        return True
    b, colon, stride = b.lstrip(" \t").partition(":")
    if not _digits(b):
        return False
    if not colon:
        return True
    x, slash, y = stride.partition("/")
    return bool(slash) and _digits(x) and _digits(y)


def _cpu_list(s: str) -> bool:
    s = _chomp(s).strip(" \t")
    return not s or all(_cpu_range(p.strip(" \t")) for p in s.split(","))


def _abs_path(s: str) -> bool:
    return s.startswith(("/", "\\\\")) or (
        len(s) > 2 and s[0] in _LETTERS and s[1] == ":" and s[2] in "\\/")


def _rlimit(s: str) -> bool:
    s = _chomp(s)
    return len(s) > 7 and s.startswith("RLIMIT_") and _UPPER.issuperset(s[7:])


def _page_size(s: str) -> bool:
    s = _chomp(s)
    return (len(s) > 2 and s[-1] == "B" and s[-2] in "KMGTPE" and s[0] in "123456789"
            and _DIGITS.issuperset(s[1:-2]))


_FAST_PATTERNS: dict[str, Callable[[str], bool]] = {
    "^/": lambda s: s.startswith("/"),
    "^(/|[A-Za-z]:[\\\\/]|\\\\\\\\)": _abs_path,
    "^[^\\n]*(?![\\s\\S])": lambda s: "\n" not in s,
    "^MB:[^\\n]*(?![\\s\\S])": lambda s: s.startswith("MB:") and "\n" not in s,
    "^RLIMIT_[A-Z]+$": _rlimit,
    "^[1-9][0-9]*[KMGTPE]B$": _page_size,
    "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-]"
    "[0-9A-Za-z-]*)(\\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?(\\+[0-9A-Za-z-]+"
    "(\\.[0-9A-Za-z-]+)*)?$": _semver,
    "^[ \\t]*([0-9]+([ \\t]*-[ \\t]*[0-9]+(:[0-9]+/[0-9]+)?)?([ \\t]*,[ \\t]*[0-9]+"
    "([ \\t]*-[ \\t]*[0-9]+(:[0-9]+/[0-9]+)?)?)*)?[ \\t]*$": _cpu_list,
}


def _matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate equivalent to ``re.search(pattern, s) is not None``."""
    fast = _FAST_PATTERNS.get(pattern)
    if fast is not None:
        return fast
    rx: list[Any] = []

    def search(s: str) -> bool:
        if not rx:
            import re

            rx.append(re.compile(pattern))
        return rx[0].search(s) is not None

    return search


def _ok(inst: Any, all_: bool) -> None:
    return None


def _merge(out: list | None, errs: list) -> list:
    if out is None:
        return errs
    out.extend(errs)
    return out


def _add_seg(errs: list, seg: Any) -> list:
    for e in errs:
        e.append(seg)
    return errs


class _Compiler:
    """Loads the schema files of one directory and compiles nodes to checks."""

    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.docs: dict[str, Any] = {}
        self.refs: dict[tuple[str, str], Check] = {}
        self.split_cache: dict[tuple[str, str], tuple[str, str]] = {}

    # -- loading -------------------------------------------------------------------

    def doc(self, name: str) -> Any:
        d = self.docs.get(name)
        if d is None:
            path = os.path.join(self.dir, name)
            try:
                with open(path, "rb") as f:
                    d = fastjson.loads(f.read().decode())
            except OSError as e:
                raise PyruncError(f"cannot read schema {path}: {e.strerror}") from None
            except ValueError as e:
                raise PyruncError(f"schema {path} is not valid JSON: {e}") from None
            self.docs[name] = d
        return d

    def resolve(self, name: str, pointer: str) -> Any:
        node = self.doc(name)
        if "%" in pointer:  # a URI fragment: percent-decode first
            from urllib.parse import unquote

            pointer = unquote(pointer)
        if not pointer:
            return node
        if not pointer.startswith("/"):
            raise PyruncError(f"schema {name}: #{pointer} is not a JSON pointer")
        for part in pointer[1:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError, TypeError):
                raise PyruncError(f"schema {name}: cannot resolve #{pointer}") from None
        return node

    def split_ref(self, base: str, ref: str) -> tuple[str, str]:
        """(file name relative to the schema directory, JSON pointer) of a $ref."""
        key = (base, ref)
        out = self.split_cache.get(key)
        if out is None:
            name, _, pointer = ref.partition("#")
            if not name:
                name = base
            elif "/" in base or "/" in name or "\\" in name:
                name = os.path.normpath(os.path.join(os.path.dirname(base), name))
            out = self.split_cache[key] = (name, pointer)
        return out

    # -- $ref ----------------------------------------------------------------------

    def ref(self, base: str, ref: str) -> Check:
        """A check for ``ref``, compiled on its first call (this allows recursion)."""
        key = self.split_ref(base, ref)
        fn = self.refs.get(key)
        if fn is not None:
            return fn
        cell: list[Check] = []

        def lazy(inst: Any, all_: bool) -> list | None:
            if not cell:
                cell.append(self.compile(self.resolve(*key), key[0]))
            return cell[0](inst, all_)

        self.refs[key] = lazy
        return lazy

    def type_hint(self, node: Any, base: str, depth: int = 0) -> tuple[str, ...] | None:
        """The JSON types a node accepts, following $ref/allOf; None if unconstrained."""
        if not isinstance(node, dict) or depth > 32:
            return None
        if "$ref" in node:
            name, pointer = self.split_ref(base, node["$ref"])
            return self.type_hint(self.resolve(name, pointer), name, depth + 1)
        t = node.get("type")
        if isinstance(t, str):
            return (t,)
        if isinstance(t, list):
            return tuple(t)
        for sub in node.get("allOf", ()):
            h = self.type_hint(sub, base, depth + 1)
            if h is not None:
                return h
        return None

    # -- nodes ---------------------------------------------------------------------

    def compile(self, node: Any, base: str) -> Check:
        """Compile one schema node (a dict; ``true``/``false`` schemas also work)."""
        if node is True or node == {}:
            return _ok
        if node is False:
            return lambda inst, all_: [["is not allowed"]]
        if "$ref" in node:  # draft-04: $ref replaces its siblings
            return self.ref(base, node["$ref"])
        checks: list[Check] = []
        t = node.get("type")
        if t is not None:
            checks.append(_type_check((t,) if isinstance(t, str) else tuple(t)))
        if "enum" in node:
            checks.append(_enum_check(node["enum"]))
        if "const" in node:
            checks.append(_const_check(node["const"]))
        c = _string_check(node)
        if c is not None:
            checks.append(c)
        c = _number_check(node)
        if c is not None:
            checks.append(c)
        c = self.array_check(node, base)
        if c is not None:
            checks.append(c)
        c = self.object_check(node, base)
        if c is not None:
            checks.append(c)
        if "allOf" in node:
            checks.append(self.all_of(node["allOf"], base))
        if "anyOf" in node:
            checks.append(self.any_of(node["anyOf"], base, one=False))
        if "oneOf" in node:
            checks.append(self.any_of(node["oneOf"], base, one=True))
        if "not" in node:
            checks.append(self.not_check(node["not"], base))
        message = node.get("x-message")
        if not checks:
            return _ok
        if len(checks) == 1 and message is None:
            return checks[0]
        if len(checks) == 2 and t is not None and message is None:
            return _then(checks[0], checks[1])
        return _sequence(tuple(checks), message)

    def array_check(self, node: dict, base: str) -> Check | None:
        items = node.get("items")
        additional = node.get("additionalItems")
        min_items = node.get("minItems")
        max_items = node.get("maxItems")
        unique = node.get("uniqueItems") is True
        if items is None and min_items is None and max_items is None and not unique:
            return None
        item_check: Check | None = None
        tuple_checks: tuple[Check, ...] = ()
        extra_check: Check | None = None
        if isinstance(items, list):
            tuple_checks = tuple(self.compile(s, base) for s in items)
            if additional is not None:
                extra_check = self.compile(additional, base)
        elif items is not None:
            item_check = self.compile(items, base)
            if item_check is _ok:
                item_check = None
        pred = getattr(item_check, "pred", None)
        pred_msg = getattr(item_check, "pred_msg", None)

        def check(inst: Any, all_: bool) -> list | None:
            if not isinstance(inst, list):
                return None
            out = None
            n = len(inst)
            if min_items is not None and n < min_items:
                e = [[f"expected at least {min_items} item{'s' if min_items != 1 else ''}, "
                      f"got {n}"]]
                if not all_:
                    return e
                out = _merge(out, e)
            if max_items is not None and n > max_items:
                e = [[f"expected at most {max_items} item{'s' if max_items != 1 else ''}, "
                      f"got {n}"]]
                if not all_:
                    return e
                out = _merge(out, e)
            if pred is not None:
                for i, x in enumerate(inst):
                    if not pred(x):
                        e = [[pred_msg(x), i]]
                        if not all_:
                            return e
                        out = _merge(out, e)
            elif item_check is not None:
                for i, x in enumerate(inst):
                    r = item_check(x, all_)
                    if r:
                        if not all_:
                            return _add_seg(r, i)
                        out = _merge(out, _add_seg(r, i))
            elif tuple_checks:
                for i, x in enumerate(inst):
                    if i < len(tuple_checks):
                        r = tuple_checks[i](x, all_)
                    elif additional is False:
                        r = [["additional items are not allowed"]]
                    elif extra_check is not None:
                        r = extra_check(x, all_)
                    else:
                        break
                    if r:
                        if not all_:
                            return _add_seg(r, i)
                        out = _merge(out, _add_seg(r, i))
            if unique and n > 1:
                seen: dict[Any, int] = {}
                for i, x in enumerate(inst):
                    k = _canon(x)
                    if k in seen:
                        e = [[f"duplicates item [{seen[k]}]", i]]
                        if not all_:
                            return e
                        out = _merge(out, e)
                    else:
                        seen[k] = i
            return out

        return check

    def object_check(self, node: dict, base: str) -> Check | None:
        required = tuple(node.get("required", ()))
        props_schema = node.get("properties") or {}
        pattern_schema = node.get("patternProperties") or {}
        additional = node.get("additionalProperties")
        deps = node.get("dependencies") or {}
        min_props = node.get("minProperties")
        max_props = node.get("maxProperties")
        if not (required or props_schema or pattern_schema or deps or additional is not None
                or min_props is not None or max_props is not None):
            return None
        props = {k: self.compile(v, base) for k, v in props_schema.items()}
        props = {k: v for k, v in props.items() if v is not _ok} if additional is None else props
        patterns = tuple((_matcher(p), self.compile(v, base)) for p, v in pattern_schema.items())
        add_check = None
        if isinstance(additional, dict):
            add_check = self.compile(additional, base)
            if add_check is _ok:
                add_check = None
        no_additional = additional is False
        dep_checks: list[tuple[str, tuple[str, ...] | None, Check | None]] = []
        for k, v in deps.items():
            if isinstance(v, list):
                dep_checks.append((k, tuple(v), None))
            else:
                dep_checks.append((k, None, self.compile(v, base)))
        walk = bool(props or patterns or add_check is not None or no_additional)

        def check(inst: Any, all_: bool) -> list | None:
            if not isinstance(inst, dict):
                return None
            out = None
            for r in required:
                if r not in inst:
                    e = [[f'missing required property "{r}"']]
                    if not all_:
                        return e
                    out = _merge(out, e)
            if min_props is not None and len(inst) < min_props:
                e = [[f"expected at least {min_props} properties, got {len(inst)}"]]
                if not all_:
                    return e
                out = _merge(out, e)
            if max_props is not None and len(inst) > max_props:
                e = [[f"expected at most {max_props} properties, got {len(inst)}"]]
                if not all_:
                    return e
                out = _merge(out, e)
            if walk:
                for k, v in inst.items():
                    f = props.get(k)
                    matched = f is not None or k in props_schema
                    if f is not None:
                        r = f(v, all_)
                        if r:
                            if not all_:
                                return _add_seg(r, k)
                            out = _merge(out, _add_seg(r, k))
                    for p, pf in patterns:
                        if p(k):
                            matched = True
                            r = pf(v, all_)
                            if r:
                                if not all_:
                                    return _add_seg(r, k)
                                out = _merge(out, _add_seg(r, k))
                    if matched:
                        continue
                    if add_check is not None:
                        r = add_check(v, all_)
                        if r:
                            if not all_:
                                return _add_seg(r, k)
                            out = _merge(out, _add_seg(r, k))
                    elif no_additional:
                        e = [[f'unexpected property "{k}"']]
                        if not all_:
                            return e
                        out = _merge(out, e)
            for k, names, sub in dep_checks:
                if k not in inst:
                    continue
                if names is not None:
                    for n in names:
                        if n not in inst:
                            e = [[f'property "{k}" requires property "{n}"']]
                            if not all_:
                                return e
                            out = _merge(out, e)
                else:
                    r = sub(inst, all_)
                    if r:
                        if not all_:
                            return r
                        out = _merge(out, r)
            return out

        return check

    def all_of(self, subs: list, base: str) -> Check:
        checks = tuple(self.compile(s, base) for s in subs)

        def check(inst: Any, all_: bool) -> list | None:
            out = None
            for c in checks:
                r = c(inst, all_)
                if r:
                    if not all_:
                        return r
                    out = _merge(out, r)
            return out

        return check

    def any_of(self, subs: list, base: str, one: bool) -> Check:
        checks = tuple(self.compile(s, base) for s in subs)
        hints: list[tuple[tuple[str, ...] | None, ...]] = []

        def check(inst: Any, all_: bool) -> list | None:
            passed = 0
            for c in checks:
                if not c(inst, False):
                    passed += 1
                    if not one or passed > 1:
                        break
            if passed == 1 or (passed and not one):
                return None
            if passed > 1:
                return [["matches more than one of the oneOf alternatives"]]
            # All branches failed: report the first branch that accepts this JSON type.
            if not hints:
                hints.append(tuple(self.type_hint(s, base) for s in subs))
            jt = _jtype(inst)
            for c, h in zip(checks, hints[0], strict=True):
                if h is None or jt in h or (jt == "integer" and "number" in h):
                    return c(inst, all_)
            wanted: list[str] = []
            for h in hints[0]:
                for t in h or ():
                    if t not in wanted:
                        wanted.append(t)
            return [[f"expected {' or '.join(_ARTICLE.get(t, t) for t in wanted)}, got {jt}"]]

        return check

    def not_check(self, sub: Any, base: str) -> Check:
        inner = self.compile(sub, base)

        def check(inst: Any, all_: bool) -> list | None:
            if inner(inst, False):
                return None
            return [[f"{_show(inst)} is not allowed here"]]

        return check


def _then(first: Check, second: Check) -> Check:
    """Run ``second`` only if ``first`` (a type check) passed."""

    def check(inst: Any, all_: bool) -> list | None:
        return first(inst, all_) or second(inst, all_)

    return check


def _sequence(checks: tuple[Check, ...], message: str | None) -> Check:
    typed = checks[0].__name__ == "type_check"

    def check(inst: Any, all_: bool) -> list | None:
        out = None
        for i, c in enumerate(checks):
            r = c(inst, all_)
            if r:
                if message is not None:
                    for e in r:
                        if len(e) == 1:
                            e[0] = message
                if not all_ or (typed and i == 0):
                    return r
                out = _merge(out, r)
        return out

    return check


_type_checks: dict[tuple[str, ...], Check] = {}


def _type_check(types: tuple[str, ...]) -> Check:
    """A (shared) check of the JSON type; it carries ``pred`` and ``pred_msg``."""
    fn = _type_checks.get(types)
    if fn is None:
        fn = _type_checks[types] = _make_type_check(types)
    return fn


def _make_type_check(types: tuple[str, ...]) -> Check:
    expected = " or ".join(_ARTICLE.get(t, t) for t in types)

    def msg(x: Any) -> str:
        return f"expected {expected}, got {_jtype(x)}"

    if len(types) == 1:
        t = types[0]
        if t == "string":
            def pred(x: Any) -> bool:
                return isinstance(x, str)
        elif t == "object":
            def pred(x: Any) -> bool:
                return isinstance(x, dict)
        elif t == "array":
            def pred(x: Any) -> bool:
                return isinstance(x, list)
        elif t == "boolean":
            def pred(x: Any) -> bool:
                return x is True or x is False
        elif t == "integer":
            def pred(x: Any) -> bool:
                return type(x) is int or (isinstance(x, int) and not isinstance(x, bool))
        else:
            def pred(x: Any) -> bool:
                return _type_ok(types, x)
    else:
        def pred(x: Any) -> bool:
            return _type_ok(types, x)

    def type_check(inst: Any, all_: bool) -> list | None:
        if pred(inst):
            return None
        return [[msg(inst)]]

    type_check.pred = pred  # type: ignore[attr-defined]
    type_check.pred_msg = msg  # type: ignore[attr-defined]
    return type_check


def _type_ok(types: tuple[str, ...], x: Any) -> bool:
    jt = _jtype(x)
    return jt in types or (jt == "integer" and "number" in types)


def _enum_check(values: list) -> Check:
    listing = ", ".join(v if isinstance(v, str) else _show(v) for v in values)
    if all(isinstance(v, str) for v in values):
        allowed = frozenset(values)

        def check(inst: Any, all_: bool) -> list | None:
            if isinstance(inst, str) and inst in allowed:
                return None
            return [[f"{_show(inst)} is not one of: {listing}"]]

        return check
    keys = frozenset(_canon(v) for v in values)

    def check_any(inst: Any, all_: bool) -> list | None:
        if _canon(inst) in keys:
            return None
        return [[f"{_show(inst)} is not one of: {listing}"]]

    return check_any


def _const_check(value: Any) -> Check:
    key = _canon(value)

    def check(inst: Any, all_: bool) -> list | None:
        if _canon(inst) == key:
            return None
        return [[f"must be {_show(value)}"]]

    return check


def _string_check(node: dict) -> Check | None:
    pattern = node.get("pattern")
    min_len = node.get("minLength")
    max_len = node.get("maxLength")
    if pattern is None and min_len is None and max_len is None:
        return None
    expected = node.get("x-expected")
    match = _matcher(pattern) if pattern is not None else None

    def check(inst: Any, all_: bool) -> list | None:
        if not isinstance(inst, str):
            return None
        out = None
        if min_len is not None and len(inst) < min_len:
            if not inst:
                out = [["must not be empty"]]
            else:
                out = [[f"expected at least {min_len} characters, got {len(inst)}"]]
            if not all_:
                return out
        if max_len is not None and len(inst) > max_len:
            e = [[f"expected at most {max_len} characters, got {len(inst)}"]]
            if not all_:
                return e
            out = _merge(out, e)
        if match is not None and not match(inst):
            if expected:
                e = [[f"{_show(inst)} is not {expected}"]]
            else:
                e = [[f"{_show(inst)} does not match pattern {pattern}"]]
            out = _merge(out, e)
        return out

    return check


def _number_check(node: dict) -> Check | None:
    minimum = node.get("minimum")
    maximum = node.get("maximum")
    multiple = node.get("multipleOf")
    if minimum is None and maximum is None and multiple is None:
        return None
    ex_min = node.get("exclusiveMinimum") is True
    ex_max = node.get("exclusiveMaximum") is True

    def check(inst: Any, all_: bool) -> list | None:
        if not isinstance(inst, (int, float)) or isinstance(inst, bool):
            return None
        out = None
        if minimum is not None and (inst <= minimum if ex_min else inst < minimum):
            out = [[f"{_show(inst)} is less than the "
                    f"{'exclusive ' if ex_min else ''}minimum of {minimum}"]]
            if not all_:
                return out
        if maximum is not None and (inst >= maximum if ex_max else inst > maximum):
            e = [[f"{_show(inst)} is greater than the "
                  f"{'exclusive ' if ex_max else ''}maximum of {maximum}"]]
            if not all_:
                return e
            out = _merge(out, e)
        if multiple is not None:
            if isinstance(multiple, float):
                q = inst / multiple
                try:
                    bad = int(q) != q
                except (OverflowError, ValueError):
                    bad = True
            else:
                bad = bool(inst % multiple)
            if bad:
                out = _merge(out, [[f"{_show(inst)} is not a multiple of {multiple}"]])
        return out

    return check


_compilers: dict[str, _Compiler] = {}
_roots: dict[tuple[str, str], Check] = {}


def _root(schema: str) -> Check:
    """The compiled check for a schema name or ``file.json#/pointer`` reference."""
    directory = schema_dir()
    key = (directory, schema)
    fn = _roots.get(key)
    if fn is None:
        comp = _compilers.get(directory)
        if comp is None:
            comp = _compilers[directory] = _Compiler(directory)
        ref = SCHEMAS.get(schema, schema)
        if "#" not in ref and not ref.endswith(".json"):
            raise PyruncError(f"unknown schema {schema!r}")
        fn = _roots[key] = comp.ref("", ref if "#" in ref else ref + "#")
    return fn


def _finish(e: list) -> tuple[str, str]:
    return format_path(e[:0:-1]), e[0]


def validate(instance: Any, schema: str = "config", source: str = "config.json") -> None:
    """Raise ConfigError(path, reason, source) for the first error of ``instance``."""
    errs = _root(schema)(instance, False)
    if errs:
        path, reason = _finish(errs[0])
        raise ConfigError(path, reason, source)


def errors(instance: Any, schema: str = "config") -> list[tuple[str, str]]:
    """All errors of ``instance`` as (JSON path, reason) pairs; empty if valid."""
    return [_finish(e) for e in _root(schema)(instance, True) or ()]


def is_valid(instance: Any, schema: str = "config") -> bool:
    """True if ``instance`` is valid against ``schema``."""
    return not _root(schema)(instance, False)
