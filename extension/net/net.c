/*
 * net.c — the dcf_net endpoint: listener, connections, queues, timers.
 * See net.h for the contract; net_session.c holds the protocol itself.
 *
 * Objects.  A peer (one per other member) has a lane per class: the bounded
 * send queue, the lane's one connection (`conn`), and, when this node has
 * the lower id and so is the one that dials, the redial schedule.  The
 * connection carries the lane's messages both ways.  Connections live in
 * net->conns; a connection is in exactly one of these states:
 *
 *   CONNECTING  outbound TCP connect in progress        (conn_connected)
 *   TLS         TLS handshake in progress               (conn_tls_step)
 *   HANDSHAKE   dcf handshake (net_session.c)           (start_handshake)
 *   OPEN        authenticated                           (sess_on_open)
 *
 * and any of them can be closed (close_conn), which marks it dead.  An
 * accepted connection joins its lane when it opens, replacing (closing) any
 * older one; a dialed connection belongs to its lane from the dial on.
 *
 * Invariants:
 *  1. lane->conn, when set, is a live connection of that peer and class:
 *     the one we dialed (any state) or an OPEN one we accepted.
 *     close_conn() clears it before anything else happens.
 *  2. Dead connections keep their fd and memory until reap(), which runs
 *     only at the outermost API call (depth 0): a callback that closes a
 *     connection never frees memory its caller is still using, and an fd
 *     number is never reused inside one dcf_net_process() call.
 *  3. Every change to the set of fds (a connection added or closed, the
 *     listener opened, closed or paused) bumps net->generation.
 *  4. A lane's queue holds whole frames only; lane->head_left counts the
 *     bytes of the frame at its head that are not yet written (0: the head
 *     is a frame boundary).  Handshake frames and pings (hsout) are written
 *     only at a frame boundary of the lane's stream.
 *  5. Nothing reaches on_message unless its session is OPEN (net_session.c).
 */
#include "net/net.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/dcf_assert.h"
#include "net/net_auth.h"
#include "net/net_buf.h"
#include "net/net_compress.h"
#include "net/net_queue.h"
#include "net/net_session.h"
#include "net/net_sock.h"
#include "net/net_tls.h"

/* Bytes asked of one read() at least; bigger reads mean fewer syscalls. */
#define NET_READ_CHUNK_BYTES		(256u * 1024)
/* The same before a connection authenticated: strangers get a small buffer. */
#define NET_READ_CHUNK_HS_BYTES		1024
/* Bytes read from one connection per call before others get their turn. */
#define NET_READ_BUDGET_BYTES		(8u * 1024 * 1024)
/* Receive buffers above this size are freed when they drain. */
#define NET_RBUF_KEEP_BYTES			(1u * 1024 * 1024)
/* dcf_net_send() writes at once when a queue holds this much. */
#define NET_EAGER_WRITE_BYTES		(256u * 1024)
/* Bytes handed to one write/SSL_write call at most, in at most this many pieces. */
#define NET_WRITE_CHUNK_BYTES		(4u * 1024 * 1024)
#define NET_WRITE_IOV_MAX			(NET_WRITE_CHUNK_BYTES / DCF_NETQ_BLOCK_BYTES + 1)
/* Connections accepted per listener wake-up. */
#define NET_ACCEPT_BATCH			16
/* Pause after accept() fails (EMFILE ...), so the loop does not spin. */
#define NET_ACCEPT_PAUSE_MS			100
/* Window of the limit on log lines about unauthenticated connections. */
#define NET_LOG_STRANGER_WINDOW_MS	10000
#define NET_LOG_LINE_MAX			(DCF_ERRMSG_MAX + 160)
/* Handshake output a connection can owe (a few small frames). */
#define NET_HSOUT_MAX_BYTES			1024
/* dcf_net_pump_many() uses stack arrays up to these sizes, heap beyond. */
#define NET_PUMP_LOCAL_SOCKS		256
#define NET_PUMP_LOCAL_NETS			16
/* Decompression scratch: one frame. */
#define NET_ZBUF_MAX_BYTES			DCF_FRAME_MAX_BYTES

typedef enum conn_state
{
	CONN_CONNECTING,
	CONN_TLS,
	CONN_HANDSHAKE,
	CONN_OPEN
} conn_state;

typedef struct net_peer net_peer;

typedef struct net_conn
{
	dcf_net    *net;
	int			fd;
	int			outbound;		/* we dialed it, or accepted it */
	conn_state	state;
	int			dead;
	int			cls;			/* outbound: from the lane; inbound: once open */
	net_peer   *peer;			/* outbound: always; inbound: once open */
	SSL		   *ssl;
	int			tls_want_write; /* TLS handshake waits for writability */
	int			more_input;		/* stopped reading before EAGAIN: read again */
	int			carry;			/* more_input as of the start of this process call */
	dcf_sess	sess;
	dcf_netbuf	rbuf;
	dcf_netbuf	hsout;
	uint64_t	deadline_ms;	/* must be OPEN by then (0 once open) */
	uint64_t	last_read_ms;	/* OPEN: when the peer was last heard */
	uint64_t	last_write_ms;	/* OPEN: when we last wrote to it */
	char		addr[DCF_NET_ADDR_STR_MAX];
} net_conn;

typedef struct net_lane
{
	net_conn   *conn;
	dcf_netq	q;
	size_t		head_left;		/* invariant 4 */
	uint64_t	retry_at_ms;	/* dialer: dial when no conn and now >= this */
	uint32_t	backoff_ms;		/* delay before the next retry */
	uint32_t	failures;		/* consecutive failed attempts */
	uint64_t	queued_since_ms;	/* when the oldest message waiting without
									 * an open connection was queued; 0: none */
	dcf_net_peer_stats st;
} net_lane;

struct net_peer
{
	uint32_t	id;
	char		ip[DCF_NET_IP_MAX];
	uint16_t	port;
	net_lane	lane[DCF_NET_NCLASSES];
};

struct dcf_net
{
	dcf_net_options opt;
	dcf_net_key key;
	SSL_CTX    *tls;
	dcf_sess_env env;
	dcf_netbuf	zbuf;			/* decompression scratch (shared) */
	dcf_netbuf	cbuf;			/* compression scratch */
	net_peer   *peers[DCF_NET_MAX_MEMBERS];
	int			npeers;
	net_conn  **conns;
	int			nconns;
	int			pending;		/* inbound, not yet open */
	int			listen_fd;
	char		listen_ip[DCF_NET_IP_MAX];
	uint16_t	listen_port;
	uint64_t	listen_paused_until_ms;
	uint64_t	generation;
	uint64_t	now_ms;
	int			depth;			/* nesting of API calls (callbacks) */
	int			need_reap;
	uint64_t	rng;
	dcf_net_stats st;
	uint64_t	log_window_start_ms;
	int			log_window_count;
	uint64_t	log_suppressed;
};

