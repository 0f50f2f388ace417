/*
 * segment.c — encoding and validating segment files; see segment.h for the
 * format.
 *
 * Invariants kept here:
 *   - nothing read from a file is trusted before its checksum matched: a
 *     length is bounded by DCF_SEG_PAYLOAD_MAX_BYTES before it is used to
 *     size or locate anything, so a damaged file can neither make us
 *     allocate without bound nor loop (every step moves forward by at least
 *     DCF_SEG_ALIGN bytes);
 *   - all integers are little-endian on disk, whatever the host.
 */
#include "storage/segment.h"

#include "core/crc32c.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dcf_bytes.h"


#if defined(__x86_64__)

/* Three buffers, len bytes each from their starts, in lock-step. */
__attribute__((target("sse4.2")))
static void
crc32c_three(const uint8_t *a, const uint8_t *b, const uint8_t *c, size_t len, uint32_t *out)
{
	uint64_t	x = 0xffffffffu;
	uint64_t	y = 0xffffffffu;
	uint64_t	z = 0xffffffffu;

	for (size_t i = 0; i + 8 <= len; i += 8)
	{
		uint64_t	va;
		uint64_t	vb;
		uint64_t	vc;

		memcpy(&va, a + i, 8);
		memcpy(&vb, b + i, 8);
		memcpy(&vc, c + i, 8);
		x = __builtin_ia32_crc32di(x, va);
		y = __builtin_ia32_crc32di(y, vb);
		z = __builtin_ia32_crc32di(z, vc);
	}
	out[0] = ~(uint32_t) x;
	out[1] = ~(uint32_t) y;
	out[2] = ~(uint32_t) z;
}

#endif

void
dcf_seg_crc32c_many(const void *const *data, const uint32_t *len, uint32_t *crc, size_t n)
{
	size_t		i = 0;

#if defined(__x86_64__)
	if (dcf_crc32c_hw_available())
	{
		for (; i + 3 <= n; i += 3)
		{
			uint32_t	common = len[i];
			size_t		done;

			if (len[i + 1] < common)
				common = len[i + 1];
			if (len[i + 2] < common)
				common = len[i + 2];
			done = common & ~(size_t) 7;
			crc32c_three(data[i], data[i + 1], data[i + 2], done, crc + i);
			/* the rest of each buffer continues its own chain */
			for (size_t k = i; k < i + 3; k++)
				if (len[k] > done)
					crc[k] = dcf_crc32c(crc[k], (const uint8_t *) data[k] + done, len[k] - done);
		}
	}
#endif
	for (; i < n; i++)
		crc[i] = dcf_crc32c(0, data[i], len[i]);
}

void
dcf_seg_name(uint64_t first_index, char *name)
{
	snprintf(name, DCF_SEG_NAME_MAX, "%020" PRIu64 ".seg", first_index);
}

int
dcf_seg_parse_name(const char *name, uint64_t *first_index)
{
	uint64_t	v = 0;

	if (strlen(name) != 24 || strcmp(name + 20, ".seg") != 0)
		return 0;
	for (int i = 0; i < 20; i++)
	{
		if (name[i] < '0' || name[i] > '9')
			return 0;
		if (v > (UINT64_MAX - (uint64_t) (name[i] - '0')) / 10)
			return 0;
		v = v * 10 + (uint64_t) (name[i] - '0');
	}
	*first_index = v;
	return 1;
}

void
dcf_seg_encode_header(uint64_t first_index, uint8_t *out)
{
	memset(out, 0, DCF_SEG_HEADER_BYTES);
	dcf_le_put32(out, DCF_SEG_MAGIC);
	dcf_le_put32(out + 4, DCF_SEG_VERSION);
	dcf_le_put64(out + 8, first_index);
	dcf_le_put32(out + 28, dcf_crc32c(0, out, 28));
}

int
dcf_seg_decode_header(const uint8_t *in, uint64_t *first_index, const char **why)
{
	if (dcf_le_get32(in) != DCF_SEG_MAGIC)
	{
		*why = "bad segment header magic";
		return -1;
	}
	if (dcf_le_get32(in + 28) != dcf_crc32c(0, in, 28))
	{
		*why = "segment header checksum mismatch";
		return -1;
	}
	if (dcf_le_get32(in + 4) != DCF_SEG_VERSION)
	{
		*why = "unsupported segment format version";
		return -1;
	}
	if (dcf_le_get64(in + 16) != 0 || dcf_le_get32(in + 24) != 0)
	{
		*why = "segment header reserved bytes not zero";
		return -1;
	}
	*first_index = dcf_le_get64(in + 8);
	return 0;
}

