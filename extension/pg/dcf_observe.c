/*-------------------------------------------------------------------------
 *
 * dcf_observe.c
 *		The worker's monitoring: it counts (elections, leader and term
 *		changes, committed entries and bytes, log syncs, commit latency,
 *		fences), keeps the counters across restarts, sends its status
 *		report to the leader and publishes both to shared memory for
 *		dcf_stats() and dcf_members() (dcf_monitor.c).
 *
 * Hooks, each one line in the worker's files:
 *	observe_start		dcf_worker.c, once the host is open: load the counters
 *	observe_on_role		dcf_worker.c, the host's on_role callback, before the
 *						worker records the new role
 *	observe_turn		dcf_worker.c, every turn after the commit index
 *						advanced: committed counts and commit latency
 *	observe_proposed	dcf_propose.c, WAL chunks appended by the leader
 *	observe_publish		dcf_publish.c, with the state just published
 *	observe_on_report	dcf_progress.c, a member's status report arrived
 *	observe_wal_missing	dcf_walsource.c, the standby asked for WAL the log
 *						no longer has (the node needs a build)
 *	observe_fenced		dcf_fence.c, before the server is stopped
 *	observe_admin		dcf_admin.c, an admin request finished
 *
 * State lives in this file (one worker process); nothing here blocks or
 * fails the worker: a counters file that cannot be written is skipped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "postmaster/postmaster.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "pg/dcf_guc.h"
#include "pg/dcf_monitor.h"
#include "pg/dcf_observe.h"
#include "pg/dcf_shmem.h"

#define OBSERVE_RING 1024		/* proposals waiting to be timed to commit */

static struct
{
	bool		started;
	DcfCounters base;			/* loaded at start: earlier runs */
	DcfCounters k;				/* this run's counts on top of base */
	uint64		prev_commit_index;
	uint32		prev_tli;
	uint64		prev_committed_end;
	uint64		last_save_ms;
	uint64		report_sent_ms;
	uint64		caught_up_at_ms;
	bool		needs_build;

	/* leader: the last index of each proposed batch, and when */
	struct
	{
		uint64		index;
		int64		at_us;
	}			ring[OBSERVE_RING];
	int			head;			/* oldest */
	int			n;
}			O;

static int64
wall_us(void)
{
	return (int64) GetCurrentTimestamp();	/* microseconds */
}

void
observe_start(DcfWorker *w)
{
	dcf_counters_load(dcf_data_path_abs, &O.base);
	memset(&O.k, 0, sizeof(O.k));
	O.started = true;
}

void
observe_on_role(DcfWorker *w, dcf_role role, uint32_t leader_id, uint64_t term)
{
	/* a single voter goes from pre-candidate to leader in one step */
	if ((role == DCF_ROLE_CANDIDATE || role == DCF_ROLE_LEADER) &&
		w->role != DCF_ROLE_CANDIDATE && w->role != DCF_ROLE_LEADER)
		O.k.elections++;
	if (role == DCF_ROLE_LEADER && w->role != DCF_ROLE_LEADER)
		O.k.elections_won++;
	if (leader_id != 0 && leader_id != w->leader_id)
		O.k.leader_changes++;
	if (w->term != 0 && term > w->term)
		O.k.term_changes++;
	if (role != DCF_ROLE_LEADER)
		O.n = 0;				/* proposals of a lost leadership are not timed */
}

void
observe_proposed(DcfWorker *w, uint64_t first_index, uint32_t n)
{
	int			slot;

	if (n == 0 || first_index == 0)
		return;
	if (O.n == OBSERVE_RING)
	{
		O.head = (O.head + 1) % OBSERVE_RING;	/* the oldest goes untimed */
		O.n--;
	}
	slot = (O.head + O.n) % OBSERVE_RING;
	O.ring[slot].index = first_index + n - 1;
	O.ring[slot].at_us = wall_us();
	O.n++;
}

void
observe_turn(DcfWorker *w)
{
	uint64		commit = w->commit_index;
	const dcf_walmap_tl *tl;

	if (!O.started)
		return;
	if (commit > O.prev_commit_index)
	{
		if (O.prev_commit_index != 0)
			O.k.committed_entries += commit - O.prev_commit_index;
		O.prev_commit_index = commit;
	}
	tl = dcf_walmap_latest(w->walmap);
	if (tl)
	{
		if (tl->tli != O.prev_tli)
		{
			if (O.prev_tli != 0 && tl->committed_end > tl->begin_lsn)
				O.k.committed_bytes += tl->committed_end - tl->begin_lsn;
			O.prev_tli = tl->tli;
			O.prev_committed_end = tl->committed_end;
		}
		else if (tl->committed_end > O.prev_committed_end)
		{
			O.k.committed_bytes += tl->committed_end - O.prev_committed_end;
			O.prev_committed_end = tl->committed_end;
		}
	}
	if (O.n > 0 && O.ring[O.head].index <= commit)
	{
		int64		now = wall_us();

		while (O.n > 0 && O.ring[O.head].index <= commit)
		{
			O.k.commits_timed++;
			O.k.commit_latency_us += (uint64) Max(now - O.ring[O.head].at_us, 0);
			O.head = (O.head + 1) % OBSERVE_RING;
			O.n--;
		}
	}
}

