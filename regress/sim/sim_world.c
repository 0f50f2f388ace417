/*
 * sim_world.c — the world of one seed: event queue, one host per node,
 * the network and the disks, faults and clients.
 *
 * The host of each node carries out the core's contract (dcf_core.h):
 *   - an update's hard state, truncation and entries go to the node's
 *     volatile log at once (vlog, the page cache) and to a list of unsynced
 *     writes; a sync (fsync) started when writes are pending completes after
 *     a random disk latency and moves every write issued before it started
 *     into the durable image (dlog, dhs) — group commit;
 *   - messages are encoded with the real codec and held until every write
 *     issued up to their update is durable (H1), except a leader's APPEND and
 *     HEARTBEAT on seeds that send those eagerly (the allowed relaxation);
 *   - after a sync the node gets DCF_EVENT_PERSISTED (H3);
 *   - committed entries are applied up to min(commit, persisted) (H4); the
 *     applied index survives crashes (it is the state machine's own);
 *   - the node ticks at the time it asks for, rounded up to the host's tick
 *     granularity (H6).
 * A crash destroys the node, drops held messages and unsynced writes — all,
 * none, or an ordered prefix of them whose last append is torn — and the
 * node restarts later from the durable image alone.
 *
 * Event order is (time, sequence number): with one seeded PRNG every run of
 * a seed is identical.
 */
#include "sim.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define SIM_CHUNK_BYTES (1u << 20)

static sim_world *panic_world;

/* ---- small utilities ---- */

static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
	{
		fprintf(stderr, "dcf_sim: out of memory (%zu bytes)\n", n);
		exit(3);
	}
	return p;
}

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
	{
		fprintf(stderr, "dcf_sim: out of memory (%zu bytes)\n", n);
		exit(3);
	}
	return p;
}

static uint64_t
rnd(sim_world *w, uint64_t n)
{
	return dcf_prng_below(&w->rng, n);
}

static uint64_t
rnd_range(sim_world *w, uint64_t lo, uint64_t hi)
{
	return hi <= lo ? lo : lo + rnd(w, hi - lo + 1);
}

static bool
chance(sim_world *w, uint32_t permille)
{
	return permille > 0 && dcf_prng_chance(&w->rng, permille);
}

void
sim_trace(sim_world *w, const char *fmt,...)
{
	va_list		ap;

	if (!w->trace)
		return;
	printf("t=%llu ", (unsigned long long) w->now);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static const uint8_t *
arena_copy(sim_world *w, const uint8_t *p, uint32_t len)
{
	uint8_t    *dst;

	if (len == 0)
		return NULL;
	if (w->n_chunks == w->cap_chunks)
	{
		w->cap_chunks = w->cap_chunks ? w->cap_chunks * 2 : 16;
		w->chunks = xrealloc(w->chunks, sizeof(uint8_t *) * w->cap_chunks);
	}
	if (len > SIM_CHUNK_BYTES / 4)
	{
		/* large payload: a chunk of its own, inserted below the current one */
		dst = xmalloc(len);
		if (w->n_chunks > 0)
		{
			w->chunks[w->n_chunks] = w->chunks[w->n_chunks - 1];
			w->chunks[w->n_chunks - 1] = dst;
		}
		else
		{
			w->chunks[0] = dst;
			w->chunk_used = SIM_CHUNK_BYTES;
		}
		w->n_chunks++;
	}
	else
	{
		if (w->n_chunks == 0 || w->chunk_used + len > SIM_CHUNK_BYTES)
		{
			w->chunks[w->n_chunks++] = xmalloc(SIM_CHUNK_BYTES);
			w->chunk_used = 0;
		}
		dst = w->chunks[w->n_chunks - 1] + w->chunk_used;
		w->chunk_used += len;
	}
	memcpy(dst, p, len);
	return dst;
}

/* ---- the event heap, ordered by (time, sequence) ---- */

static bool
ev_before(const sim_event *a, const sim_event *b)
{
	return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

static void
ev_push(sim_world *w, sim_event ev)
{
	uint32_t	i;

	ev.seq = w->seq++;
	if (w->n_heap == w->cap_heap)
	{
		w->cap_heap = w->cap_heap ? w->cap_heap * 2 : 256;
		w->heap = xrealloc(w->heap, sizeof(sim_event) * w->cap_heap);
	}
	i = w->n_heap++;
	while (i > 0)
	{
		uint32_t	p = (i - 1) / 2;

		if (!ev_before(&ev, &w->heap[p]))
			break;
		w->heap[i] = w->heap[p];
		i = p;
	}
	w->heap[i] = ev;
}

static sim_event
ev_pop(sim_world *w)
{
	sim_event	top = w->heap[0];
	sim_event	last = w->heap[--w->n_heap];
	uint32_t	i = 0;

	for (;;)
	{
		uint32_t	l = 2 * i + 1,
					r = l + 1,
					m = i;
		const sim_event *best = &last;

		if (l < w->n_heap && ev_before(&w->heap[l], best))
		{
			m = l;
			best = &w->heap[l];
		}
		if (r < w->n_heap && ev_before(&w->heap[r], best))
			m = r;
		if (m == i)
			break;
		w->heap[i] = w->heap[m];
		i = m;
	}
	if (w->n_heap > 0)
		w->heap[i] = last;
	return top;
}

static void
schedule(sim_world *w, uint64_t at, sim_ev_kind kind, int node, uint32_t gen, sim_packet *pkt)
{
	sim_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.at_ms = at;
	ev.kind = kind;
	ev.node = node;
	ev.gen = gen;
	ev.pkt = pkt;
	ev_push(w, ev);
}

/* ---- host logs ---- */

static void
log_reserve(sim_log *l, uint64_t n)
{
	if (n <= l->cap)
		return;
	l->cap = l->cap * 2 > n ? l->cap * 2 : n + 64;
	l->e = xrealloc(l->e, sizeof(sim_entry) * l->cap);
}

static void
log_push(sim_log *l, const sim_entry *e)
{
	log_reserve(l, l->n + 1);
	l->e[l->n++] = *e;
}

static void
log_truncate(sim_log *l, uint64_t from)
{
	if (from >= 1 && from <= l->n)
		l->n = from - 1;
}

static void
log_copy(sim_log *dst, const sim_log *src)
{
	log_reserve(dst, src->n);
	if (src->n)
		memcpy(dst->e, src->e, sizeof(sim_entry) * src->n);
	dst->n = src->n;
}

/* The CONFIG entries of a node's volatile log (sn->cfgs) follow its writes. */
static void
cfgs_truncate(sim_node *sn, uint64_t from)
{
	while (sn->n_cfgs > 0 && sn->cfgs[sn->n_cfgs - 1] >= from)
		sn->n_cfgs--;
}

static void
cfgs_push(sim_node *sn, uint64_t index)
{
	if (sn->n_cfgs == sn->cap_cfgs)
	{
		sn->cap_cfgs = sn->cap_cfgs ? sn->cap_cfgs * 2 : 16;
		sn->cfgs = xrealloc(sn->cfgs, sizeof(uint64_t) * sn->cap_cfgs);
	}
	sn->cfgs[sn->n_cfgs++] = index;
}

static void
cfgs_rebuild(sim_node *sn)
{
	sn->n_cfgs = 0;
	for (uint64_t i = 1; i <= sn->vlog.n; i++)
		if (sn->vlog.e[i - 1].type == DCF_ENTRY_CONFIG)
			cfgs_push(sn, i);
}

uint64_t
sim_log_last_term(const sim_log *l)
{
	return l->n ? l->e[l->n - 1].term : 0;
}

/* dcf_log_reader over the volatile log: the core reads only stable indexes */
static uint64_t
rd_first(void *ctx)
{
	return ((sim_node *) ctx)->log_first;
}

static uint64_t
rd_last(void *ctx)
{
	return ((sim_node *) ctx)->vlog.n;
}

static dcf_rc
rd_term(void *ctx, uint64_t index, uint64_t *term, char *errmsg)
{
	sim_node   *sn = ctx;

	if (index == 0)
	{
		*term = 0;
		return DCF_OK;
	}
	if (index > sn->vlog.n || index + 1 < sn->log_first)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "no index %llu", (unsigned long long) index);
	*term = sn->vlog.e[index - 1].term;
	return DCF_OK;
}

static dcf_rc
rd_entries(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes, dcf_entry *out,
		   uint32_t *n_out, char *errmsg)
{
	sim_node   *sn = ctx;
	uint32_t	cap = *n_out,
				n = 0;
	uint64_t	bytes = 0;

	if (lo < sn->log_first || hi > sn->vlog.n + 1 || lo >= hi)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "range [%llu, %llu) outside the log",
						(unsigned long long) lo, (unsigned long long) hi);
	for (uint64_t i = lo; i < hi && n < cap; i++)
	{
		const sim_entry *e = &sn->vlog.e[i - 1];

		if (n > 0 && bytes + e->len > max_bytes)
			break;
		out[n].index = i;
		out[n].term = e->term;
		out[n].key = e->key;
		out[n].type = e->type;
		out[n].len = e->len;
		out[n].payload = e->payload;
		bytes += e->len;
		n++;
	}
	*n_out = n;
	return DCF_OK;
}

/* ---- network ---- */

static void
net_send(sim_world *w, sim_node *from, uint32_t to_id, const uint8_t *bytes, size_t len)
{
	int			to = (int) to_id - 1;
	int			copies = 1;

	w->st.msgs_sent++;
	if (to < 0 || to >= w->cfg.n_nodes)
		return;
	if (w->blocked[from->idx][to] || (!w->healing && chance(w, w->cfg.drop_permille)))
	{
		w->st.msgs_dropped++;
		return;
	}
	if (!w->healing && chance(w, w->cfg.dup_permille))
	{
		copies = 2;
		w->st.msgs_duplicated++;
	}
	for (int c = 0; c < copies; c++)
	{
		sim_packet *p = xmalloc(sizeof(sim_packet) + len);
		uint64_t	delay = rnd_range(w, w->cfg.net_delay_min_ms, w->cfg.net_delay_max_ms);

		if (!w->healing && chance(w, w->cfg.spike_permille))
			delay += rnd(w, w->cfg.spike_max_ms + 1);
		p->from = from->id;
		p->to = to_id;
		p->len = len;
		memcpy(p->bytes, bytes, len);
		schedule(w, w->now + delay, SIM_EV_DELIVER, to, 0, p);
	}
}

static void
release(sim_world *w, sim_node *sn, sim_held *h)
{
	sim_check_release(w, sn, h);
	net_send(w, sn, h->to, h->bytes, h->len);
	free(h->bytes);
	h->bytes = NULL;
}

