/*
 * ctl_rewind.c — rewinding a node whose WAL went past the cluster's (a
 * fenced or killed leader) so that it can rejoin as a standby.
 *
 * The steps, each safe to interrupt (a later `dcf_ctl start` finishes or
 * undoes them, see ctl_rewind_recover):
 *
 *  1. Save the node-local files durably in <DATADIR>.dcf_rewind/ (outside
 *     the data directory, which pg_rewind overwrites): postgresql.conf,
 *     postgresql.auto.conf, pg_hba.conf, pg_ident.conf, every file they
 *     include from inside the data directory, standby.signal.  State
 *     "saved".
 *  2. Make the node's shutdown clean (single-user crash recovery, as
 *     pg_rewind itself would) so that a dry run can look at it.
 *  3. Find a source: a running member with the cluster's WAL — the leader
 *     named when the node was stopped for the rewind, else any member in
 *     <dcf.data_path>/pg_endpoints (the leader first, then the followers
 *     on the newest timeline; pg_rewind accepts a standby as source).
 *     pg_rewind (PostgreSQL 15) takes a server's timeline from the last
 *     checkpoint in its control file (a restartpoint, on a standby), so a
 *     source's must be past this node's: a standby that has received a
 *     newer timeline but replayed no checkpoint of it looks to pg_rewind
 *     like a server on this node's timeline ("no rewind required"), and the
 *     node would come back as diverged as before.  When only such
 *     standbys answer, the node is started without a rewind (the "rewind
 *     deferred" result): its worker finds the divergence again, keeps the
 *     server up refusing logins and voting, so that one of them can be
 *     elected and promote, and stops it for its rewind once a leader on the
 *     cluster's newest timeline leads.
 *  4. CHECKPOINT on the source, then `pg_rewind --dry-run`.  When it
 *     cannot read this node's own WAL back to the last common checkpoint
 *     (segments recycled here), retry with --restore-target-wal and a
 *     restore_command of `dcf_ctl restore-wal`, which rebuilds the
 *     segments from the node's consensus log or fetches them from the
 *     source (issue 19).  If that cannot work either, the node can never
 *     be rewound: say so once, write <dcf.data_path>/rebuild_needed, and
 *     every later start refuses at once, naming dcf_ctl build.
 *  5. Save pg_control and the node's WAL from the last common checkpoint
 *     on (state "rewinding"): a rewind interrupted half-way is redone from
 *     the node's own view, never from WAL it already half-replaced.
 *  6. pg_rewind.  Then cut the old timeline's WAL at the fork: pg_rewind
 *     keeps the node's own segments that the source no longer has, and
 *     the segment of the fork then holds, past the fork, WAL the cluster
 *     never had (the tail a killed leader wrote, the checkpoint records of
 *     the crash recovery).  Recovery reads that old-timeline segment when
 *     the new timeline's copy of it is gone from the source, and would
 *     replay past the fork and be stuck forever.  State "rewound".
 *  7. Put the node-local files back, remove the save directory and the
 *     markers.
 */
#include "ctl_rewind.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#include "ctl_util.h"

#define REWIND_KEPT_MAX			64
#define REWIND_INCLUDE_DEPTH	10
#define REWIND_CANDIDATES_MAX	40
#define REWIND_OUTPUT_BYTES		(256 * 1024)
#define REWIND_SOURCE_TIMEOUT_S	"3"
#define REWIND_SOURCE_WAIT_S	30	/* keep asking the members this long */
#define REWIND_STALE_WAIT_S		10	/* ... or this long when only stale standbys answer */

static const char *const fixed_kept[] = {
	"postgresql.conf", "postgresql.auto.conf", "pg_hba.conf", "pg_ident.conf",
	"standby.signal", "recovery.signal", NULL
};

typedef struct KeptList
{
	char	   *rel[REWIND_KEPT_MAX];	/* paths relative to the data directory */
	int			n;
} KeptList;

static void
kept_add(KeptList *k, const char *rel)
{
	for (int i = 0; i < k->n; i++)
		if (strcmp(k->rel[i], rel) == 0)
			return;
	if (k->n < REWIND_KEPT_MAX)
		k->rel[k->n++] = strdup(rel);
}

static void
kept_free(KeptList *k)
{
	for (int i = 0; i < k->n; i++)
		free(k->rel[i]);
	k->n = 0;
}

/* abs inside datadir: its relative path, else NULL. */
static const char *
inside(const char *datadir, const char *abs)
{
	size_t		dl = strlen(datadir);

	if (strncmp(abs, datadir, dl) == 0 && abs[dl] == '/')
		return abs + dl + 1;
	return NULL;
}

