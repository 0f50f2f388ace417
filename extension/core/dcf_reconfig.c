/*
 * dcf_reconfig.c — configurations through the log: which configuration is
 * in force, rollback when its CONFIG entry is truncated away, what the host
 * persists (contract H7), and the leader's membership changes (admin
 * requests, learners, the LOGGER fence, stepping down after removing
 * itself).
 *
 * Single-server changes (Raft dissertation §4.1, §4.2.2, and the fix of
 * Ongaro's 2015 raft-dev post on single-server changes):
 *   C1  A node uses the last CONFIG entry of its log, committed or not, from
 *       the moment it is appended (N7); when a truncation removes it, the
 *       node goes back to the configuration that entry replaced.
 *   C2  A leader appends a CONFIG entry only when (a) the previous CONFIG
 *       entry is committed, (b) the first entry of its own term (its NOOP)
 *       is committed, (c) no leader transfer runs, (d) the new
 *       configuration differs from the old in one member — its presence,
 *       role, priority, group or learner flag — and (e) their weighted
 *       majorities intersect.  (a) makes any two
 *       configurations that can be in use at once differ in one member, so
 *       their quorums intersect; (b) keeps a configuration of a deposed
 *       leader from racing one of the new leader (the published bug of
 *       single-server changes without it).  (e) With weights, one member
 *       apart is not enough — a member heavy enough to be a majority alone
 *       can be dropped, leaving two disjoint majorities (the simulator's
 *       seed 363 elected a second leader that way) — so a change is accepted
 *       only when every weighted majority of the old configuration shares a
 *       voter with every one of the new (dcf_quorum_majorities_intersect,
 *       exact).  With weights 1 every single-member change passes.
 *   C3  N7's "at most one CONFIG entry above the commit index, and its
 *       predecessor is committed": a leader sends a CONFIG entry only with a
 *       commit index at or above the previous CONFIG entry (C2a), so a
 *       follower that appends one learns, in the same append, a commit index
 *       that covers its predecessor.  The predecessor is therefore always a
 *       safe rollback target, and the record (H7) needs to remember only it.
 *   C4  A member that will count (a new voter, or a PASSIVE member made a
 *       voter) first catches up: a new voting member joins as a learner (a
 *       non-voter, like PASSIVE), and a leader promotes it by a second CONFIG
 *       entry once it completes a catch-up round — reaching the leader's last
 *       index of the round's start — within one election timeout.  Any
 *       leader promotes caught-up learners, so an addition survives a change
 *       of leader.
 *   C5  LOGGER fence: early sends (dcf_node_early_send_allowed) are off from
 *       the moment a change that creates a LOGGER voter is accepted, and its
 *       CONFIG entry is appended only once the leader's own log is durable up
 *       to the last index of that moment.  Every entry the future logger
 *       holds is then durable on the leader that sent it, so the logger can
 *       never be ahead of every node that may lead (which would make it
 *       refuse them all its vote, forever).  The other way round, early
 *       sends stay off while a CONFIG entry that ended a LOGGER voter is
 *       uncommitted: a crash that loses it brings the logger back.
 *   C6  A leader that removes itself, or makes itself a PASSIVE member,
 *       keeps leading — counting only the voters of the new configuration —
 *       until that change commits; then it sends TIMEOUT_NOW to a caught-up
 *       voter of the highest priority and steps down.  That is refused when
 *       the new configuration has a LOGGER voter, and so is making the
 *       leader itself a LOGGER (transfer leadership first): the entries it
 *       committed with a logger's copy may be on no other node that may
 *       lead — the leader can step down early (check-quorum) or crash —
 *       and the logger, more up to date than every candidate, would refuse
 *       them all its vote, forever.  The simulator found both deadlocks.
 *       A leader elected under rule E8 of dcf_election.c to commit its own
 *       demotion to LOGGER hands over by a transfer (it still votes: it must
 *       not step down ahead of every candidate — the simulator's seed 2986)
 *       and keeps leading, refusing proposals, until a voter that may lead
 *       takes over.
 *   C7  No membership change is accepted in minority work mode: the
 *       argument of C2 (consecutive configurations have intersecting
 *       majorities) says nothing about vote_num quorums.
 *
 * Restart (dcf_reconfig_init): the host hands back the last record it
 * persisted.  Under H7 no CONFIG entry lies above the record's index, so:
 * the entry at undo_index if the log still has one (a rollback that did
 * not reach the disk), else the entry at the record's index, else — the
 * entry was lost with the unsynced tail — the record's previous
 * configuration, which was committed (C3).  One entry read at most.
 */
