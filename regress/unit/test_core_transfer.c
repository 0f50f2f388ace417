/*
 * test_core_transfer.c — scripted scenarios for leader transfer
 * (switchover, issue 7, point 7):
 *   - to a lagging target: the leader stops taking proposals and
 *     membership changes, brings the target up to date, and only then
 *     sends TIMEOUT_NOW; the target campaigns at once with the TRANSFER
 *     flag and wins although the voters are in their lease; the old leader
 *     reports the transfer done when it hears from the new leader;
 *   - aborted on timeout (target unreachable): reported, proposals taken
 *     again;
 *   - aborted after TIMEOUT_NOW was lost: reported, and the leader holds
 *     no lease until a NOOP it appended after the abort commits; the
 *     TIMEOUT_NOW arriving after that NOOP is ignored;
 *   - refusals: a LOGGER, a non-member, asked of a follower, a second
 *     transfer; a transfer to itself is done at once.
 */
#include "test_core_harness.h"

#define T_MS 100

typedef struct watch
{
	th_cluster *c;
	uint32_t	cut;			/* node cut off, 0 = none */
	bool		drop_timeout_now;
	bool		held;			/* the dropped TIMEOUT_NOW, kept for later */
	dcf_msg		held_msg;
	int			timeout_now;
	bool		target_had_index;	/* at the TIMEOUT_NOW */
	int			transfer_votes;	/* VOTE_REQ flagged TRANSFER */
} watch;

static bool
watch_filter(const dcf_msg *m, void *arg)
{
	watch	   *w = arg;

	if (w->cut && (m->from == w->cut || m->to == w->cut))
		return false;
	if (m->type == DCF_MSG_TIMEOUT_NOW)
	{
		w->timeout_now++;
		w->target_had_index = th_get(w->c, m->to)->n >= m->index && th_get(w->c, m->from)->n == m->index;
		if (w->drop_timeout_now)
		{
			w->held = true;
			w->held_msg = *m;
			return false;
		}
	}
	if (m->type == DCF_MSG_VOTE_REQ && (m->flags & DCF_MSG_F_TRANSFER))
		w->transfer_votes++;
	return true;
}

static void
run_watched(th_cluster *c, watch *w, uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += 5)
	{
		th_advance(c, 5);
		th_deliver(c, watch_filter, w, 0);
	}
}

