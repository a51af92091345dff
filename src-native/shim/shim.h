/* Internal interfaces of the shim (libbpftime-syscall-server.so), the library preloaded into
 * stock tools. interpose.c catches the calls; fdtab.c knows which fds are our objects;
 * conn.c talks to the server; data_plane.c runs map commands natively on shared memory. */
#ifndef BPFTIME_SHIM_H
#define BPFTIME_SHIM_H
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bpftime_map;

/* One object known to this process, shared by every fd that refers to it (dup, fork). */
struct shim_obj {
	uint64_t ino;
	uint32_t kind; /* enum bpftime_obj_kind */
	uint32_t id;
	uint32_t subtype;
	int nfds;                /* fds in this process that refer to it */
	struct bpftime_map *map; /* maps: opened on first data-plane use */
	/* maps, set before `map` is published: what the data plane needs on every call */
	uint32_t dp_key_size, dp_value_size; /* value_size as the syscall sees it (per-CPU: all) */
	uint32_t dp_flags;                   /* SHIM_DP_* */
	const uint32_t *dp_frozen;           /* non-zero once frozen (bpftime_map_frozen_word) */
	void *region;            /* maps: the mapped memfd (header page + region) */
	size_t region_size;
	void *ring;              /* perf buffers: where the tool mapped the ring (its first page) */
	int waitfd;              /* perf buffers: the eventfd to wait on in its place, -1 until asked */
	struct shim_obj *next;
};

#define SHIM_DP_FD_VALUES 1u /* values are fds: updates and deletes go to the server */
#define SHIM_DP_BLOOM 2u     /* a bloom filter: lookups test the value passed in */

/* fd table: which fds are our objects. Recognition is by the memfd's header, never by number. */
struct shim_obj *fdtab_get(int fd);
/* Registers fd as an object fd (reads its header); NULL if it is not ours. */
struct shim_obj *fdtab_adopt(int fd);
/* Forgets fd; returns the object when fd was its last fd in this process (caller releases). */
struct shim_obj *fdtab_forget(int fd);
void fdtab_dup(int oldfd, int newfd);
/* The access mode of one of our fds (O_RDONLY, O_WRONLY or O_RDWR), the kernel's f_mode of it:
 * BPF_F_RDONLY/WRONLY at MAP_CREATE, GET_FD_BY_ID and OBJ_GET give such fds. */
int fdtab_access(int fd);

/* The table itself, for the data plane's per-call lookup (fdtab_get_access): two levels of
 * slots, each holding the object pointer tagged with the fd's access mode in its low bits. */
#define SHIM_FDTAB_L2_BITS 10
#define SHIM_FDTAB_L2_SIZE (1u << SHIM_FDTAB_L2_BITS)
#define SHIM_FDTAB_L1_SIZE 1024u /* 1M fds */
#define SHIM_FDTAB_RDONLY 1ul
#define SHIM_FDTAB_WRONLY 2ul
#define SHIM_FDTAB_MODE_MASK 3ul
extern struct shim_obj **shim_fdtab_l1[SHIM_FDTAB_L1_SIZE];
extern struct shim_obj *shim_fdtab_low[SHIM_FDTAB_L2_SIZE]; /* shim_fdtab_l1[0] */

/* fdtab_get, and the fd's access tag (0: read-write, SHIM_FDTAB_RDONLY or SHIM_FDTAB_WRONLY), in
 * one look at the table. */
