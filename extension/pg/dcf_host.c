/*
 * dcf_host.c — the consensus host (see dcf_host.h): its event path; the state
 * it keeps is declared in dcf_host_int.h, and what the worker reads of it is
 * in dcf_host_state.c; its group commit (inline or the sync thread) is in
 * dcf_host_sync.c.
 *
 * Ordering within one turn of the worker's event loop:
 *
 *   events (messages, proposals, tick) -> dcf_node_step -> process_update:
 *     1. hard state / membership changed: dcf_log_save_meta (durable now)
 *     2. truncate_from: dcf_log_truncate_suffix (durable now)
 *     3a. messages that claim nothing durable (leader APPEND/HEARTBEAT,
 *        when the core allows early sends): encoded and queued on the
 *        transport at once, before our own write of their entries
 *     3. entries: dcf_log_append (not yet durable; need_sync)
 *     4. all other messages: queued at once when nothing waits for a sync,
 *        else encoded into the pending list
 *   dcf_host_flush:
 *     5. dcf_log_sync once for everything appended this turn
 *     6. DCF_EVENT_PERSISTED{durable index, its term} -> process_update
 *     7. pending messages queued on the transport; transport flushed
 *
 * Step 7 after step 5 is contract H1: a vote grant or an append
 * acknowledgement leaves only once what it claims is on disk.
 */
#include "pg/dcf_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dcf_assert.h"
#include "core/dcf_codec.h"

#include "pg/dcf_host_int.h"

static void
hlog(dcf_host *h, dcf_host_log_level level, const char *fmt,...)
	__attribute__((format(printf, 3, 4)));

static void
hlog(dcf_host *h, dcf_host_log_level level, const char *fmt,...)
{
	char		buf[DCF_ERRMSG_MAX];
	va_list		ap;

	if (!h->cb.log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	h->cb.log(h->cb.ctx, level, buf);
}

/* ---- the core's view of the log ------------------------------------------ */

static void
free_reads(dcf_host *h)
{
	while (h->reads)
	{
		read_buf   *n = h->reads->next;

		free(h->reads);
		h->reads = n;
	}
}

static uint64_t
lr_first(void *ctx)
{
	return dcf_log_first_index(((dcf_host *) ctx)->log);
}

static uint64_t
lr_last(void *ctx)
{
	return dcf_log_last_index(((dcf_host *) ctx)->log);
}

static dcf_rc
lr_term(void *ctx, uint64_t index, uint64_t *term, char *errmsg)
{
	dcf_host   *h = ctx;
	dcf_rc		rc = dcf_log_term_at(h->log, index, term);

	if (rc != DCF_OK)
		return dcf_errf(errmsg, rc, "no term for log index %llu", (unsigned long long) index);
	return DCF_OK;
}

static dcf_rc
lr_entries(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes,
		   dcf_entry *out, uint32_t *n_out, char *errmsg)
{
	dcf_host   *h = ctx;
	size_t		cap = (size_t) max_bytes + DCF_LOG_READ_BUFFER_MIN_BYTES;
	size_t		nmax = *n_out;
	dcf_log_entry *le;
	read_buf   *rb;
	size_t		n = 0;
	dcf_rc		rc;

	rb = malloc(sizeof(read_buf) + cap);
	le = malloc(sizeof(dcf_log_entry) * (nmax ? nmax : 1));
	if (rb == NULL || le == NULL)
	{
		free(rb);
		free(le);
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory reading the log");
	}
	rb->cap = cap;
	rb->next = h->reads;
	h->reads = rb;
	rc = dcf_log_read(h->log, lo, hi, (size_t) max_bytes, rb->data, cap, le, nmax, &n, errmsg);
	if (rc == DCF_OK)
	{
		for (size_t i = 0; i < n; i++)
		{
			out[i].term = le[i].term;
			out[i].index = le[i].index;
			out[i].key = le[i].key;
			out[i].type = le[i].type;
			out[i].len = le[i].len;
			out[i].payload = le[i].data;
		}
		*n_out = (uint32_t) n;
	}
	free(le);
	return rc;
}

/* ---- metadata ------------------------------------------------------------ */

dcf_rc
dcf_host_membership_record(const dcf_membership *ms, uint64_t index, uint8_t *buf, size_t cap,
						   size_t *len, char *errmsg)
{
	size_t		mlen = 0;
	dcf_rc		rc;

	if (cap < 8)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "no room for a membership record");
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t) (index >> (8 * i));
	rc = dcf_membership_encode(ms, buf + 8, cap - 8, &mlen, errmsg);
	*len = 8 + mlen;
	return rc;
}

