/*
 * test_core_notify.c — how followers learn a new commit index (R5 in
 * dcf_replication.c): with commit_notify_ms > 0 the leader does not send an
 * extra message per follower per commit; the next append carries the
 * commit index, and a follower that gets nothing else hears of it
 * commit_notify_ms later.  With commit_notify_ms = 0 it is told at once.
 */
#include "test_core_harness.h"

typedef struct counts
{
	int			appends;		/* APPEND messages delivered */
	int			empty;			/* ... of them without entries */
} counts;

static bool
count_appends(const dcf_msg *m, void *arg)
{
	counts	   *k = arg;

	if (m->type == DCF_MSG_APPEND)
	{
		k->appends++;
		if (m->n_entries == 0)
			k->empty++;
	}
	return true;
}

/* A quiet 3-node cluster whose followers know the leader's commit. */
static th_node *
setup(th_cluster *c, uint32_t notify_ms)
{
	th_node    *l;

	th_init(c, 3);
	c->opts.election_timeout_ms = 400;
	c->opts.heartbeat_interval_ms = 100;
	c->opts.lease_margin_ms = 10;
	c->opts.commit_notify_ms = notify_ms;
	for (uint32_t id = 1; id <= 3; id++)
		th_start(c, id, 0);
	l = th_elect(c, 5000);
	if (l == NULL)
		return NULL;
	/* let the NOOP commit and every follower hear of it */
	for (int i = 0; i < 30; i++)
	{
		th_advance(c, 5);
		th_deliver(c, NULL, NULL, 0);
	}
	return l;
}

static bool
followers_commit_at_least(th_cluster *c, const th_node *l, uint64_t index)
{
	for (int i = 0; i < c->n; i++)
		if (&c->nodes[i] != l && c->nodes[i].commit < index)
			return false;
	return true;
}

static void
test_delayed_notification(void)
{
	th_cluster	c;
	th_node    *l = setup(&c, 20);
	counts		k = {0, 0};
	uint64_t	idx;

	CHECK(l != NULL, "a leader is elected");
	if (l == NULL)
		return;
	CHECK(followers_commit_at_least(&c, l, l->commit), "followers know the commit index %llu",
		  (unsigned long long) l->commit);

	idx = th_propose(&c, l->id, 0x11, 32);
	th_deliver(&c, count_appends, &k, 0);
	CHECK(l->commit == idx, "the proposal at %llu commits once the followers acknowledge it (commit %llu)",
		  (unsigned long long) idx, (unsigned long long) l->commit);
	CHECK(k.appends == 2 && k.empty == 0,
		  "the commit sends nothing extra: 2 appends, both with the entry (got %d, %d empty)",
		  k.appends, k.empty);
	CHECK(!followers_commit_at_least(&c, l, idx), "the followers have not heard of commit %llu yet",
		  (unsigned long long) idx);

	/* before the delay: still nothing */
	k.appends = k.empty = 0;
	c.now += 10;
	th_tick(&c, l->id);
	th_deliver(&c, count_appends, &k, 0);
	CHECK(k.appends == 0, "10 ms later (delay 20 ms) the leader has sent nothing (%d appends)", k.appends);

	/* at the delay: one empty append per follower, and they know */
	c.now += 10;
	th_tick(&c, l->id);
	th_deliver(&c, count_appends, &k, 0);
	CHECK(k.appends == 2 && k.empty == 2, "at 20 ms each follower gets one empty append (%d, %d empty)",
		  k.appends, k.empty);
	CHECK(followers_commit_at_least(&c, l, idx), "and then both followers know commit %llu",
		  (unsigned long long) idx);

	/* a second notification is not sent for what they already know */
	k.appends = k.empty = 0;
	c.now += 30;
	th_tick(&c, l->id);
	th_deliver(&c, count_appends, &k, 0);
	CHECK(k.appends == 0, "nothing more is sent once they know (%d appends)", k.appends);
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_next_append_carries_commit(void)
{
	th_cluster	c;
	th_node    *l = setup(&c, 20);
	counts		k = {0, 0};
	uint64_t	first,
				second;

	CHECK(l != NULL, "a leader is elected");
	if (l == NULL)
		return;
	first = th_propose(&c, l->id, 0x21, 32);
	th_deliver(&c, NULL, NULL, 0);
	CHECK(l->commit == first, "entry %llu commits", (unsigned long long) first);
	/* under load the next append leaves before the delay and carries it */
	second = th_propose(&c, l->id, 0x22, 32);
	th_deliver(&c, count_appends, &k, 0);
	CHECK(followers_commit_at_least(&c, l, first),
		  "the append of entry %llu told both followers of commit %llu, before any tick",
		  (unsigned long long) second, (unsigned long long) first);
	CHECK(k.empty == 0, "no empty append was needed (%d)", k.empty);
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_immediate_notification(void)
{
	th_cluster	c;
	th_node    *l = setup(&c, 0);
	counts		k = {0, 0};
	uint64_t	idx;

	CHECK(l != NULL, "a leader is elected (commit_notify_ms = 0)");
	if (l == NULL)
		return;
	idx = th_propose(&c, l->id, 0x31, 32);
	th_deliver(&c, count_appends, &k, 0);
	CHECK(l->commit == idx, "entry %llu commits", (unsigned long long) idx);
	CHECK(followers_commit_at_least(&c, l, idx),
		  "with commit_notify_ms = 0 both followers know commit %llu without any tick",
		  (unsigned long long) idx);
	CHECK(k.empty == 2, "through one empty append each (%d)", k.empty);
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

int
main(void)
{
	test_delayed_notification();
	test_next_append_carries_commit();
	test_immediate_notification();
	return unit_done();
}
