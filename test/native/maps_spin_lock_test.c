/* struct bpf_spin_lock in map values: the kernel's rules at creation (types, flags, alignment),
 * BPF_F_LOCK lookups and updates from the syscall side on arrays and hashes (flags, errnos, the
 * lock word never copied in or out), the lock helpers reached through the table, mutual
 * exclusion across processes (forked writers on one shared region lose no update and never see a
 * torn value), a run that ends holding the lock releasing it, and a writer SIGKILLed while
 * holding the lock not blocking the others. */
#include <errno.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpftime/helpers.h"
#include "bpftime/map.h"
#include "bpftime/spin_lock.h"
#include "check.h"
#include "tmap.h"

/* The value programs and tools agree on: the lock between two counters. */
struct val {
	uint64_t a;
	uint32_t lock; /* struct bpf_spin_lock at offset 8 */
	uint32_t pad;
	uint64_t b;
};
#define LOCK_POS (8 + 1)

static int tmap_create(struct tmap *t, uint32_t type, uint32_t vs, uint32_t max, uint32_t flags, uint32_t pos)
{
	struct bpftime_map_spec spec = {type, 4, vs, max, flags, 0, pos};
	return tmap_open_spec(t, &spec, 7);
}

static void test_create_rules(void)
{
	struct bpftime_map_spec s = {BPF_MAP_TYPE_ARRAY, 4, sizeof(struct val), 4, 0, 0, LOCK_POS};
	CHECK(bpftime_map_region_size(&s) > 0);
	s.map_type = BPF_MAP_TYPE_LRU_HASH;
	EQ(bpftime_map_region_size(&s), -EOPNOTSUPP);
	s.map_type = BPF_MAP_TYPE_PERCPU_ARRAY;
	EQ(bpftime_map_region_size(&s), -EOPNOTSUPP);
	s.map_type = BPF_MAP_TYPE_HASH;
	CHECK(bpftime_map_region_size(&s) > 0);
	s.map_flags = BPF_F_RDONLY_PROG;
	EQ(bpftime_map_region_size(&s), -EACCES);
	s.map_flags = 0;
	s.spin_lock_pos = 3; /* offset 2: misaligned */
	EQ(bpftime_map_region_size(&s), -EINVAL);
	s.spin_lock_pos = sizeof(struct val) - 1; /* runs past the value */
	EQ(bpftime_map_region_size(&s), -EINVAL);
}

static void test_flags(uint32_t type)
{
	struct tmap t, plain;
	EQ(tmap_create(&t, type, sizeof(struct val), 4, 0, LOCK_POS), 0);
	EQ(tmap_create(&plain, type, sizeof(struct val), 4, 0, 0), 0);
	uint32_t k = 1;
	struct val v = {.a = 5, .lock = 0xdead, .b = 6}, out;

	EQ(bpftime_map_sys_update(plain.m, &k, &v, BPF_F_LOCK), -EINVAL);
	EQ(bpftime_map_sys_lookup(plain.m, &k, &out, BPF_F_LOCK), -EINVAL);
	EQ(bpftime_map_sys_update(t.m, &k, &v, BPF_F_LOCK | 8), -EINVAL);
	EQ(bpftime_map_sys_lookup(t.m, &k, &out, BPF_F_LOCK | 8), -EINVAL);
	if (type == BPF_MAP_TYPE_HASH) {
		EQ(bpftime_map_sys_lookup(t.m, &k, &out, BPF_F_LOCK), -ENOENT);
		EQ(bpftime_map_sys_update(t.m, &k, &v, BPF_F_LOCK | BPF_EXIST), -ENOENT);
		EQ(bpftime_map_sys_update(t.m, &k, &v, BPF_F_LOCK | BPF_NOEXIST), 0);
		EQ(bpftime_map_sys_update(t.m, &k, &v, BPF_F_LOCK | BPF_NOEXIST), -EEXIST);
	} else {
		EQ(bpftime_map_sys_update(t.m, &k, &v, BPF_F_LOCK | BPF_NOEXIST), -EEXIST);
		uint32_t big = 4;
		EQ(bpftime_map_sys_update(t.m, &big, &v, BPF_F_LOCK), -E2BIG);
		EQ(bpftime_map_sys_update(t.m, &k, &v, BPF_F_LOCK), 0);
	}
	/* The value's own lock word was not taken from the caller's buffer... */
	struct val *in_map = bpftime_map_lookup_elem(t.m, &k);
	EQ(in_map->lock, 0);
	EQ(in_map->a, 5);
	/* ...and is never copied out, with or without BPF_F_LOCK. */
	in_map->lock = 0; /* free: the locked lookup takes it */
	memset(&out, 0xff, sizeof(out));
	EQ(bpftime_map_sys_lookup(t.m, &k, &out, BPF_F_LOCK), 0);
	CHECK(out.a == 5 && out.b == 6 && out.lock == 0);
	in_map->lock = 1234; /* someone holds it: a plain lookup copies around it */
	memset(&out, 0xff, sizeof(out));
	EQ(bpftime_map_sys_lookup(t.m, &k, &out, 0), 0);
	CHECK(out.a == 5 && out.lock == 0);
	/* A plain update leaves an array value's lock alone; a hash element is replaced with a
	 * free lock. */
	v.a = 9;
	EQ(bpftime_map_sys_update(t.m, &k, &v, BPF_ANY), 0);
	in_map = bpftime_map_lookup_elem(t.m, &k);
	EQ(in_map->a, 9);
	EQ(in_map->lock, type == BPF_MAP_TYPE_ARRAY ? 1234 : 0);
	in_map->lock = 0;
	/* Program-side updates follow the same rules. */
	v.a = 11;
	EQ(bpftime_map_update_elem(t.m, &k, &v, BPF_F_LOCK), 0);
	EQ(in_map->a, 11);
	EQ(in_map->lock, 0);
	if (type == BPF_MAP_TYPE_HASH) {
		memset(&out, 0xff, sizeof(out));
		in_map->lock = 77;
		EQ(bpftime_map_sys_lookup_and_delete(t.m, &k, &out, 0), 0);
		CHECK(out.a == 11 && out.lock == 0);
	}
	tmap_destroy(&t);
	tmap_destroy(&plain);
}

