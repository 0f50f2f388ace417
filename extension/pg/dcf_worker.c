/*-------------------------------------------------------------------------
 *
 * dcf_worker.c
 *		The consensus background worker: one per server, started with the
 *		postmaster, with shared memory and no database connection.
 *
 * A single-threaded event loop on a WaitEventSet: the process latch,
 * postmaster death, the transport's sockets, the WAL feeder's socket
 * (follower side: the local standby's walreceiver connects to it) and the
 * WAL pump's connection (leader side: a replication client of the local
 * walsender).  PG15 cannot remove a socket from a WaitEventSet, so the set
 * is rebuilt on every turn (it holds a handful of sockets).
 *
 * One turn: wait; hand ready sockets to the transport (messages step the
 * consensus core), the feeder and the pump (WAL chunks become proposals);
 * tick the core; make this turn's appends durable and send what waited for
 * it (dcf_host_flush); advance what was committed (WAL map, applied index,
 * pump's commit report, feeder); drive the leader's start-up sequence;
 * publish the state to shared memory.
 *
 * Becoming leader — the order, and why:
 *   1. WAIT_COMMIT: wait until the no-op of our term is committed.  Only
 *      then is everything before it committed, so the log we are about to
 *      make our server's history is final.
 *   2. WAIT_RECEIVE: wait until our standby has received every committed
 *      WAL byte (the feeder serves it).  Promotion ends recovery at the end
 *      of what was received; anything missing would be lost from the new
 *      timeline.  If our server has WAL beyond the log (it led before and
 *      wrote WAL that was never committed) it must not lead: it steps down
 *      and is fenced, and `dcf_ctl start` rewinds it.
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
 *      has made them durable.
 *
 * Losing leadership after step 3 fences at once (fence_and_stop): the
 * pump is closed first, so no further commit is acknowledged; logins are
 * refused, and the server is stopped immediately (no shutdown checkpoint),
 * which terminates every backend.  `dcf_ctl start` brings it back as a
 * standby, rewinding first if its WAL went beyond the cluster's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "replication/walreceiver.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "core/dcf_codec.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_host.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_walentry.h"
#include "pg/dcf_walmap.h"
#include "pg/dcf_worker.h"
#include "pg/feeder.h"
#include "pg/pump.h"
#include "pg/walfile.h"

#define WORKER_TICK_MIN_MS			10	/* tick the core at most this often */
#define WORKER_WAIT_MAX_MS			100 /* longest sleep of one turn */
#define WORKER_EVENTS_MAX			64	/* sockets in the wait set */
#define WORKER_PUMP_RETRY_MS		200 /* pause before reconnecting the pump */
#define WORKER_APPLIED_SAVE_MS		1000	/* save the applied index at most this often */
#define WORKER_RECYCLE_EVERY_MS		10000	/* try prefix truncation this often */
#define WORKER_PROMOTE_TIMEOUT_MS	60000	/* promotion must finish within this */
#define WORKER_PROPOSALS_MAX		256 /* WAL chunks proposed in one step */
#define WORKER_READ_BUF_BYTES		(DCF_LOG_READ_BUFFER_MIN_BYTES + DCF_WAL_CHUNK_MAX_BYTES)
#define WORKER_SUSPEND_TIMEOUTS		10	/* election timeouts a suspended leader waits */
#define WORKER_PUBLISH_EVERY_MS		10	/* refresh shared memory at most this often */
#define WORKER_FEEDER_BATCH_MS		10	/* a follower hands committed WAL to its standby at most this often */
#define WORKER_FEEDBACK_EVERY_MS	1000	/* a follower forwards hot standby feedback */
#define WORKER_FEEDBACK_STALE_MS	10000	/* the leader forgets feedback older than this */
#define MSG_HOT_STANDBY_FEEDBACK	(DCF_HOST_APP_TYPE_MIN + 0)

typedef enum LeadState
{
	LEAD_NONE = 0,
	LEAD_WAIT_COMMIT,
	LEAD_WAIT_RECEIVE,
	LEAD_PROMOTE,
	LEAD_SWITCH,
	LEAD_PUMP
} LeadState;

static const char *const lead_state_names[] = {
	"none", "waiting for the no-op to commit", "waiting for the standby to receive the log",
	"promoting", "appending the timeline switch", "pumping WAL"
};

typedef struct Worker
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
	bool		promoted;		/* this worker promoted the server */
	bool		suspended;		/* promoted, lost its majority, may be re-elected */
	uint64_t	suspended_since_ms;

	uint64_t	last_tick_ms;
	uint64_t	pump_retry_at_ms;
	uint64_t	last_applied_save_ms;
	uint64_t	last_recycle_ms;
	uint64_t	last_publish_ms;
	uint64_t	applied_index;
	uint64_t	commit_index;	/* committed and durable here */

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

	/* a cursor for sequential feeder reads */
	uint64_t	rd_index;
	uint8_t    *rd_buf;

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
} Worker;

static Worker W;

static bool resume_leadership(uint64_t now_ms);
static volatile sig_atomic_t shutdown_requested = false;

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int64_t
wall_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	shutdown_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
worker_exit(int code, Datum arg)
{
	if (W.feeder)
	{
		dcf_feeder_destroy(W.feeder);
		W.feeder = NULL;
	}
	if (dcf_shared == NULL)
		return;
	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	if (dcf_shared->worker_pid == MyProcPid)
		dcf_shared->worker_pid = 0;
	LWLockRelease(dcf_shared->lock);
}

/* A failure of the consensus layers that leaves nothing safe to do. */
static void
worker_panic(const char *what, const char *detail)
{
	ereport(PANIC,
			(errmsg("dcf: %s: %s", what, detail)));
}

/* ---- host callbacks --------------------------------------------------------- */

static void
cb_host_log(void *ctx, dcf_host_log_level level, const char *msg)
{
	ereport(level == DCF_HOST_WARNING ? WARNING : level == DCF_HOST_LOG ? LOG : DEBUG1,
			(errmsg("dcf: %s", msg)));
}

static void
cb_on_append(void *ctx, const dcf_entry *entries, uint32_t n)
{
	char		err[DCF_ERRMSG_MAX];

	for (uint32_t i = 0; i < n; i++)
		if (dcf_walmap_add(W.walmap, entries[i].index, entries[i].type, entries[i].payload,
						   entries[i].len, err) != DCF_OK)
			worker_panic("the replicated log holds bad WAL", err);
}

static void
cb_on_truncate(void *ctx, uint64_t from_index)
{
	dcf_walmap_truncate(W.walmap, from_index);
	W.rd_index = 0;
}

static void
cb_on_role(void *ctx, dcf_role role, uint32_t leader_id, uint64_t term)
{
	W.role_event = true;
	W.role_events++;
	if (role != W.role || leader_id != W.leader_id || term != W.term)
		ereport(LOG,
				(errmsg("dcf: node %d is %s in term " UINT64_FORMAT "%s",
						dcf_node_id, dcf_role_name(role), term,
						leader_id ? psprintf(", leader %u", leader_id) : ", no leader")));
	W.role = role;
	W.leader_id = leader_id;
	W.term = term;
}

static void
cb_net_log(void *arg, dcf_net_log_level level, const char *line)
{
	ereport(level == DCF_NET_LOG_WARNING ? WARNING : level == DCF_NET_LOG_INFO ? LOG : DEBUG1,
			(errmsg("dcf net: %s", line)));
}

