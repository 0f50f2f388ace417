/*
 * ctl_switchover.c — `dcf_ctl switchover`: a thin libpq client of
 * dcf_switchover() on the leader.
 *
 *   dcf_ctl switchover -D DATADIR [-t SECONDS]        the node of DATADIR takes over
 *   dcf_ctl switchover --target=NODE_ID -D DATADIR|-h HOST -p PORT [-t SECONDS]
 *
 * It connects to the node it is given, finds the leader (dcf_members()
 * gives its PostgreSQL address), calls dcf_switchover() there, and then
 * waits until the target's server accepts writes.  The old leader restarts
 * as a standby right after it answered; if the connection to it is lost
 * before the answer arrives, the outcome is read from the target.
 *
 * Exit status: 0 done (or the target led already), 1 refused or failed
 * (the server's message on stderr), 2 timed out with the outcome unknown.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#include "ctl_conn.h"
#include "ctl_switchover.h"
#include "ctl_util.h"

typedef struct SwOptions
{
	CtlConnOptions conn;
	long		target;
	long		timeout_s;
} SwOptions;

/* the PostgreSQL address of a member, as dcf_members() reports it */
typedef struct SwAddr
{
	long		node_id;
	char		host[CTL_HOST_MAX];
	char		port[CTL_PORT_MAX];
} SwAddr;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
sw_usage(void)
{
	printf("dcf_ctl switchover hands leadership of the dcf cluster to another member.\n\n"
		   "Usage:\n"
		   "  dcf_ctl switchover -D DATADIR [-t SECONDS]                  the node of DATADIR takes over\n"
		   "  dcf_ctl switchover --target=NODE_ID -D DATADIR [-t SECONDS]  node NODE_ID takes over\n"
		   "\nOptions:\n"
		   "  -D, --pgdata=DATADIR   a node's data directory (its running server is used)\n"
		   "  -h, --host, -p, --port, -U, --username, -d, --dbname   connect to this server instead\n"
		   "  -T, --target=NODE_ID   the node that takes over (default: the node connected to)\n"
		   "  -t, --timeout=SECONDS  give up and let the old leader take writes again after this (default 60)\n"
		   "\nThe leader stops taking writes, commits what it wrote, hands over, and restarts as a standby\n"
		   "of the new leader by itself.  Exit status: 0 done, 1 refused or failed, 2 timed out with\n"
		   "the outcome unknown.\n");
}

/* This node's id, its leader, and the PostgreSQL addresses of both and of the target. */
static void
sw_cluster(PGconn *conn, long *self_id, bool *self_leads, SwAddr *leader, SwAddr *target)
{
	PGresult   *res = PQexec(conn,
							 "SELECT r.node_id, r.role = 'LEADER', r.leader_id, m.node_id, m.pg_host, m.pg_port "
							 "FROM dcf_replication_info() r LEFT JOIN dcf_members() m ON true");

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) == 0)
		exit(ctl_result_error(res, "finding the leader"));
	*self_id = atol(PQgetvalue(res, 0, 0));
	*self_leads = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	leader->node_id = PQgetisnull(res, 0, 2) ? 0 : atol(PQgetvalue(res, 0, 2));
	if (target->node_id == 0)
		target->node_id = *self_id;
	for (int i = 0; i < PQntuples(res); i++)
	{
		long		id = PQgetisnull(res, i, 3) ? 0 : atol(PQgetvalue(res, i, 3));
		SwAddr	   *a = id == leader->node_id ? leader : id == target->node_id ? target : NULL;

		if (a == NULL || PQgetisnull(res, i, 4) || PQgetisnull(res, i, 5))
			continue;
		snprintf(a->host, sizeof(a->host), "%s", PQgetvalue(res, i, 4));
		snprintf(a->port, sizeof(a->port), "%s", PQgetvalue(res, i, 5));
	}
	if (leader->node_id == target->node_id)
		*target = *leader;
	PQclear(res);
}

