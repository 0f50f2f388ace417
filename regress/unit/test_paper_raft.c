/*
 * test_paper_raft.c — scenarios of the Raft paper (Ongaro & Ousterhout,
 * "In Search of an Understandable Consensus Algorithm", 2014) on the core,
 * driven step by step on the in-memory harness.
 *
 * Figure 7: "When the leader at the top comes to power, it is possible that
 * any of scenarios (a–f) could occur in follower logs ... a follower may be
 * missing entries (a–b), may have extra uncommitted entries (c–d), or both
 * (e–f)."  §5.3: "the leader handles inconsistencies by forcing the
 * followers' logs to duplicate its own" — after one leader's term begins,
 * every follower log equals the leader's.
 *
 * Figure 8: "A leader cannot determine commitment using log entries from
 * older terms."  In (c) S1, leader of term 4, has replicated the term-2
 * entry at index 2 to a majority; it must not count it as committed, for in
 * (d) S5 can still be elected and overwrite it.  In (e) S1 replicates an
 * entry of its own term to a majority first: then both commit, and S5 can no
 * longer win.  §5.4.2: "Raft never commits log entries from previous terms
 * by counting replicas."
 */
#include "test_core_harness.h"

/* ---- Figure 7 ---- */

static const uint64_t fig7_leader[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
static const uint64_t fig7_a[] = {1, 1, 1, 4, 4, 5, 5, 6, 6};
static const uint64_t fig7_b[] = {1, 1, 1, 4};
static const uint64_t fig7_c[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6};
static const uint64_t fig7_d[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7};
static const uint64_t fig7_e[] = {1, 1, 1, 4, 4, 4, 4};
static const uint64_t fig7_f[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};

static void
fig7_case(const char *name, const uint64_t *follower, int n_follower, uint32_t batch)
{
	th_cluster	c;
	th_node    *l;
	th_node    *f;
	bool		was_longer = n_follower > 10;

	/*
	 * Node 1 is the leader-to-be (term 7, about to win term 8), node 2 the
	 * follower of the figure, node 3 holds the leader's log so that node 1
	 * has a majority whatever node 2 thinks of its log.
	 */
	th_init(&c, 3);
	c.opts.max_batch_entries = batch;
	th_set_log(&c, 1, fig7_leader, 10);
	th_set_log(&c, 2, follower, n_follower);
	th_set_log(&c, 3, fig7_leader, 10);
	th_get(&c, 1)->hs.term = 7;
	th_get(&c, 3)->hs.term = 7;
	if (th_get(&c, 2)->hs.term < 7)
		th_get(&c, 2)->hs.term = 7;
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 3);		/* 1 1 1 is common to all: committed */

	/* only node 1's timer runs: it campaigns, the others answer */
	c.now += 2 * c.opts.election_timeout_ms;
	th_tick(&c, 1);
	for (int k = 0; k < 50 && c.nq > 0; k++)
		th_deliver(&c, NULL, NULL, 0);
	l = th_leader(&c);
	f = th_get(&c, 2);
	CHECK(l != NULL && l->id == 1 && l->term == 8, "figure 7 (%s): node 1 leads term 8", name);
	CHECK(f->n == 11 && th_logs_equal(&c, 1, 2, 11),
		  "figure 7 (%s): the follower's log now equals the leader's 10 entries + its NOOP (length %llu)%s",
		  name, (unsigned long long) f->n, was_longer ? ", extra entries removed" : "");
	CHECK(l && l->commit == 11 && f->commit == 11,
		  "figure 7 (%s): index 11, the NOOP of term 8, is committed on leader and follower", name);
	CHECK(c.failures == 0, "figure 7 (%s): no host-side failures", name);
	th_destroy(&c);
}