/* ---- disk ---- */

static void
op_push(sim_node *sn, const sim_op *op)
{
	if (sn->n_ops == sn->cap_ops)
	{
		sn->cap_ops = sn->cap_ops ? sn->cap_ops * 2 : 32;
		sn->ops = xrealloc(sn->ops, sizeof(sim_op) * sn->cap_ops);
	}
	sn->ops[sn->n_ops++] = *op;
	sn->op_seq++;
}

static void
op_apply_durable(sim_world *w, sim_node *sn, const sim_op *op, uint32_t n_entries)
{
	switch (op->kind)
	{
		case SIM_OP_HARD_STATE:
			sn->dhs = op->hs;
			break;
		case SIM_OP_TRUNCATE:
			log_truncate(&sn->dlog, op->index);
			break;
		case SIM_OP_MEMBERSHIP:
			sn->drec.set = true;
			sn->drec.index = op->index;
			sn->drec.ms = *op->ms;
			break;
		case SIM_OP_APPEND:
			/* an append lands where the file ends (cut back to the index) */
			log_truncate(&sn->dlog, op->index);
			if (sn->dlog.n + 1 != op->index)
				break;			/* cannot happen: writes are ordered */
			for (uint32_t i = 0; i < n_entries; i++)
			{
				log_push(&sn->dlog, &op->entries[i]);
				sim_check_observed(w, sn, sn->dlog.n, &op->entries[i]);
			}
			break;
	}
}

static void step_node(sim_world *w, sim_node *sn, const dcf_event *ev);

static void
maybe_start_sync(sim_world *w, sim_node *sn)
{
	if (sn->sync_running || sn->synced_seq >= sn->op_seq || sn->node == NULL)
		return;
	sn->sync_running = true;
	sn->sync_target_seq = sn->op_seq;
	schedule(w, w->now + rnd_range(w, w->cfg.sync_min_ms, w->cfg.sync_max_ms), SIM_EV_SYNC,
			 sn->idx, sn->incarnation, NULL);
}

static void
sync_done(sim_world *w, sim_node *sn)
{
	uint32_t	n_apply = (uint32_t) (sn->sync_target_seq - sn->synced_seq);
	uint32_t	kept = 0;
	dcf_event	ev;

	for (uint32_t i = 0; i < n_apply; i++)
	{
		if (sn->ops[i].kind == SIM_OP_HARD_STATE)
			sn->hs_pending--;
		op_apply_durable(w, sn, &sn->ops[i], sn->ops[i].n);
		free(sn->ops[i].entries);
		free(sn->ops[i].ms);
	}
	memmove(sn->ops, sn->ops + n_apply, sizeof(sim_op) * (sn->n_ops - n_apply));
	sn->n_ops -= n_apply;
	sim_check_durable_hard_state(w, sn);
	sn->synced_seq = sn->sync_target_seq;
	sn->sync_running = false;
	sim_trace(w, "n%u sync: durable log %llu, term %llu vote %u", sn->id,
			  (unsigned long long) sn->dlog.n, (unsigned long long) sn->dhs.term, sn->dhs.vote);
	/* H1: now the messages waiting for these writes may go, in order */
	for (uint32_t i = 0; i < sn->n_held; i++)
	{
		if (sn->held[i].need_seq <= sn->synced_seq)
			release(w, sn, &sn->held[i]);
		else
			sn->held[kept++] = sn->held[i];
	}
	sn->n_held = kept;
	/* H3 */
	if (sn->dlog.n > 0)
	{
		memset(&ev, 0, sizeof(ev));
		ev.type = DCF_EVENT_PERSISTED;
		ev.now_ms = w->now;
		ev.u.persisted.index = sn->dlog.n;
		ev.u.persisted.term = sn->dlog.e[sn->dlog.n - 1].term;
		step_node(w, sn, &ev);
	}
	maybe_start_sync(w, sn);
}

/* ---- hosts ---- */

static void
schedule_tick(sim_world *w, sim_node *sn, uint64_t want)
{
	uint64_t	g = w->cfg.tick_ms;

	if (want < w->now)
		want = w->now;
	want = (want + g - 1) / g * g;
	if (sn->tick_at != 0 && sn->tick_at <= want)
		return;					/* an earlier tick is already due */
	sn->tick_gen++;
	sn->tick_at = want;
	schedule(w, want, SIM_EV_TICK, sn->idx, sn->tick_gen, NULL);
}

static void
apply_committed(sim_world *w, sim_node *sn, uint64_t limit)
{
	while (sn->applied < limit && sn->applied < sn->vlog.n)
	{
		const sim_entry *e = &sn->vlog.e[sn->applied];

		sn->applied++;
		w->last_progress_ms = w->now;
		if (e->type >= DCF_ENTRY_APP_MIN && e->len >= 8 && w->healing && w->marker_index == 0)
		{
			uint64_t	id;

			memcpy(&id, e->payload, 8);
			if (id >= w->heal_first_marker)
			{
				w->marker_index = sn->applied;
				sim_trace(w, "n%u applied liveness marker %llu at index %llu", sn->id,
						  (unsigned long long) id, (unsigned long long) sn->applied);
			}
		}
	}
}

static void
host_handle(sim_world *w, sim_node *sn, const dcf_update *u, const dcf_flow_status *flow_before,
			dcf_event_type ev_type)
{
	dcf_role	role_before = sn->role;
	uint64_t	term_before = sn->term;
	uint64_t	old_commit = sn->commit;
	uint32_t	first_held = sn->n_held;
	char		err[DCF_ERRMSG_MAX];

	dcf_flow_status lim = *flow_before;

	w->step_commit = u->commit_index;

	if (u->role == DCF_ROLE_LEADER)
	{
		dcf_status	st;

		/* appends of this step obey the limits before or after it */
		dcf_node_status(sn->node, &st);
		if (st.flow.batch_entries > lim.batch_entries)
			lim.batch_entries = st.flow.batch_entries;
		if (st.flow.batch_bytes > lim.batch_bytes)
			lim.batch_bytes = st.flow.batch_bytes;
	}
	/* 1. encode the messages (payloads may point into the log we change) */
	if (sn->n_held + u->n_msgs > sn->cap_held)
	{
		sn->cap_held = (sn->n_held + u->n_msgs) * 2;
		sn->held = xrealloc(sn->held, sizeof(sim_held) * sn->cap_held);
	}
	for (uint32_t i = 0; i < u->n_msgs; i++)
	{
		const dcf_msg *m = &u->msgs[i];
		sim_held   *h = &sn->held[sn->n_held];
		size_t		len = dcf_msg_encoded_size(m);

		h->bytes = xmalloc(len);
		if (dcf_msg_encode(m, h->bytes, len, &h->len, err) != DCF_OK)
		{
			free(h->bytes);
			sim_violation(w, "codec", "node %u could not encode its %s: %s", sn->id,
						  dcf_msg_type_name(m->type), err);
			return;
		}
		sim_check_msg(w, sn, m, &lim);
		h->to = m->to;
		h->term = m->term;
		h->vote_grant = m->type == DCF_MSG_VOTE_RESP && !(m->flags & DCF_MSG_F_REJECT);
		h->candidate = m->to;
		h->own_term = m->type != DCF_MSG_PREVOTE_REQ && m->type != DCF_MSG_PREVOTE_RESP;
		h->need_seq = 0;		/* set below, after the writes */
		sn->n_held++;
		if (w->trace)
			sim_trace(w, "n%u -> n%u %s term %llu index %llu log_term %llu commit %llu n %u%s",
					  sn->id, m->to, dcf_msg_type_name(m->type), (unsigned long long) m->term,
					  (unsigned long long) m->index, (unsigned long long) m->log_term,
					  (unsigned long long) m->commit, m->n_entries,
					  (m->flags & DCF_MSG_F_REJECT) ? " reject" : "");
	}

	/* 2. the writes, into the page cache and the unsynced list */
	w->step_log_before = u->truncate_from ? u->truncate_from - 1 : sn->vlog.n;
	if (u->hard_state_changed)
	{
		sim_op		op = {.kind = SIM_OP_HARD_STATE, .hs = u->hard_state};

		sn->vhs = u->hard_state;
		op_push(sn, &op);
		sn->hs_pending++;
	}
	if (u->membership)
	{
		/* H7: the record goes before this update's truncation and entries */
		sim_op		op = {.kind = SIM_OP_MEMBERSHIP, .index = u->membership_index};

		op.ms = xmalloc(sizeof(dcf_membership));
		*op.ms = *u->membership;
		sn->vrec.set = true;
		sn->vrec.index = u->membership_index;
		sn->vrec.ms = *u->membership;
		op_push(sn, &op);
		sim_trace(w, "n%u membership record: %u members, index %llu, undo %llu", sn->id,
				  u->membership->n_members, (unsigned long long) u->membership_index,
				  (unsigned long long) u->membership->undo_index);
	}
	if (u->truncate_from)
	{
		sim_op		op = {.kind = SIM_OP_TRUNCATE, .index = u->truncate_from};

		if (u->n_entries == 0 || u->entries[0].index != u->truncate_from)
			sim_violation(w, "contract", "node %u truncates from %llu but appends from %llu",
						  sn->id, (unsigned long long) u->truncate_from,
						  (unsigned long long) (u->n_entries ? u->entries[0].index : 0));
		sim_trace(w, "n%u truncate from %llu (log had %llu)", sn->id,
				  (unsigned long long) u->truncate_from, (unsigned long long) sn->vlog.n);
		log_truncate(&sn->vlog, u->truncate_from);
		cfgs_truncate(sn, u->truncate_from);
		op_push(sn, &op);
	}
	if (u->n_entries > 0)
	{
		sim_op		op = {.kind = SIM_OP_APPEND, .index = u->entries[0].index, .n = u->n_entries};

		if (u->entries[0].index != sn->vlog.n + 1)
			sim_violation(w, "contract", "node %u appends at %llu, its log ends at %llu", sn->id,
						  (unsigned long long) u->entries[0].index, (unsigned long long) sn->vlog.n);
		op.entries = xmalloc(sizeof(sim_entry) * u->n_entries);
		for (uint32_t i = 0; i < u->n_entries; i++)
		{
			const dcf_entry *de = &u->entries[i];
			sim_entry	se;
			uint64_t	prev = sn->vlog.n ? sn->vlog.e[sn->vlog.n - 1].chain : 0;

			se.term = de->term;
			se.key = de->key;
			se.type = de->type;
			se.len = de->len;
			se.payload = arena_copy(w, de->payload, de->len);
			se.chain = sim_chain_next(prev, sn->vlog.n + 1, &se);
			log_push(&sn->vlog, &se);
			op.entries[i] = se;
			if (se.type == DCF_ENTRY_CONFIG)
			{
				cfgs_push(sn, sn->vlog.n);
				if (u->role == DCF_ROLE_LEADER)
				{
					/* a change this leader makes: single-server, caught-up voters */
					dcf_membership next;
					char		derr[DCF_ERRMSG_MAX];

					if (dcf_membership_decode(de->payload, de->len, &next, derr) != DCF_OK)
						sim_violation(w, "codec", "node %u wrote CONFIG entry %llu that does not decode: %s",
									  sn->id, (unsigned long long) sn->vlog.n, derr);
					else
					{
						dcf_membership prevms;

						memset(&prevms, 0, sizeof(prevms));
						prevms.n_members = next.n_prev;
						memcpy(prevms.members, next.prev, sizeof(dcf_member) * next.n_prev);
						sim_check_config_entry(w, sn, &prevms, &next, sn->vlog.n);
					}
				}
			}
			/* received entries are observable now; a leader's own once durable */
			if (u->role != DCF_ROLE_LEADER)
			{
				sim_check_observed(w, sn, sn->vlog.n, &se);
				if (sn->vlog.n > sn->max_written)
				{
					sn->max_written = sn->vlog.n;
					w->last_progress_ms = w->now;	/* catching up */
				}
				else if (sn->vhs.repair_index >= sn->vlog.n)
					w->last_progress_ms = w->now;	/* fetching lost entries again (S1) */
			}
		}
		sim_trace(w, "n%u append %llu..%llu (term %llu)", sn->id,
				  (unsigned long long) u->entries[0].index,
				  (unsigned long long) u->entries[u->n_entries - 1].index,
				  (unsigned long long) u->entries[u->n_entries - 1].term);
		op_push(sn, &op);
	}

	for (uint32_t i = 0; i < u->n_msgs; i++)
		if (u->msgs[i].type == DCF_MSG_TIMEOUT_NOW)
			sim_check_timeout_now(w, sn, &u->msgs[i]);

	/* 3. soft state and the checks on this update */
	sn->role = u->role;
	sn->leader = u->leader_id;
	sn->term = u->term;
	sn->persisted = u->persisted_index;
	if (u->role_changed)
		sim_trace(w, "n%u is %s term %llu leader %u", sn->id, dcf_role_name(u->role),
				  (unsigned long long) u->term, u->leader_id);
	if (u->commit_index != old_commit)
	{
		sim_check_commit(w, sn, old_commit, u->commit_index);
		sn->commit = u->commit_index;
		sim_trace(w, "n%u commit %llu", sn->id, (unsigned long long) u->commit_index);
	}
	sim_check_update(w, sn, u, role_before, term_before, ev_type);
	sim_check_node_config(w, sn);
	for (uint32_t i = 0; i < u->n_reports; i++)
	{
		const dcf_admin_report *r = &u->reports[i];

		sim_trace(w, "n%u report: %s of node %u: %s (%s)%s", sn->id, dcf_admin_kind_name(r->kind), r->node_id,
				  dcf_rc_name(r->rc), r->reason, r->automatic ? ", automatic" : "");
		if (r->kind == DCF_ADMIN_TRANSFER_LEADER && r->node_id != sn->id)
		{
			if (r->rc == DCF_OK)
				w->st.transfers_done++;
			else
				w->st.transfers_failed++;
		}
	}
	apply_committed(w, sn, u->commit_index < u->persisted_index ? u->commit_index : u->persisted_index);

	/* 4. messages: out now, or after the sync that makes their writes durable */
	{
		uint32_t	kept = first_held;

		for (uint32_t i = first_held; i < sn->n_held; i++)
		{
			sim_held   *h = &sn->held[i];
			const dcf_msg *m = &u->msgs[i - first_held];

			h->need_seq = sn->op_seq;
			if (h->need_seq <= sn->synced_seq ||
				(w->cfg.eager_leader_send && !dcf_msg_needs_persist(m) && sn->hs_pending == 0 &&
				 dcf_node_early_send_allowed(sn->node)))
				release(w, sn, h);
			else
				sn->held[kept++] = *h;
		}
		sn->n_held = kept;
	}
	maybe_start_sync(w, sn);
	schedule_tick(w, sn, u->next_tick_ms);
}

