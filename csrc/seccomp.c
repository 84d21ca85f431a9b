/* linux.seccomp: the filter is built with libseccomp from the plan's
 * R_SECCOMP_* records (validated and encoded by pyrunc/linux/seccomp.py), exported
 * as BPF, prefixed with runc's -ENOSYS stub and loaded with seccomp(2)
 * itself, so that every SECCOMP_FILTER_FLAG_* works whatever libseccomp's
 * version.
 *
 * The work is split so that every error that can be foreseen reaches pyrunc
 * while the sync socket is still open, and the filter still covers as few of
 * the init's own syscalls as possible:
 *   seccomp_stage1()    stage 1, host namespaces: connect to listenerPath
 *                       (after pivot_root the path would not resolve)
 *   seccomp_child_pid() stage 1: the container's pid, for the state document
 *   prepare_seccomp()   before `created`: build and check the program
 *   apply_seccomp()     the last step before execve: load it, send the
 *                       notify fd and the state document to the listener.
 * Between load and execve the init makes only these syscalls: sendmsg and
 * close (with a listener), capset (noNewPrivileges false, see process.c) and
 * execve. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "plan.h"

#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#define X32_SYSCALL_BIT 0x40000000U
#define MAX_STUB 512

/* R_SECCOMP_DEFAULT options */
#define OPT_ENOSYS_STUB 1U

static struct sock_filter *program;
static unsigned short program_len;
static unsigned long load_flags;
static int listener_fd = -1;
static volatile uint32_t *pid_cell; /* shared with stage 1, which fills it in */
static char *state_doc;             /* the container process state, pid filled in */
static const char *state_tmpl;      /* ... and its template (\x01 for the pid) */
static size_t state_len;

int seccomp_listener_fd(void)
{
	return listener_fd;
}

void seccomp_stage1(const struct plan *p)
{
	for (size_t i = 0; i < p->nrec; i++) {
		if (p->rec[i].type != R_SECCOMP_LISTENER)
			continue;
		struct cursor c = cursor_of(&p->rec[i]);
		const char *path = cur_str(&c);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(path) >= sizeof(sa.sun_path))
			fail("seccomp: listenerPath %s is too long for a unix socket", path);
		strcpy(sa.sun_path, path);
		pid_cell = mmap(NULL, sizeof(*pid_cell), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (pid_cell == MAP_FAILED)
			fail_errno(errno, "seccomp: mmap");
		listener_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (listener_fd < 0)
			fail_errno(errno, "seccomp: socket");
		int r;
		do
			r = connect(listener_fd, (struct sockaddr *)&sa, sizeof(sa));
		while (r < 0 && errno == EINTR);
		if (r < 0) { /* runc's words, which callers match */
			char err[128];
			snprintf(err, sizeof(err), "%s", strerror(errno));
			err[0] = (char)tolower((unsigned char)err[0]);
			fail("$.linux.seccomp.listenerPath: failed to connect with seccomp agent "
			     "specified in the seccomp profile: dial unix %s: connect: %s", path, err);
		}
		return;
	}
}

void seccomp_child_pid(uint32_t pid)
{
	if (pid_cell)
		__atomic_store_n(pid_cell, pid, __ATOMIC_RELEASE);
}

/* The pid as pyrunc sees it (stage 1 writes it right after clone). */
static uint32_t host_pid(void)
{
	struct timespec ms = { 0, 1000000 };
	for (int i = 0; i < 10000; i++) {
		uint32_t v = __atomic_load_n(pid_cell, __ATOMIC_ACQUIRE);
		if (v)
			return v;
		nanosleep(&ms, NULL);
	}
	fail("seccomp: the container's pid did not arrive");
}

/* The state document: the template from pyrunc with the container's pid. */
static void build_state(const char *tmpl)
{
	state_doc = with_pid(tmpl, host_pid());
	state_len = strlen(state_doc);
}

static void check_rc(int rc, const char *what, const char *name)
{
	if (rc < 0)
		fail_errno(-rc, "seccomp: %s%s%s", what, name ? " " : "", name ? name : "");
}

