/*
 * dcf_membership.c — role names and predicates, member defaults, membership
 * validation and lookup.
 *
 * Invariants a valid membership keeps (dcf_membership_validate): 1 to
 * DCF_MEMBERS_MAX members, unique node ids >= 1, every role one of the four
 * configured roles, weights in 1..DCF_MEMBER_WEIGHT_MAX, NUL-terminated ip
 * text, and at least one member that may lead.  The node refuses to start
 * with an invalid one, and the codec refuses to decode one.
 */
#include "core/dcf_core.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const role_names[DCF_ROLE_COUNT] = {
	[DCF_ROLE_UNKNOWN] = "UNKNOWN",
	[DCF_ROLE_LEADER] = "LEADER",
	[DCF_ROLE_FOLLOWER] = "FOLLOWER",
	[DCF_ROLE_LOGGER] = "LOGGER",
	[DCF_ROLE_PASSIVE] = "PASSIVE",
	[DCF_ROLE_PRE_CANDIDATE] = "PRE_CANDIDATE",
	[DCF_ROLE_CANDIDATE] = "CANDIDATE",
};

const char *
dcf_role_name(dcf_role role)
{
	if ((unsigned) role >= DCF_ROLE_COUNT)
		return "UNKNOWN";
	return role_names[role];
}

bool
dcf_role_parse(const char *name, dcf_role *role)
{
	for (int i = 0; i < DCF_ROLE_COUNT; i++)
	{
		if (strcasecmp(name, role_names[i]) == 0)
		{
			*role = (dcf_role) i;
			return true;
		}
	}
	return false;
}

bool
dcf_role_is_voter(dcf_role configured)
{
	return configured == DCF_ROLE_LEADER || configured == DCF_ROLE_FOLLOWER ||
		configured == DCF_ROLE_LOGGER;
}

bool
dcf_role_may_lead(dcf_role configured)
{
	return configured == DCF_ROLE_LEADER || configured == DCF_ROLE_FOLLOWER;
}

void
dcf_member_init(dcf_member *m, uint32_t node_id, dcf_role role)
{
	memset(m, 0, sizeof(*m));
	m->node_id = node_id;
	m->role = role;
	m->weight = 1;
}

const dcf_member *
dcf_membership_find(const dcf_membership *ms, uint32_t node_id)
{
	for (uint32_t i = 0; i < ms->n_members && i < DCF_MEMBERS_MAX; i++)
	{
		if (ms->members[i].node_id == node_id)
			return &ms->members[i];
	}
	return NULL;
}

dcf_rc
dcf_membership_validate(const dcf_membership *ms, char *errmsg)
{
	bool		leader_possible = false;

	if (ms->n_members == 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "membership has no members");
	if (ms->n_members > DCF_MEMBERS_MAX)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "membership has %u members, at most %d allowed",
						ms->n_members, DCF_MEMBERS_MAX);
	for (uint32_t i = 0; i < ms->n_members; i++)
	{
		const dcf_member *m = &ms->members[i];

		if (m->node_id == DCF_NODE_NONE)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "member %u has node id 0", i);
		for (uint32_t j = 0; j < i; j++)
		{
			if (ms->members[j].node_id == m->node_id)
				return dcf_errf(errmsg, DCF_ERR_INVALID, "node id %u appears twice", m->node_id);
		}
		if (m->role != DCF_ROLE_LEADER && m->role != DCF_ROLE_FOLLOWER &&
			m->role != DCF_ROLE_LOGGER && m->role != DCF_ROLE_PASSIVE)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "node %u has role %s, not a configurable role",
							m->node_id, dcf_role_name(m->role));
		if (m->weight < 1 || m->weight > DCF_MEMBER_WEIGHT_MAX)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "node %u has weight %u, allowed 1..%d",
							m->node_id, m->weight, DCF_MEMBER_WEIGHT_MAX);
		if (memchr(m->ip, '\0', sizeof(m->ip)) == NULL)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "node %u has an ip longer than %d bytes",
							m->node_id, DCF_MEMBER_IP_MAX - 1);
		if (dcf_role_may_lead(m->role))
			leader_possible = true;
	}
	if (!leader_possible)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "membership has no LEADER or FOLLOWER member");
	return DCF_OK;
}
