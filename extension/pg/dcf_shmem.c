/*-------------------------------------------------------------------------
 *
 * dcf_shmem.c
 *		Allocation and initialisation of the node's shared state.
 *
 * See dcf_shmem.h for the locking protocol.  Space and the LWLock tranche
 * are requested in shmem_request_hook (the only place PG15 allows it); the
 * struct is created or attached in shmem_startup_hook.  The state starts as
 * "not joined": role UNKNOWN, term and every index 0, no leader, and the
 * membership of dcf.config until the worker loads the durable one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "pg/dcf_guc.h"
#include "pg/dcf_shmem.h"

DcfShared  *dcf_shared = NULL;

void
dcf_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(DcfShared)));
	RequestNamedLWLockTranche("dcf", 1);
}

void
dcf_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	dcf_shared = ShmemInitStruct("dcf", sizeof(DcfShared), &found);
	if (!found)
	{
		memset(dcf_shared, 0, sizeof(DcfShared));
		dcf_shared->lock = &(GetNamedLWLockTranche("dcf"))->lock;
		dcf_shared->enabled = dcf_enable;
		dcf_shared->node_id = dcf_node_id;
		strlcpy(dcf_shared->role, "UNKNOWN", DCF_ROLE_NAME_BYTES);
		{
			uint8		raw[(DCF_PUMP_TOKEN_BYTES - 1) / 2];

			if (!pg_strong_random(raw, sizeof(raw)))
				ereport(FATAL, (errmsg("could not generate random bytes for the dcf pump token")));
			for (size_t i = 0; i < sizeof(raw); i++)
				snprintf(dcf_shared->pump_token + 2 * i, 3, "%02x", raw[i]);
		}
		dcf_shared->run_mode = 0;
		dcf_shared->work_mode = 0;
		dcf_shared->paxos_write_lsn = InvalidXLogRecPtr;
		dcf_shared->paxos_commit_lsn = InvalidXLogRecPtr;
		dcf_shared->nmembers = dcf_config_parsed.nmembers;
		for (int i = 0; i < dcf_config_parsed.nmembers; i++)
		{
			dcf_shared->members[i].member = dcf_config_parsed.members[i];
			dcf_shared->members[i].last_heard_ms = -1;
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

void
dcf_require_enabled(void)
{
	if (dcf_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dcf must be loaded via shared_preload_libraries"),
				 errhint("Add dcf to shared_preload_libraries in postgresql.conf and restart the server.")));
	if (!dcf_shared->enabled)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dcf is not enabled on this server"),
				 errhint("Set dcf.enable = on, dcf.node_id, dcf.data_path and dcf.config in postgresql.conf and restart the server.")));
}
