/*
 * net_frame.c — frame header encoding and validation; see net_frame.h for
 * the layout.  Pure computation: no allocation, no I/O.
 */
#include "net/net_frame.h"

#include <lz4.h>

#include "net/net_crc.h"

/* Header bytes covered by the CRC (everything before the crc field). */
#define FRAME_CRC_OFFSET 16

const char *
dcf_frame_kind_name(int kind)
{
	switch (kind)
	{
		case DCF_FRAME_HELLO:
			return "hello";
		case DCF_FRAME_CHALLENGE:
			return "challenge";
		case DCF_FRAME_AUTH:
			return "auth";
		case DCF_FRAME_WELCOME:
			return "welcome";
		case DCF_FRAME_MSG:
			return "message";
		case DCF_FRAME_PING:
			return "ping";
	}
	return "unknown";
}

void
dcf_frame_put_hdr(uint8_t *out, const dcf_frame_hdr *h)
{
	out[0] = DCF_FRAME_MAGIC0;
	out[1] = DCF_FRAME_MAGIC1;
	out[2] = DCF_FRAME_VERSION;
	out[3] = h->kind;
	out[4] = h->flags;
	out[5] = h->msg_type;
	dcf_put_u16(out + 6, 0);
	dcf_put_u32(out + 8, h->len);
	dcf_put_u32(out + 12, h->raw_len);
	dcf_put_u32(out + FRAME_CRC_OFFSET, 0);
}

void
dcf_frame_put(uint8_t *out, const dcf_frame_hdr *h, const void *payload)
{
	uint32_t	crc;

	dcf_frame_put_hdr(out, h);
	crc = dcf_net_crc32c(0, out, FRAME_CRC_OFFSET);
	if (h->len > 0)
		crc = dcf_net_crc32c(crc, payload, h->len);
	dcf_put_u32(out + FRAME_CRC_OFFSET, crc);
}

dcf_rc
dcf_frame_parse(const uint8_t *in, uint32_t max_len, dcf_frame_hdr *h,
				char *errmsg)
{
	if (in[0] != DCF_FRAME_MAGIC0 || in[1] != DCF_FRAME_MAGIC1)
		return dcf_errf(errmsg, DCF_ERR_PROTO,
						"bad frame magic 0x%02x%02x", in[0], in[1]);
	if (in[2] != DCF_FRAME_VERSION)
		return dcf_errf(errmsg, DCF_ERR_VERSION,
						"unsupported frame version %u (this node speaks %u)",
						in[2], DCF_FRAME_VERSION);
	h->kind = in[3];
	h->flags = in[4];
	h->msg_type = in[5];
	h->len = dcf_get_u32(in + 8);
	h->raw_len = dcf_get_u32(in + 12);
	h->crc = dcf_get_u32(in + FRAME_CRC_OFFSET);

	if (h->kind < DCF_FRAME_HELLO || h->kind > DCF_FRAME_KIND_MAX)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "unknown frame kind %u", h->kind);
	if (dcf_get_u16(in + 6) != 0)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "nonzero reserved header bytes");
	if ((h->flags & ~DCF_FRAME_F_ALL) != 0)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "unknown frame flags 0x%02x",
						h->flags);
	if (h->kind != DCF_FRAME_MSG && (h->flags != 0 || h->msg_type != 0))
		return dcf_errf(errmsg, DCF_ERR_PROTO,
						"%s frame with message flags or type",
						dcf_frame_kind_name(h->kind));
	if (h->len > max_len)
		return dcf_errf(errmsg, DCF_ERR_PROTO,
						"%s frame length %u exceeds limit %u",
						dcf_frame_kind_name(h->kind), h->len, max_len);
	if (h->flags & DCF_FRAME_F_LZ4)
	{
		if (h->raw_len > DCF_FRAME_MAX_BYTES)
			return dcf_errf(errmsg, DCF_ERR_PROTO,
							"decompressed length %u exceeds limit %u",
							h->raw_len, DCF_FRAME_MAX_BYTES);

		/*
		 * lz4 never emits an empty block for a non-empty input, and never
		 * more than its bound: anything else is not something we sent.
		 */
		if (h->raw_len == 0 || h->len == 0 ||
			h->len > (uint32_t) LZ4_compressBound((int) h->raw_len))
			return dcf_errf(errmsg, DCF_ERR_PROTO,
							"compressed length %u impossible for %u raw bytes",
							h->len, h->raw_len);
	}
	else if (h->raw_len != h->len)
		return dcf_errf(errmsg, DCF_ERR_PROTO,
						"uncompressed frame with raw length %u != length %u",
						h->raw_len, h->len);
	return DCF_OK;
}

int
dcf_frame_crc_ok(const uint8_t *in, const dcf_frame_hdr *h)
{
	uint32_t	crc = dcf_net_crc32c(0, in, FRAME_CRC_OFFSET);

	if (h->len > 0)
		crc = dcf_net_crc32c(crc, in + DCF_FRAME_HDR_BYTES, h->len);
	return crc == h->crc;
}

