/*
 * dcf_walentry.c — encoding of WAL chunk and timeline switch entries
 * (see dcf_walentry.h).  Every length is checked before use.
 */
#include "pg/dcf_walentry.h"

#include <string.h>

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t	v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t	v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

size_t
dcf_wal_chunk_encode(const dcf_wal_chunk *c, uint8_t *buf, size_t cap)
{
	size_t		n = DCF_WAL_CHUNK_HEADER_BYTES + (size_t) c->len;

	if (cap < n || c->len > DCF_WAL_CHUNK_MAX_BYTES)
		return 0;
	put32(buf, DCF_WALENTRY_VERSION);
	put32(buf + 4, c->tli);
	put64(buf + 8, c->start);
	if (c->len)
		memcpy(buf + DCF_WAL_CHUNK_HEADER_BYTES, c->data, c->len);
	return n;
}

dcf_rc
dcf_wal_chunk_decode(const uint8_t *payload, size_t len, dcf_wal_chunk *c, char *errmsg)
{
	if (len < DCF_WAL_CHUNK_HEADER_BYTES)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "WAL entry of %zu bytes is shorter than its header", len);
	if (get32(payload) != DCF_WALENTRY_VERSION)
		return dcf_errf(errmsg, DCF_ERR_VERSION, "WAL entry has unknown version %u", get32(payload));
	if (len - DCF_WAL_CHUNK_HEADER_BYTES > DCF_WAL_CHUNK_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "WAL entry carries %zu bytes, more than %d",
						len - DCF_WAL_CHUNK_HEADER_BYTES, DCF_WAL_CHUNK_MAX_BYTES);
	c->tli = get32(payload + 4);
	c->start = get64(payload + 8);
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
	put32(buf, DCF_WALENTRY_VERSION);
	put32(buf + 4, s->tli);
	put64(buf + 8, s->switch_lsn);
	put32(buf + 16, s->leader_id);
	put32(buf + 20, s->pg_port);
	put32(buf + 24, s->history_len);
	if (s->history_len)
		memcpy(buf + DCF_TLSWITCH_HEADER_BYTES, s->history, s->history_len);
	return n;
}

dcf_rc
dcf_tlswitch_decode(const uint8_t *payload, size_t len, dcf_tlswitch *s, char *errmsg)
{
	if (len < DCF_TLSWITCH_HEADER_BYTES)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "timeline switch entry of %zu bytes is shorter than its header", len);
	if (get32(payload) != DCF_WALENTRY_VERSION)
		return dcf_errf(errmsg, DCF_ERR_VERSION, "timeline switch entry has unknown version %u", get32(payload));
	s->tli = get32(payload + 4);
	s->switch_lsn = get64(payload + 8);
	s->leader_id = get32(payload + 16);
	s->pg_port = get32(payload + 20);
	s->history_len = get32(payload + 24);
	if (s->history_len > DCF_TLSWITCH_HISTORY_MAX_BYTES ||
		s->history_len != len - DCF_TLSWITCH_HEADER_BYTES)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "timeline switch entry history length %u does not match its %zu bytes",
						s->history_len, len);
	if (s->tli < 2)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "timeline switch entry to timeline %u", s->tli);
	s->history = (const char *) payload + DCF_TLSWITCH_HEADER_BYTES;
	return DCF_OK;
}
