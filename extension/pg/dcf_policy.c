/*-------------------------------------------------------------------------
 *
 * dcf_policy.c
 *		The policy features' settings (see dcf_policy.h), their publication
 *		for dcf_replication_info(), and the leader's policy sent to members.
 *
 *   dcf.majority_groups            restart  groups that must each hold every
 *                                           committed entry (core option)
 *   dcf.priority_election          reload   the leader's switch counts
 *                                           (DCF_ADMIN_SET_PRIORITY_ELECTION)
 *   dcf.election_switch_threshold  restart  least time between priority
 *                                           hand-overs (priority_interval_ms)
 *   dcf.flow_control               restart  adaptive batch size and window
 *   dcf.run_mode                   reload   DCF_ADMIN_SET_RUN_MODE
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"

#include "pg/dcf_config.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_policy.h"
#include "pg/dcf_worker_int.h"

#define POLICY_SEND_EVERY_MS	1000
#define POLICY_TICK_MS			50
#define POLICY_MSG_VERSION		1
#define POLICY_MSG_HEADER_BYTES 12	/* version, flow, priority, n, interval u32, run_mode u32 */

static char *majority_groups_setting = NULL;
static bool priority_election_setting = false;
static int	switch_threshold_ms = 0;
static bool flow_control_setting = false;

/* parsed dcf.majority_groups */
typedef struct PolicyGroups
{
	uint32		n;
	uint32		g[DCF_GROUPS_MAX];
} PolicyGroups;

static PolicyGroups groups_parsed;

/* what this node runs with, and what its leader said it runs with */
typedef struct PolicyShared
{
	slock_t		mutex;
	bool		published;
	PolicyGroups groups;
	bool		priority_election;
	uint32		switch_threshold_ms;
	bool		flow_control;
	int			run_mode;
	dcf_flow_status flow;
	uint32		leader_id;		/* the leader whose policy differs, 0: none */
	char		leader_differs[256];
	/* leader: the peers whose last answer came in minority work mode */
	uint32		n_peers;
	uint32		peer_ids[DCF_MEMBERS_MAX];
	bool		peer_minority[DCF_MEMBERS_MAX];
} PolicyShared;

static PolicyShared *policy_shared = NULL;

/* ---- parameters -------------------------------------------------------------- */

static bool
parse_groups(const char *s, PolicyGroups *out, char *err, size_t errlen)
{
	const char *p = s ? s : "";

	memset(out, 0, sizeof(*out));
	while (*p)
	{
		char	   *end;
		long		v;

		while (isspace((unsigned char) *p))
			p++;
		if (*p == '\0')
			break;
		v = strtol(p, &end, 10);
		if (end == p || v < 0 || v > DCF_GROUP_MAX)
		{
			snprintf(err, errlen, "\"%s\" is not a list of group numbers between 0 and %d", s, DCF_GROUP_MAX);
			return false;
		}
		if (out->n >= DCF_GROUPS_MAX)
		{
			snprintf(err, errlen, "at most %d groups may be listed", DCF_GROUPS_MAX);
			return false;
		}
		for (uint32 i = 0; i < out->n; i++)
			if (out->g[i] == (uint32) v)
			{
				snprintf(err, errlen, "group %ld is listed twice", v);
				return false;
			}
		out->g[out->n++] = (uint32) v;
		p = end;
		while (isspace((unsigned char) *p))
			p++;
		if (*p == ',')
			p++;
		else if (*p != '\0')
		{
			snprintf(err, errlen, "\"%s\" is not a comma-separated list of group numbers", s);
			return false;
		}
	}
	return true;
}

static bool
check_majority_groups(char **newval, void **extra, GucSource source)
{
	PolicyGroups g;
	char		err[256];

	if (!parse_groups(*newval, &g, err, sizeof(err)))
	{
		GUC_check_errmsg("invalid dcf.majority_groups: %s", err);
		GUC_check_errhint("Give the group numbers of dcf.config that must each hold every committed entry, e.g. '1,2'.");
		return false;
	}
	return true;
}

static void
assign_majority_groups(const char *newval, void *extra)
{
	char		err[256];

	if (!parse_groups(newval, &groups_parsed, err, sizeof(err)))
		memset(&groups_parsed, 0, sizeof(groups_parsed));
}