#include "core/dcf_codec.h"
#include "core/dcf_node_int.h"

#include <string.h>

#define DCF_CATCHUP_TIMEOUTS 10		/* election timeouts an explicit change waits */

/* ---- the configuration in force ------------------------------------------------ */

/* Reads the CONFIG entry at index: DCF_ERR_NOTFOUND if that entry is of another type. */
static dcf_rc
read_config_entry(dcf_node *node, uint64_t index, dcf_membership *out, char *errmsg)
{
	dcf_entry	e;
	uint32_t	n = 1;
	dcf_rc		rc;

	rc = node->reader.entries(node->reader.ctx, index, index + 1, 0, &e, &n, errmsg);
	if (rc != DCF_OK)
		return dcf_errwrap(errmsg, rc == DCF_ERR_NOTFOUND ? DCF_ERR_CORRUPT : rc,
						   "reading entry %llu", (unsigned long long) index);
	if (n != 1 || e.index != index)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "host log returned a wrong entry for index %llu",
						(unsigned long long) index);
	if (e.type != DCF_ENTRY_CONFIG)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "entry %llu is not a configuration",
						(unsigned long long) index);
	rc = dcf_membership_decode(e.payload, e.len, out, errmsg);
	if (rc != DCF_OK)
		return dcf_errwrap(errmsg, DCF_ERR_CORRUPT, "configuration entry %llu", (unsigned long long) index);
	return DCF_OK;
}

/*
 * Moves the old progress entries to the members' new positions (by node id);
 * a member that moved starts over in PROBE (its window ring belongs to its
 * slot), a new one gets a fresh entry and a first catch-up round.
 */
void
dcf_reconfig_remap_progress(dcf_node *node, const dcf_membership *old)
{
	dcf_progress saved[DCF_MEMBERS_MAX];
	uint64_t	last = dcf_raftlog_last_index(&node->log);

	memcpy(saved, node->progress, sizeof(saved));
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		const dcf_member *m = &node->membership.members[i];
		dcf_progress *pr = &node->progress[i];
		uint64_t   *ring = pr->infl;
		uint32_t	cap = pr->infl_cap;
		int			from = -1;

		for (uint32_t j = 0; j < old->n_members; j++)
			if (old->members[j].node_id == m->node_id)
				from = (int) j;
		if (from == (int) i)
			;					/* same slot: keeps its window */
		else if (from >= 0)
		{
			*pr = saved[from];
			pr->infl = ring;
			pr->infl_cap = cap;
			dcf_progress_become_probe(pr);
		}
		else
		{
			dcf_progress_reset(pr, last);
			pr->last_heard_ms = node->now_ms;
			pr->minority = node->opts.work_mode == DCF_WORK_MODE_MINORITY;
			pr->round_target = last;
			pr->round_start_ms = node->now_ms;
		}
		pr->infl_limit = node->flow.inflight ? node->flow.inflight : cap;
		pr->node_id = m->node_id;
		pr->weight = m->weight;
		pr->voter = dcf_member_is_voter(m);
	}
}

/* Puts ms (index) in force and asks the host to persist it (H7). */
static void
set_config(dcf_node *node, const dcf_membership *ms, uint64_t index)
{
	dcf_membership old = node->membership;

	node->membership = *ms;
	node->membership.undo_index = 0;
	node->membership_index = index;
	node->record = node->membership;
	node->record_index = index;
	node->membership_dirty = true;
	dcf_node_apply_membership(node);
	if (node->role == DCF_ROLE_LEADER)
		dcf_reconfig_remap_progress(node, &old);
	else if (node->role == DCF_ROLE_PRE_CANDIDATE || node->role == DCF_ROLE_CANDIDATE)
	{
		/* only a restart gets here; a campaign of the old configuration ends */
		dcf_election_become_follower(node, node->term, DCF_NODE_NONE);
	}
	else
		node->role = dcf_election_follower_role(node);
}

/* A configuration known committed: its own fallback. */
static void
committed_config(dcf_membership *out, const dcf_member *members, uint32_t n, uint64_t index)
{
	memset(out, 0, sizeof(*out));
	out->n_members = n;
	memcpy(out->members, members, sizeof(dcf_member) * n);
	out->n_prev = n;
	memcpy(out->prev, members, sizeof(dcf_member) * n);
	out->prev_index = index;
}

