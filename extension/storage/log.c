/*
 * log.c — the durable consensus log: segments, group commit, lookups,
 * truncation and crash recovery.  API and contract in log.h, on-disk
 * format in segment.h and meta.h.
 *
 * Invariants (numbered; the code refers to them):
 *
 *  1. Indexes in the segments are contiguous from first_index to
 *     last_index, terms and keys non-decreasing; segment k+1 starts right
 *     after the last entry of segment k.  Checked on append and on load.
 *
 *  2. written_index <= last_index; durable_index <= written_index except
 *     transiently inside a truncation, which holds sync_mu.  Everything at
 *     or below durable_index has been fdatasync'ed, and the directory entry
 *     of every segment holding it has been synced.
 *
 *  3. Every record carries in its "durable" field the durable_index at the
 *     moment it was written, which is below its own index.  So if any
 *     intact record header says d, every entry up to d was durable when
 *     that record was written.
 *
 *  4. A truncation never leaves a record with a durable field >= an index
 *     it removed: the suffix is removed and made durable (ftruncate +
 *     fdatasync, unlink + directory fsync, newest segment first) before
 *     durable_index is lowered and anything new is written.
 *
 *  5. The metadata's first_index is made durable before any segment below
 *     it is removed; a segment wholly below first_index is garbage.
 *
 * Torn tail or corruption (load): records are validated in log order.  At
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
 *
 * Threads (see log.h): `mu` protects written_index, durable_index, the
 * dirty-file list, dir_dirty, failed, and the reference counts of
 * log_file; `sync_mu` is held for a whole sync and by every operation that
 * removes or truncates files, so a sync never races a truncation.
 * Everything else belongs to the owner thread.  Files are reference
 * counted because a helper thread may be fdatasync'ing a segment the owner
 * has just stopped using.
 */
#include "storage/log.h"

#include "core/crc32c.h"
#include "core/dcf_assert.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* entries per pwritev: three iovecs each (header, payload, padding),
 * well under Linux's IOV_MAX of 1024 */
#define LOG_WRITE_CHUNK_ENTRIES 256
#define LOG_WRITE_CHUNK_IOVS	(3 * LOG_WRITE_CHUNK_ENTRIES)

static const uint8_t zero_pad[DCF_SEG_ALIGN];

/*
 * Zeros ahead of the appends.  fallocate() reserves a segment's blocks as
 * unwritten extents, and the first write into such an extent changes the
 * file's metadata, so an fdatasync after it must also write the inode: on
 * ext4 that is a second synchronous I/O per group commit (a journal commit
 * with a journal, the inode block without one).  PostgreSQL zero-fills its
 * WAL segments for the same reason.  The log instead writes zeros a step
 * ahead of the newest record as appends reach them, so only one group
 * commit per step pays for the metadata.  The zeros are never made durable
 * on their own and are never needed: past the last record, zeros and an
 * unwritten extent read the same, and the loader stops at either.
 */
#define LOG_ZERO_AHEAD_BYTES	(1024 * 1024)
#define LOG_ZERO_BUF_BYTES		(64 * 1024)
static const uint8_t zero_buf[LOG_ZERO_BUF_BYTES];

typedef struct log_file
{
	int			fd;
	int			refs;			/* under mu */
	int			dirty;			/* in the dirty list; under mu */
	char		name[DCF_SEG_NAME_MAX];
} log_file;

typedef struct log_seg
{
	uint64_t	first;			/* first index (the file name) */
	uint64_t	count;			/* entries */
	uint64_t	cap;
	uint32_t   *offs;			/* offs[i]: offset of entry first + i */
	uint64_t   *keys;			/* keys[i]: key of entry first + i */
	uint64_t	data_end;		/* end of the last entry's frame */
	uint64_t	end;			/* end of the last record (marks included) */
	uint64_t	zeroed_end;		/* written (records or zeros) up to here at least */
	log_file   *file;			/* owner's reference, NULL when closed */
	uint64_t	used_tick;
} log_seg;

typedef struct log_term_run
{
	uint64_t	index;			/* first index with this term */
	uint64_t	term;
} log_term_run;

struct dcf_log
{
	const dcf_io *io;
	dcf_log_options opts;
	char		dir[DCF_PATH_MAX_BYTES];
	int			lock_fd;

	dcf_meta	meta;			/* membership points at membership_buf */
	uint8_t    *membership_buf; /* DCF_META_MEMBERSHIP_MAX_BYTES */

	/* owner thread */
	log_seg    *segs;
	size_t		nsegs;
	size_t		capsegs;
	uint64_t	first_index;
	uint64_t	last_index;
	uint64_t	last_term;
	uint64_t	last_key;
	uint64_t	prev_term;
	log_term_run *runs;
	size_t		nruns;
	size_t		capruns;
	size_t		open_files;
	uint64_t	tick;
	uint8_t    *hdrs;			/* LOG_WRITE_CHUNK_ENTRIES record headers */
	struct iovec *iov;			/* LOG_WRITE_CHUNK_IOVS */
	const void *crc_data[LOG_WRITE_CHUNK_ENTRIES];	/* payload checksum input */
	uint32_t	crc_len[LOG_WRITE_CHUNK_ENTRIES];
	uint32_t	crc[LOG_WRITE_CHUNK_ENTRIES];

	/* shared with a sync thread */
	pthread_mutex_t sync_mu;
	pthread_mutex_t mu;
	uint64_t	written_index;
	uint64_t	durable_index;
	log_file  **dirty;
	size_t		ndirty;
	size_t		capdirty;
	log_file  **syncing;		/* the sync holder's copy of the dirty list */
	size_t		capsyncing;
	int			dir_dirty;
	int			failed;
	char		failmsg[DCF_ERRMSG_MAX];

	dcf_log_open_info info;
};

/* ---- small helpers ------------------------------------------------------ */

static dcf_rc
seg_path(const dcf_log *log, const char *name, char *out, char *errmsg)
{
	int			n = snprintf(out, DCF_PATH_MAX_BYTES, "%s/%s", log->dir, name);

	if (n < 0 || n >= DCF_PATH_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "path of %s in %s too long", name, log->dir);
	return DCF_OK;
}

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t		ncap;
	void	   *q;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 8;
	while (ncap < need)
		ncap *= 2;
	q = realloc(*p, ncap * elem);
	if (q == NULL)
		return -1;
	*p = q;
	*cap = ncap;
	return 0;
}

