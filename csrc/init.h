/* Shared declarations of pyrunc-init, the container's init before execve. */
#ifndef PYRUNC_INIT_H
#define PYRUNC_INIT_H

#include <stddef.h>
#include <stdint.h>

#define MAX_RECORDS 4096

struct record {
	uint16_t type;
	uint32_t len;
	const unsigned char *data;
};

/* A cursor over one record's payload; every read is bounds-checked. */
struct cursor {
	const unsigned char *p;
	size_t left;
};

struct plan {
	struct record rec[MAX_RECORDS];
	size_t nrec;
};

extern int sync_fd;

void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void fail_errno(int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void send_msg(char type, const void *payload, size_t len);
char *with_pid(const char *tmpl, unsigned pid);
void wait_msg(char want);

uint32_t cur_u32(struct cursor *c);
uint64_t cur_u64(struct cursor *c);
const char *cur_str(struct cursor *c);
struct cursor cursor_of(const struct record *r);
int plan_has(const struct plan *p, uint16_t type);

/* rootfs.c */
void setup_rootfs(const struct plan *p);
void finish_rootfs(const struct plan *p);
void remount_readonly(const struct plan *p);

/* debug.c */
void debug_prepare(const struct plan *p);
void debug_enter(const struct plan *p);

/* hooks.c */
void run_hooks(const struct plan *p, uint16_t type, const char *state);
extern const char *hook_state_create, *hook_state_start;
size_t recv_msg(char want, char *buf, size_t size);

/* terminal.c */
#include <sys/types.h>
void setup_terminal(const struct plan *p, int console, int ctty);
void take_terminal(void);

/* process.c */
void apply_process(const struct plan *p, const char **path_out);
void apply_lsm(const struct plan *p);
void exec_process(const struct plan *p, const char *path, int fifo_fd);
void load_filter_now(const struct plan *p);
void close_extra_fds(const struct plan *p, int a, int b);
void finish_exec(const struct plan *p, const char *path, int keep_fd, int filter_loaded)
	__attribute__((noreturn));

/* attrs.c */
void apply_sched_attrs(const struct plan *p);
void apply_exec_attrs(const struct plan *p);

/* idmap.c */
void prepare_idmap_mounts(const struct plan *p);
void idmap_next(void);
int idmap_take(void);
int idmap_attach(int tree, int dst_fd);

/* cgroup.c */
int join_cgroups(const struct plan *p);
long clone_into_cgroup(uint64_t flags, int into);

/* seccomp.c */
void seccomp_stage1(const struct plan *p);
void seccomp_child_pid(uint32_t pid);
int seccomp_listener_fd(void);
void prepare_seccomp(const struct plan *p);
void apply_seccomp(const struct plan *p);

#endif
