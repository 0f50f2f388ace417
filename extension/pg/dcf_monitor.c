/*-------------------------------------------------------------------------
 *
 * dcf_monitor.c
 *		Monitoring: dcf_members() (one typed row per member) and
 *		dcf_stats() (cumulative counters), the member status report that
 *		members send their leader, and the counters file.
 *
 * Both SQL functions copy the shared state under the shared lock and build
 * their rows after releasing it (see dcf_shmem.h).
 *
 * dcf_members() shows the cluster as this node sees it.  On the leader
 * (view 'leader') every member has its progress (match index, lag) and its
 * last status report (PostgreSQL port, term, timeline, standby positions,
 * how long it has been behind).  On any other node (view 'local') only the
 * node itself and the leader it follows are known; the other members are
 * listed with state 'unknown'.  dcf_ctl list asks the leader when it can.
 *
 * A member's state:
 *   leading       the promoted leader, pumping WAL
 *   promoting     elected, its standby not yet promoted
 *   streaming     has every committed entry and streams the newest timeline
 *   catching up   connected, but not (yet) there
 *   needs build   released by the leader's log retention, or asked for WAL
 *                 the consensus log no longer has
 *   fenced        a leader that lost leadership (it stops at once, or after
 *                 10 election timeouts without its majority)
 *   down          the leader has not heard from it for 2 election timeouts
 *   unknown       not known from this node (view 'local')
 *   removed       left the membership while this server ran (see
 *                 DcfShared.removed); listed after the members with the
 *                 role it had and its last known PostgreSQL address
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "postmaster/postmaster.h"
#include "replication/walreceiver.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "core/dcf_bytes.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_monitor.h"
#include "pg/dcf_shmem.h"

PG_FUNCTION_INFO_V1(dcf_members);
PG_FUNCTION_INFO_V1(dcf_stats);

#define MEMBERS_COLS 19
#define STATS_COLS 15
#define COUNTERS_MAGIC 0x44434643u	/* "DCFC" */
#define COUNTERS_VERSION 1

/* A member without a status report is "streaming" within this many entries. */
#define MEMBERS_STREAMING_LAG_ENTRIES 64

/* ---- the status report ---------------------------------------------------- */

/*
 * Layout: u8 version, u8 state, u16 zero, u32 pg_port, u32 timeline,
 * u32 zero, u64 term, u64 applied_index, u64 flush_lsn, u64 replay_lsn,
 * i64 behind_ms.
 */
void
dcf_member_report_encode(const DcfMemberReport *r, uint8 *buf)
{
	memset(buf, 0, DCF_MEMBER_REPORT_BYTES);
	buf[0] = DCF_MEMBER_REPORT_VERSION;
	buf[1] = r->state;
	dcf_le_put32(buf + 4, r->pg_port);
	dcf_le_put32(buf + 8, r->timeline);
	dcf_le_put64(buf + 16, r->term);
	dcf_le_put64(buf + 24, r->applied_index);
	dcf_le_put64(buf + 32, r->flush_lsn);
	dcf_le_put64(buf + 40, r->replay_lsn);
	dcf_le_put64(buf + 48, (uint64) r->behind_ms);
}

bool
dcf_member_report_decode(const uint8 *buf, size_t len, DcfMemberReport *r)
{
	if (len != DCF_MEMBER_REPORT_BYTES || buf[0] != DCF_MEMBER_REPORT_VERSION ||
		buf[1] > DCF_RSTATE_FENCED)
		return false;
	memset(r, 0, sizeof(*r));
	r->state = buf[1];
	r->pg_port = dcf_le_get32(buf + 4);
	r->timeline = dcf_le_get32(buf + 8);
	r->term = dcf_le_get64(buf + 16);
	r->applied_index = dcf_le_get64(buf + 24);
	r->flush_lsn = dcf_le_get64(buf + 32);
	r->replay_lsn = dcf_le_get64(buf + 40);
	r->behind_ms = (int64) dcf_le_get64(buf + 48);
	if (r->pg_port > 65535)
		return false;
	return true;
}

void
dcf_monitor_store_report(uint32 from, const DcfMemberReport *r)
{
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < dcf_shared->nmembers; i++)
	{
		if (dcf_shared->members[i].member.node_id != from)
			continue;
		dcf_shared->members[i].report = *r;
		dcf_shared->members[i].report.received_at = now;
	}
	LWLockRelease(dcf_shared->lock);
}

