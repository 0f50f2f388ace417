/*
 * crc32c.c — CRC-32C with a hardware path (x86-64 SSE4.2 crc32 instruction)
 * and a portable slicing-by-8 fallback.  Pure computation; see crc32c.h.
 */
#include "core/crc32c.h"

#include <string.h>

#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t crc_table[8][256];
static int	crc_table_ready;

static void
crc32c_init_table(void)
{
	for (uint32_t i = 0; i < 256; i++)
	{
		uint32_t	c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
	/* benign race: every thread computes the same table */
	__atomic_store_n(&crc_table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t
dcf_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	if (!__atomic_load_n(&crc_table_ready, __ATOMIC_ACQUIRE))
		crc32c_init_table();
	crc = ~crc;
	while (len > 0 && ((uintptr_t) p & 7) != 0)
	{
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8)
	{
		uint32_t	lo,
					hi;

		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		lo = __builtin_bswap32(lo);
		hi = __builtin_bswap32(hi);
#endif
		lo ^= crc;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
			crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
			crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
			crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__)

__attribute__((target("sse4.2")))
uint32_t
dcf_crc32c_hw(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t	c = ~crc;

	while (len > 0 && ((uintptr_t) p & 7) != 0)
	{
		c = __builtin_ia32_crc32qi((uint32_t) c, *p++);
		len--;
	}
	while (len >= 8)
	{
		uint64_t	v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		c = __builtin_ia32_crc32qi((uint32_t) c, *p++);
	return ~(uint32_t) c;
}

int
dcf_crc32c_hw_available(void)
{
	static int	avail = -1;

	if (avail < 0)
	{
		__builtin_cpu_init();
		avail = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	}
	return avail;
}

#else

uint32_t
dcf_crc32c_hw(uint32_t crc, const void *data, size_t len)
{
	return dcf_crc32c_sw(crc, data, len);
}

int
dcf_crc32c_hw_available(void)
{
	return 0;
}

#endif

uint32_t
dcf_crc32c(uint32_t crc, const void *data, size_t len)
{
	if (dcf_crc32c_hw_available())
		return dcf_crc32c_hw(crc, data, len);
	return dcf_crc32c_sw(crc, data, len);
}
