/*-------------------------------------------------------------------------
 *
 * dcf.c
 *		Module entry point: parameters, shared memory hooks and the
 *		registration of the consensus background worker.
 *
 * dcf must be in shared_preload_libraries.  At postmaster start _PG_init
 * defines the dcf.* parameters, checks that an enabled node has a usable
 * configuration (refusing to start with a FATAL that says what to fix),
 * creates dcf.data_path if needed, and registers the worker to start with
 * the postmaster (a standby waiting for WAL never reaches consistency, so
 * the worker cannot wait for it).
 *
 * dcf.config is validated in its check hook by the validator shared with
 * dcf_check_config() and dcf_ctl (dcf_config.c).  At first start the worker
 * takes the membership from it; later the membership lives in
 * dcf.data_path, as in openGauss's DCF.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "fmgr.h"
#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "storage/fd.h"
#include "postmaster/bgworker.h"
#include "replication/walsender.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "core/dcf_assert.h"
#include "pg/dcf_guard.h"
#include "pg/dcf_inject.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_admin.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_policy.h"
#include "pg/dcf_switchover.h"
#include "pg/dcf_worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

bool		dcf_enable = false;
int			dcf_node_id = 0;
char	   *dcf_data_path = NULL;
char	   *dcf_config_json = NULL;
int			dcf_election_timeout_ms = 1000;
int			dcf_heartbeat_interval_ms = 100;
int			dcf_run_mode_setting = 0;
char	   *dcf_auth_key_file = NULL;
bool		dcf_ssl = false;
char	   *dcf_ssl_cert_file = NULL;
char	   *dcf_ssl_key_file = NULL;
char	   *dcf_ssl_ca_file = NULL;
int			dcf_compress = 0;
int			dcf_log_retention_size_mb = 4096;
bool		dcf_log_direct_io = true;
bool		dcf_log_sync_thread = true;

static const struct config_enum_entry run_mode_options[] = {
	{"0", 0, false},
	{"2", 2, false},
	{"auto", 0, false},
	{"none", 2, false},
	{NULL, 0, false}
};

static const struct config_enum_entry compress_options[] = {
	{"none", 0, false},
	{"lz4", 1, false},
	{NULL, 0, false}
};

DcfConfig	dcf_config_parsed;
char		dcf_data_path_abs[MAXPGPATH];

/* the last complaint of the dcf.config check hook, for the FATAL at start */
static DcfConfigError config_last_error;
static bool config_last_failed = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
dcf_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	dcf_shmem_request();
	dcf_admin_shmem_request();
	dcf_switchover_shmem_request();
	dcf_policy_shmem_request();
}

static void
dcf_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	dcf_shmem_startup();
	dcf_admin_shmem_startup();
	dcf_switchover_shmem_startup();
	dcf_policy_shmem_startup();
}

/*
 * Pure-layer assertion failures end here: a broken invariant stops the
 * server with the failing expression in the log.
 */
static void
dcf_panic_hook(const char *file, int line, const char *msg)
{
	elog(PANIC, "dcf invariant violated at %s:%d: %s", file, line, msg);
}

static bool
check_dcf_config(char **newval, void **extra, GucSource source)
{
	DcfConfig  *cfg;

	config_last_failed = false;
	if (*newval == NULL || (*newval)[0] == '\0')
	{
		/* unset: allowed here; _PG_init refuses it when dcf.enable is on */
		cfg = malloc(sizeof(DcfConfig));
		if (cfg == NULL)
			return false;
		memset(cfg, 0, sizeof(DcfConfig));
		*extra = cfg;
		return true;
	}
	cfg = malloc(sizeof(DcfConfig));
	if (cfg == NULL)
		return false;
	if (!dcf_config_parse(*newval, cfg, &config_last_error))
	{
		free(cfg);
		config_last_failed = true;
		GUC_check_errmsg("%s", config_last_error.message);
		if (config_last_error.detail[0])
			GUC_check_errdetail("%s", config_last_error.detail);
		if (config_last_error.hint[0])
			GUC_check_errhint("%s", config_last_error.hint);
		return false;
	}
	*extra = cfg;
	return true;
}

static void
assign_dcf_config(const char *newval, void *extra)
{
	if (extra)
		memcpy(&dcf_config_parsed, extra, sizeof(DcfConfig));
	else
		memset(&dcf_config_parsed, 0, sizeof(DcfConfig));
}

