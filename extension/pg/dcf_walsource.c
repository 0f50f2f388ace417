/*-------------------------------------------------------------------------
 *
 * dcf_walsource.c
 *		The follower's WAL source: what the feeder (feeder.c) serves to the
 *		local standby's walreceiver.
 *
 * The feeder's read path: src_read serves committed WAL of a timeline from
 * the consensus log (walreader.c, a cursor over WAL entries), and below
 * the log's coverage the bytes the standby already has in its own pg_wal
 * (read_from_pg_wal).  src_position says how far it may serve: the
 * committed end of the newest timeline, and on a follower only what was
 * released to the standby (walsrc_batching: at most every
 * WORKER_FEEDER_BATCH_MS).
 *
 * Invariant: nothing past the consensus commit index ever reaches the
 * standby, so a follower's pg_wal never diverges from the cluster's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "access/xlogdefs.h"
#include "access/xlog_internal.h"
#include "replication/walreceiver.h"
#include "storage/fd.h"

#include "core/dcf_codec.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_walentry.h"
#include "pg/dcf_observe.h"
#include "pg/dcf_worker_int.h"
#include "pg/walfile.h"
#include "pg/walreader.h"

/* Local WAL the standby already has on timeline tli, from its own pg_wal. */
static uint64_t
local_wal_end(DcfWorker *w, uint32_t tli)
{
	TimeLineID	rtli = 0,
				ptli = 0;
	XLogRecPtr	rcv = GetWalRcvFlushRecPtr(NULL, &rtli);
	XLogRecPtr	rep = GetXLogReplayRecPtr(&ptli);
	uint64_t	end = 0;
	const dcf_walmap_tl *tl;

	if (rtli == tli || (rtli > tli && rtli != 0))
		end = Max(end, rcv);
	if (ptli == tli || ptli > tli)
		end = Max(end, rep);
	/* bytes of an ended timeline stop at its switch point */
	tl = dcf_walmap_next(w->walmap, tli);
	if (tl && end > tl->begin_lsn)
		end = tl->begin_lsn;
	return end;
}

/* Read a whole log entry at index into the reader's buffer. */
dcf_rc
walsrc_read_entry(DcfWorker *w, uint64_t index, dcf_log_entry *e, char *errmsg)
{
	return dcf_walreader_entry(&w->rd, index, e, errmsg);
}

/*
 * A history file for a timeline ID that no server may follow: it forked
 * from timeline 1 at 0/0.  A standby that finds it never switches to it
 * (PostgreSQL refuses a timeline that forked before the current recovery
 * point, or whose history does not hold the current timeline), but
 * promotion skips its ID.
 */
dcf_rc
walsrc_placeholder_history(uint32_t tli, char *buf, size_t cap, size_t *len, char *errmsg)
{
	int			n = snprintf(buf, cap, "1\t0/0\tdcf: timeline %u was reserved by a leader and never used\n", tli);

	if (n < 0 || (size_t) n >= cap)
		return dcf_errf(errmsg, DCF_ERR_FULL, "placeholder history of timeline %u is larger than %zu bytes", tli, cap);
	*len = (size_t) n;
	return DCF_OK;
}

/*
 * The content of <tli>.history, for the feeder and for the leader: the
 * log's copy when the log switched to tli; for a timeline the log only
 * reserved (a leader promoted to it and lost its leadership, or is about to
 * promote to it), a placeholder, so that no standby ever follows it (a
 * walreceiver fetches the history of every timeline ID up to the newest);
 * otherwise the file in pg_wal.  Never truncated: a history larger than cap is an error.
 */
dcf_rc
walsrc_history(DcfWorker *w, uint32_t tli, char *buf, size_t cap, size_t *len, char *errmsg)
{
	const dcf_walmap_tl *tl = dcf_walmap_find(w->walmap, tli);

	*len = 0;
	if (tl && tl->history)
	{
		if (tl->history_len > cap)
			return dcf_errf(errmsg, DCF_ERR_FULL, "history of timeline %u is larger than %zu bytes", tli, cap);
		memcpy(buf, tl->history, tl->history_len);
		*len = tl->history_len;
		return DCF_OK;
	}
	if (tl == NULL && dcf_walmap_reserved(w->walmap, tli, NULL))
		return walsrc_placeholder_history(tli, buf, cap, len, errmsg);
	if (tli == 1)
		return DCF_OK;			/* timeline 1 has no history */
	return walsrc_history_file(tli, buf, cap, len, errmsg);
}

