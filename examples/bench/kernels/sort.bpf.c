/* Bench kernel: insertion sort of 100 pseudo-random 32-bit values on the eBPF stack, returns a
 * position-weighted checksum of the sorted array. Loads/stores through computed addresses,
 * compares, multiply. r1/r2 unused. */
typedef unsigned int u32;
typedef unsigned long long u64;

#define N 100

u64 sort(void *unused, u64 unused_len)
{
	u32 a[N];
	u32 x = 12345;
	u64 sum = 0;

	for (int i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u; /* LCG */
		a[i] = x >> 8;
	}
	for (int i = 1; i < N; i++) {
		u32 v = a[i];
		int j = i - 1;
		while (j >= 0 && a[j] > v) {
			a[j + 1] = a[j];
			j--;
		}
		a[j + 1] = v;
	}
	for (int i = 0; i < N; i++)
		sum += (u64)a[i] * (u64)(i + 1);
	return sum;
}
