/*
 * test_storage_logdump.c — `dcf_ctl log-dump` (tools/ctl_logdump.c, compiled
 * into this test): its output is parsed back and compared with the log
 * that was written (metadata, segments, every entry's index, term, type,
 * key and length), the -D / --data-path resolution, --from/--count/
 * --summary, the verdict lines and exit status for a torn and a corrupt
 * log, that it never changes a file, and usage errors.
 */
#include "../../tools/ctl_logdump.c"

#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define NENTRIES 40

static char tmproot[256];
static char output[1 << 20];

static uint64_t
key_of(uint64_t i)
{
	return 0x100000000ULL * 3 + i * 8192;
}

/* Runs dcf_ctl_logdump with stdout captured into output[]; returns its status. */
static int
run(int argc, char **argv)
{
	char		path[300];
	int			save;
	int			save_err;
	int			fd;
	int			rc;
	ssize_t		n;

	snprintf(path, sizeof(path), "%s/out.txt", tmproot);
	fflush(stdout);
	fflush(stderr);
	save = dup(1);
	save_err = dup(2);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 1);
	dup2(fd, 2);
	rc = dcf_ctl_logdump(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(save, 1);
	dup2(save_err, 2);
	close(save);
	close(save_err);
	n = pread(fd, output, sizeof(output) - 1, 0);
	output[n > 0 ? n : 0] = '\0';
	close(fd);
	return rc;
}

static void
make_log(const char *dir)
{
	dcf_log_options o;
	dcf_log    *log;
	char		err[DCF_ERRMSG_MAX];
	static uint8_t p[3000];
	uint8_t		memb[34];
	dcf_meta	m;

	dcf_log_options_init(&o);
	o.segment_bytes = 16384;
	if (dcf_log_open(dir, &o, &log, err) != DCF_OK)
	{
		CHECK(0, "open %s: %s", dir, err);
		return;
	}
	memset(memb, 7, sizeof(memb));
	memset(&m, 0, sizeof(m));
	m.term = 5;
	m.voted_for = 2;
	m.applied_index = 17;
	m.membership = memb;
	m.membership_len = sizeof(memb);
	dcf_log_save_meta(log, &m, err);
	for (uint64_t i = 1; i <= NENTRIES; i++)
	{
		dcf_log_entry e = {i, 1 + i / 10, key_of(i), (uint8_t) (i % 3), (uint32_t) (i * 71), p};

		dcf_log_append(log, &e, 1, err);
		if (i % 8 == 0)
			dcf_log_sync(log, NULL, err);
	}
	dcf_log_close(log, err);
}

/* Parses entry lines; checks every entry once, with the right fields. */
static int
entries_in_output(uint64_t lo, uint64_t hi, int *others)
{
	char	   *line = output;
	int			seen[NENTRIES + 1];
	int			bad = 0;

	memset(seen, 0, sizeof(seen));
	*others = 0;
	while (line && *line)
	{
		char	   *nl = strchr(line, '\n');
		uint64_t	index;
		uint64_t	term;
		uint64_t	off;
		unsigned	type;
		unsigned	len;
		unsigned	hi32;
		unsigned	lo32;

		if (nl)
			*nl = '\0';
		if (sscanf(line, " %" SCNu64 " %" SCNu64 " %u %X/%X %u %" SCNu64, &index, &term, &type, &hi32, &lo32, &len, &off) == 7)
		{
			uint64_t	key = ((uint64_t) hi32 << 32) | lo32;

			if (index < lo || index > hi || index > NENTRIES)
				(*others)++;
			else if (seen[index]++ || term != 1 + index / 10 || type != index % 3 ||
					 key != key_of(index) || len != index * 71)
				bad = 1;
		}
		if (nl)
			*nl = '\n';
		line = nl ? nl + 1 : NULL;
	}
	for (uint64_t i = lo; i <= hi; i++)
		if (seen[i] != 1)
			bad = 1;
	return !bad;
}

