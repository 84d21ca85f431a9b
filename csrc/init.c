/* pyrunc-init: the only code that runs on the container side, from clone to
 * execve. Python plans (see plan.h), this program does.
 *
 * usage: pyrunc-init PLAN_FD SYNC_FD START_FD
 *
 * Stage 1 (the process pyrunc spawns, still in the host's namespaces) joins
 * its cgroups (cgroup.c; with systemd, pyrunc puts it there), joins the
 * namespaces given by path, then clones the container process with
 * CLONE_PARENT so that it is a child of pyrunc (and, once pyrunc exits, of
 * the caller's subreaper), reports its pid and exits. The container process
 * sets up the root filesystem and the process attributes, reports that it is
 * created and waits for `start` to connect to its listening socket (exec.sock). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/keyctl.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "plan.h"

int sync_fd = -1;
static int tracing;

/* A state document from pyrunc with each \x01 byte (which JSON text cannot
 * contain) replaced by `pid` (malloc'd). */
char *with_pid(const char *tmpl, unsigned pid)
{
	char num[16];
	size_t plen = (size_t)snprintf(num, sizeof(num), "%u", pid), n = 0;
	for (const char *t = tmpl; *t; t++)
		n += *t == '\1' ? plen : 1;
	char *out = malloc(n + 1), *o = out;
	if (!out)
		fail("out of memory");
	for (const char *t = tmpl; *t; t++) {
		if (*t == '\1') {
			memcpy(o, num, plen);
			o += plen;
		} else {
			*o++ = *t;
		}
	}
	*o = '\0';
	return out;
}

/* Report a setup step to the parent, for --trace. */
void trace(const char *fmt, ...)
{
	if (!tracing)
		return;
	char buf[256];
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	memcpy(buf, &ns, 8);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + 8, sizeof(buf) - 8, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(buf) - 9)
		n = (int)sizeof(buf) - 9;
	send_msg(MSG_TRACE, buf, 8 + (size_t)n);
}

