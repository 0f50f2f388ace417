/*-------------------------------------------------------------------------
 *
 * dcf_member_sql.c
 *		SQL functions over the admin channel: dcf_add_member(),
 *		dcf_remove_member(), dcf_change_member(), dcf_membership() and
 *		dcf_admin_requests().
 *
 * A membership change is checked here first against what the worker last
 * published (leader, membership, change in flight), so that the common
 * refusals get a precise message; the core checks again when the worker
 * steps the request in (the state may have moved), and its reason is shown
 * then.  Each function waits until the change is committed (an added voter:
 * until it has caught up and been promoted) and returns the membership in
 * force; after `timeout` seconds it raises SQLSTATE DCF01 with the request's
 * id, the request still running.  Re-running the same add or remove is safe.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pg/dcf_admin.h"
#include "pg/dcf_config.h"
#include "pg/dcf_shmem.h"

PG_FUNCTION_INFO_V1(dcf_add_member);
PG_FUNCTION_INFO_V1(dcf_remove_member);
PG_FUNCTION_INFO_V1(dcf_change_member);
PG_FUNCTION_INFO_V1(dcf_membership_sql);
PG_FUNCTION_INFO_V1(dcf_admin_requests);

#define ADMIN_TIMEOUT_MAX_S 86400

void
require_channel(void)
{
	dcf_require_enabled();
	Assert(dcf_admin_shared != NULL);	/* created with dcf_shared */
	if (dcf_admin_shared->worker_pid == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the dcf worker is not running"),
				 errhint("The server log says why; the postmaster restarts the worker after a few seconds.")));
}

DcfAdminShared *
snapshot(void)
{
	DcfAdminShared *s = palloc(sizeof(DcfAdminShared));

	LWLockAcquire(dcf_admin_shared->lock, LW_SHARED);
	memcpy(s, dcf_admin_shared, sizeof(DcfAdminShared));
	LWLockRelease(dcf_admin_shared->lock);
	return s;
}

static const dcf_member *
find_member(const DcfAdminShared *s, uint32 node_id)
{
	return dcf_membership_find_in(s->members, s->n_members, node_id);
}

void
require_leader(const DcfAdminShared *s)
{
	const dcf_member *l;

	if (s->is_leader)
		return;
	l = s->leader_id ? find_member(s, s->leader_id) : NULL;
	if (l)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node %d is not the leader of the dcf cluster", dcf_shared->node_id),
				 errdetail("The leader is node %u, dcf address %s:%u.", l->node_id, l->ip, l->port),
				 errhint("Run the command on the leader, or use dcf_ctl member, which finds it.")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("node %d is not the leader of the dcf cluster", dcf_shared->node_id),
			 errdetail("No leader is known right now."),
			 errhint("Wait for an election to end, then run the command on the leader.")));
}

static void
require_no_change(const DcfAdminShared *s)
{
	if (s->change.phase != DCF_CHANGE_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("another membership change is in progress"),
				 errdetail("%s of node %u has not finished yet.", dcf_admin_kind_name(s->change.kind),
						   s->change.node_id),
				 errhint("Wait for it to finish (dcf_admin_requests() shows it), then try again.")));
	if (s->transfer_target != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("a leadership transfer to node %u is in progress", s->transfer_target),
				 errhint("Wait for it to finish, then run the command on the new leader.")));
}

static uint32
arg_node_id(int32 v)
{
	if (v < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("node_id must be a positive integer")));
	return (uint32) v;
}

static int
arg_timeout(int32 v)
{
	if (v < 1 || v > ADMIN_TIMEOUT_MAX_S)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be between 1 and %d seconds", ADMIN_TIMEOUT_MAX_S)));
	return v * 1000;
}

