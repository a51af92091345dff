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

/* The attr bytes the element commands read: up to `flags`. */
#define ELEM_ATTR_END (offsetof(union bpf_attr, flags) + sizeof(((union bpf_attr *)0)->flags))

/* The end of each command's last field (the kernel's BPF_*_LAST_FIELD): every byte after it
 * must be zero. Delete reads no value or flags, get_next_key no flags. */
static inline size_t cmd_attr_end(int cmd)
{
	switch (cmd) {
	case BPF_MAP_DELETE_ELEM:
		return offsetof(union bpf_attr, key) + sizeof(((union bpf_attr *)0)->key);
	case BPF_MAP_GET_NEXT_KEY:
		return offsetof(union bpf_attr, next_key) + sizeof(((union bpf_attr *)0)->next_key);
	default:
		return ELEM_ATTR_END;
	}
}

/* User copies on the command's path: the fault-safe routine (uaccess.c), called directly, or for
 * 4 and 8 bytes its inlined moves (shim.h). A NULL
 * or otherwise bad pointer faults inside it and comes back as -EFAULT, as the kernel's
 * copy_from_user/copy_to_user answer (a mapped page 0 is read like the kernel reads it).
 * shim_bpf_cmd installs the routine's handler first; where there is none, the syscalls. */
static inline __attribute__((always_inline)) int dp_copy(void *dst, const void *src, size_t n, int to_user,
							 const int fast)
{
	if (__builtin_expect(fast, 1)) {
#if SHIM_HAVE_INLINE_UACCESS
		if (n == 8)
			return to_user ? shim_put_user8(dst, src) : shim_get_user8(dst, src);
		if (n == 4)
			return to_user ? shim_put_user4(dst, src) : shim_get_user4(dst, src);
		if (n == 32 && !to_user)
			return shim_get_user_attr32(dst, src);
#endif
		return (int)shim_uaccess_copy(dst, src, n);
	}
	return to_user ? shim_write_user_syscall(dst, src, n) : shim_read_user_syscall(dst, src, n);
}
/* `fast`: 1 where the copy routine may be used on this thread (its handler is installed and the
 * thread does not block SIGSEGV/SIGBUS: shim_uaccess_usable), a constant on the command path that
 * removes the check from every copy; 0: the syscalls. */
#define COPY_IN(fast, dst, uptr, n) (dp_copy((dst), (const void *)(uintptr_t)(uptr), (n), 0, (fast)) < 0)
#define COPY_OUT(fast, uptr, src, n) (dp_copy((void *)(uintptr_t)(uptr), (src), (n), 1, (fast)) < 0)

/* Any non-zero byte among n at p (8 at a time: a full-size attr has over a hundred to check).
 * Never vectorized (the build's -O3 would): the attr's tail was just stored 8 bytes per field,
 * and a 16-byte load over two such stores waits for them to leave the store buffer, which made a
 * delete a fifth slower. */
static inline int any_nonzero(const uint8_t *p, size_t n)
{
	uint64_t acc = 0, w;
	for (; n >= 8; n -= 8, p += 8) {
		memcpy(&w, p, 8);
		acc |= w;
		__asm__("" : "+r"(acc)); /* one 8-byte load per step */
	}
	while (n--)
		acc |= *p++;
	return acc != 0;
}

/* Are the n user bytes at p all zero? 0 (yes), 1 (no) or -EFAULT. */
static int user_nonzero(const uint8_t *p, size_t n)
{
	uint8_t chunk[512];
	for (size_t off = 0; off < n; off += sizeof(chunk)) {
		size_t c = n - off < sizeof(chunk) ? n - off : sizeof(chunk);
		if (COPY_IN(0, chunk, p + off, c))
			return -EFAULT;
		if (any_nonzero(chunk, c))
			return 1;
	}
	return 0;
}

/* __sys_bpf's reading of the attr for an element command, in the kernel's order: a size above a
 * page is E2BIG, so is a non-zero byte beyond the union (bpf_check_uarg_tail_zero); then the
 * copy (EFAULT); then CHECK_ATTR, EINVAL for a non-zero byte after the command's last field.
 * libbpf passes 32 bytes (up to `flags`) or, for get_next_key, 24; other callers often the
 * whole union. Bytes of *attr past ELEM_ATTR_END are left as they are: nothing reads them. */