static void close_conn(net_conn *c, dcf_net_log_level level, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
static void conn_write(net_conn *c);
static void conn_read(net_conn *c);

/* ---- small helpers ------------------------------------------------------ */

const char *
dcf_net_class_name(dcf_net_class cls)
{
	return cls == DCF_NET_CONTROL ? "control" : cls == DCF_NET_BULK ? "bulk" : "?";
}

uint64_t
dcf_net_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static uint64_t
rng_next(dcf_net *net)
{
	/* xorshift64*: jitter only, seeded from RAND_bytes */
	net->rng ^= net->rng >> 12;
	net->rng ^= net->rng << 25;
	net->rng ^= net->rng >> 27;
	return net->rng * 0x2545F4914F6CDD1DULL;
}

static void
default_log(void *arg, dcf_net_log_level level, const char *line)
{
	if (level >= DCF_NET_LOG_INFO)
		fprintf(stderr, "dcf net: %s\n", line);
}

static void
net_log(dcf_net *net, dcf_net_log_level level, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static void
net_log(dcf_net *net, dcf_net_log_level level, const char *fmt,...)
{
	char		line[NET_LOG_LINE_MAX];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	net->opt.log(net->opt.log_arg, level, line);
}

/*
 * Anyone who can reach the port can make us log; keep that to a burst per
 * window and say how many lines were dropped.
 */
static int
stranger_log_allowed(dcf_net *net)
{
	if (net->now_ms - net->log_window_start_ms >= NET_LOG_STRANGER_WINDOW_MS)
	{
		if (net->log_suppressed > 0)
			net_log(net, DCF_NET_LOG_WARNING,
					"suppressed %llu log lines about unauthenticated connections",
					(unsigned long long) net->log_suppressed);
		net->log_window_start_ms = net->now_ms;
		net->log_window_count = 0;
		net->log_suppressed = 0;
	}
	if (net->log_window_count < net->opt.stranger_log_burst)
	{
		net->log_window_count++;
		return 1;
	}
	net->log_suppressed++;
	return 0;
}

/*
 * Time only moves forward here, whatever the caller passes: idle and ping
 * arithmetic on an earlier "now" would wrap around.
 */
static void
set_now(dcf_net *net, uint64_t now_ms)
{
	if (now_ms > net->now_ms)
		net->now_ms = now_ms;
}

static net_peer *
find_peer(const dcf_net *net, uint32_t id)
{
	for (int i = 0; i < net->npeers; i++)
		if (net->peers[i]->id == id)
			return net->peers[i];
	return NULL;
}

/* The node with the lower id dials; the other waits for it. */
static int
we_dial(const dcf_net *net, const net_peer *p)
{
	return net->opt.self_id < p->id;
}

static void
conn_name(const net_conn *c, char *buf, size_t n)
{
	if (c->outbound)
		snprintf(buf, n, "connection to node %u (%s, %s)", c->peer->id,
				 c->addr, dcf_net_class_name(c->cls));
	else if (c->state == CONN_OPEN)
		snprintf(buf, n, "connection from node %u (%s, %s)",
				 dcf_sess_peer_id(&c->sess), c->addr,
				 dcf_net_class_name(c->cls));
	else
		snprintf(buf, n, "unauthenticated connection from %s", c->addr);
}

static uint32_t
jitter(dcf_net *net, uint32_t ms)
{
	/* uniform in [ms/2, ms]: peers that failed together do not redial together */
	return ms / 2 + (uint32_t) (rng_next(net) % (ms / 2 + 1));
}

/* Count whole frames in a lane's queue (for msgs_dropped). */
static uint64_t
queue_frames(const net_lane *l)
{
	size_t		len = dcf_netq_len(&l->q);
	size_t		off = l->head_left;
	uint64_t	n = l->head_left > 0 ? 1 : 0;

	while (off + DCF_FRAME_HDR_BYTES <= len)
	{
		uint8_t		flen[4];

		dcf_netq_peek(&l->q, off + 8, flen, 4);
		off += DCF_FRAME_HDR_BYTES + dcf_get_u32(flen);
		n++;
	}
	return n;
}

static void
lane_drop_queue(net_lane *l)
{
	l->st.msgs_dropped += queue_frames(l);
	dcf_netq_clear(&l->q);
	l->head_left = 0;
	l->queued_since_ms = 0;
}

/*
 * A connection to the lane's peer just opened.  Messages that waited longer
 * than DCF_NET_QUEUE_STALE_MS for it describe a past the peer should not act
 * on (a leader that has stepped down since, say); the consensus core resends
 * what still matters.
 */
static void
lane_drop_stale(dcf_net *net, net_lane *l)
{
	if (l->queued_since_ms != 0 && net->now_ms - l->queued_since_ms > DCF_NET_QUEUE_STALE_MS)
		lane_drop_queue(l);
	l->queued_since_ms = 0;
}

/* ---- connection lifecycle ---------------------------------------------- */

static net_conn *
conn_new(dcf_net *net, int fd, int outbound)
{
	net_conn   *c;

	if (net->nconns >= net->opt.max_conns)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->net = net;
	c->fd = fd;
	c->outbound = outbound;
	/* the session parser bounds frames; the buffer bound is the same plus a read */
	dcf_netbuf_init(&c->rbuf, DCF_FRAME_HDR_BYTES + DCF_FRAME_MAX_BYTES + NET_READ_CHUNK_BYTES);
	dcf_netbuf_init(&c->hsout, NET_HSOUT_MAX_BYTES);
	c->deadline_ms = net->now_ms + net->opt.handshake_timeout_ms;
	net->conns[net->nconns++] = c;
	net->generation++;
	return c;
}

static void
conn_free(net_conn *c)
{
	if (c->ssl)
		dcf_tls_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	dcf_netbuf_free(&c->rbuf);
	dcf_netbuf_free(&c->hsout);
	free(c);
}

/* Schedule the next dial of a lane after a failure or a lost connection. */
static void
lane_schedule_retry(dcf_net *net, net_lane *l, int was_open)
{
	if (was_open)
		l->backoff_ms = net->opt.reconnect_min_ms;
	l->retry_at_ms = net->now_ms + jitter(net, l->backoff_ms);
	if (!was_open)
	{
		uint64_t	next = (uint64_t) l->backoff_ms * 2;

		l->backoff_ms = next > net->opt.reconnect_max_ms ?
			net->opt.reconnect_max_ms : (uint32_t) next;
	}
}

/*
 * Close a connection: one log line naming the peer and the reason, lanes
 * detached at once, memory and fd released at the next reap.
 */
static void
close_conn(net_conn *c, dcf_net_log_level level, const char *fmt,...)
{
	dcf_net    *net = c->net;
	char		reason[DCF_ERRMSG_MAX];
	char		name[160];
	va_list		ap;
	int			was_open = c->state == CONN_OPEN;

	if (c->dead)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	conn_name(c, name, sizeof(name));

	if (c->outbound)
	{
		net_lane   *l = &c->peer->lane[c->cls];

		l->conn = NULL;
		if (!was_open)
		{
			l->failures++;
			l->st.connect_failures++;
		}
		/* queued messages are stale by the time a new connection opens */
		lane_drop_queue(l);
		lane_schedule_retry(net, l, was_open);

		/* repeated failures: log attempts 1, 2, 4, 8, ... loudly, the rest at debug */
		if (!was_open && (l->failures & (l->failures - 1)) != 0)
			level = DCF_NET_LOG_DEBUG;
		if (was_open)
			net_log(net, level, "closing %s: %s", name, reason);
		else
			net_log(net, level, "could not open %s: %s (attempt %u, retrying in %llu ms)",
					name, reason, l->failures,
					(unsigned long long) (l->retry_at_ms - net->now_ms));
	}
	else
	{
		if (c->peer && c->peer->lane[c->cls].conn == c)
		{
			c->peer->lane[c->cls].conn = NULL;
			lane_drop_queue(&c->peer->lane[c->cls]);
		}
		if (was_open)
			net_log(net, level, "closing %s: %s", name, reason);
		else
		{
			net->pending--;
			net->st.rejected++;
			if (stranger_log_allowed(net))
				net_log(net, level, "rejecting %s: %s", name, reason);
		}
	}
	c->dead = 1;
	net->need_reap = 1;
	net->generation++;
}

static void
reap(dcf_net *net)
{
	int			j = 0;

	if (!net->need_reap || net->depth > 0)
		return;
	for (int i = 0; i < net->nconns; i++)
	{
		net_conn   *c = net->conns[i];

		if (c->dead)
			conn_free(c);
		else
			net->conns[j++] = c;
	}
	net->nconns = j;
	net->need_reap = 0;
}

/* ---- session callbacks -------------------------------------------------- */

static int
sess_is_member(void *arg, uint32_t node_id)
{
	dcf_net    *net = arg;

	return node_id != net->opt.self_id && find_peer(net, node_id) != NULL;
}

static void
sess_on_open(void *arg, dcf_sess *s)
{
	dcf_net    *net = arg;
	net_conn   *c = s->owner;
	char		name[160];

	c->state = CONN_OPEN;
	net->generation++;			/* dcf_net_socks lists open connections first */
	c->deadline_ms = 0;
	c->last_read_ms = c->last_write_ms = net->now_ms;
	if (c->outbound)
	{
		net_lane   *l = &c->peer->lane[c->cls];

		l->failures = 0;
		l->backoff_ms = net->opt.reconnect_min_ms;
		l->st.connects++;
		lane_drop_stale(net, l);
		conn_name(c, name, sizeof(name));
		net_log(net, DCF_NET_LOG_INFO, "opened %s", name);
	}
	else
	{
		net_peer   *p = find_peer(net, s->client_id);
		net_lane   *l;

		/* the session checked membership just before calling us */
		DCF_ASSERT(p != NULL);
		c->peer = p;
		c->cls = s->cls;
		l = &p->lane[c->cls];
		net->pending--;
		net->st.accepted++;
		/* the peer redialed: it restarted, or lost the old connection we still hold */
		if (l->conn != NULL && l->conn != c)
			close_conn(l->conn, DCF_NET_LOG_INFO, "replaced by a newer connection from the same node");
		l->conn = c;
		l->st.connects++;
		lane_drop_stale(net, l);
		conn_name(c, name, sizeof(name));
		net_log(net, DCF_NET_LOG_INFO, "accepted %s", name);
	}
}

static int
sess_on_msg(void *arg, dcf_sess *s, uint8_t type, const uint8_t *data,
			size_t len)
{
	dcf_net    *net = arg;
	net_conn   *c = s->owner;
	dcf_net_msg m;
	net_lane   *l = &c->peer->lane[c->cls];

	l->st.msgs_received++;
	l->st.bytes_received += len;
	net->st.msgs_received++;
	m.from = dcf_sess_peer_id(s);
	m.cls = (dcf_net_class) c->cls;
	m.type = type;
	m.data = data;
	m.len = len;
	net->opt.on_message(net->opt.on_message_arg, &m);
	return c->dead;
}

/* ---- handshake steps ---------------------------------------------------- */

static void
start_handshake(net_conn *c, const uint8_t *binding)
{
	dcf_net    *net = c->net;
	uint8_t		nonce[DCF_NET_NONCE_BYTES];
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc;

	if (dcf_net_random(nonce, sizeof(nonce), err) != DCF_OK)
	{
		close_conn(c, DCF_NET_LOG_WARNING, "%s", err);
		return;
	}
	c->state = CONN_HANDSHAKE;
	if (c->outbound)
	{
		rc = dcf_sess_client_start(&c->sess, &net->env, c, c->peer->id,
								   (uint8_t) c->cls, nonce, binding, &c->hsout);
		if (rc != DCF_OK)
		{
			close_conn(c, DCF_NET_LOG_WARNING, "could not start handshake: %s", dcf_rc_name(rc));
			return;
		}
		conn_write(c);
	}
	else
		dcf_sess_server_start(&c->sess, &net->env, c, nonce, binding);
	/* inside TLS, the first frame may already sit in OpenSSL's buffer */
	if (c->ssl)
		c->more_input = 1;
}

static void
conn_tls_step(net_conn *c)
{
	uint8_t		binding[DCF_TLS_BINDING_BYTES];
	char		err[DCF_ERRMSG_MAX];
	int			want_write = 0;
	dcf_rc		rc;

	rc = dcf_tls_handshake(c->ssl, &want_write, err);
	if (rc == DCF_ERR_AGAIN)
	{
		c->tls_want_write = want_write;
		return;
	}
	c->tls_want_write = 0;
	if (rc != DCF_OK)
	{
		close_conn(c, DCF_NET_LOG_WARNING, "%s", err);
		return;
	}
	if (dcf_tls_binding(c->ssl, binding, err) != DCF_OK)
	{
		close_conn(c, DCF_NET_LOG_WARNING, "%s", err);
		return;
	}
	start_handshake(c, binding);
}

/* Transport is up (TCP connected or accepted): TLS or straight to dcf. */
static void
conn_transport_up(net_conn *c)
{
	dcf_net    *net = c->net;
	char		err[DCF_ERRMSG_MAX];

	dcf_sock_tune(c->fd);
	if (net->tls)
	{
		if (dcf_tls_new(net->tls, c->fd, !c->outbound, &c->ssl, err) != DCF_OK)
		{
			close_conn(c, DCF_NET_LOG_WARNING, "%s", err);
			return;
		}
		c->state = CONN_TLS;
		conn_tls_step(c);
	}
	else
		start_handshake(c, NULL);
}

static void
conn_connected(net_conn *c)
{
	char		err[DCF_ERRMSG_MAX];

	if (dcf_sock_connected(c->fd, err) != DCF_OK)
	{
		close_conn(c, DCF_NET_LOG_INFO, "%s", err);
		return;
	}
	conn_transport_up(c);
}

static void
dial(dcf_net *net, net_peer *p, int cls)
{
	net_lane   *l = &p->lane[cls];
	char		err[DCF_ERRMSG_MAX];
	net_conn   *c;
	int			fd;
	int			in_progress;

	DCF_ASSERT(l->conn == NULL && we_dial(net, p));
	if (dcf_sock_dial(p->ip, p->port, &fd, &in_progress, err) != DCF_OK)
	{
		l->failures++;
		l->st.connect_failures++;
		lane_drop_queue(l);
		lane_schedule_retry(net, l, 0);
		net_log(net, (l->failures & (l->failures - 1)) ? DCF_NET_LOG_DEBUG : DCF_NET_LOG_INFO,
				"could not dial node %u (%s:%u, %s): %s (attempt %u)", p->id, p->ip,
				(unsigned) p->port, dcf_net_class_name(cls), err, l->failures);
		return;
	}
	c = conn_new(net, fd, 1);
	if (c == NULL)
	{
		close(fd);
		l->failures++;
		lane_schedule_retry(net, l, 0);
		net_log(net, DCF_NET_LOG_WARNING,
				"could not dial node %u (%s): connection limit %d reached",
				p->id, dcf_net_class_name(cls), net->opt.max_conns);
		return;
	}
	c->peer = p;
	c->cls = cls;
	if (strchr(p->ip, ':'))
		snprintf(c->addr, sizeof(c->addr), "[%s]:%u", p->ip, (unsigned) p->port);
	else
		snprintf(c->addr, sizeof(c->addr), "%s:%u", p->ip, (unsigned) p->port);
	l->conn = c;
	if (in_progress)
		c->state = CONN_CONNECTING;
	else
		conn_connected(c);
}

static void
do_accept(dcf_net *net)
{
	char		err[DCF_ERRMSG_MAX];
	char		addr[DCF_NET_ADDR_STR_MAX];

	for (int i = 0; i < NET_ACCEPT_BATCH && net->listen_fd >= 0; i++)
	{
		net_conn   *c;
		int			fd;
		dcf_rc		rc = dcf_sock_accept(net->listen_fd, &fd, addr, sizeof(addr), err);

		if (rc == DCF_ERR_AGAIN)
			return;
		if (rc != DCF_OK)
		{
			/* EMFILE and friends: stop asking for a while instead of spinning */
			net->listen_paused_until_ms = net->now_ms + NET_ACCEPT_PAUSE_MS;
			net->generation++;
			if (stranger_log_allowed(net))
				net_log(net, DCF_NET_LOG_WARNING, "%s (pausing accepts for %d ms)",
						err, NET_ACCEPT_PAUSE_MS);
			return;
		}
		if (net->pending >= net->opt.max_pending || net->nconns >= net->opt.max_conns ||
			(c = conn_new(net, fd, 0)) == NULL)
		{
			close(fd);
			net->st.refused++;
			if (stranger_log_allowed(net))
				net_log(net, DCF_NET_LOG_WARNING,
						"refusing connection from %s: %d connections, %d authenticating (limits %d, %d)",
						addr, net->nconns, net->pending, net->opt.max_conns,
						net->opt.max_pending);
			continue;
		}
		snprintf(c->addr, sizeof(c->addr), "%s", addr);
		net->pending++;
		conn_transport_up(c);
	}
}

/* ---- I/O ---------------------------------------------------------------- */

/* Write up to n bytes: DCF_OK with *put > 0, DCF_ERR_AGAIN, or an error. */
static dcf_rc
io_write(net_conn *c, const uint8_t *p, size_t n, size_t *put, char *err)
{
	ssize_t		r;

	if (n > NET_WRITE_CHUNK_BYTES)
		n = NET_WRITE_CHUNK_BYTES;
	if (c->ssl)
	{
		int			want_read;

		return dcf_tls_write(c->ssl, p, n, put, &want_read, err);
	}
	do
		r = send(c->fd, p, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
	{
		*put = 0;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return DCF_ERR_AGAIN;
		return dcf_errf(err, DCF_ERR_IO, "write: %s", strerror(errno));
	}
	*put = (size_t) r;
	return DCF_OK;
}

/* Write an iovec list (TLS: its first entry only); like io_write. */
static dcf_rc
io_writev(net_conn *c, struct iovec *iov, int niov, size_t *put, char *err)
{
	struct msghdr msg;
	ssize_t		r;

	if (c->ssl)
		return io_write(c, iov[0].iov_base, iov[0].iov_len, put, err);
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t) niov;
	do
		r = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
	{
		*put = 0;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return DCF_ERR_AGAIN;
		return dcf_errf(err, DCF_ERR_IO, "write: %s", strerror(errno));
	}
	*put = (size_t) r;
	return DCF_OK;
}

static dcf_rc
io_read(net_conn *c, uint8_t *p, size_t n, size_t *got, char *err)
{
	ssize_t		r;

	if (c->ssl)
		return dcf_tls_read(c->ssl, p, n, got, err);
	do
		r = recv(c->fd, p, n, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
	{
		*got = 0;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return DCF_ERR_AGAIN;
		return dcf_errf(err, DCF_ERR_IO, "read: %s", strerror(errno));
	}
	*got = (size_t) r;
	if (r == 0)
		return dcf_errf(err, DCF_ERR_CLOSED, "peer closed the connection");
	return DCF_OK;
}

/* Advance a lane's queue by n written bytes, counting finished frames. */
static void
lane_written(net_lane *l, size_t n)
{
	l->st.wire_bytes_sent += n;
	while (n > 0)
	{
		size_t		take;

		if (l->head_left == 0)
		{
			uint8_t		flen[4];

			dcf_netq_peek(&l->q, 8, flen, 4);
			l->head_left = DCF_FRAME_HDR_BYTES + (size_t) dcf_get_u32(flen);
		}
		take = n < l->head_left ? n : l->head_left;
		dcf_netq_consume(&l->q, take);
		l->head_left -= take;
		n -= take;
		if (l->head_left == 0)
			l->st.msgs_sent++;
	}
}

/* Write handshake output or a ping, then (open) the lane's queue. */
static void
conn_write(net_conn *c)
{
	char		err[DCF_ERRMSG_MAX];
	size_t		put;
	dcf_rc		rc;

	if (c->dead || c->state == CONN_CONNECTING || c->state == CONN_TLS)
		return;
	while (dcf_netbuf_len(&c->hsout) > 0)
	{
		rc = io_write(c, dcf_netbuf_head(&c->hsout), dcf_netbuf_len(&c->hsout), &put, err);
		if (rc == DCF_ERR_AGAIN)
			return;
		if (rc != DCF_OK)
		{
			close_conn(c, DCF_NET_LOG_INFO, "%s", err);
			return;
		}
		dcf_netbuf_consume(&c->hsout, put);
		c->last_write_ms = c->net->now_ms;
	}
	if (c->state == CONN_OPEN && c->peer && c->peer->lane[c->cls].conn == c)
	{
		net_lane   *l = &c->peer->lane[c->cls];

		while (dcf_netq_len(&l->q) > 0)
		{
			struct iovec iov[NET_WRITE_IOV_MAX];
			int			niov = dcf_netq_iov(&l->q, iov, c->ssl ? 1 : NET_WRITE_IOV_MAX,
											NET_WRITE_CHUNK_BYTES);
			size_t		asked = 0;

			for (int i = 0; i < niov; i++)
				asked += iov[i].iov_len;

			rc = io_writev(c, iov, niov, &put, err);
			if (rc == DCF_ERR_AGAIN)
				return;
			if (rc != DCF_OK)
			{
				close_conn(c, DCF_NET_LOG_INFO, "%s", err);
				return;
			}
			l->st.writes++;
			lane_written(l, put);
			c->last_write_ms = c->net->now_ms;
			if (!c->ssl && put < asked)
				return;			/* short write: the socket buffer is full */
		}
	}
}

static void
conn_read(net_conn *c)
{
	char		err[DCF_ERRMSG_MAX];
	size_t		budget = NET_READ_BUDGET_BYTES;
	size_t		need = 0;

	c->more_input = 0;
	while (!c->dead)
	{
		size_t		len = dcf_netbuf_len(&c->rbuf);
		size_t		want = c->state == CONN_OPEN ? NET_READ_CHUNK_BYTES : NET_READ_CHUNK_HS_BYTES;
		size_t		got;
		size_t		asked;
		size_t		consumed;
		dcf_rc		rc;

		if (need > len && need - len > want)
			want = need - len;
		rc = dcf_netbuf_reserve(&c->rbuf, want);
		if (rc != DCF_OK)
		{
			close_conn(c, DCF_NET_LOG_WARNING, "no memory for a %zu byte frame", need);
			return;
		}
		asked = dcf_netbuf_room(&c->rbuf);
		rc = io_read(c, dcf_netbuf_tailp(&c->rbuf), asked, &got, err);
		if (rc == DCF_ERR_AGAIN)
			break;
		if (rc != DCF_OK)
		{
			close_conn(c, rc == DCF_ERR_CLOSED ? DCF_NET_LOG_INFO : DCF_NET_LOG_WARNING,
					   "%s", err);
			return;
		}
		dcf_netbuf_produce(&c->rbuf, got);
		c->last_read_ms = c->net->now_ms;

		err[0] = '\0';
		rc = dcf_sess_input(&c->sess, dcf_netbuf_head(&c->rbuf), dcf_netbuf_len(&c->rbuf),
							&consumed, &need, &c->hsout, err);
		dcf_netbuf_consume(&c->rbuf, consumed);
		if (c->dead)
			return;				/* closed by the receive callback */
		if (rc != DCF_OK)
		{
			close_conn(c, DCF_NET_LOG_WARNING, "%s", err[0] ? err : dcf_rc_name(rc));
			return;
		}
		if (dcf_netbuf_len(&c->hsout) > 0)
			conn_write(c);
		if (got >= budget)
		{
			c->more_input = 1;	/* let other connections have their turn */
			break;
		}
		budget -= got;
		/* a short plain read drained the socket: skip the read that says EAGAIN */
		if (!c->ssl && got < asked)
			break;
	}
	if (!c->dead)
		dcf_netbuf_trim(&c->rbuf, NET_RBUF_KEEP_BYTES);
}

/* ---- timers and flushing ------------------------------------------------ */

/*
 * An idle connection gets a ping: the peer's idle timer stays quiet, and
 * writing to a connection whose peer restarted draws a reset at once, so
 * the side that dials learns it must redial even when it has nothing to say.
 */
static void
queue_ping(net_conn *c)
{
	net_lane   *l = &c->peer->lane[c->cls];
	uint8_t		f[DCF_FRAME_HDR_BYTES];
	dcf_frame_hdr h = {.kind = DCF_FRAME_PING};

	/* only between frames: an empty queue has no partly written frame */
	if (dcf_netq_len(&l->q) != 0 || dcf_netbuf_len(&c->hsout) != 0)
		return;
	dcf_frame_put(f, &h, NULL);
	if (dcf_netbuf_append(&c->hsout, f, sizeof(f)) == DCF_OK)
	{
		l->st.pings_sent++;
		c->last_write_ms = c->net->now_ms;	/* no second ping until it is written */
	}
}

static void
run_timers(dcf_net *net)
{
	for (int i = 0; i < net->nconns; i++)
	{
		net_conn   *c = net->conns[i];

		if (!c->dead && c->deadline_ms != 0 && net->now_ms >= c->deadline_ms)
			close_conn(c, DCF_NET_LOG_WARNING, "%s timed out after %u ms",
					   c->state == CONN_CONNECTING ? "connect" :
					   c->state == CONN_TLS ? "tls handshake" : "handshake",
					   net->opt.handshake_timeout_ms);
	}
	for (int i = 0; i < net->nconns; i++)
	{
		net_conn   *c = net->conns[i];

		if (c->dead || c->state != CONN_OPEN)
			continue;
		if (net->opt.idle_timeout_ms && net->now_ms - c->last_read_ms >= net->opt.idle_timeout_ms)
			close_conn(c, DCF_NET_LOG_WARNING, "nothing heard for %llu ms (idle timeout %u ms)",
					   (unsigned long long) (net->now_ms - c->last_read_ms),
					   net->opt.idle_timeout_ms);
		else if (net->opt.ping_interval_ms &&
				 net->now_ms - c->last_write_ms >= net->opt.ping_interval_ms)
			queue_ping(c);
	}
	for (int i = 0; i < net->npeers; i++)
		for (int k = 0; k < DCF_NET_NCLASSES; k++)
		{
			net_lane   *l = &net->peers[i]->lane[k];

			if (l->conn == NULL && we_dial(net, net->peers[i]) && net->now_ms >= l->retry_at_ms)
				dial(net, net->peers[i], k);
		}
	if (net->listen_paused_until_ms != 0 && net->now_ms >= net->listen_paused_until_ms)
	{
		net->listen_paused_until_ms = 0;
		net->generation++;
	}
}

/* Control connections first: their bytes must not wait behind bulk. */
static void
flush_all(dcf_net *net)
{
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < net->nconns; i++)
		{
			net_conn   *c = net->conns[i];
			int			ctl = c->state == CONN_OPEN ? c->cls == DCF_NET_CONTROL : 1;

			if (!c->dead && ctl == (pass == 0))
				conn_write(c);
		}
}

void
dcf_net_flush(dcf_net *net, uint64_t now_ms)
{
	set_now(net, now_ms);
	net->depth++;
	flush_all(net);
	net->depth--;
	reap(net);
}

/* ---- public API ----------------------------------------------------------- */

void
dcf_net_options_init(dcf_net_options *o)
{
	memset(o, 0, sizeof(*o));
	o->compress = DCF_NET_COMPRESS_NONE;
	o->compress_min_bytes = DCF_NET_COMPRESS_MIN_BYTES;
	o->queue_max_bytes[DCF_NET_CONTROL] = DCF_NET_CONTROL_QUEUE_MAX_BYTES;
	o->queue_max_bytes[DCF_NET_BULK] = DCF_NET_BULK_QUEUE_MAX_BYTES;
	o->max_conns = DCF_NET_MAX_CONNS;
	o->max_pending = DCF_NET_MAX_PENDING;
	o->handshake_timeout_ms = DCF_NET_HANDSHAKE_TIMEOUT_MS;
	o->reconnect_min_ms = DCF_NET_RECONNECT_MIN_MS;
	o->reconnect_max_ms = DCF_NET_RECONNECT_MAX_MS;
	o->stranger_log_burst = DCF_NET_STRANGER_LOG_BURST;
	o->ping_interval_ms = DCF_NET_PING_INTERVAL_MS;
	o->idle_timeout_ms = DCF_NET_IDLE_TIMEOUT_MS;
}

dcf_rc
dcf_net_create(const dcf_net_options *o, dcf_net **out, char *errmsg)
{
	dcf_net    *net;
	dcf_rc		rc;

	*out = NULL;
	if (o->on_message == NULL)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "no receive callback");
	if (o->compress != DCF_NET_COMPRESS_NONE && o->compress != DCF_NET_COMPRESS_LZ4)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "unknown compression %d", (int) o->compress);
	for (int k = 0; k < DCF_NET_NCLASSES; k++)
		if (o->queue_max_bytes[k] < DCF_FRAME_HDR_BYTES + 1024)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "%s queue bound of %zu bytes is too small",
							dcf_net_class_name(k), o->queue_max_bytes[k]);
	if (o->max_conns < 1 || o->max_pending < 1 || o->handshake_timeout_ms == 0 ||
		o->reconnect_min_ms == 0 || o->reconnect_max_ms < o->reconnect_min_ms)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "bad connection limits or timeouts");
	if (o->idle_timeout_ms != 0 &&
		(o->ping_interval_ms == 0 || o->idle_timeout_ms <= 2 * o->ping_interval_ms))
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"idle timeout of %u ms needs pings more often than every %u ms",
						o->idle_timeout_ms, o->idle_timeout_ms / 2);

	net = calloc(1, sizeof(*net));
	if (net == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
	net->opt = *o;
	/* file names are needed only here; do not keep the caller's pointers */
	net->opt.auth_key_file = net->opt.ssl_cert_file = NULL;
	net->opt.ssl_key_file = net->opt.ssl_ca_file = NULL;
	if (net->opt.log == NULL)
		net->opt.log = default_log;
	net->listen_fd = -1;
	net->conns = calloc((size_t) o->max_conns, sizeof(net_conn *));
	dcf_netbuf_init(&net->zbuf, NET_ZBUF_MAX_BYTES);
	dcf_netbuf_init(&net->cbuf, dcf_net_lz4_bound(DCF_FRAME_MAX_BYTES));
	if (net->conns == NULL)
	{
		rc = dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
		goto err_after_alloc;
	}
	rc = dcf_net_key_load(o->auth_key_file, &net->key, errmsg);
	if (rc != DCF_OK)
		goto err_after_alloc;
	if (o->ssl)
	{
		rc = dcf_tls_ctx_new(o->ssl_cert_file, o->ssl_key_file, o->ssl_ca_file,
							 &net->tls, errmsg);
		if (rc != DCF_OK)
			goto err_after_key;
	}
	rc = dcf_net_random(&net->rng, sizeof(net->rng), errmsg);
	if (rc != DCF_OK)
		goto err_after_tls;
	net->rng |= 1;
	net->env.key = &net->key;
	net->env.self_id = o->self_id;
	net->env.arg = net;
	net->env.is_member = sess_is_member;
	net->env.on_open = sess_on_open;
	net->env.on_msg = sess_on_msg;
	net->env.zbuf = &net->zbuf;
	net->generation = 1;
	*out = net;
	return DCF_OK;

err_after_tls:
	if (net->tls)
		dcf_tls_ctx_free(net->tls);
err_after_key:
	dcf_net_key_wipe(&net->key);
err_after_alloc:
	free(net->conns);
	free(net);
	return rc;
}

