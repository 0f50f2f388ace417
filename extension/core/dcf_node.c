/*
 * dcf_node.c — the node: creation from durable state, the step function
 * (event dispatch, term rules common to every message), the update handed
 * to the host, status and lease queries.
 *
 * Message rules applied before any type-specific handling (Raft §5.1,
 * dissertation §9.6, etcd-io/raft's Step):
 *   M1  A message of a higher term makes the node a follower of that term
 *       (leader = sender for APPEND/HEARTBEAT), except: a (pre-)vote request
 *       while the node is in its lease (E3) is ignored entirely; a pre-vote
 *       request or a granted pre-vote answer never changes anyone's term.
 *   M2  A message of a lower term is dropped, except that a stale leader's
 *       APPEND/HEARTBEAT is answered with our term (so it steps down) and a
 *       stale PREVOTE_REQ is refused with our term.
 *   M3  Messages addressed to another node are dropped, and so are (pre-)
 *       vote answers from nodes that are not members of the configuration in
 *       force (they count for nothing).  Vote requests are accepted from
 *       anyone, as in Raft (rule E8 of dcf_election.c): pre-vote and the
 *       vote lease keep a removed node from disturbing a cluster that has a
 *       leader (dissertation §4.2.3).  Appends, heartbeats and their answers
 *       are accepted from anyone: only the leader of a term sends appends,
 *       and a leader that removed itself still replicates its last change;
 *       answers are matched against the leader's progress entries.
 *
 * Step structure: garbage of the previous step is freed first (H5); the
 * event is handled; then the update is assembled from what changed.  A log
 * reader failure anywhere sets node->fail_rc and the step returns it.
 */
#include "core/dcf_node_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- options ------------------------------------------------------------------ */

void
dcf_options_init(dcf_options *opts, uint32_t node_id)
{
	memset(opts, 0, sizeof(*opts));
	opts->node_id = node_id;
	opts->election_timeout_ms = 1000;
	opts->heartbeat_interval_ms = 100;
	opts->lease_margin_ms = 100;
	opts->prng_seed = node_id;
	opts->max_batch_entries = 256;
	opts->max_batch_bytes = 1u << 20;
	opts->max_inflight_appends = 64;
	opts->max_unstable_bytes = 64u << 20;
	opts->max_unstable_entries = 65536;
	opts->max_step_read_bytes = 16u << 20;
	opts->commit_notify_ms = 5;
	opts->run_mode = DCF_RUN_MODE_AUTO;
	opts->work_mode = DCF_WORK_MODE_NORMAL;
	opts->vote_num = 0;
	opts->priority_election = false;
	opts->priority_interval_ms = 0;
	opts->transfer_timeout_ms = 0;
	opts->flow_control = false;
	opts->flow_interval_ms = 0;
}

dcf_rc
dcf_options_validate(const dcf_options *o, char *errmsg)
{
	if (o->node_id == DCF_NODE_NONE)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "node id must be at least 1");
	if (o->election_timeout_ms < 2)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "election timeout of %u ms is too short",
						o->election_timeout_ms);
	if (o->heartbeat_interval_ms == 0 || o->heartbeat_interval_ms >= o->election_timeout_ms)
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"heartbeat interval of %u ms must be above 0 and below the election timeout of %u ms",
						o->heartbeat_interval_ms, o->election_timeout_ms);
	if (o->lease_margin_ms >= o->election_timeout_ms)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "lease margin of %u ms must be below the election timeout",
						o->lease_margin_ms);
	if (o->max_batch_entries == 0 || o->max_batch_entries > DCF_MSG_ENTRIES_MAX)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "max batch entries %u outside 1..%d",
						o->max_batch_entries, DCF_MSG_ENTRIES_MAX);
	if (o->max_batch_bytes == 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "max batch bytes must be above 0");
	if (o->max_inflight_appends == 0 || o->max_inflight_appends > DCF_INFLIGHT_MAX)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "max inflight appends %u outside 1..%d",
						o->max_inflight_appends, DCF_INFLIGHT_MAX);
	if (o->max_unstable_entries < 2)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "max unstable entries %u is below 2",
						o->max_unstable_entries);
	if (o->max_unstable_bytes == 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "max unstable bytes must be above 0");
	if (o->max_step_read_bytes == 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "max step read bytes must be above 0");
	if (o->run_mode != DCF_RUN_MODE_AUTO && o->run_mode != DCF_RUN_MODE_NONE)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "run mode %d is neither 0 nor 2", (int) o->run_mode);
	if (o->work_mode != DCF_WORK_MODE_NORMAL && o->work_mode != DCF_WORK_MODE_MINORITY)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "unknown work mode %d", (int) o->work_mode);
	if (o->work_mode == DCF_WORK_MODE_MINORITY && (o->vote_num == 0 || o->vote_num > DCF_MEMBERS_MAX * DCF_MEMBER_WEIGHT_MAX))
		return dcf_errf(errmsg, DCF_ERR_INVALID, "minority work mode needs a vote_num of at least 1, got %u",
						o->vote_num);
	if (o->n_majority_groups > DCF_GROUPS_MAX)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "%u majority groups, at most %d allowed",
						o->n_majority_groups, DCF_GROUPS_MAX);
	return DCF_OK;
}

