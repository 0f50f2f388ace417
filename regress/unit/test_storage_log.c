/*
 * test_storage_log.c — the log API on the real file system (POSIX I/O in
 * a temporary directory), plus a few failure cases through memfs:
 *
 *   - append/sync/read/term_at/key_at/find_key across segment boundaries,
 *     and the same after reopening;
 *   - read bounds (max bytes, buffer size, count) and the ownership of
 *     what is read;
 *   - invalid appends are refused and change nothing;
 *   - suffix truncation, prefix truncation with hold points, reset;
 *   - metadata save/reload, membership bound;
 *   - a corrupted byte in the middle of a segment refuses to open with a
 *     message naming the file, the offset and what is wrong (payload, then
 *     record header), also after a clean close when the damage is in the
 *     very last entry;
 *   - a torn tail (file cut inside an entry; garbage; a hole followed by
 *     data) is cut back to the last whole entry, and what remains is
 *     checked entry by entry;
 *   - a second writer is refused (lock), read-only opens change nothing;
 *   - a failed fdatasync is never retried: the handle refuses changes;
 *   - a helper thread may sync while the owner appends.
 */
#include "storage/log.h"
#include "storage/memfs.h"
#include "core/crc32c.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEG_BYTES	(64 * 1024)
#define SEG1		"00000000000000000001.seg"

static char tmproot[256];
static uint8_t *readbuf;

/* ---- helpers ------------------------------------------------------------ */

static void
fill(uint8_t *buf, uint32_t len, uint64_t index)
{
	uint64_t	x = index * 0x9e3779b97f4a7c15ULL + 7;

	for (uint32_t i = 0; i < len; i++)
	{
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t) x;
	}
}

/* entry i: term 1 + i/40, key about 100*i, length up to 12 kB */
static uint32_t
len_of(uint64_t i)
{
	return (uint32_t) ((i * 7919) % 3000 + (i % 13 == 0 ? 9000 : 0));
}

static uint64_t
term_of(uint64_t i)
{
	return 1 + i / 40;
}

static uint64_t
key_of(uint64_t i)
{
	/* every 7th entry repeats the previous key */
	return 100 * (i % 7 == 1 ? i - 1 : i);
}

/* How entry i of a test workload looks: its length, term and key. */
typedef struct entry_shape
{
	uint32_t	(*len) (uint64_t i);
	uint64_t	(*term) (uint64_t i);
	uint64_t	(*key) (uint64_t i);
} entry_shape;

static const entry_shape base_shape = {len_of, term_of, key_of};

/* Appends entries [lo, hi] of the given shape, batch (<= 16) at a time. */
static dcf_rc
append_shaped(dcf_log *log, const entry_shape *sh, uint64_t lo, uint64_t hi, size_t batch, char *err)
{
	static uint8_t bufs[16][65536];
	dcf_log_entry e[16];
	size_t		n = 0;
	dcf_rc		rc = DCF_OK;

	for (uint64_t i = lo; i <= hi && rc == DCF_OK; i++)
	{
		e[n].index = i;
		e[n].term = sh->term(i);
		e[n].key = sh->key(i);
		e[n].type = (uint8_t) (i % 5);
		e[n].len = sh->len(i);
		fill(bufs[n], e[n].len, i);
		e[n].data = bufs[n];
		if (++n == batch || i == hi)
		{
			rc = dcf_log_append(log, e, n, err);
			n = 0;
		}
	}
	return rc;
}

/* Reads [lo, hi] back, max_bytes per read, and compares with what append_shaped wrote. */
static int
match_shaped(dcf_log *log, const entry_shape *sh, uint64_t lo, uint64_t hi, size_t max_bytes,
			 char *why, size_t why_len)
{
	char		err[DCF_ERRMSG_MAX];
	static uint8_t expect[65536];

	for (uint64_t i = lo; i <= hi;)
	{
		dcf_log_entry out[32];
		size_t		n = 0;
		dcf_rc		rc = dcf_log_read(log, i, hi + 1, max_bytes, readbuf, DCF_LOG_READ_BUFFER_MIN_BYTES,
									  out, 32, &n, err);

		if (rc != DCF_OK || n == 0)
		{
			snprintf(why, why_len, "read at %" PRIu64 ": %.200s", i, rc ? err : "nothing");
			return 0;
		}
		for (size_t k = 0; k < n; k++, i++)
		{
			fill(expect, sh->len(i), i);
			if (out[k].index != i || out[k].term != sh->term(i) || out[k].key != sh->key(i) ||
				out[k].type != i % 5 || out[k].len != sh->len(i) ||
				memcmp(out[k].data, expect, out[k].len) != 0)
			{
				snprintf(why, why_len, "entry %" PRIu64 " differs", i);
				return 0;
			}
		}
	}
	return 1;
}

static dcf_rc
append_range(dcf_log *log, uint64_t lo, uint64_t hi, char *err)
{
	return append_shaped(log, &base_shape, lo, hi, 16, err);
}

/* Reads [lo, hi] back and compares with what append_range wrote. */
static int
entries_match(dcf_log *log, uint64_t lo, uint64_t hi, char *why, size_t why_len)
{
	return match_shaped(log, &base_shape, lo, hi, 50000, why, why_len);
}

