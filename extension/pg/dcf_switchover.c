/*-------------------------------------------------------------------------
 *
 * dcf_switchover.c
 *		dcf_switchover(): the SQL side of a switchover, and the write gate
 *		it closes on the old leader (see dcf_switchover.h for the sequence).
 *
 * The gate is three hooks that act only while a switchover runs: the login
 * hook refuses new sessions (but dcf_ctl's and walsenders), the commit
 * callback refuses the commit of a transaction that wrote, and the log hook
 * turns the "terminating connection due to administrator command" that a
 * session terminated for the switchover gets into a message that says why
 * and where to go.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgwriter.h"
#include "replication/syncrep.h"
#include "replication/walsender.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "pg/dcf_admin.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_policy.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_switchover.h"

PG_FUNCTION_INFO_V1(dcf_switchover);

DcfSwitchoverShared *dcf_switchover_shared = NULL;
int			dcf_switchover_max_lag_mb = 16;

/* seconds after the caller's deadline after which the gate no longer holds */
#define GATE_GRACE_S		10
/* the transfer's own timeout is what is left of the caller's, at least this */
#define TRANSFER_MIN_MS		1000
/* extra wait for the core's report after the transfer's own timeout */
#define REPORT_GRACE_MS		3000

static ClientAuthentication_hook_type prev_auth_hook = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;

/* ---- shared memory ------------------------------------------------------------ */

void
dcf_switchover_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(DcfSwitchoverShared)));
}

void
dcf_switchover_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	dcf_switchover_shared = ShmemInitStruct("dcf_switchover", sizeof(DcfSwitchoverShared), &found);
	if (!found)
	{
		memset(dcf_switchover_shared, 0, sizeof(DcfSwitchoverShared));
		SpinLockInit(&dcf_switchover_shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
dcf_switchover_define_parameters(void)
{
	DefineCustomIntVariable("dcf.switchover_max_lag",
							"Most committed WAL a switchover target's standby may have left to replay.",
							"A target further behind is refused: the writes would stop until it caught up.",
							&dcf_switchover_max_lag_mb,
							16, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MB,
							NULL, NULL, NULL);
}

bool
dcf_switchover_gate_closed(uint32 *target)
{
	DcfSwitchoverShared *s = dcf_switchover_shared;
	bool		closed;

	if (s == NULL)
		return false;
	SpinLockAcquire(&s->mutex);
	closed = s->handing_over ||
		(s->active && GetCurrentTimestamp() < s->deadline + (int64) GATE_GRACE_S * USECS_PER_SEC);
	*target = s->target;
	SpinLockRelease(&s->mutex);
	return closed;
}

void
dcf_switchover_open_gate(const char *why)
{
	DcfSwitchoverShared *s = dcf_switchover_shared;
	bool		was;
	uint32		target;

	SpinLockAcquire(&s->mutex);
	was = s->active && !s->handing_over;
	target = s->target;
	if (was)
	{
		s->active = false;
		s->requester_pid = 0;
		s->request_id = 0;
	}
	SpinLockRelease(&s->mutex);
	if (was)
		ereport(LOG, (errmsg("dcf: switchover to node %u ended (%s); node %d takes writes again",
							 target, why, dcf_node_id)));
}

/* ---- the gate's hooks ----------------------------------------------------------- */

static void
switchover_login_hook(Port *port, int status)
{
	uint32		target;

	if (status == STATUS_OK && !am_walsender && dcf_switchover_gate_closed(&target) &&
		!(port->application_name && strcmp(port->application_name, "dcf_ctl") == 0))
		ereport(FATAL,
				(errcode(ERRCODE_CANNOT_CONNECT_NOW),
				 errmsg("dcf node %d is handing leadership over to node %u", dcf_node_id, target),
				 errdetail("A switchover is in progress; this node takes no new sessions."),
				 errhint("Connect to node %u once it leads (dcf_ctl list shows the leader).", target)));
	if (prev_auth_hook)
		prev_auth_hook(port, status);
}

static void
switchover_xact_callback(XactEvent event, void *arg)
{
	uint32		target;

	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PRE_PREPARE)
		return;
	if (!TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return;
	if (dcf_switchover_gate_closed(&target))
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot commit: dcf node %d is handing leadership over to node %u", dcf_node_id, target),
				 errdetail("A switchover is in progress; the transaction was not committed."),
				 errhint("Run it again on node %u once it leads.", target)));
}

