/* Per-process table of open maps by id (map_ids.c), filled by bpftime_map_open/close. */
#ifndef BPFTIME_MAP_IDS_H
#define BPFTIME_MAP_IDS_H
#include "map_internal.h"

void map_ids_add(struct bpftime_map *m, uint32_t id);
/* m closes; `other` (another open handle of the same id, or NULL) takes its place. */
void map_ids_remove(struct bpftime_map *m, uint32_t id, struct bpftime_map *other);

#endif