dcf_rc
dcf_reconfig_init(dcf_node *node, const dcf_membership *ms, uint64_t index, char *errmsg)
{
	uint64_t	first = dcf_raftlog_first_index(&node->log);
	uint64_t	last = dcf_raftlog_last_index(&node->log);
	dcf_membership found;
	uint64_t	at;
	bool		dirty = ms->undo_index != 0;
	dcf_rc		rc = DCF_ERR_NOTFOUND;

	if (ms->undo_index != 0 && ms->undo_index >= first && ms->undo_index <= last)
	{
		rc = read_config_entry(node, ms->undo_index, &found, errmsg);
		if (rc != DCF_OK && rc != DCF_ERR_NOTFOUND)
			return rc;
	}
	if (rc == DCF_OK)
		at = ms->undo_index;	/* the rollback never reached the disk */
	else if (index == 0 || index < first)
	{
		found = *ms;
		at = index;
	}
	else if (index <= last && (rc = read_config_entry(node, index, &found, errmsg)) == DCF_OK)
		at = index;
	else
	{
		if (index <= last && rc != DCF_ERR_NOTFOUND)
			return rc;
		/* the entry was lost in a crash: its predecessor was committed (C3) */
		if (ms->n_prev == 0)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"the log has no configuration entry at index %llu (it ends at %llu) and no previous configuration is recorded",
							(unsigned long long) index, (unsigned long long) last);
		committed_config(&found, ms->prev, ms->n_prev, ms->prev_index);
		at = ms->prev_index;
		dirty = true;
	}
	node->membership = found;
	node->membership.undo_index = 0;
	node->membership_index = at;
	node->record = node->membership;
	node->record_index = at;
	node->membership_dirty = dirty || at != index;
	dcf_node_apply_membership(node);
	return DCF_OK;
}

void
dcf_reconfig_truncated(dcf_node *node, uint64_t from)
{
	uint64_t	undo = node->membership_index;
	dcf_membership back;

	if (from > node->membership_index)
		return;
#ifdef DCF_PLANT_BUG_NO_ROLLBACK
	/* planted bug: keep a configuration whose entry was truncated away */
	return;
#endif
	/* C1, C3: back to the configuration the removed entry replaced */
	DCF_ASSERT(node->membership.n_prev > 0 && node->membership.prev_index < from);
	committed_config(&back, node->membership.prev, node->membership.n_prev,
					 node->membership.prev_index);
	set_config(node, &back, back.prev_index);
	node->record.undo_index = undo;
}

void
dcf_reconfig_appended(dcf_node *node, const dcf_entry *ents, uint32_t n)
{
	for (uint32_t i = 0; i < n && !dcf_node_failed(node); i++)
	{
		dcf_membership ms;
		char		err[DCF_ERRMSG_MAX];

		if (ents[i].type != DCF_ENTRY_CONFIG)
			continue;
		if (dcf_membership_decode(ents[i].payload, ents[i].len, &ms, err) != DCF_OK)
		{
			if (node->errmsg)
				dcf_errf(node->errmsg, DCF_ERR_CORRUPT, "configuration entry %llu: %s",
						 (unsigned long long) ents[i].index, err);
			dcf_node_fail(node, DCF_ERR_CORRUPT);
			return;
		}
		set_config(node, &ms, ents[i].index);	/* C1 */
	}
}

bool
dcf_reconfig_change_in_flight(const dcf_node *node)
{
	return node->change.phase != DCF_CHANGE_NONE || node->membership_index > node->commit;
}

/* ---- the leader's changes ------------------------------------------------------ */

static int
member_pos(const dcf_membership *ms, uint32_t node_id)
{
	for (uint32_t i = 0; i < ms->n_members; i++)
		if (ms->members[i].node_id == node_id)
			return (int) i;
	return -1;
}

static bool
has_logger_voter(const dcf_membership *ms)
{
	for (uint32_t i = 0; i < ms->n_members; i++)
		if (dcf_member_is_voter(&ms->members[i]) && ms->members[i].role == DCF_ROLE_LOGGER)
			return true;
	return false;
}

