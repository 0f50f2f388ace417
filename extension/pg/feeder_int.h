/*
 * feeder_int.h — the WAL feeder's internals, shared by its files.  Nothing
 * outside extension/pg/feeder*.c includes this; the contract with the host
 * (and the numbered invariants 1-5 every file refers to) is feeder.h.
 *
 * Files, by concern:
 *   feeder.c           the feeder object and the host's entry points:
 *                      create/destroy and the listening socket, accepting
 *                      clients, descriptors, events, ticks (timeouts,
 *                      keepalives), status, the log hook
 *   feeder_conn.c      one connection's I/O: reading, framing and
 *                      dispatching the client's messages by state,
 *                      flushing, refusing, closing
 *   feeder_wire.c      the wire format: messages built in the bounded
 *                      output buffer, ErrorResponse and the other replies
 *   feeder_commands.c  the startup packet and the replication commands
 *                      (tokenizer, IDENTIFY_SYSTEM, TIMELINE_HISTORY, the
 *                      parsing of START_REPLICATION)
 *   feeder_stream.c    START_REPLICATION's stream: the read path from the
 *                      source, timeline ends, the standby's replies
 * Cross-file functions are prefixed fw_ (wire format) or feeder_ (the rest).
 *
 * Connection states and the function for each transition:
 *
 *   accept_clients (feeder.c)       -> STARTUP   in a free slot; a slot
 *                                                 still in STARTUP (or
 *                                                 CLOSING) is evicted when
 *                                                 none is free
 *   feeder_handle_startup           STARTUP -> IDLE   the connection becomes
 *                                                 the active one; an older
 *                                                 active connection is closed
 *   feeder_handle_query             IDLE -> IDLE  IDENTIFY_SYSTEM,
 *                                                 TIMELINE_HISTORY, errors;
 *                                                 ReadyForQuery each time
 *   feeder_start_replication        IDLE -> STREAMING (CopyBothResponse)
 *                                   IDLE -> IDLE  (start == switch point: the
 *                                                 end-of-timeline result at once)
 *   feeder_stream_send_more         STREAMING: 'w' messages; CopyDone at the
 *                                                 switch point of an ended
 *                                                 timeline
 *   feeder_finish_streaming         STREAMING -> IDLE  (CopyDone received and
 *                                                 sent: next-timeline row, two
 *                                                 CommandCompletes,
 *                                                 ReadyForQuery)
 *   stream_fail (feeder_stream.c)   STREAMING -> IDLE  (ErrorResponse,
 *                                                 ReadyForQuery)
 *   feeder_refuse                   any -> CLOSING  (FATAL ErrorResponse,
 *                                                 drained, then closed)
 *   feeder_conn_close               any -> FREE
 */
#ifndef DCF_FEEDER_INT_H
#define DCF_FEEDER_INT_H

#include "pg/dcf_wire.h"
#include "pg/feeder.h"
#include "pg/walfile.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

/* Type OIDs of the columns we send (pg_type.dat). */
#define OID_BYTEA				17
#define OID_INT8				20
#define OID_INT4				23
#define OID_TEXT				25

/* Slots: the active walreceiver and one newcomer finishing its startup. */
#define FEEDER_SLOTS			2

typedef enum conn_state
{
	CONN_FREE = 0,
	CONN_STARTUP,
	CONN_IDLE,
	CONN_STREAMING,
	CONN_CLOSING
} conn_state;

typedef struct feeder_conn
{
	int			fd;
	conn_state	state;
	uint64_t	id;				/* for log lines: "client 7" */
	int64_t		since_us;		/* accepted, or started closing */
	char		appname[64];

	char	   *in;				/* DCF_FEEDER_IN_BUF_BYTES */
	size_t		in_len;
	char	   *out;			/* DCF_FEEDER_OUT_BUF_BYTES */
	size_t		out_head;		/* first unsent byte */
	size_t		out_len;		/* end of queued bytes */

	/* streaming (START_REPLICATION) */
	uint32_t	send_tli;
	bool		historic;		/* send_tli has ended */
	dcf_lsn		valid_upto;		/* its switch point, when historic */
	uint32_t	next_tli;		/* its successor, when historic */
	dcf_lsn		start_lsn;
	dcf_lsn		sent_ptr;		/* next byte to send */
	bool		done_sending;	/* CopyDone sent */
	bool		done_receiving; /* CopyDone received */
	bool		caught_up;		/* nothing more to send until the source has more */
	bool		waiting_logged;
	int64_t		last_reply_us;
	bool		ping_sent;
	dcf_lsn		write_lsn;
	dcf_lsn		flush_lsn;
	dcf_lsn		apply_lsn;
} feeder_conn;

