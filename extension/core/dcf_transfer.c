/*
 * dcf_transfer.c — leadership transfer (switchover, dissertation §3.10) and
 * priority election.
 *
 * Transfer, on the leader:
 *   T1  From the request on, the leader refuses proposals (DCF_ERR_STATE)
 *       and membership changes, and keeps replicating to the target.
 *   T2  When the target holds the leader's last index, the leader sends it
 *       TIMEOUT_NOW (with that index) and gives up its lease: from then on
 *       the target may win votes that ignore leases (flag TRANSFER).
 *   T3  If the target has not taken over by the deadline, the transfer is
 *       aborted and reported (DCF_ERR_TIMEOUT).  If TIMEOUT_NOW went out,
 *       the leader appends a NOOP and holds no lease until that NOOP is
 *       committed: a quorum then holds an entry the target (as of its
 *       TIMEOUT_NOW) lacks, so a late campaign of the target cannot win
 *       against the leader's lease.
 *   T4  When the leader learns of a higher term before TIMEOUT_NOW went
 *       out, the transfer is abandoned (DCF_ERR_STATE).  After TIMEOUT_NOW,
 *       the node steps down (usually on the target's vote request) and
 *       waits until the deadline for the next leader: reported done when
 *       the target's APPEND/HEARTBEAT arrives, abandoned when another node
 *       leads (or this one is elected again), timed out otherwise.
 *   T5  A target whose last answer came in the other work mode is refused:
 *       the voters it would need do not count its campaign (E6), and in
 *       the minority procedure (README.md) the nodes of the lost majority
 *       must not lead before the switch back.
 *
 * Priority election: at most once per priority_interval_ms, a leader in
 * run_mode AUTO with priority_election on, no change or transfer in flight
 * and its term's first entry committed, looks for a voter that may lead
 * with a higher priority than its own, in the same work mode, caught up
 * (its match index at least the commit index) and heard from within an
 * election timeout.  The best one — highest priority, then the leader's own
 * group, then the longest log, then the lowest id — gets an automatic
 * transfer.  A lower-priority node therefore leads only while no
 * higher-priority one is available; an aborted automatic transfer backs
 * the next check off by four intervals.
 */
#include "core/dcf_node_int.h"

#include <string.h>

static uint64_t
default_timeout_ms(const dcf_node *node)
{
	return node->opts.transfer_timeout_ms ? node->opts.transfer_timeout_ms :
		2ULL * node->opts.election_timeout_ms;
}

static uint64_t
priority_interval_ms(const dcf_node *node)
{
	return node->opts.priority_interval_ms ? node->opts.priority_interval_ms :
		2ULL * node->opts.election_timeout_ms;
}

dcf_rc
dcf_transfer_start(dcf_node *node, uint32_t target, uint32_t timeout_ms, bool automatic,
				   char *errmsg)
{
	const dcf_member *m;

	if (node->role != DCF_ROLE_LEADER)
		return dcf_errf(errmsg, DCF_ERR_STATE, "node %u is not the leader (leader: %u)",
						node->opts.node_id, node->leader_id);
	if (node->transfer.target != DCF_NODE_NONE)
		return dcf_errf(errmsg, DCF_ERR_STATE, "a leadership transfer to node %u is in progress",
						node->transfer.target);
	if (target == node->opts.node_id)
	{
		dcf_node_report(node, DCF_ADMIN_TRANSFER_LEADER, target, DCF_OK, 0, automatic,
						"already the leader");
		return DCF_OK;
	}
	m = dcf_membership_find(&node->membership, target);
	if (m == NULL)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "node %u is not a member", target);
	if (!dcf_member_may_lead(m))
		return dcf_errf(errmsg, DCF_ERR_INVALID, "node %u is a %s member and cannot lead", target,
						dcf_role_name(dcf_member_acting_role(m)));
	{
		const dcf_progress *pr = dcf_node_progress(node, target);

		/* T5: its votes would not count here, nor ours there (E6) */
		if (pr != NULL && !dcf_node_peer_same_mode(node, pr))
			return dcf_errf(errmsg, DCF_ERR_STATE, "node %u works in the other work mode", target);
	}
	memset(&node->transfer, 0, sizeof(node->transfer));
	node->transfer.target = target;
	node->transfer.deadline_ms = node->now_ms + (timeout_ms ? timeout_ms : default_timeout_ms(node));
	node->transfer.automatic = automatic;
	dcf_transfer_step(node);
	return DCF_OK;
}

