/*
 * dcf_replication.c — log replication: the leader's appends, heartbeats and
 * commit rule, and the follower's handling of appends.
 *
 * Rules (Raft §5.3, §5.4.2; dissertation §3.5, §10.2; etcd-io/raft):
 *   R1  Log matching: an append names the index and term preceding its
 *       entries; a follower accepts it only if its own log has that entry,
 *       then removes its first conflicting entry and everything after it
 *       (never an entry at or below its commit index) and appends the rest.
 *   R2  Fast back-off: a rejection carries a hint (index, term) — the last
 *       entry of the follower at or below the rejected index whose term is at
 *       most the leader's prev term; the leader skips every index whose term
 *       rules it out, so one round trip per term instead of one per entry.
 *   R3  Pipelining: in REPLICATE state next advances when an append is
 *       sent, up to max_inflight_appends unanswered appends per peer; each
 *       append carries at most max_batch_entries entries and
 *       max_batch_bytes of payload (one larger entry goes alone).  A peer
 *       whose unstable log is full takes only a prefix of an append; the
 *       leader then falls back to one append at a time (dcf_progress.c).
 *   R4  Commit: the leader's commit index is the highest index stored on a
 *       weighted quorum of voters of its work mode (its own log counts up to
 *       what the host reported persisted) AND, with majority_groups, on at
 *       least one voter of every listed group that has voters (policy
 *       majority); it only moves to an entry of the leader's own term
 *       (§5.4.2, Figure 8): older entries commit indirectly.  A new leader
 *       therefore appends a NOOP of its term at once.
 *   R5  Followers learn the commit index from appends (bounded by the last
 *       entry the append matched) and heartbeats (the leader sends at most
 *       the peer's match index).  A follower that gets neither within
 *       commit_notify_ms of a commit gets an empty append for it.
 *   R6  Check-quorum: a leader that has not had a quorum acknowledge a
 *       message sent within the last T steps down.
 *   R7  The batch caps and the pipeline window in force are those of flow
 *       control (dcf_flow.c), at most the configured ones.
 *   R8  A follower that appends entries hands the CONFIG entries among them
 *       (and any truncation of one) to dcf_reconfig.c before it computes
 *       its commit index, so that N7 holds when the step ends.
 *   R9  A follower whose log went backwards (storage damage: it rejects an
 *       append at or below its match index, sent after the acknowledgement
 *       that set that match, or says it is repairing) has its progress
 *       reset to probe from its hint, and the update names it
 *       (dcf_update.regressions).  A follower repairing its log (S1 in
 *       dcf_core.h, DCF_MSG_F_REPAIR on its answers) counts toward no
 *       commit (R4) until it holds again what it lost.
 */
#include "core/dcf_node_int.h"

#include <string.h>

void
dcf_replication_commit_to(dcf_node *node, uint64_t index)
{
	if (index <= node->commit)
		return;
	DCF_ASSERT(index <= dcf_raftlog_last_index(&node->log));
	node->commit = index;
}

/* What a leader does when its commit index moved from old. */
static void
leader_committed(dcf_node *node, uint64_t old)
{
	dcf_flow_committed(node, old, node->commit);
	dcf_reconfig_committed(node);
}

/*
 * R2: the largest index <= index whose term is <= term (0 if none), looking
 * at no more than DCF_BACKOFF_SCAN_MAX_LOOKUPS entries.  Stopping early only
 * makes the back-off slower, never wrong: whatever the leader then probes is
 * checked again by R1.
 */
static uint64_t
find_conflict_by_term(dcf_node *node, uint64_t index, uint64_t term)
{
	uint64_t	last = dcf_raftlog_last_index(&node->log);

	if (index > last)
		index = last;
	for (int n = 0; n < DCF_BACKOFF_SCAN_MAX_LOOKUPS && index > 0; n++)
	{
		uint64_t	t;
		dcf_rc		rc = dcf_node_term_at(node, index, &t);

		if (rc != DCF_OK)
			return index;		/* recycled below: stop here */
		if (t <= term)
			return index;
		index--;
	}
	return index;
}

/* ---- leader ------------------------------------------------------------------ */

