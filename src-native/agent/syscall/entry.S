/* The engine's own code that executes `syscall` (AT&T syntax). Everything in this section is the
 * range Syscall User Dispatch allows: a syscall instruction here never traps. Nothing else of the
 * process may live here, so this file is the whole section, bracketed by syshook_text_start/end.
 *
 * Entry protocol of syshook_common (from a site's stub, or from syshook_sud_entry after a trap):
 *     [rsp] = R (where to return: code that undoes the caller's stack adjustment)
 *     [rsp+8] = resume (the address after the syscall instruction)
 *     the 128-byte red zone above that, then the application's rsp
 *     every register as the application left it at the syscall instruction (rax = nr)
 * It returns to R with rax = result, rcx = resume and r11 = rflags (what `syscall` leaves), every
 * other register, the flags and xmm0-15 as they were.
 *
 * Unwind info (CFI) describes the application's frame as the caller of ours, with `resume` as the
 * return address: pthread_cancel's forced unwinding of a thread blocked in a syscall, C++
 * exceptions from signal handlers, debuggers and profilers walk straight through us. */
#include "layout.h"

/* While [R][resume] are at rsp: the caller's rsp is 144 above, `resume` at caller's rsp - 136. */
#define ENTRY_CFA (ENTRY_SLOTS + RED_ZONE)
#define RA_OFFSET (-(RED_ZONE + 8))
/* With pt_regs at rsp: the caller's rsp is 312 above. */
#define REGS_CFA (PT_SIZE + ENTRY_CFA)

#define USER_CS 0x33
#define USER_SS 0x2b

.macro SPUSH x
	pushq \x
	.cfi_adjust_cfa_offset 8
.endm
.macro SPOP r
	popq \r
	.cfi_adjust_cfa_offset -8
.endm

/* The upper part of pt_regs (ss .. orig_rax, rsp and rip filled by ENTER_FRAME), flags first. */
.macro PUSH_TOP orig
	SPUSH $USER_SS
	SPUSH %rax
	pushfq
	.cfi_adjust_cfa_offset 8
	SPUSH $USER_CS
	SPUSH %rax
	SPUSH \orig
.endm

/* pt_regs below orig_rax, pushed in reverse layout order; then where the callee-saved ones are. */
.macro PUSH_GPRS
	SPUSH %rdi
	SPUSH %rsi
	SPUSH %rdx
	SPUSH %rcx
	SPUSH %rax
	SPUSH %r8
	SPUSH %r9
	SPUSH %r10
	SPUSH %r11
	SPUSH %rbx
	SPUSH %rbp
	SPUSH %r12
	SPUSH %r13
	SPUSH %r14
	SPUSH %r15
	.cfi_offset %rbx, PT_RBX - REGS_CFA
	.cfi_offset %rbp, PT_RBP - REGS_CFA
	.cfi_offset %r12, PT_R12 - REGS_CFA
	.cfi_offset %r13, PT_R13 - REGS_CFA
	.cfi_offset %r14, PT_R14 - REGS_CFA
	.cfi_offset %r15, PT_R15 - REGS_CFA
.endm

.macro POP_GPRS
	SPOP %r15
	.cfi_restore %r15
	SPOP %r14
	.cfi_restore %r14
	SPOP %r13
	.cfi_restore %r13
	SPOP %r12
	.cfi_restore %r12
	SPOP %rbp
	.cfi_restore %rbp
	SPOP %rbx
	.cfi_restore %rbx
	SPOP %r11
	SPOP %r10
	SPOP %r9
	SPOP %r8
	SPOP %rax
	SPOP %rcx
	SPOP %rdx
	SPOP %rsi
	SPOP %rdi
.endm

/* In the aligned C frame the distance to the caller's rsp varies, so CFA = [rsp + F_REGS] + 312:
 * DW_CFA_def_cfa_expression { DW_OP_breg7(rsp) F_REGS; DW_OP_deref; DW_OP_plus_uconst 312 }. */
.if F_REGS != 64 || REGS_CFA != 312
.error "update the CFA expression below"
.endif
.macro CFI_FRAME_CFA
	.cfi_escape 0x0f, 0x07, 0x77, 0xc0, 0x00, 0x06, 0x23, 0xb8, 0x02
.endm

