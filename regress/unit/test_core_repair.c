/*
 * test_core_repair.c — a node whose storage lost entries it had
 * acknowledged (S1 in dcf_core.h, R9 in dcf_replication.c), scripted on the
 * in-memory harness:
 *
 *   - the experiment of issue 15: a follower restarted with its last
 *     acknowledged entry gone rejoins: the leader sees its log went
 *     backwards, resets its progress (and says so), sends the entry again,
 *     and the follower's repair index clears once it holds it;
 *   - a node in repair refuses votes and never campaigns, so a committed
 *     entry it lost cannot be outvoted by a node that never had it (and
 *     the same scenario without the repair index does lose it, which shows
 *     what the rule prevents);
 *   - a leader does not count a repairing follower's acknowledgements
 *     toward a commit;
 *   - R10: a follower the leader can no longer serve (its next entries
 *     recycled: STALE) is replicated to again once it was rebuilt (dcf_ctl
 *     build: its log starts past the leader's first index) and reports the
 *     applied index its new log starts from; not before;
 *   - a node rebuilt after its metadata was lost (S2,
 *     dcf_hard_state_rebuilt) from a copy older than what it had
 *     acknowledged: it takes the leader's term and vote and repairs up to
 *     the leader's last index, so the leader's death cannot elect a node
 *     without a committed entry (and the build without S2 does: control).
 */
#include "test_core_harness.h"

/* Drops the node's entries above `keep` and sets its repair index, as the
 * storage layer does after finding them damaged at load. */
static void
lose_entries(th_cluster *c, uint32_t id, uint64_t keep, uint64_t repair)
{
	th_node    *tn = th_get(c, id);

	for (uint64_t i = keep + 1; i <= tn->n; i++)
	{
		free(tn->log[i].payload);
		tn->log[i].payload = NULL;
	}
	tn->n = keep;
	tn->hs.repair_index = repair;
}