void
dcf_seg_encode_record(const dcf_seg_rec *rec, uint8_t *out)
{
	dcf_le_put32(out, DCF_SEG_RECORD_MAGIC);
	out[4] = rec->kind;
	out[5] = rec->type;
	out[6] = 0;
	out[7] = 0;
	dcf_le_put64(out + 8, rec->index);
	dcf_le_put64(out + 16, rec->term);
	dcf_le_put64(out + 24, rec->key);
	dcf_le_put64(out + 32, rec->durable);
	dcf_le_put32(out + 40, rec->length);
	dcf_le_put32(out + 44, rec->payload_crc);
	dcf_le_put32(out + 48, 0);
	dcf_le_put32(out + 52, dcf_crc32c(0, out, 52));
}

int
dcf_seg_decode_record(const uint8_t *in, dcf_seg_rec *rec, const char **why)
{
	if (dcf_le_get32(in) != DCF_SEG_RECORD_MAGIC)
	{
		*why = "bad record magic";
		return -1;
	}
	if (dcf_le_get32(in + 52) != dcf_crc32c(0, in, 52))
	{
		*why = "record header checksum mismatch";
		return -1;
	}
	rec->kind = in[4];
	rec->type = in[5];
	rec->index = dcf_le_get64(in + 8);
	rec->term = dcf_le_get64(in + 16);
	rec->key = dcf_le_get64(in + 24);
	rec->durable = dcf_le_get64(in + 32);
	rec->length = dcf_le_get32(in + 40);
	rec->payload_crc = dcf_le_get32(in + 44);
	if (in[6] != 0 || in[7] != 0 || dcf_le_get32(in + 48) != 0)
	{
		*why = "record header reserved bytes not zero";
		return -1;
	}
	if (rec->kind != DCF_SEG_KIND_ENTRY && rec->kind != DCF_SEG_KIND_MARK)
	{
		*why = "unknown record kind";
		return -1;
	}
	if (rec->length > DCF_SEG_PAYLOAD_MAX_BYTES)
	{
		*why = "record length over the maximum";
		return -1;
	}
	if (rec->kind == DCF_SEG_KIND_MARK && rec->length != 0)
	{
		*why = "mark record with a payload";
		return -1;
	}
	if (rec->kind == DCF_SEG_KIND_ENTRY ? rec->durable >= rec->index : rec->durable > rec->index)
	{
		*why = "record claims a durable index beyond itself";
		return -1;
	}
	return 0;
}