/* <tli>.history from pg_wal; never truncated: larger than cap is an error. */
dcf_rc
walsrc_history_file(uint32_t tli, char *buf, size_t cap, size_t *len, char *errmsg)
{
	char		name[DCF_WALFILE_NAME_BYTES];
	char		path[MAXPGPATH];
	FILE	   *f;
	size_t		n;

	*len = 0;
	dcf_walfile_history_name(name, tli);
	snprintf(path, sizeof(path), XLOGDIR "/%s", name);
	f = AllocateFile(path, PG_BINARY_R);
	if (f == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "timeline %u is not in this node's history", tli);
	n = fread(buf, 1, cap, f);
	if (n == cap && fgetc(f) != EOF)
	{
		FreeFile(f);
		return dcf_errf(errmsg, DCF_ERR_FULL, "\"%s\" is larger than %zu bytes", path, cap);
	}
	FreeFile(f);
	*len = n;
	return DCF_OK;
}

static dcf_rc
history_of(DcfWorker *w, uint32_t tli, dcf_walfile_history *h, char *errmsg)
{
	char		content[DCF_FEEDER_HISTORY_MAX_BYTES];
	size_t		clen = 0;
	dcf_rc		rc;

	rc = walsrc_history(w, tli, content, sizeof(content), &clen, errmsg);
	if (rc != DCF_OK)
		return rc;
	return dcf_walfile_history_parse(tli, content, clen, h, errmsg);
}

/*
 * WAL of timeline tli at lsn from pg_wal: the files of tli's own history.
 * When none is there and the standby has replayed a later timeline that
 * descends from tli, the copy that timeline's segment began with: a
 * rewound node has no file of a timeline it never wrote itself.  Only the
 * replayed timeline's file is sure to hold those bytes: the file of a
 * timeline the standby is still receiving is being written right now.
 */
static dcf_rc
read_from_pg_wal(DcfWorker *w, uint32_t tli, uint64_t lsn, char *buf, size_t n, size_t *got, char *errmsg)
{
	dcf_walfile_history h;
	TimeLineID	ptli = 0;
	dcf_rc		rc;

	rc = history_of(w, tli, &h, errmsg);
	if (rc != DCF_OK)
		return rc;
	rc = dcf_walfile_read("pg_wal", (uint32_t) wal_segment_size, &h, lsn, buf, n, got, errmsg);
	(void) GetXLogReplayRecPtr(&ptli);
	if (rc == DCF_ERR_NOTFOUND && ptli > tli)
	{
		char		err2[DCF_ERRMSG_MAX];

		if (history_of(w, ptli, &h, err2) == DCF_OK)
		{
			const dcf_walfile_span *owner = dcf_walfile_history_owner(&h, lsn);

			if (owner && owner->tli == tli &&
				dcf_walfile_read("pg_wal", (uint32_t) wal_segment_size, &h, lsn, buf, n, got, err2) == DCF_OK)
				return DCF_OK;
		}
	}
	return rc;
}

/*
 * A follower's standby is not on the commit path (the consensus log is), so
 * committed WAL is released to it in batches, at most every
 * WORKER_FEEDER_BATCH_MS: its walreceiver fsyncs pg_wal once per burst it
 * receives, and one burst every few milliseconds instead of one per commit
 * saves most of those fsyncs on a busy cluster.  A leader's standby (it
 * must catch up before promotion) and a node that knows no leader get every
 * commit at once; so does a new timeline.
 */
bool
walsrc_batching(DcfWorker *w)
{
	return w->role != DCF_ROLE_LEADER && w->leader_id != 0;
}

void
walsrc_release(DcfWorker *w)
{
	const dcf_walmap_tl *tl = dcf_walmap_latest(w->walmap);

	w->feeder_due_ms = 0;
	if (tl)
	{
		w->feeder_tli = tl->tli;
		w->feeder_end = tl->committed_end;
	}
	if (w->feeder)
		dcf_feeder_wal_available(w->feeder);
}

static dcf_rc
src_position(void *ctx, uint32_t *tli, uint64_t *xlogpos, char *errmsg)
{
	DcfWorker  *w = (DcfWorker *) ctx;
	const dcf_walmap_tl *tl = dcf_walmap_latest(w->walmap);

	if (tl == NULL)
	{
		/* the log has no WAL yet: what the standby has is all there is */
		TimeLineID	ptli = 0;
		XLogRecPtr	rep = GetXLogReplayRecPtr(&ptli);

		*tli = ptli ? ptli : 1;
		*xlogpos = Max(rep, local_wal_end(w, *tli));
		return DCF_OK;
	}
	/* on the newest timeline the standby never has more than was committed */
	*tli = tl->tli;
	*xlogpos = tl->committed_end;
	/* ... and on a follower, only what advance_commit released to it */
	if (walsrc_batching(w) && w->feeder_tli == tl->tli)
		*xlogpos = Min(*xlogpos, w->feeder_end);
	return DCF_OK;
}

static dcf_rc
src_history(void *ctx, uint32_t tli, char *buf, size_t cap, size_t *len, char *errmsg)
{
	return walsrc_history((DcfWorker *) ctx, tli, buf, cap, len, errmsg);
}

