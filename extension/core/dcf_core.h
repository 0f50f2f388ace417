/*
 * dcf_core.h — the consensus core: a pure step function.
 *
 * The core is a deterministic state machine in the shape of etcd-io/raft's
 * RawNode/Ready and cowsql/raft.  The host (the PostgreSQL worker, the
 * simulator, the unit-test harness) feeds it events and carries out the
 * update each step returns:
 *
 *     dcf_node_step(node, &event, &update, errmsg)
 *
 *   events   tick(now_ms), message received, propose(entries), persisted(up
 *            to index, term), applied(index), admin request
 *   update   hard state to persist (term, vote; membership), entries to
 *            append (after truncating a suffix), messages to send, the new
 *            commit index, role / leader / term changes, when to tick next
 *
 * The core does no I/O, never reads a clock (now_ms comes with every event),
 * draws randomness only from a PRNG seeded through dcf_options.prng_seed, and
 * allocates memory only within the named bounds below.
 *
 * ---- The host contract (what keeps the protocol safe) --------------------
 *
 * H1  Persist before send.  Before sending ANY message of an update, the
 *     host has made durable (fsync) the hard state and entries of that
 *     update AND of every earlier update.  (A vote grant, an append
 *     acknowledgement, a candidate's vote request all claim durable state.)
 *     One relaxation is allowed (Raft dissertation §10.2.1): a message for
 *     which dcf_msg_needs_persist() is false — a leader's APPEND or
 *     HEARTBEAT — may be sent before the entries of its update are durable,
 *     PROVIDED dcf_node_early_send_allowed() is true AND every hard state
 *     the host has been given is durable already.  (A leader whose own vote
 *     is a quorum wins without sending anything; if its term were not
 *     durable, a crash could let it lead the same term again with other
 *     entries under the ones it already sent.  And with LOGGER members, an
 *     entry that reached a logger but died with the leader would leave the
 *     logger's log ahead of every node that may lead: the logger would
 *     refuse them all its vote, forever.)  The leader counts its own log
 *     toward commit only through H3.
 * H2  Truncate, then append.  When update.truncate_from != 0 the host removes
 *     every log entry with index >= truncate_from (durable or not) before
 *     appending update.entries; entries[0].index == truncate_from then.
 *     Otherwise entries[0].index is one past the last entry the host has
 *     been given.  Entries are contiguous and in index order.
 * H3  Report durability.  After entries up to index I (whose term is T) are
 *     durable, and with them the hard state of every update that handed out
 *     entries up to I, the host delivers DCF_EVENT_PERSISTED{I, T}.  The
 *     core keeps every entry it handed out until it is reported persisted.
 * H4  Apply only committed entries, in order, and only entries that are also
 *     durable locally: apply up to min(update.commit_index,
 *     update.persisted_index) — the latter is the last index reported
 *     persisted (H3) that no later truncation has removed.
 *     Report progress with DCF_EVENT_APPLIED.  A node restarted with
 *     applied_index A (dcf_node_create) starts with commit index A, so A must
 *     only ever cover entries applied under this rule.
 * H5  One step at a time.  Everything an update points to (entries,
 *     messages, their payloads, the membership) is owned by the node and
 *     stays valid until the next dcf_node_step() or dcf_node_destroy() on
 *     that node.  Consume it (write it, encode the messages) before stepping
 *     again.  Payload pointers the host's log reader returns must likewise
 *     stay valid until the next dcf_node_step()/dcf_node_destroy().
 * H6  Time never goes backwards: now_ms of successive events is
 *     non-decreasing.  Tick at or after update.next_tick_ms (sooner is fine).
 * H7  Membership before entries.  update.membership (with
 *     update.membership_index) is durable no later than the truncation and
 *     entries of the same update: a crash may lose an update's entries but
 *     never keep its truncation or entries while losing its membership.
 *     (Writing the metadata record first, as the PostgreSQL host does, keeps
 *     this.)  Hand the last membership and index back to dcf_node_create;
 *     the core works out from them and the log which configuration is in
 *     force (a CONFIG entry lost in a crash, or a truncation of one that did
 *     not reach the disk, is resolved there without scanning the log).
 *
 * ---- Memory --------------------------------------------------------------
 *
 * Stable entries (those reported persisted) are never kept by the core: it
 * reads them back through dcf_log_reader when it replicates them, at most
 * max_step_read_bytes per step.  Unstable entries (not yet persisted) live in
 * the core, at most max_unstable_bytes of payload and max_unstable_entries
 * entries; beyond that a proposal fails with DCF_ERR_FULL and a follower
 * acknowledges only the prefix that fits (the leader resends the rest).
 *
 * ---- Errors ----------------------------------------------------------------
 *
 * dcf_node_step() returns DCF_OK, or an error with a message in errmsg.
 * DCF_ERR_STATE, DCF_ERR_INVALID and DCF_ERR_FULL from a propose or admin
 * event mean the request was refused and nothing changed (the update is
 * empty).  Any other error (a log reader failure) leaves the node unusable:
 * destroy it and create it again from durable state.
 */
