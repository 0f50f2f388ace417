/*
 * test_net_proto.c — the pure parts of extension/net without sockets:
 * bounded buffers, frame encoding and validation, lz4 bounds, the key file
 * rules, and the handshake state machine driven in memory (success, wrong
 * key on either side, unknown or wrong node ids, replay, TLS binding
 * mismatch, messages before authentication, incremental input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <poll.h>

#include <lz4.h>

#include "core/crc32c.h"

#include "net/net_auth.h"
#include "net/net_buf.h"
#include "net/net_compress.h"
#include "net/net_crc.h"
#include "net/net_frame.h"
#include "net/net_queue.h"
#include "net/net_session.h"
#include "net/net_sock.h"
#include "test_net_util.h"

/* ---- bounded buffer --------------------------------------------------------- */

static void
test_netbuf(void)
{
	dcf_netbuf	b;
	uint8_t		chunk[2500];
	int			ok = 1;
	size_t		total = 0;

	dcf_netbuf_init(&b, 10000);
	for (int i = 0; i < 10; i++)
	{
		memset(chunk, i, sizeof(chunk));
		ok &= dcf_netbuf_append(&b, chunk, 1000) == DCF_OK;
	}
	CHECK(ok && dcf_netbuf_len(&b) == 10000, "netbuf: 10 x 1000 bytes fit a 10000-byte bound");
	CHECK(dcf_netbuf_append(&b, chunk, 1) == DCF_ERR_FULL && dcf_netbuf_len(&b) == 10000,
		  "netbuf: one byte more is DCF_ERR_FULL and changes nothing");
	dcf_netbuf_consume(&b, 2500);
	CHECK(dcf_netbuf_head(&b)[0] == 2 && dcf_netbuf_head(&b)[499] == 2 &&
		  dcf_netbuf_head(&b)[500] == 3, "netbuf: consume advances to the right byte");
	CHECK(dcf_netbuf_append(&b, chunk, 2500) == DCF_OK && dcf_netbuf_len(&b) == 10000,
		  "netbuf: consumed space is reusable up to the bound");
	CHECK(dcf_netbuf_head(&b)[0] == 2 && dcf_netbuf_head(&b)[9999] == 9,
		  "netbuf: bytes survive compaction in order");
	CHECK(b.cap <= b.max, "netbuf: capacity never exceeds the bound (%zu <= %zu)", b.cap, b.max);
	while (dcf_netbuf_len(&b) > 0)
	{
		size_t		n = dcf_netbuf_len(&b) < 777 ? dcf_netbuf_len(&b) : 777;

		total += n;
		dcf_netbuf_consume(&b, n);
	}
	CHECK(total == 10000 && b.head == 0 && b.tail == 0, "netbuf: drained buffer resets to offset 0");
	dcf_netbuf_trim(&b, 100);
	CHECK(b.data == NULL && b.cap == 0, "netbuf: trim frees an empty oversized buffer");
	dcf_netbuf_free(&b);
}

/* ---- fast CRC against core's reference ------------------------------------------ */

static void
test_crc(void)
{
	size_t		cap = 9 * DCF_NET_CRC_LANE_BYTES + 64;
	uint8_t    *src = malloc(cap + 16);
	uint8_t    *dst = malloc(cap + 16);
	uint64_t	x = 0x243F6A8885A308D3ULL;
	int			same = 1,
				copies = 1,
				chained = 1;
	int			n = 0;

	for (size_t i = 0; i < cap + 16; i++)
	{
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		src[i] = (uint8_t) x;
	}
	/* every length around the stripe sizes, odd alignments, nonzero seeds */
	for (size_t len = 0; len <= cap; len += (len < 1200 ? 1 : len % 3 == 0 ? 509 : 7))
	{
		size_t		off = len % 8;
		uint32_t	seed = (uint32_t) (len * 2654435761u);
		uint32_t	want = dcf_crc32c_sw(seed, src + off, len);
		size_t		cut = len / 3;

		same &= dcf_net_crc32c(seed, src + off, len) == want;
		memset(dst, 0, cap + 16);
		copies &= dcf_net_crc32c_copy(seed, dst + (len % 5), src + off, len) == want &&
			memcmp(dst + (len % 5), src + off, len) == 0 && dst[(len % 5) + len] == 0;
		chained &= dcf_net_crc32c(dcf_net_crc32c(seed, src + off, cut), src + off + cut, len - cut) == want;
		n++;
	}
	CHECK(same, "crc: dcf_net_crc32c equals core's dcf_crc32c_sw on %d lengths 0..%zu", n, cap);
	CHECK(copies, "crc: the copying variant returns the same crc and copies exactly len bytes");
	CHECK(chained, "crc: chaining over a split gives the crc of the whole");
	CHECK(dcf_net_crc32c(0, "123456789", 9) == 0xE3069283u, "crc: RFC 3720 check value of \"123456789\"");
	free(src);
	free(dst);
}

