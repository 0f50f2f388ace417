/*
 * test_core_membership.c — scripted scenarios for membership changes
 * through the log (issue 7, point 6):
 *   - adding a voter: it joins as a learner (counted for nothing), catches
 *     up, and a second CONFIG entry promotes it; the report comes when that
 *     commits; from then on it counts;
 *   - one change at a time: a second request while one is in flight is
 *     refused;
 *   - removing a follower: the cluster's quorum shrinks; a removed node that
 *     missed its removal campaigns in vain (its requests are ignored);
 *   - removing the leader: it leads until the change commits, then hands
 *     over with TIMEOUT_NOW and steps down;
 *   - role, priority and group changes through the log; a non-voter made a
 *     voter waits until it has caught up; a leader made PASSIVE steps down
 *     after the commit (refused while a LOGGER voter remains);
 *   - with weights, a change whose old and new weighted majorities could be
 *     disjoint is refused;
 *   - restarts from the host's record (contract H7): the configuration in
 *     force after a rollback, after a rollback whose truncation did not
 *     reach the disk, and after a CONFIG entry lost with the unsynced tail.
 */
#include "test_core_harness.h"

#define T_MS 100

static dcf_change_status
change_of(th_node *tn)
{
	dcf_status	st;

	dcf_node_status(tn->node, &st);
	return st.change;
}

static uint64_t
config_index(th_node *tn)
{
	uint64_t	idx = 0;

	dcf_node_membership(tn->node, &idx);
	return idx;
}

/* true when every live node in mask has the leader's configuration in force */
static bool
same_config(th_cluster *c, uint32_t leader, uint32_t mask)
{
	uint64_t	want = config_index(th_get(c, leader));

	for (uint32_t i = 1; i <= (uint32_t) c->n; i++)
		if (((mask >> i) & 1) && th_get(c, i)->node && config_index(th_get(c, i)) != want)
			return false;
	return true;
}