static void
peer_close_all(dcf_net *net, net_peer *p, const char *why)
{
	for (int k = 0; k < DCF_NET_NCLASSES; k++)
	{
		net_lane   *l = &p->lane[k];

		if (l->conn)
			close_conn(l->conn, DCF_NET_LOG_INFO, "%s", why);
	}
}

static void
peer_free(dcf_net *net, net_peer *p)
{
	peer_close_all(net, p, "node left the membership");
	/* dead connections may still point at p until reaped */
	for (int i = 0; i < net->nconns; i++)
		if (net->conns[i]->peer == p)
		{
			DCF_ASSERT(net->conns[i]->dead);
			net->conns[i]->peer = NULL;
		}
	for (int k = 0; k < DCF_NET_NCLASSES; k++)
		dcf_netq_free(&p->lane[k].q);
	free(p);
}

void
dcf_net_destroy(dcf_net *net)
{
	if (net == NULL)
		return;
	DCF_ASSERT(net->depth == 0);
	for (int i = 0; i < net->nconns; i++)
		conn_free(net->conns[i]);
	net->nconns = 0;
	for (int i = 0; i < net->npeers; i++)
	{
		for (int k = 0; k < DCF_NET_NCLASSES; k++)
			dcf_netq_free(&net->peers[i]->lane[k].q);
		free(net->peers[i]);
	}
	if (net->listen_fd >= 0)
		close(net->listen_fd);
	if (net->tls)
		dcf_tls_ctx_free(net->tls);
	dcf_netbuf_free(&net->zbuf);
	dcf_netbuf_free(&net->cbuf);
	dcf_net_key_wipe(&net->key);
	free(net->conns);
	free(net);
}