static dcf_rc
save_meta(dcf_host *h, uint64_t applied, char *errmsg)
{
	uint8_t		blob[8 + DCF_MEMBERSHIP_ENCODED_MAX_BYTES];
	size_t		mlen = 0;
	dcf_meta	m;
	dcf_rc		rc;

	rc = dcf_host_membership_record(&h->membership, h->membership_index, blob, sizeof(blob), &mlen, errmsg);
	if (rc != DCF_OK)
		return rc;
	memset(&m, 0, sizeof(m));
	m.term = h->hs.term;
	m.voted_for = h->hs.vote;
	m.repair_index = h->hs.repair_index;
	m.repair_term = h->hs.repair_term;
	m.applied_index = applied;
	m.membership = blob;
	m.membership_len = (uint32_t) mlen;
	rc = dcf_log_save_meta(h->log, &m, errmsg);
	if (rc == DCF_OK)
		h->applied_saved = applied;
	return rc;
}

static dcf_rc
load_membership(dcf_host *h, const dcf_meta *m, char *errmsg)
{
	if (m->membership_len < 8)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "membership record of %u bytes is too short",
						m->membership_len);
	h->membership_index = 0;
	for (int i = 7; i >= 0; i--)
		h->membership_index = (h->membership_index << 8) | m->membership[i];
	return dcf_membership_decode(m->membership + 8, m->membership_len - 8, &h->membership, errmsg);
}

/*
 * Hand the addresses to the transport: the members in force and those of
 * the configuration it replaced (membership.prev).  A member just removed
 * stays reachable until the next change: a removed leader still collects
 * the acknowledgements that commit its removal (without them its followers,
 * which no longer count it, elect another leader and its request ends
 * "aborted"), and the leader can tell a removed node that it was removed
 * (dcf_removed.c).
 */
static dcf_rc
net_set_members(dcf_host *h, char *errmsg)
{
	dcf_net_member nm[2 * DCF_MEMBERS_MAX];
	int			n = 0;

	for (uint32_t i = 0; i < h->membership.n_members + h->membership.n_prev; i++)
	{
		const dcf_member *m = i < h->membership.n_members ? &h->membership.members[i] :
			&h->membership.prev[i - h->membership.n_members];
		bool		dup = false;

		for (int j = 0; j < n && !dup; j++)
			dup = nm[j].node_id == m->node_id;
		if (dup || n >= DCF_NET_MAX_MEMBERS)
			continue;
		nm[n].node_id = m->node_id;
		snprintf(nm[n].ip, sizeof(nm[n].ip), "%s", m->ip);
		nm[n].port = m->port;
		n++;
	}
	return dcf_net_set_members(h->net, nm, n, h->now_ms, errmsg);
}

/* ---- sending ----------------------------------------------------------------- */

static dcf_net_class
msg_class(const dcf_msg *m)
{
	return m->type == DCF_MSG_APPEND ? DCF_NET_BULK : DCF_NET_CONTROL;
}

static dcf_rc
encode_msg(dcf_host *h, const dcf_msg *m, size_t *len, char *errmsg)
{
	size_t		need = dcf_msg_encoded_size(m);

	if (need > h->enc_cap)
	{
		uint8_t    *n = realloc(h->enc, need);

		if (n == NULL)
			return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory encoding a message");
		h->enc = n;
		h->enc_cap = need;
	}
	return dcf_msg_encode(m, h->enc, h->enc_cap, len, errmsg);
}

static void
net_send(dcf_host *h, uint32_t to, dcf_net_class cls, const uint8_t *data, size_t len)
{
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc = dcf_net_send(h->net, to, cls, DCF_HOST_MSG_CONSENSUS, data, len, err);

	/* a full queue or a vanished member: drop, the core retransmits */
	if (rc != DCF_OK && rc != DCF_ERR_FULL)
		hlog(h, DCF_HOST_DEBUG, "message to node %u not sent: %s", to, err);
}

