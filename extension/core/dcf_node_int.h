/*
 * dcf_node_int.h — the node's private state, shared by the core's modules
 * (dcf_log.c (dcf_raftlog_*), dcf_progress.c, dcf_election.c,
 * dcf_replication.c, dcf_reconfig.c, dcf_transfer.c, dcf_flow.c,
 * dcf_node.c).  Nothing outside extension/core includes this file.
 *
 * Invariants the node keeps (checked with DCF_ASSERT where cheap):
 *   N1  commit <= last log index, and commit never decreases.
 *   N2  term never decreases; vote is reset exactly when term grows.
 *   N3  a leader never removes or rewrites entries of its own log.
 *   N4  log.offset - 1 is the last stable index; every entry above it is
 *       held in log.ents until reported persisted; log.emitted >= offset - 1.
 *   N5  a leader advances commit only to an entry of its own term (Raft
 *       §5.4.2); a follower only to what its leader sent and it holds.
 *   N6  unstable payload bytes <= max_unstable_bytes, entries <=
 *       max_unstable_entries; messages and entry descriptors of one update
 *       stay within the fixed arrays allocated at creation.
 *   N7  the configuration in force is the last CONFIG entry of the log (or
 *       the one the node was created with: after a crash that lost every
 *       CONFIG entry past the log's end, the record's previous one, which
 *       was committed); in the cluster at most one CONFIG entry lies above
 *       the commit index (a restarted node's own commit index restarts at
 *       its applied index and may lag), and membership.prev is the
 *       configuration it replaced (committed), the target of a rollback.
 *   N8  a leader appends a CONFIG entry only when the previous one and the
 *       first entry of its own term are committed, no transfer runs, the
 *       weighted majorities of the old and new configurations intersect,
 *       and — if the new configuration has a LOGGER voter the old one
 *       lacked — every entry it may have sent early is durable on itself
 *       (C2, C5 of dcf_reconfig.c).
 */
#ifndef DCF_NODE_INT_H
#define DCF_NODE_INT_H

#include "core/dcf_assert.h"
#include "core/dcf_core.h"
#include "core/dcf_prng.h"
#include "core/dcf_quorum.h"

/* Bounds of one update (N6). */
#define DCF_UPDATE_MSGS_MAX			(DCF_MEMBERS_MAX * 8)
#define DCF_UPDATE_POOL_ENTRIES		16384	/* entry descriptors in messages */
#define DCF_STEP_APPENDS_PER_PEER	8	/* pipelined appends sent per step */
#define DCF_BACKOFF_SCAN_MAX_LOOKUPS 4096	/* term lookups per conflict search */
#define DCF_FLOW_SAMPLES			64	/* latency samples in flight */
#define DCF_FLOW_DEFAULT_INTERVAL_MS 100
#define DCF_FLOW_MIN_COMMITS		4	/* per period, to steer at all */
#define DCF_FLOW_DEADBAND_PCT		10	/* power changes below this are noise */
#define DCF_FLOW_MAX_STEP			16	/* levels per move */

/* ---- the log: host's stable log + the core's unstable tail (dcf_raftlog.c) ---- */

typedef struct dcf_raftlog
{
	const dcf_log_reader *reader;
	dcf_entry  *ents;			/* unstable: ents[start .. start + n) */
	uint32_t	start;
	uint32_t	n;
	uint32_t	cap;
	uint64_t	offset;			/* index of ents[start] = stable last + 1 */
	uint64_t	bytes;			/* payload bytes held in ents */
	uint64_t	max_bytes;
	uint32_t	max_entries;
	uint64_t	emitted;		/* last index handed to the host */
	uint64_t	truncate_from;	/* H2 truncation owed to the host, 0 none */
	uint64_t	persisted;		/* last index reported persisted */
	uint64_t	last_term;
	uint64_t	last_key;
	uint8_t   **garbage;		/* payloads to free at the next step */
	uint32_t	n_garbage;
	uint32_t	cap_garbage;
	uint8_t   **scratch;		/* DCF_MSG_ENTRIES_MAX payloads being copied */
} dcf_raftlog;