/* Collect include / include_if_exists / include_dir targets inside datadir. */
static void
scan_includes(const char *datadir, const char *file, KeptList *k, int depth)
{
	char	   *text = ctl_slurp(file, NULL);
	char	   *line,
			   *save = NULL;
	char		dir[CTL_PATH_MAX];
	char	   *slash;

	if (text == NULL || depth > REWIND_INCLUDE_DEPTH)
	{
		free(text);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		char		kw[32];
		char		val[CTL_PATH_MAX];
		char		abs[CTL_PATH_MAX * 2];
		char		real[PATH_MAX];
		const char *rel;
		int			m;

		while (*line == ' ' || *line == '\t')
			line++;
		m = sscanf(line, "%31[a-z_] %*[= ]'%4095[^']'", kw, val);
		if (m != 2)
			m = sscanf(line, "%31[a-z_] '%4095[^']'", kw, val);
		if (m != 2)
			continue;
		if (strcmp(kw, "include") != 0 && strcmp(kw, "include_if_exists") != 0 &&
			strcmp(kw, "include_dir") != 0)
			continue;
		if (val[0] == '/')
			snprintf(abs, sizeof(abs), "%s", val);
		else
			snprintf(abs, sizeof(abs), "%s/%s", dir, val);
		if (realpath(abs, real) == NULL || (rel = inside(datadir, real)) == NULL)
			continue;
		if (strcmp(kw, "include_dir") == 0)
		{
			DIR		   *d = opendir(real);
			struct dirent *de;

			if (d == NULL)
				continue;
			while ((de = readdir(d)) != NULL)
			{
				size_t		nl = strlen(de->d_name);
				char		f[CTL_PATH_MAX * 2];

				if (de->d_name[0] == '.' || nl < 6 || strcmp(de->d_name + nl - 5, ".conf") != 0)
					continue;
				snprintf(f, sizeof(f), "%s/%s", real, de->d_name);
				kept_add(k, f + strlen(datadir) + 1);
				scan_includes(datadir, f, k, depth + 1);
			}
			closedir(d);
		}
		else
		{
			kept_add(k, rel);
			scan_includes(datadir, real, k, depth + 1);
		}
	}
	free(text);
}

static void
collect_kept(const char *datadir, KeptList *k)
{
	char		path[CTL_PATH_MAX];

	for (int i = 0; fixed_kept[i]; i++)
		kept_add(k, fixed_kept[i]);
	snprintf(path, sizeof(path), "%s/postgresql.conf", datadir);
	scan_includes(datadir, path, k, 0);
	snprintf(path, sizeof(path), "%s/postgresql.auto.conf", datadir);
	scan_includes(datadir, path, k, 0);
}

static void
save_dir_of(const char *datadir, char *out, size_t cap)
{
	snprintf(out, cap, "%s.dcf_rewind", datadir);
}

static bool
copy_file_durable(const char *from, const char *to)
{
	size_t		len;
	char	   *buf = ctl_slurp(from, &len);
	struct stat st;
	bool		ok;

	if (buf == NULL)
		return false;
	if (stat(from, &st) != 0)
		st.st_mode = 0600;
	ok = ctl_write_durable(to, buf, len, st.st_mode & 07777);
	free(buf);
	return ok;
}

static bool
set_state(const char *save, const char *state)
{
	char		path[CTL_PATH_MAX];
	char		line[64];

	snprintf(path, sizeof(path), "%s/state", save);
	snprintf(line, sizeof(line), "%s\n", state);
	return ctl_write_durable(path, line, strlen(line), 0600);
}

/*
 * Step 1: the node-local files into <datadir>.dcf_rewind, durably, with a
 * manifest written last; the directory appears under its name only whole.
 */
bool
ctl_save_node_files(const char *datadir, const char *save)
{
	char		tmp[CTL_PATH_MAX];
	char		path[CTL_PATH_MAX * 2];
	char		to[CTL_PATH_MAX * 2];
	KeptList	k = {{0}, 0};
	char	   *manifest = calloc(1, REWIND_KEPT_MAX * (CTL_PATH_MAX + 32));
	size_t		ml = 0;
	bool		ok = true;

	if (manifest == NULL)
		return false;
	snprintf(tmp, sizeof(tmp), "%s.tmp", save);
	ctl_remove_dir(tmp);
	if (mkdir(tmp, 0700) != 0)
	{
		ctl_error("could not create \"%s\": %s", tmp, strerror(errno));
		free(manifest);
		return false;
	}
	collect_kept(datadir, &k);
	for (int i = 0; i < k.n && ok; i++)
	{
		snprintf(path, sizeof(path), "%s/%s", datadir, k.rel[i]);
		if (access(path, F_OK) != 0)
		{
			ml += (size_t) sprintf(manifest + ml, "absent %s\n", k.rel[i]);
			continue;
		}
		snprintf(to, sizeof(to), "%s/f%d", tmp, i);
		if (!copy_file_durable(path, to))
		{
			ctl_error("could not save \"%s\" in \"%s\": %s", path, tmp, strerror(errno));
			ok = false;
			break;
		}
		ml += (size_t) sprintf(manifest + ml, "f%d %s\n", i, k.rel[i]);
	}
	snprintf(path, sizeof(path), "%s/manifest", tmp);
	if (ok && !ctl_write_durable(path, manifest, ml, 0600))
	{
		ctl_error("could not write \"%s\": %s", path, strerror(errno));
		ok = false;
	}
	snprintf(path, sizeof(path), "%s/state", tmp);
	if (ok && !ctl_write_durable(path, "saved\n", 6, 0600))
		ok = false;
	if (ok && (rename(tmp, save) != 0 || !ctl_fsync_parent(save)))
	{
		ctl_error("could not rename \"%s\": %s", tmp, strerror(errno));
		ok = false;
	}
	if (!ok)
		ctl_remove_dir(tmp);
	kept_free(&k);
	free(manifest);
	return ok;
}

