"""AppArmor, inside the VM: Debian's 6.1 kernel enables it by default (the
host's kernel has no LSM). A profile loaded with Debian's apparmor_parser
confines the container's process, from create and from exec."""

import os
import shutil
import subprocess

import pytest

from pyrunc.linux import lsm

pytestmark = pytest.mark.skipif(os.environ.get("RUN_IN_VM") != "1",
                                reason="runs only inside the VM (RUN_IN_VM=1)")
PROFILE = """profile pyrunc-test flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  signal,
  mount,
  umount,
  pivot_root,
  ptrace,
  unix,
  network,
  deny /etc/hostname r,
}
"""


@pytest.fixture
def profile(tmp_path):
    assert lsm.apparmor_enabled(), "the VM's kernel should have AppArmor enabled"
    parser = shutil.which("apparmor_parser")
    assert parser, "apparmor_parser is missing: apt-get install apparmor"
    f = tmp_path / "profile"
    f.write_text(PROFILE)
    subprocess.run([parser, "-r", str(f)], check=True)
    yield "pyrunc-test"
    subprocess.run([parser, "-R", str(f)], check=True)


def test_apparmor_profile_confines_the_process(runtime, bundle, profile):
    bundle.config["process"]["apparmorProfile"] = profile
    bundle.set_args("sh", "-c", "cat /proc/self/attr/current; cat /etc/hostname; echo cat=$?; "
                    "exec sleep 1000")
    runtime("run", "-d", "-b", str(bundle), "ct-aa", check=True, timeout=300)
    pid = runtime.state("ct-aa")["pid"]
    with open(f"/proc/{pid}/attr/current") as f:
        assert f.read().strip() == "pyrunc-test (enforce)"
    # exec inherits the container's profile (as runc)
    p = runtime("exec", "ct-aa", "sh", "-c", "cat /proc/self/attr/current; cat /etc/hostname",
                timeout=300)
    assert p.returncode == 1 and "Permission denied" in p.err, (p.out, p.err)
    assert p.out.splitlines() == ["pyrunc-test (enforce)"]
    runtime("delete", "-f", "ct-aa", check=True)
    # and without one: unconfined
    del bundle.config["process"]["apparmorProfile"]
    bundle.set_args("sh", "-c", "cat /proc/self/attr/current; cat /etc/hostname")
    p = runtime("run", "-b", str(bundle), "ct-aa", timeout=300)
    assert p.returncode == 0, p.err
    assert p.out.splitlines() == ["unconfined", "pyrunc"]


def test_exec_apparmor_flag(runtime, bundle, profile):
    bundle.set_args("sleep", "1000")
    runtime("run", "-d", "-b", str(bundle), "ct-aa", check=True, timeout=300)
    p = runtime("exec", "--apparmor", profile, "ct-aa", "cat", "/proc/self/attr/current",
                timeout=300)
    assert p.returncode == 0, p.err
    assert p.out.strip() == "pyrunc-test (enforce)"


def test_unknown_profile_is_an_error(runtime, bundle, profile):
    bundle.config["process"]["apparmorProfile"] = "pyrunc-no-such-profile"
    bundle.set_args("true")
    p = runtime("run", "-b", str(bundle), "ct-aa", timeout=300)
    assert p.returncode == 1 and p.err.count("\n") == 1, p.err
    assert p.err.startswith("pyrunc: $.process.apparmorProfile: applying apparmor profile "
                            "\"pyrunc-no-such-profile\": "), p.err
