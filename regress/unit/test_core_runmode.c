/*
 * test_core_runmode.c — scripted scenarios for run_mode (issue 7, point
 * 4): in run_mode 2 no node starts an election by itself, even with no
 * leader at all; leadership changes only by PROMOTE or a transfer; run
 * mode is switched per node at run time (SET_RUN_MODE), and a node
 * switched back to 0 elects again; nodes in run mode 2 still vote.
 */
#include "test_core_harness.h"

#define T_MS 100

static uint64_t
campaigns(th_cluster *c)
{
	uint64_t	n = 0;

	for (int i = 0; i < c->n; i++)
		n += c->nodes[i].msgs_sent[DCF_MSG_PREVOTE_REQ] + c->nodes[i].msgs_sent[DCF_MSG_VOTE_REQ];
	return n;
}

static void
test_run_mode_none(void)
{
	th_cluster	c;
	th_node    *l;
	uint64_t	before;

	th_init(&c, 4);
	c.opts.run_mode = DCF_RUN_MODE_NONE;
	c.ms.members[3].role = DCF_ROLE_LOGGER;
	for (uint32_t i = 1; i <= 4; i++)
		th_start(&c, i, 0);
	CHECK(th_nobody_leads(&c, 20 * T_MS) && campaigns(&c) == 0,
		  "run_mode 2: no campaign and no leader in 20 election timeouts (%llu campaign messages)",
		  (unsigned long long) campaigns(&c));
	CHECK(th_admin_simple(&c, 4, DCF_ADMIN_PROMOTE, 0, 0) == DCF_ERR_STATE,
		  "promoting the LOGGER is refused");
	CHECK(th_admin_simple(&c, 2, DCF_ADMIN_PROMOTE, 0, 0) == DCF_OK, "node 2 is promoted");
	th_run(&c, 50, 5);
	l = th_leader(&c);
	if (!CHECK(l && l->id == 2, "node 2 leads after its promotion"))
		return;
	CHECK(th_admin_simple(&c, 2, DCF_ADMIN_PROMOTE, 0, 0) == DCF_OK && th_leader(&c) == l,
		  "promoting the leader is a no-op");
	th_propose(&c, 2, 1, 10);
	th_run(&c, 50, 5);

	/* the leader dies: nobody replaces it */
	th_crash(&c, 2);
	before = campaigns(&c);
	CHECK(th_nobody_leads(&c, 20 * T_MS) && campaigns(&c) == before,
		  "leader down in run_mode 2: no campaign, no leader in 20 election timeouts");

	/* node 1 switched to run_mode 0 elects itself (nodes 3 and 4 still vote) */
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_SET_RUN_MODE, 0, 1) == DCF_ERR_INVALID,
		  "run mode 1 is refused");
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_SET_RUN_MODE, 0, DCF_RUN_MODE_AUTO) == DCF_OK,
		  "node 1 is switched to run_mode 0");
	l = th_elect(&c, 3000);
	CHECK(l && l->id == 1, "node 1 campaigns and is elected by nodes in run_mode 2");

	/* back to 2 on node 1; a transfer still moves leadership */
	th_admin_simple(&c, 1, DCF_ADMIN_SET_RUN_MODE, 0, DCF_RUN_MODE_NONE);
	th_start(&c, 2, 0);
	th_run(&c, 100, 5);
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_TRANSFER_LEADER, 3, 0) == DCF_OK, "transfer to node 3 accepted");
	th_run(&c, 100, 5);
	CHECK(th_leader(&c) && th_leader(&c)->id == 3, "node 3 (run_mode 2) leads after the transfer");
	{
		dcf_status	st;

		dcf_node_status(th_get(&c, 3)->node, &st);
		CHECK(st.run_mode == DCF_RUN_MODE_NONE, "status shows run_mode 2");
	}
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

int
main(void)
{
	test_run_mode_none();
	return unit_done();
}
