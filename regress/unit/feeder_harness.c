/*
 * feeder_harness.c — a standalone host for the WAL feeder (extension/pg/
 * feeder*.c), for tests.  Not a unit test (its name does not start with
 * test_): it runs in two modes.
 *
 * Serve mode: the feeder's source is a directory of WAL segment files and
 * timeline history files (a real server's pg_wal), read with walfile.c, and
 * a control file the harness re-reads every DCF_HARNESS_POLL_MS:
 *
 *     limit X/X      serve nothing at or past this LSN, on any timeline
 *     floor X/X      the source "no longer has" WAL below this LSN ...
 *     local DIR      ... except from DIR, the standby's own pg_wal
 *
 * so a TAP test can prove that WAL beyond the limit is not delivered, that
 * bytes below the source's coverage come from the standby's own pg_wal, and
 * that a request below it without a local copy is refused.  The latest
 * timeline is the highest one with a history file in the WAL directory.
 * Feeder log lines go to stderr; callbacks print "EVENT ..." lines there.
 *
 *   dcf_feeder_harness --wal-dir DIR --socket-dir DIR --port N --sysid ID
 *                      --control FILE [--seg-bytes N]
 *
 * Self-test mode (--self-test [DIR]): drives the feeder with an in-memory
 * source and a scripted client over its real Unix socket, byte by byte
 * through every protocol path (startup, commands, streaming, the end of a
 * timeline, divergence, missing WAL, malformed and slow clients, timeouts),
 * and prints TAP.  `make feeder-check` runs it.
 */
#define _GNU_SOURCE

#include "pg/feeder.h"
#include "pg/walfile.h"

#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DCF_HARNESS_POLL_MS 50
/* Seeded garbage connections in the self-test. */
#define FEEDER_FUZZ_ITERATIONS 2000

static volatile sig_atomic_t stop_requested;

static void
on_signal(int signo)
{
	(void) signo;
	stop_requested = 1;
}

static int64_t
wall_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
log_line(const char *fmt,...) __attribute__((format(printf, 1, 2)));

static void
log_line(const char *fmt,...)
{
	char		buf[2048];
	struct timespec ts;
	struct tm	tm;
	va_list		ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
			ts.tv_nsec / 1000000, buf);
	fflush(stderr);
}

/* ======================================================================
 * Serve mode: a source over WAL directories
 * ====================================================================== */

typedef struct dir_source
{
	char		wal_dir[PATH_MAX];
	char		control[PATH_MAX];
	char		local_dir[PATH_MAX];
	uint32_t	seg_bytes;
	dcf_lsn		limit;
	dcf_lsn		floor;
	uint32_t	latest;
	dcf_walfile_history hist;	/* history of latest */
	dcf_lsn		local_next;		/* where the last run of local reads ended */
} dir_source;

static dcf_rc
read_small_file(const char *path, char *buf, size_t cap, size_t *len, char *errmsg)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t		total = 0;

	if (fd < 0)
		return dcf_errf(errmsg, errno == ENOENT ? DCF_ERR_NOTFOUND : DCF_ERR_IO,
						"could not open \"%s\": %s", path, strerror(errno));
	for (;;)
	{
		ssize_t		r = read(fd, buf + total, cap - total);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
		{
			int			e = errno;

			close(fd);
			return dcf_errf(errmsg, DCF_ERR_IO, "could not read \"%s\": %s", path, strerror(e));
		}
		if (r == 0)
			break;
		total += (size_t) r;
		if (total == cap)
		{
			close(fd);
			return dcf_errf(errmsg, DCF_ERR_FULL, "\"%s\" is larger than %zu bytes", path, cap);
		}
	}
	close(fd);
	*len = total;
	return DCF_OK;
}

static void
dir_refresh(dir_source *s, bool *changed)
{
	char		buf[4096];
	char		errmsg[DCF_ERRMSG_MAX];
	size_t		len = 0;
	dcf_lsn		limit = 0;
	dcf_lsn		floor = 0;
	char		local[PATH_MAX] = "";
	uint32_t	latest = 1;
	DIR		   *d;
	struct dirent *de;

	*changed = false;
	if (read_small_file(s->control, buf, sizeof(buf) - 1, &len, errmsg) == DCF_OK)
	{
		char	   *save = NULL;
		char	   *line;

		buf[len] = '\0';
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		{
			char		word[16];
			char		value[PATH_MAX];

			if (sscanf(line, "%15s %4095s", word, value) != 2)
				continue;
			if (strcmp(word, "limit") == 0)
				dcf_walfile_lsn_parse(value, &limit);
			else if (strcmp(word, "floor") == 0)
				dcf_walfile_lsn_parse(value, &floor);
			else if (strcmp(word, "local") == 0)
				snprintf(local, sizeof(local), "%s", value);
		}
	}
	if (limit != s->limit || floor != s->floor || strcmp(local, s->local_dir) != 0)
	{
		char		a[DCF_WALFILE_LSN_TEXT_BYTES];
		char		b[DCF_WALFILE_LSN_TEXT_BYTES];

		log_line("HARNESS control: limit %s floor %s local \"%s\"",
				 dcf_walfile_lsn_format(a, limit), dcf_walfile_lsn_format(b, floor), local);
		s->limit = limit;
		s->floor = floor;
		snprintf(s->local_dir, sizeof(s->local_dir), "%s", local);
		*changed = true;
	}

	d = opendir(s->wal_dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		unsigned	tli;
		char		tail[16];

		if (strlen(de->d_name) == 16 &&
			sscanf(de->d_name, "%8X%15s", &tli, tail) == 2 && strcmp(tail, ".history") == 0 &&
			tli > latest)
			latest = tli;
	}
	closedir(d);
	if (latest != s->latest)
	{
		char		path[PATH_MAX + 32];
		static char content[DCF_WALFILE_HISTORY_MAX_BYTES];
		dcf_walfile_history *h = malloc(sizeof(*h));

		len = 0;
		snprintf(path, sizeof(path), "%s/%08X.history", s->wal_dir, latest);
		if (h == NULL ||
			(latest > 1 && read_small_file(path, content, sizeof(content), &len, errmsg) != DCF_OK) ||
			dcf_walfile_history_parse(latest, content, len, h, errmsg) != DCF_OK)
		{
			log_line("HARNESS cannot use timeline %u yet: %s", latest, h ? errmsg : "out of memory");
			free(h);
			return;
		}
		memcpy(&s->hist, h, sizeof(*h));
		free(h);
		log_line("HARNESS latest timeline %u", latest);
		s->latest = latest;
		*changed = true;
	}
}

static dcf_rc
dir_position(void *ctx, uint32_t *tli, uint64_t *xlogpos, char *errmsg)
{
	dir_source *s = ctx;

	*tli = s->latest;
	*xlogpos = s->limit;
	return DCF_OK;
}

static dcf_rc
dir_history(void *ctx, uint32_t tli, char *buf, size_t cap, size_t *len, char *errmsg)
{
	dir_source *s = ctx;
	char		path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%08X.history", s->wal_dir, tli);
	return read_small_file(path, buf, cap, len, errmsg);
}

