/*
 * test_net_hostile.c — what a node does with input it must not trust.
 *
 * Node B (id 5, membership {1, 3, 5}) receives a steady stream from the
 * legitimate node A (id 1) while strangers connect to its port and send
 * garbage, oversized and truncated frames, messages without a handshake,
 * forged or wrong-key proofs, or nothing at all; a real endpoint with the
 * wrong key and one with the right key but an unknown node id try to talk to
 * it; a flood of idle connections hits the pending limit.  Each bad
 * connection must be closed alone with one log line naming the peer and the
 * reason, A's stream must arrive complete and in order, and not one message
 * from anybody else may reach B's callback.  Finally the unknown node is
 * added to the membership at runtime (its messages now arrive) and removed
 * again (they stop).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_auth.h"
#include "net/net_frame.h"
#include "net/net_session.h"
#include "test_net_util.h"

#define EVIL_TYPE	0x6e		/* type byte of every message a stranger sends */
#define B_ID		5			/* the node under attack; 1 and 3 are members below it */
#define D_ID		2			/* right key, not a member (until it is added) */
#define PING_MS		100			/* every node here pings idle connections this often */
#define B_IDLE_MS	500			/* and B closes connections silent this long */

static tn_node A,
			B,
			C,
			D;
static tn_node *nodes[4] = {&A, &B, &C, &D};
static uint16_t port_a,
			port_b,
			port_3,
			port_c,
			port_d;
static uint64_t a_seq[DCF_NET_NCLASSES];

/* A keeps talking to B throughout: a batch per phase, both classes. */
static void
a_batch(int n)
{
	for (int i = 0; i < n; i++)
		for (int k = 0; k < DCF_NET_NCLASSES; k++)
		{
			uint64_t	s = a_seq[k]++;

			CHECK_QUIET(tn_send(nodes, 4, &A, B_ID, k, (uint8_t) (s & 0x3f), s,
								k == DCF_NET_BULK ? 20000 : 40) == DCF_OK,
						"A could not send %llu", (unsigned long long) s);
		}
}

static int
raw_connect(uint16_t port, uint16_t *local_port)
{
	struct sockaddr_in sa;
	socklen_t	len = sizeof(sa);
	int			s = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	if (connect(s, (struct sockaddr *) &sa, sizeof(sa)) != 0)
	{
		perror("raw_connect");
		close(s);
		return -1;
	}
	getsockname(s, (struct sockaddr *) &sa, &len);
	*local_port = ntohs(sa.sin_port);
	return s;
}

static void
raw_send(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0)
	{
		ssize_t		r = send(fd, b, n, MSG_NOSIGNAL);

		if (r <= 0)
			return;				/* the node may close on us mid-way: fine */
		b += r;
		n -= (size_t) r;
	}
}

/*
 * Pump the nodes until B closed fd (EOF or reset), collecting what B sent
 * into got (if not NULL).  Returns 1 if closed within timeout_ms.
 */
static int
raw_wait_closed(int fd, dcf_netbuf *got, int timeout_ms)
{
	uint64_t	end = dcf_net_clock_ms() + (uint64_t) timeout_ms;
	uint8_t		buf[4096];

	while (dcf_net_clock_ms() < end)
	{
		ssize_t		r;

		tn_pump(nodes, 4, 5);
		r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return 1;
		if (r > 0 && got)
			dcf_netbuf_append(got, buf, (size_t) r);
	}
	return 0;
}

/* Read one whole frame from fd (pumping the nodes meanwhile). */
static int
raw_read_frame(int fd, dcf_netbuf *got, dcf_frame_hdr *h, int timeout_ms)
{
	uint64_t	end = dcf_net_clock_ms() + (uint64_t) timeout_ms;
	uint8_t		buf[4096];
	char		err[DCF_ERRMSG_MAX];

	while (dcf_net_clock_ms() < end)
	{
		ssize_t		r;

		if (dcf_netbuf_len(got) >= DCF_FRAME_HDR_BYTES &&
			dcf_frame_parse(dcf_netbuf_head(got), 1024, h, err) == DCF_OK &&
			dcf_netbuf_len(got) >= DCF_FRAME_HDR_BYTES + h->len)
			return 1;
		tn_pump(nodes, 4, 5);
		r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r == 0)
			return 0;
		if (r > 0)
			dcf_netbuf_append(got, buf, (size_t) r);
	}
	return 0;
}

