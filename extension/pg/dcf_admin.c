/*-------------------------------------------------------------------------
 *
 * dcf_admin.c
 *		The admin channel between backends and the consensus worker; see
 *		dcf_admin.h for the protocol.
 *
 * Backends: dcf_admin_post() fills a free (or the oldest final) slot, gives
 * it the next id and wakes the worker; dcf_admin_wait() sleeps on the
 * condition variable until the slot is final or the caller's time is up.
 *
 * Worker: dcf_admin_worker_step() runs once per turn of the event loop.  It
 * takes the posted requests (oldest first), answers re-runs of a change that
 * already happened or is running (an add of a member that is there with the
 * same address, a remove of a node this ring removed) without a second
 * change, steps the others into the core, and applies the reports the core
 * produced (dcf_admin_on_report buffers them, it runs inside host steps).
 * Then it publishes the membership in force.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "pg/dcf_admin.h"
#include "pg/dcf_host.h"
#include "pg/dcf_observe.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_worker_int.h"

DcfAdminShared *dcf_admin_shared = NULL;

static Latch *admin_worker_latch_ptr(void);

/* ---- shared memory -------------------------------------------------------- */

void
dcf_admin_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(DcfAdminShared)) + MAXALIGN(sizeof(Latch *)));
	RequestNamedLWLockTranche("dcf_admin", 1);
}

/* The worker's latch pointer lives right after the struct (same segment). */
static Latch **admin_latch_slot = NULL;

void
dcf_admin_shmem_startup(void)
{
	bool		found;
	bool		found2;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	dcf_admin_shared = ShmemInitStruct("dcf_admin", sizeof(DcfAdminShared), &found);
	admin_latch_slot = ShmemInitStruct("dcf_admin_latch", sizeof(Latch *), &found2);
	if (!found)
	{
		memset(dcf_admin_shared, 0, sizeof(DcfAdminShared));
		dcf_admin_shared->lock = &(GetNamedLWLockTranche("dcf_admin"))->lock;
		ConditionVariableInit(&dcf_admin_shared->cv);
		dcf_admin_shared->next_id = 1;
	}
	if (!found2)
		*admin_latch_slot = NULL;
	LWLockRelease(AddinShmemInitLock);
}

static Latch *
admin_worker_latch_ptr(void)
{
	return admin_latch_slot ? *admin_latch_slot : NULL;
}

const char *
dcf_admin_state_name(DcfAdminState st)
{
	switch (st)
	{
		case DCF_ADMIN_FREE:
			return "free";
		case DCF_ADMIN_POSTED:
			return "posted";
		case DCF_ADMIN_RUNNING:
			return "running";
		case DCF_ADMIN_COMMITTED:
			return "committed";
		case DCF_ADMIN_REFUSED:
			return "refused";
		case DCF_ADMIN_ABORTED:
			return "aborted";
	}
	return "?";
}

static bool
state_final(DcfAdminState st)
{
	return st == DCF_ADMIN_COMMITTED || st == DCF_ADMIN_REFUSED || st == DCF_ADMIN_ABORTED;
}

static uint32
req_target(const dcf_admin_request *req)
{
	return req->kind == DCF_ADMIN_ADD_MEMBER ? req->member.node_id : req->node_id;
}

/* ---- backends ----------------------------------------------------------------- */

