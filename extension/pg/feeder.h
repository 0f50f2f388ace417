/*
 * feeder.h — the WAL feeder: the server side of PostgreSQL 15's physical
 * streaming replication protocol, on a Unix socket, for the local standby's
 * walreceiver.
 *
 * On a follower every WAL byte the standby gets must already be committed
 * by consensus, so its walreceiver (primary_conninfo = 'host=<socket dir>
 * port=<n>') talks to this module instead of a real walsender.  The module
 * serves only what its *source* (a callback table provided by the host)
 * says it can serve: committed WAL from the consensus log, and below the
 * log's coverage the bytes the standby already has in its own pg_wal.
 *
 * Shape.  No PostgreSQL server headers and no threads: the host's
 * single-threaded event loop (the background worker's WaitEventSet, or the
 * test harness's poll()) asks for the descriptors to watch before every
 * wait (dcf_feeder_fds: rebuild the wait set when dcf_feeder_generation
 * changed, otherwise apply the read/write wants, e.g. ModifyWaitEvent),
 * reports readiness (dcf_feeder_on_ready), calls dcf_feeder_tick at least
 * by dcf_feeder_next_wakeup_us, and calls dcf_feeder_wal_available when the
 * source can serve more (committed WAL, or a new timeline).  Nothing blocks; every buffer has a named
 * bound; a client that breaks a bound or the protocol is refused with an
 * ErrorResponse and disconnected, and the feeder keeps serving.
 *
 * Protocol (what a PG 15 walreceiver sends, see DESIGN.md "PostgreSQL 15
 * facts"): startup packet (an SSLRequest or GSSENCRequest is answered 'N'),
 * AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery; then
 * simple queries IDENTIFY_SYSTEM, TIMELINE_HISTORY n and
 * START_REPLICATION [SLOT s] [PHYSICAL] X/X [TIMELINE n], which enters
 * CopyBoth: 'w' WAL data and 'k' keepalives out, 'r' replies and 'h' hot
 * standby feedback in, and the end-of-timeline sequence (CopyDone both
 * ways, the (next_tli, next_tli_startpos) row, CommandComplete
 * "START_STREAMING", CommandComplete "START_REPLICATION", ReadyForQuery).
 *
 * Timelines.  The latest timeline and the history of every older one come
 * from the source's position() and history() callbacks; as in PostgreSQL's
 * walsender, a timeline t older than the latest ended at the switch point
 * recorded for t in the latest timeline's history file, and the timeline
 * after it there is t's successor.  One source of truth, so the end of a
 * timeline and the history files the standby fetches cannot disagree.
 *
 * Invariants.
 *   1. Bytes go out contiguously from the requested start: every 'w'
 *      message starts where the previous one ended (the walreceiver writes
 *      at dataStart without checking), so a gap is impossible.
 *   2. On a timeline that has ended nothing at or past its switch point is
 *      sent; on the latest timeline nothing past the source's xlogpos.
 *   3. A byte at an LSN below timeline t's begin is read as a byte of the
 *      ancestor that owns it (the source never has to map timelines).
 *   4. After CopyDone is sent no CopyData follows.
 *   5. Lengths from the client are checked against DCF_FEEDER_*_MAX_BYTES
 *      before anything is buffered; buffers never grow.
 */
#ifndef DCF_FEEDER_H
#define DCF_FEEDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dcf_err.h"

/* WAL bytes in one 'w' message: PostgreSQL's MAX_SEND_SIZE (16 pages). */
#define DCF_FEEDER_MAX_SEND_BYTES	(128 * 1024)
/* A 'w' message is cut, when it must be cut, at this boundary. */
#define DCF_FEEDER_PAGE_BYTES		8192
/* Startup packet bound: PostgreSQL's MAX_STARTUP_PACKET_LENGTH. */
#define DCF_FEEDER_STARTUP_MAX_BYTES 10000
/* Largest message body accepted from a client (queries, replies). */
#define DCF_FEEDER_CLIENT_MSG_MAX_BYTES 8192
/* Input buffer per connection: one startup packet or message plus header. */
#define DCF_FEEDER_IN_BUF_BYTES		(DCF_FEEDER_STARTUP_MAX_BYTES + 16)
/* Output buffer per connection. */
#define DCF_FEEDER_OUT_BUF_BYTES	(512 * 1024)
/* Produce WAL only while less than this is waiting to be written. */
#define DCF_FEEDER_OUT_LOW_WATER_BYTES (128 * 1024)
/* Stop reading from a client while more than this is waiting for it. */
#define DCF_FEEDER_OUT_HIGH_WATER_BYTES (384 * 1024)
/* Largest timeline history file content served. */
#define DCF_FEEDER_HISTORY_MAX_BYTES (64 * 1024)

