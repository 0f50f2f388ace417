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

#include "ctl_conn.h"
#include "ctl_build.h"
#include "ctl_list.h"
#include "ctl_logdump.h"
#include "ctl_member.h"
#include "ctl_runmode.h"
#include "ctl_switchover.h"
#include "ctl_startstop.h"
#include "ctl_supervise.h"
#include "ctl_util.h"
#include "ctl_walfetch.h"

#define DCF_CTL_VERSION "1.0"

static const char *progname = "dcf_ctl";

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
			"            [--max-failed-starts=N]\n"
			"  %s log-dump -D DATADIR | --data-path=PATH  (see dcf_ctl log-dump --help)\n"
			"  %s member --operation=add|remove|change -u NODE_ID ... -D DATADIR  (see dcf_ctl member --help)\n"
			"  %s changerole -R follower|passive|logger -D DATADIR  (see dcf_ctl changerole --help)\n"
			"  %s switchover -D DATADIR [--target=NODE_ID] [-t SECONDS]  (see dcf_ctl switchover --help)\n"
			"  %s build [-b full] -D DATADIR [--source-server=CONNINFO]  (see dcf_ctl build --help)\n"
			"  %s setrunmode -D DATADIR -x minority -v N | -x normal  (see dcf_ctl setrunmode --help)\n"
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
			"  switchover hand leadership to this node (or --target) without losing a commit\n"
			"  build      make the node's data directory and consensus log anew from the\n"
			"             leader (pg_basebackup), keeping its own configuration\n"
			"  setrunmode minority work mode (a quorum of vote_num) for survivors of a lost majority\n"
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
			"      --max-failed-starts=N  supervise: give up after N failed starts in a row (default 8)\n"
			"  -V, --version          print the version and exit\n"
			"  -?, --help             print this help and exit\n\n"
			"Exit status is 0 on success and 1 on failure; supervise exits 3 when it gives up.\n",
			progname, progname, progname, progname, progname, progname, progname, progname, progname, progname, progname,
			progname, progname, progname);
}

static PGconn *
connect_node(const CtlConnOptions *opt)
{
	char		err[CTL_HOST_MAX + 256];
	PGconn	   *conn;

	if (!opt->datadir && !opt->host && !opt->port && !getenv("PGPORT") && !getenv("PGHOST"))
		ctl_die(1, "no data directory given: use -D DATADIR (or -h/-p)");
	conn = ctl_connect_options(opt, 10, err, sizeof(err));
	if (conn == NULL)
		ctl_die(1, "%s", err);
	return conn;
}

static PGresult *
run_query(PGconn *conn, const char *sql, const char *what)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		exit(ctl_result_error(res, what));
	return res;
}

static int
cmd_query(const CtlConnOptions *opt)
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
		CTL_CONN_LONG_OPTIONS,
		{"log", required_argument, NULL, 'l'},
		{"options", required_argument, NULL, 'o'},
		{"timeout", required_argument, NULL, 't'},
		{"mode", required_argument, NULL, 'm'},
		{"source-server", required_argument, NULL, 1},
		{"max-failed-starts", required_argument, NULL, 2},
		{"watch", required_argument, NULL, 'w'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, '?'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	CtlConnOptions opt;
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
	if (argc > 1 && strcmp(argv[1], "setrunmode") == 0)
		return dcf_ctl_setrunmode(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "switchover") == 0)
		return dcf_ctl_switchover(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "build") == 0)
		return dcf_ctl_build(argc - 1, argv + 1);
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
		if (ctl_conn_option(&opt, c, optarg))
			continue;
		switch (c)
		{
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
			case 2:
				{
					char	   *end;
					long		v = strtol(optarg, &end, 10);

					if (*end != '\0' || end == optarg || v < 1 || v > 1000)
						ctl_die(1, "invalid --max-failed-starts value \"%s\": give an integer between 1 and 1000", optarg);
					sopt.max_failed_starts = (int) v;
				}
				break;
			case 'w':
				{
					char	   *end;

					lopt.watch_s = strtod(optarg, &end);
					if (*end != '\0' || lopt.watch_s <= 0)
						ctl_die(1, "invalid --watch value \"%s\": give a positive number of seconds", optarg);
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
		ctl_die(1, "too many command-line arguments (first extra is \"%s\")", argv[optind]);

	if (command == NULL)
		ctl_die(1, "no command given\nTry \"%s --help\" for more information.", progname);
	if (strcmp(command, "query") == 0)
		return cmd_query(&opt);
	if (strcmp(command, "list") == 0)
	{
		lopt.conn = opt;
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
	ctl_die(1, "unknown command \"%s\"\nTry \"%s --help\" for more information.", command, progname);
}