uint64
dcf_admin_post(const dcf_admin_request *req)
{
	DcfAdminSlot *slot = NULL;
	uint64		id;
	Latch	   *latch;

	LWLockAcquire(dcf_admin_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < DCF_ADMIN_SLOTS; i++)
	{
		DcfAdminSlot *s = &dcf_admin_shared->slots[i];

		if (s->state == DCF_ADMIN_FREE)
		{
			slot = s;
			break;
		}
		if (state_final(s->state) && (slot == NULL || s->id < slot->id))
			slot = s;
	}
	if (slot == NULL)
	{
		LWLockRelease(dcf_admin_shared->lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many dcf admin requests are in progress"),
				 errdetail("All %d request slots hold requests that are still running.", DCF_ADMIN_SLOTS),
				 errhint("Wait for some of them to finish; dcf_admin_requests() shows them.")));
	}
	memset(slot, 0, sizeof(*slot));
	slot->id = id = dcf_admin_shared->next_id++;
	slot->state = DCF_ADMIN_POSTED;
	slot->req = *req;
	slot->requester_pid = MyProcPid;
	slot->posted_at = GetCurrentTimestamp();
	dcf_admin_shared->posted = true;
	latch = admin_worker_latch_ptr();
	LWLockRelease(dcf_admin_shared->lock);
	if (latch)
		SetLatch(latch);
	return id;
}

static bool
copy_slot(uint64 id, DcfAdminSlot *out)
{
	bool		found = false;

	LWLockAcquire(dcf_admin_shared->lock, LW_SHARED);
	for (int i = 0; i < DCF_ADMIN_SLOTS; i++)
		if (dcf_admin_shared->slots[i].id == id)
		{
			*out = dcf_admin_shared->slots[i];
			found = true;
			break;
		}
	LWLockRelease(dcf_admin_shared->lock);
	return found;
}

DcfAdminState
dcf_admin_wait(uint64 id, int timeout_ms, DcfAdminSlot *out)
{
	TimestampTz deadline = GetCurrentTimestamp() + (int64) Max(timeout_ms, 0) * 1000;

	ConditionVariablePrepareToSleep(&dcf_admin_shared->cv);
	for (;;)
	{
		long		left;

		if (!copy_slot(id, out))
		{
			/* reused by newer requests: the caller waited too long to ask */
			memset(out, 0, sizeof(*out));
			out->id = id;
			out->state = DCF_ADMIN_FREE;
			break;
		}
		if (state_final(out->state))
			break;
		left = (long) ((deadline - GetCurrentTimestamp()) / 1000);
		if (left <= 0)
			break;
		(void) ConditionVariableTimedSleep(&dcf_admin_shared->cv, Min(left, 1000), PG_WAIT_EXTENSION);
		CHECK_FOR_INTERRUPTS();
	}
	ConditionVariableCancelSleep();
	return out->state;
}

/* ---- the worker ------------------------------------------------------------- */

#define ADMIN_REPORTS_MAX 64
#define ADMIN_PUBLISH_EVERY_MS 100	/* membership and leader published at least this often */

static dcf_admin_report pending_reports[ADMIN_REPORTS_MAX];
static char pending_reasons[ADMIN_REPORTS_MAX][DCF_ADMIN_REASON_BYTES];
static int	n_pending_reports = 0;
static bool admin_changed = false;

static void
admin_on_exit(int code, Datum arg)
{
	if (dcf_admin_shared == NULL)
		return;
	LWLockAcquire(dcf_admin_shared->lock, LW_EXCLUSIVE);
	if (dcf_admin_shared->worker_pid == MyProcPid)
	{
		dcf_admin_shared->worker_pid = 0;
		dcf_admin_shared->is_leader = false;
		*admin_latch_slot = NULL;
	}
	LWLockRelease(dcf_admin_shared->lock);
}

/*
 * A new worker does not know what became of the requests an earlier one had
 * stepped into its core: they are aborted (the change may have happened:
 * the membership says).  Posted ones are served by this worker.
 */
void
dcf_admin_worker_start(void)
{
	LWLockAcquire(dcf_admin_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < DCF_ADMIN_SLOTS; i++)
	{
		DcfAdminSlot *s = &dcf_admin_shared->slots[i];

		if (s->state == DCF_ADMIN_RUNNING)
		{
			s->state = DCF_ADMIN_ABORTED;
			s->finished_at = GetCurrentTimestamp();
			strlcpy(s->reason, "the dcf worker restarted while the request ran; look at the membership to see whether it happened",
					sizeof(s->reason));
		}
	}
	dcf_admin_shared->worker_pid = MyProcPid;
	*admin_latch_slot = MyLatch;
	LWLockRelease(dcf_admin_shared->lock);
	before_shmem_exit(admin_on_exit, 0);
	ConditionVariableBroadcast(&dcf_admin_shared->cv);
}