dcf_rc
dcf_net_set_members(dcf_net *net, const dcf_net_member *m, int n,
					uint64_t now_ms, char *errmsg)
{
	const dcf_net_member *self = NULL;
	dcf_rc		rc;

	set_now(net, now_ms);
	if (n < 1 || n > DCF_NET_MAX_MEMBERS)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "membership of %d nodes (1..%d allowed)",
						n, DCF_NET_MAX_MEMBERS);
	for (int i = 0; i < n; i++)
	{
		if (m[i].port == 0)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "node %u has port 0", m[i].node_id);
		if (memchr(m[i].ip, '\0', sizeof(m[i].ip)) == NULL)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "node %u: ip address too long", m[i].node_id);
		rc = dcf_sock_check_ip(m[i].ip, errmsg);
		if (rc != DCF_OK)
			return dcf_errwrap(errmsg, rc, "node %u", m[i].node_id);
		for (int j = 0; j < i; j++)
			if (m[j].node_id == m[i].node_id)
				return dcf_errf(errmsg, DCF_ERR_INVALID, "node id %u listed twice", m[i].node_id);
		if (m[i].node_id == net->opt.self_id)
			self = &m[i];
	}
	if (self == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "this node (id %u) is not in the membership",
						net->opt.self_id);

	/* listener first: if our own address is unusable, change nothing else */
	if (net->listen_fd < 0 || strcmp(net->listen_ip, self->ip) != 0 ||
		net->listen_port != self->port)
	{
		int			fd;

		rc = dcf_sock_listen(self->ip, self->port, &fd, errmsg);
		if (rc != DCF_OK)
			return rc;
		if (net->listen_fd >= 0)
			close(net->listen_fd);
		net->listen_fd = fd;
		snprintf(net->listen_ip, sizeof(net->listen_ip), "%s", self->ip);
		net->listen_port = self->port;
		net->listen_paused_until_ms = 0;
		net->generation++;
		net_log(net, DCF_NET_LOG_INFO, "node %u listening on %s:%u", net->opt.self_id,
				self->ip, (unsigned) self->port);
	}

	net->depth++;
	/* removed peers */
	for (int i = 0; i < net->npeers;)
	{
		net_peer   *p = net->peers[i];
		int			keep = 0;

		for (int j = 0; j < n; j++)
			if (m[j].node_id == p->id && m[j].node_id != net->opt.self_id)
				keep = 1;
		if (keep)
		{
			i++;
			continue;
		}
		peer_free(net, p);
		net->peers[i] = net->peers[--net->npeers];
	}
	/* new and changed peers */
	for (int j = 0; j < n; j++)
	{
		net_peer   *p;

		if (m[j].node_id == net->opt.self_id)
			continue;
		p = find_peer(net, m[j].node_id);
		if (p != NULL)
		{
			if (strcmp(p->ip, m[j].ip) != 0 || p->port != m[j].port)
			{
				/* new address: if we dial it, redial now */
				for (int k = 0; k < DCF_NET_NCLASSES; k++)
					if (p->lane[k].conn && we_dial(net, p))
						close_conn(p->lane[k].conn, DCF_NET_LOG_INFO, "node changed address");
				snprintf(p->ip, sizeof(p->ip), "%s", m[j].ip);
				p->port = m[j].port;
				for (int k = 0; k < DCF_NET_NCLASSES; k++)
				{
					p->lane[k].retry_at_ms = now_ms;
					p->lane[k].backoff_ms = net->opt.reconnect_min_ms;
				}
			}
			continue;
		}
		p = calloc(1, sizeof(*p));
		if (p == NULL)
		{
			net->depth--;
			reap(net);
			return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
		}
		p->id = m[j].node_id;
		snprintf(p->ip, sizeof(p->ip), "%s", m[j].ip);
		p->port = m[j].port;
		for (int k = 0; k < DCF_NET_NCLASSES; k++)
		{
			dcf_netq_init(&p->lane[k].q, net->opt.queue_max_bytes[k]);
			p->lane[k].retry_at_ms = now_ms;
			p->lane[k].backoff_ms = net->opt.reconnect_min_ms;
		}
		net->peers[net->npeers++] = p;
	}
	run_timers(net);			/* dials the new peers at once */
	flush_all(net);
	net->depth--;
	reap(net);
	return DCF_OK;
}

