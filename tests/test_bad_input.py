"""Bad input: every mistake is exit status 1 and ONE line on stderr,
`pyrunc: ...`, naming the JSON path or the argument at fault, with no Python
traceback and nothing left behind (no state dir; the `runtime` fixture checks
mounts, cgroups and processes)."""

import json
import os
import shutil

import pytest

SLEEPER = ("sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.05; done")


def assert_error(p, *needles: str, root: str | None = None) -> str:
    """p failed cleanly with one `pyrunc: ` line containing every needle."""
    assert "Traceback" not in p.err, p.err
    assert p.returncode == 1, f"exit {p.returncode}: {p.err}"
    lines = p.err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {p.err!r}"
    line = lines[0]
    assert line.startswith("pyrunc: ") and not line.startswith("pyrunc: pyrunc:"), line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    if root is not None:
        assert_no_state(root)
    return line


def assert_no_state(root: str) -> None:
    try:
        left = os.listdir(root)
    except FileNotFoundError:
        left = []
    assert not left, f"state left under {root}: {left}"


def create(runtime, bundle, cid: str = "ct-bad"):
    return runtime("create", "-b", str(bundle), cid)


# -- the bundle and config.json as files ----------------------------------------

def test_missing_bundle_dir(runtime, tmp_path):
    missing = tmp_path / "nope"
    p = runtime("create", "-b", str(missing), "ct-b")
    assert_error(p, str(missing), "no such file or directory", root=runtime.root)


def test_bundle_is_a_file(runtime, tmp_path):
    f = tmp_path / "file"
    f.write_text("{}")
    p = runtime("create", "-b", str(f), "ct-b")
    assert_error(p, str(f), "not a directory", root=runtime.root)


def test_missing_config_json(runtime, bundle):
    os.unlink(bundle.path / "config.json")
    p = create(runtime, bundle)
    assert_error(p, "config.json", "no such file or directory", root=runtime.root)


def test_config_json_is_a_directory(runtime, bundle):
    os.unlink(bundle.path / "config.json")
    os.mkdir(bundle.path / "config.json")
    p = create(runtime, bundle)
    assert_error(p, "config.json", "is a directory", root=runtime.root)


@pytest.mark.parametrize("text", [
    pytest.param('{"ociVersion": "1.3.0", "process": {"args": ["true"]', id="truncated"),
    pytest.param('{"ociVersion": "1.3.0"} garbage', id="trailing-garbage"),
    pytest.param('{"ociVersion": "1.3.0"}}', id="trailing-brace"),
    pytest.param("", id="empty"),
    pytest.param("   \n", id="whitespace"),
    pytest.param("{'ociVersion': '1.3.0'}", id="single-quotes"),
    pytest.param('{"a": 1,}', id="trailing-comma"),
])
def test_invalid_json(runtime, bundle, text):
    (bundle.path / "config.json").write_text(text)
    p = create(runtime, bundle)
    assert_error(p, "config.json", root=runtime.root)


@pytest.mark.parametrize("doc", [
    pytest.param([], id="array"), pytest.param("config", id="string"),
    pytest.param(42, id="number"), pytest.param(None, id="null"),
])
def test_config_not_an_object(runtime, bundle, doc):
    (bundle.path / "config.json").write_text(json.dumps(doc))
    p = create(runtime, bundle)
    assert_error(p, "config.json", "$", "object", root=runtime.root)


def test_config_not_utf8(runtime, bundle):
    (bundle.path / "config.json").write_bytes(b'{"ociVersion": "\xff\xfe"}')
    p = create(runtime, bundle)
    assert_error(p, "config.json", root=runtime.root)


# -- schema violations -----------------------------------------------------------

def _set(config: dict, path: list, value) -> None:
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _del(config: dict, path: list) -> None:
    node = config
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


