/*
 * test_net_mesh.c — three endpoints on loopback exchanging messages in a
 * full mesh: every (sender, receiver, class) stream arrives complete, intact
 * and in order; the messages of one turn go out in few writes (batching);
 * bounded queues report DCF_ERR_FULL exactly at their bound; a control
 * message is not held up by megabytes of bulk queued before it; lz4
 * compression round-trips and only compresses what it should.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_net_util.h"

#define MESH_N			3
#define MESH_MSGS		1500	/* per sender, receiver and class */

static tn_node nodes[MESH_N];
static tn_node *all[MESH_N];
static dcf_net_member members[MESH_N];

static int
all_connected(void *arg)
{
	for (int i = 0; i < MESH_N; i++)
		for (int j = 0; j < MESH_N; j++)
			for (int k = 0; k < DCF_NET_NCLASSES; k++)
				if (i != j && !tn_connected(&nodes[i], nodes[j].id, k))
					return 0;
	return 1;
}

static int
count_at_least(void *arg)
{
	int			want = *(int *) arg;

	for (int i = 0; i < MESH_N; i++)
		if (nodes[i].nmsgs < want)
			return 0;
	return 1;
}

static size_t
mesh_len(int cls, uint64_t seq)
{
	/* control: small; bulk: up to 96 KiB, with a few empty payloads */
	if (cls == DCF_NET_CONTROL)
		return 8 + (size_t) (seq * 37 % 300);
	return seq % 97 == 0 ? 0 : 8 + (size_t) (seq * 7919 % (96 * 1024));
}

static void
test_mesh_order(void)
{
	int			want = (MESH_N - 1) * DCF_NET_NCLASSES * MESH_MSGS;
	int			ok = 1;
	int			in_order = 1;
	int			intact = 1;
	dcf_rc		rc = DCF_OK;

	CHECK(tn_pump_until(all, MESH_N, all_connected, NULL, 10000),
		  "mesh: all 12 directed connections (3 nodes x 2 peers x 2 classes) open");

	/* interleave senders, receivers and classes, as a consensus core would */
	for (int s = 0; s < MESH_MSGS && rc == DCF_OK; s++)
		for (int i = 0; i < MESH_N; i++)
			for (int j = 0; j < MESH_N; j++)
				for (int k = 0; k < DCF_NET_NCLASSES && i != j; k++)
				{
					rc = tn_send(all, MESH_N, &nodes[i], nodes[j].id, k,
								 (uint8_t) (s & 0x7f), (uint64_t) s, mesh_len(k, (uint64_t) s));
					if (rc != DCF_OK)
						break;
				}
	CHECK(rc == DCF_OK, "mesh: %d sends accepted (pumping while a queue is full)",
		  MESH_N * (MESH_N - 1) * DCF_NET_NCLASSES * MESH_MSGS);
	CHECK(tn_pump_until(all, MESH_N, count_at_least, &want, 30000),
		  "mesh: every node received %d messages", want);

	for (int r = 0; r < MESH_N; r++)
	{
		uint64_t	next[MESH_N + 1][DCF_NET_NCLASSES];

		memset(next, 0, sizeof(next));
		ok &= nodes[r].nmsgs == want;
		for (int m = 0; m < nodes[r].nmsgs; m++)
		{
			tn_msg	   *x = &nodes[r].msgs[m];
			size_t		len;

			if (x->from < 1 || x->from > MESH_N || x->from == nodes[r].id)
			{
				ok = 0;
				continue;
			}
			len = mesh_len(x->cls, next[x->from][x->cls]);
			/* empty payloads carry no seq: check the length alone */
			if ((len >= 8 && x->seq != next[x->from][x->cls]) || x->len != len ||
				x->type != (uint8_t) (next[x->from][x->cls] & 0x7f))
				in_order = 0;
			if (!x->intact)
				intact = 0;
			next[x->from][x->cls]++;
		}
	}
	CHECK(ok, "mesh: no message from self, from a stranger, or too many");
	CHECK(in_order, "mesh: each (sender, class) stream arrived in send order with the right type and length");
	CHECK(intact, "mesh: every payload byte intact");
	for (int i = 0; i < MESH_N; i++)
		for (int j = 0; j < MESH_N; j++)
			for (int k = 0; k < DCF_NET_NCLASSES && i != j; k++)
			{
				dcf_net_peer_stats st;

				dcf_net_get_peer_stats(nodes[i].net, nodes[j].id, k, &st);
				CHECK_QUIET(st.msgs_sent == MESH_MSGS && st.msgs_dropped == 0 &&
							st.queued_bytes == 0 && st.connects == 1,
							"stats %d->%d class %d: sent %llu dropped %llu queued %zu connects %llu",
							i + 1, j + 1, k, (unsigned long long) st.msgs_sent,
							(unsigned long long) st.msgs_dropped, st.queued_bytes,
							(unsigned long long) st.connects);
			}
	CHECK(1, "mesh: sender statistics agree (sent = %d per stream, nothing dropped, one connect)",
		  MESH_MSGS);
}

