/* Writes to served tracefs files opened for writing (uprobe_events). The kernel parses each
 * write() to such a file when it is made and fails it with the command's errno (EINVAL for bad
 * syntax, ENOENT for a missing binary, EEXIST, EBUSY), so every write on such an fd goes to the
 * server synchronously (BPFTIME_OP_WRITE) instead of into the memfd the open returned.
 *
 * The fds are few and short-lived (bcc opens, writes one line, closes), so a small table keyed
 * by fd number is enough; close, dup2/dup3/dup and fcntl(F_DUPFD) keep it true (a shell's
 * `echo ... >> uprobe_events` writes through a dup2'd stdout). Only write() is interposed:
 * stdio's internal writes and writev/pwrite reach the memfd, as for any file we do not serve. */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpftime/proto.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_SERVED_WRITERS 64

static struct {
	int fd;
	char *path;
} g_writers[MAX_SERVED_WRITERS];
static int g_count; /* read without the lock on every write(): zero almost always */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static int find_locked(int fd)
{
	for (int i = 0; i < MAX_SERVED_WRITERS; i++)
		if (g_writers[i].path && g_writers[i].fd == fd)
			return i;
	return -1;
}

static void forget_locked(int fd)
{
	int i = find_locked(fd);
	if (i >= 0) {
		free(g_writers[i].path);
		g_writers[i].path = NULL;
		__atomic_sub_fetch(&g_count, 1, __ATOMIC_RELEASE);
	}
}

static int track_locked(int fd, const char *path)
{
	forget_locked(fd);
	for (int i = 0; i < MAX_SERVED_WRITERS; i++) {
		if (g_writers[i].path)
			continue;
		g_writers[i].path = strdup(path);
		if (!g_writers[i].path)
			return -ENOMEM;
		g_writers[i].fd = fd;
		__atomic_add_fetch(&g_count, 1, __ATOMIC_RELEASE);
		return 0;
	}
	return -EMFILE;
}

int served_write_track(int fd, const char *path)
{
	pthread_mutex_lock(&g_lock);
	int r = track_locked(fd, path);
	pthread_mutex_unlock(&g_lock);
	return r;
}

void served_write_forget(int fd)
{
	if (!__atomic_load_n(&g_count, __ATOMIC_ACQUIRE))
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
	int i = find_locked(oldfd);
	if (i >= 0) {
		char *path = strdup(g_writers[i].path);
		if (path)
			track_locked(newfd, path);
		free(path);
	} else {
		forget_locked(newfd); /* dup2 over one of ours closed it */
	}
	pthread_mutex_unlock(&g_lock);
}

typedef ssize_t (*write_fn)(int, const void *, size_t);

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	static write_fn real;
	if (__atomic_load_n(&g_count, __ATOMIC_ACQUIRE)) {
		char path[4096];
		path[0] = 0;
		pthread_mutex_lock(&g_lock);
		int i = find_locked(fd);
		if (i >= 0)
			strncpy(path, g_writers[i].path, sizeof(path) - 1);
		pthread_mutex_unlock(&g_lock);
		if (path[0]) {
			path[sizeof(path) - 1] = 0;
			uint64_t args[6] = { (uint64_t)(uintptr_t)path, (uint64_t)(uintptr_t)buf, (uint64_t)len };
			long r = shim_call(BPFTIME_OP_WRITE, args, path, strlen(path) + 1, (uint64_t)(uintptr_t)path);
			if (r < 0) {
				errno = (int)-r;
				return -1;
			}
			return (ssize_t)r;
		}
	}
	if (!real)
		real = (write_fn)dlsym(RTLD_NEXT, "write");
	return real(fd, buf, len);
}
