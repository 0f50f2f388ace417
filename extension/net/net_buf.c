/*
 * net_buf.c — bounded byte queue; see net_buf.h.
 *
 * Invariants: head <= tail <= cap; tail - head <= max; data == NULL iff
 * cap == 0.  An empty buffer always has head == tail == 0, so a drained
 * queue never pays for a move.
 */
#include "net/net_buf.h"

#include <stdlib.h>
#include <string.h>

#include "core/dcf_assert.h"

/* Smallest allocation, so tiny handshake buffers do not realloc per byte. */
#define NETBUF_MIN_CAP_BYTES 4096

void
dcf_netbuf_init(dcf_netbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
dcf_netbuf_free(dcf_netbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->head = b->tail = b->cap = 0;
}

dcf_rc
dcf_netbuf_reserve(dcf_netbuf *b, size_t n)
{
	size_t		len = b->tail - b->head;
	size_t		want;
	size_t		newcap;
	uint8_t    *p;

	if (b->cap - b->tail >= n)
		return DCF_OK;
	if (n > b->max || len > b->max - n)
		return DCF_ERR_FULL;
	want = len + n;

	/*
	 * Moving the live bytes down is cheaper than growing when the dead space
	 * in front is at least as large as what we move (amortised O(1) per
	 * byte) and it makes enough room.
	 */
	if (b->head > 0 && b->head >= len && b->cap >= want)
	{
		memmove(b->data, b->data + b->head, len);
		b->head = 0;
		b->tail = len;
		return DCF_OK;
	}

	newcap = b->cap < NETBUF_MIN_CAP_BYTES ? NETBUF_MIN_CAP_BYTES : b->cap;
	while (newcap < want)
		newcap = newcap > SIZE_MAX / 2 ? SIZE_MAX : newcap * 2;
	if (newcap > b->max)
		newcap = b->max;
	if (newcap < want)
		newcap = want;			/* only when max < NETBUF_MIN_CAP_BYTES */

	if (newcap <= b->cap)
	{
		/* cap is at its bound: compact instead */
		memmove(b->data, b->data + b->head, len);
		b->head = 0;
		b->tail = len;
		DCF_ASSERT(b->cap - b->tail >= n);
		return DCF_OK;
	}
	if (b->head > 0)
	{
		/* compact first so realloc copies only live bytes' prefix */
		memmove(b->data, b->data + b->head, len);
		b->head = 0;
		b->tail = len;
	}
	p = realloc(b->data, newcap);
	if (p == NULL)
		return DCF_ERR_NOMEM;
	b->data = p;
	b->cap = newcap;
	DCF_ASSERT(b->cap - b->tail >= n);
	return DCF_OK;
}

dcf_rc
dcf_netbuf_append(dcf_netbuf *b, const void *p, size_t n)
{
	dcf_rc		rc = dcf_netbuf_reserve(b, n);

	if (rc != DCF_OK)
		return rc;
	if (n > 0)
		memcpy(b->data + b->tail, p, n);
	b->tail += n;
	return DCF_OK;
}

void
dcf_netbuf_consume(dcf_netbuf *b, size_t n)
{
	DCF_ASSERT(n <= b->tail - b->head);
	b->head += n;
	if (b->head == b->tail)
		b->head = b->tail = 0;
}

void
dcf_netbuf_clear(dcf_netbuf *b)
{
	b->head = b->tail = 0;
}

void
dcf_netbuf_trim(dcf_netbuf *b, size_t keep)
{
	if (b->head == b->tail && b->cap > keep)
		dcf_netbuf_free(b);
}