/* A session terminated for the switchover says so. */
static void
switchover_emit_log(ErrorData *edata)
{
	uint32		target;

	if (edata->elevel == FATAL && edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN &&
		MyBackendType == B_BACKEND && dcf_switchover_gate_closed(&target))
	{
		edata->message = psprintf("terminating connection: dcf node %d hands leadership over to node %u (switchover)",
								  dcf_node_id, target);
		edata->detail = pstrdup("Acknowledged commits are kept; a transaction still open was rolled back.");
		edata->hint = psprintf("Reconnect to node %u once it leads.", target);
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
dcf_switchover_install(void)
{
	prev_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = switchover_login_hook;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = switchover_emit_log;
	RegisterXactCallback(switchover_xact_callback, NULL);
}

/* ---- checks ------------------------------------------------------------------------ */

static const DcfMemberState *
member_state(const DcfShared *sh, uint32 node_id)
{
	for (int i = 0; i < sh->nmembers; i++)
		if ((uint32) sh->members[i].member.node_id == node_id)
			return &sh->members[i];
	return NULL;
}

/*
 * Every refusal with its own reason.  Returns false when the target leads
 * already (nothing to do).
 */
static bool
check_target(const DcfAdminShared *a, uint32 target)
{
	DcfShared  *sh = palloc(sizeof(DcfShared));
	const dcf_member *m;
	const DcfMemberState *ms;
	uint64		lag;
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(dcf_shared->lock, LW_SHARED);
	memcpy(sh, dcf_shared, sizeof(DcfShared));
	LWLockRelease(dcf_shared->lock);

	if (!a->is_leader)
	{
		if (a->leader_id == target)
			return false;
		m = a->leader_id ? dcf_membership_find_in(a->members, a->n_members, a->leader_id) : NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node %d is not the leader of the dcf cluster", dcf_node_id),
				 m ? errdetail("The leader is node %u, dcf address %s:%u.", m->node_id, m->ip, m->port) :
				 errdetail("No leader is known right now."),
				 errhint("Run dcf_switchover() on the leader; dcf_ctl switchover finds it.")));
	}
	if (target == (uint32) dcf_node_id)
		return false;
	if (!sh->leading)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node %d is still becoming the leader", dcf_node_id),
				 errdetail("It was elected but does not pump WAL yet (promotion in progress)."),
				 errhint("Try again once it accepts writes.")));
	m = dcf_membership_find_in(a->members, a->n_members, target);
	if (m == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node %u is not a member of the dcf cluster", target),
				 errhint("dcf_membership() lists the members.")));
	if (!dcf_member_may_lead(m))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot switch over to node %u: it is a %s member", target,
						m->learner ? "learner" : dcf_role_name(m->role)),
				 errdetail("LOGGER and PASSIVE members, and learners still catching up, never lead."),
				 errhint("Choose a FOLLOWER member, or change the role of node %u first (dcf_ctl member --operation=change).", target)));
	if (a->change.phase != DCF_CHANGE_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot switch over to node %u: a membership change is in progress", target),
				 errdetail("%s of node %u has not finished yet.", dcf_admin_kind_name(a->change.kind), a->change.node_id),
				 errhint("Wait for it to finish (dcf_admin_requests() shows it), then try again.")));
	if (a->transfer_target != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot switch over to node %u: a leadership transfer to node %u is in progress", target,
						a->transfer_target),
				 errhint("Wait for it to finish, then try again.")));
	ms = member_state(sh, target);
	if (ms == NULL || !ms->connected || ms->last_heard_ms < 0 ||
		ms->last_heard_ms > 2 * (int64) dcf_election_timeout_ms)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot switch over to node %u: it is not connected to the leader", target),
				 ms && ms->last_heard_ms >= 0 ?
				 errdetail("The leader last heard from it %lld ms ago.", (long long) ms->last_heard_ms) :
				 errdetail("The leader has not heard from it since it took over."),
				 errhint("Check that node %u runs (dcf_ctl list shows every member's state).", target)));
	{
		bool		peer_minority;

		if (dcf_policy_peer_minority(target, &peer_minority) &&
			peer_minority != (sh->work_mode == DCF_WORK_MODE_MINORITY))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot switch over to node %u: it works in %s mode, the leader in %s mode", target,
							peer_minority ? "minority" : "normal",
							sh->work_mode == DCF_WORK_MODE_MINORITY ? "minority" : "normal"),
					 errdetail("The votes it would need do not count across work modes."),
					 errhint("Switch it to the leader's work mode first (dcf_ctl setrunmode).")));
	}
	if (ms->needs_build)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot switch over to node %u: it needs a rebuild", target),
				 errdetail("It fell so far behind that the leader recycled the log it needs.")));
	if (ms->repairing)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot switch over to node %u: it is repairing its consensus log", target),
				 errhint("Wait until dcf_replication_info() on node %u shows repair_index 0.", target)));
	lag = ms->report.received_at == 0 ? 0 :
		sh->paxos_commit_lsn > ms->report.replay_lsn ? sh->paxos_commit_lsn - ms->report.replay_lsn : 0;
	if (lag > (uint64) dcf_switchover_max_lag_mb * 1024 * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot switch over to node %u: it is behind by %llu bytes of WAL", target,
						(unsigned long long) lag),
				 errdetail("Its standby has replayed up to %X/%X, the cluster committed up to %X/%X; the limit is dcf.switchover_max_lag = %d MB.",
						   LSN_FORMAT_ARGS(ms->report.replay_lsn), LSN_FORMAT_ARGS(sh->paxos_commit_lsn),
						   dcf_switchover_max_lag_mb),
				 errhint("Wait until it catches up (dcf_ctl list shows its lag), or raise dcf.switchover_max_lag.")));
	if (ms->report.received_at == 0 ||
		TimestampDifferenceExceeds(ms->report.received_at, now, DCF_MEMBER_REPORT_STALE_MS) ||
		ms->report.state != DCF_RSTATE_STREAMING)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot switch over to node %u: its standby is not streaming", target),
				 errdetail("The leader has no recent status report from node %u saying that it follows the newest timeline.", target),
				 errhint("Wait until dcf_ctl list shows node %u as streaming.", target)));
	pfree(sh);
	return true;
}