/* ---- block-chain send queue --------------------------------------------------------- */

static void
test_netq(void)
{
	dcf_netq	q;
	size_t		big = 3 * DCF_NETQ_BLOCK_BYTES + 1234;
	uint8_t    *p = malloc(big);
	uint8_t    *back = malloc(big + DCF_FRAME_HDR_BYTES);
	uint8_t		hdr[DCF_FRAME_HDR_BYTES];
	struct iovec iov[16];
	dcf_frame_hdr h = {.kind = DCF_FRAME_MSG,.msg_type = 4};
	dcf_frame_hdr g;
	char		err[DCF_ERRMSG_MAX];
	size_t		got = 0;
	int			k;

	for (size_t i = 0; i < big; i++)
		p[i] = (uint8_t) (i * 13 + (i >> 11));
	dcf_netq_init(&q, 4 * DCF_NETQ_BLOCK_BYTES);
	CHECK(dcf_netq_append2(&q, "ab", 2, "cde", 3) == DCF_OK && dcf_netq_len(&q) == 5,
		  "netq: small append");
	/* a frame that straddles blocks, with its crc computed while copying */
	h.len = h.raw_len = (uint32_t) big;
	dcf_frame_put_hdr(hdr, &h);
	CHECK(dcf_netq_append_frame(&q, hdr, p, big) == DCF_OK &&
		  dcf_netq_len(&q) == 5 + DCF_FRAME_HDR_BYTES + big, "netq: frame of 3+ blocks queued");
	CHECK(dcf_netq_append2(&q, p, DCF_NETQ_BLOCK_BYTES, NULL, 0) == DCF_ERR_FULL &&
		  dcf_netq_len(&q) == 5 + DCF_FRAME_HDR_BYTES + big, "netq: past the bound is DCF_ERR_FULL, nothing changes");
	{
		dcf_netq	small;

		dcf_netq_init(&small, 1000);
		CHECK(dcf_netq_append2(&small, p, 5000, NULL, 0) == DCF_OK && dcf_netq_len(&small) == 5000 &&
			  dcf_netq_append2(&small, p, 1, NULL, 0) == DCF_ERR_FULL,
			  "netq: an empty queue takes one append above its bound, then nothing more");
		dcf_netq_free(&small);
	}
	dcf_netq_peek(&q, 0, back, 5);
	CHECK(memcmp(back, "abcde", 5) == 0, "netq: peek reads across the two appends");
	dcf_netq_consume(&q, 5);
	/* drain through iovecs, 100000 bytes at a time, as a writer would */
	while (dcf_netq_len(&q) > 0)
	{
		size_t		take = 0;

		k = dcf_netq_iov(&q, iov, 16, 100000);
		for (int i = 0; i < k; i++)
		{
			memcpy(back + got + take, iov[i].iov_base, iov[i].iov_len);
			take += iov[i].iov_len;
		}
		dcf_netq_consume(&q, take);
		got += take;
	}
	CHECK(got == DCF_FRAME_HDR_BYTES + big && dcf_frame_parse(back, DCF_FRAME_MAX_BYTES, &g, err) == DCF_OK &&
		  g.len == big && dcf_frame_crc_ok(back, &g) && memcmp(back + DCF_FRAME_HDR_BYTES, p, big) == 0,
		  "netq: drained bytes are the frame, its crc verifies");
	CHECK(q.first == NULL && q.last == NULL && q.nspare <= DCF_NETQ_SPARE_BLOCKS_MAX,
		  "netq: drained queue holds no blocks (%d spares kept)", q.nspare);
	/* the crc field itself straddling a block boundary */
	{
		size_t		fill = DCF_NETQ_BLOCK_BYTES - 18;
		int			ok = 1;

		dcf_netq_append2(&q, p, fill, NULL, 0);
		h.len = h.raw_len = 100;
		dcf_frame_put_hdr(hdr, &h);
		ok &= dcf_netq_append_frame(&q, hdr, p, 100) == DCF_OK;
		dcf_netq_peek(&q, fill, back, DCF_FRAME_HDR_BYTES + 100);
		ok &= dcf_frame_parse(back, 1000, &g, err) == DCF_OK && dcf_frame_crc_ok(back, &g);
		CHECK(ok, "netq: a header split 18/2 over two blocks gets its crc patched correctly");
		dcf_netq_clear(&q);
		CHECK(dcf_netq_len(&q) == 0 && q.first == NULL, "netq: clear empties the queue");
	}
	dcf_netq_free(&q);
	free(p);
	free(back);
}

/* ---- frames ----------------------------------------------------------------- */