extern dcf_rc dcf_raftlog_init(dcf_raftlog *log, const dcf_log_reader *reader, uint64_t max_bytes,
						   uint32_t max_entries, char *errmsg);
extern void dcf_raftlog_destroy(dcf_raftlog *log);
extern void dcf_raftlog_collect_garbage(dcf_raftlog *log);
extern uint64_t dcf_raftlog_last_index(const dcf_raftlog *log);
extern uint64_t dcf_raftlog_first_index(const dcf_raftlog *log);
extern uint64_t dcf_raftlog_stable_index(const dcf_raftlog *log);

/* DCF_ERR_NOTFOUND when index is outside [first - 1, last]. */
extern dcf_rc dcf_raftlog_term(dcf_raftlog *log, uint64_t index, uint64_t *term, char *errmsg);

/* Can n more entries of `bytes` payload bytes be held? */
extern bool dcf_raftlog_fits(const dcf_raftlog *log, uint32_t n, uint64_t bytes);

/* Leader: appends new entries of `term` (copies payloads); DCF_ERR_FULL. */
extern dcf_rc dcf_raftlog_append_new(dcf_raftlog *log, uint64_t term, uint8_t type, uint64_t key,
								 const uint8_t *payload, uint32_t len, char *errmsg);

/*
 * Follower: writes ents[0..n) at their indexes, truncating everything from
 * ents[0].index first (ents[0].index <= last + 1).  Copies payloads.  Takes
 * the longest prefix that fits the bounds and returns its length; when that
 * is 0 nothing changes.
 */
extern uint32_t dcf_raftlog_append_entries(dcf_raftlog *log, const dcf_entry *ents, uint32_t n);

/* H3: entries up to index (of term) are durable. */
extern void dcf_raftlog_stable_to(dcf_raftlog *log, uint64_t index, uint64_t term);

/*
 * Entries lo..hi-1 into out: at least one (if lo < hi), then more while the
 * payload total stays <= max_bytes and fewer than max_n.  *bytes_out is the
 * payload total.  DCF_ERR_NOTFOUND when lo is below the first index.
 */
extern dcf_rc dcf_raftlog_slice(dcf_raftlog *log, uint64_t lo, uint64_t hi, uint64_t max_bytes,
							uint32_t max_n, dcf_entry *out, uint32_t *n_out,
							uint64_t *bytes_out, char *errmsg);

/* The entries to hand to the host in this update (and the truncation). */
extern void dcf_raftlog_take_update(dcf_raftlog *log, const dcf_entry **ents, uint32_t *n,
								uint64_t *truncate_from);

/* ---- replication progress of one peer, kept by the leader (dcf_progress.c) ---- */

typedef struct dcf_progress
{
	uint32_t	node_id;
	uint32_t	weight;
	bool		voter;
	uint64_t	match;			/* highest index known to match the leader */
	uint64_t	next;			/* next index to send */
	dcf_progress_state state;
	bool		probe_sent;		/* PROBE: an append is out, wait */
	uint64_t	probe_last;		/* PROBE: last index that append carried */
	uint64_t	last_heard_ms;	/* any message from the peer this term */
	uint64_t	ack_sent_ms;	/* newest send time it acknowledged (lease) */
	uint64_t	applied;
	uint64_t   *infl;			/* ring of last indexes of appends in flight */
	uint32_t	infl_head;
	uint32_t	infl_count;
	uint32_t	infl_cap;		/* ring size (allocation) */
	uint32_t	infl_limit;		/* window in force (flow control), <= cap */
	uint64_t	infl_dropped_last;	/* last index of an append freed unanswered */
	uint32_t	sent_this_step;
	uint64_t	sent_commit;	/* commit index the last append or heartbeat carried */
	bool		minority;		/* its last answer came in minority mode */
	bool		repair;			/* its last answer carried DCF_MSG_F_REPAIR */
	uint64_t	match_sent_ms;	/* sent_ms of the acknowledgement that last
								 * raised match */
	/* learner catch-up rounds (dcf_reconfig.c) */
	uint64_t	round_target;
	uint64_t	round_start_ms;
} dcf_progress;

