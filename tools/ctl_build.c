/*
 * ctl_build.c — `dcf_ctl build`: make a node's data directory and consensus
 * log anew from the leader, keeping the node's own configuration.
 *
 *   dcf_ctl build [-b full] -D DATADIR [--source-server=CONNINFO]
 *                 [--lease=SECONDS] [--hold=SECONDS]
 *
 * For a new node (added first with `dcf_ctl member --operation=add`) and for
 * an existing one that cannot rejoin otherwise: its consensus log damaged
 * (dcf.meta lost), its WAL diverged beyond pg_rewind (rebuild_needed), or
 * released by the leader's dcf.log_retention_size.  DATADIR must hold the
 * node's own postgresql.conf (port, dcf.node_id, dcf.data_path, ...); its
 * server must be stopped.  The steps, each safe to interrupt (the next
 * build starts again from step 1, with the node's files from the save):
 *
 *  1. Save the node-local files (as dcf_ctl start's rewind does) durably in
 *     DATADIR.dcf_build/; an interrupted build's save is put back instead.
 *  2. Find the leader: --source-server names any member (or the leader),
 *     else the members recorded in <dcf.data_path>/pg_endpoints.  Refuse a
 *     node that is not a member (add it first) and a node_id the leader
 *     still hears from (another server runs with it).
 *  3. dcf_build_hold() on the leader: it keeps its log from the commit
 *     index on, under a lease that this command renews while it copies and
 *     that lapses if the build dies.
 *  4. Mark the node unstartable (<dcf.data_path>/rebuild_needed), empty its
 *     data directory and its dcf.data_path.
 *  5. pg_basebackup -X stream -c fast -P from the leader (progress shown).
 *  6. dcf_build_hold() with the copy's start LSN: the first index of the
 *     node's new consensus log (the first entry whose WAL ends past that
 *     LSN), the term before it and the membership in force.  The hold stays
 *     for --hold seconds (default 600) or until the node has caught up.
 *  7. Put the node-local files back; write the new consensus log: empty,
 *     starting at that index, with the membership and (when the old
 *     metadata could be read) the node's term and vote; remove the marker
 *     and the save.  The node then catches up from the log alone when it
 *     is started (dcf_ctl start).
 *
 * Exit status: 0 built, 1 failed (the reason on stderr).
 */
#define _GNU_SOURCE
#include "ctl_build.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#include "ctl_rewind.h"
#include "ctl_util.h"
#include "core/dcf_core.h"
#include "storage/log.h"
#include "storage/meta.h"
#include "storage/storage_io.h"

#define BUILD_LEASE_DEFAULT_S	30	/* the hold while copying, renewed every third */
#define BUILD_HOLD_DEFAULT_S	600 /* the hold after the build, until the node catches up */
#define BUILD_LIVE_MS			3000	/* a member heard from this recently is running */
#define BUILD_LIVE_WAIT_S		10	/* a node just stopped: wait that long to be sure */
#define BUILD_MARKER_REASON		"a dcf_ctl build of this node did not finish; run dcf_ctl build again"

typedef struct BuildOptions
{
	const char *datadir;
	const char *source;
	int			lease_s;
	int			hold_s;
} BuildOptions;

static void
build_usage(void)
{
	printf("dcf_ctl build makes a node's data directory and consensus log anew from the leader,\n"
		   "keeping the node's own configuration files.\n\n"
		   "Usage:\n"
		   "  dcf_ctl build [-b full] -D DATADIR [--source-server=CONNINFO] [--lease=SECONDS] [--hold=SECONDS]\n\n"
		   "Options:\n"
		   "  -b, --build-mode=full   the only mode: a full copy (pg_basebackup)\n"
		   "  -D, --pgdata=DATADIR    the node's data directory, holding its own postgresql.conf;\n"
		   "                          its server must be stopped\n"
		   "  --source-server=CONNINFO  any member of the cluster (the leader is found from it);\n"
		   "                          default: the members in <dcf.data_path>/pg_endpoints\n"
		   "  --lease=SECONDS         the leader's hold on its log while copying (default %d),\n"
		   "                          renewed; it lapses that long after a build dies\n"
		   "  --hold=SECONDS          how long the leader keeps the log for the node after the build\n"
		   "                          (default %d), or until the node has caught up\n"
		   "\nThe node must be a member (dcf_ctl member --operation=add) and stopped.\n"
		   "Then start it: dcf_ctl start -D DATADIR.\n"
		   "Exit status: 0 built, 1 failed.\n", BUILD_LEASE_DEFAULT_S, BUILD_HOLD_DEFAULT_S);
}