static void
frame(dcf_netbuf *b, uint8_t kind, uint8_t type, const void *p, uint32_t len)
{
	dcf_frame_hdr h = {.kind = kind,.msg_type = type,.len = len,.raw_len = len};

	dcf_netbuf_reserve(b, DCF_FRAME_HDR_BYTES + len);
	if (len)
		memcpy(dcf_netbuf_tailp(b) + DCF_FRAME_HDR_BYTES, p, len);
	dcf_frame_put(dcf_netbuf_tailp(b), &h, p);
	dcf_netbuf_produce(b, DCF_FRAME_HDR_BYTES + len);
}

static void
evil_msgs(dcf_netbuf *b, int n)
{
	uint8_t		p[64];

	for (int i = 0; i < n; i++)
	{
		tn_fill(p, 1000000000ULL + (uint64_t) i, sizeof(p), EVIL_TYPE);
		frame(b, DCF_FRAME_MSG, EVIL_TYPE, p, sizeof(p));
	}
}

/* A well-formed HELLO claiming client_id, for server B, with nonce cn. */
static void
hello(dcf_netbuf *b, uint32_t client_id, uint8_t cls, const uint8_t *cn)
{
	uint8_t		p[DCF_SESS_HELLO_BYTES] = {DCF_SESS_HS_VERSION, cls, 0, 0};

	dcf_put_u32(p + 4, client_id);
	dcf_put_u32(p + 8, B_ID);
	memcpy(p + 12, cn, DCF_NET_NONCE_BYTES);
	frame(b, DCF_FRAME_HELLO, 0, p, sizeof(p));
}

/*
 * The dialer's proof exactly as net_session.h specifies it:
 * MAC(key, "dcf-net-v1 dialer proof" || class || client_id || server_id ||
 * cn || sn || binding flag 0).  Used with the right key (must pass) and a
 * wrong key (must fail), so a failure is due to the key alone.
 */
static void
dialer_proof(const dcf_net_key *key, uint8_t cls, uint32_t client_id,
			 const uint8_t *cn, const uint8_t *sn, uint8_t *out)
{
	uint8_t		t[1 + 4 + 4 + 2 * DCF_NET_NONCE_BYTES + 1];

	t[0] = cls;
	dcf_put_u32(t + 1, client_id);
	dcf_put_u32(t + 5, B_ID);
	memcpy(t + 9, cn, DCF_NET_NONCE_BYTES);
	memcpy(t + 9 + DCF_NET_NONCE_BYTES, sn, DCF_NET_NONCE_BYTES);
	t[sizeof(t) - 1] = 0;
	dcf_net_mac(key, "dcf-net-v1 dialer proof", t, sizeof(t), out);
}

/* One line in B's log naming 127.0.0.1:<port>, containing reason. */
static int
one_log_line(uint16_t port, const char *reason)
{
	char		addr[32];

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	if (tn_log_count(&B, addr, NULL) != 1 || tn_log_count(&B, addr, reason) != 1)
	{
		printf("# expected one log line with %s and \"%s\":\n", addr, reason);
		tn_dump_log(&B);
		return 0;
	}
	return 1;
}

static int
b_evil_count(void)
{
	int			n = 0;

	for (int i = 0; i < B.nmsgs; i++)
		if (B.msgs[i].type == EVIL_TYPE || B.msgs[i].from != 1)
			n++;
	return n;
}

static void
attack_raw(const char *what, const void *bytes, size_t n, int close_after,
		   const char *reason)
{
	uint16_t	lp;
	int			fd = raw_connect(port_b, &lp);
	int			closed;

	raw_send(fd, bytes, n);
	if (close_after)
		shutdown(fd, SHUT_WR);
	a_batch(20);
	closed = raw_wait_closed(fd, NULL, 3000);
	close(fd);
	tn_pump_for(nodes, 4, 20);
	CHECK(closed && one_log_line(lp, reason) && b_evil_count() == 0,
		  "%s: connection closed, one log line naming 127.0.0.1:%u and \"%s\", nothing delivered",
		  what, lp, reason);
}

static int
a_connected(void *arg)
{
	return tn_connected(&A, B_ID, DCF_NET_CONTROL) && tn_connected(&A, B_ID, DCF_NET_BULK) &&
		tn_connected(&B, 1, DCF_NET_CONTROL) && tn_connected(&B, 1, DCF_NET_BULK);
}

