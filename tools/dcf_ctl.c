/*
 * dcf_ctl — the dcf administration tool, in the manner of openGauss's gs_ctl.
 *
 *   dcf_ctl query -D DATADIR [-h HOST] [-p PORT] [-U USER] [-d DBNAME]
 *
 * `query` finds the running server from DATADIR/postmaster.pid (port and
 * socket directory), connects with libpq and prints the node's HA state and
 * its consensus replication info (dcf_replication_info()).  -h/-p/-U/-d
 * override what postmaster.pid says; without -D they are required as for
 * psql.
 *
 * Exit status: 0 on success, 1 on any failure (with a message on stderr).
 * dcf_ctl never changes anything with `query`.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "libpq-fe.h"

#include "ctl_list.h"
#include "ctl_logdump.h"
#include "ctl_member.h"
#include "ctl_startstop.h"
#include "ctl_supervise.h"
#include "ctl_walfetch.h"

#define DCF_CTL_VERSION "1.0"
#define PIDFILE_LINE_MAX 1024

static const char *progname = "dcf_ctl";

typedef struct CtlOptions
{
	const char *datadir;
	const char *host;
	const char *port;
	const char *user;
	const char *dbname;
} CtlOptions;

static void
usage(FILE *out)
{
	fprintf(out,
			"%s administers a dcf (consensus-based high availability) PostgreSQL node.\n\n"
			"Usage:\n"
			"  %s query -D DATADIR [-h HOST] [-p PORT] [-U USER] [-d DBNAME]\n"
			"  %s list -D DATADIR | -h HOST -p PORT [-U USER] [-d DBNAME] [--watch SECONDS] [--json]\n"
			"  %s start -D DATADIR [-l LOGFILE] [-o OPTIONS] [-t SECONDS] [--source-server=CONNINFO]\n"
			"  %s stop -D DATADIR [-m fast|immediate|smart]\n"
			"  %s supervise -D DATADIR [-l LOGFILE] [-o OPTIONS] [-t SECONDS] [--source-server=CONNINFO]\n"
			"  %s log-dump -D DATADIR | --data-path=PATH  (see dcf_ctl log-dump --help)\n"
			"  %s member --operation=add|remove|change -u NODE_ID ... -D DATADIR  (see dcf_ctl member --help)\n"
			"  %s changerole -R follower|passive|logger -D DATADIR  (see dcf_ctl changerole --help)\n"
			"  %s restore-wal --data-path=PATH [--source-file=FILE] [--segment-bytes=N] WALFILE DEST\n"
			"  %s --help | --version\n\n"
			"Commands:\n"
			"  query      show this node's HA state and consensus replication info\n"
			"  list       one row per cluster member: role, state, addresses, term, timeline,\n"
			"             lag (the leader's view when it can be reached)\n"
			"  start      start the node as a standby that joins its cluster, rewinding it\n"
			"             first when its WAL diverged from the cluster's\n"
			"  stop       stop the node (a leader immediately, so it rejoins without rewind);\n"
			"             a supervised node's supervisor ends too\n"
			"  supervise  start the node and keep it in its cluster: whenever its server\n"
			"             stops without dcf_ctl stop, start it again as a standby (foreground)\n"
			"  log-dump   print a stopped node's consensus log and metadata\n"
			"  member     add, remove or change a cluster member through the leader\n"
			"  changerole change the role of this node through the leader\n"
			"  restore-wal  pg_rewind's restore_command during start: one WAL file of this\n"
			"             node from its consensus log or the rewind source\n\n"
			"Options:\n"
			"  -D, --pgdata=DATADIR   data directory of the node (finds the server from postmaster.pid)\n"
			"  -h, --host=HOST        server host or socket directory (default: from postmaster.pid)\n"
			"  -p, --port=PORT        server port (default: from postmaster.pid)\n"
			"  -U, --username=USER    user name to connect as (default: the current user)\n"
			"  -d, --dbname=DBNAME    database where the dcf extension is installed (default: postgres)\n"
			"  -w, --watch=SECONDS    list: refresh every SECONDS until interrupted\n"
			"  -j, --json             list: print JSON\n"
			"  -V, --version          print the version and exit\n"
			"  -?, --help             print this help and exit\n\n"
			"Exit status is 0 on success and 1 on failure; supervise exits 3 when it gives up.\n",
			progname, progname, progname, progname, progname, progname, progname, progname, progname, progname, progname);
}

static void
fail(const char *fmt,...)
	__attribute__((format(printf, 1, 2), noreturn));

static void
fail(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * Read DATADIR/postmaster.pid: line 1 pid, 4 port, 5 first socket
 * directory, 6 first listen address.  Fails if there is no running server.
 */
