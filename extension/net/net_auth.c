/*
 * net_auth.c — cluster key file loading and HMAC proofs; see net_auth.h.
 *
 * The key file checks follow PostgreSQL's rules for ssl_key_file: a secret
 * that others can read is not a secret, so refuse to start rather than run
 * with it.
 */
#include "net/net_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static size_t
trim_trailing_space(const uint8_t *p, size_t n)
{
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' ||
					 p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return n;
}

dcf_rc
dcf_net_key_set(dcf_net_key *key, const void *bytes, size_t len, char *errmsg)
{
	if (len < DCF_NET_KEY_MIN_BYTES)
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"auth key is too short (%zu bytes, need at least %d)",
						len, DCF_NET_KEY_MIN_BYTES);
	if (len > DCF_NET_KEY_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"auth key is too long (%zu bytes, at most %d)",
						len, DCF_NET_KEY_MAX_BYTES);
	memcpy(key->bytes, bytes, len);
	key->len = len;
	return DCF_OK;
}

dcf_rc
dcf_net_key_load(const char *path, dcf_net_key *key, char *errmsg)
{
	uint8_t		buf[DCF_NET_KEY_MAX_BYTES + 1];
	struct stat st;
	size_t		got = 0;
	int			fd;
	dcf_rc		rc;

	if (path == NULL || path[0] == '\0')
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"no auth key file configured (set dcf.auth_key_file)");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not open auth key file \"%s\": %s",
						path, strerror(errno));
	if (fstat(fd, &st) != 0)
	{
		rc = dcf_errf(errmsg, DCF_ERR_IO, "could not stat auth key file \"%s\": %s",
					  path, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode))
	{
		close(fd);
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"auth key file \"%s\" is not a regular file", path);
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		close(fd);
		return dcf_errf(errmsg, DCF_ERR_AUTH,
						"auth key file \"%s\" is accessible by group or others (mode %04o); run chmod 0600 on it",
						path, (unsigned) (st.st_mode & 07777));
	}
	if (st.st_uid != geteuid() && st.st_uid != 0)
	{
		close(fd);
		return dcf_errf(errmsg, DCF_ERR_AUTH,
						"auth key file \"%s\" must be owned by the server's user or root",
						path);
	}
	while (got < sizeof(buf))
	{
		ssize_t		r = read(fd, buf + got, sizeof(buf) - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
		{
			rc = dcf_errf(errmsg, DCF_ERR_IO, "could not read auth key file \"%s\": %s",
						  path, strerror(errno));
			close(fd);
			OPENSSL_cleanse(buf, sizeof(buf));
			return rc;
		}
		if (r == 0)
			break;
		got += (size_t) r;
	}
	close(fd);
	if (got > DCF_NET_KEY_MAX_BYTES)
	{
		OPENSSL_cleanse(buf, sizeof(buf));
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"auth key file \"%s\" is too long (more than %d bytes)",
						path, DCF_NET_KEY_MAX_BYTES);
	}
	got = trim_trailing_space(buf, got);
	if (got == 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "auth key file \"%s\" is empty", path);
	if (got < DCF_NET_KEY_MIN_BYTES)
	{
		OPENSSL_cleanse(buf, sizeof(buf));
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"auth key file \"%s\" is too short (%zu bytes, need at least %d; e.g. openssl rand -hex 32)",
						path, got, DCF_NET_KEY_MIN_BYTES);
	}
	rc = dcf_net_key_set(key, buf, got, errmsg);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

dcf_rc
dcf_net_mac(const dcf_net_key *key, const char *label, const uint8_t *data,
			size_t len, uint8_t out[DCF_NET_MAC_BYTES])
{
	uint8_t		msg[DCF_NET_MAC_INPUT_MAX_BYTES];
	size_t		llen = strlen(label) + 1;	/* the NUL separates label and data */
	unsigned int outlen = 0;

	if (llen + len > sizeof(msg))
		return DCF_ERR_INVALID;
	memcpy(msg, label, llen);
	memcpy(msg + llen, data, len);
	if (HMAC(EVP_sha256(), key->bytes, (int) key->len, msg, llen + len,
			 out, &outlen) == NULL || outlen != DCF_NET_MAC_BYTES)
	{
		ERR_clear_error();
		return DCF_ERR_AUTH;
	}
	return DCF_OK;
}

int
dcf_net_mac_equal(const uint8_t *a, const uint8_t *b)
{
	return CRYPTO_memcmp(a, b, DCF_NET_MAC_BYTES) == 0;
}

dcf_rc
dcf_net_random(void *buf, size_t n, char *errmsg)
{
	if (RAND_bytes(buf, (int) n) != 1)
	{
		ERR_clear_error();
		return dcf_errf(errmsg, DCF_ERR_IO, "could not generate random bytes");
	}
	return DCF_OK;
}

void
dcf_net_key_wipe(dcf_net_key *key)
{
	OPENSSL_cleanse(key, sizeof(*key));
}
