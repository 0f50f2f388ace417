/*
 * log_int.h — what log.c (appends, sync, reads, truncation, close) and
 * log_load.c (open: loading and torn-tail repair) share: the handle's
 * layout and the helpers both use.  Private to extension/storage; the API
 * is log.h.  The invariants the fields keep are numbered in log.c.
 */
#ifndef DCF_STORAGE_LOG_INT_H
#define DCF_STORAGE_LOG_INT_H

#include "storage/log.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* entries per pwritev: three iovecs each (header, payload, padding),
 * well under Linux's IOV_MAX of 1024 */
#define LOG_WRITE_CHUNK_ENTRIES 256
#define LOG_WRITE_CHUNK_IOVS	(3 * LOG_WRITE_CHUNK_ENTRIES)

typedef struct log_file
{
	int			fd;
	int			dfd;			/* DCF_IO_DIRECT descriptor for large appends, -1
								 * until the first one; owner thread */
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
	/* direct appends (log.c, write_direct) */
	uint8_t    *dio_mem;		/* allocation holding dio_buf */
	uint8_t    *dio_buf;		/* LOG_DIO_BUF_BYTES, aligned */
	int			dio_off;		/* the file system refused DCF_IO_DIRECT */
	uint64_t	direct_appends; /* appends written with DCF_IO_DIRECT */

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

/* ---- helpers defined in log.c ---- */

/* "<dir>/<name>" into out (DCF_PATH_MAX_BYTES); DCF_ERR_INVALID if too long */
extern dcf_rc log_seg_path(const dcf_log *log, const char *name, char *out, char *errmsg);
/* grows *p (elements of elem bytes) to hold need; -1 when out of memory */
extern int	log_grow(void **p, size_t *cap, size_t need, size_t elem);
/* opens seg's file if needed, closing the least recently used others */
extern dcf_rc log_seg_file(dcf_log *log, log_seg *seg, char *errmsg);
extern void log_seg_free(dcf_log *log, log_seg *seg);
/* adds an entry read or written at off to seg's index and the term runs */
extern dcf_rc log_push_entry(dcf_log *log, log_seg *seg, uint64_t off, uint64_t index,
							 uint64_t term, uint64_t key, uint32_t len, char *errmsg);
/* cuts the newest segment at offset off, durably; sync_mu held */
extern dcf_rc log_cut_newest(dcf_log *log, uint64_t off, char *errmsg);
/* durably replaces the metadata and keeps a copy in log->meta */
extern dcf_rc log_write_meta(dcf_log *log, const dcf_meta *m, char *errmsg);
/* frees the handle and everything it holds */
extern void log_free(dcf_log *log);

#endif							/* DCF_STORAGE_LOG_INT_H */
