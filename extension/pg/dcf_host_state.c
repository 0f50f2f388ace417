/*
 * dcf_host_state.c — what the worker reads of the consensus host's state
 * (see dcf_host.h); the event path is dcf_host.c.
 */
#include "pg/dcf_host_int.h"

void
dcf_host_status(const dcf_host *h, dcf_status *out)
{
	dcf_node_status(h->node, out);
}

uint64_t
dcf_host_commit_index(const dcf_host *h)
{
	return h->commit_index < h->persisted_index ? h->commit_index : h->persisted_index;
}

uint64_t
dcf_host_last_key(const dcf_host *h)
{
	uint64_t	key = 0;
	uint64_t	last = dcf_log_last_index(h->log);

	if (last >= dcf_log_first_index(h->log) && last > 0)
		dcf_log_key_at(h->log, last, &key);
	return key;
}

uint64_t
dcf_host_leader_commit(const dcf_host *h)
{
	return h->leader_commit_term == h->term ? h->leader_commit : 0;
}

dcf_role
dcf_host_role(const dcf_host *h)
{
	return h->role;
}

bool
dcf_host_lease_valid(const dcf_host *h, uint64_t now_ms)
{
	return dcf_node_lease_valid(h->node, now_ms);
}

dcf_log *
dcf_host_log(dcf_host *h)
{
	return h->log;
}

const dcf_membership *
dcf_host_membership(const dcf_host *h)
{
	return &h->membership;
}

bool
dcf_host_peer_connected(dcf_host *h, uint32_t node_id)
{
	dcf_net_peer_stats st;

	if (dcf_net_get_peer_stats(h->net, node_id, DCF_NET_CONTROL, &st) != DCF_OK)
		return false;
	return st.connected != 0;
}


void
dcf_host_sync_stats(const dcf_host *h, uint64_t *syncs, uint64_t *us_total, uint64_t *us_max)
{
	dcf_host   *m = (dcf_host *) h;	/* the lock only */

	if (h->syncer.on)
		pthread_mutex_lock(&m->syncer.mu);
	*syncs = h->syncs;
	*us_total = h->sync_us_total;
	*us_max = h->sync_us_max;
	if (h->syncer.on)
		pthread_mutex_unlock(&m->syncer.mu);
}
