"""The command line: flags, help, version, spec, features, list."""

import json
import os
import subprocess
import tempfile

import pytest
from helpers import shared_path

SPEC_DIR = shared_path("runtime-spec", "schema")


def test_version(runtime):
    p = runtime("--version", check=True)
    assert p.out.startswith("pyrunc version ")
    assert "spec: 1.3.0" in p.out


def test_help(runtime):
    p = runtime("--help", check=True)
    assert "create" in p.out and "--root" in p.out
    p = runtime("create", "--help", check=True)
    assert "--bundle" in p.out


def test_unknown_command_and_flag(runtime):
    p = runtime("frobnicate")
    assert p.returncode == 3 and p.err == "pyrunc: No help topic for 'frobnicate'\n"
    p = runtime("--bogus", "list")
    assert p.returncode == 1 and "-bogus" in p.err
    p = runtime("kill")
    assert p.returncode == 1 and '"kill" requires a minimum of 1 argument(s)' in p.err


def test_flag_forms(runtime, bundle, tmp_path):
    """--flag=value, --flag value and single-dash -flag (as Go's flag package)."""
    bundle.set_args("sleep", "100")
    root = str(tmp_path / "other-root")
    p = runtime.__class__(runtime.cmd, root)
    try:
        runtime.cmd and p("create", f"--bundle={bundle}", "ct-ff", check=True)
        assert json.loads(p("-root", root, "state", "ct-ff", check=True).out)["id"] == "ct-ff"
        assert os.path.isdir(os.path.join(root, "ct-ff"))
        p("delete", "--force=true", "ct-ff", check=True)
    finally:
        p.cleanup()


def test_spec_writes_default_and_refuses_overwrite(runtime, tmp_path):
    runtime("spec", "--bundle", str(tmp_path), check=True)
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["ociVersion"] == "1.3.0"
    assert spec["process"]["terminal"] is True and spec["process"]["args"] == ["sh"]
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    assert {n["type"] for n in spec["linux"]["namespaces"]} == {"pid", "network", "ipc",
                                                                "uts", "mount"}
    p = runtime("spec", "--bundle", str(tmp_path))
    assert p.returncode == 1 and "exists" in p.err


def test_spec_is_valid_against_official_schema(runtime, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    if not os.path.isdir(SPEC_DIR):
        pytest.skip("runtime-spec schema not available")
    for rootless in (False, True):
        d = tmp_path / f"r{rootless}"
        d.mkdir()
        runtime("spec", "--bundle", str(d), *(["--rootless"] if rootless else []), check=True)
        _validate_official(jsonschema, "config-schema.json",
                           json.loads((d / "config.json").read_text()))


def _validate_official(jsonschema, name, doc):
    """Validate with the official runtime-spec schema (draft 4)."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    resources = []
    for fname in os.listdir(SPEC_DIR):
        if fname.endswith(".json"):
            with open(os.path.join(SPEC_DIR, fname)) as f:
                contents = json.load(f)
            resources.append((f"file://{os.path.abspath(SPEC_DIR)}/{fname}",
                              Resource.from_contents(contents, default_specification=DRAFT4)))
    registry = Registry().with_resources(resources).crawl()
    uri = f"file://{os.path.abspath(SPEC_DIR)}/{name}"
    validator = jsonschema.Draft4Validator({"$ref": uri}, registry=registry)
    validator.validate(doc)


def test_features_document(runtime):
    doc = json.loads(runtime("features", check=True).out)
    assert doc["ociVersionMin"] == "1.0.0" and doc["ociVersionMax"] == "1.3.0"
    assert set(doc["linux"]["namespaces"]) == {"pid", "network", "mount", "ipc", "uts",
                                               "user", "cgroup", "time"}
    assert "CAP_SYS_ADMIN" in doc["linux"]["capabilities"]
    assert {"ro", "nosuid", "rbind", "rprivate"} <= set(doc["mountOptions"])
    # only what works is claimed
    assert doc["linux"]["seccomp"]["enabled"] is False or "actions" in doc["linux"]["seccomp"]
    jsonschema = pytest.importorskip("jsonschema")
    if os.path.isdir(SPEC_DIR):
        _validate_official(jsonschema, "features-schema.json", doc)


def test_list_empty_root(runtime):
    assert runtime("list", "-q", check=True).out == ""
    assert json.loads(runtime("list", "--format", "json", check=True).out) is None  # (runc)


def test_launcher_with_and_without_site():
    """install.sh starts Python with -S (no site module: faster); the launcher
    then finds the venv's packages itself. Plain `pip install` (with site)
    works too."""
    import shutil

    launcher = os.path.realpath(shutil.which("pyrunc"))
    with open(launcher) as f:
        first = f.readline()
    interp = first[2:].split()[0]
    assert first.rstrip().endswith(" -S"), first
    for flags in ([], ["-S"]):
        p = subprocess.run([interp, *flags, launcher, "--version"], capture_output=True,
                           text=True, env={"PATH": "/usr/bin:/bin"})
        assert p.returncode == 0 and p.stdout.startswith("pyrunc version"), (flags, p.stderr)
    p = subprocess.run([interp, "-S", "-c", "import pyrunc"], capture_output=True, cwd="/")
    assert p.returncode != 0  # so -S alone really lacks the venv's packages


# What the launcher does under -S (bin/pyrunc): the venv's packages first.
ADD_VENV = ("import sys\n"
            "sys.path.insert(0, f\"{sys.executable.rpartition('/bin/')[0]}/lib/python"
            "{sys.version_info[0]}.{sys.version_info[1]}/site-packages\")\n")


def launcher_python() -> str:
    """The interpreter on the installed launcher's #! line."""
    import shutil

    with open(os.path.realpath(shutil.which("pyrunc"))) as f:
        return f.readline()[2:].split()[0]


def test_hot_paths_import_nothing_heavy(bundle):
    """The modules of state/kill/delete/create/run, and loading and validating
    a config.json: none of json, re, enum, typing, collections, argparse or
    jsonschema (each costs milliseconds at every call)."""
    interp = launcher_python()
    code = (ADD_VENV
            + "from pyrunc import cli, container, create, plan, spawn, state\n"
            + "from pyrunc.cgroups import host, manager\n"
            + "from pyrunc.config import load as config\n"
            f"config.load_bundle({str(bundle.path)!r})\n"
            "heavy = ('json', 're', 'enum', 'typing', 'collections', 'argparse', 'jsonschema')\n"
            "print(sorted(m for m in heavy if m in sys.modules))\n")
    p = subprocess.run([interp, "-S", "-c", code], capture_output=True, text=True, cwd="/")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]", p.stdout


