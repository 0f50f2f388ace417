/*
 * net_tls.h — optional mutual TLS under the dcf handshake (dcf.ssl = on).
 *
 * Every node has one certificate and key signed by the cluster's CA
 * (dcf.ssl_cert_file, dcf.ssl_key_file, dcf.ssl_ca_file) and uses them both
 * to accept and to dial; each side requires and verifies the other's
 * certificate against the CA.  TLS gives confidentiality and integrity of
 * every frame on an untrusted network; which node is at the other end is
 * still proven by the HMAC handshake, which runs inside TLS and is bound to
 * the TLS session by an exporter value (RFC 5705 / RFC 8446 7.5).
 *
 * All calls are non-blocking.  The socket BIO here sends with MSG_NOSIGNAL,
 * so a peer that resets the connection never raises SIGPIPE in the host.
 */
#ifndef DCF_NET_TLS_H
#define DCF_NET_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "core/dcf_err.h"

#define DCF_TLS_BINDING_BYTES 32

/* Load certificate, key and CA; checks the key file's permissions. */
extern dcf_rc dcf_tls_ctx_new(const char *cert_file, const char *key_file,
							  const char *ca_file, SSL_CTX **out,
							  char *errmsg);
extern void dcf_tls_ctx_free(SSL_CTX *ctx);

/* A TLS session over fd, as server (accepted) or client (dialed). */
extern dcf_rc dcf_tls_new(SSL_CTX *ctx, int fd, int is_server, SSL **out,
						  char *errmsg);
extern void dcf_tls_free(SSL *ssl);

/*
 * Advance the handshake: DCF_OK when done; DCF_ERR_AGAIN when it waits for
 * the socket (*want_write says whether it needs writability besides
 * readability); another code with errmsg when it failed.
 */
extern dcf_rc dcf_tls_handshake(SSL *ssl, int *want_write, char *errmsg);

/*
 * Read up to n bytes: DCF_OK (*got > 0), DCF_ERR_AGAIN, DCF_ERR_CLOSED (peer
 * closed), or an error.
 */
extern dcf_rc dcf_tls_read(SSL *ssl, void *buf, size_t n, size_t *got,
						   char *errmsg);

/*
 * Write up to n bytes: DCF_OK (*put > 0), DCF_ERR_AGAIN (*want_read set if
 * TLS needs to read first), or an error.
 */
extern dcf_rc dcf_tls_write(SSL *ssl, const void *buf, size_t n, size_t *put,
							int *want_read, char *errmsg);

/* Bytes already decrypted and buffered inside OpenSSL. */
extern int	dcf_tls_pending(SSL *ssl);

/* The channel binding for the dcf handshake (an exporter value). */
extern dcf_rc dcf_tls_binding(SSL *ssl, uint8_t out[DCF_TLS_BINDING_BYTES],
							  char *errmsg);

#endif							/* DCF_NET_TLS_H */
