/*
 * ctl_startstop.c — `dcf_ctl start` and `dcf_ctl stop`.
 *
 * start -D DATADIR [-l LOGFILE] [-o OPTIONS] [-t SECONDS] [--source-server=CONNINFO]
 *
 *   Starts a dcf node; it always boots as a standby and joins the cluster.
 *   A node whose WAL went beyond the cluster's (a fenced or killed leader)
 *   is found out by its own worker, which records why and where the leader
 *   is in <dcf.data_path>/rewind_needed and stops the server.  start then
 *   rewinds it (ctl_rewind.c: from the current leader or any member with
 *   the cluster's WAL, keeping every node-local file, crash-safe) and
 *   starts the node again.  It waits until the node accepts logins (it has
 *   joined: leader or follower) or the timeout passes.  Before anything
 *   else it finishes what an interrupted rewind left; a node that can
 *   never be rewound (<dcf.data_path>/rebuild_needed) is refused at once.
 *
 * stop -D DATADIR [-m MODE]
 *
 *   Stops a node.  A leader is stopped with -m immediate by default: a
 *   fast shutdown would write a shutdown checkpoint after the dcf worker
 *   is gone, so the stopped leader's WAL would be a record ahead of the
 *   cluster and need a rewind when it comes back.  Immediate shutdown is
 *   crash-safe; no acknowledged commit depends on it.  Followers stop with
 *   -m fast.
 */
#include "ctl_startstop.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_conn.h"
#include "ctl_rewind.h"
#include "ctl_util.h"

#define CTL_REWINDS_MAX 2		/* rewinds in one start before giving up */
#define CTL_DEFERS_MAX 3		/* starts with the rewind deferred, the same */
#define CTL_SETTLE_SECONDS 2	/* a joined node must stay up this long */

#define server_running ctl_server_running

/*
 * A connection to the local server found through postmaster.pid, as
 * application_name appname; NULL when it cannot be made.
 */
static PGconn *
local_connect(const char *datadir, const char *appname)
{
	char		port[CTL_PORT_MAX] = "",
				host[CTL_HOST_MAX] = "";
	char		err[CTL_HOST_MAX];

	if (!ctl_pidfile_address(datadir, host, sizeof(host), port, sizeof(port), err, sizeof(err)))
		return NULL;
	return ctl_connect(host[0] ? host : "localhost", port, NULL, "postgres", appname, 5, err, sizeof(err));
}

/* Has the node joined?  Logins are refused until it has. */
static bool
node_joined(const char *datadir)
{
	PGconn	   *c = local_connect(datadir, "dcf_ctl_start");

	if (c == NULL)
		return false;
	PQfinish(c);
	return true;
}

/*
 * Is the server a standby (a dcf follower)?  1 yes, 0 no (the leader),
 * -1 unknown.  postmaster.pid cannot tell: a hot standby's status line says
 * "ready" like a primary's.  dcf_ctl's application_name is let in even on
 * a node that refuses other logins.
 */
static int
server_in_recovery(const char *datadir)
{
	PGconn	   *c = local_connect(datadir, "dcf_ctl");
	PGresult   *r;
	int			ret = -1;

	if (c == NULL)
		return -1;
	r = PQexec(c, "SELECT pg_is_in_recovery()");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		ret = strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 1 : 0;
	PQclear(r);
	PQfinish(c);
	return ret;
}

