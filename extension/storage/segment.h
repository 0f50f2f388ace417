/*
 * segment.h — the on-disk format of log segment files, and a buffered
 * reader that validates records one at a time.  Used by the log (log.c)
 * and by the offline dump in dcf_ctl; it knows nothing of the log's
 * in-memory state.
 *
 * A segment file is named "<first index, 20 decimal digits>.seg" and holds:
 *
 *   segment header, DCF_SEG_HEADER_BYTES, little-endian:
 *     0  u32 magic  DCF_SEG_MAGIC
 *     4  u32 format version  DCF_SEG_VERSION
 *     8  u64 first index (must match the file name)
 *    16  u64 reserved, zero
 *    24  u32 reserved, zero
 *    28  u32 CRC-32C of bytes [0, 28)
 *
 *   then records, each starting on a DCF_SEG_ALIGN boundary:
 *     0  u32 magic  DCF_SEG_RECORD_MAGIC
 *     4  u8  kind: DCF_SEG_KIND_ENTRY or DCF_SEG_KIND_MARK
 *     5  u8  entry type (opaque to storage)
 *     6  u16 reserved, zero
 *     8  u64 index
 *    16  u64 term
 *    24  u64 key (non-decreasing along the log; the WAL end LSN)
 *    32  u64 durable: the highest index that was durable when this record
 *            was written (see "torn tail or corruption" in log.c)
 *    40  u32 payload length in bytes (<= DCF_SEG_PAYLOAD_MAX_BYTES)
 *    44  u32 CRC-32C of the payload
 *    48  u32 reserved, zero
 *    52  u32 CRC-32C of bytes [0, 52) of this header
 *    56  payload, then zero padding up to the next DCF_SEG_ALIGN boundary
 *
 *   An all-zero record header marks the end of the data: the rest of the
 *   file is zeros (preallocated space) or absent.
 *
 * A MARK record carries no entry: written by a clean close, its index,
 * term and key repeat the last entry's and its durable field says the whole
 * log was durable, so damage to the last entries is not mistaken for a torn
 * write after a clean shutdown.
 */
#ifndef DCF_STORAGE_SEGMENT_H
#define DCF_STORAGE_SEGMENT_H

#include "core/dcf_err.h"
#include "storage/storage_io.h"

#include <stddef.h>
#include <stdint.h>

#define DCF_SEG_MAGIC				0x53464344u /* "DCFS" little-endian */
#define DCF_SEG_RECORD_MAGIC		0x52464344u /* "DCFR" little-endian */
#define DCF_SEG_VERSION				1
#define DCF_SEG_HEADER_BYTES		32
#define DCF_SEG_RECORD_HEADER_BYTES 56
#define DCF_SEG_ALIGN				8
#define DCF_SEG_PAYLOAD_MAX_BYTES	(1024 * 1024)	/* one entry's payload */
#define DCF_SEG_FRAME_MAX_BYTES \
	(DCF_SEG_RECORD_HEADER_BYTES + DCF_SEG_PAYLOAD_MAX_BYTES)
/* read buffer of the validating reader; holds at least one whole record */
#define DCF_SEG_READ_BUFFER_BYTES	(4 * 1024 * 1024)
#define DCF_SEG_NAME_MAX			32	/* "<20 digits>.seg" and a NUL */

#define DCF_SEG_KIND_ENTRY	1
#define DCF_SEG_KIND_MARK	2

/* A decoded record header. */
typedef struct dcf_seg_rec
{
	uint8_t		kind;
	uint8_t		type;
	uint64_t	index;
	uint64_t	term;
	uint64_t	key;
	uint64_t	durable;
	uint32_t	length;
	uint32_t	payload_crc;
} dcf_seg_rec;

/* Bytes a record with a payload of len bytes occupies, padding included. */
static inline uint64_t
dcf_seg_frame_bytes(uint32_t len)
{
	return DCF_SEG_RECORD_HEADER_BYTES +
		(((uint64_t) len + DCF_SEG_ALIGN - 1) & ~(uint64_t) (DCF_SEG_ALIGN - 1));
}