extern void dcf_progress_reset(dcf_progress *pr, uint64_t last_index);
extern void dcf_progress_become_probe(dcf_progress *pr);
extern void dcf_progress_become_replicate(dcf_progress *pr);
extern bool dcf_progress_is_paused(const dcf_progress *pr);
extern bool dcf_progress_maybe_update(dcf_progress *pr, uint64_t index);
extern bool dcf_progress_maybe_decr_to(dcf_progress *pr, uint64_t rejected, uint64_t match_hint);
extern void dcf_progress_sent(dcf_progress *pr, uint64_t last_sent_index, uint32_t n_entries);
extern void dcf_progress_infl_free_le(dcf_progress *pr, uint64_t index);
extern void dcf_progress_infl_free_first(dcf_progress *pr);
extern uint64_t dcf_progress_infl_oldest(const dcf_progress *pr);

/* ---- membership change in flight, leader only (dcf_reconfig.c) ---- */

typedef struct dcf_change
{
	dcf_change_phase phase;
	dcf_admin_kind kind;
	uint32_t	node_id;
	bool		automatic;		/* a learner promoted by the core itself */
	dcf_membership next;		/* members of the configuration to append */
	uint64_t	fence_index;	/* append only once stable >= this (N8) */
	bool		fence;			/* early sends off until it is logged */
	bool		needs_catchup;	/* node_id must be caught up first */
	uint64_t	index;			/* LOGGED: its CONFIG entry */
	uint64_t	started_ms;
} dcf_change;

/* ---- leader transfer in flight, leader only (dcf_transfer.c) ---- */

typedef struct dcf_transfer
{
	uint32_t	target;			/* DCF_NODE_NONE: none */
	uint64_t	deadline_ms;
	bool		timeout_now_sent;
	bool		automatic;		/* priority election */
	bool		awaiting;		/* stepped down after TIMEOUT_NOW: who leads next? */
} dcf_transfer;

/* ---- adaptive flow control, leader only (dcf_flow.c) ---- */

typedef struct dcf_flow
{
	uint32_t	level;			/* 1..DCF_FLOW_LEVELS */
	uint32_t	batch_entries;	/* limits in force */
	uint32_t	batch_bytes;
	uint32_t	inflight;
	int32_t		direction;		/* +1 / -1: the way the next move goes */
	uint32_t	step;
	uint64_t	period_start_ms;
	uint64_t	period_commits;
	uint64_t	period_bytes;
	uint64_t	period_lat_sum_ms;
	uint64_t	period_lat_n;
	bool		period_demand;	/* a send was held back by a limit */
	bool		last_demand;
	uint64_t	prev_power;		/* power of the last steered period, 0 = none */
	uint64_t	power;			/* of the last measured period */
	uint32_t	last_lat_ms;
	uint32_t	lat_ewma_ms;
	uint64_t	entries_per_s;
	uint64_t	bytes_per_s;
	uint64_t	periods;
	uint64_t	adjustments;
	/* proposal times of sampled indexes, oldest first */
	uint64_t	sample_index[DCF_FLOW_SAMPLES];
	uint64_t	sample_ms[DCF_FLOW_SAMPLES];
	uint64_t	sample_bytes[DCF_FLOW_SAMPLES];	/* payload bytes up to it */
	uint32_t	sample_head;
	uint32_t	sample_n;
	uint64_t	bytes_appended;	/* payload bytes appended this term */
	uint64_t	bytes_committed;
} dcf_flow;

/* ---- the node ------------------------------------------------------------ */

struct dcf_node
{
	dcf_options opts;
	dcf_log_reader reader;
	dcf_prng	prng;

	dcf_membership membership;	/* in force, with its history (N7) */
	uint64_t	membership_index;
	bool		membership_dirty;
	dcf_membership record;		/* what the host is to persist (H7) */
	uint64_t	record_index;
	int			self;			/* index in membership, -1 if not a member */
	dcf_role	conf_role;		/* acting role in the membership, UNKNOWN if none */
	uint64_t	total_weight;	/* of the voters */
	uint64_t	needed_weight;	/* a quorum: majority, or vote_num in minority */
	bool		has_logger;		/* a LOGGER voter in the membership */