/* ---- updates ------------------------------------------------------------------ */

static dcf_rc process_update(dcf_host *h, const dcf_update *u, char *errmsg);

static dcf_rc
step(dcf_host *h, const dcf_event *ev, char *errmsg)
{
	dcf_update	u;
	dcf_rc		rc;

	free_reads(h);
	rc = dcf_node_step(h->node, ev, &u, errmsg);
	if (rc != DCF_OK)
		return rc;
	return process_update(h, &u, errmsg);
}

/*
 * Encode and send or hold this update's messages: with early, only those
 * that may leave before our own write is durable (H1: a leader's APPEND or
 * HEARTBEAT, when the core allows early sends, i.e. no LOGGER members; our
 * hard state is always durable by now), sent at once; without early, all
 * the others, sent at once when nothing appended waits for a sync, else
 * held until dcf_host_flush has synced.
 */
static bool
msg_early(dcf_host *h, const dcf_msg *m)
{
	return !dcf_msg_needs_persist(m) && dcf_node_early_send_allowed(h->node);
}

static dcf_rc
send_msgs(dcf_host *h, const dcf_update *u, bool early, char *errmsg)
{
	for (uint32_t i = 0; i < u->n_msgs; i++)
	{
		const dcf_msg *m = &u->msgs[i];
		size_t		len = 0;
		dcf_rc		rc;

		if (msg_early(h, m) != early)
			continue;
		rc = encode_msg(h, m, &len, errmsg);
		if (rc != DCF_OK)
			return dcf_errwrap(errmsg, rc, "encoding a %s message", dcf_msg_type_name(m->type));
		if (early || (!h->need_sync && h->syncer.req == h->syncer.seen))
			net_send(h, m->to, msg_class(m), h->enc, len);
		else
		{
			pending_msg *p;

			if (h->n_pending >= DCF_HOST_PENDING_MSGS_MAX)
				continue;		/* drop: the core retransmits */
			p = &h->pending[h->n_pending];
			p->data = malloc(len);
			if (p->data == NULL)
				continue;
			memcpy(p->data, h->enc, len);
			p->len = len;
			p->to = m->to;
			p->cls = msg_class(m);
			/* the sync that covers every append so far: the next one asked for, or the one running */
			p->after_sync = h->syncer.req + (h->need_sync ? 1 : 0);
			h->n_pending++;
		}
	}
	return DCF_OK;
}

