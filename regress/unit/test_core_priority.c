/*
 * test_core_priority.c — scripted scenarios for priority election (issue
 * 7, point 2): the leader hands leadership to a caught-up voter of higher
 * priority by an automatic transfer; a lower-priority node leads only while
 * no higher one is available; attempts are rate-limited (an aborted one
 * backs off); the feature can be switched off and on; among equal
 * priorities the leader's own group is preferred; run_mode 2 turns it off.
 */
#include "test_core_harness.h"

#define T_MS 100				/* election timeout */
#define INTERVAL_MS 200			/* priority_interval_ms */

static void
setup(th_cluster *c, int n)
{
	th_init(c, n);
	c->opts.priority_election = true;
	c->opts.priority_interval_ms = INTERVAL_MS;
	c->opts.transfer_timeout_ms = 50;
}

static bool
cut_node(const dcf_msg *m, void *arg)
{
	uint32_t	id = *(uint32_t *) arg;

	return m->from != id && m->to != id;
}

static bool
drop_timeout_now(const dcf_msg *m, void *arg)
{
	(void) arg;
	return m->type != DCF_MSG_TIMEOUT_NOW;
}

/* automatic transfer reports with rc at node id */
static int
count_auto(th_node *tn, dcf_rc rc)
{
	int			n = 0;

	for (int i = 0; i < tn->n_reports; i++)
		if (tn->reports[i].kind == DCF_ADMIN_TRANSFER_LEADER && tn->reports[i].automatic &&
			tn->reports[i].rc == rc)
			n++;
	return n;
}

