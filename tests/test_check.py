"""`pyrunc check`: a corpus of broken bundles, each found with its JSON path
and spec section; clean bundles (`pyrunc spec`, the clients' configs made
runnable here) give no error; and `check` creates nothing."""

import copy
import json
import os
import resource
import shutil
import stat
import subprocess

import pytest
from conftest import pyrunc_cmd
from helpers import Snapshot, shared_path

from pyrunc.config import check as check_mod
from pyrunc.config.check import resolve_in_root

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


CLIENT_SPECS = shared_path("reference", "client-specs")


def run_check(bundle, *args: str, fmt: str = "json", root: str | None = None):
    cmd = [*pyrunc_cmd()]
    if root:
        cmd += ["--root", root]
    p = subprocess.run([*cmd, "check", "--format", fmt, *args, str(bundle)],
                       capture_output=True, text=True, timeout=60)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode in (0, 1), (p.returncode, p.stderr)
    return p


def findings(bundle) -> tuple[int, list[dict]]:
    p = run_check(bundle)
    out = json.loads(p.stdout)
    assert isinstance(out, list)
    for f in out:
        assert set(f) == {"severity", "path", "message", "spec"}, f
        assert f["severity"] in ("error", "warning")
        assert f["path"].startswith("$")
        assert f["spec"].split("#")[0] in ("config.md", "config-linux.md", "bundle.md")
        assert "\n" not in f["message"]
    errors = [f for f in out if f["severity"] == "error"]
    assert p.returncode == (1 if errors else 0), out
    return p.returncode, out


def find(out: list[dict], path: str, severity: str = "error") -> dict:
    hits = [f for f in out if f["path"] == path and f["severity"] == severity]
    assert hits, f"no {severity} at {path} in {json.dumps(out, indent=1)}"
    return hits[0]


def errors(out: list[dict]) -> list[dict]:
    return [f for f in out if f["severity"] == "error"]


def edit(bundle, fn):
    fn(bundle.config)
    bundle.write()
    return findings(bundle)


def _ns(config: dict, *kinds: str) -> None:
    """Give the config exactly these namespaces (mount always)."""
    config["linux"]["namespaces"] = [{"type": k} for k in ("mount", *kinds)]


def _add_mount(config: dict, mount: dict) -> str:
    config["mounts"].append(mount)
    return f"$.mounts[{len(config['mounts']) - 1}]"


# -- the bundle and config.json as files ------------------------------------------------

def test_clean_bundle(bundle):
    rc, out = findings(bundle)
    assert (rc, out) == (0, [])
    p = run_check(bundle, fmt="text")
    assert p.stdout == "0 errors, 0 warnings\n"


def test_default_bundle_is_cwd(bundle):
    p = subprocess.run([*pyrunc_cmd(), "check"], cwd=bundle.path, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and p.stdout == "0 errors, 0 warnings\n", p.stdout + p.stderr


def test_missing_bundle(tmp_path):
    rc, out = findings(tmp_path / "nope")
    assert rc == 1 and len(out) == 1
    assert out[0]["path"] == "$" and "no such file" in out[0]["message"]
    assert out[0]["spec"] == "bundle.md#container-format"


def test_missing_config_json(bundle):
    os.unlink(bundle.path / "config.json")
    rc, out = findings(bundle)
    assert rc == 1 and len(out) == 1
    assert out[0]["path"] == "$" and "config.json" in out[0]["message"]
    assert out[0]["spec"] == "bundle.md#container-format"


@pytest.mark.parametrize("text", ["{", "", "not json", '{"a": 1,}', "\xff"])
def test_not_json(bundle, text):
    with open(bundle.path / "config.json", "w", encoding="latin-1") as f:
        f.write(text)
    rc, out = findings(bundle)
    assert rc == 1 and len(out) == 1 and out[0]["path"] == "$", out


@pytest.mark.parametrize("doc", [[], 5, "x", None])
def test_not_an_object(bundle, doc):
    with open(bundle.path / "config.json", "w") as f:
        json.dump(doc, f)
    rc, out = findings(bundle)
    assert rc == 1 and len(out) == 1 and out[0]["path"] == "$", out


def test_all_schema_errors(bundle):
    def broken(c):
        c["process"]["args"] = []
        c["root"]["readonly"] = "yes"
        c["mounts"][0]["destination"] = 5
        c["process"]["user"]["uid"] = -1
        c["linux"]["namespaces"].append({"type": "bogus"})

    rc, out = edit(bundle, broken)
    assert rc == 1
    for path in ("$.process.args", "$.root.readonly", "$.mounts[0].destination",
                 "$.process.user.uid", "$.linux.namespaces[5].type"):
        find(out, path)
    assert find(out, "$.process.args")["spec"] == "config.md#process"
    assert find(out, "$.linux.namespaces[5].type")["spec"] == "config-linux.md#namespaces"


@pytest.mark.parametrize("fn, path", [
    (lambda c: c.update(ociVersion="2.0.0"), "$.ociVersion"),
    (lambda c: c["process"].update(cwd="relative"), "$.process.cwd"),
    (lambda c: c["process"]["env"].append("NOEQUALS"), "$.process.env[2]"),
    (lambda c: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]),
     "$.linux.uidMappings"),
    (lambda c: c["linux"]["namespaces"].append({"type": "pid"}), "$.linux.namespaces[5].type"),
    (lambda c: _ns(c, "pid"), "$.hostname"),
    (lambda c: c["linux"]["namespaces"].pop(4), "$.linux.namespaces"),  # no mount ns (plan)
    (lambda c: c["mounts"][1]["options"].append("size=1,mode=7"), "$.mounts[1].options[4]"),
    (lambda c: c["linux"].update(devices=[{"path": "/tmp/x", "type": "c", "major": 1,
                                           "minor": 3}]), "$.linux.devices[0].path"),
])
def test_semantic_errors(bundle, fn, path):
    """config.check's errors and those of the plan create would build."""
    rc, out = edit(bundle, fn)
    assert rc == 1
    find(out, path)