static dcf_rc
parse_mutated(const uint8_t *frame, int off, uint8_t val, uint32_t max_len, char *err)
{
	uint8_t		f[64];
	dcf_frame_hdr h;

	memcpy(f, frame, DCF_FRAME_HDR_BYTES);
	f[off] = val;
	err[0] = '\0';
	return dcf_frame_parse(f, max_len, &h, err);
}

static void
test_frames(void)
{
	uint8_t		f[DCF_FRAME_HDR_BYTES + 64];
	uint8_t		payload[64];
	dcf_frame_hdr h = {.kind = DCF_FRAME_MSG,.msg_type = 7,.len = 16,.raw_len = 16};
	dcf_frame_hdr g;
	char		err[DCF_ERRMSG_MAX];

	for (int i = 0; i < 64; i++)
		payload[i] = (uint8_t) (i * 3);
	dcf_frame_put(f, &h, payload);
	memcpy(f + DCF_FRAME_HDR_BYTES, payload, 16);
	CHECK(dcf_frame_parse(f, 100, &g, err) == DCF_OK && g.kind == DCF_FRAME_MSG &&
		  g.msg_type == 7 && g.len == 16 && g.raw_len == 16 && dcf_frame_crc_ok(f, &g),
		  "frame: encode then parse round-trips every field and the crc");
	f[DCF_FRAME_HDR_BYTES + 5] ^= 1;
	CHECK(!dcf_frame_crc_ok(f, &g), "frame: one flipped payload bit fails the crc");
	f[DCF_FRAME_HDR_BYTES + 5] ^= 1;
	f[5] ^= 0x10;
	dcf_frame_parse(f, 100, &g, err);
	CHECK(!dcf_frame_crc_ok(f, &g), "frame: a changed header byte fails the crc");
	f[5] ^= 0x10;

	CHECK(parse_mutated(f, 0, 0x00, 100, err) == DCF_ERR_PROTO && strstr(err, "magic"),
		  "frame: bad magic refused (%s)", err);
	CHECK(parse_mutated(f, 2, 2, 100, err) == DCF_ERR_VERSION && strstr(err, "version 2"),
		  "frame: unknown version refused by name (%s)", err);
	CHECK(parse_mutated(f, 3, 0, 100, err) == DCF_ERR_PROTO && strstr(err, "kind"),
		  "frame: kind 0 refused (%s)", err);
	CHECK(parse_mutated(f, 3, 6, 100, err) == DCF_ERR_PROTO, "frame: kind 6 refused");
	CHECK(parse_mutated(f, 4, 0x80, 100, err) == DCF_ERR_PROTO && strstr(err, "flags"),
		  "frame: unknown flag refused (%s)", err);
	CHECK(parse_mutated(f, 6, 1, 100, err) == DCF_ERR_PROTO && strstr(err, "reserved"),
		  "frame: nonzero reserved bytes refused (%s)", err);
	CHECK(parse_mutated(f, 12, 17, 100, err) == DCF_ERR_PROTO && strstr(err, "raw length"),
		  "frame: raw length != length without lz4 refused (%s)", err);
	CHECK(dcf_frame_parse(f, 15, &g, err) == DCF_ERR_PROTO && strstr(err, "exceeds limit 15"),
		  "frame: length above the caller's limit refused from the header alone (%s)", err);

	/* a handshake frame must not carry message flags or a type */
	h.kind = DCF_FRAME_HELLO;
	h.msg_type = 1;
	dcf_frame_put(f, &h, payload);
	CHECK(dcf_frame_parse(f, 100, &g, err) == DCF_ERR_PROTO,
		  "frame: hello frame with a message type refused (%s)", err);

	/* lz4 frames: raw_len bounded, len plausible */
	h.kind = DCF_FRAME_MSG;
	h.msg_type = 0;
	h.flags = DCF_FRAME_F_LZ4;
	h.len = 16;
	h.raw_len = DCF_FRAME_MAX_BYTES + 1;
	dcf_frame_put(f, &h, payload);
	CHECK(dcf_frame_parse(f, 100, &g, err) == DCF_ERR_PROTO && strstr(err, "decompressed length"),
		  "frame: lz4 raw length above DCF_FRAME_MAX_BYTES refused before allocation (%s)", err);
	h.raw_len = 4;				/* lz4 never needs more than 20 bytes for 4 */
	h.len = 40;
	dcf_frame_put(f, &h, payload);
	CHECK(dcf_frame_parse(f, 100, &g, err) == DCF_ERR_PROTO && strstr(err, "impossible"),
		  "frame: lz4 length beyond lz4's bound for raw length refused (%s)", err);
	h.raw_len = 0;
	h.len = 16;
	dcf_frame_put(f, &h, payload);
	CHECK(dcf_frame_parse(f, 100, &g, err) == DCF_ERR_PROTO,
		  "frame: lz4 frame of zero raw bytes refused");
}

