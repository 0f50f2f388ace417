/*
 * test_net_tls.c — dcf.ssl = on: two nodes with certificates from the
 * cluster CA exchange control and bulk messages (lz4 on, payloads up to
 * 1 MiB, so TLS partial writes and records spanning frames are exercised);
 * nodes that cannot be trusted get nothing processed: a certificate from
 * another CA (with the right cluster key!), a node without TLS, and a node
 * with a good certificate but the wrong cluster key.  Bad TLS settings are
 * refused at create time with a message naming the file.  Certificates are
 * generated here with libcrypto and thrown away.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_net_util.h"

static tn_node A,
			B,
			R;
static tn_node *nodes[3] = {&A, &B, &R};
static dcf_net_member members[2];
static uint16_t port_r;

static int
connected(void *arg)
{
	return tn_connected(&A, 2, DCF_NET_CONTROL) && tn_connected(&A, 2, DCF_NET_BULK) &&
		tn_connected(&B, 1, DCF_NET_CONTROL) && tn_connected(&B, 1, DCF_NET_BULK);
}

static int
b_has(void *arg)
{
	return B.nmsgs >= *(int *) arg;
}

static void
tls_options(dcf_net_options *o, tn_node *n, uint32_t id, const char *key, const tn_pki *p)
{
	tn_options(o, n, id, key);
	o->ssl = 1;
	o->ssl_cert_file = p->cert;
	o->ssl_key_file = p->key;
	o->ssl_ca_file = p->ca;
	o->reconnect_min_ms = 20;
	o->reconnect_max_ms = 100;
}

static int
r_failed(void *arg)
{
	dcf_net_peer_stats st;

	dcf_net_get_peer_stats(R.net, 2, DCF_NET_CONTROL, &st);
	return st.connect_failures >= 3;
}

/* R (id 1, impostor) tries B for a while; nothing of it may be processed. */
static void
impostor(const char *what, const dcf_net_options *o, const char *b_reason, const char *r_reason)
{
	dcf_net_member m[2];
	int			before = B.nmsgs;
	dcf_net_stats b0,
				b1;
	int			sent = 0;

	dcf_net_get_stats(B.net, &b0);
	CHECK(tn_start(&R, o), "%s: started", what);
	tn_member(&m[0], 1, port_r);
	tn_member(&m[1], 2, members[1].port);
	tn_set_members(&R, m, 2);
	for (int round = 0; round < 30; round++)
	{
		for (int k = 0; k < DCF_NET_NCLASSES; k++)
			sent += tn_send(nodes, 0, &R, 2, k, 0x6e, 7000000000ULL + (uint64_t) round, 64) == DCF_OK;
		tn_pump_for(nodes, 3, 10);
	}
	tn_pump_until(nodes, 3, r_failed, NULL, 3000);
	dcf_net_get_stats(B.net, &b1);
	CHECK(B.nmsgs == before && b1.accepted == b0.accepted && !tn_connected(&R, 2, DCF_NET_CONTROL) &&
		  b1.rejected > b0.rejected,
		  "%s: %d messages queued, none processed by B, %llu connections rejected", what, sent,
		  (unsigned long long) (b1.rejected - b0.rejected));
	if (b_reason)
		CHECK(tn_log_count(&B, b_reason, NULL) >= 1, "%s: B logs \"%s\"", what, b_reason);
	if (r_reason)
		CHECK(tn_log_count(&R, r_reason, NULL) >= 1, "%s: the impostor logs \"%s\"", what, r_reason);
	if ((b_reason && tn_log_count(&B, b_reason, NULL) == 0) ||
		(r_reason && tn_log_count(&R, r_reason, NULL) == 0))
	{
		tn_dump_log(&B);
		tn_dump_log(&R);
	}
	tn_stop(&R);
	R.nlog = 0;
	tn_pump_for(nodes, 3, 30);
}

