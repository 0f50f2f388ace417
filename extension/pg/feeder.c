/*
 * feeder.c — the WAL feeder: PostgreSQL 15's physical streaming replication
 * protocol, server side, on a Unix socket (see feeder.h for the contract
 * and the invariants).  This file is the feeder object and the host's
 * entry points: create/destroy and the listening socket, accepting clients
 * into the connection slots, the descriptors to watch, the ready and tick
 * events (timeouts, keepalives, another round of WAL), status, and the log
 * hook.  The rest is split by concern: feeder_conn.c (a connection's I/O),
 * feeder_wire.c (message format), feeder_commands.c (startup packet and
 * replication commands), feeder_stream.c (START_REPLICATION's stream);
 * feeder_int.h has their shared structures and the connection state
 * machine with the function for each transition.
 *
 * Invariants kept here:
 *   - Accepting never displaces the active walreceiver connection: when
 *     every slot is taken, the oldest slot that is not the active one (a
 *     newcomer still in its startup, or one closing) is evicted.  Only a
 *     finished replication startup takes over (feeder_commands.c).
 *   - Nothing blocks, and one event does a bounded amount of work
 *     (SERVICE_ROUNDS rounds of produce-and-write per connection); a stream
 *     stopped by that bound keeps wanting write, so the host comes back.
 *   - Every deadline (startup, close drain, client silence, ping) and the
 *     DCF_FEEDER_POLL_MS re-check of the source while streaming is covered
 *     by dcf_feeder_next_wakeup_us.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* accept4, struct ucred */
#endif

#include "pg/feeder_int.h"
#include "core/dcf_assert.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/* Keepalive-only wakeups: re-check the source this often while streaming. */
#define DCF_FEEDER_POLL_MS		1000

/* ---- logging ----------------------------------------------------------- */

void
feeder_log(dcf_feeder *f, dcf_feeder_log_level level, const char *fmt,...)
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
				feeder_log(f, DCF_FEEDER_WARNING, "WAL feeder: could not accept a connection: %s",
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
				feeder_log(f, DCF_FEEDER_WARNING,
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
			feeder_conn_close(f, c, DCF_FEEDER_LOG, "replaced by a newer connection before it finished its startup");
		}
		c->fd = fd;
		c->state = CONN_STARTUP;
		c->id = ++f->next_id;
		c->since_us = f->now_us;
		c->in_len = 0;
		c->out_head = c->out_len = 0;
		c->appname[0] = '\0';
		c->write_lsn = c->flush_lsn = c->apply_lsn = 0;
		feeder_conn_reset_stream(c);
		f->connections++;
		f->generation++;
		feeder_log(f, DCF_FEEDER_DEBUG, "WAL feeder: accepted client %llu", (unsigned long long) c->id);
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
				feeder_stream_send_more(f, c);
			if (c->state != CONN_FREE && out_pending(c) > 0)
				feeder_conn_flush(f, c);
			if (c->state != CONN_STREAMING || c->caught_up || out_pending(c) > 0)
				break;
		}
		/* output drained below the mark: resume messages left in the buffer */
		if ((c->state == CONN_IDLE || c->state == CONN_STREAMING) && c->in_len > 0 &&
			out_pending(c) <= DCF_FEEDER_OUT_HIGH_WATER_BYTES)
		{
			feeder_process_input(f, c);
			if (c->state == CONN_STREAMING)
				feeder_stream_send_more(f, c);
			if (c->state != CONN_FREE && out_pending(c) > 0)
				feeder_conn_flush(f, c);
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
			feeder_conn_flush(f, c);
		if (readable && c->state != CONN_FREE && c->state != CONN_CLOSING)
			feeder_conn_read(f, c);
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
					feeder_conn_close(f, c, DCF_FEEDER_WARNING, "startup packet not received in time");
				}
				break;
			case CONN_CLOSING:
				if (now_us - c->since_us >= (int64_t) DCF_FEEDER_CLOSE_DRAIN_MS * 1000)
					feeder_conn_close(f, c, DCF_FEEDER_WARNING, "refused (its error could not be delivered)");
				break;
			case CONN_STREAMING:
				idle_ms = (now_us - c->last_reply_us) / 1000;
				if (idle_ms >= DCF_FEEDER_CLIENT_TIMEOUT_MS)
				{
					char		why[128];

					snprintf(why, sizeof(why), "the standby was silent for %lld ms",
							 (long long) idle_ms);
					feeder_conn_close(f, c, DCF_FEEDER_WARNING, why);
				}
				else if (idle_ms >= DCF_FEEDER_PING_AFTER_MS && !c->ping_sent && !c->done_sending)
				{
					if (!fw_send_keepalive(c, now_us, true))
						feeder_conn_overflow(f, c);
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