void
dcf_transfer_step(dcf_node *node)
{
	dcf_transfer *tr = &node->transfer;
	dcf_progress *pr;
	uint64_t	last;
	dcf_msg    *msg;

	if (tr->target == DCF_NODE_NONE || tr->timeout_now_sent || node->role != DCF_ROLE_LEADER)
		return;
	pr = dcf_node_progress(node, tr->target);
	if (pr == NULL || !dcf_member_may_lead(dcf_membership_find(&node->membership, tr->target)))
	{
		dcf_node_report(node, DCF_ADMIN_TRANSFER_LEADER, tr->target, DCF_ERR_STATE, 0, tr->automatic,
						"the target can no longer lead");
		memset(tr, 0, sizeof(*tr));
		return;
	}
	if (!dcf_node_peer_same_mode(node, pr))
	{
		/* T5, now that it has answered */
		dcf_node_report(node, DCF_ADMIN_TRANSFER_LEADER, tr->target, DCF_ERR_STATE, 0, tr->automatic,
						"the target works in the other work mode");
		memset(tr, 0, sizeof(*tr));
		return;
	}
	last = dcf_raftlog_last_index(&node->log);
#ifndef DCF_PLANT_BUG_TRANSFER_NOT_CAUGHT_UP
	if (pr->match < last)
	{
		/* T1: bring it up to date (a no-op while its window is full) */
		dcf_replication_send_append(node, pr, false);
		return;
	}
#endif
	msg = dcf_node_new_msg(node, DCF_MSG_TIMEOUT_NOW, tr->target);
	if (msg == NULL)
		return;					/* next step */
	msg->index = last;
	tr->timeout_now_sent = true;	/* T2 */
}

static void
abort_transfer(dcf_node *node)
{
	dcf_transfer *tr = &node->transfer;
	bool		sent = tr->timeout_now_sent;
	bool		automatic = tr->automatic;
	dcf_rc		rc;

	dcf_node_report(node, DCF_ADMIN_TRANSFER_LEADER, tr->target, DCF_ERR_TIMEOUT, 0, automatic,
					sent ? "the target did not take over in time" : "the target did not catch up in time");
	memset(tr, 0, sizeof(*tr));
	if (automatic)
		node->next_priority_check_ms = node->now_ms + 4 * priority_interval_ms(node);
	if (!sent)
		return;
	/* T3 */
	rc = dcf_raftlog_append_new(&node->log, node->term, DCF_ENTRY_NOOP, node->log.last_key, NULL, 0,
								node->errmsg);
	if (rc != DCF_OK)
	{
		if (rc != DCF_ERR_FULL)
			dcf_node_fail(node, rc);
		else
			dcf_election_become_follower(node, node->term, DCF_NODE_NONE);
		return;
	}
	node->lease_fence_index = dcf_raftlog_last_index(&node->log);
	dcf_replication_bcast_append(node);
}

void
dcf_transfer_tick(dcf_node *node)
{
	if (node->transfer.target != DCF_NODE_NONE && node->now_ms >= node->transfer.deadline_ms)
		abort_transfer(node);
}