#ifndef DCF_CORE_H
#define DCF_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dcf_err.h"

/* ---- limits (all with units) ------------------------------------------- */

#define DCF_MEMBERS_MAX				32	/* members in one configuration */
#define DCF_MEMBER_IP_MAX			64	/* bytes of ip text, NUL included */
#define DCF_MEMBER_WEIGHT_MAX		1000	/* vote weight of one member */
#define DCF_GROUPS_MAX				16	/* entries of majority_groups */
#define DCF_ENTRY_PAYLOAD_MAX_BYTES (16u << 20)	/* one entry's payload */
#define DCF_MSG_ENTRIES_MAX			4096	/* entries in one APPEND */
#define DCF_MSG_MAX_BYTES			(64u << 20)	/* one encoded message */
#define DCF_INFLIGHT_MAX			1024	/* pipelined appends per peer */
#define DCF_NODE_NONE				0	/* "no node": no vote, no leader */

/* ---- roles --------------------------------------------------------------- */

/*
 * Role names match openGauss's dcf_replication_info.  A member's configured
 * role is one of LEADER, FOLLOWER (voters that may lead), LOGGER (votes and
 * stores the log, never leads, applies nothing) or PASSIVE (stores and
 * applies the log, never votes, never leads).  The current role of a node
 * adds PRE_CANDIDATE, CANDIDATE and UNKNOWN (before start / not a member).
 */
typedef enum dcf_role
{
	DCF_ROLE_UNKNOWN = 0,
	DCF_ROLE_LEADER,
	DCF_ROLE_FOLLOWER,
	DCF_ROLE_LOGGER,
	DCF_ROLE_PASSIVE,
	DCF_ROLE_PRE_CANDIDATE,
	DCF_ROLE_CANDIDATE
} dcf_role;

#define DCF_ROLE_COUNT 7

/* "LEADER", "FOLLOWER", ...; "UNKNOWN" for anything out of range. */
extern const char *dcf_role_name(dcf_role role);

/* Parses a role name (case-insensitive); false if it is not one. */
extern bool dcf_role_parse(const char *name, dcf_role *role);

/*
 * run_mode of openGauss: 0 = automatic election, 2 = no automatic election
 * (leadership changes only by an explicit transfer or promote, and the
 * automatic priority transfer is off).
 */
typedef enum dcf_run_mode
{
	DCF_RUN_MODE_AUTO = 0,
	DCF_RUN_MODE_NONE = 2
} dcf_run_mode;

/*
 * work_mode: normal (quorum = a weighted majority of the voters), or
 * minority: quorum = vote_num weight, counted only among voters that work
 * in minority mode too.  See README.md for what an operator risks.
 */
/* The term step of a node's first election in minority work mode. */
#define DCF_MINORITY_TERM_STEP (1ULL << 32)

typedef enum dcf_work_mode
{
	DCF_WORK_MODE_NORMAL = 0,
	DCF_WORK_MODE_MINORITY = 1
} dcf_work_mode;

/* ---- log entries ----------------------------------------------------------- */

/*
 * Entry types known to the core.  Types >= DCF_ENTRY_APP_MIN belong to the
 * application and are opaque here (the PostgreSQL layer defines its WAL chunk
 * and timeline switch types there).
 */
#define DCF_ENTRY_NOOP		0	/* first entry of every leader's term */
#define DCF_ENTRY_CONFIG	1	/* payload: dcf_membership_encode() */
#define DCF_ENTRY_APP_MIN	16

typedef struct dcf_entry
{
	uint64_t	term;
	uint64_t	index;
	uint64_t	key;			/* non-decreasing along the log (end LSN) */
	const uint8_t *payload;		/* len bytes; see H5 for lifetime */
	uint32_t	len;
	uint8_t		type;			/* DCF_ENTRY_* or an application type */
} dcf_entry;

/* ---- membership ---------------------------------------------------------- */

