/*
 * dcf_codec.c — encoding and decoding of messages and memberships (format
 * in dcf_codec.h).
 *
 * Invariant: every read goes through a cursor that checks the remaining
 * length first (rd_*), so no input, however malformed, reads out of bounds;
 * every count is checked against a named limit before it drives a loop.
 */
#include "core/dcf_codec.h"

#include <string.h>

/* ---- cursors ------------------------------------------------------------- */

typedef struct wr
{
	uint8_t    *p;
	uint8_t    *end;
} wr;

typedef struct rd
{
	const uint8_t *p;
	const uint8_t *end;
	bool		short_read;		/* a read ran past the end */
} rd;

static void
wr_u8(wr *w, uint8_t v)
{
	*w->p++ = v;
}

static void
wr_u16(wr *w, uint16_t v)
{
	w->p[0] = (uint8_t) v;
	w->p[1] = (uint8_t) (v >> 8);
	w->p += 2;
}

static void
wr_u32(wr *w, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		w->p[i] = (uint8_t) (v >> (8 * i));
	w->p += 4;
}

static void
wr_u64(wr *w, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		w->p[i] = (uint8_t) (v >> (8 * i));
	w->p += 8;
}

static void
wr_bytes(wr *w, const void *b, size_t n)
{
	if (n)
		memcpy(w->p, b, n);
	w->p += n;
}

static size_t
rd_left(const rd *r)
{
	return (size_t) (r->end - r->p);
}

static bool
rd_need(rd *r, size_t n)
{
	if (r->short_read || rd_left(r) < n)
	{
		r->short_read = true;
		return false;
	}
	return true;
}

static uint8_t
rd_u8(rd *r)
{
	if (!rd_need(r, 1))
		return 0;
	return *r->p++;
}

static uint16_t
rd_u16(rd *r)
{
	uint16_t	v;

	if (!rd_need(r, 2))
		return 0;
	v = (uint16_t) (r->p[0] | (r->p[1] << 8));
	r->p += 2;
	return v;
}

static uint32_t
rd_u32(rd *r)
{
	uint32_t	v = 0;

	if (!rd_need(r, 4))
		return 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t) r->p[i] << (8 * i);
	r->p += 4;
	return v;
}

static uint64_t
rd_u64(rd *r)
{
	uint64_t	v = 0;

	if (!rd_need(r, 8))
		return 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t) r->p[i] << (8 * i);
	r->p += 8;
	return v;
}

/* ---- messages ------------------------------------------------------------ */

const char *
dcf_msg_type_name(dcf_msg_type type)
{
	switch (type)
	{
		case DCF_MSG_PREVOTE_REQ:
			return "prevote_req";
		case DCF_MSG_PREVOTE_RESP:
			return "prevote_resp";
		case DCF_MSG_VOTE_REQ:
			return "vote_req";
		case DCF_MSG_VOTE_RESP:
			return "vote_resp";
		case DCF_MSG_APPEND:
			return "append";
		case DCF_MSG_APPEND_RESP:
			return "append_resp";
		case DCF_MSG_HEARTBEAT:
			return "heartbeat";
		case DCF_MSG_HEARTBEAT_RESP:
			return "heartbeat_resp";
		case DCF_MSG_TIMEOUT_NOW:
			return "timeout_now";
	}
	return "unknown";
}

bool
dcf_msg_needs_persist(const dcf_msg *m)
{
	return !(m->type == DCF_MSG_APPEND || m->type == DCF_MSG_HEARTBEAT);
}

/* Flags each type may carry. */
static uint32_t
allowed_flags(dcf_msg_type type)
{
	switch (type)
	{
		case DCF_MSG_PREVOTE_REQ:
		case DCF_MSG_VOTE_REQ:
			return DCF_MSG_F_TRANSFER | DCF_MSG_F_MINORITY;
		case DCF_MSG_PREVOTE_RESP:
		case DCF_MSG_VOTE_RESP:
			return DCF_MSG_F_REJECT | DCF_MSG_F_MINORITY;
		case DCF_MSG_APPEND_RESP:
			return DCF_MSG_F_REJECT | DCF_MSG_F_MINORITY | DCF_MSG_F_REPAIR;
		case DCF_MSG_HEARTBEAT_RESP:
			return DCF_MSG_F_MINORITY | DCF_MSG_F_REPAIR;
		default:
			return DCF_MSG_F_MINORITY;
	}
}