/* Enter the failed state (see log.h); errmsg already describes why. */
static dcf_rc
log_fail(dcf_log *log, dcf_rc rc, char *errmsg)
{
	pthread_mutex_lock(&log->mu);
	if (!log->failed)
	{
		log->failed = 1;
		snprintf(log->failmsg, sizeof(log->failmsg), "%s", errmsg ? errmsg : "i/o error");
	}
	pthread_mutex_unlock(&log->mu);
	return rc;
}

static dcf_rc
log_check_writable(dcf_log *log, char *errmsg)
{
	dcf_rc		rc = DCF_OK;

	if (log->opts.read_only)
		return dcf_errf(errmsg, DCF_ERR_STATE, "log %s is open read-only", log->dir);
	pthread_mutex_lock(&log->mu);
	if (log->failed)
		rc = dcf_errf(errmsg, DCF_ERR_IO, "log %s is unusable after an earlier i/o error: %s",
					  log->dir, log->failmsg);
	pthread_mutex_unlock(&log->mu);
	return rc;
}

static void
file_release_locked(dcf_log *log, log_file *f)
{
	DCF_ASSERT(f->refs > 0);
	if (--f->refs == 0)
	{
		log->io->close(log->io->ctx, f->fd);
		free(f);
	}
}

static void
file_release(dcf_log *log, log_file *f)
{
	pthread_mutex_lock(&log->mu);
	file_release_locked(log, f);
	pthread_mutex_unlock(&log->mu);
}

/* Called with mu held: remember that f has writes not yet fdatasync'ed. */
static int
mark_dirty_locked(dcf_log *log, log_file *f)
{
	if (f->dirty)
		return 0;
	if (grow((void **) &log->dirty, &log->capdirty, log->ndirty + 1, sizeof(log_file *)) != 0)
		return -1;
	f->dirty = 1;
	f->refs++;
	log->dirty[log->ndirty++] = f;
	return 0;
}

/* Forget a file that is being removed from the dirty list (mu held). */
static void
undirty_locked(dcf_log *log, log_file *f)
{
	for (size_t i = 0; i < log->ndirty; i++)
		if (log->dirty[i] == f)
		{
			log->dirty[i] = log->dirty[--log->ndirty];
			f->dirty = 0;
			file_release_locked(log, f);
			return;
		}
}

static void
seg_close_file(dcf_log *log, log_seg *seg)
{
	if (seg->file)
	{
		file_release(log, seg->file);
		seg->file = NULL;
		log->open_files--;
	}
}

static void
seg_free(dcf_log *log, log_seg *seg)
{
	seg_close_file(log, seg);
	free(seg->offs);
	free(seg->keys);
	memset(seg, 0, sizeof(*seg));
}