/* ---- the counters file ---------------------------------------------------- */

typedef struct CountersFile
{
	uint32		magic;
	uint32		version;
	DcfCounters counters;
	pg_crc32c	crc;
} CountersFile;

void
dcf_counters_load(const char *data_path, DcfCounters *c)
{
	char		path[MAXPGPATH];
	CountersFile f;
	pg_crc32c	crc;
	int			fd;
	ssize_t		n;

	memset(c, 0, sizeof(*c));
	c->since = GetCurrentTimestamp();
	snprintf(path, sizeof(path), "%s/%s", data_path, DCF_COUNTERS_FILE);
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return;
	n = read(fd, &f, sizeof(f));
	CloseTransientFile(fd);
	if (n != sizeof(f) || f.magic != COUNTERS_MAGIC || f.version != COUNTERS_VERSION)
	{
		ereport(LOG, (errmsg("dcf: ignoring the counters file \"%s\": it is not a version %d counters file",
							 path, COUNTERS_VERSION)));
		return;
	}
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &f, offsetof(CountersFile, crc));
	FIN_CRC32C(crc);
	if (!EQ_CRC32C(crc, f.crc))
	{
		ereport(LOG, (errmsg("dcf: ignoring the counters file \"%s\": its checksum does not match", path)));
		return;
	}
	*c = f.counters;
}

void
dcf_counters_save(const char *data_path, const DcfCounters *c)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	CountersFile f;
	int			fd;

	memset(&f, 0, sizeof(f));
	f.magic = COUNTERS_MAGIC;
	f.version = COUNTERS_VERSION;
	f.counters = *c;
	INIT_CRC32C(f.crc);
	COMP_CRC32C(f.crc, &f, offsetof(CountersFile, crc));
	FIN_CRC32C(f.crc);
	snprintf(path, sizeof(path), "%s/%s", data_path, DCF_COUNTERS_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		return;					/* counters are not worth failing for */
	if (write(fd, &f, sizeof(f)) != sizeof(f))
	{
		CloseTransientFile(fd);
		unlink(tmp);
		return;
	}
	CloseTransientFile(fd);
	if (rename(tmp, path) != 0)
		unlink(tmp);
}

/* ---- dcf_members() -------------------------------------------------------- */

static const char *
reported_state_name(uint8 s)
{
	switch (s)
	{
		case DCF_RSTATE_LEADING:
			return "leading";
		case DCF_RSTATE_STREAMING:
			return "streaming";
		case DCF_RSTATE_CATCHING_UP:
			return "catching up";
		case DCF_RSTATE_NEEDS_BUILD:
			return "needs build";
		case DCF_RSTATE_FENCED:
			return "fenced";
	}
	return "unknown";
}

/* The role a member has in the membership when it is not the leader. */
static const char *
member_role(DcfMemberRole r)
{
	return dcf_member_role_name(r == DCF_MEMBER_LEADER ? DCF_MEMBER_FOLLOWER : r);
}

/*
 * The first columns of a member's row: node_id, is_self, view, role, state,
 * dcf_address, pg_host and pg_port (NULL when 0).  Returns the next column.
 */
static int
member_identity(Datum *values, bool *nulls, const DcfMember *m, bool self, bool leader_view,
				const char *role, const char *state, uint32 pg_port)
{
	int			c = 0;

	values[c++] = Int32GetDatum((int32) m->node_id);
	values[c++] = BoolGetDatum(self);
	values[c++] = CStringGetTextDatum(leader_view ? "leader" : "local");
	values[c++] = CStringGetTextDatum(role);
	values[c++] = CStringGetTextDatum(state);
	values[c++] = CStringGetTextDatum(psprintf(strchr(m->ip, ':') ? "[%s]:%d" : "%s:%d", m->ip, m->port));
	values[c++] = CStringGetTextDatum(m->ip);
	values[c] = Int32GetDatum((int32) pg_port);
	for (int i = 0; i < c; i++)
		nulls[i] = false;
	nulls[c] = pg_port == 0;
	return c + 1;
}

/* This node's own state (the self row), from shared state and the server. */
static const char *
self_state(const DcfShared *st, const DcfMemberReport *rep)
{
	if (st->fenced || st->suspended)
		return "fenced";
	if (st->leading)
		return "leading";
	if (strcmp(st->role, "LEADER") == 0)
		return "promoting";
	if (st->needs_build || rep->state == DCF_RSTATE_NEEDS_BUILD)
		return "needs build";
	return st->joined ? "streaming" : "catching up";
}

