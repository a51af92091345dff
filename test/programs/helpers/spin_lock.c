// BPF_F_LOCK and bpf_spin_lock as a tool sees them: creation rules for values with a lock,
// lookups and updates with and without BPF_F_LOCK on arrays and hashes, and the counters an XDP
// program bumps under the lock (BPF_PROG_TEST_RUN). Prints one line per step; the kernel and
// bpftime must print the same.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "spin_lock.skel.h"

struct locked_val {
	__u64 a;
	__u32 lock, pad;
	__u64 b;
};

static const char *ename(void)
{
	const char *n = strerrorname_np(errno);
	return n ? n : "?";
}

static void show(const char *what, int rc)
{
	if (rc < 0)
		printf("%s: %s\n", what, ename());
	else
		printf("%s: ok\n", what);
}

static void show_val(const char *what, int fd, __u32 k, __u64 flags)
{
	struct locked_val v;
	memset(&v, 0xaa, sizeof(v));
	if (bpf_map_lookup_elem_flags(fd, &k, &v, flags) < 0)
		printf("%s: %s\n", what, ename());
	else
		printf("%s: a=%llu lock=%u b=%llu\n", what, (unsigned long long)v.a, v.lock, (unsigned long long)v.b);
}

static int quiet(enum libbpf_print_level l, const char *f, va_list a)
{
	return l == LIBBPF_WARN ? vfprintf(stderr, f, a) : 0;
}

