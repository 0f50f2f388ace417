/*
 * ctl_member.c — `dcf_ctl member` and `dcf_ctl changerole`: thin libpq
 * clients of dcf_add_member(), dcf_remove_member() and dcf_change_member().
 *
 *   dcf_ctl member --operation=add|remove|change -u NODE_ID [-i IP -e PORT]
 *           [-R ROLE] [--priority N] [-G GROUP] [--weight N] -D DATADIR [-t SECONDS]
 *   dcf_ctl changerole -R follower|passive|logger [-G GROUP] [--priority N]
 *           -D DATADIR [-t SECONDS]
 *
 * Both connect to the node of DATADIR (or -h/-p), ask it for the leader and,
 * when it is not the leader, connect to the leader's server (the address the
 * node's dcf_members() reports).  `changerole` changes the node of DATADIR.
 *
 * Exit status: 0 done (the new membership is printed), 1 refused or failed
 * (the server's message on stderr), 2 timed out with the outcome unknown
 * (the request keeps running; stderr says how to look it up).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_conn.h"
#include "ctl_member.h"
#include "ctl_util.h"

typedef struct MemberOptions
{
	bool		changerole;
	const char *operation;
	CtlConnOptions conn;
	long		node_id;
	const char *ip;
	long		dcf_port;
	const char *role;
	long		priority;
	long		group;
	long		weight;
	long		timeout_s;
} MemberOptions;

static void
member_usage(bool changerole)
{
	if (changerole)
		printf("dcf_ctl changerole changes the role of the node of DATADIR, through the leader.\n\n"
			   "Usage:\n"
			   "  dcf_ctl changerole -R follower|passive|logger [-G GROUP] [--priority N] -D DATADIR [-t SECONDS]\n");
	else
		printf("dcf_ctl member adds, removes or changes a member of the dcf cluster, through the leader.\n\n"
			   "Usage:\n"
			   "  dcf_ctl member --operation=add -u NODE_ID -i IP -e PORT [-R ROLE] [--weight N] [-G GROUP] [--priority N] -D DATADIR [-t SECONDS]\n"
			   "  dcf_ctl member --operation=remove -u NODE_ID -D DATADIR [-t SECONDS]\n"
			   "  dcf_ctl member --operation=change -u NODE_ID [-R ROLE] [-G GROUP] [--priority N] -D DATADIR [-t SECONDS]\n");
	printf("\nOptions:\n"
		   "  -D, --pgdata=DATADIR   a node's data directory (its running server is used)\n"
		   "  -h, --host, -p, --port, -U, --username, -d, --dbname   connect to this server instead\n"
		   "  -t, --timeout=SECONDS  how long to wait for the commit (default 60)\n"
		   "  -R, --role=ROLE        follower, passive or logger\n"
		   "\nExit status: 0 done, 1 refused or failed, 2 timed out with the outcome unknown.\n");
}

static long
parse_long(const char *what, const char *s, long lo, long hi)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi)
		ctl_die(1, "invalid %s \"%s\": give an integer between %ld and %ld", what, s, lo, hi);
	return v;
}

static PGresult *
query(PGconn *conn, const char *sql, int nparams, const char *const *params, const char *what)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		exit(ctl_result_error(res, what));
	return res;
}

/* The leader's server: this one, or the address its dcf_members() reports. */
static PGconn *
connect_leader(PGconn *conn, const MemberOptions *o, long *self_id)
{
	PGresult   *res;
	char		host[CTL_HOST_MAX];
	char		port[CTL_PORT_MAX];
	char		err[CTL_HOST_MAX];
	PGconn	   *lc;

	res = query(conn,
				"SELECT node_id, role, leader_id, "
				"(SELECT pg_host FROM dcf_members() m WHERE m.node_id = r.leader_id), "
				"(SELECT pg_port FROM dcf_members() m WHERE m.node_id = r.leader_id) "
				"FROM dcf_replication_info() r", 0, NULL, "finding the leader");
	*self_id = atol(PQgetvalue(res, 0, 0));
	if (strcmp(PQgetvalue(res, 0, 1), "LEADER") == 0)
	{
		PQclear(res);
		return conn;
	}
	if (PQgetisnull(res, 0, 2) || PQgetisnull(res, 0, 3) || PQgetisnull(res, 0, 4))
		ctl_die(1, "node %ld knows no leader with a reachable server right now\n"
			  "HINT:  Wait for the election to end and try again, or give the leader's server with -h and -p.",
			  *self_id);
	snprintf(host, sizeof(host), "%s", PQgetvalue(res, 0, 3));
	snprintf(port, sizeof(port), "%s", PQgetvalue(res, 0, 4));
	printf("node %ld is not the leader; sending the request to node %s (%s:%s)\n",
			*self_id, PQgetvalue(res, 0, 2), host, port);
	PQclear(res);
	fflush(stdout);
	lc = ctl_connect(host, port, o->conn.user, o->conn.dbname, "dcf_ctl", 10, err, sizeof(err));
	if (lc == NULL)
		ctl_die(1, "could not connect to the server on %s: %s", host, err);
	return lc;
}