# -- process.args[0] in the rootfs ------------------------------------------------------

def test_text_format(bundle):
    bundle.set_args("/bin/nope")
    p = run_check(bundle, fmt="text")
    assert p.returncode == 1
    assert p.stdout.splitlines() == [
        'error $.process.args[0]: "/bin/nope" is not in the rootfs (config.md#process)',
        "1 error, 0 warnings",
    ]


def test_program_not_in_path(bundle):
    bundle.set_args("nope")
    rc, out = findings(bundle)
    assert rc == 1 and len(out) == 1
    assert "$PATH" in find(out, "$.process.args[0]")["message"]


def test_program_found_with_containers_path(bundle):
    os.makedirs(bundle.rootfs / "opt/tools")
    os.symlink("/bin/busybox", bundle.rootfs / "opt/tools/mytool")
    bundle.set_args("mytool")
    rc, out = findings(bundle)
    assert rc == 1  # not in the default PATH
    bundle.config["process"]["env"] = ["PATH=/opt/tools"]
    bundle.write()
    assert findings(bundle) == (0, [])
    bundle.set_args("true")  # now not in the container's PATH
    rc, out = findings(bundle)
    assert rc == 1
    assert "/opt/tools" in find(out, "$.process.args[0]")["message"]


def test_no_path_env_uses_default(bundle):
    bundle.config["process"]["env"] = ["TERM=xterm"]
    bundle.set_args("sh")
    assert findings(bundle) == (0, [])


def test_relative_program_from_cwd(bundle):
    bundle.config["process"]["cwd"] = "/bin"
    bundle.set_args("./true")
    assert findings(bundle) == (0, [])
    bundle.config["process"]["cwd"] = "/"
    bundle.set_args("./true")
    rc, out = findings(bundle)
    assert rc == 1
    find(out, "$.process.args[0]")


def test_symlinks_resolve_inside_the_rootfs(bundle):
    """An absolute target is taken from the rootfs root, `..` stops at it: the
    host's /bin/bash and /usr/bin/env do not count."""
    r = bundle.rootfs
    os.makedirs(r / "usr/local/bin")
    os.makedirs(r / "only-here")
    shutil.copy("/bin/busybox", r / "only-here/prog")
    os.symlink("/only-here/prog", r / "usr/local/bin/abs")
    os.symlink("../../../../../../../only-here/prog", r / "usr/local/bin/up")
    os.symlink("/bin/bash", r / "usr/local/bin/hostbash")
    os.symlink("../../../../../../../../usr/bin/env", r / "usr/local/bin/escape")
    os.symlink("loop2", r / "usr/local/bin/loop1")
    os.symlink("loop1", r / "usr/local/bin/loop2")
    for ok in ("abs", "up", "/usr/local/bin/abs"):
        bundle.set_args(ok)
        assert findings(bundle) == (0, []), ok
    for bad in ("hostbash", "escape", "loop1", "/usr/local/bin/escape"):
        assert os.path.exists("/usr/bin/env")
        bundle.set_args(bad)
        rc, out = findings(bundle)
        assert rc == 1, bad
        find(out, "$.process.args[0]")


def test_symlinked_directory_in_rootfs(bundle):
    """A directory symlink with an absolute target (a merged /usr layout)."""
    r = bundle.rootfs
    os.makedirs(r / "usr/bin")
    shutil.copy("/bin/busybox", r / "usr/bin/prog")
    os.symlink("/usr/bin", r / "sbin")
    bundle.set_args("/sbin/prog")
    assert findings(bundle) == (0, [])


