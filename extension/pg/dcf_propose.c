/*-------------------------------------------------------------------------
 *
 * dcf_propose.c
 *		The leader's WAL pump glue: WAL streamed from the local walsender
 *		(pump.c) becomes proposals to the consensus log.
 *
 * Each turn, pump_on_wal collects the WAL the pump received into at most
 * WORKER_PROPOSALS_MAX chunks (each at most DCF_WAL_CHUNK_MAX_BYTES,
 * contiguous chunks merged), and propose_collected hands them to the core
 * in one step.  A refused proposal (leadership lost, or the core's buffer
 * full) drops the pump; it restarts from the end of what the log has.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/xlogdefs.h"
#include "libpq/libpq.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"

#include "core/dcf_codec.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_walentry.h"
#include "pg/dcf_observe.h"
#include "pg/dcf_worker_int.h"

static int
pump_on_wal(void *ctx, uint32_t tli, uint64_t start, const char *data, size_t len,
			size_t *accepted, char *errmsg)
{
	DcfWorker  *w = (DcfWorker *) ctx;
	*accepted = 0;
	while (len > 0)
	{
		dcf_proposal *last = w->nprops ? &w->props[w->nprops - 1] : NULL;
		dcf_wal_chunk c;
		size_t		take;
		uint8_t    *buf;

		/* extend the previous chunk of this turn when it continues it */
		if (last && last->type == DCF_ENTRY_WAL &&
			dcf_wal_chunk_decode(last->payload, last->len, &c, errmsg) == DCF_OK &&
			c.tli == tli && c.start + c.len == start && c.len < DCF_WAL_CHUNK_MAX_BYTES)
		{
			take = Min(len, (size_t) (DCF_WAL_CHUNK_MAX_BYTES - c.len));
			buf = realloc(w->prop_bufs[w->nprops - 1], last->len + take);
			if (buf == NULL)
			{
				snprintf(errmsg, DCF_PUMP_ERRMSG_MAX, "out of memory");
				return 1;
			}
			memcpy(buf + last->len, data, take);
			w->prop_bufs[w->nprops - 1] = buf;
			last->payload = buf;
			last->len += (uint32_t) take;
		}
		else
		{
			if (w->nprops >= WORKER_PROPOSALS_MAX)
				return DCF_PUMP_WAL_LATER;	/* the pump keeps the rest */
			take = Min(len, (size_t) DCF_WAL_CHUNK_MAX_BYTES);
			buf = malloc(DCF_WAL_CHUNK_HEADER_BYTES + take);
			if (buf == NULL)
			{
				snprintf(errmsg, DCF_PUMP_ERRMSG_MAX, "out of memory");
				return 1;
			}
			c.tli = tli;
			c.start = start;
			c.data = (const uint8_t *) data;
			c.len = (uint32_t) take;
			w->prop_bufs[w->nprops] = buf;
			w->props[w->nprops].type = DCF_ENTRY_WAL;
			w->props[w->nprops].payload = buf;
			w->props[w->nprops].len = (uint32_t) dcf_wal_chunk_encode(&c, buf, DCF_WAL_CHUNK_HEADER_BYTES + take);
			w->nprops++;
			last = &w->props[w->nprops - 1];
		}
		w->pending_key = dcf_walentry_key(w->pending_key, start + take);
		last->key = w->pending_key;
		*accepted += take;
		start += take;
		data += take;
		len -= take;
	}
	return 0;
}

void
propose_collected(DcfWorker *w, uint64_t now_ms)
{
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc = DCF_OK;
	uint64_t	first = 0;

	if (w->nprops == 0)
		return;
	rc = dcf_host_propose(w->host, w->props, w->nprops, now_ms, &first, err);
	if (rc == DCF_OK)
		observe_proposed(w, first, w->nprops);
	for (uint32_t i = 0; i < w->nprops; i++)
		free(w->prop_bufs[i]);
	w->nprops = 0;
	if (rc != DCF_OK)
	{
		/*
		 * Refused (no longer leader, or the core's buffer is full): the pump
		 * restarts from the end of what the log has.
		 */
		ereport(LOG, (errmsg("dcf: WAL proposal refused: %s", err)));
		propose_stop_pump(w);
		w->pending_key = dcf_host_last_key(w->host);
		w->pump_retry_at_ms = now_ms + WORKER_PUMP_RETRY_MS;
	}
}

/*
 * Our own walsender over the first Unix socket directory, with the per-boot
 * token that lets this connection report for the reserved standby name
 * (dcf_guard.c).
 */
static char *
propose_conninfo(void)
{
	char	   *dirs = pstrdup(Unix_socket_directories ? Unix_socket_directories : "");
	char	   *comma = strchr(dirs, ',');
	char		token[DCF_PUMP_TOKEN_BYTES];
	char	   *ci;

	if (comma)
		*comma = '\0';
	LWLockAcquire(dcf_shared->lock, LW_SHARED);
	memcpy(token, dcf_shared->pump_token, sizeof(token));
	LWLockRelease(dcf_shared->lock);
	ci = psprintf("host='%s' port=%d dbname=replication connect_timeout=10 options='-c dcf.pump_token=%s'",
				  dirs[0] ? dirs : "localhost", PostPortNumber, token);
	pfree(dirs);
	return ci;
}

void
propose_start_pump(DcfWorker *w, uint64_t now_ms)
{
	const dcf_walmap_tl *tl = dcf_walmap_latest_appended(w->walmap);
	dcf_pump_callbacks cb = {w, pump_on_wal};
	char	   *ci;

	if (tl == NULL || tl->tli != w->lead_tli)
		return;
	ci = propose_conninfo();
	w->pending_key = dcf_host_last_key(w->host);
	w->pump = dcf_pump_start(ci, DCF_STANDBY_NAME, tl->tli, tl->appended_end,
							Max(tl->committed_end, tl->begin_lsn), &cb);
	pfree(ci);
	if (w->pump == NULL)
		worker_panic("starting the WAL pump", "out of memory");
	ereport(LOG, (errmsg("dcf: WAL pump starting at %X/%X on timeline %u",
						 LSN_FORMAT_ARGS(tl->appended_end), tl->tli)));
}

/* Close the pump: from now on no commit is reported to the walsender. */
void
propose_stop_pump(DcfWorker *w)
{
	if (w->pump)
	{
		dcf_pump_destroy(w->pump);
		w->pump = NULL;
	}
}