static size_t
body_fixed_bytes(dcf_msg_type type)
{
	switch (type)
	{
		case DCF_MSG_PREVOTE_REQ:
		case DCF_MSG_VOTE_REQ:
			return 16;
		case DCF_MSG_PREVOTE_RESP:
		case DCF_MSG_VOTE_RESP:
			return 0;
		case DCF_MSG_TIMEOUT_NOW:
			return 8;
		case DCF_MSG_APPEND:
			return 36;
		case DCF_MSG_APPEND_RESP:
			return 40;
		case DCF_MSG_HEARTBEAT:
		case DCF_MSG_HEARTBEAT_RESP:
			return 16;
	}
	return 0;
}

size_t
dcf_msg_encoded_size(const dcf_msg *m)
{
	size_t		n = DCF_MSG_HEADER_BYTES + body_fixed_bytes(m->type);

	if (m->type == DCF_MSG_APPEND)
	{
		for (uint32_t i = 0; i < m->n_entries; i++)
			n += DCF_MSG_ENTRY_HEADER_BYTES + m->entries[i].len;
	}
	return n;
}

/*
 * Checks shared by encoder and decoder: what no correct peer sends.
 * Entries must already be in m (indexes are checked by the encoder only:
 * the decoder computes them).
 */
static dcf_rc
check_msg(const dcf_msg *m, char *errmsg)
{
	if (m->type < DCF_MSG_TYPE_MIN || m->type > DCF_MSG_TYPE_MAX)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "unknown message type %d", (int) m->type);
	if (m->flags & ~allowed_flags(m->type))
		return dcf_errf(errmsg, DCF_ERR_PROTO, "%s message has invalid flags 0x%x",
						dcf_msg_type_name(m->type), m->flags);
	if (m->from == DCF_NODE_NONE || m->to == DCF_NODE_NONE)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "%s message names node 0", dcf_msg_type_name(m->type));
	if (m->from == m->to)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "%s message from node %u to itself",
						dcf_msg_type_name(m->type), m->from);
	if (m->type != DCF_MSG_APPEND && m->n_entries != 0)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "%s message carries entries", dcf_msg_type_name(m->type));
	if (m->type == DCF_MSG_APPEND)
	{
		uint64_t	prev_term = m->log_term;

		if (m->n_entries > DCF_MSG_ENTRIES_MAX)
			return dcf_errf(errmsg, DCF_ERR_PROTO, "append carries %u entries, at most %d allowed",
							m->n_entries, DCF_MSG_ENTRIES_MAX);
		if (m->index > UINT64_MAX - m->n_entries)
			return dcf_errf(errmsg, DCF_ERR_PROTO, "append indexes overflow");
		for (uint32_t i = 0; i < m->n_entries; i++)
		{
			const dcf_entry *e = &m->entries[i];

			if (e->len > DCF_ENTRY_PAYLOAD_MAX_BYTES)
				return dcf_errf(errmsg, DCF_ERR_PROTO, "entry %u has a %u-byte payload, at most %u allowed",
								i, e->len, DCF_ENTRY_PAYLOAD_MAX_BYTES);
			if (e->term < prev_term || e->term > m->term)
				return dcf_errf(errmsg, DCF_ERR_PROTO,
								"entry %u has term %llu outside %llu..%llu", i,
								(unsigned long long) e->term, (unsigned long long) prev_term,
								(unsigned long long) m->term);
			prev_term = e->term;
		}
	}
	return DCF_OK;
}