/* ---- lz4 ------------------------------------------------------------------------ */

static void
test_lz4(void)
{
	size_t		n = 200000;
	uint8_t    *src = malloc(n);
	uint8_t    *z = malloc(dcf_net_lz4_bound(n));
	uint8_t    *back = malloc(n);
	size_t		zn;
	char		err[DCF_ERRMSG_MAX];
	uint64_t	x = 88172645463325252ULL;

	for (size_t i = 0; i < n; i++)
		src[i] = (uint8_t) ("WAL record "[i % 11] + (i / 5000));
	zn = dcf_net_lz4_compress(src, n, z, dcf_net_lz4_bound(n));
	CHECK(zn > 0 && zn < n / 4, "lz4: repetitive data compresses (%zu -> %zu)", n, zn);
	CHECK(dcf_net_lz4_decompress(z, zn, back, n, err) == DCF_OK && memcmp(src, back, n) == 0,
		  "lz4: round trip restores every byte");
	CHECK(dcf_net_lz4_decompress(z, zn, back, n - 1, err) == DCF_ERR_CORRUPT,
		  "lz4: a declared size one byte short is corrupt (%s)", err);
	CHECK(dcf_net_lz4_decompress(z, zn - 1, back, n, err) == DCF_ERR_CORRUPT,
		  "lz4: a truncated block is corrupt");
	for (size_t i = 0; i < n; i++)
	{
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		src[i] = (uint8_t) x;
	}
	CHECK(dcf_net_lz4_compress(src, n, z, dcf_net_lz4_bound(n)) == 0,
		  "lz4: random data reports 0 (send raw), never a larger block");
	free(src);
	free(z);
	free(back);
}

/* ---- key file -------------------------------------------------------------------- */

