/*
 * feeder_stream.c — START_REPLICATION and the CopyBoth stream that follows:
 * the feeder's read path (stream_read asks the source for WAL of the
 * streamed history; feeder_stream_send_more packs it into 'w' messages),
 * what the feeder knows of timelines (the source's position and history),
 * the end of a timeline (known at the start, or found while streaming when
 * the timeline became historic) and the end-of-timeline sequence, and the
 * standby's replies ('r' status, 'h' hot standby feedback).  The
 * walsender's XLogSendPhysical, restated for a source instead of pg_wal.
 *
 * Invariants kept here (feeder.h's numbering):
 *   1. Bytes go out contiguously from the requested start: sent_ptr moves
 *      only by the bytes of a queued 'w' message, and the next one starts
 *      at sent_ptr.
 *   2. On a timeline that has ended nothing at or past its switch point is
 *      sent (valid_upto); on the latest timeline nothing past the source's
 *      xlogpos.  A start past an ended timeline's switch point, or a replay
 *      position reported past it, is divergence: an ErrorResponse, and the
 *      host is told (on_diverged).
 *   3. A byte at an LSN below send_tli's begin is read from the ancestor
 *      that owns it (stream_read), so the source never maps timelines.
 *   4. After CopyDone is sent (done_sending) no CopyData follows: neither
 *      WAL nor a keepalive.
 * A stream that fails goes back to IDLE with an ErrorResponse
 * (stream_fail); WAL the source lost for good is reported to the host too
 * (on_wal_missing).
 */
#include "pg/feeder_int.h"
#include "core/dcf_assert.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* 'w' header: kind, dataStart, walEnd, sendTime. */
#define WAL_MSG_HEADER_BYTES	(1 + 8 + 8 + 8)
/* 'r': kind, write, flush, apply, sendTime, replyRequested. */
#define REPLY_MSG_BYTES			(1 + 8 + 8 + 8 + 8 + 1)
/* 'h': kind, sendTime, xmin, epoch, catalog_xmin, epoch. */
#define HSFEEDBACK_MSG_BYTES	(1 + 8 + 4 + 4 + 4 + 4)

/* ---- timeline knowledge -------------------------------------------------- */

/*
 * The source's position, checked.  errmsg is cleared first so a source that
 * fails without a message does not put stack garbage into an ErrorResponse.
 */
dcf_rc
feeder_source_position(dcf_feeder *f, uint32_t *latest, dcf_lsn *xlogpos, char *errmsg)
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
	feeder_conn_reset_stream(c);
	feeder_command_error(f, c, sqlstate, message, detail, hint);
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
		feeder_command_error(f, c, "55000", message, detail, hint);
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
		fw_msg_begin(c, &m, 'T');
		fw_row_description(&m, 2, names, types);
		if (!fw_msg_end(&m))
			return false;
		fw_msg_begin(c, &m, 'D');
		fw_msg_u16(&m, 2);
		fw_msg_u32(&m, (uint32_t) strlen(tli));
		fw_msg_bytes(&m, tli, strlen(tli));
		fw_msg_u32(&m, (uint32_t) strlen(pos));
		fw_msg_bytes(&m, pos, strlen(pos));
		if (!fw_msg_end(&m))
			return false;
	}
	/* PostgreSQL 15 sends both tags; libpqrcv_endstreaming expects both. */
	return fw_send_command_complete(c, "START_STREAMING") &&
		fw_send_command_complete(c, "START_REPLICATION") &&
		fw_send_ready(c);
}

void
feeder_finish_streaming(dcf_feeder *f, feeder_conn *c)
{
	char		a[DCF_WALFILE_LSN_TEXT_BYTES];
	char		b[DCF_WALFILE_LSN_TEXT_BYTES];

	if (c->historic)
		feeder_log(f, DCF_FEEDER_LOG,
				   "WAL feeder client %llu: end of timeline %u at %s (sent up to %s); next timeline %u",
				   (unsigned long long) c->id, c->send_tli, lsn_text(a, c->valid_upto),
				   lsn_text(b, c->sent_ptr), c->next_tli);
	else
		feeder_log(f, DCF_FEEDER_LOG,
				   "WAL feeder client %llu: the standby ended streaming at %s on timeline %u",
				   (unsigned long long) c->id, lsn_text(a, c->sent_ptr), c->send_tli);
	if (!send_end_of_streaming(c))
	{
		feeder_conn_overflow(f, c);
		return;
	}
	c->state = CONN_IDLE;
	feeder_conn_reset_stream(c);
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
	feeder_log(f, DCF_FEEDER_LOG,
			   "WAL feeder client %llu: timeline %u ended at %s, next timeline %u (sent up to %s)",
			   (unsigned long long) c->id, c->send_tli, lsn_text(a, c->valid_upto), c->next_tli,
			   lsn_text(b, c->sent_ptr));
	if (c->start_lsn > c->valid_upto)
	{
		/*
		 * It was waiting past what we could serve, and the timeline ended
		 * below its start: the start PostgreSQL would feeder_refuse (the standby's
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
void
feeder_stream_send_more(dcf_feeder *f, feeder_conn *c)
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

			if (feeder_source_position(f, &latest, &xlogpos, errmsg) != DCF_OK)
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
				if (!fw_send_copy_done(c))
				{
					feeder_conn_overflow(f, c);
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

				feeder_log(f, DCF_FEEDER_LOG,
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

		fw_msg_begin(c, &m, 'd');
		hdr = m.data + m.len;
		fw_msg_u8(&m, 'w');
		fw_msg_u64(&m, c->sent_ptr);	/* dataStart */
		fw_msg_u64(&m, limit);			/* walEnd */
		fw_msg_u64(&m, 0);				/* sendTime, set below */
		if (m.overflow || m.cap - m.len < end - c->sent_ptr)
		{
			feeder_conn_overflow(f, c);
			return;
		}
		got = stream_read(f, c, m.data + m.len, (size_t) (end - c->sent_ptr));
		if (got <= 0)
			return;				/* failed, or nothing available yet */
		m.len += (size_t) got;
		dcf_wire_put_u64(hdr + 17, (uint64_t) dcf_wire_pg_time(f->now_us));
		if (!fw_msg_end(&m))
		{
			feeder_conn_overflow(f, c);
			return;
		}
		c->sent_ptr += (dcf_lsn) got;
		c->waiting_logged = false;
		f->bytes_sent += (uint64_t) got;
	}
}

