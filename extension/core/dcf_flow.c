/*
 * dcf_flow.c — adaptive flow control of the leader's batches and pipeline
 * window (DCF's flow control: sample, compute the trend, steer, repeat).
 *
 * One control variable, the level L in 1..DCF_FLOW_LEVELS, sets the limits
 * in force: batch entries, batch bytes and appends in flight per peer are
 * each max(1, configured maximum * L / DCF_FLOW_LEVELS).
 *
 * Measures (always taken, so dcf_status shows them even with steering off):
 * each control period (flow_interval_ms) the leader counts what it
 * committed (entries and payload bytes per second) and the mean commit
 * latency — from the time an entry was proposed to the time this leader
 * committed it, sampled for up to DCF_FLOW_SAMPLES proposals in flight —
 * and whether a limit held entries back during the period (a full window,
 * or a batch cut by a cap with more to send: "demand").
 *
 * Steering (flow_control on), a hill climb on Kleinrock's power =
 * throughput / latency, which is highest at the knee: full throughput
 * with the least queueing.  With at least DCF_FLOW_MIN_COMMITS commits in
 * the period:
 *   F1  no demand: the limits did not bind, so changing them cannot help;
 *       L stays, and the reference power is forgotten;
 *   F2  demand, power better than the last period's by more than
 *       DCF_FLOW_DEADBAND_PCT: L moves on in the same direction, by a step
 *       that doubles (1, 2, 4, ... DCF_FLOW_MAX_STEP);
 *   F3  demand, power worse by more than the dead band: the last move hurt,
 *       L moves back the other way by one;
 *   F4  demand, power within the dead band (a plateau): L moves down —
 *       the same throughput with less in flight is the goal — by a step
 *       that doubles while it keeps going down (1 after a move up).
 * Too low a level shows as a backlog in the leader (latency up,
 * throughput down); too high a level as a queue in the network or at a
 * slow follower (latency up, throughput flat): both lower the power, so
 * the climb settles around the knee.  A new leader starts at the
 * configured limits (level DCF_FLOW_LEVELS), as if flow control were off,
 * and only moves when load makes the limits bind.  With flow_control off
 * L stays DCF_FLOW_LEVELS.
 *
 * Invariant: 1 <= limits <= configured maxima; every progress entry's
 * window (infl_limit) equals the inflight limit in force.
 */
#include "core/dcf_node_int.h"

#include <string.h>

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
	f->level = DCF_FLOW_LEVELS;
	f->direction = -1;
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

/* The new level after a period of the given power (F1..F4). */
static uint32_t
steer(dcf_flow *f, uint64_t power)
{
	int64_t		level = f->level;

	if (!f->period_demand)
	{
		/* F1 */
		f->step = 1;
		f->prev_power = 0;
		return f->level;
	}
	if (f->prev_power == 0)
	{
		/* no reference yet: probe in the current direction */
		f->step = 1;
	}
	else if (power * 100 > f->prev_power * (100 + DCF_FLOW_DEADBAND_PCT))
	{
		/* F2 */
		f->step = f->step * 2 > DCF_FLOW_MAX_STEP ? DCF_FLOW_MAX_STEP : f->step * 2;
	}
	else if (power * 100 < f->prev_power * (100 - DCF_FLOW_DEADBAND_PCT))
	{
		/* F3 */
		f->direction = -f->direction;
		f->step = 1;
	}
	else
	{
		/* F4: downhill keeps its pace, anything else starts down slowly */
		if (f->direction < 0)
			f->step = f->step * 2 > DCF_FLOW_MAX_STEP ? DCF_FLOW_MAX_STEP : f->step * 2;
		else
			f->step = 1;
		f->direction = -1;
	}
	f->prev_power = power;
	level += (int64_t) f->direction * f->step;
	if (level < 1)
	{
		level = 1;
		f->direction = 1;		/* nowhere lower to go: the next probe goes up */
	}
	if (level > DCF_FLOW_LEVELS)
	{
		level = DCF_FLOW_LEVELS;
		f->direction = -1;
	}
	return (uint32_t) level;
}

void
dcf_flow_tick(dcf_node *node)
{
	dcf_flow   *f = &node->flow;
	uint64_t	elapsed = node->now_ms - f->period_start_ms;
	uint32_t	level = f->level;

	if (elapsed < dcf_flow_interval_ms(node))
		return;
	f->periods++;
	f->entries_per_s = f->period_commits * 1000 / elapsed;
	f->bytes_per_s = f->period_bytes * 1000 / elapsed;
	f->last_demand = f->period_demand;
	if (f->period_lat_n > 0)
	{
		f->last_lat_ms = (uint32_t) (f->period_lat_sum_ms / f->period_lat_n);
		f->lat_ewma_ms = f->lat_ewma_ms ? (f->lat_ewma_ms * 7 + f->last_lat_ms) / 8 : f->last_lat_ms;
	}
	if (f->period_commits >= DCF_FLOW_MIN_COMMITS && f->period_lat_n > 0)
	{
		/* committed entries per second per ms of latency (+1: never divide by 0) */
		f->power = f->entries_per_s * 1000 / ((uint64_t) f->last_lat_ms + 1);
		if (node->opts.flow_control)
			level = steer(f, f->power);
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
	out->direction = f->direction;
	out->step = f->step;
	out->commit_latency_ms = f->lat_ewma_ms;
	out->last_latency_ms = f->last_lat_ms;
	out->entries_per_s = f->entries_per_s;
	out->bytes_per_s = f->bytes_per_s;
	out->power = f->power;
	out->demand = f->last_demand;
	out->periods = f->periods;
	out->adjustments = f->adjustments;
}
