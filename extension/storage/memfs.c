/*
 * memfs.c — in-memory file system with simulated power loss; see memfs.h
 * for the model.
 *
 * Representation: a flat namespace of full paths (files point at an inode,
 * directories are names with ino == MF_DIR), kept twice: the current
 * namespace (what calls see) and the durable one (what survives a crash).
 * Unsynced directory operations are a list, applied to the durable
 * namespace by sync_dir (all of that directory's, in order) or, one by
 * one at random, by a crash.  Each inode keeps its current and durable
 * image and the list of unsynced operations between them.
 *
 * Invariants:
 *   - applying an inode's unsynced operations, all kept, to its durable
 *     image gives exactly its current image; a crash rebuilds the image
 *     from the durable image and the list, never from the current image;
 *   - after dcf_memfs_crash() nothing is unsynced and no descriptor is open.
 * Memory is bounded by what the test writes; inodes are freed with the
 * file system.
 */
#include "storage/memfs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MF_DIR (-1)
#define MF_FDS_MAX 4096			/* descriptors open at once */
#define MF_SECTOR_BYTES_DEFAULT 512

const dcf_memfs_crash_policy dcf_memfs_policy_default = {
	.write_keep_pct = 34,
	.write_tear_pct = 33,
	.garbage_pct = 30,
	.other_keep_pct = 50,
	.dir_keep_pct = 50,
	.sector_bytes = MF_SECTOR_BYTES_DEFAULT,
};

typedef struct mf_buf
{
	uint8_t    *data;
	uint64_t	len;
	uint64_t	cap;
} mf_buf;

typedef enum mf_op_kind
{
	MF_OP_WRITE,
	MF_OP_TRUNCATE,
	MF_OP_FALLOCATE
} mf_op_kind;

typedef struct mf_op
{
	mf_op_kind	kind;
	uint64_t	off;			/* WRITE, FALLOCATE */
	uint64_t	len;			/* WRITE, FALLOCATE; TRUNCATE: new size */
	uint8_t    *data;			/* WRITE: copy of the bytes */
} mf_op;

typedef struct mf_inode
{
	mf_buf		cur;
	mf_buf		dur;
	mf_op	   *ops;
	size_t		nops;
	size_t		capops;
} mf_inode;

typedef struct mf_name
{
	char	   *path;
	int			ino;			/* inode number, or MF_DIR */
} mf_name;

typedef struct mf_ns
{
	mf_name    *v;
	size_t		n;
	size_t		cap;
} mf_ns;

typedef enum mf_dop_kind
{
	MF_DOP_LINK,				/* create or mkdir: path a -> ino */
	MF_DOP_UNLINK,				/* remove path a */
	MF_DOP_RENAME				/* a -> b, of inode ino */
} mf_dop_kind;

typedef struct mf_dop
{
	mf_dop_kind kind;
	char	   *dir;			/* the directory whose sync makes it durable */
	char	   *a;
	char	   *b;
	int			ino;
} mf_dop;

struct dcf_memfs
{
	pthread_mutex_t mu;
	uint64_t	rng;
	mf_inode  **inodes;
	size_t		ninodes;
	size_t		capinodes;
	mf_ns		cur;
	mf_ns		dur;
	mf_dop	   *dops;
	size_t		ndops;
	size_t		capdops;
	int			fd_ino[MF_FDS_MAX]; /* -2 = free slot */
	int			fd_direct[MF_FDS_MAX];	/* opened with DCF_IO_DIRECT */
	int			no_direct;		/* open with DCF_IO_DIRECT fails (-EINVAL) */
	uint64_t	calls;
	uint64_t	crash_at;		/* 0 = no power cut scheduled */
	int			down;
	uint64_t	syncs;
	uint64_t	fail_sync_at;
	dcf_io		io;
};

/* ---- helpers ------------------------------------------------------------ */

static void *
mf_xrealloc(void *p, size_t n)
{
	void	   *q = realloc(p, n ? n : 1);

	if (q == NULL)
		abort();				/* test infrastructure: out of memory is fatal */
	return q;
}