/* Put the saved node-local files back (and remove the ones that were absent). */
bool
ctl_restore_node_files(const char *datadir, const char *save)
{
	char		path[CTL_PATH_MAX * 2];
	char		from[CTL_PATH_MAX * 2];
	char	   *manifest;
	char	   *line,
			   *sp = NULL;
	bool		ok = true;

	snprintf(path, sizeof(path), "%s/manifest", save);
	manifest = ctl_slurp(path, NULL);
	if (manifest == NULL)
	{
		ctl_error("could not read \"%s\": %s", path, strerror(errno));
		return false;
	}
	for (line = strtok_r(manifest, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp))
	{
		char	   *space = strchr(line, ' ');

		if (space == NULL)
			continue;
		*space = '\0';
		snprintf(path, sizeof(path), "%s/%s", datadir, space + 1);
		if (strcmp(line, "absent") == 0)
		{
			if (unlink(path) == 0)
				ctl_fsync_parent(path);
			continue;
		}
		snprintf(from, sizeof(from), "%s/%s", save, line);
		if (!copy_file_durable(from, path))
		{
			ctl_error("could not restore \"%s\" from \"%s\": %s", path, from, strerror(errno));
			ok = false;
		}
	}
	free(manifest);
	return ok;
}

/* WAL file name → timeline and segment number. */
static bool
parse_walname(const char *name, uint64_t segsize, uint32_t *tli, uint64_t *segno)
{
	unsigned int t,
				hi,
				lo;

	if (strlen(name) != 24 || strspn(name, "0123456789ABCDEF") != 24)
		return false;
	if (sscanf(name, "%08X%08X%08X", &t, &hi, &lo) != 3)
		return false;
	*tli = t;
	*segno = (uint64_t) hi * (UINT64_C(0x100000000) / segsize) + lo;
	return true;
}

/* A timeline history file's name ("0000000A.history"): *tli. */
static bool
parse_historyname(const char *name, uint32_t *tli)
{
	unsigned int t;

	if (strlen(name) != 16 || strspn(name, "0123456789ABCDEF") != 8 ||
		strcmp(name + 8, ".history") != 0 || sscanf(name, "%08X", &t) != 1)
		return false;
	*tli = t;
	return true;
}

static uint64_t
segment_bytes(const char *datadir)
{
	char		v[64];

	if (ctl_controldata(datadir, "Bytes per WAL segment", v, sizeof(v)))
		return strtoull(v, NULL, 10);
	return 16 * 1024 * 1024;
}

/*
 * Step 5: pg_control and the node's WAL from segment first_seg to last_seg
 * (any timeline) and its history files, so that an interrupted pg_rewind
 * can be redone from the node's own view.
 */
static bool
save_wal_view(const char *datadir, const char *save, uint64_t first_seg, uint64_t last_seg,
			  uint64_t segsize)
{
	char		path[CTL_PATH_MAX * 2];
	char		to[CTL_PATH_MAX * 2];
	DIR		   *d;
	struct dirent *de;
	bool		ok = true;

	snprintf(path, sizeof(path), "%s/global/pg_control", datadir);
	snprintf(to, sizeof(to), "%s/pg_control", save);
	if (!copy_file_durable(path, to))
		return false;
	snprintf(path, sizeof(path), "%s/pg_wal", datadir);
	d = opendir(path);
	if (d == NULL)
		return false;
	while (ok && (de = readdir(d)) != NULL)
	{
		uint32_t	tli;
		uint64_t	segno;
		bool		history = parse_historyname(de->d_name, &tli);

		if (!history && (!parse_walname(de->d_name, segsize, &tli, &segno) ||
						 segno < first_seg || segno > last_seg))
			continue;
		snprintf(path, sizeof(path), "%s/pg_wal/%s", datadir, de->d_name);
		snprintf(to, sizeof(to), "%s/wal_%s", save, de->d_name);
		ok = copy_file_durable(path, to);
	}
	closedir(d);
	return ok;
}

/* Undo step 6 half-done: the node's pg_control and WAL as they were. */
static bool
restore_wal_view(const char *datadir, const char *save)
{
	char		path[CTL_PATH_MAX * 2];
	char		from[CTL_PATH_MAX * 2];
	DIR		   *d = opendir(save);
	struct dirent *de;
	bool		ok = true;

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL)
	{
		if (strncmp(de->d_name, "wal_", 4) != 0)
			continue;
		snprintf(from, sizeof(from), "%s/%s", save, de->d_name);
		snprintf(path, sizeof(path), "%s/pg_wal/%s", datadir, de->d_name + 4);
		ok = copy_file_durable(from, path) && ok;
	}
	closedir(d);
	snprintf(from, sizeof(from), "%s/pg_control", save);
	snprintf(path, sizeof(path), "%s/global/pg_control", datadir);
	if (access(from, F_OK) == 0)
		ok = copy_file_durable(from, path) && ok;
	snprintf(path, sizeof(path), "%s/backup_label", datadir);
	if (unlink(path) == 0)
		ctl_fsync_parent(path);
	return ok;
}

bool
ctl_rewind_recover(const char *datadir, bool *rewound)
{
	char		save[CTL_PATH_MAX];
	char		path[CTL_PATH_MAX * 2];
	char	   *state;

	save_dir_of(datadir, save, sizeof(save));
	snprintf(path, sizeof(path), "%s.tmp", save);
	ctl_remove_dir(path);		/* a save that never completed: nothing was changed yet */
	snprintf(path, sizeof(path), "%s/state", save);
	state = ctl_slurp(path, NULL);
	*rewound = false;
	if (state == NULL)
		return true;
	*rewound = strncmp(state, "rewound", 7) == 0;
	ctl_info("an earlier rewind of this node was interrupted (state %.*s); putting the node's own files back",
			 (int) strcspn(state, "\n"), state);
	if (strncmp(state, "rewinding", 9) == 0 && !restore_wal_view(datadir, save))
	{
		ctl_error("could not put back the WAL and pg_control saved in \"%s\"", save);
		free(state);
		return false;
	}
	free(state);
	if (!ctl_restore_node_files(datadir, save))
		return false;
	ctl_remove_dir(save);
	ctl_fsync_parent(save);
	return true;
}

