/*
 * dcf_config.h — parsing and validation of dcf.config, the cluster
 * membership in openGauss's dcf_config JSON format:
 *
 *   [{"stream_id":1,"node_id":1,"ip":"127.0.0.1","port":17783,"role":"LEADER"},
 *    {"stream_id":1,"node_id":2,"ip":"127.0.0.1","port":17784,"role":"FOLLOWER",
 *     "weight":1,"group":0,"priority":0}, ...]
 *
 * This file does not include postgres.h: it is plain C over cJSON, so the
 * GUC check hook, the SQL function dcf_check_config() and dcf_ctl share one
 * validator and therefore one set of messages.  On failure the parser fills
 * a DcfConfigError whose message names the element (1-based) and the field;
 * detail and hint are optional full sentences.
 */
#ifndef DCF_CONFIG_H
#define DCF_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/dcf_core.h"

#define DCF_MAX_MEMBERS 32			/* members in one cluster */
#define DCF_IP_MAX_BYTES 64			/* textual address incl. NUL */
#define DCF_CONFIG_MAX_BYTES 65536	/* length of the dcf.config string */
#define DCF_WEIGHT_MAX 1000
#define DCF_PRIORITY_MAX 1000000
#define DCF_GROUP_MAX 1000000

typedef enum DcfMemberRole
{
	DCF_MEMBER_LEADER = 1,			/* a voter that should lead at bootstrap */
	DCF_MEMBER_FOLLOWER,			/* a voter */
	DCF_MEMBER_LOGGER,				/* votes and stores the log, never leads */
	DCF_MEMBER_PASSIVE				/* stores and applies, never votes or leads */
} DcfMemberRole;

typedef struct DcfMember
{
	uint32_t	node_id;
	char		ip[DCF_IP_MAX_BYTES];
	int			port;
	DcfMemberRole role;
	int			weight;
	int			group;
	int			priority;
} DcfMember;

typedef struct DcfConfig
{
	int			nmembers;
	DcfMember	members[DCF_MAX_MEMBERS];
} DcfConfig;

#define DCF_CONFIG_MSG_BYTES 512

typedef struct DcfConfigError
{
	char		message[DCF_CONFIG_MSG_BYTES];
	char		detail[DCF_CONFIG_MSG_BYTES];
	char		hint[DCF_CONFIG_MSG_BYTES];
} DcfConfigError;

/*
 * Parse and validate json.  Returns true and fills *out, or returns false
 * and fills *err.  Checks that need no other setting: JSON syntax, array of
 * objects, field presence/types/ranges, unknown fields, roles, stream_id,
 * duplicates, at least one voter.
 */
extern bool dcf_config_parse(const char *json, DcfConfig *out, DcfConfigError *err);

/* The member with node_id, or NULL. */
extern const DcfMember *dcf_config_find(const DcfConfig *cfg, uint32_t node_id);

/* Checks that dcf.node_id is a member; fills *err when not. */
extern bool dcf_config_check_node(const DcfConfig *cfg, int node_id, DcfConfigError *err);

/* "LEADER", "FOLLOWER", "LOGGER", "PASSIVE" */
extern const char *dcf_member_role_name(DcfMemberRole role);

/*
 * The core's role for a member's role, and back (a role the membership
 * cannot hold, such as CANDIDATE, comes back as FOLLOWER).
 */
extern dcf_role dcf_member_role_to_core(DcfMemberRole role);
extern DcfMemberRole dcf_member_role_from_core(dcf_role role);

/* true for roles whose votes count (LEADER, FOLLOWER, LOGGER) */
extern bool dcf_member_role_votes(DcfMemberRole role);

#endif							/* DCF_CONFIG_H */
