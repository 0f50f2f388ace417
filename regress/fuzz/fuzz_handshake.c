/*
 * fuzz_handshake.c — fuzz target for the connection handshake
 * (extension/net/net_session.c) on both sides; input format in
 * fuzz_net_common.h.
 *
 * Beyond "no crash, no sanitizer report", it checks the security
 * invariants against an independent computation of the proofs:
 *  - no message is delivered, on either side, before the session is OPEN;
 *  - a listener reaches OPEN only if the input carried the correct dialer
 *    proof for the nonces and ids it accepted, from a member;
 *  - a dialer sends its proof (reaches WAIT_WELCOME) only if the input
 *    carried the correct listener proof;
 *  - a failed session stays failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_net_common.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dcf_sess *cur;

static int
on_msg(void *arg, dcf_sess *s, uint8_t type, const uint8_t *p, size_t len)
{
	volatile uint8_t sink = 0;

	if (s->state != DCF_SESS_OPEN || len > DCF_FRAME_MAX_BYTES)
	{
		fprintf(stderr, "message delivered in state %d\n", s->state);
		abort();
	}
	if (len > 0)
		sink = p[0] ^ p[len - 1];	/* let ASan see the bounds */
	(void) sink;
	return 0;
}

static void
on_open(void *arg, dcf_sess *s)
{
	if (s != cur)
		abort();
}

static int
contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t k)
{
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return 1;
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
	uint8_t		cn[DCF_NET_NONCE_BYTES],
				sn[DCF_NET_NONCE_BYTES],
				bind[32];
	uint8_t    *buf;
	size_t		n,
				pos = 0,
				avail = 0;
	uint8_t		flags;
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc = DCF_OK;

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
	fz_nonce(cn, FZ_CN);
	fz_nonce(sn, FZ_SN);
	fz_nonce(bind, FZ_BIND);

	memset(&env, 0, sizeof(env));
	env.key = &key;
	env.is_member = fz_is_member;
	env.on_open = on_open;
	env.on_msg = on_msg;
	env.zbuf = &zbuf;
	dcf_netbuf_init(&out, 4096);
	cur = &s;
	if (flags & FZ_SIDE_CLIENT)
	{
		env.self_id = FZ_CLIENT_ID;
		dcf_sess_client_start(&s, &env, NULL, FZ_SERVER_ID, (flags >> 4) & 1, cn,
							  (flags & FZ_BINDING) ? bind : NULL, &out);
	}
	else
	{
		env.self_id = FZ_SERVER_ID;
		dcf_sess_server_start(&s, &env, NULL, sn, (flags & FZ_BINDING) ? bind : NULL);
	}

	/* feed like conn_read does: everything at once, or in pieces */
	while (avail < n)
	{
		size_t		consumed,
					need;

		avail = (flags & FZ_CHUNKED) ? avail + 1 + buf[avail] % 97 : n;
		if (avail > n)
			avail = n;
		rc = dcf_sess_input(&s, buf + pos, avail - pos, &consumed, &need, &out, err);
		if (consumed > avail - pos || need > DCF_FRAME_HDR_BYTES + DCF_FRAME_MAX_BYTES)
			abort();
		pos += consumed;
		if (rc != DCF_OK)
		{
			size_t		c2,
						n2;

			if (s.state != DCF_SESS_FAILED ||
				dcf_sess_input(&s, buf, n, &c2, &n2, &out, err) != DCF_ERR_STATE)
				abort();
			break;
		}
	}

	if (!(flags & FZ_SIDE_CLIENT) && s.state == DCF_SESS_OPEN)
	{
		uint8_t		want[DCF_NET_MAC_BYTES];

		if (!fz_is_member(NULL, s.client_id) || s.server_id != FZ_SERVER_ID)
			abort();
		fz_proof(&key, FZ_LABEL_DIALER, s.cls, s.client_id, FZ_SERVER_ID, s.client_nonce, sn,
				 (flags & FZ_BINDING) ? bind : NULL, want);
		if (!contains(buf, n, want, sizeof(want)))
		{
			fprintf(stderr, "listener opened without the dialer's proof in the input\n");
			abort();
		}
	}
	if ((flags & FZ_SIDE_CLIENT) &&
		(s.state == DCF_SESS_CLIENT_WAIT_WELCOME || s.state == DCF_SESS_OPEN))
	{
		uint8_t		want[DCF_NET_MAC_BYTES];

		fz_proof(&key, FZ_LABEL_LISTENER, s.cls, FZ_CLIENT_ID, FZ_SERVER_ID, cn, s.server_nonce,
				 (flags & FZ_BINDING) ? bind : NULL, want);
		if (!contains(buf, n, want, sizeof(want)))
		{
			fprintf(stderr, "dialer sent its proof without the listener's proof in the input\n");
			abort();
		}
	}
	dcf_netbuf_free(&out);
	free(buf);
	return 0;
}
