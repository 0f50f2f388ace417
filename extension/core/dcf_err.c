/*
 * dcf_err.c — error message buffers and the production assertion hook.
 * See dcf_err.h and dcf_assert.h.  No I/O except the default panic hook,
 * which is only reached when an invariant is already broken.
 */
#include "core/dcf_err.h"
#include "core/dcf_assert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
dcf_rc_name(dcf_rc rc)
{
	switch (rc)
	{
		case DCF_OK:
			return "ok";
		case DCF_ERR_NOMEM:
			return "out of memory";
		case DCF_ERR_IO:
			return "i/o error";
		case DCF_ERR_CORRUPT:
			return "corrupt";
		case DCF_ERR_INVALID:
			return "invalid";
		case DCF_ERR_PROTO:
			return "protocol violation";
		case DCF_ERR_AUTH:
			return "authentication failed";
		case DCF_ERR_AGAIN:
			return "try again";
		case DCF_ERR_NOTFOUND:
			return "not found";
		case DCF_ERR_FULL:
			return "full";
		case DCF_ERR_STATE:
			return "wrong state";
		case DCF_ERR_CLOSED:
			return "closed";
		case DCF_ERR_VERSION:
			return "unsupported version";
		case DCF_ERR_TIMEOUT:
			return "timed out";
	}
	return "unknown error";
}

dcf_rc
dcf_errf(char *errmsg, dcf_rc rc, const char *fmt,...)
{
	va_list		ap;

	if (errmsg == NULL)
		return rc;
	va_start(ap, fmt);
	vsnprintf(errmsg, DCF_ERRMSG_MAX, fmt, ap);
	va_end(ap);
	return rc;
}

dcf_rc
dcf_errwrap(char *errmsg, dcf_rc rc, const char *fmt,...)
{
	char		prefix[DCF_ERRMSG_MAX];
	char		old[DCF_ERRMSG_MAX];
	va_list		ap;

	if (errmsg == NULL)
		return rc;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, errmsg, DCF_ERRMSG_MAX);
	old[DCF_ERRMSG_MAX - 1] = '\0';
	snprintf(errmsg, DCF_ERRMSG_MAX, "%s: %s", prefix, old);
	return rc;
}

static void
default_panic_hook(const char *file, int line, const char *msg)
{
	fprintf(stderr, "dcf PANIC at %s:%d: %s\n", file, line, msg);
	fflush(stderr);
	abort();
}

static dcf_panic_hook_fn panic_hook = default_panic_hook;

void
dcf_set_panic_hook(dcf_panic_hook_fn hook)
{
	panic_hook = hook ? hook : default_panic_hook;
}

void
dcf_panic(const char *file, int line, const char *msg)
{
	panic_hook(file, line, msg);
	/* a hook must not return; make sure we never continue */
	abort();
}
