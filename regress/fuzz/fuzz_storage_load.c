/*
 * fuzz_storage_load.c — random bytes in segment and metadata files must
 * give a clean error from dcf_log_open(), never a crash, a hang, a leak or
 * an assertion; and a log that did open must behave.
 *
 * Input format (all little-endian), so that mutations of the seeds keep
 * producing plausible directories:
 *     u8  flags: bit 0 preallocate, bits 1-2 segment size (4 kB << n)
 *     then chunks until the input ends:
 *         u8  kind: 0 dcf.meta, 1 segment, 2 dcf.meta.tmp, 3 a stray file
 *         u32 first index (segments only, in the file name)
 *         u16 length, then that many bytes of file content
 * The files are written into an in-memory file system (memfs) and the log
 * is opened read-only, then read-write.  When it opens, every entry is read
 * back, lookups are exercised, a few entries are appended and synced, the
 * suffix is truncated, and the log is closed and reopened: a log this code
 * repaired or wrote itself must always open again, with the same entries.
 *
 * Seeds (regress/fuzz/corpus/fuzz_storage_load/) are real logs written by
 * regress/fuzz/storage_seedgen.c (`make fuzz-storage-seeds`).
 */
#include "storage/log.h"
#include "storage/memfs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_DIR "/d/log"
#define FUZZ_FILES_MAX 16

static void
must(int cond, const char *what)
{
	if (!cond)
	{
		fprintf(stderr, "fuzz_storage_load: invariant broken: %s\n", what);
		abort();
	}
}

static void
exercise(dcf_log *log, int writable)
{
	static uint8_t *buf;
	dcf_log_entry out[64];
	char		err[DCF_ERRMSG_MAX];
	uint64_t	first = dcf_log_first_index(log);
	uint64_t	last = dcf_log_last_index(log);
	uint64_t	v;

	if (buf == NULL)
		buf = malloc(DCF_LOG_READ_BUFFER_MIN_BYTES);
	must(last + 1 >= first, "last index below first - 1");
	must(dcf_log_term_at(log, first - 1, &v) == DCF_OK, "term before the first index");
	for (uint64_t i = first; i <= last;)
	{
		size_t		n = 0;
		dcf_rc		rc = dcf_log_read(log, i, last + 1, 1 << 16, buf, DCF_LOG_READ_BUFFER_MIN_BYTES,
									  out, 64, &n, err);

		if (rc != DCF_OK)
			fprintf(stderr, "read [%" PRIu64 ", %" PRIu64 "]: %s\n", i, last, err);
		/* a loaded log reads back whole (files do not change under us) */
		must(rc == DCF_OK && n > 0, "reading a loaded entry failed");
		for (size_t k = 0; k < n; k++)
		{
			uint64_t	t;
			uint64_t	key;

			must(out[k].index == i + k, "entries out of order");
			must(dcf_log_term_at(log, i + k, &t) == DCF_OK && t == out[k].term, "term_at disagrees with read");
			must(dcf_log_key_at(log, i + k, &key) == DCF_OK && key == out[k].key, "key_at disagrees with read");
		}
		i += n;
	}
	if (last >= first)
	{
		uint64_t	k;
		uint64_t	idx;

		dcf_log_key_at(log, first + (last - first) / 2, &k);
		must(dcf_log_find_key(log, k, &idx) == DCF_OK && idx <= first + (last - first) / 2,
			 "find_key misses a key that is in the log");
	}
	if (writable)
	{
		dcf_log_entry e[3];
		uint8_t		payload[100];
		uint64_t	key = 0;
		uint64_t	d = 0;

		memset(payload, 0x5c, sizeof(payload));
		if (last >= first)
			dcf_log_key_at(log, last, &key);
		for (int i = 0; i < 3; i++)
		{
			e[i].index = last + 1 + (uint64_t) i;
			e[i].term = dcf_log_last_term(log);
			e[i].key = key + (uint64_t) i;
			e[i].type = 1;
			e[i].len = sizeof(payload);
			e[i].data = payload;
		}
		must(dcf_log_append(log, e, 3, err) == DCF_OK, "append to a loaded log failed");
		must(dcf_log_sync(log, &d, err) == DCF_OK && d == last + 3, "sync after append");
		must(dcf_log_truncate_suffix(log, last + 3, err) == DCF_OK, "suffix truncation");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dcf_memfs  *fs;
	dcf_log_options o;
	dcf_log    *log = NULL;
	char		err[DCF_ERRMSG_MAX];
	size_t		pos = 1;
	int			nfiles = 0;
	uint64_t	last = 0;
	uint64_t	first = 0;

	if (size < 1)
		return 0;
	fs = dcf_memfs_new(size);
	dcf_memfs_mkdir_durable(fs, "/d");
	dcf_memfs_mkdir_durable(fs, FUZZ_DIR);
	while (pos + 7 <= size && nfiles < FUZZ_FILES_MAX)
	{
		uint8_t		kind = data[pos] & 3;
		uint32_t	first_index = (uint32_t) data[pos + 1] | ((uint32_t) data[pos + 2] << 8) |
			((uint32_t) data[pos + 3] << 16) | ((uint32_t) data[pos + 4] << 24);
		size_t		len = (size_t) data[pos + 5] | ((size_t) data[pos + 6] << 8);
		char		path[128];

		pos += 7;
		if (len > size - pos)
			len = size - pos;
		if (kind == 0)
			snprintf(path, sizeof(path), "%s/%s", FUZZ_DIR, DCF_META_FILE);
		else if (kind == 1)
		{
			char		name[DCF_SEG_NAME_MAX];

			dcf_seg_name(first_index, name);
			snprintf(path, sizeof(path), "%s/%s", FUZZ_DIR, name);
		}
		else if (kind == 2)
			snprintf(path, sizeof(path), "%s/%s", FUZZ_DIR, DCF_META_TMP_FILE);
		else
			snprintf(path, sizeof(path), "%s/stray%u", FUZZ_DIR, first_index % 4);
		dcf_memfs_write_file(fs, path, data + pos, len);
		pos += len;
		nfiles++;
	}

	dcf_log_options_init(&o);
	o.io = dcf_memfs_io(fs);
	o.preallocate = data[0] & 1;
	o.segment_bytes = (uint64_t) 4096 << ((data[0] >> 1) & 3);
	o.create = 0;

	o.read_only = 1;
	if (dcf_log_open(FUZZ_DIR, &o, &log, err) == DCF_OK)
	{
		must(strlen(err) < DCF_ERRMSG_MAX, "message not terminated");
		exercise(log, 0);
		dcf_log_close(log, err);
	}
	else
		must(err[0] != '\0', "refusal without a message");

	o.read_only = 0;
	if (dcf_log_open(FUZZ_DIR, &o, &log, err) == DCF_OK)
	{
		exercise(log, 1);
		first = dcf_log_first_index(log);
		last = dcf_log_last_index(log);
		must(dcf_log_close(log, err) == DCF_OK, "close of a healthy log failed");
		/* what this code wrote or repaired must open again, unchanged */
		if (dcf_log_open(FUZZ_DIR, &o, &log, err) != DCF_OK)
		{
			fprintf(stderr, "reopen: %s\n", err);
			must(0, "a log this code repaired does not reopen");
		}
		must(dcf_log_first_index(log) == first && dcf_log_last_index(log) == last &&
			 !dcf_log_info(log)->torn, "reopen changed the log");
		exercise(log, 0);
		dcf_log_close(log, err);
	}
	else
		must(err[0] != '\0', "refusal without a message");
	dcf_memfs_free(fs);
	return 0;
}
