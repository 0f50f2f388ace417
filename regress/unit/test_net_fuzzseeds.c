/*
 * test_net_fuzzseeds.c — the seed corpus of the net fuzz targets
 * (regress/fuzz/corpus/fuzz_handshake, .../fuzz_frame) is built here, so it
 * cannot silently rot: each committed file must equal what this program
 * builds from the current protocol, and each seed must reach the state it
 * was made for (a full handshake with the fixed key and nonces, messages
 * delivered on either side), which is what lets mutations explore
 * authenticated states.
 *
 * After a deliberate protocol change, rewrite the files with
 *     DCF_NET_WRITE_SEEDS=1 build/unit/test_net_fuzzseeds
 * from the top of the tree.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../fuzz/fuzz_net_common.h"
#include "unit.h"

#define SEED_MAX_BYTES 70000

typedef struct seed
{
	const char *target;
	const char *name;
	uint8_t		flags;
	int			expect_open;	/* handshake seeds: session must end OPEN */
	int			expect_msgs;	/* messages the listener must deliver */
	uint8_t		data[SEED_MAX_BYTES];
	size_t		len;
} seed;

static seed seeds[16];
static int	nseeds;
static dcf_net_key key;

static seed *
new_seed(const char *target, const char *name, uint8_t flags, int open, int msgs)
{
	seed	   *s = &seeds[nseeds++];

	s->target = target;
	s->name = name;
	s->flags = flags;
	s->expect_open = open;
	s->expect_msgs = msgs;
	s->data[0] = flags;
	s->len = 1;
	return s;
}

static size_t
some_msgs(uint8_t *out, size_t n)
{
	uint8_t		p[2048];

	for (int i = 0; i < (int) sizeof(p); i++)
		p[i] = (uint8_t) "append entries term 7 index "[i % 28];
	n = fz_msg(out, n, 1, p, 40, 0);
	n = fz_msg(out, n, 2, p, 2048, 1);	/* lz4 */
	n = fz_frame(out, n, DCF_FRAME_PING, 0, 0, NULL, 0, 0);
	n = fz_msg(out, n, 3, p, 0, 0);		/* empty */
	return n;
}

static void
server_seed(const char *name, uint8_t flags, uint8_t cls, uint32_t client_id, int good)
{
	seed	   *s = new_seed("fuzz_handshake", name, flags, good, good ? 3 : 0);
	uint8_t		cn[DCF_NET_NONCE_BYTES],
				sn[DCF_NET_NONCE_BYTES],
				bind[32],
				mac[DCF_NET_MAC_BYTES];
	uint8_t    *p = s->data + 1;
	size_t		n = 0;

	fz_nonce(cn, FZ_CN);
	fz_nonce(sn, FZ_SN);
	fz_nonce(bind, FZ_BIND);
	n = fz_hello(p, n, client_id, FZ_SERVER_ID, cls);
	fz_proof(&key, FZ_LABEL_DIALER, cls, client_id, FZ_SERVER_ID, cn, sn,
			 (flags & FZ_BINDING) ? bind : NULL, mac);
	n = fz_frame(p, n, DCF_FRAME_AUTH, 0, 0, mac, sizeof(mac), sizeof(mac));
	n = some_msgs(p, n);
	s->len += n;
}

static void
client_seed(const char *name, uint8_t flags, int good)
{
	seed	   *s = new_seed("fuzz_handshake", name, flags | FZ_SIDE_CLIENT, good, good ? 3 : 0);
	uint8_t		cn[DCF_NET_NONCE_BYTES],
				sn[DCF_NET_NONCE_BYTES],
				bind[32],
				c[DCF_SESS_CHALLENGE_BYTES];
	uint8_t    *p = s->data + 1;
	size_t		n = 0;

	fz_nonce(cn, FZ_CN);
	fz_nonce(sn, FZ_SN);
	fz_nonce(bind, FZ_BIND);
	dcf_put_u32(c, FZ_SERVER_ID);
	memcpy(c + 4, sn, DCF_NET_NONCE_BYTES);
	fz_proof(&key, FZ_LABEL_LISTENER, 0, FZ_CLIENT_ID, FZ_SERVER_ID, cn, sn,
			 (flags & FZ_BINDING) ? bind : NULL, c + 4 + DCF_NET_NONCE_BYTES);
	if (!good)
		c[sizeof(c) - 1] ^= 1;
	n = fz_frame(p, n, DCF_FRAME_CHALLENGE, 0, 0, c, sizeof(c), sizeof(c));
	n = fz_frame(p, n, DCF_FRAME_WELCOME, 0, 0, NULL, 0, 0);
	n = some_msgs(p, n);		/* the listener talks too, once open */
	s->len += n;
}

static void
frame_seeds(void)
{
	seed	   *s;
	uint8_t		big[60000];
	size_t		n;

	s = new_seed("fuzz_frame", "msgs", 0, 1, 3);
	s->len += some_msgs(s->data + 1, 0);
	s = new_seed("fuzz_frame", "msgs-chunked-fixcrc", FZ_CHUNKED | FZ_FIX_CRC, 1, 3);
	s->len += some_msgs(s->data + 1, 0);

	/* one big lz4 frame: compressible text */
	s = new_seed("fuzz_frame", "lz4-big", 0, 1, 1);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t) "pgbench_accounts set abalance "[(i * 7) % 30];
	{
		uint8_t    *z = malloc(dcf_net_lz4_bound(sizeof(big)));
		size_t		zn = dcf_net_lz4_compress(big, sizeof(big), z, dcf_net_lz4_bound(sizeof(big)));

		s->len += fz_frame(s->data + 1, 0, DCF_FRAME_MSG, DCF_FRAME_F_LZ4, 9, z, (uint32_t) zn,
						   sizeof(big));
		free(z);
	}

	/* a whole message then a truncated one */
	s = new_seed("fuzz_frame", "truncated", FZ_FIX_CRC, 1, 1);
	n = fz_msg(s->data + 1, 0, 4, big, 300, 0);
	n = fz_msg(s->data + 1, n, 5, big, 300, 0);
	s->len += n - 150;
}

