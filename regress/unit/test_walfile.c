/*
 * test_walfile.c — unit tests of extension/pg/walfile.c: LSN text, timeline
 * history parsing (checked against the rules of PostgreSQL's
 * readTimeLineHistory), segment file names, and the choice of segment file
 * for a byte of a timeline's history, over a scratch pg_wal directory of
 * 1 MB segments whose files each carry their own byte pattern.
 */
#include "pg/walfile.h"

#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEG (1024 * 1024)

static dcf_walfile_history hist;
static char dir[64];

/* The byte at offset off of the file of (tli, segno): distinct per file. */
static uint8_t
file_byte(uint32_t tli, uint64_t segno, uint64_t off)
{
	return (uint8_t) ((off * 7 + segno * 31 + tli * 101) & 0xFF);
}

static void
make_segment(uint32_t tli, uint64_t segno, const char *suffix)
{
	char		name[DCF_WALFILE_NAME_BYTES];
	char		path[256];
	static uint8_t buf[SEG];
	uint64_t	i;
	int			fd;

	for (i = 0; i < SEG; i++)
		buf[i] = file_byte(tli, segno, i);
	dcf_walfile_segment_name(name, tli, segno, SEG);
	snprintf(path, sizeof(path), "%s/%s%s", dir, name, suffix);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0 || write(fd, buf, SEG) != SEG)
		perror(path);
	close(fd);
}

static void
remove_segment(uint32_t tli, uint64_t segno, const char *suffix)
{
	char		name[DCF_WALFILE_NAME_BYTES];
	char		path[256];

	dcf_walfile_segment_name(name, tli, segno, SEG);
	snprintf(path, sizeof(path), "%s/%s%s", dir, name, suffix);
	unlink(path);
}

/* Read one byte at lsn; returns the byte, -1 for NOTFOUND, -2 other errors. */
static int
byte_at(dcf_lsn lsn)
{
	uint8_t		b;
	size_t		got = 0;
	char		errmsg[DCF_ERRMSG_MAX];
	dcf_rc		rc = dcf_walfile_read(dir, SEG, &hist, lsn, &b, 1, &got, errmsg);

	if (rc == DCF_ERR_NOTFOUND)
		return -1;
	if (rc != DCF_OK || got != 1)
		return -2;
	return b;
}

static void
test_lsn(void)
{
	dcf_lsn		v = 0;
	char		t[DCF_WALFILE_LSN_TEXT_BYTES];

	CHECK(dcf_walfile_lsn_parse("0/3000148", &v) && v == 0x3000148, "parse 0/3000148");
	CHECK(dcf_walfile_lsn_parse("FFFFFFFF/FFFFFFFF", &v) && v == UINT64_MAX, "parse the largest LSN");
	CHECK(dcf_walfile_lsn_parse("a/b", &v) && v == ((UINT64_C(0xa) << 32) | 0xb), "parse lower-case hex");
	CHECK(!dcf_walfile_lsn_parse("", &v) && !dcf_walfile_lsn_parse("0/", &v) &&
		  !dcf_walfile_lsn_parse("/1", &v) && !dcf_walfile_lsn_parse("0x1/2", &v) &&
		  !dcf_walfile_lsn_parse("1/2 ", &v) && !dcf_walfile_lsn_parse("123456789/0", &v) &&
		  !dcf_walfile_lsn_parse("1-2", &v), "refuse malformed LSNs");
	CHECK(strcmp(dcf_walfile_lsn_format(t, 0x3000148), "0/3000148") == 0, "format 0/3000148");
	CHECK(strcmp(dcf_walfile_lsn_format(t, (UINT64_C(0x1F) << 32) | 0xABC), "1F/ABC") == 0,
		  "format 1F/ABC like %%X/%%X");
	CHECK(dcf_walfile_lsn_parse(dcf_walfile_lsn_format(t, UINT64_C(0x123456789ABCDEF)), &v) &&
		  v == UINT64_C(0x123456789ABCDEF), "format then parse round-trips");
}

