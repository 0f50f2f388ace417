/*
 * fuzz_net_common.h — shared by the net fuzz targets (fuzz_frame.c,
 * fuzz_handshake.c) and regress/unit/test_net_fuzzseeds.c, which builds
 * their seed corpus and checks the committed files still match it.
 *
 * An input is one flags byte followed by a byte stream that is fed to a
 * session as if it had arrived on a socket:
 *   FZ_SIDE_CLIENT  drive a dialer (stream = what a listener answers);
 *                   otherwise a listener (stream = what a dialer sends)
 *   FZ_FIX_CRC      recompute the CRC of every complete frame first, so
 *                   mutations reach the code behind the CRC check
 *   FZ_CHUNKED      feed the stream in pieces whose sizes come from the
 *                   stream's own bytes (incremental parsing)
 *   FZ_BINDING      the session runs "inside TLS" (a fixed binding)
 * All nonces and the key are fixed, so a seed can carry valid proofs and
 * mutations explore the authenticated states too.
 */
#ifndef FUZZ_NET_COMMON_H
#define FUZZ_NET_COMMON_H

#include <stdint.h>
#include <string.h>

#include "core/crc32c.h"
#include "net/net_auth.h"
#include "net/net_compress.h"
#include "net/net_frame.h"
#include "net/net_session.h"

#define FZ_SIDE_CLIENT	0x01
#define FZ_FIX_CRC		0x02
#define FZ_CHUNKED		0x04
#define FZ_BINDING		0x08

#define FZ_CLIENT_ID	1
#define FZ_SERVER_ID	5
#define FZ_OTHER_ID		3		/* also a member, also below the server */

static inline void
fz_key(dcf_net_key *k)
{
	uint8_t		b[32];

	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t) (0xa5 ^ (i * 29));
	dcf_net_key_set(k, b, sizeof(b), NULL);
}

static inline void
fz_nonce(uint8_t *n, int which)
{
	for (int i = 0; i < DCF_NET_NONCE_BYTES; i++)
		n[i] = (uint8_t) (which * 101 + i * 3);
}

/* which: 1 client nonce, 2 server nonce, 3 TLS binding */
#define FZ_CN 1
#define FZ_SN 2
#define FZ_BIND 3

static inline int
fz_is_member(void *arg, uint32_t id)
{
	return id == FZ_CLIENT_ID || id == FZ_OTHER_ID;
}

/* The proofs as net_session.h specifies them, computed independently. */
static inline void
fz_proof(const dcf_net_key *k, const char *label, uint8_t cls, uint32_t client_id,
		 uint32_t server_id, const uint8_t *cn, const uint8_t *sn,
		 const uint8_t *binding, uint8_t *out)
{
	uint8_t		t[1 + 4 + 4 + 2 * DCF_NET_NONCE_BYTES + 1 + 32];
	size_t		n = 0;

	t[n++] = cls;
	dcf_put_u32(t + n, client_id);
	n += 4;
	dcf_put_u32(t + n, server_id);
	n += 4;
	memcpy(t + n, cn, DCF_NET_NONCE_BYTES);
	n += DCF_NET_NONCE_BYTES;
	memcpy(t + n, sn, DCF_NET_NONCE_BYTES);
	n += DCF_NET_NONCE_BYTES;
	t[n++] = binding ? 1 : 0;
	if (binding)
	{
		memcpy(t + n, binding, 32);
		n += 32;
	}
	dcf_net_mac(k, label, t, n, out);
}

#define FZ_LABEL_DIALER "dcf-net-v1 dialer proof"
#define FZ_LABEL_LISTENER "dcf-net-v1 listener proof"

/* Recompute the CRC of every complete frame in buf (headers must parse as lengths). */
static inline void
fz_fix_crcs(uint8_t *buf, size_t len)
{
	size_t		pos = 0;

	while (len - pos >= DCF_FRAME_HDR_BYTES)
	{
		uint32_t	flen = dcf_get_u32(buf + pos + 8);
		uint32_t	crc;

		if (flen > len - pos - DCF_FRAME_HDR_BYTES)
			return;
		crc = dcf_crc32c(0, buf + pos, 16);
		crc = dcf_crc32c(crc, buf + pos + DCF_FRAME_HDR_BYTES, flen);
		dcf_put_u32(buf + pos + 16, crc);
		pos += DCF_FRAME_HDR_BYTES + flen;
	}
}

/* Append a frame to out[*n]; returns the new length. */
static inline size_t
fz_frame(uint8_t *out, size_t n, uint8_t kind, uint8_t flags, uint8_t type,
		 const void *payload, uint32_t len, uint32_t raw_len)
{
	dcf_frame_hdr h = {.kind = kind,.flags = flags,.msg_type = type,.len = len,.raw_len = raw_len};

	dcf_frame_put(out + n, &h, payload);
	if (len)
		memcpy(out + n + DCF_FRAME_HDR_BYTES, payload, len);
	return n + DCF_FRAME_HDR_BYTES + len;
}

static inline size_t
fz_hello(uint8_t *out, size_t n, uint32_t client_id, uint32_t server_id, uint8_t cls)
{
	uint8_t		p[DCF_SESS_HELLO_BYTES] = {DCF_SESS_HS_VERSION, cls, 0, 0};

	dcf_put_u32(p + 4, client_id);
	dcf_put_u32(p + 8, server_id);
	fz_nonce(p + 12, FZ_CN);
	return fz_frame(out, n, DCF_FRAME_HELLO, 0, 0, p, sizeof(p), sizeof(p));
}

/* A message frame; lz4-compressed when lz4 and the payload shrinks. */
static inline size_t
fz_msg(uint8_t *out, size_t n, uint8_t type, const uint8_t *p, uint32_t len, int lz4)
{
	uint8_t		z[4096];
	size_t		zn = 0;

	if (lz4 && len <= 2048)
		zn = dcf_net_lz4_compress(p, len, z, sizeof(z));
	if (zn > 0)
		return fz_frame(out, n, DCF_FRAME_MSG, DCF_FRAME_F_LZ4, type, z, (uint32_t) zn, len);
	return fz_frame(out, n, DCF_FRAME_MSG, 0, type, p, len, len);
}

#endif							/* FUZZ_NET_COMMON_H */
