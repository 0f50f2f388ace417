/*
 * test_core_harness.h — a small deterministic in-memory host for scripted
 * core tests (regress/unit/test_core_*.c, test_paper_*.c).
 *
 * Every node has an in-memory log and hard state that persist instantly:
 * an update is written at once, then its messages are queued (encoded with
 * the real codec) and DCF_EVENT_PERSISTED is delivered right away.  Nothing
 * moves unless the test says so: th_tick() advances one node's clock,
 * th_deliver() delivers queued messages (optionally through a filter that
 * may drop them), th_crash()/th_restart() rebuild a node from its log and
 * hard state (and the membership record, contract H7).  th_admin() steps
 * admin requests; reports are collected per node.  The simulator
 * (regress/sim) is the randomized counterpart.
 */
#ifndef TEST_CORE_HARNESS_H
#define TEST_CORE_HARNESS_H

#include "core/dcf_codec.h"
#include "core/dcf_core.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TH_NODES_MAX 7
#define TH_QUEUE_MAX 4096
#define TH_LOG_MAX 4096
#define TH_REPORTS_MAX 64

typedef struct th_entry
{
	uint64_t	term;
	uint64_t	key;
	uint8_t		type;
	uint32_t	len;
	uint8_t	   *payload;
} th_entry;

typedef struct th_node
{
	uint32_t	id;
	dcf_node   *node;			/* NULL while crashed */
	th_entry	log[TH_LOG_MAX + 1];	/* log[1..n] */
	uint64_t	n;
	uint64_t	first;			/* first index held (0: 1); below it recycled */
	uint64_t	prev_term;		/* term at first - 1 */
	dcf_hard_state hs;
	uint64_t	commit;
	uint64_t	applied;
	dcf_role	role;
	uint32_t	leader;
	uint64_t	term;
	dcf_log_reader reader;
	/* the membership record the core asked to persist (H7), if any */
	bool		has_rec;
	dcf_membership rec;
	uint64_t	rec_index;
	/* options of this node, if they differ from the cluster's */
	bool		has_opts;
	dcf_options opts;
	/* followers whose log went backwards (R9), as the leader reported them */
	uint32_t	n_regressions;
	dcf_peer_regress last_regress;
	/* outcomes of admin requests, in order */
	dcf_admin_report reports[TH_REPORTS_MAX];
	int			n_reports;
	uint64_t	msgs_sent[DCF_MSG_TYPE_MAX + 1];	/* by type */
} th_node;

typedef struct th_msg
{
	uint32_t	from;
	uint32_t	to;
	size_t		len;
	uint8_t    *bytes;
} th_msg;

typedef struct th_cluster
{
	int			n;
	th_node		nodes[TH_NODES_MAX];
	dcf_membership ms;
	dcf_options opts;			/* node_id filled per node */
	uint64_t	now;
	th_msg		q[TH_QUEUE_MAX];
	int			nq;
	int			failures;		/* host-side errors */
} th_cluster;

typedef bool (*th_filter) (const dcf_msg *m, void *arg);

static inline th_node *
th_get(th_cluster *c, uint32_t id)
{
	for (int i = 0; i < c->n; i++)
		if (c->nodes[i].id == id)
			return &c->nodes[i];
	return NULL;
}

/* ---- the log reader over th_node.log ---- */

static inline uint64_t
th_first(void *ctx)
{
	th_node    *tn = ctx;

	return tn->first ? tn->first : 1;
}

static inline uint64_t
th_last(void *ctx)
{
	return ((th_node *) ctx)->n;
}

static inline dcf_rc
th_term(void *ctx, uint64_t index, uint64_t *term, char *errmsg)
{
	th_node    *tn = ctx;

	if (index == 0)
	{
		*term = 0;
		return DCF_OK;
	}
	if (tn->first > 1 && index == tn->first - 1)
	{
		*term = tn->prev_term;
		return DCF_OK;
	}
	if (index > tn->n || (tn->first > 1 && index < tn->first))
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "no index %llu", (unsigned long long) index);
	*term = tn->log[index].term;
	return DCF_OK;
}

static inline dcf_rc
th_entries(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes, dcf_entry *out,
		   uint32_t *n_out, char *errmsg)
{
	th_node    *tn = ctx;
	uint32_t	cap = *n_out,
				n = 0;
	uint64_t	bytes = 0;

	if (lo < 1 || lo < th_first(tn) || hi > tn->n + 1)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "range [%llu, %llu) outside the log",
						(unsigned long long) lo, (unsigned long long) hi);
	for (uint64_t i = lo; i < hi && n < cap; i++)
	{
		if (n > 0 && bytes + tn->log[i].len > max_bytes)
			break;
		out[n].index = i;
		out[n].term = tn->log[i].term;
		out[n].key = tn->log[i].key;
		out[n].type = tn->log[i].type;
		out[n].len = tn->log[i].len;
		out[n].payload = tn->log[i].payload;
		bytes += tn->log[i].len;
		n++;
	}
	*n_out = n;
	return DCF_OK;
}

