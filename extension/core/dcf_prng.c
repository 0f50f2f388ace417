/*
 * dcf_prng.c — xoshiro256** (Blackman and Vigna) seeded with splitmix64.
 * Deterministic for a given seed on every platform; no global state.
 */
#include "core/dcf_prng.h"

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void
dcf_prng_seed(dcf_prng *p, uint64_t seed)
{
	uint64_t	x = seed;

	for (int i = 0; i < 4; i++)
		p->s[i] = splitmix64(&x);
}

uint64_t
dcf_prng_next(dcf_prng *p)
{
	uint64_t   *s = p->s;
	uint64_t	result = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t
dcf_prng_below(dcf_prng *p, uint64_t n)
{
	if (n == 0)
		return 0;
	/* multiply-shift on the high bits: bias < n / 2^64, irrelevant here */
	return (uint64_t) (((unsigned __int128) dcf_prng_next(p) * n) >> 64);
}

int
dcf_prng_chance(dcf_prng *p, uint32_t permille)
{
	return dcf_prng_below(p, 1000) < permille;
}