dcf_rc
dcf_net_send(dcf_net *net, uint32_t to, dcf_net_class cls, uint8_t type,
			 const void *payload, size_t len, char *errmsg)
{
	net_peer   *p;
	net_lane   *l;
	dcf_frame_hdr h = {.kind = DCF_FRAME_MSG,.msg_type = type};
	const void *wire = payload;
	size_t		wlen = len;
	uint8_t		hdr[DCF_FRAME_HDR_BYTES];
	dcf_rc		rc;

	if (cls != DCF_NET_CONTROL && cls != DCF_NET_BULK)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "unknown message class %d", (int) cls);
	if (len > DCF_FRAME_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "message of %zu bytes exceeds the frame limit of %u",
						len, DCF_FRAME_MAX_BYTES);
	if (to == net->opt.self_id)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "message addressed to this node");
	p = find_peer(net, to);
	if (p == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "node %u is not a member", to);
	l = &p->lane[cls];

	if (net->opt.compress == DCF_NET_COMPRESS_LZ4 && len >= net->opt.compress_min_bytes &&
		len > 0)
	{
		size_t		bound = dcf_net_lz4_bound(len);
		size_t		z;

		dcf_netbuf_clear(&net->cbuf);
		if (dcf_netbuf_reserve(&net->cbuf, bound) == DCF_OK &&
			(z = dcf_net_lz4_compress(payload, len, dcf_netbuf_tailp(&net->cbuf), bound)) > 0)
		{
			wire = dcf_netbuf_tailp(&net->cbuf);
			wlen = z;
			h.flags = DCF_FRAME_F_LZ4;
		}
	}
	h.len = (uint32_t) wlen;
	h.raw_len = (uint32_t) len;
	dcf_frame_put_hdr(hdr, &h);	/* the CRC is computed while queuing */
	if (l->queued_since_ms == 0 && (l->conn == NULL || l->conn->state != CONN_OPEN))
		l->queued_since_ms = net->now_ms ? net->now_ms : 1;
	rc = dcf_netq_append_frame(&l->q, hdr, wire, wlen);
	if (rc != DCF_OK)
	{
		if (rc == DCF_ERR_FULL)
			l->st.send_full++;
		return dcf_errf(errmsg, rc, "%s queue to node %u is %s", dcf_net_class_name(cls), to,
						rc == DCF_ERR_FULL ? "full" : "out of memory");
	}
	l->st.msgs_queued++;
	l->st.bytes_queued += len;
	if (h.flags & DCF_FRAME_F_LZ4)
		l->st.msgs_compressed++;

	/*
	 * Batching pays for small messages; a queue this long gains nothing from
	 * waiting, and writing now hands the kernel bytes still in the cache.
	 */
	if (dcf_netq_len(&l->q) >= NET_EAGER_WRITE_BYTES && l->conn && l->conn->state == CONN_OPEN)
	{
		net->depth++;
		/* control first, always: a vote queued a moment ago goes before this */
		if (cls == DCF_NET_BULK)
			for (int i = 0; i < net->npeers; i++)
			{
				net_lane   *cl = &net->peers[i]->lane[DCF_NET_CONTROL];

				if (cl->conn && dcf_netq_len(&cl->q) > 0)
					conn_write(cl->conn);
			}
		conn_write(l->conn);
		net->depth--;
		reap(net);
	}
	return DCF_OK;
}