static char *
mf_strdup(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *d = mf_xrealloc(NULL, n);

	memcpy(d, s, n);
	return d;
}

static uint64_t
mf_rand(dcf_memfs *fs)
{
	/* splitmix64 */
	uint64_t	z = (fs->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
buf_reserve(mf_buf *b, uint64_t len)
{
	if (len > b->cap)
	{
		uint64_t	cap = b->cap ? b->cap : 256;

		while (cap < len)
			cap *= 2;
		b->data = mf_xrealloc(b->data, cap);
		b->cap = cap;
	}
}

/* Set the length; new bytes read as zeros. */
static void
buf_resize(mf_buf *b, uint64_t len)
{
	buf_reserve(b, len);
	if (len > b->len)
		memset(b->data + b->len, 0, len - b->len);
	b->len = len;
}

static void
buf_write(mf_buf *b, uint64_t off, const uint8_t *data, uint64_t len)
{
	if (len == 0)
		return;
	if (off + len > b->len)
		buf_resize(b, off + len);
	memcpy(b->data + off, data, len);
}

static void
buf_copy(mf_buf *dst, const mf_buf *src)
{
	buf_reserve(dst, src->len);
	if (src->len)
		memcpy(dst->data, src->data, src->len);
	dst->len = src->len;
}

static void
parent_of(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t		n;

	if (slash == NULL || slash == path)
	{
		snprintf(out, cap, "/");
		return;
	}
	n = (size_t) (slash - path);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, path, n);
	out[n] = '\0';
}

static mf_name *
ns_find(mf_ns *ns, const char *path)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i].path, path) == 0)
			return &ns->v[i];
	return NULL;
}

static int
ns_is_dir(mf_ns *ns, const char *path)
{
	mf_name    *n;

	if (strcmp(path, "/") == 0)
		return 1;
	n = ns_find(ns, path);
	return n != NULL && n->ino == MF_DIR;
}

static void
ns_set(mf_ns *ns, const char *path, int ino)
{
	mf_name    *n = ns_find(ns, path);

	if (n)
	{
		n->ino = ino;
		return;
	}
	if (ns->n == ns->cap)
	{
		ns->cap = ns->cap ? ns->cap * 2 : 16;
		ns->v = mf_xrealloc(ns->v, ns->cap * sizeof(mf_name));
	}
	ns->v[ns->n].path = mf_strdup(path);
	ns->v[ns->n].ino = ino;
	ns->n++;
}

static void
ns_remove(mf_ns *ns, const char *path)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i].path, path) == 0)
		{
			free(ns->v[i].path);
			ns->v[i] = ns->v[ns->n - 1];
			ns->n--;
			return;
		}
}

static void
ns_clear(mf_ns *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i].path);
	ns->n = 0;
}

static void
ns_copy(mf_ns *dst, const mf_ns *src)
{
	ns_clear(dst);
	for (size_t i = 0; i < src->n; i++)
		ns_set(dst, src->v[i].path, src->v[i].ino);
}

static void
dop_free(mf_dop *d)
{
	free(d->dir);
	free(d->a);
	free(d->b);
}

static void
dop_add(dcf_memfs *fs, mf_dop_kind kind, const char *dir, const char *a, const char *b, int ino)
{
	mf_dop	   *d;

	if (fs->ndops == fs->capdops)
	{
		fs->capdops = fs->capdops ? fs->capdops * 2 : 16;
		fs->dops = mf_xrealloc(fs->dops, fs->capdops * sizeof(mf_dop));
	}
	d = &fs->dops[fs->ndops++];
	d->kind = kind;
	d->dir = mf_strdup(dir);
	d->a = mf_strdup(a);
	d->b = b ? mf_strdup(b) : NULL;
	d->ino = ino;
}