/* ---- stopping the writes ---------------------------------------------------------- */

/*
 * Terminate every client session and autovacuum worker but this one; a
 * session waiting for its commit to be acknowledged is left until it is.
 * Returns how many are still there.
 */
static int
terminate_sessions(void)
{
	int			left = 0;
	int			n;

	pgstat_clear_backend_activity_snapshot();
	n = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *l = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *b;
		PGPROC	   *proc;

		if (l == NULL)
			continue;
		b = &l->backendStatus;
		if (b->st_procpid <= 0 || b->st_procpid == MyProcPid ||
			(b->st_backendType != B_BACKEND && b->st_backendType != B_AUTOVAC_WORKER))
			continue;
		proc = BackendPidGetProc(b->st_procpid);
		if (proc == NULL)
			continue;
		left++;
		if (proc->syncRepState == SYNC_REP_WAITING)
			continue;
		(void) kill(b->st_procpid, SIGTERM);
	}
	pgstat_clear_backend_activity_snapshot();
	return left;
}

/* The end of the WAL this server wrote, flushed. */
static XLogRecPtr
wal_end_flushed(void)
{
	XLogRecPtr	ins = GetXLogInsertRecPtr();
	XLogRecPtr	fl = GetFlushRecPtr(NULL);

	/* an insert position just past a page header holds nothing yet */
	if (ins > fl && !(fl % XLOG_BLCKSZ == 0 && ins - fl <= SizeOfXLogLongPHD))
	{
		XLogFlush(ins);
		fl = GetFlushRecPtr(NULL);
	}
	return fl;
}

