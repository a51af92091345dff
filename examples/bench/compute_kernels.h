/* Compute kernels for the test-run benchmark (scripts/bench/test_run.ts): the same C compiled
 * twice, with clang -O2 -target bpf into XDP programs (compute.bpf.c: run by the kernel's JIT
 * and by bpftime through BPF_PROG_TEST_RUN) and natively with -O2 (compute_native.c).
 *
 * Each kernel reads a 4 KiB buffer `b` (the value of an array map in BPF, a plain array natively)
 * and returns a 64-bit result that every engine must agree on. Indexes are masked with
 * BUF_MASK so the kernel's verifier can prove every access in bounds; loops have constant trip
 * counts small enough for it to walk. */
#ifndef COMPUTE_KERNELS_H
#define COMPUTE_KERNELS_H

#define BUF_SIZE 4096
#define BUF_MASK (BUF_SIZE - 1)

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;

#ifndef KERNEL_INLINE
#define KERNEL_INLINE static inline __attribute__((always_inline))
#endif

/* Primes below 1500 by trial division with odd divisors. */
KERNEL_INLINE u64 k_primes(const u8 *b)
{
	u64 count = 1 + (b[0] & 0); /* 2 */
	for (u32 n = 3; n < 1500; n += 2) {
		u32 prime = 1;
		for (u32 d = 3; d < 40; d += 2) {
			if (d * d > n)
				break;
			if (n % d == 0) {
				prime = 0;
				break;
			}
		}
		count += prime;
	}
	return count;
}

/* floor(log2(x)) by shifting, for 512 32-bit words of the buffer (0 for x = 0). */
KERNEL_INLINE u64 k_log2(const u8 *b)
{
	u64 sum = 0;
	for (u32 i = 0; i < 512; i++) {
		u32 x = (u32)b[(i * 4) & BUF_MASK] | (u32)b[(i * 4 + 1) & BUF_MASK] << 8 |
			(u32)b[(i * 4 + 2) & BUF_MASK] << 16 | (u32)b[(i * 4 + 3) & BUF_MASK] << 24;
		u32 l = 0;
		for (int k = 0; k < 32; k++) {
			x >>= 1;
			if (!x)
				break;
			l++;
		}
		sum = sum * 31 + l;
	}
	return sum;
}

/* Copies the first 2 KiB of the buffer over the second, 8 bytes at a time; returns a checksum
 * of what it copied (the buffer is restored afterwards by copying back). */
KERNEL_INLINE u64 k_memcpy(u8 *b)
{
	u64 sum = 0;
	for (u32 i = 0; i < 256; i++) {
		u64 v = *(const u64 *)(b + ((i * 8) & (BUF_MASK >> 1)));
		u64 old = *(u64 *)(b + (((i * 8) & (BUF_MASK >> 1)) | 2048));
		*(u64 *)(b + (((i * 8) & (BUF_MASK >> 1)) | 2048)) = v;
		sum += v ^ old;
		*(u64 *)(b + (((i * 8) & (BUF_MASK >> 1)) | 2048)) = old;
	}
	return sum;
}

/* strcmp of 32 pairs of NUL-terminated strings of up to 63 characters that differ late. */
KERNEL_INLINE u64 k_strcmp(const u8 *b)
{
	u64 acc = 0;
	for (u32 p = 0; p < 32; p++) {
		u32 a = (p * 64) & BUF_MASK, c = (p * 64 + 2048) & BUF_MASK;
		int r = 0;
		for (u32 i = 0; i < 64; i++) {
			u8 x = b[(a + i) & BUF_MASK], y = b[(c + i) & BUF_MASK];
			if (x != y) {
				r = x < y ? -1 : 1;
				break;
			}
			if (!x)
				break;
		}
		acc = acc * 3 + (u64)(r + 1);
	}
	return acc;
}

/* A small bytecode machine: 2048 opcodes from the buffer through an 8-way switch. */
KERNEL_INLINE u64 k_switch(const u8 *b)
{
	u64 a = 1, x = 7;
	for (u32 i = 0; i < 2048; i++) {
		u8 op = b[i & BUF_MASK];
		switch (op & 7) {
		case 0: a += op; break;
		case 1: a ^= x; break;
		case 2: a = a * 3 + 1; break;
		case 3: x += a >> 3; break;
		case 4: a = (a << 1) | (a >> 63); break;
		case 5: x ^= op * 0x9e37; break;
		case 6: a -= x; break;
		default: a = a + x + i; break;
		}
	}
	return a ^ x;
}

/* FNV-1a and a murmur-style finaliser over the whole buffer. */
KERNEL_INLINE u64 k_hash(const u8 *b)
{
	u64 h = 0xcbf29ce484222325ull;
	for (u32 i = 0; i < BUF_SIZE; i++)
		h = (h ^ b[i & BUF_MASK]) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* The bpf_loop body: one step of an xorshift over a word of the buffer. */
struct loop_ctx {
	const u8 *b;
	u64 s;
};

KERNEL_INLINE long loop_step(u32 i, struct loop_ctx *c)
{
	u64 s = c->s ^ c->b[i & BUF_MASK];
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	c->s = s;
	return 0;
}

#define LOOP_ITERS 4096

#endif
