/*
 * log.c — the durable consensus log: segments, group commit, lookups,
 * reads, truncation and a clean close.  API and contract in log.h, on-disk
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
 *  6. The metadata's durable mark never exceeds an index that was durable
 *     when it was written, and is lowered durably before a truncation
 *     removes anything at or below it.  So at load, every index up to the
 *     mark that is missing or damaged was durable, and may have been
 *     acknowledged (log_load.c).  It is raised by every save of the
 *     metadata (to the durable index then) and by a clean close (to the
 *     last index).
 *
 * Loading and torn-tail repair (dcf_log_open) are in log_load.c.
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
#include "storage/log_int.h"

#include "core/crc32c.h"
#include "core/dcf_assert.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
/*
 * ... but not for a large append (a bulk load's WAL): the zeros cost as many
 * bytes written again as the records themselves, in the page cache and on
 * the disk (the dirty zeros ahead go out with the next fdatasync and are
 * written over later), while the metadata they save is one small write per
 * group commit.  From this many bytes in one append call on, the records
 * go straight into the preallocated extents.
 */
#define LOG_ZERO_SKIP_BYTES		(64 * 1024)
#define LOG_ZERO_BUF_BYTES		(64 * 1024)
static const uint8_t zero_buf[LOG_ZERO_BUF_BYTES];

/* ---- small helpers ------------------------------------------------------ */

dcf_rc
log_seg_path(const dcf_log *log, const char *name, char *out, char *errmsg)
{
	int			n = snprintf(out, DCF_PATH_MAX_BYTES, "%s/%s", log->dir, name);

	if (n < 0 || n >= DCF_PATH_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "path of %s in %s too long", name, log->dir);
	return DCF_OK;
}

int
log_grow(void **p, size_t *cap, size_t need, size_t elem)
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
		if (f->dfd >= 0)
			log->io->close(log->io->ctx, f->dfd);
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
	if (log_grow((void **) &log->dirty, &log->capdirty, log->ndirty + 1, sizeof(log_file *)) != 0)
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

void
log_seg_free(dcf_log *log, log_seg *seg)
{
	seg_close_file(log, seg);
	free(seg->offs);
	free(seg->keys);
	memset(seg, 0, sizeof(*seg));
}

/* Opens seg's file if needed, closing the least recently used others. */
dcf_rc
log_seg_file(dcf_log *log, log_seg *seg, char *errmsg)
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
	if ((rc = log_seg_path(log, name, path, errmsg)) != DCF_OK)
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
	f->dfd = -1;
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