static void
rm_rf(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	char		path[1024];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void
fresh_dir(char *out, const char *name)
{
	snprintf(out, 512, "%s/%s", tmproot, name);
	rm_rf(out);
}

static dcf_log *
open_log(const char *dir, int preallocate, char *err)
{
	dcf_log_options o;
	dcf_log    *log = NULL;

	dcf_log_options_init(&o);
	o.segment_bytes = SEG_BYTES;
	o.preallocate = preallocate;
	if (dcf_log_open(dir, &o, &log, err) != DCF_OK)
		return NULL;
	return log;
}

static dcf_rc
try_open(const char *dir, int read_only, dcf_log **log, char *err)
{
	dcf_log_options o;

	dcf_log_options_init(&o);
	o.segment_bytes = SEG_BYTES;
	o.read_only = read_only;
	return dcf_log_open(dir, &o, log, err);
}

/* Offsets of the records of a segment file, walking it with the reader. */
static size_t
record_offsets(const char *path, uint64_t *offs, uint64_t *index, size_t max)
{
	int			fd = open(path, O_RDONLY);
	dcf_seg_reader r;
	size_t		n = 0;
	uint64_t	off = DCF_SEG_HEADER_BYTES;
	char		err[DCF_ERRMSG_MAX];

	if (fd < 0 || dcf_seg_reader_open(&r, dcf_io_posix(), fd, err) != DCF_OK)
		return 0;
	while (n < max)
	{
		dcf_seg_status st;
		dcf_seg_rec rec;
		const char *why;

		if (dcf_seg_read_record(&r, off, &st, &rec, NULL, &why, err) != DCF_OK || st != DCF_SEG_RECORD)
			break;
		offs[n] = off;
		index[n] = rec.kind == DCF_SEG_KIND_ENTRY ? rec.index : 0;
		n++;
		off += dcf_seg_frame_bytes(rec.length);
	}
	dcf_seg_reader_close(&r);
	close(fd);
	return n;
}

static int
flip_byte(const char *path, uint64_t off)
{
	int			fd = open(path, O_RDWR);
	uint8_t		b;
	int			ok;

	if (fd < 0)
		return 0;
	ok = pread(fd, &b, 1, (off_t) off) == 1;
	b ^= 0x5a;
	ok = ok && pwrite(fd, &b, 1, (off_t) off) == 1;
	close(fd);
	return ok;
}

/*
 * Rewrites the metadata's durable mark: a crash leaves the mark of the
 * last save before it, never the one a clean close writes.
 */
static int
set_mark(const char *dir, uint64_t mark)
{
	char		err[DCF_ERRMSG_MAX];
	dcf_meta	m;
	uint8_t    *buf = NULL;
	int			ok;

	ok = dcf_meta_read(dcf_io_posix(), dir, &m, &buf, err) == DCF_OK;
	m.durable_index = mark;
	ok = ok && dcf_meta_write(dcf_io_posix(), dir, &m, err) == DCF_OK;
	free(buf);
	return ok;
}

static const dcf_meta *
peek_meta(const char *dir, dcf_meta *m)
{
	char		err[DCF_ERRMSG_MAX];
	uint8_t    *buf = NULL;
	const dcf_meta *r = NULL;

	if (dcf_meta_read(dcf_io_posix(), dir, m, &buf, err) == DCF_OK)
		r = m;
	m->membership = NULL;
	free(buf);
	return r;
}

static dcf_rc
open_repair(const char *dir, dcf_log **log, char *err)
{
	dcf_log_options o;

	dcf_log_options_init(&o);
	o.segment_bytes = SEG_BYTES;
	o.repair = 1;
	return dcf_log_open(dir, &o, log, err);
}

static uint64_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t) st.st_size : 0;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_basic(void)
{
	char		dir[512];
	char		err[DCF_ERRMSG_MAX];
	char		why[256] = "";
	dcf_log    *log;
	uint64_t	d = 0;
	uint64_t	v;
	int			nseg = 0;
	dcf_rc		rc;
	DIR		   *dd;
	struct dirent *de;

	fresh_dir(dir, "basic");
	log = open_log(dir, 1, err);
	CHECK(log != NULL, "create a new log in an absent directory%s%s", log ? "" : ": ", log ? "" : err);
	if (!log)
		return;
	CHECK(dcf_log_first_index(log) == 1 && dcf_log_last_index(log) == 0 && dcf_log_last_term(log) == 0,
		  "a new log is empty at index 1");
	CHECK(dcf_log_term_at(log, 0, &v) == DCF_OK && v == 0, "term at index 0 is 0");
	CHECK(dcf_log_term_at(log, 1, &v) == DCF_ERR_NOTFOUND, "term at index 1 of an empty log: not found");

	CHECK(append_range(log, 1, 300, err) == DCF_OK, "append 300 entries of up to 12 kB in batches of 16");
	CHECK(dcf_log_durable_index(log) == 0, "nothing durable before the first sync");
	rc = dcf_log_sync(log, &d, err);
	CHECK(rc == DCF_OK && d == 300, "sync reports 300 durable (got %" PRIu64 ")", d);
	CHECK(entries_match(log, 1, 300, why, sizeof(why)), "read back 1..300 %s", why);
	CHECK(dcf_log_term_at(log, 123, &v) == DCF_OK && v == term_of(123), "term_at(123)");
	CHECK(dcf_log_key_at(log, 77, &v) == DCF_OK && v == key_of(77), "key_at(77)");
	rc = dcf_log_find_key(log, key_of(148), &v);
	CHECK(key_of(148) == key_of(147) && rc == DCF_OK && v == 147,
		  "find_key(key shared by 147 and 148) gives the first of them (%" PRIu64 ")", v);
	CHECK(dcf_log_find_key(log, key_of(150), &v) == DCF_OK && v == 150, "find_key(key of 150) gives 150");
	CHECK(dcf_log_find_key(log, key_of(150) + 1, &v) == DCF_OK && v == 151,
		  "find_key(between keys) gives the next entry");
	CHECK(dcf_log_find_key(log, 0, &v) == DCF_OK && v == 1, "find_key(0) gives the first entry");
	CHECK(dcf_log_find_key(log, key_of(300) + 1, &v) == DCF_ERR_NOTFOUND, "find_key beyond the last key: not found");
	CHECK(dcf_log_close(log, err) == DCF_OK, "clean close");

	dd = opendir(dir);
	while (dd && (de = readdir(dd)) != NULL)
		nseg += strstr(de->d_name, ".seg") != NULL;
	if (dd)
		closedir(dd);
	CHECK(nseg > 10, "64 kB segments: %d segment files for ~1.2 MB of entries", nseg);

	log = open_log(dir, 1, err);
	CHECK(log != NULL, "reopen%s%s", log ? "" : ": ", log ? "" : err);
	if (!log)
		return;
	CHECK(dcf_log_last_index(log) == 300 && dcf_log_durable_index(log) == 300 && !dcf_log_info(log)->torn,
		  "reopened: 300 entries, all durable, no torn tail");
	CHECK(dcf_log_info(log)->durable_floor == 300, "the close mark proves all 300 durable (floor %" PRIu64 ")",
		  dcf_log_info(log)->durable_floor);
	CHECK(entries_match(log, 1, 300, why, sizeof(why)), "read back 1..300 after reopen %s", why);
	CHECK(append_range(log, 301, 310, err) == DCF_OK && dcf_log_sync(log, &d, err) == DCF_OK && d == 310,
		  "append after reopen continues at 301");
	CHECK(entries_match(log, 295, 310, why, sizeof(why)), "entries around the close mark read back %s", why);
	dcf_log_close(log, err);
}

