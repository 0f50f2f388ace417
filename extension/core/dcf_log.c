/*
 * dcf_raftlog.c — the node's view of its log: the host's stable log, read
 * through dcf_log_reader, followed by the unstable tail the core holds until
 * the host reports it persisted (etcd-io/raft's raftLog + unstable).
 *
 * Invariants (N4, N6 of dcf_node_int.h):
 *   - offset - 1 is the last stable index: the core reads indexes below
 *     offset from the host and never reads the host at or above offset;
 *   - ents[start .. start + n) hold indexes offset .. offset + n - 1, terms
 *     non-decreasing, each payload owned (malloc'd) by the log;
 *   - bytes is the sum of their payload lengths, bytes <= max_bytes and
 *     n <= max_entries;
 *   - emitted (the host's last written index) >= offset - 1, and after
 *     dcf_raftlog_take_update() emitted == last index;
 *   - payloads dropped during a step are freed at the start of the next one
 *     (contract H5), never while an update may still point at them.
 */
#include "core/dcf_node_int.h"

#include <stdlib.h>
#include <string.h>

#define LOG_INITIAL_CAP 64

/*
 * Moves a payload to the garbage list, freed at the start of the next step.
 * Should the list fail to grow, the payload is freed at once: that is still
 * safe, because payloads are only dropped when a follower truncates
 * (followers put no entries in messages) or when a PERSISTED step begins
 * (before any message of that step is built), but deferring keeps H5 true
 * without relying on that ordering.
 */
static void
log_discard_payload(dcf_raftlog *log, dcf_entry *e)
{
	if (e->payload == NULL)
		return;
	if (log->n_garbage == log->cap_garbage)
	{
		uint32_t	ncap = log->cap_garbage ? log->cap_garbage * 2 : LOG_INITIAL_CAP;
		uint8_t   **g = realloc(log->garbage, sizeof(*g) * ncap);

		if (g == NULL)
		{
			free((void *) e->payload);
			e->payload = NULL;
			return;
		}
		log->garbage = g;
		log->cap_garbage = ncap;
	}
	log->garbage[log->n_garbage++] = (uint8_t *) e->payload;
	e->payload = NULL;
}

dcf_rc
dcf_raftlog_init(dcf_raftlog *log, const dcf_log_reader *reader, uint64_t max_bytes,
			 uint32_t max_entries, char *errmsg)
{
	uint64_t	first,
				last;
	dcf_rc		rc;

	memset(log, 0, sizeof(*log));
	log->reader = reader;
	log->max_bytes = max_bytes;
	log->max_entries = max_entries;
	log->cap = LOG_INITIAL_CAP < max_entries ? LOG_INITIAL_CAP : max_entries;
	log->ents = malloc(sizeof(dcf_entry) * log->cap);
	log->scratch = malloc(sizeof(uint8_t *) * DCF_MSG_ENTRIES_MAX);
	if (log->ents == NULL || log->scratch == NULL)
	{
		free(log->ents);
		free(log->scratch);
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "allocating the unstable log");
	}
	first = reader->first_index(reader->ctx);
	last = reader->last_index(reader->ctx);
	if (first == 0 || first > last + 1)
	{
		dcf_raftlog_destroy(log);
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "host log has first index %llu and last index %llu",
						(unsigned long long) first, (unsigned long long) last);
	}
	log->offset = last + 1;
	log->emitted = last;
	log->persisted = last;
	if ((rc = reader->term(reader->ctx, last, &log->last_term, errmsg)) != DCF_OK)
	{
		dcf_raftlog_destroy(log);
		return dcf_errwrap(errmsg, rc, "reading the term of last index %llu", (unsigned long long) last);
	}
	if (last >= first)
	{
		dcf_entry	e;
		uint32_t	n = 1;

		if ((rc = reader->entries(reader->ctx, last, last + 1, 0, &e, &n, errmsg)) != DCF_OK)
		{
			dcf_raftlog_destroy(log);
			return dcf_errwrap(errmsg, rc, "reading last entry %llu", (unsigned long long) last);
		}
		if (n != 1 || e.index != last || e.term != log->last_term)
		{
			dcf_raftlog_destroy(log);
			return dcf_errf(errmsg, DCF_ERR_CORRUPT, "host log returned a wrong last entry");
		}
		log->last_key = e.key;
	}
	return DCF_OK;
}

