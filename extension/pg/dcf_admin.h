/*-------------------------------------------------------------------------
 *
 * dcf_admin.h
 *		The admin channel: requests from backends to the consensus worker.
 *
 * A backend posts a request (a dcf_admin_request of the core: kind and
 * arguments) into a slot of a small ring in shared memory and gets an id.
 * The worker picks posted requests up once per turn of its event loop
 * (dcf_admin_worker_step), steps each into the core through dcf_host_admin,
 * and records the outcome when the core reports it (dcf_admin_on_report,
 * the host's report callback): a request the core refuses at once is
 * REFUSED with the core's reason; an accepted membership change or transfer
 * runs until the core's report makes it COMMITTED, ABORTED (timed out in the
 * core, leadership lost, a promotion found unsafe) or, for kinds the core
 * completes synchronously (run mode, work mode, promote), COMMITTED at once.
 * Every change of a slot is followed by a broadcast on one condition
 * variable; the backend sleeps on it until its slot is final or its own
 * timeout passes, and then leaves the request running: its outcome stays in
 * the ring (the last DCF_ADMIN_SLOTS requests) and dcf_admin_requests()
 * shows it by id.
 *
 * The worker also publishes the membership in force (with learners) here,
 * and into dcf_shared->members, whenever its CONFIG index changes.
 *
 * Locking: one LWLock (tranche "dcf_admin") protects the whole struct;
 * nobody does I/O or steps the core while holding it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DCF_ADMIN_H
#define DCF_ADMIN_H

#include "postgres.h"

#include "storage/condition_variable.h"
#include "storage/lwlock.h"

#include "core/dcf_core.h"

#define DCF_ADMIN_SLOTS			64	/* requests kept, oldest reused first */
#define DCF_ADMIN_REASON_BYTES	256

/* SQLSTATE of "timed out, the request is still running" (dcf_ctl exits 2). */
#define ERRCODE_DCF_ADMIN_TIMEOUT	MAKE_SQLSTATE('D','C','F','0','1')

typedef enum DcfAdminState
{
	DCF_ADMIN_FREE = 0,
	DCF_ADMIN_POSTED,			/* waiting for the worker */
	DCF_ADMIN_RUNNING,			/* accepted by the core, outcome pending */
	DCF_ADMIN_COMMITTED,		/* done */
	DCF_ADMIN_REFUSED,			/* refused, nothing changed */
	DCF_ADMIN_ABORTED			/* accepted, then given up (see reason) */
} DcfAdminState;

typedef struct DcfAdminSlot
{
	uint64		id;				/* 0: never used */
	DcfAdminState state;
	dcf_admin_request req;
	int			requester_pid;
	int64		posted_at;		/* TimestampTz */
	int64		finished_at;	/* TimestampTz, 0 while not final */
	int			core_rc;		/* dcf_rc of the refusal or report */
	uint64		config_index;	/* CONFIG entry of the change, 0 if none */
	bool		learner_added;	/* ADD: the learner is in, its promotion awaited */
	char		reason[DCF_ADMIN_REASON_BYTES];
} DcfAdminSlot;

typedef struct DcfAdminShared
{
	LWLock	   *lock;
	ConditionVariable cv;
	uint64		next_id;
	int			worker_pid;		/* worker that serves the ring, 0 none */
	bool		posted;			/* a request waits for the worker */

	/* the membership in force, as the worker last saw it */
	uint64		membership_index;
	uint32		n_members;
	dcf_member	members[DCF_MEMBERS_MAX];
	uint32		leader_id;
	bool		is_leader;
	dcf_change_status change;	/* the leader's change in flight */
	uint32		transfer_target;	/* a leadership transfer runs, else 0 */

	DcfAdminSlot slots[DCF_ADMIN_SLOTS];
} DcfAdminShared;

extern DcfAdminShared *dcf_admin_shared;

/* shmem hooks (dcf.c) */
extern void dcf_admin_shmem_request(void);
extern void dcf_admin_shmem_startup(void);

/* the worker */
struct dcf_host;
extern void dcf_admin_worker_start(void);
extern void dcf_admin_worker_step(struct dcf_host *host, uint64_t now_ms, bool role_changed);
extern void dcf_admin_on_report(void *ctx, const dcf_admin_report *report);

/* backends: post, then wait up to timeout_ms (<= 0: do not wait) */
extern uint64 dcf_admin_post(const dcf_admin_request *req);
extern DcfAdminState dcf_admin_wait(uint64 id, int timeout_ms, DcfAdminSlot *out);
extern const char *dcf_admin_state_name(DcfAdminState st);

/* SQL functions (dcf_member_sql.c): error unless the channel is usable; a copy of the struct */
extern void require_channel(void);
extern DcfAdminShared *snapshot(void);
/* error naming the leader unless this node leads */
extern void require_leader(const DcfAdminShared *s);

#endif							/* DCF_ADMIN_H */
