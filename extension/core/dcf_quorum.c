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
