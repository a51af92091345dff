/* Trampolines of the hooking engine (AT&T syntax).
 *
 * bpftime_attach_entry_tpl: a position-independent template copied into every site's stub, near the
 * site. Layout of one stub:
 *     [slots: site, dispatch, ip, sp_adj]  [override exit]  entry: [save, call, restore]  [relocated insns, jmp back]
 * The slots sit before the code so the hot path needs no jump over them, and the override exit sits
 * before `entry` so the common path falls straight through into the relocated instructions.
 *
 * bpftime_attach_ret_tramp: one shared return trampoline, reached by `ret` from a function whose
 * return address an entry dispatch replaced.
 *
 * Both build a struct pt_regs (kernel layout, 168 bytes) on the stack by pushing from ss down to r15,
 * so the frame *is* the ctx programs read. */

#define PT_RAX     80
#define PT_RIP     128
#define PT_EFLAGS  144
#define PT_RSP     152
#define PT_REGS_SIZE 168
#define RED_ZONE   128	/* SysV: code may keep data below rsp; a probe mid-function must not clobber it */

/* cs/ss as user mode sees them on x86-64 Linux; only cosmetic, nothing reads them back. */
#define USER_CS 0x33
#define USER_SS 0x2b

/* Everything below rip in pt_regs, pushed in reverse layout order. */
.macro PUSH_GPRS
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %rcx
	pushq %rax
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
.endm

.macro POP_GPRS
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rax
	popq %rcx
	popq %rdx
	popq %rsi
	popq %rdi
.endm

/* Upper part of pt_regs: ss, rsp (placeholder), eflags, cs, rip (placeholder), orig_rax.
 * pushfq comes before any flag-changing instruction; lea and push change none. */
.macro PUSH_FRAME_TOP
	pushq $USER_SS
	pushq %rax		/* rsp, filled below */
	pushfq
	pushq $USER_CS
	pushq %rax		/* rip, filled below */
	pushq $-1		/* orig_rax: not a syscall */
.endm

/* Restore eflags from pt_regs without popfq, which costs ~12 ns (a third of the budget): DF with
 * std when it was set, OF by an 8-bit add that overflows exactly when it was set, then the
 * SF/ZF/AF/PF/CF byte with sahf (which leaves OF alone). Uses rax: POP_GPRS must follow. Nothing
 * after it may change flags (pop, lea and jmp do not). Other flags (TF, AC) are not restored. */
.macro RESTORE_FLAGS
	testl $0x400, PT_EFLAGS(%rsp)
	jz 1f
	std
1:	movb PT_EFLAGS+1(%rsp), %al	/* flags bits 8..15: OF is bit 3 */
	shrb $3, %al
	andb $1, %al
	addb $0x7f, %al			/* 0x7f + 1 overflows: OF = saved OF */
	movb PT_EFLAGS(%rsp), %ah
	sahf
.endm

/* The ABI wants DF clear at calls. `cld` costs ~3 ns even when DF is already clear (nearly always),
 * a tenth of a hit: only when the saved eflags (rsp at pt_regs) say it is set. Changes flags:
 * they are saved already. */
.macro CLEAR_DF
	testl $0x400, PT_EFLAGS(%rsp)
	jz 1f
	cld
1:
.endm

	.section .text.bpftime_attach, "ax", @progbits

/* ------------------------------------------------------------------------------------------- */
	.p2align 4
	.globl bpftime_attach_entry_tpl
	.hidden bpftime_attach_entry_tpl
bpftime_attach_entry_tpl:
.Lslot_site:	 .quad 0	/* struct site *, first argument of the dispatcher */
.Lslot_dispatch: .quad 0	/* bpftime_attach_entry_dispatch (absolute: the stub is a copy) */
.Lslot_ip:	 .quad 0	/* the probed address, reported as regs->rip */
.Lslot_sp_adj:	 .quad 0	/* bytes pushed by the 1-byte pushes left before the jmp (reloc.c) */

/* Override: a handler asked the function to return at once with regs->rax. rsp is at pt_regs.
 * Flags are dead across a return (and DF is clear, as the ABI wants), so they are not restored. */