void
dcf_raftlog_collect_garbage(dcf_raftlog *log)
{
	for (uint32_t i = 0; i < log->n_garbage; i++)
		free(log->garbage[i]);
	log->n_garbage = 0;
}

void
dcf_raftlog_destroy(dcf_raftlog *log)
{
	for (uint32_t i = 0; i < log->n; i++)
		free((void *) log->ents[log->start + i].payload);
	dcf_raftlog_collect_garbage(log);
	free(log->garbage);
	free(log->scratch);
	free(log->ents);
	memset(log, 0, sizeof(*log));
}

uint64_t
dcf_raftlog_last_index(const dcf_raftlog *log)
{
	return log->offset + log->n - 1;
}

uint64_t
dcf_raftlog_stable_index(const dcf_raftlog *log)
{
	return log->offset - 1;
}

uint64_t
dcf_raftlog_first_index(const dcf_raftlog *log)
{
	uint64_t	first = log->reader->first_index(log->reader->ctx);

	/* the host never removes unstable entries from the front */
	return first < log->offset ? first : log->offset;
}

dcf_rc
dcf_raftlog_term(dcf_raftlog *log, uint64_t index, uint64_t *term, char *errmsg)
{
	uint64_t	last = dcf_raftlog_last_index(log);

	if (index > last)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "index %llu is past the last index %llu",
						(unsigned long long) index, (unsigned long long) last);
	if (index == last)
	{
		*term = log->last_term;
		return DCF_OK;
	}
	if (index >= log->offset)
	{
		*term = log->ents[log->start + (index - log->offset)].term;
		return DCF_OK;
	}
	if (index == 0)
	{
		*term = 0;
		return DCF_OK;
	}
	return log->reader->term(log->reader->ctx, index, term, errmsg);
}

bool
dcf_raftlog_fits(const dcf_raftlog *log, uint32_t n, uint64_t bytes)
{
	return log->n + n <= log->max_entries && log->bytes + bytes <= log->max_bytes;
}

/* Makes room for one more entry at the end of ents; false if it cannot. */
static bool
log_reserve_one(dcf_raftlog *log)
{
	if (log->start + log->n < log->cap)
		return true;
	if (log->start > 0)
	{
		memmove(log->ents, log->ents + log->start, sizeof(dcf_entry) * log->n);
		log->start = 0;
		return true;
	}
	if (log->cap < log->max_entries)
	{
		uint32_t	ncap = log->cap * 2 < log->max_entries ? log->cap * 2 : log->max_entries;
		dcf_entry  *e = realloc(log->ents, sizeof(dcf_entry) * ncap);

		if (e == NULL)
			return false;
		log->ents = e;
		log->cap = ncap;
		return true;
	}
	return false;
}

/* Copies *src to the end (index and term already checked by the caller). */
static bool
log_push_copy(dcf_raftlog *log, const dcf_entry *src)
{
	dcf_entry  *dst;
	uint8_t    *payload = NULL;

	if (!log_reserve_one(log))
		return false;
	if (src->len > 0)
	{
		payload = malloc(src->len);
		if (payload == NULL)
			return false;
		memcpy(payload, src->payload, src->len);
	}
	dst = &log->ents[log->start + log->n];
	*dst = *src;
	dst->payload = payload;
	log->n++;
	log->bytes += src->len;
	log->last_term = src->term;
	log->last_key = src->key;
	return true;
}