/* ---- reading WAL for the feeder ------------------------------------------------ */

/* Local WAL the standby already has on timeline tli, from its own pg_wal. */
static uint64_t
local_wal_end(uint32_t tli)
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
	tl = dcf_walmap_next(W.walmap, tli);
	if (tl && end > tl->begin_lsn)
		end = tl->begin_lsn;
	return end;
}

/* Read a whole log entry at index into W.rd_buf. */
static dcf_rc
read_entry(uint64_t index, dcf_log_entry *e, char *errmsg)
{
	size_t		n = 0;
	dcf_rc		rc;

	rc = dcf_log_read(dcf_host_log(W.host), index, index + 1, WORKER_READ_BUF_BYTES,
					  W.rd_buf, WORKER_READ_BUF_BYTES, e, 1, &n, errmsg);
	if (rc == DCF_OK && n != 1)
		rc = dcf_errf(errmsg, DCF_ERR_NOTFOUND, "log index %llu not readable", (unsigned long long) index);
	return rc;
}

/*
 * Copy up to n bytes of (tli, lsn) from committed WAL entries of the log.
 * *got = 0 when the log has nothing there (yet).
 */
static dcf_rc
read_from_log(uint32_t tli, uint64_t lsn, char *buf, size_t n, size_t *got, char *errmsg)
{
	dcf_log    *log = dcf_host_log(W.host);
	uint64_t	idx;
	uint64_t	first = dcf_log_first_index(log);

	*got = 0;
	/* sequential reads continue at the cursor; otherwise search by key */
	idx = W.rd_index;
	if (idx == 0 || idx < first)
	{
		if (dcf_log_find_key(log, lsn + 1, &idx) != DCF_OK)
			return DCF_OK;
	}
	for (int steps = 0; steps < 64 && idx <= W.commit_index && idx >= first; steps++, idx++)
	{
		dcf_log_entry e;
		dcf_wal_chunk c;
		dcf_rc		rc;

		rc = read_entry(idx, &e, errmsg);
		if (rc != DCF_OK)
			return rc;
		if (e.type != DCF_ENTRY_WAL)
			continue;
		rc = dcf_wal_chunk_decode(e.data, e.len, &c, errmsg);
		if (rc != DCF_OK)
			return rc;
		if (c.tli != tli)
		{
			if (c.tli > tli)
				break;
			continue;
		}
		if (c.start > lsn)
		{
			/* the cursor is past lsn: search again from the key */
			if (W.rd_index != 0)
			{
				W.rd_index = 0;
				return read_from_log(tli, lsn, buf, n, got, errmsg);
			}
			break;
		}
		if (lsn < c.start + c.len)
		{
			size_t		off = (size_t) (lsn - c.start);
			size_t		take = Min(n, (size_t) c.len - off);

			memcpy(buf, c.data + off, take);
			*got = take;
			W.rd_index = (off + take == c.len) ? idx + 1 : idx;
			return DCF_OK;
		}
	}
	W.rd_index = 0;
	return DCF_OK;
}

static dcf_rc
read_from_pg_wal(uint32_t tli, uint64_t lsn, char *buf, size_t n, size_t *got, char *errmsg)
{
	dcf_walfile_history h;
	char		content[DCF_FEEDER_HISTORY_MAX_BYTES];
	size_t		clen = 0;
	const dcf_walmap_tl *tl = dcf_walmap_find(W.walmap, tli);
	dcf_rc		rc;

	if (tl && tl->history)
	{
		clen = Min(tl->history_len, sizeof(content));
		memcpy(content, tl->history, clen);
	}
	else if (tli > 1)
	{
		char		name[DCF_WALFILE_NAME_BYTES];
		char		path[MAXPGPATH];
		FILE	   *f;

		dcf_walfile_history_name(name, tli);
		snprintf(path, sizeof(path), "pg_wal/%s", name);
		f = AllocateFile(path, "r");
		if (f == NULL)
			return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "no history for timeline %u", tli);
		clen = fread(content, 1, sizeof(content), f);
		FreeFile(f);
	}
	rc = dcf_walfile_history_parse(tli, content, clen, &h, errmsg);
	if (rc != DCF_OK)
		return rc;
	return dcf_walfile_read("pg_wal", (uint32_t) wal_segment_size, &h, lsn, buf, n, got, errmsg);
}

/* ---- the feeder's source ---------------------------------------------------- */

/*
 * A follower's standby is not on the commit path (the consensus log is), so
 * committed WAL is released to it in batches, at most every
 * WORKER_FEEDER_BATCH_MS: its walreceiver fsyncs pg_wal once per burst it
 * receives, and one burst every few milliseconds instead of one per commit
 * saves most of those fsyncs on a busy cluster.  A leader's standby (it
 * must catch up before promotion) and a node that knows no leader get every
 * commit at once; so does a new timeline.
 */
static bool
feeder_batching(void)
{
	return W.role != DCF_ROLE_LEADER && W.leader_id != 0;
}

static void
feeder_release(void)
{
	const dcf_walmap_tl *tl = dcf_walmap_latest(W.walmap);

	W.feeder_due_ms = 0;
	if (tl)
	{
		W.feeder_tli = tl->tli;
		W.feeder_end = tl->committed_end;
	}
	if (W.feeder)
		dcf_feeder_wal_available(W.feeder);
}

static dcf_rc
src_position(void *ctx, uint32_t *tli, uint64_t *xlogpos, char *errmsg)
{
	const dcf_walmap_tl *tl = dcf_walmap_latest(W.walmap);

	if (tl == NULL)
	{
		/* the log has no WAL yet: what the standby has is all there is */
		TimeLineID	ptli = 0;
		XLogRecPtr	rep = GetXLogReplayRecPtr(&ptli);

		*tli = ptli ? ptli : 1;
		*xlogpos = Max(rep, local_wal_end(*tli));
		return DCF_OK;
	}
	/* on the newest timeline the standby never has more than was committed */
	*tli = tl->tli;
	*xlogpos = tl->committed_end;
	/* ... and on a follower, only what advance_commit released to it */
	if (feeder_batching() && W.feeder_tli == tl->tli)
		*xlogpos = Min(*xlogpos, W.feeder_end);
	return DCF_OK;
}

static dcf_rc
src_history(void *ctx, uint32_t tli, char *buf, size_t cap, size_t *len, char *errmsg)
{
	const dcf_walmap_tl *tl = dcf_walmap_find(W.walmap, tli);
	char		name[DCF_WALFILE_NAME_BYTES];
	char		path[MAXPGPATH];
	FILE	   *f;

	if (tl && tl->history)
	{
		if (tl->history_len > cap)
			return dcf_errf(errmsg, DCF_ERR_FULL, "history of timeline %u is too large", tli);
		memcpy(buf, tl->history, tl->history_len);
		*len = tl->history_len;
		return DCF_OK;
	}
	dcf_walfile_history_name(name, tli);
	snprintf(path, sizeof(path), "pg_wal/%s", name);
	f = AllocateFile(path, "r");
	if (f == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "timeline %u is not in this node's history", tli);
	*len = fread(buf, 1, cap, f);
	FreeFile(f);
	return DCF_OK;
}

