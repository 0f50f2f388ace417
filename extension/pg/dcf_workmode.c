/*-------------------------------------------------------------------------
 *
 * dcf_workmode.c
 *		Minority work mode from SQL: dcf_set_work_mode(), recorded durably in
 *		<dcf.data_path>/work_mode so that a restarted node stays in it.
 *
 * A node switched to minority counts vote_num weight of minority-mode voters
 * as its quorum (extension/core/README.md, "Work mode minority").  The
 * record is written (and fsynced) before the request reaches the core, and
 * put back if the core refuses; the worker passes it to the core at every
 * start (dcf_workmode_apply_options).  Switching to minority is refused
 * while the node still hears a leader of the normal-mode majority, unless
 * forced: that majority is not lost.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"

#include "pg/dcf_admin.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_workmode.h"

PG_FUNCTION_INFO_V1(dcf_set_work_mode);

#define WORK_MODE_FILE "work_mode"

static void
record_path(char *path, size_t cap)
{
	snprintf(path, cap, "%s/%s", dcf_data_path_abs, WORK_MODE_FILE);
}

/* The recorded mode: false when none (normal). */
static bool
read_record(uint32 *vote_num)
{
	char		path[MAXPGPATH];
	FILE	   *f;
	unsigned int v = 0;
	bool		minority = false;
	char		line[128];

	record_path(path, sizeof(path));
	f = AllocateFile(path, "r");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		if (strncmp(line, "mode=minority", 13) == 0)
			minority = true;
		else if (sscanf(line, "vote_num=%u", &v) == 1)
			*vote_num = v;
	}
	FreeFile(f);
	return minority && *vote_num > 0;
}

/* Record minority (vote_num > 0) or normal (the record removed), durably. */
static void
write_record(bool minority, uint32 vote_num)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	FILE	   *f;

	record_path(path, sizeof(path));
	if (!minority)
	{
		if (unlink(path) != 0 && errno != ENOENT)
			ereport(ERROR, (errcode_for_file_access(), errmsg("could not remove \"%s\": %m", path)));
		fsync_fname(dcf_data_path_abs, true);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = AllocateFile(tmp, "w");
	if (f == NULL)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not create \"%s\": %m", tmp)));
	fprintf(f, "mode=minority\nvote_num=%u\n", vote_num);
	if (fflush(f) != 0 || pg_fsync(fileno(f)) != 0 || FreeFile(f) != 0)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not write \"%s\": %m", tmp)));
	durable_rename(tmp, path, ERROR);
}

void
dcf_workmode_apply_options(dcf_options *o)
{
	uint32		v = 0;

	if (!read_record(&v))
		return;
	o->work_mode = DCF_WORK_MODE_MINORITY;
	o->vote_num = v;
	ereport(LOG,
			(errmsg("dcf: node %d starts in minority work mode with vote_num %u (recorded in \"%s/%s\")",
					dcf_node_id, v, dcf_data_path_abs, WORK_MODE_FILE),
			 errhint("dcf_ctl setrunmode -x normal ends it.")));
}

/*
 * dcf_set_work_mode(mode text, vote_num int DEFAULT NULL, force bool DEFAULT
 * false, timeout int DEFAULT 60) returns text
 */
