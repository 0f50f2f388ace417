/*
 * feeder_conn.c — one WAL feeder connection's I/O: reading the socket,
 * framing the client's messages and dispatching them by connection state
 * (startup packet and queries to feeder_commands.c, CopyData and CopyDone
 * to feeder_stream.c), writing queued output, refusing (FATAL) and closing.
 *
 * Invariants kept here:
 *   - Lengths from the client are checked against DCF_FEEDER_*_MAX_BYTES
 *     before a body is waited for, so the fixed input buffer always holds
 *     a complete message and never grows (feeder.h invariant 5).
 *   - Nothing is read from a client while more than
 *     DCF_FEEDER_OUT_HIGH_WATER_BYTES wait to be written to it.
 *   - A message is copied out and consumed before it is handled, since
 *     handling can close the connection and reset its buffers.
 *   - A refused connection reads nothing more and stops being the active
 *     one; it is closed once its ErrorResponse is written (or after
 *     DCF_FEEDER_CLOSE_DRAIN_MS, see dcf_feeder_tick).
 */
#include "pg/feeder_int.h"
#include "core/dcf_assert.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- connections --------------------------------------------------------- */

void
feeder_conn_reset_stream(feeder_conn *c)
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

void
feeder_conn_close(dcf_feeder *f, feeder_conn *c, dcf_feeder_log_level level, const char *why)
{
	int			idx = (int) (c - f->conn);

	if (c->state == CONN_FREE)
		return;
	feeder_log(f, level, "WAL feeder client %llu%s%s%s: connection closed: %s",
			   (unsigned long long) c->id,
			   c->appname[0] ? " (\"" : "", c->appname, c->appname[0] ? "\")" : "", why);
	close(c->fd);
	c->fd = -1;
	c->state = CONN_FREE;
	c->in_len = 0;
	c->out_head = c->out_len = 0;
	c->appname[0] = '\0';
	feeder_conn_reset_stream(c);
	if (f->active == idx)
		f->active = -1;
	f->generation++;
}

/* The output bound was hit: nothing more can be said to this client. */
void
feeder_conn_overflow(dcf_feeder *f, feeder_conn *c)
{
	f->refused++;
	feeder_conn_close(f, c, DCF_FEEDER_WARNING,
					  "output buffer full: the client does not read what it is sent");
}

/* FATAL ErrorResponse, then close once it is written (or after a drain timeout). */

void
feeder_refuse(dcf_feeder *f, feeder_conn *c, const char *sqlstate, const char *hint,
			  const char *fmt,...)
{
	char		message[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	f->refused++;
	if (!fw_send_error(f, c, "FATAL", sqlstate, message, NULL, hint))
	{
		feeder_conn_close(f, c, DCF_FEEDER_WARNING, "output buffer full while refusing it");
		return;
	}
	c->state = CONN_CLOSING;
	c->since_us = f->now_us;
	c->in_len = 0;
	if (f->active == (int) (c - f->conn))
		f->active = -1;
}

/* ERROR + ReadyForQuery: the command failed, the connection stays. */
void
feeder_command_error(dcf_feeder *f, feeder_conn *c, const char *sqlstate, const char *message,
					 const char *detail, const char *hint)
{
	if (!fw_send_error(f, c, "ERROR", sqlstate, message, detail, hint) || !fw_send_ready(c))
		feeder_conn_overflow(f, c);
}

/* Write queued output; closes the connection on a hard error. */
void
feeder_conn_flush(dcf_feeder *f, feeder_conn *c)
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
			feeder_conn_close(f, c, DCF_FEEDER_LOG, why);
		}
		return;
	}
	if (c->state == CONN_FREE)
		return;
	c->out_head = c->out_len = 0;
	if (c->state == CONN_CLOSING)
		feeder_conn_close(f, c, DCF_FEEDER_LOG, "refused");
}

/* ---- input ----------------------------------------------------------------- */

