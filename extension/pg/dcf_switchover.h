/*-------------------------------------------------------------------------
 *
 * dcf_switchover.h
 *		Switchover: a planned leadership transfer that loses nothing and
 *		leaves the old leader a standby without pg_rewind (dcf_switchover.c
 *		for the SQL side and the write gate, dcf_handover.c for the worker).
 *
 * The sequence, on the leader:
 *   1. dcf_switchover(target, timeout) checks the target (member that may
 *      lead, connected, its standby not behind by more than
 *      dcf.switchover_max_lag, no membership change or transfer in flight)
 *      and runs a CHECKPOINT (so the old leader's restart replays little).
 *   2. It closes the write gate (DcfSwitchoverShared.active): new logins but
 *      dcf_ctl's are refused, a commit of a transaction that wrote is
 *      refused, and every client session and autovacuum worker is
 *      terminated (a session waiting for its commit to be acknowledged
 *      first gets its acknowledgement).  Then it waits until every WAL byte
 *      the server has written is committed in the consensus log.  From
 *      here on only background processes could write WAL.
 *   3. It posts a TRANSFER_LEADER admin request (the core stops taking
 *      proposals, brings the target up to the leader's last index and
 *      sends it TIMEOUT_NOW) and waits for its outcome.
 *   4. The target is elected and promotes at the end of the committed WAL,
 *      which is where the old leader's WAL ends too.  When the old leader's
 *      worker hears the target lead (dcf_handover.c), it does not fence
 *      and stop the server: once the caller has read the outcome it exits
 *      with a crash status, so the postmaster restarts in place
 *      (restart_after_crash) and, standby.signal being kept, comes back
 *      as a standby of the target with its WAL a prefix of the target's:
 *      no rewind, no operator.  Had a background process written WAL after
 *      step 2 (the check happens before the restart), the node is fenced
 *      like a lost leader instead, and dcf_ctl start rewinds it.
 *   5. Refused or aborted (timeout): the gate opens again and the old
 *      leader takes writes; the outcome stays in dcf_admin_requests()
 *      (after the restart of step 4 too: <dcf.data_path>/switchover_outcome).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DCF_SWITCHOVER_H
#define DCF_SWITCHOVER_H

#include "postgres.h"

#include "storage/spin.h"

/* the outcome of the last switchover led by this node, kept across its restart */
#define DCF_SWITCHOVER_OUTCOME_FILE	"switchover_outcome"

typedef struct DcfSwitchoverShared
{
	slock_t		mutex;
	bool		active;			/* the write gate is closed for a switchover */
	uint32		target;
	int			requester_pid;	/* 0: the worker finishes it */
	uint64		request_id;		/* the transfer's admin request, 0 until posted */
	int64		deadline;		/* TimestampTz: the caller's timeout */
	bool		handing_over;	/* the target took over: this node restarts */
	bool		outcome_seen;	/* the caller has its answer */
} DcfSwitchoverShared;

extern DcfSwitchoverShared *dcf_switchover_shared;
extern int	dcf_switchover_max_lag_mb;

extern void dcf_switchover_shmem_request(void);
extern void dcf_switchover_shmem_startup(void);
extern void dcf_switchover_define_parameters(void);
extern void dcf_switchover_install(void);

/* Is the write gate closed?  Sets *target. */
extern bool dcf_switchover_gate_closed(uint32 *target);

/* Open the gate (the caller or the worker gave up). */
extern void dcf_switchover_open_gate(const char *why);

#endif							/* DCF_SWITCHOVER_H */
