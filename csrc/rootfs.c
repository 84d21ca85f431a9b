/* The container's root filesystem: mounts, devices, pivot_root, masked and
 * read-only paths. Every destination is resolved inside the rootfs with
 * openat2(RESOLVE_IN_ROOT) and mounted through its fd, so a symlink in the
 * image can never send a mount outside the rootfs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "init.h"
#include "plan.h"

static void reopen_dev_null(void);

static int root_fd = -1;
static const char *rootfs;

static int openat2_in_root(const char *path, int flags, unsigned long long resolve)
{
	struct open_how how = { .flags = (unsigned long long)flags | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve };
	int fd;
	do
		fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd;
}

/* Split "a/b/c" into the parent "a/b" (in buf) and return "c". */
static const char *split_path(const char *path, char *buf, size_t size)
{
	if (strlen(path) >= size)
		fail("path too long: %s", path);
	strcpy(buf, path);
	size_t n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	char *slash = strrchr(buf, '/');
	if (!slash)
		return NULL;
	const char *base = path + (slash - buf) + 1; /* in path: buf changes below */
	*slash = '\0';
	if (buf[0] == '\0')
		strcpy(buf, "/");
	return base;
}

/* Open the directory at `path` inside the rootfs, creating missing parts. */
static int mkdir_in_root(const char *path, int depth)
{
	int fd = openat2_in_root(path, O_PATH | O_DIRECTORY, 0);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (depth > 64)
		return -1;
	char parent[PATH_MAX];
	const char *base = split_path(path, parent, sizeof(parent));
	if (!base || !*base || strcmp(base, "..") == 0 || strcmp(base, ".") == 0)
		return -1;
	int pfd = mkdir_in_root(parent, depth + 1);
	if (pfd < 0)
		return -1;
	if (mkdirat(pfd, base, 0755) < 0 && errno != EEXIST) {
		int e = errno;
		close(pfd);
		errno = e;
		return -1;
	}
	close(pfd);
	return openat2_in_root(path, O_PATH | O_DIRECTORY, 0);
}

/* Open (creating if missing) the mount point at `dst` inside the rootfs: a
 * directory, or an empty file when `as_file`. */
