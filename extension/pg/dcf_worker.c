/*-------------------------------------------------------------------------
 *
 * dcf_worker.c
 *		The consensus background worker: one per server, started with the
 *		postmaster, with shared memory and no database connection.  This
 *		file holds its event loop, wait set and signals, its start-up and
 *		the consensus host's callbacks; dcf_worker_int.h lists the files
 *		that implement the rest.
 *
 * A single-threaded event loop on a WaitEventSet: the process latch,
 * postmaster death, the transport's sockets, the WAL feeder's socket
 * (follower side: the local standby's walreceiver connects to it) and the
 * WAL pump's connection (leader side: a replication client of the local
 * walsender).  PG15 cannot remove a socket from a WaitEventSet, so the set
 * is rebuilt whenever the list of sockets changes.
 *
 * One turn: wait; hand ready sockets to the transport (messages step the
 * consensus core), the feeder and the pump (WAL chunks become proposals,
 * dcf_propose.c); tick the core; make this turn's appends durable and send
 * what waited for it (dcf_host_flush); advance what was committed
 * (dcf_progress.c); drive the leader's start-up sequence (dcf_promote.c);
 * publish the state to shared memory (dcf_publish.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "core/dcf_codec.h"
#include "pg/dcf_admin.h"
#include "pg/dcf_guc.h"
#include "pg/dcf_shmem.h"
#include "pg/dcf_worker.h"
#include "pg/dcf_observe.h"
#include "pg/dcf_policy.h"
#include "pg/dcf_workmode.h"
#include "pg/dcf_worker_int.h"

/*
 * The wait set: latch and postmaster death, the transport's sockets (its
 * listening socket, strangers still authenticating, two connections per
 * member — dcf_net_socks lists members first, so strangers beyond the limit
 * can never push a member out), the feeder's and the pump's.
 */
#define WORKER_NET_SOCKS_MAX		(1 + DCF_NET_MAX_PENDING + 2 * (DCF_MEMBERS_MAX + 1))	/* + a member just removed */
#define WORKER_EVENTS_MAX			(2 + WORKER_NET_SOCKS_MAX + DCF_FEEDER_MAX_FDS + 1)

/* one limit on the number of members, whichever layer counts them */
StaticAssertDecl(DCF_MAX_MEMBERS == DCF_MEMBERS_MAX,
				 "dcf.config and the core must agree on the most members");
StaticAssertDecl(DCF_MEMBERS_MAX <= DCF_NET_MAX_MEMBERS,
				 "the transport must reach every member the core may have");

static DcfWorker W;
static volatile sig_atomic_t shutdown_requested = false;

static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	shutdown_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
worker_exit(int code, Datum arg)
{
	DcfWorker  *w = &W;

	if (w->feeder)
	{
		dcf_feeder_destroy(w->feeder);
		w->feeder = NULL;
	}
	if (dcf_shared == NULL)
		return;
	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	if (dcf_shared->worker_pid == MyProcPid)
		dcf_shared->worker_pid = 0;
	LWLockRelease(dcf_shared->lock);
}

/* A failure of the consensus layers that leaves nothing safe to do. */
void
worker_panic(const char *what, const char *detail)
{
	ereport(PANIC,
			(errmsg("dcf: %s: %s", what, detail)));
}

static void
cb_host_log(void *ctx, dcf_host_log_level level, const char *msg)
{
	ereport(level == DCF_HOST_WARNING ? WARNING : level == DCF_HOST_LOG ? LOG : DEBUG1,
			(errmsg("dcf: %s", msg)));
}

/*
 * Map one log entry's WAL.  An entry the WAL map refuses (malformed, or WAL
 * that does not continue its timeline) must not take every node down in a
 * boot loop: the map stops there, the feeder serves WAL only below it, and
 * the node refuses logins and says why, until a leader overwrites the entry
 * or the node is rebuilt.
 */
