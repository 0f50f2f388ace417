/*
 * net_auth.h — the cluster key and the HMAC-SHA256 proofs of the handshake.
 *
 * Every node of a cluster holds the same secret key in a file
 * (dcf.auth_key_file).  The file must be a regular file without any group or
 * world permission bits (0600 or 0400) owned by the running user or root, and
 * hold at least DCF_NET_KEY_MIN_BYTES bytes after trailing whitespace is
 * removed (so `openssl rand -hex 32 > key` works).  The bytes are the HMAC
 * key as they are; the key never leaves the process and never goes on the
 * wire.
 *
 * Proofs are HMAC-SHA256(key, label || transcript) where the label says
 * which side computes it: a listener's proof can never be replayed as a
 * dialer's or the other way round, so neither side can be used as an oracle
 * to answer its own challenge.
 */
#ifndef DCF_NET_AUTH_H
#define DCF_NET_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/dcf_err.h"

#define DCF_NET_KEY_MIN_BYTES	32
#define DCF_NET_KEY_MAX_BYTES	1024
#define DCF_NET_NONCE_BYTES		32
#define DCF_NET_MAC_BYTES		32
/* Bound on label + transcript fed to one MAC (transcripts are ~120 bytes). */
#define DCF_NET_MAC_INPUT_MAX_BYTES 512

typedef struct dcf_net_key
{
	size_t		len;
	uint8_t		bytes[DCF_NET_KEY_MAX_BYTES];
} dcf_net_key;

/*
 * Load and check the key file.  Messages say what is wrong and what to do
 * ("auth key file \"/x\" is accessible by group or others (mode 0644); run
 * chmod 0600 on it").  Usable from a GUC check hook: no side effects.
 */
extern dcf_rc dcf_net_key_load(const char *path, dcf_net_key *key,
							   char *errmsg);

/* Use the bytes given as the key (tests, benchmarks); same length rules. */
extern dcf_rc dcf_net_key_set(dcf_net_key *key, const void *bytes, size_t len,
							  char *errmsg);

/* out = HMAC-SHA256(key, label || data). */
extern dcf_rc dcf_net_mac(const dcf_net_key *key, const char *label,
						  const uint8_t *data, size_t len,
						  uint8_t out[DCF_NET_MAC_BYTES]);

/* Constant-time equality of two MACs. */
extern int	dcf_net_mac_equal(const uint8_t *a, const uint8_t *b);

/* Fill buf with n cryptographically random bytes (OpenSSL RAND_bytes). */
extern dcf_rc dcf_net_random(void *buf, size_t n, char *errmsg);

/* Wipe key material (not optimised away). */
extern void dcf_net_key_wipe(dcf_net_key *key);

#endif							/* DCF_NET_AUTH_H */