static uint32_t
conn_events(const net_conn *c)
{
	switch (c->state)
	{
		case CONN_CONNECTING:
			return DCF_NET_WRITE;
		case CONN_TLS:
			return DCF_NET_READ | (c->tls_want_write ? DCF_NET_WRITE : 0);
		case CONN_HANDSHAKE:
		case CONN_OPEN:
			if (dcf_netbuf_len(&c->hsout) > 0 ||
				(c->state == CONN_OPEN && c->peer->lane[c->cls].conn == c &&
				 dcf_netq_len(&c->peer->lane[c->cls].q) > 0))
				return DCF_NET_READ | DCF_NET_WRITE;
			return DCF_NET_READ;
	}
	return DCF_NET_READ;
}

int
dcf_net_socks(dcf_net *net, dcf_net_sock *out, int max)
{
	int			n = 0;

	if (net->listen_fd >= 0 && net->listen_paused_until_ms == 0)
	{
		if (n < max)
		{
			out[n].fd = net->listen_fd;
			out[n].events = DCF_NET_READ;
		}
		n++;
	}
	/*
	 * Open (authenticated) connections first, then those still connecting or
	 * authenticating: a caller whose wait set is too small for all of them
	 * drops strangers, never a member.
	 */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < net->nconns; i++)
		{
			net_conn   *c = net->conns[i];

			if (c->dead || (c->state == CONN_OPEN) != (pass == 0))
				continue;
			if (n < max)
			{
				out[n].fd = c->fd;
				out[n].events = conn_events(c);
			}
			n++;
		}
	return n;
}

