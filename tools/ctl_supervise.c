/*
 * ctl_supervise.c — `dcf_ctl supervise`: keep a dcf node running, so that
 * a node that lost its server rejoins its cluster with no operator.
 *
 * supervise -D DATADIR [-l LOGFILE] [-o OPTIONS] [-t SECONDS] [--source-server=CONNINFO]
 *
 *   Runs in the foreground (made for systemd or any init; it logs to
 *   stderr).  It starts the node through dcf_ctl start (ctl_startstop.c),
 *   then watches its postmaster.  Whenever the server stops without
 *   `dcf_ctl stop` — the worker fenced it, it needs a rewind, it crashed or
 *   was killed — it starts it again through the same dcf_ctl start, which
 *   brings it back as a standby and runs pg_rewind first when the node's
 *   WAL diverged.  A server that is already running is adopted.
 *
 *   Failed starts are retried with a doubling back-off (1 s up to
 *   SUP_BACKOFF_MAX_S); after SUP_FAILED_STARTS_MAX (--max-failed-starts)
 *   failed starts in a row it gives up with a message saying what to look
 *   at and exits with status 3 (the systemd unit does not restart it
 *   then).  A node that needs a rebuild (<dcf.data_path>/rebuild_needed:
 *   no rewind can bring it back) makes it give up at the first failed
 *   start, saying so.
 *
 * Ending it: `dcf_ctl stop -D DATADIR` (or SIGTERM/SIGINT, as systemd
 * does).  dcf_ctl stop finds the supervisor through
 * <dcf.data_path>/supervise.pid, leaves the stop mode in
 * <dcf.data_path>/supervise.stop and sends it SIGTERM; the supervisor stops
 * the node with dcf_ctl stop's rules (a leader -m immediate) and exits 0.
 * Both files live in dcf.data_path because it is node-local: pg_rewind and
 * pg_basebackup copy the data directory between nodes.
 *
 * Invariants:
 *   - at most one supervisor per node (supervise.pid, checked at start);
 *   - the supervisor never stops a running server except on a stop request;
 *   - a start in progress (pg_rewind may be running) is never killed: on a
 *     stop request the supervisor stops the server as soon as it is up and
 *     waits for the start to end.
 */
#include "ctl_supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl_rewind.h"
#include "ctl_util.h"

#define SUP_POLL_MS 200				/* how often the server is checked */
#define SUP_BACKOFF_MAX_S 60		/* longest wait between two failed starts */
#define SUP_FAILED_STARTS_MAX 8		/* failed starts in a row before giving up */
#define SUP_STABLE_S 60				/* up this long: the failure count resets */
#define SUP_STOP_WAIT_S 120			/* dcf_ctl stop waits this long for the supervisor */
#define SUP_EXIT_GAVE_UP 3

static volatile sig_atomic_t stop_signalled = 0;

static void
sup_log(const char *fmt,...)
	__attribute__((format(printf, 1, 2)));