static dcf_role
arg_role(text *t)
{
	char	   *name = text_to_cstring(t);
	dcf_role	r;

	if (!dcf_role_parse(name, &r) ||
		(r != DCF_ROLE_FOLLOWER && r != DCF_ROLE_LOGGER && r != DCF_ROLE_PASSIVE))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid member role \"%s\"", name),
				 errhint("Valid roles are FOLLOWER, LOGGER and PASSIVE.")));
	return r;
}

static uint32
arg_range(const char *what, int32 v, int32 lo, int32 hi)
{
	if (v < lo || v > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %d and %d", what, lo, hi)));
	return (uint32) v;
}

static const char *
verb(dcf_admin_kind k)
{
	switch (k)
	{
		case DCF_ADMIN_ADD_MEMBER:
			return "add";
		case DCF_ADMIN_REMOVE_MEMBER:
			return "remove";
		default:
			return "change";
	}
}

/*
 * Post a request and wait for its outcome; errors for every outcome but
 * COMMITTED.  Returns the time left in ms.
 */
static int
run_request(const dcf_admin_request *req, int timeout_ms)
{
	TimestampTz start = GetCurrentTimestamp();
	uint64		id = dcf_admin_post(req);
	DcfAdminSlot out;
	DcfAdminState st = dcf_admin_wait(id, timeout_ms, &out);
	uint32		target = req->kind == DCF_ADMIN_ADD_MEMBER ? req->member.node_id : req->node_id;
	int			left;

	switch (st)
	{
		case DCF_ADMIN_COMMITTED:
			break;
		case DCF_ADMIN_REFUSED:
			if (out.core_rc == DCF_ERR_STATE && strstr(out.reason, "is not the leader"))
				require_leader(snapshot());
			ereport(ERROR,
					(errcode(out.core_rc == DCF_ERR_STATE ? ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE :
							 ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("could not %s node %u: %s", verb(req->kind), target, out.reason)));
			break;
		case DCF_ADMIN_ABORTED:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s of node %u was aborted: %s", dcf_admin_kind_name(req->kind), target, out.reason),
					 errdetail("Request " UINT64_FORMAT " was accepted and then given up.", id),
					 errhint("dcf_membership() shows whether the membership changed.")));
			break;
		case DCF_ADMIN_FREE:
		case DCF_ADMIN_POSTED:
		case DCF_ADMIN_RUNNING:
			ereport(ERROR,
					(errcode(ERRCODE_DCF_ADMIN_TIMEOUT),
					 errmsg("%s of node %u did not finish within %d s", dcf_admin_kind_name(req->kind), target,
							timeout_ms / 1000),
					 errdetail("Request " UINT64_FORMAT " is still %s%s%s.", id,
							   st == DCF_ADMIN_POSTED ? "waiting for the dcf worker" : "running",
							   out.reason[0] ? ": " : "", out.reason),
					 errhint("SELECT * FROM dcf_admin_requests() WHERE id = " UINT64_FORMAT " shows its outcome; running the same command again is safe.", id)));
			break;
	}
	left = timeout_ms - (int) ((GetCurrentTimestamp() - start) / 1000);
	return Max(left, 1000);
}