static dcf_rc
dir_read(void *ctx, uint32_t tli, uint64_t lsn, char *buf, size_t n, size_t *got, char *errmsg)
{
	dir_source *s = ctx;
	const dcf_walfile_span *span = dcf_walfile_history_find(&s->hist, tli);
	char		a[DCF_WALFILE_LSN_TEXT_BYTES];
	char		b[DCF_WALFILE_LSN_TEXT_BYTES];

	*got = 0;
	if (span == NULL || lsn < span->begin || (span->end != DCF_WALFILE_LSN_END && lsn + n > span->end))
		return dcf_errf(errmsg, DCF_ERR_INVALID, "read of %s+%zu outside timeline %u",
						dcf_walfile_lsn_format(a, lsn), n, tli);
	if (lsn >= s->limit)
		return DCF_OK;
	if (n > s->limit - lsn)
		n = (size_t) (s->limit - lsn);
	if (lsn < s->floor)
	{
		if (s->local_dir[0] == '\0')
			return dcf_errf(errmsg, DCF_ERR_NOTFOUND,
							"WAL at %s is below this source's oldest WAL %s and the standby has no copy",
							dcf_walfile_lsn_format(a, lsn), dcf_walfile_lsn_format(b, s->floor));
		if (n > s->floor - lsn)
			n = (size_t) (s->floor - lsn);
		if (lsn != s->local_next)
			log_line("HARNESS reading %s on timeline %u from the standby's own WAL in \"%s\"",
					 dcf_walfile_lsn_format(a, lsn), tli, s->local_dir);
		if (dcf_walfile_read(s->local_dir, s->seg_bytes, &s->hist, lsn, buf, n, got, errmsg) != DCF_OK)
			return DCF_ERR_IO;	/* a local copy that fails is not "gone": no rebuild */
		s->local_next = lsn + *got;
		return DCF_OK;
	}
	return dcf_walfile_read(s->wal_dir, s->seg_bytes, &s->hist, lsn, buf, n, got, errmsg);
}

static void
print_reply(void *ctx, uint64_t w, uint64_t fl, uint64_t ap, int64_t t)
{
	char		a[DCF_WALFILE_LSN_TEXT_BYTES];
	char		b[DCF_WALFILE_LSN_TEXT_BYTES];
	char		c[DCF_WALFILE_LSN_TEXT_BYTES];

	(void) ctx;
	(void) t;
	log_line("EVENT reply write %s flush %s apply %s", dcf_walfile_lsn_format(a, w),
			 dcf_walfile_lsn_format(b, fl), dcf_walfile_lsn_format(c, ap));
}

static void
print_feedback(void *ctx, uint32_t xmin, uint32_t xe, uint32_t cxmin, uint32_t ce)
{
	(void) ctx;
	log_line("EVENT feedback xmin %u epoch %u catalog_xmin %u epoch %u", xmin, xe, cxmin, ce);
}

static void
print_diverged(void *ctx, uint32_t tli, uint64_t req, uint64_t sw, uint32_t next)
{
	char		a[DCF_WALFILE_LSN_TEXT_BYTES];
	char		b[DCF_WALFILE_LSN_TEXT_BYTES];

	(void) ctx;
	log_line("EVENT diverged timeline %u requested %s switch %s next %u", tli,
			 dcf_walfile_lsn_format(a, req), dcf_walfile_lsn_format(b, sw), next);
}

static void
print_missing(void *ctx, uint32_t tli, uint64_t lsn, const char *reason)
{
	char		a[DCF_WALFILE_LSN_TEXT_BYTES];

	(void) ctx;
	log_line("EVENT wal_missing timeline %u at %s: %s", tli, dcf_walfile_lsn_format(a, lsn), reason);
}

static void
print_log(void *ctx, dcf_feeder_log_level level, const char *msg)
{
	static const char *const names[] = {"DEBUG", "LOG", "WARNING"};

	(void) ctx;
	log_line("%s: %s", names[level], msg);
}

static int
serve(int argc, char **argv)
{
	static dir_source src;
	dcf_feeder_source fs;
	dcf_feeder *f;
	char		errmsg[DCF_ERRMSG_MAX];
	const char *socket_dir = NULL;
	int			port = 0;
	uint64_t	sysid = 0;
	int64_t		last_refresh = 0;
	struct sigaction sa;
	bool		changed;
	int			i;

	src.seg_bytes = DCF_WALFILE_SEG_BYTES_DEFAULT;
	for (i = 1; i + 1 < argc; i += 2)
	{
		if (strcmp(argv[i], "--wal-dir") == 0)
			snprintf(src.wal_dir, sizeof(src.wal_dir), "%s", argv[i + 1]);
		else if (strcmp(argv[i], "--control") == 0)
			snprintf(src.control, sizeof(src.control), "%s", argv[i + 1]);
		else if (strcmp(argv[i], "--socket-dir") == 0)
			socket_dir = argv[i + 1];
		else if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--sysid") == 0)
			sysid = strtoull(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--seg-bytes") == 0)
			src.seg_bytes = (uint32_t) strtoul(argv[i + 1], NULL, 10);
		else
			break;
	}
	if (i != argc || src.wal_dir[0] == '\0' || src.control[0] == '\0' || socket_dir == NULL ||
		port == 0 || sysid == 0 || !dcf_walfile_seg_bytes_valid(src.seg_bytes))
	{
		fprintf(stderr, "usage: %s --wal-dir DIR --socket-dir DIR --port N --sysid ID --control FILE [--seg-bytes N]\n"
				"       %s --self-test [DIR]\n", argv[0], argv[0]);
		return 2;
	}

	memset(&fs, 0, sizeof(fs));
	fs.ctx = &src;
	fs.system_id = sysid;
	fs.position = dir_position;
	fs.history = dir_history;
	fs.read = dir_read;
	fs.on_reply = print_reply;
	fs.on_feedback = print_feedback;
	fs.on_diverged = print_diverged;
	fs.on_wal_missing = print_missing;
	fs.log = print_log;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	dir_refresh(&src, &changed);
	f = dcf_feeder_create(socket_dir, port, &fs, errmsg);
	if (f == NULL)
	{
		log_line("HARNESS could not start: %s", errmsg);
		return 1;
	}
	log_line("HARNESS listening on %s", dcf_feeder_socket_path(f));

	while (!stop_requested)
	{
		dcf_feeder_fd fds[DCF_FEEDER_MAX_FDS];
		struct pollfd pfd[DCF_FEEDER_MAX_FDS];
		int64_t		now = wall_now_us();
		int64_t		wake = dcf_feeder_next_wakeup_us(f);
		int			timeout_ms = DCF_HARNESS_POLL_MS;
		int			n;
		int			r;

		if (now - last_refresh >= DCF_HARNESS_POLL_MS * 1000)
		{
			dir_refresh(&src, &changed);
			last_refresh = now;
			if (changed)
				dcf_feeder_wal_available(f);
		}
		if (wake != INT64_MAX && (wake - now) / 1000 < timeout_ms)
			timeout_ms = wake <= now ? 0 : (int) ((wake - now) / 1000);
		n = dcf_feeder_fds(f, fds, DCF_FEEDER_MAX_FDS);
		for (i = 0; i < n; i++)
		{
			pfd[i].fd = fds[i].fd;
			pfd[i].events = (short) ((fds[i].want_read ? POLLIN : 0) | (fds[i].want_write ? POLLOUT : 0));
			pfd[i].revents = 0;
		}
		r = poll(pfd, (nfds_t) n, timeout_ms);
		if (r < 0 && errno != EINTR)
		{
			log_line("HARNESS poll failed: %s", strerror(errno));
			break;
		}
		now = wall_now_us();
		for (i = 0; r > 0 && i < n; i++)
			if (pfd[i].revents)
				dcf_feeder_on_ready(f, pfd[i].fd,
									(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0,
									(pfd[i].revents & POLLOUT) != 0, now);
		if (dcf_feeder_next_wakeup_us(f) <= now)
			dcf_feeder_tick(f, now);
	}
	log_line("HARNESS stopping");
	dcf_feeder_destroy(f);
	return 0;
}

/* ======================================================================
 * Self-test mode: an in-memory source and a scripted client
 * ====================================================================== */

typedef struct mem_source
{
	uint32_t	latest;			/* 1, or 2 after the switch */
	dcf_lsn		s1;				/* where timeline 1 ends once latest is 2 */
	dcf_lsn		limit;			/* serve nothing at or past this */
	dcf_lsn		floor;			/* below this: DCF_ERR_NOTFOUND */
	int			bad_reads;		/* reads breaking the feeder's promises */
	int			reads;
	uint64_t	r_write, r_flush, r_apply;
	int			nreplies;
	uint32_t	fb[4];
	int			nfeedback;
	int			ndiverged;
	uint32_t	d_tli, d_next;
	dcf_lsn		d_req, d_switch;
	int			nmissing;
	dcf_lsn		m_lsn;
	int			nwarnings;
	bool		verbose;
} mem_source;

/* The byte at lsn written on timeline tli. */
static uint8_t
wal_byte(uint32_t tli, dcf_lsn lsn)
{
	return (uint8_t) (((lsn * UINT64_C(2654435761)) >> 13) ^ (tli * 0x5bu) ^ (lsn >> 20));
}

/* The byte at lsn in the history of timeline 2 (timeline 1 below s1). */
static uint8_t
history_byte(const mem_source *s, uint32_t tli, dcf_lsn lsn)
{
	if (tli == 2 && lsn >= s->s1)
		return wal_byte(2, lsn);
	return wal_byte(1, lsn);
}

static dcf_rc
mem_position(void *ctx, uint32_t *tli, uint64_t *xlogpos, char *errmsg)
{
	mem_source *s = ctx;

	*tli = s->latest;
	*xlogpos = s->limit;
	return DCF_OK;
}

static dcf_rc
mem_history(void *ctx, uint32_t tli, char *buf, size_t cap, size_t *len, char *errmsg)
{
	mem_source *s = ctx;
	char		a[DCF_WALFILE_LSN_TEXT_BYTES];
	int			n;

	if (tli != 2 || s->latest < 2)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "no history for timeline %u", tli);
	n = snprintf(buf, cap, "1\t%s\tno recovery target specified\n", dcf_walfile_lsn_format(a, s->s1));
	*len = (size_t) n;
	return DCF_OK;
}

static dcf_rc
mem_read(void *ctx, uint32_t tli, uint64_t lsn, char *buf, size_t n, size_t *got, char *errmsg)
{
	mem_source *s = ctx;
	size_t		i;

	*got = 0;
	s->reads++;
	/* invariants 2 and 3 of feeder.h, seen from the source */
	if (tli == 2 && lsn < s->s1)
		s->bad_reads++;
	if (tli == 1 && s->latest == 2 && lsn + n > s->s1)
		s->bad_reads++;
	if (lsn < s->floor)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "recycled below %" PRIu64, s->floor);
	if (lsn >= s->limit)
		return DCF_OK;
	if (n > s->limit - lsn)
		n = (size_t) (s->limit - lsn);
	/* hand out at most 40000 bytes per call, as a chunked log would */
	if (n > 40000)
		n = 40000;
	for (i = 0; i < n; i++)
		buf[i] = (char) wal_byte(tli, lsn + i);
	*got = n;
	return DCF_OK;
}