static void
test_add_voter(void)
{
	th_cluster	c;
	th_node    *l;
	uint32_t	cut4 = 1u << 4;
	uint32_t	cut34 = (1u << 3) | (1u << 4);
	const dcf_member *m;
	const dcf_admin_report *r;
	uint64_t	idx = 0;
	uint64_t	learner_entry;

	th_init_hosts(&c, 4, 3);
	for (uint32_t i = 1; i <= 4; i++)
		th_start(&c, i, 0);
	CHECK(th_get(&c, 4)->role == DCF_ROLE_UNKNOWN, "host 4, not a member, starts as UNKNOWN");
	l = th_elect_1(&c);
	if (!CHECK(l && l->id == 1, "node 1 leads nodes 1..3"))
		return;
	for (int k = 0; k < 30; k++)
		idx = th_propose(&c, 1, (uint8_t) k, 40);
	th_run(&c, 50, 5);

	CHECK(th_add_member(&c, 1, 4, DCF_ROLE_FOLLOWER) == DCF_OK, "adding node 4 as FOLLOWER is accepted");
	m = th_member_in(&c, 1, 4);
	learner_entry = config_index(l);
	CHECK(m && m->learner && change_of(l).phase == DCF_CHANGE_LOGGED && learner_entry == l->n,
		  "it joins at once as a learner through CONFIG entry %llu", (unsigned long long) learner_entry);
	CHECK(th_add_member(&c, 1, 4, DCF_ROLE_FOLLOWER) == DCF_ERR_STATE &&
		  th_admin_simple(&c, 1, DCF_ADMIN_REMOVE_MEMBER, 3, 0) == DCF_ERR_STATE,
		  "a second change while this one is in flight is refused");

	/* node 4 hears nothing: the learner entry commits without it, nothing waits for it */
	th_run_filtered(&c, 50, 5, th_cut_mask, &cut4);
	CHECK(l->commit >= learner_entry && th_get(&c, 4)->n == 0 && change_of(l).phase == DCF_CHANGE_WAIT,
		  "the learner entry commits with the three voters; the promotion waits for node 4 to catch up");
	idx = th_propose(&c, 1, 0x99, 40);
	th_run_filtered(&c, 50, 5, th_cut_mask, &cut4);
	CHECK(l->commit == idx && th_member_in(&c, 1, 4)->learner,
		  "a learner counts for nothing: entry %llu commits without it", (unsigned long long) idx);

	/* node 4 catches up and is promoted */
	th_run(&c, 3 * T_MS, 5);
	m = th_member_in(&c, 1, 4);
	r = th_report(&c, 1, DCF_ADMIN_ADD_MEMBER);
	CHECK(m && !m->learner && m->role == DCF_ROLE_FOLLOWER && config_index(l) > learner_entry &&
		  l->commit >= config_index(l),
		  "node 4 caught up and a second CONFIG entry (%llu) made it a voter", (unsigned long long) config_index(l));
	CHECK(r && r->node_id == 4 && r->rc == DCF_OK && r->index == config_index(l),
		  "the report of the addition comes with the promotion's commit (%s)", r ? r->reason : "none");
	CHECK(th_get(&c, 4)->role == DCF_ROLE_FOLLOWER && th_logs_equal(&c, 1, 4, l->commit) &&
		  same_config(&c, 1, 0x1e), "node 4 follows as FOLLOWER with the same log and configuration");

	/* it counts now: four voters, quorum 3 */
	idx = th_propose(&c, 1, 0x9a, 40);
	th_run_filtered(&c, 50, 5, th_cut_mask, &cut34);
	CHECK(l->commit < idx, "with nodes 3 and 4 cut off, nodes 1 and 2 (2 of 4) no longer commit");
	th_run(&c, 50, 5);
	CHECK(l->commit >= idx, "healed, entry %llu commits", (unsigned long long) idx);
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_remove_follower(void)
{
	th_cluster	c;
	th_node    *l;
	uint32_t	cut3 = 1u << 3;
	uint32_t	cut2 = 1u << 2;
	uint64_t	term;
	uint64_t	idx;
	bool		stayed = true;

	th_init(&c, 3);
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	l = th_elect_1(&c);
	if (!CHECK(l && l->id == 1, "node 1 leads"))
		return;
	/* node 3 misses its own removal */
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_REMOVE_MEMBER, 3, 0) == DCF_OK, "removing node 3 is accepted");
	th_run_filtered(&c, 50, 5, th_cut_mask, &cut3);
	CHECK(th_member_in(&c, 1, 3) == NULL && l->commit >= config_index(l) &&
		  th_report(&c, 1, DCF_ADMIN_REMOVE_MEMBER) && th_report(&c, 1, DCF_ADMIN_REMOVE_MEMBER)->rc == DCF_OK,
		  "the removal commits on nodes 1 and 2 and is reported");
	CHECK(th_member_in(&c, 3, 3) != NULL, "node 3 missed it and still counts itself a member");
	term = l->term;
	for (int k = 0; k < 400; k++)
	{
		th_run(&c, 5, 5);
		stayed &= th_leader(&c) == l;
	}
	CHECK(stayed && l->term == term && th_get(&c, 3)->msgs_sent[DCF_MSG_PREVOTE_REQ] > 0,
		  "node 3 campaigns for 20 election timeouts in vain: nodes 1 and 2 refuse it (lease), term stays %llu",
		  (unsigned long long) term);
	idx = th_propose(&c, 1, 1, 10);
	th_run_filtered(&c, 50, 5, th_cut_mask, &cut2);
	CHECK(l->commit < idx, "two voters left: without node 2 nothing commits");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

/* watches the TIMEOUT_NOW of a handing-over leader */
typedef struct tn_seen
{
	uint32_t	from;
	uint32_t	to;
	uint64_t	at_ms;
	th_cluster *c;
} tn_seen;

static bool
watch_timeout_now(const dcf_msg *m, void *arg)
{
	tn_seen    *s = arg;

	if (m->type == DCF_MSG_TIMEOUT_NOW && s->to == 0)
	{
		s->from = m->from;
		s->to = m->to;
		s->at_ms = s->c->now;
	}
	return true;
}

