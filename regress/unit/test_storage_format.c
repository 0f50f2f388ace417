/*
 * test_storage_format.c — the on-disk formats of segment files and the
 * metadata record (segment.h, meta.h): the documented byte layout, round
 * trips, detection of every single-bit error, bounds checked before use,
 * and the validating reader's verdicts on ends, holes and short files.
 */
#include "storage/meta.h"
#include "storage/memfs.h"
#include "storage/segment.h"
#include "core/crc32c.h"
#include "unit.h"

#include <inttypes.h>
#include <string.h>

static uint64_t
le64(const uint8_t *p)
{
	uint64_t	v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t) le64((const uint8_t[8]) {p[0], p[1], p[2], p[3], 0, 0, 0, 0});
}

static void
test_names(void)
{
	char		name[DCF_SEG_NAME_MAX];
	uint64_t	v = 0;

	dcf_seg_name(1, name);
	CHECK(strcmp(name, "00000000000000000001.seg") == 0, "segment 1 is named %s", name);
	dcf_seg_name(UINT64_MAX, name);
	CHECK(dcf_seg_parse_name(name, &v) && v == UINT64_MAX, "the largest index round-trips (%s)", name);
	CHECK(dcf_seg_parse_name("00000000000000012345.seg", &v) && v == 12345, "parse 12345");
	CHECK(!dcf_seg_parse_name("99999999999999999999.seg", &v), "a name above 2^64-1 is not a segment");
	CHECK(!dcf_seg_parse_name("1.seg", &v) && !dcf_seg_parse_name("0000000000000000000x.seg", &v) &&
		  !dcf_seg_parse_name("00000000000000000001.seg.tmp", &v) && !dcf_seg_parse_name("dcf.meta", &v),
		  "other names are not segments");
}

static void
test_segment_header(void)
{
	uint8_t		h[DCF_SEG_HEADER_BYTES];
	uint64_t	first = 0;
	const char *why = NULL;
	int			undetected = 0;

	dcf_seg_encode_header(0x0102030405060708ULL, h);
	CHECK(le32(h) == DCF_SEG_MAGIC && memcmp(h, "DCFS", 4) == 0 && le32(h + 4) == DCF_SEG_VERSION &&
		  le64(h + 8) == 0x0102030405060708ULL && le32(h + 28) == dcf_crc32c(0, h, 28),
		  "segment header layout: magic \"DCFS\", version, first index LE at 8, CRC-32C of [0,28) at 28");
	CHECK(dcf_seg_decode_header(h, &first, &why) == 0 && first == 0x0102030405060708ULL, "header round-trips");
	for (int bit = 0; bit < DCF_SEG_HEADER_BYTES * 8; bit++)
	{
		h[bit / 8] ^= (uint8_t) (1u << (bit % 8));
		if (dcf_seg_decode_header(h, &first, &why) == 0)
			undetected++;
		h[bit / 8] ^= (uint8_t) (1u << (bit % 8));
	}
	CHECK(undetected == 0, "every single-bit error in a segment header is detected");
}

