/*
 * net_buf.h — a bounded byte queue used for send queues, receive buffers and
 * handshake output in extension/net.
 *
 * Bytes live in data[head, tail).  The buffer never holds more than `max`
 * bytes: dcf_netbuf_reserve() refuses with DCF_ERR_FULL rather than grow past
 * the bound, which is how the transport turns "peer is slow" into
 * back-pressure instead of unbounded memory.  Capacity grows geometrically up
 * to `max` and space before `head` is reclaimed by moving the live bytes down
 * (only when that is cheaper than growing, so appends stay amortised O(1)).
 */
#ifndef DCF_NET_BUF_H
#define DCF_NET_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/dcf_err.h"

typedef struct dcf_netbuf
{
	uint8_t    *data;
	size_t		head;			/* first live byte */
	size_t		tail;			/* one past the last live byte */
	size_t		cap;			/* bytes allocated at data */
	size_t		max;			/* bound on live bytes (tail - head) */
} dcf_netbuf;

extern void dcf_netbuf_init(dcf_netbuf *b, size_t max);
extern void dcf_netbuf_free(dcf_netbuf *b);

static inline size_t
dcf_netbuf_len(const dcf_netbuf *b)
{
	return b->tail - b->head;
}

static inline uint8_t *
dcf_netbuf_head(const dcf_netbuf *b)
{
	return b->data + b->head;
}

static inline uint8_t *
dcf_netbuf_tailp(const dcf_netbuf *b)
{
	return b->data + b->tail;
}

/* Contiguous free bytes after tail (without moving or growing). */
static inline size_t
dcf_netbuf_room(const dcf_netbuf *b)
{
	return b->cap - b->tail;
}

/*
 * Make at least n contiguous bytes available after tail.  DCF_ERR_FULL when
 * len + n would exceed max, DCF_ERR_NOMEM when allocation fails; the buffer
 * is unchanged on failure.
 */
extern dcf_rc dcf_netbuf_reserve(dcf_netbuf *b, size_t n);

/* Append n bytes (reserve + copy). */
extern dcf_rc dcf_netbuf_append(dcf_netbuf *b, const void *p, size_t n);

static inline void
dcf_netbuf_produce(dcf_netbuf *b, size_t n)
{
	b->tail += n;
}

extern void dcf_netbuf_consume(dcf_netbuf *b, size_t n);
extern void dcf_netbuf_clear(dcf_netbuf *b);

/* Give memory back when empty and holding more than keep bytes. */
extern void dcf_netbuf_trim(dcf_netbuf *b, size_t keep);

#endif							/* DCF_NET_BUF_H */