static void
reset_msgs(void)
{
	for (int i = 0; i < MESH_N; i++)
		nodes[i].nmsgs = 0;
}

static int
node2_has(void *arg)
{
	return nodes[1].nmsgs >= *(int *) arg;
}

static void
test_batching(void)
{
	dcf_net_peer_stats before,
				after;
	int			n = 1000;
	int			ok = 1;

	reset_msgs();
	dcf_net_get_peer_stats(nodes[0].net, 2, DCF_NET_CONTROL, &before);
	for (int s = 0; s < n; s++)
	{
		uint8_t		p[32];

		tn_fill(p, (uint64_t) s, sizeof(p), 1);
		ok &= dcf_net_send(nodes[0].net, 2, DCF_NET_CONTROL, 1, p, sizeof(p), NULL) == DCF_OK;
	}
	dcf_net_get_peer_stats(nodes[0].net, 2, DCF_NET_CONTROL, &after);
	CHECK(ok && after.msgs_sent == before.msgs_sent && after.queued_bytes == (size_t) n * 52,
		  "batching: 1000 sends only queue (%zu bytes, nothing written yet)", after.queued_bytes);
	dcf_net_flush(nodes[0].net, dcf_net_clock_ms());
	dcf_net_get_peer_stats(nodes[0].net, 2, DCF_NET_CONTROL, &after);
	CHECK(after.msgs_sent - before.msgs_sent == (uint64_t) n && after.writes - before.writes <= 2,
		  "batching: one flush wrote all %d messages in %llu write call(s)", n,
		  (unsigned long long) (after.writes - before.writes));
	CHECK(tn_pump_until(all, MESH_N, node2_has, &n, 5000) && nodes[1].nmsgs == n,
		  "batching: the receiver got all %d", n);
}

static void
test_send_errors(void)
{
	char		err[DCF_ERRMSG_MAX];
	uint8_t		p[16] = {0};

	CHECK(dcf_net_send(nodes[0].net, 9, DCF_NET_CONTROL, 0, p, 16, err) == DCF_ERR_NOTFOUND,
		  "send: to a non-member is DCF_ERR_NOTFOUND (%s)", err);
	CHECK(dcf_net_send(nodes[0].net, 1, DCF_NET_CONTROL, 0, p, 16, err) == DCF_ERR_INVALID,
		  "send: to self is DCF_ERR_INVALID (%s)", err);
	CHECK(dcf_net_send(nodes[0].net, 2, (dcf_net_class) 2, 0, p, 16, err) == DCF_ERR_INVALID,
		  "send: unknown class is DCF_ERR_INVALID (%s)", err);
	CHECK(dcf_net_send(nodes[0].net, 2, DCF_NET_BULK, 0, p, (size_t) DCF_FRAME_MAX_BYTES + 1, err) ==
		  DCF_ERR_INVALID, "send: above DCF_FRAME_MAX_BYTES is DCF_ERR_INVALID (%s)", err);
}