dcf_rc
dcf_msg_encode(const dcf_msg *m, uint8_t *buf, size_t cap, size_t *len_out, char *errmsg)
{
	dcf_rc		rc;
	size_t		need;
	wr			w;

	if ((rc = check_msg(m, errmsg)) != DCF_OK)
		return dcf_errwrap(errmsg, DCF_ERR_INVALID, "encoding message");
	for (uint32_t i = 0; i < m->n_entries; i++)
	{
		if (m->entries[i].index != m->index + 1 + i)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "encoding append: entry %u has index %llu, expected %llu",
							i, (unsigned long long) m->entries[i].index,
							(unsigned long long) (m->index + 1 + i));
	}
	need = dcf_msg_encoded_size(m);
	if (need > DCF_MSG_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "encoding message: %zu bytes, at most %u allowed",
						need, DCF_MSG_MAX_BYTES);
	if (need > cap)
		return dcf_errf(errmsg, DCF_ERR_FULL, "encoding message: needs %zu bytes, buffer has %zu",
						need, cap);
	w.p = buf;
	w.end = buf + cap;
	wr_u8(&w, DCF_CODEC_VERSION);
	wr_u8(&w, (uint8_t) m->type);
	wr_u16(&w, (uint16_t) m->flags);
	wr_u32(&w, m->from);
	wr_u32(&w, m->to);
	wr_u64(&w, m->term);
	switch (m->type)
	{
		case DCF_MSG_PREVOTE_REQ:
		case DCF_MSG_VOTE_REQ:
			wr_u64(&w, m->index);
			wr_u64(&w, m->log_term);
			break;
		case DCF_MSG_PREVOTE_RESP:
		case DCF_MSG_VOTE_RESP:
			break;
		case DCF_MSG_TIMEOUT_NOW:
			wr_u64(&w, m->index);
			break;
		case DCF_MSG_APPEND:
			wr_u64(&w, m->index);
			wr_u64(&w, m->log_term);
			wr_u64(&w, m->commit);
			wr_u64(&w, m->sent_ms);
			wr_u32(&w, m->n_entries);
			for (uint32_t i = 0; i < m->n_entries; i++)
			{
				const dcf_entry *e = &m->entries[i];

				wr_u64(&w, e->term);
				wr_u64(&w, e->key);
				wr_u8(&w, e->type);
				wr_u32(&w, e->len);
				wr_bytes(&w, e->payload, e->len);
			}
			break;
		case DCF_MSG_APPEND_RESP:
			wr_u64(&w, m->index);
			wr_u64(&w, m->log_term);
			wr_u64(&w, m->reject_hint);
			wr_u64(&w, m->sent_ms);
			wr_u64(&w, m->applied);
			break;
		case DCF_MSG_HEARTBEAT:
			wr_u64(&w, m->commit);
			wr_u64(&w, m->sent_ms);
			break;
		case DCF_MSG_HEARTBEAT_RESP:
			wr_u64(&w, m->sent_ms);
			wr_u64(&w, m->applied);
			break;
	}
	*len_out = (size_t) (w.p - buf);
	return DCF_OK;
}