static void
test_remove_leader(void)
{
	th_cluster	c;
	th_node    *l;
	th_node    *nl;
	tn_seen		seen = {0, 0, 0, NULL};
	uint64_t	change;
	uint64_t	t_commit = 0;
	bool		led_until_commit = true;

	seen.c = &c;
	th_init(&c, 3);
	c.ms.members[2].priority = 3;	/* the hand-over prefers node 3 */
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	l = th_elect_1(&c);
	if (!CHECK(l && l->id == 1, "node 1 leads"))
		return;
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_REMOVE_MEMBER, 1, 0) == DCF_OK, "node 1 removes itself");
	change = config_index(l);
	CHECK(l->role == DCF_ROLE_LEADER && th_member_in(&c, 1, 1) == NULL,
		  "it keeps leading a configuration without itself until the change commits");
	for (int k = 0; k < 40 && seen.to == 0; k++)
	{
		c.now += 1;
		for (uint32_t i = 1; i <= 3; i++)
			th_tick(&c, i);
		th_deliver(&c, watch_timeout_now, &seen, 0);
		if (t_commit == 0 && l->commit >= change)
			t_commit = c.now;
		if (t_commit == 0)
			led_until_commit &= l->role == DCF_ROLE_LEADER;
	}
	CHECK(led_until_commit && t_commit != 0 && seen.from == 1 && seen.to == 3 && seen.at_ms == t_commit,
		  "when the change commits (t=%llu) it sends TIMEOUT_NOW to node 3 (priority 3) at once (t=%llu)",
		  (unsigned long long) t_commit, (unsigned long long) seen.at_ms);
	th_run(&c, 30, 5);
	nl = th_leader(&c);
	CHECK(l->role == DCF_ROLE_UNKNOWN && nl && nl->id == 3 && c.now - t_commit < T_MS,
		  "node 1 stepped down (role %s); node 3 leads within %llu ms, before any election timeout",
		  dcf_role_name(l->role), (unsigned long long) (c.now - t_commit));
	CHECK(th_report(&c, 1, DCF_ADMIN_REMOVE_MEMBER) && th_report(&c, 1, DCF_ADMIN_REMOVE_MEMBER)->rc == DCF_OK,
		  "node 1 reports its removal done");
	if (nl)
	{
		uint64_t	idx = th_propose(&c, nl->id, 5, 10);

		th_run(&c, 30, 5);
		CHECK(nl->commit >= idx && th_member_in(&c, 3, 1) == NULL, "nodes 2 and 3 go on without node 1");
	}
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_change_role_priority_group(void)
{
	th_cluster	c;
	th_node    *l;
	uint32_t	cut2 = 1u << 2;
	const dcf_member *m;
	bool		all;

	th_init(&c, 3);
	for (uint32_t i = 1; i <= 3; i++)
		th_start(&c, i, 0);
	l = th_elect_1(&c);
	if (!CHECK(l && l->id == 1, "node 1 leads"))
		return;

	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_CHANGE_ROLE, 3, DCF_ROLE_LOGGER) == DCF_OK, "node 3 made LOGGER");
	th_run(&c, 50, 5);
	all = true;
	for (uint32_t i = 1; i <= 3; i++)
		all &= th_member_in(&c, i, 3) && th_member_in(&c, i, 3)->role == DCF_ROLE_LOGGER;
	CHECK(all && th_get(&c, 3)->role == DCF_ROLE_LOGGER, "every node has node 3 as LOGGER; it acts as one");

	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_CHANGE_PRIORITY, 2, 7) == DCF_OK, "node 2's priority set to 7");
	th_run(&c, 50, 5);
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_CHANGE_GROUP, 3, 4) == DCF_OK, "node 3's group set to 4");
	th_run(&c, 50, 5);
	all = true;
	for (uint32_t i = 1; i <= 3; i++)
		all &= th_member_in(&c, i, 2)->priority == 7 && th_member_in(&c, i, 3)->group == 4;
	CHECK(all && same_config(&c, 1, 0xe), "priority and group changes reach every node through the log");

	/* a PASSIVE member made FOLLOWER waits until it has caught up */
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_CHANGE_ROLE, 2, DCF_ROLE_PASSIVE) == DCF_OK, "node 2 made PASSIVE");
	th_run(&c, 50, 5);
	th_run_filtered(&c, 20, 5, th_cut_mask, &cut2);
	for (int k = 0; k < 10; k++)
		th_propose(&c, 1, (uint8_t) k, 10);
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_CHANGE_ROLE, 2, DCF_ROLE_FOLLOWER) == DCF_OK,
		  "node 2 (lagging) made FOLLOWER again");
	th_run_filtered(&c, 100, 5, th_cut_mask, &cut2);
	m = th_member_in(&c, 1, 2);
	CHECK(m && m->role == DCF_ROLE_PASSIVE && change_of(l).phase == DCF_CHANGE_WAIT,
		  "while node 2 lags the change waits (role still %s)", m ? dcf_role_name(m->role) : "none");
	th_run(&c, 3 * T_MS, 5);
	m = th_member_in(&c, 1, 2);
	CHECK(m && m->role == DCF_ROLE_FOLLOWER && change_of(l).phase == DCF_CHANGE_NONE &&
		  th_report(&c, 1, DCF_ADMIN_CHANGE_ROLE)->rc == DCF_OK, "caught up, node 2 is a FOLLOWER again");

	/* the leader made PASSIVE steps down once that commits (not with a LOGGER voter) */
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_CHANGE_ROLE, 1, DCF_ROLE_PASSIVE) == DCF_ERR_STATE &&
		  th_admin_simple(&c, 1, DCF_ADMIN_REMOVE_MEMBER, 1, 0) == DCF_ERR_STATE &&
		  th_admin_simple(&c, 1, DCF_ADMIN_CHANGE_ROLE, 1, DCF_ROLE_LOGGER) == DCF_ERR_STATE,
		  "with LOGGER node 3, the leader may not remove itself or stop being able to lead");
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_CHANGE_ROLE, 3, DCF_ROLE_FOLLOWER) == DCF_OK, "node 3 made FOLLOWER");
	th_run(&c, 50, 5);
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_CHANGE_ROLE, 1, DCF_ROLE_PASSIVE) == DCF_OK, "node 1 (leader) made PASSIVE");
	th_run(&c, 50, 5);
	CHECK(l->role == DCF_ROLE_PASSIVE && th_leader(&c) && th_leader(&c)->id != 1,
		  "it stepped down and acts as PASSIVE; node %u leads", th_leader(&c) ? th_leader(&c)->id : 0);
	{
		uint32_t	nl = th_leader(&c) ? th_leader(&c)->id : 2;
		uint32_t	other = nl == 2 ? 3 : 2;

		CHECK(th_admin_simple(&c, nl, DCF_ADMIN_CHANGE_ROLE, other, DCF_ROLE_CANDIDATE) == DCF_ERR_INVALID,
			  "role CANDIDATE cannot be configured");
		CHECK(th_admin_simple(&c, nl, DCF_ADMIN_REMOVE_MEMBER, 9, 0) == DCF_ERR_INVALID, "removing a non-member is refused");
		CHECK(th_admin_simple(&c, other, DCF_ADMIN_REMOVE_MEMBER, 1, 0) == DCF_ERR_STATE,
			  "a change asked of a follower is refused");
	}
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

