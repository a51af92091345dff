/* Tail calls across engines, natively: the program images written by test/jit/tailcall.test.ts
 * (argv[1]/p0.img .. p7.img: instructions, map relocations, JIT code where the JIT takes the
 * program) are loaded with the agents' loader (bpftime_prog_image_load) against a real prog
 * array, published as tail-call targets like the agent does, and the dispatcher p0 is run once
 * in the interpreter and once as JIT code for each index. One line per run:
 *   idx <i> <engine> r0=<r0> ctx=<c1>,<c2>,...  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>

#include "bpftime/jit.h"
#include "bpftime/map.h"
#include "bpftime/prog_array.h"
#include "bpftime/prog_image.h"

static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	void *p = malloc(*len + 16);
	if (p && fread(p, 1, *len, f) != *len) {
		free(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

int main(int argc, char **argv)
{
	struct bpftime_map_spec spec = { .map_type = BPF_MAP_TYPE_PROG_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 8 };
	int64_t size = bpftime_map_region_size(&spec);
	void *region = calloc(1, (size_t)size);
	struct bpftime_map *pa;
	if (argc < 2 || bpftime_map_region_init(region, (uint64_t)size, &spec) || bpftime_map_open(&pa, region, (uint64_t)size, 1)) {
		printf("setup failed\n");
		return 1;
	}
	uint32_t ids[1] = { 1 };
	struct bpftime_map *maps[1] = { pa };
	struct bpftime_loaded_prog lp[8];
	for (int k = 0; k < 8; k++) {
		char path[4096], err[256];
		size_t len;
		snprintf(path, sizeof(path), "%s/p%d.img", argv[1], k);
		void *img = slurp(path, &len);
		if (!img || bpftime_prog_image_load(img, len, ids, maps, 1, &lp[k], err, sizeof(err))) {
			printf("p%d: %s\n", k, img ? err : "unreadable");
			return 1;
		}
		printf("p%d: %s\n", k, lp[k].jit ? "jit" : "interpreter");
		if (k) {
			struct bpftime_tail_target t = { &lp[k].vm, lp[k].jit ? bpftime_jit_entry(lp[k].jit) : NULL };
			uint32_t key = (uint32_t)k, id = 100 + (uint32_t)k;
			if (bpftime_tail_publish(id, &t) || bpftime_map_sys_update(pa, &key, &id, BPF_ANY)) {
				printf("publish p%d failed\n", k);
				return 1;
			}
		}
	}
	if (!lp[0].jit) {
		printf("the dispatcher has no JIT code\n");
		return 1;
	}
	const uint64_t idxs[] = { 0, 1, 2, 3, 4, 5, 6, 7, 9 };
	for (size_t n = 0; n < sizeof(idxs) / sizeof(idxs[0]); n++) {
		for (int jit = 0; jit < 2; jit++) {
			uint64_t ctx[8] = { idxs[n] }, r0 = 0;
			if (jit) {
				r0 = bpftime_jit_entry(lp[0].jit)((uintptr_t)ctx, 0);
			} else if (bpftime_vm_exec(&lp[0].vm, (uintptr_t)ctx, 0, &r0)) {
				printf("idx %lu interpreter failed\n", (unsigned long)idxs[n]);
				return 1;
			}
			printf("idx %lu %s r0=%lu ctx=", (unsigned long)idxs[n], jit ? "jit" : "interpreter", (unsigned long)r0);
			for (int c = 1; c < 8; c++)
				printf("%lu%s", (unsigned long)ctx[c], c < 7 ? "," : "\n");
		}
	}
	return 0;
}