int
main(void)
{
	const char *key = tn_key_file("cluster.key", 4);
	const char *wrong_key = tn_key_file("wrong.key", 5);
	X509	   *ca = NULL,
			   *rogue_ca = NULL;
	EVP_PKEY   *ca_key = NULL,
			   *rogue_key = NULL;
	tn_pki		pa,
				pb,
				pw,
				pr;
	dcf_net_options o;
	char		err[DCF_ERRMSG_MAX];
	dcf_net    *bad;
	int			n = 0;
	int			ok = 1;

	tn_make_pki(&pa, "node1", &ca, &ca_key, "dcf test cluster CA");
	tn_make_pki(&pb, "node2", &ca, &ca_key, "dcf test cluster CA");
	tn_make_pki(&pw, "node1b", &ca, &ca_key, "dcf test cluster CA");
	tn_make_pki(&pr, "rogue", &rogue_ca, &rogue_key, "some other CA");

	/* configuration errors */
	tls_options(&o, &A, 1, key, &pa);
	o.ssl_ca_file = NULL;
	CHECK(dcf_net_create(&o, &bad, err) == DCF_ERR_INVALID && strstr(err, "dcf.ssl_ca_file"),
		  "tls: missing CA setting refused (%s)", err);
	tls_options(&o, &A, 1, key, &pa);
	chmod(pa.key, 0644);
	CHECK(dcf_net_create(&o, &bad, err) == DCF_ERR_AUTH && strstr(err, "chmod 0600"),
		  "tls: world-readable private key refused (%s)", err);
	chmod(pa.key, 0600);
	o.ssl_cert_file = pb.cert;	/* certificate of another key */
	CHECK(dcf_net_create(&o, &bad, err) == DCF_ERR_INVALID && strstr(err, "match"),
		  "tls: certificate not matching the key refused (%s)", err);
	o.ssl_cert_file = "/nonexistent/cert.pem";
	CHECK(dcf_net_create(&o, &bad, err) == DCF_ERR_INVALID && strstr(err, "/nonexistent/cert.pem"),
		  "tls: unreadable certificate named in the message (%s)", err);

	/* two good nodes */
	tn_member(&members[0], 1, tn_free_port());
	tn_member(&members[1], 2, tn_free_port());
	port_r = tn_free_port();
	tls_options(&o, &A, 1, key, &pa);
	o.compress = DCF_NET_COMPRESS_LZ4;
	CHECK(tn_start(&A, &o) && tn_set_members(&A, members, 2), "tls: node 1 up");
	tls_options(&o, &B, 2, key, &pb);
	CHECK(tn_start(&B, &o) && tn_set_members(&B, members, 2), "tls: node 2 up");
	CHECK(tn_pump_until(nodes, 3, connected, NULL, 5000), "tls: connected both ways through TLS");
	for (uint64_t s = 0; s < 300; s++)
		for (int k = 0; k < DCF_NET_NCLASSES; k++)
		{
			size_t		len = k == DCF_NET_CONTROL ? 8 + s % 200 : 8 + (size_t) (s * 104729 % (1 << 20));

			ok &= tn_send(nodes, 3, &A, 2, k, (uint8_t) ((s % 2 ? TN_TEXT : 0) | 3), s, len) == DCF_OK;
			n++;
		}
	CHECK(ok && tn_pump_until(nodes, 3, b_has, &n, 20000), "tls: %d messages (bulk up to 1 MiB) delivered", n);
	{
		uint64_t	next[2] = {0, 0};
		int			good = B.nmsgs == n;

		for (int i = 0; i < B.nmsgs; i++)
		{
			good &= B.msgs[i].from == 1 && B.msgs[i].intact && B.msgs[i].seq == next[B.msgs[i].cls];
			next[B.msgs[i].cls]++;
		}
		CHECK(good, "tls: every message intact and in order per class");
	}

	/* impostors */
	tls_options(&o, &R, 1, key, &pr);
	o.ssl_ca_file = pa.ca;		/* it trusts us; we must not trust it */
	impostor("certificate from another CA, right cluster key", &o,
			 "certificate verify failed", NULL);
	tn_options(&o, &R, 1, key);
	o.reconnect_min_ms = 20;
	o.reconnect_max_ms = 100;
	impostor("node without TLS, right cluster key", &o, "tls handshake failed", NULL);
	tls_options(&o, &R, 1, wrong_key, &pw);
	impostor("good certificate, wrong cluster key", &o, NULL, "listener proof does not match");

	/* the good pair still works */
	{
		int			want = B.nmsgs + 10;

		ok = 1;
		for (uint64_t s = 300; s < 310; s++)
			ok &= tn_send(nodes, 3, &A, 2, DCF_NET_CONTROL, 3, s, 100) == DCF_OK;
		CHECK(ok && tn_pump_until(nodes, 3, b_has, &want, 5000),
			  "tls: the legitimate pair is unaffected by the impostors");
	}

	tn_free(&A);
	tn_free(&B);
	tn_free(&R);
	X509_free(ca);
	X509_free(rogue_ca);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(rogue_key);
	tn_cleanup();
	return unit_done();
}