void
dcf_admin_on_report(void *ctx, const dcf_admin_report *report)
{
	(void) ctx;
	if (n_pending_reports >= ADMIN_REPORTS_MAX)
		return;					/* only ever reached by a flood of automatic reports */
	pending_reports[n_pending_reports] = *report;
	strlcpy(pending_reasons[n_pending_reports], report->reason ? report->reason : "",
			DCF_ADMIN_REASON_BYTES);
	pending_reports[n_pending_reports].reason = pending_reasons[n_pending_reports];
	n_pending_reports++;
}

static void
finish(DcfAdminSlot *s, DcfAdminState st, int rc, const char *reason)
{
	s->state = st;
	s->core_rc = rc;
	s->finished_at = GetCurrentTimestamp();
	observe_admin(st == DCF_ADMIN_COMMITTED);
	strlcpy(s->reason, reason, sizeof(s->reason));
	admin_changed = true;
}

/* Apply the buffered reports to the running requests they answer. */
static void
apply_reports(const dcf_membership *ms)
{
	if (n_pending_reports == 0)
		return;
	LWLockAcquire(dcf_admin_shared->lock, LW_EXCLUSIVE);
	for (int r = 0; r < n_pending_reports; r++)
	{
		const dcf_admin_report *rep = &pending_reports[r];

		if (rep->automatic)
			ereport(LOG, (errmsg("dcf: %s of node %u done by the core itself: %s",
								 dcf_admin_kind_name(rep->kind), rep->node_id, rep->reason)));
		for (int i = 0; i < DCF_ADMIN_SLOTS; i++)
		{
			DcfAdminSlot *s = &dcf_admin_shared->slots[i];
			const dcf_member *m;

			if (s->state != DCF_ADMIN_RUNNING || s->req.kind != rep->kind ||
				req_target(&s->req) != rep->node_id)
				continue;
			if (rep->automatic && !(rep->kind == DCF_ADMIN_ADD_MEMBER && s->learner_added))
				continue;
			if (rep->index)
				s->config_index = rep->index;
			if (rep->rc == DCF_OK)
				finish(s, DCF_ADMIN_COMMITTED, rep->rc, rep->reason);
			else if (rep->kind == DCF_ADMIN_ADD_MEMBER && rep->rc == DCF_ERR_TIMEOUT &&
					 (m = dcf_membership_find(ms, rep->node_id)) != NULL && m->learner)
			{
				/* the learner is in: any leader promotes it once it has caught up */
				s->learner_added = true;
				snprintf(s->reason, sizeof(s->reason),
						 "node %u is a learner; it becomes a voter once it has caught up", rep->node_id);
				admin_changed = true;
			}
			else
				finish(s, DCF_ADMIN_ABORTED, rep->rc, rep->reason);
		}
	}
	n_pending_reports = 0;
	LWLockRelease(dcf_admin_shared->lock);
}

/* Does the ring hold a remove of node_id that ran or runs (other than skip)? */
static DcfAdminState
earlier_remove(uint32 node_id, uint64 skip)
{
	DcfAdminState best = DCF_ADMIN_FREE;

	for (int i = 0; i < DCF_ADMIN_SLOTS; i++)
	{
		DcfAdminSlot *s = &dcf_admin_shared->slots[i];

		if (s->id == skip || s->req.kind != DCF_ADMIN_REMOVE_MEMBER || s->req.node_id != node_id)
			continue;
		if (s->state == DCF_ADMIN_COMMITTED || s->state == DCF_ADMIN_RUNNING)
			best = s->state;
	}
	return best;
}

