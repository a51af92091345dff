/* Internals shared by the map type implementations (one file per type, each exporting an ops
 * table) and the dispatch in map.c. Not part of the public API. */
#ifndef BPFTIME_MAP_INTERNAL_H
#define BPFTIME_MAP_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include <linux/bpf.h>
#include "bpftime/map.h"

#define BPFTIME_MAP_REGION_MAGIC 0x50414d42u /* "BMAP" */
/* Bump whenever any type's region layout changes: processes built from different trees must
 * refuse each other's regions instead of misreading them. */
#define BPFTIME_MAP_LAYOUT_VERSION 4u

#define MAP_PAGE_SIZE 4096u
#define MAP_CACHELINE 64u

/* The kernel's BPF_F_ACCESS_MASK (include/linux/bpf.h, not uapi), built from uapi flags. */
#define MAP_F_ACCESS_MASK (BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG)

static inline uint64_t map_round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

/* Copies a key or value. Most are 4 or 8 bytes, and those then cost a move, not a call into
 * libc's memcpy (a tool's map command is a few hundred instructions in all). */
static inline void map_copy(void *dst, const void *src, uint32_t n)
{
	if (n == 8)
		__builtin_memcpy(dst, src, 8);
	else if (n == 4)
		__builtin_memcpy(dst, src, 4);
	else
		__builtin_memcpy(dst, src, n);
}

/* First bytes of every map region, whatever the type. Type-specific state starts at
 * MAP_REGION_HDR_SIZE. Everything is offsets or plain values: the region is mapped at a
 * different address in every process. */
struct bpftime_map_region_hdr {
	uint32_t magic;        /* BPFTIME_MAP_REGION_MAGIC */
	uint32_t layout;       /* BPFTIME_MAP_LAYOUT_VERSION */
	uint32_t map_type;
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t map_flags;
	uint32_t frozen;       /* BPF_MAP_FREEZE, set once with an atomic CAS */
	uint64_t map_extra;
	uint64_t region_size;  /* bytes the creator initialised */
	uint32_t spin_lock_pos; /* bpftime_map_spec.spin_lock_pos */
};
#define MAP_REGION_HDR_SIZE MAP_CACHELINE
_Static_assert(sizeof(struct bpftime_map_region_hdr) <= MAP_REGION_HDR_SIZE, "map region header");

struct bpftime_map_ops;

/* The process-local handle. Type implementations embed it as the first member of their own
 * handle struct (ops->handle_size bytes are calloc'ed) and cache there whatever the fast paths
 * need (pointers computed in this process, sizes derived from the spec, never trusted from
 * shared memory). */
struct bpftime_map {
	const struct bpftime_map_ops *ops;
	struct bpftime_map_region_hdr *hdr;
	void *region;
	uint64_t size;
	uint32_t id;
	struct bpftime_map_spec spec;
};

struct bpftime_map_ops {
	uint32_t map_type;
	size_t handle_size;
	/* The kernel's map_alloc_check + the size checks of map_alloc: 0 or -errno. */
	int (*alloc_check)(const struct bpftime_map_spec *spec);
	/* Region bytes, spec already checked. */
	uint64_t (*region_size)(const struct bpftime_map_spec *spec);
	/* Type-specific init after the common header was written; memory zeroed. */
	int (*region_init)(struct bpftime_map *m);
	/* Fill the handle's cached fields; validate type state. 0 or -EINVAL. */
	int (*open)(struct bpftime_map *m);
	void *(*lookup)(struct bpftime_map *m, const void *key);
	/* A program's lookup that is no use of the element (bpf_for_each_map_elem's walk): LRU maps
	 * leave its reference bit alone. NULL: lookup. */
	void *(*lookup_noref)(struct bpftime_map *m, const void *key);
	long (*update)(struct bpftime_map *m, const void *key, const void *value, uint64_t flags);
	long (*delete)(struct bpftime_map *m, const void *key);
	/* Syscall side: flags already checked by map.c. */
	long (*sys_lookup)(struct bpftime_map *m, const void *key, void *value_out);
	long (*get_next_key)(struct bpftime_map *m, const void *key, void *next_key);
	/* NULL: -ENOTSUPP as the kernel answers. */
	long (*lookup_and_delete)(struct bpftime_map *m, const void *key, void *value_out);
	/* NULL: not mmapable. */
	int64_t (*mmap_offset)(const struct bpftime_map *m);
	uint64_t (*mmap_len)(const struct bpftime_map *m);
	/* NULL: -EOPNOTSUPP. */
	int (*direct_value_addr)(struct bpftime_map *m, uint32_t off, void **out);
	/* NULL: value_size. */
	uint32_t (*sys_value_size)(const struct bpftime_map *m);
	/* Syscall-side update when it differs from the program's (per-CPU maps: every CPU's value
	 * from round_up(value_size, 8)-byte slots). NULL: update. */
	long (*sys_update)(struct bpftime_map *m, const void *key, const void *value, uint64_t flags);
	/* Syscall-side delete when programs may not delete (maps of maps: the server's delete,
	 * which drops the stored map's reference). NULL: delete. */
	long (*sys_delete)(struct bpftime_map *m, const void *key);
	/* bpf_map_lookup_percpu_elem: CPU `cpu`'s value (a kernel CPU id). NULL: not per-CPU. */
	void *(*lookup_percpu)(struct bpftime_map *m, const void *key, uint32_t cpu);
	/* Keyless maps (queue, stack, bloom filter): the kernel's map_push_elem/pop/peek, used by
	 * the helpers and, for these types, by the syscall's update/lookup (map.c). NULL: the map
	 * has none (the helpers answer -EINVAL). */
	long (*push)(struct bpftime_map *m, const void *value, uint64_t flags);
	long (*pop)(struct bpftime_map *m, void *value);
	long (*peek)(struct bpftime_map *m, void *value);
};

