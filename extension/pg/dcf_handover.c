/*-------------------------------------------------------------------------
 *
 * dcf_handover.c
 *		The worker's side of a switchover (dcf_switchover.h): the old
 *		leader restarts in place as a standby once the target leads, and
 *		the write gate opens again when a switchover ends without that.
 *
 * handover_claims (from lead_suspend): the leader this node lost its
 * leadership to is the switchover's target, or the target of a transfer the
 * core started itself (priority election), so this is no lost leader to
 * fence: the pump stops and a restart is due.
 *
 * handover_tick (every turn): the due restart, once the caller has read
 * the outcome (at most HANDOVER_WAIT_CALLER_MS); and a gate whose caller is
 * gone or gave up, with no transfer left running, opens again.
 *
 * The restart: if the server's WAL ends where the consensus log's does (no
 * background process wrote after the writes were drained), the outcome is
 * written to <dcf.data_path>/switchover_outcome and the worker exits with
 * status 2, which the postmaster treats as a crash: it stops every process
 * and starts again in place as a standby (standby.signal is kept), whose
 * WAL is a prefix of the new leader's timeline.  Otherwise the node is
 * fenced like any lost leader, and dcf_ctl start rewinds it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/timestamp.h"

#include "pg/dcf_admin.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_switchover.h"
#include "pg/dcf_worker_int.h"

#define HANDOVER_WAIT_CALLER_MS		1000	/* the caller's answer before the restart */
#define HANDOVER_CALLER_MARGIN_MS	100 /* its row on the wire */

static uint64_t restart_due_since = 0;	/* 0: no restart due */
static uint64_t caller_seen_at = 0;
static bool restart_automatic = false;	/* no switchover of ours: a transfer of the core */

bool
handover_claims(DcfWorker *w, uint64_t now_ms)
{
	DcfSwitchoverShared *s = dcf_switchover_shared;
	bool		ours;
	bool		automatic = false;

	if (w->leader_id == 0 || w->leader_id == (uint32_t) dcf_node_id || restart_due_since != 0)
		return restart_due_since != 0;
	SpinLockAcquire(&s->mutex);
	ours = s->active && !s->handing_over && w->leader_id == s->target;
	if (ours)
		s->handing_over = true;
	SpinLockRelease(&s->mutex);
	if (!ours)
	{
		/*
		 * A transfer the core started itself (priority election): nothing
		 * stopped the writes first, so the WAL check of the restart decides
		 * between restarting in place and fencing.
		 */
		dcf_status *st = palloc(sizeof(dcf_status));

		dcf_host_status(w->host, st);
		automatic = st->transfer_target == w->leader_id ||
			(st->has_report && st->last_report.kind == DCF_ADMIN_TRANSFER_LEADER && st->last_report.automatic &&
			 st->last_report.node_id == w->leader_id && st->last_report.rc == DCF_OK);
		pfree(st);
		if (!automatic)
			return false;
	}
	propose_stop_pump(w);
	w->suspended = false;
	restart_due_since = now_ms;
	caller_seen_at = 0;
	restart_automatic = automatic;
	ereport(LOG, (errmsg("dcf: node %u took over by %s in term " UINT64_FORMAT "; node %d restarts as its standby",
						 w->leader_id, automatic ? "a transfer of the core (priority election)" : "switchover",
						 w->term, dcf_node_id)));
	return true;
}

/*
 * The leader stepped down with no leader known yet: during a switchover
 * that is the transfer (the target campaigns), not a lost majority.  Says
 * so in the log and returns true then.
 */
bool
handover_stepped_down(DcfWorker *w)
{
	DcfSwitchoverShared *s = dcf_switchover_shared;
	bool		ours;
	uint32		target;

	SpinLockAcquire(&s->mutex);
	ours = s->active && !s->handing_over;
	target = s->target;
	SpinLockRelease(&s->mutex);
	if (!ours)
		return false;
	ereport(LOG,
			(errmsg("dcf: node %d stepped down in term " UINT64_FORMAT " for the switchover to node %u; acknowledging nothing",
					dcf_node_id, w->term, target),
			 errdetail("It restarts as a standby once node %u leads; if the switchover is aborted it may be elected again, else it is fenced after %d election timeouts.",
					   target, WORKER_SUSPEND_TIMEOUTS)));
	return true;
}

/* Keep the outcome for dcf_admin_requests() after the restart. */
static void
write_outcome(uint64 id, uint32 target, const char *reason)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dcf_data_path_abs, DCF_SWITCHOVER_OUTCOME_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = AllocateFile(tmp, "w");
	if (f == NULL)
	{
		ereport(WARNING, (errcode_for_file_access(), errmsg("could not write \"%s\": %m", tmp)));
		return;
	}
	fprintf(f, "id=" UINT64_FORMAT "\ntarget=%u\nfinished_at=" INT64_FORMAT "\nreason=%s\n",
			id, target, (int64) GetCurrentTimestamp(), reason);
	if (FreeFile(f) != 0)
		return;
	(void) durable_rename(tmp, path, WARNING);
}

