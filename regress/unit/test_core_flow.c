/*
 * test_core_flow.c — scripted scenarios for adaptive flow control (issue
 * 7, point 8) on a model where the pipeline depth matters:
 *
 *   network   every message arrives 1 ms after it was sent;
 *   followers persist appends one at a time, FSYNC_MS each whatever their
 *             size (an fsync-bound disk): an APPEND reaches the core only
 *             when the disk has finished it, so appends queue at the disk;
 *   client    open loop, RATE entries per ms, 100 bytes each.
 *
 * With the configured limits (64 appends in flight, 256 entries each) a
 * proposal is sent at once in a small append, the disk queue grows to the
 * whole window and every entry waits behind it.  A shallow pipeline makes
 * appends larger and the queue short: the same throughput (the client's
 * rate) at a far lower latency.  The test runs the same load with flow
 * control off and on and checks that flow control finds that: throughput
 * within 5 % and mean latency at most half; that its state is visible in
 * dcf_status (limits, level, measures); that the limits in force bound every
 * append; and that without demand (light load) the level does not move.
 */
#include "test_core_harness.h"

#define FSYNC_MS 2
#define RATE 1					/* entries per ms */
#define RUN_MS 3600				/* fits the harness log (TH_LOG_MAX entries) */
#define MEASURE_FROM_MS 2000	/* measure the last 1.6 s */
#define MAX_PENDING 8192

typedef struct pend
{
	uint64_t	ready;
	uint64_t	seq;
	th_msg		m;
} pend;

typedef struct model
{
	th_cluster	c;
	pend		p[MAX_PENDING];
	int			np;
	uint64_t	seq;
	uint64_t	disk_free[TH_NODES_MAX + 1];
	uint64_t	proposed_ms[1 << 16];	/* by index */
	uint64_t	lat_sum;
	uint64_t	lat_n;
	uint64_t	committed;		/* in the measured window */
	uint64_t	seen_commit;
	uint32_t	max_batch_seen;	/* largest APPEND, in entries */
	bool		over_limit;		/* an APPEND above the batch limit in force */
	int			overflow;
} model;

static dcf_entry ents[DCF_MSG_ENTRIES_MAX];

/* Moves the harness queue into the model's, with arrival times. */
static void
take_queue(model *md)
{
	th_cluster *c = &md->c;
	dcf_status	st;

	memset(&st, 0, sizeof(st));
	if (th_get(c, 1)->node)
		dcf_node_status(th_get(c, 1)->node, &st);
	for (int i = 0; i < c->nq; i++)
	{
		th_msg		qm = c->q[i];
		dcf_msg		m;
		char		err[DCF_ERRMSG_MAX];
		uint64_t	ready = c->now + 1;

		if (dcf_msg_decode(qm.bytes, qm.len, &m, ents, DCF_MSG_ENTRIES_MAX, err) != DCF_OK)
		{
			c->failures++;
			free(qm.bytes);
			continue;
		}
		if (m.type == DCF_MSG_APPEND)
		{
			uint64_t	bytes = 0;

			for (uint32_t k = 0; k < m.n_entries; k++)
				bytes += m.entries[k].len;
			if (m.n_entries > md->max_batch_seen)
				md->max_batch_seen = m.n_entries;
			if (st.role == DCF_ROLE_LEADER &&
				(m.n_entries > st.flow.batch_entries || (m.n_entries > 1 && bytes > st.flow.batch_bytes)))
				md->over_limit = true;
		}
		/* H1: a follower's messages wait for the writes it issued before them */
		if (m.from != 1 && md->disk_free[m.from] + 1 > ready)
			ready = md->disk_free[m.from] + 1;
		if (md->np >= MAX_PENDING)
		{
			md->overflow++;
			free(qm.bytes);
			continue;
		}
		md->p[md->np].ready = ready;
		md->p[md->np].seq = md->seq++;
		md->p[md->np].m = qm;
		md->np++;
	}
	c->nq = 0;
}

