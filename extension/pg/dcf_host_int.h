/*
 * dcf_host_int.h — the consensus host's state, shared by dcf_host.c (the
 * event path) and dcf_host_state.c (what the worker reads of it).  Not for
 * other files: they use dcf_host.h.
 */
#ifndef DCF_HOST_INT_H
#define DCF_HOST_INT_H

#include <pthread.h>

#include "pg/dcf_host.h"

/* Read buffers handed to the core live until the next step (H5). */
typedef struct read_buf
{
	struct read_buf *next;
	size_t		cap;
	uint8_t		data[];
} read_buf;

typedef struct pending_msg
{
	uint32_t	to;
	dcf_net_class cls;
	size_t		len;
	uint8_t    *data;
	uint64_t	after_sync;		/* leaves once this many syncs have completed */
} pending_msg;

/*
 * The sync thread (dcf_host_options.sync_inline = 0): for a large group
 * commit the event loop asks (req++) and goes on; the thread runs dcf_log_sync (the
 * one call storage allows from a second thread), counts it done and writes
 * the eventfd, both under mu, so the loop drains the eventfd exactly when
 * it sees a new completion.  At most one sync runs; requests made while it
 * runs are served by the next one, which covers them all.
 */
/*
 * Group commits of fewer bytes, with no sync running, are done by the event
 * loop itself: the thread's hand-off costs a small commit more latency than
 * it saves (pgbench), while a bulk load's large ones overlap with the next
 * appends.  The same size as a direct append (storage/log.c).
 */
#define DCF_HOST_SYNC_THREAD_MIN_BYTES	(64 * 1024)

typedef struct host_syncer
{
	bool		on;				/* a thread runs; else dcf_host_flush syncs inline */
	pthread_t	thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int			efd;			/* eventfd: readable when done moved */
	/* under mu */
	uint64_t	req;			/* syncs asked for by the event loop */
	uint64_t	done;			/* syncs completed (each covering every request before it) */
	bool		stop;
	dcf_rc		rc;				/* the first failure; the loop reports it */
	char		err[DCF_ERRMSG_MAX];
	/* event loop only */
	uint64_t	seen;			/* done, when the loop last looked */
} host_syncer;

struct dcf_host
{
	dcf_host_callbacks cb;
	dcf_log    *log;
	dcf_node   *node;
	dcf_net    *net;
	dcf_options core_opts;

	/* what the metadata record holds now */
	dcf_hard_state hs;
	dcf_membership membership;
	uint64_t	membership_index;
	uint64_t	applied_saved;

	/* soft state from the last update */
	uint64_t	commit_index;
	uint64_t	persisted_index;
	dcf_role	role;
	uint32_t	leader_id;
	uint64_t	term;

	bool		need_sync;		/* appended since the last sync request */
	uint64_t	unsynced_bytes; /* payload bytes of those appends */
	host_syncer syncer;
	uint64_t	syncs;			/* dcf_log_sync calls, their total and longest time
								 * (under syncer.mu when the thread runs) */
	uint64_t	sync_us_total;
	uint64_t	sync_us_max;
	read_buf   *reads;			/* freed at the start of every step */

	/* encode buffer */
	uint8_t    *enc;
	size_t		enc_cap;

	/* receive decode space */
	dcf_entry  *dec_entries;

	pending_msg *pending;
	uint32_t	n_pending;

	uint64_t	leader_commit;	/* commit index the leader last told us */
	uint64_t	leader_commit_term;

	dcf_rc		fatal_rc;		/* a failure inside the receive callback */
	char		fatal_msg[DCF_ERRMSG_MAX];
	uint64_t	now_ms;
};

/* dcf_host_sync.c */
extern dcf_rc host_syncer_start(dcf_host *h, char *errmsg);
extern void host_syncer_stop(dcf_host *h);
extern dcf_rc host_sync_step(dcf_host *h, bool *synced, char *errmsg);

#endif							/* DCF_HOST_INT_H */