/*
 * Removing the leader hands leadership over first: a switchover (the old
 * leader stops writes, commits them, transfers, and restarts as a standby
 * of the new leader by itself) to the first FOLLOWER that accepts, the most
 * up to date first; then the removal goes to the new leader, which commits
 * it without the old one.  Returns a connection to the new leader.
 */
static PGconn *
hand_over_first(PGconn *lc, const MemberOptions *o, long leader_id)
{
	char		idbuf[32];
	char		tbuf[32];
	const char *params[2];
	PGresult   *cand;
	int			n;

	snprintf(idbuf, sizeof(idbuf), "%ld", leader_id);
	params[0] = idbuf;
	cand = query(lc,
				 "SELECT node_id, pg_host, pg_port FROM dcf_members() "
				 "WHERE node_id <> $1::int AND role = 'FOLLOWER' AND pg_host IS NOT NULL AND pg_port IS NOT NULL "
				 "ORDER BY match_index DESC NULLS LAST, node_id",
				 1, params, "finding a member to hand leadership to");
	n = PQntuples(cand);
	if (n == 0)
		ctl_die(1, "cannot remove node %ld, the leader: no FOLLOWER can take over from it\n"
				"HINT:  Add a member first, or remove the leader once another member can lead.", leader_id);
	for (int i = 0; i < n; i++)
	{
		const char *target = PQgetvalue(cand, i, 0);
		PGresult   *res;

		printf("node %ld is the leader: handing leadership over to node %s first\n", leader_id, target);
		fflush(stdout);
		snprintf(tbuf, sizeof(tbuf), "%ld", o->timeout_s);
		params[0] = target;
		params[1] = tbuf;
		res = PQexecParams(lc, "SELECT outcome FROM dcf_switchover($1::int, $2::int)", 2, NULL, params,
						   NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "dcf_ctl: node %s cannot take over: %s", target, PQresultErrorMessage(res));
			PQclear(res);
			if (PQstatus(lc) != CONNECTION_OK)
				ctl_die(2, "lost the connection to the leader during the switchover; the outcome is unknown\n"
						"HINT:  dcf_admin_requests() on any member shows it; dcf_ctl query shows who leads.");
			continue;
		}
		PQclear(res);
		printf("node %s leads now; removing node %ld through it\n", target, leader_id);
		fflush(stdout);

		/* the new leader's server: wait until it takes admin requests */
		{
			PGconn	   *nc = ctl_wait_leader(PQgetvalue(cand, i, 1), PQgetvalue(cand, i, 2), &o->conn,
											 (double) o->timeout_s, false);

			if (nc)
			{
				PQclear(cand);
				return nc;
			}
		}
		ctl_die(2, "node %s took over but could not be reached as the leader within %ld s; node %ld is not removed yet\n"
				"HINT:  Run the removal again: it goes to whichever node leads.", target, o->timeout_s, leader_id);
	}
	ctl_die(1, "cannot remove node %ld, the leader: no member could take over from it (reasons above)", leader_id);
	return NULL;
}

