/*
 * ctl_logdump.c — `dcf_ctl log-dump`: prints the metadata, the segments and
 * the entries (index, term, type, key, length) of a stopped node's
 * consensus log, for operators.  Reads only; never repairs or changes a
 * file, so it is safe on a log the node would refuse to open.
 *
 *   dcf_ctl log-dump -D DATADIR | --data-path=PATH
 *                    [--from=INDEX] [--count=N] [--summary]
 *
 * Which directory: dcf.data_path (the storage directory, set in
 * postgresql.conf) is given with --data-path.  Without it, -D DATADIR
 * (the PostgreSQL data directory) means DATADIR/dcf_data, the default
 * location; dcf_ctl proper may resolve dcf.data_path from the node's
 * configuration before calling this.
 *
 * Every segment is walked record by record with the same validating reader
 * the server uses; damage is printed where it is found and the walk of that
 * segment stops there.  The last line is the verdict of the server's own
 * loader (dcf_log_open, read-only): "clean", "torn tail ... (the node cuts
 * it at its next start)", or "corrupt ... (the node refuses to start)".
 */
#include "ctl_logdump.h"

#include "storage/log.h"
#include "storage/meta.h"
#include "storage/segment.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGDUMP_DEFAULT_SUBDIR	"dcf_data"
#define LOGDUMP_SEGMENTS_MAX	100000	/* segment files listed */

typedef struct logdump_opts
{
	const char *pgdata;
	const char *data_path;
	uint64_t	from;			/* first index to print */
	uint64_t	count;			/* entries to print; UINT64_MAX = all */
	int			summary;		/* no entry lines */
} logdump_opts;

typedef struct name_list
{
	uint64_t   *v;
	size_t		n;
	size_t		cap;
} name_list;

static void
logdump_usage(FILE *out)
{
	fprintf(out,
			"Usage:\n"
			"  dcf_ctl log-dump -D DATADIR | --data-path=PATH [--from=INDEX] [--count=N] [--summary]\n\n"
			"Prints the metadata, segments and entries of a stopped node's consensus log.\n\n"
			"Options:\n"
			"  -D, --pgdata=DATADIR   PostgreSQL data directory; the log is read from\n"
			"                         DATADIR/" LOGDUMP_DEFAULT_SUBDIR " unless --data-path is given\n"
			"      --data-path=PATH   the log directory itself (dcf.data_path)\n"
			"      --from=INDEX       print entries from this index on\n"
			"      --count=N          print at most N entries\n"
			"      --summary          print metadata and segments only, no entries\n"
			"  -?, --help             print this help\n\n"
			"Exit status: 0 if the log would open (clean, or with a torn tail to cut),\n"
			"1 if entries that had been durable are damaged or missing (the node cuts\n"
			"them and fetches them again from the leader), if it is corrupt or\n"
			"unreadable, 2 on a usage error.\n");
}