static dcf_rc
src_read(void *ctx, uint32_t tli, uint64_t lsn, char *buf, size_t n, size_t *got, char *errmsg)
{
	const dcf_walmap_tl *tl = dcf_walmap_find(W.walmap, tli);
	uint64_t	local = local_wal_end(tli);
	dcf_rc		rc;

	*got = 0;
	/* committed WAL in the log */
	if (tl && tl->committed && lsn >= tl->begin_lsn && lsn < tl->committed_end)
	{
		rc = read_from_log(tli, lsn, buf, Min(n, (size_t) (tl->committed_end - lsn)), got, errmsg);
		if (rc != DCF_OK || *got > 0)
			return rc;
	}
	/* below the log's coverage: the standby's own WAL */
	if (lsn < local)
		return read_from_pg_wal(tli, lsn, buf, Min(n, (size_t) (local - lsn)), got, errmsg);
	if (tl && lsn < tl->committed_end)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND,
						"WAL at %X/%X of timeline %u is no longer in the consensus log",
						LSN_FORMAT_ARGS(lsn), tli);
	return DCF_OK;
}

static void
src_on_reply(void *ctx, uint64_t write_lsn, uint64_t flush_lsn, uint64_t apply_lsn, int64_t t)
{
	W.standby_flush_lsn = flush_lsn;
}

static void
src_on_feedback(void *ctx, uint32_t xmin, uint32_t xmin_epoch, uint32_t cxmin, uint32_t cepoch)
{
	uint32_t	v[4] = {xmin, xmin_epoch, cxmin, cepoch};

	if (memcmp(v, W.fb_mine, sizeof(v)) != 0)
	{
		memcpy(W.fb_mine, v, sizeof(v));
		W.fb_changed = true;
	}
}

/*
 * Hot standby feedback travels follower -> leader as a host message of 16
 * bytes (four little-endian u32); the leader hands the oldest xmin and
 * catalog_xmin of all members that reported recently to its walsender
 * through the pump, so vacuum on the leader keeps what standbys still read.
 */
static void
forward_feedback(uint64_t now_ms)
{
	uint8_t		buf[16];
	char		err[DCF_ERRMSG_MAX];

	if (W.role == DCF_ROLE_LEADER || W.leader_id == 0 || W.fb_mine[0] == 0)
		return;
	if (!W.fb_changed && now_ms - W.fb_sent_ms < WORKER_FEEDBACK_EVERY_MS)
		return;
	for (int i = 0; i < 4; i++)
		for (int b = 0; b < 4; b++)
			buf[i * 4 + b] = (uint8_t) (W.fb_mine[i] >> (8 * b));
	if (dcf_host_send_app(W.host, W.leader_id, MSG_HOT_STANDBY_FEEDBACK, buf, sizeof(buf), err) == DCF_OK)
	{
		W.fb_sent_ms = now_ms;
		W.fb_changed = false;
	}
}

static void
cb_on_app_message(void *ctx, uint32_t from, uint8_t type, const uint8_t *data, size_t len)
{
	int			slot = -1;

	if (type != MSG_HOT_STANDBY_FEEDBACK || len != 16)
	{
		ereport(LOG, (errmsg("dcf: ignoring a host message of type %u (%zu bytes) from node %u", type, len, from)));
		return;
	}
	for (int i = 0; i < DCF_MEMBERS_MAX; i++)
		if (W.fb_members[i].node_id == from || (slot < 0 && W.fb_members[i].node_id == 0))
			slot = i;
	if (slot < 0)
		return;
	W.fb_members[slot].node_id = from;
	for (int i = 0; i < 4; i++)
		W.fb_members[slot].v[i] = (uint32_t) data[i * 4] | (uint32_t) data[i * 4 + 1] << 8 |
			(uint32_t) data[i * 4 + 2] << 16 | (uint32_t) data[i * 4 + 3] << 24;
	W.fb_members[slot].at_ms = W.last_tick_ms;
}

/* The oldest (epoch, xid) of recent member feedback, into the pump. */
static void
apply_feedback(uint64_t now_ms)
{
	uint64_t	xmin = UINT64_MAX,
				cxmin = UINT64_MAX;

	if (W.pump == NULL)
		return;
	for (int i = 0; i < DCF_MEMBERS_MAX; i++)
	{
		uint32_t   *v = W.fb_members[i].v;

		if (W.fb_members[i].node_id == 0 || now_ms - W.fb_members[i].at_ms > WORKER_FEEDBACK_STALE_MS)
			continue;
		if (v[0] != 0)
			xmin = Min(xmin, ((uint64_t) v[1] << 32) | v[0]);
		if (v[2] != 0)
			cxmin = Min(cxmin, ((uint64_t) v[3] << 32) | v[2]);
	}
	dcf_pump_set_feedback(W.pump,
						  xmin == UINT64_MAX ? 0 : (uint32_t) xmin,
						  xmin == UINT64_MAX ? 0 : (uint32_t) (xmin >> 32),
						  cxmin == UINT64_MAX ? 0 : (uint32_t) cxmin,
						  cxmin == UINT64_MAX ? 0 : (uint32_t) (cxmin >> 32));
}

static void
write_rewind_marker(const char *why)
{
	char		path[MAXPGPATH];
	FILE	   *f;
	const dcf_walmap_tl *tl = dcf_walmap_latest(W.walmap);
	const DcfMember *leader = NULL;

	for (int i = 0; i < dcf_config_parsed.nmembers; i++)
		if (tl && dcf_config_parsed.members[i].node_id == tl->leader_id)
			leader = &dcf_config_parsed.members[i];
	snprintf(path, sizeof(path), "%s/rewind_needed", dcf_data_path_abs);
	f = AllocateFile(path, "w");
	if (f == NULL)
	{
		ereport(WARNING, (errcode_for_file_access(),
						  errmsg("could not write \"%s\": %m", path)));
		return;
	}
	fprintf(f, "reason=%s\n", why);
	if (tl && leader && tl->pg_port)
		fprintf(f, "source=host=%s port=%u dbname=postgres\n", leader->ip, tl->pg_port);
	FreeFile(f);
}

static void
src_on_diverged(void *ctx, uint32_t tli, uint64_t requested, uint64_t switch_lsn, uint32_t next_tli)
{
	char		why[256];

	snprintf(why, sizeof(why),
			 "this server has WAL of timeline %u at %X/%X, past the cluster's switch to timeline %u at %X/%X",
			 tli, LSN_FORMAT_ARGS(requested), next_tli, LSN_FORMAT_ARGS(switch_lsn));
	ereport(LOG,
			(errmsg("dcf: this node's WAL diverged from the cluster; stopping it for pg_rewind"),
			 errdetail("%s.", why),
			 errhint("Run dcf_ctl start -D \"%s\"; it rewinds the node and starts it again.", DataDir)));
	write_rewind_marker(why);
	kill(PostmasterPid, SIGQUIT);
}

static void
src_on_wal_missing(void *ctx, uint32_t tli, uint64_t lsn, const char *reason)
{
	ereport(WARNING,
			(errmsg("dcf: WAL at %X/%X on timeline %u is no longer available: %s",
					LSN_FORMAT_ARGS(lsn), tli, reason),
			 errhint("This node cannot catch up from the consensus log; rebuilding a node (dcf_ctl build) is not implemented yet.")));
}