static int open_mountpoint(const char *dst, int as_file, unsigned long long resolve)
{
	int fd = openat2_in_root(dst, O_PATH, resolve);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (!as_file)
		return mkdir_in_root(dst, 0);
	char parent[PATH_MAX];
	const char *base = split_path(dst, parent, sizeof(parent));
	if (!base)
		return -1;
	int pfd = mkdir_in_root(parent, 0);
	if (pfd < 0)
		return -1;
	int f = openat(pfd, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (f < 0 && errno != EEXIST) {
		int e = errno;
		close(pfd);
		errno = e;
		return -1;
	}
	if (f >= 0)
		close(f);
	close(pfd);
	return openat2_in_root(dst, O_PATH, resolve);
}

static void fd_path(int fd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* Flags of the mount at `path` that a bind remount must keep (locked ones). */
static unsigned long kept_flags(const char *path)
{
	struct statvfs sv;
	unsigned long f = 0;
	if (statvfs(path, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	if (sv.f_flag & ST_RDONLY)
		f |= MS_RDONLY;
	return f;
}

static int on_procfs(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
}

/* In a user namespace the kernel refuses sysfs without a network namespace
 * of its own, and proc in the host's pid namespace (EPERM): bind the host's
 * instead, recursively (its submounts are locked to it), as runc does for
 * sysfs; then the mount's flags, keeping those the kernel locked. */
static int host_fallback(const char *type, int *fd, const char *dst, char *target,
			 unsigned long flags)
{
	const char *host = strcmp(type, "sysfs") == 0 ? "/sys" :
			   strcmp(type, "proc") == 0 ? "/proc" : NULL;
	if (!host || mount(host, target, NULL, MS_BIND | MS_REC, NULL) < 0)
		return 0;
	flags &= MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	close(*fd); /* it points below the new mount */
	*fd = openat2_in_root(dst, O_PATH, RESOLVE_NO_SYMLINKS);
	if (*fd < 0)
		fail_errno(errno, "reopening %s%s", rootfs, dst);
	fd_path(*fd, target, 64);
	if (flags && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags | kept_flags(target),
			   NULL) < 0)
		fail_errno(errno, "remounting the host's %s at %s%s with its options", host, rootfs,
			   dst);
	trace("init: %s: bound the host's %s (no %s namespace of its own)", type, host,
	      *type == 's' ? "network" : "pid");
	return 1;
}

static void do_mount(const struct record *r)
{
	struct cursor c = cursor_of(r);
	unsigned long flags = (unsigned long)cur_u64(&c);
	unsigned long propagation = (unsigned long)cur_u64(&c);
	uint32_t bind_bits = cur_u32(&c);
	int bind = (int)(bind_bits & 1), want_proc = (int)(bind_bits & 2);
	const char *src = cur_str(&c), *dst = cur_str(&c), *type = cur_str(&c);
	const char *data = cur_str(&c), *where = cur_str(&c);
	char target[64];
	int as_file = 0;
	struct stat st;

	int tree = idmap_take();
	if (bind) {
		/* (a tree: opened by stage 1, the path may be out of our reach) */
		if ((tree >= 0 ? fstat(tree, &st) : stat(src, &st)) < 0)
			fail_errno(errno, "%s: bind mount source %s", where, src);
		as_file = !S_ISDIR(st.st_mode);
	}
	if (want_proc && !on_procfs(src))
		fail("%s: \"/proc\" cannot be mounted because it is not of type proc (source %s)",
		     where, src);
	/* proc and sysfs must land on a real directory, never through a symlink. */
	unsigned long long resolve = 0;
	if (strcmp(type, "proc") == 0 || strcmp(type, "sysfs") == 0)
		resolve = RESOLVE_NO_SYMLINKS;
	int fd = open_mountpoint(dst, as_file, resolve);
	if (fd < 0)
		fail_errno(errno, "%s: creating mount point %s%s", where, rootfs, dst);
	if (resolve && (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)))
		fail("%s: mount point %s%s is not a directory", where, rootfs, dst);
	fd_path(fd, target, sizeof(target));
	if (bind && tree >= 0) {
		if (idmap_attach(tree, fd) < 0)
			fail_errno(errno, "%s: attaching the bind mount of %s at %s%s", where,
				   src, rootfs, dst);
	} else if (tree >= 0) {
		fail("%s: idmapped mounts must be bind mounts", where);
	}
	if (bind) {
		if (tree < 0 && mount(src, target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
			fail_errno(errno, "%s: bind mounting %s at %s%s", where, src, rootfs, dst);
		unsigned long extra = flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
		if (extra) {
			/* Reopen: the fd points below the new mount. */
			close(fd);
			fd = openat2_in_root(dst, O_PATH, 0);
			if (fd < 0)
				fail_errno(errno, "%s: reopening %s%s", where, rootfs, dst);
			fd_path(fd, target, sizeof(target));
			if (mount(NULL, target, NULL,
				  MS_BIND | MS_REMOUNT | extra | kept_flags(target), NULL) < 0)
				fail_errno(errno, "%s: remounting %s%s with its options", where,
					   rootfs, dst);
		}
	} else if (mount(src, target, type, flags, *data ? data : NULL) < 0) {
		int err = errno;
		if (!(err == EPERM && host_fallback(type, &fd, dst, target, flags)))
			fail_errno(err, "%s: mounting %s (type %s) at %s%s", where, src, type, rootfs,
				   dst);
	}
	if (want_proc) { /* what is mounted now, whatever the source became meanwhile */
		close(fd);
		fd = openat2_in_root(dst, O_PATH, RESOLVE_NO_SYMLINKS);
		fd_path(fd, target, sizeof(target));
		if (fd < 0 || !on_procfs(target))
			fail("%s: \"/proc\" cannot be mounted because it is not of type proc (source "
			     "%s)", where, src);
	}
	if (propagation) {
		close(fd);
		fd = openat2_in_root(dst, O_PATH, 0);
		if (fd < 0)
			fail_errno(errno, "%s: reopening %s%s", where, rootfs, dst);
		fd_path(fd, target, sizeof(target));
		if (mount(NULL, target, NULL, propagation, NULL) < 0)
			fail_errno(errno, "%s: setting propagation of %s%s", where, rootfs, dst);
	}
	close(fd);
}

/* The JSON path and destination of a mount record, for traces. */
static const char *mount_where(const struct record *r)
{
	static char buf[512];
	struct cursor c = cursor_of(r);
	cur_u64(&c);
	cur_u64(&c);
	cur_u32(&c);
	cur_str(&c);
	const char *dst = cur_str(&c);
	cur_str(&c);
	cur_str(&c);
	snprintf(buf, sizeof(buf), "%s (%s)", cur_str(&c), dst);
	return buf;
}

/* Recursive mount attributes (rro, rnosuid, ...) with mount_setattr(2). */
static void set_mount_attr(const struct record *r)
{
	struct cursor c = cursor_of(r);
	struct mount_attr attr = { 0 };
	attr.attr_set = cur_u64(&c);
	attr.attr_clr = cur_u64(&c);
	const char *dst = cur_str(&c), *where = cur_str(&c);
	int fd = openat2_in_root(dst, O_PATH, 0);
	if (fd < 0)
		fail_errno(errno, "%s: opening %s%s", where, rootfs, dst);
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		fail_errno(errno, "%s: setting recursive mount attributes on %s%s", where, rootfs, dst);
	close(fd);
}

static void make_device(const struct record *r)
{
	struct cursor c = cursor_of(r);
	mode_t mode = cur_u32(&c);
	unsigned major_ = cur_u32(&c), minor_ = cur_u32(&c);
	uid_t uid = cur_u32(&c);
	gid_t gid = cur_u32(&c);
	int bind = (int)cur_u32(&c);
	const char *path = cur_str(&c);
	char parent[PATH_MAX], target[64];
	const char *base = split_path(path, parent, sizeof(parent));
	if (!base || !*base)
		fail("device path %s is not valid", path);
	int pfd = mkdir_in_root(parent, 0);
	if (pfd < 0)
		fail_errno(errno, "creating the directory of device %s", path);
	if (bind) {
		/* In a user namespace: bind the host's node onto an empty file. */
		int f = openat(pfd, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (f < 0 && errno != EEXIST)
			fail_errno(errno, "creating device mount point %s", path);
		if (f >= 0)
			close(f);
		int fd = openat2_in_root(path, O_PATH, RESOLVE_NO_SYMLINKS);
		if (fd < 0)
			fail_errno(errno, "opening device mount point %s", path);
		fd_path(fd, target, sizeof(target));
		if (mount(path, target, NULL, MS_BIND, NULL) < 0)
			fail_errno(errno, "bind mounting device %s", path);
		close(fd);
	} else {
		if (mknodat(pfd, base, mode, makedev(major_, minor_)) < 0) {
			if (errno != EEXIST)
				fail_errno(errno, "creating device %s", path);
			/* Something is there already: fine if it is this very device. */
			struct stat st;
			if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
				fail_errno(errno, "checking %s", path);
			if ((st.st_mode & S_IFMT) != (mode & S_IFMT) ||
			    (!S_ISFIFO(mode) && st.st_rdev != makedev(major_, minor_)))
				fail("%s exists and is not the requested device (%u:%u)", path, major_,
				     minor_);
			if (fchmodat(pfd, base, mode & 07777, 0) < 0)
				fail_errno(errno, "changing the mode of device %s", path);
		}
		if (fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			fail_errno(errno, "changing the owner of device %s", path);
	}
	close(pfd);
}

static void make_symlink(const struct record *r)
{
	struct cursor c = cursor_of(r);
	const char *target = cur_str(&c), *path = cur_str(&c);
	char parent[PATH_MAX];
	const char *base = split_path(path, parent, sizeof(parent));
	if (!base || !*base)
		fail("symlink path %s is not valid", path);
	int pfd = mkdir_in_root(parent, 0);
	if (pfd < 0)
		fail_errno(errno, "creating the directory of %s", path);
	if (symlinkat(target, pfd, base) < 0 && errno != EEXIST)
		fail_errno(errno, "creating symlink %s", path);
	close(pfd);
}

/* Unescape a mountinfo field (\040 and friends, octal) in place. */
static void unescape(char *s)
{
	char *w = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] && s[3]) {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* --no-pivot, before MS_MOVE and chroot: the host's full procfs and sysfs
 * mounts outside the rootfs would stay reachable in this mount namespace, and
 * the kernel lets a user namespace mount a fresh procfs (or sysfs) while a full
 * one is visible. Detach them, or cover them where that is refused (runc's
 * msMoveRoot). */
static void detach_host_proc_sys(void)
{
	char real[PATH_MAX], line[8192];
	static char mps[256][PATH_MAX];
	size_t n = 0;
	if (!realpath(rootfs, real))
		fail_errno(errno, "resolving the rootfs %s", rootfs);
	size_t rlen = strlen(real);
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		fail_errno(errno, "reading /proc/self/mountinfo");
	while (fgets(line, sizeof(line), f)) {
		char root[PATH_MAX], mp[PATH_MAX], fstype[64];
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mp) != 2 ||
		    sscanf(dash + 3, "%63s", fstype) != 1)
			continue;
		unescape(mp);
		if (strcmp(root, "/") != 0 || (strcmp(fstype, "proc") && strcmp(fstype, "sysfs")))
			continue;
		if (strncmp(mp, real, rlen) == 0 && (mp[rlen] == '/' || mp[rlen] == '\0'))
			continue;
		if (n == sizeof(mps) / sizeof(mps[0]))
			fail("--no-pivot: too many procfs and sysfs mounts on the host");
		snprintf(mps[n++], PATH_MAX, "%s", mp);
	}
	fclose(f);
	for (size_t i = 0; i < n; i++) {
		/* (a slave first, so that the detach does not reach the host) */
		if (mount(NULL, mps[i], NULL, MS_SLAVE | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue; /* under one detached already */
			fail_errno(errno, "--no-pivot: making the host's %s a slave", mps[i]);
		}
		if (umount2(mps[i], MNT_DETACH) == 0)
			continue;
		if ((errno != EINVAL && errno != EPERM) ||
		    mount("tmpfs", mps[i], "tmpfs", 0, NULL) < 0)
			fail_errno(errno, "--no-pivot: detaching the host's %s", mps[i]);
	}
}

static void pivot(int no_pivot)
{
	if (no_pivot) {
		detach_host_proc_sys();
		if (chdir(rootfs) < 0)
			fail_errno(errno, "chdir to %s", rootfs);
		if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
			fail_errno(errno, "moving %s to / (--no-pivot)", rootfs);
		if (chroot(".") < 0)
			fail_errno(errno, "chroot to %s", rootfs);
	} else {
		int old_root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		if (old_root < 0)
			fail_errno(errno, "opening the old root");
		if (fchdir(root_fd) < 0)
			fail_errno(errno, "chdir to %s", rootfs);
		if (syscall(SYS_pivot_root, ".", ".") < 0)
			fail_errno(errno, "pivot_root to %s", rootfs);
		if (fchdir(old_root) < 0)
			fail_errno(errno, "chdir to the old root");
		if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
			fail_errno(errno, "making the old root a slave");
		if (umount2(".", MNT_DETACH) < 0)
			fail_errno(errno, "detaching the old root");
		close(old_root);
	}
	if (chdir("/") < 0)
		fail_errno(errno, "chdir to the new root");
}

static void mask_path(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return;
		fail_errno(errno, "masking %s", path);
	}
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0)
			fail_errno(errno, "masking directory %s", path);
		return;
	}
	struct stat null_st;
	if (stat("/dev/null", &null_st) < 0 || !S_ISCHR(null_st.st_mode) ||
	    null_st.st_rdev != makedev(1, 3))
		fail("masking %s: /dev/null is not the null device", path);
	if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0)
		fail_errno(errno, "masking %s", path);
}

static void readonly_path(const char *path)
{
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return;
		fail_errno(errno, "making %s read-only", path);
	}
	if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(path), NULL) < 0)
		fail_errno(errno, "making %s read-only", path);
}

