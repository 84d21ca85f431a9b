"""Parity of the command line: help, version, global flags, every command's
usage errors, and the logs (--log, --log-format, --debug)."""

import json
import re

import pytest

from .harness import RUNC, differs, message, parsed, same

COMMANDS = ["checkpoint", "create", "delete", "events", "exec", "kill", "list", "pause", "ps",
            "restore", "resume", "run", "spec", "start", "state", "update", "features"]
# pyrunc's own lines in its help (see DIFFERENCES "additions")
ADDITIONS = re.compile(r"^   (check |debug |--trace |--pidfd-socket |--cpu-shares |--cpu-idle )")


def help_text(out: str) -> str:
    """A help page without its VERSION section and pyrunc's additions."""
    out = re.sub(r"VERSION:\n.*?\n\n", "VERSION:\n\n", out, flags=re.S)
    return "\n".join(line for line in out.splitlines() if not ADDITIONS.match(line))


def test_main_help(both):
    r, p = both(lambda s: (s("--help"), s("-h"), s(), s("help"), s("h"), s("--root", "/x", "-h")))
    differs("additions")
    for a, b in zip(r, p, strict=True):
        same(a, b, stdout=False)
        assert a.rc == 0 and a.out.startswith("NAME:\n   runc - Open Container Initiative")
        assert b.out.startswith("NAME:\n   pyrunc - Open Container Initiative")
        assert b.side.norm(help_text(b.out)) == help_text(a.out)
        for section in ("USAGE:", "VERSION:", "COMMANDS:", "GLOBAL OPTIONS:"):
            assert f"\n{section}\n" in b.out
    assert "   checkpoint  checkpoint a running container" in p[0].out
    assert "   restore     restore a container" in p[0].out


@pytest.mark.parametrize("cmd", COMMANDS)
def test_command_help(both, cmd):
    r, p = both(lambda s: (s(cmd, "-h"), s(cmd, "--help"), s("help", cmd), s("h", cmd)))
    for a, b in zip(r, p, strict=True):
        same(a, b, stdout=False)
        assert a.rc == 0 and a.out.startswith(f"NAME:\n   runc {cmd} - ")
        assert b.side.norm(help_text(b.out)) == help_text(a.out)


def test_unknown_command(both):
    r, p = both(lambda s: (s("foo"), s("help", "foo"), s("foo", "--help")))
    for a, b in zip(r, p, strict=True):
        same(a, b, "No help topic for 'foo'")
        assert a.rc == 3 and a.out == ""


def test_version(both):
    r, p = both(lambda s: (s("--version"), s("-v")))
    differs("version-lines")
    for a, b in zip(r, p, strict=True):
        same(a, b, stdout=False)
        ra, pa = a.out.splitlines(), b.out.splitlines()
        assert ra[0].startswith("runc version ") and pa[0].startswith("pyrunc version ")
        assert ra[1].startswith("commit: ") and pa[1].startswith("commit: ")
        assert ra[2].startswith("spec: ") and pa[2] == "spec: 1.3.0"
        assert len(pa) >= 4


def test_unknown_global_flag(both):
    r, p = both(lambda s: s("--bogus", "list"))
    same(r, p, "flag provided but not defined: -bogus", stdout=False)
    assert r.out.splitlines()[0] == p.out.splitlines()[0] == \
        "Incorrect Usage. flag provided but not defined: -bogus"


@pytest.mark.parametrize("cmd", ["create", "delete", "events", "exec", "kill", "list", "pause",
                                 "ps", "resume", "run", "spec", "start", "state", "update",
                                 "features"])
def test_unknown_command_flag(both, cmd):
    r, p = both(lambda s: s(cmd, "--bogus", "ct-p"))
    same(r, p, "flag provided but not defined: -bogus", stdout=False)
    assert r.out.splitlines()[0] == p.out.splitlines()[0] == \
        "Incorrect Usage: flag provided but not defined: -bogus"
    assert p.side.norm(help_text(p.out)) == help_text(r.out)