dcf_rc
dcf_raftlog_append_new(dcf_raftlog *log, uint64_t term, uint8_t type, uint64_t key,
				   const uint8_t *payload, uint32_t len, char *errmsg)
{
	dcf_entry	e;

	DCF_ASSERT(term >= log->last_term);
	if (!dcf_raftlog_fits(log, 1, len))
		return dcf_errf(errmsg, DCF_ERR_FULL,
						"unstable log full: %u entries, %llu bytes not yet persisted",
						log->n, (unsigned long long) log->bytes);
	e.term = term;
	e.index = dcf_raftlog_last_index(log) + 1;
	e.key = key;
	e.type = type;
	e.len = len;
	e.payload = payload;
	if (!log_push_copy(log, &e))
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "allocating unstable entry %llu of %u bytes",
						(unsigned long long) e.index, len);
	return DCF_OK;
}

/* Removes every entry with index >= from (from <= last + 1). */
static void
log_truncate(dcf_raftlog *log, uint64_t from)
{
	DCF_ASSERT(from >= 1 && from <= dcf_raftlog_last_index(log) + 1);
	if (from <= dcf_raftlog_last_index(log))
	{
		uint32_t	keep = from > log->offset ? (uint32_t) (from - log->offset) : 0;

		for (uint32_t i = keep; i < log->n; i++)
		{
			dcf_entry  *e = &log->ents[log->start + i];

			log->bytes -= e->len;
			log_discard_payload(log, e);
		}
		log->n = keep;
		if (from < log->offset)
		{
			/* stable entries go too: the host drops them (H2) */
			log->offset = from;
			log->start = 0;
		}
		if (from <= log->emitted)
		{
			log->truncate_from = log->truncate_from ? (log->truncate_from < from ? log->truncate_from : from) : from;
			log->emitted = from - 1;
		}
		if (log->persisted >= from)
			log->persisted = from - 1;
	}
}

uint32_t
dcf_raftlog_append_entries(dcf_raftlog *log, const dcf_entry *ents, uint32_t n)
{
	uint64_t	from;
	uint64_t	freed_bytes = 0;
	uint32_t	freed_n = 0;
	uint32_t	keep_n;
	uint32_t	k = 0;
	uint64_t	bytes = 0;

	if (n == 0)
		return 0;
	DCF_ASSERT(n <= DCF_MSG_ENTRIES_MAX);
	from = ents[0].index;
	DCF_ASSERT(from >= 1 && from <= dcf_raftlog_last_index(log) + 1);
	/* what the truncation would free, to size the prefix we can take */
	for (uint32_t i = 0; i < log->n; i++)
	{
		const dcf_entry *e = &log->ents[log->start + i];

		if (e->index >= from)
		{
			freed_bytes += e->len;
			freed_n++;
		}
	}
	keep_n = log->n - freed_n;
	while (k < n &&
		   keep_n + k + 1 <= log->max_entries &&
		   log->bytes - freed_bytes + bytes + ents[k].len <= log->max_bytes)
	{
		bytes += ents[k].len;
		k++;
	}
	/*
	 * Allocate everything before changing anything, so that running out of
	 * memory leaves the log as it was (and last_term right).
	 */
	if (keep_n + k > log->cap)
	{
		uint32_t	ncap = log->cap * 2 > keep_n + k ? log->cap * 2 : keep_n + k;
		dcf_entry  *ne;

		if (ncap > log->max_entries)
			ncap = log->max_entries;
		ne = realloc(log->ents, sizeof(dcf_entry) * ncap);
		if (ne != NULL)
		{
			log->ents = ne;
			log->cap = ncap;
		}
		else
			k = log->cap > keep_n ? log->cap - keep_n : 0;
	}
	for (uint32_t i = 0; i < k; i++)
	{
		log->scratch[i] = NULL;
		if (ents[i].len > 0 && (log->scratch[i] = malloc(ents[i].len)) == NULL)
		{
			k = i;
			break;
		}
	}
	if (k == 0)
		return 0;
	log_truncate(log, from);
	if (log->start + log->n + k > log->cap)
	{
		memmove(log->ents, log->ents + log->start, sizeof(dcf_entry) * log->n);
		log->start = 0;
	}
	for (uint32_t i = 0; i < k; i++)
	{
		dcf_entry  *dst = &log->ents[log->start + log->n];

		DCF_ASSERT(ents[i].index == dcf_raftlog_last_index(log) + 1);
		*dst = ents[i];
		if (ents[i].len > 0)
			memcpy(log->scratch[i], ents[i].payload, ents[i].len);
		dst->payload = log->scratch[i];
		log->n++;
		log->bytes += ents[i].len;
		log->last_term = ents[i].term;
		log->last_key = ents[i].key;
	}
	return k;
}

