/*
 * sim.h — the deterministic simulator of the consensus core (regress/sim).
 *
 * One process, one thread, one virtual clock, one seeded PRNG per seed:
 * everything non-deterministic the core could meet in production — message
 * loss, duplication, delay, reordering, symmetric and asymmetric partitions,
 * slow disks, crashes that lose or tear unsynced writes, restarts from the
 * durable image only — is drawn from that PRNG, so a seed replays exactly.
 *
 * Files:
 *   sim.h          shared types
 *   sim_world.c    the world of one seed: event queue, hosts (the
 *                  dcf_node contract H1..H6 carried out over a volatile and
 *                  a durable log per node), network, disk, faults
 *   sim_check.c    the invariants, checked after every event, and the
 *                  global oracle of committed entries
 *   sim_main.c     command line, swarm configuration per seed, seeds loop,
 *                  summary line, parallel jobs
 */
#ifndef DCF_SIM_H
#define DCF_SIM_H

#include "core/dcf_codec.h"
#include "core/dcf_core.h"
#include "core/dcf_assert.h"
#include "core/dcf_prng.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_NODES_MAX 7

/* ---- configuration of one seed (drawn by swarm testing) ---- */

typedef struct sim_config
{
	const char *profile;		/* name of the swarm profile drawn */
	int			n_nodes;		/* hosts; the first ms.n_members are members */
	dcf_membership ms;			/* bootstrap membership (spare hosts not in it) */
	uint32_t	election_timeout_ms;
	uint32_t	heartbeat_ms;
	uint32_t	lease_margin_ms;
	uint32_t	tick_ms;		/* host timer granularity */
	uint32_t	max_batch_entries;
	uint32_t	max_batch_bytes;
	uint32_t	max_inflight;
	uint32_t	commit_notify_ms;
	uint32_t	max_unstable_entries;
	bool		eager_leader_send;	/* send APPEND/HEARTBEAT before own fsync */
	/* network */
	uint32_t	net_delay_min_ms;
	uint32_t	net_delay_max_ms;
	uint32_t	drop_permille;
	uint32_t	dup_permille;
	uint32_t	spike_permille; /* a long delay: reordering */
	uint32_t	spike_max_ms;
	/* disk */
	uint32_t	sync_min_ms;
	uint32_t	sync_max_ms;
	/* faults */
	uint32_t	fault_interval_ms;	/* mean time between fault actions */
	uint32_t	crash_weight;
	uint32_t	crash_leader_weight;	/* crash whoever leads */
	uint32_t	isolate_leader_weight;
	uint32_t	partition_weight;
	uint32_t	heal_weight;
	uint32_t	downtime_max_ms;
	uint32_t	lose_unsynced_permille; /* on crash: lose every unsynced write */
	uint32_t	keep_unsynced_permille; /* on crash: keep them all */
	uint32_t	storage_fault_permille; /* on crash: the node's storage also
										 * loses or damages durable entries
										 * (issue 15; one node at a time) */
	uint32_t	meta_fault_permille;	/* on crash: the node's metadata (term,
										 * vote, membership) is lost: it is out
										 * until rebuilt (issue 15) */
	uint32_t	rebuild_min_ms; /* how long a rebuild (dcf_ctl build) takes */
	uint32_t	rebuild_max_ms;
	/* clients */
	uint32_t	backlog_max;	/* uncommitted entries before a client waits */
	uint32_t	propose_interval_ms;
	uint32_t	payload_max_bytes;
	uint32_t	propose_batch_max;
	/* consensus features (issue 7) */
	uint32_t	n_majority_groups;
	uint32_t	majority_groups[DCF_GROUPS_MAX];
	uint32_t	n_groups;		/* groups drawn for members: 0..n_groups-1 */
	uint32_t	max_priority;	/* priorities drawn in 0..max_priority */
	uint32_t	max_weight;		/* weights drawn in 1..max_weight */
	bool		priority_election;
	uint32_t	priority_interval_ms;
	uint32_t	transfer_timeout_ms;
	bool		flow_control;
	uint32_t	flow_interval_ms;
	/* admin events: mean interval and a weight per dcf_admin_kind */
	uint32_t	admin_interval_ms;
	uint32_t	admin_weight[DCF_ADMIN_KIND_MAX + 1];
} sim_config;

/* ---- logs kept by the host ---- */

typedef struct sim_entry
{
	uint64_t	term;
	uint64_t	key;
	uint64_t	chain;			/* hash of this entry and every one before */
	const uint8_t *payload;		/* in the world's arena */
	uint32_t	len;
	uint8_t		type;
} sim_entry;

