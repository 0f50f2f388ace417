/*
 * walreader.c — committed WAL bytes of a timeline out of the consensus log.
 * See walreader.h.
 */
#include "pg/walreader.h"

#include <string.h>

#include "pg/dcf_walentry.h"

void
dcf_walreader_init(dcf_walreader *r, dcf_log *log, uint8_t *buf)
{
	r->log = log;
	r->buf = buf;
	r->cursor = 0;
	r->cached_index = 0;
	r->log_reads = 0;
}

void
dcf_walreader_reset(dcf_walreader *r)
{
	r->cursor = 0;
	r->cached_index = 0;
}

dcf_rc
dcf_walreader_entry(dcf_walreader *r, uint64_t index, dcf_log_entry *e, char *errmsg)
{
	size_t		n = 0;
	dcf_rc		rc;

	r->cached_index = 0;
	r->log_reads++;
	rc = dcf_log_read(r->log, index, index + 1, DCF_WALREADER_BUF_BYTES,
					  r->buf, DCF_WALREADER_BUF_BYTES, e, 1, &n, errmsg);
	if (rc == DCF_OK && n != 1)
		rc = dcf_errf(errmsg, DCF_ERR_NOTFOUND, "log index %llu not readable", (unsigned long long) index);
	return rc;
}

dcf_rc
dcf_walreader_read(dcf_walreader *r, uint64_t last_index, uint32_t tli, uint64_t lsn,
				   char *out, size_t n, size_t *got, char *errmsg)
{
	uint64_t	first = dcf_log_first_index(r->log);
	uint64_t	idx;
	int			searched = 0;

	*got = 0;
	idx = r->cursor;
	if (idx == 0 || idx < first)
	{
search:
		if (dcf_log_find_key(r->log, lsn + 1, &idx) != DCF_OK)
		{
			r->cursor = 0;
			return DCF_OK;
		}
		searched = 1;
	}
	for (; idx <= last_index && idx >= first; idx++)
	{
		dcf_log_entry e;
		dcf_wal_chunk c;
		dcf_rc		rc;

		if (idx == r->cached_index)
			e = r->cached;
		else
		{
			rc = dcf_walreader_entry(r, idx, &e, errmsg);
			if (rc != DCF_OK)
				return rc;
			/* idx <= last_index: committed, it never changes */
			r->cached = e;
			r->cached_index = idx;
		}
		if (e.type != DCF_ENTRY_WAL)
			continue;
		rc = dcf_wal_chunk_decode(e.data, e.len, &c, errmsg);
		if (rc != DCF_OK)
			return rc;
		if (c.tli < tli)
			continue;			/* an older timeline, past our switch point */
		if (c.tli > tli)
			break;
		if (c.start > lsn)
		{
			/* the cursor was past lsn: search from the key once */
			if (!searched)
				goto search;
			break;
		}
		if (lsn < c.start + c.len)
		{
			size_t		off = (size_t) (lsn - c.start);
			size_t		take = n < (size_t) c.len - off ? n : (size_t) c.len - off;

			memcpy(out, c.data + off, take);
			*got = take;
			r->cursor = (off + take == c.len) ? idx + 1 : idx;
			return DCF_OK;
		}
	}
	r->cursor = 0;
	return DCF_OK;
}
