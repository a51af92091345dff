/* eBPF maps in shared memory: one implementation for the shim (the tool's bpf() map commands),
 * the agent (helpers called by programs) and the server (through the addon).
 *
 * The server creates each map as a memfd (objfile.h): page 0 is the object header, the map
 * *region* starts at BPFTIME_OBJ_HDR_SIZE. Every process maps the memfd MAP_SHARED at its own
 * address, so a region holds no pointers, only offsets and element indexes. A process may die at
 * any point (SIGKILL); the region stays usable for the others (see core/maps/map_lock.c).
 *
 * Sequence: the server calls bpftime_map_region_size() (which also does the kernel's
 * map_alloc_check, so its errors are the kernel's MAP_CREATE errors), sizes the memfd, and calls
 * bpftime_map_region_init() once on the zeroed memory. Every process then calls
 * bpftime_map_open() on its own mapping to get a process-local handle.
 *
 * Errors are negative errno values with the kernel's meaning for the same operation.
 */
#ifndef BPFTIME_MAP_H
#define BPFTIME_MAP_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel's internal ENOTSUPP (not in userspace errno.h): what BPF_MAP_LOOKUP_AND_DELETE_ELEM
 * returns for map types that do not support it (arrays). Userspace sees errno 524. */
#define BPFTIME_ENOTSUPP 524

/* The MAP_CREATE attributes a map region depends on (union bpf_attr's map_create fields). */
struct bpftime_map_spec {
	uint32_t map_type;    /* enum bpf_map_type */
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t map_flags;   /* BPF_F_* */
	uint64_t map_extra;
	/* 1 + the offset of the value's struct bpf_spin_lock (from the map's BTF), 0: none. */
	uint32_t spin_lock_pos;
};

/* Bytes the region needs, or a negative errno: the kernel's answer to MAP_CREATE with this spec
 * (-EINVAL for unknown map types, bad sizes or flags, -E2BIG for oversized maps, ...). */
int64_t bpftime_map_region_size(const struct bpftime_map_spec *spec);

/* Initialises a region of `size` bytes (at least bpftime_map_region_size()), memory zeroed.
 * 0 or -errno. Done once, by the creator, before anyone opens it. */
int bpftime_map_region_init(void *region, uint64_t size, const struct bpftime_map_spec *spec);

/* Process-local handle: this is what an ld_imm64 map reference resolves to in a program. */
struct bpftime_map;

/* Validates the region (magic, layout version, spec, size) and malloc's a handle. 0 or -errno
 * (-EINVAL: not a map region or does not fit in `size`; -ENOMEM). */
int bpftime_map_open(struct bpftime_map **out, void *region, uint64_t size, uint32_t map_id);
/* Frees the handle only; the region (and the caller's mapping of it) is untouched. */
void bpftime_map_close(struct bpftime_map *m);
/* Whether [p, p + n) lies in the region of a map this process has open (kernel memory to a
 * program): the region's end, or 0. */
uintptr_t bpftime_map_region_contains(const void *p, size_t n);
/* The handle this process has open for map `id` (the latest opened), or NULL. Lock-free: what a
 * program's lookup in a map-in-map (ARRAY_OF_MAPS, HASH_OF_MAPS) resolves the inner id with. */
struct bpftime_map *bpftime_map_by_id(uint32_t id);

uint32_t bpftime_map_id(const struct bpftime_map *m);
const struct bpftime_map_spec *bpftime_map_get_spec(const struct bpftime_map *m);
void *bpftime_map_region(const struct bpftime_map *m);

/* Size of the value buffer the syscall side reads/writes per element: value_size, or for per-CPU
 * maps (PERCPU_ARRAY, PERCPU_HASH, LRU_PERCPU_HASH) round_up(value_size, 8) * possible CPUs,
 * one slot per possible CPU in CPU order, as the kernel's bpf_map_value_size(). */
uint32_t bpftime_map_sys_value_size(const struct bpftime_map *m);

/* Number of possible CPUs (/sys/devices/system/cpu/possible): the slots of a per-CPU value. */
uint32_t bpftime_map_possible_cpus(void);

/* The max_entries the kernel would report for a map made from this spec (OBJ_GET_INFO, fdinfo):
 * LRU maps with BPF_F_NO_COMMON_LRU round it up to a multiple of the possible CPUs; every other
 * map keeps the spec's. */
uint32_t bpftime_map_effective_max_entries(const struct bpftime_map_spec *spec);

/* Offset within the region of the page-aligned value area that mmap(map_fd, offset 0) must show
 * (BPF_F_MMAPABLE arrays); -EINVAL if the map is not mmapable. The memfd offset is
 * BPFTIME_OBJ_HDR_SIZE + this. bpftime_map_mmap_len() is how many bytes may be mapped from
 * there (a page multiple), 0 when not mmapable. */
