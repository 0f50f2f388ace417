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
 * per member of the membership in force, host being the member's dcf
 * address (from the membership, not dcf.config: members added later are
 * sources too).  `dcf_ctl
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
#define ENDPOINTS_MAX			(2 * DCF_MAX_MEMBERS)

/* what was heard, by node id: members of the membership in force, or read back from the file */
typedef struct Endpoint
{
	uint32_t	node_id;
	uint32_t	port;
	char		host[DCF_MEMBER_IP_MAX];
} Endpoint;

static Endpoint ep[ENDPOINTS_MAX];
static int	nep = 0;
static uint64_t ep_announced_ms;
static bool ep_dirty = true;
static bool ep_loaded = false;

static Endpoint *
ep_find(uint32_t node_id)
{
	for (int i = 0; i < nep; i++)
		if (ep[i].node_id == node_id)
			return &ep[i];
	return NULL;
}

/* Record node_id's port (host: its dcf address); true when that changed anything. */
static bool
ep_set(uint32_t node_id, const char *host, uint32_t port)
{
	Endpoint   *e = ep_find(node_id);

	if (e == NULL)
	{
		if (nep == ENDPOINTS_MAX)
			return false;
		e = &ep[nep++];
		memset(e, 0, sizeof(*e));
		e->node_id = node_id;
	}
	if (e->port == port && strcmp(e->host, host) == 0)
		return false;
	e->port = port;
	strlcpy(e->host, host, sizeof(e->host));
	return true;
}

static void
endpoints_save(DcfWorker *w)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	FILE	   *f;
	const dcf_membership *ms = dcf_host_membership(w->host);

	snprintf(path, sizeof(path), "%s/%s", dcf_data_path_abs, ENDPOINTS_FILE);
	snprintf(tmp, sizeof(tmp), "%s/%s", dcf_data_path_abs, ENDPOINTS_TMP_FILE);
	f = AllocateFile(tmp, "w");
	if (f == NULL)
	{
		ereport(LOG, (errcode_for_file_access(), errmsg("could not write \"%s\": %m", tmp)));
		return;
	}
	/* the members in force only: a removed node is no rewind source */
	for (int i = 0; i < nep; i++)
		if (ep[i].port != 0 && dcf_membership_find(ms, ep[i].node_id) != NULL)
			fprintf(f, "%u %s %u\n", ep[i].node_id, ep[i].host, ep[i].port);
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
		if (id > 0 && port > 0 && port <= 65535 && strlen(host) < DCF_MEMBER_IP_MAX && ep_find(id) == NULL)
			(void) ep_set(id, host, port);
	}
	FreeFile(f);
}

/* The PostgreSQL port of member node_id, 0 when not known. */
uint32_t
endpoints_port_of(uint32_t node_id)
{
	Endpoint   *e;

	if (!ep_loaded)
		endpoints_load();
	e = ep_find(node_id);
	return e ? e->port : 0;
}

/*
 * Announce our port to every member of the membership in force (not only
 * dcf.config's: a member added later is a rewind source too) now and then;
 * save what changed.
 */
void
endpoints_tick(DcfWorker *w, uint64_t now_ms)
{
	uint8_t		buf[4];
	char		err[DCF_ERRMSG_MAX];
	const dcf_membership *ms = dcf_host_membership(w->host);
	const dcf_member *self = dcf_membership_find(ms, (uint32_t) dcf_node_id);

	if (!ep_loaded)
		endpoints_load();
	if (self && ep_set(self->node_id, self->ip, (uint32_t) PostPortNumber))
		ep_dirty = true;
	if (ep_dirty)
		endpoints_save(w);
	if (ep_announced_ms != 0 && now_ms - ep_announced_ms < ENDPOINT_ANNOUNCE_MS)
		return;
	ep_announced_ms = now_ms;
	{
		/* the file lists the members in force: rewrite it when they change */
		static uint64_t last_sig = 0;
		uint64_t	sig = ms->n_members;

		for (uint32_t i = 0; i < ms->n_members; i++)
			sig = sig * 1000003u + ms->members[i].node_id;
		if (sig != last_sig)
		{
			last_sig = sig;
			ep_dirty = true;
		}
	}
	for (int b = 0; b < 4; b++)
		buf[b] = (uint8_t) ((uint32_t) PostPortNumber >> (8 * b));
	for (uint32_t i = 0; i < ms->n_members; i++)
		if (ms->members[i].node_id != (uint32_t) dcf_node_id)
			(void) dcf_host_send_app(w->host, ms->members[i].node_id,
									 MSG_PG_ENDPOINT, buf, sizeof(buf), err);
}

/* A member told us its port. */
void
endpoints_on_message(DcfWorker *w, uint32_t from, const uint8_t *data, size_t len)
{
	const dcf_member *m = dcf_membership_find(dcf_host_membership(w->host), from);
	uint32_t	port;

	if (m == NULL || len != 4)
		return;
	port = (uint32_t) data[0] | (uint32_t) data[1] << 8 | (uint32_t) data[2] << 16 |
		(uint32_t) data[3] << 24;
	if (port == 0 || port > 65535)
		return;
	if (ep_set(from, m->ip, port))
	{
		ep_dirty = true;
		/*
		 * A member we had not heard (it started after us, and our first
		 * announcement went nowhere): tell everyone our port now rather
		 * than up to ENDPOINT_ANNOUNCE_MS later.  Every member does so once
		 * per change it hears, so the members know each other's ports as
		 * soon as the last one is up — a node killed two seconds after the
		 * cluster started must still find a rewind or build source.
		 */
		ep_announced_ms = 0;
	}
}
