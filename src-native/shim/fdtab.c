/* Which of the tool's fds are bpftime objects.
 *
 * Every object is a memfd created by the server; its first page is a struct bpftime_obj_hdr.
 * An fd is recognised by that header (and the memfd's name), never by its number, so fds that
 * arrive by dup, fork, exec or SCM_RIGHTS are recognised the same way as fresh ones. Objects are
 * keyed by inode: all fds of one object share one struct shim_obj. */
#include "shim.h"

#include <dirent.h>
#include <linux/bpf.h>
#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpftime/client.h"
#include "bpftime/map.h"
#include "bpftime/objfile.h"
#include "bpftime/proto.h"

#define L2_BITS SHIM_FDTAB_L2_BITS
#define L2_SIZE SHIM_FDTAB_L2_SIZE
#define L1_SIZE SHIM_FDTAB_L1_SIZE

/* A slot holds the object pointer with the fd's access mode in its low bits: the mode is per fd
 * (per open file, as the kernel's f_mode), not per object. 0 is read-write, so a plain pointer is
 * a read-write fd. */
#define MODE_RDONLY SHIM_FDTAB_RDONLY
#define MODE_WRONLY SHIM_FDTAB_WRONLY
#define MODE_MASK SHIM_FDTAB_MODE_MASK

static inline struct shim_obj *slot_obj(struct shim_obj *v) { return (struct shim_obj *)((uintptr_t)v & ~MODE_MASK); }
static inline unsigned slot_mode(struct shim_obj *v) { return (unsigned)((uintptr_t)v & MODE_MASK); }
static inline struct shim_obj *tagged(struct shim_obj *o, unsigned mode) { return (struct shim_obj *)((uintptr_t)o | mode); }

/* The access mode of an open fd, as F_GETFL tells (the raw call: fcntl is interposed). */
static unsigned fd_mode(int fd)
{
	long fl = bpftime_raw_syscall(SYS_fcntl, fd, F_GETFL, 0, 0, 0, 0);
	if (fl < 0)
		return 0;
	return (fl & O_ACCMODE) == O_RDONLY ? MODE_RDONLY : (fl & O_ACCMODE) == O_WRONLY ? MODE_WRONLY : 0;
}

/* The first SHIM_FDTAB_L2_SIZE fds (nearly every tool's) live in a static block: one load, not
 * two, on the data plane's path. */
struct shim_obj *shim_fdtab_low[SHIM_FDTAB_L2_SIZE];
struct shim_obj **shim_fdtab_l1[L1_SIZE] = { shim_fdtab_low };
static struct shim_obj *g_objs;
static size_t g_nfds;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static struct shim_obj **slot(int fd, int create)
{
	if (fd < 0 || (unsigned)fd >= L1_SIZE * L2_SIZE)
		return NULL;
	unsigned hi = (unsigned)fd >> L2_BITS;
	struct shim_obj **l2 = __atomic_load_n(&shim_fdtab_l1[hi], __ATOMIC_ACQUIRE);
	if (!l2) {
		if (!create)
			return NULL;
		l2 = calloc(L2_SIZE, sizeof(*l2));
		if (!l2)
			return NULL;
		__atomic_store_n(&shim_fdtab_l1[hi], l2, __ATOMIC_RELEASE);
	}
	return &l2[(unsigned)fd & (L2_SIZE - 1)];
}

struct shim_obj *fdtab_get(int fd)
{
	struct shim_obj **s = slot(fd, 0);
	return s ? slot_obj(__atomic_load_n(s, __ATOMIC_ACQUIRE)) : NULL;
}

int fdtab_access(int fd)
{
	struct shim_obj **s = slot(fd, 0);
	unsigned m = s ? slot_mode(__atomic_load_n(s, __ATOMIC_ACQUIRE)) : 0;
	return m == MODE_RDONLY ? O_RDONLY : m == MODE_WRONLY ? O_WRONLY : O_RDWR;
}

/* Is fd one of our memfds? Reads the header; checks the memfd's name so that an ordinary file
 * that happens to begin with the magic is not mistaken for an object. */