static int
parse_seconds(const char *what, const char *s)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < 1 || v > 86400)
	{
		ctl_error("invalid %s \"%s\": give a number of seconds between 1 and 86400", what, s);
		exit(1);
	}
	return (int) v;
}

/* ---- files ------------------------------------------------------------------ */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (ftw->level == 0)
		return 0;				/* keep the top directory */
	if (flag == FTW_DP || flag == FTW_D)
		return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Everything inside dir (dir itself stays). */
static bool
empty_dir(const char *dir)
{
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
	{
		ctl_error("could not empty \"%s\": %s", dir, strerror(errno));
		return false;
	}
	return ctl_fsync_dir(dir);
}

static bool
mkdir_p(const char *dir, mode_t mode)
{
	char		tmp[CTL_PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *p = tmp + 1; *p; p++)
	{
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return false;
		*p = '/';
	}
	return mkdir(tmp, mode) == 0 || errno == EEXIST;
}

static bool
write_marker(const char *dpath)
{
	char		path[CTL_PATH_MAX];
	const char *text = "reason=" BUILD_MARKER_REASON "\n";

	snprintf(path, sizeof(path), "%s/" CTL_REBUILD_MARKER, dpath);
	return ctl_write_durable(path, text, strlen(text), 0600);
}

/* ---- the leader ---------------------------------------------------------- */