static void
test_history(void)
{
	char		errmsg[DCF_ERRMSG_MAX];
	const char *pg = "1\t0/3000148\tno recovery target specified\n"
		"\n# a comment\n"
		"2\t0/5000000\tat restore point \"x\"\n"
		"4\t1/A0\tbefore 2000-01-01 00:00:00+00\n";
	const dcf_walfile_span *s;

	CHECK(dcf_walfile_history_parse(1, "", 0, &hist, errmsg) == DCF_OK && hist.nspans == 1 &&
		  hist.span[0].tli == 1 && hist.span[0].begin == 0 && hist.span[0].end == DCF_WALFILE_LSN_END,
		  "timeline 1: one open span from 0");
	CHECK(dcf_walfile_history_parse(5, pg, strlen(pg), &hist, errmsg) == DCF_OK, "a PostgreSQL history of timeline 5 parses (%s)",
		  errmsg);
	CHECK(hist.nspans == 4, "4 spans (1, 2, 4 and 5)");
	CHECK(hist.span[0].tli == 1 && hist.span[0].begin == 0 && hist.span[0].end == 0x3000148 &&
		  hist.span[1].tli == 2 && hist.span[1].begin == 0x3000148 && hist.span[1].end == 0x5000000 &&
		  hist.span[2].tli == 4 && hist.span[2].begin == 0x5000000 && hist.span[2].end == ((UINT64_C(1) << 32) | 0xA0) &&
		  hist.span[3].tli == 5 && hist.span[3].begin == ((UINT64_C(1) << 32) | 0xA0) &&
		  hist.span[3].end == DCF_WALFILE_LSN_END, "spans are contiguous and end at their switch points");
	s = dcf_walfile_history_find(&hist, 4);
	CHECK(s && s->tli == 4 && dcf_walfile_history_find(&hist, 3) == NULL, "find: 4 is in, 3 is not");
	CHECK(dcf_walfile_history_owner(&hist, 0)->tli == 1 && dcf_walfile_history_owner(&hist, 0x3000147)->tli == 1 &&
		  dcf_walfile_history_owner(&hist, 0x3000148)->tli == 2 &&
		  dcf_walfile_history_owner(&hist, UINT64_C(0xFFFFFFFFFF))->tli == 5, "owner: switch points belong to the child");
	CHECK(dcf_walfile_history_parse(2, "1\t0/3000148", 11, &hist, errmsg) == DCF_OK && hist.nspans == 2,
		  "no trailing newline and no reason are fine");
	CHECK(dcf_walfile_history_parse(3, "  1 0/10 r\r\n2\t0/10\tr\r\n", 22, &hist, errmsg) == DCF_OK &&
		  hist.nspans == 3 && hist.span[1].begin == hist.span[1].end,
		  "spaces, CRLF and an empty span (two promotions at one point) are accepted");

	/* the refusals, each naming the line */
	CHECK(dcf_walfile_history_parse(2, "x\t0/1\n", 6, &hist, errmsg) == DCF_ERR_CORRUPT &&
		  strstr(errmsg, "line 1 does not start with a timeline ID"), "a line without a timeline: %s", errmsg);
	CHECK(dcf_walfile_history_parse(2, "1\n", 2, &hist, errmsg) == DCF_ERR_CORRUPT &&
		  strstr(errmsg, "no switch point"), "a timeline without a switch point: %s", errmsg);
	CHECK(dcf_walfile_history_parse(2, "1\t0/zz\n", 7, &hist, errmsg) == DCF_ERR_CORRUPT &&
		  strstr(errmsg, "no valid switch point"), "a bad switch point: %s", errmsg);
	CHECK(dcf_walfile_history_parse(4, "2\t0/10\n1\t0/20\n", 14, &hist, errmsg) == DCF_ERR_CORRUPT &&
		  strstr(errmsg, "line 2: timeline IDs must increase"), "timelines out of order: %s", errmsg);
	CHECK(dcf_walfile_history_parse(4, "1\t0/20\n2\t0/10\n", 14, &hist, errmsg) == DCF_ERR_CORRUPT &&
		  strstr(errmsg, "switch point goes backwards"), "switch points out of order: %s", errmsg);
	CHECK(dcf_walfile_history_parse(2, "2\t0/10\n", 7, &hist, errmsg) == DCF_ERR_CORRUPT &&
		  strstr(errmsg, "not older"), "a parent not older than the file's timeline: %s", errmsg);
	CHECK(dcf_walfile_history_parse(2, "# only a comment\n", 17, &hist, errmsg) == DCF_ERR_CORRUPT &&
		  strstr(errmsg, "names no parent"), "timeline 2 without a parent: %s", errmsg);
	CHECK(dcf_walfile_history_parse(2, "1\t0/10\0\n", 8, &hist, errmsg) == DCF_ERR_CORRUPT,
		  "a NUL byte inside a line is refused");
	CHECK(dcf_walfile_history_parse(2, "1\t0/10x\n", 8, &hist, errmsg) == DCF_ERR_CORRUPT &&
		  strstr(errmsg, "garbage"), "garbage glued to the switch point: %s", errmsg);
	{
		/* as many timelines as fit, then one more */
		static char big[DCF_WALFILE_HISTORY_MAX_BYTES];
		size_t		len = 0;
		uint32_t	t;

		for (t = 1; t < DCF_WALFILE_HISTORY_MAX_SPANS; t++)
			len += (size_t) snprintf(big + len, sizeof(big) - len, "%u\t0/%X\n", t, t * 16);
		CHECK(dcf_walfile_history_parse(DCF_WALFILE_HISTORY_MAX_SPANS, big, len, &hist, errmsg) == DCF_OK &&
			  hist.nspans == DCF_WALFILE_HISTORY_MAX_SPANS, "%d timelines fit", DCF_WALFILE_HISTORY_MAX_SPANS);
		len += (size_t) snprintf(big + len, sizeof(big) - len, "%u\t0/%X\n", t, t * 16);
		CHECK(dcf_walfile_history_parse(DCF_WALFILE_HISTORY_MAX_SPANS + 1, big, len, &hist, errmsg) == DCF_ERR_CORRUPT &&
			  strstr(errmsg, "more than"), "one more is refused: %s", errmsg);
		CHECK(dcf_walfile_history_parse(2, big, DCF_WALFILE_HISTORY_MAX_BYTES + 1, &hist, errmsg) == DCF_ERR_CORRUPT,
			  "content beyond DCF_WALFILE_HISTORY_MAX_BYTES is refused");
	}
}