void
feeder_start_replication(dcf_feeder *f, feeder_conn *c, const char *slot, dcf_lsn start,
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

	if (feeder_source_position(f, &latest, &xlogpos, errmsg) != DCF_OK)
	{
		snprintf(message, sizeof(message), "could not determine the WAL position: %s", errmsg);
		feeder_command_error(f, c, "XX000", message, NULL, NULL);
		return;
	}
	if (tli == 0)
		tli = latest;
	if (load_history(f, latest, &f->hist, errmsg) != DCF_OK)
	{
		feeder_command_error(f, c, "XX000", errmsg, NULL, NULL);
		return;
	}
	s = dcf_walfile_history_find(&f->hist, tli);
	if (s == NULL)
	{
		char		detail[128];

		snprintf(message, sizeof(message),
				 "requested timeline %u is not in this server's history", tli);
		snprintf(detail, sizeof(detail), "This server's latest timeline is %u.", latest);
		feeder_command_error(f, c, "55000", message, detail,
							 "The standby's WAL diverged from the cluster's: rewind it with pg_rewind or rebuild it.");
		if (f->src.on_diverged)
			f->src.on_diverged(f->src.ctx, tli, start, 0, 0);
		return;
	}

	feeder_conn_reset_stream(c);
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

			feeder_conn_reset_stream(c);
			report_diverged(f, c, tli, start, sw, next, false);
			return;
		}
	}
	feeder_log(f, DCF_FEEDER_LOG,
			   "WAL feeder client %llu (\"%s\"): START_REPLICATION%s%s %s TIMELINE %u (latest timeline %u, %s %s)",
			   (unsigned long long) c->id, c->appname, slot ? " SLOT " : "", slot ? slot : "",
			   lsn_text(a, start), tli, latest,
			   c->historic ? "ended at" : "servable up to",
			   lsn_text(b, c->historic ? c->valid_upto : xlogpos));

	if (c->historic && start == c->valid_upto)
	{
		/* Nothing to stream: PostgreSQL skips COPY mode too. */
		if (!send_end_of_streaming(c))
			feeder_conn_overflow(f, c);
		else
			feeder_conn_reset_stream(c);
		return;
	}

	/* CopyBothResponse: overall text format, no columns */
	fw_msg_begin(c, &m, 'W');
	fw_msg_u8(&m, 0);
	fw_msg_u16(&m, 0);
	if (!fw_msg_end(&m))
	{
		feeder_conn_overflow(f, c);
		return;
	}
	c->state = CONN_STREAMING;
	c->last_reply_us = f->now_us;
	feeder_stream_send_more(f, c);
}

/* A CopyData from the standby while streaming. */
bool
feeder_handle_copy_data(dcf_feeder *f, feeder_conn *c, const char *body, size_t len)
{
	if (len < 1)
	{
		feeder_refuse(f, c, "08P01", NULL, "empty CopyData message from the standby");
		return false;
	}
	if (body[0] == 'r')
	{
		uint64_t	reply_time;
		bool		reply_requested;

		if (len < REPLY_MSG_BYTES)
		{
			feeder_refuse(f, c, "08P01", NULL, "standby status message of %zu bytes, expected %d",
						  len, REPLY_MSG_BYTES);
			return false;
		}
		c->write_lsn = dcf_wire_get_u64(body + 1);
		c->flush_lsn = dcf_wire_get_u64(body + 9);
		c->apply_lsn = dcf_wire_get_u64(body + 17);
		reply_time = dcf_wire_get_u64(body + 25);
		reply_requested = body[33] != 0;
		if (f->src.on_reply)
			f->src.on_reply(f->src.ctx, c->write_lsn, c->flush_lsn, c->apply_lsn,
							dcf_wire_unix_time((int64_t) reply_time));
		if (check_replayed_past_end(f, c))
			return true;
		if (reply_requested && !c->done_sending && !fw_send_keepalive(c, f->now_us, false))
		{
			feeder_conn_overflow(f, c);
			return false;
		}
		return true;
	}
	if (body[0] == 'h')
	{
		if (len < HSFEEDBACK_MSG_BYTES)
		{
			feeder_refuse(f, c, "08P01", NULL, "hot standby feedback message of %zu bytes, expected %d",
						  len, HSFEEDBACK_MSG_BYTES);
			return false;
		}
		if (f->src.on_feedback)
			f->src.on_feedback(f->src.ctx, dcf_wire_get_u32(body + 9),
							   dcf_wire_get_u32(body + 13), dcf_wire_get_u32(body + 17),
							   dcf_wire_get_u32(body + 21));
		return true;
	}
	feeder_refuse(f, c, "08P01", NULL, "unexpected standby message type \"%c\"",
				  isprint((unsigned char) body[0]) ? body[0] : '?');
	return false;
}