/* Opens seg's file if needed, closing the least recently used others. */
static dcf_rc
seg_file(dcf_log *log, log_seg *seg, char *errmsg)
{
	char		name[DCF_SEG_NAME_MAX];
	char		path[DCF_PATH_MAX_BYTES];
	log_file   *f;
	int			fd;
	dcf_rc		rc;

	seg->used_tick = ++log->tick;
	if (seg->file)
		return DCF_OK;
	while (log->open_files >= DCF_LOG_OPEN_FILES_MAX)
	{
		log_seg    *victim = NULL;

		/* never the newest segment: appends keep it open */
		for (size_t i = 0; i + 1 < log->nsegs; i++)
			if (log->segs[i].file && (victim == NULL || log->segs[i].used_tick < victim->used_tick))
				victim = &log->segs[i];
		if (victim == NULL)
			break;
		seg_close_file(log, victim);
	}
	dcf_seg_name(seg->first, name);
	if ((rc = seg_path(log, name, path, errmsg)) != DCF_OK)
		return rc;
	fd = log->io->open(log->io->ctx, path, log->opts.read_only ? DCF_IO_RDONLY : DCF_IO_RDWR);
	if (fd < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not open %s: %s", path, strerror(-fd));
	f = calloc(1, sizeof(*f));
	if (f == NULL)
	{
		log->io->close(log->io->ctx, fd);
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
	}
	f->fd = fd;
	f->refs = 1;
	memcpy(f->name, name, sizeof(name));
	seg->file = f;
	log->open_files++;
	return DCF_OK;
}

static int
seg_reserve(log_seg *seg, uint64_t need)
{
	uint64_t	ncap;
	void	   *a;
	void	   *b;

	if (need <= seg->cap)
		return 0;
	ncap = seg->cap ? seg->cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	a = realloc(seg->offs, ncap * sizeof(uint32_t));
	if (a == NULL)
		return -1;
	seg->offs = a;
	b = realloc(seg->keys, ncap * sizeof(uint64_t));
	if (b == NULL)
		return -1;
	seg->keys = b;
	seg->cap = ncap;
	return 0;
}

static dcf_rc
log_push_entry(dcf_log *log, log_seg *seg, uint64_t off, uint64_t index, uint64_t term,
			   uint64_t key, uint32_t len, char *errmsg)
{
	DCF_ASSERT(index == seg->first + seg->count);
	DCF_ASSERT(off <= UINT32_MAX);
	if (seg_reserve(seg, seg->count + 1) != 0)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory indexing entry %" PRIu64, index);
	if (log->nruns == 0 || log->runs[log->nruns - 1].term != term)
	{
		if (grow((void **) &log->runs, &log->capruns, log->nruns + 1, sizeof(log_term_run)) != 0)
			return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory indexing entry %" PRIu64, index);
		log->runs[log->nruns].index = index;
		log->runs[log->nruns].term = term;
		log->nruns++;
	}
	seg->offs[seg->count] = (uint32_t) off;
	seg->keys[seg->count] = key;
	seg->count++;
	seg->data_end = off + dcf_seg_frame_bytes(len);
	log->last_index = index;
	log->last_term = term;
	log->last_key = key;
	return DCF_OK;
}

/* Index of the segment holding index, which must be in the log. */
static size_t
seg_find(const dcf_log *log, uint64_t index)
{
	size_t		lo = 0;
	size_t		hi = log->nsegs;

	/* the last segment whose first <= index */
	while (hi - lo > 1)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (log->segs[mid].first <= index)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static void
runs_truncate_from(dcf_log *log, uint64_t from)
{
	while (log->nruns > 0 && log->runs[log->nruns - 1].index >= from)
		log->nruns--;
}

static void
runs_trim_below(dcf_log *log, uint64_t first)
{
	size_t		k = 0;

	while (k + 1 < log->nruns && log->runs[k + 1].index <= first)
		k++;
	if (k > 0)
	{
		memmove(log->runs, log->runs + k, (log->nruns - k) * sizeof(log_term_run));
		log->nruns -= k;
	}
}

static dcf_rc
write_all(dcf_log *log, log_file *f, struct iovec *iov, int iovcnt, uint64_t off, char *errmsg)
{
	while (iovcnt > 0)
	{
		ssize_t		n = log->io->pwritev(log->io->ctx, f->fd, iov, iovcnt, off);

		if (n < 0)
			return dcf_errf(errmsg, DCF_ERR_IO, "could not write to %s/%s at offset %" PRIu64 ": %s",
							log->dir, f->name, off, strerror((int) -n));
		if (n == 0)
			return dcf_errf(errmsg, DCF_ERR_IO, "could not write to %s/%s at offset %" PRIu64 ": no progress",
							log->dir, f->name, off);
		off += (uint64_t) n;
		/* a short write: skip what went out and continue */
		while (iovcnt > 0 && (size_t) n >= iov->iov_len)
		{
			n -= (ssize_t) iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0)
		{
			iov->iov_base = (char *) iov->iov_base + n;
			iov->iov_len -= (size_t) n;
		}
	}
	return DCF_OK;
}

/* ---- metadata ----------------------------------------------------------- */

static dcf_rc
log_write_meta(dcf_log *log, const dcf_meta *m, char *errmsg)
{
	dcf_rc		rc = dcf_meta_write(log->io, log->dir, m, errmsg);

	if (rc != DCF_OK)
		return log_fail(log, rc, errmsg);
	if (m->membership_len && m->membership != log->membership_buf)
		memmove(log->membership_buf, m->membership, m->membership_len);
	log->meta = *m;
	log->meta.membership = log->membership_buf;
	log->meta.format_version = DCF_META_VERSION;
	return DCF_OK;
}

const dcf_meta *
dcf_log_meta(const dcf_log *log)
{
	return &log->meta;
}

dcf_rc
dcf_log_save_meta(dcf_log *log, const dcf_meta *meta, char *errmsg)
{
	dcf_meta	m;
	dcf_rc		rc;

	if ((rc = log_check_writable(log, errmsg)) != DCF_OK)
		return rc;
	if (meta->membership_len > DCF_META_MEMBERSHIP_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "membership of %u bytes exceeds the maximum of %d",
						meta->membership_len, DCF_META_MEMBERSHIP_MAX_BYTES);
	if (meta->membership_len && meta->membership == NULL)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "membership length without membership bytes");
	m = *meta;
	m.first_index = log->first_index;
	m.prev_term = log->prev_term;
	return log_write_meta(log, &m, errmsg);
}

/* ---- sync --------------------------------------------------------------- */

/* The group commit; the caller holds sync_mu. */
static dcf_rc
log_sync_locked(dcf_log *log, char *errmsg)
{
	uint64_t	target;
	size_t		n;
	int			need_dir;
	log_file  **tmp;
	dcf_rc		rc = DCF_OK;

	pthread_mutex_lock(&log->mu);
	if (log->failed)
	{
		rc = dcf_errf(errmsg, DCF_ERR_IO, "log %s is unusable after an earlier i/o error: %s",
					  log->dir, log->failmsg);
		pthread_mutex_unlock(&log->mu);
		return rc;
	}
	target = log->written_index;
	if (target <= log->durable_index && log->ndirty == 0 && !log->dir_dirty)
	{
		pthread_mutex_unlock(&log->mu);
		return DCF_OK;
	}
	/* take the dirty list: writes from now on dirty the files again */
	tmp = log->syncing;
	log->syncing = log->dirty;
	log->dirty = tmp;
	n = log->ndirty;
	log->ndirty = 0;
	{
		size_t		c = log->capsyncing;

		log->capsyncing = log->capdirty;
		log->capdirty = c;
	}
	for (size_t i = 0; i < n; i++)
		log->syncing[i]->dirty = 0;
	need_dir = log->dir_dirty;
	log->dir_dirty = 0;
	pthread_mutex_unlock(&log->mu);

	for (size_t i = 0; i < n && rc == DCF_OK; i++)
	{
		int			r = log->io->fdatasync(log->io->ctx, log->syncing[i]->fd);

		if (r < 0)
			rc = dcf_errf(errmsg, DCF_ERR_IO, "could not fdatasync %s/%s: %s",
						  log->dir, log->syncing[i]->name, strerror(-r));
	}
	if (rc == DCF_OK && need_dir)
	{
		int			r = log->io->sync_dir(log->io->ctx, log->dir);

		if (r < 0)
			rc = dcf_errf(errmsg, DCF_ERR_IO, "could not fsync directory %s: %s",
						  log->dir, strerror(-r));
	}

	pthread_mutex_lock(&log->mu);
	if (rc != DCF_OK)
	{
		/* never retried: see log.h */
		if (!log->failed)
		{
			log->failed = 1;
			snprintf(log->failmsg, sizeof(log->failmsg), "%s", errmsg ? errmsg : "fdatasync failed");
		}
	}
	else if (target > log->durable_index)
		log->durable_index = target;
	for (size_t i = 0; i < n; i++)
		file_release_locked(log, log->syncing[i]);
	pthread_mutex_unlock(&log->mu);
	return rc;
}

dcf_rc
dcf_log_sync(dcf_log *log, uint64_t *durable_index, char *errmsg)
{
	dcf_rc		rc = DCF_OK;

	if (!log->opts.read_only)
	{
		pthread_mutex_lock(&log->sync_mu);
		rc = log_sync_locked(log, errmsg);
		pthread_mutex_unlock(&log->sync_mu);
	}
	if (durable_index)
		*durable_index = dcf_log_durable_index(log);
	return rc;
}

uint64_t
dcf_log_durable_index(dcf_log *log)
{
	uint64_t	d;

	pthread_mutex_lock(&log->mu);
	d = log->durable_index;
	pthread_mutex_unlock(&log->mu);
	return d;
}

/* ---- append ------------------------------------------------------------- */

static dcf_rc
log_create_segment(dcf_log *log, uint64_t first, char *errmsg)
{
	char		name[DCF_SEG_NAME_MAX];
	char		path[DCF_PATH_MAX_BYTES];
	uint8_t		hdr[DCF_SEG_HEADER_BYTES];
	struct iovec iov;
	log_seg    *seg;
	log_file   *f;
	int			fd;
	int			r;
	dcf_rc		rc;

	if (grow((void **) &log->segs, &log->capsegs, log->nsegs + 1, sizeof(log_seg)) != 0)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
	dcf_seg_name(first, name);
	if ((rc = seg_path(log, name, path, errmsg)) != DCF_OK)
		return rc;
	/* EXCL: a stale file of this name would mean invariant 4 was broken */
	fd = log->io->open(log->io->ctx, path, DCF_IO_RDWR | DCF_IO_CREATE | DCF_IO_EXCL);
	if (fd < 0)
		return log_fail(log, dcf_errf(errmsg, DCF_ERR_IO, "could not create %s: %s", path, strerror(-fd)), errmsg);
	f = calloc(1, sizeof(*f));
	if (f == NULL)
	{
		log->io->close(log->io->ctx, fd);
		return log_fail(log, dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory"), errmsg);
	}
	f->fd = fd;
	f->refs = 1;
	memcpy(f->name, name, sizeof(name));
	/* from here the segment is in the list, so errors free it with the log */
	seg = &log->segs[log->nsegs++];
	memset(seg, 0, sizeof(*seg));
	seg->first = first;
	seg->file = f;
	seg->used_tick = ++log->tick;
	seg->data_end = seg->end = DCF_SEG_HEADER_BYTES;
	log->open_files++;

	if (log->opts.preallocate)
	{
		r = log->io->fallocate(log->io->ctx, fd, 0, log->opts.segment_bytes);
		if (r < 0 && r != -EOPNOTSUPP)
			return log_fail(log, dcf_errf(errmsg, DCF_ERR_IO, "could not preallocate %s: %s",
										  path, strerror(-r)), errmsg);
	}
	dcf_seg_encode_header(first, hdr);
	iov.iov_base = hdr;
	iov.iov_len = sizeof(hdr);
	if ((rc = write_all(log, f, &iov, 1, 0, errmsg)) != DCF_OK)
		return log_fail(log, rc, errmsg);
	pthread_mutex_lock(&log->mu);
	log->dir_dirty = 1;
	r = mark_dirty_locked(log, f);
	pthread_mutex_unlock(&log->mu);
	if (r != 0)
		return log_fail(log, dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory"), errmsg);
	/* keep the previous newest segment's descriptor within the bound */
	if (log->open_files > DCF_LOG_OPEN_FILES_MAX && log->nsegs >= 2)
		seg_close_file(log, &log->segs[log->nsegs - 2]);
	return DCF_OK;
}

/*
 * Before records up to offset `upto` of the newest segment are written:
 * write zeros from where the file is known written up to a step past
 * `upto` (never past the segment's size, never below seg->end, so no
 * record is ever overwritten).
 */
static dcf_rc
seg_zero_ahead(dcf_log *log, log_seg *seg, uint64_t upto, char *errmsg)
{
	uint64_t	from = seg->zeroed_end > seg->end ? seg->zeroed_end : seg->end;
	uint64_t	to = upto + LOG_ZERO_AHEAD_BYTES;
	struct iovec iov[LOG_ZERO_AHEAD_BYTES / LOG_ZERO_BUF_BYTES + 1];
	int			iovcnt = 0;
	dcf_rc		rc;

	if (!log->opts.preallocate || upto <= from)
		return DCF_OK;
	if (to > log->opts.segment_bytes)
		to = log->opts.segment_bytes;
	if (to <= from)
		return DCF_OK;
	for (uint64_t off = from; off < to && iovcnt < (int) (sizeof(iov) / sizeof(iov[0]));)
	{
		uint64_t	n = to - off < LOG_ZERO_BUF_BYTES ? to - off : LOG_ZERO_BUF_BYTES;

		iov[iovcnt].iov_base = (void *) zero_buf;
		iov[iovcnt++].iov_len = (size_t) n;
		off += n;
	}
	if ((rc = write_all(log, seg->file, iov, iovcnt, from, errmsg)) != DCF_OK)
		return rc;
	seg->zeroed_end = to;
	return DCF_OK;
}

static dcf_rc
check_entries(const dcf_log *log, const dcf_log_entry *e, size_t n, char *errmsg)
{
	uint64_t	index = log->last_index;
	uint64_t	term = log->last_term;
	uint64_t	key = log->last_index >= log->first_index ? log->last_key : 0;

	for (size_t i = 0; i < n; i++)
	{
		if (e[i].index != index + 1)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "append of index %" PRIu64 " where index %" PRIu64 " was expected",
							e[i].index, index + 1);
		if (e[i].term < term)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "append of index %" PRIu64 " with term %" PRIu64 " below the previous term %" PRIu64,
							e[i].index, e[i].term, term);
		if (e[i].key < key)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "append of index %" PRIu64 " with key %" PRIu64 " below the previous key %" PRIu64,
							e[i].index, e[i].key, key);
		if (e[i].len > DCF_LOG_ENTRY_MAX_BYTES)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "entry %" PRIu64 " of %u bytes exceeds the maximum of %d",
							e[i].index, e[i].len, DCF_LOG_ENTRY_MAX_BYTES);
		if (e[i].len > 0 && e[i].data == NULL)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "entry %" PRIu64 " has a length but no data", e[i].index);
		index = e[i].index;
		term = e[i].term;
		key = e[i].key;
	}
	return DCF_OK;
}