	/* work mode: the first campaign in minority raises the term by a step */
	bool		minority_bumped;

	/* hard state */
	uint64_t	term;
	uint32_t	vote;
	uint64_t	repair_index;	/* S1 (dcf_core.h); 0 = none */
	uint64_t	repair_term;	/* S1: no lost entry has a higher term (the
								 * host's bound, else the term at create,
								 * which bounds every term it accepted) */
	bool		hs_dirty;

	/* followers found with a log gone backwards this step (leader) */
	dcf_peer_regress regressions[DCF_MEMBERS_MAX];
	uint32_t	n_regressions;

	/* soft state */
	dcf_role	role;
	uint32_t	leader_id;
	uint64_t	commit;
	uint64_t	applied;

	dcf_raftlog		log;

	/* time, all in the host's clock (ms) */
	uint64_t	now_ms;
	uint64_t	election_deadline_ms;
	uint64_t	heartbeat_deadline_ms;
	uint64_t	commit_notify_due_ms;	/* leader: followers hear of the commit then (0: none due) */
	uint64_t	vote_lease_until_ms;	/* grant no vote before (E3) */
	uint64_t	became_leader_ms;
	uint64_t	term_start_index;	/* leader: index of its term's NOOP */
	uint64_t	lease_fence_index;	/* leader: no lease until commit >= this */
	uint64_t	next_priority_check_ms;

	/* leader: work in flight */
	dcf_change	change;
	dcf_transfer transfer;
	dcf_flow	flow;

	/* reports of this step, and the last one ever */
	dcf_admin_report reports[DCF_UPDATE_REPORTS_MAX];
	uint32_t	n_reports;
	bool		has_report;
	dcf_admin_report last_report;

	/* the campaign in progress: 0 = no answer, 1 = granted, 2 = rejected */
	uint8_t		votes[DCF_MEMBERS_MAX];
	bool		campaign_transfer;	/* ordered by TIMEOUT_NOW: flag TRANSFER */
	uint32_t	higher_term_from;	/* sender of the message that raised our term */

	/* leader: one per member, same order as membership (self unused) */
	dcf_progress progress[DCF_MEMBERS_MAX];
	uint64_t   *infl_storage;

	/* the update being built (N6) */
	dcf_msg    *msgs;
	uint32_t	n_msgs;
	dcf_entry  *pool;
	uint32_t	n_pool;
	uint64_t	step_read_bytes;
	dcf_role	reported_role;
	uint32_t	reported_leader;
	uint64_t	reported_term;
	uint64_t	reported_commit;

	/* first fatal error of the current step (a log reader failure) */
	dcf_rc		fail_rc;
	char	   *errmsg;
};

/* dcf_node.c */
extern bool dcf_node_failed(dcf_node *node);
extern void dcf_node_fail(dcf_node *node, dcf_rc rc);
extern dcf_msg *dcf_node_new_msg(dcf_node *node, dcf_msg_type type, uint32_t to);
extern void dcf_node_reset_election_timer(dcf_node *node);
extern dcf_rc dcf_node_term_at(dcf_node *node, uint64_t index, uint64_t *term);
extern dcf_progress *dcf_node_progress(dcf_node *node, uint32_t node_id);
extern void dcf_node_apply_membership(dcf_node *node);
extern void dcf_node_report(dcf_node *node, dcf_admin_kind kind, uint32_t node_id, dcf_rc rc,
							uint64_t index, bool automatic, const char *reason);
extern bool dcf_node_same_mode(const dcf_node *node, uint32_t msg_flags);
/* Did the peer's last answer come from a node in our work mode? */
extern bool dcf_node_peer_same_mode(const dcf_node *node, const dcf_progress *pr);

