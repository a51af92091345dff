/* The namespaces of the task stand-ins: where the running kernel keeps task->nsproxy, the
 * namespace pointers in struct nsproxy and ns.inum in each namespace struct, from its BTF
 * (src-ts/btf/ns_layout.ts). Sent in MSG_TASK_LAYOUT after struct bpftime_task_layout and struct
 * bpftime_vma_layout, so that CO-RE reads such as mountsnoop's
 * BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum) find the process's real namespace ids. */
#ifndef BPFTIME_TASK_NS_H
#define BPFTIME_TASK_NS_H
#include <stdint.h>

#define BPFTIME_NS_LAYOUT_MAGIC 0x594c534eu /* "NSLY" */

/* struct nsproxy's namespace pointers, in this order; each is named by its /proc/PID/ns entry. */
enum bpftime_ns_kind {
	BPFTIME_NS_UTS,                /* uts_ns: uts */
	BPFTIME_NS_IPC,                /* ipc_ns: ipc */
	BPFTIME_NS_MNT,                /* mnt_ns: mnt */
	BPFTIME_NS_PID_FOR_CHILDREN,   /* pid_ns_for_children: pid_for_children */
	BPFTIME_NS_NET,                /* net_ns: net */
	BPFTIME_NS_TIME,               /* time_ns: time */
	BPFTIME_NS_TIME_FOR_CHILDREN,  /* time_ns_for_children: time_for_children */
	BPFTIME_NS_CGROUP,             /* cgroup_ns: cgroup */
	BPFTIME_NS_KINDS
};

/* Byte offsets, -1 where this kernel has no such field (or not of the expected type); sizes 0
 * where there is no such struct. */
struct bpftime_ns_layout {
	uint32_t magic;
	int32_t task_nsproxy;  /* struct nsproxy * in struct task_struct */
	int32_t nsproxy_size;  /* sizeof(struct nsproxy) */
	struct {
		int32_t field; /* the pointer in struct nsproxy */
		int32_t size;  /* sizeof the namespace's struct (struct mnt_namespace, ...) */
		int32_t inum;  /* unsigned int ns.inum in it: the number /proc/PID/ns/<name> shows */
	} ns[BPFTIME_NS_KINDS];
	int32_t uts_name;      /* struct new_utsname name in struct uts_namespace (uname()'s) */
	int32_t uts_name_size;
};

#endif