static void
mem_reply(void *ctx, uint64_t w, uint64_t fl, uint64_t ap, int64_t t)
{
	mem_source *s = ctx;

	s->r_write = w;
	s->r_flush = fl;
	s->r_apply = ap;
	s->nreplies++;
}

static void
mem_feedback(void *ctx, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	mem_source *s = ctx;

	s->fb[0] = a;
	s->fb[1] = b;
	s->fb[2] = c;
	s->fb[3] = d;
	s->nfeedback++;
}

static void
mem_diverged(void *ctx, uint32_t tli, uint64_t req, uint64_t sw, uint32_t next)
{
	mem_source *s = ctx;

	s->ndiverged++;
	s->d_tli = tli;
	s->d_req = req;
	s->d_switch = sw;
	s->d_next = next;
}

static void
mem_missing(void *ctx, uint32_t tli, uint64_t lsn, const char *reason)
{
	mem_source *s = ctx;

	s->nmissing++;
	s->m_lsn = lsn;
}

static void
mem_log(void *ctx, dcf_feeder_log_level level, const char *msg)
{
	mem_source *s = ctx;

	if (level == DCF_FEEDER_WARNING)
		s->nwarnings++;
	if (s->verbose)
		printf("# [feeder] %s\n", msg);
}

/* ---- the scripted client ---- */

static int64_t fake_now = INT64_C(1700000000000000);