/* With pt_regs at rsp (orig_rax pushed by the caller of the macro): fill rip, rsp, rcx and r11 the
 * way the kernel's pt_regs shows them at syscall entry, then switch to the aligned C frame with rbx
 * pointing at pt_regs and xmm0-15 saved (the callbacks are C and may use them; the kernel preserves
 * them across a syscall, so the caller may have live values there). */
.macro ENTER_FRAME
	mov PT_SIZE+8(%rsp), %rax		/* resume */
	mov %rax, PT_RIP(%rsp)
	mov %rax, PT_RCX(%rsp)
	lea PT_SIZE+ENTRY_SLOTS+RED_ZONE(%rsp), %rax
	mov %rax, PT_RSP(%rsp)
	mov PT_EFLAGS(%rsp), %rax
	mov %rax, PT_R11(%rsp)
	/* DF clear for C; `cld` costs ~3 ns even when it is clear already (nearly always) */
	test $0x400, %eax
	jz 1f
	cld
1:
	mov %rsp, %rbx
	.cfi_def_cfa_register %rbx
	and $-16, %rsp
	sub $F_SIZE, %rsp
	movaps %xmm0, F_XMM+0(%rsp)
	movaps %xmm1, F_XMM+16(%rsp)
	movaps %xmm2, F_XMM+32(%rsp)
	movaps %xmm3, F_XMM+48(%rsp)
	movaps %xmm4, F_XMM+64(%rsp)
	movaps %xmm5, F_XMM+80(%rsp)
	movaps %xmm6, F_XMM+96(%rsp)
	movaps %xmm7, F_XMM+112(%rsp)
	movaps %xmm8, F_XMM+128(%rsp)
	movaps %xmm9, F_XMM+144(%rsp)
	movaps %xmm10, F_XMM+160(%rsp)
	movaps %xmm11, F_XMM+176(%rsp)
	movaps %xmm12, F_XMM+192(%rsp)
	movaps %xmm13, F_XMM+208(%rsp)
	movaps %xmm14, F_XMM+224(%rsp)
	movaps %xmm15, F_XMM+240(%rsp)
	mov %rbx, F_REGS(%rsp)
	CFI_FRAME_CFA
.endm

.macro RESTORE_XMM
	movaps F_XMM+0(%rsp), %xmm0
	movaps F_XMM+16(%rsp), %xmm1
	movaps F_XMM+32(%rsp), %xmm2
	movaps F_XMM+48(%rsp), %xmm3
	movaps F_XMM+64(%rsp), %xmm4
	movaps F_XMM+80(%rsp), %xmm5
	movaps F_XMM+96(%rsp), %xmm6
	movaps F_XMM+112(%rsp), %xmm7
	movaps F_XMM+128(%rsp), %xmm8
	movaps F_XMM+144(%rsp), %xmm9
	movaps F_XMM+160(%rsp), %xmm10
	movaps F_XMM+176(%rsp), %xmm11
	movaps F_XMM+192(%rsp), %xmm12
	movaps F_XMM+208(%rsp), %xmm13
	movaps F_XMM+224(%rsp), %xmm14
	movaps F_XMM+240(%rsp), %xmm15
.endm

/* eflags from pt_regs (rsp at pt_regs) without popfq (microcoded, ~12 ns): DF by std, OF by an 8-bit
 * add that overflows exactly when it was set, then SF/ZF/AF/PF/CF by sahf. Clobbers rax; nothing
 * after it may change flags (mov, pop, lea and ret do not). */
.macro RESTORE_FLAGS
	testl $0x400, PT_EFLAGS(%rsp)
	jz 1f
	std
1:	movb PT_EFLAGS+1(%rsp), %al
	shrb $3, %al
	andb $1, %al
	addb $0x7f, %al
	movb PT_EFLAGS(%rsp), %ah
	sahf
.endm

	.section .text.bpftime_syshook, "ax", @progbits
	.globl syshook_text_start
	.hidden syshook_text_start
syshook_text_start:

/* ------------------------------------------------------------------------------------------- */
	.p2align 4
	.globl syshook_common
	.hidden syshook_common
	.type syshook_common, @function
