"""Process attributes, checked from inside real containers."""

import os


def status_fields(text: str) -> dict[str, str]:
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def test_user_groups_umask(runtime, bundle):
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 100],
                                        "umask": 0o027}
    out = runtime.run_output(bundle, "sh", "-c", "id -u; id -g; id -G; umask")
    uid, gid, groups, umask = out.splitlines()
    assert (uid, gid) == ("1000", "1001")
    assert sorted(groups.split()) == ["100", "1001", "5"]
    assert umask == "0027"


def test_default_umask_is_0022(runtime, bundle):
    assert runtime.run_output(bundle, "sh", "-c", "umask") == "0022\n"


def test_capabilities(runtime, bundle):
    caps = {"bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"],
            "effective": ["CAP_KILL", "CAP_CHOWN"],
            "permitted": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"],
            "inheritable": ["CAP_CHOWN"],
            "ambient": ["CAP_CHOWN"]}
    bundle.config["process"]["capabilities"] = caps
    st = status_fields(runtime.run_output(bundle, "cat", "/proc/self/status"))
    # CHOWN=0 KILL=5 NET_RAW=13; after execve effective = permitted of the
    # new image: ambient (CHOWN) for a non-setuid program run by root
    assert int(st["CapBnd"], 16) == (1 << 0) | (1 << 5) | (1 << 13)
    assert int(st["CapInh"], 16) == 1 << 0
    assert int(st["CapAmb"], 16) == 1 << 0
    assert int(st["CapPrm"], 16) == (1 << 0) | (1 << 5) | (1 << 13)
    assert int(st["CapEff"], 16) == (1 << 0) | (1 << 5) | (1 << 13)


def test_capabilities_non_root(runtime, bundle):
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["capabilities"] = {
        k: ["CAP_NET_BIND_SERVICE"] for k in ("bounding", "effective", "permitted",
                                              "inheritable", "ambient")}
    st = status_fields(runtime.run_output(bundle, "cat", "/proc/self/status"))
    assert int(st["CapEff"], 16) == 1 << 10
    assert int(st["CapBnd"], 16) == 1 << 10


def test_rlimits(runtime, bundle):
    bundle.config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}]
    out = runtime.run_output(bundle, "cat", "/proc/self/limits")
    rows = {line[:26].strip(): line[26:].split()[:2] for line in out.splitlines()[1:]}
    assert rows["Max open files"] == ["512", "2048"]
    assert rows["Max core file size"] == ["0", "0"]
    assert rows["Max processes"] == ["300", "400"]


def test_rlimit_above_hard_limit_fails(runtime, bundle):
    with open("/proc/self/limits") as f:
        hard = next(line for line in f if line.startswith("Max open files")).split()[4]
    bundle.config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": int(hard) + 1, "hard": int(hard) + 1}]
    bundle.set_args("true")
    p = runtime("run", "-b", str(bundle), "ct-rl")
    assert p.returncode == 1 and "rlimit" in p.err


def test_no_new_privileges(runtime, bundle):
    for nnp, want in ((True, "1"), (False, "0")):
        bundle.config["process"]["noNewPrivileges"] = nnp
        st = status_fields(runtime.run_output(bundle, "cat", "/proc/self/status"))
        assert st["NoNewPrivs"] == want


def test_oom_score_adj(runtime, bundle):
    bundle.config["process"]["oomScoreAdj"] = 345
    assert runtime.run_output(bundle, "cat", "/proc/self/oom_score_adj") == "345\n"


def test_cwd_env_args(runtime, bundle):
    bundle.config["process"]["cwd"] = "/tmp/work/dir"
    bundle.config["process"]["env"] = ["PATH=/bin", "FOO=bar baz", "EMPTY="]
    out = runtime.run_output(bundle, "sh", "-c", 'pwd; echo "$FOO"; echo "[$EMPTY]"; echo $HOME',
                             cid="ct-env")
    assert out.splitlines() == ["/tmp/work/dir", "bar baz", "[]", "/root"]


def test_home_from_passwd(runtime, bundle):
    bundle.config["process"]["user"] = {"uid": 65534, "gid": 65534}
    assert runtime.run_output(bundle, "sh", "-c", "echo $HOME") == "/home\n"


def test_home_through_passwd_symlinks(runtime, bundle, host_dir):
    """A passwd reached through a symlink inside the rootfs is read; one that
    leads out of it, to the host, is not (HOME is then /)."""
    etc = bundle.rootfs / "etc"
    (etc / "passwd").rename(etc / "passwd.real")
    (etc / "passwd").symlink_to("passwd.real")
    assert runtime.run_output(bundle, "sh", "-c", "echo $HOME", cid="ct-home-in") == "/root\n"
    with open(os.path.join(host_dir, "passwd"), "w") as f:
        f.write("root:x:0:0:root:/host-secret:/bin/sh\n")
    (etc / "passwd").unlink()
    (etc / "passwd").symlink_to(os.path.join(host_dir, "passwd"))
    assert runtime.run_output(bundle, "sh", "-c", "echo $HOME", cid="ct-home-out") == "/\n"


def test_missing_cwd_is_created(runtime, bundle):
    bundle.config["process"]["cwd"] = "/does/not/exist"
    assert runtime.run_output(bundle, "pwd") == "/does/not/exist\n"
    assert (bundle.rootfs / "does/not/exist").is_dir()


def test_cwd_not_a_directory_fails(runtime, bundle):
    bundle.config["process"]["cwd"] = "/etc/passwd"
    bundle.set_args("true")
    p = runtime("run", "-b", str(bundle), "ct-cwd")
    assert p.returncode == 1 and "/etc/passwd" in p.err


def test_program_found_in_path(runtime, bundle):
    bundle.config["process"]["env"] = ["PATH=/nothere:/bin"]
    assert runtime.run_output(bundle, "echo", "found") == "found\n"


def test_session_keyring(runtime, bundle):
    """As runc: each container joins a session keyring of its own, named after
    its id; --no-new-keyring keeps the caller's."""
    bundle.config["linux"]["maskedPaths"].remove("/proc/keys")
    out = runtime.run_output(bundle, "cat", "/proc/keys", cid="ct-keyring")
    assert "_ses.ct-keyring" in out
    p = runtime("run", "--no-new-keyring", "-b", str(bundle), "ct-nokeyring")
    assert p.returncode == 0 and "_ses.ct-nokeyring" not in p.out
