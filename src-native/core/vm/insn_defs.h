/* Instruction-encoding names shared by the interpreter and the checker.
 *
 * Everything comes from <linux/bpf.h> / <linux/bpf_common.h>. The build hosts ship Debian's
 * linux-libc-dev 6.1, which predates a few newer uapi additions; those are defined below only
 * when missing, with the values of the newer uapi <linux/bpf.h> (the kernel ABI never changes
 * them), so a newer header silently takes over. */
#ifndef BPFTIME_VM_INSN_DEFS_H
#define BPFTIME_VM_INSN_DEFS_H
#include <linux/bpf.h>

#ifndef BPF_MEMSX
#define BPF_MEMSX 0x80 /* uapi 6.6: load with sign extension */
#endif
#ifndef BPF_JCOND
#define BPF_JCOND 0xe0 /* uapi 6.9: conditional pseudo jumps (may_goto) */
#endif
#ifndef BPF_LOAD_ACQ
#define BPF_LOAD_ACQ 0x100 /* uapi 6.15: atomic load-acquire */
#endif
#ifndef BPF_STORE_REL
#define BPF_STORE_REL 0x110 /* uapi 6.15: atomic store-release */
#endif
/* uapi 6.9 has `enum { BPF_MAY_GOTO = 0 }`: an enum cannot be tested with #ifdef, so use our
 * own name for the src_reg value of may_goto. */
#define BPFTIME_MAY_GOTO 0
/* The kernel's BPF_MAX_LOOPS (include/linux/bpf.h, kernel-internal): how many times one
 * frame's may_goto may fall through before it is forced to take its branch. */
#define BPFTIME_MAX_LOOPS (8u * 1024u * 1024u)

/* The frame pointer register, read-only for programs (uapi register enum). */
#define VM_REG_FP BPF_REG_10

#endif
