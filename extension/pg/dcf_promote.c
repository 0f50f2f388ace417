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
 *      WAL byte (the feeder serves it) and replayed every whole record of
 *      it (lead_replayed_all).  The new timeline begins where replay ends;
 *      a standby stuck below committed WAL would start it below commits
 *      that were acknowledged.  If our server has WAL beyond the log (it led
 *      before and wrote WAL that was never committed) it must not lead: it
 *      is a diverged node, which hands the leadership over, keeps voting
 *      and stops for its rewind once a new leader leads (dcf_walsource.c).
 *   3. RESERVE: append a DCF_ENTRY_TLRESERVE naming the timeline we will
 *      promote to, above every timeline the log names, and wait until it is
 *      committed.  A leader that promotes and dies before its switch entry
 *      commits leaves its reservation behind, so the next leader picks
 *      another ID: no timeline ID is ever used by two leaders, and a node
 *      that promoted to an abandoned one is known to have diverged.
 *      PostgreSQL picks the first timeline after its recovery target with
 *      no history file, so placeholder history files for the skipped IDs
 *      make it pick exactly the reserved one.
 *   4. PROMOTE: create "promote" and signal the postmaster; wait until
 *      recovery has ended (failing only when replay stops moving for
 *      WORKER_PROMOTE_STALL_MS, not on a long backlog).
 *   5. SWITCH: append a DCF_ENTRY_TLSWITCH entry (the new timeline, its
 *      switch point, its history file, our PostgreSQL port) before any WAL
 *      of the new timeline, so followers' feeders end the old timeline
 *      exactly where ours did.
 *   6. PUMP: stream our own WAL from the switch point into the log and
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
#include "utils/backend_status.h"

#include "core/dcf_codec.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_walentry.h"
#include "pg/dcf_worker_int.h"
#include "pg/walfile.h"
#include "pg/dcf_inject.h"
#include "access/xlog_internal.h"
#include "access/xlogrecord.h"
#include "storage/fd.h"
#include <sys/stat.h>
#include <dirent.h>

static const char *const lead_state_names[] = {
	"none", "waiting for the no-op to commit", "waiting for the standby to replay the log",
	"reserving the new timeline", "promoting", "appending the timeline switch", "pumping WAL"
};

static bool lead_resume(DcfWorker *w, uint64_t now_ms);

