/*
 * test_walreader.c — reading committed WAL of a timeline out of the
 * consensus log (extension/pg/walreader.c).
 *
 * The case of issue 11, point 5: a failover during a large record leaves
 * many chunks of the old timeline past the new timeline's switch point; a
 * follower reading the new timeline from its switch point must step over
 * all of them (the reader once gave up after 64 and the follower was told
 * to rebuild).
 */
#include "pg/walreader.h"
#include "pg/dcf_walentry.h"

#include "unit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 100				/* WAL bytes per chunk in this test */
#define BASE  0x1000000ULL

static dcf_log *log_;
static uint64_t last_key;
static uint64_t next_index = 1;
static dcf_walreader *remember_to;	/* also pass every appended entry to this reader */

static uint8_t
wal_byte(uint32_t tli, uint64_t lsn)
{
	return (uint8_t) (lsn * 7 + tli * 31);
}

static void
append(uint8_t type, const uint8_t *payload, size_t len, uint64_t natural_key)
{
	dcf_log_entry e;
	char		err[DCF_ERRMSG_MAX];

	memset(&e, 0, sizeof(e));
	e.index = next_index++;
	e.term = 1;
	last_key = dcf_walentry_key(last_key, natural_key);
	e.key = last_key;
	e.type = type;
	e.data = payload;
	e.len = (uint32_t) len;
	if (dcf_log_append(log_, &e, 1, err) != DCF_OK)
	{
		fprintf(stderr, "append: %s\n", err);
		exit(2);
	}
	if (remember_to)
		dcf_walreader_remember(remember_to, e.index, e.term, e.key, e.type, e.data, e.len);
}

static void
append_chunk(uint32_t tli, uint64_t start)
{
	uint8_t		data[CHUNK];
	uint8_t		buf[DCF_WAL_CHUNK_HEADER_BYTES + CHUNK];
	dcf_wal_chunk c;

	for (int i = 0; i < CHUNK; i++)
		data[i] = wal_byte(tli, start + i);
	c.tli = tli;
	c.start = start;
	c.data = data;
	c.len = CHUNK;
	append(DCF_ENTRY_WAL, buf, dcf_wal_chunk_encode(&c, buf, sizeof(buf)), start + CHUNK);
}

static void
append_switch(uint32_t tli, uint64_t sw)
{
	const char *hist = "1\t0/1000000\tno recovery target specified\n";
	uint8_t		buf[DCF_TLSWITCH_HEADER_BYTES + 128];
	dcf_tlswitch s = {tli, sw, 1, 5432, hist, (uint32_t) strlen(hist)};

	append(DCF_ENTRY_TLSWITCH, buf, dcf_tlswitch_encode(&s, buf, sizeof(buf)), sw);
}

/*
 * Cut the log's last entry (a chunk of tli at start), tell the reader, and
 * append in its place a chunk of the same range filled with byte; returns
 * the index of the cut (and new) entry.
 */
static uint64_t
cut_last_and_rewrite(dcf_walreader *r, uint32_t tli, uint64_t start, uint8_t byte, const char *what)
{
	char		err[DCF_ERRMSG_MAX];
	uint64_t	last = next_index - 1;
	uint8_t		data[CHUNK];
	uint8_t		cbuf[DCF_WAL_CHUNK_HEADER_BYTES + CHUNK];
	dcf_wal_chunk c = {tli, start, data, CHUNK};

	CHECK(dcf_log_truncate_suffix(log_, last, err) == DCF_OK, "%s: the last entry cut from the log", what);
	dcf_walreader_reset(r);
	dcf_walreader_forget_from(r, last);
	next_index = last;
	CHECK(dcf_log_key_at(log_, last - 1, &last_key) == DCF_OK, "%s: key before the cut", what);
	memset(data, byte, sizeof(data));
	append(DCF_ENTRY_WAL, cbuf, dcf_wal_chunk_encode(&c, cbuf, sizeof(cbuf)), start + CHUNK);
	return last;
}