/* ---- setup ---- */

/* A cluster of n voters (ids 1..n) with test-friendly timing. */
static inline void
th_init(th_cluster *c, int n)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	c->ms.n_members = (uint32_t) n;
	for (int i = 0; i < n; i++)
	{
		dcf_member_init(&c->ms.members[i], (uint32_t) i + 1, DCF_ROLE_FOLLOWER);
		snprintf(c->ms.members[i].ip, DCF_MEMBER_IP_MAX, "127.0.0.%d", i + 1);
		c->ms.members[i].port = (uint16_t) (17000 + i);
		c->nodes[i].id = (uint32_t) i + 1;
		c->nodes[i].reader.ctx = &c->nodes[i];
		c->nodes[i].reader.first_index = th_first;
		c->nodes[i].reader.last_index = th_last;
		c->nodes[i].reader.term = th_term;
		c->nodes[i].reader.entries = th_entries;
	}
	dcf_options_init(&c->opts, 1);
	c->opts.election_timeout_ms = 100;
	c->opts.heartbeat_interval_ms = 10;
	c->opts.lease_margin_ms = 10;
	c->opts.max_unstable_bytes = DCF_ENTRY_PAYLOAD_MAX_BYTES;
}

/* Replaces node id's log by entries of the given terms (indexes 1..n). */
static inline void
th_set_log(th_cluster *c, uint32_t id, const uint64_t *terms, int n)
{
	th_node    *tn = th_get(c, id);

	for (uint64_t i = 1; i <= tn->n; i++)
		free(tn->log[i].payload);
	tn->n = 0;
	for (int i = 0; i < n; i++)
	{
		th_entry   *e = &tn->log[++tn->n];

		memset(e, 0, sizeof(*e));
		e->term = terms[i];
		e->type = DCF_ENTRY_APP_MIN;
		e->key = (uint64_t) i + 1;
		e->len = 8;
		e->payload = malloc(8);
		/* the payload names (index, term): logs agree iff payloads agree */
		memcpy(e->payload, &(uint32_t) {i + 1}, 4);
		memcpy(e->payload + 4, &(uint32_t) {(uint32_t) terms[i]}, 4);
	}
	tn->hs.term = n > 0 ? terms[n - 1] : 0;
}

static inline void th_handle(th_cluster *c, th_node *tn, const dcf_update *u);

static inline void
th_step(th_cluster *c, th_node *tn, const dcf_event *ev)
{
	dcf_update	u;
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc;

	if (tn->node == NULL)
		return;
	rc = dcf_node_step(tn->node, ev, &u, err);
	if (rc != DCF_OK)
	{
		if (ev->type != DCF_EVENT_PROPOSE)
		{
			printf("# node %u step failed: %s\n", tn->id, err);
			c->failures++;
		}
		return;
	}
	th_handle(c, tn, &u);
}