static void write_sysctl(const char *key, const char *value)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "/proc/sys/%s", key);
	if (n < 0 || (size_t)n >= sizeof(path))
		fail("sysctl %s: name too long", key);
	for (char *s = path + 10; *s; s++)
		if (*s == '.')
			*s = '/';
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		fail_errno(errno, "setting sysctl %s", key);
	/* Only ever write into procfs: a mount over /proc/sys must not redirect
	 * the write to another file (CVE-2025-52881). */
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC)
		fail("setting sysctl %s: %s is not on procfs (a mount covers it)", key, path);
	size_t len = strlen(value);
	if (write(fd, value, len) != (ssize_t)len)
		fail_errno(errno, "setting sysctl %s to %s", key, value);
	close(fd);
}

/* pivot_root refuses a new root whose parent mount is shared: make the
 * mount holding the rootfs (or the rootfs itself, when it is a mount point,
 * e.g. an overlay) a slave, in our mount namespace only. */
static void make_parent_mount_private(const char *dir)
{
	char real[PATH_MAX], best[PATH_MAX] = "", line[8192];
	int best_shared = 0;
	if (!realpath(dir, real))
		return;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		fail_errno(errno, "reading /proc/self/mountinfo");
	while (fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX];
		/* fields: id parent major:minor root mountpoint options [optional...] - */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		unescape(mp);
		size_t n = strlen(mp);
		int under = strcmp(mp, "/") == 0 ||
			    (strncmp(real, mp, n) == 0 && (real[n] == '/' || real[n] == '\0'));
		if (under && n >= strlen(best)) {
			snprintf(best, sizeof(best), "%s", mp);
			char *dash = strstr(line, " - ");
			best_shared = dash && memmem(line, (size_t)(dash - line), " shared:", 8);
		}
	}
	fclose(f);
	/* A slave, not private (runc): not shared, yet host mounts still reach it. */
	if (best_shared && mount(NULL, best, NULL, MS_SLAVE, NULL) < 0)
		fail_errno(errno, "making %s a slave for pivot_root", best);
}