dcf_rc
log_push_entry(dcf_log *log, log_seg *seg, uint64_t off, uint64_t index, uint64_t term,
			   uint64_t key, uint32_t len, char *errmsg)
{
	DCF_ASSERT(index == seg->first + seg->count);
	DCF_ASSERT(off <= UINT32_MAX);
	if (seg_reserve(seg, seg->count + 1) != 0)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory indexing entry %" PRIu64, index);
	if (log->nruns == 0 || log->runs[log->nruns - 1].term != term)
	{
		if (log_grow((void **) &log->runs, &log->capruns, log->nruns + 1, sizeof(log_term_run)) != 0)
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

dcf_rc
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
	/* invariant 6: what is durable now may be recorded as the mark */
	pthread_mutex_lock(&log->mu);
	m.durable_index = log->durable_index;
	pthread_mutex_unlock(&log->mu);
	if (m.durable_index < log->meta.durable_index)
		m.durable_index = log->meta.durable_index;
	if (dcf_log_term_at(log, m.durable_index, &m.durable_term) != DCF_OK)
		m.durable_term = log->last_term > log->meta.durable_term ? log->last_term : log->meta.durable_term;
	return log_write_meta(log, &m, errmsg);
}

/*
 * Invariant 6: before entries from `from` on are removed, the durable mark
 * in the metadata must not cover them.  Writes the metadata only when it
 * does.
 */
static dcf_rc
log_lower_mark(dcf_log *log, uint64_t from, char *errmsg)
{
	dcf_meta	m;

	if (log->meta.durable_index < from)
		return DCF_OK;
	m = log->meta;
	m.durable_index = from - 1;
	if (dcf_log_term_at(log, from - 1, &m.durable_term) != DCF_OK)
		m.durable_term = log->last_term;
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

	if (log_grow((void **) &log->segs, &log->capsegs, log->nsegs + 1, sizeof(log_seg)) != 0)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
	dcf_seg_name(first, name);
	if ((rc = log_seg_path(log, name, path, errmsg)) != DCF_OK)
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
	f->dfd = -1;
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

/*
 * Direct appends.  A bulk load's WAL goes through the log at tens of MB/s,
 * and copying it into the page cache (allocating, charging, writing back
 * and reclaiming every page) was most of a worker's CPU time (issue 18,
 * bench/RESULTS.md), while little of it is read again soon enough to gain
 * from the cache.  So an append of LOG_ZERO_SKIP_BYTES or more writes the
 * whole DCF_IO_DIRECT_ALIGN blocks it covers with DCF_IO_DIRECT, through an
 * aligned buffer, and only its partial first and last blocks through the
 * page cache.  No byte written before the append is written again (the
 * partial first block is completed, never rewritten), so a torn or lost
 * write damages only what this append wrote, exactly as a buffered one.
 *
 * Durability is unchanged: the file is marked dirty and made durable by the
 * same fdatasync as before (until then the blocks may sit in the device's
 * cache).  Readers use the ordinary descriptor and see the new bytes: the
 * kernel drops the cached pages a direct write covers.  Where the file
 * system refuses DCF_IO_DIRECT (tmpfs and some others, -EINVAL at the open
 * or the first write), the log writes through the page cache from then on
 * (dcf_log_direct_appends() stays 0).
 */
#define LOG_DIO_BUF_BYTES	(1024 * 1024)

/* Copies bytes [from, from + n) of the iov stream into dst. */
static void
iov_copy_out(const struct iovec *iov, int iovcnt, uint64_t from, uint8_t *dst, size_t n)
{
	for (int i = 0; i < iovcnt && n > 0; i++)
	{
		size_t		len = iov[i].iov_len;
		size_t		k;

		if (from >= len)
		{
			from -= len;
			continue;
		}
		k = len - (size_t) from < n ? len - (size_t) from : n;
		memcpy(dst, (const uint8_t *) iov[i].iov_base + from, k);
		dst += k;
		n -= k;
		from = 0;
	}
}

/* Writes bytes [from, from + n) of the iov stream at off through the page cache. */
static dcf_rc
write_part(dcf_log *log, log_file *f, const struct iovec *iov, int iovcnt, uint64_t from,
		   size_t n, uint64_t off, char *errmsg)
{
	uint8_t		buf[DCF_IO_DIRECT_ALIGN];
	struct iovec one;

	DCF_ASSERT(n <= sizeof(buf));
	iov_copy_out(iov, iovcnt, from, buf, n);
	one.iov_base = buf;
	one.iov_len = n;
	return write_all(log, f, &one, 1, off, errmsg);
}

/* *done = 0: nothing was written, the caller writes the append through the page cache */
static dcf_rc
write_direct(dcf_log *log, log_file *f, struct iovec *iov, int iovcnt, uint64_t off,
			 int *done, char *errmsg)
{
	const uint64_t align = DCF_IO_DIRECT_ALIGN;
	uint64_t	total = 0;
	uint64_t	head;			/* first block boundary at or after off */
	uint64_t	tail;			/* last block boundary at or before the end */
	dcf_rc		rc;

	*done = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	head = (off + align - 1) & ~(align - 1);
	tail = (off + total) & ~(align - 1);
	if (tail <= head)
		return DCF_OK;
	if (log->dio_mem == NULL)
	{
		log->dio_mem = malloc(LOG_DIO_BUF_BYTES + DCF_IO_DIRECT_ALIGN);
		if (log->dio_mem == NULL)
			return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
		log->dio_buf = (uint8_t *) (((uintptr_t) log->dio_mem + align - 1) & ~(uintptr_t) (align - 1));
	}
	if (f->dfd < 0)
	{
		char		path[DCF_PATH_MAX_BYTES];
		int			fd;

		if ((rc = log_seg_path(log, f->name, path, errmsg)) != DCF_OK)
			return rc;
		fd = log->io->open(log->io->ctx, path, DCF_IO_RDWR | DCF_IO_DIRECT);
		if (fd == -EINVAL)
		{
			log->dio_off = 1;
			return DCF_OK;
		}
		if (fd < 0)
			return dcf_errf(errmsg, DCF_ERR_IO, "could not open %s for direct writes: %s", path, strerror(-fd));
		f->dfd = fd;
	}

	for (uint64_t at = head; at < tail;)
	{
		size_t		n = tail - at < LOG_DIO_BUF_BYTES ? (size_t) (tail - at) : LOG_DIO_BUF_BYTES;
		const uint8_t *p = log->dio_buf;
		size_t		left = n;
		uint64_t	to = at;

		iov_copy_out(iov, iovcnt, at - off, log->dio_buf, n);
		while (left > 0)
		{
			struct iovec one;
			ssize_t		w;

			one.iov_base = (void *) p;
			one.iov_len = left;
			w = log->io->pwritev(log->io->ctx, f->dfd, &one, 1, to);
			if (w == -EINVAL && at == head && left == n)
			{
				/* refused at the first write: nothing was written */
				log->dio_off = 1;
				return DCF_OK;
			}
			if (w < 0)
				return dcf_errf(errmsg, DCF_ERR_IO, "could not write to %s/%s at offset %" PRIu64 ": %s",
								log->dir, f->name, to, strerror((int) -w));
			if (w == 0 || (size_t) w % align != 0)
				return dcf_errf(errmsg, DCF_ERR_IO, "could not write to %s/%s at offset %" PRIu64 ": short direct write of %zd of %zu bytes",
								log->dir, f->name, to, w, left);
			p += w;
			left -= (size_t) w;
			to += (uint64_t) w;
		}
		at += n;
	}
	if (head > off &&
		(rc = write_part(log, f, iov, iovcnt, 0, (size_t) (head - off), off, errmsg)) != DCF_OK)
		return rc;
	if (off + total > tail &&
		(rc = write_part(log, f, iov, iovcnt, tail - off, (size_t) (off + total - tail), tail, errmsg)) != DCF_OK)
		return rc;
	log->direct_appends++;
	*done = 1;
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
		if ((rc = log_seg_file(log, seg, errmsg)) != DCF_OK)
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
		if (pos - seg->end < LOG_ZERO_SKIP_BYTES)
		{
			if ((rc = seg_zero_ahead(log, seg, pos, errmsg)) != DCF_OK ||
				(rc = write_all(log, seg->file, log->iov, iovcnt, seg->end, errmsg)) != DCF_OK)
				return log_fail(log, rc, errmsg);
		}
		else
		{
			int			done = 0;

			if (log->opts.direct_io && !log->dio_off &&
				(rc = write_direct(log, seg->file, log->iov, iovcnt, seg->end, &done, errmsg)) != DCF_OK)
				return log_fail(log, rc, errmsg);
			if (!done &&
				(rc = write_all(log, seg->file, log->iov, iovcnt, seg->end, errmsg)) != DCF_OK)
				return log_fail(log, rc, errmsg);
		}
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
dcf_log_direct_appends(const dcf_log *log)
{
	return log->direct_appends;
}

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
		if ((rc = log_seg_file(log, seg, errmsg)) != DCF_OK)
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
	if ((rc = log_seg_path(log, name, path, errmsg)) != DCF_OK)
		return rc;
	if (seg->file)
	{
		pthread_mutex_lock(&log->mu);
		undirty_locked(log, seg->file);
		pthread_mutex_unlock(&log->mu);
	}
	log_seg_free(log, seg);
	log->nsegs--;
	if ((r = log->io->unlink(log->io->ctx, path)) < 0 && r != -ENOENT)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not remove %s: %s", path, strerror(-r));
	if ((r = log->io->sync_dir(log->io->ctx, log->dir)) < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not fsync directory %s: %s", log->dir, strerror(-r));
	return DCF_OK;
}

/* Cuts the newest segment at offset off, durably; sync_mu held. */
dcf_rc
log_cut_newest(dcf_log *log, uint64_t off, char *errmsg)
{
	log_seg    *seg = &log->segs[log->nsegs - 1];
	int			r;
	dcf_rc		rc;

	if ((rc = log_seg_file(log, seg, errmsg)) != DCF_OK)
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
	if ((rc = log_lower_mark(log, from, errmsg)) != DCF_OK)
		goto fail;
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
		log_seg_free(log, &log->segs[j]);
		if ((rc = log_seg_path(log, name, path, errmsg)) != DCF_OK)
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
	if ((rc = log_lower_mark(log, log->first_index, errmsg)) != DCF_OK)
		goto fail;
	/* newest first, each durable, so a crash leaves a prefix (invariant 4) */
	while (log->nsegs > 0)
		if ((rc = log_unlink_newest(log, errmsg)) != DCF_OK)
			goto fail;
	m = log->meta;
	m.first_index = first_index;
	m.prev_term = prev_term;
	m.durable_index = first_index - 1;
	m.durable_term = prev_term;
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

void
log_free(dcf_log *log)
{
	for (size_t j = 0; j < log->nsegs; j++)
		log_seg_free(log, &log->segs[j]);
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
	free(log->dio_mem);
	free(log->membership_buf);
	pthread_mutex_destroy(&log->mu);
	pthread_mutex_destroy(&log->sync_mu);
	free(log);
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
			rc = log_seg_file(log, seg, errmsg);
			if (rc == DCF_OK)
				rc = write_all(log, seg->file, &iov, 1, seg->end, errmsg);
			if (rc == DCF_OK && (r = log->io->fdatasync(log->io->ctx, seg->file->fd)) < 0)
				rc = dcf_errf(errmsg, DCF_ERR_IO, "could not fdatasync %s/%s: %s",
							  log->dir, seg->file->name, strerror(-r));
			/* invariant 6: the metadata, too, says the whole log was durable */
			if (rc == DCF_OK && log->meta.durable_index < log->durable_index)
			{
				dcf_meta	m = log->meta;

				m.durable_index = log->durable_index;
				m.durable_term = log->last_term;
				rc = log_write_meta(log, &m, errmsg);
			}
		}
	}
	pthread_mutex_unlock(&log->sync_mu);
	log_free(log);
	return rc;
}
