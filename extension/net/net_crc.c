/*
 * net_crc.c — three-stream CRC-32C with an optional copy; see net_crc.h.
 *
 * Why it works: without its final inversion the CRC register is linear over
 * GF(2): feeding block B to register r gives shift_B(r) ^ reg(B, 0), where
 * shift_B(r) = reg(|B| zero bytes, r).  So a stripe of three lanes a, b, c
 * of L bytes each, started from r, ends in
 *     shift_L(shift_L(reg(a, r)) ^ reg(b, 0)) ^ reg(c, 0)
 * and the three reg() runs are independent chains the CPU overlaps.
 * shift_L is linear, so it is tabulated per input byte (4 x 256 words),
 * built once from the hardware CRC itself, for a big lane (long runs) and a
 * small one (the remainder), so at most 3 * 128 - 1 bytes run on one chain.
 */
#include "net/net_crc.h"

#include <string.h>

#include "core/crc32c.h"

#if defined(__x86_64__)

/* Two stripe sizes: long runs in big lanes, the remainder in small ones. */
#define LANE_BIG	DCF_NET_CRC_LANE_BYTES
#define LANE_SMALL	128

static uint32_t shift_big[4][256];
static uint32_t shift_small[4][256];
static int	shift_ready;

__attribute__((target("sse4.2")))
static uint32_t
reg_zeros(uint32_t r, size_t n)
{
	uint64_t	c = r;

	for (size_t i = 0; i < n; i += 8)
		c = __builtin_ia32_crc32di(c, 0);
	return (uint32_t) c;
}

static void
build_shift_tables(void)
{
	for (int k = 0; k < 4; k++)
		for (uint32_t b = 0; b < 256; b++)
		{
			shift_big[k][b] = reg_zeros(b << (8 * k), LANE_BIG);
			shift_small[k][b] = reg_zeros(b << (8 * k), LANE_SMALL);
		}
	/* benign race: every caller computes the same tables */
	__atomic_store_n(&shift_ready, 1, __ATOMIC_RELEASE);
}

static inline uint32_t
shift_lane(const uint32_t t[4][256], uint32_t r)
{
	return t[0][r & 0xff] ^ t[1][(r >> 8) & 0xff] ^ t[2][(r >> 16) & 0xff] ^ t[3][r >> 24];
}

/*
 * One stripe of 3 * lane bytes from register r; copies to d when d != NULL.
 * Inlined into the two callers below with lane constant.
 */
__attribute__((target("sse4.2"), always_inline))
static inline uint32_t
stripe(uint32_t r, uint8_t *d, const uint8_t *s, size_t lane,
	   const uint32_t t[4][256])
{
	uint64_t	c0 = r,
				c1 = 0,
				c2 = 0;

	if (d)
	{
		for (size_t i = 0; i < lane; i += 8)
		{
			uint64_t	v0,
						v1,
						v2;

			memcpy(&v0, s + i, 8);
			memcpy(&v1, s + lane + i, 8);
			memcpy(&v2, s + 2 * lane + i, 8);
			c0 = __builtin_ia32_crc32di(c0, v0);
			c1 = __builtin_ia32_crc32di(c1, v1);
			c2 = __builtin_ia32_crc32di(c2, v2);
			memcpy(d + i, &v0, 8);
			memcpy(d + lane + i, &v1, 8);
			memcpy(d + 2 * lane + i, &v2, 8);
		}
	}
	else
	{
		for (size_t i = 0; i < lane; i += 8)
		{
			uint64_t	v0,
						v1,
						v2;

			memcpy(&v0, s + i, 8);
			memcpy(&v1, s + lane + i, 8);
			memcpy(&v2, s + 2 * lane + i, 8);
			c0 = __builtin_ia32_crc32di(c0, v0);
			c1 = __builtin_ia32_crc32di(c1, v1);
			c2 = __builtin_ia32_crc32di(c2, v2);
		}
	}
	return shift_lane(t, shift_lane(t, (uint32_t) c0) ^ (uint32_t) c1) ^ (uint32_t) c2;
}

__attribute__((target("sse4.2")))
static uint32_t
stripe_big(uint32_t r, uint8_t *d, const uint8_t *s)
{
	return stripe(r, d, s, LANE_BIG, (const uint32_t (*)[256]) shift_big);
}

__attribute__((target("sse4.2")))
static uint32_t
stripe_small(uint32_t r, uint8_t *d, const uint8_t *s)
{
	return stripe(r, d, s, LANE_SMALL, (const uint32_t (*)[256]) shift_small);
}

/* A single chain, for what is left after the stripes (< 3 * LANE_SMALL). */
__attribute__((target("sse4.2")))
static uint32_t
tail(uint32_t r, uint8_t *d, const uint8_t *s, size_t n)
{
	uint64_t	c = r;

	while (n >= 8)
	{
		uint64_t	v;

		memcpy(&v, s, 8);
		c = __builtin_ia32_crc32di(c, v);
		if (d)
		{
			memcpy(d, &v, 8);
			d += 8;
		}
		s += 8;
		n -= 8;
	}
	while (n-- > 0)
	{
		if (d)
			*d++ = *s;
		c = __builtin_ia32_crc32qi((uint32_t) c, *s++);
	}
	return (uint32_t) c;
}

static uint32_t
crc_hw(uint32_t crc, uint8_t *d, const uint8_t *s, size_t n)
{
	uint32_t	r = ~crc;

	if (n >= 3 * LANE_SMALL)
	{
		if (!__atomic_load_n(&shift_ready, __ATOMIC_ACQUIRE))
			build_shift_tables();
		while (n >= 3 * LANE_BIG)
		{
			r = stripe_big(r, d, s);
			s += 3 * LANE_BIG;
			if (d)
				d += 3 * LANE_BIG;
			n -= 3 * LANE_BIG;
		}
		while (n >= 3 * LANE_SMALL)
		{
			r = stripe_small(r, d, s);
			s += 3 * LANE_SMALL;
			if (d)
				d += 3 * LANE_SMALL;
			n -= 3 * LANE_SMALL;
		}
	}
	return ~tail(r, d, s, n);
}

uint32_t
dcf_net_crc32c(uint32_t crc, const void *data, size_t n)
{
	if (dcf_crc32c_hw_available())
		return crc_hw(crc, NULL, data, n);
	return dcf_crc32c(crc, data, n);
}

uint32_t
dcf_net_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t n)
{
	if (dcf_crc32c_hw_available())
		return crc_hw(crc, dst, src, n);
	memcpy(dst, src, n);
	return dcf_crc32c(crc, src, n);
}

#else							/* not x86-64 */

uint32_t
dcf_net_crc32c(uint32_t crc, const void *data, size_t n)
{
	return dcf_crc32c(crc, data, n);
}

uint32_t
dcf_net_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
	return dcf_crc32c(crc, src, n);
}

#endif
