/* The container process's attributes: rlimits, user and groups,
 * capabilities, no_new_privs, umask and cwd; then the wait for `start` and
 * execve. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"
#include "plan.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_ARGS 65536

static char *argv_buf[MAX_ARGS + 1];
static char *envp_buf[MAX_ARGS + 1];
static char found_path[PATH_MAX];

static void collect(const struct plan *p, uint16_t type, char **out)
{
	size_t n = 0;
	for (size_t i = 0; i < p->nrec; i++) {
		if (p->rec[i].type != type)
			continue;
		struct cursor c = cursor_of(&p->rec[i]);
		while (c.left > 0) {
			if (n == MAX_ARGS)
				fail("plan: too many strings");
			out[n++] = (char *)cur_str(&c);
		}
	}
	out[n] = NULL;
}

static int last_cap(void)
{
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	char buf[16] = { 0 };
	if (fd < 0)
		return CAP_LAST_CAP;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : CAP_LAST_CAP;
}

static void set_caps(const uint64_t caps[5], int last)
{
	enum { BOUNDING, EFFECTIVE, INHERITABLE, PERMITTED, AMBIENT };
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(caps[EFFECTIVE] >> (32 * i));
		data[i].permitted = (uint32_t)(caps[PERMITTED] >> (32 * i));
		data[i].inheritable = (uint32_t)(caps[INHERITABLE] >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail_errno(errno, "setting capabilities");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		fail_errno(errno, "clearing ambient capabilities");
	for (int cap = 0; cap <= last && cap < 64; cap++)
		if ((caps[AMBIENT] >> cap) & 1)
			if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
				fail_errno(errno, "raising ambient capability %d", cap);
}

/* strerror in lower case, as Go (runc) words it: clients match these texts
 * ("no such file or directory" gives 127, "permission denied" 126). */
static const char *go_strerror(int err)
{
	static char buf[128];
	snprintf(buf, sizeof(buf), "%s", strerror(err));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

/* linux.seccomp without no_new_privs: loading the filter needs CAP_SYS_ADMIN,
 * which the process may be about to lose (a capability set without it, or a
 * non-root user). It is kept in the effective and permitted sets until
 * apply_seccomp() has loaded the filter, as the last step before execve; then
 * these final sets are put in place (and checked). */
static int restore_caps;
static struct __user_cap_data_struct final_caps[2];
#define ADMIN_IDX (CAP_SYS_ADMIN / 32)
#define ADMIN_BIT (1U << (CAP_SYS_ADMIN % 32))

static void get_caps(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	if (syscall(SYS_capget, &hdr, data) < 0)
		fail_errno(errno, "reading capabilities");
}

/* Set aside the current sets as final and add CAP_SYS_ADMIN (if permitted). */
static void keep_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	get_caps(data);
	memcpy(final_caps, data, sizeof(data));
	if ((data[ADMIN_IDX].effective & ADMIN_BIT) || !(data[ADMIN_IDX].permitted & ADMIN_BIT))
		return; /* nothing to restore; prepare_seccomp() fails without it */
	data[ADMIN_IDX].effective |= ADMIN_BIT;
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail_errno(errno, "keeping CAP_SYS_ADMIN to load the seccomp filter");
	restore_caps = 1;
}

/* After the filter is loaded: drop what keep_sys_admin() kept. The sync socket
 * is closed by now, so errors go to the container's stderr. */
static void drop_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct now[2];
	if (!restore_caps)
		return;
	if (syscall(SYS_capset, &hdr, final_caps) < 0 || syscall(SYS_capget, &hdr, now) < 0 ||
	    memcmp(now, final_caps, sizeof(now)) != 0) {
		static const char msg[] = "pyrunc: seccomp: dropping CAP_SYS_ADMIN after loading "
					  "the filter failed (is capset allowed?)\n";
		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(1);
		_exit(1);
	}
}

