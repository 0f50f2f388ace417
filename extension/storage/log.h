/*
 * log.h — the durable consensus log and its metadata record, in one data
 * directory (dcf.data_path).  Plain C and POSIX, no PostgreSQL headers; the
 * worker, the simulator and dcf_ctl's offline dump all use it.
 *
 * A data directory holds:
 *     dcf.meta          the metadata record (meta.h), replaced atomically
 *     <first>.seg       log segments (segment.h), named by their first index
 *     lock              flock()ed by the one process that opened it for writing
 * Other names are left alone.
 *
 * Contract with the caller (the consensus host):
 *   - Entries are appended with contiguous indexes, non-decreasing terms and
 *     non-decreasing keys.  dcf_log_append() hands them to the kernel but
 *     does not make them durable; dcf_log_sync() makes everything appended
 *     so far durable with one fdatasync per file touched (group commit) and
 *     reports the highest durable index.  Only an index reported by
 *     dcf_log_sync() (or dcf_log_durable_index()) may be acknowledged.
 *   - Reads see everything appended, durable or not.
 *   - dcf_log_save_meta() is durable when it returns.
 *   - After a crash, dcf_log_open() returns a log that is a prefix of what
 *     was appended and contains every index that was reported durable; a
 *     torn tail (entries never reported durable) is cut and described in
 *     dcf_log_open_info; damage anywhere else refuses to open with a message
 *     naming the file, the offset and what is wrong.
 *   - After any I/O error while changing the log (append, sync, truncation,
 *     saving metadata) the handle refuses all further changes with
 *     DCF_ERR_IO: a failed fdatasync is never retried, because the kernel
 *     may already have forgotten the lost pages.  Close it; opening again
 *     re-reads what is really on disk.  The PostgreSQL layer PANICs instead.
 *
 * Threads: the handle belongs to one owner thread, which calls everything
 * except the two functions below.  While the owner appends and reads, ONE
 * other thread may call dcf_log_sync() and dcf_log_durable_index(), so the
 * fdatasync can run off the event loop.  dcf_log_truncate_suffix(),
 * dcf_log_truncate_prefix(), dcf_log_reset() and dcf_log_close() wait for
 * a sync in progress (dcf_log_save_meta() touches only dcf.meta and does
 * not); the helper thread must have stopped calling dcf_log_sync() before
 * dcf_log_close() is called.
 *
 * Memory: 12 bytes per retained entry (its offset and key) plus one
 * (index, term) pair per term change; recycle with dcf_log_truncate_prefix.
 */
#ifndef DCF_STORAGE_LOG_H
#define DCF_STORAGE_LOG_H

#include "core/dcf_err.h"
#include "storage/meta.h"
#include "storage/segment.h"
#include "storage/storage_io.h"

#include <stddef.h>
#include <stdint.h>

#define DCF_LOG_ENTRY_MAX_BYTES			DCF_SEG_PAYLOAD_MAX_BYTES	/* payload of one entry */
/* bytes of buffer one entry needs in dcf_log_read(), besides its payload */
#define DCF_LOG_ENTRY_OVERHEAD_BYTES	(DCF_SEG_RECORD_HEADER_BYTES + DCF_SEG_ALIGN)
/* a dcf_log_read() buffer this large always makes progress */
#define DCF_LOG_READ_BUFFER_MIN_BYTES	(DCF_LOG_ENTRY_MAX_BYTES + DCF_LOG_ENTRY_OVERHEAD_BYTES)
#define DCF_LOG_SEGMENT_BYTES_DEFAULT	(64ULL * 1024 * 1024)
#define DCF_LOG_SEGMENT_BYTES_MIN		4096ULL
#define DCF_LOG_SEGMENT_BYTES_MAX		(1024ULL * 1024 * 1024)
#define DCF_LOG_OPEN_FILES_MAX			8	/* segment descriptors kept open for reads */
#define DCF_LOG_LOCK_FILE				"lock"

typedef struct dcf_log dcf_log;

/* One entry, as appended or as read. */
typedef struct dcf_log_entry
{
	uint64_t	index;
	uint64_t	term;
	uint64_t	key;			/* non-decreasing; the PostgreSQL layer stores the WAL end LSN */
	uint8_t		type;			/* opaque to storage */
	uint32_t	len;			/* payload bytes, <= DCF_LOG_ENTRY_MAX_BYTES */
	const void *data;			/* payload; see dcf_log_read() for who owns it */
} dcf_log_entry;

