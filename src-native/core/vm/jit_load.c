/* Loads JIT output (src-ts/jit) W^X: anonymous memory mapped read-write, code copied and
 * relocated, then made execute-only. See bpftime/jit.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "bpftime/helpers.h"
#include "bpftime/jit.h"
#include "bpftime/map.h"
#include "bpftime/objfile.h"

struct bpftime_jit_prog {
	void *mem;
	size_t map_len;
	size_t code_size;
	uint64_t *callbacks; /* registered callback entries (jit_callbacks.c) */
	uint32_t ncallbacks;
};

static void drop_callbacks(uint64_t *cbs, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++)
		bpftime_jit_callback_remove(cbs[k]);
	free(cbs);
}

static int resolve(const struct bpftime_jit_env *env, const struct bpftime_jit_reloc *r, const void *code,
		   size_t code_size, uint64_t *v)
{
	switch (r->kind) {
	case BPFTIME_JIT_RELOC_TAIL_RESOLVE:
		*v = (uint64_t)(uintptr_t)bpftime_jit_tail_resolve;
		return 0;
	case BPFTIME_JIT_RELOC_TAIL_INTERP:
		*v = (uint64_t)(uintptr_t)bpftime_jit_tail_interp;
		return 0;
	case BPFTIME_JIT_RELOC_CODE:
		if (r->addend >= code_size)
			return -EINVAL;
		*v = (uint64_t)(uintptr_t)code + r->addend;
		return 0;
	case BPFTIME_JIT_RELOC_HELPER:
		if (!env->helpers || r->id >= env->nhelpers || !env->helpers[r->id])
			return -ENOENT;
		*v = (uint64_t)(uintptr_t)env->helpers[r->id];
		return 0;
	case BPFTIME_JIT_RELOC_MAP_PTR:
	case BPFTIME_JIT_RELOC_MAP_VALUE:
	case BPFTIME_JIT_RELOC_ARRAY_VALUES:
		if (!env->resolve)
			return -ENOENT;
		return env->resolve(env->user, r->kind, r->id, r->addend, v);
	default:
		return -EINVAL;
	}
}

int bpftime_jit_load(const void *code, size_t code_size, const struct bpftime_jit_reloc *relocs, uint32_t nrelocs,
		     const struct bpftime_jit_env *env, struct bpftime_jit_prog **out)
{
	struct bpftime_jit_prog *p;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len;
	void *mem;
	int err;

	if (!code || code_size == 0 || !env || !out || (nrelocs && !relocs))
		return -EINVAL;
	for (uint32_t k = 0; k < nrelocs; k++)
		if (relocs[k].offset > code_size || code_size - relocs[k].offset < 8)
			return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	len = (code_size + page - 1) / page * page;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		err = -errno;
		free(p);
		return err;
	}
	memcpy(mem, code, code_size);
	/* The page's tail traps if anything ever jumps there. */
	memset((char *)mem + code_size, 0xcc, len - code_size);
	for (uint32_t k = 0; k < nrelocs; k++) {
		uint64_t v = 0;

		err = resolve(env, &relocs[k], mem, code_size, &v);
		if (err)
			goto fail;
		memcpy((char *)mem + relocs[k].offset, &v, sizeof(v));
	}
	/* Callback entries become callable by helpers only now that the code is complete. */
	for (uint32_t k = 0; k < nrelocs; k++) {
		if (relocs[k].kind != BPFTIME_JIT_RELOC_CODE)
			continue;
		uint64_t *grown = realloc(p->callbacks, (p->ncallbacks + 1) * sizeof(*grown));
		if (!grown) {
			err = -ENOMEM;
			goto fail;
		}
		p->callbacks = grown;
		p->callbacks[p->ncallbacks] = (uint64_t)(uintptr_t)mem + relocs[k].addend;
		err = bpftime_jit_callback_add(p->callbacks[p->ncallbacks]);
		if (err)
			goto fail;
		p->ncallbacks++;
	}
	/* Execute-only: the code never reads itself (no constant pools, no rip-relative data), so
	 * PROT_EXEC alone suffices; where the CPU has protection keys the kernel then enforces
	 * execute-only, elsewhere x86 makes it readable as well. */
	if (mprotect(mem, len, PROT_EXEC) < 0) {
		err = -errno;
		goto fail;
	}
	p->mem = mem;
	p->map_len = len;
	p->code_size = code_size;
	*out = p;
	return 0;
