/* Map commands from the tool, run natively on the map's shared memory: a tool's map lookup
 * never crosses the socket. Argument checking follows the kernel's map_lookup_elem() etc. in
 * kernel/bpf/syscall.c: tail of the attr must be zero (E2BIG beyond the union, EINVAL inside it),
 * EBADF for a non-fd, EINVAL for an fd that is not a map, EFAULT for unreadable pointers. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpftime/map.h"
#include "bpftime/objfile.h"

/* The last attr field each elem command reads; everything after it must be zero. */
#define ELEM_ATTR_END (offsetof(union bpf_attr, flags) + sizeof(((union bpf_attr *)0)->flags))

static int read_attr(union bpf_attr *attr, void *user, unsigned int size)
{
	if (size > 4096)
		return -E2BIG;
	memset(attr, 0, sizeof(*attr));
	size_t n = size < sizeof(*attr) ? size : sizeof(*attr);
	if (shim_read_user(attr, user, n) < 0)
		return -EFAULT;
	if (size > sizeof(*attr)) {
		uint8_t tail[4096];
		size_t tn = size - sizeof(*attr);
		if (shim_read_user(tail, (char *)user + sizeof(*attr), tn) < 0)
			return -EFAULT;
		for (size_t i = 0; i < tn; i++)
			if (tail[i])
				return -E2BIG;
	}
	const uint8_t *raw = (const uint8_t *)attr;
	for (size_t i = ELEM_ATTR_END; i < sizeof(*attr); i++)
		if (raw[i])
			return -EINVAL;
	return 0;
}

/* Reads a user buffer into a heap or stack copy; returns NULL and sets *err on failure. */
static void *copy_in(uint64_t uptr, size_t n, void *stackbuf, size_t stacksize, long *err)
{
	void *p = n <= stacksize ? stackbuf : malloc(n);
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	if (shim_read_user(p, (void *)(uintptr_t)uptr, n) < 0) {
		if (p != stackbuf)
			free(p);
		*err = -EFAULT;
		return NULL;
	}
	return p;
}

static void drop(void *p, void *stackbuf)
{
	if (p && p != stackbuf)
		free(p);
}

