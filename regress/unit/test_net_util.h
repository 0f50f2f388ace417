/*
 * test_net_util.h — helpers shared by the regress/unit/test_net*.c programs:
 * temporary key files, free loopback ports, endpoints that record what they
 * receive and log, pumping several endpoints until a condition holds, and
 * throwaway X.509 certificates made with libcrypto.
 *
 * Everything listens on 127.0.0.1 only, on ports the kernel handed out for
 * port 0 a moment before, so parallel test runs do not collide.
 */
#ifndef TEST_NET_UTIL_H
#define TEST_NET_UTIL_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/net.h"
#include "unit.h"

#define TN_MAX_MSGS		200000
#define TN_MAX_LOG		256
#define TN_LOG_LINE		600

typedef struct tn_msg
{
	uint32_t	from;
	int			cls;
	uint8_t		type;
	uint32_t	len;
	uint64_t	seq;			/* first 8 bytes of the payload, if any */
	int			intact;			/* payload matched tn_fill(seq, len, type) */
	uint64_t	at_ms;			/* when it was delivered */
} tn_msg;

typedef struct tn_node
{
	dcf_net    *net;
	uint32_t	id;
	tn_msg	   *msgs;
	int			nmsgs;
	char		log[TN_MAX_LOG][TN_LOG_LINE];
	int			nlog;
	/* optional hook run for every message (after it was recorded) */
	void		(*hook) (struct tn_node *n, const dcf_net_msg *m);
	void	   *hook_arg;
} tn_node;

static char tn_dir[256];

/* A temporary directory for key and certificate files, removed at exit. */
static inline const char *
tn_tmpdir(void)
{
	if (tn_dir[0] == '\0')
	{
		snprintf(tn_dir, sizeof(tn_dir), "/tmp/dcf-test-net-XXXXXX");
		if (mkdtemp(tn_dir) == NULL)
		{
			perror("mkdtemp");
			exit(2);
		}
	}
	return tn_dir;
}

static inline void
tn_cleanup(void)
{
	char		cmd[400];

	if (tn_dir[0] != '\0' && strncmp(tn_dir, "/tmp/dcf-test-net-", 18) == 0)
	{
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tn_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "# could not remove %s\n", tn_dir);
	}
}

/* Write a file with the given mode; returns its path (static storage per name). */
static inline const char *
tn_write_file(const char *name, const void *data, size_t len, mode_t mode)
{
	static char paths[32][320];
	static int	npaths;
	char	   *path = paths[npaths++ % 32];
	int			fd;

	snprintf(path, 320, "%s/%s", tn_tmpdir(), name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t) len))
	{
		perror(path);
		exit(2);
	}
	close(fd);
	chmod(path, mode);
	return path;
}

/* A key file with 32 random-looking hex bytes derived from tag. */
static inline const char *
tn_key_file(const char *name, int tag)
{
	char		buf[80];

	for (int i = 0; i < 64; i++)
		buf[i] = "0123456789abcdef"[(i * 7 + tag * 13 + (i * tag) % 11) & 15];
	buf[64] = '\n';
	return tn_write_file(name, buf, 65, 0600);
}

/*
 * A loopback port that was free a moment ago, below Linux's ephemeral range
 * (32768-60999), so no outgoing connection of this or another test takes it
 * as its source port before the node that owns it listens.
 */
static inline uint16_t
tn_free_port(void)
{
	static uint32_t x;

	if (x == 0)
		x = (uint32_t) getpid() * 2654435761u | 1;
	for (int tries = 0; tries < 1000; tries++)
	{
		struct sockaddr_in sa;
		int			s = socket(AF_INET, SOCK_STREAM, 0);
		uint16_t	port;
		int			ok;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		port = (uint16_t) (20000 + x % 12000);
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons(port);
		ok = s >= 0 && bind(s, (struct sockaddr *) &sa, sizeof(sa)) == 0;
		if (s >= 0)
			close(s);
		if (ok)
			return port;
	}
	fprintf(stderr, "tn_free_port: no free port\n");
	exit(2);
}

/*
 * Deterministic payload for (seq, len, type): the first 8 bytes carry seq.
 * Types with TN_TEXT set get repetitive text (lz4 shrinks it); others get a
 * pattern lz4 cannot shrink much (it repeats only every 64 KiB).
 */
#define TN_TEXT 0x80

