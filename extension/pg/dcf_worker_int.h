/*-------------------------------------------------------------------------
 *
 * dcf_worker_int.h
 *		The consensus background worker's context, shared by the files that
 *		implement it.  Nothing outside the worker includes this header.
 *
 * The worker is one process with one single-threaded event loop; its
 * state is one DcfWorker, owned by dcf_worker.c and passed explicitly to
 * every module function and (as ctx) to every callback.  The files:
 *
 *	dcf_worker.c	the event loop, its wait set and signals, start-up,
 *					the consensus host's callbacks
 *	dcf_promote.c	becoming leader: one function per state of the
 *					promotion sequence (WAIT_COMMIT, WAIT_RECEIVE, PROMOTE,
 *					SWITCH, PUMP), suspension and resumption
 *	dcf_fence.c		losing leadership for good: fencing, and stopping a
 *					node whose WAL diverged so that it can be rewound
 *	dcf_propose.c	the leader's WAL pump glue: WAL from the local walsender
 *					becomes log proposals
 *	dcf_walsource.c	the follower's WAL source for the feeder: committed
 *					WAL from the log, older WAL from pg_wal, batching
 *	dcf_progress.c	commit and applied indexes, log recycling, hot standby
 *					feedback relayed to the leader
 *	dcf_publish.c	the node's state published to shared memory
 *	dcf_endpoints.c	the members' PostgreSQL ports, kept for dcf_ctl's
 *					pg_rewind
 *	dcf_handover.c	switchover: the old leader restarts as a standby
 *	dcf_policy.c	policy settings: reloads, publication, the leader's
 *					policy compared by the members
 *	dcf_buildhold.c	the leader's holds on its log for dcf_ctl build
 *	dcf_removed.c	a removed node learns that it was removed
 *
 *-------------------------------------------------------------------------
 */
#ifndef DCF_WORKER_INT_H
#define DCF_WORKER_INT_H

#include <sys/time.h>
#include <time.h>

#include "core/dcf_core.h"
#include "pg/dcf_host.h"
#include "pg/dcf_walentry.h"
#include "pg/dcf_walmap.h"
#include "pg/feeder.h"
#include "pg/pump.h"
#include "pg/walreader.h"

#define WORKER_TICK_MIN_MS			10	/* tick the core at most this often */
#define WORKER_WAIT_MAX_MS			100 /* longest sleep of one turn */
#define WORKER_PUMP_RETRY_MS		200 /* pause before reconnecting the pump */
#define WORKER_APPLIED_SAVE_MS		1000	/* save the applied index at most this often */
#define WORKER_RECYCLE_EVERY_MS		10000	/* try prefix truncation this often */
#define WORKER_PROMOTE_STALL_MS		60000	/* promotion fails after this long without replay progress */
#define WORKER_PROPOSALS_MAX		256 /* WAL chunks proposed in one step */
#define WORKER_SUSPEND_TIMEOUTS		10	/* election timeouts a suspended leader waits */
#define WORKER_SUSPEND_SERVE_MS		600000	/* ... and at most this long while it serves a rewind */
#define WORKER_UNJOIN_TIMEOUTS		3	/* election timeouts without a leader before logins are refused */
#define WORKER_PUBLISH_EVERY_MS		10	/* refresh shared memory at most this often */
#define WORKER_FEEDER_BATCH_MS		10	/* a follower hands committed WAL to its standby at most this often */
#define WORKER_FEEDBACK_EVERY_MS	1000	/* a follower forwards hot standby feedback */
#define WORKER_FEEDBACK_STALE_MS	10000	/* the leader forgets feedback older than this */
#define MSG_HOT_STANDBY_FEEDBACK	(DCF_HOST_APP_TYPE_MIN + 0)
#define MSG_RECYCLE_FLOOR			(DCF_HOST_APP_TYPE_MIN + 1)	/* leader -> member: u64 floor, u8 released */
#define MSG_PG_ENDPOINT				(DCF_HOST_APP_TYPE_MIN + 3)	/* member -> members: u32 PostgreSQL port (+2 is DCF_MSG_MEMBER_REPORT) */
#define MSG_POLICY					(DCF_HOST_APP_TYPE_MIN + 5)	/* leader -> members: its policy settings (dcf_policy.c) */
#define MSG_REMOVED					(DCF_HOST_APP_TYPE_MIN + 6)	/* leader -> removed node: u64 CONFIG index (dcf_removed.c) */

