/*
 * net_tls.c — OpenSSL glue for net.c; see net_tls.h.
 *
 * OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE when
 * the peer has gone; the host (a PostgreSQL worker) must not die of that, so
 * sockets are wrapped in a minimal BIO that uses send(MSG_NOSIGNAL) and
 * recv() and reports EAGAIN as "retry".
 */
#include "net/net_tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#define TLS_EXPORTER_LABEL "EXPORTER-dcf-net-v1-auth"

static BIO_METHOD *sock_method;

static int
sock_write_ex(BIO *b, const char *data, size_t n, size_t *written)
{
	int			fd = (int) (intptr_t) BIO_get_data(b);
	ssize_t		r;

	BIO_clear_retry_flags(b);
	do
		r = send(fd, data, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
	{
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		*written = 0;
		return 0;
	}
	*written = (size_t) r;
	return 1;
}

static int
sock_read_ex(BIO *b, char *data, size_t n, size_t *got)
{
	int			fd = (int) (intptr_t) BIO_get_data(b);
	ssize_t		r;

	BIO_clear_retry_flags(b);
	do
		r = recv(fd, data, n, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
	{
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		*got = 0;
		return 0;
	}
	if (r == 0)
	{
		/* EOF: no retry flag, so OpenSSL reports an unexpected EOF */
		errno = 0;
		*got = 0;
		return 0;
	}
	*got = (size_t) r;
	return 1;
}

static long
sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd)
	{
		case BIO_CTRL_FLUSH:
			return 1;			/* every write goes straight to the socket */
		default:
			return 0;
	}
}

static int
sock_create(BIO *b)
{
	BIO_set_init(b, 0);
	return 1;
}

static BIO_METHOD *
get_sock_method(void)
{
	if (sock_method == NULL)
	{
		BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
									 "dcf socket");

		if (m == NULL ||
			!BIO_meth_set_write_ex(m, sock_write_ex) ||
			!BIO_meth_set_read_ex(m, sock_read_ex) ||
			!BIO_meth_set_ctrl(m, sock_ctrl) ||
			!BIO_meth_set_create(m, sock_create))
		{
			BIO_meth_free(m);
			return NULL;
		}
		sock_method = m;
	}
	return sock_method;
}

/* The most useful OpenSSL error text, with verification results first. */
static void
tls_error_text(SSL *ssl, char *buf, size_t n)
{
	unsigned long e = ERR_peek_last_error();
	long		vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (ssl && vr != X509_V_OK)
		snprintf(buf, n, "certificate verify failed: %s",
				 X509_verify_cert_error_string(vr));
	else if (e != 0)
		ERR_error_string_n(e, buf, n);
	else
		snprintf(buf, n, "unknown tls error");
	ERR_clear_error();
}

dcf_rc
dcf_tls_ctx_new(const char *cert_file, const char *key_file,
				const char *ca_file, SSL_CTX **out, char *errmsg)
{
	char		why[256];
	struct stat st;
	SSL_CTX    *ctx;

	*out = NULL;
	if (!cert_file || !cert_file[0] || !key_file || !key_file[0] ||
		!ca_file || !ca_file[0])
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"dcf.ssl is on but dcf.ssl_cert_file, dcf.ssl_key_file or dcf.ssl_ca_file is not set");
	if (stat(key_file, &st) != 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not stat ssl key file \"%s\": %s",
						key_file, strerror(errno));
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		return dcf_errf(errmsg, DCF_ERR_AUTH,
						"ssl key file \"%s\" is accessible by group or others (mode %04o); run chmod 0600 on it",
						key_file, (unsigned) (st.st_mode & 07777));
	if (get_sock_method() == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "could not create the tls socket method");

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_method());
	if (ctx == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "could not create tls context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
						SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
					 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
	{
		tls_error_text(NULL, why, sizeof(why));
		SSL_CTX_free(ctx);
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"could not load ssl certificate file \"%s\": %s", cert_file, why);
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
	{
		tls_error_text(NULL, why, sizeof(why));
		SSL_CTX_free(ctx);
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"could not load ssl key file \"%s\": %s", key_file, why);
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
	{
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"ssl key file \"%s\" does not match certificate \"%s\"",
						key_file, cert_file);
	}
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
	{
		tls_error_text(NULL, why, sizeof(why));
		SSL_CTX_free(ctx);
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"could not load ssl ca file \"%s\": %s", ca_file, why);
	}
	/* both directions: no certificate, or one the CA did not sign, is refused */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	*out = ctx;
	return DCF_OK;
}

