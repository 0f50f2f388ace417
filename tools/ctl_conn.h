/*
 * ctl_conn.h — libpq helpers shared by dcf_ctl's commands that talk to a
 * running server (tools/ctl_conn.c): finding the server of a data
 * directory, connecting, the common connection options and printing a
 * server error the way psql does.
 */
#ifndef DCF_CTL_CONN_H
#define DCF_CTL_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "libpq-fe.h"

#define CTL_HOST_MAX 1024
#define CTL_PORT_MAX 32

/* -D, -h, -p, -U, -d: which server to connect to, and as whom. */
typedef struct CtlConnOptions
{
	const char *datadir;		/* find the server from its postmaster.pid */
	const char *host;			/* override postmaster.pid's socket directory */
	const char *port;			/* override postmaster.pid's port */
	const char *user;
	const char *dbname;			/* default postgres */
} CtlConnOptions;

/* The getopt_long entries of -D, -h, -p, -U and -d. */
#define CTL_CONN_LONG_OPTIONS \
	{"pgdata", required_argument, NULL, 'D'}, \
	{"host", required_argument, NULL, 'h'}, \
	{"port", required_argument, NULL, 'p'}, \
	{"username", required_argument, NULL, 'U'}, \
	{"dbname", required_argument, NULL, 'd'}

/* Takes option c (one of D h p U d) with its argument; false for any other. */
extern bool ctl_conn_option(CtlConnOptions *o, int c, const char *arg);

/*
 * Port and socket directory (or listen address) of the server running in
 * datadir, from its postmaster.pid; false with err set when no server runs
 * there.
 */
extern bool ctl_pidfile_address(const char *datadir, char *host, size_t hostcap,
								char *port, size_t portcap, char *err, size_t errcap);

/*
 * Connect to host:port (NULL or empty: libpq's defaults) as user (NULL:
 * the default) to dbname (NULL: postgres), as application appname, waiting
 * at most timeout_s to connect.  NULL with libpq's message in err.
 */
extern PGconn *ctl_connect(const char *host, const char *port, const char *user,
						   const char *dbname, const char *appname, int timeout_s,
						   char *err, size_t errcap);

/*
 * Connect to the server o names: postmaster.pid of -D, overridden by -h and
 * -p.  NULL with err set ("could not connect to the server: ...", or why no
 * server runs in the data directory).
 */
extern PGconn *ctl_connect_options(const CtlConnOptions *o, int timeout_s, char *err, size_t errcap);

/*
 * Print a failed query's error on stderr: "dcf_ctl: WHAT failed: message"
 * ("timed out" for the admin timeout, SQLSTATE DCF01), then its DETAIL and
 * HINT.  Returns the exit status for it: 2 for the timeout, else 1.
 */
extern int	ctl_result_error(const PGresult *res, const char *what);

/*
 * Wait until the server at host:port is the dcf leader (and, with writable,
 * out of recovery: promoted), connecting as o's user and database, until
 * timeout_s seconds have passed.  Returns the connection, or NULL.
 */
extern PGconn *ctl_wait_leader(const char *host, const char *port, const CtlConnOptions *o,
							   double timeout_s, bool writable);

#endif							/* DCF_CTL_CONN_H */