/* ---- helpers shared by the modules ---------------------------------------- */

bool
dcf_node_failed(dcf_node *node)
{
	return node->fail_rc != DCF_OK;
}

void
dcf_node_fail(dcf_node *node, dcf_rc rc)
{
	if (node->fail_rc == DCF_OK)
		node->fail_rc = rc;
}

dcf_rc
dcf_node_term_at(dcf_node *node, uint64_t index, uint64_t *term)
{
	char		local[DCF_ERRMSG_MAX];
	dcf_rc		rc = dcf_raftlog_term(&node->log, index, term, local);

	if (rc != DCF_OK && rc != DCF_ERR_NOTFOUND)
	{
		if (node->fail_rc == DCF_OK && node->errmsg)
		{
			memcpy(node->errmsg, local, DCF_ERRMSG_MAX);
			dcf_errwrap(node->errmsg, rc, "reading the term of index %llu", (unsigned long long) index);
		}
		dcf_node_fail(node, rc);
	}
	return rc;
}

dcf_msg *
dcf_node_new_msg(dcf_node *node, dcf_msg_type type, uint32_t to)
{
	dcf_msg    *m;

	if (node->n_msgs >= DCF_UPDATE_MSGS_MAX)
		return NULL;
	m = &node->msgs[node->n_msgs++];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = node->opts.node_id;
	m->to = to;
	m->term = node->term;
	if (node->opts.work_mode == DCF_WORK_MODE_MINORITY)
		m->flags |= DCF_MSG_F_MINORITY;
	return m;
}

bool
dcf_node_peer_same_mode(const dcf_node *node, const dcf_progress *pr)
{
	return dcf_node_same_mode(node, pr->minority ? DCF_MSG_F_MINORITY : 0);
}

/* Does a message with these flags come from a node in our work mode? */
bool
dcf_node_same_mode(const dcf_node *node, uint32_t msg_flags)
{
#ifdef DCF_PLANT_BUG_MIXED_MODES
	/* planted bug: count votes and acknowledgements of either work mode */
	(void) node;
	(void) msg_flags;
	return true;
#else
	bool		minority = (msg_flags & DCF_MSG_F_MINORITY) != 0;

	return minority == (node->opts.work_mode == DCF_WORK_MODE_MINORITY);
#endif
}

void
dcf_node_report(dcf_node *node, dcf_admin_kind kind, uint32_t node_id, dcf_rc rc, uint64_t index,
				bool automatic, const char *reason)
{
	dcf_admin_report *r;

	node->last_report.kind = kind;
	node->last_report.node_id = node_id;
	node->last_report.rc = rc;
	node->last_report.index = index;
	node->last_report.automatic = automatic;
	node->last_report.reason = reason;
	node->has_report = true;
	if (node->n_reports >= DCF_UPDATE_REPORTS_MAX)
		return;					/* status keeps the last one */
	r = &node->reports[node->n_reports++];
	*r = node->last_report;
}

void
dcf_node_reset_election_timer(dcf_node *node)
{
	uint64_t	t = node->opts.election_timeout_ms;

	node->election_deadline_ms = node->now_ms + t + dcf_prng_below(&node->prng, t);
}

dcf_progress *
dcf_node_progress(dcf_node *node, uint32_t node_id)
{
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		if (node->membership.members[i].node_id == node_id && (int) i != node->self)
			return &node->progress[i];
	}
	return NULL;
}

