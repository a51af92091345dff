/* Offsets shared by entry.S and the C side (checked with _Static_assert in syshook_internal.h). */
#ifndef BPFTIME_SYSHOOK_LAYOUT_H
#define BPFTIME_SYSHOOK_LAYOUT_H

/* struct pt_regs, kernel x86-64 layout */
#define PT_R15 0
#define PT_R14 8
#define PT_R13 16
#define PT_R12 24
#define PT_RBP 32
#define PT_RBX 40
#define PT_R11 48
#define PT_R10 56
#define PT_R9 64
#define PT_R8 72
#define PT_RAX 80
#define PT_RCX 88
#define PT_RDX 96
#define PT_RSI 104
#define PT_RDI 112
#define PT_ORIG_RAX 120
#define PT_RIP 128
#define PT_CS 136
#define PT_EFLAGS 144
#define PT_RSP 152
#define PT_SS 160
#define PT_SIZE 168

/* Above the pt_regs the trampoline entry left [R][resume]: R is where syshook_common returns (code
 * that undoes the caller's stack adjustment), resume the address after the syscall instruction.
 * The application's rsp at the syscall is 2 slots and the 128-byte red zone above. */
#define RED_ZONE 128
#define ENTRY_SLOTS 16

/* struct syshook_frame: 16-aligned, below the pt_regs */
#define F_NR 0
#define F_ARG0 8
#define F_ARG1 16
#define F_ARG2 24
#define F_ARG3 32
#define F_ARG4 40
#define F_ARG5 48
#define F_RET 56
#define F_REGS 64
#define F_CALLED 72
#define F_SCRATCH 80
#define F_SCRATCH_SIZE 256
#define F_XMM 336
#define F_SIZE 592

/* struct syshook_tls (initial-exec TLS): the first 32-bit word is read by the fast path */
#define TLS_BUSY 0	/* byte: inside the engine's C code or a callback */
#define TLS_EXCLUDED 1	/* byte: the thread never runs callbacks */
#define TLS_ARMED 2	/* byte: Syscall User Dispatch is on for this thread */
#define TLS_VFORK_RESUME 8
#define TLS_VFORK_NR 16
#define TLS_SLOT 24

/* What syshook_dispatch_c asks the trampoline to do. */
#define MODE_DONE 0  /* it ran (or was skipped) and exit callbacks ran: ctx.ret is the result */
#define MODE_RUN 1   /* (C internal) run it in C */
#define MODE_SKIP 4  /* (C internal) do not run it: ctx.ret is the result */
#define MODE_BARE 2  /* run it with the caller's exact registers and rsp (rt_sigreturn, vfork) */
#define MODE_CLONE 3 /* child on a new stack: a header was written at its top; then syshook_exit_c */

/* syscalls the trampoline always hands to C, even when inactive: syshook_special[nr & 255] */
#define SPECIAL_NR_MAX 256
/* syshook_want[nr] for 0 <= nr < WANT_NR_MAX, syshook_want_other for the rest */
#define WANT_NR_MAX 1024

#endif