static void
sup_log(const char *fmt,...)
{
	va_list		ap;
	char		ts[64];
	time_t		now = time(NULL);
	struct tm	tm;

	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S %Z", localtime_r(&now, &tm));
	fflush(stdout);
	fprintf(stderr, "%s dcf_ctl supervise[%d]: ", ts, (int) getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static void
on_stop_signal(int sig)
{
	stop_signalled = 1;
}

/* Is pid a `dcf_ctl supervise` (not a process that reused its pid)? */
static bool
is_supervisor(pid_t pid)
{
	char		path[64];
	char		cmd[4096];
	size_t		n;
	FILE	   *f;

	if (!ctl_pid_alive(pid))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
	f = fopen(path, "r");
	if (f == NULL)
		return true;			/* cannot tell: assume it is */
	n = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	cmd[n] = '\0';
	return strstr(cmd, "supervise") != NULL;
}

/* The pid in the first line of path, or 0. */
static long
read_pid(const char *path)
{
	FILE	   *f = fopen(path, "r");
	long		pid = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

/* The running postmaster's pid, or 0. */
static pid_t
server_pid(const char *datadir)
{
	return ctl_server_pid(datadir, NULL, 0);
}

/* First "reason=" line of a marker file written after since, or NULL. */
static bool
marker_reason(const char *path, time_t since, char *out, size_t cap)
{
	struct stat sb;
	FILE	   *f;
	char		line[1024];

	if (stat(path, &sb) != 0 || sb.st_mtime < since)
		return false;
	snprintf(out, cap, "(no reason recorded)");
	f = fopen(path, "r");
	if (f == NULL)
		return true;
	while (fgets(line, sizeof(line), f))
	{
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "reason=", 7) == 0)
		{
			snprintf(out, cap, "%s", line + 7);
			break;
		}
	}
	fclose(f);
	return true;
}

/* Sleep up to ms, waking early on a stop signal. */
static void
sup_sleep_ms(int ms)
{
	while (ms > 0 && !stop_signalled)
	{
		struct timespec ts = {0, 100 * 1000 * 1000};

		nanosleep(&ts, NULL);
		ms -= 100;
	}
}

/* The mode a `dcf_ctl stop` left for us, or NULL (default: by role). */
static const char *
requested_mode(const char *stopfile, char *buf, size_t cap)
{
	FILE	   *f = fopen(stopfile, "r");
	const char *mode = NULL;

	if (f == NULL)
		return NULL;
	if (fgets(buf, (int) cap, f) && strncmp(buf, "mode=", 5) == 0)
	{
		buf[strcspn(buf, "\n")] = '\0';
		if (buf[5] != '\0')
			mode = buf + 5;
	}
	fclose(f);
	return mode;
}

/*
 * Start the node through dcf_ctl start in a child process (its own process
 * group, so a terminal's Ctrl-C cannot interrupt a pg_rewind).  Returns its
 * exit status.  On a stop request meanwhile, stops the server whenever it
 * is up and waits for the child to end.
 */
static int
start_node(const CtlStartOptions *o, const char *stopfile)
{
	pid_t		child;
	int			st;
	char		modebuf[64];

	fflush(stdout);
	fflush(stderr);
	child = fork();
	if (child < 0)
	{
		sup_log("could not fork: %s", strerror(errno));
		return 1;
	}
	if (child == 0)
	{
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		setpgid(0, 0);
		_exit(dcf_ctl_start(o));
	}
	for (;;)
	{
		pid_t		r = waitpid(child, &st, WNOHANG);

		if (r == child)
			break;
		if (r < 0 && errno != EINTR)
			return 1;
		if (stop_signalled && server_pid(o->datadir) != 0)
		{
			CtlStartOptions so = *o;

			so.mode = requested_mode(stopfile, modebuf, sizeof(modebuf));
			sup_log("stop requested: stopping the node (a start is in progress)");
			if (dcf_ctl_stop(&so) != 0)
				sup_log("stopping the node failed");
		}
		{
			struct timespec ts = {0, SUP_POLL_MS * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* Claim <data_path>/supervise.pid, refusing when another supervisor runs. */
static bool
claim_pidfile(const char *pidfile)
{
	FILE	   *f;
	long		other = read_pid(pidfile);
	char		tmp[CTL_PATH_MAX + 8];

	if (other > 0 && other != getpid() && is_supervisor((pid_t) other))
	{
		sup_log("another supervisor (pid %ld) already runs for this node (see \"%s\")", other, pidfile);
		return false;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", pidfile);
	f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%d\n", (int) getpid()) < 0 || fclose(f) != 0 ||
		rename(tmp, pidfile) != 0)
	{
		sup_log("could not write \"%s\": %s", pidfile, strerror(errno));
		return false;
	}
	return true;
}

int
dcf_ctl_supervise(const CtlStartOptions *o)
{
	char		dpath[CTL_PATH_MAX];
	char		pidfile[CTL_PATH_MAX + 32];
	char		stopfile[CTL_PATH_MAX + 32];
	char		fencefile[CTL_PATH_MAX + 32];
	char		rewindfile[CTL_PATH_MAX + 32];
	char		rebuildfile[CTL_PATH_MAX + 32];
	char		modebuf[64];
	char		why[1024];
	struct sigaction sa;
	int			failed = 0;
	int			failed_max = o->max_failed_starts > 0 ? o->max_failed_starts : SUP_FAILED_STARTS_MAX;
	int			backoff_s = 0;
	time_t		started_at = 0;
	bool		first = true;

	if (o->datadir == NULL)
	{
		fprintf(stderr, "dcf_ctl: no data directory given: use -D DATADIR\n");
		return 1;
	}
	if (!ctl_data_path(o->datadir, dpath, sizeof(dpath)))
	{
		fprintf(stderr, "dcf_ctl: could not read dcf.data_path of \"%s\" (is dcf configured in its postgresql.conf?)\n",
				o->datadir);
		return 1;
	}
	if (mkdir(dpath, 0700) != 0 && errno != EEXIST)
	{
		fprintf(stderr, "dcf_ctl: could not create \"%s\": %s\n", dpath, strerror(errno));
		return 1;
	}
	snprintf(pidfile, sizeof(pidfile), "%s/supervise.pid", dpath);
	snprintf(stopfile, sizeof(stopfile), "%s/supervise.stop", dpath);
	snprintf(fencefile, sizeof(fencefile), "%s/fenced", dpath);
	snprintf(rewindfile, sizeof(rewindfile), "%s/rewind_needed", dpath);
	snprintf(rebuildfile, sizeof(rebuildfile), "%s/" CTL_REBUILD_MARKER, dpath);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (!claim_pidfile(pidfile))
		return 1;
	unlink(stopfile);
	sup_log("supervising the node in \"%s\"", o->datadir);

	while (!stop_signalled)
	{
		pid_t		pm = server_pid(o->datadir);

		if (pm != 0)
		{
			if (first)
				sup_log("the server is already running (pid %d): watching it", (int) pm);
			first = false;
			if (started_at == 0)
				started_at = time(NULL);
			/* watch it */
			while (!stop_signalled && server_pid(o->datadir) == pm)
			{
				sup_sleep_ms(SUP_POLL_MS);
				if (failed > 0 && time(NULL) - started_at >= SUP_STABLE_S)
				{
					failed = 0;
					backoff_s = 0;
				}
			}
			if (stop_signalled)
				break;
			/* the server stopped (or a new postmaster replaced it) */
			if (server_pid(o->datadir) != 0)
				continue;
			if (marker_reason(fencefile, started_at, why, sizeof(why)))
				sup_log("the server stopped: the node was fenced (%s); starting it again as a standby", why);
			else if (marker_reason(rewindfile, started_at, why, sizeof(why)))
				sup_log("the server stopped: its WAL diverged from the cluster's (%s); rewinding and starting it again", why);
			else
				sup_log("the server stopped without dcf_ctl stop (crashed or killed); starting it again as a standby");
		}
		else if (first)
			sup_log("starting the node");
		first = false;

		if (failed >= failed_max)
		{
			sup_log("giving up: %d starts in a row failed; the node does not rejoin by itself. "
					"See the messages above and the server log%s%s. "
					"If pg_rewind failed (for example \"could not find previous WAL record\"), "
					"or the server log says WAL is no longer available, the node needs a rebuild "
					"from the leader: dcf_ctl build -D DATADIR (it keeps the node's own configuration). "
					"Then start the supervisor again.",
					failed, o->logfile ? " " : "", o->logfile ? o->logfile : "");
			unlink(pidfile);
			return SUP_EXIT_GAVE_UP;
		}
		if (backoff_s > 0)
		{
			sup_log("waiting %d s before the next start", backoff_s);
			sup_sleep_ms(backoff_s * 1000);
			if (stop_signalled)
				break;
		}
		started_at = time(NULL);
		if (start_node(o, stopfile) == 0)
		{
			sup_log("the node is up and joined its cluster");
			failed = 0;
			backoff_s = 0;
			continue;
		}
		if (stop_signalled)
			break;
		if (server_pid(o->datadir) != 0)
		{
			/* up but not joined (yet): watch it like any running server */
			sup_log("the server runs but has not joined its cluster yet; watching it");
			continue;
		}
		if (marker_reason(rebuildfile, 0, why, sizeof(why)))
		{
			sup_log("giving up: the node needs a rebuild (%s); no rewind can bring it back, "
					"so it does not rejoin by itself. Rebuild it from the cluster with dcf_ctl build, "
					"then start the supervisor again.", why);
			unlink(pidfile);
			return SUP_EXIT_GAVE_UP;
		}
		failed++;
		backoff_s = backoff_s == 0 ? 1 : backoff_s * 2;
		if (backoff_s > SUP_BACKOFF_MAX_S)
			backoff_s = SUP_BACKOFF_MAX_S;
		sup_log("start %d of %d failed", failed, failed_max);
	}

	/* stop requested: by dcf_ctl stop (mode in stopfile) or a signal */
	if (server_pid(o->datadir) != 0)
	{
		CtlStartOptions so = *o;

		so.mode = requested_mode(stopfile, modebuf, sizeof(modebuf));
		sup_log("stop requested: stopping the node");
		if (dcf_ctl_stop(&so) != 0)
			sup_log("stopping the node failed");
	}
	else
		sup_log("stop requested; the server is not running");
	unlink(stopfile);
	unlink(pidfile);
	sup_log("supervisor ended");
	return 0;
}

int
dcf_ctl_stop_supervised(const CtlStartOptions *o, bool *handled)
{
	char		dpath[CTL_PATH_MAX];
	char		pidfile[CTL_PATH_MAX + 32];
	char		stopfile[CTL_PATH_MAX + 32];
	FILE	   *f;
	long		pid = 0;
	time_t		deadline;
	int			wait_s = o->timeout_s > 0 ? o->timeout_s : SUP_STOP_WAIT_S;

	*handled = false;
	if (o->datadir == NULL || !ctl_data_path(o->datadir, dpath, sizeof(dpath)))
		return 0;
	snprintf(pidfile, sizeof(pidfile), "%s/supervise.pid", dpath);
	snprintf(stopfile, sizeof(stopfile), "%s/supervise.stop", dpath);
	pid = read_pid(pidfile);
	if (pid <= 0 || !is_supervisor((pid_t) pid))
		return 0;

	*handled = true;
	f = fopen(stopfile, "w");
	if (f == NULL || fprintf(f, "mode=%s\n", o->mode ? o->mode : "") < 0 || fclose(f) != 0)
	{
		fprintf(stderr, "dcf_ctl: could not write \"%s\": %s\n", stopfile, strerror(errno));
		return 1;
	}
	if (kill((pid_t) pid, SIGTERM) != 0)
	{
		fprintf(stderr, "dcf_ctl: could not signal the supervisor (pid %ld): %s\n", pid, strerror(errno));
		return 1;
	}
	printf("dcf_ctl: asked the supervisor (pid %ld) to stop the node\n", pid);
	fflush(stdout);
	deadline = time(NULL) + wait_s;
	while (ctl_pid_alive((pid_t) pid) && time(NULL) < deadline)
		usleep(100000);
	if (ctl_pid_alive((pid_t) pid))
	{
		fprintf(stderr, "dcf_ctl: the supervisor (pid %ld) did not end within %d s (a start or pg_rewind may still be running)\n",
				pid, wait_s);
		return 1;
	}
	if (server_pid(o->datadir) != 0)
	{
		fprintf(stderr, "dcf_ctl: the supervisor ended but the server still runs\n");
		return 1;
	}
	printf("dcf_ctl: node stopped and supervisor ended\n");
	return 0;
}