void
dcf_replication_become_leader(dcf_node *node)
{
	uint64_t	last = dcf_raftlog_last_index(&node->log);
	dcf_rc		rc;

	DCF_ASSERT(node->role == DCF_ROLE_CANDIDATE);
#ifndef DCF_PLANT_BUG_LOGGER_CAMPAIGNS
	DCF_ASSERT(dcf_election_may_campaign(node));
#endif
	node->role = DCF_ROLE_LEADER;
	node->leader_id = node->opts.node_id;
	node->became_leader_ms = node->now_ms;
	node->heartbeat_deadline_ms = node->now_ms + node->opts.heartbeat_interval_ms;
	node->commit_notify_due_ms = 0;
	node->campaign_transfer = false;
	memset(&node->change, 0, sizeof(node->change));
	dcf_transfer_elected(node);
	node->lease_fence_index = 0;
	node->next_priority_check_ms = node->now_ms;
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		dcf_progress *pr = &node->progress[i];
		const dcf_member *m = &node->membership.members[i];

		dcf_progress_reset(pr, last);
		pr->node_id = m->node_id;
		pr->weight = m->weight;
		pr->voter = dcf_member_is_voter(m);
		pr->last_heard_ms = node->now_ms;
		pr->minority = node->opts.work_mode == DCF_WORK_MODE_MINORITY;
		pr->round_target = last + 1;
		pr->round_start_ms = node->now_ms;
	}
	dcf_flow_reset(node);
	/* R4: a NOOP of the new term, so that older entries can commit */
	rc = dcf_raftlog_append_new(&node->log, node->term, DCF_ENTRY_NOOP, node->log.last_key,
							NULL, 0, node->errmsg);
	if (rc != DCF_OK)
	{
		/* the unstable log is full: lead later, when the host has caught up */
		dcf_election_become_follower(node, node->term, DCF_NODE_NONE);
		return;
	}
	node->term_start_index = last + 1;
	dcf_replication_bcast_append(node);
}

bool
dcf_replication_send_append(dcf_node *node, dcf_progress *pr, bool send_if_empty)
{
	uint64_t	last = dcf_raftlog_last_index(&node->log);
	uint64_t	prev = pr->next - 1;
	uint64_t	prev_term;
	uint32_t	n = 0;
	uint64_t	bytes = 0;
	dcf_entry  *ents = node->pool + node->n_pool;
	dcf_msg    *msg;
	dcf_rc		rc;

	if (node->role != DCF_ROLE_LEADER)
		return false;			/* stepped down during this step */
	if (dcf_progress_is_paused(pr) || pr->sent_this_step >= DCF_STEP_APPENDS_PER_PEER)
	{
		if (pr->state == DCF_PROGRESS_REPLICATE && pr->next <= last &&
			pr->infl_count >= pr->infl_limit)
			dcf_flow_demand(node);	/* the window held entries back */
		return false;
	}
	if (node->n_msgs >= DCF_UPDATE_MSGS_MAX || dcf_node_failed(node))
		return false;
	rc = dcf_node_term_at(node, prev, &prev_term);
	if (rc == DCF_ERR_NOTFOUND)
	{
		pr->state = DCF_PROGRESS_STALE;
		return false;
	}
	if (rc != DCF_OK)
		return false;
	if (pr->next <= last)
	{
		uint32_t	room = DCF_UPDATE_POOL_ENTRIES - node->n_pool;
		uint64_t	budget = node->flow.batch_bytes;
		uint32_t	cap = node->flow.batch_entries;

#ifdef DCF_PLANT_BUG_FLOW_IGNORED
		/* planted bug: the configured batch caps, not those in force */
		budget = node->opts.max_batch_bytes;
		cap = node->opts.max_batch_entries;
#endif
		if (room > cap)
			room = cap;
		if (room == 0 || node->step_read_bytes >= node->opts.max_step_read_bytes)
			return false;		/* this step's bounds are spent; acks resume it */
		if (budget > node->opts.max_step_read_bytes - node->step_read_bytes)
			budget = node->opts.max_step_read_bytes - node->step_read_bytes;
		rc = dcf_raftlog_slice(&node->log, pr->next, last + 1, budget, room, ents, &n, &bytes,
						   node->errmsg);
		if (rc == DCF_ERR_NOTFOUND)
		{
			pr->state = DCF_PROGRESS_STALE;
			return false;
		}
		if (rc != DCF_OK)
		{
			dcf_node_fail(node, rc);
			return false;
		}
		if (n > 0 && ents[n - 1].index < last && (n >= cap || bytes >= budget))
			dcf_flow_demand(node);	/* the batch caps held entries back */
	}
	if (n == 0 && !send_if_empty)
		return false;
	msg = dcf_node_new_msg(node, DCF_MSG_APPEND, pr->node_id);
	DCF_ASSERT(msg != NULL);
	msg->index = prev;
	msg->log_term = prev_term;
	msg->commit = node->commit;
	msg->sent_ms = node->now_ms;
	if (pr->sent_commit < msg->commit)
		pr->sent_commit = msg->commit;
	msg->entries = n ? ents : NULL;
	msg->n_entries = n;
	node->n_pool += n;
	node->step_read_bytes += bytes;
	dcf_progress_sent(pr, n ? ents[n - 1].index : prev, n);
	return true;
}

