/*-------------------------------------------------------------------------
 *
 * dcf_buildhold.c
 *		The leader's side of dcf_ctl build: holds on its consensus log.
 *
 * While `dcf_ctl build` copies the leader's data directory with
 * pg_basebackup, the leader must keep every log entry the new copy will
 * need: the new node's consensus log starts at the entry holding the copy's
 * start LSN and catches up from there.  A backend posts a hold for a node
 * (dcf_build_hold(), see dcf_member_sql.c) into DcfShared.build_holds; this
 * file, run by the worker every turn, resolves it:
 *
 *	- without a start LSN (the copy has not begun): the hold is the commit
 *	  index now.  Every WAL position the copy can start at is at or beyond
 *	  the end of the committed WAL, so no entry the new node needs is below.
 *	- with the copy's start LSN R (its backup_label): the first index of the
 *	  new node's log is the first entry whose WAL ends past R (I), and its
 *	  term before it the term of I - 1.  It waits until that entry is
 *	  committed; it fails when I is already recycled.
 *
 * A hold is a lease: it lapses at expires_at unless renewed (dcf_ctl
 * renews it while it copies), so a build that died holds nothing for long.
 * A hold whose node's applied index (as the node reports it) reached its
 * first index is released: from then on the node's own progress keeps what
 * it needs.  progress_recycle_log() keeps everything at or above the lowest
 * active hold (dcf_log_holds.build_hold_index).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "pg/dcf_guc.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_worker_int.h"

#define BUILD_CHECK_EVERY_MS	500 /* expiry and release checks */

static void
hold_set_state(DcfBuildHold *h, DcfBuildHoldState st, TimestampTz now)
{
	h->state = st;
	h->changed_at = now;
}

/* Resolve one posted hold; false when it must wait (WAL not yet committed). */
static bool
hold_resolve(DcfWorker *w, DcfBuildHold *h, TimestampTz now)
{
	dcf_log    *log = dcf_host_log(w->host);
	uint64_t	first = dcf_log_first_index(log);
	uint64_t	index = 0;
	uint64_t	term = 0;

	h->error[0] = '\0';
	if (w->role != DCF_ROLE_LEADER)
	{
		snprintf(h->error, sizeof(h->error), "node %d is no longer the leader", dcf_node_id);
		hold_set_state(h, DCF_HOLD_FAILED, now);
		return true;
	}
	if (h->start_lsn == InvalidXLogRecPtr)
	{
		h->hold_index = Max(w->commit_index, first);
		h->first_index = 0;
		h->prev_term = 0;
		hold_set_state(h, DCF_HOLD_ACTIVE, now);
		return true;
	}
	if (dcf_log_find_key(log, (uint64_t) h->start_lsn + 1, &index) != DCF_OK ||
		index - 1 > w->commit_index)
		return false;			/* the copy's WAL is not committed yet */
	if (index < first || dcf_log_term_at(log, index - 1, &term) != DCF_OK)
	{
		snprintf(h->error, sizeof(h->error),
				 "the log no longer holds index " UINT64_FORMAT " that the copy needs (it starts at index " UINT64_FORMAT ")",
				 index, first);
		hold_set_state(h, DCF_HOLD_FAILED, now);
		return true;
	}
	h->hold_index = index;
	h->first_index = index;
	h->prev_term = term;
	hold_set_state(h, DCF_HOLD_ACTIVE, now);
	return true;
}

static uint64_t
peer_applied(const dcf_status *st, uint32_t node_id, bool *found)
{
	*found = false;
	for (uint32_t p = 0; p < st->n_peers; p++)
		if (st->peers[p].node_id == node_id)
		{
			*found = st->peers[p].state != DCF_PROGRESS_STALE;
			return st->peers[p].applied_index;
		}
	return 0;
}

void
progress_build_step(DcfWorker *w, uint64_t now_ms)
{
	DcfBuildHold holds[DCF_BUILD_HOLDS_MAX];
	uint64_t	seq_seen[DCF_BUILD_HOLDS_MAX];
	bool		changed[DCF_BUILD_HOLDS_MAX];
	TimestampTz now;
	dcf_status	st;
	uint64_t	min_hold = 0;
	bool		any = false;

	if (!dcf_shared->build_posted && now_ms - w->build_checked_ms < BUILD_CHECK_EVERY_MS)
		return;
	w->build_checked_ms = now_ms;
	now = GetCurrentTimestamp();
	dcf_host_status(w->host, &st);

	LWLockAcquire(dcf_shared->lock, LW_SHARED);
	memcpy(holds, dcf_shared->build_holds, sizeof(holds));
	LWLockRelease(dcf_shared->lock);

	for (int i = 0; i < DCF_BUILD_HOLDS_MAX; i++)
	{
		DcfBuildHold *h = &holds[i];

		seq_seen[i] = h->seq;
		changed[i] = false;
		if (h->state == DCF_HOLD_FREE)
			continue;
		if (h->done_seq != h->seq)
		{
			if (h->state != DCF_HOLD_PENDING && h->state != DCF_HOLD_ACTIVE)
				hold_set_state(h, DCF_HOLD_PENDING, now);
			if (hold_resolve(w, h, now))
			{
				h->done_seq = h->seq;
				if (h->state == DCF_HOLD_ACTIVE)
					ereport(LOG,
							(errmsg("dcf: build hold for node %u: the log is kept from index " UINT64_FORMAT " on until %s",
									h->node_id, h->hold_index, timestamptz_to_str(h->expires_at))));
			}
			changed[i] = true;
		}
		if (h->state == DCF_HOLD_ACTIVE && w->role != DCF_ROLE_LEADER)
		{
			snprintf(h->error, sizeof(h->error), "node %d is no longer the leader", dcf_node_id);
			hold_set_state(h, DCF_HOLD_FAILED, now);
			changed[i] = true;
		}
		else if (h->state == DCF_HOLD_ACTIVE && now >= h->expires_at)
		{
			hold_set_state(h, DCF_HOLD_LAPSED, now);
			changed[i] = true;
			ereport(LOG,
					(errmsg("dcf: build hold for node %u lapsed: the log may be recycled below index " UINT64_FORMAT " again",
							h->node_id, h->hold_index),
					 errdetail("Its lease was not renewed: the build stopped or was interrupted.")));
		}
		else if (h->state == DCF_HOLD_ACTIVE && h->first_index != 0)
		{
			bool		found;
			uint64_t	applied = peer_applied(&st, h->node_id, &found);

			if (found && applied >= h->first_index)
			{
				hold_set_state(h, DCF_HOLD_RELEASED, now);
				changed[i] = true;
				ereport(LOG,
						(errmsg("dcf: node %u caught up from its build (applied index " UINT64_FORMAT "); its build hold is released",
								h->node_id, applied)));
			}
		}
		if (h->state == DCF_HOLD_PENDING)
			any = true;
		if (h->state == DCF_HOLD_ACTIVE)
			min_hold = min_hold == 0 ? h->hold_index : Min(min_hold, h->hold_index);
	}

	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < DCF_BUILD_HOLDS_MAX; i++)
	{
		DcfBuildHold *d = &dcf_shared->build_holds[i];

		if (!changed[i])
			continue;
		if (d->seq != seq_seen[i])
		{
			/* posted again meanwhile: resolve that one next turn */
			any = true;
			continue;
		}
		*d = holds[i];
	}
	dcf_shared->build_posted = any;
	LWLockRelease(dcf_shared->lock);
	w->build_hold_index = min_hold;
}