SCHEMA_CASES = [
    # (id, edit, JSON path the message must name)
    ("args-string", lambda c: _set(c, ["process", "args"], "true"), "$.process.args"),
    ("args-item-number", lambda c: _set(c, ["process", "args"], ["true", 1]),
     "$.process.args[1]"),
    ("uid-negative", lambda c: _set(c, ["process", "user", "uid"], -1), "$.process.user.uid"),
    ("uid-string", lambda c: _set(c, ["process", "user", "uid"], "0"), "$.process.user.uid"),
    ("gid-float", lambda c: _set(c, ["process", "user", "gid"], 1.5), "$.process.user.gid"),
    ("process-array", lambda c: _set(c, ["process"], []), "$.process"),
    ("terminal-string", lambda c: _set(c, ["process", "terminal"], "no"),
     "$.process.terminal"),
    ("ns-type-unknown", lambda c: _set(c, ["linux", "namespaces", 0, "type"], "bogus"),
     "$.linux.namespaces[0].type"),
    ("ns-type-number", lambda c: _set(c, ["linux", "namespaces", 0, "type"], 3),
     "$.linux.namespaces[0].type"),
    ("mount-no-destination", lambda c: _del(c, ["mounts", 0, "destination"]),
     "$.mounts[0]"),
    ("mount-options-string", lambda c: _set(c, ["mounts", 0, "options"], "ro"),
     "$.mounts[0].options"),
    ("root-missing", lambda c: _del(c, ["root"]), "root"),
    ("root-path-number", lambda c: _set(c, ["root", "path"], 7), "$.root.path"),
    ("oci-version-missing", lambda c: _del(c, ["ociVersion"]), "ociVersion"),
    ("oci-version-number", lambda c: _set(c, ["ociVersion"], 1), "$.ociVersion"),
    ("hostname-number", lambda c: _set(c, ["hostname"], 5), "$.hostname"),
    ("env-not-list", lambda c: _set(c, ["process", "env"], {"A": "b"}), "$.process.env"),
    ("rlimit-soft-string", lambda c: _set(c, ["process", "rlimits", 0, "soft"], "1"),
     "$.process.rlimits[0].soft"),
]


@pytest.mark.parametrize("edit,path", [pytest.param(e, p, id=i) for i, e, p in SCHEMA_CASES])
def test_schema_violation(runtime, bundle, edit, path):
    edit(bundle.config)
    bundle.write()
    p = create(runtime, bundle)
    assert_error(p, "config.json", path, root=runtime.root)


# -- semantic checks -------------------------------------------------------------

def _add_ns(kind: str):
    def edit(c):
        c["linux"]["namespaces"].append({"type": kind})
    return edit


def _drop_ns(kind: str):
    def edit(c):
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != kind]
    return edit


def _userns_without_maps(c):
    _add_ns("user")(c)
    c["linux"].pop("uidMappings", None)
    c["linux"].pop("gidMappings", None)


def _maps_without_userns(c):
    _drop_ns("user")(c)
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def _rlimit(kind: str, soft: int, hard: int):
    def edit(c):
        c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 64, "hard": 64},
                                   {"type": kind, "soft": soft, "hard": hard}]
    return edit


SEMANTIC_CASES = [
    ("duplicate-namespace", _add_ns("pid"), "$.linux.namespaces[", "pid"),
    ("userns-without-maps", _userns_without_maps, "$.linux.uidMappings", "user namespace"),
    ("maps-without-userns", _maps_without_userns, "$.linux.uidMappings", "user namespace"),
    ("hostname-without-uts", lambda c: _drop_ns("uts")(c), "$.hostname", "uts"),
    ("domainname-without-uts",
     lambda c: (_drop_ns("uts")(c), c.pop("hostname"), c.update(domainname="x")),
     "$.domainname", "uts"),
    ("unknown-capability",
     lambda c: c["process"]["capabilities"]["bounding"].append("CAP_NOPE"),
     "$.process.capabilities.bounding[3]", "CAP_NOPE"),
    ("unknown-capability-effective",
     lambda c: _set(c, ["process", "capabilities", "effective"], ["CAP_KILL", "cap_chown"]),
     "$.process.capabilities.effective[1]", "cap_chown"),
    ("rlimit-soft-above-hard", _rlimit("RLIMIT_CORE", 100, 10), "$.process.rlimits[1]",
     "soft"),
    ("rlimit-unknown-type", _rlimit("RLIMIT_BOGUS", 1, 1), "$.process.rlimits[1].type",
     "RLIMIT_BOGUS"),
    ("rlimit-duplicate", _rlimit("RLIMIT_NOFILE", 1, 1), "$.process.rlimits[1].type",
     "RLIMIT_NOFILE"),
    ("relative-cwd", lambda c: _set(c, ["process", "cwd"], "tmp"), "$.process.cwd", "tmp"),
    ("env-without-equals", lambda c: c["process"]["env"].append("JUSTANAME"),
     "$.process.env[2]", "JUSTANAME"),
    ("empty-args", lambda c: _set(c, ["process", "args"], []), "$.process.args", ""),
    ("no-process", lambda c: c.pop("process"), "$.process", ""),
    ("oci-version-2", lambda c: _set(c, ["ociVersion"], "2.0.0"), "$.ociVersion", "2.0.0"),
    ("ns-relative-path", lambda c: _set(c, ["linux", "namespaces", 0, "path"], "proc/1/ns/pid"),
     "$.linux.namespaces[0].path", ""),
    ("ns-missing-path",
     lambda c: c["linux"]["namespaces"].append({"type": "time", "path": "/nonexistent/ns"}),
     "$.linux.namespaces[", "/nonexistent/ns"),
]


