/*-------------------------------------------------------------------------
 *
 * dcf_promote.c
 *		Becoming leader: the promotion sequence, one function per state, and
 *		suspension/resumption of a leader that lost its majority.
 *
 * The order, and why:
 *   1. WAIT_COMMIT: wait until the no-op of our term is committed.  Only
 *      then is everything before it committed, so the log we are about to
 *      make our server's history is final.
 *   2. WAIT_RECEIVE: wait until our standby has received every committed
 *      WAL byte (the feeder serves it).  Promotion ends recovery at the end
 *      of what was received; anything missing would be lost from the new
 *      timeline.  If our server has WAL beyond the log (it led before and
 *      wrote WAL that was never committed) it must not lead: it is fenced,
 *      and `dcf_ctl start` rewinds it.
 *   3. PROMOTE: create "promote" and signal the postmaster; wait until
 *      recovery has ended.  The startup process replays what was received
 *      and starts a new timeline at the end of the last whole record.
 *   4. SWITCH: append a DCF_ENTRY_TLSWITCH entry (the new timeline, its
 *      switch point, its history file, our PostgreSQL port) before any WAL
 *      of the new timeline, so followers' feeders end the old timeline
 *      exactly where ours did.
 *   5. PUMP: stream our own WAL from the switch point into the log and
 *      report the consensus commit LSN back as write = flush = apply, so
 *      commits waiting in synchronous replication return once a majority
 *      has made them durable (dcf_propose.c).
 *
 * Losing leadership after step 3 suspends or fences (lead_suspend,
 * dcf_fence.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "access/xlogdefs.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "replication/walreceiver.h"
#include "storage/fd.h"
#include "storage/lwlock.h"

#include "core/dcf_codec.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_walentry.h"
#include "pg/dcf_worker_int.h"
#include "pg/walfile.h"

static const char *const lead_state_names[] = {
	"none", "waiting for the no-op to commit", "waiting for the standby to receive the log",
	"promoting", "appending the timeline switch", "pumping WAL"
};

static bool lead_resume(DcfWorker *w, uint64_t now_ms);

bool
lead_read_history_file(uint32_t tli, char **content, uint32_t *len, uint64_t *switch_lsn)
{
	char		name[DCF_WALFILE_NAME_BYTES];
	char		path[MAXPGPATH];
	char		err[DCF_ERRMSG_MAX];
	FILE	   *f;
	char	   *buf = palloc(DCF_TLSWITCH_HISTORY_MAX_BYTES);
	size_t		n;
	dcf_walfile_history h;
	const dcf_walfile_span *sp;

	dcf_walfile_history_name(name, tli);
	snprintf(path, sizeof(path), "pg_wal/%s", name);
	f = AllocateFile(path, "r");
	if (f == NULL)
		return false;
	n = fread(buf, 1, DCF_TLSWITCH_HISTORY_MAX_BYTES, f);
	FreeFile(f);
	if (dcf_walfile_history_parse(tli, buf, n, &h, err) != DCF_OK)
	{
		ereport(WARNING, (errmsg("dcf: cannot parse \"%s\": %s", path, err)));
		return false;
	}
	sp = dcf_walfile_history_find(&h, tli);
	if (sp == NULL)
		return false;
	*content = buf;
	*len = (uint32_t) n;
	*switch_lsn = sp->begin;
	return true;
}

/* 1. WAIT_COMMIT: the no-op of our term commits everything before it. */
static void
lead_wait_commit(DcfWorker *w, uint64_t now_ms)
{
	if (w->commit_index < w->lead_target_index)
		return;
	if (w->promoted)
	{
		lead_resume(w, now_ms);
		return;
	}
	w->lead = LEAD_WAIT_RECEIVE;
	ereport(LOG, (errmsg("dcf: log committed up to index " UINT64_FORMAT "; waiting for the standby to receive it",
						 w->commit_index)));
}