static void
test_names(void)
{
	char		n[DCF_WALFILE_NAME_BYTES];

	dcf_walfile_segment_name(n, 1, 3, 16 * 1024 * 1024);
	CHECK(strcmp(n, "000000010000000000000003") == 0, "segment 3 of timeline 1, 16 MB: %s", n);
	dcf_walfile_segment_name(n, 0x1A, 0x1FF, 16 * 1024 * 1024);
	CHECK(strcmp(n, "0000001A00000001000000FF") == 0, "segment 0x1FF, 16 MB: 256 segments per xlogid: %s", n);
	dcf_walfile_segment_name(n, 2, 0x1001, 1024 * 1024);
	CHECK(strcmp(n, "000000020000000100000001") == 0, "segment 0x1001, 1 MB: 4096 per xlogid: %s", n);
	dcf_walfile_segment_name(n, 2, 5, 1024 * 1024 * 1024);
	CHECK(strcmp(n, "000000020000000100000001") == 0, "segment 5, 1 GB: 4 per xlogid: %s", n);
	dcf_walfile_history_name(n, 0xB);
	CHECK(strcmp(n, "0000000B.history") == 0, "history file name %s", n);
	CHECK(dcf_walfile_seg_bytes_valid(16 * 1024 * 1024) && dcf_walfile_seg_bytes_valid(1024 * 1024) &&
		  dcf_walfile_seg_bytes_valid(1024 * 1024 * 1024) && !dcf_walfile_seg_bytes_valid(512 * 1024) &&
		  !dcf_walfile_seg_bytes_valid(3 * 1024 * 1024) && !dcf_walfile_seg_bytes_valid(UINT64_C(2) << 30),
		  "segment sizes: powers of two from 1 MB to 1 GB");
}

/*
 * pg_wal of a server promoted twice: timeline 1 to 0x2_0100 (in segment 2),
 * timeline 2 to 0x4_0000 (exactly at segment 4's start), then timeline 3.
 * Files: 1:0..2 (2 renamed .partial at promotion), 2:2..3, 3:4..5.
 */