/* a snapshot of a node's log entries lo..hi, to put back after a truncation */
typedef struct saved_log
{
	uint64_t	n;
	th_entry	e[64];
} saved_log;

static void
save_log(th_node *tn, saved_log *s)
{
	s->n = tn->n;
	for (uint64_t i = 1; i <= tn->n && i < 64; i++)
	{
		s->e[i] = tn->log[i];
		s->e[i].payload = tn->log[i].len ? malloc(tn->log[i].len) : NULL;
		if (s->e[i].len)
			memcpy(s->e[i].payload, tn->log[i].payload, tn->log[i].len);
	}
}

static void
restore_log(th_node *tn, saved_log *s)
{
	for (uint64_t i = 1; i <= tn->n; i++)
		free(tn->log[i].payload);
	for (uint64_t i = 1; i <= s->n; i++)
		tn->log[i] = s->e[i];
	tn->n = s->n;
	s->n = 0;
}

static bool
drop_acks_of_2(const dcf_msg *m, void *arg)
{
	(void) arg;
	return !(m->from == 2 && m->type == DCF_MSG_APPEND_RESP) && m->to != 3 && m->to != 4 && m->to != 5 &&
		m->from != 3 && m->from != 4 && m->from != 5;
}

static bool
no_1_2(const dcf_msg *m, void *arg)
{
	(void) arg;
	return m->from != 2 && (m->from != 3 || m->type != DCF_MSG_APPEND);
}