typedef struct dcf_member
{
	uint32_t	node_id;		/* >= 1, dcf.config's node_id */
	dcf_role	role;			/* LEADER, FOLLOWER, LOGGER or PASSIVE */
	uint32_t	weight;			/* vote weight, 1..DCF_MEMBER_WEIGHT_MAX */
	uint32_t	group;			/* policy-majority group (majority_groups) */
	uint32_t	priority;		/* priority election: higher leads first */
	char		ip[DCF_MEMBER_IP_MAX];	/* data for the host's transport */
	uint16_t	port;

	/*
	 * A member added with a voting role first catches up as a learner: it
	 * receives the log like a PASSIVE member and counts for nothing until a
	 * leader finds it caught up and clears the flag through the log.  Only
	 * voting roles carry it.
	 */
	bool		learner;
} dcf_member;

/*
 * A configuration.  It is the payload of CONFIG entries and what the host
 * persists (contract H7).  The history fields are filled in by the core and
 * are zero in a bootstrap configuration such as dcf.config's:
 *   prev_index, prev   the configuration this one replaced and the index of
 *                      its CONFIG entry (n_prev = 0: none), the fallback when
 *                      this one's entry is found lost at restart — it was
 *                      committed before this one was proposed, so it is
 *                      safe to use even if its own entry is lost too
 *   undo_index         in a record written when a CONFIG entry was
 *                      truncated away (rolled back): that entry's index; if
 *                      the log still holds a CONFIG entry there at restart,
 *                      the truncation never reached the disk and it wins
 */
typedef struct dcf_membership
{
	uint32_t	n_members;
	dcf_member	members[DCF_MEMBERS_MAX];
	uint64_t	prev_index;
	uint32_t	n_prev;
	dcf_member	prev[DCF_MEMBERS_MAX];
	uint64_t	undo_index;
} dcf_membership;

/* A member with the defaults of dcf.config: weight 1, group 0, priority 0. */
extern void dcf_member_init(dcf_member *m, uint32_t node_id, dcf_role role);

/*
 * Checks a membership: 1..DCF_MEMBERS_MAX members, unique non-zero ids,
 * configured roles only, weights in range, NUL-terminated ips, learner only
 * on voting roles, at least one member that may lead; the previous
 * configuration, when present, passes the same checks.
 */
extern dcf_rc dcf_membership_validate(const dcf_membership *ms, char *errmsg);

/* The member with node_id, or NULL. */
extern const dcf_member *dcf_membership_find(const dcf_membership *ms, uint32_t node_id);
extern const dcf_member *dcf_membership_find_in(const dcf_member *members, uint32_t n, uint32_t node_id);

/* Role predicates on a configured role. */
extern bool dcf_role_is_voter(dcf_role configured);	/* LEADER FOLLOWER LOGGER */
extern bool dcf_role_may_lead(dcf_role configured);	/* LEADER FOLLOWER */

/*
 * Predicates on a member, learners included: the role a member acts in is
 * PASSIVE while it is a learner, its configured role otherwise.
 */
extern dcf_role dcf_member_acting_role(const dcf_member *m);
extern bool dcf_member_is_voter(const dcf_member *m);
extern bool dcf_member_may_lead(const dcf_member *m);

/* ---- messages ------------------------------------------------------------ */

typedef enum dcf_msg_type
{
	DCF_MSG_PREVOTE_REQ = 1,
	DCF_MSG_PREVOTE_RESP,
	DCF_MSG_VOTE_REQ,
	DCF_MSG_VOTE_RESP,
	DCF_MSG_APPEND,
	DCF_MSG_APPEND_RESP,
	DCF_MSG_HEARTBEAT,
	DCF_MSG_HEARTBEAT_RESP,
	DCF_MSG_TIMEOUT_NOW
} dcf_msg_type;

#define DCF_MSG_TYPE_MIN DCF_MSG_PREVOTE_REQ
#define DCF_MSG_TYPE_MAX DCF_MSG_TIMEOUT_NOW

/* flags */
#define DCF_MSG_F_REJECT	0x0001	/* a refused vote / append */
#define DCF_MSG_F_TRANSFER	0x0002	/* campaign ordered by a leader transfer */
#define DCF_MSG_F_MINORITY	0x0004	/* sender works in minority mode */
#define DCF_MSG_F_REPAIR	0x0008	/* sender lost entries it may have
									 * acknowledged (dcf_hard_state.repair_index):
									 * it counts toward no commit */
#define DCF_MSG_F_ALL		0x000f

