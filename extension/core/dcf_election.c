/*
 * dcf_election.c — leader election: randomized timeouts, pre-vote, votes,
 * the log up-to-date check, weighted tallies, the follower side of leases,
 * explicit campaigns (TIMEOUT_NOW, promote), work modes.
 *
 * Rules (Raft dissertation §3.4, §3.6, §3.10, §9.6; etcd-io/raft's PreVote
 * and CheckQuorum):
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
 *       meanwhile.  Requests flagged TRANSFER bypass the lease: the leader
 *       that ordered the transfer gave its lease up (dcf_node.c).
 *   E4  Votes are weighted: a candidate wins with granted weight >= the
 *       quorum of the voters in force (LEADER, FOLLOWER, LOGGER members that
 *       are not learners); it asks, and counts, no PASSIVE member or
 *       learner; only LEADER/FOLLOWER members campaign.
 *   E5  With run_mode NONE a node never starts an election by itself; a
 *       TIMEOUT_NOW from its leader (transfer) or a PROMOTE request still
 *       makes it campaign, once.
 *   E6  Work modes: a candidate counts only (pre-)votes that come from
 *       voters in its own work mode, and a voter refuses candidates of the
 *       other mode.  In minority mode the quorum is vote_num, and the first
 *       campaign after entering it raises the term by DCF_MINORITY_TERM_STEP
 *       instead of 1, so the minority's term is above any term the lost
 *       majority can have reached: its nodes, when they come back, follow
 *       the minority's leader instead of deposing it.  A node in minority
 *       mode ignores appends and heartbeats of a leader in normal mode (as
 *       if lost): the operator declared that majority gone, and its appends
 *       still in flight must not lengthen a survivor's log after the
 *       operator chose the survivors (a LOGGER made longest that way would
 *       refuse its vote to every survivor that may lead, for good).
 *   E7  TIMEOUT_NOW is obeyed only from the leader the node follows, in the
 *       same term, and only if the node holds the leader's last index as of
 *       sending and no entry of the leader's term after it (that would be
 *       the NOOP of an aborted transfer): the node then campaigns at once,
 *       without pre-vote, with the TRANSFER flag.
 *   E8  Membership changes: a node judges candidates by its configuration in
 *       force (the last CONFIG entry of its log), except that, as in Raft,
 *       it does not refuse a candidate only because that configuration
 *       leaves the candidate out, and a node that its own configuration
 *       leaves out or forbids to lead (PASSIVE) keeps, while that
 *       configuration is not committed on it, the right to campaign it had
 *       in the previous one (for the voters of its configuration; its own
 *       vote counts only if it is one of them), and voters whose
 *       configuration in force is not committed on them judge a candidate's
 *       right to lead by the previous one too.  A leader that removes or
 *       demotes itself and steps down early (check-quorum, a crash) may hold
 *       the only copy of that change among the nodes that may lead; without
 *       E8 nobody could elect anyone (the simulator found those deadlocks).
 *       Elected that way, it commits the change and steps down (C6).
 *       Pre-vote and leases keep removed nodes from disrupting a cluster
 *       that has a leader.
 *   E9  A node answers a vote request on its merits (term, lease, log, work
 *       mode, whether the candidate may lead) whatever its own role: the
 *       candidate asks, and counts, only the voters of its configuration,
 *       so a PASSIVE member's vote never counts — but a member made a voter
 *       by a CONFIG entry it has not received yet still votes for a
 *       candidate that has it (as in Raft, where servers vote without
 *       consulting their configuration).  Without E9 that promotion could
 *       leave a candidate needing a vote nobody would give (the simulator
 *       found that deadlock too).
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
		bool		me = (int) i == node->self;

		if (!dcf_member_is_voter(m))
			continue;
		/* E6: acknowledgements of the other work mode do not count */
		if (!me && !dcf_node_peer_same_mode(node, &node->progress[i]))
			continue;
		v[n].weight = m->weight;
		v[n].value = me ? node->now_ms : node->progress[i].ack_sent_ms;
		n++;
	}
	return dcf_quorum_index(v, n, node->needed_weight);
}

/*
 * S1 (dcf_core.h): a node that lost entries it may have acknowledged holds
 * them again once its persisted log reaches the repair index R, or ends in
 * an entry of a term above repair_term.  Every entry at or above the index
 * the load cut came from a leader's APPEND (a node in repair never leads),
 * so its log is then a prefix of a leader's log: up to R, or up to an
 * entry that a leader of a term above every term of the lost entries
 * appended after everything committed before its term (leader
 * completeness) — and the lost acknowledgements were all given, and
 * counted, in such earlier terms.  Either way it holds every entry
 * committed with them.  Called after every event.
 */