static void
raw_attacks(const char *key_path)
{
	dcf_netbuf	b;
	uint8_t		junk[4096];
	uint8_t		cn[DCF_NET_NONCE_BYTES];
	uint64_t	x = 0x9E3779B97F4A7C15ULL;
	dcf_net_key good,
				wrong;
	char		err[DCF_ERRMSG_MAX];

	dcf_netbuf_init(&b, 1 << 20);
	for (size_t i = 0; i < sizeof(junk); i++)
	{
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		junk[i] = (uint8_t) x;
	}
	junk[0] = 'G';				/* an HTTP client, say */
	attack_raw("garbage", junk, sizeof(junk), 0, "bad frame magic");

	/* oversized: a hello claiming 1 GiB, and a message claiming 100 MiB */
	{
		uint8_t		h[DCF_FRAME_HDR_BYTES] = {DCF_FRAME_MAGIC0, DCF_FRAME_MAGIC1, DCF_FRAME_VERSION,
		DCF_FRAME_HELLO};

		/* header only: the crc cannot matter, the length is refused first */
		dcf_put_u32(h + 8, 1u << 30);
		dcf_put_u32(h + 12, 1u << 30);
		attack_raw("oversized hello", h, sizeof(h), 0, "hello frame length 1073741824 exceeds limit 256");
		h[3] = DCF_FRAME_MSG;
		dcf_put_u32(h + 8, 100u << 20);
		dcf_put_u32(h + 12, 100u << 20);
		attack_raw("oversized message", h, sizeof(h), 0, "exceeds limit 256");
	}

	/* truncated: half a hello header, then EOF */
	memset(cn, 7, sizeof(cn));
	dcf_netbuf_clear(&b);
	hello(&b, 1, 0, cn);
	attack_raw("truncated hello", dcf_netbuf_head(&b), 10, 1, "peer closed the connection");
	attack_raw("truncated hello payload", dcf_netbuf_head(&b), DCF_FRAME_HDR_BYTES + 20, 1,
			   "peer closed the connection");

	/* a hello with a bad crc */
	dcf_netbuf_head(&b)[DCF_FRAME_HDR_BYTES + 3] ^= 0x40;
	attack_raw("hello with bad crc", dcf_netbuf_head(&b), dcf_netbuf_len(&b), 0, "fails its crc");

	/* messages without any handshake */
	dcf_netbuf_clear(&b);
	evil_msgs(&b, 10);
	attack_raw("messages without handshake", dcf_netbuf_head(&b), dcf_netbuf_len(&b), 0,
			   "unexpected message frame while waiting for hello");

	/* a member's hello, then messages instead of a proof */
	dcf_netbuf_clear(&b);
	hello(&b, 1, DCF_NET_BULK, cn);
	evil_msgs(&b, 10);
	attack_raw("hello then messages", dcf_netbuf_head(&b), dcf_netbuf_len(&b), 0,
			   "unexpected message frame while waiting for auth");

	/* hello from a node id not in the membership */
	dcf_netbuf_clear(&b);
	hello(&b, 4, DCF_NET_CONTROL, cn);
	evil_msgs(&b, 3);
	attack_raw("unknown node id hello", dcf_netbuf_head(&b), dcf_netbuf_len(&b), 0,
			   "node id 4 is not a member");

	/* a proof computed with the wrong key, then messages */
	{
		uint8_t		wk[40],
					proof[DCF_NET_MAC_BYTES];
		dcf_netbuf	got;
		dcf_frame_hdr h;
		uint16_t	lp;
		int			fd,
					closed;

		memset(wk, 'x', sizeof(wk));
		dcf_net_key_set(&wrong, wk, sizeof(wk), err);
		CHECK(dcf_net_key_load(key_path, &good, err) == DCF_OK, "test has the cluster key");

		for (int pass = 0; pass < 2; pass++)
		{
			const dcf_net_key *k = pass == 0 ? &wrong : &good;
			int			before = B.nmsgs;

			dcf_netbuf_init(&got, 4096);
			dcf_netbuf_clear(&b);
			/* node 3 is a member that no real endpoint plays */
			hello(&b, 3, DCF_NET_CONTROL, cn);
			fd = raw_connect(port_b, &lp);
			raw_send(fd, dcf_netbuf_head(&b), dcf_netbuf_len(&b));
			CHECK(raw_read_frame(fd, &got, &h, 3000) && h.kind == DCF_FRAME_CHALLENGE &&
				  h.len == DCF_SESS_CHALLENGE_BYTES,
				  "proof (%s key): B answers a member's hello with a challenge",
				  pass == 0 ? "wrong" : "right");
			dialer_proof(k, DCF_NET_CONTROL, 3, cn,
						 dcf_netbuf_head(&got) + DCF_FRAME_HDR_BYTES + 4, proof);
			dcf_netbuf_consume(&got, DCF_FRAME_HDR_BYTES + h.len);
			dcf_netbuf_clear(&b);
			frame(&b, DCF_FRAME_AUTH, 0, proof, sizeof(proof));
			{
				uint8_t		p[64];

				tn_fill(p, 1000000000ULL, sizeof(p), EVIL_TYPE);
				frame(&b, DCF_FRAME_MSG, EVIL_TYPE, p, sizeof(p));
			}
			raw_send(fd, dcf_netbuf_head(&b), dcf_netbuf_len(&b));
			if (pass == 0)
			{
				a_batch(20);
				closed = raw_wait_closed(fd, NULL, 3000);
				tn_pump_for(nodes, 4, 20);
				CHECK(closed && one_log_line(lp, "dialer proof does not match") &&
					  b_evil_count() == 0,
					  "proof with the wrong key: closed, one log line, its message never delivered");
			}
			else
			{
				uint64_t	end = dcf_net_clock_ms() + 3000;

				while (B.nmsgs == before && dcf_net_clock_ms() < end)
					tn_pump(nodes, 4, 5);
				CHECK(raw_read_frame(fd, &got, &h, 3000) && h.kind == DCF_FRAME_WELCOME &&
					  B.nmsgs == before + 1 && B.msgs[before].from == 3 &&
					  B.msgs[before].type == EVIL_TYPE && B.msgs[before].intact,
					  "proof with the right key (same construction): welcomed, message delivered from node 3");
				/* forget it: it was the control check, not an attack */
				B.nmsgs = before;
				/* now it falls silent: B pings it, then gives up on it */
				{
					uint64_t	t0 = dcf_net_clock_ms();
					dcf_netbuf	pings;
					int			closed_idle;

					dcf_netbuf_init(&pings, 1 << 16);
					closed_idle = raw_wait_closed(fd, &pings, 3000);
					CHECK(closed_idle && dcf_net_clock_ms() - t0 >= B_IDLE_MS - 50 &&
						  dcf_netbuf_len(&pings) >= 2 * DCF_FRAME_HDR_BYTES &&
						  dcf_netbuf_head(&pings)[3] == DCF_FRAME_PING &&
						  tn_log_count(&B, "nothing heard for", NULL) == 1,
						  "silent authenticated peer: pinged (%zu bytes), closed after the %d ms idle timeout (%llu ms)",
						  dcf_netbuf_len(&pings), B_IDLE_MS,
						  (unsigned long long) (dcf_net_clock_ms() - t0));
					dcf_netbuf_free(&pings);
				}
				close(fd);
				tn_pump_for(nodes, 4, 20);
			}
			if (pass == 0)
				close(fd);
			dcf_netbuf_free(&got);
		}
	}

	/* idle: connect and say nothing until the handshake timeout */
	{
		uint16_t	lp;
		int			fd = raw_connect(port_b, &lp);
		uint64_t	t0 = dcf_net_clock_ms();
		int			closed;

		a_batch(20);
		closed = raw_wait_closed(fd, NULL, 5000);
		CHECK(closed && dcf_net_clock_ms() - t0 >= 450 && one_log_line(lp, "handshake timed out after 500 ms"),
			  "idle connection: closed after the 500 ms handshake timeout (%llu ms)",
			  (unsigned long long) (dcf_net_clock_ms() - t0));
		close(fd);
	}
	dcf_net_key_wipe(&good);
	dcf_netbuf_free(&b);
}