def test_not_executable(bundle):
    (bundle.rootfs / "bin/data").write_text("data\n")
    os.chmod(bundle.rootfs / "bin/data", 0o644)
    bundle.set_args("/bin/data")
    rc, out = findings(bundle)
    assert rc == 1
    assert "not executable" in find(out, "$.process.args[0]")["message"]
    bundle.set_args("data")  # found in $PATH, but not executable: the init says so too
    rc, out = findings(bundle)
    assert "not executable" in find(out, "$.process.args[0]")["message"]


def test_directory_is_not_executable(bundle):
    bundle.set_args("/etc")
    rc, out = findings(bundle)
    assert rc == 1
    assert "directory" in find(out, "$.process.args[0]")["message"]


def test_not_executable_by_the_user(bundle):
    p = bundle.rootfs / "bin/rootonly"
    shutil.copy("/bin/busybox", p)
    os.chown(p, 0, 0)
    os.chmod(p, 0o700)
    bundle.set_args("/bin/rootonly")
    assert findings(bundle) == (0, [])
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.write()
    rc, out = findings(bundle)
    assert "uid 1000" in find(out, "$.process.args[0]")["message"]


def _script(bundle, name: str, interp: str) -> None:
    p = bundle.rootfs / "bin" / name
    p.write_text(f"#!{interp}\necho hi\n")
    os.chmod(p, 0o755)


def test_script_interpreter(bundle):
    _script(bundle, "good", "/bin/sh -e")
    bundle.set_args("good")
    assert findings(bundle) == (0, [])
    _script(bundle, "bad", "/usr/bin/python3")  # on the host, not in the rootfs
    bundle.set_args("bad")
    rc, out = findings(bundle)
    assert rc == 1
    assert "/usr/bin/python3" in find(out, "$.process.args[0]")["message"]
    _script(bundle, "empty", "  ")
    bundle.set_args("empty")
    rc, out = findings(bundle)
    assert "empty" in find(out, "$.process.args[0]")["message"]


def test_dynamic_elf_without_loader(bundle):
    host = "/usr/bin/true"
    loader = check_mod.elf_interpreter(host)
    if not loader:
        pytest.skip(f"{host} is statically linked here")
    shutil.copy(host, bundle.rootfs / "bin/dyn")
    bundle.set_args("/bin/dyn")
    rc, out = findings(bundle)
    assert rc == 1
    assert loader in find(out, "$.process.args[0]")["message"]
    # with the loader in the rootfs (its libraries are not checked)
    dest = bundle.rootfs / loader.lstrip("/")
    os.makedirs(dest.parent, exist_ok=True)
    shutil.copy(os.path.realpath(loader), dest)
    assert findings(bundle) == (0, [])


def test_program_from_a_mount_is_a_warning(bundle):
    src = bundle.path / "tools"
    src.mkdir()
    shutil.copy("/bin/busybox", src / "tool")
    path = _add_mount(bundle.config, {"destination": "/opt/tools", "type": "bind",
                                      "source": "tools", "options": ["rbind", "ro"]})
    assert path
    bundle.set_args("/opt/tools/tool")
    rc, out = findings(bundle)
    assert rc == 0
    assert "mounts[7]" in find(out, "$.process.args[0]", "warning")["message"]


def test_cwd_is_a_file(bundle):
    bundle.config["process"]["cwd"] = "/etc/passwd"
    bundle.write()
    rc, out = findings(bundle)
    assert rc == 1
    find(out, "$.process.cwd")


# -- mounts ------------------------------------------------------------------------------

def test_bind_mount_sources(bundle):
    (bundle.path / "data").mkdir()
    c = bundle.config
    ok_rel = _add_mount(c, {"destination": "/data", "type": "bind", "source": "data",
                            "options": ["rbind"]})
    ok_abs = _add_mount(c, {"destination": "/etc/hosts", "source": "/etc/hosts",
                            "options": ["bind", "ro"]})
    bad_rel = _add_mount(c, {"destination": "/x", "type": "none", "source": "missing",
                             "options": ["rbind"]})
    bad_abs = _add_mount(c, {"destination": "/y", "type": "bind",
                             "source": "/nonexistent/pyrunc-check"})
    bundle.write()
    rc, out = findings(bundle)
    assert rc == 1
    assert {f["path"] for f in out} == {f"{bad_rel}.source", f"{bad_abs}.source"}
    assert str(bundle.path / "missing") in find(out, f"{bad_rel}.source")["message"]
    assert find(out, f"{bad_abs}.source")["spec"] == "config.md#mounts"
    assert ok_rel and ok_abs