static void
test_read(void)
{
	char		errmsg[DCF_ERRMSG_MAX];
	const char *h3 = "1\t0/200100\tx\n2\t0/400000\tx\n";
	uint8_t		buf[3 * SEG];
	size_t		got = 0;
	dcf_rc		rc;
	uint64_t	i;
	int			bad;

	snprintf(dir, sizeof(dir), "/tmp/test_walfile_XXXXXX");
	if (mkdtemp(dir) == NULL)
	{
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	make_segment(1, 0, "");
	make_segment(1, 1, "");
	make_segment(1, 2, ".partial");
	make_segment(2, 2, "");
	make_segment(2, 3, "");
	make_segment(3, 4, "");
	make_segment(3, 5, "");
	dcf_walfile_history_parse(3, h3, strlen(h3), &hist, errmsg);

	CHECK(byte_at(0x100005) == file_byte(1, 1, 5), "segment 1 is timeline 1's file");
	CHECK(byte_at(0x200005) == file_byte(2, 2, 5),
		  "timeline 1's bytes in the switch segment come from timeline 2's copy");
	CHECK(byte_at(0x2000FF) == file_byte(2, 2, 0xFF) && byte_at(0x200100) == file_byte(2, 2, 0x100),
		  "both sides of the switch point come from the same file");
	CHECK(byte_at(0x3FFFFF) == file_byte(2, 3, SEG - 1), "segment 3 is timeline 2's");
	CHECK(byte_at(0x400000) == file_byte(3, 4, 0),
		  "a switch at a segment start: timeline 3 begins with its own segment 4");
	CHECK(byte_at(0x5ABCDE) == file_byte(3, 5, 0xABCDE), "segment 5 is timeline 3's");

	/* reads stop at segment ends and at the owner's switch point */
	rc = dcf_walfile_read(dir, SEG, &hist, 0xFFF00, buf, sizeof(buf), &got, errmsg);
	CHECK(rc == DCF_OK && got == 0x100, "a read stops at the segment end (got %zu)", got);
	rc = dcf_walfile_read(dir, SEG, &hist, 0x200000, buf, sizeof(buf), &got, errmsg);
	CHECK(rc == DCF_OK && got == 0x100, "a read stops at the owner's switch point (got %zu)", got);
	rc = dcf_walfile_read(dir, SEG, &hist, 0x200100, buf, sizeof(buf), &got, errmsg);
	CHECK(rc == DCF_OK && got == SEG - 0x100, "the next read continues on timeline 2 to the segment end (got %zu)", got);
	for (bad = 0, i = 0; i < got; i++)
		bad += buf[i] != file_byte(2, 2, 0x100 + i);
	CHECK(bad == 0, "every byte read is the right file's");
	rc = dcf_walfile_read(dir, SEG, &hist, 0x300000, buf, 0, &got, errmsg);
	CHECK(rc == DCF_OK && got == 0, "a read of 0 bytes is fine");

	/* fall-backs: .partial, then an older timeline down to the owner */
	remove_segment(2, 2, "");
	CHECK(byte_at(0x200005) == file_byte(1, 2, 5),
		  "without timeline 2's copy, timeline 1's bytes come from its .partial file");
	CHECK(byte_at(0x200100) == -1,
		  "but timeline 2's bytes never come from timeline 1's file (another history past the switch)");
	make_segment(2, 2, ".partial");
	CHECK(byte_at(0x200100) == file_byte(2, 2, 0x100), "a .partial of the owner's file is used");
	rc = dcf_walfile_read(dir, SEG, &hist, 0x600000, buf, 1, &got, errmsg);
	CHECK(rc == DCF_ERR_NOTFOUND && strstr(errmsg, "000000030000000000000006") != NULL,
		  "a missing segment is DCF_ERR_NOTFOUND naming the file: %s", errmsg);

	/* a short file is an I/O error, not silent zeros */
	{
		char		path[256];

		snprintf(path, sizeof(path), "%s/000000030000000000000005", dir);
		if (truncate(path, 100) != 0)
			perror("truncate");
		rc = dcf_walfile_read(dir, SEG, &hist, 0x500050, buf, 100, &got, errmsg);
		CHECK(rc == DCF_ERR_IO && strstr(errmsg, "shorter than a segment"), "a truncated segment: %s", errmsg);
	}
	CHECK(dcf_walfile_read(dir, 12345, &hist, 0, buf, 1, &got, errmsg) == DCF_ERR_INVALID,
		  "an invalid segment size is refused");
	{
		dcf_walfile_history h2;

		dcf_walfile_history_parse(2, "1\t0/200100\n", 11, &h2, errmsg);
		rc = dcf_walfile_read(dir, SEG, &h2, 0x100, buf, 1, &got, errmsg);
		CHECK(rc == DCF_OK && got == 1 && buf[0] == file_byte(1, 0, 0x100),
			  "the history decides: reading with timeline 2's history works too");
	}

	for (i = 0; i < 6; i++)
	{
		uint32_t	t;

		for (t = 1; t <= 3; t++)
		{
			remove_segment(t, i, "");
			remove_segment(t, i, ".partial");
		}
	}
	rmdir(dir);
}

int
main(void)
{
	test_lsn();
	test_history();
	test_names();
	test_read();
	return unit_done();
}
