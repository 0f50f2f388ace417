/*
 * ctl_startstop.c — `dcf_ctl start` and `dcf_ctl stop`.
 *
 * start -D DATADIR [-l LOGFILE] [-o OPTIONS] [-t SECONDS] [--source-server=CONNINFO]
 *
 *   Starts a dcf node; it always boots as a standby and joins the cluster.
 *   A node whose WAL went beyond the cluster's (a fenced or killed leader)
 *   is found out by its own worker, which records why and where the leader
 *   is in <dcf.data_path>/rewind_needed and stops the server.  start then
 *   runs pg_rewind against the leader, keeping the node's own
 *   postgresql.conf, postgresql.auto.conf, pg_hba.conf and pg_ident.conf
 *   (pg_rewind would copy the leader's), and starts the node again.  It
 *   waits until the node accepts logins (it has joined: leader or
 *   follower) or the timeout passes.
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
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define CTL_REWINDS_MAX 2		/* rewinds in one start before giving up */
#define CTL_SETTLE_SECONDS 2	/* a joined node must stay up this long */
#define CTL_PATH_MAX 4096

static const char *const kept_files[] = {
	"postgresql.conf", "postgresql.auto.conf", "pg_hba.conf", "pg_ident.conf", NULL
};

static void
ctl_error(const char *fmt,...)
	__attribute__((format(printf, 1, 2)));

