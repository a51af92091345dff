/* Attachments in this process: from (binary, file offset) to an installed hook that runs the
 * program with the probed thread's registers as its context (struct pt_regs, as on a kernel). */
#include "agent.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "bpftime/attach.h"
#include "bpftime/helpers.h"

struct agent_attachment {
	uint32_t id;
	struct bpftime_probe *probe;
	struct agent_prog *prog;
	uint64_t cookie;
	uintptr_t addr;
	uint16_t *ref_ctr; /* USDT semaphore, incremented while attached */
	int at_frame_push; /* a uprobe on `push %rbp` or `endbr64` (see struct bpftime_run_ctx) */
	struct agent_attachment *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct agent_attachment *g_attached;

enum want_map { WANT_ANY, WANT_EXEC, WANT_PRIVATE_WRITABLE };

/* Where file offset `off` of `path` is mapped in this process with the permissions asked for,
 * or 0. Matches mappings by device and inode, so symlinked or bind-mounted paths agree. */
static uintptr_t file_offset_to_addr(const char *path, uint64_t off, enum want_map want)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return 0;
	char line[PATH_MAX + 128];
	uintptr_t found = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		uintptr_t start, end;
		uint64_t pgoff, ino;
		unsigned maj, min;
		char perms[8];
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %" SCNx64 " %x:%x %" SCNu64, &start, &end, perms, &pgoff,
			   &maj, &min, &ino) != 7)
			continue;
		if (ino != (uint64_t)st.st_ino || makedev(maj, min) != st.st_dev)
			continue;
		if (want == WANT_EXEC && perms[2] != 'x')
			continue;
		if (want == WANT_PRIVATE_WRITABLE && (perms[1] != 'w' || perms[3] != 'p'))
			continue;
		if (off >= pgoff && off < pgoff + (end - start))
			found = start + (off - pgoff);
	}
	fclose(f);
	return found;
}

static int run_program(void *data, struct pt_regs *regs)
{
	struct agent_attachment *a = data;
	if (agent_not_followed_here())
		return BPFTIME_PROBE_CONTINUE;
	struct bpftime_run_ctx rc = { .cookie = a->cookie, .func_ip = a->addr, .regs = regs,
				      .at_frame_push = a->at_frame_push };
	struct bpftime_run_state *s = bpftime_run_state_get();
	struct bpftime_run_ctx *outer = s->ctx;
	bpftime_run_state_switch(s, &rc);
	(void)agent_prog_run(a->prog, (uint64_t)(uintptr_t)regs);
	bpftime_run_state_switch(s, outer);
	/* bpf_override_return (entry probes only: the server refuses it on return probes). */
	return rc.override ? BPFTIME_PROBE_OVERRIDE : BPFTIME_PROBE_CONTINUE;
}

/* Attachments whose binary this process has not mapped (yet): a library loaded later by
 * dlopen gets its probes when it appears, as the kernel's uprobes follow the file (dlwatch.c
 * calls agent_probes_rescan when the loader has mapped new objects). */
struct pending {
	struct bpftime_attach m;
	char *path;
	struct agent_prog *prog;
	int reported; /* the server was told "waiting": a later "attached" report comes after it */
	struct pending *next;
};
static struct pending *g_pending;
/* One rescan at a time, and a detach never misses a pending entry a rescan holds. */
static pthread_mutex_t g_rescan_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_rescan_wanted;
static void rescan_locked(void);

static int attach_now(const struct bpftime_attach *m, const char *path, struct agent_prog *prog, uintptr_t addr,
		      char *err, size_t errlen);

int agent_probe_attach(const struct bpftime_attach *m, const char *path, struct agent_prog *prog, char *err,
		       size_t errlen)
{
	uintptr_t addr = file_offset_to_addr(path, m->offset, WANT_EXEC);
	if (!addr) {
		/* Watch dlopen first: a library that appears from now on is seen (once reported). */
		char why[320] = "";
		if (agent_dlwatch_start(why, sizeof(why)) < 0)
			fprintf(stderr, "bpftime agent: %s\n", why);
		struct pending *p = calloc(1, sizeof(*p));
		if (!p || !(p->path = strdup(path))) {
			free(p);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		p->m = *m;
		p->prog = prog;
		pthread_mutex_lock(&g_lock);
		p->next = g_pending;
		g_pending = p;
		pthread_mutex_unlock(&g_lock);
		snprintf(err, errlen, "waiting: %s is not mapped in this process", path);
		return BPFTIME_ATTACH_WAITING;
	}
	return attach_now(m, path, prog, addr, err, errlen);
}

/* Called with the loader's lock held (dlwatch.c): never waits for g_rescan_lock, whose holder
 * may be waiting for the loader's lock (symbol lookups); it asks the holder to scan again. */
void agent_probes_rescan(void)
{
	__atomic_store_n(&g_rescan_wanted, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&g_rescan_wanted, __ATOMIC_SEQ_CST) && pthread_mutex_trylock(&g_rescan_lock) == 0) {
		__atomic_store_n(&g_rescan_wanted, 0, __ATOMIC_SEQ_CST);
		rescan_locked();
		pthread_mutex_unlock(&g_rescan_lock);
	}
}