def test_relative_mount_destination_is_a_warning(bundle):
    path = _add_mount(bundle.config, {"destination": "run", "type": "tmpfs",
                                      "source": "tmpfs"})
    bundle.write()
    rc, out = findings(bundle)
    assert rc == 0 and len(out) == 1
    f = find(out, f"{path}.destination", "warning")
    assert "deprecated" in f["message"] and f["spec"] == "config.md#mounts"


# -- hooks ---------------------------------------------------------------------------------

def test_hooks(bundle):
    """Runtime-namespace hooks on the host, container hooks in the rootfs; a
    failing poststart/poststop hook is only logged, so it is a warning."""
    bundle.config["hooks"] = {
        "prestart": [{"path": "/bin/true"}, {"path": "/nonexistent/hook"}],
        "createRuntime": [{"path": "/etc"}],
        "createContainer": [{"path": "/bin/true"}, {"path": "/usr/bin/python3"}],
        "startContainer": [{"path": "/opt/hooks/h"}],
        "poststop": [{"path": "/nonexistent/poststop"}],
    }
    _add_mount(bundle.config, {"destination": "/opt/hooks", "type": "tmpfs",
                               "source": "tmpfs"})
    bundle.write()
    rc, out = findings(bundle)
    assert rc == 1
    assert {(f["severity"], f["path"]) for f in out} == {
        ("error", "$.hooks.prestart[1].path"),
        ("error", "$.hooks.createRuntime[0].path"),
        ("error", "$.hooks.createContainer[1].path"),
        ("warning", "$.hooks.startContainer[0].path"),  # may come from the mount
        ("warning", "$.hooks.poststop[0].path"),
    }
    assert all(f["spec"] == "config.md#posix-platform-hooks" for f in out)


# -- user namespace mappings ---------------------------------------------------------------

def _userns(c: dict) -> None:
    _ns(c, "pid", "ipc", "uts", "user")
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1000}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1000}]
    c["linux"].pop("resources", None)
    c["mounts"] = [m for m in c["mounts"] if m["type"] not in ("sysfs", "cgroup")]


def test_unmapped_ids(bundle):
    def fn(c):
        _userns(c)
        c["process"]["user"] = {"uid": 5000, "gid": 10, "additionalGids": [5, 4000]}

    rc, out = edit(bundle, fn)
    assert rc == 1
    spec = "config-linux.md#user-namespace-mappings"
    assert find(out, "$.process.user.uid")["spec"] == spec
    assert find(out, "$.process.user.additionalGids[1]")["spec"] == spec
    paths = {f["path"] for f in errors(out)}
    assert "$.process.user.gid" not in paths
    assert "$.process.user.additionalGids[0]" not in paths


def test_mapped_ids_are_clean(bundle):
    def fn(c):
        _userns(c)
        c["process"]["user"] = {"uid": 999, "gid": 0, "additionalGids": [1]}

    assert edit(bundle, fn) == (0, [])


# -- capabilities, rlimits ---------------------------------------------------------------

def test_unknown_capabilities(bundle):
    def fn(c):
        c["process"]["capabilities"]["bounding"].append("CAP_FOO")
        c["process"]["capabilities"]["effective"].insert(0, "CAP_BAR")

    rc, out = edit(bundle, fn)
    assert rc == 1
    assert find(out, "$.process.capabilities.bounding[3]")["spec"] == "config.md#linux-process"
    find(out, "$.process.capabilities.effective[0]")


def _has_cap_sys_resource() -> bool:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> 24 & 1)
    return False