static void
test_rejoin(void)
{
	th_cluster	c;
	th_node    *l;
	th_node    *f;
	dcf_status	st;
	uint64_t	last = 0;

	th_init(&c, 3);
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	l = th_elect_1(&c);
	if (!CHECK(l != NULL && l->id == 1, "node 1 leads"))
		return;
	for (int k = 0; k < 10; k++)
		last = th_propose(&c, 1, (uint8_t) k, 20);
	th_run(&c, 30, 5);
	f = th_get(&c, 3);
	CHECK(f->n == last && f->commit == last, "follower 3 holds and commits %llu entries", (unsigned long long) last);

	/* follower 3 stops; its last entry is found damaged at load and cut */
	th_crash(&c, 3);
	lose_entries(&c, 3, last - 1, last);
	th_start(&c, 3, last - 1);
	dcf_node_status(f->node, &st);
	CHECK(st.repair_index == last, "restarted, node 3 says it repairs up to %llu", (unsigned long long) last);
	th_run(&c, 300, 5);
	CHECK(l->n_regressions >= 1 && l->last_regress.node_id == 3 && l->last_regress.match_index == last &&
		  l->last_regress.hint_index == last - 1 && l->last_regress.repair,
		  "the leader reports that node 3's log went back from match %llu to %llu (%u reports)",
		  (unsigned long long) l->last_regress.match_index, (unsigned long long) l->last_regress.hint_index,
		  l->n_regressions);
	CHECK(f->n == last && th_logs_equal(&c, 1, 3, last), "node 3 holds every entry again");
	CHECK(f->hs.repair_index == 0, "its repair index cleared, durably (hard state)");
	dcf_node_status(f->node, &st);
	CHECK(st.repair_index == 0 && st.commit_index == last, "and it is back to normal, commit %llu",
		  (unsigned long long) st.commit_index);
	last = th_propose(&c, 1, 0x55, 20);
	th_run(&c, 30, 5);
	CHECK(f->n == last && f->commit == last, "it receives new writes");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

/* Filter: nothing to or from node 2. */
static bool
cut_2(const dcf_msg *m, void *arg)
{
	(void) arg;
	return m->from != 2 && m->to != 2;
}

/*
 * 1 leads; entries commit on 1 and 3 while 2 is cut off; 1 dies; 3 loses
 * the newest committed entries.  Returns the last committed index, or 0.
 */
static uint64_t
setup_lost_commit(th_cluster *c, uint64_t *short_last)
{
	th_node    *l;
	uint64_t	last = 0;

	th_init(c, 3);
	for (uint32_t i = 1; i <= 3; i++)
		th_start(c, i, 0);
	l = th_elect_1(c);
	if (l == NULL || l->id != 1)
		return 0;
	last = th_propose(c, 1, 1, 20);
	th_run(c, 30, 5);
	*short_last = last;			/* 2 holds this much */
	for (int k = 0; k < 5; k++)
		last = th_propose(c, 1, (uint8_t) (10 + k), 20);
	for (int k = 0; k < 6; k++)
		th_run_filtered(c, 5, 5, cut_2, NULL);
	if (th_get(c, 1)->commit != last || th_get(c, 3)->n != last || th_get(c, 2)->n != *short_last)
		return 0;
	th_crash(c, 1);
	th_crash(c, 3);
	return last;
}

static void
test_no_vote_while_repairing(void)
{
	th_cluster	c;
	uint64_t	short_last = 0;
	uint64_t	last;
	th_node    *l;

	/* without the repair index: node 2 wins with 3's vote, the commit is lost */
	last = setup_lost_commit(&c, &short_last);
	CHECK(last > short_last && short_last > 0, "entries %llu..%llu committed on nodes 1 and 3 only",
		  (unsigned long long) short_last + 1, (unsigned long long) last);
	lose_entries(&c, 3, short_last, 0);
	th_start(&c, 3, short_last);
	l = th_elect(&c, 3000);
	CHECK(l != NULL && l->n < last,
		  "control: a node that forgets it lost entries elects a leader without committed entry %llu",
		  (unsigned long long) last);
	th_destroy(&c);

	/* with it: nobody is elected until node 1 is back */
	last = setup_lost_commit(&c, &short_last);
	lose_entries(&c, 3, short_last, last);
	th_start(&c, 3, short_last);
	CHECK(th_nobody_leads(&c, 3000), "node 3 repairing refuses its vote: node 2 cannot lead");
	CHECK(th_get(&c, 3)->hs.vote == DCF_NODE_NONE || th_get(&c, 3)->hs.vote == 1,
		  "node 3 voted for nobody new");
	th_start(&c, 1, 0);
	l = th_elect(&c, 3000);
	CHECK(l != NULL && l->id == 1, "node 1 back: it is elected (by node 2; node 3 still abstains)");
	th_run(&c, 300, 5);
	for (uint32_t i = 2; i <= 3; i++)
		CHECK(th_get(&c, i)->n >= last && th_logs_equal(&c, 1, i, last),
			  "node %u holds every committed entry", i);
	CHECK(th_get(&c, 3)->hs.repair_index == 0, "node 3 finished its repair");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_no_commit_count(void)
{
	th_cluster	c;
	th_node    *l;
	uint64_t	last = 0;
	uint64_t	before;
	dcf_status	st;
	bool		flagged = false;

	th_init(&c, 3);
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	l = th_elect_1(&c);
	if (!CHECK(l != NULL, "a leader"))
		return;
	last = th_propose(&c, 1, 1, 20);
	th_run(&c, 30, 5);
	before = l->commit;
	CHECK(before == last, "committed %llu", (unsigned long long) before);
	/* node 2 down; node 3 restarts repairing up to an index far ahead */
	th_crash(&c, 2);
	th_crash(&c, 3);
	th_get(&c, 3)->hs.repair_index = last + 1000;
	th_start(&c, 3, last);
	for (int k = 0; k < 5; k++)
		last = th_propose(&c, 1, (uint8_t) k, 20);
	th_run(&c, 100, 5);
	dcf_node_status(l->node, &st);
	for (uint32_t p = 0; p < st.n_peers; p++)
		if (st.peers[p].node_id == 3)
			flagged = st.peers[p].repair && st.peers[p].match_index == last;
	CHECK(flagged, "the leader sees node 3 repairing, matching %llu", (unsigned long long) last);
	CHECK(l->commit == before, "its acknowledgements count toward no commit (commit stays %llu)",
		  (unsigned long long) l->commit);
	th_start(&c, 2, 0);
	th_run(&c, 300, 5);
	CHECK(l->commit == last, "node 2 back: commit reaches %llu", (unsigned long long) last);
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

/* The leader recycles its log below `first` (as dcf_log_truncate_prefix does). */
static void
recycle(th_cluster *c, uint32_t id, uint64_t first)
{
	th_node    *tn = th_get(c, id);

	tn->prev_term = tn->log[first - 1].term;
	tn->first = first;
}

static bool
peer_state(th_node *l, uint32_t id, dcf_progress_state *state, uint64_t *match)
{
	dcf_status	st;

	dcf_node_status(l->node, &st);
	for (uint32_t p = 0; p < st.n_peers; p++)
		if (st.peers[p].node_id == id)
		{
			*state = st.peers[p].state;
			*match = st.peers[p].match_index;
			return true;
		}
	return false;
}

static void
test_rebuilt_stale_peer(bool s2)
{
	th_cluster	c;
	th_node    *l;
	th_node    *f;
	uint64_t	last = 0;
	uint64_t	behind;
	uint64_t	base;
	uint64_t	match = 0;
	dcf_progress_state state = DCF_PROGRESS_PROBE;
	bool		found;

	th_init(&c, 3);
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	l = th_elect_1(&c);
	if (!CHECK(l != NULL && l->id == 1, "node 1 leads"))
		return;
	last = th_propose(&c, 1, 1, 20);
	th_run(&c, 30, 5);
	f = th_get(&c, 3);
	behind = f->n;
	/* node 3 down while the log grows and is recycled past it */
	th_crash(&c, 3);
	for (int k = 0; k < 20; k++)
		last = th_propose(&c, 1, (uint8_t) k, 20);
	th_run(&c, 30, 5);
	base = last - 5;
	recycle(&c, 1, base);
	recycle(&c, 2, base);
	th_start(&c, 3, behind);
	th_run(&c, 200, 5);
	found = peer_state(l, 3, &state, &match);
	CHECK(found && state == DCF_PROGRESS_STALE,
		  "node 3 back with its log at %llu, below the leader's first index %llu: STALE",
		  (unsigned long long) behind, (unsigned long long) base);
	CHECK(f->n == behind, "and nothing is sent to it");

	/* rebuilt: its log starts at base (the copy), applied base - 1 */
	th_crash(&c, 3);
	f->first = base;
	f->prev_term = th_get(&c, 1)->log[base - 1].term;
	f->n = base - 1;
	if (s2)
	{
		/* S2: it repairs up to the leader's last index (R10 must not wait for that) */
		dcf_hard_state old = f->hs;

		dcf_hard_state_rebuilt(&f->hs, &old, f->prev_term, 1, l->term, l->n);
		CHECK(f->hs.repair_index == last && f->hs.term == l->term,
			  "S2: rebuilt with its old term %llu and a repair bound at %llu",
			  (unsigned long long) f->hs.term, (unsigned long long) f->hs.repair_index);
	}
	else
	{
		f->hs.term = f->prev_term;
		f->hs.vote = DCF_NODE_NONE;
	}
	th_start(&c, 3, base - 1);
	th_run(&c, 200, 5);
	found = peer_state(l, 3, &state, &match);
	CHECK(found && state == DCF_PROGRESS_REPLICATE && match == last,
		  "rebuilt, node 3 is replicated to again (state %s, match %llu of %llu)",
		  dcf_progress_state_name(state), (unsigned long long) match, (unsigned long long) last);
	CHECK(f->n == last && f->commit == last, "it holds and commits every entry from %llu to %llu",
		  (unsigned long long) base, (unsigned long long) last);
	last = th_propose(&c, 1, 0x77, 20);
	th_run(&c, 30, 5);
	CHECK(f->n == last && f->commit == last, "and receives new writes");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

/*
 * 1 leads; entries commit on 1 and 3 while 2 is cut off (2 holds
 * short_last); 3 stops and loses its metadata; it is rebuilt from leader 1
 * with a copy up to short_last (a base backup older than what it had
 * acknowledged) and the hard state `rebuilt` computes; 1 dies before 3 has
 * caught up; 3 starts.  Returns the last committed index, or 0.
 */
static uint64_t
setup_rebuild(th_cluster *c, uint64_t *short_last, bool s2)
{
	th_node    *l;
	th_node    *n3;
	uint64_t	last = 0;
	uint64_t	copy_term;

	th_init(c, 3);
	for (uint32_t i = 1; i <= 3; i++)
		th_start(c, i, 0);
	l = th_elect_1(c);
	if (l == NULL || l->id != 1)
		return 0;
	last = th_propose(c, 1, 1, 20);
	th_run(c, 30, 5);
	*short_last = last;
	for (int k = 0; k < 5; k++)
		last = th_propose(c, 1, (uint8_t) (10 + k), 20);
	for (int k = 0; k < 6; k++)
		th_run_filtered(c, 5, 5, cut_2, NULL);
	if (l->commit != last || th_get(c, 3)->n != last || th_get(c, 2)->n != *short_last)
		return 0;
	th_crash(c, 3);
	/* dcf_ctl build: the copy (entries up to short_last, all committed) */
	lose_entries(c, 3, *short_last, 0);
	n3 = th_get(c, 3);
	copy_term = n3->log[*short_last].term;
	if (s2)
		dcf_hard_state_rebuilt(&n3->hs, NULL, copy_term, 1, l->term, l->n);
	else
	{
		/* the build without S2: the copy's term, no vote, no repair bound */
		memset(&n3->hs, 0, sizeof(n3->hs));
		n3->hs.term = copy_term;
	}
	th_crash(c, 1);
	th_start(c, 3, *short_last);
	return last;
}

static void
test_rebuilt_node(void)
{
	th_cluster	c;
	uint64_t	short_last = 0;
	uint64_t	last;
	uint64_t	term1;
	th_node    *l;
	dcf_status	st;

	last = setup_rebuild(&c, &short_last, false);
	CHECK(last > short_last && short_last > 0, "entries %llu..%llu committed on nodes 1 and 3 only",
		  (unsigned long long) short_last + 1, (unsigned long long) last);
	l = th_elect(&c, 3000);
	CHECK(l != NULL && l->n < last,
		  "control: a node rebuilt with the copy's term and no repair bound elects a leader without committed entry %llu",
		  (unsigned long long) last);
	th_destroy(&c);

	last = setup_rebuild(&c, &short_last, true);
	term1 = th_get(&c, 1)->term;
	CHECK(th_get(&c, 3)->hs.term == term1 && th_get(&c, 3)->hs.vote == 1 &&
		  th_get(&c, 3)->hs.repair_index == last && th_get(&c, 3)->hs.repair_term == term1,
		  "rebuilt: node 3 starts in the leader's term %llu with the leader as its vote, repairing up to %llu",
		  (unsigned long long) term1, (unsigned long long) last);
	dcf_node_status(th_get(&c, 3)->node, &st);
	CHECK(st.repair_index == last, "it says it repairs up to %llu", (unsigned long long) st.repair_index);
	CHECK(th_nobody_leads(&c, 3000), "it refuses node 2 its vote: nobody leads while node 1 is down");
	th_start(&c, 1, 0);
	l = th_elect(&c, 3000);
	CHECK(l != NULL && l->id == 1, "node 1 back: it is elected");
	th_run(&c, 300, 5);
	for (uint32_t i = 2; i <= 3; i++)
		CHECK(th_get(&c, i)->n >= last && th_logs_equal(&c, 1, i, last),
			  "node %u holds every committed entry", i);
	CHECK(th_get(&c, 3)->hs.repair_index == 0, "node 3 finished its repair");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

int
main(void)
{
	test_rejoin();
	test_no_vote_while_repairing();
	test_no_commit_count();
	test_rebuilt_stale_peer(false);
	test_rebuilt_stale_peer(true);
	test_rebuilt_node();
	return unit_done();
}
