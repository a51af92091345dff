/* The program loader agents and the server's test runs share (bpftime/prog_image.h): image
 * checks, map relocations (a pointer and a direct value address), callback pointers turned into
 * instruction indexes, and run-time statistics counted only while enabled. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>

#include "bpftime/map.h"
#include "bpftime/objfile.h"
#include "bpftime/prog_image.h"
#include "check.h"

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

/* An image as the server writes it: header, instructions, relocations, map ids. */
static void *image(const struct bpf_insn *insns, uint32_t n, const struct bpftime_reloc *rel, uint32_t nrel, size_t *size)
{
	size_t hdr = sizeof(struct bpftime_prog_image);
	size_t off_insns = (hdr + 7) & ~(size_t)7;
	*size = off_insns + n * 8 + nrel * sizeof(*rel);
	struct bpftime_prog_image *img = calloc(1, *size);
	img->magic = BPFTIME_PROG_IMAGE_MAGIC;
	img->prog_type = BPF_PROG_TYPE_XDP;
	img->insn_cnt = n;
	img->insn_off = (uint32_t)off_insns;
	img->reloc_cnt = nrel;
	img->reloc_off = (uint32_t)(off_insns + n * 8);
	memcpy((char *)img + off_insns, insns, n * 8);
	memcpy((char *)img + img->reloc_off, rel, nrel * sizeof(*rel));
	return img;
}

int main(void)
{
	char err[200];
	struct bpftime_loaded_prog p;

	/* r0 = 42; exit */
	struct bpf_insn ret42[] = { INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 42), INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0) };
	size_t size;
	struct bpftime_prog_image *img = image(ret42, 2, NULL, 0, &size);
	EQ(bpftime_prog_image_load(img, size, NULL, NULL, 0, &p, err, sizeof(err)), 0);
	CHECK(p.jit == NULL); /* no JIT code in the image: the interpreter runs it */
	EQ(bpftime_loaded_prog_run(&p, 0), 42);

	/* Statistics: nothing counted while off; runs and time while on. */
	struct bpftime_prog_stats st = { 0 };
	p.stats = &st;
	for (int i = 0; i < 10; i++)
		bpftime_loaded_prog_run(&p, 0);
	EQ(st.run_cnt, 0);
	EQ(st.run_time_ns, 0);
	st.enabled = 1;
	for (int i = 0; i < 10; i++)
		EQ(bpftime_loaded_prog_run(&p, 0), 42);
	EQ(st.run_cnt, 10);
	CHECK(st.run_time_ns > 0);
	st.enabled = 0;
	bpftime_loaded_prog_run(&p, 0);
	EQ(st.run_cnt, 10);
	p.stats = NULL; /* not mapped from a memfd: not ours to unmap */
	bpftime_loaded_prog_free(&p);

	/* Malformed images. */
	img->magic = 0;
	EQ(bpftime_prog_image_load(img, size, NULL, NULL, 0, &p, err, sizeof(err)), -EINVAL);
	img->magic = BPFTIME_PROG_IMAGE_MAGIC;
	EQ(bpftime_prog_image_load(img, size - 1, NULL, NULL, 0, &p, err, sizeof(err)), -EINVAL);
	free(img);

	/* Map relocations: r0 = map pointer (as the helper calls see it), and a value address. */
	struct bpftime_map_spec spec = { .map_type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 1 };
	int64_t rsize = bpftime_map_region_size(&spec);
	CHECK(rsize > 0);
	void *region = calloc(1, (size_t)rsize);
	EQ(bpftime_map_region_init(region, (uint64_t)rsize, &spec), 0);
	struct bpftime_map *m = NULL;
	EQ(bpftime_map_open(&m, region, (uint64_t)rsize, 7), 0);
	struct bpf_insn ld[] = {
		INSN(BPF_LD | BPF_IMM | BPF_DW, 0, BPF_PSEUDO_MAP_FD, 0, 7), INSN(0, 0, 0, 0, 0),
		INSN(BPF_LD | BPF_IMM | BPF_DW, 1, BPF_PSEUDO_MAP_VALUE, 0, 7), INSN(0, 0, 0, 0, 4),
		INSN(BPF_STX | BPF_MEM | BPF_W, 1, 0, 0, 0), /* *(u32 *)(value + 4) = (u32)map */
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	struct bpftime_reloc rel[] = { { 0, BPFTIME_RELOC_MAP_PTR, 7, 0 }, { 2, BPFTIME_RELOC_MAP_VALUE, 7, 4 } };
	img = image(ld, 6, rel, 2, &size);
	uint32_t ids[] = { 7 };
	struct bpftime_map *maps[] = { m };
	EQ(bpftime_prog_image_load(img, size, ids, maps, 1, &p, err, sizeof(err)), 0);
	EQ(bpftime_loaded_prog_run(&p, 0), (uint64_t)(uintptr_t)m);
	void *value;
	EQ(bpftime_map_direct_value_addr(m, 4, &value), 0);
	EQ(*(uint32_t *)value, (uint32_t)(uintptr_t)m);
	bpftime_loaded_prog_free(&p);
	/* A relocation naming a map that was not given. */
	uint32_t other[] = { 8 };
	EQ(bpftime_prog_image_load(img, size, other, maps, 1, &p, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "map 7") != NULL);
	free(img);

	/* Callback pointers: ld_imm64 (PSEUDO_FUNC, imm = callee - next insn) gets the callee's absolute
	 * instruction index. */
	struct bpf_insn cb[] = {
		INSN(BPF_LD | BPF_IMM | BPF_DW, 0, BPF_PSEUDO_FUNC, 0, 2), INSN(0, 0, 0, 0, 0),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0), INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	img = image(cb, 5, NULL, 0, &size);
	EQ(bpftime_prog_image_load(img, size, NULL, NULL, 0, &p, err, sizeof(err)), 0);
	EQ(p.insns[0].imm, 3);
	EQ(p.insns[1].imm, 0);
	EQ(bpftime_loaded_prog_run(&p, 0), 3);
	bpftime_loaded_prog_free(&p);
	free(img);
	bpftime_map_close(m);
	free(region);

	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