static void
test_switchover(void)
{
	th_cluster	c;
	th_node    *l;
	watch		w;
	dcf_status	st;
	const dcf_admin_report *r;
	uint64_t	t_heal;

	memset(&w, 0, sizeof(w));
	w.c = &c;
	th_init(&c, 3);
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	l = th_elect_1(&c);
	if (!CHECK(l && l->id == 1, "node 1 leads"))
		return;
	w.cut = 3;
	for (int k = 0; k < 20; k++)
		th_propose(&c, 1, (uint8_t) k, 50);
	run_watched(&c, &w, 30);
	CHECK(th_get(&c, 3)->n < l->n, "node 3 lags (%llu of %llu)", (unsigned long long) th_get(&c, 3)->n,
		  (unsigned long long) l->n);

	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_TRANSFER_LEADER, 3, 1000) == DCF_OK, "transfer to node 3 accepted");
	dcf_node_status(l->node, &st);
	CHECK(st.transfer_target == 3 && th_propose(&c, 1, 0xee, 10) == 0 &&
		  th_admin_simple(&c, 1, DCF_ADMIN_CHANGE_PRIORITY, 2, 1) == DCF_ERR_STATE,
		  "during the transfer the leader refuses proposals and membership changes");
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_TRANSFER_LEADER, 2, 0) == DCF_ERR_STATE, "a second transfer is refused");
	run_watched(&c, &w, 50);
	CHECK(w.timeout_now == 0 && th_leader(&c) == l, "while node 3 is unreachable no TIMEOUT_NOW is sent");

	w.cut = 0;
	t_heal = c.now;
	run_watched(&c, &w, 60);
	CHECK(w.timeout_now == 1 && w.target_had_index,
		  "node 3 reachable: it is brought up to date, then TIMEOUT_NOW goes out with the leader's last index");
	CHECK(th_leader(&c) && th_leader(&c)->id == 3 && w.transfer_votes > 0 && c.now - t_heal < T_MS,
		  "node 3 campaigns with the TRANSFER flag and wins at once, though the voters are in their lease");
	r = th_report(&c, 1, DCF_ADMIN_TRANSFER_LEADER);
	CHECK(r && r->rc == DCF_OK && r->node_id == 3 && !r->automatic,
		  "node 1 reports the transfer done (%s)", r ? r->reason : "none");
	CHECK(th_logs_equal(&c, 1, 3, l->n), "nothing was lost: node 3 holds all of node 1's log");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_aborts(void)
{
	th_cluster	c;
	th_node    *l;
	watch		w;
	const dcf_admin_report *r;
	dcf_status	st;
	uint64_t	fence;

	memset(&w, 0, sizeof(w));
	w.c = &c;
	th_init(&c, 4);
	c.ms.members[3].role = DCF_ROLE_LOGGER;
	for (uint32_t i = 1; i <= 4; i++)
		th_start(&c, i, 0);
	l = th_elect_1(&c);
	if (!CHECK(l && l->id == 1, "node 1 leads"))
		return;

	/* refusals */
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_TRANSFER_LEADER, 4, 0) == DCF_ERR_INVALID, "transfer to a LOGGER refused");
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_TRANSFER_LEADER, 9, 0) == DCF_ERR_INVALID, "transfer to a non-member refused");
	CHECK(th_admin_simple(&c, 2, DCF_ADMIN_TRANSFER_LEADER, 3, 0) == DCF_ERR_STATE, "transfer asked of a follower refused");
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_TRANSFER_LEADER, 1, 0) == DCF_OK &&
		  th_report(&c, 1, DCF_ADMIN_TRANSFER_LEADER)->rc == DCF_OK && th_leader(&c) == l,
		  "transfer to the leader itself is done at once");

	/* the target cannot be reached: aborted on timeout */
	w.cut = 3;
	th_propose(&c, 1, 1, 10);
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_TRANSFER_LEADER, 3, 200) == DCF_OK, "transfer to node 3 (200 ms) accepted");
	run_watched(&c, &w, 195);
	CHECK(th_leader(&c) == l && th_report(&c, 1, DCF_ADMIN_TRANSFER_LEADER)->node_id == 1,
		  "no outcome before the timeout");
	run_watched(&c, &w, 10);
	r = th_report(&c, 1, DCF_ADMIN_TRANSFER_LEADER);
	CHECK(r && r->node_id == 3 && r->rc == DCF_ERR_TIMEOUT,
		  "after 200 ms it is aborted and reported: %s", r ? r->reason : "none");
	CHECK(th_propose(&c, 1, 2, 10) > 0 && w.timeout_now == 0, "proposals are taken again; no TIMEOUT_NOW was sent");
	dcf_node_status(l->node, &st);
	CHECK(st.transfer_target == DCF_NODE_NONE && dcf_node_lease_valid(l->node, c.now),
		  "no transfer in status, and the leader kept its lease");

	/* TIMEOUT_NOW is lost: aborted, and the lease waits for a fresh commit */
	w.cut = 0;
	run_watched(&c, &w, 50);
	w.drop_timeout_now = true;
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_TRANSFER_LEADER, 2, 100) == DCF_OK, "transfer to node 2 (100 ms) accepted");
	run_watched(&c, &w, 10);
	CHECK(w.timeout_now == 1 && !dcf_node_lease_valid(l->node, c.now),
		  "TIMEOUT_NOW went out (and was lost): the leader gave up its lease");
	/* ticks, then deliveries: stop right after the tick that aborts */
	for (int k = 0; k < 30; k++)
	{
		th_advance(&c, 5);
		if (th_report(&c, 1, DCF_ADMIN_TRANSFER_LEADER)->node_id == 2)
			break;
		th_deliver(&c, watch_filter, &w, 0);
	}
	r = th_report(&c, 1, DCF_ADMIN_TRANSFER_LEADER);
	fence = l->n;
	CHECK(r && r->node_id == 2 && r->rc == DCF_ERR_TIMEOUT && l->role == DCF_ROLE_LEADER &&
		  l->log[fence].type == DCF_ENTRY_NOOP && l->commit < fence && !dcf_node_lease_valid(l->node, c.now),
		  "aborted (%s): node 1 appended NOOP %llu and holds no lease before it commits",
		  r ? r->reason : "none", (unsigned long long) fence);
	run_watched(&c, &w, 30);
	CHECK(l->commit >= fence && dcf_node_lease_valid(l->node, c.now), "once it commits, the lease is back (commit %llu, fence %llu, role %s)", (unsigned long long) l->commit, (unsigned long long) fence, dcf_role_name(l->role));
	/* the TIMEOUT_NOW was only late: it arrives after the NOOP that aborted the transfer */
	if (CHECK(w.held && th_get(&c, 2)->n >= fence, "node 2 holds the NOOP; the late TIMEOUT_NOW arrives now"))
	{
		dcf_event	ev;

		memset(&ev, 0, sizeof(ev));
		ev.type = DCF_EVENT_MESSAGE;
		ev.now_ms = c.now;
		ev.u.message = &w.held_msg;
		th_step(&c, th_get(&c, 2), &ev);
		run_watched(&c, &w, 30);
		CHECK(th_get(&c, 2)->role == DCF_ROLE_FOLLOWER && th_leader(&c) == l && w.transfer_votes == 0 &&
			  dcf_node_lease_valid(l->node, c.now),
			  "node 2 ignores it (an entry of the leader's term follows the index it names): node 1 keeps leading with its lease");
	}
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

int
main(void)
{
	test_switchover();
	test_aborts();
	return unit_done();
}
