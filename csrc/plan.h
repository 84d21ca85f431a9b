/* The plan: a compact, length-checked description of what the container's
 * init must do, written by pyrunc/plan.py and read by init.c.
 *
 * Layout: "PYRP" magic, u32 version, then records:
 *   u16 type, u16 zero, u32 length, payload[length]
 * Integers are little-endian host order; strings are NUL-terminated and
 * must end inside their record. Keep the numbers in step with plan.py
 * (tests/test_plan.py checks that they agree). */
#ifndef PYRUNC_PLAN_H
#define PYRUNC_PLAN_H

#define PLAN_MAGIC "PYRP"
#define PLAN_VERSION 1

enum plan_record {
	/* Namespaces, cgroups and the clone (csrc/init.c, csrc/cgroup.c; pyrunc/plan.py): */
	R_CLONE_FLAGS = 1,    /* u64 CLONE_NEW* flags for the container init */
	R_JOIN_NS = 2,        /* u64 nstype, str path */
	R_WAIT_MAPS = 20,     /* - : a new user namespace: become its root after the maps */
	R_TIME_OFFSET = 26,   /* u32 clock id, u32 nsec, i64 sec */
	R_CGROUP_TASKS = 27,  /* str a v1 hierarchy's tasks file: stage 1 writes "0" there */
	R_CGROUP_INTO = 28,   /* str the v2 cgroup directory to clone the container into */
	R_EXEC = 25,          /* - : join a running container, no filesystem setup */

	/* The root filesystem (csrc/rootfs.c; pyrunc/plan.py, pyrunc/linux/mounts.py): */
	R_ROOTFS = 3,         /* str absolute host path */
	R_ROOT_PROPAGATION = 4, /* u64 mount flags for "/" after pivot (0: none) */
	R_READONLY_ROOT = 5,  /* - */
	R_NO_PIVOT = 6,       /* - */
	R_MOUNT = 7,          /* u64 flags, u64 propagation, u32 bind (1: a bind; 2: at /proc,
			       * the source must be procfs), str src, dst, type, data, where */
	R_MOUNT_ATTR = 61,    /* u64 attr_set, u64 attr_clr, str dst, str where: mount_setattr */
	R_REMOUNT_RO = 29,    /* str dst, str where: a tmpfs or /dev mounted rw for what goes
			       * below it, made read-only once the rootfs is done (runc) */
	R_MOUNT_TREE = 76,    /* u32 flags (1: recursive), str source, str where: with a new user
			       * namespace, stage 1 opens the next R_MOUNT's bind source as host
			       * root (open_tree), the container attaches it */
	R_DEVICE = 8,         /* u32 mode, major, minor, uid, gid, bind; str path */
	R_SYMLINK = 9,        /* str target, str link path */
	R_MASKED_PATH = 21,   /* str */
	R_READONLY_PATH = 22, /* str */

	/* The process (csrc/process.c, csrc/terminal.c; pyrunc/plan.py): */
	R_HOSTNAME = 10,      /* str */
	R_DOMAINNAME = 11,    /* str */
	R_SYSCTL = 23,        /* str key, str value */
	R_ARGS = 12,          /* str... */
	R_ENV = 13,           /* str... */
	R_CWD = 14,           /* str */
	R_USER = 15,          /* u32 uid, gid, umask, ngroups, gid[ngroups] */
	R_CAPS = 16,          /* u64 bounding, effective, inheritable, permitted, ambient */
	R_RLIMIT = 17,        /* u32 resource, u64 soft, u64 hard */
	R_NO_NEW_PRIVS = 18,  /* - */
	R_PRESERVE_FDS = 19,  /* u32 count */
	R_KEYRING = 62,       /* str name: join a new session keyring (not with --no-new-keyring) */
	R_CONSOLE = 50,       /* u32 console socket fd, u16 rows, u16 cols: make a pty */

