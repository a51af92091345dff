/* bpf_find_vma(task, addr, callback_fn, callback_ctx, flags): calls
 * callback_fn(task, vma, callback_ctx) with the mapping of the task's process that contains
 * addr, as kernel/bpf/task_iter.c does: 0 after the callback ran, -ENOENT when no mapping holds
 * addr (or task is not a task), -EINVAL for flags != 0.
 *
 * The mapping comes from /proc/<tgid>/maps (the task's process: its tgid is read from the task
 * stand-in, bpf_get_current_task_btf(), through the host's kernel-memory reader). The callback
 * gets a stand-in struct vm_area_struct in the running kernel's layout (bpftime/vma.h):
 * vm_start, vm_end, vm_pgoff, vm_flags (VM_READ/WRITE/EXEC/SHARED from the permissions, with the
 * VM_MAY* bits of a private or shared mapping; the kernel's other bits are not known here) and,
 * for a file mapping, vm_file -> f_path.dentry with d_name (the file's base name) and d_iname.
 * The stand-ins live in a per-thread page, valid while the callback runs; probe_read_kernel
 * reads them as kernel memory (bpftime_vma_standin_read).
 * /proc is read with open/read into stack buffers: this may run inside a probe on malloc. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bpftime/vma.h"
#include "helpers_internal.h"

#define STANDIN_BYTES 16384u
#define NAME_MAX_BYTES 256u
#define VM_READ 0x1ul
#define VM_WRITE 0x2ul
#define VM_EXEC 0x4ul
#define VM_SHARED 0x8ul
#define VM_MAYREAD 0x10ul
#define VM_MAYWRITE 0x20ul
#define VM_MAYEXEC 0x40ul
#define VM_MAYSHARE 0x80ul

static struct bpftime_vma_layout g_l;
static int g_have;
static __thread uint8_t *t_area; /* vma | file | dentry | name, STANDIN_BYTES */

static int32_t fit(int32_t off, uint32_t size, int32_t limit)
{
	return off >= 0 && limit > 0 && (int64_t)off + size <= limit ? off : -1;
}

void bpftime_vma_set_layout(const void *payload, uint32_t len)
{
	struct bpftime_vma_layout l;
	if (len < sizeof(l) || __atomic_load_n(&g_have, __ATOMIC_ACQUIRE))
		return;
	memcpy(&l, payload, sizeof(l));
	if (l.magic != BPFTIME_VMA_LAYOUT_MAGIC || l.vma_size <= 0 || l.file_size <= 0 || l.dentry_size <= 0)
		return;
	/* Everything must fit the per-thread area, with room for a name. */
	uint64_t total = (uint64_t)l.vma_size + l.file_size + l.dentry_size + 3 * 8 + NAME_MAX_BYTES;
	if (total > STANDIN_BYTES)
		return;
	/* Never write outside a stand-in, whatever the message says. */
	l.vm_start = fit(l.vm_start, 8, l.vma_size);
	l.vm_end = fit(l.vm_end, 8, l.vma_size);
	l.vm_flags = fit(l.vm_flags, 8, l.vma_size);
	l.vm_pgoff = fit(l.vm_pgoff, 8, l.vma_size);
	l.vm_file = fit(l.vm_file, 8, l.vma_size);
	l.f_path_dentry = fit(l.f_path_dentry, 8, l.file_size);
	l.d_name_name = fit(l.d_name_name, 8, l.dentry_size);
	l.d_name_len = fit(l.d_name_len, 4, l.dentry_size);
	if (l.d_iname_len <= 0)
		l.d_iname = -1;
	l.d_iname = fit(l.d_iname, (uint32_t)(l.d_iname_len > 0 ? l.d_iname_len : 0), l.dentry_size);
	g_l = l;
	__atomic_store_n(&g_have, 1, __ATOMIC_RELEASE);
}

static inline uint64_t r8(uint64_t x) { return (x + 7) & ~7ull; }

long bpftime_vma_standin_read(void *dst, const void *src, uint32_t n, int str)
{
	uintptr_t a = (uintptr_t)src, base = (uintptr_t)t_area;
	if (!t_area || a < base || a >= base + STANDIN_BYTES)
		return -1;
	size_t avail = base + STANDIN_BYTES - a;
	if (!str) {
		if (n > avail)
			return -1;
		memcpy(dst, src, n);
		return 0;
	}
	if (n == 0)
		return 0;
	size_t max = n < avail ? n : avail;
	const char *nul = memchr(src, 0, max);
	size_t k = nul ? (size_t)(nul - (const char *)src) + 1 : max;
	memcpy(dst, src, k);
	if (!nul) {
		((char *)dst)[k - 1] = 0;
	}
	return (long)k;
}

static inline void put64(uint8_t *s, int32_t off, uint64_t v)
{
	if (off >= 0)
		memcpy(s + off, &v, 8);
}

static inline void put32(uint8_t *s, int32_t off, uint32_t v)
{
	if (off >= 0)
		memcpy(s + off, &v, 4);
}

/* One /proc/<pid>/maps entry. */
struct map_line {
	uint64_t start, end, offset, inode;
	char perms[5];
	const char *path; /* in the caller's buffer, NUL-terminated; "" when none */
};

