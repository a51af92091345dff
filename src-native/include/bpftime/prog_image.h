/* A program image (objfile.h) made runnable in this process: the one loader shared by agents
 * (src-native/agent/progs.c) and the server's BPF_PROG_TEST_RUN (src-native/addon), so that a
 * test run computes exactly what an attached program computes.
 *
 * What differs per process are the addresses the ld_imm64 relocations must hold (the local
 * handle of each map, or the local address of a map value); the caller opens the maps and names
 * them by id. */
#ifndef BPFTIME_PROG_IMAGE_H
#define BPFTIME_PROG_IMAGE_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "bpftime/jit.h"
#include "bpftime/objfile.h"
#include "bpftime/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

struct bpftime_map;

struct bpftime_loaded_prog {
	uint32_t prog_type;
	struct bpftime_vm_prog vm;    /* the interpreter's view: relocated instructions */
	struct bpftime_jit_prog *jit; /* NULL: run vm in the interpreter */
	struct bpf_insn *insns;       /* owned: vm.insns */
	struct bpftime_prog_stats *stats; /* set by the caller (bpftime_prog_stats_map), or NULL */
};

/* Checks the image (`avail` bytes readable from img), relocates a copy of its instructions
 * against maps[k] (global id map_ids[k]), rewrites callback pointers for the interpreter, and
 * loads the JIT code when there is some (see bpftime_jit_load_image; when it cannot be loaded,
 * the interpreter runs). 0, or -EINVAL/-ENOENT/-ENOMEM with a message in err. */
int bpftime_prog_image_load(const struct bpftime_prog_image *img, size_t avail, const uint32_t *map_ids,
			    struct bpftime_map *const *maps, uint32_t nmaps, struct bpftime_loaded_prog *out,
			    char *err, size_t errlen);

/* Frees what bpftime_prog_image_load allocated (the caller makes sure nobody runs it). */
void bpftime_loaded_prog_free(struct bpftime_loaded_prog *p);

/* Maps the statistics of the program behind memfd `fd` (objfile.h) read-write: NULL when it
 * cannot (the program then runs uncounted). Stays mapped for the life of the process. */
struct bpftime_prog_stats *bpftime_prog_stats_map(int fd);

static inline uint64_t bpftime_stats_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One run with r1 = ctx, on the JIT code when there is some, else in the interpreter; counted
 * into *stats (when given) while BPF_ENABLE_STATS is on, as the kernel's __bpf_prog_run. When it
 * is off the cost is one load of a shared, read-mostly word and a predicted branch. Every place
 * that runs a program (agents' hooks, the server's test runs) goes through here. */
static inline uint64_t bpftime_prog_run(const struct bpftime_vm_prog *vm, struct bpftime_jit_prog *jit,
					struct bpftime_prog_stats *stats, uint64_t ctx)
{
	uint64_t ret = 0;
	if (__builtin_expect(stats != NULL && __atomic_load_n(&stats->enabled, __ATOMIC_RELAXED) != 0, 0)) {
		uint64_t t0 = bpftime_stats_now_ns();
		if (jit)
			ret = bpftime_jit_entry(jit)(ctx, 0);
		else
			bpftime_vm_exec(vm, ctx, 0, &ret);
		uint64_t dt = bpftime_stats_now_ns() - t0;
		__atomic_fetch_add(&stats->run_cnt, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&stats->run_time_ns, dt, __ATOMIC_RELAXED);
		return ret;
	}
	if (jit)
		return bpftime_jit_entry(jit)(ctx, 0);
	bpftime_vm_exec(vm, ctx, 0, &ret);
	return ret;
}

static inline uint64_t bpftime_loaded_prog_run(const struct bpftime_loaded_prog *p, uint64_t ctx)
{
	return bpftime_prog_run(&p->vm, p->jit, p->stats, ctx);
}

#ifdef __cplusplus
}
#endif
#endif