static void
step_node(sim_world *w, sim_node *sn, const dcf_event *ev)
{
	dcf_update	u;
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc;

	dcf_flow_status flow_before;

	if (sn->node == NULL || w->violated)
		return;
	memset(&flow_before, 0, sizeof(flow_before));
	if (sn->role == DCF_ROLE_LEADER)
	{
		dcf_status	st;

		dcf_node_status(sn->node, &st);
		flow_before = st.flow;
	}
	rc = dcf_node_step(sn->node, ev, &u, err);
	if (rc != DCF_OK)
	{
		if ((ev->type == DCF_EVENT_PROPOSE && (rc == DCF_ERR_FULL || rc == DCF_ERR_STATE)) ||
			(ev->type == DCF_EVENT_ADMIN && (rc == DCF_ERR_FULL || rc == DCF_ERR_STATE || rc == DCF_ERR_INVALID)))
		{
			/* refused, nothing changed: a client or operator would retry */
			if (ev->type == DCF_EVENT_ADMIN)
			{
				w->st.admin_refused++;
				sim_trace(w, "n%u refuses %s: %s", sn->id, dcf_admin_kind_name(ev->u.admin.kind), err);
			}
			w->last_step_rc = rc;
			return;
		}
		sim_violation(w, "step", "node %u step (event %d) failed: %s", sn->id, (int) ev->type, err);
		return;
	}
	w->last_step_rc = DCF_OK;
	host_handle(w, sn, &u, &flow_before, ev->type);
}

static void
node_start(sim_world *w, sim_node *sn)
{
	dcf_options o;
	char		err[DCF_ERRMSG_MAX];
	dcf_status	st;

	dcf_options_init(&o, sn->id);
	o.election_timeout_ms = w->cfg.election_timeout_ms;
	o.heartbeat_interval_ms = w->cfg.heartbeat_ms;
	o.lease_margin_ms = w->cfg.lease_margin_ms;
	o.prng_seed = w->seed * 1000003 + sn->incarnation;
	o.max_batch_entries = w->cfg.max_batch_entries;
	o.max_batch_bytes = w->cfg.max_batch_bytes;
	o.max_inflight_appends = w->cfg.max_inflight;
	o.commit_notify_ms = w->cfg.commit_notify_ms;
	o.max_unstable_entries = w->cfg.max_unstable_entries;
	o.max_unstable_bytes = DCF_ENTRY_PAYLOAD_MAX_BYTES;
	o.n_majority_groups = w->cfg.n_majority_groups;
	memcpy(o.majority_groups, w->cfg.majority_groups, sizeof(o.majority_groups));
	o.priority_interval_ms = w->cfg.priority_interval_ms;
	o.transfer_timeout_ms = w->cfg.transfer_timeout_ms;
	o.flow_control = w->cfg.flow_control;
	o.flow_interval_ms = w->cfg.flow_interval_ms;
	/* the operator's settings for this node */
	o.run_mode = sn->run_mode;
	o.work_mode = sn->work_mode;
	o.vote_num = sn->vote_num;
	o.priority_election = sn->priority_election;
	/* the applied index may be above a log that lost entries (S1) */
	if (dcf_node_create(&o, &sn->dhs, sn->drec.set ? &sn->drec.ms : &w->cfg.ms,
						sn->drec.set ? sn->drec.index : 0,
						sn->applied < sn->dlog.n ? sn->applied : sn->dlog.n, &sn->reader, w->now,
						&sn->node, err) != DCF_OK)
	{
		sim_violation(w, "restart", "node %u cannot start from its durable state: %s", sn->id, err);
		return;
	}
	dcf_node_status(sn->node, &st);
	sn->minority_jumped = false;	/* a restart in minority mode jumps again */
	sn->role = st.role;
	sn->leader = st.leader_id;
	sn->term = st.term;
	sn->commit = st.commit_index;
	sn->persisted = st.persisted_index;
	sn->tick_at = 0;
	sn->started_ms = w->now;
	sim_check_restart(w, sn);
	sim_trace(w, "n%u starts: term %llu vote %u log %llu applied %llu", sn->id,
			  (unsigned long long) st.term, st.vote, (unsigned long long) sn->vlog.n,
			  (unsigned long long) sn->applied);
	schedule_tick(w, sn, w->now + w->cfg.tick_ms);
}

/*
 * Issue 15: with the crash, the node's storage loses or damages durable
 * entries — its newest few (a damaged last entry, a deleted newest segment,
 * a log truncated by a few entries) or everything from a damaged middle
 * entry on.  The storage layer finds such damage at load (the durable mark,
 * the records' durable fields), keeps the intact prefix and records the
 * repair index durably (S1), which is what is done here to the durable
 * image.  One node at a time: the same fault on a majority is beyond what
 * any protocol survives, so a node is hit only while no other node repairs.
 */
/* Do the voters of ms other than node id weigh a majority of its voters,
 * may another member lead, and is none a LOGGER? */
static bool
quorum_without(const dcf_member *members, uint32_t n, uint32_t id)
{
	uint64_t	total = 0;
	uint64_t	others = 0;
	bool		other_leader = false;

	for (uint32_t i = 0; i < n; i++)
	{
		if (members[i].node_id != id && dcf_member_may_lead(&members[i]))
			other_leader = true;
		/*
		 * A LOGGER never leads, and a repairing node fetches only from a
		 * leader: a logger and the repairing node may hold the only
		 * copies of an entry no node that may lead has (a documented
		 * limit, README "Storage faults").
		 */
		if (members[i].role == DCF_ROLE_LOGGER)
			return false;
		if (!dcf_member_is_voter(&members[i]))
			continue;
		total += members[i].weight;
		if (members[i].node_id != id)
			others += members[i].weight;
	}
	return others >= total / 2 + 1 && other_leader;
}

static sim_node *host_of(sim_world *w, uint32_t id);
static sim_node *current_leader(sim_world *w);

/*
 * Does a node waiting for its rebuild still count as one node down?  Not
 * once the leader's configuration (and the one before it, while a change is
 * in flight) no longer names it — without a leader: no node's does — it
 * was removed, the build refuses it, and it stays out unless it is added
 * again.
 */
