"""LSM settings (process.apparmorProfile, process.selinuxLabel,
linux.mountLabel) never fail open: on a host without the LSM they are an
error naming the field; where the host has AppArmor, the profile confines the
process (tests/vm_tier/test_apparmor.py, in a VM whose kernel has it)."""

import json
import os

import pytest

from pyrunc.linux import lsm

CASES = {
    "apparmor": (("process", "apparmorProfile"), "pyrunc-test",
                 "$.process.apparmorProfile: apparmor profile is specified in config, but "
                 "apparmor is not enabled on this host", lsm.apparmor_enabled),
    "selinux": (("process", "selinuxLabel"), "system_u:system_r:container_t:s0",
                "$.process.selinuxLabel: selinux label is specified in config, but selinux "
                "is disabled or not supported", lsm.selinux_enabled),
    "mountLabel": (("linux", "mountLabel"), "system_u:object_r:container_file_t:s0",
                   "$.linux.mountLabel: selinux mount label is specified in config, but "
                   "selinux is disabled or not supported", lsm.selinux_enabled),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_lsm_setting_without_the_lsm_is_an_error(runtime, bundle, name):
    (top, key), value, message, enabled = CASES[name]
    if enabled():
        pytest.skip(f"this host has the LSM of {key}")
    bundle.config[top][key] = value
    bundle.write()
    p = runtime("run", "-b", str(bundle), "ct-lsm")
    assert p.returncode == 1
    assert p.err == f"pyrunc: config.json: {message}\n"
    assert not os.path.exists(os.path.join(runtime.root, "ct-lsm"))
    c = runtime("check", str(bundle), "--format", "json")
    assert c.returncode == 1
    assert {"severity": "error", "path": message.split(":")[0]} in [
        {k: f[k] for k in ("severity", "path")} for f in json.loads(c.out)]


@pytest.mark.parametrize("flag,field", [("--apparmor", "apparmorProfile"),
                                        ("--process-label", "selinuxLabel")])
def test_exec_lsm_flag_without_the_lsm_is_an_error(runtime, bundle, tmp_path, flag, field):
    if lsm.apparmor_enabled() or lsm.selinux_enabled():
        pytest.skip("this host has an LSM")
    bundle.set_args("sh", "-c", "while :; do sleep 1; done")
    runtime("run", "-d", "-b", str(bundle), "ct-lsm", check=True)
    p = runtime("exec", flag, "x", "ct-lsm", "true")
    assert p.returncode in (1, 255) and p.err.count("\n") == 1
    assert f"$.{field}: " in p.err and "Traceback" not in p.err, p.err
    f = tmp_path / "process.json"
    f.write_text(json.dumps({"args": ["true"], "cwd": "/", field: "x"}))
    p = runtime("exec", "--process", str(f), "ct-lsm")
    assert p.returncode in (1, 255) and f"$.{field}: " in p.err, p.err


def test_mount_label_is_each_filesystem_mounts_context():
    """Where SELinux is enabled, linux.mountLabel is the context= option of
    the filesystem mounts (not of bind, proc, sysfs, mqueue or cgroup mounts)."""
    label = "system_u:object_r:container_file_t:s0:c1,c2"
    assert lsm.mount_data("mode=755", "tmpfs", False, label) == \
        f'mode=755,context="{label}"'
    assert lsm.mount_data("", "devpts", False, label) == f'context="{label}"'
    for fstype, bind in (("proc", False), ("sysfs", False), ("none", True), ("cgroup", False)):
        assert lsm.mount_data("x", fstype, bind, label) == "x"
