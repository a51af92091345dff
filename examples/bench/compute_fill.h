/* The benchmark's 4 KiB input, the same in the map (compute.c) and natively (compute_native.c):
 * pseudo-random bytes, then 32 pairs of strings for k_strcmp that agree on a prefix. */
#ifndef COMPUTE_FILL_H
#define COMPUTE_FILL_H
void compute_fill(u8 *b)
{
	u32 s = 0x12345678;
	for (u32 i = 0; i < BUF_SIZE; i++) {
		s = s * 1103515245u + 12345u;
		b[i] = (u8)(s >> 16);
	}
	for (u32 p = 0; p < 32; p++) {
		u32 len = 40 + (p % 20);
		for (u32 i = 0; i < 64; i++) {
			u8 c = i < len ? (u8)('a' + (i * 7 + p) % 26) : 0;
			b[p * 64 + i] = c;
			b[p * 64 + 2048 + i] = c;
		}
		b[p * 64 + 2048 + len - 1 - (p % 3)] ^= (u8)(p & 1 ? 1 : 0);
	}
}
#endif