/* An append to pr (empty if it has nothing new), then as many as its window takes. */
static void
append_to(dcf_node *node, dcf_progress *pr)
{
	if (dcf_replication_send_append(node, pr, true))
	{
		while (dcf_replication_send_append(node, pr, false))
			;
	}
}

void
dcf_replication_bcast_append(dcf_node *node)
{
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		if ((int) i != node->self)
			append_to(node, &node->progress[i]);
	}
}

static void
bcast_heartbeat(dcf_node *node)
{
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		dcf_progress *pr = &node->progress[i];
		dcf_msg    *msg;

		if ((int) i == node->self)
			continue;
		msg = dcf_node_new_msg(node, DCF_MSG_HEARTBEAT, pr->node_id);
		if (msg == NULL)
			return;
		/* R5: never more than the peer is known to hold */
		msg->commit = pr->match < node->commit ? pr->match : node->commit;
		msg->sent_ms = node->now_ms;
		if (pr->sent_commit < msg->commit)
			pr->sent_commit = msg->commit;
	}
}

/*
 * R5: the commit index advanced.  A follower learns it from the next append
 * or heartbeat; under load an append with new entries leaves within
 * moments and carries it.  Only followers that get nothing else hear of it
 * commit_notify_ms later, in an empty append of their own (at tick), so a
 * busy leader does not send, and its followers do not answer, one extra
 * message per follower per commit.  With commit_notify_ms = 0 every
 * follower is told at once.
 */
void
dcf_replication_commit_advanced(dcf_node *node)
{
	if (node->opts.commit_notify_ms == 0)
		dcf_replication_bcast_append(node);
	else if (node->commit_notify_due_ms == 0)
		node->commit_notify_due_ms = node->now_ms + node->opts.commit_notify_ms;
}

static void
notify_commit(dcf_node *node)
{
	node->commit_notify_due_ms = 0;
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		dcf_progress *pr = &node->progress[i];

		/* a paused peer hears of it with the append its next ack resumes */
		if ((int) i != node->self && pr->sent_commit < node->commit)
			append_to(node, pr);
	}
}

/*
 * R4, policy majority: the highest index at least one voter of every listed
 * group holds (UINT64_MAX when no listed group has voters).
 */
static uint64_t
groups_index(dcf_node *node)
{
	uint64_t	q = UINT64_MAX;

#ifdef DCF_PLANT_BUG_IGNORE_GROUPS
	/* planted bug: majority_groups has no effect */
	return q;
#endif
	for (uint32_t g = 0; g < node->opts.n_majority_groups; g++)
	{
		uint64_t	best = 0;
		bool		any = false;

		for (uint32_t i = 0; i < node->membership.n_members; i++)
		{
			const dcf_member *m = &node->membership.members[i];
			bool		me = (int) i == node->self;
			uint64_t	v;

			if (!dcf_member_is_voter(m) || m->group != node->opts.majority_groups[g])
				continue;
			any = true;
			if (!me && !dcf_node_peer_same_mode(node, &node->progress[i]))
				continue;
			/* S1: a peer repairing its log counts toward no commit */
			if (!me && node->progress[i].repair)
				continue;
			v = me ? dcf_raftlog_stable_index(&node->log) : node->progress[i].match;
			if (v > best)
				best = v;
		}
		if (any && best < q)
			q = best;
	}
	return q;
}

