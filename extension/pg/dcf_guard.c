/*-------------------------------------------------------------------------
 *
 * dcf_guard.c
 *		What keeps clients from getting around consensus: the login gate,
 *		the commit guard, and the reserved standby name.
 *
 * Invariants kept here:
 *   1. A commit is acknowledged only after a majority has it.  Every
 *      commit waits in synchronous replication for the standby named
 *      DCF_STANDBY_NAME, which is the worker's WAL pump, reporting the
 *      consensus commit position.  So a transaction, a COMMIT PREPARED and a
 *      ROLLBACK PREPARED are refused when synchronous_commit is below
 *      remote_write (they would not wait).
 *   2. Only the pump can be that standby.  A walsender whose
 *      application_name is DCF_STANDBY_NAME must present the per-boot
 *      token the pump gets from shared memory (in dcf.pump_token among its
 *      startup options); a walsender cannot take the name later (SET or
 *      set_config() in a logical replication connection are refused).
 *   3. Sessions on a node that has not joined its cluster, or on a leader
 *      that lost its majority, are refused; dcf_ctl's sessions
 *      (application_name dcf_ctl) are let in to read the node's state, and
 *      can write nothing.
 *   4. A fenced node refuses every login but the pump's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "postmaster/autovacuum.h"
#include "replication/syncrep.h"
#include "replication/walsender.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "pg/dcf_guard.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_shmem.h"

/* election timeouts without a publish from the worker before logins are refused */
#define DCF_GUARD_STALE_TIMEOUTS	3

char	   *dcf_pump_token_setting = NULL;

static ClientAuthentication_hook_type prev_client_auth_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;
static ExecutorEnd_hook_type prev_executor_end_hook = NULL;

/* this session was let in only to read (dcf_ctl on a node not serving) */
static bool session_read_only = false;

static bool
is_standby_name(const char *name)
{
	return name != NULL && pg_strcasecmp(name, DCF_STANDBY_NAME) == 0;
}

/*
 * The value given for parameter name at connection start, or NULL: as a
 * startup packet parameter, or in the "options" string as "-c name=value",
 * "-cname=value" or "--name=value".  The result may be palloc'd.
 */
static const char *
startup_option(Port *port, const char *name)
{
	ListCell   *lc;
	const char *found = NULL;

	foreach(lc, port->guc_options)
	{
		const char *n = lfirst(lc);

		lc = lnext(port->guc_options, lc);
		if (lc == NULL)
			break;
		if (pg_strcasecmp(n, name) == 0)
			found = lfirst(lc);
	}
	if (port->cmdline_options)
	{
		char	   *opts = pstrdup(port->cmdline_options);
		char	   *save = NULL;
		bool		after_c = false;
		size_t		nlen = strlen(name);

		for (char *tok = strtok_r(opts, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save))
		{
			char	   *setting = NULL;

			if (after_c)
				setting = tok;
			else if (strncmp(tok, "-c", 2) == 0 && tok[2] != '\0')
				setting = tok + 2;
			else if (strncmp(tok, "--", 2) == 0)
				setting = tok + 2;
			after_c = strcmp(tok, "-c") == 0;
			if (setting == NULL)
				continue;
			for (char *p = setting; *p && *p != '='; p++)
				if (*p == '-')
					*p = '_';
			if (pg_strncasecmp(setting, name, nlen) == 0 && setting[nlen] == '=')
				found = setting + nlen + 1;
		}
	}
	return found;
}

static void
dcf_login_hook(Port *port, int status)
{
	bool		joined,
				fenced,
				suspended;
	bool		is_ctl;
	char		token[DCF_PUMP_TOKEN_BYTES];

	if (prev_client_auth_hook)
		prev_client_auth_hook(port, status);
	if (status != STATUS_OK || dcf_shared == NULL || !dcf_shared->enabled)
		return;
	LWLockAcquire(dcf_shared->lock, LW_SHARED);
	/* a worker that stopped publishing cannot vouch for the node */
	joined = dcf_shared->joined &&
		!TimestampDifferenceExceeds(dcf_shared->published_at, GetCurrentTimestamp(),
									DCF_GUARD_STALE_TIMEOUTS * dcf_election_timeout_ms);
	fenced = dcf_shared->fenced;
	suspended = dcf_shared->suspended;
	memcpy(token, dcf_shared->pump_token, sizeof(token));
	LWLockRelease(dcf_shared->lock);

	/* invariant 2: the reserved standby name */
	if (is_standby_name(port->application_name) ||
		is_standby_name(startup_option(port, "application_name")))
	{
		const char *given = startup_option(port, "dcf.pump_token");

		if (!am_walsender)
			return;				/* a plain session: the name means nothing */
		if (given == NULL || token[0] == '\0' || strcmp(given, token) != 0)
			ereport(FATAL,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("replication connections named \"%s\" are reserved for the dcf worker", DCF_STANDBY_NAME),
					 errdetail("Commits wait for the standby of that name; only the dcf worker may report for it."),
					 errhint("Use another application_name.")));
		return;					/* the pump: let in even while fenced */
	}

	if (fenced)
		ereport(FATAL,
				(errcode(ERRCODE_CANNOT_CONNECT_NOW),
				 errmsg("this dcf node lost leadership and is shutting down"),
				 errhint("Connect to the current leader.")));
	is_ctl = port->application_name && strcmp(port->application_name, "dcf_ctl") == 0;
	if (am_walsender)
		return;
	if (suspended && !is_ctl)
		ereport(FATAL,
				(errcode(ERRCODE_CANNOT_CONNECT_NOW),
				 errmsg("this dcf node lost contact with the majority of its cluster"),
				 errdetail("It acknowledges no commit until it is elected again."),
				 errhint("Connect to the current leader.")));
	if (!joined && !is_ctl)
		ereport(FATAL,
				(errcode(ERRCODE_CANNOT_CONNECT_NOW),
				 errmsg("this dcf node has not joined its cluster yet"),
				 errdetail("Logins are accepted once the node leads or follows a leader."),
				 errhint("Retry shortly; dcf_ctl query -D shows the node's state.")));
	if (suspended || !joined)
		session_read_only = true;
}