.Loverride:
	POP_GPRS
	lea 48+RED_ZONE(%rsp), %rsp		/* orig_rax .. ss, red zone */
	add .Lslot_sp_adj(%rip), %rsp		/* drop what the skipped pushes pushed: the entry rsp */
	ret					/* to the caller (or the return trampoline) */

	.globl bpftime_attach_entry_tpl_entry
	.hidden bpftime_attach_entry_tpl_entry
bpftime_attach_entry_tpl_entry:
	lea -RED_ZONE(%rsp), %rsp
	PUSH_FRAME_TOP
	PUSH_GPRS
	CLEAR_DF			/* the original is in eflags */
	mov .Lslot_sp_adj(%rip), %rax
	lea PT_REGS_SIZE+RED_ZONE(%rsp,%rax), %rax	/* rsp at the probed address */
	mov %rax, PT_RSP(%rsp)
	mov .Lslot_ip(%rip), %rax
	mov %rax, PT_RIP(%rsp)
	mov %rsp, %rbx			/* callee-saved: the pt_regs pointer survives the call */
	and $-16, %rsp
	sub $128, %rsp			/* xmm0-7 carry float arguments: handlers may clobber them */
	movaps %xmm0, 0(%rsp)
	movaps %xmm1, 16(%rsp)
	movaps %xmm2, 32(%rsp)
	movaps %xmm3, 48(%rsp)
	movaps %xmm4, 64(%rsp)
	movaps %xmm5, 80(%rsp)
	movaps %xmm6, 96(%rsp)
	movaps %xmm7, 112(%rsp)
	mov .Lslot_site(%rip), %rdi
	mov %rbx, %rsi
	call *.Lslot_dispatch(%rip)
	movaps 0(%rsp), %xmm0
	movaps 16(%rsp), %xmm1
	movaps 32(%rsp), %xmm2
	movaps 48(%rsp), %xmm3
	movaps 64(%rsp), %xmm4
	movaps 80(%rsp), %xmm5
	movaps 96(%rsp), %xmm6
	movaps 112(%rsp), %xmm7
	mov %rbx, %rsp
	test %eax, %eax
	jnz .Loverride
	RESTORE_FLAGS
	POP_GPRS			/* handlers may have changed GPRs: take them from pt_regs */
	lea 48+RED_ZONE(%rsp), %rsp	/* orig_rax .. ss, red zone */
	.globl bpftime_attach_entry_tpl_end
	.hidden bpftime_attach_entry_tpl_end
bpftime_attach_entry_tpl_end:
	/* the stub continues with the relocated instructions and a jmp back */
	ud2				/* never reached in the template itself */

/* ------------------------------------------------------------------------------------------- */
/* Reached by the probed function's `ret`: rsp = entry rsp + 8. The caller cannot keep live data
 * below its rsp across a call, so the frame is built right here without skipping a red zone. */
	.p2align 4
	.globl bpftime_attach_ret_tramp
	.hidden bpftime_attach_ret_tramp
	.type bpftime_attach_ret_tramp, @function
bpftime_attach_ret_tramp:
	PUSH_FRAME_TOP
	PUSH_GPRS
	CLEAR_DF
	lea PT_REGS_SIZE(%rsp), %rax
	mov %rax, PT_RSP(%rsp)
	mov %rsp, %rbx
	and $-16, %rsp
	sub $32, %rsp			/* xmm0/xmm1 carry float and vector return values */
	movaps %xmm0, 0(%rsp)
	movaps %xmm1, 16(%rsp)
	mov %rbx, %rdi
	call bpftime_attach_ret_dispatch	/* pops the shadow frame, sets regs->rip */
	movaps 0(%rsp), %xmm0
	movaps 16(%rsp), %xmm1
	mov %rbx, %rsp
	POP_GPRS
	/* Flags are dead after a return (DF clear, as CLEAR_DF left it): not restored. */
	lea 48(%rsp), %rsp		/* orig_rax .. ss: now rsp is as after the original ret */
	/* rip slot is 40 bytes below: inside the 128 bytes the kernel leaves alone when it
	 * delivers a signal, and dead stack for the caller, so it is still intact. */
	jmp *-40(%rsp)
	.size bpftime_attach_ret_tramp, .-bpftime_attach_ret_tramp

	.section .note.GNU-stack, "", @progbits
