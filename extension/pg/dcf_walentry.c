/*
 * dcf_walentry.c — encoding of WAL chunk and timeline switch entries
 * (see dcf_walentry.h).  Every length is checked before use.
 */
#include "pg/dcf_walentry.h"

#include <string.h>

#include "core/dcf_bytes.h"

size_t
dcf_wal_chunk_encode(const dcf_wal_chunk *c, uint8_t *buf, size_t cap)
{
	size_t		n = DCF_WAL_CHUNK_HEADER_BYTES + (size_t) c->len;

	if (cap < n || c->len > DCF_WAL_CHUNK_MAX_BYTES)
		return 0;
	dcf_le_put32(buf, DCF_WALENTRY_VERSION);
	dcf_le_put32(buf + 4, c->tli);
	dcf_le_put64(buf + 8, c->start);
	if (c->len)
		memcpy(buf + DCF_WAL_CHUNK_HEADER_BYTES, c->data, c->len);
	return n;
}

dcf_rc
dcf_wal_chunk_decode(const uint8_t *payload, size_t len, dcf_wal_chunk *c, char *errmsg)
{
	if (len < DCF_WAL_CHUNK_HEADER_BYTES)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "WAL entry of %zu bytes is shorter than its header", len);
	if (dcf_le_get32(payload) != DCF_WALENTRY_VERSION)
		return dcf_errf(errmsg, DCF_ERR_VERSION, "WAL entry has unknown version %u", dcf_le_get32(payload));
	if (len - DCF_WAL_CHUNK_HEADER_BYTES > DCF_WAL_CHUNK_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "WAL entry carries %zu bytes, more than %d",
						len - DCF_WAL_CHUNK_HEADER_BYTES, DCF_WAL_CHUNK_MAX_BYTES);
	c->tli = dcf_le_get32(payload + 4);
	c->start = dcf_le_get64(payload + 8);
	c->data = payload + DCF_WAL_CHUNK_HEADER_BYTES;
	c->len = (uint32_t) (len - DCF_WAL_CHUNK_HEADER_BYTES);
	if (c->tli == 0)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "WAL entry has timeline 0");
	if (c->start + c->len < c->start)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "WAL entry range overflows");
	return DCF_OK;
}

size_t
dcf_tlswitch_encode(const dcf_tlswitch *s, uint8_t *buf, size_t cap)
{
	size_t		n = DCF_TLSWITCH_HEADER_BYTES + (size_t) s->history_len;

	if (cap < n || s->history_len > DCF_TLSWITCH_HISTORY_MAX_BYTES)
		return 0;
	dcf_le_put32(buf, DCF_WALENTRY_VERSION);
	dcf_le_put32(buf + 4, s->tli);
	dcf_le_put64(buf + 8, s->switch_lsn);
	dcf_le_put32(buf + 16, s->leader_id);
	dcf_le_put32(buf + 20, s->pg_port);
	dcf_le_put32(buf + 24, s->history_len);
	if (s->history_len)
		memcpy(buf + DCF_TLSWITCH_HEADER_BYTES, s->history, s->history_len);
	return n;
}

dcf_rc
dcf_tlswitch_decode(const uint8_t *payload, size_t len, dcf_tlswitch *s, char *errmsg)
{
	if (len < DCF_TLSWITCH_HEADER_BYTES)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "timeline switch entry of %zu bytes is shorter than its header", len);
	if (dcf_le_get32(payload) != DCF_WALENTRY_VERSION)
		return dcf_errf(errmsg, DCF_ERR_VERSION, "timeline switch entry has unknown version %u", dcf_le_get32(payload));
	s->tli = dcf_le_get32(payload + 4);
	s->switch_lsn = dcf_le_get64(payload + 8);
	s->leader_id = dcf_le_get32(payload + 16);
	s->pg_port = dcf_le_get32(payload + 20);
	s->history_len = dcf_le_get32(payload + 24);
	if (s->history_len > DCF_TLSWITCH_HISTORY_MAX_BYTES ||
		s->history_len != len - DCF_TLSWITCH_HEADER_BYTES)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "timeline switch entry history length %u does not match its %zu bytes",
						s->history_len, len);
	if (s->tli < 2)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "timeline switch entry to timeline %u", s->tli);
	s->history = (const char *) payload + DCF_TLSWITCH_HEADER_BYTES;
	return DCF_OK;
}

size_t
dcf_tlreserve_encode(const dcf_tlreserve *r, uint8_t *buf, size_t cap)
{
	if (cap < DCF_TLRESERVE_BYTES)
		return 0;
	dcf_le_put32(buf, DCF_WALENTRY_VERSION);
	dcf_le_put32(buf + 4, r->tli);
	dcf_le_put32(buf + 8, r->leader_id);
	return DCF_TLRESERVE_BYTES;
}

dcf_rc
dcf_tlreserve_decode(const uint8_t *payload, size_t len, dcf_tlreserve *r, char *errmsg)
{
	if (len != DCF_TLRESERVE_BYTES)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "timeline reservation entry of %zu bytes, not %d",
						len, DCF_TLRESERVE_BYTES);
	if (dcf_le_get32(payload) != DCF_WALENTRY_VERSION)
		return dcf_errf(errmsg, DCF_ERR_VERSION, "timeline reservation entry has unknown version %u",
						dcf_le_get32(payload));
	r->tli = dcf_le_get32(payload + 4);
	r->leader_id = dcf_le_get32(payload + 8);
	if (r->tli < 2)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "timeline reservation of timeline %u", r->tli);
	return DCF_OK;
}