static void
read_pidfile(const char *datadir, char *port, size_t portlen,
			 char *host, size_t hostlen)
{
	char		path[4096];
	char		lines[8][PIDFILE_LINE_MAX];
	FILE	   *f;
	int			n = 0;
	long		pid;

	snprintf(path, sizeof(path), "%s/postmaster.pid", datadir);
	f = fopen(path, "r");
	if (f == NULL)
	{
		if (errno == ENOENT)
			fail("no server running: \"%s\" does not exist", path);
		fail("could not open \"%s\": %s", path, strerror(errno));
	}
	while (n < 8 && fgets(lines[n], PIDFILE_LINE_MAX, f) != NULL)
	{
		lines[n][strcspn(lines[n], "\r\n")] = '\0';
		n++;
	}
	fclose(f);
	if (n < 4)
		fail("\"%s\" is incomplete: the server may still be starting", path);
	pid = strtol(lines[0], NULL, 10);
	if (pid <= 0)
		fail("\"%s\" does not start with a process id", path);
	if (kill((pid_t) pid, 0) != 0 && errno == ESRCH)
		fail("no server running: process %ld named in \"%s\" does not exist", pid, path);
	snprintf(port, portlen, "%.15s", lines[3]);
	host[0] = '\0';
	if (n >= 5 && lines[4][0] != '\0')
		snprintf(host, hostlen, "%s", lines[4]);
	else if (n >= 6 && lines[5][0] != '\0')
		snprintf(host, hostlen, "%s",
				 strcmp(lines[5], "*") == 0 ? "localhost" : lines[5]);
}

static PGconn *
connect_node(const CtlOptions *opt)
{
	char		port[64] = "";
	char		host[PIDFILE_LINE_MAX] = "";
	const char *keys[8];
	const char *vals[8];
	int			k = 0;
	PGconn	   *conn;

	if (opt->datadir)
		read_pidfile(opt->datadir, port, sizeof(port), host, sizeof(host));
	if (opt->host)
		snprintf(host, sizeof(host), "%s", opt->host);
	if (opt->port)
		snprintf(port, sizeof(port), "%s", opt->port);
	if (!opt->datadir && !opt->host && !opt->port && !getenv("PGPORT") && !getenv("PGHOST"))
		fail("no data directory given: use -D DATADIR (or -h/-p)");

	if (host[0])
	{
		keys[k] = "host";
		vals[k++] = host;
	}
	if (port[0])
	{
		keys[k] = "port";
		vals[k++] = port;
	}
	if (opt->user)
	{
		keys[k] = "user";
		vals[k++] = opt->user;
	}
	keys[k] = "dbname";
	vals[k++] = opt->dbname ? opt->dbname : "postgres";
	keys[k] = "application_name";
	vals[k++] = "dcf_ctl";
	keys[k] = "connect_timeout";
	vals[k++] = "10";
	keys[k] = NULL;
	vals[k] = NULL;

	conn = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		char	   *msg = PQerrorMessage(conn);

		msg[strcspn(msg, "\n")] = '\0';
		fail("could not connect to the server: %s", msg);
	}
	return conn;
}

/* Print a server error the way psql does, then exit 1. */
static void
fail_result(PGresult *res, const char *what)
{
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);

	fprintf(stderr, "%s: %s failed: %s\n", progname, what,
			primary ? primary : PQresultErrorMessage(res));
	if (detail)
		fprintf(stderr, "DETAIL:  %s\n", detail);
	if (hint)
		fprintf(stderr, "HINT:  %s\n", hint);
	exit(1);
}

static PGresult *
run_query(PGconn *conn, const char *sql, const char *what)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_result(res, what);
	return res;
}