static inline uint8_t
tn_byte(uint64_t seq, size_t i, uint8_t type)
{
	if (type & TN_TEXT)
		return (uint8_t) "insert into pgbench_history values "[(i + seq) % 35];
	return (uint8_t) ((seq * 31 + i * 7 + (i >> 8)) & 0xff);
}

static inline void
tn_fill(uint8_t *p, uint64_t seq, size_t len, uint8_t type)
{
	for (size_t i = 0; i < len; i++)
		p[i] = tn_byte(seq, i, type);
	if (len >= 8)
		memcpy(p, &seq, 8);
}

static inline int
tn_check_fill(const uint8_t *p, uint64_t seq, size_t len, uint8_t type)
{
	for (size_t i = 8; i < len; i++)
		if (p[i] != tn_byte(seq, i, type))
			return 0;
	return 1;
}

static inline void
tn_on_message(void *arg, const dcf_net_msg *m)
{
	tn_node    *n = arg;

	if (n->nmsgs < TN_MAX_MSGS)
	{
		tn_msg	   *r = &n->msgs[n->nmsgs++];

		r->from = m->from;
		r->cls = m->cls;
		r->type = m->type;
		r->len = (uint32_t) m->len;
		r->seq = 0;
		if (m->len >= 8)
			memcpy(&r->seq, m->data, 8);
		r->at_ms = dcf_net_clock_ms();
		r->intact = tn_check_fill(m->data, r->seq, m->len, m->type);
	}
	if (n->hook)
		n->hook(n, m);
}

static inline void
tn_on_log(void *arg, dcf_net_log_level level, const char *line)
{
	tn_node    *n = arg;

	if (getenv("TEST_NET_VERBOSE"))
		printf("# [node %u] %s\n", n->id, line);
	if (n->nlog < TN_MAX_LOG)
		snprintf(n->log[n->nlog++], TN_LOG_LINE, "%s", line);
}

/* Log lines of n containing all of the given substrings (b may be NULL). */
static inline int
tn_log_count(const tn_node *n, const char *a, const char *b)
{
	int			c = 0;

	for (int i = 0; i < n->nlog; i++)
		if (strstr(n->log[i], a) && (b == NULL || strstr(n->log[i], b)))
			c++;
	return c;
}

static inline void
tn_dump_log(const tn_node *n)
{
	for (int i = 0; i < n->nlog; i++)
		printf("#   node %u log: %s\n", n->id, n->log[i]);
}

/* Fill options with test defaults: key file, receive and log callbacks. */
static inline void
tn_options(dcf_net_options *o, tn_node *n, uint32_t id, const char *key_file)
{
	dcf_net_options_init(o);
	o->self_id = id;
	o->auth_key_file = key_file;
	o->on_message = tn_on_message;
	o->on_message_arg = n;
	o->log = tn_on_log;
	o->log_arg = n;
}

static inline int
tn_start(tn_node *n, const dcf_net_options *o)
{
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc;

	n->id = o->self_id;
	if (n->msgs == NULL)
		n->msgs = calloc(TN_MAX_MSGS, sizeof(tn_msg));
	rc = dcf_net_create(o, &n->net, err);
	if (rc != DCF_OK)
		printf("# dcf_net_create(node %u): %s\n", o->self_id, err);
	return rc == DCF_OK;
}

static inline void
tn_stop(tn_node *n)
{
	dcf_net_destroy(n->net);
	n->net = NULL;
}

static inline void
tn_free(tn_node *n)
{
	tn_stop(n);
	free(n->msgs);
	n->msgs = NULL;
}

static inline void
tn_member(dcf_net_member *m, uint32_t id, uint16_t port)
{
	memset(m, 0, sizeof(*m));
	m->node_id = id;
	snprintf(m->ip, sizeof(m->ip), "127.0.0.1");
	m->port = port;
}

static inline int
tn_set_members(tn_node *n, const dcf_net_member *m, int nm)
{
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc = dcf_net_set_members(n->net, m, nm, dcf_net_clock_ms(), err);

	if (rc != DCF_OK)
		printf("# set_members(node %u): %s\n", n->id, err);
	return rc == DCF_OK;
}

/* Pump every running node once (up to timeout_ms). */
static inline void
tn_pump(tn_node **nodes, int n, int timeout_ms)
{
	dcf_net    *nets[16];
	int			k = 0;
	char		err[DCF_ERRMSG_MAX];

	for (int i = 0; i < n; i++)
		if (nodes[i]->net)
			nets[k++] = nodes[i]->net;
	if (dcf_net_pump_many(nets, k, timeout_ms, err) != DCF_OK)
		printf("# pump: %s\n", err);
}

