// The bpf() commands around objects, run once on the kernel and once under the shim by
// test/e2e/cmds-differential.test.ts, which requires the same lines: ids and fds (GET_NEXT_ID,
// GET_FD_BY_ID), pins (OBJ_PIN, OBJ_GET), map batches, link and attach commands, TASK_FD_QUERY and
// OBJ_GET_INFO_BY_FD for every kind. Only what must agree is printed: ids, fds and addresses as
// relations, never as numbers; values the kernel computes from its JIT (jited_prog_len) are left
// out.
//
// Usage: bpf_cmds <directory on a bpf filesystem, for pins>
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf_calls_util.h"

/* "name: ok" (or the value when show is set) or "name: ERRNO". */

static int map_create(int type, int ksz, int vsz, int max, const char *name)
{
	union bpf_attr a = { 0 };
	a.map_type = type;
	a.key_size = ksz;
	a.value_size = vsz;
	a.max_entries = max;
	if (name)
		strncpy(a.map_name, name, sizeof(a.map_name) - 1);
	return (int)sys_bpf(BPF_MAP_CREATE, &a, sizeof(a));
}

static int prog_load(int type, const char *name)
{
	static const struct bpf_insn ok[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a = { 0 };
	a.prog_type = type;
	a.insns = (uintptr_t)ok;
	a.insn_cnt = 2;
	a.license = (uintptr_t) "GPL";
	if (name)
		strncpy(a.prog_name, name, sizeof(a.prog_name) - 1);
	return (int)sys_bpf(BPF_PROG_LOAD, &a, sizeof(a));
}

/* A minimal BTF: one type, "int" (id 1). */
static unsigned char btf_blob[sizeof(struct btf_header) + 16 + 5];

static int btf_load(void)
{
	struct btf_header *h = (void *)btf_blob;
	h->magic = BTF_MAGIC;
	h->version = BTF_VERSION;
	h->hdr_len = sizeof(*h);
	h->type_off = 0;
	h->type_len = 16;
	h->str_off = 16;
	h->str_len = 5;
	uint32_t *t = (uint32_t *)(btf_blob + sizeof(*h));
	t[0] = 1;                    /* name_off: "int" */
	t[1] = BTF_KIND_INT << 24;   /* info */
	t[2] = 4;                    /* size */
	t[3] = (BTF_INT_SIGNED << 24) | 32;
	memcpy(btf_blob + sizeof(*h) + 16, "\0int\0", 5);
	union bpf_attr a = { 0 };
	a.btf = (uintptr_t)btf_blob;
	a.btf_size = sizeof(btf_blob);
	return (int)sys_bpf(BPF_BTF_LOAD, &a, sizeof(a));
}

static int info(int fd, void *buf, uint32_t len, uint32_t *len_out)
{
	union bpf_attr a = { 0 };
	a.info.bpf_fd = fd;
	a.info.info_len = len;
	a.info.info = (uintptr_t)buf;
	int r = (int)sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a));
	if (len_out)
		*len_out = a.info.info_len;
	return r;
}

static uint32_t map_id(int fd)
{
	struct bpf_map_info i = { 0 };
	return info(fd, &i, sizeof(i), NULL) ? 0 : i.id;
}

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info i = { 0 };
	return info(fd, &i, sizeof(i), NULL) ? 0 : i.id;
}

static uint32_t link_id(int fd)
{
	struct bpf_link_info i = { 0 };
	return info(fd, &i, sizeof(i), NULL) ? 0 : i.id;
}

static uint32_t btf_id(int fd)
{
	struct bpf_btf_info i = { 0 };
	return info(fd, &i, sizeof(i), NULL) ? 0 : i.id;
}

static long next_id(int cmd, uint32_t start, uint32_t *next)
{
	union bpf_attr a = { 0 };
	a.start_id = start;
	long r = sys_bpf(cmd, &a, sizeof(a));
	*next = a.next_id;
	return r;
}

static int fd_by_id(int cmd, uint32_t id, uint32_t open_flags)
{
	union bpf_attr a = { 0 };
	a.map_id = id;
	a.open_flags = open_flags;
	return (int)sys_bpf(cmd, &a, sizeof(a));
}

static char self[PATH_MAX];

