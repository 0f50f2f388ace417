/*
 * log_load.c — opening the log: metadata, segment files, validation of
 * every record, and the repair of a torn tail.  The rest of the log is in
 * log.c (invariants 1-5 there), the handle's layout in log_int.h.
 *
 * Torn tail or corruption: records are validated in log order.  At
 * the first thing that is wrong — a bad checksum, a short file, zeros
 * followed by data, a wrong index, term or key, a missing or extra segment
 * — let i be the index expected there.  Let F be the largest durable field
 * of any intact record header anywhere in the log (before and after the
 * damage; after it, found by scanning every aligned offset).  By (3) and
 * (4), if i <= F then entry i had been durable, and power loss cannot
 * damage durable data: the log is corrupt and loading refuses, naming the
 * file, the offset and what was wrong.  If i > F, entry i and everything
 * after it were never reported durable (durability is a prefix), so this
 * is a torn tail: it is cut there and later segments are removed.  The
 * remaining window — damage inside the very last group commit, with no
 * record written after it — is closed on a clean shutdown by the mark
 * record dcf_log_close() writes.
 */
#include "storage/log.h"
#include "storage/log_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- open: loading, torn-tail repair ------------------------------------ */

typedef struct seg_list
{
	uint64_t   *v;
	size_t		n;
	size_t		cap;
	int			nomem;
} seg_list;

