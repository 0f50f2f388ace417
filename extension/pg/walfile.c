/*
 * walfile.c — LSN text, timeline history content and WAL segment files
 * (see walfile.h for the rules and invariants).
 *
 * Plain C and POSIX: compiled into dcf.so by PGXS and into the feeder test
 * harness and the unit tests with plain cc.  Reads open, pread and close a
 * segment file each time: files of a live pg_wal are renamed, recycled and
 * removed under our feet, so a cached descriptor could return bytes of a
 * recycled segment.
 */
#include "pg/walfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- LSNs ----------------------------------------------------------- */

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parse 1..8 hex digits at *p into *v; advance *p.  Used for both halves of
 * an LSN and by the history parser, which must stop at the first non-digit.
 */
static bool
parse_hex32(const char **p, uint32_t *v)
{
	const char *s = *p;
	uint32_t	acc = 0;
	int			ndigits = 0;

	while (hex_value(*s) >= 0)
	{
		if (ndigits == 8)
			return false;
		acc = (acc << 4) | (uint32_t) hex_value(*s);
		ndigits++;
		s++;
	}
	if (ndigits == 0)
		return false;
	*v = acc;
	*p = s;
	return true;
}

static bool
parse_lsn_prefix(const char **p, dcf_lsn *lsn)
{
	const char *s = *p;
	uint32_t	hi;
	uint32_t	lo;

	if (!parse_hex32(&s, &hi) || *s != '/')
		return false;
	s++;
	if (!parse_hex32(&s, &lo))
		return false;
	*lsn = ((dcf_lsn) hi << 32) | lo;
	*p = s;
	return true;
}

bool
dcf_walfile_lsn_parse(const char *text, dcf_lsn *lsn)
{
	const char *p = text;
	dcf_lsn		v;

	if (!parse_lsn_prefix(&p, &v) || *p != '\0')
		return false;
	*lsn = v;
	return true;
}

char *
dcf_walfile_lsn_format(char out[DCF_WALFILE_LSN_TEXT_BYTES], dcf_lsn lsn)
{
	snprintf(out, DCF_WALFILE_LSN_TEXT_BYTES, "%X/%X",
			 (unsigned) (lsn >> 32), (unsigned) (lsn & 0xFFFFFFFFu));
	return out;
}

/* ---- timeline histories --------------------------------------------- */

static bool
parse_dec32(const char **p, uint32_t *v)
{
	const char *s = *p;
	uint64_t	acc = 0;

	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9')
	{
		acc = acc * 10 + (uint64_t) (*s - '0');
		if (acc > UINT32_MAX)
			return false;
		s++;
	}
	*v = (uint32_t) acc;
	*p = s;
	return true;
}

dcf_rc
dcf_walfile_history_parse(uint32_t tli, const char *content, size_t len,
						  dcf_walfile_history *h, char *errmsg)
{
	char		line[512];
	size_t		pos = 0;
	int			lineno = 0;
	dcf_lsn		prev_end = 0;

	h->nspans = 0;
	if (tli == 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "timeline 0 is not a valid timeline");
	if (len > DCF_WALFILE_HISTORY_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT,
						"history file of timeline %u is %zu bytes, the limit is %d",
						tli, len, DCF_WALFILE_HISTORY_MAX_BYTES);

	while (pos < len)
	{
		size_t		eol = pos;
		size_t		linelen;
		const char *p;
		uint32_t	parent;
		dcf_lsn		switchpoint;

		while (eol < len && content[eol] != '\n')
			eol++;
		linelen = eol - pos;
		lineno++;
		if (linelen >= sizeof(line))
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"history file of timeline %u: line %d is longer than %zu bytes",
							tli, lineno, sizeof(line) - 1);
		memcpy(line, content + pos, linelen);
		line[linelen] = '\0';
		pos = eol + 1;
		if (memchr(line, '\0', linelen) != NULL)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"history file of timeline %u: line %d contains a NUL byte",
							tli, lineno);

		/* skip leading whitespace, blank lines and comments */
		p = line;
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p == '\0' || *p == '#')
			continue;

		if (!parse_dec32(&p, &parent))
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"history file of timeline %u: line %d does not start with a timeline ID",
							tli, lineno);
		if (*p != '\t' && *p != ' ')
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"history file of timeline %u: line %d has no switch point after the timeline ID",
							tli, lineno);
		while (*p == '\t' || *p == ' ')
			p++;
		if (!parse_lsn_prefix(&p, &switchpoint))
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"history file of timeline %u: line %d has no valid switch point",
							tli, lineno);
		if (*p != '\0' && *p != '\t' && *p != ' ' && *p != '\r')
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"history file of timeline %u: line %d has garbage after the switch point",
							tli, lineno);
		if (parent == 0 || (h->nspans > 0 && parent <= h->span[h->nspans - 1].tli))
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"history file of timeline %u: line %d: timeline IDs must increase",
							tli, lineno);
		if (parent >= tli)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"history file of timeline %u: line %d: timeline %u is not older than the file's timeline",
							tli, lineno, parent);
		if (switchpoint < prev_end)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"history file of timeline %u: line %d: switch point goes backwards",
							tli, lineno);
		/* the newest timeline takes the last slot */
		if (h->nspans + 1 >= DCF_WALFILE_HISTORY_MAX_SPANS)
			return dcf_errf(errmsg, DCF_ERR_CORRUPT,
							"history file of timeline %u has more than %d timelines",
							tli, DCF_WALFILE_HISTORY_MAX_SPANS - 1);
		h->span[h->nspans].tli = parent;
		h->span[h->nspans].begin = prev_end;
		h->span[h->nspans].end = switchpoint;
		h->nspans++;
		prev_end = switchpoint;
	}

	if (tli > 1 && h->nspans == 0)
		return dcf_errf(errmsg, DCF_ERR_CORRUPT,
						"history file of timeline %u names no parent timeline", tli);
	h->span[h->nspans].tli = tli;
	h->span[h->nspans].begin = prev_end;
	h->span[h->nspans].end = DCF_WALFILE_LSN_END;
	h->nspans++;
	return DCF_OK;
}

