/*
 * dcf_walmap.c — the map of WAL in the consensus log (see dcf_walmap.h).
 */
#include "pg/dcf_walmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/dcf_assert.h"
#include "pg/dcf_walentry.h"

typedef struct pending
{
	uint64_t	index;
	uint32_t	tl_slot;		/* position in tls[] */
	uint64_t	end;			/* WAL chunk end; 0 for a switch entry */
	bool		is_switch;
} pending;

/* A timeline a leader reserved before promoting (DCF_ENTRY_TLRESERVE). */
typedef struct reservation
{
	uint32_t	tli;
	uint32_t	leader_id;
	uint64_t	index;
} reservation;

struct dcf_walmap
{
	dcf_walmap_tl *tls;			/* grows as needed */
	uint32_t	ntls;
	uint32_t	tls_cap;
	reservation *res;			/* grows as needed */
	uint32_t	nres;
	uint32_t	res_cap;
	pending    *fifo;			/* ring of uncommitted entries */
	uint32_t	fifo_head;
	uint32_t	fifo_len;
	uint64_t	commit_index;
};

dcf_walmap *
dcf_walmap_create(void)
{
	dcf_walmap *m = calloc(1, sizeof(dcf_walmap));

	if (m == NULL)
		return NULL;
	m->fifo = malloc(sizeof(pending) * DCF_WALMAP_PENDING_MAX);
	if (m->fifo == NULL)
	{
		free(m);
		return NULL;
	}
	return m;
}

void
dcf_walmap_destroy(dcf_walmap *m)
{
	if (m == NULL)
		return;
	for (uint32_t i = 0; i < m->ntls; i++)
		free(m->tls[i].history);
	free(m->tls);
	free(m->res);
	free(m->fifo);
	free(m);
}

/* Room for one more element in a growing array of elements of size sz. */
static dcf_rc
grow(void **arr, uint32_t *cap, uint32_t n, size_t sz, char *errmsg)
{
	void	   *p;
	uint32_t	ncap;

	if (n < *cap)
		return DCF_OK;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(*arr, sz * ncap);
	if (p == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory for the WAL map");
	*arr = p;
	*cap = ncap;
	return DCF_OK;
}

static pending *
fifo_at(dcf_walmap *m, uint32_t i)
{
	return &m->fifo[(m->fifo_head + i) % DCF_WALMAP_PENDING_MAX];
}

static void
apply_committed(dcf_walmap *m, const pending *p)
{
	dcf_walmap_tl *tl = &m->tls[p->tl_slot];

	if (p->is_switch)
		tl->committed = true;
	else if (p->end > tl->committed_end)
		tl->committed_end = p->end;
}

static dcf_rc
push(dcf_walmap *m, uint64_t index, uint32_t slot, uint64_t end, bool is_switch, char *errmsg)
{
	pending		p = {index, slot, end, is_switch};

	if (index <= m->commit_index)
	{
		/* found at start below the applied index: committed already */
		apply_committed(m, &p);
		return DCF_OK;
	}
	if (m->fifo_len >= DCF_WALMAP_PENDING_MAX)
		return dcf_errf(errmsg, DCF_ERR_FULL, "more than %u uncommitted WAL entries", DCF_WALMAP_PENDING_MAX);
	*fifo_at(m, m->fifo_len) = p;
	m->fifo_len++;
	return DCF_OK;
}

dcf_rc
dcf_walmap_add(dcf_walmap *m, uint64_t index, uint8_t type, const uint8_t *payload,
			   uint32_t len, char *errmsg)
{
	dcf_rc		rc;

	if (type == DCF_ENTRY_TLSWITCH)
	{
		dcf_tlswitch s;
		dcf_walmap_tl *tl;

		rc = dcf_tlswitch_decode(payload, len, &s, errmsg);
		if (rc != DCF_OK)
			return dcf_errwrap(errmsg, rc, "log index %llu", (unsigned long long) index);
		if (m->ntls > 0 && s.tli <= m->tls[m->ntls - 1].tli)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"log index %llu switches to timeline %u after timeline %u",
							(unsigned long long) index, s.tli, m->tls[m->ntls - 1].tli);
		rc = grow((void **) &m->tls, &m->tls_cap, m->ntls, sizeof(dcf_walmap_tl), errmsg);
		if (rc != DCF_OK)
			return rc;
		tl = &m->tls[m->ntls];
		memset(tl, 0, sizeof(*tl));
		tl->tli = s.tli;
		tl->switch_index = index;
		tl->begin_lsn = s.switch_lsn;
		tl->appended_end = s.switch_lsn;
		tl->committed_end = s.switch_lsn;
		tl->leader_id = s.leader_id;
		tl->pg_port = s.pg_port;
		tl->history = malloc(s.history_len + 1);
		if (tl->history == NULL)
			return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
		memcpy(tl->history, s.history, s.history_len);
		tl->history[s.history_len] = '\0';
		tl->history_len = s.history_len;
		m->ntls++;
		return push(m, index, m->ntls - 1, 0, true, errmsg);
	}
	if (type == DCF_ENTRY_WAL)
	{
		dcf_wal_chunk c;
		dcf_walmap_tl *tl;

		rc = dcf_wal_chunk_decode(payload, len, &c, errmsg);
		if (rc != DCF_OK)
			return dcf_errwrap(errmsg, rc, "log index %llu", (unsigned long long) index);
		if (m->ntls == 0)
		{
			/* WAL before any switch: the timeline the cluster started on */
			rc = grow((void **) &m->tls, &m->tls_cap, 0, sizeof(dcf_walmap_tl), errmsg);
			if (rc != DCF_OK)
				return rc;
			tl = &m->tls[0];
			memset(tl, 0, sizeof(*tl));
			tl->tli = c.tli;
			tl->begin_lsn = c.start;
			tl->appended_end = c.start;
			tl->committed_end = c.start;
			tl->committed = true;
			m->ntls = 1;
		}
		tl = &m->tls[m->ntls - 1];
		if (c.tli != tl->tli)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"log index %llu holds WAL of timeline %u where timeline %u is current",
							(unsigned long long) index, c.tli, tl->tli);
		if (c.start != tl->appended_end)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"log index %llu holds WAL from %X/%X, but timeline %u continues at %X/%X",
							(unsigned long long) index,
							(unsigned) (c.start >> 32), (unsigned) c.start, tl->tli,
							(unsigned) (tl->appended_end >> 32), (unsigned) tl->appended_end);
		if (tl->first_wal_index == 0)
			tl->first_wal_index = index;
		tl->appended_end = c.start + c.len;
		return push(m, index, m->ntls - 1, c.start + c.len, false, errmsg);
	}
	if (type == DCF_ENTRY_TLRESERVE)
	{
		dcf_tlreserve r;

		rc = dcf_tlreserve_decode(payload, len, &r, errmsg);
		if (rc != DCF_OK)
			return dcf_errwrap(errmsg, rc, "log index %llu", (unsigned long long) index);
		rc = grow((void **) &m->res, &m->res_cap, m->nres, sizeof(reservation), errmsg);
		if (rc != DCF_OK)
			return rc;
		m->res[m->nres].tli = r.tli;
		m->res[m->nres].leader_id = r.leader_id;
		m->res[m->nres].index = index;
		m->nres++;
	}
	return DCF_OK;
}