dcf_rc
dcf_log_append(dcf_log *log, const dcf_log_entry *entries, size_t n, char *errmsg)
{
	uint64_t	hint;
	size_t		i = 0;
	dcf_rc		rc;

	if ((rc = log_check_writable(log, errmsg)) != DCF_OK)
		return rc;
	if ((rc = check_entries(log, entries, n, errmsg)) != DCF_OK)
		return rc;
	pthread_mutex_lock(&log->mu);
	hint = log->durable_index;	/* invariant 3 */
	pthread_mutex_unlock(&log->mu);

	while (i < n)
	{
		log_seg    *seg;
		uint64_t	pos;
		size_t		k;
		int			iovcnt = 0;
		int			r;

		if (log->nsegs == 0 &&
			(rc = log_create_segment(log, entries[i].index, errmsg)) != DCF_OK)
			return rc;
		seg = &log->segs[log->nsegs - 1];
		if ((rc = seg_file(log, seg, errmsg)) != DCF_OK)
			return log_fail(log, rc, errmsg);
		pos = seg->end;
		/* payload checksums of the whole chunk first, several at a time */
		{
			size_t		m = n - i < LOG_WRITE_CHUNK_ENTRIES ? n - i : LOG_WRITE_CHUNK_ENTRIES;

			for (size_t j = 0; j < m; j++)
			{
				log->crc_data[j] = entries[i + j].data;
				log->crc_len[j] = entries[i + j].len;
			}
			dcf_seg_crc32c_many(log->crc_data, log->crc_len, log->crc, m);
		}
		for (k = i; k < n && k - i < LOG_WRITE_CHUNK_ENTRIES; k++)
		{
			const dcf_log_entry *e = &entries[k];
			uint64_t	frame = dcf_seg_frame_bytes(e->len);
			uint8_t    *h = log->hdrs + (k - i) * DCF_SEG_RECORD_HEADER_BYTES;
			dcf_seg_rec rec;
			size_t		pad;

			/* a segment holds at least one entry, then rolls at its target size */
			if ((seg->count > 0 || k > i) && pos + frame > log->opts.segment_bytes)
				break;
			rec.kind = DCF_SEG_KIND_ENTRY;
			rec.type = e->type;
			rec.index = e->index;
			rec.term = e->term;
			rec.key = e->key;
			rec.durable = hint;
			rec.length = e->len;
			rec.payload_crc = log->crc[k - i];
			dcf_seg_encode_record(&rec, h);
			log->iov[iovcnt].iov_base = h;
			log->iov[iovcnt++].iov_len = DCF_SEG_RECORD_HEADER_BYTES;
			if (e->len)
			{
				log->iov[iovcnt].iov_base = (void *) e->data;
				log->iov[iovcnt++].iov_len = e->len;
			}
			pad = (size_t) (frame - DCF_SEG_RECORD_HEADER_BYTES - e->len);
			if (pad)
			{
				log->iov[iovcnt].iov_base = (void *) zero_pad;
				log->iov[iovcnt++].iov_len = pad;
			}
			pos += frame;
		}
		if (k == i)
		{
			/* the newest segment is full: start the next one */
			if ((rc = log_create_segment(log, entries[i].index, errmsg)) != DCF_OK)
				return rc;
			continue;
		}
		if ((rc = seg_zero_ahead(log, seg, pos, errmsg)) != DCF_OK ||
			(rc = write_all(log, seg->file, log->iov, iovcnt, seg->end, errmsg)) != DCF_OK)
			return log_fail(log, rc, errmsg);
		pos = seg->end;
		for (size_t j = i; j < k; j++)
		{
			if ((rc = log_push_entry(log, seg, pos, entries[j].index, entries[j].term,
									 entries[j].key, entries[j].len, errmsg)) != DCF_OK)
				return log_fail(log, rc, errmsg);
			pos += dcf_seg_frame_bytes(entries[j].len);
		}
		seg->end = pos;
		pthread_mutex_lock(&log->mu);
		log->written_index = entries[k - 1].index;
		r = mark_dirty_locked(log, seg->file);
		pthread_mutex_unlock(&log->mu);
		if (r != 0)
			return log_fail(log, dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory"), errmsg);
		i = k;
	}
	return DCF_OK;
}

/* ---- lookups ------------------------------------------------------------ */

uint64_t
dcf_log_first_index(const dcf_log *log)
{
	return log->first_index;
}

uint64_t
dcf_log_last_index(const dcf_log *log)
{
	return log->last_index;
}

uint64_t
dcf_log_last_term(const dcf_log *log)
{
	return log->last_term;
}

const dcf_log_open_info *
dcf_log_info(const dcf_log *log)
{
	return &log->info;
}

dcf_rc
dcf_log_term_at(const dcf_log *log, uint64_t index, uint64_t *term)
{
	size_t		lo = 0;
	size_t		hi = log->nruns;

	if (index + 1 == log->first_index)
	{
		*term = log->prev_term;
		return DCF_OK;
	}
	if (index < log->first_index || index > log->last_index)
		return DCF_ERR_NOTFOUND;
	DCF_ASSERT(log->nruns > 0 && log->runs[0].index <= index);
	while (hi - lo > 1)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (log->runs[mid].index <= index)
			lo = mid;
		else
			hi = mid;
	}
	*term = log->runs[lo].term;
	return DCF_OK;
}