void
dcf_election_repair_check(dcf_node *node)
{
#ifdef DCF_PLANT_BUG_REPAIR_IGNORED
	/* planted bug: a node that lost durable entries votes at once */
	if (node->repair_index != 0)
	{
		node->repair_index = 0;
		node->hs_dirty = true;
	}
#endif
	if (node->repair_index != 0)
	{
		uint64_t	t = 0;
		bool		done = node->log.persisted >= node->repair_index;

		if (!done && node->log.persisted > 0 &&
			dcf_node_term_at(node, node->log.persisted, &t) == DCF_OK && t > node->repair_term)
			done = true;
		if (done)
		{
			node->repair_index = 0;
			node->hs_dirty = true;
		}
	}
}

void
dcf_hard_state_rebuilt(dcf_hard_state *hs, const dcf_hard_state *old, uint64_t copy_term,
					   uint32_t leader_id, uint64_t leader_term, uint64_t leader_last_index)
{
	dcf_hard_state h;

	memset(&h, 0, sizeof(h));
#ifdef DCF_PLANT_BUG_REBUILD_VOTES
	/*
	 * planted bug: dcf_ctl build before S2 — the copy's term and no vote
	 * when the old ones are lost, and no repair bound: the node votes for
	 * candidates lacking entries it acknowledged, and again in terms it
	 * voted in
	 */
	(void) leader_id;
	(void) leader_last_index;
	h.term = copy_term;
	if (old && old->term >= copy_term)
	{
		h.term = old->term;
		h.vote = old->vote;
	}
	*hs = h;
	return;
#endif
	DCF_ASSERT(leader_term >= copy_term && leader_id != DCF_NODE_NONE);
	if (old && old->term >= leader_term)
	{
		h.term = old->term;
		h.vote = old->vote;
	}
	else
	{
		h.term = leader_term;
		h.vote = leader_id;
	}
	h.repair_index = leader_last_index;
	h.repair_term = leader_term;
	*hs = h;
}

/* A member that may lead (E4), whatever the run mode. */
bool
dcf_election_may_campaign(const dcf_node *node)
{
	/* S1: a node missing entries it may have acknowledged never leads */
	if (node->repair_index != 0)
		return false;
#ifdef DCF_PLANT_BUG_LOGGER_CAMPAIGNS
	/* planted bug: a LOGGER campaigns and leads like a FOLLOWER */
	if (node->self >= 0 && dcf_member_acting_role(&node->membership.members[node->self]) == DCF_ROLE_LOGGER)
		return true;
#endif
	if (node->self >= 0 && dcf_member_may_lead(&node->membership.members[node->self]))
		return true;
	/* E8 */
	{
		const dcf_member *was = dcf_election_previous_self(node);

		return was != NULL && dcf_member_may_lead(was);
	}
}

/*
 * E8: a node that its own configuration in force leaves out or forbids to
 * lead, while that configuration is not committed on it (its removal or
 * demotion in flight), keeps the right to campaign it had in the previous
 * configuration: its member entry there, or NULL.
 */
const dcf_member *
dcf_election_previous_self(const dcf_node *node)
{
	if (node->membership_index <= node->commit || node->membership.n_prev == 0)
		return NULL;
	return dcf_membership_find_in(node->membership.prev, node->membership.n_prev, node->opts.node_id);
}

/* E1, E5: may this node start an election by itself? */
bool
dcf_election_can_campaign(const dcf_node *node)
{
#ifdef DCF_PLANT_BUG_RUN_MODE_IGNORED
	/* planted bug: run_mode NONE still elects automatically */
	return dcf_election_may_campaign(node);
#else
	return dcf_election_may_campaign(node) && node->opts.run_mode == DCF_RUN_MODE_AUTO;
#endif
}

/* The role a node shows when it follows. */
dcf_role
dcf_election_follower_role(const dcf_node *node)
{
	if (node->self < 0)
		return DCF_ROLE_UNKNOWN;
	if (node->conf_role == DCF_ROLE_LOGGER || node->conf_role == DCF_ROLE_PASSIVE)
		return node->conf_role;
	return DCF_ROLE_FOLLOWER;
}

