"""One walk over a parsed config.json or process.json, before any other check.

JSON can carry what no kernel interface takes: a lone UTF-16 surrogate
(`"\\ud800"`, which UTF-8 cannot encode) and a NUL (`"\\u0000"`, which ends a
C string early). Every string and every key is checked here, once, so that no
field can bring either to the plan; and the nesting depth is bounded, so that
nothing after this walk (the schema, the state store) recurses too deep."""

from ..errors import ConfigError

MAX_DEPTH = 100  # a config.json needs ~8 levels (seccomp argument values)


def findings(doc: object, nul_ok: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(JSON path, reason) of every bad string, key or nesting, in document
    order. NUL is allowed under the top-level keys `nul_ok` (annotations: they
    never reach the kernel)."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[object, tuple, int]] = [(doc, (), 0)]
    while stack:
        node, keys, depth = stack.pop()
        if isinstance(node, str):
            reason = _bad(node, bool(keys) and keys[0] in nul_ok)
            if reason:
                out.append((format_path(keys), reason))
            continue
        if not isinstance(node, (dict, list)):
            continue
        if depth >= MAX_DEPTH:
            # (named by the field that holds it, not by a hundred [0]s)
            out.append((format_path(keys[:3]), f"nested more than {MAX_DEPTH} levels deep"))
            continue
        children: list[tuple[object, tuple, int]] = []
        if isinstance(node, dict):
            for k, v in node.items():
                reason = _bad(k, bool(keys) and keys[0] in nul_ok)
                if reason:
                    out.append((format_path((*keys, k)), f"the key {reason}"))
                    continue
                children.append((v, (*keys, k), depth + 1))
        else:
            children = [(v, (*keys, i), depth + 1) for i, v in enumerate(node)]
        stack.extend(reversed(children))
    return out


def check(doc: object, source: str = "config.json", nul_ok: tuple[str, ...] = ()) -> None:
    """Raise a ConfigError for the first finding."""
    found = findings(doc, nul_ok)
    if found:
        raise ConfigError(found[0][0], found[0][1], source)


def _bad(s: str, nul_ok: bool) -> str | None:
    if s.isascii():
        if "\0" in s and not nul_ok:
            return f"contains a NUL (\\u0000 at character {s.index(chr(0))}), " \
                   "which cannot be passed to the kernel"
        return None
    try:
        s.encode()
    except UnicodeEncodeError as e:
        return f"contains a lone UTF-16 surrogate (\\u{ord(s[e.start]):04x} at " \
               f"character {e.start}), which is not Unicode text and cannot be passed to " \
               "the kernel"
    if "\0" in s and not nul_ok:
        return f"contains a NUL (\\u0000 at character {s.index(chr(0))}), " \
               "which cannot be passed to the kernel"
    return None


def format_path(keys: tuple) -> str:
    """As schema.format_path, but odd keys are ASCII (a bad key is shown escaped)."""
    from ..util.fastjson import dumps

    out = ["$"]
    for k in keys:
        if isinstance(k, int):
            out.append(f"[{k}]")
        elif k.isidentifier() and k.isascii():
            out.append("." + k)
        else:
            out.append(f"[{dumps(k)}]")
    return "".join(out)
