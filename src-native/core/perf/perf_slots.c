/* The per-process table of perf buffers by PERF_EVENT_ARRAY slot (see bpftime/perf_slots.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpftime/objfile.h"
#include "bpftime/perf_ring.h"
#include "bpftime/perf_slots.h"

struct slot {
	uint32_t map_id, index, event_id;
	uint64_t sample_type; /* the event's attr.sample_type, from its memfd's header page */
	int memfd, waitfd;
	void *page; /* mapped on first output: the tool sizes the ring when it maps it */
	struct slot *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *g_slots;

void bpftime_perf_slot_set(uint32_t map_id, uint32_t index, uint32_t event_id, int memfd, int waitfd)
{
	pthread_mutex_lock(&g_lock);
	for (struct slot **pp = &g_slots; *pp; pp = &(*pp)->next) {
		if ((*pp)->map_id == map_id && (*pp)->index == index) {
			struct slot *old = *pp;
			*pp = old->next;
			/* Its mapping stays: a thread may be writing a sample into it right now. */
			close(old->memfd);
			if (old->waitfd >= 0)
				close(old->waitfd);
			free(old);
			break;
		}
	}
	if (memfd >= 0) {
		struct slot *s = calloc(1, sizeof(*s));
		if (s) {
			uint64_t st = PERF_SAMPLE_RAW;
			if (pread(memfd, &st, sizeof(st), BPFTIME_PERF_SAMPLE_TYPE_OFF) != (ssize_t)sizeof(st))
				st = PERF_SAMPLE_RAW;
			*s = (struct slot){ map_id, index, event_id, st, memfd, waitfd, NULL, g_slots };
			g_slots = s;
		} else {
			close(memfd);
			if (waitfd >= 0)
				close(waitfd);
		}
	}
	pthread_mutex_unlock(&g_lock);
}

long bpftime_perf_slot_output(uint32_t map_id, uint32_t index, const void *data, uint64_t size)
{
	pthread_mutex_lock(&g_lock);
	struct slot *s = g_slots;
	while (s && (s->map_id != map_id || s->index != index))
		s = s->next;
	long rc = -ENOENT;
	if (s && !s->page) {
		struct stat st;
		if (fstat(s->memfd, &st) == 0 && (size_t)st.st_size > 2 * BPFTIME_OBJ_HDR_SIZE) {
			size_t len = (size_t)st.st_size - BPFTIME_OBJ_HDR_SIZE;
			void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, BPFTIME_OBJ_HDR_SIZE);
			if (p != MAP_FAILED)
				s->page = p;
		}
	}
	int wake = 0, waitfd = -1;
	if (s && s->page) {
		rc = bpftime_perf_ring_output(s->page, s->event_id, s->sample_type, data, size, &wake);
		waitfd = s->waitfd;
	}
	pthread_mutex_unlock(&g_lock);
	if (wake && waitfd >= 0) {
		uint64_t one = 1;
		(void)!write(waitfd, &one, sizeof(one));
	}
	return rc;
}