int main(void)
{
	libbpf_set_print(quiet);
	struct spin_lock_bpf *skel = spin_lock_bpf__open_and_load();
	if (!skel) {
		printf("load: %s\n", ename());
		return 1;
	}
	printf("load: ok\n");
	int fd = bpf_map__fd(skel->maps.locked), hfd = bpf_map__fd(skel->maps.hlocked);
	int pfd = bpf_map__fd(skel->maps.plain);
	__u32 k1 = 1, k0 = 0, k9 = 9;
	struct locked_val v = {.a = 5, .lock = 0xdead, .b = 6};

	/* Arrays */
	show("array update F_LOCK", bpf_map_update_elem(fd, &k1, &v, BPF_F_LOCK));
	show_val("array lookup F_LOCK", fd, k1, BPF_F_LOCK);
	show_val("array lookup", fd, k1, 0);
	show("array update F_LOCK|NOEXIST", bpf_map_update_elem(fd, &k1, &v, BPF_F_LOCK | BPF_NOEXIST));
	show("array update F_LOCK|8", bpf_map_update_elem(fd, &k1, &v, BPF_F_LOCK | 8));
	show("array update F_LOCK out of range", bpf_map_update_elem(fd, &k9, &v, BPF_F_LOCK));
	v.a = 7;
	show("array update", bpf_map_update_elem(fd, &k1, &v, BPF_ANY));
	show_val("array lookup after update", fd, k1, BPF_F_LOCK);
	show_val("array lookup flags 8", fd, k1, 8);
	show_val("plain lookup F_LOCK", pfd, k1, BPF_F_LOCK);
	show("plain update F_LOCK", bpf_map_update_elem(pfd, &k1, &v, BPF_F_LOCK));

	/* Hashes */
	show_val("hash lookup F_LOCK missing", hfd, k1, BPF_F_LOCK);
	show("hash update F_LOCK|EXIST missing", bpf_map_update_elem(hfd, &k1, &v, BPF_F_LOCK | BPF_EXIST));
	show("hash update F_LOCK|NOEXIST", bpf_map_update_elem(hfd, &k1, &v, BPF_F_LOCK | BPF_NOEXIST));
	show("hash update F_LOCK|NOEXIST again", bpf_map_update_elem(hfd, &k1, &v, BPF_F_LOCK | BPF_NOEXIST));
	v.a = 8;
	show("hash update F_LOCK|EXIST", bpf_map_update_elem(hfd, &k1, &v, BPF_F_LOCK | BPF_EXIST));
	show_val("hash lookup F_LOCK", hfd, k1, BPF_F_LOCK);
	struct locked_val out;
	memset(&out, 0xaa, sizeof(out));
	if (bpf_map_lookup_and_delete_elem_flags(hfd, &k1, &out, BPF_F_LOCK) < 0)
		printf("hash lookup_and_delete F_LOCK: %s\n", ename());
	else
		printf("hash lookup_and_delete F_LOCK: a=%llu lock=%u b=%llu\n", (unsigned long long)out.a, out.lock,
		       (unsigned long long)out.b);
	show_val("hash lookup after delete", hfd, k1, 0);

	/* Batches with elem_flags BPF_F_LOCK */
	{
		__u32 keys[4], count = 4, out_batch = 0;
		struct locked_val vals[4];
		memset(vals, 0xaa, sizeof(vals));
		LIBBPF_OPTS(bpf_map_batch_opts, bo, .elem_flags = BPF_F_LOCK);
		int rc = bpf_map_lookup_batch(fd, NULL, &out_batch, keys, vals, &count, &bo);
		printf("array lookup batch F_LOCK: %s count=%u", rc < 0 ? ename() : "ok", count);
		for (__u32 i = 0; i < count && i < 4; i++)
			printf(" [%u]=%llu/%u/%llu", keys[i], (unsigned long long)vals[i].a, vals[i].lock, (unsigned long long)vals[i].b);
		printf("\n");
		__u32 ukeys[2] = {0, 1};
		struct locked_val uvals[2] = {{.a = 20, .lock = 5, .b = 21}, {.a = 30, .lock = 6, .b = 31}};
		count = 2;
		show("array update batch F_LOCK", bpf_map_update_batch(fd, ukeys, uvals, &count, &bo));
		show_val("array lookup 0 after batch", fd, 0, BPF_F_LOCK);
		show_val("array lookup 1 after batch", fd, 1, BPF_F_LOCK);
		count = 2;
		show("plain update batch F_LOCK", bpf_map_update_batch(pfd, ukeys, uvals, &count, &bo));
		count = 4;
		rc = bpf_map_lookup_batch(pfd, NULL, &out_batch, keys, vals, &count, &bo);
		printf("plain lookup batch F_LOCK: %s\n", rc < 0 ? ename() : "ok");
		count = 2;
		show("hash update batch F_LOCK", bpf_map_update_batch(hfd, ukeys, uvals, &count, &bo));
		count = 4;
		memset(vals, 0xaa, sizeof(vals));
		rc = bpf_map_lookup_and_delete_batch(hfd, NULL, &out_batch, keys, vals, &count, &bo);
		printf("hash lookup_and_delete batch F_LOCK: %s count=%u", rc < 0 && errno != ENOENT ? ename() : "ok", count);
		/* a hash returns its elements in its own order: print them by key */
		for (__u32 i = 0; i + 1 < count && i < 3; i++)
			for (__u32 j = i + 1; j < count && j < 4; j++)
				if (keys[j] < keys[i]) {
					__u32 tk = keys[i];
					struct locked_val tv = vals[i];
					keys[i] = keys[j], vals[i] = vals[j];
					keys[j] = tk, vals[j] = tv;
				}
		for (__u32 i = 0; i < count && i < 4; i++)
			printf(" [%u]=%llu/%u/%llu", keys[i], (unsigned long long)vals[i].a, vals[i].lock, (unsigned long long)vals[i].b);
		printf("\n");
		count = 2;
		show("hash update batch again", bpf_map_update_batch(hfd, ukeys, uvals, &count, NULL));
		count = 2;
		show("hash delete batch F_LOCK", bpf_map_delete_batch(hfd, ukeys, &count, &bo));
	}

	/* Values with a lock in other map types (the BTF of the locked map's value) */
	LIBBPF_OPTS(bpf_map_create_opts, o, .btf_fd = bpf_object__btf_fd(skel->obj),
		    .btf_key_type_id = bpf_map__btf_key_type_id(skel->maps.locked),
		    .btf_value_type_id = bpf_map__btf_value_type_id(skel->maps.locked));
	int types[] = {BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH};
	const char *names[] = {"lru_hash", "percpu_array", "percpu_hash"};
	for (int i = 0; i < 3; i++) {
		char what[64];
		snprintf(what, sizeof(what), "create %s with a lock", names[i]);
		int nfd = bpf_map_create(types[i], NULL, 4, sizeof(struct locked_val), 4, &o);
		show(what, nfd);
		if (nfd >= 0)
			close(nfd);
	}
	o.map_flags = BPF_F_RDONLY_PROG;
	int nfd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, sizeof(struct locked_val), 4, &o);
	show("create array with a lock, rdonly_prog", nfd);
	if (nfd >= 0)
		close(nfd);

	/* The program, under the lock */
	char pkt[64] = {0};
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = sizeof(pkt), .repeat = 1000);
	int rc = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.bump), &t);
	if (rc < 0)
		printf("test_run: %s\n", ename());
	else
		printf("test_run: retval %u\n", t.retval);
	show_val("after 1000 runs", fd, k0, BPF_F_LOCK);
	spin_lock_bpf__destroy(skel);
	return 0;
}