int shim_data_plane(int cmd, void *attr_user, unsigned int size, long *ret)
{
	if (cmd != BPF_MAP_LOOKUP_ELEM && cmd != BPF_MAP_UPDATE_ELEM && cmd != BPF_MAP_DELETE_ELEM &&
	    cmd != BPF_MAP_GET_NEXT_KEY && cmd != BPF_MAP_LOOKUP_AND_DELETE_ELEM)
		return 0;
	union bpf_attr attr;
	long rc = read_attr(&attr, attr_user, size);
	if (rc < 0) {
		*ret = rc;
		return 1;
	}
	/* Lookups check their flags before looking at the fd. */
	if ((cmd == BPF_MAP_LOOKUP_ELEM || cmd == BPF_MAP_LOOKUP_AND_DELETE_ELEM) && (attr.flags & ~(uint64_t)BPF_F_LOCK)) {
		*ret = -EINVAL;
		return 1;
	}
	struct shim_obj *o = fdtab_get((int)attr.map_fd);
	if (!o || o->kind != BPFTIME_OBJ_MAP) {
		/* EBADF for a closed fd; EINVAL for any other fd, as the kernel's __bpf_map_get(). */
		*ret = fcntl((int)attr.map_fd, F_GETFD) < 0 ? -EBADF : -EINVAL;
		return 1;
	}
	/* map_get_sys_perms(): the fd's own access mode (BPF_F_RDONLY/WRONLY fds), before anything
	 * else about the command. Reads need FMODE_CAN_READ, writes FMODE_CAN_WRITE, lookup-and-
	 * delete both. */
	int acc = fdtab_access((int)attr.map_fd);
	int needs_read = cmd == BPF_MAP_LOOKUP_ELEM || cmd == BPF_MAP_GET_NEXT_KEY || cmd == BPF_MAP_LOOKUP_AND_DELETE_ELEM;
	int needs_write = cmd == BPF_MAP_UPDATE_ELEM || cmd == BPF_MAP_DELETE_ELEM || cmd == BPF_MAP_LOOKUP_AND_DELETE_ELEM;
	if ((needs_read && acc == O_WRONLY) || (needs_write && acc == O_RDONLY)) {
		*ret = -EPERM;
		return 1;
	}
	struct bpftime_map *m = fdtab_map(o);
	if (!m)
		return 0; /* a map whose data path lives in the server */
	const struct bpftime_map_spec *spec = bpftime_map_get_spec(m);
	/* Values that are fds (perf events, programs, inner maps) must be resolved by the server. */
	if ((spec->map_type == BPF_MAP_TYPE_PERF_EVENT_ARRAY || spec->map_type == BPF_MAP_TYPE_CGROUP_ARRAY ||
	     spec->map_type == BPF_MAP_TYPE_PROG_ARRAY || spec->map_type == BPF_MAP_TYPE_ARRAY_OF_MAPS ||
	     spec->map_type == BPF_MAP_TYPE_HASH_OF_MAPS) &&
	    (cmd == BPF_MAP_UPDATE_ELEM || cmd == BPF_MAP_DELETE_ELEM))
		return 0;
	size_t ksz = spec->key_size, vsz = bpftime_map_sys_value_size(m);
	uint8_t kbuf[256], vbuf[1024];
	void *key = NULL, *val = NULL;
	long err = 0;

	/* Keyless maps (queue, stack, bloom filter): __bpf_copy_key refuses any key pointer, after
	 * the command's flag and permission checks. */
	if (ksz == 0 && attr.key) {
		int reads = cmd == BPF_MAP_LOOKUP_ELEM || cmd == BPF_MAP_LOOKUP_AND_DELETE_ELEM;
		int writes = cmd != BPF_MAP_LOOKUP_ELEM && cmd != BPF_MAP_GET_NEXT_KEY;
		if (reads && (attr.flags & ~(uint64_t)BPF_F_LOCK))
			*ret = -EINVAL;
		else
			*ret = writes && bpftime_map_is_frozen(m) ? -EPERM : -EINVAL;
		return 1;
	}
	/* A bloom filter lookup tests the value the tool passes in and writes nothing back. */
	if (cmd == BPF_MAP_LOOKUP_ELEM && spec->map_type == BPF_MAP_TYPE_BLOOM_FILTER) {
		if (attr.flags) /* only BPF_F_LOCK exists, and a bloom filter holds no lock */
			err = -EINVAL;
		else if ((val = copy_in(attr.value, vsz, vbuf, sizeof(vbuf), &err)))
			err = bpftime_map_sys_lookup(m, NULL, val, 0);
		drop(val, vbuf);
		*ret = err;
		return 1;
	}

	switch (cmd) {
	case BPF_MAP_LOOKUP_ELEM:
	case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
		if (!(key = copy_in(attr.key, ksz, kbuf, sizeof(kbuf), &err)))
			break;
		val = vsz <= sizeof(vbuf) ? vbuf : malloc(vsz);
		if (!val) {
			err = -ENOMEM;
			break;
		}
		err = cmd == BPF_MAP_LOOKUP_ELEM ? bpftime_map_sys_lookup(m, key, val, attr.flags)
						  : bpftime_map_sys_lookup_and_delete(m, key, val, attr.flags);
		if (err == 0 && shim_write_user((void *)(uintptr_t)attr.value, val, vsz) < 0)
			err = -EFAULT;
		break;
	case BPF_MAP_UPDATE_ELEM:
		if (!(key = copy_in(attr.key, ksz, kbuf, sizeof(kbuf), &err)))
			break;
		if (!(val = copy_in(attr.value, vsz, vbuf, sizeof(vbuf), &err)))
			break;
		err = bpftime_map_sys_update(m, key, val, attr.flags);
		break;
	case BPF_MAP_DELETE_ELEM:
		if (!(key = copy_in(attr.key, ksz, kbuf, sizeof(kbuf), &err)))
			break;
		err = bpftime_map_sys_delete(m, key);
		break;
	case BPF_MAP_GET_NEXT_KEY:
		if (attr.key && !(key = copy_in(attr.key, ksz, kbuf, sizeof(kbuf), &err)))
			break;
		val = ksz <= sizeof(vbuf) ? vbuf : malloc(ksz);
		if (!val) {
			err = -ENOMEM;
			break;
		}
		err = bpftime_map_sys_get_next_key(m, key, val);
		if (err == 0 && shim_write_user((void *)(uintptr_t)attr.next_key, val, ksz) < 0)
			err = -EFAULT;
		break;
	}
	drop(key, kbuf);
	drop(val, vbuf);
	*ret = err;
	return 1;
}