struct dcf_feeder
{
	dcf_feeder_source src;
	int			listen_fd;
	char		path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
	uint64_t	generation;
	int64_t		now_us;
	feeder_conn conn[FEEDER_SLOTS];
	int			active;			/* index into conn, or -1 */
	uint64_t	next_id;
	uint64_t	connections;
	uint64_t	refused;
	uint64_t	bytes_sent;
	/* ancestry of the streamed timeline (the latest history at its start) */
	dcf_walfile_history hist;
	dcf_walfile_history scratch;
	char		histbuf[DCF_FEEDER_HISTORY_MAX_BYTES];
};

/* ---- small helpers ------------------------------------------------------- */

/* An LSN as PostgreSQL prints it (X/X). */
static inline const char *
lsn_text(char buf[DCF_WALFILE_LSN_TEXT_BYTES], dcf_lsn lsn)
{
	return dcf_walfile_lsn_format(buf, lsn);
}

/* Bytes queued for the client and not yet written. */
static inline size_t
out_pending(const feeder_conn *c)
{
	return c->out_len - c->out_head;
}

/*
 * A message under construction at the free tail of a connection's output
 * buffer.  Appends past the bound set `overflow` instead of writing; the
 * message is then dropped by fw_msg_end and the connection is closed by the
 * caller, since a client that does not read its replies cannot be served.
 */
typedef struct msgbuf
{
	feeder_conn *c;
	char	   *data;			/* start of the message (its type byte) */
	size_t		cap;
	size_t		len;
	bool		overflow;
} msgbuf;

/* ---- feeder.c ------------------------------------------------------------- */

extern void feeder_log(dcf_feeder *f, dcf_feeder_log_level level, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* ---- feeder_conn.c -------------------------------------------------------- */

extern void feeder_conn_reset_stream(feeder_conn *c);
extern void feeder_conn_close(dcf_feeder *f, feeder_conn *c, dcf_feeder_log_level level,
							  const char *why);
extern void feeder_conn_overflow(dcf_feeder *f, feeder_conn *c);
extern void feeder_refuse(dcf_feeder *f, feeder_conn *c, const char *sqlstate, const char *hint,
						  const char *fmt,...) __attribute__((format(printf, 5, 6)));
extern void feeder_command_error(dcf_feeder *f, feeder_conn *c, const char *sqlstate,
								 const char *message, const char *detail, const char *hint);
extern void feeder_conn_flush(dcf_feeder *f, feeder_conn *c);
extern void feeder_process_input(dcf_feeder *f, feeder_conn *c);
extern void feeder_conn_read(dcf_feeder *f, feeder_conn *c);

/* ---- feeder_wire.c -------------------------------------------------------- */

extern void fw_msg_begin(feeder_conn *c, msgbuf *m, char type);
extern void fw_msg_bytes(msgbuf *m, const void *p, size_t n);
extern void fw_msg_u8(msgbuf *m, uint8_t v);
extern void fw_msg_u16(msgbuf *m, uint16_t v);
extern void fw_msg_u32(msgbuf *m, uint32_t v);
extern void fw_msg_u64(msgbuf *m, uint64_t v);
extern void fw_msg_str(msgbuf *m, const char *s);
extern bool fw_msg_end(msgbuf *m);
extern bool fw_raw_byte(feeder_conn *c, char b);
extern bool fw_send_error(dcf_feeder *f, feeder_conn *c, const char *severity,
						  const char *sqlstate, const char *message, const char *detail,
						  const char *hint);
extern bool fw_send_ready(feeder_conn *c);
extern bool fw_send_keepalive(feeder_conn *c, int64_t now_us, bool reply_requested);
extern bool fw_send_copy_done(feeder_conn *c);
extern bool fw_send_command_complete(feeder_conn *c, const char *tag);
extern void fw_row_description(msgbuf *m, int ncols, const char *const *names,
							   const uint32_t *types);
extern bool fw_send_parameter_status(feeder_conn *c, const char *name, const char *value);

/* ---- feeder_commands.c ---------------------------------------------------- */

extern bool feeder_handle_startup(dcf_feeder *f, feeder_conn *c, const char *pkt, uint32_t len);
extern void feeder_handle_query(dcf_feeder *f, feeder_conn *c, const char *q);

/* ---- feeder_stream.c ------------------------------------------------------ */

extern dcf_rc feeder_source_position(dcf_feeder *f, uint32_t *latest, dcf_lsn *xlogpos,
									 char *errmsg);
extern void feeder_start_replication(dcf_feeder *f, feeder_conn *c, const char *slot,
									 dcf_lsn start, uint32_t tli);
extern void feeder_stream_send_more(dcf_feeder *f, feeder_conn *c);
extern void feeder_finish_streaming(dcf_feeder *f, feeder_conn *c);
extern bool feeder_handle_copy_data(dcf_feeder *f, feeder_conn *c, const char *body,
									size_t len);

#endif							/* DCF_FEEDER_INT_H */