def test_rlimit_above_host_hard_limit(bundle):
    if _has_cap_sys_resource():
        pytest.skip("pyrunc could raise the limit here (CAP_SYS_RESOURCE)")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard limit on RLIMIT_NOFILE")

    def fn(c):
        c["process"]["rlimits"] = [
            {"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard},  # at the limit: fine
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        ]

    assert edit(bundle, fn) == (0, [])

    def over(c):
        c["process"]["rlimits"][0] = {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard + 1}

    rc, out = edit(bundle, over)
    assert rc == 1
    f = find(out, "$.process.rlimits[0].hard")
    assert str(hard) in f["message"] and f["spec"] == "config.md#posix-process"


def test_unknown_rlimits(bundle):
    def fn(c):
        c["process"]["rlimits"] += [{"type": "RLIMIT_FOO", "soft": 1, "hard": 1},
                                    {"type": "RLIMIT_BAR", "soft": 1, "hard": 1}]

    rc, out = edit(bundle, fn)
    find(out, "$.process.rlimits[1].type")
    find(out, "$.process.rlimits[2].type")


# -- sysctl --------------------------------------------------------------------------------

def test_sysctls(bundle):
    def fn(c):
        _ns(c, "pid", "ipc")  # no network, no uts namespace
        del c["hostname"]
        c["linux"]["sysctl"] = {
            "kernel.panic": "1",  # not namespaced
            "vm.swappiness": "10",  # not namespaced
            "net.ipv4.ip_forward": "1",  # needs its own network namespace
            "kernel.hostname": "x",  # needs a uts namespace
            "kernel.shmmax": "1000000",  # ipc: fine
            "kernel.msgmax": "8192",
            "kernel.sem": "250 32000 32 128",
            "fs.mqueue.msg_max": "10",
        }

    rc, out = edit(bundle, fn)
    assert rc == 1
    bad = {"kernel.panic", "vm.swappiness", "net.ipv4.ip_forward", "kernel.hostname"}
    assert {f["path"] for f in errors(out)} == {f'$.linux.sysctl["{k}"]' for k in bad}
    assert all(f["spec"] == "config-linux.md#sysctl" for f in out)


def test_sysctls_with_their_namespaces(bundle):
    def fn(c):
        c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.domainname": "d",
                                "net.ipv4.ping_group_range": "0 0", "kernel.shmall": "1"}

    assert edit(bundle, fn) == (0, [])

    def ipc_missing(c):
        _ns(c, "pid", "uts", "network")
        c["linux"]["sysctl"] = {"fs.mqueue.queues_max": "10"}

    rc, out = edit(bundle, ipc_missing)
    find(out, '$.linux.sysctl["fs.mqueue.queues_max"]')


def test_joined_network_namespace_for_net_sysctl(bundle):
    """Joining the host's network namespace is no namespace of its own (as
    runc); joining another one is."""
    def fn(c):
        c["linux"]["namespaces"][1] = {"type": "network", "path": "/proc/self/ns/net"}
        c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}

    rc, out = edit(bundle, fn)
    find(out, '$.linux.sysctl["net.ipv4.ip_forward"]')
    sleeper = subprocess.Popen(["unshare", "--net", "sleep", "30"])
    try:
        path = f"/proc/{sleeper.pid}/ns/net"
        for _ in range(200):  # until unshare has made it
            if os.stat(path).st_ino != os.stat("/proc/self/ns/net").st_ino:
                break
            subprocess.run(["sleep", "0.01"])
        bundle.config["linux"]["namespaces"][1]["path"] = path
        bundle.write()
        assert findings(bundle) == (0, [])
    finally:
        sleeper.kill()
        sleeper.wait()


def test_unknown_sysctl_is_a_warning(bundle):
    bundle.config["linux"]["sysctl"] = {"net.ipv4.no_such_knob": "1"}
    bundle.write()
    rc, out = findings(bundle)
    assert rc == 0
    find(out, '$.linux.sysctl["net.ipv4.no_such_knob"]', "warning")


# -- seccomp -------------------------------------------------------------------------------