void setup_rootfs(const struct plan *p)
{
	unsigned long root_propagation = 0;
	for (size_t i = 0; i < p->nrec; i++) {
		struct cursor c = cursor_of(&p->rec[i]);
		if (p->rec[i].type == R_ROOTFS)
			rootfs = cur_str(&c);
		else if (p->rec[i].type == R_ROOT_PROPAGATION)
			root_propagation = (unsigned long)cur_u64(&c);
	}
	if (!rootfs)
		fail("plan: no rootfs");
	/* As runc: rootfsPropagation, else a recursive slave of the host. With
	 * "shared", binds of shared host mounts stay peers of the host's (a
	 * volume's bidirectional propagation). */
	unsigned long prep = root_propagation ? root_propagation : MS_SLAVE | MS_REC;
	if (mount(NULL, "/", NULL, prep, NULL) < 0)
		fail_errno(errno, "setting the propagation of / (rootfsPropagation)");
	make_parent_mount_private(rootfs);
	if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail_errno(errno, "bind mounting the rootfs %s", rootfs);
	root_fd = open(rootfs, O_DIRECTORY | O_PATH | O_CLOEXEC);
	if (root_fd < 0)
		fail_errno(errno, "opening the rootfs %s", rootfs);
	trace("init: rootfs bound at %s", rootfs);

	for (size_t i = 0; i < p->nrec; i++) {
		const struct record *r = &p->rec[i];
		struct cursor c = cursor_of(r);
		switch (r->type) {
		case R_MOUNT:
			do_mount(r);
			trace("init: mounted %s", mount_where(r));
			break;
		case R_MOUNT_ATTR:
			set_mount_attr(r);
			break;
		case R_MOUNT_IDMAP:
		case R_MOUNT_TREE:
			idmap_next();
			break;
		case R_DEVICE:
			make_device(r);
			break;
		case R_SYMLINK:
			make_symlink(r);
			break;
		case R_HOSTNAME: {
			const char *h = cur_str(&c);
			if (sethostname(h, strlen(h)) < 0)
				fail_errno(errno, "setting hostname %s", h);
			break;
		}
		case R_DOMAINNAME: {
			const char *d = cur_str(&c);
			if (setdomainname(d, strlen(d)) < 0)
				fail_errno(errno, "setting domainname %s", d);
			break;
		}
		}
	}
	/* Like runc, make a missing cwd (after the mounts, which may hold it). */
	for (size_t i = 0; i < p->nrec; i++)
		if (p->rec[i].type == R_CWD) {
			struct cursor c = cursor_of(&p->rec[i]);
			int fd = mkdir_in_root(cur_str(&c), 0);
			if (fd >= 0)
				close(fd);
		}
	if (plan_has(p, R_HOOK_SYNC)) {
		/* prestart and createRuntime run in the parent, then createContainer here */
		static char states[1 << 17];
		send_msg(MSG_HOOKS, NULL, 0);
		size_t n = recv_msg(MSG_CONTINUE, states, sizeof(states) - 1);
		states[n + 1] = '\0';
		uint32_t len;
		if (n < 4)
			fail("sync: no hook state");
		memcpy(&len, states + 1, 4);
		if (len > n - 4)
			fail("sync: bad hook state length");
		/* "len state1 state2": split the two NUL-free JSON texts */
		memmove(states, states + 5, n - 4);
		states[n - 4] = '\0';
		static char create_state[1 << 16];
		if (len >= sizeof(create_state))
			fail("sync: hook state too long");
		memcpy(create_state, states, len);
		create_state[len] = '\0';
		hook_state_create = create_state;
		hook_state_start = states + len;
		/* As runc: createContainer hooks run in the rootfs (its host path). */
		if (fchdir(root_fd) < 0)
			fail_errno(errno, "chdir to %s for the createContainer hooks", rootfs);
		run_hooks(p, R_HOOK_CREATE_CONTAINER, hook_state_create);
	}
	trace("init: devices and links made");
	pivot(plan_has(p, R_NO_PIVOT));
	trace("init: %s done", plan_has(p, R_NO_PIVOT) ? "MS_MOVE + chroot" : "pivot_root");
	close(root_fd);
	finish_rootfs(p);
	reopen_dev_null();
	trace("init: masked and read-only paths, sysctls");
	if (root_propagation && mount(NULL, "/", NULL, root_propagation, NULL) < 0)
		fail_errno(errno, "setting rootfsPropagation of /");
}

