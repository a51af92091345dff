/* A map made the way the server makes one, for the map unit tests: a memfd sized for the spec,
 * mapped shared, its region initialised, and a handle opened on it (as an agent or the shim
 * opens a map it was sent). */
#ifndef BPFTIME_TEST_TMAP_H
#define BPFTIME_TEST_TMAP_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bpftime/map.h"

struct tmap {
	int fd;
	void *region;
	uint64_t size;
	struct bpftime_map *m;
};

/* 0, or the negative errno of the step that refused the spec. */
static inline int tmap_open_spec(struct tmap *t, const struct bpftime_map_spec *spec, uint32_t id)
{
	int64_t size = bpftime_map_region_size(spec);
	if (size < 0)
		return (int)size;
	t->fd = memfd_create("bpftime-test-map", MFD_CLOEXEC);
	if (t->fd < 0 || ftruncate(t->fd, size) < 0)
		return -errno;
	t->size = (uint64_t)size;
	t->region = mmap(NULL, t->size, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, 0);
	if (t->region == MAP_FAILED)
		return -errno;
	int rc = bpftime_map_region_init(t->region, t->size, spec);
	if (rc)
		return rc;
	return bpftime_map_open(&t->m, t->region, t->size, id);
}

static inline void tmap_destroy(struct tmap *t)
{
	bpftime_map_close(t->m);
	munmap(t->region, t->size);
	close(t->fd);
}
#endif