static int
collect_segment(void *arg, const char *name)
{
	seg_list   *l = arg;
	uint64_t	first;

	if (!dcf_seg_parse_name(name, &first))
		return 0;
	if (log_grow((void **) &l->v, &l->cap, l->n + 1, sizeof(uint64_t)) != 0)
	{
		l->nomem = 1;
		return 1;
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

/* The first thing found wrong while loading. */
typedef struct load_problem
{
	int			found;
	size_t		seg;			/* index into the segment name list */
	uint64_t	off;
	uint64_t	expected;		/* the index expected there */
	char		why[128];
} load_problem;

static void
problem_set(load_problem *p, size_t seg, uint64_t off, uint64_t expected, const char *fmt,...)
	__attribute__((format(printf, 5, 6)));

static void
problem_set(load_problem *p, size_t seg, uint64_t off, uint64_t expected, const char *fmt,...)
{
	va_list		ap;

	p->found = 1;
	p->seg = seg;
	p->off = off;
	p->expected = expected;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
}

/* Opens a segment file by name for the loader. */
static int
open_segment(dcf_log *log, uint64_t first, char *path)
{
	char		name[DCF_SEG_NAME_MAX];

	dcf_seg_name(first, name);
	if (log_seg_path(log, name, path, NULL) != DCF_OK)
		return -ENAMETOOLONG;
	return log->io->open(log->io->ctx, path, log->opts.read_only ? DCF_IO_RDONLY : DCF_IO_RDWR);
}

/*
 * Reads one segment into the in-memory index.  Stops at the end of its
 * data or at the first problem (recorded in *p).  *max_durable is raised
 * by every record read.
 */
static dcf_rc
load_one_segment(dcf_log *log, size_t idx, uint64_t first, uint64_t *max_durable,
				 load_problem *p, char *errmsg)
{
	log_seg    *seg;
	dcf_seg_reader r;
	const uint8_t *hp;
	size_t		avail;
	uint64_t	hfirst;
	const char *why;
	uint64_t	off;
	dcf_rc		rc;

	if (log_grow((void **) &log->segs, &log->capsegs, log->nsegs + 1, sizeof(log_seg)) != 0)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
	seg = &log->segs[log->nsegs++];
	memset(seg, 0, sizeof(*seg));
	seg->first = first;
	seg->data_end = seg->end = DCF_SEG_HEADER_BYTES;
	if ((rc = log_seg_file(log, seg, errmsg)) != DCF_OK)
		return rc;
	if ((rc = dcf_seg_reader_open(&r, log->io, seg->file->fd, errmsg)) != DCF_OK)
		return dcf_errwrap(errmsg, rc, "%s/%s", log->dir, seg->file->name);
	if ((rc = dcf_seg_reader_peek(&r, 0, DCF_SEG_HEADER_BYTES, &hp, &avail, errmsg)) != DCF_OK)
		goto out;
	if (avail < DCF_SEG_HEADER_BYTES)
	{
		problem_set(p, idx, 0, log->last_index + 1, "file shorter than a segment header (%zu bytes)", avail);
		goto out;
	}
	if (dcf_seg_decode_header(hp, &hfirst, &why) != 0)
	{
		problem_set(p, idx, 0, log->last_index + 1, "%s", why);
		goto out;
	}
	if (hfirst != first)
	{
		problem_set(p, idx, 0, log->last_index + 1,
					"segment header says first index %" PRIu64 ", the file name %" PRIu64, hfirst, first);
		goto out;
	}
	off = DCF_SEG_HEADER_BYTES;
	for (;;)
	{
		dcf_seg_status st;
		dcf_seg_rec rec;
		uint64_t	expect = log->last_index + 1;
		int			empty = log->last_index < log->first_index;

		if ((rc = dcf_seg_read_record(&r, off, &st, &rec, NULL, &why, errmsg)) != DCF_OK)
		{
			dcf_errwrap(errmsg, rc, "%s/%s", log->dir, seg->file->name);
			goto out;
		}
		if (st == DCF_SEG_END)
			break;
		if (st == DCF_SEG_BAD)
		{
			problem_set(p, idx, off, expect, "%s", why);
			break;
		}
		if (rec.kind == DCF_SEG_KIND_MARK)
		{
			if (rec.index != expect - 1 || rec.term != log->last_term ||
				(!empty && rec.key != log->last_key))
			{
				problem_set(p, idx, off, expect, "mark record (index %" PRIu64 ", term %" PRIu64 ") does not match the entry before it",
							rec.index, rec.term);
				break;
			}
		}
		else if (rec.index != expect)
		{
			problem_set(p, idx, off, expect, "entry has index %" PRIu64, rec.index);
			break;
		}
		else if (rec.term < log->last_term)
		{
			problem_set(p, idx, off, expect, "term %" PRIu64 " below the previous term %" PRIu64,
						rec.term, log->last_term);
			break;
		}
		else if (!empty && rec.key < log->last_key)
		{
			problem_set(p, idx, off, expect, "key %" PRIu64 " below the previous key %" PRIu64,
						rec.key, log->last_key);
			break;
		}
		else if ((rc = log_push_entry(log, seg, off, rec.index, rec.term, rec.key, rec.length, errmsg)) != DCF_OK)
			goto out;
		if (rec.durable > *max_durable)
			*max_durable = rec.durable;
		off += dcf_seg_frame_bytes(rec.length);
		seg->end = off;
	}
out:
	dcf_seg_reader_close(&r);
	return rc;
}

/* Largest durable field in segment `first` from offset `from` on. */
static dcf_rc
scan_segment_durable(dcf_log *log, uint64_t first, uint64_t from, uint64_t *max_durable,
					 uint64_t *max_term, char *errmsg)
{
	char		path[DCF_PATH_MAX_BYTES];
	dcf_seg_reader r;
	uint64_t	found = 0;
	int			fd = open_segment(log, first, path);
	dcf_rc		rc;

	if (fd < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not open %s: %s", path, strerror(-fd));
	rc = dcf_seg_reader_open(&r, log->io, fd, errmsg);
	if (rc == DCF_OK)
	{
		rc = dcf_seg_scan_durable(&r, from, max_durable, max_term, &found, errmsg);
		dcf_seg_reader_close(&r);
	}
	log->io->close(log->io->ctx, fd);
	if (rc != DCF_OK)
		dcf_errwrap(errmsg, rc, "%s", path);
	return rc;
}

static dcf_rc
remove_file(dcf_log *log, uint64_t first, char *errmsg)
{
	char		name[DCF_SEG_NAME_MAX];
	char		path[DCF_PATH_MAX_BYTES];
	int			r;
	dcf_rc		rc;

	dcf_seg_name(first, name);
	if ((rc = log_seg_path(log, name, path, errmsg)) != DCF_OK)
		return rc;
	if ((r = log->io->unlink(log->io->ctx, path)) < 0 && r != -ENOENT)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not remove %s: %s", path, strerror(-r));
	return DCF_OK;
}

/*
 * Entries lost_index .. floor were durable (floor is proven by a record or
 * the metadata's mark) and are damaged or missing: the node may have
 * acknowledged them.  With opts.repair the load goes on like a torn tail,
 * but first the metadata records, durably, that the node must hold
 * entries up to floor again before it may vote or count toward a commit
 * (the repair index; the consensus core clears it), and lowers the durable
 * mark below the cut (invariant 6).  Writing the metadata before the cut
 * means a crash in between repeats the same repair.
 */
static dcf_rc
note_lost(dcf_log *log, uint64_t lost_index, uint64_t floor, uint64_t floor_term, char *errmsg)
{
	uint64_t	repair = floor;
	uint64_t	repair_term = floor_term;

	if (log->meta.repair_index > repair)
		repair = log->meta.repair_index;
	if (log->meta.repair_term > repair_term)
		repair_term = log->meta.repair_term;
	/* no term bound known (a format 1 mark): the current term bounds all */
	if (repair_term == 0 || repair_term > log->meta.term)
		repair_term = log->meta.term;
	if (repair_term < log->last_term)
		repair_term = log->last_term;
	log->info.lost = 1;
	log->info.lost_index = lost_index;
	log->info.repair_index = repair;
	log->info.repair_term = repair_term;
	if (!log->opts.read_only)
	{
		dcf_meta	m = log->meta;

		m.repair_index = repair;
		m.repair_term = repair_term;
		if (m.durable_index >= lost_index)
		{
			m.durable_index = lost_index - 1;
			m.durable_term = log->last_term;
		}
		return log_write_meta(log, &m, errmsg);
	}
	return DCF_OK;
}

static dcf_rc
log_load(dcf_log *log, seg_list *names, char *errmsg)
{
	load_problem p;
	uint64_t	max_durable;
	size_t		start = 0;
	int			r;
	dcf_rc		rc;

	memset(&p, 0, sizeof(p));
	log->last_index = log->first_index - 1;
	log->last_term = log->prev_term;
	log->last_key = 0;
	/* records can only prove durability above what recycling removed;
	 * the metadata's mark proves it up to the mark (invariant 6) */
	max_durable = log->first_index - 1;
	if (log->meta.durable_index > max_durable)
		max_durable = log->meta.durable_index;
	log->info.repair_index = log->meta.repair_index;
	log->info.repair_term = log->meta.repair_term;

	/* invariant 5: segments wholly below the first index are garbage */
	while (start + 1 < names->n && names->v[start + 1] <= log->first_index)
		start++;
	log->info.stale_segments = (uint32_t) start;
	if (start < names->n && names->v[start] < log->first_index)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT,
						"corrupt log in %s: segment starting at index %" PRIu64 " straddles the first index %" PRIu64 " recorded in %s"
						DCF_META_REBUILD_HINT,
						log->dir, names->v[start], log->first_index, DCF_META_FILE);
	if (!log->opts.read_only)
		for (size_t j = 0; j < start; j++)
			if ((rc = remove_file(log, names->v[j], errmsg)) != DCF_OK)
				return rc;

	for (size_t j = start; j < names->n && !p.found; j++)
	{
		if (names->v[j] != log->last_index + 1)
		{
			problem_set(&p, j, 0, log->last_index + 1, "segment starts at index %" PRIu64 " where index %" PRIu64 " was expected",
						names->v[j], log->last_index + 1);
			break;
		}
		if ((rc = load_one_segment(log, j, names->v[j], &max_durable, &p, errmsg)) != DCF_OK)
			return rc;
	}

	if (p.found)
	{
		char		name[DCF_SEG_NAME_MAX];
		uint64_t	floor = max_durable;
		/* a bound on the terms of the lost entries: the mark's term, and
		 * the terms of intact records after the damage (one of them, or
		 * the mark, proves the floor; terms never decrease) */
		uint64_t	floor_term = log->meta.durable_term;

		/* the durable floor, from intact headers at and after the damage */
		if ((rc = scan_segment_durable(log, names->v[p.seg], p.off, &floor, &floor_term, errmsg)) != DCF_OK)
			return rc;
		for (size_t j = p.seg + 1; j < names->n; j++)
			if ((rc = scan_segment_durable(log, names->v[j], 0, &floor, &floor_term, errmsg)) != DCF_OK)
				return rc;
		dcf_seg_name(names->v[p.seg], name);
		if (p.expected <= floor && !log->opts.repair)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"corrupt log segment %s/%s at offset %" PRIu64 ": %s (entry %" PRIu64 " is damaged or missing, but index %" PRIu64 " was durable)",
							log->dir, name, p.off, p.why, p.expected, floor);
		if (p.expected <= floor)
		{
			/* durable entries lost: cut them too, but remember them */
			if ((rc = note_lost(log, p.expected, floor, floor_term, errmsg)) != DCF_OK)
				return rc;
		}
		/* a torn tail: entry p.expected was never reported durable (or,
		 * with info.lost, the lost entries are cut like one) */
		log->info.torn = 1;
		log->info.torn_index = p.expected;
		log->info.torn_offset = p.off;
		memcpy(log->info.torn_file, name, sizeof(name));
		snprintf(log->info.torn_reason, sizeof(log->info.torn_reason), "%s", p.why);
		log->info.torn_segments_removed = (uint32_t) (names->n - p.seg - 1);
		max_durable = floor;
		/* a problem at offset 0 leaves nothing of its segment */
		if (p.off == 0)
		{
			if (log->nsegs > 0 && log->segs[log->nsegs - 1].first == names->v[p.seg])
			{
				log_seg_free(log, &log->segs[log->nsegs - 1]);
				log->nsegs--;
			}
			log->info.torn_segments_removed++;
		}
		if (!log->opts.read_only)
		{
			/* later segments first, newest first; then the cut */
			for (size_t j = names->n; j-- > p.seg + (p.off == 0 ? 0 : 1);)
				if ((rc = remove_file(log, names->v[j], errmsg)) != DCF_OK)
					return rc;
			if ((r = log->io->sync_dir(log->io->ctx, log->dir)) < 0)
				return dcf_errf(errmsg, DCF_ERR_IO, "could not fsync directory %s: %s", log->dir, strerror(-r));
			if (p.off != 0 && (rc = log_cut_newest(log, p.off, errmsg)) != DCF_OK)
				return rc;
			if (p.off != 0)
			{
				log_seg    *seg = &log->segs[log->nsegs - 1];

				seg->end = p.off;
			}
		}
	}
	else if (log->last_index < max_durable)
	{
		/* the log ends early, cleanly: a newest segment or the end of one
		 * is missing, below the mark the metadata recorded */
		if (!log->opts.repair)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"corrupt log in %s: the log ends at index %" PRIu64 ", but index %" PRIu64 " was durable (the durable mark in %s)",
							log->dir, log->last_index, max_durable, DCF_META_FILE);
		if ((rc = note_lost(log, log->last_index + 1, max_durable, log->meta.durable_term, errmsg)) != DCF_OK)
			return rc;
	}
	log->info.durable_floor = max_durable;
	log->info.segments = (uint32_t) log->nsegs;
	if (log->info.lost)
		max_durable = log->info.lost_index - 1;

	if (!log->opts.read_only)
	{
		/* entries above the floor may exist only in the page cache of a
		 * process that died: make them durable before reporting them */
		for (size_t j = 0; j < log->nsegs; j++)
		{
			log_seg    *seg = &log->segs[j];

			if (seg->first + seg->count - 1 <= max_durable && seg->count > 0)
				continue;
			if ((rc = log_seg_file(log, seg, errmsg)) != DCF_OK)
				return rc;
			if ((r = log->io->fdatasync(log->io->ctx, seg->file->fd)) < 0)
				return dcf_errf(errmsg, DCF_ERR_IO, "could not fdatasync %s/%s: %s",
								log->dir, seg->file->name, strerror(-r));
		}
		if ((r = log->io->sync_dir(log->io->ctx, log->dir)) < 0)
			return dcf_errf(errmsg, DCF_ERR_IO, "could not fsync directory %s: %s", log->dir, strerror(-r));
	}
	log->written_index = log->last_index;
	log->durable_index = log->last_index;
	return DCF_OK;
}