static void
print_members(PGresult *res)
{
	printf("%-8s %-16s %-6s %-9s %-6s %-6s %-8s %s\n",
		   "node_id", "ip", "port", "role", "weight", "group", "priority", "learner");
	for (int i = 0; i < PQntuples(res); i++)
		printf("%-8s %-16s %-6s %-9s %-6s %-6s %-8s %s\n",
			   PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
			   PQgetvalue(res, i, 4), PQgetvalue(res, i, 5), PQgetvalue(res, i, 6),
			   strcmp(PQgetvalue(res, i, 7), "t") == 0 ? "yes" : "no");
}

static const char *
upper_role(const char *r)
{
	static char buf[32];
	size_t		i;

	for (i = 0; r[i] && i < sizeof(buf) - 1; i++)
		buf[i] = (r[i] >= 'a' && r[i] <= 'z') ? (char) (r[i] - 32) : r[i];
	buf[i] = '\0';
	if (strcmp(buf, "FOLLOWER") != 0 && strcmp(buf, "PASSIVE") != 0 && strcmp(buf, "LOGGER") != 0)
		ctl_die(1, "invalid role \"%s\": give follower, passive or logger", r);
	return buf;
}

int
dcf_ctl_member(int argc, char **argv)
{
	static struct option long_options[] = {
		{"operation", required_argument, NULL, 'O'},
		{"nodeid", required_argument, NULL, 'u'},
		{"ip", required_argument, NULL, 'i'},
		{"dcf-port", required_argument, NULL, 'e'},
		{"role", required_argument, NULL, 'R'},
		{"group", required_argument, NULL, 'G'},
		{"priority", required_argument, NULL, 1},
		{"weight", required_argument, NULL, 2},
		CTL_CONN_LONG_OPTIONS,
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	MemberOptions o;
	char		err[CTL_HOST_MAX + 256];
	PGconn	   *conn;
	PGconn	   *lc;
	PGresult   *res;
	long		self_id;
	char		a[8][64];
	const char *params[8];
	const char *sql;
	const char *what;
	int			np = 0;
	int			c;

	memset(&o, 0, sizeof(o));
	o.changerole = strcmp(argv[0], "changerole") == 0;
	o.node_id = o.dcf_port = o.priority = o.group = o.weight = -1;
	o.timeout_s = 60;
	while ((c = getopt_long(argc, argv, "O:u:i:e:R:G:D:h:p:U:d:t:?", long_options, NULL)) != -1)
	{
		if (ctl_conn_option(&o.conn, c, optarg))
			continue;
		switch (c)
		{
			case 'O':
				o.operation = optarg;
				break;
			case 'u':
				o.node_id = parse_long("node id", optarg, 1, 2147483647L);
				break;
			case 'i':
				o.ip = optarg;
				break;
			case 'e':
				o.dcf_port = parse_long("dcf port", optarg, 1, 65535);
				break;
			case 'R':
				o.role = upper_role(optarg);
				break;
			case 'G':
				o.group = parse_long("group", optarg, 0, 1000000);
				break;
			case 1:
				o.priority = parse_long("priority", optarg, 0, 1000000);
				break;
			case 2:
				o.weight = parse_long("weight", optarg, 1, 1000);
				break;
			case 't':
				o.timeout_s = parse_long("timeout", optarg, 1, 86400);
				break;
			default:
				if (optopt == 0 || optopt == '?')
				{
					member_usage(o.changerole);
					return 0;
				}
				fprintf(stderr, "Try \"dcf_ctl %s --help\" for more information.\n", argv[0]);
				return 1;
		}
	}
	if (optind < argc)
		ctl_die(1, "too many command-line arguments (first extra is \"%s\")", argv[optind]);
	if (!o.conn.datadir && !o.conn.host && !o.conn.port)
		ctl_die(1, "no data directory given: use -D DATADIR (or -h/-p)");

	/* what to run, checked before connecting */
	if (o.changerole)
	{
		if (o.role == NULL)
			ctl_die(1, "changerole needs -R follower|passive|logger");
	}
	else if (o.operation == NULL)
		ctl_die(1, "member needs --operation=add|remove|change");
	else if (strcmp(o.operation, "add") == 0)
	{
		if (o.node_id < 0 || o.ip == NULL || o.dcf_port < 0)
			ctl_die(1, "member --operation=add needs -u NODE_ID, -i IP and -e PORT");
	}
	else if (strcmp(o.operation, "remove") == 0)
	{
		if (o.node_id < 0)
			ctl_die(1, "member --operation=remove needs -u NODE_ID");
	}
	else if (strcmp(o.operation, "change") == 0)
	{
		if (o.node_id < 0)
			ctl_die(1, "member --operation=change needs -u NODE_ID");
		if (o.role == NULL && o.priority < 0 && o.group < 0)
			ctl_die(1, "member --operation=change needs at least one of -R, --priority and -G");
	}
	else
		ctl_die(1, "invalid operation \"%s\": give add, remove or change", o.operation);

	conn = ctl_connect_options(&o.conn, 10, err, sizeof(err));
	if (conn == NULL)
		ctl_die(1, "%s", err);
	lc = connect_leader(conn, &o, &self_id);

#define ARG_LONG(v) (snprintf(a[np], sizeof(a[np]), "%ld", (long) (v)), params[np] = a[np], np++)
#define ARG_STR(s)	(params[np++] = (s))
#define ARG_OPT(v)	((v) >= 0 ? (void) ARG_LONG(v) : (void) (params[np++] = NULL))
	if (o.changerole || strcmp(o.operation, "change") == 0)
	{
		ARG_LONG(o.changerole ? self_id : o.node_id);
		ARG_STR(o.role);
		ARG_OPT(o.priority);
		ARG_OPT(o.group);
		ARG_LONG(o.timeout_s);
		sql = "SELECT * FROM dcf_change_member($1::int, $2, $3::int, $4::int, $5::int) ORDER BY node_id";
		what = o.changerole ? "changerole" : "member change";
	}
	else if (strcmp(o.operation, "add") == 0)
	{
		ARG_LONG(o.node_id);
		ARG_STR(o.ip);
		ARG_LONG(o.dcf_port);
		ARG_STR(o.role ? o.role : "FOLLOWER");
		ARG_LONG(o.weight >= 0 ? o.weight : 1);
		ARG_LONG(o.group >= 0 ? o.group : 0);
		ARG_LONG(o.priority >= 0 ? o.priority : 0);
		ARG_LONG(o.timeout_s);
		sql = "SELECT * FROM dcf_add_member($1::int, $2, $3::int, $4, $5::int, $6::int, $7::int, $8::int) ORDER BY node_id";
		what = "member add";
	}
	else
	{
		PGresult   *lr = query(lc, "SELECT node_id FROM dcf_replication_info()", 0, NULL, "finding the leader");
		long		leader_id = atol(PQgetvalue(lr, 0, 0));

		PQclear(lr);
		if (o.node_id == leader_id)
		{
			PGconn	   *nc = hand_over_first(lc, &o, leader_id);

			if (lc != conn)
				PQfinish(lc);
			lc = nc;
		}
		ARG_LONG(o.node_id);
		ARG_LONG(o.timeout_s);
		sql = "SELECT * FROM dcf_remove_member($1::int, $2::int) ORDER BY node_id";
		what = "member remove";
	}
	res = query(lc, sql, np, params, what);
	printf("%s done; the membership is now:\n", what);
	print_members(res);
	PQclear(res);
	if (lc != conn)
		PQfinish(lc);
	PQfinish(conn);
	return 0;
}