static void
flood(void)
{
	int			fds[12];
	uint16_t	lp;
	dcf_net_stats before,
				mid;
	int			refused_seen = 0;

	dcf_net_get_stats(B.net, &before);
	for (int i = 0; i < 12; i++)
		fds[i] = raw_connect(port_b, &lp);
	a_batch(20);
	tn_pump_for(nodes, 4, 100);
	dcf_net_get_stats(B.net, &mid);
	for (int i = 0; i < 12; i++)
	{
		uint8_t		c;
		ssize_t		r = recv(fds[i], &c, 1, MSG_DONTWAIT);

		if (r == 0 || (r < 0 && errno != EAGAIN))
			refused_seen++;
	}
	CHECK(mid.pending == 4 && mid.refused - before.refused == 8 && refused_seen == 8,
		  "flood: 12 idle connections, 4 kept pending (max_pending), 8 refused at once (pending %d, refused %llu)",
		  mid.pending, (unsigned long long) (mid.refused - before.refused));
	CHECK(tn_log_count(&B, "refusing connection", "limits") >= 1,
		  "flood: refusals are logged with the limits");
	for (int i = 0; i < 12; i++)
		close(fds[i]);
	tn_pump_for(nodes, 4, 100);
	dcf_net_get_stats(B.net, &mid);
	CHECK(mid.pending == 0, "flood: pending connections released when the strangers hang up");
}

