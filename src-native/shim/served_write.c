/* Writes to served tracefs files opened for writing (uprobe_events). The kernel parses each
 * write() to such a file when it is made and fails it with the command's errno (EINVAL for bad
 * syntax, ENOENT for a missing binary, EEXIST, EBUSY), so every write on such an fd goes to the
 * server synchronously (BPFTIME_OP_WRITE) instead of into the memfd the open returned.
 *
 * The fds are few and short-lived (bcc opens, writes one line, closes), so a small table keyed
 * by fd number is enough (an entry also remembers the file, so a number closed behind our back
 * and reused is not taken for ours); close, dup2/dup3/dup and fcntl(F_DUPFD) keep it true (a shell's
 * `echo ... >> uprobe_events` writes through a dup2'd stdout). write(), writev() and the
 * positioned writes are interposed; stdio's internal writes (fwrite, fprintf) call the kernel
 * from inside libc and reach the memfd.
 *
 * The same table keeps the fds of pinned maps opened as files (bpffs.c): the kernel's bpffs
 * seq_file does not seek (lseek is ESPIPE whatever the whence; pread still reads from the start),
 * while the memfd holding the text would. */
#undef _FILE_OFFSET_BITS /* this file defines pwrite and pwrite64 itself (see interpose.c) */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bpftime/client.h"
#include "bpftime/proto.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_SERVED_FDS 64

/* The fds of served files this process holds, by kind: writers (path: the file, for the server)
 * and streams (pinned maps read as files). Each entry also names the file the fd was (device and
 * inode): an fd closed behind our back (fclose's internal close, a raw syscall) whose number is
 * reused for another file is told apart, and forgotten, when it is next looked up. */