static void
test_read_bounds(void)
{
	char		dir[512];
	char		err[DCF_ERRMSG_MAX];
	dcf_log    *log;
	dcf_log_entry out[64];
	size_t		n = 0;
	uint8_t    *small;
	dcf_rc		rc;

	fresh_dir(dir, "bounds");
	log = open_log(dir, 0, err);
	if (!CHECK(log != NULL, "open"))
		return;
	append_range(log, 1, 60, err);
	rc = dcf_log_read(log, 1, 61, 1, readbuf, DCF_LOG_READ_BUFFER_MIN_BYTES, out, 64, &n, err);
	CHECK(rc == DCF_OK && n == 1, "max_bytes 1 still returns one entry (progress)");
	rc = dcf_log_read(log, 1, 61, 20000, readbuf, DCF_LOG_READ_BUFFER_MIN_BYTES, out, 64, &n, err);
	{
		size_t		sum = 0;

		for (size_t k = 0; k < n; k++)
			sum += out[k].len + DCF_LOG_ENTRY_OVERHEAD_BYTES;
		CHECK(rc == DCF_OK && n > 1 && n < 60, "max_bytes 20000 stops early (%zu entries)", n);
		CHECK(out[n - 1].index == n, "entries returned in order from lo");
		(void) sum;
	}
	rc = dcf_log_read(log, 5, 61, SIZE_MAX, readbuf, DCF_LOG_READ_BUFFER_MIN_BYTES, out, 3, &n, err);
	CHECK(rc == DCF_OK && n == 3 && out[0].index == 5 && out[2].index == 7, "out_max 3 returns entries 5..7");
	rc = dcf_log_read(log, 10, 12, SIZE_MAX, readbuf, DCF_LOG_READ_BUFFER_MIN_BYTES, out, 64, &n, err);
	CHECK(rc == DCF_OK && n == 2, "hi is exclusive");
	CHECK((uint8_t *) out[0].data >= readbuf && (uint8_t *) out[1].data + out[1].len <= readbuf + DCF_LOG_READ_BUFFER_MIN_BYTES,
		  "payloads point into the caller's buffer");
	small = malloc(100);
	rc = dcf_log_read(log, 13, 14, SIZE_MAX, small, 100, out, 64, &n, err);
	CHECK(rc == DCF_ERR_FULL && strstr(err, "entry 13 needs") != NULL,
		  "an entry larger than the buffer: DCF_ERR_FULL (%s)", err);
	free(small);
	CHECK(dcf_log_read(log, 0, 5, SIZE_MAX, readbuf, DCF_LOG_READ_BUFFER_MIN_BYTES, out, 64, &n, err) == DCF_ERR_NOTFOUND,
		  "reading below the first index: not found");
	CHECK(dcf_log_read(log, 50, 62, SIZE_MAX, readbuf, DCF_LOG_READ_BUFFER_MIN_BYTES, out, 64, &n, err) == DCF_ERR_NOTFOUND,
		  "reading past the last index: not found");
	CHECK(dcf_log_read(log, 1, 61, SIZE_MAX, readbuf + 3, DCF_LOG_READ_BUFFER_MIN_BYTES - 3, out, 64, &n, err) == DCF_OK &&
		  ((uintptr_t) out[0].data & 7) == 0, "an unaligned buffer still gives 8-byte aligned payloads");
	dcf_log_close(log, err);
}

static void
test_invalid_appends(void)
{
	char		dir[512];
	char		err[DCF_ERRMSG_MAX];
	dcf_log    *log;
	dcf_log_entry e;
	uint8_t		b = 1;

	fresh_dir(dir, "invalid");
	log = open_log(dir, 0, err);
	if (!CHECK(log != NULL, "open"))
		return;
	append_range(log, 1, 10, err);
	memset(&e, 0, sizeof(e));
	e.index = 12;
	e.term = term_of(10);
	e.key = key_of(10);
	CHECK(dcf_log_append(log, &e, 1, err) == DCF_ERR_INVALID && strstr(err, "index 11 was expected"),
		  "a gap in indexes is refused: %s", err);
	e.index = 11;
	e.term = term_of(10) - 1;
	CHECK(term_of(10) > 0 && dcf_log_append(log, &e, 1, err) == DCF_ERR_INVALID && strstr(err, "term"),
		  "a decreasing term is refused: %s", err);
	e.term = term_of(10);
	e.key = key_of(10) - 1;
	CHECK(dcf_log_append(log, &e, 1, err) == DCF_ERR_INVALID && strstr(err, "key"),
		  "a decreasing key is refused: %s", err);
	e.key = key_of(10);
	e.len = DCF_LOG_ENTRY_MAX_BYTES + 1;
	e.data = &b;
	CHECK(dcf_log_append(log, &e, 1, err) == DCF_ERR_INVALID && strstr(err, "maximum"),
		  "an entry over %d bytes is refused: %s", DCF_LOG_ENTRY_MAX_BYTES, err);
	CHECK(dcf_log_last_index(log) == 10, "refused appends change nothing");
	e.len = 1;
	CHECK(dcf_log_append(log, &e, 1, err) == DCF_OK && dcf_log_last_index(log) == 11, "then a valid append works");
	dcf_log_close(log, err);
}

static void
test_truncations(void)
{
	char		dir[512];
	char		err[DCF_ERRMSG_MAX];
	char		why[256] = "";
	dcf_log    *log;
	dcf_log_holds holds;
	uint64_t	nf = 0;
	uint64_t	d = 0;
	uint64_t	v;
	dcf_rc		rc;

	fresh_dir(dir, "trunc");
	log = open_log(dir, 1, err);
	if (!CHECK(log != NULL, "open"))
		return;
	append_range(log, 1, 400, err);
	dcf_log_sync(log, &d, err);

	CHECK(dcf_log_truncate_suffix(log, 0, err) == DCF_ERR_INVALID, "suffix truncation below the first index: invalid");
	CHECK(dcf_log_truncate_suffix(log, 350, err) == DCF_OK, "truncate suffix from 350");
	CHECK(dcf_log_last_index(log) == 349 && dcf_log_durable_index(log) == 349,
		  "last and durable index drop to 349");
	CHECK(dcf_log_last_term(log) == term_of(349), "last term is the term of 349");
	CHECK(append_range(log, 350, 420, err) == DCF_OK, "append 350..420 again");
	CHECK(dcf_log_durable_index(log) == 349, "not durable before sync");
	CHECK(dcf_log_sync(log, &d, err) == DCF_OK && d == 420, "sync: 420");

	memset(&holds, 0, sizeof(holds));
	CHECK(dcf_log_truncate_prefix(log, 300, NULL, &nf, err) == DCF_ERR_INVALID, "prefix truncation without holds: invalid");
	holds.min_applied_index = 0;
	CHECK(dcf_log_truncate_prefix(log, 300, &holds, &nf, err) == DCF_OK && nf == 1,
		  "min applied index 0 holds everything");
	holds.min_applied_index = 1000;
	holds.build_hold_index = 40;
	rc = dcf_log_truncate_prefix(log, 300, &holds, &nf, err);
	CHECK(rc == DCF_OK && nf <= 40 && nf > 1, "a build hold at 40 keeps 40 and above (first index now %" PRIu64 ")", nf);
	holds.build_hold_index = 0;
	holds.min_applied_index = 199;
	rc = dcf_log_truncate_prefix(log, 300, &holds, &nf, err);
	CHECK(rc == DCF_OK && nf <= 200 && nf > 40, "min applied 199 keeps 200 and above (first index now %" PRIu64 ")", nf);
	CHECK(dcf_log_first_index(log) == nf && dcf_log_meta(log)->first_index == nf,
		  "the metadata records the new first index");
	CHECK(dcf_log_term_at(log, nf - 1, &v) == DCF_OK && v == term_of(nf - 1),
		  "the term before the first index is kept");
	CHECK(dcf_log_term_at(log, nf - 2, &v) == DCF_ERR_NOTFOUND, "terms below that are gone");
	CHECK(entries_match(log, nf, 420, why, sizeof(why)), "remaining entries intact %s", why);
	dcf_log_close(log, err);

	log = open_log(dir, 1, err);
	if (!CHECK(log != NULL, "reopen after truncations%s%s", log ? "" : ": ", log ? "" : err))
		return;
	CHECK(dcf_log_first_index(log) == nf && dcf_log_last_index(log) == 420, "reopened: [%" PRIu64 ", 420]", nf);
	CHECK(entries_match(log, nf, 420, why, sizeof(why)), "entries intact after reopen %s", why);

	CHECK(dcf_log_truncate_suffix(log, nf, err) == DCF_OK && dcf_log_last_index(log) == nf - 1,
		  "truncating from the first index empties the log");
	CHECK(dcf_log_last_term(log) == term_of(nf - 1), "an empty log's last term is the term before its first index");
	CHECK(append_range(log, nf, nf + 5, err) == DCF_OK, "and appends continue at the first index");

	CHECK(dcf_log_reset(log, 5000, 77, err) == DCF_OK, "reset to first index 5000 after term 77");
	CHECK(dcf_log_first_index(log) == 5000 && dcf_log_last_index(log) == 4999 &&
		  dcf_log_term_at(log, 4999, &v) == DCF_OK && v == 77, "reset log: empty at 5000, term 77 before it");
	dcf_log_close(log, err);
	log = open_log(dir, 1, err);
	if (!CHECK(log != NULL, "reopen after reset"))
		return;
	CHECK(dcf_log_first_index(log) == 5000 && dcf_log_last_index(log) == 4999 && dcf_log_last_term(log) == 77,
		  "reset survives a reopen");
	dcf_log_close(log, err);
}

