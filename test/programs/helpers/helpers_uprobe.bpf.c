// SPDX-License-Identifier: GPL-2.0
// Helpers called at uprobes on helpers_victim, results kept in .bss for helpers_uprobe (the
// loader) to print: the same object runs on the kernel and under bpftime, and the two
// outputs must agree (test/e2e/helpers-differential.test.ts).
#include <linux/bpf.h>
#include <linux/types.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "helpers_uprobe.h"

/* The kernel fields bpf_find_vma's callback reads, relocated by libbpf against the kernel's BTF. */
struct qstr {
	unsigned int len;
	const unsigned char *name;
} __attribute__((preserve_access_index));
struct dentry {
	struct qstr d_name;
} __attribute__((preserve_access_index));
struct path {
	struct dentry *dentry;
} __attribute__((preserve_access_index));
struct file {
	struct path f_path;
} __attribute__((preserve_access_index));
struct vm_area_struct {
	unsigned long vm_start, vm_end, vm_flags, vm_pgoff;
	struct file *vm_file;
} __attribute__((preserve_access_index));

struct strtox_res strtox[NCASES];
__u32 strtox_n;
struct misc_res misc;

const volatile __u64 ns_dev, ns_ino;
const char cmp_num[] = "123";
const char cmp_hex[] = "0x1f";
const char cmp_high[] = "\x80";

SEC("uprobe")
int BPF_KPROBE(on_strtox, const char *s, unsigned long len, unsigned long flags)
{
	char buf[64] = {};
	__u32 i = strtox_n;
	__u32 n = len & 63;
	long l = 0;
	unsigned long ul = 0;

	if (i >= NCASES || n < 1)
		return 0;
	bpf_probe_read_user(buf, n, s);
	struct strtox_res *r = &strtox[i];
	r->ret_l = bpf_strtol(buf, n, flags, &l);
	r->res_l = l;
	r->ret_ul = bpf_strtoul(buf, n, flags, &ul);
	r->res_ul = ul;
	r->cmp[0] = bpf_strncmp(buf, n, cmp_num);
	r->cmp[1] = bpf_strncmp(buf, n, cmp_hex);
	r->cmp[2] = bpf_strncmp(buf, n, cmp_high);
	strtox_n = i + 1;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_misc, char *wbuf, const char *src)
{
	struct bpf_pidns_info ns = {};

	misc.hits++;
	misc.jiffies = bpf_jiffies64();
	misc.numa = bpf_get_numa_node_id();
	misc.pid_tgid = bpf_get_current_pid_tgid();
	misc.ns_ret = bpf_get_ns_current_pid_tgid(ns_dev, ns_ino, &ns, sizeof(ns));
	misc.ns_pid = ns.pid;
	misc.ns_tgid = ns.tgid;
	ns.pid = ns.tgid = 7;
	misc.ns_bad_ret = bpf_get_ns_current_pid_tgid(ns_dev, ns_ino + 1, &ns, sizeof(ns));
	misc.ns_bad_pid = ns.pid;
	misc.ns_bad_tgid = ns.tgid;
	misc.ns_size_ret = bpf_get_ns_current_pid_tgid((__u64)1 << 32 | ns_dev, ns_ino, &ns, sizeof(ns));
	misc.cgid = bpf_get_current_cgroup_id();
	for (int lv = 0; lv < 6; lv++)
		misc.anc[lv] = bpf_get_current_ancestor_cgroup_id(lv);
	return 0;
}

/* Separate: a kernel in lockdown (integrity) does not offer bpf_probe_write_user at all. */
SEC("uprobe")
int BPF_KPROBE(on_misc_write, char *wbuf, const char *src)
{
	static const char injected[] = "injected";

	misc.pw_ret = bpf_probe_write_user(wbuf, injected, sizeof(injected));
	misc.pw_bad_ret = bpf_probe_write_user((void *)8, injected, sizeof(injected));
	return 0;
}

SEC("uprobe.s")
int BPF_KPROBE(on_misc_sleepable, char *wbuf, const char *src)
{
	misc.cfu_ret = bpf_copy_from_user(misc.cfu, sizeof(misc.cfu), src);
	__builtin_memset(misc.cfu_bad, 'z', sizeof(misc.cfu_bad));
	misc.cfu_bad_ret = bpf_copy_from_user(misc.cfu_bad, sizeof(misc.cfu_bad), (void *)8);
	return 0;
}

struct vma_res vma;

static long check_vma(struct task_struct *task, struct vm_area_struct *v, struct vma_res *r)
{
	r->calls++;
	r->task_ok = task == bpf_get_current_task_btf();
	r->start = v->vm_start;
	r->end = v->vm_end;
	r->pgoff = v->vm_pgoff;
	r->flags = v->vm_flags;
	struct file *f = v->vm_file;
	if (f)
		bpf_probe_read_kernel_str(r->name, sizeof(r->name), f->f_path.dentry->d_name.name);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_vma, const struct vma_expect *e)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vma_res r = {}; /* callback_ctx must be on the stack */

	bpf_probe_read_user(&r.want, sizeof(r.want), e);
	r.ret = bpf_find_vma(task, r.want.addr, check_vma, &r, 0);
	r.ret_noent = bpf_find_vma(task, 0, check_vma, &r, 0);
	r.ret_flags = bpf_find_vma(task, r.want.addr, check_vma, &r, 1);
	__builtin_memcpy(&vma, &r, sizeof(r));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
