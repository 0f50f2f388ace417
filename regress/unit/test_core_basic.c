/*
 * test_core_basic.c — scripted behaviour of the core on the in-memory
 * harness: elections (single node, three nodes, weighted votes, pre-vote
 * with a partitioned node), replication and commit, the NOOP of a new term,
 * the persist-before-commit rule on the leader, check-quorum step-down and
 * the lease (including a hole the simulator found), LOGGER/PASSIVE members,
 * refused proposals, restart from durable state.
 */
#include "test_core_harness.h"

static void
test_single_node(void)
{
	th_cluster	c;
	th_node    *l;
	uint64_t	idx;

	th_init(&c, 1);
	th_start(&c, 1, 0);
	l = th_elect(&c, 1000);
	CHECK(l != NULL && l->id == 1, "single node elects itself");
	CHECK(l && l->n == 1 && l->log[1].type == DCF_ENTRY_NOOP && l->log[1].term == l->term,
		  "a new leader appends a NOOP of its term first");
	CHECK(l && l->commit == 1, "single node commits its NOOP once persisted (commit %llu)",
		  l ? (unsigned long long) l->commit : 0ULL);
	idx = th_propose(&c, 1, 0xab, 100);
	CHECK(idx == 2 && c.nodes[0].commit == 2, "single node commits a proposal at index 2");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_three_nodes(void)
{
	th_cluster	c;
	th_node    *l;
	uint64_t	idx = 0;
	int			ok = 1;

	th_init(&c, 3);
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	l = th_elect(&c, 1000);
	CHECK(l != NULL, "three nodes elect a leader");
	if (!l)
		return;
	CHECK(l->term == 1, "first leader has term 1 (pre-vote raised no term), got %llu",
		  (unsigned long long) l->term);
	for (int k = 0; k < 20; k++)
		idx = th_propose(&c, l->id, (uint8_t) k, (uint32_t) (10 + k));
	th_deliver(&c, NULL, NULL, 0);
	th_advance(&c, 10);
	th_deliver(&c, NULL, NULL, 0);
	CHECK(idx == 21, "20 proposals after the NOOP end at index 21 (%llu)", (unsigned long long) idx);
	for (int i = 0; i < 3; i++)
		ok &= c.nodes[i].commit == 21 && th_logs_equal(&c, 1, c.nodes[i].id, 21);
	CHECK(ok, "all three nodes hold and commit the same 21 entries");
	CHECK(dcf_node_lease_valid(l->node, c.now), "the leader holds a lease while its followers answer");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

/* drop everything to or from node *arg */
static bool
cut_node(const dcf_msg *m, void *arg)
{
	uint32_t	id = *(uint32_t *) arg;

	return m->from != id && m->to != id;
}

static void
test_partitioned_follower_and_check_quorum(void)
{
	th_cluster	c;
	th_node    *l;
	uint32_t	iso;
	uint64_t	term;
	dcf_status	st;

	th_init(&c, 3);
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	l = th_elect(&c, 1000);
	if (!CHECK(l != NULL, "leader elected"))
		return;
	term = l->term;
	iso = l->id == 3 ? 2 : 3;
	/* the isolated follower times out again and again: pre-vote keeps its term */
	for (int k = 0; k < 100; k++)
	{
		th_advance(&c, 10);
		th_deliver(&c, cut_node, &iso, 0);
	}
	CHECK(th_get(&c, iso)->term == term, "an isolated node does not raise its term (pre-vote): %llu vs %llu",
		  (unsigned long long) th_get(&c, iso)->term, (unsigned long long) term);
	CHECK(th_leader(&c) == l && l->term == term, "the leader keeps leading while a quorum answers");
	/* heal: the isolated node rejoins without disturbing the leader */
	for (int k = 0; k < 20; k++)
	{
		th_advance(&c, 10);
		th_deliver(&c, NULL, NULL, 0);
	}
	CHECK(th_leader(&c) == l && l->term == term, "healing does not depose the leader");
	/* isolate the leader: it steps down by check-quorum, the others elect */
	iso = l->id;
	for (int k = 0; k < 40; k++)
	{
		th_advance(&c, 10);
		th_deliver(&c, cut_node, &iso, 0);
	}
	CHECK(l->role != DCF_ROLE_LEADER, "a leader cut off from its quorum steps down (role %s)",
		  dcf_role_name(l->role));
	CHECK(!dcf_node_lease_valid(l->node, c.now), "and has no lease");
	CHECK(th_leader(&c) != NULL && th_leader(&c) != l && th_leader(&c)->term > term,
		  "the other two elect a new leader of a higher term");
	th_advance(&c, 10);
	th_deliver(&c, cut_node, &iso, 0);
	dcf_node_status(th_leader(&c)->node, &st);
	CHECK(st.n_peers == 2 && st.role == DCF_ROLE_LEADER, "leader status lists its two peers");
	{
		int			replicating = 0,
					probing = 0;
		uint64_t	idx = 0;

		for (uint32_t i = 0; i < st.n_peers; i++)
		{
			replicating += strcmp(dcf_progress_state_name(st.peers[i].state), "replicate") == 0 &&
				st.peers[i].match_index == st.last_index;
			probing += st.peers[i].node_id == iso && st.peers[i].state == DCF_PROGRESS_PROBE;
		}
		CHECK(replicating == 1 && probing == 1,
			  "status: the live peer replicates at the leader's last index, the cut-off old leader is probed");
		CHECK(st.commit_index == st.last_index && st.persisted_index == st.last_index && st.lease_valid,
			  "status: commit %llu = persisted = last index, lease valid", (unsigned long long) st.commit_index);
		CHECK(dcf_node_membership(th_leader(&c)->node, &idx)->n_members == 3 && idx == 0,
			  "status: membership of 3 from the bootstrap configuration (index 0)");
	}
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_weighted_votes(void)
{
	th_cluster	c;
	th_node    *l;
	uint32_t	heavy = 1;

	/* node 1 weighs 3, nodes 2..4 weigh 1 each: total 6, quorum 4 */
	th_init(&c, 4);
	c.ms.members[0].weight = 3;
	for (uint32_t i = 1; i <= 4; i++)
		th_start(&c, i, 0);
	l = th_elect(&c, 2000);
	if (!CHECK(l != NULL, "weighted cluster elects a leader"))
		return;
	th_deliver(&c, NULL, NULL, 0);
	/* without node 1, weights 3 of 6 remain: no quorum, no new leader */
	th_crash(&c, heavy);
	for (int k = 0; k < 200; k++)
	{
		th_advance(&c, 10);
		th_deliver(&c, NULL, NULL, 0);
	}
	CHECK(th_leader(&c) == NULL, "three light nodes (weight 3 of 6) cannot elect a leader");
	th_start(&c, heavy, c.nodes[0].commit);
	th_crash(&c, 2);
	th_crash(&c, 3);
	/* node 1 (3) + node 4 (1) = 4 of 6: a quorum */
	l = th_elect(&c, 3000);
	CHECK(l != NULL, "heavy node + one light node (weight 4 of 6) elect a leader");
	if (l)
	{
		uint64_t	idx = th_propose(&c, l->id, 7, 10);

		th_deliver(&c, NULL, NULL, 0);
		CHECK(idx > 0 && l->commit == idx, "and commit with weight 4 of 6");
	}
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_logger_passive(void)
{
	th_cluster	c;
	th_node    *l;
	int			rounds;

	th_init(&c, 4);
	c.ms.members[2].role = DCF_ROLE_LOGGER;
	c.ms.members[3].role = DCF_ROLE_PASSIVE;
	for (uint32_t i = 1; i <= 4; i++)
		th_start(&c, i, 0);
	for (rounds = 0; rounds < 5; rounds++)
	{
		l = th_elect(&c, 2000);
		if (!l)
			break;
		CHECK_QUIET(l->id == 1 || l->id == 2, "only LEADER/FOLLOWER members lead (got %u)", l->id);
		th_crash(&c, l->id);
		th_start(&c, l->id, 0);
	}
	CHECK(rounds == 5, "five elections, never won by the LOGGER or PASSIVE member");
	l = th_elect(&c, 2000);
	if (l)
	{
		uint64_t	idx = th_propose(&c, l->id, 1, 10);

		th_deliver(&c, NULL, NULL, 0);
		th_advance(&c, 10);
		th_deliver(&c, NULL, NULL, 0);
		CHECK(th_get(&c, 3)->role == DCF_ROLE_LOGGER && th_get(&c, 4)->role == DCF_ROLE_PASSIVE,
			  "members report their configured roles LOGGER and PASSIVE");
		CHECK(th_get(&c, 4)->n >= idx && th_get(&c, 3)->n >= idx, "LOGGER and PASSIVE receive the log");
	}
	/* voters are 1, 2, 3 (3 is a logger): with 2 down, 1 + logger 3 commit */
	th_crash(&c, 2);
	th_crash(&c, 4);
	l = th_elect(&c, 3000);
	CHECK(l != NULL && l->id == 1, "node 1 with the LOGGER's vote leads (passive node 4 is down and never counts)");
	if (l)
	{
		uint64_t	idx = th_propose(&c, 1, 2, 10);

		th_deliver(&c, NULL, NULL, 0);
		CHECK(l->commit == idx, "and commits with the LOGGER's copy");
	}
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_refusals_and_restart(void)
{
	th_cluster	c;
	th_node    *l,
			   *f;
	dcf_event	ev;
	dcf_update	u;
	dcf_proposal p = {.type = DCF_ENTRY_APP_MIN, .key = 0, .payload = NULL, .len = 0};
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc;
	uint64_t	term;

	th_init(&c, 3);
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	l = th_elect(&c, 1000);
	if (!CHECK(l != NULL, "leader elected"))
		return;
	th_deliver(&c, NULL, NULL, 0);
	f = th_get(&c, l->id == 1 ? 2 : 1);
	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_PROPOSE;
	ev.now_ms = c.now;
	ev.u.propose.items = &p;
	ev.u.propose.n_items = 1;
	rc = dcf_node_step(f->node, &ev, &u, err);
	CHECK(rc == DCF_ERR_STATE && u.n_msgs == 0 && u.n_entries == 0,
		  "a follower refuses a proposal: %s", err);
	p.type = DCF_ENTRY_CONFIG;
	rc = dcf_node_step(l->node, &ev, &u, err);
	CHECK(rc == DCF_ERR_INVALID, "a proposal of a core entry type is refused: %s", err);
	p.type = DCF_ENTRY_APP_MIN + 3;
	p.key = 5;
	rc = dcf_node_step(l->node, &ev, &u, err);
	CHECK(rc == DCF_OK && u.proposed_index == 2, "an application entry is accepted at index 2");
	th_handle(&c, l, &u);
	p.key = 4;
	rc = dcf_node_step(l->node, &ev, &u, err);
	CHECK(rc == DCF_ERR_INVALID, "a key below the last key is refused: %s", err);
	th_deliver(&c, NULL, NULL, 0);

	/* restart the whole cluster from its durable state */
	term = l->term;
	for (uint32_t i = 1; i <= 3; i++)
	{
		uint64_t	applied = th_get(&c, i)->commit;

		th_crash(&c, i);
		th_start(&c, i, applied);
	}
	CHECK(th_get(&c, 1)->hs.term == term, "hard state kept the term");
	l = th_elect(&c, 2000);
	CHECK(l != NULL && l->term > term, "after a full restart a leader of a higher term is elected");
	if (l)
	{
		th_deliver(&c, NULL, NULL, 0);
		CHECK(l->n == 3 && l->log[2].type == DCF_ENTRY_APP_MIN + 3 && l->log[3].type == DCF_ENTRY_NOOP,
			  "the new leader kept the committed entry and added its NOOP");
		CHECK(th_logs_equal(&c, 1, 2, 3) && th_logs_equal(&c, 1, 3, 3), "all logs agree");
	}
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

/* Steps node tn with message m; returns the first message of the update of type t, or NULL. */
static const dcf_msg *
inject(th_cluster *c, th_node *tn, const dcf_msg *m, dcf_msg_type t, dcf_msg *copy)
{
	dcf_event	ev;
	dcf_update	u;
	char		err[DCF_ERRMSG_MAX];
	const dcf_msg *found = NULL;

	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_MESSAGE;
	ev.now_ms = c->now;
	ev.u.message = m;
	if (dcf_node_step(tn->node, &ev, &u, err) != DCF_OK)
		return NULL;
	for (uint32_t i = 0; i < u.n_msgs; i++)
		if (u.msgs[i].type == t && found == NULL)
		{
			*copy = u.msgs[i];
			found = copy;
		}
	th_handle(c, tn, &u);
	return found;
}

/*
 * The hole the simulator found (seed 117518): a follower that acknowledged
 * the leader is pushed to a higher term by a message that is not a vote
 * request (a refused pre-vote answer of a newer term); a vote request of
 * that same term must still be refused while the leader's lease runs.
 */
static void
test_lease_survives_term_bump(void)
{
	th_cluster	c;
	th_node    *l,
			   *f,
			   *x;
	dcf_msg		m,
				got;
	const dcf_msg *resp;
	uint64_t	term;

	th_init(&c, 3);
	c.opts.lease_margin_ms = 0;
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	l = th_elect(&c, 1000);
	if (!CHECK(l != NULL, "lease: leader elected"))
		return;
	c.now += c.opts.heartbeat_interval_ms;
	th_tick(&c, l->id);
	th_deliver(&c, NULL, NULL, 0);
	f = th_get(&c, l->id == 1 ? 2 : 1);
	x = th_get(&c, 6 - l->id - f->id);
	term = f->term;
	CHECK(dcf_node_lease_valid(l->node, c.now), "lease: the leader holds its lease");

	memset(&m, 0, sizeof(m));
	m.type = DCF_MSG_PREVOTE_RESP;
	m.from = x->id;
	m.to = f->id;
	m.term = term + 1;
	m.flags = DCF_MSG_F_REJECT;
	inject(&c, f, &m, DCF_MSG_VOTE_RESP, &got);
	CHECK(f->term == term + 1 && f->leader == 0, "lease: a refused pre-vote answer of term %llu moves the follower to it",
		  (unsigned long long) (term + 1));

	memset(&m, 0, sizeof(m));
	m.type = DCF_MSG_VOTE_REQ;
	m.from = x->id;
	m.to = f->id;
	m.term = term + 1;
	m.index = 1000;
	m.log_term = term + 1;
	resp = inject(&c, f, &m, DCF_MSG_VOTE_RESP, &got);
	CHECK(resp != NULL && (resp->flags & DCF_MSG_F_REJECT),
		  "lease: a vote request of that same term is refused while the leader's lease runs");
	CHECK(dcf_node_lease_valid(l->node, c.now), "lease: so the leader's lease is still sound");

	c.now += c.opts.election_timeout_ms;
	resp = inject(&c, f, &m, DCF_MSG_VOTE_RESP, &got);
	CHECK(resp != NULL && !(resp->flags & DCF_MSG_F_REJECT) && !dcf_node_lease_valid(l->node, c.now),
		  "lease: one election timeout later both lease and refusal are over: vote granted");
	CHECK(c.failures == 0, "lease: no host-side failures");
	th_destroy(&c);
}

int
main(void)
{
	test_single_node();
	test_three_nodes();
	test_partitioned_follower_and_check_quorum();
	test_weighted_votes();
	test_logger_passive();
	test_refusals_and_restart();
	test_lease_survives_term_bump();
	return unit_done();
}