/*
 * Derived from the membership and the work mode: self, acting role, quorum
 * weights.  In minority mode the quorum is vote_num (counted only among
 * voters of the same mode, see dcf_node_same_mode).
 */
void
dcf_node_apply_membership(dcf_node *node)
{
	node->self = -1;
	node->conf_role = DCF_ROLE_UNKNOWN;
	node->total_weight = 0;
	node->has_logger = false;
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		const dcf_member *m = &node->membership.members[i];

		if (m->node_id == node->opts.node_id)
		{
			node->self = (int) i;
			node->conf_role = dcf_member_acting_role(m);
		}
		if (dcf_member_is_voter(m))
		{
#ifdef DCF_PLANT_BUG_IGNORE_WEIGHT
			/* planted bug: every voter weighs 1, whatever its weight */
			node->total_weight += 1;
#else
			node->total_weight += m->weight;
#endif
			if (m->role == DCF_ROLE_LOGGER)
				node->has_logger = true;
		}
#ifdef DCF_PLANT_BUG_PASSIVE_VOTES
		/* planted bug: passive members are counted as voters */
		else if (m->role == DCF_ROLE_PASSIVE)
			node->total_weight += m->weight;
#endif
	}
	if (node->opts.work_mode == DCF_WORK_MODE_MINORITY)
		node->needed_weight = node->opts.vote_num;
	else
		node->needed_weight = dcf_quorum_majority(node->total_weight);
}

/* ---- lifecycle ------------------------------------------------------------------ */

dcf_rc
dcf_node_create(const dcf_options *opts, const dcf_hard_state *hs,
				const dcf_membership *membership, uint64_t membership_index,
				uint64_t applied_index, const dcf_log_reader *log, uint64_t now_ms,
				dcf_node **out, char *errmsg)
{
	dcf_node   *node;
	dcf_rc		rc;
	uint64_t	last;

	*out = NULL;
	if ((rc = dcf_options_validate(opts, errmsg)) != DCF_OK)
		return dcf_errwrap(errmsg, rc, "creating node");
	if ((rc = dcf_membership_validate(membership, errmsg)) != DCF_OK)
		return dcf_errwrap(errmsg, rc, "creating node %u", opts->node_id);
	if (opts->max_unstable_bytes < DCF_ENTRY_PAYLOAD_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_INVALID,
						"max unstable bytes %llu is below the largest entry (%u bytes)",
						(unsigned long long) opts->max_unstable_bytes, DCF_ENTRY_PAYLOAD_MAX_BYTES);
	node = calloc(1, sizeof(*node));
	if (node == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "allocating node %u", opts->node_id);
	node->opts = *opts;
	node->reader = *log;
	node->msgs = malloc(sizeof(dcf_msg) * DCF_UPDATE_MSGS_MAX);
	node->pool = malloc(sizeof(dcf_entry) * DCF_UPDATE_POOL_ENTRIES);
	node->infl_storage = malloc(sizeof(uint64_t) * DCF_MEMBERS_MAX * opts->max_inflight_appends);
	if (node->msgs == NULL || node->pool == NULL || node->infl_storage == NULL)
	{
		dcf_node_destroy(node);
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "allocating node %u", opts->node_id);
	}
	for (int i = 0; i < DCF_MEMBERS_MAX; i++)
	{
		node->progress[i].infl = node->infl_storage + (size_t) i * opts->max_inflight_appends;
		node->progress[i].infl_cap = opts->max_inflight_appends;
		node->progress[i].infl_limit = opts->max_inflight_appends;
	}
	rc = dcf_raftlog_init(&node->log, &node->reader, opts->max_unstable_bytes,
					  opts->max_unstable_entries, errmsg);
	if (rc != DCF_OK)
	{
		free(node->msgs);
		free(node->pool);
		free(node->infl_storage);
		free(node);
		return dcf_errwrap(errmsg, rc, "opening the log of node %u", opts->node_id);
	}
	last = dcf_raftlog_last_index(&node->log);
	if (applied_index > last)
	{
		dcf_node_destroy(node);
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "applied index %llu is past the last log index %llu",
						(unsigned long long) applied_index, (unsigned long long) last);
	}
	dcf_prng_seed(&node->prng, opts->prng_seed ^ ((uint64_t) opts->node_id << 32));
	rc = dcf_reconfig_init(node, membership, membership_index, errmsg);
	if (rc != DCF_OK)
	{
		dcf_node_destroy(node);
		return dcf_errwrap(errmsg, rc, "choosing the configuration of node %u", opts->node_id);
	}
	if (opts->work_mode == DCF_WORK_MODE_MINORITY && opts->vote_num > node->total_weight)
	{
		uint64_t	total = node->total_weight;

		dcf_node_destroy(node);
		return dcf_errf(errmsg, DCF_ERR_INVALID, "vote_num %u of minority work mode is above the voters' weight %llu",
						opts->vote_num, (unsigned long long) total);
	}
	node->term = hs->term;
	node->vote = hs->vote;
	node->repair_index = hs->repair_index;
	if (node->log.last_term > node->term)
	{
		/*
		 * The log outlived a hard state write that never became durable.
		 * Nothing was sent in that term (H1), and a durable vote in it would
		 * have carried the term with it, so the term is adopted without a
		 * vote.
		 */
		node->term = node->log.last_term;
		node->vote = DCF_NODE_NONE;
		node->hs_dirty = true;
	}
	if (node->repair_index != 0)
		node->repair_term = hs->repair_term != 0 && hs->repair_term < node->term ? hs->repair_term : node->term;
	node->commit = applied_index;
	node->applied = applied_index;
	node->now_ms = now_ms;
	node->vote_lease_until_ms = now_ms + opts->election_timeout_ms;	/* E3 */
	node->role = dcf_election_follower_role(node);
	node->leader_id = DCF_NODE_NONE;
	dcf_node_reset_election_timer(node);
	dcf_flow_reset(node);
	node->reported_role = DCF_ROLE_UNKNOWN;
	node->reported_term = node->term;
	node->reported_commit = node->commit;
	*out = node;
	return DCF_OK;
}