/* ---- finding a source ---------------------------------------------------- */

typedef struct Candidate
{
	char		conninfo[512];
	bool		reachable;
	bool		primary;
	bool		leader;
	uint32_t	tli;			/* of its WAL: inserted (primary), received (standby) */
	uint32_t	ckpt_tli;		/* of the last checkpoint in its control file */
	char		why[256];		/* why it cannot be the source */
} Candidate;

static void
cand_add(Candidate *c, int *n, const char *conninfo)
{
	for (int i = 0; i < *n; i++)
		if (strcmp(c[i].conninfo, conninfo) == 0)
			return;
	if (*n < REWIND_CANDIDATES_MAX)
	{
		memset(&c[*n], 0, sizeof(Candidate));
		snprintf(c[*n].conninfo, sizeof(c[*n].conninfo), "%s", conninfo);
		(*n)++;
	}
}

/* The timeline of the last checkpoint (restartpoint) in conn's control file; 0 if unknown. */
static uint32_t
ckpt_timeline(PGconn *conn)
{
	PGresult   *r = PQexec(conn, "SELECT timeline_id FROM pg_control_checkpoint()");
	uint32_t	tli = 0;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		tli = (uint32_t) strtoul(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return tli;
}

/*
 * Probe one candidate.  own_tli: this node's timeline.  A candidate with WAL
 * past it whose control file is not (a primary promoted a moment ago, a
 * standby that has not made a restartpoint since it replayed a checkpoint of
 * the new timeline) is asked for a CHECKPOINT first, which brings its control
 * file up to what it has replayed.
 */
static void
cand_probe(Candidate *c, const char *sysid, uint32_t own_tli)
{
	char		ci[700];
	PGconn	   *conn;
	PGresult   *r;

	snprintf(ci, sizeof(ci), "%s connect_timeout=" REWIND_SOURCE_TIMEOUT_S " application_name=dcf_ctl",
			 c->conninfo);
	conn = PQconnectdb(ci);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		snprintf(c->why, sizeof(c->why), "%.*s", (int) strcspn(PQerrorMessage(conn), "\n"),
				 PQerrorMessage(conn));
		PQfinish(conn);
		return;
	}
	r = PQexec(conn,
			   "SELECT pg_is_in_recovery(), (SELECT system_identifier FROM pg_control_system())::text, "
			   "CASE WHEN pg_is_in_recovery() THEN COALESCE((SELECT received_tli FROM pg_stat_wal_receiver), "
			   "(SELECT timeline_id FROM pg_control_checkpoint())) "
			   "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		strcmp(PQgetvalue(r, 0, 1), sysid) == 0)
	{
		c->reachable = true;
		c->primary = strcmp(PQgetvalue(r, 0, 0), "f") == 0;
		c->tli = (uint32_t) strtoul(PQgetvalue(r, 0, 2), NULL, 10);
	}
	else if (PQresultStatus(r) != PGRES_TUPLES_OK)
		snprintf(c->why, sizeof(c->why), "%.*s", (int) strcspn(PQerrorMessage(conn), "\n"),
				 PQerrorMessage(conn));
	else
		snprintf(c->why, sizeof(c->why), "another cluster (system identifier %s)", PQgetvalue(r, 0, 1));
	PQclear(r);
	if (c->reachable && !c->primary)
	{
		/*
		 * A standby without a walreceiver at the moment (its leader gone)
		 * still has the history file of every timeline it received.
		 */
		r = PQexec(conn, "SELECT max(('x' || substr(name, 1, 8))::bit(32)::int) FROM pg_ls_waldir() "
				   "WHERE name ~ '^[0-9A-F]{8}\\.history$'");
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) &&
			strtoul(PQgetvalue(r, 0, 0), NULL, 10) > c->tli)
			c->tli = (uint32_t) strtoul(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	if (c->reachable)
	{
		c->ckpt_tli = ckpt_timeline(conn);
		if (c->tli > own_tli && c->ckpt_tli <= own_tli)
		{
			PQclear(PQexec(conn, "CHECKPOINT"));
			c->ckpt_tli = ckpt_timeline(conn);
		}
		r = PQexec(conn, "SELECT role FROM dcf_replication_info()");
		c->leader = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
			strcmp(PQgetvalue(r, 0, 0), "LEADER") == 0;
		PQclear(r);
	}
	PQfinish(conn);
}

typedef enum SourceResult
{
	SOURCE_FOUND,
	SOURCE_NONE,				/* no member with the cluster's WAL answers */
	SOURCE_STALE_ONLY			/* only standbys whose control file is not past own_tli */
} SourceResult;

/*
 * Step 3.  *out gets the chosen source's conninfo.  own_tli: this node's
 * timeline; a source's WAL and its control file's checkpoint must both be
 * past it.  SOURCE_NONE comes with a message; SOURCE_STALE_ONLY when the
 * only members with the cluster's WAL are standbys pg_rewind would take
 * for servers on this node's timeline (see the file header).
 */
static SourceResult
choose_source(const CtlStartOptions *o, const char *datadir, const char *dpath,
			  const char *marker, uint32_t own_tli, char *out, size_t cap)
{
	Candidate	c[REWIND_CANDIDATES_MAX];
	int			n = 0;
	char		path[CTL_PATH_MAX * 2];
	char		sysid[64] = "";
	char		self_id[32] = "";
	char	   *text;
	int			best = -1;
	time_t		start = time(NULL);
	bool		waited = false;
	int			stale;

	/*
	 * application_name dcf_ctl: a member that has not joined (a follower
	 * without a majority, say) refuses other logins.
	 */
	if (o->source_server)
	{
		snprintf(out, cap, "%s%s", o->source_server,
				 strstr(o->source_server, "application_name") ? "" : " application_name=dcf_ctl");
		return SOURCE_FOUND;
	}
	if (!ctl_controldata(datadir, "Database system identifier", sysid, sizeof(sysid)))
	{
		ctl_error("could not read the system identifier of \"%s\" with pg_controldata", datadir);
		return SOURCE_NONE;
	}
	ctl_setting(datadir, "dcf.node_id", self_id, sizeof(self_id));
	if (marker)
	{
		char	   *s = ctl_marker_value(marker, "source");

		if (s)
			cand_add(c, &n, s);
		free(s);
	}
	snprintf(path, sizeof(path), "%s/pg_endpoints", dpath);
	text = ctl_slurp(path, NULL);
	if (text)
	{
		char	   *line,
				   *sp = NULL;

		for (line = strtok_r(text, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp))
		{
			char		id[32],
						host[256],
						port[16];
			char		ci[512];

			if (sscanf(line, "%31s %255s %15s", id, host, port) != 3 || strcmp(id, self_id) == 0)
				continue;
			snprintf(ci, sizeof(ci), "host=%s port=%s dbname=postgres", host, port);
			cand_add(c, &n, ci);
		}
		free(text);
	}
probe:
	best = -1;
	stale = 0;
	for (int i = 0; i < n; i++)
	{
		c[i].reachable = c[i].primary = c[i].leader = false;
		c[i].tli = c[i].ckpt_tli = 0;
		c[i].why[0] = '\0';
		cand_probe(&c[i], sysid, own_tli);
		if (!c[i].reachable || c[i].tli <= own_tli)
			continue;
		if (c[i].ckpt_tli <= own_tli)
		{
			stale++;
			continue;
		}
		if (best < 0 ||
			(c[i].leader && c[i].primary) > (c[best].leader && c[best].primary) ||
			((c[i].leader && c[i].primary) == (c[best].leader && c[best].primary) &&
			 (c[i].primary > c[best].primary ||
			  (c[i].primary == c[best].primary && c[i].tli > c[best].tli))))
			best = i;
	}
	if (best < 0 && time(NULL) < start + (stale ? REWIND_STALE_WAIT_S : REWIND_SOURCE_WAIT_S))
	{
		if (!waited)
			ctl_info("no member with the cluster's WAL answers yet; trying again for up to %d s",
					 stale ? REWIND_STALE_WAIT_S : REWIND_SOURCE_WAIT_S);
		waited = true;
		sleep(2);
		goto probe;
	}
	if (best < 0 && stale)
	{
		for (int i = 0; i < n; i++)
			if (c[i].reachable && c[i].tli > own_tli)
				ctl_info("%s has the cluster's WAL (timeline %u) but its last checkpoint is on timeline %u, not past this node's %u: pg_rewind cannot use it yet",
						 c[i].conninfo, c[i].tli, c[i].ckpt_tli, own_tli);
		return SOURCE_STALE_ONLY;
	}
	if (best < 0)
	{
		ctl_error("no member with the cluster's WAL answered (%d tried: the leader recorded when the node was stopped and the members in \"%s\")",
				  n, path);
		for (int i = 0; i < n; i++)
			fprintf(stderr, "dcf_ctl:   %s: %s\n", c[i].conninfo,
					!c[i].reachable ? c[i].why : "not past this node's timeline");
		fprintf(stderr, "dcf_ctl: hint: start a member of the cluster, or give the source with --source-server=CONNINFO\n");
		return SOURCE_NONE;
	}
	snprintf(out, cap, "%s application_name=dcf_ctl", c[best].conninfo);
	ctl_info("rewind source: %s (%s, timeline %u)", c[best].conninfo,
			 c[best].primary ? (c[best].leader ? "the leader" : "a primary") : "a standby with the cluster's WAL",
			 c[best].ckpt_tli);
	return SOURCE_FOUND;
}

/*
 * Before a start with the rewind deferred: remove from pg_wal the history
 * files of timelines past own_tli.  The node fetched the cluster's newer
 * timeline's history when it diverged; with it, recovery (which dcf points at
 * the latest timeline) would target that timeline, which is not a child of
 * the node's history, and refuse to start.  Without it the node recovers on
 * its own timeline; its walreceiver fetches the file again from its feeder,
 * which recovery then only logs ("forked off ... before current recovery
 * point").  Every member's feeder serves it, and pg_rewind takes the
 * source's.
 */
static bool
drop_newer_histories(const char *datadir, uint32_t own_tli)
{
	char		dir[CTL_PATH_MAX + 8];
	DIR		   *d;
	struct dirent *de;
	bool		ok = true;

	snprintf(dir, sizeof(dir), "%s/pg_wal", datadir);
	d = opendir(dir);
	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL)
	{
		char		path[CTL_PATH_MAX * 2];
		uint32_t	tli;

		if (!parse_historyname(de->d_name, &tli) || tli <= own_tli)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) != 0)
			ok = false;
		else
			ctl_info("removed %s: the history of timeline %u, past this node's, is fetched again from the cluster",
					 path, tli);
	}
	closedir(d);
	return ctl_fsync_dir(dir) && ok;
}

