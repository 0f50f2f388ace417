/*
 * net_frame.h — the wire format of every byte dcf nodes exchange.
 *
 * A stream (one TCP connection, optionally inside TLS) is a sequence of
 * frames.  Each frame is a fixed 20-byte header followed by `len` payload
 * bytes.  All integers are little-endian.
 *
 *   off size field
 *     0    2 magic       0xDC 0xF5
 *     2    1 version     DCF_FRAME_VERSION
 *     3    1 kind        dcf_frame_kind (HELLO, CHALLENGE, AUTH, WELCOME, MSG, PING)
 *     4    1 flags       DCF_FRAME_F_LZ4: payload is one lz4 block (MSG only)
 *     5    1 msg_type    the sender's message type (MSG only, opaque to net)
 *     6    2 reserved    zero
 *     8    4 len         payload bytes on the wire
 *    12    4 raw_len     payload bytes after decompression (== len if raw)
 *    16    4 crc         CRC-32C of header bytes 0..15 then the wire payload
 *
 * Invariants the decoder enforces before the caller allocates anything:
 * len <= the caller's limit (DCF_FRAME_HS_MAX_BYTES until a connection has
 * authenticated, DCF_FRAME_MAX_BYTES after), raw_len <= DCF_FRAME_MAX_BYTES,
 * and for lz4 frames len can only be what lz4 produces for raw_len bytes.
 * Unknown versions, kinds and flags are refused, never skipped, so a future
 * format change needs a version bump that old nodes reject by name.
 */
#ifndef DCF_NET_FRAME_H
#define DCF_NET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/dcf_err.h"

#define DCF_FRAME_MAGIC0		0xDC
#define DCF_FRAME_MAGIC1		0xF5
#define DCF_FRAME_VERSION		1
#define DCF_FRAME_HDR_BYTES		20

/* Largest payload (wire or decompressed) of one message frame, in bytes. */
#define DCF_FRAME_MAX_BYTES		(32u * 1024 * 1024)
/* Largest payload of a handshake frame; bounds what a stranger can send. */
#define DCF_FRAME_HS_MAX_BYTES	256u

typedef enum dcf_frame_kind
{
	DCF_FRAME_HELLO = 1,		/* dialer -> listener: ids, class, nonce */
	DCF_FRAME_CHALLENGE = 2,	/* listener -> dialer: nonce, listener proof */
	DCF_FRAME_AUTH = 3,			/* dialer -> listener: dialer proof */
	DCF_FRAME_WELCOME = 4,		/* listener -> dialer: accepted */
	DCF_FRAME_MSG = 5,			/* either way, once open: one message */
	DCF_FRAME_PING = 6			/* either way, once open: keepalive, no payload */
} dcf_frame_kind;

#define DCF_FRAME_KIND_MAX		DCF_FRAME_PING
#define DCF_FRAME_F_LZ4			0x01
#define DCF_FRAME_F_ALL			DCF_FRAME_F_LZ4

typedef struct dcf_frame_hdr
{
	uint8_t		kind;
	uint8_t		flags;
	uint8_t		msg_type;
	uint32_t	len;
	uint32_t	raw_len;
	uint32_t	crc;
} dcf_frame_hdr;

/*
 * Write a complete header for a payload of h->len bytes at out (20 bytes),
 * computing the CRC over the header and payload[0..len).
 */
extern void dcf_frame_put(uint8_t *out, const dcf_frame_hdr *h,
						  const void *payload);

/* Write header bytes 0..15 and a zero crc field (the caller fills it in). */
extern void dcf_frame_put_hdr(uint8_t *out, const dcf_frame_hdr *h);

/*
 * Decode and validate the header at in (DCF_FRAME_HDR_BYTES available).
 * max_len bounds h->len.  Does not check the CRC (the payload may not have
 * arrived yet): call dcf_frame_crc_ok() once it has.
 */
extern dcf_rc dcf_frame_parse(const uint8_t *in, uint32_t max_len,
							  dcf_frame_hdr *h, char *errmsg);

/* CRC check of a whole frame at in (header + h->len payload bytes). */
extern int	dcf_frame_crc_ok(const uint8_t *in, const dcf_frame_hdr *h);

extern const char *dcf_frame_kind_name(int kind);


static inline void
dcf_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
}

static inline void
dcf_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
}

static inline uint16_t
dcf_get_u16(const uint8_t *p)
{
	return (uint16_t) (p[0] | (p[1] << 8));
}

static inline uint32_t
dcf_get_u32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

#endif							/* DCF_NET_FRAME_H */