/* 2. WAIT_RECEIVE: the standby must hold every committed byte first. */
static void
lead_wait_receive(DcfWorker *w, uint64_t now_ms)
{
	const dcf_walmap_tl *tl = dcf_walmap_latest(w->walmap);
	TimeLineID	rtli = 0,
				ptli = 0;
	XLogRecPtr	rcv = GetWalRcvFlushRecPtr(NULL, &rtli);
	XLogRecPtr	rep = GetXLogReplayRecPtr(&ptli);
	bool		have_all;
	FILE	   *f;

	if (!RecoveryInProgress())
		fence_and_stop(w, "the server is a primary that was not promoted by this leader");
	if (tl == NULL)
		have_all = true;		/* nothing in the log */
	else if (ptli > tl->tli)
		fence_and_stop(w, "the server is on a timeline the cluster does not know");
	else
	{
		uint64_t	have = 0;

		if (rtli == tl->tli)
			have = Max(have, rcv);
		if (ptli == tl->tli)
			have = Max(have, rep);
		if (ptli == tl->tli && rep > tl->committed_end)
			fence_and_stop(w, psprintf("the server replayed WAL up to %X/%X, beyond the cluster's %X/%X",
									   LSN_FORMAT_ARGS(rep), LSN_FORMAT_ARGS(tl->committed_end)));
		have_all = have >= tl->committed_end;
	}
	if (!have_all)
		return;

	f = AllocateFile(PROMOTE_SIGNAL_FILE, "w");
	if (f == NULL || FreeFile(f) != 0)
		ereport(PANIC, (errcode_for_file_access(),
						errmsg("could not create \"%s\": %m", PROMOTE_SIGNAL_FILE)));
	if (kill(PostmasterPid, SIGUSR1) != 0)
		ereport(PANIC, (errmsg("could not signal the postmaster to promote: %m")));
	w->promoted = true;
	w->lead = LEAD_PROMOTE;
	w->lead_since_ms = now_ms;
	ereport(LOG, (errmsg("dcf: standby has the whole log; promoting")));
}

/* 3. PROMOTE: wait for the end of recovery. */
static void
lead_promote(DcfWorker *w, uint64_t now_ms)
{
	FILE	   *f;

	if (RecoveryInProgress())
	{
		if (now_ms - w->lead_since_ms > WORKER_PROMOTE_TIMEOUT_MS)
			fence_and_stop(w, "promotion did not finish in time");
		return;
	}
	w->lead_tli = GetWALInsertionTimeLine();
	w->lead = LEAD_SWITCH;

	/*
	 * Promotion removed standby.signal.  Put it back at once: it does
	 * nothing to the running primary, but any restart of this server, a
	 * crash restart included, must come up as a standby and rejoin, never
	 * as a primary nobody elected.
	 */
	f = AllocateFile(STANDBY_SIGNAL_FILE, "w");
	if (f == NULL || FreeFile(f) != 0)
		ereport(PANIC, (errcode_for_file_access(),
						errmsg("could not create \"%s\": %m", STANDBY_SIGNAL_FILE)));
}

/* 4. SWITCH: the timeline switch entry precedes any WAL of the new timeline. */
static void
lead_switch(DcfWorker *w, uint64_t now_ms)
{
	char		err[DCF_ERRMSG_MAX];
	dcf_tlswitch s;
	dcf_proposal p;
	uint8_t    *buf;
	char	   *hist = NULL;
	uint32_t	hlen = 0;
	uint64_t	sw = 0;
	dcf_rc		rc;

	if (!lead_read_history_file(w->lead_tli, &hist, &hlen, &sw))
		fence_and_stop(w, psprintf("cannot read the history file of new timeline %u", w->lead_tli));
	s.tli = w->lead_tli;
	s.switch_lsn = sw;
	s.leader_id = (uint32_t) dcf_node_id;
	s.pg_port = (uint32_t) PostPortNumber;
	s.history = hist;
	s.history_len = hlen;
	buf = palloc(DCF_TLSWITCH_HEADER_BYTES + hlen);
	p.type = DCF_ENTRY_TLSWITCH;
	p.payload = buf;
	p.len = (uint32_t) dcf_tlswitch_encode(&s, buf, DCF_TLSWITCH_HEADER_BYTES + hlen);
	p.key = dcf_walentry_key(dcf_host_last_key(w->host), sw);
	rc = dcf_host_propose(w->host, &p, 1, now_ms, NULL, err);
	pfree(buf);
	pfree(hist);
	if (rc != DCF_OK)
		fence_and_stop(w, psprintf("cannot append the timeline switch: %s", err));
	w->lead_switch_lsn = sw;
	w->lead = LEAD_PUMP;
	ereport(LOG, (errmsg("dcf: promoted to timeline %u at %X/%X; pumping WAL",
						 w->lead_tli, LSN_FORMAT_ARGS(sw))));
}

/* 5. PUMP: keep a pump running (dcf_propose.c). */
static void
lead_pump(DcfWorker *w, uint64_t now_ms)
{
	if (w->pump == NULL && now_ms >= w->pump_retry_at_ms)
		propose_start_pump(w, now_ms);
}