typedef struct sim_log
{
	sim_entry  *e;				/* e[i - 1] is index i */
	uint64_t	n;
	uint64_t	cap;
} sim_log;

typedef enum sim_op_kind
{
	SIM_OP_HARD_STATE,
	SIM_OP_TRUNCATE,
	SIM_OP_APPEND,
	SIM_OP_MEMBERSHIP			/* the record of contract H7, ordered with the log */
} sim_op_kind;

/* One write not yet synced. */
typedef struct sim_op
{
	sim_op_kind kind;
	dcf_hard_state hs;
	uint64_t	index;			/* TRUNCATE: from; APPEND: first index; MEMBERSHIP: its index */
	sim_entry  *entries;		/* APPEND */
	uint32_t	n;
	dcf_membership *ms;			/* MEMBERSHIP */
} sim_op;

/* The membership record a host persisted (H7). */
typedef struct sim_record
{
	bool		set;			/* false: the bootstrap membership, index 0 */
	uint64_t	index;
	dcf_membership ms;
} sim_record;

typedef struct sim_held
{
	uint32_t	to;
	uint64_t	need_seq;		/* send once ops up to this are durable */
	uint8_t    *bytes;
	size_t		len;
	bool		vote_grant;		/* a granted VOTE_RESP (checked at release) */
	bool		own_term;		/* carries the sender's own term (not pre-vote) */
	uint64_t	term;
	uint32_t	candidate;
} sim_held;

typedef struct sim_node
{
	uint32_t	id;
	int			idx;
	dcf_node   *node;			/* NULL while down */
	uint32_t	incarnation;
	dcf_log_reader reader;
	sim_log		vlog;			/* what the host wrote (page cache) */
	sim_log		dlog;			/* what is durable */
	dcf_hard_state vhs;
	dcf_hard_state dhs;
	sim_op	   *ops;			/* unsynced writes, in order */
	uint32_t	n_ops;
	uint32_t	cap_ops;
	uint64_t	op_seq;			/* writes issued so far */
	uint64_t	synced_seq;		/* writes durable so far */
	uint32_t	hs_pending;		/* unsynced hard state writes */
	bool		sync_running;
	uint64_t	sync_target_seq;
	sim_held   *held;			/* messages waiting for a sync (H1) */
	uint32_t	n_held;
	uint32_t	cap_held;
	/* soft state as last reported */
	dcf_role	role;
	uint32_t	leader;
	uint64_t	term;
	uint64_t	commit;
	uint64_t	persisted;		/* apply limit (H4) */
	uint64_t	applied;		/* durable with the state machine */
	uint64_t	max_written;	/* highest index this node ever received */
	uint64_t	log_first;		/* first index of the host's log (1, or past a
								 * rebuild's copy: vlog/dlog still keep the
								 * copied prefix for the checks, the reader
								 * does not expose it) */
	bool		rebuild_pending;	/* out until rebuilt (dcf_ctl build) */
	bool		meta_lost;		/* its metadata is lost: the build cannot keep
								 * its term and vote */
	bool		rebuilt_start;	/* its next start is the first after a rebuild */
	uint64_t	started_ms;		/* when it last started */
	uint64_t	rebuild_term;	/* the term its last rebuild gave it (S2) */
	uint32_t	rebuild_vote;	/* and the vote */
	uint64_t	pending_leader_term;	/* led this term, term not durable yet */
	/* timers */
	uint64_t	tick_at;
	uint32_t	tick_gen;
	/* for the durability checks */
	uint64_t	max_sent_term;
	uint64_t	leader_since_ms;	/* when it became leader of its current term */
	/* membership: the record (volatile and durable), CONFIG entries of vlog */
	sim_record	vrec;
	sim_record	drec;
	uint64_t   *cfgs;			/* indexes of the CONFIG entries in vlog, increasing */
	uint32_t	n_cfgs;
	uint32_t	cap_cfgs;
	/* settings the operator gave this node (kept across restarts) */
	dcf_work_mode work_mode;
	uint32_t	vote_num;
	dcf_run_mode run_mode;
	bool		priority_election;
	bool		held_down;		/* a lost node of a minority episode */
	dcf_run_mode saved_run_mode;	/* restored when the episode ends */
	bool		minority_jumped;	/* campaigned since it entered minority mode */
} sim_node;

/* ---- events ---- */

typedef enum sim_ev_kind
{
	SIM_EV_DELIVER = 1,
	SIM_EV_TICK,
	SIM_EV_SYNC,
	SIM_EV_RESTART,
	SIM_EV_FAULT,
	SIM_EV_PROPOSE,
	SIM_EV_ADMIN,
	SIM_EV_REBUILD				/* a node whose metadata was lost is rebuilt */
} sim_ev_kind;