void
dcf_policy_define_parameters(void)
{
	DefineCustomStringVariable("dcf.majority_groups",
							   "Groups (dcf.config \"group\") that must each hold every committed entry.",
							   "Comma-separated group numbers; empty: the weighted majority alone decides. The leader's setting is the rule in force.",
							   &majority_groups_setting,
							   "",
							   PGC_POSTMASTER,
							   0,
							   check_majority_groups, assign_majority_groups, NULL);
	DefineCustomBoolVariable("dcf.priority_election",
							 "The leader hands leadership to a caught-up member of higher priority.",
							 "The leader's setting counts; off in run mode 2.",
							 &priority_election_setting,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("dcf.election_switch_threshold",
							"Least time between two priority hand-overs.",
							"0: two election timeouts.",
							&switch_threshold_ms,
							0, 0, 86400000,
							PGC_POSTMASTER,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("dcf.flow_control",
							 "The leader adapts its batch size and pipeline window to commit latency.",
							 NULL,
							 &flow_control_setting,
							 false,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);
}

void
dcf_policy_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(PolicyShared)));
}

void
dcf_policy_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	policy_shared = ShmemInitStruct("dcf_policy", sizeof(PolicyShared), &found);
	if (!found)
	{
		memset(policy_shared, 0, sizeof(PolicyShared));
		SpinLockInit(&policy_shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* ---- the worker -------------------------------------------------------------- */

void
dcf_policy_apply_options(dcf_options *o)
{
	o->n_majority_groups = groups_parsed.n;
	memcpy(o->majority_groups, groups_parsed.g, sizeof(uint32) * groups_parsed.n);
	o->priority_election = priority_election_setting;
	o->priority_interval_ms = (uint32) switch_threshold_ms;
	o->flow_control = flow_control_setting;
	o->run_mode = dcf_run_mode_setting == 2 ? DCF_RUN_MODE_NONE : DCF_RUN_MODE_AUTO;
}

static size_t
encode_policy(uint8 *buf, size_t cap)
{
	size_t		n = POLICY_MSG_HEADER_BYTES + 4 * groups_parsed.n;
	uint32		iv = (uint32) switch_threshold_ms;
	uint32		rm = (uint32) dcf_run_mode_setting;

	if (n > cap)
		return 0;
	buf[0] = POLICY_MSG_VERSION;
	buf[1] = flow_control_setting;
	buf[2] = priority_election_setting;
	buf[3] = (uint8) groups_parsed.n;
	memcpy(buf + 4, &iv, 4);
	memcpy(buf + 8, &rm, 4);
	for (uint32 i = 0; i < groups_parsed.n; i++)
		memcpy(buf + POLICY_MSG_HEADER_BYTES + 4 * i, &groups_parsed.g[i], 4);
	return n;
}

static void
groups_text(StringInfo s, const uint32 *g, uint32 n)
{
	appendStringInfoChar(s, '[');
	for (uint32 i = 0; i < n; i++)
		appendStringInfo(s, "%s%u", i ? "," : "", g[i]);
	appendStringInfoChar(s, ']');
}

/* A member: compare the leader's policy with ours. */
void
policy_on_message(DcfWorker *w, uint32_t from, const uint8_t *data, size_t len)
{
	uint8		mine[POLICY_MSG_HEADER_BYTES + 4 * DCF_GROUPS_MAX];
	size_t		n = encode_policy(mine, sizeof(mine));
	StringInfoData s;
	uint32		ng;
	uint32		lg[DCF_GROUPS_MAX];
	uint32		iv;
	bool		differs;

	if (len < POLICY_MSG_HEADER_BYTES || data[0] != POLICY_MSG_VERSION || from != w->leader_id)
		return;
	ng = Min(data[3], DCF_GROUPS_MAX);
	if (len < POLICY_MSG_HEADER_BYTES + 4 * ng)
		return;
	memcpy(&iv, data + 4, 4);
	for (uint32 i = 0; i < ng; i++)
		memcpy(&lg[i], data + POLICY_MSG_HEADER_BYTES + 4 * i, 4);
	/* the run mode is a node's own: compared are the rules the leader applies */
	differs = len != n || memcmp(data, mine, 4) != 0 || memcmp(data + 4, mine + 4, 4) != 0 ||
		memcmp(data + POLICY_MSG_HEADER_BYTES, mine + POLICY_MSG_HEADER_BYTES, 4 * ng) != 0;
	initStringInfo(&s);
	if (differs)
	{
		appendStringInfo(&s, "majority_groups ");
		groups_text(&s, lg, ng);
		appendStringInfo(&s, ", priority_election %s, election_switch_threshold %u ms, flow_control %s",
						 data[2] ? "on" : "off", iv, data[1] ? "on" : "off");
	}
	SpinLockAcquire(&policy_shared->mutex);
	if (differs && (policy_shared->leader_id != from || strcmp(policy_shared->leader_differs, s.data) != 0))
	{
		SpinLockRelease(&policy_shared->mutex);
		ereport(WARNING,
				(errmsg("dcf: the policy settings of leader %u differ from this node's", from),
				 errdetail("The leader runs with %s; the commit rule in force is the leader's, and it changes if this node leads.", s.data),
				 errhint("Set dcf.majority_groups, dcf.priority_election, dcf.election_switch_threshold and dcf.flow_control alike on every node.")));
		SpinLockAcquire(&policy_shared->mutex);
	}
	policy_shared->leader_id = differs ? from : 0;
	strlcpy(policy_shared->leader_differs, differs ? s.data : "", sizeof(policy_shared->leader_differs));
	SpinLockRelease(&policy_shared->mutex);
	pfree(s.data);
}

/*
 * Every turn: settings changed by a reload go to the core; what is in force
 * is published; the leader sends its policy to the members.
 */
void
policy_tick(DcfWorker *w, uint64_t now_ms)
{
	static uint64_t last_sent_ms = 0;
	static uint64_t last_tick_ms = 0;
	static int	tried_rm = -1;
	static int	tried_pe = -1;
	dcf_status *st;
	/*
	 * A removed node stays out of elections whatever dcf.run_mode says
	 * (dcf_removed.c), and so does a diverged one, which can never promote
	 * (dcf_walsource.c); both still vote.
	 */
	dcf_run_mode want_rm = (w->removed || w->diverged || dcf_run_mode_setting == 2) ?
		DCF_RUN_MODE_NONE : DCF_RUN_MODE_AUTO;
	char		err[DCF_ERRMSG_MAX];

	if (now_ms - last_tick_ms < POLICY_TICK_MS)
		return;
	last_tick_ms = now_ms;
	st = palloc(sizeof(dcf_status));
	dcf_host_status(w->host, st);
	/* a setting the core refused is tried again only once it changes */
	if ((st->run_mode != want_rm && tried_rm != (int) want_rm) ||
		(st->priority_election != priority_election_setting && tried_pe != (int) priority_election_setting))
	{
		dcf_admin_request req;
		dcf_rc		rc;

		memset(&req, 0, sizeof(req));
		if (st->run_mode != want_rm && tried_rm != (int) want_rm)
		{
			req.kind = DCF_ADMIN_SET_RUN_MODE;
			req.value = (uint32) want_rm;
			tried_rm = (int) want_rm;
		}
		else
		{
			req.kind = DCF_ADMIN_SET_PRIORITY_ELECTION;
			req.value = priority_election_setting ? 1 : 0;
			tried_pe = (int) priority_election_setting;
		}
		err[0] = '\0';
		rc = dcf_host_admin(w->host, &req, now_ms, err);
		if (rc != DCF_OK && rc != DCF_ERR_STATE && rc != DCF_ERR_INVALID)
			worker_panic("applying a reloaded dcf setting", err);
		ereport(rc == DCF_OK ? LOG : WARNING,
				(errmsg("dcf: %s = %s %s%s", req.kind == DCF_ADMIN_SET_RUN_MODE ? "dcf.run_mode" : "dcf.priority_election",
						req.kind == DCF_ADMIN_SET_RUN_MODE ? (want_rm == DCF_RUN_MODE_NONE ? "2" : "0") :
						(priority_election_setting ? "on" : "off"),
						rc == DCF_OK ? "applied" : "not applied: ", rc == DCF_OK ? "" : err)));
		dcf_host_status(w->host, st);
	}

	SpinLockAcquire(&policy_shared->mutex);
	policy_shared->published = true;
	policy_shared->groups = groups_parsed;
	policy_shared->priority_election = st->priority_election;
	policy_shared->switch_threshold_ms = (uint32) switch_threshold_ms;
	policy_shared->flow_control = flow_control_setting;
	policy_shared->run_mode = st->run_mode;
	policy_shared->flow = st->flow;
	policy_shared->n_peers = st->n_peers;
	for (uint32 i = 0; i < st->n_peers && i < DCF_MEMBERS_MAX; i++)
	{
		policy_shared->peer_ids[i] = st->peers[i].node_id;
		policy_shared->peer_minority[i] = st->peers[i].minority;
	}
	if (st->role == DCF_ROLE_LEADER)
	{
		policy_shared->leader_id = 0;
		policy_shared->leader_differs[0] = '\0';
	}
	SpinLockRelease(&policy_shared->mutex);

	if (st->role == DCF_ROLE_LEADER && now_ms - last_sent_ms >= POLICY_SEND_EVERY_MS)
	{
		uint8		buf[POLICY_MSG_HEADER_BYTES + 4 * DCF_GROUPS_MAX];
		size_t		n = encode_policy(buf, sizeof(buf));
		const dcf_membership *ms = dcf_host_membership(w->host);

		last_sent_ms = now_ms;
		for (uint32 i = 0; i < ms->n_members; i++)
			if (ms->members[i].node_id != (uint32) dcf_node_id)
				(void) dcf_host_send_app(w->host, ms->members[i].node_id, MSG_POLICY, buf, n, err);
	}
	pfree(st);
}

/* ---- SQL ------------------------------------------------------------------------ */

char *
dcf_policy_json(void)
{
	PolicyShared p;
	StringInfoData s;

	SpinLockAcquire(&policy_shared->mutex);
	memcpy(&p, policy_shared, sizeof(p));
	SpinLockRelease(&policy_shared->mutex);
	if (!p.published)
	{
		/* before the worker's first turn: the settings */
		p.groups = groups_parsed;
		p.priority_election = priority_election_setting;
		p.switch_threshold_ms = (uint32) switch_threshold_ms;
		p.flow_control = flow_control_setting;
	}
	initStringInfo(&s);
	appendStringInfoString(&s, "{\"majority_groups\": ");
	groups_text(&s, p.groups.g, p.groups.n);
	appendStringInfo(&s, ", \"priority_election\": %s, \"election_switch_threshold_ms\": %u, \"flow_control\": %s",
					 p.priority_election ? "true" : "false",
					 p.switch_threshold_ms ? p.switch_threshold_ms : 2 * (uint32) dcf_election_timeout_ms,
					 p.flow_control ? "true" : "false");
	appendStringInfo(&s, ", \"flow\": {\"enabled\": %s, \"level\": %u, \"batch_entries\": %u, \"batch_bytes\": %u, "
					 "\"inflight_appends\": %u, \"commit_latency_ms\": %u, \"entries_per_s\": " UINT64_FORMAT
					 ", \"bytes_per_s\": " UINT64_FORMAT ", \"demand\": %s, \"periods\": " UINT64_FORMAT
					 ", \"adjustments\": " UINT64_FORMAT "}",
					 p.flow.enabled ? "true" : "false", p.flow.level, p.flow.batch_entries, p.flow.batch_bytes,
					 p.flow.inflight_appends, p.flow.commit_latency_ms, p.flow.entries_per_s, p.flow.bytes_per_s,
					 p.flow.demand ? "true" : "false", p.flow.periods, p.flow.adjustments);
	if (p.leader_id != 0)
	{
		appendStringInfo(&s, ", \"leader_differs\": {\"leader_id\": %u, \"leader_runs\": \"", p.leader_id);
		for (const char *c = p.leader_differs; *c; c++)
			if (*c != '"' && *c != '\\')
				appendStringInfoChar(&s, *c);
		appendStringInfoString(&s, "\"}");
	}
	appendStringInfoChar(&s, '}');
	return s.data;
}

bool
dcf_policy_peer_minority(uint32 node_id, bool *minority)
{
	bool		known = false;

	SpinLockAcquire(&policy_shared->mutex);
	for (uint32 i = 0; i < policy_shared->n_peers; i++)
		if (policy_shared->peer_ids[i] == node_id)
		{
			*minority = policy_shared->peer_minority[i];
			known = true;
		}
	SpinLockRelease(&policy_shared->mutex);
	return known;
}
