/*
 * dcf_quorum.c — weighted quorum arithmetic (see dcf_quorum.h).  Checked
 * against a naive version on random inputs by regress/unit/test_quorum.c.
 */
#include "core/dcf_quorum.h"
#include "core/dcf_assert.h"
#include "core/dcf_core.h"

uint64_t
dcf_quorum_majority(uint64_t total_weight)
{
	return total_weight / 2 + 1;
}

uint64_t
dcf_quorum_index(const dcf_quorum_voter *voters, uint32_t n, uint64_t needed)
{
	dcf_quorum_voter sorted[DCF_MEMBERS_MAX];
	uint64_t	acc = 0;

	DCF_ASSERT(n <= DCF_MEMBERS_MAX);
	if (needed == 0)
		needed = 1;
	/* insertion sort by value, descending: n is tiny */
	for (uint32_t i = 0; i < n; i++)
	{
		uint32_t	j = i;

		while (j > 0 && sorted[j - 1].value < voters[i].value)
		{
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = voters[i];
	}
	/*
	 * Walking down the values, the weight of voters at or above the current
	 * value only grows: the first value where it reaches `needed` is the
	 * largest such value.
	 */
	for (uint32_t i = 0; i < n; i++)
	{
		acc += sorted[i].weight;
		if (acc >= needed)
			return sorted[i].value;
	}
	return 0;
}

dcf_vote_result
dcf_quorum_vote_result(uint64_t granted_weight, uint64_t rejected_weight,
					   uint64_t total_weight, uint64_t needed)
{
	if (granted_weight >= needed)
		return DCF_VOTE_WON;
	if (rejected_weight > total_weight || total_weight - rejected_weight < needed)
		return DCF_VOTE_LOST;
	return DCF_VOTE_PENDING;
}

#define QUORUM_A_MAX (DCF_MEMBERS_MAX * DCF_MEMBER_WEIGHT_MAX / 2 + 1)

bool
dcf_quorum_majorities_intersect(const dcf_quorum_pair *nodes, uint32_t n)
{
	/* best[x]: the most weight in b a quorum-of-b candidate can have, disjoint
	 * from a set of weight x in a (x capped at qa); -1: unreachable */
	int32_t		best[QUORUM_A_MAX + 1];
	uint64_t	wa = 0,
				wb = 0;
	uint32_t	qa,
				qb;

	DCF_ASSERT(n <= DCF_MEMBERS_MAX);
	for (uint32_t i = 0; i < n; i++)
	{
		DCF_ASSERT(nodes[i].weight_a <= DCF_MEMBER_WEIGHT_MAX && nodes[i].weight_b <= DCF_MEMBER_WEIGHT_MAX);
		wa += nodes[i].weight_a;
		wb += nodes[i].weight_b;
	}
	if (wa == 0 || wb == 0)
		return true;			/* a configuration without voters decides nothing */
	qa = (uint32_t) dcf_quorum_majority(wa);
	qb = (uint32_t) dcf_quorum_majority(wb);
	DCF_ASSERT(qa <= QUORUM_A_MAX);
	for (uint32_t x = 0; x <= qa; x++)
		best[x] = -1;
	best[0] = 0;
	for (uint32_t i = 0; i < n; i++)
	{
		uint32_t	a = nodes[i].weight_a;
		uint32_t	b = nodes[i].weight_b;

		/* downwards in x, so that each node is placed at most once */
		for (int64_t x = qa; x >= 0; x--)
		{
			int32_t		cur = best[x];

			if (cur < 0)
				continue;
			if (b > 0)
				best[x] = cur + (int32_t) b;	/* into b's quorum */
			if (a > 0)
			{
				uint32_t	to = (uint32_t) x + a > qa ? qa : (uint32_t) x + a;

				if (cur > best[to])
					best[to] = cur;				/* into a's quorum */
			}
		}
	}
	return best[qa] < (int32_t) qb;
}
