/* The host side of the C shim, bound to Python with cffi: the few system
 * calls that Python's os module lacks and that must run without Python in
 * between (the spawn of pyrunc-init). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Start the sealed init binary `exe_fd` with `argv`. The fds in keep[] stay
 * open at their numbers, stdio stays, all other fds are closed. Returns the pid, or -errno. */
int pyrunc_spawn(int exe_fd, char *const argv[], const int *keep, int nkeep)
{
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = vfork();
	if (pid == 0) {
		for (int sig = 1; sig < _NSIG; sig++)
			signal(sig, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		/* Everything but stdio closes on exec, except the kept fds. */
		syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
		for (int i = 0; i < nkeep; i++)
			if (fcntl(keep[i], F_SETFD, 0) < 0)
				_exit(126);
		syscall(SYS_execveat, exe_fd, "", argv, environ, AT_EMPTY_PATH);
		_exit(127);
	}
	int err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return pid < 0 ? -err : pid;
}

/* setns(2), for joining a container's namespaces from the host side. */
int pyrunc_setns(int fd, int nstype)
{
	return setns(fd, nstype) < 0 ? -errno : 0;
}