static void
test_key_file(void)
{
	dcf_net_key k1,
				k2;
	char		err[DCF_ERRMSG_MAX];
	const char *p;
	uint8_t		m1[DCF_NET_MAC_BYTES],
				m2[DCF_NET_MAC_BYTES];
	const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

	p = tn_write_file("key-0644", hex, 64, 0644);
	CHECK(dcf_net_key_load(p, &k1, err) == DCF_ERR_AUTH && strstr(err, "chmod 0600") &&
		  strstr(err, "0644"), "key: mode 0644 refused with a hint (%s)", err);
	p = tn_write_file("key-0640", hex, 64, 0640);
	CHECK(dcf_net_key_load(p, &k1, err) == DCF_ERR_AUTH, "key: mode 0640 refused");
	p = tn_write_file("key-empty", "", 0, 0600);
	CHECK(dcf_net_key_load(p, &k1, err) == DCF_ERR_INVALID && strstr(err, "is empty"),
		  "key: empty file refused (%s)", err);
	p = tn_write_file("key-ws", "\n\n  \n", 5, 0600);
	CHECK(dcf_net_key_load(p, &k1, err) == DCF_ERR_INVALID && strstr(err, "is empty"),
		  "key: whitespace-only file is empty");
	p = tn_write_file("key-short", hex, 31, 0600);
	CHECK(dcf_net_key_load(p, &k1, err) == DCF_ERR_INVALID && strstr(err, "too short"),
		  "key: 31 bytes refused as too short (%s)", err);
	CHECK(dcf_net_key_load("/nonexistent/dcf.key", &k1, err) == DCF_ERR_IO &&
		  strstr(err, "could not open"), "key: missing file reported (%s)", err);
	CHECK(dcf_net_key_load(tn_tmpdir(), &k1, err) != DCF_OK, "key: a directory is refused");
	CHECK(dcf_net_key_load(NULL, &k1, err) == DCF_ERR_INVALID &&
		  strstr(err, "dcf.auth_key_file"), "key: no file names the parameter (%s)", err);

	p = tn_write_file("key-ok", hex, 64, 0600);
	CHECK(dcf_net_key_load(p, &k1, err) == DCF_OK && k1.len == 64, "key: 0600 file of 64 bytes loads");
	p = tn_write_file("key-nl", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\r\n", 66, 0400);
	CHECK(dcf_net_key_load(p, &k2, err) == DCF_OK && k2.len == 64,
		  "key: 0400 file with CRLF loads, trailing newline trimmed");
	dcf_net_mac(&k1, "l", (const uint8_t *) "abc", 3, m1);
	dcf_net_mac(&k2, "l", (const uint8_t *) "abc", 3, m2);
	CHECK(dcf_net_mac_equal(m1, m2), "key: trimmed key gives the same MAC");
	dcf_net_mac(&k2, "m", (const uint8_t *) "abc", 3, m2);
	CHECK(!dcf_net_mac_equal(m1, m2), "key: a different label gives a different MAC");
}

/* ---- handshake in memory ---------------------------------------------------------- */

typedef struct hs_side
{
	dcf_sess_env env;
	dcf_sess	s;
	dcf_netbuf	out;
	dcf_netbuf	z;
	dcf_net_key key;
	uint32_t	members[8];
	int			nmembers;
	int			opened;
	int			delivered;
	uint8_t		last_type;
	size_t		last_len;
} hs_side;

static int
hs_is_member(void *arg, uint32_t id)
{
	hs_side    *h = arg;

	for (int i = 0; i < h->nmembers; i++)
		if (h->members[i] == id)
			return 1;
	return 0;
}

static void
hs_on_open(void *arg, dcf_sess *s)
{
	((hs_side *) arg)->opened++;
}

static int
hs_on_msg(void *arg, dcf_sess *s, uint8_t type, const uint8_t *data, size_t len)
{
	hs_side    *h = arg;

	/* invariant of net_session.h: nothing is delivered before OPEN */
	CHECK_QUIET(s->state == DCF_SESS_OPEN, "message delivered in state %d", s->state);
	h->delivered++;
	h->last_type = type;
	h->last_len = len;
	return 0;
}

static void
hs_init(hs_side *h, uint32_t self, int keytag)
{
	uint8_t		kb[32];
	char		err[DCF_ERRMSG_MAX];

	memset(h, 0, sizeof(*h));
	for (int i = 0; i < 32; i++)
		kb[i] = (uint8_t) (i * 5 + keytag);
	dcf_net_key_set(&h->key, kb, 32, err);
	dcf_netbuf_init(&h->out, 4096);
	dcf_netbuf_init(&h->z, DCF_FRAME_MAX_BYTES);
	h->env.key = &h->key;
	h->env.self_id = self;
	h->env.arg = h;
	h->env.is_member = hs_is_member;
	h->env.on_open = hs_on_open;
	h->env.on_msg = hs_on_msg;
	h->env.zbuf = &h->z;
	h->members[h->nmembers++] = 1;
	h->members[h->nmembers++] = 2;
	h->members[h->nmembers++] = 3;
}

static void
hs_done(hs_side *h)
{
	dcf_netbuf_free(&h->out);
	dcf_netbuf_free(&h->z);
}

/* Move everything from->out into to's session; returns the rc of to's input. */
static dcf_rc
hs_deliver(hs_side *from, hs_side *to, char *err)
{
	size_t		consumed,
				need;
	dcf_rc		rc;

	err[0] = '\0';
	rc = dcf_sess_input(&to->s, dcf_netbuf_head(&from->out), dcf_netbuf_len(&from->out),
						&consumed, &need, &to->out, err);
	dcf_netbuf_consume(&from->out, consumed);
	return rc;
}

static void
nonce(uint8_t *n, int tag)
{
	for (int i = 0; i < DCF_NET_NONCE_BYTES; i++)
		n[i] = (uint8_t) (tag * 17 + i);
}

/* A full handshake between client (id 1) and server (id 2); returns 1 if both open. */
static int
hs_run(hs_side *c, hs_side *s, const uint8_t *cb, const uint8_t *sb, char *err)
{
	uint8_t		cn[DCF_NET_NONCE_BYTES],
				sn[DCF_NET_NONCE_BYTES];

	nonce(cn, 1);
	nonce(sn, 2);
	dcf_sess_client_start(&c->s, &c->env, c, 2, DCF_NET_BULK, cn, cb, &c->out);
	dcf_sess_server_start(&s->s, &s->env, s, sn, sb);
	if (hs_deliver(c, s, err) != DCF_OK)	/* hello */
		return 0;
	if (hs_deliver(s, c, err) != DCF_OK)	/* challenge */
		return 0;
	if (hs_deliver(c, s, err) != DCF_OK)	/* auth */
		return 0;
	if (hs_deliver(s, c, err) != DCF_OK)	/* welcome */
		return 0;
	return c->s.state == DCF_SESS_OPEN && s->s.state == DCF_SESS_OPEN;
}

/* Append one message frame (optionally lz4) to b. */
static void
put_msg(dcf_netbuf *b, uint8_t type, const uint8_t *p, uint32_t len, int lz4)
{
	dcf_frame_hdr h = {.kind = DCF_FRAME_MSG,.msg_type = type,.len = len,.raw_len = len};
	uint8_t    *z = NULL;

	if (lz4)
	{
		z = malloc(dcf_net_lz4_bound(len));
		h.len = (uint32_t) dcf_net_lz4_compress(p, len, z, dcf_net_lz4_bound(len));
		h.flags = DCF_FRAME_F_LZ4;
		p = z;
	}
	dcf_netbuf_reserve(b, DCF_FRAME_HDR_BYTES + h.len);
	memcpy(dcf_netbuf_tailp(b) + DCF_FRAME_HDR_BYTES, p, h.len);
	dcf_frame_put(dcf_netbuf_tailp(b), &h, p);
	dcf_netbuf_produce(b, DCF_FRAME_HDR_BYTES + h.len);
	free(z);
}

static void
test_handshake(void)
{
	hs_side		c,
				s;
	char		err[DCF_ERRMSG_MAX];
	uint8_t		b1[32],
				b2[32];
	uint8_t		payload[5000];
	dcf_netbuf	replay;

	/* success, then messages flow client -> server only */
	hs_init(&c, 1, 0);
	hs_init(&s, 2, 0);
	CHECK(hs_run(&c, &s, NULL, NULL, err) && c.opened == 1 && s.opened == 1,
		  "handshake: same key, member ids -> both sides open (%s)", err);
	CHECK(s.s.client_id == 1 && s.s.cls == DCF_NET_BULK && c.s.server_id == 2,
		  "handshake: server learned the client id and class");
	memset(payload, 'w', sizeof(payload));
	put_msg(&c.out, 42, payload, 100, 0);
	put_msg(&c.out, 43, payload, sizeof(payload), 1);
	CHECK(hs_deliver(&c, &s, err) == DCF_OK && s.delivered == 2 && s.last_type == 43 &&
		  s.last_len == sizeof(payload), "handshake: raw and lz4 messages delivered after open");
	put_msg(&s.out, 1, payload, 10, 0);
	put_msg(&s.out, 2, payload, 3000, 1);
	CHECK(hs_deliver(&s, &c, err) == DCF_OK && c.delivered == 2 && c.last_type == 2 &&
		  c.last_len == 3000, "handshake: the listener's messages reach the dialer (one connection, both ways)");
	{
		uint8_t		f[DCF_FRAME_HDR_BYTES];
		dcf_frame_hdr ph = {.kind = DCF_FRAME_PING};

		dcf_frame_put(f, &ph, NULL);
		dcf_netbuf_append(&s.out, f, sizeof(f));
		CHECK(hs_deliver(&s, &c, err) == DCF_OK && c.delivered == 2 && c.s.frames_in == 3,
			  "handshake: a ping is accepted once open and not delivered as a message");
		ph.len = ph.raw_len = 1;
		dcf_frame_put(f, &ph, "x");
		dcf_netbuf_append(&s.out, f, sizeof(f));
		dcf_netbuf_append(&s.out, "x", 1);
		CHECK(hs_deliver(&s, &c, err) == DCF_ERR_PROTO && strstr(err, "ping with a payload"),
			  "handshake: a ping with a payload is a protocol error (%s)", err);
	}
	hs_done(&c);
	hs_done(&s);

	/* wrong key on the server: the client refuses the challenge, sends no proof */
	hs_init(&c, 1, 0);
	hs_init(&s, 2, 9);
	CHECK(!hs_run(&c, &s, NULL, NULL, err) && strstr(err, "listener proof does not match") &&
		  c.s.state == DCF_SESS_FAILED && dcf_netbuf_len(&c.out) == 0,
		  "handshake: listener with another key is refused, dialer sends nothing (%s)", err);
	hs_done(&c);
	hs_done(&s);

	/* a client that cannot prove the key: the server refuses its proof */
	hs_init(&c, 1, 0);
	hs_init(&s, 2, 0);
	{
		uint8_t		cn[DCF_NET_NONCE_BYTES],
					sn[DCF_NET_NONCE_BYTES],
					fake[DCF_NET_MAC_BYTES];
		dcf_frame_hdr h = {.kind = DCF_FRAME_AUTH,.len = DCF_NET_MAC_BYTES,.raw_len = DCF_NET_MAC_BYTES};

		nonce(cn, 1);
		nonce(sn, 2);
		memset(fake, 0x5a, sizeof(fake));
		dcf_sess_client_start(&c.s, &c.env, &c, 2, DCF_NET_CONTROL, cn, NULL, &c.out);
		dcf_sess_server_start(&s.s, &s.env, &s, sn, NULL);
		hs_deliver(&c, &s, err);	/* hello */
		dcf_netbuf_clear(&s.out);	/* the stranger ignores the challenge */
		dcf_netbuf_reserve(&c.out, 100);
		dcf_frame_put(dcf_netbuf_tailp(&c.out), &h, fake);
		memcpy(dcf_netbuf_tailp(&c.out) + DCF_FRAME_HDR_BYTES, fake, sizeof(fake));
		dcf_netbuf_produce(&c.out, DCF_FRAME_HDR_BYTES + sizeof(fake));
		put_msg(&c.out, 9, payload, 50, 0);
		CHECK(hs_deliver(&c, &s, err) == DCF_ERR_AUTH && strstr(err, "dialer proof does not match") &&
			  s.delivered == 0 && s.opened == 0,
			  "handshake: forged proof refused, the message behind it never delivered (%s)", err);
	}
	hs_done(&c);
	hs_done(&s);

	/* unknown node id */
	hs_init(&c, 7, 0);
	hs_init(&s, 2, 0);
	CHECK(!hs_run(&c, &s, NULL, NULL, err) && strstr(err, "node id 7 is not a member") &&
		  s.opened == 0, "handshake: right key, unknown node id refused at hello (%s)", err);
	hs_done(&c);
	hs_done(&s);

	/* the higher id may not dial */
	hs_init(&c, 3, 0);
	hs_init(&s, 2, 0);
	CHECK(!hs_run(&c, &s, NULL, NULL, err) && strstr(err, "lower id dials") && s.opened == 0,
		  "handshake: node 3 dialing node 2 is refused: the lower id dials (%s)", err);
	hs_done(&c);
	hs_done(&s);

	/* dialing the wrong node */
	hs_init(&c, 1, 0);
	hs_init(&s, 3, 0);
	CHECK(!hs_run(&c, &s, NULL, NULL, err) && strstr(err, "dialed node 2 but this is node 3"),
		  "handshake: dialer that expected another node is refused (%s)", err);
	hs_done(&c);
	hs_done(&s);

	/* membership changes between hello and auth */
	hs_init(&c, 1, 0);
	hs_init(&s, 2, 0);
	{
		uint8_t		cn[DCF_NET_NONCE_BYTES],
					sn[DCF_NET_NONCE_BYTES];

		nonce(cn, 1);
		nonce(sn, 2);
		dcf_sess_client_start(&c.s, &c.env, &c, 2, DCF_NET_CONTROL, cn, NULL, &c.out);
		dcf_sess_server_start(&s.s, &s.env, &s, sn, NULL);
		hs_deliver(&c, &s, err);
		hs_deliver(&s, &c, err);
		s.members[0] = 99;		/* node 1 removed */
		CHECK(hs_deliver(&c, &s, err) == DCF_ERR_AUTH && s.opened == 0,
			  "handshake: node removed before its proof arrived is refused (%s)", err);
	}
	hs_done(&c);
	hs_done(&s);

	/* TLS channel binding mismatch (a relay between two TLS sessions) */
	hs_init(&c, 1, 0);
	hs_init(&s, 2, 0);
	memset(b1, 1, sizeof(b1));
	memset(b2, 2, sizeof(b2));
	CHECK(!hs_run(&c, &s, b1, b2, err) && strstr(err, "listener proof"),
		  "handshake: different tls bindings fail the proof (%s)", err);
	hs_done(&c);
	hs_done(&s);
	hs_init(&c, 1, 0);
	hs_init(&s, 2, 0);
	CHECK(hs_run(&c, &s, b1, b1, err), "handshake: equal tls bindings succeed");
	hs_done(&c);
	hs_done(&s);

	/* replay: the bytes of a good dialer, replayed against a fresh server nonce */
	hs_init(&c, 1, 0);
	hs_init(&s, 2, 0);
	dcf_netbuf_init(&replay, 4096);
	{
		uint8_t		cn[DCF_NET_NONCE_BYTES],
					sn[DCF_NET_NONCE_BYTES];

		nonce(cn, 1);
		nonce(sn, 2);
		dcf_sess_client_start(&c.s, &c.env, &c, 2, DCF_NET_CONTROL, cn, NULL, &c.out);
		dcf_sess_server_start(&s.s, &s.env, &s, sn, NULL);
		dcf_netbuf_append(&replay, dcf_netbuf_head(&c.out), dcf_netbuf_len(&c.out));
		hs_deliver(&c, &s, err);
		hs_deliver(&s, &c, err);
		dcf_netbuf_append(&replay, dcf_netbuf_head(&c.out), dcf_netbuf_len(&c.out));
		hs_deliver(&c, &s, err);
		CHECK(s.s.state == DCF_SESS_OPEN, "replay: the original handshake succeeds");
		put_msg(&replay, 5, payload, 20, 0);

		hs_done(&s);
		hs_init(&s, 2, 0);
		nonce(sn, 3);
		dcf_sess_server_start(&s.s, &s.env, &s, sn, NULL);
		{
			size_t		consumed,
						need;

			CHECK(dcf_sess_input(&s.s, dcf_netbuf_head(&replay), dcf_netbuf_len(&replay),
								 &consumed, &need, &s.out, err) == DCF_ERR_AUTH &&
				  s.delivered == 0, "replay: recorded hello+auth+message refused, nothing delivered (%s)", err);
		}
	}
	dcf_netbuf_free(&replay);
	hs_done(&c);
	hs_done(&s);

	/* a message before any handshake is a protocol error, never delivered */
	hs_init(&c, 1, 0);
	hs_init(&s, 2, 0);
	{
		uint8_t		sn[DCF_NET_NONCE_BYTES];

		nonce(sn, 2);
		dcf_sess_server_start(&s.s, &s.env, &s, sn, NULL);
		put_msg(&c.out, 5, payload, 20, 0);
		CHECK(hs_deliver(&c, &s, err) == DCF_ERR_PROTO && strstr(err, "unexpected message frame") &&
			  s.delivered == 0, "handshake: message before hello refused (%s)", err);
		CHECK(hs_deliver(&c, &s, err) == DCF_ERR_STATE, "handshake: a failed session stays failed");
	}
	hs_done(&c);
	hs_done(&s);

	/* strangers cannot announce big frames; members can up to DCF_FRAME_MAX_BYTES */
	hs_init(&s, 2, 0);
	{
		uint8_t		sn[DCF_NET_NONCE_BYTES],
					f[DCF_FRAME_HDR_BYTES];
		dcf_frame_hdr h = {.kind = DCF_FRAME_HELLO,.len = DCF_FRAME_HS_MAX_BYTES + 1,
		.raw_len = DCF_FRAME_HS_MAX_BYTES + 1};
		size_t		consumed,
					need;

		nonce(sn, 2);
		dcf_sess_server_start(&s.s, &s.env, &s, sn, NULL);
		dcf_frame_put(f, &h, payload);
		CHECK(dcf_sess_input(&s.s, f, sizeof(f), &consumed, &need, &s.out, err) == DCF_ERR_PROTO &&
			  need == 0 && strstr(err, "exceeds limit 256"),
			  "handshake: a 257-byte hello is refused from its header, nothing requested (%s)", err);
	}
	hs_done(&s);

	/* byte-at-a-time input: need grows to the frame size, result identical */
	hs_init(&c, 1, 0);
	hs_init(&s, 2, 0);
	{
		uint8_t		cn[DCF_NET_NONCE_BYTES],
					sn[DCF_NET_NONCE_BYTES];
		size_t		consumed,
					need = 0,
					have = 0,
					max_need = 0;
		int			ok = 1;
		const uint8_t *p;
		size_t		len;

		nonce(cn, 1);
		nonce(sn, 2);
		dcf_sess_client_start(&c.s, &c.env, &c, 2, DCF_NET_CONTROL, cn, NULL, &c.out);
		dcf_sess_server_start(&s.s, &s.env, &s, sn, NULL);
		hs_deliver(&c, &s, err);
		hs_deliver(&s, &c, err);
		put_msg(&c.out, 77, payload, 3000, 0);
		p = dcf_netbuf_head(&c.out);
		len = dcf_netbuf_len(&c.out);
		for (size_t i = 1; i <= len && ok; i++)
		{
			ok = dcf_sess_input(&s.s, p + have, i - have, &consumed, &need, &s.out, err) == DCF_OK;
			have += consumed;
			if (need > max_need)
				max_need = need;
		}
		CHECK(ok && have == len && s.delivered == 1 && s.last_type == 77 && s.last_len == 3000 &&
			  max_need == DCF_FRAME_HDR_BYTES + 3000,
			  "handshake: byte-by-byte input authenticates and delivers; need = whole frame (%zu)", max_need);
	}
	hs_done(&c);
	hs_done(&s);
}

/* A socket bound to port P that connects to P is connected to itself. */
static void
test_self_connect(void)
{
	uint16_t	port = tn_free_port();
	struct sockaddr_in sa;
	int			s = socket(AF_INET, SOCK_STREAM, 0);
	char		err[DCF_ERRMSG_MAX];
	int			one = 1;
	struct pollfd pfd;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *) &sa, sizeof(sa)) != 0 ||
		connect(s, (struct sockaddr *) &sa, sizeof(sa)) != 0)
	{
		CHECK(0, "self-connect: could not set up the self-connected socket");
		close(s);
		return;
	}
	pfd.fd = s;
	pfd.events = POLLOUT;
	poll(&pfd, 1, 1000);
	CHECK(dcf_sock_connected(s, err) == DCF_ERR_IO && strstr(err, "connected to itself"),
		  "self-connect: a dial that connected to itself is refused (%s)", err);
	close(s);
}

int
main(void)
{
	test_netbuf();
	test_self_connect();
	test_crc();
	test_netq();
	test_frames();
	test_lz4();
	test_key_file();
	test_handshake();
	tn_cleanup();
	return unit_done();
}
