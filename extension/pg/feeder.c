/*
 * feeder.c — the WAL feeder: PostgreSQL 15's physical streaming replication
 * protocol, server side, on a Unix socket (see feeder.h for the contract
 * and the invariants).
 *
 * Connection states and the function for each transition:
 *
 *   accept_clients        -> STARTUP    (in a free slot; a slot still in
 *                                        STARTUP is evicted when none is free)
 *   handle_startup        STARTUP -> IDLE     (the connection becomes the
 *                                              active one; an older active
 *                                              connection is closed)
 *   handle_query          IDLE -> IDLE        (IDENTIFY_SYSTEM, TIMELINE_HISTORY,
 *                                              errors; ReadyForQuery each time)
 *   start_replication     IDLE -> STREAMING   (CopyBothResponse)
 *                         IDLE -> IDLE        (start == switch point: the
 *                                              end-of-timeline result at once)
 *   stream_send_more      STREAMING: 'w' messages; CopyDone at the switch
 *                                              point of an ended timeline
 *   finish_streaming      STREAMING -> IDLE   (CopyDone received and sent:
 *                                              next-timeline row, two
 *                                              CommandCompletes, ReadyForQuery)
 *   stream_fail           STREAMING -> IDLE   (ErrorResponse, ReadyForQuery)
 *   refuse                any -> CLOSING      (FATAL ErrorResponse, drained,
 *                                              then closed)
 *   conn_close            any -> FREE
 *
 * Only a connection that finished a valid replication startup packet can
 * displace the active walreceiver connection, so a stray or malformed
 * client never interrupts streaming.  Byte order on the wire is big-endian
 * (network order), as in every PostgreSQL message.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* accept4, struct ucred */
#endif

#include "pg/feeder.h"
#include "pg/walfile.h"
#include "core/dcf_assert.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/* Protocol constants (frontend/backend protocol 3.0). */
#define PROTO_MAJOR_3			3
#define PROTO_CODE(major, minor) (((uint32_t) (major) << 16) | (uint32_t) (minor))
#define CANCEL_REQUEST_CODE		PROTO_CODE(1234, 5678)
#define SSL_REQUEST_CODE		PROTO_CODE(1234, 5679)
#define GSSENC_REQUEST_CODE		PROTO_CODE(1234, 5680)

/* Type OIDs of the columns we send (pg_type.dat). */
#define OID_BYTEA				17
#define OID_INT8				20
#define OID_INT4				23
#define OID_TEXT				25

/* µs between the Unix epoch and PostgreSQL's (2000-01-01). */
#define PG_EPOCH_OFFSET_US		(INT64_C(946684800) * 1000000)

/* Keepalive-only wakeups: re-check the source this often while streaming. */
#define DCF_FEEDER_POLL_MS		1000

/* Replication command lexer bounds. */
#define QUERY_MAX_TOKENS		8
#define TOKEN_MAX_BYTES			128

/* 'w' header: kind, dataStart, walEnd, sendTime. */
#define WAL_MSG_HEADER_BYTES	(1 + 8 + 8 + 8)
/* 'r': kind, write, flush, apply, sendTime, replyRequested. */
#define REPLY_MSG_BYTES			(1 + 8 + 8 + 8 + 8 + 1)
/* 'h': kind, sendTime, xmin, epoch, catalog_xmin, epoch. */
#define HSFEEDBACK_MSG_BYTES	(1 + 8 + 4 + 4 + 4 + 4)

/* Slots: the active walreceiver and one newcomer finishing its startup. */
#define FEEDER_SLOTS			2

typedef enum conn_state
{
	CONN_FREE = 0,
	CONN_STARTUP,
	CONN_IDLE,
	CONN_STREAMING,
	CONN_CLOSING
} conn_state;

typedef struct feeder_conn
{
	int			fd;
	conn_state	state;
	uint64_t	id;				/* for log lines: "client 7" */
	int64_t		since_us;		/* accepted, or started closing */
	char		appname[64];

	char	   *in;				/* DCF_FEEDER_IN_BUF_BYTES */
	size_t		in_len;
	char	   *out;			/* DCF_FEEDER_OUT_BUF_BYTES */
	size_t		out_head;		/* first unsent byte */
	size_t		out_len;		/* end of queued bytes */

	/* streaming (START_REPLICATION) */
	uint32_t	send_tli;
	bool		historic;		/* send_tli has ended */
	dcf_lsn		valid_upto;		/* its switch point, when historic */
	uint32_t	next_tli;		/* its successor, when historic */
	dcf_lsn		start_lsn;
	dcf_lsn		sent_ptr;		/* next byte to send */
	bool		done_sending;	/* CopyDone sent */
	bool		done_receiving; /* CopyDone received */
	bool		caught_up;		/* nothing more to send until the source has more */
	bool		waiting_logged;
	int64_t		last_reply_us;
	bool		ping_sent;
	dcf_lsn		write_lsn;
	dcf_lsn		flush_lsn;
	dcf_lsn		apply_lsn;
} feeder_conn;

struct dcf_feeder
{
	dcf_feeder_source src;
	int			listen_fd;
	char		path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
	uint64_t	generation;
	int64_t		now_us;
	feeder_conn conn[FEEDER_SLOTS];
	int			active;			/* index into conn, or -1 */
	uint64_t	next_id;
	uint64_t	connections;
	uint64_t	refused;
	uint64_t	bytes_sent;
	/* ancestry of the streamed timeline (the latest history at its start) */
	dcf_walfile_history hist;
	dcf_walfile_history scratch;
	char		histbuf[DCF_FEEDER_HISTORY_MAX_BYTES];
};

/* ---- logging ----------------------------------------------------------- */