typedef struct dcf_log_options
{
	const dcf_io *io;			/* NULL: dcf_io_posix() */
	uint64_t	segment_bytes;	/* target segment size; 0: default */
	int			preallocate;	/* reserve segment_bytes when creating a segment, and
								 * write zeros ahead of the appends (see log.c) */
	int			read_only;		/* no lock, no repair, no writes: offline inspection */
	int			repair;			/* lost durable entries: cut and record a
								 * repair index instead of refusing (see
								 * dcf_log_open) */
	int			create;			/* create the directory and an empty log if absent */
	int			direct_io;		/* large appends bypass the page cache where the
								 * file system allows it (see log.c); default on */
} dcf_log_options;

/*
 * What the caller must not recycle: entries at or above either point stay.
 * Both are parameters of every prefix truncation so the caller cannot
 * forget them.
 */
typedef struct dcf_log_holds
{
	uint64_t	min_applied_index;	/* cluster minimum applied index; entries
									 * above it stay (0: keep everything) */
	uint64_t	build_hold_index;	/* first index a running build still
									 * needs; 0: no build running */
} dcf_log_holds;

/* What dcf_log_open() found and repaired. */
typedef struct dcf_log_open_info
{
	uint32_t	segments;		/* segment files in use */
	uint32_t	stale_segments; /* wholly below the first index: removed
								 * (read-only: ignored), left over from an
								 * interrupted prefix truncation */
	uint64_t	durable_floor;	/* highest index the records prove durable */
	int			torn;			/* a torn tail was found and cut (read-only:
								 * would be cut) */
	uint64_t	torn_index;		/* first index that was not there whole */
	uint64_t	torn_offset;	/* where, in torn_file */
	char		torn_file[DCF_SEG_NAME_MAX];
	char		torn_reason[128];
	uint32_t	torn_segments_removed;	/* later segments removed with it */
	int			lost;			/* with opts.repair: entries that had been
								 * durable were damaged or missing, and
								 * were cut from lost_index on */
	uint64_t	lost_index;		/* first index lost */
	uint64_t	repair_index;	/* the metadata's repair index after the
								 * load: lost entries up to it may have
								 * been acknowledged (0: none) */
	uint64_t	repair_term;	/* no lost entry has a higher term */
} dcf_log_open_info;

/* Defaults: POSIX I/O, 64 MiB segments, preallocation on, create on. */
extern void dcf_log_options_init(dcf_log_options *opts);

/*
 * Opens (or, with opts->create, creates) the log in dir: loads the
 * metadata, removes segments left below the first index, validates every
 * record, cuts a torn tail (unless read-only) and makes what remains
 * durable.  DCF_ERR_CORRUPT for damage that is not a torn tail, with
 * "<path> at offset <n>: <what>" in errmsg; DCF_ERR_STATE when another
 * process has the directory open for writing; DCF_ERR_NOTFOUND when there
 * is no log and opts->create is off.
 *
 * Damage that is not a torn tail — an entry damaged or missing at or below
 * the highest index proven durable, by a record's durable field or by the
 * metadata's durable mark — means entries this node may have acknowledged
 * are gone.  Without opts->repair that refuses to open.  With it, the log
 * keeps the intact prefix, cuts the rest like a torn tail, and records in
 * the metadata, durably and before the cut, a repair index: the highest
 * index that may have been acknowledged (info.lost, info.lost_index,
 * info.repair_index).  The consensus host hands it to the core, which
 * neither votes nor counts toward a commit until it holds entries up to
 * there again, fetched from a leader.  Damage to the metadata always
 * refuses.
 */
extern dcf_rc dcf_log_open(const char *dir, const dcf_log_options *opts, dcf_log **log,
						   char *errmsg);

/*
 * Makes everything durable, writes a mark record saying so (so damage to
 * the last entries is later recognised as corruption, not a torn write),
 * and frees the handle, which is freed even when an error is returned.
 */
extern dcf_rc dcf_log_close(dcf_log *log, char *errmsg);

extern const dcf_log_open_info *dcf_log_info(const dcf_log *log);

/*
 * Appends n entries after the last one: entries[0].index must be
 * dcf_log_last_index() + 1, indexes contiguous, terms and keys
 * non-decreasing (also against the last entry).  Writes with as few
 * pwritev calls as the segment boundaries allow; does not sync.  The
 * payloads may be reused as soon as it returns.
 */
extern dcf_rc dcf_log_append(dcf_log *log, const dcf_log_entry *entries, size_t n,
							 char *errmsg);

/*
 * Group commit: makes every entry appended before the call durable (one
 * fdatasync per segment written since the last sync, plus the directory
 * when a segment was created) and sets *durable_index (may be NULL) to the
 * highest durable index.  Callable from one helper thread (see above).
 */