static void
define_parameters(void)
{
	DefineCustomBoolVariable("dcf.enable",
							 "Enables consensus-based replication and failover (dcf).",
							 NULL,
							 &dcf_enable,
							 false,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("dcf.node_id",
							"Node id of this server in dcf.config.",
							NULL,
							&dcf_node_id,
							0, 0, INT_MAX,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("dcf.data_path",
							   "Directory holding this node's consensus log and metadata.",
							   "Must be outside the data directory; created with mode 0700 if missing.",
							   &dcf_data_path,
							   "",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("dcf.config",
							   "Cluster membership at first start, in openGauss dcf_config JSON format.",
							   "Read only when dcf.data_path holds no membership yet.",
							   &dcf_config_json,
							   "",
							   PGC_POSTMASTER,
							   0,
							   check_dcf_config, assign_dcf_config, NULL);
	DefineCustomIntVariable("dcf.election_timeout",
							"Time without a leader's heartbeat after which a follower starts an election.",
							NULL,
							&dcf_election_timeout_ms,
							1000, 100, 600000,
							PGC_POSTMASTER,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("dcf.heartbeat_interval",
							"Interval between the leader's heartbeats.",
							NULL,
							&dcf_heartbeat_interval_ms,
							100, 10, 60000,
							PGC_POSTMASTER,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("dcf.run_mode",
							 "Election mode: 0 = automatic election, 2 = no automatic election.",
							 "With 2, leadership changes only by explicit switchover or promotion.",
							 &dcf_run_mode_setting,
							 0, run_mode_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("dcf.auth_key_file",
							   "File holding the cluster key that nodes prove to each other.",
							   "At least 32 bytes, mode 0600, the same file on every node.",
							   &dcf_auth_key_file,
							   "",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);
	DefineCustomBoolVariable("dcf.ssl",
							 "Encrypts dcf node-to-node traffic with mutual TLS.",
							 NULL,
							 &dcf_ssl,
							 false,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("dcf.ssl_cert_file",
							   "This node's TLS certificate for dcf traffic.",
							   NULL, &dcf_ssl_cert_file, "", PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("dcf.ssl_key_file",
							   "This node's TLS private key for dcf traffic.",
							   NULL, &dcf_ssl_key_file, "", PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("dcf.ssl_ca_file",
							   "CA certificate that signs every node's dcf certificate.",
							   NULL, &dcf_ssl_ca_file, "", PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	DefineCustomEnumVariable("dcf.compress",
							 "Compression of large dcf messages (WAL): none or lz4.",
							 NULL,
							 &dcf_compress,
							 0, compress_options,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("dcf.log_retention_size",
							"Most WAL a leader keeps in its consensus log for a member that lags behind.",
							"A member further behind is released and must be rebuilt (dcf_ctl build); 0 keeps the log for every member however far behind.",
							&dcf_log_retention_size_mb,
							4096, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("dcf.log_direct_io",
							 "Writes large appends to the consensus log with direct I/O, bypassing the page cache.",
							 "Appends of 64 kB and more (bulk loads) are written with O_DIRECT where the file system allows it; off writes everything through the page cache.",
							 &dcf_log_direct_io,
							 true,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("dcf.log_sync_thread",
							 "Makes the consensus log durable in a thread of its own.",
							 "The worker goes on receiving, appending and sending while the log's fdatasync runs; acknowledgements and votes still leave only once what they claim is on disk.  Off: the worker waits for every fdatasync itself.",
							 &dcf_log_sync_thread,
							 true,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("dcf");
}

int
dcf_feeder_port(void)
{
	return PostPortNumber;
}

/*
 * Resolve dcf.data_path to an absolute path (relative paths are relative to
 * the data directory) and make sure we can use it: create it with mode 0700
 * if missing, refuse a non-directory, a directory we cannot write, one that
 * others can write, and any path inside the data directory (pg_basebackup
 * and pg_rewind copy the data directory between nodes, and a node's
 * consensus log must never travel with it).
 */
bool
dcf_prepare_data_path(int elevel)
{
	struct stat st;
	char	   *abs;

	if (dcf_data_path == NULL || dcf_data_path[0] == '\0')
	{
		ereport(elevel,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dcf.data_path is not set"),
				 errhint("Set dcf.data_path to a directory outside the data directory, for example \"%s/../dcf_data\".",
						 DataDir)));
		return false;
	}
	abs = make_absolute_path(dcf_data_path);
	canonicalize_path(abs);
	strlcpy(dcf_data_path_abs, abs, MAXPGPATH);
	free(abs);				/* make_absolute_path() mallocs */

	{
		char		datadir[MAXPGPATH];

		strlcpy(datadir, DataDir, MAXPGPATH);
		canonicalize_path(datadir);
		if (path_is_prefix_of_path(datadir, dcf_data_path_abs))
		{
			ereport(elevel,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("dcf.data_path \"%s\" is inside the data directory", dcf_data_path_abs),
					 errdetail("pg_basebackup and pg_rewind copy the data directory between nodes, and each node's consensus log must stay its own."),
					 errhint("Choose a directory outside \"%s\".", datadir)));
			return false;
		}
	}

	if (stat(dcf_data_path_abs, &st) != 0)
	{
		if (errno != ENOENT)
		{
			ereport(elevel,
					(errcode_for_file_access(),
					 errmsg("could not access dcf.data_path \"%s\": %m", dcf_data_path_abs)));
			return false;
		}
		if (pg_mkdir_p(dcf_data_path_abs, S_IRWXU) != 0)
		{
			ereport(elevel,
					(errcode_for_file_access(),
					 errmsg("could not create dcf.data_path \"%s\": %m", dcf_data_path_abs)));
			return false;
		}
		if (chmod(dcf_data_path_abs, S_IRWXU) != 0)
		{
			ereport(elevel,
					(errcode_for_file_access(),
					 errmsg("could not set permissions of dcf.data_path \"%s\": %m", dcf_data_path_abs)));
			return false;
		}
		ereport(LOG,
				(errmsg("dcf created data path \"%s\"", dcf_data_path_abs)));
		return true;
	}
	if (!S_ISDIR(st.st_mode))
	{
		ereport(elevel,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dcf.data_path \"%s\" is not a directory", dcf_data_path_abs)));
		return false;
	}
	if (st.st_uid != geteuid())
	{
		ereport(elevel,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dcf.data_path \"%s\" is not owned by the server's user", dcf_data_path_abs),
				 errhint("Change its owner to the user the server runs as, or choose another directory.")));
		return false;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
	{
		ereport(elevel,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dcf.data_path \"%s\" is writable by group or others", dcf_data_path_abs),
				 errhint("Run chmod 0700 on it.")));
		return false;
	}
	if (access(dcf_data_path_abs, R_OK | W_OK | X_OK) != 0)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("cannot use dcf.data_path \"%s\": %m", dcf_data_path_abs)));
		return false;
	}
	return true;
}

/* Server settings dcf cannot choose for the user: refuse to start without them. */
static void
check_server_settings(void)
{
	if (wal_level < WAL_LEVEL_REPLICA)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dcf requires wal_level = replica or logical"),
				 errhint("Set wal_level = replica in postgresql.conf.")));
	if (max_wal_senders < 1)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dcf requires max_wal_senders of at least 1"),
				 errdetail("The leader's dcf worker streams its WAL through a walsender."),
				 errhint("Set max_wal_senders = 10 in postgresql.conf.")));
	if (Unix_socket_directories == NULL || Unix_socket_directories[0] == '\0')
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dcf requires a Unix socket"),
				 errdetail("The leader's dcf worker connects to its own server through it."),
				 errhint("Set unix_socket_directories in postgresql.conf.")));
}