/* --- runc's -ENOSYS stub ---------------------------------------------------
 * Syscalls newer than every syscall the profile names get ENOSYS instead of
 * the default action, so that programs fall back to older syscalls (clone3
 * to clone, ...) as they do on older kernels. As in runc, only for a default
 * action that denies, and only for the listed architectures. */

struct arch_max {
	uint32_t audit;   /* AUDIT_ARCH_* of the native arch group */
	uint32_t max;     /* largest syscall number named in the profile, 0: none */
	uint32_t max_x32; /* for AUDIT_ARCH_X86_64: the x32 ABI's largest */
	int s390;
};

static uint32_t audit_arch_of(uint32_t token)
{
	return token == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : token;
}

static void note_max(struct arch_max *groups, int *ngroups, uint32_t token,
		     const struct plan *p)
{
	uint32_t audit = audit_arch_of(token);
	uint32_t max = 0;
	for (size_t i = 0; i < p->nrec; i++) {
		if (p->rec[i].type != R_SECCOMP_RULE)
			continue;
		struct cursor c = cursor_of(&p->rec[i]);
		cur_u32(&c);
		uint32_t nargs = cur_u32(&c);
		for (uint32_t k = 0; k < nargs; k++) {
			cur_u32(&c);
			cur_u32(&c);
			cur_u64(&c);
			cur_u64(&c);
		}
		while (c.left > 0) {
			int nr = seccomp_syscall_resolve_name_arch(token, cur_str(&c));
			if (nr >= 0 && (uint32_t)nr > max)
				max = (uint32_t)nr;
		}
	}
	if (max == 0)
		return;
	int g;
	for (g = 0; g < *ngroups; g++)
		if (groups[g].audit == audit)
			break;
	if (g == *ngroups) {
		memset(&groups[g], 0, sizeof(groups[g]));
		groups[g].audit = audit;
		groups[g].s390 = token == SCMP_ARCH_S390 || token == SCMP_ARCH_S390X;
		(*ngroups)++;
	}
	if (token == SCMP_ARCH_X32)
		groups[g].max_x32 = max;
	else
		groups[g].max = max;
}

static struct sock_filter stmt(uint16_t code, uint32_t k)
{
	struct sock_filter f = { code, 0, 0, k };
	return f;
}

static struct sock_filter jump(uint16_t code, uint32_t k, int pc, int jt, int jf)
{
	int t = jt - pc - 1, f = jf - pc - 1;
	if (t < 0 || t > 255 || f < 0 || f > 255)
		fail("seccomp: -ENOSYS stub too large");
	struct sock_filter s = { code, (uint8_t)t, (uint8_t)f, k };
	return s;
}

/* Returns the stub's length; its last two positions are "ret ENOSYS" and the
 * start of libseccomp's program. */
static int build_stub(const struct plan *p, struct sock_filter *out)
{
	struct arch_max groups[32];
	int ngroups = 0;
	for (size_t i = 0; i < p->nrec; i++) {
		if (p->rec[i].type != R_SECCOMP_ARCH)
			continue;
		struct cursor c = cursor_of(&p->rec[i]);
		uint32_t token = seccomp_arch_resolve_name(cur_str(&c));
		if (token && ngroups < 30)
			note_max(groups, &ngroups, token, p);
	}
	if (ngroups == 0)
		return 0;
	/* Layout: ld arch; one jeq per group; ja filter; the sections; ret ENOSYS. */
	int size[32], start[32];
	int total = 1 + ngroups + 1;
	for (int g = 0; g < ngroups; g++) {
		if (groups[g].audit == AUDIT_ARCH_X86_64)
			size[g] = 4;
		else
			size[g] = groups[g].s390 ? 3 : 2;
		start[g] = total;
		total += size[g];
	}
	int enosys = total++;
	int filter = total;
	if (total > MAX_STUB)
		fail("seccomp: -ENOSYS stub too large");
	int pc = 0;
	out[pc++] = stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	for (int g = 0; g < ngroups; g++, pc++)
		out[pc] = jump(BPF_JMP | BPF_JEQ | BPF_K, groups[g].audit, pc, start[g], pc + 1);
	out[pc] = stmt(BPF_JMP | BPF_JA, (uint32_t)(filter - pc - 1));
	pc++;
	for (int g = 0; g < ngroups; g++) {
		out[pc++] = stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
		if (groups[g].audit == AUDIT_ARCH_X86_64) {
			/* x32 syscalls have bit 30 set; each ABI has its own maximum. */
			out[pc] = jump(BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, pc, pc + 2, pc + 1);
			pc++;
			uint32_t maxes[2] = { groups[g].max, groups[g].max_x32 };
			for (int k = 0; k < 2; k++, pc++) {
				if (maxes[k])
					out[pc] = jump(BPF_JMP | BPF_JGT | BPF_K, maxes[k], pc, enosys,
						       filter);
				else
					out[pc] = stmt(BPF_JMP | BPF_JA, (uint32_t)(filter - pc - 1));
			}
			continue;
		}
		if (groups[g].s390) {
			/* syscall 0 multiplexes the numbers the kernel does not know */
			out[pc] = jump(BPF_JMP | BPF_JEQ | BPF_K, 0, pc, enosys, pc + 1);
			pc++;
		}
		out[pc] = jump(BPF_JMP | BPF_JGT | BPF_K, groups[g].max, pc, enosys, filter);
		pc++;
	}
	out[pc++] = stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
	return pc;
}

