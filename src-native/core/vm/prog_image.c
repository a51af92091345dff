/* Program images made runnable in this process (see bpftime/prog_image.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bpftime/helpers.h"
#include "bpftime/map.h"
#include "bpftime/prog_image.h"

int bpftime_prog_image_load(const struct bpftime_prog_image *img, size_t avail, const uint32_t *map_ids,
			    struct bpftime_map *const *maps, uint32_t nmaps, struct bpftime_loaded_prog *out,
			    char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (avail < sizeof(*img) || img->magic != BPFTIME_PROG_IMAGE_MAGIC ||
	    img->insn_off + (uint64_t)img->insn_cnt * 8 > avail ||
	    img->reloc_off + (uint64_t)img->reloc_cnt * sizeof(struct bpftime_reloc) > avail) {
		snprintf(err, errlen, "malformed program image");
		return -EINVAL;
	}
	struct bpf_insn *insns = malloc((size_t)img->insn_cnt * 8 + 8);
	if (!insns) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(insns, (const char *)img + img->insn_off, (size_t)img->insn_cnt * 8);
	const struct bpftime_reloc *rel = (const void *)((const char *)img + img->reloc_off);
	for (uint32_t r = 0; r < img->reloc_cnt; r++) {
		struct bpftime_map *m = NULL;
		for (uint32_t i = 0; i < nmaps; i++)
			if (map_ids[i] == rel[r].map_id)
				m = maps[i];
		if (!m || rel[r].insn_idx + 1 >= img->insn_cnt) {
			snprintf(err, errlen, "relocation %u names map %u, which was not sent", r, rel[r].map_id);
			free(insns);
			return -ENOENT;
		}
		uint64_t v = (uint64_t)(uintptr_t)m;
		if (rel[r].kind == BPFTIME_RELOC_MAP_VALUE) {
			void *addr;
			if (bpftime_map_direct_value_addr(m, rel[r].off, &addr) < 0) {
				snprintf(err, errlen, "map %u has no direct value access", rel[r].map_id);
				free(insns);
				return -EINVAL;
			}
			v = (uint64_t)(uintptr_t)addr;
		}
		insns[rel[r].insn_idx].imm = (int32_t)(uint32_t)v;
		insns[rel[r].insn_idx + 1].imm = (int32_t)(uint32_t)(v >> 32);
	}
	/* Callback pointers (bpf_loop, for_each_map_elem): the interpreter takes the callee's absolute
	 * instruction index where the kernel's encoding has an offset from the next instruction. */
	for (uint32_t i = 0; i + 1 < img->insn_cnt; i++) {
		if (insns[i].code != (BPF_LD | BPF_IMM | BPF_DW))
			continue;
		if (insns[i].src_reg == BPF_PSEUDO_FUNC) {
			insns[i].imm = (int32_t)(i + 1 + insns[i].imm);
			insns[i + 1].imm = 0;
		}
		i++;
	}
	/* The code the server compiled, relocated for this process; without it, the interpreter. */
	if (bpftime_jit_load_image(img, avail, map_ids, maps, nmaps, &out->jit) < 0)
		out->jit = NULL;
	out->prog_type = img->prog_type;
	out->insns = insns;
	out->vm.insns = insns;
	out->vm.insn_cnt = img->insn_cnt;
	out->vm.helpers = bpftime_helper_table;
	out->vm.nhelpers = bpftime_helper_table_len;
	return 0;
}

void bpftime_loaded_prog_free(struct bpftime_loaded_prog *p)
{
	if (p->stats)
		munmap((char *)p->stats - BPFTIME_PROG_STATS_OFF, BPFTIME_OBJ_HDR_SIZE);
	if (p->jit)
		bpftime_jit_free(p->jit);
	free(p->insns);
	memset(p, 0, sizeof(*p));
}

struct bpftime_prog_stats *bpftime_prog_stats_map(int fd)
{
	void *page = mmap(NULL, BPFTIME_OBJ_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (page == MAP_FAILED)
		return NULL;
	return (struct bpftime_prog_stats *)((char *)page + BPFTIME_PROG_STATS_OFF);
}