static void
drain_writes(uint32 target, TimestampTz deadline)
{
	for (;;)
	{
		int			left = terminate_sessions();
		XLogRecPtr	end = wal_end_flushed();
		XLogRecPtr	committed;

		LWLockAcquire(dcf_shared->lock, LW_SHARED);
		committed = dcf_shared->paxos_commit_lsn;
		LWLockRelease(dcf_shared->lock);
		if (left == 0 && committed >= end)
			return;
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_DCF_ADMIN_TIMEOUT),
					 errmsg("switchover to node %u timed out before the leader's last writes were committed", target),
					 errdetail("%d sessions were still ending; the log had committed WAL up to %X/%X of %X/%X.",
							   left, LSN_FORMAT_ARGS(committed), LSN_FORMAT_ARGS(end)),
					 errhint("Node %d takes writes again; dcf_replication_info() shows whether its majority is reachable.",
							 dcf_node_id)));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 5, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* ---- dcf_switchover(target, timeout) ------------------------------------------------ */

static Datum
result_row(FunctionCallInfo fcinfo, uint64 id, uint32 old_leader, uint32 new_leader, const char *outcome)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {0};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum((int64) id);
	nulls[0] = id == 0;
	values[1] = Int32GetDatum((int32) old_leader);
	values[2] = Int32GetDatum((int32) new_leader);
	values[3] = CStringGetTextDatum(outcome);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
}

Datum
dcf_switchover(PG_FUNCTION_ARGS)
{
	DcfSwitchoverShared *s;
	dcf_admin_request req;
	DcfAdminSlot out;
	DcfAdminState st;
	TimestampTz deadline;
	int32		target_arg,
				timeout_s;
	uint32		target;
	uint64		id = 0;
	bool		busy;
	uint32		busy_target;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of dcf_switchover must not be null")));
	target_arg = PG_GETARG_INT32(0);
	timeout_s = PG_GETARG_INT32(1);
	if (target_arg < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target must be a positive node id")));
	if (timeout_s < 1 || timeout_s > 86400)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be between 1 and 86400 seconds")));
	target = (uint32) target_arg;
	require_channel();
	s = dcf_switchover_shared;
	deadline = GetCurrentTimestamp() + (int64) timeout_s * USECS_PER_SEC;

	if (!check_target(snapshot(), target))
	{
		ereport(NOTICE, (errmsg("node %u already leads the dcf cluster", target)));
		PG_RETURN_DATUM(result_row(fcinfo, 0, target, target, "already leader"));
	}

	/* a checkpoint now keeps the old leader's restart short; writes still run */
	RequestCheckpoint(CHECKPOINT_IMMEDIATE | CHECKPOINT_FORCE | CHECKPOINT_WAIT);
	(void) check_target(snapshot(), target);

	SpinLockAcquire(&s->mutex);
	busy = s->active || s->handing_over;
	busy_target = s->target;
	if (!busy)
	{
		s->active = true;
		s->target = target;
		s->requester_pid = MyProcPid;
		s->request_id = 0;
		s->deadline = deadline;
		s->outcome_seen = false;
	}
	SpinLockRelease(&s->mutex);
	if (busy)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot switch over to node %u: a switchover to node %u is in progress", target, busy_target),
				 errhint("Wait for it to finish; dcf_admin_requests() shows its outcome.")));
	ereport(LOG, (errmsg("dcf: switchover to node %u: writes stopped on node %d", target, dcf_node_id)));

	PG_TRY();
	{
		long		left_ms;

		drain_writes(target, deadline);
		memset(&req, 0, sizeof(req));
		req.kind = DCF_ADMIN_TRANSFER_LEADER;
		req.node_id = target;
		left_ms = (long) ((deadline - GetCurrentTimestamp()) / 1000);
		req.value = (uint32) Max(left_ms, TRANSFER_MIN_MS);
		id = dcf_admin_post(&req);
		SpinLockAcquire(&s->mutex);
		s->request_id = id;
		SpinLockRelease(&s->mutex);
		st = dcf_admin_wait(id, (int) req.value + REPORT_GRACE_MS, &out);
	}
	PG_CATCH();
	{
		/* a request still running is the worker's to finish */
		SpinLockAcquire(&s->mutex);
		if (id != 0)
			s->requester_pid = 0;
		SpinLockRelease(&s->mutex);
		if (id == 0)
			dcf_switchover_open_gate("the caller gave up before the transfer started");
		PG_RE_THROW();
	}
	PG_END_TRY();

	switch (st)
	{
		case DCF_ADMIN_COMMITTED:
			SpinLockAcquire(&s->mutex);
			s->outcome_seen = true;
			SpinLockRelease(&s->mutex);
			PG_RETURN_DATUM(result_row(fcinfo, id, (uint32) dcf_node_id, target, "done"));
		case DCF_ADMIN_REFUSED:
			dcf_switchover_open_gate("refused");
			ereport(ERROR,
					(errcode(out.core_rc == DCF_ERR_STATE ? ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE :
							 ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("could not switch over to node %u: %s", target, out.reason),
					 errdetail("Node %d takes writes again.", dcf_node_id)));
			break;
		case DCF_ADMIN_ABORTED:
			dcf_switchover_open_gate("aborted");
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("switchover to node %u was aborted: %s", target, out.reason),
					 errdetail("Node %d takes writes again (request " UINT64_FORMAT ").", dcf_node_id, id),
					 errhint("dcf_ctl list shows whether node %u runs and keeps up.", target)));
			break;
		default:
			SpinLockAcquire(&s->mutex);
			s->requester_pid = 0;
			SpinLockRelease(&s->mutex);
			ereport(ERROR,
					(errcode(ERRCODE_DCF_ADMIN_TIMEOUT),
					 errmsg("switchover to node %u did not finish within %d s", target, timeout_s),
					 errdetail("Request " UINT64_FORMAT " is still %s.", id, dcf_admin_state_name(st)),
					 errhint("SELECT * FROM dcf_admin_requests() WHERE id = " UINT64_FORMAT " shows its outcome.", id)));
	}
	PG_RETURN_NULL();
}