/*
 * Everything a node needs besides the dcf.* settings the extension arranges
 * itself, in the postmaster before the startup process runs: the server
 * boots as a hot standby (standby.signal) whose walreceiver streams from
 * the local WAL feeder, commits wait for the WAL pump
 * (synchronous_standby_names = 'dcf'), and hint bits are WAL-logged so
 * pg_rewind can bring back a fenced leader.  These are set with the
 * highest priority, so a reload of postgresql.conf cannot undo them.
 * Settings it cannot choose for the user are checked.
 */
static void
arrange_server(void)
{
	char	   *conninfo;
	char		escaped[MAXPGPATH * 2];
	char	   *o = escaped;
	int			port = dcf_feeder_port();
	FILE	   *f;

	if (strlen(dcf_data_path_abs) + 20 >= 108)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dcf.data_path \"%s\" is too long", dcf_data_path_abs),
				 errdetail("The WAL feeder's Unix socket lives in it, and socket paths are limited to 107 bytes."),
				 errhint("Choose a path of at most 87 bytes.")));

	for (const char *c = dcf_data_path_abs; *c; c++)
	{
		if (*c == '\'' || *c == '\\')
			*o++ = '\\';
		*o++ = *c;
	}
	*o = '\0';
	conninfo = psprintf("host='%s' port=%d application_name='dcf_node_%d' connect_timeout=5",
						escaped, port, dcf_node_id);
	SetConfigOption("primary_conninfo", conninfo, PGC_POSTMASTER, PGC_S_OVERRIDE);
	SetConfigOption("primary_slot_name", "", PGC_POSTMASTER, PGC_S_OVERRIDE);
	SetConfigOption("recovery_target_timeline", "latest", PGC_POSTMASTER, PGC_S_OVERRIDE);
	SetConfigOption("synchronous_standby_names", DCF_STANDBY_NAME, PGC_POSTMASTER, PGC_S_OVERRIDE);
	SetConfigOption("wal_log_hints", "on", PGC_POSTMASTER, PGC_S_OVERRIDE);
	SetConfigOption("hot_standby", "on", PGC_POSTMASTER, PGC_S_OVERRIDE);
	/* follow a new timeline quickly; a user's own setting wins */
	SetConfigOption("wal_retrieve_retry_interval", "200ms", PGC_POSTMASTER, PGC_S_DYNAMIC_DEFAULT);

	/* every server boots as a standby; only the elected leader promotes */
	f = AllocateFile(STANDBY_SIGNAL_FILE, "w");
	if (f == NULL || FreeFile(f) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not create \"%s\": %m", STANDBY_SIGNAL_FILE)));
}