void send_msg(char type, const void *payload, size_t len)
{
	char buf[4096];
	if (len > sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	buf[0] = type;
	memcpy(buf + 1, payload, len);
	while (send(sync_fd, buf, len + 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

static void __attribute__((noreturn)) vfail(int err, const char *fmt, va_list ap)
{
	char msg[3000];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (err)
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(err));
	send_msg(MSG_ERROR, msg, strlen(msg));
	_exit(1);
}

void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(0, fmt, ap);
}

void fail_errno(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(err, fmt, ap);
}

/* Block until the parent sends `want`; exit quietly if it went away. */
void wait_msg(char want)
{
	char c;
	ssize_t n;
	do
		n = recv(sync_fd, &c, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(1);
	if (c != want)
		fail("sync: expected message '%c', got '%c'", want, c);
}

/* Receive a message with a payload; returns the payload length. */
size_t recv_msg(char want, char *buf, size_t size)
{
	ssize_t n;
	struct iovec iov[2] = { { buf, 1 }, { buf + 1, size - 1 } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	do
		n = recvmsg(sync_fd, &msg, 0);
	while (n < 0 && errno == EINTR);
	if (n < 1)
		_exit(1);
	if (msg.msg_flags & MSG_TRUNC)
		fail("sync: message too long");
	if (buf[0] != want)
		fail("sync: expected message '%c', got '%c'", want, buf[0]);
	return (size_t)n - 1;
}

struct cursor cursor_of(const struct record *r)
{
	struct cursor c = { r->data, r->len };
	return c;
}

static const unsigned char *take(struct cursor *c, size_t n)
{
	const unsigned char *p = c->p;
	if (c->left < n)
		fail("plan: record too short");
	c->p += n;
	c->left -= n;
	return p;
}

uint32_t cur_u32(struct cursor *c)
{
	uint32_t v;
	memcpy(&v, take(c, 4), 4);
	return v;
}

uint64_t cur_u64(struct cursor *c)
{
	uint64_t v;
	memcpy(&v, take(c, 8), 8);
	return v;
}

const char *cur_str(struct cursor *c)
{
	const unsigned char *end = memchr(c->p, 0, c->left);
	if (!end)
		fail("plan: unterminated string");
	return (const char *)take(c, (size_t)(end - c->p) + 1);
}

int plan_has(const struct plan *p, uint16_t type)
{
	for (size_t i = 0; i < p->nrec; i++)
		if (p->rec[i].type == type)
			return 1;
	return 0;
}

static void read_plan(int fd, struct plan *p)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		fail_errno(errno, "plan: fstat");
	if (st.st_size < 8 || st.st_size > (64 << 20))
		fail("plan: bad size %lld", (long long)st.st_size);
	size_t size = (size_t)st.st_size;
	unsigned char *buf = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (buf == MAP_FAILED)
		fail_errno(errno, "plan: mmap");
	close(fd);
	if (memcmp(buf, PLAN_MAGIC, 4) != 0)
		fail("plan: bad magic");
	uint32_t version;
	memcpy(&version, buf + 4, 4);
	if (version != PLAN_VERSION)
		fail("plan: version %u, expected %u", version, PLAN_VERSION);
	size_t off = 8;
	p->nrec = 0;
	while (off < size) {
		if (size - off < 8)
			fail("plan: truncated record header");
		if (p->nrec == MAX_RECORDS)
			fail("plan: too many records");
		struct record *r = &p->rec[p->nrec++];
		memcpy(&r->type, buf + off, 2);
		memcpy(&r->len, buf + off + 4, 4);
		off += 8;
		if (r->len > size - off)
			fail("plan: record %u overruns the plan", r->type);
		r->data = buf + off;
		off += r->len;
	}
}

static int int_arg(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < -1 || v > 1 << 20)
		_exit(2);
	return (int)v;
}

/* Join the namespaces given by path, in the order planned (user first). */
static void join_namespaces(const struct plan *p)
{
	for (size_t i = 0; i < p->nrec; i++) {
		if (p->rec[i].type != R_JOIN_NS)
			continue;
		struct cursor c = cursor_of(&p->rec[i]);
		int nstype = (int)cur_u64(&c);
		const char *path = cur_str(&c);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail_errno(errno, "opening namespace %s", path);
		if (setns(fd, nstype) < 0)
			fail_errno(errno, "joining namespace %s", path);
		close(fd);
	}
}

static void set_time_offsets(const struct plan *p)
{
	char line[128];
	for (size_t i = 0; i < p->nrec; i++) {
		if (p->rec[i].type != R_TIME_OFFSET)
			continue;
		struct cursor c = cursor_of(&p->rec[i]);
		uint32_t clock = cur_u32(&c), nsec = cur_u32(&c);
		int64_t sec = (int64_t)cur_u64(&c);
		int n = snprintf(line, sizeof(line), "%u %lld %u", clock, (long long)sec, nsec);
		int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, line, (size_t)n) != n)
			fail_errno(errno, "writing time namespace offsets \"%s\"", line);
		close(fd);
	}
}

static void container_main(const struct plan *p, int fifo_fd)
{
	const char *path = NULL;
	/* Wait until the parent knows our pid (stage 1 told it) and has written
	 * what it writes from the host (id maps, oom_score_adj). */
	wait_msg(MSG_MAPS_DONE);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* (rootless: dumpable for the maps until now) */
	trace("init: running in new namespaces (pid %d)", (int)getpid());
	if (plan_has(p, R_WAIT_MAPS)) {
		/* Become root of the new user namespace, when 0 is mapped. */
		if (setresgid(0, 0, 0) == 0)
			setresuid(0, 0, 0);
	}
	for (size_t i = 0; i < p->nrec; i++)
		if (p->rec[i].type == R_KEYRING) {
			/* As runc: a session keyring of its own, not the caller's. */
			struct cursor c = cursor_of(&p->rec[i]);
			const char *name = cur_str(&c);
			if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name) < 0 &&
			    errno != ENOSYS)
				fail_errno(errno, "joining a new session keyring %s", name);
		}
	if (plan_has(p, R_DEBUG))
		debug_enter(p);
	else if (!plan_has(p, R_EXEC))
		setup_rootfs(p);
	trace("init: root filesystem ready");
	setup_terminal(p, !plan_has(p, R_EXEC) && !plan_has(p, R_DEBUG), 1);
	remount_readonly(p); /* after /dev/console, as runc */
	/* As runc: the process leads a session of its own, terminal or not (CRIU
	 * refuses to dump a tree whose session leader is outside the container). */
	if (!plan_has(p, R_CONSOLE) && !plan_has(p, R_DEBUG) && setsid() < 0)
		fail_errno(errno, "setsid");
	apply_process(p, &path);
	trace("init: process attributes applied, %s found", path);
	send_msg(MSG_READY, NULL, 0);
	close(sync_fd);
	exec_process(p, path, fifo_fd);
}

