/* Loading JIT output: x86-64 code compiled once by the server (src-ts/jit), made runnable in
 * each process that runs the program.
 *
 * The code is position-independent except for 8-byte absolute values (movabs immediates) that
 * differ per process: helper addresses, map handles, map value addresses. The relocation table
 * says where they are. Loading copies the code into fresh anonymous memory mapped read-write,
 * patches the relocations, then flips the mapping to execute-only (PROT_EXEC; readable too on
 * CPUs without protection keys): never writable and executable at once (W^X). Each process
 * thus has its own relocated copy.
 *
 * Calling convention of the loaded code (System V): uint64_t entry(uint64_t r1, uint64_t r2)
 * runs the program with eBPF r1 = ctx, r2 = arg2 (0 for probes), returns r0. It uses about
 * 600 bytes of native stack per eBPF call frame (at most 8 frames, checked at compile time).
 * Reentrant and thread-safe: all state is on the stack.
 *
 * The blob stored in a program image (struct bpftime_prog_image jit_off/jit_size, objfile.h)
 * is struct bpftime_jit_blob followed by its relocations and code (writer: src-ts/jit/image.ts).
 */
#ifndef BPFTIME_JIT_H
#define BPFTIME_JIT_H
#include <stddef.h>
#include <stdint.h>
#include "bpftime/helper_fn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BPFTIME_JIT_BLOB_MAGIC 0x54494a42u /* "BJIT" little endian */
#define BPFTIME_JIT_ARCH_X86_64 1u

enum bpftime_jit_reloc_kind {
	BPFTIME_JIT_RELOC_HELPER = 1,    /* address of helper `id` (BPF_FUNC_*) */
	BPFTIME_JIT_RELOC_MAP_PTR = 2,   /* process-local struct bpftime_map * of map `id` */
	BPFTIME_JIT_RELOC_MAP_VALUE = 3, /* address of byte `addend` of map `id`'s value (direct value access) */
	BPFTIME_JIT_RELOC_TAIL_RESOLVE = 4, /* address of bpftime_jit_tail_resolve (bpf_tail_call) */
	BPFTIME_JIT_RELOC_CODE = 5,      /* address of byte `addend` of this code (callback pointers) */
	BPFTIME_JIT_RELOC_TAIL_INTERP = 6, /* address of bpftime_jit_tail_interp (bpf_tail_call) */
	BPFTIME_JIT_RELOC_ARRAY_VALUES = 7, /* address of value 0 of ARRAY map `id`, which has `addend` entries
					     * (inline bpf_map_lookup_elem) */
};

/* Where a tail call enters JIT code: the main prologue starts with the frame set-up (pushes, sub
 * rsp, lea rbp) and the run's tail-call count (a zeroed cell in the frame, its address in rax), 34
 * bytes in all; a tail call keeps the frame it replaces, which has the same shape, and jumps past
 * them with the address of the count it has been using in rax, so one count serves the whole run
 * (the kernel's tail_call_cnt_ptr). Even: the resolver tags programs without JIT code in bit 0. */
#define BPFTIME_JIT_TAIL_ENTRY 34

/* Called by JIT code at bpf_tail_call(ctx, map, index), with the number of tail calls made so
 * far: the target's tail entry to jump to; for a target without JIT code, its struct
 * bpftime_vm_prog * with bit 0 set (the JIT code then jumps to bpftime_jit_tail_interp with it);
 * or a negative errno when the call falls through (the same value as in the interpreter). */
int64_t bpftime_jit_tail_resolve(uint64_t map, uint64_t index, uint64_t count);
/* Where JIT code continues a tail call into a program without JIT code (called from the frame it
 * replaces, r1 in rdi): runs `next` in the interpreter with the run's count at *tail_calls (the
 * tail calls it makes are added there); returns its r0. */
struct bpftime_vm_prog;
uint64_t bpftime_jit_tail_interp(uint64_t r1, const struct bpftime_vm_prog *next, uint32_t *tail_calls);

/* Callback entries of loaded JIT code (BPFTIME_JIT_RELOC_CODE targets): registered by
 * bpftime_jit_load, withdrawn by bpftime_jit_free; helpers call a callback value as native code
 * only when bpftime_jit_is_callback says it is one (lock-free). add: 0, -ENOSPC, -EINVAL. */
