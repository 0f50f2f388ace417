/*-------------------------------------------------------------------------
 *
 * dcf_sql.c
 *		SQL-callable functions: dcf_replication_info() and
 *		dcf_check_config().
 *
 * dcf_replication_info() copies the shared state under the shared lock and
 * builds its tuple after releasing it (see dcf_shmem.h).  Its columns carry
 * openGauss's dcf_replication_info field names; the LSN columns are
 * dcf's own.  Values are only ever what the node knows: before the node has
 * joined a cluster role is UNKNOWN and every index is 0.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "replication/walreceiver.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/pg_lsn.h"

#include "pg/dcf_config.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_policy.h"
#include "pg/dcf_shmem.h"

PG_FUNCTION_INFO_V1(dcf_replication_info);
PG_FUNCTION_INFO_V1(dcf_check_config);

#define REPLICATION_INFO_COLS 23

static void
append_json_string(StringInfo buf, const char *s)
{
	escape_json(buf, s);
}

/* JSON array describing the members, as this node knows them. */
static Datum
members_jsonb(const DcfShared *st)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < st->nmembers; i++)
	{
		const DcfMemberState *ms = &st->members[i];
		const DcfMember *m = &ms->member;

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfo(&buf, "{\"node_id\": %u, \"ip\": ", m->node_id);
		append_json_string(&buf, m->ip);
		appendStringInfo(&buf, ", \"port\": %d, \"role\": ", m->port);
		append_json_string(&buf, dcf_member_role_name(m->role));
		appendStringInfo(&buf, ", \"weight\": %d, \"group\": %d, \"priority\": %d",
						 m->weight, m->group, m->priority);
		if (m->node_id == (uint32) st->node_id ? st->needs_build : ms->needs_build)
			appendStringInfoString(&buf, ", \"needs_build\": true");
		if (st->leader_id != 0 && st->leader_id == (uint32) st->node_id &&
			m->node_id != (uint32) st->node_id)
			appendStringInfo(&buf,
							 ", \"next_index\": " UINT64_FORMAT ", \"match_index\": " UINT64_FORMAT
							 ", \"applied_index\": " UINT64_FORMAT ", \"lag\": " UINT64_FORMAT
							 ", \"connected\": %s, \"last_heard_ms\": " INT64_FORMAT
							 ", \"repairing\": %s",
							 ms->next_index, ms->match_index, ms->applied_index,
							 st->last_index > ms->match_index ? st->last_index - ms->match_index : 0,
							 ms->connected ? "true" : "false", ms->last_heard_ms,
							 ms->repairing ? "true" : "false");
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

Datum
dcf_replication_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[REPLICATION_INFO_COLS];
	bool		nulls[REPLICATION_INFO_COLS];
	DcfShared  *st;
	const DcfMember *leader = NULL;
	int			c = 0;

	dcf_require_enabled();

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	st = palloc(sizeof(DcfShared));
	LWLockAcquire(dcf_shared->lock, LW_SHARED);
	memcpy(st, dcf_shared, sizeof(DcfShared));
	LWLockRelease(dcf_shared->lock);

	for (int i = 0; i < st->nmembers; i++)
		if (st->leader_id != 0 && st->members[i].member.node_id == st->leader_id)
			leader = &st->members[i].member;

	memset(nulls, 0, sizeof(nulls));
	values[c++] = Int32GetDatum(st->node_id);
	values[c++] = CStringGetTextDatum(st->role);
	values[c++] = Int64GetDatum((int64) st->term);
	values[c++] = Int32GetDatum(st->run_mode);
	values[c++] = CStringGetTextDatum(st->work_mode == 0 ? "normal" : "minority");
	values[c++] = Int32GetDatum(dcf_heartbeat_interval_ms);
	values[c++] = Int32GetDatum(dcf_election_timeout_ms);
	values[c++] = Int64GetDatum((int64) st->applied_index);
	values[c++] = Int64GetDatum((int64) st->commit_index);
	values[c++] = Int64GetDatum((int64) st->first_index);
	values[c++] = Int64GetDatum((int64) st->last_index);
	values[c++] = Int64GetDatum((int64) st->cluster_min_apply_idx);
	if (leader)
	{
		values[c++] = Int32GetDatum((int32) leader->node_id);
		values[c++] = CStringGetTextDatum(leader->ip);
		values[c++] = Int32GetDatum(leader->port);
	}
	else
	{
		nulls[c++] = true;
		nulls[c++] = true;
		nulls[c++] = true;
	}
	values[c++] = members_jsonb(st);
	values[c++] = LSNGetDatum(st->paxos_write_lsn);
	values[c++] = LSNGetDatum(st->paxos_commit_lsn);

	/* the local server's own positions, read now */
	if (RecoveryInProgress())
	{
		XLogRecPtr	replay = GetXLogReplayRecPtr(NULL);
		XLogRecPtr	write = GetWalRcvWriteRecPtr();
		XLogRecPtr	flush = GetWalRcvFlushRecPtr(NULL, NULL);

		/*
		 * Before the walreceiver has written anything its positions are 0;
		 * what the standby has is what it replayed.
		 */
		values[c++] = LSNGetDatum(Max(write, replay));
		values[c++] = LSNGetDatum(Max(flush, replay));
		values[c++] = LSNGetDatum(replay);
	}
	else
	{
		values[c++] = LSNGetDatum(GetXLogWriteRecPtr());
		values[c++] = LSNGetDatum(GetFlushRecPtr(NULL));
		nulls[c++] = true;		/* a primary replays nothing */
	}
	values[c++] = Int64GetDatum((int64) st->repair_index);
	values[c++] = DirectFunctionCall1(jsonb_in, CStringGetDatum(dcf_policy_json()));
	Assert(c == REPLICATION_INFO_COLS);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * dcf_check_config(config text, node_id int DEFAULT NULL) returns jsonb
 *
 * Validates a dcf.config value with the same validator and messages as the
 * server uses at start, and returns the membership it describes with
 * defaults filled in.  With node_id, also checks that it is a member.
 * Needs no configured node: it is the way to check a config before
 * deploying it.
 */
Datum
dcf_check_config(PG_FUNCTION_ARGS)
{
	char	   *json;
	DcfConfig  *cfg;
	DcfConfigError err;
	DcfShared  *fake;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	json = text_to_cstring(PG_GETARG_TEXT_PP(0));
	cfg = palloc(sizeof(DcfConfig));
	if (!dcf_config_parse(json, cfg, &err) ||
		(!PG_ARGISNULL(1) && !dcf_config_check_node(cfg, PG_GETARG_INT32(1), &err)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", err.message),
				 err.detail[0] ? errdetail("%s", err.detail) : 0,
				 err.hint[0] ? errhint("%s", err.hint) : 0));

	fake = palloc0(sizeof(DcfShared));
	fake->nmembers = cfg->nmembers;
	for (int i = 0; i < cfg->nmembers; i++)
		fake->members[i].member = cfg->members[i];
	PG_RETURN_DATUM(members_jsonb(fake));
}