static int
c_failed_twice(void *arg)
{
	dcf_net_peer_stats st;

	dcf_net_get_peer_stats(((tn_node *) arg)->net, B_ID, DCF_NET_CONTROL, &st);
	return st.connect_failures >= 2;
}

/* Real endpoints: C has the wrong key (claims to be node 1), D is node 2 (not a member). */
static void
impostors(const char *wrong_key, const char *key)
{
	dcf_net_options o;
	dcf_net_member mc[2],
				md[2];
	dcf_net_stats bst0,
				bst;
	int			c_sent = 0,
				d_sent = 0;

	dcf_net_get_stats(B.net, &bst0);
	tn_options(&o, &C, 1, wrong_key);
	o.reconnect_min_ms = 20;
	o.reconnect_max_ms = 100;
	CHECK(tn_start(&C, &o), "impostor C: node id 1, wrong key");
	tn_member(&mc[0], 1, port_c);
	tn_member(&mc[1], B_ID, port_b);
	tn_set_members(&C, mc, 2);

	tn_options(&o, &D, D_ID, key);
	o.ping_interval_ms = PING_MS;
	o.reconnect_min_ms = 20;
	o.reconnect_max_ms = 100;
	CHECK(tn_start(&D, &o), "impostor D: right key, node id 2 (not a member)");
	tn_member(&md[0], D_ID, port_d);
	tn_member(&md[1], B_ID, port_b);
	tn_set_members(&D, md, 2);

	/* both keep queuing messages for B while they retry */
	for (int round = 0; round < 40; round++)
	{
		for (int k = 0; k < DCF_NET_NCLASSES; k++)
		{
			c_sent += tn_send(nodes, 0, &C, B_ID, k, EVIL_TYPE, 2000000000ULL + (uint64_t) round, 64) == DCF_OK;
			d_sent += tn_send(nodes, 0, &D, B_ID, k, EVIL_TYPE, 3000000000ULL + (uint64_t) round, 64) == DCF_OK;
		}
		a_batch(5);
		tn_pump_for(nodes, 4, 15);
	}
	CHECK(tn_pump_until(nodes, 4, c_failed_twice, &C, 5000) &&
		  tn_pump_until(nodes, 4, c_failed_twice, &D, 5000),
		  "impostors: both tried repeatedly (%d and %d messages queued)", c_sent, d_sent);
	dcf_net_get_stats(B.net, &bst);
	CHECK(b_evil_count() == 0 && bst.accepted == bst0.accepted,
		  "impostors: not one message from C or D processed, no connection of theirs accepted (rejected %llu)",
		  (unsigned long long) (bst.rejected - bst0.rejected));
	CHECK(!tn_connected(&C, B_ID, DCF_NET_CONTROL) && !tn_connected(&D, B_ID, DCF_NET_CONTROL),
		  "impostors: neither ever got an open connection");
	CHECK(tn_log_count(&C, "listener proof does not match", NULL) >= 1,
		  "impostor C: logs that B does not hold its key (and so never sends its proof)");
	CHECK(tn_log_count(&B, "node id 2 is not a member of the cluster", NULL) >= 1,
		  "B: logs the unknown node id 2");
}

static int
d_delivered(void *arg)
{
	for (int i = 0; i < B.nmsgs; i++)
		if (B.msgs[i].from == D_ID)
			return 1;
	return 0;
}

