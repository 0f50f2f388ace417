/*
 * net_compress.h — lz4 block compression of message payloads.
 *
 * A payload is compressed only when the sender has dcf.compress = lz4, it is
 * at least compress_min_bytes long and lz4 actually makes it smaller; the
 * frame's DCF_FRAME_F_LZ4 flag says so, and raw_len carries the original size
 * so the receiver can bound its buffer before decompressing.  Decompression
 * must produce exactly raw_len bytes or the frame is corrupt.
 */
#ifndef DCF_NET_COMPRESS_H
#define DCF_NET_COMPRESS_H

#include <stddef.h>

#include "core/dcf_err.h"

/* Worst-case compressed size of len bytes (len <= DCF_FRAME_MAX_BYTES). */
extern size_t dcf_net_lz4_bound(size_t len);

/*
 * Compress src[0..len) into dst (cap >= dcf_net_lz4_bound(len)).  Returns the
 * compressed size, or 0 when the result would not be smaller than len (the
 * caller then sends the payload raw).
 */
extern size_t dcf_net_lz4_compress(const void *src, size_t len, void *dst,
								   size_t cap);

/* Decompress exactly raw_len bytes into dst; DCF_ERR_CORRUPT otherwise. */
extern dcf_rc dcf_net_lz4_decompress(const void *src, size_t len, void *dst,
									 size_t raw_len, char *errmsg);

#endif							/* DCF_NET_COMPRESS_H */