/* C2e: the voters of both configurations, by node, and their two weights */
static bool
majorities_intersect(const dcf_membership *a, const dcf_membership *b)
{
	dcf_quorum_pair p[2 * DCF_MEMBERS_MAX];
	uint32_t	n = 0;

	for (uint32_t i = 0; i < a->n_members; i++)
	{
		const dcf_member *ma = &a->members[i];
		const dcf_member *mb = dcf_membership_find(b, ma->node_id);

		p[n].weight_a = dcf_member_is_voter(ma) ? ma->weight : 0;
		p[n].weight_b = mb && dcf_member_is_voter(mb) ? mb->weight : 0;
		n++;
	}
	for (uint32_t i = 0; i < b->n_members; i++)
	{
		const dcf_member *mb = &b->members[i];

		if (dcf_membership_find(a, mb->node_id) == NULL && n < DCF_MEMBERS_MAX)
		{
			p[n].weight_a = 0;
			p[n].weight_b = dcf_member_is_voter(mb) ? mb->weight : 0;
			n++;
		}
	}
	return dcf_quorum_majorities_intersect(p, n);
}

/*
 * C4: has node_id completed a catch-up round within an election timeout?
 * A round that took longer starts a new one from the current last index.
 */
static bool
caught_up(dcf_node *node, uint32_t node_id)
{
	dcf_progress *pr = dcf_node_progress(node, node_id);
	uint64_t	last = dcf_raftlog_last_index(&node->log);

	if (pr == NULL)
		return false;
	if (pr->match < pr->round_target)
		return false;
	if (node->now_ms <= pr->round_start_ms + node->opts.election_timeout_ms)
		return true;
	pr->round_target = last;
	pr->round_start_ms = node->now_ms;
	return pr->match >= last;
}

