/*
 * ctl_list.c — `dcf_ctl list`: the whole cluster at a glance.
 *
 * list [-D DATADIR | -h HOST -p PORT] [-U USER] [-d DBNAME] [--watch SECONDS] [--json]
 *
 *   Connects to the node (found from DATADIR/postmaster.pid, or named by
 *   -h/-p) and reads dcf_members().  When that node is not the leader and
 *   knows the leader's PostgreSQL address, it asks the leader instead,
 *   whose view covers every member (progress, lag, last status report).
 *   If the leader cannot be reached it prints the node's own view and says
 *   why.  One row per member: node id, role, state, dcf and PostgreSQL
 *   addresses, term, timeline, lag in entries, bytes and seconds, and how
 *   long ago the leader last heard from it.
 *
 *   --json prints one JSON object ({"view", "source_node", "note",
 *   "members": [...]}) with typed values (null when unknown); with --watch,
 *   one object per line.  --watch SECONDS refreshes until interrupted; a
 *   failed round is reported and the next one tried.
 *
 * Exit status: 0 when the cluster was listed, 1 otherwise.
 */
#include "ctl_list.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define LIST_LINE_MAX 1024
#define LIST_CONNECT_TIMEOUT_S "5"
#define LIST_NOTE_MAX 1024

static const char *const list_sql =
"SELECT node_id, is_self, view, role, state, dcf_address, pg_host, pg_port, term, timeline,"
" lag_entries, lag_bytes, lag_seconds, last_heard_ms, match_index, applied_index, connected"
" FROM dcf_members() ORDER BY node_id";

enum
{
	C_NODE, C_SELF, C_VIEW, C_ROLE, C_STATE, C_DCF, C_PGHOST, C_PGPORT, C_TERM, C_TLI,
	C_LAGE, C_LAGB, C_LAGS, C_HEARD, C_MATCH, C_APPLIED, C_CONNECTED, C_NCOLS
};