int64_t bpftime_map_mmap_offset(const struct bpftime_map *m);
uint64_t bpftime_map_mmap_len(const struct bpftime_map *m);

/* The kernel's map_direct_value_addr (ld_imm64 BPF_PSEUDO_MAP_VALUE / BPFTIME_RELOC_MAP_VALUE):
 * address of value[0] + off for single-entry arrays. 0, -EINVAL (off >= value_size) or
 * -EOPNOTSUPP (map type has no direct value access). */
int bpftime_map_direct_value_addr(struct bpftime_map *m, uint32_t off, void **out);

/* BPF_MAP_FREEZE: from then on syscall-side writes fail with -EPERM, in every process.
 * 0, or -EBUSY if already frozen. (Writable mmaps, which also make the kernel answer -EBUSY,
 * are the caller's business.) */
long bpftime_map_freeze(struct bpftime_map *m);
int bpftime_map_is_frozen(const struct bpftime_map *m);
/* The word bpftime_map_is_frozen reads (in the map's shared region, non-zero once frozen), for a
 * caller that checks it on every command without the call. */
const uint32_t *bpftime_map_frozen_word(const struct bpftime_map *m);

/* Program side (what helpers call). Lookup returns a pointer into shared memory, or NULL. The
 * pointer stays valid memory for the life of the mapping (the element may be reused for another
 * key after a delete/replace, as with the kernel's preallocated maps). Update/delete return 0 or
 * -errno exactly as the kernel's map ops (-EBUSY if the thread re-enters a map it is writing,
 * e.g. from a signal handler, as the kernel's per-CPU map_locked check does). */
void *bpftime_map_lookup_elem(struct bpftime_map *m, const void *key);
long bpftime_map_update_elem(struct bpftime_map *m, const void *key, const void *value,
			     uint64_t flags);
long bpftime_map_delete_elem(struct bpftime_map *m, const void *key);
/* A program's lookup that is no use of the element (bpf_for_each_map_elem): LRU maps keep their
 * eviction order, as the kernel's walk does not set the reference bit. */
void *bpftime_map_lookup_elem_noref(struct bpftime_map *m, const void *key);
/* Per-CPU maps: a program's lookup gives the slot of the CPU the thread runs on; this gives CPU
 * `cpu`'s (a kernel CPU id), as bpf_map_lookup_percpu_elem. NULL for other map types. */
void *bpftime_map_lookup_percpu_elem(struct bpftime_map *m, const void *key, uint32_t cpu);
/* Queue, stack and bloom filter maps (bpf_map_push_elem / pop / peek): value is value_size bytes.
 * Push: flags BPF_ANY, or BPF_EXIST to overwrite the oldest element of a full queue/stack (a
 * bloom filter takes BPF_ANY only). Pop/peek of an empty queue/stack zero the value and answer
 * -ENOENT; a bloom filter's peek answers 0 (maybe present) or -ENOENT (absent) and reads value.
 * Other map types: -EINVAL. */
long bpftime_map_push_elem(struct bpftime_map *m, const void *value, uint64_t flags);
long bpftime_map_pop_elem(struct bpftime_map *m, void *value);
long bpftime_map_peek_elem(struct bpftime_map *m, void *value);

/* Syscall side (the tool's bpf() commands, run natively in the shim): kernel return conventions.
 * value_out/value are bpftime_map_sys_value_size() bytes. Checks that depend on the fd (its
 * read/write mode, the fd being a map) are the caller's; checks that depend on the map (flags,
 * frozen) are here. */
long bpftime_map_sys_lookup(struct bpftime_map *m, const void *key, void *value_out, uint64_t flags);
long bpftime_map_sys_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags);
long bpftime_map_sys_delete(struct bpftime_map *m, const void *key);
long bpftime_map_sys_get_next_key(struct bpftime_map *m, const void *key /*NULL=first*/, void *next_key);
long bpftime_map_sys_lookup_and_delete(struct bpftime_map *m, const void *key, void *value_out,
				       uint64_t flags);
/* Keyless maps (key_size 0: queue, stack, bloom filter), as the kernel's syscall: update pushes,
 * lookup peeks, lookup_and_delete pops (queue/stack; flags must be 0), delete and get_next_key
 * fail (-EINVAL for queue/stack, -EOPNOTSUPP for the bloom filter). The key argument is ignored;
 * the caller refuses a non-NULL attr.key with -EINVAL first (__bpf_copy_key). For a BLOOM_FILTER
 * lookup, value_out is the INPUT: the caller copies the tool's value in and writes nothing back
 * (0: maybe present, -ENOENT: absent). */

#ifdef __cplusplus
}
#endif
#endif