syshook_common:
	.cfi_startproc
	.cfi_def_cfa %rsp, ENTRY_CFA
	.cfi_offset %rip, RA_OFFSET
	/* While active every syscall takes the slow path (which sends a busy or excluded thread to
	 * C, where it runs without callbacks). Otherwise the fast path, straight through: nothing
	 * special about nr and this thread not armed (or busy/excluded): just the syscall.
	 * No instruction before the syscall (or before pushfq on the slow path) may change the flags:
	 * the kernel preserves them across a syscall, so we do too. Hence mov/lea and jrcxz only.
	 * rcx and r11 are free: the syscall clobbers them anyway. The table is indexed by the low byte
	 * of nr: an alias only sends a syscall down the slow path, which looks at the real nr. */
	movzbl syshook_active(%rip), %ecx	/* 0 or 1 */
	lea -1(%rcx), %rcx			/* zero when active: jrcxz is the only flag-free test */
	jrcxz .Lactive
	lea syshook_special(%rip), %r11
	movzbl %al, %ecx
	movzbl (%r11,%rcx), %ecx		/* 0 or 1 */
	lea -1(%rcx), %rcx
	jrcxz .Lslow
	mov syshook_tls@gottpoff(%rip), %r11
	mov %fs:TLS_BUSY(%r11), %ecx		/* busy, excluded, armed, 0 */
	lea -0x10000(%rcx), %rcx		/* zero when armed only: C turns dispatch off */
	jrcxz .Lslow
.Lplain:
	syscall
	ret

	/* Active: a syscall nobody wants (syshook_hot[nr & 255] == 0: not special, no callback wants
	 * that number, see bpftime_syscall_hook_want) made by an armed, idle thread runs plain, without
	 * a frame: a process traced at one syscall pays nothing at the others. Aliases (nr >= 256)
	 * only send a syscall down the slow path. */
.Lactive:
	lea syshook_hot(%rip), %r11
	movzbl %al, %ecx
	movzbl (%r11,%rcx), %ecx		/* 0 or 1 */
	lea -1(%rcx), %rcx
	jrcxz .Lslow
	mov syshook_tls@gottpoff(%rip), %r11
	mov %fs:TLS_BUSY(%r11), %ecx		/* busy, excluded, armed, 0 */
	lea -0x10000(%rcx), %rcx		/* zero when armed only */
	jrcxz .Lplain

.Lslow:
	PUSH_TOP %rax			/* orig_rax = nr */
	PUSH_GPRS
	ENTER_FRAME
	/* Hot path, all in assembly (a C dispatcher costs ~10 ns more): callbacks on, this thread
	 * armed, not busy, not excluded, its slot allocated, nothing special about nr. Anything else
	 * goes to syshook_dispatch_c. rdi..r9 still hold the arguments; r12-r14 are ours (saved in
	 * pt_regs, preserved by the callbacks). */
	mov PT_ORIG_RAX(%rbx), %rax
	mov %rax, F_NR(%rsp)
	mov %rdi, F_ARG0(%rsp)
	mov %rsi, F_ARG1(%rsp)
	mov %rdx, F_ARG2(%rsp)
	mov %r10, F_ARG3(%rsp)
	mov %r8, F_ARG4(%rsp)
	mov %r9, F_ARG5(%rsp)
	movq $0, F_RET(%rsp)
	movq $-38, PT_RAX(%rbx)			/* -ENOSYS, as the kernel's pt_regs shows at entry */
	mov syshook_tls@gottpoff(%rip), %r12
	cmpl $0x10000, %fs:TLS_BUSY(%r12)	/* busy 0, excluded 0, armed 1 */
	jne .Lc_path
	mov %fs:TLS_SLOT(%r12), %r13
	test %r13, %r13
	jz .Lc_path
	movzbl %al, %ecx
	lea syshook_special(%rip), %r11
	cmpb $0, (%r11,%rcx)
	jne .Lc_path
	/* The slot's seq is odd before active is read: stop() clears active, runs a membarrier,
	 * then waits for odd seqs (threads.c). */
	/* Which callbacks want this number: r15 = bit 0 enter, bit 1 exit (syshook_want). */
	lea syshook_want(%rip), %r11
	movzbl syshook_want_other(%rip), %r15d
	cmp $WANT_NR_MAX, %rax
	jae 0f
	movzbl (%r11,%rax), %r15d
0:	incq (%r13)
	cmpb $0, syshook_active(%rip)
	je .Lc_path_even
	test $1, %r15b
	jz 1f
	mov syshook_enter_cb(%rip), %r14
	test %r14, %r14
	jz 1f
	movb $1, %fs:TLS_BUSY(%r12)		/* the callback's own syscalls run plain */
	mov %rsp, %rdi
	call *%r14
	movb $0, %fs:TLS_BUSY(%r12)
	cmp $1, %eax				/* BPFTIME_SYSCALL_SKIP: ret is in the frame */
	je 2f