static int
collect(void *arg, const char *name)
{
	name_list  *l = arg;
	uint64_t	first;

	if (!dcf_seg_parse_name(name, &first) || l->n >= LOGDUMP_SEGMENTS_MAX)
		return 0;
	if (l->n == l->cap)
	{
		size_t		cap = l->cap ? l->cap * 2 : 64;
		uint64_t   *v = realloc(l->v, cap * sizeof(uint64_t));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = first;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *) a;
	uint64_t	y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

static void
print_meta(const dcf_io *io, const char *dir)
{
	dcf_meta	m;
	uint8_t    *buf = NULL;
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc = dcf_meta_read(io, dir, &m, &buf, err);

	if (rc != DCF_OK)
	{
		printf("metadata: %s\n", err);
		return;
	}
	printf("metadata (%s, format %u):\n", DCF_META_FILE, m.format_version);
	printf("  term %" PRIu64 ", voted_for %u, applied_index %" PRIu64 "\n",
		   m.term, m.voted_for, m.applied_index);
	printf("  first_index %" PRIu64 ", term before it %" PRIu64 "\n", m.first_index, m.prev_term);
	printf("  durable mark %" PRIu64 ", repair index %" PRIu64 "%s\n", m.durable_index, m.repair_index,
		   m.repair_index ? " (the node neither votes nor counts toward commits until it holds it again)" : "");
	printf("  membership %u bytes\n", m.membership_len);
	free(buf);
}

/* Walks one segment; returns 0, or 1 if something in it is damaged. */
static int
dump_segment(const dcf_io *io, const char *dir, uint64_t first, const logdump_opts *o,
			 uint64_t *printed)
{
	char		name[DCF_SEG_NAME_MAX];
	char		path[DCF_PATH_MAX_BYTES];
	char		err[DCF_ERRMSG_MAX];
	dcf_seg_reader r;
	const uint8_t *hp;
	size_t		avail;
	uint64_t	hfirst = 0;
	uint64_t	off = DCF_SEG_HEADER_BYTES;
	uint64_t	entries = 0;
	uint64_t	marks = 0;
	uint64_t	lo = 0;
	uint64_t	hi = 0;
	const char *why = NULL;
	int			damaged = 0;
	int			fd;

	dcf_seg_name(first, name);
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int) sizeof(path))
	{
		printf("segment %s: path too long\n", name);
		return 1;
	}
	fd = io->open(io->ctx, path, DCF_IO_RDONLY);
	if (fd < 0)
	{
		printf("segment %s: cannot open: %s\n", name, strerror(-fd));
		return 1;
	}
	if (dcf_seg_reader_open(&r, io, fd, err) != DCF_OK)
	{
		printf("segment %s: %s\n", name, err);
		io->close(io->ctx, fd);
		return 1;
	}
	printf("segment %s (%" PRIu64 " bytes on disk)\n", name, r.size);
	if (dcf_seg_reader_peek(&r, 0, DCF_SEG_HEADER_BYTES, &hp, &avail, err) != DCF_OK)
	{
		printf("  !! %s\n", err);
		damaged = 1;
		goto out;
	}
	if (avail < DCF_SEG_HEADER_BYTES || dcf_seg_decode_header(hp, &hfirst, &why) != 0)
	{
		printf("  !! offset 0: %s\n", avail < DCF_SEG_HEADER_BYTES ? "file shorter than a segment header" : why);
		damaged = 1;
		goto out;
	}
	if (hfirst != first)
		printf("  !! offset 0: header says first index %" PRIu64 ", the file name %" PRIu64 "\n", hfirst, first);
	if (!o->summary)
		printf("  %12s %10s %5s %20s %8s %10s\n", "index", "term", "type", "key (lsn)", "length", "offset");
	for (;;)
	{
		dcf_seg_status st;
		dcf_seg_rec rec;

		if (dcf_seg_read_record(&r, off, &st, &rec, NULL, &why, err) != DCF_OK)
		{
			printf("  !! offset %" PRIu64 ": %s\n", off, err);
			damaged = 1;
			break;
		}
		if (st == DCF_SEG_END)
			break;
		if (st == DCF_SEG_BAD)
		{
			printf("  !! offset %" PRIu64 ": %s\n", off, why);
			damaged = 1;
			break;
		}
		if (rec.kind == DCF_SEG_KIND_MARK)
		{
			marks++;
			if (!o->summary)
				printf("  %12s mark: clean shutdown, durable through index %" PRIu64 " (offset %" PRIu64 ")\n",
					   "", rec.durable, off);
		}
		else
		{
			if (entries == 0)
				lo = rec.index;
			hi = rec.index;
			entries++;
			if (!o->summary && rec.index >= o->from && *printed < o->count)
			{
				char		lsn[24];

				snprintf(lsn, sizeof(lsn), "%X/%X", (unsigned) (rec.key >> 32), (unsigned) rec.key);
				printf("  %12" PRIu64 " %10" PRIu64 " %5u %20s %8u %10" PRIu64 "\n",
					   rec.index, rec.term, rec.type, lsn, rec.length, off);
				(*printed)++;
			}
		}
		off += dcf_seg_frame_bytes(rec.length);
	}
	if (entries)
		printf("  %" PRIu64 " entries [%" PRIu64 ", %" PRIu64 "], %" PRIu64 " close marks, data ends at offset %" PRIu64 "\n",
			   entries, lo, hi, marks, off);
	else
		printf("  no entries, %" PRIu64 " close marks, data ends at offset %" PRIu64 "\n", marks, off);
out:
	dcf_seg_reader_close(&r);
	io->close(io->ctx, fd);
	return damaged;
}