static void
restart_as_standby(DcfWorker *w)
{
	DcfSwitchoverShared *s = dcf_switchover_shared;
	const dcf_walmap_tl *tl = dcf_walmap_latest_appended(w->walmap);
	XLogRecPtr	ins = GetXLogInsertRecPtr();
	XLogRecPtr	fl = GetFlushRecPtr(NULL);
	XLogRecPtr	end = Max(ins, fl);
	uint64		id;
	uint32		target;

	SpinLockAcquire(&s->mutex);
	id = restart_automatic ? 0 : s->request_id;
	target = restart_automatic ? w->leader_id : s->target;
	SpinLockRelease(&s->mutex);

	/* the log's WAL must end where ours does (a page header alone adds nothing) */
	if (tl == NULL || tl->tli != w->lead_tli ||
		(end > tl->appended_end &&
		 !(tl->appended_end % XLOG_BLCKSZ == 0 && end - tl->appended_end <= SizeOfXLogLongPHD)))
		fence_and_stop(w, psprintf("it wrote WAL up to %X/%X after handing leadership over, beyond the %X/%X the cluster has",
								   LSN_FORMAT_ARGS(end), LSN_FORMAT_ARGS(tl ? tl->appended_end : 0)));
	if (id != 0)
		write_outcome(id, target, "the target took over; this node restarted as its standby");
	ereport(LOG,
			(errmsg("dcf: node %d restarts as a standby of node %u (%s)", dcf_node_id, target,
					restart_automatic ? "priority election" : "switchover"),
			 errdetail("Its WAL ends at %X/%X, where the new leader's timeline begins; no rewind is needed.",
					   LSN_FORMAT_ARGS(tl->appended_end)),
			 errhint("The postmaster restarts in place (restart_after_crash); with restart_after_crash = off it stops instead, and dcf_ctl start brings it back.")));
	/* a status other than 0 or 1: the postmaster restarts every process */
	proc_exit(2);
}

void
handover_tick(DcfWorker *w, uint64_t now_ms)
{
	DcfSwitchoverShared *s = dcf_switchover_shared;
	bool		active,
				seen;
	int			requester;
	uint64		id;
	TimestampTz deadline;

	SpinLockAcquire(&s->mutex);
	active = s->active;
	seen = s->outcome_seen;
	requester = s->requester_pid;
	id = s->request_id;
	deadline = s->deadline;
	SpinLockRelease(&s->mutex);
	if (restart_due_since != 0 && restart_automatic)
		restart_as_standby(w);
	if (!active)
		return;

	if (restart_due_since != 0)
	{
		if (seen && caller_seen_at == 0)
			caller_seen_at = now_ms;
		if ((caller_seen_at != 0 && now_ms - caller_seen_at >= HANDOVER_CALLER_MARGIN_MS) ||
			requester == 0 || kill(requester, 0) != 0 ||
			now_ms - restart_due_since >= HANDOVER_WAIT_CALLER_MS)
			restart_as_standby(w);
		return;
	}

	/* no restart due: a switchover whose caller left ends with its transfer */
	if (requester != 0 && kill(requester, 0) == 0 &&
		GetCurrentTimestamp() < deadline + (int64) 10 * USECS_PER_SEC)
		return;
	if (w->role == DCF_ROLE_LEADER)
	{
		dcf_status	st;

		dcf_host_status(w->host, &st);
		if (st.transfer_target != DCF_NODE_NONE)
			return;
	}
	else if (w->lead == LEAD_NONE && w->promoted && w->suspended)
		return;					/* stepped down for the transfer: the next leader decides */
	dcf_switchover_open_gate(id ? "its caller left and the transfer ended" : "its caller left");
}

/*
 * After the restart: the switchover this node led before it is in
 * dcf_admin_requests() again, as committed, under its old id.
 */
void
handover_worker_start(void)
{
	char		path[MAXPGPATH];
	char		line[512];
	FILE	   *f;
	uint64		id = 0;
	uint32		target = 0;
	int64		finished = 0;
	char		reason[DCF_ADMIN_REASON_BYTES] = "";
	DcfAdminSlot *slot = NULL;

	snprintf(path, sizeof(path), "%s/%s", dcf_data_path_abs, DCF_SWITCHOVER_OUTCOME_FILE);
	f = AllocateFile(path, "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "id=", 3) == 0)
			id = strtoull(line + 3, NULL, 10);
		else if (strncmp(line, "target=", 7) == 0)
			target = (uint32) strtoul(line + 7, NULL, 10);
		else if (strncmp(line, "finished_at=", 12) == 0)
			finished = strtoll(line + 12, NULL, 10);
		else if (strncmp(line, "reason=", 7) == 0)
			strlcpy(reason, line + 7, sizeof(reason));
	}
	FreeFile(f);
	if (id == 0 || target == 0)
		return;
	LWLockAcquire(dcf_admin_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < DCF_ADMIN_SLOTS; i++)
	{
		DcfAdminSlot *sl = &dcf_admin_shared->slots[i];

		if (sl->id == id)
		{
			slot = NULL;		/* still there: the worker alone restarted */
			break;
		}
		if (slot == NULL && sl->state == DCF_ADMIN_FREE)
			slot = sl;
	}
	if (slot != NULL)
	{
		memset(slot, 0, sizeof(*slot));
		slot->id = id;
		slot->state = DCF_ADMIN_COMMITTED;
		slot->req.kind = DCF_ADMIN_TRANSFER_LEADER;
		slot->req.node_id = target;
		slot->posted_at = finished;
		slot->finished_at = finished;
		strlcpy(slot->reason, reason, sizeof(slot->reason));
		if (dcf_admin_shared->next_id <= id)
			dcf_admin_shared->next_id = id + 1;
	}
	LWLockRelease(dcf_admin_shared->lock);
}