static void
dop_apply(mf_ns *ns, const mf_dop *d)
{
	switch (d->kind)
	{
		case MF_DOP_LINK:
			ns_set(ns, d->a, d->ino);
			break;
		case MF_DOP_UNLINK:
			ns_remove(ns, d->a);
			break;
		case MF_DOP_RENAME:
			{
				mf_name    *from = ns_find(ns, d->a);

				/* the source name goes only if it still names this inode */
				if (from && from->ino == d->ino)
					ns_remove(ns, d->a);
				ns_set(ns, d->b, d->ino);
			}
			break;
	}
}

static void
op_add(mf_inode *ino, mf_op_kind kind, uint64_t off, uint64_t len, const uint8_t *data)
{
	mf_op	   *op;

	if (ino->nops == ino->capops)
	{
		ino->capops = ino->capops ? ino->capops * 2 : 16;
		ino->ops = mf_xrealloc(ino->ops, ino->capops * sizeof(mf_op));
	}
	op = &ino->ops[ino->nops++];
	op->kind = kind;
	op->off = off;
	op->len = len;
	op->data = NULL;
	if (data)
	{
		op->data = mf_xrealloc(NULL, len);
		memcpy(op->data, data, len);
	}
}

static void
ops_clear(mf_inode *ino)
{
	for (size_t i = 0; i < ino->nops; i++)
		free(ino->ops[i].data);
	ino->nops = 0;
}

static int
inode_new(dcf_memfs *fs)
{
	mf_inode   *ino = mf_xrealloc(NULL, sizeof(mf_inode));

	memset(ino, 0, sizeof(*ino));
	if (fs->ninodes == fs->capinodes)
	{
		fs->capinodes = fs->capinodes ? fs->capinodes * 2 : 16;
		fs->inodes = mf_xrealloc(fs->inodes, fs->capinodes * sizeof(mf_inode *));
	}
	fs->inodes[fs->ninodes] = ino;
	return (int) fs->ninodes++;
}

/*
 * Entry of every dcf_io call: counts it and decides whether the power is
 * already out.  Returns 0 to proceed or -EIO.  Called with the mutex held.
 */
static int
mf_enter(dcf_memfs *fs)
{
	fs->calls++;
	if (fs->crash_at != 0 && fs->calls >= fs->crash_at)
		fs->down = 1;
	return fs->down ? -EIO : 0;
}

static mf_inode *
fd_inode(dcf_memfs *fs, int fd)
{
	if (fd < 0 || fd >= MF_FDS_MAX || fs->fd_ino[fd] < 0)
		return NULL;
	return fs->inodes[fs->fd_ino[fd]];
}

/* ---- dcf_io members ----------------------------------------------------- */

