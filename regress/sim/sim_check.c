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
 *   roles                only LEADER/FOLLOWER members campaign or lead;
 *                        PASSIVE members never grant votes
 *   monotonic state      term and commit never decrease within a node's
 *                        life; commit never passes the end of its log
 */
#include "sim.h"
#include "core/crc32c.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
	w->max_leader_term = 0;
}

static const dcf_member *
member_of(sim_world *w, sim_node *sn)
{
	return &w->cfg.ms.members[sn->idx];
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
static bool
holds_committed(sim_world *w, const sim_log *l, uint64_t index)
{
	return index == 0 || (l->n >= index && l->e[index - 1].chain == w->oracle_chain[index - 1]);
}

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

void
sim_check_update(sim_world *w, sim_node *sn, const dcf_update *u, dcf_role role_before,
				 uint64_t term_before)
{
	const dcf_member *me = member_of(w, sn);

	if (u->term < term_before)
		sim_violation(w, "monotonic state", "node %u term went from %llu to %llu", sn->id,
					  (unsigned long long) term_before, (unsigned long long) u->term);
	if ((u->role == DCF_ROLE_LEADER || u->role == DCF_ROLE_CANDIDATE ||
		 u->role == DCF_ROLE_PRE_CANDIDATE) && !dcf_role_may_lead(me->role))
		sim_violation(w, "roles", "node %u, a %s member, became %s", sn->id,
					  dcf_role_name(me->role), dcf_role_name(u->role));
	if (u->role == DCF_ROLE_CANDIDATE && (role_before != DCF_ROLE_CANDIDATE || u->term != term_before))
		w->st.elections++;
	if (u->role == DCF_ROLE_LEADER)
	{
		if (u->truncate_from)
			sim_violation(w, "leader append-only", "leader %u of term %llu truncates its log from %llu",
						  sn->id, (unsigned long long) u->term, (unsigned long long) u->truncate_from);
		if (role_before != DCF_ROLE_LEADER || term_before != u->term)
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
			sn->pending_leader_term = u->term;
			sim_check_durable_hard_state(w, sn);
		}
	}
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
			if (!w->oracle_chain || !w->oracle_term || !w->oracle_commit_term)
			{
				fprintf(stderr, "dcf_sim: out of memory\n");
				exit(3);
			}
		}
		w->last_progress_ms = w->now;
		w->oracle_chain[w->oracle_n] = e->chain;
		w->oracle_term[w->oracle_n] = e->term;
		w->oracle_commit_term[w->oracle_n] = sn->term;
		w->oracle_n++;
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

		if (member_of(w, sn)->role == DCF_ROLE_PASSIVE)
			sim_violation(w, "roles", "passive node %u granted a vote in term %llu", sn->id,
						  (unsigned long long) h->term);
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
	if (st.term < sn->max_sent_term)
		sim_violation(w, "term durability", "node %u restarts in term %llu after sending in term %llu",
					  sn->id, (unsigned long long) st.term, (unsigned long long) sn->max_sent_term);
	if (sim_map_get(&w->votes, sn->id, st.term, &cand) && st.vote != cand)
		sim_violation(w, "vote durability", "node %u restarts in term %llu voting for %u, but it voted for %llu",
					  sn->id, (unsigned long long) st.term, st.vote, (unsigned long long) cand);
}

void
sim_check_global(sim_world *w)
{
	/* commit durability */
	if (w->oracle_n > 0)
	{
		uint64_t	have = 0,
					total = 0;

		for (int i = 0; i < w->cfg.n_nodes; i++)
		{
			const dcf_member *m = &w->cfg.ms.members[i];

			if (!dcf_role_is_voter(m->role))
				continue;
			total += m->weight;
			if (holds_committed(w, &w->nodes[i].dlog, w->oracle_n))
				have += m->weight;
		}
		if (have < total / 2 + 1)
			sim_violation(w, "commit durability",
						  "committed entry %llu is durable on voters of weight %llu of %llu only",
						  (unsigned long long) w->oracle_n, (unsigned long long) have,
						  (unsigned long long) total);
	}
	/* lease */
	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		sim_node   *sn = &w->nodes[i];

		if (sn->node && sn->role == DCF_ROLE_LEADER && w->max_leader_term > sn->term &&
			dcf_node_lease_valid(sn->node, w->now))
			sim_violation(w, "lease", "node %u holds a lease in term %llu, but a leader of term %llu exists",
						  sn->id, (unsigned long long) sn->term, (unsigned long long) w->max_leader_term);
	}
}
