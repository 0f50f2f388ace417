/*
 * dcf_bytes.h — little-endian integer encoding for on-disk and log-entry
 * formats (storage segments and metadata, the PostgreSQL layer's WAL
 * entries).  Byte by byte, so it is independent of the host's byte order
 * and alignment.
 */
#ifndef DCF_BYTES_H
#define DCF_BYTES_H

#include <stdint.h>

static inline void
dcf_le_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
}

static inline void
dcf_le_put64(uint8_t *p, uint64_t v)
{
	dcf_le_put32(p, (uint32_t) v);
	dcf_le_put32(p + 4, (uint32_t) (v >> 32));
}

static inline uint32_t
dcf_le_get32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static inline uint64_t
dcf_le_get64(const uint8_t *p)
{
	return (uint64_t) dcf_le_get32(p) | ((uint64_t) dcf_le_get32(p + 4) << 32);
}

#endif							/* DCF_BYTES_H */