	/* Hooks (csrc/hooks.c; pyrunc/plan.py, pyrunc/hooks.py): */
	R_HOOK_SYNC = 24,     /* - : stop for createRuntime/createContainer hooks */
	R_HOOK_CREATE_CONTAINER = 51, /* u32 timeout, nargs, nenv; str path, args, env, where */
	R_HOOK_START_CONTAINER = 52,  /* the same */

	/* linux.seccomp (csrc/seccomp.c, pyrunc/linux/seccomp.py): */
	R_SECCOMP_DEFAULT = 53, /* u32 libseccomp default action, u32 options (1: -ENOSYS stub) */
	R_SECCOMP_ARCH = 54,  /* str libseccomp architecture name */
	R_SECCOMP_FLAG = 55,  /* u32 SECCOMP_FILTER_FLAG_* bit */
	R_SECCOMP_RULE = 56,  /* u32 action, u32 nargs, nargs * (u32 index, u32 op, u64 value,
			       * u64 valueTwo), str name... */
	R_SECCOMP_LISTENER = 57, /* str socket path, str state JSON (\x01 stands for the pid) */
	R_SECCOMP_EARLY = 58, /* - : exec: load the filter in stage 1, before the clone */

	/* Linux attributes (csrc/attrs.c, csrc/idmap.c; pyrunc/linux/attrs.py): */
	R_SCHEDULER = 70,     /* u32 policy, i32 nice, u32 priority, u32 zero, u64 flags, runtime,
			       * deadline, period: sched_setattr */
	R_IOPRIO = 71,        /* u32 ioprio (class << 13 | priority) */
	R_PERSONALITY = 72,   /* u64 persona */
	R_MEMPOLICY = 73,     /* u32 mode | flags, u32 nwords, u64 nodemask[nwords], str nodes */
	R_CPU_AFFINITY = 74,  /* u32 nwords, u64 mask[nwords], str cpus: final exec affinity */
	R_MOUNT_IDMAP = 75,   /* u32 flags (1: recursive bind, 2: ridmap), u32 nuid, u32 ngid,
			       * (nuid + ngid) * (u32 containerID, hostID, size), str source,
			       * str where: the next R_MOUNT is this idmapped tree */

	/* Troubleshooting (csrc/debug.c; pyrunc/util/trace.py, pyrunc/debug.py): */
	R_TRACE = 60,         /* - : report each setup step (MSG_TRACE) */
	R_DEBUG = 90,         /* u32 rw, str tools root ("": the host's), str mnt ns, str user ns,
	                         u32 pty slave fd (0xffffffff: none) */

	/* LSMs (csrc/process.c, pyrunc/linux/lsm.py): the exec attribute, before privileges drop */
	R_APPARMOR = 78,      /* str profile: "exec PROFILE" to /proc/self/attr/apparmor/exec */
	R_SELINUX = 79,       /* str label: to /proc/self/attr/exec */
};

/* Messages on the sync socket (one byte, then a payload). */
#define MSG_GO 'g'        /* parent -> stage 1: cgroups are made or joined, go on */
#define MSG_PID 'P'       /* stage 1 -> parent: u32 pid of the container process */
#define MSG_HELPER 'h'    /* exec's stage 1 -> parent: u32 pid of the helper to put in cgroups */
#define MSG_MAPS_DONE 'm' /* parent -> child: pid known, maps written: go on */
#define MSG_HOOKS 'H'     /* child -> parent: run createRuntime hooks now */
#define MSG_CONTINUE 'c'  /* parent -> child: hooks ran, go on; then u32 length, the
			   * state for createContainer hooks, the state for startContainer hooks */
#define MSG_READY 'R'     /* child -> parent: created, waiting for start */
#define MSG_ERROR 'E'     /* any -> parent: text of the error, then exit */
#define MSG_TRACE 'T'     /* any -> parent: u64 CLOCK_MONOTONIC ns, then the step's name */

#endif
