/*
 * storage_seedgen.c — writes the seed corpus of fuzz_storage_load: real
 * data directories produced by the log itself (in memfs), serialised in
 * the fuzz target's input format.  Run by `make fuzz-storage-seeds`; the
 * output is committed under regress/fuzz/corpus/fuzz_storage_load/.
 *
 * usage: storage_seedgen OUTDIR
 */
#include "storage/log.h"
#include "storage/memfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR_PATH "/d/log"

typedef struct names
{
	char		v[32][64];
	int			n;
} names;

static int
collect(void *arg, const char *name)
{
	names	   *l = arg;

	if (l->n < 32)
		snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", name);
	return 0;
}

static void
put_chunk(FILE *f, int kind, uint32_t first, const uint8_t *data, size_t len)
{
	uint8_t		h[7];

	if (len > 65535)
		len = 65535;
	h[0] = (uint8_t) kind;
	h[1] = (uint8_t) first;
	h[2] = (uint8_t) (first >> 8);
	h[3] = (uint8_t) (first >> 16);
	h[4] = (uint8_t) (first >> 24);
	h[5] = (uint8_t) len;
	h[6] = (uint8_t) (len >> 8);
	fwrite(h, 1, 7, f);
	fwrite(data, 1, len, f);
}

static void
dump(dcf_memfs *fs, int flags, const char *out)
{
	names		l;
	FILE	   *f = fopen(out, "wb");
	const dcf_io *io = dcf_memfs_io(fs);
	uint8_t		fl = (uint8_t) flags;

	if (f == NULL)
	{
		perror(out);
		exit(1);
	}
	memset(&l, 0, sizeof(l));
	io->list_dir(io->ctx, DIR_PATH, collect, &l);
	fwrite(&fl, 1, 1, f);
	for (int i = 0; i < l.n; i++)
	{
		char		path[128];
		uint8_t    *data;
		size_t		len;
		uint64_t	first;
		int			kind;

		if (strcmp(l.v[i], DCF_META_FILE) == 0)
			kind = 0, first = 0;
		else if (dcf_seg_parse_name(l.v[i], &first))
			kind = 1;
		else
			continue;
		snprintf(path, sizeof(path), "%s/%s", DIR_PATH, l.v[i]);
		if (dcf_memfs_read_file(fs, path, &data, &len) != 0)
			continue;
		/* trailing zeros of preallocated space carry no information */
		if (kind == 1 && (flags & 1))
		{
			while (len > DCF_SEG_HEADER_BYTES && data[len - 1] == 0)
				len--;
			len = (len + DCF_SEG_ALIGN - 1) & ~(size_t) (DCF_SEG_ALIGN - 1);
		}
		put_chunk(f, kind, (uint32_t) first, data, len);
		free(data);
	}
	fclose(f);
}

static void
append(dcf_log *log, uint64_t from, uint64_t to, uint32_t maxlen)
{
	uint8_t		payload[2048];
	char		err[DCF_ERRMSG_MAX];

	for (uint64_t i = from; i <= to; i++)
	{
		dcf_log_entry e;
		uint64_t	key = 0;

		if (i > dcf_log_first_index(log))
			dcf_log_key_at(log, i - 1, &key);
		memset(payload, (int) i, sizeof(payload));
		e.index = i;
		e.term = 1 + i / 10;
		e.key = key + 10 * (i % 3);
		e.type = (uint8_t) (i % 4);
		e.len = (uint32_t) ((i * 37) % (maxlen + 1));
		e.data = payload;
		if (dcf_log_append(log, &e, 1, err) != DCF_OK)
		{
			fprintf(stderr, "append: %s\n", err);
			exit(1);
		}
	}
}

static dcf_log *
open_in(dcf_memfs *fs, int flags)
{
	dcf_log_options o;
	dcf_log    *log;
	char		err[DCF_ERRMSG_MAX];

	dcf_log_options_init(&o);
	o.io = dcf_memfs_io(fs);
	o.preallocate = flags & 1;
	o.segment_bytes = (uint64_t) 4096 << ((flags >> 1) & 3);
	if (dcf_log_open(DIR_PATH, &o, &log, err) != DCF_OK)
	{
		fprintf(stderr, "open: %s\n", err);
		exit(1);
	}
	return log;
}

int
main(int argc, char **argv)
{
	char		out[1024];
	char		err[DCF_ERRMSG_MAX];
	uint8_t		memb[40];
	dcf_meta	m;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	memset(memb, 0x42, sizeof(memb));
	memset(&m, 0, sizeof(m));
	m.term = 3;
	m.voted_for = 2;
	m.applied_index = 4;
	m.membership = memb;
	m.membership_len = sizeof(memb);

	for (int s = 0; s < 6; s++)
	{
		dcf_memfs  *fs = dcf_memfs_new((uint64_t) s);
		int			flags = s == 3 || s == 5 ? 1 : 0;
		dcf_log    *log;

		dcf_memfs_mkdir_durable(fs, "/d");
		log = open_in(fs, flags);
		dcf_log_save_meta(log, &m, err);
		switch (s)
		{
			case 0:				/* one small segment, clean close */
				append(log, 1, 5, 100);
				dcf_log_sync(log, NULL, err);
				break;
			case 1:				/* several segments, several group commits */
				for (uint64_t i = 1; i <= 40; i += 8)
				{
					append(log, i, i + 7, 600);
					dcf_log_sync(log, NULL, err);
				}
				break;
			case 2:				/* recycled prefix, then a suffix conflict */
				{
					dcf_log_holds h = {.min_applied_index = 30, .build_hold_index = 0};

					append(log, 1, 40, 500);
					dcf_log_sync(log, NULL, err);
					dcf_log_truncate_prefix(log, 25, &h, NULL, err);
					dcf_log_truncate_suffix(log, 35, err);
					append(log, 35, 38, 200);
					dcf_log_sync(log, NULL, err);
				}
				break;
			case 3:				/* preallocated segments */
				append(log, 1, 20, 700);
				dcf_log_sync(log, NULL, err);
				break;
			case 4:				/* a torn tail: unsynced entries, then power loss */
				append(log, 1, 12, 300);
				dcf_log_sync(log, NULL, err);
				append(log, 13, 20, 300);
				dcf_memfs_crash_after(fs, 1);
				dcf_log_close(log, err);
				log = NULL;
				dcf_memfs_crash(fs, NULL, NULL);
				break;
			case 5:				/* reset to a later first index */
				append(log, 1, 3, 50);
				dcf_log_reset(log, 100, 7, err);
				append(log, 100, 104, 50);
				dcf_log_sync(log, NULL, err);
				break;
		}
		if (log)
			dcf_log_close(log, err);
		snprintf(out, sizeof(out), "%s/seed-%d.bin", argv[1], s);
		dump(fs, flags, out);
		dcf_memfs_free(fs);
	}
	return 0;
}