int bpftime_jit_callback_add(uint64_t addr);
void bpftime_jit_callback_remove(uint64_t addr);
int bpftime_jit_is_callback(uint64_t addr);
/* Calls the JIT'ed callback at fn with (a1, a2, a3, a4, 0) and the address of the caller's
 * tail-call count where bpf-to-bpf calls pass it (rax), so tail calls in the callback count
 * towards the run's limit. */
uint64_t bpftime_jit_call_callback(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint32_t *tail_count);

/* An 8-byte little-endian absolute value to write at code[offset]. */
struct bpftime_jit_reloc {
	uint32_t offset;
	uint32_t kind; /* enum bpftime_jit_reloc_kind */
	uint32_t id;
	uint32_t addend;
};

struct bpftime_jit_blob {
	uint32_t magic;     /* BPFTIME_JIT_BLOB_MAGIC */
	uint32_t arch;      /* BPFTIME_JIT_ARCH_X86_64 */
	uint32_t code_off;  /* from the start of the blob, 16-aligned */
	uint32_t code_size;
	uint32_t reloc_off; /* from the start of the blob, 4-aligned */
	uint32_t reloc_cnt;
	uint32_t reserved[2];
};

typedef uint64_t (*bpftime_jit_fn)(uint64_t r1, uint64_t r2);

/* Resolves a map relocation (MAP_PTR or MAP_VALUE) to its value in this process; 0 or -errno. */
typedef int (*bpftime_jit_resolve_fn)(void *user, uint32_t kind, uint32_t id, uint32_t addend, uint64_t *value);

struct bpftime_jit_env {
	const bpftime_helper_fn *helpers; /* indexed by BPF_FUNC_*, NULL entries = absent */
	uint32_t nhelpers;
	bpftime_jit_resolve_fn resolve;   /* may be NULL when the code has no map relocations */
	void *user;
};

struct bpftime_jit_prog; /* opaque: the executable mapping */

/* Loads code + relocations. 0 and *out, or -EINVAL (malformed: relocation outside the code,
 * unknown kind), -ENOENT (absent helper; or what resolve returned), -ENOMEM, -errno of
 * mmap/mprotect. */
int bpftime_jit_load(const void *code, size_t code_size, const struct bpftime_jit_reloc *relocs, uint32_t nrelocs,
		     const struct bpftime_jit_env *env, struct bpftime_jit_prog **out);

/* The same from a struct bpftime_jit_blob of blob_size bytes (checked: -EINVAL when malformed,
 * -ENOEXEC for another architecture or a host that is not x86-64). */
int bpftime_jit_load_blob(const void *blob, size_t blob_size, const struct bpftime_jit_env *env,
			  struct bpftime_jit_prog **out);

bpftime_jit_fn bpftime_jit_entry(const struct bpftime_jit_prog *p);
size_t bpftime_jit_code_size(const struct bpftime_jit_prog *p);

/* Unmaps the code. The caller makes sure no thread is still running it. */
void bpftime_jit_free(struct bpftime_jit_prog *p);

/* A ready-made resolver for agents: user is a struct bpftime_jit_maps naming the maps the
 * program uses by id; MAP_VALUE goes through bpftime_map_direct_value_addr(). */
struct bpftime_map;
struct bpftime_jit_maps {
	const uint32_t *ids;
	struct bpftime_map *const *maps;
	uint32_t n;
};
int bpftime_jit_resolve_maps(void *user, uint32_t kind, uint32_t id, uint32_t addend, uint64_t *value);

/* For agents, all of the above in one call: loads the JIT code of a program image (objfile.h;
 * `avail` bytes readable from img) with helpers from bpftime_helper_table and map relocations
 * resolved against the maps the program uses (map_ids[k] <-> maps[k]).
 * Returns 0 with *out = NULL when there is nothing to load (the image has no JIT code, the
 * environment says BPFTIME_JIT=0, the host is not x86-64): run the interpreter then. 0 with *out
 * set on success; a negative errno when the code is there but cannot be loaded (the caller
 * should fall back to the interpreter too). */
struct bpftime_prog_image;
int bpftime_jit_load_image(const struct bpftime_prog_image *img, size_t avail, const uint32_t *map_ids,
			   struct bpftime_map *const *maps, uint32_t nmaps, struct bpftime_jit_prog **out);

#ifdef __cplusplus
}
#endif
#endif
