/*
 * net_session.c — handshake state machine and frame stream of one
 * connection; see net_session.h for the protocol and its invariants.
 *
 * State transitions (each in one function):
 *   CLIENT_WAIT_CHALLENGE --challenge ok--> CLIENT_WAIT_WELCOME  (on_challenge)
 *   CLIENT_WAIT_WELCOME   --welcome-------> OPEN                 (on_welcome)
 *   SERVER_WAIT_HELLO     --hello ok------> SERVER_WAIT_AUTH     (on_hello)
 *   SERVER_WAIT_AUTH      --auth ok-------> OPEN                 (on_auth)
 *   any                   --error---------> FAILED               (sess_fail)
 */
#include "net/net_session.h"

#include <string.h>

#include "core/dcf_assert.h"
#include "net/net_compress.h"
#include "net/net_frame.h"

#define LABEL_SERVER_PROOF "dcf-net-v1 listener proof"
#define LABEL_CLIENT_PROOF "dcf-net-v1 dialer proof"

/* class, two ids, two nonces, binding flag and binding */
#define TRANSCRIPT_MAX_BYTES \
	(1 + 4 + 4 + 2 * DCF_NET_NONCE_BYTES + 1 + DCF_SESS_BINDING_BYTES)

const char *
dcf_sess_state_name(dcf_sess_state st)
{
	switch (st)
	{
		case DCF_SESS_CLIENT_WAIT_CHALLENGE:
			return "waiting for challenge";
		case DCF_SESS_CLIENT_WAIT_WELCOME:
			return "waiting for welcome";
		case DCF_SESS_SERVER_WAIT_HELLO:
			return "waiting for hello";
		case DCF_SESS_SERVER_WAIT_AUTH:
			return "waiting for auth";
		case DCF_SESS_OPEN:
			return "open";
		case DCF_SESS_FAILED:
			return "failed";
	}
	return "unknown";
}

static dcf_rc
sess_fail(dcf_sess *s, dcf_rc rc)
{
	s->state = DCF_SESS_FAILED;
	return rc;
}

static size_t
transcript(const dcf_sess *s, uint8_t *t)
{
	size_t		n = 0;

	t[n++] = s->cls;
	dcf_put_u32(t + n, s->client_id);
	n += 4;
	dcf_put_u32(t + n, s->server_id);
	n += 4;
	memcpy(t + n, s->client_nonce, DCF_NET_NONCE_BYTES);
	n += DCF_NET_NONCE_BYTES;
	memcpy(t + n, s->server_nonce, DCF_NET_NONCE_BYTES);
	n += DCF_NET_NONCE_BYTES;
	t[n++] = (uint8_t) (s->has_binding ? 1 : 0);
	if (s->has_binding)
	{
		memcpy(t + n, s->binding, DCF_SESS_BINDING_BYTES);
		n += DCF_SESS_BINDING_BYTES;
	}
	DCF_ASSERT(n <= TRANSCRIPT_MAX_BYTES);
	return n;
}

static dcf_rc
proof(const dcf_sess *s, const char *label, uint8_t out[DCF_NET_MAC_BYTES])
{
	uint8_t		t[TRANSCRIPT_MAX_BYTES];

	return dcf_net_mac(s->env->key, label, t, transcript(s, t), out);
}

/* Append one frame (header + payload) to out. */
static dcf_rc
put_frame(dcf_netbuf *out, uint8_t kind, const uint8_t *payload, uint32_t len)
{
	dcf_frame_hdr h = {.kind = kind,.len = len,.raw_len = len};
	dcf_rc		rc = dcf_netbuf_reserve(out, DCF_FRAME_HDR_BYTES + len);

	if (rc != DCF_OK)
		return rc;
	dcf_frame_put(dcf_netbuf_tailp(out), &h, payload);
	if (len > 0)
		memcpy(dcf_netbuf_tailp(out) + DCF_FRAME_HDR_BYTES, payload, len);
	dcf_netbuf_produce(out, DCF_FRAME_HDR_BYTES + len);
	return DCF_OK;
}

static void
set_binding(dcf_sess *s, const uint8_t *binding)
{
	s->has_binding = binding != NULL;
	if (binding)
		memcpy(s->binding, binding, DCF_SESS_BINDING_BYTES);
}