static bool
rebuild_blocks(sim_world *w, const sim_node *sn)
{
	sim_node   *l;

	if (!sn->rebuild_pending)
		return false;
	/* the leader's configurations decide; without a leader, every node's */
	l = current_leader(w);
	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		const sim_node *h = l != NULL ? l : &w->nodes[i];
		const dcf_membership *ms;
		uint64_t	idx = 0;

		if (h != sn)
		{
			if (h->node == NULL)
			{
				if (h->drec.set && dcf_membership_find(&h->drec.ms, sn->id))
					return true;
			}
			else
			{
				ms = dcf_node_membership(h->node, &idx);
				if (dcf_membership_find(ms, sn->id) ||
					(idx > h->commit && dcf_membership_find_in(ms->prev, ms->n_prev, sn->id)))
					return true;
			}
		}
		if (l != NULL)
			break;
	}
	return false;
}

/*
 * Is there a rebuilt node whose log starts past the log end of another
 * member of its configuration?  If it leads, that member needs a build, and
 * with fewer voters (after a removal, in minority mode) nobody could build
 * it: the build needs a leader, and that member may be the one its quorum
 * lacks (two voters).  The operator shrinks nothing then.
 */
static bool
rebuild_gap(sim_world *w)
{
	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		const sim_node *a = &w->nodes[i];
		const dcf_membership *ms;

		if (a->log_first <= 1 || a->node == NULL)
			continue;
		ms = dcf_node_membership(a->node, NULL);
		for (uint32_t k = 0; k < ms->n_members; k++)
		{
			const sim_node *b = host_of(w, ms->members[k].node_id);

			if (b != NULL && b != a && b->vlog.n + 1 < a->log_first)
				return true;
		}
	}
	return false;
}

/*
 * May node sn's storage fail now?  Only when nobody else repairs, nobody
 * works in minority mode, and the other voters weigh a quorum in the
 * configuration in force and the one before it (else the one fault takes
 * a majority: a single voter, one of two).
 */
static bool
storage_fault_allowed(sim_world *w, sim_node *sn)
{
	const dcf_membership *ms;
	uint64_t	idx = 0;

	if (sn->node == NULL || w->cfg.storage_fault_permille == 0)
		return false;
	for (int i = 0; i < w->cfg.n_nodes; i++)
		if (w->nodes[i].dhs.repair_index != 0 || w->nodes[i].work_mode != DCF_WORK_MODE_NORMAL ||
			w->nodes[i].held_down || rebuild_blocks(w, &w->nodes[i]))
			return false;
	/* every configuration any node uses or falls back to (a change in
	 * flight is seen by some nodes only) */
	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		sim_node   *h = &w->nodes[i];

		if (h->node != NULL)
		{
			ms = dcf_node_membership(h->node, &idx);
			if (!quorum_without(ms->members, ms->n_members, sn->id))
				return false;
			if (ms->n_prev > 0 && !quorum_without(ms->prev, ms->n_prev, sn->id))
				return false;
		}
		if (h->drec.set && !quorum_without(h->drec.ms.members, h->drec.ms.n_members, sn->id))
			return false;
	}
	return true;
}

static void
storage_fault(sim_world *w, sim_node *sn, bool allowed)
{
	uint64_t	n = sn->dlog.n;
	uint64_t	base = sn->log_first - 1;	/* a rebuilt log starts past base */
	uint64_t	m = n > base ? n - base : 0;
	uint64_t	cut;

	if (!allowed || m == 0 || !chance(w, w->cfg.storage_fault_permille))
		return;
	if (chance(w, 500))
		cut = base + m - 1 - rnd(w, m < 3 ? m : 3);	/* keep [first, cut]: the newest 1..3 go */
	else
		cut = base + rnd(w, m);	/* a damaged middle entry cut+1 */
	if (sn->dhs.repair_index < n)
		sn->dhs.repair_index = n;
	/* the storage's bound on the lost entries' terms (the mark's term) */
	if (sn->dhs.repair_term < sn->dlog.e[n - 1].term)
		sn->dhs.repair_term = sn->dlog.e[n - 1].term;
	w->st.storage_faults++;
	w->st.storage_lost_entries += n - cut;
	sim_trace(w, "n%u STORAGE FAULT: durable entries %llu..%llu lost, repair index %llu", sn->id,
			  (unsigned long long) cut + 1, (unsigned long long) n,
			  (unsigned long long) sn->dhs.repair_index);
	sn->dlog.n = cut;
}

static void
node_crash(sim_world *w, sim_node *sn)
{
	uint32_t	n_log_ops = 0,
				n_hs_ops = 0;
	uint32_t	keep_log,
				keep_hs;
	uint32_t	log_seen = 0,
				hs_seen = 0;
	bool		lose = chance(w, w->cfg.lose_unsynced_permille);
	bool		keep = !lose && chance(w, w->cfg.keep_unsynced_permille);
	bool		fault_allowed = storage_fault_allowed(w, sn);

	w->st.crashes++;
	dcf_node_destroy(sn->node);
	sn->node = NULL;
	sn->incarnation++;
	sn->tick_gen++;
	sn->tick_at = 0;
	for (uint32_t i = 0; i < sn->n_ops; i++)
	{
		if (sn->ops[i].kind == SIM_OP_HARD_STATE)
			n_hs_ops++;
		else
			n_log_ops++;
	}
	/* which unsynced writes reached the disk */
	keep_log = lose ? 0 : keep ? n_log_ops : (uint32_t) rnd(w, n_log_ops + 1);
	keep_hs = lose ? 0 : keep ? n_hs_ops : (uint32_t) rnd(w, n_hs_ops + 1);
	for (uint32_t i = 0; i < sn->n_ops; i++)
	{
		sim_op	   *op = &sn->ops[i];

		if (op->kind == SIM_OP_HARD_STATE)
		{
			if (hs_seen++ < keep_hs)
				op_apply_durable(w, sn, op, 0);
			else
				w->st.lost_writes++;
		}
		else
		{
			/* log writes and membership records keep their order (H7) */
			if (log_seen < keep_log)
				op_apply_durable(w, sn, op, op->n);
			else if (log_seen == keep_log && !lose && !keep && op->kind == SIM_OP_APPEND && op->n > 1)
			{
				/* torn tail: the first entries of this append made it */
				uint32_t	part = (uint32_t) rnd(w, op->n);

				op_apply_durable(w, sn, op, part);
				w->st.torn_writes++;
				w->st.lost_writes++;
			}
			else
				w->st.lost_writes++;
			log_seen++;
		}
		free(op->entries);
		free(op->ms);
	}
	storage_fault(w, sn, fault_allowed);
	sim_check_durable_hard_state(w, sn);
	/*
	 * Issue 15: or its metadata (term, vote, membership) is lost or
	 * damaged.  The node refuses to start (extension/storage: "rebuild it
	 * with dcf_ctl build"); it is out until the operator's rebuild is done.
	 */
	if (fault_allowed && sn->dhs.repair_index == 0 && chance(w, w->cfg.meta_fault_permille))
	{
		sn->rebuild_pending = true;
		sn->meta_lost = true;
		w->st.meta_faults++;
		sim_trace(w, "n%u METADATA LOST: term %llu vote %u gone, out until rebuilt", sn->id,
				  (unsigned long long) sn->dhs.term, sn->dhs.vote);
	}
	sn->pending_leader_term = 0;
	sn->n_ops = 0;
	sn->hs_pending = 0;
	sn->op_seq = sn->synced_seq = 0;
	sn->sync_running = false;
	for (uint32_t i = 0; i < sn->n_held; i++)
		free(sn->held[i].bytes);
	sn->n_held = 0;
	/* the page cache is gone: what the disk holds is all there is */
	log_copy(&sn->vlog, &sn->dlog);
	cfgs_rebuild(sn);
	sn->vrec = sn->drec;
	sn->vhs = sn->dhs;
	sn->role = DCF_ROLE_UNKNOWN;
	sn->leader = 0;
	sn->commit = 0;
	sim_trace(w, "n%u CRASH (%s): durable log %llu, term %llu vote %u", sn->id,
			  lose ? "lost unsynced writes" : keep ? "kept unsynced writes" : "kept a prefix",
			  (unsigned long long) sn->dlog.n, (unsigned long long) sn->dhs.term, sn->dhs.vote);
	if (sn->rebuild_pending)
		schedule(w, w->now + rnd_range(w, w->cfg.rebuild_min_ms, w->cfg.rebuild_max_ms), SIM_EV_REBUILD,
				 sn->idx, sn->incarnation, NULL);
	else
		schedule(w, w->now + rnd_range(w, 1, w->cfg.downtime_max_ms), SIM_EV_RESTART, sn->idx,
				 sn->incarnation, NULL);
}


/* Does a voter of the leader's configuration other than p repair its log
 * (S1)?  (A node removed while it repaired may never finish: it matters no
 * more.) */
static bool
other_repairs(sim_world *w, sim_node *l, const sim_node *p)
{
	const dcf_membership *ms = dcf_node_membership(l->node, NULL);

	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		const dcf_member *m = dcf_membership_find(ms, w->nodes[i].id);

		if (&w->nodes[i] != p && w->nodes[i].dhs.repair_index != 0 && m != NULL && dcf_member_is_voter(m))
			return true;
	}
	return false;
}

/* Do the voters of the leader's configuration (and of the one before it,
 * while a change is in flight) other than p weigh a majority of it? */
static bool
others_keep_quorum(sim_world *w, sim_node *l, sim_node *p)
{
	uint64_t	idx = 0;
	const dcf_membership *ms = dcf_node_membership(l->node, &idx);

	for (int pass = 0; pass < 2; pass++)
	{
		const dcf_member *m = pass == 0 ? ms->members : ms->prev;
		uint32_t	n = pass == 0 ? ms->n_members : (idx > l->commit ? ms->n_prev : 0);
		uint64_t	total = 0,
					others = 0;

		for (uint32_t k = 0; k < n; k++)
		{
			if (!dcf_member_is_voter(&m[k]))
				continue;
			total += m[k].weight;
			if (m[k].node_id != p->id)
				others += m[k].weight;
		}
		if (n > 0 && others < total / 2 + 1)
			return false;
	}
	return true;
}

/*
 * The operator's answer to a leader that shows a follower as needs_build
 * (dcf_progress STALE: it needs entries below the leader's first index,
 * which happens only when a rebuilt node, whose log starts past its copy,
 * leads): that follower is stopped and rebuilt too.  Looked at every
 * election timeout.
 */