void
dcf_node_destroy(dcf_node *node)
{
	if (node == NULL)
		return;
	if (node->log.ents != NULL)
		dcf_raftlog_destroy(&node->log);
	free(node->msgs);
	free(node->pool);
	free(node->infl_storage);
	free(node);
}

/* ---- events ---------------------------------------------------------------- */

static void
step_message(dcf_node *node, const dcf_msg *m)
{
	if (m->to != node->opts.node_id || m->from == node->opts.node_id)
		return;					/* M3 */
	if ((m->type == DCF_MSG_PREVOTE_RESP || m->type == DCF_MSG_VOTE_RESP) &&
		dcf_membership_find(&node->membership, m->from) == NULL)
		return;					/* M3 */
	if ((m->type == DCF_MSG_APPEND || m->type == DCF_MSG_HEARTBEAT) &&
		node->opts.work_mode == DCF_WORK_MODE_MINORITY && !(m->flags & DCF_MSG_F_MINORITY))
		return;					/* E6: a normal-mode leader is lost to us */
	node->higher_term_from = DCF_NODE_NONE;
	if (m->term > node->term)
	{
		bool		vote_req = m->type == DCF_MSG_PREVOTE_REQ || m->type == DCF_MSG_VOTE_REQ;

		if (vote_req && !(m->flags & DCF_MSG_F_TRANSFER) && dcf_election_in_lease(node))
			return;				/* E3 */
		if (m->type == DCF_MSG_PREVOTE_REQ)
		{
			/* asks about a future term: no term change */
		}
		else if (m->type == DCF_MSG_PREVOTE_RESP && !(m->flags & DCF_MSG_F_REJECT))
		{
			/* a grant for the term we would campaign in */
		}
		else
		{
			bool		from_leader = m->type == DCF_MSG_APPEND || m->type == DCF_MSG_HEARTBEAT;

			node->higher_term_from = m->from;
			dcf_election_become_follower(node, m->term, from_leader ? m->from : DCF_NODE_NONE);
		}
	}
	else if (m->term < node->term)
	{
		/* M2 */
		if (m->type == DCF_MSG_APPEND || m->type == DCF_MSG_HEARTBEAT)
		{
			dcf_msg    *resp = dcf_node_new_msg(node, DCF_MSG_APPEND_RESP, m->from);

			(void) resp;		/* carries our term: the stale leader steps down */
		}
		else if (m->type == DCF_MSG_PREVOTE_REQ)
		{
			dcf_msg    *resp = dcf_node_new_msg(node, DCF_MSG_PREVOTE_RESP, m->from);

			if (resp != NULL)
				resp->flags |= DCF_MSG_F_REJECT;
		}
		return;
	}

	switch (m->type)
	{
		case DCF_MSG_APPEND:
		case DCF_MSG_HEARTBEAT:
			if (node->role == DCF_ROLE_LEADER)
				return;			/* two leaders of one term: the simulator's
								 * election-safety check reports it */
			if (node->role == DCF_ROLE_PRE_CANDIDATE || node->role == DCF_ROLE_CANDIDATE ||
				node->leader_id != m->from)
				dcf_election_become_follower(node, node->term, m->from);
			dcf_election_heard_leader(node);
			dcf_transfer_heard_leader(node, m->from);
			dcf_node_reset_election_timer(node);
			if (m->type == DCF_MSG_APPEND)
				dcf_replication_handle_append(node, m);
			else
				dcf_replication_handle_heartbeat(node, m);
			break;
		case DCF_MSG_APPEND_RESP:
			dcf_replication_handle_append_resp(node, m);
			break;
		case DCF_MSG_HEARTBEAT_RESP:
			dcf_replication_handle_heartbeat_resp(node, m);
			break;
		case DCF_MSG_PREVOTE_REQ:
		case DCF_MSG_VOTE_REQ:
			dcf_election_handle_vote_req(node, m);
			break;
		case DCF_MSG_PREVOTE_RESP:
		case DCF_MSG_VOTE_RESP:
			dcf_election_handle_vote_resp(node, m);
			break;
		case DCF_MSG_TIMEOUT_NOW:
			dcf_election_handle_timeout_now(node, m);
			break;
	}
}