/* The leader's start-up sequence; see dcf_promote.c. */
typedef enum LeadState
{
	LEAD_NONE = 0,
	LEAD_WAIT_COMMIT,
	LEAD_WAIT_RECEIVE,
	LEAD_RESERVE,
	LEAD_PROMOTE,
	LEAD_SWITCH,
	LEAD_PUMP
} LeadState;

typedef struct DcfWorker
{
	dcf_host   *host;
	dcf_walmap *walmap;
	dcf_feeder *feeder;
	dcf_pump   *pump;

	dcf_role	role;
	uint32_t	leader_id;
	uint64_t	term;
	bool		role_event;		/* on_role fired during this turn */
	uint64_t	role_events;	/* on_role calls so far */
	uint64_t	role_event_published;

	LeadState	lead;
	uint64_t	lead_target_index;	/* our no-op */
	uint64_t	lead_since_ms;
	uint32_t	lead_tli;		/* timeline after promotion */
	uint64_t	lead_switch_lsn;
	uint64_t	lead_switch_index;	/* our timeline switch entry */
	uint32_t	lead_reserve_tli;	/* the timeline reserved for our promotion */
	uint64_t	lead_reserve_index; /* its reservation entry; 0: not proposed */
	uint64_t	lead_progress_lsn;	/* replay position last seen moving */
	uint64_t	lead_progress_ms;	/* when it last moved */
	bool		lead_stall_logged;
	bool		promoted;		/* this worker promoted the server */
	bool		suspended;		/* promoted, lost its majority, may be re-elected */
	uint64_t	suspended_since_ms;

	uint64_t	last_tick_ms;
	uint64_t	pump_retry_at_ms;
	uint64_t	last_applied_save_ms;
	uint64_t	last_recycle_ms;
	uint64_t	last_publish_ms;
	uint64_t	joined_at_ms;	/* when the node last counted as joined */
	uint64_t	applied_index;
	uint64_t	commit_index;	/* committed and durable here */
	uint64_t	bad_index;		/* first entry the WAL map refused (0: none) */
	bool		diverged;		/* WAL diverged: stop for pg_rewind once a source is ready */
	char		diverged_why[256];

	/* standby progress reported to the feeder */
	uint64_t	standby_flush_lsn;
	uint64_t	feeder_due_ms;	/* newly committed WAL goes to the standby then (0: none waits) */
	uint32_t	feeder_tli;		/* the feeder serves up to feeder_end on this timeline */
	uint64_t	feeder_end;

	/* proposals collected from the pump this turn */
	dcf_proposal props[WORKER_PROPOSALS_MAX];
	uint8_t    *prop_bufs[WORKER_PROPOSALS_MAX];
	uint32_t	nprops;
	uint64_t	pending_key;	/* key of the last proposed entry */
	bool		pump_paused;	/* proposals refused (core full) */

	/* the feeder's reads of committed WAL from the log */
	dcf_walreader rd;

	/* log retention: the leader's floor and released members */
	uint64_t	leader_floor;	/* a follower recycles only below it (0: unknown) */
	bool		needs_build;	/* the leader released this node */
	uint32_t	released[DCF_MEMBERS_MAX];	/* node ids the leader released */
	uint64_t	build_hold_index;	/* lowest active build hold (0: none); see dcf_buildhold.c */
	uint64_t	build_checked_ms;

	/* removal (dcf_removed.c) */
	bool		removed;		/* this node was told it was removed */
	uint64_t	removed_checked_ms;
	uint64_t	removed_config_index;	/* leader: the configuration it tells removed nodes of */
	uint64_t	removed_since_ms;

	/* hot standby feedback: ours (follower) and the members' (leader) */
	uint32_t	fb_mine[4];		/* xmin, epoch, catalog_xmin, epoch */
	uint64_t	fb_sent_ms;
	bool		fb_changed;
	struct
	{
		uint32_t	node_id;
		uint32_t	v[4];
		uint64_t	at_ms;
	}			fb_members[DCF_MEMBERS_MAX];
} DcfWorker;