dcf_rc
dcf_log_key_at(const dcf_log *log, uint64_t index, uint64_t *key)
{
	const log_seg *seg;

	if (index < log->first_index || index > log->last_index)
		return DCF_ERR_NOTFOUND;
	seg = &log->segs[seg_find(log, index)];
	*key = seg->keys[index - seg->first];
	return DCF_OK;
}

dcf_rc
dcf_log_find_key(const dcf_log *log, uint64_t key, uint64_t *index)
{
	size_t		lo = 0;
	size_t		hi = log->nsegs;
	const log_seg *seg;
	uint64_t	a;
	uint64_t	b;

	if (log->last_index < log->first_index || key > log->last_key)
		return DCF_ERR_NOTFOUND;
	/* the first segment whose last key >= key (empty segments sort last) */
	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		const log_seg *s = &log->segs[mid];

		if (s->count > 0 && s->keys[s->count - 1] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	DCF_ASSERT(lo < log->nsegs);
	seg = &log->segs[lo];
	a = 0;
	b = seg->count;
	while (a < b)
	{
		uint64_t	mid = a + (b - a) / 2;

		if (seg->keys[mid] < key)
			a = mid + 1;
		else
			b = mid;
	}
	DCF_ASSERT(a < seg->count);
	*index = seg->first + a;
	return DCF_OK;
}

/* ---- reads -------------------------------------------------------------- */

dcf_rc
dcf_log_read(dcf_log *log, uint64_t lo, uint64_t hi, size_t max_bytes,
			 void *buf, size_t buf_bytes, dcf_log_entry *out, size_t out_max,
			 size_t *n_out, char *errmsg)
{
	uint8_t    *base = buf;
	size_t		used = 0;
	size_t		n = 0;
	uint64_t	i = lo;
	size_t		budget = max_bytes < buf_bytes ? max_bytes : buf_bytes;
	dcf_rc		rc;

	*n_out = 0;
	if (lo < log->first_index)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "index %" PRIu64 " is below the first index %" PRIu64,
						lo, log->first_index);
	if (hi > log->last_index + 1 || lo >= hi)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "range [%" PRIu64 ", %" PRIu64 ") is not inside the log [%" PRIu64 ", %" PRIu64 "]",
						lo, hi, log->first_index, log->last_index);
	/* keep payloads 8-byte aligned, as they are on disk */
	if (((uintptr_t) base & (DCF_SEG_ALIGN - 1)) != 0)
	{
		size_t		skip = DCF_SEG_ALIGN - ((uintptr_t) base & (DCF_SEG_ALIGN - 1));

		if (skip >= buf_bytes)
			return dcf_errf(errmsg, DCF_ERR_FULL, "read buffer of %zu bytes too small", buf_bytes);
		base += skip;
		buf_bytes -= skip;
		if (budget > buf_bytes)
			budget = buf_bytes;
	}
	while (i < hi && n < out_max)
	{
		log_seg    *seg = &log->segs[seg_find(log, i)];
		uint64_t	j = i - seg->first;
		uint64_t	k = j;
		uint64_t	start = seg->offs[j];
		uint64_t	end = start;
		uint64_t	pos;
		uint64_t	expect = i;
		ssize_t		got;

		/* how many entries of this segment fit */
		while (k < seg->count && seg->first + k < hi && n + (k - j) < out_max)
		{
			uint64_t	next_end = k + 1 < seg->count ? seg->offs[k + 1] : seg->data_end;
			uint64_t	need = used + (next_end - start);

			if (need > budget && !(n == 0 && k == j && need <= buf_bytes))
				break;
			end = next_end;
			k++;
		}
		if (k == j)
		{
			if (n == 0)
				return dcf_errf(errmsg, DCF_ERR_FULL, "entry %" PRIu64 " needs %" PRIu64 " bytes of read buffer, %zu given",
								i, (k + 1 < seg->count ? seg->offs[k + 1] : seg->data_end) - start, buf_bytes);
			break;
		}
		if ((rc = seg_file(log, seg, errmsg)) != DCF_OK)
			return rc;
		got = log->io->pread(log->io->ctx, seg->file->fd, base + used, end - start, start);
		if (got < 0)
			return dcf_errf(errmsg, DCF_ERR_IO, "could not read %s/%s at offset %" PRIu64 ": %s",
							log->dir, seg->file->name, start, strerror((int) -got));
		if ((uint64_t) got != end - start)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT, "corrupt log segment %s/%s at offset %" PRIu64 ": file ends before entry %" PRIu64,
							log->dir, seg->file->name, start + (uint64_t) got, i);
		/* parse and check what was read; marks may sit between entries */
		pos = 0;
		while (pos < end - start)
		{
			const uint8_t *p = base + used + pos;
			dcf_seg_rec rec;
			const char *why = NULL;
			uint64_t	term;

			if (end - start - pos < DCF_SEG_RECORD_HEADER_BYTES || dcf_seg_decode_record(p, &rec, &why) != 0)
				return dcf_errf(errmsg, DCF_ERR_CORRUPT, "corrupt log segment %s/%s at offset %" PRIu64 ": %s",
								log->dir, seg->file->name, start + pos, why ? why : "record cut short");
			if (rec.kind == DCF_SEG_KIND_MARK)
			{
				pos += DCF_SEG_RECORD_HEADER_BYTES;
				continue;
			}
			dcf_log_term_at(log, expect, &term);
			if (rec.index != expect || rec.term != term || dcf_seg_frame_bytes(rec.length) > end - start - pos)
				return dcf_errf(errmsg, DCF_ERR_CORRUPT, "corrupt log segment %s/%s at offset %" PRIu64 ": record (index %" PRIu64 ", term %" PRIu64 ") is not entry %" PRIu64 " of term %" PRIu64 " as loaded",
								log->dir, seg->file->name, start + pos, rec.index, rec.term, expect, term);
			if (dcf_crc32c(0, p + DCF_SEG_RECORD_HEADER_BYTES, rec.length) != rec.payload_crc)
				return dcf_errf(errmsg, DCF_ERR_CORRUPT, "corrupt log segment %s/%s at offset %" PRIu64 ": payload checksum mismatch in entry %" PRIu64,
								log->dir, seg->file->name, start + pos, expect);
			out[n].index = rec.index;
			out[n].term = rec.term;
			out[n].key = rec.key;
			out[n].type = rec.type;
			out[n].len = rec.length;
			out[n].data = p + DCF_SEG_RECORD_HEADER_BYTES;
			n++;
			expect++;
			pos += dcf_seg_frame_bytes(rec.length);
		}
		DCF_ASSERT(expect == seg->first + k);
		used += (size_t) (end - start);
		i = seg->first + k;
		if (k < seg->count && seg->first + k < hi)
			break;				/* the budget ran out inside this segment */
	}
	*n_out = n;
	return DCF_OK;
}

