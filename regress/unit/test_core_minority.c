/*
 * test_core_minority.c — scripted scenarios for work_mode minority (issue
 * 7, point 5), following the operator procedure of extension/core/README.md
 * and then showing the risk it documents:
 *   - a majority is lost: the survivors cannot elect; switched to minority
 *     with vote_num, they elect a leader whose term jumps by
 *     DCF_MINORITY_TERM_STEP and commit with vote_num copies; membership
 *     changes are refused meanwhile;
 *   - messages of a node in minority carry the MINORITY flag; a node in
 *     normal mode neither counts toward a minority leader's commit nor
 *     elects a minority candidate (votes and acknowledgements of the other
 *     mode do not count);
 *   - the lost nodes come back (in run_mode 2, so they cannot elect among
 *     themselves), follow the minority leader because of its term, catch
 *     up; the survivors switch back to normal and a normal election keeps
 *     every entry committed in minority;
 *   - the risk: two sides each switched to minority both elect and commit
 *     different entries at the same index (split brain).
 */
#include "test_core_harness.h"

#define T_MS 100

typedef struct flag_watch
{
	uint32_t	mask;			/* senders watched */
	int			with;
	int			without;
} flag_watch;

static bool
watch_flags(const dcf_msg *m, void *arg)
{
	flag_watch *fw = arg;

	if ((fw->mask >> m->from) & 1)
	{
		if (m->flags & DCF_MSG_F_MINORITY)
			fw->with++;
		else
			fw->without++;
	}
	return true;
}

/* messages between the two sides (bit set / not set in *arg) are dropped */
static bool
split(const dcf_msg *m, void *arg)
{
	uint32_t	side = *(uint32_t *) arg;

	return ((side >> m->from) & 1) == ((side >> m->to) & 1);
}

static dcf_rc
set_mode(th_cluster *c, uint32_t id, dcf_work_mode mode, uint32_t vote_num)
{
	dcf_admin_request req;
	dcf_rc		rc;

	memset(&req, 0, sizeof(req));
	req.kind = DCF_ADMIN_SET_WORK_MODE;
	req.value = mode;
	req.vote_num = vote_num;
	rc = th_admin(c, id, &req, NULL);
	if (rc == DCF_OK)
	{
		/* the host keeps the setting for restarts */
		th_opts(c, id)->work_mode = mode;
		th_opts(c, id)->vote_num = mode == DCF_WORK_MODE_MINORITY ? vote_num : 0;
	}
	return rc;
}

static uint64_t
max_term(th_cluster *c)
{
	uint64_t	t = 0;

	for (int i = 0; i < c->n; i++)
		if (c->nodes[i].hs.term > t)
			t = c->nodes[i].hs.term;
	return t;
}