/* The membership in force, as rows of type dcf_member. */
static void
return_members(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DcfAdminShared *s = snapshot();

	InitMaterializedSRF(fcinfo, 0);
	for (uint32 i = 0; i < s->n_members; i++)
	{
		const dcf_member *m = &s->members[i];
		Datum		values[8];
		bool		nulls[8] = {0};

		values[0] = Int32GetDatum((int32) m->node_id);
		values[1] = CStringGetTextDatum(m->ip);
		values[2] = Int32GetDatum((int32) m->port);
		values[3] = CStringGetTextDatum(dcf_role_name(m->role));
		values[4] = Int32GetDatum((int32) m->weight);
		values[5] = Int32GetDatum((int32) m->group);
		values[6] = Int32GetDatum((int32) m->priority);
		values[7] = BoolGetDatum(m->learner);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

Datum
dcf_membership_sql(PG_FUNCTION_ARGS)
{
	require_channel();
	return_members(fcinfo);
	return (Datum) 0;
}

Datum
dcf_add_member(PG_FUNCTION_ARGS)
{
	dcf_admin_request req;
	DcfAdminShared *s;
	const dcf_member *old;
	char	   *ip;
	int			timeout_ms;

	for (int i = 0; i < 8; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("arguments of dcf_add_member must not be null")));
	require_channel();
	memset(&req, 0, sizeof(req));
	req.kind = DCF_ADMIN_ADD_MEMBER;
	dcf_member_init(&req.member, arg_node_id(PG_GETARG_INT32(0)), DCF_ROLE_FOLLOWER);
	ip = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (ip[0] == '\0' || strlen(ip) >= DCF_MEMBER_IP_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ip must be a non-empty address of at most %d bytes", DCF_MEMBER_IP_MAX - 1)));
	strlcpy(req.member.ip, ip, sizeof(req.member.ip));
	req.member.port = (uint16) arg_range("port", PG_GETARG_INT32(2), 1, 65535);
	req.member.role = arg_role(PG_GETARG_TEXT_PP(3));
	req.member.weight = arg_range("weight", PG_GETARG_INT32(4), 1, DCF_MEMBER_WEIGHT_MAX);
	req.member.group = arg_range("group", PG_GETARG_INT32(5), 0, DCF_GROUP_MAX);
	req.member.priority = arg_range("priority", PG_GETARG_INT32(6), 0, DCF_PRIORITY_MAX);
	timeout_ms = arg_timeout(PG_GETARG_INT32(7));

	s = snapshot();
	require_leader(s);
	old = find_member(s, req.member.node_id);
	if (old && (strcmp(old->ip, req.member.ip) != 0 || old->port != req.member.port ||
				old->role != req.member.role))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("node %u is already a member of the dcf cluster", old->node_id),
				 errdetail("It is a %s member with dcf address %s:%u.", dcf_role_name(old->role), old->ip, old->port),
				 errhint("Choose another node_id, or remove node %u first.", old->node_id)));
	for (uint32 i = 0; i < s->n_members; i++)
		if (s->members[i].node_id != req.member.node_id && strcmp(s->members[i].ip, req.member.ip) == 0 &&
			s->members[i].port == req.member.port)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("dcf address %s:%u is already used by node %u", req.member.ip, req.member.port,
							s->members[i].node_id)));
	if (old == NULL)
		require_no_change(s);
	(void) run_request(&req, timeout_ms);
	return_members(fcinfo);
	return (Datum) 0;
}

Datum
dcf_remove_member(PG_FUNCTION_ARGS)
{
	dcf_admin_request req;
	DcfAdminShared *s;
	const dcf_member *m;
	bool		other_leader = false;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of dcf_remove_member must not be null")));
	require_channel();
	memset(&req, 0, sizeof(req));
	req.kind = DCF_ADMIN_REMOVE_MEMBER;
	req.node_id = arg_node_id(PG_GETARG_INT32(0));
	s = snapshot();
	require_leader(s);
	m = find_member(s, req.node_id);
	if (m != NULL)
	{
		for (uint32 i = 0; i < s->n_members; i++)
			if (s->members[i].node_id != req.node_id && dcf_member_may_lead(&s->members[i]))
				other_leader = true;
		if (!other_leader)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot remove node %u, the last member that can lead", req.node_id),
					 errdetail("A dcf cluster needs at least one FOLLOWER member."),
					 errhint("Add another member first.")));
		if (!(s->change.phase != DCF_CHANGE_NONE && s->change.kind == DCF_ADMIN_REMOVE_MEMBER &&
			  s->change.node_id == req.node_id))
			require_no_change(s);
	}
	else
	{
		bool		removed_here = false;

		for (int i = 0; i < DCF_ADMIN_SLOTS; i++)
			if (s->slots[i].req.kind == DCF_ADMIN_REMOVE_MEMBER && s->slots[i].req.node_id == req.node_id &&
				(s->slots[i].state == DCF_ADMIN_COMMITTED || s->slots[i].state == DCF_ADMIN_RUNNING))
				removed_here = true;
		if (!removed_here)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("node %u is not a member of the dcf cluster", req.node_id),
					 errhint("dcf_membership() lists the members.")));
	}
	(void) run_request(&req, arg_timeout(PG_GETARG_INT32(1)));
	return_members(fcinfo);
	return (Datum) 0;
}