@pytest.mark.parametrize("edit,path,word",
                         [pytest.param(e, p, w, id=i) for i, e, p, w in SEMANTIC_CASES])
def test_semantic_error(runtime, bundle, edit, path, word):
    edit(bundle.config)
    bundle.write()
    p = create(runtime, bundle)
    assert_error(p, "config.json", path, word, root=runtime.root)


def test_unknown_capability_in_run(runtime, bundle):
    """`run` validates the same way as `create`."""
    bundle.config["process"]["capabilities"]["permitted"] = ["CAP_KILL", "CAP_FLY"]
    bundle.write()
    p = runtime("run", "-b", str(bundle), "ct-run-cap")
    assert_error(p, "$.process.capabilities.permitted[1]", "CAP_FLY", root=runtime.root)


# -- container ids ---------------------------------------------------------------

@pytest.mark.parametrize("cid", [
    pytest.param("ct/slash", id="slash"), pytest.param("", id="empty"),
    pytest.param("..", id="dotdot"), pytest.param(".", id="dot"),
    pytest.param("c" * 300, id="300-chars"), pytest.param("ct space", id="space"),
    pytest.param("ct\nnewline", id="newline"), pytest.param("../ct-escape", id="traversal"),
])
def test_invalid_container_id(runtime, bundle, cid):
    for cmd in ("create", "run"):
        p = runtime(cmd, "-b", str(bundle), cid)
        line = assert_error(p, "container id", root=runtime.root)
        if cid and len(cid) < 100 and "\n" not in cid:
            assert cid in line or "longer than" in line
    # nothing was made next to the root either (a traversal must not escape it)
    assert not os.path.exists(os.path.join(os.path.dirname(runtime.root), "ct-escape"))
    for cmd in ("state", "start", "delete", "kill"):
        p = runtime(cmd, cid)
        assert_error(p, root=runtime.root)


