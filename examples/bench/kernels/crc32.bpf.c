/* Bench kernel: bitwise CRC-32 (IEEE, reflected) of the input buffer, no table.
 * Calling convention of the JIT benchmark (scripts/bench/jit.ts): r1 = buffer, r2 = length,
 * r0 = result. Byte loads, shifts, masks and a tight inner loop. No maps, no globals, so the
 * .text section is the whole program. */
typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;

u64 crc32(const u8 *buf, u64 len)
{
	u32 crc = 0xffffffffu;

	for (u64 i = 0; i < len; i++) {
		crc ^= buf[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}