static void rescan_locked(void)
{
	pthread_mutex_lock(&g_lock);
	struct pending *list = g_pending, *keep = NULL;
	g_pending = NULL;
	pthread_mutex_unlock(&g_lock);
	while (list) {
		struct pending *p = list;
		list = p->next;
		uintptr_t addr = p->reported ? file_offset_to_addr(p->path, p->m.offset, WANT_EXEC) : 0;
		char msg[256];
		if (!addr) {
			p->next = keep;
			keep = p;
			continue;
		}
		int rc = attach_now(&p->m, p->path, p->prog, addr, msg, sizeof(msg));
		if (rc < 0)
			agent_prog_put(p->prog);
		agent_report(p->m.attach_id, rc, msg);
		free(p->path);
		free(p);
	}
	pthread_mutex_lock(&g_lock);
	while (keep) {
		struct pending *p = keep;
		keep = p->next;
		p->next = g_pending;
		g_pending = p;
	}
	pthread_mutex_unlock(&g_lock);
}

int agent_probe_waiting(uint32_t attach_id)
{
	int found = 0;
	pthread_mutex_lock(&g_lock);
	for (struct pending *p = g_pending; p && !found; p = p->next)
		found = p->m.attach_id == attach_id;
	pthread_mutex_unlock(&g_lock);
	return found;
}

void agent_probes_waiting_reported(void)
{
	pthread_mutex_lock(&g_lock);
	for (struct pending *p = g_pending; p; p = p->next)
		p->reported = 1;
	pthread_mutex_unlock(&g_lock);
	agent_probes_rescan(); /* a library that appeared before these were reported */
}

/* Whether the instruction at file offset `off` of `path` is `push %rbp` or `endbr64`, read from
 * the file (the mapped bytes may already hold another probe's jmp). */
static int insn_pushes_frame(const char *path, uint64_t off)
{
	unsigned char b[4] = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = pread(fd, b, sizeof(b), (off_t)off);
	close(fd);
	return (n >= 1 && b[0] == 0x55) || (n == 4 && b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa);
}

static int attach_now(const struct bpftime_attach *m, const char *path, struct agent_prog *prog, uintptr_t addr,
		      char *err, size_t errlen)
{
	struct agent_attachment *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	a->id = m->attach_id;
	a->prog = prog;
	a->cookie = m->cookie;
	a->addr = addr;
	a->at_frame_push = m->kind != BPFTIME_ATTACH_URETPROBE && insn_pushes_frame(path, m->offset);
	/* The kernel counts the semaphore only where the file is mapped private and writable (its
	 * .data), and otherwise installs the probe without it: bcc 0.26's Python passes stack garbage
	 * as ref_ctr_offset (6 here, which lands in read-only text) and relies on that. */
	if (m->ref_ctr_offset)
		a->ref_ctr = (uint16_t *)file_offset_to_addr(path, m->ref_ctr_offset, WANT_PRIVATE_WRITABLE);
	int rc = bpftime_probe_attach((void *)addr, m->kind == BPFTIME_ATTACH_URETPROBE, run_program, a, &a->probe, err,
				      errlen);
	if (rc < 0) {
		free(a);
		return rc;
	}
	if (a->ref_ctr)
		__atomic_add_fetch(a->ref_ctr, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&g_lock);
	a->next = g_attached;
	g_attached = a;
	pthread_mutex_unlock(&g_lock);
	snprintf(err, errlen, "%s at %p", m->kind == BPFTIME_ATTACH_URETPROBE ? "uretprobe" : "uprobe", (void *)addr);
	return 0;
}

void agent_probe_detach(uint32_t attach_id)
{
	pthread_mutex_lock(&g_rescan_lock);
	pthread_mutex_lock(&g_lock);
	for (struct pending **pp = &g_pending; *pp; pp = &(*pp)->next) {
		if ((*pp)->m.attach_id == attach_id) {
			struct pending *p = *pp;
			*pp = p->next;
			int none_left = g_pending == NULL;
			pthread_mutex_unlock(&g_lock);
			pthread_mutex_unlock(&g_rescan_lock);
			if (__atomic_load_n(&g_rescan_wanted, __ATOMIC_SEQ_CST))
				agent_probes_rescan();
			agent_prog_put(p->prog);
			free(p->path);
			free(p);
			if (none_left)
				agent_dlwatch_stop();
			return;
		}
	}
	struct agent_attachment **pp = &g_attached, *a = NULL;
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->id == attach_id) {
			a = *pp;
			*pp = a->next;
			break;
		}
	int none_left = g_pending == NULL;
	pthread_mutex_unlock(&g_lock);
	pthread_mutex_unlock(&g_rescan_lock);
	if (__atomic_load_n(&g_rescan_wanted, __ATOMIC_SEQ_CST))
		agent_probes_rescan(); /* a loader asked while we held the lock */
	if (none_left)
		agent_dlwatch_stop(); /* nothing waits any more (the last one attached) */
	if (!a)
		return;
	int busy = bpftime_probe_detach(a->probe);
	if (a->ref_ctr)
		__atomic_sub_fetch(a->ref_ctr, 1, __ATOMIC_SEQ_CST);
	agent_prog_put(a->prog);
	/* 0: no thread can still be running the program through this attachment. Otherwise one may
	 * (a handler that outlived the detach's wait): then `a` stays, a few dozen bytes. */
	if (busy == 0)
		free(a);
}