/* ---- truncation --------------------------------------------------------- */

/* Removes the newest segment's file durably (invariant 4); sync_mu held. */
static dcf_rc
log_unlink_newest(dcf_log *log, char *errmsg)
{
	log_seg    *seg = &log->segs[log->nsegs - 1];
	char		name[DCF_SEG_NAME_MAX];
	char		path[DCF_PATH_MAX_BYTES];
	int			r;
	dcf_rc		rc;

	dcf_seg_name(seg->first, name);
	if ((rc = seg_path(log, name, path, errmsg)) != DCF_OK)
		return rc;
	if (seg->file)
	{
		pthread_mutex_lock(&log->mu);
		undirty_locked(log, seg->file);
		pthread_mutex_unlock(&log->mu);
	}
	seg_free(log, seg);
	log->nsegs--;
	if ((r = log->io->unlink(log->io->ctx, path)) < 0 && r != -ENOENT)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not remove %s: %s", path, strerror(-r));
	if ((r = log->io->sync_dir(log->io->ctx, log->dir)) < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not fsync directory %s: %s", log->dir, strerror(-r));
	return DCF_OK;
}

/* Cuts the newest segment at offset off, durably; sync_mu held. */
static dcf_rc
log_cut_newest(dcf_log *log, uint64_t off, char *errmsg)
{
	log_seg    *seg = &log->segs[log->nsegs - 1];
	int			r;
	dcf_rc		rc;

	if ((rc = seg_file(log, seg, errmsg)) != DCF_OK)
		return rc;
	if ((r = log->io->ftruncate(log->io->ctx, seg->file->fd, off)) < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not truncate %s/%s to %" PRIu64 " bytes: %s",
						log->dir, seg->file->name, off, strerror(-r));
	if (log->opts.preallocate && off < log->opts.segment_bytes)
	{
		r = log->io->fallocate(log->io->ctx, seg->file->fd, off, log->opts.segment_bytes - off);
		if (r < 0 && r != -EOPNOTSUPP)
			return dcf_errf(errmsg, DCF_ERR_IO, "could not preallocate %s/%s: %s",
							log->dir, seg->file->name, strerror(-r));
	}
	if ((r = log->io->fdatasync(log->io->ctx, seg->file->fd)) < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not fdatasync %s/%s: %s",
						log->dir, seg->file->name, strerror(-r));
	return DCF_OK;
}

dcf_rc
dcf_log_truncate_suffix(dcf_log *log, uint64_t from, char *errmsg)
{
	dcf_rc		rc;

	if ((rc = log_check_writable(log, errmsg)) != DCF_OK)
		return rc;
	if (from < log->first_index || from > log->last_index + 1)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "cannot truncate from index %" PRIu64 ": the log holds [%" PRIu64 ", %" PRIu64 "]",
						from, log->first_index, log->last_index);
	if (from == log->last_index + 1)
		return DCF_OK;

	pthread_mutex_lock(&log->sync_mu);
	while (log->nsegs > 0 && log->segs[log->nsegs - 1].first >= from)
	{
		if ((rc = log_unlink_newest(log, errmsg)) != DCF_OK)
			goto fail;
	}
	if (log->nsegs > 0)
	{
		log_seg    *seg = &log->segs[log->nsegs - 1];
		uint64_t	j = from - seg->first;
		uint64_t	off = j < seg->count ? seg->offs[j] : seg->data_end;

		/* also cuts a trailing mark record, whose index would be gone */
		if ((rc = log_cut_newest(log, off, errmsg)) != DCF_OK)
			goto fail;
		seg->count = j;
		seg->data_end = seg->end = off;
		seg->zeroed_end = off;	/* ftruncate + fallocate left unwritten extents */
	}
	runs_truncate_from(log, from);
	log->last_index = from - 1;
	if (from == log->first_index)
	{
		log->last_term = log->prev_term;
		log->last_key = 0;
	}
	else
	{
		dcf_log_term_at(log, from - 1, &log->last_term);
		dcf_log_key_at(log, from - 1, &log->last_key);
	}
	pthread_mutex_lock(&log->mu);
	log->written_index = from - 1;
	if (log->durable_index > from - 1)
		log->durable_index = from - 1;
	pthread_mutex_unlock(&log->mu);
	pthread_mutex_unlock(&log->sync_mu);
	return DCF_OK;

fail:
	pthread_mutex_unlock(&log->sync_mu);
	return log_fail(log, rc, errmsg);
}

