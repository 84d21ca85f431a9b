/* The cgroup v2 device filter: an eBPF program of type
 * BPF_PROG_TYPE_CGROUP_DEVICE built from the container's device rules and
 * attached to its cgroup (cgroup v2 has no devices.allow/deny files).
 *
 * The rules come already reduced by pyrunc/cgroups/devices_bpf.py: the part after the
 * last "a *:* rwm" rule, whose allow flag is the default. The program checks
 * them from the last to the first and the first that matches decides, so a
 * later rule overrides an earlier one, as writing them one after the other to
 * devices.allow/deny does on cgroup v1:
 *   - an allow rule matches when it grants every access asked for;
 *   - a deny rule matches when it takes away any access asked for.
 * No match: the default. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct pyrunc_dev_rule {
	int allow;
	int type;      /* 0: any ('a'), 'b' or 'c' */
	long long major; /* -1: any */
	long long minor; /* -1: any */
	int access;    /* BPF_DEVCG_ACC_MKNOD | _READ | _WRITE */
};

#define MAX_INSNS 4096

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	struct bpf_insn i;
	memset(&i, 0, sizeof(i));
	i.code = code;
	i.dst_reg = dst;
	i.src_reg = src;
	i.off = off;
	i.imm = imm;
	return i;
}

#define LDX_W(dst, src, off) insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
#define MOV_REG(dst, src) insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
#define MOV_IMM(dst, imm) insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define AND_IMM(dst, imm) insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm)
#define RSH_IMM(dst, imm) insn(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, imm)
#define JNE_IMM(dst, imm, off) insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm)
#define JEQ_IMM(dst, imm, off) insn(BPF_JMP | BPF_JEQ | BPF_K, dst, 0, off, imm)
#define EXIT() insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

static long bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/* Build the program; returns its length, or -1 if it is too long. */
static int build(struct bpf_insn *p, const struct pyrunc_dev_rule *rules, int n, int default_allow)
{
	int len = 0;
	/* r2 = type (1 block, 2 char), r3 = access, r4 = major, r5 = minor */
	p[len++] = LDX_W(2, 1, 0);
	p[len++] = MOV_REG(3, 2);
	p[len++] = AND_IMM(2, 0xffff);
	p[len++] = RSH_IMM(3, 16);
	p[len++] = LDX_W(4, 1, 4);
	p[len++] = LDX_W(5, 1, 8);
	for (int i = n - 1; i >= 0; i--) {
		const struct pyrunc_dev_rule *r = &rules[i];
		if (len + 12 >= MAX_INSNS)
			return -1;
		int jumps[4], nj = 0;
		if (r->type == 'b' || r->type == 'c') {
			jumps[nj++] = len;
			p[len++] = JNE_IMM(2, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, 0);
		}
		if (r->major >= 0) {
			jumps[nj++] = len;
			p[len++] = JNE_IMM(4, (int32_t)r->major, 0);
		}
		if (r->minor >= 0) {
			jumps[nj++] = len;
			p[len++] = JNE_IMM(5, (int32_t)r->minor, 0);
		}
		p[len++] = MOV_REG(6, 3);
		if (r->allow) {
			/* matches if no access outside the rule's is asked for */
			p[len++] = AND_IMM(6, ~r->access & 7);
			jumps[nj++] = len;
			p[len++] = JNE_IMM(6, 0, 0);
		} else {
			/* matches if some access the rule takes away is asked for */
			p[len++] = AND_IMM(6, r->access & 7);
			jumps[nj++] = len;
			p[len++] = JEQ_IMM(6, 0, 0);
		}
		p[len++] = MOV_IMM(0, r->allow ? 1 : 0);
		p[len++] = EXIT();
		for (int j = 0; j < nj; j++)
			p[jumps[j]].off = (int16_t)(len - jumps[j] - 1);
	}
	p[len++] = MOV_IMM(0, default_allow ? 1 : 0);
	p[len++] = EXIT();
	return len;
}

/* Load the filter and attach it to the cgroup directory `cgroup_fd` (with
 * BPF_F_ALLOW_MULTI; programs this runtime attached before are detached).
 * Returns 0 or -errno; the verifier's log goes to log[]. */
int pyrunc_devices_bpf(int cgroup_fd, const struct pyrunc_dev_rule *rules, int n,
		       int default_allow, char *log, int log_size)
{
	static struct bpf_insn prog[MAX_INSNS];
	int len = build(prog, rules, n, default_allow);
	if (len < 0)
		return -E2BIG;

	/* programs already attached (by an earlier call): replaced below */
	uint32_t old_ids[64];
	union bpf_attr q;
	memset(&q, 0, sizeof(q));
	q.query.target_fd = cgroup_fd;
	q.query.attach_type = BPF_CGROUP_DEVICE;
	q.query.prog_ids = (uint64_t)(uintptr_t)old_ids;
	q.query.prog_cnt = 64;
	int n_old = bpf(BPF_PROG_QUERY, &q) == 0 ? (int)q.query.prog_cnt : 0;

	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.insns = (uint64_t)(uintptr_t)prog;
	a.insn_cnt = (uint32_t)len;
	a.license = (uint64_t)(uintptr_t)"Apache-2.0";
	if (log && log_size > 0) {
		log[0] = 0;
		a.log_buf = (uint64_t)(uintptr_t)log;
		a.log_size = (uint32_t)log_size;
		a.log_level = 1;
	}
	int prog_fd = (int)bpf(BPF_PROG_LOAD, &a);
	if (prog_fd < 0 && errno == ENOSPC && log) { /* log too small: load without it */
		a.log_buf = 0;
		a.log_size = 0;
		a.log_level = 0;
		prog_fd = (int)bpf(BPF_PROG_LOAD, &a);
	}
	if (prog_fd < 0)
		return -errno;

	union bpf_attr at;
	memset(&at, 0, sizeof(at));
	at.target_fd = cgroup_fd;
	at.attach_bpf_fd = prog_fd;
	at.attach_type = BPF_CGROUP_DEVICE;
	at.attach_flags = BPF_F_ALLOW_MULTI;
	if (bpf(BPF_PROG_ATTACH, &at) < 0) {
		int err = errno;
		close(prog_fd);
		return -err;
	}
	close(prog_fd);

	for (int i = 0; i < n_old; i++) {
		union bpf_attr g;
		memset(&g, 0, sizeof(g));
		g.prog_id = old_ids[i];
		int fd = (int)bpf(BPF_PROG_GET_FD_BY_ID, &g);
		if (fd < 0)
			continue;
		union bpf_attr d;
		memset(&d, 0, sizeof(d));
		d.target_fd = cgroup_fd;
		d.attach_bpf_fd = fd;
		d.attach_type = BPF_CGROUP_DEVICE;
		bpf(BPF_PROG_DETACH, &d);
		close(fd);
	}
	return 0;
}