/* As runc: stdio that is the host's /dev/null becomes the container's own
 * (a host file the process holds would tie it to the host's mounts: CRIU
 * cannot dump it). Without a usable /dev/null in the container, stdio stays. */
static void reopen_dev_null(void)
{
	struct stat null_st, st;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (null < 0)
		return;
	if (fstat(null, &null_st) == 0 && S_ISCHR(null_st.st_mode))
		for (int fd = 0; fd < 3; fd++)
			if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) &&
			    st.st_rdev == null_st.st_rdev && dup3(null, fd, 0) < 0)
				fail_errno(errno, "reopening /dev/null as fd %d", fd);
	close(null);
}

/* After pivot_root: sysctls, masked and read-only paths, read-only root. */
void finish_rootfs(const struct plan *p)
{
	for (size_t i = 0; i < p->nrec; i++) {
		const struct record *r = &p->rec[i];
		struct cursor c = cursor_of(r);
		if (r->type == R_SYSCTL) {
			const char *key = cur_str(&c);
			write_sysctl(key, cur_str(&c));
		} else if (r->type == R_MASKED_PATH) {
			mask_path(cur_str(&c));
		} else if (r->type == R_READONLY_PATH) {
			readonly_path(cur_str(&c));
		}
	}
	if (plan_has(p, R_READONLY_ROOT) &&
	    mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags("/"), NULL) < 0)
		fail_errno(errno, "remounting / read-only");
}

/* Read-only tmpfs and /dev mounts, made rw for what goes below them: now
 * read-only (a bind remount, as runc: per mount, allowed in a user namespace). */
void remount_readonly(const struct plan *p)
{
	for (size_t i = 0; i < p->nrec; i++) {
		if (p->rec[i].type != R_REMOUNT_RO)
			continue;
		struct cursor c = cursor_of(&p->rec[i]);
		const char *dst = cur_str(&c), *where = cur_str(&c);
		if (mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(dst), NULL) < 0)
			fail_errno(errno, "%s: remounting %s read-only", where, dst);
	}
}