/*
 * crc[i] = dcf_crc32c(0, data[i], len[i]) for i < n: the payload checksums
 * of a batch.  With SSE4.2 it runs three buffers in lock-step, three
 * independent chains of the crc32 instruction, about three times the speed
 * of one buffer at a time (the instruction's latency, not its throughput,
 * bounds a single chain); otherwise it calls dcf_crc32c for each.
 */
extern void dcf_seg_crc32c_many(const void *const *data, const uint32_t *len, uint32_t *crc,
								size_t n);

/* "<first>.seg" into name (DCF_SEG_NAME_MAX bytes). */
extern void dcf_seg_name(uint64_t first_index, char *name);
/* Parses a segment file name; 1 and *first_index when it is one. */
extern int	dcf_seg_parse_name(const char *name, uint64_t *first_index);

extern void dcf_seg_encode_header(uint64_t first_index, uint8_t *out);
/* 0, or -1 with *why set to a static description of what is wrong. */
extern int	dcf_seg_decode_header(const uint8_t *in, uint64_t *first_index, const char **why);

/* Encodes a record header; payload_crc must already be set in rec. */
extern void dcf_seg_encode_record(const dcf_seg_rec *rec, uint8_t *out);
/*
 * Decodes and checks a record header (magic, checksum, kind, reserved
 * bytes, length bound, durable < index for entries).  0, or -1 with *why
 * set to a static description.  Does not look at the payload.
 */
extern int	dcf_seg_decode_record(const uint8_t *in, dcf_seg_rec *rec, const char **why);

/* A buffered reader over one open segment file. */
typedef struct dcf_seg_reader
{
	const dcf_io *io;
	int			fd;
	uint64_t	size;			/* file size in bytes */
	uint8_t    *buf;			/* cap bytes */
	size_t		cap;			/* DCF_SEG_READ_BUFFER_BYTES, or less for a
								 * file smaller than that */
	uint64_t	start;			/* file offset of buf[0] */
	size_t		len;			/* valid bytes in buf */
} dcf_seg_reader;

extern dcf_rc dcf_seg_reader_open(dcf_seg_reader *r, const dcf_io *io, int fd, char *errmsg);
extern void dcf_seg_reader_close(dcf_seg_reader *r);
/*
 * Makes file bytes [off, off + len) available (len is clamped to the
 * buffer, which is never smaller than the rest of a file or a record):
 * *p points at them and *avail is how many exist (< len only at the end
 * of the file).  The pointer is valid until the next call.
 */
extern dcf_rc dcf_seg_reader_peek(dcf_seg_reader *r, uint64_t off, size_t len,
								  const uint8_t **p, size_t *avail, char *errmsg);

/* What dcf_seg_read_record found at an offset. */
typedef enum dcf_seg_status
{
	DCF_SEG_RECORD,				/* a whole, valid record */
	DCF_SEG_END,				/* end of data: end of file, or zeros to the end */
	DCF_SEG_BAD					/* something else; *why says what */
} dcf_seg_status;

/*
 * Reads and checks the record at off (header and payload checksums).  On
 * DCF_SEG_RECORD, *rec is filled and *payload (if not NULL) points at the
 * payload inside the reader's buffer, valid until the next reader call.
 * On DCF_SEG_BAD, *why is a static description ("payload checksum
 * mismatch", ...).  Returns an error code only for I/O errors.
 */
extern dcf_rc dcf_seg_read_record(dcf_seg_reader *r, uint64_t off, dcf_seg_status *status,
								  dcf_seg_rec *rec, const uint8_t **payload,
								  const char **why, char *errmsg);

/*
 * Scans [from, end of file) at every DCF_SEG_ALIGN boundary for record
 * headers that pass their checksum and raises *max_durable to the largest
 * durable field found (payloads are not checked: an intact header proves
 * what was durable when it was written).  *max_term (may be NULL) is
 * raised likewise to the largest term among them.  *found counts those
 * headers.
 */
extern dcf_rc dcf_seg_scan_durable(dcf_seg_reader *r, uint64_t from, uint64_t *max_durable,
								   uint64_t *max_term, uint64_t *found, char *errmsg);

#endif							/* DCF_STORAGE_SEGMENT_H */