uint64_t
dcf_net_generation(const dcf_net *net)
{
	return net->generation;
}

static net_conn *
find_conn(dcf_net *net, int fd)
{
	for (int i = 0; i < net->nconns; i++)
		if (net->conns[i]->fd == fd)
			return net->conns[i];
	return NULL;
}

/* 0: control, 1: bulk, 2: inbound connections still authenticating */
static int
conn_priority(const net_conn *c)
{
	if (!c->outbound && c->state != CONN_OPEN)
		return 2;
	return c->cls == DCF_NET_CONTROL ? 0 : 1;
}

static void
conn_service(net_conn *c, uint32_t events)
{
	c->carry = 0;
	if (c->state == CONN_CONNECTING)
	{
		conn_connected(c);
		return;
	}
	if (c->state == CONN_TLS)
	{
		conn_tls_step(c);
		return;
	}
	if (events & DCF_NET_READ)
		conn_read(c);
	if (!c->dead && (events & DCF_NET_WRITE))
		conn_write(c);
}

void
dcf_net_process(dcf_net *net, const dcf_net_sock *ready, int n, uint64_t now_ms)
{
	DCF_ASSERT(net->depth == 0);
	set_now(net, now_ms);
	net->depth++;
	for (int i = 0; i < net->nconns; i++)
		net->conns[i]->carry = net->conns[i]->more_input;
	for (int pass = 0; pass < 3; pass++)
	{
		for (int i = 0; i < n; i++)
		{
			net_conn   *c;

			if (ready[i].events == 0)
				continue;
			if (ready[i].fd == net->listen_fd)
			{
				if (pass == 2)
					do_accept(net);
				continue;
			}
			c = find_conn(net, ready[i].fd);
			if (c == NULL || c->dead || conn_priority(c) != pass)
				continue;
			conn_service(c, ready[i].events);
		}
		/* connections that stopped reading early, in the same priority order */
		for (int i = 0; i < net->nconns; i++)
		{
			net_conn   *c = net->conns[i];

			if (!c->dead && c->carry && conn_priority(c) == pass &&
				(c->state == CONN_HANDSHAKE || c->state == CONN_OPEN))
			{
				c->carry = 0;
				conn_read(c);
			}
		}
	}
	run_timers(net);
	flush_all(net);
	net->depth--;
	reap(net);
}