/*
 * One message.  Fields are used per type:
 *   (PRE)VOTE_REQ    index = candidate's last index, log_term = its term
 *   (PRE)VOTE_RESP   flags & REJECT
 *   APPEND           index = prev index, log_term = prev term, commit,
 *                    sent_ms, entries (index prev+1, prev+2, ...)
 *   APPEND_RESP      success: index = last index now matching the leader;
 *                    reject: index = rejected prev index, reject_hint =
 *                    hint index, log_term = follower's term at the hint;
 *                    sent_ms echoed, applied = responder's applied index
 *   HEARTBEAT        commit, sent_ms
 *   HEARTBEAT_RESP   sent_ms echoed, applied
 *   TIMEOUT_NOW      index = leader's last index: the target campaigns at
 *                    once (flag TRANSFER on its vote requests) if it still
 *                    follows the sender in that term and holds that index
 * Every message of a node in minority work mode carries DCF_MSG_F_MINORITY.
 */
typedef struct dcf_msg
{
	dcf_msg_type type;
	uint32_t	from;
	uint32_t	to;
	uint32_t	flags;
	uint64_t	term;
	uint64_t	index;
	uint64_t	log_term;
	uint64_t	commit;
	uint64_t	reject_hint;
	uint64_t	sent_ms;
	uint64_t	applied;
	uint32_t	n_entries;
	const dcf_entry *entries;
} dcf_msg;

extern const char *dcf_msg_type_name(dcf_msg_type type);

/*
 * false only for a leader's APPEND and HEARTBEAT: they claim nothing about
 * the sender's durable log, so the host may send them before its own write
 * of the same update is durable — once its hard state is (contract H1).
 */
extern bool dcf_msg_needs_persist(const dcf_msg *m);

/* ---- the host's log ------------------------------------------------------ */

/*
 * Read-only view of the host's stable log (entries reported persisted, or
 * present at dcf_node_create).  The core never asks for an index above the
 * last one it knows to be stable.  All functions may be called only from
 * inside dcf_node_create/dcf_node_step/dcf_node_status.
 *
 *   first_index  index of the first entry kept (1 for a log never
 *                truncated at the front; last_index + 1 when empty)
 *   last_index   index of the last entry (0 for an empty log)
 *   term         term of the entry at index, for first_index - 1 <= index
 *                <= last_index (first_index - 1 is the term of the last
 *                entry removed from the front, 0 at index 0); anything else
 *                is DCF_ERR_NOTFOUND
 *   entries      entries lo, lo+1, ... < hi into out[0..*n_out) (*n_out is
 *                the capacity on input): at least one when lo < hi, then
 *                more while their payload total stays <= max_bytes;
 *                DCF_ERR_NOTFOUND when lo < first_index.  Payloads stay
 *                valid until the next dcf_node_step/dcf_node_destroy.
 */
typedef struct dcf_log_reader
{
	void	   *ctx;
	uint64_t	(*first_index) (void *ctx);
	uint64_t	(*last_index) (void *ctx);
	dcf_rc		(*term) (void *ctx, uint64_t index, uint64_t *term, char *errmsg);
	dcf_rc		(*entries) (void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes,
							dcf_entry *out, uint32_t *n_out, char *errmsg);
} dcf_log_reader;

/* ---- options --------------------------------------------------------------- */

typedef struct dcf_options
{
	uint32_t	node_id;
	uint32_t	election_timeout_ms;	/* T; timeouts drawn from [T, 2T) */
	uint32_t	heartbeat_interval_ms;	/* < T */
	uint32_t	lease_margin_ms;	/* clock drift allowance, < T */
	uint64_t	prng_seed;
	uint32_t	max_batch_entries;	/* per APPEND, <= DCF_MSG_ENTRIES_MAX */
	uint32_t	max_batch_bytes;	/* payload per APPEND (one entry may exceed) */
	uint32_t	max_inflight_appends;	/* pipeline window per peer */
	uint64_t	max_unstable_bytes;	/* >= DCF_ENTRY_PAYLOAD_MAX_BYTES */
	uint32_t	max_unstable_entries;
	uint64_t	max_step_read_bytes;	/* read from the host log per step */
	uint32_t	commit_notify_ms;	/* tell idle followers of a new commit index
									 * this long after it advanced (0: at once;
									 * heartbeats carry it too), see R5 */
	dcf_run_mode run_mode;
	dcf_work_mode work_mode;
	uint32_t	vote_num;		/* quorum weight in minority mode, >= 1 */
	/*
	 * Policy majority: an entry commits only when the weighted quorum has it
	 * AND at least one voter of every listed group (dcf_member.group) has
	 * it.  A listed group without a voter in the configuration is ignored.
	 */
	uint32_t	n_majority_groups;
	uint32_t	majority_groups[DCF_GROUPS_MAX];

	/* priority election: the leader hands over to a caught-up voter of
	 * higher priority, at most once per priority_interval_ms */
	bool		priority_election;
	uint32_t	priority_interval_ms;	/* 0: 2 election timeouts */
	uint32_t	transfer_timeout_ms;	/* 0: 2 election timeouts */
	/* adaptive flow control of batch size and pipeline window (dcf_flow.c) */
	bool		flow_control;
	uint32_t	flow_interval_ms;	/* control period; 0: 100 ms */
} dcf_options;

