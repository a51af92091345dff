/* Bob Jenkins' lookup3 hash (public domain), in the form the kernel's BPF maps use it:
 * hash tables hash keys with jhash2 over 32-bit words when the key length is a multiple of 4 and
 * with the byte-wise jhash otherwise; bloom filters do the same over values, seeded with
 * seed + i for the i-th hash function. Using the same function with the same seed (0 under
 * BPF_F_ZERO_SEED) makes bucket placement, hence get_next_key order, and bloom false positives
 * identical to the kernel's, which the differential test relies on. Little-endian hosts only
 * (as the kernel's result, it depends on byte order). */
#ifndef BPFTIME_MAP_JHASH_H
#define BPFTIME_MAP_JHASH_H
#include <stdint.h>
#include <string.h>

#define MAP_JHASH_INIT 0xdeadbeefu

static inline uint32_t map_rol32(uint32_t x, unsigned k) { return (x << k) | (x >> (32 - k)); }

/* lookup3's mix(): reversible mixing of three words. */
#define MAP_JHASH_MIX(a, b, c)                                      \
	do {                                                        \
		a -= c; a ^= map_rol32(c, 4);  c += b;              \
		b -= a; b ^= map_rol32(a, 6);  a += c;              \
		c -= b; c ^= map_rol32(b, 8);  b += a;              \
		a -= c; a ^= map_rol32(c, 16); c += b;              \
		b -= a; b ^= map_rol32(a, 19); a += c;              \
		c -= b; c ^= map_rol32(b, 4);  b += a;              \
	} while (0)

/* lookup3's final(): avalanche into c. */
#define MAP_JHASH_FINAL(a, b, c)                      \
	do {                                          \
		c ^= b; c -= map_rol32(b, 14);        \
		a ^= c; a -= map_rol32(c, 11);        \
		b ^= a; b -= map_rol32(a, 25);        \
		c ^= b; c -= map_rol32(b, 16);        \
		a ^= c; a -= map_rol32(c, 4);         \
		b ^= a; b -= map_rol32(a, 14);        \
		c ^= b; c -= map_rol32(b, 24);        \
	} while (0)

static inline uint32_t map_load_le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Hash of `len` 32-bit words (jhash2). */
static inline uint32_t map_jhash_words(const void *key, uint32_t len, uint32_t seed)
{
	const uint8_t *k = key;
	uint32_t a, b, c;
	a = b = c = MAP_JHASH_INIT + (len << 2) + seed;
	for (; len > 3; len -= 3, k += 12) {
		a += map_load_le32(k);
		b += map_load_le32(k + 4);
		c += map_load_le32(k + 8);
		MAP_JHASH_MIX(a, b, c);
	}
	if (len == 0)
		return c;
	if (len == 3)
		c += map_load_le32(k + 8);
	if (len >= 2)
		b += map_load_le32(k + 4);
	a += map_load_le32(k);
	MAP_JHASH_FINAL(a, b, c);
	return c;
}

/* Hash of `len` bytes (jhash). */
static inline uint32_t map_jhash_bytes(const void *key, uint32_t len, uint32_t seed)
{
	const uint8_t *k = key;
	uint32_t a, b, c;
	a = b = c = MAP_JHASH_INIT + len + seed;
	for (; len > 12; len -= 12, k += 12) {
		a += map_load_le32(k);
		b += map_load_le32(k + 4);
		c += map_load_le32(k + 8);
		MAP_JHASH_MIX(a, b, c);
	}
	if (len == 0)
		return c;
	/* The last 1..12 bytes, little-endian into a, b, c (bytes past len count as zero). */
	uint32_t w[3] = {0, 0, 0};
	for (uint32_t i = 0; i < len; i++)
		w[i / 4] |= (uint32_t)k[i] << (8 * (i % 4));
	a += w[0];
	b += w[1];
	c += w[2];
	MAP_JHASH_FINAL(a, b, c);
	return c;
}

/* The kernel's choice between the two for a key (or bloom value) of `len` bytes. */
static inline uint32_t map_jhash(const void *key, uint32_t len, uint32_t seed)
{
	if ((len & 3) == 0)
		return map_jhash_words(key, len / 4, seed);
	return map_jhash_bytes(key, len, seed);
}

#endif
