/* The maps this process has open, by global map id: what a map-in-map slot (which holds an inner
 * map's id, map_of_maps.c) turns into when a program looks it up. Readers run inside probes and
 * never lock: an open-addressed table whose slots, once given an id, keep one (a closed map's
 * slot keeps its id with no map, and may later be taken by another id, so probe chains never
 * break). Writers (map opens and closes) are serialised by a mutex. */
#include <pthread.h>

#include "map_ids.h"

#define MAP_ID_SLOTS 8192u /* power of two; well above the maps one server hands out */

static struct {
	uint32_t id; /* 0: never used */
	struct bpftime_map *map; /* NULL: no open map with this id */
} g_ids[MAP_ID_SLOTS];
static pthread_mutex_t g_ids_lock = PTHREAD_MUTEX_INITIALIZER;

static inline uint32_t first_slot(uint32_t id) { return (id * 2654435761u) & (MAP_ID_SLOTS - 1); }

struct bpftime_map *bpftime_map_by_id(uint32_t id)
{
	if (!id)
		return NULL;
	for (uint32_t n = 0, i = first_slot(id); n < MAP_ID_SLOTS; n++, i = (i + 1) & (MAP_ID_SLOTS - 1)) {
		uint32_t sid = __atomic_load_n(&g_ids[i].id, __ATOMIC_ACQUIRE);
		if (sid == id)
			return __atomic_load_n(&g_ids[i].map, __ATOMIC_ACQUIRE);
		if (!sid)
			return NULL;
	}
	return NULL;
}

/* The latest open of an id wins: an agent keeps maps of an earlier server open, and a new server
 * reuses their ids for other maps. */
void map_ids_add(struct bpftime_map *m, uint32_t id)
{
	if (!id)
		return;
	pthread_mutex_lock(&g_ids_lock);
	int64_t free_slot = -1;
	for (uint32_t n = 0, i = first_slot(id); n < MAP_ID_SLOTS; n++, i = (i + 1) & (MAP_ID_SLOTS - 1)) {
		uint32_t sid = g_ids[i].id;
		if (sid == id) {
			__atomic_store_n(&g_ids[i].map, m, __ATOMIC_RELEASE);
			goto out;
		}
		if (free_slot < 0 && (!sid || !g_ids[i].map))
			free_slot = i;
		if (!sid)
			break;
	}
	if (free_slot >= 0) { /* full table: lookups of this id find nothing (slot reads NULL) */
		__atomic_store_n(&g_ids[free_slot].map, NULL, __ATOMIC_RELEASE);
		__atomic_store_n(&g_ids[free_slot].id, id, __ATOMIC_RELEASE);
		__atomic_store_n(&g_ids[free_slot].map, m, __ATOMIC_RELEASE);
	}
out:
	pthread_mutex_unlock(&g_ids_lock);
}

void map_ids_remove(struct bpftime_map *m, uint32_t id, struct bpftime_map *other)
{
	if (!id)
		return;
	pthread_mutex_lock(&g_ids_lock);
	for (uint32_t n = 0, i = first_slot(id); n < MAP_ID_SLOTS; n++, i = (i + 1) & (MAP_ID_SLOTS - 1)) {
		if (g_ids[i].id == id) {
			if (g_ids[i].map == m)
				__atomic_store_n(&g_ids[i].map, other, __ATOMIC_RELEASE);
			break;
		}
		if (!g_ids[i].id)
			break;
	}
	pthread_mutex_unlock(&g_ids_lock);
}