dcf_rc
dcf_sess_client_start(dcf_sess *s, const dcf_sess_env *env, void *owner,
					  uint32_t peer_id, uint8_t cls,
					  const uint8_t nonce[DCF_NET_NONCE_BYTES],
					  const uint8_t *binding, dcf_netbuf *out)
{
	uint8_t		p[DCF_SESS_HELLO_BYTES];

	DCF_ASSERT(cls < DCF_SESS_NCLASSES);
	memset(s, 0, sizeof(*s));
	s->env = env;
	s->owner = owner;
	s->is_client = 1;
	s->state = DCF_SESS_CLIENT_WAIT_CHALLENGE;
	s->cls = cls;
	s->client_id = env->self_id;
	s->server_id = peer_id;
	memcpy(s->client_nonce, nonce, DCF_NET_NONCE_BYTES);
	set_binding(s, binding);

	p[0] = DCF_SESS_HS_VERSION;
	p[1] = cls;
	p[2] = 0;
	p[3] = 0;
	dcf_put_u32(p + 4, s->client_id);
	dcf_put_u32(p + 8, s->server_id);
	memcpy(p + 12, s->client_nonce, DCF_NET_NONCE_BYTES);
	return put_frame(out, DCF_FRAME_HELLO, p, sizeof(p));
}

void
dcf_sess_server_start(dcf_sess *s, const dcf_sess_env *env, void *owner,
					  const uint8_t nonce[DCF_NET_NONCE_BYTES],
					  const uint8_t *binding)
{
	memset(s, 0, sizeof(*s));
	s->env = env;
	s->owner = owner;
	s->is_client = 0;
	s->state = DCF_SESS_SERVER_WAIT_HELLO;
	s->server_id = env->self_id;
	memcpy(s->server_nonce, nonce, DCF_NET_NONCE_BYTES);
	set_binding(s, binding);
}

/* server: HELLO received */
static dcf_rc
on_hello(dcf_sess *s, const uint8_t *p, uint32_t len, dcf_netbuf *out,
		 char *errmsg)
{
	uint8_t		c[DCF_SESS_CHALLENGE_BYTES];
	uint32_t	client_id,
				server_id;

	if (len != DCF_SESS_HELLO_BYTES)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "hello of %u bytes, expected %d",
						len, DCF_SESS_HELLO_BYTES);
	if (p[0] != DCF_SESS_HS_VERSION)
		return dcf_errf(errmsg, DCF_ERR_VERSION,
						"unsupported handshake version %u (this node speaks %d)",
						p[0], DCF_SESS_HS_VERSION);
	if (p[1] >= DCF_SESS_NCLASSES || p[2] != 0 || p[3] != 0)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "hello with bad class or flags");
	client_id = dcf_get_u32(p + 4);
	server_id = dcf_get_u32(p + 8);
	if (server_id != s->env->self_id)
		return dcf_errf(errmsg, DCF_ERR_AUTH,
						"peer dialed node %u but this is node %u",
						server_id, s->env->self_id);
	if (client_id == s->env->self_id || !s->env->is_member(s->env->arg, client_id))
		return dcf_errf(errmsg, DCF_ERR_AUTH,
						"node id %u is not a member of the cluster", client_id);
	if (client_id > s->env->self_id)
		return dcf_errf(errmsg, DCF_ERR_PROTO,
						"node %u dialed node %u, but the node with the lower id dials",
						client_id, s->env->self_id);
	s->cls = p[1];
	s->client_id = client_id;
	memcpy(s->client_nonce, p + 12, DCF_NET_NONCE_BYTES);

	dcf_put_u32(c, s->server_id);
	memcpy(c + 4, s->server_nonce, DCF_NET_NONCE_BYTES);
	if (proof(s, LABEL_SERVER_PROOF, c + 4 + DCF_NET_NONCE_BYTES) != DCF_OK)
		return dcf_errf(errmsg, DCF_ERR_AUTH, "could not compute proof");
	s->state = DCF_SESS_SERVER_WAIT_AUTH;
	return put_frame(out, DCF_FRAME_CHALLENGE, c, sizeof(c));
}

