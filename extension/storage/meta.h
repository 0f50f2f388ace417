/*
 * meta.h — the metadata record: the consensus hard state (term, vote,
 * membership), the applied index and the log's start, in one checksummed
 * file replaced atomically.
 *
 * File "dcf.meta" in the data directory, little-endian:
 *     0  u32 magic  DCF_META_MAGIC
 *     4  u32 format version  DCF_META_VERSION
 *     8  u32 total file bytes (DCF_META_FIXED_BYTES + membership length)
 *    12  u32 voted_for (node id, 0 = none)
 *    16  u64 current term
 *    24  u64 applied index
 *    32  u64 first index of the log
 *    40  u64 term of the entry just before the first index (0 if none)
 *    48  u32 membership length in bytes (<= DCF_META_MEMBERSHIP_MAX_BYTES)
 *    52  u32 reserved, zero
 *    56  u64 durable mark: every index up to it was durable in the log when
 *            this record was written (format 2)
 *    64  u64 the term of the entry at the durable mark (at most; format 2)
 *    72  u64 repair index: the log lost entries up to it that this node
 *            may have acknowledged; 0 = none (format 2, see log_load.c)
 *    80  u64 repair term: no lost entry has a higher term (format 2)
 *    88  membership bytes (opaque: the consensus core encodes them)
 *     .  u32 CRC-32C of everything before it
 * Format 1 (read, never written) had none of the u64 at 56..80: its
 * membership starts at 56, and they read as 0.
 *
 * Replacement is write "dcf.meta.tmp", fdatasync it, rename it over
 * "dcf.meta", fsync the directory: at every instant the name "dcf.meta"
 * refers to a whole, durable record, the old one or the new one, so any
 * damage to that file is corruption, never a torn write, and loading
 * refuses it instead of falling back to an older vote.
 */
#ifndef DCF_STORAGE_META_H
#define DCF_STORAGE_META_H

#include "core/dcf_err.h"
#include "storage/storage_io.h"

#include <stddef.h>
#include <stdint.h>

#define DCF_META_MAGIC					0x4d464344u /* "DCFM" little-endian */
#define DCF_META_VERSION				2
#define DCF_META_FILE					"dcf.meta"
#define DCF_META_TMP_FILE				"dcf.meta.tmp"
#define DCF_META_MEMBERSHIP_MAX_BYTES	(64 * 1024)
#define DCF_META_HEADER_BYTES			88	/* fields before the membership */
#define DCF_META_FIXED_BYTES			92	/* header, fields and CRC */
#define DCF_META_V1_FIXED_BYTES			60	/* the same in format 1 */
#define DCF_META_MAX_BYTES	(DCF_META_FIXED_BYTES + DCF_META_MEMBERSHIP_MAX_BYTES)
#define DCF_PATH_MAX_BYTES				4096	/* a data directory path plus a file name */
/* appended to every refusal for damaged or missing metadata */
#define DCF_META_REBUILD_HINT \
	" (this node cannot know its term, its vote and its membership: rebuild it with dcf_ctl build)"

typedef struct dcf_meta
{
	uint64_t	term;			/* current term */
	uint32_t	voted_for;		/* node id voted for in term, 0 = none */
	uint64_t	applied_index;	/* highest index applied locally */
	uint64_t	first_index;	/* first index of the log (owned by the log) */
	uint64_t	prev_term;		/* term at first_index - 1, 0 if none (owned by the log) */
	uint64_t	durable_index;	/* durable mark (owned by the log) */
	uint64_t	durable_term;	/* term at the mark, or above (owned by the log) */
	uint64_t	repair_index;	/* lost entries up to here may have been
								 * acknowledged; 0 = none (the consensus
								 * hard state carries it; see log.h) */
	uint64_t	repair_term;	/* no lost entry has a higher term */
	uint32_t	membership_len; /* bytes at membership */
	const uint8_t *membership;	/* opaque; see the ownership rule where returned */
	uint32_t	format_version; /* set when read; ignored when written */
} dcf_meta;

/* Encoded size of m (DCF_META_FIXED_BYTES + membership_len). */
extern size_t dcf_meta_encoded_bytes(const dcf_meta *m);
/* Encodes m into out (dcf_meta_encoded_bytes(m) bytes). */
extern void dcf_meta_encode(const dcf_meta *m, uint8_t *out);
/*
 * Decodes and checks a record of len bytes.  0 and *m filled (membership
 * points into in), or -1 with *why a static description of what is wrong.
 */
extern int	dcf_meta_decode(const uint8_t *in, size_t len, dcf_meta *m, const char **why);

/*
 * Reads <dir>/dcf.meta.  On success *m is filled and m->membership points
 * into *buf, which the caller frees.  DCF_ERR_NOTFOUND when there is no
 * file; DCF_ERR_CORRUPT with a message naming the file and what is wrong.
 */
extern dcf_rc dcf_meta_read(const dcf_io *io, const char *dir, dcf_meta *m, uint8_t **buf,
							char *errmsg);

/* Durably replaces <dir>/dcf.meta with m (see the header comment). */
extern dcf_rc dcf_meta_write(const dcf_io *io, const char *dir, const dcf_meta *m, char *errmsg);

#endif							/* DCF_STORAGE_META_H */