static dcf_rc
step_propose(dcf_node *node, const dcf_proposal *items, uint32_t n, uint64_t *first_index,
			 char *errmsg)
{
	uint64_t	key = node->log.last_key;
	uint64_t	bytes = 0;
	dcf_rc		rc;

	if (node->role != DCF_ROLE_LEADER)
		return dcf_errf(errmsg, DCF_ERR_STATE, "node %u is not the leader (leader: %u, role: %s)",
						node->opts.node_id, node->leader_id, dcf_role_name(node->role));
	if (node->transfer.target != DCF_NODE_NONE)
		return dcf_errf(errmsg, DCF_ERR_STATE, "node %u is handing leadership over to node %u",
						node->opts.node_id, node->transfer.target);
	if (n == 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "empty proposal");
	for (uint32_t i = 0; i < n; i++)
	{
		if (items[i].type < DCF_ENTRY_APP_MIN)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "proposal %u has type %u, below the application types (%d)",
							i, items[i].type, DCF_ENTRY_APP_MIN);
		if (items[i].len > DCF_ENTRY_PAYLOAD_MAX_BYTES)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "proposal %u has %u bytes, at most %u allowed",
							i, items[i].len, DCF_ENTRY_PAYLOAD_MAX_BYTES);
		if (items[i].len > 0 && items[i].payload == NULL)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "proposal %u has no payload", i);
		if (items[i].key < key)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "proposal %u has key %llu, below the last key %llu",
							i, (unsigned long long) items[i].key, (unsigned long long) key);
		key = items[i].key;
		bytes += items[i].len;
	}
	if (!dcf_raftlog_fits(&node->log, n, bytes))
		return dcf_errf(errmsg, DCF_ERR_FULL,
						"unstable log full: %u entries, %llu bytes not yet persisted",
						node->log.n, (unsigned long long) node->log.bytes);
	*first_index = dcf_raftlog_last_index(&node->log) + 1;
	for (uint32_t i = 0; i < n; i++)
	{
		rc = dcf_raftlog_append_new(&node->log, node->term, items[i].type, items[i].key,
								items[i].payload, items[i].len, errmsg);
		if (rc != DCF_OK)
		{
			/* allocation failure after some entries went in: fatal (header) */
			dcf_node_fail(node, rc);
			return rc;
		}
	}
	dcf_flow_proposed(node, dcf_raftlog_last_index(&node->log), bytes);
	dcf_replication_bcast_append(node);
	return DCF_OK;
}