const dcf_walfile_span *
dcf_walfile_history_find(const dcf_walfile_history *h, uint32_t tli)
{
	uint32_t	i;

	for (i = 0; i < h->nspans; i++)
		if (h->span[i].tli == tli)
			return &h->span[i];
	return NULL;
}

const dcf_walfile_span *
dcf_walfile_history_owner(const dcf_walfile_history *h, dcf_lsn lsn)
{
	uint32_t	i;

	/*
	 * A span may be empty (begin == end) when two promotions happened at the
	 * same point; the first non-empty span that ends beyond lsn owns it.
	 */
	for (i = 0; i < h->nspans; i++)
		if (lsn < h->span[i].end && lsn >= h->span[i].begin)
			return &h->span[i];
	return NULL;
}

void
dcf_walfile_history_name(char out[DCF_WALFILE_NAME_BYTES], uint32_t tli)
{
	snprintf(out, DCF_WALFILE_NAME_BYTES, "%08X.history", tli);
}

/* ---- segment files --------------------------------------------------- */

bool
dcf_walfile_seg_bytes_valid(uint64_t seg_bytes)
{
	return seg_bytes >= DCF_WALFILE_SEG_BYTES_MIN &&
		seg_bytes <= DCF_WALFILE_SEG_BYTES_MAX &&
		(seg_bytes & (seg_bytes - 1)) == 0;
}

void
dcf_walfile_segment_name(char out[DCF_WALFILE_NAME_BYTES], uint32_t tli,
						 uint64_t segno, uint32_t seg_bytes)
{
	uint64_t	segs_per_id = UINT64_C(0x100000000) / seg_bytes;

	snprintf(out, DCF_WALFILE_NAME_BYTES, "%08X%08X%08X", tli,
			 (unsigned) (segno / segs_per_id), (unsigned) (segno % segs_per_id));
}

/* Open dir/name, then dir/name.partial; -1 with errno ENOENT if neither. */
static int
open_segment(const char *dir, const char *name, char *path, size_t pathlen)
{
	int			fd;

	snprintf(path, pathlen, "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	snprintf(path, pathlen, "%s/%s.partial", dir, name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

dcf_rc
dcf_walfile_read(const char *dir, uint32_t seg_bytes, const dcf_walfile_history *h,
				 dcf_lsn lsn, void *buf, size_t n, size_t *got, char *errmsg)
{
	const dcf_walfile_span *owner;
	uint64_t	segno;
	uint64_t	segoff;
	size_t		want;
	char		path[4096];
	char		name[DCF_WALFILE_NAME_BYTES];
	char		lsntext[DCF_WALFILE_LSN_TEXT_BYTES];
	int			fd = -1;
	int			i;
	size_t		done;

	*got = 0;
	if (!dcf_walfile_seg_bytes_valid(seg_bytes))
		return dcf_errf(errmsg, DCF_ERR_INVALID, "invalid WAL segment size %u", seg_bytes);
	owner = dcf_walfile_history_owner(h, lsn);
	if (owner == NULL)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "WAL position %s is not in the timeline history",
						dcf_walfile_lsn_format(lsntext, lsn));
	if (n == 0)
		return DCF_OK;

	segno = lsn / seg_bytes;
	segoff = lsn % seg_bytes;
	want = n;
	if (want > seg_bytes - segoff)
		want = (size_t) (seg_bytes - segoff);
	if (owner->end != DCF_WALFILE_LSN_END && want > owner->end - lsn)
		want = (size_t) (owner->end - lsn);

	/*
	 * Newest timeline first: the newest timeline of the history that began
	 * in or before this segment has the authoritative copy of it.  Stop at
	 * the owner: older timelines' files may continue with another history.
	 */
	for (i = (int) h->nspans - 1; i >= 0; i--)
	{
		const dcf_walfile_span *s = &h->span[i];

		if (s->tli < owner->tli)
			break;
		if (s->begin / seg_bytes > segno)
			continue;
		dcf_walfile_segment_name(name, s->tli, segno, seg_bytes);
		fd = open_segment(dir, name, path, sizeof(path));
		if (fd >= 0)
			break;
		if (errno != ENOENT)
			return dcf_errf(errmsg, DCF_ERR_IO, "could not open WAL segment \"%s\": %s",
							path, strerror(errno));
	}
	if (fd < 0)
	{
		dcf_walfile_segment_name(name, owner->tli, segno, seg_bytes);
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND,
						"WAL segment %s (for %s on timeline %u) is not in \"%s\"",
						name, dcf_walfile_lsn_format(lsntext, lsn), owner->tli, dir);
	}

	done = 0;
	while (done < want)
	{
		ssize_t		r = pread(fd, (char *) buf + done, want - done, (off_t) (segoff + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
		{
			int			save_errno = errno;

			close(fd);
			if (r < 0)
				return dcf_errf(errmsg, DCF_ERR_IO, "could not read WAL segment \"%s\" at offset %" PRIu64 ": %s",
								path, segoff + done, strerror(save_errno));
			return dcf_errf(errmsg, DCF_ERR_IO,
							"WAL segment \"%s\" is shorter than a segment (ends at offset %" PRIu64 ")",
							path, segoff + done);
		}
		done += (size_t) r;
	}
	close(fd);
	*got = done;
	return DCF_OK;
}
