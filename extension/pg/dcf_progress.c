/*-------------------------------------------------------------------------
 *
 * dcf_progress.c
 *		The worker's progress bookkeeping: commit and applied indexes, log
 *		recycling, and hot standby feedback relayed to the leader.
 *
 * Commit: the core's commit index moves the WAL map's committed ends; the
 * leader's pump reports the committed end of its timeline to the walsender
 * (write = flush = apply), which releases the backends waiting in
 * synchronous replication; a follower hands the newly committed WAL to its
 * standby in batches (see walsrc_batching).
 *
 * Applied: the leader has applied everything it committed; a follower what
 * its standby has flushed.  The applied index goes to the core (the leader
 * learns every member's) and to the metadata file at most every
 * WORKER_APPLIED_SAVE_MS.
 *
 * Recycling: the log is truncated below the applied index, never below
 * the cluster's minimum applied index on the leader, nor below an active
 * build hold (dcf_buildhold.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/xlogdefs.h"

#include "pg/dcf_guc.h"
#include "pg/dcf_walentry.h"
#include "pg/dcf_monitor.h"
#include "pg/dcf_observe.h"
#include "pg/dcf_worker_int.h"

static void on_recycle_floor(DcfWorker *w, uint32_t from, const uint8_t *data);

/*
 * Hot standby feedback travels follower -> leader as a host message of 16
 * bytes (four little-endian u32); the leader hands the oldest xmin and
 * catalog_xmin of all members that reported recently to its walsender
 * through the pump, so vacuum on the leader keeps what standbys still read.
 */
void
progress_forward_feedback(DcfWorker *w, uint64_t now_ms)
{
	uint8_t		buf[16];
	char		err[DCF_ERRMSG_MAX];

	if (w->role == DCF_ROLE_LEADER || w->leader_id == 0 || w->fb_mine[0] == 0)
		return;
	if (!w->fb_changed && now_ms - w->fb_sent_ms < WORKER_FEEDBACK_EVERY_MS)
		return;
	for (int i = 0; i < 4; i++)
		for (int b = 0; b < 4; b++)
			buf[i * 4 + b] = (uint8_t) (w->fb_mine[i] >> (8 * b));
	if (dcf_host_send_app(w->host, w->leader_id, MSG_HOT_STANDBY_FEEDBACK, buf, sizeof(buf), err) == DCF_OK)
	{
		w->fb_sent_ms = now_ms;
		w->fb_changed = false;
	}
}

void
progress_on_app_message(void *ctx, uint32_t from, uint8_t type, const uint8_t *data, size_t len)
{
	DcfWorker  *w = (DcfWorker *) ctx;
	int			slot = -1;

	if (type == MSG_RECYCLE_FLOOR && len == 9)
	{
		on_recycle_floor(w, from, data);
		return;
	}
	if (type == DCF_MSG_MEMBER_REPORT)
	{
		observe_on_report(w, from, data, len);
		return;
	}
	if (type == MSG_REMOVED)
	{
		removed_on_message(w, from, data, len);
		return;
	}
	if (type == MSG_PG_ENDPOINT)
	{
		endpoints_on_message(w, from, data, len);
		return;
	}
	if (type == MSG_POLICY)
	{
		policy_on_message(w, from, data, len);
		return;
	}
	if (type != MSG_HOT_STANDBY_FEEDBACK || len != 16)
	{
		ereport(LOG, (errmsg("dcf: ignoring a host message of type %u (%zu bytes) from node %u", type, len, from)));
		return;
	}
	for (int i = 0; i < DCF_MEMBERS_MAX; i++)
		if (w->fb_members[i].node_id == from || (slot < 0 && w->fb_members[i].node_id == 0))
			slot = i;
	if (slot < 0)
		return;
	w->fb_members[slot].node_id = from;
	for (int i = 0; i < 4; i++)
		w->fb_members[slot].v[i] = (uint32_t) data[i * 4] | (uint32_t) data[i * 4 + 1] << 8 |
			(uint32_t) data[i * 4 + 2] << 16 | (uint32_t) data[i * 4 + 3] << 24;
	w->fb_members[slot].at_ms = w->last_tick_ms;
}

