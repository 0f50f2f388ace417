/*-------------------------------------------------------------------------
 *
 * dcf_build_sql.c
 *		SQL functions for dcf_ctl build: dcf_build_hold() and
 *		dcf_build_holds().
 *
 * dcf_build_hold(node_id, start_lsn, lease, renew), on the leader, holds its
 * consensus log from recycling for a build of node_id (see
 * dcf_buildhold.c) and returns what the built node's consensus state must
 * start from:
 *
 *	- without start_lsn (before the copy): a new hold at the commit index;
 *	- renew => true: the running hold's lease extended (an error when it
 *	  lapsed meanwhile: the copy may need entries already recycled);
 *	- with start_lsn, the copy's start (after the copy): the first index of
 *	  the node's log, the term before it, and the membership record for its
 *	  metadata (the membership in force, with learners).
 *
 * A node that is not a member is refused: it must be added first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "core/dcf_codec.h"
#include "pg/dcf_admin.h"
#include "pg/dcf_host.h"
#include "pg/dcf_shmem.h"

PG_FUNCTION_INFO_V1(dcf_build_hold);
PG_FUNCTION_INFO_V1(dcf_build_holds);

#define BUILD_LEASE_MAX_S		86400
#define BUILD_RESOLVE_WAIT_MS	30000

static const char *
hold_state_name(DcfBuildHoldState st)
{
	switch (st)
	{
		case DCF_HOLD_FREE:
			return "free";
		case DCF_HOLD_PENDING:
			return "pending";
		case DCF_HOLD_ACTIVE:
			return "active";
		case DCF_HOLD_LAPSED:
			return "lapsed";
		case DCF_HOLD_RELEASED:
			return "released";
		case DCF_HOLD_FAILED:
			return "failed";
	}
	return "unknown";
}

/* The slot of node_id, else a free one, else the oldest finished one; -1 none. */
static int
hold_slot(uint32 node_id)
{
	int			best = -1;

	for (int i = 0; i < DCF_BUILD_HOLDS_MAX; i++)
		if (dcf_shared->build_holds[i].state != DCF_HOLD_FREE && dcf_shared->build_holds[i].node_id == node_id)
			return i;
	for (int i = 0; i < DCF_BUILD_HOLDS_MAX; i++)
	{
		const DcfBuildHold *h = &dcf_shared->build_holds[i];

		if (h->state == DCF_HOLD_FREE)
			return i;
		if (h->state == DCF_HOLD_ACTIVE || h->state == DCF_HOLD_PENDING)
			continue;
		if (best < 0 || h->changed_at < dcf_shared->build_holds[best].changed_at)
			best = i;
	}
	return best;
}