static void
rebuild_stale(sim_world *w)
{
	sim_node   *l;
	dcf_status	st;

	if (w->now < w->stale_check_ms)
		return;
	w->stale_check_ms = w->now + w->cfg.election_timeout_ms;
	l = current_leader(w);
	if (l == NULL || l->log_first == 1)
		return;
	/*
	 * one at a time: the others keep the leader's quorum; and not while a
	 * node repairs (it votes only for a candidate as up to date as its
	 * bound, which a leader that lost an unsynced tail may no longer be:
	 * with the STALE node down too, nobody could be elected, seed 185905)
	 */
	for (int i = 0; i < w->cfg.n_nodes; i++)
		if (rebuild_blocks(w, &w->nodes[i]))
			return;
	dcf_node_status(l->node, &st);
	for (uint32_t k = 0; k < st.n_peers; k++)
	{
		sim_node   *p = host_of(w, st.peers[k].node_id);

		/* (a node just started has not answered yet: the leader's state is old) */
		if (st.peers[k].state != DCF_PROGRESS_STALE || p == NULL || p->rebuild_pending || p->held_down ||
			p->node == NULL || w->now < p->started_ms + 3ULL * w->cfg.election_timeout_ms)
			continue;
		/*
		 * Not while the others could not keep a leader without it (the
		 * build needs one): the one-node-at-a-time conditions of storage
		 * faults.  (Two voters, one of them STALE: no build can succeed.)
		 */
		if (!others_keep_quorum(w, l, p) || other_repairs(w, l, p))
			continue;
		sim_trace(w, "n%u needs a build (leader n%u's log starts at %llu): the operator rebuilds it", p->id,
				  l->id, (unsigned long long) l->log_first);
		w->st.stale_rebuilds++;
		p->rebuild_pending = true;
		if (p->node)
			node_crash(w, p);
		else
			schedule(w, w->now + rnd_range(w, w->cfg.rebuild_min_ms, w->cfg.rebuild_max_ms), SIM_EV_REBUILD,
					 p->idx, p->incarnation, NULL);
		break;
	}
}

/*
 * dcf_ctl build (tools/ctl_build.c) from the leader, of a node whose
 * metadata was lost or that the leader shows as needs_build: a copy of the
 * leader's state machine up to its applied index F (the base backup; the
 * entries up to F are committed) and a new consensus log, empty, starting
 * at F + 1 (the host keeps the copied prefix for the checks only, the
 * reader does not expose it), applied index F, the membership in force at
 * F, and the hard state of S2 (dcf_hard_state_rebuilt: the old term and
 * vote when they could be read and are at least the leader's, else the
 * leader's term and the leader as the vote; a repair bound at the leader's
 * last index and term).  The node is started at once.  Without a leader
 * that counts the node as a member the build fails and the operator tries
 * again an election timeout later.
 */
static void
node_rebuild(sim_world *w, sim_node *sn)
{
	sim_node   *l = current_leader(w);
	uint64_t	f;
	dcf_hard_state old_hs;

	if (l == NULL || sn->held_down || dcf_membership_find(dcf_node_membership(l->node, NULL), sn->id) == NULL)
	{
		w->st.rebuild_waits++;
		sim_trace(w, "n%u cannot be rebuilt now (%s)", sn->id,
				  l == NULL ? "no leader" : sn->held_down ? "held down" : "not a member of the leader's configuration");
		schedule(w, w->now + w->cfg.election_timeout_ms, SIM_EV_REBUILD, sn->idx, sn->incarnation, NULL);
		return;
	}
	old_hs = sn->dhs;
	f = l->applied;
	log_reserve(&sn->dlog, f);
	if (f)
		memcpy(sn->dlog.e, l->vlog.e, sizeof(sim_entry) * f);
	sn->dlog.n = f;
	sn->log_first = f + 1;
	/* S2: the leader's term, the leader as the vote, a repair bound at its log's end */
	dcf_hard_state_rebuilt(&sn->dhs, sn->meta_lost ? NULL : &old_hs, f ? l->vlog.e[f - 1].term : 0, l->id, l->term,
						   l->vlog.n);
	sn->meta_lost = false;
	sn->rebuild_term = sn->dhs.term;
	sn->rebuild_vote = sn->dhs.vote;
	/*
	 * The membership in force at the copy's last index f: the last CONFIG
	 * entry up to f (committed), at its index; later ones come with the log.
	 * (Not the leader's newest configuration: a change in flight past f may
	 * be rolled back, and the rebuilt node, which never holds that entry,
	 * would keep it in force.)
	 */
	memset(&sn->drec, 0, sizeof(sn->drec));
	for (uint64_t i = f; i > 0; i--)
		if (l->vlog.e[i - 1].type == DCF_ENTRY_CONFIG)
		{
			char		derr[DCF_ERRMSG_MAX];

			if (dcf_membership_decode(l->vlog.e[i - 1].payload, l->vlog.e[i - 1].len, &sn->drec.ms, derr) != DCF_OK)
				sim_violation(w, "codec", "CONFIG entry %llu of node %u does not decode: %s",
							  (unsigned long long) i, l->id, derr);
			sn->drec.set = true;
			sn->drec.index = i;
			break;
		}
	sn->applied = f;
	sn->max_written = f;
	log_copy(&sn->vlog, &sn->dlog);
	cfgs_rebuild(sn);
	sn->vrec = sn->drec;
	sn->vhs = sn->dhs;
	/* a new life: what it sent before is not its new metadata's to cover */
	sn->max_sent_term = 0;
	sn->rebuild_pending = false;
	sn->rebuilt_start = true;
	w->st.rebuilds++;
	sim_trace(w, "n%u REBUILT from leader n%u (term %llu): log starts at %llu, term %llu vote %u repair %llu/%llu, membership at %llu",
			  sn->id, l->id, (unsigned long long) l->term, (unsigned long long) sn->log_first,
			  (unsigned long long) sn->dhs.term, sn->dhs.vote, (unsigned long long) sn->dhs.repair_index,
			  (unsigned long long) sn->dhs.repair_term, (unsigned long long) sn->drec.index);
	w->st.restarts++;
	node_start(w, sn);
}

/* ---- faults and clients ---- */

static sim_node *
current_leader(sim_world *w)
{
	sim_node   *leader = NULL;

	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		sim_node   *sn = &w->nodes[i];

		if (sn->node && sn->role == DCF_ROLE_LEADER && (leader == NULL || sn->term > leader->term))
			leader = sn;
	}
	return leader;
}

static void
fault(sim_world *w)
{
	const sim_config *c = &w->cfg;
	uint32_t	total = c->crash_weight + c->crash_leader_weight + c->isolate_leader_weight +
		c->partition_weight + c->heal_weight;
	uint64_t	r = rnd(w, total ? total : 1);
	int			n = c->n_nodes;

	if (total == 0)
		return;
	if (r < c->crash_weight)
	{
		sim_node   *sn = &w->nodes[rnd(w, (uint64_t) n)];

		if (sn->node)
			node_crash(w, sn);
		return;
	}
	r -= c->crash_weight;
	if (r < c->crash_leader_weight)
	{
		sim_node   *sn = current_leader(w);

		if (sn)
		{
			w->st.leader_crashes++;
			node_crash(w, sn);
		}
		return;
	}
	r -= c->crash_leader_weight;
	if (r < c->isolate_leader_weight)
	{
		sim_node   *sn = current_leader(w);

		if (sn && n > 1)
		{
			w->st.partitions++;
			memset(w->blocked, 0, sizeof(w->blocked));
			for (int j = 0; j < n; j++)
				w->blocked[sn->idx][j] = w->blocked[j][sn->idx] = j != sn->idx;
			sim_trace(w, "PARTITION isolate the leader n%u", sn->id);
		}
		return;
	}
	r -= c->isolate_leader_weight;
	if (r < c->partition_weight && n > 1)
	{
		uint64_t	kind = rnd(w, 4);

		w->st.partitions++;
		memset(w->blocked, 0, sizeof(w->blocked));
		if (kind == 0)
		{
			/* symmetric split into two sides */
			bool		side[SIM_NODES_MAX];

			for (int i = 0; i < n; i++)
				side[i] = rnd(w, 2);
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++)
					w->blocked[i][j] = side[i] != side[j];
			sim_trace(w, "PARTITION symmetric split");
		}
		else if (kind == 1)
		{
			/* isolate one node */
			int			x = (int) rnd(w, (uint64_t) n);

			for (int j = 0; j < n; j++)
				w->blocked[x][j] = w->blocked[j][x] = j != x;
			sim_trace(w, "PARTITION isolate n%d", x + 1);
		}
		else if (kind == 2)
		{
			/* asymmetric: one node hears nobody, or nobody hears it */
			int			x = (int) rnd(w, (uint64_t) n);
			bool		deaf = rnd(w, 2);

			for (int j = 0; j < n; j++)
				if (j != x)
				{
					if (deaf)
						w->blocked[j][x] = true;
					else
						w->blocked[x][j] = true;
				}
			sim_trace(w, "PARTITION asymmetric: n%d %s", x + 1, deaf ? "hears nobody" : "is heard by nobody");
		}
		else
		{
			/* random one-way links */
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++)
					w->blocked[i][j] = i != j && rnd(w, 3) == 0;
			sim_trace(w, "PARTITION random one-way links");
		}
	}
	else
	{
		memset(w->blocked, 0, sizeof(w->blocked));
		sim_trace(w, "HEAL network");
	}
}

static void
propose(sim_world *w)
{
	sim_node   *leader = NULL;
	dcf_proposal items[8];
	uint8_t		buf[8][2048 + 8];
	uint32_t	k;
	dcf_event	ev;

	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		sim_node   *sn = &w->nodes[i];

		if (sn->node && sn->role == DCF_ROLE_LEADER && (leader == NULL || sn->term > leader->term))
			leader = sn;
	}
	if (leader == NULL)
		return;
	if (w->healing && w->episode.phase != SIM_EPISODE_NONE)
		return;					/* the operator waits for the lost nodes to catch up */
	if (w->healing)
	{
		/* one liveness marker at a time, again if its leader lost office */
		if (w->marker_sent_ms != 0 && leader->id == w->marker_leader &&
			w->now < w->marker_sent_ms + 10ULL * w->cfg.election_timeout_ms)
			return;
		w->marker_sent_ms = w->now;
		w->marker_leader = leader->id;
		k = 1;
	}
	else
	{
		/* back-pressure: a client waits while much is uncommitted (sync rep) */
		if (leader->vlog.n > leader->commit + w->cfg.backlog_max)
			return;
		k = 1 + (uint32_t) rnd(w, w->cfg.propose_batch_max);
	}
	for (uint32_t i = 0; i < k; i++)
	{
		uint64_t	id = ++w->proposal_id;
		uint32_t	extra = (uint32_t) rnd(w, (uint64_t) w->cfg.payload_max_bytes + 1);

		if (extra > 2048)
			extra = 2048;
		memcpy(buf[i], &id, 8);
		for (uint32_t b = 0; b < extra; b++)
			buf[i][8 + b] = (uint8_t) rnd(w, 256);
		items[i].type = (uint8_t) (DCF_ENTRY_APP_MIN + rnd(w, 3));
		items[i].key = ++w->key_counter;
		items[i].payload = buf[i];
		items[i].len = 8 + extra;
	}
	w->st.proposals += k;
	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_PROPOSE;
	ev.now_ms = w->now;
	ev.u.propose.items = items;
	ev.u.propose.n_items = k;
	sim_trace(w, "client proposes %u entries to n%u", k, leader->id);
	step_node(w, leader, &ev);
}

