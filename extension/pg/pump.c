/*
 * pump.c — the WAL pump (see pump.h).
 *
 * State machine:
 *   CONNECTING --PQconnectPoll ok--> SLOT (READ_REPLICATION_SLOT, then
 *   CREATE_REPLICATION_SLOT if missing) --> STARTING (START_REPLICATION)
 *   --CopyBoth--> STREAMING.  Any error --> FAILED (terminal; the host
 *   destroys the pump and starts a new one after a pause).
 *
 * While STREAMING every 'w' message becomes one on_wal() call after a
 * contiguity check; 'k' keepalives that ask for a reply get one at once;
 * otherwise a standby status update ('r') goes out whenever the commit
 * position moves and at least every DCF_PUMP_REPLY_INTERVAL_US.
 */
#include "pg/pump.h"
#include "pg/dcf_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpq-fe.h"

struct dcf_pump
{
	PGconn	   *conn;
	dcf_pump_state state;
	dcf_pump_callbacks cb;
	char		slot[64];
	uint32_t	tli;
	uint64_t	start_lsn;
	uint64_t	next_lsn;		/* where the next chunk must start */
	uint64_t	commit_lsn;		/* what we should report */
	uint64_t	reported_lsn;	/* what we last reported */
	int64_t		last_reply_us;
	char	   *held;			/* a 'w' message not fully taken yet */
	size_t		held_len;
	size_t		held_off;		/* WAL bytes of it already taken */
	bool		reply_due;
	bool		flush_pending;	/* output buffered in libpq */
	bool		want_write_connect;
	uint32_t	fb_xmin,
				fb_xmin_epoch,
				fb_catalog_xmin,
				fb_catalog_xmin_epoch;
	bool		feedback_due;
	bool		slot_created;
	int			sock;
	uint64_t	sock_generation;
	char		errmsg[DCF_PUMP_ERRMSG_MAX];
};

static dcf_pump_state
pump_fail(dcf_pump *p, const char *fmt, const char *detail)
{
	char		d[DCF_PUMP_ERRMSG_MAX];

	snprintf(d, sizeof(d), "%s", detail ? detail : "");
	d[strcspn(d, "\n")] = '\0';
	snprintf(p->errmsg, sizeof(p->errmsg), fmt, d);
	p->state = DCF_PUMP_FAILED;
	return p->state;
}

static void
update_socket(dcf_pump *p)
{
	int			s = p->conn ? PQsocket(p->conn) : -1;

	if (s != p->sock)
	{
		p->sock = s;
		p->sock_generation++;
	}
}

dcf_pump *
dcf_pump_start(const char *conninfo, const char *slot_name, uint32_t tli,
			   uint64_t start_lsn, uint64_t commit_lsn, const dcf_pump_callbacks *cb)
{
	dcf_pump   *p = calloc(1, sizeof(dcf_pump));
	const char *keys[] = {"dbname", "replication", "application_name", "fallback_application_name", NULL};
	const char *vals[] = {conninfo, "true", "dcf", "dcf", NULL};

	if (p == NULL)
		return NULL;
	p->cb = *cb;
	p->tli = tli;
	p->start_lsn = start_lsn;
	p->next_lsn = start_lsn;
	/*
	 * Never report more than is committed: WAL between commit_lsn and
	 * start_lsn may be in the log but not yet on a majority.
	 */
	p->commit_lsn = commit_lsn < start_lsn ? commit_lsn : start_lsn;
	p->reported_lsn = 0;
	p->sock = -1;
	if (slot_name)
		snprintf(p->slot, sizeof(p->slot), "%s", slot_name);
	p->state = DCF_PUMP_CONNECTING;
	p->want_write_connect = true;	/* as if PQconnectPoll said WRITING */
	p->conn = PQconnectStartParams(keys, vals, 1);
	if (p->conn == NULL)
	{
		pump_fail(p, "could not allocate a connection%s", "");
		return p;
	}
	if (PQstatus(p->conn) == CONNECTION_BAD)
	{
		pump_fail(p, "could not connect to the local walsender: %s", PQerrorMessage(p->conn));
		return p;
	}
	update_socket(p);
	return p;
}