static int uprobe_open(int retprobe, uint64_t offset)
{
	int type = read_int("/sys/bus/event_source/devices/uprobe/type");
	struct perf_event_attr pa = { 0 };
	pa.size = sizeof(pa);
	pa.type = type;
	pa.config = retprobe ? 1 : 0; /* the retprobe bit is config:0 */
	pa.config1 = (uintptr_t)self;
	pa.config2 = offset;
	return (int)syscall(SYS_perf_event_open, &pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
}

static int perf_link(int prog, int event)
{
	union bpf_attr a = { 0 };
	a.link_create.prog_fd = prog;
	a.link_create.target_fd = event;
	a.link_create.attach_type = BPF_PERF_EVENT;
	return (int)sys_bpf(BPF_LINK_CREATE, &a, sizeof(a));
}

/* ---- ids ---- */

static void ids(void)
{
	int ma = map_create(BPF_MAP_TYPE_HASH, 4, 8, 4, "ids_a");
	int mb = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 4, "ids_b");
	uint32_t a = map_id(ma), b = map_id(mb), n = 0;
	printf("map ids: a>0 %d, b>a %d\n", a > 0, b > a);
	report("map next from a-1", next_id(BPF_MAP_GET_NEXT_ID, a - 1, &n), 1);
	printf("map next from a-1 is a: %d\n", n == a);
	report("map next from a", next_id(BPF_MAP_GET_NEXT_ID, a, &n), 1);
	printf("map next from a in (a, b]: %d\n", n > a && n <= b);
	report("map next from INT_MAX", next_id(BPF_MAP_GET_NEXT_ID, INT_MAX, &n), 1);
	report("map next from INT_MAX-1", next_id(BPF_MAP_GET_NEXT_ID, INT_MAX - 1, &n), 1);
	union bpf_attr at = { 0 };
	at.start_id = 0;
	at.open_flags = 1;
	report("next id with a non-zero open_flags", sys_bpf(BPF_MAP_GET_NEXT_ID, &at, sizeof(at)), 1);

	int fd = (int)report("map fd by id", fd_by_id(BPF_MAP_GET_FD_BY_ID, a, 0), 0);
	printf("map fd by id: new fd %d, same id %d\n", fd != ma, map_id(fd) == a);
	struct bpf_map_info mi = { 0 };
	info(fd, &mi, sizeof(mi), NULL);
	printf("map by id: type %u key %u value %u max %u name %s\n", mi.type, mi.key_size, mi.value_size,
	       mi.max_entries, mi.name);
	close(fd);
	report("map fd by id 0", fd_by_id(BPF_MAP_GET_FD_BY_ID, 0, 0), 1);
	report("map fd by unused id", fd_by_id(BPF_MAP_GET_FD_BY_ID, INT_MAX - 1, 0), 1);
	report("map fd by id RDONLY|WRONLY", fd_by_id(BPF_MAP_GET_FD_BY_ID, a, BPF_F_RDONLY | BPF_F_WRONLY), 1);
	report("map fd by id unknown flag", fd_by_id(BPF_MAP_GET_FD_BY_ID, a, 1 << 20), 1);
	fd = (int)report("map fd by id RDONLY", fd_by_id(BPF_MAP_GET_FD_BY_ID, a, BPF_F_RDONLY), 0);
	close(fd);

	int p = prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "ids_prog");
	uint32_t pid = prog_id(p), pn = 0;
	report("prog next from id-1", next_id(BPF_PROG_GET_NEXT_ID, pid - 1, &pn), 1);
	printf("prog next from id-1 is id: %d\n", pn == pid);
	fd = (int)report("prog fd by id", fd_by_id(BPF_PROG_GET_FD_BY_ID, pid, 0), 0);
	struct bpf_prog_info pi = { 0 };
	info(fd, &pi, sizeof(pi), NULL);
	printf("prog by id: same id %d, type %u, name %s\n", pi.id == pid, pi.type, pi.name);
	close(fd);
	report("prog fd by id with open_flags", fd_by_id(BPF_PROG_GET_FD_BY_ID, pid, BPF_F_RDONLY), 1);
	report("prog fd by id 0", fd_by_id(BPF_PROG_GET_FD_BY_ID, 0, 0), 1);

	int btf = (int)report("btf load", btf_load(), 0);
	uint32_t bid = btf_id(btf), bn = 0;
	report("btf next from id-1", next_id(BPF_BTF_GET_NEXT_ID, bid - 1, &bn), 1);
	printf("btf next from id-1 is id: %d\n", bn == bid);
	fd = (int)report("btf fd by id", fd_by_id(BPF_BTF_GET_FD_BY_ID, bid, 0), 0);
	printf("btf by id: same id %d\n", btf_id(fd) == bid);
	close(fd);
	report("btf fd by id with open_flags", fd_by_id(BPF_BTF_GET_FD_BY_ID, bid, BPF_F_RDONLY), 1);

	/* Ids go with the object: closing the last fd frees the id. */
	int mc = map_create(BPF_MAP_TYPE_HASH, 4, 4, 1, NULL);
	uint32_t c = map_id(mc);
	close(mc);
	report("map fd by id after close", fd_by_id(BPF_MAP_GET_FD_BY_ID, c, 0), 1);
	int pc = prog_load(BPF_PROG_TYPE_SOCKET_FILTER, NULL);
	uint32_t cp = prog_id(pc);
	close(pc);
	report("prog fd by id after close", fd_by_id(BPF_PROG_GET_FD_BY_ID, cp, 0), 1);
	/* ... but an fd obtained by id keeps it alive. */
	int md = map_create(BPF_MAP_TYPE_HASH, 4, 4, 1, NULL);
	uint32_t d = map_id(md);
	int md2 = fd_by_id(BPF_MAP_GET_FD_BY_ID, d, 0);
	close(md);
	printf("map kept by an fd from its id: %d\n", map_id(md2) == d);
	close(md2);

	close(btf);
	close(p);
	close(ma);
	close(mb);
}

/* ---- pins ---- */

static long pin(int fd, const char *path, uint32_t flags)
{
	union bpf_attr a = { 0 };
	a.bpf_fd = fd;
	a.pathname = (uintptr_t)path;
	a.file_flags = flags;
	return sys_bpf(BPF_OBJ_PIN, &a, sizeof(a));
}

static int get(const char *path, uint32_t flags)
{
	union bpf_attr a = { 0 };
	a.pathname = (uintptr_t)path;
	a.file_flags = flags;
	return (int)sys_bpf(BPF_OBJ_GET, &a, sizeof(a));
}