/* exec (R_EXEC). The process that appears in the container's pid namespace
 * must hold nothing a ptrace of it could steal (CVE-2016-9962 class, even by
 * a container process with CAP_SYS_PTRACE, which beats non-dumpable): from
 * its first instruction it is what the user's process will be.
 *
 * So stage 1, which keeps the socket to pyrunc, only relays. A helper it
 * clones (in the host's pid namespace, invisible to the container) joins the
 * namespaces and sets credentials, capabilities, rlimits, cwd, the terminal
 * and, when pyrunc found that the filter lets the last steps through
 * (R_SECCOMP_EARLY), the seccomp filter; then it clones the process, which
 * inherits only stdio, the preserved fds, a pipe that says go and a socket to
 * stage 1 for its exec error. The helper reports the pid on that socket;
 * stage 1 believes a pid only from the helper (SO_PASSCRED: the kernel names
 * the sender). Both clones use CLONE_PARENT: pyrunc is the parent of all. */
static void __attribute__((noreturn)) exec_helper(const struct plan *p, uint64_t flags,
						   int go_r, int chan)
{
	const char *path = NULL;
	int early = plan_has(p, R_SECCOMP_EARLY);
	sync_fd = chan; /* errors go to stage 1 from now on */
	apply_lsm(p); /* (inherited by the clone below) */
	join_namespaces(p);
	if (flags & CLONE_NEWTIME) {
		if (unshare(CLONE_NEWTIME) < 0)
			fail_errno(errno, "creating the time namespace");
		set_time_offsets(p);
		flags &= ~(uint64_t)CLONE_NEWTIME;
	}
	setup_terminal(p, 0, 0); /* (closes the console socket) */
	apply_process(p, &path);
	trace("exec: process attributes applied, %s found", path);
	close_extra_fds(p, go_r, chan); /* all the process may inherit */
	if (early)
		load_filter_now(p);
	long pid = syscall(SYS_clone, (unsigned long)flags | CLONE_PARENT, NULL, NULL, NULL, 0);
	if (pid < 0)
		fail_errno(errno, "cloning the process in the container's namespaces");
	if (pid == 0) {
		char c;
		ssize_t n;
		do
			n = read(go_r, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			_exit(1); /* stage 1 gave up */
		close(go_r);
		finish_exec(p, path, chan, early);
	}
	uint32_t child = (uint32_t)pid;
	seccomp_child_pid(child);
	send_msg(MSG_PID, &child, sizeof(child));
	_exit(0);
}

/* One message from the channel, and the pid of the process that sent it. */
static ssize_t recv_from(int fd, char *buf, size_t size, pid_t *sender)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} u;
	struct iovec iov = { buf, size };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	ssize_t n;
	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	*sender = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred cred;
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
			*sender = cred.pid;
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int *fds = (int *)CMSG_DATA(c);
			for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++)
				close(fds[k]); /* nobody sends fds here */
		}
	return n;
}