/*
 * Defaults used by the PostgreSQL layer: election timeout 1000 ms, heartbeat
 * 100 ms, lease margin 100 ms, batches of 256 entries / 1 MiB, 64 appends in
 * flight per peer, 64 MiB / 65536 unstable entries, 16 MiB read per step,
 * run_mode automatic, work_mode normal, priority election and flow control
 * off (the PostgreSQL layer behaves as before until it offers settings for
 * them; the limits above are flow control's maxima), default transfer
 * timeout and priority interval (2 election timeouts).
 */
extern void dcf_options_init(dcf_options *opts, uint32_t node_id);
extern dcf_rc dcf_options_validate(const dcf_options *opts, char *errmsg);

/* ---- hard state ------------------------------------------------------------ */

/*
 * Persisted before any message of the same update is sent (H1).  The commit
 * index is not hard state: a restarted node learns it again from the leader
 * (it starts from the applied index it is given).
 */
typedef struct dcf_hard_state
{
	uint64_t	term;
	uint32_t	vote;			/* DCF_NODE_NONE or a node id */

	/*
	 * S1  Repair.  Non-zero: the host's log lost entries (damaged or missing
	 * on disk, found at load) that this node may have acknowledged, up to
	 * this index.  Until it holds them again — fetched from a leader — the
	 * node never campaigns, grants a (pre-)vote only to a candidate whose
	 * log is at least as up to date as the one it lost (last index
	 * repair_index, of term repair_term, or its term at creation when
	 * that is 0 or above it), and its
	 * answers carry DCF_MSG_F_REPAIR so that no leader counts them toward a
	 * commit.  The core clears it (hard_state_changed) once its persisted
	 * log reaches repair_index or ends in an entry of a term above
	 * repair_term (see dcf_election_repair_check).  A host that finds
	 * entries lost raises it, never lowers it, and persists it before the
	 * node is created.
	 */
	uint64_t	repair_index;
	uint64_t	repair_term;	/* S1: no lost entry has a higher term (0:
								 * unknown, the node's term is used) */
} dcf_hard_state;

/*
 * S2  Rebuild.  The hard state a node starts from when it is rebuilt from
 * the leader (dcf_ctl build: a copy of the leader's state up to some index,
 * and a new, empty log past it).  Its old log is gone, and the copy may be
 * older than entries it had acknowledged; when its metadata (dcf.meta:
 * term, vote, membership) was lost or damaged too, so is the memory of the
 * terms it voted in.  So:
 *   - term and vote: its old ones (old, when they could be read) if that
 *     term is at least the leader's current term; else the leader's term,
 *     with the leader as its vote (it may have voted in that term before,
 *     and the leader is the one candidate that won it);
 *   - S1's repair bound at the leader's last index and current term: every
 *     committed entry it may have acknowledged is in the leader's log, so
 *     until its log holds that index again (fetched from a leader) or an
 *     entry of a later term, it never campaigns, votes only for a candidate
 *     at least as up to date as the leader's log, and no leader counts it
 *     toward a commit.
 * copy_term is the term of the copy's last entry (the term before the new
 * log's first index), which the planted bug rebuild_votes uses instead.
 * The leader must be the current one (its term the highest elected): a
 * deposed leader that does not know it yet may lack committed entries.
 */
extern void dcf_hard_state_rebuilt(dcf_hard_state *hs, const dcf_hard_state *old, uint64_t copy_term,
								   uint32_t leader_id, uint64_t leader_term, uint64_t leader_last_index);

/* ---- events ---------------------------------------------------------------- */

typedef enum dcf_event_type
{
	DCF_EVENT_TICK = 1,
	DCF_EVENT_MESSAGE,
	DCF_EVENT_PROPOSE,
	DCF_EVENT_PERSISTED,
	DCF_EVENT_APPLIED,
	DCF_EVENT_ADMIN
} dcf_event_type;

typedef struct dcf_proposal
{
	uint8_t		type;			/* >= DCF_ENTRY_APP_MIN */
	uint64_t	key;			/* >= the key of the last entry */
	const uint8_t *payload;		/* copied by the core */
	uint32_t	len;			/* <= DCF_ENTRY_PAYLOAD_MAX_BYTES */
} dcf_proposal;

