/*-------------------------------------------------------------------------
 *
 * dcf_endpoints.c
 *		Where the members' PostgreSQL servers listen, for pg_rewind.
 *
 * dcf.config gives each member's dcf address, not its PostgreSQL port.  A
 * fenced or killed node that comes back must be rewound from a server that
 * has the cluster's WAL — the current leader, or any follower — which may
 * be a node that never led (so no timeline-switch entry names its port).
 * So every worker tells every other member its PostgreSQL port
 * (MSG_PG_ENDPOINT, every ENDPOINT_ANNOUNCE_MS), and each worker keeps what
 * it heard in <dcf.data_path>/pg_endpoints, one "node_id host port" line
 * per member, host being the member's address in dcf.config.  `dcf_ctl
 * start` reads that file offline to find a source for pg_rewind.
 *
 * The file is advisory (a stale port only costs a failed connection
 * attempt): it is replaced atomically when what was heard changes, never
 * read by the server.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "postmaster/postmaster.h"
#include "storage/fd.h"

#include "pg/dcf_guc.h"
#include "pg/dcf_worker_int.h"

#define ENDPOINT_ANNOUNCE_MS	2000	/* tell the members our port this often */
#define ENDPOINTS_FILE			"pg_endpoints"
#define ENDPOINTS_TMP_FILE		"pg_endpoints.tmp"

static uint32_t ep_port[DCF_MAX_MEMBERS];	/* by position in dcf.config; 0 unknown */
static uint64_t ep_announced_ms;
static bool ep_dirty = true;
static bool ep_loaded = false;

static int
member_slot(uint32_t node_id)
{
	for (int i = 0; i < dcf_config_parsed.nmembers; i++)
		if (dcf_config_parsed.members[i].node_id == node_id)
			return i;
	return -1;
}

static void
endpoints_save(void)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dcf_data_path_abs, ENDPOINTS_FILE);
	snprintf(tmp, sizeof(tmp), "%s/%s", dcf_data_path_abs, ENDPOINTS_TMP_FILE);
	f = AllocateFile(tmp, "w");
	if (f == NULL)
	{
		ereport(LOG, (errcode_for_file_access(), errmsg("could not write \"%s\": %m", tmp)));
		return;
	}
	for (int i = 0; i < dcf_config_parsed.nmembers; i++)
		if (ep_port[i] != 0)
			fprintf(f, "%u %s %u\n", dcf_config_parsed.members[i].node_id,
					dcf_config_parsed.members[i].ip, ep_port[i]);
	if (FreeFile(f) != 0)
	{
		ereport(LOG, (errcode_for_file_access(), errmsg("could not write \"%s\": %m", tmp)));
		return;
	}
	if (durable_rename(tmp, path, LOG) == 0)
		ep_dirty = false;
}

/*
 * What earlier runs heard: a node that restarts and is stopped again at
 * once (for a rewind) must not forget the others' ports.
 */
static void
endpoints_load(void)
{
	char		path[MAXPGPATH];
	FILE	   *f;
	unsigned int id,
				port;
	char		host[256];

	ep_loaded = true;
	snprintf(path, sizeof(path), "%s/%s", dcf_data_path_abs, ENDPOINTS_FILE);
	f = AllocateFile(path, "r");
	if (f == NULL)
		return;
	while (fscanf(f, "%u %255s %u", &id, host, &port) == 3)
	{
		int			slot = member_slot(id);

		if (slot >= 0 && port > 0 && port <= 65535 && ep_port[slot] == 0)
			ep_port[slot] = port;
	}
	FreeFile(f);
}

/* The PostgreSQL port of member node_id, 0 when not known. */
uint32_t
endpoints_port_of(uint32_t node_id)
{
	int			slot = member_slot(node_id);

	if (!ep_loaded)
		endpoints_load();
	return slot < 0 ? 0 : ep_port[slot];
}

/* Announce our port to every member now and then; save what changed. */
void
endpoints_tick(DcfWorker *w, uint64_t now_ms)
{
	uint8_t		buf[4];
	char		err[DCF_ERRMSG_MAX];
	int			self = member_slot((uint32_t) dcf_node_id);

	if (!ep_loaded)
		endpoints_load();
	if (self >= 0 && ep_port[self] != (uint32_t) PostPortNumber)
	{
		ep_port[self] = (uint32_t) PostPortNumber;
		ep_dirty = true;
	}
	if (ep_dirty)
		endpoints_save();
	if (ep_announced_ms != 0 && now_ms - ep_announced_ms < ENDPOINT_ANNOUNCE_MS)
		return;
	ep_announced_ms = now_ms;
	for (int b = 0; b < 4; b++)
		buf[b] = (uint8_t) ((uint32_t) PostPortNumber >> (8 * b));
	for (int i = 0; i < dcf_config_parsed.nmembers; i++)
		if (i != self)
			(void) dcf_host_send_app(w->host, dcf_config_parsed.members[i].node_id,
									 MSG_PG_ENDPOINT, buf, sizeof(buf), err);
}

/* A member told us its port. */
void
endpoints_on_message(DcfWorker *w, uint32_t from, const uint8_t *data, size_t len)
{
	int			slot = member_slot(from);
	uint32_t	port;

	if (slot < 0 || len != 4)
		return;
	port = (uint32_t) data[0] | (uint32_t) data[1] << 8 | (uint32_t) data[2] << 16 |
		(uint32_t) data[3] << 24;
	if (port == 0 || port > 65535 || ep_port[slot] == port)
		return;
	ep_port[slot] = port;
	ep_dirty = true;
}
