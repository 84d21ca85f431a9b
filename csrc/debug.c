/* `pyrunc debug`: a shell (or any command) inside a running container's pid,
 * network, ipc, uts and cgroup namespaces (and user namespace), but with the
 * tools of the host or of a tools root filesystem, and the container's own
 * filesystem at /container (read-only unless --rw). Everything is built in
 * a private mount namespace that dies with the process: nothing is left
 * behind, nothing is written to the container's rootfs. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"
#include "plan.h"

static char newroot[64];
static int userns_fd = -1;

struct debug_args {
	uint32_t rw;
	const char *tools, *mntns, *userns;
	int tty; /* the pty slave pyrunc made (-1: the caller's stdio as it is) */
};

static struct debug_args parse(const struct plan *p)
{
	struct debug_args a = { 0, "", "", "", -1 };
	for (size_t i = 0; i < p->nrec; i++)
		if (p->rec[i].type == R_DEBUG) {
			struct cursor c = cursor_of(&p->rec[i]);
			a.rw = cur_u32(&c);
			a.tools = cur_str(&c);
			a.mntns = cur_str(&c);
			a.userns = cur_str(&c);
			a.tty = (int)cur_u32(&c);
		}
	return a;
}

static void make_readonly(const char *path)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
	if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		fail_errno(errno, "debug: making %s read-only", path);
}

/* The container's whole mount tree, cloned from inside its mount namespace. */
static int clone_container_tree(const char *mntns)
{
	int own = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	int ctr = open(mntns, O_RDONLY | O_CLOEXEC);
	if (own < 0 || ctr < 0)
		fail_errno(errno, "debug: opening mount namespaces");
	if (setns(ctr, CLONE_NEWNS) < 0)
		fail_errno(errno, "debug: entering the container's mount namespace");
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, "/",
				OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	int err = errno;
	if (setns(own, CLONE_NEWNS) < 0)
		fail_errno(errno, "debug: returning to the private mount namespace");
	if (tree < 0)
		fail_errno(err, "debug: cloning the container's mount tree");
	close(own);
	close(ctr);
	return tree;
}

/* Bind each top-level entry of `base` into the new root (not proc, sys, dev,
 * tmp, container, nor the new root's own mount point). */
static void populate(const char *base, int rw)
{
	DIR *d = opendir(base);
	if (!d)
		fail_errno(errno, "debug: reading the tools root %s", base);
	const char *skip[] = { ".", "..", "proc", "sys", "dev", "tmp", "container",
			       newroot + 1, NULL };
	struct dirent *e;
	char src[4096], dst[4096];
	while ((e = readdir(d))) {
		int skipped = 0;
		for (int i = 0; skip[i]; i++)
			if (strcmp(e->d_name, skip[i]) == 0)
				skipped = 1;
		if (skipped)
			continue;
		snprintf(src, sizeof(src), "%s/%s", strcmp(base, "/") ? base : "", e->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", newroot, e->d_name);
		struct stat st;
		if (lstat(src, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlink(src, target, sizeof(target) - 1);
			if (n < 0)
				continue;
			target[n] = '\0';
			if (symlink(target, dst) < 0)
				fail_errno(errno, "debug: linking %s", dst);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (mkdir(dst, st.st_mode & 07777) < 0)
				fail_errno(errno, "debug: making %s", dst);
		} else {
			int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
			if (fd < 0)
				fail_errno(errno, "debug: making %s", dst);
			close(fd);
		}
		if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
			fail_errno(errno, "debug: binding %s", src);
		if (!rw)
			make_readonly(dst);
	}
	closedir(d);
}

/* In the host's namespaces: a private mount namespace with the new root. */
void debug_prepare(const struct plan *p)
{
	struct debug_args a = parse(p);
	if (unshare(CLONE_NEWNS) < 0)
		fail_errno(errno, "debug: creating a mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail_errno(errno, "debug: making the mount namespace private");
	int tree = clone_container_tree(a.mntns);
	if (!a.rw) {
		struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
		if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
			    sizeof(attr)) < 0)
			fail_errno(errno, "debug: making the container's tree read-only");
	}
	if (*a.userns) {
		userns_fd = open(a.userns, O_RDONLY | O_CLOEXEC);
		if (userns_fd < 0)
			fail_errno(errno, "debug: opening %s", a.userns);
	}
	/* The new root: a tmpfs over a directory every system has. */
	snprintf(newroot, sizeof(newroot), "%s", access("/mnt", F_OK) == 0 ? "/mnt" : "/media");
	if (mount("pyrunc-debug", newroot, "tmpfs", MS_NOSUID, "mode=755") < 0)
		fail_errno(errno, "debug: mounting a tmpfs at %s", newroot);
	/* The tools are bound read-only: the session needs to read them only. */
	populate(*a.tools ? a.tools : "/", 0);
	char path[128];
	const char *dirs[] = { "container", "proc", "sys", "dev", "tmp", NULL };
	for (int i = 0; dirs[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", newroot, dirs[i]);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			fail_errno(errno, "debug: making %s", path);
	}
	snprintf(path, sizeof(path), "%s/container", newroot);
	if (syscall(SYS_move_mount, tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		fail_errno(errno, "debug: attaching the container's tree at /container");
	close(tree);
	snprintf(path, sizeof(path), "%s/tmp", newroot);
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		fail_errno(errno, "debug: mounting /tmp");
	snprintf(path, sizeof(path), "%s/dev", newroot);
	if (mount("/dev", path, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail_errno(errno, "debug: binding /dev");
	trace("debug: tools root and /container ready");
}

/* In the container's pid namespace: its /proc and /sys, then pivot_root;
 * with a terminal, a session of its own whose controlling terminal is the
 * pty slave, so that the shell can own the foreground process group (its
 * own pid, in the container's pid namespace) and do job control. */
void debug_enter(const struct plan *p)
{
	struct debug_args a = parse(p);
	char path[128];
	snprintf(path, sizeof(path), "%s/proc", newroot);
	if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		fail_errno(errno, "debug: mounting the container's /proc");
	snprintf(path, sizeof(path), "%s/sys", newroot);
	if (mount("sysfs", path, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) < 0)
		fail_errno(errno, "debug: mounting the container's /sys");
	if (chdir(newroot) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		fail_errno(errno, "debug: pivot_root to the tools root");
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		fail_errno(errno, "debug: detaching the old root");
	if (userns_fd >= 0) {
		if (setns(userns_fd, CLONE_NEWUSER) < 0)
			fail_errno(errno, "debug: joining the container's user namespace");
		close(userns_fd);
		/* The container's root where it has one (the host's root is not
		 * mapped there: it would be the overflow uid); the capabilities in
		 * the namespace stay. */
		if (setgroups(0, NULL) < 0 && errno != EPERM)
			fail_errno(errno, "debug: dropping the supplementary groups");
		if (setresgid(0, 0, 0) == 0 && setresuid(0, 0, 0) < 0 && errno != EINVAL)
			fail_errno(errno, "debug: becoming the user namespace's root");
	}
	if (a.tty >= 0) {
		for (int fd = 0; fd < 3; fd++)
			if (dup3(a.tty, fd, 0) < 0)
				fail_errno(errno, "debug: dup of the pty slave to fd %d", fd);
		close(a.tty);
		take_terminal();
	} else if (setsid() < 0) { /* a session of its own all the same: what is
				    * left in it when it ends is killed */
		fail_errno(errno, "debug: setsid");
	}
	trace("debug: inside the container's namespaces");
}