void
dcf_log_options_init(dcf_log_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->io = NULL;
	opts->segment_bytes = DCF_LOG_SEGMENT_BYTES_DEFAULT;
	opts->preallocate = 1;
	opts->read_only = 0;
	opts->create = 1;
	opts->direct_io = 1;
}

static void
parent_dir(const char *dir, char *out)
{
	const char *slash = strrchr(dir, '/');

	if (slash == NULL)
		snprintf(out, DCF_PATH_MAX_BYTES, ".");
	else if (slash == dir)
		snprintf(out, DCF_PATH_MAX_BYTES, "/");
	else
		snprintf(out, DCF_PATH_MAX_BYTES, "%.*s", (int) (slash - dir), dir);
}

static dcf_rc
log_open_inner(dcf_log *log, char *errmsg)
{
	char		path[DCF_PATH_MAX_BYTES];
	seg_list	names;
	dcf_meta	m;
	uint8_t    *mbuf = NULL;
	int			r;
	dcf_rc		rc;

	memset(&names, 0, sizeof(names));
	if (!log->opts.read_only && log->opts.create)
	{
		r = log->io->mkdir(log->io->ctx, log->dir);
		if (r == 0)
		{
			/* the new directory's own name must survive a crash too */
			parent_dir(log->dir, path);
			if ((r = log->io->sync_dir(log->io->ctx, path)) < 0)
				return dcf_errf(errmsg, DCF_ERR_IO, "could not fsync directory %s: %s", path, strerror(-r));
		}
		else if (r != -EEXIST)
			return dcf_errf(errmsg, DCF_ERR_IO, "could not create directory %s: %s", log->dir, strerror(-r));
	}
	if (!log->opts.read_only)
	{
		if ((rc = log_seg_path(log, DCF_LOG_LOCK_FILE, path, errmsg)) != DCF_OK)
			return rc;
		log->lock_fd = log->io->open(log->io->ctx, path, DCF_IO_RDWR | DCF_IO_CREATE);
		if (log->lock_fd < 0)
		{
			r = log->lock_fd;
			log->lock_fd = -1;
			if (r == -ENOENT)
				return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "no log in %s: no such directory", log->dir);
			return dcf_errf(errmsg, DCF_ERR_IO, "could not open %s: %s", path, strerror(-r));
		}
		if ((r = log->io->lock(log->io->ctx, log->lock_fd)) < 0)
			return dcf_errf(errmsg, r == -EWOULDBLOCK ? DCF_ERR_STATE : DCF_ERR_IO,
							"could not lock %s: %s", path,
							r == -EWOULDBLOCK ? "the log is in use by another process" : strerror(-r));
	}

	r = log->io->list_dir(log->io->ctx, log->dir, collect_segment, &names);
	if (names.nomem)
		rc = dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory listing %s", log->dir);
	else if (r == -ENOENT)
		rc = dcf_errf(errmsg, DCF_ERR_NOTFOUND, "no log in %s: no such directory", log->dir);
	else if (r < 0)
		rc = dcf_errf(errmsg, DCF_ERR_IO, "could not list %s: %s", log->dir, strerror(-r));
	else
		rc = DCF_OK;
	if (rc != DCF_OK)
		goto out;
	if (names.n > 1)
		qsort(names.v, names.n, sizeof(uint64_t), cmp_u64);

	rc = dcf_meta_read(log->io, log->dir, &m, &mbuf, errmsg);
	if (rc == DCF_ERR_NOTFOUND)
	{
		if (names.n > 0)
		{
			rc = dcf_errf(errmsg, DCF_ERR_CORRUPT, "corrupt log in %s: %zu segment files but no %s" DCF_META_REBUILD_HINT,
						  log->dir, names.n, DCF_META_FILE);
			goto out;
		}
		if (log->opts.read_only || !log->opts.create)
		{
			rc = dcf_errf(errmsg, DCF_ERR_NOTFOUND, "no log in %s: no %s", log->dir, DCF_META_FILE);
			goto out;
		}
		memset(&m, 0, sizeof(m));
		m.first_index = 1;
		if ((rc = log_write_meta(log, &m, errmsg)) != DCF_OK)
			goto out;
	}
	else if (rc != DCF_OK)
		goto out;
	else
	{
		memcpy(log->membership_buf, m.membership, m.membership_len);
		log->meta = m;
		log->meta.membership = log->membership_buf;
	}
	if (!log->opts.read_only)
	{
		/* a leftover of a save interrupted before its rename */
		if ((rc = log_seg_path(log, DCF_META_TMP_FILE, path, errmsg)) != DCF_OK)
			goto out;
		if ((r = log->io->unlink(log->io->ctx, path)) < 0 && r != -ENOENT)
		{
			rc = dcf_errf(errmsg, DCF_ERR_IO, "could not remove %s: %s", path, strerror(-r));
			goto out;
		}
	}
	log->first_index = log->meta.first_index;
	log->prev_term = log->meta.prev_term;
	rc = log_load(log, &names, errmsg);
