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

/* One run with r1 = ctx, on the JIT code when loaded, else in the interpreter. */
static inline uint64_t bpftime_loaded_prog_run(const struct bpftime_loaded_prog *p, uint64_t ctx)
{
	uint64_t ret = 0;
	if (p->jit)
		return bpftime_jit_entry(p->jit)(ctx, 0);
	bpftime_vm_exec(&p->vm, ctx, 0, &ret);
	return ret;
}

#ifdef __cplusplus
}
#endif
#endif