/* Appends the CONFIG entry of the change once C2, C4 and C5 allow it. */
static void
try_append(dcf_node *node)
{
	dcf_change *ch = &node->change;
	uint8_t		buf[DCF_MEMBERSHIP_ENCODED_MAX_BYTES];
	dcf_membership payload;
	size_t		len;
	dcf_entry	e;
	dcf_rc		rc;
	char		err[DCF_ERRMSG_MAX];

	if (ch->phase != DCF_CHANGE_WAIT || node->commit < node->term_start_index ||
		node->transfer.target != DCF_NODE_NONE)
		return;
#ifndef DCF_PLANT_BUG_TWO_CHANGES
	if (node->membership_index > node->commit)
		return;					/* C2a */
#endif
	if (ch->needs_catchup && !caught_up(node, ch->node_id))
		return;
	if (ch->fence && dcf_raftlog_stable_index(&node->log) < ch->fence_index)
		return;
	payload = ch->next;
	payload.n_prev = node->membership.n_members;
	memcpy(payload.prev, node->membership.members, sizeof(dcf_member) * node->membership.n_members);
	payload.prev_index = node->membership_index;
	payload.undo_index = 0;
	rc = dcf_membership_encode(&payload, buf, sizeof(buf), &len, err);
	DCF_ASSERT(rc == DCF_OK);	/* validated when the change was accepted */
	rc = dcf_raftlog_append_new(&node->log, node->term, DCF_ENTRY_CONFIG, node->log.last_key,
								buf, (uint32_t) len, err);
	if (rc == DCF_ERR_FULL)
		return;					/* the unstable log is full: next step */
	if (rc != DCF_OK)
	{
		if (node->errmsg)
			memcpy(node->errmsg, err, DCF_ERRMSG_MAX);
		dcf_node_fail(node, rc);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.index = dcf_raftlog_last_index(&node->log);
	e.term = node->term;
	e.type = DCF_ENTRY_CONFIG;
	e.payload = buf;
	e.len = (uint32_t) len;
	ch->phase = DCF_CHANGE_LOGGED;
	ch->index = e.index;
	dcf_reconfig_appended(node, &e, 1);
	dcf_replication_bcast_append(node);
}

static void
start_change(dcf_node *node, dcf_admin_kind kind, uint32_t node_id, const dcf_membership *next,
			 bool needs_catchup, bool automatic)
{
	dcf_change *ch = &node->change;

	memset(ch, 0, sizeof(*ch));
	ch->phase = DCF_CHANGE_WAIT;
	ch->kind = kind;
	ch->node_id = node_id;
	ch->automatic = automatic;
	ch->next = *next;
	ch->needs_catchup = needs_catchup;
	ch->started_ms = node->now_ms;
	if (!node->has_logger && has_logger_voter(next))
	{
		/* C5: nothing sent from now on leaves before it is durable here */
		ch->fence = true;
		ch->fence_index = dcf_raftlog_last_index(&node->log);
	}
	try_append(node);
}

dcf_rc
dcf_reconfig_admin(dcf_node *node, const dcf_admin_request *req, char *errmsg)
{
	dcf_membership next;
	dcf_membership final;
	dcf_member *m = NULL;
	bool		needs_catchup = false;
	int			pos;
	dcf_rc		rc;

	if (node->role != DCF_ROLE_LEADER)
		return dcf_errf(errmsg, DCF_ERR_STATE, "node %u is not the leader (leader: %u)",
						node->opts.node_id, node->leader_id);
	if (node->transfer.target != DCF_NODE_NONE)
		return dcf_errf(errmsg, DCF_ERR_STATE, "a leadership transfer to node %u is in progress",
						node->transfer.target);
	if (node->opts.work_mode == DCF_WORK_MODE_MINORITY)
		return dcf_errf(errmsg, DCF_ERR_STATE,
						"node %u works in minority mode: membership changes need the normal quorum (C7)",
						node->opts.node_id);
#ifndef DCF_PLANT_BUG_TWO_CHANGES
	if (node->change.phase != DCF_CHANGE_NONE)
		return dcf_errf(errmsg, DCF_ERR_STATE, "a change (%s of node %u) is in flight",
						dcf_admin_kind_name(node->change.kind), node->change.node_id);
	if (node->membership_index > node->commit)
		return dcf_errf(errmsg, DCF_ERR_STATE, "configuration entry %llu is not committed yet",
						(unsigned long long) node->membership_index);
#endif
	if (node->commit < node->term_start_index)
		return dcf_errf(errmsg, DCF_ERR_STATE, "the leader's first entry of term %llu is not committed yet",
						(unsigned long long) node->term);
	memset(&next, 0, sizeof(next));
	next.n_members = node->membership.n_members;
	memcpy(next.members, node->membership.members, sizeof(dcf_member) * next.n_members);
	pos = member_pos(&next, req->kind == DCF_ADMIN_ADD_MEMBER ? req->member.node_id : req->node_id);
	if (req->kind == DCF_ADMIN_ADD_MEMBER)
	{
		if (pos >= 0)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "node %u is already a member", req->member.node_id);
		if (next.n_members >= DCF_MEMBERS_MAX)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "the membership has %d members already",
							DCF_MEMBERS_MAX);
		m = &next.members[next.n_members++];
		*m = req->member;
		/* C4: a voting member counts only once caught up */
		m->learner = dcf_role_is_voter(m->role);
#ifdef DCF_PLANT_BUG_NO_CATCHUP
		m->learner = false;		/* planted bug: a new voter counts at once */
#endif
	}
	else
	{
		if (pos < 0)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "node %u is not a member", req->node_id);
		m = &next.members[pos];
		switch (req->kind)
		{
			case DCF_ADMIN_REMOVE_MEMBER:
				memmove(&next.members[pos], &next.members[pos + 1],
						sizeof(dcf_member) * (next.n_members - (uint32_t) pos - 1));
				next.n_members--;
				m = NULL;
				break;
			case DCF_ADMIN_CHANGE_ROLE:
				{
					bool		voted = dcf_member_is_voter(m);

					if (req->value != DCF_ROLE_LEADER && req->value != DCF_ROLE_FOLLOWER &&
						req->value != DCF_ROLE_LOGGER && req->value != DCF_ROLE_PASSIVE)
						return dcf_errf(errmsg, DCF_ERR_INVALID, "role %s cannot be configured",
										dcf_role_name((dcf_role) req->value));
					m->role = (dcf_role) req->value;
					if (m->role == DCF_ROLE_PASSIVE)
						m->learner = false;
					/* C4: a non-voter made a voter counts only once caught up */
					needs_catchup = !voted && dcf_member_is_voter(m);
#ifdef DCF_PLANT_BUG_NO_CATCHUP
					needs_catchup = false;
#endif
				}
				break;
			case DCF_ADMIN_CHANGE_PRIORITY:
				m->priority = req->value;
				break;
			case DCF_ADMIN_CHANGE_GROUP:
				m->group = req->value;
				break;
			default:
				return dcf_errf(errmsg, DCF_ERR_INVALID, "admin request %d is not a membership change",
								(int) req->kind);
		}
	}
	{
		const dcf_member *me = dcf_membership_find(&next, node->opts.node_id);

		/* C6: a leader that will not lead again leaves no LOGGER behind */
		if ((me == NULL || !dcf_member_may_lead(me)) && has_logger_voter(&next))
			return dcf_errf(errmsg, DCF_ERR_STATE,
							"node %u leads and the new configuration has a LOGGER voter: transfer leadership first (C6)",
							node->opts.node_id);
	}
	if ((rc = dcf_membership_validate(&next, errmsg)) != DCF_OK)
		return dcf_errwrap(errmsg, rc, "%s of node %u", dcf_admin_kind_name(req->kind),
						   req->kind == DCF_ADMIN_ADD_MEMBER ? req->member.node_id : req->node_id);
