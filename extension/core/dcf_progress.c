/*
 * dcf_progress.c — what the leader knows about one peer's log, and the
 * pipeline window of appends in flight to it (etcd-io/raft's Progress and
 * Inflights).
 *
 * States:
 *   PROBE      the leader does not know where the logs agree: one append at
 *              a time (probe_sent pauses until an answer or a heartbeat
 *              response), moving next down on each rejection (fast back-off
 *              by term, see dcf_replication.c);
 *   REPLICATE  logs agree up to match: appends are pipelined, next advances
 *              when an append is sent, at most infl_cap appends unanswered;
 *   STALE      the peer needs entries the log no longer has (recycled
 *              below first_index): nothing is sent; the node must be rebuilt.
 *              A rebuilt peer whose heartbeat answer reports an applied
 *              index the log holds the term of is probed again from there
 *              (R10 in dcf_replication.c).
 *
 * Transitions: PROBE -> REPLICATE only when the probe was acknowledged in
 * full (match >= probe_last); REPLICATE -> PROBE on a rejection or when the
 * peer acknowledged only part of an append (its unstable log was full): a
 * peer that is slow to persist then gets one append at a time instead of a
 * window of appends it would reject.  Without that rule, stale partial
 * acknowledgements flipped the state back and forth and every flip sent a
 * whole window: the simulator found the message storm.  An append whose
 * slot a heartbeat answer freed (it may have been lost) is remembered: its
 * late acknowledgement is below the oldest append still in flight but is
 * not partial.  (With a slow disk on the follower the window fills, a
 * heartbeat answer frees a slot, and the late acknowledgement of that slot
 * sent the peer back to PROBE for good: the unit test of flow control found
 * that the pipeline never stayed open on an fsync-bound follower.)
 *
 * Invariants: match < next; in REPLICATE the window holds the last indexes
 * of unanswered appends in increasing order, at most infl_cap of them (the
 * ring's size); sending pauses at infl_limit, the window flow control
 * allows (<= infl_cap; it may shrink below the count in flight, which then
 * drains before anything more is sent).
 */
#include "core/dcf_node_int.h"

const char *
dcf_progress_state_name(dcf_progress_state st)
{
	switch (st)
	{
		case DCF_PROGRESS_PROBE:
			return "probe";
		case DCF_PROGRESS_REPLICATE:
			return "replicate";
		case DCF_PROGRESS_STALE:
			return "stale";
	}
	return "unknown";
}

static void
infl_reset(dcf_progress *pr)
{
	pr->infl_head = 0;
	pr->infl_count = 0;
	pr->infl_dropped_last = 0;
}

void
dcf_progress_reset(dcf_progress *pr, uint64_t last_index)
{
	pr->match = 0;
	pr->next = last_index + 1;
	pr->state = DCF_PROGRESS_PROBE;
	pr->probe_sent = false;
	pr->probe_last = 0;
	pr->ack_sent_ms = 0;
	pr->applied = 0;
	pr->sent_this_step = 0;
	pr->sent_commit = 0;
	pr->repair = false;
	pr->match_sent_ms = 0;
	infl_reset(pr);
}

void
dcf_progress_become_probe(dcf_progress *pr)
{
	pr->state = DCF_PROGRESS_PROBE;
	pr->probe_sent = false;
	pr->next = pr->match + 1;
	infl_reset(pr);
}

void
dcf_progress_become_replicate(dcf_progress *pr)
{
	pr->state = DCF_PROGRESS_REPLICATE;
	pr->probe_sent = false;
	pr->next = pr->match + 1;
	infl_reset(pr);
}

bool
dcf_progress_is_paused(const dcf_progress *pr)
{
	switch (pr->state)
	{
		case DCF_PROGRESS_PROBE:
			return pr->probe_sent;
		case DCF_PROGRESS_REPLICATE:
			return pr->infl_count >= pr->infl_limit;
		case DCF_PROGRESS_STALE:
			return true;
	}
	return true;
}

bool
dcf_progress_maybe_update(dcf_progress *pr, uint64_t index)
{
	bool		updated = false;

	if (pr->match < index)
	{
		pr->match = index;
		pr->probe_sent = false;
		updated = true;
	}
	if (pr->next < index + 1)
		pr->next = index + 1;
	return updated;
}

bool
dcf_progress_maybe_decr_to(dcf_progress *pr, uint64_t rejected, uint64_t match_hint)
{
	if (pr->state == DCF_PROGRESS_REPLICATE)
	{
		/* a rejection of something at or below match is stale */
		if (rejected <= pr->match)
			return false;
		pr->next = pr->match + 1;
		return true;
	}
	/* PROBE: only the answer to the probe in flight counts */
	if (pr->next - 1 != rejected)
		return false;
	pr->next = rejected < match_hint + 1 ? rejected : match_hint + 1;
	if (pr->next < pr->match + 1)
		pr->next = pr->match + 1;
	pr->probe_sent = false;
	return true;
}

void
dcf_progress_sent(dcf_progress *pr, uint64_t last_sent_index, uint32_t n_entries)
{
	pr->sent_this_step++;
	switch (pr->state)
	{
		case DCF_PROGRESS_REPLICATE:
			if (n_entries > 0)
			{
				DCF_ASSERT(pr->infl_count < pr->infl_cap);
				pr->next = last_sent_index + 1;
				pr->infl[(pr->infl_head + pr->infl_count) % pr->infl_cap] = last_sent_index;
				pr->infl_count++;
			}
			break;
		case DCF_PROGRESS_PROBE:
			pr->probe_sent = true;
			pr->probe_last = last_sent_index;
			break;
		case DCF_PROGRESS_STALE:
			DCF_PANIC("append sent to a stale peer");
	}
}

void
dcf_progress_infl_free_le(dcf_progress *pr, uint64_t index)
{
	while (pr->infl_count > 0 && pr->infl[pr->infl_head] <= index)
	{
		pr->infl_head = (pr->infl_head + 1) % pr->infl_cap;
		pr->infl_count--;
	}
	if (pr->infl_count == 0)
		pr->infl_head = 0;
}

uint64_t
dcf_progress_infl_oldest(const dcf_progress *pr)
{
	return pr->infl_count > 0 ? pr->infl[pr->infl_head] : 0;
}

void
dcf_progress_infl_free_first(dcf_progress *pr)
{
	if (pr->infl_count == 0)
		return;
	/* remembered: a late answer to it is not a partial acknowledgement */
	pr->infl_dropped_last = pr->infl[pr->infl_head];
	pr->infl_head = (pr->infl_head + 1) % pr->infl_cap;
	pr->infl_count--;
}
