/* The calls the shim interposes in a stock tool (LD_PRELOAD): bpf() and perf_event_open() as
 * libc's syscall(), ioctl() on our perf event fds, mmap() of our map fds, and the fd calls that
 * must keep the fd table true (close, dup*, fcntl F_DUPFD*, close_range). Everything that does
 * not touch one of our objects goes straight to libc or the kernel, untouched. */
/* node-gyp builds with _FILE_OFFSET_BITS=64, which renames mmap/fcntl to their 64-bit
 * symbols in the headers; this file defines both names itself. */
#undef _FILE_OFFSET_BITS
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpftime/client.h"
#include "bpftime/map.h"
#include "bpftime/objfile.h"
#include "bpftime/perf_ring.h"
#include "bpftime/proto.h"
#include "bpftime/ringbuf.h"

#define EXPORT __attribute__((visibility("default")))
#define ATTR_MAX 4096 /* the kernel refuses bpf_attr/perf_event_attr larger than a page */

int (*real_close)(int) = NULL;
static int (*real_ioctl)(int, unsigned long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static int (*real_fcntl64)(int, int, ...);
static int (*real_close_range)(unsigned, unsigned, int);

static void resolve_real(void)
{
	if (real_close)
		return;
	real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	real_mmap = dlsym(RTLD_NEXT, "mmap");
	real_dup = dlsym(RTLD_NEXT, "dup");
	real_dup2 = dlsym(RTLD_NEXT, "dup2");
	real_dup3 = dlsym(RTLD_NEXT, "dup3");
	real_fcntl = dlsym(RTLD_NEXT, "fcntl");
	real_fcntl64 = dlsym(RTLD_NEXT, "fcntl64");
	real_close_range = dlsym(RTLD_NEXT, "close_range");
	__atomic_store_n(&real_close, (int (*)(int))dlsym(RTLD_NEXT, "close"), __ATOMIC_RELEASE);
}

__attribute__((constructor(101))) static void interpose_init(void) { resolve_real(); }

static long set_errno(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* Everything but the data plane's element commands: a call to the server (shim_bpf_cmd falls
 * back to it). Not inlined, so that the data plane's path does not pay for this page-sized
 * frame. */
__attribute__((noinline)) long shim_bpf_server(int cmd, void *attr, unsigned int size)
{
	uint8_t buf[ATTR_MAX];
	size_t n = size < ATTR_MAX ? size : ATTR_MAX;
	if (n && shim_read_user(buf, attr, n) < 0)
		return -EFAULT;
	uint64_t args[6] = { (uint64_t)cmd, (uint64_t)(uintptr_t)attr, size };
	struct shim_blob blobs[2] = { { buf, n, (uint64_t)(uintptr_t)attr } };
	size_t nblobs = n ? 1 : 0;
	/* OBJ_GET_INFO_BY_FD always reads the caller's info struct (bpftool calls it for every
	 * object): send it along rather than have the server ask. Unreadable or larger than a page:
	 * the server asks, and answers as the kernel does. */
	uint8_t info[ATTR_MAX];
	if (cmd == BPF_OBJ_GET_INFO_BY_FD && n >= offsetof(union bpf_attr, info.info) + sizeof(uint64_t)) {
		const union bpf_attr *a = (const union bpf_attr *)buf;
		uint32_t len = a->info.info_len;
		if (nblobs && a->info.info && len && len <= sizeof(info) &&
		    shim_read_user(info, (void *)(uintptr_t)a->info.info, len) == 0) {
			blobs[1] = (struct shim_blob){ info, len, a->info.info };
			nblobs = 2;
		}
	}
	return shim_call_blobs(BPFTIME_OP_BPF, args, blobs, nblobs);
}

static inline long shim_bpf(int cmd, void *attr, unsigned int size)
{
	return shim_bpf_cmd(cmd, attr, size);
}

static long shim_perf_event_open(void *attr, long pid, long cpu, long group_fd, long flags)
{
	uint32_t size;
	if (shim_read_user(&size, (char *)attr + offsetof(struct perf_event_attr, size), sizeof(size)) < 0)
		return -EFAULT;
	if (size == 0)
		size = PERF_ATTR_SIZE_VER0;
	uint8_t buf[ATTR_MAX];
	size_t n = size < ATTR_MAX ? size : ATTR_MAX;
	if (shim_read_user(buf, attr, n) < 0)
		return -EFAULT;
	uint64_t args[6] = { (uint64_t)(uintptr_t)attr, (uint64_t)pid, (uint64_t)cpu, (uint64_t)group_fd,
			     (uint64_t)flags };
	return shim_call(BPFTIME_OP_PERF_EVENT_OPEN, args, buf, n, (uint64_t)(uintptr_t)attr);
}

static inline long syscall_dispatch(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	switch (nr) {
	case SYS_bpf:
		return set_errno(shim_bpf((int)a1, (void *)a2, (unsigned int)a3));
	case SYS_perf_event_open:
		return set_errno(shim_perf_event_open((void *)a1, a2, a3, a4, a5));
	case SYS_select: /* ring buffer and perf buffer fds in the sets (poll.c) */
		return set_errno(shim_select((int)a1, (void *)a2, (void *)a3, (void *)a4, (struct timeval *)a5));
	case SYS_pselect6:
		return set_errno(shim_pselect6((int)a1, (void *)a2, (void *)a3, (void *)a4, (struct timespec *)a5, (const void *)a6));
	default: {
		long r;
		if (shim_file_syscall(nr, a1, a2, a3, a4, a5, &r)) /* bpffs and served tracefs paths */
			return set_errno(r);
		return set_errno(bpftime_raw_syscall(nr, a1, a2, a3, a4, a5, a6));
	}
	}
}

#if defined(__x86_64__) || defined(__aarch64__)
/* syscall() is variadic, but on x86-64 and aarch64 Linux a variadic call passes its integer
 * arguments exactly where a prototyped call does (registers, then the stack), so the entry
 * takes all six as parameters: reading them with va_arg was a tenth of a map command. */
EXPORT long shim_syscall_entry(long nr, long a1, long a2, long a3, long a4, long a5, long a6) __asm__("syscall");
static __attribute__((noinline)) long syscall_other(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	return syscall_dispatch(nr, a1, a2, a3, a4, a5, a6);
}

EXPORT long shim_syscall_entry(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	if (__builtin_expect(nr == SYS_bpf, 1)) /* a small frame for the map commands' path */
		return set_errno(shim_bpf((int)a1, (void *)a2, (unsigned int)a3));
	return syscall_other(nr, a1, a2, a3, a4, a5, a6);
}
#else
EXPORT long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
	long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
	va_end(ap);
	return syscall_dispatch(nr, a1, a2, a3, a4, a5, a6);
}
#endif