static dcf_rc
process_update(dcf_host *h, const dcf_update *u, char *errmsg)
{
	dcf_rc		rc;

	/* 1. hard state and membership, durable before anything is sent */
	if (u->hard_state_changed || u->membership)
	{
		if (u->hard_state_changed)
			h->hs = u->hard_state;
		if (u->membership)
		{
			h->membership = *u->membership;
			h->membership_index = u->membership_index;
		}
		if (u->hard_state_changed && h->hs.repair_index == 0 && u->hard_state.repair_index == 0 &&
			dcf_log_meta(h->log)->repair_index != 0)
			hlog(h, DCF_HOST_LOG, "this node holds its consensus log up to index %llu again: it votes and counts toward commits again",
				 (unsigned long long) dcf_log_meta(h->log)->repair_index);
		rc = save_meta(h, h->applied_saved, errmsg);
		if (rc != DCF_OK)
			return dcf_errwrap(errmsg, rc, "saving term, vote and membership");
		if (u->membership && net_set_members(h, errmsg) != DCF_OK)
			hlog(h, DCF_HOST_WARNING, "transport refused the new membership: %s", errmsg);
	}

	/* the leader's note of followers whose log went backwards (R9) */
	for (uint32_t i = 0; i < u->n_regressions; i++)
		hlog(h, DCF_HOST_LOG, "the consensus log of node %u went backwards: it rejected index %llu at or below its match index %llu%s; replicating to it again from index %llu",
			 u->regressions[i].node_id, (unsigned long long) u->regressions[i].rejected_index,
			 (unsigned long long) u->regressions[i].match_index,
			 u->regressions[i].repair ? " and says it is repairing lost entries" : "",
			 (unsigned long long) u->regressions[i].hint_index + 1);

	/* 2. conflict truncation */
	if (u->truncate_from != 0)
	{
		rc = dcf_log_truncate_suffix(h->log, u->truncate_from, errmsg);
		if (rc != DCF_OK)
			return dcf_errwrap(errmsg, rc, "truncating the log at index %llu",
							   (unsigned long long) u->truncate_from);
		if (h->cb.on_truncate)
			h->cb.on_truncate(h->cb.ctx, u->truncate_from);
	}

	/*
	 * 3a. a leader's APPEND/HEARTBEAT that may leave before its own write is
	 * durable leaves before the write itself: the followers write while we
	 * do (a large append waits for the device, see log.c write_direct).
	 */
	rc = send_msgs(h, u, true, errmsg);
	if (rc != DCF_OK)
		return rc;

	/* 3. entries */
	if (u->n_entries > 0)
	{
		dcf_log_entry *le = malloc(sizeof(dcf_log_entry) * u->n_entries);

		if (le == NULL)
			return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory appending entries");
		for (uint32_t i = 0; i < u->n_entries; i++)
		{
			le[i].index = u->entries[i].index;
			le[i].term = u->entries[i].term;
			le[i].key = u->entries[i].key;
			le[i].type = u->entries[i].type;
			le[i].len = u->entries[i].len;
			le[i].data = u->entries[i].payload;
		}
		rc = dcf_log_append(h->log, le, u->n_entries, errmsg);
		free(le);
		if (rc != DCF_OK)
			return dcf_errwrap(errmsg, rc, "appending %u entries at index %llu", u->n_entries,
							   (unsigned long long) u->entries[0].index);
		h->need_sync = true;
		for (uint32_t i = 0; i < u->n_entries; i++)
			h->unsynced_bytes += u->entries[i].len;
		if (h->cb.on_append)
			h->cb.on_append(h->cb.ctx, u->entries, u->n_entries);
	}

	/* 4. messages claiming something durable, or held for this turn's sync */
	rc = send_msgs(h, u, false, errmsg);
	if (rc != DCF_OK)
		return rc;

	/* outcomes of admin requests */
	if (h->cb.on_report)
		for (uint32_t i = 0; i < u->n_reports; i++)
			h->cb.on_report(h->cb.ctx, &u->reports[i]);

	/* soft state */
	h->commit_index = u->commit_index;
	h->persisted_index = u->persisted_index;
	if (u->role_changed || u->role != h->role || u->leader_id != h->leader_id || u->term != h->term)
	{
		h->role = u->role;
		h->leader_id = u->leader_id;
		h->term = u->term;
		if (h->cb.on_role)
			h->cb.on_role(h->cb.ctx, u->role, u->leader_id, u->term);
	}
	return DCF_OK;
}