static inline uint64_t
worker_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static inline int64_t
worker_wall_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

/* dcf_worker.c */
extern void worker_panic(const char *what, const char *detail) pg_attribute_noreturn();

/* dcf_promote.c */
extern void lead_step(DcfWorker *w, uint64_t now_ms);
extern void lead_handle_role_change(DcfWorker *w, uint64_t now_ms);
extern void lead_suspend(DcfWorker *w, uint64_t now_ms);
extern bool lead_serving_rewind(DcfWorker *w, uint64_t now_ms);
extern void lead_adopt_primary(DcfWorker *w, uint64_t now_ms);

/* dcf_fence.c */
extern void fence_and_stop(DcfWorker *w, const char *reason) pg_attribute_noreturn();
extern void fence_for_rewind(DcfWorker *w, const char *why);

/* dcf_propose.c */
extern void propose_start_pump(DcfWorker *w, uint64_t now_ms);
extern void propose_collected(DcfWorker *w, uint64_t now_ms);
extern void propose_stop_pump(DcfWorker *w);

/* dcf_walsource.c */
extern void walsrc_check_abandoned(DcfWorker *w);
extern void walsrc_diverged(DcfWorker *w, const char *why);
extern void walsrc_check_diverged(DcfWorker *w, uint64_t now_ms);
extern dcf_rc walsrc_history(DcfWorker *w, uint32_t tli, char *buf, size_t cap, size_t *len, char *errmsg);
extern dcf_rc walsrc_history_file(uint32_t tli, char *buf, size_t cap, size_t *len, char *errmsg);
extern dcf_rc walsrc_placeholder_history(uint32_t tli, char *buf, size_t cap, size_t *len, char *errmsg);
extern void walsrc_fill(DcfWorker *w, dcf_feeder_source *src);
extern dcf_rc walsrc_read_entry(DcfWorker *w, uint64_t index, dcf_log_entry *e, char *errmsg);
extern dcf_rc walsrc_read_pg_wal(DcfWorker *w, uint32_t tli, uint64_t lsn, char *buf, size_t n,
							 size_t *got, char *errmsg);
extern bool walsrc_batching(DcfWorker *w);
extern void walsrc_release(DcfWorker *w);

/* dcf_progress.c */
extern void progress_advance_commit(DcfWorker *w, uint64_t now_ms);
extern void progress_recycle_log(DcfWorker *w, uint64_t now_ms);
extern void progress_mark_released(DcfWorker *w, uint32_t node_id, bool released, uint64_t lag_bytes);
extern bool progress_is_released(const DcfWorker *w, uint32_t node_id);
extern void progress_forward_feedback(DcfWorker *w, uint64_t now_ms);
extern void progress_apply_feedback(DcfWorker *w, uint64_t now_ms);
extern void progress_on_app_message(void *ctx, uint32_t from, uint8_t type, const uint8_t *data, size_t len);

/* dcf_removed.c */
extern void removed_start(DcfWorker *w, uint64_t now_ms);
extern void removed_tick(DcfWorker *w, uint64_t now_ms);
extern void removed_on_message(DcfWorker *w, uint32_t from, const uint8_t *data, size_t len);

/* dcf_buildhold.c */
extern void progress_build_step(DcfWorker *w, uint64_t now_ms);

/* dcf_endpoints.c */
extern void endpoints_tick(DcfWorker *w, uint64_t now_ms);
extern void endpoints_on_message(DcfWorker *w, uint32_t from, const uint8_t *data, size_t len);
extern uint32_t endpoints_port_of(uint32_t node_id);

/* dcf_publish.c */
extern void publish_state(DcfWorker *w, uint64_t now_ms);

/* dcf_handover.c: the old leader's side of a switchover */
extern bool handover_claims(DcfWorker *w, uint64_t now_ms);
extern bool handover_stepped_down(DcfWorker *w);
extern void handover_tick(DcfWorker *w, uint64_t now_ms);
extern void handover_worker_start(void);

/* dcf_policy.c: reloaded settings into the core, the leader's policy to members */
extern void policy_tick(DcfWorker *w, uint64_t now_ms);
extern void policy_on_message(DcfWorker *w, uint32_t from, const uint8_t *data, size_t len);

#endif							/* DCF_WORKER_INT_H */
