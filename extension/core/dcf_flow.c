/*
 * dcf_flow.c — adaptive flow control of the leader's batches and pipeline
 * window (DCF's flow control: sample, compute the trend, steer, repeat).
 *
 * One control variable, the level L in 1..DCF_FLOW_LEVELS, sets the limits
 * in force: batch entries, batch bytes and appends in flight per peer are
 * each max(1, configured maximum * L / DCF_FLOW_LEVELS).
 *
 * Each control period (flow_interval_ms) the leader measures what it
 * committed (entries, payload bytes, per second) and the commit latency —
 * from the time an entry was proposed to the time it was committed, sampled
 * for up to DCF_FLOW_SAMPLES proposals in flight — and remembers the lowest
 * period latency of the last DCF_FLOW_MIN_LAT_PERIODS periods (what the
 * cluster does without queueing).  With at least DCF_FLOW_MIN_COMMITS
 * commits in the period (too little load says nothing):
 *   F1  queueing (latency at least twice the lowest) without more
 *       throughput than the period before: L shrinks by a quarter — the
 *       same throughput at a lower latency is the goal;
 *   F2  else, if a limit held entries back during the period (a full
 *       window or a capped batch with more to send) and there was no
 *       queueing: L grows, by a step that doubles while growth goes on
 *       (1, 2, 4, ... up to 16);
 *   F3  else L stays.
 * A new leader starts at DCF_FLOW_START_LEVEL and climbs as load demands.
 * With flow_control off, L is DCF_FLOW_LEVELS: the configured limits.
 *
 * Invariant: 1 <= limits <= configured maxima; every progress entry's
 * window (infl_limit) equals the inflight limit in force.
 */
#include "core/dcf_node_int.h"

#include <string.h>

#define DCF_FLOW_START_LEVEL	8
#define DCF_FLOW_MAX_STEP		16

uint64_t
dcf_flow_interval_ms(const dcf_node *node)
{
	return node->opts.flow_interval_ms ? node->opts.flow_interval_ms : DCF_FLOW_DEFAULT_INTERVAL_MS;
}

static uint32_t
scale(uint64_t max, uint32_t level)
{
	uint64_t	v = max * level / DCF_FLOW_LEVELS;

	return v ? (uint32_t) v : 1;
}

static void
apply_level(dcf_node *node)
{
	dcf_flow   *f = &node->flow;

	if (!node->opts.flow_control)
		f->level = DCF_FLOW_LEVELS;
	f->batch_entries = scale(node->opts.max_batch_entries, f->level);
	f->batch_bytes = scale(node->opts.max_batch_bytes, f->level);
	f->inflight = scale(node->opts.max_inflight_appends, f->level);
	for (int i = 0; i < DCF_MEMBERS_MAX; i++)
		node->progress[i].infl_limit = f->inflight;
}

void
dcf_flow_reset(dcf_node *node)
{
	dcf_flow   *f = &node->flow;
	uint32_t	lat = f->lat_ewma_ms;

	memset(f, 0, sizeof(*f));
	f->level = DCF_FLOW_START_LEVEL;
	f->step = 1;
	f->period_start_ms = node->now_ms;
	f->lat_ewma_ms = lat;
	apply_level(node);
}

void
dcf_flow_proposed(dcf_node *node, uint64_t last_index, uint64_t bytes)
{
	dcf_flow   *f = &node->flow;
	uint32_t	k;

	f->bytes_appended += bytes;
	if (f->sample_n >= DCF_FLOW_SAMPLES)
		return;					/* enough samples in flight */
	k = (f->sample_head + f->sample_n) % DCF_FLOW_SAMPLES;
	f->sample_index[k] = last_index;
	f->sample_ms[k] = node->now_ms;
	f->sample_bytes[k] = f->bytes_appended;
	f->sample_n++;
}

void
dcf_flow_committed(dcf_node *node, uint64_t old_commit, uint64_t new_commit)
{
	dcf_flow   *f = &node->flow;

	f->period_commits += new_commit - old_commit;
	while (f->sample_n > 0 && f->sample_index[f->sample_head] <= new_commit)
	{
		uint32_t	k = f->sample_head;

		f->period_lat_sum_ms += node->now_ms - f->sample_ms[k];
		f->period_lat_n++;
		if (f->sample_bytes[k] > f->bytes_committed)
		{
			f->period_bytes += f->sample_bytes[k] - f->bytes_committed;
			f->bytes_committed = f->sample_bytes[k];
		}
		f->sample_head = (f->sample_head + 1) % DCF_FLOW_SAMPLES;
		f->sample_n--;
	}
}

void
dcf_flow_demand(dcf_node *node)
{
	node->flow.period_demand = true;
}

void
dcf_flow_tick(dcf_node *node)
{
	dcf_flow   *f = &node->flow;
	uint64_t	elapsed = node->now_ms - f->period_start_ms;
	uint64_t	thr;
	uint32_t	mean = 0;
	uint32_t	level = f->level;

	if (elapsed < dcf_flow_interval_ms(node))
		return;
	f->periods++;
	thr = f->period_commits * 1000 / elapsed;
	f->entries_per_s = thr;
	f->bytes_per_s = f->period_bytes * 1000 / elapsed;
	if (f->period_lat_n > 0)
	{
		mean = (uint32_t) (f->period_lat_sum_ms / f->period_lat_n);
		f->lat_ewma_ms = f->lat_ewma_ms ? (f->lat_ewma_ms * 7 + mean) / 8 : mean;
		if (f->min_lat_age == 0 || mean < f->min_lat_ms || f->min_lat_age > DCF_FLOW_MIN_LAT_PERIODS)
		{
			f->min_lat_ms = mean;
			f->min_lat_age = 0;
		}
		f->min_lat_age++;
	}
	if (node->opts.flow_control && f->period_commits >= DCF_FLOW_MIN_COMMITS && f->period_lat_n > 0)
	{
		bool		queueing = (uint64_t) mean + 1 >= 2 * ((uint64_t) f->min_lat_ms + 1);

		if (queueing && thr * 20 <= f->prev_power * 21)
		{
			/* F1 */
			level = level * 3 / 4;
			if (level < 1)
				level = 1;
			f->step = 1;
		}
		else if (f->period_demand && !queueing)
		{
			/* F2 */
			level += f->step;
			if (level > DCF_FLOW_LEVELS)
				level = DCF_FLOW_LEVELS;
			f->step = f->step * 2 > DCF_FLOW_MAX_STEP ? DCF_FLOW_MAX_STEP : f->step * 2;
		}
		else
			f->step = 1;		/* F3 */
		f->prev_power = thr;
	}
	if (level != f->level)
	{
		f->level = level;
		f->adjustments++;
		apply_level(node);
	}
	f->period_start_ms = node->now_ms;
	f->period_commits = 0;
	f->period_bytes = 0;
	f->period_lat_sum_ms = 0;
	f->period_lat_n = 0;
	f->period_demand = false;
}

void
dcf_flow_status_fill(const dcf_node *node, dcf_flow_status *out)
{
	const dcf_flow *f = &node->flow;

	out->batch_entries = f->batch_entries;
	out->batch_bytes = f->batch_bytes;
	out->inflight_appends = f->inflight;
	out->enabled = node->opts.flow_control;
	out->level = f->level;
	out->commit_latency_ms = f->lat_ewma_ms;
	out->min_latency_ms = f->min_lat_ms;
	out->entries_per_s = f->entries_per_s;
	out->bytes_per_s = f->bytes_per_s;
	out->periods = f->periods;
	out->adjustments = f->adjustments;
}