/* dcf_election.c */
extern void dcf_election_tick(dcf_node *node);
extern bool dcf_election_can_campaign(const dcf_node *node);
extern void dcf_election_campaign(dcf_node *node, bool pre_vote, bool transfer);
extern void dcf_election_handle_timeout_now(dcf_node *node, const dcf_msg *m);
extern bool dcf_election_may_campaign(const dcf_node *node);
extern void dcf_election_repair_check(dcf_node *node);
extern const dcf_member *dcf_election_previous_self(const dcf_node *node);
extern dcf_role dcf_election_follower_role(const dcf_node *node);
extern dcf_rc dcf_election_set_work_mode(dcf_node *node, uint32_t mode, uint32_t vote_num,
										 char *errmsg);
extern void dcf_election_become_follower(dcf_node *node, uint64_t term, uint32_t leader);
extern void dcf_election_handle_vote_req(dcf_node *node, const dcf_msg *m);
extern void dcf_election_handle_vote_resp(dcf_node *node, const dcf_msg *m);
extern bool dcf_election_in_lease(const dcf_node *node);
extern void dcf_election_heard_leader(dcf_node *node);
extern uint64_t dcf_election_quorum_ack_ms(const dcf_node *node);

/* dcf_replication.c */
extern void dcf_replication_become_leader(dcf_node *node);
extern void dcf_replication_tick(dcf_node *node);
extern bool dcf_replication_send_append(dcf_node *node, dcf_progress *pr, bool send_if_empty);
extern void dcf_replication_bcast_append(dcf_node *node);
extern void dcf_replication_commit_advanced(dcf_node *node);
extern bool dcf_replication_maybe_commit(dcf_node *node);
extern void dcf_replication_handle_append(dcf_node *node, const dcf_msg *m);
extern void dcf_replication_handle_append_resp(dcf_node *node, const dcf_msg *m);
extern void dcf_replication_handle_heartbeat(dcf_node *node, const dcf_msg *m);
extern void dcf_replication_handle_heartbeat_resp(dcf_node *node, const dcf_msg *m);
extern void dcf_replication_commit_to(dcf_node *node, uint64_t index);

/* dcf_reconfig.c: configurations through the log */
extern dcf_rc dcf_reconfig_init(dcf_node *node, const dcf_membership *ms, uint64_t index,
								char *errmsg);
extern void dcf_reconfig_truncated(dcf_node *node, uint64_t from);
extern void dcf_reconfig_appended(dcf_node *node, const dcf_entry *ents, uint32_t n);
extern void dcf_reconfig_remap_progress(dcf_node *node, const dcf_membership *old);
extern dcf_rc dcf_reconfig_admin(dcf_node *node, const dcf_admin_request *req, char *errmsg);
extern void dcf_reconfig_leader_step(dcf_node *node);
extern void dcf_reconfig_committed(dcf_node *node);
extern void dcf_reconfig_lost_leadership(dcf_node *node);
extern bool dcf_reconfig_change_in_flight(const dcf_node *node);

/* dcf_transfer.c: leader transfer and priority election */
extern dcf_rc dcf_transfer_start(dcf_node *node, uint32_t target, uint32_t timeout_ms, bool automatic,
								 char *errmsg);
extern void dcf_transfer_step(dcf_node *node);
extern void dcf_transfer_tick(dcf_node *node);
extern void dcf_transfer_lost_leadership(dcf_node *node, uint32_t new_leader_hint);
extern void dcf_transfer_heard_leader(dcf_node *node, uint32_t leader);
extern void dcf_transfer_follower_tick(dcf_node *node);
extern void dcf_transfer_elected(dcf_node *node);
extern void dcf_transfer_priority_tick(dcf_node *node);

/* dcf_flow.c: adaptive flow control */
extern void dcf_flow_reset(dcf_node *node);
extern void dcf_flow_proposed(dcf_node *node, uint64_t last_index, uint64_t bytes);
extern void dcf_flow_committed(dcf_node *node, uint64_t old_commit, uint64_t new_commit);
extern void dcf_flow_demand(dcf_node *node);
extern void dcf_flow_tick(dcf_node *node);
extern uint64_t dcf_flow_interval_ms(const dcf_node *node);
extern void dcf_flow_status_fill(const dcf_node *node, dcf_flow_status *out);

#endif							/* DCF_NODE_INT_H */