static void
map_entry(DcfWorker *w, uint64_t index, uint8_t type, const void *payload, uint32_t len)
{
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc;

	if (w->bad_index != 0)
		return;
	rc = dcf_walmap_add(w->walmap, index, type, payload, len, err);
	if (rc == DCF_OK)
		return;
	if (rc == DCF_ERR_NOMEM)
		worker_panic("mapping the WAL of the consensus log", err);
	w->bad_index = index;
	ereport(WARNING,
			(errmsg("dcf: log index " UINT64_FORMAT " holds WAL this node cannot use: %s", index, err),
			 errdetail("The node serves WAL only up to that entry and refuses logins."),
			 errhint("If the entry is committed, rebuild the node (dcf_ctl build) and report the problem.")));
}

static void
cb_on_append(void *ctx, const dcf_entry *entries, uint32_t n)
{
	DcfWorker  *w = (DcfWorker *) ctx;

	for (uint32_t i = 0; i < n; i++)
	{
		map_entry(w, entries[i].index, entries[i].type, entries[i].payload, entries[i].len);
		/* the feeder hands it to the standby soon: keep it in memory */
		dcf_walreader_remember(&w->rd, entries[i].index, entries[i].term, entries[i].key,
							   entries[i].type, entries[i].payload, entries[i].len);
	}
}

static void
cb_on_truncate(void *ctx, uint64_t from_index)
{
	DcfWorker  *w = (DcfWorker *) ctx;
	dcf_walmap_truncate(w->walmap, from_index);
	if (w->bad_index >= from_index)
		w->bad_index = 0;		/* the refused entry is gone */
	dcf_walreader_reset(&w->rd);
	dcf_walreader_forget_from(&w->rd, from_index);
}

static void
cb_on_role(void *ctx, dcf_role role, uint32_t leader_id, uint64_t term)
{
	DcfWorker  *w = (DcfWorker *) ctx;
	observe_on_role(w, role, leader_id, term);
	w->role_event = true;
	w->role_events++;
	if (role != w->role || leader_id != w->leader_id || term != w->term)
		ereport(LOG,
				(errmsg("dcf: node %d is %s in term " UINT64_FORMAT "%s",
						dcf_node_id, dcf_role_name(role), term,
						leader_id ? psprintf(", leader %u", leader_id) : ", no leader")));
	w->role = role;
	w->leader_id = leader_id;
	w->term = term;
}

static void
cb_net_log(void *arg, dcf_net_log_level level, const char *line)
{
	ereport(level == DCF_NET_LOG_WARNING ? WARNING : level == DCF_NET_LOG_INFO ? LOG : DEBUG1,
			(errmsg("dcf net: %s", line)));
}

static void
to_core_membership(const DcfConfig *cfg, dcf_membership *ms)
{
	memset(ms, 0, sizeof(*ms));
	ms->n_members = (uint32_t) cfg->nmembers;
	for (int i = 0; i < cfg->nmembers; i++)
	{
		const DcfMember *m = &cfg->members[i];
		dcf_member *o = &ms->members[i];

		dcf_member_init(o, m->node_id, dcf_member_role_to_core(m->role));
		o->weight = (uint32_t) m->weight;
		o->group = (uint32_t) m->group;
		o->priority = (uint32_t) m->priority;
		strlcpy(o->ip, m->ip, sizeof(o->ip));
		o->port = (uint16_t) m->port;
	}
}

/* Build the WAL map from every entry of the log. */
static void
scan_log(DcfWorker *w)
{
	dcf_log    *log = dcf_host_log(w->host);
	uint64_t	first = dcf_log_first_index(log);
	uint64_t	last = dcf_log_last_index(log);
	char		err[DCF_ERRMSG_MAX];

	for (uint64_t i = first; i <= last && last > 0; i++)
	{
		dcf_log_entry e;

		if (walsrc_read_entry(w, i, &e, err) != DCF_OK)
			worker_panic("reading the consensus log", err);
		map_entry(w, e.index, e.type, e.data, e.len);
	}
}

