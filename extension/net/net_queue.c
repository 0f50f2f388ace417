/*
 * net_queue.c — bounded block-chain send queue; see net_queue.h.
 *
 * Invariants: blocks first..last hold the queued bytes in order, each in
 * data[head, tail); only `first` may have head > 0 and only `last` may have
 * free room; no block in the chain is empty (consume unlinks a block the
 * moment it drains, append links only blocks it puts bytes in); len is the
 * sum of (tail - head) over the chain.
 */
#include "net/net_queue.h"

#include <stdlib.h>
#include <string.h>

#include "core/dcf_assert.h"
#include "net/net_crc.h"
#include "net/net_frame.h"

struct dcf_netq_block
{
	dcf_netq_block *next;
	size_t		head;
	size_t		tail;
	uint8_t		data[DCF_NETQ_BLOCK_BYTES];
};

void
dcf_netq_init(dcf_netq *q, size_t max)
{
	memset(q, 0, sizeof(*q));
	q->max = max;
}

static void
free_chain(dcf_netq_block *b)
{
	while (b)
	{
		dcf_netq_block *next = b->next;

		free(b);
		b = next;
	}
}

void
dcf_netq_free(dcf_netq *q)
{
	free_chain(q->first);
	free_chain(q->spare);
	q->first = q->last = q->spare = NULL;
	q->nspare = 0;
	q->len = 0;
}

static dcf_netq_block *
block_get(dcf_netq *q)
{
	dcf_netq_block *b = q->spare;

	if (b)
	{
		q->spare = b->next;
		q->nspare--;
	}
	else if ((b = malloc(sizeof(*b))) == NULL)
		return NULL;
	b->next = NULL;
	b->head = b->tail = 0;
	return b;
}

static void
block_put(dcf_netq *q, dcf_netq_block *b)
{
	size_t		keep = q->max / DCF_NETQ_BLOCK_BYTES + 1;

	if (keep > DCF_NETQ_SPARE_BLOCKS_MAX)
		keep = DCF_NETQ_SPARE_BLOCKS_MAX;
	if ((size_t) q->nspare < keep)
	{
		b->next = q->spare;
		q->spare = b;
		q->nspare++;
	}
	else
		free(b);
}

/* Free room in the last block (0 when there is none). */
static size_t
last_room(const dcf_netq *q)
{
	return q->last ? DCF_NETQ_BLOCK_BYTES - q->last->tail : 0;
}

/*
 * Link enough blocks for n more bytes after the last one; nothing changes on
 * failure.  Returns the block and offset where the n bytes will start.
 */
static dcf_rc
reserve(dcf_netq *q, size_t n, dcf_netq_block **at, size_t *at_off)
{
	size_t		room = last_room(q);
	dcf_netq_block *chain = NULL,
			   *tail = NULL;

	if (q->len > 0 && (n > q->max || q->len > q->max - n))
		return DCF_ERR_FULL;
	while (room < n)
	{
		dcf_netq_block *b = block_get(q);

		if (b == NULL)
		{
			while (chain)
			{
				dcf_netq_block *next = chain->next;

				block_put(q, chain);
				chain = next;
			}
			return DCF_ERR_NOMEM;
		}
		if (tail)
			tail->next = b;
		else
			chain = b;
		tail = b;
		room += DCF_NETQ_BLOCK_BYTES;
	}
	if (q->last && q->last->tail < DCF_NETQ_BLOCK_BYTES)
	{
		*at = q->last;
		*at_off = q->last->tail;
	}
	else
	{
		*at = chain;
		*at_off = 0;
	}
	if (chain)
	{
		if (q->last)
			q->last->next = chain;
		else
			q->first = chain;
		q->last = tail;
	}
	return DCF_OK;
}

/*
 * Copy n bytes to the reserved space starting at *b; advances *b.  With crc
 * non-NULL, the CRC-32C of the bytes is accumulated on the way.
 */
