/*
 * io_posix.c — the production dcf_io: thin wrappers around POSIX (and two
 * Linux) system calls, translating -1/errno into negative errno results.
 *
 * Invariants kept here:
 *   - a call interrupted by a signal (EINTR) is restarted, never reported,
 *     except fdatasync, whose failure must never be retried (the kernel may
 *     already have dropped the dirty pages: PostgreSQL's "fsyncgate"), so
 *     an EINTR there is returned as -EIO;
 *   - every descriptor is opened O_CLOEXEC, so a fork/exec in the server
 *     never leaks log files into a child.
 */
#define _GNU_SOURCE
#include "storage/storage_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define POSIX_FILE_MODE 0600	/* log and metadata files: owner only */
#define POSIX_DIR_MODE	0700

static int
px_open(void *ctx, const char *path, int flags)
{
	int			oflags = O_CLOEXEC;
	int			fd;

	oflags |= (flags & DCF_IO_RDWR) ? O_RDWR : O_RDONLY;
	if (flags & DCF_IO_CREATE)
		oflags |= O_CREAT;
	if (flags & DCF_IO_EXCL)
		oflags |= O_EXCL;
	if (flags & DCF_IO_TRUNC)
		oflags |= O_TRUNC;
	if (flags & DCF_IO_DIRECT)
		oflags |= O_DIRECT;
	do
		fd = open(path, oflags, POSIX_FILE_MODE);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

static int
px_close(void *ctx, int fd)
{
	/* close() must not be retried on EINTR on Linux: the fd is gone. */
	return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

static ssize_t
px_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		n = pread(fd, (char *) buf + done, len - done, (off_t) (off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t) n;
	}
	return (ssize_t) done;
}

static ssize_t
px_pwritev(void *ctx, int fd, const struct iovec *iov, int iovcnt, uint64_t off)
{
	ssize_t		n;

	do
		n = pwritev(fd, iov, iovcnt, (off_t) off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int
px_fdatasync(void *ctx, int fd)
{
	if (fdatasync(fd) < 0)
		return errno == EINTR ? -EIO : -errno;
	return 0;
}

static int
px_ftruncate(void *ctx, int fd, uint64_t size)
{
	int			rc;

	do
		rc = ftruncate(fd, (off_t) size);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : 0;
}

static int
px_fallocate(void *ctx, int fd, uint64_t off, uint64_t len)
{
	int			rc;

	/*
	 * fallocate(2), not px_fallocate(3): where the file system cannot
	 * reserve space, glibc's px_fallocate would emulate it by writing
	 * zeros, which is slower than not preallocating at all.
	 */
	do
		rc = fallocate(fd, 0, (off_t) off, (off_t) len);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return errno == ENOSYS ? -EOPNOTSUPP : -errno;
	return 0;
}

static int
px_fsize(void *ctx, int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*size = (uint64_t) st.st_size;
	return 0;
}

static int
px_rename(void *ctx, const char *from, const char *to)
{
	return rename(from, to) < 0 ? -errno : 0;
}

static int
px_unlink(void *ctx, const char *path)
{
	return unlink(path) < 0 ? -errno : 0;
}

static int
px_mkdir(void *ctx, const char *path)
{
	return mkdir(path, POSIX_DIR_MODE) < 0 ? -errno : 0;
}

static int
px_sync_dir(void *ctx, const char *path)
{
	int			fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int			rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = errno == EINTR ? -EIO : -errno;
	close(fd);
	return rc;
}

static int
px_list_dir(void *ctx, const char *path, dcf_io_list_cb cb, void *arg)
{
	DIR		   *d = opendir(path);
	struct dirent *de;
	int			rc = 0;

	if (d == NULL)
		return -errno;
	for (;;)
	{
		errno = 0;
		de = readdir(d);
		if (de == NULL)
		{
			if (errno != 0)
				rc = -errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = cb(arg, de->d_name);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}

static int
px_lock(void *ctx, int fd)
{
	/* flock locks belong to the open file description: a second open of the
	 * same directory in this process is refused too, which is what we want */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return -errno;
	return 0;
}

static const dcf_io px_io = {
	.ctx = NULL,
	.open = px_open,
	.close = px_close,
	.pread = px_pread,
	.pwritev = px_pwritev,
	.fdatasync = px_fdatasync,
	.ftruncate = px_ftruncate,
	.fallocate = px_fallocate,
	.fsize = px_fsize,
	.rename = px_rename,
	.unlink = px_unlink,
	.mkdir = px_mkdir,
	.sync_dir = px_sync_dir,
	.list_dir = px_list_dir,
	.lock = px_lock,
};

const dcf_io *
dcf_io_posix(void)
{
	return &px_io;
}