def test_commands_do_not_import_os(runtime, bundle):
    """run, state, kill and delete, each in a fresh interpreter started as the
    launcher starts it: none imports os (~2 ms here, see fastos.py), nor
    json, re or enum."""
    interp = launcher_python()
    code = (ADD_VENV
            + "from pyrunc.cli import main\n"
            "rc = main(sys.argv[1:])\n"
            "heavy = ('os', 'posixpath', '_collections_abc', 'json', 're', 'enum', 'typing')\n"
            "sys.stderr.write(f'rc={rc} heavy={sorted(m for m in heavy if m in sys.modules)}')\n")
    bundle.set_args("sleep", "100")

    def call(*args: str) -> str:
        with tempfile.TemporaryFile() as err:  # (not a pipe: the container keeps it)
            subprocess.run([interp, "-S", "-c", code, "--root", runtime.root, *args],
                           stdout=subprocess.DEVNULL, stderr=err, cwd="/", check=False)
            err.seek(0)
            return err.read().decode().strip().splitlines()[-1]

    runtime.ids.add("ct-hot")
    os.makedirs(runtime.root)  # (the first create under a root makes it with os.makedirs)
    assert call("run", "-d", "-b", str(bundle), "ct-hot") == "rc=0 heavy=[]"
    assert call("state", "ct-hot") == "rc=0 heavy=[]"
    assert call("kill", "ct-hot", "KILL") == "rc=0 heavy=[]"
    runtime.wait_stopped("ct-hot")
    assert call("delete", "ct-hot") == "rc=0 heavy=[]"
    assert not os.path.exists(os.path.join(runtime.root, "ct-hot"))


def test_output_is_flushed_before_the_fast_exit():
    """The launcher leaves with _exit (no interpreter teardown) after flushing
    stdio: all of an output arrives through a pipe, and a reader gone away
    gives exit 120 (as Python's own exit would), with no traceback. (With
    stdout buffered, as it is without PYTHONUNBUFFERED.)"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    p = subprocess.run(["pyrunc", "features"], capture_output=True, text=True, env=env)
    assert p.returncode == 0 and json.loads(p.stdout)["ociVersionMax"], p.stdout[-200:]
    r, w = os.pipe()
    os.close(r)
    p = subprocess.run(["pyrunc", "--version"], stdout=w, stderr=subprocess.PIPE, text=True,
                       env=env)
    os.close(w)
    assert p.returncode == 120 and "Traceback" not in p.stderr, p.stderr