static inline struct shim_obj *fdtab_get_mode(int fd, unsigned *mode)
{
	uintptr_t v = 0;
	if (__builtin_expect((unsigned)fd < SHIM_FDTAB_L2_SIZE, 1)) {
		v = (uintptr_t)__atomic_load_n(&shim_fdtab_low[fd], __ATOMIC_ACQUIRE);
	} else if ((unsigned)fd < SHIM_FDTAB_L1_SIZE * SHIM_FDTAB_L2_SIZE) {
		struct shim_obj **l2 = __atomic_load_n(&shim_fdtab_l1[(unsigned)fd >> SHIM_FDTAB_L2_BITS], __ATOMIC_ACQUIRE);
		if (l2)
			v = (uintptr_t)__atomic_load_n(&l2[(unsigned)fd & (SHIM_FDTAB_L2_SIZE - 1)], __ATOMIC_ACQUIRE);
	}
	*mode = (unsigned)(v & SHIM_FDTAB_MODE_MASK);
	return (struct shim_obj *)(v & ~SHIM_FDTAB_MODE_MASK);
}
/* Lists (fd, kind, ino) of every object fd, for the server's fd resolution. */
size_t fdtab_snapshot(void *out_fdrefs, size_t max);
size_t fdtab_count(void);
void fdtab_release_obj(struct shim_obj *o);
/* Opens (once) the map handle of a map object; NULL if it is not a map. */
struct bpftime_map *fdtab_map(struct shim_obj *o);

/* fds of served files opened for writing (served_write.c): their write()s go to the server. */
int served_write_track(int fd, const char *path);
void served_write_forget(int fd);
void served_write_dup(int oldfd, int newfd);
/* A pinned map opened as a file: lseek on it (and its dups) fails with ESPIPE, as on bpffs. */
void served_stream_track(int fd);

/* Server calls. Returns the syscall result (>= 0) or -errno. */
long shim_call(uint32_t op, const uint64_t args[6], const void *first_blob, size_t first_len,
	       uint64_t first_addr);
/* shim_call with memory the server will surely read besides the first blob (sent with the
 * call, which saves the server a round trip to ask for it). */
struct shim_blob {
	const void *data;
	size_t len;
	uint64_t addr;
};
long shim_call_blobs(uint32_t op, const uint64_t args[6], const struct shim_blob *blobs, size_t nblobs);
void shim_release(uint64_t ino);
/* Whether the caller is a child that shares this process's memory without fork's handlers having
 * run (vfork, posix_spawn, a CLONE_VM clone): its fds are its own, but the fd table and the
 * server connection it sees are the parent's, which its closes must not change (Python's
 * subprocess closes every fd in a vfork child before exec). */
int shim_in_memory_sharing_child(void);
/* The server this process talked to died (conn.c): its objects are gone; waits fail with EIO. */
int shim_server_lost(void);

/* The fd to wait on in place of object fd `fd` (perf buffers), fetched once; -errno if none. */
int shim_wait_fd(int fd, struct shim_obj *o);

/* select/pselect6 over fd sets that may hold ring fds (poll.c): the syscalls' results or -errno. */
struct timeval;
struct timespec;
long shim_select(int nfds, void *r, void *w, void *e, struct timeval *tv);
long shim_pselect6(int nfds, void *r, void *w, void *e, struct timespec *ts, const void *sigdata);

/* Paths of the runtime's bpffs (bpffs.c): return 1 when the path was ours, with the call's result
 * in *ret (errno set as libc would). */
int shim_bpffs_open(int dirfd, const char *path, int flags, int mode, int *ret);
int shim_bpffs_access(int dirfd, const char *path, int mode, int flags, int *ret);
int shim_bpffs_owns(const char *path);
/* syscall(nr, ...) of a file call (open, stat, mkdir, chmod, ...) on one of our paths: 1 with the
 * result or -errno in *ret, 0 when the raw syscall must run (bpffs.c). */
int shim_file_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long *ret);
/* Whether an absolute path is one the server serves (files.c: tracefs, PMU descriptions). */
int shim_served_path(const char *path);
/* open() of a served path (files.c): the fd, or -1 with errno set. */
int shim_open_served(const char *path, int flags);
/* Remembers a directory fd the server handed out as the view of path, so that calls relative
 * to it reach path (bpffs.c). */
void shim_view_remember(int fd, const char *path);