/* client: CHALLENGE received */
static dcf_rc
on_challenge(dcf_sess *s, const uint8_t *p, uint32_t len, dcf_netbuf *out,
			 char *errmsg)
{
	uint8_t		want[DCF_NET_MAC_BYTES];
	uint8_t		mine[DCF_NET_MAC_BYTES];
	uint32_t	server_id;

	if (len != DCF_SESS_CHALLENGE_BYTES)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "challenge of %u bytes, expected %d",
						len, DCF_SESS_CHALLENGE_BYTES);
	server_id = dcf_get_u32(p);
	if (server_id != s->server_id)
		return dcf_errf(errmsg, DCF_ERR_AUTH,
						"peer answered as node %u, expected node %u",
						server_id, s->server_id);
	memcpy(s->server_nonce, p + 4, DCF_NET_NONCE_BYTES);
	if (proof(s, LABEL_SERVER_PROOF, want) != DCF_OK)
		return dcf_errf(errmsg, DCF_ERR_AUTH, "could not compute proof");
	if (!dcf_net_mac_equal(want, p + 4 + DCF_NET_NONCE_BYTES))
		return dcf_errf(errmsg, DCF_ERR_AUTH,
						"peer does not hold the cluster key (listener proof does not match)");
	if (proof(s, LABEL_CLIENT_PROOF, mine) != DCF_OK)
		return dcf_errf(errmsg, DCF_ERR_AUTH, "could not compute proof");
	s->state = DCF_SESS_CLIENT_WAIT_WELCOME;
	return put_frame(out, DCF_FRAME_AUTH, mine, sizeof(mine));
}

/* server: AUTH received */
static dcf_rc
on_auth(dcf_sess *s, const uint8_t *p, uint32_t len, dcf_netbuf *out,
		char *errmsg)
{
	uint8_t		want[DCF_NET_MAC_BYTES];
	dcf_rc		rc;

	if (len != DCF_SESS_AUTH_BYTES)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "auth of %u bytes, expected %d",
						len, DCF_SESS_AUTH_BYTES);
	if (proof(s, LABEL_CLIENT_PROOF, want) != DCF_OK)
		return dcf_errf(errmsg, DCF_ERR_AUTH, "could not compute proof");
	if (!dcf_net_mac_equal(want, p))
		return dcf_errf(errmsg, DCF_ERR_AUTH,
						"node %u does not hold the cluster key (dialer proof does not match)",
						s->client_id);
	/* membership may have changed since the hello */
	if (!s->env->is_member(s->env->arg, s->client_id))
		return dcf_errf(errmsg, DCF_ERR_AUTH,
						"node id %u is not a member of the cluster", s->client_id);
	rc = put_frame(out, DCF_FRAME_WELCOME, NULL, 0);
	if (rc != DCF_OK)
		return rc;
	s->state = DCF_SESS_OPEN;
	if (s->env->on_open)
		s->env->on_open(s->env->arg, s);
	return DCF_OK;
}

/* OPEN: MSG received; returns 1 in *stop if the owner asked to stop */
static dcf_rc
on_msg(dcf_sess *s, const dcf_frame_hdr *h, const uint8_t *p, int *stop,
	   char *errmsg)
{
	const uint8_t *data = p;
	dcf_rc		rc;

	if (h->flags & DCF_FRAME_F_LZ4)
	{
		dcf_netbuf *z = s->env->zbuf;

		/* raw_len <= DCF_FRAME_MAX_BYTES was checked by dcf_frame_parse */
		dcf_netbuf_clear(z);
		rc = dcf_netbuf_reserve(z, h->raw_len);
		if (rc != DCF_OK)
			return dcf_errf(errmsg, rc, "no memory to decompress %u bytes",
							h->raw_len);
		rc = dcf_net_lz4_decompress(p, h->len, dcf_netbuf_tailp(z), h->raw_len,
									errmsg);
		if (rc != DCF_OK)
			return rc;
		data = dcf_netbuf_tailp(z);
		s->lz4_in++;
	}
	s->msgs_in++;
	s->bytes_in += h->raw_len;
	*stop = s->env->on_msg(s->env->arg, s, h->msg_type, data, h->raw_len);
	return DCF_OK;
}