bool
dcf_replication_maybe_commit(dcf_node *node)
{
	dcf_quorum_voter v[DCF_MEMBERS_MAX];
	uint32_t	n = 0;
	uint64_t	q;
	uint64_t	g;
	uint64_t	t;
	uint64_t	old = node->commit;

	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		const dcf_member *m = &node->membership.members[i];
		bool		me = (int) i == node->self;

		if (!dcf_member_is_voter(m))
		{
#ifdef DCF_PLANT_BUG_PASSIVE_VOTES
			if (m->role != DCF_ROLE_PASSIVE)
				continue;
#else
			continue;
#endif
		}
		/* E6: copies acknowledged in the other work mode do not count */
		if (!me && !dcf_node_peer_same_mode(node, &node->progress[i]))
			continue;
		/* S1: nor those of a peer repairing its log */
		if (!me && node->progress[i].repair)
			continue;
#ifdef DCF_PLANT_BUG_IGNORE_WEIGHT
		v[n].weight = 1;
#else
		v[n].weight = m->weight;
#endif
		v[n].value = me ? dcf_raftlog_stable_index(&node->log) : node->progress[i].match;
		n++;
	}
	q = dcf_quorum_index(v, n, node->needed_weight);
	g = groups_index(node);
	if (g < q)
		q = g;
	if (q <= node->commit)
		return false;
#ifdef DCF_PLANT_BUG_COMMIT_OLD_TERM
	/* planted bug (a): count replicas of an older term's entry */
	(void) t;
	dcf_replication_commit_to(node, q);
	leader_committed(node, old);
	return true;
#else
	if (dcf_node_term_at(node, q, &t) != DCF_OK || t != node->term)
		return false;
	dcf_replication_commit_to(node, q);
	leader_committed(node, old);
	return true;
#endif
}

void
dcf_replication_tick(dcf_node *node)
{
	uint64_t	timeout = node->opts.election_timeout_ms;

	DCF_ASSERT(node->role == DCF_ROLE_LEADER);
	/* R6 */
	if (node->now_ms >= node->became_leader_ms + timeout &&
		dcf_election_quorum_ack_ms(node) + timeout <= node->now_ms)
	{
		dcf_election_become_follower(node, node->term, DCF_NODE_NONE);
		return;
	}
	if (node->commit_notify_due_ms != 0 && node->now_ms >= node->commit_notify_due_ms)
		notify_commit(node);
	if (node->now_ms >= node->heartbeat_deadline_ms)
	{
		bcast_heartbeat(node);
		node->heartbeat_deadline_ms = node->now_ms + node->opts.heartbeat_interval_ms;
	}
	dcf_flow_tick(node);
	dcf_transfer_tick(node);
	if (node->role == DCF_ROLE_LEADER)
		dcf_transfer_priority_tick(node);
}

/* What every answer of the current term tells the leader about a peer. */
static dcf_progress *
note_answer(dcf_node *node, const dcf_msg *m)
{
	dcf_progress *pr = dcf_node_progress(node, m->from);

	if (pr == NULL)
		return NULL;
	pr->last_heard_ms = node->now_ms;
	pr->minority = (m->flags & DCF_MSG_F_MINORITY) != 0;
	pr->repair = (m->flags & DCF_MSG_F_REPAIR) != 0;
	/* sent_ms is our own clock echoed: never trust it beyond now */
	if (m->sent_ms > pr->ack_sent_ms && m->sent_ms <= node->now_ms)
		pr->ack_sent_ms = m->sent_ms;
	pr->applied = m->applied;
	return pr;
}

