/*
 * dcf_wire.h — byte-level facts of PostgreSQL's frontend/backend protocol
 * shared by the WAL pump (pump.c, a client of the local walsender) and the
 * WAL feeder (feeder*.c, a server to the local walreceiver): big-endian
 * integers and the time base of the replication messages.
 *
 * Invariants:
 *   - Every integer on the wire is big-endian (network order), whatever
 *     the host's byte order; these helpers go byte by byte, so they need
 *     no alignment either.
 *   - Replication messages carry time as microseconds since PostgreSQL's
 *     epoch (2000-01-01 00:00 UTC); the hosts keep Unix time.  The two
 *     conversions below are the only place the offset is applied.
 *
 * Header-only (static inline), with no PostgreSQL header, so that the
 * standalone test harnesses compile it too.
 */
#ifndef DCF_WIRE_H
#define DCF_WIRE_H

#include <stdint.h>

/* µs between the Unix epoch (1970-01-01) and PostgreSQL's (2000-01-01). */
#define DCF_PG_EPOCH_OFFSET_US	(INT64_C(946684800) * 1000000)

static inline uint32_t
dcf_wire_get_u32(const char *p)
{
	const unsigned char *u = (const unsigned char *) p;

	return ((uint32_t) u[0] << 24) | ((uint32_t) u[1] << 16) |
		((uint32_t) u[2] << 8) | (uint32_t) u[3];
}

static inline uint64_t
dcf_wire_get_u64(const char *p)
{
	return ((uint64_t) dcf_wire_get_u32(p) << 32) | dcf_wire_get_u32(p + 4);
}

static inline void
dcf_wire_put_u32(char *p, uint32_t v)
{
	p[0] = (char) (v >> 24);
	p[1] = (char) (v >> 16);
	p[2] = (char) (v >> 8);
	p[3] = (char) v;
}

static inline void
dcf_wire_put_u64(char *p, uint64_t v)
{
	dcf_wire_put_u32(p, (uint32_t) (v >> 32));
	dcf_wire_put_u32(p + 4, (uint32_t) v);
}

/* µs since PostgreSQL's epoch for a Unix time in µs, as the protocol wants. */
static inline int64_t
dcf_wire_pg_time(int64_t unix_us)
{
	return unix_us - DCF_PG_EPOCH_OFFSET_US;
}

/* The other way: a time from the protocol as µs since the Unix epoch. */
static inline int64_t
dcf_wire_unix_time(int64_t pg_us)
{
	return pg_us + DCF_PG_EPOCH_OFFSET_US;
}

#endif							/* DCF_WIRE_H */
