/*
 * sim_check.c — the invariants the simulator checks after every event, and
 * the global oracle of committed entries they use.
 *
 * Every entry a host writes gets a chain hash: a hash of its (index, term,
 * type, key, payload) and of the chain hash of the entry before it.  Two
 * logs agree on a prefix exactly when their chain hashes at its last index
 * are equal, so each check below is O(1) per entry written or committed.
 *
 *   election safety      at most one node leads a term (map term ->
 *                        leader over the whole run), counting a leadership
 *                        once its term is durable on the leader
 *   leader append-only   a leader never truncates its log
 *   log matching         an (index, term) pair observable anywhere, ever
 *                        (received by a node, or durable), has one chain
 *                        hash (map (index, term) -> chain)
 *   leader completeness  a leader of term T holds every entry committed in
 *                        a term below T: checked when it is elected and
 *                        whenever an entry commits (the commit term is the
 *                        term of the first node to commit it — the leader
 *                        that decided; a leader of an older term, elected
 *                        late by delayed votes, need not hold it)
 *   state machine safety the entry a node commits at index i is the one
 *                        the oracle recorded for i when any node first
 *                        committed i (so applied sequences agree)
 *   commit durability    the last committed entry is on the durable image
 *                        of a weighted quorum of voters at all times
 *   term/vote durability a restarted node's term is at least every term it
 *                        sent a message in; no node grants votes to two
 *                        candidates in one term, across restarts
 *   lease                no node holds a valid lease (dcf_node_lease_valid)
 *                        while a leader of a higher term has been elected
 *   roles, modes, ...    see regress/sim/README.md for the invariants of
 *                        the consensus features (issue 7)
 *   monotonic state      term and commit never decrease within a node's
 *                        life; commit never passes the end of its log
 */
#include "sim.h"
#include "core/crc32c.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* the work mode a candidate asked in, in the map `asked` beside its voters */
#define ASKED_MINORITY	(1ULL << 62)
#define ASKED_NORMAL	(1ULL << 61)

/* ---- the map ---- */

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
sim_map_clear(sim_map *m)
{
	if (m->slots)
		memset(m->slots, 0, sizeof(sim_map_slot) * m->cap);
	m->n = 0;
}