/* Find the program as execve(2) from a shell would, in the container. */
static const char *find_program(const char *name, char **envp)
{
	struct stat st;
	if (strchr(name, '/')) {
		if (stat(name, &st) < 0)
			fail("unable to start container process: exec: \"%s\": stat %s: %s", name,
			     name, go_strerror(errno));
		if (S_ISDIR(st.st_mode) || access(name, X_OK) < 0)
			fail("unable to start container process: exec: \"%s\": permission denied",
			     name);
		return name;
	}
	const char *path = DEFAULT_PATH;
	for (char **e = envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	int denied = 0;
	while (*path) {
		const char *end = strchrnul(path, ':');
		size_t dirlen = (size_t)(end - path);
		int n = snprintf(found_path, sizeof(found_path), "%.*s%s%s", (int)dirlen, path,
				 dirlen ? "/" : "", name);
		if (n > 0 && (size_t)n < sizeof(found_path) && stat(found_path, &st) == 0) {
			if (!S_ISDIR(st.st_mode) && access(found_path, X_OK) == 0)
				return found_path;
			denied = 1;
		}
		path = *end ? end + 1 : end;
	}
	if (denied)
		fail("unable to start container process: exec: \"%s\": permission denied", name);
	fail("unable to start container process: exec: \"%s\": executable file not found in $PATH",
	     name);
}

/* Write `value` to an attribute of this task's LSM; 0 or an errno. */
static int write_attr(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	ssize_t n = write(fd, value, strlen(value));
	int err = n < 0 ? errno : (size_t)n != strlen(value) ? EIO : 0;
	close(fd);
	return err;
}

/* process.apparmorProfile and selinuxLabel: the exec attribute, which takes
 * effect at execve and is inherited by a clone. Written while still
 * privileged, as runc does; exec's helper writes it before it joins the
 * container's namespaces (their /proc has no /proc/self for it). */
void apply_lsm(const struct plan *p)
{
	for (size_t i = 0; i < p->nrec; i++) {
		const struct record *r = &p->rec[i];
		struct cursor c = cursor_of(r);
		if (r->type == R_APPARMOR) {
			const char *profile = cur_str(&c);
			char value[4096];
			if (snprintf(value, sizeof(value), "exec %s", profile) >= (int)sizeof(value))
				fail("$.process.apparmorProfile: too long");
			int err = write_attr("/proc/self/attr/apparmor/exec", value);
			if (err == ENOENT)  /* before Linux 5.8 */
				err = write_attr("/proc/self/attr/exec", value);
			if (err)
				fail_errno(err, "$.process.apparmorProfile: applying apparmor profile "
					   "\"%s\"", profile);
		} else if (r->type == R_SELINUX) {
			const char *label = cur_str(&c);
			int err = write_attr("/proc/self/attr/exec", label);
			if (err)
				fail_errno(err, "$.process.selinuxLabel: setting selinux label \"%s\"",
					   label);
		}
	}
}

void apply_process(const struct plan *p, const char **path_out)
{
	const char *cwd = "/";
	const uint64_t *caps = NULL;
	uint64_t capv[5];
	mode_t mask = 022;
	int last = last_cap();
	int seccomp_admin = plan_has(p, R_SECCOMP_DEFAULT) && !plan_has(p, R_NO_NEW_PRIVS);
	int was_root = geteuid() == 0;

	apply_sched_attrs(p); /* before capabilities and the user change */
	if (!plan_has(p, R_EXEC))
		apply_lsm(p);
	for (size_t i = 0; i < p->nrec; i++) {
		const struct record *r = &p->rec[i];
		struct cursor c = cursor_of(r);
		if (r->type == R_RLIMIT) {
			int res = (int)cur_u32(&c);
			struct rlimit rl;
			rl.rlim_cur = cur_u64(&c);
			rl.rlim_max = cur_u64(&c);
			if (setrlimit(res, &rl) < 0)
				fail_errno(errno, "setting rlimit %d to %llu/%llu", res,
					   (unsigned long long)rl.rlim_cur,
					   (unsigned long long)rl.rlim_max);
		} else if (r->type == R_CWD) {
			cwd = cur_str(&c);
		} else if (r->type == R_CAPS) {
			for (int k = 0; k < 5; k++)
				capv[k] = cur_u64(&c);
			caps = capv;
		}
	}
	/* As runc: enter the cwd while still privileged (a directory only root
	 * can reach), and again after the user change if that was refused (a
	 * directory only the user can reach). */
	int chdir_later = 0;
	if (chdir(cwd) < 0) {
		if (errno != EACCES && errno != EPERM)
			fail_errno(errno, "chdir to cwd (\"%s\") set in config.json", cwd);
		chdir_later = 1;
	}
	if (caps) {
		for (int cap = 0; cap <= last; cap++)
			if (cap >= 64 || !((caps[0] >> cap) & 1))
				if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
					fail_errno(errno, "dropping capability %d from the bounding set",
						   cap);
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			fail_errno(errno, "prctl(PR_SET_KEEPCAPS)");
	} else if (seccomp_admin && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
		fail_errno(errno, "prctl(PR_SET_KEEPCAPS)");
	}
	for (size_t i = 0; i < p->nrec; i++) {
		const struct record *r = &p->rec[i];
		if (r->type != R_USER)
			continue;
		struct cursor c = cursor_of(r);
		uid_t uid = cur_u32(&c);
		gid_t gid = cur_u32(&c);
		uint32_t um = cur_u32(&c), ngroups = cur_u32(&c);
		if (ngroups > 65536)
			fail("plan: too many additional gids");
		gid_t *groups = calloc(ngroups ? ngroups : 1, sizeof(gid_t));
		if (!groups)
			fail("out of memory");
		for (uint32_t k = 0; k < ngroups; k++)
			groups[k] = cur_u32(&c);
		if (um != UINT32_MAX)
			mask = (mode_t)um;
		/* setgroups is refused in a user namespace with setgroups "deny". */
		if (setgroups(ngroups, groups) < 0 && !(errno == EPERM && ngroups == 0))
			fail_errno(errno, "setting additional groups");
		free(groups);
		if (setresgid(gid, gid, gid) < 0)
			fail_errno(errno, "setting gid %u%s", gid, errno == EINVAL ?
				   " (not mapped in the container's user namespace)" : "");
		if (setresuid(uid, uid, uid) < 0)
			fail_errno(errno, "setting uid %u%s", uid, errno == EINVAL ?
				   " (not mapped in the container's user namespace)" : "");
	}
	if (caps) {
		uint64_t sets[5];
		struct __user_cap_data_struct d[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
		memcpy(sets, caps, sizeof(sets));
		if (seccomp_admin)
			get_caps(d);
		if (d[ADMIN_IDX].permitted & ADMIN_BIT) {
			sets[1] |= 1ULL << CAP_SYS_ADMIN;
			sets[3] |= 1ULL << CAP_SYS_ADMIN;
			for (int k = 0; k < 2; k++) {
				final_caps[k].effective = (uint32_t)(caps[1] >> (32 * k));
				final_caps[k].inheritable = (uint32_t)(caps[2] >> (32 * k));
				final_caps[k].permitted = (uint32_t)(caps[3] >> (32 * k));
			}
			restore_caps = sets[1] != caps[1] || sets[3] != caps[3];
		}
		set_caps(sets, last);
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	} else if (seccomp_admin) {
		/* What setuid without keepcaps does to the sets, after the filter. */
		keep_sys_admin();
		if (was_root && geteuid() != 0) {
			for (int k = 0; k < 2; k++)
				final_caps[k].effective = final_caps[k].permitted = 0;
			restore_caps = 1;
		}
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	}
	if (plan_has(p, R_NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail_errno(errno, "prctl(PR_SET_NO_NEW_PRIVS)");
	umask(mask);
	if (chdir_later && chdir(cwd) < 0)
		fail_errno(errno, "chdir to cwd (\"%s\") set in config.json", cwd);
	/* The cwd must be inside the container's root (CVE-2024-21626). */
	char here[PATH_MAX];
	if (!getcwd(here, sizeof(here)) || here[0] != '/')
		fail("cwd \"%s\" is outside the container's root", cwd);
	collect(p, R_ARGS, argv_buf);
	collect(p, R_ENV, envp_buf);
	if (!argv_buf[0])
		fail("process.args is empty");
	*path_out = find_program(argv_buf[0], envp_buf);
	apply_exec_attrs(p);
	prepare_seccomp(p);
}

static unsigned preserved_fds(const struct plan *p)
{
	unsigned preserve = 0;
	for (size_t i = 0; i < p->nrec; i++)
		if (p->rec[i].type == R_PRESERVE_FDS) {
			struct cursor c = cursor_of(&p->rec[i]);
			preserve = cur_u32(&c);
		}
	return preserve;
}

static void close_range_or_loop(unsigned from, unsigned to)
{
	if (syscall(SYS_close_range, from, to, 0) < 0)
		for (unsigned fd = from; fd < 65536 && fd <= to; fd++)
			close((int)fd);
}

/* Close every fd from `low` on, except keep_a, keep_b and keep_c (-1: none). */
static void close_from(unsigned low, int keep_a, int keep_b, int keep_c)
{
	int keep[3] = { keep_a, keep_b, keep_c };
	for (int i = 0; i < 3; i++) /* sort them */
		for (int j = i + 1; j < 3; j++)
			if (keep[j] < keep[i]) {
				int t = keep[i];
				keep[i] = keep[j];
				keep[j] = t;
			}
	unsigned from = low;
	for (int k = 0; k <= 3; k++) {
		unsigned to = ~0U;
		if (k < 3) {
			if (keep[k] < 0 || (unsigned)keep[k] < from)
				continue;
			to = (unsigned)keep[k] - 1;
		}
		if (from <= to)
			close_range_or_loop(from, to);
		if (k < 3)
			from = (unsigned)keep[k] + 1;
	}
}

/* exec's child, first thing: only stdio, the preserved fds, a and b (and the
 * seccomp agent's socket, until the filter is loaded) stay open. */
void close_extra_fds(const struct plan *p, int a, int b)
{
	close_from(3 + preserved_fds(p), a, b, seccomp_listener_fd());
}

/* Wait for `start` on the listening socket. The connection becomes where
 * errors go; it is close-on-exec, so `start` reads EOF exactly when execve
 * succeeded, and an error message otherwise. */
static int wait_for_start(int start_fd)
{
	int conn;
	do
		conn = accept4(start_fd, NULL, NULL, SOCK_CLOEXEC);
	while (conn < 0 && errno == EINTR);
	if (conn < 0)
		_exit(1);
	close(start_fd);
	sync_fd = conn;
	return conn;
}

/* exec's stage 1: the seccomp filter, and then the final capability sets. */
void load_filter_now(const struct plan *p)
{
	apply_seccomp(p);
	drop_sys_admin();
}

/* The last steps: nothing but stdio, the preserved fds and `keep_fd` (the
 * seccomp agent's socket and keep_fd are close-on-exec) reaches the process;
 * the filter (unless loaded already); execve. */
static void __attribute__((noreturn)) exec_now(const struct plan *p, const char *path,
						int keep_fd, int filter_loaded)
{
	close_from(3 + preserved_fds(p), keep_fd, seccomp_listener_fd(), -1);
	if (!filter_loaded)
		load_filter_now(p);
	execve(path, argv_buf, envp_buf);
	fail_errno(errno, "unable to start container process: exec: \"%s\"", path);
}

/* exec's child, in the container's pid namespace. */
void finish_exec(const struct plan *p, const char *path, int keep_fd, int filter_loaded)
{
	if (plan_has(p, R_CONSOLE))
		take_terminal();
	exec_now(p, path, keep_fd, filter_loaded);
}

void exec_process(const struct plan *p, const char *path, int start_fd)
{
	int conn = -1;
	int loaded = 0;
	if (start_fd >= 0)
		conn = wait_for_start(start_fd);
	if (plan_has(p, R_HOOK_START_CONTAINER)) {
		/* As runc 1.1.5: startContainer hooks run under the filter. */
		load_filter_now(p);
		loaded = 1;
	}
	run_hooks(p, R_HOOK_START_CONTAINER, hook_state_start);
	exec_now(p, path, conn, loaded);
}
