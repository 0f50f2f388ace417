/*-------------------------------------------------------------------------
 *
 * dcf_worker.c
 *		The consensus background worker: one per server, started with the
 *		postmaster, with shared memory and no database connection.
 *
 * A single-threaded event loop on a WaitEventSet: the process latch and
 * postmaster death (the worker exits at once if the postmaster dies).  Peer
 * sockets, the WAL pump's replication connection and the WAL feeder's socket
 * join the set when the consensus engine is wired in.  PG15 cannot remove a
 * socket from a WaitEventSet, so the set is rebuilt whenever the socket list
 * changes.
 *
 * Signals: SIGTERM sets a flag (the default bgworker handler would raise
 * FATAL inside the handler); SIGHUP reloads the configuration.  On SIGTERM
 * the worker leaves the loop, clears its pid in shared memory and exits with
 * code 1, so that the postmaster restarts it after
 * DCF_WORKER_RESTART_SECONDS unless the server itself is shutting down.  A
 * crash of the worker makes the postmaster reinitialise shared memory and
 * start it again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg/dcf_guc.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_worker.h"

static volatile sig_atomic_t shutdown_requested = false;

static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	shutdown_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
worker_exit(int code, Datum arg)
{
	if (dcf_shared == NULL)
		return;
	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	if (dcf_shared->worker_pid == MyProcPid)
		dcf_shared->worker_pid = 0;
	LWLockRelease(dcf_shared->lock);
}

static WaitEventSet *
build_wait_set(void)
{
	WaitEventSet *set = CreateWaitEventSet(TopMemoryContext, 2);

	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	return set;
}

void
dcf_worker_main(Datum main_arg)
{
	WaitEventSet *set;

	pqsignal(SIGTERM, worker_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	if (dcf_shared == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dcf shared memory is not initialized")));

	/* The postmaster checked it at start; it may have changed since. */
	if (!dcf_prepare_data_path(ERROR))
		proc_exit(1);

	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	dcf_shared->worker_pid = MyProcPid;
	dcf_shared->worker_started_at = GetCurrentTimestamp();
	dcf_shared->worker_starts++;
	LWLockRelease(dcf_shared->lock);
	before_shmem_exit(worker_exit, (Datum) 0);

	ereport(LOG,
			(errmsg("dcf worker started for node %d, data path \"%s\"",
					dcf_node_id, dcf_data_path_abs)));

	set = build_wait_set();

	while (!shutdown_requested)
	{
		WaitEvent	events[4];
		int			n;

		n = WaitEventSetWait(set, dcf_heartbeat_interval_ms, events, lengthof(events),
							 PG_WAIT_EXTENSION);
		for (int i = 0; i < n; i++)
		{
			if (events[i].events & WL_LATCH_SET)
				ResetLatch(MyLatch);
		}
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}

	FreeWaitEventSet(set);
	ereport(LOG, (errmsg("dcf worker shutting down")));
	proc_exit(1);
}
