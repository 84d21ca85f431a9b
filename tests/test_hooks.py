"""The six hooks: once each, in order, with the state on stdin, in the right
namespaces; failures handled as the spec says."""

import json
import os

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop")
SCRIPT = ('read -r state; echo "$0 $(readlink /proc/self/ns/mnt) '
          '$(readlink /proc/self/ns/net) $state" >> "$1"')


def add_hooks(bundle, log_host: str, log_container: str) -> None:
    hooks = {}
    for kind in KINDS:
        in_container = kind == "startContainer"
        log = log_container if in_container else log_host
        hooks[kind] = [{"path": "/bin/sh", "args": ["sh", "-c", SCRIPT, kind, log],
                        "env": ["PATH=/bin:/usr/bin"]}]
    bundle.config["hooks"] = hooks


def read_log(path) -> list[tuple[str, str, str, dict]]:
    out = []
    with open(path) as f:
        for line in f:
            kind, mnt, net, state = line.rstrip("\n").split(" ", 3)
            out.append((kind, mnt, net, json.loads(state)))
    return out


def test_all_hooks_in_order_with_state(runtime, bundle, tmp_path):
    logdir = tmp_path / "hooklog"
    logdir.mkdir()
    bundle.config["mounts"].append({"destination": "/hooklog", "source": str(logdir),
                                    "options": ["bind"]})
    add_hooks(bundle, str(logdir / "log"), "/hooklog/log")
    bundle.set_args("sh", "-c", "sleep 0.3")
    runtime("create", "-b", str(bundle), "ct-hooks", check=True)
    init = runtime.state("ct-hooks")["pid"]
    runtime("start", "ct-hooks", check=True)
    runtime.wait_stopped("ct-hooks")
    runtime("delete", "ct-hooks", check=True)
    entries = read_log(logdir / "log")
    assert [e[0] for e in entries] == list(KINDS)
    host_mnt, host_net = os.readlink("/proc/self/ns/mnt"), os.readlink("/proc/self/ns/net")
    by_kind = {e[0]: e for e in entries}
    for kind in ("prestart", "createRuntime", "poststart", "poststop"):
        assert by_kind[kind][1:3] == (host_mnt, host_net), kind  # runtime namespace
    for kind in ("createContainer", "startContainer"):
        assert by_kind[kind][1] != host_mnt and by_kind[kind][2] != host_net, kind
    assert by_kind["createContainer"][2] == by_kind["startContainer"][2]
    for kind, _, _, state in entries:
        assert state["id"] == "ct-hooks" and state["bundle"] == str(bundle.path), kind
        assert state["ociVersion"].startswith("1.")
    assert by_kind["createRuntime"][3]["pid"] == init
    assert by_kind["prestart"][3]["status"] == "creating"
    assert by_kind["poststart"][3]["status"] in ("running", "stopped")
    assert by_kind["poststop"][3]["status"] == "stopped"


def test_failing_create_hook_tears_down(runtime, bundle):
    for kind in ("createRuntime", "createContainer", "prestart"):
        bundle.config["hooks"] = {kind: [{"path": "/bin/sh",
                                          "args": ["sh", "-c", "echo broken >&2; exit 3"]}]}
        bundle.set_args("true")
        p = runtime("create", "-b", str(bundle), "ct-hf")
        assert p.returncode == 1, kind
        assert f"$.hooks.{kind}[0]" in p.err and "exit status 3" in p.err, p.err
        assert "broken" in p.err
        assert not os.path.exists(os.path.join(runtime.root, "ct-hf"))


def test_failing_start_container_hook(runtime, bundle):
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/false"}]}
    bundle.set_args("sh", "-c", "echo SHOULD-NOT-RUN")
    p = runtime("run", "-b", str(bundle), "ct-sc")
    assert "SHOULD-NOT-RUN" not in p.out
    assert p.returncode != 0


def test_hook_timeout(runtime, bundle):
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"],
                                                 "timeout": 1}],
                              }
    bundle.set_args("true")
    p = runtime("create", "-b", str(bundle), "ct-to")
    assert p.returncode == 1 and "timed out" in p.err
    bundle.config["hooks"] = {"createContainer": [{"path": "/bin/sleep",
                                                   "args": ["sleep", "30"], "timeout": 1}]}
    bundle.write()
    p = runtime("create", "-b", str(bundle), "ct-to2")
    assert p.returncode == 1 and "timed out" in p.err


def test_poststop_failure_is_a_warning(runtime, bundle, tmp_path):
    bundle.config["hooks"] = {"poststop": [{"path": "/bin/false"}]}
    bundle.set_args("true")
    log = tmp_path / "log.json"
    runtime("--log", str(log), "--log-format", "json", "run", "-b", str(bundle), "ct-ps",
            check=True)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert any(x["level"] == "warning" and "poststop" in x["msg"] for x in lines)
    assert not os.path.exists(os.path.join(runtime.root, "ct-ps"))


def test_hook_env_and_args(runtime, bundle, tmp_path):
    out = tmp_path / "env.txt"
    bundle.config["hooks"] = {"createRuntime": [{
        "path": "/bin/sh", "args": ["sh", "-c", 'echo "$0|$1|$FOO|$LEAK" > "$1"', "zero",
                                     str(out)],
        "env": ["FOO=bar"]}]}
    bundle.set_args("true")
    runtime("run", "-b", str(bundle), "ct-he", check=True, env={**os.environ, "LEAK": "x"})
    assert out.read_text() == f"zero|{out}|bar|\n"


def test_start_reports_start_container_hook_failure(runtime, bundle):
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/sh",
                                                  "args": ["sh", "-c", "echo nope; exit 4"]}]}
    bundle.set_args("sh", "-c", "echo SHOULD-NOT-RUN")
    runtime("create", "-b", str(bundle), "ct-sh", check=True)
    p = runtime("start", "ct-sh")
    assert p.returncode == 1
    assert "$.hooks.startContainer[0]" in p.err and "exit status 4" in p.err
    runtime.wait_stopped("ct-sh")


def test_start_returns_after_exec(runtime, bundle):
    """When start returns, the user program runs (poststart hooks see it)."""
    bundle.set_args("sleep", "30")
    runtime("create", "-b", str(bundle), "ct-ax", check=True)
    pid = runtime.state("ct-ax")["pid"]
    assert os.readlink(f"/proc/{pid}/exe").startswith("/memfd:pyrunc-init")
    runtime("start", "ct-ax", check=True)
    assert os.readlink(f"/proc/{pid}/exe").endswith("/bin/busybox")