static int
cmd_query(const CtlOptions *opt)
{
	PGconn	   *conn = connect_node(opt);
	PGresult   *res;
	bool		standby;
	int			ncols;

	res = run_query(conn, "SELECT pg_catalog.pg_is_in_recovery(), "
					"(SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'dcf')",
					"reading the server state");
	standby = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (strcmp(PQgetvalue(res, 0, 1), "0") == 0)
	{
		fprintf(stderr, "%s: extension \"dcf\" is not installed in database \"%s\"\n",
				progname, PQdb(conn));
		fprintf(stderr, "HINT:  Run CREATE EXTENSION dcf in that database, or name another one with -d.\n");
		exit(1);
	}
	PQclear(res);

	res = run_query(conn, "SELECT * FROM dcf_replication_info()", "dcf_replication_info()");
	ncols = PQnfields(res);

	printf(" HA state:\n");
	printf("\t%-30s : %s\n", "local_role", standby ? "Standby" : "Primary");
	for (int c = 0; c < ncols; c++)
		if (strcmp(PQfname(res, c), "role") == 0)
			printf("\t%-30s : %s\n", "dcf_role", PQgetvalue(res, 0, c));
	printf("\t%-30s : %s\n", "db_state", "Normal");
	printf("\t%-30s : %s\n", "detail_information", "Normal");
	printf("\n Paxos replication info:\n");
	for (int c = 0; c < ncols; c++)
		printf("\t%-30s : %s\n", PQfname(res, c),
			   PQgetisnull(res, 0, c) ? "" : PQgetvalue(res, 0, c));
	PQclear(res);
	PQfinish(conn);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct option long_options[] = {
		{"pgdata", required_argument, NULL, 'D'},
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"username", required_argument, NULL, 'U'},
		{"dbname", required_argument, NULL, 'd'},
		{"log", required_argument, NULL, 'l'},
		{"options", required_argument, NULL, 'o'},
		{"timeout", required_argument, NULL, 't'},
		{"mode", required_argument, NULL, 'm'},
		{"source-server", required_argument, NULL, 1},
		{"watch", required_argument, NULL, 'w'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, '?'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	CtlOptions	opt;
	CtlStartOptions sopt;
	CtlListOptions lopt;
	const char *command = NULL;
	int			c;

	memset(&opt, 0, sizeof(opt));
	memset(&sopt, 0, sizeof(sopt));
	memset(&lopt, 0, sizeof(lopt));
	if (argc > 1 && strcmp(argv[1], "log-dump") == 0)
		return dcf_ctl_logdump(argc - 1, argv + 1);
	if (argc > 1 && (strcmp(argv[1], "member") == 0 || strcmp(argv[1], "changerole") == 0))
		return dcf_ctl_member(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "restore-wal") == 0)
		return dcf_ctl_restore_wal(argc - 1, argv + 1);
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0))
	{
		usage(stdout);
		return 0;
	}
	if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0))
	{
		printf("dcf_ctl (dcf) %s\n", DCF_CTL_VERSION);
		return 0;
	}

	/* the command comes first, as in gs_ctl; options may also precede it */
	if (argc > 1 && argv[1][0] != '-')
	{
		command = argv[1];
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	while ((c = getopt_long(argc, argv, "D:h:p:U:d:l:o:t:m:w:jV?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'D':
				opt.datadir = optarg;
				break;
			case 'h':
				opt.host = optarg;
				break;
			case 'p':
				opt.port = optarg;
				break;
			case 'U':
				opt.user = optarg;
				break;
			case 'd':
				opt.dbname = optarg;
				break;
			case 'l':
				sopt.logfile = optarg;
				break;
			case 'o':
				sopt.pg_options = optarg;
				break;
			case 't':
				sopt.timeout_s = atoi(optarg);
				break;
			case 'm':
				sopt.mode = optarg;
				break;
			case 1:
				sopt.source_server = optarg;
				break;
			case 'w':
				{
					char	   *end;

					lopt.watch_s = strtod(optarg, &end);
					if (*end != '\0' || lopt.watch_s <= 0)
						fail("invalid --watch value \"%s\": give a positive number of seconds", optarg);
				}
				break;
			case 'j':
				lopt.json = true;
				break;
			case 'V':
				printf("dcf_ctl (dcf) %s\n", DCF_CTL_VERSION);
				return 0;
			default:
				if (optopt == 0 || optopt == '?')
				{
					usage(stdout);
					return 0;
				}
				fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
				return 1;
		}
	}
	if (optind < argc && command == NULL)
		command = argv[optind++];
	if (optind < argc)
		fail("too many command-line arguments (first extra is \"%s\")", argv[optind]);

	if (command == NULL)
		fail("no command given\nTry \"%s --help\" for more information.", progname);
	if (strcmp(command, "query") == 0)
		return cmd_query(&opt);
	if (strcmp(command, "list") == 0)
	{
		lopt.datadir = opt.datadir;
		lopt.host = opt.host;
		lopt.port = opt.port;
		lopt.user = opt.user;
		lopt.dbname = opt.dbname;
		return dcf_ctl_list(&lopt);
	}
	sopt.datadir = opt.datadir;
	if (strcmp(command, "start") == 0)
		return dcf_ctl_start(&sopt);
	if (strcmp(command, "stop") == 0)
	{
		bool		handled;
		int			rc = dcf_ctl_stop_supervised(&sopt, &handled);

		return handled ? rc : dcf_ctl_stop(&sopt);
	}
	if (strcmp(command, "supervise") == 0)
		return dcf_ctl_supervise(&sopt);
	fail("unknown command \"%s\"\nTry \"%s --help\" for more information.", command, progname);
}