dcf_rc
dcf_log_truncate_prefix(dcf_log *log, uint64_t below, const dcf_log_holds *holds,
						uint64_t *new_first, char *errmsg)
{
	uint64_t	limit = below;
	size_t		k = 0;
	dcf_meta	m;
	uint64_t	first;
	uint64_t	prev_term;
	int			r;
	dcf_rc		rc;

	if (new_first)
		*new_first = log->first_index;
	if ((rc = log_check_writable(log, errmsg)) != DCF_OK)
		return rc;
	if (holds == NULL)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "prefix truncation needs the hold points");
	/* entries above the cluster's minimum applied index stay */
	if (holds->min_applied_index < UINT64_MAX && holds->min_applied_index + 1 < limit)
		limit = holds->min_applied_index + 1;
	if (holds->build_hold_index != 0 && holds->build_hold_index < limit)
		limit = holds->build_hold_index;
	/* whole segments whose every entry is below limit; never the newest */
	while (k + 1 < log->nsegs && log->segs[k + 1].first <= limit)
		k++;
	if (k == 0)
		return DCF_OK;
	first = log->segs[k].first;
	dcf_log_term_at(log, first - 1, &prev_term);

	pthread_mutex_lock(&log->sync_mu);
	/* what stays must be durable before the metadata points at it */
	if ((rc = log_sync_locked(log, errmsg)) != DCF_OK)
		goto fail;
	m = log->meta;
	m.first_index = first;
	m.prev_term = prev_term;
	if ((rc = log_write_meta(log, &m, errmsg)) != DCF_OK)
		goto fail;
	log->first_index = first;
	log->prev_term = prev_term;
	/* invariant 5: from here a crash leaves garbage the loader removes */
	for (size_t j = 0; j < k; j++)
	{
		char		name[DCF_SEG_NAME_MAX];
		char		path[DCF_PATH_MAX_BYTES];

		dcf_seg_name(log->segs[j].first, name);
		if (log->segs[j].file)
		{
			pthread_mutex_lock(&log->mu);
			undirty_locked(log, log->segs[j].file);
			pthread_mutex_unlock(&log->mu);
		}
		seg_free(log, &log->segs[j]);
		if ((rc = seg_path(log, name, path, errmsg)) != DCF_OK)
			goto fail_shift;
		if ((r = log->io->unlink(log->io->ctx, path)) < 0 && r != -ENOENT)
		{
			rc = dcf_errf(errmsg, DCF_ERR_IO, "could not remove %s: %s", path, strerror(-r));
			goto fail_shift;
		}
	}
	memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof(log_seg));
	log->nsegs -= k;
	runs_trim_below(log, first);
	if ((r = log->io->sync_dir(log->io->ctx, log->dir)) < 0)
	{
		rc = dcf_errf(errmsg, DCF_ERR_IO, "could not fsync directory %s: %s", log->dir, strerror(-r));
		goto fail;
	}
	pthread_mutex_unlock(&log->sync_mu);
	if (new_first)
		*new_first = first;
	return DCF_OK;

fail_shift:
	/* the freed segments are all below the new first index: drop them */
	memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof(log_seg));
	log->nsegs -= k;
	runs_trim_below(log, first);
fail:
	pthread_mutex_unlock(&log->sync_mu);
	return log_fail(log, rc, errmsg);
}

