/*
 * fuzz_frame.c — fuzz target for the frame decoder: header validation,
 * CRC, lz4 decompression and delivery of an authenticated connection's
 * stream (extension/net/net_frame.c, net_session.c, net_compress.c).
 * Input format in fuzz_net_common.h (the side bit is ignored: the stream
 * is what an authenticated dialer sends to a listener; the other direction
 * runs the same code).
 *
 * The session is put into the OPEN state directly, which the real code only
 * reaches through the handshake (fuzz_handshake covers that), so every
 * mutation exercises the post-authentication decoder.  Checks: the header
 * decoder never accepts a length above the limit it was given, delivered
 * payloads are within DCF_FRAME_MAX_BYTES and readable to their last byte,
 * the decoder never asks for more than one maximal frame, a message stream
 * never makes the listener answer, and a failed session stays failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_net_common.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t delivered_bytes;

static int
on_msg(void *arg, dcf_sess *s, uint8_t type, const uint8_t *p, size_t len)
{
	uint64_t	sum = 0;

	if (s->state != DCF_SESS_OPEN || len > DCF_FRAME_MAX_BYTES)
		abort();
	for (size_t i = 0; i < len; i += 4096)
		sum += p[i];
	if (len)
		sum += p[len - 1];
	delivered_bytes += len + (sum & 1);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static dcf_net_key key;
	static dcf_netbuf zbuf;
	static int	ready;
	dcf_sess_env env;
	dcf_sess	s;
	dcf_netbuf	out;
	uint8_t		sn[DCF_NET_NONCE_BYTES];
	uint8_t    *buf;
	size_t		n,
				pos = 0,
				avail = 0;
	uint8_t		flags;
	char		err[DCF_ERRMSG_MAX];

	if (!ready)
	{
		fz_key(&key);
		dcf_netbuf_init(&zbuf, DCF_FRAME_MAX_BYTES);
		ready = 1;
	}
	if (size < 1)
		return 0;
	flags = data[0];
	n = size - 1;
	buf = malloc(n ? n : 1);
	memcpy(buf, data + 1, n);
	if (flags & FZ_FIX_CRC)
		fz_fix_crcs(buf, n);

	/* the bare header decoder at every limit a caller uses */
	if (n >= DCF_FRAME_HDR_BYTES)
	{
		dcf_frame_hdr h;
		static const uint32_t limits[] = {0, DCF_FRAME_HS_MAX_BYTES, DCF_FRAME_MAX_BYTES};

		for (int i = 0; i < 3; i++)
			if (dcf_frame_parse(buf, limits[i], &h, err) == DCF_OK &&
				(h.len > limits[i] || h.raw_len > DCF_FRAME_MAX_BYTES))
				abort();
	}

	memset(&env, 0, sizeof(env));
	env.key = &key;
	env.self_id = FZ_SERVER_ID;
	env.is_member = fz_is_member;
	env.on_msg = on_msg;
	env.zbuf = &zbuf;
	dcf_netbuf_init(&out, 4096);
	fz_nonce(sn, FZ_SN);
	dcf_sess_server_start(&s, &env, NULL, sn, NULL);
	s.state = DCF_SESS_OPEN;	/* as if the handshake had succeeded */
	s.client_id = FZ_CLIENT_ID;

	while (avail < n)
	{
		size_t		consumed,
					need;
		dcf_rc		rc;

		avail = (flags & FZ_CHUNKED) ? avail + 1 + buf[avail] % 251 : n;
		if (avail > n)
			avail = n;
		rc = dcf_sess_input(&s, buf + pos, avail - pos, &consumed, &need, &out, err);
		if (consumed > avail - pos || need > DCF_FRAME_HDR_BYTES + DCF_FRAME_MAX_BYTES)
			abort();
		/* messages and pings never make the listener answer */
		if (dcf_netbuf_len(&out) != 0)
			abort();
		pos += consumed;
		if (rc != DCF_OK)
		{
			if (s.state != DCF_SESS_FAILED)
				abort();
			break;
		}
	}
	dcf_netbuf_free(&out);
	free(buf);
	return 0;
}
