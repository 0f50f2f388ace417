/*
 * dcf_config.c — the dcf.config validator (see dcf_config.h).
 *
 * Every mistake gets its own message naming the element and the field, so
 * that an operator who wrote the JSON by hand knows what to fix.  Elements
 * are numbered from 1 in messages, the way a person counts them.  The
 * validator is strict: unknown fields are refused, since a misspelt
 * "priorty" silently ignored would be worse than an error.
 */
#include "pg/dcf_config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool
config_fail(DcfConfigError *err, const char *detail, const char *hint,
			const char *fmt,...)
	__attribute__((format(printf, 4, 5)));

static bool
config_fail(DcfConfigError *err, const char *detail, const char *hint,
			const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	snprintf(err->detail, sizeof(err->detail), "%s", detail ? detail : "");
	snprintf(err->hint, sizeof(err->hint), "%s", hint ? hint : "");
	return false;
}

static const char *
json_type_name(const cJSON *item)
{
	if (cJSON_IsString(item))
		return "a string";
	if (cJSON_IsNumber(item))
		return "a number";
	if (cJSON_IsBool(item))
		return "a boolean";
	if (cJSON_IsNull(item))
		return "null";
	if (cJSON_IsArray(item))
		return "an array";
	if (cJSON_IsObject(item))
		return "an object";
	return "invalid";
}

static const char *const known_fields[] = {
	"stream_id", "node_id", "ip", "port", "role", "weight", "group", "priority", NULL
};

/*
 * Fetch an integer field of element elno.  required: missing is an error;
 * otherwise *value keeps its default.  Range is inclusive.
 */
static bool
get_int_field(const cJSON *obj, int elno, const char *field, bool required,
			  long min, long max, long *value, DcfConfigError *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
	double		d;

	if (item == NULL)
	{
		if (!required)
			return true;
		return config_fail(err, NULL,
						   "Every element needs stream_id, node_id, ip, port and role.",
						   "dcf.config element %d has no \"%s\" field", elno, field);
	}
	if (!cJSON_IsNumber(item))
		return config_fail(err, NULL, NULL,
						   "dcf.config element %d: field \"%s\" must be an integer, not %s",
						   elno, field, json_type_name(item));
	d = item->valuedouble;
	if (d != floor(d) || !isfinite(d))
		return config_fail(err, NULL, NULL,
						   "dcf.config element %d: field \"%s\" must be an integer, not %g",
						   elno, field, d);
	if (d < (double) min || d > (double) max)
		return config_fail(err, NULL, NULL,
						   "dcf.config element %d: %s %.0f is out of range (%ld..%ld)",
						   elno, field, d, min, max);
	*value = (long) d;
	return true;
}

static bool
get_string_field(const cJSON *obj, int elno, const char *field,
				 const char **value, DcfConfigError *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);

	if (item == NULL)
		return config_fail(err, NULL,
						   "Every element needs stream_id, node_id, ip, port and role.",
						   "dcf.config element %d has no \"%s\" field", elno, field);
	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return config_fail(err, NULL, NULL,
						   "dcf.config element %d: field \"%s\" must be a string, not %s",
						   elno, field, json_type_name(item));
	*value = item->valuestring;
	return true;
}

static bool
parse_role(const char *s, DcfMemberRole *role)
{
	for (DcfMemberRole r = DCF_MEMBER_LEADER; r <= DCF_MEMBER_PASSIVE; r++)
	{
		if (strcmp(s, dcf_member_role_name(r)) == 0)
		{
			*role = r;
			return true;
		}
	}
	return false;
}