/* A node with a 64 KiB control queue that nobody pumps. */
static void
test_backpressure(const char *key)
{
	tn_node		a = {0};
	dcf_net_options o;
	dcf_net_member m[2];
	uint8_t		p[100];
	char		err[DCF_ERRMSG_MAX];
	int			accepted = 0;
	dcf_rc		rc = DCF_OK;
	dcf_net_peer_stats st;
	uint8_t    *big;

	tn_options(&o, &a, 1, key);
	o.queue_max_bytes[DCF_NET_CONTROL] = 65536;
	CHECK(tn_start(&a, &o), "backpressure: endpoint with a 64 KiB control queue");
	tn_member(&m[0], 1, tn_free_port());
	tn_member(&m[1], 2, tn_free_port());	/* nobody listens there */
	tn_set_members(&a, m, 2);
	memset(p, 7, sizeof(p));
	while ((rc = dcf_net_send(a.net, 2, DCF_NET_CONTROL, 3, p, sizeof(p), err)) == DCF_OK)
		accepted++;
	dcf_net_get_peer_stats(a.net, 2, DCF_NET_CONTROL, &st);
	CHECK(rc == DCF_ERR_FULL && accepted == 65536 / 120 && st.send_full == 1 &&
		  st.queued_bytes == (size_t) accepted * 120,
		  "backpressure: %d frames of 120 bytes fit, the next is DCF_ERR_FULL (%s)", accepted, err);
	big = calloc(1, 70000);
	CHECK(dcf_net_send(a.net, 2, DCF_NET_CONTROL, 3, big, 70000, err) == DCF_ERR_FULL,
		  "backpressure: a message above the bound is FULL while the queue holds anything (%s)", err);
	CHECK(dcf_net_send(a.net, 2, DCF_NET_BULK, 3, p, sizeof(p), err) == DCF_OK,
		  "backpressure: the bulk queue of the same peer is independent");

	/* the dial fails (nobody listens): the queue is dropped, sends work again */
	{
		tn_node    *one[1] = {&a};
		uint64_t	end = dcf_net_clock_ms() + 3000;

		do
		{
			tn_pump(one, 1, 20);
			dcf_net_get_peer_stats(a.net, 2, DCF_NET_CONTROL, &st);
		} while (st.connect_failures == 0 && dcf_net_clock_ms() < end);
	}
	CHECK(st.connect_failures >= 1 && st.msgs_dropped == (uint64_t) accepted && st.queued_bytes == 0,
		  "backpressure: a failed dial drops the %d queued messages (dropped %llu)", accepted,
		  (unsigned long long) st.msgs_dropped);
	CHECK(dcf_net_send(a.net, 2, DCF_NET_CONTROL, 3, big, 70000, err) == DCF_OK,
		  "backpressure: an empty queue takes one message above its bound");
	CHECK(dcf_net_send(a.net, 2, DCF_NET_CONTROL, 3, p, sizeof(p), err) == DCF_ERR_FULL,
		  "backpressure: ... and nothing after it until it drains");
	free(big);
	CHECK(tn_log_count(&a, "could not open connection to node 2", "attempt 1") >= 1,
		  "backpressure: the failed dial was logged with the peer and attempt number");
	tn_free(&a);
}

/*
 * Priority: while node 1 keeps its bulk lane to node 2 saturated, a control
 * message sent in the middle must overtake the bulk bytes queued before it.
 * On one shared connection it would arrive only after all of them.
 */
static int	ctl_seen;
static uint64_t bulk_bytes_at_ctl;
static uint64_t bulk_bytes;

static void
prio_hook(tn_node *n, const dcf_net_msg *m)
{
	if (m->from != 1)
		return;
	if (m->cls == DCF_NET_BULK)
		bulk_bytes += m->len;
	else if (!ctl_seen)
	{
		ctl_seen = 1;
		bulk_bytes_at_ctl = bulk_bytes;
	}
}

static int
prio_done(void *arg)
{
	return ctl_seen && bulk_bytes >= *(uint64_t *) arg;
}

static void
test_priority(void)
{
	uint64_t	total = 0;
	uint64_t	sent_before = 0;
	uint64_t	inflight = 0;
	int			msgs = 512;		/* 32 MiB */
	int			ok = 1;

	reset_msgs();
	nodes[1].hook = prio_hook;
	for (int s = 0; s < msgs; s++)
	{
		ok &= tn_send(all, MESH_N, &nodes[0], 2, DCF_NET_BULK, 2, (uint64_t) s, 65536) == DCF_OK;
		total += 65536;
		if (s == msgs / 2)
		{
			/* the receiver only reads when we pump: its count is exact here */
			sent_before = total;
			inflight = total - bulk_bytes;
			ok &= dcf_net_send(nodes[0].net, 2, DCF_NET_CONTROL, 9, "vote", 4, NULL) == DCF_OK;
		}
	}
	CHECK(ok && inflight > 0,
		  "priority: 32 MiB of bulk sent; %llu bytes of it queued or in flight when the control message was sent",
		  (unsigned long long) inflight);
	CHECK(tn_pump_until(all, MESH_N, prio_done, &total, 20000), "priority: everything arrived");
	CHECK(ctl_seen && bulk_bytes_at_ctl <= sent_before - inflight,
		  "priority: the control message overtook all %llu bulk bytes ahead of it (%llu delivered before it)",
		  (unsigned long long) inflight, (unsigned long long) bulk_bytes_at_ctl);
	nodes[1].hook = NULL;
}

static tn_node *lz4_rx;

static int
lz4_connected(void *arg)
{
	tn_node    *a = arg;

	return tn_connected(a, 2, DCF_NET_CONTROL) && tn_connected(a, 2, DCF_NET_BULK);
}

static int
lz4_rx_has(void *arg)
{
	return lz4_rx->nmsgs >= *(int *) arg;
}