static int exec_joined(const struct plan *p, uint64_t flags)
{
	int go[2], chan[2], one = 1;
	if (pipe2(go, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0 ||
	    setsockopt(chan[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		fail_errno(errno, "making the exec channels");
	long helper = syscall(SYS_clone, (unsigned long)CLONE_PARENT, NULL, NULL, NULL, 0);
	if (helper < 0)
		fail_errno(errno, "cloning the exec helper");
	if (helper == 0) {
		char c;
		close(sync_fd); /* the socket to pyrunc stays with stage 1 */
		close(go[1]);
		close(chan[0]);
		/* until pyrunc has put it in the container's cgroups */
		if (recv(chan[1], &c, 1, 0) != 1 || c != MSG_GO)
			_exit(1);
		exec_helper(p, flags, go[0], chan[1]);
	}
	close(go[0]);
	close(chan[1]);
	/* The helper, not stage 1, joins the cgroups: one process less there. */
	uint32_t h = (uint32_t)helper;
	send_msg(MSG_HELPER, &h, sizeof(h));
	wait_msg(MSG_GO);
	if (send(chan[0], "g", 1, MSG_NOSIGNAL) != 1)
		fail_errno(errno, "letting the exec helper go");
	char buf[4096];
	pid_t sender;
	int started = 0;
	for (;;) {
		ssize_t n = recv_from(chan[0], buf, sizeof(buf), &sender);
		if (n <= 0)
			break; /* everyone is gone: the helper exited, the execve closed it */
		if (buf[0] == MSG_ERROR) { /* from the helper or the process */
			send_msg(MSG_ERROR, buf + 1, (size_t)n - 1);
			return 1;
		}
		if (buf[0] == MSG_TRACE && n > 9) {
			send_msg(MSG_TRACE, buf + 1, (size_t)n - 1);
		} else if (buf[0] == MSG_PID && n == 5 && sender == (pid_t)helper && !started) {
			send_msg(MSG_PID, buf + 1, 4);
			wait_msg(MSG_MAPS_DONE);
			if (write(go[1], "g", 1) != 1)
				fail_errno(errno, "starting the process");
			started = 1;
		}
	}
	if (!started)
		fail("the exec helper exited early");
	send_msg(MSG_READY, NULL, 0);
	return 0;
}

int main(int argc, char **argv)
{
	static struct plan plan;
	if (argc != 4)
		return 2;
	int plan_fd = int_arg(argv[1]);
	sync_fd = int_arg(argv[2]);
	int fifo_fd = int_arg(argv[3]);
	fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
	if (fifo_fd >= 0)
		fcntl(fifo_fd, F_SETFD, FD_CLOEXEC);
	/* Non-dumpable until execve: no ptrace, no /proc/PID/{fd,exe,mem}. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	umask(0);
	read_plan(plan_fd, &plan);
	tracing = plan_has(&plan, R_TRACE);
	trace("stage 1: plan read (%zu records)", plan.nrec);
	uint64_t flags = 0;
	for (size_t i = 0; i < plan.nrec; i++)
		if (plan.rec[i].type == R_CLONE_FLAGS) {
			struct cursor c = cursor_of(&plan.rec[i]);
			flags = cur_u64(&c);
		}
	if (plan_has(&plan, R_EXEC) && !plan_has(&plan, R_DEBUG)) {
		seccomp_stage1(&plan);
		return exec_joined(&plan, flags);
	}
	wait_msg(MSG_GO);
	int cgroup_into = join_cgroups(&plan);
	trace("stage 1: in the cgroups");
	/* While the listenerPath still resolves as on the host. */
	seccomp_stage1(&plan);
	/* With the host's privileges, before a user namespace is joined. */
	prepare_idmap_mounts(&plan);
	if (plan_has(&plan, R_DEBUG))
		debug_prepare(&plan);
	join_namespaces(&plan);
	trace("stage 1: namespaces joined");
	if (flags & CLONE_NEWTIME) {
		if (unshare(CLONE_NEWTIME) < 0)
			fail_errno(errno, "creating the time namespace");
		set_time_offsets(&plan);
		flags &= ~(uint64_t)CLONE_NEWTIME;
	}
	/* An unprivileged pyrunc writes the new user namespace's id maps (or has
	 * newuidmap write them): until then the process's /proc files must be
	 * the caller's, not root's, as runc does. Nothing runs in there yet. */
	int own_maps = (flags & CLONE_NEWUSER) && geteuid() != 0;
	if (own_maps)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	/* Like fork(), in new namespaces, as a sibling of this process. */
	long pid = clone_into_cgroup(flags | CLONE_PARENT, cgroup_into);
	if (own_maps && pid != 0)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (pid < 0)
		fail_errno(errno, "cloning the container process with namespace flags 0x%llx",
			   (unsigned long long)flags);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
		container_main(&plan, fifo_fd);
		_exit(1);
	}
	uint32_t child = (uint32_t)pid;
	seccomp_child_pid(child);
	send_msg(MSG_PID, &child, sizeof(child));
	return 0;
}
