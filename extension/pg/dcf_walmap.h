/*
 * dcf_walmap.h — where the WAL is in the consensus log: timelines, their
 * switch points and history files, and how far each is committed.
 *
 * Plain C, no PostgreSQL headers.  The worker builds the map by scanning the
 * log at start (dcf_walmap_add for every entry), keeps it current as entries
 * are appended (dcf_walmap_add), removed by a conflict
 * (dcf_walmap_truncate) and committed (dcf_walmap_commit), and the WAL
 * feeder's source asks it what may be served.
 *
 * Invariants:
 *   1. Timelines are listed in log order; each begins (begin_lsn) at its
 *      switch point (from its DCF_ENTRY_TLSWITCH) or, for the timeline of
 *      the log's first WAL, where that WAL starts.
 *   2. Committed state only moves forward: a timeline is visible
 *      (committed) once its switch entry is committed, and committed_end
 *      is the end of its last committed WAL chunk (begin_lsn before any).
 *   3. Entries above the commit index sit in a bounded FIFO until committed
 *      or truncated; truncation never reaches committed entries.
 *   4. Timeline reservations (DCF_ENTRY_TLRESERVE) are kept in log order;
 *      a new leader reserves a timeline above every one the log names.
 */
#ifndef DCF_WALMAP_H
#define DCF_WALMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/dcf_err.h"

#define DCF_WALMAP_PENDING_MAX		(1u << 20)	/* uncommitted entries tracked */

typedef struct dcf_walmap_tl
{
	uint32_t	tli;
	uint64_t	switch_index;	/* index of its TLSWITCH entry; 0: first timeline */
	uint64_t	begin_lsn;
	uint64_t	appended_end;	/* end of its last appended WAL chunk */
	uint64_t	committed_end;	/* end of its last committed WAL chunk */
	uint64_t	first_wal_index;	/* first WAL chunk of it in the log; 0: none */
	bool		committed;		/* its switch entry (if any) is committed */
	uint32_t	leader_id;		/* who created it (0: unknown) */
	uint32_t	pg_port;
	char	   *history;		/* <tli>.history content (malloc); NULL for the first */
	uint32_t	history_len;
} dcf_walmap_tl;

typedef struct dcf_walmap dcf_walmap;

extern dcf_walmap *dcf_walmap_create(void);
extern void dcf_walmap_destroy(dcf_walmap *m);

/*
 * An entry was appended (or found at start).  type/payload as in the log;
 * other entry types are ignored.  DCF_ERR_CORRUPT for a malformed WAL or
 * switch entry, or WAL that does not continue its timeline.
 */
extern dcf_rc dcf_walmap_add(dcf_walmap *m, uint64_t index, uint8_t type,
							 const uint8_t *payload, uint32_t len, char *errmsg);

/* Entries from index on were removed. */
extern void dcf_walmap_truncate(dcf_walmap *m, uint64_t from_index);

/* Everything up to index is committed (and durable here). */
extern void dcf_walmap_commit(dcf_walmap *m, uint64_t index);

/* The newest committed timeline, or NULL when the log has none yet. */
extern const dcf_walmap_tl *dcf_walmap_latest(const dcf_walmap *m);

/* The newest timeline appended (committed or not), or NULL. */
extern const dcf_walmap_tl *dcf_walmap_latest_appended(const dcf_walmap *m);

/* The timeline tli, or NULL. */
extern const dcf_walmap_tl *dcf_walmap_find(const dcf_walmap *m, uint32_t tli);

/* The committed timeline after tli (its successor), or NULL. */
extern const dcf_walmap_tl *dcf_walmap_next(const dcf_walmap *m, uint32_t tli);

extern uint64_t dcf_walmap_commit_index(const dcf_walmap *m);

/* The highest timeline ID the log switched to or reserved (0: none). */
extern uint32_t dcf_walmap_max_tli(const dcf_walmap *m);

/* Whether the log holds a reservation of tli (its index into *index). */
extern bool dcf_walmap_reserved(const dcf_walmap *m, uint32_t tli, uint64_t *index);

/*
 * Whether tli was abandoned: reserved by a committed entry, never switched
 * to in the log, and a newer timeline was reserved or switched to since.
 * A server on an abandoned timeline promoted but its leadership never
 * reached the log: its WAL diverged from the cluster's.
 */
extern bool dcf_walmap_abandoned(const dcf_walmap *m, uint32_t tli);

#endif							/* DCF_WALMAP_H */