static void pins(const char *dir)
{
	char pm[PATH_MAX], pp[PATH_MAX], pl[PATH_MAX], px[PATH_MAX + 8], pk[PATH_MAX], pc[PATH_MAX];
	snprintf(pm, sizeof(pm), "%s/cmds_map", dir);
	snprintf(pp, sizeof(pp), "%s/cmds_prog", dir);
	snprintf(pl, sizeof(pl), "%s/cmds_link", dir);
	snprintf(pk, sizeof(pk), "%s/cmds_keep", dir);
	snprintf(pc, sizeof(pc), "%s/cmds_child", dir);
	int m = map_create(BPF_MAP_TYPE_HASH, 4, 8, 4, "pinned");
	int p = prog_load(BPF_PROG_TYPE_KPROBE, "pinned_prog");
	int ev = uprobe_open(0, 0x1000);
	int l = perf_link(p, ev);
	int btf = btf_load();
	report("pin map", pin(m, pm, 0), 1);
	report("pin map again", pin(m, pm, 0), 1);
	report("pin prog", pin(p, pp, 0), 1);
	report("pin link", pin(l, pl, 0), 1);
	snprintf(px, sizeof(px), "%s/cmds_btf", dir);
	report("pin btf", pin(btf, px, 0), 1);
	snprintf(px, sizeof(px), "%s/cmds_event", dir);
	report("pin perf event", pin(ev, px, 0), 1);
	report("pin closed fd", pin(900, px, 0), 1);
	int nul = open("/dev/null", O_RDONLY);
	report("pin /dev/null", pin(nul, px, 0), 1);
	report("pin with file_flags", pin(m, px, BPF_F_RDONLY), 1);
	report("pin NULL path", pin(m, NULL, 0), 1);
	report("pin empty path", pin(m, "", 0), 1);
	snprintf(px, sizeof(px), "%s/missing/x", dir);
	report("pin in missing dir", pin(m, px, 0), 1);
	snprintf(px, sizeof(px), "%s/x", pm);
	report("pin under a pin", pin(m, px, 0), 1);
	report("pin outside bpffs", pin(m, "/tmp/bpf_cmds_not_bpffs", 0), 1);
	report("pin over an existing file", pin(m, "/tmp", 0), 1);
	report("pin in nonexistent root dir", pin(m, "/nonexistent-bpf-cmds/x", 0), 1);

	int g = (int)report("get map", get(pm, 0), 0);
	printf("get map: same id %d\n", map_id(g) == map_id(m));
	close(g);
	g = (int)report("get prog", get(pp, 0), 0);
	printf("get prog: same id %d\n", prog_id(g) == prog_id(p));
	close(g);
	g = (int)report("get link", get(pl, 0), 0);
	printf("get link: same id %d\n", link_id(g) == link_id(l));
	close(g);
	g = (int)report("get map RDONLY", get(pm, BPF_F_RDONLY), 0);
	close(g);
	g = (int)report("get prog RDONLY", get(pp, BPF_F_RDONLY), 0);
	close(g);
	report("get link RDONLY", get(pl, BPF_F_RDONLY), 1);
	report("get RDONLY|WRONLY", get(pm, BPF_F_RDONLY | BPF_F_WRONLY), 1);
	report("get unknown flag", get(pm, 1 << 20), 1);
	union bpf_attr a = { 0 };
	a.pathname = (uintptr_t)pm;
	a.bpf_fd = m;
	report("get with bpf_fd set", sys_bpf(BPF_OBJ_GET, &a, sizeof(a)), 1);
	snprintf(px, sizeof(px), "%s/cmds_missing", dir);
	report("get missing", get(px, 0), 1);
	report("get the bpffs directory", get(dir, 0), 1);
	report("get a real directory", get("/tmp", 0), 1);
	report("get nonexistent", get("/nonexistent-bpf-cmds/x", 0), 1);
	report("get NULL path", get(NULL, 0), 1);

	/* A relative path is the caller's cwd's. */
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = 0;
	if (chdir(dir) == 0) {
		g = (int)report("get relative", get("cmds_map", 0), 0);
		printf("get relative: same id %d\n", map_id(g) == map_id(m));
		close(g);
		if (chdir(cwd))
			perror("chdir");
	}

	/* A pin holds a reference: the object outlives its fds... */
	int k = map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1, "kept");
	uint32_t kid = map_id(k);
	report("pin kept", pin(k, pk, 0), 1);
	close(k);
	g = (int)report("get kept after close", get(pk, 0), 0);
	printf("kept: same id %d, fd by id ok %d\n", map_id(g) == kid, fd_by_id(BPF_MAP_GET_FD_BY_ID, kid, 0) >= 0);
	close(g);
	/* ... and the process that pinned it. */
	uint32_t cid = 0;
	int pfd[2];
	if (pipe(pfd))
		return;
	pid_t child = fork();
	if (child == 0) {
		int cm = map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1, "child");
		uint32_t id = map_id(cm);
		long r = pin(cm, pc, 0);
		if (write(pfd[1], &id, sizeof(id)) != sizeof(id) || r)
			_exit(1);
		_exit(0);
	}
	int st = 0;
	waitpid(child, &st, 0);
	if (read(pfd[0], &cid, sizeof(cid)) != sizeof(cid))
		cid = 0;
	g = (int)report("get what an exited process pinned", get(pc, 0), 0);
	printf("child's map: same id %d\n", cid && map_id(g) == cid);
	close(g);
	close(pfd[0]);
	close(pfd[1]);
	close(nul);
	close(btf);
	close(l);
	close(ev);
	close(p);
	close(m);
}

/* ---- batches ---- */

static long batch(int cmd, int fd, void *in, void *out, void *keys, void *values, uint32_t *count, uint64_t elem_flags,
		  uint64_t flags)
{
	union bpf_attr a = { 0 };
	a.batch.map_fd = fd;
	a.batch.in_batch = (uintptr_t)in;
	a.batch.out_batch = (uintptr_t)out;
	a.batch.keys = (uintptr_t)keys;
	a.batch.values = (uintptr_t)values;
	a.batch.count = *count;
	a.batch.elem_flags = elem_flags;
	a.batch.flags = flags;
	long r = sys_bpf(cmd, &a, sizeof(a));
	*count = a.batch.count;
	return r;
}