static void
membership_change(void)
{
	dcf_net_member m[4];
	int			from99 = 0;
	int			ok = 1;

	/* C gives up; D becomes a member of B's view at runtime */
	tn_stop(&C);
	tn_member(&m[0], 1, port_a);
	tn_member(&m[1], B_ID, port_b);
	tn_member(&m[2], 3, port_3);
	tn_member(&m[3], D_ID, port_d);
	CHECK(tn_set_members(&B, m, 4), "membership: B adds node 2 at runtime");
	for (int round = 0; round < 100 && !d_delivered(NULL); round++)
	{
		tn_send(nodes, 0, &D, B_ID, DCF_NET_CONTROL, 0x11, 4000000000ULL + (uint64_t) round, 64);
		tn_pump_for(nodes, 4, 20);
	}
	CHECK(d_delivered(NULL), "membership: node 2's messages are delivered once it is a member");
	{
		uint64_t	last = 0;

		/* earlier messages D still had queued may arrive too: it is a member now */
		for (int i = 0; i < B.nmsgs; i++)
			if (B.msgs[i].from == D_ID)
			{
				from99++;
				ok &= B.msgs[i].intact;
				if (B.msgs[i].type == 0x11)
				{
					ok &= B.msgs[i].seq > last;
					last = B.msgs[i].seq;
				}
			}
		CHECK(ok, "membership: all %d messages from node 2 intact, its new ones in order", from99);
	}

	/* remove it again: its connections close, nothing more gets through */
	CHECK(tn_set_members(&B, m, 3), "membership: B removes node 2");
	tn_pump_for(nodes, 4, 50);
	from99 = 0;
	for (int i = 0; i < B.nmsgs; i++)
		from99 += B.msgs[i].from == D_ID;
	for (int round = 0; round < 20; round++)
	{
		tn_send(nodes, 0, &D, B_ID, DCF_NET_CONTROL, 0x11, 5000000000ULL + (uint64_t) round, 64);
		tn_pump_for(nodes, 4, 20);
	}
	{
		int			after = 0;

		for (int i = 0; i < B.nmsgs; i++)
			after += B.msgs[i].from == D_ID;
		CHECK(after == from99 && tn_log_count(&B, "node left the membership", NULL) >= 1,
			  "membership: after removal no message from node 2 arrives, its connection was closed");
	}
	/* hide D's legitimate messages from the final stranger check */
	{
		int			j = 0;

		for (int i = 0; i < B.nmsgs; i++)
			if (B.msgs[i].from != D_ID)
				B.msgs[j++] = B.msgs[i];
		B.nmsgs = j;
	}
	tn_stop(&D);
}

static void
check_a_stream(void)
{
	uint64_t	next[DCF_NET_NCLASSES] = {0, 0};
	int			ok = 1;
	uint64_t	end = dcf_net_clock_ms() + 10000;

	while ((uint64_t) B.nmsgs < a_seq[0] + a_seq[1] && dcf_net_clock_ms() < end)
		tn_pump(nodes, 4, 10);
	for (int i = 0; i < B.nmsgs; i++)
	{
		tn_msg	   *m = &B.msgs[i];

		if (m->from != 1 || m->type == EVIL_TYPE || !m->intact || m->seq != next[m->cls])
		{
			ok = 0;
			break;
		}
		next[m->cls]++;
	}
	CHECK(ok && next[0] == a_seq[0] && next[1] == a_seq[1],
		  "A's streams: all %llu + %llu messages arrived intact and in order, and nothing else",
		  (unsigned long long) a_seq[0], (unsigned long long) a_seq[1]);
	{
		dcf_net_peer_stats st;

		dcf_net_get_peer_stats(A.net, B_ID, DCF_NET_BULK, &st);
		CHECK(st.connects == 1 && st.msgs_dropped == 0,
			  "A's connection to B was never disturbed (connects %llu, dropped %llu)",
			  (unsigned long long) st.connects, (unsigned long long) st.msgs_dropped);
	}
}

