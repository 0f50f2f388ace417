/*
 * dcf_err.h — error codes and message buffers shared by the pure layers
 * (core, storage, net).
 *
 * Convention (as in cowsql/raft): a function that can fail returns a
 * dcf_rc and, when it fails, writes a one-line, lower-case message without
 * a trailing period into a caller-provided buffer of DCF_ERRMSG_MAX bytes
 * (`char *errmsg`).  Callers that add context wrap the message with
 * dcf_errwrap() ("opening segment 3: short read at offset 812").  The
 * PostgreSQL layer translates codes and messages into ereport() at the
 * boundary; no ereport() ever long-jumps through pure code.
 */
#ifndef DCF_ERR_H
#define DCF_ERR_H

#include <stddef.h>

#define DCF_ERRMSG_MAX 512

typedef enum dcf_rc
{
	DCF_OK = 0,
	DCF_ERR_NOMEM,				/* allocation failed or a named bound hit */
	DCF_ERR_IO,					/* a system call failed (errno in message) */
	DCF_ERR_CORRUPT,			/* durable data failed a check */
	DCF_ERR_INVALID,			/* bad argument or bad input from a peer */
	DCF_ERR_PROTO,				/* protocol violation by a peer */
	DCF_ERR_AUTH,				/* authentication failed */
	DCF_ERR_AGAIN,				/* would block / try later */
	DCF_ERR_NOTFOUND,			/* no such index, key, node */
	DCF_ERR_FULL,				/* queue or buffer at its bound */
	DCF_ERR_STATE,				/* not allowed in the current state/role */
	DCF_ERR_CLOSED,				/* peer closed / object shut down */
	DCF_ERR_VERSION,			/* unsupported format or protocol version */
	DCF_ERR_TIMEOUT				/* operation did not finish in time */
} dcf_rc;

/* A short constant name for a code ("corrupt", "io", ...). */
extern const char *dcf_rc_name(dcf_rc rc);

/* printf into errmsg (DCF_ERRMSG_MAX bytes); returns rc for `return dcf_errf(...)`. */
extern dcf_rc dcf_errf(char *errmsg, dcf_rc rc, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* Prefix the message already in errmsg with a context: "<context>: <old>". */
extern dcf_rc dcf_errwrap(char *errmsg, dcf_rc rc, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

#endif							/* DCF_ERR_H */