static void
test_meta(void)
{
	char		dir[512];
	char		err[DCF_ERRMSG_MAX];
	dcf_log    *log;
	dcf_meta	m;
	uint8_t		memb[300];
	const dcf_meta *got;

	fresh_dir(dir, "meta");
	log = open_log(dir, 0, err);
	if (!CHECK(log != NULL, "open"))
		return;
	got = dcf_log_meta(log);
	CHECK(got->term == 0 && got->voted_for == 0 && got->membership_len == 0 && got->first_index == 1,
		  "a new log has empty metadata");
	memset(&m, 0, sizeof(m));
	fill(memb, sizeof(memb), 42);
	m.term = 9;
	m.voted_for = 3;
	m.applied_index = 1234;
	m.membership = memb;
	m.membership_len = sizeof(memb);
	m.first_index = 999;		/* ignored: the log owns it */
	CHECK(dcf_log_save_meta(log, &m, err) == DCF_OK, "save metadata");
	got = dcf_log_meta(log);
	CHECK(got->term == 9 && got->voted_for == 3 && got->applied_index == 1234 && got->first_index == 1 &&
		  got->membership_len == 300 && memcmp(got->membership, memb, 300) == 0,
		  "dcf_log_meta returns it; first_index stays the log's");
	m.membership_len = DCF_META_MEMBERSHIP_MAX_BYTES + 1;
	CHECK(dcf_log_save_meta(log, &m, err) == DCF_ERR_INVALID, "membership over %d bytes refused", DCF_META_MEMBERSHIP_MAX_BYTES);
	dcf_log_close(log, err);
	log = open_log(dir, 0, err);
	if (!CHECK(log != NULL, "reopen"))
		return;
	got = dcf_log_meta(log);
	CHECK(got->term == 9 && got->voted_for == 3 && got->applied_index == 1234 &&
		  got->membership_len == 300 && memcmp(got->membership, memb, 300) == 0 &&
		  got->format_version == DCF_META_VERSION, "metadata survives a reopen");
	dcf_log_close(log, err);

	/* a damaged metadata file is refused, never replaced by defaults */
	{
		char		path[600];

		snprintf(path, sizeof(path), "%s/%s", dir, DCF_META_FILE);
		flip_byte(path, 20);
		CHECK(try_open(dir, 0, &log, err) == DCF_ERR_CORRUPT && strstr(err, "dcf.meta") && strstr(err, "checksum mismatch"),
			  "a flipped byte in dcf.meta refuses to open: %s", err);
	}
}

static void
test_corrupt_middle(void)
{
	char		dir[512];
	char		seg[600];
	char		err[DCF_ERRMSG_MAX];
	char		expect[700];
	dcf_log    *log;
	uint64_t	offs[256];
	uint64_t	idx[256];
	size_t		n;
	size_t		mid;

	fresh_dir(dir, "corrupt");
	log = open_log(dir, 1, err);
	if (!CHECK(log != NULL, "open"))
		return;
	/* several group commits, so later records prove earlier ones durable */
	for (uint64_t i = 1; i <= 200; i += 10)
	{
		append_range(log, i, i + 9, err);
		dcf_log_sync(log, NULL, err);
	}
	dcf_log_close(log, err);
	snprintf(seg, sizeof(seg), "%s/%s", dir, SEG1);
	n = record_offsets(seg, offs, idx, 256);
	CHECK(n > 8, "first segment has %zu records", n);
	mid = n / 2;

	/* a byte inside the payload of a middle entry */
	flip_byte(seg, offs[mid] + DCF_SEG_RECORD_HEADER_BYTES + 3);
	CHECK(try_open(dir, 0, &log, err) == DCF_ERR_CORRUPT, "payload damage in the middle of a segment refuses to open");
	snprintf(expect, sizeof(expect), "corrupt log segment %s at offset %" PRIu64 ": payload checksum mismatch (entry %" PRIu64 " is damaged or missing",
			 seg, offs[mid], idx[mid]);
	CHECK(strstr(err, expect) != NULL, "message names file, offset and what: \"%s\"", err);
	CHECK(try_open(dir, 1, &log, err) == DCF_ERR_CORRUPT, "read-only open refuses too");
	flip_byte(seg, offs[mid] + DCF_SEG_RECORD_HEADER_BYTES + 3);
	CHECK(try_open(dir, 0, &log, err) == DCF_OK, "undoing the damage opens again");
	dcf_log_close(log, err);

	/* a byte inside a record header */
	flip_byte(seg, offs[mid + 1] + 17);
	CHECK(try_open(dir, 0, &log, err) == DCF_ERR_CORRUPT, "header damage refuses to open");
	snprintf(expect, sizeof(expect), "corrupt log segment %s at offset %" PRIu64 ": record header checksum mismatch",
			 seg, offs[mid + 1]);
	CHECK(strstr(err, expect) != NULL, "message: \"%s\"", err);
	flip_byte(seg, offs[mid + 1] + 17);

	/* the very last entry, after a clean close (the mark proves it durable) */
	{
		char		last[600];
		DIR		   *dd = opendir(dir);
		struct dirent *de;
		char		newest[300] = "";

		while (dd && (de = readdir(dd)) != NULL)
			if (strstr(de->d_name, ".seg") && strcmp(de->d_name, newest) > 0)
				snprintf(newest, sizeof(newest), "%s", de->d_name);
		if (dd)
			closedir(dd);
		snprintf(last, sizeof(last), "%s/%s", dir, newest);
		n = record_offsets(last, offs, idx, 256);
		while (n > 0 && idx[n - 1] == 0)
			n--;				/* close marks */
		CHECK(n >= 1 && idx[n - 1] == 200 && n < record_offsets(last, offs, idx, 256),
			  "newest segment ends with entry 200 and close marks");
		flip_byte(last, offs[n - 1] + DCF_SEG_RECORD_HEADER_BYTES);
		CHECK(try_open(dir, 0, &log, err) == DCF_ERR_CORRUPT && strstr(err, "entry 200 is damaged"),
			  "damage to the last entry after a clean close is corruption, not a torn tail: %s", err);
	}
}