1:	incq (%r13)
	mov F_NR(%rsp), %rax
	mov F_ARG0(%rsp), %rdi
	mov F_ARG1(%rsp), %rsi
	mov F_ARG2(%rsp), %rdx
	mov F_ARG3(%rsp), %r10
	mov F_ARG4(%rsp), %r8
	mov F_ARG5(%rsp), %r9
	syscall
	mov %rax, F_RET(%rsp)
	test $2, %r15b				/* no exit callback wanted: done (seq is even) */
	jz .Lrestore
	incq (%r13)
	cmpb $0, syshook_active(%rip)
	je 3f
2:	test $2, %r15b
	jz 3f
	mov syshook_exit_cb(%rip), %r14
	test %r14, %r14
	jz 3f
	movb $1, %fs:TLS_BUSY(%r12)
	mov %rsp, %rdi
	call *%r14
	movb $0, %fs:TLS_BUSY(%r12)
3:	incq (%r13)
	jmp .Lrestore

.Lc_path_even:
	incq (%r13)
.Lc_path:
	mov %rsp, %rdi
	call syshook_dispatch_c
	test %eax, %eax
	jnz .Lmode
.Lrestore:
	.cfi_remember_state
	RESTORE_XMM
	mov F_RET(%rsp), %rax
	mov %rax, PT_RAX(%rbx)
	mov %rbx, %rsp
	.cfi_def_cfa %rsp, REGS_CFA
	RESTORE_FLAGS
	POP_GPRS
	lea PT_SIZE-PT_ORIG_RAX(%rsp), %rsp
	.cfi_adjust_cfa_offset -(PT_SIZE - PT_ORIG_RAX)
	ret
	.cfi_restore_state

/* The parent of MODE_CLONE comes back here with the result. */
.Lafter:
	mov %rax, F_RET(%rsp)
	mov %rsp, %rdi
	call syshook_exit_c
	jmp .Lrestore

.Lmode:
	cmp $MODE_CLONE, %eax
	je .Lclone
	/* MODE_BARE: the syscall must see the caller's exact registers and rsp: rt_sigreturn reads its
	 * frame at rsp; after vfork the child runs on this very stack and may overwrite anything below
	 * the caller's rsp before the parent resumes, so nothing below it may be needed afterwards.
	 * syshook_dispatch_c put nr and the arguments into pt_regs and the resume address and nr in TLS. */
	.cfi_remember_state
	RESTORE_XMM
	mov %rbx, %rsp
	.cfi_def_cfa %rsp, REGS_CFA
	RESTORE_FLAGS
	POP_GPRS
	mov PT_RSP-PT_ORIG_RAX(%rsp), %rsp
	.cfi_def_cfa %rsp, 0
	.cfi_undefined %rip		/* the resume address is in TLS only */
	syscall
	/* vfork (or clone sharing the stack): child first, then the parent; rt_sigreturn never
	 * gets here. Rebuild the entry protocol from TLS and report the exit. */
	lea -RED_ZONE(%rsp), %rsp
	.cfi_adjust_cfa_offset RED_ZONE
	mov syshook_tls@gottpoff(%rip), %r11
	SPUSH %fs:TLS_VFORK_RESUME(%r11)
	.cfi_offset %rip, RA_OFFSET
	mov %fs:TLS_VFORK_NR(%r11), %rcx
	lea .Lsud_ret(%rip), %r11
	SPUSH %r11
	jmp .Lexit_only
	.cfi_restore_state

.Lclone:
	/* The child starts on a new stack whose top holds [nr][rdi][rsi][resume] (dispatch.c).
	 * It inherits every register, so load the caller's, then the syscall's. The parent keeps rsp
	 * at this frame. */
	RESTORE_XMM
	mov F_NR(%rsp), %rax
	mov F_ARG0(%rsp), %rdi
	mov F_ARG1(%rsp), %rsi
	mov F_ARG2(%rsp), %rdx
	mov F_ARG3(%rsp), %r10
	mov F_ARG4(%rsp), %r8
	mov F_ARG5(%rsp), %r9
	mov PT_RBP(%rbx), %rbp
	mov PT_R12(%rbx), %r12
	mov PT_R13(%rbx), %r13
	mov PT_R14(%rbx), %r14
	mov PT_R15(%rbx), %r15
	mov PT_RBX(%rbx), %rbx
	syscall
	test %rax, %rax
	jz .Lclone_child
	mov F_REGS(%rsp), %rbx
	jmp .Lafter