int
dcf_ctl_logdump(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{"pgdata", required_argument, NULL, 'D'},
		{"data-path", required_argument, NULL, 1},
		{"from", required_argument, NULL, 2},
		{"count", required_argument, NULL, 3},
		{"summary", no_argument, NULL, 4},
		{"help", no_argument, NULL, 5},
		{NULL, 0, NULL, 0}
	};
	logdump_opts o;
	char		dir[DCF_PATH_MAX_BYTES];
	char		err[DCF_ERRMSG_MAX];
	const dcf_io *io = dcf_io_posix();
	name_list	names;
	dcf_log_options lo;
	dcf_log    *log = NULL;
	uint64_t	printed = 0;
	int			c;
	int			r;
	dcf_rc		rc;

	memset(&o, 0, sizeof(o));
	o.count = UINT64_MAX;
	/* the caller may have parsed its own options already: start afresh */
	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "D:?", long_opts, NULL)) != -1)
	{
		char	   *end = NULL;

		switch (c)
		{
			case 'D':
				o.pgdata = optarg;
				break;
			case 1:
				o.data_path = optarg;
				break;
			case 2:
			case 3:
				errno = 0;
				{
					unsigned long long v = strtoull(optarg, &end, 10);

					if (errno || end == optarg || *end != '\0')
					{
						fprintf(stderr, "log-dump: invalid number \"%s\"\n", optarg);
						return 2;
					}
					if (c == 2)
						o.from = v;
					else
						o.count = v;
				}
				break;
			case 4:
				o.summary = 1;
				break;
			case 5:
				logdump_usage(stdout);
				return 0;
			case '?':
				/* "-?" asks for help; anything else getopt already reported */
				if (optind > 0 && strcmp(argv[optind - 1], "-?") == 0)
				{
					logdump_usage(stdout);
					return 0;
				}
				logdump_usage(stderr);
				return 2;
			default:
				logdump_usage(stderr);
				return 2;
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "log-dump: unexpected argument \"%s\"\n", argv[optind]);
		logdump_usage(stderr);
		return 2;
	}
	if (o.data_path)
		r = snprintf(dir, sizeof(dir), "%s", o.data_path);
	else if (o.pgdata)
		r = snprintf(dir, sizeof(dir), "%s/%s", o.pgdata, LOGDUMP_DEFAULT_SUBDIR);
	else
	{
		fprintf(stderr, "log-dump: give the log directory with --data-path, or the data directory with -D\n");
		logdump_usage(stderr);
		return 2;
	}
	if (r < 0 || (size_t) r >= sizeof(dir))
	{
		fprintf(stderr, "log-dump: path too long\n");
		return 2;
	}

	printf("log directory: %s\n", dir);
	print_meta(io, dir);

	memset(&names, 0, sizeof(names));
	r = io->list_dir(io->ctx, dir, collect, &names);
	if (r < 0)
	{
		fprintf(stderr, "log-dump: could not list %s: %s\n", dir, strerror(-r));
		free(names.v);
		return 1;
	}
	if (names.n > 1)
		qsort(names.v, names.n, sizeof(uint64_t), cmp_u64);
	printf("segments: %zu\n", names.n);
	for (size_t i = 0; i < names.n; i++)
		dump_segment(io, dir, names.v[i], &o, &printed);
	free(names.v);

	/* the verdict of the server's own loader, without repairing anything */
	dcf_log_options_init(&lo);
	lo.read_only = 1;
	lo.repair = 1;
	rc = dcf_log_open(dir, &lo, &log, err);
	if (rc == DCF_OK)
	{
		const dcf_log_open_info *info = dcf_log_info(log);
		int			lost = info->lost;

		if (info->lost)
			printf("log: DAMAGED: entries from %" PRIu64 " on are damaged or missing though index %" PRIu64 " was durable%s%s%s%s%s; "
				   "the node keeps [%" PRIu64 ", %" PRIu64 "] and fetches the rest from the leader, voting again once it holds index %" PRIu64 "\n",
				   info->lost_index, info->durable_floor,
				   info->torn ? " (" : "", info->torn ? info->torn_file : "", info->torn ? ": " : "",
				   info->torn ? info->torn_reason : "", info->torn ? ")" : "",
				   dcf_log_first_index(log), dcf_log_last_index(log), info->repair_index);
		else if (info->torn)
			printf("log: torn tail in %s at offset %" PRIu64 " (entry %" PRIu64 ": %s); the node cuts it at its next start, keeping [%" PRIu64 ", %" PRIu64 "]\n",
				   info->torn_file, info->torn_offset, info->torn_index, info->torn_reason,
				   dcf_log_first_index(log), dcf_log_last_index(log));
		else
			printf("log: clean, entries [%" PRIu64 ", %" PRIu64 "], durable through %" PRIu64 " by its own records\n",
				   dcf_log_first_index(log), dcf_log_last_index(log), info->durable_floor);
		if (info->stale_segments)
			printf("log: %u segments below the first index are left over from recycling; the node removes them\n",
				   info->stale_segments);
		if (!lost && info->repair_index)
			printf("log: a repair is pending: the node neither votes nor counts toward commits until it holds index %" PRIu64 " again\n",
				   info->repair_index);
		dcf_log_close(log, err);
		return lost ? 1 : 0;
	}
	if (rc == DCF_ERR_CORRUPT)
		printf("log: CORRUPT: %s; the node refuses to start\n", err);
	else
		printf("log: cannot be opened: %s\n", err);
	return 1;
}