static void
copy_in(dcf_netq_block **b, const uint8_t *s, size_t n, uint32_t *crc)
{
	while (n > 0)
	{
		size_t		take;

		if ((*b)->tail == DCF_NETQ_BLOCK_BYTES)
			*b = (*b)->next;
		take = DCF_NETQ_BLOCK_BYTES - (*b)->tail;
		if (take > n)
			take = n;
		if (crc)
			*crc = dcf_net_crc32c_copy(*crc, (*b)->data + (*b)->tail, s, take);
		else
			memcpy((*b)->data + (*b)->tail, s, take);
		(*b)->tail += take;
		s += take;
		n -= take;
	}
}

dcf_rc
dcf_netq_append2(dcf_netq *q, const void *p1, size_t n1, const void *p2,
				 size_t n2)
{
	dcf_netq_block *b;
	size_t		off;
	dcf_rc		rc = reserve(q, n1 + n2, &b, &off);

	if (rc != DCF_OK)
		return rc;
	copy_in(&b, p1, n1, NULL);
	copy_in(&b, p2, n2, NULL);
	q->len += n1 + n2;
	return DCF_OK;
}

dcf_rc
dcf_netq_append_frame(dcf_netq *q, uint8_t *hdr, const void *payload, size_t len)
{
	dcf_netq_block *b;
	dcf_netq_block *hb;
	size_t		off;
	uint32_t	crc;
	uint8_t		crcb[4];
	dcf_rc		rc = reserve(q, DCF_FRAME_HDR_BYTES + len, &b, &off);

	if (rc != DCF_OK)
		return rc;
	hb = b;
	crc = dcf_net_crc32c(0, hdr, 16);
	copy_in(&b, hdr, DCF_FRAME_HDR_BYTES, NULL);
	copy_in(&b, payload, len, &crc);
	dcf_put_u32(hdr + 16, crc);
	dcf_put_u32(crcb, crc);
	/* patch the crc field, which may straddle two blocks */
	off += 16;
	for (int i = 0; i < 4; i++, off++)
	{
		if (off >= DCF_NETQ_BLOCK_BYTES)
		{
			hb = hb->next;
			off -= DCF_NETQ_BLOCK_BYTES;
		}
		hb->data[off] = crcb[i];
	}
	q->len += DCF_FRAME_HDR_BYTES + len;
	return DCF_OK;
}

void
dcf_netq_peek(const dcf_netq *q, size_t off, void *out, size_t n)
{
	const dcf_netq_block *b = q->first;
	uint8_t    *o = out;

	DCF_ASSERT(off + n <= q->len);
	while (b && off >= b->tail - b->head)
	{
		off -= b->tail - b->head;
		b = b->next;
	}
	while (n > 0)
	{
		size_t		take = b->tail - b->head - off;

		if (take > n)
			take = n;
		memcpy(o, b->data + b->head + off, take);
		o += take;
		n -= take;
		off = 0;
		b = b->next;
	}
}

int
dcf_netq_iov(const dcf_netq *q, struct iovec *iov, int max_iov, size_t max_bytes)
{
	int			k = 0;

	for (const dcf_netq_block *b = q->first; b && k < max_iov && max_bytes > 0; b = b->next)
	{
		size_t		n = b->tail - b->head;

		if (n == 0)
			continue;
		if (n > max_bytes)
			n = max_bytes;
		iov[k].iov_base = (void *) (b->data + b->head);
		iov[k].iov_len = n;
		max_bytes -= n;
		k++;
	}
	return k;
}

void
dcf_netq_consume(dcf_netq *q, size_t n)
{
	DCF_ASSERT(n <= q->len);
	q->len -= n;
	while (n > 0)
	{
		dcf_netq_block *b = q->first;
		size_t		take = b->tail - b->head;

		if (take > n)
			take = n;
		b->head += take;
		n -= take;
		if (b->head == b->tail)
		{
			q->first = b->next;
			if (q->first == NULL)
				q->last = NULL;
			block_put(q, b);
		}
	}
}

void
dcf_netq_clear(dcf_netq *q)
{
	while (q->first)
	{
		dcf_netq_block *b = q->first;

		q->first = b->next;
		block_put(q, b);
	}
	q->last = NULL;
	q->len = 0;
}
