/*
 * net.h — dcf's node-to-node transport: the API the background worker uses.
 *
 * One dcf_net endpoint per server.  It listens on its own ip:port from the
 * membership, keeps connections to every other member, and carries opaque
 * messages {authenticated sender id, class, type byte, payload} between them.
 * It never blocks and starts no threads: the host's event loop (the worker's
 * WaitEventSet, or dcf_net_pump()'s poll() in tests and benchmarks) asks for
 * its sockets with dcf_net_socks(), waits, and hands the ready ones to
 * dcf_net_process().
 *
 * Connections.  Each pair of nodes has one TCP connection per class, used
 * in both directions, and the node with the lower id is the one that dials
 * it.  So there are never two connections to choose between (no tie
 * breaking, no reordering across them), and a reply travels on the
 * connection the request came on, where TCP can carry the acknowledgement
 * with it.  The dialer retries failed dials and lost connections after an
 * exponential back-off between reconnect_min_ms and reconnect_max_ms (with
 * jitter); an accepted connection from the same node and class replaces the
 * older one (the peer restarted).  An open connection with nothing to send
 * for ping_interval_ms carries a PING, and one that has heard nothing for
 * idle_timeout_ms is closed: a dialer whose peer restarted learns it from
 * the reset its ping draws, so it redials even when it has nothing to say,
 * and a peer that vanished without a FIN is noticed in bounded time.
 *
 * Classes.  CONTROL (votes, heartbeats, small replies) and BULK (appends
 * carrying WAL) use separate TCP connections and separate bounded queues,
 * and control connections are serviced first in every call, so an election
 * never waits behind megabytes of WAL.
 *
 * Delivery.  Per (sender, receiver, class) messages arrive in the order they
 * were sent, each at most once.  A message is lost only with its connection:
 * when a connection fails or an attempt to open one fails, the messages
 * queued for it are discarded (counted in msgs_dropped) rather than
 * delivered late, since the consensus core retransmits what still matters.
 * Messages queued while a connection is being opened are sent once it opens,
 * unless they waited longer than DCF_NET_QUEUE_STALE_MS (then they are dropped).
 *
 * Security.  A connection must complete an HMAC-SHA256 challenge-response
 * with the cluster key (dcf.auth_key_file) and name a node id of the current
 * membership before a single message from it is processed; optional mutual
 * TLS (dcf.ssl) encrypts and protects every byte.  See README.md for what
 * each protects against.
 *
 * Limits.  Every buffer is bounded: frames by DCF_FRAME_MAX_BYTES, queues by
 * queue_max_bytes (per peer and class; dcf_net_send() reports DCF_ERR_FULL),
 * connections by max_conns and unauthenticated ones by max_pending and
 * handshake_timeout_ms.
 *
 * Thread-safety: none; one thread drives an endpoint.  The receive callback
 * may call dcf_net_send(), dcf_net_flush() and dcf_net_set_members(), but not
 * dcf_net_process(), dcf_net_pump() or dcf_net_destroy().
 */
#ifndef DCF_NET_H
#define DCF_NET_H

#include <stddef.h>
#include <stdint.h>

#include "core/dcf_err.h"
#include "net/net_frame.h"

typedef enum dcf_net_class
{
	DCF_NET_CONTROL = 0,		/* votes, heartbeats, small replies */
	DCF_NET_BULK = 1			/* appends with WAL payloads */
} dcf_net_class;

#define DCF_NET_NCLASSES				2

/* Defaults and bounds (named limits; units in the names). */
#define DCF_NET_MAX_MEMBERS				64
#define DCF_NET_IP_MAX					64	/* textual address incl. NUL */
/*
 * Per peer and class.  A queue only bridges one turn of the event loop on
 * top of the kernel's socket buffer, and a small one stays in the CPU cache
 * (see net_queue.h); an empty queue still takes one message of any size up
 * to DCF_FRAME_MAX_BYTES.
 */
#define DCF_NET_CONTROL_QUEUE_MAX_BYTES	(1u * 1024 * 1024)
#define DCF_NET_BULK_QUEUE_MAX_BYTES	(2u * 1024 * 1024)
#define DCF_NET_MAX_CONNS				512
#define DCF_NET_MAX_PENDING				32	/* connections still authenticating */
#define DCF_NET_HANDSHAKE_TIMEOUT_MS	5000
#define DCF_NET_RECONNECT_MIN_MS		50
#define DCF_NET_RECONNECT_MAX_MS		2000
#define DCF_NET_COMPRESS_MIN_BYTES		1024
/* messages that waited longer for a connection are dropped when it opens */
#define DCF_NET_QUEUE_STALE_MS			500
#define DCF_NET_PING_INTERVAL_MS		1000
#define DCF_NET_IDLE_TIMEOUT_MS			5000
/* log lines about unauthenticated connections per 10 s; the rest are counted */
#define DCF_NET_STRANGER_LOG_BURST		20