fail:
	drop_callbacks(p->callbacks, p->ncallbacks);
	munmap(mem, len);
	free(p);
	return err;
}

int bpftime_jit_load_blob(const void *blob, size_t blob_size, const struct bpftime_jit_env *env,
			  struct bpftime_jit_prog **out)
{
	const struct bpftime_jit_blob *h = blob;

	if (!blob || blob_size < sizeof(*h) || h->magic != BPFTIME_JIT_BLOB_MAGIC)
		return -EINVAL;
#if defined(__x86_64__)
	if (h->arch != BPFTIME_JIT_ARCH_X86_64)
		return -ENOEXEC;
#else
	return -ENOEXEC; /* no other JIT target yet */
#endif
	if (h->code_off > blob_size || h->code_size > blob_size - h->code_off || h->reloc_off % 4 ||
	    h->reloc_off > blob_size || h->reloc_cnt > (blob_size - h->reloc_off) / sizeof(struct bpftime_jit_reloc))
		return -EINVAL;
	/* The blob may sit anywhere in a mapping; copy the table out to read it aligned. */
	struct bpftime_jit_reloc *rel = NULL;
	if (h->reloc_cnt) {
		rel = malloc((size_t)h->reloc_cnt * sizeof(*rel));
		if (!rel)
			return -ENOMEM;
		memcpy(rel, (const char *)blob + h->reloc_off, (size_t)h->reloc_cnt * sizeof(*rel));
	}
	int err = bpftime_jit_load((const char *)blob + h->code_off, h->code_size, rel, h->reloc_cnt, env, out);
	free(rel);
	return err;
}

bpftime_jit_fn bpftime_jit_entry(const struct bpftime_jit_prog *p)
{
	return p ? (bpftime_jit_fn)p->mem : NULL;
}

size_t bpftime_jit_code_size(const struct bpftime_jit_prog *p)
{
	return p ? p->code_size : 0;
}

void bpftime_jit_free(struct bpftime_jit_prog *p)
{
	if (!p)
		return;
	drop_callbacks(p->callbacks, p->ncallbacks);
	munmap(p->mem, p->map_len);
	free(p);
}

int bpftime_jit_resolve_maps(void *user, uint32_t kind, uint32_t id, uint32_t addend, uint64_t *value)
{
	const struct bpftime_jit_maps *t = user;

	for (uint32_t k = 0; t && k < t->n; k++) {
		if (t->ids[k] != id || !t->maps[k])
			continue;
		if (kind == BPFTIME_JIT_RELOC_MAP_PTR) {
			*value = (uint64_t)(uintptr_t)t->maps[k];
			return 0;
		}
		if (kind == BPFTIME_JIT_RELOC_ARRAY_VALUES) {
			/* The code bounds-checks keys against `addend` entries and indexes from value 0:
			 * only an ARRAY map of exactly that size may be behind it. */
			const struct bpftime_map_spec *s = bpftime_map_get_spec(t->maps[k]);
			uint32_t zero = 0;
			if (!s || s->map_type != BPF_MAP_TYPE_ARRAY || s->max_entries != addend || addend == 0)
				return -EINVAL;
			void *v0 = bpftime_map_lookup_elem(t->maps[k], &zero);
			if (!v0)
				return -EINVAL;
			*value = (uint64_t)(uintptr_t)v0;
			return 0;
		}
		void *addr;
		int err = bpftime_map_direct_value_addr(t->maps[k], addend, &addr);
		if (err)
			return err;
		*value = (uint64_t)(uintptr_t)addr;
		return 0;
	}
	return -ENOENT;
}

int bpftime_jit_load_image(const struct bpftime_prog_image *img, size_t avail, const uint32_t *map_ids,
			   struct bpftime_map *const *maps, uint32_t nmaps, struct bpftime_jit_prog **out)
{
	const char *off = getenv("BPFTIME_JIT");

	if (!out)
		return -EINVAL;
	*out = NULL;
#if !defined(__x86_64__)
	return 0;
#endif
	if (!img || img->jit_size == 0 || (off && strcmp(off, "0") == 0))
		return 0;
	if (avail < sizeof(*img) || img->jit_off > avail || img->jit_size > avail - img->jit_off)
		return -EINVAL;
	struct bpftime_jit_maps table = { map_ids, maps, nmaps };
	struct bpftime_jit_env env = { bpftime_helper_table, bpftime_helper_table_len, bpftime_jit_resolve_maps, &table };
	return bpftime_jit_load_blob((const char *)img + img->jit_off, img->jit_size, &env, out);
}