static dcf_rc
step_admin(dcf_node *node, const dcf_admin_request *req, char *errmsg)
{
	switch (req->kind)
	{
		case DCF_ADMIN_SET_RUN_MODE:
			if (req->value != DCF_RUN_MODE_AUTO && req->value != DCF_RUN_MODE_NONE)
				return dcf_errf(errmsg, DCF_ERR_INVALID, "run mode %u is neither 0 nor 2", req->value);
			node->opts.run_mode = (dcf_run_mode) req->value;
			return DCF_OK;
		case DCF_ADMIN_SET_PRIORITY_ELECTION:
			if (req->value > 1)
				return dcf_errf(errmsg, DCF_ERR_INVALID, "priority election %u is neither 0 nor 1", req->value);
			node->opts.priority_election = req->value == 1;
			node->next_priority_check_ms = node->now_ms;
			return DCF_OK;
		case DCF_ADMIN_SET_WORK_MODE:
			return dcf_election_set_work_mode(node, req->value, req->vote_num, errmsg);
		case DCF_ADMIN_PROMOTE:
			if (node->role == DCF_ROLE_LEADER)
				return DCF_OK;
			if (!dcf_election_may_campaign(node))
				return dcf_errf(errmsg, DCF_ERR_STATE, "node %u cannot lead: it is a %s member",
								node->opts.node_id, dcf_role_name(node->conf_role));
			/* E3 holds for its own vote too: a leader may hold a lease on it */
			if (dcf_election_in_lease(node))
				return dcf_errf(errmsg, DCF_ERR_STATE,
								"node %u heard from a leader less than an election timeout ago (or just started): transfer leadership instead",
								node->opts.node_id);
			dcf_election_campaign(node, true, false);
			return DCF_OK;
		case DCF_ADMIN_TRANSFER_LEADER:
			return dcf_transfer_start(node, req->node_id, req->value, false, errmsg);
		case DCF_ADMIN_ADD_MEMBER:
		case DCF_ADMIN_REMOVE_MEMBER:
		case DCF_ADMIN_CHANGE_ROLE:
		case DCF_ADMIN_CHANGE_PRIORITY:
		case DCF_ADMIN_CHANGE_GROUP:
			return dcf_reconfig_admin(node, req, errmsg);
	}
	return dcf_errf(errmsg, DCF_ERR_INVALID, "unknown admin request %d", (int) req->kind);
}

/*
 * Work that follows whatever event a leader handled: membership changes
 * waiting for their moment, a transfer waiting for its target, learners to
 * promote (N8).
 */
static void
leader_after_event(dcf_node *node)
{
	if (node->role != DCF_ROLE_LEADER || dcf_node_failed(node))
		return;
	dcf_reconfig_leader_step(node);
	if (node->role == DCF_ROLE_LEADER)
		dcf_transfer_step(node);
}

static void
build_update(dcf_node *node, dcf_update *out)
{
	out->hard_state_changed = node->hs_dirty;
	out->hard_state.term = node->term;
	out->hard_state.vote = node->vote;
	out->hard_state.repair_index = node->repair_index;
	out->hard_state.repair_term = node->repair_index ? node->repair_term : 0;
	node->hs_dirty = false;
	if (node->membership_dirty)
	{
		/* the record (H7): the configuration in force, plus undo_index after a rollback */
		out->membership = &node->record;
		out->membership_index = node->record_index;
		node->membership_dirty = false;
	}
	dcf_raftlog_take_update(&node->log, &out->entries, &out->n_entries, &out->truncate_from);
	out->msgs = node->msgs;
	out->n_msgs = node->n_msgs;
	out->commit_index = node->commit;
	out->commit_changed = node->commit != node->reported_commit;
	out->persisted_index = node->log.persisted;
	out->role = node->role;
	out->leader_id = node->leader_id;
	out->term = node->term;
	out->role_changed = node->role != node->reported_role || node->leader_id != node->reported_leader ||
		node->term != node->reported_term;
	node->reported_commit = node->commit;
	node->reported_role = node->role;
	node->reported_leader = node->leader_id;
	node->reported_term = node->term;
	out->next_tick_ms = node->role == DCF_ROLE_LEADER ? node->heartbeat_deadline_ms :
		node->election_deadline_ms;
	if (node->transfer.awaiting && node->transfer.deadline_ms < out->next_tick_ms)
		out->next_tick_ms = node->transfer.deadline_ms;
	if (node->role == DCF_ROLE_LEADER)
	{
		/* transfers, flow periods and priority checks have their own times */
		if (node->transfer.target != DCF_NODE_NONE && node->transfer.deadline_ms < out->next_tick_ms)
			out->next_tick_ms = node->transfer.deadline_ms;
		if (node->opts.flow_control)
		{
			uint64_t	f = node->flow.period_start_ms + dcf_flow_interval_ms(node);

			if (f < out->next_tick_ms)
				out->next_tick_ms = f;
		}
	}
	out->reports = node->n_reports ? node->reports : NULL;
	out->n_reports = node->n_reports;
	out->regressions = node->n_regressions ? node->regressions : NULL;
	out->n_regressions = node->n_regressions;
	if (node->role == DCF_ROLE_LEADER && node->commit_notify_due_ms != 0 &&
		node->commit_notify_due_ms < out->next_tick_ms)
		out->next_tick_ms = node->commit_notify_due_ms;
	/* N1 */
	DCF_ASSERT(node->commit <= dcf_raftlog_last_index(&node->log));
}