static inline __attribute__((always_inline)) int read_attr(int cmd, union bpf_attr *attr, const uint8_t *user,
							   unsigned int size, const int fast)
{
	if (__builtin_expect(size > sizeof(*attr), 0)) {
		if (size > 4096)
			return -E2BIG;
		int nz = user_nonzero(user + sizeof(*attr), size - sizeof(*attr));
		if (nz)
			return nz < 0 ? nz : -E2BIG;
		size = sizeof(*attr);
	}
	if (size < ELEM_ATTR_END)
		memset((uint8_t *)attr + size, 0, ELEM_ATTR_END - size);
	if (COPY_IN(fast, attr, user, size))
		return -EFAULT;
	size_t end = cmd_attr_end(cmd);
	if (size > end && any_nonzero((const uint8_t *)attr + end, size - end))
		return -EINVAL;
	return 0;
}

/* The fd is not one of our maps: EBADF for a closed fd, EINVAL for any other fd, as the kernel's
 * __bpf_map_get(). */
static __attribute__((noinline)) long not_a_map(int fd)
{
	return fcntl(fd, F_GETFD) < 0 ? -EBADF : -EINVAL;
}

/* What each command does with the map: reads (needs FMODE_CAN_READ), writes (FMODE_CAN_WRITE,
 * so not on a frozen map), and whether it takes lookup flags (only BPF_F_LOCK, checked before
 * the fd). The read/write bits are the fd table's access tags they are refused under. */
#define C_READ SHIM_FDTAB_WRONLY /* refused through a write-only fd */
#define C_WRITE SHIM_FDTAB_RDONLY /* refused through a read-only fd */
#define C_LOOKUP_FLAGS 4u
static const uint8_t CMD_BITS[BPF_MAP_LOOKUP_AND_DELETE_ELEM + 1] = {
	[BPF_MAP_LOOKUP_ELEM] = C_READ | C_LOOKUP_FLAGS,
	[BPF_MAP_UPDATE_ELEM] = C_WRITE,
	[BPF_MAP_DELETE_ELEM] = C_WRITE,
	[BPF_MAP_GET_NEXT_KEY] = C_READ,
	[BPF_MAP_LOOKUP_AND_DELETE_ELEM] = C_READ | C_WRITE | C_LOOKUP_FLAGS,
};

/* One command on key and value buffers of ksz and vsz bytes: a bad pointer is EFAULT wherever
 * it is. Inlined: as a call (its prologue, epilogue and dispatch) it was a sixth of the shim's
 * instructions on a map command. */
static inline __attribute__((always_inline)) long run(int cmd, struct bpftime_map *m, const union bpf_attr *attr, void *key, void *val,
		       size_t ksz, size_t vsz, const int fast)
{
	long err;
	switch (cmd) {
	case BPF_MAP_LOOKUP_ELEM:
	case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
		if (COPY_IN(fast, key, attr->key, ksz))
			return -EFAULT;
		err = cmd == BPF_MAP_LOOKUP_ELEM ? bpftime_map_sys_lookup(m, key, val, attr->flags)
						  : bpftime_map_sys_lookup_and_delete(m, key, val, attr->flags);
		if (err == 0 && COPY_OUT(fast, attr->value, val, vsz))
			err = -EFAULT;
		return err;
	case BPF_MAP_UPDATE_ELEM:
		if (COPY_IN(fast, key, attr->key, ksz) || COPY_IN(fast, val, attr->value, vsz))
			return -EFAULT;
		return bpftime_map_sys_update(m, key, val, attr->flags);
	case BPF_MAP_DELETE_ELEM:
		if (COPY_IN(fast, key, attr->key, ksz))
			return -EFAULT;
		return bpftime_map_sys_delete(m, key);
	default: /* BPF_MAP_GET_NEXT_KEY: the next key goes where values go */
		if (attr->key && COPY_IN(fast, key, attr->key, ksz))
			return -EFAULT;
		err = bpftime_map_sys_get_next_key(m, attr->key ? key : NULL, val);
		if (err == 0 && COPY_OUT(fast, attr->next_key, val, ksz))
			err = -EFAULT;
		return err;
	}
}

#define SMALL 512 /* keys are at most 512 bytes (MAX_BPF_STACK); values often are too */

/* Values (or keys) too large for the stack buffers: the same on the heap. */
static __attribute__((noinline)) long run_large(int cmd, struct bpftime_map *m, const union bpf_attr *attr,
						size_t ksz, size_t vsz)
{
	size_t vlen = vsz > ksz ? vsz : ksz; /* get_next_key's next key goes in the value buffer */
	void *key = malloc(ksz ? ksz : 1), *val = malloc(vlen);
	long err = key && val ? run(cmd, m, attr, key, val, ksz, vsz, 0) : -ENOMEM;
	free(key);
	free(val);
	return err;
}

