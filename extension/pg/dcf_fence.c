/*-------------------------------------------------------------------------
 *
 * dcf_fence.c
 *		Losing leadership for good: the fencing path.
 *
 * A promoted leader that lost its leadership is fenced (fence_and_stop):
 * the pump is closed first, so no further commit is acknowledged; the
 * login gate refuses new sessions (dcf_shared->fenced); the server is
 * stopped immediately (SIGQUIT to the postmaster: no shutdown checkpoint,
 * every backend terminated).  A "fenced" marker in dcf.data_path says why.
 * `dcf_ctl start` brings the node back as a standby, rewinding first.
 *
 * A follower whose WAL diverged from the cluster's (its feeder found the
 * standby past a timeline switch) is stopped the same way, with a
 * "rewind_needed" marker naming the leader to rewind from
 * (fence_for_rewind).
 *
 * Invariant: once fence_and_stop starts, this server acknowledges no
 * commit: the pump, the only path by which a commit is released, is gone
 * before anything else happens.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "postmaster/postmaster.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "miscadmin.h"

#include "pg/dcf_guc.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_observe.h"
#include "pg/dcf_worker_int.h"

/* "rewind_needed" in dcf.data_path: why, and the leader to rewind from. */
static void
fence_write_rewind_marker(DcfWorker *w, const char *why)
{
	char		path[MAXPGPATH];
	FILE	   *f;
	const dcf_walmap_tl *tl = dcf_walmap_latest(w->walmap);
	const dcf_membership *ms = dcf_host_membership(w->host);
	const dcf_member *leader = NULL;

	for (uint32_t i = 0; i < ms->n_members; i++)
		if (tl && ms->members[i].node_id == tl->leader_id)
			leader = &ms->members[i];
	snprintf(path, sizeof(path), "%s/rewind_needed", dcf_data_path_abs);
	f = AllocateFile(path, "w");
	if (f == NULL)
	{
		ereport(WARNING, (errcode_for_file_access(),
						  errmsg("could not write \"%s\": %m", path)));
		return;
	}
	fprintf(f, "reason=%s\n", why);
	/* the current leader when its port is known, else the newest timeline's */
	for (uint32_t i = 0; i < ms->n_members; i++)
		if (w->leader_id != 0 && w->leader_id != (uint32_t) dcf_node_id &&
			ms->members[i].node_id == w->leader_id &&
			endpoints_port_of(w->leader_id) != 0)
		{
			fprintf(f, "source=host=%s port=%u dbname=postgres\n",
					ms->members[i].ip, endpoints_port_of(w->leader_id));
			leader = NULL;
		}
	if (tl && leader && tl->pg_port)
		fprintf(f, "source=host=%s port=%u dbname=postgres\n", leader->ip, tl->pg_port);
	FreeFile(f);
}

/* Fence this node: see the file header.  Does not return. */
void
fence_and_stop(DcfWorker *w, const char *reason)
{
	char		path[MAXPGPATH];
	FILE	   *f;

	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	dcf_shared->fenced = true;
	LWLockRelease(dcf_shared->lock);

	/* first: nothing more is acknowledged */
	propose_stop_pump(w);
	ereport(LOG,
			(errmsg("dcf: node %d is fenced: %s", dcf_node_id, reason),
			 errdetail("No further commit is acknowledged, logins are refused, and the server stops now."),
			 errhint("Run dcf_ctl start -D \"%s\" to bring it back as a standby.", DataDir)));
	snprintf(path, sizeof(path), "%s/fenced", dcf_data_path_abs);
	f = AllocateFile(path, "w");
	if (f)
	{
		fprintf(f, "reason=%s\nterm=" UINT64_FORMAT "\n", reason, w->term);
		FreeFile(f);
	}
	observe_fenced(w);
	/* immediate shutdown: terminates every backend, writes no checkpoint */
	kill(PostmasterPid, SIGQUIT);
	for (;;)
		pg_usleep(100000L);
}

/*
 * This node's WAL went past a timeline switch of the cluster (why says
 * where): stop the server for pg_rewind, leaving a marker that
 * `dcf_ctl start` reads.
 */
void
fence_for_rewind(DcfWorker *w, const char *why)
{
	ereport(LOG,
			(errmsg("dcf: this node's WAL diverged from the cluster; stopping it for pg_rewind"),
			 errdetail("%s.", why),
			 errhint("Run dcf_ctl start -D \"%s\"; it rewinds the node and starts it again.", DataDir)));
	fence_write_rewind_marker(w, why);
	kill(PostmasterPid, SIGQUIT);
}
