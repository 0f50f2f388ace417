/*
 * storage_bench.c — append throughput of the consensus log with group
 * commit, against a plain sequential write + fdatasync of the same bytes,
 * measured in the same run on the same file system.
 *
 * One "batch" is B entries of E bytes (default 64 x 8 kB = 512 kB):
 *   baseline  write() the B*E bytes at the end of a plain file, fdatasync();
 *   log       dcf_log_append() the B entries, dcf_log_sync().
 * The two run interleaved batch by batch (baseline then log, then log then
 * baseline, ...), each into its own fresh file or directory per round, so
 * that the noise of a shared machine (other builds, the page cache, the
 * journal) falls on both alike.  Per round the ratio is baseline time / log
 * time for the same payload; the result is the median over rounds
 * (target: >= 0.8).  Two more pairs, for information: the log without
 * preallocation, and a baseline writing into a preallocated file.
 *
 * usage: storage_bench [-d DIR] [-e ENTRY_BYTES] [-b BATCH] [-m MB_PER_ROUND] [-r ROUNDS]
 */
#define _GNU_SOURCE
#include "storage/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BENCH_ROUNDS_MAX 64

typedef struct stream
{
	int			is_log;
	int			prealloc;
	char		path[4096];
	/* plain file */
	int			fd;
	/* log */
	dcf_log    *log;
	dcf_log_entry *e;
	uint64_t	index;
	/* time spent, seconds */
	double		write_s;
	double		sync_s;
} stream;

static const uint8_t *payload;
static size_t entry_bytes = 8192;
static int	batch = 64;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "storage_bench: %s: %s\n", what, detail);
	exit(1);
}

static void
rm_rf(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	char		p[8192];

	while (d && (de = readdir(d)) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) < (int) sizeof(p))
			unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static void