typedef struct sim_packet
{
	uint32_t	from;
	uint32_t	to;
	size_t		len;
	uint8_t		bytes[];
} sim_packet;

typedef struct sim_event
{
	uint64_t	at_ms;
	uint64_t	seq;
	sim_ev_kind kind;
	int			node;			/* index */
	uint32_t	gen;			/* TICK: tick_gen; SYNC/RESTART: incarnation */
	sim_packet *pkt;			/* DELIVER */
} sim_event;

/* ---- a small map (k1, k2) -> v for the checks ---- */

typedef struct sim_map_slot
{
	uint64_t	k1;
	uint64_t	k2;
	uint64_t	v;
	bool		used;
} sim_map_slot;

typedef struct sim_map
{
	sim_map_slot *slots;
	uint64_t	cap;			/* power of two */
	uint64_t	n;
} sim_map;

extern void sim_map_clear(sim_map *m);
extern void sim_map_free(sim_map *m);
extern bool sim_map_get(const sim_map *m, uint64_t k1, uint64_t k2, uint64_t *v);
extern void sim_map_put(sim_map *m, uint64_t k1, uint64_t k2, uint64_t v);

/* ---- counters (summed over seeds) ---- */

typedef struct sim_stats
{
	uint64_t	seeds;
	uint64_t	events;			/* fault phase */
	uint64_t	liveness_events;
	uint64_t	elections;		/* campaigns that raised a term */
	uint64_t	leader_changes;
	uint64_t	crashes;
	uint64_t	leader_crashes;
	uint64_t	restarts;
	uint64_t	partitions;
	uint64_t	msgs_sent;
	uint64_t	msgs_dropped;
	uint64_t	msgs_duplicated;
	uint64_t	torn_writes;
	uint64_t	lost_writes;	/* unsynced writes lost in crashes */
	uint64_t	storage_faults; /* durable entries lost or damaged (S1) */
	uint64_t	storage_lost_entries;	/* durable entries they took */
	uint64_t	meta_faults;	/* metadata lost (a rebuild needed) */
	uint64_t	rebuilds;		/* nodes rebuilt from a leader */
	uint64_t	rebuild_waits;	/* rebuild attempts put off (no leader) */
	uint64_t	stale_rebuilds; /* followers rebuilt as the leader said
								 * (needs_build: behind a rebuilt log) */
	uint64_t	proposals;
	uint64_t	committed;		/* entries in the oracle at the end */
	uint64_t	violations;
	uint64_t	liveness_failures;
	uint64_t	virtual_ms;
	/* admin events: accepted requests per kind, refusals, outcomes */
	uint64_t	admin_ok[DCF_ADMIN_KIND_MAX + 1];
	uint64_t	admin_refused;
	uint64_t	changes_committed;	/* CONFIG entries that committed */
	uint64_t	transfers_done;
	uint64_t	transfers_failed;	/* timed out or abandoned */
	uint64_t	minority_episodes;	/* completed: back to normal */
	uint64_t	admin_seeds;	/* seeds with every admin kind enabled */
} sim_stats;

/* A minority episode (README.md's operator procedure, driven by the simulator). */
typedef enum sim_episode_phase
{
	SIM_EPISODE_NONE = 0,
	SIM_EPISODE_MINORITY,		/* survivors in minority, the lost nodes held down */
	SIM_EPISODE_RETURNING		/* lost nodes back in run_mode 2, catching up */
} sim_episode_phase;

typedef struct sim_episode
{
	sim_episode_phase phase;
	uint32_t	survivors;		/* bit per host index */
	uint32_t	lost;
	uint32_t	vote_num;
	uint64_t	t0;				/* highest term anywhere when it began */
	uint64_t	voters;			/* weight of the voters (normal quorum base) */
	uint32_t	voter_mask;
	uint32_t	weight[SIM_NODES_MAX];
} sim_episode;

/* ---- the world of one seed ---- */

