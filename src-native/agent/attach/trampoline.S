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
#define PT_ORIG_RAX 120
#define PT_RIP     128
#define PT_EFLAGS  144
#define PT_RSP     152
#define PT_SS      160
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

/* With the saved eflags at (%rsp): OF, SF, ZF, AF, PF and CF as saved (the trick of RESTORE_FLAGS),
 * DF left alone. Clobbers rax. */
.macro RESTORE_ARITH_FLAGS
	movb 1(%rsp), %al
	shrb $3, %al
	andb $1, %al
	addb $0x7f, %al
	movb (%rsp), %ah
	sahf
.endm

#include "attach_asm.h"

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
.Lslot_tls:	 .quad 0	/* offset of attach_tls from %fs:0 (initial-exec TLS) */
.Lslot_ret_tramp: .quad 0	/* bpftime_attach_ret_tramp */
.Lslot_body:	 .quad 0	/* the function's code, called by the return-only path (attach.c) */
.Lslot_ret_call: .quad 0	/* bpftime_attach_ret_tramp_call */

/* Override: a handler asked the function to return at once with regs->rax. rsp is at pt_regs.
 * Flags are dead across a return (and DF is clear, as the ABI wants), so they are not restored. */
.Loverride:
	POP_GPRS
	lea 48+RED_ZONE(%rsp), %rsp		/* orig_rax .. ss, red zone */
	add .Lslot_sp_adj(%rip), %rsp		/* drop what the skipped pushes pushed: the entry rsp */
	ret					/* to the caller (or the return trampoline) */

/* The return-only path (see below), out of line: jrcxz reaches 127 bytes only. Entered with rcx
 * pushed below the red zone. */
.Llight:
	pushq %rax
	pushfq				/* flags are changed from here on: restored without popfq */
	mov .Lslot_site(%rip), %rax
	cmpq $0, SITE_ENTRY_VEC(%rax)
	jne .Llight_bail
	cmpq $0, SITE_RET_VEC(%rax)
	je .Llight_bail
	mov .Lslot_tls(%rip), %rcx
	mov %fs:(%rcx), %rcx		/* struct thread_state * */
	test %rcx, %rcx
	jz .Llight_bail
	testb $1, TS_SEQ(%rcx)		/* inside a dispatcher: no return probe (as dispatch.c) */
	jnz .Llight_bail
	cmpb $0, TS_EXCLUDED(%rcx)
	jne .Llight_bail
	cmpq $0, TS_FRAMES(%rcx)
	je .Llight_bail
	cmpl $SHADOW_CAP, TS_TOP(%rcx)
	jae .Llight_bail
	incq TS_SEQ(%rcx)		/* odd, as in a dispatcher: a signal handler's probes now run */
	pushq %rdx			/* nothing and cannot take the frame we are writing */
	pushq %rsi
	/* rsi, rdx, flags, rax, rcx, then the red zone: the stub's entry rsp is 168 above */
	mov .Lslot_sp_adj(%rip), %rdx
	lea 40+RED_ZONE(%rsp,%rdx), %rdx	/* rsp at the probed address: [rdx] = return address */
	mov TS_TOP(%rcx), %esi
	lea (%rsi,%rsi,2), %rsi
	shl $3, %rsi			/* top * SHADOW_FRAME_SIZE */
	add TS_FRAMES(%rcx), %rsi
	mov %rdx, 8(%rsi)		/* entry_sp */
	mov %rax, 16(%rsi)		/* site */
	mov (%rdx), %rax
	mov %rax, 0(%rsi)		/* ret_addr */
	incl TS_TOP(%rcx)		/* after the frame is complete: a signal handler sees all or nothing */
	incq TS_SEQ(%rcx)		/* even again */
	popq %rsi
	popq %rdx
	RESTORE_ARITH_FLAGS		/* DF was never touched */
	lea 8(%rsp), %rsp
	popq %rax
	/* Call the function instead of hijacking its return address: from rsp = entry rsp + 8
	 * (the return address is in the shadow frame; what the skipped pushes pushed is dropped and
	 * pushed again by the body, reloc.c), so the `call` puts our return address where the
	 * caller's was and every argument on the stack stays where the function expects it. Its
	 * `ret` then comes back here as the CPU's return predictor expects, and the return
	 * trampoline's `ret` to the caller pops the prediction the caller's call pushed: no
	 * mispredicted return, which a hijacked return address costs on every hit. Only [rsp] =
	 * the caller's rcx is left below the red zone; rsp is moved with `pop %rsp` (no flags). */
	mov .Lslot_sp_adj(%rip), %rcx
	lea 16+RED_ZONE(%rsp,%rcx), %rcx	/* entry rsp + 8 */
	pushq %rcx
	mov 8(%rsp), %rcx
	popq %rsp
	call *.Lslot_body(%rip)
	.globl bpftime_attach_entry_tpl_call_ret
	.hidden bpftime_attach_entry_tpl_call_ret