int
dcf_ctl_start(const CtlStartOptions *o)
{
	char		datadir[PATH_MAX];
	char		dpath[CTL_PATH_MAX];
	char		path[CTL_PATH_MAX];
	char		pg_ctl[CTL_PATH_MAX];
	int			timeout = o->timeout_s > 0 ? o->timeout_s : 120;
	char	   *rebuild;
	bool		rewound = false;

	if (o->datadir == NULL)
	{
		ctl_error("no data directory given: use -D DATADIR");
		return 1;
	}
	if (realpath(o->datadir, datadir) == NULL)
	{
		ctl_error("could not access the data directory \"%s\": %s", o->datadir, strerror(errno));
		return 1;
	}
	if (server_running(datadir, NULL, 0))
	{
		ctl_error("a server is already running in \"%s\"", datadir);
		return 1;
	}
	/* a build cut short left a copy that is not this node yet */
	snprintf(path, sizeof(path), "%s.dcf_build/manifest", datadir);
	if (access(path, F_OK) == 0)
	{
		ctl_error("an earlier dcf_ctl build of this node was interrupted; its data directory is incomplete");
		fprintf(stderr, "dcf_ctl: hint: run dcf_ctl build -D %s again\n", datadir);
		return 1;
	}
	/* first of all: the node's own configuration back, if a rewind was cut short */
	if (!ctl_rewind_recover(datadir, &rewound))
		return 1;
	if (!ctl_data_path(datadir, dpath, sizeof(dpath)))
	{
		ctl_error("could not read dcf.data_path of \"%s\" (is dcf configured in its postgresql.conf?)", datadir);
		return 1;
	}
	if (rewound)
	{
		/* pg_rewind had completed: the node starts as rewound */
		snprintf(path, sizeof(path), "%s/rewind_needed", dpath);
		unlink(path);
		snprintf(path, sizeof(path), "%s/fenced", dpath);
		unlink(path);
		ctl_fsync_dir(dpath);
		ctl_info("the interrupted rewind had completed");
	}
	snprintf(path, sizeof(path), "%s/" CTL_REBUILD_MARKER, dpath);
	rebuild = ctl_slurp(path, NULL);
	if (rebuild)
	{
		char	   *why = ctl_marker_value(rebuild, "reason");

		ctl_error("this node cannot be rewound: %s", why ? why : "see \"rebuild_needed\" in its dcf.data_path");
		fprintf(stderr, "dcf_ctl: hint: rebuild it from the cluster with dcf_ctl build -D %s (which removes \"%s\")\n",
				datadir, path);
		free(why);
		free(rebuild);
		return 1;
	}
	ctl_bin_path(pg_ctl, sizeof(pg_ctl), "pg_ctl");

	for (int attempt = 0, deferred = 0; attempt <= CTL_REWINDS_MAX; attempt++)
	{
		char	   *marker;
		size_t		mlen;
		time_t		deadline;
		int			rc;

		snprintf(path, sizeof(path), "%s/rewind_needed", dpath);
		marker = ctl_slurp(path, &mlen);
		if (marker)
		{
			CtlRewindResult rr = ctl_rewind(o, datadir, dpath, marker);

			free(marker);
			if (rr == CTL_REWIND_DEFERRED)
			{
				/* started unrewound: no rewind was used up */
				if (++deferred > CTL_DEFERS_MAX)
				{
					ctl_error("no member had a checkpoint past this node's timeline in %d tries", CTL_DEFERS_MAX);
					return 1;
				}
				attempt--;
			}
			else if (rr != CTL_REWIND_OK)
			{
				if (rr == CTL_REWIND_FAILED)
					ctl_error("the node was not started");
				return 1;
			}
		}

		{
			char		tbuf[16];
			char	   *argv[16];
			int			a = 0;

			snprintf(tbuf, sizeof(tbuf), "%d", timeout);
			argv[a++] = pg_ctl;
			argv[a++] = "start";
			argv[a++] = "-w";
			argv[a++] = "-t";
			argv[a++] = tbuf;
			argv[a++] = "-D";
			argv[a++] = datadir;
			if (o->logfile)
			{
				argv[a++] = "-l";
				argv[a++] = (char *) o->logfile;
			}
			if (o->pg_options)
			{
				argv[a++] = "-o";
				argv[a++] = (char *) o->pg_options;
			}
			argv[a] = NULL;
			rc = ctl_run(argv);
			/*
			 * Right after a kill -9 the old server's children may still hold
			 * its shared memory for a moment: try again a few times.
			 */
			for (int retry = 0; rc != 0 && retry < 5 && access(path, F_OK) != 0; retry++)
			{
				sleep(1);
				rc = ctl_run(argv);
			}
			if (rc != 0)
			{
				/* the worker may have stopped it at once for a rewind */
				if (access(path, F_OK) == 0)
					continue;
				ctl_error("pg_ctl start failed");
				return 1;
			}
		}

		deadline = time(NULL) + timeout;
		while (time(NULL) < deadline)
		{
			if (!server_running(datadir, NULL, 0))
				break;
			if (node_joined(datadir))
			{
				/*
				 * A node that diverged is stopped by its worker as soon as its
				 * standby reaches the timeline switch: make sure it stays up.
				 */
				sleep(CTL_SETTLE_SECONDS);
				if (server_running(datadir, NULL, 0) && access(path, F_OK) != 0 &&
					node_joined(datadir))
				{
					ctl_info("node started and joined its cluster");
					return 0;
				}
				continue;
			}
			usleep(200000);
		}
		if (access(path, F_OK) == 0)
		{
			/* wait for the stop to finish, then rewind */
			for (int i = 0; i < 100 && server_running(datadir, NULL, 0); i++)
				usleep(100000);
			continue;
		}
		if (!server_running(datadir, NULL, 0))
		{
			ctl_error("the server stopped; see its log");
			return 1;
		}
		ctl_error("the node did not join its cluster within %d s (it keeps trying; see its log)", timeout);
		return 1;
	}
	ctl_error("the node still diverges after %d rewinds", CTL_REWINDS_MAX);
	return 1;
}

int
dcf_ctl_stop(const CtlStartOptions *o)
{
	char		pg_ctl[CTL_PATH_MAX];
	const char *mode = o->mode;

	if (o->datadir == NULL)
	{
		ctl_error("no data directory given: use -D DATADIR");
		return 1;
	}
	if (!server_running(o->datadir, NULL, 0))
	{
		ctl_error("no server running in \"%s\"", o->datadir);
		return 1;
	}
	/*
	 * A primary is the dcf leader: immediate (see the header comment); a
	 * standby fast.  Unknown (no connection) is treated like a leader:
	 * immediate is crash-safe either way.
	 */
	if (mode == NULL)
		mode = server_in_recovery(o->datadir) == 1 ? "fast" : "immediate";
	ctl_bin_path(pg_ctl, sizeof(pg_ctl), "pg_ctl");
	{
		char	   *argv[] = {pg_ctl, "stop", "-w", "-D", (char *) o->datadir, "-m", (char *) mode, NULL};

		if (ctl_run(argv) != 0)
		{
			ctl_error("pg_ctl stop failed");
			return 1;
		}
	}
	ctl_info("node stopped (-m %s)", mode);
	return 0;
}
