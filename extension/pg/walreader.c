/*
 * walreader.c — committed WAL bytes of a timeline out of the consensus log.
 * See walreader.h.
 */
#include "pg/walreader.h"

#include <stdlib.h>
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
	r->recent = NULL;
	r->slots = NULL;
	r->recent_first = r->recent_last = 0;
	r->recent_head = 0;
	r->recent_wpos = 0;
	r->recent_hits = 0;
}

void
dcf_walreader_free(dcf_walreader *r)
{
	free(r->recent);
	free(r->slots);
	r->recent = NULL;
	r->slots = NULL;
	r->recent_first = r->recent_last = 0;
}

static dcf_walreader_slot *
recent_slot(dcf_walreader *r, uint64_t index)
{
	return &r->slots[(r->recent_head + (index - r->recent_first)) % DCF_WALREADER_RECENT_SLOTS];
}

static void
recent_drop_oldest(dcf_walreader *r)
{
	if (r->recent_first == r->recent_last)
	{
		r->recent_first = r->recent_last = 0;
		return;
	}
	r->recent_first++;
	r->recent_head = (r->recent_head + 1) % DCF_WALREADER_RECENT_SLOTS;
}

void
dcf_walreader_remember(dcf_walreader *r, uint64_t index, uint64_t term, uint64_t key,
					   uint8_t type, const void *data, uint32_t len)
{
	dcf_walreader_slot *s;

	if (r->recent == NULL)
	{
		r->recent = malloc(DCF_WALREADER_RECENT_BYTES);
		r->slots = malloc(sizeof(dcf_walreader_slot) * DCF_WALREADER_RECENT_SLOTS);
		if (r->recent == NULL || r->slots == NULL)
		{
			dcf_walreader_free(r);
			return;
		}
	}
	/* only a run of consecutive indexes is kept */
	if (r->recent_first != 0 && index != r->recent_last + 1)
		r->recent_first = r->recent_last = 0;
	if (len > DCF_WALREADER_RECENT_BYTES)
	{
		r->recent_first = r->recent_last = 0;
		return;
	}
	if (r->recent_first != 0 && r->recent_last - r->recent_first + 1 == DCF_WALREADER_RECENT_SLOTS)
		recent_drop_oldest(r);
	if (r->recent_first == 0)
		r->recent_wpos = 0;
	/*
	 * The kept entries lie in index order around the ring: an older run at
	 * or after recent_wpos (what the previous lap left), then a newer one
	 * from the start of the ring up to recent_wpos.  Going round again, the
	 * older run goes first, so that the entries the new bytes overlap are
	 * always the oldest.
	 */
	if (r->recent_wpos + len > DCF_WALREADER_RECENT_BYTES)
	{
		while (r->recent_first != 0 && recent_slot(r, r->recent_first)->off >= r->recent_wpos)
			recent_drop_oldest(r);
		r->recent_wpos = 0;
	}
	while (r->recent_first != 0)
	{
		s = recent_slot(r, r->recent_first);
		if (s->off >= r->recent_wpos + len)
			break;				/* after the new bytes, and so is every newer one */
		if (s->off < r->recent_wpos && (size_t) s->off + s->len <= r->recent_wpos)
			break;				/* before them: nothing has wrapped onto it */
		recent_drop_oldest(r);
	}
	if (r->recent_first == 0)
	{
		r->recent_first = index;
		r->recent_head = 0;
	}
	r->recent_last = index;
	s = recent_slot(r, index);
	s->term = term;
	s->key = key;
	s->type = type;
	s->off = (uint32_t) r->recent_wpos;
	s->len = len;
	if (len > 0)
		memcpy(r->recent + r->recent_wpos, data, len);
	r->recent_wpos += len;
}

int
dcf_walreader_recent(dcf_walreader *r, uint64_t index, dcf_log_entry *e)
{
	dcf_walreader_slot *s;

	if (r->recent_first == 0 || index < r->recent_first || index > r->recent_last)
		return 0;
	s = recent_slot(r, index);
	e->index = index;
	e->term = s->term;
	e->key = s->key;
	e->type = s->type;
	e->len = s->len;
	e->data = r->recent + s->off;
	return 1;
}

void
dcf_walreader_forget_from(dcf_walreader *r, uint64_t index)
{
	dcf_walreader_slot *s;

	if (r->recent_first == 0 || index > r->recent_last)
		return;
	if (index <= r->recent_first)
	{
		r->recent_first = r->recent_last = 0;
		return;
	}
	r->recent_last = index - 1;
	s = recent_slot(r, r->recent_last);
	r->recent_wpos = (size_t) s->off + s->len;
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

		if (dcf_walreader_recent(r, idx, &e))
			r->recent_hits++;
		else if (idx == r->cached_index)
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