/* PERF_EVENT_IOC_PAUSE_OUTPUT: a flag in the ring's shared page that producers honour. The
 * kernel answers EINVAL while the event has no ring (nobody mapped it); ours exists once any
 * process mapped it, which sized the memfd. */
static long shim_pause_output(int fd, struct shim_obj *o, unsigned long on)
{
	if (o->ring) {
		bpftime_perf_ring_set_paused(o->ring, on != 0);
		return 0;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size <= BPFTIME_OBJ_HDR_SIZE)
		return -EINVAL;
	long r = bpftime_raw_syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, BPFTIME_OBJ_HDR_SIZE);
	if (r < 0 && r > -4096)
		return -EINVAL;
	bpftime_perf_ring_set_paused((void *)r, on != 0);
	munmap((void *)r, 4096);
	return 0;
}

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	resolve_real();
	struct shim_obj *o = fdtab_get(fd);
	if (!o)
		return real_ioctl(fd, req, arg);
	if (o->kind == BPFTIME_OBJ_PERF_EVENT && req == PERF_EVENT_IOC_PAUSE_OUTPUT)
		return (int)set_errno(shim_pause_output(fd, o, (unsigned long)(uintptr_t)arg));
	uint64_t args[6] = { (uint64_t)fd, req, (uint64_t)(uintptr_t)arg };
	return (int)set_errno(shim_call(BPFTIME_OP_IOCTL, args, NULL, 0, 0));
}

static void *shim_mmap_perf_ring(struct shim_obj *o, void *addr, size_t len, int prot, int flags, int fd, off_t off);
static void *shim_mmap_ringbuf(struct bpftime_map *m, void *addr, size_t len, int prot, int flags, int fd, off_t off);