Datum
dcf_build_hold(PG_FUNCTION_ARGS)
{
	uint32		node_id;
	XLogRecPtr	start_lsn = PG_ARGISNULL(1) ? InvalidXLogRecPtr : PG_GETARG_LSN(1);
	int32		lease;
	bool		renew;
	DcfAdminShared *s;
	DcfBuildHold h;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz deadline;
	int			slot;
	uint64		seq;
	bool		wait;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {0};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("node_id, lease and renew of dcf_build_hold must not be null")));
	if (PG_GETARG_INT32(0) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("node_id must be a positive integer")));
	node_id = (uint32) PG_GETARG_INT32(0);
	lease = PG_GETARG_INT32(2);
	renew = PG_GETARG_BOOL(3);
	if (lease < 1 || lease > BUILD_LEASE_MAX_S)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be between 1 and %d seconds", BUILD_LEASE_MAX_S)));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	require_channel();
	s = snapshot();
	require_leader(s);
	if (dcf_membership_find_in(s->members, s->n_members, node_id) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node %u is not a member of the dcf cluster", node_id),
				 errdetail("A node is built only after it was added: its consensus log starts from the membership that names it."),
				 errhint("Add it first with dcf_ctl member --operation=add -u %u -i IP -e PORT (or dcf_add_member()), then build it.",
						 node_id)));

	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	slot = hold_slot(node_id);
	if (renew)
	{
		DcfBuildHold *d = slot >= 0 ? &dcf_shared->build_holds[slot] : NULL;

		if (d == NULL || d->node_id != node_id || d->state == DCF_HOLD_FREE ||
			(d->state != DCF_HOLD_ACTIVE && d->state != DCF_HOLD_PENDING))
		{
			bool		none = d == NULL || d->node_id != node_id || d->state == DCF_HOLD_FREE;
			const char *st = none ? "" : hold_state_name(d->state);

			LWLockRelease(dcf_shared->lock);
			if (none)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("node %u has no build hold to renew", node_id),
						 errhint("Run dcf_ctl build again.")));
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the build hold of node %u is %s", node_id, st),
					 errdetail("The leader may have recycled log entries the copy needs."),
					 errhint("Run dcf_ctl build again.")));
		}
		d->expires_at = now + (TimestampTz) lease * USECS_PER_SEC;
		wait = start_lsn != InvalidXLogRecPtr;
		if (wait)
		{
			d->start_lsn = start_lsn;
			d->seq++;
			dcf_shared->build_posted = true;
		}
	}
	else
	{
		DcfBuildHold *d;

		if (slot < 0)
		{
			LWLockRelease(dcf_shared->lock);
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many builds are running at once"),
					 errdetail("The leader holds its log for at most %d builds.", DCF_BUILD_HOLDS_MAX),
					 errhint("Wait for one to finish.")));
		}
		d = &dcf_shared->build_holds[slot];
		seq = d->seq + 1;
		memset(d, 0, sizeof(*d));
		d->node_id = node_id;
		d->state = DCF_HOLD_PENDING;
		d->start_lsn = start_lsn;
		d->seq = seq;
		d->done_seq = seq - 1;
		d->expires_at = now + (TimestampTz) lease * USECS_PER_SEC;
		d->changed_at = now;
		dcf_shared->build_posted = true;
		wait = true;
	}
	seq = dcf_shared->build_holds[slot].seq;
	LWLockRelease(dcf_shared->lock);

	/* the worker resolves it within a turn, or when the copy's WAL is committed */
	deadline = now + (TimestampTz) BUILD_RESOLVE_WAIT_MS * 1000;
	for (;;)
	{
		LWLockAcquire(dcf_shared->lock, LW_SHARED);
		h = dcf_shared->build_holds[slot];
		LWLockRelease(dcf_shared->lock);
		if (h.node_id != node_id || h.seq < seq)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the build hold of node %u was taken over by another build", node_id)));
		if (!wait || h.done_seq >= seq)
			break;
		if (GetCurrentTimestamp() > deadline)
			ereport(ERROR,
					(errcode(ERRCODE_DCF_ADMIN_TIMEOUT),
					 errmsg("the build hold of node %u was not resolved within %d s", node_id, BUILD_RESOLVE_WAIT_MS / 1000),
					 errdetail("The leader's log does not hold committed WAL up to %X/%X yet.",
							   LSN_FORMAT_ARGS(start_lsn)),
					 errhint("Check that the cluster commits (dcf_ctl list), then run dcf_ctl build again.")));
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10000);
	}
	if (h.state == DCF_HOLD_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not hold the log for the build of node %u: %s", node_id, h.error),
				 errhint("Run dcf_ctl build again.")));

	values[0] = Int64GetDatum((int64) h.hold_index);
	values[1] = Int64GetDatum((int64) h.first_index);
	values[2] = Int64GetDatum((int64) h.prev_term);
	nulls[1] = nulls[2] = h.first_index == 0;
	if (h.first_index != 0)
	{
		dcf_membership *ms = palloc0(sizeof(dcf_membership));
		size_t		cap = 8 + DCF_MEMBERSHIP_ENCODED_MAX_BYTES;
		bytea	   *rec = palloc(VARHDRSZ + cap);
		size_t		len = 0;
		char		err[DCF_ERRMSG_MAX];

		s = snapshot();

		/*
		 * The copy's metadata gets the membership in force at first - 1.  A
		 * change appended past it and not committed yet may still be rolled
		 * back; the rebuilt node would keep it in force for good.  (A
		 * committed one is in force anyway once the node fetches its entry.)
		 */
		if (s->membership_index > h.first_index - 1 && s->change.phase != DCF_CHANGE_NONE)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("cannot complete the build of node %u: a membership change is in flight past the copy's place in the log", node_id),
					 errdetail("Its configuration entry is at log index " UINT64_FORMAT "; the copy ends at index " UINT64_FORMAT ".",
							   (uint64) s->membership_index, (uint64) (h.first_index - 1)),
					 errhint("Run dcf_ctl build again once the change is committed or aborted (dcf_admin_requests() shows it).")));
		ms->n_members = s->n_members;
		memcpy(ms->members, s->members, sizeof(dcf_member) * s->n_members);
		/* an index the new log does not hold: the membership is in force as is */
		if (dcf_host_membership_record(ms, Min(s->membership_index, h.first_index - 1),
									   (uint8_t *) VARDATA(rec), cap, &len, err) != DCF_OK)
			ereport(ERROR, (errmsg("could not encode the membership: %s", err)));
		SET_VARSIZE(rec, VARHDRSZ + len);
		values[3] = PointerGetDatum(rec);
	}
	else
		nulls[3] = true;
	values[4] = TimestampTzGetDatum(h.expires_at);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

Datum
dcf_build_holds(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DcfBuildHold holds[DCF_BUILD_HOLDS_MAX];

	require_channel();
	LWLockAcquire(dcf_shared->lock, LW_SHARED);
	memcpy(holds, dcf_shared->build_holds, sizeof(holds));
	LWLockRelease(dcf_shared->lock);
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < DCF_BUILD_HOLDS_MAX; i++)
	{
		const DcfBuildHold *h = &holds[i];
		Datum		values[8];
		bool		nulls[8] = {0};

		if (h->state == DCF_HOLD_FREE)
			continue;
		values[0] = Int32GetDatum((int32) h->node_id);
		values[1] = CStringGetTextDatum(hold_state_name(h->state));
		values[2] = Int64GetDatum((int64) h->hold_index);
		nulls[2] = h->hold_index == 0;
		values[3] = LSNGetDatum(h->start_lsn);
		nulls[3] = h->start_lsn == InvalidXLogRecPtr;
		values[4] = Int64GetDatum((int64) h->first_index);
		nulls[4] = h->first_index == 0;
		values[5] = TimestampTzGetDatum(h->expires_at);
		values[6] = TimestampTzGetDatum(h->changed_at);
		values[7] = CStringGetTextDatum(h->error);
		nulls[7] = h->error[0] == '\0';
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