/* ---- pg_rewind ----------------------------------------------------------- */

/*
 * pg_rewind takes the timeline of the rewound node's minimum recovery point
 * from the source's last checkpoint.  A leader promoted a moment ago has not
 * finished the checkpoint its promotion requested, so that would be the old
 * timeline, and the rewound node could then never start ("requested
 * timeline N does not contain minimum recovery point ... on timeline M").
 * A CHECKPOINT on the source first avoids that.  Failing it is only a
 * warning: pg_rewind may still work, and says so if not.
 */
static void
checkpoint_source(const char *source)
{
	PGconn	   *c = PQconnectdb(source);
	PGresult   *r;

	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "dcf_ctl: warning: could not connect to the source for a checkpoint: %s",
				PQerrorMessage(c));
		PQfinish(c);
		return;
	}
	r = PQexec(c, "CHECKPOINT");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "dcf_ctl: warning: CHECKPOINT on the source failed: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

typedef struct RewindRun
{
	int			rc;
	bool		no_rewind;		/* "no rewind required" */
	bool		wal_missing;	/* could not read the node's own WAL */
	bool		have_fork;
	uint64_t	fork_lsn;		/* where the histories diverged */
	uint32_t	fork_tli;		/* on this timeline of the node */
	bool		have_chkpt;
	uint64_t	chkpt_lsn;		/* the last common checkpoint */
	char		first_error[512];
} RewindRun;