/* bpf(): the map commands the data plane can run natively, run natively; everything else (and
 * maps whose data path lives in the server) through shim_bpf_server. Returns the result or
 * -errno. One call from the syscall entry, so the fallback's arguments stay in this function's
 * registers instead of being saved around a second call there. */
long shim_bpf_cmd(int cmd, void *attr_user, unsigned int size);
long shim_bpf_server(int cmd, void *attr, unsigned int size);

/* Loads the agent into the tool's own process (once; after the first call to the server). */
void shim_load_tool_agent(void);

/* Reading and writing the tool's memory without ever faulting: 0 or -EFAULT. uaccess.c: a
 * copy whose faults return -EFAULT (no syscall); conn.c: the process_vm_readv/writev fallback. */
int shim_read_user_syscall(void *dst, const void *src, size_t n);
int shim_write_user_syscall(void *dst, const void *src, size_t n);
/* uaccess.c: the copy routine (0 or -EFAULT), usable once shim_uaccess_ready is set (its fault
 * handler is installed); shim_uaccess_setup installs it, 0 when it cannot (no such routine on
 * this architecture, or sigaction failed). Inline: a map command makes three copies. */
long shim_uaccess_copy(void *dst, const void *src, size_t n);
extern int shim_uaccess_ready;
int shim_uaccess_setup(void);
/* A fault on a thread that blocks SIGSEGV or SIGBUS is not delivered: the kernel kills the
 * process. So the copy routine is used only on a thread known to keep them open, which is what
 * shim_thread_faults caches (SHIM_FAULTS_OPEN; anything else: ask the kernel again). The
 * interposed sigprocmask/pthread_sigmask and the handlers whose sa_mask blocks them reset it
 * (uaccess.c). shim_uaccess_usable_slow: installs the handler, asks, caches; 1 when usable. */
enum { SHIM_FAULTS_UNKNOWN = 0, SHIM_FAULTS_OPEN = 1 };
extern __thread int shim_thread_faults __attribute__((tls_model("initial-exec")));
int shim_uaccess_usable_slow(void);
/* pthread_sigmask for the shim's own changes that keep SIGSEGV/SIGBUS as they were (no reset). */
int shim_sigmask_keep_faults(int how, const sigset_t *set, sigset_t *old);
static inline int shim_uaccess_usable(void)
{
	return __builtin_expect(shim_thread_faults == SHIM_FAULTS_OPEN, 1) || shim_uaccess_usable_slow();
}

#if defined(__x86_64__)
/* 4- and 8-byte accesses (keys and values) inlined where they are made: the one faulting move
 * is listed in the shim_extable section with its fixup, which the fault handler (uaccess.c)
 * resumes at, as the kernel's exception table: -EFAULT, nothing stored. Usable once
 * shim_uaccess_ready is set, like shim_uaccess_copy. A call to the routine per key and value was
 * a twentieth of a map command. The user pointer is a register operand, never a C dereference
 * (which would let the compiler assume it non-NULL); volatile keeps the accesses in order. */
struct shim_extable_entry {
	int32_t insn, fixup; /* offsets from the fields themselves (no relocations) */
};
#define SHIM_EXTABLE(insn, fixup)                                                             \
	".pushsection shim_extable,\"a\"\n\t.balign 4\n\t.long " #insn " - .\n\t.long " #fixup \
	" - .\n\t.popsection\n"
#define SHIM_FIXUP(err)                                                             \
	".pushsection .text.unlikely.shim_fixup,\"ax\"\n"                               \
	"3:\tmovl $-14, %k[" #err "]\n\tjmp 2b\n\t.popsection\n" SHIM_EXTABLE(1b, 3b)