def test_seccomp(bundle):
    def fn(c):
        c["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_NOPE"],
            "syscalls": [
                {"names": ["read", "no_such_syscall", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mkdir"], "action": "SCMP_ACT_EXPLODE"},
                {"names": ["chown32"], "action": "SCMP_ACT_ALLOW"},  # another arch's: known
            ],
        }

    rc, out = edit(bundle, fn)
    assert rc == 1
    base = "$.linux.seccomp"
    find(out, f"{base}.architectures[1]")
    find(out, f"{base}.architectures[2]")
    find(out, f"{base}.syscalls[1].action")
    if check_mod.syscall_known() is not None:
        w = find(out, f"{base}.syscalls[0].names[1]", "warning")
        assert w["spec"] == "config-linux.md#seccomp"
    assert {f["path"] for f in out} <= {f"{base}.architectures[1]", f"{base}.architectures[2]",
                                        f"{base}.syscalls[1].action",
                                        f"{base}.syscalls[0].names[1]"}


def test_unknown_syscall_alone_is_not_an_error(bundle):
    if check_mod.syscall_known() is None:
        pytest.skip("no libseccomp.so.2")
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"}]}
    bundle.write()
    rc, out = findings(bundle)
    assert rc == 0 and len(out) == 1
    find(out, "$.linux.seccomp.syscalls[0].names[0]", "warning")


def test_seccomp_semantic_error(bundle):
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_NOTIFY"}
    bundle.write()
    rc, out = findings(bundle)
    find(out, "$.linux.seccomp.defaultAction")


# -- cgroups -------------------------------------------------------------------------------

def _controllers() -> set[str]:
    from pyrunc.cgroups.common import Cgroup
    from pyrunc.cgroups.host import hierarchies

    cg = Cgroup({h.name or "unified": h.mountpoint for h in hierarchies()})
    return set(cg.v1) | cg.v2_controllers


def test_missing_controllers(bundle):
    have = _controllers()
    res = bundle.config["linux"]["resources"]
    res["hugepageLimits"] = [{"pageSize": "64KB", "limit": 1 << 20}]
    expect = []
    if "rdma" not in have:
        res["rdma"] = {"mlx5_1": {"hcaHandles": 3}}
        expect.append("$.linux.resources.rdma")
    if "net_cls" not in have:
        res["network"] = {"classID": 1048577}
        expect.append("$.linux.resources.network.classID")
    if "net_prio" not in have:
        res.setdefault("network", {})["priorities"] = [{"name": "eth0", "priority": 5}]
        expect.append("$.linux.resources.network.priorities")
    if "hugetlb" in have and "64KB" not in check_mod.hugepage_sizes():
        expect.append("$.linux.resources.hugepageLimits[0].pageSize")
    elif "hugetlb" not in have:
        expect.append("$.linux.resources.hugepageLimits")
    if not expect:
        pytest.skip("this host has every controller and a 64KB huge page size")
    bundle.write()
    rc, out = findings(bundle)
    assert rc == 1
    assert {f["path"] for f in errors(out)} == set(expect)
    specs = {f["path"]: f["spec"] for f in out}
    if "$.linux.resources.rdma" in specs:
        assert specs["$.linux.resources.rdma"] == "config-linux.md#rdma"


def test_available_controllers_are_clean(bundle):
    have = _controllers()
    res = bundle.config["linux"]["resources"]
    if "memory" in have:
        res["memory"] = {"limit": 64 << 20}
    if "pids" in have:
        res["pids"] = {"limit": 100}
    if "cpu" in have:
        res["cpu"] = {"shares": 512}
    sizes = check_mod.hugepage_sizes()
    if "hugetlb" in have and sizes:
        res["hugepageLimits"] = [{"pageSize": s, "limit": 0} for s in sorted(sizes)]
    bundle.write()
    assert findings(bundle) == (0, [])


# -- root ----------------------------------------------------------------------------------

def test_root_path_missing(bundle):
    bundle.config["root"]["path"] = "nope"
    bundle.write()
    rc, out = findings(bundle)
    assert rc == 1 and len(out) == 1
    f = find(out, "$.root.path")
    assert f["spec"] == "config.md#root" and str(bundle.path / "nope") in f["message"]


def test_root_path_is_a_file(bundle):
    (bundle.path / "file").write_text("")
    bundle.config["root"]["path"] = str(bundle.path / "file")
    bundle.write()
    rc, out = findings(bundle)
    assert "not a directory" in find(out, "$.root.path")["message"]


# -- clean bundles -------------------------------------------------------------------------

def test_pyrunc_spec_is_clean(tmp_path, rootfs_template):
    b = tmp_path / "b"
    b.mkdir()
    shutil.copytree(rootfs_template, b / "rootfs", symlinks=True)
    subprocess.run([*pyrunc_cmd(), "spec", "--bundle", str(b)], check=True)
    rc, out = findings(b)
    assert (rc, out) == (0, [])
    # --rootless too (the ids are mapped; uid 0 is root's)
    os.unlink(b / "config.json")
    subprocess.run([*pyrunc_cmd(), "spec", "--rootless", "--bundle", str(b)], check=True)
    assert findings(b) == (0, [])


def _replace_placeholders(node, subst: dict):
    if isinstance(node, str):
        for k, v in subst.items():
            node = node.replace(k, v)
        return node
    if isinstance(node, list):
        return [_replace_placeholders(x, subst) for x in node]
    if isinstance(node, dict):
        return {k: _replace_placeholders(v, subst) for k, v in node.items()}
    return node


def client_config(name: str, bundle_dir, hostdir) -> dict:
    """A client's recorded config.json made runnable on this machine:
    - placeholders: <D> (the client's private directory) becomes `hostdir`,
      <id>/<short-id> a made-up id, <bundle> the bundle;
    - root.path points at the busybox rootfs, process.args at /bin/sh (the
      image's programs are not in busybox);
    - bind mount sources under <D> (resolv.conf, hosts, hostname, shm, ...) only
      existed on the machine that wrote the config: they are made here, empty;
    - docker's prestart hook (/proc/<dockerd-pid>/exe libnetwork-setkey) needs a
      running dockerd: dropped;
    - rlimits above this host's hard limits are lowered to them (podman's
      RLIMIT_NOFILE 20000 is exactly the hard limit here)."""
    with open(os.path.join(CLIENT_SPECS, name)) as f:
        config = json.load(f)
    config = _replace_placeholders(config, {"<D>": str(hostdir), "<short-id>": "0123456789ab",
                                            "<id>": "0123456789ab" * 4,
                                            "<bundle>": str(bundle_dir)})
    config["root"]["path"] = str(bundle_dir / "rootfs")
    config["process"]["args"] = ["/bin/sh", "-c", "true"]
    config.pop("hooks", None)
    for m in config.get("mounts", []):
        opts = m.get("options", [])
        if (m.get("type") == "bind" or "bind" in opts or "rbind" in opts) and \
                m["source"].startswith(str(hostdir)):
            os.makedirs(os.path.dirname(m["source"]), exist_ok=True)
            if m["destination"] == "/dev/shm":
                os.makedirs(m["source"], exist_ok=True)
            else:
                open(m["source"], "a").close()
    for rl in config["process"].get("rlimits", []):
        kind = getattr(resource, rl["type"])
        hard = resource.getrlimit(kind)[1]
        if hard != resource.RLIM_INFINITY and rl["hard"] > hard:
            rl["hard"] = hard
            rl["soft"] = min(rl["soft"], hard)
    return config


CLIENTS = sorted(f for f in os.listdir(CLIENT_SPECS) if f.endswith("-run-config.json")) \
    if os.path.isdir(CLIENT_SPECS) else []


@pytest.mark.parametrize("name", CLIENTS)
def test_client_configs_are_clean(bundle, tmp_path, name):
    """No errors; warnings are allowed (a profile may name syscalls newer than
    this libseccomp)."""
    bundle.config = client_config(name, bundle.path, tmp_path / "client")
    bundle.write()
    rc, out = findings(bundle)
    assert rc == 0, json.dumps(errors(out), indent=1)
    for f in out:
        assert f["path"].startswith("$.linux.seccomp.syscalls"), f


def test_client_configs_found():
    if not os.path.isdir(CLIENT_SPECS):
        pytest.skip(f"{CLIENT_SPECS} is not here")
    assert len(CLIENTS) >= 3


# -- check changes nothing -----------------------------------------------------------------

def _tree(path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def test_check_creates_nothing(bundle, tmp_path):
    """No state dir, no cgroup, no mount, no file in the bundle; even with
    resources and cgroupsPath set."""
    bundle.config["linux"]["cgroupsPath"] = f"/pyrunc-check-{os.getpid()}"
    bundle.config["linux"]["resources"]["pids"] = {"limit": 10}
    bundle.write()
    root = tmp_path / "state"
    before, tree = Snapshot.take(), _tree(tmp_path)
    p = run_check(bundle, root=str(root))
    assert p.returncode == 0, p.stdout
    bundle.set_args("/bin/nope")
    tree = _tree(tmp_path)
    p = run_check(bundle, fmt="text", root=str(root))
    assert p.returncode == 1
    assert not root.exists()
    assert _tree(tmp_path) == tree
    leaks = Snapshot.take().leaks_since(before, (str(tmp_path), "pyrunc-check", "/check"),
                                        wait=0)
    assert not leaks
    assert not os.path.exists(f"/sys/fs/cgroup/pids/pyrunc-check-{os.getpid()}")


# -- the command line ----------------------------------------------------------------------

def test_bad_format(bundle):
    p = subprocess.run([*pyrunc_cmd(), "check", "--format", "yaml", str(bundle)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and p.stderr.startswith("pyrunc: invalid --format"), p.stderr


def test_too_many_arguments(bundle):
    p = subprocess.run([*pyrunc_cmd(), "check", str(bundle), "x"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1 and p.stderr.startswith(
        'pyrunc: "check" requires a maximum of 1 argument(s)'), p.stderr


def test_text_has_one_line_per_finding(bundle):
    def fn(c):
        c["process"]["capabilities"]["bounding"].append("CAP_FOO\nerror $.x: forged")
        c["mounts"].append({"destination": "rel\nwarn", "type": "tmpfs", "source": "t"})

    fn(bundle.config)
    bundle.write()
    p = run_check(bundle, fmt="text")
    lines = p.stdout.splitlines()
    assert lines[-1] == "1 error, 1 warning"
    assert len(lines) == 3 and lines[0].startswith("error ") and lines[1].startswith("warning ")


# -- in-process: the resolver, and bad documents never crash ----------------------------------

def test_resolve_in_root(tmp_path):
    r = tmp_path / "r"
    (r / "a/b").mkdir(parents=True)
    (r / "a/b/f").write_text("")
    os.symlink("/a/b", r / "abs")
    os.symlink("../../../../a", r / "up")
    os.symlink("b/f", r / "a/rel")
    os.symlink("self", r / "self")
    os.symlink("/a/b/f", r / "file")
    root = str(r)
    assert resolve_in_root(root, "/abs/f") == f"{root}/a/b/f"
    assert resolve_in_root(root, "/up/b/../b/f") == f"{root}/a/b/f"
    assert resolve_in_root(root, "/../../../a/rel") == f"{root}/a/b/f"
    assert resolve_in_root(root, "rel", cwd="/a") == f"{root}/a/b/f"
    assert resolve_in_root(root, "/abs/..") == f"{root}/a"
    assert resolve_in_root(root, "/") == root
    for bad, err in (("/self", 40), ("/nope", 2), ("/file/x", 20), ("/a/b/f/x", 20)):
        with pytest.raises(OSError) as e:
            resolve_in_root(root, bad)
        assert e.value.errno == err, bad


def test_elf_and_shebang(tmp_path):
    assert check_mod.elf_interpreter("/bin/busybox") is None  # static
    (tmp_path / "s").write_bytes(b"#! /bin/sh -x\n")
    (tmp_path / "e").write_bytes(b"\x7fELF\x02\x01" + b"\0" * 10)  # truncated
    assert check_mod.shebang(str(tmp_path / "s")) == "/bin/sh"
    assert check_mod.shebang("/bin/busybox") is None
    assert check_mod.elf_interpreter(str(tmp_path / "e")) is None
    assert check_mod.elf_interpreter(str(tmp_path / "s")) is None


def _mutations(doc, path=()):
    """Every value replaced by values of other types."""
    for bad in (None, True, -1, 2**70, "x", [], {}, [None], {"x": None}):
        yield path, bad
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _mutations(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _mutations(v, (*path, i))


def test_bad_documents_never_crash(tmp_path, rootfs_template):
    """Every field of a full config given a value of another type: findings,
    never an exception, and no check left incomplete."""
    b = tmp_path / "b"
    b.mkdir()
    os.symlink(rootfs_template, b / "rootfs")
    base = json.loads((rootfs_template.parent / "config.json").read_text())
    base["process"]["args"] = ["true"]
    base["process"]["rlimits"].append({"type": "RLIMIT_CORE", "soft": 0, "hard": 0})
    base["process"]["user"]["additionalGids"] = [1]
    base["linux"]["sysctl"] = {"net.ipv4.ip_forward": "0"}
    base["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [
        "SCMP_ARCH_X86_64"], "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                           "args": [{"index": 0, "value": 1,
                                                     "op": "SCMP_CMP_EQ"}]}]}
    base["linux"]["resources"]["pids"] = {"limit": 10}
    base["mounts"].append({"destination": "/d", "type": "bind", "source": "/tmp",
                           "options": ["rbind"]})
    checker = check_mod.Checker()
    check_mod.check_config(checker, base, str(b))
    assert not checker.findings, checker.findings
    count = 0
    for path, bad in _mutations(base):
        if not path:
            continue
        doc = copy.deepcopy(base)
        node = doc
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = bad
        c = check_mod.Checker()
        check_mod.check_config(c, doc, str(b))
        for f in c.findings:
            assert f.severity in ("error", "warning") and f.path.startswith("$")
            assert "could not be completed" not in f.message, (path, bad, f)
        count += 1
    assert count > 500


def test_section_mapping():
    s = check_mod.section
    assert s("$.process.args[0]") == "config.md#process"
    assert s("$.process.user.uid") == "config.md#user"
    assert s("$.linux.uidMappings[0].size") == "config-linux.md#user-namespace-mappings"
    assert s('$.linux.sysctl["net.ipv4.ip_forward"]') == "config-linux.md#sysctl"
    assert s("$.linux.resources.hugepageLimits[0].pageSize") == \
        "config-linux.md#huge-page-limits"
    assert s("$.linux.resourcesX") == "config.md#platform-specific-configuration"
    assert s("$.unknown") == "config.md"
    assert s("$") == "config.md"
    # every section names a heading of the spec that is here
    spec_dir = shared_path("runtime-spec")
    if not os.path.isdir(spec_dir):
        return
    import re

    anchors = {}
    for doc in ("config.md", "config-linux.md", "bundle.md"):
        with open(os.path.join(spec_dir, doc)) as f:
            heads = re.findall(r"^#+ (?:<a name=\"\w+\" />)?(.+)$", f.read(), re.M)
        anchors[doc] = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-")
                        for h in heads}
    for sec in [*check_mod.SECTIONS.values(), check_mod.BUNDLE_SECTION]:
        doc, _, anchor = sec.partition("#")
        assert not anchor or anchor in anchors[doc], sec


def test_bundle_mode_bits_untouched(bundle):
    mode = stat.S_IMODE(os.stat(bundle.path / "config.json").st_mode)
    findings(bundle)
    assert stat.S_IMODE(os.stat(bundle.path / "config.json").st_mode) == mode