static void
test_record_header(void)
{
	uint8_t		h[DCF_SEG_RECORD_HEADER_BYTES];
	dcf_seg_rec r;
	dcf_seg_rec back;
	const char *why = NULL;
	int			undetected = 0;

	memset(&r, 0, sizeof(r));
	r.kind = DCF_SEG_KIND_ENTRY;
	r.type = 7;
	r.index = 1000;
	r.term = 0x1122334455667788ULL;
	r.key = 0x99aabbccddeeff00ULL;
	r.durable = 999;
	r.length = 12345;
	r.payload_crc = 0xdeadbeef;
	dcf_seg_encode_record(&r, h);
	CHECK(memcmp(h, "DCFR", 4) == 0 && h[4] == DCF_SEG_KIND_ENTRY && h[5] == 7 &&
		  le64(h + 8) == 1000 && le64(h + 16) == r.term && le64(h + 24) == r.key && le64(h + 32) == 999 &&
		  le32(h + 40) == 12345 && le32(h + 44) == 0xdeadbeef && le32(h + 48) == 0 &&
		  le32(h + 52) == dcf_crc32c(0, h, 52),
		  "record header layout as documented in segment.h");
	CHECK(dcf_seg_decode_record(h, &back, &why) == 0 && back.index == 1000 && back.term == r.term &&
		  back.key == r.key && back.durable == 999 && back.length == 12345 && back.type == 7 &&
		  back.payload_crc == 0xdeadbeef, "record header round-trips");
	for (int bit = 0; bit < DCF_SEG_RECORD_HEADER_BYTES * 8; bit++)
	{
		h[bit / 8] ^= (uint8_t) (1u << (bit % 8));
		if (dcf_seg_decode_record(h, &back, &why) == 0)
			undetected++;
		h[bit / 8] ^= (uint8_t) (1u << (bit % 8));
	}
	CHECK(undetected == 0, "every single-bit error in a record header is detected");

	/* checks beyond the checksum: what a buggy writer could produce */
	r.length = DCF_SEG_PAYLOAD_MAX_BYTES + 1;
	dcf_seg_encode_record(&r, h);
	CHECK(dcf_seg_decode_record(h, &back, &why) != 0 && strcmp(why, "record length over the maximum") == 0,
		  "a length over the maximum is refused before use (%s)", why);
	r.length = 10;
	r.durable = 1000;
	dcf_seg_encode_record(&r, h);
	CHECK(dcf_seg_decode_record(h, &back, &why) != 0 && strstr(why, "durable"),
		  "an entry claiming itself durable is refused (%s)", why);
	r.durable = 5;
	r.kind = 9;
	dcf_seg_encode_record(&r, h);
	CHECK(dcf_seg_decode_record(h, &back, &why) != 0 && strcmp(why, "unknown record kind") == 0, "unknown kind refused");
	r.kind = DCF_SEG_KIND_MARK;
	dcf_seg_encode_record(&r, h);
	CHECK(dcf_seg_decode_record(h, &back, &why) != 0 && strstr(why, "mark"), "a mark with a payload is refused");
	r.length = 0;
	r.durable = 1000;
	dcf_seg_encode_record(&r, h);
	CHECK(dcf_seg_decode_record(h, &back, &why) == 0, "a mark may say its own index is durable");

	CHECK(dcf_seg_frame_bytes(0) == 56 && dcf_seg_frame_bytes(1) == 64 && dcf_seg_frame_bytes(8) == 64 &&
		  dcf_seg_frame_bytes(9) == 72, "frames are 56-byte headers plus payload padded to 8");
}

