/* Namespaces of the task stand-ins (task.c): task->nsproxy points to a stand-in of the kernel's
 * struct nsproxy, whose namespace pointers point to stand-ins of struct uts_namespace,
 * mnt_namespace, net, ... each as large as the running kernel's and laid out by its BTF
 * (struct bpftime_ns_layout, from src-ts/btf/ns_layout.ts). What they hold:
 *   ns.inum             the id /proc/thread-self/ns/<name> shows (readlink), read again
 *                       whenever a program reads it: unshare/setns change it
 *   uts_namespace.name  uname()'s, read again whenever a program reads it
 * The rest is zero. One set per process (its threads share namespaces unless one of them
 * unshares, and then the thread reading sees its own ids: they come from thread-self). The
 * memory is copied into fork children, where the pointers stay valid and the ids are read again
 * at each read. The parent process's stand-in has no nsproxy (its namespaces are not ours to
 * know cheaply): reads through it fail as reads of a NULL pointer do.
 *
 * Runs inside programs anywhere in the target: no malloc, no stdio, no locks. */
#include "task_ns.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bpftime/proto.h"
#include "bpftime/task_ns.h"
#include "bpftime/vma.h"

#define MAX_NS_STRUCT (64u << 10) /* a sanity bound on what the server says */

static const char *const ns_names[BPFTIME_NS_KINDS] = {
	"uts", "ipc", "mnt", "pid_for_children", "net", "time", "time_for_children", "cgroup",
};

static struct bpftime_ns_layout g_nl;
static int32_t g_task_nsproxy = -1; /* where task->nsproxy goes, -1: no stand-ins */
static uint8_t *g_area;             /* nsproxy, then each namespace struct */
static size_t g_area_bytes;
static uint8_t *g_ns[BPFTIME_NS_KINDS]; /* each namespace's stand-in in g_area, NULL: none */