/*
 * Re-runs answered without a second change.  Returns true when the slot was
 * settled (final, or attached to the change already running).  Called with
 * the lock held.
 */
static bool
answer_rerun(DcfAdminSlot *s, const dcf_membership *ms, const dcf_status *st)
{
	const dcf_admin_request *req = &s->req;
	const dcf_member *m;
	bool		running = st->change.phase != DCF_CHANGE_NONE && st->change.kind == req->kind &&
		st->change.node_id == req_target(req);

	if (req->kind == DCF_ADMIN_ADD_MEMBER)
	{
		m = dcf_membership_find(ms, req->member.node_id);
		if (m == NULL)
			return false;
		if (strcmp(m->ip, req->member.ip) != 0 || m->port != req->member.port || m->role != req->member.role)
		{
			finish(s, DCF_ADMIN_REFUSED, DCF_ERR_INVALID, "");
			snprintf(s->reason, sizeof(s->reason), "node %u is already a member, as %s at %s:%u",
					 m->node_id, dcf_role_name(m->role), m->ip, m->port);
			return true;
		}
		if (m->learner || running)
		{
			s->state = DCF_ADMIN_RUNNING;
			s->learner_added = m->learner;
			snprintf(s->reason, sizeof(s->reason), "the same addition of node %u is in progress", m->node_id);
			admin_changed = true;
			return true;
		}
		finish(s, DCF_ADMIN_COMMITTED, DCF_OK, "already a member with this address and role (nothing changed)");
		s->config_index = st->membership_index;
		return true;
	}
	if (req->kind == DCF_ADMIN_REMOVE_MEMBER)
	{
		DcfAdminState earlier;

		if (running)
		{
			s->state = DCF_ADMIN_RUNNING;
			strlcpy(s->reason, "the same removal is in progress", sizeof(s->reason));
			admin_changed = true;
			return true;
		}
		if (dcf_membership_find(ms, req->node_id) != NULL)
			return false;
		earlier = earlier_remove(req->node_id, s->id);
		if (earlier == DCF_ADMIN_FREE)
			return false;		/* the core refuses: not a member */
		if (earlier == DCF_ADMIN_RUNNING)
		{
			s->state = DCF_ADMIN_RUNNING;
			strlcpy(s->reason, "the same removal is in progress", sizeof(s->reason));
			admin_changed = true;
			return true;
		}
		finish(s, DCF_ADMIN_COMMITTED, DCF_OK, "already removed (nothing changed)");
		return true;
	}
	return false;
}

/* An addition that waits for its learner's promotion ends if the learner is removed. */
static void
abort_orphans(const dcf_membership *ms)
{
	LWLockAcquire(dcf_admin_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < DCF_ADMIN_SLOTS; i++)
	{
		DcfAdminSlot *s = &dcf_admin_shared->slots[i];

		if (s->state == DCF_ADMIN_RUNNING && s->learner_added &&
			dcf_membership_find(ms, s->req.member.node_id) == NULL)
			finish(s, DCF_ADMIN_ABORTED, DCF_ERR_STATE, "the learner was removed before it caught up");
	}
	LWLockRelease(dcf_admin_shared->lock);
}

static bool
kind_reports(dcf_admin_kind kind)
{
	switch (kind)
	{
		case DCF_ADMIN_ADD_MEMBER:
		case DCF_ADMIN_REMOVE_MEMBER:
		case DCF_ADMIN_CHANGE_ROLE:
		case DCF_ADMIN_CHANGE_PRIORITY:
		case DCF_ADMIN_CHANGE_GROUP:
		case DCF_ADMIN_TRANSFER_LEADER:
			return true;
		default:
			return false;
	}
}

/* Is node_id in the membership ms? */
static bool
in_membership(const dcf_membership *ms, uint32 node_id)
{
	return dcf_membership_find_in(ms->members, ms->n_members, node_id) != NULL;
}

