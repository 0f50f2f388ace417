/*-------------------------------------------------------------------------
 *
 * dcf_removed.c
 *		A removed node learns that it was removed.
 *
 * Once a configuration that removed members is committed, the leader tells
 * each removed node so (MSG_REMOVED: u64 index of the CONFIG entry), once a
 * second for REMOVED_NOTIFY_MS: the host keeps the members of the replaced
 * configuration reachable until the next change (net_set_members in
 * dcf_host.c).  A node told so by a member of its cluster
 *
 *	- says so in its log (WARNING, once),
 *	- records it in <dcf.data_path>/removed, so that it still knows after a
 *	  restart (a node's own log may never hold the entry that removed it),
 *	- stops campaigning (run mode 2, kept against reloads of dcf.run_mode),
 *	- shows the role REMOVED (dcf_replication_info(), dcf_ctl query).
 *
 * To bring such a node back, add it again and rebuild it (dcf_ctl build
 * empties dcf.data_path, the marker with it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "storage/fd.h"

#include "pg/dcf_guc.h"
#include "pg/dcf_worker_int.h"

#define REMOVED_FILE			"removed"
#define REMOVED_TMP_FILE		"removed.tmp"
#define REMOVED_NOTIFY_MS		60000	/* the leader tells a removed node this long */
#define REMOVED_EVERY_MS		1000

static void
removed_apply(DcfWorker *w, uint64_t now_ms)
{
	dcf_admin_request req;
	dcf_status	st;
	char		err[DCF_ERRMSG_MAX];

	dcf_host_status(w->host, &st);
	if (st.run_mode == DCF_RUN_MODE_NONE)
		return;
	memset(&req, 0, sizeof(req));
	req.kind = DCF_ADMIN_SET_RUN_MODE;
	req.value = DCF_RUN_MODE_NONE;
	if (dcf_host_admin(w->host, &req, now_ms, err) != DCF_OK)
		ereport(LOG, (errmsg("dcf: could not stop this removed node from campaigning: %s", err)));
}

void
removed_start(DcfWorker *w, uint64_t now_ms)
{
	char		path[MAXPGPATH];
	char		buf[256] = "";
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dcf_data_path_abs, REMOVED_FILE);
	f = AllocateFile(path, "r");
	if (f == NULL)
		return;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	FreeFile(f);
	buf[strcspn(buf, "\n")] = '\0';
	w->removed = true;
	ereport(WARNING,
			(errmsg("dcf: node %d was removed from the cluster (%s); it takes no part in it any more", dcf_node_id, buf),
			 errdetail("\"%s\" records it.", path),
			 errhint("Stop this server.  To bring the node back, add it again (dcf_ctl member --operation=add) and rebuild it (dcf_ctl build).")));
	removed_apply(w, now_ms);
}

void
removed_on_message(DcfWorker *w, uint32_t from, const uint8_t *data, size_t len)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	uint64_t	index = 0;
	FILE	   *f;

	if (len != 8 || w->removed || dcf_membership_find(dcf_host_membership(w->host), from) == NULL)
		return;
	for (int b = 0; b < 8; b++)
		index |= (uint64_t) data[b] << (8 * b);
	w->removed = true;
	ereport(WARNING,
			(errmsg("dcf: node %d was removed from the cluster: node %u says the configuration of log index " UINT64_FORMAT " no longer names it",
					dcf_node_id, from, index),
			 errdetail("This node no longer votes, campaigns or counts toward commits."),
			 errhint("Stop this server.  To bring the node back, add it again (dcf_ctl member --operation=add) and rebuild it (dcf_ctl build).")));
	snprintf(path, sizeof(path), "%s/%s", dcf_data_path_abs, REMOVED_FILE);
	snprintf(tmp, sizeof(tmp), "%s/%s", dcf_data_path_abs, REMOVED_TMP_FILE);
	f = AllocateFile(tmp, "w");
	if (f != NULL)
	{
		fprintf(f, "by node %u, configuration of log index " UINT64_FORMAT "\n", from, index);
		if (FreeFile(f) == 0)
			(void) durable_rename(tmp, path, LOG);
	}
	removed_apply(w, w->last_tick_ms);
}

void
removed_tick(DcfWorker *w, uint64_t now_ms)
{
	const dcf_membership *ms;
	dcf_status	st;
	uint8_t		buf[8];
	char		err[DCF_ERRMSG_MAX];

	if (now_ms - w->removed_checked_ms < REMOVED_EVERY_MS)
		return;
	w->removed_checked_ms = now_ms;
	if (w->removed)
	{
		removed_apply(w, now_ms);	/* a reload of dcf.run_mode must not undo it */
		return;
	}
	dcf_host_status(w->host, &st);
	if (st.role != DCF_ROLE_LEADER || st.commit_index < st.membership_index)
		return;
	if (st.membership_index != w->removed_config_index)
	{
		w->removed_config_index = st.membership_index;
		w->removed_since_ms = now_ms;
	}
	if (now_ms - w->removed_since_ms > REMOVED_NOTIFY_MS)
		return;
	ms = dcf_host_membership(w->host);
	for (int b = 0; b < 8; b++)
		buf[b] = (uint8_t) (st.membership_index >> (8 * b));
	for (uint32_t i = 0; i < ms->n_prev; i++)
		if (dcf_membership_find(ms, ms->prev[i].node_id) == NULL)
			(void) dcf_host_send_app(w->host, ms->prev[i].node_id, MSG_REMOVED, buf, sizeof(buf), err);
}