static void batches(void)
{
	int h = map_create(BPF_MAP_TYPE_HASH, 4, 8, 16, "batch_hash");
	uint32_t keys[32];
	uint64_t vals[32];
	uint32_t n;
	for (int i = 0; i < 10; i++) {
		keys[i] = i + 1;
		vals[i] = (i + 1) * 100;
	}
	n = 10;
	report("hash update batch", batch(BPF_MAP_UPDATE_BATCH, h, NULL, NULL, keys, vals, &n, 0, 0), 1);
	printf("hash update batch count: %u\n", n);
	n = 0;
	report("hash update batch count 0", batch(BPF_MAP_UPDATE_BATCH, h, NULL, NULL, keys, vals, &n, 0, 0), 1);
	n = 1;
	report("hash update batch BPF_F_LOCK", batch(BPF_MAP_UPDATE_BATCH, h, NULL, NULL, keys, vals, &n, BPF_F_LOCK, 0), 1);
	n = 1;
	report("hash update batch bad elem_flags", batch(BPF_MAP_UPDATE_BATCH, h, NULL, NULL, keys, vals, &n, 1 << 5, 0), 1);
	n = 3;
	report("hash update batch bad keys pointer", batch(BPF_MAP_UPDATE_BATCH, h, NULL, NULL, (void *)8, vals, &n, 0, 0), 1);
	printf("hash update batch bad keys count: %u\n", n);

	/* Everything at once. */
	uint32_t out = 0, ok[32];
	uint64_t ov[32];
	memset(ok, 0, sizeof(ok));
	n = 32;
	report("hash lookup batch all", batch(BPF_MAP_LOOKUP_BATCH, h, NULL, &out, ok, ov, &n, 0, 0), 1);
	uint32_t ksum = 0, good = 1;
	for (uint32_t i = 0; i < n; i++) {
		ksum += ok[i];
		good &= ov[i] == ok[i] * 100;
	}
	printf("hash lookup batch all: count %u, key sum %u, values match %u\n", n, ksum, good);
	/* In small steps, following out_batch. A call returns whole buckets: one holding more
	 * elements than asked for is ENOSPC, and the caller asks again for more (as bpftool does).
	 * Which keys share a bucket depends on the map's random hash seed, on a kernel too. */
	uint32_t cursor = 0, total = 0, seen[32] = { 0 }, dup = 0, step = 3;
	long r;
	int calls = 0, first = 1;
	do {
		n = step;
		r = batch(BPF_MAP_LOOKUP_BATCH, h, first ? NULL : &cursor, &cursor, ok, ov, &n, 0, 0);
		if (r < 0 && errno == ENOSPC && step < 32) {
			step *= 2;
			r = 0;
			continue;
		}
		first = 0;
		for (uint32_t i = 0; i < n; i++) {
			if (ok[i] < 32 && seen[ok[i]]++)
				dup++;
			total++;
		}
	} while (r == 0 && ++calls < 100);
	printf("hash lookup batch by 3: total %u, duplicates %u, end %s\n", total, dup, r < 0 ? ename(errno) : "ok");
	uint32_t past = 0xffffffff;
	n = 4;
	report("hash lookup batch cursor past the end", batch(BPF_MAP_LOOKUP_BATCH, h, &past, &out, ok, ov, &n, 0, 0), 1);
	printf("past the end count: %u\n", n);
	n = 4;
	report("hash lookup batch flags", batch(BPF_MAP_LOOKUP_BATCH, h, NULL, &out, ok, ov, &n, 0, 1), 1);
	n = 4;
	report("hash lookup batch BPF_F_LOCK", batch(BPF_MAP_LOOKUP_BATCH, h, NULL, &out, ok, ov, &n, BPF_F_LOCK, 0), 1);
	n = 0;
	report("hash lookup batch count 0", batch(BPF_MAP_LOOKUP_BATCH, h, NULL, &out, ok, ov, &n, 0, 0), 1);

	uint32_t del[3] = { 1, 2, 3 };
	n = 3;
	report("hash delete batch", batch(BPF_MAP_DELETE_BATCH, h, NULL, NULL, del, NULL, &n, 0, 0), 1);
	printf("hash delete batch count: %u\n", n);
	uint32_t del2[3] = { 4, 99, 5 };
	n = 3;
	report("hash delete batch with a missing key", batch(BPF_MAP_DELETE_BATCH, h, NULL, NULL, del2, NULL, &n, 0, 0), 1);
	printf("hash delete batch with a missing key count: %u\n", n);
	n = 32;
	report("hash lookup and delete batch", batch(BPF_MAP_LOOKUP_AND_DELETE_BATCH, h, NULL, &out, ok, ov, &n, 0, 0), 1);
	ksum = 0;
	for (uint32_t i = 0; i < n; i++)
		ksum += ok[i];
	printf("hash lookup and delete batch: count %u, key sum %u\n", n, ksum);
	n = 32;
	report("hash lookup batch when empty", batch(BPF_MAP_LOOKUP_BATCH, h, NULL, &out, ok, ov, &n, 0, 0), 1);
	printf("hash lookup batch when empty count: %u\n", n);
	/* Lookup-and-delete in steps drains the map too. */
	for (int i = 0; i < 10; i++) {
		keys[i] = i + 1;
		vals[i] = i;
	}
	n = 10;
	batch(BPF_MAP_UPDATE_BATCH, h, NULL, NULL, keys, vals, &n, 0, 0);
	total = 0;
	first = 1;
	calls = 0;
	do {
		n = 4;
		r = batch(BPF_MAP_LOOKUP_AND_DELETE_BATCH, h, first ? NULL : &cursor, &cursor, ok, ov, &n, 0, 0);
		first = 0;
		total += n;
	} while (r == 0 && ++calls < 100);
	n = 32;
	batch(BPF_MAP_LOOKUP_BATCH, h, NULL, &out, ok, ov, &n, 0, 0);
	printf("hash lookup and delete by 4: total %u, end %s, left %u\n", total, r < 0 ? ename(errno) : "ok", n);

	/* Arrays: the generic walk, with keys as cursors. */
	int ar = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 4, "batch_array");
	for (int i = 0; i < 4; i++) {
		keys[i] = i;
		vals[i] = 10 + i;
	}
	n = 4;
	report("array update batch", batch(BPF_MAP_UPDATE_BATCH, ar, NULL, NULL, keys, vals, &n, 0, 0), 1);
	keys[2] = 7;
	n = 4;
	report("array update batch out of range", batch(BPF_MAP_UPDATE_BATCH, ar, NULL, NULL, keys, vals, &n, 0, 0), 1);
	printf("array update batch out of range count: %u\n", n);
	uint32_t acur = 0xdead;
	n = 2;
	r = report("array lookup batch 1", batch(BPF_MAP_LOOKUP_BATCH, ar, NULL, &acur, ok, ov, &n, 0, 0), 1);
	printf("array lookup batch 1: count %u, keys %u %u, values %llu %llu, out %u\n", n, ok[0], ok[1],
	       (unsigned long long)ov[0], (unsigned long long)ov[1], acur);
	n = 2;
	report("array lookup batch 2", batch(BPF_MAP_LOOKUP_BATCH, ar, &acur, &acur, ok, ov, &n, 0, 0), 1);
	printf("array lookup batch 2: count %u, keys %u %u, out %u\n", n, ok[0], ok[1], acur);
	n = 2;
	acur = 3;
	uint32_t aout = 0xdead;
	report("array lookup batch 3", batch(BPF_MAP_LOOKUP_BATCH, ar, &acur, &aout, ok, ov, &n, 0, 0), 1);
	printf("array lookup batch 3: count %u, out untouched %d\n", n, aout == 0xdead);
	acur = 9;
	n = 2;
	report("array lookup batch from out of range", batch(BPF_MAP_LOOKUP_BATCH, ar, &acur, &aout, ok, ov, &n, 0, 0), 1);
	printf("array lookup batch from out of range: count %u, first key %u\n", n, ok[0]);
	n = 10;
	report("array lookup batch all", batch(BPF_MAP_LOOKUP_BATCH, ar, NULL, &aout, ok, ov, &n, 0, 0), 1);
	printf("array lookup batch all: count %u, out %u\n", n, aout);
	n = 2;
	report("array delete batch", batch(BPF_MAP_DELETE_BATCH, ar, NULL, NULL, keys, NULL, &n, 0, 0), 1);
	n = 2;
	report("array lookup and delete batch", batch(BPF_MAP_LOOKUP_AND_DELETE_BATCH, ar, NULL, &aout, ok, ov, &n, 0, 0), 1);

	/* Frozen: syscall-side writes are refused, reads go on. */
	union bpf_attr a = { 0 };
	a.map_fd = ar;
	report("array freeze", sys_bpf(BPF_MAP_FREEZE, &a, sizeof(a)), 1);
	report("array freeze again", sys_bpf(BPF_MAP_FREEZE, &a, sizeof(a)), 1);
	n = 1;
	report("frozen update batch", batch(BPF_MAP_UPDATE_BATCH, ar, NULL, NULL, keys, vals, &n, 0, 0), 1);
	n = 4;
	report("frozen lookup batch", batch(BPF_MAP_LOOKUP_BATCH, ar, NULL, &aout, ok, ov, &n, 0, 0), 1);
	memset(&a, 0, sizeof(a));
	uint32_t k0 = 0;
	uint64_t v0 = 5;
	a.map_fd = ar;
	a.key = (uintptr_t)&k0;
	a.value = (uintptr_t)&v0;
	report("frozen update elem", sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a)), 1);
	report("frozen lookup elem", sys_bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof(a)), 1);
	printf("frozen value unchanged: %d\n", v0 == 10);
	memset(&a, 0, sizeof(a));
	a.map_fd = h;
	sys_bpf(BPF_MAP_FREEZE, &a, sizeof(a));
	n = 1;
	report("frozen hash delete batch", batch(BPF_MAP_DELETE_BATCH, h, NULL, NULL, del, NULL, &n, 0, 0), 1);
	n = 1;
	report("frozen hash lookup and delete batch", batch(BPF_MAP_LOOKUP_AND_DELETE_BATCH, h, NULL, &out, ok, ov, &n, 0, 0), 1);

	int p = prog_load(BPF_PROG_TYPE_SOCKET_FILTER, NULL);
	n = 1;
	report("lookup batch on a prog", batch(BPF_MAP_LOOKUP_BATCH, p, NULL, &out, ok, ov, &n, 0, 0), 1);
	n = 1;
	report("lookup batch on a closed fd", batch(BPF_MAP_LOOKUP_BATCH, 900, NULL, &out, ok, ov, &n, 0, 0), 1);
	char big[sizeof(union bpf_attr) + 8];
	memset(big, 0, sizeof(big));
	union bpf_attr *ba = (void *)big;
	ba->batch.map_fd = h;
	ba->batch.count = 1;
	ba->batch.keys = (uintptr_t)ok;
	ba->batch.values = (uintptr_t)ov;
	big[offsetof(union bpf_attr, batch.flags) + 8] = 1;
	report("batch with bytes after flags", sys_bpf(BPF_MAP_LOOKUP_BATCH, ba, offsetof(union bpf_attr, batch.flags) + 16), 1);
	close(p);
	close(ar);
	close(h);
}