static bool
parse_element(const cJSON *obj, int elno, DcfMember *m, DcfConfigError *err)
{
	const cJSON *child;
	long		v;
	const char *s;
	unsigned char addr[16];

	if (!cJSON_IsObject(obj))
		return config_fail(err, NULL, NULL,
						   "dcf.config element %d must be an object, not %s",
						   elno, json_type_name(obj));

	/* unknown or repeated fields */
	for (child = obj->child; child != NULL; child = child->next)
	{
		const cJSON *other;
		int			i;

		for (i = 0; known_fields[i] != NULL; i++)
			if (child->string && strcmp(child->string, known_fields[i]) == 0)
				break;
		if (known_fields[i] == NULL)
			return config_fail(err, NULL,
							   "Known fields are stream_id, node_id, ip, port, role, weight, group and priority.",
							   "dcf.config element %d has unknown field \"%s\"",
							   elno, child->string ? child->string : "");
		for (other = obj->child; other != child; other = other->next)
			if (strcmp(other->string, child->string) == 0)
				return config_fail(err, NULL, NULL,
								   "dcf.config element %d has field \"%s\" more than once",
								   elno, child->string);
	}

	memset(m, 0, sizeof(*m));

	if (!get_int_field(obj, elno, "stream_id", true, LONG_MIN, LONG_MAX, &v, err))
		return false;
	if (v != 1)
		return config_fail(err, "Only one stream is supported; every element must have \"stream_id\": 1.",
						   NULL,
						   "dcf.config element %d: stream_id %ld is not supported", elno, v);

	if (!get_int_field(obj, elno, "node_id", true, 1, UINT32_MAX, &v, err))
		return false;
	m->node_id = (uint32_t) v;

	if (!get_string_field(obj, elno, "ip", &s, err))
		return false;
	if (strlen(s) >= DCF_IP_MAX_BYTES ||
		(inet_pton(AF_INET, s, addr) != 1 && inet_pton(AF_INET6, s, addr) != 1))
		return config_fail(err, NULL, "Use a numeric IPv4 or IPv6 address; host names are not resolved.",
						   "dcf.config element %d: ip \"%s\" is not a valid IP address", elno, s);
	strcpy(m->ip, s);

	if (!get_int_field(obj, elno, "port", true, 1, 65535, &v, err))
		return false;
	m->port = (int) v;

	if (!get_string_field(obj, elno, "role", &s, err))
		return false;
	if (!parse_role(s, &m->role))
		return config_fail(err, NULL, "Valid roles are LEADER, FOLLOWER, LOGGER and PASSIVE.",
						   "dcf.config element %d: unknown role \"%s\"", elno, s);

	v = 1;
	if (!get_int_field(obj, elno, "weight", false, 0, DCF_WEIGHT_MAX, &v, err))
		return false;
	m->weight = (int) v;
	v = 0;
	if (!get_int_field(obj, elno, "group", false, 0, DCF_GROUP_MAX, &v, err))
		return false;
	m->group = (int) v;
	v = 0;
	if (!get_int_field(obj, elno, "priority", false, 0, DCF_PRIORITY_MAX, &v, err))
		return false;
	m->priority = (int) v;

	if (m->role == DCF_MEMBER_PASSIVE && m->weight != 0 &&
		cJSON_GetObjectItemCaseSensitive(obj, "weight") != NULL)
		return config_fail(err, "A PASSIVE member never votes.", "Remove \"weight\" or set it to 0.",
						   "dcf.config element %d: a PASSIVE member cannot have weight %d",
						   elno, m->weight);
	if (m->role == DCF_MEMBER_PASSIVE)
		m->weight = 0;
	return true;
}