/* ---- dcf_promote(timeout) ---------------------------------------------------------- */

/*
 * Start an election on this node now (run mode 2 has no automatic ones) and
 * wait until it leads and its server accepts writes.  The core refuses it
 * within an election timeout of hearing from a leader: a node never breaks
 * the lease it promised.
 */
PG_FUNCTION_INFO_V1(dcf_promote);

Datum
dcf_promote(PG_FUNCTION_ARGS)
{
	dcf_admin_request req;
	DcfAdminSlot out;
	DcfAdminState st;
	TimestampTz deadline;
	int32		timeout_s = PG_ARGISNULL(0) ? -1 : PG_GETARG_INT32(0);
	uint64		id;

	if (timeout_s < 1 || timeout_s > 86400)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be between 1 and 86400 seconds")));
	require_channel();
	deadline = GetCurrentTimestamp() + (int64) timeout_s * USECS_PER_SEC;
	memset(&req, 0, sizeof(req));
	req.kind = DCF_ADMIN_PROMOTE;
	id = dcf_admin_post(&req);
	st = dcf_admin_wait(id, timeout_s * 1000, &out);
	if (st == DCF_ADMIN_REFUSED || st == DCF_ADMIN_ABORTED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not promote node %d: %s", dcf_node_id, out.reason),
				 errhint("A node does not campaign within an election timeout of hearing from a leader; dcf_ctl list shows who leads.")));
	if (st != DCF_ADMIN_COMMITTED)
		ereport(ERROR,
				(errcode(ERRCODE_DCF_ADMIN_TIMEOUT),
				 errmsg("promotion of node %d was not taken up by the dcf worker within %d s", dcf_node_id, timeout_s)));
	for (;;)
	{
		bool		leading;
		char		role[DCF_ROLE_NAME_BYTES];

		LWLockAcquire(dcf_shared->lock, LW_SHARED);
		leading = dcf_shared->leading;
		strlcpy(role, dcf_shared->role, sizeof(role));
		LWLockRelease(dcf_shared->lock);
		if (leading)
			PG_RETURN_TEXT_P(cstring_to_text(psprintf("node %d leads", dcf_node_id)));
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_DCF_ADMIN_TIMEOUT),
					 errmsg("node %d started an election but does not lead after %d s", dcf_node_id, timeout_s),
					 errdetail("It is %s now.", role),
					 errhint("It needs the votes of a majority whose logs are not longer than its own.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 20, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