/* Does dcf.data_path already hold the consensus metadata (dcf.meta)? */
static bool
data_path_initialized(void)
{
	char		path[MAXPGPATH];
	struct stat st;
	char	   *abs;

	if (dcf_data_path == NULL || dcf_data_path[0] == '\0')
		return false;
	abs = make_absolute_path(dcf_data_path);
	snprintf(path, sizeof(path), "%s/dcf.meta", abs);
	free(abs);
	return stat(path, &st) == 0;
}

/*
 * At postmaster start with dcf.enable = on, everything the node needs must
 * be right, or the server does not start.
 */
static void
check_enabled_configuration(void)
{
	DcfConfigError err;

	if (config_last_failed)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid dcf.config: %s", config_last_error.message),
				 config_last_error.detail[0] ? errdetail("%s", config_last_error.detail) : 0,
				 errhint("%s", config_last_error.hint[0] ? config_last_error.hint :
						 "Fix dcf.config in postgresql.conf, or set dcf.enable = off.")));
	/*
	 * dcf.config is the membership of the first start only: once the data
	 * path holds the consensus metadata (an earlier start, or dcf_ctl build
	 * from the leader's membership), it may be stale, or absent.
	 */
	if (dcf_config_parsed.nmembers == 0 && !data_path_initialized())
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dcf.enable is on but dcf.config is not set"),
				 errhint("Set dcf.config to the cluster membership, a JSON array such as [{\"stream_id\":1,\"node_id\":1,\"ip\":\"127.0.0.1\",\"port\":17783,\"role\":\"LEADER\"}].")));
	if (!data_path_initialized() && !dcf_config_check_node(&dcf_config_parsed, dcf_node_id, &err))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", err.message),
				 err.hint[0] ? errhint("%s", err.hint) : 0));
	if (dcf_auth_key_file == NULL || dcf_auth_key_file[0] == '\0')
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dcf.auth_key_file is not set"),
				 errdetail("Nodes prove to each other that they hold the same cluster key before any message is accepted."),
				 errhint("Create one key for the cluster with \"openssl rand -hex 32 > FILE; chmod 600 FILE\", copy it to every node and set dcf.auth_key_file.")));
	check_server_settings();
	dcf_prepare_data_path(FATAL);
	dcf_check_identity();
}

void
_PG_init(void)
{
	BackgroundWorker worker;

	/*
	 * Loaded by LOAD or a function call instead of shared_preload_libraries:
	 * no parameters (PGC_POSTMASTER ones cannot be defined after startup),
	 * no shared state and no worker; the SQL functions say so.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	/* before define_parameters() reserves the prefix */
	dcf_switchover_define_parameters();
	dcf_policy_define_parameters();
	define_parameters();
	dcf_guard_define_parameters();
	dcf_inject_define_parameter();

	/*
	 * A single-user server (pg_rewind runs one for crash recovery) gets the
	 * parameters and nothing else: no standby mode, no worker.  Except
	 * wal_log_hints: the end of its recovery writes the setting into
	 * pg_control, and pg_rewind refuses a target whose pg_control says off.
	 */
	if (!IsPostmasterEnvironment)
	{
		if (dcf_enable)
			SetConfigOption("wal_log_hints", "on", PGC_POSTMASTER, PGC_S_OVERRIDE);
		return;
	}

	dcf_set_panic_hook(dcf_panic_hook);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = dcf_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = dcf_startup_hook;

	if (!dcf_enable)
		return;

	check_enabled_configuration();
	arrange_server();

	dcf_guard_install();
	dcf_switchover_install();

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_PostmasterStart;
	worker.bgw_restart_time = DCF_WORKER_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "dcf", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "dcf_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "dcf worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "dcf worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}