static void
test_meta_codec(void)
{
	static uint8_t memb[DCF_META_MEMBERSHIP_MAX_BYTES];
	static uint8_t buf[DCF_META_MAX_BYTES];
	dcf_meta	m;
	dcf_meta	back;
	const char *why = NULL;
	size_t		len;
	int			undetected = 0;

	for (size_t i = 0; i < sizeof(memb); i++)
		memb[i] = (uint8_t) (i * 31 + 7);
	memset(&m, 0, sizeof(m));
	m.term = 77;
	m.voted_for = 3;
	m.applied_index = 123456789;
	m.first_index = 1001;
	m.prev_term = 76;
	m.durable_index = 1500;
	m.durable_term = 80;
	m.repair_index = 1499;
	m.repair_term = 79;
	m.membership = memb;
	m.membership_len = 100;
	len = dcf_meta_encoded_bytes(&m);
	dcf_meta_encode(&m, buf);
	CHECK(len == DCF_META_FIXED_BYTES + 100 && memcmp(buf, "DCFM", 4) == 0 && le32(buf + 4) == DCF_META_VERSION &&
		  le32(buf + 8) == len && le32(buf + 12) == 3 && le64(buf + 16) == 77 && le64(buf + 24) == 123456789 &&
		  le64(buf + 32) == 1001 && le64(buf + 40) == 76 && le32(buf + 48) == 100 &&
		  le64(buf + 56) == 1500 && le64(buf + 64) == 80 && le64(buf + 72) == 1499 && le64(buf + 80) == 79 &&
		  memcmp(buf + 88, memb, 100) == 0 && le32(buf + len - 4) == dcf_crc32c(0, buf, len - 4),
		  "metadata layout as documented in meta.h");
	CHECK(dcf_meta_decode(buf, len, &back, &why) == 0 && back.term == 77 && back.voted_for == 3 &&
		  back.applied_index == 123456789 && back.first_index == 1001 && back.prev_term == 76 &&
		  back.membership_len == 100 && memcmp(back.membership, memb, 100) == 0 &&
		  back.durable_index == 1500 && back.repair_index == 1499 && back.format_version == DCF_META_VERSION &&
		  back.durable_term == 80 && back.repair_term == 79,
		  "metadata round-trips");
	{
		/* format 1: no durable mark, no repair index, membership at 56 */
		uint8_t		v1[DCF_META_V1_FIXED_BYTES + 100];
		size_t		l1 = sizeof(v1);

		memcpy(v1, buf, 56);
		v1[4] = 1;
		v1[8] = (uint8_t) l1;
		v1[9] = (uint8_t) (l1 >> 8);
		memcpy(v1 + 56, memb, 100);
		{
			uint32_t	c = dcf_crc32c(0, v1, l1 - 4);

			for (int i = 0; i < 4; i++)
				v1[l1 - 4 + i] = (uint8_t) (c >> (8 * i));
		}
		CHECK(dcf_meta_decode(v1, l1, &back, &why) == 0 && back.format_version == 1 && back.term == 77 &&
			  back.durable_index == 0 && back.repair_index == 0 && back.membership_len == 100 &&
			  memcmp(back.membership, memb, 100) == 0,
			  "a format 1 record still reads, with no durable mark and no repair index");
	}
	for (size_t bit = 0; bit < len * 8; bit++)
	{
		buf[bit / 8] ^= (uint8_t) (1u << (bit % 8));
		if (dcf_meta_decode(buf, len, &back, &why) == 0)
			undetected++;
		buf[bit / 8] ^= (uint8_t) (1u << (bit % 8));
	}
	CHECK(undetected == 0, "every single-bit error in a metadata record is detected");
	CHECK(dcf_meta_decode(buf, len - 1, &back, &why) != 0 && dcf_meta_decode(buf, 10, &back, &why) != 0,
		  "a short record is refused (%s)", why);
	m.membership_len = DCF_META_MEMBERSHIP_MAX_BYTES;
	len = dcf_meta_encoded_bytes(&m);
	dcf_meta_encode(&m, buf);
	CHECK(len == DCF_META_MAX_BYTES && dcf_meta_decode(buf, len, &back, &why) == 0 &&
		  back.membership_len == DCF_META_MEMBERSHIP_MAX_BYTES, "the largest membership fits");
	m.membership_len = 0;
	m.first_index = 1;
	m.prev_term = 5;
	dcf_meta_encode(&m, buf);
	CHECK(dcf_meta_decode(buf, DCF_META_FIXED_BYTES, &back, &why) != 0 && strstr(why, "index 1"),
		  "a term before index 1 is refused (%s)", why);
}