/*
 * A torn tail: entries 1..100 durable (synced in groups), then 101..120
 * written in one group whose sync never happened; the file is then cut,
 * garbled or holed inside entry 110, as power loss can leave it.
 */
static void
make_torn_log(const char *dir, uint64_t *offs, uint64_t *idx, size_t *n, char *path)
{
	char		err[DCF_ERRMSG_MAX];
	dcf_log_options o;
	dcf_log    *log;

	rm_rf(dir);
	dcf_log_options_init(&o);
	o.segment_bytes = 4 * 1024 * 1024;	/* one segment */
	o.preallocate = 0;
	if (dcf_log_open(dir, &o, &log, err) != DCF_OK)
		return;
	for (uint64_t i = 1; i <= 100; i += 20)
	{
		append_range(log, i, i + 19, err);
		dcf_log_sync(log, NULL, err);
	}
	append_range(log, 101, 120, err);
	/* close syncs and writes a mark; removing the mark below leaves the
	 * file as power loss before the sync of 101..120 could have left it
	 * (their records say only 100 was durable) */
	dcf_log_close(log, err);
	snprintf(path, 600, "%s/%s", dir, SEG1);
	*n = record_offsets(path, offs, idx, 256);
	/* drop the close mark, which a crash would not have written */
	if (*n > 0 && idx[*n - 1] == 0)
	{
		(*n)--;
		truncate(path, (off_t) offs[*n]);
	}
	/* nor the durable mark of the metadata: no save since the log began */
	set_mark(dir, 0);
}

/*
 * Lost durable entries with opts.repair: the intact prefix stays, the rest
 * is cut, and the metadata records durably how far the node must fetch
 * again (the repair index); without repair the same damage refuses.
 */