/* Socket readiness, both what an endpoint wants and what happened. */
#define DCF_NET_READ					0x1
#define DCF_NET_WRITE					0x2

typedef enum dcf_net_compress
{
	DCF_NET_COMPRESS_NONE = 0,	/* dcf.compress = none */
	DCF_NET_COMPRESS_LZ4 = 1	/* dcf.compress = lz4 */
} dcf_net_compress;

typedef enum dcf_net_log_level
{
	DCF_NET_LOG_DEBUG = 0,		/* repeated reconnect failures, ... */
	DCF_NET_LOG_INFO = 1,		/* connections opened and closed */
	DCF_NET_LOG_WARNING = 2		/* rejected peers, bad frames */
} dcf_net_log_level;

/* A message handed to the receive callback; data is valid during the call. */
typedef struct dcf_net_msg
{
	uint32_t	from;			/* node id proven by the handshake */
	dcf_net_class cls;
	uint8_t		type;			/* the sender's type byte, opaque to net */
	const uint8_t *data;
	size_t		len;
} dcf_net_msg;

typedef void (*dcf_net_recv_fn) (void *arg, const dcf_net_msg *msg);

/* One line, no trailing newline.  The PostgreSQL layer routes it to ereport(LOG). */
typedef void (*dcf_net_log_fn) (void *arg, dcf_net_log_level level,
								const char *line);

typedef struct dcf_net_options
{
	uint32_t	self_id;
	const char *auth_key_file;	/* dcf.auth_key_file (required) */
	int			ssl;			/* dcf.ssl */
	const char *ssl_cert_file;	/* dcf.ssl_cert_file */
	const char *ssl_key_file;	/* dcf.ssl_key_file */
	const char *ssl_ca_file;	/* dcf.ssl_ca_file */
	dcf_net_compress compress;	/* dcf.compress */
	uint32_t	compress_min_bytes; /* smaller payloads are sent raw */
	size_t		queue_max_bytes[DCF_NET_NCLASSES];	/* per peer; frames incl. headers */
	int			max_conns;
	int			max_pending;
	uint32_t	handshake_timeout_ms;	/* connect + TLS + dcf handshake */
	uint32_t	reconnect_min_ms;
	uint32_t	reconnect_max_ms;
	int			stranger_log_burst; /* per 10 s, then "suppressed N" */
	uint32_t	ping_interval_ms;	/* 0: no pings */
	uint32_t	idle_timeout_ms;	/* 0: never; else > 2 * ping_interval_ms */
	dcf_net_recv_fn on_message;	/* required */
	void	   *on_message_arg;
	dcf_net_log_fn log;			/* NULL: stderr (INFO and above) */
	void	   *log_arg;
} dcf_net_options;

typedef struct dcf_net_member
{
	uint32_t	node_id;
	char		ip[DCF_NET_IP_MAX];	/* numeric IPv4 or IPv6 literal */
	uint16_t	port;
} dcf_net_member;

/* A socket the host must wait on, or (in dcf_net_process) one that is ready. */
typedef struct dcf_net_sock
{
	int			fd;
	uint32_t	events;			/* DCF_NET_READ | DCF_NET_WRITE */
} dcf_net_sock;

typedef struct dcf_net_peer_stats
{
	int			connected;		/* the lane's connection is open */
	int			dialer;			/* this node dials it (it has the lower id) */
	size_t		queued_bytes;	/* waiting in our queue (frames incl. headers) */
	uint64_t	msgs_queued;	/* accepted by dcf_net_send() */
	uint64_t	msgs_sent;		/* completely written to the socket */
	uint64_t	msgs_compressed;	/* of those queued, sent as lz4 */
	uint64_t	msgs_dropped;	/* discarded with a failed connection */
	uint64_t	send_full;		/* dcf_net_send() refused with DCF_ERR_FULL */
	uint64_t	bytes_queued;	/* payload bytes before compression */
	uint64_t	wire_bytes_sent;	/* bytes written, headers included */
	uint64_t	writes;			/* write system calls that wrote something */
	uint64_t	msgs_received;
	uint64_t	bytes_received;	/* payload bytes delivered (decompressed) */
	uint64_t	connects;		/* connections of this lane that opened */
	uint64_t	connect_failures;	/* dials that failed before opening */
	uint64_t	pings_sent;
} dcf_net_peer_stats;

