/*
 * test_quorum.c — the weighted quorum arithmetic of extension/core against
 * naive versions on random inputs (as etcd-io/raft's quorum/quick_test.go):
 * the commit index from match indexes, the vote tally, the majority weight,
 * and whether the majorities of two configurations intersect.
 */
#include "core/dcf_core.h"
#include "core/dcf_prng.h"
#include "core/dcf_quorum.h"
#include "unit.h"

/* The largest v among the values (or 0) whose voters at or above weigh >= needed. */
static uint64_t
naive_index(const dcf_quorum_voter *v, uint32_t n, uint64_t needed)
{
	uint64_t	best = 0;

	if (needed == 0)
		needed = 1;
	for (uint32_t i = 0; i < n; i++)
	{
		uint64_t	w = 0;

		for (uint32_t j = 0; j < n; j++)
			if (v[j].value >= v[i].value)
				w += v[j].weight;
		if (w >= needed && v[i].value > best)
			best = v[i].value;
	}
	return best;
}

static dcf_vote_result
naive_vote(uint64_t granted, uint64_t rejected, uint64_t total, uint64_t needed)
{
	/* won if the grants alone make it; lost if even all silent voters cannot */
	if (granted >= needed)
		return DCF_VOTE_WON;
	if (total - rejected < needed)
		return DCF_VOTE_LOST;
	return DCF_VOTE_PENDING;
}

/* Naive: try every assignment of each node to a's quorum, b's, or neither. */
static bool
naive_intersect(const dcf_quorum_pair *p, uint32_t n)
{
	uint64_t	wa = 0,
				wb = 0,
				combos = 1;

	for (uint32_t i = 0; i < n; i++)
	{
		wa += p[i].weight_a;
		wb += p[i].weight_b;
		combos *= 3;
	}
	if (wa == 0 || wb == 0)
		return true;
	for (uint64_t c = 0; c < combos; c++)
	{
		uint64_t	x = c,
					sa = 0,
					sb = 0;

		for (uint32_t i = 0; i < n; i++, x /= 3)
		{
			if (x % 3 == 1)
				sa += p[i].weight_a;
			else if (x % 3 == 2)
				sb += p[i].weight_b;
		}
		if (sa >= wa / 2 + 1 && sb >= wb / 2 + 1)
			return false;
	}
	return true;
}

static void
test_intersect(void)
{
	dcf_prng	rr;
	int			bad = 0,
				unsafe = 0,
				one_change_unweighted_unsafe = 0;

	dcf_prng_seed(&rr, 99);
	for (int round = 0; round < 20000; round++)
	{
		dcf_quorum_pair p[8];
		uint32_t	n = 1 + (uint32_t) dcf_prng_below(&rr, 8);
		bool		weighted = dcf_prng_below(&rr, 2);
		bool		got,
					want;

		for (uint32_t i = 0; i < n; i++)
		{
			uint32_t	w = weighted ? (uint32_t) dcf_prng_below(&rr, 4) : (uint32_t) dcf_prng_below(&rr, 2);

			p[i].weight_a = w;
			p[i].weight_b = w;
		}
		/* b differs from a in one node (or in several, sometimes) */
		for (int k = 0; k < (dcf_prng_below(&rr, 4) == 0 ? 3 : 1); k++)
		{
			uint32_t	j = (uint32_t) dcf_prng_below(&rr, n);

			p[j].weight_b = weighted ? (uint32_t) dcf_prng_below(&rr, 4) : (uint32_t) dcf_prng_below(&rr, 2);
		}
		got = dcf_quorum_majorities_intersect(p, n);
		want = naive_intersect(p, n);
		bad += got != want;
		unsafe += !want;
		if (!weighted)
		{
			int			diff = 0;

			for (uint32_t i = 0; i < n; i++)
				diff += p[i].weight_a != p[i].weight_b;
			one_change_unweighted_unsafe += diff <= 1 && !got;
		}
	}
	CHECK(bad == 0, "majorities_intersect agrees with the naive version on 20000 pairs of configurations (%d unsafe)",
		  unsafe);
	CHECK(unsafe > 0, "the random pairs include configurations whose majorities do not intersect");
	CHECK(one_change_unweighted_unsafe == 0, "with weights 1, configurations one voter apart always intersect");
	{
		/* the simulator's seed 363: {1:w1, 3:w3} -> {1:w1}: node 3 alone was a majority */
		dcf_quorum_pair p[2] = {{1, 1}, {3, 0}};
		dcf_quorum_pair big[DCF_MEMBERS_MAX];

		CHECK(!dcf_quorum_majorities_intersect(p, 2), "removing a node that is a weighted majority alone is unsafe");
		for (int i = 0; i < DCF_MEMBERS_MAX; i++)
			big[i].weight_a = big[i].weight_b = DCF_MEMBER_WEIGHT_MAX;
		big[0].weight_b = 0;
		CHECK(dcf_quorum_majorities_intersect(big, DCF_MEMBERS_MAX),
			  "the largest configuration (32 voters of weight %d) one voter apart intersects", DCF_MEMBER_WEIGHT_MAX);
	}
}

