/*
 * dcf_walentry.h — the PostgreSQL layer's log entries: WAL chunks and
 * timeline switches.  Plain C, no PostgreSQL server headers.
 *
 * The leader's WAL is the replicated log.  Two application entry types
 * (>= DCF_ENTRY_APP_MIN, opaque to the consensus core) carry it:
 *
 *   DCF_ENTRY_WAL       one contiguous piece of WAL of one timeline:
 *                       u32 version | u32 tli | u64 start LSN | bytes
 *   DCF_ENTRY_TLSWITCH  written by a new leader right after it promoted,
 *                       before any WAL of its new timeline:
 *                       u32 version | u32 new tli | u64 switch LSN |
 *                       u32 leader node id | u32 leader PostgreSQL port |
 *                       u32 history length | history file bytes
 *   DCF_ENTRY_TLRESERVE written by a new leader, and committed, before it
 *                       promotes: the timeline it will promote to, so that
 *                       no two leaders ever use the same timeline ID, even
 *                       when one promoted and died before its switch entry
 *                       committed:
 *                       u32 version | u32 tli | u32 leader node id
 *
 * Integers are little-endian.  Every entry's key is non-decreasing along the
 * log (the storage layer and the core require it): a WAL chunk's key is its
 * end LSN and a switch's key its switch LSN, each raised to the previous
 * key when lower — which happens when a new timeline begins below the end
 * of the old timeline's last chunk (promotion discards a trailing partial
 * record).  So "first entry with key > L" is never after the entry that
 * holds L, and a reader looking for L walks forward from there.
 */
#ifndef DCF_WALENTRY_H
#define DCF_WALENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dcf_err.h"

#define DCF_ENTRY_WAL				16
#define DCF_ENTRY_TLSWITCH			17
#define DCF_ENTRY_TLRESERVE			18

#define DCF_WALENTRY_VERSION		1
#define DCF_WAL_CHUNK_HEADER_BYTES	16
#define DCF_WAL_CHUNK_MAX_BYTES		(128 * 1024)	/* WAL bytes per entry */
#define DCF_TLSWITCH_HEADER_BYTES	28
#define DCF_TLSWITCH_HISTORY_MAX_BYTES (64 * 1024)
#define DCF_TLRESERVE_BYTES			12

typedef struct dcf_wal_chunk
{
	uint32_t	tli;
	uint64_t	start;
	const uint8_t *data;
	uint32_t	len;
} dcf_wal_chunk;

typedef struct dcf_tlswitch
{
	uint32_t	tli;			/* the new timeline */
	uint64_t	switch_lsn;		/* where it begins */
	uint32_t	leader_id;
	uint32_t	pg_port;		/* the leader's PostgreSQL port */
	const char *history;		/* content of <tli>.history */
	uint32_t	history_len;
} dcf_tlswitch;

typedef struct dcf_tlreserve
{
	uint32_t	tli;			/* the timeline the leader will promote to */
	uint32_t	leader_id;
} dcf_tlreserve;

/* Encoders write into buf (cap bytes) and return the length, 0 if too small. */
extern size_t dcf_wal_chunk_encode(const dcf_wal_chunk *c, uint8_t *buf, size_t cap);
extern size_t dcf_tlswitch_encode(const dcf_tlswitch *s, uint8_t *buf, size_t cap);
extern size_t dcf_tlreserve_encode(const dcf_tlreserve *r, uint8_t *buf, size_t cap);

/* Decoders point into payload; DCF_ERR_CORRUPT with a message when malformed. */
extern dcf_rc dcf_wal_chunk_decode(const uint8_t *payload, size_t len, dcf_wal_chunk *c,
								   char *errmsg);
extern dcf_rc dcf_tlswitch_decode(const uint8_t *payload, size_t len, dcf_tlswitch *s,
								  char *errmsg);
extern dcf_rc dcf_tlreserve_decode(const uint8_t *payload, size_t len, dcf_tlreserve *r,
								   char *errmsg);

/* The key rule above: max(previous key, natural key). */
static inline uint64_t
dcf_walentry_key(uint64_t prev_key, uint64_t natural)
{
	return natural > prev_key ? natural : prev_key;
}

#endif							/* DCF_WALENTRY_H */
