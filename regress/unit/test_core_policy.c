/*
 * test_core_policy.c — scripted scenarios for policy majority (issue 7,
 * point 3): with majority_groups an entry commits only when the weighted
 * quorum holds it AND at least one voter of every listed group holds it.
 * A PASSIVE member of a listed group does not satisfy it; a listed group
 * without voters is ignored; the quorum is still needed.
 *
 * Five nodes: 1, 2, 3 in group 1; 4, 5 in group 2; node 1 leads.
 */
#include "test_core_harness.h"

static th_node *
setup(th_cluster *c, const uint32_t *groups, uint32_t n_groups, dcf_role role5)
{
	th_init(c, 5);
	for (int i = 0; i < 5; i++)
		c->ms.members[i].group = i < 3 ? 1 : 2;
	c->ms.members[4].role = role5;
	c->opts.n_majority_groups = n_groups;
	for (uint32_t g = 0; g < n_groups; g++)
		c->opts.majority_groups[g] = groups[g];
	for (uint32_t i = 1; i <= 5; i++)
		th_start(c, i, 0);
	for (int k = 0; k < 400 && th_leader(c) == NULL; k++)
		th_run_filtered(c, 5, 5, th_only_1_campaigns, NULL);
	th_run(c, 50, 5);
	return th_leader(c);
}

/* Proposes one entry at node 1 and runs 200 ms with the nodes of mask cut off. */
static uint64_t
propose_cut(th_cluster *c, uint32_t mask)
{
	uint64_t	idx = th_propose(c, 1, 0x77, 16);

	th_run_filtered(c, 200, 5, th_cut_mask, &mask);
	return idx;
}

static void
test_group_needed(void)
{
	th_cluster	c;
	th_node    *l;
	const uint32_t groups[] = {2};
	uint64_t	idx;

	l = setup(&c, groups, 1, DCF_ROLE_FOLLOWER);
	if (!CHECK(l && l->id == 1, "node 1 leads"))
		return;
	idx = propose_cut(&c, (1u << 4) | (1u << 5));
	CHECK(th_get(&c, 2)->n >= idx && th_get(&c, 3)->n >= idx && l->commit < idx,
		  "majority_groups=[2]: entry %llu on nodes 1, 2, 3 (a quorum of group 1) stays uncommitted (commit %llu)",
		  (unsigned long long) idx, (unsigned long long) l->commit);
	propose_cut(&c, (1u << 5));
	CHECK(th_get(&c, 4)->n >= idx && l->commit >= idx,
		  "once node 4 of group 2 holds it, it commits (commit %llu)", (unsigned long long) l->commit);
	/* group 2 alone is not a quorum */
	idx = propose_cut(&c, (1u << 2) | (1u << 3) | (1u << 5));
	CHECK(th_get(&c, 4)->n >= idx && l->commit < idx,
		  "nodes 1 and 4 (group 2 covered, weight 2 of 5) do not commit entry %llu", (unsigned long long) idx);
	th_run(&c, 100, 5);
	CHECK(l->commit >= idx, "healed, it commits");
	CHECK(c.failures == 0, "no host-side failures");
	th_destroy(&c);
}

static void
test_without_groups(void)
{
	th_cluster	c;
	th_node    *l;
	uint64_t	idx;

	l = setup(&c, NULL, 0, DCF_ROLE_FOLLOWER);
	if (!CHECK(l && l->id == 1, "node 1 leads (no majority_groups)"))
		return;
	idx = propose_cut(&c, (1u << 4) | (1u << 5));
	CHECK(l->commit >= idx, "without majority_groups nodes 1, 2, 3 commit entry %llu alone",
		  (unsigned long long) idx);
	th_destroy(&c);
}

static void
test_passive_does_not_count(void)
{
	th_cluster	c;
	th_node    *l;
	const uint32_t groups[] = {2};
	uint64_t	idx;

	/* node 5 is a PASSIVE member of group 2: only node 4 can satisfy group 2 */
	l = setup(&c, groups, 1, DCF_ROLE_PASSIVE);
	if (!CHECK(l && l->id == 1, "node 1 leads (node 5 PASSIVE)"))
		return;
	idx = propose_cut(&c, (1u << 4));
	CHECK(th_get(&c, 5)->n >= idx && l->commit < idx,
		  "the PASSIVE node 5 of group 2 holds entry %llu: still uncommitted (commit %llu)",
		  (unsigned long long) idx, (unsigned long long) l->commit);
	th_run(&c, 100, 5);
	CHECK(l->commit >= idx, "node 4 gets it: committed");
	th_destroy(&c);
}

static void
test_group_without_voters(void)
{
	th_cluster	c;
	th_node    *l;
	const uint32_t groups[] = {2, 7};
	uint64_t	idx;

	l = setup(&c, groups, 2, DCF_ROLE_FOLLOWER);
	if (!CHECK(l && l->id == 1, "node 1 leads (majority_groups=[2, 7])"))
		return;
	idx = propose_cut(&c, (1u << 5));
	CHECK(l->commit >= idx, "group 7 has no voter and is ignored: entry %llu commits with group 2 covered",
		  (unsigned long long) idx);
	th_destroy(&c);
}

int
main(void)
{
	test_group_needed();
	test_without_groups();
	test_passive_does_not_count();
	test_group_without_voters();
	return unit_done();
}