Datum
dcf_members(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DcfShared  *st;
	bool		leader_view;
	TimestampTz now = GetCurrentTimestamp();
	int64		down_ms = 2 * (int64) dcf_election_timeout_ms;
	TimeLineID	self_tli = 0;
	XLogRecPtr	self_flush;
	XLogRecPtr	self_replay;

	dcf_require_enabled();
	SetSingleFuncCall(fcinfo, 0);

	st = palloc(sizeof(DcfShared));
	LWLockAcquire(dcf_shared->lock, LW_SHARED);
	memcpy(st, dcf_shared, sizeof(DcfShared));
	LWLockRelease(dcf_shared->lock);

	if (RecoveryInProgress())
	{
		self_replay = GetXLogReplayRecPtr(&self_tli);
		self_flush = Max(GetWalRcvFlushRecPtr(NULL, NULL), self_replay);
	}
	else
	{
		self_tli = GetWALInsertionTimeLine();
		self_flush = self_replay = GetFlushRecPtr(NULL);
	}
	leader_view = st->leader_id != 0 && st->leader_id == (uint32) st->node_id;

	for (int i = 0; i < st->nmembers; i++)
	{
		const DcfMemberState *ms = &st->members[i];
		const DcfMember *m = &ms->member;
		const DcfMemberReport *rep = &ms->report;
		bool		self = m->node_id == (uint32) st->node_id;
		bool		is_leader = st->leader_id != 0 && m->node_id == st->leader_id;
		bool		fresh = rep->received_at != 0 &&
			TimestampDifferenceExceeds(rep->received_at, now, DCF_MEMBER_REPORT_STALE_MS) == false;
		Datum		values[MEMBERS_COLS];
		bool		nulls[MEMBERS_COLS];
		const char *state;
		int			c = 0;
		uint32		pg_port = 0;

		memset(nulls, 0, sizeof(nulls));

		/* state */
		if (self)
			state = self_state(st, rep);
		else if (leader_view)
		{
			/*
			 * Released from log retention: only a rebuild brings it back,
			 * unless it reports it caught up from what the log still held.
			 */
			if (ms->needs_build && !(fresh && rep->state == DCF_RSTATE_STREAMING))
				state = "needs build";
			else if (ms->last_heard_ms < 0 || ms->last_heard_ms > down_ms)
				state = "down";
			else if (fresh && rep->state != DCF_RSTATE_UNKNOWN)
				state = reported_state_name(rep->state);
			else
				state = ms->match_index + MEMBERS_STREAMING_LAG_ENTRIES >= st->last_index ?
					"streaming" : "catching up";
		}
		else if (is_leader)
			state = "leading";
		else
			state = "unknown";

		/* PostgreSQL address: ours, the leader's, or the last report's */
		if (self)
			pg_port = (uint32) PostPortNumber;
		else if (rep->pg_port != 0)
			pg_port = rep->pg_port;
		else if (is_leader)
			pg_port = st->leader_pg_port;

		c = member_identity(values, nulls, m, self, leader_view,
							self ? st->role : is_leader ? "LEADER" : member_role(m->role),
							state, pg_port);

		/* term and timeline */
		if (self || (is_leader && !leader_view))
			values[c++] = Int64GetDatum((int64) st->term);
		else if (rep->received_at != 0)
			values[c++] = Int64GetDatum((int64) rep->term);
		else
			nulls[c++] = true;
		if (self)
			values[c++] = Int32GetDatum((int32) self_tli);
		else if (rep->received_at != 0 && rep->timeline != 0)
			values[c++] = Int32GetDatum((int32) rep->timeline);
		else
			nulls[c++] = true;

		/* progress: the leader knows it for everyone */
		if (leader_view && !self)
		{
			values[c++] = Int64GetDatum((int64) ms->match_index);
			values[c++] = Int64GetDatum((int64) ms->applied_index);
			values[c++] = Int64GetDatum((int64) (st->last_index > ms->match_index ?
												 st->last_index - ms->match_index : 0));
		}
		else if (self)
		{
			values[c++] = Int64GetDatum((int64) st->last_index);
			values[c++] = Int64GetDatum((int64) st->applied_index);
			if (leader_view)
				values[c++] = Int64GetDatum(0);
			else
				nulls[c++] = true;	/* the leader's last index is not known here */
		}
		else
		{
			nulls[c++] = true;
			nulls[c++] = true;
			nulls[c++] = true;
		}

		/* lag in bytes: committed WAL its standby has not replayed */
		if (self)
			values[c++] = Int64GetDatum(leader_view ? 0 :
										(int64) (st->paxos_commit_lsn > self_replay ?
												 st->paxos_commit_lsn - self_replay : 0));
		else if (leader_view && rep->received_at != 0 && rep->replay_lsn != InvalidXLogRecPtr)
			values[c++] = Int64GetDatum((int64) (st->paxos_commit_lsn > rep->replay_lsn ?
												 st->paxos_commit_lsn - rep->replay_lsn : 0));
		else
			nulls[c++] = true;

		/* lag in seconds: how long its standby has been behind */
		if (self && leader_view)
			values[c++] = Float8GetDatum(0.0);
		else if ((self || leader_view) && rep->received_at != 0 && rep->behind_ms >= 0)
			values[c++] = Float8GetDatum(rep->behind_ms / 1000.0);
		else
			nulls[c++] = true;

		/* last heard (leader: from each member; elsewhere: nothing) */
		if (self)
			values[c++] = Int64GetDatum(0);
		else if (leader_view && ms->last_heard_ms >= 0)
			values[c++] = Int64GetDatum(ms->last_heard_ms);
		else
			nulls[c++] = true;
		if (leader_view && !self)
			values[c++] = BoolGetDatum(ms->connected);
		else
			nulls[c++] = true;

		/* standby positions */
		if (self)
		{
			values[c++] = LSNGetDatum(self_flush);
			values[c++] = LSNGetDatum(self_replay);
		}
		else if (leader_view && rep->received_at != 0 && rep->flush_lsn != InvalidXLogRecPtr)
		{
			values[c++] = LSNGetDatum(rep->flush_lsn);
			values[c++] = LSNGetDatum(rep->replay_lsn);
		}
		else
		{
			nulls[c++] = true;
			nulls[c++] = true;
		}
		Assert(c == MEMBERS_COLS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	/* members removed while this server ran: what was known of them */
	for (int i = 0; i < st->nremoved; i++)
	{
		const DcfMember *m = &st->removed[i].member;
		bool		self = m->node_id == (uint32) st->node_id;
		Datum		values[MEMBERS_COLS];
		bool		nulls[MEMBERS_COLS];

		/* the first columns only; term, lag and the rest are NULL */
		memset(nulls, true, sizeof(nulls));
		(void) member_identity(values, nulls, m, self, leader_view, member_role(m->role), "removed",
							   self ? (uint32) PostPortNumber : st->removed[i].report.pg_port);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---- dcf_stats() ---------------------------------------------------------- */

Datum
dcf_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[STATS_COLS];
	bool		nulls[STATS_COLS];
	DcfCounters k;
	int			c = 0;

	dcf_require_enabled();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	LWLockAcquire(dcf_shared->lock, LW_SHARED);
	k = dcf_shared->counters;
	LWLockRelease(dcf_shared->lock);

	memset(nulls, 0, sizeof(nulls));
	if (k.since != 0)
		values[c++] = TimestampTzGetDatum(k.since);
	else
		nulls[c++] = true;		/* the worker has not published yet */
	values[c++] = Int64GetDatum((int64) k.elections);
	values[c++] = Int64GetDatum((int64) k.elections_won);
	values[c++] = Int64GetDatum((int64) k.leader_changes);
	values[c++] = Int64GetDatum((int64) k.term_changes);
	values[c++] = Int64GetDatum((int64) k.committed_entries);
	values[c++] = Int64GetDatum((int64) k.committed_bytes);
	values[c++] = Int64GetDatum((int64) k.log_fsyncs);
	values[c++] = Float8GetDatum(k.log_fsync_us / 1000.0);
	values[c++] = Float8GetDatum(k.log_fsync_max_us / 1000.0);
	values[c++] = Int64GetDatum((int64) k.commits_timed);
	values[c++] = Float8GetDatum(k.commit_latency_us / 1000.0);
	values[c++] = Int64GetDatum((int64) k.fences);
	values[c++] = Int64GetDatum((int64) k.admin_requests);
	values[c++] = Int64GetDatum((int64) k.admin_failures);
	Assert(c == STATS_COLS);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
