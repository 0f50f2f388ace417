/*-------------------------------------------------------------------------
 *
 * dcf_identity.c
 *		Which node and which cluster dcf.data_path belongs to.
 *
 * The first start with a data path records, in <dcf.data_path>/dcf.identity,
 * dcf.node_id and the system identifier of this data directory's
 * pg_control.  Every later start compares them with the settings and the
 * data directory it runs on, and refuses to start on a mismatch:
 *
 *	- a server that got another node's settings (pg_rewind copies the
 *	  source's configuration files, an included file among them) must not
 *	  claim that node's identity or its consensus log;
 *	- a data directory of another cluster must not adopt this node's log.
 *
 * The file is written once, durably (written beside, fsynced, renamed); it
 * is never changed afterwards.  Runs in the postmaster, before the startup
 * process, so a refused server never replays or serves anything.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xlog.h"
#include "storage/fd.h"

#include "pg/dcf_guc.h"

#define IDENTITY_FILE		"dcf.identity"
#define IDENTITY_TMP_FILE	"dcf.identity.tmp"

static void
identity_write(const char *path, uint64 sysid)
{
	char		tmp[MAXPGPATH];
	char		buf[128];
	int			fd;
	int			len;

	snprintf(tmp, sizeof(tmp), "%s/%s", dcf_data_path_abs, IDENTITY_TMP_FILE);
	len = snprintf(buf, sizeof(buf), "node_id=%d\nsystem_identifier=" UINT64_FORMAT "\n",
				   dcf_node_id, sysid);
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not create \"%s\": %m", tmp)));
	errno = 0;
	if (write(fd, buf, len) != len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not write \"%s\": %m", tmp)));
	}
	if (pg_fsync(fd) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not fsync \"%s\": %m", tmp)));
	if (CloseTransientFile(fd) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not close \"%s\": %m", tmp)));
	/* durable_rename fsyncs the directory too */
	durable_rename(tmp, path, FATAL);
}

/*
 * Check (or, at the first start, record) the identity: see the file header.
 * FATAL on a mismatch or an unreadable record.
 */
void
dcf_check_identity(void)
{
	char		path[MAXPGPATH];
	uint64		sysid = GetSystemIdentifier();
	FILE	   *f;
	char		line[128];
	int			rec_node = -1;
	uint64		rec_sysid = 0;
	bool		have_sysid = false;

	snprintf(path, sizeof(path), "%s/%s", dcf_data_path_abs, IDENTITY_FILE);
	f = AllocateFile(path, "r");
	if (f == NULL)
	{
		if (errno != ENOENT)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not open \"%s\": %m", path)));
		identity_write(path, sysid);
		return;
	}
	while (fgets(line, sizeof(line), f))
	{
		unsigned long long v;

		if (sscanf(line, "node_id=%d", &rec_node) == 1)
			continue;
		if (sscanf(line, "system_identifier=%llu", &v) == 1)
		{
			rec_sysid = (uint64) v;
			have_sysid = true;
		}
	}
	FreeFile(f);
	if (rec_node <= 0 || !have_sysid)
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not parse \"%s\"", path),
				 errdetail("It must hold the lines node_id=N and system_identifier=N.")));
	if (rec_node != dcf_node_id)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dcf.data_path \"%s\" belongs to node %d, not to dcf.node_id %d",
						dcf_data_path_abs, rec_node, dcf_node_id),
				 errdetail("A server must not take over another node's identity or consensus log."),
				 errhint("Check dcf.node_id and dcf.data_path in this server's configuration (pg_rewind copies the source's configuration files).")));
	if (rec_sysid != sysid)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dcf.data_path \"%s\" belongs to a cluster with system identifier " UINT64_FORMAT ", not " UINT64_FORMAT,
						dcf_data_path_abs, rec_sysid, sysid),
				 errdetail("This data directory is not a copy of the cluster whose consensus log is in dcf.data_path."),
				 errhint("Give this data directory its own dcf.data_path, or rebuild it from the cluster.")));
}