static void
test_repair(void)
{
	char		dir[512];
	char		seg[600];
	char		err[DCF_ERRMSG_MAX];
	char		why[256] = "";
	dcf_log    *log = NULL;
	dcf_meta	m;
	uint64_t	offs[256];
	uint64_t	idx[256];
	size_t		n;
	char		newest[300] = "";
	char		last[600];
	uint64_t	first_newest = 0;

	fresh_dir(dir, "repair");
	log = open_log(dir, 0, err);
	if (!CHECK(log != NULL, "open"))
		return;
	for (uint64_t i = 1; i <= 200; i += 10)
	{
		append_range(log, i, i + 9, err);
		dcf_log_sync(log, NULL, err);
	}
	dcf_log_close(log, err);
	CHECK(peek_meta(dir, &m) && m.durable_index == 200 && m.repair_index == 0,
		  "a clean close records durable mark 200 in the metadata");
	snprintf(seg, sizeof(seg), "%s/%s", dir, SEG1);

	/* 1. the experiment of issue 15: the last 100 bytes of the newest
	 * segment zeroed (the close mark and the end of entry 200) */
	{
		DIR		   *dd = opendir(dir);
		struct dirent *de;
		uint64_t	sz;
		int			fd;
		static const uint8_t zeros[100];

		while (dd && (de = readdir(dd)) != NULL)
			if (strstr(de->d_name, ".seg") && strcmp(de->d_name, newest) > 0)
				snprintf(newest, sizeof(newest), "%s", de->d_name);
		if (dd)
			closedir(dd);
		sscanf(newest, "%" SCNu64, &first_newest);
		snprintf(last, sizeof(last), "%s/%s", dir, newest);
		n = record_offsets(last, offs, idx, 256);
		sz = offs[n - 1] + DCF_SEG_RECORD_HEADER_BYTES;	/* end of the last mark */
		fd = open(last, O_RDWR);
		CHECK(fd >= 0 && pwrite(fd, zeros, 100, (off_t) (sz - 100)) == 100, "zeroed the last 100 bytes of %s", newest);
		if (fd >= 0)
			close(fd);
	}
	CHECK(try_open(dir, 0, &log, err) == DCF_ERR_CORRUPT && strstr(err, "entry 200 is damaged") &&
		  strstr(err, "index 200 was durable"),
		  "without repair: refused, the metadata's mark proves entry 200 durable: %s", err);
	log = NULL;
	if (open_repair(dir, &log, err) != DCF_OK)
		log = NULL;
	CHECK(log != NULL, "with repair: opens%s%s", log ? "" : ": ", log ? "" : err);
	if (log)
	{
		const dcf_log_open_info *info = dcf_log_info(log);

		CHECK(info->lost && info->lost_index == 200 && info->repair_index == 200 &&
			  dcf_log_last_index(log) == 199 && entries_match(log, 1, 199, why, sizeof(why)),
			  "entry 200 is cut, 1..199 stay whole, repair index 200 %s", why);
		dcf_log_close(log, err);
	}
	CHECK(peek_meta(dir, &m) && m.repair_index == 200 && m.durable_index == 199,
		  "the metadata keeps repair index 200 and lowered its mark to 199");
	log = NULL;
	CHECK(open_repair(dir, &log, err) == DCF_OK && dcf_log_info(log)->repair_index == 200 &&
		  !dcf_log_info(log)->lost && dcf_log_last_index(log) == 199,
		  "reopened: nothing more lost, the repair index is still 200");
	if (log)
	{
		/* the host refetches 200..205 and clears the repair index */
		const dcf_meta *cur = dcf_log_meta(log);
		dcf_meta	nm = *cur;

		append_range(log, 200, 205, err);
		dcf_log_sync(log, NULL, err);
		nm.repair_index = 0;
		CHECK(dcf_log_save_meta(log, &nm, err) == DCF_OK, "repair index cleared");
		dcf_log_close(log, err);
	}
	CHECK(peek_meta(dir, &m) && m.repair_index == 0 && m.durable_index == 205, "mark 205 after the close");

	/* 2. a damaged middle entry: keep what is before it */
	n = record_offsets(seg, offs, idx, 256);
	flip_byte(seg, offs[n / 2] + DCF_SEG_RECORD_HEADER_BYTES + 3);
	log = NULL;
	CHECK(open_repair(dir, &log, err) == DCF_OK && dcf_log_info(log)->lost &&
		  dcf_log_info(log)->lost_index == idx[n / 2] && dcf_log_info(log)->repair_index == 205 &&
		  dcf_log_last_index(log) == idx[n / 2] - 1 && entries_match(log, 1, idx[n / 2] - 1, why, sizeof(why)),
		  "damaged middle entry %" PRIu64 ": the log keeps 1..%" PRIu64 ", repair index 205 %s",
		  idx[n / 2], idx[n / 2] - 1, why);
	if (log)
	{
		append_range(log, dcf_log_last_index(log) + 1, 205, err);
		dcf_log_sync(log, NULL, err);
		{
			dcf_meta	nm = *dcf_log_meta(log);

			nm.repair_index = 0;
			dcf_log_save_meta(log, &nm, err);
		}
		dcf_log_close(log, err);
	}

	/* 3. the newest segment deleted: the log ends early, cleanly */
	{
		char		p2[600];
		DIR		   *dd = opendir(dir);
		struct dirent *de;

		newest[0] = 0;
		while (dd && (de = readdir(dd)) != NULL)
			if (strstr(de->d_name, ".seg") && strcmp(de->d_name, newest) > 0)
				snprintf(newest, sizeof(newest), "%s", de->d_name);
		if (dd)
			closedir(dd);
		sscanf(newest, "%" SCNu64, &first_newest);
		snprintf(p2, sizeof(p2), "%s/%s", dir, newest);
		CHECK(first_newest > 1 && unlink(p2) == 0, "removed the newest segment %s", newest);
	}
	log = NULL;
	CHECK(try_open(dir, 0, &log, err) == DCF_ERR_CORRUPT && strstr(err, "ends at index") &&
		  strstr(err, "but index 205 was durable"), "without repair: refused: %s", err);
	log = NULL;
	CHECK(open_repair(dir, &log, err) == DCF_OK && dcf_log_info(log)->lost &&
		  dcf_log_info(log)->lost_index == first_newest && dcf_log_info(log)->repair_index == 205 &&
		  dcf_log_last_index(log) == first_newest - 1,
		  "with repair: the log ends at %" PRIu64 ", repair index 205", first_newest - 1);
	if (log)
		dcf_log_close(log, err);

	/* 4. a crash's torn tail is still cut silently (no repair index) */
	{
		dcf_log_options o;

		fresh_dir(dir, "repair2");
		log = open_log(dir, 0, err);
		if (log)
		{
			append_range(log, 1, 10, err);
			dcf_log_sync(log, NULL, err);
			append_range(log, 11, 20, err);
			dcf_log_close(log, err);
		}
		n = record_offsets(seg, offs, idx, 256);
		snprintf(seg, sizeof(seg), "%s/%s", dir, SEG1);
		n = record_offsets(seg, offs, idx, 256);
		while (n > 0 && idx[n - 1] == 0)
			n--;
		truncate(seg, (off_t) (offs[n - 1] + 10));	/* inside entry 20 */
		set_mark(dir, 10);
		dcf_log_options_init(&o);
		o.segment_bytes = SEG_BYTES;
		o.repair = 1;
		log = NULL;
		CHECK(dcf_log_open(dir, &o, &log, err) == DCF_OK && dcf_log_info(log)->torn &&
			  !dcf_log_info(log)->lost && dcf_log_info(log)->repair_index == 0 && dcf_log_last_index(log) == 19,
			  "a torn tail above the mark is cut as before, with no repair index");
		if (log)
			dcf_log_close(log, err);
	}

	/* 5. suffix truncation lowers the mark first (invariant 6) */
	log = open_log(dir, 0, err);
	if (log)
	{
		dcf_log_truncate_suffix(log, 15, err);
		CHECK(peek_meta(dir, &m) && m.durable_index <= 14,
			  "after truncating from 15 the mark is at most 14");
		dcf_log_close(log, err);
		CHECK(try_open(dir, 0, &log, err) == DCF_OK && dcf_log_last_index(log) == 14 && !dcf_log_info(log)->lost,
			  "and the truncated log opens without any loss");
		if (log)
			dcf_log_close(log, err);
	}
}