stream_open(stream *s, const char *dir, const char *name, int is_log, int prealloc, int batches)
{
	char		err[DCF_ERRMSG_MAX];

	memset(s, 0, sizeof(*s));
	s->is_log = is_log;
	s->prealloc = prealloc;
	snprintf(s->path, sizeof(s->path), "%s/%s", dir, name);
	if (is_log)
	{
		dcf_log_options o;

		rm_rf(s->path);
		dcf_log_options_init(&o);
		o.preallocate = prealloc;
		if (dcf_log_open(s->path, &o, &s->log, err) != DCF_OK)
			die("open", err);
		s->e = calloc((size_t) batch, sizeof(dcf_log_entry));
		s->index = 1;
	}
	else
	{
		unlink(s->path);
		s->fd = open(s->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (s->fd < 0)
			die(s->path, strerror(errno));
		if (prealloc)
		{
			if (fallocate(s->fd, 0, 0, (off_t) entry_bytes * batch * batches) < 0)
				die("fallocate", strerror(errno));
			fdatasync(s->fd);
		}
	}
}

/* One batch: write it, then make it durable. */
static void
stream_step(stream *s)
{
	double		t0 = now_s();
	double		t1;
	char		err[DCF_ERRMSG_MAX];

	if (s->is_log)
	{
		uint64_t	durable = 0;

		for (int i = 0; i < batch; i++, s->index++)
		{
			s->e[i].index = s->index;
			s->e[i].term = 1;
			s->e[i].key = s->index * entry_bytes;
			s->e[i].type = 1;
			s->e[i].len = (uint32_t) entry_bytes;
			s->e[i].data = payload + (size_t) i * entry_bytes;
		}
		if (dcf_log_append(s->log, s->e, (size_t) batch, err) != DCF_OK)
			die("append", err);
		t1 = now_s();
		if (dcf_log_sync(s->log, &durable, err) != DCF_OK)
			die("sync", err);
		if (durable != s->index - 1)
			die("sync", "durable index does not cover the batch");
	}
	else
	{
		size_t		total = entry_bytes * (size_t) batch;
		size_t		done = 0;

		while (done < total)
		{
			ssize_t		n = write(s->fd, payload + done, total - done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				die("write", strerror(errno));
			done += (size_t) n;
		}
		t1 = now_s();
		if (fdatasync(s->fd) < 0)
			die("fdatasync", strerror(errno));
	}
	s->write_s += t1 - t0;
	s->sync_s += now_s() - t1;
}

static void
stream_close(stream *s)
{
	char		err[DCF_ERRMSG_MAX];

	if (s->is_log)
	{
		dcf_log_close(s->log, err);
		rm_rf(s->path);
		free(s->e);
	}
	else
	{
		close(s->fd);
		unlink(s->path);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double
median(const double *v, int n)
{
	double		s[BENCH_ROUNDS_MAX];

	memcpy(s, v, (size_t) n * sizeof(double));
	qsort(s, (size_t) n, sizeof(double), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

typedef struct pair_result
{
	double		ratio[BENCH_ROUNDS_MAX];	/* baseline time / log time */
	double		base_mbs[BENCH_ROUNDS_MAX];
	double		log_mbs[BENCH_ROUNDS_MAX];
	double		base_w_ms[BENCH_ROUNDS_MAX];
	double		base_s_ms[BENCH_ROUNDS_MAX];
	double		log_w_ms[BENCH_ROUNDS_MAX];
	double		log_s_ms[BENCH_ROUNDS_MAX];
} pair_result;

/* Baseline and log interleaved batch by batch, `rounds` times. */
static void
run_pair(const char *dir, int base_prealloc, int log_prealloc, int batches, int rounds,
		 double mbytes, const char *label, pair_result *res)
{
	for (int r = 0; r < rounds; r++)
	{
		stream		base;
		stream		log;

		stream_open(&base, dir, "baseline.dat", 0, base_prealloc, batches);
		stream_open(&log, dir, "log", 1, log_prealloc, batches);
		for (int b = 0; b < batches; b++)
		{
			/* alternate who goes first, so neither always follows the other's flush */
			if (b % 2 == 0)
			{
				stream_step(&base);
				stream_step(&log);
			}
			else
			{
				stream_step(&log);
				stream_step(&base);
			}
		}
		res->ratio[r] = (base.write_s + base.sync_s) / (log.write_s + log.sync_s);
		res->base_mbs[r] = mbytes / (base.write_s + base.sync_s);
		res->log_mbs[r] = mbytes / (log.write_s + log.sync_s);
		res->base_w_ms[r] = base.write_s * 1e3 / batches;
		res->base_s_ms[r] = base.sync_s * 1e3 / batches;
		res->log_w_ms[r] = log.write_s * 1e3 / batches;
		res->log_s_ms[r] = log.sync_s * 1e3 / batches;
		printf("# %s, round %d: baseline %.1f MB/s, log %.1f MB/s, ratio %.2f\n",
			   label, r + 1, res->base_mbs[r], res->log_mbs[r], res->ratio[r]);
		fflush(stdout);
		stream_close(&base);
		stream_close(&log);
	}
}

int
main(int argc, char **argv)
{
	const char *dir = "build/bench-storage";
	int			mb = 64;
	int			rounds = 7;
	int			opt;
	uint8_t    *buf;
	size_t		batch_bytes;
	int			batches;
	double		mbytes;
	static pair_result main_pair;
	static pair_result nopre_pair;
	static pair_result pre_pair;

	while ((opt = getopt(argc, argv, "d:e:b:m:r:")) != -1)
	{
		switch (opt)
		{
			case 'd':
				dir = optarg;
				break;
			case 'e':
				entry_bytes = (size_t) atol(optarg);
				break;
			case 'b':
				batch = atoi(optarg);
				break;
			case 'm':
				mb = atoi(optarg);
				break;
			case 'r':
				rounds = atoi(optarg);
				break;
			default:
				fprintf(stderr, "usage: %s [-d DIR] [-e ENTRY_BYTES] [-b BATCH] [-m MB_PER_ROUND] [-r ROUNDS]\n", argv[0]);
				return 2;
		}
	}
	if (rounds < 1 || rounds > BENCH_ROUNDS_MAX || batch < 1 || batch > 4096 ||
		entry_bytes < 1 || entry_bytes > DCF_LOG_ENTRY_MAX_BYTES || mb < 1)
		die("arguments", "out of range");
	mkdir(dir, 0700);
	batch_bytes = entry_bytes * (size_t) batch;
	batches = (int) (((size_t) mb * 1024 * 1024 + batch_bytes - 1) / batch_bytes);
	mbytes = (double) batch_bytes * batches / 1e6;
	buf = malloc(batch_bytes);
	for (size_t i = 0; i < batch_bytes; i++)
		buf[i] = (uint8_t) (i * 2654435761u >> 13);
	payload = buf;

	printf("# storage append benchmark in %s: %d rounds of %d batches x %d entries x %zu bytes (%.1f MB per round and stream)\n",
		   dir, rounds, batches, batch, entry_bytes, mbytes);
	{
		/* settle the file system: one short unmeasured pair */
		pair_result warm;

		run_pair(dir, 0, 1, batches / 8 + 1, 1, mbytes / 8, "warm-up", &warm);
	}
	run_pair(dir, 0, 1, batches, rounds, mbytes, "baseline vs log", &main_pair);
	run_pair(dir, 0, 0, batches, rounds, mbytes, "baseline vs log without preallocation", &nopre_pair);
	run_pair(dir, 1, 1, batches, rounds, mbytes, "preallocated baseline vs log", &pre_pair);

	printf("baseline write+fdatasync:  %7.1f MB/s  (per %zu kB batch: write %.3f ms, fdatasync %.3f ms)\n",
		   median(main_pair.base_mbs, rounds), batch_bytes / 1024,
		   median(main_pair.base_w_ms, rounds), median(main_pair.base_s_ms, rounds));
	printf("log append+sync:           %7.1f MB/s  (per batch of %d entries: append %.3f ms, sync %.3f ms)\n",
		   median(main_pair.log_mbs, rounds), batch,
		   median(main_pair.log_w_ms, rounds), median(main_pair.log_s_ms, rounds));
	{
		double		lo = main_pair.ratio[0];
		double		hi = main_pair.ratio[0];

		for (int r = 1; r < rounds; r++)
		{
			lo = main_pair.ratio[r] < lo ? main_pair.ratio[r] : lo;
			hi = main_pair.ratio[r] > hi ? main_pair.ratio[r] : hi;
		}
		printf("ratio log/baseline: %.2f (median of %d interleaved rounds, range %.2f..%.2f; target >= 0.80)\n",
			   median(main_pair.ratio, rounds), rounds, lo, hi);
	}
	printf("for information: log without preallocation/baseline %.2f; log/preallocated baseline %.2f\n",
		   median(nopre_pair.ratio, rounds), median(pre_pair.ratio, rounds));
	free(buf);
	rmdir(dir);
	return 0;
}