static void
test_figure7(void)
{
	/* batch 1 makes every missing entry its own round trip, batch 64 none */
	for (int pass = 0; pass < 2; pass++)
	{
		uint32_t	batch = pass == 0 ? 64 : 1;

		fig7_case(pass ? "a, batch 1" : "a", fig7_a, 9, batch);
		fig7_case(pass ? "b, batch 1" : "b", fig7_b, 4, batch);
		fig7_case(pass ? "c, batch 1" : "c", fig7_c, 11, batch);
		fig7_case(pass ? "d, batch 1" : "d", fig7_d, 12, batch);
		fig7_case(pass ? "e, batch 1" : "e", fig7_e, 7, batch);
		fig7_case(pass ? "f, batch 1" : "f", fig7_f, 11, batch);
	}
}

/* ---- Figure 8 ---- */

/*
 * Drop every append that would deliver index 3 (the term-4 entry): those
 * carrying it to a node that already holds index 2 of term 2.  A probe to a
 * node without index 2 passes and is refused, so index 2 gets there alone.
 */
static bool
no_index3(const dcf_msg *m, void *arg)
{
	th_node    *to = th_get((th_cluster *) arg, m->to);

	if (m->type != DCF_MSG_APPEND || !(to->n >= 2 && to->log[2].term == 2))
		return true;
	for (uint32_t i = 0; i < m->n_entries; i++)
		if (m->entries[i].index == 3)
			return false;
	return true;
}

/*
 * State (c): S1 was leader of term 2 and replicated index 2 to S2 only; S5
 * led term 3 and wrote index 2 of term 3 on itself only, then crashed.  S1
 * restarts and wins term 4 (votes of S2, S3, S4), appends its NOOP of term 4
 * at index 3; the NOOP is lost on the way while index 2 (term 2) reaches S3
 * (and S4: S1 then knows that S1, S3, S4 — a majority — hold index 2).
 */
static void
fig8_to_c(th_cluster *c)
{
	static const uint64_t s12[] = {1, 2};
	static const uint64_t s34[] = {1};
	static const uint64_t s5[] = {1, 3};

	th_init(c, 5);
	c->opts.max_batch_entries = 1;
	th_set_log(c, 1, s12, 2);
	th_set_log(c, 2, s12, 2);
	th_set_log(c, 3, s34, 1);
	th_set_log(c, 4, s34, 1);
	th_set_log(c, 5, s5, 2);
	th_get(c, 1)->hs.term = 3;	/* has seen term 3 */
	th_get(c, 2)->hs.term = 2;
	th_get(c, 3)->hs = (dcf_hard_state) {3, 5, 0, 0};	/* voted for S5 in term 3 */
	th_get(c, 4)->hs = (dcf_hard_state) {3, 5, 0, 0};
	th_get(c, 5)->hs = (dcf_hard_state) {3, 5, 0, 0};
	for (uint32_t i = 1; i <= 4; i++)
		th_start(c, i, 1);		/* index 1 committed; S5 is down */
	c->now += 2 * c->opts.election_timeout_ms;
	th_tick(c, 1);
	for (int k = 0; k < 50 && c->nq > 0; k++)
		th_deliver(c, no_index3, c, 0);
}