static void
src_log(void *ctx, dcf_feeder_log_level level, const char *msg)
{
	ereport(level == DCF_FEEDER_WARNING ? WARNING : level == DCF_FEEDER_LOG ? LOG : DEBUG1,
			(errmsg("dcf feeder: %s", msg)));
}

/* ---- the pump --------------------------------------------------------------- */

static int
pump_on_wal(void *ctx, uint32_t tli, uint64_t start, const char *data, size_t len,
			size_t *accepted, char *errmsg)
{
	*accepted = 0;
	while (len > 0)
	{
		dcf_proposal *last = W.nprops ? &W.props[W.nprops - 1] : NULL;
		dcf_wal_chunk c;
		size_t		take;
		uint8_t    *buf;

		/* extend the previous chunk of this turn when it continues it */
		if (last && last->type == DCF_ENTRY_WAL &&
			dcf_wal_chunk_decode(last->payload, last->len, &c, errmsg) == DCF_OK &&
			c.tli == tli && c.start + c.len == start && c.len < DCF_WAL_CHUNK_MAX_BYTES)
		{
			take = Min(len, (size_t) (DCF_WAL_CHUNK_MAX_BYTES - c.len));
			buf = realloc(W.prop_bufs[W.nprops - 1], last->len + take);
			if (buf == NULL)
			{
				snprintf(errmsg, DCF_PUMP_ERRMSG_MAX, "out of memory");
				return 1;
			}
			memcpy(buf + last->len, data, take);
			W.prop_bufs[W.nprops - 1] = buf;
			last->payload = buf;
			last->len += (uint32_t) take;
		}
		else
		{
			if (W.nprops >= WORKER_PROPOSALS_MAX)
				return DCF_PUMP_WAL_LATER;	/* the pump keeps the rest */
			take = Min(len, (size_t) DCF_WAL_CHUNK_MAX_BYTES);
			buf = malloc(DCF_WAL_CHUNK_HEADER_BYTES + take);
			if (buf == NULL)
			{
				snprintf(errmsg, DCF_PUMP_ERRMSG_MAX, "out of memory");
				return 1;
			}
			c.tli = tli;
			c.start = start;
			c.data = (const uint8_t *) data;
			c.len = (uint32_t) take;
			W.prop_bufs[W.nprops] = buf;
			W.props[W.nprops].type = DCF_ENTRY_WAL;
			W.props[W.nprops].payload = buf;
			W.props[W.nprops].len = (uint32_t) dcf_wal_chunk_encode(&c, buf, DCF_WAL_CHUNK_HEADER_BYTES + take);
			W.nprops++;
			last = &W.props[W.nprops - 1];
		}
		W.pending_key = dcf_walentry_key(W.pending_key, start + take);
		last->key = W.pending_key;
		*accepted += take;
		start += take;
		data += take;
		len -= take;
	}
	return 0;
}

static void
propose_collected(uint64_t now_ms)
{
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc = DCF_OK;

	if (W.nprops == 0)
		return;
	rc = dcf_host_propose(W.host, W.props, W.nprops, now_ms, NULL, err);
	for (uint32_t i = 0; i < W.nprops; i++)
		free(W.prop_bufs[i]);
	W.nprops = 0;
	if (rc != DCF_OK)
	{
		/*
		 * Refused (no longer leader, or the core's buffer is full): the pump
		 * restarts from the end of what the log has.
		 */
		ereport(LOG, (errmsg("dcf: WAL proposal refused: %s", err)));
		dcf_pump_destroy(W.pump);
		W.pump = NULL;
		W.pending_key = dcf_host_last_key(W.host);
		W.pump_retry_at_ms = now_ms + WORKER_PUMP_RETRY_MS;
	}
}

static char *
pump_conninfo(void)
{
	char	   *dirs = pstrdup(Unix_socket_directories ? Unix_socket_directories : "");
	char	   *comma = strchr(dirs, ',');

	if (comma)
		*comma = '\0';
	return psprintf("host='%s' port=%d dbname=replication connect_timeout=10",
					dirs[0] ? dirs : "localhost", PostPortNumber);
}

static void
start_pump(uint64_t now_ms)
{
	const dcf_walmap_tl *tl = dcf_walmap_latest_appended(W.walmap);
	dcf_pump_callbacks cb = {NULL, pump_on_wal};
	char	   *ci;

	if (tl == NULL || tl->tli != W.lead_tli)
		return;
	ci = pump_conninfo();
	W.pending_key = dcf_host_last_key(W.host);
	W.pump = dcf_pump_start(ci, "dcf", tl->tli, tl->appended_end,
							Max(tl->committed_end, tl->begin_lsn), &cb);
	pfree(ci);
	if (W.pump == NULL)
		worker_panic("starting the WAL pump", "out of memory");
	ereport(LOG, (errmsg("dcf: WAL pump starting at %X/%X on timeline %u",
						 LSN_FORMAT_ARGS(tl->appended_end), tl->tli)));
}

/* ---- fencing ------------------------------------------------------------------ */

static void
fence_and_stop(const char *reason)
{
	char		path[MAXPGPATH];
	FILE	   *f;

	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	dcf_shared->fenced = true;
	LWLockRelease(dcf_shared->lock);

	/* first: nothing more is acknowledged */
	if (W.pump)
	{
		dcf_pump_destroy(W.pump);
		W.pump = NULL;
	}
	ereport(LOG,
			(errmsg("dcf: node %d is fenced: %s", dcf_node_id, reason),
			 errdetail("No further commit is acknowledged, logins are refused, and the server stops now."),
			 errhint("Run dcf_ctl start -D \"%s\" to bring it back as a standby.", DataDir)));
	snprintf(path, sizeof(path), "%s/fenced", dcf_data_path_abs);
	f = AllocateFile(path, "w");
	if (f)
	{
		fprintf(f, "reason=%s\nterm=" UINT64_FORMAT "\n", reason, W.term);
		FreeFile(f);
	}
	/* immediate shutdown: terminates every backend, writes no checkpoint */
	kill(PostmasterPid, SIGQUIT);
	for (;;)
		pg_usleep(100000L);
}

/* ---- the leader's start-up sequence --------------------------------------------- */

static bool
read_history_file(uint32_t tli, char **content, uint32_t *len, uint64_t *switch_lsn)
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