#ifdef DCF_PLANT_BUG_WEIGHTED_CHANGE
	/* planted bug: single-member changes only, whatever the weights */
	(void) majorities_intersect;
	(void) final;
#else
	/* (a learner is checked as the voter it will become: its promotion is the same change) */
	final = next;
	if (m != NULL)
		final.members[m - next.members].learner = false;
	if (!majorities_intersect(&node->membership, &final))
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"%s of node %u refused: with these weights a majority of the old configuration and one of the new could be disjoint (C2e)",
						dcf_admin_kind_name(req->kind),
						req->kind == DCF_ADMIN_ADD_MEMBER ? req->member.node_id : req->node_id);
#endif
	if (next.n_members == node->membership.n_members &&
		memcmp(next.members, node->membership.members, sizeof(dcf_member) * next.n_members) == 0)
	{
		dcf_node_report(node, req->kind, req->node_id, DCF_OK, node->membership_index, false,
						"nothing to change");
		return DCF_OK;
	}
	start_change(node, req->kind, req->kind == DCF_ADMIN_ADD_MEMBER ? req->member.node_id : req->node_id,
				 &next, needs_catchup, false);
	return DCF_OK;
}

/* C6: a caught-up voter that may lead, highest priority first. */
static void
hand_over(dcf_node *node)
{
	uint64_t	last = dcf_raftlog_last_index(&node->log);
	int			best = -1;
	dcf_msg    *msg;

	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		const dcf_member *m = &node->membership.members[i];
		const dcf_progress *pr = &node->progress[i];

		if ((int) i == node->self || !dcf_member_may_lead(m) || pr->match < last)
			continue;
		if (best < 0 || m->priority > node->membership.members[best].priority)
			best = (int) i;
	}
	if (best < 0)
		return;					/* an election will do */
	msg = dcf_node_new_msg(node, DCF_MSG_TIMEOUT_NOW, node->membership.members[best].node_id);
	if (msg != NULL)
		msg->index = last;
}

/* C6 for a leader that is a LOGGER now: a transfer to the best voter that may lead. */
static void
hand_over_by_transfer(dcf_node *node)
{
	int			best = -1;
	char		err[DCF_ERRMSG_MAX];

	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		const dcf_member *m = &node->membership.members[i];

		if ((int) i == node->self || !dcf_member_may_lead(m))
			continue;
		if (best < 0 || m->priority > node->membership.members[best].priority ||
			(m->priority == node->membership.members[best].priority &&
			 node->progress[i].match > node->progress[best].match))
			best = (int) i;
	}
	if (best >= 0)
		(void) dcf_transfer_start(node, node->membership.members[best].node_id, 0, true, err);
}