out:
	free(mbuf);
	free(names.v);
	return rc;
}

dcf_rc
dcf_log_open(const char *dir, const dcf_log_options *opts, dcf_log **out, char *errmsg)
{
	dcf_log_options o;
	dcf_log    *log;
	dcf_rc		rc;

	*out = NULL;
	if (opts)
		o = *opts;
	else
		dcf_log_options_init(&o);
	if (o.io == NULL)
		o.io = dcf_io_posix();
	if (o.segment_bytes == 0)
		o.segment_bytes = DCF_LOG_SEGMENT_BYTES_DEFAULT;
	if (o.segment_bytes < DCF_LOG_SEGMENT_BYTES_MIN || o.segment_bytes > DCF_LOG_SEGMENT_BYTES_MAX)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "segment size %" PRIu64 " outside [%llu, %llu] bytes",
						o.segment_bytes, DCF_LOG_SEGMENT_BYTES_MIN, DCF_LOG_SEGMENT_BYTES_MAX);
	if (strlen(dir) + 1 + DCF_SEG_NAME_MAX >= DCF_PATH_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "data directory path too long");
	log = calloc(1, sizeof(*log));
	if (log == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
	log->io = o.io;
	log->opts = o;
	log->lock_fd = -1;
	snprintf(log->dir, sizeof(log->dir), "%s", dir);
	pthread_mutex_init(&log->mu, NULL);
	pthread_mutex_init(&log->sync_mu, NULL);
	log->hdrs = malloc(LOG_WRITE_CHUNK_ENTRIES * DCF_SEG_RECORD_HEADER_BYTES);
	log->iov = malloc(LOG_WRITE_CHUNK_IOVS * sizeof(struct iovec));
	log->membership_buf = malloc(DCF_META_MEMBERSHIP_MAX_BYTES);
	if (log->hdrs == NULL || log->iov == NULL || log->membership_buf == NULL)
	{
		log_free(log);
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
	}
	log->meta.membership = log->membership_buf;
	rc = log_open_inner(log, errmsg);
	if (rc != DCF_OK)
	{
		log_free(log);
		return rc;
	}
	*out = log;
	return DCF_OK;
}
