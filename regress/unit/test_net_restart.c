/*
 * test_net_restart.c — reconnecting: a peer that stops and comes back on the
 * same port is redialed with bounded exponential back-off and traffic
 * resumes in order both ways; a peer that moves to another port is followed
 * once the membership says so.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_net_util.h"

static tn_node A,
			B;
static tn_node *nodes[2] = {&A, &B};
static dcf_net_member members[2];
static const char *key;

#define RECONNECT_MIN_MS 40
#define RECONNECT_MAX_MS 320
#define PING_MS			 50
#define IDLE_MS			 300

static void
start(tn_node *n, uint32_t id)
{
	dcf_net_options o;

	tn_options(&o, n, id, key);
	o.reconnect_min_ms = RECONNECT_MIN_MS;
	o.reconnect_max_ms = RECONNECT_MAX_MS;
	o.ping_interval_ms = PING_MS;
	o.idle_timeout_ms = IDLE_MS;
	CHECK(tn_start(n, &o) && tn_set_members(n, members, 2),
		  "node %u started on port %u", id, members[id - 1].port);
}

static int
both_ways(void *arg)
{
	return tn_connected(&A, 2, DCF_NET_CONTROL) && tn_connected(&A, 2, DCF_NET_BULK) &&
		tn_connected(&B, 1, DCF_NET_CONTROL) && tn_connected(&B, 1, DCF_NET_BULK);
}

static int
has_n(void *arg)
{
	return ((tn_node *) ((void **) arg)[0])->nmsgs >= *(int *) ((void **) arg)[1];
}

/* from -> to: seqs [first, first+n) on both classes; all must arrive in order. */
static int
exchange(tn_node *from, tn_node *to, uint64_t first, int n)
{
	int			want = to->nmsgs + 2 * n;
	void	   *arg[2] = {to, &want};
	int			start_idx = to->nmsgs;
	uint64_t	next[2] = {first, first};
	int			ok = 1;

	for (int i = 0; i < n; i++)
		for (int k = 0; k < DCF_NET_NCLASSES; k++)
			ok &= tn_send(nodes, 2, from, to == &A ? 1 : 2, k, 5, first + (uint64_t) i,
						  k == DCF_NET_BULK ? 30000 : 50) == DCF_OK;
	ok &= tn_pump_until(nodes, 2, has_n, arg, 10000);
	for (int i = start_idx; i < to->nmsgs; i++)
	{
		tn_msg	   *m = &to->msgs[i];

		ok &= m->intact && m->seq == next[m->cls];
		next[m->cls]++;
	}
	return ok && to->nmsgs == want;
}

int
main(void)
{
	dcf_net_peer_stats st;
	uint64_t	t0;

	key = tn_key_file("cluster.key", 3);
	tn_member(&members[0], 1, tn_free_port());
	tn_member(&members[1], 2, tn_free_port());
	start(&A, 1);
	start(&B, 2);
	CHECK(tn_pump_until(nodes, 2, both_ways, NULL, 5000), "A and B connected both ways");
	CHECK(exchange(&A, &B, 0, 100), "before restart: 100 messages per class A -> B in order");

	/* idle for more than three idle timeouts: pings keep both lanes open */
	tn_pump_for(nodes, 2, 4 * IDLE_MS);
	{
		dcf_net_peer_stats a,
					b;
		int			ok = 1;

		for (int k = 0; k < DCF_NET_NCLASSES; k++)
		{
			dcf_net_get_peer_stats(A.net, 2, (dcf_net_class) k, &a);
			dcf_net_get_peer_stats(B.net, 1, (dcf_net_class) k, &b);
			ok &= a.connected && b.connected && a.connects == 1 && b.connects == 1 &&
				a.pings_sent >= 10 && b.pings_sent >= 10;
		}
		CHECK(ok && tn_log_count(&A, "nothing heard", NULL) == 0,
			  "idle %d ms: both sides pinged (every %d ms), nobody hit the %d ms idle timeout",
			  4 * IDLE_MS, PING_MS, IDLE_MS);
	}

	/* B stops: A notices at once (EOF on both directions) and starts redialing */
	tn_stop(&B);
	t0 = dcf_net_clock_ms();
	{
		tn_node    *one[1] = {&A};

		while (dcf_net_clock_ms() - t0 < 1000)
			tn_pump(one, 1, 10);
	}
	dcf_net_get_peer_stats(A.net, 2, DCF_NET_CONTROL, &st);
	/* EOF, or a reset drawn by a ping written first: either names the reason */
	CHECK(!st.connected && st.dialer && tn_log_count(&A, "closing connection to node 2", "control): ") == 1 &&
		  tn_log_count(&A, "closing connection to node 2", "bulk): ") == 1,
		  "B stopped: A (the dialer) closed each connection to B once, with a reason");
	/* 40, 80, 160, 320, 320 ... ms (jittered to half): 4..12 attempts in 1 s, not hundreds */
	CHECK(st.connect_failures >= 3 && st.connect_failures <= 14,
		  "A redials with bounded exponential back-off: %llu failed attempts in 1 s",
		  (unsigned long long) st.connect_failures);
	CHECK(tn_log_count(&A, "retrying in", NULL) >= 2, "A logs its retries with the delay");

	/* B comes back on the same port: A reconnects within the back-off bound */
	B.nmsgs = 0;
	start(&B, 2);
	t0 = dcf_net_clock_ms();
	CHECK(tn_pump_until(nodes, 2, both_ways, NULL, 3000),
		  "B restarted: connected again both ways after %llu ms (max back-off %d ms)",
		  (unsigned long long) (dcf_net_clock_ms() - t0), RECONNECT_MAX_MS);
	dcf_net_get_peer_stats(A.net, 2, DCF_NET_BULK, &st);
	CHECK(st.connects == 2, "A's bulk lane opened twice in all (%llu)", (unsigned long long) st.connects);
	CHECK(exchange(&A, &B, 100, 100), "after restart: 100 more per class A -> B, in order");
	CHECK(exchange(&B, &A, 0, 50), "after restart: the new B reaches A on the connections A dialed");

	/* B moves to another port; A follows once its membership says so */
	tn_stop(&B);
	tn_member(&members[1], 2, tn_free_port());
	B.nmsgs = 0;
	start(&B, 2);
	CHECK(tn_set_members(&A, members, 2), "A learns B's new port");
	CHECK(tn_pump_until(nodes, 2, both_ways, NULL, 3000), "connected to B at its new port");
	CHECK(exchange(&A, &B, 200, 50), "after the move: messages flow A -> B");

	/* the dialer restarts: B (which never dials) is reached again through A's new dial */
	tn_stop(&A);
	A.nmsgs = 0;
	{
		tn_node    *one[1] = {&B};

		tn_pump_for(one, 1, 100);
	}
	dcf_net_get_peer_stats(B.net, 1, DCF_NET_CONTROL, &st);
	CHECK(!st.connected && !st.dialer && st.connect_failures == 0,
		  "A stopped: B dropped the lane and, not being the dialer, does not dial");
	start(&A, 1);
	CHECK(tn_pump_until(nodes, 2, both_ways, NULL, 3000), "A restarted and dialed B again");
	CHECK(exchange(&B, &A, 100, 50), "after A's restart: B's messages reach the new A");

	tn_free(&A);
	tn_free(&B);
	tn_cleanup();
	return unit_done();
}