void
dcf_raftlog_stable_to(dcf_raftlog *log, uint64_t index, uint64_t term)
{
	uint32_t	drop;

	if (index < log->offset || index > dcf_raftlog_last_index(log))
		return;					/* already stable, or about a log since rewritten */
	if (log->ents[log->start + (index - log->offset)].term != term)
		return;					/* that entry was replaced after the write */
	DCF_ASSERT(index <= log->emitted);
	drop = (uint32_t) (index - log->offset + 1);
	for (uint32_t i = 0; i < drop; i++)
	{
		dcf_entry  *e = &log->ents[log->start + i];

		log->bytes -= e->len;
		log_discard_payload(log, e);
	}
	log->start += drop;
	log->n -= drop;
	log->offset = index + 1;
	if (log->n == 0)
		log->start = 0;
	if (index > log->persisted)
		log->persisted = index;
}

dcf_rc
dcf_raftlog_slice(dcf_raftlog *log, uint64_t lo, uint64_t hi, uint64_t max_bytes, uint32_t max_n,
			  dcf_entry *out, uint32_t *n_out, uint64_t *bytes_out, char *errmsg)
{
	uint32_t	n = 0;
	uint64_t	bytes = 0;
	dcf_rc		rc;

	*n_out = 0;
	*bytes_out = 0;
	if (hi > dcf_raftlog_last_index(log) + 1)
		hi = dcf_raftlog_last_index(log) + 1;
	if (lo >= hi || max_n == 0)
		return DCF_OK;
	if (lo < log->offset)
	{
		uint64_t	stable_hi = hi < log->offset ? hi : log->offset;
		uint32_t	got = max_n;

		rc = log->reader->entries(log->reader->ctx, lo, stable_hi, max_bytes, out, &got, errmsg);
		if (rc != DCF_OK)
			return rc;
		if (got == 0 || got > max_n)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT, "host log returned %u entries for [%llu, %llu)",
							got, (unsigned long long) lo, (unsigned long long) stable_hi);
		for (uint32_t i = 0; i < got; i++)
		{
			if (out[i].index != lo + i)
				return dcf_errf(errmsg, DCF_ERR_CORRUPT, "host log returned index %llu for %llu",
								(unsigned long long) out[i].index, (unsigned long long) (lo + i));
			bytes += out[i].len;
		}
		n = got;
		if (lo + got < stable_hi)
		{
			/* the host stopped at the byte bound */
			*n_out = n;
			*bytes_out = bytes;
			return DCF_OK;
		}
	}
	for (uint64_t idx = lo + n; idx < hi && n < max_n; idx++)
	{
		const dcf_entry *e = &log->ents[log->start + (idx - log->offset)];

		if (n > 0 && bytes + e->len > max_bytes)
			break;
		out[n++] = *e;
		bytes += e->len;
	}
	*n_out = n;
	*bytes_out = bytes;
	return DCF_OK;
}

void
dcf_raftlog_take_update(dcf_raftlog *log, const dcf_entry **ents, uint32_t *n, uint64_t *truncate_from)
{
	uint64_t	last = dcf_raftlog_last_index(log);

	DCF_ASSERT(log->emitted + 1 >= log->offset);
	*truncate_from = log->truncate_from;
	if (last > log->emitted)
	{
		*ents = &log->ents[log->start + (log->emitted + 1 - log->offset)];
		*n = (uint32_t) (last - log->emitted);
		if (*truncate_from)
			DCF_ASSERT((*ents)[0].index == *truncate_from);
	}
	else
	{
		*ents = NULL;
		*n = 0;
		DCF_ASSERT(*truncate_from == 0);
	}
	log->emitted = last;
	log->truncate_from = 0;
}