void
dcf_tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

dcf_rc
dcf_tls_new(SSL_CTX *ctx, int fd, int is_server, SSL **out, char *errmsg)
{
	SSL		   *ssl;
	BIO		   *bio;

	*out = NULL;
	ERR_clear_error();
	ssl = SSL_new(ctx);
	bio = BIO_new(get_sock_method());
	if (ssl == NULL || bio == NULL)
	{
		SSL_free(ssl);
		BIO_free(bio);
		ERR_clear_error();
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "could not create tls session");
	}
	BIO_set_data(bio, (void *) (intptr_t) fd);
	BIO_set_init(bio, 1);
	SSL_set_bio(ssl, bio, bio);
	if (is_server)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	*out = ssl;
	return DCF_OK;
}

void
dcf_tls_free(SSL *ssl)
{
	SSL_free(ssl);
}

/* Map an SSL_get_error() result after a failed call. */
static dcf_rc
tls_failure(SSL *ssl, int ret, const char *what, int *want_read,
			int *want_write, char *errmsg)
{
	int			err = SSL_get_error(ssl, ret);
	char		why[256];
	int			saved_errno = errno;

	switch (err)
	{
		case SSL_ERROR_WANT_READ:
			if (want_read)
				*want_read = 1;
			return DCF_ERR_AGAIN;
		case SSL_ERROR_WANT_WRITE:
			if (want_write)
				*want_write = 1;
			return DCF_ERR_AGAIN;
		case SSL_ERROR_ZERO_RETURN:
			ERR_clear_error();
			return dcf_errf(errmsg, DCF_ERR_CLOSED, "peer closed the tls session");
		case SSL_ERROR_SYSCALL:
			ERR_clear_error();
			if (saved_errno == 0)
				return dcf_errf(errmsg, DCF_ERR_CLOSED, "peer closed the connection during tls %s", what);
			return dcf_errf(errmsg, DCF_ERR_IO, "tls %s: %s", what, strerror(saved_errno));
		default:
			tls_error_text(ssl, why, sizeof(why));
			if (strstr(why, "unexpected eof") != NULL)
				return dcf_errf(errmsg, DCF_ERR_CLOSED, "peer closed the connection during tls %s", what);
			return dcf_errf(errmsg, DCF_ERR_PROTO, "tls %s failed: %s", what, why);
	}
}

dcf_rc
dcf_tls_handshake(SSL *ssl, int *want_write, char *errmsg)
{
	int			ret;

	*want_write = 0;
	ERR_clear_error();
	errno = 0;
	ret = SSL_do_handshake(ssl);
	if (ret == 1)
		return DCF_OK;
	return tls_failure(ssl, ret, "handshake", NULL, want_write, errmsg);
}

dcf_rc
dcf_tls_read(SSL *ssl, void *buf, size_t n, size_t *got, char *errmsg)
{
	ERR_clear_error();
	errno = 0;
	*got = 0;
	if (SSL_read_ex(ssl, buf, n, got) == 1)
		return DCF_OK;
	return tls_failure(ssl, 0, "read", NULL, NULL, errmsg);
}

dcf_rc
dcf_tls_write(SSL *ssl, const void *buf, size_t n, size_t *put, int *want_read,
			  char *errmsg)
{
	*want_read = 0;
	*put = 0;
	ERR_clear_error();
	errno = 0;
	if (SSL_write_ex(ssl, buf, n, put) == 1)
		return DCF_OK;
	return tls_failure(ssl, 0, "write", want_read, NULL, errmsg);
}

int
dcf_tls_pending(SSL *ssl)
{
	return SSL_pending(ssl);
}

dcf_rc
dcf_tls_binding(SSL *ssl, uint8_t out[DCF_TLS_BINDING_BYTES], char *errmsg)
{
	ERR_clear_error();
	if (SSL_export_keying_material(ssl, out, DCF_TLS_BINDING_BYTES,
								   TLS_EXPORTER_LABEL, strlen(TLS_EXPORTER_LABEL),
								   NULL, 0, 0) != 1)
	{
		ERR_clear_error();
		return dcf_errf(errmsg, DCF_ERR_PROTO, "could not derive the tls channel binding");
	}
	return DCF_OK;
}