/* The validating reader on crafted files in memfs. */
static void
test_reader(void)
{
	dcf_memfs  *fs = dcf_memfs_new(3);
	const dcf_io *io = dcf_memfs_io(fs);
	uint8_t		file[4096];
	uint8_t		payload[20];
	dcf_seg_rec r;
	dcf_seg_reader rd;
	dcf_seg_status st;
	const char *why = NULL;
	char		err[DCF_ERRMSG_MAX];
	uint64_t	maxd = 0;
	uint64_t	found = 0;
	int			fd;
	size_t		end;

	memset(file, 0, sizeof(file));
	dcf_seg_encode_header(1, file);
	memset(payload, 0xab, sizeof(payload));
	memset(&r, 0, sizeof(r));
	r.kind = DCF_SEG_KIND_ENTRY;
	r.index = 1;
	r.durable = 0;
	r.length = sizeof(payload);
	r.payload_crc = dcf_crc32c(0, payload, sizeof(payload));
	dcf_seg_encode_record(&r, file + 32);
	memcpy(file + 32 + 56, payload, sizeof(payload));
	end = 32 + dcf_seg_frame_bytes(sizeof(payload));	/* 112 */
	r.index = 2;
	r.durable = 1;
	r.length = 0;
	r.payload_crc = 0;
	dcf_seg_encode_record(&r, file + end);

	dcf_memfs_mkdir_durable(fs, "/d");
#define WRITE_AND_OPEN(len) \
	do { \
		dcf_memfs_write_file(fs, "/d/f", file, (len)); \
		fd = io->open(io->ctx, "/d/f", DCF_IO_RDONLY); \
		dcf_seg_reader_open(&rd, io, fd, err); \
	} while (0)
#define CLOSE() do { dcf_seg_reader_close(&rd); io->close(io->ctx, fd); } while (0)

	WRITE_AND_OPEN(sizeof(file));
	dcf_seg_read_record(&rd, 32, &st, &r, NULL, &why, err);
	CHECK(st == DCF_SEG_RECORD && r.index == 1 && r.length == 20, "first record read");
	dcf_seg_read_record(&rd, end, &st, &r, NULL, &why, err);
	CHECK(st == DCF_SEG_RECORD && r.index == 2, "second record read");
	dcf_seg_read_record(&rd, end + 56, &st, &r, NULL, &why, err);
	CHECK(st == DCF_SEG_END, "zeros to the end of the file: end of data");
	dcf_seg_scan_durable(&rd, 0, &maxd, NULL, &found, err);
	CHECK(found == 2 && maxd == 1, "durable scan finds both headers, largest durable 1");
	CLOSE();

	WRITE_AND_OPEN(end + 56);
	dcf_seg_read_record(&rd, end + 56, &st, &r, NULL, &why, err);
	CHECK(st == DCF_SEG_END, "end of file right after a record: end of data");
	CLOSE();

	WRITE_AND_OPEN(end + 30);
	dcf_seg_read_record(&rd, end, &st, &r, NULL, &why, err);
	CHECK(st == DCF_SEG_BAD && strcmp(why, "file ends inside a record header") == 0, "short header: %s", why);
	CLOSE();

	WRITE_AND_OPEN(32 + 56 + 10);
	dcf_seg_read_record(&rd, 32, &st, &r, NULL, &why, err);
	CHECK(st == DCF_SEG_BAD && strcmp(why, "file ends inside a record payload") == 0, "short payload: %s", why);
	CLOSE();

	file[32 + 56 + 20] = 1;		/* padding */
	WRITE_AND_OPEN(sizeof(file));
	dcf_seg_read_record(&rd, 32, &st, &r, NULL, &why, err);
	CHECK(st == DCF_SEG_BAD && strcmp(why, "record padding not zero") == 0, "dirty padding: %s", why);
	CLOSE();
	file[32 + 56 + 20] = 0;

	file[3000] = 1;				/* data after the zeros */
	WRITE_AND_OPEN(sizeof(file));
	dcf_seg_read_record(&rd, end + 56, &st, &r, NULL, &why, err);
	CHECK(st == DCF_SEG_BAD && strstr(why, "followed by more data"), "a hole followed by data: %s", why);
	CLOSE();

	dcf_memfs_free(fs);
#undef WRITE_AND_OPEN
#undef CLOSE
}

/* The batch checksum path against the single-buffer one. */
static void
test_crc_many(void)
{
	static uint8_t pool[70000];
	const void *data[11];
	uint32_t	len[11];
	uint32_t	crc[11];
	uint64_t	x = 12345;
	int			bad = 0;
	int			trials = 0;

	for (size_t i = 0; i < sizeof(pool); i++)
	{
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pool[i] = (uint8_t) x;
	}
	for (size_t n = 0; n <= 11; n++)
		for (int rep = 0; rep < 40; rep++)
		{
			for (size_t i = 0; i < n; i++)
			{
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				/* unaligned starts, lengths from 0 to ~6 kB, some equal */
				len[i] = (uint32_t) (rep % 5 == 0 ? 4096 : x % 6000);
				data[i] = len[i] ? pool + (x >> 20) % (sizeof(pool) - 6000) : NULL;
			}
			dcf_seg_crc32c_many(data, len, crc, n);
			for (size_t i = 0; i < n; i++)
				if (crc[i] != dcf_crc32c_sw(0, data[i], len[i]))
					bad++;
			trials++;
		}
	CHECK(bad == 0, "batch CRC-32C (three buffers in lock-step) equals the software CRC on %d random batches%s",
		  trials, dcf_crc32c_hw_available() ? "" : " (no SSE4.2: fallback path)");
}

int
main(void)
{
	test_names();
	test_segment_header();
	test_record_header();
	test_meta_codec();
	test_reader();
	test_crc_many();
	return unit_done();
}