dcf_rc
dcf_msg_decode(const uint8_t *buf, size_t len, dcf_msg *m, dcf_entry *entries,
			   uint32_t entries_cap, char *errmsg)
{
	rd			r = {buf, buf + len, false};
	uint8_t		version;
	dcf_rc		rc;

	memset(m, 0, sizeof(*m));
	if (len > DCF_MSG_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "message of %zu bytes, at most %u allowed",
						len, DCF_MSG_MAX_BYTES);
	if (len < DCF_MSG_HEADER_BYTES)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "message of %zu bytes is shorter than its %d-byte header",
						len, DCF_MSG_HEADER_BYTES);
	version = rd_u8(&r);
	if (version != DCF_CODEC_VERSION)
		return dcf_errf(errmsg, DCF_ERR_VERSION, "message format version %u, this node speaks %d",
						version, DCF_CODEC_VERSION);
	m->type = (dcf_msg_type) rd_u8(&r);
	m->flags = rd_u16(&r);
	m->from = rd_u32(&r);
	m->to = rd_u32(&r);
	m->term = rd_u64(&r);
	if (m->type < DCF_MSG_TYPE_MIN || m->type > DCF_MSG_TYPE_MAX)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "unknown message type %d", (int) m->type);
	if (rd_left(&r) < body_fixed_bytes(m->type))
		return dcf_errf(errmsg, DCF_ERR_PROTO, "%s message truncated: %zu body bytes, %zu needed",
						dcf_msg_type_name(m->type), rd_left(&r), body_fixed_bytes(m->type));
	switch (m->type)
	{
		case DCF_MSG_PREVOTE_REQ:
		case DCF_MSG_VOTE_REQ:
			m->index = rd_u64(&r);
			m->log_term = rd_u64(&r);
			break;
		case DCF_MSG_PREVOTE_RESP:
		case DCF_MSG_VOTE_RESP:
			break;
		case DCF_MSG_TIMEOUT_NOW:
			m->index = rd_u64(&r);
			break;
		case DCF_MSG_APPEND:
			m->index = rd_u64(&r);
			m->log_term = rd_u64(&r);
			m->commit = rd_u64(&r);
			m->sent_ms = rd_u64(&r);
			m->n_entries = rd_u32(&r);
			if (m->n_entries > DCF_MSG_ENTRIES_MAX)
				return dcf_errf(errmsg, DCF_ERR_PROTO, "append carries %u entries, at most %d allowed",
								m->n_entries, DCF_MSG_ENTRIES_MAX);
			if ((uint64_t) m->n_entries * DCF_MSG_ENTRY_HEADER_BYTES > rd_left(&r))
				return dcf_errf(errmsg, DCF_ERR_PROTO, "append claims %u entries in %zu bytes",
								m->n_entries, rd_left(&r));
			if (m->n_entries > entries_cap)
				return dcf_errf(errmsg, DCF_ERR_FULL, "append carries %u entries, buffer holds %u",
								m->n_entries, entries_cap);
			if (m->index > UINT64_MAX - m->n_entries)
				return dcf_errf(errmsg, DCF_ERR_PROTO, "append indexes overflow");
			for (uint32_t i = 0; i < m->n_entries; i++)
			{
				dcf_entry  *e = &entries[i];

				if (rd_left(&r) < DCF_MSG_ENTRY_HEADER_BYTES)
					return dcf_errf(errmsg, DCF_ERR_PROTO, "append entry %u truncated", i);
				e->index = m->index + 1 + i;
				e->term = rd_u64(&r);
				e->key = rd_u64(&r);
				e->type = rd_u8(&r);
				e->len = rd_u32(&r);
				if (e->len > DCF_ENTRY_PAYLOAD_MAX_BYTES)
					return dcf_errf(errmsg, DCF_ERR_PROTO, "entry %u has a %u-byte payload, at most %u allowed",
									i, e->len, DCF_ENTRY_PAYLOAD_MAX_BYTES);
				if (rd_left(&r) < e->len)
					return dcf_errf(errmsg, DCF_ERR_PROTO, "entry %u payload truncated: %zu of %u bytes",
									i, rd_left(&r), e->len);
				e->payload = r.p;
				r.p += e->len;
			}
			m->entries = entries;
			break;
		case DCF_MSG_APPEND_RESP:
			m->index = rd_u64(&r);
			m->log_term = rd_u64(&r);
			m->reject_hint = rd_u64(&r);
			m->sent_ms = rd_u64(&r);
			m->applied = rd_u64(&r);
			break;
		case DCF_MSG_HEARTBEAT:
			m->commit = rd_u64(&r);
			m->sent_ms = rd_u64(&r);
			break;
		case DCF_MSG_HEARTBEAT_RESP:
			m->sent_ms = rd_u64(&r);
			m->applied = rd_u64(&r);
			break;
	}
	if (r.short_read)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "%s message truncated", dcf_msg_type_name(m->type));
	if (rd_left(&r) != 0)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "%s message has %zu trailing bytes",
						dcf_msg_type_name(m->type), rd_left(&r));
	if ((rc = check_msg(m, errmsg)) != DCF_OK)
		return rc;
	return DCF_OK;
}

/* ---- memberships ----------------------------------------------------------- */

static size_t
members_encoded_size(const dcf_member *members, uint32_t n)
{
	size_t		bytes = 0;

	for (uint32_t i = 0; i < n && i < DCF_MEMBERS_MAX; i++)
		bytes += DCF_MEMBER_ENCODED_MAX_BYTES - DCF_MEMBER_IP_MAX +
			strnlen(members[i].ip, DCF_MEMBER_IP_MAX);
	return bytes;
}

size_t
dcf_membership_encoded_size(const dcf_membership *ms)
{
	return 2 + members_encoded_size(ms->members, ms->n_members) + 8 + 1 +
		members_encoded_size(ms->prev, ms->n_prev) + 8;
}

static void
wr_member(wr *w, const dcf_member *m)
{
	size_t		iplen = strnlen(m->ip, DCF_MEMBER_IP_MAX);

	wr_u32(w, m->node_id);
	wr_u8(w, (uint8_t) m->role);
	wr_u8(w, m->learner ? DCF_MEMBER_F_LEARNER : 0);
	wr_u32(w, m->weight);
	wr_u32(w, m->group);
	wr_u32(w, m->priority);
	wr_u16(w, m->port);
	wr_u8(w, (uint8_t) iplen);
	wr_bytes(w, m->ip, iplen);
}

