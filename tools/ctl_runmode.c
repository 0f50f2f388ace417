/*
 * ctl_runmode.c — `dcf_ctl setrunmode`: minority work mode on the node of
 * DATADIR (gs_ctl setrunmode's options), a thin libpq client of
 * dcf_set_work_mode().
 *
 *   dcf_ctl setrunmode -D DATADIR -x minority -v VOTE_NUM [--force] [-t SECONDS]
 *   dcf_ctl setrunmode -D DATADIR -x normal [-t SECONDS]
 *
 * The mode is recorded durably on the node and survives its restarts.
 * Exit status: 0 done, 1 refused or failed, 2 timed out (the mode is
 * recorded and applies at the node's next start at the latest).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpq-fe.h"

#include "ctl_conn.h"
#include "ctl_runmode.h"
#include "ctl_util.h"

static void
runmode_usage(void)
{
	printf("dcf_ctl setrunmode switches the node of DATADIR to minority work mode, or back.\n\n"
		   "Usage:\n"
		   "  dcf_ctl setrunmode -D DATADIR -x minority -v VOTE_NUM [--force] [-t SECONDS]\n"
		   "  dcf_ctl setrunmode -D DATADIR -x normal [-t SECONDS]\n"
		   "\nOptions:\n"
		   "  -D, --pgdata=DATADIR   the node's data directory (its running server is used)\n"
		   "  -h, --host, -p, --port, -U, --username, -d, --dbname   connect to this server instead\n"
		   "  -x, --xmode=MODE       minority or normal\n"
		   "  -v, --votenum=N        minority: the vote weight that makes a quorum among minority-mode nodes\n"
		   "  -f, --force            switch even though the node still hears a normal-mode leader\n"
		   "  -t, --timeout=SECONDS  how long to wait for the node's worker (default 60)\n"
		   "\nMinority mode lets fewer than a majority commit.  Use it only when the other nodes are lost\n"
		   "for good and fenced: acknowledged commits this node lacks are lost, and two sides in minority\n"
		   "mode are a split brain.  Exit status: 0 done, 1 refused or failed, 2 timed out.\n");
}

int
dcf_ctl_setrunmode(int argc, char **argv)
{
	static struct option long_options[] = {
		{"xmode", required_argument, NULL, 'x'},
		{"votenum", required_argument, NULL, 'v'},
		{"force", no_argument, NULL, 'f'},
		{"timeout", required_argument, NULL, 't'},
		CTL_CONN_LONG_OPTIONS,
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	CtlConnOptions conn_opts;
	const char *xmode = NULL;
	long		vote_num = -1;
	long		timeout_s = 60;
	bool		force = false;
	char		err[CTL_HOST_MAX];
	char		vbuf[32],
				tbuf[32];
	const char *params[4];
	PGconn	   *conn;
	PGresult   *res;
	int			c;

	memset(&conn_opts, 0, sizeof(conn_opts));
	while ((c = getopt_long(argc, argv, "x:v:ft:D:h:p:U:d:?", long_options, NULL)) != -1)
	{
		char	   *end;

		if (ctl_conn_option(&conn_opts, c, optarg))
			continue;
		switch (c)
		{
			case 'x':
				xmode = optarg;
				break;
			case 'v':
				errno = 0;
				vote_num = strtol(optarg, &end, 10);
				if (errno || *end || vote_num < 1 || vote_num > 1000000)
					ctl_die(1, "invalid vote number \"%s\": give a positive integer", optarg);
				break;
			case 'f':
				force = true;
				break;
			case 't':
				errno = 0;
				timeout_s = strtol(optarg, &end, 10);
				if (errno || *end || timeout_s < 1 || timeout_s > 86400)
					ctl_die(1, "invalid timeout \"%s\": give seconds between 1 and 86400", optarg);
				break;
			default:
				if (optopt == 0 || optopt == '?')
				{
					runmode_usage();
					return 0;
				}
				fprintf(stderr, "Try \"dcf_ctl setrunmode --help\" for more information.\n");
				return 1;
		}
	}
	if (optind < argc)
		ctl_die(1, "too many command-line arguments (first extra is \"%s\")", argv[optind]);
	if (!conn_opts.datadir && !conn_opts.host && !conn_opts.port)
		ctl_die(1, "no data directory given: use -D DATADIR (or -h/-p)");
	if (xmode == NULL)
		ctl_die(1, "setrunmode needs -x minority or -x normal");
	if (strcmp(xmode, "minority") == 0)
	{
		if (vote_num < 0)
			ctl_die(1, "-x minority needs -v VOTE_NUM");
	}
	else if (strcmp(xmode, "normal") == 0)
	{
		if (vote_num >= 0)
			ctl_die(1, "-v applies to -x minority only");
	}
	else
		ctl_die(1, "invalid mode \"%s\": give minority or normal", xmode);

	conn = ctl_connect_options(&conn_opts, 10, err, sizeof(err));
	if (conn == NULL)
		ctl_die(1, "%s", err);
	if (vote_num >= 0)
		snprintf(vbuf, sizeof(vbuf), "%ld", vote_num);
	snprintf(tbuf, sizeof(tbuf), "%ld", timeout_s);
	params[0] = xmode;
	params[1] = vote_num >= 0 ? vbuf : NULL;
	params[2] = force ? "true" : "false";
	params[3] = tbuf;
	res = PQexecParams(conn, "SELECT dcf_set_work_mode($1, $2::int, $3::bool, $4::int)", 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		exit(ctl_result_error(res, "setrunmode"));
	printf("%s\n", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
	return 0;
}