static dcf_rc
src_read(void *ctx, uint32_t tli, uint64_t lsn, char *buf, size_t n, size_t *got, char *errmsg)
{
	DcfWorker  *w = (DcfWorker *) ctx;
	const dcf_walmap_tl *tl = dcf_walmap_find(w->walmap, tli);
	uint64_t	local = local_wal_end(w, tli);
	dcf_rc		rc;

	*got = 0;
	/* committed WAL in the log */
	if (tl && tl->committed && lsn >= tl->begin_lsn && lsn < tl->committed_end)
	{
		rc = dcf_walreader_read(&w->rd, w->commit_index, tli, lsn, buf, Min(n, (size_t) (tl->committed_end - lsn)), got, errmsg);
		if (rc != DCF_OK || *got > 0)
			return rc;
	}
	/* below the log's coverage: the standby's own WAL */
	if (lsn < local)
		return read_from_pg_wal(w, tli, lsn, buf, Min(n, (size_t) (local - lsn)), got, errmsg);
	if (tl && lsn < tl->committed_end)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND,
						"WAL at %X/%X of timeline %u is no longer in the consensus log",
						LSN_FORMAT_ARGS(lsn), tli);
	return DCF_OK;
}

/* WAL of timeline tli at lsn from this node's pg_wal (see read_from_pg_wal). */
dcf_rc
walsrc_read_pg_wal(DcfWorker *w, uint32_t tli, uint64_t lsn, char *buf, size_t n, size_t *got, char *errmsg)
{
	return read_from_pg_wal(w, tli, lsn, buf, n, got, errmsg);
}

static void
src_on_reply(void *ctx, uint64_t write_lsn, uint64_t flush_lsn, uint64_t apply_lsn, int64_t t)
{
	DcfWorker  *w = (DcfWorker *) ctx;
	w->standby_flush_lsn = flush_lsn;
}

static void
src_on_feedback(void *ctx, uint32_t xmin, uint32_t xmin_epoch, uint32_t cxmin, uint32_t cepoch)
{
	DcfWorker  *w = (DcfWorker *) ctx;
	uint32_t	v[4] = {xmin, xmin_epoch, cxmin, cepoch};

	if (memcmp(v, w->fb_mine, sizeof(v)) != 0)
	{
		memcpy(w->fb_mine, v, sizeof(v));
		w->fb_changed = true;
	}
}

/*
 * Can `dcf_ctl start` rewind this node now?  pg_rewind takes the source's
 * timeline from its last checkpoint (restartpoint, on a standby): a standby
 * that has not replayed a checkpoint of the cluster's newest timeline looks
 * to pg_rewind like a server on the old one ("no rewind required"), and the
 * node comes back diverged.  The leader that created the newest committed
 * timeline is a primary on it (dcf_ctl start checkpoints it first), so the
 * node stops for its rewind only once such a leader leads.  Until then it
 * keeps its server up, refusing logins (it is not joined), and takes part in
 * elections: its consensus log is sound, and with one node of three dead the
 * next leader may need its vote.
 */
static bool
rewind_source_ready(DcfWorker *w)
{
	const dcf_walmap_tl *tl = dcf_walmap_latest(w->walmap);

	return w->role != DCF_ROLE_LEADER && w->leader_id != 0 && w->leader_id != (uint32_t) dcf_node_id &&
		tl != NULL && tl->leader_id == w->leader_id;
}

/* This node's WAL diverged from the cluster's (why says where). */
void
walsrc_diverged(DcfWorker *w, const char *why)
{
	static bool stopping = false;

	if (stopping)
		return;					/* the postmaster is stopping us */
	if (rewind_source_ready(w))
	{
		stopping = true;
		fence_for_rewind(w, why);
		return;
	}
	if (w->diverged)
		return;
	w->diverged = true;
	strlcpy(w->diverged_why, why, sizeof(w->diverged_why));
	ereport(LOG,
			(errmsg("dcf: this node's WAL diverged from the cluster; it stops for pg_rewind once a leader on the cluster's newest timeline leads"),
			 errdetail("%s.", why),
			 errhint("Meanwhile it refuses logins and still votes in elections.")));
}

/*
 * A diverged node can be elected: its consensus log is as long as anyone's
 * (it may learn of the divergence only then, when the timeline switch it is
 * past commits), but its standby can never follow the cluster's timeline,
 * so it would wait for its promotion forever while nobody else may lead.
 * It hands leadership to the caught-up voter with the longest log, again
 * every two election timeouts while it still leads (the core times out and
 * reports a transfer the target did not take).  It no longer campaigns by
 * itself (run mode 2 while diverged, dcf_policy.c), but still votes.
 */
