/* Namespaces of the task stand-ins (src-native/agent/task_ns.c): task->nsproxy->X->ns.inum read
 * through probe_read_kernel gives what /proc/self/ns/<X> shows, also after unshare() (when the
 * process may: root), uts_ns->name gives uname()'s, the padding between the structs and the
 * bytes past them are no kernel memory, and offsets beyond a struct are dropped.
 * Made-up layout (not the running kernel's), in the MSG_TASK_LAYOUT payload's order: task layout,
 * vma layout (all -1: no find_vma here), namespace layout.
 * Build and run: test/native/run.sh task_ns_test
 */
// native-test-extra: src-native/agent/task.c src-native/agent/task_ns.c
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../../src-native/agent/agent.h"
#include "bpftime/helpers.h"
#include "bpftime/proto.h"
#include "bpftime/task_ns.h"
#include "bpftime/vma.h"

#include "check.h"

enum {
	TASK_SIZE = 256,
	O_PID = 8,
	O_TGID = 12,
	O_NSPROXY = 200,
	NSPROXY_SIZE = 72,
	NS_SIZE = 100,   /* every namespace struct */
	NS_INUM = 24,    /* ns.inum in each */
	UTS_NAME = 30,   /* struct new_utsname in the uts struct, */
	UTS_SIZE = 500,  /* which is larger than the others */
	UTS_NAME_LEN = 390,
};

static uint64_t call(int id, uint64_t a, uint64_t b, uint64_t c)
{
	return bpftime_helper_table[id](a, b, c, 0, 0);
}

static long kread(uint64_t p, void *dst, uint32_t n)
{
	return (long)call(BPF_FUNC_probe_read_kernel, (uint64_t)(uintptr_t)dst, n, p);
}

static uint64_t kread64(uint64_t p)
{
	uint64_t v = 0;
	return kread(p, &v, 8) == 0 ? v : 0xdeadbeefdeadbeefull;
}

static uint32_t kread32(uint64_t p)
{
	uint32_t v = 0;
	return kread(p, &v, 4) == 0 ? v : 0xdeadbeef;
}

static uint32_t proc_inum(const char *name)
{
	char path[64], link[64] = "";
	snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	if (readlink(path, link, sizeof(link) - 1) < 0)
		return 0;
	const char *c = strchr(link, '[');
	return c ? (uint32_t)strtoul(c + 1, NULL, 10) : 0;
}

static const char *const names[BPFTIME_NS_KINDS] = { "uts", "ipc", "mnt", "pid_for_children", "net", "time", "time_for_children", "cgroup" };

static void set_layout(void)
{
	struct {
		struct bpftime_task_layout t;
		struct bpftime_vma_layout v;
		struct bpftime_ns_layout n;
	} __attribute__((packed)) m;
	memset(&m, 0xff, sizeof(m)); /* -1 everywhere */
	m.t.task_size = TASK_SIZE;
	m.t.cred_size = 0;
	m.t.pid = O_PID;
	m.t.tgid = O_TGID;
	m.t.comm_len = 0;
	m.v.magic = BPFTIME_VMA_LAYOUT_MAGIC;
	m.v.vma_size = m.v.file_size = m.v.dentry_size = 0;
	m.n.magic = BPFTIME_NS_LAYOUT_MAGIC;
	m.n.task_nsproxy = O_NSPROXY;
	m.n.nsproxy_size = NSPROXY_SIZE;
	for (int k = 0; k < BPFTIME_NS_KINDS; k++) {
		m.n.ns[k].field = 8 + 8 * k;
		m.n.ns[k].size = NS_SIZE;
		m.n.ns[k].inum = NS_INUM;
	}
	m.n.ns[BPFTIME_NS_UTS].size = UTS_SIZE;
	m.n.ns[BPFTIME_NS_CGROUP].inum = NS_SIZE - 2; /* does not fit: dropped */
	m.n.uts_name = UTS_NAME;
	m.n.uts_name_size = UTS_NAME_LEN;
	agent_task_set_layout(&m, sizeof(m));
}

int main(void)
{
	static const struct bpftime_helper_host host = { .current_task = agent_task_current,
							 .kernel_read = agent_task_kernel_read };
	bpftime_helpers_set_host(&host);
	set_layout();
	uint64_t task = call(BPF_FUNC_get_current_task, 0, 0, 0);
	CHECK(task != 0);
	uint64_t nsproxy = kread64(task + O_NSPROXY);
	CHECK(nsproxy != 0 && nsproxy != 0xdeadbeefdeadbeefull);
	uint64_t ns[BPFTIME_NS_KINDS];
	for (int k = 0; k < BPFTIME_NS_KINDS; k++) {
		ns[k] = kread64(nsproxy + 8 + 8 * k);
		CHECK(ns[k] != 0 && ns[k] != 0xdeadbeefdeadbeefull);
		if (k != BPFTIME_NS_CGROUP)
			EQ(kread32(ns[k] + NS_INUM), proc_inum(names[k]));
	}
	EQ(kread32(ns[BPFTIME_NS_CGROUP] + NS_INUM), 0); /* its inum was dropped: never written */
	CHECK(proc_inum("mnt") != 0);

	/* uts name: uname()'s nodename at name + 65 (struct new_utsname: six char[65]) */
	struct utsname u;
	uname(&u);
	char node[65] = "";
	EQ(call(BPF_FUNC_probe_read_kernel_str, (uint64_t)(uintptr_t)node, sizeof(node), ns[BPFTIME_NS_UTS] + UTS_NAME + 65), strlen(u.nodename) + 1);
	CHECK(strcmp(node, u.nodename) == 0);

	/* the ends: the last byte of a struct reads, one past it (padding) does not */
	uint8_t b;
	EQ(kread(ns[BPFTIME_NS_MNT] + NS_SIZE - 1, &b, 1), 0);
	CHECK(kread(ns[BPFTIME_NS_MNT] + NS_SIZE, &b, 1) < 0);
	CHECK(kread(nsproxy + NSPROXY_SIZE, &b, 1) < 0);
	CHECK(kread(ns[BPFTIME_NS_MNT] + NS_SIZE - 2, &b, 4) < 0); /* runs past the end */

	/* a new mount namespace (root only): the next read shows it */
	if (unshare(CLONE_NEWNS) == 0) {
		uint32_t now = proc_inum("mnt");
		EQ(kread32(ns[BPFTIME_NS_MNT] + NS_INUM), now);
	} else {
		printf("# unshare(CLONE_NEWNS) not permitted: namespace change not checked\n");
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