int
dcf_net_timeout_ms(dcf_net *net, uint64_t now_ms)
{
	uint64_t	t = UINT64_MAX;

	for (int i = 0; i < net->nconns; i++)
	{
		net_conn   *c = net->conns[i];

		if (c->dead)
			continue;
		if (c->more_input)
			return 0;
		if (c->deadline_ms != 0 && c->deadline_ms < t)
			t = c->deadline_ms;
		if (c->state == CONN_OPEN)
		{
			if (net->opt.idle_timeout_ms && c->last_read_ms + net->opt.idle_timeout_ms < t)
				t = c->last_read_ms + net->opt.idle_timeout_ms;
			if (net->opt.ping_interval_ms && c->last_write_ms + net->opt.ping_interval_ms < t)
				t = c->last_write_ms + net->opt.ping_interval_ms;
		}
	}
	for (int i = 0; i < net->npeers; i++)
		for (int k = 0; k < DCF_NET_NCLASSES; k++)
		{
			net_lane   *l = &net->peers[i]->lane[k];

			if (l->conn == NULL && we_dial(net, net->peers[i]) && l->retry_at_ms < t)
				t = l->retry_at_ms;
		}
	if (net->listen_paused_until_ms != 0 && net->listen_paused_until_ms < t)
		t = net->listen_paused_until_ms;
	if (t == UINT64_MAX)
		return -1;
	if (t <= now_ms)
		return 0;
	return t - now_ms > INT32_MAX ? INT32_MAX : (int) (t - now_ms);
}

dcf_rc
dcf_net_pump_many(dcf_net **nets, int n, int timeout_ms, char *errmsg)
{
	struct pollfd pfd_local[NET_PUMP_LOCAL_SOCKS];
	dcf_net_sock socks_local[NET_PUMP_LOCAL_SOCKS];
	int			count_local[NET_PUMP_LOCAL_NETS];
	struct pollfd *pfd = pfd_local;
	dcf_net_sock *socks = socks_local;
	int		   *count = count_local;
	int			total = 0;
	int			cap = NET_PUMP_LOCAL_SOCKS;
	int			r;
	dcf_rc		rc = DCF_OK;
	uint64_t	now = dcf_net_clock_ms();

	for (int i = 0; i < n; i++)
	{
		int			t = dcf_net_timeout_ms(nets[i], now);

		if (t >= 0 && (timeout_ms < 0 || t < timeout_ms))
			timeout_ms = t;
		total += dcf_net_socks(nets[i], NULL, 0);
	}
	if (total > NET_PUMP_LOCAL_SOCKS || n > NET_PUMP_LOCAL_NETS)
	{
		cap = total + 1;
		pfd = malloc(sizeof(*pfd) * (size_t) cap);
		socks = malloc(sizeof(*socks) * (size_t) cap);
		count = malloc(sizeof(int) * (size_t) n);
		if (pfd == NULL || socks == NULL || count == NULL)
		{
			rc = dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	total = 0;
	for (int i = 0; i < n; i++)
	{
		/* nothing ran since the sets were counted, so they fit exactly */
		count[i] = dcf_net_socks(nets[i], socks + total, cap - total);
		DCF_ASSERT(count[i] <= cap - total);
		for (int k = 0; k < count[i]; k++)
		{
			pfd[total + k].fd = socks[total + k].fd;
			pfd[total + k].events = (short) (((socks[total + k].events & DCF_NET_READ) ? POLLIN : 0) |
											 ((socks[total + k].events & DCF_NET_WRITE) ? POLLOUT : 0));
			pfd[total + k].revents = 0;
		}
		total += count[i];
	}
	do
		r = poll(pfd, (nfds_t) total, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
	{
		rc = dcf_errf(errmsg, DCF_ERR_IO, "poll: %s", strerror(errno));
		goto out;
	}
	now = dcf_net_clock_ms();
	total = 0;
	for (int i = 0; i < n; i++)
	{
		int			nr = 0;

		for (int k = 0; k < count[i]; k++)
		{
			short		re = pfd[total + k].revents;
			uint32_t	ev = 0;

			if (re & (POLLIN | POLLHUP | POLLERR))
				ev |= DCF_NET_READ;
			if (re & (POLLOUT | POLLHUP | POLLERR))
				ev |= DCF_NET_WRITE;
			if (ev)
			{
				socks[total + nr].fd = pfd[total + k].fd;
				socks[total + nr].events = ev;
				nr++;
			}
		}
		dcf_net_process(nets[i], socks + total, nr, now);
		total += count[i];
	}
out:
	if (pfd != pfd_local)
	{
		free(pfd);
		free(socks);
		free(count);
	}
	return rc;
}

dcf_rc
dcf_net_pump(dcf_net *net, int timeout_ms, char *errmsg)
{
	return dcf_net_pump_many(&net, 1, timeout_ms, errmsg);
}

dcf_rc
dcf_net_get_peer_stats(dcf_net *net, uint32_t node_id, dcf_net_class cls,
				   dcf_net_peer_stats *out)
{
	net_peer   *p = find_peer(net, node_id);
	net_lane   *l;

	if (p == NULL || (cls != DCF_NET_CONTROL && cls != DCF_NET_BULK))
		return DCF_ERR_NOTFOUND;
	l = &p->lane[cls];
	*out = l->st;
	out->connected = l->conn != NULL && l->conn->state == CONN_OPEN;
	out->dialer = we_dial(net, p);
	out->queued_bytes = dcf_netq_len(&l->q);
	return DCF_OK;
}

void
dcf_net_get_stats(dcf_net *net, dcf_net_stats *out)
{
	*out = net->st;
	out->conns = 0;
	for (int i = 0; i < net->nconns; i++)
		if (!net->conns[i]->dead)
			out->conns++;
	out->pending = net->pending;
}

uint16_t
dcf_net_listen_port(const dcf_net *net)
{
	return net->listen_fd >= 0 ? dcf_sock_local_port(net->listen_fd) : 0;
}