static void
rewind_exec(const char *datadir, const char *source, bool dry_run, bool restore_wal, RewindRun *res)
{
	char		prog[CTL_PATH_MAX];
	char		target_opt[CTL_PATH_MAX + 32];
	char	   *source_opt = malloc(strlen(source) + 32);
	char	   *out = malloc(REWIND_OUTPUT_BYTES);
	char	   *argv[8];
	int			a = 0;
	const char *p;

	memset(res, 0, sizeof(*res));
	ctl_bin_path(prog, sizeof(prog), "pg_rewind");
	snprintf(target_opt, sizeof(target_opt), "--target-pgdata=%s", datadir);
	sprintf(source_opt, "--source-server=%s", source);
	argv[a++] = prog;
	argv[a++] = target_opt;
	argv[a++] = source_opt;
	if (dry_run)
		argv[a++] = "--dry-run";
	if (restore_wal)
		argv[a++] = "--restore-target-wal";
	argv[a] = NULL;
	ctl_info("running pg_rewind%s%s from %s", dry_run ? " --dry-run" : "",
			 restore_wal ? " --restore-target-wal" : "", source);
	res->rc = ctl_run_output(argv, true, true, out, REWIND_OUTPUT_BYTES);
	res->no_rewind = strstr(out, "no rewind required") != NULL;
	if ((p = strstr(out, "servers diverged at WAL location ")) != NULL)
	{
		unsigned int hi,
					lo,
					tli;

		if (sscanf(p, "servers diverged at WAL location %X/%X on timeline %u", &hi, &lo, &tli) == 3)
		{
			res->have_fork = true;
			res->fork_lsn = ((uint64_t) hi << 32) | lo;
			res->fork_tli = tli;
		}
	}
	if ((p = strstr(out, "rewinding from last common checkpoint at ")) != NULL)
	{
		unsigned int hi,
					lo;

		if (sscanf(p, "rewinding from last common checkpoint at %X/%X", &hi, &lo) == 2)
		{
			res->have_chkpt = true;
			res->chkpt_lsn = ((uint64_t) hi << 32) | lo;
		}
	}
	res->wal_missing = res->rc != 0 &&
		(strstr(out, "could not find previous WAL record") != NULL ||
		 (strstr(out, "could not open file") != NULL && strstr(out, "/pg_wal/") != NULL) ||
		 strstr(out, "could not restore file") != NULL ||
		 strstr(out, "could not read WAL record") != NULL ||
		 strstr(out, "could not find WAL file") != NULL);
	if ((p = strstr(out, "error: ")) != NULL)
		snprintf(res->first_error, sizeof(res->first_error), "%.*s", (int) strcspn(p + 7, "\n"), p + 7);
	free(out);
	free(source_opt);
}

/*
 * Step 6b: no WAL of the old timeline past the fork stays in pg_wal (see
 * the file header).  The segment holding the fork keeps its bytes before
 * the fork; later segments of that timeline go.
 */