static void
test_figure8(void)
{
	th_cluster	c;
	th_node    *s1;
	int			on_majority = 0;
	dcf_status	st;
	int			known = 1;

	/* (c) */
	fig8_to_c(&c);
	s1 = th_get(&c, 1);
	CHECK(s1->role == DCF_ROLE_LEADER && s1->term == 4, "figure 8 (c): S1 leads term 4");
	for (uint32_t i = 1; i <= 5; i++)
		on_majority += th_get(&c, i)->n >= 2 && th_get(&c, i)->log[2].term == 2;
	CHECK(on_majority >= 3 && th_get(&c, 1)->n == 3 && th_get(&c, 3)->n == 2,
		  "figure 8 (c): index 2 of term 2 is on a majority (%d nodes), index 3 of term 4 on S1 only", on_majority);
	dcf_node_status(s1->node, &st);
	for (uint32_t i = 0; i < st.n_peers; i++)
		known += st.peers[i].match_index >= 2;
	CHECK(known >= 3, "figure 8 (c): S1 knows that %d nodes (a majority) hold index 2", known);
	CHECK(s1->commit == 1,
		  "figure 8 (c): S1 does not commit index 2 by counting replicas of an older term (commit %llu)",
		  (unsigned long long) s1->commit);

	/* (d): S1 crashes, S5 comes back and is elected by S2, S3, S4 */
	th_crash(&c, 1);
	th_start(&c, 5, 1);
	for (int round = 0; round < 20 && !(th_get(&c, 5)->role == DCF_ROLE_LEADER); round++)
	{
		c.now += 2 * c.opts.election_timeout_ms;
		th_tick(&c, 5);
		for (int k = 0; k < 50 && c.nq > 0; k++)
			th_deliver(&c, NULL, NULL, 0);
	}
	CHECK(th_get(&c, 5)->role == DCF_ROLE_LEADER && th_get(&c, 5)->term >= 5,
		  "figure 8 (d): S5 is elected (term %llu) with votes of S2, S3, S4",
		  (unsigned long long) th_get(&c, 5)->term);
	CHECK(th_get(&c, 2)->log[2].term == 3 && th_get(&c, 3)->log[2].term == 3,
		  "figure 8 (d): S5 overwrites index 2 with its term-3 entry on S2 and S3");
	CHECK(th_get(&c, 5)->commit >= 3 && th_logs_equal(&c, 5, 2, 3) && th_logs_equal(&c, 5, 3, 3),
		  "figure 8 (d): and commits it with its own NOOP — nothing committed was lost");
	CHECK(c.failures == 0, "figure 8 (d): no host-side failures");
	th_destroy(&c);

	/* (e): from (c), S1's term-4 entry reaches S2 and S3 before S1 crashes */
	fig8_to_c(&c);
	s1 = th_get(&c, 1);
	c.now += c.opts.heartbeat_interval_ms;
	th_tick(&c, 1);				/* heartbeat: followers answer, S1 resends */
	for (int k = 0; k < 50 && c.nq > 0; k++)
		th_deliver(&c, NULL, NULL, 0);
	CHECK(s1->commit == 3, "figure 8 (e): once its term-4 entry is on a majority, S1 commits indexes 2 and 3 (commit %llu)",
		  (unsigned long long) s1->commit);
	th_crash(&c, 1);
	th_start(&c, 5, 1);
	for (int round = 0; round < 10; round++)
	{
		c.now += 2 * c.opts.election_timeout_ms;
		th_tick(&c, 5);
		for (int k = 0; k < 50 && c.nq > 0; k++)
			th_deliver(&c, NULL, NULL, 0);
	}
	CHECK(th_get(&c, 5)->role != DCF_ROLE_LEADER,
		  "figure 8 (e): S5 (last term 3) cannot win against logs ending in term 4 in 10 attempts");
	{
		th_node    *l;

		/* let everyone's timers run: S2, S3 or S4 takes over and keeps indexes 2 and 3 */
		th_crash(&c, 5);
		th_start(&c, 5, 1);
		l = th_elect(&c, 5000);
		CHECK(l != NULL && l->id != 5 && l->n >= 3 && l->log[3].term == 4,
			  "figure 8 (e): a node holding the committed entries leads (node %u)", l ? l->id : 0);
		if (l)
		{
			for (int k = 0; k < 20; k++)
			{
				th_advance(&c, 10);
				th_deliver(&c, NULL, NULL, 0);
			}
			CHECK(l->log[2].term == 2 && l->log[3].term == 4 && th_logs_equal(&c, l->id, 5, 3),
				  "figure 8 (e): index 2 (term 2) and 3 (term 4) survive, and S5 now holds them too");
		}
	}
	CHECK(c.failures == 0, "figure 8 (e): no host-side failures");
	th_destroy(&c);
}

int
main(void)
{
	test_figure7();
	test_figure8();
	return unit_done();
}