static PGconn *
connect_ci(const char *conninfo, bool quiet)
{
	char	   *ci = malloc(strlen(conninfo) + 96);
	PGconn	   *c;

	sprintf(ci, "%s connect_timeout=10%s", conninfo,
			strstr(conninfo, "application_name") ? "" : " application_name=dcf_ctl");
	c = PQconnectdb(ci);
	free(ci);
	if (PQstatus(c) != CONNECTION_OK)
	{
		if (!quiet)
			ctl_error("could not connect to \"%s\": %.*s", conninfo,
					  (int) strcspn(PQerrorMessage(c), "\n"), PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* The server's error, the way psql prints it. */
static void
print_result_error(PGresult *r, const char *what)
{
	const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);

	ctl_error("%s failed: %s", what, primary ? primary : PQresultErrorMessage(r));
	if (detail)
		fprintf(stderr, "DETAIL:  %s\n", detail);
	if (hint)
		fprintf(stderr, "HINT:  %s\n", hint);
}

static PGresult *
leader_query(PGconn *c, const char *sql, int n, const char *const *params, const char *what)
{
	PGresult   *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		print_result_error(r, what);
		PQclear(r);
		return NULL;
	}
	return r;
}

/*
 * Connect to the leader through the member at conninfo.  *leader_ci gets
 * the leader's conninfo (for pg_basebackup).
 */
static PGconn *
reach_leader(const char *conninfo, bool quiet, char *leader_ci, size_t cap, long *leader_id)
{
	PGconn	   *c = connect_ci(conninfo, quiet);
	PGresult   *r;
	PGconn	   *l;

	if (c == NULL)
		return NULL;
	r = PQexec(c, "SELECT r.role, r.leader_id, m.pg_host, m.pg_port "
			   "FROM dcf_replication_info() r LEFT JOIN dcf_members() m ON m.node_id = r.leader_id");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
	{
		if (!quiet)
			print_result_error(r, "asking for the leader");
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	*leader_id = PQgetisnull(r, 0, 1) ? 0 : atol(PQgetvalue(r, 0, 1));
	if (strcmp(PQgetvalue(r, 0, 0), "LEADER") == 0)
	{
		snprintf(leader_ci, cap, "%s", conninfo);
		PQclear(r);
		return c;
	}
	if (*leader_id == 0 || PQgetisnull(r, 0, 2) || PQgetisnull(r, 0, 3))
	{
		if (!quiet)
			ctl_error("the member at \"%s\" knows no leader with a reachable server right now", conninfo);
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	snprintf(leader_ci, cap, "host=%s port=%s dbname=%s user=%s", PQgetvalue(r, 0, 2),
			 PQgetvalue(r, 0, 3), PQdb(c), PQuser(c));
	PQclear(r);
	PQfinish(c);
	l = connect_ci(leader_ci, quiet);
	return l;
}

/* The leader, from --source-server or the members in pg_endpoints. */
static PGconn *
find_leader(const BuildOptions *o, const char *dpath, long self_id, char *leader_ci, size_t cap,
			long *leader_id)
{
	char		path[CTL_PATH_MAX];
	char	   *text;
	char	   *line,
			   *sp = NULL;
	PGconn	   *c = NULL;

	if (o->source)
		return reach_leader(o->source, false, leader_ci, cap, leader_id);
	snprintf(path, sizeof(path), "%s/pg_endpoints", dpath);
	text = ctl_slurp(path, NULL);
	if (text == NULL)
	{
		ctl_error("no source given and \"%s\" does not exist (a new node has not met its cluster yet)", path);
		fprintf(stderr, "HINT:  Give any member of the cluster with --source-server=CONNINFO.\n");
		return NULL;
	}
	for (line = strtok_r(text, "\n", &sp); line && c == NULL; line = strtok_r(NULL, "\n", &sp))
	{
		long		id;
		char		host[256],
					port[16],
					ci[512];

		if (sscanf(line, "%ld %255s %15s", &id, host, port) != 3 || id == self_id)
			continue;
		snprintf(ci, sizeof(ci), "host=%s port=%s dbname=postgres", host, port);
		c = reach_leader(ci, true, leader_ci, cap, leader_id);
	}
	free(text);
	if (c == NULL)
	{
		ctl_error("no member recorded in \"%s\" led us to a leader", path);
		fprintf(stderr, "HINT:  Give any member of the cluster with --source-server=CONNINFO.\n");
	}
	return c;
}

/* Refuse when the leader still hears from node_id: another server runs with it. */
static bool
check_not_live(PGconn *l, long node_id)
{
	char		id[32],
				ms[32];
	const char *params[2] = {id, ms};
	time_t		deadline = time(NULL) + BUILD_LIVE_WAIT_S;

	snprintf(id, sizeof(id), "%ld", node_id);
	snprintf(ms, sizeof(ms), "%d", BUILD_LIVE_MS);
	for (;;)
	{
		PGresult   *r = leader_query(l, "SELECT last_heard_ms, dcf_address FROM dcf_members() "
									 "WHERE node_id = $1::int AND NOT is_self AND connected AND last_heard_ms < $2::int",
									 2, params, "checking the node on the leader");
		bool		live;

		if (r == NULL)
			return false;
		live = PQntuples(r) > 0;
		if (live && time(NULL) >= deadline)
		{
			ctl_error("node %ld is running: the leader heard from it %s ms ago (dcf address %s)",
					  node_id, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
			fprintf(stderr, "HINT:  Stop that server before rebuilding it; a new node needs a node_id of its own.\n");
			PQclear(r);
			return false;
		}
		PQclear(r);
		if (!live)
			return true;
		sleep(1);
	}
}

/* ---- the copy ------------------------------------------------------------ */

static bool
renew_hold(PGconn *l, long node_id, int lease_s)
{
	char		id[32],
				lease[32];
	const char *params[2] = {id, lease};
	PGresult   *r;

	snprintf(id, sizeof(id), "%ld", node_id);
	snprintf(lease, sizeof(lease), "%d", lease_s);
	r = leader_query(l, "SELECT hold_index FROM dcf_build_hold($1::int, NULL, $2::int, true)", 2, params,
					 "renewing the leader's hold on its log");
	PQclear(r);
	return r != NULL;
}

/*
 * pg_basebackup runs in a process group of its own (it forks a WAL
 * streamer): a signal that ends this command ends the whole copy.
 */
static volatile pid_t copy_pgid = 0;

static void
on_stop_signal(int sig)
{
	if (copy_pgid > 0)
		kill(-copy_pgid, SIGTERM);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* pg_basebackup from the leader, renewing the hold while it runs. */
static bool
run_basebackup(PGconn *l, const char *leader_ci, const char *datadir, long node_id, int lease_s)
{
	char		prog[CTL_PATH_MAX];
	char	   *argv[12];
	int			a = 0;
	pid_t		pid;
	int			st;
	time_t		renewed = time(NULL);
	bool		inject_kill = ctl_inject_is("build_copy", "kill");

	ctl_bin_path(prog, sizeof(prog), "pg_basebackup");
	argv[a++] = prog;
	argv[a++] = "-D";
	argv[a++] = (char *) datadir;
	argv[a++] = "-d";
	argv[a++] = (char *) leader_ci;
	argv[a++] = "-X";
	argv[a++] = "stream";
	argv[a++] = "-c";
	argv[a++] = "fast";
	argv[a++] = "-P";
	argv[a] = NULL;
	ctl_info("copying the leader's data directory: pg_basebackup -D %s -d \"%s\" -X stream -c fast -P",
			 datadir, leader_ci);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
	{
		ctl_error("could not fork: %s", strerror(errno));
		return false;
	}
	if (pid == 0)
	{
		setpgid(0, 0);
		execv(argv[0], argv);
		execvp("pg_basebackup", argv);
		fprintf(stderr, "dcf_ctl: could not run pg_basebackup: %s\n", strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	copy_pgid = pid;
	signal(SIGINT, on_stop_signal);
	signal(SIGTERM, on_stop_signal);
	signal(SIGHUP, on_stop_signal);
	for (;;)
	{
		pid_t		w;

		if (inject_kill)
		{
			/* a build killed half-way: the copy and this command die at once */
			usleep(300000);
			kill(-pid, SIGKILL);
			ctl_inject("build_copy");
		}
		w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
		{
			ctl_error("waiting for pg_basebackup: %s", strerror(errno));
			return false;
		}
		if (time(NULL) - renewed >= (lease_s + 2) / 3)
		{
			if (!renew_hold(l, node_id, lease_s))
			{
				kill(-pid, SIGTERM);
				waitpid(pid, &st, 0);
				ctl_error("the copy was stopped: the leader's hold on its log could not be renewed");
				return false;
			}
			renewed = time(NULL);
		}
		usleep(200000);
	}
	copy_pgid = 0;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
	{
		ctl_error("pg_basebackup failed (%s %d)", WIFEXITED(st) ? "exit status" : "signal",
				  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		return false;
	}
	return true;
}

/* START WAL LOCATION of the copy's backup_label. */
static bool
copy_start_lsn(const char *datadir, char *out, size_t cap)
{
	char		path[CTL_PATH_MAX];
	char	   *text;
	const char *p;
	unsigned	hi,
				lo;

	snprintf(path, sizeof(path), "%s/backup_label", datadir);
	text = ctl_slurp(path, NULL);
	if (text == NULL)
	{
		ctl_error("could not read \"%s\": %s", path, strerror(errno));
		return false;
	}
	p = strstr(text, "START WAL LOCATION: ");
	if (p == NULL || sscanf(p, "START WAL LOCATION: %X/%X", &hi, &lo) != 2)
	{
		ctl_error("\"%s\" has no START WAL LOCATION", path);
		free(text);
		return false;
	}
	snprintf(out, cap, "%X/%X", hi, lo);
	free(text);
	return true;
}

/* ---- the consensus log --------------------------------------------------- */

/*
 * The node's new consensus state in dpath (emptied but for the marker):
 * an empty log starting at first, the membership record, and the old term
 * and vote when they are at least the new log's.
 */
static bool
write_consensus_state(const char *dpath, uint64_t first, uint64_t prev_term,
					  const uint8_t *record, size_t record_len, const dcf_meta *old,
					  uint32_t leader_id, uint64_t leader_term, uint64_t leader_last)
{
	dcf_log_options lo;
	dcf_log    *log = NULL;
	dcf_meta	m;
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc;

	dcf_log_options_init(&lo);
	lo.create = 1;
	rc = dcf_log_open(dpath, &lo, &log, err);
	if (rc == DCF_OK && first > 1)
		rc = dcf_log_reset(log, first, prev_term, err);
	if (rc == DCF_OK)
	{
		dcf_hard_state hs;
		dcf_hard_state oh;

		/*
		 * S2 (core): its old term and vote if that term is at least the
		 * leader's; else the leader's term with the leader as its vote (it
		 * may have voted in that term before, and the leader won it); and
		 * S1's repair bound at the leader's last index and term, since the
		 * copy may be older than entries it acknowledged.
		 */
		memset(&oh, 0, sizeof(oh));
		if (old)
		{
			oh.term = old->term;
			oh.vote = old->voted_for;
		}
		dcf_hard_state_rebuilt(&hs, old ? &oh : NULL, prev_term, leader_id, leader_term, leader_last);
		memset(&m, 0, sizeof(m));
		m.term = hs.term;
		m.voted_for = hs.vote;
		m.repair_index = hs.repair_index;
		m.repair_term = hs.repair_term;
		m.applied_index = first - 1;
		m.membership = record;
		m.membership_len = (uint32_t) record_len;
		rc = dcf_log_save_meta(log, &m, err);
	}
	if (log)
	{
		char		e2[DCF_ERRMSG_MAX];

		if (dcf_log_close(log, e2) != DCF_OK && rc == DCF_OK)
		{
			rc = DCF_ERR_IO;
			snprintf(err, sizeof(err), "%s", e2);
		}
	}
	if (rc != DCF_OK)
	{
		ctl_error("could not write the consensus log in \"%s\": %s", dpath, err);
		return false;
	}
	return true;
}

/* ---- the command --------------------------------------------------------- */

int
dcf_ctl_build(int argc, char **argv)
{
	static struct option long_options[] = {
		{"build-mode", required_argument, NULL, 'b'},
		{"pgdata", required_argument, NULL, 'D'},
		{"source-server", required_argument, NULL, 1},
		{"lease", required_argument, NULL, 2},
		{"hold", required_argument, NULL, 3},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	BuildOptions o = {NULL, NULL, BUILD_LEASE_DEFAULT_S, BUILD_HOLD_DEFAULT_S};
	char		datadir[PATH_MAX];
	char		save[CTL_PATH_MAX];
	char		path[CTL_PATH_MAX * 2];
	char		val[CTL_PATH_MAX];
	char		dpath[CTL_PATH_MAX];
	char		leader_ci[1024];
	char		start_lsn[64];
	long		node_id;
	long		leader_id = 0;
	bool		rewound;
	bool		have_old = false;
	dcf_meta	old;
	uint8_t    *old_buf = NULL;
	char		err[DCF_ERRMSG_MAX];
	PGconn	   *l;
	PGresult   *r;
	int			c;

	while ((c = getopt_long(argc, argv, "b:D:?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'b':
				if (strcmp(optarg, "full") != 0)
				{
					ctl_error("invalid build mode \"%s\": only \"full\" is supported", optarg);
					return 1;
				}
				break;
			case 'D':
				o.datadir = optarg;
				break;
			case 1:
				o.source = optarg;
				break;
			case 2:
				o.lease_s = parse_seconds("lease", optarg);
				break;
			case 3:
				o.hold_s = parse_seconds("hold", optarg);
				break;
			default:
				if (optopt == 0 || optopt == '?')
				{
					build_usage();
					return 0;
				}
				fprintf(stderr, "Try \"dcf_ctl build --help\" for more information.\n");
				return 1;
		}
	}
	if (optind < argc)
	{
		ctl_error("too many command-line arguments (first extra is \"%s\")", argv[optind]);
		return 1;
	}
	if (o.datadir == NULL)
	{
		ctl_error("no data directory given: use -D DATADIR");
		return 1;
	}
	if (realpath(o.datadir, datadir) == NULL)
	{
		ctl_error("could not access the data directory \"%s\": %s", o.datadir, strerror(errno));
		fprintf(stderr, "HINT:  Create it with the node's own postgresql.conf (port, dcf.node_id, dcf.data_path) first.\n");
		return 1;
	}
	if (ctl_server_running(datadir, NULL, 0))
	{
		ctl_error("a server is running in \"%s\": stop it first (dcf_ctl stop -D %s)", datadir, datadir);
		return 1;
	}

	/* 1: the node's own files: from an interrupted rewind or build, or now */
	if (!ctl_rewind_recover(datadir, &rewound))
		return 1;
	snprintf(save, sizeof(save), "%s.dcf_build", datadir);
	snprintf(path, sizeof(path), "%s.tmp", save);
	ctl_remove_dir(path);
	snprintf(path, sizeof(path), "%s/manifest", save);
	if (access(path, F_OK) == 0)
	{
		ctl_info("an earlier build of this node was interrupted; putting the node's own files back and building again");
		if (!ctl_restore_node_files(datadir, save))
			return 1;
	}
	else
	{
		snprintf(path, sizeof(path), "%s/postgresql.conf", datadir);
		if (access(path, F_OK) != 0)
		{
			ctl_error("\"%s\" does not exist: dcf_ctl build keeps the node's own configuration", path);
			fprintf(stderr, "HINT:  Put the node's postgresql.conf (port, dcf.node_id, dcf.data_path, ...) in the data directory first.\n");
			return 1;
		}
		ctl_remove_dir(save);	/* a save without a manifest never completed */
		if (!ctl_save_node_files(datadir, save))
			return 1;
	}
	if (!ctl_setting(datadir, "dcf.node_id", val, sizeof(val)) || (node_id = atol(val)) <= 0)
	{
		ctl_error("could not read dcf.node_id of \"%s\" (is dcf configured in its postgresql.conf?)", datadir);
		return 1;
	}
	if (!ctl_setting(datadir, "dcf.data_path", val, sizeof(val)) || val[0] == '\0')
	{
		ctl_error("could not read dcf.data_path of \"%s\" (is dcf configured in its postgresql.conf?)", datadir);
		return 1;
	}
	if (val[0] == '/')
		snprintf(dpath, sizeof(dpath), "%s", val);
	else
		snprintf(dpath, sizeof(dpath), "%s/%s", datadir, val);
	if (dcf_meta_read(dcf_io_posix(), dpath, &old, &old_buf, err) == DCF_OK)
		have_old = true;

	/* 2 */
	l = find_leader(&o, dpath, node_id, leader_ci, sizeof(leader_ci), &leader_id);
	if (l == NULL)
		return 1;
	ctl_info("building node %ld from the leader, node %ld (%s)", node_id, leader_id, leader_ci);
	if (!check_not_live(l, node_id))
		return 1;

	/* 3 */
	{
		char		id[32],
					lease[32];
		const char *params[2] = {id, lease};

		snprintf(id, sizeof(id), "%ld", node_id);
		snprintf(lease, sizeof(lease), "%d", o.lease_s);
		r = leader_query(l, "SELECT hold_index FROM dcf_build_hold($1::int, NULL, $2::int)", 2, params,
						 "holding the leader's log");
		if (r == NULL)
			return 1;
		ctl_info("the leader keeps its consensus log from index %s on while the copy runs (a lease of %d s, renewed)",
				 PQgetvalue(r, 0, 0), o.lease_s);
		PQclear(r);
	}

	/* 4 */
	if (!mkdir_p(dpath, 0700))
	{
		ctl_error("could not create \"%s\": %s", dpath, strerror(errno));
		return 1;
	}
	if (!write_marker(dpath))
	{
		ctl_error("could not write \"%s/" CTL_REBUILD_MARKER "\": %s", dpath, strerror(errno));
		return 1;
	}
	ctl_inject("build_marked");
	if (!empty_dir(datadir))
		return 1;

	/* 5 */
	if (!run_basebackup(l, leader_ci, datadir, node_id, o.lease_s))
		return 1;
	if (!copy_start_lsn(datadir, start_lsn, sizeof(start_lsn)))
		return 1;

	/* 6 */
	{
		char		id[32],
					hold[32];
		const char *params[3] = {id, start_lsn, hold};
		unsigned char *rec;
		size_t		rec_len = 0;
		uint64_t	first,
					prev_term,
					s2_term,
					s2_last;
		uint32_t	s2_leader;

		snprintf(id, sizeof(id), "%ld", node_id);
		snprintf(hold, sizeof(hold), "%d", o.hold_s);
		r = leader_query(l, "SELECT first_index, prev_term, membership FROM dcf_build_hold($1::int, $2::pg_lsn, $3::int, true)",
						 3, params, "finding the copy's place in the leader's log");
		if (r == NULL)
			return 1;
		first = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		prev_term = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
		rec = PQunescapeBytea((const unsigned char *) PQgetvalue(r, 0, 2), &rec_len);
		PQclear(r);

		/* the leader's current term and last index, for S2 (after the hold: at least the copy's) */
		r = leader_query(l, "SELECT node_id, role, term, last_index FROM dcf_replication_info()", 0, NULL,
						 "reading the leader's term and last index");
		if (r == NULL)
			return 1;
		if (strcmp(PQgetvalue(r, 0, 1), "LEADER") != 0)
		{
			ctl_error("node %s stopped leading while the copy ran (it is now %s); run dcf_ctl build again",
					  PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
			PQclear(r);
			return 1;
		}
		s2_leader = (uint32_t) strtoul(PQgetvalue(r, 0, 0), NULL, 10);
		s2_term = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
		s2_last = strtoull(PQgetvalue(r, 0, 3), NULL, 10);
		PQclear(r);
		if (s2_term < prev_term || s2_last < first - 1)
		{
			ctl_error("the leader reports term %" PRIu64 " and last index %" PRIu64 ", below the copy's (term %" PRIu64 ", index %" PRIu64 ")",
					  s2_term, s2_last, prev_term, first - 1);
			return 1;
		}
		if (rec == NULL || first == 0)
		{
			ctl_error("the leader's answer for the copy at %s is incomplete", start_lsn);
			return 1;
		}

		/* 7 */
		if (!ctl_restore_node_files(datadir, save))
			return 1;
		snprintf(path, sizeof(path), "%s/" CTL_REBUILD_MARKER, dpath);
		if (!empty_dir(dpath) || !write_marker(dpath))
			return 1;
		if (!write_consensus_state(dpath, first, prev_term, rec, rec_len, have_old ? &old : NULL,
								   s2_leader, s2_term, s2_last))
			return 1;
		PQfreemem(rec);
		if (unlink(path) != 0 || !ctl_fsync_dir(dpath))
		{
			ctl_error("could not remove \"%s\": %s", path, strerror(errno));
			return 1;
		}
		ctl_remove_dir(save);
		ctl_fsync_parent(save);
		ctl_info("build complete: node %ld is a copy of node %ld at WAL %s; its consensus log starts at index %" PRIu64,
				 node_id, leader_id, start_lsn, first);
		ctl_info("the leader keeps the log it needs for %d s, or until it has caught up: start it with dcf_ctl start -D %s",
				 o.hold_s, datadir);
	}
	free(old_buf);
	PQfinish(l);
	return 0;
}