static void
test_hand_over(void)
{
	th_cluster	c;
	th_node    *l;
	uint32_t	three = 3;
	uint32_t	first;
	int			aborted;
	uint64_t	t0;

	setup(&c, 3);
	c.ms.members[2].priority = 5;
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	/* node 3 cut off: a priority-0 node leads */
	for (int k = 0; k < 200 && th_leader(&c) == NULL; k++)
		th_run_filtered(&c, 5, 5, cut_node, &three);
	l = th_leader(&c);
	if (!CHECK(l != NULL && l->id != 3, "with node 3 (priority 5) cut off, node %u (priority 0) leads",
			   l ? l->id : 0))
		return;
	first = l->id;
	th_propose(&c, first, 1, 10);
	th_run_filtered(&c, 3 * INTERVAL_MS, 5, cut_node, &three);
	CHECK(th_leader(&c) == l && count_auto(l, DCF_OK) + count_auto(l, DCF_ERR_TIMEOUT) == 0,
		  "while node 3 is unavailable node %u keeps leading and tries no transfer", first);

	/* node 3 is back but its TIMEOUT_NOW is lost: attempts abort, rate-limited */
	t0 = c.now;
	th_run_filtered(&c, 2000, 5, drop_timeout_now, NULL);
	aborted = count_auto(l, DCF_ERR_TIMEOUT);
	CHECK(th_leader(&c) == l && aborted >= 1 && aborted <= 1 + (int) (2000 / (4 * INTERVAL_MS)),
		  "TIMEOUT_NOW lost: %d automatic transfers to node 3 in %llu ms, each aborted and reported, "
		  "backing off 4 intervals (at most %d)", aborted, (unsigned long long) (c.now - t0),
		  1 + 2000 / (4 * INTERVAL_MS));
	{
		const dcf_admin_report *r = th_report(&c, first, DCF_ADMIN_TRANSFER_LEADER);

		CHECK(r && r->node_id == 3 && r->automatic && r->rc == DCF_ERR_TIMEOUT,
			  "the report names node 3, automatic, timed out (%s)", r ? r->reason : "none");
	}

	/* the network is whole: node 3 takes over */
	th_run(&c, 6 * INTERVAL_MS, 5);
	CHECK(th_leader(&c) && th_leader(&c)->id == 3, "node 3 (priority 5) leads once it is available");
	CHECK(count_auto(l, DCF_OK) == 1, "node %u reports the automatic transfer done", first);

	/* a lower-priority node leads only while node 3 is down */
	th_crash(&c, 3);
	l = th_elect(&c, 3000);
	CHECK(l != NULL && l->id != 3, "node 3 down: node %u leads", l ? l->id : 0);
	th_start(&c, 3, 0);
	th_run(&c, 8 * INTERVAL_MS, 5);
	CHECK(th_leader(&c) && th_leader(&c)->id == 3, "node 3 restarts and leadership comes back to it");

	/* switched off: no hand-over; on again: hand-over */
	th_crash(&c, 3);
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_SET_PRIORITY_ELECTION, 0, 0) == DCF_OK &&
		  th_admin_simple(&c, 2, DCF_ADMIN_SET_PRIORITY_ELECTION, 0, 0) == DCF_OK,
		  "priority election is switched off on nodes 1 and 2");
	l = th_elect(&c, 3000);
	th_start(&c, 3, 0);
	th_run(&c, 20 * INTERVAL_MS, 5);
	CHECK(l != NULL && th_leader(&c) == l, "switched off, node %u keeps leading for 20 intervals with node 3 up",
		  l ? l->id : 0);
	th_admin_simple(&c, 1, DCF_ADMIN_SET_PRIORITY_ELECTION, 0, 1);
	th_admin_simple(&c, 2, DCF_ADMIN_SET_PRIORITY_ELECTION, 0, 1);
	th_run(&c, 4 * INTERVAL_MS, 5);
	CHECK(th_leader(&c) && th_leader(&c)->id == 3, "switched on again, node 3 takes over");
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_SET_PRIORITY_ELECTION, 0, 2) == DCF_ERR_INVALID,
		  "priority election 2 is refused");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_own_group_first(void)
{
	th_cluster	c;
	th_node    *l;
	const dcf_admin_report *r;

	/* 1: group 1 prio 0 (leader); 2: group 2 prio 5; 3: group 1 prio 5; 4: group 2 prio 0 */
	setup(&c, 4);
	c.ms.members[0].group = 1;
	c.ms.members[1].group = 2;
	c.ms.members[1].priority = 5;
	c.ms.members[2].group = 1;
	c.ms.members[2].priority = 5;
	c.ms.members[3].group = 2;
	for (uint32_t i = 1; i <= 4; i++)
		th_start(&c, i, 0);
	for (int k = 0; k < 400 && th_leader(&c) == NULL; k++)
		th_run_filtered(&c, 5, 5, th_only_1_campaigns, NULL);
	l = th_leader(&c);
	if (!CHECK(l && l->id == 1, "node 1 (group 1, priority 0) leads first"))
		return;
	th_run(&c, 4 * INTERVAL_MS, 5);
	r = th_report(&c, 1, DCF_ADMIN_TRANSFER_LEADER);
	CHECK(th_leader(&c) && th_leader(&c)->id == 3 && r && r->node_id == 3 && r->rc == DCF_OK,
		  "of nodes 2 and 3 (both priority 5), node 3 of the leader's group 1 gets leadership (leader %u)",
		  th_leader(&c) ? th_leader(&c)->id : 0);
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_run_mode_none(void)
{
	th_cluster	c;
	th_node    *l;

	setup(&c, 3);
	c.opts.run_mode = DCF_RUN_MODE_NONE;
	c.ms.members[2].priority = 5;
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	th_run(&c, 3 * T_MS, 5);
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_PROMOTE, 0, 0) == DCF_OK, "node 1 is promoted");
	th_run(&c, 100, 5);
	l = th_leader(&c);
	if (!CHECK(l && l->id == 1, "node 1 leads after the promotion"))
		return;
	th_run(&c, 20 * INTERVAL_MS, 5);
	CHECK(th_leader(&c) == l && count_auto(l, DCF_OK) + count_auto(l, DCF_ERR_TIMEOUT) == 0,
		  "in run_mode 2 no automatic transfer to node 3 happens in 20 intervals");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

int
main(void)
{
	test_hand_over();
	test_own_group_first();
	test_run_mode_none();
	return unit_done();
}