/* ---- admin events: the operator ---- */

static sim_node *
host_of(sim_world *w, uint32_t id)
{
	return id >= 1 && id <= (uint32_t) w->cfg.n_nodes ? &w->nodes[id - 1] : NULL;
}

/* Steps an admin request at a live node; true if accepted (counted when `count`). */
static bool
admin_step(sim_world *w, sim_node *sn, const dcf_admin_request *req, bool count)
{
	dcf_event	ev;

	if (sn == NULL || sn->node == NULL || w->violated)
		return false;
	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_ADMIN;
	ev.now_ms = w->now;
	ev.u.admin = *req;
	sim_trace(w, "ADMIN n%u: %s node %u value %u", sn->id, dcf_admin_kind_name(req->kind),
			  req->kind == DCF_ADMIN_ADD_MEMBER ? req->member.node_id : req->node_id, req->value);
	w->last_step_rc = DCF_ERR_STATE;
	step_node(w, sn, &ev);
	if (w->last_step_rc != DCF_OK)
		return false;
	if (count)
		w->st.admin_ok[req->kind]++;
	return true;
}

static bool
admin_simple(sim_world *w, sim_node *sn, dcf_admin_kind kind, uint32_t node_id, uint32_t value, bool count)
{
	dcf_admin_request req;

	memset(&req, 0, sizeof(req));
	req.kind = kind;
	req.node_id = node_id;
	req.value = value;
	return admin_step(w, sn, &req, count);
}

/* A random member of ms, or NULL. */
static const dcf_member *
pick_member(sim_world *w, const dcf_membership *ms)
{
	return ms->n_members ? &ms->members[rnd(w, ms->n_members)] : NULL;
}

static dcf_role
pick_role(sim_world *w)
{
	static const dcf_role roles[] = {DCF_ROLE_FOLLOWER, DCF_ROLE_FOLLOWER, DCF_ROLE_FOLLOWER, DCF_ROLE_LEADER,
	DCF_ROLE_LOGGER, DCF_ROLE_PASSIVE, DCF_ROLE_PASSIVE};

	return roles[rnd(w, sizeof(roles) / sizeof(roles[0]))];
}

/* Is this host one of the lost nodes of the current minority episode? */
static bool
episode_lost(sim_world *w, const sim_node *sn)
{
	return w->episode.phase != SIM_EPISODE_NONE && ((w->episode.lost >> sn->idx) & 1);
}

static uint64_t
max_term_anywhere(sim_world *w)
{
	uint64_t	t = 0;

	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		if (w->nodes[i].term > t)
			t = w->nodes[i].term;
		if (w->nodes[i].dhs.term > t)
			t = w->nodes[i].dhs.term;
		if (w->nodes[i].vhs.term > t)
			t = w->nodes[i].vhs.term;
	}
	return t;
}

static void node_crash(sim_world *w, sim_node *sn);

/*
 * A minority episode begins (README.md's procedure): a leader with its
 * configuration committed and no change in flight; the survivors S are a
 * random set of live voters of that configuration that hold the last
 * committed entry durably and use the same configuration; every other
 * voter is lost (crashed and held down).  S switch to minority with a
 * vote_num between a majority of their weight and all of it.
 */
static bool
episode_start(sim_world *w)
{
	sim_node   *l = current_leader(w);
	const dcf_membership *ms;
	uint64_t	cfg_index;
	dcf_status	st;
	uint32_t	s_mask = 0,
				v_mask = 0;
	uint64_t	ws = 0,
				wv = 0;
	bool		s_may_lead = false;
	sim_episode *e = &w->episode;

	if (l == NULL || l->work_mode != DCF_WORK_MODE_NORMAL)
		return false;
	dcf_node_status(l->node, &st);
	ms = dcf_node_membership(l->node, &cfg_index);
	if (st.change.phase != DCF_CHANGE_NONE || cfg_index > st.commit_index)
		return false;
	memset(e, 0, sizeof(*e));
	for (uint32_t k = 0; k < ms->n_members; k++)
	{
		const dcf_member *m = &ms->members[k];
		sim_node   *h = host_of(w, m->node_id);
		uint64_t	hidx = 0;

		if (!dcf_member_is_voter(m) || h == NULL)
			continue;
		v_mask |= 1u << h->idx;
		wv += m->weight;
		e->weight[h->idx] = m->weight;
		if (h->node)
			dcf_node_membership(h->node, &hidx);
		if (h->node && hidx == cfg_index && sim_holds(w, &h->dlog, w->oracle_n) && rnd(w, 2) == 0)
		{
			s_mask |= 1u << h->idx;
			ws += m->weight;
			s_may_lead |= dcf_member_may_lead(m);
		}
	}
	if (s_mask == 0 || !s_may_lead)
		return false;
	/*
	 * The most up-to-date log among the survivors must be on one that may
	 * lead: a LOGGER ahead of every survivor that may lead would refuse
	 * them all its vote (README.md, the operator's choice of survivors).
	 */
	{
		uint64_t	best_t = 0,
					best_i = 0;
		bool		best_leads = false;

		for (uint32_t k = 0; k < ms->n_members; k++)
		{
			const dcf_member *m = &ms->members[k];
			sim_node   *h = host_of(w, m->node_id);
			uint64_t	t,
						i;

			if (h == NULL || !((s_mask >> h->idx) & 1))
				continue;
			t = sim_log_last_term(&h->vlog);
			i = h->vlog.n;
			if (t > best_t || (t == best_t && i > best_i))
			{
				best_t = t;
				best_i = i;
				best_leads = dcf_member_may_lead(m);
			}
			else if (t == best_t && i == best_i)
				best_leads |= dcf_member_may_lead(m);
		}
		if (!best_leads)
			return false;
	}
	e->phase = SIM_EPISODE_MINORITY;
	e->survivors = s_mask;
	e->lost = v_mask & ~s_mask;
	e->voter_mask = v_mask;
	e->voters = wv;
	e->vote_num = (uint32_t) rnd_range(w, ws / 2 + 1, ws);
	e->t0 = max_term_anywhere(w);
	sim_trace(w, "MINORITY EPISODE: survivors 0x%x (weight %llu), lost 0x%x, vote_num %u, t0 %llu", s_mask,
			  (unsigned long long) ws, e->lost, e->vote_num, (unsigned long long) e->t0);
	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		sim_node   *h = &w->nodes[i];

		if ((e->lost >> i) & 1)
		{
			h->held_down = true;
			if (h->node)
				node_crash(w, h);
		}
	}
	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		sim_node   *h = &w->nodes[i];
		dcf_admin_request req;

		if (!((s_mask >> i) & 1))
			continue;
		h->work_mode = DCF_WORK_MODE_MINORITY;
		h->vote_num = e->vote_num;
		h->minority_jumped = false;
		memset(&req, 0, sizeof(req));
		req.kind = DCF_ADMIN_SET_WORK_MODE;
		req.value = DCF_WORK_MODE_MINORITY;
		req.vote_num = e->vote_num;
		if (h->node && !admin_step(w, h, &req, true) && !w->violated)
			sim_violation(w, "admin", "node %u refused minority mode with vote_num %u", h->id, e->vote_num);
	}
	return true;
}

/* The lost nodes come back, in run_mode 2 so that they cannot elect among themselves. */
static void
episode_return(sim_world *w)
{
	sim_episode *e = &w->episode;

	e->phase = SIM_EPISODE_RETURNING;
	sim_trace(w, "MINORITY EPISODE: the lost nodes 0x%x come back in run_mode 2", e->lost);
	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		sim_node   *h = &w->nodes[i];

		if (!((e->lost >> i) & 1))
			continue;
		h->held_down = false;
		h->saved_run_mode = h->run_mode;
		h->run_mode = DCF_RUN_MODE_NONE;
		if (h->node)
			admin_simple(w, h, DCF_ADMIN_SET_RUN_MODE, 0, DCF_RUN_MODE_NONE, false);
		else
			schedule(w, w->now + 1, SIM_EV_RESTART, h->idx, h->incarnation, NULL);
	}
}

/*
 * Once a normal majority of the voters holds the last committed entry
 * durably, the survivors switch back to normal (all in one event) and the
 * lost nodes get their run mode back.
 */
static void
episode_maybe_end(sim_world *w)
{
	sim_episode *e = &w->episode;
	uint64_t	have = 0;

	uint64_t	s_last_term = 0;

	if (e->phase != SIM_EPISODE_RETURNING)
		return;
	for (int i = 0; i < w->cfg.n_nodes; i++)
		if (((e->voter_mask >> i) & 1) && sim_holds(w, &w->nodes[i].dlog, w->oracle_n))
			have += e->weight[i];
	if (have < e->voters / 2 + 1)
		return;
	/*
	 * ... and every lost node has durably adopted a term at least the last
	 * log term of every survivor (it heard from the minority leader): else,
	 * back in normal mode, the lost nodes could elect and commit at their
	 * old terms, below a survivor's uncommitted entries of a jumped term,
	 * and that survivor could then win with a "more up-to-date" log and
	 * truncate what they committed.  (The simulator found it, seed 708.)
	 */
	for (int i = 0; i < w->cfg.n_nodes; i++)
		if (((e->survivors >> i) & 1) && sim_log_last_term(&w->nodes[i].vlog) > s_last_term)
			s_last_term = sim_log_last_term(&w->nodes[i].vlog);
	for (int i = 0; i < w->cfg.n_nodes; i++)
		if (((e->lost >> i) & 1) && (w->nodes[i].node == NULL || w->nodes[i].dhs.term < s_last_term))
			return;
	/*
	 * ... and every voter, survivors included, has durably taken the
	 * highest term of any survivor: a survivor whose weight alone is
	 * vote_num elects itself at a jumped term the others may never hear
	 * of; in a later episode one of them, jumping from its older term,
	 * could land on that very term and lead it a second time.  (The
	 * simulator found it, seed 191600.)
	 */
	s_last_term = 0;
	for (int i = 0; i < w->cfg.n_nodes; i++)
		if (((e->survivors >> i) & 1) && w->nodes[i].dhs.term > s_last_term)
			s_last_term = w->nodes[i].dhs.term;
	for (int i = 0; i < w->cfg.n_nodes; i++)
		if (((e->voter_mask >> i) & 1) && (w->nodes[i].node == NULL || w->nodes[i].dhs.term < s_last_term))
			return;
	sim_trace(w, "MINORITY EPISODE ends: voters of weight %llu of %llu hold entry %llu; back to normal",
			  (unsigned long long) have, (unsigned long long) e->voters, (unsigned long long) w->oracle_n);
	e->phase = SIM_EPISODE_NONE;
	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		sim_node   *h = &w->nodes[i];

		if ((e->survivors >> i) & 1)
		{
			h->work_mode = DCF_WORK_MODE_NORMAL;
			h->vote_num = 0;
			if (h->node && !admin_simple(w, h, DCF_ADMIN_SET_WORK_MODE, 0, DCF_WORK_MODE_NORMAL, true) &&
				!w->violated)
				sim_violation(w, "admin", "node %u refused to go back to normal mode", h->id);
		}
		if ((e->lost >> i) & 1)
		{
			h->run_mode = h->saved_run_mode;
			if (h->node)
				admin_simple(w, h, DCF_ADMIN_SET_RUN_MODE, 0, h->run_mode, false);
		}
	}
	w->st.minority_episodes++;
}

