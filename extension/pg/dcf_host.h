/*
 * dcf_host.h — the consensus host: runs the core (extension/core) over the
 * durable log (extension/storage) and the transport (extension/net).
 *
 * Plain C, no PostgreSQL headers: the background worker drives it from its
 * event loop and supplies the clock.  It carries out the core's host
 * contract (dcf_core.h H1-H6):
 *
 *   - hard state and membership are saved durably (dcf_log_save_meta) before
 *     the step that changed them returns;
 *   - entries are appended at once but synced once per turn of the event
 *     loop (group commit, dcf_host_flush); messages that claim durable
 *     state wait, already encoded, until that sync, while a leader's
 *     APPEND/HEARTBEAT go out at once (H1's allowed relaxation);
 *   - the log reader handed to the core returns payloads in buffers kept
 *     until the next step (H5).
 *
 * Any failure to persist is fatal: the host reports it and the worker
 * PANICs (an fsync is never retried).
 */
#ifndef DCF_HOST_H
#define DCF_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/dcf_core.h"
#include "net/net.h"
#include "storage/log.h"

/* Encoded membership blob in the metadata: u64 CONFIG index + codec bytes. */
#define DCF_HOST_PENDING_MSGS_MAX	4096	/* persist-waiting messages per turn */

typedef struct dcf_host dcf_host;

typedef enum dcf_host_log_level
{
	DCF_HOST_DEBUG = 0,
	DCF_HOST_LOG,
	DCF_HOST_WARNING
} dcf_host_log_level;

typedef struct dcf_host_callbacks
{
	void	   *ctx;
	void		(*log) (void *ctx, dcf_host_log_level level, const char *msg);
	/* entries were appended to the log (not yet durable) */
	void		(*on_append) (void *ctx, const dcf_entry *entries, uint32_t n);
	/* entries from index on were removed (conflict with a new leader) */
	void		(*on_truncate) (void *ctx, uint64_t from_index);
	/* role, leader or term changed */
	void		(*on_role) (void *ctx, dcf_role role, uint32_t leader_id, uint64_t term);
	/* a host-to-host message (not consensus) from an authenticated member */
	void		(*on_app_message) (void *ctx, uint32_t from, uint8_t type,
								   const uint8_t *data, size_t len);
	/* the outcome of an admin request (or of an automatic change) */
	void		(*on_report) (void *ctx, const dcf_admin_report *report);
} dcf_host_callbacks;

typedef struct dcf_host_options
{
	const char *data_path;
	dcf_options core;			/* node_id etc.; see dcf_options_init */
	dcf_net_options net;		/* on_message is set by the host */
	const dcf_membership *bootstrap;	/* used when the log has no membership */
	int			log_buffered;	/* 1: no direct appends (dcf_log_options.direct_io) */
	int			sync_inline;	/* 1: dcf_host_flush fdatasyncs itself; 0: a thread does */
	const dcf_io *log_io;		/* the log's I/O (tests); NULL: POSIX */
} dcf_host_options;

extern dcf_rc dcf_host_open(const dcf_host_options *opts, const dcf_host_callbacks *cb,
							uint64_t now_ms, dcf_host **out, char *errmsg);
extern void dcf_host_close(dcf_host *h);

/* Events.  DCF_ERR_STATE/INVALID/FULL from propose and admin: refused. */
extern dcf_rc dcf_host_tick(dcf_host *h, uint64_t now_ms, char *errmsg);
extern dcf_rc dcf_host_propose(dcf_host *h, const dcf_proposal *items, uint32_t n,
							   uint64_t now_ms, uint64_t *first_index, char *errmsg);
extern dcf_rc dcf_host_applied(dcf_host *h, uint64_t index, uint64_t now_ms, char *errmsg);
extern dcf_rc dcf_host_admin(dcf_host *h, const dcf_admin_request *req, uint64_t now_ms,
							 char *errmsg);

/*
 * Host-to-host messages beside consensus (type >= DCF_HOST_APP_TYPE_MIN), on
 * the control class; best effort (dropped when the queue is full).
 */
#define DCF_HOST_MSG_CONSENSUS		1
#define DCF_HOST_APP_TYPE_MIN		16
extern dcf_rc dcf_host_send_app(dcf_host *h, uint32_t to, uint8_t type,
								const void *data, size_t len, char *errmsg);

/*
 * Sync what was appended this turn, report it, send waiting messages.  With
 * the sync thread, ask for the sync and report those that completed since
 * the last call; messages that claim durability wait for theirs.
 */
extern dcf_rc dcf_host_flush(dcf_host *h, uint64_t now_ms, char *errmsg);

/*
 * With the sync thread: a descriptor that becomes readable when a sync
 * completed (wait on it, then call dcf_host_flush); -1 without the thread.
 */
extern int	dcf_host_sync_fd(const dcf_host *h);

/* The transport's sockets, for the worker's wait set. */
extern int	dcf_host_socks(dcf_host *h, dcf_net_sock *out, int max);
extern uint64_t dcf_host_net_generation(const dcf_host *h);
extern dcf_rc dcf_host_net_process(dcf_host *h, const dcf_net_sock *ready, int n,
								   uint64_t now_ms, char *errmsg);
extern int	dcf_host_timeout_ms(dcf_host *h, uint64_t now_ms);

/* State. */
extern void dcf_host_status(const dcf_host *h, dcf_status *out);
extern uint64_t dcf_host_commit_index(const dcf_host *h);	/* committed and durable here */
extern uint64_t dcf_host_last_key(const dcf_host *h);
/* The commit index the current leader last announced (0: none heard this term). */
extern uint64_t dcf_host_leader_commit(const dcf_host *h);
extern dcf_role dcf_host_role(const dcf_host *h);
extern bool dcf_host_lease_valid(const dcf_host *h, uint64_t now_ms);
extern dcf_log *dcf_host_log(dcf_host *h);
extern const dcf_membership *dcf_host_membership(const dcf_host *h);

/*
 * The membership record of the metadata (dcf.meta): the CONFIG index, 8
 * bytes little-endian, then dcf_membership_encode().  dcf_ctl build writes
 * one (from dcf_build_hold()) into a rebuilt node's metadata.
 */
extern dcf_rc dcf_host_membership_record(const dcf_membership *ms, uint64_t index, uint8_t *buf,
										 size_t cap, size_t *len, char *errmsg);
extern bool dcf_host_peer_connected(dcf_host *h, uint32_t node_id);

/* Log syncs since open: how many, their total and longest time (microseconds). */
extern void dcf_host_sync_stats(const dcf_host *h, uint64_t *syncs, uint64_t *us_total,
								uint64_t *us_max);

/* Save the applied index durably (rate-limit: it costs an fsync). */
extern dcf_rc dcf_host_save_applied(dcf_host *h, uint64_t applied, char *errmsg);

#endif							/* DCF_HOST_H */