/* The history file PostgreSQL wrote for our new timeline tli, and where tli begins. */
static bool
lead_read_history_file(DcfWorker *w, uint32_t tli, char **content, uint32_t *len, uint64_t *switch_lsn)
{
	char		err[DCF_ERRMSG_MAX];
	char	   *buf = palloc(DCF_TLSWITCH_HISTORY_MAX_BYTES);
	size_t		n = 0;
	dcf_walfile_history h;
	const dcf_walfile_span *sp;

	if (walsrc_history_file(tli, buf, DCF_TLSWITCH_HISTORY_MAX_BYTES, &n, err) != DCF_OK ||
		dcf_walfile_history_parse(tli, buf, n, &h, err) != DCF_OK)
	{
		ereport(WARNING, (errmsg("dcf: cannot read the history of timeline %u: %s", tli, err)));
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

/*
 * Has the standby replayed every whole record of tl's committed WAL?  Replay
 * (ending at rep on timeline ptli) stops at the end of the last whole record
 * it has; below the committed end there may be left only the beginning of
 * one record the log does not hold whole (the pump's chunks end anywhere).
 * So read the length of the record at rep from the log: if that record ends
 * within committed WAL, replay is stuck below it, and promoting would start
 * the new timeline below commits that were acknowledged.
 */
static bool
lead_replayed_all(DcfWorker *w, const dcf_walmap_tl *tl, XLogRecPtr rep, TimeLineID ptli)
{
	uint64_t	end = tl->committed_end;
	uint64_t	pos;
	uint8_t		len_bytes[4];
	size_t		have = 0;
	uint32_t	remaining;
	char		err[DCF_ERRMSG_MAX];

	if (ptli < tl->tli)
		return end == tl->begin_lsn && rep >= tl->begin_lsn;	/* nothing of tl yet */
	if (rep >= end)
		return true;
	pos = TYPEALIGN(MAXIMUM_ALIGNOF, rep);
	if (pos % XLOG_BLCKSZ == 0)
		pos += (pos % wal_segment_size == 0) ? SizeOfXLogLongPHD : SizeOfXLogShortPHD;
	if (pos + sizeof(len_bytes) > end)
		return true;			/* not even the next record's length is committed */
	while (have < sizeof(len_bytes))
	{
		size_t		got = 0;

		if (dcf_walreader_read(&w->rd, w->commit_index, tl->tli, pos + have,
							   (char *) len_bytes + have, sizeof(len_bytes) - have, &got, err) != DCF_OK ||
			got == 0)
			return false;		/* cannot tell yet */
		have += got;
	}
	remaining = (uint32_t) len_bytes[0] | (uint32_t) len_bytes[1] << 8 |
		(uint32_t) len_bytes[2] << 16 | (uint32_t) len_bytes[3] << 24;
	if (remaining < SizeOfXLogRecord)
		return false;			/* not a record: replay is stuck on bad bytes */
	for (;;)
	{
		uint64_t	page_end = pos - pos % XLOG_BLCKSZ + XLOG_BLCKSZ;
		uint64_t	take = Min((uint64_t) remaining, page_end - pos);

		pos += take;
		remaining -= (uint32_t) take;
		if (remaining == 0)
			break;
		pos = page_end + ((page_end % wal_segment_size == 0) ? SizeOfXLogLongPHD : SizeOfXLogShortPHD);
	}
	return pos > end;
}

/* Note replay progress; false once it has not moved for stall_ms. */
static bool
lead_progressing(DcfWorker *w, uint64_t now_ms, uint64_t stall_ms)
{
	TimeLineID	ptli = 0;
	XLogRecPtr	rep = GetXLogReplayRecPtr(&ptli);

	if (rep != w->lead_progress_lsn || w->lead_progress_ms == 0)
	{
		w->lead_progress_lsn = rep;
		w->lead_progress_ms = now_ms;
	}
	return now_ms - w->lead_progress_ms <= stall_ms;
}

/*
 * The newest timeline tl holds no WAL yet (its leader's switch entry
 * committed, then the leader died before any WAL of it reached the log), and
 * the standby replayed its parent up to the switch point: does its segment
 * file of tl hold every byte below the switch point?
 *
 * The walreceiver streams tl from the start of the switch point's segment
 * and writes the ancestor bytes into tl's file, but it publishes a flush
 * position only past the replay position it started from, and nothing of tl
 * lies past the switch point: so GetWalRcvFlushRecPtr stays at the segment
 * start.  Promotion must not run before the file is whole: at the end of
 * recovery PostgreSQL re-reads the last record from the newest timeline's
 * file of that segment, and a file written only in part is a PANIC.  So
 * compare the file's last page below the switch point with the parent's
 * bytes: the walreceiver writes in order, and the feeder serves nothing of tl
 * past the switch point, so once that page matches the file is complete and
 * stays so.
 */
static bool
lead_empty_timeline_ready(DcfWorker *w, const dcf_walmap_tl *tl, TimeLineID ptli)
{
	uint64_t	sw = tl->begin_lsn;
	uint64_t	page;
	size_t		n;
	char		name[MAXFNAMELEN];
	char		path[MAXPGPATH];
	char	   *mine;
	char	   *parent;
	size_t		got = 0;
	char		err[DCF_ERRMSG_MAX];
	int			fd;
	bool		same = false;
	XLogSegNo	segno;

	if (sw % wal_segment_size == 0)
		return true;			/* tl's first segment begins at the switch point */
	page = (sw - 1) - (sw - 1) % XLOG_BLCKSZ;
	n = (size_t) (sw - page);
	XLByteToSeg(sw - 1, segno, wal_segment_size);
	XLogFileName(name, tl->tli, segno, wal_segment_size);
	snprintf(path, sizeof(path), XLOGDIR "/%s", name);
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return false;			/* not created yet */
	mine = palloc(n);
	parent = palloc(n);
	if (pg_pread(fd, mine, n, (off_t) (page % wal_segment_size)) == (ssize_t) n &&
		walsrc_read_pg_wal(w, ptli, page, parent, n, &got, err) == DCF_OK && got == n)
		same = memcmp(mine, parent, n) == 0;
	CloseTransientFile(fd);
	pfree(mine);
	pfree(parent);
	return same;
}

/* 2. WAIT_RECEIVE: the standby must hold and replay every committed byte first. */
static void
lead_wait_receive(DcfWorker *w, uint64_t now_ms)
{
	const dcf_walmap_tl *tl = dcf_walmap_latest(w->walmap);
	TimeLineID	rtli = 0,
				ptli = 0;
	XLogRecPtr	rcv = GetWalRcvFlushRecPtr(NULL, &rtli);
	XLogRecPtr	rep = GetXLogReplayRecPtr(&ptli);
	bool		have_all;

	if (!RecoveryInProgress())
		fence_and_stop(w, "the server is a primary that was not promoted by this leader");
	if (tl == NULL)
		have_all = true;		/* nothing in the log */
	else if (ptli > tl->tli)
	{
		/* a timeline it promoted to and the cluster never switched to */
		if (!w->diverged)
			walsrc_diverged(w, psprintf("this server is on timeline %u, which the cluster never switched to", ptli));
		return;
	}
	else
	{
		uint64_t	have = 0;

		if (rtli == tl->tli)
			have = Max(have, rcv);
		if (ptli == tl->tli)
			have = Max(have, rep);
		if (have < tl->committed_end && tl->committed_end == tl->begin_lsn && rtli == tl->tli &&
			ptli < tl->tli && rep >= tl->begin_lsn && lead_empty_timeline_ready(w, tl, ptli))
		{
			have = tl->committed_end;
			ereport(LOG, (errmsg("dcf: timeline %u holds no WAL yet; the standby has its segment up to the switch point %X/%X",
								 tl->tli, LSN_FORMAT_ARGS(tl->begin_lsn))));
		}
		if (ptli == tl->tli && rep > tl->committed_end)
		{
			/*
			 * WAL it wrote as an earlier leader that never reached the log:
			 * it must not lead, but its log is sound and its vote may be
			 * needed, so it hands the leadership over and waits for its
			 * rewind like any diverged node (dcf_walsource.c).
			 */
			if (!w->diverged)
				walsrc_diverged(w, psprintf("this server replayed WAL up to %X/%X, beyond the cluster's %X/%X",
											LSN_FORMAT_ARGS(rep), LSN_FORMAT_ARGS(tl->committed_end)));
			return;
		}
		have_all = have >= tl->committed_end && lead_replayed_all(w, tl, rep, ptli);
	}
	if (!have_all)
	{
		if (!lead_progressing(w, now_ms, WORKER_PROMOTE_STALL_MS) && !w->lead_stall_logged)
		{
			w->lead_stall_logged = true;
			ereport(WARNING,
					(errmsg("dcf: the standby of leader %d has not replayed the committed log for %d s",
							dcf_node_id, WORKER_PROMOTE_STALL_MS / 1000),
					 errdetail("Replay is at %X/%X on timeline %u; the log is committed up to %X/%X on timeline %u.",
							   LSN_FORMAT_ARGS(rep), ptli,
							   LSN_FORMAT_ARGS(tl ? tl->committed_end : 0), tl ? tl->tli : 0)));
		}
		return;
	}
	w->lead = LEAD_RESERVE;
	w->lead_reserve_index = 0;
	ereport(LOG, (errmsg("dcf: standby replayed the whole log; reserving the new timeline")));
}

/* The highest timeline ID of a history file in pg_wal (1 if none). */
static uint32_t
lead_local_max_tli(void)
{
	DIR		   *dir = AllocateDir(XLOGDIR);
	struct dirent *de;
	uint32_t	max = 1;

	while ((de = ReadDir(dir, XLOGDIR)) != NULL)
	{
		unsigned int tli;
		char		tail;

		if (strlen(de->d_name) == 16 && sscanf(de->d_name, "%08X.histor%c", &tli, &tail) == 2 &&
			tail == 'y' && tli > max)
			max = tli;
	}
	FreeDir(dir);
	return max;
}

/*
 * History files for every missing timeline ID below the reserved one, so
 * that PostgreSQL's promotion (the first ID after its recovery target with
 * no history file) picks the reserved ID: the log's copy for a timeline the
 * cluster used, else a placeholder no standby ever switches to
 * (walsrc_placeholder_history).
 */
static void
lead_write_placeholders(DcfWorker *w, uint32_t reserved)
{
	char	   *content = palloc(DCF_TLSWITCH_HISTORY_MAX_BYTES);

	for (uint32_t k = 2; k < reserved; k++)
	{
		char		name[DCF_WALFILE_NAME_BYTES];
		char		path[MAXPGPATH];
		char		tmp[MAXPGPATH];
		char		err[DCF_ERRMSG_MAX];
		struct stat st;
		size_t		len = 0;
		FILE	   *f;

		dcf_walfile_history_name(name, k);
		snprintf(path, sizeof(path), XLOGDIR "/%s", name);
		if (stat(path, &st) == 0)
			continue;
		/* the log's copy of a real timeline, else a placeholder */
		if (walsrc_history(w, k, content, DCF_TLSWITCH_HISTORY_MAX_BYTES, &len, err) != DCF_OK &&
			walsrc_placeholder_history(k, content, DCF_TLSWITCH_HISTORY_MAX_BYTES, &len, err) != DCF_OK)
			ereport(ERROR, (errmsg("dcf: %s", err)));
		snprintf(tmp, sizeof(tmp), "%s.dcftmp", path);
		f = AllocateFile(tmp, PG_BINARY_W);
		if (f == NULL)
			ereport(ERROR, (errcode_for_file_access(), errmsg("could not create \"%s\": %m", tmp)));
		if (fwrite(content, 1, len, f) != len || fflush(f) != 0 || pg_fsync(fileno(f)) != 0 || FreeFile(f) != 0)
			ereport(ERROR, (errcode_for_file_access(), errmsg("could not write \"%s\": %m", tmp)));
		durable_rename(tmp, path, ERROR);
		ereport(LOG, (errmsg("dcf: wrote the history file of timeline %u before promoting", k)));
	}
	pfree(content);
}

/* 3. RESERVE: the new timeline ID becomes a fact of the log before promotion. */
static void
lead_reserve(DcfWorker *w, uint64_t now_ms)
{
	const dcf_walmap_tl *tl = dcf_walmap_latest(w->walmap);
	char		err[DCF_ERRMSG_MAX];
	FILE	   *f;

	if (w->lead_reserve_index == 0)
	{
		dcf_tlreserve r;
		dcf_proposal p;
		uint8_t		buf[DCF_TLRESERVE_BYTES];
		uint64_t	index = 0;
		uint32_t	above = Max(dcf_walmap_max_tli(w->walmap), lead_local_max_tli());

		if (tl)
			above = Max(above, tl->tli);
		r.tli = above + 1;
		r.leader_id = (uint32_t) dcf_node_id;
		p.type = DCF_ENTRY_TLRESERVE;
		p.payload = buf;
		p.len = (uint32_t) dcf_tlreserve_encode(&r, buf, sizeof(buf));
		p.key = dcf_host_last_key(w->host);
		if (dcf_host_propose(w->host, &p, 1, now_ms, &index, err) != DCF_OK)
		{
			ereport(LOG, (errmsg("dcf: cannot reserve timeline %u: %s", r.tli, err)));
			return;				/* leadership is going; the role change follows */
		}
		w->lead_reserve_tli = r.tli;
		w->lead_reserve_index = index;
		ereport(LOG, (errmsg("dcf: reserving timeline %u at log index " UINT64_FORMAT, r.tli, index)));
		return;
	}
	if (w->commit_index < w->lead_reserve_index)
		return;

	dcf_inject(DCF_INJECT_RESERVE_BEFORE_PROMOTE);
	lead_write_placeholders(w, w->lead_reserve_tli);
	f = AllocateFile(PROMOTE_SIGNAL_FILE, "w");
	if (f == NULL || FreeFile(f) != 0)
		ereport(PANIC, (errcode_for_file_access(),
						errmsg("could not create \"%s\": %m", PROMOTE_SIGNAL_FILE)));
	if (kill(PostmasterPid, SIGUSR1) != 0)
		ereport(PANIC, (errmsg("could not signal the postmaster to promote: %m")));
	w->promoted = true;
	w->lead = LEAD_PROMOTE;
	w->lead_since_ms = now_ms;
	w->lead_progress_ms = 0;
	ereport(LOG, (errmsg("dcf: timeline %u reserved; promoting", w->lead_reserve_tli)));
}

/* 4. PROMOTE: wait for the end of recovery. */
static void
lead_promote(DcfWorker *w, uint64_t now_ms)
{
	FILE	   *f;

	if (RecoveryInProgress())
	{
		if (!lead_progressing(w, now_ms, WORKER_PROMOTE_STALL_MS))
			fence_and_stop(w, psprintf("promotion made no progress for %d s", WORKER_PROMOTE_STALL_MS / 1000));
		return;
	}
	w->lead_tli = GetWALInsertionTimeLine();

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
	if (w->lead_tli != w->lead_reserve_tli)
		fence_and_stop(w, psprintf("the server promoted to timeline %u, not to the reserved timeline %u",
								   w->lead_tli, w->lead_reserve_tli));
	w->lead = LEAD_SWITCH;
	dcf_inject(DCF_INJECT_PROMOTE_BEFORE_SWITCH);
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

	if (!lead_read_history_file(w, w->lead_tli, &hist, &hlen, &sw))
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
	rc = dcf_host_propose(w->host, &p, 1, now_ms, &w->lead_switch_index, err);
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
	if (w->pump == NULL && dcf_inject_armed(DCF_INJECT_SWITCH_BEFORE_PUMP))
	{
		/* for tests: the switch entry commits before any WAL of the timeline */
		if (w->commit_index < w->lead_switch_index)
			return;
		dcf_inject(DCF_INJECT_SWITCH_BEFORE_PUMP);
	}
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
		case LEAD_RESERVE:
			lead_reserve(w, now_ms);
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
	if (handover_claims(w, now_ms))
		return;					/* the switchover's target leads: restart as its standby */
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
	if (handover_stepped_down(w))
		return;					/* logged there: a switchover, not a lost majority */
	ereport(LOG,
			(errmsg("dcf: node %d lost contact with the majority in term " UINT64_FORMAT "; acknowledging nothing",
					dcf_node_id, w->term),
			 errdetail("The server stays up for %d election timeouts in case this node is elected again; then it is fenced.",
					   WORKER_SUSPEND_TIMEOUTS)));
}

/*
 * A suspended leader is fenced after WORKER_SUSPEND_TIMEOUTS election
 * timeouts, unless it serves a rewind: a dcf_ctl session (pg_rewind connects
 * with dcf_ctl's application name) is connected.  Followers that diverged
 * stop for their rewinds from the new leader, possibly all at once, which
 * leaves it without a majority; fencing it then would fail every rewind
 * still copying from it, and the cluster would have no node up.  It hears of
 * no other leader (it would be fenced at once: lead_suspend), acknowledges
 * nothing and refuses other logins, so staying up is safe; the rewound
 * followers then elect it again.  At most WORKER_SUSPEND_SERVE_MS.
 */
bool
lead_serving_rewind(DcfWorker *w, uint64_t now_ms)
{
	static uint64_t logged_since = 0;
	bool		serving = false;
	int			n;

	if (now_ms - w->suspended_since_ms > (uint64_t) WORKER_SUSPEND_SERVE_MS)
		return false;
	pgstat_clear_backend_activity_snapshot();
	n = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= n && !serving; i++)
	{
		LocalPgBackendStatus *l = pgstat_fetch_stat_local_beentry(i);

		if (l && l->backendStatus.st_procpid != 0 && l->backendStatus.st_backendType == B_BACKEND &&
			strcmp(l->backendStatus.st_appname, "dcf_ctl") == 0)
			serving = true;
	}
	pgstat_clear_backend_activity_snapshot();
	if (serving && logged_since != w->suspended_since_ms)
	{
		logged_since = w->suspended_since_ms;
		ereport(LOG,
				(errmsg("dcf: node %d is not fenced yet: it is serving a dcf_ctl session (a rewind reading from it)",
						dcf_node_id),
				 errdetail("It stays up, acknowledging nothing, while the session lasts, for at most %d s.",
						   WORKER_SUSPEND_SERVE_MS / 1000)));
	}
	return serving;
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
