/* createContainer and startContainer hooks, which run in the container's
 * namespaces and so are run by the init itself: the state on stdin, args,
 * env and timeout from the plan; output captured for the error message. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "plan.h"

#define MAX_HOOK_ARGS 1024

const char *hook_state_create = "{}", *hook_state_start = "{}";

static void run_hook(const struct record *r, const char *state)
{
	struct cursor c = cursor_of(r);
	uint32_t timeout = cur_u32(&c), nargs = cur_u32(&c), nenv = cur_u32(&c);
	if (nargs == 0 || nargs > MAX_HOOK_ARGS || nenv > MAX_HOOK_ARGS)
		fail("plan: bad hook record");
	char *argv[MAX_HOOK_ARGS + 1], *envp[MAX_HOOK_ARGS + 1];
	const char *path = cur_str(&c);
	for (uint32_t i = 0; i < nargs; i++)
		argv[i] = (char *)cur_str(&c);
	argv[nargs] = NULL;
	for (uint32_t i = 0; i < nenv; i++)
		envp[i] = (char *)cur_str(&c);
	envp[nenv] = NULL;
	const char *where = cur_str(&c);

	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		fail_errno(errno, "%s: pipe", where);
	pid_t pid = fork();
	if (pid < 0)
		fail_errno(errno, "%s: fork", where);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		execve(path, argv, envp);
		dprintf(2, "exec %s: %s", path, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	size_t len = strlen(state);
	signal(SIGPIPE, SIG_IGN);
	if (write(in[1], state, len) < 0 && errno != EPIPE)
		fail_errno(errno, "%s: writing the state to hook %s", where, path);
	close(in[1]);

	char output[1024];
	size_t got = 0;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		fail_errno(errno, "%s: pidfd_open", where);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	int timed_out = 0, exited = 0;
	while (!exited) {
		struct pollfd fds[2] = { { pidfd, POLLIN, 0 }, { out[0], POLLIN, 0 } };
		int wait_ms = -1;
		if (timeout) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long long left = (long long)timeout * 1000 -
					 ((now.tv_sec - start.tv_sec) * 1000LL +
					  (now.tv_nsec - start.tv_nsec) / 1000000);
			if (left <= 0) {
				timed_out = 1;
				break;
			}
			wait_ms = (int)left;
		}
		if (poll(fds, out[0] >= 0 ? 2 : 1, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			fail_errno(errno, "%s: poll", where);
		}
		exited = fds[0].revents & POLLIN;
		while (out[0] >= 0) {
			char buf[512];
			ssize_t k = read(out[0], buf, sizeof(buf));
			if (k < 0 && errno == EAGAIN)
				break;
			if (k <= 0) {
				close(out[0]);
				out[0] = -1;
				break;
			}
			size_t room = sizeof(output) - 1 - got;
			size_t take = (size_t)k < room ? (size_t)k : room;
			memcpy(output + got, buf, take);
			got += take;
		}
	}
	if (timed_out)
		kill(pid, SIGKILL);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out[0] >= 0)
		close(out[0]);
	close(pidfd);
	output[got] = '\0';
	while (got > 0 && (output[got - 1] == '\n' || output[got - 1] == ' '))
		output[--got] = '\0';
	for (size_t i = 0; i < got; i++)
		if (output[i] == '\n')
			output[i] = ' ';
	if (timed_out)
		fail("%s: hook %s timed out after %us", where, path, timeout);
	if (WIFSIGNALED(status))
		fail("%s: hook %s killed by signal %d%s%s", where, path, WTERMSIG(status),
		     got ? ": " : "", output);
	if (WEXITSTATUS(status) != 0)
		fail("%s: hook %s failed with exit status %d%s%s", where, path, WEXITSTATUS(status),
		     got ? ": " : "", output);
}

/* The state with our pid: hooks in the container's namespaces see the pid
 * as the container sees it. */
static const char *with_own_pid(const char *state)
{
	char *own = with_pid(state, (unsigned)getpid());
	if (strlen(own) >= 1 << 16)
		fail("hook state too long");
	return own;
}

void run_hooks(const struct plan *p, uint16_t type, const char *state)
{
	const char *own = NULL;
	for (size_t i = 0; i < p->nrec; i++)
		if (p->rec[i].type == type) {
			if (!own)
				own = with_own_pid(state);
			run_hook(&p->rec[i], own);
		}
}
