/* BPF_MAP_TYPE_RINGBUF as a map type: the kernel's creation checks (ringbuf_map_alloc), the
 * region layout (bpftime/ringbuf.h), the second view of the data pages each process builds when
 * it opens the map, the syscall side (every element command fails with ENOTSUPP, as the kernel's
 * ringbuf_map_* ops), and the plan for mmap of the map fd with the kernel's checks.
 * The ring protocol itself (reserve, commit, wakeups) is in ringbuf_ring.c. */
#include <errno.h>
#include <sys/mman.h>

#include "bpftime/ringbuf.h"
#include "map_ringbuf.h"

int rb_alloc_check(const struct bpftime_map_spec *s)
{
	uint32_t n = s->max_entries;
	if (s->map_flags & ~(uint32_t)BPF_F_NUMA_NODE)
		return -EINVAL;
	if (s->key_size || s->value_size || n == 0 || (n & (n - 1)) || n % RB_PAGE)
		return -EINVAL;
	/* The kernel's E2BIG above RINGBUF_MAX_DATA_SZ (about 64 GiB: pg_off must fit 24 bits of
	 * pages) cannot happen with a 32-bit max_entries. */
	return 0;
}

/* Meta page, consumer page, producer page, data, room for the data's second view, owner table
 * (one struct rb_owner per 8-byte slot of data, the smallest record). */
uint64_t rb_region_size(const struct bpftime_map_spec *s)
{
	uint64_t size = s->max_entries;
	return RB_DATA_OFF + 2 * size + size / 8 * sizeof(struct rb_owner);
}

int rb_region_init(struct bpftime_map *m)
{
	struct rb_priv *p = rb_priv_of(m->region);
	p->data_size = m->spec.max_entries;
	return bpftime_shlock_init(&p->lock);
}

/* The second view: in this process's mapping, the pages after the data become another mapping
 * of the data pages (mremap with old_size 0 duplicates a shared mapping), so that a record
 * that wraps past the end is contiguous, as in the kernel's vmap and in the tool's mmap. */
static int rb_double_map(uint8_t *data, uint64_t size)
{
	void *want = data + size;
	void *got = mremap(data, 0, size, MREMAP_MAYMOVE | MREMAP_FIXED, want);
	return got == want ? 0 : -ENOMEM;
}

int rb_open(struct bpftime_map *m)
{
	struct rb_map *r = (struct rb_map *)m;
	uint8_t *region = m->region;
	uint64_t size = m->spec.max_entries;
	r->priv = rb_priv_of(region);
	if (r->priv->data_size != size)
		return -EINVAL;
	r->cons = (uint64_t *)(region + RB_CONS_OFF);
	r->prod = (uint64_t *)(region + RB_PROD_OFF);
	r->data = region + RB_DATA_OFF;
	r->owner = (struct rb_owner *)(region + RB_DATA_OFF + 2 * size);
	r->mask = size - 1;
	int rc = rb_double_map(r->data, size);
	if (rc)
		return rc;
	r->local = rb_local_get(region, r->data, r->mask, m->id);
	return r->local ? 0 : -ENOMEM;
}

void *rb_lookup(struct bpftime_map *m, const void *key) { return NULL; }

/* ringbuf_map_update_elem / delete_elem / get_next_key / lookup_elem: ENOTSUPP, all of them. */
long rb_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	return -BPFTIME_ENOTSUPP;
}

long rb_delete(struct bpftime_map *m, const void *key) { return -BPFTIME_ENOTSUPP; }

long rb_sys_lookup(struct bpftime_map *m, const void *key, void *value_out) { return -BPFTIME_ENOTSUPP; }

long rb_get_next_key(struct bpftime_map *m, const void *key, void *next_key) { return -BPFTIME_ENOTSUPP; }

/* mmap(map_fd, offset 0) starts at the consumer page. */
int64_t rb_mmap_offset(const struct bpftime_map *m) { return RB_CONS_OFF; }

/* Distinct bytes behind the view: consumer page, producer page, data (the view shows data twice). */
uint64_t rb_mmap_len(const struct bpftime_map *m) { return 2 * RB_PAGE + m->spec.max_entries; }

int bpftime_ringbuf_is(const struct bpftime_map *m)
{
	return m && m->ops == &bpftime_ringbuf_map_ops;
}

int bpftime_ringbuf_mmap_plan(const struct bpftime_map *m, uint64_t off, uint64_t len, int prot, int flags,
			      struct bpftime_ringbuf_piece out[2])
{
	int user = bpftime_user_ringbuf_is(m);
	if (!bpftime_ringbuf_is(m) && !user)
		return -EINVAL;
	const uint64_t size = m->spec.max_entries, view_end = 2 * RB_PAGE + 2 * size;
	const uint64_t first_end = 2 * RB_PAGE + size; /* where the second copy of data starts */
	if (off % RB_PAGE || len == 0)
		return -EINVAL; /* mmap(2) itself */
	len = map_round_up(len, RB_PAGE);
	int type = flags & 0x0f; /* MAP_TYPE */
	if (type != MAP_SHARED && type != MAP_SHARED_VALIDATE)
		return -EINVAL; /* bpf_map_mmap: VM_SHARED only */
	if (prot & PROT_WRITE) {
		if (bpftime_map_is_frozen(m))
			return -EPERM;
		/* ringbuf_map_mmap_kern: only the consumer page may be writable; ringbuf_map_mmap_user
		 * (user space produces): anything but the consumer page */
		if (user ? off == 0 : off != 0 || len != RB_PAGE)
			return -EPERM;
	}
	if (off >= view_end || len > view_end - off)
		return -EINVAL; /* remap_vmalloc_range: beyond the area */
	int n = 0;
	uint64_t end = off + len;
	if (off < first_end) {
		uint64_t stop = end < first_end ? end : first_end;
		out[n++] = (struct bpftime_ringbuf_piece){ 0, RB_CONS_OFF + off, stop - off };
	}
	if (end > first_end) {
		uint64_t v = off > first_end ? off : first_end;
		out[n++] = (struct bpftime_ringbuf_piece){ v - off, RB_DATA_OFF + (v - first_end), end - v };
	}
	return n;
}

const struct bpftime_map_ops bpftime_ringbuf_map_ops = {
	.map_type = BPF_MAP_TYPE_RINGBUF,
	.handle_size = sizeof(struct rb_map),
	.alloc_check = rb_alloc_check,
	.region_size = rb_region_size,
	.region_init = rb_region_init,
	.open = rb_open,
	.lookup = rb_lookup,
	.update = rb_update,
	.delete = rb_delete,
	.sys_lookup = rb_sys_lookup,
	.get_next_key = rb_get_next_key,
	.mmap_offset = rb_mmap_offset,
	.mmap_len = rb_mmap_len,
};