typedef struct dcf_net_stats
{
	int			conns;			/* open sockets, listener excluded */
	int			pending;		/* accepted, not yet authenticated */
	uint64_t	accepted;		/* accepted connections that authenticated */
	uint64_t	rejected;		/* accepted connections closed before that */
	uint64_t	refused;		/* accepted and closed at once: over a limit */
	uint64_t	msgs_received;
} dcf_net_stats;

typedef struct dcf_net dcf_net;

/* Fill o with the defaults above (no key file, no callback). */
extern void dcf_net_options_init(dcf_net_options *o);

/*
 * Create an endpoint: loads and checks the key file (and TLS files when ssl
 * is on).  It listens and dials once dcf_net_set_members() gave it a
 * membership.
 */
extern dcf_rc dcf_net_create(const dcf_net_options *o, dcf_net **out,
							 char *errmsg);
extern void dcf_net_destroy(dcf_net *net);

/*
 * Set or change the membership (self included, at most DCF_NET_MAX_MEMBERS).
 * Listens on self's address (re-listens if it changed), dials new peers,
 * closes everything to and from removed peers, and redials peers whose
 * address changed.  Connections still authenticating are re-checked against
 * the new membership when they present their proof.
 */
extern dcf_rc dcf_net_set_members(dcf_net *net, const dcf_net_member *m,
								  int n, uint64_t now_ms, char *errmsg);

/*
 * Queue one message for node `to` (copies the payload; the caller keeps its
 * buffer).  Nothing is written until dcf_net_flush() or the end of
 * dcf_net_process(), so the messages of one turn of the event loop go out
 * in one write per connection (a queue that reaches 256 KiB is written at
 * once).  DCF_ERR_FULL: that peer's queue for that class is at its bound
 * (back-pressure: retry after the next dcf_net_process(), or drop); an
 * empty queue accepts any one message.  DCF_ERR_NOTFOUND: not a member;
 * DCF_ERR_INVALID: bad class, sent to self, or larger than
 * DCF_FRAME_MAX_BYTES.
 */
extern dcf_rc dcf_net_send(dcf_net *net, uint32_t to, dcf_net_class cls,
						   uint8_t type, const void *payload, size_t len,
						   char *errmsg);

/* Write what is queued, as far as the sockets take it without blocking. */
extern void dcf_net_flush(dcf_net *net, uint64_t now_ms);

/*
 * The sockets to wait on: writes up to max entries, returns how many there
 * are (call again with a larger array if that is more than max; at most
 * max_conns + 1).  The listening socket comes first, then every open
 * (authenticated) connection, then those still connecting or
 * authenticating, so a short array never leaves out a member.  While dcf_net_generation() is unchanged the same fds come
 * back in the same order and only their events change (ModifyWaitEvent);
 * when it changed, rebuild the wait set.
 */
extern int	dcf_net_socks(dcf_net *net, dcf_net_sock *out, int max);
extern uint64_t dcf_net_generation(const dcf_net *net);

/*
 * Handle ready sockets (events: what happened; report errors and hang-ups as
 * DCF_NET_READ | DCF_NET_WRITE), run timers (handshake timeouts, redials)
 * and flush.  Delivers received messages through on_message.  Failures of
 * single connections are logged and contained; nothing here fails the host.
 */
extern void dcf_net_process(dcf_net *net, const dcf_net_sock *ready, int n,
							uint64_t now_ms);

/*
 * Milliseconds until dcf_net_process() must run again even if no socket is
 * ready (0: at once; -1: no timer pending).
 */
extern int	dcf_net_timeout_ms(dcf_net *net, uint64_t now_ms);

/*
 * Convenience loops for tests, benchmarks and tools: poll() the endpoint(s)
 * for up to timeout_ms, then process.  DCF_ERR_IO if poll() failed.
 */
extern dcf_rc dcf_net_pump(dcf_net *net, int timeout_ms, char *errmsg);
extern dcf_rc dcf_net_pump_many(dcf_net **nets, int n, int timeout_ms,
								char *errmsg);

/* CLOCK_MONOTONIC in milliseconds, for callers without their own clock. */
extern uint64_t dcf_net_clock_ms(void);

extern dcf_rc dcf_net_get_peer_stats(dcf_net *net, uint32_t node_id,
								 dcf_net_class cls, dcf_net_peer_stats *out);
extern void dcf_net_get_stats(dcf_net *net, dcf_net_stats *out);

/* The port the endpoint listens on (0 if not listening). */
extern uint16_t dcf_net_listen_port(const dcf_net *net);

extern const char *dcf_net_class_name(dcf_net_class cls);

#endif							/* DCF_NET_H */
