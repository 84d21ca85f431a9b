"""Limits a default container keeps, checked from inside a real container:

- CVE-2022-29162: `exec --cap` never grants inheritable capabilities;
- CVE-2023-25809: /sys/fs/cgroup is read-only without a cgroup namespace;
- device rules deny by default (mknod of a block device fails), tun allowed;
- crun CVE-2026-30892: `exec -u` takes only a plain decimal uid[:gid].
"""

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrunc.config.execspec import MAX_ID, parse_user
from pyrunc.errors import PyruncError

SLEEPER = ("sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.05; done")


@pytest.fixture
def running(runtime, bundle):
    bundle.set_args(*SLEEPER)
    runtime("run", "-d", "-b", str(bundle), "ct-lim", check=True)
    return runtime


def _caps(text: str) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split()[1], 16) for line in text.splitlines()
            if line.startswith("Cap")}


# -- CVE-2022-29162: no inheritable capabilities from exec --cap -------------------

@pytest.mark.parametrize("extra", [(), ("-u", "1000:1000")], ids=["root", "uid1000"])
def test_exec_cap_is_never_inheritable(running, extra):
    p = running("exec", *extra, "--cap", "CAP_SYS_ADMIN", "--cap", "CAP_NET_ADMIN", "ct-lim",
                "sh", "-c", "grep ^Cap /proc/self/status; sh -c 'grep ^Cap /proc/self/status'")
    assert p.returncode == 0, p.err
    lines = p.out.splitlines()
    first, child = _caps("\n".join(lines[:5])), _caps("\n".join(lines[5:]))
    for caps in (first, child):
        assert caps["CapInh"] == 0, p.out
        assert caps["CapAmb"] == 0, p.out
        assert caps["CapBnd"] & (1 << 21) and caps["CapBnd"] & (1 << 12), p.out
    if extra:  # a non-root exec keeps nothing effective across its execve
        assert child["CapEff"] == 0 and child["CapPrm"] == 0, p.out


# -- CVE-2023-25809: /sys/fs/cgroup read-only without a cgroup namespace -----------

def test_cgroupfs_read_only_without_cgroupns(runtime, bundle):
    script = (
        "for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes "
        "/sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/pids/cgroup.procs; do "
        "  [ -e $f ] || continue; "
        "  if echo 1 > $f 2>/dev/null; then echo WROTE $f; else echo denied $f; fi; done; "
        "for d in /sys/fs/cgroup/memory/x /sys/fs/cgroup/pids/x /sys/fs/cgroup/x; do "
        "  if mkdir $d 2>/dev/null; then echo MADE $d; else echo denied $d; fi; done; "
        "grep ' /sys/fs/cgroup' /proc/self/mountinfo")
    out = runtime.run_output(bundle, "sh", "-c", script, cid="ct-cgro")
    assert "WROTE" not in out and "MADE" not in out, out
    assert out.count("denied") >= 3, out
    for line in out.splitlines():
        if " - " in line and line.split()[4].startswith("/sys/fs/cgroup"):
            assert "ro" in line.split()[5].split(","), line


# -- device rules: default deny --------------------------------------------------

def test_devices_default_deny(runtime, bundle):
    script = (
        "if mknod /tmp/sda b 8 0 2>/dev/null && head -c1 /tmp/sda >/dev/null 2>&1; "
        "then echo READ-sda; else echo denied-sda; fi; "
        "if mknod /tmp/mem c 1 1 2>/dev/null && head -c1 /tmp/mem >/dev/null 2>&1; "
        "then echo READ-mem; else echo denied-mem; fi; "
        "if mknod /tmp/tun c 10 200 2>/dev/null; then echo made-tun; else echo no-tun; fi")
    bundle.config["process"]["capabilities"] = {
        k: ["CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_KILL"]
        for k in ("bounding", "effective", "permitted")}
    bundle.config["root"]["readonly"] = False
    bundle.write()
    out = runtime.run_output(bundle, "sh", "-c", script, cid="ct-dev")
    assert "denied-sda" in out and "denied-mem" in out, out
    assert "made-tun" in out, out  # /dev/net/tun is in the default rules


# -- crun CVE-2026-30892: exec -u parsing ----------------------------------------

def _plain(text: str) -> tuple[int, int | None] | None:
    """The reference: what a plain decimal uid[:gid] in range means, else None."""
    def one(t: str) -> int | None:
        if t and len(t) <= 10 and all(c in string.digits for c in t) and int(t) <= MAX_ID:
            return int(t)
        return None
    uid, sep, gid = text.partition(":")
    u = one(uid)
    if u is None:
        return None
    if not sep:
        return (u, None)
    g = one(gid)
    return None if g is None else (u, g)


USERS = st.one_of(
    st.text(max_size=24),
    st.text(alphabet="0123456789:-+ x\t\n\x00٣²", max_size=24),
    st.builds(lambda a, b: f"{a}:{b}", st.integers(-5, 2**33), st.integers(-5, 2**33)),
    st.sampled_from(["0", "0:0", "1000:1000", "4294967294", "4294967295", "4294967296",
                     "-1", "1:-1", "0x10", "1e3", " 1", "1 ", "+1", "root", "1:2:3", ":1",
                     "1:", "", "٣", "²", "00001000:0100", "99999999999"]),
)


@settings(max_examples=3000, deadline=None)
@given(USERS)
def test_parse_user_only_plain_decimal(text):
    want = _plain(text)
    try:
        got = parse_user(text)
    except PyruncError:
        got = None
    assert got == want, (text, got, want)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=USERS)
def test_exec_user_via_cli(running, text):
    want = _plain(text)
    if "\x00" in text:
        return  # cannot be an argv string
    if text == "":
        want = (0, 0)  # an empty -u is no -u (as runc): the container's own user
    p = running("exec", "-u", text, "ct-lim", "sh", "-c", "id -u; id -g")
    if want is None:
        assert p.returncode in (1, 255), (text, p.returncode, p.err)  # 255: exec failed
        assert p.err.startswith("pyrunc: ") and "invalid" in p.err, (text, p.err)
        assert "Traceback" not in p.err
        return
    assert p.returncode == 0, (text, p.err)
    uid, gid = want
    assert p.out.split() == [str(uid), str(0 if gid is None else gid)], (text, p.out)