/* --- building the filter --------------------------------------------------- */

static void add_rules(scmp_filter_ctx ctx, uint32_t def_action, const struct plan *p)
{
	for (size_t i = 0; i < p->nrec; i++) {
		if (p->rec[i].type != R_SECCOMP_RULE)
			continue;
		struct cursor c = cursor_of(&p->rec[i]);
		uint32_t action = cur_u32(&c);
		uint32_t nargs = cur_u32(&c);
		struct scmp_arg_cmp args[6];
		if (nargs > 6)
			fail("plan: seccomp rule with %u conditions", nargs);
		for (uint32_t k = 0; k < nargs; k++) {
			args[k].arg = cur_u32(&c);
			args[k].op = (enum scmp_compare)cur_u32(&c);
			args[k].datum_a = cur_u64(&c);
			args[k].datum_b = cur_u64(&c);
		}
		while (c.left > 0) {
			const char *name = cur_str(&c);
			/* Redundant with the default action: libseccomp refuses it. */
			if (action == def_action)
				continue;
			/* Unknown to this libseccomp: skipped, as runc does, so that
			 * profiles written for newer kernels still load. */
			int nr = seccomp_syscall_resolve_name(name);
			if (nr == __NR_SCMP_ERROR)
				continue;
			check_rc(seccomp_rule_add_array(ctx, action, nr, nargs, args),
				 "adding the rule for syscall", name);
		}
	}
}

static void export_bpf(scmp_filter_ctx ctx, const struct sock_filter *stub, int nstub)
{
	int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	if (fd < 0)
		fail_errno(errno, "seccomp: memfd_create");
	check_rc(seccomp_export_bpf(ctx, fd), "exporting the filter", NULL);
	off_t size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0)
		fail("seccomp: libseccomp exported %lld bytes of BPF", (long long)size);
	size_t n = (size_t)size / sizeof(struct sock_filter) + (size_t)nstub;
	if (n > BPF_MAXINSNS)
		fail("seccomp: the filter has %zu instructions, more than the kernel's %d", n,
		     BPF_MAXINSNS);
	program = calloc(n, sizeof(struct sock_filter));
	if (!program)
		fail("out of memory");
	memcpy(program, stub, (size_t)nstub * sizeof(struct sock_filter));
	if (pread(fd, program + nstub, (size_t)size, 0) != size)
		fail_errno(errno, "seccomp: reading the exported filter");
	close(fd);
	program_len = (unsigned short)n;
}

static int has_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		return 0;
	return (data[CAP_SYS_ADMIN / 32].effective >> (CAP_SYS_ADMIN % 32)) & 1;
}