static void
diverged_leader_hand_over(DcfWorker *w, uint64_t now_ms)
{
	static uint64_t last_try_ms = 0;
	dcf_status *st;
	dcf_admin_request req;
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc;
	int			best = -1;

	if (w->role != DCF_ROLE_LEADER || w->promoted ||
		(last_try_ms != 0 && now_ms - last_try_ms < 2 * (uint64_t) dcf_election_timeout_ms))
		return;
	last_try_ms = now_ms;
	st = palloc(sizeof(dcf_status));
	dcf_host_status(w->host, st);
	for (uint32_t i = 0; i < st->n_peers; i++)
	{
		const dcf_peer_status *p = &st->peers[i];

		if ((p->role != DCF_ROLE_FOLLOWER && p->role != DCF_ROLE_LEADER) || p->learner ||
			p->last_heard_ms == 0 || now_ms - p->last_heard_ms > (uint64_t) dcf_election_timeout_ms)
			continue;
		if (best < 0 || p->match_index > st->peers[best].match_index)
			best = (int) i;
	}
	if (best < 0)
	{
		pfree(st);
		return;					/* no voter to hand over to yet */
	}
	memset(&req, 0, sizeof(req));
	req.node_id = st->peers[best].node_id;
	pfree(st);
	req.kind = DCF_ADMIN_TRANSFER_LEADER;
	err[0] = '\0';
	rc = dcf_host_admin(w->host, &req, now_ms, err);
	if (rc != DCF_OK && rc != DCF_ERR_STATE && rc != DCF_ERR_INVALID)
		worker_panic("handing over the leadership of a diverged node", err);
	ereport(LOG,
			(errmsg("dcf: this node leads but its WAL diverged from the cluster; handing leadership over to node %u%s%s",
					req.node_id, rc == DCF_OK ? "" : ": ", rc == DCF_OK ? "" : err)));
}

/*
 * Every turn: once a rewind source is ready, stop a diverged node for its
 * rewind; until then a diverged leader hands its leadership over.
 */
void
walsrc_check_diverged(DcfWorker *w, uint64_t now_ms)
{
	if (!w->diverged)
		return;
	if (rewind_source_ready(w))
		walsrc_diverged(w, w->diverged_why);
	else
		diverged_leader_hand_over(w, now_ms);
}

static void
src_on_diverged(void *ctx, uint32_t tli, uint64_t requested, uint64_t switch_lsn, uint32_t next_tli)
{
	DcfWorker  *w = (DcfWorker *) ctx;
	char		why[256];

	snprintf(why, sizeof(why),
			 "this server has WAL of timeline %u at %X/%X, past the cluster's switch to timeline %u at %X/%X",
			 tli, LSN_FORMAT_ARGS(requested), next_tli, LSN_FORMAT_ARGS(switch_lsn));
	walsrc_diverged(w, why);
}

static void
src_on_wal_missing(void *ctx, uint32_t tli, uint64_t lsn, const char *reason)
{
	observe_wal_missing((DcfWorker *) ctx);
	ereport(WARNING,
			(errmsg("dcf: WAL at %X/%X on timeline %u is no longer available: %s",
					LSN_FORMAT_ARGS(lsn), tli, reason),
			 errhint("This node cannot catch up from the consensus log: rebuild it with dcf_ctl build.")));
}

static void
src_log(void *ctx, dcf_feeder_log_level level, const char *msg)
{
	ereport(level == DCF_FEEDER_WARNING ? WARNING : level == DCF_FEEDER_LOG ? LOG : DEBUG1,
			(errmsg("dcf feeder: %s", msg)));
}

/* The feeder's source table: every callback gets the worker as ctx. */
void
walsrc_fill(DcfWorker *w, dcf_feeder_source *src)
{
	memset(src, 0, sizeof(*src));
	src->ctx = w;
	src->system_id = GetSystemIdentifier();
	src->position = src_position;
	src->history = src_history;
	src->read = src_read;
	src->on_reply = src_on_reply;
	src->on_feedback = src_on_feedback;
	src->on_diverged = src_on_diverged;
	src->on_wal_missing = src_on_wal_missing;
	src->log = src_log;
}

/*
 * A standby replaying a timeline the log abandoned (reserved by a leader
 * that promoted to it, then lost its leadership before the switch entry
 * committed) has WAL the cluster never had: stop it for pg_rewind.
 */
void
walsrc_check_abandoned(DcfWorker *w)
{
	TimeLineID	ptli = 0;
	char		why[256];

	if (!RecoveryInProgress())
		return;
	(void) GetXLogReplayRecPtr(&ptli);
	if (ptli == 0 || !dcf_walmap_abandoned(w->walmap, ptli))
		return;
	snprintf(why, sizeof(why),
			 "this server is on timeline %u, which its leader reserved and promoted to but never switched the cluster to",
			 ptli);
	walsrc_diverged(w, why);
}