/* Delivers every pending message due by now, in (ready, seq) order. */
static void
deliver_due(model *md)
{
	for (;;)
	{
		int			best = -1;
		dcf_msg		m;
		char		err[DCF_ERRMSG_MAX];
		dcf_event	ev;
		th_msg		qm;

		for (int i = 0; i < md->np; i++)
			if (md->p[i].ready <= md->c.now &&
				(best < 0 || md->p[i].ready < md->p[best].ready ||
				 (md->p[i].ready == md->p[best].ready && md->p[i].seq < md->p[best].seq)))
				best = i;
		if (best < 0)
			return;
		qm = md->p[best].m;
		md->p[best] = md->p[--md->np];
		if (dcf_msg_decode(qm.bytes, qm.len, &m, ents, DCF_MSG_ENTRIES_MAX, err) == DCF_OK)
		{
			/* the follower's disk: one append's entries at a time, FSYNC_MS each */
			if (m.type == DCF_MSG_APPEND && m.n_entries > 0 && qm.to != 1)
				md->disk_free[qm.to] = (md->disk_free[qm.to] > md->c.now ? md->disk_free[qm.to] : md->c.now) + FSYNC_MS;
			memset(&ev, 0, sizeof(ev));
			ev.type = DCF_EVENT_MESSAGE;
			ev.now_ms = md->c.now;
			ev.u.message = &m;
			th_step(&md->c, th_get(&md->c, qm.to), &ev);
		}
		free(qm.bytes);
		take_queue(md);
	}
}

/* Runs the model; every_ms: one proposal of `per` entries every every_ms ms. */
static void
run_model(model *md, bool flow, uint64_t every_ms, uint32_t per, dcf_status *end)
{
	th_cluster *c = &md->c;
	th_node    *l;

	memset(md, 0, sizeof(*md));
	memset(end, 0, sizeof(*end));
	th_init(c, 3);
	c->opts.election_timeout_ms = 1000;
	c->opts.heartbeat_interval_ms = 100;
	c->opts.lease_margin_ms = 100;
	c->opts.max_batch_entries = 256;
	c->opts.max_inflight_appends = 64;
	c->opts.flow_control = flow;
	c->opts.flow_interval_ms = 50;
	th_opts(c, 2)->run_mode = DCF_RUN_MODE_NONE;	/* node 1 leads */
	th_opts(c, 3)->run_mode = DCF_RUN_MODE_NONE;
	for (uint32_t i = 1; i <= 3; i++)
		th_start(c, i, 0);
	l = th_get(c, 1);
	for (uint64_t t = 0; t < 5000 && l->role != DCF_ROLE_LEADER; t++)
	{
		th_advance(c, 1);
		take_queue(md);
		deliver_due(md);
	}
	if (l->role != DCF_ROLE_LEADER)
	{
		c->failures++;
		return;
	}
	md->seen_commit = l->commit;
	for (uint64_t t = 0; t < RUN_MS; t++)
	{
		th_advance(c, 1);
		take_queue(md);
		if (t % every_ms == 0)
		{
			for (uint32_t k = 0; k < per; k++)
			{
				uint64_t	idx = th_propose(c, 1, (uint8_t) t, 100);

				if (idx > 0 && idx < (TH_LOG_MAX + 1))
					md->proposed_ms[idx] = c->now;
			}
			take_queue(md);
		}
		deliver_due(md);
		if (getenv("FLOW_TRACE") && t % 100 == 0)
		{
			dcf_status	tr;

			dcf_node_status(l->node, &tr);
			printf("# t=%llu level %u lat %u thr %llu power %llu demand %d\n", (unsigned long long) t, tr.flow.level,
				   tr.flow.last_latency_ms, (unsigned long long) tr.flow.entries_per_s, (unsigned long long) tr.flow.power, tr.flow.demand);
		}
		/* commits seen by the client: latency of each application entry */
		for (uint64_t i = md->seen_commit + 1; i <= l->commit; i++)
		{
			if (i < (TH_LOG_MAX + 1) && md->proposed_ms[i] && t >= MEASURE_FROM_MS)
			{
				md->lat_sum += c->now - md->proposed_ms[i];
				md->lat_n++;
				md->committed++;
			}
		}
		if (l->commit > md->seen_commit)
			md->seen_commit = l->commit;
	}
	dcf_node_status(l->node, end);
	for (int i = 0; i < md->np; i++)
		free(md->p[i].m.bytes);
	md->np = 0;
	th_destroy(c);
}