typedef int (*tn_cond_fn) (void *arg);

/* Pump until cond(arg) holds or timeout_ms passed; returns cond's last value. */
static inline int
tn_pump_until(tn_node **nodes, int n, tn_cond_fn cond, void *arg, int timeout_ms)
{
	uint64_t	end = dcf_net_clock_ms() + (uint64_t) timeout_ms;

	while (!cond(arg))
	{
		if (dcf_net_clock_ms() >= end)
			return cond(arg);
		tn_pump(nodes, n, 10);
	}
	return 1;
}

/* Pump for a fixed time. */
static inline void
tn_pump_for(tn_node **nodes, int n, int ms)
{
	uint64_t	end = dcf_net_clock_ms() + (uint64_t) ms;

	while (dcf_net_clock_ms() < end)
		tn_pump(nodes, n, 5);
}

static inline int
tn_connected(tn_node *n, uint32_t peer, int cls)
{
	dcf_net_peer_stats st;

	return dcf_net_get_peer_stats(n->net, peer, (dcf_net_class) cls, &st) == DCF_OK &&
		st.connected;
}

/*
 * Send a tn_fill payload from node `from` to `to`, pumping `nodes` while the
 * queue is full (for up to 10 s).  Returns the final rc.
 */
static inline dcf_rc
tn_send(tn_node **nodes, int nn, tn_node *from, uint32_t to, int cls, uint8_t type,
		uint64_t seq, size_t len)
{
	static uint8_t *buf;
	static size_t cap;
	uint64_t	end = dcf_net_clock_ms() + 10000;
	dcf_rc		rc;

	if (cap < len || buf == NULL)
	{
		free(buf);
		cap = len > 65536 ? len : 65536;
		buf = malloc(cap);
	}
	tn_fill(buf, seq, len, type);
	while ((rc = dcf_net_send(from->net, to, (dcf_net_class) cls, type, buf, len, NULL)) == DCF_ERR_FULL &&
		   dcf_net_clock_ms() < end)
		tn_pump(nodes, nn, 5);
	return rc;
}

/* ---- certificates -------------------------------------------------------- */

static inline EVP_PKEY *
tn_ec_key(void)
{
	return EVP_EC_gen("P-256");
}

static inline X509 *
tn_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		int is_ca, long serial)
{
	X509	   *x = X509_new();
	X509_NAME  *name;
	X509V3_CTX	ctx;
	X509_EXTENSION *ext;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
							  is_ca ? "critical,CA:TRUE" : "CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (is_ca)
	{
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
	return x;
}

/* A CA and one node certificate+key signed by it; paths returned. */
typedef struct tn_pki
{
	char		ca[320];
	char		cert[320];
	char		key[320];
} tn_pki;

static inline void
tn_write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE	   *f = fopen(path, "w");

	if (f == NULL)
	{
		perror(path);
		exit(2);
	}
	if (x)
		PEM_write_X509(f, x);
	if (k)
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, k ? 0600 : 0644);
}

/*
 * Make a CA named ca_name (reusing the one in ca, ca_key if made) and a node
 * certificate signed by it; file names are prefixed with tag.
 */
static inline void
tn_make_pki(tn_pki *out, const char *tag, X509 **ca, EVP_PKEY **ca_key,
			const char *ca_name)
{
	EVP_PKEY   *k = tn_ec_key();
	X509	   *x;
	static long serial = 1;

	if (*ca == NULL)
	{
		*ca_key = tn_ec_key();
		*ca = tn_cert(*ca_key, ca_name, NULL, NULL, 1, serial++);
	}
	x = tn_cert(k, tag, *ca, *ca_key, 0, serial++);
	snprintf(out->ca, sizeof(out->ca), "%s/%s-ca.pem", tn_tmpdir(), tag);
	snprintf(out->cert, sizeof(out->cert), "%s/%s-cert.pem", tn_tmpdir(), tag);
	snprintf(out->key, sizeof(out->key), "%s/%s-key.pem", tn_tmpdir(), tag);
	tn_write_pem(out->ca, *ca, NULL);
	tn_write_pem(out->cert, x, NULL);
	tn_write_pem(out->key, NULL, k);
	X509_free(x);
	EVP_PKEY_free(k);
}

#endif							/* TEST_NET_UTIL_H */
