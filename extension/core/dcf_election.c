/*
 * dcf_election.c — leader election: randomized timeouts, pre-vote, votes,
 * the log up-to-date check, weighted tallies, the follower side of leases.
 *
 * Rules (Raft dissertation §3.4, §3.6, §9.6; etcd-io/raft's PreVote and
 * CheckQuorum):
 *   E1  A follower whose election timer expires (a duration drawn from
 *       [T, 2T) with the node's seeded PRNG) first runs a PRE-vote: it asks
 *       the voters whether they would vote for it in term + 1 without anyone
 *       changing term.  Only a weighted quorum of pre-votes lets it become
 *       CANDIDATE, raise its term, vote for itself and ask for real votes.
 *       A partitioned node therefore never inflates terms and never disturbs
 *       a healthy leader when it comes back.
 *   E2  A voter grants at most one vote per term (the vote is hard state,
 *       persisted before the answer leaves, contract H1), and only to a
 *       candidate whose log is at least as up-to-date as its own: higher last
 *       term, or the same last term and a last index at least as high
 *       (§5.4.1).  That is what makes a new leader hold every committed entry.
 *   E3  Lease: a node grants no (pre-)vote until T after it last heard
 *       from a leader, nor during the first T after it started (it may have
 *       acknowledged a leader just before stopping); a request of a higher
 *       term is then ignored without changing term.  The deadline survives
 *       term changes: a node pushed to a higher term by some other message
 *       (say, a refused pre-vote answer of a newer term) still keeps the
 *       promise it made by acknowledging its leader.  (The simulator found
 *       that hole: checking the lease only on higher-term requests, as
 *       etcd-io/raft does, let such a node elect a second leader while the
 *       first still held a valid lease.)  A leader holds a lease while a
 *       quorum acknowledged messages sent less than T ago
 *       (dcf_node_lease_valid); E3 is why no other leader can be elected
 *       meanwhile.  Requests flagged TRANSFER (leader transfer, issue 7)
 *       bypass the lease.
 *   E4  Votes are weighted: a candidate wins with granted weight >=
 *       total / 2 + 1 of the voters (LEADER, FOLLOWER, LOGGER members);
 *       PASSIVE members never vote, only LEADER/FOLLOWER members campaign.
 *   E5  With run_mode NONE a node never starts an election by itself.
 */
#include "core/dcf_node_int.h"

#include <string.h>

bool
dcf_election_in_lease(const dcf_node *node)
{
	return node->role == DCF_ROLE_LEADER || node->now_ms < node->vote_lease_until_ms;
}

void
dcf_election_heard_leader(dcf_node *node)
{
	uint64_t	until = node->now_ms + node->opts.election_timeout_ms;

	if (until > node->vote_lease_until_ms)
		node->vote_lease_until_ms = until;
}

uint64_t
dcf_election_quorum_ack_ms(const dcf_node *node)
{
	dcf_quorum_voter v[DCF_MEMBERS_MAX];
	uint32_t	n = 0;

	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		const dcf_member *m = &node->membership.members[i];

		if (!dcf_role_is_voter(m->role))
			continue;
		v[n].weight = m->weight;
		v[n].value = (int) i == node->self ? node->now_ms : node->progress[i].ack_sent_ms;
		n++;
	}
	return dcf_quorum_index(v, n, node->needed_weight);
}

static bool
can_campaign(const dcf_node *node)
{
	return node->self >= 0 && dcf_role_may_lead(node->conf_role) &&
		node->opts.run_mode == DCF_RUN_MODE_AUTO;
}

/* The role a node shows when it follows. */
static dcf_role
follower_role(const dcf_node *node)
{
	if (node->conf_role == DCF_ROLE_LOGGER || node->conf_role == DCF_ROLE_PASSIVE)
		return node->conf_role;
	return DCF_ROLE_FOLLOWER;
}

void
dcf_election_become_follower(dcf_node *node, uint64_t term, uint32_t leader)
{
	DCF_ASSERT(term >= node->term);
	if (term > node->term)
	{
		node->term = term;
		node->vote = DCF_NODE_NONE;
		node->hs_dirty = true;
	}
	node->role = follower_role(node);
	node->leader_id = leader;
	if (leader != DCF_NODE_NONE)
		dcf_election_heard_leader(node);
	dcf_node_reset_election_timer(node);
}

/* Weighted tally of the campaign in progress. */
static dcf_vote_result
tally(const dcf_node *node)
{
	uint64_t	granted = 0,
				rejected = 0;

	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		const dcf_member *m = &node->membership.members[i];

		if (!dcf_role_is_voter(m->role))
			continue;
		if (node->votes[i] == 1)
			granted += m->weight;
		else if (node->votes[i] == 2)
			rejected += m->weight;
	}
	return dcf_quorum_vote_result(granted, rejected, node->total_weight, node->needed_weight);
}

