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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_conn.h"

#define LIST_CONNECT_TIMEOUT_S 5
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

/* The members' fields in --json, in order: name, column, kind. */
static const struct
{
	const char *name;
	int			col;
	char		kind;			/* s string, n number, b boolean */
}			json_fields[] = {
	{"node_id", C_NODE, 'n'}, {"is_self", C_SELF, 'b'}, {"role", C_ROLE, 's'},
	{"state", C_STATE, 's'}, {"dcf_address", C_DCF, 's'}, {"pg_host", C_PGHOST, 's'},
	{"pg_port", C_PGPORT, 'n'}, {"term", C_TERM, 'n'}, {"timeline", C_TLI, 'n'},
	{"lag_entries", C_LAGE, 'n'}, {"lag_bytes", C_LAGB, 'n'}, {"lag_seconds", C_LAGS, 'n'},
	{"last_heard_ms", C_HEARD, 'n'}, {"match_index", C_MATCH, 'n'},
	{"applied_index", C_APPLIED, 'n'}, {"connected", C_CONNECTED, 'b'},
};

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
		printf("%s{", r ? ", " : "");
		for (size_t f = 0; f < sizeof(json_fields) / sizeof(json_fields[0]); f++)
		{
			const char *v = val(res, r, json_fields[f].col);

			printf("%s\"%s\": ", f ? ", " : "", json_fields[f].name);
			if (json_fields[f].kind == 's')
				json_string(stdout, v);
			else if (json_fields[f].kind == 'b')
				json_bool(stdout, v);
			else
				json_raw(stdout, v);
		}
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
	char		err[LIST_NOTE_MAX] = "";
	char		note[LIST_NOTE_MAX] = "";
	char		header[LIST_NOTE_MAX + 256];
	char		self_id[16] = "?";
	PGconn	   *conn;
	PGresult   *res;
	const char *view;
	int			leader_row = -1;

	conn = ctl_connect_options(&o->conn, LIST_CONNECT_TIMEOUT_S, err, sizeof(err));
	if (conn == NULL)
	{
		fprintf(stderr, "dcf_ctl: %s%s\n", err,
				o->conn.datadir && !o->conn.host && !o->conn.port ? "; name a running member with -h/-p" : "");
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
			lc = ctl_connect(lhost, lport, o->conn.user, o->conn.dbname, "dcf_ctl",
							 LIST_CONNECT_TIMEOUT_S, err, sizeof(err));
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

	if (!o->conn.datadir && !o->conn.host && !o->conn.port && !getenv("PGPORT") && !getenv("PGHOST"))
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
