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
		CHECK(dcf_log_truncate_suffix(log_, last, err) == DCF_OK, "the last entry truncated");
		dcf_walreader_reset(&r);
		next_index = last;
		CHECK(dcf_log_key_at(log_, last - 1, &last_key) == DCF_OK, "key before the truncation point");
		{
			uint8_t		data[CHUNK];
			uint8_t		cbuf[DCF_WAL_CHUNK_HEADER_BYTES + CHUNK];
			dcf_wal_chunk c = {2, sw + 49 * CHUNK, data, CHUNK};

			memset(data, 0xab, sizeof(data));
			append(DCF_ENTRY_WAL, cbuf, dcf_wal_chunk_encode(&c, cbuf, sizeof(cbuf)), sw + 50 * CHUNK);
		}
		CHECK(dcf_walreader_read(&r, last, 2, sw + 49 * CHUNK, out, 10, &got, err) == DCF_OK && got == 10 &&
			  (uint8_t) out[0] == 0xab, "after the truncation the new entry is read");
	}
	dcf_log_close(log_, err);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 2;
	free(buf);
	return unit_done();
}