void
sim_map_free(sim_map *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static sim_map_slot *
map_find(const sim_map *m, uint64_t k1, uint64_t k2)
{
	uint64_t	i = mix64(k1 * 0x9e3779b97f4a7c15ULL + k2) & (m->cap - 1);

	while (m->slots[i].used && (m->slots[i].k1 != k1 || m->slots[i].k2 != k2))
		i = (i + 1) & (m->cap - 1);
	return &m->slots[i];
}

bool
sim_map_get(const sim_map *m, uint64_t k1, uint64_t k2, uint64_t *v)
{
	sim_map_slot *s;

	if (m->cap == 0)
		return false;
	s = map_find(m, k1, k2);
	if (!s->used)
		return false;
	*v = s->v;
	return true;
}

void
sim_map_put(sim_map *m, uint64_t k1, uint64_t k2, uint64_t v)
{
	sim_map_slot *s;

	if (m->cap == 0 || (m->n + 1) * 2 > m->cap)
	{
		sim_map		old = *m;

		m->cap = m->cap ? m->cap * 2 : 1024;
		m->slots = calloc(m->cap, sizeof(sim_map_slot));
		if (m->slots == NULL)
		{
			fprintf(stderr, "dcf_sim: out of memory\n");
			exit(3);
		}
		m->n = 0;
		for (uint64_t i = 0; i < old.cap; i++)
			if (old.slots[i].used)
				sim_map_put(m, old.slots[i].k1, old.slots[i].k2, old.slots[i].v);
		free(old.slots);
	}
	s = map_find(m, k1, k2);
	if (!s->used)
	{
		s->used = true;
		s->k1 = k1;
		s->k2 = k2;
		m->n++;
	}
	s->v = v;
}

/* ---- violations ---- */

void
sim_violation(sim_world *w, const char *invariant, const char *fmt,...)
{
	va_list		ap;
	char		detail[400];

	if (w->violated)
		return;
	w->violated = true;
	w->st.violations++;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(w->violation, sizeof(w->violation), "%s: %s", invariant, detail);
	printf("# VIOLATION seed %llu, event %llu, t=%llu ms: %s\n",
		   (unsigned long long) w->seed, (unsigned long long) w->events_done,
		   (unsigned long long) w->now, w->violation);
	printf("# replay: %s --seed %llu --events %llu --trace\n", w->argv0,
		   (unsigned long long) w->seed, (unsigned long long) w->events_target);
	fflush(stdout);
}

/* ---- chain hashes ---- */

uint64_t
sim_chain_next(uint64_t prev, uint64_t index, const sim_entry *e)
{
	uint64_t	h = dcf_crc32c(0, e->payload, e->len);

	h = mix64(h ^ ((uint64_t) e->len << 32) ^ ((uint64_t) e->type << 56));
	h = mix64(h ^ e->key);
	h = mix64(h ^ e->term * 0x100000001b3ULL);
	h = mix64(h ^ index);
	return mix64(prev ^ h);
}

/* ---- checks ---- */

void
sim_check_reset(sim_world *w)
{
	w->oracle_n = 0;
	sim_map_clear(&w->entry_chain);
	sim_map_clear(&w->term_leader);
	sim_map_clear(&w->votes);
	sim_map_clear(&w->asked);
	w->max_leader_term = 0;
	w->n_lead = 0;
}

/* The node's own member entry in its configuration in force, or NULL. */
const dcf_member *
sim_self(sim_node *sn)
{
	if (sn->node == NULL)
		return NULL;
	return dcf_membership_find(dcf_node_membership(sn->node, NULL), sn->id);
}

/*
 * May the node campaign and lead?  If its configuration in force says so,
 * or (rule E8 of dcf_election.c: its removal or demotion in flight, not
 * committed on it) the previous configuration did.
 */
static bool
may_lead_now(sim_node *sn, uint64_t commit)
{
	uint64_t	idx = 0;
	const dcf_membership *ms;
	const dcf_member *me;

	if (sn->node == NULL)
		return false;
	ms = dcf_node_membership(sn->node, &idx);
	me = dcf_membership_find(ms, sn->id);
	if (me != NULL && dcf_member_may_lead(me))
		return true;
	if (idx > commit && ms->n_prev > 0)
	{
		me = dcf_membership_find_in(ms->prev, ms->n_prev, sn->id);
		return me != NULL && dcf_member_may_lead(me);
	}
	return false;
}

static sim_node *
host_of(sim_world *w, uint32_t id)
{
	return id >= 1 && id <= (uint32_t) w->cfg.n_nodes ? &w->nodes[id - 1] : NULL;
}

/*
 * log matching: one chain per (index, term), ever.  An entry is registered
 * when it becomes observable: when a node writes an entry it received (the
 * sender exposed it), or when an entry reaches a durable image.  Entries a
 * leader wrote to its page cache only and lost in a crash were never seen by
 * anyone; a leader that lost its term that way may lead that term again
 * (legitimately, it sent nothing) with other entries.
 */
void
sim_check_observed(sim_world *w, sim_node *sn, uint64_t index, const sim_entry *e)
{
	uint64_t	chain;

	if (sim_map_get(&w->entry_chain, index, e->term, &chain))
	{
		if (chain != e->chain)
			sim_violation(w, "log matching",
						  "node %u has index %llu term %llu whose log prefix differs from another log with the same entry",
						  sn->id, (unsigned long long) index, (unsigned long long) e->term);
	}
	else
		sim_map_put(&w->entry_chain, index, e->term, e->chain);
}

/* Does node sn's log hold the oracle's entry at index? */
bool
sim_holds(sim_world *w, const sim_log *l, uint64_t index)
{
	return index == 0 || (l->n >= index && l->e[index - 1].chain == w->oracle_chain[index - 1]);
}

#define holds_committed sim_holds

/*
 * The highest committed index a leader of term T must hold: the last one
 * committed in a term below T (holding it means holding all before it).
 */
static uint64_t
committed_before_term(sim_world *w, uint64_t term)
{
	uint64_t	i = w->oracle_n;

	while (i > 0 && w->oracle_commit_term[i - 1] >= term)
		i--;
	return i;
}

/* A LOGGER leading to commit its own demotion hands over by a transfer (C6). */
static bool
handing_over(sim_node *sn)
{
	dcf_status	st;
	const dcf_member *me = sim_self(sn);

	if (me == NULL || !dcf_member_is_voter(me))
		return false;
	dcf_node_status(sn->node, &st);
	return st.transfer_target != DCF_NODE_NONE;
}

void
sim_check_update(sim_world *w, sim_node *sn, const dcf_update *u, dcf_role role_before,
				 uint64_t term_before, dcf_event_type ev)
{
	const dcf_member *me = sim_self(sn);
	bool		may_lead = may_lead_now(sn, u->commit_index);
	bool		campaigning = u->role == DCF_ROLE_CANDIDATE || u->role == DCF_ROLE_PRE_CANDIDATE;
	bool		was_campaigning = role_before == DCF_ROLE_CANDIDATE || role_before == DCF_ROLE_PRE_CANDIDATE;
	bool		new_leader = u->role == DCF_ROLE_LEADER &&
		(role_before != DCF_ROLE_LEADER || term_before != u->term);
	uint64_t	cfg_index = 0;

	if (sn->node)
		dcf_node_membership(sn->node, &cfg_index);
	if (u->term < term_before)
		sim_violation(w, "monotonic state", "node %u term went from %llu to %llu", sn->id,
					  (unsigned long long) term_before, (unsigned long long) u->term);
	/* roles, against the configuration in force on the node */
	if ((campaigning || new_leader) && !may_lead)
		sim_violation(w, "roles", "node %u, %s in its configuration (entry %llu), became %s", sn->id,
					  me ? dcf_role_name(dcf_member_acting_role(me)) : "not a member",
					  (unsigned long long) cfg_index, dcf_role_name(u->role));
	if (u->role == DCF_ROLE_LEADER && u->commit_index >= cfg_index &&
		(sim_self(sn) == NULL || !dcf_member_may_lead(sim_self(sn))) && !handing_over(sn))
		sim_violation(w, "roles", "node %u still leads term %llu after the change that made it %s (entry %llu) committed",
					  sn->id, (unsigned long long) u->term,
					  sim_self(sn) ? dcf_role_name(dcf_member_acting_role(sim_self(sn))) : "a non-member",
					  (unsigned long long) cfg_index);
	/* run_mode 2: no campaign starts on a timer */
	if (ev == DCF_EVENT_TICK && sn->run_mode == DCF_RUN_MODE_NONE && campaigning && !was_campaigning)
		sim_violation(w, "run mode", "node %u in run_mode 2 started a campaign on its election timer (term %llu)",
					  sn->id, (unsigned long long) u->term);
	if (u->role == DCF_ROLE_CANDIDATE && (role_before != DCF_ROLE_CANDIDATE || u->term != term_before))
	{
		w->st.elections++;
		/* minority mode: its first campaign raises the term by a large step */
		if (sn->work_mode == DCF_WORK_MODE_MINORITY && !sn->minority_jumped)
		{
			if (u->term < term_before + DCF_MINORITY_TERM_STEP)
				sim_violation(w, "minority term", "node %u's first campaign in minority mode went from term %llu to %llu only",
							  sn->id, (unsigned long long) term_before, (unsigned long long) u->term);
			sn->minority_jumped = true;
		}
	}
	if (u->role == DCF_ROLE_LEADER)
	{
		if (u->truncate_from)
			sim_violation(w, "leader append-only", "leader %u of term %llu truncates its log from %llu",
						  sn->id, (unsigned long long) u->term, (unsigned long long) u->truncate_from);
		if (new_leader)
		{
			uint64_t	need = committed_before_term(w, u->term);

			w->st.leader_changes++;
			if (!holds_committed(w, &sn->vlog, need))
				sim_violation(w, "leader completeness",
							  "node %u leads term %llu without entry %llu, committed in term %llu (log ends at %llu)",
							  sn->id, (unsigned long long) u->term, (unsigned long long) need,
							  (unsigned long long) w->oracle_commit_term[need - 1],
							  (unsigned long long) sn->vlog.n);
			/* election safety counts a leadership once its term is durable */
			sn->leader_since_ms = w->now;
			sn->pending_leader_term = u->term;
			sim_check_durable_hard_state(w, sn);
		}
	}
}

/*
 * Per message, when the host encodes it: a (pre-)vote grant only from a
 * voter of the sender's configuration in force; an APPEND of a leader within
 * the batch limits flow control had in force (before or after the step).
 */
void
sim_check_msg(sim_world *w, sim_node *sn, const dcf_msg *m, const dcf_flow_status *lim)
{
	if (m->type == DCF_MSG_PREVOTE_REQ || m->type == DCF_MSG_VOTE_REQ)
	{
		/* the voters this candidate counts, for its term: checked at the grants */
		const dcf_membership *ms = dcf_node_membership(sn->node, NULL);
		uint64_t	mask = 0;
		uint64_t	key = m->term | (m->type == DCF_MSG_PREVOTE_REQ ? 1ULL << 63 : 0);

		uint64_t	old = 0;
		sim_node   *to = host_of(w, m->to);

		for (uint32_t k = 0; k < ms->n_members; k++)
			if (dcf_member_is_voter(&ms->members[k]) && host_of(w, ms->members[k].node_id))
				mask |= 1ULL << host_of(w, ms->members[k].node_id)->idx;
		/* and the work mode it asked in */
		mask |= (m->flags & DCF_MSG_F_MINORITY) ? ASKED_MINORITY : ASKED_NORMAL;
		if (sim_map_get(&w->asked, sn->id, key, &old))
			mask |= old;
		sim_map_put(&w->asked, sn->id, key, mask);
		if (to != NULL && !((mask >> to->idx) & 1))
			sim_violation(w, "roles", "candidate %u asks node %u for a %s in term %llu, not a voter of its configuration",
						  sn->id, m->to, m->type == DCF_MSG_VOTE_REQ ? "vote" : "pre-vote", (unsigned long long) m->term);
	}
	if ((m->type == DCF_MSG_PREVOTE_RESP || m->type == DCF_MSG_VOTE_RESP) && !(m->flags & DCF_MSG_F_REJECT))
	{
		/* a grant counts only from a voter of the candidate's configuration: PASSIVE members never vote */
		uint64_t	mask;
		uint64_t	key = m->term | (m->type == DCF_MSG_PREVOTE_RESP ? 1ULL << 63 : 0);

		if (sim_map_get(&w->asked, m->to, key, &mask) && !((mask >> sn->idx) & 1))
			sim_violation(w, "roles", "node %u granted a %s to node %u in term %llu, whose configuration does not count it as a voter",
						  sn->id, m->type == DCF_MSG_VOTE_RESP ? "vote" : "pre-vote", m->to, (unsigned long long) m->term);
		/* E6: only to a candidate that asked in the voter's work mode */
		else if (sim_map_get(&w->asked, m->to, key, &mask) &&
				 !(mask & ((m->flags & DCF_MSG_F_MINORITY) ? ASKED_MINORITY : ASKED_NORMAL)))
			sim_violation(w, "work modes", "node %u (%s mode) granted a %s to node %u in term %llu, which asked in the other mode",
						  sn->id, (m->flags & DCF_MSG_F_MINORITY) ? "minority" : "normal",
						  m->type == DCF_MSG_VOTE_RESP ? "vote" : "pre-vote", m->to, (unsigned long long) m->term);
	}
	if (m->type == DCF_MSG_APPEND && lim != NULL && lim->batch_entries > 0)
	{
		uint64_t	bytes = 0;

		for (uint32_t i = 0; i < m->n_entries; i++)
			bytes += m->entries[i].len;
		if (m->n_entries > lim->batch_entries || (m->n_entries > 1 && bytes > lim->batch_bytes))
			sim_violation(w, "flow control", "leader %u sent %u entries (%llu bytes) to node %u; the limits in force were %u entries, %u bytes",
						  sn->id, m->n_entries, (unsigned long long) bytes, m->to, lim->batch_entries,
						  lim->batch_bytes);
	}
	if (m->type == DCF_MSG_TIMEOUT_NOW)
	{
		/* the target must hold the sender's last index (checked after the writes, see host_handle) */
	}
}

/*
 * Brute force over the hosts (3^n, n <= SIM_NODES_MAX): is there a weighted
 * majority of configuration a and one of b with no voter in common?
 */
static bool
majorities_disjoint(sim_world *w, const dcf_membership *a, const dcf_membership *b)
{
	uint64_t	wa[SIM_NODES_MAX] = {0},
				wb[SIM_NODES_MAX] = {0},
				ta = 0,
				tb = 0,
				combos = 1;
	int			n = w->cfg.n_nodes;

	for (int i = 0; i < n; i++)
	{
		const dcf_member *ma = dcf_membership_find(a, w->nodes[i].id);
		const dcf_member *mb = dcf_membership_find(b, w->nodes[i].id);

		wa[i] = ma && dcf_member_is_voter(ma) ? ma->weight : 0;
		wb[i] = mb && dcf_member_is_voter(mb) ? mb->weight : 0;
		ta += wa[i];
		tb += wb[i];
		combos *= 3;
	}
	if (ta == 0 || tb == 0)
		return false;
	for (uint64_t c = 0; c < combos; c++)
	{
		uint64_t	x = c,
					sa = 0,
					sb = 0;

		for (int i = 0; i < n; i++, x /= 3)
		{
			if (x % 3 == 1)
				sa += wa[i];
			else if (x % 3 == 2)
				sb += wb[i];
		}
		if (sa >= ta / 2 + 1 && sb >= tb / 2 + 1)
			return true;
	}
	return false;
}

/* A TIMEOUT_NOW goes only to a target that holds the sender's log (or moved on to a newer term). */
void
sim_check_timeout_now(sim_world *w, sim_node *sn, const dcf_msg *m)
{
	sim_node   *t = host_of(w, m->to);

	if (t == NULL || m->index > sn->vlog.n)
	{
		sim_violation(w, "transfer", "node %u sent TIMEOUT_NOW to node %u naming index %llu beyond its log %llu",
					  sn->id, m->to, (unsigned long long) m->index, (unsigned long long) sn->vlog.n);
		return;
	}
	if (t->term > m->term)
		return;					/* the target moved on: the message is stale */
	/*
	 * Issue 15: the target lost entries the sender saw it acknowledge (a
	 * storage fault); until it answers, the sender cannot know.  The target
	 * ignores the TIMEOUT_NOW: it lacks the index, and never campaigns
	 * while it repairs (S1).
	 */
	if (t->dhs.repair_index >= m->index)
		return;
	if (m->index > 0 && (t->vlog.n < m->index || t->vlog.e[m->index - 1].chain != sn->vlog.e[m->index - 1].chain))
		sim_violation(w, "transfer", "node %u sent TIMEOUT_NOW to node %u, whose log (%llu entries) lacks its last entry %llu",
					  sn->id, m->to, (unsigned long long) t->vlog.n, (unsigned long long) m->index);
}

static bool
same_member(const dcf_member *a, const dcf_member *b)
{
	return a->role == b->role && a->weight == b->weight && a->learner == b->learner &&
		a->group == b->group && a->priority == b->priority;
}

/* The highest index committed at or before time t (0 if none). */
static uint64_t
committed_by(sim_world *w, uint64_t t)
{
	uint64_t	lo = 0,
				hi = w->oracle_n;

	/* oracle_commit_ms is non-decreasing: the last index with time <= t */
	while (lo < hi)
	{
		uint64_t	mid = (lo + hi + 1) / 2;

		if (w->oracle_commit_ms[mid - 1] <= t)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/*
 * A CONFIG entry a leader writes: it changes one member at most (single-
 * server changes), and a member it makes a voter holds every entry that
 * was committed an election timeout ago (it caught up first).
 */
void
sim_check_config_entry(sim_world *w, sim_node *sn, const dcf_membership *prev, const dcf_membership *next,
					   uint64_t index)
{
	int			changed = 0;

	for (uint32_t i = 0; i < next->n_members; i++)
	{
		const dcf_member *n = &next->members[i];
		const dcf_member *p = dcf_membership_find(prev, n->node_id);

		if (p == NULL || !same_member(p, n))
			changed++;
		if (dcf_member_is_voter(n) && (p == NULL || !dcf_member_is_voter(p)))
		{
			sim_node   *x = host_of(w, n->node_id);
			uint64_t	need = w->now >= w->cfg.election_timeout_ms ?
				committed_by(w, w->now - w->cfg.election_timeout_ms) : 0;

			/* issue 15: a member that lost entries in a storage fault and
			 * knows it (repair index) may look caught up to the leader
			 * until it answers; it counts toward no commit meanwhile (S1) */
			if (x == NULL || (!holds_committed(w, &x->vlog, need) && x->dhs.repair_index < need))
				sim_violation(w, "catch-up", "leader %u makes node %u a voter at entry %llu, but it lacks entry %llu, committed more than an election timeout ago",
							  sn->id, n->node_id, (unsigned long long) index, (unsigned long long) need);
		}
	}
	for (uint32_t i = 0; i < prev->n_members; i++)
		if (dcf_membership_find(next, prev->members[i].node_id) == NULL)
			changed++;
	if (changed > 1)
		sim_violation(w, "membership", "leader %u's CONFIG entry %llu changes %d members at once", sn->id,
					  (unsigned long long) index, changed);
	else if (majorities_disjoint(w, prev, next))
		sim_violation(w, "membership", "leader %u's CONFIG entry %llu lets a weighted majority of it and one of the configuration it replaces be disjoint",
					  sn->id, (unsigned long long) index);
}

/*
 * After every update of a node: the configuration in force is the last
 * CONFIG entry of its log (0: the bootstrap one), and at most one CONFIG
 * entry of its log lies above the last committed index (one change in
 * flight).
 */
void
sim_check_node_config(sim_world *w, sim_node *sn)
{
	uint64_t	idx = 0;
	uint64_t	want = sn->n_cfgs ? sn->cfgs[sn->n_cfgs - 1] : 0;

	if (sn->node == NULL)
		return;
	dcf_node_membership(sn->node, &idx);
	/*
	 * (A restarted node whose CONFIG entries were all lost with the unsynced
	 * tail uses its record's previous configuration, committed: allowed
	 * when that index lies past its log and holds a committed CONFIG entry.)
	 */
	if (idx != want &&
		!(idx > want && idx > sn->vlog.n && idx <= w->oracle_n && w->oracle_config[idx - 1]))
		sim_violation(w, "membership", "node %u uses the configuration of entry %llu, but the last CONFIG entry of its log is %llu",
					  sn->id, (unsigned long long) idx, (unsigned long long) want);
	if (sn->n_cfgs >= 2 && sn->cfgs[sn->n_cfgs - 2] > w->oracle_n)
		sim_violation(w, "membership", "node %u holds CONFIG entries %llu and %llu above the last committed index %llu: two changes in flight",
					  sn->id, (unsigned long long) sn->cfgs[sn->n_cfgs - 2],
					  (unsigned long long) sn->cfgs[sn->n_cfgs - 1], (unsigned long long) w->oracle_n);
}

/*
 * A node that led term t holds that leadership for real once its hard state
 * of term t is durable: a leader that needed votes had it durable before it
 * asked (H1); one whose own vote is a quorum may lose term and leadership in
 * a crash before anything of that term left it or became durable, and then
 * lead the same term again, or vote in it for another — legitimately.
 */
void
sim_check_durable_hard_state(sim_world *w, sim_node *sn)
{
	uint64_t	term = sn->pending_leader_term;
	uint64_t	who;

	if (term == 0 || sn->dhs.term < term)
		return;
	sn->pending_leader_term = 0;
	if (sim_map_get(&w->term_leader, term, 0, &who) && who != sn->id)
		sim_violation(w, "election safety", "nodes %llu and %u both lead term %llu",
					  (unsigned long long) who, sn->id, (unsigned long long) term);
	sim_map_put(&w->term_leader, term, 0, sn->id);
	if (term > w->max_leader_term)
		w->max_leader_term = term;
	if (w->n_lead == w->cap_lead)
	{
		w->cap_lead = w->cap_lead ? w->cap_lead * 2 : 64;
		w->lead_ms = realloc(w->lead_ms, sizeof(uint64_t) * w->cap_lead);
		w->lead_term = realloc(w->lead_term, sizeof(uint64_t) * w->cap_lead);
		if (!w->lead_ms || !w->lead_term)
		{
			fprintf(stderr, "dcf_sim: out of memory\n");
			exit(3);
		}
	}
	w->lead_ms[w->n_lead] = w->now;
	w->lead_term[w->n_lead] = term;
	w->n_lead++;
}

/*
 * The quorum that committed index i, from the committing node's view: its
 * configuration in force, the voters in its work mode (their copies are
 * the ones it counts), the weight needed (a majority of all voters, or
 * vote_num in minority mode), and the same-mode voters of every listed
 * group.  commit durability and policy majority are checked against it.
 */
static void
record_commit_quorum(sim_world *w, sim_node *sn, uint64_t i)
{
	uint64_t	cfg_index = 0;
	const dcf_membership *in_force = dcf_node_membership(sn->node, &cfg_index);
	dcf_membership prev;
	const dcf_membership *ms = in_force;
	uint64_t	total = 0;

	/*
	 * A leader appends a CONFIG entry after it committed in the same step
	 * (a change waits for a commit): that entry was not yet in force when
	 * this index committed, the configuration it replaced was.
	 */
	if (cfg_index > w->step_log_before && in_force->n_prev > 0)
	{
		memset(&prev, 0, sizeof(prev));
		prev.n_members = in_force->n_prev;
		memcpy(prev.members, in_force->prev, sizeof(dcf_member) * in_force->n_prev);
		ms = &prev;
	}

	w->commit_counted = 0;
	memset(w->commit_weight, 0, sizeof(w->commit_weight));
	for (uint32_t k = 0; k < ms->n_members; k++)
	{
		const dcf_member *m = &ms->members[k];
		sim_node   *h = host_of(w, m->node_id);

		if (!dcf_member_is_voter(m) || h == NULL)
			continue;
		total += m->weight;
		if (h->work_mode == sn->work_mode)
		{
			w->commit_counted |= 1u << h->idx;
			w->commit_weight[h->idx] = m->weight;
		}
	}
	w->commit_needed = sn->work_mode == DCF_WORK_MODE_MINORITY ? sn->vote_num : total / 2 + 1;
	w->commit_n_groups = w->cfg.n_majority_groups;
	for (uint32_t g = 0; g < w->cfg.n_majority_groups; g++)
	{
		bool		any = false;

		w->commit_groups[g] = 0;
		for (uint32_t k = 0; k < ms->n_members; k++)
		{
			const dcf_member *m = &ms->members[k];
			sim_node   *h = host_of(w, m->node_id);

			if (!dcf_member_is_voter(m) || h == NULL || m->group != w->cfg.majority_groups[g])
				continue;
			any = true;
			if (h->work_mode == sn->work_mode)
				w->commit_groups[g] |= 1u << h->idx;
		}
		if (any && w->commit_groups[g] == 0)
			sim_violation(w, "policy majority", "node %u commits index %llu, but no voter of group %u works in its mode",
						  sn->id, (unsigned long long) i, w->cfg.majority_groups[g]);
	}
}

void
sim_check_commit(sim_world *w, sim_node *sn, uint64_t old_commit, uint64_t new_commit)
{
	if (new_commit < old_commit)
	{
		sim_violation(w, "monotonic state", "node %u commit went from %llu to %llu", sn->id,
					  (unsigned long long) old_commit, (unsigned long long) new_commit);
		return;
	}
	if (new_commit > sn->vlog.n)
	{
		sim_violation(w, "monotonic state", "node %u commits %llu past its log end %llu", sn->id,
					  (unsigned long long) new_commit, (unsigned long long) sn->vlog.n);
		return;
	}
	for (uint64_t i = old_commit + 1; i <= new_commit && !w->violated; i++)
	{
		const sim_entry *e = &sn->vlog.e[i - 1];

		if (i <= w->oracle_n)
		{
			if (e->chain != w->oracle_chain[i - 1])
				sim_violation(w, "state machine safety",
							  "node %u commits index %llu term %llu, but term %llu was committed there",
							  sn->id, (unsigned long long) i, (unsigned long long) e->term,
							  (unsigned long long) w->oracle_term[i - 1]);
			continue;
		}
		/* first commit of index i anywhere: it joins the oracle */
		if (w->oracle_n == w->oracle_cap)
		{
			w->oracle_cap = w->oracle_cap ? w->oracle_cap * 2 : 1024;
			w->oracle_chain = realloc(w->oracle_chain, sizeof(uint64_t) * w->oracle_cap);
			w->oracle_term = realloc(w->oracle_term, sizeof(uint64_t) * w->oracle_cap);
			w->oracle_commit_term = realloc(w->oracle_commit_term, sizeof(uint64_t) * w->oracle_cap);
			w->oracle_commit_ms = realloc(w->oracle_commit_ms, sizeof(uint64_t) * w->oracle_cap);
			w->oracle_config = realloc(w->oracle_config, sizeof(bool) * w->oracle_cap);
			if (!w->oracle_chain || !w->oracle_term || !w->oracle_commit_term || !w->oracle_commit_ms ||
				!w->oracle_config)
			{
				fprintf(stderr, "dcf_sim: out of memory\n");
				exit(3);
			}
		}
		w->last_progress_ms = w->now;
		w->oracle_chain[w->oracle_n] = e->chain;
		w->oracle_term[w->oracle_n] = e->term;
		w->oracle_commit_term[w->oracle_n] = sn->term;
		w->oracle_commit_ms[w->oracle_n] = w->now;
		w->oracle_config[w->oracle_n] = e->type == DCF_ENTRY_CONFIG;
		w->oracle_n++;
		if (e->type == DCF_ENTRY_CONFIG)
			w->st.changes_committed++;
		record_commit_quorum(w, sn, i);
		/* leader completeness for the leaders of later terms already elected */
		for (int k = 0; k < w->cfg.n_nodes; k++)
		{
			sim_node   *l = &w->nodes[k];

			if (l->node && l->role == DCF_ROLE_LEADER && l->term > sn->term &&
				!holds_committed(w, &l->vlog, i))
				sim_violation(w, "leader completeness",
							  "entry %llu of term %llu committed in term %llu, but leader %u of term %llu lacks it",
							  (unsigned long long) i, (unsigned long long) e->term,
							  (unsigned long long) sn->term, l->id, (unsigned long long) l->term);
		}
	}
}

void
sim_check_release(sim_world *w, sim_node *sn, const sim_held *h)
{
	if (h->own_term && h->term > sn->max_sent_term)
		sn->max_sent_term = h->term;
	if (h->vote_grant)
	{
		uint64_t	cand;

		if (sim_map_get(&w->votes, sn->id, h->term, &cand) && cand != h->candidate)
			sim_violation(w, "vote durability", "node %u voted for %llu and %u in term %llu", sn->id,
						  (unsigned long long) cand, h->candidate, (unsigned long long) h->term);
		sim_map_put(&w->votes, sn->id, h->term, h->candidate);
	}
}

void
sim_check_restart(sim_world *w, sim_node *sn)
{
	dcf_status	st;
	uint64_t	cand;

	dcf_node_status(sn->node, &st);
	if (sn->rebuilt_start)
	{
		/*
		 * Rebuilt after its metadata was lost: its term and vote are the
		 * build's, not those it had (the vote map still holds every vote it
		 * granted before: a second vote in one of those terms is caught
		 * when it is sent, sim_check_release).
		 */
		sn->rebuilt_start = false;
		return;
	}
	if (st.term < sn->max_sent_term)
		sim_violation(w, "term durability", "node %u restarts in term %llu after sending in term %llu",
					  sn->id, (unsigned long long) st.term, (unsigned long long) sn->max_sent_term);
	/* (a rebuilt node's vote in the term the rebuild gave it is the leader's, S2) */
	if (sim_map_get(&w->votes, sn->id, st.term, &cand) && st.vote != cand &&
		!(st.term == sn->rebuild_term && st.vote == sn->rebuild_vote))
		sim_violation(w, "vote durability", "node %u restarts in term %llu voting for %u, but it voted for %llu",
					  sn->id, (unsigned long long) st.term, st.vote, (unsigned long long) cand);
}

void
sim_check_global(sim_world *w)
{
	/* commit durability: the quorum that committed the last entry still holds it durably */
	if (w->oracle_n > 0)
	{
		uint64_t	have = 0;

		for (int i = 0; i < w->cfg.n_nodes; i++)
			/*
			 * A node whose storage lost the entry and knows it (its
			 * durable repair index covers it, S1) still counts: it
			 * neither votes nor counts toward a commit until it holds
			 * the entry again, so it cannot help elect a leader without
			 * it.  A node that lost it and forgot is the planted bug
			 * repair_ignored.
			 */
			if (((w->commit_counted >> i) & 1) &&
				(holds_committed(w, &w->nodes[i].dlog, w->oracle_n) ||
				 w->nodes[i].dhs.repair_index >= w->oracle_n))
				have += w->commit_weight[i];
		if (have < w->commit_needed)
			sim_violation(w, "commit durability",
						  "committed entry %llu is durable on counted voters of weight %llu, %llu needed",
						  (unsigned long long) w->oracle_n, (unsigned long long) have,
						  (unsigned long long) w->commit_needed);
		/* policy majority: on a voter of every listed group */
		for (uint32_t g = 0; g < w->commit_n_groups && !w->violated; g++)
		{
			bool		held = w->commit_groups[g] == 0;

			for (int i = 0; i < w->cfg.n_nodes && !held; i++)
				if (((w->commit_groups[g] >> i) & 1) &&
					(holds_committed(w, &w->nodes[i].dlog, w->oracle_n) ||
					 w->nodes[i].dhs.repair_index >= w->oracle_n))
					held = true;	/* S1, as above */
			if (!held)
				sim_violation(w, "policy majority", "committed entry %llu is durable on no voter of group %u",
							  (unsigned long long) w->oracle_n, w->cfg.majority_groups[g]);
		}
	}
	/*
	 * lease: no node holds a lease while a leader of a higher term was
	 * elected since it began to lead.  (Since, not ever: after a minority
	 * episode the lost majority may elect at terms below the minority's —
	 * it never heard of them — once the minority leader stepped down.)
	 */
	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		sim_node   *sn = &w->nodes[i];

		if (sn->node && sn->role == DCF_ROLE_LEADER && w->max_leader_term > sn->term &&
			dcf_node_lease_valid(sn->node, w->now))
		{
			for (uint64_t k = w->n_lead; k > 0 && w->lead_ms[k - 1] >= sn->leader_since_ms; k--)
				if (w->lead_term[k - 1] > sn->term)
				{
					sim_violation(w, "lease", "node %u holds a lease in term %llu, but a leader of term %llu was elected since",
								  sn->id, (unsigned long long) sn->term, (unsigned long long) w->lead_term[k - 1]);
					break;
				}
		}
	}
}
