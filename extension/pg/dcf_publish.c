/*-------------------------------------------------------------------------
 *
 * dcf_publish.c
 *		The node's state published to shared memory for the SQL functions
 *		and the login gate (see dcf_shmem.h for the locking protocol).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/xlogdefs.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "pg/dcf_guc.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_observe.h"
#include "pg/dcf_worker_int.h"

void
publish_state(DcfWorker *w, uint64_t now_ms)
{
	dcf_status	st;
	const dcf_walmap_tl *tl = dcf_walmap_latest(w->walmap);
	const dcf_walmap_tl *atl = dcf_walmap_latest_appended(w->walmap);
	dcf_feeder_status fs;
	bool		joined;

	dcf_host_status(w->host, &st);
	if (w->feeder)
		dcf_feeder_get_status(w->feeder, &fs);
	else
		memset(&fs, 0, sizeof(fs));
	/*
	 * Joined: the leader once it pumps WAL; a follower once it knows the
	 * leader, has every entry the leader committed (so its newest timeline
	 * is the cluster's) and its standby streams that timeline (it got past
	 * every timeline end, so its WAL did not diverge).
	 */
	joined = (st.role == DCF_ROLE_LEADER && w->lead == LEAD_PUMP && w->pump &&
			  dcf_pump_get_state(w->pump) == DCF_PUMP_STREAMING) ||
		(st.role != DCF_ROLE_LEADER && st.leader_id != 0 && fs.state == DCF_FEEDER_STREAMING &&
		 dcf_host_leader_commit(w->host) > 0 && w->commit_index >= dcf_host_leader_commit(w->host) &&
		 (tl == NULL || (fs.tli == tl->tli && fs.flush_lsn >= tl->begin_lsn)));

	if (w->bad_index != 0)
		joined = false;			/* see map_entry */
	if (w->diverged)
	{
		/* its server has WAL the cluster never had: no reads of it, at once */
		joined = false;
		w->joined_at_ms = 0;
	}
	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	strlcpy(dcf_shared->role, w->removed ? "REMOVED" : dcf_role_name(st.role), DCF_ROLE_NAME_BYTES);
	dcf_shared->term = st.term;
	dcf_shared->run_mode = st.run_mode;
	dcf_shared->work_mode = st.work_mode;
	dcf_shared->vote_num = st.vote_num;
	dcf_shared->applied_index = w->applied_index;
	dcf_shared->commit_index = st.commit_index;
	dcf_shared->first_index = st.first_index;
	dcf_shared->last_index = st.last_index;
	dcf_shared->repair_index = st.repair_index;
	dcf_shared->cluster_min_apply_idx = st.cluster_min_applied_index;
	dcf_shared->leader_id = st.leader_id;
	dcf_shared->paxos_write_lsn = atl ? atl->appended_end : InvalidXLogRecPtr;
	dcf_shared->paxos_commit_lsn = tl ? tl->committed_end : InvalidXLogRecPtr;
	if (joined)
	{
		w->joined_at_ms = now_ms;
		dcf_shared->joined = true;
	}
	else if (dcf_shared->joined &&
			 now_ms - w->joined_at_ms > (uint64_t) WORKER_UNJOIN_TIMEOUTS * dcf_election_timeout_ms)
	{
		/* brief gaps (a feeder reconnect, an election) keep the node joined */
		dcf_shared->joined = false;
		ereport(LOG, (errmsg("dcf: node %d no longer follows a leader; refusing logins until it rejoins",
							 dcf_node_id)));
	}
	dcf_shared->leading = (w->lead == LEAD_PUMP);
	dcf_shared->needs_build = w->needs_build;
	dcf_shared->published_at = GetCurrentTimestamp();
	for (int i = 0; i < dcf_shared->nmembers; i++)
	{
		DcfMemberState *ms = &dcf_shared->members[i];

		ms->next_index = ms->match_index = ms->applied_index = 0;
		ms->last_heard_ms = -1;
		ms->connected = false;
		ms->needs_build = progress_is_released(w, ms->member.node_id);
		ms->repairing = false;
		for (uint32_t p = 0; p < st.n_peers; p++)
		{
			if (st.peers[p].node_id != ms->member.node_id)
				continue;
			ms->next_index = st.peers[p].next_index;
			ms->match_index = st.peers[p].match_index;
			ms->repairing = st.peers[p].repair;
			ms->applied_index = st.peers[p].applied_index;
			ms->last_heard_ms = st.peers[p].last_heard_ms ? (int64) (now_ms - st.peers[p].last_heard_ms) : -1;
			ms->connected = dcf_host_peer_connected(w->host, ms->member.node_id);
		}
	}
	LWLockRelease(dcf_shared->lock);
	observe_publish(w, &st, joined, dcf_shared->fenced || dcf_shared->suspended, now_ms);
}