void
dcf_reconfig_committed(dcf_node *node)
{
	dcf_change *ch = &node->change;

	if (node->role != DCF_ROLE_LEADER)
		return;
	if (ch->phase == DCF_CHANGE_LOGGED && node->commit >= ch->index)
	{
		int			pos = member_pos(&node->membership, ch->node_id);

		if (ch->kind == DCF_ADMIN_ADD_MEMBER && !ch->automatic && pos >= 0 &&
			node->membership.members[pos].learner)
		{
			/* C4: the learner is in; promote it once caught up */
			dcf_membership next;

			memset(&next, 0, sizeof(next));
			next.n_members = node->membership.n_members;
			memcpy(next.members, node->membership.members, sizeof(dcf_member) * next.n_members);
			next.members[pos].learner = false;
#ifndef DCF_PLANT_BUG_WEIGHTED_CHANGE
			if (!majorities_intersect(&node->membership, &next))
			{
				/* other changes since its addition made the promotion unsafe (C2e) */
				dcf_node_report(node, ch->kind, ch->node_id, DCF_ERR_INVALID, ch->index, false,
								"the learner joined, but with these weights its promotion would let two disjoint majorities decide");
				memset(ch, 0, sizeof(*ch));
			}
			else
#endif
				start_change(node, ch->kind, ch->node_id, &next, true, false);
		}
		else
		{
			dcf_node_report(node, ch->kind, ch->node_id, DCF_OK, ch->index, ch->automatic, "committed");
			memset(ch, 0, sizeof(*ch));
		}
	}
#ifdef DCF_PLANT_BUG_REMOVED_LEADER_STAYS
	/* planted bug: a leader that may no longer lead stays on after the commit */
	(void) hand_over;
	(void) hand_over_by_transfer;
#else
	/* C6 */
	if (node->role == DCF_ROLE_LEADER && node->commit >= node->membership_index &&
		!dcf_election_may_campaign(node))
	{
		const dcf_member *me = node->self >= 0 ? &node->membership.members[node->self] : NULL;

		if (me != NULL && dcf_member_is_voter(me))
		{
			/*
			 * A LOGGER now (elected under E8 to commit its own demotion): it
			 * still votes, so it steps down only by handing over to a voter
			 * that may lead and holds its whole log — a transfer — never
			 * leaving itself ahead of every candidate.
			 */
			if (node->transfer.target == DCF_NODE_NONE)
				hand_over_by_transfer(node);
			return;
		}
		hand_over(node);
		dcf_election_become_follower(node, node->term, DCF_NODE_NONE);
	}
#endif
}

void
dcf_reconfig_leader_step(dcf_node *node)
{
	dcf_change *ch = &node->change;

	if (node->role != DCF_ROLE_LEADER)
		return;
#ifndef DCF_PLANT_BUG_REMOVED_LEADER_STAYS
	/* C6: a LOGGER leader whose hand-over transfer was aborted tries again at once */
	if (node->commit >= node->membership_index && !dcf_election_may_campaign(node) &&
		node->self >= 0 && dcf_member_is_voter(&node->membership.members[node->self]) &&
		node->transfer.target == DCF_NODE_NONE)
	{
		hand_over_by_transfer(node);
		return;
	}
#endif
	if (ch->phase == DCF_CHANGE_WAIT)
	{
		if (ch->needs_catchup && !ch->automatic &&
			node->now_ms > ch->started_ms + (uint64_t) DCF_CATCHUP_TIMEOUTS * node->opts.election_timeout_ms)
		{
			/* a learner stays a learner: any leader promotes it once it catches up */
			dcf_node_report(node, ch->kind, ch->node_id, DCF_ERR_TIMEOUT, 0, false,
							"the node did not catch up in time");
			memset(ch, 0, sizeof(*ch));
			return;
		}
		try_append(node);
		return;
	}
	if (ch->phase != DCF_CHANGE_NONE || dcf_reconfig_change_in_flight(node) ||
		node->commit < node->term_start_index || node->transfer.target != DCF_NODE_NONE ||
		node->opts.work_mode == DCF_WORK_MODE_MINORITY)
		return;					/* (C7: not in minority mode either) */
	/* C4: promote a learner that has caught up */
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		const dcf_member *m = &node->membership.members[i];

		if (m->learner && caught_up(node, m->node_id))
		{
			dcf_membership next;

			memset(&next, 0, sizeof(next));
			next.n_members = node->membership.n_members;
			memcpy(next.members, node->membership.members, sizeof(dcf_member) * next.n_members);
			next.members[i].learner = false;
#ifndef DCF_PLANT_BUG_WEIGHTED_CHANGE
			if (!majorities_intersect(&node->membership, &next))
				continue;		/* C2e: stays a learner */
#endif
			start_change(node, DCF_ADMIN_ADD_MEMBER, m->node_id, &next, false, true);
			return;
		}
	}
}

void
dcf_reconfig_lost_leadership(dcf_node *node)
{
	dcf_change *ch = &node->change;

	if (ch->phase == DCF_CHANGE_NONE)
		return;
	dcf_node_report(node, ch->kind, ch->node_id, DCF_ERR_STATE, ch->index, ch->automatic,
					ch->phase == DCF_CHANGE_LOGGED ? "leadership lost: the change may still commit under the next leader" :
					"leadership lost before the change was logged");
	memset(ch, 0, sizeof(*ch));
}
