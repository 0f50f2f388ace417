/*
 * pump.h — the WAL pump: the leader's replication client to its own
 * walsender.
 *
 * On the leader the dcf worker opens a physical replication connection to
 * the local server over its Unix socket (application_name 'dcf', slot
 * 'dcf'), receives the WAL the server has flushed, hands it to the host as
 * contiguous chunks tagged (timeline, start LSN), and reports back write =
 * flush = apply = the consensus commit LSN.  With
 * synchronous_standby_names = 'dcf' a commit therefore returns only once a
 * majority has made its WAL durable.  The pump keeps sending replies while
 * consensus stalls, so the walsender does not drop it for
 * wal_sender_timeout.
 *
 * Plain C over libpq's asynchronous API, driven by the host's event loop:
 * no PostgreSQL server headers, no blocking call after dcf_pump_start().
 *
 * Invariants: chunks handed to on_wal are contiguous (each starts where the
 * previous ended); the reported position never goes backwards and never
 * exceeds the end of WAL handed to on_wal.
 */
#ifndef DCF_PUMP_H
#define DCF_PUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DCF_PUMP_ERRMSG_MAX 512
#define DCF_PUMP_REPLY_INTERVAL_US 100000	/* reply at least this often */
#define DCF_PUMP_WAL_LATER			2

typedef enum dcf_pump_state
{
	DCF_PUMP_CONNECTING,
	DCF_PUMP_SLOT,				/* READ/CREATE_REPLICATION_SLOT in flight */
	DCF_PUMP_STARTING,			/* START_REPLICATION sent */
	DCF_PUMP_STREAMING,
	DCF_PUMP_FAILED				/* see dcf_pump_error(); destroy and retry */
} dcf_pump_state;

typedef struct dcf_pump_callbacks
{
	void	   *ctx;

	/*
	 * A WAL chunk [start, start+len) of timeline tli.  Return 0 when all of
	 * it was taken; DCF_PUMP_WAL_LATER when only *accepted bytes (maybe 0)
	 * were taken and the rest should be offered again on a later poll (the
	 * pump keeps it and reads nothing more meanwhile); anything else
	 * refuses it (the pump then fails with the message the callback wrote
	 * into errmsg).
	 */
	int			(*on_wal) (void *ctx, uint32_t tli, uint64_t start,
						   const char *data, size_t len, size_t *accepted, char *errmsg);
} dcf_pump_callbacks;

typedef struct dcf_pump dcf_pump;

/*
 * Begin connecting (the pump adds replication=true and
 * application_name=dcf).  Streaming starts at start_lsn on timeline tli,
 * through slot slot_name (created if missing; NULL for none).  commit_lsn
 * (<= start_lsn, non-zero) is what is known committed now; it is reported
 * at once, because a walsender whose flush position is invalid is never
 * chosen as a synchronous standby.
 */
extern dcf_pump *dcf_pump_start(const char *conninfo, const char *slot_name,
								uint32_t tli, uint64_t start_lsn, uint64_t commit_lsn,
								const dcf_pump_callbacks *cb);
extern void dcf_pump_destroy(dcf_pump *p);

/* The socket to wait on (-1 if none) and what to wait for. */
extern int	dcf_pump_socket(const dcf_pump *p);
extern bool dcf_pump_wants_read(const dcf_pump *p);
extern bool dcf_pump_wants_write(const dcf_pump *p);

/* Changes whenever the socket number may have changed. */
extern uint64_t dcf_pump_socket_generation(const dcf_pump *p);

/* Drive the connection; call when the socket is ready and on every tick. */
extern dcf_pump_state dcf_pump_poll(dcf_pump *p, int64_t now_us);

/* The consensus commit position to report (monotonic; lower values ignored). */
extern void dcf_pump_set_commit(dcf_pump *p, uint64_t commit_lsn);

/* Forward the cluster's hot standby feedback (0 xmin: none). */
extern void dcf_pump_set_feedback(dcf_pump *p, uint32_t xmin, uint32_t xmin_epoch,
								  uint32_t catalog_xmin, uint32_t catalog_xmin_epoch);

extern dcf_pump_state dcf_pump_get_state(const dcf_pump *p);
extern const char *dcf_pump_error(const dcf_pump *p);
extern uint64_t dcf_pump_received_lsn(const dcf_pump *p);	/* end of WAL handed out */
extern uint64_t dcf_pump_reported_lsn(const dcf_pump *p);

#endif							/* DCF_PUMP_H */
