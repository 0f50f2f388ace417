/*
 * net_crc.h — CRC-32C for frames at memory speed.
 *
 * The same function as dcf_crc32c() (extension/core/crc32c.h: same
 * polynomial, same chaining, same values; the unit tests compare them), but
 * long buffers are split into three interleaved streams so the crc32
 * instruction's 3-cycle latency is hidden, and the streams are joined with a
 * precomputed "append L zero bytes" table.  The frame CRC is on the path of
 * every byte a node sends and receives; a single dependency chain would cost
 * as much as the kernel's own copy.  Without SSE4.2 this falls back to
 * dcf_crc32c().
 */
#ifndef DCF_NET_CRC_H
#define DCF_NET_CRC_H

#include <stddef.h>
#include <stdint.h>

/* Bytes per stream in one interleaved stripe (a stripe is 3 of them). */
#define DCF_NET_CRC_LANE_BYTES 2048

extern uint32_t dcf_net_crc32c(uint32_t crc, const void *data, size_t n);

/* Copy n bytes src -> dst and return the CRC of them chained onto crc. */
extern uint32_t dcf_net_crc32c_copy(uint32_t crc, void *dst, const void *src,
									size_t n);

#endif							/* DCF_NET_CRC_H */