static void
test_lost_majority(void)
{
	th_cluster	c;
	th_node    *l;
	uint64_t	t0;
	uint64_t	idx = 0;
	uint64_t	minority_commit;
	flag_watch	fw = {(1u << 1) | (1u << 2), 0, 0};
	dcf_status	st;

	th_init(&c, 5);
	for (uint32_t i = 1; i <= 5; i++)
		th_start(&c, i, 0);
	for (int k = 0; k < 400 && th_leader(&c) == NULL; k++)
		th_run_filtered(&c, 5, 5, th_only_1_campaigns, NULL);
	if (!CHECK(th_leader(&c) && th_leader(&c)->id == 1, "node 1 leads five nodes"))
		return;
	for (int k = 0; k < 3; k++)
		idx = th_propose(&c, 1, (uint8_t) k, 20);
	th_run(&c, 50, 5);

	/* the majority is lost */
	th_crash(&c, 3);
	th_crash(&c, 4);
	th_crash(&c, 5);
	th_run(&c, 2 * T_MS, 5);	/* node 1 steps down (check-quorum) */
	CHECK(th_nobody_leads(&c, 10 * T_MS), "nodes 1 and 2 alone (2 of 5) have no leader for 10 election timeouts");
	t0 = max_term(&c);

	CHECK(set_mode(&c, 1, DCF_WORK_MODE_MINORITY, 6) == DCF_ERR_INVALID,
		  "vote_num 6 (above the voters' weight 5) is refused");
	CHECK(set_mode(&c, 1, DCF_WORK_MODE_MINORITY, 2) == DCF_OK &&
		  set_mode(&c, 2, DCF_WORK_MODE_MINORITY, 2) == DCF_OK, "nodes 1 and 2 switch to minority, vote_num 2");
	dcf_node_status(th_get(&c, 1)->node, &st);
	CHECK(st.work_mode == DCF_WORK_MODE_MINORITY && st.vote_num == 2, "status shows minority mode, vote_num 2");
	l = th_elect(&c, 3000);
	if (!CHECK(l != NULL, "the minority elects a leader"))
		return;
	CHECK(l->term >= t0 + (1ULL << 32),
		  "its term %llu jumped by at least 2^32 over the highest term before (%llu)",
		  (unsigned long long) l->term, (unsigned long long) t0);
	idx = th_propose(&c, l->id, 0x42, 20);
	for (int k = 0; k < 10; k++)
	{
		th_advance(&c, 5);
		th_deliver(&c, watch_flags, &fw, 0);
	}
	CHECK(l->commit == idx, "and commits entry %llu with vote_num = 2 copies", (unsigned long long) idx);
	CHECK(fw.with > 0 && fw.without == 0, "all %d messages of nodes 1 and 2 carry the MINORITY flag", fw.with);
	CHECK(th_add_member(&c, l->id, 6, DCF_ROLE_FOLLOWER) == DCF_ERR_STATE,
		  "a membership change is refused in minority mode");

	/* node 3 comes back in normal mode (run_mode 2: it cannot campaign) */
	th_opts(&c, 3)->run_mode = DCF_RUN_MODE_NONE;
	th_opts(&c, 4)->run_mode = DCF_RUN_MODE_NONE;
	th_opts(&c, 5)->run_mode = DCF_RUN_MODE_NONE;
	th_start(&c, 3, 0);
	th_run(&c, 100, 5);
	CHECK(th_get(&c, 3)->term == l->term && th_get(&c, 3)->leader == l->id && th_get(&c, 3)->n == l->n,
		  "node 3 (normal mode) follows the minority leader of the higher term and catches up");
	{
		uint32_t	other = l->id == 1 ? 2 : 1;
		uint64_t	c0 = l->commit;

		th_crash(&c, other);
		idx = th_propose(&c, l->id, 0x43, 20);
		th_run(&c, 30, 5);
		CHECK(th_get(&c, 3)->n >= idx && l->commit == c0,
			  "node %u down: node 3's copy (normal mode) does not count, entry %llu stays uncommitted",
			  other, (unsigned long long) idx);
		th_run(&c, 2 * T_MS, 5);
		CHECK(th_nobody_leads(&c, 10 * T_MS),
			  "the minority leader steps down and node 3's votes (normal mode) elect no minority candidate");
		th_start(&c, other, 0);
	}
	l = th_elect(&c, 3000);
	if (!CHECK(l && (l->id == 1 || l->id == 2), "node %u back: the minority elects again", l ? l->id : 0))
		return;
	th_start(&c, 4, 0);
	th_start(&c, 5, 0);
	th_run(&c, 200, 5);
	minority_commit = l->commit;
	{
		bool		all = true;

		for (uint32_t i = 1; i <= 5; i++)
			all &= th_logs_equal(&c, l->id, i, minority_commit);
		CHECK(all, "nodes 3, 4, 5 came back in run_mode 2 and hold every entry up to %llu",
			  (unsigned long long) minority_commit);
	}

	/* back to normal */
	CHECK(set_mode(&c, 1, DCF_WORK_MODE_NORMAL, 0) == DCF_OK && set_mode(&c, 2, DCF_WORK_MODE_NORMAL, 0) == DCF_OK,
		  "nodes 1 and 2 switch back to normal");
	for (uint32_t i = 3; i <= 5; i++)
		th_admin_simple(&c, i, DCF_ADMIN_SET_RUN_MODE, 0, DCF_RUN_MODE_AUTO);
	l = th_elect(&c, 3000);
	if (CHECK(l != NULL, "a normal election succeeds (node %u)", l ? l->id : 0))
	{
		bool		all = true;

		idx = th_propose(&c, l->id, 0x44, 20);
		th_run(&c, 50, 5);
		for (uint32_t i = 1; i <= 5; i++)
			all &= th_logs_equal(&c, l->id, i, idx) && th_get(&c, i)->commit >= idx;
		CHECK(all, "every node holds every entry committed in minority and commits new ones (%llu)",
			  (unsigned long long) idx);
	}
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_two_minorities(void)
{
	th_cluster	c;
	uint32_t	side = (1u << 1) | (1u << 2);
	th_node    *a = NULL,
			   *b = NULL;
	uint64_t	ia,
				ib;

	th_init(&c, 5);
	for (uint32_t i = 1; i <= 5; i++)
		th_start(&c, i, 0);
	th_elect(&c, 3000);
	th_run(&c, 50, 5);
	/* the network splits {1, 2} | {3, 4, 5}; each side is told the other is lost */
	th_run_filtered(&c, 3 * T_MS, 5, split, &side);
	for (uint32_t i = 1; i <= 5; i++)
		set_mode(&c, i, DCF_WORK_MODE_MINORITY, 2);
	for (int k = 0; k < 600 && (a == NULL || b == NULL); k++)
	{
		th_run_filtered(&c, 5, 5, split, &side);
		a = b = NULL;
		for (uint32_t i = 1; i <= 5; i++)
		{
			th_node    *tn = th_get(&c, i);

			if (tn->role == DCF_ROLE_LEADER)
			{
				if (i <= 2)
					a = tn;
				else
					b = tn;
			}
		}
	}
	if (!CHECK(a && b, "both sides in minority elect a leader (nodes %u and %u)", a ? a->id : 0, b ? b->id : 0))
		return;
	ia = th_propose(&c, a->id, 0xaa, 20);
	ib = th_propose(&c, b->id, 0xbb, 20);
	th_run_filtered(&c, 50, 5, split, &side);
	CHECK(a->commit >= ia && b->commit >= ib && !th_logs_equal(&c, a->id, b->id, ia < ib ? ia : ib),
		  "the documented risk: both sides commit (acknowledge) entries %llu and %llu on logs that differ at or before index %llu",
		  (unsigned long long) ia, (unsigned long long) ib, (unsigned long long) (ia < ib ? ia : ib));
	th_destroy(&c);
}

/*
 * E6: a node switched to minority mode ignores the appends of a leader in
 * normal mode (the majority the operator declared lost), so messages still
 * in flight cannot lengthen its log after the operator chose the survivors;
 * back in normal mode it follows that leader again.
 */
static void
test_minority_ignores_normal_leader(void)
{
	th_cluster	c;
	uint64_t	before;
	uint64_t	idx = 0;

	th_init(&c, 3);
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	for (int k = 0; k < 400 && th_leader(&c) == NULL; k++)
		th_run_filtered(&c, 5, 5, th_only_1_campaigns, NULL);
	if (!CHECK(th_leader(&c) && th_leader(&c)->id == 1, "node 1 leads three nodes"))
		return;
	th_run(&c, 50, 5);
	CHECK(set_mode(&c, 2, DCF_WORK_MODE_MINORITY, 2) == DCF_OK, "node 2 switches to minority, vote_num 2");
	before = th_get(&c, 2)->n;
	for (int k = 0; k < 5; k++)
	{
		idx = th_propose(&c, 1, (uint8_t) (0x40 + k), 20);
		th_run(&c, 10, 5);
	}
	CHECK(idx > before && th_get(&c, 3)->n >= idx, "node 3 (normal mode) takes the normal leader's entries up to %llu",
		  (unsigned long long) idx);
	CHECK(th_get(&c, 2)->n == before, "node 2 (minority mode) took none of them: its log stays at %llu (now %llu)",
		  (unsigned long long) before, (unsigned long long) th_get(&c, 2)->n);
	CHECK(th_leader(&c) && th_leader(&c)->id == 1, "node 1 still leads");
	CHECK(set_mode(&c, 2, DCF_WORK_MODE_NORMAL, 0) == DCF_OK, "node 2 switches back to normal");
	th_run(&c, 100, 5);
	CHECK(th_get(&c, 2)->n >= idx && th_logs_equal(&c, 1, 2, idx), "and then catches up with node 1 up to %llu",
		  (unsigned long long) idx);
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

int
main(void)
{
	test_lost_majority();
	test_two_minorities();
	test_minority_ignores_normal_leader();
	return unit_done();
}