int
dcf_ctl_switchover(int argc, char **argv)
{
	static struct option long_options[] = {
		{"target", required_argument, NULL, 'T'},
		CTL_CONN_LONG_OPTIONS,
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	SwOptions	o;
	char		host[CTL_HOST_MAX] = "";
	char		port[CTL_PORT_MAX] = "";
	char		err[CTL_HOST_MAX];
	char		tbuf[32],
				idbuf[32];
	const char *params[2];
	PGconn	   *conn,
			   *lc;
	PGresult   *res;
	SwAddr		leader,
				target;
	long		self_id;
	bool		self_leads;
	double		t0 = now_s();
	int			c;

	memset(&o, 0, sizeof(o));
	o.timeout_s = 60;
	while ((c = getopt_long(argc, argv, "T:D:h:p:U:d:t:?", long_options, NULL)) != -1)
	{
		char	   *end;

		if (ctl_conn_option(&o.conn, c, optarg))
			continue;
		switch (c)
		{
			case 'T':
				errno = 0;
				o.target = strtol(optarg, &end, 10);
				if (errno || *end || o.target < 1 || o.target > 2147483647L)
					ctl_die(1, "invalid target \"%s\": give a node id (a positive integer)", optarg);
				break;
			case 't':
				errno = 0;
				o.timeout_s = strtol(optarg, &end, 10);
				if (errno || *end || o.timeout_s < 1 || o.timeout_s > 86400)
					ctl_die(1, "invalid timeout \"%s\": give seconds between 1 and 86400", optarg);
				break;
			default:
				if (optopt == 0 || optopt == '?')
				{
					sw_usage();
					return 0;
				}
				fprintf(stderr, "Try \"dcf_ctl switchover --help\" for more information.\n");
				return 1;
		}
	}
	if (optind < argc)
		ctl_die(1, "too many command-line arguments (first extra is \"%s\")", argv[optind]);
	if (!o.conn.datadir && !o.conn.host && !o.conn.port)
		ctl_die(1, "no data directory given: use -D DATADIR (or -h/-p)");
	if (o.conn.datadir && !ctl_pidfile_address(o.conn.datadir, host, sizeof(host), port, sizeof(port), err, sizeof(err)))
		ctl_die(1, "%s", err);
	if (o.conn.host)
		snprintf(host, sizeof(host), "%s", o.conn.host);
	if (o.conn.port)
		snprintf(port, sizeof(port), "%s", o.conn.port);
	conn = ctl_connect_options(&o.conn, 10, err, sizeof(err));
	if (conn == NULL)
		ctl_die(1, "%s", err);
	memset(&leader, 0, sizeof(leader));
	memset(&target, 0, sizeof(target));
	target.node_id = o.target;
	sw_cluster(conn, &self_id, &self_leads, &leader, &target);
	if (target.node_id == self_id)
	{
		snprintf(target.host, sizeof(target.host), "%s", host);
		snprintf(target.port, sizeof(target.port), "%s", port);
	}
	if (self_leads && target.node_id == self_id)
	{
		printf("node %ld already leads the dcf cluster\n", self_id);
		PQfinish(conn);
		return 0;
	}
	if (self_leads)
		lc = conn;
	else
	{
		if (leader.node_id == 0 || leader.host[0] == '\0')
			ctl_die(1, "node %ld knows no leader with a reachable server right now\n"
				   "HINT:  Wait for the election to end and try again, or give the leader's server with -h and -p.",
				   self_id);
		printf("sending the switchover to node %ld to the leader, node %ld (%s:%s)\n",
			   target.node_id, leader.node_id, leader.host, leader.port);
		fflush(stdout);
		lc = ctl_connect(leader.host, leader.port, o.conn.user, o.conn.dbname, "dcf_ctl", 10, err, sizeof(err));
		if (lc == NULL)
			ctl_die(1, "could not connect to the leader's server on %s: %s", leader.host, err);
		if (target.host[0] == '\0')
		{
			/* only the leader knows every member's address */
			SwAddr		l2;
			long		id2;
			bool		leads2;

			memset(&l2, 0, sizeof(l2));
			sw_cluster(lc, &id2, &leads2, &l2, &target);
		}
	}

	snprintf(idbuf, sizeof(idbuf), "%ld", target.node_id);
	snprintf(tbuf, sizeof(tbuf), "%ld", o.timeout_s);
	params[0] = idbuf;
	params[1] = tbuf;
	res = PQexecParams(lc, "SELECT request_id, old_leader, new_leader, outcome FROM dcf_switchover($1::int, $2::int)",
					   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		if (PQstatus(lc) == CONNECTION_OK && PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL)
			exit(ctl_result_error(res, "switchover"));
		/* the old leader restarted before its answer reached us: ask the target */
		fprintf(stderr, "dcf_ctl: the connection to the leader was lost; looking at node %ld\n", target.node_id);
	}
	else
		printf("switchover request %s: node %s hands leadership over to node %s: %s\n",
			   PQgetisnull(res, 0, 0) ? "-" : PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
			   PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
	PQclear(res);
	if (lc != conn)
		PQfinish(lc);
	PQfinish(conn);
	fflush(stdout);
	{
		PGconn	   *tc = ctl_wait_leader(target.host, target.port, &o.conn,
										 t0 + (double) o.timeout_s + 30 - now_s(), true);

		if (tc == NULL)
			ctl_die(2, "node %ld does not accept writes yet; the outcome is unknown\n"
					"HINT:  dcf_ctl list shows who leads; dcf_admin_requests() on the old leader shows the request.",
					target.node_id);
		PQfinish(tc);
	}
	printf("node %ld leads and accepts writes (%.2f s)\n", target.node_id, now_s() - t0);
	return 0;
}