@pytest.mark.parametrize("args, words", [
    (("state",), '"state" requires exactly 1 argument(s)'),
    (("state", "a", "b"), '"state" requires exactly 1 argument(s)'),
    (("create",), '"create" requires exactly 1 argument(s)'),
    (("run", "a", "b"), '"run" requires exactly 1 argument(s)'),
    (("start",), '"start" requires exactly 1 argument(s)'),
    (("delete",), '"delete" requires exactly 1 argument(s)'),
    (("pause",), '"pause" requires exactly 1 argument(s)'),
    (("resume", "a", "b"), '"resume" requires exactly 1 argument(s)'),
    (("events",), '"events" requires exactly 1 argument(s)'),
    (("update",), '"update" requires exactly 1 argument(s)'),
    (("list", "x"), '"list" requires exactly 0 argument(s)'),
    (("spec", "x"), '"spec" requires exactly 0 argument(s)'),
    (("features", "x"), '"features" requires exactly 0 argument(s)'),
    (("kill",), '"kill" requires a minimum of 1 argument(s)'),
    (("kill", "a", "b", "c"), '"kill" requires a maximum of 2 argument(s)'),
    (("exec",), '"exec" requires a minimum of 1 argument(s)'),
    (("ps",), '"ps" requires a minimum of 1 argument(s)'),
], ids=lambda v: "-".join(v) if isinstance(v, tuple) else None)
def test_argument_count(both, args, words):
    r, p = both(lambda s: s(*args))
    same(r, p, words, stdout=False)
    assert r.rc == 1
    assert r.out.startswith("Incorrect Usage.\n\nNAME:") and p.out.startswith(
        "Incorrect Usage.\n\nNAME:")
    assert p.side.norm(help_text(p.out)) == help_text(r.out)


def test_empty_container_id(both):
    r, p = both(lambda s: (s("state", ""), s("kill", ""), s("delete", "")))
    for a, b in zip(r, p, strict=True):
        same(a, b, "container id cannot be empty")


def test_missing_container(both):
    calls = [("state", "ct-nope"), ("start", "ct-nope"), ("kill", "ct-nope"),
             ("delete", "ct-nope"), ("pause", "ct-nope"), ("resume", "ct-nope"),
             ("ps", "ct-nope"), ("events", "--stats", "ct-nope"), ("update", "ct-nope"),
             ("kill", "-a", "ct-nope", "0")]
    r, p = both(lambda s: [s(*c) for c in calls])
    for a, b in zip(r, p, strict=True):
        same(a, b, "does not exist")
        assert a.rc == 1
    r, p = both(lambda s: (s("exec", "ct-nope", "true"), s("delete", "-f", "ct-nope")))
    same(r[0], p[0], "exec failed", "does not exist")
    assert r[0].rc == 255
    same(r[1], p[1])  # (--force: nothing to delete is no error)


def test_log_format_invalid(both):
    r, p = both(lambda s: s("--log-format", "xml", "list"))
    same(r, p, "log-format", "xml")
    assert r.rc == 1


def test_ignored_global_flags(both):
    """--criu and --rootless are accepted (and mean nothing to these commands)."""
    r, p = both(lambda s: (s("--criu", "/nonexistent", "list", "-q"),
                           s("--rootless", "true", "list", "-q"),
                           s("--rootless=false", "list", "-q"), s("--rootless", "auto", "list")))
    for a, b in zip(r, p, strict=True):
        same(a, b)
        assert a.rc == 0


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_file_gets_the_error(both, tmp_path, fmt):
    def scenario(s):
        log = tmp_path / f"{s.name}.log"
        res = s("--log", str(log), "--log-format", fmt, "state", "ct-nope")
        return res, log.read_text()

    (r, rlog), (p, plog) = both(scenario)
    same(r, p, "does not exist")
    assert r.rc == 1
    assert len(rlog.splitlines()) == len(plog.splitlines()) == 1
    check_log_lines(rlog, fmt)
    check_log_lines(plog, fmt)
    assert "does not exist" in log_messages(plog, fmt)[0]
    assert log_levels(rlog, fmt) == log_levels(plog, fmt) == ["error"]


TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)"


def check_log_lines(text: str, fmt: str) -> None:
    """Every line in logrus's format, exactly as runc writes it."""
    for line in text.splitlines():
        if fmt == "json":
            d = json.loads(line)
            assert {"level", "msg", "time"} <= set(d), line
            assert re.fullmatch(TIME, d["time"]), line
            assert list(d) == sorted(d), line  # (Go's maps: sorted keys)
            assert "<" not in line and ">" not in line, line  # (escaped: \u003c, \u003e)
        else:
            assert re.fullmatch(f'time="{TIME}" level=(debug|info|warning|error) '
                                r'msg=("([^"\\]|\\.)*"|[\w./@^+-]+)( \w+=\S+)*', line), line


