/* The agent's path for JIT code, natively: a blob written by src-ts/jit/image.ts (argv[1]) is
 * loaded with bpftime_jit_load_blob against real shared-memory maps through
 * bpftime_jit_resolve_maps and the real helper table, then run.
 *
 * The program (built by test/jit/native.test.ts) looks up key 0 of array map 5 with
 * bpf_map_lookup_elem, increments the u64 at value[0], stores 77 at value[8] through a direct
 * value reference (map 5, offset 8), and returns the incremented counter. Also checked: the
 * code is mapped execute-only and nothing in the process is writable and executable at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>

#include "bpftime/helpers.h"
#include "bpftime/jit.h"
#include "bpftime/map.h"
#include "bpftime/objfile.h"

static int passed, failed;
#define CHECK(cond, ...)                                        \
	do {                                                    \
		if (cond) {                                     \
			passed++;                               \
		} else {                                        \
			failed++;                               \
			printf("FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__);                    \
			printf("\n");                           \
		}                                               \
	} while (0)

/* Returns 1 when the mapping containing addr has permissions perms (e.g. "--xp"); sets *wx
 * when any mapping in the process is both writable and executable. */
static int mapping_perms(const void *addr, const char *perms, int *wx)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;

	*wx = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char p[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, p) != 3)
			continue;
		if (p[1] == 'w' && p[2] == 'x')
			*wx = 1;
		if ((unsigned long)addr >= lo && (unsigned long)addr < hi)
			found = strcmp(p, perms) == 0;
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s BLOB\n", argv[0]);
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	static unsigned char blob[1 << 16];
	size_t blob_size = f ? fread(blob, 1, sizeof(blob), f) : 0;
	if (f)
		fclose(f);
	CHECK(blob_size > sizeof(struct bpftime_jit_blob), "read blob %s", argv[1]);

	struct bpftime_map_spec spec = { .map_type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 16, .max_entries = 1 };
	int64_t size = bpftime_map_region_size(&spec);
	void *region = calloc(1, (size_t)size);
	struct bpftime_map *map = NULL;
	CHECK(region && bpftime_map_region_init(region, (uint64_t)size, &spec) == 0, "region init");
	CHECK(bpftime_map_open(&map, region, (uint64_t)size, 5) == 0, "map open");

	uint32_t ids[] = { 5 };
	struct bpftime_map *maps[] = { map };
	struct bpftime_jit_maps table = { ids, maps, 1 };
	struct bpftime_jit_env env = { bpftime_helper_table, bpftime_helper_table_len, bpftime_jit_resolve_maps, &table };
	struct bpftime_jit_prog *prog = NULL;
	int err = bpftime_jit_load_blob(blob, blob_size, &env, &prog);
	CHECK(err == 0, "load: %d", err);
	if (err)
		goto out;

	bpftime_jit_fn fn = bpftime_jit_entry(prog);
	int wx;
	CHECK(mapping_perms((const void *)fn, "--xp", &wx), "code is not mapped execute-only");
	CHECK(!wx, "a writable and executable mapping exists");
	CHECK(fn(0, 0) == 1, "first run");
	CHECK(fn(0, 0) == 2, "second run");
	uint64_t value[2] = { 0, 0 };
	void *v = NULL;
	CHECK(bpftime_map_direct_value_addr(map, 0, &v) == 0 && v, "value address");
	if (v)
		memcpy(value, v, sizeof(value));
	CHECK(value[0] == 2 && value[1] == 77, "value = {%llu, %llu}", (unsigned long long)value[0],
	      (unsigned long long)value[1]);
	bpftime_jit_free(prog);

	/* The agent's entry point: the blob inside a program image. */
	static unsigned char image[sizeof(struct bpftime_prog_image) + sizeof(blob)] __attribute__((aligned(16)));
	struct bpftime_prog_image *img = (struct bpftime_prog_image *)image;
	img->magic = BPFTIME_PROG_IMAGE_MAGIC;
	img->jit_off = 64;
	img->jit_size = (uint32_t)blob_size;
	memcpy(image + 64, blob, blob_size);
	prog = NULL;
	err = bpftime_jit_load_image(img, 64 + blob_size, ids, maps, 1, &prog);
	CHECK(err == 0 && prog, "load_image: %d", err);
	if (prog) {
		CHECK(bpftime_jit_entry(prog)(0, 0) == 3, "third run through the image");
		bpftime_jit_free(prog);
	}
	CHECK(bpftime_jit_load_image(img, 64 + blob_size - 1, ids, maps, 1, &prog) == -EINVAL, "image too short");
	setenv("BPFTIME_JIT", "0", 1);
	CHECK(bpftime_jit_load_image(img, 64 + blob_size, ids, maps, 1, &prog) == 0 && !prog, "BPFTIME_JIT=0");
	unsetenv("BPFTIME_JIT");
	img->jit_size = 0;
	CHECK(bpftime_jit_load_image(img, 64 + blob_size, ids, maps, 1, &prog) == 0 && !prog, "no JIT code");

	/* A map the table does not name fails the load; so does a truncated blob. */
	table.ids = (const uint32_t[]){ 6 };
	CHECK(bpftime_jit_load_blob(blob, blob_size, &env, &prog) == -ENOENT, "unknown map must fail with ENOENT");
	table.ids = ids;
	CHECK(bpftime_jit_load_blob(blob, sizeof(struct bpftime_jit_blob) + 4, &env, &prog) == -EINVAL, "truncated blob");
out:
	if (map)
		bpftime_map_close(map);
	free(region);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