void
dcf_election_campaign(dcf_node *node, bool pre_vote)
{
	uint64_t	last_index = dcf_raftlog_last_index(&node->log);
	uint64_t	last_term = node->log.last_term;
	uint64_t	req_term;
	dcf_vote_result res;

	DCF_ASSERT(can_campaign(node));
	if (pre_vote)
	{
		node->role = DCF_ROLE_PRE_CANDIDATE;
		req_term = node->term + 1;
	}
	else
	{
		node->term++;
		node->vote = node->opts.node_id;
		node->hs_dirty = true;
		node->role = DCF_ROLE_CANDIDATE;
		req_term = node->term;
	}
	node->leader_id = DCF_NODE_NONE;
	memset(node->votes, 0, sizeof(node->votes));
	node->votes[node->self] = 1;
	dcf_node_reset_election_timer(node);

	res = tally(node);
	if (res == DCF_VOTE_WON)
	{
		/* a quorum of one: this node alone */
		if (pre_vote)
			dcf_election_campaign(node, false);
		else
			dcf_replication_become_leader(node);
		return;
	}
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		const dcf_member *m = &node->membership.members[i];
		dcf_msg    *msg;

		if ((int) i == node->self || !dcf_role_is_voter(m->role))
			continue;
		msg = dcf_node_new_msg(node, pre_vote ? DCF_MSG_PREVOTE_REQ : DCF_MSG_VOTE_REQ, m->node_id);
		if (msg == NULL)
			break;
		msg->term = req_term;
		msg->index = last_index;
		msg->log_term = last_term;
	}
}

void
dcf_election_tick(dcf_node *node)
{
	if (node->now_ms < node->election_deadline_ms)
		return;
	if (can_campaign(node))
		dcf_election_campaign(node, true);
	else
		dcf_node_reset_election_timer(node);
}

/* E2: is (index, term) at least as up-to-date as this node's log? */
static bool
log_up_to_date(const dcf_node *node, uint64_t index, uint64_t term)
{
#ifdef DCF_PLANT_BUG_VOTE_NO_LOG_CHECK
	/* planted bug (b): grant votes without comparing logs */
	(void) node;
	(void) index;
	(void) term;
	return true;
#else
	return term > node->log.last_term ||
		(term == node->log.last_term && index >= dcf_raftlog_last_index(&node->log));
#endif
}

void
dcf_election_handle_vote_req(dcf_node *node, const dcf_msg *m)
{
	bool		pre = m->type == DCF_MSG_PREVOTE_REQ;
	const dcf_member *cand = dcf_membership_find(&node->membership, m->from);
	bool		granted = false;
	dcf_msg    *resp;

	if (node->self >= 0 && dcf_role_is_voter(node->conf_role) &&
		cand != NULL && dcf_role_may_lead(cand->role))
	{
		bool		can_vote = node->vote == m->from ||
			(node->vote == DCF_NODE_NONE && node->leader_id == DCF_NODE_NONE) ||
			(pre && m->term > node->term);

		/* a real vote request of a lower term never gets here */
		DCF_ASSERT(pre || m->term == node->term);
		/* E3: in lease, only a transfer, or the candidate we already chose */
		granted = can_vote && log_up_to_date(node, m->index, m->log_term) &&
			(!dcf_election_in_lease(node) || (m->flags & DCF_MSG_F_TRANSFER) ||
			 (!pre && node->vote == m->from));
	}
	resp = dcf_node_new_msg(node, pre ? DCF_MSG_PREVOTE_RESP : DCF_MSG_VOTE_RESP, m->from);
	if (resp == NULL)
		return;					/* as if lost: the candidate retries */
	if (granted)
	{
		resp->term = m->term;
		if (!pre)
		{
			node->vote = m->from;
			node->hs_dirty = true;
			dcf_node_reset_election_timer(node);
		}
	}
	else
	{
		resp->term = node->term;
		resp->flags |= DCF_MSG_F_REJECT;
	}
}

void
dcf_election_handle_vote_resp(dcf_node *node, const dcf_msg *m)
{
	bool		pre = m->type == DCF_MSG_PREVOTE_RESP;
	bool		reject = (m->flags & DCF_MSG_F_REJECT) != 0;
	int			idx = -1;

	if (pre ? node->role != DCF_ROLE_PRE_CANDIDATE : node->role != DCF_ROLE_CANDIDATE)
		return;
	/* a pre-vote grant counts only for the term this campaign asks for */
	if (pre && !reject && m->term != node->term + 1)
		return;
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		if (node->membership.members[i].node_id == m->from)
			idx = (int) i;
	}
	if (idx < 0 || !dcf_role_is_voter(node->membership.members[idx].role))
		return;
	if (node->votes[idx] == 0)
		node->votes[idx] = reject ? 2 : 1;
	switch (tally(node))
	{
		case DCF_VOTE_WON:
			if (pre)
				dcf_election_campaign(node, false);
			else
				dcf_replication_become_leader(node);
			break;
		case DCF_VOTE_LOST:
			dcf_election_become_follower(node, node->term, DCF_NODE_NONE);
			break;
		case DCF_VOTE_PENDING:
			break;
	}
}