static int parse_line(char *line, struct map_line *m)
{
	unsigned long long s, e, off, ino;
	unsigned maj, min;
	int pos = 0;
	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &s, &e, m->perms, &off, &maj, &min, &ino, &pos) < 7)
		return -1;
	m->start = s;
	m->end = e;
	m->offset = off;
	m->inode = ino;
	m->path = pos > 0 ? line + pos : "";
	return 0;
}

struct mapping_search {
	uint64_t addr;
	struct map_line *out;
	char *path_buf;
	size_t path_cap;
};

static int mapping_line(char *line, void *ctx)
{
	struct mapping_search *q = ctx;
	struct map_line m;
	if (parse_line(line, &m) != 0 || q->addr < m.start || q->addr >= m.end)
		return 0;
	*q->out = m;
	snprintf(q->path_buf, q->path_cap, "%s", m.path);
	q->out->path = q->path_buf;
	return 1;
}

/* Finds the mapping of process tgid (0: this one) containing addr; 0 or -ENOENT. */
static int find_mapping(uint32_t tgid, uint64_t addr, struct map_line *out, char *path_buf, size_t path_cap)
{
	char file[64];
	if (tgid)
		snprintf(file, sizeof(file), "/proc/%u/maps", tgid);
	else
		strcpy(file, "/proc/self/maps");
	struct mapping_search q = { addr, out, path_buf, path_cap };
	return bpftime_file_each_line(file, mapping_line, &q) == 1 ? 0 : -ENOENT;
}

/* Builds the stand-ins for m in this thread's area; returns the vma stand-in. */
static uint8_t *build(const struct map_line *m)
{
	const struct bpftime_vma_layout *l = &g_l;
	uint8_t *vma = t_area, *file = vma + r8((uint64_t)l->vma_size);
	uint8_t *dentry = file + r8((uint64_t)l->file_size);
	char *name = (char *)dentry + r8((uint64_t)l->dentry_size);
	memset(t_area, 0, STANDIN_BYTES);
	uint64_t flags = 0;
	if (m->perms[0] == 'r')
		flags |= VM_READ;
	if (m->perms[1] == 'w')
		flags |= VM_WRITE;
	if (m->perms[2] == 'x')
		flags |= VM_EXEC;
	if (m->perms[3] == 's')
		flags |= VM_SHARED | VM_MAYSHARE;
	flags |= VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
	put64(vma, l->vm_start, m->start);
	put64(vma, l->vm_end, m->end);
	put64(vma, l->vm_flags, flags);
	put64(vma, l->vm_pgoff, m->offset / 4096);
	/* A file mapping has an inode and a path (not "[heap]"-style pseudo names). */
	if (m->inode && m->path[0] == '/') {
		const char *base = strrchr(m->path, '/') + 1;
		size_t len = strlen(base);
		const char *del = len >= 10 ? base + len - 10 : NULL;
		if (del && strcmp(del, " (deleted)") == 0)
			len -= 10;
		if (len >= NAME_MAX_BYTES)
			len = NAME_MAX_BYTES - 1;
		memcpy(name, base, len);
		name[len] = 0;
		put64(vma, l->vm_file, (uintptr_t)file);
		put64(file, l->f_path_dentry, (uintptr_t)dentry);
		put64(dentry, l->d_name_name, (uintptr_t)name);
		put32(dentry, l->d_name_len, (uint32_t)len);
		if (l->d_iname >= 0 && (size_t)l->d_iname_len > len) /* short names live inline */
			memcpy(dentry + l->d_iname, name, len + 1);
	}
	return vma;
}

/* (task, addr, callback_fn, callback_ctx, flags) */
BPFTIME_HELPER(find_vma)
{
	if (r5)
		return (uint64_t)(int64_t)-EINVAL;
	if (!__atomic_load_n(&g_have, __ATOMIC_ACQUIRE))
		return (uint64_t)(int64_t)-EOPNOTSUPP;
	/* The task's process, read as kernel memory from the stand-in (not a task: -ENOENT). */
	uint32_t tgid = 0;
	const struct bpftime_helper_host *host = bpftime_helpers_host();
	if (!r1 || g_l.task_tgid < 0 || !host->kernel_read ||
	    host->kernel_read(&tgid, (const void *)(uintptr_t)(r1 + (uint64_t)g_l.task_tgid), 4, 0) < 0 || !tgid)
		return (uint64_t)(int64_t)-ENOENT;
	if (!t_area) {
		void *p = mmap(NULL, STANDIN_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return (uint64_t)(int64_t)-ENOMEM;
		t_area = p;
	}
	struct map_line m;
	char path[512];
	uint32_t self = (uint32_t)(bpftime_current_pid_tgid() >> 32);
	if (find_mapping(tgid == self ? 0 : tgid, r2, &m, path, sizeof(path)))
		return (uint64_t)(int64_t)-ENOENT;
	uint8_t *vma = build(&m);
	uint64_t ret;
	bpftime_helper_callback(r3, r1, (uint64_t)(uintptr_t)vma, r4, 0, &ret);
	return 0;
}
