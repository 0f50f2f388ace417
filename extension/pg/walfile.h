/*
 * walfile.h — WAL positions, timeline history files and WAL segment files
 * of a pg_wal directory, without PostgreSQL server headers.
 *
 * The WAL feeder (feeder*.c) and the hosts that feed it (the background
 * worker, the test harness) need three things PostgreSQL keeps in its
 * server headers:
 *
 *   - LSNs in their text form "X/X" (IDENTIFY_SYSTEM, START_REPLICATION,
 *     history files);
 *   - the content of a timeline history file ("<parent tli>\t<switch
 *     point>\t<reason>" per line, as PostgreSQL's writeTimeLineHistory
 *     writes it), parsed into the list of timeline spans it describes;
 *   - the bytes of the WAL history of a timeline at an LSN, read from the
 *     segment files of a pg_wal directory.
 *
 * Which file holds a byte.  A timeline t begins where its parent ended (the
 * switch point).  Its history below that point is its parent's, and lives in
 * the parent's segment files, except for the segment that contains the
 * switch point: at promotion PostgreSQL copies the used part of that segment
 * into a file of the new timeline (and renames the parent's file to
 * ".partial").  PostgreSQL's own readers (XLogFileReadAnyTLI, the
 * walsender's XLogRead) therefore open, for segment s, the file of the
 * newest timeline of the history that began in or before s.  We do the same,
 * falling back to older timelines — never older than the timeline that owns
 * the LSN, whose files past their switch point may hold another history —
 * and to ".partial" names when a file is missing.
 *
 * Invariants: every span list is ordered by timeline and by LSN, spans are
 * contiguous (span[i].end == span[i+1].begin) and only the last one is open
 * (end == DCF_WALFILE_LSN_END); a read never crosses a segment boundary and
 * never returns bytes of a timeline that does not own the LSN in the given
 * history.
 */
#ifndef DCF_WALFILE_H
#define DCF_WALFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dcf_err.h"

/* An LSN (XLogRecPtr): a byte position in the WAL stream. */
typedef uint64_t dcf_lsn;

#define DCF_WALFILE_LSN_INVALID		((dcf_lsn) 0)
#define DCF_WALFILE_LSN_END			UINT64_MAX	/* open end of the newest span */

/* "FFFFFFFF/FFFFFFFF" plus NUL. */
#define DCF_WALFILE_LSN_TEXT_BYTES	18

#define DCF_WALFILE_PAGE_BYTES		8192	/* XLOG_BLCKSZ of a stock build */
#define DCF_WALFILE_SEG_BYTES_DEFAULT (16 * 1024 * 1024)
#define DCF_WALFILE_SEG_BYTES_MIN	(1024 * 1024)	/* initdb --wal-segsize range */
#define DCF_WALFILE_SEG_BYTES_MAX	(1024 * 1024 * 1024)

/* Timelines in one parsed history (a line is ~40 bytes: ~40 kB of file). */
#define DCF_WALFILE_HISTORY_MAX_SPANS 1024
/* Largest history file content accepted. */
#define DCF_WALFILE_HISTORY_MAX_BYTES (64 * 1024)
/* "0000000A.history" or "00000001000000000000000A.partial" plus NUL. */
#define DCF_WALFILE_NAME_BYTES		40

/* The part of the WAL history written on one timeline: [begin, end). */
typedef struct dcf_walfile_span
{
	uint32_t	tli;
	dcf_lsn		begin;
	dcf_lsn		end;			/* switch point; DCF_WALFILE_LSN_END if open */
} dcf_walfile_span;

/* The history of one timeline: its ancestors oldest first, then itself. */
typedef struct dcf_walfile_history
{
	uint32_t	nspans;
	dcf_walfile_span span[DCF_WALFILE_HISTORY_MAX_SPANS];
} dcf_walfile_history;

/* ---- LSNs ----------------------------------------------------------- */

/* Parse "X/X" (1 to 8 hex digits each side, nothing else); false if not. */
extern bool dcf_walfile_lsn_parse(const char *text, dcf_lsn *lsn);

/* Format as PostgreSQL does ("%X/%X"); returns out. */
extern char *dcf_walfile_lsn_format(char out[DCF_WALFILE_LSN_TEXT_BYTES],
									dcf_lsn lsn);

/* ---- timeline histories --------------------------------------------- */

/*
 * Parse the content of timeline tli's history file into h.  tli 1 has no
 * file: pass len 0 and get the single span [0, end).  Blank lines and
 * '#' comments are skipped, as PostgreSQL does; each other line must be
 * "<tli> <switch point> ..." with timelines increasing, switch points not
 * decreasing, and every timeline below tli.  On error returns
 * DCF_ERR_CORRUPT and names the line.
 */
extern dcf_rc dcf_walfile_history_parse(uint32_t tli, const char *content,
										size_t len, dcf_walfile_history *h,
										char *errmsg);

/* The span of timeline tli in h, or NULL when tli is not in the history. */
extern const dcf_walfile_span *dcf_walfile_history_find(const dcf_walfile_history *h,
														uint32_t tli);

/* The span that holds lsn in h (the newest one for lsn beyond its begin). */
extern const dcf_walfile_span *dcf_walfile_history_owner(const dcf_walfile_history *h,
														 dcf_lsn lsn);

/* "%08X.history" */
extern void dcf_walfile_history_name(char out[DCF_WALFILE_NAME_BYTES], uint32_t tli);

/* ---- segment files --------------------------------------------------- */

/* A power of two between DCF_WALFILE_SEG_BYTES_MIN and _MAX. */
extern bool dcf_walfile_seg_bytes_valid(uint64_t seg_bytes);

/* The segment file name of (tli, segment number), as XLogFileName. */
extern void dcf_walfile_segment_name(char out[DCF_WALFILE_NAME_BYTES], uint32_t tli,
									 uint64_t segno, uint32_t seg_bytes);

/*
 * Read up to n bytes of the WAL history h at lsn from the segment files in
 * dir (see the header comment for the choice of file).  Stops at the end of
 * the segment and at the end of the owning span, so *got may be below n;
 * *got is 0 only when n is 0.  The caller knows how far the WAL is valid:
 * segment files are preallocated, so their length says nothing about it.
 * DCF_ERR_NOTFOUND when no file holds the segment, DCF_ERR_INVALID when lsn
 * is not in h, DCF_ERR_IO on a failed or short read.
 */
extern dcf_rc dcf_walfile_read(const char *dir, uint32_t seg_bytes,
							   const dcf_walfile_history *h, dcf_lsn lsn,
							   void *buf, size_t n, size_t *got, char *errmsg);

#endif							/* DCF_WALFILE_H */