/*
 * A standby that once led still has the pump's physical slot, which would
 * hold back its pg_wal (and, through the feedback the pump relayed, xmin)
 * for good: drop it.
 */
static void
drop_pump_slot(void)
{
	ReplicationSlot *slot;
	bool		idle;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	slot = SearchNamedReplicationSlot(DCF_STANDBY_NAME, false);
	idle = slot != NULL && slot->active_pid == 0;
	LWLockRelease(ReplicationSlotControlLock);
	if (!idle)
		return;
	ReplicationSlotDrop(DCF_STANDBY_NAME, true);
	ereport(LOG, (errmsg("dcf: dropped the replication slot \"%s\" this node used while it led", DCF_STANDBY_NAME)));
}

static void
worker_start(DcfWorker *w, uint64_t now_ms)
{
	dcf_host_options ho;
	dcf_host_callbacks hcb;
	dcf_membership boot;
	dcf_feeder_source src;
	uint8_t    *rd_buf;
	char		err[DCF_ERRMSG_MAX];
	dcf_rc		rc;

	memset(w, 0, sizeof(*w));
	w->walmap = dcf_walmap_create();
	rd_buf = malloc(DCF_WALREADER_BUF_BYTES);
	if (w->walmap == NULL || rd_buf == NULL)
		ereport(FATAL, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));

	to_core_membership(&dcf_config_parsed, &boot);
	memset(&ho, 0, sizeof(ho));
	ho.data_path = dcf_data_path_abs;
	ho.log_buffered = !dcf_log_direct_io;
	ho.sync_inline = !dcf_log_sync_thread;
	dcf_options_init(&ho.core, (uint32_t) dcf_node_id);
	ho.core.election_timeout_ms = (uint32_t) dcf_election_timeout_ms;
	ho.core.heartbeat_interval_ms = (uint32_t) dcf_heartbeat_interval_ms;
	ho.core.lease_margin_ms = (uint32_t) Min(dcf_election_timeout_ms / 4, 100);
	ho.core.prng_seed = ((uint64_t) MyProcPid << 32) ^ (uint64_t) worker_wall_us();
	dcf_policy_apply_options(&ho.core);	/* run mode, majority groups, priority election, flow control */
	dcf_workmode_apply_options(&ho.core);	/* minority mode, when recorded */
	rc = dcf_options_validate(&ho.core, err);
	if (rc != DCF_OK)
		ereport(FATAL, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("invalid dcf timing settings: %s", err),
						errhint("dcf.heartbeat_interval must be well below dcf.election_timeout.")));
	dcf_net_options_init(&ho.net);
	ho.net.auth_key_file = dcf_auth_key_file;
	ho.net.ssl = dcf_ssl;
	ho.net.ssl_cert_file = dcf_ssl_cert_file;
	ho.net.ssl_key_file = dcf_ssl_key_file;
	ho.net.ssl_ca_file = dcf_ssl_ca_file;
	ho.net.compress = dcf_compress == 1 ? DCF_NET_COMPRESS_LZ4 : DCF_NET_COMPRESS_NONE;
	ho.net.log = cb_net_log;
	ho.bootstrap = &boot;
	memset(&hcb, 0, sizeof(hcb));
	hcb.ctx = w;
	hcb.log = cb_host_log;
	hcb.on_append = cb_on_append;
	hcb.on_truncate = cb_on_truncate;
	hcb.on_role = cb_on_role;
	hcb.on_app_message = progress_on_app_message;
	hcb.on_report = dcf_admin_on_report;

	rc = dcf_host_open(&ho, &hcb, now_ms, &w->host, err);
	if (rc != DCF_OK)
		ereport(FATAL,
				(errcode(rc == DCF_ERR_CORRUPT ? ERRCODE_DATA_CORRUPTED : ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dcf cannot start: %s", err)));
	dcf_walreader_init(&w->rd, dcf_host_log(w->host), rd_buf);
	observe_start(w);

	/* the WAL map from what the log holds, committed up to the applied index */
	{
		dcf_status	st;

		dcf_host_status(w->host, &st);
		dcf_walmap_commit(w->walmap, st.commit_index);
		w->applied_index = st.commit_index;
	}
	scan_log(w);
	w->commit_index = dcf_walmap_commit_index(w->walmap);

	/* restarted while the server is the primary this node promoted */
	if (!RecoveryInProgress())
		lead_adopt_primary(w, now_ms);
	else
		drop_pump_slot();

	walsrc_fill(w, &src);
	w->feeder = dcf_feeder_create(dcf_data_path_abs, dcf_feeder_port(), &src, err);
	if (w->feeder == NULL)
		ereport(FATAL, (errmsg("dcf cannot start the WAL feeder: %s", err)));
}

typedef enum EvKind
{
	EV_NET = 1,
	EV_FEEDER,
	EV_PUMP,
	EV_SYNC						/* the host's sync thread completed a sync */
} EvKind;

typedef struct WantedSocket
{
	EvKind		kind;
	pgsocket	fd;
	uint32		events;			/* WL_SOCKET_* */
} WantedSocket;

static void
want_add(WantedSocket *w, int *n, EvKind kind, pgsocket fd, bool r, bool wr)
{
	if (*n >= WORKER_EVENTS_MAX - 2)
		return;
	w[*n].kind = kind;
	w[*n].fd = fd;
	/* a socket with nothing to wait for still reports a hang-up */
	w[*n].events = (r ? WL_SOCKET_READABLE : 0) | (wr ? WL_SOCKET_WRITEABLE : 0);
	if (w[*n].events == 0)
		w[*n].events = WL_SOCKET_CLOSED;
	(*n)++;
}

/*
 * The wait set for these sockets.  PG15 cannot remove a socket from a
 * WaitEventSet, so the set is rebuilt when the list of sockets changed;
 * when only what we wait for changed, ModifyWaitEvent adjusts it.
 * Positions 0 and 1 are the latch and postmaster death.
 */
static WaitEventSet *
wait_set_sync(const WantedSocket *w, int n)
{
	static WaitEventSet *set = NULL;
	static WantedSocket have[WORKER_EVENTS_MAX];
	static int	nhave = -1;
	bool		same = (set != NULL && n == nhave);

	for (int i = 0; same && i < n; i++)
		same = (w[i].kind == have[i].kind && w[i].fd == have[i].fd);
	if (!same)
	{
		if (set)
			FreeWaitEventSet(set);
		set = CreateWaitEventSet(TopMemoryContext, n + 2);
		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		for (int i = 0; i < n; i++)
			AddWaitEventToSet(set, w[i].events, w[i].fd, NULL, (void *) (intptr_t) w[i].kind);
	}
	else
	{
		for (int i = 0; i < n; i++)
			if (w[i].events != have[i].events)
				ModifyWaitEvent(set, i + 2, w[i].events, NULL);
	}
	memcpy(have, w, sizeof(WantedSocket) * n);
	nhave = n;
	return set;
}

void
dcf_worker_main(Datum main_arg)
{
	DcfWorker  *w = &W;
	MemoryContext turn_cxt;

	pqsignal(SIGTERM, worker_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	if (dcf_shared == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dcf shared memory is not initialized")));

	/* The postmaster checked it at start; it may have changed since. */
	if (!dcf_prepare_data_path(ERROR))
		proc_exit(1);

	LWLockAcquire(dcf_shared->lock, LW_EXCLUSIVE);
	/* what an earlier worker published is no longer true */
	strlcpy(dcf_shared->role, "UNKNOWN", DCF_ROLE_NAME_BYTES);
	dcf_shared->leader_id = 0;
	dcf_shared->leading = false;
	dcf_shared->joined = false;	/* until this worker sees the node join */
	dcf_shared->worker_pid = MyProcPid;
	dcf_shared->worker_started_at = GetCurrentTimestamp();
	dcf_shared->worker_starts++;
	LWLockRelease(dcf_shared->lock);
	before_shmem_exit(worker_exit, (Datum) 0);

	ereport(LOG,
			(errmsg("dcf worker started for node %d, data path \"%s\"",
					dcf_node_id, dcf_data_path_abs)));

	worker_start(w, worker_mono_ms());
	removed_start(w, worker_mono_ms());
	dcf_admin_worker_start();
	handover_worker_start();

	/*
	 * Everything a turn pallocs (log messages, connection strings) goes
	 * into a context reset at the end of the turn.
	 */
	turn_cxt = AllocSetContextCreate(TopMemoryContext, "dcf worker turn", ALLOCSET_DEFAULT_SIZES);
	while (!shutdown_requested)
	{
		WaitEventSet *set;
		WantedSocket want[WORKER_EVENTS_MAX];
		int			nwant;
		WaitEvent	events[WORKER_EVENTS_MAX];
		dcf_net_sock socks[WORKER_EVENTS_MAX];
		dcf_net_sock ready[WORKER_EVENTS_MAX];
		dcf_feeder_fd ffds[DCF_FEEDER_MAX_FDS];
		int			nsocks,
					nffds,
					nready = 0,
					n;
		long		timeout;
		uint64_t	now_ms = worker_mono_ms();
		int			nt;
		int64_t		fw;
		char		err[DCF_ERRMSG_MAX];

		MemoryContextSwitchTo(turn_cxt);

		/* this turn's sockets; the wait set is rebuilt only when they change */
		nsocks = dcf_host_socks(w->host, socks, WORKER_NET_SOCKS_MAX);
		nsocks = Min(nsocks, WORKER_NET_SOCKS_MAX);
		nffds = dcf_feeder_fds(w->feeder, ffds, DCF_FEEDER_MAX_FDS);
		nwant = 0;
		for (int i = 0; i < nsocks; i++)
			want_add(want, &nwant, EV_NET, socks[i].fd,
					 (socks[i].events & DCF_NET_READ) != 0, (socks[i].events & DCF_NET_WRITE) != 0);
		for (int i = 0; i < nffds; i++)
			want_add(want, &nwant, EV_FEEDER, ffds[i].fd, ffds[i].want_read, ffds[i].want_write);
		if (dcf_host_sync_fd(w->host) >= 0)
			want_add(want, &nwant, EV_SYNC, dcf_host_sync_fd(w->host), true, false);
		if (w->pump && dcf_pump_socket(w->pump) >= 0)
			want_add(want, &nwant, EV_PUMP, dcf_pump_socket(w->pump),
					 dcf_pump_wants_read(w->pump), dcf_pump_wants_write(w->pump));
		set = wait_set_sync(want, nwant);

		timeout = WORKER_WAIT_MAX_MS;
		nt = dcf_host_timeout_ms(w->host, now_ms);
		if (nt >= 0)
			timeout = Min(timeout, nt);
		timeout = Min(timeout, WORKER_TICK_MIN_MS);
		fw = dcf_feeder_next_wakeup_us(w->feeder);
		if (fw != INT64_MAX)
			timeout = Min(timeout, Max(0, (fw - worker_wall_us()) / 1000));
		if (w->feeder_due_ms != 0)
			timeout = Min(timeout, w->feeder_due_ms > now_ms ? (long) (w->feeder_due_ms - now_ms) : 0);

		n = WaitEventSetWait(set, timeout, events, lengthof(events), PG_WAIT_EXTENSION);
		now_ms = worker_mono_ms();

		for (int i = 0; i < n; i++)
		{
			EvKind		kind = (EvKind) (intptr_t) events[i].user_data;
			bool		closed = (events[i].events & WL_SOCKET_CLOSED) != 0;
			bool		r = closed || (events[i].events & WL_SOCKET_READABLE) != 0;
			bool		wr = closed || (events[i].events & WL_SOCKET_WRITEABLE) != 0;

			if (events[i].events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				continue;
			}
			if (kind == EV_NET)
			{
				ready[nready].fd = events[i].fd;
				ready[nready].events = (r ? DCF_NET_READ : 0) | (wr ? DCF_NET_WRITE : 0);
				nready++;
			}
			else if (kind == EV_FEEDER)
				dcf_feeder_on_ready(w->feeder, events[i].fd, r, wr, worker_wall_us());
		}
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* consensus messages */
		if (dcf_host_net_process(w->host, ready, nready, now_ms, err) != DCF_OK)
			worker_panic("processing consensus messages", err);

		/*
		 * A commit the acknowledgements of this turn completed is reported to
		 * the walsender now, not after this turn's fsync of newer WAL: the
		 * waiting backends need a majority, not this node's next group commit.
		 */
		if (w->pump)
		{
			progress_advance_commit(w, now_ms);
			dcf_pump_poll(w->pump, worker_wall_us());
		}

		/* the pump: WAL from our walsender becomes proposals */
		if (w->pump)
		{
			if (dcf_pump_poll(w->pump, worker_wall_us()) == DCF_PUMP_FAILED)
			{
				ereport(LOG, (errmsg("dcf: WAL pump: %s", dcf_pump_error(w->pump))));
				propose_collected(w, now_ms);
				propose_stop_pump(w);
				w->pump_retry_at_ms = now_ms + WORKER_PUMP_RETRY_MS;
			}
			else
				propose_collected(w, now_ms);
		}

		/* time */
		if (now_ms - w->last_tick_ms >= WORKER_TICK_MIN_MS)
		{
			if (dcf_host_tick(w->host, now_ms, err) != DCF_OK)
				worker_panic("ticking the consensus core", err);
			w->last_tick_ms = now_ms;
		}

		/* durability, then what waited for it */
		if (dcf_host_flush(w->host, now_ms, err) != DCF_OK)
			worker_panic("making the consensus log durable", err);

		if (!w->promoted && !RecoveryInProgress())
			fence_and_stop(w, "the server is a primary, but dcf did not elect it");
		if (w->role_event)
		{
			w->role_event = false;
			lead_handle_role_change(w, now_ms);
		}
		if (w->suspended && w->lead == LEAD_NONE &&
			now_ms - w->suspended_since_ms > (uint64_t) WORKER_SUSPEND_TIMEOUTS * dcf_election_timeout_ms &&
			!lead_serving_rewind(w, now_ms))
			fence_and_stop(w, "it was not elected again in time");
		progress_advance_commit(w, now_ms);
		observe_turn(w);
		walsrc_check_abandoned(w);
		walsrc_check_diverged(w, now_ms);
		lead_step(w, now_ms);
		progress_forward_feedback(w, now_ms);
		progress_apply_feedback(w, now_ms);
		endpoints_tick(w, now_ms);
		removed_tick(w, now_ms);
		if (w->pump)
			dcf_pump_poll(w->pump, worker_wall_us());	/* send the new commit report now */
		dcf_feeder_tick(w->feeder, worker_wall_us());
		if (dcf_host_flush(w->host, now_ms, err) != DCF_OK)
			worker_panic("making the consensus log durable", err);
		progress_build_step(w, now_ms);
		progress_recycle_log(w, now_ms);
		dcf_admin_worker_step(w->host, now_ms, w->role_event_published != w->role_events);	/* admin requests from backends */
		handover_tick(w, now_ms);	/* switchover: restart as a standby, or reopen writes */
		policy_tick(w, now_ms); /* reloaded settings, the leader's policy to members */
		/* shared state: on every role change, else at most every few ms */
		if (w->role_event_published != w->role_events || now_ms - w->last_publish_ms >= WORKER_PUBLISH_EVERY_MS)
		{
			publish_state(w, now_ms);
			w->last_publish_ms = now_ms;
			w->role_event_published = w->role_events;
		}
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(turn_cxt);
	}

	ereport(LOG, (errmsg("dcf worker shutting down")));
	if (w->pump)
		dcf_pump_destroy(w->pump);
	dcf_host_close(w->host);
	proc_exit(1);
}