static uint64_t
dir_bytes(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	uint64_t	sum = 0;
	char		p[600];
	struct stat st;

	while (d && (de = readdir(d)) != NULL)
	{
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t) st.st_size * 31 + (uint64_t) st.st_mtime;
	}
	if (d)
		closedir(d);
	return sum;
}

static void
rm_rf(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	char		p[1024];

	while (d && (de = readdir(d)) != NULL)
	{
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");
	char		pgdata[300];
	char		dir[400];
	char		seg[500];
	int			others = 0;
	int			rc;

	snprintf(tmproot, sizeof(tmproot), "%s/dcf-test-logdump-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(tmproot) == NULL)
	{
		printf("not ok - mkdtemp\n");
		return 1;
	}
	snprintf(pgdata, sizeof(pgdata), "%s/pgdata", tmproot);
	mkdir(pgdata, 0700);
	snprintf(dir, sizeof(dir), "%s/dcf_data", pgdata);
	make_log(dir);

	{
		char	   *argv[] = {"log-dump", "--data-path", dir, NULL};

		rc = run(3, argv);
	}
	CHECK(rc == 0, "log-dump --data-path exits 0 on a clean log");
	CHECK(strstr(output, "term 5, voted_for 2, applied_index 17") && strstr(output, "membership 34 bytes") &&
		  strstr(output, "first_index 1, term before it 0"), "metadata printed");
	CHECK(strstr(output, "segment 00000000000000000001.seg") && strstr(output, "segments: "),
		  "segments listed by name");
	CHECK(entries_in_output(1, NENTRIES, &others) && others == 0,
		  "every entry printed once with its index, term, type, key (as an LSN) and length");
	CHECK(strstr(output, "mark: clean shutdown, durable through index 40") != NULL, "the close mark is shown");
	CHECK(strstr(output, "log: clean, entries [1, 40], durable through 40") != NULL, "verdict: clean");

	{
		char	   *argv[] = {"log-dump", "-D", pgdata, NULL};

		rc = run(3, argv);
		CHECK(rc == 0 && strstr(output, "log directory: ") && strstr(output, "/pgdata/dcf_data\n") &&
			  entries_in_output(1, NENTRIES, &others), "-D DATADIR reads DATADIR/dcf_data");
	}
	{
		char	   *argv[] = {"log-dump", "-D", "/nonexistent", "--data-path", dir, NULL};

		rc = run(5, argv);
		CHECK(rc == 0 && entries_in_output(1, NENTRIES, &others), "--data-path wins over -D");
	}
	{
		char	   *argv[] = {"log-dump", "--data-path", dir, "--from=5", "--count", "3", NULL};

		rc = run(6, argv);
		CHECK(rc == 0 && entries_in_output(5, 7, &others) && others == 0, "--from 5 --count 3 prints entries 5..7 only");
	}
	{
		char	   *argv[] = {"log-dump", "--summary", "--data-path", dir, NULL};

		rc = run(4, argv);
		CHECK(rc == 0 && entries_in_output(1, 0, &others) && others == 0 && strstr(output, "entries [1, "),
			  "--summary prints segment summaries, no entries");
	}

	/* a torn tail: cut the newest segment inside its last entry */
	{
		char	   *argv[] = {"log-dump", "--data-path", dir, NULL};
		DIR		   *d = opendir(dir);
		struct dirent *de;
		char		newest[300] = "";
		struct stat st;
		uint64_t	before;

		while (d && (de = readdir(d)) != NULL)
			if (strstr(de->d_name, ".seg") && strcmp(de->d_name, newest) > 0)
				snprintf(newest, sizeof(newest), "%s", de->d_name);
		if (d)
			closedir(d);
		snprintf(seg, sizeof(seg), "%s/%s", dir, newest);
		/* data ends at the mark; cut inside the entry before it (40, 2840 bytes) */
		{
			char	   *s2[] = {"log-dump", "--data-path", dir, "--from=40", NULL};
			char	   *p;
			uint64_t	off40 = 0;

			run(4, s2);
			p = strstr(output, "\n            40 ");
			if (p)
				sscanf(p, " %*u %*u %*u %*s %*u %" SCNu64, &off40);
			stat(seg, &st);
			CHECK(off40 > 0 && truncate(seg, (off_t) (off40 + 1000)) == 0, "cut %s inside entry 40 (offset %" PRIu64 ")",
				  newest, off40);
		}
		/* as a crash leaves it: the metadata has no durable mark from a close */
		{
			dcf_meta	m;
			uint8_t    *mb = NULL;
			char		e2[DCF_ERRMSG_MAX];

			CHECK(dcf_meta_read(dcf_io_posix(), dir, &m, &mb, e2) == DCF_OK && m.durable_index == NENTRIES &&
				  (m.durable_index = 0, dcf_meta_write(dcf_io_posix(), dir, &m, e2) == DCF_OK),
				  "the clean close recorded mark %d; set back to 0 as a crash would leave it", NENTRIES);
			free(mb);
		}
		before = dir_bytes(dir);
		rc = run(3, argv);
		CHECK(rc == 0 && strstr(output, "!! offset ") && strstr(output, "file ends inside a record payload") &&
			  strstr(output, "log: torn tail in ") && strstr(output, "(entry 40: file ends inside a record payload); the node cuts it at its next start, keeping [1, 39]"),
			  "torn tail: shown where it is, verdict says what the node will cut");
		CHECK(dir_bytes(dir) == before, "log-dump changed no file");
	}

	/* corruption in the middle of the first segment */
	{
		char	   *argv[] = {"log-dump", "--data-path", dir, NULL};
		int			fd;
		uint8_t		b = 0;

		snprintf(seg, sizeof(seg), "%s/00000000000000000001.seg", dir);
		fd = open(seg, O_RDWR);
		/* entry 2's payload: header at 32 + frame(71) = 160, payload at 216 */
		if (pread(fd, &b, 1, 216 + 5) == 1)
		{
			b ^= 1;
			if (pwrite(fd, &b, 1, 216 + 5) != 1)
				CHECK(0, "pwrite");
		}
		close(fd);
		rc = run(3, argv);
		CHECK(rc == 1 && strstr(output, "!! offset 160: payload checksum mismatch") &&
			  strstr(output, "log: DAMAGED: entries from 2 on are damaged or missing though index ") &&
			  strstr(output, "00000000000000000001.seg: payload checksum mismatch); the node keeps [1, 1] and fetches the rest from the leader"),
			  "damage to durable entries: exit 1, shown at its offset, verdict DAMAGED with the repair");
		CHECK(entries_in_output(1, 1, &others), "entries before the damage are still printed");
	}

	{
		char	   *a1[] = {"log-dump", NULL};
		char	   *a2[] = {"log-dump", "--bogus", NULL};
		char	   *a3[] = {"log-dump", "--help", NULL};
		char	   *a4[] = {"log-dump", "--data-path", dir, "--count=x", NULL};

		CHECK(run(1, a1) == 2 && strstr(output, "give the log directory with --data-path, or the data directory with -D"),
			  "no directory: usage error (2) saying what to give");
		CHECK(run(2, a2) == 2 && strstr(output, "Usage:"), "unknown option: usage error (2)");
		CHECK(run(2, a3) == 0 && strstr(output, "Usage:"), "--help prints usage, exits 0");
		CHECK(run(4, a4) == 2 && strstr(output, "invalid number \"x\""), "a bad number: usage error (2)");
	}
	{
		char		missing[400];
		char	   *argv[] = {"log-dump", "--data-path", missing, NULL};

		snprintf(missing, sizeof(missing), "%s/none", tmproot);
		CHECK(run(3, argv) == 1 && strstr(output, "No such file or directory"), "a missing directory: exit 1");
	}

	rm_rf(dir);
	rmdir(pgdata);
	{
		char		out[300];

		snprintf(out, sizeof(out), "%s/out.txt", tmproot);
		unlink(out);
	}
	rmdir(tmproot);
	return unit_done();
}
