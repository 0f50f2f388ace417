/*
 * ctl_conn.c — libpq helpers shared by dcf_ctl's commands (see ctl_conn.h).
 */
#include "ctl_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "ctl_util.h"

#define PIDFILE_LINES 6

bool
ctl_conn_option(CtlConnOptions *o, int c, const char *arg)
{
	switch (c)
	{
		case 'D':
			o->datadir = arg;
			return true;
		case 'h':
			o->host = arg;
			return true;
		case 'p':
			o->port = arg;
			return true;
		case 'U':
			o->user = arg;
			return true;
		case 'd':
			o->dbname = arg;
			return true;
	}
	return false;
}

/*
 * postmaster.pid: line 1 pid, 4 port, 5 first socket directory, 6 first
 * listen address.
 */
bool
ctl_pidfile_address(const char *datadir, char *host, size_t hostcap,
					char *port, size_t portcap, char *err, size_t errcap)
{
	char		path[CTL_PATH_MAX];
	char		lines[PIDFILE_LINES][CTL_HOST_MAX];
	FILE	   *f;
	int			n = 0;
	long		pid;

	snprintf(path, sizeof(path), "%s/postmaster.pid", datadir);
	f = fopen(path, "r");
	if (f == NULL)
	{
		if (errno == ENOENT)
			snprintf(err, errcap, "no server running: \"%s\" does not exist", path);
		else
			snprintf(err, errcap, "could not open \"%s\": %s", path, strerror(errno));
		return false;
	}
	while (n < PIDFILE_LINES && fgets(lines[n], sizeof(lines[n]), f) != NULL)
	{
		lines[n][strcspn(lines[n], "\r\n")] = '\0';
		n++;
	}
	fclose(f);
	if (n < 4)
	{
		snprintf(err, errcap, "\"%s\" is incomplete: the server may still be starting", path);
		return false;
	}
	pid = strtol(lines[0], NULL, 10);
	if (pid <= 0)
	{
		snprintf(err, errcap, "\"%s\" does not start with a process id", path);
		return false;
	}
	if (!ctl_pid_alive((pid_t) pid))
	{
		snprintf(err, errcap, "no server running: process %ld named in \"%s\" does not exist", pid, path);
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

PGconn *
ctl_connect(const char *host, const char *port, const char *user, const char *dbname,
			const char *appname, int timeout_s, char *err, size_t errcap)
{
	const char *keys[8];
	const char *vals[8];
	char		timeout[16];
	int			k = 0;
	PGconn	   *conn;

	snprintf(timeout, sizeof(timeout), "%d", timeout_s);
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
	vals[k++] = appname;
	keys[k] = "connect_timeout";
	vals[k++] = timeout;
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

PGconn *
ctl_connect_options(const CtlConnOptions *o, int timeout_s, char *err, size_t errcap)
{
	char		host[CTL_HOST_MAX] = "";
	char		port[CTL_PORT_MAX] = "";
	char		msg[CTL_HOST_MAX];
	PGconn	   *conn;

	if (o->datadir && !ctl_pidfile_address(o->datadir, host, sizeof(host), port, sizeof(port), err, errcap))
		return NULL;
	if (o->host)
		snprintf(host, sizeof(host), "%s", o->host);
	if (o->port)
		snprintf(port, sizeof(port), "%s", o->port);
	conn = ctl_connect(host, port, o->user, o->dbname, "dcf_ctl", timeout_s, msg, sizeof(msg));
	if (conn == NULL)
		snprintf(err, errcap, "could not connect to the server: %s", msg);
	return conn;
}

int
ctl_result_error(const PGresult *res, const char *what)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	bool		timeout = state && strcmp(state, "DCF01") == 0;

	fflush(stdout);
	fprintf(stderr, "dcf_ctl: %s %s: %s\n", what, timeout ? "timed out" : "failed",
			primary ? primary : PQresultErrorMessage(res));
	if (detail)
		fprintf(stderr, "DETAIL:  %s\n", detail);
	if (hint)
		fprintf(stderr, "HINT:  %s\n", hint);
	return timeout ? 2 : 1;
}

PGconn *
ctl_wait_leader(const char *host, const char *port, const CtlConnOptions *o, double timeout_s, bool writable)
{
	struct timespec t0,
				t;

	if (host == NULL || host[0] == '\0')
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;)
	{
		char		err[CTL_HOST_MAX];
		PGconn	   *c;

		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double) (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= timeout_s)
			return NULL;
		c = ctl_connect(host, port, o->user, o->dbname, "dcf_ctl", 5, err, sizeof(err));

		if (c)
		{
			PGresult   *res = PQexec(c, writable ?
									 "SELECT NOT pg_is_in_recovery() AND role = 'LEADER' FROM dcf_replication_info()" :
									 "SELECT role = 'LEADER' FROM dcf_replication_info()");
			bool		ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
				strcmp(PQgetvalue(res, 0, 0), "t") == 0;

			PQclear(res);
			if (ok)
				return c;
			PQfinish(c);
		}
		usleep(100 * 1000);
	}
}