/* Tell the core what is durable now (after a sync, or after a truncation). */
static dcf_rc
report_durable(dcf_host *h, uint64_t now_ms, char *errmsg)
{
	uint64_t	durable = dcf_log_durable_index(h->log);
	uint64_t	term = 0;
	dcf_event	ev;
	dcf_rc		rc;

	if (durable == 0)
		return DCF_OK;
	rc = dcf_log_term_at(h->log, durable, &term);
	if (rc != DCF_OK)
	{
		/* recycled below the first index meanwhile: nothing to report */
		if (durable < dcf_log_first_index(h->log))
			return DCF_OK;
		return dcf_errf(errmsg, rc, "no term for durable index %llu", (unsigned long long) durable);
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_PERSISTED;
	ev.now_ms = now_ms;
	ev.u.persisted.index = durable;
	ev.u.persisted.term = term;
	return step(h, &ev, errmsg);
}

/* Send the held messages whose sync has completed, keeping the others in order. */
static void
release_pending(dcf_host *h, uint64_t synced)
{
	uint32_t	keep = 0;

	for (uint32_t i = 0; i < h->n_pending; i++)
	{
		if (h->pending[i].after_sync <= synced)
		{
			net_send(h, h->pending[i].to, h->pending[i].cls, h->pending[i].data, h->pending[i].len);
			free(h->pending[i].data);
		}
		else
			h->pending[keep++] = h->pending[i];
	}
	h->n_pending = keep;
}

dcf_rc
dcf_host_flush(dcf_host *h, uint64_t now_ms, char *errmsg)
{
	host_syncer *s = &h->syncer;
	dcf_rc		rc;

	h->now_ms = now_ms;

	/*
	 * Appends and heartbeats queued this turn go out before our own
	 * fdatasync, so the followers write while we do (H1 allows it).
	 */
	dcf_net_flush(h->net, now_ms);
	for (;;)
	{
		bool		synced;

		rc = host_sync_step(h, &synced, errmsg);
		if (rc != DCF_OK)
			return rc;
		if (!synced)
			break;
		rc = report_durable(h, now_ms, errmsg);
		if (rc != DCF_OK)
			return rc;
		/* the report may have appended: another sync in the next step */
	}
	release_pending(h, s->seen);
	dcf_net_flush(h->net, now_ms);
	return DCF_OK;
}

/* ---- receiving ------------------------------------------------------------- */

static void
on_net_message(void *arg, const dcf_net_msg *nm)
{
	dcf_host   *h = arg;
	dcf_msg		m;
	dcf_event	ev;
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc;

	if (h->fatal_rc != DCF_OK)
		return;
	if (nm->type != DCF_HOST_MSG_CONSENSUS)
	{
		if (nm->type >= DCF_HOST_APP_TYPE_MIN && h->cb.on_app_message)
			h->cb.on_app_message(h->cb.ctx, nm->from, nm->type, nm->data, nm->len);
		else
			hlog(h, DCF_HOST_WARNING, "dropping a message of unknown type %u from node %u",
				 nm->type, nm->from);
		return;
	}
	rc = dcf_msg_decode(nm->data, nm->len, &m, h->dec_entries, DCF_MSG_ENTRIES_MAX, err);
	if (rc != DCF_OK)
	{
		hlog(h, DCF_HOST_WARNING, "dropping a message from node %u: %s", nm->from, err);
		return;
	}
	if (m.from != nm->from || m.to != h->core_opts.node_id)
	{
		hlog(h, DCF_HOST_WARNING, "dropping a message from node %u that claims to be from node %u to node %u",
			 nm->from, m.from, m.to);
		return;
	}
	/*
	 * The leader's commit index as it announces it in appends (a heartbeat's
	 * may be capped at what the follower is known to match).
	 */
	if (m.type == DCF_MSG_APPEND && m.term >= h->leader_commit_term)
	{
		if (m.term > h->leader_commit_term)
			h->leader_commit = 0;
		h->leader_commit_term = m.term;
		if (m.commit > h->leader_commit)
			h->leader_commit = m.commit;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_MESSAGE;
	ev.now_ms = h->now_ms;
	ev.u.message = &m;
	rc = step(h, &ev, err);
	if (rc != DCF_OK)
	{
		h->fatal_rc = rc;
		memcpy(h->fatal_msg, err, sizeof(err));
	}
}

dcf_rc
dcf_host_send_app(dcf_host *h, uint32_t to, uint8_t type, const void *data, size_t len,
				  char *errmsg)
{
	if (type < DCF_HOST_APP_TYPE_MIN)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "host message type %u is reserved", type);
	return dcf_net_send(h->net, to, DCF_NET_CONTROL, type, data, len, errmsg);
}

/* ---- life cycle ---------------------------------------------------------------- */

dcf_rc
dcf_host_open(const dcf_host_options *opts, const dcf_host_callbacks *cb,
			  uint64_t now_ms, dcf_host **out, char *errmsg)
{
	dcf_host   *h = calloc(1, sizeof(dcf_host));
	dcf_log_options lo;
	dcf_log_reader reader;
	dcf_net_options no;
	const dcf_meta *meta;
	dcf_rc		rc;

	*out = NULL;
	if (h == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
	h->cb = *cb;
	h->core_opts = opts->core;
	h->now_ms = now_ms;
	h->dec_entries = malloc(sizeof(dcf_entry) * DCF_MSG_ENTRIES_MAX);
	h->pending = malloc(sizeof(pending_msg) * DCF_HOST_PENDING_MSGS_MAX);
	if (h->dec_entries == NULL || h->pending == NULL)
	{
		rc = dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory");
		goto err_free;
	}

	dcf_log_options_init(&lo);
	lo.create = 1;
	lo.repair = 1;				/* lost durable entries: repair, do not refuse */
	lo.direct_io = !opts->log_buffered;
	lo.io = opts->log_io;
	rc = dcf_log_open(opts->data_path, &lo, &h->log, errmsg);
	if (rc != DCF_OK)
	{
		dcf_errwrap(errmsg, rc, "opening the consensus log in \"%s\"", opts->data_path);
		goto err_free;
	}
	if (dcf_log_info(h->log)->torn && !dcf_log_info(h->log)->lost)
		hlog(h, DCF_HOST_LOG, "cut a torn tail of the consensus log at index %llu (%s at offset %llu: %s)",
			 (unsigned long long) dcf_log_info(h->log)->torn_index,
			 dcf_log_info(h->log)->torn_file,
			 (unsigned long long) dcf_log_info(h->log)->torn_offset,
			 dcf_log_info(h->log)->torn_reason);

	if (dcf_log_info(h->log)->lost)
		hlog(h, DCF_HOST_WARNING, "consensus log entries from index %llu on were damaged or missing though index %llu had been durable (%s at offset %llu: %s); "
			 "they were cut, and this node neither votes nor counts toward commits until it has fetched entries up to index %llu again from the leader",
			 (unsigned long long) dcf_log_info(h->log)->lost_index,
			 (unsigned long long) dcf_log_info(h->log)->durable_floor,
			 dcf_log_info(h->log)->torn ? dcf_log_info(h->log)->torn_file : "end of the log",
			 (unsigned long long) dcf_log_info(h->log)->torn_offset,
			 dcf_log_info(h->log)->torn ? dcf_log_info(h->log)->torn_reason : "missing entries",
			 (unsigned long long) dcf_log_info(h->log)->repair_index);
	else if (dcf_log_info(h->log)->repair_index)
		hlog(h, DCF_HOST_WARNING, "this node is still repairing its consensus log: it neither votes nor counts toward commits until it holds index %llu",
			 (unsigned long long) dcf_log_info(h->log)->repair_index);

	meta = dcf_log_meta(h->log);
	h->hs.term = meta->term;
	h->hs.vote = meta->voted_for;
	h->hs.repair_index = meta->repair_index;
	h->hs.repair_term = meta->repair_term;
	h->applied_saved = meta->applied_index;
	if (meta->membership_len == 0)
	{
		if (opts->bootstrap == NULL)
		{
			rc = dcf_errf(errmsg, DCF_ERR_STATE, "the log in \"%s\" has no membership and none was given",
						  opts->data_path);
			goto err_close;
		}
		h->membership = *opts->bootstrap;
		h->membership_index = 0;
		rc = save_meta(h, 0, errmsg);
		if (rc != DCF_OK)
		{
			dcf_errwrap(errmsg, rc, "saving the initial membership");
			goto err_close;
		}
		hlog(h, DCF_HOST_LOG, "initialized consensus metadata with %u members from dcf.config",
			 h->membership.n_members);
	}
	else
	{
		rc = load_membership(h, meta, errmsg);
		if (rc != DCF_OK)
		{
			dcf_errwrap(errmsg, rc, "reading the membership from \"%s\"", opts->data_path);
			goto err_close;
		}
	}
	if (dcf_membership_find(&h->membership, opts->core.node_id) == NULL)
	{
		rc = dcf_errf(errmsg, DCF_ERR_STATE, "node %u is not a member of the cluster recorded in \"%s\"",
					  opts->core.node_id, opts->data_path);
		goto err_close;
	}

	reader.ctx = h;
	reader.first_index = lr_first;
	reader.last_index = lr_last;
	reader.term = lr_term;
	reader.entries = lr_entries;
	rc = dcf_node_create(&opts->core, &h->hs, &h->membership, h->membership_index,
						 h->applied_saved < dcf_log_last_index(h->log) ? h->applied_saved : dcf_log_last_index(h->log),
						 &reader, now_ms, &h->node, errmsg);
	free_reads(h);
	if (rc != DCF_OK)
	{
		dcf_errwrap(errmsg, rc, "starting the consensus node");
		goto err_close;
	}

	no = opts->net;
	no.self_id = opts->core.node_id;
	no.on_message = on_net_message;
	no.on_message_arg = h;
	rc = dcf_net_create(&no, &h->net, errmsg);
	if (rc != DCF_OK)
		goto err_node;
	rc = net_set_members(h, errmsg);
	if (rc != DCF_OK)
		goto err_net;

	{
		dcf_status	st;

		dcf_node_status(h->node, &st);
		h->role = st.role;
		h->leader_id = st.leader_id;
		h->term = st.term;
		h->commit_index = st.commit_index;
		h->persisted_index = st.persisted_index;
	}
	h->syncer.efd = -1;
	if (!opts->sync_inline)
	{
		rc = host_syncer_start(h, errmsg);
		if (rc != DCF_OK)
			goto err_net;
	}
	*out = h;
	return DCF_OK;

err_net:
	dcf_net_destroy(h->net);
err_node:
	dcf_node_destroy(h->node);
err_close:
	{
		char		e2[DCF_ERRMSG_MAX];

		dcf_log_close(h->log, e2);
	}
err_free:
	free(h->dec_entries);
	free(h->pending);
	free(h);
	return rc;
}

void
dcf_host_close(dcf_host *h)
{
	char		err[DCF_ERRMSG_MAX];

	if (h == NULL)
		return;
	host_syncer_stop(h);		/* before the log closes (log.h) */
	for (uint32_t i = 0; i < h->n_pending; i++)
		free(h->pending[i].data);
	free_reads(h);
	dcf_net_destroy(h->net);
	dcf_node_destroy(h->node);
	dcf_log_close(h->log, err);
	free(h->dec_entries);
	free(h->pending);
	free(h->enc);
	free(h);
}

/* ---- events ------------------------------------------------------------------ */

dcf_rc
dcf_host_tick(dcf_host *h, uint64_t now_ms, char *errmsg)
{
	dcf_event	ev;

	h->now_ms = now_ms;
	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_TICK;
	ev.now_ms = now_ms;
	return step(h, &ev, errmsg);
}

dcf_rc
dcf_host_propose(dcf_host *h, const dcf_proposal *items, uint32_t n, uint64_t now_ms,
				 uint64_t *first_index, char *errmsg)
{
	dcf_event	ev;
	dcf_update	u;
	dcf_rc		rc;

	h->now_ms = now_ms;
	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_PROPOSE;
	ev.now_ms = now_ms;
	ev.u.propose.items = items;
	ev.u.propose.n_items = n;
	free_reads(h);
	rc = dcf_node_step(h->node, &ev, &u, errmsg);
	if (rc != DCF_OK)
		return rc;
	if (first_index)
		*first_index = u.proposed_index;
	return process_update(h, &u, errmsg);
}

dcf_rc
dcf_host_applied(dcf_host *h, uint64_t index, uint64_t now_ms, char *errmsg)
{
	dcf_event	ev;

	h->now_ms = now_ms;
	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_APPLIED;
	ev.now_ms = now_ms;
	ev.u.applied = index;
	return step(h, &ev, errmsg);
}

dcf_rc
dcf_host_admin(dcf_host *h, const dcf_admin_request *req, uint64_t now_ms, char *errmsg)
{
	dcf_event	ev;

	h->now_ms = now_ms;
	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_ADMIN;
	ev.now_ms = now_ms;
	ev.u.admin = *req;
	return step(h, &ev, errmsg);
}

/* ---- transport -------------------------------------------------------------- */

int
dcf_host_socks(dcf_host *h, dcf_net_sock *out, int max)
{
	return dcf_net_socks(h->net, out, max);
}

uint64_t
dcf_host_net_generation(const dcf_host *h)
{
	return dcf_net_generation(h->net);
}

dcf_rc
dcf_host_net_process(dcf_host *h, const dcf_net_sock *ready, int n, uint64_t now_ms,
					 char *errmsg)
{
	h->now_ms = now_ms;
	dcf_net_process(h->net, ready, n, now_ms);
	if (h->fatal_rc != DCF_OK)
	{
		memcpy(errmsg, h->fatal_msg, DCF_ERRMSG_MAX);
		return h->fatal_rc;
	}
	return DCF_OK;
}

int
dcf_host_timeout_ms(dcf_host *h, uint64_t now_ms)
{
	return dcf_net_timeout_ms(h->net, now_ms);
}

/* ---- metadata, from the worker -------------------------------------------- */

dcf_rc
dcf_host_save_applied(dcf_host *h, uint64_t applied, char *errmsg)
{
	if (applied == h->applied_saved)
		return DCF_OK;
	return save_meta(h, applied, errmsg);
}
