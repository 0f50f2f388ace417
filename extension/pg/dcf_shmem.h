/*
 * dcf_shmem.h — the node's shared state.
 *
 * Locking protocol: one LWLock (named tranche "dcf") protects every field of
 * DcfShared.  The background worker is the only writer of the consensus
 * fields; it takes the lock exclusively, copies its state in, and releases
 * it without doing any I/O while holding it.  Readers (SQL functions) take
 * the lock shared, copy the struct out, release it, and only then build
 * tuples or JSON, exactly like pg_stat_statements.
 */
#ifndef DCF_SHMEM_H
#define DCF_SHMEM_H

#include "postgres.h"

#include "access/xlogdefs.h"
#include "storage/lwlock.h"

#include "pg/dcf_config.h"
#include "pg/dcf_guard.h"
#include "pg/dcf_monitor.h"

#define DCF_ROLE_NAME_BYTES 16
#define DCF_BUILD_HOLDS_MAX 8
#define DCF_BUILD_ERROR_BYTES 256

/*
 * A build's hold on the leader's consensus log (dcf_ctl build, see
 * dcf_build_hold() in dcf_member_sql.c and progress_build_step() in
 * dcf_progress.c): while it is ACTIVE the leader recycles nothing at or
 * above hold_index.  A backend posts or renews it (seq), the worker resolves
 * it (done_seq) and lets it lapse at expires_at, or releases it once the
 * built node's applied index reached first_index.
 */
typedef enum DcfBuildHoldState
{
	DCF_HOLD_FREE = 0,
	DCF_HOLD_PENDING,			/* posted, not resolved yet */
	DCF_HOLD_ACTIVE,
	DCF_HOLD_LAPSED,			/* its lease ran out (the build died or was slow) */
	DCF_HOLD_RELEASED,			/* the built node caught up past it */
	DCF_HOLD_FAILED				/* could not be resolved: see error */
} DcfBuildHoldState;

typedef struct DcfBuildHold
{
	uint32		node_id;
	DcfBuildHoldState state;
	XLogRecPtr	start_lsn;		/* the copy's start LSN; 0: hold from the commit index now */
	uint64		seq;			/* bumped by every post */
	uint64		done_seq;		/* the post the worker resolved last */
	uint64		hold_index;		/* first index kept */
	uint64		first_index;	/* for start_lsn: first index of the built node's log */
	uint64		prev_term;		/* term of first_index - 1 */
	int64		expires_at;		/* TimestampTz */
	int64		changed_at;		/* TimestampTz of the last state change */
	char		error[DCF_BUILD_ERROR_BYTES];
} DcfBuildHold;

/* Per-member view kept by the worker (progress is filled on the leader). */
typedef struct DcfMemberState
{
	DcfMember	member;
	uint64		next_index;
	uint64		match_index;
	uint64		applied_index;
	int64		last_heard_ms;	/* ms since the worker last heard it; -1 never */
	bool		connected;
	bool		needs_build;	/* leader's view: released from log retention */

	/*
	 * The member's own status report (dcf_monitor.h), kept by the leader for
	 * every member and by any node for itself; kept when the member goes
	 * down, so the last known PostgreSQL address stays visible.
	 */
	DcfMemberReport report;
	bool		repairing;		/* leader: its answers say it lost entries (S1) */
} DcfMemberState;

typedef struct DcfShared
{
	LWLock	   *lock;

	/* set by _PG_init / shmem startup, constant afterwards */
	bool		enabled;
	int			node_id;

	/* the WAL pump's proof at login, new at every postmaster (re)start */
	char		pump_token[DCF_PUMP_TOKEN_BYTES];

	/* worker process */
	pid_t		worker_pid;		/* 0 when not running */
	int64		worker_started_at;	/* TimestampTz of last start */
	uint32		worker_starts;	/* how often it started since postmaster start */

	/*
	 * Login gate, written by the worker: joined once the node has taken its
	 * place in the cluster (the leader pumping WAL, or a follower streaming
	 * from its feeder with a known leader); fenced once a leader lost
	 * leadership (the server is stopping).  See dcf_login_hook().
	 */
	bool		joined;
	bool		fenced;
	bool		suspended;		/* leader without its majority: see dcf_worker.c */
	bool		leading;		/* promoted leader pumping WAL */
	bool		needs_build;	/* the leader released this node: rebuild it */
	int64		published_at;	/* TimestampTz of the worker's last publish */

	/* consensus state, written by the worker */
	char		role[DCF_ROLE_NAME_BYTES];
	uint64		term;
	int			run_mode;		/* 0 automatic election, 2 none */
	int			work_mode;		/* 0 normal, 1 minority */
	int			vote_num;		/* quorum in minority mode */
	uint64		applied_index;
	uint64		commit_index;
	uint64		first_index;
	uint64		last_index;
	uint64		repair_index;	/* S1: lost entries up to here are being
								 * fetched again; 0 = none */
	uint64		cluster_min_apply_idx;
	uint32		leader_id;		/* 0: no known leader */
	XLogRecPtr	paxos_write_lsn;
	XLogRecPtr	paxos_commit_lsn;

	int			nmembers;
	DcfMemberState members[DCF_MAX_MEMBERS];

	/*
	 * Members that left the membership while this server ran (a restart
	 * forgets them), oldest first, with what was known of them then; one
	 * added again leaves the list.  dcf_members() lists them as removed.
	 * membership_published: the worker published a membership of its log
	 * (until then members is dcf.config's, whose differences are no
	 * removals).
	 */
	bool		membership_published;
	int			nremoved;
	DcfMemberState removed[DCF_MAX_MEMBERS];

	/* monitoring, written by the worker (dcf_monitor.h) */
	uint32		leader_pg_port; /* the current leader's PostgreSQL port; 0 unknown */
	DcfCounters counters;

	/* build holds: posted by backends, resolved and expired by the worker */
	bool		build_posted;	/* a hold waits for the worker */
	DcfBuildHold build_holds[DCF_BUILD_HOLDS_MAX];
} DcfShared;

extern DcfShared *dcf_shared;

extern void dcf_shmem_request(void);
extern void dcf_shmem_startup(void);

/*
 * SQL functions: refuse clearly (ERROR) when there is no state to show —
 * dcf not in shared_preload_libraries, or not enabled on this server.
 */
extern void dcf_require_enabled(void);

#endif							/* DCF_SHMEM_H */