/* A connection must finish its startup packet within this time. */
#define DCF_FEEDER_STARTUP_TIMEOUT_MS 10000
/* A streaming client silent this long is dropped (wal_sender_timeout). */
#define DCF_FEEDER_CLIENT_TIMEOUT_MS 60000
/* After half of it without a reply, ask for one (as the walsender does). */
#define DCF_FEEDER_PING_AFTER_MS	(DCF_FEEDER_CLIENT_TIMEOUT_MS / 2)
/* A connection closing after a fatal error gets this long to drain. */
#define DCF_FEEDER_CLOSE_DRAIN_MS	5000

/* Descriptors a feeder can ask to watch: the listener and two clients. */
#define DCF_FEEDER_MAX_FDS			3

/* server_version in ParameterStatus: libpq reads 15.0 as 150000. */
#define DCF_FEEDER_SERVER_VERSION	"15.0 (dcf)"

typedef struct dcf_feeder dcf_feeder;

typedef enum dcf_feeder_log_level
{
	DCF_FEEDER_DEBUG = 0,		/* per-message detail */
	DCF_FEEDER_LOG,				/* connections, commands, timeline ends */
	DCF_FEEDER_WARNING			/* refused clients, source errors */
} dcf_feeder_log_level;

/*
 * What the feeder serves, provided by the host.  ctx is passed back to every
 * callback.  Callbacks must not block and must not call back into the
 * feeder.  Errors: return a dcf_rc and write a one-line message into errmsg
 * (DCF_ERRMSG_MAX bytes); the feeder sends it to the client in an
 * ErrorResponse and logs it.
 */
typedef struct dcf_feeder_source
{
	void	   *ctx;

	/* The cluster's system identifier (pg_control), for IDENTIFY_SYSTEM. */
	uint64_t	system_id;

	/*
	 * The newest timeline the source knows and the highest LSN it can serve
	 * on it ("honest xlogpos": committed and readable now, never more).  When
	 * the newest timeline has no WAL yet, its begin (switch point).
	 */
	dcf_rc		(*position) (void *ctx, uint32_t *tli, uint64_t *xlogpos, char *errmsg);

	/*
	 * The content of timeline tli's history file (tli >= 2), into buf of cap
	 * bytes (cap == DCF_FEEDER_HISTORY_MAX_BYTES); *len its length.
	 * DCF_ERR_NOTFOUND when the source does not know tli.
	 */
	dcf_rc		(*history) (void *ctx, uint32_t tli, char *buf, size_t cap,
							size_t *len, char *errmsg);

	/*
	 * Up to n bytes of timeline tli at lsn into buf; *got = how many are
	 * available now (0: none yet — call dcf_feeder_wal_available when there
	 * are).  The feeder only asks for lsn in tli's own span: begin(tli) <=
	 * lsn and lsn + n <= switch point when tli has ended.  DCF_ERR_NOTFOUND
	 * means the bytes are gone for good (recycled log, no local copy): the
	 * client is told the node must be rebuilt.
	 */
	dcf_rc		(*read) (void *ctx, uint32_t tli, uint64_t lsn, char *buf, size_t n,
						 size_t *got, char *errmsg);

	/*
	 * The standby's 'r' status: written, flushed, replayed, and its send
	 * time (µs since the Unix epoch, converted from PostgreSQL's epoch).
	 * Right after START_REPLICATION the walreceiver reports its replay
	 * position as write and flush too.
	 */
	void		(*on_reply) (void *ctx, uint64_t write_lsn, uint64_t flush_lsn,
							 uint64_t apply_lsn, int64_t reply_time_us);

	/* The standby's 'h' hot standby feedback (all 0 when it is off). */
	void		(*on_feedback) (void *ctx, uint32_t xmin, uint32_t xmin_epoch,
								uint32_t catalog_xmin, uint32_t catalog_xmin_epoch);

	/*
	 * The standby's history diverged from the source's: it asked for
	 * timeline tli at requested_lsn past tli's switch point, or it reported
	 * having replayed WAL of tli past it (requested_lsn is then that replay
	 * position), or tli is not in the source's history at all (switch_lsn
	 * and next_tli 0).  The client got an ErrorResponse; the host decides
	 * (the worker stops the server and runs pg_rewind).
	 */
	void		(*on_diverged) (void *ctx, uint32_t tli, uint64_t requested_lsn,
								uint64_t switch_lsn, uint32_t next_tli);

	/* The source answered DCF_ERR_NOTFOUND for (tli, lsn): rebuild needed. */
	void		(*on_wal_missing) (void *ctx, uint32_t tli, uint64_t lsn,
								   const char *reason);

	/* One log line (no newline); may be NULL. */
	void		(*log) (void *ctx, dcf_feeder_log_level level, const char *msg);
} dcf_feeder_source;