/*
 * Keep dcf_shared->removed (caller holds dcf_shared->lock exclusively):
 * the members of prev that ms no longer has join it, with what was known
 * of them; members of ms leave it.  When it is full the oldest goes.
 */
static void
note_removed(const DcfMemberState *prev, int nprev, const dcf_membership *ms)
{
	int			n = 0;

	for (int i = 0; i < dcf_shared->nremoved; i++)
		if (!in_membership(ms, dcf_shared->removed[i].member.node_id))
			dcf_shared->removed[n++] = dcf_shared->removed[i];
	dcf_shared->nremoved = n;
	for (int j = 0; j < nprev; j++)
	{
		if (in_membership(ms, prev[j].member.node_id))
			continue;
		if (dcf_shared->nremoved == DCF_MAX_MEMBERS)
		{
			memmove(&dcf_shared->removed[0], &dcf_shared->removed[1],
					sizeof(DcfMemberState) * (DCF_MAX_MEMBERS - 1));
			dcf_shared->nremoved--;
		}
		dcf_shared->removed[dcf_shared->nremoved++] = prev[j];
	}
}

static void
publish_membership(struct dcf_host *host, const dcf_status *st)
{
	uint64_t	index = 0;
	const dcf_membership *ms = dcf_host_membership(host);
	bool		changed;

	index = st->membership_index;
	LWLockAcquire(dcf_admin_shared->lock, LW_EXCLUSIVE);
	changed = dcf_admin_shared->membership_index != index ||
		dcf_admin_shared->n_members != ms->n_members ||
		memcmp(dcf_admin_shared->members, ms->members, sizeof(dcf_member) * ms->n_members) != 0;
	if (changed)
	{
		dcf_admin_shared->membership_index = index;
		dcf_admin_shared->n_members = ms->n_members;
		memcpy(dcf_admin_shared->members, ms->members, sizeof(dcf_member) * ms->n_members);
	}
	if (dcf_admin_shared->leader_id != st->leader_id ||
		dcf_admin_shared->is_leader != (st->role == DCF_ROLE_LEADER))
		admin_changed = true;
	dcf_admin_shared->leader_id = st->leader_id;
	dcf_admin_shared->is_leader = st->role == DCF_ROLE_LEADER;
	dcf_admin_shared->change = st->change;
	dcf_admin_shared->transfer_target = st->transfer_target;
	LWLockRelease(dcf_admin_shared->lock);
	if (!changed)
		return;

	/*
	 * dcf_replication_info(), dcf_members() and dcf_ctl show the membership
	 * in force; what other modules keep per member (progress, status
	 * reports) stays with members that remain.
	 */
	{
		DcfMemberState *prev = palloc(sizeof(DcfMemberState) * DCF_MAX_MEMBERS);
		int			nprev;

		LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
		nprev = dcf_shared->nmembers;
		memcpy(prev, dcf_shared->members, sizeof(DcfMemberState) * DCF_MAX_MEMBERS);
		if (dcf_shared->membership_published)
			note_removed(prev, nprev, ms);
		dcf_shared->membership_published = true;
		dcf_shared->nmembers = (int) Min(ms->n_members, DCF_MAX_MEMBERS);
		for (int i = 0; i < dcf_shared->nmembers; i++)
		{
			DcfMemberState *d = &dcf_shared->members[i];
			const dcf_member *m = &ms->members[i];

			memset(d, 0, sizeof(*d));
			d->last_heard_ms = -1;
			for (int j = 0; j < nprev; j++)
				if (prev[j].member.node_id == m->node_id)
					*d = prev[j];
			d->member.node_id = m->node_id;
			strlcpy(d->member.ip, m->ip, sizeof(d->member.ip));
			d->member.port = m->port;
			d->member.role = dcf_member_role_from_core(m->role);
			d->member.weight = (int) m->weight;
			d->member.group = (int) m->group;
			d->member.priority = (int) m->priority;
		}
		LWLockRelease(dcf_shared->lock);
		pfree(prev);
	}
	ereport(LOG, (errmsg("dcf: membership in force: %u members, configuration entry " UINT64_FORMAT,
						 ms->n_members, index)));
	admin_changed = true;
}

