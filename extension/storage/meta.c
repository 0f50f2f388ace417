/*
 * meta.c — encoding, reading and atomically replacing the metadata record;
 * see meta.h for the format and the replacement protocol.
 *
 * Invariants kept here:
 *   - a record is only written whole into a temporary file, made durable,
 *     then renamed; the directory is synced before success is reported, so
 *     a reported save survives power loss;
 *   - a read trusts no field before the length bound and the checksum
 *     passed, and reads at most DCF_META_MAX_BYTES (+1 to detect excess).
 */
#include "storage/meta.h"

#include "core/crc32c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dcf_bytes.h"


size_t
dcf_meta_encoded_bytes(const dcf_meta *m)
{
	return DCF_META_FIXED_BYTES + (size_t) m->membership_len;
}

void
dcf_meta_encode(const dcf_meta *m, uint8_t *out)
{
	size_t		total = dcf_meta_encoded_bytes(m);

	dcf_le_put32(out, DCF_META_MAGIC);
	dcf_le_put32(out + 4, DCF_META_VERSION);
	dcf_le_put32(out + 8, (uint32_t) total);
	dcf_le_put32(out + 12, m->voted_for);
	dcf_le_put64(out + 16, m->term);
	dcf_le_put64(out + 24, m->applied_index);
	dcf_le_put64(out + 32, m->first_index);
	dcf_le_put64(out + 40, m->prev_term);
	dcf_le_put32(out + 48, m->membership_len);
	dcf_le_put32(out + 52, 0);
	dcf_le_put64(out + 56, m->durable_index);
	dcf_le_put64(out + 64, m->durable_term);
	dcf_le_put64(out + 72, m->repair_index);
	dcf_le_put64(out + 80, m->repair_term);
	if (m->membership_len)
		memcpy(out + DCF_META_HEADER_BYTES, m->membership, m->membership_len);
	dcf_le_put32(out + total - 4, dcf_crc32c(0, out, total - 4));
}

int
dcf_meta_decode(const uint8_t *in, size_t len, dcf_meta *m, const char **why)
{
	uint32_t	total;
	uint32_t	mlen;
	uint32_t	version;
	size_t		fixed;
	size_t		header;

	if (len < DCF_META_V1_FIXED_BYTES)
	{
		*why = "file shorter than a metadata record";
		return -1;
	}
	if (dcf_le_get32(in) != DCF_META_MAGIC)
	{
		*why = "bad magic";
		return -1;
	}
	total = dcf_le_get32(in + 8);
	if (total != len)
	{
		*why = "recorded length does not match the file size";
		return -1;
	}
	if (dcf_le_get32(in + total - 4) != dcf_crc32c(0, in, total - 4))
	{
		*why = "checksum mismatch";
		return -1;
	}
	version = dcf_le_get32(in + 4);
	if (version != DCF_META_VERSION && version != 1)
	{
		*why = "unsupported format version";
		return -1;
	}
	/* format 1 had no durable mark and no repair index */
	fixed = version == 1 ? DCF_META_V1_FIXED_BYTES : DCF_META_FIXED_BYTES;
	header = fixed - 4;
	if (len < fixed)
	{
		*why = "file shorter than a metadata record";
		return -1;
	}
	mlen = dcf_le_get32(in + 48);
	if (mlen > DCF_META_MEMBERSHIP_MAX_BYTES || (size_t) mlen + fixed != total)
	{
		*why = "membership length inconsistent with the record length";
		return -1;
	}
	if (dcf_le_get32(in + 52) != 0)
	{
		*why = "reserved bytes not zero";
		return -1;
	}
	m->voted_for = dcf_le_get32(in + 12);
	m->term = dcf_le_get64(in + 16);
	m->applied_index = dcf_le_get64(in + 24);
	m->first_index = dcf_le_get64(in + 32);
	m->prev_term = dcf_le_get64(in + 40);
	m->durable_index = version == 1 ? 0 : dcf_le_get64(in + 56);
	m->durable_term = version == 1 ? 0 : dcf_le_get64(in + 64);
	m->repair_index = version == 1 ? 0 : dcf_le_get64(in + 72);
	m->repair_term = version == 1 ? 0 : dcf_le_get64(in + 80);
	m->membership_len = mlen;
	m->membership = in + header;
	m->format_version = version;
	if (m->first_index == 0)
	{
		*why = "first index is zero";
		return -1;
	}
	if (m->first_index == 1 && m->prev_term != 0)
	{
		*why = "term recorded before index 1";
		return -1;
	}
	return 0;
}