typedef struct sim_world
{
	uint64_t	seed;
	sim_config	cfg;
	dcf_prng	rng;
	uint64_t	now;
	uint64_t	seq;
	sim_event  *heap;
	uint32_t	n_heap;
	uint32_t	cap_heap;
	sim_node	nodes[SIM_NODES_MAX];
	bool		blocked[SIM_NODES_MAX][SIM_NODES_MAX];	/* from, to */
	bool		healing;		/* liveness phase: no more faults */
	uint64_t	key_counter;
	uint64_t	proposal_id;
	uint64_t	heal_first_marker;	/* proposals with id >= this are markers */
	uint64_t	marker_index;	/* index where a marker committed, 0 = none */
	uint64_t	marker_sent_ms; /* when the last marker was proposed */
	uint32_t	marker_leader;	/* to whom */
	uint64_t	last_progress_ms;	/* liveness: commit or catch-up moved */
	uint64_t	stale_check_ms; /* the operator's next look for needs_build */
	/* arena for payloads */
	uint8_t   **chunks;
	uint32_t	n_chunks;
	uint32_t	cap_chunks;
	size_t		chunk_used;
	/* oracle and check state (sim_check.c) */
	uint64_t   *oracle_chain;	/* [i - 1]: chain of committed index i */
	uint64_t   *oracle_term;
	uint64_t   *oracle_commit_term;	/* term of the leader that committed it */
	uint64_t	oracle_n;
	uint64_t	oracle_cap;
	sim_map		entry_chain;	/* (index, term) -> chain: log matching */
	sim_map		term_leader;	/* (term, 0) -> node id: election safety */
	sim_map		votes;			/* (node, term) -> candidate */
	sim_map		asked;			/* (candidate, term | pre-vote bit) -> voters it counts */
	uint64_t	max_leader_term;
	uint64_t   *lead_ms;		/* leaderships in the order they became real: when */
	uint64_t   *lead_term;		/* and of which term */
	uint64_t	n_lead;
	uint64_t	cap_lead;
	uint64_t   *oracle_commit_ms;	/* when index i first committed */
	bool	   *oracle_config;	/* committed index i is a CONFIG entry */
	/* the quorum that committed the oracle's last entry (commit durability) */
	uint32_t	commit_counted;	/* hosts whose copy counted (bit per index) */
	uint32_t	commit_weight[SIM_NODES_MAX];
	uint64_t	commit_needed;
	uint32_t	commit_groups[DCF_GROUPS_MAX];	/* voters of each listed group */
	uint32_t	commit_n_groups;
	sim_episode episode;
	uint64_t	priority_deadline_ms;	/* liveness: priority must settle by then */
	dcf_rc		last_step_rc;	/* of the last step_node (admin refusals) */
	uint64_t	step_log_before;	/* log length of the node before the update being handled */
	uint64_t	step_commit;	/* commit index of the update being handled */
	/* outcome */
	bool		violated;
	char		violation[512];
	uint64_t	events_done;
	sim_stats	st;
	/* options */
	bool		trace;
	const char *argv0;
	uint64_t	events_target;
	jmp_buf    *panic_jmp;
} sim_world;

/* sim_world.c */
extern void sim_world_init(sim_world *w, uint64_t seed, const sim_config *cfg, uint64_t events,
						   bool trace, const char *argv0);
extern void sim_world_run(sim_world *w);
extern void sim_world_free(sim_world *w);
extern void sim_trace(sim_world *w, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern uint64_t sim_log_last_term(const sim_log *l);

/* sim_corpus.c */
extern int	sim_write_codec_corpus(const char *dir);

/* sim_check.c */
extern void sim_violation(sim_world *w, const char *invariant, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern uint64_t sim_chain_next(uint64_t prev, uint64_t index, const sim_entry *e);
extern void sim_check_observed(sim_world *w, sim_node *sn, uint64_t index, const sim_entry *e);
extern void sim_check_update(sim_world *w, sim_node *sn, const dcf_update *u, dcf_role role_before,
							 uint64_t term_before, dcf_event_type ev);
extern void sim_check_msg(sim_world *w, sim_node *sn, const dcf_msg *m, const dcf_flow_status *before);
extern void sim_check_timeout_now(sim_world *w, sim_node *sn, const dcf_msg *m);
extern void sim_check_config_entry(sim_world *w, sim_node *sn, const dcf_membership *prev,
								   const dcf_membership *next, uint64_t index);
extern void sim_check_node_config(sim_world *w, sim_node *sn);
extern const dcf_member *sim_self(sim_node *sn);
extern bool sim_holds(sim_world *w, const sim_log *l, uint64_t index);
extern void sim_check_commit(sim_world *w, sim_node *sn, uint64_t old_commit, uint64_t new_commit);
extern void sim_check_release(sim_world *w, sim_node *sn, const sim_held *h);
extern void sim_check_restart(sim_world *w, sim_node *sn);
extern void sim_check_durable_hard_state(sim_world *w, sim_node *sn);
extern void sim_check_global(sim_world *w);
extern void sim_check_reset(sim_world *w);

#endif							/* DCF_SIM_H */
