/*
 * ctl_walfetch.c — `dcf_ctl restore-wal`: one WAL file for pg_rewind.
 *
 *   dcf_ctl restore-wal --data-path=DPATH [--source-file=FILE]
 *                       [--segment-bytes=N] WALFILE DEST
 *
 * pg_rewind reads the rewound node's own WAL back from the fork to the last
 * common checkpoint.  A node that recycled those segments (its checkpoints
 * after a timeline switch, the crash recovery pg_rewind runs) cannot be
 * rewound from its pg_wal alone.  dcf_ctl start then runs pg_rewind
 * --restore-target-wal with this command as restore_command (issue 19).
 *
 * Where the bytes come from, in this order:
 *  1. the node's own consensus log (DPATH, read-only, offline): the WAL
 *     chunks of the requested timeline and, below its switch point, of its
 *     ancestors as its history file lists them.  WAL at a given timeline
 *     and position is the same on every node that has it (one leader wrote
 *     it), so these are exactly the bytes the node's pg_wal held.  Used
 *     when they cover the segment from its start without a hole;
 *  2. the same file in the source server's pg_wal (pg_read_binary_file;
 *     FILE holds the source's conninfo): the WAL before the fork is the
 *     cluster's, which the source has as long as it did not recycle it;
 *  3. what the log has, even with holes (pg_rewind reports a clear error
 *     if it needs a missing part).
 * History files come from the log's timeline-switch entries or the source.
 * Exit status 0 when DEST was written, 1 when the file is not available.
 */
#include "ctl_walfetch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libpq-fe.h"

#include "core/dcf_err.h"
#include "pg/dcf_walentry.h"
#include "storage/log.h"

#include "ctl_util.h"

#define WALFETCH_ANCESTORS_MAX	1024
#define WALFETCH_BATCH			64

typedef struct Ancestor
{
	uint32_t	tli;
	uint64_t	end;			/* switch point to its child */
} Ancestor;

typedef struct Fetch
{
	uint32_t	tli;
	uint64_t	seg_start;
	uint64_t	seg_bytes;
	uint8_t    *data;
	uint8_t    *have;
	bool		is_history;
	char	   *history;		/* content of <tli>.history from the log */
	size_t		history_len;
	Ancestor	anc[WALFETCH_ANCESTORS_MAX];
	int			nanc;
	const char *history_dir;	/* the node's pg_wal, for history files */
} Fetch;

static void
parse_history(Fetch *f, const char *text, size_t len)
{
	char	   *copy = malloc(len + 1);
	char	   *line,
			   *sp = NULL;

	memcpy(copy, text, len);
	copy[len] = '\0';
	f->nanc = 0;
	for (line = strtok_r(copy, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp))
	{
		unsigned int tli,
					hi,
					lo;

		if (sscanf(line, "%u %X/%X", &tli, &hi, &lo) == 3 && f->nanc < WALFETCH_ANCESTORS_MAX)
		{
			f->anc[f->nanc].tli = tli;
			f->anc[f->nanc].end = ((uint64_t) hi << 32) | lo;
			f->nanc++;
		}
	}
	free(copy);
}

/* [*lo, *hi) of positions whose WAL, on f->tli's history, is timeline tli's. */
static bool
range_of(const Fetch *f, uint32_t tli, uint64_t *lo, uint64_t *hi)
{
	uint64_t	begin = 0;

	for (int i = 0; i < f->nanc; i++)
	{
		if (f->anc[i].tli == tli)
		{
			*lo = begin;
			*hi = f->anc[i].end;
			return true;
		}
		begin = f->anc[i].end;
	}
	if (tli == f->tli)
	{
		*lo = begin;
		*hi = UINT64_MAX;
		return true;
	}
	return false;
}