void
dcf_walmap_truncate(dcf_walmap *m, uint64_t from_index)
{
	DCF_ASSERT(from_index > m->commit_index);
	while (m->fifo_len > 0 && fifo_at(m, m->fifo_len - 1)->index >= from_index)
		m->fifo_len--;
	while (m->nres > 0 && m->res[m->nres - 1].index >= from_index)
		m->nres--;
	/* drop timelines whose switch entry went away */
	while (m->ntls > 0 && m->tls[m->ntls - 1].switch_index >= from_index)
	{
		free(m->tls[m->ntls - 1].history);
		m->ntls--;
	}
	/* recompute appended ends from what is left */
	for (uint32_t i = 0; i < m->ntls; i++)
	{
		dcf_walmap_tl *tl = &m->tls[i];

		tl->appended_end = tl->committed_end;
		if (tl->first_wal_index >= from_index)
			tl->first_wal_index = 0;
	}
	for (uint32_t i = 0; i < m->fifo_len; i++)
	{
		pending    *p = fifo_at(m, i);

		if (!p->is_switch && p->end > m->tls[p->tl_slot].appended_end)
			m->tls[p->tl_slot].appended_end = p->end;
	}
}

void
dcf_walmap_commit(dcf_walmap *m, uint64_t index)
{
	if (index <= m->commit_index)
		return;
	while (m->fifo_len > 0 && m->fifo[m->fifo_head].index <= index)
	{
		apply_committed(m, &m->fifo[m->fifo_head]);
		m->fifo_head = (m->fifo_head + 1) % DCF_WALMAP_PENDING_MAX;
		m->fifo_len--;
	}
	m->commit_index = index;
}

const dcf_walmap_tl *
dcf_walmap_latest(const dcf_walmap *m)
{
	for (int i = (int) m->ntls - 1; i >= 0; i--)
		if (m->tls[i].committed)
			return &m->tls[i];
	return NULL;
}

const dcf_walmap_tl *
dcf_walmap_latest_appended(const dcf_walmap *m)
{
	return m->ntls ? &m->tls[m->ntls - 1] : NULL;
}

const dcf_walmap_tl *
dcf_walmap_find(const dcf_walmap *m, uint32_t tli)
{
	for (uint32_t i = 0; i < m->ntls; i++)
		if (m->tls[i].tli == tli)
			return &m->tls[i];
	return NULL;
}

const dcf_walmap_tl *
dcf_walmap_next(const dcf_walmap *m, uint32_t tli)
{
	for (uint32_t i = 0; i + 1 < m->ntls; i++)
		if (m->tls[i].tli == tli && m->tls[i + 1].committed)
			return &m->tls[i + 1];
	return NULL;
}

uint64_t
dcf_walmap_commit_index(const dcf_walmap *m)
{
	return m->commit_index;
}

uint32_t
dcf_walmap_max_tli(const dcf_walmap *m)
{
	uint32_t	max = 0;

	for (uint32_t i = 0; i < m->ntls; i++)
		if (m->tls[i].tli > max)
			max = m->tls[i].tli;
	for (uint32_t i = 0; i < m->nres; i++)
		if (m->res[i].tli > max)
			max = m->res[i].tli;
	return max;
}

bool
dcf_walmap_reserved(const dcf_walmap *m, uint32_t tli, uint64_t *index)
{
	for (uint32_t i = 0; i < m->nres; i++)
		if (m->res[i].tli == tli)
		{
			if (index)
				*index = m->res[i].index;
			return true;
		}
	return false;
}

bool
dcf_walmap_abandoned(const dcf_walmap *m, uint32_t tli)
{
	uint64_t	index = 0;

	return dcf_walmap_reserved(m, tli, &index) && index <= m->commit_index &&
		dcf_walmap_find(m, tli) == NULL && dcf_walmap_max_tli(m) > tli;
}