static void flog(dcf_feeder *f, dcf_feeder_log_level level, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static void
flog(dcf_feeder *f, dcf_feeder_log_level level, const char *fmt,...)
{
	char		msg[1024];
	va_list		ap;

	if (f->src.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f->src.log(f->src.ctx, level, msg);
}

static const char *
lsn_text(char buf[DCF_WALFILE_LSN_TEXT_BYTES], dcf_lsn lsn)
{
	return dcf_walfile_lsn_format(buf, lsn);
}

/* ---- big-endian integers ------------------------------------------------ */

static uint32_t
get_u32(const char *p)
{
	const unsigned char *u = (const unsigned char *) p;

	return ((uint32_t) u[0] << 24) | ((uint32_t) u[1] << 16) |
		((uint32_t) u[2] << 8) | (uint32_t) u[3];
}

static uint64_t
get_u64(const char *p)
{
	return ((uint64_t) get_u32(p) << 32) | get_u32(p + 4);
}

static void
put_u32(char *p, uint32_t v)
{
	p[0] = (char) (v >> 24);
	p[1] = (char) (v >> 16);
	p[2] = (char) (v >> 8);
	p[3] = (char) v;
}

static void
put_u64(char *p, uint64_t v)
{
	put_u32(p, (uint32_t) (v >> 32));
	put_u32(p + 4, (uint32_t) v);
}

/* ---- output buffer and message building ---------------------------------- */

static size_t
out_pending(const feeder_conn *c)
{
	return c->out_len - c->out_head;
}

/*
 * A message under construction at the free tail of a connection's output
 * buffer.  Appends past the bound set `overflow` instead of writing; the
 * message is then dropped by msg_end and the connection is closed by the
 * caller, since a client that does not read its replies cannot be served.
 */
typedef struct msgbuf
{
	feeder_conn *c;
	char	   *data;			/* start of the message (its type byte) */
	size_t		cap;
	size_t		len;
	bool		overflow;
} msgbuf;

static void
msg_begin(feeder_conn *c, msgbuf *m, char type)
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

static void
msg_bytes(msgbuf *m, const void *p, size_t n)
{
	if (m->overflow || n > m->cap - m->len)
	{
		m->overflow = true;
		return;
	}
	memcpy(m->data + m->len, p, n);
	m->len += n;
}

static void
msg_u8(msgbuf *m, uint8_t v)
{
	msg_bytes(m, &v, 1);
}

static void
msg_u16(msgbuf *m, uint16_t v)
{
	char		b[2];

	b[0] = (char) (v >> 8);
	b[1] = (char) v;
	msg_bytes(m, b, 2);
}

static void
msg_u32(msgbuf *m, uint32_t v)
{
	char		b[4];

	put_u32(b, v);
	msg_bytes(m, b, 4);
}

static void
msg_u64(msgbuf *m, uint64_t v)
{
	char		b[8];

	put_u64(b, v);
	msg_bytes(m, b, 8);
}

static void
msg_str(msgbuf *m, const char *s)
{
	msg_bytes(m, s, strlen(s) + 1);
}

/* Patch the length and queue the message; false if it did not fit. */
static bool
msg_end(msgbuf *m)
{
	if (m->overflow)
		return false;
	put_u32(m->data + 1, (uint32_t) (m->len - 1));
	m->c->out_len += m->len;
	return true;
}

/* A raw byte outside any message ('N' answers SSLRequest). */
static bool
out_raw_byte(feeder_conn *c, char b)
{
	if (c->out_len >= DCF_FEEDER_OUT_BUF_BYTES)
		return false;
	c->out[c->out_len++] = b;
	return true;
}

/* ---- connections --------------------------------------------------------- */

static void
conn_reset_stream(feeder_conn *c)
{
	c->send_tli = 0;
	c->historic = false;
	c->valid_upto = 0;
	c->next_tli = 0;
	c->start_lsn = 0;
	c->sent_ptr = 0;
	c->done_sending = false;
	c->done_receiving = false;
	c->caught_up = false;
	c->waiting_logged = false;
	c->ping_sent = false;
	c->last_reply_us = 0;
}

static void
conn_close(dcf_feeder *f, feeder_conn *c, dcf_feeder_log_level level, const char *why)
{
	int			idx = (int) (c - f->conn);

	if (c->state == CONN_FREE)
		return;
	flog(f, level, "WAL feeder client %llu%s%s%s: connection closed: %s",
		 (unsigned long long) c->id,
		 c->appname[0] ? " (\"" : "", c->appname, c->appname[0] ? "\")" : "", why);
	close(c->fd);
	c->fd = -1;
	c->state = CONN_FREE;
	c->in_len = 0;
	c->out_head = c->out_len = 0;
	c->appname[0] = '\0';
	conn_reset_stream(c);
	if (f->active == idx)
		f->active = -1;
	f->generation++;
}

/*
 * Queue an ErrorResponse.  severity "ERROR" keeps the connection, "FATAL"
 * is followed by refuse()'s close.  Every error is logged: the client is a
 * walreceiver whose log may be on another terminal.
 */
static bool
send_error(dcf_feeder *f, feeder_conn *c, const char *severity, const char *sqlstate,
		   const char *message, const char *detail, const char *hint)
{
	msgbuf		m;

	flog(f, DCF_FEEDER_WARNING, "WAL feeder client %llu%s%s%s: %s: %s%s%s%s",
		 (unsigned long long) c->id,
		 c->appname[0] ? " (\"" : "", c->appname, c->appname[0] ? "\")" : "",
		 severity, message,
		 detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
	msg_begin(c, &m, 'E');
	msg_u8(&m, 'S');
	msg_str(&m, severity);
	msg_u8(&m, 'V');
	msg_str(&m, severity);
	msg_u8(&m, 'C');
	msg_str(&m, sqlstate);
	msg_u8(&m, 'M');
	msg_str(&m, message);
	if (detail)
	{
		msg_u8(&m, 'D');
		msg_str(&m, detail);
	}
	if (hint)
	{
		msg_u8(&m, 'H');
		msg_str(&m, hint);
	}
	msg_u8(&m, 0);
	return msg_end(&m);
}

static bool
send_ready(feeder_conn *c)
{
	msgbuf		m;

	msg_begin(c, &m, 'Z');
	msg_u8(&m, 'I');
	return msg_end(&m);
}

/* The output bound was hit: nothing more can be said to this client. */
static void
conn_overflow(dcf_feeder *f, feeder_conn *c)
{
	f->refused++;
	conn_close(f, c, DCF_FEEDER_WARNING,
			   "output buffer full: the client does not read what it is sent");
}

/* FATAL ErrorResponse, then close once it is written (or after a drain timeout). */
static void refuse(dcf_feeder *f, feeder_conn *c, const char *sqlstate, const char *hint,
				   const char *fmt,...) __attribute__((format(printf, 5, 6)));

static void
refuse(dcf_feeder *f, feeder_conn *c, const char *sqlstate, const char *hint,
	   const char *fmt,...)
{
	char		message[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	f->refused++;
	if (!send_error(f, c, "FATAL", sqlstate, message, NULL, hint))
	{
		conn_close(f, c, DCF_FEEDER_WARNING, "output buffer full while refusing it");
		return;
	}
	c->state = CONN_CLOSING;
	c->since_us = f->now_us;
	c->in_len = 0;
	if (f->active == (int) (c - f->conn))
		f->active = -1;
}

/* ERROR + ReadyForQuery: the command failed, the connection stays. */
static void
command_error(dcf_feeder *f, feeder_conn *c, const char *sqlstate, const char *message,
			  const char *detail, const char *hint)
{
	if (!send_error(f, c, "ERROR", sqlstate, message, detail, hint) || !send_ready(c))
		conn_overflow(f, c);
}

/* Write queued output; closes the connection on a hard error. */
static void
conn_flush(dcf_feeder *f, feeder_conn *c)
{
	while (c->state != CONN_FREE && out_pending(c) > 0)
	{
		ssize_t		r = send(c->fd, c->out + c->out_head, out_pending(c),
							 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r > 0)
		{
			c->out_head += (size_t) r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		{
			char		why[256];

			snprintf(why, sizeof(why), "could not send to the client: %s",
					 r < 0 ? strerror(errno) : "zero-length write");
			conn_close(f, c, DCF_FEEDER_LOG, why);
		}
		return;
	}
	if (c->state == CONN_FREE)
		return;
	c->out_head = c->out_len = 0;
	if (c->state == CONN_CLOSING)
		conn_close(f, c, DCF_FEEDER_LOG, "refused");
}

/* ---- timeline knowledge -------------------------------------------------- */

/*
 * The source's position, checked.  errmsg is cleared first so a source that
 * fails without a message does not put stack garbage into an ErrorResponse.
 */
static dcf_rc
source_position(dcf_feeder *f, uint32_t *latest, dcf_lsn *xlogpos, char *errmsg)
{
	dcf_rc		rc;

	*latest = 0;
	*xlogpos = 0;
	errmsg[0] = '\0';
	rc = f->src.position(f->src.ctx, latest, xlogpos, errmsg);
	if (rc != DCF_OK)
		return errmsg[0] ? rc : dcf_errf(errmsg, rc, "%s", dcf_rc_name(rc));
	if (*latest == 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "the source reported timeline 0");
	return DCF_OK;
}

/* Parse the history of the source's timeline tli into h. */
static dcf_rc
load_history(dcf_feeder *f, uint32_t tli, dcf_walfile_history *h, char *errmsg)
{
	size_t		len = 0;
	dcf_rc		rc;

	if (tli == 1)
		return dcf_walfile_history_parse(1, "", 0, h, errmsg);
	errmsg[0] = '\0';
	rc = f->src.history(f->src.ctx, tli, f->histbuf, sizeof(f->histbuf), &len, errmsg);
	if (rc != DCF_OK)
	{
		if (errmsg[0] == '\0')
			dcf_errf(errmsg, rc, "%s", dcf_rc_name(rc));
		return dcf_errwrap(errmsg, rc, "could not get the history of timeline %u", tli);
	}
	if (len > sizeof(f->histbuf))
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"the source returned %zu bytes of history for a %zu-byte buffer",
						len, sizeof(f->histbuf));
	return dcf_walfile_history_parse(tli, f->histbuf, len, h, errmsg);
}

/* ---- streaming ----------------------------------------------------------- */

static void
stream_fail(dcf_feeder *f, feeder_conn *c, const char *sqlstate, const char *message,
			const char *detail, const char *hint)
{
	c->state = CONN_IDLE;
	conn_reset_stream(c);
	command_error(f, c, sqlstate, message, detail, hint);
}

static void
report_diverged(dcf_feeder *f, feeder_conn *c, uint32_t tli, dcf_lsn requested,
				dcf_lsn switchpoint, uint32_t next_tli, bool replayed)
{
	char		message[256];
	char		detail[256];
	char		a[DCF_WALFILE_LSN_TEXT_BYTES];
	char		b[DCF_WALFILE_LSN_TEXT_BYTES];
	const char *hint = "The standby's WAL diverged from the cluster's: rewind it with pg_rewind or rebuild it.";

	if (replayed)
		snprintf(message, sizeof(message),
				 "standby has replayed WAL up to %s on timeline %u, past this server's switch point",
				 lsn_text(a, requested), tli);
	else
		snprintf(message, sizeof(message),
				 "requested starting point %s on timeline %u is not in this server's history",
				 lsn_text(a, requested), tli);
	snprintf(detail, sizeof(detail),
			 "This server's history forked from timeline %u at %s.",
			 tli, lsn_text(b, switchpoint));
	if (c->state == CONN_STREAMING)
		stream_fail(f, c, "55000", message, detail, hint);
	else
		command_error(f, c, "55000", message, detail, hint);
	if (f->src.on_diverged)
		f->src.on_diverged(f->src.ctx, tli, requested, switchpoint, next_tli);
}

static void
report_wal_missing(dcf_feeder *f, feeder_conn *c, uint32_t tli, dcf_lsn lsn, const char *reason)
{
	char		message[256];
	char		a[DCF_WALFILE_LSN_TEXT_BYTES];

	snprintf(message, sizeof(message),
			 "requested WAL at %s on timeline %u is no longer available: this node must be rebuilt",
			 lsn_text(a, lsn), tli);
	stream_fail(f, c, "58P01", message, reason,
				"Rebuild the node from a fresh base backup of the leader.");
	if (f->src.on_wal_missing)
		f->src.on_wal_missing(f->src.ctx, tli, lsn, reason);
}

/* On an ended timeline, a replay position past its end proves divergence. */
static bool
check_replayed_past_end(dcf_feeder *f, feeder_conn *c)
{
	if (c->state != CONN_STREAMING || !c->historic || c->apply_lsn <= c->valid_upto)
		return false;
	report_diverged(f, c, c->send_tli, c->apply_lsn, c->valid_upto, c->next_tli, true);
	return true;
}

static bool
send_keepalive(feeder_conn *c, int64_t now_us, bool reply_requested)
{
	msgbuf		m;

	msg_begin(c, &m, 'd');
	msg_u8(&m, 'k');
	msg_u64(&m, c->sent_ptr);
	msg_u64(&m, (uint64_t) (now_us - PG_EPOCH_OFFSET_US));
	msg_u8(&m, reply_requested ? 1 : 0);
	return msg_end(&m);
}

static bool
send_copy_done(feeder_conn *c)
{
	msgbuf		m;

	msg_begin(c, &m, 'c');
	return msg_end(&m);
}

static bool
send_command_complete(feeder_conn *c, const char *tag)
{
	msgbuf		m;

	msg_begin(c, &m, 'C');
	msg_str(&m, tag);
	return msg_end(&m);
}

/* RowDescription of builtin-typed columns. */
static void
row_description(msgbuf *m, int ncols, const char *const *names, const uint32_t *types)
{
	int			i;

	msg_u16(m, (uint16_t) ncols);
	for (i = 0; i < ncols; i++)
	{
		int16_t		typlen = types[i] == OID_INT4 ? 4 : types[i] == OID_INT8 ? 8 : -1;

		msg_str(m, names[i]);
		msg_u32(m, 0);			/* table OID */
		msg_u16(m, 0);			/* column number */
		msg_u32(m, types[i]);
		msg_u16(m, (uint16_t) typlen);
		msg_u32(m, UINT32_MAX); /* typmod -1 */
		msg_u16(m, 0);			/* text format */
	}
}

/* The end-of-timeline result: row (next_tli, next_tli_startpos) when the
 * timeline has ended, CommandComplete twice, ReadyForQuery. */
static bool
send_end_of_streaming(feeder_conn *c)
{
	static const char *const names[2] = {"next_tli", "next_tli_startpos"};
	static const uint32_t types[2] = {OID_INT8, OID_TEXT};
	msgbuf		m;

	if (c->historic)
	{
		char		tli[16];
		char		pos[DCF_WALFILE_LSN_TEXT_BYTES];

		snprintf(tli, sizeof(tli), "%u", c->next_tli);
		lsn_text(pos, c->valid_upto);
		msg_begin(c, &m, 'T');
		row_description(&m, 2, names, types);
		if (!msg_end(&m))
			return false;
		msg_begin(c, &m, 'D');
		msg_u16(&m, 2);
		msg_u32(&m, (uint32_t) strlen(tli));
		msg_bytes(&m, tli, strlen(tli));
		msg_u32(&m, (uint32_t) strlen(pos));
		msg_bytes(&m, pos, strlen(pos));
		if (!msg_end(&m))
			return false;
	}
	/* PostgreSQL 15 sends both tags; libpqrcv_endstreaming expects both. */
	return send_command_complete(c, "START_STREAMING") &&
		send_command_complete(c, "START_REPLICATION") &&
		send_ready(c);
}

static void
finish_streaming(dcf_feeder *f, feeder_conn *c)
{
	char		a[DCF_WALFILE_LSN_TEXT_BYTES];
	char		b[DCF_WALFILE_LSN_TEXT_BYTES];

	if (c->historic)
		flog(f, DCF_FEEDER_LOG,
			 "WAL feeder client %llu: end of timeline %u at %s (sent up to %s); next timeline %u",
			 (unsigned long long) c->id, c->send_tli, lsn_text(a, c->valid_upto),
			 lsn_text(b, c->sent_ptr), c->next_tli);
	else
		flog(f, DCF_FEEDER_LOG,
			 "WAL feeder client %llu: the standby ended streaming at %s on timeline %u",
			 (unsigned long long) c->id, lsn_text(a, c->sent_ptr), c->send_tli);
	if (!send_end_of_streaming(c))
	{
		conn_overflow(f, c);
		return;
	}
	c->state = CONN_IDLE;
	conn_reset_stream(c);
}

/*
 * The timeline being streamed is no longer the latest: find where it ended
 * in the new latest timeline's history.
 */
static bool
timeline_became_historic(dcf_feeder *f, feeder_conn *c, uint32_t latest)
{
	char		errmsg[DCF_ERRMSG_MAX];
	char		message[DCF_ERRMSG_MAX + 64];
	char		a[DCF_WALFILE_LSN_TEXT_BYTES];
	char		b[DCF_WALFILE_LSN_TEXT_BYTES];
	const dcf_walfile_span *s;
	dcf_rc		rc;

	rc = load_history(f, latest, &f->scratch, errmsg);
	if (rc != DCF_OK)
	{
		snprintf(message, sizeof(message), "could not follow the switch to timeline %u: %s",
				 latest, errmsg);
		stream_fail(f, c, "XX000", message, NULL, NULL);
		return false;
	}
	s = dcf_walfile_history_find(&f->scratch, c->send_tli);
	if (s == NULL || s->end == DCF_WALFILE_LSN_END)
	{
		snprintf(message, sizeof(message),
				 "timeline %u is not in the history of this server's new timeline %u",
				 c->send_tli, latest);
		stream_fail(f, c, "XX000", message, NULL, NULL);
		return false;
	}
	c->historic = true;
	c->valid_upto = s->end;
	c->next_tli = (s + 1)->tli;
	memcpy(&f->hist, &f->scratch, sizeof(f->hist));
	flog(f, DCF_FEEDER_LOG,
		 "WAL feeder client %llu: timeline %u ended at %s, next timeline %u (sent up to %s)",
		 (unsigned long long) c->id, c->send_tli, lsn_text(a, c->valid_upto), c->next_tli,
		 lsn_text(b, c->sent_ptr));
	if (c->start_lsn > c->valid_upto)
	{
		/*
		 * It was waiting past what we could serve, and the timeline ended
		 * below its start: the start PostgreSQL would refuse (the standby's
		 * next record lies beyond the fork, so it replayed past it).
		 */
		report_diverged(f, c, c->send_tli, c->start_lsn, c->valid_upto, c->next_tli, false);
		return false;
	}
	return !check_replayed_past_end(f, c);
}

/*
 * Read WAL of the streamed history at [sent_ptr, sent_ptr + n) into dst,
 * stopping early when the source has no more yet.  Bytes below the begin
 * of send_tli are asked from the ancestor that owns them (invariant 3).
 * Returns how many bytes were read, or -1 when the stream was failed.
 */
static long
stream_read(dcf_feeder *f, feeder_conn *c, char *dst, size_t n)
{
	const dcf_walfile_span *own = dcf_walfile_history_find(&f->hist, c->send_tli);
	size_t		total = 0;
	char		errmsg[DCF_ERRMSG_MAX];

	DCF_ASSERT(own != NULL);
	while (total < n)
	{
		dcf_lsn		lsn = c->sent_ptr + total;
		const dcf_walfile_span *s = own;
		size_t		chunk = n - total;
		size_t		got = 0;
		dcf_rc		rc;

		if (lsn < own->begin)
		{
			s = dcf_walfile_history_owner(&f->hist, lsn);
			DCF_ASSERT(s != NULL && s->tli < own->tli);
		}
		if (s->end != DCF_WALFILE_LSN_END && chunk > s->end - lsn)
			chunk = (size_t) (s->end - lsn);
		errmsg[0] = '\0';
		rc = f->src.read(f->src.ctx, s->tli, lsn, dst + total, chunk, &got, errmsg);
		if (rc != DCF_OK && errmsg[0] == '\0')
			dcf_errf(errmsg, rc, "%s", dcf_rc_name(rc));
		if (rc == DCF_ERR_NOTFOUND)
		{
			report_wal_missing(f, c, s->tli, lsn, errmsg);
			return -1;
		}
		if (rc != DCF_OK || got > chunk)
		{
			char		message[DCF_ERRMSG_MAX + 64];
			char		a[DCF_WALFILE_LSN_TEXT_BYTES];

			if (rc == DCF_OK)
				snprintf(errmsg, sizeof(errmsg), "the source returned %zu bytes for %zu asked",
						 got, chunk);
			snprintf(message, sizeof(message), "could not read WAL at %s on timeline %u: %s",
					 lsn_text(a, lsn), s->tli, errmsg);
			stream_fail(f, c, "XX000", message, NULL, NULL);
			return -1;
		}
		if (got == 0)
			break;
		total += got;
	}
	return (long) total;
}

/*
 * Queue WAL until the output reaches its low-water mark, the source has no
 * more, or the timeline ends (then CopyDone).  The walsender's
 * XLogSendPhysical, restated for a source instead of pg_wal.
 */
static void
stream_send_more(dcf_feeder *f, feeder_conn *c)
{
	char		errmsg[DCF_ERRMSG_MAX];
	char		message[DCF_ERRMSG_MAX + 64];

	/* stays false only when we stop for the output bound (see service) */
	c->caught_up = true;
	while (c->state == CONN_STREAMING && !c->done_sending)
	{
		dcf_lsn		limit;
		dcf_lsn		end;
		msgbuf		m;
		long		got;
		char	   *hdr;

		if (out_pending(c) >= DCF_FEEDER_OUT_LOW_WATER_BYTES)
		{
			c->caught_up = false;
			return;
		}
		if (!c->historic)
		{
			uint32_t	latest = 0;
			dcf_lsn		xlogpos = 0;

			if (source_position(f, &latest, &xlogpos, errmsg) != DCF_OK)
			{
				snprintf(message, sizeof(message), "could not determine the WAL position: %s", errmsg);
				stream_fail(f, c, "XX000", message, NULL, NULL);
				return;
			}
			if (latest != c->send_tli)
			{
				if (!timeline_became_historic(f, c, latest))
					return;
				continue;
			}
			limit = xlogpos;
		}
		else
		{
			if (c->sent_ptr >= c->valid_upto)
			{
				/*
				 * The whole timeline has been sent.  sent_ptr can be past the
				 * switch point when the timeline ended after we had sent bytes
				 * beyond it; they belong to a record the standby cannot replay
				 * either, so it can still follow the switch (as in PostgreSQL).
				 */
				if (!send_copy_done(c))
				{
					conn_overflow(f, c);
					return;
				}
				c->done_sending = true;
				return;
			}
			limit = c->valid_upto;
		}

		if (c->sent_ptr >= limit)
		{
			if (!c->waiting_logged && c->sent_ptr > limit)
			{
				char		a[DCF_WALFILE_LSN_TEXT_BYTES];
				char		b[DCF_WALFILE_LSN_TEXT_BYTES];

				flog(f, DCF_FEEDER_LOG,
					 "WAL feeder client %llu: start %s is ahead of what can be served (%s); waiting for committed WAL",
					 (unsigned long long) c->id, lsn_text(a, c->sent_ptr), lsn_text(b, limit));
				c->waiting_logged = true;
			}
			return;				/* caught up */
		}

		/*
		 * At most DCF_FEEDER_MAX_SEND_BYTES; when cut by that bound, cut at a
		 * page boundary (a long record continues on the next page, so a page
		 * boundary is always a clean cut).
		 */
		end = limit;
		if (end - c->sent_ptr > DCF_FEEDER_MAX_SEND_BYTES)
		{
			end = c->sent_ptr + DCF_FEEDER_MAX_SEND_BYTES;
			end -= end % DCF_FEEDER_PAGE_BYTES;
		}

		msg_begin(c, &m, 'd');
		hdr = m.data + m.len;
		msg_u8(&m, 'w');
		msg_u64(&m, c->sent_ptr);	/* dataStart */
		msg_u64(&m, limit);			/* walEnd */
		msg_u64(&m, 0);				/* sendTime, set below */
		if (m.overflow || m.cap - m.len < end - c->sent_ptr)
		{
			conn_overflow(f, c);
			return;
		}
		got = stream_read(f, c, m.data + m.len, (size_t) (end - c->sent_ptr));
		if (got <= 0)
			return;				/* failed, or nothing available yet */
		m.len += (size_t) got;
		put_u64(hdr + 17, (uint64_t) (f->now_us - PG_EPOCH_OFFSET_US));
		if (!msg_end(&m))
		{
			conn_overflow(f, c);
			return;
		}
		c->sent_ptr += (dcf_lsn) got;
		c->waiting_logged = false;
		f->bytes_sent += (uint64_t) got;
	}
}

static void
start_replication(dcf_feeder *f, feeder_conn *c, const char *slot, dcf_lsn start,
				  uint32_t tli)
{
	char		errmsg[DCF_ERRMSG_MAX];
	char		message[DCF_ERRMSG_MAX + 64];
	char		a[DCF_WALFILE_LSN_TEXT_BYTES];
	char		b[DCF_WALFILE_LSN_TEXT_BYTES];
	uint32_t	latest = 0;
	dcf_lsn		xlogpos = 0;
	const dcf_walfile_span *s;
	msgbuf		m;

	if (source_position(f, &latest, &xlogpos, errmsg) != DCF_OK)
	{
		snprintf(message, sizeof(message), "could not determine the WAL position: %s", errmsg);
		command_error(f, c, "XX000", message, NULL, NULL);
		return;
	}
	if (tli == 0)
		tli = latest;
	if (load_history(f, latest, &f->hist, errmsg) != DCF_OK)
	{
		command_error(f, c, "XX000", errmsg, NULL, NULL);
		return;
	}
	s = dcf_walfile_history_find(&f->hist, tli);
	if (s == NULL)
	{
		char		detail[128];

		snprintf(message, sizeof(message),
				 "requested timeline %u is not in this server's history", tli);
		snprintf(detail, sizeof(detail), "This server's latest timeline is %u.", latest);
		command_error(f, c, "55000", message, detail,
					  "The standby's WAL diverged from the cluster's: rewind it with pg_rewind or rebuild it.");
		if (f->src.on_diverged)
			f->src.on_diverged(f->src.ctx, tli, start, 0, 0);
		return;
	}

	conn_reset_stream(c);
	c->send_tli = tli;
	c->start_lsn = start;
	c->sent_ptr = start;
	c->historic = tli != latest;
	if (c->historic)
	{
		c->valid_upto = s->end;
		c->next_tli = (s + 1)->tli;
		/* PostgreSQL's check: a start past the fork is not our history */
		if (start > c->valid_upto)
		{
			dcf_lsn		sw = c->valid_upto;
			uint32_t	next = c->next_tli;

			conn_reset_stream(c);
			report_diverged(f, c, tli, start, sw, next, false);
			return;
		}
	}
	flog(f, DCF_FEEDER_LOG,
		 "WAL feeder client %llu (\"%s\"): START_REPLICATION%s%s %s TIMELINE %u (latest timeline %u, %s %s)",
		 (unsigned long long) c->id, c->appname, slot ? " SLOT " : "", slot ? slot : "",
		 lsn_text(a, start), tli, latest,
		 c->historic ? "ended at" : "servable up to",
		 lsn_text(b, c->historic ? c->valid_upto : xlogpos));

	if (c->historic && start == c->valid_upto)
	{
		/* Nothing to stream: PostgreSQL skips COPY mode too. */
		if (!send_end_of_streaming(c))
			conn_overflow(f, c);
		else
			conn_reset_stream(c);
		return;
	}

	/* CopyBothResponse: overall text format, no columns */
	msg_begin(c, &m, 'W');
	msg_u8(&m, 0);
	msg_u16(&m, 0);
	if (!msg_end(&m))
	{
		conn_overflow(f, c);
		return;
	}
	c->state = CONN_STREAMING;
	c->last_reply_us = f->now_us;
	stream_send_more(f, c);
}

/* ---- replication commands -------------------------------------------------- */

typedef struct token
{
	char		text[TOKEN_MAX_BYTES];
	bool		quoted;
} token;

/*
 * Split a replication command into words, "quoted identifiers" and ';'.
 * Returns the number of tokens, or -1 on a character or length the
 * replication grammar does not allow.
 */
static int
tokenize(const char *q, token *tok, int max)
{
	int			n = 0;

	for (;;)
	{
		size_t		len = 0;

		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q == '\0')
			return n;
		if (n == max)
			return -1;
		tok[n].quoted = false;
		if (*q == ';')
		{
			strcpy(tok[n].text, ";");
			q++;
		}
		else if (*q == '"')
		{
			q++;
			for (;;)
			{
				if (*q == '\0')
					return -1;
				if (*q == '"')
				{
					if (q[1] != '"')
						break;
					q++;
				}
				if (len + 1 >= TOKEN_MAX_BYTES)
					return -1;
				tok[n].text[len++] = *q++;
			}
			q++;
			tok[n].text[len] = '\0';
			tok[n].quoted = true;
		}
		else if (isalnum((unsigned char) *q) || *q == '_')
		{
			while (isalnum((unsigned char) *q) || *q == '_' || *q == '/')
			{
				if (len + 1 >= TOKEN_MAX_BYTES)
					return -1;
				tok[n].text[len++] = *q++;
			}
			tok[n].text[len] = '\0';
		}
		else
			return -1;
		n++;
	}
}

static bool
is_keyword(const token *t, const char *kw)
{
	return !t->quoted && strcasecmp(t->text, kw) == 0;
}

static bool
parse_uint32_dec(const char *s, uint32_t *v)
{
	uint64_t	acc = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9')
			return false;
		acc = acc * 10 + (uint64_t) (*s - '0');
		if (acc > UINT32_MAX)
			return false;
	}
	*v = (uint32_t) acc;
	return true;
}

static void
identify_system(dcf_feeder *f, feeder_conn *c)
{
	static const char *const names[4] = {"systemid", "timeline", "xlogpos", "dbname"};
	static const uint32_t types[4] = {OID_TEXT, OID_INT4, OID_TEXT, OID_TEXT};
	char		errmsg[DCF_ERRMSG_MAX];
	char		message[DCF_ERRMSG_MAX + 64];
	char		sysid[24];
	char		tlitext[16];
	char		pos[DCF_WALFILE_LSN_TEXT_BYTES];
	uint32_t	latest = 0;
	dcf_lsn		xlogpos = 0;
	msgbuf		m;

	if (source_position(f, &latest, &xlogpos, errmsg) != DCF_OK)
	{
		snprintf(message, sizeof(message), "could not determine the WAL position: %s", errmsg);
		command_error(f, c, "XX000", message, NULL, NULL);
		return;
	}
	snprintf(sysid, sizeof(sysid), "%llu", (unsigned long long) f->src.system_id);
	snprintf(tlitext, sizeof(tlitext), "%u", latest);
	lsn_text(pos, xlogpos);
	flog(f, DCF_FEEDER_DEBUG, "WAL feeder client %llu: IDENTIFY_SYSTEM: timeline %u, xlogpos %s",
		 (unsigned long long) c->id, latest, pos);

	msg_begin(c, &m, 'T');
	row_description(&m, 4, names, types);
	if (!msg_end(&m))
		goto overflow;
	msg_begin(c, &m, 'D');
	msg_u16(&m, 4);
	msg_u32(&m, (uint32_t) strlen(sysid));
	msg_bytes(&m, sysid, strlen(sysid));
	msg_u32(&m, (uint32_t) strlen(tlitext));
	msg_bytes(&m, tlitext, strlen(tlitext));
	msg_u32(&m, (uint32_t) strlen(pos));
	msg_bytes(&m, pos, strlen(pos));
	msg_u32(&m, UINT32_MAX);	/* dbname: NULL, physical replication */
	if (!msg_end(&m) || !send_command_complete(c, "IDENTIFY_SYSTEM") || !send_ready(c))
		goto overflow;
	return;

overflow:
	conn_overflow(f, c);
}

static void
timeline_history(dcf_feeder *f, feeder_conn *c, uint32_t tli)
{
	static const char *const names[2] = {"filename", "content"};
	static const uint32_t types[2] = {OID_TEXT, OID_BYTEA};
	char		errmsg[DCF_ERRMSG_MAX];
	char		fname[DCF_WALFILE_NAME_BYTES];
	size_t		len = 0;
	dcf_rc		rc;
	msgbuf		m;

	errmsg[0] = '\0';
	rc = tli < 2 ? dcf_errf(errmsg, DCF_ERR_NOTFOUND, "timeline 1 has no history file")
		: f->src.history(f->src.ctx, tli, f->histbuf, sizeof(f->histbuf), &len, errmsg);
	if (rc != DCF_OK && errmsg[0] == '\0')
		dcf_errf(errmsg, rc, "%s", dcf_rc_name(rc));
	if (rc == DCF_OK && len > sizeof(f->histbuf))
		rc = dcf_errf(errmsg, DCF_ERR_INVALID, "the source returned an oversized history");
	if (rc != DCF_OK)
	{
		char		message[DCF_ERRMSG_MAX + 64];

		snprintf(message, sizeof(message), "could not send the history file of timeline %u: %s",
				 tli, errmsg);
		command_error(f, c, rc == DCF_ERR_NOTFOUND ? "58P01" : "XX000", message, NULL, NULL);
		return;
	}
	dcf_walfile_history_name(fname, tli);
	flog(f, DCF_FEEDER_LOG, "WAL feeder client %llu: TIMELINE_HISTORY %u (%zu bytes)",
		 (unsigned long long) c->id, tli, len);

	msg_begin(c, &m, 'T');
	row_description(&m, 2, names, types);
	if (!msg_end(&m))
		goto overflow;
	msg_begin(c, &m, 'D');
	msg_u16(&m, 2);
	msg_u32(&m, (uint32_t) strlen(fname));
	msg_bytes(&m, fname, strlen(fname));
	/* raw bytes, as the walsender sends them */
	msg_u32(&m, (uint32_t) len);
	msg_bytes(&m, f->histbuf, len);
	if (!msg_end(&m) || !send_command_complete(c, "TIMELINE_HISTORY") || !send_ready(c))
		goto overflow;
	return;

overflow:
	conn_overflow(f, c);
}

static void
handle_query(dcf_feeder *f, feeder_conn *c, const char *q)
{
	token		tok[QUERY_MAX_TOKENS];
	int			n = tokenize(q, tok, QUERY_MAX_TOKENS);
	uint32_t	tli = 0;
	char		message[256];

	if (n > 0 && strcmp(tok[n - 1].text, ";") == 0 && !tok[n - 1].quoted)
		n--;
	if (n == 0)
	{
		msgbuf		m;

		msg_begin(c, &m, 'I');	/* EmptyQueryResponse */
		if (!msg_end(&m) || !send_ready(c))
			conn_overflow(f, c);
		return;
	}
	if (n < 0)
		goto syntax;

	if (is_keyword(&tok[0], "IDENTIFY_SYSTEM") && n == 1)
	{
		identify_system(f, c);
		return;
	}
	if (is_keyword(&tok[0], "TIMELINE_HISTORY") && n == 2)
	{
		if (tok[1].quoted || !parse_uint32_dec(tok[1].text, &tli) || tli == 0)
		{
			snprintf(message, sizeof(message), "invalid timeline \"%s\"", tok[1].text);
			command_error(f, c, "42601", message, NULL, NULL);
			return;
		}
		timeline_history(f, c, tli);
		return;
	}
	if (is_keyword(&tok[0], "START_REPLICATION"))
	{
		const char *slot = NULL;
		dcf_lsn		start;
		int			i = 1;

		if (i < n && is_keyword(&tok[i], "SLOT"))
		{
			if (i + 1 >= n)
				goto syntax;
			slot = tok[i + 1].text;
			i += 2;
		}
		if (i < n && is_keyword(&tok[i], "LOGICAL"))
		{
			command_error(f, c, "0A000",
						  "the dcf WAL feeder serves physical replication only", NULL, NULL);
			return;
		}
		if (i < n && is_keyword(&tok[i], "PHYSICAL"))
			i++;
		if (i >= n || tok[i].quoted || !dcf_walfile_lsn_parse(tok[i].text, &start))
			goto syntax;
		i++;
		if (i < n)
		{
			if (!is_keyword(&tok[i], "TIMELINE") || i + 2 != n)
				goto syntax;
			if (tok[i + 1].quoted || !parse_uint32_dec(tok[i + 1].text, &tli) || tli == 0)
			{
				snprintf(message, sizeof(message), "invalid timeline \"%s\"", tok[i + 1].text);
				command_error(f, c, "42601", message, NULL, NULL);
				return;
			}
		}
		start_replication(f, c, slot, start, tli);
		return;
	}
	if (is_keyword(&tok[0], "CREATE_REPLICATION_SLOT") || is_keyword(&tok[0], "DROP_REPLICATION_SLOT") ||
		is_keyword(&tok[0], "READ_REPLICATION_SLOT") || is_keyword(&tok[0], "BASE_BACKUP") ||
		is_keyword(&tok[0], "SHOW"))
	{
		snprintf(message, sizeof(message), "%s is not supported by the dcf WAL feeder", tok[0].text);
		command_error(f, c, "0A000", message, NULL,
					  "The feeder serves IDENTIFY_SYSTEM, TIMELINE_HISTORY and START_REPLICATION.");
		return;
	}

syntax:
	command_error(f, c, "42601", "syntax error in replication command", NULL,
				  "The feeder serves IDENTIFY_SYSTEM, TIMELINE_HISTORY and START_REPLICATION.");
}

/* ---- startup --------------------------------------------------------------- */

static bool
is_true_word(const char *v)
{
	return strcasecmp(v, "true") == 0 || strcasecmp(v, "on") == 0 ||
		strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0;
}

static bool
send_parameter_status(feeder_conn *c, const char *name, const char *value)
{
	msgbuf		m;

	msg_begin(c, &m, 'S');
	msg_str(&m, name);
	msg_str(&m, value);
	return msg_end(&m);
}

/* Become the active connection, displacing an older one. */
static void
make_active(dcf_feeder *f, feeder_conn *c)
{
	int			idx = (int) (c - f->conn);

	if (f->active >= 0 && f->active != idx)
		conn_close(f, &f->conn[f->active], DCF_FEEDER_LOG, "replaced by a new walreceiver connection");
	f->active = idx;
}

/*
 * A complete startup packet of len bytes (already consumed).  Returns false when the
 * connection was refused or closed.
 */
static bool
handle_startup(dcf_feeder *f, feeder_conn *c, const char *pkt, uint32_t len)
{
	uint32_t	code = get_u32(pkt + 4);
	const char *p = pkt + 8;
	const char *end = pkt + len;
	const char *replication = NULL;
	const char *appname = NULL;
	const char *unrecognized[8];
	int			nunrecognized = 0;
	uint32_t	minor;
	msgbuf		m;
	int			i;

	if (code == SSL_REQUEST_CODE || code == GSSENC_REQUEST_CODE)
	{
		if (len != 8)
		{
			refuse(f, c, "08P01", NULL, "invalid length of %s packet",
				   code == SSL_REQUEST_CODE ? "SSLRequest" : "GSSENCRequest");
			return false;
		}
		/* no encryption on a local socket: 'N', then the real startup packet */
		if (!out_raw_byte(c, 'N'))
		{
			conn_overflow(f, c);
			return false;
		}
		return true;
	}
	if (code == CANCEL_REQUEST_CODE)
	{
		conn_close(f, c, DCF_FEEDER_LOG, "cancel request ignored (nothing to cancel)");
		return false;
	}
	if ((code >> 16) != PROTO_MAJOR_3)
	{
		refuse(f, c, "0A000", NULL,
			   "unsupported frontend protocol %u.%u: server supports 3.0 to 3.0",
			   code >> 16, code & 0xFFFF);
		return false;
	}
	minor = code & 0xFFFF;

	if (len < 9 || end[-1] != '\0')
	{
		refuse(f, c, "08P01", NULL, "invalid startup packet layout: expected terminator as last byte");
		return false;
	}
	/* name\0value\0 ... \0: end[-1] is the final terminator */
	while (*p != '\0')
	{
		const char *name = p;
		const char *name_end = memchr(p, '\0', (size_t) (end - p));
		const char *value;
		const char *value_end;

		if (name_end == end - 1)
		{
			refuse(f, c, "08P01", NULL, "invalid startup packet layout: parameter \"%.32s\" has no value", name);
			return false;
		}
		value = name_end + 1;
		value_end = memchr(value, '\0', (size_t) (end - value));
		if (value_end == end - 1)
		{
			refuse(f, c, "08P01", NULL, "invalid startup packet layout: expected terminator as last byte");
			return false;
		}
		if (strcmp(name, "replication") == 0)
			replication = value;
		else if (strcmp(name, "application_name") == 0)
			appname = value;
		else if (strncmp(name, "_pq_.", 5) == 0 && nunrecognized < 8)
			unrecognized[nunrecognized++] = name;
		p = value_end + 1;
	}
	if (p != end - 1)
	{
		refuse(f, c, "08P01", NULL, "invalid startup packet layout: expected terminator as last byte");
		return false;
	}

	if (appname)
	{
		size_t		j;

		/* printable ASCII only, as PostgreSQL cleans it */
		for (j = 0; j + 1 < sizeof(c->appname) && appname[j]; j++)
			c->appname[j] = (appname[j] >= 32 && appname[j] < 127) ? appname[j] : '?';
		c->appname[j] = '\0';
	}
	if (replication == NULL || strcasecmp(replication, "database") == 0 || !is_true_word(replication))
	{
		refuse(f, c, "0A000", "Connect with replication=true, as a walreceiver does.",
			   "the dcf WAL feeder accepts only physical replication connections");
		return false;
	}

	if (minor > 0 || nunrecognized > 0)
	{
		/* NegotiateProtocolVersion: we speak 3.0 and no _pq_ options */
		msg_begin(c, &m, 'v');
		msg_u32(&m, PROTO_CODE(3, 0));
		msg_u32(&m, (uint32_t) nunrecognized);
		for (i = 0; i < nunrecognized; i++)
			msg_str(&m, unrecognized[i]);
		if (!msg_end(&m))
			goto overflow;
	}

	/* AuthenticationOk: the socket is mode 0600, only our OS user gets here */
	msg_begin(c, &m, 'R');
	msg_u32(&m, 0);
	if (!msg_end(&m))
		goto overflow;
	if (!send_parameter_status(c, "application_name", c->appname) ||
		!send_parameter_status(c, "client_encoding", "UTF8") ||
		!send_parameter_status(c, "DateStyle", "ISO, MDY") ||
		!send_parameter_status(c, "integer_datetimes", "on") ||
		!send_parameter_status(c, "IntervalStyle", "postgres") ||
		!send_parameter_status(c, "server_encoding", "UTF8") ||
		!send_parameter_status(c, "server_version", DCF_FEEDER_SERVER_VERSION) ||
		!send_parameter_status(c, "standard_conforming_strings", "on"))
		goto overflow;
	/* BackendKeyData: cancel requests are ignored, any key will do */
	msg_begin(c, &m, 'K');
	msg_u32(&m, (uint32_t) getpid());
	msg_u32(&m, (uint32_t) c->id);
	if (!msg_end(&m) || !send_ready(c))
		goto overflow;

	c->state = CONN_IDLE;
	make_active(f, c);
	flog(f, DCF_FEEDER_LOG, "WAL feeder client %llu (\"%s\") connected",
		 (unsigned long long) c->id, c->appname);
	return true;

overflow:
	conn_overflow(f, c);
	return false;
}

/* ---- input ----------------------------------------------------------------- */

static void
consume_input(feeder_conn *c, size_t n)
{
	DCF_ASSERT(n <= c->in_len);
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* A CopyData from the standby while streaming. */
static bool
handle_copy_data(dcf_feeder *f, feeder_conn *c, const char *body, size_t len)
{
	if (len < 1)
	{
		refuse(f, c, "08P01", NULL, "empty CopyData message from the standby");
		return false;
	}
	if (body[0] == 'r')
	{
		uint64_t	reply_time;
		bool		reply_requested;

		if (len < REPLY_MSG_BYTES)
		{
			refuse(f, c, "08P01", NULL, "standby status message of %zu bytes, expected %d",
				   len, REPLY_MSG_BYTES);
			return false;
		}
		c->write_lsn = get_u64(body + 1);
		c->flush_lsn = get_u64(body + 9);
		c->apply_lsn = get_u64(body + 17);
		reply_time = get_u64(body + 25);
		reply_requested = body[33] != 0;
		if (f->src.on_reply)
			f->src.on_reply(f->src.ctx, c->write_lsn, c->flush_lsn, c->apply_lsn,
							(int64_t) reply_time + PG_EPOCH_OFFSET_US);
		if (check_replayed_past_end(f, c))
			return true;
		if (reply_requested && !c->done_sending && !send_keepalive(c, f->now_us, false))
		{
			conn_overflow(f, c);
			return false;
		}
		return true;
	}
	if (body[0] == 'h')
	{
		if (len < HSFEEDBACK_MSG_BYTES)
		{
			refuse(f, c, "08P01", NULL, "hot standby feedback message of %zu bytes, expected %d",
				   len, HSFEEDBACK_MSG_BYTES);
			return false;
		}
		if (f->src.on_feedback)
			f->src.on_feedback(f->src.ctx, get_u32(body + 9), get_u32(body + 13),
							   get_u32(body + 17), get_u32(body + 21));
		return true;
	}
	refuse(f, c, "08P01", NULL, "unexpected standby message type \"%c\"",
		   isprint((unsigned char) body[0]) ? body[0] : '?');
	return false;
}

/*
 * Handle every complete message in the input buffer, while the output is
 * below its high-water mark.  Stops when the connection leaves a state that
 * reads messages.  Each message is copied out and consumed before it is
 * handled, since handling can close the connection and reset its buffers.
 */
static void
process_input(dcf_feeder *f, feeder_conn *c)
{
	char		msg[DCF_FEEDER_STARTUP_MAX_BYTES + 1];

	while (c->state == CONN_STARTUP || c->state == CONN_IDLE || c->state == CONN_STREAMING)
	{
		char		type;
		uint32_t	len;
		size_t		blen;

		if (out_pending(c) > DCF_FEEDER_OUT_HIGH_WATER_BYTES)
			return;

		if (c->state == CONN_STARTUP)
		{
			if (c->in_len < 4)
				return;
			len = get_u32(c->in);
			if (len < 8 || len > DCF_FEEDER_STARTUP_MAX_BYTES)
			{
				refuse(f, c, "08P01", NULL, "invalid length of startup packet (%u bytes)", len);
				return;
			}
			if (c->in_len < len)
				return;
			memcpy(msg, c->in, len);
			consume_input(c, len);
			if (!handle_startup(f, c, msg, len))
				return;
			continue;
		}

		if (c->in_len < 5)
			return;
		type = c->in[0];
		len = get_u32(c->in + 1);
		if (len < 4 || len - 4 > DCF_FEEDER_CLIENT_MSG_MAX_BYTES)
		{
			refuse(f, c, "08P01", NULL, "invalid length %u of a message of type \"%c\" (the limit is %d bytes)",
				   len, isprint((unsigned char) type) ? type : '?', DCF_FEEDER_CLIENT_MSG_MAX_BYTES);
			return;
		}
		if (c->in_len < (size_t) len + 1)
			return;
		blen = len - 4;
		memcpy(msg, c->in + 5, blen);
		msg[blen] = '\0';
		consume_input(c, (size_t) len + 1);

		if (type == 'X')
		{
			conn_close(f, c, DCF_FEEDER_LOG, "terminated by the client");
			return;
		}
		if (c->state == CONN_IDLE)
		{
			if (type == 'Q')
			{
				if (blen == 0 || memchr(msg, '\0', blen) != msg + blen - 1)
				{
					refuse(f, c, "08P01", NULL, "invalid string in a query message");
					return;
				}
				handle_query(f, c, msg);
				continue;
			}
			if (type == 'd' || type == 'c' || type == 'f')
				continue;		/* a COPY that failed on our side: the client may still be sending */
			refuse(f, c, "08P01", "Only the simple query protocol is served.",
				   "unexpected message type \"%c\"", isprint((unsigned char) type) ? type : '?');
			return;
		}

		/* CONN_STREAMING */
		if (c->done_receiving)
		{
			refuse(f, c, "08P01", NULL, "unexpected standby message type \"%c\", after receiving CopyDone",
				   isprint((unsigned char) type) ? type : '?');
			return;
		}
		c->last_reply_us = f->now_us;
		c->ping_sent = false;
		if (type == 'd')
		{
			if (!handle_copy_data(f, c, msg, blen))
				return;
			continue;
		}
		if (type == 'c')
		{
			c->done_receiving = true;
			if (!c->done_sending)
			{
				if (!send_copy_done(c))
				{
					conn_overflow(f, c);
					return;
				}
				c->done_sending = true;
			}
			finish_streaming(f, c);
			continue;
		}
		refuse(f, c, "08P01", NULL, "invalid standby message type \"%c\"",
			   isprint((unsigned char) type) ? type : '?');
		return;
	}
}

/* Read what the socket has, handling messages as they complete. */
static void
conn_read(dcf_feeder *f, feeder_conn *c)
{
	for (;;)
	{
		ssize_t		r;

		process_input(f, c);
		if (c->state == CONN_FREE || c->state == CONN_CLOSING ||
			out_pending(c) > DCF_FEEDER_OUT_HIGH_WATER_BYTES)
			return;
		/*
		 * Bounds are checked before waiting for a body, so a full buffer
		 * always holds a complete message; never trust that on a network path.
		 */
		if (c->in_len >= DCF_FEEDER_IN_BUF_BYTES)
		{
			refuse(f, c, "08P01", NULL, "input buffer full");
			return;
		}
		r = recv(c->fd, c->in + c->in_len, DCF_FEEDER_IN_BUF_BYTES - c->in_len, MSG_DONTWAIT);
		if (r > 0)
		{
			c->in_len += (size_t) r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r == 0)
			conn_close(f, c, DCF_FEEDER_LOG,
					   c->state == CONN_STREAMING ? "the standby closed the connection while streaming"
					   : "the client closed the connection");
		else
		{
			char		why[256];

			snprintf(why, sizeof(why), "could not receive from the client: %s", strerror(errno));
			conn_close(f, c, DCF_FEEDER_LOG, why);
		}
		return;
	}
}

/* ---- listening -------------------------------------------------------------- */

static void
accept_clients(dcf_feeder *f)
{
	int			attempts;

	for (attempts = 0; attempts < 8; attempts++)
	{
		int			fd = accept4(f->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		feeder_conn *c = NULL;
		int			i;

		if (fd < 0)
		{
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				flog(f, DCF_FEEDER_WARNING, "WAL feeder: could not accept a connection: %s",
					 strerror(errno));
			return;
		}
#ifdef SO_PEERCRED
		{
			struct ucred cred;
			socklen_t	credlen = sizeof(cred);

			/* defence in depth: the socket's mode already limits this */
			if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) != 0 ||
				cred.uid != geteuid())
			{
				flog(f, DCF_FEEDER_WARNING,
					 "WAL feeder: refused a connection from another OS user (uid %ld)",
					 credlen == sizeof(cred) ? (long) cred.uid : -1L);
				f->refused++;
				close(fd);
				continue;
			}
		}
#endif
		for (i = 0; i < FEEDER_SLOTS; i++)
			if (f->conn[i].state == CONN_FREE)
			{
				c = &f->conn[i];
				break;
			}
		if (c == NULL)
		{
			/*
			 * Evict the oldest connection that is not the active walreceiver:
			 * a newcomer that has not finished its startup, or one closing.
			 */
			for (i = 0; i < FEEDER_SLOTS; i++)
				if (i != f->active && (c == NULL || f->conn[i].id < c->id))
					c = &f->conn[i];
			DCF_ASSERT(c != NULL);
			conn_close(f, c, DCF_FEEDER_LOG, "replaced by a newer connection before it finished its startup");
		}
		c->fd = fd;
		c->state = CONN_STARTUP;
		c->id = ++f->next_id;
		c->since_us = f->now_us;
		c->in_len = 0;
		c->out_head = c->out_len = 0;
		c->appname[0] = '\0';
		c->write_lsn = c->flush_lsn = c->apply_lsn = 0;
		conn_reset_stream(c);
		f->connections++;
		f->generation++;
		flog(f, DCF_FEEDER_DEBUG, "WAL feeder: accepted client %llu", (unsigned long long) c->id);
	}
}

dcf_feeder *
dcf_feeder_create(const char *socket_dir, int port, const dcf_feeder_source *source,
				  char *errmsg)
{
	struct sockaddr_un addr;
	struct stat st;
	dcf_feeder *f;
	mode_t		old_umask;
	int			fd;
	int			i;
	int			n;

	if (port < 1 || port > 65535)
	{
		dcf_errf(errmsg, DCF_ERR_INVALID, "WAL feeder port %d is out of range (1..65535)", port);
		return NULL;
	}
	if (source == NULL || source->position == NULL || source->history == NULL ||
		source->read == NULL)
	{
		dcf_errf(errmsg, DCF_ERR_INVALID, "WAL feeder source lacks position, history or read");
		return NULL;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/.s.PGSQL.%d", socket_dir, port);
	if (n < 0 || (size_t) n >= sizeof(addr.sun_path))
	{
		dcf_errf(errmsg, DCF_ERR_INVALID,
				 "WAL feeder socket path \"%s/.s.PGSQL.%d\" is too long (%d bytes, the limit is %zu): use a shorter socket directory",
				 socket_dir, port, n, sizeof(addr.sun_path) - 1);
		return NULL;
	}

	if (lstat(addr.sun_path, &st) == 0)
	{
		int			probe;

		if (!S_ISSOCK(st.st_mode))
		{
			dcf_errf(errmsg, DCF_ERR_STATE, "\"%s\" exists and is not a socket", addr.sun_path);
			return NULL;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (probe < 0)
		{
			dcf_errf(errmsg, DCF_ERR_IO, "could not create a socket: %s", strerror(errno));
			return NULL;
		}
		if (connect(probe, (struct sockaddr *) &addr, sizeof(addr)) == 0 || errno == EAGAIN)
		{
			close(probe);
			dcf_errf(errmsg, DCF_ERR_STATE, "another process is listening on \"%s\"", addr.sun_path);
			return NULL;
		}
		if (errno != ECONNREFUSED && errno != ENOENT)
		{
			int			save_errno = errno;

			close(probe);
			dcf_errf(errmsg, DCF_ERR_IO, "could not check whether \"%s\" is in use: %s",
					 addr.sun_path, strerror(save_errno));
			return NULL;
		}
		close(probe);
		/* nobody listens: a stale socket of an earlier run */
		if (unlink(addr.sun_path) != 0 && errno != ENOENT)
		{
			dcf_errf(errmsg, DCF_ERR_IO, "could not remove stale socket \"%s\": %s",
					 addr.sun_path, strerror(errno));
			return NULL;
		}
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
	{
		dcf_errf(errmsg, DCF_ERR_IO, "could not create a socket: %s", strerror(errno));
		return NULL;
	}
	/*
	 * Created 0600 from the start: umask closes the window between bind and
	 * chmod.  The host is single-threaded when it calls this.
	 */
	old_umask = umask(0077);
	if (bind(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0)
	{
		int			save_errno = errno;

		umask(old_umask);
		close(fd);
		dcf_errf(errmsg, DCF_ERR_IO, "could not bind \"%s\": %s", addr.sun_path, strerror(save_errno));
		return NULL;
	}
	umask(old_umask);
	if (chmod(addr.sun_path, 0600) != 0 || listen(fd, 8) != 0)
	{
		int			save_errno = errno;

		close(fd);
		unlink(addr.sun_path);
		dcf_errf(errmsg, DCF_ERR_IO, "could not listen on \"%s\": %s", addr.sun_path,
				 strerror(save_errno));
		return NULL;
	}

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		goto nomem;
	f->src = *source;
	f->listen_fd = fd;
	snprintf(f->path, sizeof(f->path), "%s", addr.sun_path);
	f->active = -1;
	f->generation = 1;
	for (i = 0; i < FEEDER_SLOTS; i++)
	{
		f->conn[i].fd = -1;
		f->conn[i].in = malloc(DCF_FEEDER_IN_BUF_BYTES);
		f->conn[i].out = malloc(DCF_FEEDER_OUT_BUF_BYTES);
		if (f->conn[i].in == NULL || f->conn[i].out == NULL)
			goto nomem;
	}
	return f;

nomem:
	if (f)
	{
		for (i = 0; i < FEEDER_SLOTS; i++)
		{
			free(f->conn[i].in);
			free(f->conn[i].out);
		}
		free(f);
	}
	close(fd);
	unlink(addr.sun_path);
	dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory creating the WAL feeder");
	return NULL;
}

void
dcf_feeder_destroy(dcf_feeder *f)
{
	int			i;

	if (f == NULL)
		return;
	for (i = 0; i < FEEDER_SLOTS; i++)
	{
		if (f->conn[i].state != CONN_FREE)
			close(f->conn[i].fd);
		free(f->conn[i].in);
		free(f->conn[i].out);
	}
	close(f->listen_fd);
	unlink(f->path);
	free(f);
}

const char *
dcf_feeder_socket_path(const dcf_feeder *f)
{
	return f->path;
}

int
dcf_feeder_fds(const dcf_feeder *f, dcf_feeder_fd *fds, int max)
{
	int			n = 0;
	int			i;

	if (n < max)
	{
		fds[n].fd = f->listen_fd;
		fds[n].want_read = true;
		fds[n].want_write = false;
		n++;
	}
	for (i = 0; i < FEEDER_SLOTS && n < max; i++)
	{
		const feeder_conn *c = &f->conn[i];

		if (c->state == CONN_FREE)
			continue;
		fds[n].fd = c->fd;
		fds[n].want_read = c->state != CONN_CLOSING &&
			out_pending(c) <= DCF_FEEDER_OUT_HIGH_WATER_BYTES;
		/* a stream stopped only by the output bound resumes on writable */
		fds[n].want_write = out_pending(c) > 0 ||
			(c->state == CONN_STREAMING && !c->caught_up);
		n++;
	}
	return n;
}

uint64_t
dcf_feeder_generation(const dcf_feeder *f)
{
	return f->generation;
}

/*
 * After any event: push WAL and write what is queued.  A few rounds of
 * produce-and-write per event; when the socket still takes more, the
 * connection keeps wanting write (dcf_feeder_fds), so the host comes back
 * at once without starving its other descriptors.
 */
#define SERVICE_ROUNDS 4

static void
service(dcf_feeder *f)
{
	int			i;

	for (i = 0; i < FEEDER_SLOTS; i++)
	{
		feeder_conn *c = &f->conn[i];
		int			round;

		for (round = 0; round < SERVICE_ROUNDS; round++)
		{
			if (c->state == CONN_STREAMING)
				stream_send_more(f, c);
			if (c->state != CONN_FREE && out_pending(c) > 0)
				conn_flush(f, c);
			if (c->state != CONN_STREAMING || c->caught_up || out_pending(c) > 0)
				break;
		}
		/* output drained below the mark: resume messages left in the buffer */
		if ((c->state == CONN_IDLE || c->state == CONN_STREAMING) && c->in_len > 0 &&
			out_pending(c) <= DCF_FEEDER_OUT_HIGH_WATER_BYTES)
		{
			process_input(f, c);
			if (c->state == CONN_STREAMING)
				stream_send_more(f, c);
			if (c->state != CONN_FREE && out_pending(c) > 0)
				conn_flush(f, c);
		}
	}
}

void
dcf_feeder_on_ready(dcf_feeder *f, int fd, bool readable, bool writable, int64_t now_us)
{
	int			i;

	f->now_us = now_us;
	if (fd == f->listen_fd)
	{
		if (readable)
			accept_clients(f);
		return;
	}
	for (i = 0; i < FEEDER_SLOTS; i++)
	{
		feeder_conn *c = &f->conn[i];

		if (c->state == CONN_FREE || c->fd != fd)
			continue;
		if (writable)
			conn_flush(f, c);
		if (readable && c->state != CONN_FREE && c->state != CONN_CLOSING)
			conn_read(f, c);
		break;
	}
	service(f);
}

void
dcf_feeder_tick(dcf_feeder *f, int64_t now_us)
{
	int			i;

	f->now_us = now_us;
	for (i = 0; i < FEEDER_SLOTS; i++)
	{
		feeder_conn *c = &f->conn[i];
		int64_t		idle_ms;

		switch (c->state)
		{
			case CONN_FREE:
			case CONN_IDLE:
				break;
			case CONN_STARTUP:
				if (now_us - c->since_us >= (int64_t) DCF_FEEDER_STARTUP_TIMEOUT_MS * 1000)
				{
					f->refused++;
					conn_close(f, c, DCF_FEEDER_WARNING, "startup packet not received in time");
				}
				break;
			case CONN_CLOSING:
				if (now_us - c->since_us >= (int64_t) DCF_FEEDER_CLOSE_DRAIN_MS * 1000)
					conn_close(f, c, DCF_FEEDER_WARNING, "refused (its error could not be delivered)");
				break;
			case CONN_STREAMING:
				idle_ms = (now_us - c->last_reply_us) / 1000;
				if (idle_ms >= DCF_FEEDER_CLIENT_TIMEOUT_MS)
				{
					char		why[128];

					snprintf(why, sizeof(why), "the standby was silent for %lld ms",
							 (long long) idle_ms);
					conn_close(f, c, DCF_FEEDER_WARNING, why);
				}
				else if (idle_ms >= DCF_FEEDER_PING_AFTER_MS && !c->ping_sent && !c->done_sending)
				{
					if (!send_keepalive(c, now_us, true))
						conn_overflow(f, c);
					else
						c->ping_sent = true;
				}
				break;
		}
	}
	service(f);
}

void
dcf_feeder_wal_available(dcf_feeder *f)
{
	service(f);
}

int64_t
dcf_feeder_next_wakeup_us(const dcf_feeder *f)
{
	int64_t		next = INT64_MAX;
	int			i;

	for (i = 0; i < FEEDER_SLOTS; i++)
	{
		const feeder_conn *c = &f->conn[i];
		int64_t		t = INT64_MAX;

		if (c->state == CONN_STARTUP)
			t = c->since_us + (int64_t) DCF_FEEDER_STARTUP_TIMEOUT_MS * 1000;
		else if (c->state == CONN_CLOSING)
			t = c->since_us + (int64_t) DCF_FEEDER_CLOSE_DRAIN_MS * 1000;
		else if (c->state == CONN_STREAMING)
		{
			t = c->last_reply_us + (int64_t) (c->ping_sent ? DCF_FEEDER_CLIENT_TIMEOUT_MS
											  : DCF_FEEDER_PING_AFTER_MS) * 1000;
			/* a host that forgets dcf_feeder_wal_available still progresses */
			if (f->now_us + (int64_t) DCF_FEEDER_POLL_MS * 1000 < t)
				t = f->now_us + (int64_t) DCF_FEEDER_POLL_MS * 1000;
		}
		if (t < next)
			next = t;
	}
	return next;
}

void
dcf_feeder_get_status(const dcf_feeder *f, dcf_feeder_status *st)
{
	memset(st, 0, sizeof(*st));
	st->connections = f->connections;
	st->refused = f->refused;
	st->bytes_sent = f->bytes_sent;
	if (f->active < 0)
	{
		st->state = DCF_FEEDER_NO_CLIENT;
		return;
	}
	{
		const feeder_conn *c = &f->conn[f->active];

		st->state = c->state == CONN_STREAMING ?
			(c->done_sending ? DCF_FEEDER_ENDING : DCF_FEEDER_STREAMING) : DCF_FEEDER_IDLE;
		snprintf(st->application_name, sizeof(st->application_name), "%s", c->appname);
		st->tli = c->send_tli;
		st->start_lsn = c->start_lsn;
		st->sent_lsn = c->sent_ptr;
		st->write_lsn = c->write_lsn;
		st->flush_lsn = c->flush_lsn;
		st->apply_lsn = c->apply_lsn;
	}
}