/* One admin event, its kind drawn by the seed's weights. */
static void
admin(sim_world *w)
{
	const sim_config *c = &w->cfg;
	uint32_t	total = 0;
	uint64_t	r;
	dcf_admin_kind kind = DCF_ADMIN_ADD_MEMBER;
	sim_node   *l = current_leader(w);
	const dcf_membership *ms = l ? dcf_node_membership(l->node, NULL) : NULL;
	sim_node   *any = &w->nodes[rnd(w, (uint64_t) c->n_nodes)];
	dcf_admin_request req;
	const dcf_member *m;

	for (int k = 1; k <= DCF_ADMIN_KIND_MAX; k++)
		total += c->admin_weight[k];
	if (total == 0)
		return;
	r = rnd(w, total);
	for (int k = 1; k <= DCF_ADMIN_KIND_MAX; k++)
	{
		if (r < c->admin_weight[k])
		{
			kind = (dcf_admin_kind) k;
			break;
		}
		r -= c->admin_weight[k];
	}
	memset(&req, 0, sizeof(req));
	req.kind = kind;
	/*
	 * Issue 15: while a node repairs its log, no voter is removed or
	 * demoted and no minority episode starts: with fewer voters its one
	 * storage fault could become a majority's (one of two voters), which
	 * no protocol survives (see storage_fault_allowed).
	 */
	if (kind == DCF_ADMIN_REMOVE_MEMBER || kind == DCF_ADMIN_CHANGE_ROLE ||
		(kind == DCF_ADMIN_SET_WORK_MODE && w->episode.phase == SIM_EPISODE_NONE))
	{
		for (int i = 0; i < c->n_nodes; i++)
			if (w->nodes[i].dhs.repair_index != 0 || rebuild_blocks(w, &w->nodes[i]))
				return;
		if (rebuild_gap(w))
			return;
	}
	switch (kind)
	{
		case DCF_ADMIN_ADD_MEMBER:
			{
				uint32_t	spare[SIM_NODES_MAX];
				int			n = 0;

				if (l == NULL)
					return;
				for (int i = 0; i < c->n_nodes; i++)
					if (dcf_membership_find(ms, w->nodes[i].id) == NULL)
						spare[n++] = w->nodes[i].id;
				if (n == 0)
					return;
				dcf_member_init(&req.member, spare[rnd(w, (uint64_t) n)], pick_role(w));
				snprintf(req.member.ip, DCF_MEMBER_IP_MAX, "10.0.0.%u", req.member.node_id);
				req.member.port = 17783;
				req.member.weight = 1 + (uint32_t) rnd(w, c->max_weight);
				req.member.group = (uint32_t) rnd(w, c->n_groups);
				req.member.priority = (uint32_t) rnd(w, (uint64_t) c->max_priority + 1);
				admin_step(w, l, &req, true);
			}
			return;
		case DCF_ADMIN_REMOVE_MEMBER:
		case DCF_ADMIN_CHANGE_ROLE:
		case DCF_ADMIN_CHANGE_PRIORITY:
		case DCF_ADMIN_CHANGE_GROUP:
			if (l == NULL || (m = pick_member(w, ms)) == NULL)
				return;
			/* keep a few members: removing is drawn only above three */
			if (kind == DCF_ADMIN_REMOVE_MEMBER && ms->n_members <= 2)
				return;
			req.node_id = m->node_id;
			if (kind == DCF_ADMIN_CHANGE_ROLE)
				req.value = pick_role(w);
			else if (kind == DCF_ADMIN_CHANGE_PRIORITY)
				req.value = (uint32_t) rnd(w, (uint64_t) c->max_priority + 1);
			else if (kind == DCF_ADMIN_CHANGE_GROUP)
				req.value = (uint32_t) rnd(w, c->n_groups);
			admin_step(w, l, &req, true);
			return;
		case DCF_ADMIN_TRANSFER_LEADER:
			if (l == NULL || (m = pick_member(w, ms)) == NULL)
				return;
			req.node_id = m->node_id;
			req.value = rnd(w, 3) == 0 ? 0 : (uint32_t) rnd_range(w, c->election_timeout_ms, 4ULL * c->election_timeout_ms);
			admin_step(w, l, &req, true);
			return;
		case DCF_ADMIN_SET_WORK_MODE:
			if (w->episode.phase == SIM_EPISODE_NONE)
				episode_start(w);
			else if (w->episode.phase == SIM_EPISODE_MINORITY)
				episode_return(w);
			else
				episode_maybe_end(w);	/* when the lost nodes have caught up */
			return;
		case DCF_ADMIN_SET_RUN_MODE:
			/* the lost nodes of an episode keep run_mode 2 until it ends */
			if (any->node == NULL || episode_lost(w, any))
				return;
			req.value = any->run_mode == DCF_RUN_MODE_AUTO ? DCF_RUN_MODE_NONE : DCF_RUN_MODE_AUTO;
			if (admin_step(w, any, &req, true))
				any->run_mode = (dcf_run_mode) req.value;
			return;
		case DCF_ADMIN_PROMOTE:
			if (any->node == NULL || episode_lost(w, any))
				return;
			admin_step(w, any, &req, true);
			return;
		case DCF_ADMIN_SET_PRIORITY_ELECTION:
			if (any->node == NULL)
				return;
			req.value = any->priority_election ? 0 : 1;
			if (admin_step(w, any, &req, true))
				any->priority_election = req.value == 1;
			return;
	}
}

/* ---- the world ---- */

static void
panic_hook(const char *file, int line, const char *msg)
{
	sim_world  *w = panic_world;

	if (w == NULL || w->panic_jmp == NULL)
	{
		fprintf(stderr, "dcf PANIC at %s:%d: %s\n", file, line, msg);
		abort();
	}
	sim_violation(w, "core assertion", "%s:%d: %s", file, line, msg);
	longjmp(*w->panic_jmp, 1);
}

void
sim_world_init(sim_world *w, uint64_t seed, const sim_config *cfg, uint64_t events,
			   bool trace, const char *argv0)
{
	memset(w, 0, sizeof(*w));
	w->seed = seed;
	w->cfg = *cfg;
	w->events_target = events;
	w->trace = trace;
	w->argv0 = argv0;
	dcf_prng_seed(&w->rng, seed ^ 0x5eed5eed5eedULL);
	for (int i = 0; i < cfg->n_nodes; i++)
	{
		sim_node   *sn = &w->nodes[i];

		sn->id = cfg->ms.members[i].node_id;
		sn->idx = i;
		sn->log_first = 1;
		sn->reader.ctx = sn;
		sn->reader.first_index = rd_first;
		sn->reader.last_index = rd_last;
		sn->reader.term = rd_term;
		sn->reader.entries = rd_entries;
		sn->run_mode = DCF_RUN_MODE_AUTO;
		sn->work_mode = DCF_WORK_MODE_NORMAL;
		sn->priority_election = cfg->priority_election;
	}
	sim_check_reset(w);
}

/*
 * Liveness: a marker applied on every member of the leader's configuration
 * (hosts outside it — spares, removed nodes — do not count).
 */
static bool
liveness_reached(sim_world *w)
{
	sim_node   *l = current_leader(w);
	const dcf_membership *ms;

	if (w->marker_index == 0 || l == NULL || w->episode.phase != SIM_EPISODE_NONE)
		return false;
	ms = dcf_node_membership(l->node, NULL);
	for (uint32_t k = 0; k < ms->n_members; k++)
	{
		sim_node   *sn = host_of(w, ms->members[k].node_id);

		if (sn == NULL || sn->node == NULL || sn->applied < w->marker_index)
			return false;
	}
	return true;
}

/*
 * Priority election, once healed: the leader has the highest priority of
 * the members that may lead (every node is up and reachable by then).
 */
static bool
priority_settled(sim_world *w)
{
	sim_node   *l = current_leader(w);
	const dcf_membership *ms;
	const dcf_member *me;

	if (!w->cfg.priority_election)
		return true;
	if (l == NULL)
		return false;
	ms = dcf_node_membership(l->node, NULL);
	me = dcf_membership_find(ms, l->id);
	if (me == NULL)
		return false;
	for (uint32_t k = 0; k < ms->n_members; k++)
		if (dcf_member_may_lead(&ms->members[k]) && ms->members[k].priority > me->priority)
			return false;
	return true;
}

static void
start_healing(sim_world *w)
{
	w->healing = true;
	memset(w->blocked, 0, sizeof(w->blocked));
	w->heal_first_marker = w->proposal_id + 1;
	w->last_progress_ms = w->now;
	sim_trace(w, "HEALING: network repaired, every node restarts, faults stop");
	/* the operator finishes a minority episode and restores the settings */
	if (w->episode.phase == SIM_EPISODE_MINORITY)
		episode_return(w);
	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		sim_node   *sn = &w->nodes[i];

		if (episode_lost(w, sn))
			sn->saved_run_mode = DCF_RUN_MODE_AUTO;
		else if (sn->run_mode != DCF_RUN_MODE_AUTO)
		{
			sn->run_mode = DCF_RUN_MODE_AUTO;
			admin_simple(w, sn, DCF_ADMIN_SET_RUN_MODE, 0, DCF_RUN_MODE_AUTO, false);
		}
		if (sn->priority_election != w->cfg.priority_election)
		{
			sn->priority_election = w->cfg.priority_election;
			admin_simple(w, sn, DCF_ADMIN_SET_PRIORITY_ELECTION, 0, sn->priority_election, false);
		}
	}
	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		sim_node   *sn = &w->nodes[i];

		if (sn->node == NULL)
			schedule(w, w->now, SIM_EV_RESTART, i, sn->incarnation, NULL);
	}
}