/* Read [from, to) of tli in pieces of up to step bytes; 1 if all match. */
static int
read_range(dcf_walreader *r, uint32_t tli, uint64_t from, uint64_t to, size_t step, uint64_t *stopped)
{
	char		out[4096];
	char		err[DCF_ERRMSG_MAX];
	uint64_t	lsn = from;

	while (lsn < to)
	{
		size_t		got = 0;
		size_t		want = step < to - lsn ? step : (size_t) (to - lsn);

		if (dcf_walreader_read(r, next_index - 1, tli, lsn, out, want, &got, err) != DCF_OK || got == 0)
		{
			*stopped = lsn;
			return 0;
		}
		for (size_t i = 0; i < got; i++)
			if ((uint8_t) out[i] != wal_byte(tli, lsn + i))
			{
				*stopped = lsn + i;
				return 0;
			}
		lsn += got;
	}
	*stopped = lsn;
	return 1;
}

/*
 * The kept entries against a model: random appends (empty, small, WAL-sized,
 * a few MB, now and then larger than the ring) and cuts; after every step
 * every kept entry must equal what was appended at its index, the kept
 * indexes must be consecutive, and the newest entry must be kept whenever
 * it fits.
 */
#define MODEL_MAX 200000

static uint32_t model_len[MODEL_MAX];
static uint64_t model_salt[MODEL_MAX];

static void
fill_salt(uint8_t *p, uint32_t len, uint64_t salt)
{
	uint64_t	x = salt | 1;

	for (uint32_t i = 0; i < len; i++)
	{
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t) x;
	}
}

static void
test_recent_model(void)
{
	dcf_walreader r;
	uint8_t    *data = malloc(DCF_WALREADER_RECENT_BYTES + 4096);
	uint64_t	rng = 88172645463325252ULL;
	uint64_t	last = 0;
	uint64_t	kept_checks = 0;
	int			bad = 0;

	dcf_walreader_init(&r, NULL, NULL);
	for (int step = 0; step < 20000 && !bad && last + 20 < MODEL_MAX; step++)
	{
		int			appended = 0;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		if (rng % 10 == 0 && last > 0)
		{
			uint64_t	from = last - (rng >> 8) % (last < 40 ? last : 40);

			dcf_walreader_forget_from(&r, from);
			last = from - 1;
		}
		else
		{
			uint64_t	k = 1 + (rng >> 8) % 8;

			appended = 1;
			for (uint64_t j = 0; j < k; j++)
			{
				uint64_t	v = (rng >> 16) + j * 0x9e3779b97f4a7c15ULL;
				uint32_t	len;

				v ^= v >> 29;
				switch (v % 16)
				{
					case 0:
						len = 0;
						break;
					case 1:
						len = (uint32_t) (1024 * 1024 + v % (3 * 1024 * 1024));
						break;
					case 2:
						len = v % 64 == 0 ? DCF_WALREADER_RECENT_BYTES + 1 : (uint32_t) (v % 500);
						break;
					default:
						len = (uint32_t) (v % (128 * 1024 + 64));
				}
				last++;
				model_len[last] = len;
				model_salt[last] = v;
				if (len <= DCF_WALREADER_RECENT_BYTES)
					fill_salt(data, len, v);
				dcf_walreader_remember(&r, last, 1 + last / 100, last, (uint8_t) (last % 3), data,
									   len <= DCF_WALREADER_RECENT_BYTES ? len : 0);
				if (len > DCF_WALREADER_RECENT_BYTES)
					model_len[last] = 0;	/* passed as empty above */
			}
		}
		/* check */
		{
			uint64_t	first = 0;
			uint64_t	prev = 0;

			for (uint64_t i = last > 400 ? last - 400 : 1; i <= last + 1 && !bad; i++)
			{
				dcf_log_entry e;

				if (!dcf_walreader_recent(&r, i, &e))
					continue;
				if (i > last)
				{
					printf("# step %d: index %llu kept past the last %llu\n", step, (unsigned long long) i, (unsigned long long) last);
					bad = 1;
					break;
				}
				if (first == 0)
					first = i;
				else if (i != prev + 1)
				{
					printf("# step %d: kept indexes not consecutive at %llu\n", step, (unsigned long long) i);
					bad = 1;
				}
				prev = i;
				fill_salt(data, model_len[i], model_salt[i]);
				if (e.len != model_len[i] || e.term != 1 + i / 100 || e.key != i || e.type != i % 3 ||
					memcmp(e.data, data, e.len) != 0)
				{
					printf("# step %d: kept entry %llu differs from what was appended\n", step, (unsigned long long) i);
					bad = 1;
				}
				kept_checks++;
			}
			if (!bad && appended && prev != last)
			{
				printf("# step %d: the newest entry %llu is not kept (newest kept %llu)\n", step,
					   (unsigned long long) last, (unsigned long long) prev);
				bad = 1;
			}
		}
	}
	CHECK(!bad && kept_checks > 100000, "kept entries equal the model after every append and cut (%llu entries compared)",
		  (unsigned long long) kept_checks);
	dcf_walreader_free(&r);
	free(data);
}

