/* Idmapped bind mounts (a mount's uidMappings/gidMappings with the idmap or
 * ridmap option).
 *
 * Stage 1, still in the host's namespaces and with the host's privileges,
 * makes each one as a detached mount: a throwaway child gets a new user
 * namespace, its maps are written, its namespace file opened; then
 * open_tree(OPEN_TREE_CLONE) clones the source and mount_setattr(MOUNT_ATTR_IDMAP)
 * idmaps it. The container process inherits the fds and move_mount()s each one
 * onto its destination, resolved inside the rootfs as any other mount.
 *
 * With a new user namespace, plain bind sources are opened the same way
 * (R_MOUNT_TREE, no idmap): as host root, as runc does, so a source under a
 * directory only root can search still works. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "plan.h"

#define MAX_IDMAP 1024

static int idmap_fds[MAX_IDMAP];
static size_t idmap_count, idmap_used;
static int idmap_pending = -1;

static void write_map(pid_t pid, const char *file, struct cursor *c, uint32_t n,
		      const char *where)
{
	char path[64], buf[4096];
	size_t len = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t inner = cur_u32(c), outer = cur_u32(c), size = cur_u32(c);
		int k = snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n", inner, outer, size);
		if (k < 0 || (size_t)k >= sizeof(buf) - len)
			fail("%s: too many id mappings", where);
		len += (size_t)k;
	}
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail_errno(errno, "%s: opening %s of the mapping's user namespace", where, file);
	if (write(fd, buf, len) != (ssize_t)len)
		fail_errno(errno, "%s: writing the %s \"%.*s\"", where, file,
			   len ? (int)len - 1 : 0, buf);
	close(fd);
}

/* A user namespace with the mount's mappings, as an fd. */
static int mapping_userns(struct cursor *c, uint32_t nuid, uint32_t ngid, const char *where)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		fail_errno(errno, "%s: pipe", where);
	long pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL,
			   NULL, 0);
	if (pid < 0)
		fail_errno(errno, "%s: creating a user namespace for the mapping", where);
	if (pid == 0) {
		/* Hold the namespace until the parent has its fd (EOF). */
		char ch;
		close(pipefd[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		while (read(pipefd[0], &ch, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(pipefd[0]);
	write_map((pid_t)pid, "uid_map", c, nuid, where);
	write_map((pid_t)pid, "gid_map", c, ngid, where);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/ns/user", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = errno;
	close(pipefd[1]);
	while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (fd < 0)
		fail_errno(err, "%s: opening the mapping's user namespace", where);
	return fd;
}

static int idmapped_tree(const struct record *r)
{
	struct cursor c = cursor_of(r);
	uint32_t flags = cur_u32(&c), nuid = cur_u32(&c), ngid = cur_u32(&c);
	if (nuid > 340 || ngid > 340 || c.left < ((size_t)nuid + ngid) * 12)
		fail("plan: bad idmap record");
	struct cursor maps = c;
	c.p += ((size_t)nuid + ngid) * 12;
	c.left -= ((size_t)nuid + ngid) * 12;
	const char *src = cur_str(&c), *where = cur_str(&c);

	int userns = mapping_userns(&maps, nuid, ngid, where);
	unsigned int clone_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
	if (flags & 1)
		clone_flags |= AT_RECURSIVE;
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, src, clone_flags);
	if (tree < 0)
		fail_errno(errno, "%s: open_tree(%s)", where, src);
	struct mount_attr attr = { 0 };
	attr.attr_set = MOUNT_ATTR_IDMAP;
	attr.userns_fd = (uint64_t)userns;
	unsigned int at = AT_EMPTY_PATH | ((flags & 2) ? AT_RECURSIVE : 0);
	if (syscall(SYS_mount_setattr, tree, "", at, &attr, sizeof(attr)) < 0) {
		int err = errno;
		fail("%s: idmapping %s (mount_setattr MOUNT_ATTR_IDMAP%s): %s%s", where, src,
		     (flags & 2) ? ", recursive" : "", strerror(err),
		     err == EINVAL ? " (does its filesystem support idmapped mounts?)" : "");
	}
	close(userns);
	return tree;
}

/* A plain bind source, opened as host root (R_MOUNT_TREE). */
static int source_tree(const struct record *r)
{
	struct cursor c = cursor_of(r);
	uint32_t flags = cur_u32(&c);
	const char *src = cur_str(&c), *where = cur_str(&c);
	unsigned int clone_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
	if (flags & 1)
		clone_flags |= AT_RECURSIVE;
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, src, clone_flags);
	if (tree < 0)
		fail_errno(errno, "%s: bind mount source %s", where, src);
	return tree;
}

/* Stage 1: make every idmapped tree and open every bind source planned so,
 * before joining any namespace. */
void prepare_idmap_mounts(const struct plan *p)
{
	for (size_t i = 0; i < p->nrec; i++) {
		uint16_t type = p->rec[i].type;
		if (type != R_MOUNT_IDMAP && type != R_MOUNT_TREE)
			continue;
		if (idmap_count == MAX_IDMAP)
			fail("too many bind mounts to prepare (at most %d)", MAX_IDMAP);
		idmap_fds[idmap_count++] = type == R_MOUNT_IDMAP ? idmapped_tree(&p->rec[i])
								 : source_tree(&p->rec[i]);
	}
	if (idmap_count)
		trace("stage 1: %zu bind mount source(s) prepared", idmap_count);
}

/* setup_rootfs met an R_MOUNT_IDMAP or R_MOUNT_TREE: the next R_MOUNT uses its tree. */
void idmap_next(void)
{
	if (idmap_used >= idmap_count)
		fail("plan: idmapped mount %zu was not prepared", idmap_used);
	idmap_pending = idmap_fds[idmap_used++];
}

/* The detached tree for the mount being made, or -1 for a plain bind mount. */
int idmap_take(void)
{
	int fd = idmap_pending;
	idmap_pending = -1;
	return fd;
}

/* Attach the tree at the mount point `dst_fd` (an O_PATH fd). */
int idmap_attach(int tree, int dst_fd)
{
	int rc = (int)syscall(SYS_move_mount, tree, "", dst_fd, "",
			      MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	int err = errno;
	close(tree);
	errno = err;
	return rc;
}