void
sim_world_run(sim_world *w)
{
	jmp_buf		jb;
	volatile uint64_t heal_start = 0;
	uint64_t	stall_ms = 30ULL * w->cfg.election_timeout_ms +
		10ULL * (w->cfg.net_delay_max_ms + w->cfg.sync_max_ms + w->cfg.tick_ms);
	volatile uint64_t heal_max_ms = 0;
	volatile uint64_t heal_max_events = 0;

	panic_world = w;
	w->panic_jmp = &jb;
	dcf_set_panic_hook(panic_hook);
	if (setjmp(jb) != 0)
	{
		/* a core assertion fired: the world is abandoned (and leaks) */
		w->panic_jmp = NULL;
		return;
	}
	for (int i = 0; i < w->cfg.n_nodes; i++)
		schedule(w, 0, SIM_EV_RESTART, i, 0, NULL);
	schedule(w, rnd(w, w->cfg.fault_interval_ms * 2), SIM_EV_FAULT, -1, 0, NULL);
	schedule(w, rnd(w, w->cfg.propose_interval_ms * 2), SIM_EV_PROPOSE, -1, 0, NULL);
	if (w->cfg.admin_interval_ms)
		schedule(w, rnd(w, w->cfg.admin_interval_ms * 2), SIM_EV_ADMIN, -1, 0, NULL);

	while (!w->violated)
	{
		sim_event	ev;
		sim_node   *sn;
		bool		counted = true;

		if (!w->healing && w->events_done >= w->events_target)
		{
			uint64_t	longest = 0,
						lag = 0;

			start_healing(w);
			heal_start = w->now;
			/* catching up is paced by the backlog: scale the hard bounds */
			for (int i = 0; i < w->cfg.n_nodes; i++)
				if (w->nodes[i].vlog.n > longest)
					longest = w->nodes[i].vlog.n;
			for (int i = 0; i < w->cfg.n_nodes; i++)
				if (longest - w->nodes[i].applied > lag)
					lag = longest - w->nodes[i].applied;
			heal_max_ms = 3000ULL * w->cfg.election_timeout_ms +
				lag * 4ULL * (w->cfg.net_delay_max_ms + w->cfg.sync_max_ms + w->cfg.tick_ms);
			heal_max_events = 20 * w->events_target + 100000 + 50 * lag;
		}
		if (w->healing)
		{
			if (w->priority_deadline_ms == 0 && liveness_reached(w))
			{
				/* then priority election must settle within a few rounds of checks */
				w->priority_deadline_ms = w->now + 20ULL * (w->cfg.priority_interval_ms + w->cfg.transfer_timeout_ms) +
					20ULL * w->cfg.election_timeout_ms;
			}
			if (w->priority_deadline_ms != 0)
			{
				if (priority_settled(w))
					break;
				if (w->now > w->priority_deadline_ms)
				{
					sim_node   *l = current_leader(w);

					sim_violation(w, "priority election",
								  "healed for %llu ms, the leader (node %u) still has a lower priority than a member that may lead",
								  (unsigned long long) (w->now - heal_start), l ? l->id : 0);
					break;
				}
			}
			/*
			 * Liveness: after healing, something must move (a commit, a
			 * lagging node extending its log or applying) at least every
			 * stall bound — a few election rounds — and everything must be
			 * done within hard bounds that grow with the backlog; catching
			 * up a long log at one entry per round trip may take long, but
			 * never stop.
			 */
			if (w->priority_deadline_ms == 0 &&
				(w->now > w->last_progress_ms + stall_ms || w->now > heal_start + heal_max_ms ||
				 w->st.liveness_events > heal_max_events))
			{
				w->st.liveness_failures++;
				if (w->trace)
				{
					sim_node   *l = current_leader(w);

					if (l != NULL)
					{
						dcf_status	lst;

						dcf_node_status(l->node, &lst);
						for (uint32_t k = 0; k < lst.n_peers; k++)
							sim_trace(w, "leader n%u: peer n%u %s next %llu match %llu", l->id, lst.peers[k].node_id,
									  dcf_progress_state_name(lst.peers[k].state),
									  (unsigned long long) lst.peers[k].next_index,
									  (unsigned long long) lst.peers[k].match_index);
					}
					for (int i = 0; i < w->cfg.n_nodes; i++)
						sim_trace(w, "n%u: up %d, role %s, term %llu, log %llu..%llu, applied %llu, rebuild pending %d, member of the leader's configuration %d",
								  w->nodes[i].id, w->nodes[i].node != NULL, dcf_role_name(w->nodes[i].role),
								  (unsigned long long) w->nodes[i].term, (unsigned long long) w->nodes[i].log_first,
								  (unsigned long long) w->nodes[i].vlog.n, (unsigned long long) w->nodes[i].applied,
								  w->nodes[i].rebuild_pending,
								  l != NULL && dcf_membership_find(dcf_node_membership(l->node, NULL), w->nodes[i].id) != NULL);
				}
				sim_violation(w, "liveness",
							  "%llu ms after healing, no marker applied on every node (nothing moved for %llu ms; marker index %llu)",
							  (unsigned long long) (w->now - heal_start),
							  (unsigned long long) (w->now - w->last_progress_ms),
							  (unsigned long long) w->marker_index);
				break;
			}
		}
		if (w->n_heap == 0)
		{
			sim_violation(w, "liveness", "the event queue ran dry");
			break;
		}
		ev = ev_pop(w);
		if (ev.at_ms > w->now)
			w->now = ev.at_ms;
		sn = ev.node >= 0 ? &w->nodes[ev.node] : NULL;
		switch (ev.kind)
		{
			case SIM_EV_DELIVER:
				{
					sim_packet *p = ev.pkt;
					dcf_msg		m;
					static dcf_entry ents[DCF_MSG_ENTRIES_MAX];
					char		err[DCF_ERRMSG_MAX];

					if (sn->node == NULL || w->blocked[p->from - 1][p->to - 1])
					{
						w->st.msgs_dropped++;
						free(p);
						break;
					}
					if (dcf_msg_decode(p->bytes, p->len, &m, ents, DCF_MSG_ENTRIES_MAX, err) != DCF_OK)
					{
						sim_violation(w, "codec", "a message to node %u does not decode: %s", p->to, err);
						free(p);
						break;
					}
					{
						dcf_event	de;

						memset(&de, 0, sizeof(de));
						de.type = DCF_EVENT_MESSAGE;
						de.now_ms = w->now;
						de.u.message = &m;
						if (w->trace)
							sim_trace(w, "n%u <- n%u %s term %llu index %llu n %u", p->to, p->from,
									  dcf_msg_type_name(m.type), (unsigned long long) m.term,
									  (unsigned long long) m.index, m.n_entries);
						step_node(w, sn, &de);
					}
					free(p);
				}
				break;
			case SIM_EV_TICK:
				if (sn->node == NULL || ev.gen != sn->tick_gen)
				{
					counted = false;	/* superseded timer */
					break;
				}
				sn->tick_at = 0;
				{
					dcf_event	te;

					memset(&te, 0, sizeof(te));
					te.type = DCF_EVENT_TICK;
					te.now_ms = w->now;
					step_node(w, sn, &te);
				}
				break;
			case SIM_EV_SYNC:
				if (sn->node == NULL || ev.gen != sn->incarnation)
				{
					counted = false;
					break;
				}
				sync_done(w, sn);
				break;
			case SIM_EV_RESTART:
				if (sn->node != NULL || ev.gen != sn->incarnation || sn->held_down || sn->rebuild_pending)
				{
					counted = false;
					break;
				}
				if (sn->incarnation > 0)
					w->st.restarts++;
				node_start(w, sn);
				break;
			case SIM_EV_REBUILD:
				if (sn->node != NULL || ev.gen != sn->incarnation || !sn->rebuild_pending)
				{
					counted = false;
					break;
				}
				node_rebuild(w, sn);
				break;
			case SIM_EV_FAULT:
				if (w->healing)
				{
					counted = false;
					break;
				}
				fault(w);
				schedule(w, w->now + 1 + rnd(w, w->cfg.fault_interval_ms * 2), SIM_EV_FAULT, -1, 0, NULL);
				break;
			case SIM_EV_ADMIN:
				if (w->healing)
				{
					counted = false;
					break;
				}
				admin(w);
				schedule(w, w->now + 1 + rnd(w, w->cfg.admin_interval_ms * 2), SIM_EV_ADMIN, -1, 0, NULL);
				break;
			case SIM_EV_PROPOSE:
				propose(w);
				schedule(w, w->now + 1 + rnd(w, (w->healing ? w->cfg.election_timeout_ms / 2 :
												 w->cfg.propose_interval_ms) * 2),
						 SIM_EV_PROPOSE, -1, 0, NULL);
				break;
		}
		if (counted)
		{
			if (w->healing)
				w->st.liveness_events++;
			else
				w->events_done++;
			if (!w->violated)
				sim_check_global(w);
			if (!w->violated && w->healing)
				episode_maybe_end(w);	/* otherwise an admin event ends it */
			if (!w->violated)
				rebuild_stale(w);
		}
	}
	w->panic_jmp = NULL;
	w->st.events += w->events_done;
	w->st.committed += w->oracle_n;
	w->st.virtual_ms += w->now;
}

void
sim_world_free(sim_world *w)
{
	for (int i = 0; i < w->cfg.n_nodes; i++)
	{
		sim_node   *sn = &w->nodes[i];

		dcf_node_destroy(sn->node);
		for (uint32_t k = 0; k < sn->n_ops; k++)
		{
			free(sn->ops[k].entries);
			free(sn->ops[k].ms);
		}
		free(sn->ops);
		free(sn->cfgs);
		for (uint32_t k = 0; k < sn->n_held; k++)
			free(sn->held[k].bytes);
		free(sn->held);
		free(sn->vlog.e);
		free(sn->dlog.e);
	}
	for (uint32_t i = 0; i < w->n_heap; i++)
		free(w->heap[i].pkt);
	free(w->heap);
	for (uint32_t i = 0; i < w->n_chunks; i++)
		free(w->chunks[i]);
	free(w->chunks);
	free(w->oracle_chain);
	free(w->oracle_term);
	free(w->oracle_commit_term);
	free(w->oracle_commit_ms);
	free(w->oracle_config);
	free(w->lead_ms);
	free(w->lead_term);
	sim_map_free(&w->entry_chain);
	sim_map_free(&w->term_leader);
	sim_map_free(&w->votes);
	sim_map_free(&w->asked);
	if (panic_world == w)
		panic_world = NULL;
}