void
dcf_transfer_lost_leadership(dcf_node *node, uint32_t new_term_from)
{
	dcf_transfer *tr = &node->transfer;

	(void) new_term_from;
	if (tr->target == DCF_NODE_NONE || tr->awaiting)
		return;
	/* T4 */
	if (tr->timeout_now_sent)
	{
		tr->awaiting = true;	/* keeps target, deadline */
		return;
	}
	dcf_node_report(node, DCF_ADMIN_TRANSFER_LEADER, tr->target, DCF_ERR_STATE, 0, tr->automatic,
					"leadership lost before the target was up to date");
	memset(tr, 0, sizeof(*tr));
}

void
dcf_transfer_heard_leader(dcf_node *node, uint32_t leader)
{
	dcf_transfer *tr = &node->transfer;

	if (!tr->awaiting)
		return;
	if (leader == tr->target)
		dcf_node_report(node, DCF_ADMIN_TRANSFER_LEADER, tr->target, DCF_OK, 0, tr->automatic,
						"the target took over");
	else
		dcf_node_report(node, DCF_ADMIN_TRANSFER_LEADER, tr->target, DCF_ERR_STATE, 0, tr->automatic,
						"another node took over");
	memset(tr, 0, sizeof(*tr));
}

void
dcf_transfer_follower_tick(dcf_node *node)
{
	dcf_transfer *tr = &node->transfer;

	if (!tr->awaiting || node->now_ms < tr->deadline_ms)
		return;
	dcf_node_report(node, DCF_ADMIN_TRANSFER_LEADER, tr->target, DCF_ERR_TIMEOUT, 0, tr->automatic,
					"the target did not take over in time");
	memset(tr, 0, sizeof(*tr));
}

/* Called when this node wins an election: a transfer it awaited failed. */
void
dcf_transfer_elected(dcf_node *node)
{
	dcf_transfer *tr = &node->transfer;

	if (tr->awaiting)
		dcf_node_report(node, DCF_ADMIN_TRANSFER_LEADER, tr->target, DCF_ERR_STATE, 0, tr->automatic,
						"this node was elected again");
	memset(tr, 0, sizeof(*tr));
}

/* Is a better than b as the next leader (b may be NULL)? */
static bool
better(const dcf_member *a, const dcf_progress *pa, const dcf_member *b, const dcf_progress *pb,
	   uint32_t my_group)
{
	if (b == NULL)
		return true;
	if (a->priority != b->priority)
		return a->priority > b->priority;
	if ((a->group == my_group) != (b->group == my_group))
		return a->group == my_group;
	if (pa->match != pb->match)
		return pa->match > pb->match;
	return a->node_id < b->node_id;
}

void
dcf_transfer_priority_tick(dcf_node *node)
{
	const dcf_member *me;
	const dcf_member *best = NULL;
	const dcf_progress *best_pr = NULL;
	char		err[DCF_ERRMSG_MAX];

#ifdef DCF_PLANT_BUG_NO_PRIORITY
	/* planted bug: priorities are never acted upon */
	return;
#endif
	if (!node->opts.priority_election || node->opts.run_mode != DCF_RUN_MODE_AUTO ||
		node->role != DCF_ROLE_LEADER || node->transfer.target != DCF_NODE_NONE ||
		dcf_reconfig_change_in_flight(node) || node->commit < node->term_start_index ||
		node->now_ms < node->next_priority_check_ms || node->self < 0)
		return;
	node->next_priority_check_ms = node->now_ms + priority_interval_ms(node);
	me = &node->membership.members[node->self];
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		const dcf_member *m = &node->membership.members[i];
		const dcf_progress *pr = &node->progress[i];

		if ((int) i == node->self || !dcf_member_may_lead(m) || m->priority <= me->priority)
			continue;
		if (!dcf_node_peer_same_mode(node, pr))
			continue;
		if (pr->match < node->commit ||
			pr->last_heard_ms + node->opts.election_timeout_ms <= node->now_ms)
			continue;
		if (better(m, pr, best, best_pr, me->group))
		{
			best = m;
			best_pr = pr;
		}
	}
	if (best != NULL)
		(void) dcf_transfer_start(node, best->node_id, 0, true, err);
}