dcf_rc
dcf_node_step(dcf_node *node, const dcf_event *ev, dcf_update *out, char *errmsg)
{
	dcf_rc		rc = DCF_OK;
	uint64_t	term_before = node->term;

	memset(out, 0, sizeof(*out));
	dcf_raftlog_collect_garbage(&node->log);
	node->n_msgs = 0;
	node->n_pool = 0;
	node->n_reports = 0;
	node->n_regressions = 0;
	node->higher_term_from = DCF_NODE_NONE;
	node->step_read_bytes = 0;
	node->fail_rc = DCF_OK;
	node->errmsg = errmsg;
	for (uint32_t i = 0; i < node->membership.n_members; i++)
		node->progress[i].sent_this_step = 0;
	if (ev->now_ms > node->now_ms)
		node->now_ms = ev->now_ms;	/* H6: an earlier time is ignored */

	switch (ev->type)
	{
		case DCF_EVENT_TICK:
			if (node->role == DCF_ROLE_LEADER)
				dcf_replication_tick(node);
			else
			{
				dcf_transfer_follower_tick(node);
				dcf_election_tick(node);
			}
			break;
		case DCF_EVENT_MESSAGE:
			if (ev->u.message == NULL)
				return dcf_errf(errmsg, DCF_ERR_INVALID, "message event without a message");
			step_message(node, ev->u.message);
			break;
		case DCF_EVENT_PROPOSE:
			rc = step_propose(node, ev->u.propose.items, ev->u.propose.n_items,
							  &out->proposed_index, errmsg);
			if (rc != DCF_OK && !dcf_node_failed(node))
			{
				/* refused, nothing changed: report soft state only */
				build_update(node, out);
				out->proposed_index = 0;
				return rc;
			}
			break;
		case DCF_EVENT_PERSISTED:
			dcf_raftlog_stable_to(&node->log, ev->u.persisted.index, ev->u.persisted.term);
			if (node->role == DCF_ROLE_LEADER && dcf_replication_maybe_commit(node))
				dcf_replication_commit_advanced(node);
			break;
		case DCF_EVENT_APPLIED:
			if (ev->u.applied > node->applied)
				node->applied = ev->u.applied < node->commit ? ev->u.applied : node->commit;
			break;
		case DCF_EVENT_ADMIN:
			rc = step_admin(node, &ev->u.admin, errmsg);
			if (rc != DCF_OK && !dcf_node_failed(node))
			{
				build_update(node, out);
				return rc;
			}
			break;
		default:
			return dcf_errf(errmsg, DCF_ERR_INVALID, "unknown event type %d", (int) ev->type);
	}
	leader_after_event(node);
	dcf_election_repair_check(node);
	if (dcf_node_failed(node))
		return node->fail_rc;
	/* N2 */
	DCF_ASSERT(node->term >= term_before);
	build_update(node, out);
	return DCF_OK;
}

/* ---- status ---------------------------------------------------------------- */