int
main(void)
{
	dcf_prng	r;
	int			mismatches = 0,
				vote_mismatches = 0,
				monotone_bad = 0;
	long		iterations = 200000;

	dcf_prng_seed(&r, 42);

	/* fixed cases */
	{
		dcf_quorum_voter v3[3] = {{5, 1}, {7, 1}, {6, 1}};
		dcf_quorum_voter w4[4] = {{10, 3}, {2, 1}, {3, 1}, {4, 1}};

		CHECK(dcf_quorum_index(v3, 3, dcf_quorum_majority(3)) == 6,
			  "3 equal voters at 5, 7, 6: majority holds 6");
		CHECK(dcf_quorum_index(w4, 4, dcf_quorum_majority(6)) == 4,
			  "weights 3,1,1,1 at 10,2,3,4: weight 4 of 6 holds 4");
		CHECK(dcf_quorum_index(w4, 4, 7) == 0, "a quorum heavier than everyone: 0");
		CHECK(dcf_quorum_index(v3, 0, 1) == 0, "no voters: 0");
		CHECK(dcf_quorum_majority(1) == 1 && dcf_quorum_majority(2) == 2 &&
			  dcf_quorum_majority(5) == 3 && dcf_quorum_majority(6) == 4,
			  "majority weights of 1, 2, 5, 6 are 1, 2, 3, 4");
	}

	for (long it = 0; it < iterations; it++)
	{
		dcf_quorum_voter v[DCF_MEMBERS_MAX];
		uint32_t	n = 1 + (uint32_t) dcf_prng_below(&r, DCF_MEMBERS_MAX);
		uint64_t	total = 0,
					needed;
		uint64_t	range = 1 + dcf_prng_below(&r, it % 2 ? 8 : 1000000);	/* ties, or not */
		uint64_t	got,
					want;

		for (uint32_t i = 0; i < n; i++)
		{
			v[i].value = dcf_prng_below(&r, range);
			v[i].weight = 1 + (uint32_t) dcf_prng_below(&r, it % 3 ? 5 : 1);
			total += v[i].weight;
		}
		needed = it % 4 == 0 ? 1 + dcf_prng_below(&r, total + 1) : dcf_quorum_majority(total);
		got = dcf_quorum_index(v, n, needed);
		want = naive_index(v, n, needed);
		CHECK_QUIET(got == want, "n=%u needed=%llu: fast %llu, naive %llu", n,
					(unsigned long long) needed, (unsigned long long) got, (unsigned long long) want);
		if (got != want)
			mismatches++;

		/* raising one voter's value never lowers the quorum index */
		{
			uint32_t	k = (uint32_t) dcf_prng_below(&r, n);

			v[k].value += 1 + dcf_prng_below(&r, 10);
			if (dcf_quorum_index(v, n, needed) < got)
				monotone_bad++;
		}

		/* vote tally */
		{
			uint64_t	granted = 0,
						rejected = 0;

			for (uint32_t i = 0; i < n; i++)
			{
				uint64_t	c = dcf_prng_below(&r, 3);

				if (c == 1)
					granted += v[i].weight;
				else if (c == 2)
					rejected += v[i].weight;
			}
			if (dcf_quorum_vote_result(granted, rejected, total, needed) !=
				naive_vote(granted, rejected, total, needed))
				vote_mismatches++;
		}
	}
	CHECK(mismatches == 0, "quorum index equals the naive computation on %ld random inputs (%d mismatches)",
		  iterations, mismatches);
	CHECK(monotone_bad == 0, "quorum index is monotone in every voter's value (%d violations)", monotone_bad);
	CHECK(vote_mismatches == 0, "vote tally equals the naive tally on %ld random inputs (%d mismatches)",
		  iterations, vote_mismatches);
	test_intersect();
	return unit_done();
}
