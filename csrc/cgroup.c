/* Stage 1 puts itself and the container process in the container's cgroups
 * (the directories pyrunc made and named in the plan), without the RCU grace
 * period that a write to cgroup.procs waits for (cgroup_threadgroup_rwsem,
 * ~5-20 ms here, once per create):
 *  - cgroup v1: "0" written to a hierarchy's `tasks` file moves the calling
 *    thread alone, which the kernel does without that lock; stage 1 has one
 *    thread, so that is the whole process, and the clone inherits it;
 *  - cgroup v2: the container process is cloned straight into its cgroup
 *    (clone3 with CLONE_INTO_CGROUP). A cgroup namespace of its own is made
 *    by the process itself once it is there, so that the namespace's root is
 *    the container's cgroup and not stage 1's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"
#include "plan.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* Join the v1 hierarchies; return an fd of the v2 cgroup to clone into, or -1. */
int join_cgroups(const struct plan *p)
{
	int into = -1;
	for (size_t i = 0; i < p->nrec; i++) {
		struct cursor c = cursor_of(&p->rec[i]);
		if (p->rec[i].type == R_CGROUP_TASKS) {
			const char *path = cur_str(&c);
			int fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "0", 1) != 1)
				fail_errno(errno, "joining cgroup %s", path);
			close(fd);
		} else if (p->rec[i].type == R_CGROUP_INTO) {
			const char *path = cur_str(&c);
			if (into >= 0)
				close(into);
			into = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (into < 0)
				fail_errno(errno, "opening cgroup %s", path);
		}
	}
	return into;
}

/* Like fork(), with `flags`, into the v2 cgroup `into` (-1: stay in ours).
 * Returns 0 in the child, which has its own cgroup namespace if asked for.
 * A kernel without clone3 (before 5.3; CLONE_INTO_CGROUP: 5.7) gets the old
 * way: stage 1 moves itself through cgroup.procs first. */
long clone_into_cgroup(uint64_t flags, int into)
{
	if (into >= 0) {
		struct clone_args args;
		memset(&args, 0, sizeof(args));
		args.flags = (flags & ~(uint64_t)CLONE_NEWCGROUP) | CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)into;
		long pid = syscall(SYS_clone3, &args, sizeof(args));
		if (pid == 0 && (flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
			fail_errno(errno, "creating the cgroup namespace");
		if (pid >= 0 || (errno != ENOSYS && errno != E2BIG && errno != EINVAL)) {
			close(into);
			return pid;
		}
		int procs = openat(into, "cgroup.procs", O_WRONLY | O_CLOEXEC);
		if (procs < 0 || write(procs, "0", 1) != 1)
			fail_errno(errno, "joining the v2 cgroup");
		close(procs);
		close(into);
	}
	return syscall(SYS_clone, (unsigned long)flags, NULL, NULL, NULL, 0);
}