/* ---- links, attach commands ---- */

static void links(void)
{
	int p = prog_load(BPF_PROG_TYPE_KPROBE, "link_prog");
	int p2 = prog_load(BPF_PROG_TYPE_KPROBE, "link_prog2");
	int sf = prog_load(BPF_PROG_TYPE_SOCKET_FILTER, NULL);
	int ev = uprobe_open(0, 0x1000);
	int l = (int)report("perf link", perf_link(p, ev), 0);
	uint32_t lid = link_id(l), ln = 0;
	report("link next from id-1", next_id(BPF_LINK_GET_NEXT_ID, lid - 1, &ln), 1);
	printf("link next from id-1 is id: %d\n", ln == lid);
	int fd = (int)report("link fd by id", fd_by_id(BPF_LINK_GET_FD_BY_ID, lid, 0), 0);
	struct bpf_link_info li = { 0 };
	uint32_t len = 0;
	report("link info", info(fd, &li, sizeof(li), &len), 1);
	printf("link info: type %u, same id %d, prog matches %d, info_len %u\n", li.type, li.id == lid,
	       li.prog_id == prog_id(p), len);
	close(fd);
	report("link fd by id with open_flags", fd_by_id(BPF_LINK_GET_FD_BY_ID, lid, BPF_F_RDONLY), 1);

	union bpf_attr a = { 0 };
	a.link_update.link_fd = l;
	a.link_update.new_prog_fd = p2;
	report("link update perf link", sys_bpf(BPF_LINK_UPDATE, &a, sizeof(a)), 1);
	a.link_update.flags = 99;
	report("link update bad flags", sys_bpf(BPF_LINK_UPDATE, &a, sizeof(a)), 1);
	a.link_update.flags = 0;
	a.link_update.old_prog_fd = p;
	report("link update old_prog_fd without REPLACE", sys_bpf(BPF_LINK_UPDATE, &a, sizeof(a)), 1);
	a.link_update.old_prog_fd = 0;
	a.link_update.link_fd = p;
	report("link update on a prog", sys_bpf(BPF_LINK_UPDATE, &a, sizeof(a)), 1);
	a.link_update.link_fd = 900;
	report("link update on a closed fd", sys_bpf(BPF_LINK_UPDATE, &a, sizeof(a)), 1);
	a.link_update.link_fd = l;
	a.link_update.new_prog_fd = 900;
	report("link update with a closed prog fd", sys_bpf(BPF_LINK_UPDATE, &a, sizeof(a)), 1);

	memset(&a, 0, sizeof(a));
	a.link_detach.link_fd = l;
	report("link detach perf link", sys_bpf(BPF_LINK_DETACH, &a, sizeof(a)), 1);
	a.link_detach.link_fd = p;
	report("link detach on a prog", sys_bpf(BPF_LINK_DETACH, &a, sizeof(a)), 1);
	a.link_detach.link_fd = 900;
	report("link detach on a closed fd", sys_bpf(BPF_LINK_DETACH, &a, sizeof(a)), 1);

	memset(&a, 0, sizeof(a));
	a.iter_create.link_fd = l;
	report("iter create on a perf link", sys_bpf(BPF_ITER_CREATE, &a, sizeof(a)), 1);
	a.iter_create.flags = 1;
	report("iter create with flags", sys_bpf(BPF_ITER_CREATE, &a, sizeof(a)), 1);
	a.iter_create.flags = 0;
	a.iter_create.link_fd = 900;
	report("iter create on a closed fd", sys_bpf(BPF_ITER_CREATE, &a, sizeof(a)), 1);

	memset(&a, 0, sizeof(a));
	a.attach_type = BPF_CGROUP_INET_INGRESS;
	a.attach_bpf_fd = sf;
	a.target_fd = 0;
	report("prog attach socket filter to cgroup", sys_bpf(BPF_PROG_ATTACH, &a, sizeof(a)), 1);
	a.attach_type = 9999;
	report("prog attach unknown attach type", sys_bpf(BPF_PROG_ATTACH, &a, sizeof(a)), 1);
	a.attach_type = BPF_PERF_EVENT;
	a.attach_bpf_fd = p;
	report("prog attach perf event type", sys_bpf(BPF_PROG_ATTACH, &a, sizeof(a)), 1);
	a.attach_type = BPF_CGROUP_INET_INGRESS;
	a.attach_bpf_fd = 900;
	report("prog attach closed prog fd", sys_bpf(BPF_PROG_ATTACH, &a, sizeof(a)), 1);
	a.attach_bpf_fd = sf;
	a.attach_flags = 1 << 10;
	report("prog attach unknown flags", sys_bpf(BPF_PROG_ATTACH, &a, sizeof(a)), 1);
	memset(&a, 0, sizeof(a));
	a.attach_type = 9999;
	report("prog detach unknown attach type", sys_bpf(BPF_PROG_DETACH, &a, sizeof(a)), 1);
	memset(&a, 0, sizeof(a));
	a.query.attach_type = 9999;
	report("prog query unknown attach type", sys_bpf(BPF_PROG_QUERY, &a, sizeof(a)), 1);
	a.query.attach_type = BPF_CGROUP_INET_INGRESS;
	a.query.query_flags = 2;
	report("prog query unknown flags", sys_bpf(BPF_PROG_QUERY, &a, sizeof(a)), 1);

	int rtp = prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, NULL);
	memset(&a, 0, sizeof(a));
	a.raw_tracepoint.name = (uintptr_t) "no_such_tracepoint_bpf_cmds";
	a.raw_tracepoint.prog_fd = rtp;
	report("raw tracepoint open unknown tracepoint", sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &a, sizeof(a)), 1);
	a.raw_tracepoint.name = 8;
	report("raw tracepoint open bad name pointer", sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &a, sizeof(a)), 1);
	a.raw_tracepoint.name = (uintptr_t) "sched_switch";
	a.raw_tracepoint.prog_fd = sf;
	report("raw tracepoint open socket filter", sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &a, sizeof(a)), 1);
	a.raw_tracepoint.prog_fd = 900;
	report("raw tracepoint open closed fd", sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &a, sizeof(a)), 1);

	close(rtp);
	close(l);
	close(ev);
	close(sf);
	close(p2);
	close(p);
}