static model md;

static void
test_steering(void)
{
	dcf_status	off,
				on;
	uint64_t	lat_off,
				lat_on,
				thr_off,
				thr_on;
	uint64_t	window = RUN_MS - MEASURE_FROM_MS;

	run_model(&md, false, 1, RATE, &off);
	CHECK(md.c.failures == 0 && md.overflow == 0 && md.lat_n > 0, "flow control off: the model ran (%llu commits)",
		  (unsigned long long) md.lat_n);
	lat_off = md.lat_n ? md.lat_sum / md.lat_n : 0;
	thr_off = md.committed * 1000 / window;
	CHECK(!off.flow.enabled && off.flow.level == DCF_FLOW_LEVELS && off.flow.batch_entries == 256 &&
		  off.flow.inflight_appends == 64 && off.flow.adjustments == 0 && off.flow.periods > 0 &&
		  off.flow.entries_per_s > 0 && off.flow.commit_latency_ms > 0,
		  "off: the configured limits stay; the measures are still shown (%llu entries/s, %u ms)",
		  (unsigned long long) off.flow.entries_per_s, off.flow.commit_latency_ms);

	run_model(&md, true, 1, RATE, &on);
	CHECK(md.c.failures == 0 && md.overflow == 0 && md.lat_n > 0, "flow control on: the model ran (%llu commits)",
		  (unsigned long long) md.lat_n);
	lat_on = md.lat_n ? md.lat_sum / md.lat_n : 0;
	thr_on = md.committed * 1000 / window;
	printf("# off: %llu entries/s, mean latency %llu ms; on: %llu entries/s, mean latency %llu ms, level %u "
		   "(batch %u, window %u), %llu adjustments\n",
		   (unsigned long long) thr_off, (unsigned long long) lat_off, (unsigned long long) thr_on,
		   (unsigned long long) lat_on, on.flow.level, on.flow.batch_entries, on.flow.inflight_appends,
		   (unsigned long long) on.flow.adjustments);
	CHECK(thr_on * 100 >= thr_off * 95, "on: throughput %llu entries/s, at least 95 %% of %llu with it off",
		  (unsigned long long) thr_on, (unsigned long long) thr_off);
	CHECK(lat_on * 2 <= lat_off, "on: mean commit latency %llu ms, at most half of %llu ms with it off",
		  (unsigned long long) lat_on, (unsigned long long) lat_off);
	CHECK(on.flow.enabled && on.flow.level < DCF_FLOW_LEVELS && on.flow.adjustments > 0 &&
		  on.flow.inflight_appends == (64 * on.flow.level / DCF_FLOW_LEVELS ? 64 * on.flow.level / DCF_FLOW_LEVELS : 1) &&
		  on.flow.batch_entries == (256 * on.flow.level / DCF_FLOW_LEVELS ? 256 * on.flow.level / DCF_FLOW_LEVELS : 1),
		  "status shows the level (%u) and the limits derived from it (batch %u entries, window %u)",
		  on.flow.level, on.flow.batch_entries, on.flow.inflight_appends);
	CHECK(!md.over_limit, "no append exceeded the batch limits in force");
}

static void
test_no_demand(void)
{
	dcf_status	st;

	/* one entry every 20 ms: the limits never bind */
	run_model(&md, true, 20, 1, &st);
	CHECK(md.c.failures == 0 && md.lat_n > 0 && st.flow.level == DCF_FLOW_LEVELS && st.flow.adjustments == 0 &&
		  !st.flow.demand, "light load: no demand, the level stays at %u (%llu adjustments)", st.flow.level,
		  (unsigned long long) st.flow.adjustments);
}

int
main(void)
{
	test_steering();
	test_no_demand();
	return unit_done();
}