def log_messages(text: str, fmt: str) -> list[str]:
    if fmt == "json":
        return [json.loads(line)["msg"] for line in text.splitlines()]
    return [message(line) for line in text.splitlines()]


def log_levels(text: str, fmt: str) -> list[str]:
    if fmt == "json":
        return [json.loads(line)["level"] for line in text.splitlines()]
    return [re.search(r" level=(\w+)", line).group(1) for line in text.splitlines()]


SETUP_STORY = ["nsexec container setup", "child process in init()",
               "init: closing the pipe to signal completion"]


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("to", ["stderr", "file"])
def test_debug_tells_the_setup_story(both, tmp_path, fmt, to):
    """--debug: create's setup stages at debug level (runc's nsexec and init
    lines), on stderr or in the --log file, in runc's line format."""

    def scenario(s):
        log = tmp_path / f"{s.name}.log"
        where = ["--log", str(log)] if to == "file" else []
        s.bundle.set_args("sleep", "100")
        res = s("--debug", "--log-format", fmt, *where, "create", "-b", str(s.bundle), "ct-pd")
        s.ok("delete", "-f", "ct-pd")
        return res, (log.read_text() if to == "file" else res.err)

    (r, rlog), (p, plog) = both(scenario)
    same(r, p, stdout=True) if to == "file" else None
    assert r.rc == p.rc == 0
    for text in (rlog, plog):
        check_log_lines(text, fmt)
        msgs = log_messages(text, fmt)
        assert set(log_levels(text, fmt)) == {"debug"}, text
        at = [next((i for i, m in enumerate(msgs) if step in m), None) for step in SETUP_STORY]
        assert None not in at and at == sorted(at), (at, text)  # all, in order
        assert re.fullmatch(r"nsexec\[\d+\]: => nsexec container setup", msgs[at[0]])


def test_debug_exec(both):
    def scenario(s):
        s.run_d("ct-pdx", "sleep", "100")
        return s("--debug", "exec", "ct-pdx", "true")

    r, p = both(scenario)
    same(r, p)
    for res in (r, p):
        check_log_lines(res.err, "text")
        msgs = log_messages(res.err, "text")
        for step in ("nsexec container setup", "setns_init: about to exec"):
            assert any(step in m for m in msgs), (step, res.err)


def test_debug_quiet_commands(both):
    """state, kill and delete log nothing at debug level (as runc)."""
    def scenario(s):
        s.run_d("ct-pq", "sleep", "100")
        return (s("--debug", "state", "ct-pq"), s("--debug", "kill", "ct-pq", "KILL"))

    r, p = both(scenario)
    for a, b in zip(r, p, strict=True):
        same(a, b)


def test_trace_is_pyrunc_only(both):
    differs("additions")
    r, p = both(lambda s: s("--trace", "list", "-q"))
    assert r.rc == 1 and "flag provided but not defined: -trace" in r.msg
    assert p.rc == 0 and "pyrunc trace: list" in p.err


def test_systemd_cgroup_without_systemd(both):
    """--systemd-cgroup on a host whose PID 1 is not systemd: refused up front."""
    with open("/proc/1/comm") as f:
        if f.read().strip() == "systemd":
            pytest.skip("systemd is PID 1 here")
    r, p = both(lambda s: s("--systemd-cgroup", "run", "-d", "-b", str(s.bundle), "ct-psd"))
    same(r, p, "systemd")
    assert r.rc == 1


def test_runc_is_the_reference(reference):
    assert RUNC and reference.startswith("runc version 1.1.5")
    assert parsed('{"a": 1}') == {"a": 1}


def test_error_line(both):
    """Without --log: the same message, in runc's logrus line or pyrunc's plain one."""
    r, p = both(lambda s: s("state", "ct-nope"))
    differs("error-line")
    same(r, p, "does not exist")
    assert re.fullmatch(r'time="[^"]+" level=error msg="container does not exist"\n', r.err)
    assert re.fullmatch(r"pyrunc: container .*does not exist\n", p.err)


def test_differences_are_documented():
    """DIFFERENCES, the table beside this tier and the README's list the same keys."""
    import os

    from .harness import DIFFERENCES

    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.path.join(here, "README.md"),
                 os.path.join(here, "..", "..", "README.md")):
        with open(path) as f:
            keys = re.findall(r"^\| `([a-z0-9-]+)` \|", f.read(), re.M)
        assert sorted(keys) == sorted(DIFFERENCES), path