static void
test_torn_tail(void)
{
	char		dir[512];
	char		path[600];
	char		err[DCF_ERRMSG_MAX];
	char		why[256] = "";
	dcf_log    *log;
	uint64_t	offs[256];
	uint64_t	idx[256];
	size_t		n = 0;
	size_t		k110;
	const dcf_log_open_info *info;

	snprintf(dir, sizeof(dir), "%s/torn", tmproot);

	/* 1. the file ends inside entry 110's payload */
	make_torn_log(dir, offs, idx, &n, path);
	CHECK(n == 120, "torn-tail log has 120 entries before the damage (%zu)", n);
	for (k110 = 0; k110 < n && idx[k110] != 110; k110++)
		;
	truncate(path, (off_t) (offs[k110] + DCF_SEG_RECORD_HEADER_BYTES + len_of(110) / 2));
	CHECK(try_open(dir, 1, &log, err) == DCF_OK && dcf_log_info(log)->torn && dcf_log_last_index(log) == 109 &&
		  file_size(path) == offs[k110] + DCF_SEG_RECORD_HEADER_BYTES + len_of(110) / 2,
		  "read-only open reports the torn tail and changes nothing");
	if (log)
		dcf_log_close(log, err);
	log = open_log(dir, 0, err);
	if (!CHECK(log != NULL, "a file cut inside an entry opens (torn tail)%s%s", log ? "" : ": ", log ? "" : err))
		return;
	info = dcf_log_info(log);
	CHECK(info->torn && info->torn_index == 110 && info->torn_offset == offs[k110] &&
		  strcmp(info->torn_file, SEG1) == 0 && strcmp(info->torn_reason, "file ends inside a record payload") == 0,
		  "open info: torn at entry %" PRIu64 ", %s offset %" PRIu64 ": %s", info->torn_index, info->torn_file,
		  info->torn_offset, info->torn_reason);
	CHECK(info->durable_floor == 100, "records prove 1..100 durable (floor %" PRIu64 ")", info->durable_floor);
	CHECK(dcf_log_last_index(log) == 109 && dcf_log_durable_index(log) == 109,
		  "cut back to the last whole entry, 109, now durable");
	CHECK(entries_match(log, 1, 109, why, sizeof(why)), "entries 1..109 intact %s", why);
	CHECK(file_size(path) == offs[k110], "the file was truncated at entry 110's offset");
	CHECK(append_range(log, 110, 115, err) == DCF_OK && dcf_log_sync(log, NULL, err) == DCF_OK,
		  "appending continues at 110");
	dcf_log_close(log, err);
	log = open_log(dir, 0, err);
	CHECK(log && !dcf_log_info(log)->torn && dcf_log_last_index(log) == 115 && entries_match(log, 1, 115, why, sizeof(why)),
		  "the repaired log reopens clean with 1..115");
	if (log)
		dcf_log_close(log, err);

	/* 2. garbage from the middle of entry 110 to the end */
	make_torn_log(dir, offs, idx, &n, path);
	{
		int			fd = open(path, O_RDWR);
		uint64_t	from = offs[k110] + 20;
		uint64_t	size = file_size(path);
		uint8_t		junk[4096];

		fill(junk, sizeof(junk), 99);
		for (uint64_t o = from; o < size; o += sizeof(junk))
			if (pwrite(fd, junk, size - o < sizeof(junk) ? size - o : sizeof(junk), (off_t) o) < 0)
				break;
		close(fd);
	}
	log = open_log(dir, 0, err);
	CHECK(log && dcf_log_last_index(log) == 109 && dcf_log_info(log)->torn &&
		  strcmp(dcf_log_info(log)->torn_reason, "record header checksum mismatch") == 0,
		  "garbage over the unsynced tail: cut at 109 (%s)", log ? dcf_log_info(log)->torn_reason : err);
	if (log)
		dcf_log_close(log, err);

	/* 3. a hole (a dropped write) at entry 110, later unsynced entries intact */
	make_torn_log(dir, offs, idx, &n, path);
	{
		int			fd = open(path, O_RDWR);
		uint8_t		zeros[16384];

		memset(zeros, 0, sizeof(zeros));
		if (pwrite(fd, zeros, (size_t) (offs[k110 + 1] - offs[k110]), (off_t) offs[k110]) < 0)
			CHECK(0, "pwrite");
		close(fd);
	}
	log = open_log(dir, 0, err);
	CHECK(log && dcf_log_last_index(log) == 109 && dcf_log_info(log)->torn,
		  "a hole followed by entries that were never durable: torn, cut at 109 (%s)",
		  log ? dcf_log_info(log)->torn_reason : err);
	if (log)
		dcf_log_close(log, err);

	/* 4. the same hole inside the durable part (entry 50) is corruption */
	make_torn_log(dir, offs, idx, &n, path);
	{
		int			fd = open(path, O_RDWR);
		uint8_t		zeros[16384];

		memset(zeros, 0, sizeof(zeros));
		if (pwrite(fd, zeros, (size_t) (offs[50] - offs[49]), (off_t) offs[49]) < 0)
			CHECK(0, "pwrite");
		close(fd);
	}
	CHECK(try_open(dir, 0, &log, err) == DCF_ERR_CORRUPT && strstr(err, "entry 50 is damaged or missing, but index 100 was durable"),
		  "a hole in durable entries refuses to open: %s", err);
}

static void
test_lock_and_read_only(void)
{
	char		dir[512];
	char		err[DCF_ERRMSG_MAX];
	dcf_log    *a;
	dcf_log    *b = NULL;
	dcf_log_entry e;

	fresh_dir(dir, "lock");
	a = open_log(dir, 0, err);
	if (!CHECK(a != NULL, "open"))
		return;
	append_range(a, 1, 5, err);
	dcf_log_sync(a, NULL, err);
	CHECK(try_open(dir, 0, &b, err) == DCF_ERR_STATE && strstr(err, "in use"),
		  "a second writer is refused: %s", err);
	CHECK(try_open(dir, 1, &b, err) == DCF_OK && dcf_log_last_index(b) == 5,
		  "a read-only open works alongside and sees 5 entries");
	memset(&e, 0, sizeof(e));
	e.index = 6;
	e.term = term_of(5);
	e.key = key_of(5);
	CHECK(b && dcf_log_append(b, &e, 1, err) == DCF_ERR_STATE, "read-only handles refuse appends");
	if (b)
		dcf_log_close(b, err);
	dcf_log_close(a, err);
	{
		char		nolog[600];

		snprintf(nolog, sizeof(nolog), "%s/absent", tmproot);
		CHECK(try_open(nolog, 1, &b, err) == DCF_ERR_NOTFOUND, "read-only open of a missing log: not found (%s)", err);
	}
}

static void
test_failed_fdatasync(void)
{
	dcf_memfs  *fs = dcf_memfs_new(1);
	dcf_log_options o;
	dcf_log    *log = NULL;
	char		err[DCF_ERRMSG_MAX];
	uint64_t	d = 0;

	dcf_memfs_mkdir_durable(fs, "/d");
	dcf_log_options_init(&o);
	o.io = dcf_memfs_io(fs);
	o.segment_bytes = SEG_BYTES;
	if (!CHECK(dcf_log_open("/d/log", &o, &log, err) == DCF_OK, "memfs open"))
		return;
	append_range(log, 1, 10, err);
	dcf_log_sync(log, &d, err);
	append_range(log, 11, 20, err);
	dcf_memfs_fail_fdatasync_after(fs, 1);
	CHECK(dcf_log_sync(log, &d, err) == DCF_ERR_IO && d == 10, "a failed fdatasync fails the sync; durable stays 10");
	CHECK(dcf_log_sync(log, &d, err) == DCF_ERR_IO && strstr(err, "unusable"),
		  "it is not retried: later syncs fail too (%s)", err);
	CHECK(append_range(log, 21, 21, err) == DCF_ERR_IO, "and appends are refused");
	dcf_log_close(log, err);
	dcf_memfs_crash(fs, NULL, NULL);
	CHECK(dcf_log_open("/d/log", &o, &log, err) == DCF_OK && dcf_log_last_index(log) >= 10,
		  "reopening after the crash keeps the 10 durable entries (has %" PRIu64 ")", log ? dcf_log_last_index(log) : 0);
	dcf_log_close(log, err);
	dcf_memfs_free(fs);
}

/* ---- direct appends (O_DIRECT, log.c write_direct) ---------------------- */

/* every 4th entry 40-60 kB, so a batch of 8 is a direct append */
static uint32_t
dlen(uint64_t i)
{
	return i % 4 == 0 ? (uint32_t) (40000 + (i * 37) % 20000) : (uint32_t) ((i * 7919) % 3000);
}

static uint64_t
dterm(uint64_t i)
{
	return 1 + i / 100;
}

static uint64_t
dkey(uint64_t i)
{
	return i;
}

static const entry_shape direct_shape = {dlen, dterm, dkey};

static dcf_rc
dappend(dcf_log *log, uint64_t lo, uint64_t hi, size_t batch, char *err)
{
	return append_shaped(log, &direct_shape, lo, hi, batch, err);
}

static int
dmatch(dcf_log *log, uint64_t lo, uint64_t hi, char *why, size_t why_len)
{
	if (dcf_log_last_index(log) != hi)
	{
		snprintf(why, why_len, "last index %" PRIu64 ", expected %" PRIu64, dcf_log_last_index(log), hi);
		return 0;
	}
	return match_shaped(log, &direct_shape, lo, hi, 300000, why, why_len);
}