static void
place_chunk(Fetch *f, const dcf_wal_chunk *c)
{
	uint64_t	lo,
				hi,
				a,
				b;

	if (!range_of(f, c->tli, &lo, &hi))
		return;
	a = c->start > lo ? c->start : lo;
	b = c->start + c->len < hi ? c->start + c->len : hi;
	if (a < f->seg_start)
		a = f->seg_start;
	if (b > f->seg_start + f->seg_bytes)
		b = f->seg_start + f->seg_bytes;
	if (a >= b)
		return;
	memcpy(f->data + (a - f->seg_start), c->data + (a - c->start), (size_t) (b - a));
	memset(f->have + (a - f->seg_start), 1, (size_t) (b - a));
}

/*
 * Scan the log twice: the timeline switches first (the history of the
 * requested timeline decides which chunk owns which bytes), then the WAL.
 */
static bool
from_log(Fetch *f, const char *dpath)
{
	dcf_log_options lo;
	dcf_log    *log = NULL;
	char		err[DCF_ERRMSG_MAX];
	size_t		buf_bytes = DCF_LOG_READ_BUFFER_MIN_BYTES * 4;
	uint8_t    *buf = malloc(buf_bytes);
	dcf_log_entry e[WALFETCH_BATCH];
	bool		any = false;

	dcf_log_options_init(&lo);
	lo.read_only = 1;
	lo.create = 0;
	if (buf == NULL || dcf_log_open(dpath, &lo, &log, err) != DCF_OK)
	{
		free(buf);
		return false;
	}
	for (int pass = 0; pass < 2; pass++)
	{
		uint64_t	idx = dcf_log_first_index(log);
		uint64_t	last = dcf_log_last_index(log);

		while (idx <= last)
		{
			size_t		n = 0;

			if (dcf_log_read(log, idx, last + 1, buf_bytes, buf, buf_bytes, e, WALFETCH_BATCH, &n, err) != DCF_OK ||
				n == 0)
				break;
			for (size_t i = 0; i < n; i++)
			{
				if (pass == 0 && e[i].type == DCF_ENTRY_TLSWITCH)
				{
					dcf_tlswitch s;

					if (dcf_tlswitch_decode(e[i].data, e[i].len, &s, err) == DCF_OK && s.tli == f->tli &&
						s.history_len > 0)
					{
						free(f->history);
						f->history = malloc(s.history_len);
						memcpy(f->history, s.history, s.history_len);
						f->history_len = s.history_len;
					}
				}
				else if (pass == 1 && e[i].type == DCF_ENTRY_WAL)
				{
					dcf_wal_chunk c;

					if (dcf_wal_chunk_decode(e[i].data, e[i].len, &c, err) == DCF_OK)
						place_chunk(f, &c);
				}
			}
			idx += n;
		}
		if (pass == 0)
		{
			if (f->is_history)
				break;
			if (f->history == NULL && f->tli > 1 && f->history_dir)
			{
				/* the switch entry was recycled from the log: the node's own copy */
				char		path[CTL_PATH_MAX + 32];

				snprintf(path, sizeof(path), "%s/%08X.history", f->history_dir, f->tli);
				f->history = ctl_slurp(path, &f->history_len);
			}
			if (f->history)
				parse_history(f, f->history, f->history_len);
		}
	}
	dcf_log_close(log, err);
	free(buf);
	if (f->is_history)
		return f->history != NULL;
	for (uint64_t i = 0; i < f->seg_bytes; i++)
		if (f->have[i])
		{
			any = true;
			break;
		}
	return any;
}

/* The log's bytes cover the segment from its start, without a hole. */
static bool
log_complete(const Fetch *f)
{
	uint64_t	i = 0;

	while (i < f->seg_bytes && f->have[i])
		i++;
	if (i == 0)
		return false;
	for (; i < f->seg_bytes; i++)
		if (f->have[i])
			return false;
	return true;
}

/*
 * The log has no WAL from before the first promotion under dcf (initdb's,
 * say), so a rebuilt segment can lack its first page, whose long header
 * the WAL reader checks whenever it opens the segment.  Write that header:
 * magic, system identifier, segment and block size from another segment of
 * the same pg_wal, this segment's address, and the timeline that owns its
 * start.  No record of that page is ever read: pg_rewind reads from the
 * last common checkpoint on, which the log covers.
 */
