/*
 * dcf_host_int.h — the consensus host's state, shared by dcf_host.c (the
 * event path) and dcf_host_state.c (what the worker reads of it).  Not for
 * other files: they use dcf_host.h.
 */
#ifndef DCF_HOST_INT_H
#define DCF_HOST_INT_H

#include "pg/dcf_host.h"

/* Read buffers handed to the core live until the next step (H5). */
typedef struct read_buf
{
	struct read_buf *next;
	size_t		cap;
	uint8_t		data[];
} read_buf;

typedef struct pending_msg
{
	uint32_t	to;
	dcf_net_class cls;
	size_t		len;
	uint8_t    *data;
} pending_msg;

struct dcf_host
{
	dcf_host_callbacks cb;
	dcf_log    *log;
	dcf_node   *node;
	dcf_net    *net;
	dcf_options core_opts;

	/* what the metadata record holds now */
	dcf_hard_state hs;
	dcf_membership membership;
	uint64_t	membership_index;
	uint64_t	applied_saved;

	/* soft state from the last update */
	uint64_t	commit_index;
	uint64_t	persisted_index;
	dcf_role	role;
	uint32_t	leader_id;
	uint64_t	term;

	bool		need_sync;
	uint64_t	syncs;			/* dcf_log_sync calls, their total and longest time */
	uint64_t	sync_us_total;
	uint64_t	sync_us_max;
	read_buf   *reads;			/* freed at the start of every step */

	/* encode buffer */
	uint8_t    *enc;
	size_t		enc_cap;

	/* receive decode space */
	dcf_entry  *dec_entries;

	pending_msg *pending;
	uint32_t	n_pending;

	uint64_t	leader_commit;	/* commit index the leader last told us */
	uint64_t	leader_commit_term;

	dcf_rc		fatal_rc;		/* a failure inside the receive callback */
	char		fatal_msg[DCF_ERRMSG_MAX];
	uint64_t	now_ms;
};

#endif							/* DCF_HOST_INT_H */