#define SHIM_DEFINE_GET(name, type, suffix)                                                        \
	static inline __attribute__((always_inline)) int name(void *dst, const void *usrc)       \
	{                                                                                          \
		int err = 0;                                                                       \
		type v;                                                                            \
		__asm__ volatile("1:\tmov" suffix " (%[src]), %[v]\n2:\n" SHIM_FIXUP(err)       \
				 : [v] "=r"(v), [err] "+r"(err)                                   \
				 : [src] "r"(usrc));                                               \
		if (__builtin_expect(err == 0, 1))                                                 \
			__builtin_memcpy(dst, &v, sizeof(v));                                      \
		return err;                                                                        \
	}
#define SHIM_DEFINE_PUT(name, type, suffix)                                                        \
	static inline __attribute__((always_inline)) int name(void *udst, const void *src)       \
	{                                                                                          \
		int err = 0;                                                                       \
		type v;                                                                            \
		__builtin_memcpy(&v, src, sizeof(v));                                              \
		__asm__ volatile("1:\tmov" suffix " %[v], (%[dst])\n2:\n" SHIM_FIXUP(err)       \
				 : [err] "+r"(err)                                                 \
				 : [v] "r"(v), [dst] "r"(udst));                                   \
		return err;                                                                        \
	}
/* The 32 attr bytes of an element command (map_fd, its padding, key, value, flags), read field
 * by field: a tool has just stored them that way (memset, then each field), and a load that
 * spans two pending stores cannot take its bytes from the store buffer (a stall of a dozen
 * cycles); one load per field can. Any of the moves faulting is -EFAULT. */
static inline __attribute__((always_inline)) int shim_get_user_attr32(void *dst, const void *usrc)
{
	int err = 0;
	uint32_t fd, pad;
	uint64_t key, value, flags;
	__asm__ volatile("1:\tmovl (%[s]), %[fd]\n"
			 "4:\tmovl 4(%[s]), %[pad]\n"
			 "5:\tmovq 8(%[s]), %[key]\n"
			 "6:\tmovq 16(%[s]), %[value]\n"
			 "7:\tmovq 24(%[s]), %[flags]\n"
			 "2:\n" SHIM_FIXUP(err) SHIM_EXTABLE(4b, 3b) SHIM_EXTABLE(5b, 3b) SHIM_EXTABLE(6b, 3b)
				 SHIM_EXTABLE(7b, 3b)
			 : [fd] "=&r"(fd), [pad] "=&r"(pad), [key] "=&r"(key), [value] "=&r"(value),
			   [flags] "=&r"(flags), [err] "+r"(err)
			 : [s] "r"(usrc));
	if (__builtin_expect(err == 0, 1)) {
		uint8_t *d = dst;
		__builtin_memcpy(d, &fd, 4);
		__builtin_memcpy(d + 4, &pad, 4);
		__builtin_memcpy(d + 8, &key, 8);
		__builtin_memcpy(d + 16, &value, 8);
		__builtin_memcpy(d + 24, &flags, 8);
	}
	return err;
}
SHIM_DEFINE_GET(shim_get_user4, uint32_t, "l")
SHIM_DEFINE_GET(shim_get_user8, uint64_t, "q")
SHIM_DEFINE_PUT(shim_put_user4, uint32_t, "l")
SHIM_DEFINE_PUT(shim_put_user8, uint64_t, "q")
#define SHIM_HAVE_INLINE_UACCESS 1
#else
#define SHIM_HAVE_INLINE_UACCESS 0
#endif

static inline int shim_read_user(void *dst, const void *src, size_t n)
{
	if (n == 0)
		return 0;
	if (!src)
		return -EFAULT;
	if (shim_uaccess_usable())
		return (int)shim_uaccess_copy(dst, src, n);
	return shim_read_user_syscall(dst, src, n);
}

static inline int shim_write_user(void *dst, const void *src, size_t n)
{
	if (n == 0)
		return 0;
	if (!dst)
		return -EFAULT;
	if (shim_uaccess_usable())
		return (int)shim_uaccess_copy(dst, src, n);
	return shim_write_user_syscall(dst, src, n);
}

/* The libc functions we interpose, reached without recursion. */
extern int (*real_close)(int);
#endif