void
dcf_election_become_follower(dcf_node *node, uint64_t term, uint32_t leader)
{
	bool		was_leader = node->role == DCF_ROLE_LEADER;

	DCF_ASSERT(term >= node->term);
	if (term > node->term)
	{
		node->term = term;
		node->vote = DCF_NODE_NONE;
		node->hs_dirty = true;
	}
	node->role = dcf_election_follower_role(node);
	node->leader_id = leader;
	node->campaign_transfer = false;
	if (leader != DCF_NODE_NONE)
		dcf_election_heard_leader(node);
	dcf_node_reset_election_timer(node);
	if (was_leader)
	{
		dcf_transfer_lost_leadership(node, node->higher_term_from);
		dcf_reconfig_lost_leadership(node);
	}
}

/* The term step of the next campaign (E6). */
static uint64_t
term_step(const dcf_node *node)
{
#ifdef DCF_PLANT_BUG_NO_TERM_STEP
	/* planted bug: minority mode raises the term by one like any election */
	return 1;
#else
	if (node->opts.work_mode == DCF_WORK_MODE_MINORITY && !node->minority_bumped)
		return DCF_MINORITY_TERM_STEP;
	return 1;
#endif
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
		uint64_t	w = m->weight;

#ifdef DCF_PLANT_BUG_IGNORE_WEIGHT
		w = 1;
#endif
		if (!dcf_member_is_voter(m))
		{
#ifdef DCF_PLANT_BUG_PASSIVE_VOTES
			if (m->role != DCF_ROLE_PASSIVE)
				continue;
#else
			continue;
#endif
		}
		if (node->votes[i] == 1)
			granted += w;
		else if (node->votes[i] == 2)
			rejected += w;
	}
	return dcf_quorum_vote_result(granted, rejected, node->total_weight, node->needed_weight);
}

void
dcf_election_campaign(dcf_node *node, bool pre_vote, bool transfer)
{
	uint64_t	last_index = dcf_raftlog_last_index(&node->log);
	uint64_t	last_term = node->log.last_term;
	uint64_t	req_term;
	dcf_vote_result res;

	DCF_ASSERT(dcf_election_may_campaign(node));
	if (pre_vote)
	{
		node->role = DCF_ROLE_PRE_CANDIDATE;
		req_term = node->term + term_step(node);
	}
	else
	{
		node->term += term_step(node);
		if (node->opts.work_mode == DCF_WORK_MODE_MINORITY)
			node->minority_bumped = true;
		node->vote = node->opts.node_id;
		node->hs_dirty = true;
		node->role = DCF_ROLE_CANDIDATE;
		req_term = node->term;
	}
	node->campaign_transfer = transfer;
	node->leader_id = DCF_NODE_NONE;
	memset(node->votes, 0, sizeof(node->votes));
	if (node->self >= 0)
		node->votes[node->self] = 1;	/* (E8: a removed node's own vote does not count) */
	dcf_node_reset_election_timer(node);

	res = tally(node);
	if (res == DCF_VOTE_WON)
	{
		/* a quorum of one: this node alone */
		if (pre_vote)
			dcf_election_campaign(node, false, transfer);
		else
			dcf_replication_become_leader(node);
		return;
	}
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		const dcf_member *m = &node->membership.members[i];
		dcf_msg    *msg;

		if ((int) i == node->self || !dcf_member_is_voter(m))
		{
#ifdef DCF_PLANT_BUG_PASSIVE_VOTES
			if ((int) i == node->self || m->role != DCF_ROLE_PASSIVE)
				continue;
#else
			continue;
#endif
		}
		msg = dcf_node_new_msg(node, pre_vote ? DCF_MSG_PREVOTE_REQ : DCF_MSG_VOTE_REQ, m->node_id);
		if (msg == NULL)
			break;
		msg->term = req_term;
		msg->index = last_index;
		msg->log_term = last_term;
		if (transfer)
			msg->flags |= DCF_MSG_F_TRANSFER;
	}
}

