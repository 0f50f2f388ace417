/*
 * storage_io.h — the file-system indirection every storage module calls
 * through (like SQLite's VFS).
 *
 * The log and metadata code never call open/pwrite/fdatasync/... directly;
 * they call the function pointers of a dcf_io.  Production uses
 * dcf_io_posix() (io_posix.c).  The tests and the simulator use the
 * in-memory file system of memfs.c, which records every write that has not
 * been made durable yet and, at a simulated crash, keeps, drops or tears
 * each of them (the role of SQLite's src/test6.c).
 *
 * Conventions of every member:
 *   - results are >= 0 on success and a negative errno value on failure
 *     (-EIO, -ENOSPC, ...), never -1 with errno: the convention works the
 *     same from a helper thread and from the in-memory implementation;
 *   - paths are full paths ("<dir>/<name>"), built by the caller;
 *   - file offsets and sizes are uint64_t bytes;
 *   - durability follows POSIX strictly: data written to a file is durable
 *     after fdatasync()/fsync() of that file; a created, renamed or unlinked
 *     name is durable after sync_dir() of its directory, and not before.
 *
 * Thread safety: dcf_io_posix() is as thread-safe as the system calls it
 * wraps.  memfs serialises all calls with one mutex.
 */
#ifndef DCF_STORAGE_IO_H
#define DCF_STORAGE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Flags for dcf_io.open (a small portable subset of O_*). */
#define DCF_IO_RDONLY	0x01	/* open for reading only */
#define DCF_IO_RDWR		0x02	/* open for reading and writing */
#define DCF_IO_CREATE	0x04	/* create when missing */
#define DCF_IO_EXCL		0x08	/* with CREATE: fail with -EEXIST if present */
#define DCF_IO_TRUNC	0x10	/* truncate to zero length on open */
#define DCF_IO_DIRECT	0x20	/* writes bypass the page cache (O_DIRECT): the
								 * offset, length and buffer address of every
								 * write on this descriptor must be multiples of
								 * DCF_IO_DIRECT_ALIGN; open fails with -EINVAL
								 * where the file system cannot */
#define DCF_IO_DIRECT_ALIGN	4096

/* Called by dcf_io.list_dir once per entry name (not "." or ".."). */
typedef int (*dcf_io_list_cb) (void *arg, const char *name);

typedef struct dcf_io
{
	void	   *ctx;			/* passed as the first argument of every call */

	/* returns a file descriptor (>= 0) */
	int			(*open) (void *ctx, const char *path, int flags);
	int			(*close) (void *ctx, int fd);
	/* returns bytes read (short only at end of file) */
	ssize_t		(*pread) (void *ctx, int fd, void *buf, size_t len, uint64_t off);
	/* returns bytes written (may be short; the caller loops) */
	ssize_t		(*pwritev) (void *ctx, int fd, const struct iovec *iov, int iovcnt,
							uint64_t off);
	int			(*fdatasync) (void *ctx, int fd);
	int			(*ftruncate) (void *ctx, int fd, uint64_t size);
	/* reserve [off, off+len) so later writes there need no allocation;
	 * -EOPNOTSUPP when the file system cannot, which callers ignore */
	int			(*fallocate) (void *ctx, int fd, uint64_t off, uint64_t len);
	int			(*fsize) (void *ctx, int fd, uint64_t *size);
	int			(*rename) (void *ctx, const char *from, const char *to);
	int			(*unlink) (void *ctx, const char *path);
	/* -EEXIST when the directory is already there */
	int			(*mkdir) (void *ctx, const char *path);
	/* make creations, renames and unlinks in this directory durable */
	int			(*sync_dir) (void *ctx, const char *path);
	/* calls cb for every name in the directory; stops early when cb returns
	 * non-zero and returns that value; -ENOENT when there is no directory */
	int			(*list_dir) (void *ctx, const char *path, dcf_io_list_cb cb, void *arg);
	/* exclusive advisory lock on an open file, not waiting: -EWOULDBLOCK
	 * (== -EAGAIN on Linux) when another process holds it */
	int			(*lock) (void *ctx, int fd);
} dcf_io;

/* The production implementation (plain POSIX system calls). */
extern const dcf_io *dcf_io_posix(void);

#endif							/* DCF_STORAGE_IO_H */
