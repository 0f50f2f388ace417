/*
 * net_queue.h — a bounded send queue of frames, kept as a chain of
 * fixed-size blocks.
 *
 * Appends copy into the last block and start new blocks as needed; writes
 * take the queued bytes as an iovec list (one entry per block) and consume
 * what the socket took.  So queuing and writing never move queued bytes and
 * never reallocate a large buffer, whatever the bound: a bulk queue of tens
 * of MiB that is kept full by a fast sender costs one copy per byte, the one
 * into the queue.
 *
 * Bound: an append is refused with DCF_ERR_FULL (changing nothing) when it
 * would take len past max, except that an empty queue takes one append of
 * any size, so a single frame larger than the bound can still be sent.  So
 * len <= max(max, the largest single append).  Memory: the blocks holding
 * len bytes plus one partly used block, plus recycled empty blocks up to
 * the bound (at most DCF_NETQ_SPARE_BLOCKS_MAX), so a busy queue neither
 * mallocs nor faults in fresh pages per block.
 *
 * Why a small bound: the queue only has to bridge one turn of the event
 * loop on top of the kernel's socket buffer, and a queue that stays small
 * stays in the CPU cache, where copying into it and out of it is cheap; a
 * deep queue turns both copies into DRAM traffic.
 */
#ifndef DCF_NET_QUEUE_H
#define DCF_NET_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/dcf_err.h"

#define DCF_NETQ_BLOCK_BYTES	(256u * 1024)
#define DCF_NETQ_SPARE_BLOCKS_MAX 16

typedef struct dcf_netq_block dcf_netq_block;

typedef struct dcf_netq
{
	dcf_netq_block *first;		/* oldest block: head of the queue */
	dcf_netq_block *last;		/* newest block: appends go here */
	dcf_netq_block *spare;		/* recycled empty blocks */
	int			nspare;
	size_t		len;			/* queued bytes */
	size_t		max;			/* bound on len */
} dcf_netq;

extern void dcf_netq_init(dcf_netq *q, size_t max);
extern void dcf_netq_free(dcf_netq *q);

static inline size_t
dcf_netq_len(const dcf_netq *q)
{
	return q->len;
}

/*
 * Append the n1 + n2 bytes p1 then p2 as one unit (a frame header and its
 * payload): all or nothing.  DCF_ERR_FULL past the bound, DCF_ERR_NOMEM if a
 * block cannot be allocated.
 */
extern dcf_rc dcf_netq_append2(dcf_netq *q, const void *p1, size_t n1,
							   const void *p2, size_t n2);

/*
 * Append one frame: the 20-byte header (its crc field is filled in here)
 * and the payload, computing the frame's CRC-32C while copying the payload,
 * so the payload is read once.  All or nothing, like dcf_netq_append2.
 */
extern dcf_rc dcf_netq_append_frame(dcf_netq *q, uint8_t *hdr,
									const void *payload, size_t len);

/* Copy n queued bytes starting at offset off into out (off + n <= len). */
extern void dcf_netq_peek(const dcf_netq *q, size_t off, void *out, size_t n);

/* Describe up to max_bytes of queued bytes from the head; returns entries used. */
extern int	dcf_netq_iov(const dcf_netq *q, struct iovec *iov, int max_iov,
						 size_t max_bytes);

/* Drop n bytes from the head. */
extern void dcf_netq_consume(dcf_netq *q, size_t n);

/* Drop everything (blocks are kept as spares up to the limit). */
extern void dcf_netq_clear(dcf_netq *q);

#endif							/* DCF_NET_QUEUE_H */