static void *shim_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	resolve_real();
	struct shim_obj *o = fdtab_get(fd);
	if (!o || (flags & MAP_ANONYMOUS))
		return real_mmap(addr, len, prot, flags, fd, off);
	if (o->kind == BPFTIME_OBJ_PERF_EVENT)
		return shim_mmap_perf_ring(o, addr, len, prot, flags, fd, off);
	struct bpftime_map *m = fdtab_map(o);
	int acc = fdtab_access(fd);
	if (acc != O_RDWR) {
		/* do_mmap() on a map fd opened read-only or write-only: EACCES for a shared writable
		 * mapping or a file that cannot be read; otherwise VM_SHARED is dropped and
		 * bpf_map_mmap() refuses the mapping (EINVAL) once the map type allows mmap at all. */
		int shared = (flags & MAP_TYPE) == MAP_SHARED || (flags & MAP_TYPE) == MAP_SHARED_VALIDATE;
		int rings = bpftime_ringbuf_is(m) || bpftime_user_ringbuf_is(m);
		int64_t can = m ? (rings ? 0 : bpftime_map_mmap_offset(m)) : -ENODEV;
		errno = acc == O_WRONLY || (shared && (prot & PROT_WRITE)) ? EACCES : can < 0 ? (int)-can : EINVAL;
		return MAP_FAILED;
	}
	if (bpftime_ringbuf_is(m) || bpftime_user_ringbuf_is(m))
		return shim_mmap_ringbuf(m, addr, len, prot, flags, fd, off);
	int64_t base = m ? bpftime_map_mmap_offset(m) : -ENODEV;
	if (base < 0) {
		errno = (int)-base;
		return MAP_FAILED;
	}
	/* The map's value area sits page-aligned inside the memfd; offset 0 of the map fd is its start. */
	return real_mmap(addr, len, prot, flags, fd, (off_t)(BPFTIME_OBJ_HDR_SIZE + base + off));
}

/* A perf buffer: the ring is the memfd's payload, as large as the tool maps it (1 + 2^n pages,
 * as for a kernel perf event); the first mapping sizes it and fills in the header page. */
static void *shim_mmap_perf_ring(struct shim_obj *o, void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct stat st;
	if (off != 0 || fstat(fd, &st) < 0) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	if ((uint64_t)st.st_size < BPFTIME_OBJ_HDR_SIZE + len && ftruncate(fd, (off_t)(BPFTIME_OBJ_HDR_SIZE + len)) < 0)
		return MAP_FAILED;
	void *p = real_mmap(addr, len, prot, flags, fd, BPFTIME_OBJ_HDR_SIZE);
	if (p == MAP_FAILED)
		return p;
	if (bpftime_perf_ring_init(p, len) < 0) {
		munmap(p, len);
		errno = EINVAL;
		return MAP_FAILED;
	}
	o->ring = p;
	return p;
}

/* A ring buffer map: the kernel's view (consumer page, producer page, data twice), built from
 * the plan of core/maps/map_ringbuf.c. When the range reaches the second copy of the data, the
 * whole range is reserved first and the pieces are mapped into it with MAP_FIXED, so the data
 * pages appear twice back to back. Read-only pieces are mapped from a read-only fd on the same
 * memfd, so mprotect() cannot make them writable later (the kernel clears VM_MAYWRITE). */
static void *shim_mmap_ringbuf(struct bpftime_map *m, void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct bpftime_ringbuf_piece pc[2];
	int n = off < 0 ? -EINVAL : bpftime_ringbuf_mmap_plan(m, (uint64_t)off, len, prot, flags, pc);
	if (n < 0) {
		errno = -n;
		return MAP_FAILED;
	}
	int mfd = fd;
	if (!(prot & PROT_WRITE)) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		long r = bpftime_raw_syscall(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0, 0, 0);
		if (r >= 0)
			mfd = (int)r;
	}
	size_t total = (len + 4095) & ~(size_t)4095;
	const int fixed = MAP_FIXED | MAP_FIXED_NOREPLACE;
	void *p;
	if (n == 1 && pc[0].len == total) {
		p = real_mmap(addr, total, prot, flags, mfd, (off_t)(BPFTIME_OBJ_HDR_SIZE + pc[0].region_off));
	} else {
		p = real_mmap(addr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (flags & fixed), -1, 0);
		for (int i = 0; i < n && p != MAP_FAILED; i++) {
			void *want = (char *)p + pc[i].view_off;
			void *q = real_mmap(want, pc[i].len, prot, (flags & ~fixed) | MAP_FIXED, mfd,
					    (off_t)(BPFTIME_OBJ_HDR_SIZE + pc[i].region_off));
			if (q != want) {
				int e = errno;
				munmap(p, total);
				errno = e;
				p = MAP_FAILED;
			}
		}
	}
	if (mfd != fd) {
		int e = errno;
		real_close(mfd);
		errno = e;
	}
	return p;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return shim_mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return shim_mmap(addr, len, prot, flags, fd, off);
}

