/* String helpers: bpf_strncmp, bpf_strtol, bpf_strtoul, with the kernel's exact answers
 * (kernel/bpf/helpers.c, lib/string.c, lib/kstrtox.c), which differ from libc's:
 *  - strncmp returns -1, 0 or 1 (bytes compared as unsigned char), never a difference;
 *  - strtol/strtoul take a base in the low 5 bits of flags (0 = auto, 8, 10, 16; any other base
 *    or any other flag bit: -EINVAL), skip leading white space (the kernel's isspace(), which
 *    includes 0xa0), accept one '-' (strtoul then answers -EINVAL), read at most 63 characters
 *    after the sign, and return the number of characters consumed (spaces and sign included),
 *    -EINVAL when no digit follows, -ERANGE on overflow. *res is 0 unless the call succeeds.
 * The verifier guarantees buf/buf_len and res are program memory (the kernel's
 * ARG_PTR_TO_MEM/ARG_CONST_SIZE, ARG_PTR_TO_FIXED_SIZE_MEM), so they are used directly. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "helpers_internal.h"

#define STRTOX_BASE_MASK 0x1fu /* BPF_STRTOX_BASE_MASK (kernel-internal) */
#define STRTOX_MAX_CHARS 63    /* the kernel copies at most sizeof(char[64]) - 1 bytes */

/* bpf_strncmp(s1, s1_sz, s2): the kernel's strncmp(s1, s2, s1_sz). */
BPFTIME_HELPER(strncmp)
{
	const unsigned char *a = (const unsigned char *)(uintptr_t)r1;
	const unsigned char *b = (const unsigned char *)(uintptr_t)r3;
	for (uint32_t i = 0; i < (uint32_t)r2; i++) {
		if (a[i] != b[i])
			return (uint64_t)(int64_t)(a[i] < b[i] ? -1 : 1);
		if (!a[i])
			break;
	}
	return 0;
}

/* The kernel's isspace(): its _ctype table marks \t \n \v \f \r, ' ' and 0xa0 (NBSP). */
static bool k_isspace(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
}

static unsigned digit_value(unsigned char c)
{
	unsigned char lc = c | 0x20;
	if (c >= '0' && c <= '9')
		return c - '0';
	if (lc >= 'a' && lc <= 'f')
		return lc - 'a' + 10;
	return 99;
}

/* __bpf_strtoull: characters consumed (> 0) or -errno; *neg tells whether a '-' was read. */
static long strtoull_k(const char *buf, size_t len, uint64_t flags, uint64_t *res, bool *neg)
{
	unsigned base = flags & STRTOX_BASE_MASK;
	size_t i = 0;

	if (!buf || !len)
		return -EINVAL;
	if (base != 0 && base != 8 && base != 10 && base != 16)
		return -EINVAL;
	if (flags & ~(uint64_t)STRTOX_BASE_MASK)
		return -EINVAL;
	while (i < len && k_isspace((unsigned char)buf[i]))
		i++;
	*neg = i < len && buf[i] == '-';
	if (*neg)
		i++;
	if (i == len)
		return -EINVAL;

	/* The number is parsed from a NUL-terminated copy of at most 63 characters. */
	char s[STRTOX_MAX_CHARS + 1];
	size_t n = len - i < STRTOX_MAX_CHARS ? len - i : STRTOX_MAX_CHARS;
	memcpy(s, buf + i, n);
	s[n] = 0;

	/* _parse_integer_fixup_radix */
	const char *p = s;
	if (base == 0) {
		if (p[0] == '0')
			base = ((p[1] | 0x20) == 'x' && digit_value((unsigned char)p[2]) < 16) ? 16 : 8;
		else
			base = 10;
	}
	if (base == 16 && p[0] == '0' && (p[1] | 0x20) == 'x')
		p += 2;

	/* _parse_integer: digits below base; overflow is noted but parsing goes on. */
	uint64_t v = 0;
	size_t digits = 0;
	bool overflow = false;
	for (;; p++, digits++) {
		unsigned d = digit_value((unsigned char)*p);
		if (d >= base)
			break;
		if ((v >> 60) && v > (UINT64_MAX - d) / base)
			overflow = true;
		v = v * base + d;
	}
	if (overflow)
		return -ERANGE;
	if (digits == 0)
		return -EINVAL;
	*res = v;
	return (long)(i + (size_t)(p - s));
}

/* bpf_strtol(buf, buf_len, flags, long *res) */
BPFTIME_HELPER(strtol)
{
	int64_t *res = (int64_t *)(uintptr_t)r4;
	uint64_t v = 0;
	bool neg = false;
	*res = 0;
	long n = strtoull_k((const char *)(uintptr_t)r1, (size_t)r2, r3, &v, &neg);
	if (n < 0)
		return (uint64_t)n;
	if (neg) {
		if ((int64_t)(0 - v) > 0)
			return (uint64_t)(int64_t)-ERANGE;
		*res = (int64_t)(0 - v);
	} else {
		if ((int64_t)v < 0)
			return (uint64_t)(int64_t)-ERANGE;
		*res = (int64_t)v;
	}
	return (uint64_t)n;
}

/* bpf_strtoul(buf, buf_len, flags, unsigned long *res) */
BPFTIME_HELPER(strtoul)
{
	uint64_t *res = (uint64_t *)(uintptr_t)r4;
	uint64_t v = 0;
	bool neg = false;
	*res = 0;
	long n = strtoull_k((const char *)(uintptr_t)r1, (size_t)r2, r3, &v, &neg);
	if (n < 0)
		return (uint64_t)n;
	if (neg)
		return (uint64_t)(int64_t)-EINVAL;
	*res = v;
	return (uint64_t)n;
}
