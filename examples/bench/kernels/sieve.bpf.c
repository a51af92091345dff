/* Bench kernel: sieve of Eratosthenes over 0..3071 in a bitset on the eBPF stack, returns the
 * number of primes (434). Stack stores, 64-bit shifts, nested loops. r1/r2 unused. */
typedef unsigned long long u64;

#define WORDS 48 /* 48 * 64 = 3072 numbers, 384 bytes of the 512-byte stack */

u64 sieve(void *unused, u64 unused_len)
{
	u64 bits[WORDS];
	u64 count = 0;

	for (int w = 0; w < WORDS; w++)
		bits[w] = 0;
	for (u64 n = 2; n < WORDS * 64; n++) {
		if (bits[n / 64] & (1ull << (n % 64)))
			continue;
		count++;
		for (u64 m = n * n; m < WORDS * 64; m += n)
			bits[m / 64] |= 1ull << (m % 64);
	}
	return count;
}