/* A bloom filter lookup tests the value the tool passes in and writes nothing back. */
static __attribute__((noinline)) long bloom_lookup(struct bpftime_map *m, const union bpf_attr *attr, size_t vsz)
{
	if (attr->flags) /* only BPF_F_LOCK exists, and a bloom filter holds no lock */
		return -EINVAL;
	void *val = malloc(vsz ? vsz : 1);
	long err = !val ? -ENOMEM : COPY_IN(0, val, attr->value, vsz) ? -EFAULT : bpftime_map_sys_lookup(m, NULL, val, 0);
	free(val);
	return err;
}

/* The command, with fast as dp_copy takes it. */
static inline __attribute__((always_inline)) int dp_command(int cmd, void *attr_user, unsigned int size, long *ret,
							   const int fast)
{
	unsigned bits = CMD_BITS[cmd];
	union bpf_attr attr;
	long rc;
	rc = read_attr(cmd, &attr, attr_user, size, fast);
	if (__builtin_expect(rc < 0, 0)) {
		*ret = rc;
		return 1;
	}
	/* Lookups check their flags before looking at the fd. */
	if ((bits & C_LOOKUP_FLAGS) && (attr.flags & ~(uint64_t)BPF_F_LOCK)) {
		*ret = -EINVAL;
		return 1;
	}
	unsigned mode;
	struct shim_obj *o = fdtab_get_mode((int)attr.map_fd, &mode);
	if (__builtin_expect(!o || o->kind != BPFTIME_OBJ_MAP, 0)) {
		*ret = not_a_map((int)attr.map_fd);
		return 1;
	}
	struct bpftime_map *m = __atomic_load_n(&o->map, __ATOMIC_ACQUIRE);
	if (__builtin_expect(!m, 0) && !(m = fdtab_map(o)))
		return 0; /* a map whose data path lives in the server */
	/* map_get_sys_perms(): the fd's own access mode (BPF_F_RDONLY/WRONLY fds), and no writes to
	 * a frozen map, before anything else about the command. */
	if (__builtin_expect((bits & mode) || ((bits & C_WRITE) && __atomic_load_n(o->dp_frozen, __ATOMIC_ACQUIRE)), 0)) {
		*ret = -EPERM;
		return 1;
	}
	size_t ksz = o->dp_key_size, vsz = o->dp_value_size;
	if (__builtin_expect(o->dp_flags != 0, 0)) {
		/* Values that are fds (perf events, programs, inner maps) are the server's to resolve. */
		if ((o->dp_flags & SHIM_DP_FD_VALUES) && (cmd == BPF_MAP_UPDATE_ELEM || cmd == BPF_MAP_DELETE_ELEM))
			return 0;
		if ((o->dp_flags & SHIM_DP_BLOOM) && cmd == BPF_MAP_LOOKUP_ELEM && !attr.key) {
			*ret = bloom_lookup(m, &attr, vsz);
			return 1;
		}
	}
	/* Keyless maps (queue, stack, bloom filter): __bpf_copy_key refuses any key pointer. */
	if (__builtin_expect(ksz == 0 && attr.key, 0)) {
		*ret = -EINVAL;
		return 1;
	}
	if (__builtin_expect(vsz > SMALL || ksz > SMALL, 0)) {
		*ret = run_large(cmd, m, &attr, ksz, vsz);
		return 1;
	}
	uint64_t key[SMALL / 8], val[SMALL / 8];
	*ret = run(cmd, m, &attr, key, val, ksz, vsz, fast);
	return 1;
}

/* The thread's first command, before the process's fault handler is installed (the first command
 * installs it), where it cannot be, or on a thread that blocks SIGSEGV/SIGBUS (a fault there would
 * kill the process: the syscalls copy instead). */
static __attribute__((noinline)) int dp_command_first(int cmd, void *attr_user, unsigned int size, long *ret)
{
	if (shim_uaccess_usable_slow())
		return dp_command(cmd, attr_user, size, ret, 1);
	return dp_command(cmd, attr_user, size, ret, 0);
}

long shim_bpf_cmd(int cmd, void *attr_user, unsigned int size)
{
	long ret;
	if ((unsigned)cmd <= BPF_MAP_LOOKUP_AND_DELETE_ELEM && CMD_BITS[cmd]) {
		if (__builtin_expect(shim_thread_faults == SHIM_FAULTS_OPEN, 1)
			    ? dp_command(cmd, attr_user, size, &ret, 1)
			    : dp_command_first(cmd, attr_user, size, &ret))
			return ret;
	}
	return shim_bpf_server(cmd, attr_user, size);
}
