"""CVE-2016-9962: a process in the container, with CAP_SYS_PTRACE in every
set, watches /proc for the processes `pyrunc exec` brings in and tries to
ptrace them, write their exe, read their memory and open their fds. It must
never get a host fd or touch a host file; and what it can reach before the
execve (the joining process in the container's pid namespace) must already
be what the exec'd process will be: its capabilities, seccomp filter and
fds, so that a ptrace gains nothing."""

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

/* The credentials, filter and fds of a process the attacker can reach. */
static void status(FILE *log, int pid, const char *exe)
{
	char path[128], line[256], link[512];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "Cap", 3) && strncmp(line, "Seccomp:", 8) &&
			strncmp(line, "NoNewPrivs:", 11) && strncmp(line, "Uid:", 4))
			continue;
		line[strcspn(line, "\n")] = 0;
		char *v = strchr(line, ':');
		*v++ = 0;
		while (*v == ' ' || *v == '\t')
			v++;
		fprintf(log, "STATUS\t%d\t%s\t%s\t%s\n", pid, exe, line, v);
	}
	fclose(f);
	snprintf(path, sizeof path, "/proc/%d/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char fp[300];
		snprintf(fp, sizeof fp, "/proc/%d/fd/%s", pid, e->d_name);
		ssize_t n = readlink(fp, link, sizeof link - 1);
		if (n <= 0)
			continue; /* closed meanwhile */
		link[n] = 0;
		fprintf(log, "STATUS\t%d\t%s\tfd%s\t%s\n", pid, exe, e->d_name, link);
	}
	closedir(d);
}

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
	if (fd >= 0) {
		fprintf(log, "MEM\t%d\t%s\n", pid, exe);
		close(fd);
		if (strncmp(exe, "/memfd:", 7) == 0)
			status(log, pid, exe);
	}
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
		/* stopped: what the tracer now holds (if still before the execve) */
		char now[512];
		snprintf(now, sizeof now, "/proc/%d/exe", pid);
		n = readlink(now, now, sizeof now - 1);
		if (n > 7 && strncmp(now, "/memfd:", 7) == 0)
			status(log, pid, exe);
		ptrace(PTRACE_DETACH, pid, 0, 0);
		/* a stop that came first (the execve's SIGTRAP) leaves the SIGSTOP */
		/* pending: let the process go on in any case */
		kill(pid, SIGCONT);
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


CAPS = {"CAP_DAC_OVERRIDE": 1, "CAP_KILL": 5, "CAP_SYS_PTRACE": 19, "CAP_AUDIT_WRITE": 29}


def _attack(runtime, bundle, tmp_path, mode: str) -> tuple[list[str], dict, list[str]]:
    """Run the attacker through 40 execs: (no-host-fd violations, what it saw
    of each joining process it could ptrace or open the memory of before its
    execve: {pid: {status key or fdN: value}}, hangs)."""
    if subprocess.run(["cc", "--version"], capture_output=True).returncode != 0:
        pytest.skip("no C compiler")
    src = tmp_path / "attacker.c"
    src.write_text(ATTACKER)
    subprocess.run(["cc", "-static", "-O2", "-o", str(bundle.rootfs / "bin" / "attacker"),
                    str(src)], check=True)
    files = _installed_files(runtime)
    before = _hashes(files)
    bundle.config["process"]["capabilities"] = {
        k: sorted(CAPS) for k in ("bounding", "effective", "permitted", "inheritable",
                                  "ambient")}
    bundle.config["process"]["noNewPrivileges"] = True
    # a filter the exec'd processes get too: it must be in place before the execve
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["add_key", "keyctl"], "action": "SCMP_ACT_ERRNO"}]}
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
    bad: list[str] = []
    reached: dict[str, dict[str, str]] = {}
    for line in log.splitlines():
        kind, *fields = line.split("\t")
        if kind == "EXE-WRITABLE":
            bad.append(line)
        elif kind == "FD":
            target = fields[4]
            if not target.startswith(ALLOWED):
                bad.append(line)
        elif kind == "STATUS" and len(fields) == 4:
            reached.setdefault(fields[0], {})[fields[2]] = fields[3]
    assert_unchanged(files, before)
    return bad, reached, hung


def test_exec_join_leaks_no_host_fd(runtime, bundle, tmp_path):
    """Watching /proc and opening the joining process' exe and fds: only the
    stdio it was given (/dev/null here), pipes and sockets, never a host file."""
    bad, _, hung = _attack(runtime, bundle, tmp_path, "look")
    assert not bad, "\n".join(bad[:40])
    assert not hung


def test_exec_join_ptrace_gains_nothing(runtime, bundle, tmp_path):
    """CAP_SYS_PTRACE beats non-dumpable, so the attacker does attach to the
    joining process before its execve; but that process already has the exec'd
    process's capability sets (all five), its seccomp filter and
    no_new_privs, and no fd but stdio and its error socket: nothing to gain."""
    bad, reached, hung = _attack(runtime, bundle, tmp_path, "ptrace")
    assert not bad, "\n".join(bad[:40])
    assert not hung
    assert reached, "the attacker never reached a joining process before its execve"
    want = f"{sum(1 << n for n in CAPS.values()):016x}"
    for pid, st in reached.items():
        caps = {k: v for k, v in st.items() if k.startswith("Cap")}
        assert caps == {k: want for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}, \
            (pid, st)
        assert st.get("Seccomp") == "2" and st.get("NoNewPrivs") == "1", (pid, st)
        extra = {k: v for k, v in st.items() if k.startswith("fd") and k not in
                 ("fd0", "fd1", "fd2")}
        # the go pipe and the error socket (to pyrunc-init's stage 1) at most
        assert len(extra) <= 2, (pid, st)
        assert all(v.startswith(("pipe:[", "socket:[")) for v in extra.values()), \
            (pid, extra)