static int
join_path(char *out, const char *dir, const char *name)
{
	int			n = snprintf(out, DCF_PATH_MAX_BYTES, "%s/%s", dir, name);

	return n > 0 && n < DCF_PATH_MAX_BYTES ? 0 : -1;
}

dcf_rc
dcf_meta_read(const dcf_io *io, const char *dir, dcf_meta *m, uint8_t **bufp, char *errmsg)
{
	char		path[DCF_PATH_MAX_BYTES];
	uint8_t    *buf;
	ssize_t		n;
	int			fd;
	const char *why;

	*bufp = NULL;
	if (join_path(path, dir, DCF_META_FILE) != 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "data directory path too long");
	fd = io->open(io->ctx, path, DCF_IO_RDONLY);
	if (fd == -ENOENT)
		return dcf_errf(errmsg, DCF_ERR_NOTFOUND, "%s: no such file", path);
	if (fd < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not open %s: %s", path, strerror(-fd));
	buf = malloc(DCF_META_MAX_BYTES + 1);
	if (buf == NULL)
	{
		io->close(io->ctx, fd);
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory reading %s", path);
	}
	n = io->pread(io->ctx, fd, buf, DCF_META_MAX_BYTES + 1, 0);
	io->close(io->ctx, fd);
	if (n < 0)
	{
		free(buf);
		return dcf_errf(errmsg, DCF_ERR_IO, "could not read %s: %s", path, strerror((int) -n));
	}
	if (n > DCF_META_MAX_BYTES)
	{
		free(buf);
		return dcf_errf(errmsg, DCF_ERR_CORRUPT,
						"corrupt metadata file %s: larger than %d bytes" DCF_META_REBUILD_HINT, path, DCF_META_MAX_BYTES);
	}
	if (dcf_meta_decode(buf, (size_t) n, m, &why) != 0)
	{
		free(buf);
		return dcf_errf(errmsg, DCF_ERR_CORRUPT, "corrupt metadata file %s (%zd bytes): %s" DCF_META_REBUILD_HINT,
						path, n, why);
	}
	*bufp = buf;
	return DCF_OK;
}

dcf_rc
dcf_meta_write(const dcf_io *io, const char *dir, const dcf_meta *m, char *errmsg)
{
	char		tmp[DCF_PATH_MAX_BYTES];
	char		path[DCF_PATH_MAX_BYTES];
	uint8_t    *buf;
	size_t		len;
	struct iovec iov;
	ssize_t		n;
	int			fd;
	int			rc;

	if (m->membership_len > DCF_META_MEMBERSHIP_MAX_BYTES)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "membership of %u bytes exceeds the maximum of %d",
						m->membership_len, DCF_META_MEMBERSHIP_MAX_BYTES);
	if (m->first_index == 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "metadata first index must be at least 1");
	if (join_path(tmp, dir, DCF_META_TMP_FILE) != 0 || join_path(path, dir, DCF_META_FILE) != 0)
		return dcf_errf(errmsg, DCF_ERR_INVALID, "data directory path too long");
	len = dcf_meta_encoded_bytes(m);
	buf = malloc(len);
	if (buf == NULL)
		return dcf_errf(errmsg, DCF_ERR_NOMEM, "out of memory encoding metadata");
	dcf_meta_encode(m, buf);

	fd = io->open(io->ctx, tmp, DCF_IO_RDWR | DCF_IO_CREATE | DCF_IO_TRUNC);
	if (fd < 0)
	{
		free(buf);
		return dcf_errf(errmsg, DCF_ERR_IO, "could not create %s: %s", tmp, strerror(-fd));
	}
	iov.iov_base = buf;
	iov.iov_len = len;
	n = io->pwritev(io->ctx, fd, &iov, 1, 0);
	free(buf);
	if (n != (ssize_t) len)
	{
		io->close(io->ctx, fd);
		return dcf_errf(errmsg, DCF_ERR_IO, "could not write %s: %s", tmp,
						n < 0 ? strerror((int) -n) : "short write");
	}
	if ((rc = io->fdatasync(io->ctx, fd)) < 0)
	{
		io->close(io->ctx, fd);
		return dcf_errf(errmsg, DCF_ERR_IO, "could not fdatasync %s: %s", tmp, strerror(-rc));
	}
	io->close(io->ctx, fd);
	if ((rc = io->rename(io->ctx, tmp, path)) < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not rename %s to %s: %s", tmp, path, strerror(-rc));
	if ((rc = io->sync_dir(io->ctx, dir)) < 0)
		return dcf_errf(errmsg, DCF_ERR_IO, "could not fsync directory %s: %s", dir, strerror(-rc));
	return DCF_OK;
}