static int read_obj_header(int fd, struct bpftime_obj_hdr *h, struct stat *st)
{
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))
		return -1;
	ssize_t got = pread(fd, h, sizeof(*h), 0);
	if (got < 0 && errno == EBADF) {
		/* A write-only fd (a map opened with BPF_F_WRONLY): read through a read-only open. */
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		long r = bpftime_raw_syscall(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0, 0, 0);
		if (r < 0)
			return -1;
		got = pread((int)r, h, sizeof(*h), 0);
		bpftime_raw_syscall(SYS_close, r, 0, 0, 0, 0, 0);
	}
	if (got != (ssize_t)sizeof(*h))
		return -1;
	if (h->magic != BPFTIME_OBJ_MAGIC || h->version != BPFTIME_OBJ_VERSION)
		return -1;
	char link[64], target[128];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	/* The raw call: readlink() of our fds is interposed to show the kernel's names. */
	ssize_t n = bpftime_raw_syscall(SYS_readlink, (long)link, (long)target, sizeof(target) - 1, 0, 0, 0);
	if (n < 0)
		return -1;
	target[n] = 0;
	return strncmp(target, "/memfd:bpftime", 14) == 0 ? 0 : -1;
}

struct shim_obj *fdtab_adopt(int fd)
{
	struct bpftime_obj_hdr h;
	struct stat st;
	if (read_obj_header(fd, &h, &st) < 0)
		return NULL;
	pthread_mutex_lock(&g_lock);
	struct shim_obj **s = slot(fd, 1);
	struct shim_obj *o = NULL;
	if (s && *s && slot_obj(*s)->ino == (uint64_t)st.st_ino) {
		o = slot_obj(*s); /* already known */
		goto out;
	}
	for (o = g_objs; o; o = o->next)
		if (o->ino == (uint64_t)st.st_ino)
			break;
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o)
			goto out;
		o->ino = st.st_ino;
		o->kind = h.kind;
		o->id = h.id;
		o->subtype = h.subtype;
		o->waitfd = -1;
		o->next = g_objs;
		g_objs = o;
	}
	if (s) {
		if (!*s) {
			g_nfds++;
			o->nfds++;
			__atomic_store_n(s, tagged(o, fd_mode(fd)), __ATOMIC_RELEASE);
		}
	}
out:
	pthread_mutex_unlock(&g_lock);
	return o;
}

struct shim_obj *fdtab_forget(int fd)
{
	struct shim_obj *last = NULL;
	pthread_mutex_lock(&g_lock);
	struct shim_obj **s = slot(fd, 0);
	if (s && *s) {
		struct shim_obj *o = slot_obj(*s);
		__atomic_store_n(s, NULL, __ATOMIC_RELEASE);
		g_nfds--;
		if (--o->nfds == 0) {
			/* unlink: the caller tells the server and frees it */
			for (struct shim_obj **pp = &g_objs; *pp; pp = &(*pp)->next)
				if (*pp == o) {
					*pp = o->next;
					break;
				}
			last = o;
		}
	}
	pthread_mutex_unlock(&g_lock);
	return last;
}

void fdtab_release_obj(struct shim_obj *o)
{
	/* Concurrent data-plane users of a closed fd are a use-after-close in the tool itself, as
	 * on a kernel; the mapping goes with the last fd. */
	if (o->map)
		bpftime_map_close(o->map);
	if (o->region)
		munmap(o->region, o->region_size);
	if (o->waitfd >= 0)
		real_close(o->waitfd);
	explicit_bzero(o, sizeof(*o)); /* it held fd numbers: see free_zeroed in conn.c */
	free(o);
}

