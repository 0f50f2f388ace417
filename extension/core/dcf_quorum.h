/*
 * dcf_quorum.h — weighted quorum arithmetic: the commit index from match
 * indexes, the lease time from acknowledgement times, and vote tallies.
 *
 * A quorum is a set of voters whose weights add up to at least `needed`.
 * With needed = total / 2 + 1 (dcf_quorum_majority) any two quorums share a
 * voter, which is what election safety and leader completeness rest on.
 * (Minority work mode and policy majority change `needed` and add a
 * per-group condition; the functions here stay the same.)
 */
#ifndef DCF_QUORUM_H
#define DCF_QUORUM_H

#include <stdbool.h>
#include <stdint.h>

typedef struct dcf_quorum_voter
{
	uint64_t	value;			/* match index, ack time, ... */
	uint32_t	weight;
} dcf_quorum_voter;

/* Weight of a strict weighted majority of total: total / 2 + 1. */
extern uint64_t dcf_quorum_majority(uint64_t total_weight);

/*
 * The largest v such that the voters with value >= v weigh at least needed;
 * 0 when all voters together weigh less than needed.  n <= DCF_MEMBERS_MAX.
 * For match indexes this is the highest index stored on a quorum.
 */
extern uint64_t dcf_quorum_index(const dcf_quorum_voter *voters, uint32_t n, uint64_t needed);

typedef enum dcf_vote_result
{
	DCF_VOTE_PENDING = 0,
	DCF_VOTE_WON,
	DCF_VOTE_LOST
} dcf_vote_result;

/* WON when granted >= needed; LOST when a quorum can no longer be reached. */
extern dcf_vote_result dcf_quorum_vote_result(uint64_t granted_weight, uint64_t rejected_weight,
											  uint64_t total_weight, uint64_t needed);

/*
 * One node's vote weight in two configurations a and b (0: not a voter
 * there), for dcf_quorum_majorities_intersect().
 */
typedef struct dcf_quorum_pair
{
	uint32_t	weight_a;
	uint32_t	weight_b;
} dcf_quorum_pair;

/*
 * Does every weighted majority of configuration a share a node with every
 * weighted majority of configuration b?  n <= DCF_MEMBERS_MAX nodes, weights
 * <= DCF_MEMBER_WEIGHT_MAX.  With weights 1, configurations that differ in
 * one voter always do (the argument of single-server changes); with other
 * weights they may not — a node heavy enough to be a majority alone in a
 * can be dropped by b — and a membership change between them must be
 * refused.  Exact: a dynamic program over the nodes (each in a's quorum,
 * b's, or neither) of the best weight in b for each weight in a.
 */
extern bool dcf_quorum_majorities_intersect(const dcf_quorum_pair *nodes, uint32_t n);

#endif							/* DCF_QUORUM_H */