/* Run the feeder until it has nothing more to do right now. */
static void
pump(dcf_feeder *f)
{
	int			round;

	for (round = 0; round < 200; round++)
	{
		dcf_feeder_fd fds[DCF_FEEDER_MAX_FDS];
		struct pollfd pfd[DCF_FEEDER_MAX_FDS];
		int			n = dcf_feeder_fds(f, fds, DCF_FEEDER_MAX_FDS);
		int			i;
		int			r;

		for (i = 0; i < n; i++)
		{
			pfd[i].fd = fds[i].fd;
			pfd[i].events = (short) ((fds[i].want_read ? POLLIN : 0) | (fds[i].want_write ? POLLOUT : 0));
			pfd[i].revents = 0;
		}
		r = poll(pfd, (nfds_t) n, 0);
		if (r <= 0)
			return;
		for (i = 0; i < n; i++)
			if (pfd[i].revents)
				dcf_feeder_on_ready(f, pfd[i].fd, (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0,
									(pfd[i].revents & POLLOUT) != 0, fake_now);
	}
}

#define CLIENT_BUF_BYTES (4 * 1024 * 1024)

typedef struct client
{
	int			fd;
	char	   *buf;
	size_t		len;
	bool		eof;
} client;

typedef struct message
{
	char		type;
	uint32_t	len;			/* body length */
	char	   *body;			/* points into a static copy */
} message;

static const char *sock_dir;

static bool
client_connect(client *c)
{
	struct sockaddr_un addr;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/.s.PGSQL.5999", sock_dir);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	c->len = 0;
	c->eof = false;
	if (c->buf == NULL)
		c->buf = malloc(CLIENT_BUF_BYTES);
	return c->fd >= 0 && connect(c->fd, (struct sockaddr *) &addr, sizeof(addr)) == 0;
}

static void
client_close(client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void
client_send(dcf_feeder *f, client *c, const void *p, size_t n)
{
	size_t		done = 0;

	while (done < n)
	{
		ssize_t		r = send(c->fd, (const char *) p + done, n - done, MSG_NOSIGNAL);

		if (r > 0)
			done += (size_t) r;
		else if (r < 0 && (errno == EAGAIN || errno == EINTR))
			pump(f);
		else
			return;				/* peer gone; the test checks for that */
	}
	pump(f);
}

/* Read what is there (after letting the feeder run). */
static void
client_fill(dcf_feeder *f, client *c)
{
	pump(f);
	while (c->len < CLIENT_BUF_BYTES)
	{
		ssize_t		r = recv(c->fd, c->buf + c->len, CLIENT_BUF_BYTES - c->len, 0);

		if (r > 0)
		{
			c->len += (size_t) r;
			pump(f);
			continue;
		}
		if (r == 0)
			c->eof = true;
		break;
	}
}

/* Take one message off the client's buffer; false if none is complete. */
static bool
client_take(dcf_feeder *f, client *c, message *m)
{
	static char *body;
	uint32_t	len;
	int			tries;

	if (body == NULL)
		body = malloc(CLIENT_BUF_BYTES);
	for (tries = 0; tries < 50; tries++)
	{
		size_t		before = c->len;

		if (c->len >= 5)
		{
			len = ((uint32_t) (unsigned char) c->buf[1] << 24) | ((uint32_t) (unsigned char) c->buf[2] << 16) |
				((uint32_t) (unsigned char) c->buf[3] << 8) | (uint32_t) (unsigned char) c->buf[4];
			if (len >= 4 && c->len >= (size_t) len + 1)
			{
				m->type = c->buf[0];
				m->len = len - 4;
				memcpy(body, c->buf + 5, m->len);
				m->body = body;
				memmove(c->buf, c->buf + len + 1, c->len - len - 1);
				c->len -= len + 1;
				return true;
			}
		}
		client_fill(f, c);
		if (c->eof && c->len == before)
			break;
	}
	return false;
}

static uint64_t
be64(const char *p)
{
	uint64_t	v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | (unsigned char) p[i];
	return v;
}

static uint32_t
be32(const char *p)
{
	return ((uint32_t) (unsigned char) p[0] << 24) | ((uint32_t) (unsigned char) p[1] << 16) |
		((uint32_t) (unsigned char) p[2] << 8) | (uint32_t) (unsigned char) p[3];
}

static void
put32(char *p, uint32_t v)
{
	p[0] = (char) (v >> 24);
	p[1] = (char) (v >> 16);
	p[2] = (char) (v >> 8);
	p[3] = (char) v;
}

static void
put64(char *p, uint64_t v)
{
	put32(p, (uint32_t) (v >> 32));
	put32(p + 4, (uint32_t) v);
}

/* A frontend message: type, length, body. */
static void
client_msg(dcf_feeder *f, client *c, char type, const void *body, size_t n)
{
	char		hdr[5];

	hdr[0] = type;
	put32(hdr + 1, (uint32_t) (n + 4));
	client_send(f, c, hdr, 5);
	if (n)
		client_send(f, c, body, n);
}

static void
client_query(dcf_feeder *f, client *c, const char *q)
{
	client_msg(f, c, 'Q', q, strlen(q) + 1);
}

static void
client_startup(dcf_feeder *f, client *c, const char *replication, const char *appname)
{
	char		pkt[512];
	size_t		n = 8;

	put32(pkt + 4, (3u << 16) | 0);
#define ADD(s) do { size_t l_ = strlen(s) + 1; memcpy(pkt + n, (s), l_); n += l_; } while (0)
	ADD("user");
	ADD("dcftest");
	ADD("database");
	ADD("replication");
	if (replication)
	{
		ADD("replication");
		ADD(replication);
	}
	ADD("application_name");
	ADD(appname);
#undef ADD
	pkt[n++] = '\0';
	put32(pkt, (uint32_t) n);
	client_send(f, c, pkt, n);
}

/* Skip messages until one of type t; false if the stream ends first. */
static bool
client_expect(dcf_feeder *f, client *c, char t, message *m)
{
	while (client_take(f, c, m))
		if (m->type == t)
			return true;
	return false;
}

/* A field of an ErrorResponse body ('M', 'D', 'C', 'S'), or "". */
static const char *
error_field(const message *m, char code)
{
	size_t		i = 0;

	while (i < m->len && m->body[i] != '\0')
	{
		char		fc = m->body[i++];
		const char *v = m->body + i;

		i += strlen(v) + 1;
		if (fc == code)
			return v;
	}
	return "";
}

/* Column values of a DataRow (text), up to 4; NULL for SQL NULL. */
static int
data_row(const message *m, char vals[4][256], bool isnull[4])
{
	int			ncols = (int) (((unsigned char) m->body[0] << 8) | (unsigned char) m->body[1]);
	size_t		off = 2;
	int			i;

	for (i = 0; i < ncols && i < 4; i++)
	{
		uint32_t	l = be32(m->body + off);

		off += 4;
		isnull[i] = l == UINT32_MAX;
		vals[i][0] = '\0';
		if (!isnull[i])
		{
			size_t		k = l < 255 ? l : 255;

			memcpy(vals[i], m->body + off, k);
			vals[i][k] = '\0';
			off += l;
		}
	}
	return ncols;
}

/* Type OID of column col of a RowDescription. */
static uint32_t
column_type(const message *m, int col)
{
	size_t		off = 2;
	int			i;

	for (i = 0; i <= col; i++)
	{
		off += strlen(m->body + off) + 1;
		if (i == col)
			return be32(m->body + off + 6);
		off += 18;
	}
	return 0;
}

/* A standby status update 'r'. */
static void
client_reply(dcf_feeder *f, client *c, dcf_lsn w, dcf_lsn fl, dcf_lsn ap, bool ask)
{
	char		b[34];

	b[0] = 'r';
	put64(b + 1, w);
	put64(b + 9, fl);
	put64(b + 17, ap);
	put64(b + 25, 12345);
	b[33] = ask ? 1 : 0;
	client_msg(f, c, 'd', b, sizeof(b));
}

/*
 * Read 'w' messages until `until` is reached or none come; check they are
 * contiguous from *pos, bounded, page-cut, and carry the expected bytes of
 * timeline tli's history.  Returns false at the first broken rule.
 */
typedef struct stream_check
{
	int			messages;
	int			bad_contiguity;
	int			bad_size;
	int			bad_cut;
	int			bad_bytes;
	int			bad_walend;
	int			keepalives;
	bool		copydone;
} stream_check;

static void
client_stream(dcf_feeder *f, client *c, const mem_source *s, uint32_t tli, dcf_lsn *pos,
			  dcf_lsn until, stream_check *k)
{
	message		m;

	memset(k, 0, sizeof(*k));
	while (*pos < until && client_take(f, c, &m))
	{
		if (m.type == 'c')
		{
			k->copydone = true;
			return;
		}
		if (m.type != 'd' || m.len < 1)
			return;
		if (m.body[0] == 'k')
		{
			k->keepalives++;
			continue;
		}
		if (m.body[0] == 'w' && m.len >= 25)
		{
			dcf_lsn		start = be64(m.body + 1);
			dcf_lsn		walend = be64(m.body + 9);
			uint32_t	n = m.len - 25;
			uint32_t	i;

			k->messages++;
			if (start != *pos)
				k->bad_contiguity++;
			if (n == 0 || n > DCF_FEEDER_MAX_SEND_BYTES)
				k->bad_size++;
			/*
			 * This source always has everything up to walEnd, so a message
			 * that stops short of it was cut by the size bound: at a page.
			 */
			if (start + n < walend && (start + n) % DCF_FEEDER_PAGE_BYTES != 0)
				k->bad_cut++;
			if (start + n > walend)
				k->bad_walend++;
			for (i = 0; i < n; i++)
				if ((uint8_t) m.body[25 + i] != history_byte(s, tli, start + i))
				{
					k->bad_bytes++;
					break;
				}
			*pos = start + n;
		}
	}
}

/* The self-test's deterministic randomness. */
static uint32_t
xorshift(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return (uint32_t) *r;
}

static void
expect_ready(dcf_feeder *f, client *c, const char *what)
{
	message		m;
	bool		ok = client_take(f, c, &m) && m.type == 'Z' && m.len == 1 && m.body[0] == 'I';

	CHECK(ok, "%s: ReadyForQuery follows", what);
}

/* Connect, (optionally) SSLRequest first, startup; true when ReadyForQuery came. */
static bool
client_login(dcf_feeder *f, client *c, const char *appname, bool ssl_first, char *server_version)
{
	message		m;

	if (!client_connect(c))
		return false;
	pump(f);
	if (ssl_first)
	{
		char		req[8];
		char		answer = 0;
		int			tries;

		put32(req, 8);
		put32(req + 4, (1234u << 16) | 5679);
		client_send(f, c, req, 8);
		for (tries = 0; tries < 50 && c->len == 0; tries++)
			client_fill(f, c);
		if (c->len >= 1)
		{
			answer = c->buf[0];
			memmove(c->buf, c->buf + 1, --c->len);
		}
		CHECK(answer == 'N', "SSLRequest is answered 'N'");
	}
	client_startup(f, c, "true", appname);
	while (client_take(f, c, &m))
	{
		if (m.type == 'S' && strcmp(m.body, "server_version") == 0 && server_version)
			snprintf(server_version, 64, "%s", m.body + strlen(m.body) + 1);
		if (m.type == 'Z')
			return true;
		if (m.type == 'E')
			return false;
	}
	return false;
}

static bool
client_closed(dcf_feeder *f, client *c)
{
	int			tries;

	/* whatever is still queued for it is discarded */
	for (tries = 0; tries < 1000 && !c->eof; tries++)
	{
		c->len = 0;
		client_fill(f, c);
	}
	return c->eof;
}

/* Refused with FATAL containing `text`, then closed. */
static void
expect_refused(dcf_feeder *f, client *c, const char *text, const char *what)
{
	message		m;
	bool		got = client_expect(f, c, 'E', &m);

	CHECK(got && strcmp(error_field(&m, 'S'), "FATAL") == 0 && strstr(error_field(&m, 'M'), text) != NULL,
		  "%s: FATAL \"%s\" (got \"%s\")", what, text, got ? error_field(&m, 'M') : "nothing");
	CHECK(client_closed(f, c), "%s: connection closed", what);
}

static int
self_test(const char *dir)
{
	static mem_source s;
	dcf_feeder_source fs;
	dcf_feeder *f;
	dcf_feeder_status st;
	char		errmsg[DCF_ERRMSG_MAX];
	char		version[64] = "";
	char		vals[4][256];
	bool		isnull[4];
	char		a[DCF_WALFILE_LSN_TEXT_BYTES];
	client		c1 = {-1, NULL, 0, false};
	client		c2 = {-1, NULL, 0, false};
	message		m;
	stream_check k;
	dcf_lsn		pos;
	dcf_lsn		seg;
	char		path[PATH_MAX];
	char		longdir[300];
	struct stat sb;
	int			fd;
	bool		ok;

	sock_dir = dir;
	memset(&fs, 0, sizeof(fs));
	fs.ctx = &s;
	fs.system_id = UINT64_C(7300000000000000001);
	fs.position = mem_position;
	fs.history = mem_history;
	fs.read = mem_read;
	fs.on_reply = mem_reply;
	fs.on_feedback = mem_feedback;
	fs.on_diverged = mem_diverged;
	fs.on_wal_missing = mem_missing;
	fs.log = mem_log;
	s.verbose = getenv("FEEDER_VERBOSE") != NULL;
	s.latest = 1;
	s.s1 = 0x3000000 + 60 * 1024 * 1024 + 0x1234;	/* timeline 1 will end here, not page aligned */
	s.limit = 0x3000000 + 300001;	/* not page aligned either */

	/* ---- socket creation ---- */
	memset(longdir, 'x', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	f = dcf_feeder_create(longdir, 5999, &fs, errmsg);
	CHECK(f == NULL && strstr(errmsg, "too long") != NULL, "a socket path beyond sun_path is refused: %s", errmsg);
	snprintf(path, sizeof(path), "%s/.s.PGSQL.5999", dir);
	unlink(path);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	f = dcf_feeder_create(dir, 5999, &fs, errmsg);
	CHECK(f == NULL && strstr(errmsg, "not a socket") != NULL, "a regular file at the socket path is refused: %s", errmsg);
	unlink(path);
	{
		/* a stale socket file: bound once, never listened on, closed */
		struct sockaddr_un addr;
		int			sfd = socket(AF_UNIX, SOCK_STREAM, 0);

		memset(&addr, 0, sizeof(addr));
		addr.sun_family = AF_UNIX;
		if (strlen(path) < sizeof(addr.sun_path))
			memcpy(addr.sun_path, path, strlen(path) + 1);
		bind(sfd, (struct sockaddr *) &addr, sizeof(addr));
		close(sfd);
	}
	f = dcf_feeder_create(dir, 5999, &fs, errmsg);
	CHECK(f != NULL, "a stale socket file is replaced (%s)", f ? "ok" : errmsg);
	if (f == NULL)
		return unit_done();
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "the socket is mode 0600 (is %o)",
		  (unsigned) (sb.st_mode & 0777));
	{
		dcf_feeder *f2 = dcf_feeder_create(dir, 5999, &fs, errmsg);

		CHECK(f2 == NULL && strstr(errmsg, "another process is listening") != NULL,
			  "a live socket is not stolen: %s", errmsg);
	}
	{
		uint64_t	g0 = dcf_feeder_generation(f);
		dcf_feeder_fd fds[DCF_FEEDER_MAX_FDS];

		CHECK(dcf_feeder_fds(f, fds, DCF_FEEDER_MAX_FDS) == 1 && fds[0].want_read, "idle: only the listener is watched");
		CHECK(client_login(f, &c1, "selftest", true, version), "SSLRequest, then startup: ReadyForQuery");
		CHECK(dcf_feeder_generation(f) != g0 && dcf_feeder_fds(f, fds, DCF_FEEDER_MAX_FDS) == 2,
			  "a connection changes the generation and adds an fd");
	}
	CHECK(strcmp(version, DCF_FEEDER_SERVER_VERSION) == 0, "server_version is \"%s\"", version);

	/* ---- IDENTIFY_SYSTEM ---- */
	client_query(f, &c1, "IDENTIFY_SYSTEM");
	CHECK(client_take(f, &c1, &m) && m.type == 'T', "IDENTIFY_SYSTEM: RowDescription");
	CHECK(column_type(&m, 0) == 25 && column_type(&m, 1) == 23 && column_type(&m, 2) == 25 && column_type(&m, 3) == 25,
		  "IDENTIFY_SYSTEM: columns text, int4, text, text");
	CHECK(client_take(f, &c1, &m) && m.type == 'D' && data_row(&m, vals, isnull) == 4,
		  "IDENTIFY_SYSTEM: one row of 4 columns");
	CHECK(strcmp(vals[0], "7300000000000000001") == 0 && strcmp(vals[1], "1") == 0 &&
		  strcmp(vals[2], dcf_walfile_lsn_format(a, s.limit)) == 0 && isnull[3],
		  "IDENTIFY_SYSTEM: systemid, timeline 1, honest xlogpos %s, NULL dbname (got %s %s %s)",
		  a, vals[0], vals[1], vals[2]);
	CHECK(client_take(f, &c1, &m) && m.type == 'C' && strcmp(m.body, "IDENTIFY_SYSTEM") == 0,
		  "IDENTIFY_SYSTEM: CommandComplete");
	expect_ready(f, &c1, "IDENTIFY_SYSTEM");

	/* ---- bad commands keep the connection ---- */
	client_query(f, &c1, "START_REPLICATION banana");
	ok = client_expect(f, &c1, 'E', &m);
	CHECK(ok && strcmp(error_field(&m, 'S'), "ERROR") == 0 &&
		  strcmp(error_field(&m, 'C'), "42601") == 0, "a syntax error is an ERROR 42601");
	expect_ready(f, &c1, "syntax error");
	client_query(f, &c1, "BASE_BACKUP");
	ok = client_expect(f, &c1, 'E', &m);
	CHECK(ok && strstr(error_field(&m, 'M'), "not supported") != NULL,
		  "BASE_BACKUP is not supported");
	expect_ready(f, &c1, "unsupported command");
	client_query(f, &c1, "TIMELINE_HISTORY 2");
	ok = client_expect(f, &c1, 'E', &m);
	CHECK(ok && strstr(error_field(&m, 'M'), "history file of timeline 2") != NULL,
		  "TIMELINE_HISTORY of an unknown timeline is an ERROR");
	expect_ready(f, &c1, "unknown history");
	client_query(f, &c1, "");
	CHECK(client_take(f, &c1, &m) && m.type == 'I', "an empty query gets EmptyQueryResponse");
	expect_ready(f, &c1, "empty query");

	/* ---- streaming on the latest timeline ---- */
	client_query(f, &c1, "START_REPLICATION SLOT \"dcf slot\" PHYSICAL 0/3000000 TIMELINE 1;");
	CHECK(client_take(f, &c1, &m) && m.type == 'W' && m.len == 3, "START_REPLICATION: CopyBothResponse");
	pos = 0x3000000;
	client_stream(f, &c1, &s, 1, &pos, s.limit, &k);
	CHECK(pos == s.limit, "streamed exactly up to the limit %s (to %" PRIX64 ")", dcf_walfile_lsn_format(a, s.limit), pos);
	CHECK(k.messages >= 3 && k.bad_contiguity == 0 && k.bad_size == 0 && k.bad_cut == 0 && k.bad_bytes == 0 &&
		  k.bad_walend == 0, "%d 'w' messages: contiguous, <= 128 kB, page-cut, right bytes, walEnd bound",
		  k.messages);
	client_fill(f, &c1);
	CHECK(c1.len == 0, "nothing past the limit is sent");
	dcf_feeder_get_status(f, &st);
	CHECK(st.state == DCF_FEEDER_STREAMING && st.sent_lsn == s.limit && st.tli == 1 &&
		  strcmp(st.application_name, "selftest") == 0, "status: streaming timeline 1, sent up to the limit");

	s.limit = 0x3000000 + 5 * 1024 * 1024 + 77;
	dcf_feeder_wal_available(f);
	client_stream(f, &c1, &s, 1, &pos, s.limit, &k);
	CHECK(pos == s.limit && k.bad_contiguity == 0 && k.bad_bytes == 0 && k.bad_cut == 0 && k.bad_size == 0,
		  "more WAL: pushed after wal_available, contiguous (%d messages)", k.messages);

	/* flow control: a client that stops reading gets no more than the bounds */
	s.limit = 0x3000000 + 40 * 1024 * 1024;
	dcf_feeder_wal_available(f);
	pump(f);
	{
		dcf_feeder_status st2;
		int			round;

		/* more pushes than it takes to fill every buffer on the way */
		for (round = 0; round < 8; round++)
		{
			dcf_feeder_wal_available(f);
			pump(f);
		}
		dcf_feeder_get_status(f, &st);
		for (round = 0; round < 8; round++)
		{
			dcf_feeder_wal_available(f);
			pump(f);
		}
		dcf_feeder_get_status(f, &st2);
		CHECK(st.sent_lsn < s.limit && st2.sent_lsn == st.sent_lsn,
			  "a client that does not read stalls the stream (%" PRIu64 " bytes ahead of it)",
			  st.sent_lsn - pos);
	}
	client_stream(f, &c1, &s, 1, &pos, s.limit, &k);
	CHECK(pos == s.limit && k.bad_contiguity == 0 && k.bad_bytes == 0,
		  "once it reads again the stream resumes without a gap (%d messages)", k.messages);

	/* replies, feedback, keepalives */
	client_reply(f, &c1, 0x3100000, 0x3080000, 0x3040000, true);
	CHECK(client_take(f, &c1, &m) && m.type == 'd' && m.body[0] == 'k' && m.len == 18 &&
		  be64(m.body + 1) == pos && m.body[17] == 0, "a reply asking for one gets a keepalive (walEnd = sent)");
	CHECK(s.nreplies == 1 && s.r_write == 0x3100000 && s.r_flush == 0x3080000 && s.r_apply == 0x3040000,
		  "on_reply gets write/flush/apply");
	{
		char		h[25];

		h[0] = 'h';
		put64(h + 1, 1);
		put32(h + 9, 1000);
		put32(h + 13, 1);
		put32(h + 17, 900);
		put32(h + 21, 2);
		client_msg(f, &c1, 'd', h, sizeof(h));
		pump(f);
		CHECK(s.nfeedback == 1 && s.fb[0] == 1000 && s.fb[1] == 1 && s.fb[2] == 900 && s.fb[3] == 2,
			  "on_feedback gets xmin, epoch, catalog_xmin, epoch");
	}
	fake_now += (int64_t) DCF_FEEDER_PING_AFTER_MS * 1000 + 1000;
	dcf_feeder_tick(f, fake_now);
	CHECK(client_take(f, &c1, &m) && m.type == 'd' && m.body[0] == 'k' && m.body[17] == 1,
		  "silence for half the timeout: a keepalive asking for a reply");
	CHECK(dcf_feeder_next_wakeup_us(f) <= fake_now + (int64_t) DCF_FEEDER_CLIENT_TIMEOUT_MS * 1000,
		  "the next wakeup is within the client timeout");

	/* ---- the timeline ends while streaming ---- */
	s.limit = s.s1 + 3 * 1024 * 1024;	/* timeline 1 has bytes past s1 (a diverged tail) */
	s.latest = 2;
	dcf_feeder_wal_available(f);
	client_stream(f, &c1, &s, 1, &pos, s.limit, &k);
	CHECK(k.copydone && pos == s.s1, "timeline 1 is sent exactly up to its switch point, then CopyDone (%d messages)",
		  k.messages);
	CHECK(k.bad_contiguity == 0 && k.bad_bytes == 0 && s.bad_reads == 0,
		  "no byte of timeline 1 past the switch point was read or sent");
	client_msg(f, &c1, 'c', NULL, 0);
	CHECK(client_take(f, &c1, &m) && m.type == 'T' && column_type(&m, 0) == 20 && column_type(&m, 1) == 25,
		  "end of timeline: RowDescription (next_tli int8, next_tli_startpos text)");
	CHECK(client_take(f, &c1, &m) && m.type == 'D' && data_row(&m, vals, isnull) == 2 &&
		  strcmp(vals[0], "2") == 0 && strcmp(vals[1], dcf_walfile_lsn_format(a, s.s1)) == 0,
		  "end of timeline: row (2, %s)", a);
	CHECK(client_take(f, &c1, &m) && m.type == 'C' && strcmp(m.body, "START_STREAMING") == 0,
		  "end of timeline: CommandComplete START_STREAMING");
	CHECK(client_take(f, &c1, &m) && m.type == 'C' && strcmp(m.body, "START_REPLICATION") == 0,
		  "end of timeline: CommandComplete START_REPLICATION");
	expect_ready(f, &c1, "end of timeline");

	/* ---- the standby follows: history, then timeline 2 from the segment start ---- */
	client_query(f, &c1, "IDENTIFY_SYSTEM");
	CHECK(client_expect(f, &c1, 'D', &m) && data_row(&m, vals, isnull) == 4 && strcmp(vals[1], "2") == 0,
		  "IDENTIFY_SYSTEM now says timeline 2");
	client_take(f, &c1, &m);
	expect_ready(f, &c1, "IDENTIFY_SYSTEM");
	client_query(f, &c1, "TIMELINE_HISTORY 2");
	CHECK(client_take(f, &c1, &m) && m.type == 'T' && column_type(&m, 0) == 25 && column_type(&m, 1) == 17,
		  "TIMELINE_HISTORY: columns text, bytea");
	CHECK(client_take(f, &c1, &m) && m.type == 'D' && data_row(&m, vals, isnull) == 2 &&
		  strcmp(vals[0], "00000002.history") == 0 && strncmp(vals[1], "1\t", 2) == 0,
		  "TIMELINE_HISTORY: 00000002.history and its content");
	client_take(f, &c1, &m);
	expect_ready(f, &c1, "TIMELINE_HISTORY");

	seg = s.s1 - s.s1 % (16 * 1024 * 1024);
	snprintf(path, sizeof(path), "START_REPLICATION %s TIMELINE 2", dcf_walfile_lsn_format(a, seg));
	client_query(f, &c1, path);
	CHECK(client_take(f, &c1, &m) && m.type == 'W', "timeline 2 from the segment start: CopyBothResponse");
	pos = seg;
	client_stream(f, &c1, &s, 2, &pos, s.limit, &k);
	CHECK(pos == s.limit && k.bad_contiguity == 0 && k.bad_bytes == 0 && s.bad_reads == 0,
		  "bytes below the switch point come from timeline 1, above from timeline 2, no gap (%d messages)",
		  k.messages);

	/* ---- a second connection replaces the first only after a valid startup ---- */
	CHECK(client_connect(&c2), "a newcomer connects");
	{
		char		bad[8];

		put32(bad, 3);			/* shorter than any startup packet */
		put32(bad + 4, 0);
		client_send(f, &c2, bad, 8);
		expect_refused(f, &c2, "invalid length of startup packet", "startup length 3");
	}
	s.limit += 100000;
	dcf_feeder_wal_available(f);
	client_stream(f, &c1, &s, 2, &pos, s.limit, &k);
	CHECK(pos == s.limit && k.bad_contiguity == 0, "the active walreceiver kept streaming meanwhile");

	client_connect(&c2);
	{
		char		bad[8];

		put32(bad, 0x7FFFFFFF);	/* an oversized length: refused before any allocation */
		put32(bad + 4, 3u << 16);
		client_send(f, &c2, bad, 8);
		expect_refused(f, &c2, "invalid length of startup packet", "startup length 2^31-1");
	}
	client_connect(&c2);
	{
		char		pkt[8];

		put32(pkt, 8);
		put32(pkt + 4, 9u << 16);
		client_send(f, &c2, pkt, 8);
		expect_refused(f, &c2, "unsupported frontend protocol 9.0", "protocol 9.0");
	}
	client_connect(&c2);
	client_startup(f, &c2, NULL, "psql");
	expect_refused(f, &c2, "accepts only physical replication connections", "a non-replication login");
	client_connect(&c2);
	client_startup(f, &c2, "database", "logical");
	expect_refused(f, &c2, "accepts only physical replication connections", "a logical replication login");
	client_connect(&c2);
	{
		static const char garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

		client_send(f, &c2, garbage, sizeof(garbage) - 1);
		expect_refused(f, &c2, "invalid length of startup packet", "HTTP garbage");
	}
	{
		int			tries;

		client_connect(&c2);
		pump(f);
		fake_now += (int64_t) DCF_FEEDER_STARTUP_TIMEOUT_MS * 1000 + 1000;
		client_reply(f, &c1, 0, 0, 0, false);	/* keep the active one alive */
		dcf_feeder_tick(f, fake_now);
		for (tries = 0; tries < 5; tries++)
			client_fill(f, &c2);
		CHECK(c2.eof, "a connection silent through its startup is closed after %d ms",
			  DCF_FEEDER_STARTUP_TIMEOUT_MS);
	}
	dcf_feeder_get_status(f, &st);
	CHECK(st.state == DCF_FEEDER_STREAMING && st.tli == 2 && st.refused >= 6,
		  "the active stream survived %" PRIu64 " refused clients", st.refused);

	/* now a valid newcomer: it displaces the active connection */
	client_close(&c2);
	CHECK(client_login(f, &c2, "newcomer", false, NULL), "a valid newcomer logs in");
	CHECK(client_closed(f, &c1), "the old walreceiver connection is closed for it");
	client_close(&c1);

	/* after login: oversized and unexpected messages */
	{
		char		hdr[5];

		hdr[0] = 'Q';
		put32(hdr + 1, 1u << 30);
		client_send(f, &c2, hdr, 5);
		expect_refused(f, &c2, "invalid length", "a 1 GB query");
	}
	client_login(f, &c2, "c2", false, NULL);
	client_msg(f, &c2, 'P', "\0x\0\0\0", 6);
	expect_refused(f, &c2, "unexpected message type \"P\"", "the extended query protocol");
	client_login(f, &c2, "c2", false, NULL);
	client_msg(f, &c2, 'Q', "IDENTIFY", 8);	/* no terminating NUL */
	expect_refused(f, &c2, "invalid string", "a query without its terminator");

	/* ---- divergence: a start past the switch point ---- */
	client_login(f, &c2, "diverged", false, NULL);
	s.ndiverged = 0;
	snprintf(path, sizeof(path), "START_REPLICATION %s TIMELINE 1", dcf_walfile_lsn_format(a, s.s1 + 0x1000000));
	client_query(f, &c2, path);
	CHECK(client_expect(f, &c2, 'E', &m) &&
		  strstr(error_field(&m, 'M'), "is not in this server's history") != NULL &&
		  strstr(error_field(&m, 'D'), "forked from timeline 1 at") != NULL,
		  "a start past the switch point: ERROR \"%s\" / \"%s\"", error_field(&m, 'M'), error_field(&m, 'D'));
	CHECK(s.ndiverged == 1 && s.d_tli == 1 && s.d_req == s.s1 + 0x1000000 && s.d_switch == s.s1 && s.d_next == 2,
		  "on_diverged(1, requested, switch point, 2)");
	expect_ready(f, &c2, "divergence");

	/* divergence inside the switch segment: only the replay position tells */
	s.ndiverged = 0;
	snprintf(path, sizeof(path), "START_REPLICATION %s TIMELINE 1", dcf_walfile_lsn_format(a, seg));
	client_query(f, &c2, path);
	CHECK(client_take(f, &c2, &m) && m.type == 'W', "a start inside the switch segment is accepted");
	client_reply(f, &c2, s.s1 + 500, s.s1 + 500, s.s1 + 200, false);
	ok = client_expect(f, &c2, 'E', &m);
	CHECK(ok && strstr(error_field(&m, 'M'), "has replayed WAL up to") != NULL,
		  "a standby that replayed past the switch point: ERROR \"%s\"", error_field(&m, 'M'));
	CHECK(s.ndiverged == 1 && s.d_req == s.s1 + 200 && s.d_switch == s.s1, "on_diverged(1, replay position, switch point)");
	expect_ready(f, &c2, "replayed-past divergence");
	client_msg(f, &c2, 'c', NULL, 0);	/* late CopyDone after the error: ignored */
	client_query(f, &c2, "IDENTIFY_SYSTEM");
	CHECK(client_expect(f, &c2, 'Z', &m), "the connection is usable after the error");

	/* a start exactly at the switch point: the end-of-timeline result at once */
	snprintf(path, sizeof(path), "START_REPLICATION %s TIMELINE 1", dcf_walfile_lsn_format(a, s.s1));
	client_query(f, &c2, path);
	CHECK(client_take(f, &c2, &m) && m.type == 'T', "start == switch point: no CopyBoth, the result set");
	CHECK(client_take(f, &c2, &m) && m.type == 'D' && data_row(&m, vals, isnull) == 2 && strcmp(vals[0], "2") == 0,
		  "start == switch point: next timeline 2");
	CHECK(client_take(f, &c2, &m) && m.type == 'C' && client_take(f, &c2, &m) && m.type == 'C',
		  "start == switch point: two CommandCompletes");
	expect_ready(f, &c2, "start == switch point");

	/* a timeline the source never had */
	s.ndiverged = 0;
	client_query(f, &c2, "START_REPLICATION 0/3000000 TIMELINE 7");
	ok = client_expect(f, &c2, 'E', &m);
	CHECK(ok && strstr(error_field(&m, 'M'), "requested timeline 7 is not in this server's history") != NULL,
		  "an unknown timeline: ERROR \"%s\"", error_field(&m, 'M'));
	CHECK(s.ndiverged == 1 && s.d_tli == 7 && s.d_switch == 0, "on_diverged(7, ..., 0, 0)");
	expect_ready(f, &c2, "unknown timeline");

	/* ---- WAL the source no longer has ---- */
	s.floor = seg + 0x100000;
	snprintf(path, sizeof(path), "START_REPLICATION %s TIMELINE 2", dcf_walfile_lsn_format(a, seg));
	client_query(f, &c2, path);
	CHECK(client_take(f, &c2, &m) && m.type == 'W', "a start below the floor enters streaming");
	ok = client_expect(f, &c2, 'E', &m);
	CHECK(ok && strstr(error_field(&m, 'M'), "must be rebuilt") != NULL &&
		  strstr(error_field(&m, 'H'), "Rebuild") != NULL,
		  "WAL gone: ERROR \"%s\"", error_field(&m, 'M'));
	CHECK(s.nmissing == 1 && s.m_lsn == seg, "on_wal_missing at the requested position");
	expect_ready(f, &c2, "WAL gone");
	s.floor = 0;

	/* ---- a standby that ends streaming itself, and one that goes silent ---- */
	snprintf(path, sizeof(path), "START_REPLICATION %s", dcf_walfile_lsn_format(a, seg));
	client_query(f, &c2, path);
	CHECK(client_take(f, &c2, &m) && m.type == 'W', "START_REPLICATION without TIMELINE streams the latest");
	pos = seg;
	client_stream(f, &c2, &s, 2, &pos, s.limit, &k);
	client_msg(f, &c2, 'c', NULL, 0);
	CHECK(client_expect(f, &c2, 'c', &m), "client CopyDone is answered with CopyDone");
	CHECK(client_take(f, &c2, &m) && m.type == 'C' && strcmp(m.body, "START_STREAMING") == 0,
		  "no next-timeline row on the latest timeline, then START_STREAMING");
	client_take(f, &c2, &m);
	expect_ready(f, &c2, "client-ended streaming");
	client_query(f, &c2, path);
	client_take(f, &c2, &m);
	fake_now += (int64_t) DCF_FEEDER_CLIENT_TIMEOUT_MS * 1000 + 1000;
	dcf_feeder_tick(f, fake_now);
	CHECK(client_closed(f, &c2), "a streaming standby silent for %d ms is dropped", DCF_FEEDER_CLIENT_TIMEOUT_MS);
	client_close(&c2);

	/*
	 * A timeline that ends below what was already sent (the consensus log
	 * can end inside a record the new leader could not replay): CopyDone at
	 * once, and the row names the switch point.  Replayed from scratch with
	 * timeline 2 not yet known.
	 */
	s.latest = 1;
	CHECK(client_login(f, &c2, "oversent", false, NULL), "a standby logs in while timeline 1 is the latest");
	snprintf(path, sizeof(path), "START_REPLICATION %s TIMELINE 1", dcf_walfile_lsn_format(a, seg));
	client_query(f, &c2, path);
	client_take(f, &c2, &m);
	pos = seg;
	client_stream(f, &c2, &s, 1, &pos, s.limit, &k);
	CHECK(pos == s.limit && pos > s.s1 && k.bad_bytes == 0, "timeline 1 streamed past the future switch point");
	s.latest = 2;
	s.bad_reads = 0;
	dcf_feeder_wal_available(f);
	client_stream(f, &c2, &s, 1, &pos, UINT64_MAX, &k);
	CHECK(k.copydone && k.messages == 0 && s.bad_reads == 0,
		  "the timeline ends below the sent position: CopyDone, no more bytes");
	client_msg(f, &c2, 'c', NULL, 0);
	CHECK(client_expect(f, &c2, 'D', &m) && data_row(&m, vals, isnull) == 2 &&
		  strcmp(vals[1], dcf_walfile_lsn_format(a, s.s1)) == 0, "the row names the switch point %s", a);
	CHECK(client_expect(f, &c2, 'Z', &m), "ReadyForQuery after it");
	client_close(&c2);

	/*
	 * A standby waiting past what can be served on the latest timeline, when
	 * that timeline then ends below its start: diverged, not CopyDone.
	 */
	s.latest = 1;
	s.ndiverged = 0;
	CHECK(client_login(f, &c2, "ahead", false, NULL), "a standby ahead of the source logs in");
	snprintf(path, sizeof(path), "START_REPLICATION %s TIMELINE 1", dcf_walfile_lsn_format(a, s.limit + 0x1000000));
	client_query(f, &c2, path);
	CHECK(client_take(f, &c2, &m) && m.type == 'W', "a start ahead of the servable position waits in CopyBoth");
	client_fill(f, &c2);
	CHECK(c2.len == 0, "nothing is sent while it waits");
	s.latest = 2;
	dcf_feeder_wal_available(f);
	ok = client_expect(f, &c2, 'E', &m);
	CHECK(ok && strstr(error_field(&m, 'M'), "is not in this server's history") != NULL,
		  "the timeline ends below its start: ERROR \"%s\"", error_field(&m, 'M'));
	CHECK(s.ndiverged == 1 && s.d_req == s.limit + 0x1000000 && s.d_switch == s.s1,
		  "on_diverged(1, its start, switch point)");
	expect_ready(f, &c2, "ended below the start");
	client_close(&c2);

	/*
	 * Seeded garbage at every phase: before the startup packet, after it,
	 * well-framed messages of random types and bodies, and random CopyData
	 * while streaming.  The feeder must neither crash nor stop serving (the
	 * sanitizer build of this program checks memory safety on the way).
	 */
	{
		uint64_t	rng = UINT64_C(0x9E3779B97F4A7C15);
		static char junk[4096];
		int			iter;
		int			j;
		dcf_feeder_status before;

		dcf_feeder_get_status(f, &before);

		s.latest = 2;
#define RND() xorshift(&rng)
		for (iter = 0; iter < FEEDER_FUZZ_ITERATIONS; iter++)
		{
			int			mode = iter % 4;
			size_t		n = 1 + RND() % (mode == 0 ? sizeof(junk) : 200);

			client_connect(&c2);
			pump(f);
			if (mode > 0)
			{
				client_startup(f, &c2, "true", "fuzz");
				if (mode == 3)
				{
					snprintf(path, sizeof(path), "START_REPLICATION %s TIMELINE %u",
							 dcf_walfile_lsn_format(a, seg + (RND() % 64) * 8192), 1 + RND() % 3);
					client_query(f, &c2, path);
				}
			}
			for (j = 0; j < (int) n; j++)
				junk[j] = (char) RND();
			if (mode == 0 || mode == 1)
				client_send(f, &c2, junk, n);
			else
			{
				/* framed: a plausible type and an honest length */
				static const char types[] = "QdcXPfSHBE";

				junk[0] = mode == 3 && RND() % 2 ? (RND() % 2 ? 'r' : 'h') : junk[0];
				client_msg(f, &c2, mode == 3 ? (RND() % 8 ? 'd' : 'c') : types[RND() % 10], junk, n);
			}
			if (RND() % 8 == 0)
			{
				fake_now += (int64_t) (RND() % 20000) * 1000;
				dcf_feeder_tick(f, fake_now);
			}
			client_fill(f, &c2);
			client_close(&c2);
			pump(f);
		}
#undef RND
		dcf_feeder_get_status(f, &st);
		CHECK(st.connections - before.connections == FEEDER_FUZZ_ITERATIONS &&
			  st.refused - before.refused >= FEEDER_FUZZ_ITERATIONS / 4,
			  "%d seeded garbage connections accepted, %" PRIu64 " refused for protocol violations",
			  FEEDER_FUZZ_ITERATIONS, st.refused - before.refused);
	}

	CHECK(client_login(f, &c2, "last", false, NULL), "the feeder still serves after all that");
	client_msg(f, &c2, 'X', NULL, 0);
	CHECK(client_closed(f, &c2), "Terminate closes the connection");
	client_close(&c2);
	pump(f);
	dcf_feeder_get_status(f, &st);
	CHECK(st.state == DCF_FEEDER_NO_CLIENT, "no client left");

	dcf_feeder_destroy(f);
	snprintf(path, sizeof(path), "%s/.s.PGSQL.5999", dir);
	CHECK(access(path, F_OK) != 0, "destroy removes the socket file");
	free(c1.buf);
	free(c2.buf);
	return unit_done();
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--self-test") == 0)
	{
		char		tmpl[] = "/tmp/dcf_feeder_XXXXXX";
		const char *dir = argc >= 3 ? argv[2] : mkdtemp(tmpl);
		int			rc;

		if (dir == NULL)
		{
			perror("mkdtemp");
			return 2;
		}
		signal(SIGPIPE, SIG_IGN);
		rc = self_test(dir);
		if (argc < 3)
			rmdir(dir);
		return rc;
	}
	return serve(argc, argv);
}
