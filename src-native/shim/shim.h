/* Internal interfaces of the shim (libbpftime-syscall-server.so), the library preloaded into
 * stock tools. interpose.c catches the calls; fdtab.c knows which fds are our objects;
 * conn.c talks to the server; data_plane.c runs map commands natively on shared memory. */
#ifndef BPFTIME_SHIM_H
#define BPFTIME_SHIM_H
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
	void *region;            /* maps: the mapped memfd (header page + region) */
	size_t region_size;
	void *ring;              /* perf buffers: where the tool mapped the ring (its first page) */
	int waitfd;              /* perf buffers: the eventfd to wait on in its place, -1 until asked */
	struct shim_obj *next;
};

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

/* Server calls. Returns the syscall result (>= 0) or -errno. */
long shim_call(uint32_t op, const uint64_t args[6], const void *first_blob, size_t first_len,
	       uint64_t first_addr);
void shim_release(uint64_t ino);

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

/* Data plane: handles the bpf() map commands it can run natively; returns 1 and sets *ret when
 * handled, 0 when the command must go to the server. */
int shim_data_plane(int cmd, void *attr_user, unsigned int size, long *ret);

/* Loads the agent into the tool's own process (once; after the first call to the server). */
void shim_load_tool_agent(void);

/* Reading and writing the tool's memory without ever faulting: 0 or -EFAULT. uaccess.c: a
 * recoverable memcpy (no syscall); conn.c: the process_vm_readv/writev fallback. */
int shim_read_user(void *dst, const void *src, size_t n);
int shim_write_user(void *dst, const void *src, size_t n);
int shim_read_user_syscall(void *dst, const void *src, size_t n);
int shim_write_user_syscall(void *dst, const void *src, size_t n);

/* The libc functions we interpose, reached without recursion. */
extern int (*real_close)(int);
#endif
