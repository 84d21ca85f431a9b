"""README.md's "Using pyrunc with containerd, docker, podman and CRI-O": each
configuration block, taken from the README itself, shown working (with runc's
path in place of pyrunc's for the reference runs)."""

import json
import os
import re
import tomllib

import clientlib as cl
import pytest

pytestmark = pytest.mark.clients

SECTION = "## Using pyrunc with containerd, docker, podman and CRI-O"
README_PATH = "/opt/pyrunc/bin/pyrunc"


def readme_blocks() -> dict[str, str]:
    with open(os.path.join(cl.REPO, "README.md")) as f:
        text = f.read()
    assert SECTION in text, "README.md lost its client section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    out = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S):
        if "io.containerd.grpc.v1.cri" in body:
            out["containerd"] = body
        elif lang == "json":
            out["docker"] = body
        elif "[engine" in body:
            out["podman"] = body
        elif "[crio.runtime" in body:
            out["crio"] = body
    out["ctr"] = next(line.strip() for line in section.splitlines()
                      if line.strip().startswith("ctr run"))
    assert set(out) == {"containerd", "docker", "podman", "crio", "ctr"}, sorted(out)
    return out


def for_runtime(text: str, rt: cl.OciRuntime) -> str:
    """The README's text with the runtime under test's path (runc for the reference)."""
    assert README_PATH in text
    return text.replace(README_PATH, rt.path)


def test_containerd_config(containerd, rt, new_id):
    """containerd loads the CRI runtime handler as written (BinaryName, the
    shim option docker and ctr use too), and the README's ctr command runs."""
    blocks = readme_blocks()
    cfg = os.path.join(containerd.base, f"readme-{rt.name}.toml")
    with open(cfg, "w") as f:
        f.write(for_runtime(blocks["containerd"], rt))
    r = cl.run(["containerd", "--config", cfg, "config", "dump"], check=True)
    dumped = tomllib.loads(r.out)
    handler = dumped["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["pyrunc"]
    assert handler["runtime_type"] == "io.containerd.runc.v2"
    assert handler["options"]["BinaryName"] == rt.path
    argv = for_runtime(blocks["ctr"], rt).split()
    assert argv[:4] == ["ctr", "run", "--rm", "--runc-binary"]
    cid = new_id()
    argv[5:7] = [f"docker.io/library/{cl.IMAGE}:latest", cid]  # our image, a fresh id
    r = cl.run(containerd.ctr_argv(*argv[1:]))
    assert (r.rc, r.out) == (0, "hello\n"), r


def test_docker_daemon_json(containerd, images, rt, clients_base):
    """A dockerd configured by the README's daemon.json alone."""
    daemon_json = json.loads(for_runtime(readme_blocks()["docker"], rt))
    d = cl.Dockerd(clients_base, containerd, {}, daemon_json=daemon_json,
                   name=f"docker-readme-{rt.name}",
                   namespace=f"readme-{rt.name}-{os.path.basename(clients_base)}")
    try:
        d.start()
        r = d.docker("info", "--format", "{{json .Runtimes}}")
        assert json.loads(r.out)["pyrunc"]["path"] == rt.path, r
        d.import_image(images["rootfs"])
        r = d.docker("run", "--rm", "--runtime", "pyrunc", "--network", "none", cl.IMAGE,
                     "sh", "-c", "echo hello; exit 3")
        assert (r.rc, r.out) == (3, "hello\n"), r
    finally:
        d.stop()
        cl.SESSION["ids"] |= d.ids


def _toml(conf: dict) -> str:
    """Enough TOML for containers.conf: tables of strings, lists, tables."""
    def value(v):
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    out = []

    def table(name: str, d: dict) -> None:
        out.append(f"[{name}]")
        out.extend(f'"{k}" = {value(v)}' for k, v in d.items() if not isinstance(v, dict))
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{name}.{k}", v)

    for name, d in conf.items():
        table(name, d)
    return "\n".join(out) + "\n"


def test_podman_containers_conf(podmand, rt, new_id):
    """podman with the README's containers.conf (merged into this machine's
    settings): `pyrunc` is the default runtime, by name, with JSON logs."""
    with open(podmand.conf, "rb") as f:
        conf = tomllib.load(f)
    readme = tomllib.loads(for_runtime(readme_blocks()["podman"], rt))
    for table, values in readme.items():
        for k, v in values.items():
            if isinstance(v, dict):
                conf[table].setdefault(k, {}).update(v)
            else:
                conf[table][k] = v
    path = os.path.join(podmand.base, f"readme-{rt.name}.conf")
    with open(path, "w") as f:
        f.write(_toml(conf))
    env = {**podmand.env, "CONTAINERS_CONF": path}
    r = cl.run(podmand.argv("info", "--format", "{{.Host.OCIRuntime.Name}} "
                            "{{.Host.OCIRuntime.Path}}"), env=env)
    assert r.out.split() == ["pyrunc", rt.path], r
    name = new_id()
    r = cl.run(podmand.argv("run", "--name", name, cl.IMAGE, "sh", "-c", "echo hello; exit 3"),
               env=env)
    try:
        assert (r.rc, r.out) == (3, "hello\n"), r
        r = cl.run(podmand.argv("inspect", "--format", "{{.OCIRuntime}}", name), env=env)
        assert r.out.strip() == "pyrunc", r
        # the JSON error path: podman parses the --log-format=json line
        r = cl.run(podmand.argv("run", "--rm", cl.IMAGE, "/nonexistent"), env=env)
        assert r.rc == 127 and "/nonexistent" in r.err, r
    finally:
        cl.run(podmand.argv("rm", "-f", name), env=env)


def test_crio_handler(clients_base, images, rt, new_id):
    """The README's CRI-O handler: its runtime_path, runtime_root and
    monitor_path drive the replayed CRI-O calls."""
    from .test_clients_crio import CrioReplay

    handler = tomllib.loads(for_runtime(readme_blocks()["crio"], rt))
    h = handler["crio"]["runtime"]["runtimes"]["pyrunc"]
    assert h["runtime_type"] == "oci" and os.path.exists(h["monitor_path"]), h
    assert h["runtime_path"] == rt.path
    crio = CrioReplay(clients_base, rt, images["rootfs"])
    # runtime_root as configured, but private to this run: another one may use it
    crio.root = os.path.join(crio.dir, h["runtime_root"].lstrip("/"))
    try:
        cid = new_id()
        crio.started(cid, ["sleep", "1000"])
        assert crio.state(cid)["status"] == "running"
        assert os.path.isdir(os.path.join(crio.root, cid))
        code, out, _ = crio.exec_sync(cid, ["sh", "-c", "echo probe; exit 1"])
        assert (code, out) == (1, "probe\n")
        assert crio.runtime("kill", cid, "KILL").rc == 0
        assert crio.exit_code(cid) == 137
    finally:
        crio.cleanup()