static int
mf_open(void *ctx, const char *path, int flags)
{
	dcf_memfs  *fs = ctx;
	char		dir[1024];
	mf_name    *n;
	int			ino;
	int			rc;
	int			fd;

	pthread_mutex_lock(&fs->mu);
	if ((rc = mf_enter(fs)) != 0)
		goto out;
	n = ns_find(&fs->cur, path);
	if (n && n->ino == MF_DIR)
	{
		rc = -EISDIR;
		goto out;
	}
	if ((flags & DCF_IO_DIRECT) && fs->no_direct)
	{
		rc = -EINVAL;
		goto out;
	}
	if (n && (flags & DCF_IO_CREATE) && (flags & DCF_IO_EXCL))
	{
		rc = -EEXIST;
		goto out;
	}
	if (n == NULL)
	{
		if (!(flags & DCF_IO_CREATE))
		{
			rc = -ENOENT;
			goto out;
		}
		parent_of(path, dir, sizeof(dir));
		if (!ns_is_dir(&fs->cur, dir))
		{
			rc = -ENOENT;
			goto out;
		}
		ino = inode_new(fs);
		ns_set(&fs->cur, path, ino);
		dop_add(fs, MF_DOP_LINK, dir, path, NULL, ino);
	}
	else
		ino = n->ino;
	for (fd = 0; fd < MF_FDS_MAX; fd++)
		if (fs->fd_ino[fd] == -2)
			break;
	if (fd == MF_FDS_MAX)
	{
		rc = -EMFILE;
		goto out;
	}
	if ((flags & DCF_IO_TRUNC) && fs->inodes[ino]->cur.len > 0)
	{
		op_add(fs->inodes[ino], MF_OP_TRUNCATE, 0, 0, NULL);
		fs->inodes[ino]->cur.len = 0;
	}
	fs->fd_ino[fd] = ino;
	fs->fd_direct[fd] = (flags & DCF_IO_DIRECT) != 0;
	rc = fd;
out:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static int
mf_close(void *ctx, int fd)
{
	dcf_memfs  *fs = ctx;
	int			rc = 0;

	pthread_mutex_lock(&fs->mu);
	fs->calls++;
	/* closing always succeeds, even with the power out: the crash closes
	 * everything anyway, and callers clean up after errors */
	if (fd_inode(fs, fd) == NULL)
		rc = -EBADF;
	else
		fs->fd_ino[fd] = -2;
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static ssize_t
mf_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
	dcf_memfs  *fs = ctx;
	mf_inode   *ino;
	ssize_t		rc;

	pthread_mutex_lock(&fs->mu);
	if ((rc = mf_enter(fs)) != 0)
		goto out;
	if ((ino = fd_inode(fs, fd)) == NULL)
	{
		rc = -EBADF;
		goto out;
	}
	if (off >= ino->cur.len)
		rc = 0;
	else
	{
		uint64_t	n = ino->cur.len - off;

		if (n > len)
			n = len;
		memcpy(buf, ino->cur.data + off, n);
		rc = (ssize_t) n;
	}
out:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static ssize_t
mf_pwritev(void *ctx, int fd, const struct iovec *iov, int iovcnt, uint64_t off)
{
	dcf_memfs  *fs = ctx;
	mf_inode   *ino;
	ssize_t		rc;
	size_t		total = 0;
	uint8_t    *flat;

	pthread_mutex_lock(&fs->mu);
	if ((rc = mf_enter(fs)) != 0)
		goto out;
	if ((ino = fd_inode(fs, fd)) == NULL)
	{
		rc = -EBADF;
		goto out;
	}
	for (int i = 0; i < iovcnt; i++)
	{
		/* as Linux's O_DIRECT: misaligned writes fail, nothing is written */
		if (fs->fd_direct[fd] &&
			(((uintptr_t) iov[i].iov_base | iov[i].iov_len) % DCF_IO_DIRECT_ALIGN) != 0)
		{
			rc = -EINVAL;
			goto out;
		}
		total += iov[i].iov_len;
	}
	if (fs->fd_direct[fd] && off % DCF_IO_DIRECT_ALIGN != 0)
	{
		rc = -EINVAL;
		goto out;
	}
	flat = mf_xrealloc(NULL, total);
	total = 0;
	for (int i = 0; i < iovcnt; i++)
	{
		memcpy(flat + total, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	buf_write(&ino->cur, off, flat, total);
	op_add(ino, MF_OP_WRITE, off, total, NULL);
	ino->ops[ino->nops - 1].data = flat;
	rc = (ssize_t) total;
out:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static int
mf_fdatasync(void *ctx, int fd)
{
	dcf_memfs  *fs = ctx;
	mf_inode   *ino;
	int			rc;

	pthread_mutex_lock(&fs->mu);
	if ((rc = mf_enter(fs)) != 0)
		goto out;
	if ((ino = fd_inode(fs, fd)) == NULL)
	{
		rc = -EBADF;
		goto out;
	}
	fs->syncs++;
	if (fs->fail_sync_at != 0 && fs->syncs >= fs->fail_sync_at)
	{
		/* like Linux after a writeback error: the call fails and the dirty
		 * state is forgotten, so a retry would wrongly succeed */
		fs->fail_sync_at = 0;
		rc = -EIO;
		goto out;
	}
	buf_copy(&ino->dur, &ino->cur);
	ops_clear(ino);
out:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static int
mf_ftruncate(void *ctx, int fd, uint64_t size)
{
	dcf_memfs  *fs = ctx;
	mf_inode   *ino;
	int			rc;

	pthread_mutex_lock(&fs->mu);
	if ((rc = mf_enter(fs)) != 0)
		goto out;
	if ((ino = fd_inode(fs, fd)) == NULL)
	{
		rc = -EBADF;
		goto out;
	}
	buf_resize(&ino->cur, size);
	op_add(ino, MF_OP_TRUNCATE, 0, size, NULL);
out:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static int
mf_fallocate(void *ctx, int fd, uint64_t off, uint64_t len)
{
	dcf_memfs  *fs = ctx;
	mf_inode   *ino;
	int			rc;

	pthread_mutex_lock(&fs->mu);
	if ((rc = mf_enter(fs)) != 0)
		goto out;
	if ((ino = fd_inode(fs, fd)) == NULL)
	{
		rc = -EBADF;
		goto out;
	}
	if (off + len > ino->cur.len)
		buf_resize(&ino->cur, off + len);
	op_add(ino, MF_OP_FALLOCATE, off, len, NULL);
out:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static int
mf_fsize(void *ctx, int fd, uint64_t *size)
{
	dcf_memfs  *fs = ctx;
	mf_inode   *ino;
	int			rc;

	pthread_mutex_lock(&fs->mu);
	if ((rc = mf_enter(fs)) != 0)
		goto out;
	if ((ino = fd_inode(fs, fd)) == NULL)
	{
		rc = -EBADF;
		goto out;
	}
	*size = ino->cur.len;
out:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static int
mf_rename(void *ctx, const char *from, const char *to)
{
	dcf_memfs  *fs = ctx;
	char		dir[1024];
	mf_name    *n;
	int			ino;
	int			rc;

	pthread_mutex_lock(&fs->mu);
	if ((rc = mf_enter(fs)) != 0)
		goto out;
	n = ns_find(&fs->cur, from);
	if (n == NULL)
	{
		rc = -ENOENT;
		goto out;
	}
	if (n->ino == MF_DIR)
	{
		rc = -EISDIR;		/* not needed by the storage code */
		goto out;
	}
	parent_of(to, dir, sizeof(dir));
	if (!ns_is_dir(&fs->cur, dir))
	{
		rc = -ENOENT;
		goto out;
	}
	ino = n->ino;
	ns_remove(&fs->cur, from);
	ns_set(&fs->cur, to, ino);
	dop_add(fs, MF_DOP_RENAME, dir, from, to, ino);
out:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static int
mf_unlink(void *ctx, const char *path)
{
	dcf_memfs  *fs = ctx;
	char		dir[1024];
	mf_name    *n;
	int			rc;

	pthread_mutex_lock(&fs->mu);
	if ((rc = mf_enter(fs)) != 0)
		goto out;
	n = ns_find(&fs->cur, path);
	if (n == NULL)
	{
		rc = -ENOENT;
		goto out;
	}
	if (n->ino == MF_DIR)
	{
		rc = -EISDIR;
		goto out;
	}
	parent_of(path, dir, sizeof(dir));
	ns_remove(&fs->cur, path);
	dop_add(fs, MF_DOP_UNLINK, dir, path, NULL, 0);
out:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static int
mf_mkdir(void *ctx, const char *path)
{
	dcf_memfs  *fs = ctx;
	char		dir[1024];
	int			rc;

	pthread_mutex_lock(&fs->mu);
	if ((rc = mf_enter(fs)) != 0)
		goto out;
	if (strcmp(path, "/") == 0 || ns_find(&fs->cur, path))
	{
		rc = -EEXIST;
		goto out;
	}
	parent_of(path, dir, sizeof(dir));
	if (!ns_is_dir(&fs->cur, dir))
	{
		rc = -ENOENT;
		goto out;
	}
	ns_set(&fs->cur, path, MF_DIR);
	dop_add(fs, MF_DOP_LINK, dir, path, NULL, MF_DIR);
out:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static int
mf_sync_dir(void *ctx, const char *path)
{
	dcf_memfs  *fs = ctx;
	size_t		keep = 0;
	int			rc;

	pthread_mutex_lock(&fs->mu);
	if ((rc = mf_enter(fs)) != 0)
		goto out;
	if (!ns_is_dir(&fs->cur, path))
	{
		rc = -ENOENT;
		goto out;
	}
	for (size_t i = 0; i < fs->ndops; i++)
	{
		if (strcmp(fs->dops[i].dir, path) == 0)
		{
			dop_apply(&fs->dur, &fs->dops[i]);
			dop_free(&fs->dops[i]);
		}
		else
			fs->dops[keep++] = fs->dops[i];
	}
	fs->ndops = keep;
out:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static int
mf_list_dir(void *ctx, const char *path, dcf_io_list_cb cb, void *arg)
{
	dcf_memfs  *fs = ctx;
	char		dir[1024];
	char	  **names = NULL;
	size_t		nnames = 0;
	int			rc;

	pthread_mutex_lock(&fs->mu);
	if ((rc = mf_enter(fs)) != 0)
	{
		pthread_mutex_unlock(&fs->mu);
		return rc;
	}
	if (!ns_is_dir(&fs->cur, path))
	{
		pthread_mutex_unlock(&fs->mu);
		return -ENOENT;
	}
	for (size_t i = 0; i < fs->cur.n; i++)
	{
		parent_of(fs->cur.v[i].path, dir, sizeof(dir));
		if (strcmp(dir, path) == 0)
		{
			const char *base = strrchr(fs->cur.v[i].path, '/') + 1;

			names = mf_xrealloc(names, (nnames + 1) * sizeof(char *));
			names[nnames++] = mf_strdup(base);
		}
	}
	pthread_mutex_unlock(&fs->mu);
	/* the callback runs without the lock, so it may call back in */
	for (size_t i = 0; i < nnames; i++)
	{
		if (rc == 0)
			rc = cb(arg, names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}

static int
mf_lock(void *ctx, int fd)
{
	dcf_memfs  *fs = ctx;
	int			rc;

	/* one process per memfs: locks always succeed */
	pthread_mutex_lock(&fs->mu);
	rc = mf_enter(fs);
	if (rc == 0 && fd_inode(fs, fd) == NULL)
		rc = -EBADF;
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

/* ---- public ------------------------------------------------------------- */

dcf_memfs *
dcf_memfs_new(uint64_t seed)
{
	dcf_memfs  *fs = mf_xrealloc(NULL, sizeof(dcf_memfs));

	memset(fs, 0, sizeof(*fs));
	pthread_mutex_init(&fs->mu, NULL);
	fs->rng = seed;
	for (int i = 0; i < MF_FDS_MAX; i++)
	{
		fs->fd_ino[i] = -2;
		fs->fd_direct[i] = 0;
	}
	fs->io.ctx = fs;
	fs->io.open = mf_open;
	fs->io.close = mf_close;
	fs->io.pread = mf_pread;
	fs->io.pwritev = mf_pwritev;
	fs->io.fdatasync = mf_fdatasync;
	fs->io.ftruncate = mf_ftruncate;
	fs->io.fallocate = mf_fallocate;
	fs->io.fsize = mf_fsize;
	fs->io.rename = mf_rename;
	fs->io.unlink = mf_unlink;
	fs->io.mkdir = mf_mkdir;
	fs->io.sync_dir = mf_sync_dir;
	fs->io.list_dir = mf_list_dir;
	fs->io.lock = mf_lock;
	return fs;
}

void
dcf_memfs_free(dcf_memfs *fs)
{
	if (fs == NULL)
		return;
	for (size_t i = 0; i < fs->ninodes; i++)
	{
		ops_clear(fs->inodes[i]);
		free(fs->inodes[i]->ops);
		free(fs->inodes[i]->cur.data);
		free(fs->inodes[i]->dur.data);
		free(fs->inodes[i]);
	}
	free(fs->inodes);
	ns_clear(&fs->cur);
	ns_clear(&fs->dur);
	free(fs->cur.v);
	free(fs->dur.v);
	for (size_t i = 0; i < fs->ndops; i++)
		dop_free(&fs->dops[i]);
	free(fs->dops);
	pthread_mutex_destroy(&fs->mu);
	free(fs);
}

const dcf_io *
dcf_memfs_io(dcf_memfs *fs)
{
	return &fs->io;
}

void
dcf_memfs_crash_after(dcf_memfs *fs, uint64_t ncalls)
{
	pthread_mutex_lock(&fs->mu);
	fs->crash_at = ncalls ? fs->calls + ncalls : 0;
	pthread_mutex_unlock(&fs->mu);
}

int
dcf_memfs_is_down(dcf_memfs *fs)
{
	int			down;

	pthread_mutex_lock(&fs->mu);
	down = fs->down;
	pthread_mutex_unlock(&fs->mu);
	return down;
}

uint64_t
dcf_memfs_calls(dcf_memfs *fs)
{
	uint64_t	n;

	pthread_mutex_lock(&fs->mu);
	n = fs->calls;
	pthread_mutex_unlock(&fs->mu);
	return n;
}

void
dcf_memfs_fail_fdatasync_after(dcf_memfs *fs, uint64_t nsyncs)
{
	pthread_mutex_lock(&fs->mu);
	fs->fail_sync_at = nsyncs ? fs->syncs + nsyncs : 0;
	pthread_mutex_unlock(&fs->mu);
}

void
dcf_memfs_no_direct(dcf_memfs *fs, int on)
{
	pthread_mutex_lock(&fs->mu);
	fs->no_direct = on;
	pthread_mutex_unlock(&fs->mu);
}

static int
pct(dcf_memfs *fs, unsigned p)
{
	return (mf_rand(fs) % 100) < p;
}

/* Apply one unsynced write to img, torn into sectors. */
static void
tear_write(dcf_memfs *fs, const dcf_memfs_crash_policy *p, mf_buf *img, const mf_op *op)
{
	uint32_t	sector = p->sector_bytes ? p->sector_bytes : MF_SECTOR_BYTES_DEFAULT;
	uint64_t	pos = op->off;
	uint64_t	end = op->off + op->len;

	while (pos < end)
	{
		/* sectors are aligned to file offsets, like a disk's */
		uint64_t	next = (pos / sector + 1) * sector;
		uint64_t	n = (next < end ? next : end) - pos;
		uint64_t	r = mf_rand(fs) % 100;

		if (r < p->garbage_pct)
		{
			uint8_t		junk[MF_SECTOR_BYTES_DEFAULT * 16];
			uint64_t	done = 0;

			while (done < n)
			{
				uint64_t	k = n - done < sizeof(junk) ? n - done : sizeof(junk);

				for (uint64_t i = 0; i < k; i++)
					junk[i] = (uint8_t) mf_rand(fs);
				buf_write(img, pos + done, junk, k);
				done += k;
			}
		}
		else if (r < p->garbage_pct + (100 - p->garbage_pct) / 2)
			buf_write(img, pos, op->data + (pos - op->off), n);
		/* else: this sector keeps its old content */
		pos += n;
	}
}

void
dcf_memfs_crash(dcf_memfs *fs, const dcf_memfs_crash_policy *policy,
				dcf_memfs_crash_stats *stats)
{
	const dcf_memfs_crash_policy *p = policy ? policy : &dcf_memfs_policy_default;
	dcf_memfs_crash_stats st;
	int			changed;

	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&fs->mu);

	/* directories: each unsynced operation independently kept or dropped */
	for (size_t i = 0; i < fs->ndops; i++)
	{
		if (pct(fs, p->dir_keep_pct))
		{
			dop_apply(&fs->dur, &fs->dops[i]);
			st.dir_kept++;
		}
		else
			st.dir_dropped++;
		dop_free(&fs->dops[i]);
	}
	fs->ndops = 0;
	/* names whose directory did not survive are gone with it */
	do
	{
		char		dir[1024];

		changed = 0;
		for (size_t i = 0; i < fs->dur.n; i++)
		{
			parent_of(fs->dur.v[i].path, dir, sizeof(dir));
			if (!ns_is_dir(&fs->dur, dir))
			{
				ns_remove(&fs->dur, fs->dur.v[i].path);
				changed = 1;
				break;
			}
		}
	} while (changed);

	/* files: replay unsynced operations on the durable image */
	for (size_t i = 0; i < fs->ninodes; i++)
	{
		mf_inode   *ino = fs->inodes[i];

		for (size_t k = 0; k < ino->nops; k++)
		{
			mf_op	   *op = &ino->ops[k];

			if (op->kind == MF_OP_WRITE)
			{
				uint64_t	r = mf_rand(fs) % 100;

				if (r < p->write_keep_pct)
				{
					buf_write(&ino->dur, op->off, op->data, op->len);
					st.writes_kept++;
				}
				else if (r < p->write_keep_pct + p->write_tear_pct)
				{
					tear_write(fs, p, &ino->dur, op);
					st.writes_torn++;
				}
				else
					st.writes_dropped++;
			}
			else if (pct(fs, p->other_keep_pct))
			{
				if (op->kind == MF_OP_TRUNCATE)
					buf_resize(&ino->dur, op->len);
				else if (op->off + op->len > ino->dur.len)
					buf_resize(&ino->dur, op->off + op->len);
				st.other_kept++;
			}
			else
				st.other_dropped++;
		}
		ops_clear(ino);
		buf_copy(&ino->cur, &ino->dur);
	}

	ns_copy(&fs->cur, &fs->dur);
	for (int i = 0; i < MF_FDS_MAX; i++)
	{
		fs->fd_ino[i] = -2;
		fs->fd_direct[i] = 0;
	}
	fs->down = 0;
	fs->crash_at = 0;
	fs->fail_sync_at = 0;
	pthread_mutex_unlock(&fs->mu);
	if (stats)
		*stats = st;
}

int
dcf_memfs_read_file(dcf_memfs *fs, const char *path, uint8_t **data, size_t *len)
{
	mf_name    *n;
	int			rc = 0;

	pthread_mutex_lock(&fs->mu);
	n = ns_find(&fs->cur, path);
	if (n == NULL || n->ino == MF_DIR)
		rc = n ? -EISDIR : -ENOENT;
	else
	{
		mf_inode   *ino = fs->inodes[n->ino];

		*len = ino->cur.len;
		*data = mf_xrealloc(NULL, ino->cur.len);
		if (ino->cur.len)
			memcpy(*data, ino->cur.data, ino->cur.len);
	}
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

int
dcf_memfs_write_file(dcf_memfs *fs, const char *path, const void *data, size_t len)
{
	char		dir[1024];
	mf_name    *n;
	mf_inode   *ino;
	int			rc = 0;

	pthread_mutex_lock(&fs->mu);
	n = ns_find(&fs->cur, path);
	parent_of(path, dir, sizeof(dir));
	if (n && n->ino == MF_DIR)
		rc = -EISDIR;
	else if (n == NULL && !ns_is_dir(&fs->cur, dir))
		rc = -ENOENT;
	else
	{
		int			i = n ? n->ino : inode_new(fs);

		ino = fs->inodes[i];
		ops_clear(ino);
		ino->cur.len = 0;
		buf_write(&ino->cur, 0, data, len);
		buf_copy(&ino->dur, &ino->cur);
		ns_set(&fs->cur, path, i);
		ns_set(&fs->dur, path, i);
	}
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

int
dcf_memfs_mkdir_durable(dcf_memfs *fs, const char *path)
{
	char		dir[1024];
	int			rc = 0;

	pthread_mutex_lock(&fs->mu);
	parent_of(path, dir, sizeof(dir));
	if (ns_find(&fs->cur, path))
		rc = -EEXIST;
	else if (!ns_is_dir(&fs->cur, dir))
		rc = -ENOENT;
	else
	{
		ns_set(&fs->cur, path, MF_DIR);
		ns_set(&fs->dur, path, MF_DIR);
	}
	pthread_mutex_unlock(&fs->mu);
	return rc;
}