void
dcf_admin_worker_step(struct dcf_host *host, uint64_t now_ms, bool role_changed)
{
	static dcf_status st_buf;
	dcf_status *st = &st_buf;
	uint64		taken[DCF_ADMIN_SLOTS];
	int			ntaken = 0;
	static uint64_t last_full_ms = 0;

	/*
	 * The full pass costs two status copies: run it when a request or a
	 * report waits or the role changed this turn (backends check who leads
	 * before they post: a new leader must be known as one at once), else a
	 * few times a second (membership, leader, orphans).
	 */
	if (!dcf_admin_shared->posted && n_pending_reports == 0 && !role_changed &&
		now_ms - last_full_ms < ADMIN_PUBLISH_EVERY_MS)
		return;
	last_full_ms = now_ms;
	admin_changed = false;
	apply_reports(dcf_host_membership(host));

	/* posted requests, oldest first; re-runs answered here */
	dcf_host_status(host, st);
	LWLockAcquire(dcf_admin_shared->lock, LW_EXCLUSIVE);
	dcf_admin_shared->posted = false;
	for (;;)
	{
		DcfAdminSlot *oldest = NULL;

		for (int i = 0; i < DCF_ADMIN_SLOTS; i++)
		{
			DcfAdminSlot *s = &dcf_admin_shared->slots[i];

			if (s->state == DCF_ADMIN_POSTED && (oldest == NULL || s->id < oldest->id))
				oldest = s;
		}
		if (oldest == NULL)
			break;
		if (answer_rerun(oldest, dcf_host_membership(host), st))
			continue;
		oldest->state = DCF_ADMIN_RUNNING;	/* taken: stepped below */
		taken[ntaken++] = oldest->id;
	}
	LWLockRelease(dcf_admin_shared->lock);

	for (int t = 0; t < ntaken; t++)
	{
		DcfAdminSlot *s = NULL;
		dcf_admin_request req;
		char		err[DCF_ERRMSG_MAX];
		dcf_rc		rc;

		LWLockAcquire(dcf_admin_shared->lock, LW_SHARED);
		for (int i = 0; i < DCF_ADMIN_SLOTS; i++)
			if (dcf_admin_shared->slots[i].id == taken[t])
				s = &dcf_admin_shared->slots[i];
		req = s->req;
		LWLockRelease(dcf_admin_shared->lock);

		err[0] = '\0';
		rc = dcf_host_admin(host, &req, now_ms, err);
		if (rc != DCF_OK && rc != DCF_ERR_STATE && rc != DCF_ERR_INVALID && rc != DCF_ERR_FULL)
			worker_panic("stepping an admin request into the consensus core", err);
		ereport(LOG, (errmsg("dcf: admin request " UINT64_FORMAT " (%s of node %u): %s",
							 taken[t], dcf_admin_kind_name(req.kind), req_target(&req),
							 rc == DCF_OK ? "accepted" : err)));
		LWLockAcquire(dcf_admin_shared->lock, LW_EXCLUSIVE);
		if (rc != DCF_OK)
			finish(s, DCF_ADMIN_REFUSED, rc, err);
		else if (!kind_reports(req.kind))
			finish(s, DCF_ADMIN_COMMITTED, rc, "done");
		LWLockRelease(dcf_admin_shared->lock);
		/* a report of this very step ("nothing to change") */
		apply_reports(dcf_host_membership(host));
		admin_changed = true;
	}

	dcf_host_status(host, st);
	publish_membership(host, st);
	abort_orphans(dcf_host_membership(host));
	if (admin_changed)
		ConditionVariableBroadcast(&dcf_admin_shared->cv);
}
