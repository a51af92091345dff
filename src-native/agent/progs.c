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
#include "bpftime/prog_array.h"
#include "bpftime/prog_image.h"

/* Objects are known by id and by the memfd behind them: a server that replaced a dead one hands
 * out the same ids again, for other objects. */
struct agent_map {
	uint32_t id;
	dev_t dev;
	ino_t ino;
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
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size <= BPFTIME_OBJ_HDR_SIZE) {
		snprintf(err, errlen, "map %u: no usable memfd", id);
		return NULL;
	}
	for (struct agent_map *m = g_maps; m; m = m->next)
		if (m->id == id && m->ino == st.st_ino && m->dev == st.st_dev)
			return m->map;
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
	am->dev = st.st_dev;
	am->ino = st.st_ino;
	am->base = p;
	am->size = st.st_size;
	am->next = g_maps;
	g_maps = am;
	return am->map;
}

/* An agent_prog with the memfd it came from (see struct agent_map). */
struct loaded_prog {
	struct agent_prog p; /* first: freeing &p frees the whole */
	dev_t dev;
	ino_t ino;
};

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
	struct loaded_prog *lpe = calloc(1, sizeof(*lpe));
	struct agent_prog *ap = lpe ? &lpe->p : NULL;
	struct bpftime_map **maps = calloc(nmaps ? nmaps : 1, sizeof(*maps));
	if (!ap || !maps) {
		snprintf(err, errlen, "prog %u: out of memory", id);
		goto fail;
	}
	for (uint32_t i = 0; i < nmaps; i++) {
		maps[i] = map_get(map_ids[i], map_fds[i], err, errlen);
		if (!maps[i])
			goto fail;
	}
	struct bpftime_loaded_prog lp;
	char why[200];
	if (bpftime_prog_image_load(img, avail, map_ids, maps, nmaps, &lp, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "prog %u: %s", id, why);
		goto fail;
	}
	ap->id = id;
	lpe->dev = st.st_dev;
	lpe->ino = st.st_ino;
	ap->insns = lp.insns;
	ap->jit = lp.jit;
	ap->entry = lp.jit ? bpftime_jit_entry(lp.jit) : NULL;
	ap->vm = lp.vm;
	ap->maps = maps;
	ap->nmaps = nmaps;
	ap->stats = bpftime_prog_stats_map(fd);
	goto out;
fail:
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
	struct stat st;
	if (prog_fd < 0 || fstat(prog_fd, &st) < 0) {
		snprintf(err, errlen, "prog %u: no usable memfd", prog_id);
		return NULL;
	}
	pthread_mutex_lock(&g_lock);
	struct agent_prog *p;
	for (p = g_progs; p; p = p->next) {
		const struct loaded_prog *l = (const struct loaded_prog *)p;
		if (p->id == prog_id && l->ino == st.st_ino && l->dev == st.st_dev)
			break;
	}
	if (!p) {
		p = prog_load(prog_id, prog_fd, map_ids, map_fds, nmaps, err, errlen);
		if (p) {
			p->next = g_progs;
			g_progs = p;
			/* Every program made runnable here can be a bpf_tail_call target (the
			 * server pushes those that sit in prog arrays); g_lock serialises writers.
			 * A program of an earlier server with this id gives way. */
			struct bpftime_tail_target t = { &p->vm, p->jit ? bpftime_jit_entry(p->jit) : NULL };
			bpftime_tail_unpublish(prog_id);
			bpftime_tail_publish(prog_id, &t);
		}
	}
	if (p)
		p->refs++;
	pthread_mutex_unlock(&g_lock);
	return p;
}

int agent_maps_get(const uint32_t *map_ids, const int *map_fds, uint32_t n, char *err, size_t errlen)
{
	int rc = 0;
	pthread_mutex_lock(&g_lock);
	for (uint32_t i = 0; i < n && !rc; i++)
		if (!map_get(map_ids[i], map_fds[i], err, errlen))
			rc = -EINVAL;
	pthread_mutex_unlock(&g_lock);
	return rc;
}

void agent_prog_put(struct agent_prog *p)
{
	/* Programs are kept after their last attachment goes: a thread may still be running it; the
	 * cache is keyed by id and memfd, so it stays correct even across servers. */
	pthread_mutex_lock(&g_lock);
	p->refs--;
	pthread_mutex_unlock(&g_lock);
}