static void
lead_step(uint64_t now_ms)
{
	char		err[DCF_ERRMSG_MAX];

	switch (W.lead)
	{
		case LEAD_NONE:
			break;

		case LEAD_WAIT_COMMIT:
			if (W.commit_index >= W.lead_target_index && W.promoted)
			{
				resume_leadership(now_ms);
				break;
			}
			if (W.commit_index >= W.lead_target_index)
			{
				W.lead = LEAD_WAIT_RECEIVE;
				ereport(LOG, (errmsg("dcf: log committed up to index " UINT64_FORMAT "; waiting for the standby to receive it",
									 W.commit_index)));
			}
			break;

		case LEAD_WAIT_RECEIVE:
			{
				const dcf_walmap_tl *tl = dcf_walmap_latest(W.walmap);
				TimeLineID	rtli = 0,
							ptli = 0;
				XLogRecPtr	rcv = GetWalRcvFlushRecPtr(NULL, &rtli);
				XLogRecPtr	rep = GetXLogReplayRecPtr(&ptli);
				bool		have_all;

				if (!RecoveryInProgress())
				{
					fence_and_stop("the server is a primary that was not promoted by this leader");
					break;
				}
				if (tl == NULL)
					have_all = true;	/* nothing in the log */
				else if (ptli > tl->tli)
				{
					fence_and_stop("the server is on a timeline the cluster does not know");
					break;
				}
				else
				{
					uint64_t	have = 0;

					if (rtli == tl->tli)
						have = Max(have, rcv);
					if (ptli == tl->tli)
						have = Max(have, rep);
					if (ptli == tl->tli && rep > tl->committed_end)
					{
						fence_and_stop(psprintf("the server replayed WAL up to %X/%X, beyond the cluster's %X/%X",
												LSN_FORMAT_ARGS(rep), LSN_FORMAT_ARGS(tl->committed_end)));
						break;
					}
					have_all = have >= tl->committed_end;
				}
				if (have_all)
				{
					FILE	   *f = AllocateFile(PROMOTE_SIGNAL_FILE, "w");

					if (f == NULL || FreeFile(f) != 0)
						ereport(PANIC, (errcode_for_file_access(),
										errmsg("could not create \"%s\": %m", PROMOTE_SIGNAL_FILE)));
					if (kill(PostmasterPid, SIGUSR1) != 0)
						ereport(PANIC, (errmsg("could not signal the postmaster to promote: %m")));
					W.promoted = true;
					W.lead = LEAD_PROMOTE;
					W.lead_since_ms = now_ms;
					ereport(LOG, (errmsg("dcf: standby has the whole log; promoting")));
				}
				break;
			}

		case LEAD_PROMOTE:
			if (!RecoveryInProgress())
			{
				FILE	   *f;

				W.lead_tli = GetWALInsertionTimeLine();
				W.lead = LEAD_SWITCH;

				/*
				 * Promotion removed standby.signal.  Put it back at once: it
				 * does nothing to the running primary, but any restart of
				 * this server, a crash restart included, must come up as a
				 * standby and rejoin, never as a primary nobody elected.
				 */
				f = AllocateFile(STANDBY_SIGNAL_FILE, "w");
				if (f == NULL || FreeFile(f) != 0)
					ereport(PANIC, (errcode_for_file_access(),
									errmsg("could not create \"%s\": %m", STANDBY_SIGNAL_FILE)));
			}
			else if (now_ms - W.lead_since_ms > WORKER_PROMOTE_TIMEOUT_MS)
				fence_and_stop("promotion did not finish in time");
			break;

		case LEAD_SWITCH:
			{
				dcf_tlswitch s;
				dcf_proposal p;
				uint8_t    *buf;
				char	   *hist = NULL;
				uint32_t	hlen = 0;
				uint64_t	sw = 0;
				dcf_rc		rc;

				if (!read_history_file(W.lead_tli, &hist, &hlen, &sw))
				{
					fence_and_stop(psprintf("cannot read the history file of new timeline %u", W.lead_tli));
					break;
				}
				s.tli = W.lead_tli;
				s.switch_lsn = sw;
				s.leader_id = (uint32_t) dcf_node_id;
				s.pg_port = (uint32_t) PostPortNumber;
				s.history = hist;
				s.history_len = hlen;
				buf = palloc(DCF_TLSWITCH_HEADER_BYTES + hlen);
				p.type = DCF_ENTRY_TLSWITCH;
				p.payload = buf;
				p.len = (uint32_t) dcf_tlswitch_encode(&s, buf, DCF_TLSWITCH_HEADER_BYTES + hlen);
				p.key = dcf_walentry_key(dcf_host_last_key(W.host), sw);
				rc = dcf_host_propose(W.host, &p, 1, now_ms, NULL, err);
				pfree(buf);
				pfree(hist);
				if (rc != DCF_OK)
				{
					fence_and_stop(psprintf("cannot append the timeline switch: %s", err));
					break;
				}
				W.lead_switch_lsn = sw;
				W.lead = LEAD_PUMP;
				ereport(LOG, (errmsg("dcf: promoted to timeline %u at %X/%X; pumping WAL",
									 W.lead_tli, LSN_FORMAT_ARGS(sw))));
				break;
			}

		case LEAD_PUMP:
			if (W.pump == NULL && now_ms >= W.pump_retry_at_ms)
				start_pump(now_ms);
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
static void
lose_leadership(uint64_t now_ms)
{
	if (W.leader_id != 0 && W.leader_id != (uint32_t) dcf_node_id)
		fence_and_stop(psprintf("node %u leads in term " UINT64_FORMAT, W.leader_id, W.term));
	if (W.suspended)
		return;
	if (W.pump)
	{
		dcf_pump_destroy(W.pump);
		W.pump = NULL;
	}
	W.suspended = true;
	W.suspended_since_ms = now_ms;
	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	dcf_shared->suspended = true;
	LWLockRelease(dcf_shared->lock);
	ereport(LOG,
			(errmsg("dcf: node %d lost contact with the majority in term " UINT64_FORMAT "; acknowledging nothing",
					dcf_node_id, W.term),
			 errdetail("The server stays up for %d election timeouts in case this node is elected again; then it is fenced.",
					   WORKER_SUSPEND_TIMEOUTS)));
}

/* React to a role change reported during this turn. */
static void
handle_role_change(uint64_t now_ms)
{
	if (W.role == DCF_ROLE_LEADER && W.lead == LEAD_NONE)
	{
		dcf_status	st;

		dcf_host_status(W.host, &st);
		W.lead = LEAD_WAIT_COMMIT;
		W.lead_target_index = st.last_index;
		W.lead_since_ms = now_ms;
	}
	else if (W.role != DCF_ROLE_LEADER && W.lead != LEAD_NONE)
	{
		if (W.promoted)
			lose_leadership(now_ms);
		else
			ereport(LOG, (errmsg("dcf: lost leadership before promotion (%s)", lead_state_names[W.lead])));
		W.lead = LEAD_NONE;
	}
	else if (W.suspended && W.leader_id != 0 && W.leader_id != (uint32_t) dcf_node_id)
		lose_leadership(now_ms);
}

/*
 * Elected again while suspended: the server is still the primary of the
 * newest timeline and its WAL continues the log, so pumping resumes where
 * the log ends; no promotion, no new timeline.
 */
static bool
resume_leadership(uint64_t now_ms)
{
	const dcf_walmap_tl *tl = dcf_walmap_latest_appended(W.walmap);

	if (tl == NULL || tl->tli != W.lead_tli || RecoveryInProgress())
	{
		fence_and_stop("it was elected again, but the log moved to another timeline meanwhile");
		return false;
	}
	W.suspended = false;
	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	dcf_shared->suspended = false;
	LWLockRelease(dcf_shared->lock);
	W.lead = LEAD_PUMP;
	ereport(LOG, (errmsg("dcf: node %d leads again in term " UINT64_FORMAT "; resuming on timeline %u",
						 dcf_node_id, W.term, W.lead_tli)));
	return true;
}

/* ---- committed entries -------------------------------------------------------------- */

static uint64_t
index_for_lsn(uint64_t lsn)
{
	uint64_t	idx = 0;
	dcf_log    *log = dcf_host_log(W.host);

	if (dcf_log_find_key(log, lsn + 1, &idx) != DCF_OK)
		idx = dcf_log_last_index(log) + 1;
	return idx > 0 ? idx - 1 : 0;
}

static void
advance_commit(uint64_t now_ms)
{
	uint64_t	c = dcf_host_commit_index(W.host);
	uint64_t	applied;
	char		err[DCF_ERRMSG_MAX];

	if (c > W.commit_index)
	{
		W.commit_index = c;
		dcf_walmap_commit(W.walmap, c);
		if (W.feeder_due_ms == 0)
			W.feeder_due_ms = now_ms + WORKER_FEEDER_BATCH_MS;
	}

	/* committed WAL for the standby: see feeder_batching */
	if (W.feeder_due_ms != 0 && (now_ms >= W.feeder_due_ms || !feeder_batching()))
		feeder_release();

	/* the pump reports the committed end of our timeline */
	if (W.pump)
	{
		const dcf_walmap_tl *tl = dcf_walmap_find(W.walmap, W.lead_tli);

		if (tl && tl->committed)
			dcf_pump_set_commit(W.pump, tl->committed_end);
	}

	/* applied: the leader has everything it committed; a follower what its standby flushed */
	if (W.role == DCF_ROLE_LEADER && W.lead == LEAD_PUMP)
		applied = W.commit_index;
	else
		applied = Min(index_for_lsn(W.standby_flush_lsn), W.commit_index);
	if (applied > W.applied_index)
	{
		W.applied_index = applied;
		if (dcf_host_applied(W.host, applied, now_ms, err) != DCF_OK)
			worker_panic("reporting the applied index", err);
	}
	if (now_ms - W.last_applied_save_ms >= WORKER_APPLIED_SAVE_MS)
	{
		if (dcf_host_save_applied(W.host, W.applied_index, err) != DCF_OK)
			worker_panic("saving the applied index", err);
		W.last_applied_save_ms = now_ms;
	}
}

static void
recycle_log(uint64_t now_ms)
{
	dcf_status	st;
	dcf_log_holds holds;
	uint64_t	below;
	char		err[DCF_ERRMSG_MAX];

	if (now_ms - W.last_recycle_ms < WORKER_RECYCLE_EVERY_MS)
		return;
	W.last_recycle_ms = now_ms;
	dcf_host_status(W.host, &st);
	below = W.applied_index;
	holds.min_applied_index = st.role == DCF_ROLE_LEADER ? st.cluster_min_applied_index : W.applied_index;
	holds.build_hold_index = 0;
	if (below == 0 || holds.min_applied_index == 0)
		return;
	if (dcf_log_truncate_prefix(dcf_host_log(W.host), below, &holds, NULL, err) != DCF_OK)
		worker_panic("recycling the log", err);
}

/* ---- shared state --------------------------------------------------------------- */

static void
publish(uint64_t now_ms)
{
	dcf_status	st;
	const dcf_walmap_tl *tl = dcf_walmap_latest(W.walmap);
	const dcf_walmap_tl *atl = dcf_walmap_latest_appended(W.walmap);
	dcf_feeder_status fs;
	bool		joined;

	dcf_host_status(W.host, &st);
	if (W.feeder)
		dcf_feeder_get_status(W.feeder, &fs);
	else
		memset(&fs, 0, sizeof(fs));
	/*
	 * Joined: the leader once it pumps WAL; a follower once it knows the
	 * leader, has every entry the leader committed (so its newest timeline
	 * is the cluster's) and its standby streams that timeline (it got past
	 * every timeline end, so its WAL did not diverge).
	 */
	joined = (st.role == DCF_ROLE_LEADER && W.lead == LEAD_PUMP && W.pump &&
			  dcf_pump_get_state(W.pump) == DCF_PUMP_STREAMING) ||
		(st.role != DCF_ROLE_LEADER && st.leader_id != 0 && fs.state == DCF_FEEDER_STREAMING &&
		 dcf_host_leader_commit(W.host) > 0 && W.commit_index >= dcf_host_leader_commit(W.host) &&
		 (tl == NULL || (fs.tli == tl->tli && fs.flush_lsn >= tl->begin_lsn)));

	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	strlcpy(dcf_shared->role, dcf_role_name(st.role), DCF_ROLE_NAME_BYTES);
	dcf_shared->term = st.term;
	dcf_shared->run_mode = st.run_mode;
	dcf_shared->work_mode = st.work_mode;
	dcf_shared->vote_num = st.vote_num;
	dcf_shared->applied_index = W.applied_index;
	dcf_shared->commit_index = st.commit_index;
	dcf_shared->first_index = st.first_index;
	dcf_shared->last_index = st.last_index;
	dcf_shared->cluster_min_apply_idx = st.cluster_min_applied_index;
	dcf_shared->leader_id = st.leader_id;
	dcf_shared->paxos_write_lsn = atl ? atl->appended_end : InvalidXLogRecPtr;
	dcf_shared->paxos_commit_lsn = tl ? tl->committed_end : InvalidXLogRecPtr;
	if (joined)
		dcf_shared->joined = true;
	dcf_shared->leading = (W.lead == LEAD_PUMP);
	for (int i = 0; i < dcf_shared->nmembers; i++)
	{
		DcfMemberState *ms = &dcf_shared->members[i];

		ms->next_index = ms->match_index = ms->applied_index = 0;
		ms->last_heard_ms = -1;
		ms->connected = false;
		for (uint32_t p = 0; p < st.n_peers; p++)
		{
			if (st.peers[p].node_id != ms->member.node_id)
				continue;
			ms->next_index = st.peers[p].next_index;
			ms->match_index = st.peers[p].match_index;
			ms->applied_index = st.peers[p].applied_index;
			ms->last_heard_ms = st.peers[p].last_heard_ms ? (int64) (now_ms - st.peers[p].last_heard_ms) : -1;
			ms->connected = dcf_host_peer_connected(W.host, ms->member.node_id);
		}
	}
	LWLockRelease(dcf_shared->lock);
}

/* ---- start-up ---------------------------------------------------------------------- */

static void
to_core_membership(const DcfConfig *cfg, dcf_membership *ms)
{
	memset(ms, 0, sizeof(*ms));
	ms->n_members = (uint32_t) cfg->nmembers;
	for (int i = 0; i < cfg->nmembers; i++)
	{
		const DcfMember *m = &cfg->members[i];
		dcf_member *o = &ms->members[i];
		dcf_role	r = DCF_ROLE_FOLLOWER;

		switch (m->role)
		{
			case DCF_MEMBER_LEADER:
				r = DCF_ROLE_LEADER;
				break;
			case DCF_MEMBER_FOLLOWER:
				r = DCF_ROLE_FOLLOWER;
				break;
			case DCF_MEMBER_LOGGER:
				r = DCF_ROLE_LOGGER;
				break;
			case DCF_MEMBER_PASSIVE:
				r = DCF_ROLE_PASSIVE;
				break;
		}
		dcf_member_init(o, m->node_id, r);
		o->weight = (uint32_t) m->weight;
		o->group = (uint32_t) m->group;
		o->priority = (uint32_t) m->priority;
		strlcpy(o->ip, m->ip, sizeof(o->ip));
		o->port = (uint16_t) m->port;
	}
}

/* Build the WAL map from every entry of the log. */
static void
scan_log(void)
{
	dcf_log    *log = dcf_host_log(W.host);
	uint64_t	first = dcf_log_first_index(log);
	uint64_t	last = dcf_log_last_index(log);
	char		err[DCF_ERRMSG_MAX];

	for (uint64_t i = first; i <= last && last > 0; i++)
	{
		dcf_log_entry e;

		if (read_entry(i, &e, err) != DCF_OK)
			worker_panic("reading the consensus log", err);
		if (dcf_walmap_add(W.walmap, e.index, e.type, e.data, e.len, err) != DCF_OK)
			worker_panic("the consensus log holds bad WAL", err);
	}
}

static void
worker_start(uint64_t now_ms)
{
	dcf_host_options ho;
	dcf_host_callbacks hcb;
	dcf_membership boot;
	dcf_feeder_source src;
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc;

	memset(&W, 0, sizeof(W));
	W.walmap = dcf_walmap_create();
	W.rd_buf = malloc(WORKER_READ_BUF_BYTES);
	if (W.walmap == NULL || W.rd_buf == NULL)
		ereport(FATAL, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));

	to_core_membership(&dcf_config_parsed, &boot);
	memset(&ho, 0, sizeof(ho));
	ho.data_path = dcf_data_path_abs;
	dcf_options_init(&ho.core, (uint32_t) dcf_node_id);
	ho.core.election_timeout_ms = (uint32_t) dcf_election_timeout_ms;
	ho.core.heartbeat_interval_ms = (uint32_t) dcf_heartbeat_interval_ms;
	ho.core.lease_margin_ms = (uint32_t) Min(dcf_election_timeout_ms / 4, 100);
	ho.core.prng_seed = ((uint64_t) MyProcPid << 32) ^ (uint64_t) wall_us();
	ho.core.run_mode = dcf_run_mode_setting == 2 ? DCF_RUN_MODE_NONE : DCF_RUN_MODE_AUTO;
	rc = dcf_options_validate(&ho.core, err);
	if (rc != DCF_OK)
		ereport(FATAL, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("invalid dcf timing settings: %s", err),
						errhint("dcf.heartbeat_interval must be well below dcf.election_timeout.")));
	dcf_net_options_init(&ho.net);
	ho.net.auth_key_file = dcf_auth_key_file;
	ho.net.ssl = dcf_ssl;
	ho.net.ssl_cert_file = dcf_ssl_cert_file;
	ho.net.ssl_key_file = dcf_ssl_key_file;
	ho.net.ssl_ca_file = dcf_ssl_ca_file;
	ho.net.compress = dcf_compress == 1 ? DCF_NET_COMPRESS_LZ4 : DCF_NET_COMPRESS_NONE;
	ho.net.log = cb_net_log;
	ho.bootstrap = &boot;
	memset(&hcb, 0, sizeof(hcb));
	hcb.log = cb_host_log;
	hcb.on_append = cb_on_append;
	hcb.on_truncate = cb_on_truncate;
	hcb.on_role = cb_on_role;
	hcb.on_app_message = cb_on_app_message;

	rc = dcf_host_open(&ho, &hcb, now_ms, &W.host, err);
	if (rc != DCF_OK)
		ereport(FATAL,
				(errcode(rc == DCF_ERR_CORRUPT ? ERRCODE_DATA_CORRUPTED : ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dcf cannot start: %s", err)));

	/* the WAL map from what the log holds, committed up to the applied index */
	{
		dcf_status	st;

		dcf_host_status(W.host, &st);
		dcf_walmap_commit(W.walmap, st.commit_index);
		W.applied_index = st.commit_index;
	}
	scan_log();
	W.commit_index = dcf_walmap_commit_index(W.walmap);

	/*
	 * Restarted while the server is the primary this node promoted (the
	 * worker alone exited): adopt it as a leader that lost its majority.
	 * If it is elected again it resumes pumping on the same timeline;
	 * otherwise it is fenced (see lose_leadership).
	 */
	if (!RecoveryInProgress())
	{
		const dcf_walmap_tl *tl = dcf_walmap_latest_appended(W.walmap);
		TimeLineID	cur = GetWALInsertionTimeLine();

		if (tl == NULL || tl->tli != cur)
			fence_and_stop(psprintf("the server is a primary on timeline %u, which the consensus log does not lead to", cur));
		W.promoted = true;
		W.lead_tli = cur;
		W.suspended = true;
		W.suspended_since_ms = now_ms;
		LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
		dcf_shared->suspended = true;
		LWLockRelease(dcf_shared->lock);
		ereport(LOG, (errmsg("dcf: worker restarted on the primary of timeline %u; waiting to be elected again", cur)));
	}

	memset(&src, 0, sizeof(src));
	src.system_id = GetSystemIdentifier();
	src.position = src_position;
	src.history = src_history;
	src.read = src_read;
	src.on_reply = src_on_reply;
	src.on_feedback = src_on_feedback;
	src.on_diverged = src_on_diverged;
	src.on_wal_missing = src_on_wal_missing;
	src.log = src_log;
	W.feeder = dcf_feeder_create(dcf_data_path_abs, dcf_feeder_port(), &src, err);
	if (W.feeder == NULL)
		ereport(FATAL, (errmsg("dcf cannot start the WAL feeder: %s", err)));
}

/* ---- the loop ------------------------------------------------------------------------ */

typedef enum EvKind
{
	EV_NET = 1,
	EV_FEEDER,
	EV_PUMP
} EvKind;

typedef struct WantedSocket
{
	EvKind		kind;
	pgsocket	fd;
	uint32		events;			/* WL_SOCKET_* */
} WantedSocket;

static void
want_add(WantedSocket *w, int *n, EvKind kind, pgsocket fd, bool r, bool wr)
{
	if (*n >= WORKER_EVENTS_MAX - 2)
		return;
	w[*n].kind = kind;
	w[*n].fd = fd;
	/* a socket with nothing to wait for still reports a hang-up */
	w[*n].events = (r ? WL_SOCKET_READABLE : 0) | (wr ? WL_SOCKET_WRITEABLE : 0);
	if (w[*n].events == 0)
		w[*n].events = WL_SOCKET_CLOSED;
	(*n)++;
}

/*
 * The wait set for these sockets.  PG15 cannot remove a socket from a
 * WaitEventSet, so the set is rebuilt when the list of sockets changed;
 * when only what we wait for changed, ModifyWaitEvent adjusts it.
 * Positions 0 and 1 are the latch and postmaster death.
 */
static WaitEventSet *
wait_set_sync(const WantedSocket *w, int n)
{
	static WaitEventSet *set = NULL;
	static WantedSocket have[WORKER_EVENTS_MAX];
	static int	nhave = -1;
	bool		same = (set != NULL && n == nhave);

	for (int i = 0; same && i < n; i++)
		same = (w[i].kind == have[i].kind && w[i].fd == have[i].fd);
	if (!same)
	{
		if (set)
			FreeWaitEventSet(set);
		set = CreateWaitEventSet(TopMemoryContext, n + 2);
		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		for (int i = 0; i < n; i++)
			AddWaitEventToSet(set, w[i].events, w[i].fd, NULL, (void *) (intptr_t) w[i].kind);
	}
	else
	{
		for (int i = 0; i < n; i++)
			if (w[i].events != have[i].events)
				ModifyWaitEvent(set, i + 2, w[i].events, NULL);
	}
	memcpy(have, w, sizeof(WantedSocket) * n);
	nhave = n;
	return set;
}

void
dcf_worker_main(Datum main_arg)
{
	pqsignal(SIGTERM, worker_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	if (dcf_shared == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dcf shared memory is not initialized")));

	/* The postmaster checked it at start; it may have changed since. */
	if (!dcf_prepare_data_path(ERROR))
		proc_exit(1);

	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	/* what an earlier worker published is no longer true */
	strlcpy(dcf_shared->role, "UNKNOWN", DCF_ROLE_NAME_BYTES);
	dcf_shared->leader_id = 0;
	dcf_shared->leading = false;
	dcf_shared->worker_pid = MyProcPid;
	dcf_shared->worker_started_at = GetCurrentTimestamp();
	dcf_shared->worker_starts++;
	LWLockRelease(dcf_shared->lock);
	before_shmem_exit(worker_exit, (Datum) 0);

	ereport(LOG,
			(errmsg("dcf worker started for node %d, data path \"%s\"",
					dcf_node_id, dcf_data_path_abs)));

	worker_start(mono_ms());

	while (!shutdown_requested)
	{
		WaitEventSet *set;
		WantedSocket want[WORKER_EVENTS_MAX];
		int			nwant;
		WaitEvent	events[WORKER_EVENTS_MAX];
		dcf_net_sock socks[WORKER_EVENTS_MAX];
		dcf_net_sock ready[WORKER_EVENTS_MAX];
		dcf_feeder_fd ffds[DCF_FEEDER_MAX_FDS];
		int			nsocks,
					nffds,
					nready = 0,
					n;
		long		timeout;
		uint64_t	now_ms = mono_ms();
		int			nt;
		int64_t		fw;
		char		err[DCF_ERRMSG_MAX];

		/* this turn's sockets; the wait set is rebuilt only when they change */
		nsocks = dcf_host_socks(W.host, socks, WORKER_EVENTS_MAX - 8);
		nsocks = Min(nsocks, WORKER_EVENTS_MAX - 8);
		nffds = dcf_feeder_fds(W.feeder, ffds, DCF_FEEDER_MAX_FDS);
		nwant = 0;
		for (int i = 0; i < nsocks; i++)
			want_add(want, &nwant, EV_NET, socks[i].fd,
					 (socks[i].events & DCF_NET_READ) != 0, (socks[i].events & DCF_NET_WRITE) != 0);
		for (int i = 0; i < nffds; i++)
			want_add(want, &nwant, EV_FEEDER, ffds[i].fd, ffds[i].want_read, ffds[i].want_write);
		if (W.pump && dcf_pump_socket(W.pump) >= 0)
			want_add(want, &nwant, EV_PUMP, dcf_pump_socket(W.pump),
					 dcf_pump_wants_read(W.pump), dcf_pump_wants_write(W.pump));
		set = wait_set_sync(want, nwant);

		timeout = WORKER_WAIT_MAX_MS;
		nt = dcf_host_timeout_ms(W.host, now_ms);
		if (nt >= 0)
			timeout = Min(timeout, nt);
		timeout = Min(timeout, WORKER_TICK_MIN_MS);
		fw = dcf_feeder_next_wakeup_us(W.feeder);
		if (fw != INT64_MAX)
			timeout = Min(timeout, Max(0, (fw - wall_us()) / 1000));
		if (W.feeder_due_ms != 0)
			timeout = Min(timeout, W.feeder_due_ms > now_ms ? (long) (W.feeder_due_ms - now_ms) : 0);

		n = WaitEventSetWait(set, timeout, events, lengthof(events), PG_WAIT_EXTENSION);
		now_ms = mono_ms();

		for (int i = 0; i < n; i++)
		{
			EvKind		kind = (EvKind) (intptr_t) events[i].user_data;
			bool		closed = (events[i].events & WL_SOCKET_CLOSED) != 0;
			bool		r = closed || (events[i].events & WL_SOCKET_READABLE) != 0;
			bool		w = closed || (events[i].events & WL_SOCKET_WRITEABLE) != 0;

			if (events[i].events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				continue;
			}
			if (kind == EV_NET)
			{
				ready[nready].fd = events[i].fd;
				ready[nready].events = (r ? DCF_NET_READ : 0) | (w ? DCF_NET_WRITE : 0);
				nready++;
			}
			else if (kind == EV_FEEDER)
				dcf_feeder_on_ready(W.feeder, events[i].fd, r, w, wall_us());
		}
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* consensus messages */
		if (dcf_host_net_process(W.host, ready, nready, now_ms, err) != DCF_OK)
			worker_panic("processing consensus messages", err);

		/*
		 * A commit the acknowledgements of this turn completed is reported to
		 * the walsender now, not after this turn's fsync of newer WAL: the
		 * waiting backends need a majority, not this node's next group commit.
		 */
		if (W.pump)
		{
			advance_commit(now_ms);
			dcf_pump_poll(W.pump, wall_us());
		}

		/* the pump: WAL from our walsender becomes proposals */
		if (W.pump)
		{
			if (dcf_pump_poll(W.pump, wall_us()) == DCF_PUMP_FAILED)
			{
				ereport(LOG, (errmsg("dcf: WAL pump: %s", dcf_pump_error(W.pump))));
				propose_collected(now_ms);
				dcf_pump_destroy(W.pump);
				W.pump = NULL;
				W.pump_retry_at_ms = now_ms + WORKER_PUMP_RETRY_MS;
			}
			else
				propose_collected(now_ms);
		}

		/* time */
		if (now_ms - W.last_tick_ms >= WORKER_TICK_MIN_MS)
		{
			if (dcf_host_tick(W.host, now_ms, err) != DCF_OK)
				worker_panic("ticking the consensus core", err);
			W.last_tick_ms = now_ms;
		}

		/* durability, then what waited for it */
		if (dcf_host_flush(W.host, now_ms, err) != DCF_OK)
			worker_panic("making the consensus log durable", err);

		if (!W.promoted && !RecoveryInProgress())
			fence_and_stop("the server is a primary, but dcf did not elect it");
		if (W.role_event)
		{
			W.role_event = false;
			handle_role_change(now_ms);
		}
		if (W.suspended && W.lead == LEAD_NONE &&
			now_ms - W.suspended_since_ms > (uint64_t) WORKER_SUSPEND_TIMEOUTS * dcf_election_timeout_ms)
			fence_and_stop("it was not elected again in time");
		advance_commit(now_ms);
		lead_step(now_ms);
		forward_feedback(now_ms);
		apply_feedback(now_ms);
		if (W.pump)
			dcf_pump_poll(W.pump, wall_us());	/* send the new commit report now */
		dcf_feeder_tick(W.feeder, wall_us());
		if (dcf_host_flush(W.host, now_ms, err) != DCF_OK)
			worker_panic("making the consensus log durable", err);
		recycle_log(now_ms);
		/* shared state: on every role change, else at most every few ms */
		if (W.role_event_published != W.role_events || now_ms - W.last_publish_ms >= WORKER_PUBLISH_EVERY_MS)
		{
			publish(now_ms);
			W.last_publish_ms = now_ms;
			W.role_event_published = W.role_events;
		}
	}

	ereport(LOG, (errmsg("dcf worker shutting down")));
	if (W.pump)
		dcf_pump_destroy(W.pump);
	dcf_host_close(W.host);
	proc_exit(1);
}
