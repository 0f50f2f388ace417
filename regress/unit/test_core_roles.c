/*
 * test_core_roles.c — scripted scenarios for the configured roles and
 * weights (issue 7, point 1):
 *   - a LOGGER votes and stores the log (its vote and its copy are needed
 *     for a quorum), never campaigns even when it is the last node up, and
 *     its applied index does not hold back cluster_min_applied_index (it
 *     applies nothing);
 *   - a PASSIVE member stores the log and learns the commit index (so its
 *     host applies), is never asked for a vote and a grant from it would
 *     not count, never campaigns, and its copy is never counted toward
 *     commit;
 *   - weights: a heavy node is a quorum alone; light nodes without it are
 *     not.
 */
#include "test_core_harness.h"

static void
step_applied(th_cluster *c, uint32_t id, uint64_t index)
{
	dcf_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_APPLIED;
	ev.now_ms = c->now;
	ev.u.applied = index;
	th_step(c, th_get(c, id), &ev);
}

static bool
campaigned(th_node *tn)
{
	return tn->msgs_sent[DCF_MSG_PREVOTE_REQ] + tn->msgs_sent[DCF_MSG_VOTE_REQ] > 0;
}

static void
test_logger(void)
{
	th_cluster	c;
	th_node    *l;
	th_node    *logger;
	uint64_t	idx = 0;
	bool		never = true;
	dcf_status	st;

	th_init(&c, 3);
	c.ms.members[2].role = DCF_ROLE_LOGGER;
	logger = th_get(&c, 3);
	/* node 2 is down: node 1 needs the logger's vote (2 of 3) */
	th_start(&c, 1, 0);
	th_start(&c, 3, 0);
	l = th_elect(&c, 3000);
	if (!CHECK(l != NULL && l->id == 1, "node 1 is elected with the LOGGER's vote (node 2 down)"))
		return;
	CHECK(logger->hs.vote == 1 && logger->hs.term == l->term,
		  "the LOGGER's durable vote in term %llu is node 1", (unsigned long long) l->term);
	for (int k = 0; k < 5; k++)
		idx = th_propose(&c, 1, (uint8_t) k, 20);
	th_deliver(&c, NULL, NULL, 0);
	CHECK(l->commit == idx && logger->n == idx && th_logs_equal(&c, 1, 3, idx),
		  "five entries commit with the LOGGER's copy (commit %llu of %llu)",
		  (unsigned long long) l->commit, (unsigned long long) idx);
	CHECK(logger->role == DCF_ROLE_LOGGER, "the LOGGER follows as LOGGER");

	/* node 2 joins; the followers apply, the logger applies nothing */
	th_start(&c, 2, 0);
	th_run(&c, 100, 5);
	step_applied(&c, 1, idx);
	step_applied(&c, 2, idx);
	th_run(&c, 50, 5);
	dcf_node_status(l->node, &st);
	{
		uint64_t	logger_applied = UINT64_MAX;

		for (uint32_t i = 0; i < st.n_peers; i++)
			if (st.peers[i].node_id == 3)
				logger_applied = st.peers[i].applied_index;
		CHECK(logger_applied == 0 && st.cluster_min_applied_index == idx,
			  "cluster_min_applied_index is %llu: the LOGGER's applied index (%llu) does not count",
			  (unsigned long long) st.cluster_min_applied_index, (unsigned long long) logger_applied);
	}

	/* the logger alone: it never campaigns */
	th_crash(&c, 1);
	th_crash(&c, 2);
	for (int k = 0; k < 400 && never; k++)
	{
		th_run(&c, 5, 5);
		never = logger->role == DCF_ROLE_LOGGER && !campaigned(logger);
	}
	CHECK(never, "alone for 20 election timeouts, the LOGGER never campaigns (role %s)",
		  dcf_role_name(logger->role));
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

/* records the answers of node 3 to (pre-)vote requests */
typedef struct vote_seen
{
	int			grants;
	int			answers;
} vote_seen;

static bool
watch_passive_votes(const dcf_msg *m, void *arg)
{
	vote_seen  *v = arg;

	if (m->from == 3 && (m->type == DCF_MSG_PREVOTE_RESP || m->type == DCF_MSG_VOTE_RESP))
	{
		v->answers++;
		if (!(m->flags & DCF_MSG_F_REJECT))
			v->grants++;
	}
	return true;
}

static bool
drop_to_or_from(const dcf_msg *m, void *arg)
{
	uint32_t	id = *(uint32_t *) arg;

	return m->from != id && m->to != id;
}

/* Steps a hand-made (pre-)vote grant from `from` at candidate `to`; true if it then leads or campaigns for real. */
static bool
grant(th_cluster *c, uint32_t from, uint32_t to, dcf_msg_type type, uint64_t term)
{
	th_node    *tn = th_get(c, to);
	dcf_msg		m;
	dcf_event	ev;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.from = from;
	m.to = to;
	m.term = term;
	memset(&ev, 0, sizeof(ev));
	ev.type = DCF_EVENT_MESSAGE;
	ev.now_ms = c->now;
	ev.u.message = &m;
	th_step(c, tn, &ev);
	return tn->role == DCF_ROLE_CANDIDATE || tn->role == DCF_ROLE_LEADER;
}

static void
test_passive(void)
{
	th_cluster	c;
	th_node    *l;
	th_node    *passive;
	vote_seen	v = {0, 0};
	uint64_t	idx = 0;
	uint64_t	commit;
	bool		no_leader = true;

	th_init(&c, 3);
	c.ms.members[2].role = DCF_ROLE_PASSIVE;
	passive = th_get(&c, 3);
	/* nodes 1 and 3 up: 1 needs 2 of the 2 voters, the passive node never helps */
	th_start(&c, 1, 0);
	th_start(&c, 3, 0);
	for (int k = 0; k < 400; k++)
	{
		th_advance(&c, 5);
		th_deliver(&c, watch_passive_votes, &v, 0);
		no_leader &= th_leader(&c) == NULL;
	}
	CHECK(no_leader, "without node 2 no leader is elected in 20 election timeouts: the PASSIVE node does not vote");
	CHECK(v.answers == 0 && passive->hs.vote == DCF_NODE_NONE,
		  "candidates never ask the PASSIVE node (%d answers) and it never voted", v.answers);
	/* a grant from it would not count either (E4): node 1 campaigns, node 3 grants */
	{
		th_node    *n1 = th_get(&c, 1);

		for (int k = 0; k < 400 && n1->role != DCF_ROLE_PRE_CANDIDATE; k++)
			th_run(&c, 1, 1);
		CHECK(n1->role == DCF_ROLE_PRE_CANDIDATE && !grant(&c, 3, 1, DCF_MSG_PREVOTE_RESP, n1->hs.term + 1) &&
			  n1->role == DCF_ROLE_PRE_CANDIDATE,
			  "a pre-vote grant from the PASSIVE node leaves node 1 a pre-candidate (role %s)", dcf_role_name(n1->role));
	}
	CHECK(!campaigned(passive) && passive->role == DCF_ROLE_PASSIVE, "and never campaigned itself");

	th_start(&c, 2, 0);
	l = th_elect(&c, 3000);
	if (!CHECK(l != NULL && l->id != 3, "with node 2 back, a voter is elected"))
		return;
	for (int k = 0; k < 4; k++)
		idx = th_propose(&c, l->id, (uint8_t) k, 30);
	th_run(&c, 30, 5);
	CHECK(passive->n == idx && passive->commit == idx && th_logs_equal(&c, l->id, 3, idx),
		  "the PASSIVE node stores the log and learns the commit index %llu (so its host applies)",
		  (unsigned long long) passive->commit);

	/* the other voter is cut off: the passive copy does not make a quorum */
	{
		uint32_t	other = l->id == 1 ? 2 : 1;

		commit = l->commit;
		idx = th_propose(&c, l->id, 0x55, 30);
		for (int k = 0; k < 10; k++)
		{
			c.now += 5;
			th_tick(&c, l->id);
			th_tick(&c, 3);
			th_deliver(&c, drop_to_or_from, &other, 0);
		}
		CHECK(passive->n == idx && l->commit == commit,
			  "an entry held by the leader and the PASSIVE node only stays uncommitted (commit %llu, entry %llu)",
			  (unsigned long long) l->commit, (unsigned long long) idx);
		th_run(&c, 20, 5);
		CHECK(l->commit == idx, "and commits once node %u has it", other);
	}
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_weights(void)
{
	th_cluster	c;
	th_node    *l;
	uint64_t	idx;
	bool		no_leader = true;

	/* weights 3, 1, 1: total 5, quorum 3 */
	th_init(&c, 3);
	c.ms.members[0].weight = 3;
	th_start(&c, 1, 0);
	l = th_elect(&c, 3000);
	CHECK(l != NULL && l->id == 1, "node 1 (weight 3 of 5) is a quorum alone and elects itself");
	if (l == NULL)
		return;
	idx = th_propose(&c, 1, 1, 10);
	CHECK(idx > 0 && l->commit == idx, "and commits alone");
	th_start(&c, 2, 0);
	th_start(&c, 3, 0);
	th_run(&c, 100, 5);
	CHECK(th_get(&c, 2)->commit == idx && th_get(&c, 3)->commit == idx, "the light nodes follow");
	th_crash(&c, 1);
	for (int k = 0; k < 400; k++)
	{
		th_run(&c, 5, 5);
		no_leader &= th_leader(&c) == NULL;
	}
	CHECK(no_leader, "nodes 2 and 3 (weight 2 of 5) elect nobody in 20 election timeouts");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

int
main(void)
{
	test_logger();
	test_passive();
	test_weights();
	return unit_done();
}
