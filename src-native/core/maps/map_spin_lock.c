/* Maps whose values hold a struct bpf_spin_lock (spec.spin_lock_pos = 1 + its offset, found by
 * the server in the value's BTF), with the kernel's rules:
 *  - only HASH and ARRAY maps may hold one here (the other types the kernel allows are kernel
 *    object storages): -EOPNOTSUPP otherwise; not with BPF_F_RDONLY_PROG/WRONLY_PROG (-EACCES);
 *  - BPF_F_LOCK on lookup/update copies the value under its lock; without a lock it is -EINVAL;
 *  - the lock word is never copied: lookups return it as zero, updates leave an array value's
 *    lock alone and give a new hash element a free lock (copy_map_value skips it).
 * The lock itself is a thread-id word (bpftime/spin_lock.h). */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "bpftime/helpers.h"
#include "bpftime/spin_lock.h"
#include "map_internal.h"

#define LOCK_SIZE 4u /* sizeof(struct bpf_spin_lock) */

int map_spin_lock_check(const struct bpftime_map_spec *spec)
{
	if (!spec->spin_lock_pos)
		return 0;
	uint32_t off = spec->spin_lock_pos - 1;
	if (off % LOCK_SIZE || off > spec->value_size || spec->value_size - off < LOCK_SIZE)
		return -EINVAL;
	if (spec->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG))
		return -EACCES;
	if (spec->map_type != BPF_MAP_TYPE_HASH && spec->map_type != BPF_MAP_TYPE_ARRAY)
		return -EOPNOTSUPP;
	return 0;
}

static inline void cpu_relax(void) { __builtin_ia32_pause(); }

void bpftime_spin_lock(uint32_t *lock)
{
	uint32_t me = (uint32_t)bpftime_current_pid_tgid();
	for (unsigned spins = 0;; spins++) {
		uint32_t cur = 0;
		if (__atomic_compare_exchange_n(lock, &cur, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
		/* Already ours: a program taking a lock twice (the kernel's verifier refuses it, the
		 * structural pass here cannot) must not hang its thread forever. */
		if (cur == me)
			return;
		if (spins < 256) {
			cpu_relax();
			continue;
		}
		sched_yield();
		/* Held across ~thousands of yields: a program holds it for a few instructions, so the
		 * owner may be gone. kill(tid, 0) reaches any thread id; ESRCH: nobody has it. */
		if (spins % 1024 == 0 && cur != me && kill((pid_t)cur, 0) < 0 && errno == ESRCH)
			__atomic_compare_exchange_n(lock, &cur, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
}

void bpftime_spin_unlock(uint32_t *lock) { __atomic_store_n(lock, 0, __ATOMIC_RELEASE); }

static inline uint32_t *value_lock(const struct bpftime_map *m, void *value)
{
	return (uint32_t *)((uint8_t *)value + m->spec.spin_lock_pos - 1);
}

/* Copies everything but the lock word. */
static void copy_skipping_lock(const struct bpftime_map *m, void *dst, const void *src)
{
	uint32_t off = m->spec.spin_lock_pos - 1;
	memcpy(dst, src, off);
	memcpy((uint8_t *)dst + off + LOCK_SIZE, (const uint8_t *)src + off + LOCK_SIZE,
	       m->spec.value_size - off - LOCK_SIZE);
}

/* copy_map_value_locked: under the lock of the value in the map (`locked`). */
static void copy_locked(const struct bpftime_map *m, void *dst, const void *src, void *locked)
{
	uint32_t *l = value_lock(m, locked);
	bpftime_spin_lock(l);
	copy_skipping_lock(m, dst, src);
	bpftime_spin_unlock(l);
}

long map_locked_sys_lookup(struct bpftime_map *m, const void *key, void *out, uint64_t flags)
{
	if (flags & BPF_F_LOCK) {
		void *v = m->ops->lookup(m, key);
		if (!v)
			return -ENOENT;
		copy_locked(m, out, v, v);
	} else {
		long rc = m->ops->sys_lookup(m, key, out);
		if (rc)
			return rc;
	}
	memset(value_lock(m, out), 0, LOCK_SIZE); /* check_and_init_map_value */
	return 0;
}

long map_locked_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	uint64_t mode = flags & ~(uint64_t)BPF_F_LOCK;
	if (mode > BPF_EXIST)
		return -EINVAL;
	if (m->spec.map_type == BPF_MAP_TYPE_ARRAY) {
		uint32_t idx;
		memcpy(&idx, key, 4);
		if (idx >= m->spec.max_entries)
			return -E2BIG;
		if (mode == BPF_NOEXIST)
			return -EEXIST;
		void *v = m->ops->lookup(m, key);
		if (flags & BPF_F_LOCK)
			copy_locked(m, v, value, v);
		else
			copy_skipping_lock(m, v, value);
		return 0;
	}
	/* Hash: BPF_F_LOCK updates an existing element in place under its lock. */
	if (flags & BPF_F_LOCK) {
		void *v = m->ops->lookup(m, key);
		if (v) {
			if (mode == BPF_NOEXIST)
				return -EEXIST;
			copy_locked(m, v, value, v);
			return 0;
		}
		if (mode == BPF_EXIST)
			return -ENOENT;
	}
	/* A new element (or a replaced one) starts with a free lock. */
	uint8_t buf[512];
	uint8_t *copy = m->spec.value_size <= sizeof(buf) ? buf : malloc(m->spec.value_size);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, value, m->spec.value_size);
	memset(value_lock(m, copy), 0, LOCK_SIZE);
	long rc = m->ops->update(m, key, copy, mode);
	if (copy != buf)
		free(copy);
	return rc;
}