void
dcf_election_tick(dcf_node *node)
{
	if (node->now_ms < node->election_deadline_ms)
		return;
	if (dcf_election_can_campaign(node))
		dcf_election_campaign(node, true, false);
	else if (node->role == DCF_ROLE_PRE_CANDIDATE || node->role == DCF_ROLE_CANDIDATE)
		dcf_election_become_follower(node, node->term, DCF_NODE_NONE);	/* E5: once */
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

	/*
	 * E9: whether this node's vote counts is the candidate's business (it
	 * asks only the voters of its configuration): our own role is not
	 * consulted.  A candidate our configuration leaves out is judged by its
	 * log alone (E8); one it makes a LOGGER, PASSIVE or learner is refused,
	 * unless that configuration is not committed here and the previous one
	 * let it lead (E8: its demotion is in flight, it may be the one to
	 * commit it).
	 */
	bool		cand_ok = cand == NULL || dcf_member_may_lead(cand);

	if (!cand_ok && node->membership_index > node->commit && node->membership.n_prev > 0)
	{
		const dcf_member *was = dcf_membership_find_in(node->membership.prev, node->membership.n_prev, m->from);

		cand_ok = was != NULL && dcf_member_may_lead(was);
	}
	/*
	 * E8 too: a candidate whose log goes beyond ours may hold a CONFIG entry
	 * we lack that lets it lead (a learner's promotion, say); refusing it
	 * could leave no electable node, so its log alone decides.  (It campaigns
	 * only when its own configuration lets it.)
	 */
	if (!cand_ok &&
		(m->log_term > node->log.last_term ||
		 (m->log_term == node->log.last_term && m->index > dcf_raftlog_last_index(&node->log))))
		cand_ok = true;
	/*
	 * S1: its log is shorter than what it may have acknowledged.  It judges
	 * the candidate against the log it lost as well: as if its last entry
	 * were still index repair_index of term repair_term (a bound on its
	 * term: the check is Raft's, against a log at least as up to date as
	 * the one it had).
	 */
	if (node->repair_index != 0 &&
		!(m->log_term > node->repair_term ||
		  (m->log_term == node->repair_term && m->index >= node->repair_index)))
		cand_ok = false;
	if (cand_ok && dcf_node_same_mode(node, m->flags))
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
	if (pre && !reject && m->term != node->term + term_step(node))
		return;
	/* E6: an answer from the other work mode does not count either way */
	if (!dcf_node_same_mode(node, m->flags))
		return;
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		if (node->membership.members[i].node_id == m->from)
			idx = (int) i;
	}
	if (idx < 0)
		return;
	if (!dcf_member_is_voter(&node->membership.members[idx]))
	{
#ifndef DCF_PLANT_BUG_PASSIVE_VOTES
		return;
#endif
	}
	if (node->votes[idx] == 0)
		node->votes[idx] = reject ? 2 : 1;
	switch (tally(node))
	{
		case DCF_VOTE_WON:
			if (pre)
				dcf_election_campaign(node, false, node->campaign_transfer);
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

void
dcf_election_handle_timeout_now(dcf_node *node, const dcf_msg *m)
{
	/* E7 */
	if (m->term != node->term || m->from != node->leader_id || node->role == DCF_ROLE_LEADER ||
		node->role == DCF_ROLE_CANDIDATE || node->role == DCF_ROLE_PRE_CANDIDATE)
		return;
	if (!dcf_election_may_campaign(node) || dcf_raftlog_last_index(&node->log) < m->index)
		return;
	/*
	 * An entry of the sender's term past that index means the sender
	 * appended after it sent TIMEOUT_NOW — only the NOOP of an aborted
	 * transfer (T3), which arrived first: the transfer is over.  (The
	 * simulator found the late campaign winning against the lease, seed
	 * 24441 of the development run.)
	 */
	if (dcf_raftlog_last_index(&node->log) > m->index)
	{
		uint64_t	t = 0;

		if (dcf_node_term_at(node, m->index + 1, &t) != DCF_OK || t == m->term)
			return;
	}
	dcf_election_campaign(node, false, true);
}

dcf_rc
dcf_election_set_work_mode(dcf_node *node, uint32_t mode, uint32_t vote_num, char *errmsg)
{
	if (mode == DCF_WORK_MODE_MINORITY)
	{
		if (vote_num == 0 || vote_num > node->total_weight)
			return dcf_errf(errmsg, DCF_ERR_INVALID,
							"vote_num %u is outside 1..%llu (the weight of the voters)", vote_num,
							(unsigned long long) node->total_weight);
		if (node->opts.work_mode != DCF_WORK_MODE_MINORITY)
			node->minority_bumped = false;
		node->opts.work_mode = DCF_WORK_MODE_MINORITY;
		node->opts.vote_num = vote_num;
	}
	else if (mode == DCF_WORK_MODE_NORMAL)
	{
		node->opts.work_mode = DCF_WORK_MODE_NORMAL;
		node->opts.vote_num = 0;
	}
	else
		return dcf_errf(errmsg, DCF_ERR_INVALID, "unknown work mode %u", mode);
	dcf_node_apply_membership(node);
	/* a leader or candidate of the old mode starts over in the new one */
	if (node->role == DCF_ROLE_LEADER || node->role == DCF_ROLE_CANDIDATE ||
		node->role == DCF_ROLE_PRE_CANDIDATE)
		dcf_election_become_follower(node, node->term, DCF_NODE_NONE);
	return DCF_OK;
}