dcf_rc
dcf_seg_reader_open(dcf_seg_reader *r, const dcf_io *io, int fd, char *errmsg)
{
	int			rc;

	memset(r, 0, sizeof(*r));
	r->io = io;
	r->fd = fd;
	if ((rc = io->fsize(io->ctx, fd, &r->size)) < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not stat segment: %s", strerror(-rc));
	/* a small file needs no more than its size: nothing in it can be larger */
	r->cap = DCF_SEG_READ_BUFFER_BYTES;
	if (r->size < r->cap)
		r->cap = r->size < 4096 ? 4096 : (size_t) r->size;
	r->buf = malloc(r->cap);
	if (r->buf == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory for a %zu-byte read buffer", r->cap);
	return DCF_OK;
}

void
dcf_seg_reader_close(dcf_seg_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

dcf_rc
dcf_seg_reader_peek(dcf_seg_reader *r, uint64_t off, size_t len,
					const uint8_t **p, size_t *avail, char *errmsg)
{
	uint64_t	want_end;
	ssize_t		n;

	if (len > r->cap)
		len = r->cap;
	if (off >= r->size)
	{
		*p = r->buf;
		*avail = 0;
		return DCF_OK;
	}
	want_end = off + len < r->size ? off + len : r->size;
	if (off < r->start || want_end > r->start + r->len)
	{
		/* refill from off, as much as fits: reads are mostly sequential */
		n = r->io->pread(r->io->ctx, r->fd, r->buf, r->cap, off);
		if (n < 0)
			return dcf_errf(errmsg, DCF_ERR_IO, "could not read at offset %" PRIu64 ": %s",
							off, strerror((int) -n));
		r->start = off;
		r->len = (size_t) n;
		/* the file may have shrunk under a reader that is not the owner */
		if (r->start + r->len < want_end)
			want_end = r->start + r->len;
	}
	*p = r->buf + (off - r->start);
	*avail = (size_t) (want_end - off);
	return DCF_OK;
}

static int
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

dcf_rc
dcf_seg_read_record(dcf_seg_reader *r, uint64_t off, dcf_seg_status *status,
					dcf_seg_rec *rec, const uint8_t **payload,
					const char **why, char *errmsg)
{
	const uint8_t *p;
	size_t		avail;
	dcf_rc		rc;

	if ((rc = dcf_seg_reader_peek(r, off, DCF_SEG_RECORD_HEADER_BYTES, &p, &avail, errmsg)) != DCF_OK)
		return rc;
	if (avail == 0)
	{
		*status = DCF_SEG_END;
		return DCF_OK;
	}
	if (all_zero(p, avail))
	{
		/* the end of the data only if zeros run to the end of the file */
		uint64_t	pos = off + avail;

		while (pos < r->size)
		{
			if ((rc = dcf_seg_reader_peek(r, pos, DCF_SEG_READ_BUFFER_BYTES, &p, &avail, errmsg)) != DCF_OK)
				return rc;
			if (avail == 0)
				break;
			if (!all_zero(p, avail))
			{
				*status = DCF_SEG_BAD;
				*why = "zero bytes where a record should start, followed by more data";
				return DCF_OK;
			}
			pos += avail;
		}
		*status = DCF_SEG_END;
		return DCF_OK;
	}
	if (avail < DCF_SEG_RECORD_HEADER_BYTES)
	{
		*status = DCF_SEG_BAD;
		*why = "file ends inside a record header";
		return DCF_OK;
	}
	if (dcf_seg_decode_record(p, rec, why) != 0)
	{
		*status = DCF_SEG_BAD;
		return DCF_OK;
	}
	if ((rc = dcf_seg_reader_peek(r, off, (size_t) dcf_seg_frame_bytes(rec->length), &p, &avail, errmsg)) != DCF_OK)
		return rc;
	if (avail < DCF_SEG_RECORD_HEADER_BYTES + (size_t) rec->length)
	{
		*status = DCF_SEG_BAD;
		*why = "file ends inside a record payload";
		return DCF_OK;
	}
	if (avail < dcf_seg_frame_bytes(rec->length))
	{
		/* written in the same pwritev as the record: a cut here is a tear */
		*status = DCF_SEG_BAD;
		*why = "file ends inside a record's padding";
		return DCF_OK;
	}
	if (dcf_crc32c(0, p + DCF_SEG_RECORD_HEADER_BYTES, rec->length) != rec->payload_crc)
	{
		*status = DCF_SEG_BAD;
		*why = "payload checksum mismatch";
		return DCF_OK;
	}
	if (!all_zero(p + DCF_SEG_RECORD_HEADER_BYTES + rec->length,
				  avail - DCF_SEG_RECORD_HEADER_BYTES - rec->length))
	{
		*status = DCF_SEG_BAD;
		*why = "record padding not zero";
		return DCF_OK;
	}
	if (payload)
		*payload = p + DCF_SEG_RECORD_HEADER_BYTES;
	*status = DCF_SEG_RECORD;
	return DCF_OK;
}

dcf_rc
dcf_seg_scan_durable(dcf_seg_reader *r, uint64_t from, uint64_t *max_durable,
					 uint64_t *max_term, uint64_t *found, char *errmsg)
{
	uint64_t	pos = (from + DCF_SEG_ALIGN - 1) & ~(uint64_t) (DCF_SEG_ALIGN - 1);
	dcf_rc		rc;

	while (pos + DCF_SEG_RECORD_HEADER_BYTES <= r->size)
	{
		const uint8_t *p;
		size_t		avail;
		size_t		i;

		if ((rc = dcf_seg_reader_peek(r, pos, DCF_SEG_READ_BUFFER_BYTES, &p, &avail, errmsg)) != DCF_OK)
			return rc;
		if (avail < DCF_SEG_RECORD_HEADER_BYTES)
			break;
		for (i = 0; i + DCF_SEG_RECORD_HEADER_BYTES <= avail; i += DCF_SEG_ALIGN)
		{
			dcf_seg_rec rec;
			const char *why;

			if (dcf_le_get32(p + i) != DCF_SEG_RECORD_MAGIC)
				continue;
			if (dcf_seg_decode_record(p + i, &rec, &why) != 0)
				continue;
			(*found)++;
			if (rec.durable > *max_durable)
				*max_durable = rec.durable;
			if (max_term && rec.term > *max_term)
				*max_term = rec.term;
		}
		pos += i;
	}
	return DCF_OK;
}