static bool
cut_old_timeline(const char *datadir, uint32_t tli, uint64_t fork, uint64_t segsize)
{
	char		path[CTL_PATH_MAX * 2];
	DIR		   *d;
	struct dirent *de;
	uint64_t	fork_seg = fork / segsize;
	uint64_t	off = fork % segsize;
	bool		ok = true;
	static char zeros[65536];

	snprintf(path, sizeof(path), "%s/pg_wal", datadir);
	d = opendir(path);
	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL)
	{
		uint32_t	t;
		uint64_t	segno;

		if (!parse_walname(de->d_name, segsize, &t, &segno) || t != tli || segno < fork_seg)
			continue;
		snprintf(path, sizeof(path), "%s/pg_wal/%s", datadir, de->d_name);
		if (segno > fork_seg || off == 0)
		{
			ctl_info("removing %s: WAL of timeline %u past the fork at %X/%X", de->d_name, tli,
					 (unsigned) (fork >> 32), (unsigned) fork);
			if (unlink(path) != 0)
				ok = false;
			continue;
		}
		{
			int			fd = open(path, O_WRONLY);
			uint64_t	pos = off;

			if (fd < 0)
			{
				ok = false;
				continue;
			}
			ctl_info("clearing %s past the fork at %X/%X (timeline %u)", de->d_name,
					 (unsigned) (fork >> 32), (unsigned) fork, tli);
			while (pos < segsize)
			{
				size_t		n = (size_t) (segsize - pos < sizeof(zeros) ? segsize - pos : sizeof(zeros));

				if (pwrite(fd, zeros, n, (off_t) pos) != (ssize_t) n)
				{
					ok = false;
					break;
				}
				pos += n;
			}
			if (fsync(fd) != 0)
				ok = false;
			close(fd);
		}
	}
	closedir(d);
	snprintf(path, sizeof(path), "%s/pg_wal", datadir);
	return ctl_fsync_dir(path) && ok;
}

/* Step 2: pg_rewind needs a cleanly shut down target; do its crash recovery. */
static bool
ensure_clean_shutdown(const char *datadir)
{
	char		state[128];
	char		postgres[CTL_PATH_MAX];
	char	   *out;
	int			rc;

	if (!ctl_controldata(datadir, "Database cluster state", state, sizeof(state)))
	{
		ctl_error("could not read pg_control of \"%s\" with pg_controldata", datadir);
		return false;
	}
	if (strcmp(state, "shut down") == 0 || strcmp(state, "shut down in recovery") == 0)
		return true;
	ctl_info("the node was not shut down cleanly (%s): running crash recovery in single-user mode", state);
	ctl_bin_path(postgres, sizeof(postgres), "postgres");
	{
		char	   *argv[] = {postgres, "--single", "-F", "-D", (char *) datadir, "template1", NULL};

		out = malloc(REWIND_OUTPUT_BYTES);
		rc = ctl_run_output(argv, true, false, out, REWIND_OUTPUT_BYTES);
	}
	if (rc != 0)
	{
		fputs(out, stderr);
		ctl_error("single-user crash recovery of \"%s\" failed (exit status %d)", datadir, rc);
	}
	free(out);
	return rc == 0;
}

/* A restore_command of `dcf_ctl restore-wal`, in postgresql.auto.conf (saved before). */
static bool
arm_restore_command(const char *datadir, const char *dpath, const char *save, const char *source,
					uint64_t segsize)
{
	char		path[CTL_PATH_MAX * 2];
	char		self[CTL_PATH_MAX];
	char	   *conf;
	size_t		len = 0;
	char	   *line;
	bool		ok;

	snprintf(path, sizeof(path), "%s/source", save);
	if (!ctl_write_durable(path, source, strlen(source), 0600))
		return false;
	ctl_bin_path(self, sizeof(self), "dcf_ctl");
	snprintf(path, sizeof(path), "%s/postgresql.auto.conf", datadir);
	conf = ctl_slurp(path, &len);
	line = malloc(len + 3 * CTL_PATH_MAX + 256);
	sprintf(line, "%s\n# dcf_ctl start: for pg_rewind --restore-target-wal only; removed after the rewind\n"
			"restore_command = '\"%s\" restore-wal --data-path=\"%s\" --source-file=\"%s/source\" --segment-bytes=%" PRIu64 " %%f %%p'\n",
			conf ? conf : "", self, dpath, save, segsize);
	ok = ctl_write_durable(path, line, strlen(line), 0600);
	free(line);
	free(conf);
	return ok;
}

static void
write_rebuild_marker(const char *dpath, const char *why)
{
	char		path[CTL_PATH_MAX];
	char		text[1024];

	snprintf(path, sizeof(path), "%s/" CTL_REBUILD_MARKER, dpath);
	snprintf(text, sizeof(text), "reason=%s\n", why);
	ctl_write_durable(path, text, strlen(text), 0600);
}

