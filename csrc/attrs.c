/* Linux attributes of the container process (pyrunc/linux/attrs.py plans them):
 * process.scheduler (sched_setattr), process.ioPriority (ioprio_set),
 * linux.memoryPolicy (set_mempolicy), linux.personality (personality) and,
 * for exec, the final process.execCPUAffinity (sched_setaffinity). All are
 * kept across execve. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"
#include "plan.h"

/* <linux/sched/types.h>, SCHED_ATTR_SIZE_VER0 */
struct pyrunc_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
};

static const char *const policy_names[] = {
	"SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE",
	"SCHED_DEADLINE",
};

static const char *policy_name(uint32_t policy)
{
	return policy < sizeof(policy_names) / sizeof(policy_names[0]) ? policy_names[policy]
									: "?";
}

static void set_scheduler(const struct record *r)
{
	struct cursor c = cursor_of(r);
	struct pyrunc_sched_attr attr = { .size = sizeof(attr) };
	attr.sched_policy = cur_u32(&c);
	attr.sched_nice = (int32_t)cur_u32(&c);
	attr.sched_priority = cur_u32(&c);
	cur_u32(&c);
	attr.sched_flags = cur_u64(&c);
	attr.sched_runtime = cur_u64(&c);
	attr.sched_deadline = cur_u64(&c);
	attr.sched_period = cur_u64(&c);
	if (syscall(SYS_sched_setattr, 0, &attr, 0) == 0)
		return;
	int err = errno;
	const char *hint = "";
	int realtime = attr.sched_policy == SCHED_FIFO || attr.sched_policy == SCHED_RR;
	if (err == EPERM && realtime)
		hint = " (realtime policies need CAP_SYS_NICE in the host's user namespace and, "
		       "with cgroup v1 realtime group scheduling, a realtime runtime for the "
		       "container's cpu cgroup: $.linux.resources.cpu.realtimeRuntime)";
	else if (err == EPERM && attr.sched_policy == SCHED_DEADLINE)
		hint = " (SCHED_DEADLINE needs CAP_SYS_NICE in the host's user namespace and the "
		       "affinity of the whole root domain)";
	else if (err == EPERM)
		hint = " (a negative nice value needs CAP_SYS_NICE in the host's user namespace)";
	else if (err == EBUSY)
		hint = " (the deadline bandwidth is not available)";
	fail("$.process.scheduler: sched_setattr(%s, nice %d, priority %u, runtime %llu, "
	     "deadline %llu, period %llu, flags 0x%llx): %s%s",
	     policy_name(attr.sched_policy), attr.sched_nice, attr.sched_priority,
	     (unsigned long long)attr.sched_runtime, (unsigned long long)attr.sched_deadline,
	     (unsigned long long)attr.sched_period, (unsigned long long)attr.sched_flags,
	     strerror(err), hint);
}

static void set_ioprio(const struct record *r)
{
	struct cursor c = cursor_of(r);
	uint32_t ioprio = cur_u32(&c);
	static const char *const classes[] = { "NONE", "RT", "BE", "IDLE" };
	if (syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (int)ioprio) < 0)
		fail_errno(errno, "$.process.ioPriority: ioprio_set(IOPRIO_CLASS_%s, %u)",
			   classes[(ioprio >> 13) & 3], ioprio & 7);
}

/* A u32 count of u64 words, the words, then the text the user wrote. Returns
 * an aligned copy of the words (NULL for none). */
static uint64_t *mask_of(struct cursor *c, uint32_t *nwords, const char **text)
{
	uint64_t *words = NULL;
	*nwords = cur_u32(c);
	if (*nwords > 1024 || c->left < (size_t)*nwords * 8)
		fail("plan: bad mask");
	if (*nwords) {
		words = calloc(*nwords, 8);
		if (!words)
			fail("out of memory");
		memcpy(words, c->p, (size_t)*nwords * 8);
	}
	c->p += (size_t)*nwords * 8;
	c->left -= (size_t)*nwords * 8;
	*text = cur_str(c);
	return words;
}

static void set_mempolicy_(const struct record *r)
{
	static const char *const modes[] = {
		"MPOL_DEFAULT", "MPOL_PREFERRED", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_LOCAL",
		"MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE",
	};
	struct cursor c = cursor_of(r);
	uint32_t mode = cur_u32(&c), nwords;
	const char *text;
	uint64_t *copy = mask_of(&c, &nwords, &text);
	/* maxnode counts one more bit than the mask has (set_mempolicy(2)). */
	unsigned long maxnode = nwords ? (unsigned long)nwords * 64 + 1 : 0;
	if (syscall(SYS_set_mempolicy, (int)mode, copy, maxnode) < 0) {
		int err = errno;
		uint32_t base = mode & 0xff;
		fail("$.linux.memoryPolicy: set_mempolicy(%s, nodes \"%s\", flags 0x%x): %s%s",
		     base < sizeof(modes) / sizeof(modes[0]) ? modes[base] : "?", text,
		     mode & ~0xffU, strerror(err),
		     err == EINVAL ? " (are the nodes online, with memory, and allowed by the "
				     "container's cpuset.mems?)" : "");
	}
	free(copy);
}

static void set_personality(const struct record *r)
{
	struct cursor c = cursor_of(r);
	unsigned long persona = (unsigned long)cur_u64(&c);
	if (personality(persona) < 0)
		fail_errno(errno, "$.linux.personality: personality(0x%lx)", persona);
}

static void set_affinity(const struct record *r)
{
	struct cursor c = cursor_of(r);
	uint32_t nwords;
	const char *text;
	uint64_t *words = mask_of(&c, &nwords, &text);
	size_t size = CPU_ALLOC_SIZE((size_t)nwords * 64);
	cpu_set_t *set = CPU_ALLOC((size_t)nwords * 64);
	if (!set)
		fail("out of memory");
	CPU_ZERO_S(size, set);
	for (size_t cpu = 0; cpu < (size_t)nwords * 64; cpu++)
		if ((words[cpu / 64] >> (cpu % 64)) & 1)
			CPU_SET_S(cpu, size, set);
	if (sched_setaffinity(0, size, set) < 0)
		fail_errno(errno, "$.process.execCPUAffinity.final: CPUs \"%s\"%s", text,
			   errno == EINVAL ? " (none of them is online and in the container's "
					     "cpuset)" : "");
	CPU_FREE(set);
	free(words);
}

/* First in apply_process, while the process is still privileged. */
void apply_sched_attrs(const struct plan *p)
{
	for (size_t i = 0; i < p->nrec; i++) {
		const struct record *r = &p->rec[i];
		if (r->type == R_SCHEDULER)
			set_scheduler(r);
		else if (r->type == R_IOPRIO)
			set_ioprio(r);
		else if (r->type == R_MEMPOLICY)
			set_mempolicy_(r);
	}
}

/* Last in apply_process: the process is in its cgroup, its program found. */
void apply_exec_attrs(const struct plan *p)
{
	for (size_t i = 0; i < p->nrec; i++) {
		const struct record *r = &p->rec[i];
		if (r->type == R_CPU_AFFINITY)
			set_affinity(r);
		else if (r->type == R_PERSONALITY)
			set_personality(r);
	}
}