static inline void
th_handle(th_cluster *c, th_node *tn, const dcf_update *u)
{
	char		err[DCF_ERRMSG_MAX];
	dcf_event	ev;

	/* encode first: entry payloads may point into the log we modify next */
	for (uint32_t i = 0; i < u->n_msgs; i++)
	{
		th_msg	   *qm;
		size_t		len;

		if (c->nq >= TH_QUEUE_MAX)
		{
			c->failures++;
			break;
		}
		qm = &c->q[c->nq];
		qm->len = dcf_msg_encoded_size(&u->msgs[i]);
		qm->bytes = malloc(qm->len);
		if (dcf_msg_encode(&u->msgs[i], qm->bytes, qm->len, &len, err) != DCF_OK)
		{
			printf("# encode failed: %s\n", err);
			c->failures++;
			free(qm->bytes);
			continue;
		}
		qm->from = u->msgs[i].from;
		qm->to = u->msgs[i].to;
		c->nq++;
		tn->msgs_sent[u->msgs[i].type]++;
	}
	/* H7: the membership record before the entries */
	if (u->membership)
	{
		tn->has_rec = true;
		tn->rec = *u->membership;
		tn->rec_index = u->membership_index;
	}
	for (uint32_t i = 0; i < u->n_reports; i++)
	{
		if (tn->n_reports < TH_REPORTS_MAX)
			tn->reports[tn->n_reports++] = u->reports[i];
	}
	for (uint32_t i = 0; i < u->n_regressions; i++)
	{
		tn->n_regressions++;
		tn->last_regress = u->regressions[i];
	}
	if (u->hard_state_changed)
		tn->hs = u->hard_state;
	if (u->n_entries > 0)
	{
		uint64_t	first = u->entries[0].index;

		if (u->truncate_from)
		{
			if (u->truncate_from != first)
				c->failures++;
		}
		else if (first != tn->n + 1)
			c->failures++;
		for (uint64_t i = first; i <= tn->n; i++)
			free(tn->log[i].payload);
		tn->n = first - 1;
		if (first - 1 + u->n_entries > TH_LOG_MAX)
		{
			printf("# node %u: the harness log holds at most %d entries\n", tn->id, TH_LOG_MAX);
			c->failures++;
			return;
		}
		for (uint32_t i = 0; i < u->n_entries; i++)
		{
			th_entry   *e = &tn->log[++tn->n];

			e->term = u->entries[i].term;
			e->key = u->entries[i].key;
			e->type = u->entries[i].type;
			e->len = u->entries[i].len;
			e->payload = e->len ? malloc(e->len) : NULL;
			if (e->len)
				memcpy(e->payload, u->entries[i].payload, e->len);
		}
	}
	else if (u->truncate_from)
		c->failures++;			/* H2: a truncation always comes with entries */
	tn->commit = u->commit_index;
	tn->role = u->role;
	tn->leader = u->leader_id;
	tn->term = u->term;
	if (u->n_entries > 0)
	{
		memset(&ev, 0, sizeof(ev));
		ev.type = DCF_EVENT_PERSISTED;
		ev.now_ms = c->now;
		ev.u.persisted.index = tn->n;
		ev.u.persisted.term = tn->log[tn->n].term;
		th_step(c, tn, &ev);
	}
}

/* Creates (or re-creates) node id from its log and hard state. */
static inline void
th_start(th_cluster *c, uint32_t id, uint64_t applied)
{
	th_node    *tn = th_get(c, id);
	dcf_options o = tn->has_opts ? tn->opts : c->opts;
	char		err[DCF_ERRMSG_MAX];
	dcf_status	st;

	o.node_id = id;
	o.prng_seed = 1000 + id;
	if (dcf_node_create(&o, &tn->hs, tn->has_rec ? &tn->rec : &c->ms, tn->has_rec ? tn->rec_index : 0,
						applied, &tn->reader, c->now, &tn->node, err) != DCF_OK)
	{
		printf("# create node %u failed: %s\n", id, err);
		c->failures++;
		return;
	}
	dcf_node_status(tn->node, &st);
	tn->commit = applied;
	tn->role = st.role;
	tn->leader = 0;
	tn->term = tn->hs.term;
}

static inline void
th_crash(th_cluster *c, uint32_t id)
{
	th_node    *tn = th_get(c, id);

	dcf_node_destroy(tn->node);
	tn->node = NULL;
	/* drop its queued messages, in both directions */
	for (int i = 0; i < c->nq; i++)
		if (c->q[i].from == id || c->q[i].to == id)
		{
			free(c->q[i].bytes);
			c->q[i] = c->q[--c->nq];
			i--;
		}
}

static inline void
th_tick(th_cluster *c, uint32_t id)
{
	dcf_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_TICK;
	ev.now_ms = c->now;
	th_step(c, th_get(c, id), &ev);
}

/* Advances the clock by ms and ticks every live node. */
static inline void
th_advance(th_cluster *c, uint64_t ms)
{
	c->now += ms;
	for (int i = 0; i < c->n; i++)
		th_tick(c, c->nodes[i].id);
}

/*
 * Delivers queued messages in FIFO order until the queue is empty (or
 * max_msgs were handled); filter returns false to drop a message.  Returns
 * the number delivered.
 */