/*
 * A follower's feeder reads what the worker just appended: with every
 * appended entry also kept in memory, the reads need no log read at all,
 * and after a cut and a different entry at the same index, the new bytes
 * are read.
 */
static void
test_recent_reads(uint8_t *buf)
{
	char		dir[] = "/tmp/dcf-walreader-recent-XXXXXX";
	char		cmd[200];
	char		err[DCF_ERRMSG_MAX];
	dcf_log_options opts;
	dcf_walreader r;
	uint64_t	stopped = 0;
	uint64_t	last;
	char		out[CHUNK];
	size_t		got = 0;
	int			ok;

	if (mkdtemp(dir) == NULL)
	{
		CHECK(0, "mkdtemp");
		return;
	}
	dcf_log_options_init(&opts);
	opts.create = 1;
	if (dcf_log_open(dir, &opts, &log_, err) != DCF_OK)
	{
		CHECK(0, "open: %s", err);
		return;
	}
	next_index = 1;
	last_key = 0;
	dcf_walreader_init(&r, log_, buf);
	remember_to = &r;
	for (int i = 0; i < 60; i++)
		append_chunk(1, BASE + (uint64_t) i * CHUNK);
	ok = read_range(&r, 1, BASE, BASE + 60 * CHUNK, 64, &stopped);
	CHECK(ok && r.log_reads == 0 && r.recent_hits >= 60,
		  "60 entries appended and kept are read in 64-byte pieces from memory: %llu log reads, %llu from memory (stopped at +%llu)",
		  (unsigned long long) r.log_reads, (unsigned long long) r.recent_hits,
		  (unsigned long long) (stopped - BASE));
	last = cut_last_and_rewrite(&r, 1, BASE + 59 * CHUNK, 0xcd, "kept entries");
	CHECK(dcf_walreader_read(&r, last, 1, BASE + 59 * CHUNK, out, 10, &got, err) == DCF_OK && got == 10 &&
		  (uint8_t) out[0] == 0xcd && r.log_reads == 0, "after the cut the new entry is read, from memory");
	remember_to = NULL;
	dcf_walreader_free(&r);
	dcf_log_close(log_, err);
	log_ = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		CHECK(0, "rm");
}