/* A node with a log burst of 2 logs only 2 of 5 rejections. */
static void
log_limit(const char *key)
{
	tn_node		E = {0};
	tn_node    *one[1] = {&E};
	dcf_net_options o;
	dcf_net_member m[1];
	dcf_net_stats st;
	uint8_t		junk[64];

	memset(junk, 'x', sizeof(junk));
	tn_options(&o, &E, 5, key);
	o.stranger_log_burst = 2;
	tn_start(&E, &o);
	tn_member(&m[0], 5, tn_free_port());
	tn_set_members(&E, m, 1);
	for (int i = 0; i < 5; i++)
	{
		uint16_t	lp;
		int			fd = raw_connect(m[0].port, &lp);
		uint64_t	end = dcf_net_clock_ms() + 2000;
		uint8_t		c;
		ssize_t		r;

		raw_send(fd, junk, sizeof(junk));
		do
		{
			tn_pump(one, 1, 5);
			r = recv(fd, &c, 1, MSG_DONTWAIT);
		} while (r < 0 && errno == EAGAIN && dcf_net_clock_ms() < end);
		close(fd);
	}
	dcf_net_get_stats(E.net, &st);
	CHECK(st.rejected == 5 && tn_log_count(&E, "rejecting", NULL) == 2,
		  "log limit: 5 garbage connections rejected, only stranger_log_burst = 2 logged");
	tn_free(&E);
}

/*
 * With strangers connected and still authenticating, dcf_net_socks lists
 * B's open connections (to its member A) before theirs, so a caller whose
 * wait set is too small drops strangers, never a member (issue 11, point 8).
 */
static void
socks_members_first(void)
{
	int			raw[4];
	uint16_t	raw_port[4];
	dcf_net_sock out[64];
	int			n,
				first_stranger = -1,
				last_member = -1,
				members = 0,
				strangers = 0;

	for (int i = 0; i < 4; i++)
		raw[i] = raw_connect(port_b, &raw_port[i]);
	tn_pump_for(nodes, 4, 50);
	n = dcf_net_socks(B.net, out, 64);
	for (int i = 0; i < n && i < 64; i++)
	{
		struct sockaddr_in peer;
		socklen_t	plen = sizeof(peer);
		int			stranger = 0;

		if (getpeername(out[i].fd, (struct sockaddr *) &peer, &plen) != 0)
			continue;			/* the listening socket */
		for (int k = 0; k < 4; k++)
			if (ntohs(peer.sin_port) == raw_port[k])
				stranger = 1;
		if (stranger)
		{
			strangers++;
			if (first_stranger < 0)
				first_stranger = i;
		}
		else
		{
			members++;
			last_member = i;
		}
	}
	CHECK(members >= 1 && strangers >= 1 && last_member < first_stranger,
		  "dcf_net_socks: %d open member connections listed before %d strangers (last member at %d, first stranger at %d)",
		  members, strangers, last_member, first_stranger);
	for (int i = 0; i < 4; i++)
		close(raw[i]);
	tn_pump_for(nodes, 4, 50);
}

int
main(void)
{
	const char *key = tn_key_file("cluster.key", 1);
	const char *wrong_key = tn_key_file("wrong.key", 2);
	dcf_net_options o;
	dcf_net_member m[3];

	port_a = tn_free_port();
	port_b = tn_free_port();
	port_3 = tn_free_port();
	port_c = tn_free_port();
	port_d = tn_free_port();
	tn_options(&o, &A, 1, key);
	o.ping_interval_ms = PING_MS;
	CHECK(tn_start(&A, &o), "node A (id 1)");
	tn_options(&o, &B, B_ID, key);
	o.handshake_timeout_ms = 500;
	o.max_pending = 4;
	o.stranger_log_burst = 1000;	/* every rejection is checked for its line */
	o.ping_interval_ms = PING_MS;
	o.idle_timeout_ms = B_IDLE_MS;
	CHECK(tn_start(&B, &o), "node B (id 5, handshake timeout 500 ms, max 4 pending)");
	tn_member(&m[0], 1, port_a);
	tn_member(&m[1], B_ID, port_b);
	tn_member(&m[2], 3, port_3);
	tn_set_members(&B, m, 3);
	tn_set_members(&A, m, 3);
	CHECK(tn_pump_until(nodes, 4, a_connected, NULL, 5000), "A and B connected both ways");
	a_batch(20);

	socks_members_first();
	raw_attacks(key);
	flood();
	impostors(wrong_key, key);
	membership_change();
	check_a_stream();
	log_limit(key);

	for (int i = 0; i < 4; i++)
		tn_free(nodes[i]);
	tn_cleanup();
	return unit_done();
}