void
dcf_pump_destroy(dcf_pump *p)
{
	if (p == NULL)
		return;
	if (p->held)
		PQfreemem(p->held);
	if (p->conn)
		PQfinish(p->conn);
	free(p);
}

int
dcf_pump_socket(const dcf_pump *p)
{
	return p->state == DCF_PUMP_FAILED ? -1 : p->sock;
}

bool
dcf_pump_wants_read(const dcf_pump *p)
{
	if (p->state == DCF_PUMP_FAILED)
		return false;
	if (p->state == DCF_PUMP_CONNECTING)
		return !p->want_write_connect;
	return true;
}

bool
dcf_pump_wants_write(const dcf_pump *p)
{
	if (p->state == DCF_PUMP_FAILED)
		return false;
	if (p->state == DCF_PUMP_CONNECTING)
		return p->want_write_connect;
	return p->flush_pending;
}

uint64_t
dcf_pump_socket_generation(const dcf_pump *p)
{
	return p->sock_generation;
}

dcf_pump_state
dcf_pump_get_state(const dcf_pump *p)
{
	return p->state;
}

const char *
dcf_pump_error(const dcf_pump *p)
{
	return p->errmsg;
}

uint64_t
dcf_pump_received_lsn(const dcf_pump *p)
{
	return p->next_lsn;
}

uint64_t
dcf_pump_reported_lsn(const dcf_pump *p)
{
	return p->reported_lsn;
}

void
dcf_pump_set_commit(dcf_pump *p, uint64_t commit_lsn)
{
	/* never report WAL we have not handed to consensus */
	if (commit_lsn > p->next_lsn)
		commit_lsn = p->next_lsn;
	if (commit_lsn > p->commit_lsn)
	{
		p->commit_lsn = commit_lsn;
		p->reply_due = true;
	}
}

void
dcf_pump_set_feedback(dcf_pump *p, uint32_t xmin, uint32_t xmin_epoch,
					  uint32_t catalog_xmin, uint32_t catalog_xmin_epoch)
{
	if (xmin == p->fb_xmin && xmin_epoch == p->fb_xmin_epoch &&
		catalog_xmin == p->fb_catalog_xmin && catalog_xmin_epoch == p->fb_catalog_xmin_epoch)
		return;
	p->fb_xmin = xmin;
	p->fb_xmin_epoch = xmin_epoch;
	p->fb_catalog_xmin = catalog_xmin;
	p->fb_catalog_xmin_epoch = catalog_xmin_epoch;
	p->feedback_due = true;
}

static bool
send_copy(dcf_pump *p, const char *buf, int len)
{
	int			r;

	if (PQputCopyData(p->conn, buf, len) != 1)
	{
		pump_fail(p, "could not send to the local walsender: %s", PQerrorMessage(p->conn));
		return false;
	}
	r = PQflush(p->conn);
	if (r < 0)
	{
		pump_fail(p, "could not send to the local walsender: %s", PQerrorMessage(p->conn));
		return false;
	}
	p->flush_pending = (r == 1);
	return true;
}

/* Standby status update: write = flush = apply = commit position. */
static bool
send_reply(dcf_pump *p, int64_t now_us, bool reply_requested)
{
	char		msg[1 + 8 * 4 + 1];
	int64_t		t = dcf_wire_pg_time(now_us);

	msg[0] = 'r';
	dcf_wire_put_u64(msg + 1, p->commit_lsn);
	dcf_wire_put_u64(msg + 9, p->commit_lsn);
	dcf_wire_put_u64(msg + 17, p->commit_lsn);
	dcf_wire_put_u64(msg + 25, (uint64_t) t);
	msg[33] = reply_requested ? 1 : 0;
	if (!send_copy(p, msg, sizeof(msg)))
		return false;
	p->reported_lsn = p->commit_lsn;
	p->last_reply_us = now_us;
	p->reply_due = false;
	return true;
}