int
main(void)
{
	char		dir[] = "/tmp/dcf-test-walreader-XXXXXX";
	char		err[DCF_ERRMSG_MAX];
	dcf_log_options opts;
	uint8_t    *buf = malloc(DCF_WALREADER_BUF_BYTES);
	dcf_walreader r;
	uint64_t	stopped = 0;
	int			ok;
	const int	old_chunks = 500;	/* timeline 1 chunks */
	const int	kept = 10;		/* of which the first 10 lie below the switch */
	const uint64_t sw = BASE + (uint64_t) kept * CHUNK;
	char		cmd[256];

	if (mkdtemp(dir) == NULL || buf == NULL)
		return 2;
	dcf_log_options_init(&opts);
	opts.create = 1;
	opts.segment_bytes = 1024 * 1024;
	if (dcf_log_open(dir, &opts, &log_, err) != DCF_OK)
	{
		fprintf(stderr, "open: %s\n", err);
		return 2;
	}

	/* timeline 1: 500 chunks; the failover switched to timeline 2 after 10 */
	for (int i = 0; i < old_chunks; i++)
		append_chunk(1, BASE + (uint64_t) i * CHUNK);
	append_switch(2, sw);
	for (int i = 0; i < 50; i++)
		append_chunk(2, sw + (uint64_t) i * CHUNK);

	dcf_walreader_init(&r, log_, buf);
	ok = read_range(&r, 2, sw, sw + 50 * CHUNK, 4096, &stopped);
	CHECK(ok, "timeline 2 read from its switch point across %d chunks of timeline 1 past it (stopped at +%llu)",
		  old_chunks - kept, (unsigned long long) (stopped - sw));
	dcf_walreader_reset(&r);
	ok = read_range(&r, 2, sw + 1234, sw + 50 * CHUNK, 37, &stopped);
	CHECK(ok, "timeline 2 read from the middle in odd-sized pieces (stopped at +%llu)",
		  (unsigned long long) (stopped - sw));
	dcf_walreader_reset(&r);
	ok = read_range(&r, 1, BASE, BASE + (uint64_t) old_chunks * CHUNK, 333, &stopped);
	CHECK(ok, "timeline 1 still reads whole (stopped at +%llu)", (unsigned long long) (stopped - BASE));
	/* a cursor left on timeline 1 does not mislead a read of timeline 2 */
	CHECK(read_range(&r, 2, sw, sw + CHUNK, 4096, &stopped), "a stale cursor is searched past");
	{
		size_t		got = 1;
		char		out[16];

		CHECK(dcf_walreader_read(&r, next_index - 1, 2, sw + 50 * CHUNK, out, sizeof(out), &got, err) == DCF_OK && got == 0,
			  "past the end of the log: nothing, no error");
		CHECK(dcf_walreader_read(&r, old_chunks, 2, sw, out, sizeof(out), &got, err) == DCF_OK && got == 0,
			  "nothing beyond the given last index (the commit index)");
	}
	/* each entry is read from the log once, however the reads cut it */
	dcf_walreader_reset(&r);
	ok = read_range(&r, 2, sw, sw + 64, 64, &stopped);
	r.log_reads = 0;
	ok = ok && read_range(&r, 2, sw + 64, sw + 50 * CHUNK, 64, &stopped);
	CHECK(ok && r.log_reads == 49, "timeline 2 in pieces of 64 bytes: %llu log reads for the 49 entries after the first",
		  (unsigned long long) r.log_reads);
	/* a truncation forgets the cached entry: the reader reads the new one */
	{
		uint64_t	last = next_index - 1;
		char		out[CHUNK];
		size_t		got = 0;

		dcf_walreader_reset(&r);
		CHECK(dcf_walreader_read(&r, last, 2, sw + 49 * CHUNK, out, 10, &got, err) == DCF_OK && got == 10 &&
			  r.cached_index == last, "the last chunk read and cached");
		cut_last_and_rewrite(&r, 2, sw + 49 * CHUNK, 0xab, "truncation");
		CHECK(dcf_walreader_read(&r, last, 2, sw + 49 * CHUNK, out, 10, &got, err) == DCF_OK && got == 10 &&
			  (uint8_t) out[0] == 0xab, "after the truncation the new entry is read");
	}
	dcf_log_close(log_, err);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 2;
	test_recent_reads(buf);
	test_recent_model();
	free(buf);
	return unit_done();
}