dcf_rc
dcf_membership_encode(const dcf_membership *ms, uint8_t *buf, size_t cap, size_t *len_out,
					  char *errmsg)
{
	dcf_rc		rc;
	size_t		need;
	wr			w;

	if ((rc = dcf_membership_validate(ms, errmsg)) != DCF_OK)
		return dcf_errwrap(errmsg, rc, "encoding membership");
	need = dcf_membership_encoded_size(ms);
	if (need > cap)
		return dcf_errf(errmsg, DCF_ERR_FULL, "encoding membership: needs %zu bytes, buffer has %zu",
						need, cap);
	w.p = buf;
	w.end = buf + cap;
	wr_u8(&w, DCF_CODEC_VERSION);
	wr_u8(&w, (uint8_t) ms->n_members);
	for (uint32_t i = 0; i < ms->n_members; i++)
		wr_member(&w, &ms->members[i]);
	wr_u64(&w, ms->prev_index);
	wr_u8(&w, (uint8_t) ms->n_prev);
	for (uint32_t i = 0; i < ms->n_prev; i++)
		wr_member(&w, &ms->prev[i]);
	wr_u64(&w, ms->undo_index);
	*len_out = (size_t) (w.p - buf);
	return DCF_OK;
}

/* Reads n members; a message on failure (what = "member", "previous member"). */
static dcf_rc
rd_members(rd *r, dcf_member *members, uint32_t n, const char *what, char *errmsg)
{
	for (uint32_t i = 0; i < n; i++)
	{
		dcf_member *m = &members[i];
		uint8_t		iplen;
		uint8_t		role;
		uint8_t		flags;

		m->node_id = rd_u32(r);
		role = rd_u8(r);
		m->role = role < DCF_ROLE_COUNT ? (dcf_role) role : DCF_ROLE_UNKNOWN;
		flags = rd_u8(r);
		m->weight = rd_u32(r);
		m->group = rd_u32(r);
		m->priority = rd_u32(r);
		m->port = rd_u16(r);
		iplen = rd_u8(r);
		if (r->short_read)
			return dcf_errf(errmsg, DCF_ERR_PROTO, "membership %s %u truncated", what, i);
		if (flags & ~DCF_MEMBER_F_LEARNER)
			return dcf_errf(errmsg, DCF_ERR_PROTO, "%s %u has unknown flags 0x%x", what, i, flags);
		m->learner = (flags & DCF_MEMBER_F_LEARNER) != 0;
		if (iplen >= DCF_MEMBER_IP_MAX)
			return dcf_errf(errmsg, DCF_ERR_PROTO, "%s %u has a %u-byte ip, at most %d allowed",
							what, i, iplen, DCF_MEMBER_IP_MAX - 1);
		if (rd_left(r) < iplen)
			return dcf_errf(errmsg, DCF_ERR_PROTO, "membership %s %u ip truncated", what, i);
		memcpy(m->ip, r->p, iplen);
		m->ip[iplen] = '\0';
		if (strlen(m->ip) != iplen)
			return dcf_errf(errmsg, DCF_ERR_PROTO, "%s %u ip contains a NUL byte", what, i);
		r->p += iplen;
	}
	return DCF_OK;
}

dcf_rc
dcf_membership_decode(const uint8_t *buf, size_t len, dcf_membership *ms, char *errmsg)
{
	rd			r = {buf, buf + len, false};
	uint8_t		version;
	dcf_rc		rc;

	memset(ms, 0, sizeof(*ms));
	if (len < 2)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "membership of %zu bytes is too short", len);
	version = rd_u8(&r);
	if (version != DCF_CODEC_VERSION)
		return dcf_errf(errmsg, DCF_ERR_VERSION, "membership format version %u, this node speaks %d",
						version, DCF_CODEC_VERSION);
	ms->n_members = rd_u8(&r);
	if (ms->n_members > DCF_MEMBERS_MAX)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "membership of %u members, at most %d allowed",
						ms->n_members, DCF_MEMBERS_MAX);
	if ((rc = rd_members(&r, ms->members, ms->n_members, "member", errmsg)) != DCF_OK)
		return rc;
	ms->prev_index = rd_u64(&r);
	ms->n_prev = rd_u8(&r);
	if (r.short_read)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "membership history truncated");
	if (ms->n_prev > DCF_MEMBERS_MAX)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "previous membership of %u members, at most %d allowed",
						ms->n_prev, DCF_MEMBERS_MAX);
	if ((rc = rd_members(&r, ms->prev, ms->n_prev, "previous member", errmsg)) != DCF_OK)
		return rc;
	ms->undo_index = rd_u64(&r);
	if (r.short_read)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "membership history truncated");
	if (rd_left(&r) != 0)
		return dcf_errf(errmsg, DCF_ERR_PROTO, "membership has %zu trailing bytes", rd_left(&r));
	if ((rc = dcf_membership_validate(ms, errmsg)) != DCF_OK)
		return dcf_errwrap(errmsg, DCF_ERR_PROTO, "decoding membership");
	return DCF_OK;
}
