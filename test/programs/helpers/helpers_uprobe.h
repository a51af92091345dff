/* Results the programs of helpers_uprobe.bpf.c leave in .bss. */
#ifndef HELPERS_UPROBE_H
#define HELPERS_UPROBE_H
#define NCASES 32

struct strtox_res {
	long ret_l, res_l, ret_ul;
	unsigned long res_ul;
	long cmp[3];
};

struct misc_res {
	__u64 hits;
	__u64 jiffies;
	__u64 numa;
	__u64 pid_tgid;
	long ns_ret;
	__u32 ns_pid, ns_tgid;
	long ns_bad_ret;
	__u32 ns_bad_pid, ns_bad_tgid;
	long ns_size_ret;
	__u64 cgid;
	__u64 anc[6];
	long pw_ret, pw_bad_ret;
	long cfu_ret, cfu_bad_ret;
	char cfu[16], cfu_bad[8];
};

/* What helpers_victim knows of the mapping of helpers_vma (from its /proc/self/maps) */
struct vma_expect {
	__u64 addr, start, end, pgoff;
	__u32 exec, pad;
};

struct vma_res {
	long ret, ret_noent, ret_flags;
	__u32 calls, task_ok;
	__u64 start, end, pgoff, flags;
	struct vma_expect want;
	char name[32];
};
#endif