.Lclone_child:
	/* [nr][rdi][rsi][resume], then the 128 bytes up to the stack's top */
	.cfi_def_cfa %rsp, 24 + ENTRY_CFA - 8
	.cfi_restore %rbx
	.cfi_restore %rbp
	.cfi_restore %r12
	.cfi_restore %r13
	.cfi_restore %r14
	.cfi_restore %r15
	SPOP %rcx			/* nr */
	SPOP %rdi			/* the caller's rdi and rsi (clone3/clone changed one) */
	SPOP %rsi
	lea .Lsud_ret(%rip), %r11	/* [rsp] = resume: the same shape as after a trap */
	SPUSH %r11
	/* fall through */

/* After a syscall that returned somewhere without our frame: rax = result, rcx = nr, [rsp] = R,
 * [rsp+8] = resume, other registers the caller's. */
.Lexit_only:
	PUSH_TOP %rcx			/* orig_rax = nr */
	PUSH_GPRS
	ENTER_FRAME
	mov %rsp, %rdi
	call syshook_exit_only_c
	jmp .Lrestore
	.cfi_endproc
	.size syshook_common, .-syshook_common

/* ------------------------------------------------------------------------------------------- */
/* Where the SIGSYS handler sends a trapped thread: rax = nr (the kernel rolled it back),
 * rcx = resume (set by the handler; rcx is dead at a syscall), rsp = the caller's. */
	.p2align 4
	.globl syshook_sud_entry
	.hidden syshook_sud_entry
	.type syshook_sud_entry, @function
syshook_sud_entry:
	.cfi_startproc
	.cfi_def_cfa %rsp, 0
	.cfi_register %rip, %rcx
	lea -RED_ZONE(%rsp), %rsp
	.cfi_adjust_cfa_offset RED_ZONE
	SPUSH %rcx
	.cfi_offset %rip, RA_OFFSET
	call syshook_common
.Lsud_ret:
	ret $RED_ZONE
	.cfi_endproc
	.size syshook_sud_entry, .-syshook_sud_entry

/* ------------------------------------------------------------------------------------------- */
/* long syshook_raw6(long nr, long a, long b, long c, long d, long e, long f): the engine's own
 * syscalls; -errno on error, like the kernel. */
	.p2align 4
	.globl syshook_raw6
	.hidden syshook_raw6
	.type syshook_raw6, @function
syshook_raw6:
	.cfi_startproc
	mov %rdi, %rax
	mov %rsi, %rdi
	mov %rdx, %rsi
	mov %rcx, %rdx
	mov %r8, %r10
	mov %r9, %r8
	mov 8(%rsp), %r9
	syscall
	ret
	.cfi_endproc
	.size syshook_raw6, .-syshook_raw6

/* long syshook_raw_int80(nr, ebx, ecx, edx, esi, edi, ebp) */
	.p2align 4
	.globl syshook_raw_int80
	.hidden syshook_raw_int80
	.type syshook_raw_int80, @function
syshook_raw_int80:
	.cfi_startproc
	SPUSH %rbx
	.cfi_rel_offset %rbx, 0
	SPUSH %rbp
	.cfi_rel_offset %rbp, 0
	mov %rdi, %rax
	mov %rsi, %rbx
	mov %rdx, %r10
	mov %rcx, %rdx
	mov %r10, %rcx
	mov %r8, %rsi
	mov %r9, %rdi
	mov 24(%rsp), %rbp
	int $0x80
	movslq %eax, %rax
	SPOP %rbp
	.cfi_restore %rbp
	SPOP %rbx
	.cfi_restore %rbx
	ret
	.cfi_endproc
	.size syshook_raw_int80, .-syshook_raw_int80

/* sa_restorer of the engine's SIGSYS handler: its rt_sigreturn must not trap either. */
	.p2align 4
	.globl syshook_restorer
	.hidden syshook_restorer
	.type syshook_restorer, @function
syshook_restorer:
	mov $15, %eax
	syscall
	ud2
	.size syshook_restorer, .-syshook_restorer

	.globl syshook_text_end
	.hidden syshook_text_end
syshook_text_end:
	int3

	.section .note.GNU-stack, "", @progbits