#define WALFETCH_LONG_HEADER_BYTES	40
#define WALFETCH_XLP_LONG_HEADER	0x0002

static bool
synthesize_first_page_header(Fetch *f, const char *dest)
{
	char		dir[CTL_PATH_MAX];
	char	   *slash;
	DIR		   *d;
	struct dirent *de;
	uint8_t		tmpl[WALFETCH_LONG_HEADER_BYTES];
	bool		have_tmpl = false;
	uint64_t	lo,
				hi;
	uint32_t	owner = f->tli;

	snprintf(dir, sizeof(dir), "%s", dest);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	d = opendir(dir);
	if (d == NULL)
		return false;
	while (!have_tmpl && (de = readdir(d)) != NULL)
	{
		char		path[CTL_PATH_MAX * 2];
		int			fd;

		if (strlen(de->d_name) != 24 || strspn(de->d_name, "0123456789ABCDEF") != 24)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		if (read(fd, tmpl, sizeof(tmpl)) == (ssize_t) sizeof(tmpl) &&
			(tmpl[2] | tmpl[3] << 8) & WALFETCH_XLP_LONG_HEADER)
			have_tmpl = true;
		close(fd);
	}
	closedir(d);
	if (!have_tmpl)
		return false;
	for (int i = 0; i < f->nanc; i++)
		if (range_of(f, f->anc[i].tli, &lo, &hi) && f->seg_start >= lo && f->seg_start < hi)
		{
			owner = f->anc[i].tli;
			break;
		}
	memcpy(f->data, tmpl, sizeof(tmpl));
	f->data[2] = WALFETCH_XLP_LONG_HEADER;	/* xlp_info: no continuation */
	f->data[3] = 0;
	for (int b = 0; b < 4; b++)
		f->data[4 + b] = (uint8_t) (owner >> (8 * b));	/* xlp_tli */
	for (int b = 0; b < 8; b++)
		f->data[8 + b] = (uint8_t) (f->seg_start >> (8 * b));	/* xlp_pageaddr */
	memset(f->data + 16, 0, 8);	/* xlp_rem_len and padding */
	memset(f->have, 1, sizeof(tmpl));
	return true;
}

static bool
from_source(const char *source_file, const char *name, uint8_t **out, size_t *len)
{
	char	   *conninfo = source_file ? ctl_slurp(source_file, NULL) : NULL;
	PGconn	   *c;
	PGresult   *r;
	char		path[64];
	const char *params[1];
	bool		ok = false;

	if (conninfo == NULL)
		return false;
	conninfo[strcspn(conninfo, "\n")] = '\0';
	c = PQconnectdb(conninfo);
	free(conninfo);
	if (PQstatus(c) != CONNECTION_OK)
	{
		PQfinish(c);
		return false;
	}
	snprintf(path, sizeof(path), "pg_wal/%s", name);
	params[0] = path;
	r = PQexecParams(c, "SELECT pg_read_binary_file($1)", 1, NULL, params, NULL, NULL, 1);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
	{
		*len = (size_t) PQgetlength(r, 0, 0);
		*out = malloc(*len ? *len : 1);
		memcpy(*out, PQgetvalue(r, 0, 0), *len);
		ok = true;
	}
	PQclear(r);
	PQfinish(c);
	return ok;
}

