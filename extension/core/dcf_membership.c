/*
 * dcf_membership.c — role names and predicates, member defaults, membership
 * validation and lookup, admin request names.
 *
 * Invariants a valid membership keeps (dcf_membership_validate): 1 to
 * DCF_MEMBERS_MAX members, unique node ids >= 1, every role one of the four
 * configured roles, weights in 1..DCF_MEMBER_WEIGHT_MAX, NUL-terminated ip
 * text, the learner flag only on voting roles, and at least one member that
 * may lead (a learner does not count); the previous configuration, when
 * recorded, keeps the same rules.  The node refuses to start with an invalid
 * one, and the codec refuses to decode one.
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

dcf_role
dcf_member_acting_role(const dcf_member *m)
{
	return m->learner ? DCF_ROLE_PASSIVE : m->role;
}

bool
dcf_member_is_voter(const dcf_member *m)
{
	return !m->learner && dcf_role_is_voter(m->role);
}

bool
dcf_member_may_lead(const dcf_member *m)
{
	return !m->learner && dcf_role_may_lead(m->role);
}

const char *
dcf_admin_kind_name(dcf_admin_kind kind)
{
	switch (kind)
	{
		case DCF_ADMIN_ADD_MEMBER:
			return "add member";
		case DCF_ADMIN_REMOVE_MEMBER:
			return "remove member";
		case DCF_ADMIN_CHANGE_ROLE:
			return "change role";
		case DCF_ADMIN_CHANGE_PRIORITY:
			return "change priority";
		case DCF_ADMIN_CHANGE_GROUP:
			return "change group";
		case DCF_ADMIN_TRANSFER_LEADER:
			return "transfer leadership";
		case DCF_ADMIN_SET_WORK_MODE:
			return "set work mode";
		case DCF_ADMIN_SET_RUN_MODE:
			return "set run mode";
		case DCF_ADMIN_PROMOTE:
			return "promote";
		case DCF_ADMIN_SET_PRIORITY_ELECTION:
			return "set priority election";
	}
	return "unknown";
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
dcf_membership_find_in(const dcf_member *members, uint32_t n, uint32_t node_id)
{
	for (uint32_t i = 0; i < n; i++)
		if (members[i].node_id == node_id)
			return &members[i];
	return NULL;
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

static dcf_rc
validate_members(const dcf_member *members, uint32_t n, char *errmsg)
{
	bool		leader_possible = false;

	if (n == 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "membership has no members");
	if (n > DCF_MEMBERS_MAX)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "membership has %u members, at most %d allowed",
						n, DCF_MEMBERS_MAX);
	for (uint32_t i = 0; i < n; i++)
	{
		const dcf_member *m = &members[i];

		if (m->node_id == DCF_NODE_NONE)
			return dcf_errf(errmsg, DCF_ERR_INVALID, "member %u has node id 0", i);
		for (uint32_t j = 0; j < i; j++)
		{
			if (members[j].node_id == m->node_id)
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
		if (m->learner && !dcf_role_is_voter(m->role))
			return dcf_errf(errmsg, DCF_ERR_INVALID, "node %u is a %s learner: only voting roles learn",
							m->node_id, dcf_role_name(m->role));
		if (dcf_member_may_lead(m))
			leader_possible = true;
	}
	if (!leader_possible)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "membership has no LEADER or FOLLOWER member");
	return DCF_OK;
}

dcf_rc
dcf_membership_validate(const dcf_membership *ms, char *errmsg)
{
	dcf_rc		rc;

	if ((rc = validate_members(ms->members, ms->n_members, errmsg)) != DCF_OK)
		return rc;
	if (ms->n_prev > 0 && (rc = validate_members(ms->prev, ms->n_prev, errmsg)) != DCF_OK)
		return dcf_errwrap(errmsg, rc, "previous configuration");
	if (ms->n_prev == 0 && ms->prev_index != 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "previous configuration index %llu without members",
						(unsigned long long) ms->prev_index);
	return DCF_OK;
}