/* map_spin_lock.c: values holding a struct bpf_spin_lock (spec.spin_lock_pos != 0). */
/* map_array.c: what every u32-indexed map shares (get_next_key in array order), and the id-slot
 * arrays' syscall-side lookup and update (prog arrays, arrays of maps). */
long map_index_next_key(uint32_t max_entries, const void *key, void *next_key);
long map_id_slot_sys_lookup(const uint32_t *slots, uint32_t max_entries, const void *key, void *value_out);
long map_id_slot_sys_update(uint32_t *slots, uint32_t max_entries, const void *key, const void *value, uint64_t flags);
int map_spin_lock_check(const struct bpftime_map_spec *spec);
long map_locked_sys_lookup(struct bpftime_map *m, const void *key, void *out, uint64_t flags);
long map_locked_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags);

/* One per type file. Add a new type by adding its file and its line in map.c's table. */
extern const struct bpftime_map_ops bpftime_hash_map_ops;
extern const struct bpftime_map_ops bpftime_array_map_ops;
extern const struct bpftime_map_ops bpftime_percpu_array_map_ops;
extern const struct bpftime_map_ops bpftime_percpu_hash_map_ops;
extern const struct bpftime_map_ops bpftime_lru_hash_map_ops;
extern const struct bpftime_map_ops bpftime_lru_percpu_hash_map_ops;
extern const struct bpftime_map_ops bpftime_queue_map_ops;
extern const struct bpftime_map_ops bpftime_stack_map_ops;
extern const struct bpftime_map_ops bpftime_bloom_filter_map_ops;
extern const struct bpftime_map_ops bpftime_lpm_trie_map_ops;
extern const struct bpftime_map_ops bpftime_perf_event_array_map_ops;
extern const struct bpftime_map_ops bpftime_ringbuf_map_ops;
extern const struct bpftime_map_ops bpftime_user_ringbuf_map_ops;
extern const struct bpftime_map_ops bpftime_stack_trace_map_ops;
extern const struct bpftime_map_ops bpftime_cgroup_array_map_ops;
extern const struct bpftime_map_ops bpftime_prog_array_map_ops;
extern const struct bpftime_map_ops bpftime_array_of_maps_map_ops;
extern const struct bpftime_map_ops bpftime_hash_of_maps_map_ops;

/* Fault injection for crash-consistency tests: when set, writers call it after each step of a
 * multi-step update ("insert", "replace", "delete" with step 1..n) while holding the lock; a
 * test hook kills the process there. Compiled in only with BPFTIME_FAULT_INJECTION (test/native/
 * run.sh builds the core so): elsewhere a step is nothing, where a load and a branch per step
 * were a twentieth of a tool's hash update. */
#ifdef BPFTIME_FAULT_INJECTION
extern void (*bpftime_map_fault_hook)(const char *op, int step);
static inline void map_fault_point(const char *op, int step)
{
	void (*hook)(const char *, int) = bpftime_map_fault_hook;
	if (__builtin_expect(hook != NULL, 0))
		hook(op, step);
}
#else
static inline void map_fault_point(const char *op, int step)
{
	(void)op;
	(void)step;
}
#endif

/* Hash map internals for diagnostics and tests. */
struct bpftime_hash_debug {
	uint32_t n_buckets, n_elems;
	uint32_t free_count;  /* elements on the free list */
	uint32_t next_unused; /* elements [next_unused, max_entries) never used */
	uint32_t spare;
	uint32_t intent_op;   /* non-zero only while a writer is inside an update */
	uint32_t recoveries;  /* times a writer repaired after a holder died */
	uint32_t linked;      /* elements reachable from the buckets */
};
/* Walks the map under its lock. 0, -EINVAL (not a hash map) or the lock's error. */
int bpftime_hash_debug_state(struct bpftime_map *m, struct bpftime_hash_debug *out);

/* Checks shared by every map type (syscall.c's map_create before the type's alloc_check). */
int bpftime_map_common_check(const struct bpftime_map_spec *spec);

#endif