/* Connect to host:port (either may be NULL), without exiting on failure. */
static PGconn *
list_connect(const char *host, const char *port, const char *user, const char *dbname,
			 char *err, size_t errcap)
{
	const char *keys[8];
	const char *vals[8];
	int			k = 0;
	PGconn	   *conn;

	if (host && host[0])
	{
		keys[k] = "host";
		vals[k++] = host;
	}
	if (port && port[0])
	{
		keys[k] = "port";
		vals[k++] = port;
	}
	if (user)
	{
		keys[k] = "user";
		vals[k++] = user;
	}
	keys[k] = "dbname";
	vals[k++] = dbname ? dbname : "postgres";
	keys[k] = "application_name";
	vals[k++] = "dcf_ctl";
	keys[k] = "connect_timeout";
	vals[k++] = LIST_CONNECT_TIMEOUT_S;
	keys[k] = NULL;
	vals[k] = NULL;
	conn = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		char	   *msg = PQerrorMessage(conn);

		msg[strcspn(msg, "\n")] = '\0';
		snprintf(err, errcap, "%s", msg);
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* Port and socket directory (or address) of the server running in datadir. */
static bool
pidfile_address(const char *datadir, char *host, size_t hostcap, char *port, size_t portcap,
				char *err, size_t errcap)
{
	char		path[4096];
	char		lines[6][LIST_LINE_MAX];
	FILE	   *f;
	int			n = 0;
	long		pid;

	snprintf(path, sizeof(path), "%s/postmaster.pid", datadir);
	f = fopen(path, "r");
	if (f == NULL)
	{
		snprintf(err, errcap, "no server running in \"%s\" (%s)", datadir,
				 errno == ENOENT ? "no postmaster.pid" : strerror(errno));
		return false;
	}
	while (n < 6 && fgets(lines[n], LIST_LINE_MAX, f) != NULL)
	{
		lines[n][strcspn(lines[n], "\r\n")] = '\0';
		n++;
	}
	fclose(f);
	pid = n > 0 ? strtol(lines[0], NULL, 10) : 0;
	if (n < 4 || pid <= 0 || (kill((pid_t) pid, 0) != 0 && errno == ESRCH))
	{
		snprintf(err, errcap, "no server running in \"%s\"", datadir);
		return false;
	}
	snprintf(port, portcap, "%.15s", lines[3]);
	host[0] = '\0';
	if (n >= 5 && lines[4][0] != '\0')
		snprintf(host, hostcap, "%s", lines[4]);
	else if (n >= 6 && lines[5][0] != '\0')
		snprintf(host, hostcap, "%s", strcmp(lines[5], "*") == 0 ? "localhost" : lines[5]);
	return true;
}

/* dcf_members() on conn, or NULL with err set. */
static PGresult *
list_members(PGconn *conn, char *err, size_t errcap)
{
	PGresult   *res = PQexec(conn, list_sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (code && strcmp(code, "42883") == 0)
			snprintf(err, errcap, "dcf_members() does not exist in database \"%s\": "
					 "run CREATE EXTENSION dcf there (or ALTER EXTENSION dcf UPDATE), or name another database with -d",
					 PQdb(conn));
		else
			snprintf(err, errcap, "dcf_members() failed: %s", primary ? primary : PQresultErrorMessage(res));
		PQclear(res);
		return NULL;
	}
	if (PQnfields(res) != C_NCOLS)
	{
		snprintf(err, errcap, "dcf_members() returned %d columns, expected %d", PQnfields(res), C_NCOLS);
		PQclear(res);
		return NULL;
	}
	return res;
}

static const char *
val(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}

static void
json_string(FILE *out, const char *s)
{
	if (s == NULL)
	{
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (; *s; s++)
	{
		unsigned char ch = (unsigned char) *s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void
json_raw(FILE *out, const char *s)
{
	fputs(s ? s : "null", out);
}

static void
json_bool(FILE *out, const char *s)
{
	fputs(s == NULL ? "null" : strcmp(s, "t") == 0 ? "true" : "false", out);
}

static void
print_json(const PGresult *res, const char *view, const char *source_node, const char *note)
{
	printf("{\"view\": ");
	json_string(stdout, view);
	printf(", \"source_node\": %s, \"note\": ", source_node ? source_node : "null");
	json_string(stdout, note[0] ? note : NULL);
	printf(", \"members\": [");
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *host = val(res, r, C_PGHOST);
		const char *port = val(res, r, C_PGPORT);

		printf("%s{\"node_id\": %s, \"is_self\": ", r ? ", " : "", val(res, r, C_NODE));
		json_bool(stdout, val(res, r, C_SELF));
		printf(", \"role\": ");
		json_string(stdout, val(res, r, C_ROLE));
		printf(", \"state\": ");
		json_string(stdout, val(res, r, C_STATE));
		printf(", \"dcf_address\": ");
		json_string(stdout, val(res, r, C_DCF));
		printf(", \"pg_host\": ");
		json_string(stdout, host);
		printf(", \"pg_port\": ");
		json_raw(stdout, port);
		printf(", \"term\": ");
		json_raw(stdout, val(res, r, C_TERM));
		printf(", \"timeline\": ");
		json_raw(stdout, val(res, r, C_TLI));
		printf(", \"lag_entries\": ");
		json_raw(stdout, val(res, r, C_LAGE));
		printf(", \"lag_bytes\": ");
		json_raw(stdout, val(res, r, C_LAGB));
		printf(", \"lag_seconds\": ");
		json_raw(stdout, val(res, r, C_LAGS));
		printf(", \"last_heard_ms\": ");
		json_raw(stdout, val(res, r, C_HEARD));
		printf(", \"match_index\": ");
		json_raw(stdout, val(res, r, C_MATCH));
		printf(", \"applied_index\": ");
		json_raw(stdout, val(res, r, C_APPLIED));
		printf(", \"connected\": ");
		json_bool(stdout, val(res, r, C_CONNECTED));
		printf("}");
	}
	printf("]}\n");
}

/* "1.5 s", "120 ms", "-" */
static void
fmt_ms(char *out, size_t cap, const char *ms)
{
	double		v;

	if (ms == NULL)
	{
		snprintf(out, cap, "-");
		return;
	}
	v = atof(ms);
	if (v < 1000)
		snprintf(out, cap, "%.0f ms", v);
	else
		snprintf(out, cap, "%.1f s", v / 1000.0);
}

static void
print_table(const PGresult *res, const char *header)
{
	printf("%s\n\n", header);
	printf(" %4s  %-9s %-12s %-21s %-21s %6s %4s %9s %11s %8s  %s\n",
		   "node", "role", "state", "dcf address", "postgres address", "term", "tli",
		   "lag(ent)", "lag(bytes)", "lag(s)", "last heard");
	for (int r = 0; r < PQntuples(res); r++)
	{
		char		pgaddr[128];
		char		heard[32];
		char		lags[32];
		const char *host = val(res, r, C_PGHOST);
		const char *port = val(res, r, C_PGPORT);
		const char *s;

		if (port)
			snprintf(pgaddr, sizeof(pgaddr), strchr(host ? host : "", ':') ? "[%s]:%s" : "%s:%s",
					 host ? host : "?", port);
		else
			snprintf(pgaddr, sizeof(pgaddr), "-");
		fmt_ms(heard, sizeof(heard), val(res, r, C_HEARD));
		if (strcmp(val(res, r, C_SELF), "t") == 0)
			snprintf(heard, sizeof(heard), "(this node)");
		s = val(res, r, C_LAGS);
		if (s)
			snprintf(lags, sizeof(lags), "%.1f", atof(s));
		else
			snprintf(lags, sizeof(lags), "-");
		printf(" %4s  %-9s %-12s %-21s %-21s %6s %4s %9s %11s %8s  %s\n",
			   val(res, r, C_NODE), val(res, r, C_ROLE), val(res, r, C_STATE),
			   val(res, r, C_DCF), pgaddr,
			   val(res, r, C_TERM) ? val(res, r, C_TERM) : "-",
			   val(res, r, C_TLI) ? val(res, r, C_TLI) : "-",
			   val(res, r, C_LAGE) ? val(res, r, C_LAGE) : "-",
			   val(res, r, C_LAGB) ? val(res, r, C_LAGB) : "-",
			   lags, heard);
	}
}

/* One listing; false (with a message on stderr) when nothing could be listed. */
static bool
list_once(const CtlListOptions *o)
{
	char		host[LIST_LINE_MAX] = "";
	char		port[32] = "";
	char		err[LIST_NOTE_MAX] = "";
	char		note[LIST_NOTE_MAX] = "";
	char		header[LIST_NOTE_MAX + 256];
	char		self_id[16] = "?";
	PGconn	   *conn;
	PGresult   *res;
	const char *view;
	int			leader_row = -1;

	if (o->datadir && !pidfile_address(o->datadir, host, sizeof(host), port, sizeof(port), err, sizeof(err)))
	{
		fprintf(stderr, "dcf_ctl: %s; name a running member with -h/-p\n", err);
		return false;
	}
	if (o->host)
		snprintf(host, sizeof(host), "%s", o->host);
	if (o->port)
		snprintf(port, sizeof(port), "%s", o->port);
	conn = list_connect(host, port, o->user, o->dbname, err, sizeof(err));
	if (conn == NULL)
	{
		fprintf(stderr, "dcf_ctl: could not connect to the node: %s\n", err);
		return false;
	}
	res = list_members(conn, err, sizeof(err));
	PQfinish(conn);
	if (res == NULL)
	{
		fprintf(stderr, "dcf_ctl: %s\n", err);
		return false;
	}
	for (int r = 0; r < PQntuples(res); r++)
	{
		if (strcmp(PQgetvalue(res, r, C_SELF), "t") == 0)
			snprintf(self_id, sizeof(self_id), "%s", PQgetvalue(res, r, C_NODE));
		if (strcmp(PQgetvalue(res, r, C_ROLE), "LEADER") == 0)
			leader_row = r;
	}
	view = PQgetvalue(res, 0, C_VIEW);
	if (strcmp(view, "leader") != 0)
	{
		/* ask the leader, whose view covers every member */
		if (leader_row < 0)
			snprintf(note, sizeof(note), "node %s knows no leader", self_id);
		else if (PQgetisnull(res, leader_row, C_PGPORT))
			snprintf(note, sizeof(note), "node %s does not know the PostgreSQL address of its leader, node %s",
					 self_id, PQgetvalue(res, leader_row, C_NODE));
		else
		{
			char		lhost[256];
			char		lport[32];
			PGconn	   *lc;
			PGresult   *lres = NULL;

			snprintf(lhost, sizeof(lhost), "%s", PQgetvalue(res, leader_row, C_PGHOST));
			snprintf(lport, sizeof(lport), "%s", PQgetvalue(res, leader_row, C_PGPORT));
			lc = list_connect(lhost, lport, o->user, o->dbname, err, sizeof(err));
			if (lc)
			{
				lres = list_members(lc, err, sizeof(err));
				PQfinish(lc);
			}
			if (lres && PQntuples(lres) > 0 && strcmp(PQgetvalue(lres, 0, C_VIEW), "leader") == 0)
			{
				PQclear(res);
				res = lres;
				view = PQgetvalue(res, 0, C_VIEW);
				for (int r = 0; r < PQntuples(res); r++)
					if (strcmp(PQgetvalue(res, r, C_SELF), "t") == 0)
						snprintf(self_id, sizeof(self_id), "%s", PQgetvalue(res, r, C_NODE));
			}
			else
			{
				if (lres)
				{
					snprintf(err, sizeof(err), "it is no longer the leader");
					PQclear(lres);
				}
				snprintf(note, sizeof(note), "could not ask the leader, node %s at %s:%s: %s",
						 PQgetvalue(res, leader_row, C_NODE), lhost, lport, err);
			}
		}
	}

	if (strcmp(view, "leader") == 0)
		snprintf(header, sizeof(header), "cluster as seen by the leader, node %s", self_id);
	else
		snprintf(header, sizeof(header), "cluster as seen by node %s only (%s): other members' state is unknown here",
				 self_id, note);
	if (o->json)
		print_json(res, view, self_id[0] != '?' ? self_id : NULL, note);
	else
		print_table(res, header);
	PQclear(res);
	fflush(stdout);
	return true;
}

int
dcf_ctl_list(const CtlListOptions *o)
{
	bool		ok;

	if (!o->datadir && !o->host && !o->port && !getenv("PGPORT") && !getenv("PGHOST"))
	{
		fprintf(stderr, "dcf_ctl: no node given: use -D DATADIR or -h HOST -p PORT\n");
		return 1;
	}
	if (o->watch_s < 0)
	{
		fprintf(stderr, "dcf_ctl: --watch needs a positive number of seconds\n");
		return 1;
	}
	if (o->watch_s == 0)
		return list_once(o) ? 0 : 1;
	for (;;)
	{
		struct timespec ts;
		time_t		now = time(NULL);
		char		stamp[64];
		struct tm	tm;

		if (!o->json)
		{
			if (isatty(STDOUT_FILENO))
				printf("\033[H\033[2J");
			strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S %Z", localtime_r(&now, &tm));
			printf("%s (every %g s)\n", stamp, o->watch_s);
		}
		ok = list_once(o);
		if (!ok && o->json)
			printf("{\"error\": \"could not list the cluster\"}\n");
		if (!o->json)
			printf("\n");
		fflush(stdout);
		ts.tv_sec = (time_t) o->watch_s;
		ts.tv_nsec = (long) ((o->watch_s - (double) ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
	return 0;
}