static bool
send_feedback(dcf_pump *p, int64_t now_us)
{
	char		msg[1 + 8 + 4 * 4];

	msg[0] = 'h';
	dcf_wire_put_u64(msg + 1, (uint64_t) dcf_wire_pg_time(now_us));
	dcf_wire_put_u32(msg + 9, p->fb_xmin);
	dcf_wire_put_u32(msg + 13, p->fb_xmin_epoch);
	dcf_wire_put_u32(msg + 17, p->fb_catalog_xmin);
	dcf_wire_put_u32(msg + 21, p->fb_catalog_xmin_epoch);
	if (!send_copy(p, msg, sizeof(msg)))
		return false;
	p->feedback_due = false;
	return true;
}

static void
send_start(dcf_pump *p)
{
	char		cmd[256];

	if (p->slot[0])
		snprintf(cmd, sizeof(cmd), "START_REPLICATION SLOT \"%s\" PHYSICAL %X/%X TIMELINE %u",
				 p->slot, (unsigned) (p->start_lsn >> 32), (unsigned) p->start_lsn, p->tli);
	else
		snprintf(cmd, sizeof(cmd), "START_REPLICATION PHYSICAL %X/%X TIMELINE %u",
				 (unsigned) (p->start_lsn >> 32), (unsigned) p->start_lsn, p->tli);
	if (!PQsendQuery(p->conn, cmd))
	{
		pump_fail(p, "could not send START_REPLICATION: %s", PQerrorMessage(p->conn));
		return;
	}
	p->state = DCF_PUMP_STARTING;
}

static void
send_slot_query(dcf_pump *p)
{
	char		cmd[160];

	if (p->slot[0] == '\0')
	{
		send_start(p);
		return;
	}
	snprintf(cmd, sizeof(cmd), "READ_REPLICATION_SLOT \"%s\"", p->slot);
	if (!PQsendQuery(p->conn, cmd))
	{
		pump_fail(p, "could not send READ_REPLICATION_SLOT: %s", PQerrorMessage(p->conn));
		return;
	}
	p->state = DCF_PUMP_SLOT;
}

