/*
 * net_compress.c — lz4 wrappers with the size bounds of net_frame.h.
 * Pure computation; the caller owns every buffer.
 */
#include "net/net_compress.h"

#include <lz4.h>

#include "core/dcf_assert.h"
#include "net/net_frame.h"

size_t
dcf_net_lz4_bound(size_t len)
{
	DCF_ASSERT(len <= DCF_FRAME_MAX_BYTES);
	return (size_t) LZ4_compressBound((int) len);
}

size_t
dcf_net_lz4_compress(const void *src, size_t len, void *dst, size_t cap)
{
	int			n;

	DCF_ASSERT(len <= DCF_FRAME_MAX_BYTES);
	if (len == 0)
		return 0;
	/* Ask lz4 for at most len - 1 bytes: a result that is not smaller is useless. */
	n = LZ4_compress_default(src, dst, (int) len,
							 (int) (cap < len - 1 ? cap : len - 1));
	return n > 0 ? (size_t) n : 0;
}

dcf_rc
dcf_net_lz4_decompress(const void *src, size_t len, void *dst, size_t raw_len,
					   char *errmsg)
{
	int			n;

	if (len > DCF_FRAME_MAX_BYTES || raw_len > DCF_FRAME_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "lz4 block too large");
	n = LZ4_decompress_safe(src, dst, (int) len, (int) raw_len);
	if (n < 0 || (size_t) n != raw_len)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT,
						"lz4 payload does not decompress to its declared %zu bytes",
						raw_len);
	return DCF_OK;
}
