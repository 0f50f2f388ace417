/*
 * dcf_monitor.h — what monitoring needs beyond the consensus state: each
 * member's status report, and the node's cumulative counters.
 *
 * Member status reports travel member -> leader as host messages
 * (DCF_MSG_MEMBER_REPORT, DCF_MEMBER_REPORT_BYTES, little-endian): the
 * member's PostgreSQL port, timeline, term, standby positions and how long
 * its standby has been behind the commit position.  The leader keeps the
 * last one of every member in shared memory (dcf_monitor_store_report), so
 * dcf_members() on the leader shows the whole cluster, including the last
 * known address of a member that is down.
 *
 * Counters are cumulative since counters_since (the node's first start, or
 * the loss of the counters file); a monitoring system computes rates.  The worker keeps them in its own memory and publishes a
 * copy with the rest of its state, under the same lock.
 */
#ifndef DCF_MONITOR_H
#define DCF_MONITOR_H

#include "postgres.h"

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

/* Host message type of a member status report (>= DCF_HOST_APP_TYPE_MIN). */
#define DCF_MSG_MEMBER_REPORT		18
#define DCF_MEMBER_REPORT_VERSION	1
#define DCF_MEMBER_REPORT_BYTES		56
#define DCF_MEMBER_REPORT_EVERY_MS	1000	/* how often a member reports */
#define DCF_MEMBER_REPORT_STALE_MS	5000	/* older reports do not decide a state */

/* What a member says about itself. */
typedef enum DcfReportedState
{
	DCF_RSTATE_UNKNOWN = 0,
	DCF_RSTATE_LEADING,			/* promoted leader pumping WAL */
	DCF_RSTATE_STREAMING,		/* joined: has every committed entry, streams the newest timeline */
	DCF_RSTATE_CATCHING_UP,		/* not joined yet */
	DCF_RSTATE_NEEDS_BUILD,		/* asked for WAL the log no longer has */
	DCF_RSTATE_FENCED			/* lost leadership: acknowledges nothing, stops */
} DcfReportedState;

typedef struct DcfMemberReport
{
	uint8		state;			/* DcfReportedState */
	uint32		pg_port;		/* PostgreSQL port; 0 unknown */
	uint32		timeline;		/* timeline its standby replays (a leader: writes) */
	uint64		term;
	uint64		applied_index;
	XLogRecPtr	flush_lsn;		/* its standby's flushed WAL */
	XLogRecPtr	replay_lsn;		/* its standby's replayed WAL (a leader: flushed) */
	int64		behind_ms;		/* how long replay has been below the commit position; 0 caught up, -1 unknown */
	TimestampTz received_at;	/* when the leader got it (0: never); not sent */
} DcfMemberReport;

/* Cumulative counters of one node (dcf_stats()). */
typedef struct DcfCounters
{
	TimestampTz since;			/* when counting started */
	uint64		elections;		/* elections this node started (became CANDIDATE) */
	uint64		elections_won;	/* ... and won (became LEADER) */
	uint64		leader_changes; /* a different leader became known here */
	uint64		term_changes;	/* the term this node is in advanced */
	uint64		committed_entries;	/* log entries that became committed here */
	uint64		committed_bytes;	/* WAL bytes that became committed here */
	uint64		log_fsyncs;		/* syncs of the consensus log */
	uint64		log_fsync_us;	/* total time in them, microseconds */
	uint64		log_fsync_max_us;	/* the longest one */
	uint64		commits_timed;	/* leader: appended WAL chunks timed to commit */
	uint64		commit_latency_us;	/* leader: total append-to-commit time, microseconds */
	uint64		fences;			/* times this node fenced itself */
	uint64		admin_requests; /* admin requests the worker finished */
	uint64		admin_failures; /* ... refused or aborted */
} DcfCounters;

/*
 * Counters survive restarts in <dcf.data_path>/dcf_counters (written by the
 * worker every DCF_COUNTERS_SAVE_EVERY_MS and when it fences the node; a
 * plain file replaced by rename, not synced: losing the last seconds of
 * counts in a crash is acceptable, a torn file is not, and is ignored).
 */
#define DCF_COUNTERS_FILE			"dcf_counters"
#define DCF_COUNTERS_SAVE_EVERY_MS	10000

extern void dcf_counters_load(const char *data_path, DcfCounters *c);
extern void dcf_counters_save(const char *data_path, const DcfCounters *c);

extern void dcf_member_report_encode(const DcfMemberReport *r, uint8 *buf);
extern bool dcf_member_report_decode(const uint8 *buf, size_t len, DcfMemberReport *r);

/* Leader side: keep member from's report (takes the shared-state lock). */
extern void dcf_monitor_store_report(uint32 from, const DcfMemberReport *r);

#endif							/* DCF_MONITOR_H */