static int32_t fit(int32_t off, uint32_t size, int32_t limit)
{
	return off >= 0 && limit > 0 && (uint64_t)off + size <= (uint64_t)limit ? off : -1;
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

/* ns.inum from /proc/thread-self/ns/<name> ("mnt:[4026531841]"); 0 when it cannot be read (a
 * kernel without that namespace has no such entry). */
static uint32_t read_inum(int kind)
{
	char path[48] = "/proc/thread-self/ns/", link[64];
	size_t p = strlen(path);
	for (const char *s = ns_names[kind]; *s && p < sizeof(path) - 1; s++)
		path[p++] = *s;
	path[p] = 0;
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = 0;
	const char *c = strchr(link, '[');
	uint64_t v = 0;
	for (c = c ? c + 1 : link + n; *c >= '0' && *c <= '9'; c++)
		v = v * 10 + (uint64_t)(*c - '0');
	return v <= 0xffffffffu ? (uint32_t)v : 0;
}

static void refresh_inum(int kind)
{
	if (g_ns[kind] && g_nl.ns[kind].inum >= 0) {
		uint32_t v = read_inum(kind);
		memcpy(g_ns[kind] + g_nl.ns[kind].inum, &v, 4);
	}
}

static void refresh_uts_name(void)
{
	struct utsname u;
	if (!g_ns[BPFTIME_NS_UTS] || g_nl.uts_name < 0 || uname(&u) != 0)
		return;
	/* struct new_utsname and glibc's struct utsname: six char[65] in the same order */
	size_t n = sizeof(u) < (size_t)g_nl.uts_name_size ? sizeof(u) : (size_t)g_nl.uts_name_size;
	memcpy(g_ns[BPFTIME_NS_UTS] + g_nl.uts_name, &u, n);
}

void agent_task_ns_refresh(void)
{
	for (int k = 0; k < BPFTIME_NS_KINDS; k++)
		refresh_inum(k);
	refresh_uts_name();
}

void agent_task_ns_set_layout(const void *payload, uint32_t len, uint32_t task_size)
{
	size_t at = sizeof(struct bpftime_task_layout) + sizeof(struct bpftime_vma_layout);
	if (g_area || len < at + sizeof(struct bpftime_ns_layout))
		return;
	struct bpftime_ns_layout l;
	memcpy(&l, (const uint8_t *)payload + at, sizeof(l));
	if (l.magic != BPFTIME_NS_LAYOUT_MAGIC || l.nsproxy_size <= 0 || (uint32_t)l.nsproxy_size > MAX_NS_STRUCT)
		return;
	/* Never write outside a stand-in, whatever the message says. */
	size_t bytes = round64((size_t)l.nsproxy_size);
	for (int k = 0; k < BPFTIME_NS_KINDS; k++) {
		if (l.ns[k].size <= 0 || (uint32_t)l.ns[k].size > MAX_NS_STRUCT || fit(l.ns[k].field, 8, l.nsproxy_size) < 0) {
			l.ns[k].size = 0;
			continue;
		}
		l.ns[k].inum = fit(l.ns[k].inum, 4, l.ns[k].size);
		bytes += round64((size_t)l.ns[k].size);
	}
	l.uts_name = l.ns[BPFTIME_NS_UTS].size ? fit(l.uts_name, (uint32_t)l.uts_name_size, l.ns[BPFTIME_NS_UTS].size) : -1;
	int32_t nsproxy = fit(l.task_nsproxy, 8, (int32_t)task_size);
	if (nsproxy < 0)
		return;
	uint8_t *area = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return;
	g_nl = l;
	size_t off = round64((size_t)l.nsproxy_size);
	for (int k = 0; k < BPFTIME_NS_KINDS; k++) {
		if (!l.ns[k].size)
			continue;
		g_ns[k] = area + off;
		uint64_t p = (uint64_t)(uintptr_t)g_ns[k];
		memcpy(area + l.ns[k].field, &p, 8);
		off += round64((size_t)l.ns[k].size);
	}
	g_area_bytes = bytes;
	agent_task_ns_refresh();
	g_task_nsproxy = nsproxy;
	__atomic_store_n(&g_area, area, __ATOMIC_RELEASE);
}

void agent_task_ns_put(uint8_t *task)
{
	uint8_t *area = __atomic_load_n(&g_area, __ATOMIC_ACQUIRE);
	if (area) {
		uint64_t p = (uint64_t)(uintptr_t)area;
		memcpy(task + g_task_nsproxy, &p, 8);
	}
}

static int overlaps(size_t off, size_t len, int32_t field, size_t size)
{
	return field >= 0 && off < (size_t)field + size && (size_t)field < off + len;
}

long agent_task_ns_read(void *dst, const void *src, uint32_t n, int str)
{
	uint8_t *area = __atomic_load_n(&g_area, __ATOMIC_ACQUIRE);
	uintptr_t a = (uintptr_t)src;
	if (!area || a < (uintptr_t)area || a >= (uintptr_t)area + g_area_bytes)
		return -1;
	/* Which struct: nsproxy (kind -1) or a namespace; the padding between them is no kernel memory. */
	uint8_t *base = area;
	size_t size = (size_t)g_nl.nsproxy_size;
	int kind = -1;
	for (int k = 0; k < BPFTIME_NS_KINDS; k++) {
		if (g_ns[k] && a >= (uintptr_t)g_ns[k]) {
			base = g_ns[k];
			size = (size_t)g_nl.ns[k].size;
			kind = k;
		}
	}
	size_t off = a - (uintptr_t)base;
	if (off >= size)
		return -1;
	size_t avail = size - off, want = str ? (n < avail ? n : avail) : n;
	if (!str && n > avail)
		return -1;
	if (kind >= 0 && overlaps(off, want, g_nl.ns[kind].inum, 4))
		refresh_inum(kind);
	if (kind == BPFTIME_NS_UTS && overlaps(off, want, g_nl.uts_name, (size_t)g_nl.uts_name_size))
		refresh_uts_name();
	if (!str) {
		memcpy(dst, base + off, n);
		return 0;
	}
	/* strncpy_from_kernel_nofault, as task.c's reads */
	const uint8_t *nul = memchr(base + off, 0, want);
	if (nul) {
		size_t k = (size_t)(nul - (base + off)) + 1;
		memcpy(dst, base + off, k);
		return (long)k;
	}
	if (n > avail || n == 0)
		return n == 0 ? 0 : -1;
	memcpy(dst, base + off, n - 1);
	((char *)dst)[n - 1] = 0;
	return (long)n;
}