int
dcf_ctl_restore_wal(int argc, char **argv)
{
	static struct option opts[] = {
		{"data-path", required_argument, NULL, 'P'},
		{"source-file", required_argument, NULL, 'S'},
		{"segment-bytes", required_argument, NULL, 'B'},
		{NULL, 0, NULL, 0}
	};
	const char *dpath = NULL;
	const char *source_file = NULL;
	const char *name;
	const char *dest;
	Fetch		f;
	int			c;
	uint8_t    *src = NULL;
	size_t		src_len = 0;
	const void *bytes = NULL;
	size_t		nbytes = 0;
	const char *from = NULL;
	int			rc = 1;

	memset(&f, 0, sizeof(f));
	f.seg_bytes = 16 * 1024 * 1024;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		if (c == 'P')
			dpath = optarg;
		else if (c == 'S')
			source_file = optarg;
		else if (c == 'B')
			f.seg_bytes = strtoull(optarg, NULL, 10);
		else
			return 2;
	}
	if (dpath == NULL || argc - optind != 2 || f.seg_bytes == 0 || (f.seg_bytes & (f.seg_bytes - 1)) != 0)
	{
		fprintf(stderr, "usage: dcf_ctl restore-wal --data-path=DPATH [--source-file=FILE] [--segment-bytes=N] WALFILE DEST\n");
		return 2;
	}
	name = argv[optind];
	dest = argv[optind + 1];
	{
		static char wal_dir[CTL_PATH_MAX];
		char	   *slash;

		snprintf(wal_dir, sizeof(wal_dir), "%s", dest);
		slash = strrchr(wal_dir, '/');
		if (slash)
		{
			*slash = '\0';
			f.history_dir = wal_dir;
		}
	}
	if (ctl_inject_is("restore_wal", "fail"))
	{
		fprintf(stderr, "dcf_ctl restore-wal: DCF_CTL_INJECT: %s not supplied\n", name);
		return 1;
	}
	if (strlen(name) == 16 && strcmp(name + 8, ".history") == 0)
	{
		unsigned int t;

		if (sscanf(name, "%08X", &t) != 1)
			return 1;
		f.tli = t;
		f.is_history = true;
		if (from_log(&f, dpath))
		{
			bytes = f.history;
			nbytes = f.history_len;
			from = "the consensus log";
		}
	}
	else
	{
		unsigned int t,
					hi,
					lo;

		if (strlen(name) != 24 || sscanf(name, "%08X%08X%08X", &t, &hi, &lo) != 3)
		{
			fprintf(stderr, "dcf_ctl restore-wal: \"%s\" is not a WAL file name\n", name);
			return 1;
		}
		f.tli = t;
		f.seg_start = ((uint64_t) hi * (UINT64_C(0x100000000) / f.seg_bytes) + lo) * f.seg_bytes;
		f.data = calloc(1, f.seg_bytes);
		f.have = calloc(1, f.seg_bytes);
		if (f.data == NULL || f.have == NULL)
			return 1;
		if (from_log(&f, dpath) && log_complete(&f))
		{
			bytes = f.data;
			nbytes = f.seg_bytes;
			from = "the consensus log";
		}
	}
	if (bytes == NULL && from_source(source_file, name, &src, &src_len) &&
		(f.is_history || src_len == f.seg_bytes))
	{
		bytes = src;
		nbytes = src_len;
		from = "the source server";
	}
	if (bytes == NULL && !f.is_history && f.have)
	{
		for (uint64_t i = 0; i < f.seg_bytes; i++)
			if (f.have[i])
			{
				if (!f.have[0] && !synthesize_first_page_header(&f, dest))
					break;
				bytes = f.data;
				nbytes = f.seg_bytes;
				from = f.have[WALFETCH_LONG_HEADER_BYTES] ? "the consensus log" :
					"the consensus log (from its first WAL on; the first page's header written)";
				break;
			}
	}
	if (bytes != NULL)
	{
		if (ctl_write_durable(dest, bytes, nbytes, 0600))
		{
			fprintf(stderr, "dcf_ctl restore-wal: %s from %s\n", name, from);
			rc = 0;
		}
		else
			fprintf(stderr, "dcf_ctl restore-wal: could not write \"%s\": %s\n", dest, strerror(errno));
	}
	else
		fprintf(stderr, "dcf_ctl restore-wal: %s is neither in the consensus log nor on the source\n", name);
	free(src);
	free(f.data);
	free(f.have);
	free(f.history);
	return rc;
}