static void
build(void)
{
	fz_key(&key);
	server_seed("server-control", 0, 0, FZ_CLIENT_ID, 1);
	server_seed("server-bulk-tls", FZ_BINDING, 1, FZ_CLIENT_ID, 1);
	server_seed("server-chunked-fixcrc", FZ_CHUNKED | FZ_FIX_CRC, 0, FZ_OTHER_ID, 1);
	server_seed("server-unknown-node", 0, 0, 9, 0);
	client_seed("client", 0, 1);
	client_seed("client-tls", FZ_BINDING, 1);
	client_seed("client-bad-proof", 0, 0);
	frame_seeds();
}

/* ---- replay each seed the way its target does ------------------------------- */

static int	delivered;

static int
count_msg(void *arg, dcf_sess *s, uint8_t type, const uint8_t *p, size_t len)
{
	delivered++;
	return 0;
}

static int
replay(const seed *s, int *open)
{
	static dcf_netbuf zbuf;
	dcf_sess_env env;
	dcf_sess	sess;
	dcf_netbuf	out;
	uint8_t		cn[DCF_NET_NONCE_BYTES],
				sn[DCF_NET_NONCE_BYTES],
				bind[32];
	uint8_t		buf[SEED_MAX_BYTES];
	size_t		n = s->len - 1,
				pos = 0,
				avail = 0;
	int			is_frame = strcmp(s->target, "fuzz_frame") == 0;
	char		err[DCF_ERRMSG_MAX];

	memcpy(buf, s->data + 1, n);
	if (s->flags & FZ_FIX_CRC)
		fz_fix_crcs(buf, n);
	fz_nonce(cn, FZ_CN);
	fz_nonce(sn, FZ_SN);
	fz_nonce(bind, FZ_BIND);
	if (zbuf.max == 0)
		dcf_netbuf_init(&zbuf, DCF_FRAME_MAX_BYTES);
	memset(&env, 0, sizeof(env));
	env.key = &key;
	env.is_member = fz_is_member;
	env.on_msg = count_msg;
	env.zbuf = &zbuf;
	dcf_netbuf_init(&out, 4096);
	delivered = 0;
	if (!is_frame && (s->flags & FZ_SIDE_CLIENT))
	{
		env.self_id = FZ_CLIENT_ID;
		dcf_sess_client_start(&sess, &env, NULL, FZ_SERVER_ID, (s->flags >> 4) & 1, cn,
							  (s->flags & FZ_BINDING) ? bind : NULL, &out);
	}
	else
	{
		env.self_id = FZ_SERVER_ID;
		dcf_sess_server_start(&sess, &env, NULL, sn, (s->flags & FZ_BINDING) ? bind : NULL);
		if (is_frame)
		{
			sess.state = DCF_SESS_OPEN;
			sess.client_id = FZ_CLIENT_ID;
		}
	}
	while (avail < n)
	{
		size_t		consumed,
					need;

		avail = (s->flags & FZ_CHUNKED) ? avail + 1 + buf[avail] % (is_frame ? 251 : 97) : n;
		if (avail > n)
			avail = n;
		if (dcf_sess_input(&sess, buf + pos, avail - pos, &consumed, &need, &out, err) != DCF_OK)
			break;
		pos += consumed;
	}
	*open = sess.state == DCF_SESS_OPEN;
	dcf_netbuf_free(&out);
	return delivered;
}

int
main(void)
{
	int			write = getenv("DCF_NET_WRITE_SEEDS") != NULL;

	build();
	for (int i = 0; i < nseeds; i++)
	{
		seed	   *s = &seeds[i];
		char		path[512];
		FILE	   *f;
		int			open;
		int			msgs = replay(s, &open);

		CHECK(open == s->expect_open && msgs == s->expect_msgs,
			  "seed %s/%s: ends %s with %d message(s) delivered", s->target, s->name,
			  open ? "open" : "not open", msgs);
		snprintf(path, sizeof(path), "regress/fuzz/corpus/%s", s->target);
		if (write)
		{
			mkdir("regress/fuzz/corpus", 0755);
			mkdir(path, 0755);
		}
		snprintf(path, sizeof(path), "regress/fuzz/corpus/%s/%s", s->target, s->name);
		if (write)
		{
			f = fopen(path, "wb");
			if (f == NULL || fwrite(s->data, 1, s->len, f) != s->len)
				printf("# could not write %s: %s\n", path, strerror(errno));
			if (f)
				fclose(f);
		}
		f = fopen(path, "rb");
		{
			static uint8_t disk[SEED_MAX_BYTES + 1];
			size_t		got = f ? fread(disk, 1, sizeof(disk), f) : 0;

			CHECK(f != NULL && got == s->len && memcmp(disk, s->data, s->len) == 0,
				  "seed %s is up to date (%zu bytes; rebuild with DCF_NET_WRITE_SEEDS=1)", path, s->len);
			if (f)
				fclose(f);
		}
	}
	return unit_done();
}
