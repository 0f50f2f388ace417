/*
 * walreader.h — reading a timeline's committed WAL bytes out of the
 * consensus log, for the follower's feeder (dcf_walsource.c).
 *
 * Pure: no PostgreSQL server header, so the unit tests link it with the
 * storage layer alone.
 *
 * The log holds WAL chunks (DCF_ENTRY_WAL: timeline, start LSN, bytes) and
 * timeline switches; a chunk's key is its end LSN raised to the previous key
 * (dcf_walentry.h), so "first entry with key > lsn" is never after the chunk
 * that holds lsn.  Between that entry and the chunk of the wanted timeline
 * there may be any number of chunks of an older timeline that lie past the
 * newer timeline's switch point (a failover during a large record): they
 * are skipped, however many there are.  A cursor remembers where the last
 * read ended, so sequential reads do not search again.
 */
#ifndef DCF_WALREADER_H
#define DCF_WALREADER_H

#include <stddef.h>
#include <stdint.h>

#include "core/dcf_err.h"
#include "storage/log.h"

typedef struct dcf_walreader
{
	dcf_log    *log;
	uint8_t    *buf;			/* one entry's worth, DCF_WALREADER_BUF_BYTES */
	uint64_t	cursor;			/* index to continue at; 0: search by key */
	/*
	 * The committed entry buf holds (0: none).  The feeder's messages (up to
	 * 128 kB, ending at page boundaries) and WAL entries (up to 128 kB) do
	 * not line up, so a sequential reader asks for most entries twice in a
	 * row; a committed entry never changes, so the second time is served
	 * from buf instead of reading and checksumming it again.
	 */
	uint64_t	cached_index;
	dcf_log_entry cached;
	uint64_t	log_reads;		/* entries read from the log (for tests) */

	/*
	 * The entries appended last, kept in memory (dcf_walreader_remember):
	 * a follower's feeder hands its standby the WAL it appended a few
	 * milliseconds earlier, and reading it back from the log cost a copy out
	 * of freshly filled page cache per byte, about as much CPU as the append
	 * itself (issue 18).  A ring of DCF_WALREADER_RECENT_BYTES; an entry is
	 * dropped when a newer one needs its bytes, or by
	 * dcf_walreader_forget_from() when the log is cut below it.
	 */
	uint8_t    *recent;			/* NULL until the first entry is remembered */
	struct dcf_walreader_slot *slots;	/* DCF_WALREADER_RECENT_SLOTS */
	uint64_t	recent_first;	/* index of the oldest entry kept; 0: none */
	uint64_t	recent_last;
	uint32_t	recent_head;	/* slot of recent_first */
	size_t		recent_wpos;	/* where the next entry's bytes go */
	uint64_t	recent_hits;	/* entries served from memory (for tests) */
} dcf_walreader;

typedef struct dcf_walreader_slot
{
	uint64_t	term;
	uint64_t	key;
	uint32_t	off;
	uint32_t	len;
	uint8_t		type;
} dcf_walreader_slot;

#define DCF_WALREADER_RECENT_BYTES	(16 * 1024 * 1024)
#define DCF_WALREADER_RECENT_SLOTS	16384

#define DCF_WALREADER_BUF_BYTES (DCF_LOG_READ_BUFFER_MIN_BYTES)

/* buf must hold DCF_WALREADER_BUF_BYTES and live as long as the reader. */
extern void dcf_walreader_init(dcf_walreader *r, dcf_log *log, uint8_t *buf);

/* Forget the cursor and the cached entry (the log was truncated). */
extern void dcf_walreader_reset(dcf_walreader *r);

/*
 * Keep a copy of an entry just appended to the log.  Every entry appended
 * must be passed, in order, and every cut of the log's suffix reported with
 * dcf_walreader_forget_from(): what is kept must equal the log.  Out of
 * memory only means nothing is kept.
 */
extern void dcf_walreader_remember(dcf_walreader *r, uint64_t index, uint64_t term, uint64_t key,
								   uint8_t type, const void *data, uint32_t len);
/* The log's entries from index on were removed. */
extern void dcf_walreader_forget_from(dcf_walreader *r, uint64_t index);
/* The kept entry at index into *e (its data valid until the next remember); 0 when not kept. */
extern int	dcf_walreader_recent(dcf_walreader *r, uint64_t index, dcf_log_entry *e);
/* Release the memory of the kept entries. */
extern void dcf_walreader_free(dcf_walreader *r);

/*
 * Copy up to n bytes of timeline tli at lsn from WAL entries at or below
 * last_index (the commit index) into out.  *got = 0 when the log holds no
 * such bytes at or below last_index.
 */
extern dcf_rc dcf_walreader_read(dcf_walreader *r, uint64_t last_index, uint32_t tli,
								 uint64_t lsn, char *out, size_t n, size_t *got, char *errmsg);

/* Read the whole entry at index into the reader's buffer (forgets the cached entry). */
extern dcf_rc dcf_walreader_entry(dcf_walreader *r, uint64_t index, dcf_log_entry *e, char *errmsg);

#endif							/* DCF_WALREADER_H */
