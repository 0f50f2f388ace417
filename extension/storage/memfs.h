/*
 * memfs.h — an in-memory file system behind the dcf_io interface that
 * simulates power loss, for the storage tests, the fuzz targets and the
 * simulator (the role of SQLite's src/test6.c).
 *
 * Model (strict POSIX, nothing more):
 *   - Every file has a durable image and a current image.  Reads see the
 *     current image.  Every write, ftruncate and fallocate since the last
 *     fdatasync of the file is remembered, in order, as an unsynced
 *     operation; fdatasync makes the current image durable.
 *   - Every create, rename, unlink and mkdir since the last sync_dir of its
 *     directory is an unsynced directory operation; sync_dir makes the
 *     directory's current names durable.  "/" always exists.
 *   - dcf_memfs_crash() is the power cut: starting from the durable images,
 *     each unsynced operation, in order, is kept, dropped, or (writes only)
 *     torn: split into sectors of which each is written, left as it was, or
 *     filled with garbage.  Each unsynced directory operation is kept or
 *     dropped independently, so directory changes may also persist out of
 *     order.  Then all descriptors are closed and the result becomes the
 *     new durable and current state, as after a reboot.
 *   - dcf_memfs_crash_after(n) makes the n-th following call the moment of
 *     the power cut: that call and every later one fail with -EIO, with no
 *     effect, until dcf_memfs_crash() is called.
 *
 * Randomness comes only from the seed given to dcf_memfs_new(), so a
 * failing seed replays exactly.  All calls are serialised by one mutex, so
 * a helper thread may call fdatasync while another writes.
 */
#ifndef DCF_STORAGE_MEMFS_H
#define DCF_STORAGE_MEMFS_H

#include "storage/storage_io.h"

#include <stddef.h>
#include <stdint.h>

typedef struct dcf_memfs dcf_memfs;

typedef struct dcf_memfs_crash_policy
{
	unsigned	write_keep_pct;	/* unsynced writes kept whole */
	unsigned	write_tear_pct; /* unsynced writes torn (rest: dropped) */
	unsigned	garbage_pct;	/* in a torn write, sectors filled with garbage */
	unsigned	other_keep_pct; /* unsynced ftruncate/fallocate kept */
	unsigned	dir_keep_pct;	/* unsynced directory operations kept */
	uint32_t	sector_bytes;	/* unit of tearing; 0 means 512 */
} dcf_memfs_crash_policy;

/* What one dcf_memfs_crash() did, for test statistics. */
typedef struct dcf_memfs_crash_stats
{
	uint64_t	writes_kept;
	uint64_t	writes_dropped;
	uint64_t	writes_torn;
	uint64_t	other_kept;
	uint64_t	other_dropped;
	uint64_t	dir_kept;
	uint64_t	dir_dropped;
} dcf_memfs_crash_stats;

/* A policy that keeps, tears and drops in roughly equal shares. */
extern const dcf_memfs_crash_policy dcf_memfs_policy_default;

extern dcf_memfs *dcf_memfs_new(uint64_t seed);
extern void dcf_memfs_free(dcf_memfs *fs);
extern const dcf_io *dcf_memfs_io(dcf_memfs *fs);

/* Power cut at the n-th following call (n >= 1); 0 cancels. */
extern void dcf_memfs_crash_after(dcf_memfs *fs, uint64_t ncalls);
/* True once the power-cut call has happened (and until dcf_memfs_crash). */
extern int	dcf_memfs_is_down(dcf_memfs *fs);
/* Number of dcf_io calls made so far. */
extern uint64_t dcf_memfs_calls(dcf_memfs *fs);
/* Make the n-th following fdatasync fail with -EIO (no power cut). */
extern void dcf_memfs_fail_fdatasync_after(dcf_memfs *fs, uint64_t nsyncs);
/* on: opening with DCF_IO_DIRECT fails with -EINVAL, as on tmpfs */
extern void dcf_memfs_no_direct(dcf_memfs *fs, int on);

/* The power cut and reboot; stats may be NULL; policy NULL = default. */
extern void dcf_memfs_crash(dcf_memfs *fs, const dcf_memfs_crash_policy *policy,
							dcf_memfs_crash_stats *stats);

/*
 * Direct access for tests, outside the durability model: read a file's
 * current image (malloc'd copy in *data, caller frees), or replace a
 * file's content, durably, creating it (and its directory entry) if
 * needed.  Return 0 or a negative errno.
 */
extern int	dcf_memfs_read_file(dcf_memfs *fs, const char *path, uint8_t **data, size_t *len);
extern int	dcf_memfs_write_file(dcf_memfs *fs, const char *path, const void *data, size_t len);
/* Create a directory durably (test set-up). */
extern int	dcf_memfs_mkdir_durable(dcf_memfs *fs, const char *path);

#endif							/* DCF_STORAGE_MEMFS_H */