/* The oldest (epoch, xid) of recent member feedback, into the pump. */
void
progress_apply_feedback(DcfWorker *w, uint64_t now_ms)
{
	uint64_t	xmin = UINT64_MAX,
				cxmin = UINT64_MAX;

	if (w->pump == NULL)
		return;
	for (int i = 0; i < DCF_MEMBERS_MAX; i++)
	{
		uint32_t   *v = w->fb_members[i].v;

		if (w->fb_members[i].node_id == 0 || now_ms - w->fb_members[i].at_ms > WORKER_FEEDBACK_STALE_MS)
			continue;
		if (v[0] != 0)
			xmin = Min(xmin, ((uint64_t) v[1] << 32) | v[0]);
		if (v[2] != 0)
			cxmin = Min(cxmin, ((uint64_t) v[3] << 32) | v[2]);
	}
	dcf_pump_set_feedback(w->pump,
						  xmin == UINT64_MAX ? 0 : (uint32_t) xmin,
						  xmin == UINT64_MAX ? 0 : (uint32_t) (xmin >> 32),
						  cxmin == UINT64_MAX ? 0 : (uint32_t) cxmin,
						  cxmin == UINT64_MAX ? 0 : (uint32_t) (cxmin >> 32));
}

static uint64_t
progress_index_for_lsn(DcfWorker *w, uint64_t lsn)
{
	uint64_t	idx = 0;
	dcf_log    *log = dcf_host_log(w->host);

	if (dcf_log_find_key(log, lsn + 1, &idx) != DCF_OK)
		idx = dcf_log_last_index(log) + 1;
	return idx > 0 ? idx - 1 : 0;
}

void
progress_advance_commit(DcfWorker *w, uint64_t now_ms)
{
	uint64_t	c = dcf_host_commit_index(w->host);
	uint64_t	applied;
	char		err[DCF_ERRMSG_MAX];

	if (c > w->commit_index)
	{
		w->commit_index = c;
		dcf_walmap_commit(w->walmap, c);
		if (w->feeder_due_ms == 0)
			w->feeder_due_ms = now_ms + WORKER_FEEDER_BATCH_MS;
	}

	/* committed WAL for the standby: see feeder_batching */
	if (w->feeder_due_ms != 0 && (now_ms >= w->feeder_due_ms || !walsrc_batching(w)))
		walsrc_release(w);

	/* the pump reports the committed end of our timeline */
	if (w->pump)
	{
		const dcf_walmap_tl *tl = dcf_walmap_find(w->walmap, w->lead_tli);

		if (tl && tl->committed)
			dcf_pump_set_commit(w->pump, tl->committed_end);
	}

	/* applied: the leader has everything it committed; a follower what its standby flushed */
	if (w->role == DCF_ROLE_LEADER && w->lead == LEAD_PUMP)
		applied = w->commit_index;
	else
		applied = Min(progress_index_for_lsn(w, w->standby_flush_lsn), w->commit_index);
	if (applied > w->applied_index)
	{
		w->applied_index = applied;
		if (dcf_host_applied(w->host, applied, now_ms, err) != DCF_OK)
			worker_panic("reporting the applied index", err);
	}
	if (now_ms - w->last_applied_save_ms >= WORKER_APPLIED_SAVE_MS)
	{
		if (dcf_host_save_applied(w->host, w->applied_index, err) != DCF_OK)
			worker_panic("saving the applied index", err);
		w->last_applied_save_ms = now_ms;
	}
}

/*
 * The leader's recycling floor: the lowest index a member still needs (its
 * applied index; a LOGGER's match index, as it applies nothing but must
 * store the log), except members that fell further behind than
 * dcf.log_retention_size (in WAL bytes from their index to the end of the
 * log) or whose next entries are already gone: those are released, and
 * shown as needing a build.  A member that stays down can thus no longer
 * fill the leader's disk.
 */
static uint64_t
retention_floor(DcfWorker *w, const dcf_status *st)
{
	dcf_log    *log = dcf_host_log(w->host);
	uint64_t	first = dcf_log_first_index(log);
	uint64_t	last = dcf_log_last_index(log);
	uint64_t	last_key = 0;
	uint64_t	cap = (uint64_t) dcf_log_retention_size_mb * 1024 * 1024;
	uint64_t	floor = w->applied_index;

	(void) dcf_log_key_at(log, last, &last_key);
	for (uint32_t p = 0; p < st->n_peers; p++)
	{
		const dcf_peer_status *ps = &st->peers[p];
		uint64_t	idx = ps->role == DCF_ROLE_LOGGER ? ps->match_index : ps->applied_index;
		uint64_t	key = 0;
		bool		released = ps->state == DCF_PROGRESS_STALE;

		if (!released && cap > 0)
		{
			if (idx < first || dcf_log_key_at(log, Max(idx, first), &key) != DCF_OK)
				key = 0;
			released = last_key > key && last_key - key > cap;
		}
		progress_mark_released(w, ps->node_id, released, last_key - Min(key, last_key));
		if (!released)
			floor = Min(floor, idx);
	}
	return floor;
}