/* What a program does: take the value's lock through the helper table, bump both counters. */
static void locked_bump(struct val *v)
{
	bpftime_helper_table[BPF_FUNC_spin_lock]((uint64_t)(uintptr_t)&v->lock, 0, 0, 0, 0);
	uint64_t a = v->a;
	v->a = a + 1;
	v->b = v->b + 1;
	bpftime_helper_table[BPF_FUNC_spin_unlock]((uint64_t)(uintptr_t)&v->lock, 0, 0, 0, 0);
}

static void test_processes(void)
{
	struct tmap t;
	EQ(tmap_create(&t, BPF_MAP_TYPE_ARRAY, sizeof(struct val), 1, 0, LOCK_POS), 0);
	uint32_t k = 0;
	struct val *v = bpftime_map_lookup_elem(t.m, &k);
	enum { WRITERS = 4, ITERS = 50000 };
	pid_t kids[WRITERS + 1];
	for (int i = 0; i < WRITERS; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			for (int n = 0; n < ITERS; n++)
				locked_bump(v);
			_exit(0);
		}
	}
	/* A reader through the syscall side: every value it sees is consistent (a == b). */
	kids[WRITERS] = fork();
	if (kids[WRITERS] == 0) {
		int torn = 0;
		for (int n = 0; n < 20000; n++) {
			struct val out;
			bpftime_map_sys_lookup(t.m, &k, &out, BPF_F_LOCK);
			torn += out.a != out.b;
		}
		_exit(torn ? 1 : 0);
	}
	for (int i = 0; i <= WRITERS; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	EQ(v->a, (uint64_t)WRITERS * ITERS);
	EQ(v->b, (uint64_t)WRITERS * ITERS);
	EQ(v->lock, 0);

	/* A holder killed with the lock: the next taker gets it anyway. */
	pid_t c = fork();
	if (c == 0) {
		bpftime_spin_lock(&v->lock);
		raise(SIGKILL);
	}
	waitpid(c, NULL, 0);
	EQ(v->lock, (uint32_t)c);
	locked_bump(v);
	EQ(v->a, (uint64_t)WRITERS * ITERS + 1);
	EQ(v->lock, 0);

	/* Taking it twice on one thread (a program the kernel would refuse) does not hang. */
	bpftime_spin_lock(&v->lock);
	bpftime_spin_lock(&v->lock);
	bpftime_spin_unlock(&v->lock);
	EQ(v->lock, 0);

	/* A run that ends holding the lock (a program the kernel's verifier would refuse) leaves it
	 * free. */
	struct bpftime_run_ctx rc = {0};
	bpftime_run_ctx_set(&rc);
	bpftime_helper_table[BPF_FUNC_spin_lock]((uint64_t)(uintptr_t)&v->lock, 0, 0, 0, 0);
	CHECK(v->lock != 0);
	bpftime_run_ctx_set(NULL);
	EQ(v->lock, 0);
	tmap_destroy(&t);
}

int main(void)
{
	test_create_rules();
	test_flags(BPF_MAP_TYPE_ARRAY);
	test_flags(BPF_MAP_TYPE_HASH);
	test_processes();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