void
dcf_replication_handle_append_resp(dcf_node *node, const dcf_msg *m)
{
	dcf_progress *pr;
	bool		old_paused;
	bool		updated;

	if (node->role != DCF_ROLE_LEADER || (pr = note_answer(node, m)) == NULL)
		return;
	if (m->flags & DCF_MSG_F_REJECT)
	{
		uint64_t	hint = m->reject_hint;

		if (m->log_term > 0)
			hint = find_conflict_by_term(node, m->reject_hint, m->log_term);
		if (m->index <= pr->match && hint < pr->match &&
			(pr->repair || m->sent_ms > pr->match_sent_ms))
		{
			/*
			 * R9: the follower's log went backwards.  It rejects an append
			 * at or below its match index, in answer to an append sent
			 * after the acknowledgement that set the match (or it says it
			 * is repairing), so it lost entries it had acknowledged (its
			 * storage was damaged).  Without this, a rejection at or below
			 * match looks stale and the leader keeps sending past the
			 * follower's end forever.  Probe again from the hint.
			 */
			if (node->n_regressions < DCF_MEMBERS_MAX)
			{
				dcf_peer_regress *r = &node->regressions[node->n_regressions++];

				r->node_id = m->from;
				r->match_index = pr->match;
				r->rejected_index = m->index;
				r->hint_index = hint;
				r->repair = pr->repair;
			}
			pr->match = 0;
			pr->match_sent_ms = 0;
			dcf_progress_become_probe(pr);
			pr->next = hint + 1;
			dcf_replication_send_append(node, pr, true);
			return;
		}
		if (dcf_progress_maybe_decr_to(pr, m->index, hint))
		{
			if (pr->state == DCF_PROGRESS_REPLICATE)
				dcf_progress_become_probe(pr);
			dcf_replication_send_append(node, pr, true);
		}
		return;
	}
	if (m->index > dcf_raftlog_last_index(&node->log))
		return;					/* acknowledges what we never had: ignore */
	old_paused = dcf_progress_is_paused(pr);
	updated = dcf_progress_maybe_update(pr, m->index);
	if (updated)
		pr->match_sent_ms = m->sent_ms;
	switch (pr->state)
	{
		case DCF_PROGRESS_PROBE:
			if (pr->match >= pr->probe_last)
				dcf_progress_become_replicate(pr);
			else if (updated)
			{
				/* part of the probe taken: probe on from there */
				pr->next = pr->match + 1;
				pr->probe_sent = false;
			}
			else
				return;			/* stale, or the peer took nothing: wait */
			break;
		case DCF_PROGRESS_REPLICATE:
			if (!updated)
				return;
			if (pr->infl_count > 0 && m->index < dcf_progress_infl_oldest(pr) &&
				m->index > pr->infl_dropped_last)
			{
				/* the peer took part of an append: its log is full, slow down */
				dcf_progress_become_probe(pr);
			}
			else
				dcf_progress_infl_free_le(pr, m->index);
			break;
		case DCF_PROGRESS_STALE:
			return;
	}
	if (dcf_replication_maybe_commit(node))
		dcf_replication_commit_advanced(node);
	if (old_paused)
		dcf_replication_send_append(node, pr, true);
	while (dcf_replication_send_append(node, pr, false))
		;
}

void
dcf_replication_handle_heartbeat_resp(dcf_node *node, const dcf_msg *m)
{
	dcf_progress *pr;

	if (node->role != DCF_ROLE_LEADER || (pr = note_answer(node, m)) == NULL)
		return;
	/*
	 * R10: a STALE peer (it needed entries recycled from our log) that now
	 * reports an applied index we hold the term of was rebuilt (dcf_ctl
	 * build starts its log past the copy): probe it from there.  A peer
	 * still behind stays STALE.  A repairing peer too (S1, and S2 gives
	 * every rebuilt node a repair bound): its applied index is committed
	 * and within its log (dcf_node_create refuses one past it), so the
	 * probe matches there; it fetches what it lacks like any other.
	 */
	if (pr->state == DCF_PROGRESS_STALE && m->applied > 0)
	{
		uint64_t	t;

		if (dcf_node_term_at(node, m->applied, &t) == DCF_OK)
		{
			pr->match = 0;
			pr->match_sent_ms = 0;
			dcf_progress_become_probe(pr);
			pr->next = m->applied + 1;
		}
	}
	pr->probe_sent = false;
	/* an append lost in flight would otherwise hold its window slot forever */
	if (pr->state == DCF_PROGRESS_REPLICATE && pr->infl_count >= pr->infl_limit)
		dcf_progress_infl_free_first(pr);
	/* R9: a peer repairing its log may hold less than its match says: an
	 * append (empty when there is nothing new) makes it tell */
	if (pr->match < dcf_raftlog_last_index(&node->log) || pr->repair)
		dcf_replication_send_append(node, pr, true);
}

