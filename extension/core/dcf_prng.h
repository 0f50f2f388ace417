/*
 * dcf_prng.h — the seeded pseudo-random generator of the core (xoshiro256**,
 * seeded through splitmix64).
 *
 * The core never calls rand() or reads entropy: every random choice
 * (randomized election timeouts) comes from a dcf_prng seeded by the host, so
 * a run replays exactly from its seed.  The simulator uses the same generator
 * for its own choices.
 */
#ifndef DCF_PRNG_H
#define DCF_PRNG_H

#include <stdint.h>

typedef struct dcf_prng
{
	uint64_t	s[4];
} dcf_prng;

extern void dcf_prng_seed(dcf_prng *p, uint64_t seed);
extern uint64_t dcf_prng_next(dcf_prng *p);

/* Uniform in [0, n); 0 when n == 0. */
extern uint64_t dcf_prng_below(dcf_prng *p, uint64_t n);

/* true with probability permille / 1000. */
extern int	dcf_prng_chance(dcf_prng *p, uint32_t permille);

#endif							/* DCF_PRNG_H */