static void
test_compression(const char *key)
{
	tn_node		a = {0},
				b = {0};
	tn_node    *ab[2] = {&a, &b};
	dcf_net_options o;
	dcf_net_member m[2];
	dcf_net_peer_stats st;
	int			n = 0;
	int			expect_lz4 = 0;
	int			ok = 1;
	uint64_t	raw = 0;

	tn_options(&o, &a, 1, key);
	o.compress = DCF_NET_COMPRESS_LZ4;
	o.compress_min_bytes = 512;
	tn_start(&a, &o);
	tn_options(&o, &b, 2, key);	/* the receiver needs no setting to decompress */
	tn_start(&b, &o);
	tn_member(&m[0], 1, tn_free_port());
	tn_member(&m[1], 2, tn_free_port());
	tn_set_members(&a, m, 2);
	tn_set_members(&b, m, 2);
	CHECK(tn_pump_until(ab, 2, lz4_connected, &a, 5000), "lz4: connected");

	/* text (compressible) and pattern payloads, below and above the threshold */
	for (int s = 0; s < 400; s++)
	{
		uint8_t		type = (uint8_t) ((s % 2 ? TN_TEXT : 0) | (s & 0x3f));
		size_t		len = s % 4 == 0 ? 100 + (size_t) s : 512 + (size_t) s * 997 % 300000;
		int			cls = s % 3 == 0 ? DCF_NET_CONTROL : DCF_NET_BULK;

		if ((type & TN_TEXT) && len >= 512)
			expect_lz4++;
		raw += len;
		ok &= tn_send(ab, 2, &a, 2, cls, type, (uint64_t) s, len) == DCF_OK;
		n++;
	}
	CHECK(ok, "lz4: %d mixed payloads sent", n);
	lz4_rx = &b;
	CHECK(tn_pump_until(ab, 2, lz4_rx_has, &n, 10000) && b.nmsgs == n, "lz4: all %d arrived", n);
	{
		int			intact = 1;
		uint64_t	last[DCF_NET_NCLASSES] = {0, 0};
		int			seen[DCF_NET_NCLASSES] = {0, 0};

		for (int i = 0; i < b.nmsgs; i++)
		{
			tn_msg	   *x = &b.msgs[i];

			intact &= x->intact && (x->seq % 3 == 0) == (x->cls == DCF_NET_CONTROL);
			intact &= !seen[x->cls] || x->seq > last[x->cls];
			seen[x->cls] = 1;
			last[x->cls] = x->seq;
		}
		CHECK(intact, "lz4: every payload decompressed to its exact bytes, in order per class");
	}
	{
		dcf_net_peer_stats c;
		uint64_t	compressed,
					wire;

		dcf_net_get_peer_stats(a.net, 2, DCF_NET_BULK, &st);
		dcf_net_get_peer_stats(a.net, 2, DCF_NET_CONTROL, &c);
		compressed = st.msgs_compressed + c.msgs_compressed;
		wire = st.wire_bytes_sent + c.wire_bytes_sent;
		/* pattern payloads may shrink a little too; text ones always do */
		CHECK(compressed >= (uint64_t) expect_lz4 && compressed < (uint64_t) n,
			  "lz4: %llu of %d messages went compressed (at least the %d text ones >= 512 bytes)",
			  (unsigned long long) compressed, n, expect_lz4);
		CHECK(wire < raw * 3 / 4, "lz4: %llu wire bytes for %llu payload bytes",
			  (unsigned long long) wire, (unsigned long long) raw);
	}
	tn_free(&a);
	tn_free(&b);
}

int
main(void)
{
	const char *key = tn_key_file("cluster.key", 1);
	dcf_net_options o;

	for (int i = 0; i < MESH_N; i++)
	{
		all[i] = &nodes[i];
		tn_member(&members[i], (uint32_t) (i + 1), tn_free_port());
		tn_options(&o, &nodes[i], (uint32_t) (i + 1), key);
		CHECK(tn_start(&nodes[i], &o), "mesh: endpoint %d created", i + 1);
	}
	for (int i = 0; i < MESH_N; i++)
		CHECK(tn_set_members(&nodes[i], members, MESH_N) &&
			  dcf_net_listen_port(nodes[i].net) == members[i].port,
			  "mesh: node %d listens on its port %u", i + 1, members[i].port);
	test_mesh_order();
	test_batching();
	test_send_errors();
	test_priority();
	for (int i = 0; i < MESH_N; i++)
		tn_free(&nodes[i]);
	test_backpressure(key);
	test_compression(key);
	tn_cleanup();
	return unit_done();
}