static void
test_restart_and_rollback(void)
{
	th_cluster	c;
	th_node    *l;
	th_node    *n2;
	uint64_t	before;
	uint64_t	cfg_entry;
	saved_log	saved;

	/* 5 voters + host 6; node 1 leads */
	th_init_hosts(&c, 6, 5);
	for (uint32_t i = 1; i <= 6; i++)
		th_start(&c, i, 0);
	l = th_elect_1(&c);
	n2 = th_get(&c, 2);
	if (!CHECK(l && l->id == 1, "node 1 leads five voters"))
		return;
	before = config_index(n2);

	/* a CONFIG entry (add PASSIVE node 6) reaches node 2 only, uncommitted */
	CHECK(th_add_member(&c, 1, 6, DCF_ROLE_PASSIVE) == DCF_OK, "node 1 adds node 6 as PASSIVE");
	cfg_entry = config_index(l);
	th_run_filtered(&c, 10, 5, drop_acks_of_2, NULL);
	CHECK(config_index(n2) == cfg_entry && l->commit < cfg_entry && n2->rec_index == cfg_entry,
		  "node 2 uses CONFIG entry %llu as soon as it has it (uncommitted), and records it",
		  (unsigned long long) cfg_entry);
	save_log(n2, &saved);
	th_crash(&c, 1);

	/* node 3 leads without it; node 2 truncates the entry and rolls back */
	for (int k = 0; k < 400 && (th_leader(&c) == NULL || th_leader(&c)->id != 3); k++)
		th_run_filtered(&c, 5, 5, no_1_2, NULL);
	CHECK(th_leader(&c) && th_leader(&c)->id == 3, "node 3 (without the entry) is elected by nodes 3, 4, 5");
	/* one message at a time, until node 2 has handled the truncating append */
	for (int k = 0; k < 2000 && n2->rec.undo_index == 0; k++)
	{
		if (c.nq == 0)
			th_advance(&c, 1);
		th_deliver(&c, NULL, NULL, 1);
	}
	CHECK(n2->leader == 3 && n2->log[cfg_entry].type != DCF_ENTRY_CONFIG && config_index(n2) == before &&
		  th_member_in(&c, 2, 6) == NULL,
		  "node 2 truncated CONFIG entry %llu and went back to the configuration of entry %llu",
		  (unsigned long long) cfg_entry, (unsigned long long) before);
	CHECK(n2->rec_index == before && n2->rec.undo_index == cfg_entry,
		  "its record names the configuration in force and undo_index %llu", (unsigned long long) cfg_entry);
	/* it crashes before its acknowledgement leaves (th_crash drops it) */
	th_crash(&c, 2);
	th_start(&c, 2, 0);
	CHECK(n2->node && config_index(n2) == before && th_member_in(&c, 2, 6) == NULL,
		  "restarted from record + log, node 2 keeps the rolled-back configuration");

	/* the truncation never reached the disk (only the record did): the old entry wins */
	th_crash(&c, 2);
	{
		dcf_membership rec = n2->rec;
		uint64_t	rec_index = n2->rec_index;

		restore_log(n2, &saved);
		n2->rec = rec;
		n2->rec_index = rec_index;
	}
	th_start(&c, 2, 0);
	CHECK(n2->node && config_index(n2) == cfg_entry && th_member_in(&c, 2, 6) != NULL,
		  "with the truncated entry still on disk (undo_index %llu), node 2 restarts with it",
		  (unsigned long long) cfg_entry);
	th_run(&c, 3 * T_MS, 5);
	CHECK(config_index(n2) == before && n2->leader == 3 && th_logs_equal(&c, 2, 3, th_get(&c, 3)->n),
		  "and the leader's appends roll it back again");

	/* a CONFIG entry lost with the unsynced tail: the record's previous configuration */
	l = th_leader(&c);
	CHECK(th_admin_simple(&c, 3, DCF_ADMIN_CHANGE_PRIORITY, 4, 9) == DCF_OK, "node 3 changes node 4's priority");
	cfg_entry = config_index(l);
	for (int k = 0; k < 2000 && n2->n < cfg_entry; k++)
	{
		if (c.nq == 0)
			th_advance(&c, 1);
		th_deliver(&c, NULL, NULL, 1);
	}
	CHECK(n2->n == cfg_entry && n2->rec_index == cfg_entry, "node 2 wrote the record and entry %llu",
		  (unsigned long long) cfg_entry);
	/* its host crashed after the record, before the entry was durable (and before the ack left) */
	th_crash(&c, 2);
	free(n2->log[cfg_entry].payload);
	n2->log[cfg_entry].payload = NULL;
	n2->n = cfg_entry - 1;
	th_start(&c, 2, 0);
	th_tick(&c, 2);				/* its first update rewrites the record */
	CHECK(n2->node && config_index(n2) == before && th_member_in(&c, 2, 4)->priority == 0 &&
		  n2->rec_index == before,
		  "entry %llu lost in a crash: node 2 restarts with the record's previous configuration (entry %llu)",
		  (unsigned long long) cfg_entry, (unsigned long long) before);
	th_run(&c, 3 * T_MS, 5);
	CHECK(config_index(n2) == config_index(l) && th_member_in(&c, 2, 4)->priority == 9,
		  "and gets the entry again from the leader");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_weighted_changes(void)
{
	th_cluster	c;
	th_node    *l;
	dcf_admin_request req;
	char		err[DCF_ERRMSG_MAX];

	/* node 1 weighs 3 of 5: a majority alone */
	th_init_hosts(&c, 4, 3);
	c.ms.members[0].weight = 3;
	for (uint32_t i = 1; i <= 4; i++)
		th_start(&c, i, 0);
	l = th_elect_1(&c);
	if (!CHECK(l && l->id == 1, "node 1 (weight 3 of 5) leads"))
		return;
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_CHANGE_ROLE, 2, DCF_ROLE_PASSIVE) == DCF_OK,
		  "making node 2 PASSIVE is safe (weights 3+1: {1} stays a majority, every old majority holds node 1)");
	th_run(&c, 50, 5);
	/* {1:3, 3:1} -> {3:1} alone: {1} was a majority of the old, {3} is one of the new */
	CHECK(th_admin_simple(&c, 1, DCF_ADMIN_REMOVE_MEMBER, 1, 0) == DCF_ERR_INVALID,
		  "removing node 1 (a majority alone) is refused: old and new majorities could be disjoint");
	/* adding a voter of weight 5 next to {1:3, 3:1} would make {4} a majority of the new */
	memset(&req, 0, sizeof(req));
	req.kind = DCF_ADMIN_ADD_MEMBER;
	dcf_member_init(&req.member, 4, DCF_ROLE_FOLLOWER);
	req.member.weight = 5;
	CHECK(th_admin(&c, 1, &req, err) == DCF_ERR_INVALID, "adding node 4 with weight 5 is refused: %s", err);
	req.member.weight = 1;
	CHECK(th_admin(&c, 1, &req, err) == DCF_OK, "adding node 4 with weight 1 is accepted");
	th_run(&c, 3 * T_MS, 5);
	CHECK(th_member_in(&c, 1, 4) && !th_member_in(&c, 1, 4)->learner, "and node 4 becomes a voter");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

int
main(void)
{
	test_weighted_changes();
	test_add_voter();
	test_remove_follower();
	test_remove_leader();
	test_change_role_priority_group();
	test_restart_and_rollback();
	return unit_done();
}