/* client: WELCOME received */
static dcf_rc
on_welcome(dcf_sess *s, uint32_t len, char *errmsg)
{
	if (len != 0)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "welcome with a payload");
	s->state = DCF_SESS_OPEN;
	if (s->env->on_open)
		s->env->on_open(s->env->arg, s);
	return DCF_OK;
}

/* The only frame kind acceptable in the session's state (0: none). */
static int
expected_kind(const dcf_sess *s)
{
	switch (s->state)
	{
		case DCF_SESS_SERVER_WAIT_HELLO:
			return DCF_FRAME_HELLO;
		case DCF_SESS_SERVER_WAIT_AUTH:
			return DCF_FRAME_AUTH;
		case DCF_SESS_CLIENT_WAIT_CHALLENGE:
			return DCF_FRAME_CHALLENGE;
		case DCF_SESS_CLIENT_WAIT_WELCOME:
			return DCF_FRAME_WELCOME;
		case DCF_SESS_OPEN:
			return DCF_FRAME_MSG;	/* or DCF_FRAME_PING */
		case DCF_SESS_FAILED:
			break;
	}
	return 0;
}

dcf_rc
dcf_sess_input(dcf_sess *s, const uint8_t *in, size_t len, size_t *consumed,
			   size_t *need, dcf_netbuf *out, char *errmsg)
{
	size_t		pos = 0;
	dcf_rc		rc = DCF_OK;

	*consumed = 0;
	*need = 0;
	if (s->state == DCF_SESS_FAILED)
		return dcf_errf(errmsg, DCF_ERR_STATE, "session already failed");

	while (len - pos >= DCF_FRAME_HDR_BYTES)
	{
		dcf_frame_hdr h;
		const uint8_t *frame = in + pos;
		const uint8_t *payload = frame + DCF_FRAME_HDR_BYTES;
		uint32_t	max_len = s->state == DCF_SESS_OPEN ?
			DCF_FRAME_MAX_BYTES : DCF_FRAME_HS_MAX_BYTES;
		int			stop = 0;

		rc = dcf_frame_parse(frame, max_len, &h, errmsg);
		if (rc != DCF_OK)
			return sess_fail(s, rc);
		if (len - pos < DCF_FRAME_HDR_BYTES + (size_t) h.len)
		{
			*need = DCF_FRAME_HDR_BYTES + (size_t) h.len;
			break;
		}
		if (!dcf_frame_crc_ok(frame, &h))
			return sess_fail(s, dcf_errf(errmsg, DCF_ERR_CORRUPT,
										 "%s frame of %u bytes fails its crc",
										 dcf_frame_kind_name(h.kind), h.len));

		if (h.kind != expected_kind(s) && !(s->state == DCF_SESS_OPEN && h.kind == DCF_FRAME_PING))
			return sess_fail(s, dcf_errf(errmsg, DCF_ERR_PROTO,
										 "unexpected %s frame while %s",
										 dcf_frame_kind_name(h.kind),
										 dcf_sess_state_name(s->state)));
		switch (s->state)
		{
			case DCF_SESS_SERVER_WAIT_HELLO:
				rc = on_hello(s, payload, h.len, out, errmsg);
				break;
			case DCF_SESS_SERVER_WAIT_AUTH:
				rc = on_auth(s, payload, h.len, out, errmsg);
				break;
			case DCF_SESS_CLIENT_WAIT_CHALLENGE:
				rc = on_challenge(s, payload, h.len, out, errmsg);
				break;
			case DCF_SESS_CLIENT_WAIT_WELCOME:
				rc = on_welcome(s, h.len, errmsg);
				break;
			case DCF_SESS_OPEN:
				s->frames_in++;
				if (h.kind == DCF_FRAME_PING)
					rc = h.len == 0 ? DCF_OK :
						dcf_errf(errmsg, DCF_ERR_PROTO, "ping with a payload");
				else
					rc = on_msg(s, &h, payload, &stop, errmsg);
				break;
			case DCF_SESS_FAILED:
				DCF_PANIC("failed session kept reading");
		}
		if (rc != DCF_OK)
			return sess_fail(s, rc);
		pos += DCF_FRAME_HDR_BYTES + (size_t) h.len;
		*consumed = pos;
		if (stop)
			return DCF_OK;
	}
	if (*need == 0 && len - pos > 0)
		*need = DCF_FRAME_HDR_BYTES;
	return DCF_OK;
}
