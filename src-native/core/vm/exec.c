/* Entry points of the interpreter: a program run, callbacks into the running program, and
 * tail calls. The per-thread record of the running execution is what lets helpers (which
 * only see their five arguments) reach back into the VM. */
#include <errno.h>
#include <stdint.h>
#include "bpftime/vm.h"
#include "vm_internal.h"

__thread struct vm_exec *bpftime_vm_current;

static int exec_with(const struct bpftime_vm_prog *p, uint64_t ctx_arg1, uint64_t ctx_arg2, uint32_t tail_calls,
		     uint32_t *count_out, uint64_t *ret)
{
	struct vm_exec ex = { .tail_calls = tail_calls };
	uint64_t args[5] = { ctx_arg1, ctx_arg2, 0, 0, 0 };
	uint64_t r0 = 0;
	int err;

	if (!vm_prog_runnable(p) || !ret)
		return -EINVAL;
	ex.budget = (p->insn_budget == 0 || p->insn_budget > (uint64_t)INT64_MAX) ? INT64_MAX
										   : (int64_t)p->insn_budget;
	ex.outer = bpftime_vm_current;
	bpftime_vm_current = &ex;
	err = bpftime_vm_run_frame(&ex, p, 0, args, &r0);
	bpftime_vm_current = ex.outer;
	if (count_out)
		*count_out = ex.tail_calls;
	if (err == 0)
		*ret = r0;
	return err;
}

int bpftime_vm_exec(const struct bpftime_vm_prog *p, uint64_t ctx_arg1, uint64_t ctx_arg2, uint64_t *ret)
{
	return exec_with(p, ctx_arg1, ctx_arg2, 0, NULL, ret);
}

int bpftime_vm_exec_tail(const struct bpftime_vm_prog *p, uint64_t ctx, uint32_t tail_calls, uint64_t *ret)
{
	return exec_with(p, ctx, 0, tail_calls, NULL, ret);
}

int bpftime_vm_exec_tail_shared(const struct bpftime_vm_prog *p, uint64_t ctx, uint32_t *tail_calls, uint64_t *ret)
{
	return exec_with(p, ctx, 0, *tail_calls, tail_calls, ret);
}

int bpftime_vm_call_subprog(uint32_t pc, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t *ret)
{
	struct vm_exec *ex = bpftime_vm_current;
	uint64_t args[5] = { a1, a2, a3, a4, a5 };
	uint64_t r0 = 0;
	int err;

	if (!ex || !ex->prog || !ret || pc >= ex->prog->insn_cnt)
		return -EINVAL;
	err = bpftime_vm_run_frame(ex, ex->prog, pc, args, &r0);
	if (err == 0)
		*ret = r0;
	return err;
}

int bpftime_vm_tail_call(const struct bpftime_vm_prog *next)
{
	struct vm_exec *ex = bpftime_vm_current;

	if (!ex || !vm_prog_runnable(next))
		return -EINVAL;
	if (ex->tail_calls >= BPFTIME_VM_MAX_TAIL_CALLS)
		return -E2BIG;
	ex->tail_calls++;
	ex->tail_next = next;
	return 0;
}