extern dcf_rc dcf_log_sync(dcf_log *log, uint64_t *durable_index, char *errmsg);

/* Highest index known durable; thread-safe. */
extern uint64_t dcf_log_durable_index(dcf_log *log);

/* First index; an empty log has last_index == first_index - 1. */
/* How many appends were written with DCF_IO_DIRECT (see log.c). */
extern uint64_t dcf_log_direct_appends(const dcf_log *log);
extern uint64_t dcf_log_first_index(const dcf_log *log);
extern uint64_t dcf_log_last_index(const dcf_log *log);
/* Term of the last entry, or of first_index - 1 when empty. */
extern uint64_t dcf_log_last_term(const dcf_log *log);

/*
 * Term of an entry; index first_index - 1 gives the term recorded before
 * the first entry (0 at index 0).  DCF_ERR_NOTFOUND outside that range.
 */
extern dcf_rc dcf_log_term_at(const dcf_log *log, uint64_t index, uint64_t *term);
extern dcf_rc dcf_log_key_at(const dcf_log *log, uint64_t index, uint64_t *key);

/* The first entry whose key >= key (binary search); DCF_ERR_NOTFOUND if none. */
extern dcf_rc dcf_log_find_key(const dcf_log *log, uint64_t key, uint64_t *index);

/*
 * Reads entries [lo, hi) for replication into caller memory.
 *
 * Ownership: the frames are read into buf (buf_bytes bytes, caller-owned)
 * and out[i].data points into buf, so the entries stay valid exactly as
 * long as the caller keeps buf.  Each entry uses its payload plus up to
 * DCF_LOG_ENTRY_OVERHEAD_BYTES of buf.
 *
 * Stops before hi when the next entry would take more than max_bytes of
 * buf in total, at out_max entries, or at the end of buf; the first entry
 * is returned even when it alone exceeds max_bytes, so a buffer of at
 * least DCF_LOG_READ_BUFFER_MIN_BYTES always makes progress
 * (DCF_ERR_FULL otherwise).  Checksums are verified (DCF_ERR_CORRUPT with
 * file and offset).  *n_out is the number of entries read.
 * DCF_ERR_NOTFOUND when lo is below the first index (recycled) or
 * [lo, hi) is not inside the log.
 */
extern dcf_rc dcf_log_read(dcf_log *log, uint64_t lo, uint64_t hi, size_t max_bytes,
						   void *buf, size_t buf_bytes, dcf_log_entry *out, size_t out_max,
						   size_t *n_out, char *errmsg);

/*
 * Removes entries from_index .. last (a conflict with the leader).
 * Durable when it returns, and the durable index drops to at most
 * from_index - 1.  from_index must be in [first_index, last_index + 1].
 */
extern dcf_rc dcf_log_truncate_suffix(dcf_log *log, uint64_t from_index, char *errmsg);

/*
 * Recycles whole segments whose entries are all below
 * min(below_index, holds->min_applied_index + 1, holds->build_hold_index
 * if non-zero); never the newest segment.  Makes the log durable, then
 * records the new first index (and the term before it) durably in the
 * metadata, then removes the files, so a crash at any point leaves a log
 * that starts at either the old or the new first index.  *new_first (may
 * be NULL) is the first index afterwards.
 */
extern dcf_rc dcf_log_truncate_prefix(dcf_log *log, uint64_t below_index,
									  const dcf_log_holds *holds, uint64_t *new_first,
									  char *errmsg);

/*
 * Discards every entry and restarts the log empty at first_index, with
 * prev_term as the term of first_index - 1 (a follower whose log fell
 * behind the leader's first index, after a build).  Durable on return.
 */
extern dcf_rc dcf_log_reset(dcf_log *log, uint64_t first_index, uint64_t prev_term,
							char *errmsg);

/*
 * The current metadata.  Ownership: the record and its membership bytes
 * belong to the log and stay valid until the next dcf_log_save_meta(),
 * truncation or reset, or dcf_log_close().
 */
extern const dcf_meta *dcf_log_meta(const dcf_log *log);

/*
 * Durably replaces term, voted_for, applied_index, repair_index and
 * membership with those of *meta (copied).  first_index, prev_term and
 * durable_index in *meta are ignored: the log owns them (the durable mark
 * is raised to the durable index at the time of the save).
 */
extern dcf_rc dcf_log_save_meta(dcf_log *log, const dcf_meta *meta, char *errmsg);

#endif							/* DCF_STORAGE_LOG_H */
