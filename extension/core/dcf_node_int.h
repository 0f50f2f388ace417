/*
 * dcf_node_int.h — the node's private state, shared by the core's modules
 * (dcf_raftlog.c, dcf_progress.c, dcf_election.c, dcf_replication.c,
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
	uint32_t	infl_cap;
	uint32_t	sent_this_step;
	uint64_t	sent_commit;	/* commit index the last append or heartbeat carried */
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

/* ---- the node ------------------------------------------------------------ */

struct dcf_node
{
	dcf_options opts;
	dcf_log_reader reader;
	dcf_prng	prng;

	dcf_membership membership;
	uint64_t	membership_index;
	bool		membership_dirty;
	int			self;			/* index in membership, -1 if not a member */
	dcf_role	conf_role;		/* configured role, UNKNOWN if not a member */
	uint64_t	total_weight;	/* of the voters */
	uint64_t	needed_weight;	/* a quorum */

	/* hard state */
	uint64_t	term;
	uint32_t	vote;
	bool		hs_dirty;

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

	/* the campaign in progress: 0 = no answer, 1 = granted, 2 = rejected */
	uint8_t		votes[DCF_MEMBERS_MAX];

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

/* dcf_election.c */
extern void dcf_election_tick(dcf_node *node);
extern void dcf_election_campaign(dcf_node *node, bool pre_vote);
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

#endif							/* DCF_NODE_INT_H */