bpftime_attach_entry_tpl_call_ret:	/* the return address the function's frame holds */
	jmp *.Lslot_ret_call(%rip)
.Llight_bail:
	RESTORE_ARITH_FLAGS
	lea 8(%rsp), %rsp
	popq %rax
	jmp .Lfull_pop_rcx

	.globl bpftime_attach_entry_tpl_entry
	.hidden bpftime_attach_entry_tpl_entry
bpftime_attach_entry_tpl_entry:
	lea -RED_ZONE(%rsp), %rsp
	/* A site with return probes only needs no pt_regs at entry: the shadow push alone, done
	 * here (what shadow_push in dispatch.c does), without a call. site->ret_only says so; it is
	 * tested without changing flags (jrcxz). Anything unusual (no thread state or frames yet, a
	 * full shadow stack, inside a dispatcher, excluded thread, entry handlers after all) takes
	 * the full path below, which handles it. */
	pushq %rcx
	mov .Lslot_site(%rip), %rcx
	mov SITE_RET_ONLY(%rcx), %rcx
	jrcxz .Lfull_pop_rcx
	jmp .Llight
.Lfull_pop_rcx:
	popq %rcx
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
.Ltpl_end:
	/* the stub continues with the relocated instructions and a jmp back */
	ud2				/* never reached in the template itself */

/* ------------------------------------------------------------------------------------------- */
/* Reached by the probed function's `ret`: rsp = entry rsp + 8. The caller cannot keep live data
 * below its rsp across a call, so the frame is built right here without skipping a red zone. */
/* Builds pt_regs, runs the return dispatcher (which pops the shadow frame and sets regs->rip to the
 * real return address) and restores xmm0/1; leaves rsp at pt_regs. */
.macro RET_DISPATCH
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
.endm

	.p2align 4
	.globl bpftime_attach_ret_tramp
	.hidden bpftime_attach_ret_tramp
	.type bpftime_attach_ret_tramp, @function
bpftime_attach_ret_tramp:
	RET_DISPATCH
	POP_GPRS
	/* Flags are dead after a return (DF clear, as CLEAR_DF left it): not restored. */
	lea 48(%rsp), %rsp		/* orig_rax .. ss: now rsp is as after the original ret */
	/* rip slot is 40 bytes below: inside the 128 bytes the kernel leaves alone when it
	 * delivers a signal, and dead stack for the caller, so it is still intact. */
	jmp *-40(%rsp)
	.size bpftime_attach_ret_tramp, .-bpftime_attach_ret_tramp

/* The same for a function the stub called (the return-only path): rsp = entry rsp + 8 here too.
 * Returns with `ret`, which the caller's call predicted: the real address goes into the ss slot
 * of pt_regs, the entry rsp, and the frame is popped down to it. */
	.p2align 4
	.globl bpftime_attach_ret_tramp_call
	.hidden bpftime_attach_ret_tramp_call
	.type bpftime_attach_ret_tramp_call, @function
bpftime_attach_ret_tramp_call:
	RET_DISPATCH
	mov PT_RIP(%rsp), %rax
	mov %rax, PT_SS(%rsp)
	POP_GPRS
	lea PT_SS-PT_ORIG_RAX(%rsp), %rsp	/* orig_rax .. rsp: now at the entry rsp */
	ret
	.size bpftime_attach_ret_tramp_call, .-bpftime_attach_ret_tramp_call

	.section .note.GNU-stack, "", @progbits