def test_duplicate_id(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("create", "-b", str(bundle), "ct-dup", check=True)
    before = runtime.state("ct-dup")
    p = runtime("create", "-b", str(bundle), "ct-dup")
    assert_error(p, "already exists")
    p = runtime("run", "-d", "-b", str(bundle), "ct-dup")
    assert_error(p, "already exists")
    after = runtime.state("ct-dup")
    assert after == before
    assert after["status"] == "created"
    assert os.path.exists(os.path.join(runtime.root, "ct-dup", "exec.sock"))
    assert os.listdir(runtime.root) == ["ct-dup"]
    # and the first container still works
    runtime("start", "ct-dup", check=True)
    assert runtime.state("ct-dup")["status"] == "running"


# -- unknown containers, wrong states ------------------------------------------

@pytest.mark.parametrize("args", [
    ("state",), ("start",), ("kill",), ("kill", "KILL"), ("delete",), ("kill", "--all")
], ids=lambda a: "-".join(a).replace("--", ""))
def test_unknown_container(runtime, args):
    cmd, *rest = args
    flags = [a for a in rest if a.startswith("-")]
    signal = [a for a in rest if not a.startswith("-")]
    p = runtime(cmd, *flags, "ct-ghost", *signal)
    assert_error(p, "ct-ghost", "does not exist", root=runtime.root)


def test_unknown_container_with_existing_root(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("create", "-b", str(bundle), "ct-here", check=True)
    for cmd in ("state", "start", "kill", "delete"):
        p = runtime(cmd, "ct-ghost")
        assert_error(p, "ct-ghost", "does not exist")
    assert os.listdir(runtime.root) == ["ct-here"]


def test_start_twice(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("create", "-b", str(bundle), "ct-twice", check=True)
    runtime("start", "ct-twice", check=True)
    p = runtime("start", "ct-twice")
    assert_error(p, "already running")
    assert runtime.state("ct-twice")["status"] == "running"


def test_start_stopped(runtime, bundle):
    bundle.set_args("true")
    runtime("run", "-d", "-b", str(bundle), "ct-stopped", check=True)
    runtime.wait_stopped("ct-stopped")
    p = runtime("start", "ct-stopped")
    assert_error(p, "stopped")
    assert runtime.state("ct-stopped")["status"] == "stopped"


def test_start_killed_created(runtime, bundle):
    """A created container whose init was killed is stopped: start refuses."""
    bundle.set_args(*SLEEPER)
    runtime("create", "-b", str(bundle), "ct-killed", check=True)
    runtime("kill", "ct-killed", "KILL", check=True)
    runtime.wait_stopped("ct-killed")
    p = runtime("start", "ct-killed")
    assert_error(p, "stopped")


def test_delete_running_without_force(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-busy", check=True)
    p = runtime("delete", "ct-busy")
    assert_error(p, "ct-busy", "running")
    assert runtime.state("ct-busy")["status"] == "running"


# -- the root filesystem ---------------------------------------------------------

def test_missing_rootfs(runtime, bundle):
    shutil.rmtree(bundle.rootfs)
    p = create(runtime, bundle)
    assert_error(p, "$.root.path", str(bundle.rootfs), "no such file or directory",
                 root=runtime.root)


def test_rootfs_is_a_file(runtime, bundle):
    shutil.rmtree(bundle.rootfs)
    bundle.rootfs.write_text("")
    p = create(runtime, bundle)
    assert_error(p, "$.root.path", "not a directory", root=runtime.root)


def test_rootfs_symlink_out_of_bundle(runtime, bundle, tmp_path):
    target = tmp_path / "elsewhere" / "missing-rootfs"
    shutil.rmtree(bundle.rootfs)
    os.symlink(target, bundle.rootfs)
    p = create(runtime, bundle)
    assert_error(p, "$.root.path", "no such file or directory", root=runtime.root)
    assert not target.exists() and not target.parent.exists()


# -- the program to run ----------------------------------------------------------

@pytest.mark.parametrize("args,needles", [
    # lower case, as runc (Go) words errno: podman matches these phrases
    pytest.param(["/nonexistent"], ['"/nonexistent"', "no such file or directory"],
                 id="absolute-missing"),
    pytest.param(["/bin/nonexistent", "x"], ['"/bin/nonexistent"', "no such file or directory"],
                 id="absolute-missing-in-bin"),
    pytest.param(["nonexistent-prog"], ['"nonexistent-prog"',
                                        "executable file not found in $PATH"],
                 id="not-in-path"),
    pytest.param(["/etc/passwd"], ['"/etc/passwd"', "permission denied"], id="not-executable"),
    pytest.param(["/bin"], ['"/bin"', "permission denied"], id="directory"),
])
@pytest.mark.parametrize("cmd", ["create", "run"])
def test_bad_program(runtime, bundle, cmd, args, needles):
    bundle.set_args(*args)
    p = runtime(cmd, "-b", str(bundle), "ct-prog")
    assert_error(p, *needles, root=runtime.root)


def test_program_not_in_custom_path(runtime, bundle):
    bundle.config["process"]["env"] = ["PATH=/nowhere:/also/nowhere"]
    bundle.set_args("sh", "-c", "true")
    p = create(runtime, bundle)
    assert_error(p, '"sh"', "executable file not found in $PATH", root=runtime.root)


# -- the command line ------------------------------------------------------------

@pytest.mark.parametrize("args,needle", [
    pytest.param(("--bogus", "state", "ct-x"), "-bogus", id="global-flag"),
    pytest.param(("create", "--bogus", "ct-x"), "-bogus", id="create-flag"),
    pytest.param(("state", "-z", "ct-x"), "-z", id="short-flag"),
    pytest.param(("kill", "--force", "ct-x"), "-force", id="flag-of-other-command"),
    pytest.param(("delete", "--force=maybe", "ct-x"), "--force", id="bad-boolean"),
    pytest.param(("create", "--bundle"), "--bundle", id="flag-needs-value"),
    pytest.param(("create", "--preserve-fds", "many", "ct-x"), "--preserve-fds",
                 id="bad-preserve-fds"),
    pytest.param(("create", "--preserve-fds", "-1", "ct-x"), "--preserve-fds",
                 id="negative-preserve-fds"),
    pytest.param(("list", "--format", "yaml"), "invalid format option", id="bad-list-format"),
    pytest.param(("kill", "ct-x", "TERM", "extra"), "kill", id="too-many-args"),
])
def test_bad_cli(runtime, args, needle):
    p = runtime(*args)
    assert_error(p, needle, root=runtime.root)


def test_unknown_command(runtime):
    """As runc: `No help topic`, exit status 3."""
    p = runtime("frobnicate", "ct-x")
    assert p.returncode == 3 and p.err == "pyrunc: No help topic for 'frobnicate'\n"


@pytest.mark.parametrize("cmd", ["create", "run", "start", "state", "kill", "delete"])
def test_missing_container_id(runtime, bundle, cmd):
    extra = ("-b", str(bundle)) if cmd in ("create", "run") else ()
    p = runtime(cmd, *extra)  # (runc's words; its help goes to stdout)
    assert_error(p, f'"{cmd}" requires', "argument", root=runtime.root)
    assert p.out.startswith("Incorrect Usage.")


@pytest.mark.parametrize("value", ["xml", "", "JSON"])
def test_bad_log_format(runtime, bundle, value):
    p = runtime("--log-format", value, "create", "-b", str(bundle), "ct-lf")
    assert_error(p, "--log-format", root=runtime.root)


def test_bad_log_format_equals_form(runtime):
    p = runtime("--log-format=yaml", "list")
    assert_error(p, "--log-format", "yaml", root=runtime.root)


def test_error_goes_to_log_file_too(runtime, bundle, tmp_path):
    """With --log, the error is logged there, and still one line on stderr."""
    logf = tmp_path / "log.json"
    bundle.config["process"]["cwd"] = "relative"
    bundle.write()
    p = runtime("--log", str(logf), "--log-format", "json", "create", "-b", str(bundle), "ct-l")
    assert_error(p, "$.process.cwd", root=runtime.root)
    entries = [json.loads(line) for line in logf.read_text().splitlines()]
    assert entries and entries[-1]["level"] == "error"
    assert "$.process.cwd" in entries[-1]["msg"]


# -- control characters never break the one-line rule -----------------------------

@pytest.mark.parametrize("edit,needle", [
    pytest.param(lambda c: c["process"]["env"].append("NO\nEQUALS"), "$.process.env[2]",
                 id="env"),
    pytest.param(lambda c: _set(c, ["process", "cwd"], "rel\native"), "$.process.cwd",
                 id="cwd"),
    pytest.param(lambda c: c["process"]["capabilities"]["bounding"].append("CAP_\rX"),
                 "$.process.capabilities.bounding[3]", id="capability"),
    pytest.param(lambda c: _set(c, ["process", "args"], ["/no\nsuch"]), '"/no\\nsuch"',
                 id="program"),
    pytest.param(lambda c: _set(c, ["process", "args"], ["no\tsuch"]), "$PATH",
                 id="program-in-path"),
])
def test_control_characters_in_message(runtime, bundle, edit, needle):
    edit(bundle.config)
    bundle.write()
    p = create(runtime, bundle)
    assert_error(p, needle, root=runtime.root)


def test_control_characters_in_argument(runtime, tmp_path):
    p = runtime("--no\nsuch-flag", "list")
    assert_error(p, "flag provided but not defined", root=runtime.root)
    p = runtime("create", "-b", str(tmp_path / "a\nb"), "ct-nl")
    assert_error(p, "no such file or directory", root=runtime.root)


# -- a damaged state store ---------------------------------------------------------

@pytest.mark.parametrize("text", [
    pytest.param(b'{"id": "ct-corrupt", "status', id="truncated"),
    pytest.param(b"", id="empty"),
    pytest.param(b"[1, 2]", id="array"),
    pytest.param(b'"running"', id="string"),
    pytest.param(b"\xff\xfe", id="binary"),
])
def test_corrupt_state_file(runtime, text):
    """A state.json that is not a JSON object (a crash mid-write of an older
    version, a full disk) must not crash state/list/kill/start: the container
    counts as a husk that delete removes."""
    cdir = os.path.join(runtime.root, "ct-corrupt")
    os.makedirs(cdir)
    with open(os.path.join(cdir, "state.json"), "wb") as f:
        f.write(text)
    _check_husk(runtime, "ct-corrupt")


def test_husk_without_state_file(runtime):
    """A create that died before writing state.json leaves just the directory."""
    os.makedirs(os.path.join(runtime.root, "ct-husk"))
    _check_husk(runtime, "ct-husk")


def _check_husk(runtime, cid: str) -> None:
    p = runtime("state", cid)
    assert "Traceback" not in p.err and p.returncode == 0, p.err
    assert json.loads(p.out)["status"] == "stopped"
    p = runtime("list")
    assert "Traceback" not in p.err and p.returncode == 0, p.err
    for args in (("start", cid), ("kill", cid, "KILL")):
        p = runtime(*args)
        assert_error(p)
    # stopped, as `state` says: delete needs no --force
    p = runtime("delete", cid)
    assert p.returncode == 0 and "Traceback" not in p.err, p.err
    assert_no_state(runtime.root)