void fdtab_dup(int oldfd, int newfd)
{
	if (oldfd == newfd)
		return;
	struct shim_obj *dead = fdtab_forget(newfd); /* dup2 over one of ours closes it */
	if (dead) {
		shim_release(dead->ino);
		fdtab_release_obj(dead);
	}
	pthread_mutex_lock(&g_lock);
	struct shim_obj **os = slot(oldfd, 0);
	struct shim_obj *v = os ? *os : NULL; /* a dup shares the open file, so its mode too */
	if (v) {
		struct shim_obj **ns = slot(newfd, 1);
		if (ns) {
			slot_obj(v)->nfds++;
			g_nfds++;
			__atomic_store_n(ns, v, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&g_lock);
}

size_t fdtab_snapshot(void *out, size_t max)
{
	struct bpftime_fdref *refs = out;
	size_t n = 0;
	pthread_mutex_lock(&g_lock);
	for (unsigned hi = 0; hi < L1_SIZE && n < max; hi++) {
		struct shim_obj **l2 = shim_fdtab_l1[hi];
		if (!l2)
			continue;
		for (unsigned lo = 0; lo < L2_SIZE && n < max; lo++) {
			if (!l2[lo])
				continue;
			refs[n].fd = (int32_t)((hi << L2_BITS) | lo);
			refs[n].kind = slot_obj(l2[lo])->kind;
			refs[n].ino = slot_obj(l2[lo])->ino;
			n++;
		}
	}
	pthread_mutex_unlock(&g_lock);
	return n;
}

size_t fdtab_count(void)
{
	return __atomic_load_n(&g_nfds, __ATOMIC_RELAXED);
}

/* What the data plane reads of a map on every call, computed once. */
static void dp_cache(struct shim_obj *o, struct bpftime_map *m)
{
	const struct bpftime_map_spec *spec = bpftime_map_get_spec(m);
	o->dp_key_size = spec->key_size;
	o->dp_value_size = bpftime_map_sys_value_size(m);
	o->dp_flags = 0;
	o->dp_frozen = bpftime_map_frozen_word(m);
	switch (spec->map_type) {
	case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
	case BPF_MAP_TYPE_CGROUP_ARRAY:
	case BPF_MAP_TYPE_PROG_ARRAY:
	case BPF_MAP_TYPE_ARRAY_OF_MAPS:
	case BPF_MAP_TYPE_HASH_OF_MAPS:
		o->dp_flags |= SHIM_DP_FD_VALUES;
		break;
	case BPF_MAP_TYPE_BLOOM_FILTER:
		o->dp_flags |= SHIM_DP_BLOOM;
		break;
	}
}

struct bpftime_map *fdtab_map(struct shim_obj *o)
{
	if (o->kind != BPFTIME_OBJ_MAP)
		return NULL;
	struct bpftime_map *m = __atomic_load_n(&o->map, __ATOMIC_ACQUIRE);
	if (m)
		return m;
	pthread_mutex_lock(&g_lock);
	if (!o->map) {
		/* Find an fd for it to map the memfd. */
		int fd = -1, own = -1;
		for (unsigned hi = 0; hi < L1_SIZE && fd < 0; hi++) {
			struct shim_obj **l2 = shim_fdtab_l1[hi];
			for (unsigned lo = 0; l2 && lo < L2_SIZE; lo++)
				if (slot_obj(l2[lo]) == o) {
					fd = (int)((hi << L2_BITS) | lo);
					break;
				}
		}
		if (fd >= 0 && fd_mode(fd) != 0) {
			/* A read-only or write-only fd: the data plane still needs the memory read-write
			 * (it checks each fd's mode itself), so map a read-write open of the same memfd. */
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			long r = bpftime_raw_syscall(SYS_openat, AT_FDCWD, (long)path, O_RDWR | O_CLOEXEC, 0, 0, 0);
			fd = own = r < 0 ? -1 : (int)r;
		}
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > BPFTIME_OBJ_HDR_SIZE) {
			/* The raw call: mmap() of one of our fds is interposed and would come back here. */
			long r = bpftime_raw_syscall(SYS_mmap, 0, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			void *p = r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
			if (p != MAP_FAILED) {
				struct bpftime_map *handle = NULL;
				if (bpftime_map_open(&handle, (char *)p + BPFTIME_OBJ_HDR_SIZE,
						     st.st_size - BPFTIME_OBJ_HDR_SIZE, o->id) == 0) {
					o->region = p;
					o->region_size = st.st_size;
					dp_cache(o, handle);
					__atomic_store_n(&o->map, handle, __ATOMIC_RELEASE);
				} else {
					munmap(p, st.st_size);
				}
			}
		}
		if (own >= 0)
			real_close(own);
	}
	pthread_mutex_unlock(&g_lock);
	return o->map;
}

/* After exec the table is empty but inherited object fds (without O_CLOEXEC) are still open. */
__attribute__((constructor)) static void fdtab_scan_inherited(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	int self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		int fd = atoi(e->d_name);
		if (fd != self)
			fdtab_adopt(fd);
	}
	closedir(d);
}