/*
 * Admin requests.  Membership changes and transfers go to the leader (any
 * other node refuses them with DCF_ERR_STATE, naming the leader); mode
 * switches and promote act on the node they are given to.
 *
 * Membership changes (ADD, REMOVE, CHANGE_ROLE/PRIORITY/GROUP) go through the
 * log one at a time: a request is refused with DCF_ERR_STATE while another
 * change is in flight (its CONFIG entry not yet committed, a learner not yet
 * promoted, the leader's first entry of its term not yet committed) or a
 * transfer runs.  Accepted, it completes asynchronously: the outcome comes
 * back as a dcf_admin_report in an update and in dcf_status.last_report.
 *   ADD_MEMBER       a voting member joins as a learner, catches up, and is
 *                    promoted by a second CONFIG entry; the report comes when
 *                    that commits (a PASSIVE member joins at once)
 *   REMOVE_MEMBER    removing the leader itself makes it step down once the
 *                    change commits (after handing over with TIMEOUT_NOW)
 *   CHANGE_ROLE      a non-voter made a voter waits until it is caught up;
 *                    a leader made PASSIVE steps down after commit
 *                    The leader cannot remove itself or stop being able to
 *                    lead (PASSIVE, LOGGER) when the new configuration has
 *                    a LOGGER voter: transfer leadership first
 *   TRANSFER_LEADER  value = timeout in ms (0: transfer_timeout_ms); the
 *                    leader stops taking proposals, brings the target up to
 *                    date, sends TIMEOUT_NOW; aborted (and reported) when
 *                    the target has not taken over by the timeout
 *   SET_WORK_MODE    value = dcf_work_mode, vote_num; a leader or candidate
 *                    steps down; entering minority arms the term step
 *   SET_RUN_MODE     value = dcf_run_mode
 *   PROMOTE          start an election now (any run mode; votes respect
 *                    leases, its own too: refused with DCF_ERR_STATE within
 *                    an election timeout of hearing from a leader or of
 *                    starting); a no-op on the leader
 *   SET_PRIORITY_ELECTION  value = 0 (off) or 1 (on)
 */
typedef enum dcf_admin_kind
{
	DCF_ADMIN_ADD_MEMBER = 1,	/* member */
	DCF_ADMIN_REMOVE_MEMBER,	/* node_id */
	DCF_ADMIN_CHANGE_ROLE,		/* node_id, value = dcf_role */
	DCF_ADMIN_CHANGE_PRIORITY,	/* node_id, value */
	DCF_ADMIN_CHANGE_GROUP,		/* node_id, value */
	DCF_ADMIN_TRANSFER_LEADER,	/* node_id, value = timeout_ms */
	DCF_ADMIN_SET_WORK_MODE,	/* value = dcf_work_mode, vote_num */
	DCF_ADMIN_SET_RUN_MODE,		/* value = dcf_run_mode */
	DCF_ADMIN_PROMOTE,			/* - */
	DCF_ADMIN_SET_PRIORITY_ELECTION	/* value = 0 / 1 */
} dcf_admin_kind;

#define DCF_ADMIN_KIND_MAX DCF_ADMIN_SET_PRIORITY_ELECTION

extern const char *dcf_admin_kind_name(dcf_admin_kind kind);

typedef struct dcf_admin_request
{
	dcf_admin_kind kind;
	uint32_t	node_id;
	uint32_t	value;
	uint32_t	vote_num;
	dcf_member	member;
} dcf_admin_request;

typedef struct dcf_event
{
	dcf_event_type type;
	uint64_t	now_ms;			/* the host's monotonic clock (H6) */
	union
	{
		const dcf_msg *message;	/* MESSAGE: decoded, to == this node */
		struct
		{
			const dcf_proposal *items;
			uint32_t	n_items;
		}			propose;	/* PROPOSE: only on the leader */
		struct
		{
			uint64_t	index;
			uint64_t	term;
		}			persisted;	/* PERSISTED: durable up to index (H3) */
		uint64_t	applied;	/* APPLIED: applied up to this index */
		dcf_admin_request admin;	/* ADMIN */
	}			u;
} dcf_event;

/* ---- updates --------------------------------------------------------------- */

/*
 * The outcome of an accepted asynchronous admin request (membership change,
 * transfer), or of an automatic one (priority transfer, promotion of a
 * learner).  rc: DCF_OK done; DCF_ERR_TIMEOUT aborted on timeout;
 * DCF_ERR_STATE abandoned (leadership lost: the change may still commit
 * under the next leader — look at the membership).
 */