/* ---- follower ---------------------------------------------------------------- */

static dcf_msg *
new_answer(dcf_node *node, dcf_msg_type type, const dcf_msg *m)
{
	dcf_msg    *resp = dcf_node_new_msg(node, type, m->from);

	if (resp == NULL)
		return NULL;
	resp->sent_ms = m->sent_ms;
	resp->applied = node->applied;
	if (node->repair_index != 0)
		resp->flags |= DCF_MSG_F_REPAIR;
	return resp;
}

void
dcf_replication_handle_append(dcf_node *node, const dcf_msg *m)
{
	uint64_t	prev_term;
	uint64_t	last_new;
	bool		matches;
	dcf_msg    *resp;
	dcf_rc		rc;

	resp = new_answer(node, DCF_MSG_APPEND_RESP, m);
	if (resp == NULL)
		return;					/* as if the append was lost */
	if (m->index < node->commit)
	{
		/* everything up to commit matches already */
		resp->index = node->commit;
		return;
	}
	rc = dcf_node_term_at(node, m->index, &prev_term);
	if (rc != DCF_OK && rc != DCF_ERR_NOTFOUND)
		return;
	matches = rc == DCF_OK && prev_term == m->log_term;
	if (!matches)
	{
		uint64_t	hint = m->index < dcf_raftlog_last_index(&node->log) ? m->index : dcf_raftlog_last_index(&node->log);
		uint64_t	hint_term = 0;

		hint = find_conflict_by_term(node, hint, m->log_term);
		if (dcf_node_term_at(node, hint, &hint_term) != DCF_OK)
			hint_term = 0;
		resp->flags |= DCF_MSG_F_REJECT;
		resp->index = m->index;
		resp->reject_hint = hint;
		resp->log_term = hint_term;
		return;
	}
	last_new = m->index + m->n_entries;
	for (uint32_t i = 0; i < m->n_entries; i++)
	{
		const dcf_entry *e = &m->entries[i];
		uint64_t	t;

		rc = dcf_node_term_at(node, e->index, &t);
		if (rc != DCF_OK && rc != DCF_ERR_NOTFOUND)
			return;
		if (rc == DCF_OK && t == e->term)
			continue;
		/* first conflict (or first new entry) */
#ifdef DCF_PLANT_BUG_NO_TRUNCATE
		/* planted bug (c): keep the conflicting suffix, append only past it */
		{
			uint64_t	last = dcf_raftlog_last_index(&node->log);

			if (e->index <= last)
			{
				uint32_t	skip = (uint32_t) (last + 1 - e->index);

				if (skip > m->n_entries - i)
					skip = m->n_entries - i;
				i += skip;
				if (i >= m->n_entries)
					break;
				e = &m->entries[i];
			}
		}
#endif
		DCF_ASSERT(e->index > node->commit);
		{
			uint32_t	want = m->n_entries - i;
			uint64_t	old_last = dcf_raftlog_last_index(&node->log);
			uint32_t	took = dcf_raftlog_append_entries(&node->log, e, want);

			last_new = e->index - 1 + took;
			/* R8 */
			if (took > 0 && e->index <= old_last)
				dcf_reconfig_truncated(node, e->index);
			if (took > 0)
				dcf_reconfig_appended(node, e, took);
		}
		break;
	}
	dcf_replication_commit_to(node, m->commit < last_new ? m->commit : last_new);
	resp->index = last_new;
}

void
dcf_replication_handle_heartbeat(dcf_node *node, const dcf_msg *m)
{
	uint64_t	last = dcf_raftlog_last_index(&node->log);
	dcf_msg    *resp;

	dcf_replication_commit_to(node, m->commit < last ? m->commit : last);
	resp = new_answer(node, DCF_MSG_HEARTBEAT_RESP, m);
	(void) resp;				/* NULL: as if lost */
}
