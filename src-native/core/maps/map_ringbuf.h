/* BPF_MAP_TYPE_RINGBUF internals shared by the map type (map_ringbuf.c: checks, layout, open,
 * mmap plan) and the ring itself (ringbuf_ring.c: reserve/commit, waking, dead producers).
 * The layout is described in bpftime/ringbuf.h. */
#ifndef BPFTIME_MAP_RINGBUF_H
#define BPFTIME_MAP_RINGBUF_H
#include "map_internal.h"
#include "map_lock.h"

#define RB_PAGE MAP_PAGE_SIZE
#define RB_CONS_OFF (1 * RB_PAGE) /* region offset of the consumer page (view offset 0) */
#define RB_PROD_OFF (2 * RB_PAGE)
#define RB_DATA_OFF (3 * RB_PAGE)

/* Producers' private state, in the region's header page after struct bpftime_map_region_hdr:
 * never mapped by the tool, so it cannot be scribbled on. The writer lock and the consumer's
 * flag sit on separate cache lines: every commit reads `waiting`. */
struct rb_priv {
	struct bpftime_shlock lock __attribute__((aligned(MAP_CACHELINE)));
	uint64_t pending_pos; /* oldest record not committed when the last reserve looked */
	uint64_t data_size;   /* max_entries, checked by open */
	uint64_t reaped;      /* records discarded because their producer died */
	uint64_t last_reap_ns;
	uint32_t waiting __attribute__((aligned(MAP_CACHELINE))); /* the consumer sleeps */
	uint64_t drain_busy; /* USER_RINGBUF: the process inside bpf_user_ringbuf_drain (rb_owner) */
};
_Static_assert(MAP_REGION_HDR_SIZE + sizeof(struct rb_priv) <= RB_PAGE, "ring private state fits page 0");

/* A record's header (the kernel's struct bpf_ringbuf_hdr, BPF_RINGBUF_HDR_SZ bytes). */
struct rb_hdr {
	uint32_t len; /* payload size | BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT */
	uint32_t pg_off;
};
_Static_assert(sizeof(struct rb_hdr) == BPF_RINGBUF_HDR_SZ, "record header");

/* Who reserved the record that starts at an 8-byte slot: the process and its start time (low
 * 32 bits of /proc/<pid>/stat's starttime), so a recycled pid is not mistaken for the owner. */
struct rb_owner {
	uint32_t tgid;
	uint32_t start;
};

/* What a process needs to commit a record given only its address (bpf_ringbuf_submit has no
 * map argument): one per ring mapping in this process, found by address, never freed. */
struct rb_local {
	uint8_t *region;
	uint8_t *data;
	uint64_t mask;
	uint32_t map_id;
	int wake_fd;              /* -1 until the server's eventfd is set */
	uint64_t last_check_ns;   /* consumer side: last look for a dead producer */
	struct rb_local *next;
};

struct rb_map {
	struct bpftime_map base;
	struct rb_priv *priv;
	uint64_t *cons, *prod;
	uint8_t *data;
	struct rb_owner *owner;
	uint64_t mask;
	struct rb_local *local;
};

static inline struct rb_priv *rb_priv_of(uint8_t *region)
{
	return (struct rb_priv *)(region + MAP_REGION_HDR_SIZE);
}

/* map_ringbuf.c: the map type's operations, shared with BPF_MAP_TYPE_USER_RINGBUF
 * (map_user_ringbuf.c), which the kernel builds from the same ring and checks */
int rb_alloc_check(const struct bpftime_map_spec *s);
uint64_t rb_region_size(const struct bpftime_map_spec *s);
int rb_region_init(struct bpftime_map *m);
int rb_open(struct bpftime_map *m);
void *rb_lookup(struct bpftime_map *m, const void *key);
long rb_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags);
long rb_delete(struct bpftime_map *m, const void *key);
long rb_sys_lookup(struct bpftime_map *m, const void *key, void *value_out);
long rb_get_next_key(struct bpftime_map *m, const void *key, void *next_key);
int64_t rb_mmap_offset(const struct bpftime_map *m);
uint64_t rb_mmap_len(const struct bpftime_map *m);

/* ringbuf_ring.c */
/* This process as a record owner; whether an owner is gone (exited, a zombie, or its pid
 * reused). */
struct rb_owner rb_self_owner(void);
int rb_owner_dead(struct rb_owner o);
/* Writes the ring's eventfd if its waiter announced it sleeps (for the user ring buffer, the
 * waiter is the user-space producer and the drain wakes it). */
void rb_wake(struct rb_local *l);
struct rb_local *rb_local_get(uint8_t *region, uint8_t *data, uint64_t mask, uint32_t map_id);

#endif