CtlRewindResult
ctl_rewind(const CtlStartOptions *o, const char *datadir, const char *dpath, const char *marker)
{
	char		save[CTL_PATH_MAX];
	char		path[CTL_PATH_MAX * 2];
	char		source[600];
	char		v[128];
	char	   *reason = marker ? ctl_marker_value(marker, "reason") : NULL;
	uint32_t	own_tli = 0;
	uint64_t	segsize = segment_bytes(datadir);
	uint64_t	end_lsn = 0;
	bool		restore_wal = false;
	bool		keep_save = false;
	RewindRun	dry,
				real;
	CtlRewindResult result = CTL_REWIND_FAILED;

	ctl_info("%s", reason ? reason : "this node's WAL diverged from the cluster");
	free(reason);
	save_dir_of(datadir, save, sizeof(save));

	/* 1 */
	if (!ctl_save_node_files(datadir, save))
		return CTL_REWIND_FAILED;
	/* single-user recovery and pg_rewind's own refuse standby mode */
	snprintf(path, sizeof(path), "%s/standby.signal", datadir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/recovery.signal", datadir);
	unlink(path);

	/* 2 */
	if (!ensure_clean_shutdown(datadir))
		goto out_restore;
	if (ctl_controldata(datadir, "Latest checkpoint's TimeLineID", v, sizeof(v)))
		own_tli = (uint32_t) strtoul(v, NULL, 10);
	if (ctl_controldata(datadir, "Latest checkpoint location", v, sizeof(v)))
		ctl_parse_lsn(v, &end_lsn);

	/* 3, 4 */
	switch (choose_source(o, datadir, dpath, marker, own_tli, source, sizeof(source)))
	{
		case SOURCE_FOUND:
			break;
		case SOURCE_STALE_ONLY:
			if (!drop_newer_histories(datadir, own_tli))
			{
				ctl_error("could not remove the history files of newer timelines from \"%s/pg_wal\"", datadir);
				goto out_restore;
			}
			ctl_info("rewind deferred: starting the node as it is; it refuses logins and votes, so that a member with the cluster's WAL can be elected, and stops for its rewind once a leader on the cluster's newest timeline leads");
			result = CTL_REWIND_DEFERRED;
			goto out_restore;
		case SOURCE_NONE:
			goto out_restore;
	}
	checkpoint_source(source);
	rewind_exec(datadir, source, true, false, &dry);
	if (dry.rc != 0 && dry.wal_missing)
	{
		ctl_info("this node no longer has its WAL back to the last common checkpoint; supplying it from its consensus log or the source");
		if (!arm_restore_command(datadir, dpath, save, source, segsize))
		{
			ctl_error("could not set a restore_command in \"%s/postgresql.auto.conf\"", datadir);
			goto out_restore;
		}
		restore_wal = true;
		rewind_exec(datadir, source, true, true, &dry);
		if (dry.rc != 0 && dry.wal_missing)
		{
			char		why[800];

			snprintf(why, sizeof(why),
					 "pg_rewind cannot read this node's WAL back to the last common checkpoint, and neither its consensus log nor the source has it (%s)",
					 dry.first_error[0] ? dry.first_error : "see the output above");
			write_rebuild_marker(dpath, why);
			ctl_error("this node cannot be rewound: %s", why);
			fprintf(stderr, "dcf_ctl: hint: rebuild it from the cluster with dcf_ctl build -D %s; dcf_ctl start refuses it until then (\"%s/" CTL_REBUILD_MARKER "\")\n",
					datadir, dpath);
			result = CTL_REWIND_IMPOSSIBLE;
			goto out_restore;
		}
	}
	if (dry.rc != 0)
	{
		ctl_error("pg_rewind --dry-run failed (exit status %d)%s%s; nothing was changed, the node was not started",
				  dry.rc, dry.first_error[0] ? ": " : "", dry.first_error);
		goto out_restore;
	}
	if (dry.no_rewind)
	{
		ctl_info("pg_rewind says no rewind is required");
		result = CTL_REWIND_OK;
		goto out_restore;
	}

	/* 5 */
	if (dry.have_chkpt && end_lsn >= dry.chkpt_lsn)
	{
		if (!save_wal_view(datadir, save, dry.chkpt_lsn / segsize, end_lsn / segsize + 1, segsize) ||
			!set_state(save, "rewinding"))
		{
			ctl_error("could not save this node's WAL and pg_control in \"%s\"", save);
			goto out_restore;
		}
	}
	else if (!set_state(save, "rewinding"))
		goto out_restore;

	/* 6 */
	ctl_inject("before_rewind");
	rewind_exec(datadir, source, false, restore_wal, &real);
	if (real.rc != 0)
	{
		ctl_error("pg_rewind failed (exit status %d)%s%s; the node was not started",
				  real.rc, real.first_error[0] ? ": " : "", real.first_error);
		if (!restore_wal_view(datadir, save))
		{
			ctl_error("could not put back this node's WAL and pg_control from \"%s\"", save);
			keep_save = true;
		}
		goto out_restore;
	}
	if (real.have_fork && !cut_old_timeline(datadir, real.fork_tli, real.fork_lsn, segsize))
	{
		ctl_error("could not remove WAL of timeline %u past the fork from \"%s/pg_wal\"", real.fork_tli, datadir);
		if (!restore_wal_view(datadir, save))
		{
			ctl_error("could not put back this node's WAL and pg_control from \"%s\"", save);
			keep_save = true;
		}
		goto out_restore;
	}
	if (!set_state(save, "rewound"))
		goto out_restore;
	ctl_inject("mid_rewind");
	result = CTL_REWIND_OK;

	/* 7 (and every way out) */
out_restore:
	if (keep_save)
	{
		/* the next start redoes it from what is saved (state "rewinding") */
		ctl_error("what the next dcf_ctl start needs to redo the rewind is in \"%s\"", save);
		return CTL_REWIND_FAILED;
	}
	if (!ctl_restore_node_files(datadir, save))
	{
		ctl_error("the node's own configuration is still saved in \"%s\"; the next dcf_ctl start puts it back", save);
		return CTL_REWIND_FAILED;
	}
	ctl_remove_dir(save);
	ctl_fsync_parent(save);
	if (result == CTL_REWIND_OK || result == CTL_REWIND_DEFERRED)
	{
		/* deferred: its worker writes it again when it stops the node for the rewind */
		snprintf(path, sizeof(path), "%s/rewind_needed", dpath);
		unlink(path);
		if (result == CTL_REWIND_OK)
		{
			snprintf(path, sizeof(path), "%s/fenced", dpath);
			unlink(path);
		}
		ctl_fsync_dir(dpath);
	}
	if (result == CTL_REWIND_OK)
		ctl_info("rewind complete");
	return result;
}