static inline int
th_deliver(th_cluster *c, th_filter filter, void *arg, int max_msgs)
{
	int			delivered = 0;

	while (c->nq > 0 && (max_msgs <= 0 || delivered < max_msgs))
	{
		th_msg		qm = c->q[0];
		dcf_msg		m;
		static dcf_entry ents[DCF_MSG_ENTRIES_MAX];
		char		err[DCF_ERRMSG_MAX];
		th_node    *to;

		memmove(&c->q[0], &c->q[1], sizeof(th_msg) * (size_t) (c->nq - 1));
		c->nq--;
		if (dcf_msg_decode(qm.bytes, qm.len, &m, ents, DCF_MSG_ENTRIES_MAX, err) != DCF_OK)
		{
			printf("# decode failed: %s\n", err);
			c->failures++;
		}
		else if ((filter == NULL || filter(&m, arg)) && (to = th_get(c, qm.to)) != NULL && to->node)
		{
			dcf_event	ev;

			memset(&ev, 0, sizeof(ev));
			ev.type = DCF_EVENT_MESSAGE;
			ev.now_ms = c->now;
			ev.u.message = &m;
			th_step(c, to, &ev);
			delivered++;
		}
		free(qm.bytes);
	}
	return delivered;
}

/* Proposes one application entry of `len` bytes filled with `fill` at id. */
static inline uint64_t
th_propose(th_cluster *c, uint32_t id, uint8_t fill, uint32_t len)
{
	th_node    *tn = th_get(c, id);
	uint8_t		buf[256];
	dcf_proposal p;
	dcf_event	ev;
	dcf_update	u;
	char		err[DCF_ERRMSG_MAX];

	if (len > sizeof(buf))
		len = sizeof(buf);
	memset(buf, fill, len);
	memset(&p, 0, sizeof(p));
	p.type = DCF_ENTRY_APP_MIN;
	p.key = tn->n > 0 ? tn->log[tn->n].key + 1 : 1;
	p.payload = buf;
	p.len = len;
	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_PROPOSE;
	ev.now_ms = c->now;
	ev.u.propose.items = &p;
	ev.u.propose.n_items = 1;
	if (tn->node == NULL || dcf_node_step(tn->node, &ev, &u, err) != DCF_OK)
		return 0;
	th_handle(c, tn, &u);
	return u.proposed_index;
}

/* The live node that believes it leads with the highest term, or NULL. */
static inline th_node *
th_leader(th_cluster *c)
{
	th_node    *best = NULL;

	for (int i = 0; i < c->n; i++)
	{
		th_node    *tn = &c->nodes[i];

		if (tn->node && tn->role == DCF_ROLE_LEADER && (best == NULL || tn->term > best->term))
			best = tn;
	}
	return best;
}

/* Runs time forward in small steps, delivering everything, until a leader exists. */
static inline th_node *
th_elect(th_cluster *c, uint64_t max_ms)
{
	for (uint64_t t = 0; t < max_ms; t += 5)
	{
		th_advance(c, 5);
		th_deliver(c, NULL, NULL, 0);
		if (th_leader(c))
			return th_leader(c);
	}
	return NULL;
}

/* Do the logs of a and b agree on indexes 1..upto (terms and payloads)? */
static inline bool
th_logs_equal(th_cluster *c, uint32_t a, uint32_t b, uint64_t upto)
{
	th_node    *x = th_get(c, a),
			   *y = th_get(c, b);

	if (x->n < upto || y->n < upto)
		return false;
	for (uint64_t i = 1; i <= upto; i++)
	{
		if (x->log[i].term != y->log[i].term || x->log[i].len != y->log[i].len ||
			(x->log[i].len && memcmp(x->log[i].payload, y->log[i].payload, x->log[i].len) != 0))
			return false;
	}
	return true;
}

/*
 * A cluster of n_hosts hosts (ids 1..n_hosts) whose bootstrap membership
 * holds only the first n_members: the others are spare hosts that can be
 * added (they start with that membership, not being in it).
 */
static inline void
th_init_hosts(th_cluster *c, int n_hosts, int n_members)
{
	th_init(c, n_hosts);
	c->ms.n_members = (uint32_t) n_members;
}

/* Node id's options from now on (and at its next start): a copy to edit. */
static inline dcf_options *
th_opts(th_cluster *c, uint32_t id)
{
	th_node    *tn = th_get(c, id);

	if (!tn->has_opts)
	{
		tn->opts = c->opts;
		tn->has_opts = true;
	}
	return &tn->opts;
}

/* Steps an admin request at node id; DCF_OK or the refusal (message in err). */
static inline dcf_rc
th_admin(th_cluster *c, uint32_t id, const dcf_admin_request *req, char *err)
{
	th_node    *tn = th_get(c, id);
	dcf_event	ev;
	dcf_update	u;
	dcf_rc		rc;
	char		local[DCF_ERRMSG_MAX];

	if (err == NULL)
		err = local;
	err[0] = '\0';
	if (tn == NULL || tn->node == NULL)
		return DCF_ERR_STATE;
	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_ADMIN;
	ev.now_ms = c->now;
	ev.u.admin = *req;
	rc = dcf_node_step(tn->node, &ev, &u, err);
	if (rc == DCF_OK || rc == DCF_ERR_STATE || rc == DCF_ERR_INVALID || rc == DCF_ERR_FULL)
		th_handle(c, tn, &u);	/* a refusal still returns soft state */
	else
		c->failures++;
	return rc;
}

