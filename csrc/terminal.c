/* process.terminal: a pty made inside the container (its devpts), the
 * master sent to the caller's console socket with SCM_RIGHTS (the protocol
 * of runc's recvtty, containerd and conmon), the slave made the process's
 * stdio, controlling terminal and /dev/console. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"
#include "plan.h"

static void send_master(int sock, int master)
{
	char data[] = "/dev/ptmx";
	struct iovec iov = { data, sizeof(data) - 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fail_errno(errno, "sending the pty master to the console socket");
}

/* Bind the pty slave over /dev/console, checking that the node we mount on
 * is ours (a plain file we made, not a swapped-in link). */
static void bind_console(const char *slave_path, int slave)
{
	struct stat st, slave_st;
	int fd = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST && errno != ENXIO && errno != ENOENT)
		return; /* no writable /dev: runc does without /dev/console then */
	if (fd >= 0)
		close(fd);
	if (fstat(slave, &slave_st) < 0 || lstat(slave_path, &st) < 0 ||
	    st.st_rdev != slave_st.st_rdev)
		fail("%s is not the pty slave we opened", slave_path);
	if (lstat("/dev/console", &st) < 0 || S_ISLNK(st.st_mode))
		fail("/dev/console is a symlink");
	if (mount(slave_path, "/dev/console", NULL, MS_BIND, NULL) < 0)
		fail_errno(errno, "bind mounting %s at /dev/console", slave_path);
}

/* Make the pty slave on fd 0 the controlling terminal of a new session. */
void take_terminal(void)
{
	if (setsid() < 0)
		fail_errno(errno, "setsid");
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		fail_errno(errno, "making the pty the controlling terminal");
}

/* `ctty`: also make it this process's controlling terminal (exec's stage 1
 * leaves that to the child, take_terminal()). */
void setup_terminal(const struct plan *p, int console, int ctty)
{
	uid_t uid = 0;
	for (size_t i = 0; i < p->nrec; i++)
		if (p->rec[i].type == R_USER) {
			struct cursor c = cursor_of(&p->rec[i]);
			uid = cur_u32(&c);
		}
	for (size_t i = 0; i < p->nrec; i++) {
		if (p->rec[i].type != R_CONSOLE)
			continue;
		struct cursor c = cursor_of(&p->rec[i]);
		int sock = (int)cur_u32(&c);
		uint32_t size = cur_u32(&c);
		int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0)
			fail_errno(errno, "opening /dev/ptmx in the container");
		if (unlockpt(master) < 0)
			fail_errno(errno, "unlockpt");
		char slave_path[64];
		if (ptsname_r(master, slave_path, sizeof(slave_path)) != 0)
			fail("ptsname failed");
		int slave = open(slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (slave < 0)
			fail_errno(errno, "opening the pty slave %s", slave_path);
		if (fchown(slave, uid, (gid_t)-1) < 0 && errno != EINVAL)
			fail_errno(errno, "chown of the pty slave");
		struct winsize ws = { .ws_row = (unsigned short)(size >> 16),
				      .ws_col = (unsigned short)(size & 0xffff) };
		if (size && ioctl(slave, TIOCSWINSZ, &ws) < 0)
			fail_errno(errno, "setting the console size");
		if (console)
			bind_console(slave_path, slave);
		send_master(sock, master);
		close(master);
		close(sock);
		for (int fd = 0; fd < 3; fd++)
			if (dup3(slave, fd, 0) < 0)
				fail_errno(errno, "dup of the pty slave to fd %d", fd);
		close(slave);
		if (ctty)
			take_terminal();
	}
}