/* One step of the leader's start-up sequence, from the current state. */
void
lead_step(DcfWorker *w, uint64_t now_ms)
{
	switch (w->lead)
	{
		case LEAD_NONE:
			break;
		case LEAD_WAIT_COMMIT:
			lead_wait_commit(w, now_ms);
			break;
		case LEAD_WAIT_RECEIVE:
			lead_wait_receive(w, now_ms);
			break;
		case LEAD_PROMOTE:
			lead_promote(w, now_ms);
			break;
		case LEAD_SWITCH:
			lead_switch(w, now_ms);
			break;
		case LEAD_PUMP:
			lead_pump(w, now_ms);
			break;
	}
}

/*
 * Leadership lost.  A leader that hears of another leader is fenced at
 * once: that leader is (or will be) writable.  A leader that only lost
 * contact with its majority (check-quorum) cannot know whether another was
 * elected, so it acknowledges nothing more and refuses logins at once, but
 * keeps its server up for WORKER_SUSPEND_TIMEOUTS election timeouts: if it
 * is elected again (it has the longest log, so it usually is once a
 * majority is back) it simply resumes pumping and commits in flight
 * complete; otherwise it is fenced.
 */
void
lead_suspend(DcfWorker *w, uint64_t now_ms)
{
	if (w->leader_id != 0 && w->leader_id != (uint32_t) dcf_node_id)
		fence_and_stop(w, psprintf("node %u leads in term " UINT64_FORMAT, w->leader_id, w->term));
	if (w->suspended)
		return;
	propose_stop_pump(w);
	w->suspended = true;
	w->suspended_since_ms = now_ms;
	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	dcf_shared->suspended = true;
	LWLockRelease(dcf_shared->lock);
	ereport(LOG,
			(errmsg("dcf: node %d lost contact with the majority in term " UINT64_FORMAT "; acknowledging nothing",
					dcf_node_id, w->term),
			 errdetail("The server stays up for %d election timeouts in case this node is elected again; then it is fenced.",
					   WORKER_SUSPEND_TIMEOUTS)));
}

/* React to a role change reported during this turn. */
void
lead_handle_role_change(DcfWorker *w, uint64_t now_ms)
{
	if (w->role == DCF_ROLE_LEADER && w->lead == LEAD_NONE)
	{
		dcf_status	st;

		dcf_host_status(w->host, &st);
		w->lead = LEAD_WAIT_COMMIT;
		w->lead_target_index = st.last_index;
		w->lead_since_ms = now_ms;
	}
	else if (w->role != DCF_ROLE_LEADER && w->lead != LEAD_NONE)
	{
		if (w->promoted)
			lead_suspend(w, now_ms);
		else
			ereport(LOG, (errmsg("dcf: lost leadership before promotion (%s)", lead_state_names[w->lead])));
		w->lead = LEAD_NONE;
	}
	else if (w->suspended && w->leader_id != 0 && w->leader_id != (uint32_t) dcf_node_id)
		lead_suspend(w, now_ms);
}

/*
 * Elected again while suspended: the server is still the primary of the
 * newest timeline and its WAL continues the log, so pumping resumes where
 * the log ends; no promotion, no new timeline.
 */
static bool
lead_resume(DcfWorker *w, uint64_t now_ms)
{
	const dcf_walmap_tl *tl = dcf_walmap_latest_appended(w->walmap);

	if (tl == NULL || tl->tli != w->lead_tli || RecoveryInProgress())
	{
		fence_and_stop(w, "it was elected again, but the log moved to another timeline meanwhile");
		return false;
	}
	w->suspended = false;
	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	dcf_shared->suspended = false;
	LWLockRelease(dcf_shared->lock);
	w->lead = LEAD_PUMP;
	ereport(LOG, (errmsg("dcf: node %d leads again in term " UINT64_FORMAT "; resuming on timeline %u",
						 dcf_node_id, w->term, w->lead_tli)));
	return true;
}

/*
 * The worker restarted (it alone exited) while the server is the primary
 * this node promoted: adopt it as a leader that lost its majority.  If it
 * is elected again it resumes pumping on the same timeline; otherwise it
 * is fenced (see lead_suspend).
 */
void
lead_adopt_primary(DcfWorker *w, uint64_t now_ms)
{
	const dcf_walmap_tl *tl = dcf_walmap_latest_appended(w->walmap);
	TimeLineID	cur = GetWALInsertionTimeLine();

	if (tl == NULL || tl->tli != cur)
		fence_and_stop(w, psprintf("the server is a primary on timeline %u, which the consensus log does not lead to", cur));
	w->promoted = true;
	w->lead_tli = cur;
	w->suspended = true;
	w->suspended_since_ms = now_ms;
	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	dcf_shared->suspended = true;
	LWLockRelease(dcf_shared->lock);
	ereport(LOG, (errmsg("dcf: worker restarted on the primary of timeline %u; waiting to be elected again", cur)));
}