Datum
dcf_set_work_mode(PG_FUNCTION_ARGS)
{
	char	   *mode;
	bool		minority;
	int32		vote_num = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	bool		force = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	int32		timeout_s = PG_ARGISNULL(3) ? 60 : PG_GETARG_INT32(3);
	bool		was_minority;
	uint32		was_vote = 0;
	uint32		leader_id;
	int			cur_mode;
	dcf_admin_request req;
	DcfAdminSlot out;
	DcfAdminState st;
	uint64		id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mode must not be null"),
				 errhint("Give 'minority' or 'normal'.")));
	mode = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (pg_strcasecmp(mode, "minority") == 0)
		minority = true;
	else if (pg_strcasecmp(mode, "normal") == 0)
		minority = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid work mode \"%s\"", mode),
				 errhint("Give 'minority' or 'normal'.")));
	if (minority && vote_num < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("minority mode needs vote_num of at least 1"),
				 errdetail("vote_num is the vote weight that makes a quorum among the nodes switched to minority mode.")));
	if (!minority && !PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vote_num applies to minority mode only")));
	if (timeout_s < 1 || timeout_s > 86400)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be between 1 and 86400 seconds")));
	require_channel();

	LWLockAcquire(dcf_shared->lock, LW_SHARED);
	leader_id = dcf_shared->leader_id;
	cur_mode = dcf_shared->work_mode;
	LWLockRelease(dcf_shared->lock);
	if (minority && cur_mode == DCF_WORK_MODE_NORMAL && leader_id == (uint32) dcf_node_id && !force)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node %d leads its normal-mode majority", dcf_node_id),
				 errdetail("Minority mode is for a cluster whose majority is lost for good; this one is not.")));
	if (minority && cur_mode == DCF_WORK_MODE_NORMAL && leader_id != 0 && !force)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node %d still hears leader %u of its normal-mode majority", dcf_node_id, leader_id),
				 errdetail("Minority mode is for a cluster whose majority is lost for good; this one is not."),
				 errhint("If node %u is about to be lost for good and is fenced, force it (dcf_ctl setrunmode --force).", leader_id)));

	/* nothing to change: the core would make a leader start over anyway */
	if (!minority && cur_mode == DCF_WORK_MODE_NORMAL)
	{
		write_record(false, 0);
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("node %d works in normal mode already", dcf_node_id)));
	}
	was_minority = read_record(&was_vote);
	write_record(minority, (uint32) vote_num);
	memset(&req, 0, sizeof(req));
	req.kind = DCF_ADMIN_SET_WORK_MODE;
	req.value = minority ? DCF_WORK_MODE_MINORITY : DCF_WORK_MODE_NORMAL;
	req.vote_num = minority ? (uint32) vote_num : 0;
	id = dcf_admin_post(&req);
	st = dcf_admin_wait(id, timeout_s * 1000, &out);
	if (st != DCF_ADMIN_COMMITTED)
	{
		/* put the record back as it was: the core's mode did not change */
		if (st == DCF_ADMIN_REFUSED || st == DCF_ADMIN_ABORTED)
			write_record(was_minority, was_vote);
		ereport(ERROR,
				(errcode(st == DCF_ADMIN_REFUSED ? ERRCODE_INVALID_PARAMETER_VALUE : ERRCODE_DCF_ADMIN_TIMEOUT),
				 errmsg("could not switch node %d to %s mode: %s", dcf_node_id, minority ? "minority" : "normal",
						st == DCF_ADMIN_REFUSED || st == DCF_ADMIN_ABORTED ? out.reason : "the dcf worker did not take the request up in time"),
				 st == DCF_ADMIN_REFUSED || st == DCF_ADMIN_ABORTED ? 0 :
				 errhint("The mode is recorded and applies at the latest at the next start; dcf_admin_requests() shows request " UINT64_FORMAT ".", id)));
	}
	if (minority)
	{
		ereport(WARNING,
				(errmsg("node %d works in minority mode: %d vote weight of minority-mode nodes is its quorum", dcf_node_id, vote_num),
				 errdetail("What this risks: commits acknowledged by the old majority that this node lacks are lost; "
						   "if the nodes believed lost are alive and also switch to minority, or keep a majority of their own, "
						   "two leaders commit different WAL (split brain); commits made now are on vote_num weight only until "
						   "a normal majority holds them again."),
				 errhint("Fence the lost nodes first; rebuild them from this node (dcf_ctl build) with dcf.run_mode = 2, "
						 "then switch every survivor back with dcf_ctl setrunmode -x normal once they have caught up.")));
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("node %d works in minority mode, vote_num %d", dcf_node_id, vote_num)));
	}
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("node %d works in normal mode", dcf_node_id)));
}
