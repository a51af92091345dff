/* Perf buffers as agents see them: which ring sits in which slot of which PERF_EVENT_ARRAY map
 * (the server tells every agent, MSG_PERF_SLOT), and bpf_perf_event_output's host side, which
 * writes the sample into that ring and wakes the tool when it sleeps. */
#include "agent.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpftime/objfile.h"
#include "bpftime/perf_ring.h"

struct slot {
	uint32_t map_id, index, event_id;
	int memfd, waitfd;
	void *page;      /* mapped on first output: the tool sizes the ring when it maps it */
	size_t map_len;
	struct slot *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *g_slots;

void agent_perf_slot(const struct bpftime_perf_slot *m, const int *fds, int nfds)
{
	pthread_mutex_lock(&g_lock);
	for (struct slot **pp = &g_slots; *pp; pp = &(*pp)->next) {
		if ((*pp)->map_id == m->map_id && (*pp)->index == m->index) {
			struct slot *old = *pp;
			*pp = old->next;
			/* Its mapping stays: a thread may be writing a sample into it right now. */
			close(old->memfd);
			close(old->waitfd);
			free(old);
			break;
		}
	}
	if (m->present && nfds >= 2) {
		struct slot *s = calloc(1, sizeof(*s));
		if (s) {
			*s = (struct slot){ m->map_id, m->index, m->event_id, dup(fds[0]), dup(fds[1]), NULL, 0, g_slots };
			g_slots = s;
		}
	}
	pthread_mutex_unlock(&g_lock);
}

/* bpftime_helper_host.perf_output */
long agent_perf_output(uint32_t map_id, uint32_t index, const void *data, uint64_t size)
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
			if (p != MAP_FAILED) {
				s->page = p;
				s->map_len = len;
			}
		}
	}
	int wake = 0, waitfd = -1;
	if (s && s->page) {
		rc = bpftime_perf_ring_output(s->page, s->event_id, data, size, &wake);
		waitfd = s->waitfd;
	}
	pthread_mutex_unlock(&g_lock);
	if (wake && waitfd >= 0) {
		uint64_t one = 1;
		(void)!write(waitfd, &one, sizeof(one));
	}
	return rc;
}
