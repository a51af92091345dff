// What the *_calls.c differential programs share: the raw bpf() call, errno names, the one line
// each step prints, and element commands. The e2e tests run each program on the kernel and under
// the shim and require the same lines, so a step prints only what both must agree on.
// Include after <errno.h>, <linux/bpf.h>, <stdio.h>, with _GNU_SOURCE defined (strerrorname_np).
#ifndef BPF_CALLS_UTIL_H
#define BPF_CALLS_UTIL_H
#include <errno.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline long sys_bpf(int cmd, union bpf_attr *attr, unsigned size) { return syscall(SYS_bpf, cmd, attr, size); }

/* The errno's name; 524 is the kernel-internal ENOTSUPP that bpf() returns for some commands. */
static inline const char *ename(int e)
{
	static char buf[32];
	const char *n = e == 524 ? "ENOTSUPP" : strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "errno%d", e);
	return buf;
}

/* "<name>: <errno name>" on failure, else "<name>: <r>" (show) or "<name>: ok". Returns r. */
static inline long report(const char *name, long r, int show)
{
	if (r < 0)
		printf("%s: %s\n", name, ename(errno));
	else if (show)
		printf("%s: %ld\n", name, r);
	else
		printf("%s: ok\n", name);
	return r;
}

/* An element command (lookup, update, delete, get_next_key, lookup_and_delete). */
static inline long elem(int cmd, int fd, const void *k, void *v, uint64_t flags)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	a.value = (uintptr_t)v;
	a.flags = flags;
	return sys_bpf(cmd, &a, sizeof(a));
}

/* BPF_MAP_CREATE with a full-size attr: every field not named here is zero (inner: the template
 * map's fd for ARRAY_OF_MAPS/HASH_OF_MAPS, else 0). */
static inline int create_map_with(int type, int ksz, int vsz, int max, int flags, uint64_t extra, int inner)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = ksz;
	a.value_size = vsz;
	a.max_entries = max;
	a.map_flags = flags;
	a.map_extra = extra;
	a.inner_map_fd = inner;
	return (int)sys_bpf(BPF_MAP_CREATE, &a, sizeof(a));
}

static inline int create_map(int type, int ksz, int vsz, int max, int flags, uint64_t extra)
{
	return create_map_with(type, ksz, vsz, max, flags, extra, 0);
}

static inline int create_map_of_maps(int type, int ksz, int vsz, int max, int flags, int inner)
{
	return create_map_with(type, ksz, vsz, max, flags, 0, inner);
}

/* The id of the map, program or link behind fd (BPF_OBJ_GET_INFO_BY_FD), 0 when that fails:
 * their info structs all begin with type and id, and the kernel copies what fits in info_len. */
static inline uint32_t id_of_obj(int fd)
{
	struct bpf_map_info info;
	union bpf_attr a;
	memset(&info, 0, sizeof(info));
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = fd;
	a.info.info_len = sizeof(info);
	a.info.info = (uintptr_t)&info;
	return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)) ? 0 : info.id;
}

/* Loads a KPROBE program (what uprobes run); on failure prints the verifier's log to stderr. */
static inline int load_kprobe_insns(const struct bpf_insn *p, unsigned n)
{
	static char log[65536];
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_KPROBE;
	a.insns = (uintptr_t)p;
	a.insn_cnt = n;
	a.license = (uintptr_t) "GPL";
	a.log_buf = (uintptr_t)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	int fd = (int)sys_bpf(BPF_PROG_LOAD, &a, sizeof(union bpf_attr));
	if (fd < 0)
		fprintf(stderr, "prog load: %s\n%s\n", strerror(errno), log);
	return fd;
}

/* The integer a file starts with (a sysfs or tracefs number), -1 when it has none. */
static inline int read_int(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = -1;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* The file offset of `fn` in this binary, from /proc/self/maps. */
static inline uint64_t self_file_offset(void *fn)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	uint64_t r = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e, off;
		if (sscanf(line, "%lx-%lx %*s %lx", &s, &e, &off) == 3 && (uintptr_t)fn >= s && (uintptr_t)fn < e) {
			r = off + ((uintptr_t)fn - s);
			break;
		}
	}
	if (f)
		fclose(f);
	return r;
}

/* A uprobe perf event on `fn` of this process (the uprobe PMU, as libbpf opens it), with no
 * program yet; its fd, or -1. */
static inline int open_self_uprobe(void *fn)
{
	int type = read_int("/sys/bus/event_source/devices/uprobe/type");
	if (type < 0)
		return -1;
	static char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -1;
	exe[n] = 0;
	struct perf_event_attr pa;
	memset(&pa, 0, sizeof(pa));
	pa.size = sizeof(pa);
	pa.type = type;
	pa.config1 = (uintptr_t)exe;
	pa.config2 = self_file_offset(fn);
	return (int)syscall(SYS_perf_event_open, &pa, getpid(), -1, -1, PERF_FLAG_FD_CLOEXEC);
}

/* A uprobe on `fn` of this process running prog_fd, enabled; the perf event's fd, or -1. */
static inline int attach_self_uprobe(int prog_fd, void *fn)
{
	int fd = open_self_uprobe(fn);
	if (fd < 0 || ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd) < 0 || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) < 0)
		return -1;
	return fd;
}
#endif
