// SPDX-License-Identifier: GPL-2.0
// The one kernel type unlinkguard needs, as the kernel names its fields (bpf_tracing.h reads
// kernel pt_regs with these names when __VMLINUX_H__ is defined; the uapi header's are rdi, ...).
// preserve_access_index: libbpf relocates each field access against the running kernel's BTF.
#ifndef __VMLINUX_H__
#define __VMLINUX_H__
#include <linux/types.h>
#include <linux/bpf.h>

struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
} __attribute__((preserve_access_index));
#endif