static void
consume_input(feeder_conn *c, size_t n)
{
	DCF_ASSERT(n <= c->in_len);
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/*
 * Handle every complete message in the input buffer, while the output is
 * below its high-water mark.  Stops when the connection leaves a state that
 * reads messages.  Each message is copied out and consumed before it is
 * handled, since handling can close the connection and reset its buffers.
 */
void
feeder_process_input(dcf_feeder *f, feeder_conn *c)
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
			len = dcf_wire_get_u32(c->in);
			if (len < 8 || len > DCF_FEEDER_STARTUP_MAX_BYTES)
			{
				feeder_refuse(f, c, "08P01", NULL, "invalid length of startup packet (%u bytes)", len);
				return;
			}
			if (c->in_len < len)
				return;
			memcpy(msg, c->in, len);
			consume_input(c, len);
			if (!feeder_handle_startup(f, c, msg, len))
				return;
			continue;
		}

		if (c->in_len < 5)
			return;
		type = c->in[0];
		len = dcf_wire_get_u32(c->in + 1);
		if (len < 4 || len - 4 > DCF_FEEDER_CLIENT_MSG_MAX_BYTES)
		{
			feeder_refuse(f, c, "08P01", NULL, "invalid length %u of a message of type \"%c\" (the limit is %d bytes)",
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
			feeder_conn_close(f, c, DCF_FEEDER_LOG, "terminated by the client");
			return;
		}
		if (c->state == CONN_IDLE)
		{
			if (type == 'Q')
			{
				if (blen == 0 || memchr(msg, '\0', blen) != msg + blen - 1)
				{
					feeder_refuse(f, c, "08P01", NULL, "invalid string in a query message");
					return;
				}
				feeder_handle_query(f, c, msg);
				continue;
			}
			if (type == 'd' || type == 'c' || type == 'f')
				continue;		/* a COPY that failed on our side: the client may still be sending */
			feeder_refuse(f, c, "08P01", "Only the simple query protocol is served.",
						  "unexpected message type \"%c\"", isprint((unsigned char) type) ? type : '?');
			return;
		}

		/* CONN_STREAMING */
		if (c->done_receiving)
		{
			feeder_refuse(f, c, "08P01", NULL, "unexpected standby message type \"%c\", after receiving CopyDone",
						  isprint((unsigned char) type) ? type : '?');
			return;
		}
		c->last_reply_us = f->now_us;
		c->ping_sent = false;
		if (type == 'd')
		{
			if (!feeder_handle_copy_data(f, c, msg, blen))
				return;
			continue;
		}
		if (type == 'c')
		{
			c->done_receiving = true;
			if (!c->done_sending)
			{
				if (!fw_send_copy_done(c))
				{
					feeder_conn_overflow(f, c);
					return;
				}
				c->done_sending = true;
			}
			feeder_finish_streaming(f, c);
			continue;
		}
		feeder_refuse(f, c, "08P01", NULL, "invalid standby message type \"%c\"",
					  isprint((unsigned char) type) ? type : '?');
		return;
	}
}

/* Read what the socket has, handling messages as they complete. */
void
feeder_conn_read(dcf_feeder *f, feeder_conn *c)
{
	for (;;)
	{
		ssize_t		r;

		feeder_process_input(f, c);
		if (c->state == CONN_FREE || c->state == CONN_CLOSING ||
			out_pending(c) > DCF_FEEDER_OUT_HIGH_WATER_BYTES)
			return;
		/*
		 * Bounds are checked before waiting for a body, so a full buffer
		 * always holds a complete message; never trust that on a network path.
		 */
		if (c->in_len >= DCF_FEEDER_IN_BUF_BYTES)
		{
			feeder_refuse(f, c, "08P01", NULL, "input buffer full");
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
			feeder_conn_close(f, c, DCF_FEEDER_LOG,
							  c->state == CONN_STREAMING ? "the standby closed the connection while streaming"
							  : "the client closed the connection");
		else
		{
			char		why[256];

			snprintf(why, sizeof(why), "could not receive from the client: %s", strerror(errno));
			feeder_conn_close(f, c, DCF_FEEDER_LOG, why);
		}
		return;
	}
}