enum served_kind { SERVED_NONE, SERVED_WRITER, SERVED_STREAM };
static struct served {
	int fd;
	enum served_kind kind;
	char *path; /* writers only */
	dev_t dev;
	ino_t ino;
} g_served[MAX_SERVED_FDS];
static int g_count; /* read without the lock on every write() and lseek(): zero almost always */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* fstat without our own interposition of it. */
static int file_id(int fd, dev_t *dev, ino_t *ino)
{
	struct stat st;
	if (bpftime_raw_syscall(SYS_fstat, fd, (long)&st, 0, 0, 0, 0) < 0)
		return -1;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

static void forget_slot_locked(struct served *e)
{
	free(e->path);
	*e = (struct served){ 0 };
	__atomic_sub_fetch(&g_count, 1, __ATOMIC_RELEASE);
}

static struct served *find_locked(int fd)
{
	for (int i = 0; i < MAX_SERVED_FDS; i++)
		if (g_served[i].kind != SERVED_NONE && g_served[i].fd == fd)
			return &g_served[i];
	return NULL;
}

static void forget_locked(int fd)
{
	struct served *e = find_locked(fd);
	if (e)
		forget_slot_locked(e);
}

/* fd's entry if it is still the file it was, else NULL (a stale entry is dropped). */
static struct served *find_valid_locked(int fd)
{
	struct served *e = find_locked(fd);
	dev_t dev;
	ino_t ino;
	if (e && (file_id(fd, &dev, &ino) < 0 || dev != e->dev || ino != e->ino)) {
		forget_slot_locked(e);
		e = NULL;
	}
	return e;
}

static int track_locked(int fd, enum served_kind kind, const char *path)
{
	forget_locked(fd);
	dev_t dev;
	ino_t ino;
	if (file_id(fd, &dev, &ino) < 0)
		return -EBADF;
	for (int i = 0; i < MAX_SERVED_FDS; i++) {
		struct served *e = &g_served[i];
		if (e->kind != SERVED_NONE)
			continue;
		char *copy = path ? strdup(path) : NULL;
		if (path && !copy)
			return -ENOMEM;
		*e = (struct served){ fd, kind, copy, dev, ino };
		__atomic_add_fetch(&g_count, 1, __ATOMIC_RELEASE);
		return 0;
	}
	return -EMFILE;
}

static int track(int fd, enum served_kind kind, const char *path)
{
	pthread_mutex_lock(&g_lock);
	int r = track_locked(fd, kind, path);
	pthread_mutex_unlock(&g_lock);
	return r;
}

int served_write_track(int fd, const char *path) { return track(fd, SERVED_WRITER, path); }

/* More than 64 at once: the rest seek as the memfd does. */
void served_stream_track(int fd) { (void)track(fd, SERVED_STREAM, NULL); }

static int is_stream(int fd)
{
	if (!__atomic_load_n(&g_count, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&g_lock);
	struct served *e = find_valid_locked(fd);
	int r = e && e->kind == SERVED_STREAM;
	pthread_mutex_unlock(&g_lock);
	return r;
}

void served_write_forget(int fd)
{
	/* a vfork child's close is its own: the table is its parent's */
	if (!__atomic_load_n(&g_count, __ATOMIC_ACQUIRE) || shim_in_memory_sharing_child())
		return;
	pthread_mutex_lock(&g_lock);
	forget_locked(fd);
	pthread_mutex_unlock(&g_lock);
}

void served_write_dup(int oldfd, int newfd)
{
	if (!__atomic_load_n(&g_count, __ATOMIC_ACQUIRE) || oldfd == newfd)
		return;
	pthread_mutex_lock(&g_lock);
	struct served *e = find_locked(oldfd);
	if (e) {
		track_locked(newfd, e->kind, e->path);
	} else {
		forget_locked(newfd); /* dup2 over one of ours closed it */
	}
	pthread_mutex_unlock(&g_lock);
}

/* The served path fd was opened on for writing, into path; 0 when fd is not such an fd. */
static int served_path(int fd, char *path, size_t size)
{
	if (!__atomic_load_n(&g_count, __ATOMIC_ACQUIRE))
		return 0;
	path[0] = 0;
	pthread_mutex_lock(&g_lock);
	struct served *e = find_valid_locked(fd);
	if (e && e->kind == SERVED_WRITER)
		strncpy(path, e->path, size - 1);
	pthread_mutex_unlock(&g_lock);
	path[size - 1] = 0;
	return path[0] != 0;
}

/* One write() on a served file, as its kernel write handler runs: the bytes written or -errno. */
static long send_write(const char *path, const void *buf, size_t len)
{
	uint64_t args[6] = { (uint64_t)(uintptr_t)path, (uint64_t)(uintptr_t)buf, (uint64_t)len };
	return shim_call(BPFTIME_OP_WRITE, args, path, strlen(path) + 1, (uint64_t)(uintptr_t)path);
}

static ssize_t result(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (ssize_t)r;
}

/* writev() on a served file: these files have only a .write handler, so the kernel calls it once
 * per segment (do_loop_readv_writev) and stops at the first that fails or writes short; bytes
 * already written win over a later error. */
static long send_writev(const char *path, const struct iovec *iov, int cnt)
{
	if (cnt < 0 || cnt > IOV_MAX)
		return -EINVAL;
	struct iovec seg;
	long done = 0;
	for (int i = 0; i < cnt; i++) {
		if (shim_read_user(&seg, &iov[i], sizeof(seg)) < 0)
			return done ? done : -EFAULT;
		if ((ssize_t)seg.iov_len < 0)
			return -EINVAL;
		if (!seg.iov_len)
			continue;
		long r = send_write(path, seg.iov_base, seg.iov_len);
		if (r < 0)
			return done ? done : r;
		done += r;
		if ((size_t)r < seg.iov_len)
			break;
	}
	return done;
}

/* A positioned write on a served file: uprobe_events and kprobe_events are seq_files, whose
 * open clears FMODE_PWRITE (ESPIPE); the others have no write handler at all (EINVAL, as the
 * server answers their writes). Offset -1 (pwritev/pwritev2) means "the current position",
 * which is a plain writev. */
static long pwrite_errno(const char *path)
{
	size_t n = strlen(path);
	int seq = (n >= 14 && strcmp(path + n - 14, "/uprobe_events") == 0) || (n >= 14 && strcmp(path + n - 14, "/kprobe_events") == 0);
	return seq ? -ESPIPE : -EINVAL;
}
#define SERVED_PWRITE_ERRNO(path) pwrite_errno(path)

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*pwritev2_fn)(int, const struct iovec *, int, off_t, int);

#define NEXT(type, name)                                  \
	static type real_##name;                           \
	if (!real_##name)                                  \
		real_##name = (type)dlsym(RTLD_NEXT, #name)

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	char path[4096];
	if (served_path(fd, path, sizeof(path)))
		return result(send_write(path, buf, len));
	NEXT(write_fn, write);
	return real_write(fd, buf, len);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	char path[4096];
	if (served_path(fd, path, sizeof(path)))
		return result(send_writev(path, iov, cnt));
	NEXT(writev_fn, writev);
	return real_writev(fd, iov, cnt);
}

#define PWRITE(name)                                                                   \
	EXPORT ssize_t name(int fd, const void *buf, size_t len, off_t off)          \
	{                                                                              \
		char path[4096];                                                       \
		if (served_path(fd, path, sizeof(path)))                               \
			return result(SERVED_PWRITE_ERRNO(path));                           \
		NEXT(pwrite_fn, name);                                                 \
		return real_##name(fd, buf, len, off);                                 \
	}
#define PWRITEV(name)                                                                          \
	EXPORT ssize_t name(int fd, const struct iovec *iov, int cnt, off_t off)             \
	{                                                                                      \
		char path[4096];                                                               \
		if (served_path(fd, path, sizeof(path)))                                       \
			return result(off == -1 ? send_writev(path, iov, cnt) : SERVED_PWRITE_ERRNO(path)); \
		NEXT(pwritev_fn, name);                                                        \
		return real_##name(fd, iov, cnt, off);                                         \
	}
#define PWRITEV2(name)                                                                               \
	EXPORT ssize_t name(int fd, const struct iovec *iov, int cnt, off_t off, int flags)        \
	{                                                                                            \
		char path[4096];                                                                     \
		if (served_path(fd, path, sizeof(path))) {                                           \
			if (flags & ~(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND))    \
				return result(-EOPNOTSUPP);                                          \
			return result(off == -1 ? send_writev(path, iov, cnt) : SERVED_PWRITE_ERRNO(path)); \
		}                                                                                    \
		NEXT(pwritev2_fn, name);                                                             \
		return real_##name(fd, iov, cnt, off, flags);                                        \
	}
/* off_t is 64 bits on x86-64: the *64 names are the same functions. */
PWRITE(pwrite)
PWRITE(pwrite64)
PWRITEV(pwritev)
PWRITEV(pwritev64)
PWRITEV2(pwritev2)
PWRITEV2(pwritev64v2)

typedef off_t (*lseek_fn)(int, off_t, int);

#define LSEEK(name)                                        \
	EXPORT off_t name(int fd, off_t off, int whence)   \
	{                                                  \
		if (is_stream(fd)) {                       \
			errno = ESPIPE;                    \
			return -1;                         \
		}                                          \
		NEXT(lseek_fn, name);                      \
		return real_##name(fd, off, whence);       \
	}
LSEEK(lseek)
LSEEK(lseek64)
