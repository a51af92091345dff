/* Programs and maps received from the server, made runnable in this process.
 * The program image (objfile.h) is shared by every process; what differs per process are the
 * addresses the ld_imm64 relocations must hold: the local handle of each map, or the local
 * address of a map value. Maps are opened once per process and shared by all its programs. */
#include "agent.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpftime/helpers.h"
#include "bpftime/map.h"
#include "bpftime/objfile.h"

struct agent_map {
	uint32_t id;
	struct bpftime_map *map;
	void *base;
	size_t size;
	struct agent_map *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct agent_prog *g_progs;
static struct agent_map *g_maps;

/* Maps stay open for the life of the process: a program being torn down on another thread may
 * still be inside a helper that touches one. */
static struct bpftime_map *map_get(uint32_t id, int fd, char *err, size_t errlen)
{
	for (struct agent_map *m = g_maps; m; m = m->next)
		if (m->id == id)
			return m->map;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size <= BPFTIME_OBJ_HDR_SIZE) {
		snprintf(err, errlen, "map %u: no usable memfd", id);
		return NULL;
	}
	void *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "map %u: mmap failed: %s", id, strerror(errno));
		return NULL;
	}
	struct agent_map *am = calloc(1, sizeof(*am));
	if (!am || bpftime_map_open(&am->map, (char *)p + BPFTIME_OBJ_HDR_SIZE, st.st_size - BPFTIME_OBJ_HDR_SIZE, id) < 0) {
		snprintf(err, errlen, "map %u: not a valid map region", id);
		munmap(p, st.st_size);
		free(am);
		return NULL;
	}
	am->id = id;
	am->base = p;
	am->size = st.st_size;
	am->next = g_maps;
	g_maps = am;
	return am->map;
}

static struct agent_prog *prog_load(uint32_t id, int fd, const uint32_t *map_ids, const int *map_fds, uint32_t nmaps,
				    char *err, size_t errlen)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size < BPFTIME_OBJ_HDR_SIZE + sizeof(struct bpftime_prog_image)) {
		snprintf(err, errlen, "prog %u: no usable memfd", id);
		return NULL;
	}
	void *p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "prog %u: mmap failed: %s", id, strerror(errno));
		return NULL;
	}
	const struct bpftime_prog_image *img = (const void *)((char *)p + BPFTIME_OBJ_HDR_SIZE);
	size_t avail = st.st_size - BPFTIME_OBJ_HDR_SIZE;
	struct agent_prog *ap = NULL;
	if (img->magic != BPFTIME_PROG_IMAGE_MAGIC || img->insn_off + (uint64_t)img->insn_cnt * 8 > avail ||
	    img->reloc_off + (uint64_t)img->reloc_cnt * sizeof(struct bpftime_reloc) > avail) {
		snprintf(err, errlen, "prog %u: malformed program image", id);
		goto out;
	}
	ap = calloc(1, sizeof(*ap));
	struct bpf_insn *insns = malloc((size_t)img->insn_cnt * 8);
	struct bpftime_map **maps = calloc(nmaps ? nmaps : 1, sizeof(*maps));
	if (!ap || !insns || !maps) {
		free(ap);
		free(insns);
		free(maps);
		ap = NULL;
		snprintf(err, errlen, "prog %u: out of memory", id);
		goto out;
	}
	memcpy(insns, (const char *)img + img->insn_off, (size_t)img->insn_cnt * 8);
	for (uint32_t i = 0; i < nmaps; i++) {
		maps[i] = map_get(map_ids[i], map_fds[i], err, errlen);
		if (!maps[i])
			goto fail;
	}
	const struct bpftime_reloc *rel = (const void *)((const char *)img + img->reloc_off);
	for (uint32_t r = 0; r < img->reloc_cnt; r++) {
		struct bpftime_map *m = NULL;
		for (uint32_t i = 0; i < nmaps; i++)
			if (map_ids[i] == rel[r].map_id)
				m = maps[i];
		if (!m || rel[r].insn_idx + 1 >= img->insn_cnt) {
			snprintf(err, errlen, "prog %u: relocation %u names map %u, which was not sent", id, r, rel[r].map_id);
			goto fail;
		}
		uint64_t v = (uint64_t)(uintptr_t)m;
		if (rel[r].kind == BPFTIME_RELOC_MAP_VALUE) {
			void *addr;
			if (bpftime_map_direct_value_addr(m, rel[r].off, &addr) < 0) {
				snprintf(err, errlen, "prog %u: map %u has no direct value access", id, rel[r].map_id);
				goto fail;
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
	if (bpftime_jit_load_image(img, avail, map_ids, maps, nmaps, &ap->jit) < 0)
		ap->jit = NULL;
	ap->id = id;
	ap->insns = insns;
	ap->maps = maps;
	ap->nmaps = nmaps;
	ap->vm.insns = insns;
	ap->vm.insn_cnt = img->insn_cnt;
	ap->vm.helpers = bpftime_helper_table;
	ap->vm.nhelpers = bpftime_helper_table_len;
	goto out;
fail:
	free(insns);
	free(maps);
	free(ap);
	ap = NULL;
out:
	munmap(p, st.st_size);
	return ap;
}

struct agent_prog *agent_prog_get(uint32_t prog_id, int prog_fd, const uint32_t *map_ids, const int *map_fds,
				  uint32_t nmaps, char *err, size_t errlen)
{
	pthread_mutex_lock(&g_lock);
	struct agent_prog *p;
	for (p = g_progs; p; p = p->next)
		if (p->id == prog_id)
			break;
	if (!p) {
		p = prog_load(prog_id, prog_fd, map_ids, map_fds, nmaps, err, errlen);
		if (p) {
			p->next = g_progs;
			g_progs = p;
		}
	}
	if (p)
		p->refs++;
	pthread_mutex_unlock(&g_lock);
	return p;
}

void agent_prog_put(struct agent_prog *p)
{
	/* Programs are kept after their last attachment goes: a thread may still be running it, and
	 * ids are never reused while the server lives, so the cache stays correct. */
	pthread_mutex_lock(&g_lock);
	p->refs--;
	pthread_mutex_unlock(&g_lock);
}