static void
ctl_error(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "dcf_ctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The directory dcf_ctl was installed in: postgres, pg_ctl and pg_rewind live there too. */
static void
bin_path(char *out, size_t cap, const char *prog)
{
	char		self[CTL_PATH_MAX];
	ssize_t		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char	   *slash;

	if (n > 0)
	{
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash)
		{
			*slash = '\0';
			snprintf(out, cap, "%s/%s", self, prog);
			if (access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, cap, "%s", prog);
}

/* Run argv, wait, return its exit status (or -1). */
static int
run(char *const argv[])
{
	pid_t		pid = fork();
	int			st;

	if (pid < 0)
		return -1;
	if (pid == 0)
	{
		execvp(argv[0], argv);
		fprintf(stderr, "dcf_ctl: could not run \"%s\": %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Output of a command (first line), or empty. */
static bool
run_capture(char *const argv[], char *out, size_t cap)
{
	int			fds[2];
	pid_t		pid;
	ssize_t		n;
	size_t		got = 0;
	int			st;

	if (pipe(fds) != 0)
		return false;
	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0)
	{
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while (got + 1 < cap && (n = read(fds[0], out + got, cap - 1 - got)) > 0)
		got += (size_t) n;
	close(fds[0]);
	out[got] = '\0';
	out[strcspn(out, "\n")] = '\0';
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* postmaster.pid: the status line ("ready", "standby", ...) and liveness. */
static bool
server_running(const char *datadir, char *status, size_t cap)
{
	char		path[CTL_PATH_MAX];
	char		line[256];
	FILE	   *f;
	long		pid = 0;
	int			n = 0;

	snprintf(path, sizeof(path), "%s/postmaster.pid", datadir);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	if (status)
		status[0] = '\0';
	while (fgets(line, sizeof(line), f))
	{
		n++;
		line[strcspn(line, "\r\n")] = '\0';
		if (n == 1)
			pid = strtol(line, NULL, 10);
		if (n == 8 && status)
			snprintf(status, cap, "%s", line);
	}
	fclose(f);
	if (pid <= 0)
		return false;
	if (kill((pid_t) pid, 0) != 0 && errno == ESRCH)
		return false;
	/* a killed postmaster not yet reaped by its parent is not running */
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f)
	{
		char		state = '?';

		if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
			state = '?';
		fclose(f);
		if (state == 'Z' || state == 'X')
			return false;
	}
	return true;
}

/* dcf.data_path of the node, absolute. */
static bool
data_path_of(const char *datadir, char *out, size_t cap)
{
	char		postgres[CTL_PATH_MAX];
	char		val[CTL_PATH_MAX];
	char	   *argv[] = {postgres, "-D", (char *) datadir, "-C", "dcf.data_path", NULL};

	bin_path(postgres, sizeof(postgres), "postgres");
	if (!run_capture(argv, val, sizeof(val)) || val[0] == '\0')
		return false;
	if (val[0] == '/')
		snprintf(out, cap, "%s", val);
	else
		snprintf(out, cap, "%s/%s", datadir, val);
	return true;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) n + 1);
	if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
	{
		buf[n] = '\0';
		*len = (size_t) n;
	}
	return buf;
}

static bool
spit(const char *path, const char *buf, size_t len)
{
	FILE	   *f = fopen(path, "wb");
	bool		ok;

	if (f == NULL)
		return false;
	ok = fwrite(buf, 1, len, f) == len;
	ok = (fclose(f) == 0) && ok;
	if (ok)
		chmod(path, 0600);
	return ok;
}

/* Value of "key=" in the marker, or NULL. */
static char *
marker_value(const char *marker, const char *key)
{
	size_t		kl = strlen(key);
	const char *p = marker;

	while (p && *p)
	{
		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
		{
			const char *v = p + kl + 1;
			size_t		n = strcspn(v, "\n");
			char	   *out = malloc(n + 1);

			memcpy(out, v, n);
			out[n] = '\0';
			return out;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

/*
 * pg_rewind takes the timeline of the rewound node's minimum recovery point
 * from the source's last checkpoint.  A leader promoted a moment ago has not
 * finished the checkpoint its promotion requested, so that would be the old
 * timeline, and the rewound node could then never start ("requested
 * timeline N does not contain minimum recovery point ... on timeline M").
 * A CHECKPOINT on the source first avoids that.  Failing it is only a
 * warning: pg_rewind may still work, and says so if not.
 */
static void
checkpoint_source(const char *source)
{
	PGconn	   *c = PQconnectdb(source);
	PGresult   *r;

	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "dcf_ctl: warning: could not connect to the leader for a checkpoint: %s",
				PQerrorMessage(c));
		PQfinish(c);
		return;
	}
	printf("dcf_ctl: requesting a checkpoint on the leader\n");
	fflush(stdout);
	r = PQexec(c, "CHECKPOINT");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "dcf_ctl: warning: CHECKPOINT on the leader failed: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

static int
rewind_node(const CtlStartOptions *o, const char *dpath, const char *marker)
{
	char		path[CTL_PATH_MAX];
	char	   *saved[8] = {0};
	size_t		saved_len[8] = {0};
	char	   *reason = marker_value(marker, "reason");
	char	   *source = o->source_server ? strdup(o->source_server) : marker_value(marker, "source");
	char		pg_rewind[CTL_PATH_MAX];
	char		target_opt[CTL_PATH_MAX + 32];
	char	   *source_opt;
	int			rc;

	printf("dcf_ctl: %s\n", reason ? reason : "this node's WAL diverged from the cluster");
	if (source == NULL)
	{
		ctl_error("the leader's address is unknown; give it with --source-server=CONNINFO");
		return 1;
	}
	/* pg_rewind's single-user crash recovery refuses standby mode */
	snprintf(path, sizeof(path), "%s/standby.signal", o->datadir);
	unlink(path);
	for (int i = 0; kept_files[i]; i++)
	{
		snprintf(path, sizeof(path), "%s/%s", o->datadir, kept_files[i]);
		saved[i] = slurp(path, &saved_len[i]);
	}
	checkpoint_source(source);
	bin_path(pg_rewind, sizeof(pg_rewind), "pg_rewind");
	snprintf(target_opt, sizeof(target_opt), "--target-pgdata=%s", o->datadir);
	source_opt = malloc(strlen(source) + 32);
	sprintf(source_opt, "--source-server=%s", source);
	printf("dcf_ctl: running pg_rewind from %s\n", source);
	fflush(stdout);
	{
		char	   *argv[] = {pg_rewind, target_opt, source_opt, NULL};

		rc = run(argv);
	}
	/* node-local settings back, whatever pg_rewind did */
	for (int i = 0; kept_files[i]; i++)
	{
		snprintf(path, sizeof(path), "%s/%s", o->datadir, kept_files[i]);
		if (saved[i] && !spit(path, saved[i], saved_len[i]))
			ctl_error("could not restore \"%s\": %s", path, strerror(errno));
		free(saved[i]);
	}
	free(source_opt);
	free(source);
	free(reason);
	if (rc != 0)
	{
		ctl_error("pg_rewind failed (exit status %d); the node was not started", rc);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/rewind_needed", dpath);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fenced", dpath);
	unlink(path);
	printf("dcf_ctl: rewind complete\n");
	return 0;
}

/*
 * A connection to the local server found through postmaster.pid, as
 * application_name appname; NULL when it cannot be made.
 */
static PGconn *
local_connect(const char *datadir, const char *appname)
{
	char		path[CTL_PATH_MAX];
	char		line[CTL_PATH_MAX];
	char		port[32] = "",
				host[CTL_PATH_MAX] = "";
	FILE	   *f;
	int			n = 0;
	PGconn	   *c;
	const char *keys[] = {"host", "port", "dbname", "application_name", "connect_timeout", NULL};
	const char *vals[6];

	snprintf(path, sizeof(path), "%s/postmaster.pid", datadir);
	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f))
	{
		n++;
		line[strcspn(line, "\r\n")] = '\0';
		if (n == 4)
			snprintf(port, sizeof(port), "%.20s", line);
		if (n == 5)
			snprintf(host, sizeof(host), "%s", line);
	}
	fclose(f);
	vals[0] = host[0] ? host : "localhost";
	vals[1] = port;
	vals[2] = "postgres";
	vals[3] = appname;
	vals[4] = "5";
	vals[5] = NULL;
	c = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(c) != CONNECTION_OK)
	{
		PQfinish(c);
		return NULL;
	}
	return c;
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
	char		dpath[CTL_PATH_MAX];
	char		path[CTL_PATH_MAX];
	char		pg_ctl[CTL_PATH_MAX];
	int			timeout = o->timeout_s > 0 ? o->timeout_s : 120;

	if (o->datadir == NULL)
	{
		ctl_error("no data directory given: use -D DATADIR");
		return 1;
	}
	if (server_running(o->datadir, NULL, 0))
	{
		ctl_error("a server is already running in \"%s\"", o->datadir);
		return 1;
	}
	if (!data_path_of(o->datadir, dpath, sizeof(dpath)))
	{
		ctl_error("could not read dcf.data_path of \"%s\" (is dcf configured in its postgresql.conf?)", o->datadir);
		return 1;
	}
	bin_path(pg_ctl, sizeof(pg_ctl), "pg_ctl");

	for (int attempt = 0; attempt <= CTL_REWINDS_MAX; attempt++)
	{
		char	   *marker;
		size_t		mlen;
		time_t		deadline;
		int			rc;

		snprintf(path, sizeof(path), "%s/rewind_needed", dpath);
		marker = slurp(path, &mlen);
		if (marker)
		{
			rc = rewind_node(o, dpath, marker);
			free(marker);
			if (rc != 0)
				return rc;
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
			argv[a++] = (char *) o->datadir;
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
			rc = run(argv);
			/*
			 * Right after a kill -9 the old server's children may still hold
			 * its shared memory for a moment: try again a few times.
			 */
			for (int retry = 0; rc != 0 && retry < 5 && access(path, F_OK) != 0; retry++)
			{
				sleep(1);
				rc = run(argv);
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
			if (!server_running(o->datadir, NULL, 0))
				break;
			if (node_joined(o->datadir))
			{
				/*
				 * A node that diverged is stopped by its worker as soon as its
				 * standby reaches the timeline switch: make sure it stays up.
				 */
				sleep(CTL_SETTLE_SECONDS);
				if (server_running(o->datadir, NULL, 0) && access(path, F_OK) != 0 &&
					node_joined(o->datadir))
				{
					printf("dcf_ctl: node started and joined its cluster\n");
					return 0;
				}
				continue;
			}
			usleep(200000);
		}
		if (access(path, F_OK) == 0)
		{
			/* wait for the stop to finish, then rewind */
			for (int i = 0; i < 100 && server_running(o->datadir, NULL, 0); i++)
				usleep(100000);
			continue;
		}
		if (!server_running(o->datadir, NULL, 0))
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
	bin_path(pg_ctl, sizeof(pg_ctl), "pg_ctl");
	{
		char	   *argv[] = {pg_ctl, "stop", "-w", "-D", (char *) o->datadir, "-m", (char *) mode, NULL};

		if (run(argv) != 0)
		{
			ctl_error("pg_ctl stop failed");
			return 1;
		}
	}
	printf("dcf_ctl: node stopped (-m %s)\n", mode);
	return 0;
}
