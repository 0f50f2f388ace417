/*
 * feeder_wire.c — the WAL feeder's wire format: messages of the
 * frontend/backend protocol 3.0 built in place at the free tail of a
 * connection's fixed output buffer (fw_msg_*), and the replies every part
 * of the feeder sends: ErrorResponse, ReadyForQuery, CommandComplete,
 * RowDescription, ParameterStatus, CopyDone and the 'k' keepalive.
 *
 * Invariants kept here:
 *   - Integers go out big-endian (network order), as in every PostgreSQL
 *     message; a message's length is patched in last, by fw_msg_end.
 *   - The output buffer never grows (feeder.h invariant 5): a message that
 *     does not fit is dropped whole, never half-queued, and its sender
 *     closes the connection (feeder_conn_overflow), since a client that
 *     does not read its replies cannot be served.
 *   - Every ErrorResponse is also logged: the client is a walreceiver whose
 *     log may be on another terminal.
 */
#include "pg/feeder_int.h"

#include <string.h>

/* ---- output buffer and message building ---------------------------------- */

void
fw_msg_begin(feeder_conn *c, msgbuf *m, char type)
{
	if (c->out_head > 0)
	{
		/* compact, so the free tail is as large as it can be */
		memmove(c->out, c->out + c->out_head, out_pending(c));
		c->out_len -= c->out_head;
		c->out_head = 0;
	}
	m->c = c;
	m->data = c->out + c->out_len;
	m->cap = DCF_FEEDER_OUT_BUF_BYTES - c->out_len;
	m->len = 0;
	m->overflow = m->cap < 5;
	if (!m->overflow)
	{
		m->data[0] = type;
		m->len = 5;				/* type + length, patched by msg_end */
	}
}

void
fw_msg_bytes(msgbuf *m, const void *p, size_t n)
{
	if (m->overflow || n > m->cap - m->len)
	{
		m->overflow = true;
		return;
	}
	memcpy(m->data + m->len, p, n);
	m->len += n;
}

void
fw_msg_u8(msgbuf *m, uint8_t v)
{
	fw_msg_bytes(m, &v, 1);
}

void
fw_msg_u16(msgbuf *m, uint16_t v)
{
	char		b[2];

	b[0] = (char) (v >> 8);
	b[1] = (char) v;
	fw_msg_bytes(m, b, 2);
}

void
fw_msg_u32(msgbuf *m, uint32_t v)
{
	char		b[4];

	dcf_wire_put_u32(b, v);
	fw_msg_bytes(m, b, 4);
}

void
fw_msg_u64(msgbuf *m, uint64_t v)
{
	char		b[8];

	dcf_wire_put_u64(b, v);
	fw_msg_bytes(m, b, 8);
}

void
fw_msg_str(msgbuf *m, const char *s)
{
	fw_msg_bytes(m, s, strlen(s) + 1);
}

/* Patch the length and queue the message; false if it did not fit. */
bool
fw_msg_end(msgbuf *m)
{
	if (m->overflow)
		return false;
	dcf_wire_put_u32(m->data + 1, (uint32_t) (m->len - 1));
	m->c->out_len += m->len;
	return true;
}

/* A raw byte outside any message ('N' answers SSLRequest). */
bool
fw_raw_byte(feeder_conn *c, char b)
{
	if (c->out_len >= DCF_FEEDER_OUT_BUF_BYTES)
		return false;
	c->out[c->out_len++] = b;
	return true;
}

/*
 * Queue an ErrorResponse.  severity "ERROR" keeps the connection, "FATAL"
 * is followed by feeder_refuse()'s close.  Every error is logged: the client is a
 * walreceiver whose log may be on another terminal.
 */
bool
fw_send_error(dcf_feeder *f, feeder_conn *c, const char *severity, const char *sqlstate,
			  const char *message, const char *detail, const char *hint)
{
	msgbuf		m;

	feeder_log(f, DCF_FEEDER_WARNING, "WAL feeder client %llu%s%s%s: %s: %s%s%s%s",
			   (unsigned long long) c->id,
			   c->appname[0] ? " (\"" : "", c->appname, c->appname[0] ? "\")" : "",
			   severity, message,
			   detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
	fw_msg_begin(c, &m, 'E');
	fw_msg_u8(&m, 'S');
	fw_msg_str(&m, severity);
	fw_msg_u8(&m, 'V');
	fw_msg_str(&m, severity);
	fw_msg_u8(&m, 'C');
	fw_msg_str(&m, sqlstate);
	fw_msg_u8(&m, 'M');
	fw_msg_str(&m, message);
	if (detail)
	{
		fw_msg_u8(&m, 'D');
		fw_msg_str(&m, detail);
	}
	if (hint)
	{
		fw_msg_u8(&m, 'H');
		fw_msg_str(&m, hint);
	}
	fw_msg_u8(&m, 0);
	return fw_msg_end(&m);
}

bool
fw_send_ready(feeder_conn *c)
{
	msgbuf		m;

	fw_msg_begin(c, &m, 'Z');
	fw_msg_u8(&m, 'I');
	return fw_msg_end(&m);
}

bool
fw_send_keepalive(feeder_conn *c, int64_t now_us, bool reply_requested)
{
	msgbuf		m;

	fw_msg_begin(c, &m, 'd');
	fw_msg_u8(&m, 'k');
	fw_msg_u64(&m, c->sent_ptr);
	fw_msg_u64(&m, (uint64_t) dcf_wire_pg_time(now_us));
	fw_msg_u8(&m, reply_requested ? 1 : 0);
	return fw_msg_end(&m);
}

bool
fw_send_copy_done(feeder_conn *c)
{
	msgbuf		m;

	fw_msg_begin(c, &m, 'c');
	return fw_msg_end(&m);
}

bool
fw_send_command_complete(feeder_conn *c, const char *tag)
{
	msgbuf		m;

	fw_msg_begin(c, &m, 'C');
	fw_msg_str(&m, tag);
	return fw_msg_end(&m);
}

/* RowDescription of builtin-typed columns. */
void
fw_row_description(msgbuf *m, int ncols, const char *const *names, const uint32_t *types)
{
	int			i;

	fw_msg_u16(m, (uint16_t) ncols);
	for (i = 0; i < ncols; i++)
	{
		int16_t		typlen = types[i] == OID_INT4 ? 4 : types[i] == OID_INT8 ? 8 : -1;

		fw_msg_str(m, names[i]);
		fw_msg_u32(m, 0);			/* table OID */
		fw_msg_u16(m, 0);			/* column number */
		fw_msg_u32(m, types[i]);
		fw_msg_u16(m, (uint16_t) typlen);
		fw_msg_u32(m, UINT32_MAX); /* typmod -1 */
		fw_msg_u16(m, 0);			/* text format */
	}
}

bool
fw_send_parameter_status(feeder_conn *c, const char *name, const char *value)
{
	msgbuf		m;

	fw_msg_begin(c, &m, 'S');
	fw_msg_str(&m, name);
	fw_msg_str(&m, value);
	return fw_msg_end(&m);
}