typedef struct dcf_admin_report
{
	dcf_admin_kind kind;
	uint32_t	node_id;		/* the member changed / the transfer target */
	dcf_rc		rc;
	uint64_t	index;			/* its CONFIG entry, 0 if none */
	bool		automatic;		/* started by the core itself */
	const char *reason;			/* static text */
} dcf_admin_report;

#define DCF_UPDATE_REPORTS_MAX 8

typedef struct dcf_peer_regress
{
	uint32_t	node_id;
	uint64_t	match_index;	/* what the leader held as its match */
	uint64_t	rejected_index; /* the append it rejected (prev index) */
	uint64_t	hint_index;		/* where the leader probes from now */
	bool		repair;			/* it said it is repairing (S1) */
} dcf_peer_regress;

typedef struct dcf_update
{
	/* durable part: persist before sending msgs (H1) */
	bool		hard_state_changed;
	dcf_hard_state hard_state;
	const dcf_membership *membership;	/* non-NULL: persist it */
	uint64_t	membership_index;	/* index of its CONFIG entry, 0 = boot */
	uint64_t	truncate_from;	/* H2; 0 = no truncation */
	const dcf_entry *entries;	/* to append, contiguous */
	uint32_t	n_entries;

	/* messages to send once the durable part is durable */
	const dcf_msg *msgs;
	uint32_t	n_msgs;

	/* soft state, always filled in */
	uint64_t	commit_index;
	bool		commit_changed;
	uint64_t	persisted_index;	/* H4: apply at most up to here */
	dcf_role	role;
	uint32_t	leader_id;		/* DCF_NODE_NONE when unknown */
	uint64_t	term;
	bool		role_changed;	/* role, leader or term differ from before */

	uint64_t	proposed_index; /* PROPOSE: index of the first proposal */
	uint64_t	next_tick_ms;	/* tick no later than this */

	/* outcomes of admin requests completed in this step */
	const dcf_admin_report *reports;
	uint32_t	n_reports;

	/*
	 * Leader: followers whose log went backwards (they rejected an append
	 * at or below their match index, so they lost entries they had
	 * acknowledged); their progress was reset to probe from the hint.
	 * For the host's log.
	 */
	const dcf_peer_regress *regressions;
	uint32_t	n_regressions;
} dcf_update;

/* ---- the node -------------------------------------------------------------- */

typedef struct dcf_node dcf_node;

/*
 * Creates a node from its durable state: hard state, membership (the last
 * update.membership and update.membership_index the host persisted, or the
 * bootstrap configuration with index 0), the applied index (H4) and the
 * host's log.  The configuration in force is the CONFIG entry the log holds
 * at membership->undo_index, else at membership_index, else (that entry was
 * lost in a crash) membership->prev — or the membership itself for index 0
 * or an index already recycled from the log (contract H7).  The node starts as FOLLOWER (or
 * LOGGER/PASSIVE per its configured role) and refuses to grant votes for one
 * election timeout, because it may have acknowledged a leader just before it
 * stopped (that keeps leases safe across restarts).
 */
extern dcf_rc dcf_node_create(const dcf_options *opts, const dcf_hard_state *hs,
							  const dcf_membership *membership, uint64_t membership_index,
							  uint64_t applied_index, const dcf_log_reader *log,
							  uint64_t now_ms, dcf_node **out, char *errmsg);
extern void dcf_node_destroy(dcf_node *node);

/* The step function; see the contract at the top of this file. */
extern dcf_rc dcf_node_step(dcf_node *node, const dcf_event *ev, dcf_update *out,
							char *errmsg);

/* ---- status for the SQL layer ------------------------------------------------ */

typedef enum dcf_progress_state
{
	DCF_PROGRESS_PROBE = 0,		/* one append at a time until a match */
	DCF_PROGRESS_REPLICATE,		/* pipelined appends */
	DCF_PROGRESS_STALE			/* needs entries the log no longer has */
} dcf_progress_state;

extern const char *dcf_progress_state_name(dcf_progress_state st);

typedef struct dcf_peer_status
{
	uint32_t	node_id;
	dcf_role	role;			/* configured role */
	uint64_t	next_index;
	uint64_t	match_index;
	uint64_t	applied_index;	/* as last reported by the peer */
	dcf_progress_state state;
	uint32_t	inflight;		/* appends in flight */
	uint64_t	last_heard_ms;	/* leader's clock; 0 = never */
	bool		learner;		/* catching up before it counts */
	bool		minority;		/* its last answer came in minority mode */
	bool		repair;			/* its last answer said it is repairing (S1):
								 * it counts toward no commit */
} dcf_peer_status;