void prepare_seccomp(const struct plan *p)
{
	const struct record *def = NULL;
	for (size_t i = 0; i < p->nrec; i++)
		if (p->rec[i].type == R_SECCOMP_DEFAULT)
			def = &p->rec[i];
	if (!def)
		return;
	struct cursor c = cursor_of(def);
	uint32_t def_action = cur_u32(&c);
	uint32_t options = cur_u32(&c);

	scmp_filter_ctx ctx = seccomp_init(def_action);
	if (!ctx)
		fail("seccomp: invalid default action 0x%x", def_action);
	int nnames = 0;
	for (size_t i = 0; i < p->nrec; i++) {
		const struct record *r = &p->rec[i];
		struct cursor rc = cursor_of(r);
		if (r->type == R_SECCOMP_ARCH) {
			const char *name = cur_str(&rc);
			uint32_t token = seccomp_arch_resolve_name(name);
			if (!token)
				fail("seccomp: architecture %s is not supported by libseccomp %u.%u.%u",
				     name, SCMP_VER_MAJOR, SCMP_VER_MINOR, SCMP_VER_MICRO);
			int err = seccomp_arch_add(ctx, token);
			if (err == -EDOM)
				fail("seccomp: architecture %s cannot be in one filter with the "
				     "native architecture: their byte order differs", name);
			if (err != -EEXIST)
				check_rc(err, "adding architecture", name);
		} else if (r->type == R_SECCOMP_FLAG) {
			load_flags |= cur_u32(&rc);
		} else if (r->type == R_SECCOMP_RULE) {
			nnames++;
		}
	}
	/* libseccomp's binary tree for long rule sets (as runc: more than 32). */
	if (nnames > 32)
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	add_rules(ctx, def_action, p);

	struct sock_filter stub[MAX_STUB];
	int nstub = (options & OPT_ENOSYS_STUB) ? build_stub(p, stub) : 0;
	export_bpf(ctx, stub, nstub);
	seccomp_release(ctx);

	for (size_t i = 0; i < p->nrec; i++) {
		if (p->rec[i].type != R_SECCOMP_LISTENER)
			continue;
		struct cursor lc = cursor_of(&p->rec[i]);
		cur_str(&lc);
		if (listener_fd < 0)
			fail("seccomp: no connection to the seccomp agent");
		state_tmpl = cur_str(&lc); /* filled in at load time, once the pid is known */
		load_flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
	}
	if ((load_flags & SECCOMP_FILTER_FLAG_TSYNC) &&
	    (load_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER))
		load_flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
	/* The flags are checked now, while errors still reach pyrunc: with a NULL
	 * program, known flags give EFAULT. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, load_flags, NULL) == 0 ||
	    errno != EFAULT)
		fail_errno(errno, "seccomp: the kernel does not support the filter flags 0x%lx",
			   load_flags);
	/* Without no_new_privs the kernel wants CAP_SYS_ADMIN; process.c keeps it
	 * until the filter is loaded. */
	if (!prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) && !has_sys_admin())
		fail("seccomp: loading the filter needs CAP_SYS_ADMIN when "
		     "process.noNewPrivileges is false");
}

/* After `created` the sync socket is gone: the container's stderr is the only
 * place left for an error. */
static void __attribute__((noreturn)) late_fail(const char *what, int err)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "pyrunc: seccomp: %s: %s\n", what, strerror(err));
	if (n > 0 && write(2, msg, (size_t)n) < 0)
		_exit(1);
	_exit(1);
}

static void send_state(int notify_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = { state_doc, state_len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &notify_fd, sizeof(int));
	size_t done = 0;
	while (done < state_len) {
		long n = syscall(SYS_sendmsg, listener_fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			late_fail("sending the seccomp fd to the agent at listenerPath", errno);
		done += (size_t)n;
		/* the fd goes with the first message only */
		iov.iov_base = state_doc + done;
		iov.iov_len = state_len - done;
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
	}
	/* One state per connection, closed after sending (runtime-spec). */
	close(listener_fd);
}

void apply_seccomp(const struct plan *p)
{
	(void)p;
	if (!program)
		return;
	struct sock_fprog prog = { program_len, program };
	if (state_tmpl)
		build_state(state_tmpl);
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, load_flags, &prog);
	if (fd < 0)
		late_fail("loading the filter", errno);
	/* The notify fd is close-on-exec: only the agent keeps it. */
	if (load_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)
		send_state((int)fd);
}