/* bcc 0.26's symbolisation (libbcc; bpftrace's ustack/usym, bcc's tools) builds a
 * ProcSyms::ModulePath for the global /tmp/perf-PID.map with enter_ns 0, which leaves its fd_
 * member unset, and its destructor close()s fd_ whenever that is > 0: heap garbage, at times the
 * number of one of the tool's BPF maps. The map's later calls then fail with EBADF (bpftrace:
 * "failed to look up stack id ...: -9", a whole map missing from what it prints). On a kernel the
 * same garbage can close anything; which chunk it reads depends on the heap's history, so here it
 * landed on map fds now and then. A ModulePath only ever owns a file it opened itself, never a
 * BPF object: a close of one of ours from its destructor is that bug, and is dropped. */
static int closed_by_bcc_module_path(const void *caller)
{
	Dl_info info;
	return dladdr(caller, &info) && info.dli_sname && strstr(info.dli_sname, "ProcSyms10ModulePath");
}

EXPORT int close(int fd)
{
	resolve_real();
	served_write_forget(fd);
	if (!fdtab_get(fd) || shim_in_memory_sharing_child())
		return real_close(fd);
	if (closed_by_bcc_module_path(__builtin_return_address(0)))
		return 0;
	struct shim_obj *last = fdtab_forget(fd);
	int rc = real_close(fd);
	if (last) {
		shim_release(last->ino);
		fdtab_release_obj(last);
	}
	return rc;
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	resolve_real();
	if (!(flags & CLOSE_RANGE_CLOEXEC) && !shim_in_memory_sharing_child()) {
		for (unsigned fd = first; fd <= last && fd < (1u << 20); fd++) {
			if (!fdtab_get((int)fd))
				continue;
			struct shim_obj *o = fdtab_forget((int)fd);
			if (o) {
				shim_release(o->ino);
				fdtab_release_obj(o);
			}
		}
	}
	if (real_close_range)
		return real_close_range(first, last, flags);
	return (int)set_errno(bpftime_raw_syscall(SYS_close_range, first, last, flags, 0, 0, 0));
}

EXPORT int dup(int fd)
{
	resolve_real();
	int nfd = real_dup(fd);
	if (nfd >= 0)
		served_write_dup(fd, nfd);
	if (nfd >= 0 && fdtab_get(fd))
		fdtab_dup(fd, nfd);
	return nfd;
}

EXPORT int dup2(int fd, int nfd)
{
	resolve_real();
	int r = real_dup2(fd, nfd);
	if (r >= 0)
		served_write_dup(fd, r);
	if (r >= 0 && (fdtab_get(fd) || fdtab_get(nfd)))
		fdtab_dup(fd, r);
	return r;
}

EXPORT int dup3(int fd, int nfd, int flags)
{
	resolve_real();
	int r = real_dup3(fd, nfd, flags);
	if (r >= 0)
		served_write_dup(fd, r);
	if (r >= 0 && (fdtab_get(fd) || fdtab_get(nfd)))
		fdtab_dup(fd, r);
	return r;
}

static int shim_fcntl(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	resolve_real();
	int r = real(fd, cmd, arg);
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		served_write_dup(fd, r);
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && fdtab_get(fd))
		fdtab_dup(fd, r);
	return r;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	resolve_real();
	return shim_fcntl(real_fcntl, fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	resolve_real();
	return shim_fcntl(real_fcntl64 ? real_fcntl64 : real_fcntl, fd, cmd, arg);
}