/* A descriptor to watch and for what. */
typedef struct dcf_feeder_fd
{
	int			fd;
	bool		want_read;
	bool		want_write;
} dcf_feeder_fd;

/* What the feeder is doing, for dcf_replication_info and tests. */
typedef enum dcf_feeder_state
{
	DCF_FEEDER_NO_CLIENT = 0,	/* no walreceiver connected */
	DCF_FEEDER_IDLE,			/* connected, between commands */
	DCF_FEEDER_STREAMING,		/* in START_REPLICATION */
	DCF_FEEDER_ENDING			/* CopyDone sent, waiting for the client's */
} dcf_feeder_state;

typedef struct dcf_feeder_status
{
	dcf_feeder_state state;
	char		application_name[64];
	uint32_t	tli;			/* timeline being streamed */
	uint64_t	start_lsn;		/* START_REPLICATION's position */
	uint64_t	sent_lsn;		/* next byte to send */
	uint64_t	write_lsn;		/* last 'r' from the standby */
	uint64_t	flush_lsn;
	uint64_t	apply_lsn;
	uint64_t	connections;	/* accepted since creation */
	uint64_t	refused;		/* closed for a protocol or bound violation */
	uint64_t	bytes_sent;		/* WAL bytes sent in 'w' messages */
} dcf_feeder_status;

/*
 * Listen on <socket_dir>/.s.PGSQL.<port>, mode 0600, non-blocking.  A stale
 * socket file (nobody listening) is removed; a live one, a non-socket file
 * or a path longer than sun_path allows is an error.  The source table is
 * copied.  Returns NULL with errmsg set on failure.
 */
extern dcf_feeder *dcf_feeder_create(const char *socket_dir, int port,
									 const dcf_feeder_source *source, char *errmsg);

/* Close every socket, remove the socket file, free everything. */
extern void dcf_feeder_destroy(dcf_feeder *f);

extern const char *dcf_feeder_socket_path(const dcf_feeder *f);

/* The descriptors to watch now; returns how many (<= max). */
extern int	dcf_feeder_fds(const dcf_feeder *f, dcf_feeder_fd *fds, int max);

/* Changes whenever the set of descriptors changes (not their wants). */
extern uint64_t dcf_feeder_generation(const dcf_feeder *f);

/*
 * fd is ready.  now_us: wall clock, microseconds since the Unix epoch (sent
 * to the standby as sendTime, and used for the timeouts).  An fd the feeder
 * no longer owns is ignored.
 */
extern void dcf_feeder_on_ready(dcf_feeder *f, int fd, bool readable, bool writable,
								int64_t now_us);

/* Timeouts, keepalives, and another try at sending WAL. */
extern void dcf_feeder_tick(dcf_feeder *f, int64_t now_us);

/* The source can serve more WAL (or a new timeline): push it now. */
extern void dcf_feeder_wal_available(dcf_feeder *f);

/* When the host must call dcf_feeder_tick at the latest (INT64_MAX: never). */
extern int64_t dcf_feeder_next_wakeup_us(const dcf_feeder *f);

extern void dcf_feeder_get_status(const dcf_feeder *f, dcf_feeder_status *status);

#endif							/* DCF_FEEDER_H */