/* Remember (and log once) which members the leader released. */
void
progress_mark_released(DcfWorker *w, uint32_t node_id, bool released, uint64_t lag_bytes)
{
	int			slot = -1;

	for (int i = 0; i < DCF_MEMBERS_MAX; i++)
		if (w->released[i] == node_id)
			slot = i;
	if (released && slot < 0)
	{
		for (int i = 0; i < DCF_MEMBERS_MAX && slot < 0; i++)
			if (w->released[i] == 0)
				slot = i;
		if (slot >= 0)
			w->released[slot] = node_id;
		ereport(LOG,
				(errmsg("dcf: node %u is released from log retention; it needs a build", node_id),
				 errdetail("It is " UINT64_FORMAT " MB behind, beyond dcf.log_retention_size (%d MB), or needs entries the log no longer has.",
						   lag_bytes / (1024 * 1024), dcf_log_retention_size_mb),
				 errhint("Rebuild it with dcf_ctl build.")));
	}
	else if (!released && slot >= 0)
		w->released[slot] = 0;
}

bool
progress_is_released(const DcfWorker *w, uint32_t node_id)
{
	for (int i = 0; i < DCF_MEMBERS_MAX; i++)
		if (w->released[i] == node_id && node_id != 0)
			return true;
	return false;
}

/* Tell every member the floor, and whether it was released. */
static void
announce_floor(DcfWorker *w, const dcf_status *st, uint64_t floor)
{
	uint8_t		buf[9];
	char		err[DCF_ERRMSG_MAX];

	for (int b = 0; b < 8; b++)
		buf[b] = (uint8_t) (floor >> (8 * b));
	for (uint32_t p = 0; p < st->n_peers; p++)
	{
		buf[8] = progress_is_released(w, st->peers[p].node_id) ? 1 : 0;
		(void) dcf_host_send_app(w->host, st->peers[p].node_id, MSG_RECYCLE_FLOOR, buf, sizeof(buf), err);
	}
}

/* A member learns the leader's recycling floor and whether it was released. */
static void
on_recycle_floor(DcfWorker *w, uint32_t from, const uint8_t *data)
{
	uint64_t	floor = 0;
	bool		released = data[8] != 0;

	if (from != w->leader_id)
		return;
	for (int b = 0; b < 8; b++)
		floor |= (uint64_t) data[b] << (8 * b);
	w->leader_floor = floor;
	if (released && !w->needs_build)
		ereport(WARNING,
				(errmsg("dcf: node %d fell too far behind its leader (node %u) and needs a build", dcf_node_id, from),
				 errdetail("The leader no longer keeps the log this node needs (dcf.log_retention_size)."),
				 errhint("Rebuild it with dcf_ctl build.")));
	w->needs_build = released;
}

void
progress_recycle_log(DcfWorker *w, uint64_t now_ms)
{
	dcf_status	st;
	dcf_log_holds holds;
	uint64_t	below;
	char		err[DCF_ERRMSG_MAX];

	if (now_ms - w->last_recycle_ms < WORKER_RECYCLE_EVERY_MS)
		return;
	w->last_recycle_ms = now_ms;
	dcf_host_status(w->host, &st);
	if (st.role == DCF_ROLE_LEADER)
	{
		below = retention_floor(w, &st);
		/* a follower that becomes leader keeps what a running build needs */
		announce_floor(w, &st, w->build_hold_index ? Min(below, w->build_hold_index - 1) : below);
	}
	else
	{
		/* only below what the leader says every member has */
		below = Min(w->applied_index, w->leader_floor);
	}
	holds.min_applied_index = below;
	holds.build_hold_index = st.role == DCF_ROLE_LEADER ? w->build_hold_index : 0;
	if (below == 0)
		return;
	if (dcf_log_truncate_prefix(dcf_host_log(w->host), below, &holds, NULL, err) != DCF_OK)
		worker_panic("recycling the log", err);
}