dcf_rc
dcf_log_reset(dcf_log *log, uint64_t first_index, uint64_t prev_term, char *errmsg)
{
	dcf_meta	m;
	dcf_rc		rc;

	if ((rc = log_check_writable(log, errmsg)) != DCF_OK)
		return rc;
	if (first_index == 0 || (first_index == 1 && prev_term != 0))
		return dcf_errf(errmsg, DCF_ERR_INVALID, "cannot reset the log to first index %" PRIu64 " after term %" PRIu64,
						first_index, prev_term);
	pthread_mutex_lock(&log->sync_mu);
	/* newest first, each durable, so a crash leaves a prefix (invariant 4) */
	while (log->nsegs > 0)
		if ((rc = log_unlink_newest(log, errmsg)) != DCF_OK)
			goto fail;
	m = log->meta;
	m.first_index = first_index;
	m.prev_term = prev_term;
	if ((rc = log_write_meta(log, &m, errmsg)) != DCF_OK)
		goto fail;
	log->first_index = first_index;
	log->prev_term = prev_term;
	log->last_index = first_index - 1;
	log->last_term = prev_term;
	log->last_key = 0;
	log->nruns = 0;
	pthread_mutex_lock(&log->mu);
	log->written_index = first_index - 1;
	log->durable_index = first_index - 1;
	pthread_mutex_unlock(&log->mu);
	pthread_mutex_unlock(&log->sync_mu);
	return DCF_OK;

fail:
	pthread_mutex_unlock(&log->sync_mu);
	return log_fail(log, rc, errmsg);
}

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
	if (grow((void **) &l->v, &l->cap, l->n + 1, sizeof(uint64_t)) != 0)
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
	if (seg_path(log, name, path, NULL) != DCF_OK)
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

	if (grow((void **) &log->segs, &log->capsegs, log->nsegs + 1, sizeof(log_seg)) != 0)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
	seg = &log->segs[log->nsegs++];
	memset(seg, 0, sizeof(*seg));
	seg->first = first;
	seg->data_end = seg->end = DCF_SEG_HEADER_BYTES;
	if ((rc = seg_file(log, seg, errmsg)) != DCF_OK)
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
					 char *errmsg)
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
		rc = dcf_seg_scan_durable(&r, from, max_durable, &found, errmsg);
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
	if ((rc = seg_path(log, name, path, errmsg)) != DCF_OK)
		return rc;
	if ((r = log->io->unlink(log->io->ctx, path)) < 0 && r != -ENOENT)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not remove %s: %s", path, strerror(-r));
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
	/* records can only prove durability above what recycling removed */
	max_durable = log->first_index - 1;

	/* invariant 5: segments wholly below the first index are garbage */
	while (start + 1 < names->n && names->v[start + 1] <= log->first_index)
		start++;
	log->info.stale_segments = (uint32_t) start;
	if (start < names->n && names->v[start] < log->first_index)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT,
						"corrupt log in %s: segment starting at index %" PRIu64 " straddles the first index %" PRIu64 " recorded in %s",
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

		/* the durable floor, from intact headers at and after the damage */
		if ((rc = scan_segment_durable(log, names->v[p.seg], p.off, &floor, errmsg)) != DCF_OK)
			return rc;
		for (size_t j = p.seg + 1; j < names->n; j++)
			if ((rc = scan_segment_durable(log, names->v[j], 0, &floor, errmsg)) != DCF_OK)
				return rc;
		dcf_seg_name(names->v[p.seg], name);
		if (p.expected <= floor)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"corrupt log segment %s/%s at offset %" PRIu64 ": %s (entry %" PRIu64 " is damaged or missing, but index %" PRIu64 " was durable)",
							log->dir, name, p.off, p.why, p.expected, floor);
		/* a torn tail: entry p.expected was never reported durable */
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
				seg_free(log, &log->segs[log->nsegs - 1]);
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
	log->info.durable_floor = max_durable;
	log->info.segments = (uint32_t) log->nsegs;

	if (!log->opts.read_only)
	{
		/* entries above the floor may exist only in the page cache of a
		 * process that died: make them durable before reporting them */
		for (size_t j = 0; j < log->nsegs; j++)
		{
			log_seg    *seg = &log->segs[j];

			if (seg->first + seg->count - 1 <= max_durable && seg->count > 0)
				continue;
			if ((rc = seg_file(log, seg, errmsg)) != DCF_OK)
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
}

static void
log_free(dcf_log *log)
{
	for (size_t j = 0; j < log->nsegs; j++)
		seg_free(log, &log->segs[j]);
	pthread_mutex_lock(&log->mu);
	while (log->ndirty > 0)
		undirty_locked(log, log->dirty[log->ndirty - 1]);
	pthread_mutex_unlock(&log->mu);
	if (log->lock_fd >= 0)
		log->io->close(log->io->ctx, log->lock_fd);
	free(log->segs);
	free(log->runs);
	free(log->dirty);
	free(log->syncing);
	free(log->hdrs);
	free(log->iov);
	free(log->membership_buf);
	pthread_mutex_destroy(&log->mu);
	pthread_mutex_destroy(&log->sync_mu);
	free(log);
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
		if ((rc = seg_path(log, DCF_LOG_LOCK_FILE, path, errmsg)) != DCF_OK)
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
			rc = dcf_errf(errmsg, DCF_ERR_CORRUPT, "corrupt log in %s: %zu segment files but no %s",
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
		if ((rc = seg_path(log, DCF_META_TMP_FILE, path, errmsg)) != DCF_OK)
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

dcf_rc
dcf_log_close(dcf_log *log, char *errmsg)
{
	dcf_rc		rc = DCF_OK;
	int			failed;

	if (log == NULL)
		return DCF_OK;
	pthread_mutex_lock(&log->sync_mu);
	pthread_mutex_lock(&log->mu);
	failed = log->failed;
	pthread_mutex_unlock(&log->mu);
	if (!log->opts.read_only && !failed && log->nsegs > 0 &&
		log->last_index >= log->first_index)
	{
		rc = log_sync_locked(log, errmsg);
		if (rc == DCF_OK)
		{
			log_seg    *seg = &log->segs[log->nsegs - 1];
			uint8_t		h[DCF_SEG_RECORD_HEADER_BYTES];
			struct iovec iov;
			dcf_seg_rec rec;
			int			r;

			memset(&rec, 0, sizeof(rec));
			rec.kind = DCF_SEG_KIND_MARK;
			rec.index = log->last_index;
			rec.term = log->last_term;
			rec.key = log->last_key;
			rec.durable = log->durable_index;
			rec.payload_crc = dcf_crc32c(0, NULL, 0);
			dcf_seg_encode_record(&rec, h);
			iov.iov_base = h;
			iov.iov_len = sizeof(h);
			rc = seg_file(log, seg, errmsg);
			if (rc == DCF_OK)
				rc = write_all(log, seg->file, &iov, 1, seg->end, errmsg);
			if (rc == DCF_OK && (r = log->io->fdatasync(log->io->ctx, seg->file->fd)) < 0)
				rc = dcf_errf(errmsg, DCF_ERR_IO, "could not fdatasync %s/%s: %s",
							  log->dir, seg->file->name, strerror(-r));
		}
	}
	pthread_mutex_unlock(&log->sync_mu);
	log_free(log);
	return rc;
}