static void
refuse_below_remote_write(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot %s with synchronous_commit = %s while dcf is enabled", what,
					synchronous_commit == SYNCHRONOUS_COMMIT_OFF ? "off" : "local"),
			 errdetail("A commit is acknowledged only after a majority of the dcf cluster has made it durable."),
			 errhint("Use synchronous_commit = on, remote_write or remote_apply.")));
}

/*
 * Invariants 1 and 3 for transactions: synchronous_commit = off or local
 * would acknowledge a commit before a majority has it (remote_write, on and
 * remote_apply all wait for the consensus commit position the WAL pump
 * reports).  Refuse such commits of transactions that wrote something.
 */
static void
dcf_xact_callback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PRE_PREPARE)
		return;
	if (dcf_shared == NULL || !dcf_shared->enabled)
		return;
	if (!TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return;
	if (session_read_only)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("this session may only read"),
				 errdetail("It was let in as dcf_ctl while the node does not serve clients.")));
	/*
	 * An autovacuum worker runs with synchronous_commit = local, forced by
	 * PostgreSQL so that maintenance never waits for standbys.  Its commits
	 * (ANALYZE's statistics, VACUUM's catalog updates) acknowledge nothing
	 * to any client, and its WAL reaches the log like all other WAL; refused,
	 * every autovacuum of a table failed on the leader and was retried at
	 * every naptime.
	 */
	if (synchronous_commit < SYNCHRONOUS_COMMIT_REMOTE_WRITE && !IsAutoVacuumWorkerProcess())
		refuse_below_remote_write("commit");
}

/*
 * Invariant 1 for two-phase commit: COMMIT PREPARED and ROLLBACK PREPARED
 * run in a transaction that owns no XID, so the commit callback does not
 * see them; they wait for synchronous replication on their own, unless
 * synchronous_commit is below remote_write.  Invariant 2: a walsender
 * cannot SET its application_name to the reserved name.
 */
static void
dcf_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					ProcessUtilityContext context, ParamListInfo params,
					QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (dcf_shared != NULL && dcf_shared->enabled)
	{
		if (IsA(parsetree, TransactionStmt))
		{
			TransactionStmt *ts = (TransactionStmt *) parsetree;

			if (ts->kind == TRANS_STMT_COMMIT_PREPARED || ts->kind == TRANS_STMT_ROLLBACK_PREPARED)
			{
				if (session_read_only)
					ereport(ERROR,
							(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
							 errmsg("this session may only read"),
							 errdetail("It was let in as dcf_ctl while the node does not serve clients.")));
				if (synchronous_commit < SYNCHRONOUS_COMMIT_REMOTE_WRITE)
					refuse_below_remote_write(ts->kind == TRANS_STMT_COMMIT_PREPARED ?
											  "commit a prepared transaction" :
											  "roll back a prepared transaction");
			}
		}
		else if (am_walsender && IsA(parsetree, VariableSetStmt))
		{
			VariableSetStmt *vs = (VariableSetStmt *) parsetree;

			if (vs->name && pg_strcasecmp(vs->name, "application_name") == 0 &&
				vs->kind == VAR_SET_VALUE && vs->args != NIL &&
				IsA(linitial(vs->args), A_Const) &&
				IsA(&((A_Const *) linitial(vs->args))->val, String) &&
				is_standby_name(strVal(&((A_Const *) linitial(vs->args))->val)))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("the application_name \"%s\" is reserved for the dcf worker", DCF_STANDBY_NAME)));
		}
	}
	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/*
 * Invariant 2 for any other way a query can change application_name in a
 * walsender (set_config() in a logical replication connection): fail the
 * query, which rolls the change back.
 */
static void
dcf_executor_end(QueryDesc *queryDesc)
{
	if (prev_executor_end_hook)
		prev_executor_end_hook(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	if (am_walsender && dcf_shared != NULL && dcf_shared->enabled && is_standby_name(application_name))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the application_name \"%s\" is reserved for the dcf worker", DCF_STANDBY_NAME)));
}

void
dcf_guard_define_parameters(void)
{
	DefineCustomStringVariable("dcf.pump_token",
							   "Proof that a replication connection is the dcf worker's WAL pump.",
							   "Set by the worker only; see dcf_guard.c.",
							   &dcf_pump_token_setting,
							   "",
							   PGC_BACKEND,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_SUPERUSER_ONLY | GUC_NO_RESET_ALL,
							   NULL, NULL, NULL);
}

void
dcf_guard_install(void)
{
	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = dcf_login_hook;
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = dcf_process_utility;
	prev_executor_end_hook = ExecutorEnd_hook;
	ExecutorEnd_hook = dcf_executor_end;
	RegisterXactCallback(dcf_xact_callback, NULL);
}
