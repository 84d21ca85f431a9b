"""How the init gets into its cgroups (csrc/cgroup.c): stage 1 writes "0" to
each v1 hierarchy's tasks file and clones the container into its v2 cgroup,
so that no write of a pid to cgroup.procs waits for an RCU grace period.
Checked from the host and from inside, on this host's hybrid layout (the VM
tier checks pure v2)."""

import json
import os
import shutil
import sys
import time

import pytest

from pyrunc.cgroups import host as cgroups

SLEEPER = ("sh", "-c", "while :; do sleep 1; done")


def _state_file(runtime, cid: str) -> dict:
    with open(os.path.join(runtime.root, cid, "state.json")) as f:
        return json.load(f)


def _host_view(pid: int) -> dict[str, str]:
    """/proc/PID/cgroup as {hierarchy key as in state.json: path}."""
    own = cgroups.own_cgroups(str(pid))
    return {("unified" if k == "" else k): v for k, v in own.items()}


def _expected(paths: dict[str, str]) -> dict[str, str]:
    """The cgroup path (from the hierarchy's root) of each directory in paths."""
    roots = {h.name or "unified": h for h in cgroups.hierarchies()}
    out = {}
    for key, d in paths.items():
        h = roots[key]
        rel = os.path.relpath(d, h.mountpoint)
        out[key] = os.path.normpath(os.path.join(h.root, rel))
    return out


def test_init_is_in_every_hierarchy(runtime, bundle):
    """The container's init (and so its processes) sit in the container's
    cgroup of every v1 hierarchy and of the v2 one; stage 1 is gone."""
    bundle.set_args("sleep", "1000")  # one process
    runtime("run", "-d", "-b", str(bundle), "ct-join", check=True)
    pid = runtime.state("ct-join")["pid"]
    paths = _state_file(runtime, "ct-join")["cgroup"]
    assert len(paths) > 1
    seen = _host_view(pid)
    for key, want in _expected(paths).items():
        assert seen[key] == want, (key, seen)
    for key, d in paths.items():  # and only the init: stage 1 exited
        with open(os.path.join(d, "cgroup.procs")) as f:
            assert f.read().split() == [str(pid)], key


def test_cgroup_namespace_root_is_the_container(runtime, bundle):
    """With a new cgroup namespace, every hierarchy's line reads "/": its
    root is the container's cgroup, not stage 1's (which it would be if the
    namespace were made by the clone into the v2 cgroup)."""
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    out = runtime.run_output(bundle, "cat", "/proc/self/cgroup", cid="ct-cgns")
    lines = out.split()
    assert len(lines) == len(cgroups.own_cgroups())
    assert all(line.endswith(":/") for line in lines), out


def test_joined_cgroup_namespace(runtime, bundle, tmp_path, rootfs_template):
    """A container that joins another's cgroup namespace by path: its init
    is in its own cgroups all the same (pyrunc moves it into the v2 one from
    the host), and sees them relative to the joined namespace's root."""
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-owner", check=True)
    owner = runtime.state("ct-owner")["pid"]
    other = tmp_path / "other"
    other.mkdir()
    shutil.copytree(rootfs_template, other / "rootfs", symlinks=True)
    cfg = json.loads(json.dumps(bundle.config))
    cfg["linux"]["namespaces"] = [
        n for n in cfg["linux"]["namespaces"] if n["type"] != "cgroup"
    ] + [{"type": "cgroup", "path": f"/proc/{owner}/ns/cgroup"}]
    cfg["process"]["args"] = list(SLEEPER)
    (other / "config.json").write_text(json.dumps(cfg))
    runtime("run", "-d", "-b", str(other), "ct-joiner", check=True)
    pid = runtime.state("ct-joiner")["pid"]
    assert os.readlink(f"/proc/{pid}/ns/cgroup") == os.readlink(f"/proc/{owner}/ns/cgroup")
    paths = _state_file(runtime, "ct-joiner")["cgroup"]
    seen = _host_view(pid)
    for key, want in _expected(paths).items():
        assert seen[key] == want, (key, seen)


@pytest.mark.skipif(not os.path.isdir("/sys/fs/cgroup/cpuset"), reason="no v1 cpuset")
def test_existing_empty_cpuset_is_filled(runtime, bundle):
    """An existing v1 cpuset cgroup without cpus or mems (made by hand) no
    longer refuses the init (ENOSPC): as runc, its empty files are filled from
    its parent's; and pyrunc removes only what it made."""
    name = f"pyrunc-test-nocpus-{os.getpid()}"
    empty = f"/sys/fs/cgroup/cpuset/{name}"
    os.mkdir(empty)
    try:
        bundle.config["linux"]["cgroupsPath"] = f"/{name}"
        bundle.write()
        runtime("create", "-b", str(bundle), "ct-nocpus", check=True)
        pid = runtime.state("ct-nocpus")["pid"]
        with open(os.path.join(empty, "tasks")) as f:
            assert str(pid) in f.read().split()
        for fn in ("cpuset.cpus", "cpuset.mems"):
            with open(os.path.join(empty, fn)) as f, \
                    open(os.path.join("/sys/fs/cgroup/cpuset", fn)) as root:
                assert f.read() == root.read()
        runtime("delete", "--force", "ct-nocpus", check=True)
        assert _dirs_named(name) == [empty]  # (not made by pyrunc: kept)
    finally:
        for d in _dirs_named(name):
            os.rmdir(d)


def _dirs_named(name: str) -> list[str]:
    return [d for h in cgroups.hierarchies()
            if os.path.isdir(d := os.path.join(h.mountpoint, name))]


NO_CLONE3 = r"""
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Run argv[1..] as on a kernel without clone3 (before 5.3): ENOSYS. */
int main(int argc, char **argv)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	if (argc < 2 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return 125;
	execvp(argv[1], argv + 1);
	return 127;
}
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the filter is for x86_64")
def test_kernel_without_clone3(runtime, bundle, tmp_path):
    """Where clone3 is missing (ENOSYS), stage 1 moves itself into the v2
    cgroup through cgroup.procs and clones the old way: the container is in
    its cgroups all the same, and its cgroup namespace is rooted there."""
    import subprocess

    src = tmp_path / "no_clone3.c"
    src.write_text(NO_CLONE3)
    wrapper = tmp_path / "no_clone3"
    subprocess.run(["cc", "-o", str(wrapper), str(src)], check=True)
    probe = subprocess.run([str(wrapper), sys.executable, "-c",
                            "import os, ctypes; print(ctypes.CDLL(None, use_errno=True)"
                            ".syscall(435, 0, 0), ctypes.get_errno() == 38)"],
                           capture_output=True, text=True)
    assert probe.stdout.split() == ["-1", "True"], probe  # the wrapper works
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    bundle.set_args("sh", "-c", "cat /proc/self/cgroup; sleep 100")
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "w") as o, open(err, "w") as e:  # (files: the container keeps them)
        p = subprocess.run([str(wrapper), *runtime.cmd, "--root", runtime.root, "run", "-d",
                            "-b", str(bundle), "ct-noclone3"], stdout=o, stderr=e, timeout=60)
    runtime.ids.add("ct-noclone3")
    assert p.returncode == 0, err.read_text()
    pid = runtime.state("ct-noclone3")["pid"]
    seen = _host_view(pid)
    for key, want in _expected(_state_file(runtime, "ct-noclone3")["cgroup"]).items():
        assert seen[key] == want, (key, seen)
    deadline = time.monotonic() + 10
    while out.read_text().count("\n") < len(seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = out.read_text().split()
    assert len(lines) == len(seen) and all(line.endswith(":/") for line in lines), lines