/* ---- TASK_FD_QUERY ---- */

static long fd_query(pid_t pid, int fd, char *buf, uint32_t buf_len, union bpf_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->task_fd_query.pid = pid;
	a->task_fd_query.fd = fd;
	a->task_fd_query.buf = (uintptr_t)buf;
	a->task_fd_query.buf_len = buf_len;
	return sys_bpf(BPF_TASK_FD_QUERY, a, sizeof(*a));
}

static void task_fd_query(void)
{
	int p = prog_load(BPF_PROG_TYPE_KPROBE, "query_prog");
	int ev = uprobe_open(0, 0x1000);
	int rev = uprobe_open(1, 0x1100);
	int bare = uprobe_open(0, 0x1200);
	struct bpf_insn dummy;
	(void)dummy;
	ioctl(ev, PERF_EVENT_IOC_SET_BPF, p);
	int l = perf_link(p, rev);
	union bpf_attr a;
	char buf[PATH_MAX];
	memset(buf, 'x', sizeof(buf));
	report("query uprobe", fd_query(getpid(), ev, buf, sizeof(buf), &a), 1);
	printf("query uprobe: fd_type %u, offset %#llx, addr %#llx, prog matches %d, buf is the path %d, buf_len is its length %d\n",
	       a.task_fd_query.fd_type, (unsigned long long)a.task_fd_query.probe_offset,
	       (unsigned long long)a.task_fd_query.probe_addr, a.task_fd_query.prog_id == prog_id(p), strcmp(buf, self) == 0,
	       a.task_fd_query.buf_len == strlen(self));
	report("query uretprobe (linked)", fd_query(getpid(), rev, buf, sizeof(buf), &a), 1);
	printf("query uretprobe: fd_type %u, offset %#llx\n", a.task_fd_query.fd_type,
	       (unsigned long long)a.task_fd_query.probe_offset);
	memset(buf, 'x', sizeof(buf));
	report("query with a short buffer", fd_query(getpid(), ev, buf, 4, &a), 1);
	printf("short buffer: 3 bytes of the path %d, then NUL %d, buf_len is the length %d, fd_type %u\n",
	       memcmp(buf, self, 3) == 0, buf[3] == 0,
	       a.task_fd_query.buf_len == strlen(self), a.task_fd_query.fd_type);
	report("query without a buffer", fd_query(getpid(), ev, NULL, 0, &a), 1);
	printf("no buffer: buf_len is the length %d\n", a.task_fd_query.buf_len == strlen(self));
	report("query event without a program", fd_query(getpid(), bare, buf, sizeof(buf), &a), 1);
	int m = map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1, NULL);
	report("query a map fd", fd_query(getpid(), m, buf, sizeof(buf), &a), 1);
	report("query a link fd", fd_query(getpid(), l, buf, sizeof(buf), &a), 1);
	int nul = open("/dev/null", O_RDONLY);
	report("query /dev/null", fd_query(getpid(), nul, buf, sizeof(buf), &a), 1);
	report("query a closed fd", fd_query(getpid(), 900, buf, sizeof(buf), &a), 1);
	report("query a missing process", fd_query(0x3ffffff0, ev, buf, sizeof(buf), &a), 1);
	fd_query(getpid(), ev, buf, sizeof(buf), &a);
	a.task_fd_query.flags = 1;
	report("query with flags", sys_bpf(BPF_TASK_FD_QUERY, &a, sizeof(a)), 1);

	/* A syscall tracepoint: named without its system. */
	int tpid = read_int("/sys/kernel/tracing/events/syscalls/sys_enter_getppid/id");
	if (tpid < 0) {
		printf("tracefs: absent\n");
	} else {
		struct perf_event_attr pa = { 0 };
		pa.size = sizeof(pa);
		pa.type = PERF_TYPE_TRACEPOINT;
		pa.config = tpid;
		pa.sample_period = 1;
		int tev = (int)syscall(SYS_perf_event_open, &pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
		int tp = prog_load(BPF_PROG_TYPE_TRACEPOINT, NULL);
		report("tracepoint SET_BPF", ioctl(tev, PERF_EVENT_IOC_SET_BPF, tp), 1);
		report("query tracepoint", fd_query(getpid(), tev, buf, sizeof(buf), &a), 1);
		printf("query tracepoint: fd_type %u, buf \"%s\", buf_len %u, offset %#llx, addr %#llx, prog matches %d\n",
		       a.task_fd_query.fd_type, buf, a.task_fd_query.buf_len, (unsigned long long)a.task_fd_query.probe_offset,
		       (unsigned long long)a.task_fd_query.probe_addr, a.task_fd_query.prog_id == prog_id(tp));
		close(tp);
		close(tev);
	}

	/* Another process's fds: a child that inherited them. */
	int pfd[2];
	if (pipe(pfd))
		return;
	pid_t child = fork();
	if (child == 0) {
		char c;
		close(pfd[1]);
		while (read(pfd[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(pfd[0]);
	report("query a child's inherited fd", fd_query(child, ev, buf, sizeof(buf), &a), 1);
	printf("child's fd: fd_type %u, offset %#llx, prog matches %d\n", a.task_fd_query.fd_type,
	       (unsigned long long)a.task_fd_query.probe_offset, a.task_fd_query.prog_id == prog_id(p));
	report("query a child's closed fd", fd_query(child, 900, buf, sizeof(buf), &a), 1);
	close(pfd[1]);
	waitpid(child, NULL, 0);

	close(nul);
	close(m);
	close(l);
	close(bare);
	close(rev);
	close(ev);
	close(p);
}

/* ---- OBJ_GET_INFO_BY_FD ---- */

static void infos(void)
{
	int p = prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "info_prog");
	struct bpf_prog_info pi = { 0 };
	uint8_t tag[2][8];
	uint32_t flens[2];
	uint64_t ksyms[2];
	pi.nr_prog_tags = 2;
	pi.prog_tags = (uintptr_t)tag;
	pi.nr_jited_func_lens = 2;
	pi.jited_func_lens = (uintptr_t)flens;
	pi.nr_jited_ksyms = 2;
	pi.jited_ksyms = (uintptr_t)ksyms;
	pi.ifindex = 77; /* not set by the kernel: comes back as given */
	report("prog info", info(p, &pi, sizeof(pi), NULL), 1);
	printf("prog info: nr_prog_tags %u (tag matches %d), nr_jited_ksyms %u, nr_jited_func_lens %u\n", pi.nr_prog_tags,
	       memcmp(tag[0], pi.tag, 8) == 0, pi.nr_jited_ksyms, pi.nr_jited_func_lens);
	printf("prog info: rec sizes %u %u %u, nr_func_info %u, nr_line_info %u, nr_jited_line_info %u\n",
	       pi.func_info_rec_size, pi.line_info_rec_size, pi.jited_line_info_rec_size, pi.nr_func_info, pi.nr_line_info,
	       pi.nr_jited_line_info);
	printf("prog info: run_cnt %llu, verified_insns %u, gpl %u, ifindex %u, xlated %u, name %s\n",
	       (unsigned long long)pi.run_cnt, pi.verified_insns, pi.gpl_compatible, pi.ifindex, pi.xlated_prog_len,
	       pi.name);
	memset(&pi, 0, sizeof(pi));
	pi.nr_func_info = 1;
	report("prog info nr_func_info without rec size", info(p, &pi, sizeof(pi), NULL), 1);
	memset(&pi, 0, sizeof(pi));
	pi.func_info_rec_size = 8;
	report("prog info right rec size", info(p, &pi, sizeof(pi), NULL), 1);
	memset(&pi, 0, sizeof(pi));
	pi.nr_map_ids = 1;
	report("prog info map_ids NULL, no maps", info(p, &pi, sizeof(pi), NULL), 1);
	struct bpf_insn xl[2];
	memset(&pi, 0, sizeof(pi));
	pi.xlated_prog_len = sizeof(xl);
	pi.xlated_prog_insns = (uintptr_t)xl;
	report("prog info xlated", info(p, &pi, sizeof(pi), NULL), 1);
	printf("xlated: %u bytes, exit last %d\n", pi.xlated_prog_len, xl[1].code == (BPF_JMP | BPF_EXIT));

	int btf = btf_load();
	struct bpf_btf_info bi = { 0 };
	unsigned char data[256];
	char name[16];
	memset(name, 'x', sizeof(name));
	bi.btf = (uintptr_t)data;
	bi.btf_size = sizeof(data);
	bi.name = (uintptr_t)name;
	bi.name_len = sizeof(name);
	uint32_t len = 0;
	report("btf info", info(btf, &bi, sizeof(bi), &len), 1);
	printf("btf info: size matches %d, data matches %d, name \"%s\", name_len %u, kernel_btf %u, info_len %u\n",
	       bi.btf_size == sizeof(btf_blob), memcmp(data, btf_blob, sizeof(btf_blob)) == 0, name, bi.name_len,
	       bi.kernel_btf, len);
	memset(&bi, 0, sizeof(bi));
	bi.name_len = 4;
	report("btf info name_len without name", info(btf, &bi, sizeof(bi), NULL), 1);
	memset(&bi, 0, sizeof(bi));
	bi.btf_size = 8;
	report("btf info btf_size without btf", info(btf, &bi, sizeof(bi), NULL), 1);
	memset(&bi, 0, sizeof(bi));
	bi.btf = (uintptr_t)data;
	bi.btf_size = 8;
	report("btf info short buffer", info(btf, &bi, sizeof(bi), NULL), 1);
	printf("btf info short buffer: size reported %d\n", bi.btf_size == sizeof(btf_blob));

	/* A map with BTF names its key and value types. */
	union bpf_attr a = { 0 };
	a.map_type = BPF_MAP_TYPE_HASH;
	a.key_size = 4;
	a.value_size = 4;
	a.max_entries = 2;
	a.btf_fd = btf;
	a.btf_key_type_id = 1;
	a.btf_value_type_id = 1;
	int mb = (int)report("map with btf", sys_bpf(BPF_MAP_CREATE, &a, sizeof(a)), 0);
	struct bpf_map_info mi = { 0 };
	info(mb, &mi, sizeof(mi), NULL);
	printf("map with btf: btf matches %d, key type %u, value type %u\n", mi.btf_id == btf_id(btf), mi.btf_key_type_id,
	       mi.btf_value_type_id);
	int m = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 2, NULL);
	memset(&mi, 0, sizeof(mi));
	mi.btf_id = 1234; /* no BTF: comes back as given */
	info(m, &mi, sizeof(mi), NULL);
	printf("map without btf: btf_id as given %d\n", mi.btf_id == 1234);

	int ev = uprobe_open(0, 0x1000);
	char buf[64];
	report("info on a perf event", info(ev, buf, sizeof(buf), NULL), 1);
	report("info on a closed fd", info(900, buf, sizeof(buf), NULL), 1);
	int nul = open("/dev/null", O_RDONLY);
	report("info on /dev/null", info(nul, buf, sizeof(buf), NULL), 1);
	close(nul);
	close(ev);
	close(m);
	close(mb);
	close(btf);
	close(p);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: %s <bpffs directory>\n", argv[0]);
		return 2;
	}
	int probe = map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1, NULL);
	if (probe < 0) {
		printf("bpf unavailable: %s\n", ename(errno));
		return 0;
	}
	close(probe);
	printf("bpf available\n");
	ids();
	pins(argv[1]);
	batches();
	links();
	task_fd_query();
	infos();
	return 0;
}