bool
dcf_node_lease_valid(const dcf_node *node, uint64_t now_ms)
{
	uint64_t	ack;
	uint64_t	span = node->opts.election_timeout_ms - node->opts.lease_margin_ms;

	if (node->role != DCF_ROLE_LEADER)
		return false;
#ifndef DCF_PLANT_BUG_TRANSFER_KEEPS_LEASE
	/*
	 * Once TIMEOUT_NOW is out, the target may win votes that ignore leases
	 * (flag TRANSFER) at any time — even after the transfer was aborted, if
	 * the message was slow.  The lease comes back only when an entry this
	 * leader appended after the abort is committed: a quorum holds it, so
	 * no candidate without it (the target as of its TIMEOUT_NOW) can win.
	 */
	if (node->transfer.timeout_now_sent || node->commit < node->lease_fence_index)
		return false;
#endif
	ack = dcf_election_quorum_ack_ms(node);
	/* the leader's own entry counts as acknowledged at its last step */
	if (ack == 0 && node->total_weight > 0)
		return false;
	return now_ms < ack + span;
}

bool
dcf_node_early_send_allowed(const dcf_node *node)
{
	if (node->role != DCF_ROLE_LEADER || node->has_logger)
		return false;
	/* N8: a change that will make a LOGGER voter fences early sends now */
	if (node->change.phase != DCF_CHANGE_NONE && node->change.fence)
		return false;
	/*
	 * C5, the other way: until a CONFIG entry that ended a LOGGER voter
	 * commits, losing it in a crash brings the previous configuration back,
	 * and with it a logger that may hold what was sent early.
	 */
	if (node->membership.n_prev > 0 && node->membership_index > node->commit)
	{
		for (uint32_t i = 0; i < node->membership.n_prev; i++)
			if (dcf_member_is_voter(&node->membership.prev[i]) &&
				node->membership.prev[i].role == DCF_ROLE_LOGGER)
				return false;
	}
	return true;
}

const dcf_membership *
dcf_node_membership(const dcf_node *node, uint64_t *index)
{
	if (index)
		*index = node->membership_index;
	return &node->membership;
}

void
dcf_node_status(const dcf_node *node, dcf_status *out)
{
	memset(out, 0, sizeof(*out));
	out->node_id = node->opts.node_id;
	out->role = node->role;
	out->term = node->term;
	out->vote = node->vote;
	out->leader_id = node->leader_id;
	out->run_mode = node->opts.run_mode;
	out->work_mode = node->opts.work_mode;
	out->vote_num = node->opts.vote_num;
	out->election_timeout_ms = node->opts.election_timeout_ms;
	out->heartbeat_interval_ms = node->opts.heartbeat_interval_ms;
	out->commit_index = node->commit;
	out->applied_index = node->applied;
	out->first_index = dcf_raftlog_first_index(&node->log);
	out->last_index = dcf_raftlog_last_index(&node->log);
	out->persisted_index = node->log.persisted;
	out->repair_index = node->repair_index;
	out->lease_valid = dcf_node_lease_valid(node, node->now_ms);
	out->membership_index = node->membership_index;
	out->priority_election = node->opts.priority_election;
	out->has_report = node->has_report;
	out->last_report = node->last_report;
	out->transfer_target = node->transfer.target;
	dcf_flow_status_fill(node, &out->flow);
	if (node->role != DCF_ROLE_LEADER)
		return;
	out->change.phase = node->change.phase;
	out->change.kind = node->change.kind;
	out->change.node_id = node->change.node_id;
	out->change.index = node->change.index;
	out->change.automatic = node->change.automatic;
	out->cluster_min_applied_index = node->applied;
	for (uint32_t i = 0; i < node->membership.n_members; i++)
	{
		const dcf_progress *pr = &node->progress[i];
		dcf_peer_status *ps;

		if ((int) i == node->self)
			continue;
		ps = &out->peers[out->n_peers++];
		ps->node_id = node->membership.members[i].node_id;
		ps->role = node->membership.members[i].role;
		ps->next_index = pr->next;
		ps->match_index = pr->match;
		ps->applied_index = pr->applied;
		ps->state = pr->state;
		ps->inflight = pr->infl_count;
		ps->last_heard_ms = pr->last_heard_ms;
		ps->learner = node->membership.members[i].learner;
		ps->minority = pr->minority;
		ps->repair = pr->repair;
		if (node->membership.members[i].role != DCF_ROLE_LOGGER &&
			pr->applied < out->cluster_min_applied_index)
			out->cluster_min_applied_index = pr->applied;
	}
}