/* Consume results of the command in flight; returns false while busy. */
static void
handle_command_results(dcf_pump *p)
{
	PGresult   *res;

	while (p->state != DCF_PUMP_FAILED && !PQisBusy(p->conn))
	{
		res = PQgetResult(p->conn);
		if (res == NULL)
		{
			/* command finished */
			if (p->state == DCF_PUMP_SLOT)
			{
				if (p->slot_created)
					send_start(p);
				else
				{
					char		cmd[160];

					snprintf(cmd, sizeof(cmd), "CREATE_REPLICATION_SLOT \"%s\" PHYSICAL (RESERVE_WAL)", p->slot);
					if (!PQsendQuery(p->conn, cmd))
						pump_fail(p, "could not send CREATE_REPLICATION_SLOT: %s", PQerrorMessage(p->conn));
					p->slot_created = true;
				}
			}
			return;
		}
		switch (PQresultStatus(res))
		{
			case PGRES_TUPLES_OK:
				/* READ_REPLICATION_SLOT: slot_type NULL means no such slot */
				if (p->state == DCF_PUMP_SLOT && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
					p->slot_created = true;
				break;
			case PGRES_COMMAND_OK:
				break;
			case PGRES_COPY_BOTH:
				if (p->state == DCF_PUMP_STARTING)
				{
					p->state = DCF_PUMP_STREAMING;
					p->reply_due = true;
					PQclear(res);
					return;
				}
				pump_fail(p, "unexpected CopyBoth from the local walsender%s", "");
				break;
			default:
				pump_fail(p, "local walsender refused a command: %s", PQresultErrorMessage(res));
				break;
		}
		PQclear(res);
	}
}

/*
 * Offer the WAL of a held 'w' message from held_off on.  Returns false
 * while the host wants the rest later (or after failing the pump).
 */
static bool
offer_held(dcf_pump *p)
{
	size_t		n = p->held_len - 25 - p->held_off;
	size_t		accepted = 0;
	char		err[DCF_PUMP_ERRMSG_MAX] = "";
	int			r;

	if (n > 0)
	{
		r = p->cb.on_wal(p->cb.ctx, p->tli, p->next_lsn, p->held + 25 + p->held_off, n,
						 &accepted, err);
		if (r == 0)
			accepted = n;
		else if (r != DCF_PUMP_WAL_LATER)
		{
			pump_fail(p, "%s", err);
			return false;
		}
		if (accepted > n)
			accepted = n;
		p->held_off += accepted;
		p->next_lsn += accepted;
		if (p->held_off < p->held_len - 25)
			return false;
	}
	PQfreemem(p->held);
	p->held = NULL;
	return true;
}

static void
handle_stream(dcf_pump *p, int64_t now_us)
{
	if (p->held && !offer_held(p))
		return;
	for (;;)
	{
		char	   *buf = NULL;
		int			len = PQgetCopyData(p->conn, &buf, 1);

		if (len == 0)
			break;				/* nothing complete yet */
		if (len == -1)
		{
			PGresult   *res = PQgetResult(p->conn);

			pump_fail(p, "local walsender ended streaming: %s",
					  res ? PQresultErrorMessage(res) : "no result");
			if (res)
				PQclear(res);
			return;
		}
		if (len < 0)
		{
			pump_fail(p, "could not read from the local walsender: %s", PQerrorMessage(p->conn));
			return;
		}
		if (buf[0] == 'w' && len >= 25)
		{
			uint64_t	start = dcf_wire_get_u64(buf + 1);

			if (start != p->next_lsn)
			{
				char		d[128];

				snprintf(d, sizeof(d), "expected %X/%X, got %X/%X",
						 (unsigned) (p->next_lsn >> 32), (unsigned) p->next_lsn,
						 (unsigned) (start >> 32), (unsigned) start);
				PQfreemem(buf);
				pump_fail(p, "WAL from the local walsender is not contiguous: %s", d);
				return;
			}
			p->held = buf;
			p->held_len = (size_t) len;
			p->held_off = 0;
			if (!offer_held(p))
				return;
			continue;
		}
		else if (buf[0] == 'k' && len >= 18)
		{
			if (buf[17])
				p->reply_due = true;
		}
		else
		{
			char		d[64];

			snprintf(d, sizeof(d), "type 0x%02x, %d bytes", (unsigned char) buf[0], len);
			PQfreemem(buf);
			pump_fail(p, "unexpected message from the local walsender: %s", d);
			return;
		}
		PQfreemem(buf);
	}
}

dcf_pump_state
dcf_pump_poll(dcf_pump *p, int64_t now_us)
{
	if (p->state == DCF_PUMP_FAILED)
		return p->state;

	if (p->state == DCF_PUMP_CONNECTING)
	{
		switch (PQconnectPoll(p->conn))
		{
			case PGRES_POLLING_READING:
				p->want_write_connect = false;
				update_socket(p);
				return p->state;
			case PGRES_POLLING_WRITING:
				p->want_write_connect = true;
				update_socket(p);
				return p->state;
			case PGRES_POLLING_OK:
				update_socket(p);
				if (PQsetnonblocking(p->conn, 1) != 0)
					return pump_fail(p, "could not make the connection non-blocking: %s", PQerrorMessage(p->conn));
				send_slot_query(p);
				return p->state;
			default:
				return pump_fail(p, "could not connect to the local walsender: %s", PQerrorMessage(p->conn));
		}
	}

	if (p->flush_pending)
	{
		int			r = PQflush(p->conn);

		if (r < 0)
			return pump_fail(p, "could not send to the local walsender: %s", PQerrorMessage(p->conn));
		p->flush_pending = (r == 1);
	}
	if (!PQconsumeInput(p->conn))
		return pump_fail(p, "connection to the local walsender lost: %s", PQerrorMessage(p->conn));

	if (p->state == DCF_PUMP_SLOT || p->state == DCF_PUMP_STARTING)
		handle_command_results(p);
	if (p->state == DCF_PUMP_STREAMING)
	{
		handle_stream(p, now_us);
		if (p->state == DCF_PUMP_STREAMING &&
			(p->reply_due || now_us - p->last_reply_us >= DCF_PUMP_REPLY_INTERVAL_US))
			send_reply(p, now_us, false);
		if (p->state == DCF_PUMP_STREAMING && p->feedback_due)
			send_feedback(p, now_us);
	}
	return p->state;
}