Datum
dcf_change_member(PG_FUNCTION_ARGS)
{
	DcfAdminShared *s;
	const dcf_member *m;
	dcf_admin_request reqs[3];
	int			n = 0;
	uint32		node_id;
	int			timeout_ms;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("node_id and timeout of dcf_change_member must not be null")));
	if (PG_ARGISNULL(1) && PG_ARGISNULL(2) && PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nothing to change"),
				 errhint("Give at least one of role, priority and \"group\".")));
	require_channel();
	node_id = arg_node_id(PG_GETARG_INT32(0));
	timeout_ms = arg_timeout(PG_GETARG_INT32(4));
	memset(reqs, 0, sizeof(reqs));
	if (!PG_ARGISNULL(1))
	{
		reqs[n].kind = DCF_ADMIN_CHANGE_ROLE;
		reqs[n].node_id = node_id;
		reqs[n++].value = (uint32) arg_role(PG_GETARG_TEXT_PP(1));
	}
	if (!PG_ARGISNULL(2))
	{
		reqs[n].kind = DCF_ADMIN_CHANGE_PRIORITY;
		reqs[n].node_id = node_id;
		reqs[n++].value = arg_range("priority", PG_GETARG_INT32(2), 0, DCF_PRIORITY_MAX);
	}
	if (!PG_ARGISNULL(3))
	{
		reqs[n].kind = DCF_ADMIN_CHANGE_GROUP;
		reqs[n].node_id = node_id;
		reqs[n++].value = arg_range("group", PG_GETARG_INT32(3), 0, DCF_GROUP_MAX);
	}

	s = snapshot();
	require_leader(s);
	m = find_member(s, node_id);
	if (m == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node %u is not a member of the dcf cluster", node_id),
				 errhint("dcf_membership() lists the members.")));
	require_no_change(s);
	for (int i = 0; i < n; i++)
	{
		/* the core answers "nothing to change" at once for an unchanged value */
		timeout_ms = run_request(&reqs[i], timeout_ms);
	}
	return_members(fcinfo);
	return (Datum) 0;
}

Datum
dcf_admin_requests(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DcfAdminShared *s;

	require_channel();
	s = snapshot();
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < DCF_ADMIN_SLOTS; i++)
	{
		const DcfAdminSlot *sl = &s->slots[i];
		Datum		values[9];
		bool		nulls[9] = {0};
		uint32		target;

		if (sl->id == 0 || sl->state == DCF_ADMIN_FREE)
			continue;
		target = sl->req.kind == DCF_ADMIN_ADD_MEMBER ? sl->req.member.node_id : sl->req.node_id;
		values[0] = Int64GetDatum((int64) sl->id);
		values[1] = CStringGetTextDatum(dcf_admin_kind_name(sl->req.kind));
		values[2] = Int32GetDatum((int32) target);
		nulls[2] = target == 0;
		values[3] = CStringGetTextDatum(dcf_admin_state_name(sl->state));
		values[4] = CStringGetTextDatum(sl->reason);
		nulls[4] = sl->reason[0] == '\0';
		values[5] = Int64GetDatum((int64) sl->config_index);
		nulls[5] = sl->config_index == 0;
		values[6] = TimestampTzGetDatum(sl->posted_at);
		values[7] = TimestampTzGetDatum(sl->finished_at);
		nulls[7] = sl->finished_at == 0;
		values[8] = Int32GetDatum(sl->requester_pid);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