static inline dcf_rc
th_admin_simple(th_cluster *c, uint32_t at, dcf_admin_kind kind, uint32_t node_id, uint32_t value)
{
	dcf_admin_request req;

	memset(&req, 0, sizeof(req));
	req.kind = kind;
	req.node_id = node_id;
	req.value = value;
	return th_admin(c, at, &req, NULL);
}

/* Asks leader `at` to add host id as a member of the given role. */
static inline dcf_rc
th_add_member(th_cluster *c, uint32_t at, uint32_t id, dcf_role role)
{
	dcf_admin_request req;

	memset(&req, 0, sizeof(req));
	req.kind = DCF_ADMIN_ADD_MEMBER;
	dcf_member_init(&req.member, id, role);
	snprintf(req.member.ip, DCF_MEMBER_IP_MAX, "127.0.0.%u", id);
	req.member.port = (uint16_t) (17000 + id);
	return th_admin(c, at, &req, NULL);
}

/* The last report node id produced about `kind`, or NULL. */
static inline const dcf_admin_report *
th_report(th_cluster *c, uint32_t id, dcf_admin_kind kind)
{
	th_node    *tn = th_get(c, id);

	for (int i = tn->n_reports - 1; i >= 0; i--)
		if (tn->reports[i].kind == kind)
			return &tn->reports[i];
	return NULL;
}

/* The member id in node at's configuration in force, or NULL. */
static inline const dcf_member *
th_member_in(th_cluster *c, uint32_t at, uint32_t id)
{
	th_node    *tn = th_get(c, at);

	if (tn->node == NULL)
		return NULL;
	return dcf_membership_find(dcf_node_membership(tn->node, NULL), id);
}

/* Runs time forward by ms in steps of step_ms, delivering everything. */
static inline void
th_run(th_cluster *c, uint64_t ms, uint64_t step_ms)
{
	for (uint64_t t = 0; t < ms; t += step_ms)
	{
		th_advance(c, step_ms);
		th_deliver(c, NULL, NULL, 0);
	}
}

/* Like th_run, delivering through a filter. */
static inline void
th_run_filtered(th_cluster *c, uint64_t ms, uint64_t step_ms, th_filter filter, void *arg)
{
	for (uint64_t t = 0; t < ms; t += step_ms)
	{
		th_advance(c, step_ms);
		th_deliver(c, filter, arg, 0);
	}
}

/* Filter: only node 1 may campaign (pre-votes and votes of others are dropped). */
static inline bool
th_only_1_campaigns(const dcf_msg *m, void *arg)
{
	(void) arg;
	return !((m->type == DCF_MSG_PREVOTE_REQ || m->type == DCF_MSG_VOTE_REQ) && m->from != 1);
}

/* Filter: messages to or from a node whose bit is set in *(uint32_t *) arg are dropped. */
static inline bool
th_cut_mask(const dcf_msg *m, void *arg)
{
	uint32_t	mask = *(uint32_t *) arg;

	return !((mask >> m->from) & 1) && !((mask >> m->to) & 1);
}

/* Elects node 1 (only it may campaign), then lets the cluster settle. */
static inline th_node *
th_elect_1(th_cluster *c)
{
	for (int k = 0; k < 400 && th_leader(c) == NULL; k++)
		th_run_filtered(c, 5, 5, th_only_1_campaigns, NULL);
	th_run(c, 30, 5);
	return th_leader(c);
}

/* Runs ms; true if no node led at any step. */
static inline bool
th_nobody_leads(th_cluster *c, uint64_t ms)
{
	bool		none = true;

	for (uint64_t t = 0; t < ms; t += 5)
	{
		th_run(c, 5, 5);
		none &= th_leader(c) == NULL;
	}
	return none;
}

static inline void
th_destroy(th_cluster *c)
{
	for (int i = 0; i < c->n; i++)
	{
		th_node    *tn = &c->nodes[i];

		dcf_node_destroy(tn->node);
		tn->node = NULL;
		for (uint64_t k = 1; k <= tn->n; k++)
			free(tn->log[k].payload);
		tn->n = 0;
	}
	for (int i = 0; i < c->nq; i++)
		free(c->q[i].bytes);
	c->nq = 0;
}

#endif							/* TEST_CORE_HARNESS_H */