void
observe_wal_missing(DcfWorker *w)
{
	O.needs_build = true;
}

void
observe_admin(bool ok)
{
	O.k.admin_requests++;
	if (!ok)
		O.k.admin_failures++;
}

/* base + this run */
static void
observe_total(DcfWorker *w, DcfCounters *t)
{
	uint64		syncs,
				us,
				us_max;

	*t = O.base;
	t->elections += O.k.elections;
	t->elections_won += O.k.elections_won;
	t->leader_changes += O.k.leader_changes;
	t->term_changes += O.k.term_changes;
	t->committed_entries += O.k.committed_entries;
	t->committed_bytes += O.k.committed_bytes;
	t->commits_timed += O.k.commits_timed;
	t->commit_latency_us += O.k.commit_latency_us;
	t->fences += O.k.fences;
	t->admin_requests += O.k.admin_requests;
	t->admin_failures += O.k.admin_failures;
	if (w->host)
	{
		dcf_host_sync_stats(w->host, &syncs, &us, &us_max);
		t->log_fsyncs += syncs;
		t->log_fsync_us += us;
		t->log_fsync_max_us = Max(t->log_fsync_max_us, us_max);
	}
}

void
observe_fenced(DcfWorker *w)
{
	DcfCounters t;

	if (!O.started)
		return;
	O.k.fences++;
	observe_total(w, &t);
	dcf_counters_save(dcf_data_path_abs, &t);
}

void
observe_on_report(DcfWorker *w, uint32_t from, const uint8_t *data, size_t len)
{
	DcfMemberReport r;

	if (!dcf_member_report_decode(data, len, &r))
	{
		ereport(LOG, (errmsg("dcf: ignoring a malformed status report (%zu bytes) from node %u", len, from)));
		return;
	}
	dcf_monitor_store_report(from, &r);
}

void
observe_publish(DcfWorker *w, const dcf_status *st, bool joined, bool fenced, uint64_t now_ms)
{
	DcfMemberReport r;
	DcfCounters t;
	const dcf_walmap_tl *tl = dcf_walmap_latest(w->walmap);
	uint32		leader_pg_port = 0;
	XLogRecPtr	committed = tl ? tl->committed_end : InvalidXLogRecPtr;

	if (!O.started)
		return;
	if (joined)
		O.needs_build = false;

	/* our own report */
	memset(&r, 0, sizeof(r));
	if (fenced)
		r.state = DCF_RSTATE_FENCED;
	else if (w->lead == LEAD_PUMP)
		r.state = DCF_RSTATE_LEADING;
	else if (O.needs_build || w->needs_build)
		r.state = DCF_RSTATE_NEEDS_BUILD;
	else if (joined)
		r.state = DCF_RSTATE_STREAMING;
	else
		r.state = DCF_RSTATE_CATCHING_UP;
	r.pg_port = (uint32) PostPortNumber;
	r.term = st->term;
	r.applied_index = w->applied_index;
	if (RecoveryInProgress())
	{
		TimeLineID	tli = 0;

		r.replay_lsn = GetXLogReplayRecPtr(&tli);
		r.timeline = tli;
		r.flush_lsn = Max(w->standby_flush_lsn, r.replay_lsn);
	}
	else
	{
		r.timeline = GetWALInsertionTimeLine();
		r.flush_lsn = r.replay_lsn = GetFlushRecPtr(NULL);
	}
	if (w->lead == LEAD_PUMP || r.replay_lsn >= committed || O.caught_up_at_ms == 0)
		O.caught_up_at_ms = now_ms;
	r.behind_ms = w->lead == LEAD_PUMP ? 0 : (int64) (now_ms - O.caught_up_at_ms);
	r.received_at = GetCurrentTimestamp();

	if (st->leader_id != 0 && st->leader_id != (uint32) dcf_node_id &&
		now_ms - O.report_sent_ms >= DCF_MEMBER_REPORT_EVERY_MS)
	{
		uint8		buf[DCF_MEMBER_REPORT_BYTES];
		char		err[DCF_ERRMSG_MAX];

		dcf_member_report_encode(&r, buf);
		if (dcf_host_send_app(w->host, st->leader_id, DCF_MSG_MEMBER_REPORT, buf, sizeof(buf), err) == DCF_OK)
			O.report_sent_ms = now_ms;
	}

	if (st->leader_id == (uint32) dcf_node_id)
		leader_pg_port = (uint32) PostPortNumber;
	else if (tl && st->leader_id != 0 && tl->leader_id == st->leader_id)
		leader_pg_port = tl->pg_port;

	observe_total(w, &t);
	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < dcf_shared->nmembers; i++)
	{
		DcfMemberState *ms = &dcf_shared->members[i];

		if (ms->member.node_id == (uint32) dcf_node_id)
			ms->report = r;
		else if (ms->member.node_id == st->leader_id && leader_pg_port != 0)
			ms->report.pg_port = leader_pg_port;	/* remembered should it become a follower */
	}
	dcf_shared->leader_pg_port = leader_pg_port;
	dcf_shared->counters = t;
	LWLockRelease(dcf_shared->lock);

	if (now_ms - O.last_save_ms >= DCF_COUNTERS_SAVE_EVERY_MS)
	{
		dcf_counters_save(dcf_data_path_abs, &t);
		O.last_save_ms = now_ms;
	}
}