/*
 * The same workload on a real directory, on memfs (which, like Linux,
 * refuses misaligned direct writes) and on a memfs that refuses direct
 * descriptors (as tmpfs does): large batches, single small appends into
 * the block a direct append ended in, a cut in the middle of direct-written
 * blocks and appends after it, a reopen, and on memfs a power cut after
 * the last sync.
 */
static void
direct_workload(const char *what, const dcf_io *io, dcf_memfs *fs, const char *dir, int expect_direct)
{
	dcf_log_options o;
	dcf_log    *log = NULL;
	char		err[DCF_ERRMSG_MAX];
	char		why[300] = "";
	uint64_t	d = 0;
	uint64_t	direct;
	int			ok;

	dcf_log_options_init(&o);
	o.io = io;
	o.segment_bytes = 1024 * 1024;
	if (dcf_log_open(dir, &o, &log, err) != DCF_OK)
	{
		CHECK(0, "%s: open: %s", what, err);
		return;
	}
	ok = dappend(log, 1, 200, 8, err) == DCF_OK &&
		dappend(log, 201, 212, 1, err) == DCF_OK &&
		dappend(log, 213, 400, 8, err) == DCF_OK &&
		dcf_log_sync(log, &d, err) == DCF_OK && d == 400;
	CHECK(ok && dmatch(log, 1, 400, why, sizeof(why)),
		  "%s: 400 entries in batches of 8 and single appends read back (%s%s)", what, ok ? "" : err, why);
	ok = dcf_log_truncate_suffix(log, 390, err) == DCF_OK &&
		dappend(log, 390, 392, 1, err) == DCF_OK &&
		dappend(log, 393, 450, 8, err) == DCF_OK &&
		dcf_log_sync(log, &d, err) == DCF_OK && d == 450;
	CHECK(ok && dmatch(log, 1, 450, why, sizeof(why)),
		  "%s: cut at 390 inside direct-written blocks, appended to 450, all read back (%s%s)", what, ok ? "" : err, why);
	direct = dcf_log_direct_appends(log);
	if (expect_direct)
		CHECK(direct > 0, "%s: %" PRIu64 " of the appends were direct", what, direct);
	else if (fs != NULL)
		CHECK(direct == 0, "%s: direct descriptors refused, every append went through the page cache", what);
	else
		CHECK(1, "%s: %" PRIu64 " direct appends (0 where the file system refuses O_DIRECT)", what, direct);
	if (fs != NULL)
	{
		dcf_memfs_crash(fs, NULL, NULL);
		dcf_log_close(log, err);	/* fails with the power out; frees */
	}
	else
		CHECK(dcf_log_close(log, err) == DCF_OK, "%s: clean close", what);
	log = NULL;
	ok = dcf_log_open(dir, &o, &log, err) == DCF_OK;
	CHECK(ok && dmatch(log, 1, 450, why, sizeof(why)),
		  "%s: after %s every entry is intact (%s%s)", what, fs ? "a power cut" : "a reopen", ok ? "" : err, why);
	if (log)
		dcf_log_close(log, err);
}

static void
test_direct(void)
{
	char		dir[512];

	fresh_dir(dir, "direct");
	direct_workload("posix", dcf_io_posix(), NULL, dir, 0);
	rm_rf(dir);
	for (int refuse = 0; refuse <= 1; refuse++)
	{
		dcf_memfs  *fs = dcf_memfs_new(7 + refuse);

		dcf_memfs_mkdir_durable(fs, "/d");
		dcf_memfs_no_direct(fs, refuse);
		direct_workload(refuse ? "memfs refusing O_DIRECT" : "memfs", dcf_memfs_io(fs), fs, "/d/log", !refuse);
		dcf_memfs_free(fs);
	}
}

/* ---- a helper thread syncing while the owner appends -------------------- */

typedef struct sync_thread_arg
{
	dcf_log    *log;
	volatile int stop;
	volatile uint64_t syncs;
	uint64_t	last;
	int			bad;
} sync_thread_arg;

static void *
sync_thread(void *p)
{
	sync_thread_arg *a = p;
	char		err[DCF_ERRMSG_MAX];

	while (!a->stop)
	{
		uint64_t	d = 0;

		if (dcf_log_sync(a->log, &d, err) != DCF_OK || d < a->last)
			a->bad = 1;
		a->last = d;
		a->syncs++;
	}
	return NULL;
}

static void
test_sync_thread(void)
{
	char		dir[512];
	char		err[DCF_ERRMSG_MAX];
	char		why[256] = "";
	dcf_log    *log;
	pthread_t	th;
	sync_thread_arg arg;
	int			bad_order = 0;
	uint64_t	d = 0;
	uint64_t	last = 0;
	dcf_rc		rc;

	fresh_dir(dir, "thread");
	log = open_log(dir, 1, err);
	if (!CHECK(log != NULL, "open"))
		return;
	memset(&arg, 0, sizeof(arg));
	arg.log = log;
	pthread_create(&th, NULL, sync_thread, &arg);
	/* append until the helper has synced many times while we appended */
	while (last < 8000 && (last < 2000 || arg.syncs < 50))
	{
		append_range(log, last + 1, last + 16, err);
		last += 16;
		/* the durable index never passes what was appended */
		if (dcf_log_durable_index(log) > last)
			bad_order = 1;
	}
	arg.stop = 1;
	pthread_join(th, NULL);
	CHECK(!arg.bad && !bad_order, "durable index from the helper thread is monotonic and never ahead of appends (%" PRIu64 " syncs)",
		  arg.syncs);
	rc = dcf_log_sync(log, &d, err);
	CHECK(rc == DCF_OK && d == last, "a final sync covers everything (%" PRIu64 " of %" PRIu64 ")", d, last);
	CHECK(entries_match(log, 1, last, why, sizeof(why)), "all %" PRIu64 " entries intact %s", last, why);
	dcf_log_close(log, err);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(tmproot, sizeof(tmproot), "%s/dcf-test-storage-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(tmproot) == NULL)
	{
		printf("not ok - could not create a temporary directory: %s\n", strerror(errno));
		return 1;
	}
	readbuf = malloc(DCF_LOG_READ_BUFFER_MIN_BYTES);
	test_basic();
	test_read_bounds();
	test_invalid_appends();
	test_truncations();
	test_meta();
	test_corrupt_middle();
	test_torn_tail();
	test_repair();
	test_lock_and_read_only();
	test_failed_fdatasync();
	test_sync_thread();
	test_direct();
	free(readbuf);
	{
		const char *names[] = {"basic", "bounds", "invalid", "trunc", "meta", "corrupt", "torn", "lock", "thread"};

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		{
			char		d[600];

			snprintf(d, sizeof(d), "%s/%s", tmproot, names[i]);
			rm_rf(d);
		}
		rmdir(tmproot);
	}
	return unit_done();
}