/*
 * Flow control as steered by the leader (dcf_flow.c): the limits in force
 * (at most the configured maxima), the level they derive from
 * (1..DCF_FLOW_LEVELS; limit = max(1, maximum * level / DCF_FLOW_LEVELS)),
 * and what the leader measured in its last control period.  The measures
 * are taken even when steering is off.
 */
#define DCF_FLOW_LEVELS 64

typedef struct dcf_flow_status
{
	uint32_t	batch_entries;	/* limits in force */
	uint32_t	batch_bytes;
	uint32_t	inflight_appends;
	bool		enabled;		/* steering on (dcf_options.flow_control) */
	uint32_t	level;
	int32_t		direction;		/* next move: +1 up, -1 down */
	uint32_t	step;			/* levels per move */
	uint32_t	commit_latency_ms;	/* smoothed (1/8), proposal to commit */
	uint32_t	last_latency_ms;	/* mean of the last period */
	uint64_t	entries_per_s;	/* committed in the last period */
	uint64_t	bytes_per_s;
	uint64_t	power;			/* entries_per_s * 1000 / (latency_ms + 1) */
	bool		demand;			/* a limit held entries back last period */
	uint64_t	periods;		/* control periods measured */
	uint64_t	adjustments;	/* level changes */
} dcf_flow_status;

/* A membership change in flight (leader only). */
typedef enum dcf_change_phase
{
	DCF_CHANGE_NONE = 0,
	DCF_CHANGE_WAIT,			/* waiting to append (learner catch-up, fence) */
	DCF_CHANGE_LOGGED			/* CONFIG entry appended, not yet committed */
} dcf_change_phase;

typedef struct dcf_change_status
{
	dcf_change_phase phase;
	dcf_admin_kind kind;
	uint32_t	node_id;
	uint64_t	index;			/* LOGGED: its CONFIG entry */
	bool		automatic;
} dcf_change_status;

typedef struct dcf_status
{
	uint32_t	node_id;
	dcf_role	role;
	uint64_t	term;
	uint32_t	vote;
	uint32_t	leader_id;
	dcf_run_mode run_mode;
	dcf_work_mode work_mode;
	uint32_t	vote_num;
	uint32_t	election_timeout_ms;
	uint32_t	heartbeat_interval_ms;
	uint64_t	commit_index;
	uint64_t	applied_index;
	uint64_t	first_index;
	uint64_t	last_index;		/* includes unstable entries */
	uint64_t	persisted_index;	/* last index reported durable */
	uint64_t	repair_index;	/* S1: lost entries up to here are being
								 * fetched again; 0 = none */
	uint64_t	cluster_min_applied_index;	/* leader only, else 0 */
	bool		lease_valid;	/* dcf_node_lease_valid() at the last step */
	dcf_flow_status flow;
	uint32_t	n_peers;		/* leader only, else 0 */
	dcf_peer_status peers[DCF_MEMBERS_MAX];

	uint64_t	membership_index;	/* CONFIG entry of the configuration in force */
	bool		priority_election;
	dcf_change_status change;	/* leader only */
	uint32_t	transfer_target;	/* transfer running (or awaited after stepping down), else DCF_NODE_NONE */
	bool		has_report;
	dcf_admin_report last_report;	/* the last one this node produced */
} dcf_status;

/* A consistent copy of the node's state; call between steps. */
extern void dcf_node_status(const dcf_node *node, dcf_status *out);

/* The membership in force and the index of its CONFIG entry. */
extern const dcf_membership *dcf_node_membership(const dcf_node *node, uint64_t *index);

/*
 * Check-quorum lease: true when this node is the leader and a weighted quorum
 * of voters acknowledged messages it sent after now_ms - (T - lease_margin).
 * Those voters refuse to elect anyone else until T after they heard from it,
 * so no other leader can exist while this holds (given clocks whose rates
 * differ by less than the margin).  The PostgreSQL layer fences when it turns
 * false.
 */
extern bool dcf_node_lease_valid(const dcf_node *node, uint64_t now_ms);

/*
 * Contract H1's relaxation: may this node's APPEND/HEARTBEAT messages leave
 * before its own writes are durable?  True for a leader of a membership
 * without LOGGER voters, and no change in flight that would make one (the
 * host must also have its hard state durable).
 */
extern bool dcf_node_early_send_allowed(const dcf_node *node);

#endif							/* DCF_CORE_H */