bool
dcf_config_parse(const char *json, DcfConfig *out, DcfConfigError *err)
{
	cJSON	   *root;
	const char *end = NULL;
	const cJSON *el;
	int			n = 0;
	int			total_weight = 0;
	bool		ok = false;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));

	if (json == NULL || json[strspn(json, " \t\r\n")] == '\0')
		return config_fail(err, NULL,
						   "Set dcf.config to a JSON array with one object per member.",
						   "dcf.config is empty");
	if (strlen(json) > DCF_CONFIG_MAX_BYTES)
		return config_fail(err, NULL, NULL,
						   "dcf.config is too long (%zu bytes, at most %d)",
						   strlen(json), DCF_CONFIG_MAX_BYTES);

	root = cJSON_ParseWithOpts(json, &end, 1);
	if (root == NULL)
	{
		size_t		pos = end ? (size_t) (end - json) : 0;
		size_t		from = pos > 12 ? pos - 12 : 0;

		if (end == NULL || *end == '\0')
			return config_fail(err, NULL, NULL,
							   "dcf.config is not valid JSON: unexpected end of input at character %zu",
							   strlen(json) + 1);
		return config_fail(err, NULL, NULL,
						   "dcf.config is not valid JSON: syntax error at character %zu near \"%.24s\"",
						   pos + 1, json + from);
	}

	if (!cJSON_IsArray(root))
	{
		config_fail(err, NULL, "Write one object per member inside [ ].",
					"dcf.config must be a JSON array, not %s", json_type_name(root));
		goto out;
	}

	cJSON_ArrayForEach(el, root)
	{
		DcfMember  *m;

		if (n >= DCF_MAX_MEMBERS)
		{
			config_fail(err, NULL, NULL,
						"dcf.config has more than %d members", DCF_MAX_MEMBERS);
			goto out;
		}
		m = &out->members[n];
		if (!parse_element(el, n + 1, m, err))
			goto out;
		for (int i = 0; i < n; i++)
		{
			const DcfMember *o = &out->members[i];

			if (o->node_id == m->node_id)
			{
				config_fail(err, NULL, "Every member needs its own node_id.",
							"dcf.config elements %d and %d have the same node_id %u",
							i + 1, n + 1, m->node_id);
				goto out;
			}
			if (o->port == m->port && strcmp(o->ip, m->ip) == 0)
			{
				config_fail(err, NULL, "Every member needs its own address for dcf traffic.",
							"dcf.config elements %d and %d have the same address %s:%d",
							i + 1, n + 1, m->ip, m->port);
				goto out;
			}
		}
		if (dcf_member_role_votes(m->role))
			total_weight += m->weight;
		n++;
	}
	if (n == 0)
	{
		config_fail(err, NULL, "Write one object per member inside [ ].",
					"dcf.config has no members");
		goto out;
	}
	if (total_weight < 1)
	{
		config_fail(err,
					"Only LEADER, FOLLOWER and LOGGER members with a weight above 0 vote; a cluster needs at least one voter to elect a leader.",
					NULL, "dcf.config has no voting member");
		goto out;
	}
	out->nmembers = n;
	ok = true;

out:
	cJSON_Delete(root);
	if (!ok)
		out->nmembers = 0;
	return ok;
}

const DcfMember *
dcf_config_find(const DcfConfig *cfg, uint32_t node_id)
{
	for (int i = 0; i < cfg->nmembers; i++)
		if (cfg->members[i].node_id == node_id)
			return &cfg->members[i];
	return NULL;
}

bool
dcf_config_check_node(const DcfConfig *cfg, int node_id, DcfConfigError *err)
{
	memset(err, 0, sizeof(*err));
	if (node_id <= 0)
		return config_fail(err, NULL,
						   "Set dcf.node_id to the node_id of this server's element in dcf.config.",
						   "dcf.node_id is not set");
	if (dcf_config_find(cfg, (uint32_t) node_id) == NULL)
		return config_fail(err, NULL,
						   "Set dcf.node_id to the node_id of this server's element in dcf.config, or add this server to dcf.config.",
						   "dcf.node_id %d is not a member in dcf.config", node_id);
	return true;
}

const char *
dcf_member_role_name(DcfMemberRole role)
{
	switch (role)
	{
		case DCF_MEMBER_LEADER:
			return "LEADER";
		case DCF_MEMBER_FOLLOWER:
			return "FOLLOWER";
		case DCF_MEMBER_LOGGER:
			return "LOGGER";
		case DCF_MEMBER_PASSIVE:
			return "PASSIVE";
	}
	return "UNKNOWN";
}

dcf_role
dcf_member_role_to_core(DcfMemberRole role)
{
	switch (role)
	{
		case DCF_MEMBER_LEADER:
			return DCF_ROLE_LEADER;
		case DCF_MEMBER_FOLLOWER:
			return DCF_ROLE_FOLLOWER;
		case DCF_MEMBER_LOGGER:
			return DCF_ROLE_LOGGER;
		case DCF_MEMBER_PASSIVE:
			return DCF_ROLE_PASSIVE;
	}
	return DCF_ROLE_FOLLOWER;
}

DcfMemberRole
dcf_member_role_from_core(dcf_role role)
{
	switch (role)
	{
		case DCF_ROLE_LEADER:
			return DCF_MEMBER_LEADER;
		case DCF_ROLE_LOGGER:
			return DCF_MEMBER_LOGGER;
		case DCF_ROLE_PASSIVE:
			return DCF_MEMBER_PASSIVE;
		default:
			return DCF_MEMBER_FOLLOWER;
	}
}

bool
dcf_member_role_votes(DcfMemberRole role)
{
	return role == DCF_MEMBER_LEADER || role == DCF_MEMBER_FOLLOWER ||
		role == DCF_MEMBER_LOGGER;
}
